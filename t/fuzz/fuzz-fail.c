/* SPDX-License-Identifier: MIT */
/* The failure path of WEFT_FUZZ_CHECK, shared by the harnesses. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

_Noreturn void fuzz_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "fuzz: invariant broken: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort();
}
