/* SPDX-License-Identifier: MIT */
/* Allocation wrappers and the assertion failure path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-internal.h"
#include "fault-internal.h"

/* In the fault-injection builds only, the armed call fails as malloc would (fault-internal.h). */
#ifdef WEFT_FAULT_INJECTION
#define FAIL_IF_ARMED()                                                                            \
    do {                                                                                           \
        if (weft__fault_alloc_hit())                                                               \
            return NULL;                                                                           \
    } while (0)
#else
#define FAIL_IF_ARMED()                                                                            \
    do {                                                                                           \
    } while (0)
#endif

void *weft__malloc(size_t size)
{
    FAIL_IF_ARMED();
    return malloc(size ? size : 1);
}

void *weft__calloc(size_t count, size_t size)
{
    FAIL_IF_ARMED();
    return calloc(count ? count : 1, size ? size : 1);
}

void *weft__realloc(void *ptr, size_t size)
{
    FAIL_IF_ARMED();
    return realloc(ptr, size ? size : 1);
}

void *weft__aligned_alloc(size_t align, size_t size)
{
    FAIL_IF_ARMED();
    void *p;
    return posix_memalign(&p, align, size ? size : 1) == 0 ? p : NULL;
}

void weft__free(void *ptr)
{
    free(ptr);
}

char *weft__strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *copy = weft__malloc(len + 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

char *weft__strdup(const char *s)
{
    return weft__strndup(s, strlen(s));
}

void weft__assert_fail(const char *expr, const char *file, int line, const char *func)
{
    /* Straight to stderr: the logger may be what broke, and we are about to abort. */
    fprintf(stderr, "weft: assertion failed: %s (%s:%d, %s)\n", expr, file, line, func);
    fflush(stderr);
    abort();
}
