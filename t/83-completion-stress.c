/* SPDX-License-Identifier: MIT */
/* The completion path under load: 8 threads x 1 000 000 call_from_thread plus offloads, with
 * checksums proving that nothing is lost or delivered twice. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <weft/bridge.h>
#include <weft/deferred.h>
#include <weft/error.h>
#include <weft/reactor.h>
#include <weft/threadpool.h>

#include "helpers.h"
#include "tap.h"

/*
 * THREADS producers each post PER_THREAD calls through weft_reactor_call_from_thread, at full
 * speed and all at once; each call carries a distinct 64-bit value (thread << 32 | i). On the
 * loop, every call adds its value to a sum and a sum of squares and bumps a count, and every
 * OFFLOAD_EVERY-th call also offloads a job to a 4-thread pool that returns the same value,
 * whose deferred adds it to the offloads' sums. At the end the counts and both sums must equal
 * the ones computed in closed form: a lost call or a duplicate changes them. The producers
 * keep at most WINDOW calls in flight, so memory stays bounded while the loop keeps up.
 *
 * Run under TSan by `make tsan` (the point of it), and in every other variant; valgrind runs
 * it scaled down (t_under_valgrind), as does WEFT_STRESS_SCALE=n (divide the counts by n).
 */
enum { THREADS = 8, OFFLOAD_EVERY = 8, WINDOW = 1 << 16 };

static uint64_t per_thread = 1000000;

typedef struct {
    uint64_t count, sum, sumsq;
} tally_t;

static void tally_add(tally_t *t, uint64_t v)
{
    t->count++;
    t->sum += v;
    t->sumsq += v * v; /* mod 2^64, as the expected value is */
}

static struct {
    weft_reactor_t *r;
    weft_pool_t *pool;
    tally_t calls, offloads;
    uint64_t offloads_started, offload_errors;
    atomic_uint_fast64_t delivered; /* calls run on the loop, read by the producers */
    uint64_t total;
} st;

static weft_result_t job(void *arg)
{
    return weft_ok(arg, NULL); /* the value is the pointer itself */
}

static weft_result_t offload_done(weft_result_t res, void *arg)
{
    (void)arg;
    if (res.kind == WEFT_RESULT_VALUE)
        tally_add(&st.offloads, (uint64_t)(uintptr_t)res.value);
    else
        st.offload_errors++;
    weft_result_free(res);
    if (st.calls.count == st.total && st.offloads.count + st.offload_errors == st.offloads_started)
        weft_reactor_stop(st.r);
    return weft_ok(NULL, NULL);
}

static void deliver(void *arg)
{
    uint64_t v = (uint64_t)(uintptr_t)arg;
    tally_add(&st.calls, v);
    atomic_store_explicit(&st.delivered, st.calls.count, memory_order_release);
    if ((v & 0xffffffffu) % OFFLOAD_EVERY == 0) {
        weft_deferred_t *d = weft_defer_to_pool(st.r, st.pool, job, arg, NULL, NULL);
        if (d == NULL || weft_deferred_add_both(d, offload_done, NULL) != 0)
            st.offload_errors++;
        else
            st.offloads_started++;
        weft_deferred_unref(d);
    }
    if (st.calls.count == st.total && st.offloads.count + st.offload_errors == st.offloads_started)
        weft_reactor_stop(st.r);
}

typedef struct {
    unsigned index;
    uint64_t errors;
} producer_t;

static void *produce(void *arg)
{
    producer_t *p = arg;
    for (uint64_t i = 0; i < per_thread; i++) {
        /* Bounded memory: wait while the loop is more than WINDOW calls behind everyone. */
        if ((i & 1023) == 0) {
            uint64_t sent = i * THREADS;
            while (sent > WINDOW &&
                   atomic_load_explicit(&st.delivered, memory_order_acquire) < sent - WINDOW)
                sched_yield();
        }
        void *v = (void *)(((uintptr_t)p->index << 32) | (uintptr_t)i);
        if (weft_reactor_call_from_thread(st.r, deliver, v) != 0)
            p->errors++;
    }
    return NULL;
}

/* The sums of v and v * v over every value the producers send, mod 2^64. */
static void expected(tally_t *calls, tally_t *offloads)
{
    memset(calls, 0, sizeof(*calls));
    memset(offloads, 0, sizeof(*offloads));
    for (uint64_t t = 0; t < THREADS; t++) {
        for (uint64_t i = 0; i < per_thread; i++) {
            uint64_t v = t << 32 | i;
            tally_add(calls, v);
            if (i % OFFLOAD_EVERY == 0)
                tally_add(offloads, v);
        }
    }
}

static void test_stress(void)
{
    const char *scale = getenv("WEFT_STRESS_SCALE");
    if (scale != NULL && atoi(scale) > 0)
        per_thread /= (uint64_t)atoi(scale);
    if (t_under_valgrind())
        per_thread /= 1000;
    memset(&st, 0, sizeof(st));
    st.total = per_thread * THREADS;
    st.r = t_reactor(false);
    weft_pool_options_t po;
    weft_pool_options_init(&po);
    po.name = "stress";
    po.max_threads = 4;
    po.queue_limit = 1 << 20;
    st.pool = weft_pool_new(&po, NULL);
    if (!check_ptr(st.pool, !=, NULL))
        return;
    pthread_t threads[THREADS];
    producer_t producers[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        producers[i] = (producer_t){.index = i};
        pthread_create(&threads[i], NULL, produce, &producers[i]);
    }
    check_err(weft_reactor_run(st.r), 0);
    uint64_t errors = 0;
    for (unsigned i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        errors += producers[i].errors;
    }
    tally_t calls, offloads;
    expected(&calls, &offloads);
    check_uint(errors, ==, 0);
    check_uint(st.offload_errors, ==, 0);
    check_uint(st.calls.count, ==, calls.count);
    check_uint(st.calls.sum, ==, calls.sum);
    check_uint(st.calls.sumsq, ==, calls.sumsq);
    check_uint(st.offloads.count, ==, offloads.count);
    check_uint(st.offloads.sum, ==, offloads.sum);
    check_uint(st.offloads.sumsq, ==, offloads.sumsq);
    note("%llu calls from %d threads and %llu offloads delivered exactly once",
         (unsigned long long)st.calls.count, THREADS, (unsigned long long)st.offloads.count);
    check_err(weft_pool_free(st.pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    t_teardown(st.r);
}

int main(void)
{
    TEST(test_stress(), "8 threads x 1 000 000 call_from_thread and the offloads they start are "
                        "each delivered exactly once (count and checksums match)");
    return done_testing();
}
