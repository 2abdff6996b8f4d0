/* SPDX-License-Identifier: MIT */
/* What every fuzz harness of t/fuzz/ shares: the entry point and a reader of the input. */
#ifndef WEFT_T_FUZZ_FUZZ_H
#define WEFT_T_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/*
 * Each harness t/fuzz/<name>.c defines LLVMFuzzerTestOneInput, the libFuzzer entry. The same
 * file is compiled twice: with clang -fsanitize=fuzzer into build/fuzz/<name> (make fuzz), and
 * with -DWEFT_FUZZ_NO_MAIN=<name> into the regression test t/80-fuzz-regressions.t, which
 * replays every file of t/fuzz/corpus/<name>/ through the same function in a normal build.
 * The entry renamed under WEFT_FUZZ_NO_MAIN is fuzz_<name>_one (FUZZ_ENTRY below).
 *
 * An entry returns 0 and never fails quietly: a broken invariant aborts (WEFT_FUZZ_CHECK).
 */
#ifdef WEFT_FUZZ_NO_MAIN
#define FUZZ_ENTRY(name) fuzz_##name##_one
#else
#define FUZZ_ENTRY(name) LLVMFuzzerTestOneInput
#endif

int FUZZ_ENTRY(line)(const uint8_t *data, size_t size);
int FUZZ_ENTRY(netstring)(const uint8_t *data, size_t size);
int FUZZ_ENTRY(intn)(const uint8_t *data, size_t size);
int FUZZ_ENTRY(config)(const uint8_t *data, size_t size);
int FUZZ_ENTRY(http)(const uint8_t *data, size_t size);

/* Aborts with the expression when an invariant of a parser does not hold. */
#define WEFT_FUZZ_CHECK(cond)                                                                      \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(#cond, __FILE__, __LINE__);                                                  \
    } while (0)

_Noreturn void fuzz_fail(const char *expr, const char *file, int line);

/* Reads the fuzz input front to back: control bytes and chunk sizes come from it, so the
 * fuzzer steers how the payload is cut and which calls are made between pieces. */
typedef struct {
    const uint8_t *p;
    size_t left;
} fuzz_in_t;

/* The next byte, or 0 once the input is used up. */
static inline uint8_t fuzz_byte(fuzz_in_t *in)
{
    if (in->left == 0)
        return 0;
    in->left--;
    return *in->p++;
}

/* The next up to n bytes: *len gets how many there were. */
static inline const char *fuzz_take(fuzz_in_t *in, size_t n, size_t *len)
{
    const char *p = (const char *)in->p;
    *len = n < in->left ? n : in->left;
    in->p += *len;
    in->left -= *len;
    return p;
}

/* Reads every byte of p[0..n), so ASan checks that a borrowed buffer is whole and alive. */
static inline void fuzz_touch(const char *p, size_t n)
{
    volatile unsigned char sink = 0;
    for (size_t i = 0; i < n; i++)
        sink ^= (unsigned char)p[i];
    (void)sink;
}

#endif /* WEFT_T_FUZZ_FUZZ_H */
