/* SPDX-License-Identifier: MIT */
/* The one door through which weft allocates, and the always-on assertion. */
#ifndef WEFT_COMMON_ALLOC_INTERNAL_H
#define WEFT_COMMON_ALLOC_INTERNAL_H

#include <stddef.h>

/*
 * Every allocation inside weft goes through these, never straight to malloc, so that there is
 * one place for an allocator hook and for failing the Nth allocation in tests (issue #13).
 * They behave as their libc namesakes: NULL on failure, weft__free(NULL) does nothing.
 * Thread: any.
 */
void *weft__malloc(size_t size);
void *weft__calloc(size_t count, size_t size);
void *weft__realloc(void *ptr, size_t size);
/* size bytes at an address that is a multiple of align (a power of two, at least
 * sizeof(void *)), as posix_memalign; freed with weft__free. */
void *weft__aligned_alloc(size_t align, size_t size);
void weft__free(void *ptr);
char *weft__strdup(const char *s);
char *weft__strndup(const char *s, size_t n);

/* Aborts with file:line and the expression. Stays on in every build: for invariants only,
 * never for network input or a resource shortage that can be reported. */
#define WEFT_ASSERT(expr)                                                                          \
    do {                                                                                           \
        if (!(expr))                                                                               \
            weft__assert_fail(#expr, __FILE__, __LINE__, __func__);                                \
    } while (0)

_Noreturn void weft__assert_fail(const char *expr, const char *file, int line, const char *func);

#endif /* WEFT_COMMON_ALLOC_INTERNAL_H */
