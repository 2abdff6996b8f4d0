/* SPDX-License-Identifier: MIT */
/* Stopping a reactor with offloads pending: queued jobs are cancelled, running ones awaited
 * up to the shutdown deadline, every deferred fires exactly once, late results are freed and
 * nothing leaks. Gates, never sleeps. */
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <weft/bridge.h>
#include <weft/deferred.h>
#include <weft/error.h>
#include <weft/events.h>
#include <weft/failure.h>
#include <weft/time.h>

#include "helpers.h"
#include "tap.h"

#define QUEUED  10000
#define RUNNING 4

static weft_reactor_t *R;
static sem_t started, gate;
static atomic_int frees;

static void counted_free(void *p)
{
    atomic_fetch_add(&frees, 1);
    free(p);
}

static weft_result_t gated_job(void *arg)
{
    (void)arg;
    sem_post(&started);
    while (sem_wait(&gate) != 0)
        ;
    return weft_ok(malloc(8), counted_free);
}

static int fired[QUEUED + RUNNING];
static int succeeded, cancelled, other;

static weft_result_t on_value(void *value, weft_free_fn free, void *arg)
{
    fired[(intptr_t)arg]++;
    succeeded++;
    if (free)
        free(value);
    return weft_ok(NULL, NULL);
}

static weft_result_t on_failure(weft_failure_t *f, void *arg)
{
    fired[(intptr_t)arg]++;
    if (weft_failure_type(f) == &weft_cancelled_error_type)
        cancelled++;
    else
        other++;
    weft_failure_free(f);
    return weft_ok(NULL, NULL);
}

static void reset(void)
{
    sem_init(&started, 0, 0);
    sem_init(&gate, 0, 0);
    atomic_store(&frees, 0);
    memset(fired, 0, sizeof(fired));
    succeeded = cancelled = other = 0;
}

static weft_reactor_t *reactor(double deadline)
{
    weft_reactor_options_t o;
    weft_reactor_options_init(&o);
    o.install_signal_handlers = false;
    o.shutdown_deadline = deadline;
    weft_reactor_t *r = weft_reactor_new(&o, NULL);
    if (r == NULL)
        bail_out("weft_reactor_new failed");
    if (weft_reactor_set_default_pool_threads(r, WEFT_POOL_KIND_CPU, RUNNING) != 0)
        bail_out("set_default_pool_threads failed");
    return r;
}

static void submit_all(int n)
{
    for (int i = 0; i < n; i++) {
        weft_deferred_t *d = weft_defer_to_thread(R, gated_job, NULL, NULL, NULL);
        if (d == NULL)
            bail_out("defer_to_thread failed");
        int rc = weft_deferred_add_callbacks(d, on_value, (void *)(intptr_t)i, on_failure,
                                             (void *)(intptr_t)i);
        (void)rc;
        weft_deferred_unref(d);
    }
}

/* Lets the RUNNING jobs finish once the reactor's stop has cancelled the queue: so the stop
 * finds exactly QUEUED jobs queued and RUNNING running, and must await the running ones. */
static void *release_after_cancel(void *arg)
{
    weft_pool_t *pool = arg;
    weft_pool_stats_t st;
    do {
        sched_yield();
        weft_pool_get_stats(pool, &st);
    } while (st.queued > 0);
    for (int i = 0; i < RUNNING; i++)
        sem_post(&gate);
    return NULL;
}

static void stop_soon(void *arg)
{
    (void)arg;
    weft_reactor_stop(R);
}

static void test_queued_and_running(void)
{
    reset();
    R = reactor(30);
    submit_all(QUEUED + RUNNING);
    /* Every worker holds a job before the stop: threads start lazily, and under valgrind
     * slowly, so without this the stop could find fewer than RUNNING running. */
    for (int i = 0; i < RUNNING; i++)
        while (sem_wait(&started) != 0)
            ;
    pthread_t helper;
    pthread_create(&helper, NULL, release_after_cancel,
                   weft_reactor_default_pool(R, WEFT_POOL_KIND_CPU, NULL));
    check_err(weft_reactor_call_soon(R, stop_soon, NULL), 0);
    check_err(weft_reactor_run(R), 0);
    pthread_join(helper, NULL);
    int once = 0;
    for (int i = 0; i < QUEUED + RUNNING; i++)
        once += fired[i] == 1;
    check_int(once, ==, QUEUED + RUNNING); /* every deferred fired exactly once */
    check_int(succeeded, ==, RUNNING);
    check_int(cancelled, ==, QUEUED);
    check_int(other, ==, 0);
    check_int(atomic_load(&frees), ==, RUNNING);
    t_teardown(R);
}

static void test_stuck_past_deadline(void)
{
    reset();
    R = reactor(0.05);
    submit_all(2);
    for (int i = 0; i < 2; i++)
        while (sem_wait(&started) != 0)
            ;
    check_err(weft_reactor_call_soon(R, stop_soon, NULL), 0);
    check_err(weft_reactor_run(R), 0); /* returns after the deadline, jobs still stuck */
    check_int(fired[0], ==, 1);
    check_int(fired[1], ==, 1);
    check_int(cancelled, ==, 2);
    check_err(weft_reactor_free(R), WEFT_EBUSY); /* their threads still run */
    sem_post(&gate);
    sem_post(&gate);
    int rc;
    while ((rc = weft_reactor_free(R)) == WEFT_EBUSY)
        sched_yield(); /* the watchdog bounds this */
    check_err(rc, 0);
    check_int(atomic_load(&frees), ==, 2); /* the late results were freed */
    check_int(fired[0], ==, 1);            /* and nothing fired twice */
}

static weft_result_t quick(void *arg)
{
    (void)arg;
    return weft_ok(NULL, NULL);
}

static void test_after_stop(void)
{
    reset();
    R = reactor(1);
    weft_deferred_t *warm = weft_defer_to_thread(R, quick, NULL, NULL, NULL);
    int rc = weft_deferred_add_callbacks(warm, on_value, (void *)1, on_failure, (void *)1);
    (void)rc; /* it may run or be cancelled by the stop: either is fine here */
    weft_deferred_unref(warm);
    check_err(weft_reactor_call_soon(R, stop_soon, NULL), 0);
    check_err(weft_reactor_run(R), 0);
    weft_deferred_t *d = weft_defer_to_thread(R, quick, NULL, NULL, NULL);
    if (check_ptr(d, !=, NULL)) {
        other = 0;
        rc = weft_deferred_add_callbacks(d, on_value, 0, on_failure, 0);
        (void)rc;
        check_int(other, ==, 1); /* ClosedError, at once */
        weft_deferred_unref(d);
    }
    t_teardown(R);
}

static void gated_call(void *arg)
{
    (void)arg;
    sem_post(&started);
    while (sem_wait(&gate) != 0)
        ;
}

static void test_free_waits_for_call_in_thread(void)
{
    reset();
    R = reactor(0.05);
    check_err(weft_call_in_thread(R, gated_call, NULL), 0);
    while (sem_wait(&started) != 0)
        ;
    check_err(weft_reactor_call_soon(R, stop_soon, NULL), 0);
    check_err(weft_reactor_run(R), 0);
    check_err(weft_reactor_free(R), WEFT_EBUSY); /* at once, not after the job */
    sem_post(&gate);
    int rc;
    while ((rc = weft_reactor_free(R)) == WEFT_EBUSY)
        sched_yield(); /* the watchdog bounds this */
    check_err(rc, 0);
}

static void test_nothing_new_after_stop(void)
{
    reset();
    R = reactor(1);
    weft_deferred_t *warm = weft_defer_to_thread(R, quick, NULL, NULL, NULL); /* CPU pool only */
    int rc = weft_deferred_add_callbacks(warm, on_value, (void *)1, on_failure, (void *)1);
    (void)rc;
    weft_deferred_unref(warm);
    check_err(weft_reactor_call_soon(R, stop_soon, NULL), 0);
    check_err(weft_reactor_run(R), 0);
    weft_offload_options_t o;
    weft_offload_options_init(&o);
    o.kind = WEFT_POOL_KIND_IO; /* never made before the stop: it must not be made now */
    weft_deferred_t *d = weft_defer_to_thread(R, quick, NULL, &o, NULL);
    if (check_ptr(d, !=, NULL)) {
        other = 0;
        rc = weft_deferred_add_callbacks(d, on_value, 0, on_failure, 0);
        (void)rc;
        check_int(other, ==, 1); /* ClosedError, at once */
        weft_deferred_unref(d);
    }
    check_err(weft_call_in_thread(R, gated_call, NULL), WEFT_ECLOSED);
    t_teardown(R);
}

int main(void)
{
    TEST(test_queued_and_running(),
         "stopping with 10 000 queued and 4 running offloads cancels the queued, awaits the "
         "running, and fires every deferred exactly once");
    TEST(test_stuck_past_deadline(),
         "jobs still running at the shutdown deadline fail their deferreds once, keep free at "
         "WEFT_EBUSY until they end, and their late results are freed");
    TEST(test_after_stop(), "an offload after the reactor stopped fails at once");
    TEST(test_free_waits_for_call_in_thread(),
         "free refuses at once while a call_in_thread job outlives the shutdown deadline");
    TEST(test_nothing_new_after_stop(), "after the stop no default pool is made and "
                                        "call_in_thread is refused with WEFT_ECLOSED");
    return done_testing();
}
