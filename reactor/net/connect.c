/* SPDX-License-Identifier: MIT */
/* Connecting: one attempt with a timeout (internal), and weft_connect_tcp / _unix on top. */

/*
 * Design. An attempt owns a transport in T_CONNECTING until its done callback hands the
 * transport over (success) or closes it (failure, timeout, cancel). libuv calls the connect
 * callback exactly once, also when the handle is closed first (UV_ECANCELED), so the attempt's
 * memory is released there; `finished` says done already ran (a timeout or a cancel came
 * first) and the late callback only frees.
 */
#include <string.h>
#include <sys/un.h>

#include <weft/error.h>

#include "../../common/alloc-internal.h"
#include "net-internal.h"

struct weft__attempt_s {
    weft_transport_t *t;
    weft__attempt_done_fn done;
    void *owner;
    weft_call_id_t timer;
    double timeout;
    bool finished;
};

void weft_connect_options_init(weft_connect_options_t *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->timeout = 30.0;
    weft_transport_options_init(&opts->transport);
}

static void finish(weft__attempt_t *a, weft_transport_t *t, weft_failure_t *f)
{
    a->finished = true;
    if (a->timer != 0) {
        (void)weft_delayed_call_cancel(a->t->r, a->timer);
        a->timer = 0;
    }
    weft_transport_t *own = a->t;
    WEFT__DISPATCH(own->r, a->done(a->owner, t, f));
    if (t == NULL)
        weft__transport_close(own, NULL);
}

static void on_connect(uv_connect_t *req, int status)
{
    weft__attempt_t *a = req->data;
    if (a->finished) {
        weft__free(a);
        return;
    }
    if (status < 0)
        finish(a, NULL, weft_failure_from_code(status, NULL));
    else
        finish(a, a->t, NULL);
    weft__free(a);
}

static void on_timeout(void *arg)
{
    weft__attempt_t *a = arg;
    a->timer = 0;
    finish(a, NULL,
           weft_failure_newf(&weft_timeout_error_type, WEFT_ETIMEDOUT,
                             "connect timed out after %g s", a->timeout));
}

void weft__attempt_cancel(weft__attempt_t *a, weft_failure_t *f)
{
    if (a->finished) {
        weft_failure_free(f);
        return;
    }
    finish(a, NULL, f);
}

weft__attempt_t *weft__attempt_start(weft_reactor_t *r, const struct sockaddr_storage *ss,
                                     const char *path, double timeout,
                                     const weft_transport_options_t *topts,
                                     weft__attempt_done_fn done, void *owner, int *err)
{
    weft__attempt_t *a = weft__calloc(1, sizeof(*a));
    if (a == NULL) {
        *err = WEFT_ENOMEM;
        return NULL;
    }
    a->t = weft__transport_new(r, path == NULL, topts, err);
    if (a->t == NULL) {
        weft__free(a);
        return NULL;
    }
    a->done = done;
    a->owner = owner;
    a->timeout = timeout;
    if (timeout > 0) {
        int rc = weft_reactor_call_later(r, timeout, on_timeout, a, &a->timer);
        if (rc < 0) {
            weft__transport_close(a->t, NULL);
            weft__free(a);
            *err = rc;
            return NULL;
        }
    }
    a->t->connect_req.data = a;
    if (path != NULL) {
        uv_pipe_connect(&a->t->connect_req, &a->t->h.pipe, path, on_connect);
        return a;
    }
    int rc =
        uv_tcp_connect(&a->t->connect_req, &a->t->h.tcp, (const struct sockaddr *)ss, on_connect);
    if (rc < 0) {
        if (a->timer != 0)
            (void)weft_delayed_call_cancel(r, a->timer);
        weft__transport_close(a->t, NULL);
        weft__free(a);
        *err = rc;
        return NULL;
    }
    return a;
}

/* ---------------------------------------------------------------- weft_connect_tcp / _unix */

/*
 * A connect through weft_connect_tcp / _unix: a creator owns the deferred and, in turn, a name
 * resolution (uv_getaddrinfo, for a host that is not an IP literal) and then an attempt. A
 * resolution cannot always be cancelled (it may be running on libuv's pool): a cancelled one
 * forgets its creator and only frees itself when libuv calls back; r->net_objects counts it
 * until then, so the reactor is not freed under it.
 */
typedef struct creator_s creator_t;

typedef struct {
    uv_getaddrinfo_t req;
    weft_reactor_t *r;
    creator_t *c; /* NULL once the creator gave up on it */
    char *host;
    int port;
} resolve_t;

struct creator_s {
    weft_deferred_t *d; /* our reference, until it is fired */
    weft__attempt_t *a;
    resolve_t *res;
    weft_protocol_ops_t ops;
    void *proto;
    weft_transport_options_t topts;
    double timeout;
    bool made; /* connection_made is running: too late to cancel */
};

bool weft__unix_path_fits(const char *path)
{
    return strlen(path) < sizeof(((struct sockaddr_un *)NULL)->sun_path);
}

static void creator_done(void *owner, weft_transport_t *t, weft_failure_t *f)
{
    creator_t *c = owner;
    weft_deferred_t *d = c->d;
    int rc;
    if (t != NULL) {
        c->made = true; /* a cancel from connection_made does nothing (creator_cancel) */
        (void)weft__transport_start(t, &c->ops, c->proto, &c->topts);
        rc = weft_deferred_callback(d, t, NULL);
    } else {
        rc = weft_deferred_errback(d, f);
    }
    (void)rc; /* only a user firing our deferred by hand makes this fail; it is logged then */
    weft_deferred_unref(d);
    weft__free(c);
}

static int creator_cancel(weft_deferred_t *d, void *arg)
{
    (void)d;
    creator_t *c = arg;
    if (c->made)
        return WEFT_EALREADY; /* d stays unfired: it fires with the transport when made returns */
    weft_failure_t *f = weft_failure_from_code(WEFT_ECANCELED, "connect cancelled");
    if (c->a != NULL) {
        weft__attempt_cancel(c->a, f);
        return 0;
    }
    /* Still resolving: leave the resolution to finish on its own. */
    (void)uv_cancel((uv_req_t *)&c->res->req);
    c->res->c = NULL;
    creator_done(c, NULL, f);
    return 0;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
    resolve_t *res = req->data;
    creator_t *c = res->c;
    res->r->net_objects--;
    if (c != NULL) {
        c->res = NULL;
        weft_failure_t *f = NULL;
        if (status < 0 || ai == NULL) {
            f = weft_failure_newf(&weft_system_error_type, WEFT_EHOSTUNREACH,
                                  "cannot resolve %s: %s", res->host,
                                  status < 0 ? uv_strerror(status) : "no address");
        } else {
            struct sockaddr_storage ss;
            memset(&ss, 0, sizeof(ss));
            memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
            ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)res->port);
            int err = 0;
            c->a = weft__attempt_start(res->r, &ss, NULL, c->timeout, &c->topts, creator_done, c,
                                       &err);
            if (c->a == NULL)
                f = weft_failure_from_code(err, NULL);
        }
        if (f != NULL)
            creator_done(c, NULL, f);
    }
    uv_freeaddrinfo(ai);
    weft__free(res->host);
    weft__free(res);
}

/* Starts resolving host (IPv4, as Twisted's connectTCP does); 0 or a code. */
static int resolve_start(weft_reactor_t *r, creator_t *c, const char *host, int port)
{
    resolve_t *res = weft__calloc(1, sizeof(*res));
    if (res == NULL)
        return WEFT_ENOMEM;
    res->host = weft__strdup(host);
    if (res->host == NULL) {
        weft__free(res);
        return WEFT_ENOMEM;
    }
    res->r = r;
    res->c = c;
    res->port = port;
    res->req.data = res;
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int rc = uv_getaddrinfo(r->loop, &res->req, on_resolved, host, NULL, &hints);
    if (rc < 0) {
        weft__free(res->host);
        weft__free(res);
        return rc;
    }
    r->net_objects++;
    c->res = res;
    return 0;
}

/* ss (an address), path (Unix) or host (a name to resolve) says where to connect. */
static weft_deferred_t *connect_any(weft_reactor_t *r, const struct sockaddr_storage *ss,
                                    const char *path, const char *host, int port,
                                    const weft_connect_options_t *opts,
                                    const weft_protocol_ops_t *ops, void *proto, int *err)
{
    weft_connect_options_t defaults;
    if (opts == NULL) {
        weft_connect_options_init(&defaults);
        opts = &defaults;
    }
    if (ops->data_received == NULL || !(opts->timeout >= 0)) {
        *err = WEFT_EINVAL;
        return NULL;
    }
    creator_t *c = weft__calloc(1, sizeof(*c));
    if (c == NULL) {
        *err = WEFT_ENOMEM;
        return NULL;
    }
    c->ops = *ops;
    c->proto = proto;
    c->topts = opts->transport;
    c->timeout = opts->timeout;
    weft_deferred_t *d = weft_deferred_new_cancellable(creator_cancel, c);
    if (d == NULL) {
        weft__free(c);
        *err = WEFT_ENOMEM;
        return NULL;
    }
    c->d = weft_deferred_ref(d);
    int rc = 0;
    if (host != NULL) {
        rc = resolve_start(r, c, host, port);
    } else {
        c->a =
            weft__attempt_start(r, ss, path, opts->timeout, &opts->transport, creator_done, c, &rc);
        if (c->a == NULL && rc == 0)
            rc = WEFT_ENOMEM;
    }
    if (rc < 0) {
        *err = rc;
        weft_deferred_unref(d);
        weft_deferred_unref(d);
        weft__free(c);
        return NULL;
    }
    return d;
}

weft_deferred_t *weft_connect_tcp(weft_reactor_t *r, const char *host, int port,
                                  const weft_connect_options_t *opts,
                                  const weft_protocol_ops_t *ops, void *proto, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    if (r == NULL || ops == NULL || host == NULL || host[0] == '\0' || port <= 0 || port > 65535) {
        *err = WEFT_EINVAL;
        return NULL;
    }
    WEFT__LOOP_ONLY(r);
    struct sockaddr_storage ss;
    if (weft__parse_addr(host, port, &ss) == 0)
        return connect_any(r, &ss, NULL, NULL, port, opts, ops, proto, err);
    return connect_any(r, NULL, NULL, host, port, opts, ops, proto, err);
}

weft_deferred_t *weft_connect_unix(weft_reactor_t *r, const char *path,
                                   const weft_connect_options_t *opts,
                                   const weft_protocol_ops_t *ops, void *proto, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    if (r == NULL || ops == NULL || path == NULL || !weft__unix_path_fits(path)) {
        *err = WEFT_EINVAL;
        return NULL;
    }
    WEFT__LOOP_ONLY(r);
    return connect_any(r, NULL, path, NULL, 0, opts, ops, proto, err);
}
