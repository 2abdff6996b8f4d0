/* SPDX-License-Identifier: MIT */
/* blocking_call_from_thread: a value, a deferred that fires later, a failure, the loop
 * thread refused, a deadline, and the reactor stopping while a worker waits. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <weft/bridge.h>
#include <weft/deferred.h>
#include <weft/error.h>
#include <weft/failure.h>
#include <weft/time.h>

#include "helpers.h"
#include "tap.h"

static weft_reactor_t *R;
static pthread_t loop_thread;

typedef struct {
    int rc;
    weft_result_t res;
    bool ran_on_loop;
    double timeout;
    weft_result_t (*fn)(void *);
} call_t;

static weft_result_t on_loop_value(void *arg)
{
    call_t *c = arg;
    c->ran_on_loop = pthread_equal(pthread_self(), loop_thread);
    return weft_ok((void *)42, NULL);
}

static weft_result_t on_loop_failure(void *arg)
{
    (void)arg;
    return weft_fail_new(&weft_error_type, WEFT_ENOENT, "no such key");
}

static weft_deferred_t *later_d;

static void fire_later(void *arg)
{
    (void)arg;
    int rc = weft_deferred_callback(later_d, (void *)7, NULL);
    (void)rc;
    weft_deferred_unref(later_d);
}

static weft_result_t on_loop_deferred(void *arg)
{
    (void)arg;
    later_d = weft_deferred_new();
    int rc = weft_reactor_call_later(R, 0.001, fire_later, NULL, NULL);
    (void)rc;
    return weft_wait_for(weft_deferred_ref(later_d));
}

static weft_deferred_t *never_d;

static weft_result_t on_loop_never(void *arg)
{
    (void)arg;
    never_d = weft_deferred_new();
    return weft_wait_for(weft_deferred_ref(never_d));
}

/* The job: blocking-calls back into the loop and keeps what it got. */
static weft_result_t job(void *arg)
{
    call_t *c = arg;
    c->rc = weft_blocking_call_from_thread(R, c->fn, c, c->timeout, &c->res);
    return weft_ok(NULL, NULL);
}

static int done;

static weft_result_t job_done(void *value, weft_free_fn free, void *arg)
{
    (void)value;
    (void)free;
    (void)arg;
    done = 1;
    return weft_ok(NULL, NULL);
}

static void run_job(call_t *c)
{
    done = 0;
    weft_deferred_t *d = weft_defer_to_thread(R, job, c, NULL, NULL);
    check_err(weft_deferred_add_callback(d, job_done, NULL), 0);
    weft_deferred_unref(d);
    check(t_run_until(R, &done, 1000000));
}

static void setup(bool manual)
{
    R = t_reactor(manual);
    loop_thread = pthread_self();
}

static void test_value(void)
{
    setup(false);
    call_t c = {.fn = on_loop_value, .timeout = -1};
    run_job(&c);
    check_err(c.rc, 0);
    check(c.ran_on_loop);
    check_int(c.res.kind, ==, WEFT_RESULT_VALUE);
    check_ptr(c.res.value, ==, (void *)42);
    t_teardown(R);
}

static void test_failure(void)
{
    setup(false);
    call_t c = {.fn = on_loop_failure, .timeout = -1};
    run_job(&c);
    check_err(c.rc, 0);
    if (check_int(c.res.kind, ==, WEFT_RESULT_FAILURE)) {
        check_err(weft_failure_code(c.res.failure), WEFT_ENOENT);
        weft_result_free(c.res);
    }
    t_teardown(R);
}

static void test_deferred(void)
{
    setup(false);
    call_t c = {.fn = on_loop_deferred, .timeout = -1};
    run_job(&c);
    check_err(c.rc, 0);
    check_ptr(c.res.value, ==, (void *)7); /* the deferred's eventual value */
    t_teardown(R);
}

static void test_wrong_thread(void)
{
    setup(false);
    weft_result_t res;
    check_err(weft_blocking_call_from_thread(R, on_loop_value, NULL, -1, &res), WEFT_EWRONGTHREAD);
    check_err(weft_blocking_call_from_thread(R, NULL, NULL, -1, &res), WEFT_EINVAL);
    t_teardown(R);
}

static void test_deadline(void)
{
    setup(false);
    call_t c = {.fn = on_loop_never, .timeout = 0.01};
    run_job(&c);
    check_err(c.rc, WEFT_ETIMEDOUT);
    /* The answer comes after the caller gave up: it is freed on the loop, and nothing leaks. */
    int rc = weft_deferred_callback(never_d, malloc(16), free);
    check_err(rc, 0);
    weft_deferred_unref(never_d);
    t_teardown(R);
}

/* The reactor stops while a worker waits on a deferred that never fires. */
static call_t stopping;

static weft_result_t on_loop_never_and_stop(void *arg)
{
    (void)arg;
    never_d = weft_deferred_new();
    weft_reactor_stop(R);
    return weft_wait_for(weft_deferred_ref(never_d));
}

static weft_result_t stop_job(void *arg)
{
    call_t *c = arg;
    c->rc = weft_blocking_call_from_thread(R, c->fn, c, -1, &c->res);
    return weft_ok(NULL, NULL);
}

static void *call_from_plain_thread(void *arg)
{
    call_t *c = arg;
    c->rc = weft_blocking_call_from_thread(R, c->fn, c, c->timeout, &c->res);
    return NULL;
}

static void test_closed_while_waiting(void)
{
    setup(false);
    stopping = (call_t){.fn = on_loop_never_and_stop};
    weft_deferred_t *d = weft_defer_to_thread(R, stop_job, &stopping, NULL, NULL);
    check_err(weft_reactor_run(R), 0); /* returns: the shutdown woke the waiter */
    check_err(stopping.rc, WEFT_ECLOSED);
    check(weft_deferred_called(d));
    weft_deferred_unref(d);
    check_err(weft_deferred_callback(never_d, NULL, NULL), 0);
    weft_deferred_unref(never_d);
    /* After the stop, a new call from any thread is refused at once. */
    call_t late = {.fn = on_loop_value, .timeout = -1};
    pthread_t t;
    pthread_create(&t, NULL, call_from_plain_thread, &late);
    pthread_join(t, NULL);
    check_err(late.rc, WEFT_ECLOSED);
    t_teardown(R);
}

static void test_closed_without_bridge(void)
{
    setup(false); /* no offload yet: the reactor has no bridge when the call is made */
    call_t c = {.fn = on_loop_never_and_stop, .timeout = -1};
    pthread_t t;
    pthread_create(&t, NULL, call_from_plain_thread, &c);
    check_err(weft_reactor_run(R), 0);
    check_err(weft_deferred_callback(never_d, NULL, NULL), 0);
    weft_deferred_unref(never_d);
    /* Freed while the woken waiter may still be on its way out: free waits for it (EBUSY)
     * instead of freeing what the waiter is about to touch. */
    int rc;
    while ((rc = weft_reactor_free(R)) == WEFT_EBUSY)
        sched_yield(); /* the watchdog bounds this */
    check_err(rc, 0);
    pthread_join(t, NULL);
    check_err(c.rc, WEFT_ECLOSED);
}

static weft_result_t on_loop_value_and_stop(void *arg)
{
    weft_result_t res = on_loop_value(arg);
    weft_reactor_stop(R);
    return res;
}

static void test_huge_timeout(void)
{
    setup(false);
    call_t c = {.fn = on_loop_value_and_stop, .timeout = 1e30};
    pthread_t t;
    pthread_create(&t, NULL, call_from_plain_thread, &c);
    check_err(weft_reactor_run(R), 0);
    pthread_join(t, NULL);
    check_err(c.rc, 0); /* a timeout too big for a timespec means none, not a spin */
    check_ptr(c.res.value, ==, (void *)42);
    t_teardown(R);
}

int main(void)
{
    TEST(test_value(), "a worker's blocking call runs on the loop thread and returns its value");
    TEST(test_failure(), "a blocking call returns the loop function's failure");
    TEST(test_deferred(), "a blocking call waits for a deferred and returns its later value");
    TEST(test_wrong_thread(), "on the loop thread a blocking call returns WEFT_EWRONGTHREAD at "
                              "once instead of deadlocking");
    TEST(test_deadline(), "a blocking call past its deadline returns WEFT_ETIMEDOUT and the late "
                          "answer is freed");
    TEST(test_closed_while_waiting(), "a blocking call waiting when the reactor stops returns "
                                      "WEFT_ECLOSED, and later ones too");
    TEST(test_closed_without_bridge(), "a blocking call made before the reactor's first offload "
                                       "is still woken with WEFT_ECLOSED by the stop");
    TEST(test_huge_timeout(), "a blocking call with a timeout too big for the clock waits for "
                              "its result instead of spinning");
    return done_testing();
}
