/* SPDX-License-Identifier: MIT */
/* doc/guide.md, chapter 4: a line protocol server over TCP that offloads.
 *
 *     04-line-server [--port P]
 *
 * `PING` answers `PONG` at once, on the loop; `HASH <text>` hashes text on a worker (a
 * deliberately slow hash) and answers `HASH <hex>` when the deferred fires. With --port 0 (the
 * default) it prints `listening on <port>`; SIGTERM or SIGINT stops it with exit code 0. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

typedef struct {
    weft_reactor_t *r;
    weft_listener_t *listener;
} server_t;

/* One HASH request: what the job reads, and the connection to answer on. */
typedef struct {
    weft_transport_t *t; /* a reference: the connection may close before the job ends */
    size_t len;
    char text[];
} request_t;

static void request_free(request_t *req)
{
    weft_transport_unref(req->t);
    free(req);
}

/* The job, on a worker: reads req (borrowed until the deferred fires), returns a new string. */
static weft_result_t slow_hash(void *arg)
{
    const request_t *req = arg;
    uint64_t h = 1469598103934665603ull;
    for (int round = 0; round < 20000; round++)
        for (size_t i = 0; i < req->len; i++)
            h = (h ^ (unsigned char)req->text[i]) * 1099511628211ull;
    char *reply = malloc(32);
    if (reply == NULL)
        return weft_fail_new(NULL, WEFT_ENOMEM, "out of memory");
    snprintf(reply, 32, "HASH %016llx\r\n", (unsigned long long)h);
    return weft_ok(reply, free);
}

/* On the loop: answer if the connection is still there, then release the request. */
static weft_result_t send_reply(void *value, weft_free_fn free_fn, void *arg)
{
    request_t *req = arg;
    int rc = weft_transport_write(req->t, value, strlen(value));
    if (rc != 0 && rc != WEFT_ECLOSED)
        weft_transport_abort_connection(req->t);
    free_fn(value);
    request_free(req);
    return weft_ok(NULL, NULL);
}

static weft_result_t drop_request(weft_failure_t *f, void *arg)
{
    weft_failure_free(f); /* cancelled at shutdown, or out of memory: no answer */
    request_free(arg);
    return weft_ok(NULL, NULL);
}

static int on_line(void *ctx, weft_framed_t *fp, const char *line, size_t len)
{
    server_t *srv = ctx;
    if (len == 4 && memcmp(line, "PING", 4) == 0) {
        if (weft_framed_send(fp, "PONG", 4) != 0)
            weft_transport_abort_connection(weft_framed_transport(fp));
        return 0;
    }
    if (len > 5 && memcmp(line, "HASH ", 5) == 0) {
        request_t *req = malloc(sizeof(*req) + len - 5);
        int err = 0;
        if (req == NULL)
            return 0;
        req->t = weft_transport_ref(weft_framed_transport(fp));
        req->len = len - 5;
        memcpy(req->text, line + 5, len - 5);
        weft_deferred_t *d = weft_defer_to_thread(srv->r, slow_hash, req, NULL, &err);
        if (d == NULL) {
            request_free(req);
            return 0;
        }
        if (weft_deferred_add_callbacks(d, send_reply, req, drop_request, req) != 0)
            abort(); /* cannot happen on a fresh deferred */
        weft_deferred_unref(d);
        return 0;
    }
    if (weft_framed_send(fp, "ERR unknown command", 19) != 0)
        weft_transport_abort_connection(weft_framed_transport(fp));
    return 0;
}

static void on_lost(void *ctx, weft_framed_t *fp, weft_failure_t *reason)
{
    (void)ctx, (void)fp;
    weft_failure_free(reason);
}

static int build(void *ctx, const char *peer, const weft_protocol_ops_t **ops, void **proto)
{
    (void)peer;
    weft_framed_ops_t fops = {.frame_received = on_line, .connection_lost = on_lost};
    weft_framed_t *fp = weft_framed_new(NULL, &fops, ctx, NULL); /* CRLF lines, 16384 max */
    if (fp == NULL)
        return -1;
    *ops = weft_framed_protocol_ops();
    *proto = fp;
    return 0;
}

/* Before shutdown: stop listening, close the connections; shutdown waits for the deferred. */
static weft_deferred_t *before_shutdown(void *arg)
{
    server_t *srv = arg;
    weft_deferred_t *closed = weft_listener_stop_all(srv->listener, 1.0);
    srv->listener = NULL;
    return closed;
}

int main(int argc, char **argv)
{
    int port = argc == 3 && strcmp(argv[1], "--port") == 0 ? atoi(argv[2]) : 0;
    int err = 0;
    server_t srv = {weft_reactor_new(NULL, &err), NULL};
    weft_factory_ops_t fops = {.build_protocol = build};
    weft_factory_t *factory = srv.r ? weft_factory_new(&fops, &srv, &err) : NULL;
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = "127.0.0.1";
    lo.port = port;
    srv.listener = factory ? weft_listen_tcp(srv.r, &lo, factory, &err) : NULL;
    if (srv.listener == NULL) {
        fprintf(stderr, "cannot listen: %s\n", weft_strerror(err));
        return 1;
    }
    if (weft_reactor_add_trigger(srv.r, "shutdown", WEFT_PHASE_BEFORE, before_shutdown, &srv,
                                 "server", NULL) != 0)
        return 1;
    printf("listening on %d\n", weft_listener_port(srv.listener));
    fflush(stdout);
    if (weft_reactor_run(srv.r) != 0)
        return 1;
    if (weft_factory_free(factory) != 0 || weft_reactor_free(srv.r) != 0)
        return 1;
    return 0;
}
