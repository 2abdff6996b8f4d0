/* SPDX-License-Identifier: MIT */
/* The database connection pool (Twisted's adbapi): queries on pool threads, one connection
 * per thread, results as deferreds. Drivers: SQLite (libsqlite3) and PostgreSQL (libpq). */
#ifndef WEFT_BRIDGE_DBPOOL_H
#define WEFT_BRIDGE_DBPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <weft/compiler.h>
#include <weft/deferred.h>
#include <weft/failure.h>
#include <weft/reactor.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A dbpool owns one weft pool of its own (never the reactor's) whose every thread owns one
 * database connection: the thread opens it on its first job, uses it for every job it runs,
 * and closes it when the thread exits (idle above min_connections, or the pool closing).
 * A connection is therefore opened, used and closed on one thread, never another (Twisted
 * #3629). Queries and interactions queue on that pool and come back as deferreds on the loop
 * thread. doc/api/dbpool.md has the whole story and an example.
 *
 * SQL uses the database's own placeholders (SQLite `?`, PostgreSQL `$1`); parameters are
 * always bound, never pasted into the SQL text. Prepared statements are cached per connection.
 */
typedef struct weft_dbpool_s weft_dbpool_t;

/* A worker's connection, borrowed by interactions and hooks for the duration of the call. */
typedef struct weft_db_conn_s weft_db_conn_t;

/* A database driver. */
typedef struct weft_db_driver_s weft_db_driver_t;
/* SQLite: conninfo is a file name or a `file:` URI. Files default to WAL and a busy timeout.
 * ":memory:" (or any in-memory database) is refused for max_connections > 1: each connection
 * would see a database of its own. */
WEFT_EXPORT extern const weft_db_driver_t weft_db_sqlite;
/* PostgreSQL: conninfo is a libpq connection string ("host=/tmp port=5432 dbname=app"). */
WEFT_EXPORT extern const weft_db_driver_t weft_db_postgres;

/* The DB-API exception hierarchy (PEP 249), so errbacks can weft_failure_check them:
 *   weft.db.Error (parent weft.Error)
 *     weft.db.InterfaceError                misuse of the interface: wrong parameter count ...
 *     weft.db.DatabaseError
 *       weft.db.DataError                   bad value: out of range, wrong type (SQLSTATE 22)
 *       weft.db.OperationalError            connection lost, locked, cannot open (08, 57 ...)
 *       weft.db.IntegrityError              a constraint failed (SQLSTATE 23, e.g. 23505)
 *       weft.db.InternalError               the transaction is aborted, corruption (25, XX)
 *       weft.db.ProgrammingError            syntax error, no such table (42)
 *       weft.db.NotSupportedError           a feature the database lacks (0A)
 * A failure's code is its SQLSTATE packed by weft_db_sqlstate_code when the database gave one
 * (SQLite's errors are mapped to the nearest SQLSTATE), otherwise a WEFT_E... code. */
WEFT_EXPORT extern const weft_failure_type_t weft_db_error_type;
WEFT_EXPORT extern const weft_failure_type_t weft_db_interface_error_type;
WEFT_EXPORT extern const weft_failure_type_t weft_db_database_error_type;
WEFT_EXPORT extern const weft_failure_type_t weft_db_data_error_type;
WEFT_EXPORT extern const weft_failure_type_t weft_db_operational_error_type;
WEFT_EXPORT extern const weft_failure_type_t weft_db_integrity_error_type;
WEFT_EXPORT extern const weft_failure_type_t weft_db_internal_error_type;
WEFT_EXPORT extern const weft_failure_type_t weft_db_programming_error_type;
WEFT_EXPORT extern const weft_failure_type_t weft_db_not_supported_error_type;

/* The failure code standing for a five-character SQLSTATE ("23505"): a positive number, so
 * it never equals a WEFT_E... code. 0 for NULL or a malformed SQLSTATE. Thread: any. */
WEFT_EXPORT int weft_db_sqlstate_code(const char *sqlstate);

/* Writes f's SQLSTATE into out (6 bytes, NUL-terminated) and returns true, when f is a
 * weft.db failure whose code is a packed SQLSTATE; false (out = "") otherwise. Borrows f.
 * Thread: the failure's owner. */
WEFT_EXPORT bool weft_db_failure_sqlstate(const weft_failure_t *f, char out[6]);

/* ---------------------------------------------------------------- values */

/* The type of a value or a column. */
typedef enum {
    WEFT_DB_NULL = 0,
    WEFT_DB_INT = 1,    /* int64_t (PostgreSQL int2/int4/int8/oid and bool as 0/1) */
    WEFT_DB_DOUBLE = 2, /* double (float4/float8) */
    WEFT_DB_TEXT = 3,   /* bytes of text, NUL-terminated in results (other PostgreSQL types) */
    WEFT_DB_BLOB = 4,   /* bytes (PostgreSQL bytea) */
} weft_db_type_t;

/* A value: a parameter (build it with the helpers below) or a cell of a result set. */
typedef struct {
    weft_db_type_t type;
    int64_t i;        /* WEFT_DB_INT */
    double d;         /* WEFT_DB_DOUBLE */
    const void *data; /* WEFT_DB_TEXT, WEFT_DB_BLOB: the bytes */
    size_t len;       /* WEFT_DB_TEXT, WEFT_DB_BLOB: their length */
} weft_db_value_t;

static inline weft_db_value_t weft_db_null(void)
{
    weft_db_value_t v = {WEFT_DB_NULL, 0, 0, NULL, 0};
    return v;
}
static inline weft_db_value_t weft_db_int(int64_t i)
{
    weft_db_value_t v = {WEFT_DB_INT, i, 0, NULL, 0};
    return v;
}
static inline weft_db_value_t weft_db_double(double d)
{
    weft_db_value_t v = {WEFT_DB_DOUBLE, 0, d, NULL, 0};
    return v;
}
/* A C string as text (NULL gives a NULL value). */
static inline weft_db_value_t weft_db_text(const char *s)
{
    weft_db_value_t v = {s ? WEFT_DB_TEXT : WEFT_DB_NULL, 0, 0, s, s ? strlen(s) : 0};
    return v;
}
static inline weft_db_value_t weft_db_blob(const void *data, size_t len)
{
    weft_db_value_t v = {WEFT_DB_BLOB, 0, 0, data, len};
    return v;
}

/* ---------------------------------------------------------------- results */

/* A result set: column names and types, then rows of values. Opaque; read it with the
 * accessors (all borrow it; Thread: its owner). */
typedef struct weft_db_result_s weft_db_result_t;

WEFT_EXPORT size_t weft_db_result_rows(const weft_db_result_t *rs);
WEFT_EXPORT size_t weft_db_result_columns(const weft_db_result_t *rs);
/* The column's name; NULL for a column out of range. Valid until rs is freed. */
WEFT_EXPORT const char *weft_db_result_column_name(const weft_db_result_t *rs, size_t col);
/* The column's type: PostgreSQL's declared type; for SQLite, the type of the column's first
 * non-NULL value. WEFT_DB_NULL when unknown or out of range. */
WEFT_EXPORT weft_db_type_t weft_db_result_column_type(const weft_db_result_t *rs, size_t col);
/* The value at (row, col); NULL out of range. Valid until rs is freed. */
WEFT_EXPORT const weft_db_value_t *weft_db_result_value(const weft_db_result_t *rs, size_t row,
                                                        size_t col);
/* Frees rs; NULL does nothing. weft_db_result_free_fn has a weft_free_fn's signature (the
 * free function run_query's value travels with). Thread: its owner. */
WEFT_EXPORT void weft_db_result_free(weft_db_result_t *rs);
WEFT_EXPORT void weft_db_result_free_fn(void *rs);

/* What a statement run for its effect did (the value of run_operation; freed with the free
 * function it travels with). */
typedef struct {
    int64_t rows_affected;   /* rows inserted, updated or deleted */
    int64_t last_insert_id;  /* SQLite's last rowid; 0 where has_last_insert_id is false */
    bool has_last_insert_id; /* PostgreSQL has none: use INSERT ... RETURNING with run_query */
} weft_db_exec_t;

/* ---------------------------------------------------------------- the pool */

/* Options for weft_dbpool_new. weft_dbpool_options_init gives the defaults. */
typedef struct {
    const char *name;         /* copied; threads are weft-<name>-<n>. Default "db" */
    unsigned min_connections; /* connections (threads) kept open while idle. Default 1 */
    unsigned max_connections; /* connections at most. Default 4 */
    size_t queue_limit;       /* calls waiting for a connection at most (then
                                 weft.OverloadError). Default 0: the weft pool's 65536 */
    uint64_t idle_timeout_ms; /* a connection above min idle this long is closed. 0: 10000 */
    /* Runs on the worker right after each connection is opened, before any job uses it
     * (PRAGMAs, SET search_path ...). Returns NULL, or an owned failure: the connection is
     * closed and the job that needed it fails with it. NULL: no hook. */
    weft_failure_t *(*on_connect)(weft_db_conn_t *conn, void *arg);
    /* Runs on the worker just before a connection is closed. NULL: no hook. */
    void (*on_disconnect)(weft_db_conn_t *conn, void *arg);
    void *hook_arg;           /* both hooks' arg (borrowed until weft_dbpool_free) */
    bool reconnect;           /* a lost connection is reopened by the next job on its thread; false:
                                 that thread's later jobs fail with weft.db.OperationalError. Default true */
    size_t statement_cache;   /* prepared statements kept per connection (LRU). 0 disables
                                 the cache. Default 64 */
    unsigned busy_timeout_ms; /* SQLite: wait this long for a locked database. Default 5000 */
    bool sqlite_wal;          /* SQLite files: journal_mode=WAL. Default true */
    uint64_t close_timeout_ms; /* how long close waits for running jobs. Default 10000 */
} weft_dbpool_options_t;

/* Fills opts with the defaults above. Thread: any. */
WEFT_EXPORT void weft_dbpool_options_init(weft_dbpool_options_t *opts);

/*
 * Makes a pool of connections to conninfo (copied) with driver (&weft_db_sqlite or
 * &weft_db_postgres). No connection is opened yet: each worker thread opens its own on its
 * first job (as Twisted's adbapi does); errors to connect arrive on that job's deferred.
 * The pool registers a before-shutdown trigger on r that closes it, so a reactor stop waits
 * for its connections to close. opts is borrowed for the call (NULL: defaults). Returns an
 * owned pool, released with weft_dbpool_free. Thread: loop.
 * Errors (NULL, *err): WEFT_EINVAL for a NULL reactor, driver or conninfo, max_connections
 * 0, min_connections > max_connections, a libpq conninfo libpq cannot parse, or an SQLite
 * in-memory database with max_connections > 1 (logged with the reason); WEFT_ENOMEM; the
 * weft pool's creation error.
 */
WEFT_EXPORT WEFT_NODISCARD weft_dbpool_t *
weft_dbpool_new(weft_reactor_t *r, const weft_db_driver_t *driver, const char *conninfo,
                const weft_dbpool_options_t *opts, int *err);

/*
 * runQuery: runs sql with params bound on a connection (autocommit) and returns a deferred
 * that fires on the loop thread with its rows: a weft_db_result_t (owned by the callback,
 * freed with the free function it comes with), or a weft.db failure. sql and params (n of
 * them, text and blob bytes included) are copied. Returns an owned reference.
 * After weft_dbpool_close the deferred fails with weft.ClosedError; past queue_limit with
 * weft.OverloadError. Cancelling it removes a queued call; a running one finishes and its
 * result is freed. Thread: loop.
 * Errors (NULL, *err): WEFT_EINVAL for a NULL pool or sql, or params NULL with n > 0;
 * WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *weft_dbpool_run_query(weft_dbpool_t *p, const char *sql,
                                                                  const weft_db_value_t *params,
                                                                  size_t n, int *err);

/* runOperation: as weft_dbpool_run_query, firing with a weft_db_exec_t (rows affected, last
 * insert id). Thread: loop. Errors: as weft_dbpool_run_query. */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *weft_dbpool_run_operation(weft_dbpool_t *p,
                                                                      const char *sql,
                                                                      const weft_db_value_t *params,
                                                                      size_t n, int *err);

/* An interaction: runs on a worker with that worker's connection (borrowed for the call) and
 * returns weft_ok(value, free) or a failure, as a weft_thread_fn does. */
typedef weft_result_t (*weft_db_interaction_fn)(weft_db_conn_t *conn, void *arg);

/*
 * runInteraction: runs fn(conn, arg) on a worker inside a transaction. fn returns a value:
 * the transaction commits and the deferred fires with the value; a failed commit frees the
 * value and fires the commit's failure. fn returns a failure: the transaction rolls back and
 * the deferred fires with fn's failure (a rollback error is not allowed to hide it).
 * arg is borrowed until the job is done with it. That is when the deferred fires, unless it
 * is cancelled while fn runs: the deferred then fails with weft.CancelledError at once and
 * fn goes on with arg. An arg that may not outlive the deferred's callbacks goes through
 * weft_dbpool_run_interaction_ex, which frees it when fn is done. Returns an owned reference.
 * Thread: loop.
 * Errors (NULL, *err): WEFT_EINVAL for a NULL pool or fn; WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *
weft_dbpool_run_interaction(weft_dbpool_t *p, weft_db_interaction_fn fn, void *arg, int *err);

/* runWithConnection: as weft_dbpool_run_interaction without the transaction: fn manages
 * its own (or runs in autocommit). Thread: loop. Errors: as run_interaction. */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *
weft_dbpool_run_with_connection(weft_dbpool_t *p, weft_db_interaction_fn fn, void *arg, int *err);

/*
 * As weft_dbpool_run_interaction and weft_dbpool_run_with_connection, taking arg: arg_free
 * (NULL: arg is borrowed, as there) frees it on the loop thread once the job is done with it,
 * after the deferred has fired, also when a cancel fired the deferred while fn was still
 * running, and on every error path, an error return included. Thread: loop. Errors: as
 * run_interaction.
 */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *
weft_dbpool_run_interaction_ex(weft_dbpool_t *p, weft_db_interaction_fn fn, void *arg,
                               weft_free_fn arg_free, int *err);
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *
weft_dbpool_run_with_connection_ex(weft_dbpool_t *p, weft_db_interaction_fn fn, void *arg,
                                   weft_free_fn arg_free, int *err);

/*
 * Closes the pool: from now on every run_* call's deferred fails with weft.ClosedError; calls
 * already made (queued or running) are waited for up to close_timeout_ms, and those still
 * queued then fail with weft.CancelledError; each thread closes its own connection as it
 * exits. The returned deferred (an owned reference) fires with NULL once every connection is
 * closed, or with a weft.TimeoutError if a call was still running at the deadline (its
 * connection closes when it ends). The waiting happens on the reactor's I/O pool, never on the
 * loop. Calling it again returns the same deferred. Thread: loop. Errors (NULL, *err): WEFT_EINVAL
 * for a NULL pool; WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *weft_dbpool_close(weft_dbpool_t *p, int *err);

/*
 * Releases the pool. If it was not closed, closes it first as weft_dbpool_close does, but
 * waiting on this thread, up to close_timeout_ms. weft_dbpool_free(NULL) returns 0.
 * Thread: loop.
 * Returns: 0 when released; WEFT_EBUSY while a weft_dbpool_close is still waiting (free it
 * once its deferred has fired); WEFT_ETIMEDOUT if a call was still running when this free's
 * wait ended (nothing is released; call it again later); WEFT_EBUSY, at once, if a call is
 * still running after a close or free has already waited close_timeout_ms (a free never waits
 * the deadline twice).
 */
WEFT_EXPORT WEFT_NODISCARD int weft_dbpool_free(weft_dbpool_t *p);

/* ---------------------------------------------------------------- on a worker */

/*
 * Runs sql with params on conn, inside interactions and hooks: a weft_db_result_t value
 * (free function included) or a weft.db failure. Borrows everything. Thread: worker (the
 * connection's own thread).
 */
WEFT_EXPORT WEFT_NODISCARD weft_result_t weft_db_query(weft_db_conn_t *conn, const char *sql,
                                                       const weft_db_value_t *params, size_t n);

/* As weft_db_query, giving a weft_db_exec_t value. Thread: worker (the connection's own). */
WEFT_EXPORT WEFT_NODISCARD weft_result_t weft_db_execute(weft_db_conn_t *conn, const char *sql,
                                                         const weft_db_value_t *params, size_t n);

/* The driver's own handle (sqlite3 *, PGconn *), borrowed, for what weft does not wrap. Use
 * it on the connection's thread only. Thread: worker (the connection's own). */
WEFT_EXPORT void *weft_db_conn_native(weft_db_conn_t *conn);

/* The driver of conn's pool. Thread: worker (the connection's own). */
WEFT_EXPORT const weft_db_driver_t *weft_db_conn_driver(const weft_db_conn_t *conn);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_BRIDGE_DBPOOL_H */
