/* SPDX-License-Identifier: MIT */
/* Logger hooks for weft's own tests and tools. */
#ifndef WEFT_COMMON_LOG_INTERNAL_H
#define WEFT_COMMON_LOG_INTERNAL_H

#include <weft/log.h>

/* Restores the built-in defaults (info, logfmt, stderr sink, no component levels) and marks
 * WEFT_LOG as already read, so a test starts from a known state whatever the environment. */
void weft__log_reset(void);

/* Re-reads WEFT_LOG now, as the first log call does. For the logger's own tests. */
void weft__log_reload_env(void);

#endif /* WEFT_COMMON_LOG_INTERNAL_H */
