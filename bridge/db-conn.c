/* SPDX-License-Identifier: MIT */
/* A worker thread's own connection: opened by its first job, closed as the thread exits. */

/*
 * The connection sits in a pthread key slot of the worker thread that opened it. Only that
 * thread ever reads the slot, so a connection is opened, used and closed on one thread. The
 * key's destructor runs as the thread exits (idle above min, or its pool stopping) and closes
 * the connection there; weft_pool_stop and weft_pool_free join the threads, so once they
 * return every connection is closed. One key serves every dbpool: a thread belongs to one
 * weft pool, hence to at most one dbpool.
 */
#include <weft/dbpool.h>
#include <weft/error.h>

#include "../common/alloc-internal.h"
#include "dbpool-internal.h"

static pthread_key_t conn_key;
static pthread_once_t conn_key_once = PTHREAD_ONCE_INIT;

static void conn_close(weft_db_conn_t *c)
{
    if (c->h == NULL)
        return;
    const weft_dbpool_options_t *o = &c->p->o;
    if (o->on_disconnect != NULL)
        o->on_disconnect(c, o->hook_arg);
    c->driver->close(c);
    c->h = NULL;
}

/* The key's destructor: the worker thread is exiting; its connection closes here, on it. */
static void conn_destroy(void *arg)
{
    weft_db_conn_t *c = arg;
    conn_close(c);
    weft__free(c);
}

static void conn_key_make(void)
{
    int rc = pthread_key_create(&conn_key, conn_destroy);
    WEFT_ASSERT(rc == 0); /* fails only when the process has run out of keys */
}

void weft__db_conn_key_init(void)
{
    pthread_once(&conn_key_once, conn_key_make);
}

static weft_failure_t *lost_for_good(void)
{
    return weft_failure_new(&weft_db_operational_error_type, WEFT_ECONNRESET,
                            "the connection was lost and reconnect is off");
}

weft_db_conn_t *weft__db_worker_conn(weft_dbpool_t *p, weft_failure_t **f)
{
    weft_db_conn_t *c = pthread_getspecific(conn_key);
    if (c == NULL) {
        if ((c = weft__calloc(1, sizeof(*c))) == NULL) {
            *f = weft_failure_from_code(WEFT_ENOMEM, NULL);
            return NULL;
        }
        c->p = p;
        c->driver = p->driver;
        if (pthread_setspecific(conn_key, c) != 0) {
            weft__free(c);
            *f = weft_failure_from_code(WEFT_ENOMEM, NULL);
            return NULL;
        }
    }
    if (c->dead) {
        *f = lost_for_good();
        return NULL;
    }
    /* Twisted #4964: a dead connection is found before the job uses it, not by the job. */
    if (c->h != NULL && (c->broken || !c->driver->alive(c))) {
        conn_close(c);
        c->broken = false;
        if (!p->o.reconnect) {
            c->dead = true;
            *f = lost_for_good();
            return NULL;
        }
    }
    if (c->h == NULL) {
        if ((*f = c->driver->open(c, p->conninfo, &p->o)) != NULL)
            return NULL;
        if (p->o.on_connect != NULL && (*f = p->o.on_connect(c, p->o.hook_arg)) != NULL) {
            conn_close(c);
            return NULL;
        }
    }
    return c;
}

void weft__db_conn_after(weft_db_conn_t *conn)
{
    if (conn->h != NULL && conn->driver->broken(conn))
        conn->broken = true;
}

weft_result_t weft__db_in_transaction(weft_db_conn_t *conn, weft_db_interaction_fn fn, void *arg)
{
    weft_failure_t *f = conn->driver->begin(conn);
    if (f != NULL)
        return weft_fail(f);
    weft_result_t res = fn(conn, arg);
    if (res.kind == WEFT_RESULT_VALUE) {
        if ((f = conn->driver->commit(conn)) == NULL)
            return res;
        /* A failed commit is a failure: the value is dropped, the transaction undone. */
        if (res.free != NULL)
            res.free(res.value);
        weft_failure_free(conn->driver->rollback(conn));
        return weft_fail(f);
    }
    /* fn's failure (or a deferred, which the bridge refuses) wins over a rollback error,
     * which Twisted would only log, and a worker may not log (#4404). */
    weft_failure_free(conn->driver->rollback(conn));
    return res;
}

static weft_result_t misuse(const char *what)
{
    return weft_fail(weft_failure_newf(&weft_db_interface_error_type, WEFT_EINVAL,
                                       "%s: a NULL or closed connection, or NULL sql or params",
                                       what));
}

weft_result_t weft_db_query(weft_db_conn_t *conn, const char *sql, const weft_db_value_t *params,
                            size_t n)
{
    if (conn == NULL || conn->h == NULL || sql == NULL || (params == NULL && n > 0))
        return misuse("weft_db_query");
    weft_result_t res = conn->driver->run(conn, sql, params, n, true);
    weft__db_conn_after(conn);
    return res;
}

weft_result_t weft_db_execute(weft_db_conn_t *conn, const char *sql, const weft_db_value_t *params,
                              size_t n)
{
    if (conn == NULL || conn->h == NULL || sql == NULL || (params == NULL && n > 0))
        return misuse("weft_db_execute");
    weft_result_t res = conn->driver->run(conn, sql, params, n, false);
    weft__db_conn_after(conn);
    return res;
}

void *weft_db_conn_native(weft_db_conn_t *conn)
{
    return conn && conn->h ? conn->driver->native(conn) : NULL;
}

const weft_db_driver_t *weft_db_conn_driver(const weft_db_conn_t *conn)
{
    return conn ? conn->driver : NULL;
}
