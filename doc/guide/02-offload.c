/* SPDX-License-Identifier: MIT */
/* doc/guide.md, chapter 2: offload a CPU job. Counts primes on a worker, shows where the
 * callbacks run, who frees the result, a failure, a cancel and a timeout. Exits 0. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

static pthread_t loop_thread;
static int pending = 4; /* deferreds still to fire; the last one stops the reactor */

/* The job: runs on a worker thread. It must not touch the reactor or any deferred. */
static weft_result_t count_primes(void *arg)
{
    unsigned long limit = (unsigned long)(uintptr_t)arg;
    if (limit > 10000000)
        return weft_fail_new(&weft_error_type, WEFT_EINVAL, "limit too large");
    unsigned long *count = malloc(sizeof(*count));
    if (count == NULL)
        return weft_fail_new(&weft_error_type, WEFT_ENOMEM, "out of memory");
    *count = 0;
    for (unsigned long n = 2; n < limit; n++) {
        unsigned long d = 2;
        while (d * d <= n && n % d != 0)
            d++;
        *count += d * d > n;
    }
    return weft_ok(count, free); /* the value, and the function that frees it */
}

/* A job that runs until it is cancelled: it polls the cooperative flag. */
static weft_result_t spin(void *arg)
{
    (void)arg;
    while (!weft_job_cancelled())
        ;
    return weft_ok(NULL, NULL);
}

static void one_done(weft_reactor_t *r)
{
    if (--pending == 0)
        (void)weft_reactor_stop(r);
}

/* Runs on the loop thread with the job's value, which it now owns. */
static weft_result_t print_count(void *value, weft_free_fn free_fn, void *arg)
{
    unsigned long *count = value;
    printf("primes below 200000: %lu (on the loop thread: %s)\n", *count,
           pthread_equal(pthread_self(), loop_thread) ? "yes" : "no");
    free_fn(count); /* ours to free: we do not pass it on */
    one_done(arg);
    return weft_ok(NULL, NULL);
}

/* An errback: owns the failure; handles it by freeing it and returning a value. */
static weft_result_t print_failure(weft_failure_t *f, void *arg)
{
    printf("failed: %s: %s\n", weft_failure_type(f)->name, weft_failure_message(f));
    weft_failure_free(f);
    one_done(arg);
    return weft_ok(NULL, NULL); /* back on the success path: nothing unhandled */
}

static void start(void *arg)
{
    weft_reactor_t *r = arg;
    int err = 0;
    loop_thread = pthread_self();

    /* 1. A result: a heap value travels to the callback with its free function. */
    weft_deferred_t *d =
        weft_defer_to_thread(r, count_primes, (void *)(uintptr_t)200000, NULL, &err);
    if (d == NULL || weft_deferred_add_callbacks(d, print_count, r, print_failure, r) != 0)
        abort();
    weft_deferred_unref(d); /* the bridge keeps it alive until it fires */

    /* 2. A failure: the job returns one; the errback gets it. */
    d = weft_defer_to_thread(r, count_primes, (void *)(uintptr_t)20000000, NULL, &err);
    if (d == NULL || weft_deferred_add_callbacks(d, print_count, r, print_failure, r) != 0)
        abort();
    weft_deferred_unref(d);

    /* 3. A cancel: fails the deferred with weft.CancelledError at once. A queued job never
     *    runs; a running one sees weft_job_cancelled() and its late result is freed. */
    d = weft_defer_to_thread(r, spin, NULL, NULL, &err);
    if (d == NULL || weft_deferred_add_callbacks(d, print_count, r, print_failure, r) != 0)
        abort();
    if (weft_deferred_cancel(d) != 0)
        abort();
    weft_deferred_unref(d);

    /* 4. A timeout: a cancel after 50 ms, seen as weft.TimeoutError by what comes after. */
    d = weft_defer_to_thread(r, spin, NULL, NULL, &err);
    if (d == NULL || weft_deferred_add_timeout(d, r, 0.05) != 0 ||
        weft_deferred_add_callbacks(d, print_count, r, print_failure, r) != 0)
        abort();
    weft_deferred_unref(d);
}

int main(void)
{
    int err = 0;
    weft_reactor_t *r = weft_reactor_new(NULL, &err);
    if (r == NULL || weft_reactor_call_when_running(r, start, r) != 0)
        return 1;
    if (weft_reactor_run(r) != 0)
        return 1;
    return weft_reactor_free(r) == 0 ? 0 : 1;
}
