/* SPDX-License-Identifier: MIT */
/* Database pool benchmark (issue 9), side by side in one process and one run:
 *   1. SQLite point reads per second (SELECT v FROM kv WHERE id = ?, a 10000-row table in a
 *      temporary file) through weft_dbpool_run_query, K = 64 calls in flight, against the
 *      same prepared statement stepped directly on one thread;
 *   2. PostgreSQL point reads per second through the pool with 1 and 4 connections, on a
 *      private server this program starts and stops (skipped with a note if it cannot).
 *
 * Output, one measure per line (machine-readable):
 *   value: <measure> <value> <unit>
 *   ratio: dbpool_sqlite_point_read <pool / direct>     above 1: the pool is faster
 * The machine is shared and noisy: the sides alternate, ROUNDS rounds each, and each side's
 * median round is reported. Usage: dbpool [reads per round, default 100000]
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include <weft/dbpool.h>
#include <weft/error.h>

#include "../pg-helpers.c" /* benches link only themselves: the helper comes in whole */

#define ROUNDS   3
#define ROWS     10000
#define INFLIGHT 64

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return v[n / 2];
}

static void die(const char *what, int err)
{
    fprintf(stderr, "dbpool bench: %s: %s\n", what, weft_strerror(err));
    exit(1);
}

/* ---------------------------------------------------------------- the pool side */

typedef struct {
    weft_dbpool_t *p;
    const char *sql;
    long n, submitted, done, failed;
    unsigned seed;
} run_t;

static void submit_one(run_t *run);

static weft_result_t on_row(void *value, weft_free_fn free_fn, void *arg)
{
    run_t *run = arg;
    if (weft_db_result_rows(value) != 1)
        run->failed++;
    free_fn(value);
    run->done++;
    if (run->submitted < run->n)
        submit_one(run);
    return weft_ok(NULL, NULL);
}

static weft_result_t on_fail(weft_failure_t *f, void *arg)
{
    run_t *run = arg;
    char buf[256];
    weft_failure_format(f, buf, sizeof(buf));
    if (run->failed++ == 0)
        fprintf(stderr, "dbpool bench: %s\n", buf);
    weft_failure_free(f);
    run->done++;
    if (run->submitted < run->n)
        submit_one(run);
    return weft_ok(NULL, NULL);
}

static void submit_one(run_t *run)
{
    weft_db_value_t id = weft_db_int(1 + rand_r(&run->seed) % ROWS);
    int err = 0;
    weft_deferred_t *d = weft_dbpool_run_query(run->p, run->sql, &id, 1, &err);
    if (d == NULL)
        die("run_query", err);
    run->submitted++;
    int rc = weft_deferred_add_callbacks(d, on_row, run, on_fail, run);
    if (rc != 0)
        die("add_callbacks", rc);
    weft_deferred_unref(d);
}

/* Reads per second through p, INFLIGHT calls in flight. */
static double pool_reads(weft_reactor_t *r, weft_dbpool_t *p, const char *sql, long n)
{
    run_t run = {.p = p, .sql = sql, .n = n, .seed = 7};
    uv_loop_t *loop = weft_reactor_get_uv_loop(r);
    double t0 = now_s();
    for (int i = 0; i < INFLIGHT && run.submitted < n; i++)
        submit_one(&run);
    while (run.done < n)
        uv_run(loop, UV_RUN_ONCE);
    double t = now_s() - t0;
    if (run.failed > 0)
        die("reads failed", WEFT_EIO);
    return (double)n / t;
}

static void pool_close(weft_reactor_t *r, weft_dbpool_t *p)
{
    weft_deferred_t *d = weft_dbpool_close(p, NULL);
    uv_loop_t *loop = weft_reactor_get_uv_loop(r);
    while (d != NULL && !weft_deferred_called(d))
        uv_run(loop, UV_RUN_ONCE);
    weft_deferred_unref(d);
    int rc = weft_dbpool_free(p);
    if (rc != 0)
        die("dbpool_free", rc);
}

/* ---------------------------------------------------------------- the direct side */

static double direct_reads(sqlite3 *db, const char *sql, long n)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        die("prepare", WEFT_EIO);
    unsigned seed = 7;
    long found = 0;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, 1 + rand_r(&seed) % ROWS);
        while (sqlite3_step(st) == SQLITE_ROW)
            found += sqlite3_column_bytes(st, 0) > 0;
        sqlite3_reset(st);
    }
    double t = now_s() - t0;
    sqlite3_finalize(st);
    if (found != n)
        die("direct reads missed rows", WEFT_EIO);
    return (double)n / t;
}

static void fill_sqlite(const char *path)
{
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        die("sqlite3_open", WEFT_EIO);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; CREATE TABLE kv (id INTEGER PRIMARY KEY, v TEXT);"
                 "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 10000)"
                 " INSERT INTO kv SELECT i, 'value-' || i FROM c;",
                 NULL, NULL, NULL);
    sqlite3_close(db);
}

static void bench_sqlite(weft_reactor_t *r, long n)
{
    char dir[] = "/tmp/weft-bench-XXXXXX";
    if (mkdtemp(dir) == NULL)
        die("mkdtemp", WEFT_EIO);
    char path[128];
    snprintf(path, sizeof(path), "%s/bench.db", dir);
    fill_sqlite(path);
    const char *sql = "SELECT v FROM kv WHERE id = ?";
    sqlite3 *db;
    sqlite3_open(path, &db);
    weft_dbpool_options_t o;
    weft_dbpool_options_init(&o);
    o.min_connections = o.max_connections = 2;
    int err = 0;
    weft_dbpool_t *p = weft_dbpool_new(r, &weft_db_sqlite, path, &o, &err);
    if (p == NULL)
        die("dbpool_new", err);
    pool_reads(r, p, sql, n / 10); /* warm-up: connections open, statements prepared */
    direct_reads(db, sql, n / 10);
    double pv[ROUNDS], dv[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        dv[i] = direct_reads(db, sql, n);
        pv[i] = pool_reads(r, p, sql, n);
    }
    double pm = median(pv, ROUNDS), dm = median(dv, ROUNDS);
    printf("value: dbpool_sqlite_point_read_pool2 %.0f reads/s\n", pm);
    printf("value: dbpool_sqlite_point_read_direct %.0f reads/s\n", dm);
    printf("ratio: dbpool_sqlite_point_read %.2f\n", pm / dm);
    fflush(stdout);
    pool_close(r, p);
    sqlite3_close(db);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "dbpool bench: could not remove %s\n", dir);
}

static void bench_postgres(weft_reactor_t *r, long n)
{
    pg_server_t s;
    char why[256];
    if (pg_server_start(&s, why, sizeof(why)) != 0) {
        printf("# postgres skipped: %s\n", why);
        pg_server_stop(&s);
        return;
    }
    const unsigned conns[] = {1, 4};
    for (int c = 0; c < 2; c++) {
        weft_dbpool_options_t o;
        weft_dbpool_options_init(&o);
        o.min_connections = o.max_connections = conns[c];
        int err = 0;
        weft_dbpool_t *p = weft_dbpool_new(r, &weft_db_postgres, s.conninfo, &o, &err);
        if (p == NULL)
            die("dbpool_new", err);
        const char *sql = "SELECT 'value-' || $1::int";
        pool_reads(r, p, sql, n / 20);
        double v[ROUNDS];
        for (int i = 0; i < ROUNDS; i++)
            v[i] = pool_reads(r, p, sql, n / 4);
        printf("value: dbpool_postgres_point_read_conn%u %.0f reads/s\n", conns[c],
               median(v, ROUNDS));
        fflush(stdout);
        pool_close(r, p);
    }
    pg_server_stop(&s);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    if (n < 100)
        n = 100;
    weft_reactor_options_t ro;
    weft_reactor_options_init(&ro);
    ro.install_signal_handlers = false;
    int err = 0;
    weft_reactor_t *r = weft_reactor_new(&ro, &err);
    if (r == NULL)
        die("reactor_new", err);
    bench_sqlite(r, n);
    bench_postgres(r, n);
    err = weft_reactor_free(r);
    if (err != 0)
        die("reactor_free", err);
    return 0;
}
