/* SPDX-License-Identifier: MIT */
/* What the dbpool core, its result sets and its drivers share. */
#ifndef WEFT_BRIDGE_DBPOOL_INTERNAL_H
#define WEFT_BRIDGE_DBPOOL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <stdatomic.h>

#include <weft/dbpool.h>
#include <weft/events.h>
#include <weft/threadpool.h>

#include "bridge-internal.h"

/* The pool. Loop-side fields are the loop thread's; workers read only what never changes after
 * weft_dbpool_new (r, driver, conninfo, o). */
struct weft_dbpool_s {
    weft_reactor_t *r;
    const weft_db_driver_t *driver;
    char *conninfo;
    char *name;
    weft_dbpool_options_t o;
    weft_pool_t *pool;
    weft_trigger_id_t trigger;  /* the before-shutdown trigger; 0 once it ran */
    bool closing;               /* loop: no new calls */
    weft_deferred_t *closed;    /* loop: close()'s deferred (one reference) */
    atomic_bool closer_running; /* the closer's completion has not reached the loop */
    /* A close or a free has waited close_timeout_ms and a call outlived it (set by the closer
     * on its worker, or by free on the loop; read by free). */
    atomic_bool deadline_passed;
    pthread_mutex_t lock;            /* guards orphans */
    struct weft__db_task_s *orphans; /* completions the stopped reactor refused */
    weft__bridge_hook_t reopened;    /* re-posts the orphans when the reactor reopens */
};

/* One worker thread's connection. Lives in the thread's key slot from open to close; only
 * its thread touches it. */
struct weft_db_conn_s {
    weft_dbpool_t *p;
    const weft_db_driver_t *driver;
    void *h;     /* the driver's connection state (owns the native handle) */
    bool broken; /* lost: closed before the next job (reopened if p reconnects) */
    bool dead;   /* lost with reconnect off: every later job fails */
};

/*
 * A driver. Every function runs on the connection's own thread. Failures are owned and of a
 * weft.db type. `open` fills c->h or returns a failure; `alive` is a cheap check before a job
 * (false: reconnect first); `run` executes one statement; `broken` says whether the last
 * failure lost the connection.
 */
struct weft_db_driver_s {
    const char *name;
    /* Loop, at weft_dbpool_new: 0 or WEFT_EINVAL (logged) for a conninfo that cannot work. */
    int (*check)(const char *conninfo, const weft_dbpool_options_t *o);
    weft_failure_t *(*open)(weft_db_conn_t *c, const char *conninfo,
                            const weft_dbpool_options_t *o);
    void (*close)(weft_db_conn_t *c);
    bool (*alive)(weft_db_conn_t *c);
    bool (*broken)(weft_db_conn_t *c);
    weft_result_t (*run)(weft_db_conn_t *c, const char *sql, const weft_db_value_t *params,
                         size_t n, bool rows);
    weft_failure_t *(*begin)(weft_db_conn_t *c);
    weft_failure_t *(*commit)(weft_db_conn_t *c);
    weft_failure_t *(*rollback)(weft_db_conn_t *c);
    void *(*native)(weft_db_conn_t *c);
};

/* ---------------------------------------------------------------- connections (db-conn.c) */

/* Makes the process's connection key once (its destructor closes a thread's connection). */
void weft__db_conn_key_init(void);
/* Worker: this thread's open connection to p, opened or reopened as needed; NULL with *f. */
weft_db_conn_t *weft__db_worker_conn(weft_dbpool_t *p, weft_failure_t **f);
/* Worker: fn(conn, arg) inside a transaction (commit on a value, roll back on a failure). */
weft_result_t weft__db_in_transaction(weft_db_conn_t *conn, weft_db_interaction_fn fn, void *arg);
/* Worker: after a job, marks conn broken if the driver says it was lost. */
void weft__db_conn_after(weft_db_conn_t *conn);

/* ---------------------------------------------------------------- result sets (db-result.c) */

/* Starts a result set of ncols columns; NULL when out of memory. */
weft_db_result_t *weft__db_result_new(size_t ncols);
/* Sets column col's name (copied) and type. 0 or WEFT_ENOMEM. */
int weft__db_result_set_column(weft_db_result_t *rs, size_t col, const char *name,
                               weft_db_type_t type);
/* Appends one row of ncols values (their bytes are copied). 0 or WEFT_ENOMEM. */
int weft__db_result_add_row(weft_db_result_t *rs, const weft_db_value_t *row);
/* Finishes building (fixes up the pointers into the byte store). */
void weft__db_result_finish(weft_db_result_t *rs);
/* An exec result value (malloc'd) or an out-of-memory failure. */
weft_result_t weft__db_exec_result(int64_t rows, int64_t last_id, bool has_last_id);

/* ---------------------------------------------------------------- failures (db-error.c) */

/* The weft.db type a SQLSTATE's class maps to (DB-API's usual mapping, as psycopg's). */
const weft_failure_type_t *weft__db_type_for_sqlstate(const char *sqlstate);
/* A failure of the type the SQLSTATE maps to, code = its packed SQLSTATE, message
 * "<sqlstate>: <message>". type NULL: from the SQLSTATE. */
weft_failure_t *weft__db_failure(const weft_failure_type_t *type, const char *sqlstate,
                                 const char *message);

/* ---------------------------------------------------------------- statement cache (db-cache.c) */

/* A small LRU map from SQL text to a driver's prepared statement, one per connection. */
typedef struct {
    char *sql;
    uint64_t hash;
    uint64_t used;
    void *stmt;
} weft__db_cache_slot_t;

typedef struct {
    weft__db_cache_slot_t *slots;
    size_t n, cap;
    uint64_t tick;
    void (*finalize)(void *ctx, void *stmt); /* frees an evicted statement */
    void *ctx;
} weft__db_cache_t;

void weft__db_cache_init(weft__db_cache_t *c, size_t cap, void (*finalize)(void *, void *),
                         void *ctx);
uint64_t weft__db_hash(const char *sql);
/* The statement cached for sql, or NULL. */
void *weft__db_cache_get(weft__db_cache_t *c, const char *sql, uint64_t hash);
/* Caches stmt for sql, evicting the least recently used one when full. false (nothing cached,
 * the caller keeps stmt) when the cache is disabled or out of memory. */
bool weft__db_cache_put(weft__db_cache_t *c, const char *sql, uint64_t hash, void *stmt);
/* Finalizes and forgets sql's statement, if cached (it went stale: the next use prepares it
 * again). */
void weft__db_cache_drop(weft__db_cache_t *c, const char *sql, uint64_t hash);
/* Finalizes and forgets every statement. */
void weft__db_cache_clear(weft__db_cache_t *c);

#endif /* WEFT_BRIDGE_DBPOOL_INTERNAL_H */
