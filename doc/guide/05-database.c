/* SPDX-License-Identifier: MIT */
/* doc/guide.md, chapter 5: the database pool (SQLite). One chain of callbacks, each step
 * returning the next query's deferred: create, insert, a transfer that commits, one that
 * rolls back, a query, and the pool's close.
 *
 *     05-database FILE.db */
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

typedef struct {
    weft_reactor_t *r;
    weft_dbpool_t *db;
} app_t;

typedef struct {
    const char *from, *to;
    int amount;
} transfer_t;

/* An interaction: on a worker, inside a transaction. A value commits, a failure rolls back. */
static weft_result_t transfer(weft_db_conn_t *conn, void *arg)
{
    const transfer_t *t = arg;
    weft_db_value_t debit[] = {weft_db_int(t->amount), weft_db_text(t->from)};
    weft_db_value_t credit[] = {weft_db_int(t->amount), weft_db_text(t->to)};
    weft_result_t res =
        weft_db_execute(conn, "UPDATE accounts SET balance = balance - ? WHERE name = ?", debit, 2);
    if (res.kind != WEFT_RESULT_VALUE)
        return res; /* a failure: the transaction rolls back */
    weft_result_free(res);
    return weft_db_execute(conn, "UPDATE accounts SET balance = balance + ? WHERE name = ?", credit,
                           2);
}

static const transfer_t fine = {"alice", "bob", 30};
static const transfer_t too_much = {"bob", "alice", 500}; /* breaks CHECK (balance >= 0) */

/* Each step takes the previous value (and frees it) and returns the next deferred to wait
 * for: the chain pauses until it fires. NULL from a run_* call ends the chain with a failure. */
static weft_result_t wait_or_fail(weft_deferred_t *d, int err)
{
    return d != NULL ? weft_wait_for(d) : weft_fail(weft_failure_from_code(err, "cannot submit"));
}

static weft_result_t insert_rows(void *value, weft_free_fn free_fn, void *arg)
{
    app_t *app = arg;
    int err = 0;
    free_fn(value); /* the CREATE's weft_db_exec_t */
    return wait_or_fail(weft_dbpool_run_operation(app->db,
                                                  "INSERT INTO accounts VALUES ('alice', 100), "
                                                  "('bob', 20)",
                                                  NULL, 0, &err),
                        err);
}

static weft_result_t first_transfer(void *value, weft_free_fn free_fn, void *arg)
{
    app_t *app = arg;
    int err = 0;
    printf("inserted %lld rows\n", (long long)((weft_db_exec_t *)value)->rows_affected);
    free_fn(value);
    return wait_or_fail(weft_dbpool_run_interaction(app->db, transfer, (void *)&fine, &err), err);
}

static weft_result_t second_transfer(void *value, weft_free_fn free_fn, void *arg)
{
    app_t *app = arg;
    int err = 0;
    printf("alice -> bob 30: committed\n");
    free_fn(value);
    return wait_or_fail(weft_dbpool_run_interaction(app->db, transfer, (void *)&too_much, &err),
                        err);
}

/* An errback: the second transfer failed, so it rolled back; go on with a query. */
static weft_result_t rolled_back(weft_failure_t *f, void *arg)
{
    app_t *app = arg;
    char state[6];
    if (!weft_failure_check(f, &weft_db_integrity_error_type))
        return weft_fail(f); /* not what we expected: pass it on */
    printf("bob -> alice 500: rolled back (%s, SQLSTATE %s)\n", weft_failure_type(f)->name,
           weft_db_failure_sqlstate(f, state) ? state : "?");
    weft_failure_free(f);
    int err = 0;
    return wait_or_fail(weft_dbpool_run_query(app->db,
                                              "SELECT name, balance FROM accounts ORDER BY name",
                                              NULL, 0, &err),
                        err);
}

static weft_result_t print_rows(void *value, weft_free_fn free_fn, void *arg)
{
    app_t *app = arg;
    const weft_db_result_t *rs = value;
    for (size_t i = 0; i < weft_db_result_rows(rs); i++)
        printf("%s has %lld\n", (const char *)weft_db_result_value(rs, i, 0)->data,
               (long long)weft_db_result_value(rs, i, 1)->i);
    free_fn(value);
    int err = 0;
    return wait_or_fail(weft_dbpool_close(app->db, &err), err); /* connections close on
                                                                    their own threads */
}

static weft_result_t finish(weft_result_t res, void *arg)
{
    app_t *app = arg;
    if (res.kind == WEFT_RESULT_FAILURE)
        printf("failed: %s\n", weft_failure_message(res.failure));
    else
        printf("pool closed\n");
    weft_result_free(res);
    (void)weft_reactor_stop(app->r);
    return weft_ok(NULL, NULL);
}

static void start(void *arg)
{
    app_t *app = arg;
    int err = 0;
    weft_deferred_t *d = weft_dbpool_run_operation(
        app->db,
        "CREATE TABLE accounts (name TEXT PRIMARY KEY, balance INTEGER NOT NULL "
        "CHECK (balance >= 0))",
        NULL, 0, &err);
    if (d == NULL || weft_deferred_add_callback(d, insert_rows, app) != 0 ||
        weft_deferred_add_callback(d, first_transfer, app) != 0 ||
        weft_deferred_add_callback(d, second_transfer, app) != 0 ||
        weft_deferred_add_errback(d, rolled_back, app) != 0 ||
        weft_deferred_add_callback(d, print_rows, app) != 0 ||
        weft_deferred_add_both(d, finish, app) != 0)
        abort();
    weft_deferred_unref(d);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.db\n", argv[0]);
        return 2;
    }
    int err = 0;
    app_t app = {weft_reactor_new(NULL, &err), NULL};
    if (app.r != NULL)
        app.db = weft_dbpool_new(app.r, &weft_db_sqlite, argv[1], NULL, &err);
    if (app.db == NULL) {
        fprintf(stderr, "cannot open %s: %s\n", argv[1], weft_strerror(err));
        return 1;
    }
    if (weft_reactor_call_when_running(app.r, start, &app) != 0 || weft_reactor_run(app.r) != 0)
        return 1;
    if (weft_dbpool_free(app.db) != 0 || weft_reactor_free(app.r) != 0)
        return 1;
    return 0;
}
