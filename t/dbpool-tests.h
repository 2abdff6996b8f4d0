/* SPDX-License-Identifier: MIT */
/* The dbpool behaviours every driver must show, shared by t/50-dbpool-sqlite.c and
 * t/51-dbpool-postgres.c. Each test makes its own reactor and pool against db_conninfo. */
#ifndef WEFT_T_DBPOOL_TESTS_H
#define WEFT_T_DBPOOL_TESTS_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <weft/bridge.h>
#include <weft/dbpool.h>
#include <weft/threadpool.h>
#include <weft/error.h>
#include <weft/time.h>

#include "helpers.h"
#include "tap.h"

/* Set by the test program before the tests run. */
static const weft_db_driver_t *db_driver;
static char db_conninfo[512];
static bool db_pg; /* PostgreSQL's dialect: $1 placeholders, bytea, bigserial */

#define SQL(lite, pg) (db_pg ? (pg) : (lite))

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

/* Says which failure came when a value was expected. */
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

/* ---------------------------------------------------------------- pools */

static weft_dbpool_t *pool_with(weft_reactor_t *r, const weft_dbpool_options_t *o)
{
    int err = 0;
    weft_dbpool_t *p = weft_dbpool_new(r, db_driver, db_conninfo, o, &err);
    if (p == NULL)
        diag("weft_dbpool_new: %s", weft_err_name(err));
    return p;
}

static weft_dbpool_t *pool_of(weft_reactor_t *r, unsigned max)
{
    weft_dbpool_options_t o;
    weft_dbpool_options_init(&o);
    o.max_connections = max;
    return pool_with(r, &o);
}

/* Runs sql (no rows wanted) and waits; true when it succeeded. */
static bool exec_ok(weft_reactor_t *r, weft_dbpool_t *p, const char *sql,
                    const weft_db_value_t *params, size_t n)
{
    cap_t c;
    cap_on(weft_dbpool_run_operation(p, sql, params, n, NULL), &c);
    bool ok = cap_wait(r, &c) && cap_ok(&c);
    cap_free(&c);
    return ok;
}

/* Runs a query and leaves its result in c. */
static bool query(weft_reactor_t *r, weft_dbpool_t *p, const char *sql,
                  const weft_db_value_t *params, size_t n, cap_t *c)
{
    cap_on(weft_dbpool_run_query(p, sql, params, n, NULL), c);
    return cap_wait(r, c) && cap_ok(c);
}

/* The number of rows in table t, counted by pool p. */
static long long count_rows(weft_reactor_t *r, weft_dbpool_t *p, const char *t)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", t);
    cap_t c;
    long long n = -1;
    if (query(r, p, sql, NULL, 0, &c))
        n = weft_db_result_value(c.res.value, 0, 0)->i;
    cap_free(&c);
    return n;
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

static void reset_table(weft_reactor_t *r, weft_dbpool_t *p, const char *name, const char *cols)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s", name);
    exec_ok(r, p, sql, NULL, 0);
    snprintf(sql, sizeof(sql), "CREATE TABLE %s (%s)", name, cols);
    exec_ok(r, p, sql, NULL, 0);
}

/* ---------------------------------------------------------------- the behaviours */

static void test_every_value_type(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 2);
    if (!check(p != NULL))
        return;
    reset_table(r, p, "vals",
                SQL("i INTEGER, d REAL, t TEXT, b BLOB, n INTEGER",
                    "i BIGINT, d DOUBLE PRECISION, t TEXT, b BYTEA, n BIGINT"));
    static const unsigned char blob[] = {0, 1, 2, 0xff, 0, 'x'};
    weft_db_value_t in[] = {weft_db_int(-9007199254740993LL), weft_db_double(2.5),
                            weft_db_text("h\xc3\xa9llo"), weft_db_blob(blob, sizeof(blob)),
                            weft_db_null()};
    check(exec_ok(r, p,
                  SQL("INSERT INTO vals VALUES (?, ?, ?, ?, ?)",
                      "INSERT INTO vals VALUES ($1, $2, $3, $4, $5)"),
                  in, 5));
    cap_t c;
    if (query(r, p, "SELECT i, d, t, b, n FROM vals", NULL, 0, &c)) {
        const weft_db_result_t *rs = c.res.value;
        check_uint(weft_db_result_rows(rs), ==, 1);
        check_uint(weft_db_result_columns(rs), ==, 5);
        check_str(weft_db_result_column_name(rs, 0), "i");
        check_str(weft_db_result_column_name(rs, 3), "b");
        check_int(weft_db_result_column_type(rs, 0), ==, WEFT_DB_INT);
        check_int(weft_db_result_column_type(rs, 1), ==, WEFT_DB_DOUBLE);
        check_int(weft_db_result_column_type(rs, 2), ==, WEFT_DB_TEXT);
        check_int(weft_db_result_column_type(rs, 3), ==, WEFT_DB_BLOB);
        const weft_db_value_t *v = weft_db_result_value(rs, 0, 0);
        check_int(v->type, ==, WEFT_DB_INT);
        check(v->i == -9007199254740993LL);
        v = weft_db_result_value(rs, 0, 1);
        check_int(v->type, ==, WEFT_DB_DOUBLE);
        check(v->d == 2.5);
        v = weft_db_result_value(rs, 0, 2);
        check_int(v->type, ==, WEFT_DB_TEXT);
        check_str(v->data, "h\xc3\xa9llo");
        check_uint(v->len, ==, 6);
        v = weft_db_result_value(rs, 0, 3);
        check_int(v->type, ==, WEFT_DB_BLOB);
        check_uint(v->len, ==, sizeof(blob));
        check(v->len == sizeof(blob) && memcmp(v->data, blob, sizeof(blob)) == 0);
        check_int(weft_db_result_value(rs, 0, 4)->type, ==, WEFT_DB_NULL);
        check_ptr(weft_db_result_value(rs, 1, 0), ==, NULL);
        check_ptr(weft_db_result_column_name(rs, 5), ==, NULL);
    }
    cap_free(&c);
    pool_done(r, p);
    t_teardown(r);
}

static void test_params_stored_verbatim(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 2);
    if (!check(p != NULL))
        return;
    reset_table(r, p, "names", "id INTEGER, name TEXT");
    static const char *evil[] = {
        "O'Brien",
        "Robert'); DROP TABLE names;--",
        "\" OR 1=1 --",
        "back\\slash and 'quotes' and $1 and ? and %s",
    };
    for (int i = 0; i < 4; i++) {
        weft_db_value_t in[] = {weft_db_int(i), weft_db_text(evil[i])};
        check(exec_ok(r, p,
                      SQL("INSERT INTO names VALUES (?, ?)", "INSERT INTO names VALUES ($1, $2)"),
                      in, 2));
    }
    cap_t c;
    if (query(r, p, "SELECT name FROM names ORDER BY id", NULL, 0, &c)) {
        check_uint(weft_db_result_rows(c.res.value), ==, 4);
        for (size_t i = 0; i < 4 && i < weft_db_result_rows(c.res.value); i++)
            check_str(weft_db_result_value(c.res.value, i, 0)->data, evil[i]);
    }
    cap_free(&c);
    /* A lookup by the injection text finds exactly its row. */
    weft_db_value_t key = weft_db_text(evil[2]);
    if (query(r, p,
              SQL("SELECT id FROM names WHERE name = ?", "SELECT id FROM names WHERE name = $1"),
              &key, 1, &c)) {
        check_uint(weft_db_result_rows(c.res.value), ==, 1);
        check_int(weft_db_result_value(c.res.value, 0, 0)->i, ==, 2);
    }
    cap_free(&c);
    pool_done(r, p);
    t_teardown(r);
}

static void test_operation_counts_rows(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 1);
    if (!check(p != NULL))
        return;
    reset_table(r, p, "ops", "id INTEGER, v INTEGER");
    exec_ok(r, p, "INSERT INTO ops VALUES (1, 0), (2, 0), (3, 1)", NULL, 0);
    cap_t c;
    weft_db_value_t zero = weft_db_int(0);
    cap_on(weft_dbpool_run_operation(
               p, SQL("UPDATE ops SET v = 5 WHERE v = ?", "UPDATE ops SET v = 5 WHERE v = $1"),
               &zero, 1, NULL),
           &c);
    if (cap_wait(r, &c) && cap_ok(&c)) {
        const weft_db_exec_t *e = c.res.value;
        check_int(e->rows_affected, ==, 2);
        if (db_pg)
            check(!e->has_last_insert_id);
    }
    cap_free(&c);
    if (!db_pg) {
        cap_on(weft_dbpool_run_operation(p, "INSERT INTO ops VALUES (9, 9)", NULL, 0, NULL), &c);
        if (cap_wait(r, &c) && cap_ok(&c)) {
            const weft_db_exec_t *e = c.res.value;
            check(e->has_last_insert_id);
            check_int(e->last_insert_id, ==, 4); /* the fourth row's rowid */
        }
        cap_free(&c);
    }
    pool_done(r, p);
    t_teardown(r);
}

/* Interactions: insert a row, then succeed or fail as asked. */
typedef struct {
    int id;
    bool fail;
    atomic_int freed;
} tx_t;

static void tx_value_free(void *v)
{
    tx_t *t = v;
    atomic_fetch_add(&t->freed, 1);
}

static weft_result_t tx_insert(weft_db_conn_t *conn, void *arg)
{
    tx_t *t = arg;
    weft_db_value_t id = weft_db_int(t->id);
    weft_result_t res = weft_db_execute(
        conn, SQL("INSERT INTO tx VALUES (?)", "INSERT INTO tx VALUES ($1)"), &id, 1);
    if (res.kind != WEFT_RESULT_VALUE)
        return res;
    weft_result_free(res);
    if (t->fail)
        return weft_fail_new(&weft_error_type, 42, "the interaction gives up");
    return weft_ok(t, tx_value_free);
}

static void test_interaction_commits(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 2), *other = pool_of(r, 1);
    if (!check(p != NULL && other != NULL))
        return;
    reset_table(r, p, "tx", "id INTEGER");
    tx_t t = {.id = 7, .fail = false};
    cap_t c;
    cap_on(weft_dbpool_run_interaction(p, tx_insert, &t, NULL), &c);
    if (cap_wait(r, &c) && cap_ok(&c))
        check_ptr(c.res.value, ==, &t);
    cap_free(&c);
    check_int(atomic_load(&t.freed), ==, 1);
    /* Another pool, hence another connection, sees the row. */
    check_int(count_rows(r, other, "tx"), ==, 1);
    pool_done(r, p);
    pool_done(r, other);
    t_teardown(r);
}

static void test_interaction_rolls_back(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 2), *other = pool_of(r, 1);
    if (!check(p != NULL && other != NULL))
        return;
    reset_table(r, p, "tx", "id INTEGER");
    tx_t t = {.id = 8, .fail = true};
    cap_t c;
    cap_on(weft_dbpool_run_interaction(p, tx_insert, &t, NULL), &c);
    if (cap_wait(r, &c) && check(cap_failure(&c) != NULL)) {
        check_int(weft_failure_code(cap_failure(&c)), ==, 42);
        check_str(weft_failure_message(cap_failure(&c)), "the interaction gives up");
    }
    cap_free(&c);
    check_int(count_rows(r, other, "tx"), ==, 0);
    check_int(count_rows(r, p, "tx"), ==, 0);
    pool_done(r, p);
    pool_done(r, other);
    t_teardown(r);
}

static weft_result_t insert_then_fail(weft_db_conn_t *conn, void *arg)
{
    (void)arg;
    weft_result_t res = weft_db_execute(conn, "INSERT INTO tx VALUES (1)", NULL, 0);
    weft_result_free(res);
    return weft_fail_new(&weft_error_type, 1, "no");
}

static void test_with_connection_has_no_transaction(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 1);
    if (!check(p != NULL))
        return;
    reset_table(r, p, "tx", "id INTEGER");
    cap_t c;
    cap_on(weft_dbpool_run_with_connection(p, insert_then_fail, NULL, NULL), &c);
    if (cap_wait(r, &c))
        check(cap_failure(&c) != NULL);
    cap_free(&c);
    check_int(count_rows(r, p, "tx"), ==, 1); /* autocommit: the insert stayed */
    pool_done(r, p);
    t_teardown(r);
}

static void test_unique_violation(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 1);
    if (!check(p != NULL))
        return;
    reset_table(r, p, "uniq", "k INTEGER PRIMARY KEY");
    exec_ok(r, p, "INSERT INTO uniq VALUES (1)", NULL, 0);
    cap_t c;
    cap_on(weft_dbpool_run_operation(p, "INSERT INTO uniq VALUES (1)", NULL, 0, NULL), &c);
    if (cap_wait(r, &c) && check(cap_failure(&c) != NULL)) {
        const weft_failure_t *f = cap_failure(&c);
        check(weft_failure_check(f, &weft_db_integrity_error_type) != NULL);
        check(weft_failure_is(f, &weft_db_database_error_type));
        check(weft_failure_is(f, &weft_db_error_type));
        char state[6];
        check(weft_db_failure_sqlstate(f, state));
        check_str(state, "23505");
        check_int(weft_failure_code(f), ==, weft_db_sqlstate_code("23505"));
        diag("unique violation: %s", weft_failure_message(f));
    }
    cap_free(&c);
    pool_done(r, p);
    t_teardown(r);
}

static void test_syntax_error(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 1);
    if (!check(p != NULL))
        return;
    cap_t c;
    cap_on(weft_dbpool_run_query(p, "SELEC 1 FROM", NULL, 0, NULL), &c);
    if (cap_wait(r, &c) && check(cap_failure(&c) != NULL)) {
        const weft_failure_t *f = cap_failure(&c);
        check(weft_failure_is(f, &weft_db_programming_error_type));
        char state[6];
        check(weft_db_failure_sqlstate(f, state));
        check_str(state, "42601");
    }
    cap_free(&c);
    /* The connection is still good for the next call. */
    if (query(r, p, "SELECT 1", NULL, 0, &c))
        check_int(weft_db_result_value(c.res.value, 0, 0)->i, ==, 1);
    cap_free(&c);
    pool_done(r, p);
    t_teardown(r);
}

static void test_wrong_param_count(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 1);
    if (!check(p != NULL))
        return;
    weft_db_value_t two[] = {weft_db_int(1), weft_db_int(2)};
    const char *sql = SQL("SELECT ? + 0", "SELECT $1::int + 0");
    for (size_t n = 0; n <= 2; n += 2) {
        cap_t c;
        cap_on(weft_dbpool_run_query(p, sql, two, n, NULL), &c);
        if (cap_wait(r, &c) && check(cap_failure(&c) != NULL)) {
            check(weft_failure_is(cap_failure(&c), &weft_db_programming_error_type));
            char state[6];
            check(weft_db_failure_sqlstate(cap_failure(&c), state));
            check_str(state, "07001");
        }
        cap_free(&c);
    }
    pool_done(r, p);
    t_teardown(r);
}

static weft_result_t noop_fn(weft_db_conn_t *conn, void *arg)
{
    (void)conn;
    (void)arg;
    return weft_ok(NULL, NULL);
}

static void test_bad_input(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 1);
    if (!check(p != NULL))
        return;
    int err = 0;
    check_ptr(weft_dbpool_run_query(p, NULL, NULL, 0, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    check_ptr(weft_dbpool_run_operation(p, "SELECT 1", NULL, 1, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    check_ptr(weft_dbpool_run_query(NULL, "SELECT 1", NULL, 0, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    check_ptr(weft_dbpool_run_interaction(p, NULL, NULL, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    check_ptr(weft_dbpool_run_with_connection(p, NULL, NULL, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    check_ptr(weft_dbpool_new(r, NULL, db_conninfo, NULL, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    check_ptr(weft_dbpool_new(r, db_driver, NULL, NULL, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    weft_dbpool_options_t o;
    weft_dbpool_options_init(&o);
    o.min_connections = 3;
    o.max_connections = 2;
    check_ptr(weft_dbpool_new(r, db_driver, db_conninfo, &o, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    check_err(weft_dbpool_free(NULL), 0);
    pool_done(r, p);
    t_teardown(r);
}

static void test_use_after_close(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 1);
    if (!check(p != NULL))
        return;
    cap_t closed, c1, c2;
    cap_on(weft_dbpool_close(p, NULL), &closed);
    cap_on(weft_dbpool_run_query(p, "SELECT 1", NULL, 0, NULL), &c1);
    cap_on(weft_dbpool_run_interaction(p, noop_fn, NULL, NULL), &c2);
    check_int(c1.fired, ==, 1); /* refused at once, not left hanging (Twisted #2680) */
    check(weft_failure_is(cap_failure(&c1), &weft_closed_error_type));
    check(weft_failure_is(cap_failure(&c2), &weft_closed_error_type));
    cap_free(&c1);
    cap_free(&c2);
    cap_wait(r, &closed);
    cap_free(&closed);
    check_err(weft_dbpool_free(p), 0);
    t_teardown(r);
}

/* Thread affinity: every connection is opened, used and closed on one thread. */
#define AFF_MAX 16
typedef struct {
    pthread_mutex_t mu;
    int n;
    struct {
        void *native;
        pthread_t opened, closed;
        int used, wrong;
        bool is_closed;
    } conns[AFF_MAX];
} aff_t;

static int aff_find(aff_t *a, void *native)
{
    for (int i = 0; i < a->n; i++)
        if (a->conns[i].native == native && !a->conns[i].is_closed)
            return i;
    return -1;
}

static weft_failure_t *aff_connect(weft_db_conn_t *conn, void *arg)
{
    aff_t *a = arg;
    pthread_mutex_lock(&a->mu);
    if (a->n < AFF_MAX) {
        a->conns[a->n].native = weft_db_conn_native(conn);
        a->conns[a->n].opened = pthread_self();
        a->n++;
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

static void aff_disconnect(weft_db_conn_t *conn, void *arg)
{
    aff_t *a = arg;
    pthread_mutex_lock(&a->mu);
    int i = aff_find(a, weft_db_conn_native(conn));
    if (i >= 0) {
        a->conns[i].closed = pthread_self();
        a->conns[i].is_closed = true;
    }
    pthread_mutex_unlock(&a->mu);
}

static weft_result_t aff_use(weft_db_conn_t *conn, void *arg)
{
    aff_t *a = arg;
    pthread_mutex_lock(&a->mu);
    int i = aff_find(a, weft_db_conn_native(conn));
    if (i >= 0) {
        a->conns[i].used++;
        if (!pthread_equal(a->conns[i].opened, pthread_self()))
            a->conns[i].wrong++;
    }
    pthread_mutex_unlock(&a->mu);
    return weft_db_query(conn, "SELECT 1", NULL, 0);
}

static void test_thread_affinity(void)
{
    weft_reactor_t *r = t_reactor(false);
    aff_t a;
    memset(&a, 0, sizeof(a));
    pthread_mutex_init(&a.mu, NULL);
    weft_dbpool_options_t o;
    weft_dbpool_options_init(&o);
    o.max_connections = 3;
    o.on_connect = aff_connect;
    o.on_disconnect = aff_disconnect;
    o.hook_arg = &a;
    weft_dbpool_t *p = pool_with(r, &o);
    if (!check(p != NULL))
        return;
    enum { N = 30 };
    cap_t c[N];
    for (int i = 0; i < N; i++)
        cap_on(i % 2 ? weft_dbpool_run_with_connection(p, aff_use, &a, NULL)
                     : weft_dbpool_run_interaction(p, aff_use, &a, NULL),
               &c[i]);
    for (int i = 0; i < N; i++) {
        cap_wait(r, &c[i]);
        check(cap_ok(&c[i]));
        cap_free(&c[i]);
    }
    pool_done(r, p);
    check_int(a.n, >=, 1);
    check_int(a.n, <=, 3);
    int used = 0;
    for (int i = 0; i < a.n; i++) {
        used += a.conns[i].used;
        check_int(a.conns[i].wrong, ==, 0);
        check(a.conns[i].is_closed);
        check(pthread_equal(a.conns[i].opened, a.conns[i].closed));
        check(!pthread_equal(a.conns[i].opened, pthread_self()));
    }
    check_int(used, ==, N);
    pthread_mutex_destroy(&a.mu);
    t_teardown(r);
}

/* Interactions held at a gate, to close the pool while they run. */
typedef struct {
    sem_t started, open;
} gate2_t;

static weft_result_t gated_insert(weft_db_conn_t *conn, void *arg)
{
    gate2_t *g = arg;
    sem_post(&g->started);
    while (sem_wait(&g->open) != 0)
        ;
    weft_result_t res = weft_db_execute(conn, "INSERT INTO tx VALUES (3)", NULL, 0);
    if (res.kind == WEFT_RESULT_VALUE) {
        weft_result_free(res);
        return weft_ok(NULL, NULL);
    }
    return res;
}

/* A pool of one connection closing within close_timeout_ms, over a fresh table tx, whose
 * connection is held by a gated insert (running; started when this returns: sem_post
 * g->open lets it end); queued, unless NULL, is a query waiting behind it. NULL (reported)
 * if the pool cannot be made. */
static weft_dbpool_t *pool_held(weft_reactor_t *r, uint64_t close_timeout_ms, gate2_t *g,
                                cap_t *running, cap_t *queued)
{
    weft_dbpool_options_t o;
    weft_dbpool_options_init(&o);
    o.max_connections = 1;
    o.close_timeout_ms = close_timeout_ms;
    weft_dbpool_t *p = pool_with(r, &o);
    if (!check(p != NULL))
        return NULL;
    reset_table(r, p, "tx", "id INTEGER");
    sem_init(&g->started, 0, 0);
    sem_init(&g->open, 0, 0);
    cap_on(weft_dbpool_run_interaction(p, gated_insert, g, NULL), running);
    if (queued != NULL)
        cap_on(weft_dbpool_run_query(p, "SELECT 1", NULL, 0, NULL), queued);
    while (sem_wait(&g->started) != 0)
        ;
    return p;
}

static void test_close_waits_for_interactions(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 1), *other = pool_of(r, 1);
    if (!check(p != NULL && other != NULL))
        return;
    reset_table(r, p, "tx", "id INTEGER");
    gate2_t g;
    sem_init(&g.started, 0, 0);
    sem_init(&g.open, 0, 0);
    cap_t running, queued, closed, late;
    cap_on(weft_dbpool_run_interaction(p, gated_insert, &g, NULL), &running);
    cap_on(weft_dbpool_run_query(p, "SELECT 1", NULL, 0, NULL), &queued);
    while (sem_wait(&g.started) != 0)
        ;
    cap_on(weft_dbpool_close(p, NULL), &closed);
    cap_on(weft_dbpool_run_query(p, "SELECT 1", NULL, 0, NULL), &late);
    check(weft_failure_is(cap_failure(&late), &weft_closed_error_type));
    check_err(weft_dbpool_free(p), WEFT_EBUSY); /* the close is still waiting */
    check_int(running.fired, ==, 0);
    check_int(queued.fired, ==, 0);
    check_int(closed.fired, ==, 0);
    sem_post(&g.open);
    /* The running interaction finishes, then the call queued before the close still runs. */
    cap_wait(r, &running);
    check(cap_ok(&running));
    cap_wait(r, &queued);
    check(cap_ok(&queued));
    cap_wait(r, &closed);
    check(cap_ok(&closed));
    check_int(count_rows(r, other, "tx"), ==, 1); /* it committed */
    cap_free(&running);
    cap_free(&queued);
    cap_free(&closed);
    cap_free(&late);
    check_err(weft_dbpool_free(p), 0);
    pool_done(r, other);
    sem_destroy(&g.started);
    sem_destroy(&g.open);
    t_teardown(r);
}

static void test_close_deadline(void)
{
    weft_reactor_t *r = t_reactor(false);
    gate2_t g;
    cap_t running, queued, closed;
    weft_dbpool_t *p = pool_held(r, 1, &g, &running, &queued);
    if (p == NULL)
        return;
    cap_on(weft_dbpool_close(p, NULL), &closed);
    /* The gate stays shut, so the deadline passes: the close fails, it never hangs, and the
     * call still queued then is cancelled. */
    cap_wait(r, &closed);
    check(weft_failure_is(cap_failure(&closed), &weft_timeout_error_type));
    cap_wait(r, &queued);
    check(weft_failure_is(cap_failure(&queued), &weft_cancelled_error_type));
    cap_free(&queued);
    /* The job still runs past the close's deadline: nothing is released, and free does not
     * wait the deadline a second time (EBUSY at once, not ETIMEDOUT after waiting). */
    check_err(weft_dbpool_free(p), WEFT_EBUSY);
    check_err(weft_dbpool_free(p), WEFT_EBUSY);
    sem_post(&g.open);
    cap_wait(r, &running);
    check(cap_ok(&running));
    cap_free(&running);
    cap_free(&closed);
    /* The worker's thread exits after its job's result is posted: free waits for it. */
    int rc;
    while ((rc = weft_dbpool_free(p)) == WEFT_EBUSY)
        ;
    check_err(rc, 0);
    sem_destroy(&g.started);
    sem_destroy(&g.open);
    t_teardown(r);
}

/* Review (67b88c9): a close whose submit the reactor's I/O pool refused fires its deferred at
 * once without closing anything ("not queued: free() will close the pool", dbpool.c). free
 * then takes that fired deferred for a close that waited its deadline: it waits 0 ms,
 * cancels the calls still queued and returns EBUSY, instead of closing with the deadline and
 * letting the calls already made finish (as a free without close does). */
static void *open_gate_later(void *arg)
{
    gate2_t *g = arg;
    struct timespec ts = {0, 100 * 1000000};
    nanosleep(&ts, NULL);
    sem_post(&g->open);
    return NULL;
}

static void test_free_after_refused_close(void)
{
    weft_reactor_t *r = t_reactor(false);
    gate2_t g;
    cap_t running, queued, closed;
    weft_dbpool_t *p = pool_held(r, 5000, &g, &running, &queued);
    if (p == NULL)
        return;
    /* The I/O pool refuses the closer: the close fails at once, nothing is closed. */
    weft_pool_t *io = weft_reactor_default_pool(r, WEFT_POOL_KIND_IO, NULL);
    check_err(weft_pool_stop(io, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    cap_on(weft_dbpool_close(p, NULL), &closed);
    check_int(closed.fired, ==, 1);
    check(cap_failure(&closed) != NULL);
    cap_free(&closed);
    pthread_t th;
    pthread_create(&th, NULL, open_gate_later, &g); /* the running call ends in 100 ms */
    /* free is the close: the calls already made finish within close_timeout_ms. */
    int rc = weft_dbpool_free(p);
    check_err(rc, 0);
    pthread_join(th, NULL);
    cap_wait(r, &running);
    check(cap_ok(&running));
    cap_wait(r, &queued);
    check(cap_ok(&queued)); /* not cancelled */
    cap_free(&running);
    cap_free(&queued);
    while (rc == WEFT_EBUSY || rc == WEFT_ETIMEDOUT)
        rc = weft_dbpool_free(p);
    sem_destroy(&g.started);
    sem_destroy(&g.open);
    t_teardown(r);
}

static void test_free_deadline_once(void)
{
    weft_reactor_t *r = t_reactor(false);
    gate2_t g;
    cap_t running;
    weft_dbpool_t *p = pool_held(r, 1, &g, &running, NULL);
    if (p == NULL)
        return;
    /* No close: the first free is the close, and waits its deadline; the job outlives it. The
     * next ones do not wait again. */
    check_err(weft_dbpool_free(p), WEFT_ETIMEDOUT);
    check_err(weft_dbpool_free(p), WEFT_EBUSY);
    sem_post(&g.open);
    cap_wait(r, &running);
    check(cap_ok(&running));
    cap_free(&running);
    int rc;
    while ((rc = weft_dbpool_free(p)) == WEFT_EBUSY)
        ;
    check_err(rc, 0);
    sem_destroy(&g.started);
    sem_destroy(&g.open);
    t_teardown(r);
}

static void test_cancel_queued_call(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 1);
    if (!check(p != NULL))
        return;
    reset_table(r, p, "tx", "id INTEGER");
    gate2_t g;
    sem_init(&g.started, 0, 0);
    sem_init(&g.open, 0, 0);
    cap_t running, cancelled;
    cap_on(weft_dbpool_run_interaction(p, gated_insert, &g, NULL), &running);
    weft_deferred_t *d = weft_dbpool_run_operation(p, "INSERT INTO tx VALUES (99)", NULL, 0, NULL);
    weft_deferred_ref(d);
    cap_on(d, &cancelled);
    while (sem_wait(&g.started) != 0)
        ;
    check_err(weft_deferred_cancel(d), 0);
    weft_deferred_unref(d);
    check_int(cancelled.fired, ==, 1);
    check(weft_failure_is(cap_failure(&cancelled), &weft_cancelled_error_type));
    sem_post(&g.open);
    cap_wait(r, &running);
    cap_free(&running);
    cap_free(&cancelled);
    check_int(count_rows(r, p, "tx"), ==, 1); /* only the interaction's row: 99 never ran */
    pool_done(r, p);
    sem_destroy(&g.started);
    sem_destroy(&g.open);
    t_teardown(r);
}

static void test_free_without_close(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 1);
    if (!check(p != NULL))
        return;
    cap_t c[3];
    for (int i = 0; i < 3; i++)
        cap_on(weft_dbpool_run_query(p, "SELECT 1", NULL, 0, NULL), &c[i]);
    check_err(weft_dbpool_free(p), 0); /* closes first: the calls made still run */
    for (int i = 0; i < 3; i++) {
        cap_wait(r, &c[i]);
        check(cap_ok(&c[i]));
        cap_free(&c[i]);
    }
    t_teardown(r);
}

static weft_failure_t *refuse_connect(weft_db_conn_t *conn, void *arg)
{
    (void)conn;
    (void)arg;
    return weft_failure_new(&weft_db_operational_error_type, 7, "the hook says no");
}

static void test_on_connect_failure(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_options_t o;
    weft_dbpool_options_init(&o);
    o.on_connect = refuse_connect;
    weft_dbpool_t *p = pool_with(r, &o);
    if (!check(p != NULL))
        return;
    cap_t c;
    cap_on(weft_dbpool_run_query(p, "SELECT 1", NULL, 0, NULL), &c);
    if (cap_wait(r, &c) && check(cap_failure(&c) != NULL)) {
        check_str(weft_failure_message(cap_failure(&c)), "the hook says no");
        check_int(weft_failure_code(cap_failure(&c)), ==, 7);
    }
    cap_free(&c);
    pool_done(r, p);
    t_teardown(r);
}

static void test_statement_cache_evicts(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_options_t o;
    weft_dbpool_options_init(&o);
    o.max_connections = 1;
    o.statement_cache = 2;
    weft_dbpool_t *p = pool_with(r, &o);
    if (!check(p != NULL))
        return;
    /* Five statements through a cache of two, three times over: every one still runs. */
    int good = 0;
    for (int round = 0; round < 3; round++) {
        for (int k = 1; k <= 5; k++) {
            char sql[64];
            snprintf(sql, sizeof(sql), "SELECT %d", k);
            cap_t c;
            if (query(r, p, sql, NULL, 0, &c) && weft_db_result_value(c.res.value, 0, 0)->i == k)
                good++;
            cap_free(&c);
        }
    }
    check_int(good, ==, 15);
    pool_done(r, p);
    o.statement_cache = 0;
    p = pool_with(r, &o);
    cap_t c;
    weft_db_value_t v = weft_db_int(5);
    if (query(r, p, SQL("SELECT ? + 1", "SELECT $1::int + 1"), &v, 1, &c))
        check_int(weft_db_result_value(c.res.value, 0, 0)->i, ==, 6);
    cap_free(&c);
    pool_done(r, p);
    t_teardown(r);
}

static void stop_reactor(void *arg)
{
    int rc = weft_reactor_stop(arg);
    (void)rc;
}

static void test_reactor_stop_closes_pool(void)
{
    weft_reactor_t *r = t_reactor(false);
    aff_t a;
    memset(&a, 0, sizeof(a));
    pthread_mutex_init(&a.mu, NULL);
    weft_dbpool_options_t o;
    weft_dbpool_options_init(&o);
    o.on_connect = aff_connect;
    o.on_disconnect = aff_disconnect;
    o.hook_arg = &a;
    weft_dbpool_t *p = pool_with(r, &o);
    if (!check(p != NULL))
        return;
    cap_t c;
    query(r, p, "SELECT 1", NULL, 0, &c);
    cap_free(&c);
    check_int(a.n, ==, 1);
    /* run -> stop: the before-shutdown trigger closes the pool, and the reactor waits. */
    check_err(weft_reactor_call_later(r, 0, stop_reactor, r, NULL), 0);
    check_err(weft_reactor_run(r), 0);
    check(a.n == 1 && a.conns[0].is_closed);
    cap_on(weft_dbpool_run_query(p, "SELECT 1", NULL, 0, NULL), &c);
    check(weft_failure_is(cap_failure(&c), &weft_closed_error_type));
    cap_free(&c);
    check_err(weft_dbpool_free(p), 0);
    pthread_mutex_destroy(&a.mu);
    t_teardown(r);
}

static void test_failure_types(void)
{
    check(weft_failure_type_is(&weft_db_integrity_error_type, &weft_db_database_error_type));
    check(weft_failure_type_is(&weft_db_database_error_type, &weft_db_error_type));
    check(weft_failure_type_is(&weft_db_interface_error_type, &weft_db_error_type));
    check(!weft_failure_type_is(&weft_db_interface_error_type, &weft_db_database_error_type));
    check(weft_failure_type_is(&weft_db_error_type, &weft_error_type));
    check_str(weft_db_programming_error_type.name, "weft.db.ProgrammingError");
    check_int(weft_db_sqlstate_code("2350"), ==, 0);
    check_int(weft_db_sqlstate_code("2350a"), ==, 0);
    check_int(weft_db_sqlstate_code(NULL), ==, 0);
    weft_failure_t *f =
        weft_failure_new(&weft_db_data_error_type, weft_db_sqlstate_code("22P02"), "bad");
    char s[6];
    check(weft_db_failure_sqlstate(f, s));
    check_str(s, "22P02");
    weft_failure_free(f);
    f = weft_failure_new(&weft_error_type, weft_db_sqlstate_code("22P02"), "not a db failure");
    check(!weft_db_failure_sqlstate(f, s));
    check_str(s, "");
    weft_failure_free(f);
}

/* Every shared behaviour, in order. */
static void run_common_tests(void)
{
    TEST(test_failure_types(), "DB-API failure types form PEP 249's tree and carry a SQLSTATE");
    TEST(test_every_value_type(),
         "query returns int64, double, text, blob and NULL with column names and types");
    TEST(test_params_stored_verbatim(),
         "bound parameters with quotes and injection attempts are stored verbatim");
    TEST(test_operation_counts_rows(), "run_operation gives rows affected and the last insert id");
    TEST(test_interaction_commits(),
         "interaction returning a value commits, seen from another connection");
    TEST(test_interaction_rolls_back(),
         "interaction returning a failure rolls back and fires with that failure");
    TEST(test_with_connection_has_no_transaction(),
         "run_with_connection runs outside a transaction");
    TEST(test_unique_violation(), "unique violation fails with IntegrityError and SQLSTATE 23505");
    TEST(test_syntax_error(), "syntax error fails with ProgrammingError 42601");
    TEST(test_wrong_param_count(),
         "too many or too few parameters fail with ProgrammingError 07001");
    TEST(test_bad_input(), "NULL sql, pool or fn and bad options return WEFT_EINVAL");
    TEST(test_use_after_close(), "calls after close fail at once with ClosedError");
    TEST(test_thread_affinity(),
         "each connection is opened, used and closed on its own worker thread");
    TEST(test_close_waits_for_interactions(),
         "close refuses new calls, lets running and queued ones finish, then fires");
    TEST(test_close_deadline(), "close at its deadline fails with TimeoutError, cancels queued "
                                "calls; free then refuses with EBUSY at once until the job ends");
    TEST(test_free_deadline_once(), "a free of an open pool waits its deadline once (ETIMEDOUT); "
                                    "later frees do not wait again (EBUSY) until the job ends");
    TEST(test_free_after_refused_close(),
         "a free after a close the I/O pool refused still closes with the deadline: the calls "
         "already made finish");
    TEST(test_free_without_close(),
         "free of an open pool closes it, letting the calls already made finish");
    TEST(test_cancel_queued_call(), "cancelling a queued call fails it and it never runs");
    TEST(test_on_connect_failure(), "on_connect failure fails the call that needed the connection");
    TEST(test_statement_cache_evicts(),
         "statements run through a small or disabled statement cache");
    TEST(test_reactor_stop_closes_pool(),
         "reactor stop closes the pool's connections before run returns");
}

#endif /* WEFT_T_DBPOOL_TESTS_H */
