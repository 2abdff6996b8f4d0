/* SPDX-License-Identifier: MIT */
/* framing_echo: echoes every frame back in the same framing (lines, netstrings or Int32
 * strings), as a Twisted LineReceiver / NetstringReceiver / Int32StringReceiver echo would.
 *
 *     framing_echo --proto line|netstring|int32|int16|int8 [--host H] --port P
 *
 * With --port 0 it binds a free port and prints `listening on <port>` on stdout before
 * serving. SIGTERM or SIGINT stops it cleanly: the listener closes, every connection is closed
 * after its queued bytes are sent, and it exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include <weft.h>

typedef struct app_s app_t;

typedef struct conn_s {
    struct conn_s *prev, *next;
    weft_framed_t *fp;
    app_t *app;
} conn_t;

struct app_s {
    weft_reactor_t *r;
    weft_framing_t framing;
    weft_listener_t *listener;
    bool listener_closed;
    conn_t conns; /* list head */
    size_t nconns;
    weft_deferred_t *all_closed; /* fired when the listener and every connection are gone */
};

static void maybe_done(app_t *app)
{
    if (app->all_closed == NULL || !app->listener_closed || app->nconns > 0)
        return;
    weft_deferred_t *d = app->all_closed;
    app->all_closed = NULL;
    if (weft_deferred_callback(d, NULL, NULL) != 0)
        fprintf(stderr, "framing_echo: shutdown deferred fired twice\n");
    weft_deferred_unref(d);
}

static int on_frame(void *ctx, weft_framed_t *fp, const char *data, size_t len)
{
    (void)ctx;
    int rc = weft_framed_send(fp, data, len);
    if (rc < 0 && rc != WEFT_ECLOSED)
        weft_log(WEFT_LOG_WARN, "framing_echo", "cannot echo a frame: %s", weft_strerror(rc));
    return 0;
}

static void conn_lost(void *ctx, weft_framed_t *fp, weft_failure_t *reason)
{
    (void)fp;
    conn_t *c = ctx;
    app_t *app = c->app;
    c->prev->next = c->next;
    c->next->prev = c->prev;
    free(c);
    app->nconns--;
    weft_failure_free(reason);
    maybe_done(app);
}

static int build(void *ctx, const char *peer, const weft_protocol_ops_t **ops, void **proto)
{
    (void)peer;
    app_t *app = ctx;
    conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -1;
    c->app = app;
    weft_framed_options_t opts;
    weft_framed_options_init(&opts);
    opts.framing = app->framing;
    weft_framed_ops_t fops = {.frame_received = on_frame, .connection_lost = conn_lost};
    int err = 0;
    c->fp = weft_framed_new(&opts, &fops, c, &err);
    if (c->fp == NULL) {
        free(c);
        return -1;
    }
    c->next = &app->conns;
    c->prev = app->conns.prev;
    app->conns.prev->next = c;
    app->conns.prev = c;
    app->nconns++;
    *ops = weft_framed_protocol_ops();
    *proto = c->fp;
    return 0;
}

static weft_result_t listener_closed(void *value, weft_free_fn free_fn, void *arg)
{
    (void)value;
    (void)free_fn;
    app_t *app = arg;
    app->listener_closed = true;
    maybe_done(app);
    return weft_ok(NULL, NULL);
}

/* Before shutdown: stop listening, close every connection, and hold the shutdown until all
 * of them are gone. */
static weft_deferred_t *before_shutdown(void *arg)
{
    app_t *app = arg;
    app->all_closed = weft_deferred_new();
    weft_deferred_t *ret = app->all_closed ? weft_deferred_ref(app->all_closed) : NULL;
    weft_deferred_t *stopped = weft_listener_stop(app->listener);
    app->listener = NULL;
    if (stopped == NULL || weft_deferred_add_callback(stopped, listener_closed, app) != 0)
        app->listener_closed = true;
    weft_deferred_unref(stopped);
    for (conn_t *c = app->conns.next; c != &app->conns; c = c->next)
        weft_transport_lose_connection(weft_framed_transport(c->fp));
    maybe_done(app);
    return ret;
}

static int usage(const char *prog, int code)
{
    fprintf(code ? stderr : stdout,
            "usage: %s --proto line|netstring|int32|int16|int8 [--host H] --port P\n"
            "Echoes every frame back in the same framing. --port 0 binds a free port and\n"
            "prints `listening on <port>`. SIGTERM or SIGINT stops it.\n",
            prog);
    return code;
}

int main(int argc, char **argv)
{
    const char *proto = NULL, *host = "127.0.0.1";
    int port = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(argv[0], 0);
        if (i + 1 >= argc)
            return usage(argv[0], 2);
        if (strcmp(argv[i], "--proto") == 0)
            proto = argv[++i];
        else if (strcmp(argv[i], "--host") == 0)
            host = argv[++i];
        else if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[++i]);
        else
            return usage(argv[0], 2);
    }
    static const struct {
        const char *name;
        weft_framing_t framing;
    } names[] = {{"line", WEFT_FRAMING_LINE},
                 {"netstring", WEFT_FRAMING_NETSTRING},
                 {"int32", WEFT_FRAMING_INT32},
                 {"int16", WEFT_FRAMING_INT16},
                 {"int8", WEFT_FRAMING_INT8}};
    app_t app = {0};
    app.conns.next = app.conns.prev = &app.conns;
    bool known = false;
    for (size_t i = 0; proto != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(proto, names[i].name) == 0) {
            app.framing = names[i].framing;
            known = true;
        }
    }
    if (!known || port < 0 || port > 65535)
        return usage(argv[0], 2);

    int err = 0;
    app.r = weft_reactor_new(NULL, &err);
    if (app.r == NULL) {
        fprintf(stderr, "framing_echo: %s\n", weft_strerror(err));
        return 1;
    }
    weft_factory_ops_t fops = {.build_protocol = build};
    weft_factory_t *factory = weft_factory_new(&fops, &app, &err);
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = host;
    lo.port = port;
    app.listener = factory ? weft_listen_tcp(app.r, &lo, factory, &err) : NULL;
    if (app.listener == NULL) {
        fprintf(stderr, "framing_echo: cannot listen on %s:%d: %s\n", host, port,
                weft_strerror(err));
        return 1;
    }
    if (weft_reactor_add_trigger(app.r, "shutdown", WEFT_PHASE_BEFORE, before_shutdown, &app,
                                 "framing_echo", NULL) != 0)
        return 1;
    printf("listening on %d\n", weft_listener_port(app.listener));
    fflush(stdout);
    if (weft_reactor_run(app.r) != 0)
        return 1;
    /* The last close callbacks run on the loop after the reactor has stopped. */
    uv_loop_t *loop = weft_reactor_get_uv_loop(app.r);
    for (int i = 0; i < 100 && weft_reactor_free(app.r) != 0; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    if (weft_factory_free(factory) != 0)
        return 1;
    return 0;
}
