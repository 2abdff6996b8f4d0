/* SPDX-License-Identifier: MIT */
/* Benchmark: callbacks per second through deferred chains of 1, 10 and 100 callbacks, against a
 * plain function-pointer call chain, and allocations per deferred (counted by interposing malloc).
 *
 * Output, one measure per line (machine-readable):
 *   value: <measure> <value> <unit>
 *   ratio: <measure> <value>
 * There is no libuv equivalent of a deferred; the baseline is the cheapest possible C version of
 * "run N callbacks on a value": an array of (function, argument) pairs called in a loop.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <weft/deferred.h>

/* ------------------------------------------------------------------ counting allocator */

/* glibc's own entry points: the interposed functions below forward to them. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);

static unsigned long long n_allocs; /* malloc + calloc + realloc of a new block */

void *malloc(size_t size)
{
    n_allocs++;
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    n_allocs++;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    n_allocs++;
    return __libc_realloc(p, size);
}

void free(void *p)
{
    __libc_free(p);
}

/* ------------------------------------------------------------------ the work */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile uintptr_t sink;

static weft_result_t step(void *value, weft_free_fn free_fn, void *arg)
{
    return weft_ok((void *)((uintptr_t)value + (uintptr_t)arg), free_fn);
}

static weft_result_t last_step(void *value, weft_free_fn free_fn, void *arg)
{
    (void)arg;
    sink = (uintptr_t)value;
    return weft_ok(NULL, free_fn);
}

/* The baseline: the same steps as plain calls through an array of function pointers. */
typedef uintptr_t (*plain_fn)(uintptr_t value, void *arg);

__attribute__((noinline)) static uintptr_t plain_step(uintptr_t value, void *arg)
{
    return value + (uintptr_t)arg;
}

__attribute__((noinline)) static uintptr_t plain_last(uintptr_t value, void *arg)
{
    (void)arg;
    sink = value;
    return 0;
}

typedef struct {
    plain_fn fn;
    void *arg;
} plain_pair_t;

static double run_plain(int chain, long iters)
{
    plain_pair_t pairs[128];
    double t0 = now();
    for (long i = 0; i < iters; i++) {
        for (int k = 0; k < chain - 1; k++)
            pairs[k] = (plain_pair_t){plain_step, (void *)(uintptr_t)1};
        pairs[chain - 1] = (plain_pair_t){plain_last, NULL};
        uintptr_t v = (uintptr_t)i;
        for (int k = 0; k < chain; k++)
            v = pairs[k].fn(v, pairs[k].arg);
    }
    return now() - t0;
}

static double run_weft(int chain, long iters, unsigned long long *allocs)
{
    unsigned long long a0 = n_allocs;
    double t0 = now();
    for (long i = 0; i < iters; i++) {
        weft_deferred_t *d = weft_deferred_new();
        if (d == NULL)
            abort();
        for (int k = 0; k < chain - 1; k++) {
            if (weft_deferred_add_callback(d, step, (void *)(uintptr_t)1) != 0)
                abort();
        }
        if (weft_deferred_add_callback(d, last_step, NULL) != 0)
            abort();
        if (weft_deferred_callback(d, (void *)(uintptr_t)i, NULL) != 0)
            abort();
        weft_deferred_unref(d);
    }
    double t = now() - t0;
    *allocs = n_allocs - a0;
    return t;
}

/* A chain of waits: each deferred's callback returns the next, unfired; firing the last one
 * hands the value back up through every deferred. */
static weft_result_t wait_on(void *value, weft_free_fn free_fn, void *arg)
{
    (void)value;
    (void)free_fn;
    return weft_wait_for(weft_deferred_ref(arg));
}

static double run_waits(int depth, long iters)
{
    weft_deferred_t *ds[128];
    double t0 = now();
    for (long i = 0; i < iters; i++) {
        for (int k = 0; k <= depth; k++)
            ds[k] = weft_deferred_new();
        for (int k = 0; k < depth; k++) {
            if (weft_deferred_add_callback(ds[k], wait_on, ds[k + 1]) != 0)
                abort();
        }
        if (weft_deferred_add_callback(ds[0], last_step, NULL) != 0)
            abort();
        for (int k = 0; k < depth; k++) {
            if (weft_deferred_callback(ds[k], NULL, NULL) != 0)
                abort();
        }
        if (weft_deferred_callback(ds[depth], (void *)(uintptr_t)i, NULL) != 0)
            abort();
        for (int k = 0; k <= depth; k++)
            weft_deferred_unref(ds[k]);
    }
    return now() - t0;
}

int main(void)
{
    static const struct {
        int chain;
        long iters;
    } cases[] = {{1, 2000000}, {10, 400000}, {100, 40000}};
    /* Warm up the allocator and the caches. */
    unsigned long long ignored;
    run_weft(10, 20000, &ignored);
    run_plain(10, 20000);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int chain = cases[i].chain;
        long iters = cases[i].iters;
        unsigned long long allocs;
        double tw = run_weft(chain, iters, &allocs);
        double tp = run_plain(chain, iters);
        double cw = (double)chain * (double)iters / tw;
        double cp = (double)chain * (double)iters / tp;
        printf("value: deferred_chain%d_callbacks_per_sec %.0f callbacks/s\n", chain, cw);
        printf("value: fnptr_chain%d_calls_per_sec %.0f calls/s\n", chain, cp);
        printf("value: deferred_chain%d_ns_per_callback %.1f ns\n", chain, 1e9 / cw);
        printf("value: deferred_chain%d_allocs_per_deferred %.2f allocs\n", chain,
               (double)allocs / (double)iters);
        printf("value: deferred_chain%d_allocs_per_callback %.3f allocs\n", chain,
               (double)allocs / (double)iters / (double)chain);
        printf("ratio: deferred_vs_fnptr_chain%d_throughput %.3f\n", chain, cw / cp);
    }
    long wait_iters = 20000;
    int depth = 100;
    double tw = run_waits(depth, wait_iters);
    printf("value: deferred_wait_handoffs_per_sec %.0f handoffs/s\n",
           (double)depth * (double)wait_iters / tw);
    fflush(stdout);
    return 0;
}
