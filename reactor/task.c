/* SPDX-License-Identifier: MIT */
/* LoopingCall, defer_later and add_timeout on the reactor's clock. */

/*
 * Design. All three are built from public pieces: delayed calls (by id) and deferreds, plus
 * the deferred's one internal hook for timers (weft__deferred_cancel_from_timer).
 *
 * LoopingCall keeps the grid in integer nanoseconds of the reactor clock, so the manual clock
 * gives exact, repeatable ticks. A call is "in flight" from the moment the function is called
 * until its result (or its deferred's) is in; stop and free during that time only set flags,
 * and the completion does what they asked. Each timer callback and each completion touches
 * the object last, after anything that could free it.
 */
#include <stdint.h>

#include <weft/error.h>
#include <weft/task.h>

#include "../common/alloc-internal.h"
#include "deferred-internal.h"
#include "reactor-internal.h"

/* ---------------------------------------------------------------- LoopingCall */

struct weft_looping_call_s {
    weft_reactor_t *r;
    weft_looping_fn fn;
    weft_looping_count_fn count_fn;
    void *arg;
    bool running;
    bool in_flight;      /* the function runs, or its deferred is pending */
    bool freed;          /* weft_looping_call_free was called while in flight */
    unsigned completing; /* lc_completed calls running: user callbacks may free lc */
    bool run_at_start;
    bool has_last;
    uint64_t interval_ns;
    uint64_t start_ns;
    uint64_t last_ns;
    weft_call_id_t call; /* the next tick, 0 if none */
    weft_deferred_t *done;
};

static weft_looping_call_t *lc_new(weft_reactor_t *r, weft_looping_fn fn,
                                   weft_looping_count_fn count_fn, void *arg, int *err)
{
    WEFT__LOOP_ONLY(r);
    int rc = 0;
    weft_looping_call_t *lc = NULL;
    if (fn == NULL && count_fn == NULL)
        rc = WEFT_EINVAL;
    else if ((lc = weft__calloc(1, sizeof(*lc))) == NULL)
        rc = WEFT_ENOMEM;
    if (err != NULL)
        *err = rc;
    if (lc != NULL) {
        lc->r = r;
        lc->fn = fn;
        lc->count_fn = count_fn;
        lc->arg = arg;
    }
    return lc;
}

weft_looping_call_t *weft_looping_call_new(weft_reactor_t *r, weft_looping_fn fn, void *arg,
                                           int *err)
{
    return lc_new(r, fn, NULL, arg, err);
}

weft_looping_call_t *weft_looping_call_new_with_count(weft_reactor_t *r, weft_looping_count_fn fn,
                                                      void *arg, int *err)
{
    return lc_new(r, NULL, fn, arg, err);
}

static void lc_tick(void *arg);

/* Schedules the next tick on the grid (Twisted's _scheduleFrom). */
static void lc_schedule(weft_looping_call_t *lc)
{
    uint64_t delay = 0;
    if (lc->interval_ns > 0) {
        uint64_t now = weft__time_now_ns(lc->r);
        uint64_t running_for = now - lc->start_ns;
        delay = lc->interval_ns - running_for % lc->interval_ns;
    }
    if (weft_reactor_call_later(lc->r, (double)delay / 1e9, lc_tick, lc, &lc->call) != 0) {
        lc->call = 0;
        lc->running = false;
        weft_deferred_t *d = lc->done;
        lc->done = NULL;
        weft__reactor_log(lc->r, WEFT_LOG_ERROR, "looping call stopped: out of memory");
        int rc = weft_deferred_errback(d, weft_failure_from_code(WEFT_ENOMEM, NULL));
        (void)rc; /* d is ours and unfired: it cannot fail */
        weft_deferred_unref(d);
    }
}

/* Fires the start deferred with lc (stopped) or f (failed), and lets it go. */
static void lc_finish(weft_looping_call_t *lc, weft_failure_t *f)
{
    weft_deferred_t *d = lc->done;
    lc->done = NULL;
    lc->running = false;
    int rc = f ? weft_deferred_errback(d, f) : weft_deferred_callback(d, lc, NULL);
    (void)rc;
    weft_deferred_unref(d);
}

/* The function's result is in (directly or from its deferred). f: its failure, or NULL. */
static void lc_completed(weft_looping_call_t *lc, weft_failure_t *f)
{
    lc->in_flight = false;
    lc->completing++;
    if (f != NULL) {
        if (lc->done != NULL)
            lc_finish(lc, f);
        else
            weft_failure_free(f);
    } else if (lc->running) {
        lc_schedule(lc);
    } else if (lc->done != NULL) {
        lc_finish(lc, NULL); /* stopped while in flight */
    }
    if (--lc->completing == 0 && lc->freed && !lc->in_flight)
        weft__free(lc);
}

static weft_result_t lc_deferred_ok(void *value, weft_free_fn free, void *arg)
{
    if (free != NULL)
        free(value);
    lc_completed(arg, NULL);
    return weft_ok(NULL, NULL);
}

static weft_result_t lc_deferred_err(weft_failure_t *f, void *arg)
{
    lc_completed(arg, f);
    return weft_ok(NULL, NULL); /* handed to the start deferred */
}

/* How many grid ticks went by since the last call (Twisted's withCount counter). */
static unsigned long lc_count(weft_looping_call_t *lc, uint64_t now)
{
    if (lc->interval_ns == 0) {
        lc->last_ns = now;
        lc->has_last = true;
        return 1;
    }
    int64_t interval = (int64_t)lc->interval_ns;
    int64_t last = lc->has_last ? (int64_t)lc->last_ns
                                : (int64_t)lc->start_ns - (lc->run_at_start ? interval : 0);
    int64_t start = (int64_t)lc->start_ns;
    /* Truncation toward zero, as Twisted's int() of the float quotient: the tick just before
     * the start counts as tick 0 too. */
    int64_t last_tick = (last - start) / interval;
    int64_t this_tick = ((int64_t)now - start) / interval;
    if (this_tick <= last_tick)
        return 0;
    lc->last_ns = now;
    lc->has_last = true;
    return (unsigned long)(this_tick - last_tick);
}

static void lc_call(weft_looping_call_t *lc)
{
    lc->call = 0;
    weft_result_t res;
    if (lc->count_fn != NULL) {
        unsigned long count = lc_count(lc, weft__time_now_ns(lc->r));
        if (count == 0) {
            lc_schedule(lc);
            return;
        }
        lc->in_flight = true;
        res = lc->count_fn(count, lc->arg);
    } else {
        lc->in_flight = true;
        res = lc->fn(lc->arg);
    }
    switch (res.kind) {
    case WEFT_RESULT_FAILURE:
        lc_completed(lc, res.failure);
        return;
    case WEFT_RESULT_DEFERRED: {
        weft_deferred_t *d = res.deferred;
        if (weft_deferred_add_callbacks(d, lc_deferred_ok, lc, lc_deferred_err, lc) != 0) {
            weft_deferred_unref(d);
            lc_completed(lc, weft_failure_new(&weft_error_type, WEFT_EBUSY,
                                              "looping call function returned a deferred that "
                                              "cannot take callbacks"));
            return;
        }
        /* Whoever fires d holds it; if nobody does, the loop waits forever, as in Twisted. */
        weft_deferred_unref(d);
        return;
    }
    default:
        weft_result_free(res);
        lc_completed(lc, NULL);
        return;
    }
}

static void lc_tick(void *arg)
{
    lc_call(arg);
}

int weft_looping_call_start(weft_looping_call_t *lc, double interval, bool now,
                            weft_deferred_t **done)
{
    WEFT__LOOP_ONLY(lc->r);
    if (lc->running || lc->in_flight)
        return WEFT_EALREADY;
    if (!weft__seconds_valid(interval))
        return WEFT_EINVAL;
    weft_deferred_t *d = weft_deferred_new();
    if (d == NULL)
        return WEFT_ENOMEM;
    lc->done = d;
    if (done != NULL)
        *done = weft_deferred_ref(d);
    lc->running = true;
    lc->interval_ns = weft__seconds_to_ns(interval);
    lc->start_ns = weft__time_now_ns(lc->r);
    lc->run_at_start = now;
    lc->has_last = false;
    if (now)
        lc_call(lc);
    else if (weft_reactor_call_later(lc->r, interval, lc_tick, lc, &lc->call) != 0) {
        lc->running = false;
        lc->done = NULL;
        if (done != NULL) {
            weft_deferred_unref(*done);
            *done = NULL;
        }
        weft_deferred_unref(d);
        return WEFT_ENOMEM;
    }
    return 0;
}

int weft_looping_call_stop(weft_looping_call_t *lc)
{
    WEFT__LOOP_ONLY(lc->r);
    if (!lc->running)
        return WEFT_ENOTRUNNING;
    lc->running = false;
    if (lc->call != 0) {
        (void)weft_delayed_call_cancel(lc->r, lc->call);
        lc->call = 0;
    }
    if (!lc->in_flight)
        lc_finish(lc, NULL); /* else the completion fires it */
    return 0;
}

int weft_looping_call_reset(weft_looping_call_t *lc)
{
    WEFT__LOOP_ONLY(lc->r);
    if (!lc->running)
        return WEFT_ENOTRUNNING;
    lc->start_ns = weft__time_now_ns(lc->r);
    if (lc->call != 0)
        (void)weft_delayed_call_reset(lc->r, lc->call, (double)lc->interval_ns / 1e9);
    return 0;
}

bool weft_looping_call_is_running(const weft_looping_call_t *lc)
{
    return lc->running;
}

void weft_looping_call_free(weft_looping_call_t *lc)
{
    if (lc == NULL)
        return;
    WEFT__LOOP_ONLY(lc->r);
    if (lc->running)
        (void)weft_looping_call_stop(lc);
    if (lc->in_flight || lc->completing) {
        lc->freed = true; /* its completion frees it */
        return;
    }
    weft__free(lc);
}

/* ---------------------------------------------------------------- defer_later */

typedef struct {
    weft_reactor_t *r;
    weft_deferred_t *d; /* the timer's reference */
    weft_call_id_t id;
    weft_result_t (*fn)(void *arg);
    void *arg;
} later_t;

/* The first pair of d (Twisted's d.addCallback(lambda _: f())): runs fn when the timer fires d;
 * what fn returns (a deferred too) is d's result by the ordinary chain rules. */
static weft_result_t later_call(void *value, weft_free_fn free_fn, void *arg)
{
    (void)value;
    (void)free_fn; /* the timer fires d with NULL */
    later_t *l = arg;
    weft_result_t (*fn)(void *) = l->fn;
    void *fn_arg = l->arg;
    weft__free(l);
    return fn ? fn(fn_arg) : weft_ok(NULL, NULL);
}

static weft_result_t later_cancelled(weft_failure_t *f, void *arg)
{
    weft__free(arg);
    return weft_fail(f);
}

/* Only before the timer fired: firing d forgets the canceller. */
static int later_cancel(weft_deferred_t *d, void *arg)
{
    (void)d;
    later_t *l = arg;
    (void)weft_delayed_call_cancel(l->r, l->id);
    weft_deferred_unref(l->d); /* the timer's; the canceller's caller holds d */
    return 0;                  /* cancel errbacks d: later_cancelled frees l */
}

static void later_fire(void *arg)
{
    later_t *l = arg;
    weft_deferred_t *d = l->d; /* l goes in later_call */
    int rc = weft_deferred_callback(d, NULL, NULL);
    (void)rc; /* unfired: a cancel would have cancelled this timer */
    weft_deferred_unref(d);
}

weft_deferred_t *weft_defer_later(weft_reactor_t *r, double delay, weft_result_t (*fn)(void *arg),
                                  void *arg, int *err)
{
    WEFT__LOOP_ONLY(r);
    int rc = 0;
    weft_deferred_t *d = NULL;
    later_t *l = NULL;
    if (!weft__seconds_valid(delay)) {
        rc = WEFT_EINVAL;
        goto out;
    }
    l = weft__calloc(1, sizeof(*l));
    if (l == NULL || (d = weft_deferred_new_cancellable(later_cancel, l)) == NULL) {
        rc = WEFT_ENOMEM;
        goto out;
    }
    l->r = r;
    l->fn = fn;
    l->arg = arg;
    l->d = weft_deferred_ref(d);
    rc = weft_deferred_add_callbacks(d, later_call, l, later_cancelled, l);
    if (rc == 0)
        rc = weft_reactor_call_later(r, delay, later_fire, l, &l->id);
    if (rc != 0) {
        weft_deferred_unref(l->d);
        weft_deferred_unref(d); /* unfired: its pair is dropped unrun */
        d = NULL;
    }
out:
    if (d == NULL)
        weft__free(l);
    if (err != NULL)
        *err = rc;
    return d;
}

/* ---------------------------------------------------------------- add_timeout */

typedef struct {
    weft_reactor_t *r;
    weft_deferred_t *d; /* the timer's reference, until the step has run */
    weft_call_id_t id;
    double seconds;
    bool fired;
} timeout_t;

static void timeout_fire(void *arg)
{
    timeout_t *t = arg;
    t->fired = true;
    /* May run the step below, which frees t: touch nothing of t after this. */
    weft__deferred_cancel_from_timer(t->d);
}

/* Twisted's two addBoth steps, which run back to back: translate, then stop the timer. */
static weft_result_t timeout_step(weft_result_t result, void *arg)
{
    timeout_t *t = arg;
    if (t->fired && result.kind == WEFT_RESULT_FAILURE &&
        weft_failure_check(result.failure, &weft_cancelled_error_type) != NULL) {
        weft_failure_t *f = weft_failure_newf(&weft_timeout_error_type, WEFT_ETIMEDOUT,
                                              "deferred timed out after %g seconds", t->seconds);
        /* On failure set_cause frees the cause (f is then the out-of-memory failure). */
        int rc = weft_failure_set_cause(f, result.failure);
        (void)rc;
        result = weft_fail(f);
    }
    if (!t->fired)
        (void)weft_delayed_call_cancel(t->r, t->id);
    /* Inside d's chain: the runner holds d, so the timer's reference can go now. */
    weft_deferred_unref(t->d);
    weft__free(t);
    return result;
}

int weft_deferred_add_timeout(weft_deferred_t *d, weft_reactor_t *r, double seconds)
{
    WEFT__LOOP_ONLY(r);
    if (d == NULL || !weft__seconds_valid(seconds))
        return WEFT_EINVAL;
    if (weft__deferred_promised(d))
        return WEFT_EBUSY;
    timeout_t *t = weft__calloc(1, sizeof(*t));
    if (t == NULL)
        return WEFT_ENOMEM;
    t->r = r;
    t->seconds = seconds;
    t->d = weft_deferred_ref(d);
    int rc = weft_reactor_call_later(r, seconds, timeout_fire, t, &t->id);
    if (rc != 0) {
        weft_deferred_unref(t->d);
        weft__free(t);
        return rc;
    }
    rc = weft_deferred_add_both(d, timeout_step, t);
    if (rc != 0) {
        (void)weft_delayed_call_cancel(r, t->id);
        weft_deferred_unref(t->d);
        weft__free(t);
    }
    return rc;
}
