/* SPDX-License-Identifier: MIT */
/* cpu_server: CPU-heavy requests on a worker pool, while the loop keeps answering at once.
 *
 *     cpu_server [--iterations N] [--salt S] [--threads T] [--inline] [--host H] --port P
 *
 * Build: cc cpu_server.c $(pkg-config --cflags --libs weft libcrypto)
 *
 * A line protocol (CRLF-delimited lines, Twisted's LineReceiver):
 *   `PING`            answers `PONG` at once, on the loop thread;
 *   `HASH <password>` answers `HASH <hex>`, the PBKDF2-HMAC-SHA256 of password with the salt
 *                     (default "salt") and N iterations (default 5000), 32 bytes in hex.
 * The hash runs on the reactor's CPU pool (weft_defer_to_thread, T threads, default one per
 * CPU) and its answer is sent when the deferred fires, so a PING sent after a HASH on the same
 * connection may be answered first. With --inline the hash runs on the loop thread instead,
 * as a plain event loop would: every connection then waits for it (the demo's foil).
 * Errors answer `ERR <reason>`. With --port 0 it prints `listening on <port>` on stdout
 * before serving; SIGTERM or SIGINT stops it cleanly with exit code 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <uv.h>

#include <weft.h>

#define MAX_PASSWORD 1024
#define KEY_LEN      32

typedef struct {
    int iterations;
    const char *salt;
    bool inline_mode;
    weft_reactor_t *r;
    weft_listener_t *listener;
} server_t;

/* One connection. Pending hashes hold a reference, so the record outlives a connection that
 * closes while its hashes are still running. */
typedef struct {
    server_t *srv;
    weft_framed_t *fp; /* NULL once the connection is gone */
    unsigned refs;
} conn_t;

/* One HASH request: what the worker needs, copied so the connection may go meanwhile. */
typedef struct {
    conn_t *conn;
    int iterations;
    const char *salt;
    size_t len;
    char password[];
} job_t;

static void conn_unref(conn_t *c)
{
    if (--c->refs == 0)
        free(c);
}

/* PBKDF2-HMAC-SHA256 of password into out as hex ("HASH " + 64 hex digits + NUL). */
static bool hash_line(const char *password, size_t len, const char *salt, int iterations,
                      char out[5 + 2 * KEY_LEN + 1])
{
    unsigned char key[KEY_LEN];
    if (PKCS5_PBKDF2_HMAC(password, (int)len, (const unsigned char *)salt, (int)strlen(salt),
                          iterations, EVP_sha256(), KEY_LEN, key) != 1)
        return false;
    memcpy(out, "HASH ", 5);
    for (size_t i = 0; i < KEY_LEN; i++)
        snprintf(out + 5 + 2 * i, 3, "%02x", key[i]);
    return true;
}

static void reply(conn_t *c, const char *line)
{
    if (c->fp == NULL)
        return; /* the client has gone: nobody to answer */
    int rc = weft_framed_send(c->fp, line, strlen(line));
    if (rc < 0 && rc != WEFT_ECLOSED)
        weft_transport_abort_connection(weft_framed_transport(c->fp));
}

/* Worker thread: the hash. Returns the answer line (freed with free) or a failure. */
static weft_result_t hash_job(void *arg)
{
    job_t *job = arg;
    char *line = malloc(5 + 2 * KEY_LEN + 1);
    if (line == NULL)
        return weft_fail_new(&weft_error_type, WEFT_ENOMEM, "out of memory");
    if (!hash_line(job->password, job->len, job->salt, job->iterations, line)) {
        free(line);
        return weft_fail_new(&weft_error_type, WEFT_EINVAL, "PBKDF2 failed");
    }
    return weft_ok(line, free);
}

/* Loop thread: the deferred fired with the answer or a failure (the pool refused the job, or
 * the server is shutting down). Either way the job is done. */
static weft_result_t hash_done(weft_result_t res, void *arg)
{
    job_t *job = arg;
    if (res.kind == WEFT_RESULT_VALUE) {
        reply(job->conn, res.value);
    } else if (res.kind == WEFT_RESULT_FAILURE) {
        char line[256];
        snprintf(line, sizeof(line), "ERR %s", weft_failure_message(res.failure));
        reply(job->conn, line);
    }
    weft_result_free(res);
    conn_unref(job->conn);
    free(job);
    return weft_ok(NULL, NULL);
}

static void do_hash(conn_t *c, const char *password, size_t len)
{
    server_t *srv = c->srv;
    if (len > MAX_PASSWORD) {
        reply(c, "ERR password too long");
        return;
    }
    if (srv->inline_mode) { /* the foil: the loop thread does the work itself */
        char line[5 + 2 * KEY_LEN + 1];
        bool ok = hash_line(password, len, srv->salt, srv->iterations, line);
        reply(c, ok ? line : "ERR PBKDF2 failed");
        return;
    }
    job_t *job = malloc(sizeof(*job) + len);
    if (job == NULL) {
        reply(c, "ERR out of memory");
        return;
    }
    job->conn = c;
    job->iterations = srv->iterations;
    job->salt = srv->salt;
    job->len = len;
    memcpy(job->password, password, len);
    int err = 0;
    weft_deferred_t *d = weft_defer_to_thread(srv->r, hash_job, job, NULL, &err);
    if (d == NULL) {
        free(job);
        char line[128];
        snprintf(line, sizeof(line), "ERR %s", weft_strerror(err));
        reply(c, line);
        return;
    }
    c->refs++;
    /* Out of memory here leaves the job's few bytes behind (and the connection's record):
     * a worker may be reading them already, so they cannot be freed safely. */
    if (weft_deferred_add_both(d, hash_done, job) != 0)
        reply(c, "ERR out of memory");
    weft_deferred_unref(d);
}

static int on_line(void *ctx, weft_framed_t *fp, const char *line, size_t len)
{
    (void)fp;
    conn_t *c = ctx;
    if (len == 4 && memcmp(line, "PING", 4) == 0)
        reply(c, "PONG");
    else if (len >= 5 && memcmp(line, "HASH ", 5) == 0)
        do_hash(c, line + 5, len - 5);
    else if (len == 4 && memcmp(line, "HASH", 4) == 0)
        reply(c, "ERR usage: HASH <password>");
    else
        reply(c, "ERR unknown command (PING, HASH <password>)");
    return 0;
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
    c->srv = ctx;
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

/* Before shutdown: stop listening and close every connection; the shutdown waits for them.
 * Hashes still running are then cancelled by the reactor (their deferreds fail). */
static weft_deferred_t *before_shutdown(void *arg)
{
    server_t *srv = arg;
    weft_deferred_t *d = weft_listener_stop_all(srv->listener, 1.0);
    srv->listener = NULL;
    return d;
}

static int usage(const char *prog, int code)
{
    fprintf(code ? stderr : stdout,
            "usage: %s [--iterations N] [--salt S] [--threads T] [--inline] [--host H] --port P\n"
            "`PING` answers `PONG`; `HASH <password>` answers `HASH <hex>`, PBKDF2-HMAC-SHA256\n"
            "with N iterations (default 5000) on a pool of T threads (default: one per CPU),\n"
            "or on the loop thread with --inline. --port 0 binds a free port and prints\n"
            "`listening on <port>`. SIGTERM or SIGINT stops it.\n",
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
    server_t srv = {.iterations = 5000, .salt = "salt"};
    const char *host = "127.0.0.1";
    int port = -1, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return usage(argv[0], 0);
        if (strcmp(a, "--inline") == 0) {
            srv.inline_mode = true;
            continue;
        }
        if (i + 1 >= argc)
            return usage(argv[0], 2);
        const char *v = argv[++i];
        bool ok = true;
        if (strcmp(a, "--host") == 0)
            host = v;
        else if (strcmp(a, "--port") == 0)
            ok = parse_int(v, 0, 65535, &port);
        else if (strcmp(a, "--iterations") == 0)
            ok = parse_int(v, 1, 100000000, &srv.iterations);
        else if (strcmp(a, "--threads") == 0)
            ok = parse_int(v, 1, 1024, &threads);
        else if (strcmp(a, "--salt") == 0)
            srv.salt = v;
        else
            ok = false;
        if (!ok)
            return usage(argv[0], 2);
    }
    if (port < 0)
        return usage(argv[0], 2);

    int err = 0;
    srv.r = weft_reactor_new(NULL, &err);
    if (srv.r == NULL) {
        fprintf(stderr, "cpu_server: %s\n", weft_strerror(err));
        return 1;
    }
    if (threads > 0 &&
        weft_reactor_set_default_pool_threads(srv.r, WEFT_POOL_KIND_CPU, (unsigned)threads) != 0)
        return 1;
    weft_factory_ops_t fops = {.build_protocol = build};
    weft_factory_t *factory = weft_factory_new(&fops, &srv, &err);
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = host;
    lo.port = port;
    srv.listener = factory ? weft_listen_tcp(srv.r, &lo, factory, &err) : NULL;
    if (srv.listener == NULL) {
        fprintf(stderr, "cpu_server: cannot listen on %s:%d: %s\n", host, port, weft_strerror(err));
        return 1;
    }
    if (weft_reactor_add_trigger(srv.r, "shutdown", WEFT_PHASE_BEFORE, before_shutdown, &srv,
                                 "cpu_server", NULL) != 0)
        return 1;
    printf("listening on %d\n", weft_listener_port(srv.listener));
    fflush(stdout);
    if (weft_reactor_run(srv.r) != 0)
        return 1;
    /* The last close callbacks run on the loop after the reactor has stopped. */
    uv_loop_t *loop = weft_reactor_get_uv_loop(srv.r);
    for (int i = 0; i < 100 && weft_reactor_free(srv.r) != 0; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    return weft_factory_free(factory) == 0 ? 0 : 1;
}
