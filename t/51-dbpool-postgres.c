/* SPDX-License-Identifier: MIT */
/* The database pool on a real PostgreSQL server, started here (initdb, pg_ctl) as a non-root
 * user with a private socket directory and port, and stopped at the end. */
#include <stdlib.h>

#include <weft/dbpool.h>
#include <weft/error.h>

#include "dbpool-tests.h"
#include "helpers.h"
#include "pg-helpers.h"
#include "tap.h"

static pg_server_t server;

/* Waits until the server shows sql running (seen from pool `watch`). */
static bool wait_active(weft_reactor_t *r, weft_dbpool_t *watch, const char *sql)
{
    weft_db_value_t v = weft_db_text(sql);
    for (int i = 0; i < 100000; i++) {
        cap_t c;
        bool seen = false;
        if (query(r, watch,
                  "SELECT COUNT(*) FROM pg_stat_activity WHERE query = $1 AND state = 'active'", &v,
                  1, &c))
            seen = weft_db_result_value(c.res.value, 0, 0)->i == 1;
        cap_free(&c);
        if (seen)
            return true;
    }
    return false;
}

static void test_restart_mid_call(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 1), *watch = pool_of(r, 1);
    if (!check(p != NULL && watch != NULL))
        return;
    cap_t c;
    check(query(r, watch, "SELECT 1", NULL, 0, &c)); /* watch has an idle connection now */
    cap_free(&c);
    const char *sleep_sql = "SELECT pg_sleep(60)";
    cap_t inflight;
    cap_on(weft_dbpool_run_query(p, sleep_sql, NULL, 0, NULL), &inflight);
    if (check(wait_active(r, watch, sleep_sql)) && check_int(pg_server_restart(&server), ==, 0)) {
        cap_wait(r, &inflight);
        const weft_failure_t *f = cap_failure(&inflight);
        if (check(f != NULL)) {
            check(weft_failure_is(f, &weft_db_operational_error_type));
            diag("in-flight call: %s", weft_failure_message(f));
        }
        /* The next call reconnects and succeeds. */
        if (query(r, p, "SELECT 41 + 1", NULL, 0, &c))
            check_int(weft_db_result_value(c.res.value, 0, 0)->i, ==, 42);
        cap_free(&c);
        /* An idle connection the restart killed is found dead before use (Twisted #4964). */
        if (query(r, watch, "SELECT 2", NULL, 0, &c))
            check_int(weft_db_result_value(c.res.value, 0, 0)->i, ==, 2);
        cap_free(&c);
    }
    cap_free(&inflight);
    pool_done(r, p);
    pool_done(r, watch);
    t_teardown(r);
}

static weft_result_t lost_then_query(weft_db_conn_t *conn, void *arg)
{
    (void)arg;
    /* Kill our own session: the server ends the connection under us. */
    weft_result_t res =
        weft_db_query(conn, "SELECT pg_terminate_backend(pg_backend_pid())", NULL, 0);
    return res;
}

static void test_reconnect_off(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_options_t o;
    weft_dbpool_options_init(&o);
    o.max_connections = 1;
    o.reconnect = false;
    weft_dbpool_t *p = pool_with(r, &o);
    if (!check(p != NULL))
        return;
    cap_t c;
    cap_on(weft_dbpool_run_with_connection(p, lost_then_query, NULL, NULL), &c);
    cap_wait(r, &c);
    check(weft_failure_is(cap_failure(&c), &weft_db_operational_error_type));
    cap_free(&c);
    cap_on(weft_dbpool_run_query(p, "SELECT 1", NULL, 0, NULL), &c);
    cap_wait(r, &c);
    check(weft_failure_is(cap_failure(&c), &weft_db_operational_error_type));
    cap_free(&c);
    pool_done(r, p);
    t_teardown(r);
}

static weft_result_t swallow_error(weft_db_conn_t *conn, void *arg)
{
    weft_result_t res = weft_db_execute(conn, "INSERT INTO nosuchtable VALUES (1)", NULL, 0);
    weft_result_free(res); /* ignores the failure: the transaction is aborted */
    return weft_ok(arg, tx_value_free);
}

static void test_commit_of_aborted_transaction(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 1);
    if (!check(p != NULL))
        return;
    tx_t t = {.id = 0};
    cap_t c;
    cap_on(weft_dbpool_run_interaction(p, swallow_error, &t, NULL), &c);
    if (cap_wait(r, &c) && check(cap_failure(&c) != NULL)) {
        check(weft_failure_is(cap_failure(&c), &weft_db_internal_error_type));
        char s[6];
        check(weft_db_failure_sqlstate(cap_failure(&c), s));
        check_str(s, "25P02");
    }
    cap_free(&c);
    check_int(atomic_load(&t.freed), ==, 1);
    /* The connection is back in autocommit. */
    if (query(r, p, "SELECT 1", NULL, 0, &c))
        check_int(weft_db_result_value(c.res.value, 0, 0)->i, ==, 1);
    cap_free(&c);
    pool_done(r, p);
    t_teardown(r);
}

static void test_connect_failure(void)
{
    weft_reactor_t *r = t_reactor(false);
    char info[512];
    snprintf(info, sizeof(info), "host=%s port=1 user=postgres dbname=postgres", server.dir);
    int err = 0;
    weft_dbpool_t *p = weft_dbpool_new(r, &weft_db_postgres, info, NULL, &err);
    if (!check(p != NULL))
        return;
    cap_t c;
    cap_on(weft_dbpool_run_query(p, "SELECT 1", NULL, 0, NULL), &c);
    if (cap_wait(r, &c) && check(cap_failure(&c) != NULL)) {
        check(weft_failure_is(cap_failure(&c), &weft_db_operational_error_type));
        char s[6];
        check(weft_db_failure_sqlstate(cap_failure(&c), s));
        check_str(s, "08001");
    }
    cap_free(&c);
    check_ptr(weft_dbpool_new(r, &weft_db_postgres, "host='unterminated", NULL, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    pool_done(r, p);
    t_teardown(r);
}

static weft_result_t select_star_sa(weft_db_conn_t *conn, void *arg)
{
    (void)arg;
    return weft_db_query(conn, "SELECT * FROM sa", NULL, 0);
}

/* Prepared statements of this connection whose text is sql. */
static long long prepared_count(weft_reactor_t *r, weft_dbpool_t *p, const char *sql)
{
    weft_db_value_t v = weft_db_text(sql);
    cap_t c;
    long long n = -1;
    if (query(r, p, "SELECT COUNT(*) FROM pg_prepared_statements WHERE statement = $1", &v, 1, &c))
        n = weft_db_result_value(c.res.value, 0, 0)->i;
    cap_free(&c);
    return n;
}

static void test_stale_statement_is_prepared_again(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 1);
    if (!check(p != NULL))
        return;
    reset_table(r, p, "sc", "x int");
    check(exec_ok(r, p, "INSERT INTO sc VALUES (1)", NULL, 0));
    cap_t c;
    check(query(r, p, "SELECT * FROM sc", NULL, 0, &c));
    cap_free(&c);
    check(exec_ok(r, p, "ALTER TABLE sc ADD COLUMN y int", NULL, 0));
    /* The first call may fail with 0A000 ("cached plan must not change result type"): it
     * drops the statement, and the next one prepares it again. */
    cap_on(weft_dbpool_run_query(p, "SELECT * FROM sc", NULL, 0, NULL), &c);
    if (cap_wait(r, &c) && cap_failure(&c) != NULL)
        check(weft_failure_is(cap_failure(&c), &weft_db_not_supported_error_type));
    cap_free(&c);
    if (query(r, p, "SELECT * FROM sc", NULL, 0, &c))
        check_int(weft_db_result_columns(c.res.value), ==, 2);
    cap_free(&c);
    check_int(prepared_count(r, p, "SELECT * FROM sc"), ==, 1);
    pool_done(r, p);
    t_teardown(r);
}

/* The same inside a transaction: the error aborts it, so the stale statement cannot be
 * deallocated until the rollback; it must not stay behind on the server. */
static void test_stale_statement_in_transaction_not_leaked(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 1);
    if (!check(p != NULL))
        return;
    reset_table(r, p, "sa", "x int");
    check(exec_ok(r, p, "INSERT INTO sa VALUES (1)", NULL, 0));
    cap_t c;
    check(query(r, p, "SELECT * FROM sa", NULL, 0, &c));
    cap_free(&c);
    check(exec_ok(r, p, "ALTER TABLE sa ADD COLUMN y int", NULL, 0));
    cap_on(weft_dbpool_run_interaction(p, select_star_sa, NULL, NULL), &c);
    if (cap_wait(r, &c) && check(cap_failure(&c) != NULL))
        check(weft_failure_is(cap_failure(&c), &weft_db_not_supported_error_type));
    cap_free(&c);
    if (query(r, p, "SELECT * FROM sa", NULL, 0, &c))
        check_int(weft_db_result_columns(c.res.value), ==, 2);
    cap_free(&c);
    check_int(prepared_count(r, p, "SELECT * FROM sa"), ==, 1); /* the old one is gone */
    pool_done(r, p);
    t_teardown(r);
}

/* weft_db_query's caller's bytes: data + len, not NUL-terminated. */
static weft_result_t text_of_len(weft_db_conn_t *conn, void *arg)
{
    (void)arg;
    char *three = malloc(3);
    memcpy(three, "abc", 3);
    char six[] = {'d', 'e', 'f', 'X', 'Y', 'Z', '\0'};
    weft_db_value_t v[2] = {{WEFT_DB_TEXT, 0, 0, three, 3}, {WEFT_DB_TEXT, 0, 0, six, 3}};
    weft_result_t res = weft_db_query(conn, "SELECT $1::text, $2::text", v, 2);
    free(three);
    return res;
}

static void test_text_param_is_len_bytes(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 1);
    if (!check(p != NULL))
        return;
    cap_t c;
    cap_on(weft_dbpool_run_with_connection(p, text_of_len, NULL, NULL), &c);
    if (cap_wait(r, &c) && cap_ok(&c)) {
        check_str(weft_db_result_value(c.res.value, 0, 0)->data, "abc");
        check_str(weft_db_result_value(c.res.value, 0, 1)->data, "def");
    }
    cap_free(&c);
    /* Long ones too (past the small buffer). */
    char big[1000];
    memset(big, 'q', sizeof(big));
    weft_db_value_t v = {WEFT_DB_TEXT, 0, 0, big, 600};
    if (query(r, p, "SELECT length($1::text)", &v, 1, &c))
        check_int(weft_db_result_value(c.res.value, 0, 0)->i, ==, 600);
    cap_free(&c);
    pool_done(r, p);
    t_teardown(r);
}

static void test_text_param_with_nul_fails(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 1);
    if (!check(p != NULL))
        return;
    weft_db_value_t v = {WEFT_DB_TEXT, 0, 0, "ab\0cd", 5};
    cap_t c;
    cap_on(weft_dbpool_run_query(p, "SELECT $1::text", &v, 1, NULL), &c);
    if (cap_wait(r, &c) && check(cap_failure(&c) != NULL)) {
        check(weft_failure_is(cap_failure(&c), &weft_db_data_error_type));
        char s[6];
        check(weft_db_failure_sqlstate(cap_failure(&c), s));
        check_str(s, "22021");
    }
    cap_free(&c);
    pool_done(r, p);
    t_teardown(r);
}

static void test_many_bytea_columns(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 1);
    if (!check(p != NULL))
        return;
    char sql[8192] = "SELECT ";
    for (int i = 0; i < 100; i++)
        snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql), "%s'\\x0%d'::bytea AS c%d",
                 i ? ", " : "", i % 10, i);
    cap_t c;
    if (query(r, p, sql, NULL, 0, &c)) {
        check_int(weft_db_result_columns(c.res.value), ==, 100);
        const weft_db_value_t *v = weft_db_result_value(c.res.value, 0, 99);
        check_int(v->type, ==, WEFT_DB_BLOB);
        check_int(v->len, ==, 1);
        check_int(((const unsigned char *)v->data)[0], ==, 9);
    }
    cap_free(&c);
    pool_done(r, p);
    t_teardown(r);
}

int main(void)
{
    char why[256];
    if (pg_server_start(&server, why, sizeof(why)) != 0) {
        pg_server_stop(&server);
        skip_all("%s", why);
    }
    db_driver = &weft_db_postgres;
    db_pg = true;
    snprintf(db_conninfo, sizeof(db_conninfo), "%s", server.conninfo);
    run_common_tests();
    TEST(test_restart_mid_call(),
         "server restarted mid-call: the call fails with OperationalError, the next succeeds");
    TEST(test_reconnect_off(), "with reconnect off a lost connection keeps failing");
    TEST(test_commit_of_aborted_transaction(),
         "commit of an aborted transaction fails with InternalError 25P02");
    TEST(test_connect_failure(), "a server that cannot be reached fails calls with 08001");
    TEST(test_stale_statement_is_prepared_again(),
         "a cached statement made stale by a schema change is prepared again");
    TEST(test_stale_statement_in_transaction_not_leaked(),
         "a statement dropped inside a failed transaction is deallocated after it");
    TEST(test_text_param_is_len_bytes(), "a text parameter is its len bytes, NUL or not after");
    TEST(test_text_param_with_nul_fails(), "a text parameter holding a NUL fails with 22021");
    TEST(test_many_bytea_columns(), "a row of 100 bytea columns");
    pg_server_stop(&server);
    return done_testing();
}
