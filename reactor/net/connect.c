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

typedef struct {
    weft_deferred_t *d; /* our reference, until it is fired */
    weft__attempt_t *a;
    weft_protocol_ops_t ops;
    void *proto;
    weft_transport_options_t topts;
} creator_t;

static void creator_done(void *owner, weft_transport_t *t, weft_failure_t *f)
{
    creator_t *c = owner;
    weft_deferred_t *d = c->d;
    int rc;
    if (t != NULL) {
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
    weft__attempt_cancel(c->a, weft_failure_from_code(WEFT_ECANCELED, "connect cancelled"));
    return 0;
}

static weft_deferred_t *connect_any(weft_reactor_t *r, const struct sockaddr_storage *ss,
                                    const char *path, const weft_connect_options_t *opts,
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
    weft_deferred_t *d = weft_deferred_new_cancellable(creator_cancel, c);
    if (d == NULL) {
        weft__free(c);
        *err = WEFT_ENOMEM;
        return NULL;
    }
    c->d = weft_deferred_ref(d);
    c->a = weft__attempt_start(r, ss, path, opts->timeout, &opts->transport, creator_done, c, err);
    if (c->a == NULL) {
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
    struct sockaddr_storage ss;
    if (r == NULL || ops == NULL || port <= 0 || weft__parse_addr(host, port, &ss) < 0) {
        *err = WEFT_EINVAL;
        return NULL;
    }
    WEFT__LOOP_ONLY(r);
    return connect_any(r, &ss, NULL, opts, ops, proto, err);
}

weft_deferred_t *weft_connect_unix(weft_reactor_t *r, const char *path,
                                   const weft_connect_options_t *opts,
                                   const weft_protocol_ops_t *ops, void *proto, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    if (r == NULL || ops == NULL || path == NULL) {
        *err = WEFT_EINVAL;
        return NULL;
    }
    WEFT__LOOP_ONLY(r);
    return connect_any(r, NULL, path, opts, ops, proto, err);
}
