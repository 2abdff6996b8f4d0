/* SPDX-License-Identifier: MIT */
/* The reactor room's re-entrant and edge cases: callbacks that finish a shutdown, free what
 * called them or outlive a stop; each was a crash, leak or hang found by review. */
#include <stdlib.h>

#include <uv.h>

#include <weft/deferred.h>
#include <weft/error.h>
#include <weft/events.h>
#include <weft/failure.h>
#include <weft/task.h>
#include <weft/time.h>

#include "helpers.h"
#include "tap.h"

static weft_reactor_t *R;
static weft_deferred_t *held;
static int warm_runs, fire_runs;

static void nop(void *arg)
{
    (void)arg;
}

static void stop_it(void *arg)
{
    (void)arg;
    weft_reactor_stop(R);
}

/* ---------------------------------------------------------------- thread calls */

static void warm(void *arg)
{
    (void)arg;
    if (++warm_runs == 1) {
        int rc = weft_reactor_call_from_thread(R, warm, NULL); /* a second batch */
        (void)rc;
    }
}

static void fire_held(void *arg)
{
    (void)arg;
    if (++fire_runs > 1)
        return;
    weft_deferred_t *d = held;
    held = NULL;
    int rc = weft_deferred_callback(d, NULL, NULL); /* finishes the shutdown, drains */
    (void)rc;
    weft_deferred_unref(d);
}

static weft_deferred_t *before_shutdown(void *arg)
{
    (void)arg;
    held = weft_deferred_new();
    int rc = weft_reactor_call_from_thread(R, fire_held, NULL);
    (void)rc;
    return weft_deferred_ref(held);
}

static void test_thread_call_finishes_shutdown(bool warmup)
{
    R = t_reactor(false);
    warm_runs = fire_runs = 0;
    check_err(weft_reactor_add_trigger(R, "shutdown", WEFT_PHASE_BEFORE, before_shutdown, NULL, "b",
                                       NULL),
              0);
    if (warmup)
        check_err(weft_reactor_call_from_thread(R, warm, NULL), 0);
    check_err(weft_reactor_call_later(R, 0.001, stop_it, NULL, NULL), 0);
    check_err(weft_reactor_run(R), 0);
    check_int(fire_runs, ==, 1);
    check_int(warm_runs, ==, warmup ? 2 : 0);
    t_teardown(R);
}

/* ---------------------------------------------------------------- free */

static int ran;

static void count(void *arg)
{
    (void)arg;
    ran++;
}

static void test_refused_free_changes_nothing(void)
{
    weft_reactor_t *r = t_reactor(true);
    weft_call_id_t id;
    ran = 0;
    check_err(weft_reactor_call_later(r, 1.0, nop, NULL, &id), 0);
    check_err(weft_reactor_free(r), WEFT_EBUSY);
    check_err(weft_reactor_call_from_thread(r, count, NULL), 0); /* still open */
    check_err(weft_delayed_call_cancel(r, id), 0);
    t_teardown(r);
    check_int(ran, ==, 1);
}

static int free_rc;

static void frees_reactor(void *arg)
{
    free_rc = weft_reactor_free(arg);
}

static void test_free_inside_callback(void)
{
    R = t_reactor(false);
    free_rc = 1;
    check_err(weft_reactor_call_soon(R, frees_reactor, R), 0);
    weft_reactor_run_once_nowait(R);
    check_err(free_rc, WEFT_EBUSY);
    t_teardown(R);
}

static void test_borrowed_free_inside_callback(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    weft_reactor_t *b = weft_reactor_new_from_uv(&loop, NULL, NULL);
    free_rc = 1;
    ran = 0;
    check_err(weft_reactor_call_soon(b, frees_reactor, b), 0);
    check_err(weft_reactor_call_soon(b, count, NULL), 0);
    uv_run(&loop, UV_RUN_NOWAIT);
    check_err(free_rc, WEFT_EBUSY);
    check_int(ran, ==, 1);
    check_err(weft_reactor_free(b), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    check_err(uv_loop_close(&loop), 0);
}

/* ---------------------------------------------------------------- task */

static weft_result_t failing(void *arg)
{
    (void)arg;
    return weft_fail_new(&weft_error_type, WEFT_EIO, "boom");
}

static weft_result_t free_lc_on_error(weft_failure_t *f, void *arg)
{
    weft_failure_free(f);
    weft_looping_call_free(arg);
    return weft_ok(NULL, NULL);
}

static void test_lc_free_in_errback(void)
{
    weft_reactor_t *r = t_reactor(true);
    weft_looping_call_t *lc = weft_looping_call_new(r, failing, NULL, NULL);
    weft_deferred_t *done = NULL;
    check_err(weft_looping_call_start(lc, 1.0, false, &done), 0);
    check_err(weft_deferred_add_errback(done, free_lc_on_error, lc), 0);
    check_err(weft_reactor_advance(r, 1.0), 0);
    weft_deferred_unref(done);
    t_teardown(r);
}

static weft_deferred_t *inner;

static weft_result_t returns_unfired(void *arg)
{
    (void)arg;
    inner = weft_deferred_new();
    return weft_wait_for(weft_deferred_ref(inner));
}

static weft_result_t eat(weft_failure_t *f, void *arg)
{
    (void)arg;
    weft_failure_free(f);
    return weft_ok(NULL, NULL);
}

static void test_defer_later_cancel_reaches_inner(void)
{
    weft_reactor_t *r = t_reactor(true);
    weft_deferred_t *d = weft_defer_later(r, 1.0, returns_unfired, NULL, NULL);
    check_err(weft_deferred_add_errback(d, eat, NULL), 0);
    check_err(weft_reactor_advance(r, 1.0), 0);
    check(!weft_deferred_called(inner));
    check_err(weft_deferred_cancel(d), 0);
    check(weft_deferred_called(inner));
    weft_deferred_unref(inner);
    weft_deferred_unref(d);
    t_teardown(r);
}

static void test_defer_later_timeout_reaches_inner(void)
{
    weft_reactor_t *r = t_reactor(true);
    weft_deferred_t *d = weft_defer_later(r, 1.0, returns_unfired, NULL, NULL);
    check_err(weft_deferred_add_timeout(d, r, 5.0), 0);
    check_err(weft_deferred_add_errback(d, eat, NULL), 0);
    check_err(weft_reactor_advance(r, 1.0), 0);
    check_err(weft_reactor_advance(r, 5.0), 0);
    check(weft_deferred_called(inner));
    weft_deferred_unref(inner);
    weft_deferred_unref(d);
    t_teardown(r);
}

static unsigned long counts[8];
static int ncounts;

static weft_result_t rec(unsigned long c, void *arg)
{
    (void)arg;
    if (ncounts < 8)
        counts[ncounts] = c;
    ncounts++;
    return weft_ok(NULL, NULL);
}

static void test_with_count_after_reset(void)
{
    weft_reactor_t *r = t_reactor(true);
    ncounts = 0;
    weft_looping_call_t *lc = weft_looping_call_new_with_count(r, rec, NULL, NULL);
    check_err(weft_looping_call_start(lc, 1.0, true, NULL), 0);
    check_err(weft_reactor_advance(r, 0.5), 0);
    check_err(weft_looping_call_reset(lc), 0);
    check_err(weft_reactor_advance(r, 1.0), 0);
    check_int(ncounts, ==, 2);
    check_uint(counts[1], ==, 1);
    weft_looping_call_free(lc);
    t_teardown(r);
}

/* ---------------------------------------------------------------- time, deferreds, events */

static void test_delay_far_future(void)
{
    weft_reactor_t *r = t_reactor(true);
    weft_call_id_t id;
    ran = 0;
    check_err(weft_reactor_advance(r, 1.0), 0);
    check_err(weft_reactor_call_later(r, 1e300, count, NULL, &id), 0);
    check_err(weft_delayed_call_delay(r, id, 1e300), 0);
    double when = 0;
    check_err(weft_delayed_call_get_time(r, id, &when), 0);
    check(when > 1e9);
    check_err(weft_reactor_advance(r, 0), 0);
    check_int(ran, ==, 0);
    check_err(weft_delayed_call_cancel(r, id), 0);
    t_teardown(r);
}

static weft_deferred_t *A, *B;

static weft_result_t a_waits_on_b(void *v, weft_free_fn f, void *arg)
{
    (void)v;
    (void)f;
    (void)arg;
    return weft_wait_for(weft_deferred_ref(B));
}

static weft_result_t b_returns_a(void *v, weft_free_fn f, void *arg)
{
    (void)v;
    (void)f;
    (void)arg;
    return weft_wait_for(weft_deferred_ref(A));
}

static void test_wait_cycle(void)
{
    A = weft_deferred_new();
    B = weft_deferred_new();
    check_err(weft_deferred_add_callback(A, a_waits_on_b, NULL), 0);
    check_err(weft_deferred_add_callback(B, b_returns_a, NULL), 0);
    check_err(weft_deferred_add_errback(B, eat, NULL), 0);
    check_err(weft_deferred_callback(A, NULL, NULL), 0);
    check(weft_deferred_waiting(A));
    check_err(weft_deferred_callback(B, NULL, NULL), 0);
    check(!weft_deferred_waiting(B));          /* B's step failed instead of waiting on A */
    check_int(weft_deferred_cancel(A), ==, 0); /* and cancel returns */
    weft_deferred_unref(A);
    weft_deferred_unref(B);
}

static weft_deferred_t *slow_startup(void *arg)
{
    (void)arg;
    held = weft_deferred_new();
    return weft_deferred_ref(held);
}

static void test_late_startup(void)
{
    R = t_reactor(false);
    ran = 0;
    check_err(
        weft_reactor_add_trigger(R, "startup", WEFT_PHASE_BEFORE, slow_startup, NULL, "slow", NULL),
        0);
    check_err(weft_reactor_call_when_running(R, count, NULL), 0);
    check_err(weft_reactor_call_later(R, 0.001, stop_it, NULL, NULL), 0);
    check_err(weft_reactor_run(R), 0);
    check_err(weft_deferred_callback(held, NULL, NULL), 0);
    check(!weft_reactor_is_running(R));
    check_int(ran, ==, 0);
    weft_deferred_unref(held);
    t_teardown(R);
}

int main(void)
{
    TEST(test_thread_call_finishes_shutdown(true),
         "a thread call that finishes the shutdown leaves every thread call run exactly once");
    TEST(test_thread_call_finishes_shutdown(false),
         "the same on the first batch ever, before either thread-call array exists");
    TEST(test_refused_free_changes_nothing(), "a refused free leaves call_from_thread open");
    TEST(test_free_inside_callback(), "free from inside one of the reactor's callbacks is refused");
    TEST(test_borrowed_free_inside_callback(),
         "on a borrowed loop too, and the rest of the batch still runs");
    TEST(test_lc_free_in_errback(),
         "a looping call freed from its start deferred's errback is safe");
    TEST(test_defer_later_cancel_reaches_inner(),
         "cancelling defer_later after its function returned a deferred cancels that deferred");
    TEST(test_defer_later_timeout_reaches_inner(),
         "a timeout on such a defer_later cancels the inner deferred too");
    TEST(test_with_count_after_reset(), "with-count after reset reports one tick, as Twisted does");
    TEST(test_delay_far_future(), "delaying a far-future call never wraps it into the past");
    TEST(test_wait_cycle(), "a callback returning a deferred that waits on its own deferred fails "
                            "that step instead of leaking both and hanging cancel");
    TEST(test_late_startup(), "a startup that completes after the reactor stopped does not make "
                              "it running or call call_when_running functions");
    return done_testing();
}
