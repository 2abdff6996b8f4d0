/* SPDX-License-Identifier: MIT */
/* TCP server and TCP client services: a listener or a connector run as a service. */

/*
 * Design. Each service keeps copies of what its start needs (the options and their strings)
 * and the listener or connector of the current run, made at start and let go at stop. The
 * server's stop is weft_listener_stop_all, whose deferred becomes the service's stop deferred,
 * so a MultiService stopping a server waits until its connections have closed.
 */
#include <math.h>

#include <weft/error.h>
#include <weft/tcp-service.h>

#include "../../common/alloc-internal.h"

/* ---------------------------------------------------------------- server */

typedef struct {
    weft_listen_options_t opts;
    char *host;
    weft_factory_t *factory;
    double stop_grace;
    weft_listener_t *listener; /* while running */
} server_t;

static int server_start(weft_service_t *s)
{
    server_t *sv = weft_service_get_data(s);
    int err = 0;
    sv->listener = weft_listen_tcp(weft_service_reactor(s), &sv->opts, sv->factory, &err);
    return sv->listener != NULL ? 0 : err;
}

static weft_result_t server_stop(weft_service_t *s)
{
    server_t *sv = weft_service_get_data(s);
    weft_listener_t *l = sv->listener;
    sv->listener = NULL;
    if (l == NULL)
        return weft_ok(NULL, NULL);
    weft_deferred_t *d = weft_listener_stop_all(l, sv->stop_grace);
    if (d == NULL)
        return weft_ok(NULL, NULL); /* out of memory: the stop goes on, unwatched */
    return weft_wait_for(d);
}

static void server_free(weft_service_t *s)
{
    server_t *sv = weft_service_get_data(s); /* stopped: weft_service_free refuses otherwise */
    weft__free(sv->host);
    weft__free(sv);
}

static const weft_service_ops_t server_ops = {
    .start = server_start,
    .stop = server_stop,
    .free = server_free,
};

static void set_err(int *err, int code)
{
    if (err != NULL)
        *err = code;
}

weft_service_t *weft_tcp_server_service_new(weft_reactor_t *r, const char *name,
                                            const weft_listen_options_t *opts,
                                            weft_factory_t *factory, double stop_grace, int *err)
{
    if (r == NULL || factory == NULL || !(stop_grace >= 0)) {
        set_err(err, WEFT_EINVAL);
        return NULL;
    }
    server_t *sv = weft__calloc(1, sizeof(*sv));
    if (sv == NULL) {
        set_err(err, WEFT_ENOMEM);
        return NULL;
    }
    if (opts != NULL)
        sv->opts = *opts;
    else
        weft_listen_options_init(&sv->opts);
    if (sv->opts.host != NULL && (sv->host = weft__strdup(sv->opts.host)) == NULL) {
        weft__free(sv);
        set_err(err, WEFT_ENOMEM);
        return NULL;
    }
    sv->opts.host = sv->host;
    sv->factory = factory;
    sv->stop_grace = stop_grace;
    weft_service_t *s = weft_service_new(r, name, &server_ops, sv, err);
    if (s == NULL) {
        weft__free(sv->host);
        weft__free(sv);
    }
    return s;
}

int weft_tcp_server_service_port(const weft_service_t *s)
{
    server_t *sv = weft_service_get_data(s);
    return sv != NULL && sv->listener != NULL ? weft_listener_port(sv->listener) : 0;
}

weft_listener_t *weft_tcp_server_service_listener(const weft_service_t *s)
{
    server_t *sv = weft_service_get_data(s);
    return sv != NULL ? sv->listener : NULL;
}

/* ---------------------------------------------------------------- client */

typedef struct {
    char *host;
    int port;
    weft_connector_options_t opts;
    weft_client_factory_ops_t ops;
    void *ctx;
    weft_connector_t *connector; /* while running */
} client_t;

static int client_start(weft_service_t *s)
{
    client_t *c = weft_service_get_data(s);
    int err = 0;
    c->connector = weft_connector_new_tcp(weft_service_reactor(s), c->host, c->port, &c->opts,
                                          &c->ops, c->ctx, &err);
    if (c->connector == NULL)
        return err;
    int rc = weft_connector_connect(c->connector);
    if (rc != 0) {
        weft_connector_free(c->connector);
        c->connector = NULL;
    }
    return rc;
}

static weft_result_t client_stop(weft_service_t *s)
{
    client_t *c = weft_service_get_data(s);
    weft_connector_free(c->connector);
    c->connector = NULL;
    return weft_ok(NULL, NULL);
}

static void client_free(weft_service_t *s)
{
    client_t *c = weft_service_get_data(s); /* stopped: no connector */
    weft__free(c->host);
    weft__free(c);
}

static const weft_service_ops_t client_ops = {
    .start = client_start,
    .stop = client_stop,
    .free = client_free,
};

weft_service_t *weft_tcp_client_service_new(weft_reactor_t *r, const char *name, const char *host,
                                            int port, const weft_connector_options_t *opts,
                                            const weft_client_factory_ops_t *ops, void *ctx,
                                            int *err)
{
    if (r == NULL || host == NULL || ops == NULL || port < 1 || port > 65535) {
        set_err(err, WEFT_EINVAL);
        return NULL;
    }
    client_t *c = weft__calloc(1, sizeof(*c));
    if (c == NULL || (c->host = weft__strdup(host)) == NULL) {
        weft__free(c);
        set_err(err, WEFT_ENOMEM);
        return NULL;
    }
    c->port = port;
    if (opts != NULL)
        c->opts = *opts;
    else
        weft_connector_options_init(&c->opts);
    c->ops = *ops;
    c->ctx = ctx;
    weft_service_t *s = weft_service_new(r, name, &client_ops, c, err);
    if (s == NULL) {
        weft__free(c->host);
        weft__free(c);
    }
    return s;
}

weft_connector_t *weft_tcp_client_service_connector(const weft_service_t *s)
{
    client_t *c = weft_service_get_data(s);
    return c != NULL ? c->connector : NULL;
}
