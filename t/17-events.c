/* SPDX-License-Identifier: MIT */
/* System event triggers: phases and order, startup and call_when_running, a shutdown that
 * waits for before-triggers' deferreds while serving, and the shutdown deadline. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <weft/deferred.h>
#include <weft/error.h>
#include <weft/events.h>
#include <weft/failure.h>
#include <weft/log.h>
#include <weft/time.h>

#include "../common/log-internal.h"
#include "helpers.h"
#include "tap.h"

static weft_reactor_t *R;
static char trail[512];

static void mark(const char *what)
{
    if (trail[0] != '\0')
        strncat(trail, " ", sizeof(trail) - strlen(trail) - 1);
    strncat(trail, what, sizeof(trail) - strlen(trail) - 1);
}

static weft_deferred_t *note_trigger(void *arg)
{
    mark(arg);
    return NULL;
}

static weft_deferred_t *adds_one(void *arg)
{
    mark(arg);
    weft_trigger_id_t id;
    int rc = weft_reactor_add_trigger(R, "custom", WEFT_PHASE_DURING, note_trigger, "during-late",
                                      NULL, &id);
    (void)rc;
    return NULL;
}

static void test_phases_and_order(void)
{
    R = t_reactor(true);
    trail[0] = '\0';
    check_err(
        weft_reactor_add_trigger(R, "custom", WEFT_PHASE_AFTER, note_trigger, "after", NULL, NULL),
        0);
    check_err(
        weft_reactor_add_trigger(R, "custom", WEFT_PHASE_DURING, adds_one, "during-1", NULL, NULL),
        0);
    check_err(weft_reactor_add_trigger(R, "custom", WEFT_PHASE_BEFORE, note_trigger, "before-1",
                                       NULL, NULL),
              0);
    check_err(weft_reactor_add_trigger(R, "custom", WEFT_PHASE_BEFORE, note_trigger, "before-2",
                                       NULL, NULL),
              0);
    check_err(
        weft_reactor_add_trigger(R, "other", WEFT_PHASE_DURING, note_trigger, "other", NULL, NULL),
        0);
    check_err(weft_reactor_fire_event(R, "custom"), 0);
    check_str(trail, "before-1 before-2 during-1 during-late after");
    trail[0] = '\0';
    check_err(weft_reactor_fire_event(R, "custom"), 0); /* each trigger runs once */
    check_str(trail, "");
    t_teardown(R); /* the "other" trigger that never ran is dropped */
}

static void test_remove(void)
{
    R = t_reactor(true);
    trail[0] = '\0';
    weft_trigger_id_t a, b;
    check_err(weft_reactor_add_trigger(R, "e", WEFT_PHASE_DURING, note_trigger, "a", NULL, &a), 0);
    check_err(weft_reactor_add_trigger(R, "e", WEFT_PHASE_DURING, note_trigger, "b", NULL, &b), 0);
    check_err(weft_reactor_remove_trigger(R, a), 0);
    check_err(weft_reactor_fire_event(R, "e"), 0);
    check_str(trail, "b");
    check_err(weft_reactor_remove_trigger(R, a), WEFT_EALREADY);
    check_err(weft_reactor_remove_trigger(R, b), WEFT_EALREADY);
    check_err(weft_reactor_remove_trigger(R, 0), WEFT_EINVAL);
    check_err(weft_reactor_remove_trigger(R, 999), WEFT_EINVAL);
    check_err(weft_reactor_add_trigger(R, NULL, WEFT_PHASE_DURING, note_trigger, "x", NULL, NULL),
              WEFT_EINVAL);
    check_err(weft_reactor_add_trigger(R, "e", (weft_phase_t)7, note_trigger, "x", NULL, NULL),
              WEFT_EINVAL);
    check_err(weft_reactor_add_trigger(R, "e", WEFT_PHASE_DURING, NULL, "x", NULL, NULL),
              WEFT_EINVAL);
    t_teardown(R);
}

static void running_now(void *arg)
{
    (void)arg;
    mark(weft_reactor_is_running(R) ? "running" : "not-running");
}

static void stop_it(void *arg)
{
    (void)arg;
    mark("stop");
    weft_reactor_stop(R);
}

static void when_running_inside(void *arg)
{
    (void)arg;
    int rc = weft_reactor_call_when_running(R, running_now, NULL);
    (void)rc;
    mark("after-inner"); /* the inner call ran before this, synchronously */
    rc = weft_reactor_call_soon(R, stop_it, NULL);
}

static void test_startup(void)
{
    R = t_reactor(false);
    trail[0] = '\0';
    check_err(weft_reactor_call_when_running(R, running_now, NULL), 0);
    check_err(weft_reactor_add_trigger(R, "startup", WEFT_PHASE_BEFORE, note_trigger,
                                       "before-startup", NULL, NULL),
              0);
    check_err(weft_reactor_call_when_running(R, when_running_inside, NULL), 0);
    check_int(trail[0], ==, '\0'); /* nothing before run */
    check_err(weft_reactor_run(R), 0);
    check_str(trail, "before-startup running running after-inner stop");
    t_teardown(R);
}

/* ---------------------------------------------------------------- shutdown */

static weft_deferred_t *held;

static weft_deferred_t *slow_before(void *arg)
{
    (void)arg;
    mark(weft_reactor_is_running(R) ? "before(running)" : "before(not-running)");
    held = weft_deferred_new();
    return weft_deferred_ref(held);
}

static weft_deferred_t *during(void *arg)
{
    (void)arg;
    mark(weft_reactor_is_running(R) ? "during(running)" : "during(not-running)");
    return NULL;
}

static void served(void *arg)
{
    (void)arg;
    mark("served");
}

static void release_held(void *arg)
{
    (void)arg;
    mark("fired");
    int rc = weft_deferred_callback(held, NULL, NULL);
    (void)rc;
    weft_deferred_unref(held);
}

static void stop_and_serve(void *arg)
{
    (void)arg;
    weft_reactor_stop(R);
    int rc = weft_reactor_call_later(R, 0, served, NULL, NULL);
    rc = weft_reactor_call_later(R, 0.002, release_held, NULL, NULL);
    (void)rc;
}

static void test_shutdown_waits(void)
{
    R = t_reactor(false);
    trail[0] = '\0';
    check_err(
        weft_reactor_add_trigger(R, "shutdown", WEFT_PHASE_BEFORE, slow_before, NULL, "slow", NULL),
        0);
    check_err(weft_reactor_add_trigger(R, "shutdown", WEFT_PHASE_DURING, during, NULL, NULL, NULL),
              0);
    check_err(weft_reactor_add_trigger(R, "shutdown", WEFT_PHASE_AFTER, note_trigger, "after", NULL,
                                       NULL),
              0);
    check_err(weft_reactor_call_soon(R, stop_and_serve, NULL), 0);
    check_err(weft_reactor_run(R), 0);
    check_str(trail, "before(running) served fired during(not-running) after");
    t_teardown(R);
}

static weft_deferred_t *failing_before(void *arg)
{
    (void)arg;
    return weft_deferred_fail(weft_failure_new(&weft_error_type, WEFT_EIO, "disk gone"));
}

static char logged[2048];
static int nlogged;

static void capture(const weft_log_record_t *rec, void *arg)
{
    (void)arg;
    if (rec->level < WEFT_LOG_WARN)
        return;
    nlogged++;
    weft_log_format_record(rec, WEFT_LOG_FORMAT_PLAIN, logged, sizeof(logged));
}

static void test_shutdown_failed_before(void)
{
    weft__log_reset();
    weft_log_set_sink(capture, NULL);
    nlogged = 0;
    R = t_reactor(false);
    trail[0] = '\0';
    check_err(weft_reactor_add_trigger(R, "shutdown", WEFT_PHASE_BEFORE, failing_before, NULL,
                                       "flush-disk", NULL),
              0);
    check_err(weft_reactor_add_trigger(R, "shutdown", WEFT_PHASE_AFTER, note_trigger, "after", NULL,
                                       NULL),
              0);
    check_err(weft_reactor_call_soon(R, stop_it, NULL), 0);
    check_err(weft_reactor_run(R), 0);
    check_str(trail, "stop after");
    check_int(nlogged, ==, 1); /* logged once; no "Unhandled error" on top */
    check(strstr(logged, "before-shutdown trigger flush-disk failed") != NULL);
    check(strstr(logged, "disk gone") != NULL);
    t_teardown(R);
    weft__log_reset();
}

/* The deadline, on a manual clock: a call_soon made by the trigger moves time past it. */
static const weft_failure_type_t *producer_saw;

static weft_result_t producer_errback(weft_failure_t *f, void *arg)
{
    (void)arg;
    producer_saw = weft_failure_type(f);
    return weft_fail(f);
}

static void jump_past_deadline(void *arg)
{
    (void)arg;
    mark("jump");
    int rc = weft_reactor_advance(R, 31);
    (void)rc;
}

static weft_deferred_t *never_fires(void *arg)
{
    (void)arg;
    held = weft_deferred_new();
    int rc = weft_deferred_add_errback(held, producer_errback, NULL);
    rc = weft_reactor_call_soon(R, jump_past_deadline, NULL);
    (void)rc;
    return weft_deferred_ref(held);
}

static void test_shutdown_deadline(void)
{
    weft__log_reset();
    weft_log_set_sink(capture, NULL);
    nlogged = 0;
    producer_saw = NULL;
    R = t_reactor(true);
    trail[0] = '\0';
    check_err(weft_reactor_add_trigger(R, "shutdown", WEFT_PHASE_BEFORE, never_fires, NULL,
                                       "drain-queue", NULL),
              0);
    check_err(weft_reactor_add_trigger(R, "shutdown", WEFT_PHASE_AFTER, note_trigger, "after", NULL,
                                       NULL),
              0);
    check_err(weft_reactor_call_soon(R, stop_it, NULL), 0);
    check_err(weft_reactor_run(R), 0);
    check_str(trail, "stop jump after");
    check_int(nlogged, ==, 1);
    check(strstr(logged, "before-shutdown trigger drain-queue still pending at the 30s "
                         "deadline") != NULL);
    check_ptr(producer_saw, ==, &weft_cancelled_error_type);
    weft_deferred_unref(held);
    t_teardown(R);
    weft__log_reset();
}

static weft_deferred_t *custom_wait(void *arg)
{
    (void)arg;
    held = weft_deferred_new();
    return weft_deferred_ref(held);
}

static void test_event_busy(void)
{
    R = t_reactor(true);
    trail[0] = '\0';
    check_err(
        weft_reactor_add_trigger(R, "reload", WEFT_PHASE_BEFORE, custom_wait, NULL, NULL, NULL), 0);
    check_err(weft_reactor_add_trigger(R, "reload", WEFT_PHASE_AFTER, note_trigger, "reloaded",
                                       NULL, NULL),
              0);
    check_err(weft_reactor_fire_event(R, "reload"), 0);
    check_err(weft_reactor_fire_event(R, "reload"), WEFT_EALREADY);
    check_err(weft_reactor_free(R), WEFT_EBUSY); /* the event still waits */
    check_str(trail, "");
    check_err(weft_deferred_callback(held, NULL, NULL), 0);
    weft_deferred_unref(held);
    check_str(trail, "reloaded");
    check_err(weft_reactor_fire_event(R, NULL), WEFT_EINVAL);
    t_teardown(R);
}

int main(void)
{
    TEST(test_phases_and_order(), "an event runs before, during and after triggers in the order "
                                  "added, once each, including one added while its phase runs");
    TEST(test_remove(), "a removed trigger never runs; removing one that ran gives WEFT_EALREADY");
    TEST(test_startup(), "call_when_running waits for startup, and runs at once when running");
    TEST(test_shutdown_waits(),
         "shutdown waits for a before trigger's deferred while the loop keeps serving, and "
         "running is false from the during phase");
    TEST(test_shutdown_failed_before(),
         "a failed before-shutdown deferred is logged once and does not block shutdown");
    TEST(test_shutdown_deadline(),
         "at the shutdown deadline a late trigger is named in the log, its deferred cancelled, "
         "and shutdown goes on");
    TEST(test_event_busy(), "an event cannot fire twice at once, and free waits for it");
    return done_testing();
}
