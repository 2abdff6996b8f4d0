/* SPDX-License-Identifier: MIT */
/* The SQLite driver: libsqlite3, one sqlite3 handle per worker thread. */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include <weft/dbpool.h>
#include <weft/error.h>
#include <weft/log.h>

#include "../common/alloc-internal.h"
#include "dbpool-internal.h"

typedef struct {
    sqlite3 *db;
    weft__db_cache_t cache;
} lite_t;

static lite_t *L(weft_db_conn_t *c)
{
    return c->h;
}

/* SQLite's result codes in DB-API's terms, with the nearest SQLSTATE (as the failure code). */
static weft_failure_t *lite_failure(sqlite3 *db, int rc, bool preparing)
{
    int ext = db ? sqlite3_extended_errcode(db) : rc;
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    const weft_failure_type_t *type = &weft_db_database_error_type;
    const char *state = "HY000";
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
        type = &weft_db_integrity_error_type;
        switch (ext) {
        case SQLITE_CONSTRAINT_UNIQUE:
        case SQLITE_CONSTRAINT_PRIMARYKEY:
            state = "23505";
            break;
        case SQLITE_CONSTRAINT_NOTNULL:
            state = "23502";
            break;
        case SQLITE_CONSTRAINT_FOREIGNKEY:
            state = "23503";
            break;
        case SQLITE_CONSTRAINT_CHECK:
            state = "23514";
            break;
        default:
            state = "23000";
        }
        break;
    case SQLITE_ERROR:
        /* At prepare time: bad SQL or a missing table or column. */
        type = preparing ? &weft_db_programming_error_type : &weft_db_operational_error_type;
        state = preparing ? (strstr(msg, "syntax error") ? "42601" : "42000") : "HY000";
        break;
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
        type = &weft_db_data_error_type;
        state = "22000";
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM:
    case SQLITE_INTERRUPT:
    case SQLITE_AUTH:
    case SQLITE_PERM:
        type = &weft_db_operational_error_type;
        state = (rc & 0xff) == SQLITE_CANTOPEN ? "08001" : "HY000";
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_INTERNAL:
        type = &weft_db_internal_error_type;
        state = "XX000";
        break;
    case SQLITE_MISUSE:
        type = &weft_db_interface_error_type;
        break;
    default:
        break;
    }
    char buf[512];
    snprintf(buf, sizeof(buf), "%s (%s)", msg, sqlite3_errstr(ext));
    return weft__db_failure(type, state, buf);
}

/* Every form whose connections each get a database of their own: ":memory:", "" (a private
 * temporary database), and the URIs "file::memory:" (with or without a query, such as
 * "?cache=shared"), "file:" with an empty path, and any "file:...?mode=memory". */
static bool is_memory(const char *conninfo)
{
    if (strcmp(conninfo, ":memory:") == 0 || conninfo[0] == '\0')
        return true;
    if (strncmp(conninfo, "file:", 5) != 0)
        return false;
    const char *path = conninfo + 5;
    if (strncmp(path, "//", 2) == 0) {
        path += 2;
        path += strcspn(path, "/?#"); /* the authority */
    }
    size_t len = strcspn(path, "?#");
    if (len == 0 || (len == 8 && strncmp(path, ":memory:", 8) == 0))
        return true;
    const char *q = path[len] == '?' ? path + len + 1 : NULL;
    while (q != NULL && *q != '\0' && *q != '#') {
        if (strncmp(q, "mode=memory", 11) == 0 && strchr("&#", q[11]) != NULL)
            return true;
        q = strchr(q, '&');
        if (q != NULL)
            q++;
    }
    return false;
}

/* Past whitespace, semicolons and comments ("-- to the end of the line", C-style): a tail of
 * nothing else holds no second statement. */
static const char *skip_blank(const char *s)
{
    for (;;) {
        s += strspn(s, " \t\r\n\f\v;");
        if (s[0] == '-' && s[1] == '-') {
            s += strcspn(s, "\n");
        } else if (s[0] == '/' && s[1] == '*') {
            const char *end = strstr(s + 2, "*/");
            s = end != NULL ? end + 2 : s + strlen(s); /* SQLite accepts an unclosed one */
        } else {
            return s;
        }
    }
}

static int lite_check(const char *conninfo, const weft_dbpool_options_t *o)
{
    if (is_memory(conninfo) && o->max_connections > 1) {
        weft_log(WEFT_LOG_ERROR, "dbpool",
                 "SQLite in-memory database \"%s\" with max_connections %u: each connection "
                 "would see a database of its own; use max_connections 1 or a file",
                 conninfo, o->max_connections);
        return WEFT_EINVAL;
    }
    return 0;
}

static void lite_finalize(void *ctx, void *stmt)
{
    (void)ctx;
    sqlite3_finalize(stmt);
}

static weft_failure_t *lite_exec(lite_t *l, const char *sql)
{
    int rc = sqlite3_exec(l->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? NULL : lite_failure(l->db, rc, false);
}

static weft_failure_t *lite_open(weft_db_conn_t *c, const char *conninfo,
                                 const weft_dbpool_options_t *o)
{
    lite_t *l = weft__calloc(1, sizeof(*l));
    if (l == NULL)
        return weft_failure_from_code(WEFT_ENOMEM, NULL);
    /* NOMUTEX: the handle never leaves its thread. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(conninfo, &l->db, flags, NULL);
    weft_failure_t *f = NULL;
    if (rc != SQLITE_OK) {
        f = lite_failure(l->db, rc, false);
        sqlite3_close(l->db);
        weft__free(l);
        return f;
    }
    sqlite3_extended_result_codes(l->db, 1);
    sqlite3_busy_timeout(l->db, (int)o->busy_timeout_ms);
    if (o->sqlite_wal && !is_memory(conninfo))
        f = lite_exec(l, "PRAGMA journal_mode=WAL");
    if (f != NULL) {
        sqlite3_close(l->db);
        weft__free(l);
        return f;
    }
    weft__db_cache_init(&l->cache, o->statement_cache, lite_finalize, NULL);
    c->h = l;
    return NULL;
}

static void lite_close(weft_db_conn_t *c)
{
    lite_t *l = L(c);
    weft__db_cache_clear(&l->cache);
    sqlite3_close(l->db);
    weft__free(l);
}

static bool lite_alive(weft_db_conn_t *c)
{
    (void)c;
    return true;
}

static bool lite_broken(weft_db_conn_t *c)
{
    (void)c;
    return false;
}

static void *lite_native(weft_db_conn_t *c)
{
    return L(c)->db;
}

static weft_failure_t *bind_all(sqlite3_stmt *st, const weft_db_value_t *params, size_t n)
{
    int want = sqlite3_bind_parameter_count(st);
    if ((size_t)want != n) {
        char buf[128];
        snprintf(buf, sizeof(buf), "the statement has %d parameters, %zu were given", want, n);
        return weft__db_failure(&weft_db_programming_error_type, "07001", buf);
    }
    for (size_t i = 0; i < n; i++) {
        const weft_db_value_t *v = &params[i];
        int k = (int)i + 1, rc;
        switch (v->type) {
        case WEFT_DB_INT:
            rc = sqlite3_bind_int64(st, k, v->i);
            break;
        case WEFT_DB_DOUBLE:
            rc = sqlite3_bind_double(st, k, v->d);
            break;
        case WEFT_DB_TEXT:
            rc = sqlite3_bind_text64(st, k, v->data, v->len, SQLITE_STATIC, SQLITE_UTF8);
            break;
        case WEFT_DB_BLOB:
            rc = sqlite3_bind_blob64(st, k, v->data ? v->data : "", v->len, SQLITE_STATIC);
            break;
        default:
            rc = sqlite3_bind_null(st, k);
            break;
        }
        if (rc != SQLITE_OK)
            return lite_failure(sqlite3_db_handle(st), rc, false);
    }
    return NULL;
}

static weft_db_value_t column_value(sqlite3_stmt *st, int col)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER:
        return weft_db_int(sqlite3_column_int64(st, col));
    case SQLITE_FLOAT:
        return weft_db_double(sqlite3_column_double(st, col));
    case SQLITE_TEXT: {
        weft_db_value_t v = {WEFT_DB_TEXT, 0, 0, sqlite3_column_text(st, col), 0};
        v.len = (size_t)sqlite3_column_bytes(st, col);
        return v;
    }
    case SQLITE_BLOB: {
        weft_db_value_t v = {WEFT_DB_BLOB, 0, 0, sqlite3_column_blob(st, col), 0};
        v.len = (size_t)sqlite3_column_bytes(st, col);
        return v;
    }
    default:
        return weft_db_null();
    }
}

/* Steps st to the end, collecting rows when rs is not NULL. */
static weft_failure_t *step_all(sqlite3 *db, sqlite3_stmt *st, weft_db_result_t *rs)
{
    int ncols = sqlite3_column_count(st);
    weft_db_value_t row_small[16];
    weft_db_value_t *row = row_small;
    if (rs != NULL && ncols > 16 && (row = weft__malloc((size_t)ncols * sizeof(*row))) == NULL)
        return weft_failure_from_code(WEFT_ENOMEM, NULL);
    weft_failure_t *f = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rs == NULL)
            continue;
        for (int c = 0; c < ncols; c++)
            row[c] = column_value(st, c);
        if (weft__db_result_add_row(rs, row) != 0) {
            f = weft_failure_from_code(WEFT_ENOMEM, NULL);
            break;
        }
    }
    if (f == NULL && rc != SQLITE_DONE)
        f = lite_failure(db, rc, false);
    if (row != row_small)
        weft__free(row);
    return f;
}

static weft_result_t lite_run(weft_db_conn_t *c, const char *sql, const weft_db_value_t *params,
                              size_t n, bool rows)
{
    lite_t *l = L(c);
    uint64_t hash = weft__db_hash(sql);
    sqlite3_stmt *st = weft__db_cache_get(&l->cache, sql, hash);
    bool cached = st != NULL;
    if (st == NULL) {
        const char *tail = NULL;
        int rc = sqlite3_prepare_v3(l->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, &tail);
        if (rc != SQLITE_OK)
            return weft_fail(lite_failure(l->db, rc, true));
        if (st == NULL)
            return weft_fail(weft__db_failure(&weft_db_programming_error_type, "42000",
                                              "the SQL holds no statement"));
        if (tail != NULL && *skip_blank(tail) != '\0') {
            sqlite3_finalize(st);
            return weft_fail(weft__db_failure(&weft_db_programming_error_type, "42000",
                                              "one statement at a time: the SQL holds more"));
        }
        cached = weft__db_cache_put(&l->cache, sql, hash, st);
    }
    weft_result_t res;
    weft_db_result_t *rs = NULL;
    sqlite3_int64 total_before = sqlite3_total_changes64(l->db);
    weft_failure_t *f = bind_all(st, params, n);
    if (f == NULL && rows) {
        int ncols = sqlite3_column_count(st);
        if ((rs = weft__db_result_new((size_t)ncols)) == NULL)
            f = weft_failure_from_code(WEFT_ENOMEM, NULL);
        for (int col = 0; f == NULL && col < ncols; col++)
            if (weft__db_result_set_column(rs, (size_t)col, sqlite3_column_name(st, col),
                                           WEFT_DB_NULL) != 0)
                f = weft_failure_from_code(WEFT_ENOMEM, NULL);
    }
    if (f == NULL)
        f = step_all(l->db, st, rs);
    if (f != NULL) {
        weft_db_result_free(rs);
        res = weft_fail(f);
    } else if (rows) {
        weft__db_result_finish(rs);
        res = weft_ok(rs, weft_db_result_free_fn);
    } else {
        /* changes() still holds the last INSERT, UPDATE or DELETE's count after any other
         * statement: one that changed nothing reports 0. */
        sqlite3_int64 changes =
            sqlite3_total_changes64(l->db) != total_before ? sqlite3_changes64(l->db) : 0;
        res = weft__db_exec_result(changes, sqlite3_last_insert_rowid(l->db), true);
    }
    if (cached) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    } else {
        sqlite3_finalize(st);
    }
    return res;
}

static weft_failure_t *lite_begin(weft_db_conn_t *c)
{
    /* IMMEDIATE: take the write lock now, so two interactions that read then write cannot
     * deadlock on the upgrade (busy_timeout then waits instead of failing). */
    return lite_exec(L(c), "BEGIN IMMEDIATE");
}

static weft_failure_t *lite_commit(weft_db_conn_t *c)
{
    return lite_exec(L(c), "COMMIT");
}

static weft_failure_t *lite_rollback(weft_db_conn_t *c)
{
    if (sqlite3_get_autocommit(L(c)->db))
        return NULL; /* nothing open (SQLite may have rolled back on its own) */
    return lite_exec(L(c), "ROLLBACK");
}

const weft_db_driver_t weft_db_sqlite = {
    .name = "sqlite",
    .check = lite_check,
    .open = lite_open,
    .close = lite_close,
    .alive = lite_alive,
    .broken = lite_broken,
    .run = lite_run,
    .begin = lite_begin,
    .commit = lite_commit,
    .rollback = lite_rollback,
    .native = lite_native,
};
