/* SPDX-License-Identifier: MIT */
/* defer_to_thread and friends: results on the loop thread, cancel while queued and running,
 * timeouts, overload, context, call_in_thread, default pools. Gates, never sleeps. */
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include <weft/bridge.h>
#include <weft/deferred.h>
#include <weft/error.h>
#include <weft/failure.h>
#include <weft/task.h>
#include <weft/time.h>

#include "helpers.h"
#include "tap.h"

static pthread_t loop_thread;
static sem_t started, gate;
static atomic_int job_runs, saw_cancel, frees, frees_off_loop;

static void reset(void)
{
    sem_init(&started, 0, 0);
    sem_init(&gate, 0, 0);
    atomic_store(&job_runs, 0);
    atomic_store(&saw_cancel, 0);
    atomic_store(&frees, 0);
    atomic_store(&frees_off_loop, 0);
    loop_thread = pthread_self();
}

static void counted_free(void *p)
{
    atomic_fetch_add(&frees, 1);
    if (!pthread_equal(pthread_self(), loop_thread))
        atomic_fetch_add(&frees_off_loop, 1);
    free(p);
}

/* A job that returns a heap value (freed by counted_free) naming the thread it ran on. */
static weft_result_t value_job(void *arg)
{
    atomic_fetch_add(&job_runs, 1);
    pthread_t *where = malloc(sizeof(*where));
    *where = pthread_self();
    (void)arg;
    return weft_ok(where, counted_free);
}

/* A job that waits at the gate, then returns a value. */
static weft_result_t gated_job(void *arg)
{
    (void)arg;
    sem_post(&started);
    while (sem_wait(&gate) != 0)
        ;
    if (weft_job_cancelled())
        atomic_fetch_add(&saw_cancel, 1);
    return value_job(NULL);
}

static weft_result_t failing_job(void *arg)
{
    (void)arg;
    return weft_fail_new(&weft_error_type, WEFT_EACCES, "denied on the worker");
}

typedef struct {
    int fired;
    bool failed;
    const weft_failure_type_t *type;
    int code;
    bool on_loop;
    bool value_off_loop; /* the value said the job ran elsewhere */
    void *context;
} catch_t;

static weft_result_t catch_ok(void *value, weft_free_fn free, void *arg)
{
    catch_t *c = arg;
    c->fired++;
    c->on_loop = pthread_equal(pthread_self(), loop_thread);
    if (value != NULL && free == counted_free)
        c->value_off_loop = !pthread_equal(*(pthread_t *)value, loop_thread);
    c->context = weft_offload_context();
    if (free)
        free(value);
    return weft_ok(NULL, NULL);
}

static weft_result_t catch_err(weft_failure_t *f, void *arg)
{
    catch_t *c = arg;
    c->fired++;
    c->failed = true;
    c->on_loop = pthread_equal(pthread_self(), loop_thread);
    c->type = weft_failure_type(f);
    c->code = weft_failure_code(f);
    weft_failure_free(f);
    return weft_ok(NULL, NULL);
}

static void catch_on(weft_deferred_t *d, catch_t *c)
{
    memset(c, 0, sizeof(*c));
    check_err(weft_deferred_add_callbacks(d, catch_ok, c, catch_err, c), 0);
}

/* A reactor whose CPU pool has `threads` threads. */
static weft_reactor_t *bridge_reactor(bool manual, unsigned threads)
{
    weft_reactor_t *r = t_reactor(manual);
    check_err(weft_reactor_set_default_pool_threads(r, WEFT_POOL_KIND_CPU, threads), 0);
    return r;
}

static void test_value_on_loop(void)
{
    reset();
    weft_reactor_t *r = bridge_reactor(false, 2);
    int err;
    weft_deferred_t *d = weft_defer_to_thread(r, value_job, NULL, NULL, &err);
    if (!check_ptr(d, !=, NULL))
        return;
    catch_t c;
    catch_on(d, &c);
    check(t_run_until(r, &c.fired, 100000));
    check_int(c.fired, ==, 1);
    check(!c.failed);
    check(c.on_loop);
    check(c.value_off_loop);
    check_int(atomic_load(&frees), ==, 1);
    weft_bridge_stats_t st;
    weft_bridge_get_stats(r, &st);
    check_uint(st.submitted, ==, 1);
    check_uint(st.succeeded, ==, 1);
    check_uint(st.in_flight, ==, 0);
    weft_deferred_unref(d);
    t_teardown(r);
}

static void test_failure_on_loop(void)
{
    reset();
    weft_reactor_t *r = bridge_reactor(false, 2);
    weft_deferred_t *d = weft_defer_to_thread(r, failing_job, NULL, NULL, NULL);
    catch_t c;
    catch_on(d, &c);
    check(t_run_until(r, &c.fired, 100000));
    check(c.failed);
    check(c.on_loop);
    check_err(c.code, WEFT_EACCES);
    weft_deferred_unref(d);
    t_teardown(r);
}

static void test_cancel_queued(void)
{
    reset();
    weft_reactor_t *r = bridge_reactor(false, 1);
    weft_deferred_t *busy = weft_defer_to_thread(r, gated_job, NULL, NULL, NULL);
    while (sem_wait(&started) != 0)
        ; /* the only worker is held at the gate: the next job stays queued */
    weft_deferred_t *queued = weft_defer_to_thread(r, value_job, NULL, NULL, NULL);
    catch_t cq, cb;
    catch_on(queued, &cq);
    catch_on(busy, &cb);
    check_err(weft_deferred_cancel(queued), 0);
    check_int(cq.fired, ==, 1); /* at once */
    check_ptr(cq.type, ==, &weft_cancelled_error_type);
    sem_post(&gate);
    check(t_run_until(r, &cb.fired, 100000));
    check_uint(t_run_until_delivered(r), ==, 0);
    check_int(atomic_load(&job_runs), ==, 1); /* only the gated one: the queued never ran */
    weft_deferred_unref(queued);
    weft_deferred_unref(busy);
    t_teardown(r);
}

static void test_cancel_running(void)
{
    reset();
    weft_reactor_t *r = bridge_reactor(false, 1);
    weft_deferred_t *d = weft_defer_to_thread(r, gated_job, NULL, NULL, NULL);
    while (sem_wait(&started) != 0)
        ;
    catch_t c;
    catch_on(d, &c);
    check_err(weft_deferred_cancel(d), 0);
    check_int(c.fired, ==, 1); /* at once, while the job still runs */
    check_ptr(c.type, ==, &weft_cancelled_error_type);
    sem_post(&gate);
    weft_bridge_stats_t st;
    for (int i = 0; i < 100000 && (weft_bridge_get_stats(r, &st), st.late_results == 0); i++)
        t_run_once(r);
    check_uint(st.late_results, ==, 1);
    check_int(atomic_load(&saw_cancel), ==, 1);     /* the cooperative flag was set */
    check_int(atomic_load(&frees), ==, 1);          /* the late result was freed ... */
    check_int(atomic_load(&frees_off_loop), ==, 0); /* ... on the loop thread */
    check_int(c.fired, ==, 1);
    weft_deferred_unref(d);
    t_teardown(r);
}

static void test_timeout(void)
{
    reset();
    weft_reactor_t *r = bridge_reactor(true, 1); /* manual clock: the timeout is exact */
    weft_deferred_t *d = weft_defer_to_thread(r, gated_job, NULL, NULL, NULL);
    while (sem_wait(&started) != 0)
        ;
    check_err(weft_deferred_add_timeout(d, r, 5.0), 0);
    catch_t c;
    catch_on(d, &c);
    check_err(weft_reactor_advance(r, 4.9), 0);
    check_int(c.fired, ==, 0);
    check_err(weft_reactor_advance(r, 0.1), 0);
    check_int(c.fired, ==, 1);
    check_ptr(c.type, ==, &weft_timeout_error_type);
    check_err(c.code, WEFT_ETIMEDOUT);
    sem_post(&gate);
    t_run_until_delivered(r);
    check_int(atomic_load(&saw_cancel), ==, 1);
    check_int(atomic_load(&frees), ==, 1);
    weft_deferred_unref(d);
    t_teardown(r);
}

static void test_overload(void)
{
    reset();
    weft_reactor_t *r = t_reactor(false);
    weft_pool_options_t po;
    weft_pool_options_init(&po);
    po.max_threads = 1;
    po.queue_limit = 1;
    weft_pool_t *pool = weft_pool_new(&po, NULL);
    weft_deferred_t *a = weft_defer_to_pool(r, pool, gated_job, NULL, NULL, NULL);
    while (sem_wait(&started) != 0)
        ;
    weft_deferred_t *b = weft_defer_to_pool(r, pool, value_job, NULL, NULL, NULL);
    weft_deferred_t *c3 = weft_defer_to_pool(r, pool, value_job, NULL, NULL, NULL);
    catch_t c;
    catch_on(c3, &c);
    check_int(c.fired, ==, 1); /* refused at once, as a failure on the deferred */
    check_ptr(c.type, ==, &weft_overload_error_type);
    check_err(c.code, WEFT_EOVERLOAD);
    weft_bridge_stats_t st;
    weft_bridge_get_stats(r, &st);
    check_uint(st.refused, ==, 1);
    sem_post(&gate);
    t_run_until_delivered(r);
    check_int(atomic_load(&job_runs), ==, 2);
    weft_deferred_unref(a);
    weft_deferred_unref(b);
    weft_deferred_unref(c3);
    t_teardown(r);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
}

static void test_start_deadline(void)
{
    reset();
    weft_reactor_t *r = bridge_reactor(false, 1);
    weft_deferred_t *busy = weft_defer_to_thread(r, gated_job, NULL, NULL, NULL);
    while (sem_wait(&started) != 0)
        ;
    weft_offload_options_t o;
    weft_offload_options_init(&o);
    o.start_timeout_ms = 5;
    o.name = "must-start-soon";
    weft_deferred_t *late = weft_defer_to_thread(r, value_job, NULL, &o, NULL);
    catch_t c;
    catch_on(late, &c);
    check(t_run_until(r, &c.fired, 1000000)); /* the worker is held: it cannot start in time */
    check_ptr(c.type, ==, &weft_timeout_error_type);
    sem_post(&gate);
    t_run_until_delivered(r);
    check_int(atomic_load(&job_runs), ==, 1);
    weft_deferred_unref(busy);
    weft_deferred_unref(late);
    t_teardown(r);
}

static weft_result_t context_job(void *arg)
{
    int *seen = arg;
    *seen = weft_offload_context() == (void *)0xc0ffee;
    return weft_ok(NULL, NULL);
}

static void test_context(void)
{
    reset();
    weft_reactor_t *r = bridge_reactor(false, 1);
    weft_offload_options_t o;
    weft_offload_options_init(&o);
    o.context = (void *)0xc0ffee;
    int seen_on_worker = 0;
    weft_deferred_t *d = weft_defer_to_thread(r, context_job, &seen_on_worker, &o, NULL);
    catch_t c;
    catch_on(d, &c);
    check(t_run_until(r, &c.fired, 100000));
    check_int(seen_on_worker, ==, 1);
    check_ptr(c.context, ==, (void *)0xc0ffee);
    check_ptr(weft_offload_context(), ==, NULL); /* only while it fires */
    weft_deferred_unref(d);
    t_teardown(r);
}

static atomic_int fire_forget;
static atomic_int callback_results;
static atomic_int order[3];
static atomic_int order_n;

static void bump(void *arg)
{
    (void)arg;
    atomic_fetch_add(&fire_forget, 1);
}

static void record_order(void *arg)
{
    order[atomic_fetch_add(&order_n, 1)] = (int)(intptr_t)arg;
}

static void on_result(weft_result_t res, void *arg)
{
    (void)arg;
    if (res.kind == WEFT_RESULT_VALUE)
        atomic_fetch_add(&callback_results, 1);
    weft_result_free(res);
}

static void test_call_in_thread(void)
{
    reset();
    weft_reactor_t *r = bridge_reactor(false, 2);
    atomic_store(&fire_forget, 0);
    atomic_store(&callback_results, 0);
    atomic_store(&order_n, 0);
    check_err(weft_call_in_thread(r, bump, NULL), 0);
    check_err(weft_call_in_thread_with_callback(r, on_result, value_job, NULL), 0);
    weft_thread_call_t calls[] = {
        {record_order, (void *)1}, {record_order, (void *)2}, {record_order, (void *)3}};
    check_err(weft_call_multiple_in_thread(r, calls, 3), 0);
    check_err(weft_call_in_thread(r, NULL, NULL), WEFT_EINVAL);
    check_err(weft_call_multiple_in_thread(r, calls, 0), WEFT_EINVAL);
    /* Wait for the pool to finish them (its stats, not the clock). */
    weft_pool_t *pool = weft_reactor_default_pool(r, WEFT_POOL_KIND_CPU, NULL);
    check_uint(t_wait_pool_completed(pool, 3), ==, 3);
    check_int(atomic_load(&fire_forget), ==, 1);
    check_int(atomic_load(&callback_results), ==, 1);
    check_int(atomic_load(&order_n), ==, 3);
    check_int(order[0], ==, 1);
    check_int(order[1], ==, 2);
    check_int(order[2], ==, 3);
    t_teardown(r);
}

static void test_default_pools(void)
{
    reset();
    weft_reactor_t *r = t_reactor(false);
    check_err(weft_reactor_set_default_pool_threads(r, WEFT_POOL_KIND_IO, 3), 0);
    check_err(weft_reactor_set_default_pool_threads(r, WEFT_POOL_KIND_IO, 0), WEFT_EINVAL);
    check_err(weft_reactor_set_default_pool_threads(r, (weft_pool_kind_t)9, 2), WEFT_EINVAL);
    weft_pool_t *io = weft_reactor_default_pool(r, WEFT_POOL_KIND_IO, NULL);
    weft_pool_t *cpu = weft_reactor_default_pool(r, WEFT_POOL_KIND_CPU, NULL);
    check_ptr(io, !=, NULL);
    check_ptr(cpu, !=, io);
    check_str(weft_pool_get_name(io), "io");
    check_str(weft_pool_get_name(cpu), "cpu");
    check_err(weft_reactor_set_default_pool_threads(r, WEFT_POOL_KIND_IO, 4), WEFT_EALREADY);
    weft_offload_options_t o;
    weft_offload_options_init(&o);
    o.kind = WEFT_POOL_KIND_IO;
    weft_deferred_t *d = weft_defer_to_thread(r, value_job, NULL, &o, NULL);
    catch_t c;
    catch_on(d, &c);
    check(t_run_until(r, &c.fired, 100000));
    weft_pool_stats_t ps;
    weft_pool_get_stats(io, &ps);
    check_uint(ps.completed, ==, 1);
    int err;
    check_ptr(weft_defer_to_thread(r, NULL, NULL, NULL, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    weft_deferred_unref(d);
    t_teardown(r);
}

static void test_borrowed_loop(void)
{
    reset();
    uv_loop_t loop;
    uv_loop_init(&loop);
    weft_reactor_t *r = weft_reactor_new_from_uv(&loop, NULL, NULL);
    if (!check_ptr(r, !=, NULL))
        return;
    weft_deferred_t *d = weft_defer_to_thread(r, value_job, NULL, NULL, NULL);
    catch_t c;
    catch_on(d, &c);
    /* Nothing of the caller's is alive: the offload in flight keeps uv_run going. */
    uv_run(&loop, UV_RUN_DEFAULT);
    check_int(c.fired, ==, 1);
    check(c.on_loop);
    weft_deferred_unref(d);
    check_err(weft_reactor_free(r), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    check_err(uv_loop_close(&loop), 0);
}

/* Offloads and thread calls together, under TSan: every completion once. */
typedef struct {
    weft_reactor_t *r;
    long target, done, submitted, in_flight;
    atomic_long thread_calls; /* storm_tick calls run */
    atomic_long accepted;     /* storm_tick calls accepted by call_from_thread */
    long posts_each;
} storm_t;

static storm_t storm;

static weft_result_t tiny_job(void *arg)
{
    return weft_ok(arg, NULL);
}

static void storm_submit(void);

static weft_result_t storm_done(void *value, weft_free_fn free, void *arg)
{
    (void)value;
    (void)free;
    (void)arg;
    storm.done++;
    storm.in_flight--;
    storm_submit();
    if (storm.done == storm.target)
        weft_reactor_stop(storm.r);
    return weft_ok(NULL, NULL);
}

static void storm_submit(void)
{
    while (storm.submitted < storm.target && storm.in_flight < 256) {
        weft_deferred_t *d = weft_defer_to_thread(storm.r, tiny_job, NULL, NULL, NULL);
        storm.submitted++;
        storm.in_flight++;
        int rc = weft_deferred_add_callback(d, storm_done, NULL);
        (void)rc;
        weft_deferred_unref(d);
    }
}

static void storm_tick(void *arg)
{
    (void)arg;
    atomic_fetch_add(&storm.thread_calls, 1);
}

static void *storm_poster(void *arg)
{
    (void)arg;
    for (long i = 0; i < storm.posts_each; i++) {
        if (weft_reactor_call_from_thread(storm.r, storm_tick, NULL) != 0)
            break;
        atomic_fetch_add(&storm.accepted, 1);
    }
    return NULL;
}

static void storm_start(void *arg)
{
    (void)arg;
    storm_submit();
}

static void test_storm(void)
{
    reset();
    const char *n = getenv("WEFT_STORM_OFFLOADS");
    memset(&storm, 0, sizeof(storm));
    storm.target = n ? atol(n) : t_under_valgrind() ? 20000 : 1000000;
    storm.posts_each = storm.target / 10;
    storm.r = bridge_reactor(false, 2);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, storm_poster, NULL);
    check_err(weft_reactor_call_soon(storm.r, storm_start, NULL), 0);
    check_err(weft_reactor_run(storm.r), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    check_int(storm.done, ==, storm.target);
    weft_bridge_stats_t st;
    weft_bridge_get_stats(storm.r, &st);
    check_uint(st.succeeded, ==, (uint64_t)storm.target);
    check_uint(st.in_flight, ==, 0);
    weft_reactor_stats_t rs;
    weft_reactor_get_stats(storm.r, &rs);
    /* Every thread call accepted before the stop ran (the rest were refused); the others
     * the reactor ran were the bridge's drains, at least one and at most one per result. */
    long ticks = atomic_load(&storm.thread_calls);
    check_int(ticks, ==, atomic_load(&storm.accepted));
    check_uint(rs.thread_calls, >, (uint64_t)ticks);
    check_uint(rs.thread_calls - (uint64_t)ticks, <=, st.succeeded);
    diag("%llu drains for %llu results", (unsigned long long)(rs.thread_calls - (uint64_t)ticks),
         (unsigned long long)st.succeeded);
    t_teardown(storm.r);
}

int main(void)
{
    TEST(test_value_on_loop(),
         "a job's value arrives on the loop thread from a worker thread and is freed once");
    TEST(test_failure_on_loop(), "a job's failure arrives on the loop thread as an errback");
    TEST(test_cancel_queued(), "cancelling a queued offload fails it at once with CancelledError "
                               "and the job never runs");
    TEST(test_cancel_running(), "cancelling a running offload fails it at once, sets the job's "
                                "cancel flag and frees the late result on the loop thread");
    TEST(test_timeout(), "add_timeout on an offload fails it with TimeoutError at the deadline "
                         "and frees the late result");
    TEST(test_overload(), "an offload past the pool's queue limit fails at once with "
                          "OverloadError (WEFT_EOVERLOAD)");
    TEST(test_start_deadline(),
         "an offload that cannot start within its start timeout fails with TimeoutError");
    TEST(test_context(), "the job and the deferred's callbacks see the offload's context");
    TEST(test_call_in_thread(), "call_in_thread, with_callback and call_multiple run their "
                                "functions on a worker, in order");
    TEST(test_default_pools(), "the default CPU and I/O pools are made lazily, sized before "
                               "first use, and used by kind");
    TEST(test_borrowed_loop(), "on a borrowed loop an offload in flight keeps the caller's "
                               "uv_run alive until its result is delivered");
    TEST(test_storm(), "a million offloads from the loop while 4 threads post thread calls all "
                       "complete exactly once");
    return done_testing();
}
