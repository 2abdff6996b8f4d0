/* SPDX-License-Identifier: MIT */
/* Helpers for the TCP tests. */
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include <weft/error.h>

#include "helpers.h"
#include "net-helpers.h"
#include "tap.h"

static void c_made(void *proto, weft_transport_t *t)
{
    t_conn_t *c = proto;
    c->t = t;
    c->made++;
}

static void c_data(void *proto, weft_transport_t *t, const char *data, size_t len)
{
    t_conn_t *c = proto;
    if (c->len + len > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + len)
            cap *= 2;
        c->data = realloc(c->data, cap);
        if (c->data == NULL)
            bail_out("out of memory");
        c->cap = cap;
    }
    memcpy(c->data + c->len, data, len);
    c->len += len;
    if (c->echo) {
        int rc = weft_transport_write(t, data, len);
        if (rc < 0)
            diag("echo write: %s", weft_strerror(rc));
    }
}

static void c_lost(void *proto, weft_transport_t *t, weft_failure_t *reason)
{
    (void)t;
    t_conn_t *c = proto;
    c->lost++;
    c->lost_type = weft_failure_type(reason);
    c->lost_code = weft_failure_code(reason);
    weft_failure_free(reason);
}

static void c_read_lost(void *proto, weft_transport_t *t)
{
    (void)t;
    ((t_conn_t *)proto)->read_lost++;
}

static void c_write_lost(void *proto, weft_transport_t *t)
{
    (void)t;
    ((t_conn_t *)proto)->write_lost++;
}

static void c_pause(void *proto, weft_transport_t *t)
{
    ((t_conn_t *)proto)->paused++;
    ((t_conn_t *)proto)->pending_at_pause = weft_transport_pending(t);
}

static void c_resume(void *proto, weft_transport_t *t)
{
    ((t_conn_t *)proto)->resumed++;
    ((t_conn_t *)proto)->pending_at_resume = weft_transport_pending(t);
}

static void c_timeout(void *proto, weft_transport_t *t)
{
    ((t_conn_t *)proto)->timeouts++;
    weft_transport_abort_connection(t);
}

static const weft_protocol_ops_t plain_ops = {
    .connection_made = c_made,
    .data_received = c_data,
    .connection_lost = c_lost,
    .pause_producing = c_pause,
    .resume_producing = c_resume,
};

static const weft_protocol_ops_t half_ops = {
    .connection_made = c_made,
    .data_received = c_data,
    .connection_lost = c_lost,
    .read_connection_lost = c_read_lost,
    .write_connection_lost = c_write_lost,
    .pause_producing = c_pause,
    .resume_producing = c_resume,
};

static const weft_protocol_ops_t timeout_ops = {
    .connection_made = c_made,
    .data_received = c_data,
    .connection_lost = c_lost,
    .timeout_connection = c_timeout,
};

const weft_protocol_ops_t *t_conn_ops(const t_conn_t *c)
{
    if (c->custom_timeout)
        return &timeout_ops;
    return c->half_closeable ? &half_ops : &plain_ops;
}

void t_conn_reset(t_conn_t *c)
{
    free(c->data);
    memset(c, 0, sizeof(*c));
}

static int s_build(void *ctx, const char *peer, const weft_protocol_ops_t **ops, void **proto)
{
    (void)peer;
    t_server_t *s = ctx;
    if (s->refuse || s->nconns >= T_MAX_CONNS)
        return -1;
    t_conn_t *c = &s->conns[s->nconns++];
    c->echo = s->echo;
    c->half_closeable = s->half_closeable;
    *ops = t_conn_ops(c);
    *proto = c;
    return 0;
}

static void s_start(void *ctx)
{
    ((t_server_t *)ctx)->started++;
}

static void s_stop(void *ctx)
{
    ((t_server_t *)ctx)->stopped++;
}

void t_server_start(t_server_t *s, weft_reactor_t *r, const weft_listen_options_t *opts)
{
    weft_listen_options_t o;
    if (opts == NULL) {
        weft_listen_options_init(&o);
        o.host = "127.0.0.1";
        opts = &o;
    }
    s->r = r;
    weft_factory_ops_t fops = {
        .build_protocol = s_build, .start_factory = s_start, .stop_factory = s_stop};
    int err = 0;
    s->f = weft_factory_new(&fops, s, &err);
    if (s->f == NULL)
        bail_out("weft_factory_new: %s", weft_strerror(err));
    s->l = weft_listen_tcp(r, opts, s->f, &err);
    if (s->l == NULL)
        bail_out("weft_listen_tcp: %s", weft_strerror(err));
    s->port = weft_listener_port(s->l);
}

void t_server_stop(t_server_t *s)
{
    if (s->l != NULL) {
        weft_deferred_t *d = weft_listener_stop(s->l);
        s->l = NULL;
        for (int i = 0; i < 100 && d != NULL && !weft_deferred_called(d); i++)
            t_run_once(s->r);
        weft_deferred_unref(d);
    }
    if (weft_factory_free(s->f) != 0)
        diag("factory still in use");
    s->f = NULL;
    for (int i = 0; i < T_MAX_CONNS; i++)
        t_conn_reset(&s->conns[i]);
}

typedef struct {
    int done;
    int ok;
} connect_wait_t;

static weft_result_t on_connected(void *value, weft_free_fn free_fn, void *arg)
{
    (void)value;
    (void)free_fn;
    connect_wait_t *w = arg;
    w->done = 1;
    w->ok = 1;
    return weft_ok(NULL, NULL);
}

static weft_result_t on_connect_failed(weft_failure_t *f, void *arg)
{
    connect_wait_t *w = arg;
    diag("connect failed: %s", weft_failure_message(f));
    weft_failure_free(f);
    w->done = 1;
    return weft_ok(NULL, NULL);
}

bool t_connect(weft_reactor_t *r, int port, t_conn_t *c)
{
    int err = 0;
    weft_deferred_t *d = weft_connect_tcp(r, "127.0.0.1", port, NULL, t_conn_ops(c), c, &err);
    if (d == NULL) {
        diag("weft_connect_tcp: %s", weft_strerror(err));
        return false;
    }
    connect_wait_t w = {0, 0};
    if (weft_deferred_add_callbacks(d, on_connected, &w, on_connect_failed, &w) != 0)
        bail_out("add_callbacks");
    t_run_until(r, &w.done, 1000);
    weft_deferred_unref(d);
    return w.ok;
}

bool t_run_until_fn(weft_reactor_t *r, bool (*pred)(void *), void *arg, unsigned limit)
{
    for (unsigned i = 0; i < limit && !pred(arg); i++)
        t_run_once(r);
    return pred(arg);
}

bool t_run_until_count(weft_reactor_t *r, const int *n, int want)
{
    for (unsigned i = 0; i < 100000 && *n < want; i++)
        t_run_once(r);
    return *n >= want;
}

bool t_run_until_len(weft_reactor_t *r, const size_t *len, size_t want)
{
    for (unsigned i = 0; i < 100000 && *len < want; i++)
        t_run_once(r);
    return *len >= want;
}
