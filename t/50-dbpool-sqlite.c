/* SPDX-License-Identifier: MIT */
/* The database pool on SQLite: a temporary file database, and the in-memory rules. */
#include <stdlib.h>
#include <unistd.h>

#include <weft/dbpool.h>
#include <weft/error.h>
#include <weft/log.h>

#include "dbpool-tests.h"
#include "helpers.h"
#include "tap.h"

static char dir[64];

static weft_result_t journal_mode(weft_db_conn_t *conn, void *arg)
{
    (void)arg;
    return weft_db_query(conn, "PRAGMA journal_mode", NULL, 0);
}

static void test_file_defaults_to_wal(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 2);
    if (!check(p != NULL))
        return;
    cap_t c;
    cap_on(weft_dbpool_run_with_connection(p, journal_mode, NULL, NULL), &c);
    if (cap_wait(r, &c) && cap_ok(&c))
        check_str(weft_db_result_value(c.res.value, 0, 0)->data, "wal");
    cap_free(&c);
    pool_done(r, p);
    t_teardown(r);
}

static void test_memory_refused_for_many(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_options_t o;
    weft_dbpool_options_init(&o);
    o.max_connections = 2;
    int err = 0;
    weft_log_level_t saved = weft_log_get_level();
    weft_log_set_level(WEFT_LOG_OFF); /* the refusal is logged; keep the TAP output clean */
    check_ptr(weft_dbpool_new(r, &weft_db_sqlite, ":memory:", &o, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    check_ptr(weft_dbpool_new(r, &weft_db_sqlite, "file:x?mode=memory", &o, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    static const char *const uris[] = {
        "file::memory:",
        "file::memory:?cache=shared",
        "file:x?cache=shared&mode=memory",
        "file:",
        "",
    };
    for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
        err = 0;
        if (!check_ptr(weft_dbpool_new(r, &weft_db_sqlite, uris[i], &o, &err), ==, NULL))
            diag("accepted: \"%s\"", uris[i]);
        check_err(err, WEFT_EINVAL);
    }
    weft_log_set_level(saved);
    /* A file URI is a file, whatever else its query says. */
    char uri[128];
    snprintf(uri, sizeof(uri), "file:%s/uri.db?cache=private&mode=rwc", dir);
    weft_dbpool_t *p = weft_dbpool_new(r, &weft_db_sqlite, uri, &o, &err);
    if (check(p != NULL))
        pool_done(r, p);
    t_teardown(r);
}

static void test_trailing_comment_is_one_statement(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 1);
    if (!check(p != NULL))
        return;
    static const char *const one[] = {
        "SELECT 1; -- one row",
        "SELECT 1 /* c */",
        "SELECT 1 -- c\n ;\n /* d */ ;",
        "SELECT 1 /* open",
    };
    for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
        cap_t c;
        if (query(r, p, one[i], NULL, 0, &c))
            check_int(weft_db_result_value(c.res.value, 0, 0)->i, ==, 1);
        else
            diag("refused: %s", one[i]);
        cap_free(&c);
    }
    static const char *const two[] = {"SELECT 1; SELECT 2", "SELECT 1; -- c\nSELECT 2",
                                      "SELECT 1 /* c */ SELECT 2"};
    for (size_t i = 0; i < sizeof(two) / sizeof(two[0]); i++) {
        cap_t c;
        cap_on(weft_dbpool_run_query(p, two[i], NULL, 0, NULL), &c);
        if (cap_wait(r, &c) && check(cap_failure(&c) != NULL))
            check(weft_failure_is(cap_failure(&c), &weft_db_programming_error_type));
        cap_free(&c);
    }
    pool_done(r, p);
    t_teardown(r);
}

static void test_operation_counts_only_its_own_changes(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 1);
    if (!check(p != NULL))
        return;
    reset_table(r, p, "ch", "x INTEGER");
    check(exec_ok(r, p, "INSERT INTO ch VALUES (1), (2), (3)", NULL, 0));
    static const char *const none[] = {"SELECT * FROM ch", "CREATE TABLE IF NOT EXISTS ch2 (y)",
                                       "UPDATE ch SET x = 0 WHERE x > 100"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        cap_t c;
        cap_on(weft_dbpool_run_operation(p, none[i], NULL, 0, NULL), &c);
        if (cap_wait(r, &c) && cap_ok(&c)) {
            const weft_db_exec_t *e = c.res.value;
            if (!check_int(e->rows_affected, ==, 0))
                diag("for: %s", none[i]);
        }
        cap_free(&c);
    }
    cap_t c;
    cap_on(weft_dbpool_run_operation(p, "DELETE FROM ch WHERE x < 3", NULL, 0, NULL), &c);
    if (cap_wait(r, &c) && cap_ok(&c))
        check_int(((const weft_db_exec_t *)c.res.value)->rows_affected, ==, 2);
    cap_free(&c);
    pool_done(r, p);
    t_teardown(r);
}

static void test_memory_with_one_connection(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_options_t o;
    weft_dbpool_options_init(&o);
    o.max_connections = 1;
    int err = 0;
    weft_dbpool_t *p = weft_dbpool_new(r, &weft_db_sqlite, ":memory:", &o, &err);
    if (!check(p != NULL))
        return;
    check(exec_ok(r, p, "CREATE TABLE m (x INTEGER)", NULL, 0));
    check(exec_ok(r, p, "INSERT INTO m VALUES (1)", NULL, 0));
    check_int(count_rows(r, p, "m"), ==, 1); /* the same connection, the same database */
    pool_done(r, p);
    t_teardown(r);
}

/* A commit that fails: a deferred foreign key checked only at COMMIT. */
static weft_failure_t *foreign_keys_on(weft_db_conn_t *conn, void *arg)
{
    (void)arg;
    weft_result_t res = weft_db_execute(conn, "PRAGMA foreign_keys = ON", NULL, 0);
    if (res.kind == WEFT_RESULT_FAILURE)
        return res.failure;
    weft_result_free(res);
    return NULL;
}

static weft_result_t orphan_child(weft_db_conn_t *conn, void *arg)
{
    weft_result_t res = weft_db_execute(conn, "INSERT INTO child VALUES (1, 12345)", NULL, 0);
    if (res.kind != WEFT_RESULT_VALUE)
        return res;
    weft_result_free(res);
    return weft_ok(arg, tx_value_free);
}

static void test_failed_commit(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_options_t o;
    weft_dbpool_options_init(&o);
    o.max_connections = 1;
    o.on_connect = foreign_keys_on;
    weft_dbpool_t *p = pool_with(r, &o);
    if (!check(p != NULL))
        return;
    exec_ok(r, p, "DROP TABLE IF EXISTS child", NULL, 0);
    exec_ok(r, p, "DROP TABLE IF EXISTS parent", NULL, 0);
    exec_ok(r, p, "CREATE TABLE parent (id INTEGER PRIMARY KEY)", NULL, 0);
    exec_ok(r, p,
            "CREATE TABLE child (id INTEGER, pid INTEGER REFERENCES parent(id) "
            "DEFERRABLE INITIALLY DEFERRED)",
            NULL, 0);
    tx_t t = {.id = 0};
    cap_t c;
    cap_on(weft_dbpool_run_interaction(p, orphan_child, &t, NULL), &c);
    if (cap_wait(r, &c) && check(cap_failure(&c) != NULL)) {
        check(weft_failure_is(cap_failure(&c), &weft_db_integrity_error_type));
        char s[6];
        check(weft_db_failure_sqlstate(cap_failure(&c), s));
        check_str(s, "23503");
    }
    cap_free(&c);
    check_int(atomic_load(&t.freed), ==, 1); /* the value was dropped */
    check_int(count_rows(r, p, "child"), ==, 0);
    pool_done(r, p);
    t_teardown(r);
}

static void test_reactor_free_waits_for_pool(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_dbpool_t *p = pool_of(r, 1);
    if (!check_ptr(p, !=, NULL))
        return;
    check_err(weft_reactor_free(r), WEFT_EBUSY); /* the pool still points at it */
    check_err(weft_dbpool_free(p), 0);
    t_teardown(r);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/weft-sqlite-XXXXXX");
    if (mkdtemp(dir) == NULL)
        bail_out("mkdtemp failed");
    db_driver = &weft_db_sqlite;
    snprintf(db_conninfo, sizeof(db_conninfo), "%s/test.db", dir);
    run_common_tests();
    TEST(test_file_defaults_to_wal(), "a file database defaults to WAL");
    TEST(test_memory_refused_for_many(),
         "every in-memory form is refused for more than one connection with WEFT_EINVAL");
    TEST(test_trailing_comment_is_one_statement(),
         "comments and semicolons after the one statement are not a second statement");
    TEST(test_operation_counts_only_its_own_changes(),
         "run_operation counts only its own statement's changes");
    TEST(test_memory_with_one_connection(), ":memory: with one connection keeps its database");
    TEST(test_failed_commit(), "a failed commit fails the interaction and drops its value");
    TEST(test_reactor_free_waits_for_pool(),
         "weft_reactor_free refuses with WEFT_EBUSY while a database pool on it is not freed");
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return done_testing();
}
