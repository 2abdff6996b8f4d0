/* SPDX-License-Identifier: MIT */
/* The database connection pool: calls queued on a pool whose threads own a connection each. */

/*
 * Design. A dbpool owns a weft pool of min_connections..max_connections threads; each thread
 * owns one connection (db-conn.c). A call's path, and the thread of each step:
 *
 *   submit (loop)      a task record (sql and params copied into it) and a cancellable
 *                      deferred; weft_pool_submit on the dbpool's pool
 *   run_task (worker)  the thread's connection (opened or reopened first), the statement or
 *                      the interaction; the result is written into the record
 *   task_done (worker, or the thread that cancelled or stopped the job)
 *                      weft_reactor_call_from_thread(complete): the record crosses back
 *   complete (loop)    the deferred fires with the result, or, if it was cancelled meanwhile,
 *                      the late result is freed; the record is freed
 *
 * The pool's hook tells whether the job ran (status 0) or never will (cancelled, timed out),
 * so a record always has one owner: the worker while it runs, then the loop. A completion the
 * closing reactor refuses (a weft_reactor_free in progress) goes on the pool's orphan list:
 * re-posted when a refused free reopens the reactor's queue (the bridge's reopen hook), or
 * delivered by weft_dbpool_free. Once its hook has run, a job is done with its weft pool: its
 * canceller leaves the pool (which weft_dbpool_free may have freed since) alone.
 *
 * close() refuses new calls at once and stops the pool from the reactor's I/O pool with a task
 * of the same kind (weft_pool_stop blocks, so never on the loop): queued and running calls
 * are waited for up to close_timeout_ms (queued ones still left then are cancelled), the
 * threads exit and close their connections. `closer_running` keeps weft_dbpool_free away from the
 * pool (and p) until the closer is done with them: a closer whose completion was posted never
 * touches p again, and the loop clears the flag before the close deferred fires (so its
 * callbacks may free the pool); a refused one clears it under p->lock with its orphan.
 */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <weft/bridge.h>
#include <weft/dbpool.h>
#include <weft/error.h>
#include <weft/events.h>
#include <weft/log.h>
#include <weft/threadpool.h>

#include "../common/alloc-internal.h"
#include "bridge-internal.h"
#include "dbpool-internal.h"

typedef enum {
    TASK_QUERY,
    TASK_OPERATION,
    TASK_INTERACTION,
    TASK_WITH_CONNECTION,
    TASK_CLOSE,
} task_kind_t;

typedef struct weft__db_task_s {
    struct weft__db_task_s *next; /* in p->orphans */
    weft_dbpool_t *p;
    weft_reactor_t *r;
    weft_pool_t *pool; /* the pool the job is on */
    weft_job_id_t id;
    weft_deferred_t *d; /* the completion's reference */
    task_kind_t kind;
    weft_db_interaction_fn fn;
    void *arg;
    weft_free_fn arg_free; /* frees arg on the loop once the job is done with it */
    char *sql;
    atomic_bool back; /* the pool's hook has run: the job is done with its pool */
    /* Written by the worker, read by the loop after the thread-call hand-over. */
    weft_result_t result;
    int status;
    size_t n;
    weft_db_value_t params[]; /* their bytes follow, then sql */
} task_t;

/* ---------------------------------------------------------------- the worker side */

/* Queued calls still run (as Twisted's close lets them) until the deadline; whatever is still
 * queued then is cancelled, and running calls are left to finish on their own. */
static weft_result_t close_pool(weft_dbpool_t *p)
{
    int rc = weft_pool_stop(p->pool, WEFT_POOL_STOP_DRAIN, p->o.close_timeout_ms);
    if (rc == 0)
        return weft_ok(NULL, NULL);
    /* Read by weft_dbpool_free once this closer's completion has reached the loop. */
    atomic_store_explicit(&p->deadline_passed, true, memory_order_release);
    rc = weft_pool_stop(p->pool, WEFT_POOL_STOP_CANCEL, 0);
    (void)rc; /* still running: that is the failure below */
    return weft_fail(weft_failure_newf(&weft_timeout_error_type, WEFT_ETIMEDOUT,
                                       "dbpool close: calls were still running after %llu ms; "
                                       "queued ones are cancelled, and a running one's "
                                       "connection closes when it ends",
                                       (unsigned long long)p->o.close_timeout_ms));
}

static void run_task(void *arg)
{
    task_t *t = arg;
    if (t->kind == TASK_CLOSE) {
        t->result = close_pool(t->p);
        return;
    }
    weft_failure_t *f = NULL;
    weft_db_conn_t *conn = weft__db_worker_conn(t->p, &f);
    if (conn == NULL) {
        t->result = weft_fail(f);
        return;
    }
    switch (t->kind) {
    case TASK_QUERY:
    case TASK_OPERATION:
        t->result = conn->driver->run(conn, t->sql, t->params, t->n, t->kind == TASK_QUERY);
        break;
    case TASK_INTERACTION:
        t->result = weft__db_in_transaction(conn, t->fn, t->arg);
        break;
    default:
        t->result = t->fn(conn, t->arg);
        break;
    }
    weft__db_conn_after(conn);
}

static void complete(void *arg);

/* The hook: on the worker after run_task, or on the thread that cancelled or stopped it. */
static void task_done(void *arg, int status)
{
    task_t *t = arg;
    weft_dbpool_t *p = t->p;
    bool closer = t->kind == TASK_CLOSE;
    t->status = status;
    atomic_store_explicit(&t->back, true, memory_order_release);
    int rc;
    for (;;) {
        rc = weft_reactor_call_from_thread(t->r, complete, t);
        if (rc != WEFT_ENOMEM)
            break;
        /* The loop is alive: the result must still reach it; wait a moment and retry. */
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    if (rc == 0)
        return; /* posted: t and p are the loop's now (the closer's flag too) */
    /* The reactor's queue is closed (a weft_reactor_free in progress). Under the lock, so
     * that a reopen's hook, which takes it, either sees the orphan or follows a post that
     * worked: try once more, else leave it for the hook or weft_dbpool_free. */
    pthread_mutex_lock(&p->lock);
    if (weft_reactor_call_from_thread(t->r, complete, t) != 0) {
        t->next = p->orphans;
        p->orphans = t;
    }
    /* The closer's last touch of p: from the unlock, weft_dbpool_free may release it. */
    if (closer)
        atomic_store_explicit(&p->closer_running, false, memory_order_release);
    pthread_mutex_unlock(&p->lock);
}

/* ---------------------------------------------------------------- the loop side */

static weft_result_t outcome(task_t *t)
{
    switch (t->status) {
    case 0:
        if (t->result.kind == WEFT_RESULT_DEFERRED) {
            weft_deferred_unref(t->result.deferred);
            return weft_fail_new(&weft_error_type, WEFT_EINVAL,
                                 "an interaction returned a deferred (only values or failures "
                                 "can come back from a worker)");
        }
        return t->result;
    case WEFT_ECANCELED:
        return weft_fail_new(&weft_cancelled_error_type, WEFT_ECANCELED,
                             t->kind == TASK_CLOSE ? "dbpool close: the reactor's I/O pool stopped "
                                                     "before the close ran"
                                                   : "the call was cancelled before it ran");
    default:
        return weft_fail(weft_failure_from_code(t->status, NULL));
    }
}

static void deliver(task_t *t)
{
    weft_deferred_t *d = t->d;
    weft_result_t res = outcome(t);
    weft__reactor_unhold(t->r);
    if (t->kind == TASK_CLOSE) /* the closer is done with p: the callbacks may free it */
        atomic_store_explicit(&t->p->closer_running, false, memory_order_relaxed);
    if (weft_deferred_called(d)) {
        weft_result_free(res); /* cancelled meanwhile: the late result is freed here */
    } else {
        int rc = weft_deferred_fire(d, res);
        (void)rc; /* unfired (checked): cannot fail */
    }
    weft_deferred_unref(d);
    if (t->arg_free != NULL)
        t->arg_free(t->arg); /* the job is done with it */
    weft__free(t);
}

static void complete(void *arg)
{
    deliver(arg);
}

/* Loop: the bridge's reopen hook. A refused weft_reactor_free has reopened the reactor's
 * queue: the completions it refused meanwhile are posted again. */
static void repost_orphans(void *arg)
{
    weft_dbpool_t *p = arg;
    pthread_mutex_lock(&p->lock);
    task_t *t = p->orphans, *keep = NULL;
    p->orphans = NULL;
    while (t != NULL) {
        task_t *next = t->next;
        if (weft_reactor_call_from_thread(t->r, complete, t) != 0) {
            t->next = keep; /* out of memory: weft_dbpool_free delivers it */
            keep = t;
        }
        t = next;
    }
    p->orphans = keep;
    pthread_mutex_unlock(&p->lock);
}

static void deliver_orphans(weft_dbpool_t *p)
{
    pthread_mutex_lock(&p->lock);
    task_t *t = p->orphans;
    p->orphans = NULL;
    pthread_mutex_unlock(&p->lock);
    while (t != NULL) {
        task_t *next = t->next;
        deliver(t);
        t = next;
    }
}

/* The deferred's canceller: a queued call is removed (its hook posts the completion); a
 * running one finishes and its result is freed in deliver(). A job whose hook has run is done
 * with its pool, which weft_dbpool_free may have freed since: the pool is left alone. */
static int task_cancel(weft_deferred_t *d, void *arg)
{
    (void)d;
    task_t *t = arg;
    if (atomic_load_explicit(&t->back, memory_order_acquire))
        return 0;
    int rc = weft_pool_cancel(t->pool, t->id);
    (void)rc; /* 0, EBUSY (running) or ENOENT (completing): all end in deliver() */
    return 0;
}

static task_t *task_new(weft_dbpool_t *p, task_kind_t kind, size_t extra)
{
    task_t *t = weft__malloc(sizeof(*t) + extra);
    if (t == NULL)
        return NULL;
    memset(t, 0, sizeof(*t));
    t->p = p;
    t->r = p->r;
    t->pool = p->pool;
    t->kind = kind;
    t->result = weft_ok(NULL, NULL);
    atomic_init(&t->back, false);
    return t;
}

static weft_deferred_t *refused(int code, int *err)
{
    weft_deferred_t *d = weft_deferred_fail(weft_failure_from_code(code, NULL));
    if (err != NULL)
        *err = d ? 0 : WEFT_ENOMEM;
    return d;
}

/* Takes t. A pool refusal (overload, closed) fails the deferred; NULL only when out of memory. */
static weft_deferred_t *submit(task_t *t, const char *name, int *err)
{
    weft_deferred_t *d = weft_deferred_new_cancellable(task_cancel, t);
    if (d == NULL) {
        if (t->arg_free != NULL)
            t->arg_free(t->arg);
        weft__free(t);
        if (err != NULL)
            *err = WEFT_ENOMEM;
        return NULL;
    }
    t->d = weft_deferred_ref(d);
    weft_job_options_t jo;
    weft_job_options_init(&jo);
    jo.name = name;
    int rc = weft_pool_submit_ex(t->pool, &jo, run_task, task_done, t, &t->id);
    if (err != NULL)
        *err = 0;
    if (rc != 0) {
        weft_deferred_unref(t->d);
        if (t->arg_free != NULL)
            t->arg_free(t->arg);
        weft__free(t);
        rc = weft_deferred_errback(d, weft_failure_from_code(rc, NULL));
        (void)rc; /* d is new */
        return d;
    }
    weft__reactor_hold(t->r); /* a borrowed loop stays alive until the result is back */
    return d;
}

static weft_deferred_t *run_sql(weft_dbpool_t *p, task_kind_t kind, const char *sql,
                                const weft_db_value_t *params, size_t n, int *err)
{
    if (p == NULL || sql == NULL || (params == NULL && n > 0)) {
        if (err != NULL)
            *err = WEFT_EINVAL;
        return NULL;
    }
    if (p->closing)
        return refused(WEFT_ECLOSED, err);
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        if (params[i].type == WEFT_DB_TEXT || params[i].type == WEFT_DB_BLOB)
            bytes += params[i].len + 1;
    size_t sql_len = strlen(sql);
    task_t *t = task_new(p, kind, n * sizeof(weft_db_value_t) + bytes + sql_len + 1);
    if (t == NULL) {
        if (err != NULL)
            *err = WEFT_ENOMEM;
        return NULL;
    }
    t->n = n;
    char *store = (char *)(t->params + n);
    for (size_t i = 0; i < n; i++) {
        t->params[i] = params[i];
        switch (params[i].type) {
        case WEFT_DB_TEXT:
        case WEFT_DB_BLOB:
            if (params[i].len > 0)
                memcpy(store, params[i].data, params[i].len);
            store[params[i].len] = '\0'; /* text parameters are C strings for libpq */
            t->params[i].data = store;
            store += params[i].len + 1;
            break;
        case WEFT_DB_INT:
        case WEFT_DB_DOUBLE:
            break;
        default:
            t->params[i] = weft_db_null();
            break;
        }
    }
    t->sql = store;
    memcpy(t->sql, sql, sql_len + 1);
    return submit(t, kind == TASK_QUERY ? "db query" : "db operation", err);
}

weft_deferred_t *weft_dbpool_run_query(weft_dbpool_t *p, const char *sql,
                                       const weft_db_value_t *params, size_t n, int *err)
{
    return run_sql(p, TASK_QUERY, sql, params, n, err);
}

weft_deferred_t *weft_dbpool_run_operation(weft_dbpool_t *p, const char *sql,
                                           const weft_db_value_t *params, size_t n, int *err)
{
    return run_sql(p, TASK_OPERATION, sql, params, n, err);
}

/* Takes arg when arg_free is not NULL: freed on every path, failures included. */
static weft_deferred_t *run_fn(weft_dbpool_t *p, task_kind_t kind, weft_db_interaction_fn fn,
                               void *arg, weft_free_fn arg_free, int *err)
{
    weft_deferred_t *d = NULL;
    int e = 0;
    task_t *t = NULL;
    if (p == NULL || fn == NULL)
        e = WEFT_EINVAL;
    else if (p->closing)
        d = refused(WEFT_ECLOSED, &e);
    else if ((t = task_new(p, kind, 0)) == NULL)
        e = WEFT_ENOMEM;
    if (t == NULL) {
        if (arg_free != NULL)
            arg_free(arg);
        if (err != NULL)
            *err = e;
        return d;
    }
    t->fn = fn;
    t->arg = arg;
    t->arg_free = arg_free;
    return submit(t, kind == TASK_INTERACTION ? "db interaction" : "db with connection", err);
}

weft_deferred_t *weft_dbpool_run_interaction(weft_dbpool_t *p, weft_db_interaction_fn fn, void *arg,
                                             int *err)
{
    return run_fn(p, TASK_INTERACTION, fn, arg, NULL, err);
}

weft_deferred_t *weft_dbpool_run_with_connection(weft_dbpool_t *p, weft_db_interaction_fn fn,
                                                 void *arg, int *err)
{
    return run_fn(p, TASK_WITH_CONNECTION, fn, arg, NULL, err);
}

weft_deferred_t *weft_dbpool_run_interaction_ex(weft_dbpool_t *p, weft_db_interaction_fn fn,
                                                void *arg, weft_free_fn arg_free, int *err)
{
    return run_fn(p, TASK_INTERACTION, fn, arg, arg_free, err);
}

weft_deferred_t *weft_dbpool_run_with_connection_ex(weft_dbpool_t *p, weft_db_interaction_fn fn,
                                                    void *arg, weft_free_fn arg_free, int *err)
{
    return run_fn(p, TASK_WITH_CONNECTION, fn, arg, arg_free, err);
}

/* ---------------------------------------------------------------- the pool */

void weft_dbpool_options_init(weft_dbpool_options_t *o)
{
    memset(o, 0, sizeof(*o));
    o->name = "db";
    o->min_connections = 1;
    o->max_connections = 4;
    o->reconnect = true;
    o->statement_cache = 64;
    o->busy_timeout_ms = 5000;
    o->sqlite_wal = true;
    o->close_timeout_ms = 10000;
}

static weft_deferred_t *shutdown_trigger(void *arg);

static void pool_release(weft_dbpool_t *p)
{
    pthread_mutex_destroy(&p->lock);
    weft__free(p->conninfo);
    weft__free(p->name);
    weft__free(p);
}

weft_dbpool_t *weft_dbpool_new(weft_reactor_t *r, const weft_db_driver_t *driver,
                               const char *conninfo, const weft_dbpool_options_t *opts, int *err)
{
    weft_dbpool_options_t defaults;
    if (opts == NULL) {
        weft_dbpool_options_init(&defaults);
        opts = &defaults;
    }
    int e = 0;
    weft_dbpool_t *p = NULL;
    if (r == NULL || driver == NULL || conninfo == NULL || opts->max_connections == 0 ||
        opts->min_connections > opts->max_connections)
        e = WEFT_EINVAL;
    else
        e = driver->check(conninfo, opts);
    if (e == 0 && (p = weft__calloc(1, sizeof(*p))) == NULL)
        e = WEFT_ENOMEM;
    if (e != 0)
        goto out;
    weft__db_conn_key_init();
    p->r = r;
    p->driver = driver;
    p->o = *opts;
    atomic_init(&p->closer_running, false);
    atomic_init(&p->deadline_passed, false);
    p->conninfo = weft__strdup(conninfo);
    p->name = weft__strdup(opts->name ? opts->name : "db");
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        weft__free(p->conninfo);
        weft__free(p->name);
        weft__free(p);
        p = NULL;
        e = WEFT_ENOMEM;
        goto out;
    }
    if (p->conninfo == NULL || p->name == NULL) {
        e = WEFT_ENOMEM;
        goto fail;
    }
    p->o.name = p->name;
    weft_pool_options_t po;
    weft_pool_options_init(&po);
    po.name = p->name;
    po.min_threads = opts->min_connections;
    po.max_threads = opts->max_connections;
    po.queue_limit = opts->queue_limit;
    po.idle_timeout_ms = opts->idle_timeout_ms;
    weft__list_init(&p->reopened.link);
    p->reopened.fn = repost_orphans;
    p->reopened.arg = p;
    weft__bridge_t *b = weft__bridge_get(r, &e);
    if (b == NULL)
        goto fail;
    if ((p->pool = weft_pool_new(&po, &e)) == NULL)
        goto fail;
    e = weft_reactor_add_trigger(r, "shutdown", WEFT_PHASE_BEFORE, shutdown_trigger, p,
                                 "weft.dbpool", &p->trigger);
    if (e == 0) {
        weft__bridge_add_reopen_hook(b, &p->reopened);
        goto out;
    }
    int rc = weft_pool_free(p->pool, WEFT_POOL_STOP_CANCEL, 0);
    (void)rc; /* no job was ever submitted: nothing to wait for */
fail:
    pool_release(p);
    p = NULL;
out:
    if (err != NULL)
        *err = p ? 0 : e;
    return p;
}

weft_deferred_t *weft_dbpool_close(weft_dbpool_t *p, int *err)
{
    if (p == NULL) {
        if (err != NULL)
            *err = WEFT_EINVAL;
        return NULL;
    }
    if (p->closed != NULL) {
        if (err != NULL)
            *err = 0;
        return weft_deferred_ref(p->closed);
    }
    int e = 0;
    weft_pool_t *io = weft_reactor_default_pool(p->r, WEFT_POOL_KIND_IO, &e);
    task_t *t = io ? task_new(p, TASK_CLOSE, 0) : NULL;
    if (t == NULL) {
        if (err != NULL)
            *err = io ? WEFT_ENOMEM : e;
        return NULL;
    }
    t->pool = io;
    p->closing = true;
    atomic_store_explicit(&p->closer_running, true, memory_order_relaxed);
    weft_deferred_t *d = submit(t, "dbpool close", err);
    if (d == NULL || weft_deferred_called(d)) /* not queued: free() will close the pool */
        atomic_store_explicit(&p->closer_running, false, memory_order_relaxed);
    if (d == NULL) {
        p->closing = false; /* out of memory: nothing changed, close may be called again */
        return NULL;
    }
    p->closed = weft_deferred_ref(d);
    return d;
}

/* Before-shutdown trigger: the reactor waits for the pool to close. */
static weft_deferred_t *shutdown_trigger(void *arg)
{
    weft_dbpool_t *p = arg;
    p->trigger = 0;
    return weft_dbpool_close(p, NULL);
}

int weft_dbpool_free(weft_dbpool_t *p)
{
    if (p == NULL)
        return 0;
    if (atomic_load_explicit(&p->closer_running, memory_order_acquire))
        return WEFT_EBUSY;
    p->closing = true;
    /* Closed already: every thread has been joined and this returns at once. Otherwise this
     * is the close: calls already made finish within the deadline, as in weft_dbpool_close.
     * Once a close or a free has waited that long, a call still running is past its deadline:
     * waiting for it again would only block the loop again, so a later free does not wait. */
    bool passed = atomic_load_explicit(&p->deadline_passed, memory_order_acquire);
    int rc = weft_pool_free(p->pool, WEFT_POOL_STOP_DRAIN, passed ? 0 : p->o.close_timeout_ms);
    if (rc != 0) {
        int crc = weft_pool_stop(p->pool, WEFT_POOL_STOP_CANCEL, 0); /* the queued rest */
        (void)crc;
        atomic_store_explicit(&p->deadline_passed, true, memory_order_relaxed);
        return passed ? WEFT_EBUSY : rc;
    }
    /* Every hook has run: completions refused by a stopped reactor are delivered now. */
    weft__bridge_remove_reopen_hook(&p->reopened);
    deliver_orphans(p);
    if (p->trigger != 0) {
        rc = weft_reactor_remove_trigger(p->r, p->trigger);
        (void)rc; /* it has not run: it clears the id when it does */
    }
    weft_deferred_unref(p->closed);
    pool_release(p);
    return 0;
}
