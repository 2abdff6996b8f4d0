/* SPDX-License-Identifier: MIT */
/* doc/guide.md, chapters 6 and 7: a database service under the runner. A key:value line
 * protocol backed by the database pool: `key: value` stores (answers `OK`), `key` answers
 * `key: value` or `ERR no such key`.
 *
 *     06-service [--port P] [--db FILE] [runner options: --log-level, --shutdown-deadline ...]
 *
 * Prints `listening on <port>` once it serves; SIGTERM or SIGINT stops the services (the
 * listener and its connections, then the pool) and exits 0. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

/* What the services share; owned by the "db" service, freed with it. */
typedef struct {
    weft_dbpool_t *db;
    weft_factory_t *factory;
    weft_service_t *tcp;
} kv_t;

/* One request: the connection to answer on (a reference) and the key, for the answer. */
typedef struct {
    weft_transport_t *t;
    char key[];
} request_t;

static void request_free(request_t *req)
{
    weft_transport_unref(req->t);
    free(req);
}

static void answer(request_t *req, const char *a, const char *b, const char *c)
{
    weft_iovec_t iov[] = {{a, strlen(a)}, {b, strlen(b)}, {c, strlen(c)}, {"\r\n", 2}};
    int rc = weft_transport_writev(req->t, iov, 4);
    if (rc != 0 && rc != WEFT_ECLOSED)
        weft_transport_abort_connection(req->t);
}

/* ---------------------------------------------------------------- loop thread: replies */

static weft_result_t stored(void *value, weft_free_fn free_fn, void *arg)
{
    free_fn(value);
    answer(arg, "OK", "", "");
    request_free(arg);
    return weft_ok(NULL, NULL);
}

static weft_result_t found(void *value, weft_free_fn free_fn, void *arg)
{
    request_t *req = arg;
    const weft_db_result_t *rs = value;
    if (weft_db_result_rows(rs) == 0)
        answer(req, "ERR no such key", "", "");
    else
        answer(req, req->key, ": ", weft_db_result_value(rs, 0, 0)->data);
    free_fn(value);
    request_free(req);
    return weft_ok(NULL, NULL);
}

static weft_result_t failed(weft_failure_t *f, void *arg)
{
    answer(arg, "ERR ", weft_failure_message(f), "");
    weft_failure_free(f);
    request_free(arg);
    return weft_ok(NULL, NULL);
}

static int on_line(void *ctx, weft_framed_t *fp, const char *line, size_t len)
{
    kv_t *kv = ctx;
    const char *colon = memchr(line, ':', len);
    size_t klen = colon != NULL ? (size_t)(colon - line) : len;
    request_t *req = malloc(sizeof(*req) + klen + 1);
    if (req == NULL)
        return 0;
    req->t = weft_transport_ref(weft_framed_transport(fp));
    memcpy(req->key, line, klen);
    req->key[klen] = '\0';
    int err = 0;
    weft_deferred_t *d;
    if (colon != NULL) {
        size_t skip = klen + 1 < len && colon[1] == ' ' ? 2 : 1;
        weft_db_value_t kvs[] = {
            weft_db_text(req->key),
            {.type = WEFT_DB_TEXT, .data = colon + skip, .len = len - klen - skip}};
        d = weft_dbpool_run_operation(kv->db, "INSERT OR REPLACE INTO kv VALUES (?, ?)", kvs, 2,
                                      &err);
        if (d != NULL && weft_deferred_add_callbacks(d, stored, req, failed, req) != 0)
            abort();
    } else {
        weft_db_value_t key = weft_db_text(req->key);
        d = weft_dbpool_run_query(kv->db, "SELECT value FROM kv WHERE key = ?", &key, 1, &err);
        if (d != NULL && weft_deferred_add_callbacks(d, found, req, failed, req) != 0)
            abort();
    }
    if (d == NULL)
        request_free(req);
    weft_deferred_unref(d);
    return 0;
}

static int build(void *ctx, const char *peer, const weft_protocol_ops_t **ops, void **proto)
{
    (void)peer;
    weft_framed_ops_t fops = {.frame_received = on_line};
    weft_framed_t *fp = weft_framed_new(NULL, &fops, ctx, NULL);
    if (fp == NULL)
        return -1;
    *ops = weft_framed_protocol_ops();
    *proto = fp;
    return 0;
}

/* ---------------------------------------------------------------- worker: a connection opens */

static weft_failure_t *create_table(weft_db_conn_t *conn, void *arg)
{
    (void)arg;
    weft_result_t res = weft_db_execute(
        conn, "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT)", NULL, 0);
    if (res.kind == WEFT_RESULT_FAILURE)
        return res.failure; /* the connection closes; the job that needed it fails */
    weft_result_free(res);
    return NULL;
}

/* ---------------------------------------------------------------- the services */

/* "db": stopping it closes the pool (its deferred fires once every connection is closed). */
static weft_result_t db_stop(weft_service_t *s)
{
    kv_t *kv = weft_service_get_data(s);
    int err = 0;
    weft_deferred_t *closed = weft_dbpool_close(kv->db, &err);
    return closed != NULL ? weft_wait_for(closed) : weft_fail(weft_failure_from_code(err, NULL));
}

static void db_free(weft_service_t *s)
{
    kv_t *kv = weft_service_get_data(s);
    if (weft_dbpool_free(kv->db) != 0 || weft_factory_free(kv->factory) != 0)
        fprintf(stderr, "kv: the pool or the factory is still busy\n");
    free(kv);
}

/* "announce": started last, once the listener has its port. */
static int announce(weft_service_t *s)
{
    kv_t *kv = weft_service_get_data(s);
    printf("listening on %d\n", weft_tcp_server_service_port(kv->tcp));
    fflush(stdout);
    return 0;
}

static const weft_service_ops_t db_ops = {.stop = db_stop, .free = db_free};
static const weft_service_ops_t announce_ops = {.start = announce};

/* Adds child (NULL: its constructor failed) to root, or frees it. */
static bool add(weft_service_t *root, weft_service_t *child, int *err)
{
    if (child != NULL && (*err = weft_service_add(root, child)) == 0)
        return true;
    if (weft_service_free(child) != 0)
        abort(); /* cannot happen: child is stopped and has no parent */
    return false;
}

static weft_service_t *make_kv(weft_reactor_t *r, const weft_config_t *cfg, void *arg, int *err)
{
    (void)arg;
    double port = 0;
    if (weft_config_get_double(cfg, "kv", "port", &port) != 0 || port < 0 || port > 65535) {
        *err = WEFT_EINVAL;
        return NULL;
    }
    kv_t *kv = calloc(1, sizeof(*kv));
    if (kv == NULL) {
        *err = WEFT_ENOMEM;
        return NULL;
    }
    weft_dbpool_options_t po;
    weft_dbpool_options_init(&po);
    po.on_connect = create_table;
    po.max_connections = 1; /* one connection runs the calls in order (SQLite has one writer) */
    kv->db = weft_dbpool_new(r, &weft_db_sqlite, weft_config_get(cfg, "kv", "db"), &po, err);
    weft_factory_ops_t fops = {.build_protocol = build};
    kv->factory = kv->db != NULL ? weft_factory_new(&fops, kv, err) : NULL;
    weft_service_t *db = kv->factory != NULL ? weft_service_new(r, "db", &db_ops, kv, err) : NULL;
    if (db == NULL) {
        if (weft_dbpool_free(kv->db) != 0 || weft_factory_free(kv->factory) != 0)
            abort(); /* cannot happen: neither has been used */
        free(kv);
        return NULL;
    }
    /* From here kv belongs to db, and db to root: freeing root frees them all. */
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = "127.0.0.1";
    lo.port = (int)port;
    weft_service_t *root = weft_multi_service_new(r, "kv", err);
    if (root == NULL) {
        if (weft_service_free(db) != 0)
            abort(); /* cannot happen: db is stopped and has no parent */
        return NULL;
    }
    /* Children start in this order and stop in the reverse order. */
    if (!add(root, db, err) ||
        !add(root, kv->tcp = weft_tcp_server_service_new(r, "tcp", &lo, kv->factory, 1.0, err),
             err) ||
        !add(root, weft_service_new(r, "announce", &announce_ops, kv, err), err)) {
        if (weft_service_free(root) != 0)
            abort();
        return NULL;
    }
    return root;
}

static const weft_app_option_t kv_options[] = {
    {"port", "the TCP port on 127.0.0.1 (0: a free one)", "0"},
    {"db", "the SQLite database file", "kv.db"},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    weft_app_t app = {.name = "kv",
                      .description = "a key:value store on SQLite",
                      .options = kv_options,
                      .make_service = make_kv};
    return weft_app_run(&app, argc, argv);
}
