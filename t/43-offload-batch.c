/* SPDX-License-Identifier: MIT */
/* The offload fast path: offloads made inside a weft callback reach their pool in one batch
 * when the callback returns (cancelled, refused or accepted, each deferred fires once), the
 * loop's poll window after a submit, and its environment default. Gates, never sleeps. */
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft/bridge.h>
#include <weft/deferred.h>
#include <weft/error.h>
#include <weft/failure.h>
#include <weft/log.h>
#include <weft/time.h>

#include "helpers.h"
#include "tap.h"

static sem_t started, gate;
static atomic_int runs;

/* A job that returns its argument (a small integer, nothing to free). */
static weft_result_t echo_job(void *arg)
{
    atomic_fetch_add(&runs, 1);
    return weft_ok(arg, NULL);
}

/* A job that holds its worker until the gate opens. */
static weft_result_t gated_job(void *arg)
{
    sem_post(&started);
    while (sem_wait(&gate) != 0)
        ;
    return echo_job(arg);
}

/* What happened to one deferred. */
typedef struct {
    int fired;
    intptr_t value;
    const weft_failure_type_t *type;
    int code;
    int *order; /* if set: the value is appended here, at *order_len */
    int *order_len;
} seen_t;

static weft_result_t seen_ok(void *value, weft_free_fn free_fn, void *arg)
{
    (void)free_fn;
    seen_t *s = arg;
    s->fired++;
    s->value = (intptr_t)value;
    if (s->order != NULL)
        s->order[(*s->order_len)++] = (int)(intptr_t)value;
    return weft_ok(NULL, NULL);
}

static weft_result_t seen_err(weft_failure_t *f, void *arg)
{
    seen_t *s = arg;
    s->fired++;
    s->type = weft_failure_type(f);
    s->code = weft_failure_code(f);
    weft_failure_free(f);
    return weft_ok(NULL, NULL);
}

static void watch(weft_deferred_t *d, seen_t *s)
{
    check_err(weft_deferred_add_callbacks(d, seen_ok, s, seen_err, s), 0);
    weft_deferred_unref(d);
}

static weft_reactor_t *reactor_with_cpu_threads(unsigned n)
{
    weft_reactor_t *r = t_reactor(false);
    check_err(weft_reactor_set_default_pool_threads(r, WEFT_POOL_KIND_CPU, n), 0);
    return r;
}

static void reset(void)
{
    sem_init(&started, 0, 0);
    sem_init(&gate, 0, 0);
    atomic_store(&runs, 0);
}

/* ------------------------------------------------------------------ batching */

#define N_BATCH 5

typedef struct {
    weft_reactor_t *r;
    seen_t seen[N_BATCH];
    int order[N_BATCH];
    int order_len;
    uint64_t submitted_inside; /* the pool's count of submits, read inside the callback */
    int fired_inside;
} batch_t;

static void submit_five(void *arg)
{
    batch_t *b = arg;
    for (int i = 0; i < N_BATCH; i++) {
        weft_deferred_t *d =
            weft_defer_to_thread(b->r, echo_job, (void *)(intptr_t)(i + 1), NULL, NULL);
        b->seen[i].order = b->order;
        b->seen[i].order_len = &b->order_len;
        watch(d, &b->seen[i]);
    }
    weft_pool_stats_t ps;
    weft_pool_get_stats(weft_reactor_default_pool(b->r, WEFT_POOL_KIND_CPU, NULL), &ps);
    b->submitted_inside = ps.submitted;
    for (int i = 0; i < N_BATCH; i++)
        b->fired_inside += b->seen[i].fired;
}

static void test_batched_at_callback_end(void)
{
    reset();
    batch_t b = {.r = reactor_with_cpu_threads(1)};
    check_err(weft_reactor_call_soon(b.r, submit_five, &b), 0);
    t_run_once(b.r);
    t_run_until_delivered(b.r);
    check_uint(b.submitted_inside, ==, 0); /* still gathered while the callback ran */
    check_int(b.fired_inside, ==, 0);
    weft_pool_stats_t ps;
    weft_pool_get_stats(weft_reactor_default_pool(b.r, WEFT_POOL_KIND_CPU, NULL), &ps);
    check_uint(ps.submitted, ==, N_BATCH);
    check_int(b.order_len, ==, N_BATCH);
    for (int i = 0; i < N_BATCH; i++) {
        check_int(b.seen[i].fired, ==, 1);
        check_int(b.order[i], ==, i + 1); /* one worker: delivered in submit order */
    }
    t_teardown(b.r);
}

/* Outside any weft callback (here: the test's main code) an offload reaches the pool at once. */
static void test_outside_callback_at_once(void)
{
    reset();
    weft_reactor_t *r = reactor_with_cpu_threads(1);
    seen_t s = {0};
    watch(weft_defer_to_thread(r, echo_job, (void *)7, NULL, NULL), &s);
    weft_pool_stats_t ps;
    weft_pool_get_stats(weft_reactor_default_pool(r, WEFT_POOL_KIND_CPU, NULL), &ps);
    check_uint(ps.submitted, ==, 1);
    t_run_until_delivered(r);
    check_int(s.fired, ==, 1);
    check_int(s.value, ==, 7);
    t_teardown(r);
}

typedef struct {
    weft_reactor_t *r;
    seen_t kept, cancelled;
    int cancelled_fired_inside;
} cancel_t;

static void submit_and_cancel(void *arg)
{
    cancel_t *c = arg;
    weft_deferred_t *d = weft_defer_to_thread(c->r, echo_job, (void *)1, NULL, NULL);
    weft_deferred_t *keep = weft_deferred_ref(d);
    watch(d, &c->cancelled);
    check_err(weft_deferred_cancel(keep), 0);
    c->cancelled_fired_inside = c->cancelled.fired;
    weft_deferred_unref(keep);
    watch(weft_defer_to_thread(c->r, echo_job, (void *)2, NULL, NULL), &c->kept);
}

static void test_cancel_before_batch(void)
{
    reset();
    cancel_t c = {.r = reactor_with_cpu_threads(1)};
    check_err(weft_reactor_call_soon(c.r, submit_and_cancel, &c), 0);
    t_run_once(c.r);
    t_run_until_delivered(c.r);
    check_int(c.cancelled_fired_inside, ==, 1); /* at once, as for a queued job */
    check_int(c.cancelled.fired, ==, 1);
    check_ptr(c.cancelled.type, ==, &weft_cancelled_error_type);
    check_int(c.kept.fired, ==, 1);
    check_int(c.kept.value, ==, 2);
    check_int(atomic_load(&runs), ==, 1); /* the cancelled job never ran */
    weft_pool_stats_t ps;
    weft_pool_get_stats(weft_reactor_default_pool(c.r, WEFT_POOL_KIND_CPU, NULL), &ps);
    check_uint(ps.submitted, ==, 1); /* and never reached the pool */
    weft_bridge_stats_t st;
    weft_bridge_get_stats(c.r, &st);
    check_uint(st.cancelled, ==, 1);
    check_uint(st.in_flight, ==, 0);
    t_teardown(c.r);
}

typedef struct {
    weft_reactor_t *r;
    weft_pool_t *pool;
    seen_t s[3];
    int fired_inside;
} overload_t;

static void submit_past_limit(void *arg)
{
    overload_t *o = arg;
    for (int i = 0; i < 3; i++)
        watch(weft_defer_to_pool(o->r, o->pool, echo_job, (void *)(intptr_t)(i + 1), NULL, NULL),
              &o->s[i]);
    for (int i = 0; i < 3; i++)
        o->fired_inside += o->s[i].fired;
}

static void test_overload_in_batch(void)
{
    reset();
    overload_t o = {.r = t_reactor(false)};
    weft_pool_options_t po;
    weft_pool_options_init(&po);
    po.max_threads = 1;
    po.queue_limit = 1;
    o.pool = weft_pool_new(&po, NULL);
    seen_t holder = {0};
    watch(weft_defer_to_pool(o.r, o.pool, gated_job, (void *)9, NULL, NULL), &holder);
    while (sem_wait(&started) != 0)
        ;
    check_err(weft_reactor_call_soon(o.r, submit_past_limit, &o), 0);
    t_run_once(o.r);
    check_int(o.fired_inside, ==, 0);
    /* The callback has returned: the first fits the queue, the others are refused now. */
    check_int(o.s[0].fired, ==, 0);
    check_int(o.s[1].fired, ==, 1);
    check_ptr(o.s[1].type, ==, &weft_overload_error_type);
    check_err(o.s[1].code, WEFT_EOVERLOAD);
    check_int(o.s[2].fired, ==, 1);
    check_err(o.s[2].code, WEFT_EOVERLOAD);
    weft_bridge_stats_t st;
    weft_bridge_get_stats(o.r, &st);
    check_uint(st.refused, ==, 2);
    check_uint(st.submitted, ==, 2); /* the holder and the one that fitted */
    sem_post(&gate);
    t_run_until_delivered(o.r);
    check_int(holder.fired, ==, 1);
    check_int(o.s[0].fired, ==, 1);
    check_int(o.s[0].value, ==, 1);
    t_teardown(o.r);
    check_err(weft_pool_free(o.pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
}

/* A callback of a delivered result submits again: still one batch per callback, and a
 * thousand round trips all complete (the completion stack and the batch feed each other). */
typedef struct {
    weft_reactor_t *r;
    int left, done;
} chain_t;

static weft_result_t chain_next(void *value, weft_free_fn free_fn, void *arg);

static void chain_submit(chain_t *c)
{
    weft_deferred_t *d = weft_defer_to_thread(c->r, echo_job, (void *)1, NULL, NULL);
    check_err(weft_deferred_add_callback(d, chain_next, c), 0);
    weft_deferred_unref(d);
}

static weft_result_t chain_next(void *value, weft_free_fn free_fn, void *arg)
{
    (void)value;
    (void)free_fn;
    chain_t *c = arg;
    c->done++;
    if (--c->left > 0) {
        chain_submit(c);
        chain_submit(c); /* two in flight per finished one, until left runs out */
        c->left--;
    }
    return weft_ok(NULL, NULL);
}

static void chain_start(void *arg)
{
    chain_submit(arg);
}

static void test_submits_from_results(void)
{
    reset();
    chain_t c = {.r = reactor_with_cpu_threads(2), .left = 1000};
    check_err(weft_reactor_call_soon(c.r, chain_start, &c), 0);
    t_run_once(c.r);
    t_run_until_delivered(c.r);
    weft_bridge_stats_t st;
    weft_bridge_get_stats(c.r, &st);
    check_uint(st.succeeded, ==, (uint64_t)c.done);
    check_uint(st.submitted, ==, (uint64_t)c.done);
    check_int(atomic_load(&runs), ==, c.done);
    check_int(c.done, >=, 1000);
    t_teardown(c.r);
}

/* One drain delivering many results: the offloads its callbacks make reach the pool every 64
 * deliveries, not only once the whole drain is done. */
#define N_RELAY 200

typedef struct {
    weft_reactor_t *r;
    int delivered;
    uint64_t submitted_at_100; /* the pool's submit count, read in the 100th callback */
    seen_t second[N_RELAY];
} relay_t;

static relay_t relay;

static weft_result_t relay_ok(void *value, weft_free_fn free_fn, void *arg)
{
    (void)value;
    (void)free_fn;
    (void)arg;
    int i = relay.delivered++;
    watch(weft_defer_to_thread(relay.r, echo_job, (void *)(intptr_t)(i + 1), NULL, NULL),
          &relay.second[i]);
    if (relay.delivered == 100) {
        weft_pool_stats_t ps;
        weft_pool_get_stats(weft_reactor_default_pool(relay.r, WEFT_POOL_KIND_CPU, NULL), &ps);
        relay.submitted_at_100 = ps.submitted;
    }
    return weft_ok(NULL, NULL);
}

static void test_long_drain_submits_as_it_goes(void)
{
    reset();
    memset(&relay, 0, sizeof(relay));
    relay.r = reactor_with_cpu_threads(1);
    for (int i = 0; i < N_RELAY; i++) {
        weft_deferred_t *d = weft_defer_to_thread(relay.r, echo_job, NULL, NULL, NULL);
        check_err(weft_deferred_add_callbacks(d, relay_ok, NULL, NULL, NULL), 0);
        weft_deferred_unref(d);
    }
    /* Every result back before the loop runs: one drain then delivers all of them. */
    weft_pool_t *pool = weft_reactor_default_pool(relay.r, WEFT_POOL_KIND_CPU, NULL);
    check_uint(t_wait_pool_completed(pool, N_RELAY), ==, N_RELAY);
    t_run_until_delivered(relay.r);
    check_int(relay.delivered, ==, N_RELAY);
    /* At the 100th delivery the first 64 callbacks' offloads were with the pool already. */
    check_uint(relay.submitted_at_100, >=, N_RELAY + 64);
    check_uint(relay.submitted_at_100, <, N_RELAY + 100);
    int fired = 0;
    for (int i = 0; i < N_RELAY; i++)
        fired += relay.second[i].fired;
    check_int(fired, ==, N_RELAY);
    t_teardown(relay.r);
}

/* ------------------------------------------------------------------ the completion ring */

/* More completions than the ring holds (WEFT__DONE_RING, 1024) come back while the loop does
 * not run: the rest wait on the overflow stack, and still arrive in order. */
#define N_OVERFLOW 5000

static void test_ring_overflow_keeps_order(void)
{
    reset();
    weft_reactor_t *r = reactor_with_cpu_threads(1);
    static seen_t seen[N_OVERFLOW];
    static int order[N_OVERFLOW];
    int order_len = 0;
    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < N_OVERFLOW; i++) {
        weft_deferred_t *d = weft_defer_to_thread(r, echo_job, (void *)(intptr_t)i, NULL, NULL);
        seen[i].order = order;
        seen[i].order_len = &order_len;
        watch(d, &seen[i]);
    }
    weft_pool_t *pool = weft_reactor_default_pool(r, WEFT_POOL_KIND_CPU, NULL);
    check_uint(t_wait_pool_completed(pool, N_OVERFLOW), ==, N_OVERFLOW);
    t_run_until_delivered(r);
    check_int(order_len, ==, N_OVERFLOW);
    int wrong = 0;
    for (int i = 0; i < order_len; i++)
        wrong += order[i] != i;
    check_int(wrong, ==, 0); /* one worker: submit order */
    t_teardown(r);
}

/* The ring fills (1024) and 10 results overflow while the loop does not run; then, as the
 * loop delivers the first result, the worker finishes more: the first of them goes into the
 * ring slot just freed, the rest overflow. The 10 older overflowed results must still come
 * before the newer one in the ring. One worker: submit order throughout. */
#define N_RING_FULL 1034
#define N_AFTER     6

typedef struct {
    weft_reactor_t *r;
    int order[N_RING_FULL + N_AFTER];
    int len;
} refill_t;

static weft_result_t refill_ok(void *value, weft_free_fn free_fn, void *arg)
{
    (void)free_fn;
    refill_t *f = arg;
    f->order[f->len++] = (int)(intptr_t)value;
    if (f->len == 1) {
        /* Let the held job and the ones after it finish, and wait until they are back. */
        sem_post(&gate);
        weft_pool_t *pool = weft_reactor_default_pool(f->r, WEFT_POOL_KIND_CPU, NULL);
        t_wait_pool_completed(pool, N_RING_FULL + N_AFTER);
    }
    return weft_ok(NULL, NULL);
}

static void test_ring_refill_after_overflow(void)
{
    reset();
    static refill_t f;
    memset(&f, 0, sizeof(f));
    f.r = reactor_with_cpu_threads(1);
    for (int i = 0; i < N_RING_FULL + N_AFTER; i++) {
        weft_deferred_t *d = weft_defer_to_thread(f.r, i == N_RING_FULL ? gated_job : echo_job,
                                                  (void *)(intptr_t)i, NULL, NULL);
        check_err(weft_deferred_add_callbacks(d, refill_ok, &f, NULL, NULL), 0);
        weft_deferred_unref(d);
    }
    while (sem_wait(&started) != 0) /* the worker holds at job N_RING_FULL */
        ;
    t_run_until_delivered(f.r);
    check_int(f.len, ==, N_RING_FULL + N_AFTER);
    int wrong = 0;
    for (int i = 0; i < f.len; i++)
        wrong += f.order[i] != i;
    if (!check_int(wrong, ==, 0))
        diag("first out of order at %d", ({
                 int k = 0;
                 while (k < f.len && f.order[k] == k)
                     k++;
                 k;
             }));
    t_teardown(f.r);
}

/* Two workers, and a loop that stops for a while now and then, so that the ring fills and
 * empties while completions go on: each worker's results arrive in the order it finished
 * them (a job numbers its completions per thread). */
#define N_ORDER 20000

static atomic_int next_thread;
static _Thread_local int thread_no = -1;
static _Thread_local int thread_seq;

static weft_result_t numbered_job(void *arg)
{
    (void)arg;
    if (thread_no < 0)
        thread_no = atomic_fetch_add(&next_thread, 1);
    for (volatile int spin = 0; spin < 200; spin++)
        ;
    return weft_ok((void *)(((intptr_t)thread_no << 24) | ++thread_seq), NULL);
}

typedef struct {
    int last[8]; /* per thread: the last number seen */
    int delivered, misordered, bad_thread;
} per_thread_t;

static weft_result_t numbered_ok(void *value, weft_free_fn free_fn, void *arg)
{
    (void)free_fn;
    per_thread_t *p = arg;
    intptr_t v = (intptr_t)value;
    int t = (int)(v >> 24), seq = (int)(v & 0xffffff);
    if (t < 0 || t >= 8) {
        p->bad_thread++;
    } else {
        p->misordered += seq <= p->last[t];
        p->last[t] = seq;
    }
    if (++p->delivered % 2000 == 0) {
        struct timespec pause = {0, 3000000}; /* the loop stops: completions pile up */
        nanosleep(&pause, NULL);
    }
    return weft_ok(NULL, NULL);
}

static void test_ring_order_per_worker(void)
{
    reset();
    atomic_store(&next_thread, 0);
    weft_reactor_t *r = reactor_with_cpu_threads(2);
    per_thread_t p;
    memset(&p, 0, sizeof(p));
    for (int i = 0; i < N_ORDER; i++) {
        weft_deferred_t *d = weft_defer_to_thread(r, numbered_job, NULL, NULL, NULL);
        check_err(weft_deferred_add_callbacks(d, numbered_ok, &p, NULL, NULL), 0);
        weft_deferred_unref(d);
    }
    t_run_until_delivered(r);
    check_int(p.delivered, ==, N_ORDER);
    check_int(p.misordered, ==, 0);
    check_int(p.bad_thread, ==, 0);
    t_teardown(r);
}

/* ------------------------------------------------------------------ the poll window */

static void test_poll_setting(void)
{
    reset();
    weft_reactor_t *r = reactor_with_cpu_threads(1);
    check_err(weft_reactor_set_offload_poll_us(r, WEFT_OFFLOAD_POLL_US_MAX + 1), WEFT_EINVAL);
    unsigned settings[] = {0, WEFT_OFFLOAD_POLL_US_MAX, 50};
    for (size_t k = 0; k < sizeof(settings) / sizeof(settings[0]); k++) {
        check_err(weft_reactor_set_offload_poll_us(r, settings[k]), 0);
        seen_t s = {0};
        watch(weft_defer_to_thread(r, echo_job, (void *)(intptr_t)(k + 1), NULL, NULL), &s);
        t_run_until_delivered(r);
        check_int(s.fired, ==, 1);
        check_int(s.value, ==, (intptr_t)(k + 1));
    }
    t_teardown(r);
}

static int warnings;

static void count_warnings(const weft_log_record_t *rec, void *arg)
{
    (void)arg;
    if (rec->level >= WEFT_LOG_WARN)
        warnings++;
}

static void test_poll_env(void)
{
    weft_log_set_sink(count_warnings, NULL);
    unsetenv("WEFT_OFFLOAD_POLL_US");
    check_uint(weft_default_offload_poll_us(), ==, WEFT_OFFLOAD_POLL_US_DEFAULT);
    setenv("WEFT_OFFLOAD_POLL_US", "0", 1);
    check_uint(weft_default_offload_poll_us(), ==, 0);
    setenv("WEFT_OFFLOAD_POLL_US", "250", 1);
    check_uint(weft_default_offload_poll_us(), ==, 250);
    check_int(warnings, ==, 0);
    const char *bad[] = {"-1", "10001", "12us", " 5", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("WEFT_OFFLOAD_POLL_US", bad[i], 1);
        check_uint(weft_default_offload_poll_us(), ==, WEFT_OFFLOAD_POLL_US_DEFAULT);
    }
    check_int(warnings, ==, 4); /* every bad value but the empty one is named in the log */
    unsetenv("WEFT_OFFLOAD_POLL_US");
    weft_log_set_sink(NULL, NULL);
}

/* ------------------------------------------------------------------ review regressions */

static weft_pool_t *own_pool(unsigned threads)
{
    weft_pool_options_t po;
    weft_pool_options_init(&po);
    po.max_threads = threads;
    weft_pool_t *pool = weft_pool_new(&po, NULL);
    if (pool == NULL)
        bail_out("weft_pool_new failed");
    return pool;
}

static uint64_t completed_jobs(weft_pool_t *pool)
{
    weft_pool_stats_t st;
    weft_pool_get_stats(pool, &st);
    return st.completed;
}

static weft_reactor_t *strand_r;
static weft_pool_t *strand_pool;
static seen_t strand_s, strand_t;

static void noop(void *arg)
{
    (void)arg;
}

/* Run by the refused free's drain: an offload ... */
static void strand_call1(void *arg)
{
    (void)arg;
    watch(weft_defer_to_pool(strand_r, strand_pool, echo_job, (void *)1, NULL, NULL), &strand_s);
}

/* ... whose job finishes while the queue is closed; then work left behind makes free refuse. */
static void strand_call2(void *arg)
{
    (void)arg;
    while (completed_jobs(strand_pool) < 1)
        sched_yield();
    check_err(weft_reactor_call_later(strand_r, 0.001, noop, NULL, NULL), 0);
}

static void test_refused_free_strands_nothing(void)
{
    reset();
    strand_r = t_reactor(false);
    strand_pool = own_pool(1);
    memset(&strand_s, 0, sizeof(strand_s));
    memset(&strand_t, 0, sizeof(strand_t));
    check_err(weft_reactor_call_from_thread(strand_r, strand_call1, NULL), 0);
    check_err(weft_reactor_call_from_thread(strand_r, strand_call2, NULL), 0);
    check_err(weft_reactor_free(strand_r), WEFT_EBUSY);
    /* The reactor lives on: the result made during the refused free arrives ... */
    for (int i = 0; i < 100000 && strand_s.fired == 0; i++)
        t_run_once(strand_r);
    check_int(strand_s.fired, ==, 1);
    /* ... and so do later ones. */
    watch(weft_defer_to_pool(strand_r, strand_pool, echo_job, (void *)2, NULL, NULL), &strand_t);
    for (int i = 0; i < 100000 && strand_t.fired == 0; i++)
        t_run_once(strand_r);
    check_int(strand_t.fired, ==, 1);
    t_run_until_delivered(strand_r);
    weft_reactor_stats_t rs;
    for (int i = 0; i < 100000 && (weft_reactor_get_stats(strand_r, &rs), rs.pending_delayed_calls);
         i++)
        t_run_once(strand_r); /* the delayed call that made free refuse */
    t_teardown(strand_r);
    check_err(weft_pool_free(strand_pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
}

/* A job done and its pool freed, its result not yet delivered: cancelling leaves the freed
 * pool alone (ASan would see weft_pool_cancel touch it). */
static void test_cancel_after_pool_freed(void)
{
    reset();
    weft_reactor_t *r = t_reactor(false);
    weft_pool_t *pool = own_pool(1);
    weft_deferred_t *d = weft_defer_to_pool(r, pool, echo_job, (void *)3, NULL, NULL);
    check_ptr(d, !=, NULL);
    while (completed_jobs(pool) < 1)
        sched_yield();
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check(!weft_deferred_called(d));
    seen_t s = {0};
    check_err(weft_deferred_add_callbacks(d, seen_ok, &s, seen_err, &s), 0);
    check_err(weft_deferred_cancel(d), 0);
    check_int(s.fired, ==, 1);
    check_ptr(s.type, ==, &weft_cancelled_error_type);
    weft_deferred_unref(d);
    t_run_until_delivered(r); /* the late result is dropped */
    weft_bridge_stats_t st;
    weft_bridge_get_stats(r, &st);
    check_uint(st.late_results, ==, 1);
    t_teardown(r);
}

/* arg_free: weft frees arg once the job can no longer touch it, also after a cancel of the
 * running job (whose deferred fires at once), and on every error path of the submit. */
static atomic_int arg_frees, arg_reads;

static void count_arg_free(void *p)
{
    atomic_fetch_add(&arg_frees, 1);
    free(p);
}

static weft_result_t reading_job(void *arg)
{
    sem_post(&started);
    while (sem_wait(&gate) != 0)
        ;
    atomic_fetch_add(&arg_reads, *(int *)arg == 42); /* ASan: use after free if freed early */
    return weft_ok(NULL, NULL);
}

static void test_arg_free(void)
{
    reset();
    atomic_store(&arg_frees, 0);
    atomic_store(&arg_reads, 0);
    weft_reactor_t *r = reactor_with_cpu_threads(1);
    weft_offload_options_t o;
    weft_offload_options_init(&o);
    o.arg_free = count_arg_free;
    int *arg = malloc(sizeof(*arg));
    *arg = 42;
    weft_deferred_t *d = weft_defer_to_thread(r, reading_job, arg, &o, NULL);
    while (sem_wait(&started) != 0)
        ;
    seen_t s = {0};
    check_err(weft_deferred_add_callbacks(d, seen_ok, &s, seen_err, &s), 0);
    check_err(weft_deferred_cancel(d), 0);
    check_int(s.fired, ==, 1); /* at once, while the job still runs with arg */
    check_int(atomic_load(&arg_frees), ==, 0);
    weft_deferred_unref(d);
    sem_post(&gate);
    t_run_until_delivered(r);
    check_int(atomic_load(&arg_reads), ==, 1);
    check_int(atomic_load(&arg_frees), ==, 1); /* freed once the job was done */

    /* Error paths take arg too: a NULL fn, and a NULL pool for defer_to_pool. */
    int err = 0;
    check_ptr(weft_defer_to_thread(r, NULL, malloc(4), &o, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    check_ptr(weft_defer_to_pool(r, NULL, echo_job, malloc(4), &o, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    check_int(atomic_load(&arg_frees), ==, 3);
    /* A normal run frees it after the callbacks saw the result. */
    seen_t s2 = {0};
    watch(weft_defer_to_thread(r, echo_job, malloc(4), &o, NULL), &s2);
    t_run_until_delivered(r);
    check_int(s2.fired, ==, 1);
    check_int(atomic_load(&arg_frees), ==, 4);
    t_teardown(r);
}

int main(void)
{
    TEST(test_batched_at_callback_end(),
         "offloads made inside a callback reach the pool together when it returns, and their "
         "results come back in submit order");
    TEST(test_outside_callback_at_once(),
         "an offload made outside any weft callback reaches the pool at once");
    TEST(test_cancel_before_batch(),
         "cancelling an offload before its callback returns fails it at once with "
         "CancelledError, and the job never reaches the pool");
    TEST(test_overload_in_batch(),
         "offloads of one callback past the pool's queue limit fail with OverloadError when "
         "the callback returns; the rest run");
    TEST(test_submits_from_results(),
         "results whose callbacks offload again keep the pool fed until every job is done");
    TEST(test_long_drain_submits_as_it_goes(),
         "a drain delivering many results hands the offloads its callbacks make to the pool "
         "every 64 deliveries");
    TEST(test_ring_overflow_keeps_order(),
         "results that find the completion ring full wait beside it and still arrive in order");
    TEST(test_ring_refill_after_overflow(),
         "results that overflowed come before newer ones that found room in the ring again");
    TEST(test_ring_order_per_worker(),
         "with two workers and a loop that stalls, each worker's results arrive in the order "
         "it finished them");
    TEST(test_poll_setting(),
         "the loop's poll window after a submit is settable from 0 to its maximum and "
         "results arrive either way");
    TEST(test_poll_env(), "WEFT_OFFLOAD_POLL_US sets the default poll window; a bad value is "
                          "ignored with a warning");
    TEST(test_refused_free_strands_nothing(),
         "results that came back while a refused weft_reactor_free had the queue closed are "
         "delivered once the loop runs again, and so are later ones");
    TEST(test_cancel_after_pool_freed(),
         "cancelling an offload whose job is done and whose pool was freed leaves the pool "
         "alone and drops the late result");
    TEST(test_arg_free(), "with arg_free, weft frees arg once the job is done: after a cancel of "
                          "the running job, after a normal result, and on a refused submit");
    return done_testing();
}
