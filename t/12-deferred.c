/* SPDX-License-Identifier: MIT */
/* Deferreds: Twisted's chain rules (TWISTED.md 9.1-9.16), cancellation, misuse, release. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/deferred.h>
#include <weft/failure.h>
#include <weft/log.h>

#include "../reactor/deferred-internal.h"
#include "tap.h"

/* ------------------------------------------------------------------ helpers */

/* Values are heap ints freed by count_free, so leaks show under ASan/valgrind and every free
 * is counted. */
static int frees;

static void count_free(void *p)
{
    frees++;
    free(p);
}

static int *new_int(int v)
{
    int *p = malloc(sizeof(*p));
    if (p == NULL)
        bail_out("out of memory");
    *p = v;
    return p;
}

/* Log capture: every record of component "deferred". */
static int unhandled_logs;
static int misuse_logs;
static char last_log[512];

static void sink(const weft_log_record_t *rec, void *arg)
{
    (void)arg;
    if (strcmp(rec->component, "deferred") != 0)
        return;
    snprintf(last_log, sizeof(last_log), "%s", rec->message);
    if (strncmp(rec->message, "Unhandled error in Deferred", 27) == 0)
        unhandled_logs++;
    else
        misuse_logs++;
}

static void reset(void)
{
    frees = 0;
    unhandled_logs = 0;
    misuse_logs = 0;
    last_log[0] = '\0';
    weft_log_set_sink(sink, NULL);
}

/* A recorder: counts calls and remembers the last value / failure type it saw. */
typedef struct {
    int calls;
    int value;     /* last int seen, -1 for NULL */
    bool was_null; /* last value was NULL */
    const weft_failure_type_t *type;
    int order; /* the global sequence number of the last call */
} rec_t;

static int seq;

static weft_result_t rec_cb(void *value, weft_free_fn free_fn, void *arg)
{
    rec_t *r = arg;
    r->calls++;
    r->order = ++seq;
    r->was_null = value == NULL;
    r->value = value ? *(int *)value : -1;
    return weft_ok(value, free_fn); /* pass the value on */
}

static weft_result_t rec_eb(weft_failure_t *f, void *arg)
{
    rec_t *r = arg;
    r->calls++;
    r->order = ++seq;
    r->type = weft_failure_type(f);
    return weft_fail(f); /* pass the failure on */
}

/* Errback that handles the failure and returns a value (7). */
static weft_result_t eb_recover(weft_failure_t *f, void *arg)
{
    rec_t *r = arg;
    r->calls++;
    r->type = weft_failure_type(f);
    weft_failure_free(f);
    return weft_ok(new_int(7), count_free);
}

/* Errback that handles the failure and returns nothing (Python's None). */
static weft_result_t eb_swallow(weft_failure_t *f, void *arg)
{
    rec_t *r = arg;
    r->calls++;
    weft_failure_free(f);
    return weft_ok(NULL, NULL);
}

static weft_result_t cb_fail(void *value, weft_free_fn free_fn, void *arg)
{
    rec_t *r = arg;
    r->calls++;
    if (free_fn)
        free_fn(value);
    return weft_fail_new(&weft_error_type, WEFT_EIO, "callback failed");
}

static weft_result_t cb_double(void *value, weft_free_fn free_fn, void *arg)
{
    (void)arg;
    int v = value ? *(int *)value : 0;
    if (free_fn)
        free_fn(value);
    return weft_ok(new_int(v * 2), count_free);
}

/* Returns the deferred in arg (a new reference to it). */
static weft_result_t cb_return_deferred(void *value, weft_free_fn free_fn, void *arg)
{
    if (free_fn)
        free_fn(value);
    return weft_wait_for(weft_deferred_ref(arg));
}

static int run(weft_deferred_t *d, int v)
{
    return weft_deferred_callback(d, new_int(v), count_free);
}

/* ------------------------------------------------------------------ 9.1, 9.2: the step rule */

static void test_errback_returning_value_switches_to_success(void)
{
    reset();
    rec_t eb = {0}, after = {0}, after_eb = {0};
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_add_errback(d, eb_recover, &eb), 0);
    check_err(weft_deferred_add_callbacks(d, rec_cb, &after, rec_eb, &after_eb), 0);
    check_err(weft_deferred_errback(d, weft_failure_new(NULL, 0, "boom")), 0);
    check_int(eb.calls, ==, 1);
    check_int(after.calls, ==, 1);
    check_int(after.value, ==, 7);
    check_int(after_eb.calls, ==, 0);
    weft_deferred_unref(d);
    check_int(frees, ==, 1);
    check_int(unhandled_logs, ==, 0);
}

static void test_errback_returning_none_switches_to_success(void)
{
    reset();
    rec_t eb = {0}, after = {0}, after_eb = {0};
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_add_errback(d, eb_swallow, &eb), 0);
    check_err(weft_deferred_add_callbacks(d, rec_cb, &after, rec_eb, &after_eb), 0);
    check_err(weft_deferred_errback(d, NULL), 0);
    check_int(eb.calls, ==, 1);
    check_int(after.calls, ==, 1);
    check(after.was_null);
    check_int(after_eb.calls, ==, 0);
    weft_deferred_unref(d);
    check_int(unhandled_logs, ==, 0);
}

static void test_failing_callback_skips_own_errback(void)
{
    reset();
    rec_t cb = {0}, own_eb = {0}, next_cb = {0}, next_eb = {0};
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_add_callbacks(d, cb_fail, &cb, eb_swallow, &own_eb), 0);
    check_err(weft_deferred_add_callbacks(d, rec_cb, &next_cb, eb_swallow, &next_eb), 0);
    check_err(run(d, 1), 0);
    check_int(cb.calls, ==, 1);
    check_int(own_eb.calls, ==, 0);
    check_int(next_cb.calls, ==, 0);
    check_int(next_eb.calls, ==, 1);
    check_int(frees, ==, 1);
    weft_deferred_unref(d);
    check_int(unhandled_logs, ==, 0);
}

static void test_values_flow_through_callbacks(void)
{
    reset();
    rec_t last = {0};
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_add_callback(d, cb_double, NULL), 0);
    check_err(weft_deferred_add_callback(d, cb_double, NULL), 0);
    check_err(weft_deferred_add_callback(d, rec_cb, &last), 0);
    check_err(run(d, 5), 0);
    check_int(last.value, ==, 20);
    weft_deferred_unref(d);
    check_int(frees, ==, 3);
}

static weft_result_t both_rec(weft_result_t r, void *arg)
{
    rec_t *rec = arg;
    rec->calls++;
    if (r.kind == WEFT_RESULT_FAILURE)
        rec->type = weft_failure_type(r.failure);
    else
        rec->value = r.value ? *(int *)r.value : -1;
    weft_result_free(r);
    return weft_ok(NULL, NULL);
}

static void test_add_both_sees_values_and_failures(void)
{
    reset();
    rec_t a = {0}, b = {0};
    weft_deferred_t *d1 = weft_deferred_new(), *d2 = weft_deferred_new();
    check_err(weft_deferred_add_both(d1, both_rec, &a), 0);
    check_err(weft_deferred_add_both(d2, both_rec, &b), 0);
    check_err(run(d1, 3), 0);
    check_err(weft_deferred_errback(d2, weft_failure_new(&weft_timeout_error_type, 0, NULL)), 0);
    check_int(a.calls, ==, 1);
    check_int(a.value, ==, 3);
    check_int(b.calls, ==, 1);
    check_ptr(b.type, ==, &weft_timeout_error_type);
    weft_deferred_unref(d1);
    weft_deferred_unref(d2);
    check_int(frees, ==, 1);
    check_int(unhandled_logs, ==, 0);
}

/* ------------------------------------------------------------------ 9.3, 9.4: returning deferreds
 */

static void test_returning_fired_deferred_absorbs_it(void)
{
    reset();
    rec_t outer_after = {0}, inner_later = {0};
    weft_deferred_t *inner = weft_deferred_succeed(new_int(42), count_free);
    weft_deferred_t *outer = weft_deferred_new();
    check_err(weft_deferred_add_callback(outer, cb_return_deferred, inner), 0);
    check_err(weft_deferred_add_callback(outer, rec_cb, &outer_after), 0);
    check_err(run(outer, 1), 0);
    /* At once, synchronously: no waiting. */
    check(!weft_deferred_waiting(outer));
    check_int(outer_after.calls, ==, 1);
    check_int(outer_after.value, ==, 42);
    /* The inner's result became NULL: callbacks added to it later see NULL. */
    check_err(weft_deferred_add_callback(inner, rec_cb, &inner_later), 0);
    check_int(inner_later.calls, ==, 1);
    check(inner_later.was_null);
    weft_deferred_unref(inner);
    weft_deferred_unref(outer);
    check_int(frees, ==, 2);
}

static void test_returning_failed_deferred_moves_failure(void)
{
    reset();
    rec_t eb = {0};
    weft_deferred_t *inner =
        weft_deferred_fail(weft_failure_new(&weft_timeout_error_type, 0, NULL));
    weft_deferred_t *outer = weft_deferred_new();
    check_err(weft_deferred_add_callback(outer, cb_return_deferred, inner), 0);
    check_err(weft_deferred_add_errback(outer, eb_swallow, &eb), 0);
    check_err(run(outer, 1), 0);
    check_int(eb.calls, ==, 1);
    weft_deferred_unref(inner); /* its failure moved into outer: no unhandled report */
    weft_deferred_unref(outer);
    check_int(unhandled_logs, ==, 0);
}

static void test_returning_unfired_deferred_pauses_outer(void)
{
    reset();
    rec_t inner_own = {0}, outer_after = {0}, outer_added_later = {0};
    seq = 0;
    weft_deferred_t *inner = weft_deferred_new();
    weft_deferred_t *outer = weft_deferred_new();
    check_err(weft_deferred_add_callback(inner, rec_cb, &inner_own), 0);
    check_err(weft_deferred_add_callback(outer, cb_return_deferred, inner), 0);
    check_err(weft_deferred_add_callback(outer, rec_cb, &outer_after), 0);
    check_err(run(outer, 1), 0);
    check(weft_deferred_waiting(outer));
    check(weft_deferred_paused(outer));
    check_int(outer_after.calls, ==, 0);
    /* Callbacks added to the outer meanwhile queue up. */
    check_err(weft_deferred_add_callback(outer, rec_cb, &outer_added_later), 0);
    check_int(outer_added_later.calls, ==, 0);
    check_err(run(inner, 9), 0);
    /* The inner's own callback runs first, then the continuation, then the outer's, in order. */
    check_int(inner_own.calls, ==, 1);
    check_int(outer_after.calls, ==, 1);
    check_int(outer_after.value, ==, 9);
    check_int(outer_added_later.calls, ==, 1);
    check_int(inner_own.order, ==, 1);
    check_int(outer_after.order, ==, 2);
    check_int(outer_added_later.order, ==, 3);
    check(!weft_deferred_waiting(outer));
    weft_deferred_unref(inner);
    weft_deferred_unref(outer);
    check_int(frees, ==, 2);
}

static void test_returning_paused_deferred_pauses_outer(void)
{
    reset();
    rec_t after = {0};
    weft_deferred_t *inner = weft_deferred_new();
    weft_deferred_pause(inner);
    check_err(run(inner, 5), 0);
    weft_deferred_t *outer = weft_deferred_new();
    check_err(weft_deferred_add_callback(outer, cb_return_deferred, inner), 0);
    check_err(weft_deferred_add_callback(outer, rec_cb, &after), 0);
    check_err(run(outer, 1), 0);
    check(weft_deferred_waiting(outer));
    check_int(after.calls, ==, 0);
    check_err(weft_deferred_unpause(inner), 0);
    check_int(after.calls, ==, 1);
    check_int(after.value, ==, 5);
    weft_deferred_unref(inner);
    weft_deferred_unref(outer);
    check_int(frees, ==, 2);
}

static void test_waiting_outer_survives_user_unref(void)
{
    reset();
    rec_t after = {0};
    weft_deferred_t *inner = weft_deferred_new();
    weft_deferred_t *outer = weft_deferred_new();
    check_err(weft_deferred_add_callback(outer, cb_return_deferred, inner), 0);
    check_err(weft_deferred_add_callback(outer, rec_cb, &after), 0);
    check_err(run(outer, 1), 0);
    weft_deferred_unref(outer); /* the inner's continuation keeps it alive */
    check_err(run(inner, 4), 0);
    check_int(after.calls, ==, 1);
    check_int(after.value, ==, 4);
    weft_deferred_unref(inner);
    check_int(frees, ==, 2);
}

static void test_unfired_inner_dropped_frees_everything(void)
{
    reset();
    rec_t after = {0};
    weft_deferred_t *inner = weft_deferred_new();
    weft_deferred_t *outer = weft_deferred_new();
    check_err(weft_deferred_add_callback(outer, cb_return_deferred, inner), 0);
    check_err(weft_deferred_add_callback(outer, rec_cb, &after), 0);
    check_err(run(outer, 1), 0);
    weft_deferred_unref(outer);
    weft_deferred_unref(inner); /* nobody will ever fire it: both go, nothing runs */
    check_int(after.calls, ==, 0);
    check_int(frees, ==, 1);
}

static void test_waiting_and_user_paused_resumes_after_both(void)
{
    reset();
    rec_t after = {0};
    weft_deferred_t *inner = weft_deferred_new();
    weft_deferred_t *outer = weft_deferred_new();
    check_err(weft_deferred_add_callback(outer, cb_return_deferred, inner), 0);
    check_err(weft_deferred_add_callback(outer, rec_cb, &after), 0);
    check_err(run(outer, 1), 0);
    /* The wait is not a user pause: unpause cannot release it. */
    check_err(weft_deferred_unpause(outer), WEFT_EINVAL);
    weft_deferred_pause(outer);
    check_err(run(inner, 3), 0);
    check(!weft_deferred_waiting(outer));
    check(weft_deferred_paused(outer));
    check_int(after.calls, ==, 0); /* the value arrived, but outer is still paused */
    check_err(weft_deferred_unpause(outer), 0);
    check_int(after.calls, ==, 1);
    check_int(after.value, ==, 3);
    weft_deferred_unref(inner);
    weft_deferred_unref(outer);
    check_int(frees, ==, 2);
}

static void test_returning_deferred_with_a_waiter_fails_the_step(void)
{
    reset();
    rec_t eb = {0};
    weft_deferred_t *inner = weft_deferred_new();
    weft_deferred_t *first = weft_deferred_new(), *second = weft_deferred_new();
    check_err(weft_deferred_add_callback(first, cb_return_deferred, inner), 0);
    check_err(weft_deferred_add_callback(second, cb_return_deferred, inner), 0);
    check_err(weft_deferred_add_errback(second, rec_eb, &eb), 0);
    check_err(weft_deferred_add_errback(second, eb_swallow, &eb), 0);
    check_err(run(first, 1), 0);
    check_err(run(second, 2), 0);
    check(weft_deferred_waiting(first));
    check(!weft_deferred_waiting(second));
    check_int(eb.calls, ==, 2);
    check_ptr(eb.type, ==, &weft_error_type);
    check_int(misuse_logs, ==, 1);
    check_err(run(inner, 3), 0);
    check(!weft_deferred_waiting(first));
    weft_deferred_unref(inner);
    weft_deferred_unref(first);
    weft_deferred_unref(second);
    check_int(frees, ==, 3);
}

/* ------------------------------------------------------------------ 9.5: depth */

#define DEEP 100000

typedef struct {
    weft_deferred_t **ds;
    size_t n;
} deep_t;

static weft_result_t cb_wait_next(void *value, weft_free_fn free_fn, void *arg)
{
    weft_deferred_t *next = arg;
    if (free_fn)
        free_fn(value);
    return weft_wait_for(weft_deferred_ref(next));
}

static void test_deep_chain_of_waits_is_iterative(void)
{
    reset();
    weft_deferred_t **ds = calloc(DEEP + 1, sizeof(*ds));
    if (!check_ptr(ds, !=, NULL))
        return;
    for (size_t i = 0; i <= DEEP; i++)
        ds[i] = weft_deferred_new();
    rec_t last = {0};
    int bad = 0;
    for (size_t i = 0; i < DEEP; i++)
        bad += weft_deferred_add_callback(ds[i], cb_wait_next, ds[i + 1]) != 0;
    check_err(weft_deferred_add_callback(ds[0], rec_cb, &last), 0);
    /* Fire 0..DEEP-1: each waits on the next. Then the last one's value climbs all the way. */
    for (size_t i = 0; i < DEEP; i++)
        bad += weft_deferred_callback(ds[i], NULL, NULL) != 0;
    check_int(bad, ==, 0);
    check(weft_deferred_waiting(ds[0]));
    check_err(run(ds[DEEP], 77), 0);
    check_int(last.calls, ==, 1);
    check_int(last.value, ==, 77);
    for (size_t i = 0; i <= DEEP; i++)
        weft_deferred_unref(ds[i]);
    free(ds);
    check_int(frees, ==, 1);
}

static void test_deep_chain_deferred_is_iterative(void)
{
    reset();
    weft_deferred_t **ds = calloc(DEEP + 1, sizeof(*ds));
    if (!check_ptr(ds, !=, NULL))
        return;
    for (size_t i = 0; i <= DEEP; i++)
        ds[i] = weft_deferred_new();
    rec_t last = {0};
    int bad = 0;
    for (size_t i = 0; i < DEEP; i++)
        bad += weft_deferred_chain(ds[i], ds[i + 1]) != 0;
    check_int(bad, ==, 0);
    check_err(weft_deferred_add_callback(ds[DEEP], rec_cb, &last), 0);
    check_err(run(ds[0], 5), 0);
    check_int(last.calls, ==, 1);
    check_int(last.value, ==, 5);
    for (size_t i = 0; i <= DEEP; i++)
        weft_deferred_unref(ds[i]);
    free(ds);
    check_int(frees, ==, 1);
}

static void test_deep_waiting_chain_released_iteratively(void)
{
    reset();
    weft_deferred_t **ds = calloc(DEEP + 1, sizeof(*ds));
    if (!check_ptr(ds, !=, NULL))
        return;
    for (size_t i = 0; i <= DEEP; i++)
        ds[i] = weft_deferred_new();
    int bad = 0;
    for (size_t i = 0; i < DEEP; i++)
        bad += weft_deferred_add_callback(ds[i], cb_wait_next, ds[i + 1]) != 0;
    for (size_t i = 0; i < DEEP; i++)
        bad += weft_deferred_callback(ds[i], NULL, NULL) != 0;
    check_int(bad, ==, 0);
    check(weft_deferred_waiting(ds[0]));
    for (size_t i = 0; i < DEEP; i++)
        weft_deferred_unref(ds[i]);
    /* Dropping the innermost releases 100 000 waiting deferreds, one after the other. */
    weft_deferred_unref(ds[DEEP]);
    free(ds);
    check_int(unhandled_logs, ==, 0);
}

static void test_long_callback_list(void)
{
    reset();
    weft_deferred_t *d = weft_deferred_new();
    int bad = 0;
    for (int i = 0; i < DEEP; i++)
        bad += weft_deferred_add_callback(d, cb_double, NULL) != 0;
    check_int(bad, ==, 0);
    rec_t last = {0};
    check_err(weft_deferred_add_callback(d, rec_cb, &last), 0);
    check_err(run(d, 0), 0);
    check_int(last.calls, ==, 1);
    check_int(last.value, ==, 0);
    weft_deferred_unref(d);
    check_int(frees, ==, DEEP + 1);
}

/* ------------------------------------------------------------------ 9.6: returning self */

static weft_result_t cb_return_self(void *value, weft_free_fn free_fn, void *arg)
{
    if (free_fn)
        free_fn(value);
    return weft_wait_for(weft_deferred_ref(arg));
}

static void test_returning_own_deferred_fails_the_step(void)
{
    reset();
    rec_t eb = {0};
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_add_callback(d, cb_return_self, d), 0);
    check_err(weft_deferred_add_errback(d, eb_swallow, &eb), 0);
    check_err(run(d, 1), 0);
    check_int(eb.calls, ==, 1);
    check(!weft_deferred_paused(d));
    check_int(misuse_logs, ==, 1);
    weft_deferred_unref(d);
    check_int(frees, ==, 1);
}

/* ------------------------------------------------------------------ 9.7: adding to fired ones */

static void test_add_callback_on_fired_runs_at_once(void)
{
    reset();
    rec_t r = {0};
    weft_deferred_t *d = weft_deferred_succeed(new_int(3), count_free);
    check_err(weft_deferred_add_callback(d, rec_cb, &r), 0);
    check_int(r.calls, ==, 1);
    check_int(r.value, ==, 3);
    weft_deferred_unref(d);
    check_int(frees, ==, 1);
}

typedef struct {
    weft_deferred_t *d;
    rec_t added;
    int depth;           /* callbacks of this test running right now */
    int max_depth;       /* the most seen at once */
    int calls_after_add; /* added.calls when adder returned */
} adder_t;

static weft_result_t cb_adds_callback(void *value, weft_free_fn free_fn, void *arg)
{
    adder_t *a = arg;
    a->depth++;
    if (a->depth > a->max_depth)
        a->max_depth = a->depth;
    int rc = weft_deferred_add_callback(a->d, rec_cb, &a->added);
    check_err(rc, 0);
    a->calls_after_add = a->added.calls;
    a->depth--;
    return weft_ok(value, free_fn);
}

static void test_add_callback_mid_run_appends_not_nested(void)
{
    reset();
    adder_t a = {0};
    a.d = weft_deferred_new();
    check_err(weft_deferred_add_callback(a.d, cb_adds_callback, &a), 0);
    check_err(run(a.d, 8), 0);
    check_int(a.calls_after_add, ==, 0); /* not run inside the adding callback */
    check_int(a.added.calls, ==, 1);     /* but run by the same loop afterwards */
    check_int(a.added.value, ==, 8);
    check_int(a.max_depth, ==, 1);
    weft_deferred_unref(a.d);
    check_int(frees, ==, 1);
}

/* ------------------------------------------------------------------ 9.8: firing from inside */

static weft_result_t cb_fires_itself(void *value, weft_free_fn free_fn, void *arg)
{
    weft_deferred_t *d = arg;
    int rc = weft_deferred_callback(d, new_int(2), count_free);
    if (free_fn)
        free_fn(value);
    if (rc != 0)
        return weft_fail(weft_failure_from_code(rc, "fired from its own callback"));
    return weft_ok(NULL, NULL);
}

static void test_fire_from_own_callback_is_already_called(void)
{
    reset();
    rec_t eb = {0};
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_add_callback(d, cb_fires_itself, d), 0);
    check_err(weft_deferred_add_errback(d, rec_eb, &eb), 0);
    check_err(weft_deferred_add_errback(d, eb_swallow, &eb), 0);
    check_err(run(d, 1), 0);
    check_int(eb.calls, ==, 2);
    check_ptr(eb.type, ==, &weft_already_called_error_type);
    check_int(frees, ==, 2); /* the original value and the refused one */
    check_int(misuse_logs, ==, 1);
    weft_deferred_unref(d);
}

/* ------------------------------------------------------------------ 9.9: pause */

static weft_result_t cb_pauses_self(void *value, weft_free_fn free_fn, void *arg)
{
    weft_deferred_pause(arg);
    return weft_ok(value, free_fn);
}

static void test_pause_in_own_callback_does_not_stop_run(void)
{
    reset();
    rec_t after = {0};
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_add_callback(d, cb_pauses_self, d), 0);
    check_err(weft_deferred_add_callback(d, rec_cb, &after), 0);
    check_err(run(d, 1), 0);
    check_int(after.calls, ==, 1);
    check(weft_deferred_paused(d));
    /* Later additions wait for the unpause. */
    rec_t later = {0};
    check_err(weft_deferred_add_callback(d, rec_cb, &later), 0);
    check_int(later.calls, ==, 0);
    check_err(weft_deferred_unpause(d), 0);
    check_int(later.calls, ==, 1);
    weft_deferred_unref(d);
    check_int(frees, ==, 1);
}

/* deferred.h: "A callback pausing its own deferred does not stop the rest of the current run
 * (as in Twisted)": that includes a hand-off pair right after it (the stackless runner hands
 * such a pair to the stacked one, which must not see the pause as a reason to stop). */
static void test_pause_in_own_callback_then_chain(void)
{
    frees = 0;
    rec_t got = {0};
    weft_deferred_t *d = weft_deferred_new();
    weft_deferred_t *target = weft_deferred_new();
    check_err(weft_deferred_add_callback(target, rec_cb, &got), 0);
    check_err(weft_deferred_add_callback(d, cb_pauses_self, d), 0);
    check_err(weft_deferred_chain(d, target), 0);
    check_err(weft_deferred_callback(d, new_int(5), count_free), 0);
    check_int(got.calls, ==, 1); /* the rest of the run (the chain) went on */
    check_int(got.value, ==, 5);
    check(weft_deferred_called(target));
    if (weft_deferred_paused(d))
        check_err(weft_deferred_unpause(d), 0);
    weft_deferred_unref(d);
    weft_deferred_unref(target);
    check_int(frees, ==, 1);
}

/* The same through a hand-off back to a waiting deferred: inner's own callback pauses inner;
 * the CONTINUE pair to outer is the rest of that run (Twisted hands the result over). */
static void test_pause_in_own_callback_then_continue(void)
{
    frees = 0;
    rec_t got = {0};
    weft_deferred_t *inner = weft_deferred_new();
    weft_deferred_t *outer = weft_deferred_new();
    check_err(weft_deferred_add_callback(inner, cb_pauses_self, inner), 0);
    check_err(weft_deferred_add_callback(outer, cb_return_deferred, inner), 0);
    check_err(weft_deferred_add_callback(outer, rec_cb, &got), 0);
    check_err(weft_deferred_callback(outer, new_int(1), count_free), 0);
    check(weft_deferred_waiting(outer));
    check_err(weft_deferred_callback(inner, new_int(7), count_free), 0);
    check_int(got.calls, ==, 1); /* outer resumed with inner's result */
    check_int(got.value, ==, 7);
    check(!weft_deferred_waiting(outer));
    if (weft_deferred_paused(inner))
        check_err(weft_deferred_unpause(inner), 0);
    weft_deferred_unref(inner);
    weft_deferred_unref(outer);
    check_int(frees, ==, 2);
}

static void test_pause_is_a_counter(void)
{
    reset();
    rec_t r = {0};
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_add_callback(d, rec_cb, &r), 0);
    weft_deferred_pause(d);
    weft_deferred_pause(d);
    check_err(run(d, 1), 0);
    check_int(r.calls, ==, 0);
    check_err(weft_deferred_unpause(d), 0);
    check_int(r.calls, ==, 0);
    check_err(weft_deferred_unpause(d), 0);
    check_int(r.calls, ==, 1);
    weft_deferred_unref(d);
    check_int(frees, ==, 1);
}

static void test_unpause_unfired_does_not_run(void)
{
    reset();
    rec_t r = {0};
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_add_callback(d, rec_cb, &r), 0);
    weft_deferred_pause(d);
    check_err(weft_deferred_unpause(d), 0);
    check_int(r.calls, ==, 0);
    check(!weft_deferred_called(d));
    check_err(run(d, 1), 0);
    check_int(r.calls, ==, 1);
    weft_deferred_unref(d);
}

static void test_unpause_not_paused_is_einval(void)
{
    reset();
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_unpause(d), WEFT_EINVAL);
    check_int(misuse_logs, ==, 1);
    check(!weft_deferred_paused(d));
    weft_deferred_unref(d);
}

/* ------------------------------------------------------------------ 9.10: fire */

static void test_fire_with_failure_is_errback(void)
{
    reset();
    rec_t cb = {0}, eb = {0};
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_add_callbacks(d, rec_cb, &cb, eb_swallow, &eb), 0);
    check_err(weft_deferred_fire(d, weft_fail_new(&weft_timeout_error_type, 0, NULL)), 0);
    check_int(cb.calls, ==, 0);
    check_int(eb.calls, ==, 1);
    weft_deferred_unref(d);
}

static void test_fire_with_deferred_is_refused(void)
{
    reset();
    weft_deferred_t *d = weft_deferred_new();
    weft_deferred_t *other = weft_deferred_new();
    check_err(weft_deferred_fire(d, weft_wait_for(weft_deferred_ref(other))), WEFT_EINVAL);
    check(!weft_deferred_called(d));
    check_int(misuse_logs, ==, 1);
    check_err(run(d, 1), 0); /* d is as it was: it can still fire */
    weft_deferred_unref(other);
    weft_deferred_unref(d);
    check_int(frees, ==, 1);
}

/* ------------------------------------------------------------------ misuse */

static void test_fire_twice_is_ealready_and_keeps_first(void)
{
    reset();
    rec_t r = {0};
    weft_deferred_t *d = weft_deferred_new();
    check_err(run(d, 1), 0);
    check_err(run(d, 2), WEFT_EALREADY);
    check_int(frees, ==, 1); /* the refused value was freed */
    check_int(misuse_logs, ==, 1);
    check_err(weft_deferred_errback(d, weft_failure_new(NULL, 0, NULL)), WEFT_EALREADY);
    check_int(misuse_logs, ==, 2);
    check_err(weft_deferred_add_callback(d, rec_cb, &r), 0);
    check_int(r.value, ==, 1);
    weft_deferred_unref(d);
    check_int(frees, ==, 2);
    check_int(unhandled_logs, ==, 0);
}

static void test_add_callbacks_to_promised_deferred_is_ebusy(void)
{
    reset();
    rec_t r = {0};
    weft_deferred_t *inner = weft_deferred_new();
    weft_deferred_t *outer = weft_deferred_new();
    check_err(weft_deferred_add_callback(outer, cb_return_deferred, inner), 0);
    check_err(run(outer, 1), 0);
    check_err(weft_deferred_add_callback(inner, rec_cb, &r), WEFT_EBUSY);
    check_int(misuse_logs, ==, 1);
    check_err(run(inner, 2), 0);
    check_int(r.calls, ==, 0);
    /* Once the hand-off happened, adding is fine again and sees NULL. */
    check_err(weft_deferred_add_callback(inner, rec_cb, &r), 0);
    check_int(r.calls, ==, 1);
    check(r.was_null);
    weft_deferred_unref(inner);
    weft_deferred_unref(outer);
    check_int(frees, ==, 2);
}

static void test_add_callbacks_after_chain_is_ebusy(void)
{
    reset();
    rec_t r = {0};
    weft_deferred_t *a = weft_deferred_new(), *b = weft_deferred_new();
    check_err(weft_deferred_chain(a, b), 0);
    check_err(weft_deferred_add_callback(a, rec_cb, &r), WEFT_EBUSY);
    check_int(misuse_logs, ==, 1);
    weft_deferred_unref(a); /* a's pending hand-off holds b; dropping a drops that too */
    weft_deferred_unref(b);
}

static void test_chain_to_fired_target_is_ealready(void)
{
    reset();
    weft_deferred_t *a = weft_deferred_new();
    weft_deferred_t *b = weft_deferred_succeed(NULL, NULL);
    check_err(weft_deferred_chain(a, b), WEFT_EALREADY);
    check_err(weft_deferred_chain(a, a), WEFT_EINVAL);
    check_int(misuse_logs, ==, 1);
    weft_deferred_unref(a);
    weft_deferred_unref(b);
}

static void test_null_arguments_are_einval(void)
{
    reset();
    check_err(weft_deferred_callback(NULL, new_int(1), count_free), WEFT_EINVAL);
    check_int(frees, ==, 1);
    check_err(weft_deferred_errback(NULL, weft_failure_new(NULL, 0, NULL)), WEFT_EINVAL);
    check_err(weft_deferred_add_callback(NULL, rec_cb, NULL), WEFT_EINVAL);
    check_err(weft_deferred_cancel(NULL), WEFT_EINVAL);
    weft_deferred_unref(NULL);
}

/* ------------------------------------------------------------------ chain_deferred */

static void test_chain_to_awaited_deferred_is_einval(void)
{
    reset();
    weft_deferred_t *inner = weft_deferred_new();
    weft_deferred_t *outer = weft_deferred_new();
    check_err(weft_deferred_add_callback(outer, cb_return_deferred, inner), 0);
    check_err(run(outer, 1), 0);
    check(weft_deferred_waiting(outer));
    check_err(weft_deferred_chain(outer, inner), WEFT_EINVAL); /* a cycle */
    check_int(misuse_logs, ==, 1);
    weft_deferred_unref(outer);
    weft_deferred_unref(inner); /* both go: nothing holds the other */
    check_int(frees, ==, 1);
}

static void test_returning_own_chain_target_fails_the_step(void)
{
    reset();
    rec_t eb = {0};
    weft_deferred_t *target = weft_deferred_new();
    weft_deferred_t *d = weft_deferred_new();
    weft_deferred_pause(d);
    check_err(weft_deferred_add_callback(d, cb_return_deferred, target), 0);
    check_err(weft_deferred_add_errback(d, rec_eb, &eb), 0);
    check_err(weft_deferred_chain(d, target), 0);
    check_err(run(d, 1), 0);
    check_err(weft_deferred_unpause(d), 0);
    check_int(eb.calls, ==, 1);
    check_ptr(eb.type, ==, &weft_error_type);
    check_int(misuse_logs, ==, 1);
    check(!weft_deferred_waiting(d));
    check(weft_deferred_called(target)); /* the failure went on to the target */
    weft_deferred_unref(d);
    weft_deferred_unref(target);
    check_int(unhandled_logs, ==, 1); /* the target ends on it */
}

static void test_chain_moves_result_to_target(void)
{
    reset();
    rec_t src_after = {0}, dst = {0};
    weft_deferred_t *a = weft_deferred_new(), *b = weft_deferred_new();
    check_err(weft_deferred_add_callback(b, rec_cb, &dst), 0);
    check_err(weft_deferred_chain(a, b), 0);
    check_err(run(a, 6), 0);
    check(weft_deferred_called(b));
    check_int(dst.calls, ==, 1);
    check_int(dst.value, ==, 6);
    check_err(weft_deferred_add_callback(a, rec_cb, &src_after), 0);
    check(src_after.was_null); /* the source's result became NULL */
    weft_deferred_unref(a);
    weft_deferred_unref(b);
    check_int(frees, ==, 1);
}

static void test_chain_moves_failure_and_clears_report(void)
{
    reset();
    weft_deferred_t *a = weft_deferred_new(), *b = weft_deferred_new();
    check_err(weft_deferred_chain(a, b), 0);
    check_err(weft_deferred_errback(a, weft_failure_new(NULL, 0, "moved")), 0);
    weft_deferred_unref(a);
    check_int(unhandled_logs, ==, 0); /* a's report was cleared by the move */
    weft_deferred_unref(b);
    check_int(unhandled_logs, ==, 1); /* b holds it now, unhandled */
}

static void test_chain_target_fired_meanwhile_fails_source(void)
{
    reset();
    rec_t eb = {0};
    weft_deferred_t *a = weft_deferred_new(), *b = weft_deferred_new();
    check_err(weft_deferred_chain(a, b), 0);
    check_err(run(b, 1), 0);
    check_err(run(a, 2), 0);
    check_err(weft_deferred_add_errback(a, rec_eb, &eb), WEFT_OK);
    check_int(eb.calls, ==, 1);
    check_ptr(eb.type, ==, &weft_already_called_error_type);
    check_int(frees, ==, 1); /* a's value, refused by b */
    weft_deferred_unref(a);
    weft_deferred_unref(b);
    check_int(unhandled_logs, ==, 1); /* a ended on the AlreadyCalledError */
    check_int(frees, ==, 2);
}

/* ------------------------------------------------------------------ 9.11-9.14: cancel */

static void test_cancel_without_canceller_errbacks_at_once(void)
{
    reset();
    rec_t eb = {0};
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_add_errback(d, rec_eb, &eb), 0);
    check_err(weft_deferred_add_errback(d, eb_swallow, &eb), 0);
    check_err(weft_deferred_cancel(d), 0);
    check_int(eb.calls, ==, 2);
    check_ptr(eb.type, ==, &weft_cancelled_error_type);
    weft_deferred_unref(d);
}

static void test_cancel_swallows_one_late_fire(void)
{
    reset();
    rec_t cb = {0};
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_add_callbacks(d, rec_cb, &cb, eb_swallow, &cb), 0);
    check_err(weft_deferred_cancel(d), 0);
    check_int(cb.calls, ==, 1);
    check_err(run(d, 1), 0); /* the producer's late result: swallowed and freed */
    check_int(frees, ==, 1);
    check_int(misuse_logs, ==, 0);
    check_err(run(d, 2), WEFT_EALREADY); /* a second late fire is an error */
    check_int(frees, ==, 2);
    check_int(misuse_logs, ==, 1);
    check_int(cb.calls, ==, 1);
    weft_deferred_unref(d);
}

typedef struct {
    int calls;
    int mode; /* 0: do nothing, 1: fire callback(5), 2: refuse with WEFT_EBUSY */
} canceller_t;

static int canceller(weft_deferred_t *d, void *arg)
{
    canceller_t *c = arg;
    c->calls++;
    if (c->mode == 1)
        return weft_deferred_callback(d, new_int(5), count_free);
    if (c->mode == 2)
        return WEFT_EBUSY;
    return 0;
}

static void test_canceller_not_firing_gives_cancelled_then_late_fire_fails(void)
{
    reset();
    canceller_t c = {0, 0};
    rec_t eb = {0};
    weft_deferred_t *d = weft_deferred_new_cancellable(canceller, &c);
    check_err(weft_deferred_add_errback(d, eb_recover, &eb), 0);
    check_err(weft_deferred_cancel(d), 0);
    check_int(c.calls, ==, 1);
    check_int(eb.calls, ==, 1);
    check_ptr(eb.type, ==, &weft_cancelled_error_type);
    check_err(run(d, 1), WEFT_EALREADY); /* the canceller should have stopped the producer */
    check_int(misuse_logs, ==, 1);
    weft_deferred_unref(d);
    check_int(frees, ==, 2); /* refused value and eb_recover's 7 */
}

static void test_canceller_may_fire_callback(void)
{
    reset();
    canceller_t c = {0, 1};
    rec_t cb = {0}, eb = {0};
    weft_deferred_t *d = weft_deferred_new_cancellable(canceller, &c);
    check_err(weft_deferred_add_callbacks(d, rec_cb, &cb, rec_eb, &eb), 0);
    check_err(weft_deferred_cancel(d), 0);
    check_int(c.calls, ==, 1);
    check_int(cb.calls, ==, 1);
    check_int(cb.value, ==, 5);
    check_int(eb.calls, ==, 0); /* no CancelledError at all */
    weft_deferred_unref(d);
    check_int(frees, ==, 1);
}

static void test_canceller_refusing_leaves_unfired_and_runs_once(void)
{
    reset();
    canceller_t c = {0, 2};
    rec_t eb = {0};
    weft_deferred_t *d = weft_deferred_new_cancellable(canceller, &c);
    check_err(weft_deferred_add_errback(d, eb_swallow, &eb), 0);
    check_err(weft_deferred_cancel(d), WEFT_EBUSY);
    check(!weft_deferred_called(d));
    check_int(eb.calls, ==, 0);
    /* The canceller is spent: a second cancel does not call it and cancels plainly. */
    check_err(weft_deferred_cancel(d), 0);
    check_int(c.calls, ==, 1);
    check_int(eb.calls, ==, 1);
    weft_deferred_unref(d);
}

static void test_cancel_after_fire_is_noop_and_canceller_released(void)
{
    reset();
    canceller_t c = {0, 0};
    rec_t r = {0};
    weft_deferred_t *d = weft_deferred_new_cancellable(canceller, &c);
    check_err(run(d, 1), 0);
    check_err(weft_deferred_cancel(d), 0);
    check_int(c.calls, ==, 0);
    check_err(weft_deferred_add_callback(d, rec_cb, &r), 0);
    check_int(r.value, ==, 1);
    weft_deferred_unref(d);
    check_int(frees, ==, 1);
}

static void test_cancel_waiting_outer_cancels_inner(void)
{
    reset();
    canceller_t outer_c = {0, 0}, inner_c = {0, 0};
    rec_t eb = {0};
    weft_deferred_t *inner = weft_deferred_new_cancellable(canceller, &inner_c);
    weft_deferred_t *outer = weft_deferred_new_cancellable(canceller, &outer_c);
    check_err(weft_deferred_add_callback(outer, cb_return_deferred, inner), 0);
    check_err(weft_deferred_add_errback(outer, rec_eb, &eb), 0);
    check_err(weft_deferred_add_errback(outer, eb_swallow, &eb), 0);
    check_err(run(outer, 1), 0);
    check(weft_deferred_waiting(outer));
    check_err(weft_deferred_cancel(outer), 0);
    check_int(outer_c.calls, ==, 0);
    check_int(inner_c.calls, ==, 1);
    check(weft_deferred_called(inner));
    check_int(eb.calls, ==, 2);
    check_ptr(eb.type, ==, &weft_cancelled_error_type); /* flowed into the outer */
    weft_deferred_unref(inner);
    weft_deferred_unref(outer);
    check_int(unhandled_logs, ==, 0);
}

static void test_timer_cancel_hook_logs_refusal(void)
{
    reset();
    canceller_t c = {0, 2};
    weft_deferred_t *d = weft_deferred_new_cancellable(canceller, &c);
    weft__deferred_cancel_from_timer(d); /* what add_timeout's timer will call */
    check_int(c.calls, ==, 1);
    check(!weft_deferred_called(d));
    check_int(misuse_logs, ==, 1); /* the refusal, logged since a timer cannot return it */
    weft__deferred_cancel_from_timer(d);
    check(weft_deferred_called(d)); /* no canceller left: CancelledError */
    weft_deferred_unref(d);
    check_int(unhandled_logs, ==, 1);
}

static void test_cache_drain_then_reuse(void)
{
    reset();
    for (int i = 0; i < 200; i++) {
        weft_deferred_t *d = weft_deferred_succeed(new_int(i), count_free);
        weft_deferred_unref(d);
    }
    weft__deferred_cache_drain();
    weft__deferred_cache_drain(); /* twice is harmless */
    rec_t r = {0};
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_add_callback(d, rec_cb, &r), 0);
    check_err(run(d, 9), 0);
    check_int(r.value, ==, 9);
    weft_deferred_unref(d);
    check_int(frees, ==, 201);
}

/* ------------------------------------------------------------------ 9.16: unhandled errors */

static void test_unhandled_failure_logged_once_at_release(void)
{
    reset();
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_errback(
                  d, weft_failure_new(&weft_timeout_error_type, WEFT_ETIMEDOUT, "too slow")),
              0);
    weft_deferred_ref(d);
    weft_deferred_unref(d);
    check_int(unhandled_logs, ==, 0); /* not while a reference remains */
    weft_deferred_unref(d);
    check_int(unhandled_logs, ==, 1);
    check(strstr(last_log, "weft.TimeoutError: too slow") != NULL);
}

static void test_handled_failure_not_logged(void)
{
    reset();
    rec_t eb = {0};
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_errback(d, weft_failure_new(NULL, 0, NULL)), 0);
    check_err(weft_deferred_add_errback(d, eb_swallow, &eb), 0); /* a later errback handles it */
    weft_deferred_unref(d);
    check_int(eb.calls, ==, 1);
    check_int(unhandled_logs, ==, 0);
}

static void test_failure_after_callbacks_logged(void)
{
    reset();
    rec_t cb = {0};
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_add_callback(d, cb_fail, &cb), 0);
    check_err(run(d, 1), 0);
    weft_deferred_unref(d);
    check_int(unhandled_logs, ==, 1);
    check(strstr(last_log, "callback failed") != NULL);
}

static void test_success_not_logged(void)
{
    reset();
    weft_deferred_t *d = weft_deferred_succeed(new_int(1), count_free);
    weft_deferred_unref(d);
    check_int(unhandled_logs, ==, 0);
    check_int(frees, ==, 1);
}

/* ------------------------------------------------------------------ helpers and scale */

static void test_succeed_and_fail(void)
{
    reset();
    rec_t cb = {0}, eb = {0};
    weft_deferred_t *s = weft_deferred_succeed(new_int(4), count_free);
    weft_deferred_t *f = weft_deferred_fail(weft_failure_new(&weft_timeout_error_type, 0, NULL));
    check(weft_deferred_called(s));
    check(weft_deferred_called(f));
    check_err(weft_deferred_add_callback(s, rec_cb, &cb), 0);
    check_err(weft_deferred_add_errback(f, eb_swallow, &eb), 0);
    check_int(cb.value, ==, 4);
    check_int(eb.calls, ==, 1);
    weft_deferred_unref(s);
    weft_deferred_unref(f);
    check_int(unhandled_logs, ==, 0);
}

static weft_result_t md_value(void *arg)
{
    (void)arg;
    return weft_ok(new_int(11), count_free);
}

static weft_result_t md_failure(void *arg)
{
    (void)arg;
    return weft_fail_new(&weft_timeout_error_type, 0, NULL);
}

static weft_result_t md_deferred(void *arg)
{
    return weft_wait_for(weft_deferred_ref(arg));
}

static void test_maybe_deferred(void)
{
    reset();
    rec_t cb = {0}, eb = {0};
    weft_deferred_t *a = weft_maybe_deferred(md_value, NULL);
    check_err(weft_deferred_add_callback(a, rec_cb, &cb), 0);
    check_int(cb.value, ==, 11);
    weft_deferred_t *b = weft_maybe_deferred(md_failure, NULL);
    check_err(weft_deferred_add_errback(b, rec_eb, &eb), 0);
    check_ptr(eb.type, ==, &weft_timeout_error_type);
    check_err(weft_deferred_add_errback(b, eb_swallow, &eb), 0);
    weft_deferred_t *mine = weft_deferred_new();
    weft_deferred_t *c = weft_maybe_deferred(md_deferred, mine);
    check_ptr(c, ==, mine); /* the same object, not a wrapper */
    weft_deferred_unref(c);
    weft_deferred_unref(mine);
    weft_deferred_unref(a);
    weft_deferred_unref(b);
    check_int(unhandled_logs, ==, 0);
    check_int(frees, ==, 1);
}

static void test_callbacks_run_after_user_drops_reference(void)
{
    reset();
    rec_t cb = {0};
    weft_deferred_t *d = weft_deferred_new();
    weft_deferred_t *producer_ref = weft_deferred_ref(d);
    check_err(weft_deferred_add_callback(d, rec_cb, &cb), 0);
    weft_deferred_unref(d); /* the consumer is done with it */
    check_err(run(producer_ref, 3), 0);
    check_int(cb.calls, ==, 1);
    weft_deferred_unref(producer_ref);
    check_int(frees, ==, 1);
}

static void test_million_deferreds_leak_nothing(void)
{
    reset();
    long n = getenv("WEFT_UNDER_VALGRIND") ? 20000 : 1000000;
    long calls = 0;
    rec_t r = {0};
    for (long i = 0; i < n; i++) {
        weft_deferred_t *d = weft_deferred_new();
        if (d == NULL)
            break;
        if (weft_deferred_add_callback(d, rec_cb, &r) != 0 || run(d, (int)i) != 0)
            break;
        weft_deferred_unref(d);
        calls++;
    }
    check_int(calls, ==, n);
    check_int(r.calls, ==, n);
    check_int(frees, ==, n);
    note("%ld deferreds created, fired and freed", n);
}

static void *thread_body(void *arg)
{
    int *count = arg;
    for (int i = 0; i < 1000; i++) {
        weft_deferred_t *d = weft_deferred_succeed(NULL, NULL);
        if (d == NULL)
            return NULL;
        weft_deferred_unref(d);
        (*count)++;
    }
    return NULL;
}

/* ------------------------------------------------------------------ random sequences */

#define SLOTS 8

static weft_deferred_t *slots[SLOTS];
static int slot_pauses[SLOTS];
static unsigned long long rng_state;
static long values_made;

static unsigned rnd(unsigned n)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)(rng_state >> 33) % n;
}

static int *counted_int(int v)
{
    values_made++;
    return new_int(v);
}

/* Callback kinds picked at random; arg is the slot index the pair was added from. */
static weft_result_t rnd_return_later_slot(void *value, weft_free_fn free_fn, void *arg)
{
    size_t from = (size_t)(uintptr_t)arg;
    size_t to = from + 1 + rnd(SLOTS);
    if (to < SLOTS && slots[to] != NULL) {
        if (free_fn)
            free_fn(value);
        return weft_wait_for(weft_deferred_ref(slots[to]));
    }
    return weft_ok(value, free_fn);
}

static weft_result_t rnd_fail(void *value, weft_free_fn free_fn, void *arg)
{
    (void)arg;
    if (free_fn)
        free_fn(value);
    return weft_fail_new(&weft_error_type, WEFT_EIO, "random failure");
}

static weft_result_t rnd_recover(weft_failure_t *f, void *arg)
{
    (void)arg;
    weft_failure_free(f);
    return weft_ok(counted_int(1), count_free);
}

static weft_result_t rnd_replace(void *value, weft_free_fn free_fn, void *arg)
{
    (void)arg;
    if (free_fn)
        free_fn(value);
    return weft_ok(counted_int(2), count_free);
}

static int rnd_canceller(weft_deferred_t *d, void *arg)
{
    (void)arg;
    switch (rnd(3)) {
    case 0:
        return weft_deferred_callback(d, counted_int(3), count_free);
    case 1:
        return WEFT_EBUSY;
    default:
        return 0;
    }
}

static void random_step(void)
{
    size_t i = rnd(SLOTS), j = rnd(SLOTS);
    weft_deferred_t *d = slots[i];
    int rc = 0;
    switch (rnd(10)) {
    case 0:
        if (d == NULL)
            slots[i] =
                rnd(2) ? weft_deferred_new() : weft_deferred_new_cancellable(rnd_canceller, NULL);
        break;
    case 1:
        if (d != NULL) {
            void *arg = (void *)(uintptr_t)i;
            switch (rnd(4)) {
            case 0:
                rc = weft_deferred_add_callback(d, rnd_return_later_slot, arg);
                break;
            case 1:
                rc = weft_deferred_add_callbacks(d, rnd_fail, arg, rnd_recover, arg);
                break;
            case 2:
                rc = weft_deferred_add_errback(d, rnd_recover, arg);
                break;
            default:
                rc = weft_deferred_add_callback(d, rnd_replace, arg);
                break;
            }
        }
        break;
    case 2:
        rc = weft_deferred_callback(d, counted_int(4), count_free);
        break;
    case 3:
        rc = weft_deferred_errback(d, weft_failure_new(NULL, 0, "random"));
        break;
    case 4:
        rc = weft_deferred_cancel(d);
        break;
    case 5:
        if (d != NULL && i < j && slots[j] != NULL)
            rc = weft_deferred_chain(d, slots[j]);
        break;
    case 6:
        if (d != NULL) {
            weft_deferred_pause(d);
            slot_pauses[i]++;
        }
        break;
    case 7:
        if (d != NULL && slot_pauses[i] > 0) {
            slot_pauses[i]--;
            rc = weft_deferred_unpause(d);
        }
        break;
    default:
        weft_deferred_unref(d);
        slots[i] = NULL;
        slot_pauses[i] = 0;
        break;
    }
    (void)rc; /* misuse is expected here: the point is that nothing breaks */
}

static void test_random_sequences_keep_invariants(void)
{
    reset();
    weft_log_set_level(WEFT_LOG_OFF); /* misuse is expected; keep the output quiet */
    long rounds = getenv("WEFT_UNDER_VALGRIND") ? 200 : 3000;
    values_made = 0;
    for (long round = 0; round < rounds; round++) {
        rng_state = (unsigned long long)round * 2654435761ULL + 1;
        for (int step = 0; step < 60; step++)
            random_step();
        /* Settle: unpause, fire what is unfired, then release everything. */
        for (size_t i = 0; i < SLOTS; i++) {
            while (slots[i] != NULL && slot_pauses[i] > 0) {
                slot_pauses[i]--;
                if (weft_deferred_unpause(slots[i]) != 0)
                    break;
            }
        }
        for (size_t k = SLOTS; k-- > 0;) {
            if (slots[k] != NULL && !weft_deferred_called(slots[k])) {
                int rc = weft_deferred_callback(slots[k], counted_int(5), count_free);
                (void)rc;
            }
        }
        for (size_t i = 0; i < SLOTS; i++) {
            weft_deferred_unref(slots[i]);
            slots[i] = NULL;
            slot_pauses[i] = 0;
        }
    }
    weft_log_set_level(WEFT_LOG_INFO);
    /* Every value made was freed exactly once: by a callback, a refused fire or a release. */
    check_int(frees, ==, values_made);
    note("%ld rounds, %ld values", rounds, values_made);
}

#ifdef WEFT_DEBUG
static void *fire_from_thread(void *arg)
{
    int rc = weft_deferred_callback(arg, NULL, NULL);
    (void)rc;
    return NULL;
}

static void fire_on_other_thread(void *arg)
{
    (void)arg;
    weft_deferred_t *d = weft_deferred_new();
    pthread_t t;
    if (pthread_create(&t, NULL, fire_from_thread, d) == 0)
        pthread_join(t, NULL);
    exit(0); /* reached only if nothing aborted */
}
#endif

static void test_wrong_thread_aborts_in_debug(void)
{
#ifdef WEFT_DEBUG
    check(dies_ok(fire_on_other_thread, NULL, "used from a thread other than its own"));
#else
    t_skip("the owner-thread check is compiled in debug builds only (WEFT_DEBUG)");
#endif
}

static void test_thread_exit_frees_cache(void)
{
    /* Deferreds belong to one thread, any thread: a second thread's cache of released
     * deferreds goes when it exits (valgrind and LSan would report it otherwise). */
    pthread_t t;
    int count = 0;
    if (!check_int(pthread_create(&t, NULL, thread_body, &count), ==, 0))
        return;
    check_int(pthread_join(t, NULL), ==, 0);
    check_int(count, ==, 1000);
}

int main(void)
{
    TEST(test_errback_returning_value_switches_to_success(),
         "errback returning a value switches the chain to the success path");
    TEST(test_errback_returning_none_switches_to_success(),
         "errback returning nothing (NULL) switches the chain to the success path");
    TEST(test_failing_callback_skips_own_errback(),
         "failing callback skips its own pair's errback and reaches the next errback");
    TEST(test_values_flow_through_callbacks(), "each callback's returned value feeds the next");
    TEST(test_add_both_sees_values_and_failures(), "add_both runs on values and on failures");
    TEST(test_returning_fired_deferred_absorbs_it(),
         "callback returning a fired deferred hands its result over at once; its result becomes "
         "NULL");
    TEST(test_returning_failed_deferred_moves_failure(),
         "callback returning a failed deferred moves the failure into the outer chain");
    TEST(test_returning_unfired_deferred_pauses_outer(),
         "callback returning an unfired deferred pauses the outer until it fires, inner callbacks "
         "first");
    TEST(test_returning_paused_deferred_pauses_outer(),
         "callback returning a fired but paused deferred pauses the outer too");
    TEST(test_waiting_outer_survives_user_unref(),
         "a waiting deferred is kept alive by the deferred it waits on");
    TEST(test_unfired_inner_dropped_frees_everything(),
         "dropping an unfired inner deferred frees the waiting outer with nothing run");
    TEST(test_waiting_and_user_paused_resumes_after_both(),
         "a waiting deferred also paused by the user resumes only after its unpause");
    TEST(test_returning_deferred_with_a_waiter_fails_the_step(),
         "callback returning a deferred another one already waits on fails that step");
    TEST(test_deep_chain_of_waits_is_iterative(),
         "a chain of 100 000 deferreds each waiting on the next runs without recursion");
    TEST(test_deep_chain_deferred_is_iterative(),
         "chain_deferred 100 000 deep hands the result down without recursion");
    TEST(test_deep_waiting_chain_released_iteratively(),
         "releasing 100 000 waiting deferreds at once does not recurse");
    TEST(test_long_callback_list(), "a deferred with 100 000 callbacks runs them all in order");
    TEST(test_returning_own_deferred_fails_the_step(),
         "callback returning its own deferred fails that step instead of pausing forever");
    TEST(test_add_callback_on_fired_runs_at_once(),
         "add_callback on a fired deferred runs the callback before returning");
    TEST(test_add_callback_mid_run_appends_not_nested(),
         "add_callback from the deferred's own callback runs after it, never nested");
    TEST(test_fire_from_own_callback_is_already_called(),
         "firing a deferred from its own callback returns WEFT_EALREADY, which the chain can "
         "carry as AlreadyCalledError");
    TEST(test_pause_in_own_callback_does_not_stop_run(),
         "a callback pausing its own deferred does not stop the rest of the current run");
    TEST(test_pause_in_own_callback_then_chain(),
         "a callback pausing its own deferred does not stop the run: a chained target fires");
    TEST(test_pause_in_own_callback_then_continue(),
         "a callback pausing its own deferred does not stop the run: the hand-off to the "
         "deferred waiting on it happens");
    TEST(test_pause_is_a_counter(), "pause is a counter: the chain resumes at zero only");
    TEST(test_unpause_unfired_does_not_run(),
         "unpause to zero on an unfired deferred runs nothing");
    TEST(test_unpause_not_paused_is_einval(), "unpause on a deferred not paused is WEFT_EINVAL");
    TEST(test_fire_with_failure_is_errback(), "fire with a failure result takes the error path");
    TEST(test_fire_with_deferred_is_refused(),
         "fire with a deferred is refused with WEFT_EINVAL and leaves the deferred unfired");
    TEST(test_fire_twice_is_ealready_and_keeps_first(),
         "deferred fired twice returns WEFT_EALREADY, frees the value and keeps the first result");
    TEST(test_add_callbacks_to_promised_deferred_is_ebusy(),
         "adding callbacks to a deferred another one waits on returns WEFT_EBUSY");
    TEST(test_add_callbacks_after_chain_is_ebusy(),
         "adding callbacks to a deferred chained to another returns WEFT_EBUSY");
    TEST(test_chain_to_fired_target_is_ealready(),
         "chain to a fired target is WEFT_EALREADY, to itself WEFT_EINVAL");
    TEST(test_null_arguments_are_einval(), "NULL deferreds are WEFT_EINVAL and values are freed");
    TEST(test_chain_to_awaited_deferred_is_einval(),
         "chain to a deferred this one waits on is WEFT_EINVAL, not a cycle");
    TEST(test_returning_own_chain_target_fails_the_step(),
         "callback returning its deferred's own chain target fails that step");
    TEST(test_chain_moves_result_to_target(),
         "chain_deferred fires the target with the result and leaves the source NULL");
    TEST(test_chain_moves_failure_and_clears_report(),
         "chain_deferred moving a failure clears the source's unhandled report");
    TEST(test_chain_target_fired_meanwhile_fails_source(),
         "chain target fired by someone else makes the source carry AlreadyCalledError");
    TEST(test_cancel_without_canceller_errbacks_at_once(),
         "cancel with no canceller errbacks CancelledError at once");
    TEST(test_cancel_swallows_one_late_fire(),
         "cancel with no canceller swallows and frees one late fire; a second is WEFT_EALREADY");
    TEST(test_canceller_not_firing_gives_cancelled_then_late_fire_fails(),
         "canceller that does not fire gives CancelledError, and a later fire is WEFT_EALREADY");
    TEST(test_canceller_may_fire_callback(),
         "canceller firing callback itself means no CancelledError");
    TEST(test_canceller_refusing_leaves_unfired_and_runs_once(),
         "canceller returning an error leaves the deferred unfired and runs at most once");
    TEST(test_cancel_after_fire_is_noop_and_canceller_released(),
         "cancel on a fired deferred does nothing and never calls the released canceller");
    TEST(test_cancel_waiting_outer_cancels_inner(),
         "cancel on a deferred waiting on another cancels the inner one, not the outer canceller");
    TEST(test_timer_cancel_hook_logs_refusal(),
         "the timer's cancel hook logs a canceller's refusal instead of returning it");
    TEST(test_cache_drain_then_reuse(),
         "draining the cache of released deferreds leaves new ones working");
    TEST(test_unhandled_failure_logged_once_at_release(),
         "deferred released holding a failure logs Unhandled error in Deferred exactly once");
    TEST(test_handled_failure_not_logged(),
         "a failure handled by a later errback is not reported as unhandled");
    TEST(test_failure_after_callbacks_logged(),
         "a chain ending on a callback's failure is reported at release");
    TEST(test_success_not_logged(), "a deferred released holding a value logs nothing");
    TEST(test_succeed_and_fail(), "succeed and fail give deferreds that have already fired");
    TEST(test_maybe_deferred(),
         "maybe_deferred turns a value, a failure or a deferred into a deferred");
    TEST(test_callbacks_run_after_user_drops_reference(),
         "callbacks still run when the consumer dropped its reference before the fire");
    TEST(test_million_deferreds_leak_nothing(),
         "1 000 000 deferreds created, fired and released free every value");
    TEST(test_random_sequences_keep_invariants(),
         "random sequences of fires, waits, chains, pauses, cancels and releases free every value");
    TEST(test_wrong_thread_aborts_in_debug(),
         "debug builds abort when a deferred is fired from a thread other than its own");
    TEST(test_thread_exit_frees_cache(),
         "deferreds used on another thread leave nothing behind when it exits");
    weft_log_set_sink(NULL, NULL);
    return done_testing();
}
