/* SPDX-License-Identifier: MIT */
/* Services, MultiService trees and TimerService, on the manual clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/deferred.h>
#include <weft/error.h>
#include <weft/failure.h>
#include <weft/log.h>
#include <weft/service.h>
#include <weft/time.h>
#include <weft/timer-service.h>

#include "helpers.h"
#include "tap.h"

static weft_reactor_t *R;

/* ---------------------------------------------------------------- an event trail */

static char trail[1024];

static void note_event(const char *what, const weft_service_t *s)
{
    size_t len = strlen(trail);
    snprintf(trail + len, sizeof(trail) - len, "%s%s:%s", len ? " " : "", what,
             weft_service_name(s));
}

/* A recording service: its data says how its stop ends. */
typedef struct {
    int start_rc;
    bool stop_fails;
    bool stop_waits; /* stop returns `pending`, fired by the test */
    weft_deferred_t *pending;
    int freed;
} rec_t;

static int rec_start(weft_service_t *s)
{
    rec_t *r = weft_service_get_data(s);
    note_event("start", s);
    return r->start_rc;
}

static weft_result_t rec_stop(weft_service_t *s)
{
    rec_t *r = weft_service_get_data(s);
    note_event("stop", s);
    if (r->stop_fails)
        return weft_fail_new(&weft_error_type, WEFT_EIO, "disk on fire");
    if (r->stop_waits) {
        r->pending = weft_deferred_new();
        return weft_wait_for(weft_deferred_ref(r->pending));
    }
    return weft_ok(NULL, NULL);
}

static void rec_free(weft_service_t *s)
{
    rec_t *r = weft_service_get_data(s);
    r->freed++;
}

static const weft_service_ops_t rec_ops = {rec_start, rec_stop, rec_free};

static weft_service_t *rec(const char *name, rec_t *r)
{
    memset(r, 0, sizeof(*r));
    int err = 0;
    weft_service_t *s = weft_service_new(R, name, &rec_ops, r, &err);
    if (s == NULL)
        bail_out("weft_service_new: %s", weft_strerror(err));
    return s;
}

static weft_service_t *multi(const char *name)
{
    int err = 0;
    weft_service_t *s = weft_multi_service_new(R, name, &err);
    if (s == NULL)
        bail_out("weft_multi_service_new: %s", weft_strerror(err));
    return s;
}

static void add(weft_service_t *parent, weft_service_t *child)
{
    int rc = weft_service_add(parent, child);
    if (rc != 0)
        bail_out("weft_service_add: %s", weft_strerror(rc));
}

/* ---------------------------------------------------------------- a result catcher */

typedef struct {
    int fired;
    bool failed;
    const weft_failure_type_t *type;
    int code;
    char text[2048];
} catch_t;

static weft_result_t catch_both(weft_result_t res, void *arg)
{
    catch_t *c = arg;
    c->fired++;
    if (res.kind == WEFT_RESULT_FAILURE) {
        c->failed = true;
        c->type = weft_failure_type(res.failure);
        c->code = weft_failure_code(res.failure);
        weft_failure_format(res.failure, c->text, sizeof(c->text));
    }
    weft_result_free(res);
    return weft_ok(NULL, NULL);
}

static void catch_on(weft_deferred_t *d, catch_t *c)
{
    memset(c, 0, sizeof(*c));
    check_err(weft_deferred_add_both(d, catch_both, c), 0);
    weft_deferred_unref(d);
}

/* ---------------------------------------------------------------- a log catcher */

static char logged[4096];

static void log_sink(const weft_log_record_t *rec, void *arg)
{
    (void)arg;
    size_t len = strlen(logged);
    snprintf(logged + len, sizeof(logged) - len, "%s[%s] %s\n", weft_log_level_name(rec->level),
             rec->component, rec->message);
}

static void begin(void)
{
    trail[0] = '\0';
    logged[0] = '\0';
    weft_log_set_sink(log_sink, NULL);
    R = t_reactor(true);
}

static void end(void)
{
    weft_log_set_sink(NULL, NULL);
    t_teardown(R);
}

/* ---------------------------------------------------------------- tests */

static void test_nested_order(void)
{
    begin();
    rec_t ra, rb, rc, rd;
    weft_service_t *root = multi("root");
    weft_service_t *inner = multi("inner");
    add(root, rec("a", &ra));
    add(inner, rec("b", &rb));
    add(inner, rec("c", &rc));
    add(root, inner);
    add(root, rec("d", &rd));
    check_err(weft_service_start(root), 0);
    check_str(trail, "start:a start:b start:c start:d");
    check(weft_service_is_running(root) && weft_service_is_running(inner));
    trail[0] = '\0';
    weft_deferred_t *done = NULL;
    catch_t c;
    check_err(weft_service_stop(root, &done), 0);
    catch_on(done, &c);
    check_str(trail, "stop:d stop:c stop:b stop:a");
    check_int(c.fired, ==, 1);
    check(!c.failed);
    check(!weft_service_is_running(root) && !weft_service_is_stopping(root));
    check_err(weft_service_free(root), 0);
    check_int(ra.freed + rb.freed + rc.freed + rd.freed, ==, 4);
    end();
}

static void test_waits_for_every_child(void)
{
    begin();
    rec_t ra, rb;
    weft_service_t *root = multi("root");
    add(root, rec("a", &ra));
    add(root, rec("b", &rb));
    ra.stop_waits = rb.stop_waits = true;
    check_err(weft_service_start(root), 0);
    weft_deferred_t *done = NULL;
    catch_t c;
    check_err(weft_service_stop(root, &done), 0);
    catch_on(done, &c);
    check(weft_service_is_stopping(root));
    check_err(weft_deferred_callback(rb.pending, NULL, NULL), 0);
    check_int(c.fired, ==, 0);
    check_err(weft_service_free(root), WEFT_EBUSY);
    check_err(weft_deferred_callback(ra.pending, NULL, NULL), 0);
    check_int(c.fired, ==, 1);
    check(!c.failed);
    check(!weft_service_is_stopping(root));
    weft_deferred_unref(ra.pending);
    weft_deferred_unref(rb.pending);
    check_err(weft_service_free(root), 0);
    end();
}

static void test_failing_child(void)
{
    begin();
    rec_t ra, rb, rc;
    weft_service_t *root = multi("root");
    add(root, rec("a", &ra));
    add(root, rec("b", &rb));
    add(root, rec("c", &rc));
    rb.stop_fails = true;
    check_err(weft_service_start(root), 0);
    trail[0] = '\0';
    weft_deferred_t *done = NULL;
    catch_t c;
    check_err(weft_service_stop(root, &done), 0);
    catch_on(done, &c);
    check_str(trail, "stop:c stop:b stop:a");
    check_int(c.fired, ==, 1);
    check(c.failed);
    check_ptr(c.type, ==, &weft_service_error_type);
    check_err(c.code, WEFT_EIO);
    check(strstr(c.text, "1 of 3 services of root failed to stop: b: weft.Error: disk on fire") !=
          NULL);
    check(strstr(logged, "service b failed to stop") != NULL);
    check(!weft_service_is_running(weft_service_get_child(root, "a")));
    check_err(weft_service_free(root), 0);
    end();
}

static void test_two_failures_gathered(void)
{
    begin();
    rec_t ra, rb, rc;
    weft_service_t *root = multi("root");
    weft_service_t *inner = multi("inner");
    add(root, rec("a", &ra));
    add(inner, rec("b", &rb));
    add(root, inner);
    add(root, rec("c", &rc));
    ra.stop_fails = rb.stop_fails = true;
    check_err(weft_service_start(root), 0);
    weft_deferred_t *done = NULL;
    catch_t c;
    check_err(weft_service_stop(root, &done), 0);
    catch_on(done, &c);
    check(c.failed);
    check(strstr(c.text, "2 of 3 services of root failed to stop") != NULL);
    check(strstr(c.text, "a: weft.Error: disk on fire") != NULL);
    check(strstr(c.text, "inner: weft.ServiceError: 1 of 1 services of inner failed to stop: b:") !=
          NULL);
    check_err(weft_service_free(root), 0);
    end();
}

static void test_stop_without_done_logs_failure(void)
{
    begin();
    rec_t ra;
    weft_service_t *a = rec("a", &ra);
    ra.stop_fails = true;
    check_err(weft_service_start(a), 0);
    check_err(weft_service_stop(a, NULL), 0);
    check(strstr(logged, "Unhandled error in Deferred") != NULL);
    check(strstr(logged, "disk on fire") != NULL);
    check_err(weft_service_free(a), 0);
    end();
}

static void test_remove_while_running(void)
{
    begin();
    rec_t ra, rb;
    weft_service_t *root = multi("root");
    weft_service_t *a = rec("a", &ra);
    add(root, a);
    add(root, rec("b", &rb));
    ra.stop_waits = true;
    check_err(weft_service_start(root), 0);
    trail[0] = '\0';
    weft_deferred_t *done = NULL;
    catch_t c;
    check_err(weft_service_remove(a, &done), 0);
    check_str(trail, "stop:a");
    check_ptr(weft_service_parent(a), ==, NULL);
    check_uint(weft_service_child_count(root), ==, 1);
    check_ptr(weft_service_get_child(root, "a"), ==, NULL);
    check(done != NULL);
    catch_on(done, &c);
    check_int(c.fired, ==, 0);
    check_err(weft_service_free(a), WEFT_EBUSY); /* still stopping */
    check_err(weft_deferred_callback(ra.pending, NULL, NULL), 0);
    check_int(c.fired, ==, 1);
    weft_deferred_unref(ra.pending);
    check_err(weft_service_free(a), 0);
    check_int(ra.freed, ==, 1);
    check(weft_service_is_running(root));
    check_err(weft_service_stop(root, NULL), 0);
    check_err(weft_service_free(root), 0);
    end();
}

static void test_remove_while_stopped(void)
{
    begin();
    rec_t ra;
    weft_service_t *root = multi("root");
    weft_service_t *a = rec("a", &ra);
    add(root, a);
    weft_deferred_t *done = (weft_deferred_t *)&done;
    check_err(weft_service_remove(a, &done), 0);
    check_ptr(done, ==, NULL);
    check_str(trail, "");
    check_err(weft_service_remove(a, &done), WEFT_EINVAL);
    check_err(weft_service_free(a), 0);
    check_err(weft_service_free(root), 0);
    end();
}

static void test_add_to_running_starts(void)
{
    begin();
    rec_t ra, rb;
    weft_service_t *root = multi("root");
    add(root, rec("a", &ra));
    check_err(weft_service_start(root), 0);
    weft_service_t *b = rec("b", &rb);
    add(root, b);
    check_str(trail, "start:a start:b");
    check(weft_service_is_running(b));
    /* A child whose start fails is taken out again and stays the caller's. */
    rec_t rf;
    weft_service_t *f = rec("f", &rf);
    rf.start_rc = WEFT_EACCES;
    check_err(weft_service_add(root, f), WEFT_EACCES);
    check_ptr(weft_service_parent(f), ==, NULL);
    check_uint(weft_service_child_count(root), ==, 2);
    check(!weft_service_is_running(f));
    check_err(weft_service_free(f), 0);
    check_err(weft_service_stop(root, NULL), 0);
    check_err(weft_service_free(root), 0);
    end();
}

/* A child whose start stops its parent (say, it finds the configuration unusable). */
static weft_deferred_t *parent_stop;

static int stop_parent_start(weft_service_t *s)
{
    note_event("start", s);
    check_err(weft_service_stop(weft_service_parent(s), &parent_stop), 0);
    return 0;
}

static const weft_service_ops_t stop_parent_ops = {stop_parent_start, NULL, NULL};

static void test_parent_stopped_in_child_start(void)
{
    begin();
    rec_t rb;
    weft_service_t *root = multi("root");
    weft_service_t *a = weft_service_new(R, "a", &stop_parent_ops, NULL, NULL);
    weft_service_t *b = rec("b", &rb);
    add(root, a);
    add(root, b);
    parent_stop = NULL;
    check_err(weft_service_start(root), 0);
    check_str(trail, "start:a");
    check(!weft_service_is_running(root));
    check(!weft_service_is_running(a));
    check(!weft_service_is_running(b));
    if (check_ptr(parent_stop, !=, NULL)) {
        catch_t c;
        catch_on(parent_stop, &c);
        check_int(c.fired, ==, 1);
        check(!c.failed);
    }
    int rc = weft_service_free(root);
    check_err(rc, 0);
    if (rc != 0) {
        if (weft_service_stop(b, NULL) == 0)
            rc = weft_service_free(root);
    }
    end();
}

/* A child whose start takes it out of its parent (a one-shot setup step). */
static int remove_self_start(weft_service_t *s)
{
    note_event("start", s);
    weft_deferred_t *d = NULL;
    check_err(weft_service_remove(s, &d), 0);
    weft_deferred_unref(d);
    return 0;
}

static const weft_service_ops_t remove_self_ops = {remove_self_start, NULL, NULL};

static void test_child_removing_itself_in_start(void)
{
    begin();
    rec_t rb, rc_;
    weft_service_t *root = multi("root");
    weft_service_t *a = weft_service_new(R, "a", &remove_self_ops, NULL, NULL);
    weft_service_t *b = rec("b", &rb);
    weft_service_t *c = rec("c", &rc_);
    add(root, a);
    add(root, b);
    add(root, c);
    check_err(weft_service_start(root), 0);
    check_str(trail, "start:a start:b start:c");
    check(weft_service_is_running(b));
    check(weft_service_is_running(c));
    check_uint(weft_service_child_count(root), ==, 2);
    check_err(weft_service_stop(root, NULL), 0);
    check_err(weft_service_free(root), 0);
    check_err(weft_service_free(a), 0);
    end();
}

static void test_add_multi_partly_started(void)
{
    begin();
    rec_t ra, rx, ry;
    weft_service_t *root = multi("root");
    add(root, rec("a", &ra));
    check_err(weft_service_start(root), 0);
    weft_service_t *m = multi("m");
    add(m, rec("x", &rx));
    add(m, rec("y", &ry));
    ry.start_rc = WEFT_EACCES;
    check_err(weft_service_add(root, m), WEFT_EACCES);
    check_str(trail, "start:a start:x start:y stop:x");
    check_ptr(weft_service_parent(m), ==, NULL);
    check(!weft_service_is_running(m));
    check(!weft_service_is_running(weft_service_get_child(m, "x")));
    check_err(weft_service_free(m), 0);
    check_int(rx.freed, ==, 1);
    check_err(weft_service_stop(root, NULL), 0);
    check_err(weft_service_free(root), 0);
    end();
}

static void test_lookup(void)
{
    begin();
    rec_t ra, rb, rx, ru1, ru2;
    weft_service_t *root = multi("root");
    weft_service_t *a = rec("a", &ra);
    add(root, a);
    add(root, rec("b", &rb));
    add(root, rec(NULL, &ru1));
    add(root, rec(NULL, &ru2)); /* unnamed children never clash */
    check_ptr(weft_service_get_child(root, "a"), ==, a);
    check_ptr(weft_service_get_child(root, "zzz"), ==, NULL);
    check_ptr(weft_service_get_child(root, NULL), ==, NULL);
    check_uint(weft_service_child_count(root), ==, 4);
    check_ptr(weft_service_child_at(root, 0), ==, a);
    check_ptr(weft_service_child_at(root, 4), ==, NULL);
    check_ptr(weft_service_parent(a), ==, root);
    weft_service_t *x = rec("a", &rx);
    check_err(weft_service_add(root, x), WEFT_EEXIST);
    check_err(weft_service_set_name(a, "other"), WEFT_EBUSY);
    check_str(weft_service_name(a), "a");
    check_err(weft_service_set_name(x, "x"), 0);
    check_str(weft_service_name(x), "x");
    add(root, x);
    check_ptr(weft_service_get_child(root, "x"), ==, x);
    check_err(weft_service_free(root), 0);
    end();
}

static void test_misuse(void)
{
    begin();
    rec_t ra;
    weft_service_t *root = multi("root");
    weft_service_t *a = rec("a", &ra);
    check_err(weft_service_add(a, root), WEFT_EINVAL); /* a is not a multi service */
    check_err(weft_service_add(root, root), WEFT_EINVAL);
    weft_service_t *inner = multi("inner");
    add(root, inner);
    check_err(weft_service_add(inner, root), WEFT_EINVAL); /* a cycle */
    add(inner, a);
    weft_service_t *other = multi("other");
    check_err(weft_service_add(other, a), WEFT_EBUSY); /* has a parent */
    check_err(weft_service_free(a), WEFT_EBUSY);
    check_err(weft_service_stop(root, NULL), WEFT_ENOTRUNNING);
    check_err(weft_service_start(root), 0);
    check_err(weft_service_start(root), WEFT_EALREADY);
    check_err(weft_service_free(root), WEFT_EBUSY);
    check_err(weft_service_stop(root, NULL), 0);
    check_err(weft_service_free(NULL), 0);
    check_err(weft_service_free(other), 0);
    check_err(weft_service_free(root), 0);
    int err = 0;
    check_ptr(weft_service_new(R, "x", NULL, NULL, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    end();
}

static void test_start_failure_stops_the_loop(void)
{
    begin();
    rec_t ra, rb, rc;
    weft_service_t *root = multi("root");
    add(root, rec("a", &ra));
    add(root, rec("b", &rb));
    add(root, rec("c", &rc));
    rb.start_rc = WEFT_EADDRINUSE;
    check_err(weft_service_start(root), WEFT_EADDRINUSE);
    check_str(trail, "start:a start:b");
    check(strstr(logged, "service b failed to start") != NULL);
    check(weft_service_is_running(root));
    check(!weft_service_is_running(weft_service_get_child(root, "c")));
    trail[0] = '\0';
    check_err(weft_service_stop(root, NULL), 0);
    check_str(trail, "stop:a");
    check_err(weft_service_free(root), 0);
    end();
}

static void test_restart(void)
{
    begin();
    rec_t ra;
    weft_service_t *root = multi("root");
    add(root, rec("a", &ra));
    check_err(weft_service_start(root), 0);
    check_err(weft_service_stop(root, NULL), 0);
    check_err(weft_service_start(root), 0);
    check_err(weft_service_stop(root, NULL), 0);
    check_str(trail, "start:a stop:a start:a stop:a");
    check_err(weft_service_free(root), 0);
    end();
}

static void test_cancel_stop(void)
{
    begin();
    rec_t ra, rb;
    weft_service_t *root = multi("root");
    add(root, rec("a", &ra));
    add(root, rec("b", &rb));
    rb.stop_waits = true;
    check_err(weft_service_start(root), 0);
    weft_deferred_t *done = NULL;
    check_err(weft_service_stop(root, &done), 0);
    catch_t c;
    weft_deferred_ref(done);
    catch_on(done, &c);
    check_err(weft_deferred_cancel(done), 0);
    weft_deferred_unref(done);
    check_int(c.fired, ==, 1);
    check(c.failed);
    check(strstr(c.text, "b: weft.CancelledError") != NULL);
    check(!weft_service_is_stopping(weft_service_get_child(root, "b")));
    weft_deferred_unref(rb.pending);
    check_err(weft_service_free(root), 0);
    end();
}

static weft_service_t *sibling;
static int remove_rc;

static weft_result_t remover_stop(weft_service_t *s)
{
    (void)s;
    remove_rc = weft_service_remove(sibling, NULL);
    return weft_ok(NULL, NULL);
}

static const weft_service_ops_t remover_ops = {NULL, remover_stop, NULL};

static void test_remove_during_parent_stop(void)
{
    begin();
    rec_t ra;
    weft_service_t *root = multi("root");
    sibling = rec("a", &ra);
    add(root, sibling);
    int err = 0;
    weft_service_t *remover = weft_service_new(R, "remover", &remover_ops, NULL, &err);
    add(root, remover);
    check_err(weft_service_start(root), 0);
    remove_rc = 0;
    check_err(weft_service_stop(root, NULL), 0);
    check_err(remove_rc, WEFT_EBUSY);
    check_ptr(weft_service_parent(sibling), ==, root);
    check_str(trail, "start:a stop:a");
    check_err(weft_service_free(root), 0);
    end();
}

/* ---------------------------------------------------------------- TimerService */

static int ticks;
static bool tick_fails;
static weft_deferred_t *tick_pending;

static weft_result_t tick(void *arg)
{
    (void)arg;
    ticks++;
    if (tick_fails)
        return weft_fail_new(&weft_error_type, WEFT_EIO, "tick broke");
    if (tick_pending != NULL)
        return weft_wait_for(weft_deferred_ref(tick_pending));
    return weft_ok(NULL, NULL);
}

static weft_service_t *timer(double interval)
{
    ticks = 0;
    tick_fails = false;
    tick_pending = NULL;
    int err = 0;
    weft_service_t *s = weft_timer_service_new(R, "tick", interval, tick, NULL, &err);
    if (s == NULL)
        bail_out("weft_timer_service_new: %s", weft_strerror(err));
    return s;
}

static void test_timer_calls(void)
{
    begin();
    weft_service_t *s = timer(1.0);
    check_err(weft_service_start(s), 0);
    check_int(ticks, ==, 1); /* now=True */
    check_err(weft_reactor_advance(R, 1.0), 0);
    check_err(weft_reactor_advance(R, 1.0), 0);
    check_int(ticks, ==, 3);
    weft_deferred_t *done = NULL;
    catch_t c;
    check_err(weft_service_stop(s, &done), 0);
    catch_on(done, &c);
    check_int(c.fired, ==, 1);
    check(!c.failed);
    check_err(weft_reactor_advance(R, 5.0), 0);
    check_int(ticks, ==, 3);
    check_err(weft_service_start(s), 0); /* a new looping call */
    check_int(ticks, ==, 4);
    check_err(weft_service_stop(s, NULL), 0);
    check_err(weft_service_free(s), 0);
    end();
}

static void test_timer_failure_logged(void)
{
    begin();
    weft_service_t *s = timer(1.0);
    check_err(weft_service_start(s), 0);
    tick_fails = true;
    check_err(weft_reactor_advance(R, 1.0), 0);
    check_int(ticks, ==, 2);
    check(strstr(logged, "timer service tick: its function failed, the loop is not restarted") !=
          NULL);
    check(strstr(logged, "tick broke") != NULL);
    check_err(weft_reactor_advance(R, 3.0), 0);
    check_int(ticks, ==, 2);
    check(weft_service_is_running(s));
    weft_deferred_t *done = NULL;
    catch_t c;
    check_err(weft_service_stop(s, &done), 0);
    catch_on(done, &c);
    check_int(c.fired, ==, 1);
    check(!c.failed);
    check_err(weft_service_free(s), 0);
    end();
}

static void test_timer_stop_waits_for_call_in_flight(void)
{
    begin();
    weft_service_t *s = timer(1.0);
    tick_pending = weft_deferred_new();
    check_err(weft_service_start(s), 0);
    weft_deferred_t *done = NULL;
    catch_t c;
    check_err(weft_service_stop(s, &done), 0);
    catch_on(done, &c);
    check_int(c.fired, ==, 0);
    check(weft_service_is_stopping(s));
    check_err(weft_deferred_callback(tick_pending, NULL, NULL), 0);
    check_int(c.fired, ==, 1);
    check(!weft_service_is_stopping(s));
    weft_deferred_unref(tick_pending);
    check_err(weft_service_free(s), 0);
    end();
}

static void test_timer_bad_interval(void)
{
    begin();
    int err = 0;
    check_ptr(weft_timer_service_new(R, "t", -1.0, tick, NULL, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    check_ptr(weft_timer_service_new(R, "t", 1.0, NULL, NULL, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    end();
}

int main(void)
{
    TEST(test_nested_order(),
         "nested multi services start in insertion order and stop in reverse order");
    TEST(test_waits_for_every_child(), "a multi service's stop deferred fires once every child "
                                       "has stopped, and free refuses while it is stopping");
    TEST(test_failing_child(), "a child whose stop fails is named in a weft.ServiceError and the "
                               "other children still stop");
    TEST(test_two_failures_gathered(),
         "every failing child of nested multi services is gathered into the stop failure");
    TEST(test_stop_without_done_logs_failure(),
         "a failed stop nobody waits for is logged as an unhandled error");
    TEST(test_remove_while_running(),
         "removing a running child stops it and hands back its stop deferred and ownership");
    TEST(test_remove_while_stopped(), "removing a stopped child gives no deferred");
    TEST(test_add_to_running_starts(), "adding a child to a running parent starts it at once; "
                                       "one that fails to start is taken out again");
    TEST(test_parent_stopped_in_child_start(),
         "a multi service stopped by a child's start starts none of its later children");
    TEST(test_child_removing_itself_in_start(),
         "a child that removes itself in its start does not make its next sibling be skipped");
    TEST(test_add_multi_partly_started(),
         "a multi child whose start fails partway is stopped when adding it fails, so it can be "
         "freed");
    TEST(test_lookup(), "children are found by name and position; duplicate names are refused");
    TEST(test_misuse(), "adding to a non-multi, cycles, double parents and freeing busy services "
                        "return errors");
    TEST(test_start_failure_stops_the_loop(),
         "a child failing to start leaves the later ones stopped and is logged");
    TEST(test_restart(), "a stopped multi service starts again");
    TEST(test_cancel_stop(),
         "cancelling a multi service's stop cancels the children still stopping");
    TEST(test_remove_during_parent_stop(),
         "a child's stop cannot remove a sibling while the parent's stop runs (WEFT_EBUSY)");
    TEST(test_timer_calls(), "a timer service calls at start and every interval until stopped");
    TEST(test_timer_failure_logged(),
         "a timer service's failing call is logged and the loop is not restarted");
    TEST(test_timer_stop_waits_for_call_in_flight(),
         "a timer service's stop deferred waits for the call in flight");
    TEST(test_timer_bad_interval(), "a timer service refuses a negative interval or no function");
    return done_testing();
}
