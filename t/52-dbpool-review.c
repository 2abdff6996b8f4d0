/* SPDX-License-Identifier: MIT */
/* The database pool's life cycle at its edges (on SQLite): a refused reactor free, a cancel
 * after the pool is gone, an interaction's arg after a cancel, free from the close callback,
 * and a connection closing for idleness while the loop submits. */
#include <errno.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <weft/dbpool.h>
#include <weft/error.h>
#include <weft/log.h>
#include <weft/time.h>

#include "../bridge/dbpool-internal.h"
#include "../common/fault-internal.h"
#include "helpers.h"
#include "tap.h"

static char dir[64];
static char db_conninfo[512];

/* ---------------------------------------------------------------- capturing a deferred */

typedef struct {
    int fired;
    weft_result_t res;
} cap_t;

static weft_result_t cap_both(weft_result_t res, void *arg)
{
    cap_t *c = arg;
    c->fired++;
    c->res = res;
    return weft_ok(NULL, NULL);
}

/* Adds the capture to d and drops the caller's reference. */
static void cap_on(weft_deferred_t *d, cap_t *c)
{
    memset(c, 0, sizeof(*c));
    if (d == NULL) {
        c->fired = 1;
        c->res = weft_fail_new(NULL, WEFT_EINVAL, "no deferred");
        return;
    }
    int rc = weft_deferred_add_both(d, cap_both, c);
    (void)rc;
    weft_deferred_unref(d);
}

static bool cap_wait(weft_reactor_t *r, cap_t *c)
{
    return check(t_run_until(r, &c->fired, 1000000)) && check_int(c->fired, ==, 1);
}

static const weft_failure_t *cap_failure(const cap_t *c)
{
    return c->res.kind == WEFT_RESULT_FAILURE ? c->res.failure : NULL;
}

static void cap_free(cap_t *c)
{
    weft_result_free(c->res);
    c->res = weft_ok(NULL, NULL);
}

static bool cap_ok(const cap_t *c)
{
    if (c->res.kind == WEFT_RESULT_VALUE)
        return true;
    char buf[512] = "";
    if (c->res.kind == WEFT_RESULT_FAILURE)
        weft_failure_format(c->res.failure, buf, sizeof(buf));
    diag("expected a value, got: %s", buf);
    return check(c->res.kind == WEFT_RESULT_VALUE);
}

static weft_dbpool_t *pool_with(weft_reactor_t *r, const weft_dbpool_options_t *o)
{
    int err = 0;
    weft_dbpool_t *p = weft_dbpool_new(r, &weft_db_sqlite, db_conninfo, o, &err);
    if (p == NULL)
        diag("weft_dbpool_new: %s", weft_err_name(err));
    return p;
}

static bool exec_ok(weft_reactor_t *r, weft_dbpool_t *p, const char *sql)
{
    cap_t c;
    cap_on(weft_dbpool_run_operation(p, sql, NULL, 0, NULL), &c);
    bool ok = cap_wait(r, &c) && cap_ok(&c);
    cap_free(&c);
    return ok;
}

static void pool_done(weft_reactor_t *r, weft_dbpool_t *p)
{
    cap_t c;
    cap_on(weft_dbpool_close(p, NULL), &c);
    if (cap_wait(r, &c))
        check(cap_ok(&c));
    cap_free(&c);
    check_err(weft_dbpool_free(p), 0);
}

static weft_dbpool_t *one_connection(weft_reactor_t *r)
{
    weft_dbpool_options_t o;
    weft_dbpool_options_init(&o);
    o.max_connections = 1;
    return pool_with(r, &o);
}

/* ---------------------------------------------------------------- a refused reactor free */

static weft_reactor_t *R;
static weft_dbpool_t *P;
static cap_t strand_cap;
static int gave_up, refusal_ran;
static uint64_t completed_before;

static uint64_t pool_completed(weft_dbpool_t *p)
{
    weft_pool_stats_t st;
    weft_pool_get_stats(p->pool, &st);
    return st.completed;
}

/* Run by weft_reactor_free's drain, the reactor's queue closed: a query. */
static void strand_call1(void *arg)
{
    (void)arg;
    cap_on(weft_dbpool_run_query(P, "SELECT 1", NULL, 0, NULL), &strand_cap);
}

static void refusal_done(void *arg)
{
    (void)arg;
    refusal_ran = 1;
}

/* Then: waits until the query's hook has run (its post refused), and leaves a delayed call
 * behind so that the free is refused and reopens the queue. */
static void strand_call2(void *arg)
{
    (void)arg;
    while (pool_completed(P) < completed_before + 1)
        sched_yield();
    int rc = weft_reactor_call_later(R, 0.001, refusal_done, NULL, NULL);
    (void)rc;
}

static void give_up(void *arg)
{
    (void)arg;
    gave_up = 1;
}

static void test_refused_free_strands_no_completion(void)
{
    R = t_reactor(false);
    P = one_connection(R);
    if (!check(P != NULL))
        return;
    check(exec_ok(R, P, "SELECT 1")); /* the connection is open */
    completed_before = pool_completed(P);
    check_int(weft_reactor_call_from_thread(R, strand_call1, NULL), ==, 0);
    check_int(weft_reactor_call_from_thread(R, strand_call2, NULL), ==, 0);
    weft_log_level_t saved = weft_log_get_level();
    weft_log_set_level(WEFT_LOG_OFF); /* the refusal is logged; keep the TAP output clean */
    check_err(weft_reactor_free(R), WEFT_EBUSY);
    weft_log_set_level(saved);
    /* The loop runs on: the query's completion comes without weft_dbpool_free. */
    weft_call_id_t guard;
    gave_up = 0;
    check_int(weft_reactor_call_later(R, 10.0, give_up, NULL, &guard), ==, 0);
    while (!strand_cap.fired && !gave_up)
        t_run_once(R);
    check_int(strand_cap.fired, ==, 1);
    check_int(gave_up, ==, 0);
    if (!gave_up)
        check_int(weft_delayed_call_cancel(R, guard), ==, 0);
    if (strand_cap.fired)
        check(cap_ok(&strand_cap));
    cap_free(&strand_cap);
    t_run_until(R, &refusal_ran, 1000000);
    pool_done(R, P);
    t_teardown(R);
}

/* ---------------------------------------------------------------- cancel after free */

static void test_cancel_after_free_leaves_pool_alone(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = one_connection(r);
    if (!check(p != NULL))
        return;
    weft_deferred_t *d = weft_dbpool_run_query(p, "SELECT 1", NULL, 0, NULL);
    check(d != NULL);
    /* Never closed: free closes it, waiting for the query; its completion is still queued
     * for the loop when free returns. */
    check_int(weft_dbpool_free(p), ==, 0);
    check(!weft_deferred_called(d));
    check_int(weft_deferred_cancel(d), ==, 0); /* ASan: no use of the freed weft pool */
    check(weft_deferred_called(d));
    cap_t c;
    cap_on(d, &c);
    check(cap_failure(&c) != NULL && weft_failure_is(cap_failure(&c), &weft_cancelled_error_type));
    cap_free(&c);
    t_teardown(r); /* the late result is freed */
}

/* ---------------------------------------------------------------- arg after a cancel */

static sem_t arg_running, arg_gate;
static atomic_int arg_freed, arg_used_after, arg_freed_before;

typedef struct {
    char text[32];
} arg_t;

static void arg_release(void *v)
{
    atomic_fetch_add(&arg_freed, 1);
    free(v);
}

static weft_result_t use_arg(weft_db_conn_t *conn, void *v)
{
    (void)conn;
    arg_t *a = v;
    sem_post(&arg_running);
    sem_wait(&arg_gate); /* the loop cancels meanwhile */
    if (atomic_load(&arg_freed) == atomic_load(&arg_freed_before) &&
        strlen(a->text) == 5) /* ASan: a is still alive */
        atomic_fetch_add(&arg_used_after, 1);
    return weft_ok(NULL, NULL);
}

static void test_arg_free_after_cancel_of_running(void)
{
    sem_init(&arg_running, 0, 0);
    sem_init(&arg_gate, 0, 0);
    atomic_store(&arg_freed, 0);
    atomic_store(&arg_used_after, 0);
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = one_connection(r);
    if (!check(p != NULL))
        return;
    for (int i = 0; i < 2; i++) {
        bool tx = i == 0;
        atomic_store(&arg_freed_before, i);
        arg_t *a = malloc(sizeof(*a));
        snprintf(a->text, sizeof(a->text), "hello");
        weft_deferred_t *d =
            tx ? weft_dbpool_run_interaction_ex(p, use_arg, a, arg_release, NULL)
               : weft_dbpool_run_with_connection_ex(p, use_arg, a, arg_release, NULL);
        cap_t c;
        weft_deferred_ref(d);
        cap_on(d, &c);
        sem_wait(&arg_running);
        check_int(weft_deferred_cancel(d), ==, 0);
        weft_deferred_unref(d);
        check_int(c.fired, ==, 1); /* at once, fn still running */
        check(cap_failure(&c) != NULL &&
              weft_failure_is(cap_failure(&c), &weft_cancelled_error_type));
        cap_free(&c);
        check_int(atomic_load(&arg_freed), ==, i); /* not yet: fn has it */
        sem_post(&arg_gate);
        /* Freed on the loop once fn has returned. */
        for (int k = 0; k < 1000000 && atomic_load(&arg_freed) == i; k++)
            t_run_once(r);
        check_int(atomic_load(&arg_freed), ==, i + 1);
        check_int(atomic_load(&arg_used_after), ==, i + 1);
    }
    /* Refused calls take arg too. */
    arg_t *a = malloc(sizeof(*a));
    check_ptr(weft_dbpool_run_interaction_ex(p, NULL, a, arg_release, NULL), ==, NULL);
    check_int(atomic_load(&arg_freed), ==, 3);
    pool_done(r, p);
    a = malloc(sizeof(*a));
    weft_dbpool_t *q = one_connection(r);
    weft_deferred_t *d = weft_dbpool_close(q, NULL);
    cap_t c;
    cap_on(d, &c);
    cap_wait(r, &c);
    cap_free(&c);
    cap_on(weft_dbpool_run_with_connection_ex(q, use_arg, a, arg_release, NULL), &c);
    check_int(atomic_load(&arg_freed), ==, 4); /* after close: refused, arg freed */
    cap_wait(r, &c);
    check(cap_failure(&c) != NULL);
    cap_free(&c);
    check_int(weft_dbpool_free(q), ==, 0);
    t_teardown(r);
    sem_destroy(&arg_running);
    sem_destroy(&arg_gate);
}

/* ---------------------------------------------------------------- free in the close callback */

typedef struct {
    weft_reactor_t *r;
    weft_dbpool_t *p;
    int rc;
    int fired;
} closing_t;

static weft_result_t free_when_closed(weft_result_t res, void *arg)
{
    closing_t *c = arg;
    weft_result_free(res);
    c->rc = weft_dbpool_free(c->p); /* "free it once the close deferred has fired" */
    c->fired = 1;
    return weft_ok(NULL, NULL);
}

static void test_free_from_close_callback(void)
{
    int busy = 0, n = t_under_valgrind() ? 20 : 200;
    for (int i = 0; i < n; i++) {
        closing_t c = {.r = t_reactor(false), .rc = -1};
        c.p = one_connection(c.r);
        if (!check(c.p != NULL))
            return;
        weft_deferred_t *d = weft_dbpool_close(c.p, NULL);
        if (!check(d != NULL) || !check_int(weft_deferred_add_both(d, free_when_closed, &c), ==, 0))
            return;
        weft_deferred_unref(d);
        t_run_until(c.r, &c.fired, 1000000);
        if (c.rc == WEFT_EBUSY) {
            busy++;
            while ((c.rc = weft_dbpool_free(c.p)) == WEFT_EBUSY)
                t_run_once(c.r);
        }
        check_int(c.rc, ==, 0);
        t_teardown(c.r);
    }
    check_int(busy, ==, 0);
}

/* ---------------------------------------------------------------- an idle close */

static sem_t idle_closing, idle_gate;
static atomic_int idle_disconnects, idle_closed;

static void slow_disconnect(weft_db_conn_t *conn, void *arg)
{
    (void)conn;
    (void)arg;
    if (atomic_fetch_add(&idle_disconnects, 1) != 0)
        return;
    sem_post(&idle_closing);
    /* Stands for a slow close (a checkpoint, a network round trip). Bounded, so that a loop
     * that waits for it fails the test instead of hanging it. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    while (sem_timedwait(&idle_gate, &until) != 0 && errno == EINTR)
        ;
    atomic_store(&idle_closed, 1);
}

static void test_idle_close_never_blocks_submit(void)
{
    sem_init(&idle_closing, 0, 0);
    sem_init(&idle_gate, 0, 0);
    atomic_store(&idle_disconnects, 0);
    atomic_store(&idle_closed, 0);
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_options_t o;
    weft_dbpool_options_init(&o);
    o.min_connections = 0;
    o.max_connections = 1;
    o.idle_timeout_ms = 10;
    o.on_disconnect = slow_disconnect;
    weft_dbpool_t *p = pool_with(r, &o);
    if (!check(p != NULL))
        return;
    check(exec_ok(r, p, "SELECT 1"));
    sem_wait(&idle_closing); /* the thread timed out and is closing its connection */
    cap_t c;
    cap_on(weft_dbpool_run_query(p, "SELECT 1", NULL, 0, NULL), &c);
    check_int(atomic_load(&idle_closed), ==, 0); /* the submit did not wait for the close */
    sem_post(&idle_gate);
    if (cap_wait(r, &c))
        check(cap_ok(&c));
    cap_free(&c);
    pool_done(r, p);
    t_teardown(r);
    sem_destroy(&idle_closing);
    sem_destroy(&idle_gate);
}

/* ---------------------------------------------------------------- close out of memory */

static void test_close_out_of_memory_leaves_pool_open(void)
{
#ifdef WEFT_FAULT_INJECTION
    int refused = 0;
    for (unsigned long n = 1; n < 64; n++) {
        weft_reactor_t *r = t_reactor(false);
        weft_dbpool_t *p = one_connection(r);
        if (!check(p != NULL) || !check(weft_reactor_default_pool(r, WEFT_POOL_KIND_IO, NULL)))
            return;
        check(exec_ok(r, p, "SELECT 1"));
        int err = 0;
        weft__fault_alloc_arm(n);
        weft_deferred_t *d = weft_dbpool_close(p, &err);
        bool reached = weft__fault_alloc_count() >= n;
        weft__fault_alloc_arm(0);
        if (d == NULL) {
            refused++;
            check_err(err, WEFT_ENOMEM);
            /* Nothing changed: the pool still takes calls, and close may be called again. */
            check(exec_ok(r, p, "SELECT 1"));
            pool_done(r, p);
        } else {
            cap_t c;
            cap_on(d, &c);
            cap_wait(r, &c);
            cap_free(&c);
            int rc;
            while ((rc = weft_dbpool_free(p)) == WEFT_EBUSY)
                t_run_once(r);
            check_err(rc, 0);
        }
        t_teardown(r);
        if (!reached)
            break;
    }
    check_int(refused, >, 0);
#else
    t_skip("fault injection is compiled into the debug and asan builds only (make asan)");
#endif
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/weft-review-XXXXXX");
    if (mkdtemp(dir) == NULL)
        bail_out("mkdtemp failed");
    snprintf(db_conninfo, sizeof(db_conninfo), "%s/test.db", dir);
    TEST(test_refused_free_strands_no_completion(),
         "a completion refused during a refused reactor free is delivered once it reopens");
    TEST(test_cancel_after_free_leaves_pool_alone(),
         "cancelling a call after weft_dbpool_free leaves the freed pool alone");
    TEST(test_arg_free_after_cancel_of_running(),
         "the _ex calls free arg after the job, also when a cancel fired the deferred");
    TEST(test_free_from_close_callback(),
         "weft_dbpool_free from the close deferred's callback releases the pool");
    TEST(test_idle_close_never_blocks_submit(),
         "a submit on the loop never waits for an idle connection's close");
    TEST(test_close_out_of_memory_leaves_pool_open(),
         "a close refused for want of memory leaves the pool open");
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return done_testing();
}
