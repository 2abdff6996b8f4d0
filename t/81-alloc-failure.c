/* SPDX-License-Identifier: MIT */
/* Allocation-failure walk: every allocation of a representative scenario fails in turn. */
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft/bridge.h>
#include <weft/dbpool.h>
#include <weft/deferred.h>
#include <weft/error.h>
#include <weft/failure.h>
#include <weft/framed.h>
#include <weft/log.h>
#include <weft/reactor.h>
#include <weft/tcp.h>
#include <weft/threadpool.h>
#include <weft/transport.h>

#include "../common/fault-internal.h"
#include "helpers.h"
#include "net-helpers.h"
#include "tap.h"

#ifndef WEFT_FAULT_INJECTION
int main(void)
{
    skip_all("fault injection is compiled into the debug and asan builds only (make asan)");
}
#else

/*
 * The scenario (run_scenario): make a reactor and a pool, offload jobs to the pool and to the
 * default CPU pool, chain two deferreds, listen on loopback with a line echo server, connect,
 * send a line and read it back, run a query on an SQLite database pool, then shut everything
 * down. The walk runs it once per N in a forked child, with the N-th weft allocation armed to
 * fail (common/fault-internal.h), until a run never reaches N. For each N the child must:
 *   - end: a watchdog alarm kills a hang (the parent reports the N);
 *   - report the failure to the caller: a constructor's error, a failed deferred, a lost
 *     connection; or recover from it by itself (the bridge's retry of call_from_thread);
 *   - release everything: weft_reactor_free returns 0 and, under ASan, LeakSanitizer finds
 *     nothing at the child's exit (it aborts the child otherwise);
 *   - not crash.
 * The first completion of an offload posts to the loop through weft_reactor_call_from_thread
 * from a worker, whose first call allocates the thread-call array: the walk fails that
 * allocation too, which sends the bridge's post_drain down its ENOMEM retry path.

 */

enum { JOBS = 3 };

/* How a child ends; anything else (a signal, another code) is a bug at that N. */
enum {
    CHILD_RECOVERED = 10, /* the failure was reached and everything still succeeded */
    CHILD_REPORTED = 11,  /* the failure was reached and reported to the caller */
    CHILD_UNREACHED = 12, /* the scenario made fewer than N allocations: the walk is over */
    CHILD_CLEAN = 13,     /* no failure armed (N = 0) and everything succeeded */
    CHILD_BAD = 14,       /* an invariant broke (printed on stderr) */
};

typedef struct {
    weft_reactor_t *r;
    int errors;           /* errors and failures reported to the scenario */
    int offloads_done;    /* offload deferreds that fired (value or failure) */
    int offloads_started; /* offload deferreds made */
    int chain_done;
    int echo_done; /* the client got its line back, or its connection failed or was lost */
    int conn_lost; /* the client's connection_lost ran (or it never connected) */
    int listener_stopped;
    int db_done;
    weft_framed_t *client;
    weft_listener_t *l;
    bool bad;
} scen_t;

static void bad(scen_t *s, const char *what)
{
    s->bad = true;
    /* Straight to stderr: the parent shows it with the N. */
    diag("%s", what);
}

/* ---------------------------------------------------------------- offloads and deferreds */

static weft_result_t job(void *arg)
{
    int *v = malloc(sizeof(*v));
    if (v == NULL)
        return weft_fail_new(NULL, WEFT_ENOMEM, "job");
    *v = (int)(intptr_t)arg;
    return weft_ok(v, free);
}

static weft_result_t offload_done(weft_result_t res, void *arg)
{
    scen_t *s = arg;
    s->offloads_done++;
    if (res.kind == WEFT_RESULT_FAILURE) {
        s->errors++;
        weft_failure_free(res.failure);
    } else {
        weft_result_free(res);
    }
    return weft_ok(NULL, NULL);
}

static void offload(scen_t *s, weft_pool_t *pool, intptr_t v)
{
    int err = 0;
    weft_deferred_t *d = pool != NULL ? weft_defer_to_pool(s->r, pool, job, (void *)v, NULL, &err)
                                      : weft_defer_to_thread(s->r, job, (void *)v, NULL, &err);
    if (d == NULL) {
        if (err == 0)
            bad(s, "defer_to_pool returned NULL without an error");
        s->errors++;
        return;
    }
    s->offloads_started++;
    int rc = weft_deferred_add_both(d, offload_done, s);
    if (rc != 0) {
        /* The callback will not run: count the offload as done here. */
        s->errors++;
        s->offloads_done++;
    }
    weft_deferred_unref(d);
}

static weft_result_t plus_one(void *value, weft_free_fn free_fn, void *arg)
{
    (void)arg;
    int *v = value;
    (*v)++;
    return weft_ok(v, free_fn);
}

static weft_result_t chain_end(weft_result_t res, void *arg)
{
    scen_t *s = arg;
    s->chain_done = 1;
    if (res.kind == WEFT_RESULT_FAILURE) {
        s->errors++;
        weft_failure_free(res.failure);
    } else {
        if (*(int *)res.value != 42)
            bad(s, "the chain lost its value");
        weft_result_free(res);
    }
    return weft_ok(NULL, NULL);
}

static void chain(scen_t *s)
{
    weft_deferred_t *a = weft_deferred_new();
    weft_deferred_t *b = weft_deferred_new();
    int *v = malloc(sizeof(*v));
    if (a == NULL || b == NULL || v == NULL) {
        s->errors++;
        s->chain_done = 1;
        free(v);
        weft_deferred_unref(a);
        weft_deferred_unref(b);
        return;
    }
    *v = 41;
    int rc = weft_deferred_add_callback(a, plus_one, NULL);
    if (rc == 0)
        rc = weft_deferred_chain(a, b);
    if (rc == 0)
        rc = weft_deferred_add_both(b, chain_end, s);
    if (rc != 0) {
        s->errors++;
        s->chain_done = 1;
    }
    /* Fired either way: a deferred left unfired is fine, but firing it shows the chain's
     * failure paths too. The value is taken on every path. */
    rc = weft_deferred_callback(a, v, free);
    if (rc != 0 && !s->chain_done) {
        s->errors++;
        s->chain_done = 1;
    }
    weft_deferred_unref(a);
    weft_deferred_unref(b);
}

/* ---------------------------------------------------------------- a line echo over loopback */

static int srv_frame(void *ctx, weft_framed_t *fp, const char *data, size_t len)
{
    (void)ctx;
    if (weft_framed_send(fp, data, len) != 0)
        weft_transport_lose_connection(weft_framed_transport(fp));
    return 0;
}

static void srv_lost(void *ctx, weft_framed_t *fp, weft_failure_t *reason)
{
    (void)ctx;
    (void)fp;
    weft_failure_free(reason);
}

static const weft_framed_ops_t srv_ops = {.frame_received = srv_frame, .connection_lost = srv_lost};

static int build_protocol(void *ctx, const char *peer, const weft_protocol_ops_t **ops,
                          void **proto)
{
    (void)peer;
    weft_framed_t *fp = weft_framed_new(NULL, &srv_ops, ctx, NULL);
    if (fp == NULL)
        return WEFT_ENOMEM; /* refused: the connection is closed at once */
    *ops = weft_framed_protocol_ops();
    *proto = fp;
    return 0;
}

static void cli_made(void *ctx, weft_framed_t *fp)
{
    scen_t *s = ctx;
    s->client = fp;
    if (weft_framed_send(fp, "hello", 5) != 0) {
        s->errors++;
        s->echo_done = 1;
        weft_transport_lose_connection(weft_framed_transport(fp));
    }
}

static int cli_frame(void *ctx, weft_framed_t *fp, const char *data, size_t len)
{
    scen_t *s = ctx;
    if (len != 5 || memcmp(data, "hello", 5) != 0)
        bad(s, "the echo came back different");
    s->echo_done = 1;
    weft_transport_lose_connection(weft_framed_transport(fp));
    return 0;
}

static void cli_lost(void *ctx, weft_framed_t *fp, weft_failure_t *reason)
{
    scen_t *s = ctx;
    (void)fp;
    if (!s->echo_done) {
        s->errors++; /* lost before the echo: the failure reached the caller */
        s->echo_done = 1;
    }
    s->conn_lost = 1;
    s->client = NULL;
    weft_failure_free(reason);
}

static const weft_framed_ops_t cli_ops = {
    .connection_made = cli_made, .frame_received = cli_frame, .connection_lost = cli_lost};

static weft_result_t connected(weft_result_t res, void *arg)
{
    scen_t *s = arg;
    if (res.kind == WEFT_RESULT_FAILURE) {
        /* The protocol was never called: nothing else will report. */
        s->errors++;
        s->echo_done = 1;
        s->conn_lost = 1;
        weft_failure_free(res.failure);
    } else {
        weft_result_free(res);
    }
    return weft_ok(NULL, NULL);
}

static weft_result_t stopped(weft_result_t res, void *arg)
{
    scen_t *s = arg;
    s->listener_stopped = 1;
    if (res.kind == WEFT_RESULT_FAILURE) {
        s->errors++;
        weft_failure_free(res.failure);
    } else {
        weft_result_free(res);
    }
    return weft_ok(NULL, NULL);
}

/* Starts the echo exchange; sets echo_done and conn_lost at once when it cannot start. */
static void echo(scen_t *s, weft_factory_t **fac)
{
    int err = 0;
    *fac = weft_factory_new(&(weft_factory_ops_t){.build_protocol = build_protocol}, s, &err);
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = "127.0.0.1";
    lo.port = 0;
    if (*fac != NULL)
        s->l = weft_listen_tcp(s->r, &lo, *fac, &err);
    weft_framed_t *fp = NULL;
    if (s->l != NULL)
        fp = weft_framed_new(NULL, &cli_ops, s, &err);
    weft_deferred_t *d = NULL;
    if (fp != NULL) {
        d = weft_connect_tcp(s->r, "127.0.0.1", weft_listener_port(s->l), NULL,
                             weft_framed_protocol_ops(), fp, &err);
        if (d == NULL)
            weft_framed_free(fp); /* never called: still ours */
    }
    if (d == NULL) {
        if (err == 0)
            bad(s, "a network constructor returned NULL without an error");
        s->errors++;
        s->echo_done = 1;
        s->conn_lost = 1;
        return;
    }
    if (weft_deferred_add_both(d, connected, s) != 0) {
        /* The connect goes on; its protocol still reports the echo or the loss. */
        s->errors++;
    }
    weft_deferred_unref(d);
}

/* ---------------------------------------------------------------- a database query */

static weft_result_t db_answer(weft_result_t res, void *arg)
{
    scen_t *s = arg;
    s->db_done = 1;
    if (res.kind == WEFT_RESULT_FAILURE) {
        s->errors++;
        weft_failure_free(res.failure);
        return weft_ok(NULL, NULL);
    }
    const weft_db_result_t *rs = res.value;
    const weft_db_value_t *v = weft_db_result_rows(rs) == 1 ? weft_db_result_value(rs, 0, 0) : NULL;
    if (v == NULL || v->type != WEFT_DB_INT || v->i != 42)
        bad(s, "the query's answer is wrong");
    weft_result_free(res);
    return weft_ok(NULL, NULL);
}

static void db_query(scen_t *s, weft_dbpool_t **pp)
{
    weft_dbpool_options_t o;
    weft_dbpool_options_init(&o);
    o.max_connections = 1; /* an in-memory SQLite database has one connection */
    int err = 0;
    *pp = weft_dbpool_new(s->r, &weft_db_sqlite, ":memory:", &o, &err);
    weft_deferred_t *d = NULL;
    if (*pp != NULL) {
        weft_db_value_t param = weft_db_int(41);
        d = weft_dbpool_run_query(*pp, "SELECT ? + 1", &param, 1, &err);
    }
    if (d == NULL) {
        if (err == 0)
            bad(s, "a dbpool call returned NULL without an error");
        s->errors++;
        s->db_done = 1;
        return;
    }
    if (weft_deferred_add_both(d, db_answer, s) != 0) {
        s->errors++;
        s->db_done = 1;
    }
    weft_deferred_unref(d);
}

static bool all_done(void *arg)
{
    scen_t *s = arg;
    return s->offloads_done == s->offloads_started && s->chain_done && s->echo_done &&
           s->conn_lost && s->db_done;
}

static bool listener_done(void *arg)
{
    return ((scen_t *)arg)->listener_stopped != 0;
}

static void quiet_sink(const weft_log_record_t *rec, void *arg)
{
    (void)rec;
    (void)arg;
}

/* The scenario; returns what the child exits with. */
static int run_scenario(unsigned long n)
{
    weft_log_set_sink(quiet_sink, NULL); /* failures log; the walk judges by results */
    weft__fault_alloc_arm(n);
    scen_t s = {0};
    weft_reactor_options_t ro;
    weft_reactor_options_init(&ro);
    ro.name = "walk";
    ro.install_signal_handlers = false;
    int err = 0;
    s.r = weft_reactor_new(&ro, &err);
    if (s.r == NULL)
        return err == WEFT_ENOMEM ? CHILD_REPORTED : CHILD_BAD;
    weft_pool_options_t po;
    weft_pool_options_init(&po);
    po.max_threads = 2;
    weft_pool_t *pool = weft_pool_new(&po, &err);
    if (pool == NULL && err != WEFT_ENOMEM && err != WEFT_EAGAIN)
        bad(&s, "weft_pool_new failed with an unexpected code");
    if (pool == NULL)
        s.errors++;

    if (pool != NULL)
        for (intptr_t i = 0; i < JOBS; i++)
            offload(&s, pool, i);
    offload(&s, NULL, JOBS); /* the default CPU pool, made on first use */
    chain(&s);
    weft_factory_t *fac = NULL;
    echo(&s, &fac);
    weft_dbpool_t *db = NULL;
    db_query(&s, &db);

    if (!t_run_until_fn(s.r, all_done, &s, 100000))
        bad(&s, "the scenario did not finish");
    if (s.client != NULL) {
        weft_transport_abort_connection(weft_framed_transport(s.client));
        t_run_until_fn(s.r, all_done, &s, 1000);
    }
    if (s.l != NULL) {
        weft_deferred_t *d = weft_listener_stop(s.l);
        if (d == NULL) {
            s.errors++; /* it stops all the same; give the close a few turns */
            for (int i = 0; i < 4; i++)
                weft_reactor_run_once_nowait(s.r);
        } else {
            if (weft_deferred_add_both(d, stopped, &s) != 0)
                s.errors++, s.listener_stopped = 1;
            weft_deferred_unref(d);
            if (!t_run_until_fn(s.r, listener_done, &s, 100000))
                bad(&s, "the listener did not stop");
        }
    }
    if (db != NULL && weft_dbpool_free(db) != 0)
        bad(&s, "weft_dbpool_free failed");
    if (fac != NULL && weft_factory_free(fac) != 0)
        bad(&s, "weft_factory_free refused after the listener stopped");
    if (pool != NULL && weft_pool_free(pool, WEFT_POOL_STOP_CANCEL, WEFT_POOL_FOREVER) != 0)
        bad(&s, "weft_pool_free failed");
    int rc = weft_reactor_free(s.r);
    if (rc != 0)
        bad(&s, "weft_reactor_free did not return 0: something was left open");
    bool reached = n > 0 && weft__fault_alloc_count() >= n;
    weft__fault_alloc_arm(0);
    if (s.bad)
        return CHILD_BAD;
    if (n == 0)
        return s.errors == 0 ? CHILD_CLEAN : CHILD_BAD;
    if (!reached)
        return s.errors == 0 ? CHILD_UNREACHED : CHILD_BAD;
    return s.errors > 0 ? CHILD_REPORTED : CHILD_RECOVERED;
}

/* Runs the scenario with allocation n armed in a child; returns its exit code, or 128 + the
 * signal that killed it. */
static int run_child(unsigned long n)
{
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGALRM, SIG_DFL); /* not the TAP watchdog's handler: a hang just dies */
        alarm(t_under_valgrind() ? 120 : 20);
        int code = run_scenario(n);
        exit(code); /* LeakSanitizer runs here, under ASan, and aborts on a leak */
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_clean_run(void)
{
    check_int(run_child(0), ==, CHILD_CLEAN);
}

static void test_walk(void)
{
    unsigned long reported = 0, recovered = 0, n;
    for (n = 1;; n++) {
        int code = run_child(n);
        if (code == CHILD_UNREACHED)
            break;
        if (code == CHILD_REPORTED) {
            reported++;
        } else if (code == CHILD_RECOVERED) {
            recovered++;
        } else {
            check_int(code, ==, CHILD_REPORTED);
            diag("allocation %lu failed the scenario (exit %d)", n, code);
            if (n > 10000)
                break;
        }
        if (n > 100000) {
            check(!"the scenario never ends its allocations");
            break;
        }
    }
    note("%lu allocations walked: %lu failures reported to the caller, %lu recovered from", n - 1,
         reported, recovered);
    check(n > 50);
}

/* ---------------------------------------------------------------- the bridge's retry */

static sem_t gate;

static weft_result_t gated_job(void *arg)
{
    while (sem_wait(&gate) != 0)
        ;
    return weft_ok(arg, NULL);
}

static weft_result_t got_value(weft_result_t res, void *arg)
{
    int *fired = arg;
    *fired = res.kind == WEFT_RESULT_VALUE && res.value == (void *)&gate ? 1 : 2;
    if (res.kind == WEFT_RESULT_FAILURE)
        weft_failure_free(res.failure);
    return weft_ok(NULL, NULL);
}

/*
 * The worker's post of a finished offload to the loop is the reactor's first thread call, so
 * it allocates the thread-call array; armed to fail, the post gets WEFT_ENOMEM and the bridge
 * (post_drain) retries it. Nothing else allocates meanwhile (the loop waits in epoll and the
 * job allocates nothing), so the count is exactly 2: the failed allocation and the retry's.
 */
static void test_post_retry(void)
{
    sem_init(&gate, 0, 0);
    weft_reactor_t *r = t_reactor(false);
    weft_pool_options_t po;
    weft_pool_options_init(&po);
    po.max_threads = 1;
    weft_pool_t *pool = weft_pool_new(&po, NULL);
    if (!check_ptr(pool, !=, NULL))
        return;
    int fired = 0;
    weft_deferred_t *d = weft_defer_to_pool(r, pool, gated_job, &gate, NULL, NULL);
    if (check_ptr(d, !=, NULL)) {
        check_err(weft_deferred_add_both(d, got_value, &fired), 0);
        weft__fault_alloc_arm(1);
        sem_post(&gate);
        check(t_run_until(r, &fired, 100000));
        check_uint(weft__fault_alloc_count(), ==, 2);
        weft__fault_alloc_arm(0);
        check_int(fired, ==, 1);
        weft_deferred_unref(d);
    }
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    t_teardown(r);
    sem_destroy(&gate);
}

int main(void)
{
    /* WEFT_WALK_N=n runs only that step, in this process, to debug it. */
    const char *one = getenv("WEFT_WALK_N");
    if (one != NULL)
        return run_scenario(strtoul(one, NULL, 10));
    TEST(test_clean_run(), "the scenario succeeds when no allocation fails");
    TEST(test_walk(), "each allocation of the scenario failing in turn is reported or recovered "
                      "from, and leaks and crashes nothing");
    TEST(test_post_retry(), "an offload whose completion post to the loop runs out of memory is "
                            "retried and delivered");
    return done_testing();
}
#endif /* WEFT_FAULT_INJECTION */
