/* SPDX-License-Identifier: MIT */
/* TCP server and client services: listen on start, close every connection on stop (aborting
 * stragglers after the grace period), reconnect on each start; over loopback. */
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include <weft/deferred.h>
#include <weft/error.h>
#include <weft/service.h>
#include <weft/tcp-service.h>
#include <weft/time.h>

#include "helpers.h"
#include "net-helpers.h"
#include "tap.h"

/* A factory whose protocols record into conns (echoing, if echo). */
typedef struct {
    t_conn_t conns[T_MAX_CONNS];
    int n;
    bool echo;
    size_t greeting; /* bytes each new connection writes at once */
} farm_t;

static int farm_build(void *ctx, const char *peer, const weft_protocol_ops_t **ops, void **proto)
{
    (void)peer;
    farm_t *f = ctx;
    if (f->n >= T_MAX_CONNS)
        return -1;
    t_conn_t *c = &f->conns[f->n++];
    c->echo = f->echo;
    *ops = t_conn_ops(c);
    *proto = c;
    return 0;
}

static weft_factory_t *farm_factory(farm_t *f)
{
    weft_factory_ops_t ops = {.build_protocol = farm_build};
    weft_factory_t *fac = weft_factory_new(&ops, f, NULL);
    if (fac == NULL)
        bail_out("weft_factory_new failed");
    return fac;
}

static void farm_reset(farm_t *f)
{
    for (int i = 0; i < T_MAX_CONNS; i++)
        t_conn_reset(&f->conns[i]);
    f->n = 0;
}

static weft_service_t *server_service(weft_reactor_t *r, weft_factory_t *fac, double grace)
{
    weft_listen_options_t o;
    weft_listen_options_init(&o);
    char host[] = "127.0.0.1"; /* the service copies it: this one goes out of scope */
    o.host = host;
    int err = 0;
    weft_service_t *s = weft_tcp_server_service_new(r, "tcp", &o, fac, grace, &err);
    if (s == NULL)
        bail_out("weft_tcp_server_service_new: %s", weft_strerror(err));
    return s;
}

/* Runs n loop iterations that never block (the stuck connection leaves nothing to wait for). */
static void run_nowait(weft_reactor_t *r, int n)
{
    for (int i = 0; i < n; i++)
        uv_run(weft_reactor_get_uv_loop(r), UV_RUN_NOWAIT);
}

static bool called(void *arg)
{
    return weft_deferred_called(arg);
}

/* Stops s and runs the loop until its stop deferred fires; returns whether it did. */
static bool stop_and_wait(weft_reactor_t *r, weft_service_t *s, weft_deferred_t **out)
{
    weft_deferred_t *d = NULL;
    if (!check_err(weft_service_stop(s, &d), 0))
        return false;
    bool ok = d != NULL && t_run_until_fn(r, called, d, 100000);
    if (out != NULL)
        *out = d;
    else
        weft_deferred_unref(d);
    return ok;
}

static void test_server_start_stop(void)
{
    weft_reactor_t *r = t_reactor(false);
    farm_t farm = {.echo = true};
    weft_factory_t *fac = farm_factory(&farm);
    weft_service_t *s = server_service(r, fac, 5);
    check_int(weft_tcp_server_service_port(s), ==, 0); /* not listening yet */
    check_err(weft_service_start(s), 0);
    int port = weft_tcp_server_service_port(s);
    check_int(port, >, 0);
    check_ptr(weft_tcp_server_service_listener(s), !=, NULL);

    t_conn_t a = {0}, b = {0};
    check(t_connect(r, port, &a));
    check(t_connect(r, port, &b));
    check_err(weft_transport_write(a.t, "hi", 2), 0);
    check(t_run_until_len(r, &a.len, 2)); /* echoed: the server serves */
    check(t_run_until_count(r, &farm.n, 2));

    weft_deferred_t *d = NULL;
    check(stop_and_wait(r, s, &d));
    /* The stop fired only once both accepted connections had closed. */
    check_int(farm.conns[0].lost, ==, 1);
    check_int(farm.conns[1].lost, ==, 1);
    check(t_run_until_count(r, &a.lost, 1));
    check(t_run_until_count(r, &b.lost, 1));
    check_int(weft_tcp_server_service_port(s), ==, 0);
    weft_deferred_unref(d);

    /* A stopped server may start again, on a new port of its own choosing. */
    farm_reset(&farm);
    check_err(weft_service_start(s), 0);
    t_conn_t c = {0};
    check(t_connect(r, weft_tcp_server_service_port(s), &c));
    check(stop_and_wait(r, s, NULL));
    check(t_run_until_count(r, &c.lost, 1));

    check_err(weft_service_free(s), 0);
    check_err(weft_factory_free(fac), 0);
    farm_reset(&farm);
    t_conn_reset(&a);
    t_conn_reset(&b);
    t_conn_reset(&c);
    t_teardown(r);
}

/* A client that never reads keeps the server's output from flushing, so its connection cannot
 * close cleanly: the grace period (manual clock) ends it with an abort. */
static void test_server_grace_aborts(void)
{
    weft_reactor_t *r = t_reactor(true);
    farm_t farm = {0};
    weft_factory_t *fac = farm_factory(&farm);
    weft_service_t *s = server_service(r, fac, 5);
    check_err(weft_service_start(s), 0);
    t_conn_t a = {0};
    check(t_connect(r, weft_tcp_server_service_port(s), &a));
    weft_transport_pause_reading(a.t);
    check(t_run_until_count(r, &farm.n, 1));
    size_t big = 16u << 20; /* more than both sockets' buffers hold */
    char *blob = calloc(1, big);
    check_err(weft_transport_write(farm.conns[0].t, blob, big), 0);
    free(blob);
    run_nowait(r, 200);
    check_uint(weft_transport_pending(farm.conns[0].t), >, 0);

    weft_deferred_t *d = NULL;
    check_err(weft_service_stop(s, &d), 0);
    run_nowait(r, 200);
    check(!weft_deferred_called(d)); /* waiting for the stuck connection */
    check_int(farm.conns[0].lost, ==, 0);
    check_err(weft_reactor_advance(r, 5.0), 0); /* the grace period ends: aborted */
    check(t_run_until_fn(r, called, d, 100000));
    check_int(farm.conns[0].lost, ==, 1);
    weft_deferred_unref(d);
    check_err(weft_service_free(s), 0);
    check_err(weft_factory_free(fac), 0);
    farm_reset(&farm);
    check_err(weft_transport_resume_reading(a.t), 0);
    check(t_run_until_count(r, &a.lost, 1));
    t_conn_reset(&a);
    t_teardown(r);
}

/* The client service: connects on start, closes on stop, connects anew on the next start. */
typedef struct {
    t_conn_t conns[4];
    int n;
} client_ctx_t;

static int client_build(void *ctx, weft_connector_t *c, const weft_protocol_ops_t **ops,
                        void **proto)
{
    (void)c;
    client_ctx_t *cc = ctx;
    if (cc->n >= 4)
        return -1;
    t_conn_t *conn = &cc->conns[cc->n++];
    *ops = t_conn_ops(conn);
    *proto = conn;
    return 0;
}

static void test_client_service(void)
{
    weft_reactor_t *r = t_reactor(false);
    farm_t farm = {0};
    weft_factory_t *fac = farm_factory(&farm);
    weft_service_t *server = server_service(r, fac, 5);
    check_err(weft_service_start(server), 0);
    int port = weft_tcp_server_service_port(server);

    client_ctx_t cc = {0};
    weft_client_factory_ops_t ops = {.build_protocol = client_build};
    int err = 0;
    weft_service_t *client =
        weft_tcp_client_service_new(r, "client", "127.0.0.1", port, NULL, &ops, &cc, &err);
    check_ptr(client, !=, NULL);
    check_ptr(weft_tcp_client_service_connector(client), ==, NULL);
    check_err(weft_service_start(client), 0);
    check_ptr(weft_tcp_client_service_connector(client), !=, NULL);
    check(t_run_until_count(r, &cc.conns[0].made, 1));
    check(t_run_until_count(r, &farm.n, 1));
    check(stop_and_wait(r, client, NULL));
    check(t_run_until_count(r, &farm.conns[0].lost, 1)); /* the server saw it go */
    check_ptr(weft_tcp_client_service_connector(client), ==, NULL);

    check_err(weft_service_start(client), 0); /* a new connector, a new connection */
    check(t_run_until_count(r, &cc.conns[1].made, 1));
    check(t_run_until_count(r, &farm.n, 2));

    check_err(weft_service_free(client), WEFT_EBUSY); /* running: stop it first */
    check(stop_and_wait(r, client, NULL));
    check(t_run_until_count(r, &farm.conns[1].lost, 1));
    check_err(weft_service_free(client), 0);
    check(stop_and_wait(r, server, NULL));
    check_err(weft_service_free(server), 0);
    check_err(weft_factory_free(fac), 0);
    farm_reset(&farm);
    for (int i = 0; i < 4; i++)
        t_conn_reset(&cc.conns[i]);
    t_teardown(r);
}

static void test_bad_arguments(void)
{
    weft_reactor_t *r = t_reactor(false);
    farm_t farm = {0};
    weft_factory_t *fac = farm_factory(&farm);
    int err = 0;
    check_ptr(weft_tcp_server_service_new(NULL, "x", NULL, fac, 1, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    check_ptr(weft_tcp_server_service_new(r, "x", NULL, NULL, 1, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    check_ptr(weft_tcp_server_service_new(r, "x", NULL, fac, -1, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    weft_client_factory_ops_t ops = {.build_protocol = client_build};
    check_ptr(weft_tcp_client_service_new(r, "c", NULL, 80, NULL, &ops, NULL, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    check_ptr(weft_tcp_client_service_new(r, "c", "127.0.0.1", 0, NULL, &ops, NULL, &err), ==,
              NULL);
    check_err(err, WEFT_EINVAL);
    check_ptr(weft_tcp_client_service_new(r, "c", "127.0.0.1", 80, NULL, NULL, NULL, &err), ==,
              NULL);
    check_err(err, WEFT_EINVAL);

    /* A port taken by another listener: the start fails with the listen error. */
    weft_service_t *a = server_service(r, fac, 1);
    check_err(weft_service_start(a), 0);
    weft_listen_options_t o;
    weft_listen_options_init(&o);
    o.host = "127.0.0.1";
    o.port = weft_tcp_server_service_port(a);
    weft_service_t *b = weft_tcp_server_service_new(r, "b", &o, fac, 1, &err);
    check_err(weft_service_start(b), WEFT_EADDRINUSE);
    check(!weft_service_is_running(b));
    check_err(weft_service_free(b), 0);
    check(stop_and_wait(r, a, NULL));
    check_err(weft_service_free(a), 0);
    check_err(weft_factory_free(fac), 0);
    t_teardown(r);
}

int main(void)
{
    TEST(test_server_start_stop(),
         "a TCP server service listens on start, closes every connection on stop and fires its "
         "stop deferred once they are closed; it may start again");
    TEST(test_server_grace_aborts(),
         "a connection that cannot flush is aborted when the stop's grace period ends");
    TEST(test_client_service(), "a TCP client service connects on start, closes on stop and "
                                "connects anew on the next start");
    TEST(test_bad_arguments(), "bad arguments are refused with WEFT_EINVAL and a taken port "
                               "fails the start with the listen error");
    return done_testing();
}
