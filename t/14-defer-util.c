/* SPDX-License-Identifier: MIT */
/* Combinators: DeferredList, gather_results, lock, semaphore, queue (TWISTED.md 9.18-9.21). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/defer-util.h>
#include <weft/deferred.h>
#include <weft/failure.h>
#include <weft/log.h>

#include "tap.h"

/* ------------------------------------------------------------------ helpers */

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

static int unhandled_logs;
static int other_logs;

static void sink(const weft_log_record_t *rec, void *arg)
{
    (void)arg;
    if (strcmp(rec->component, "deferred") != 0)
        return;
    if (strncmp(rec->message, "Unhandled error in Deferred", 27) == 0)
        unhandled_logs++;
    else
        other_logs++;
}

static void reset(void)
{
    frees = 0;
    unhandled_logs = 0;
    other_logs = 0;
    weft_log_set_sink(sink, NULL);
}

/* Captures the list's outcome: the result (taken) or the failure (taken). */
typedef struct {
    int calls;
    weft_dl_result_t *result;
    weft_failure_t *failure;
} got_t;

static weft_result_t got_cb(void *value, weft_free_fn free_fn, void *arg)
{
    got_t *g = arg;
    (void)free_fn;
    g->calls++;
    g->result = value;
    return weft_ok(NULL, NULL);
}

static weft_result_t got_eb(weft_failure_t *f, void *arg)
{
    got_t *g = arg;
    g->calls++;
    g->failure = f;
    return weft_ok(NULL, NULL);
}

static void got_clear(got_t *g)
{
    weft_deferred_list_result_free(g->result);
    weft_failure_free(g->failure);
    g->result = NULL;
    g->failure = NULL;
}

static int entry_int(const weft_dl_entry_t *e)
{
    return e->value ? *(int *)e->value : -1;
}

/* What an input's own chain sees after the list's hook. */
typedef struct {
    int calls;
    bool was_null;
    bool was_failure;
} seen_t;

static weft_result_t seen_both(weft_result_t r, void *arg)
{
    seen_t *s = arg;
    s->calls++;
    s->was_failure = r.kind == WEFT_RESULT_FAILURE;
    s->was_null = r.kind == WEFT_RESULT_VALUE && r.value == NULL;
    return r; /* leave it as it is */
}

static void new_inputs(weft_deferred_t **ds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ds[i] = weft_deferred_new();
}

static void unref_inputs(weft_deferred_t **ds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        weft_deferred_unref(ds[i]);
}

/* ------------------------------------------------------------------ DeferredList */

static void test_list_waits_for_all_in_input_order(void)
{
    reset();
    weft_deferred_t *ds[3];
    new_inputs(ds, 3);
    got_t g = {0};
    int err = 1;
    weft_deferred_t *dl = weft_deferred_list_new(ds, 3, WEFT_DL_CONSUME_ERRORS, &err);
    check_err(err, 0);
    check_err(weft_deferred_add_callbacks(dl, got_cb, &g, got_eb, &g), 0);
    check_err(weft_deferred_callback(ds[2], new_int(2), count_free), 0);
    check_err(weft_deferred_errback(ds[1], weft_failure_new(&weft_timeout_error_type, 0, NULL)), 0);
    check_int(g.calls, ==, 0);
    check_err(weft_deferred_callback(ds[0], new_int(0), count_free), 0);
    check_int(g.calls, ==, 1);
    if (check_ptr(g.result, !=, NULL)) {
        check_uint(g.result->count, ==, 3);
        check_uint(g.result->fired_by, ==, WEFT_DL_ALL);
        check_int(g.result->entries[0].state, ==, WEFT_DL_SUCCESS);
        check_int(entry_int(&g.result->entries[0]), ==, 0);
        check_int(g.result->entries[1].state, ==, WEFT_DL_FAILURE);
        check_ptr(weft_failure_type(g.result->entries[1].failure), ==, &weft_timeout_error_type);
        check_int(g.result->entries[2].state, ==, WEFT_DL_SUCCESS);
        check_int(entry_int(&g.result->entries[2]), ==, 2);
    }
    check_ptr(g.failure, ==, NULL); /* the default mode never fails */
    got_clear(&g);
    check_int(frees, ==, 2);
    weft_deferred_unref(dl);
    unref_inputs(ds, 3);
    check_int(unhandled_logs, ==, 0);
}

static void test_list_records_fired_inputs_at_once(void)
{
    reset();
    weft_deferred_t *ds[2];
    ds[0] = weft_deferred_succeed(new_int(5), count_free);
    ds[1] = weft_deferred_succeed(new_int(6), count_free);
    got_t g = {0};
    weft_deferred_t *dl = weft_deferred_list_new(ds, 2, 0, NULL);
    check(weft_deferred_called(dl));
    check_err(weft_deferred_add_callback(dl, got_cb, &g), 0);
    if (check_ptr(g.result, !=, NULL)) {
        check_int(entry_int(&g.result->entries[0]), ==, 5);
        check_int(entry_int(&g.result->entries[1]), ==, 6);
    }
    got_clear(&g);
    weft_deferred_unref(dl);
    unref_inputs(ds, 2);
    check_int(frees, ==, 2);
}

static void test_list_moves_values_and_input_sees_null(void)
{
    reset();
    weft_deferred_t *ds[1];
    new_inputs(ds, 1);
    seen_t s = {0};
    got_t g = {0};
    weft_deferred_t *dl = weft_deferred_list_new(ds, 1, 0, NULL);
    check_err(weft_deferred_add_both(ds[0], seen_both, &s), 0);
    check_err(weft_deferred_add_callback(dl, got_cb, &g), 0);
    check_err(weft_deferred_callback(ds[0], new_int(1), count_free), 0);
    check_int(s.calls, ==, 1);
    check(s.was_null);
    got_clear(&g);
    weft_deferred_unref(dl);
    unref_inputs(ds, 1);
    check_int(frees, ==, 1);
}

static void test_list_fire_on_one_callback(void)
{
    reset();
    weft_deferred_t *ds[3];
    new_inputs(ds, 3);
    got_t g = {0};
    seen_t late = {0};
    weft_deferred_t *dl = weft_deferred_list_new(ds, 3, WEFT_DL_FIRE_ON_ONE_CALLBACK, NULL);
    check_err(weft_deferred_add_callbacks(dl, got_cb, &g, got_eb, &g), 0);
    check_err(weft_deferred_add_both(ds[0], seen_both, &late), 0);
    check_err(weft_deferred_callback(ds[1], new_int(11), count_free), 0);
    check_int(g.calls, ==, 1);
    if (check_ptr(g.result, !=, NULL)) {
        check_uint(g.result->fired_by, ==, 1);
        check_int(entry_int(&g.result->entries[1]), ==, 11);
        check_int(g.result->entries[0].state, ==, WEFT_DL_PENDING);
    }
    /* A later result is not delivered: it stays in the input's own chain. */
    check_err(weft_deferred_callback(ds[0], new_int(10), count_free), 0);
    check_int(g.calls, ==, 1);
    check_int(late.calls, ==, 1);
    check(!late.was_null);
    got_clear(&g);
    weft_deferred_unref(dl);
    check_err(weft_deferred_callback(ds[2], new_int(12), count_free), 0);
    unref_inputs(ds, 3);
    check_int(frees, ==, 3);
}

static void test_list_fire_on_one_callback_all_failing(void)
{
    reset();
    weft_deferred_t *ds[2];
    new_inputs(ds, 2);
    got_t g = {0};
    weft_deferred_t *dl =
        weft_deferred_list_new(ds, 2, WEFT_DL_FIRE_ON_ONE_CALLBACK | WEFT_DL_CONSUME_ERRORS, NULL);
    check_err(weft_deferred_add_callbacks(dl, got_cb, &g, got_eb, &g), 0);
    check_err(weft_deferred_errback(ds[0], NULL), 0);
    check_err(weft_deferred_errback(ds[1], NULL), 0);
    check_int(g.calls, ==, 1);
    if (check_ptr(g.result, !=, NULL)) {
        check_uint(g.result->fired_by, ==, WEFT_DL_ALL);
        check_int(g.result->entries[0].state, ==, WEFT_DL_FAILURE);
        check_int(g.result->entries[1].state, ==, WEFT_DL_FAILURE);
    }
    got_clear(&g);
    weft_deferred_unref(dl);
    unref_inputs(ds, 2);
    check_int(unhandled_logs, ==, 0);
}

static void test_list_fire_on_one_errback_first_error(void)
{
    reset();
    weft_deferred_t *ds[3];
    new_inputs(ds, 3);
    got_t g = {0};
    weft_deferred_t *dl =
        weft_deferred_list_new(ds, 3, WEFT_DL_FIRE_ON_ONE_ERRBACK | WEFT_DL_CONSUME_ERRORS, NULL);
    check_err(weft_deferred_add_callbacks(dl, got_cb, &g, got_eb, &g), 0);
    check_err(weft_deferred_callback(ds[0], new_int(0), count_free), 0);
    check_err(weft_deferred_errback(ds[2], weft_failure_new(&weft_timeout_error_type, 0, "t")), 0);
    check_int(g.calls, ==, 1);
    if (check_ptr(g.failure, !=, NULL)) {
        check_ptr(weft_failure_type(g.failure), ==, &weft_first_error_type);
        check_uint(weft_failure_index(g.failure), ==, 2);
        check_ptr(weft_failure_type(weft_failure_cause(g.failure)), ==, &weft_timeout_error_type);
    }
    check_int(frees, ==, 1); /* the recorded value 0 went with the undelivered result */
    /* Later failures are not delivered either. */
    check_err(weft_deferred_errback(ds[1], NULL), 0);
    check_int(g.calls, ==, 1);
    got_clear(&g);
    weft_deferred_unref(dl);
    unref_inputs(ds, 3);
    check_int(unhandled_logs, ==, 0);
}

static void test_list_empty_fires_at_once(void)
{
    reset();
    unsigned modes[] = {0, WEFT_DL_FIRE_ON_ONE_CALLBACK, WEFT_DL_FIRE_ON_ONE_ERRBACK,
                        WEFT_DL_FIRE_ON_ONE_CALLBACK | WEFT_DL_FIRE_ON_ONE_ERRBACK};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        got_t g = {0};
        int err = 1;
        weft_deferred_t *dl = weft_deferred_list_new(NULL, 0, modes[i], &err);
        check_err(err, 0);
        check(weft_deferred_called(dl));
        check_err(weft_deferred_add_callbacks(dl, got_cb, &g, got_eb, &g), 0);
        check_int(g.calls, ==, 1);
        if (check_ptr(g.result, !=, NULL)) {
            check_uint(g.result->count, ==, 0);
            check_uint(g.result->fired_by, ==, WEFT_DL_ALL);
        }
        got_clear(&g);
        weft_deferred_unref(dl);
    }
}

static void test_list_without_consume_reports_inputs(void)
{
    reset();
    weft_deferred_t *ds[2];
    new_inputs(ds, 2);
    got_t g = {0};
    seen_t s = {0};
    weft_deferred_t *dl = weft_deferred_list_new(ds, 2, 0, NULL);
    check_err(weft_deferred_add_callback(dl, got_cb, &g), 0);
    check_err(weft_deferred_add_both(ds[0], seen_both, &s), 0);
    check_err(weft_deferred_errback(ds[0], weft_failure_new(NULL, 0, "a")), 0);
    check_err(weft_deferred_errback(ds[1], weft_failure_new(NULL, 0, "b")), 0);
    check(s.was_failure); /* the input's own chain keeps its failure */
    if (check_ptr(g.result, !=, NULL))
        check_str(weft_failure_message(g.result->entries[1].failure), "b");
    got_clear(&g);
    weft_deferred_unref(dl);
    unref_inputs(ds, 2);
    check_int(unhandled_logs, ==, 2); /* each failed input is reported */
}

static void test_list_consume_errors_silences_inputs(void)
{
    reset();
    weft_deferred_t *ds[2];
    new_inputs(ds, 2);
    got_t g = {0};
    seen_t s = {0};
    weft_deferred_t *dl = weft_deferred_list_new(ds, 2, WEFT_DL_CONSUME_ERRORS, NULL);
    check_err(weft_deferred_add_callback(dl, got_cb, &g), 0);
    check_err(weft_deferred_add_both(ds[0], seen_both, &s), 0);
    check_err(weft_deferred_errback(ds[0], NULL), 0);
    check_err(weft_deferred_errback(ds[1], NULL), 0);
    check_int(s.calls, ==, 1);
    check(s.was_null); /* the input's chain sees NULL after the list's hook */
    got_clear(&g);
    weft_deferred_unref(dl);
    unref_inputs(ds, 2);
    check_int(unhandled_logs, ==, 0);
}

static void test_list_cancel_cancels_inputs(void)
{
    reset();
    weft_deferred_t *ds[3];
    new_inputs(ds, 3);
    check_err(weft_deferred_callback(ds[1], new_int(1), count_free), 0);
    got_t g = {0};
    weft_deferred_t *dl = weft_deferred_list_new(ds, 3, WEFT_DL_CONSUME_ERRORS, NULL);
    check_err(weft_deferred_add_callbacks(dl, got_cb, &g, got_eb, &g), 0);
    check_err(weft_deferred_cancel(dl), 0);
    check(weft_deferred_called(ds[0]));
    check(weft_deferred_called(ds[2]));
    check_int(g.calls, ==, 1);
    if (check_ptr(g.result, !=, NULL)) {
        check_ptr(weft_failure_type(g.result->entries[0].failure), ==, &weft_cancelled_error_type);
        check_int(g.result->entries[1].state, ==, WEFT_DL_SUCCESS);
        check_ptr(weft_failure_type(g.result->entries[2].failure), ==, &weft_cancelled_error_type);
    }
    got_clear(&g);
    weft_deferred_unref(dl);
    unref_inputs(ds, 3);
    check_int(frees, ==, 1);
}

static int refusing_canceller(weft_deferred_t *d, void *arg)
{
    (void)d;
    (*(int *)arg)++;
    return WEFT_EBUSY;
}

static void test_list_cancel_logs_refusing_canceller(void)
{
    reset();
    int refused = 0;
    weft_deferred_t *ds[2];
    ds[0] = weft_deferred_new_cancellable(refusing_canceller, &refused);
    ds[1] = weft_deferred_new();
    got_t g = {0};
    weft_deferred_t *dl = weft_deferred_list_new(ds, 2, WEFT_DL_CONSUME_ERRORS, NULL);
    check_err(weft_deferred_add_callbacks(dl, got_cb, &g, got_eb, &g), 0);
    check_err(weft_deferred_cancel(dl), 0); /* the refusal is logged, not returned */
    check_int(refused, ==, 1);
    check_int(other_logs, ==, 1);
    check(!weft_deferred_called(ds[0]));
    check(weft_deferred_called(ds[1]));
    /* Input 0 is still unfired, so the list fails with CancelledError. */
    check_int(g.calls, ==, 1);
    if (check_ptr(g.failure, !=, NULL))
        check_ptr(weft_failure_type(g.failure), ==, &weft_cancelled_error_type);
    got_clear(&g);
    check_err(weft_deferred_callback(ds[0], new_int(1), count_free), 0);
    weft_deferred_unref(dl);
    unref_inputs(ds, 2);
    check_int(frees, ==, 1);
    check_int(unhandled_logs, ==, 0);
}

static void test_list_bad_inputs(void)
{
    reset();
    weft_deferred_t *ds[2] = {weft_deferred_new(), NULL};
    int err = 0;
    check_ptr(weft_deferred_list_new(ds, 2, 0, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    check_ptr(weft_deferred_list_new(ds, 1, 0x80, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    /* An input another deferred waits on is refused, and nothing is added to the others. */
    weft_deferred_t *other = weft_deferred_new();
    check_err(weft_deferred_chain(other, ds[0]), 0);
    ds[1] = other;
    check_ptr(weft_deferred_list_new(ds, 2, 0, &err), ==, NULL);
    check_err(err, WEFT_EBUSY);
    check_int(other_logs, ==, 1);
    weft_deferred_unref(other);
    weft_deferred_unref(ds[0]);
}

/* ------------------------------------------------------------------ gather_results */

static void test_gather_values_in_order(void)
{
    reset();
    weft_deferred_t *ds[3];
    new_inputs(ds, 3);
    got_t g = {0};
    weft_deferred_t *gr = weft_gather_results(ds, 3, false, NULL);
    check_err(weft_deferred_add_callbacks(gr, got_cb, &g, got_eb, &g), 0);
    for (int i = 2; i >= 0; i--)
        check_err(weft_deferred_callback(ds[i], new_int(i * 10), count_free), 0);
    if (check_ptr(g.result, !=, NULL)) {
        for (int i = 0; i < 3; i++) {
            check_int(g.result->entries[i].state, ==, WEFT_DL_SUCCESS);
            check_int(entry_int(&g.result->entries[i]), ==, i * 10);
        }
    }
    got_clear(&g);
    weft_deferred_unref(gr);
    unref_inputs(ds, 3);
    check_int(frees, ==, 3);
}

static void test_gather_failure_is_first_error(void)
{
    reset();
    weft_deferred_t *ds[2];
    new_inputs(ds, 2);
    got_t g = {0};
    weft_deferred_t *gr = weft_gather_results(ds, 2, true, NULL);
    check_err(weft_deferred_add_callbacks(gr, got_cb, &g, got_eb, &g), 0);
    check_err(weft_deferred_errback(ds[1], weft_failure_new(&weft_timeout_error_type, 0, "x")), 0);
    if (check_ptr(g.failure, !=, NULL)) {
        check_ptr(weft_failure_type(g.failure), ==, &weft_first_error_type);
        check_uint(weft_failure_index(g.failure), ==, 1);
        weft_failure_t *sub = weft_failure_take_cause(g.failure);
        check_ptr(weft_failure_type(sub), ==, &weft_timeout_error_type);
        weft_failure_free(sub);
    }
    check_err(weft_deferred_callback(ds[0], new_int(0), count_free), 0);
    got_clear(&g);
    weft_deferred_unref(gr);
    unref_inputs(ds, 2);
    check_int(unhandled_logs, ==, 0);
    check_int(frees, ==, 1);
}

static void test_gather_cancel_cancels_inputs(void)
{
    reset();
    weft_deferred_t *ds[2];
    new_inputs(ds, 2);
    got_t g = {0};
    weft_deferred_t *gr = weft_gather_results(ds, 2, true, NULL);
    check_err(weft_deferred_add_callbacks(gr, got_cb, &g, got_eb, &g), 0);
    check_err(weft_deferred_cancel(gr), 0);
    check(weft_deferred_called(ds[0]));
    check(weft_deferred_called(ds[1]));
    if (check_ptr(g.failure, !=, NULL))
        check_ptr(weft_failure_type(weft_failure_cause(g.failure)), ==, &weft_cancelled_error_type);
    got_clear(&g);
    weft_deferred_unref(gr);
    unref_inputs(ds, 2);
    check_int(unhandled_logs, ==, 0);
}

/* ------------------------------------------------------------------ lock and semaphore */

typedef struct {
    int calls;
    int order;
    const weft_failure_type_t *type;
} hit_t;

static int seq;

static weft_result_t hit_cb(void *value, weft_free_fn free_fn, void *arg)
{
    hit_t *h = arg;
    h->calls++;
    h->order = ++seq;
    return weft_ok(value, free_fn);
}

static weft_result_t hit_eb(weft_failure_t *f, void *arg)
{
    hit_t *h = arg;
    h->calls++;
    h->type = weft_failure_type(f);
    weft_failure_free(f);
    return weft_ok(NULL, NULL);
}

static void test_lock_acquire_release_hands_over_synchronously(void)
{
    reset();
    seq = 0;
    weft_deferred_lock_t *l = weft_deferred_lock_new();
    hit_t a = {0}, b = {0}, c = {0};
    weft_deferred_t *da = weft_deferred_lock_acquire(l);
    check_err(weft_deferred_add_callback(da, hit_cb, &a), 0);
    check_int(a.calls, ==, 1);
    check(weft_deferred_lock_locked(l));
    weft_deferred_t *db = weft_deferred_lock_acquire(l);
    weft_deferred_t *dc = weft_deferred_lock_acquire(l);
    check_err(weft_deferred_add_callback(db, hit_cb, &b), 0);
    check_err(weft_deferred_add_callback(dc, hit_cb, &c), 0);
    check_int(b.calls, ==, 0);
    check_err(weft_deferred_lock_release(l), 0);
    check_int(b.calls, ==, 1); /* ran before release returned */
    check_int(c.calls, ==, 0);
    check(weft_deferred_lock_locked(l));
    check_err(weft_deferred_lock_release(l), 0);
    check_int(c.calls, ==, 1);
    check_int(b.order, <, c.order);
    check_err(weft_deferred_lock_release(l), 0);
    check(!weft_deferred_lock_locked(l));
    check_err(weft_deferred_lock_release(l), WEFT_EINVAL);
    check_int(other_logs, ==, 1);
    weft_deferred_unref(da);
    weft_deferred_unref(db);
    weft_deferred_unref(dc);
    weft_deferred_lock_free(l);
}

static void test_lock_cancelled_waiter_leaves_fifo(void)
{
    reset();
    weft_deferred_lock_t *l = weft_deferred_lock_new();
    hit_t b = {0}, c = {0};
    weft_deferred_t *da = weft_deferred_lock_acquire(l);
    weft_deferred_t *db = weft_deferred_lock_acquire(l);
    weft_deferred_t *dc = weft_deferred_lock_acquire(l);
    check_err(weft_deferred_add_callbacks(db, hit_cb, &b, hit_eb, &b), 0);
    check_err(weft_deferred_add_callback(dc, hit_cb, &c), 0);
    check_err(weft_deferred_cancel(db), 0);
    check_int(b.calls, ==, 1);
    check_ptr(b.type, ==, &weft_cancelled_error_type);
    check_err(weft_deferred_lock_release(l), 0);
    check_int(c.calls, ==, 1); /* the cancelled waiter was skipped */
    check_err(weft_deferred_lock_release(l), 0);
    check(!weft_deferred_lock_locked(l));
    weft_deferred_unref(da);
    weft_deferred_unref(db);
    weft_deferred_unref(dc);
    weft_deferred_lock_free(l);
}

static weft_deferred_t *pending_work;

static weft_result_t work_pending(void *arg)
{
    (void)arg;
    pending_work = weft_deferred_new();
    return weft_wait_for(weft_deferred_ref(pending_work));
}

static weft_result_t work_fails(void *arg)
{
    (void)arg;
    return weft_fail_new(&weft_timeout_error_type, 0, NULL);
}

static void test_lock_run_releases_after_result(void)
{
    reset();
    weft_deferred_lock_t *l = weft_deferred_lock_new();
    hit_t r1 = {0}, r2 = {0};
    weft_deferred_t *d1 = weft_deferred_lock_run(l, work_pending, NULL);
    check_err(weft_deferred_add_callback(d1, hit_cb, &r1), 0);
    check(weft_deferred_lock_locked(l));
    weft_deferred_t *d2 = weft_deferred_lock_run(l, work_fails, NULL);
    check_err(weft_deferred_add_errback(d2, hit_eb, &r2), 0);
    check_int(r2.calls, ==, 0);
    check_err(weft_deferred_callback(pending_work, new_int(1), count_free), 0);
    check_int(r1.calls, ==, 1);
    check_int(r2.calls, ==, 1); /* ran once the lock was released to it */
    check_ptr(r2.type, ==, &weft_timeout_error_type);
    check(!weft_deferred_lock_locked(l)); /* released after the failure too */
    weft_deferred_unref(pending_work);
    weft_deferred_unref(d1);
    weft_deferred_unref(d2);
    weft_deferred_lock_free(l);
    check_int(frees, ==, 1);
    check_int(unhandled_logs, ==, 0);
}

static void test_lock_free_fails_waiters(void)
{
    reset();
    weft_deferred_lock_t *l = weft_deferred_lock_new();
    hit_t b = {0};
    weft_deferred_t *da = weft_deferred_lock_acquire(l);
    weft_deferred_t *db = weft_deferred_lock_acquire(l);
    check_err(weft_deferred_add_errback(db, hit_eb, &b), 0);
    weft_deferred_lock_free(l);
    check_int(b.calls, ==, 1);
    check_ptr(b.type, ==, &weft_cancelled_error_type);
    weft_deferred_unref(da);
    weft_deferred_unref(db);
}

static void test_semaphore_tokens(void)
{
    reset();
    int err = 0;
    check_ptr(weft_deferred_semaphore_new(0, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    weft_deferred_semaphore_t *s = weft_deferred_semaphore_new(2, &err);
    check_err(err, 0);
    check_uint(weft_deferred_semaphore_limit(s), ==, 2);
    hit_t h[3] = {{0}};
    weft_deferred_t *d[3];
    for (int i = 0; i < 3; i++) {
        d[i] = weft_deferred_semaphore_acquire(s);
        check_err(weft_deferred_add_callback(d[i], hit_cb, &h[i]), 0);
    }
    check_int(h[0].calls, ==, 1);
    check_int(h[1].calls, ==, 1);
    check_int(h[2].calls, ==, 0);
    check_uint(weft_deferred_semaphore_tokens(s), ==, 0);
    check_err(weft_deferred_semaphore_release(s), 0);
    check_int(h[2].calls, ==, 1);
    check_uint(weft_deferred_semaphore_tokens(s), ==, 0);
    check_err(weft_deferred_semaphore_release(s), 0);
    check_err(weft_deferred_semaphore_release(s), 0);
    check_uint(weft_deferred_semaphore_tokens(s), ==, 2);
    check_err(weft_deferred_semaphore_release(s), WEFT_EINVAL); /* above the limit */
    for (int i = 0; i < 3; i++)
        weft_deferred_unref(d[i]);
    weft_deferred_semaphore_free(s);
}

/* ------------------------------------------------------------------ queue */

typedef struct {
    int calls;
    int value;
} qv_t;

static weft_result_t qv_cb(void *value, weft_free_fn free_fn, void *arg)
{
    qv_t *q = arg;
    q->calls++;
    q->value = *(int *)value;
    return weft_ok(value, free_fn);
}

static void test_queue_put_hands_to_waiting_get(void)
{
    reset();
    weft_deferred_queue_t *q = weft_deferred_queue_new(1, 2, NULL);
    qv_t a = {0}, b = {0};
    weft_deferred_t *ga = weft_deferred_queue_get(q, NULL);
    weft_deferred_t *gb = weft_deferred_queue_get(q, NULL);
    check_err(weft_deferred_add_callback(ga, qv_cb, &a), 0);
    check_err(weft_deferred_add_callback(gb, qv_cb, &b), 0);
    check_uint(weft_deferred_queue_waiting(q), ==, 2);
    check_err(weft_deferred_queue_put(q, new_int(1), count_free), 0);
    check_int(a.calls, ==, 1); /* synchronously, before put returned */
    check_int(a.value, ==, 1);
    check_int(b.calls, ==, 0);
    check_err(weft_deferred_queue_put(q, new_int(2), count_free), 0);
    check_int(b.value, ==, 2);
    check_uint(weft_deferred_queue_pending(q), ==, 0);
    weft_deferred_unref(ga);
    weft_deferred_unref(gb);
    weft_deferred_queue_free(q);
    check_int(frees, ==, 2);
}

static void test_queue_buffers_then_overflows(void)
{
    reset();
    weft_deferred_queue_t *q = weft_deferred_queue_new(2, 0, NULL);
    check_err(weft_deferred_queue_put(q, new_int(1), count_free), 0);
    check_err(weft_deferred_queue_put(q, new_int(2), count_free), 0);
    check_err(weft_deferred_queue_put(q, new_int(3), count_free), WEFT_EOVERLOAD);
    check_int(frees, ==, 1); /* the refused item was freed */
    check_uint(weft_deferred_queue_pending(q), ==, 2);
    qv_t a = {0};
    weft_deferred_t *g = weft_deferred_queue_get(q, NULL);
    check(weft_deferred_called(g));
    check_err(weft_deferred_add_callback(g, qv_cb, &a), 0);
    check_int(a.value, ==, 1); /* FIFO */
    weft_deferred_unref(g);
    weft_deferred_queue_free(q); /* frees the buffered 2 */
    check_int(frees, ==, 3);
}

static void test_queue_underflow(void)
{
    reset();
    weft_deferred_queue_t *q = weft_deferred_queue_new(1, 1, NULL);
    int err = 1;
    weft_deferred_t *g1 = weft_deferred_queue_get(q, &err);
    check_err(err, 0);
    weft_deferred_t *g2 = weft_deferred_queue_get(q, &err);
    check_ptr(g2, ==, NULL);
    check_err(err, WEFT_EOVERLOAD);
    check_uint(weft_deferred_queue_waiting(q), ==, 1);
    weft_deferred_unref(g1);
    weft_deferred_queue_free(q);
}

static void test_queue_cancelled_get_leaves_fifo(void)
{
    reset();
    weft_deferred_queue_t *q = weft_deferred_queue_new(0, WEFT_DQ_UNBOUNDED, NULL);
    hit_t ha = {0};
    qv_t b = {0};
    weft_deferred_t *ga = weft_deferred_queue_get(q, NULL);
    weft_deferred_t *gb = weft_deferred_queue_get(q, NULL);
    check_err(weft_deferred_add_errback(ga, hit_eb, &ha), 0);
    check_err(weft_deferred_add_callback(gb, qv_cb, &b), 0);
    check_err(weft_deferred_cancel(ga), 0);
    check_ptr(ha.type, ==, &weft_cancelled_error_type);
    check_uint(weft_deferred_queue_waiting(q), ==, 1);
    check_err(weft_deferred_queue_put(q, new_int(4), count_free), 0);
    check_int(b.calls, ==, 1);
    check_int(b.value, ==, 4);
    /* size 0: with nobody waiting, a put overflows at once */
    check_err(weft_deferred_queue_put(q, new_int(5), count_free), WEFT_EOVERLOAD);
    weft_deferred_unref(ga);
    weft_deferred_unref(gb);
    weft_deferred_queue_free(q);
    check_int(frees, ==, 2);
}

static void test_queue_free_fails_waiters(void)
{
    reset();
    weft_deferred_queue_t *q = weft_deferred_queue_new(1, 1, NULL);
    hit_t h = {0};
    weft_deferred_t *g = weft_deferred_queue_get(q, NULL);
    check_err(weft_deferred_add_errback(g, hit_eb, &h), 0);
    weft_deferred_queue_free(q);
    check_int(h.calls, ==, 1);
    check_ptr(h.type, ==, &weft_cancelled_error_type);
    weft_deferred_unref(g);
}

/* ---------------------------------------------------------------- misuse: waiters fired by hand */

static void test_semaphore_waiter_fired_by_hand(void)
{
    reset();
    weft_deferred_semaphore_t *s = weft_deferred_semaphore_new(1, NULL);
    weft_deferred_t *holder = weft_deferred_semaphore_acquire(s);
    weft_deferred_t *rogue = weft_deferred_semaphore_acquire(s);  /* waits */
    weft_deferred_t *honest = weft_deferred_semaphore_acquire(s); /* waits */
    check(!weft_deferred_called(rogue));
    check_err(weft_deferred_callback(rogue, NULL, NULL), 0); /* fired by hand: a misuse */
    check_err(weft_deferred_semaphore_release(s), 0);        /* no abort: the turn moves on */
    check(weft_deferred_called(honest));
    check_uint(weft_deferred_semaphore_tokens(s), ==, 0);
    check_int(other_logs, ==, 1);
    check_err(weft_deferred_semaphore_release(s), 0);
    check_uint(weft_deferred_semaphore_tokens(s), ==, 1);
    weft_deferred_unref(holder);
    weft_deferred_unref(rogue);
    weft_deferred_unref(honest);
    weft_deferred_semaphore_free(s);
}

static void test_queue_waiter_fired_by_hand(void)
{
    reset();
    weft_deferred_queue_t *q = weft_deferred_queue_new(4, 4, NULL);
    weft_deferred_t *rogue = weft_deferred_queue_get(q, NULL);
    check_err(weft_deferred_callback(rogue, NULL, NULL), 0);
    check_err(weft_deferred_queue_put(q, new_int(7), count_free), 0);
    check_uint(weft_deferred_queue_pending(q), ==, 1); /* buffered, not lost */
    check_uint(weft_deferred_queue_waiting(q), ==, 0);
    check_int(other_logs, ==, 1);
    weft_deferred_unref(rogue);
    weft_deferred_queue_free(q);
    check_int(frees, ==, 1);
}

static void test_list_fired_by_hand(void)
{
    reset();
    weft_deferred_t *in = weft_deferred_new();
    weft_deferred_t *list = weft_deferred_list_new(&in, 1, 0, NULL);
    check_err(weft_deferred_callback(list, NULL, NULL), 0);           /* fired by hand: a misuse */
    check_err(weft_deferred_callback(in, new_int(1), count_free), 0); /* no abort */
    check_int(frees, ==, 0); /* the input's value stays in its own chain ... */
    weft_deferred_unref(list);
    weft_deferred_unref(in);
    check_int(frees, ==, 1); /* ... and goes with it, once */
}

int main(void)
{
    TEST(test_list_waits_for_all_in_input_order(),
         "DeferredList waits for every input and gives outcomes in input order, never failing");
    TEST(test_list_records_fired_inputs_at_once(),
         "DeferredList of fired inputs fires before the constructor returns");
    TEST(test_list_moves_values_and_input_sees_null(),
         "DeferredList takes each recorded value; the input's chain continues with NULL");
    TEST(test_list_fire_on_one_callback(),
         "fire_on_one_callback fires at the first success; later results are not delivered");
    TEST(test_list_fire_on_one_callback_all_failing(),
         "fire_on_one_callback with every input failing fires with the whole list");
    TEST(test_list_fire_on_one_errback_first_error(),
         "fire_on_one_errback fails with FirstError carrying the failure and its index");
    TEST(test_list_empty_fires_at_once(),
         "an empty DeferredList fires at once with an empty result, whatever the flags");
    TEST(test_list_without_consume_reports_inputs(),
         "without consume_errors each failed input is also reported as unhandled");
    TEST(test_list_consume_errors_silences_inputs(),
         "with consume_errors the input's chain sees NULL and nothing is reported");
    TEST(test_list_cancel_cancels_inputs(),
         "cancelling a DeferredList cancels every unfired input");
    TEST(test_list_cancel_logs_refusing_canceller(),
         "cancelling a DeferredList logs an input canceller's refusal and fails the list");
    TEST(test_list_bad_inputs(),
         "DeferredList refuses NULL inputs, unknown flags and inputs promised elsewhere");
    TEST(test_gather_values_in_order(), "gather_results gives the values in input order");
    TEST(test_gather_failure_is_first_error(),
         "gather_results fails with FirstError whose cause is the input's failure");
    TEST(test_gather_cancel_cancels_inputs(), "cancelling gather_results cancels its inputs");
    TEST(test_lock_acquire_release_hands_over_synchronously(),
         "lock release hands the lock to the oldest waiter before it returns");
    TEST(test_lock_cancelled_waiter_leaves_fifo(),
         "a cancelled lock acquire leaves the waiters' queue");
    TEST(test_lock_run_releases_after_result(),
         "lock run holds the lock until fn's result is ready, on success and on failure");
    TEST(test_lock_free_fails_waiters(), "lock_free fails pending acquires with CancelledError");
    TEST(test_semaphore_tokens(),
         "semaphore hands out its tokens, queues the rest and refuses release above the limit");
    TEST(test_queue_put_hands_to_waiting_get(),
         "queue put hands the item to the oldest waiting get before it returns");
    TEST(test_queue_buffers_then_overflows(),
         "queue buffers up to size items, then put is WEFT_EOVERLOAD and frees the item");
    TEST(test_queue_underflow(), "queue get past the backlog is WEFT_EOVERLOAD at once");
    TEST(test_queue_cancelled_get_leaves_fifo(), "a cancelled queue get leaves the waiters' queue");
    TEST(test_queue_free_fails_waiters(), "queue_free fails waiting gets with CancelledError");
    weft_log_set_sink(NULL, NULL);
    TEST(test_semaphore_waiter_fired_by_hand(), "a semaphore waiter fired by hand is logged and "
                                                "skipped: the token goes to the next waiter");
    TEST(test_queue_waiter_fired_by_hand(),
         "a queue get fired by hand is skipped and the put is buffered, not lost");
    TEST(test_list_fired_by_hand(), "a DeferredList fired by hand does not abort when its input "
                                    "fires, and the input keeps its value");
    return done_testing();
}
