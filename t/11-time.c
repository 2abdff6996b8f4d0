/* SPDX-License-Identifier: MIT */
/* The reactor's clock: delayed calls (order, cancel, reset, delay, ids), call_soon and the
 * manual clock. Everything runs on the manual clock except the one real-clock test. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <uv.h>

#include <weft/error.h>
#include <weft/reactor.h>
#include <weft/time.h>

#include "helpers.h"
#include "tap.h"

static int order[64];
static int norder;

static void record(void *arg)
{
    order[norder++] = (int)(intptr_t)arg;
}

static void reset_order(void)
{
    norder = 0;
    memset(order, 0, sizeof(order));
}

static void test_ties_fifo(void)
{
    weft_reactor_t *r = t_reactor(true);
    reset_order();
    for (int i = 1; i <= 5; i++)
        check_err(weft_reactor_call_later(r, 1.0, record, (void *)(intptr_t)i, NULL), 0);
    check_err(weft_reactor_advance(r, 1.0), 0);
    check_int(norder, ==, 5);
    for (int i = 0; i < 5; i++)
        check_int(order[i], ==, i + 1);
    t_teardown(r);
}

static void test_due_order(void)
{
    weft_reactor_t *r = t_reactor(true);
    reset_order();
    double delays[] = {3, 1, 2, 0.5, 2};
    for (int i = 0; i < 5; i++)
        check_err(weft_reactor_call_later(r, delays[i], record, (void *)(intptr_t)i, NULL), 0);
    check_err(weft_reactor_advance(r, 1.5), 0);
    check_int(norder, ==, 2);
    check_int(order[0], ==, 3);
    check_int(order[1], ==, 1);
    check_err(weft_reactor_advance(r, 10), 0);
    check_int(norder, ==, 5);
    check_int(order[2], ==, 2); /* 2 and 4 tie at t=2: scheduling order */
    check_int(order[3], ==, 4);
    check_int(order[4], ==, 0);
    t_teardown(r);
}

static weft_reactor_t *cascade_r;
static int cascade_runs;

static void cascade(void *arg)
{
    (void)arg;
    cascade_runs++;
    if (cascade_runs < 3)
        check_err(weft_reactor_call_later(cascade_r, 0, cascade, NULL, NULL), 0);
}

static void test_not_same_pass(void)
{
    weft_reactor_t *r = cascade_r = t_reactor(true);
    cascade_runs = 0;
    check_err(weft_reactor_call_later(r, 0, cascade, NULL, NULL), 0);
    check_err(weft_reactor_advance(r, 0), 0);
    check_int(cascade_runs, ==, 1);
    check_uint(weft_reactor_pending_calls(r), ==, 1);
    check_err(weft_reactor_advance(r, 0), 0);
    check_int(cascade_runs, ==, 2);
    check_err(weft_reactor_advance(r, 0), 0);
    check_int(cascade_runs, ==, 3);
    check_uint(weft_reactor_pending_calls(r), ==, 0);
    t_teardown(r);
}

static void test_cancel(void)
{
    weft_reactor_t *r = t_reactor(true);
    reset_order();
    weft_call_id_t a, b;
    check_err(weft_reactor_call_later(r, 1, record, (void *)1, &a), 0);
    check_err(weft_reactor_call_later(r, 1, record, (void *)2, &b), 0);
    check_err(weft_delayed_call_cancel(r, a), 0);
    check(!weft_delayed_call_is_active(r, a));
    check_err(weft_delayed_call_cancel(r, a), WEFT_ECANCELED);
    check_err(weft_reactor_advance(r, 1), 0);
    check_int(norder, ==, 1);
    check_int(order[0], ==, 2);
    check_err(weft_delayed_call_cancel(r, b), WEFT_EALREADY);
    check_err(weft_delayed_call_cancel(r, 0), WEFT_EINVAL);
    check_err(weft_delayed_call_cancel(r, ((uint64_t)7 << 32) | 99999), WEFT_EINVAL);
    t_teardown(r);
}

static weft_reactor_t *self_r;
static weft_call_id_t self_id;
static int self_rc[3];

static void cancel_self(void *arg)
{
    (void)arg;
    self_rc[0] = weft_delayed_call_cancel(self_r, self_id);
    self_rc[1] = weft_delayed_call_reset(self_r, self_id, 1);
    self_rc[2] = weft_delayed_call_is_active(self_r, self_id);
}

static void test_cancel_self(void)
{
    weft_reactor_t *r = self_r = t_reactor(true);
    check_err(weft_reactor_call_later(r, 1, cancel_self, NULL, &self_id), 0);
    check_err(weft_reactor_advance(r, 1), 0);
    check_err(self_rc[0], WEFT_EALREADY);
    check_err(self_rc[1], WEFT_EALREADY);
    check_int(self_rc[2], ==, 0);
    check_uint(weft_reactor_pending_calls(r), ==, 0);
    t_teardown(r);
}

static weft_call_id_t victim;
static int cancel_other_rc = 99;

static void cancel_other(void *arg)
{
    (void)arg;
    cancel_other_rc = weft_delayed_call_cancel(self_r, victim);
}

static void test_cancel_from_callback(void)
{
    weft_reactor_t *r = self_r = t_reactor(true);
    reset_order();
    check_err(weft_reactor_call_later(r, 1, cancel_other, NULL, NULL), 0);
    check_err(weft_reactor_call_later(r, 1, record, (void *)5, &victim), 0);
    check_err(weft_reactor_advance(r, 1), 0);
    check_err(cancel_other_rc, 0);
    check_int(norder, ==, 0);
    t_teardown(r);
}

static void test_reset_and_delay(void)
{
    weft_reactor_t *r = t_reactor(true);
    reset_order();
    weft_call_id_t a, b;
    double when;
    check_err(weft_reactor_call_later(r, 5, record, (void *)1, &a), 0);
    check_err(weft_reactor_call_later(r, 3, record, (void *)2, &b), 0);
    check_err(weft_reactor_advance(r, 1), 0);
    check_err(weft_delayed_call_reset(r, a, 1), 0); /* relative to now: due at 2 */
    check_err(weft_delayed_call_get_time(r, a, &when), 0);
    check(fabs(when - 2.0) < 1e-9);
    check_err(weft_delayed_call_delay(r, b, 4), 0); /* relative to its due time: 3 -> 7 */
    check_err(weft_delayed_call_get_time(r, b, &when), 0);
    check(fabs(when - 7.0) < 1e-9);
    check_err(weft_reactor_advance(r, 1), 0);
    check_int(norder, ==, 1);
    check_int(order[0], ==, 1);
    check_err(weft_delayed_call_delay(r, b, -2), 0); /* 7 -> 5 */
    check_err(weft_reactor_advance(r, 2.9), 0);
    check_int(norder, ==, 1);
    check_err(weft_reactor_advance(r, 0.1), 0);
    check_int(norder, ==, 2);
    check_err(weft_delayed_call_reset(r, b, 1), WEFT_EALREADY);
    check_err(weft_delayed_call_get_time(r, b, &when), WEFT_EALREADY);
    t_teardown(r);
}

static void test_reset_invalid(void)
{
    weft_reactor_t *r = t_reactor(true);
    weft_call_id_t a;
    check_err(weft_reactor_call_later(r, 1, record, NULL, &a), 0);
    check_err(weft_delayed_call_reset(r, a, -1), WEFT_EINVAL);
    check_err(weft_delayed_call_reset(r, a, NAN), WEFT_EINVAL);
    check_err(weft_delayed_call_delay(r, a, INFINITY), WEFT_EINVAL);
    check(weft_delayed_call_is_active(r, a));
    check_err(weft_delayed_call_cancel(r, a), 0);
    check_err(weft_delayed_call_reset(r, a, 1), WEFT_ECANCELED);
    t_teardown(r);
}

static int big_runs;

static void count_run(void *arg)
{
    (void)arg;
    big_runs++;
}

static void test_stale_id(void)
{
    weft_reactor_t *r = t_reactor(true);
    reset_order();
    weft_call_id_t old;
    check_err(weft_reactor_call_later(r, 1, record, (void *)1, &old), 0);
    check_err(weft_delayed_call_cancel(r, old), 0);
    /* The slot is reused by one of these; the old id must not reach it. */
    weft_call_id_t ids[200];
    big_runs = 0;
    for (int i = 0; i < 200; i++)
        check_err(weft_reactor_call_later(r, 2, count_run, NULL, &ids[i]), 0);
    int rc = weft_delayed_call_cancel(r, old);
    check(rc == WEFT_EALREADY || rc == WEFT_ECANCELED);
    check_uint(weft_reactor_pending_calls(r), ==, 200);
    for (int i = 0; i < 200; i++)
        check(ids[i] != old);
    check_err(weft_reactor_advance(r, 2), 0);
    check_int(big_runs, ==, 200);
    check_int(norder, ==, 0); /* the cancelled call never ran */
    check_uint(weft_reactor_pending_calls(r), ==, 0);
    t_teardown(r);
}

typedef struct {
    double due;
    int seq;
} due_t;

static due_t dues[10000];
static double last_due;
static int last_seq;
static int out_of_order;
static weft_reactor_t *many_r;

static void check_due_order(void *arg)
{
    const due_t *d = arg;
    big_runs++;
    if (d->due < last_due || (d->due == last_due && d->seq < last_seq) ||
        d->due > weft_reactor_now(many_r))
        out_of_order++;
    last_due = d->due;
    last_seq = d->seq;
}

static void test_many_calls(void)
{
    weft_reactor_t *r = many_r = t_reactor(true);
    big_runs = 0;
    last_due = -1;
    out_of_order = 0;
    /* Pseudo-random due times; they must come out in (due, scheduling) order. */
    uint32_t x = 12345;
    for (int i = 0; i < 10000; i++) {
        x = x * 1103515245 + 12345;
        dues[i].due = (x >> 16) % 100;
        dues[i].seq = i;
        check_err(weft_reactor_call_later(r, dues[i].due, check_due_order, &dues[i], NULL), 0);
    }
    weft_reactor_stats_t st;
    for (int s = 0; s < 100; s++)
        check_err(weft_reactor_advance(r, 1), 0);
    check_int(big_runs, ==, 10000);
    check_int(out_of_order, ==, 0);
    weft_reactor_get_stats(r, &st);
    check_uint(st.timers_fired, ==, 10000);
    check_uint(st.pending_delayed_calls, ==, 0);
    t_teardown(r);
}

static void test_bad_arguments(void)
{
    weft_reactor_t *r = t_reactor(true);
    check_err(weft_reactor_call_later(r, -0.1, record, NULL, NULL), WEFT_EINVAL);
    check_err(weft_reactor_call_later(r, NAN, record, NULL, NULL), WEFT_EINVAL);
    check_err(weft_reactor_call_later(r, 1, NULL, NULL, NULL), WEFT_EINVAL);
    check_err(weft_reactor_call_soon(r, NULL, NULL), WEFT_EINVAL);
    check_err(weft_reactor_advance(r, -1), WEFT_EINVAL);
    check_uint(weft_reactor_pending_calls(r), ==, 0);
    t_teardown(r);
    weft_reactor_t *real = t_reactor(false);
    check_err(weft_reactor_advance(real, 1), WEFT_EINVAL);
    t_teardown(real);
}

static void test_manual_now(void)
{
    weft_reactor_t *r = t_reactor(true);
    check(weft_reactor_now(r) == 0.0);
    check_err(weft_reactor_advance(r, 2.5), 0);
    check(weft_reactor_now(r) == 2.5);
    t_teardown(r);
}

static weft_reactor_t *soon_r;
static int soon_nested_ran;

static void soon_nested(void *arg)
{
    (void)arg;
    soon_nested_ran++;
}

static void soon_outer(void *arg)
{
    record(arg);
    if ((intptr_t)arg == 1)
        check_err(weft_reactor_call_soon(soon_r, soon_nested, NULL), 0);
}

static void test_call_soon(void)
{
    weft_reactor_t *r = soon_r = t_reactor(true);
    reset_order();
    soon_nested_ran = 0;
    for (int i = 1; i <= 3; i++)
        check_err(weft_reactor_call_soon(r, soon_outer, (void *)(intptr_t)i), 0);
    weft_reactor_run_once_nowait(r);
    check_int(norder, ==, 3);
    check_int(order[0], ==, 1);
    check_int(order[2], ==, 3);
    check_int(soon_nested_ran, ==, 0); /* added while they ran: next iteration */
    weft_reactor_run_once_nowait(r);
    check_int(soon_nested_ran, ==, 1);
    t_teardown(r);
}

static int real_fired;

static void real_fire(void *arg)
{
    (void)arg;
    real_fired = 1;
}

static void test_real_clock(void)
{
    weft_reactor_t *r = t_reactor(false);
    real_fired = 0;
    double t0 = weft_reactor_now(r);
    check_err(weft_reactor_call_later(r, 0.002, real_fire, NULL, NULL), 0);
    check(t_run_until(r, &real_fired, 1000));
    check(weft_reactor_now(r) >= t0 + 0.002);
    weft_reactor_stats_t st;
    weft_reactor_get_stats(r, &st);
    check_uint(st.timers_fired, ==, 1);
    check_uint(st.timer_lag_max_ns, ==, st.timer_lag_last_ns);
    t_teardown(r);
}

static void test_free_busy(void)
{
    weft_reactor_t *r = t_reactor(true);
    weft_call_id_t id;
    check_err(weft_reactor_call_later(r, 1, record, NULL, &id), 0);
    check_err(weft_reactor_free(r), WEFT_EBUSY);
    check_err(weft_delayed_call_cancel(r, id), 0);
    check_err(weft_reactor_call_soon(r, record, NULL), 0);
    check_err(weft_reactor_free(r), WEFT_EBUSY);
    reset_order();
    weft_reactor_run_once_nowait(r);
    t_teardown(r);
}

int main(void)
{
    TEST(test_ties_fifo(), "delayed calls due at the same time run in scheduling order");
    TEST(test_due_order(), "delayed calls run in due-time order, each on its own advance");
    TEST(test_not_same_pass(),
         "a call scheduled while delayed calls run waits for the next pass, even with delay 0");
    TEST(test_cancel(), "a cancelled call never runs; cancel twice gives WEFT_ECANCELED, after "
                        "running WEFT_EALREADY, an unknown id WEFT_EINVAL");
    TEST(test_cancel_self(), "a call cancelling or resetting itself gets WEFT_EALREADY");
    TEST(test_cancel_from_callback(), "a call may cancel another call of the same pass");
    TEST(test_reset_and_delay(),
         "reset moves a call relative to now, delay relative to its due time");
    TEST(test_reset_invalid(), "reset and delay refuse bad seconds and cancelled calls");
    TEST(test_stale_id(), "an old id never reaches the call that reuses its slot");
    TEST(test_many_calls(), "10 000 calls at random due times all run exactly once");
    TEST(test_bad_arguments(), "negative or NaN delays, NULL functions and advance on a real "
                               "clock are refused with WEFT_EINVAL");
    TEST(test_manual_now(), "a manual clock starts at 0 and moves only by advance");
    TEST(test_call_soon(),
         "call_soon runs FIFO at the next iteration; calls it adds wait one more");
    TEST(test_real_clock(),
         "on a real clock a delayed call fires by itself and its lag is counted");
    TEST(test_free_busy(), "free refuses with WEFT_EBUSY while delayed or soon calls are pending");
    return done_testing();
}
