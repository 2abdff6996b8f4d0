/* SPDX-License-Identifier: MIT */
/* Review of 65b2e7f..HEAD: failing reproductions of the bugs found. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <weft/deferred.h>
#include <weft/failure.h>
#include <weft/log.h>

#include "tap.h"

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

typedef struct {
    int calls;
    int value;
} rec_t;

static weft_result_t rec_cb(void *value, weft_free_fn free_fn, void *arg)
{
    rec_t *r = arg;
    r->calls++;
    r->value = value ? *(int *)value : -1;
    return weft_ok(value, free_fn);
}

static weft_result_t cb_pauses_self(void *value, weft_free_fn free_fn, void *arg)
{
    weft_deferred_pause(arg);
    return weft_ok(value, free_fn);
}

static weft_result_t cb_return_deferred(void *value, weft_free_fn free_fn, void *arg)
{
    if (free_fn)
        free_fn(value);
    return weft_wait_for(weft_deferred_ref(arg));
}

/* deferred.h: "A callback pausing its own deferred does not stop the rest of the current run
 * (as in Twisted)". Before c103bd7 the run went on through a CHAIN pair; now run_plain bails
 * out at it to run_stacked, which sees paused > 0 and stops: the chained target does not fire
 * until somebody unpauses. */
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

int main(void)
{
    TEST(test_pause_in_own_callback_then_chain(),
         "a callback pausing its own deferred does not stop the run: a chained target fires");
    TEST(test_pause_in_own_callback_then_continue(),
         "a callback pausing its own deferred does not stop the run: the hand-off to the "
         "deferred waiting on it happens");
    return done_testing();
}
