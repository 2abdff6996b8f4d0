/* SPDX-License-Identifier: MIT */
/* weft's TAP helper: one `ok` line per behaviour, checks that print what they got. */
#ifndef WEFT_T_TAP_H
#define WEFT_T_TAP_H

#include <stdbool.h>

/*
 * A test program is a main() of TEST lines:
 *
 *     static void test_fire_twice(void) { ... check_err(rc, WEFT_EALREADY); ... }
 *     int main(void)
 *     {
 *         TEST(test_fire_twice(), "deferred fired twice returns WEFT_EALREADY");
 *         return done_testing();
 *     }
 *
 * Each TEST prints one `ok N - behaviour` or `not ok N - behaviour` line; the checks inside
 * it print `# file:line: ...` diagnostics with both values on failure and return whether they
 * passed, so a test may stop early with `if (!check(p != NULL)) return;`. stdout is line
 * buffered and flushed after every line (LSan's exit would otherwise swallow it).
 *
 * A watchdog (alarm) bounds each test, TAP_TIMEOUT seconds (default 60): a hung test prints
 * `not ok N - timed out in <behaviour>` and `Bail out!`, then exits, instead of stalling prove.
 * Nothing else in a test program may print lines starting with "ok", "not ok" or "1..".
 */

/* Declares the number of TESTs up front. Optional: done_testing prints a late plan. */
void plan(int n);

/* Prints the late plan (if plan was not called) and returns the exit status for main: 0 when
 * every test passed and the count matched the plan, 1 otherwise. */
int done_testing(void);

/* Runs the statement `call` as one test named desc. */
#define TEST(call, desc)                                                                           \
    do {                                                                                           \
        if (t__begin(desc)) {                                                                      \
            call;                                                                                  \
        }                                                                                          \
        t__end();                                                                                  \
    } while (0)

/* Checks, for use inside a TEST. Each evaluates its operands once and returns true on pass. */
#define check(cond) t__check(__FILE__, __LINE__, #cond, (cond) ? 1 : 0)
#define check_int(a, op, b)                                                                        \
    t__check_int(__FILE__, __LINE__, #a, #op, #b, (long long)(a), (long long)(b))
#define check_uint(a, op, b)                                                                       \
    t__check_uint(__FILE__, __LINE__, #a, #op, #b, (unsigned long long)(a), (unsigned long long)(b))
#define check_str(a, b) t__check_str(__FILE__, __LINE__, #a, #b, (a), (b))
#define check_ptr(a, op, b)                                                                        \
    t__check_ptr(__FILE__, __LINE__, #a, #op, #b, (const void *)(a), (const void *)(b))
/* Compares two weft error codes and prints their names (WEFT_EALREADY ...) on failure. */
#define check_err(got, want) t__check_err(__FILE__, __LINE__, #got, (int)(got), (int)(want))

/* Marks the running TEST as skipped: its line ends in `# SKIP reason`. */
void t_skip(const char *reason);

/* `# ...` to stderr (diagnostics) / to stdout (notes). */
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Skips the whole program: prints `1..0 # SKIP reason` and exits 0. Call before any TEST. */
_Noreturn void skip_all(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Stops the whole prove run: prints `Bail out! reason` and exits 255. */
_Noreturn void bail_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Death test: runs fn(arg) in a forked child with its stderr captured. Passes (returns true)
 * when the child dies by a signal or exits non-zero and, if want_stderr is not NULL, its
 * stderr contains want_stderr. Use inside a TEST.
 */
#define dies_ok(fn, arg, want_stderr)                                                              \
    t__dies_ok(__FILE__, __LINE__, #fn, (fn), (arg), (want_stderr))

/* The name of the running TEST (for helpers that print context). */
const char *t_current(void);

/* Internals used by the macros above. */
bool t__begin(const char *desc);
void t__end(void);
bool t__check(const char *file, int line, const char *expr, int ok);
bool t__check_int(const char *file, int line, const char *ea, const char *op, const char *eb,
                  long long a, long long b);
bool t__check_uint(const char *file, int line, const char *ea, const char *op, const char *eb,
                   unsigned long long a, unsigned long long b);
bool t__check_str(const char *file, int line, const char *ea, const char *eb, const char *a,
                  const char *b);
bool t__check_ptr(const char *file, int line, const char *ea, const char *op, const char *eb,
                  const void *a, const void *b);
bool t__check_err(const char *file, int line, const char *expr, int got, int want);
bool t__dies_ok(const char *file, int line, const char *expr, void (*fn)(void *), void *arg,
                const char *want_stderr);

#endif /* WEFT_T_TAP_H */
