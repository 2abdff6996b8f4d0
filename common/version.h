/* SPDX-License-Identifier: MIT */
/* weft's version: the Makefile reads these three numbers for the soname and weft.pc. */
#ifndef WEFT_COMMON_VERSION_H
#define WEFT_COMMON_VERSION_H

#include <weft/compiler.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0

/* The version as one number, 0xMMmmpp, comparable with < and >. */
#define WEFT_VERSION_HEX                                                                           \
    ((WEFT_VERSION_MAJOR << 16) | (WEFT_VERSION_MINOR << 8) | WEFT_VERSION_PATCH)

/*
 * The version of the library actually linked, as WEFT_VERSION_HEX computes it. Compare it with
 * WEFT_VERSION_HEX to detect a header/library mismatch.
 * Thread: any.
 */
WEFT_EXPORT unsigned weft_version(void);

/*
 * The version of the library actually linked as "MAJOR.MINOR.PATCH".
 * Returns a static string; never NULL. Thread: any.
 */
WEFT_EXPORT const char *weft_version_string(void);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_COMMON_VERSION_H */
