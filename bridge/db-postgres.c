/* SPDX-License-Identifier: MIT */
/* The PostgreSQL driver: libpq, one PGconn per worker thread, prepared statements by name. */
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/dbpool.h>
#include <weft/error.h>

#include "../common/alloc-internal.h"
#include "dbpool-internal.h"

/* Type OIDs from PostgreSQL's pg_type.dat (stable across versions). */
enum {
    OID_BOOL = 16,
    OID_BYTEA = 17,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_OID = 26,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
};

typedef struct {
    PGconn *conn;
    weft__db_cache_t cache;
    uint64_t next_name;
    /* Statements evicted while a failed transaction refused DEALLOCATE: deallocated once the
     * transaction has ended (the server keeps a prepared statement across a rollback). */
    struct pg_stmt_s *stale;
} pg_t;

/* A cached statement: its server-side name and how many parameters it takes. */
typedef struct pg_stmt_s {
    struct pg_stmt_s *next; /* in pg->stale */
    char name[32];
    int nparams;
} pg_stmt_t;

static pg_t *P(weft_db_conn_t *c)
{
    return c->h;
}

static void drop_message(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

/* A failure from a result (SQLSTATE and the server's message), or from the connection. */
static weft_failure_t *pg_failure(PGconn *conn, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", msg ? msg : PQerrorMessage(conn));
    drop_message(buf);
    if (PQstatus(conn) == CONNECTION_BAD) {
        /* Lost: whatever the server last said, the caller needs to know the connection is
         * gone (an admin shutdown says 57P01; a dead socket says nothing). */
        if (state == NULL || (state[0] != '0' && state[0] != '5'))
            state = "08006";
        return weft__db_failure(&weft_db_operational_error_type, state, buf);
    }
    if (state == NULL)
        return weft__db_failure(&weft_db_operational_error_type, "08000", buf);
    return weft__db_failure(NULL, state, buf);
}

static int pg_check(const char *conninfo, const weft_dbpool_options_t *o)
{
    (void)o;
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
    if (opts == NULL) {
        PQfreemem(msg);
        return WEFT_EINVAL;
    }
    PQconninfoFree(opts);
    return 0;
}

static void deallocate(pg_t *pg, pg_stmt_t *s)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "DEALLOCATE %s", s->name);
    PQclear(PQexec(pg->conn, sql));
    weft__free(s);
}

/* Frees a statement and its server side. Inside a failed transaction the server refuses
 * DEALLOCATE ("current transaction is aborted"): the statement waits on pg->stale. */
static void pg_finalize(void *ctx, void *stmt)
{
    pg_t *pg = ctx;
    pg_stmt_t *s = stmt;
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        weft__free(s); /* the server forgets it with the session */
    } else if (PQtransactionStatus(pg->conn) == PQTRANS_INERROR) {
        s->next = pg->stale;
        pg->stale = s;
    } else {
        deallocate(pg, s);
    }
}

/* Deallocates the statements evicted inside a failed transaction, once it has ended. */
static void flush_stale(pg_t *pg)
{
    if (PQtransactionStatus(pg->conn) == PQTRANS_INERROR)
        return;
    while (pg->stale != NULL) {
        pg_stmt_t *s = pg->stale;
        pg->stale = s->next;
        if (PQstatus(pg->conn) == CONNECTION_OK)
            deallocate(pg, s);
        else
            weft__free(s);
    }
}

/* Notices (warnings, NOTICE from functions) would go to stderr: a worker never prints. */
static void pg_quiet(void *arg, const PGresult *res)
{
    (void)arg;
    (void)res;
}

static weft_failure_t *pg_open(weft_db_conn_t *c, const char *conninfo,
                               const weft_dbpool_options_t *o)
{
    pg_t *pg = weft__calloc(1, sizeof(*pg));
    if (pg == NULL)
        return weft_failure_from_code(WEFT_ENOMEM, NULL);
    pg->conn = PQconnectdb(conninfo);
    if (pg->conn == NULL || PQstatus(pg->conn) != CONNECTION_OK) {
        char buf[1024];
        snprintf(buf, sizeof(buf), "cannot connect: %s",
                 pg->conn ? PQerrorMessage(pg->conn) : "out of memory");
        drop_message(buf);
        PQfinish(pg->conn);
        weft__free(pg);
        return weft__db_failure(&weft_db_operational_error_type, "08001", buf);
    }
    PQsetNoticeReceiver(pg->conn, pg_quiet, NULL);
    weft__db_cache_init(&pg->cache, o->statement_cache, pg_finalize, pg);
    c->h = pg;
    return NULL;
}

static void pg_close(weft_db_conn_t *c)
{
    pg_t *pg = P(c);
    weft__db_cache_clear(&pg->cache);
    while (pg->stale != NULL) {
        pg_stmt_t *s = pg->stale;
        pg->stale = s->next;
        weft__free(s); /* PQfinish ends the session, and its statements with it */
    }
    PQfinish(pg->conn);
    weft__free(pg);
}

/* An idle connection has nothing to read: if its socket is readable, the server has sent a
 * FATAL message (an admin shutdown) and closed it, or sent a notice. Reading until nothing
 * is left finds the end of stream, which libpq turns into CONNECTION_BAD. */
static bool pg_alive(weft_db_conn_t *c)
{
    PGconn *conn = P(c)->conn;
    for (int i = 0; i < 8 && PQstatus(conn) == CONNECTION_OK; i++) {
        struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
        if (pfd.fd < 0)
            return false;
        if (poll(&pfd, 1, 0) <= 0)
            break;
        if (!PQconsumeInput(conn))
            return false;
        PGnotify *n;
        while ((n = PQnotifies(conn)) != NULL)
            PQfreemem(n);
    }
    return PQstatus(conn) == CONNECTION_OK;
}

static bool pg_broken(weft_db_conn_t *c)
{
    return PQstatus(P(c)->conn) != CONNECTION_OK;
}

static void *pg_native(weft_db_conn_t *c)
{
    return P(c)->conn;
}

/* The statement for sql: from the cache, or prepared (and described, for its parameter
 * count) now. *owned says the caller must free it (not cached). */
static weft_failure_t *prepare(pg_t *pg, const char *sql, pg_stmt_t **out, bool *owned)
{
    uint64_t hash = weft__db_hash(sql);
    pg_stmt_t *s = weft__db_cache_get(&pg->cache, sql, hash);
    *owned = false;
    if (s != NULL) {
        *out = s;
        return NULL;
    }
    if ((s = weft__calloc(1, sizeof(*s))) == NULL)
        return weft_failure_from_code(WEFT_ENOMEM, NULL);
    snprintf(s->name, sizeof(s->name), "weft_%" PRIu64, ++pg->next_name);
    PGresult *res = PQprepare(pg->conn, s->name, sql, 0, NULL);
    weft_failure_t *f = NULL;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        f = pg_failure(pg->conn, res);
    PQclear(res);
    if (f == NULL) {
        res = PQdescribePrepared(pg->conn, s->name);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            f = pg_failure(pg->conn, res);
        else
            s->nparams = PQnparams(res);
        PQclear(res);
    }
    if (f != NULL) {
        weft__free(s);
        return f;
    }
    if (!weft__db_cache_put(&pg->cache, sql, hash, s))
        *owned = true;
    *out = s;
    return NULL;
}

static weft_db_type_t type_of(Oid oid)
{
    switch (oid) {
    case OID_BOOL:
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID:
        return WEFT_DB_INT;
    case OID_FLOAT4:
    case OID_FLOAT8:
        return WEFT_DB_DOUBLE;
    case OID_BYTEA:
        return WEFT_DB_BLOB;
    default:
        return WEFT_DB_TEXT;
    }
}

/* Rows of a text-format result, converted by column type. */
static weft_result_t rows_of(PGresult *res)
{
    int ncols = PQnfields(res), nrows = PQntuples(res);
    weft_db_result_t *rs = weft__db_result_new((size_t)ncols);
    weft_db_value_t *row = ncols ? weft__calloc((size_t)ncols, sizeof(*row)) : NULL;
    weft_db_type_t *types = ncols ? weft__calloc((size_t)ncols, sizeof(*types)) : NULL;
    unsigned char **blobs = ncols ? weft__calloc((size_t)ncols, sizeof(*blobs)) : NULL;
    bool oom = rs == NULL || (ncols > 0 && (row == NULL || types == NULL || blobs == NULL));
    for (int c = 0; !oom && c < ncols; c++) {
        types[c] = type_of(PQftype(res, c));
        oom = weft__db_result_set_column(rs, (size_t)c, PQfname(res, c), types[c]) != 0;
    }
    for (int r = 0; !oom && r < nrows; r++) {
        int nblobs = 0;
        for (int c = 0; c < ncols; c++) {
            const char *s = PQgetvalue(res, r, c);
            if (PQgetisnull(res, r, c)) {
                row[c] = weft_db_null();
                continue;
            }
            switch (types[c]) {
            case WEFT_DB_INT:
                row[c] =
                    weft_db_int(PQftype(res, c) == OID_BOOL ? s[0] == 't' : strtoll(s, NULL, 10));
                break;
            case WEFT_DB_DOUBLE:
                row[c] = weft_db_double(strtod(s, NULL));
                break;
            case WEFT_DB_BLOB: {
                size_t len = 0;
                unsigned char *b = PQunescapeBytea((const unsigned char *)s, &len);
                if (b == NULL) {
                    oom = true;
                    row[c] = weft_db_null();
                    break;
                }
                blobs[nblobs++] = b;
                row[c] = weft_db_blob(b, len);
                break;
            }
            default:
                row[c] = weft_db_text(s);
                row[c].len = (size_t)PQgetlength(res, r, c);
                break;
            }
        }
        if (!oom)
            oom = weft__db_result_add_row(rs, row) != 0;
        for (int i = 0; i < nblobs; i++)
            PQfreemem(blobs[i]);
    }
    weft__free(row);
    weft__free(types);
    weft__free(blobs);
    if (oom) {
        weft_db_result_free(rs);
        return weft_fail(weft_failure_from_code(WEFT_ENOMEM, NULL));
    }
    weft__db_result_finish(rs);
    return weft_ok(rs, weft_db_result_free_fn);
}

static weft_result_t pg_run(weft_db_conn_t *c, const char *sql, const weft_db_value_t *params,
                            size_t n, bool rows)
{
    pg_t *pg = P(c);
    if (n > 65535)
        return weft_fail(weft__db_failure(&weft_db_programming_error_type, "54000",
                                          "more than 65535 parameters"));
    /* Text goes as a C string: one with a NUL inside would be cut there, silently. */
    size_t text_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (params[i].type != WEFT_DB_TEXT)
            continue;
        if (params[i].len > 0 && memchr(params[i].data, '\0', params[i].len) != NULL) {
            char buf[96];
            snprintf(buf, sizeof(buf), "text parameter %zu holds a NUL byte (send it as a blob)",
                     i + 1);
            return weft_fail(weft__db_failure(&weft_db_data_error_type, "22021", buf));
        }
        text_bytes += params[i].len + 1;
    }
    flush_stale(pg);
    pg_stmt_t *s = NULL;
    bool owned = false;
    if (pg->cache.cap > 0) {
        weft_failure_t *f = prepare(pg, sql, &s, &owned);
        if (f != NULL)
            return weft_fail(f);
        if ((size_t)s->nparams != n) {
            char buf[128];
            snprintf(buf, sizeof(buf), "the statement has %d parameters, %zu were given",
                     s->nparams, n);
            if (owned)
                pg_finalize(pg, s);
            return weft_fail(weft__db_failure(&weft_db_programming_error_type, "07001", buf));
        }
    }
    /* Everything goes as text but blobs (binary bytea); numbers are formatted here. */
    const char *small_vals[16];
    int small_lens[16], small_fmts[16];
    char small_nums[16][32];
    char small_text[256];
    const char **vals = small_vals;
    int *lens = small_lens, *fmts = small_fmts;
    char(*nums)[32] = small_nums;
    char *text = small_text;
    if (text_bytes > sizeof(small_text))
        text = weft__malloc(text_bytes);
    if (n > 16) {
        vals = weft__malloc(n * sizeof(*vals));
        lens = weft__malloc(n * sizeof(*lens));
        fmts = weft__malloc(n * sizeof(*fmts));
        nums = weft__malloc(n * sizeof(*nums));
    }
    if (vals == NULL || lens == NULL || fmts == NULL || nums == NULL || text == NULL) {
        if (vals != small_vals) {
            weft__free(vals);
            weft__free(lens);
            weft__free(fmts);
            weft__free(nums);
        }
        if (text != small_text)
            weft__free(text);
        if (owned)
            pg_finalize(pg, s);
        return weft_fail(weft_failure_from_code(WEFT_ENOMEM, NULL));
    }
    char *text_at = text;
    for (size_t i = 0; i < n; i++) {
        const weft_db_value_t *v = &params[i];
        lens[i] = 0;
        fmts[i] = 0;
        switch (v->type) {
        case WEFT_DB_INT:
            snprintf(nums[i], sizeof(nums[i]), "%" PRId64, v->i);
            vals[i] = nums[i];
            break;
        case WEFT_DB_DOUBLE:
            snprintf(nums[i], sizeof(nums[i]), "%.17g", v->d);
            vals[i] = nums[i];
            break;
        case WEFT_DB_TEXT:
            /* data + len is the value, not necessarily NUL-terminated (weft_db_query's
             * caller's bytes): libpq reads text as a C string, so it gets a copy. */
            if (v->len > 0)
                memcpy(text_at, v->data, v->len);
            text_at[v->len] = '\0';
            vals[i] = text_at;
            text_at += v->len + 1;
            break;
        case WEFT_DB_BLOB:
            vals[i] = v->data ? v->data : "";
            lens[i] = (int)v->len;
            fmts[i] = 1;
            break;
        default:
            vals[i] = NULL;
            break;
        }
    }
    PGresult *res = s ? PQexecPrepared(pg->conn, s->name, (int)n, vals, lens, fmts, 0)
                      : PQexecParams(pg->conn, sql, (int)n, NULL, vals, lens, fmts, 0);
    if (vals != small_vals) {
        weft__free(vals);
        weft__free(lens);
        weft__free(fmts);
        weft__free(nums);
    }
    if (text != small_text)
        weft__free(text);
    weft_result_t out;
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK && rows) {
        out = rows_of(res);
    } else if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        if (rows) {
            weft_db_result_t *rs = weft__db_result_new(0);
            out = rs ? weft_ok(rs, weft_db_result_free_fn)
                     : weft_fail(weft_failure_from_code(WEFT_ENOMEM, NULL));
        } else {
            out = weft__db_exec_result(strtoll(PQcmdTuples(res), NULL, 10), 0, false);
        }
    } else {
        out = weft_fail(pg_failure(pg->conn, res));
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (s != NULL && !owned && state != NULL &&
            (strcmp(state, "0A000") == 0 || strcmp(state, "26000") == 0)) {
            /* The statement went stale ("cached plan must not change result type" after a
             * schema change; or it was deallocated behind the cache's back): the next call
             * prepares it again. */
            weft__db_cache_drop(&pg->cache, sql, weft__db_hash(sql));
        }
    }
    PQclear(res);
    if (owned)
        pg_finalize(pg, s);
    return out;
}

static weft_failure_t *pg_simple(pg_t *pg, const char *sql)
{
    PGresult *res = PQexec(pg->conn, sql);
    weft_failure_t *f = NULL;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        f = pg_failure(pg->conn, res);
    PQclear(res);
    return f;
}

static weft_failure_t *pg_begin(weft_db_conn_t *c)
{
    return pg_simple(P(c), "BEGIN");
}

static weft_failure_t *pg_commit(weft_db_conn_t *c)
{
    pg_t *pg = P(c);
    /* COMMIT in a failed transaction "succeeds" by rolling back: that is a failure here. */
    if (PQtransactionStatus(pg->conn) == PQTRANS_INERROR) {
        weft_failure_free(pg_simple(pg, "ROLLBACK"));
        flush_stale(pg);
        return weft__db_failure(&weft_db_internal_error_type, "25P02",
                                "the transaction was aborted by an earlier error and rolled "
                                "back instead of committed");
    }
    weft_failure_t *f = pg_simple(pg, "COMMIT");
    flush_stale(pg);
    return f;
}

static weft_failure_t *pg_rollback(weft_db_conn_t *c)
{
    pg_t *pg = P(c);
    if (PQstatus(pg->conn) != CONNECTION_OK || PQtransactionStatus(pg->conn) == PQTRANS_IDLE)
        return NULL;
    weft_failure_t *f = pg_simple(pg, "ROLLBACK");
    flush_stale(pg);
    return f;
}

const weft_db_driver_t weft_db_postgres = {
    .name = "postgres",
    .check = pg_check,
    .open = pg_open,
    .close = pg_close,
    .alive = pg_alive,
    .broken = pg_broken,
    .run = pg_run,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .native = pg_native,
};
