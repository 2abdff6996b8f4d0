/* SPDX-License-Identifier: MIT */
/* TCP transports, listeners, connects and connectors when a callback re-enters them: a
 * connector freed from its own callbacks, a listener stopped while it builds a connection, a
 * connect cancelled from connection_made; the idle timeout against a peer that stopped
 * reading; a stop grace of INFINITY; Unix socket paths too long for sun_path. Real sockets on
 * 127.0.0.1:0; time moves by the manual clock, or is bounded by a deadline timer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <weft/deferred.h>
#include <weft/error.h>
#include <weft/service.h>
#include <weft/tcp-service.h>
#include <weft/tcp.h>
#include <weft/time.h>
#include <weft/transport.h>

#include "helpers.h"
#include "net-helpers.h"
#include "tap.h"

static bool conns_made(void *arg)
{
    t_server_t *s = arg;
    return s->nconns > 0 && s->conns[0].made > 0;
}

static bool called(void *arg)
{
    return weft_deferred_called(arg);
}

/* A deadline on the real clock, so that a test of "it closes" cannot hang when it does not. */
static int deadline_hit;
static void on_deadline(void *arg)
{
    (void)arg;
    deadline_hit = 1;
}

/* Runs the loop until *n >= want or the deadline (seconds from now) passed. */
static bool run_until_count_or(weft_reactor_t *r, const int *n, int want, double seconds)
{
    deadline_hit = 0;
    weft_call_id_t id = 0;
    if (weft_reactor_call_later(r, seconds, on_deadline, NULL, &id) != 0)
        bail_out("call_later");
    while (*n < want && !deadline_hit)
        t_run_once(r);
    if (!deadline_hit)
        (void)weft_delayed_call_cancel(r, id);
    return *n >= want;
}

/* ---------------------------------------------------------------- connectors */

typedef struct {
    weft_connector_t *c;
    int made, lost, started, built;
} one_shot_t;

static one_shot_t g_shot;

static void shot_made(void *proto, weft_transport_t *t)
{
    (void)proto;
    (void)t;
    g_shot.made++;
    weft_connector_free(g_shot.c); /* a one-shot client done with its connector */
}

static void shot_data(void *proto, weft_transport_t *t, const char *d, size_t n)
{
    (void)proto, (void)t, (void)d, (void)n;
}

static void shot_lost(void *proto, weft_transport_t *t, weft_failure_t *reason)
{
    (void)proto, (void)t;
    weft_failure_free(reason);
    g_shot.lost++;
}

static const weft_protocol_ops_t shot_ops = {
    .connection_made = shot_made, .data_received = shot_data, .connection_lost = shot_lost};

static int shot_build(void *ctx, weft_connector_t *c, const weft_protocol_ops_t **ops, void **proto)
{
    (void)ctx, (void)c;
    g_shot.built++;
    *ops = &shot_ops;
    *proto = NULL;
    return 0;
}

static void test_connector_free_in_connection_made(void)
{
    memset(&g_shot, 0, sizeof(g_shot));
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {0};
    t_server_start(&s, r, NULL);
    weft_client_factory_ops_t ops = {.build_protocol = shot_build};
    int err = 0;
    g_shot.c = weft_connector_new_tcp(r, "127.0.0.1", s.port, NULL, &ops, NULL, &err);
    check_ptr(g_shot.c, !=, NULL);
    check_err(weft_connector_connect(g_shot.c), 0);
    check(t_run_until_count(r, &g_shot.made, 1));
    /* The free closed the connection: the protocol still hears connection_lost. */
    check(t_run_until_count(r, &g_shot.lost, 1));
    check_int(g_shot.lost, ==, 1);
    for (int i = 0; i < s.nconns; i++)
        t_run_until_count(r, &s.conns[i].lost, 1);
    t_server_stop(&s);
    check(t_teardown(r));
}

static void shot_started_free(void *ctx, weft_connector_t *c)
{
    (void)ctx;
    g_shot.started++;
    weft_connector_free(c);
}

static void test_connector_free_in_started_connecting(void)
{
    memset(&g_shot, 0, sizeof(g_shot));
    weft_reactor_t *r = t_reactor(false);
    weft_client_factory_ops_t ops = {.build_protocol = shot_build,
                                     .started_connecting = shot_started_free};
    int err = 0;
    weft_connector_t *c = weft_connector_new_tcp(r, "127.0.0.1", 9, NULL, &ops, NULL, &err);
    check_ptr(c, !=, NULL);
    check_err(weft_connector_connect(c), 0);
    check_int(g_shot.started, ==, 1);
    check_int(g_shot.built, ==, 0);
    /* Released: the reactor frees (it refuses while a connector is alive), and nothing leaks. */
    check(t_teardown(r));
}

static void test_reactor_free_refuses_while_connector_alive(void)
{
    weft_reactor_t *r = t_reactor(false);
    weft_client_factory_ops_t ops = {.build_protocol = shot_build};
    int err = 0;
    weft_connector_t *c = weft_connector_new_tcp(r, "127.0.0.1", 9, NULL, &ops, NULL, &err);
    check_ptr(c, !=, NULL);
    check_err(weft_reactor_free(r), WEFT_EBUSY);
    weft_connector_free(c);
    check(t_teardown(r));
}

/* ---------------------------------------------------------------- idle timeout, stuck peer */

typedef struct {
    int made, lost, lost_code;
    const weft_failure_type_t *lost_type;
    bool lose_in_made; /* connection_made writes, then calls lose_connection */
    size_t pending;    /* what connection_made's write left queued */
} stuck_t;

static stuck_t g_stuck;

static void stuck_made(void *proto, weft_transport_t *t)
{
    stuck_t *s = proto;
    s->made++;
    /* Far more than the two sockets' buffers hold: most of it stays queued. */
    size_t n = 32u << 20;
    char *big = malloc(n);
    if (big == NULL)
        bail_out("out of memory");
    memset(big, 'x', n);
    int rc = weft_transport_write_owned(t, big, n, free);
    if (rc != 0)
        diag("write: %s", weft_strerror(rc));
    s->pending = weft_transport_pending(t);
    if (s->lose_in_made)
        weft_transport_lose_connection(t);
}

static void stuck_data(void *proto, weft_transport_t *t, const char *d, size_t n)
{
    (void)proto, (void)t, (void)d, (void)n;
}

static void stuck_lost(void *proto, weft_transport_t *t, weft_failure_t *reason)
{
    (void)t;
    stuck_t *s = proto;
    s->lost++;
    s->lost_code = weft_failure_code(reason);
    s->lost_type = weft_failure_type(reason);
    weft_failure_free(reason);
}

static const weft_protocol_ops_t stuck_ops = {
    .connection_made = stuck_made, .data_received = stuck_data, .connection_lost = stuck_lost};

static int stuck_build(void *ctx, const char *peer, const weft_protocol_ops_t **ops, void **proto)
{
    (void)peer;
    *ops = &stuck_ops;
    *proto = ctx;
    return 0;
}

/* A server whose connection_made queues 32 MB to a client that never reads; idle timeout 10 s
 * on the manual clock. */
static void idle_stuck_peer(bool lose_in_made)
{
    memset(&g_stuck, 0, sizeof(g_stuck));
    g_stuck.lose_in_made = lose_in_made;
    weft_reactor_t *r = t_reactor(true);
    weft_factory_ops_t fops = {.build_protocol = stuck_build};
    weft_factory_t *f = weft_factory_new(&fops, &g_stuck, NULL);
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = "127.0.0.1";
    lo.transport.idle_timeout = 10;
    int err = 0;
    weft_listener_t *l = weft_listen_tcp(r, &lo, f, &err);
    check_ptr(l, !=, NULL);
    t_conn_t c = {0};
    if (!t_connect(r, weft_listener_port(l), &c))
        bail_out("no connection");
    weft_transport_pause_reading(c.t); /* the peer stops reading */
    t_run_until_count(r, &g_stuck.made, 1);
    check_uint(g_stuck.pending, >, 0);
    for (int i = 0; i < 10; i++)
        weft_reactor_run_once_nowait(r);
    check_int(g_stuck.lost, ==, 0);
    /* 10 s idle: the default reaction closes (lose_connection), which cannot flush; after one
     * more idle period with nothing sent, it aborts. */
    check_err(weft_reactor_advance(r, 10), 0);
    check_err(weft_reactor_advance(r, 10), 0);
    for (int i = 0; i < 10 && g_stuck.lost == 0; i++)
        weft_reactor_run_once_nowait(r);
    check_int(g_stuck.lost, ==, 1);
    check_ptr(g_stuck.lost_type, ==, &weft_timeout_error_type);
    check_err(g_stuck.lost_code, WEFT_ETIMEDOUT);

    weft_transport_abort_connection(c.t);
    t_run_until_count(r, &c.lost, 1);
    weft_deferred_t *d = weft_listener_stop_all(l, 0);
    t_run_until_fn(r, called, d, 1000);
    weft_deferred_unref(d);
    check_err(weft_factory_free(f), 0);
    t_conn_reset(&c);
    check(t_teardown(r));
}

/* ---------------------------------------------------------------- listener stop_all */

static weft_listener_t *g_l;
static weft_deferred_t *g_stop;
static t_conn_t g_sc;

static int build_then_stop_all(void *ctx, const char *peer, const weft_protocol_ops_t **ops,
                               void **proto)
{
    (void)ctx, (void)peer;
    g_stop = weft_listener_stop_all(g_l, 5); /* a server done after its one client */
    *ops = t_conn_ops(&g_sc);
    *proto = &g_sc;
    return 0;
}

static void test_stop_all_in_build_protocol(void)
{
    memset(&g_sc, 0, sizeof(g_sc));
    g_stop = NULL;
    weft_reactor_t *r = t_reactor(false);
    weft_factory_ops_t fops = {.build_protocol = build_then_stop_all};
    weft_factory_t *f = weft_factory_new(&fops, NULL, NULL);
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = "127.0.0.1";
    int err = 0;
    g_l = weft_listen_tcp(r, &lo, f, &err);
    check_ptr(g_l, !=, NULL);
    t_conn_t c = {0};
    check(t_connect(r, weft_listener_port(g_l), &c));
    check(t_run_until_count(r, &g_sc.made, 1));
    check_ptr(g_stop, !=, NULL);
    /* The connection being built is closed cleanly (well before the 5 s grace), and the stop
     * fires without the client doing anything. */
    check(run_until_count_or(r, &g_sc.lost, 1, 30));
    check_err(g_sc.lost_code, WEFT_EEOF);
    check(t_run_until_count(r, &c.lost, 1));
    check(t_run_until_fn(r, called, g_stop, 1000));
    weft_deferred_unref(g_stop);
    check_err(weft_factory_free(f), 0);
    t_conn_reset(&c);
    t_conn_reset(&g_sc);
    check(t_teardown(r));
}

static void test_stop_all_infinite_grace(void)
{
    weft_reactor_t *r = t_reactor(true);
    t_server_t s = {0};
    t_server_start(&s, r, NULL);
    t_conn_t c = {0};
    if (!t_connect(r, s.port, &c) || !t_run_until_fn(r, conns_made, &s, 1000))
        bail_out("no connection");
    weft_deferred_t *d = weft_listener_stop_all(s.l, INFINITY);
    s.l = NULL;
    check(t_run_until_count(r, &s.conns[0].lost, 1));
    check_err(s.conns[0].lost_code, WEFT_EEOF); /* closed cleanly, not aborted */
    check(t_run_until_count(r, &c.lost, 1));
    check_err(c.lost_code, WEFT_EEOF);
    check(t_run_until_fn(r, called, d, 1000));
    weft_deferred_unref(d);
    t_server_stop(&s);
    t_conn_reset(&c);
    check(t_teardown(r));
}

static t_conn_t g_svc_conn;
static int svc_build(void *ctx, const char *peer, const weft_protocol_ops_t **ops, void **proto)
{
    (void)ctx, (void)peer;
    *ops = t_conn_ops(&g_svc_conn);
    *proto = &g_svc_conn;
    return 0;
}

static void test_server_service_infinite_grace(void)
{
    memset(&g_svc_conn, 0, sizeof(g_svc_conn));
    weft_reactor_t *r = t_reactor(false);
    weft_factory_ops_t fo = {.build_protocol = svc_build};
    weft_factory_t *f = weft_factory_new(&fo, NULL, NULL);
    weft_listen_options_t o;
    weft_listen_options_init(&o);
    o.host = "127.0.0.1";
    int err = 0;
    check_ptr(weft_tcp_server_service_new(r, "tcp", &o, f, -1, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    check_ptr(weft_tcp_server_service_new(r, "tcp", &o, f, NAN, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    weft_service_t *s = weft_tcp_server_service_new(r, "tcp", &o, f, INFINITY, &err);
    check_ptr(s, !=, NULL);
    check_err(weft_service_start(s), 0);
    t_conn_t c = {0};
    check(t_connect(r, weft_tcp_server_service_port(s), &c));
    check(t_run_until_count(r, &g_svc_conn.made, 1));
    weft_deferred_t *d = NULL;
    check_err(weft_service_stop(s, &d), 0);
    check(t_run_until_fn(r, called, d, 100000));
    check(t_run_until_count(r, &g_svc_conn.lost, 1));
    check_err(g_svc_conn.lost_code, WEFT_EEOF);
    check(t_run_until_count(r, &c.lost, 1));
    weft_deferred_unref(d);
    check_err(weft_service_free(s), 0);
    check_err(weft_factory_free(f), 0);
    t_conn_reset(&c);
    t_conn_reset(&g_svc_conn);
    check(t_teardown(r));
}

/* ---------------------------------------------------------------- connect cancel */

static weft_deferred_t *g_d;
static int cm_made, cm_lost, cm_callbacks, cm_errbacks, cm_cancel_rc;
static weft_transport_t *g_t, *g_fired_with;

static void cm_on_made(void *proto, weft_transport_t *t)
{
    (void)proto;
    cm_made++;
    g_t = t;
    cm_cancel_rc = weft_deferred_cancel(g_d); /* the caller gives up, too late */
}

static void cm_on_lost(void *proto, weft_transport_t *t, weft_failure_t *reason)
{
    (void)proto, (void)t;
    cm_lost++;
    weft_failure_free(reason);
}

static const weft_protocol_ops_t cm_ops = {
    .connection_made = cm_on_made, .data_received = shot_data, .connection_lost = cm_on_lost};

static weft_result_t cm_ok(void *value, weft_free_fn fr, void *arg)
{
    (void)arg;
    cm_callbacks++;
    g_fired_with = value;
    return weft_ok(value, fr);
}

static weft_result_t cm_err(weft_failure_t *f, void *arg)
{
    (void)arg;
    cm_errbacks++;
    weft_failure_free(f);
    return weft_ok(NULL, NULL);
}

static void test_connect_cancel_in_connection_made(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {0};
    t_server_start(&s, r, NULL);
    int err = 0;
    g_d = weft_connect_tcp(r, "127.0.0.1", s.port, NULL, &cm_ops, NULL, &err);
    check_ptr(g_d, !=, NULL);
    check_err(weft_deferred_add_callbacks(g_d, cm_ok, NULL, cm_err, NULL), 0);
    check(t_run_until_count(r, &cm_made, 1));
    check_err(cm_cancel_rc, WEFT_EALREADY);
    check_int(cm_callbacks, ==, 1);
    check_int(cm_errbacks, ==, 0);
    check_ptr(g_fired_with, ==, g_t);
    check(weft_transport_is_connected(g_t));
    weft_transport_lose_connection(g_t);
    check(t_run_until_count(r, &cm_lost, 1));
    weft_deferred_unref(g_d);
    for (int i = 0; i < s.nconns; i++)
        t_run_until_count(r, &s.conns[i].lost, 1);
    t_server_stop(&s);
    check(t_teardown(r));
}

/* ---------------------------------------------------------------- Unix socket paths */

static int never_build(void *ctx, const char *peer, const weft_protocol_ops_t **ops, void **proto)
{
    (void)ctx, (void)peer, (void)ops, (void)proto;
    return -1;
}

static void test_unix_path_too_long(void)
{
    weft_reactor_t *r = t_reactor(false);
    char dir[] = "/tmp/weft-t29-XXXXXX";
    if (mkdtemp(dir) == NULL)
        bail_out("mkdtemp");
    /* 107 bytes fit sun_path (108 with the NUL); 108 do not. */
    char fits[108], toolong[109];
    snprintf(fits, sizeof(fits), "%s/%0*d", dir, (int)(107 - strlen(dir) - 1), 0);
    snprintf(toolong, sizeof(toolong), "%s/%0*d", dir, (int)(108 - strlen(dir) - 1), 0);
    check_uint(strlen(fits), ==, 107);
    check_uint(strlen(toolong), ==, 108);
    weft_factory_ops_t fo = {.build_protocol = never_build};
    weft_factory_t *f = weft_factory_new(&fo, NULL, NULL);
    int err = 0;
    check_ptr(weft_listen_unix(r, toolong, NULL, f, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    struct stat st;
    check(stat(dir, &st) == 0);
    char cut[108];
    snprintf(cut, sizeof(cut), "%s", toolong); /* what a truncated bind would have made */
    check(stat(cut, &st) != 0);
    err = 0;
    check_ptr(weft_connect_unix(r, toolong, NULL, &shot_ops, NULL, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);

    weft_listener_t *l = weft_listen_unix(r, fits, NULL, f, &err);
    check_ptr(l, !=, NULL);
    check(stat(fits, &st) == 0);
    weft_deferred_t *d = weft_listener_stop(l);
    check(t_run_until_fn(r, called, d, 1000));
    weft_deferred_unref(d);
    check(stat(fits, &st) != 0); /* removed by the stop */
    check_err(weft_factory_free(f), 0);
    rmdir(dir);
    check(t_teardown(r));
}

/* ---------------------------------------------------------------- set_protocol */

static void test_set_protocol_needs_data_received(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {0};
    t_server_start(&s, r, NULL);
    t_conn_t c = {0};
    if (!t_connect(r, s.port, &c) || !t_run_until_fn(r, conns_made, &s, 1000))
        bail_out("no connection");
    weft_transport_t *st = s.conns[0].t;
    static const weft_protocol_ops_t no_data = {.connection_lost = cm_on_lost};
    weft_transport_set_protocol(st, &no_data, &g_sc);
    check_ptr(weft_transport_protocol(st), ==, &s.conns[0]);
    check_err(weft_transport_write(c.t, "still here", 10), 0);
    check(t_run_until_len(r, &s.conns[0].len, 10));
    check(s.conns[0].len == 10 && memcmp(s.conns[0].data, "still here", 10) == 0);
    weft_transport_abort_connection(c.t);
    t_run_until_count(r, &c.lost, 1);
    t_run_until_count(r, &s.conns[0].lost, 1);
    t_server_stop(&s);
    t_conn_reset(&c);
    check(t_teardown(r));
}

int main(void)
{
    TEST(test_connector_free_in_connection_made(),
         "weft_connector_free from the protocol's connection_made closes the connection and "
         "touches no freed memory");
    TEST(test_connector_free_in_started_connecting(),
         "weft_connector_free from started_connecting releases the connector");
    TEST(test_reactor_free_refuses_while_connector_alive(),
         "weft_reactor_free refuses with EBUSY while a connector is alive");
    TEST(idle_stuck_peer(false), "the default idle timeout closes a connection whose peer "
                                 "stopped reading while output is pending (manual clock)");
    TEST(idle_stuck_peer(true), "lose_connection from connection_made is still bounded by the "
                                "idle timeout when the peer never reads (manual clock)");
    TEST(test_stop_all_in_build_protocol(),
         "weft_listener_stop_all from build_protocol closes the connection being built and "
         "its deferred fires");
    TEST(test_stop_all_infinite_grace(),
         "weft_listener_stop_all with an infinite grace closes connections cleanly, never "
         "aborting them");
    TEST(test_server_service_infinite_grace(),
         "a TCP server service takes an infinite stop grace (only negative or NaN is refused) "
         "and closes its connections cleanly on stop");
    TEST(test_connect_cancel_in_connection_made(),
         "cancelling a connect's deferred from connection_made does nothing: it fires once "
         "with the transport");
    TEST(test_unix_path_too_long(),
         "a Unix socket path of 108 bytes or more is refused with EINVAL; 107 bytes work");
    TEST(test_set_protocol_needs_data_received(),
         "set_protocol with ops lacking data_received leaves the protocol unchanged");
    return done_testing();
}
