/* SPDX-License-Identifier: MIT */
/* http_hash: an HTTP front for CPU-bound work. GET /hash?pw=... derives a PBKDF2-HMAC-SHA256
 * key on the reactor's CPU pool and answers it in hex when the job's deferred fires; GET /ping
 * answers "pong" on the loop, which stays responsive however busy the pool is; GET /metrics
 * shows loop lag, pool histograms and request counts in Prometheus text.
 *
 *     http_hash [--host H] --port P [--iterations N] [--access-log]
 *
 * Build: cc http_hash.c $(pkg-config --cflags --libs weft libcrypto)
 *
 * With --port 0 it binds a free port and prints `listening on <port>` on stdout before
 * serving. SIGTERM or SIGINT stops it cleanly with exit code 0: the listener closes, idle
 * connections close, busy ones close after their answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <uv.h>

#include <weft.h>

typedef struct {
    weft_reactor_t *r;
    weft_site_t *site;
    weft_listener_t *listener;
    int iterations;
} app_t;

/* One /hash job: the password (copied from the request) in, the hex key out. */
typedef struct {
    weft_request_t *req;
    char *pw;
    int iterations;
    char hex[65];
} hash_job_t;

static void hash_job_free(void *p)
{
    hash_job_t *j = p;
    free(j->pw);
    free(j);
}

/* On a CPU worker: no weft call but the job's own data. */
static weft_result_t derive(void *arg)
{
    hash_job_t *j = arg;
    unsigned char key[32];
    static const unsigned char salt[] = "weft-http-hash";
    if (PKCS5_PBKDF2_HMAC(j->pw, (int)strlen(j->pw), salt, sizeof(salt) - 1, j->iterations,
                          EVP_sha256(), sizeof(key), key) != 1)
        return weft_fail_new(&weft_error_type, WEFT_EIO, "PBKDF2 failed");
    for (size_t i = 0; i < sizeof(key); i++)
        snprintf(j->hex + 2 * i, 3, "%02x", key[i]);
    return weft_ok(NULL, NULL);
}

/* Back on the loop: answer, unless the client left (then only finish: it frees the request). */
static weft_result_t derived(void *value, weft_free_fn free_fn, void *arg)
{
    (void)value;
    (void)free_fn;
    hash_job_t *j = arg;
    if (!weft_request_is_gone(j->req)) {
        j->hex[64] = '\n';
        int rc = weft_request_set_header(j->req, "Content-Type", "text/plain");
        if (rc == 0)
            rc = weft_request_write(j->req, j->hex, 65);
        (void)rc; /* the client may have gone between the check and the write */
    }
    weft_request_finish(j->req);
    return weft_ok(NULL, NULL); /* j is freed by weft (arg_free) once the job is done */
}

static weft_result_t failed(weft_failure_t *f, void *arg)
{
    hash_job_t *j = arg;
    if (!weft_request_is_gone(j->req)) {
        /* weft.OverloadError when the pool's queue is full: say so. */
        bool overload = weft_failure_is(f, &weft_overload_error_type);
        int rc = weft_request_set_response_code(j->req, overload ? 503 : 500);
        (void)rc;
    }
    weft_request_finish(j->req);
    weft_failure_free(f);
    return weft_ok(NULL, NULL);
}

static int hash_get(weft_request_t *req, void *ctx)
{
    app_t *app = ctx;
    const char *pw = weft_request_arg(req, "pw");
    if (pw == NULL) {
        int rc = weft_request_set_response_code(req, 400);
        if (rc == 0)
            rc = weft_request_write(req, "missing ?pw=\n", 13);
        return rc;
    }
    hash_job_t *j = calloc(1, sizeof(*j));
    if (j == NULL || (j->pw = strdup(pw)) == NULL) {
        free(j);
        return WEFT_ENOMEM;
    }
    j->req = req;
    j->iterations = app->iterations;
    /* weft owns j from here: it frees it once the worker is done with it, also when the
     * deferred is cancelled while the job runs (a shutdown), and on every error path. */
    weft_offload_options_t o;
    weft_offload_options_init(&o);
    o.arg_free = hash_job_free;
    int err = 0;
    weft_deferred_t *d = weft_defer_to_thread(app->r, derive, j, &o, &err);
    if (d == NULL)
        return err;
    if (weft_deferred_add_callbacks(d, derived, j, failed, j) != 0) {
        weft_deferred_unref(d); /* cannot happen on a fresh deferred */
        return WEFT_ENOMEM;
    }
    weft_deferred_unref(d);
    return WEFT_NOT_DONE_YET;
}

static int ping_get(weft_request_t *req, void *ctx)
{
    (void)ctx;
    int rc = weft_request_set_header(req, "Content-Type", "text/plain");
    return rc != 0 ? rc : weft_request_write(req, "pong\n", 5);
}

static weft_deferred_t *before_shutdown(void *arg)
{
    app_t *app = arg;
    weft_deferred_t *stopped = weft_listener_stop(app->listener);
    app->listener = NULL;
    weft_site_close_connections(app->site);
    return stopped;
}

static int usage(const char *prog, int code)
{
    fprintf(code ? stderr : stdout,
            "usage: %s [--host H] --port P [--iterations N] [--access-log]\n"
            "GET /hash?pw=... (PBKDF2 on the CPU pool), GET /ping, GET /metrics. --port 0\n"
            "binds a free port and prints `listening on <port>`. SIGTERM or SIGINT stops it.\n",
            prog);
    return code;
}

static bool add_child(weft_resource_t *root, const char *name, weft_render_fn fn, void *ctx)
{
    weft_resource_t *res = weft_resource_new(ctx, NULL, NULL);
    if (res == NULL)
        return false;
    if (weft_resource_set_render(res, "GET", fn) != 0) {
        weft_resource_free(res);
        return false;
    }
    return weft_resource_put_child(root, name, res) == 0;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = -1;
    bool access = false;
    app_t app = {.iterations = 10000};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(argv[0], 0);
        if (strcmp(argv[i], "--access-log") == 0) {
            access = true;
            continue;
        }
        if (i + 1 >= argc)
            return usage(argv[0], 2);
        if (strcmp(argv[i], "--host") == 0)
            host = argv[++i];
        else if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--iterations") == 0)
            app.iterations = atoi(argv[++i]);
        else
            return usage(argv[0], 2);
    }
    if (port < 0 || port > 65535 || app.iterations < 1)
        return usage(argv[0], 2);

    int err = 0;
    app.r = weft_reactor_new(NULL, &err);
    if (app.r == NULL) {
        fprintf(stderr, "http_hash: %s\n", weft_strerror(err));
        return 1;
    }
    weft_resource_t *root = weft_resource_new(NULL, NULL, &err);
    weft_resource_t *metrics = weft_metrics_resource_new(&err);
    if (root == NULL || metrics == NULL || !add_child(root, "hash", hash_get, &app) ||
        !add_child(root, "ping", ping_get, &app) ||
        weft_resource_put_child(root, "metrics", metrics) != 0) {
        fprintf(stderr, "http_hash: out of memory\n");
        return 1;
    }
    weft_site_options_t so;
    weft_site_options_init(&so);
    so.access_log = access;
    app.site = weft_site_new(root, &so, &err);
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = host;
    lo.port = port;
    lo.backlog = 1024;
    app.listener = app.site ? weft_listen_tcp(app.r, &lo, weft_site_factory(app.site), &err) : NULL;
    if (app.listener == NULL) {
        fprintf(stderr, "http_hash: cannot listen on %s:%d: %s\n", host, port, weft_strerror(err));
        return 1;
    }
    if (weft_reactor_add_trigger(app.r, "shutdown", WEFT_PHASE_BEFORE, before_shutdown, &app,
                                 "http_hash", NULL) != 0)
        return 1;
    printf("listening on %d\n", weft_listener_port(app.listener));
    fflush(stdout);
    if (weft_reactor_run(app.r) != 0)
        return 1;
    /* The last close callbacks run on the loop after the reactor has stopped. */
    uv_loop_t *loop = weft_reactor_get_uv_loop(app.r);
    for (int i = 0; i < 100 && weft_site_free(app.site) != 0; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    for (int i = 0; i < 100 && weft_reactor_free(app.r) != 0; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    return 0;
}
