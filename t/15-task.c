/* SPDX-License-Identifier: MIT */
/* LoopingCall, defer_later and add_timeout, on the manual clock. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <weft/deferred.h>
#include <weft/reactor.h>
#include <weft/error.h>
#include <weft/failure.h>
#include <weft/task.h>
#include <weft/time.h>

#include "helpers.h"
#include "tap.h"

static weft_reactor_t *R;

/* ---------------------------------------------------------------- a result catcher */

typedef struct {
    int fired;
    bool failed;
    void *value;
    const weft_failure_type_t *type;
    int code;
    const weft_failure_type_t *cause_type;
} catch_t;

static weft_result_t catch_ok(void *value, weft_free_fn free, void *arg)
{
    catch_t *c = arg;
    c->fired++;
    c->value = value;
    if (free)
        free(value);
    return weft_ok(NULL, NULL);
}

static weft_result_t catch_err(weft_failure_t *f, void *arg)
{
    catch_t *c = arg;
    c->fired++;
    c->failed = true;
    c->type = weft_failure_type(f);
    c->code = weft_failure_code(f);
    c->cause_type = weft_failure_cause(f) ? weft_failure_type(weft_failure_cause(f)) : NULL;
    weft_failure_free(f);
    return weft_ok(NULL, NULL);
}

static void catch_on(weft_deferred_t *d, catch_t *c)
{
    memset(c, 0, sizeof(*c));
    check_err(weft_deferred_add_callbacks(d, catch_ok, c, catch_err, c), 0);
}

static int frees;

static void counted_free(void *p)
{
    frees++;
    free(p);
}

/* ---------------------------------------------------------------- LoopingCall */

static int calls;
static double call_times[32];

static weft_result_t tick(void *arg)
{
    (void)arg;
    if (calls < 32)
        call_times[calls] = weft_reactor_now(R);
    calls++;
    return weft_ok(NULL, NULL);
}

static void test_lc_now(void)
{
    R = t_reactor(true);
    calls = 0;
    weft_looping_call_t *lc = weft_looping_call_new(R, tick, NULL, NULL);
    weft_deferred_t *done = NULL;
    check_err(weft_looping_call_start(lc, 1.0, true, &done), 0);
    check_int(calls, ==, 1); /* synchronously */
    check_err(weft_reactor_advance(R, 0.5), 0);
    check_int(calls, ==, 1);
    check_err(weft_reactor_advance(R, 0.5), 0);
    check_int(calls, ==, 2);
    check_err(weft_reactor_advance(R, 1.0), 0);
    check_int(calls, ==, 3);
    check(call_times[2] == 2.0);
    catch_t c;
    catch_on(done, &c);
    check_int(c.fired, ==, 0);
    check_err(weft_looping_call_stop(lc), 0);
    check_int(c.fired, ==, 1);
    check(!c.failed);
    check_ptr(c.value, ==, lc);
    check_err(weft_reactor_advance(R, 5), 0);
    check_int(calls, ==, 3);
    check_uint(weft_reactor_pending_calls(R), ==, 0);
    weft_deferred_unref(done);
    weft_looping_call_free(lc);
    t_teardown(R);
}

static void test_lc_later_and_misuse(void)
{
    R = t_reactor(true);
    calls = 0;
    int err;
    check_ptr(weft_looping_call_new(R, NULL, NULL, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    weft_looping_call_t *lc = weft_looping_call_new(R, tick, NULL, &err);
    check_err(weft_looping_call_stop(lc), WEFT_ENOTRUNNING);
    check_err(weft_looping_call_start(lc, -1, false, NULL), WEFT_EINVAL);
    check_err(weft_looping_call_start(lc, 2.0, false, NULL), 0);
    check(weft_looping_call_is_running(lc));
    check_err(weft_looping_call_start(lc, 2.0, false, NULL), WEFT_EALREADY);
    check_int(calls, ==, 0);
    check_err(weft_reactor_advance(R, 2.0), 0);
    check_int(calls, ==, 1);
    check_err(weft_looping_call_stop(lc), 0);
    check(!weft_looping_call_is_running(lc));
    /* A stopped looping call starts again. */
    check_err(weft_looping_call_start(lc, 1.0, true, NULL), 0);
    check_int(calls, ==, 2);
    weft_looping_call_free(lc); /* stops it */
    check_uint(weft_reactor_pending_calls(R), ==, 0);
    t_teardown(R);
}

static weft_deferred_t *slow;

static weft_result_t slow_tick(void *arg)
{
    (void)arg;
    if (calls < 32)
        call_times[calls] = weft_reactor_now(R);
    calls++;
    if (calls == 1) {
        slow = weft_deferred_new();
        return weft_wait_for(weft_deferred_ref(slow));
    }
    return weft_ok(NULL, NULL);
}

static void test_lc_waits_and_skips(void)
{
    R = t_reactor(true);
    calls = 0;
    weft_looping_call_t *lc = weft_looping_call_new(R, slow_tick, NULL, NULL);
    check_err(weft_looping_call_start(lc, 1.0, true, NULL), 0);
    check_int(calls, ==, 1);
    check_err(weft_reactor_advance(R, 2.5), 0);
    check_int(calls, ==, 1); /* waits for the deferred */
    check_err(weft_deferred_callback(slow, NULL, NULL), 0);
    weft_deferred_unref(slow);
    check_err(weft_reactor_advance(R, 0.4), 0);
    check_int(calls, ==, 1);
    check_err(weft_reactor_advance(R, 0.1), 0); /* t=3: the grid, ticks 1 and 2 skipped */
    check_int(calls, ==, 2);
    check(call_times[1] == 3.0);
    weft_looping_call_free(lc);
    t_teardown(R);
}

static unsigned long counts[8];
static int ncounts;

static weft_result_t count_tick(unsigned long count, void *arg)
{
    (void)arg;
    if (ncounts < 8)
        counts[ncounts] = count;
    ncounts++;
    return weft_ok(NULL, NULL);
}

static void test_lc_with_count(void)
{
    R = t_reactor(true);
    ncounts = 0;
    weft_looping_call_t *lc = weft_looping_call_new_with_count(R, count_tick, NULL, NULL);
    check_err(weft_looping_call_start(lc, 1.0, true, NULL), 0);
    check_err(weft_reactor_advance(R, 1.0), 0);
    check_err(weft_reactor_advance(R, 3.5), 0); /* a stall over three ticks */
    check_err(weft_reactor_advance(R, 0.5), 0);
    check_int(ncounts, ==, 4);
    check_uint(counts[0], ==, 1);
    check_uint(counts[1], ==, 1);
    check_uint(counts[2], ==, 3);
    check_uint(counts[3], ==, 1);
    weft_looping_call_free(lc);
    t_teardown(R);
}

static weft_result_t failing_tick(void *arg)
{
    (void)arg;
    calls++;
    return weft_fail_new(&weft_error_type, WEFT_EIO, "tick broke");
}

static void test_lc_failure(void)
{
    R = t_reactor(true);
    calls = 0;
    weft_looping_call_t *lc = weft_looping_call_new(R, failing_tick, NULL, NULL);
    weft_deferred_t *done;
    check_err(weft_looping_call_start(lc, 1.0, false, &done), 0);
    catch_t c;
    catch_on(done, &c);
    check_err(weft_reactor_advance(R, 1.0), 0);
    check_int(calls, ==, 1);
    check_int(c.fired, ==, 1);
    check(c.failed);
    check_err(c.code, WEFT_EIO);
    check(!weft_looping_call_is_running(lc));
    check_err(weft_reactor_advance(R, 5.0), 0);
    check_int(calls, ==, 1);
    weft_deferred_unref(done);
    weft_looping_call_free(lc);
    t_teardown(R);
}

static void test_lc_deferred_failure(void)
{
    R = t_reactor(true);
    calls = 0;
    weft_looping_call_t *lc = weft_looping_call_new(R, slow_tick, NULL, NULL);
    weft_deferred_t *done;
    check_err(weft_looping_call_start(lc, 1.0, true, &done), 0);
    catch_t c;
    catch_on(done, &c);
    check_err(weft_deferred_errback(slow, weft_failure_new(&weft_error_type, WEFT_EPIPE, "x")), 0);
    weft_deferred_unref(slow);
    check_int(c.fired, ==, 1);
    check_err(c.code, WEFT_EPIPE);
    check(!weft_looping_call_is_running(lc));
    weft_deferred_unref(done);
    weft_looping_call_free(lc);
    t_teardown(R);
}

static void test_lc_stop_in_flight(void)
{
    R = t_reactor(true);
    calls = 0;
    weft_looping_call_t *lc = weft_looping_call_new(R, slow_tick, NULL, NULL);
    weft_deferred_t *done;
    check_err(weft_looping_call_start(lc, 1.0, true, &done), 0);
    catch_t c;
    catch_on(done, &c);
    check_err(weft_looping_call_stop(lc), 0);
    check_int(c.fired, ==, 0); /* waits for the function's deferred */
    check_err(weft_deferred_callback(slow, NULL, NULL), 0);
    weft_deferred_unref(slow);
    check_int(c.fired, ==, 1);
    check(!c.failed);
    check_uint(weft_reactor_pending_calls(R), ==, 0);
    weft_deferred_unref(done);
    weft_looping_call_free(lc);
    t_teardown(R);
}

static weft_looping_call_t *self_lc;

static weft_result_t stopping_tick(void *arg)
{
    catch_t *c = arg;
    calls++;
    check_err(weft_looping_call_stop(self_lc), 0);
    check_int(c->fired, ==, 0); /* not while the function runs */
    return weft_ok(NULL, NULL);
}

static void test_lc_stop_inside(void)
{
    R = t_reactor(true);
    calls = 0;
    catch_t c;
    self_lc = weft_looping_call_new(R, stopping_tick, &c, NULL);
    weft_deferred_t *done;
    check_err(weft_looping_call_start(self_lc, 1.0, false, &done), 0);
    catch_on(done, &c);
    check_err(weft_reactor_advance(R, 1.0), 0);
    check_int(calls, ==, 1);
    check_int(c.fired, ==, 1);
    check_err(weft_reactor_advance(R, 3.0), 0);
    check_int(calls, ==, 1);
    weft_deferred_unref(done);
    weft_looping_call_free(self_lc);
    t_teardown(R);
}

static void test_lc_interval_zero(void)
{
    R = t_reactor(true);
    calls = 0;
    weft_looping_call_t *lc = weft_looping_call_new(R, tick, NULL, NULL);
    check_err(weft_looping_call_start(lc, 0, true, NULL), 0);
    for (int i = 0; i < 3; i++)
        check_err(weft_reactor_advance(R, 0), 0);
    check_int(calls, ==, 4); /* one per pass, never a spin */
    weft_looping_call_free(lc);
    t_teardown(R);
}

static void test_lc_free_in_flight(void)
{
    R = t_reactor(true);
    calls = 0;
    weft_looping_call_t *lc = weft_looping_call_new(R, slow_tick, NULL, NULL);
    weft_deferred_t *done;
    check_err(weft_looping_call_start(lc, 1.0, true, &done), 0);
    catch_t c;
    catch_on(done, &c);
    weft_looping_call_free(lc); /* in flight: goes when the deferred completes */
    check_err(weft_deferred_callback(slow, NULL, NULL), 0);
    weft_deferred_unref(slow);
    check_int(c.fired, ==, 1);
    weft_deferred_unref(done);
    t_teardown(R);
}

static void test_lc_reset(void)
{
    R = t_reactor(true);
    calls = 0;
    weft_looping_call_t *lc = weft_looping_call_new(R, tick, NULL, NULL);
    check_err(weft_looping_call_start(lc, 2.0, false, NULL), 0);
    check_err(weft_reactor_advance(R, 1.5), 0);
    check_err(weft_looping_call_reset(lc), 0);
    check_err(weft_reactor_advance(R, 1.0), 0);
    check_int(calls, ==, 0); /* would have run at 2.0 without the reset */
    check_err(weft_reactor_advance(R, 1.0), 0);
    check_int(calls, ==, 1);
    check(call_times[0] == 3.5);
    weft_looping_call_free(lc);
    weft_looping_call_t *idle = weft_looping_call_new(R, tick, NULL, NULL);
    check_err(weft_looping_call_reset(idle), WEFT_ENOTRUNNING);
    weft_looping_call_free(idle);
    t_teardown(R);
}

/* ---------------------------------------------------------------- defer_later */

static int later_runs;

static weft_result_t later_value(void *arg)
{
    later_runs++;
    int *v = malloc(sizeof(*v));
    *v = (int)(intptr_t)arg;
    return weft_ok(v, counted_free);
}

static void test_defer_later(void)
{
    R = t_reactor(true);
    later_runs = 0;
    frees = 0;
    int err;
    weft_deferred_t *d = weft_defer_later(R, 2.0, later_value, (void *)42, &err);
    check_err(err, 0);
    catch_t c;
    catch_on(d, &c);
    check_err(weft_reactor_advance(R, 1.9), 0);
    check_int(c.fired, ==, 0);
    check_int(later_runs, ==, 0);
    check_err(weft_reactor_advance(R, 0.1), 0);
    check_int(later_runs, ==, 1);
    check_int(c.fired, ==, 1);
    check(!c.failed);
    check_int(frees, ==, 1);
    weft_deferred_unref(d);
    check_ptr(weft_defer_later(R, -1, NULL, NULL, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    t_teardown(R);
}

static void test_defer_later_cancel(void)
{
    R = t_reactor(true);
    later_runs = 0;
    weft_deferred_t *d = weft_defer_later(R, 2.0, later_value, NULL, NULL);
    catch_t c;
    catch_on(d, &c);
    check_err(weft_deferred_cancel(d), 0);
    check_int(c.fired, ==, 1);
    check_ptr(c.type, ==, &weft_cancelled_error_type);
    check_uint(weft_reactor_pending_calls(R), ==, 0);
    check_err(weft_reactor_advance(R, 5), 0);
    check_int(later_runs, ==, 0);
    weft_deferred_unref(d);
    t_teardown(R);
}

static weft_deferred_t *inner_d;

static weft_result_t later_deferred(void *arg)
{
    (void)arg;
    inner_d = weft_deferred_new();
    return weft_wait_for(weft_deferred_ref(inner_d));
}

static weft_result_t later_failure(void *arg)
{
    (void)arg;
    return weft_fail_new(&weft_error_type, WEFT_EACCES, "no");
}

static void test_defer_later_results(void)
{
    R = t_reactor(true);
    weft_deferred_t *d = weft_defer_later(R, 0, NULL, NULL, NULL);
    catch_t c;
    catch_on(d, &c);
    check_err(weft_reactor_advance(R, 0), 0);
    check_int(c.fired, ==, 1);
    check_ptr(c.value, ==, NULL);
    weft_deferred_unref(d);

    d = weft_defer_later(R, 1, later_failure, NULL, NULL);
    catch_on(d, &c);
    check_err(weft_reactor_advance(R, 1), 0);
    check(c.failed);
    check_err(c.code, WEFT_EACCES);
    weft_deferred_unref(d);

    frees = 0;
    d = weft_defer_later(R, 1, later_deferred, NULL, NULL);
    catch_on(d, &c);
    check_err(weft_reactor_advance(R, 1), 0);
    check_int(c.fired, ==, 0); /* waits for the returned deferred */
    int *v = malloc(sizeof(*v));
    check_err(weft_deferred_callback(inner_d, v, counted_free), 0);
    weft_deferred_unref(inner_d);
    check_int(c.fired, ==, 1);
    check_ptr(c.value, ==, v);
    check_int(frees, ==, 1);
    weft_deferred_unref(d);
    t_teardown(R);
}

static weft_deferred_t *self_cancel_d;
static int self_cancel_rc = 99;

static weft_result_t later_cancels_itself(void *arg)
{
    (void)arg;
    self_cancel_rc = weft_deferred_cancel(self_cancel_d); /* fired already: a no-op */
    return later_value(NULL);
}

static void test_defer_later_cancel_inside(void)
{
    R = t_reactor(true);
    frees = 0;
    self_cancel_d = weft_defer_later(R, 1, later_cancels_itself, NULL, NULL);
    catch_t c;
    catch_on(self_cancel_d, &c);
    check_err(weft_reactor_advance(R, 1), 0);
    check_err(self_cancel_rc, 0);
    check_int(c.fired, ==, 1);
    check(!c.failed); /* Twisted: the function runs from d's callback, so d has fired */
    check_int(frees, ==, 1);
    weft_deferred_unref(self_cancel_d);
    t_teardown(R);
}

/* ---------------------------------------------------------------- add_timeout */

static void test_timeout_fires(void)
{
    R = t_reactor(true);
    weft_deferred_t *d = weft_deferred_new();
    catch_t before, after;
    catch_t *pb = &before;
    memset(pb, 0, sizeof(*pb));
    /* A both-pair before the timeout sees the CancelledError, and passes it on. */
    check_err(weft_deferred_add_errback(d, catch_err, &before), 0);
    check_err(weft_deferred_add_timeout(d, R, 5.0), 0);
    catch_on(d, &after);
    check_err(weft_reactor_advance(R, 4.9), 0);
    check_int(before.fired, ==, 0);
    check_err(weft_reactor_advance(R, 0.1), 0);
    check_int(before.fired, ==, 1);
    check_ptr(before.type, ==, &weft_cancelled_error_type);
    /* catch_err handled it: the chain is back on the success path, so no TimeoutError. */
    check_int(after.fired, ==, 1);
    check(!after.failed);
    weft_deferred_unref(d);
    t_teardown(R);
}

static void test_timeout_translates(void)
{
    R = t_reactor(true);
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_add_timeout(d, R, 1.0), 0);
    catch_t c;
    catch_on(d, &c);
    check_err(weft_reactor_advance(R, 1.0), 0);
    check_int(c.fired, ==, 1);
    check_ptr(c.type, ==, &weft_timeout_error_type);
    check_err(c.code, WEFT_ETIMEDOUT);
    check_ptr(c.cause_type, ==, &weft_cancelled_error_type);
    /* The producer's one late fire is swallowed. */
    frees = 0;
    check_err(weft_deferred_callback(d, malloc(4), counted_free), 0);
    check_int(frees, ==, 1);
    weft_deferred_unref(d);
    t_teardown(R);
}

static void test_timeout_not_needed(void)
{
    R = t_reactor(true);
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_add_timeout(d, R, 1.0), 0);
    check_uint(weft_reactor_pending_calls(R), ==, 1);
    catch_t c;
    catch_on(d, &c);
    check_err(weft_deferred_callback(d, (void *)7, NULL), 0);
    check_int(c.fired, ==, 1);
    check_ptr(c.value, ==, (void *)7);
    check_uint(weft_reactor_pending_calls(R), ==, 0); /* the timer is gone */
    /* On a fired deferred the timer is cancelled at once. */
    weft_deferred_t *fired = weft_deferred_succeed(NULL, NULL);
    check_err(weft_deferred_add_timeout(fired, R, 1.0), 0);
    check_uint(weft_reactor_pending_calls(R), ==, 0);
    weft_deferred_unref(fired);
    weft_deferred_unref(d);
    t_teardown(R);
}

static weft_deferred_t *waited_on;

static const weft_failure_type_t *inner_saw;

/* Records the failure's type and passes the failure on unchanged. */
static weft_result_t record_and_pass(weft_failure_t *f, void *arg)
{
    (void)arg;
    inner_saw = weft_failure_type(f);
    return weft_fail(f);
}

static weft_result_t wait_inner(void *value, weft_free_fn free, void *arg)
{
    (void)value;
    (void)free;
    (void)arg;
    return weft_wait_for(weft_deferred_ref(waited_on));
}

static void test_timeout_cancels_inner(void)
{
    R = t_reactor(true);
    waited_on = weft_deferred_new();
    inner_saw = NULL;
    check_err(weft_deferred_add_errback(waited_on, record_and_pass, NULL), 0);
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_add_callback(d, wait_inner, NULL), 0);
    check_err(weft_deferred_callback(d, NULL, NULL), 0);
    check(weft_deferred_waiting(d));
    check_err(weft_deferred_add_timeout(d, R, 2.0), 0);
    catch_t c;
    catch_on(d, &c);
    check_err(weft_reactor_advance(R, 2.0), 0);
    check(weft_deferred_called(waited_on)); /* the inner one was cancelled */
    check_ptr(inner_saw, ==, &weft_cancelled_error_type);
    check_int(c.fired, ==, 1);
    check_ptr(c.type, ==, &weft_timeout_error_type);
    weft_deferred_unref(waited_on);
    weft_deferred_unref(d);
    t_teardown(R);
}

static void test_timeout_invalid(void)
{
    R = t_reactor(true);
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_add_timeout(NULL, R, 1.0), WEFT_EINVAL);
    check_err(weft_deferred_add_timeout(d, R, -1.0), WEFT_EINVAL);
    check_uint(weft_reactor_pending_calls(R), ==, 0);
    weft_deferred_unref(d);
    t_teardown(R);
}

/* ---------------------------------------------------------------- interval 0, real clock */

static int zero_calls, soon_ran_after;
static weft_looping_call_t *zero_lc;

static weft_result_t zero_tick(void *arg)
{
    (void)arg;
    zero_calls++;
    return weft_ok(NULL, NULL);
}

/* A call_soon made after the loop started: it can only run if the loop gets past its timers
 * to the idle phase, which a looping call of interval 0 re-run in the same pass would starve. */
static void stop_zero(void *arg)
{
    (void)arg;
    soon_ran_after = zero_calls;
    int rc = weft_looping_call_stop(zero_lc);
    (void)rc;
}

static void schedule_stop(void *arg)
{
    (void)arg;
    check_err(weft_reactor_call_soon(R, stop_zero, NULL), 0);
}

static void test_lc_zero_interval_real_clock(void)
{
    R = t_reactor(false);
    zero_calls = soon_ran_after = 0;
    zero_lc = weft_looping_call_new(R, zero_tick, NULL, NULL);
    check_err(weft_looping_call_start(zero_lc, 0, false, NULL), 0);
    weft_call_id_t id;
    check_err(weft_reactor_call_later(R, 0.001, schedule_stop, NULL, &id), 0);
    for (int i = 0; i < 100000 && soon_ran_after == 0; i++)
        t_run_once(R);
    check_int(soon_ran_after, >, 0); /* the loop went on: the stop ran */
    check_int(zero_calls, ==, soon_ran_after);
    weft_reactor_stats_t st;
    weft_reactor_get_stats(R, &st);
    check_uint(st.pending_delayed_calls, ==, 0); /* nothing more will run */
    weft_looping_call_free(zero_lc);
    t_teardown(R);
}

int main(void)
{
    TEST(test_lc_now(), "a looping call started now runs at once and then every interval until "
                        "stopped; stop fires the start deferred with the looping call");
    TEST(test_lc_later_and_misuse(), "started without now it first runs after one interval; "
                                     "start twice, a negative interval and stop when stopped "
                                     "are refused; a stopped one starts again");
    TEST(test_lc_waits_and_skips(),
         "a looping call waits for its function's deferred and skips the ticks it missed");
    TEST(test_lc_with_count(), "the with-count variant reports the ticks that went by in a stall");
    TEST(test_lc_failure(),
         "a failing function stops the loop and fails the start deferred with its failure");
    TEST(test_lc_deferred_failure(),
         "a failure from the function's deferred stops the loop the same way");
    TEST(test_lc_stop_in_flight(), "stop while the function's deferred is pending fires the "
                                   "start deferred only once it completes");
    TEST(test_lc_stop_inside(),
         "stop from inside the function fires the start deferred after it returns");
    TEST(test_lc_interval_zero(), "interval 0 runs once per pass");
    TEST(test_lc_free_in_flight(), "free while the function's deferred is pending is safe");
    TEST(test_lc_reset(), "reset restarts the grid from now");
    TEST(test_defer_later(),
         "defer_later fires with the function's value after the delay, not before");
    TEST(test_defer_later_cancel(),
         "cancelling defer_later's deferred cancels the timer and fails with CancelledError");
    TEST(test_defer_later_results(), "defer_later passes on a NULL function's NULL value, a "
                                     "failure, and a deferred's eventual value");
    TEST(test_defer_later_cancel_inside(),
         "cancelling defer_later from inside its function does nothing, as in Twisted");
    TEST(test_timeout_fires(), "add_timeout cancels at the deadline; an errback before it that "
                               "handles the CancelledError makes the deferred succeed");
    TEST(test_timeout_translates(),
         "a timed-out deferred fails with TimeoutError caused by CancelledError");
    TEST(test_timeout_not_needed(), "a deferred that fires first cancels its timeout's timer");
    TEST(test_timeout_cancels_inner(),
         "the timeout of a deferred waiting on another cancels the inner one");
    TEST(test_timeout_invalid(), "add_timeout refuses a NULL deferred and a negative timeout");
    TEST(test_lc_zero_interval_real_clock(),
         "a looping call of interval 0 on the real clock runs once per loop pass and lets the "
         "loop's other callbacks run");
    return done_testing();
}
