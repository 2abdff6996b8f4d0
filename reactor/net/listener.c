/* SPDX-License-Identifier: MIT */
/* Listeners: a bound, listening TCP or Unix socket that accepts connections for a factory. */

/*
 * Design. A listener owns its libuv handle (inside the struct, so the memory goes back in the
 * close callback) and keeps a list of the connections it accepted, for the count that
 * max_connections checks. A connection tells its listener when it has closed (the transport's
 * on_closed hook); a listener that stops first detaches every connection, which then outlive
 * it on their own, unless it stops with weft_listener_stop_all, which closes them and stays
 * until the last one has gone (aborting the stragglers after a grace period). Refused connections
 * (over max_connections, or build_protocol said no) are accepted and closed at once, never queued,
 * and no protocol call happens for them.
 *
 * Out of memory for a new connection's transport, the connection cannot even be accepted to
 * be closed, and libuv stops watching the socket until it is accepted: the listener would go
 * deaf for good. It retries the accept from a timer instead (RETRY_MS), so a transient
 * shortage delays connections rather than losing the listener (found by t/81's walk). The
 * timer is a second handle: the listener's handle counts as closed once both have closed.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <weft/error.h>
#include <weft/time.h>

#include "../../common/alloc-internal.h"
#include "factory-internal.h"
#include "net-internal.h"

struct weft_listener_s {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    weft_reactor_t *r;
    weft_factory_t *factory;
    weft_transport_options_t topts;
    size_t max_connections;
    bool is_tcp;
    bool started; /* the factory was started for it */
    int port;
    char *path;
    size_t nconn;
    size_t refused;
    weft__list_t conns;
    weft_deferred_t *stopped;
    /* weft_listener_stop_all: the listener lives on until its connections have closed. */
    bool draining;
    bool handle_closed;
    weft_call_id_t grace_call; /* 0: none pending */
    uv_timer_t retry;          /* re-runs an accept that ran out of memory */
    int handles;               /* libuv handles not yet closed (h, and retry once listening) */
};

/* How long a listener waits before retrying an accept that ran out of memory. */
#define RETRY_MS 20

void weft_listen_options_init(weft_listen_options_t *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->host = "0.0.0.0";
    opts->backlog = 511;
    weft_transport_options_init(&opts->transport);
}

static void release(weft_listener_t *l);

static void on_listener_closed(uv_handle_t *h)
{
    weft_listener_t *l = h->data;
    if (--l->handles > 0)
        return;
    if (l->draining) {
        l->handle_closed = true;
        if (l->nconn == 0)
            release(l);
        return;
    }
    release(l);
}

/* Detaches what is left, stops the factory, frees l and fires its stop deferred. */
static void release(weft_listener_t *l)
{
    weft_reactor_t *r = l->r;
    if (l->grace_call != 0) {
        int rc = weft_delayed_call_cancel(r, l->grace_call);
        (void)rc; /* pending: it is, or it would have cleared grace_call */
        l->grace_call = 0;
    }
    weft__list_t *pos, *tmp;
    weft__list_foreach_safe(pos, tmp, &l->conns)
    {
        weft_transport_t *t = weft__list_entry(pos, weft_transport_t, link);
        weft__list_remove(&t->link);
        t->on_closed = NULL;
        t->owner = NULL;
    }
    if (l->started)
        WEFT__DISPATCH(r, weft__factory_do_stop(l->factory));
    if (l->path != NULL)
        (void)unlink(l->path);
    weft_deferred_t *d = l->stopped;
    weft__free(l->path);
    weft__free(l);
    r->net_objects--;
    if (d != NULL) {
        int rc = weft_deferred_callback(d, NULL, NULL);
        (void)rc; /* fails only if the user fired it by hand, which is logged */
        weft_deferred_unref(d);
    }
}

static void conn_closed(void *owner, weft_transport_t *t, bool made, const weft_failure_t *reason)
{
    (void)made;
    (void)reason;
    weft_listener_t *l = owner;
    weft__list_remove(&t->link);
    l->nconn--;
    if (l->draining && l->nconn == 0 && l->handle_closed)
        release(l);
}

static void retry_accept(uv_timer_t *timer);

static void on_connection(uv_stream_t *server, int status)
{
    weft_listener_t *l = server->data;
    weft_reactor_t *r = l->r;
    if (status < 0) {
        weft__net_log(r, WEFT_LOG_WARN, "accept failed: %s", weft_strerror(status));
        return;
    }
    int err = 0;
    weft_transport_t *t = weft__transport_new(r, l->is_tcp, &l->topts, &err);
    if (t == NULL) {
        weft__net_log(r, WEFT_LOG_ERROR, "cannot take a connection: %s; retrying in %d ms",
                      weft_strerror(err), RETRY_MS);
        uv_timer_start(&l->retry, retry_accept, RETRY_MS, 0);
        return;
    }
    int rc = uv_accept(server, &t->h.stream);
    if (rc < 0) {
        weft__net_log(r, WEFT_LOG_WARN, "accept failed: %s", weft_strerror(rc));
        weft__transport_close(t, NULL);
        return;
    }
    if (l->max_connections > 0 && l->nconn >= l->max_connections) {
        l->refused++;
        weft__net_log(r, WEFT_LOG_WARN,
                      "refused a connection: %zu open, max_connections %zu (%zu refused so far)",
                      l->nconn, l->max_connections, l->refused);
        weft__transport_close(t, NULL);
        return;
    }
    char peer[128] = "";
    if (l->is_tcp) {
        struct sockaddr_storage ss;
        int len = sizeof(ss);
        if (uv_tcp_getpeername(&t->h.tcp, (struct sockaddr *)&ss, &len) == 0)
            (void)weft__format_addr(&ss, peer, sizeof(peer), NULL);
    }
    const weft_protocol_ops_t *ops = NULL;
    void *proto = NULL;
    int built;
    WEFT__DISPATCH(r, built = l->factory->ops.build_protocol(l->factory->ctx, peer, &ops, &proto));
    if (built != 0 || ops == NULL || ops->data_received == NULL) {
        if (built == 0)
            weft__net_log(r, WEFT_LOG_ERROR, "build_protocol gave no data_received: closing");
        weft__transport_close(t, NULL);
        return;
    }
    weft__list_push_tail(&l->conns, &t->link);
    l->nconn++;
    t->on_closed = conn_closed;
    t->owner = l;
    (void)weft__transport_start(t, ops, proto, &l->topts);
}

static void retry_accept(uv_timer_t *timer)
{
    weft_listener_t *l = timer->data;
    on_connection(&l->h.stream, 0);
}

static void on_fail_closed(uv_handle_t *h)
{
    weft_listener_t *l = h->data;
    l->r->net_objects--;
    /* path is set only once the bind made the socket file: then it is ours to remove. */
    if (l->path != NULL)
        (void)unlink(l->path);
    weft__free(l->path);
    weft__free(l);
}

static weft_listener_t *listener_new(weft_reactor_t *r, const weft_listen_options_t *opts,
                                     weft_factory_t *factory, int *err)
{
    weft_listener_t *l = weft__calloc(1, sizeof(*l));
    if (l == NULL) {
        *err = WEFT_ENOMEM;
        return NULL;
    }
    l->r = r;
    l->factory = factory;
    l->topts = opts->transport;
    l->max_connections = opts->max_connections;
    weft__list_init(&l->conns);
    return l;
}

/* Listens on the bound handle; on failure closes it and sets *err. */
static weft_listener_t *finish(weft_listener_t *l, int backlog, int rc, int *err)
{
    if (rc == 0)
        rc = uv_listen(&l->h.stream, backlog > 0 ? backlog : 511, on_connection);
    if (rc == 0 && l->is_tcp) {
        struct sockaddr_storage ss;
        int len = sizeof(ss);
        rc = uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)&ss, &len);
        char text[80];
        if (rc == 0)
            (void)weft__format_addr(&ss, text, sizeof(text), &l->port);
    }
    if (rc < 0) {
        uv_close(&l->h.handle, on_fail_closed);
        *err = rc;
        return NULL;
    }
    l->started = true;
    uv_timer_init(l->r->loop, &l->retry); /* cannot fail on Unix */
    l->retry.data = l;
    uv_unref((uv_handle_t *)&l->retry); /* a pending retry alone does not keep the loop up */
    l->handles = 2;
    WEFT__DISPATCH(l->r, weft__factory_do_start(l->factory));
    return l;
}

weft_listener_t *weft_listen_tcp(weft_reactor_t *r, const weft_listen_options_t *opts,
                                 weft_factory_t *factory, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    weft_listen_options_t defaults;
    if (opts == NULL) {
        weft_listen_options_init(&defaults);
        opts = &defaults;
    }
    struct sockaddr_storage ss;
    if (r == NULL || factory == NULL ||
        weft__parse_addr(opts->host != NULL ? opts->host : "0.0.0.0", opts->port, &ss) < 0) {
        *err = WEFT_EINVAL;
        return NULL;
    }
    WEFT__LOOP_ONLY(r);
    weft_listener_t *l = listener_new(r, opts, factory, err);
    if (l == NULL)
        return NULL;
    l->is_tcp = true;
    int rc = uv_tcp_init_ex(r->loop, &l->h.tcp, ss.ss_family);
    if (rc < 0) {
        weft__free(l);
        *err = rc;
        return NULL;
    }
    l->h.handle.data = l;
    r->net_objects++;
    if (opts->reuse_port) {
        uv_os_fd_t fd;
        int one = 1;
        rc = uv_fileno(&l->h.handle, &fd);
        if (rc == 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
            rc = WEFT_ENOTSUP;
    }
    unsigned flags = ss.ss_family == AF_INET6 && opts->ipv6_only ? UV_TCP_IPV6ONLY : 0;
    if (rc == 0)
        rc = uv_tcp_bind(&l->h.tcp, (const struct sockaddr *)&ss, flags);
    return finish(l, opts->backlog, rc, err);
}

weft_listener_t *weft_listen_unix(weft_reactor_t *r, const char *path,
                                  const weft_listen_options_t *opts, weft_factory_t *factory,
                                  int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    weft_listen_options_t defaults;
    if (opts == NULL) {
        weft_listen_options_init(&defaults);
        opts = &defaults;
    }
    if (r == NULL || factory == NULL || path == NULL) {
        *err = WEFT_EINVAL;
        return NULL;
    }
    WEFT__LOOP_ONLY(r);
    weft_listener_t *l = listener_new(r, opts, factory, err);
    if (l == NULL)
        return NULL;
    int rc = uv_pipe_init(r->loop, &l->h.pipe, 0);
    if (rc < 0) {
        weft__free(l);
        *err = rc;
        return NULL;
    }
    l->h.handle.data = l;
    r->net_objects++;
    rc = uv_pipe_bind(&l->h.pipe, path);
    if (rc == 0) {
        l->path = weft__strdup(path);
        if (l->path == NULL)
            rc = WEFT_ENOMEM;
    }
    return finish(l, opts->backlog, rc, err);
}

int weft_listener_port(const weft_listener_t *l)
{
    return l->port;
}

size_t weft_listener_connections(const weft_listener_t *l)
{
    return l->nconn;
}

size_t weft_listener_refused(const weft_listener_t *l)
{
    return l->refused;
}

weft_deferred_t *weft_listener_stop(weft_listener_t *l)
{
    if (l == NULL)
        return NULL;
    WEFT__LOOP_ONLY(l->r);
    weft_deferred_t *d = weft_deferred_new();
    if (d != NULL)
        l->stopped = weft_deferred_ref(d);
    uv_close((uv_handle_t *)&l->retry, on_listener_closed);
    uv_close(&l->h.handle, on_listener_closed);
    return d;
}

/* The grace period of weft_listener_stop_all is over: abort whoever is still connected. */
static void abort_stragglers(void *arg)
{
    weft_listener_t *l = arg;
    l->grace_call = 0;
    weft__net_log(l->r, WEFT_LOG_WARN,
                  "%zu connection(s) still open at the end of the stop's grace period: aborting",
                  l->nconn);
    weft__list_t *pos, *tmp;
    weft__list_foreach_safe(pos, tmp, &l->conns)
    {
        weft_transport_abort_connection(weft__list_entry(pos, weft_transport_t, link));
    }
}

weft_deferred_t *weft_listener_stop_all(weft_listener_t *l, double grace)
{
    if (l == NULL)
        return NULL;
    WEFT__LOOP_ONLY(l->r);
    weft_deferred_t *d = weft_deferred_new();
    if (d != NULL)
        l->stopped = weft_deferred_ref(d);
    l->draining = true;
    if (l->nconn > 0) {
        if (!(grace >= 0) ||
            weft_reactor_call_later(l->r, grace, abort_stragglers, l, &l->grace_call) != 0) {
            l->grace_call = 0;
            abort_stragglers(l); /* no grace to be had: abort now */
        } else {
            weft__list_t *pos, *tmp;
            weft__list_foreach_safe(pos, tmp, &l->conns)
            {
                weft_transport_lose_connection(weft__list_entry(pos, weft_transport_t, link));
            }
        }
    }
    uv_close((uv_handle_t *)&l->retry, on_listener_closed);
    uv_close(&l->h.handle, on_listener_closed);
    return d;
}
