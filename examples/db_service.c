/* SPDX-License-Identifier: MIT */
/* db_service: the key:value line protocol of examples/kv.c, stored in a database through
 * weft's database pool (Twisted's adbapi): SQLite by default, PostgreSQL with --pg.
 *
 *     db_service [--db FILE | --pg CONNINFO] [--connections N] [--reuse-port]
 *                [--host H] --port P
 *
 * Build: cc db_service.c $(pkg-config --cflags --libs weft)
 *
 * A line `key: value` stores value under key and answers `OK`; a line `key` alone answers
 * `key: value`, or `ERR no such key`. Keys are up to 256 bytes, values up to 4096. The table
 * `kv (k, v)` lives in the SQLite file FILE (default db_service.db, WAL mode) or in the
 * PostgreSQL database CONNINFO (a libpq connection string); it is made if missing. Queries
 * run on the pool's N threads (default 4), each with its own connection; each client
 * connection's requests are answered in order, one at a time, while other clients' run
 * concurrently. With --reuse-port several db_service processes can listen on one port
 * (SO_REUSEPORT) and the kernel spreads the connections between them; the database is their
 * shared state. With --port 0 it prints `listening on <port>` on stdout before serving;
 * SIGTERM or SIGINT stops it cleanly with exit code 0 (1 if the database cannot be used). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include <weft.h>

#define MAX_KEY   256
#define MAX_VALUE 4096

typedef struct {
    weft_reactor_t *r;
    weft_dbpool_t *db;
    weft_factory_t *factory;
    weft_listener_t *listener;
    weft_listen_options_t listen;
    const char *set_sql, *get_sql;
    int exit_code;
} service_t;

/* One client connection. A request in flight holds a reference, so the record outlives a
 * connection that closes while its query runs. */
typedef struct {
    service_t *svc;
    weft_framed_t *fp; /* NULL once the connection is gone */
    unsigned refs;
} conn_t;

/* len bytes of text as a parameter (weft_db_text takes a C string). */
static weft_db_value_t text_n(const char *p, size_t len)
{
    weft_db_value_t v = weft_db_text("");
    v.data = p;
    v.len = len;
    return v;
}

static void conn_unref(conn_t *c)
{
    if (--c->refs == 0)
        free(c);
}

static void send_iov(conn_t *c, weft_iovec_t *iov, size_t n)
{
    if (c->fp == NULL)
        return; /* the client has gone */
    int rc = weft_transport_writev(weft_framed_transport(c->fp), iov, n);
    if (rc < 0 && rc != WEFT_ECLOSED)
        weft_transport_abort_connection(weft_framed_transport(c->fp));
}

static void reply(conn_t *c, const char *line)
{
    weft_iovec_t iov[] = {{line, strlen(line)}, {"\r\n", 2}};
    send_iov(c, iov, 2);
}

static void reply_failure(conn_t *c, const weft_failure_t *f)
{
    char line[512] = "ERR ";
    weft_failure_format(f, line + 4, sizeof(line) - 4);
    char *nl = strchr(line, '\n'); /* the first line: the failure itself, not its causes */
    if (nl != NULL)
        *nl = '\0';
    reply(c, line);
}

/* The request has its answer: take the next line of this connection. */
static void next_request(conn_t *c)
{
    if (c->fp != NULL && weft_framed_resume(c->fp) == WEFT_ENOMEM)
        weft_transport_abort_connection(weft_framed_transport(c->fp));
    conn_unref(c);
}

/* Loop thread: a set's result. */
static weft_result_t set_done(weft_result_t res, void *arg)
{
    conn_t *c = arg;
    if (res.kind == WEFT_RESULT_FAILURE)
        reply_failure(c, res.failure);
    else
        reply(c, "OK");
    weft_result_free(res);
    next_request(c);
    return weft_ok(NULL, NULL);
}

/* Loop thread: a get's result, a result set of zero or one row. */
static weft_result_t get_done(weft_result_t res, void *arg)
{
    conn_t *c = arg;
    if (res.kind == WEFT_RESULT_FAILURE) {
        reply_failure(c, res.failure);
    } else {
        const weft_db_result_t *rs = res.value;
        const weft_db_value_t *k = weft_db_result_value(rs, 0, 0);
        const weft_db_value_t *v = weft_db_result_value(rs, 0, 1);
        if (k == NULL || v == NULL || k->type != WEFT_DB_TEXT || v->type != WEFT_DB_TEXT) {
            reply(c, "ERR no such key");
        } else {
            weft_iovec_t iov[] = {{k->data, k->len}, {": ", 2}, {v->data, v->len}, {"\r\n", 2}};
            send_iov(c, iov, 4);
        }
    }
    weft_result_free(res);
    next_request(c);
    return weft_ok(NULL, NULL);
}

static int on_line(void *ctx, weft_framed_t *fp, const char *line, size_t len)
{
    conn_t *c = ctx;
    service_t *svc = c->svc;
    const char *colon = memchr(line, ':', len);
    size_t klen = colon != NULL ? (size_t)(colon - line) : len;
    int err = 0;
    weft_deferred_t *d;
    weft_both_fn done;
    if (colon != NULL) {
        const char *v = colon + 1;
        size_t vlen = len - klen - 1;
        if (vlen > 0 && v[0] == ' ') {
            v++;
            vlen--;
        }
        if (klen == 0 || klen > MAX_KEY || vlen > MAX_VALUE) {
            reply(c, "ERR key or value too long");
            return 0;
        }
        /* Bound parameters, never pasted into the SQL; the pool copies them. */
        weft_db_value_t params[] = {text_n(line, klen), text_n(v, vlen)};
        d = weft_dbpool_run_operation(svc->db, svc->set_sql, params, 2, &err);
        done = set_done;
    } else {
        if (klen == 0 || klen > MAX_KEY) {
            reply(c, "ERR no such key");
            return 0;
        }
        weft_db_value_t key = text_n(line, klen);
        d = weft_dbpool_run_query(svc->db, svc->get_sql, &key, 1, &err);
        done = get_done;
    }
    if (d == NULL) {
        char msg[128];
        snprintf(msg, sizeof(msg), "ERR %s", weft_strerror(err));
        reply(c, msg);
        return 0;
    }
    c->refs++;
    if (weft_deferred_add_both(d, done, c) != 0) {
        c->refs--;
        reply(c, "ERR out of memory");
        weft_deferred_unref(d);
        return 0;
    }
    weft_deferred_unref(d);
    /* One request at a time per connection: answers come in the order of the requests. */
    weft_framed_pause(fp);
    return 1;
}

static void on_lost(void *ctx, weft_framed_t *fp, weft_failure_t *reason)
{
    (void)fp;
    conn_t *c = ctx;
    c->fp = NULL; /* freed by weft after this returns */
    conn_unref(c);
    weft_failure_free(reason);
}

static int build(void *ctx, const char *peer, const weft_protocol_ops_t **ops, void **proto)
{
    (void)peer;
    conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -1;
    c->svc = ctx;
    c->refs = 1; /* the connection's own */
    weft_framed_ops_t fops = {.frame_received = on_line, .connection_lost = on_lost};
    c->fp = weft_framed_new(NULL, &fops, c, NULL); /* lines, CRLF, at most 16384 bytes */
    if (c->fp == NULL) {
        free(c);
        return -1;
    }
    *ops = weft_framed_protocol_ops();
    *proto = c->fp;
    return 0;
}

/* Loop thread: the table exists (or could not be made); serve, or give up. */
static weft_result_t table_ready(weft_result_t res, void *arg)
{
    service_t *svc = arg;
    int err = 0;
    if (res.kind == WEFT_RESULT_FAILURE) {
        char line[512];
        weft_failure_format(res.failure, line, sizeof(line));
        fprintf(stderr, "db_service: cannot use the database: %s\n", line);
    } else {
        svc->listener = weft_listen_tcp(svc->r, &svc->listen, svc->factory, &err);
        if (svc->listener == NULL)
            fprintf(stderr, "db_service: cannot listen on %s:%d: %s\n", svc->listen.host,
                    svc->listen.port, weft_strerror(err));
    }
    weft_result_free(res);
    if (svc->listener == NULL) {
        svc->exit_code = 1;
        int rc = weft_reactor_stop(svc->r);
        (void)rc;
        return weft_ok(NULL, NULL);
    }
    printf("listening on %d\n", weft_listener_port(svc->listener));
    fflush(stdout);
    return weft_ok(NULL, NULL);
}

/* Before shutdown: stop listening and close every connection; the shutdown waits for them
 * (the database pool's own trigger closes the pool after its queries). */
static weft_deferred_t *before_shutdown(void *arg)
{
    service_t *svc = arg;
    if (svc->listener == NULL)
        return NULL;
    weft_deferred_t *d = weft_listener_stop_all(svc->listener, 1.0);
    svc->listener = NULL;
    return d;
}

static int usage(const char *prog, int code)
{
    fprintf(code ? stderr : stdout,
            "usage: %s [--db FILE | --pg CONNINFO] [--connections N] [--reuse-port]\n"
            "          [--host H] --port P\n"
            "A key:value store in a database: `key: value` sets, `key` gets. SQLite FILE\n"
            "(default db_service.db) or PostgreSQL CONNINFO; N pool connections (default 4).\n"
            "--reuse-port lets several processes serve one port. --port 0 binds a free port\n"
            "and prints `listening on <port>`. SIGTERM or SIGINT stops it.\n",
            prog);
    return code;
}

static bool parse_int(const char *s, int min, int max, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

int main(int argc, char **argv)
{
    static service_t svc;
    const char *file = "db_service.db", *pg = NULL;
    int port = -1, nconn = 4;
    weft_listen_options_init(&svc.listen);
    svc.listen.host = "127.0.0.1";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return usage(argv[0], 0);
        if (strcmp(a, "--reuse-port") == 0) {
            svc.listen.reuse_port = true;
            continue;
        }
        if (i + 1 >= argc)
            return usage(argv[0], 2);
        const char *v = argv[++i];
        bool ok = true;
        if (strcmp(a, "--host") == 0)
            svc.listen.host = v;
        else if (strcmp(a, "--port") == 0)
            ok = parse_int(v, 0, 65535, &port);
        else if (strcmp(a, "--db") == 0)
            file = v;
        else if (strcmp(a, "--pg") == 0)
            pg = v;
        else if (strcmp(a, "--connections") == 0)
            ok = parse_int(v, 1, 256, &nconn);
        else
            ok = false;
        if (!ok)
            return usage(argv[0], 2);
    }
    if (port < 0)
        return usage(argv[0], 2);
    svc.listen.port = port;
    /* One statement for both databases' upsert; placeholders are each database's own. */
    svc.set_sql = pg ? "INSERT INTO kv (k, v) VALUES ($1, $2) "
                       "ON CONFLICT (k) DO UPDATE SET v = excluded.v"
                     : "INSERT INTO kv (k, v) VALUES (?, ?) "
                       "ON CONFLICT (k) DO UPDATE SET v = excluded.v";
    svc.get_sql = pg ? "SELECT k, v FROM kv WHERE k = $1" : "SELECT k, v FROM kv WHERE k = ?";

    int err = 0;
    svc.r = weft_reactor_new(NULL, &err);
    if (svc.r == NULL) {
        fprintf(stderr, "db_service: %s\n", weft_strerror(err));
        return 1;
    }
    weft_dbpool_options_t o;
    weft_dbpool_options_init(&o);
    o.max_connections = (unsigned)nconn;
    svc.db =
        weft_dbpool_new(svc.r, pg ? &weft_db_postgres : &weft_db_sqlite, pg ? pg : file, &o, &err);
    if (svc.db == NULL) {
        fprintf(stderr, "db_service: cannot open %s: %s\n", pg ? pg : file, weft_strerror(err));
        return 1;
    }
    weft_factory_ops_t fops = {.build_protocol = build};
    svc.factory = weft_factory_new(&fops, &svc, &err);
    if (svc.factory == NULL)
        return 1;
    /* Serve once the table exists: listening starts in table_ready. */
    weft_deferred_t *d = weft_dbpool_run_operation(
        svc.db, "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)", NULL, 0,
        &err);
    if (d == NULL || weft_deferred_add_both(d, table_ready, &svc) != 0)
        return 1;
    weft_deferred_unref(d);
    if (weft_reactor_add_trigger(svc.r, "shutdown", WEFT_PHASE_BEFORE, before_shutdown, &svc,
                                 "db_service", NULL) != 0)
        return 1;
    if (weft_reactor_run(svc.r) != 0)
        return 1;
    /* The last close callbacks run on the loop after the reactor has stopped. */
    if (weft_dbpool_free(svc.db) != 0)
        svc.exit_code = 1;
    uv_loop_t *loop = weft_reactor_get_uv_loop(svc.r);
    for (int i = 0; i < 100 && weft_reactor_free(svc.r) != 0; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    if (weft_factory_free(svc.factory) != 0)
        return 1;
    return svc.exit_code;
}
