/* SPDX-License-Identifier: MIT */
/* weft_reactor_call_from_thread: exactly once, in per-thread order, bounded batches, one wake
 * per batch, WEFT_ECLOSED after stop, nothing accepted ever lost. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include <weft/error.h>
#include <weft/reactor.h>
#include <weft/time.h>

#include "helpers.h"
#include "tap.h"

#define THREADS 8

static unsigned per_thread;
static uint64_t next_seq[THREADS];
static uint64_t received;
static uint64_t out_of_order;
static weft_reactor_t *the_r;

/* arg packs (thread, seq): each thread's calls must arrive 0, 1, 2 ... exactly once. */
static void deliver(void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    unsigned t = (unsigned)(v >> 32);
    uint64_t seq = v & 0xffffffffu;
    if (t >= THREADS || seq != next_seq[t])
        out_of_order++;
    else
        next_seq[t]++;
    if (++received == (uint64_t)THREADS * per_thread)
        weft_reactor_stop(the_r);
}

typedef struct {
    weft_reactor_t *r;
    unsigned index;
    unsigned errors;
} producer_t;

static void *produce(void *arg)
{
    producer_t *p = arg;
    for (uint64_t i = 0; i < per_thread; i++) {
        void *v = (void *)(((uintptr_t)p->index << 32) | (uintptr_t)i);
        if (weft_reactor_call_from_thread(p->r, deliver, v) != 0)
            p->errors++;
    }
    return NULL;
}

static void test_many_threads(void)
{
    per_thread = t_under_valgrind() ? 2000 : 100000;
    weft_reactor_t *r = the_r = t_reactor(false);
    memset(next_seq, 0, sizeof(next_seq));
    received = out_of_order = 0;
    pthread_t threads[THREADS];
    producer_t producers[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        producers[i] = (producer_t){.r = r, .index = i};
        pthread_create(&threads[i], NULL, produce, &producers[i]);
    }
    check_err(weft_reactor_run(r), 0);
    unsigned errors = 0;
    for (unsigned i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        errors += producers[i].errors;
    }
    check_uint(errors, ==, 0);
    check_uint(received, ==, (uint64_t)THREADS * per_thread);
    check_uint(out_of_order, ==, 0);
    for (unsigned i = 0; i < THREADS; i++)
        check_uint(next_seq[i], ==, per_thread);
    weft_reactor_stats_t st;
    weft_reactor_get_stats(r, &st);
    check_uint(st.thread_calls, ==, (uint64_t)THREADS * per_thread);
    check_uint(st.wakeups, <, st.thread_calls); /* wakes are per batch, not per call */
    t_teardown(r);
}

/* ---------------------------------------------------------------- after stop */

static atomic_int stop_ran;
static atomic_int stop_accepted;
static atomic_int stop_closed_seen;

static void count_stop(void *arg)
{
    (void)arg;
    atomic_fetch_add(&stop_ran, 1);
}

static void *post_until_closed(void *arg)
{
    weft_reactor_t *r = arg;
    for (;;) {
        int rc = weft_reactor_call_from_thread(r, count_stop, NULL);
        if (rc == WEFT_ECLOSED) {
            atomic_store(&stop_closed_seen, 1);
            return NULL;
        }
        if (rc == 0)
            atomic_fetch_add(&stop_accepted, 1);
    }
}

static void stop_soon(void *arg)
{
    weft_reactor_stop(arg);
}

static void test_closed_after_stop(void)
{
    weft_reactor_t *r = t_reactor(false);
    atomic_store(&stop_ran, 0);
    atomic_store(&stop_accepted, 0);
    atomic_store(&stop_closed_seen, 0);
    pthread_t t;
    pthread_create(&t, NULL, post_until_closed, r);
    check_err(weft_reactor_call_later(r, 0.005, stop_soon, r, NULL), 0);
    check_err(weft_reactor_run(r), 0);
    pthread_join(t, NULL);
    check_int(atomic_load(&stop_closed_seen), ==, 1);
    /* Every call accepted before the close ran, exactly once. */
    check_int(atomic_load(&stop_ran), ==, atomic_load(&stop_accepted));
    check_err(weft_reactor_call_from_thread(r, count_stop, NULL), WEFT_ECLOSED);
    t_teardown(r);
}

/* ---------------------------------------------------------------- batches */

static int batch_count;

static void batch_call(void *arg)
{
    (void)arg;
    batch_count++;
}

static void test_bounded_batches(void)
{
    weft_reactor_options_t o;
    weft_reactor_options_init(&o);
    o.install_signal_handlers = false;
    o.thread_calls_per_tick = 10;
    weft_reactor_t *r = weft_reactor_new(&o, NULL);
    if (!check_ptr(r, !=, NULL))
        return;
    batch_count = 0;
    for (int i = 0; i < 35; i++)
        check_err(weft_reactor_call_from_thread(r, batch_call, NULL), 0);
    int seen[5];
    for (int i = 0; i < 5; i++) {
        weft_reactor_run_once_nowait(r);
        seen[i] = batch_count;
    }
    check_int(seen[0], ==, 10);
    check_int(seen[1], ==, 20);
    check_int(seen[2], ==, 30);
    check_int(seen[3], ==, 35);
    check_int(seen[4], ==, 35);
    weft_reactor_stats_t st;
    weft_reactor_get_stats(r, &st);
    check_uint(st.max_callbacks_per_tick, <=, 10);
    t_teardown(r);
}

static void test_one_wake_per_batch(void)
{
    weft_reactor_t *r = t_reactor(false);
    batch_count = 0;
    for (int i = 0; i < 1000; i++)
        check_err(weft_reactor_call_from_thread(r, batch_call, NULL), 0);
    weft_reactor_run_once_nowait(r);
    check_int(batch_count, ==, 1000);
    weft_reactor_stats_t st;
    weft_reactor_get_stats(r, &st);
    check_uint(st.wakeups, ==, 1);
    t_teardown(r);
}

static void test_free_runs_accepted(void)
{
    weft_reactor_t *r = t_reactor(false);
    batch_count = 0;
    for (int i = 0; i < 3; i++)
        check_err(weft_reactor_call_from_thread(r, batch_call, NULL), 0);
    check_err(weft_reactor_free(r), 0);
    check_int(batch_count, ==, 3);
}

static void test_null_fn(void)
{
    weft_reactor_t *r = t_reactor(false);
    check_err(weft_reactor_call_from_thread(r, NULL, NULL), WEFT_EINVAL);
    t_teardown(r);
}

int main(void)
{
    TEST(test_many_threads(), "calls from 8 threads arrive exactly once each, in per-thread "
                              "order, with fewer wakes than calls");
    TEST(test_closed_after_stop(), "after stop call_from_thread returns WEFT_ECLOSED and every "
                                   "call accepted before ran exactly once");
    TEST(test_bounded_batches(),
         "the loop runs at most thread_calls_per_tick calls per iteration and the rest next");
    TEST(test_one_wake_per_batch(), "1000 calls posted before the loop wakes it once");
    TEST(test_free_runs_accepted(), "free runs the calls accepted but not yet run");
    TEST(test_null_fn(), "a NULL function is refused with WEFT_EINVAL");
    return done_testing();
}
