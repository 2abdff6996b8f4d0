/* SPDX-License-Identifier: MIT */
/* TCP and Unix transports: listen, connect, write paths, closes, half-close, addresses,
 * factories, and a peer leaving while an offload for its connection runs. Real sockets on
 * 127.0.0.1:0; never a fixed port, never a sleep. */
#include <netdb.h>
#include <arpa/inet.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include <weft/bridge.h>
#include <weft/deferred.h>
#include <weft/error.h>
#include <weft/failure.h>
#include <weft/log.h>
#include <weft/tcp.h>
#include <weft/time.h>
#include <weft/transport.h>

#include "helpers.h"
#include "net-helpers.h"
#include "tap.h"

static bool one_conn(void *arg)
{
    t_server_t *s = arg;
    return s->nconns > 0 && s->conns[0].made > 0;
}

/* A server and a connected client; bails out if the connection cannot be made. */
static void pair(weft_reactor_t *r, t_server_t *s, t_conn_t *c)
{
    t_server_start(s, r, NULL);
    if (!t_connect(r, s->port, c) || !t_run_until_fn(r, one_conn, s, 1000))
        bail_out("no connection on 127.0.0.1:%d", s->port);
}

/* Closes both ends and waits for both connection_lost calls. */
static void unpair(weft_reactor_t *r, t_server_t *s, t_conn_t *c)
{
    if (c->lost == 0 && c->t != NULL)
        weft_transport_abort_connection(c->t);
    t_run_until_count(r, &c->lost, 1);
    for (int i = 0; i < s->nconns; i++)
        t_run_until_count(r, &s->conns[i].lost, 1);
    t_server_stop(s);
    t_conn_reset(c);
}

static void test_port_zero(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {0};
    t_conn_t c = {0};
    pair(r, &s, &c);
    check_int(s.port, >, 0);
    char peer[64], host[64];
    int pport = 0, hport = 0;
    check_err(weft_transport_peer(c.t, peer, sizeof(peer), &pport), 0);
    check_err(weft_transport_host(s.conns[0].t, host, sizeof(host), &hport), 0);
    check_int(pport, ==, s.port);
    check_int(hport, ==, s.port);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.1:%d", s.port);
    check_str(peer, want);
    check_int(s.started, ==, 1);
    check_int(c.made, ==, 1);
    unpair(r, &s, &c);
    t_teardown(r);
}

static void test_echo_bytes(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {.echo = true};
    t_conn_t c = {0};
    pair(r, &s, &c);
    size_t total = t_under_valgrind() ? 200000 : 2000000;
    char *buf = malloc(total);
    for (size_t i = 0; i < total; i++)
        buf[i] = (char)(i * 131 + (i >> 9));
    for (size_t off = 0; off < total; off += 100000) {
        size_t n = total - off < 100000 ? total - off : 100000;
        check_err(weft_transport_write(c.t, buf + off, n), 0);
    }
    t_run_until_len(r, &c.len, total);
    check_uint(c.len, ==, total);
    check(c.len == total && memcmp(c.data, buf, total) == 0);
    check_uint(weft_transport_pending(c.t), ==, 0);
    free(buf);
    unpair(r, &s, &c);
    t_teardown(r);
}

static int owned_frees;
static void owned_free(void *p)
{
    owned_frees++;
    free(p);
}

static void test_write_owned(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {0};
    t_conn_t c = {0};
    pair(r, &s, &c);
    owned_frees = 0;
    size_t n = 3u << 20; /* more than the socket takes at once: part of it is queued */
    char *big = malloc(n);
    memset(big, 'x', n);
    check_err(weft_transport_write_owned(c.t, big, n, owned_free), 0);
    char *small = strdup("tail");
    check_err(weft_transport_write_owned(c.t, small, 4, owned_free), 0);
    t_run_until_len(r, &s.conns[0].len, n + 4);
    check_uint(s.conns[0].len, ==, n + 4);
    check(s.conns[0].len == n + 4 && memcmp(s.conns[0].data + n, "tail", 4) == 0);
    check_int(owned_frees, ==, 2);
    unpair(r, &s, &c);
    t_teardown(r);
}

static void test_writev_order(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {0};
    t_conn_t c = {0};
    pair(r, &s, &c);
    weft_iovec_t iov[] = {{"one ", 4}, {"", 0}, {"two ", 4}, {"three", 5}};
    check_err(weft_transport_writev(c.t, iov, 4), 0);
    t_run_until_len(r, &s.conns[0].len, 13);
    check(s.conns[0].len == 13 && memcmp(s.conns[0].data, "one two three", 13) == 0);
    unpair(r, &s, &c);
    t_teardown(r);
}

static void test_lose_flushes(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {0};
    t_conn_t c = {0};
    pair(r, &s, &c);
    size_t n = 4u << 20;
    char *buf = malloc(n);
    memset(buf, 'q', n);
    check_err(weft_transport_write(c.t, buf, n), 0);
    check_uint(weft_transport_pending(c.t), >, 0);
    weft_transport_lose_connection(c.t);
    check(!weft_transport_is_connected(c.t));
    t_run_until_count(r, &s.conns[0].lost, 1);
    check_uint(s.conns[0].len, ==, n);
    check_ptr(s.conns[0].lost_type, ==, &weft_connection_done_type);
    t_run_until_count(r, &c.lost, 1);
    check_ptr(c.lost_type, ==, &weft_connection_done_type);
    check_err(c.lost_code, WEFT_EEOF);
    free(buf);
    unpair(r, &s, &c);
    t_teardown(r);
}

static int late_frees;
static void late_free(void *p)
{
    (void)p;
    late_frees++;
}

static void test_write_after_lose(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {0};
    t_conn_t c = {0};
    pair(r, &s, &c);
    weft_transport_lose_connection(c.t);
    check_err(weft_transport_write(c.t, "late", 4), WEFT_ECLOSED);
    late_frees = 0;
    check_err(weft_transport_write_owned(c.t, "late", 4, late_free), WEFT_ECLOSED);
    check_int(late_frees, ==, 1);
    weft_iovec_t iov = {"x", 1};
    check_err(weft_transport_writev(c.t, &iov, 1), WEFT_ECLOSED);
    weft_transport_lose_connection(c.t); /* again: nothing */
    t_run_until_count(r, &s.conns[0].lost, 1);
    check_uint(s.conns[0].len, ==, 0);
    unpair(r, &s, &c);
    t_teardown(r);
}

static void test_abort(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {0};
    t_conn_t c = {0};
    pair(r, &s, &c);
    weft_transport_abort_connection(c.t);
    weft_transport_abort_connection(c.t); /* idempotent */
    check_int(c.lost, ==, 0);             /* on a later pass, not inside the call */
    t_run_until_count(r, &c.lost, 1);
    check_ptr(c.lost_type, ==, &weft_connection_lost_type);
    check_err(c.lost_code, WEFT_ECONNABORTED);
    t_run_until_count(r, &s.conns[0].lost, 1);
    check_ptr(s.conns[0].lost_type, ==, &weft_connection_lost_type);
    check_err(s.conns[0].lost_code, WEFT_ECONNRESET);
    unpair(r, &s, &c);
    t_teardown(r);
}

static void test_peer_close_is_clean(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {0};
    t_conn_t c = {0};
    pair(r, &s, &c);
    check_err(weft_transport_write(c.t, "bye", 3), 0);
    weft_transport_lose_connection(c.t);
    t_run_until_count(r, &s.conns[0].lost, 1);
    check_ptr(s.conns[0].lost_type, ==, &weft_connection_done_type);
    check(s.conns[0].len == 3 && memcmp(s.conns[0].data, "bye", 3) == 0);
    unpair(r, &s, &c);
    t_teardown(r);
}

static void test_half_close(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {.half_closeable = true};
    t_conn_t c = {.half_closeable = true};
    pair(r, &s, &c);
    check_err(weft_transport_write(c.t, "request", 7), 0);
    check_err(weft_transport_lose_write_connection(c.t), 0);
    check_err(weft_transport_lose_write_connection(c.t), WEFT_ECLOSED);
    check_err(weft_transport_write(c.t, "more", 4), WEFT_ECLOSED);
    t_run_until_count(r, &c.write_lost, 1);
    t_run_until_count(r, &s.conns[0].read_lost, 1);
    check_int(s.conns[0].lost, ==, 0);
    check_uint(s.conns[0].len, ==, 7);
    /* The server still writes after the client's FIN. */
    check_err(weft_transport_write(s.conns[0].t, "response", 8), 0);
    t_run_until_len(r, &c.len, 8);
    check(c.len == 8 && memcmp(c.data, "response", 8) == 0);
    weft_transport_lose_connection(s.conns[0].t);
    t_run_until_count(r, &c.lost, 1);
    t_run_until_count(r, &s.conns[0].lost, 1);
    check_ptr(s.conns[0].lost_type, ==, &weft_connection_done_type);
    unpair(r, &s, &c);
    t_teardown(r);
}

typedef struct {
    int done;
    const weft_failure_type_t *type;
    int code;
    weft_transport_t *t;
} outcome_t;

static weft_result_t out_ok(void *value, weft_free_fn free_fn, void *arg)
{
    (void)free_fn;
    outcome_t *o = arg;
    o->done = 1;
    o->t = value;
    return weft_ok(NULL, NULL);
}

static weft_result_t out_fail(weft_failure_t *f, void *arg)
{
    outcome_t *o = arg;
    o->done = 1;
    o->type = weft_failure_type(f);
    o->code = weft_failure_code(f);
    weft_failure_free(f);
    return weft_ok(NULL, NULL);
}

static void watch(weft_deferred_t *d, outcome_t *o)
{
    if (weft_deferred_add_callbacks(d, out_ok, o, out_fail, o) != 0)
        bail_out("add_callbacks");
}

/* A port nobody listens on: bind one, read it, close it. */
static int closed_port(weft_reactor_t *r)
{
    t_server_t s = {0};
    t_server_start(&s, r, NULL);
    int port = s.port;
    t_server_stop(&s);
    return port;
}

static void test_refused(void)
{
    weft_reactor_t *r = t_reactor(false);
    int port = closed_port(r);
    t_conn_t c = {0};
    outcome_t o = {0};
    weft_deferred_t *d = weft_connect_tcp(r, "127.0.0.1", port, NULL, t_conn_ops(&c), &c, NULL);
    if (!check(d != NULL))
        return;
    watch(d, &o);
    t_run_until(r, &o.done, 1000);
    check_ptr(o.type, ==, &weft_connection_refused_type);
    check_err(o.code, WEFT_ECONNREFUSED);
    check_int(c.made + c.lost, ==, 0);
    weft_deferred_unref(d);
    for (int i = 0; i < 5; i++)
        weft_reactor_run_once_nowait(r);
    t_teardown(r);
}

static void test_connect_timeout(void)
{
    weft_reactor_t *r = t_reactor(true);
    t_server_t s = {0};
    t_server_start(&s, r, NULL);
    weft_connect_options_t opts;
    weft_connect_options_init(&opts);
    opts.timeout = 5;
    t_conn_t c = {0};
    outcome_t o = {0};
    weft_deferred_t *d = weft_connect_tcp(r, "127.0.0.1", s.port, &opts, t_conn_ops(&c), &c, NULL);
    if (!check(d != NULL))
        return;
    watch(d, &o);
    /* The manual clock passes the deadline before the loop ever polls the socket. */
    check_err(weft_reactor_advance(r, 4.999), 0);
    check_int(o.done, ==, 0);
    check_err(weft_reactor_advance(r, 0.001), 0);
    check_int(o.done, ==, 1);
    check_ptr(o.type, ==, &weft_timeout_error_type);
    check_err(o.code, WEFT_ETIMEDOUT);
    check_int(c.made, ==, 0);
    weft_deferred_unref(d);
    /* The server may have accepted the half-made connection; let it see the close. */
    for (int i = 0; i < 20 && (s.nconns > 0 && s.conns[0].lost == 0); i++)
        t_run_once(r);
    t_server_stop(&s);
    t_teardown(r);
}

static void test_connect_cancel(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {0};
    t_server_start(&s, r, NULL);
    t_conn_t c = {0};
    outcome_t o = {0};
    weft_deferred_t *d = weft_connect_tcp(r, "127.0.0.1", s.port, NULL, t_conn_ops(&c), &c, NULL);
    if (!check(d != NULL))
        return;
    watch(d, &o);
    check_err(weft_deferred_cancel(d), 0);
    check_int(o.done, ==, 1);
    check_ptr(o.type, ==, &weft_cancelled_error_type);
    for (int i = 0; i < 5; i++)
        weft_reactor_run_once_nowait(r);
    check_int(c.made + c.lost, ==, 0);
    weft_deferred_unref(d);
    for (int i = 0; i < 20 && (s.nconns > 0 && s.conns[0].lost == 0); i++)
        t_run_once(r);
    t_server_stop(&s);
    t_teardown(r);
}

/* This host's name, if it resolves to 127.0.0.1 (from /etc/hosts: no DNS server involved). */
static bool loopback_name(char *name, size_t size)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    bool loopback = gethostname(name, size) == 0 && getaddrinfo(name, NULL, &hints, &ai) == 0 &&
                    ((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr == htonl(0x7f000001);
    if (ai != NULL)
        freeaddrinfo(ai);
    return loopback;
}

static void test_connect_by_name(void)
{
    char name[256];
    if (!loopback_name(name, sizeof(name))) {
        t_skip("this host's name does not resolve to 127.0.0.1");
        return;
    }
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {.echo = true};
    t_server_start(&s, r, NULL);
    t_conn_t c = {0};
    outcome_t o = {0};
    weft_deferred_t *d = weft_connect_tcp(r, name, s.port, NULL, t_conn_ops(&c), &c, NULL);
    if (!check(d != NULL))
        return;
    watch(d, &o);
    t_run_until(r, &o.done, 100000);
    check_ptr(o.t, !=, NULL);
    check_err(weft_transport_write(c.t, "name", 4), 0);
    t_run_until_len(r, &c.len, 4);
    check(c.len == 4 && memcmp(c.data, "name", 4) == 0);
    weft_deferred_unref(d);
    unpair(r, &s, &c);
    t_teardown(r);
}

static void test_cancel_while_resolving(void)
{
    char name[256];
    if (!loopback_name(name, sizeof(name))) {
        t_skip("this host's name does not resolve to 127.0.0.1");
        return;
    }
    weft_reactor_t *r = t_reactor(false);
    t_conn_t c = {0};
    outcome_t o = {0};
    weft_deferred_t *d = weft_connect_tcp(r, name, 4, NULL, t_conn_ops(&c), &c, NULL);
    if (!check(d != NULL))
        return;
    watch(d, &o);
    check_err(weft_deferred_cancel(d), 0);
    check_int(o.done, ==, 1);
    check_ptr(o.type, ==, &weft_cancelled_error_type);
    weft_deferred_unref(d);
    /* The resolution may still be running on libuv's pool: free waits for it. */
    weft_log_level_t level = weft_log_get_level();
    weft_log_set_level(WEFT_LOG_OFF);
    int rc = WEFT_EBUSY;
    for (int i = 0; i < 100000 && (rc = weft_reactor_free(r)) == WEFT_EBUSY; i++)
        t_run_once(r);
    weft_log_set_level(level);
    check_err(rc, 0);
    check_int(c.made + c.lost, ==, 0);
}

static void test_ipv6(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {.echo = true};
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = "::1";
    lo.ipv6_only = true;
    int err = 0;
    weft_factory_ops_t dummy_ops = {.build_protocol = NULL};
    (void)dummy_ops;
    /* Probe: no IPv6 loopback in this sandbox means skip. */
    uv_tcp_t probe;
    struct sockaddr_in6 a6;
    uv_ip6_addr("::1", 0, &a6);
    uv_tcp_init(weft_reactor_get_uv_loop(r), &probe);
    err = uv_tcp_bind(&probe, (const struct sockaddr *)&a6, 0);
    uv_close((uv_handle_t *)&probe, NULL);
    uv_run(weft_reactor_get_uv_loop(r), UV_RUN_NOWAIT);
    if (err != 0) {
        t_skip("no IPv6 loopback here");
        t_teardown(r);
        return;
    }
    t_server_start(&s, r, &lo);
    t_conn_t c = {0};
    outcome_t o = {0};
    weft_deferred_t *d = weft_connect_tcp(r, "::1", s.port, NULL, t_conn_ops(&c), &c, NULL);
    watch(d, &o);
    t_run_until(r, &o.done, 1000);
    check_ptr(o.t, !=, NULL);
    char peer[80];
    check_err(weft_transport_peer(c.t, peer, sizeof(peer), NULL), 0);
    char want[80];
    snprintf(want, sizeof(want), "[::1]:%d", s.port);
    check_str(peer, want);
    check_err(weft_transport_write(c.t, "six", 3), 0);
    t_run_until_len(r, &c.len, 3);
    check(c.len == 3 && memcmp(c.data, "six", 3) == 0);
    weft_deferred_unref(d);
    unpair(r, &s, &c);
    t_teardown(r);
}

static void test_unix(void)
{
    weft_reactor_t *r = t_reactor(false);
    char path[64];
    snprintf(path, sizeof(path), "/tmp/weft-t24-%d.sock", (int)getpid());
    unlink(path);
    t_server_t s = {.echo = true};
    weft_factory_ops_t unused = {0};
    (void)unused;
    t_server_start(&s, r, NULL); /* for its factory; the TCP listener is stopped below */
    int err = 0;
    weft_listener_t *l = weft_listen_unix(r, path, NULL, s.f, &err);
    if (!check(l != NULL)) {
        diag("listen_unix: %s", weft_strerror(err));
        return;
    }
    check_int(weft_listener_port(l), ==, 0);
    check(access(path, F_OK) == 0);
    t_conn_t c = {0};
    outcome_t o = {0};
    weft_deferred_t *d = weft_connect_unix(r, path, NULL, t_conn_ops(&c), &c, NULL);
    watch(d, &o);
    t_run_until(r, &o.done, 1000);
    check_ptr(o.t, !=, NULL);
    check_err(weft_transport_write(c.t, "unix", 4), 0);
    t_run_until_len(r, &c.len, 4);
    check(c.len == 4 && memcmp(c.data, "unix", 4) == 0);
    check_err(weft_transport_set_nodelay(c.t, true), WEFT_ENOTSUP);
    weft_deferred_unref(d);
    weft_deferred_t *stopped = weft_listener_stop(l);
    int one = 0;
    (void)one;
    for (int i = 0; i < 100 && !weft_deferred_called(stopped); i++)
        t_run_once(r);
    weft_deferred_unref(stopped);
    check(access(path, F_OK) != 0);
    unpair(r, &s, &c);
    t_teardown(r);
}

static void test_reuse_port(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t a = {0}, b = {0};
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = "127.0.0.1";
    lo.reuse_port = true;
    t_server_start(&a, r, &lo);
    lo.port = a.port;
    t_server_start(&b, r, &lo);
    check_int(b.port, ==, a.port);
    /* Without SO_REUSEPORT the same port is refused. */
    weft_listen_options_t plain;
    weft_listen_options_init(&plain);
    plain.host = "127.0.0.1";
    plain.port = a.port;
    int err = 0;
    weft_listener_t *l = weft_listen_tcp(r, &plain, a.f, &err);
    check_ptr(l, ==, NULL);
    check_err(err, WEFT_EADDRINUSE);
    for (int i = 0; i < 5; i++)
        weft_reactor_run_once_nowait(r);
    t_server_stop(&a);
    t_server_stop(&b);
    t_teardown(r);
}

static void test_factory_counts(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {0};
    t_server_start(&s, r, NULL);
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = "127.0.0.1";
    int err = 0;
    weft_listener_t *second = weft_listen_tcp(r, &lo, s.f, &err);
    check_ptr(second, !=, NULL);
    check_int(s.started, ==, 1);
    check_err(weft_factory_free(s.f), WEFT_EBUSY);
    weft_deferred_t *d = weft_listener_stop(second);
    for (int i = 0; i < 100 && !weft_deferred_called(d); i++)
        t_run_once(r);
    weft_deferred_unref(d);
    check_int(s.stopped, ==, 0);
    t_server_stop(&s);
    check_int(s.stopped, ==, 1);
    check_int(s.started, ==, 1);
    t_teardown(r);
}

static void test_refusing_factory(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {.refuse = true};
    t_server_start(&s, r, NULL);
    t_conn_t c = {0};
    check(t_connect(r, s.port, &c));
    t_run_until_count(r, &c.lost, 1);
    check_int(c.lost, ==, 1);
    check_int(s.nconns, ==, 0);
    check_uint(weft_listener_connections(s.l), ==, 0);
    t_server_stop(&s);
    t_conn_reset(&c);
    t_teardown(r);
}

static void test_free_refuses_while_open(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {0};
    t_conn_t c = {0};
    pair(r, &s, &c);
    check_err(weft_reactor_free(r), WEFT_EBUSY);
    unpair(r, &s, &c);
    t_teardown(r);
}

static void test_pause_reading(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {0};
    t_conn_t c = {0};
    pair(r, &s, &c);
    weft_transport_pause_reading(s.conns[0].t);
    check(weft_transport_is_reading_paused(s.conns[0].t));
    check_err(weft_transport_write(c.t, "held", 4), 0);
    for (int i = 0; i < 10; i++)
        weft_reactor_run_once_nowait(r);
    check_uint(s.conns[0].len, ==, 0);
    check_err(weft_transport_resume_reading(s.conns[0].t), 0);
    t_run_until_len(r, &s.conns[0].len, 4);
    check_uint(s.conns[0].len, ==, 4);
    unpair(r, &s, &c);
    t_teardown(r);
}

/* A server protocol whose data_received answers with several writes, noting what the transport
 * holds after each, then (mode) closes or aborts; its connection_lost counts on rec. */
typedef struct {
    t_conn_t *rec;
    int mode; /* 0: nothing more; 1: lose_connection; 2: abort_connection */
    size_t pending[2];
    int calls;
} burst_t;

static void burst_data(void *proto, weft_transport_t *t, const char *data, size_t len)
{
    (void)data;
    (void)len;
    burst_t *b = proto;
    if (b->calls++ > 0)
        return;
    check_err(weft_transport_write(t, "one ", 4), 0);
    b->pending[0] = weft_transport_pending(t);
    weft_iovec_t iov[2] = {{"two ", 4}, {"three", 5}};
    check_err(weft_transport_writev(t, iov, 2), 0);
    b->pending[1] = weft_transport_pending(t);
    if (b->mode == 1)
        weft_transport_lose_connection(t);
    else if (b->mode == 2)
        weft_transport_abort_connection(t);
}

static void burst_lost(void *proto, weft_transport_t *t, weft_failure_t *reason)
{
    (void)t;
    burst_t *b = proto;
    b->rec->lost++;
    weft_failure_free(reason);
}

static const weft_protocol_ops_t burst_ops = {.data_received = burst_data,
                                              .connection_lost = burst_lost};

/* Runs the burst protocol in mode against a client, checks what the client got, and tears
 * down. */
static void burst(int mode)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {0};
    t_conn_t c = {0};
    pair(r, &s, &c);
    burst_t b = {.rec = &s.conns[0], .mode = mode};
    weft_transport_set_protocol(s.conns[0].t, &burst_ops, &b);
    check_err(weft_transport_write(c.t, "go", 2), 0);
    check(t_run_until_count(r, &b.calls, 1));
    if (mode == 0)
        t_run_until_len(r, &c.len, 13);
    else
        t_run_until_count(r, &c.lost, 1);
    switch (mode) {
    case 0: /* held by the transport while the callback ran, then sent together */
        check_uint(b.pending[0], ==, 4);
        check_uint(b.pending[1], ==, 13);
        check(c.len == 13 && memcmp(c.data, "one two three", 13) == 0);
        break;
    case 1:
        check(c.len == 13 && memcmp(c.data, "one two three", 13) == 0);
        check_ptr(c.lost_type, ==, &weft_connection_done_type);
        break;
    default:
        check_uint(c.len, ==, 0);
        check_ptr(c.lost_type, ==, &weft_connection_lost_type);
        check_err(c.lost_code, WEFT_ECONNRESET);
    }
    unpair(r, &s, &c);
    t_teardown(r);
}

static void test_writes_gathered_in_data_received(void)
{
    burst(0);
}

static void test_lose_in_data_received_sends_gathered(void)
{
    burst(1);
}

static void test_abort_in_data_received_drops_gathered(void)
{
    burst(2);
}

#define BIG (8u << 20)
#define MID 4000u

/* The server side: data_received writes MID bytes (gathered), then lose_connection. That
 * writes the gathered bytes, which cross the high-water mark, so pause_producing runs (still
 * inside data_received) and writes "LAST": accepted, it must go out before the close. */
typedef struct {
    int calls, paused, lost;
    int last_rc;
    char *mid;
} srv_t;

static void srv_data(void *proto, weft_transport_t *t, const char *data, size_t len)
{
    (void)data;
    (void)len;
    srv_t *s = proto;
    if (s->calls++ > 0)
        return;
    check_err(weft_transport_write(t, s->mid, MID), 0);
    weft_transport_lose_connection(t);
}

static void srv_pause(void *proto, weft_transport_t *t)
{
    srv_t *s = proto;
    s->paused++;
    s->last_rc = weft_transport_write(t, "LAST", 4);
}

static void srv_lost(void *proto, weft_transport_t *t, weft_failure_t *reason)
{
    (void)t;
    srv_t *s = proto;
    s->lost++;
    weft_failure_free(reason);
}

static const weft_protocol_ops_t srv_ops = {
    .data_received = srv_data, .pause_producing = srv_pause, .connection_lost = srv_lost};

static bool got_all(void *arg)
{
    const t_conn_t *c = arg;
    return c->lost > 0;
}

static void test_write_in_pause_producing_during_lose_in_data_received(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {0};
    t_conn_t c = {0};
    pair(r, &s, &c);
    weft_transport_t *st = s.conns[0].t;
    srv_t sp = {.last_rc = 12345};
    sp.mid = malloc(MID);
    memset(sp.mid, 'm', MID);
    char *big = malloc(BIG);
    memset(big, 'b', BIG);
    weft_transport_set_protocol(st, &srv_ops, &sp);
    weft_transport_pause_reading(c.t); /* the client reads nothing for now */
    check_err(weft_transport_set_water_marks(st, 1u << 30, 0), 0);
    check_err(weft_transport_write(st, big, BIG), 0); /* fills the socket, the rest queued */
    size_t p0 = weft_transport_pending(st);
    check(p0 > 0);
    /* The next MID bytes cross the mark. */
    check_err(weft_transport_set_water_marks(st, p0 + MID / 2, 0), 0);
    check_err(weft_transport_write(c.t, "go", 2), 0);
    check(t_run_until_count(r, &sp.calls, 1));
    check_int(sp.paused, ==, 1);
    check_err(sp.last_rc, 0); /* the write in pause_producing was accepted ... */
    check_err(weft_transport_resume_reading(c.t), 0);
    check(t_run_until_fn(r, got_all, &c, 100000));
    /* ... so it must arrive, after the MID bytes, before the clean close */
    check_uint(c.len, ==, BIG + MID + 4);
    check(c.len >= 4 && memcmp(c.data + c.len - 4, "LAST", 4) == 0);
    check_ptr(c.lost_type, ==, &weft_connection_done_type);
    t_run_until_count(r, &sp.lost, 1);
    t_run_until_count(r, &s.conns[0].lost, 0);
    t_server_stop(&s);
    t_conn_reset(&c);
    t_teardown(r);
    free(big);
    free(sp.mid);
}

/* A write inside data_received past the high-water mark pauses the producer at once, gathering
 * or not. */

typedef struct {
    t_conn_t *rec;
    int calls, pauses;
    int paused_after[2]; /* pauses seen after each write */
    size_t pending_after[2];
} slow_t;

static void slow_data(void *proto, weft_transport_t *t, const char *data, size_t len)
{
    (void)data;
    (void)len;
    slow_t *b = proto;
    if (b->calls++ > 0)
        return;
    check_err(weft_transport_write(t, "one ", 4), 0);
    b->pending_after[0] = weft_transport_pending(t);
    b->paused_after[0] = b->pauses;
    check_err(weft_transport_write(t, "two three", 9), 0);
    b->pending_after[1] = weft_transport_pending(t);
    b->paused_after[1] = b->pauses;
}

static void slow_pause(void *proto, weft_transport_t *t)
{
    (void)t;
    ((slow_t *)proto)->pauses++;
}

static void slow_lost(void *proto, weft_transport_t *t, weft_failure_t *reason)
{
    (void)t;
    ((slow_t *)proto)->rec->lost++;
    weft_failure_free(reason);
}

static const weft_protocol_ops_t slow_ops = {
    .data_received = slow_data, .connection_lost = slow_lost, .pause_producing = slow_pause};

static void test_pause_inside_data_received(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {0};
    t_conn_t c = {0};
    pair(r, &s, &c);
    weft_transport_t *st = s.conns[0].t;
    weft_transport_pause_reading(c.t); /* the client reads nothing: the kernel buffers fill */
    static char fill[16384];
    memset(fill, 'f', sizeof(fill));
    for (int i = 0; i < 100000 && weft_transport_pending(st) == 0; i++)
        check_err(weft_transport_write(st, fill, sizeof(fill)), 0);
    size_t held = weft_transport_pending(st);
    check_uint(held, >, 0);
    check_int(s.conns[0].paused, ==, 0);
    check_err(weft_transport_set_water_marks(st, held + 10, 0), 0);
    slow_t b = {.rec = &s.conns[0]};
    weft_transport_set_protocol(st, &slow_ops, &b);
    check_err(weft_transport_write(c.t, "go", 2), 0);
    check(t_run_until_count(r, &b.calls, 1));
    check_uint(b.pending_after[1], ==, held + 13); /* past the high-water mark (held + 10) */
    check_int(b.paused_after[0], ==, 0);
    check_int(b.paused_after[1], ==, 1); /* the doc: a write past high_water pauses the producer */
    unpair(r, &s, &c);
    check(t_teardown(r));
}

static void test_options(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {0};
    t_conn_t c = {0};
    pair(r, &s, &c);
    check_err(weft_transport_set_nodelay(c.t, false), 0);
    check_err(weft_transport_set_keepalive(c.t, 30), 0);
    check_err(weft_transport_set_keepalive(c.t, 0), 0);
    check_err(weft_transport_set_water_marks(c.t, 10, 20), WEFT_EINVAL);
    check_ptr(weft_transport_reactor(c.t), ==, r);
    check_ptr(weft_transport_protocol(c.t), ==, &c);
    char tiny[4];
    check_err(weft_transport_peer(c.t, tiny, sizeof(tiny), NULL), WEFT_ENOSPC);
    unpair(r, &s, &c);
    t_teardown(r);
}

/* ---------------------------------------------------------------- offload vs disconnect */

static sem_t job_started, job_gate;

static weft_result_t slow_job(void *arg)
{
    (void)arg;
    sem_post(&job_started);
    while (sem_wait(&job_gate) != 0)
        ;
    return weft_ok(strdup("result"), free);
}

typedef struct {
    weft_transport_t *t;
    int done;
    int write_rc;
} offload_ctx_t;

static weft_result_t job_done(void *value, weft_free_fn free_fn, void *arg)
{
    offload_ctx_t *o = arg;
    o->write_rc = weft_transport_write(o->t, value, strlen(value));
    free_fn(value);
    weft_transport_unref(o->t);
    o->t = NULL;
    o->done = 1;
    return weft_ok(NULL, NULL);
}

static void test_offload_after_disconnect(void)
{
    weft_reactor_t *r = t_reactor(false);
    sem_init(&job_started, 0, 0);
    sem_init(&job_gate, 0, 0);
    t_server_t s = {0};
    t_conn_t c = {0};
    pair(r, &s, &c);
    offload_ctx_t o = {.t = weft_transport_ref(s.conns[0].t)};
    int err = 0;
    weft_deferred_t *d = weft_defer_to_thread(r, slow_job, NULL, NULL, &err);
    if (!check(d != NULL))
        return;
    check_err(weft_deferred_add_callback(d, job_done, &o), 0);
    while (sem_wait(&job_started) != 0)
        ;
    /* The peer leaves while the job runs. */
    weft_transport_abort_connection(c.t);
    t_run_until_count(r, &s.conns[0].lost, 1);
    check_int(s.conns[0].lost, ==, 1);
    check_err(weft_reactor_free(r), WEFT_EBUSY); /* the job and the ref are still out */
    sem_post(&job_gate);
    t_run_until(r, &o.done, 100000);
    check_err(o.write_rc, WEFT_ECLOSED);
    weft_deferred_unref(d);
    unpair(r, &s, &c);
    t_teardown(r);
    sem_destroy(&job_started);
    sem_destroy(&job_gate);
}

int main(void)
{
    TEST(test_port_zero(), "listen on port 0 binds a free port that host and peer addresses show");
    TEST(test_echo_bytes(), "bytes written by a client come back from an echo server unchanged");
    TEST(test_write_owned(),
         "write_owned sends the caller's buffer and frees it exactly once after sending");
    TEST(test_writev_order(), "writev sends its pieces in order as one write");
    TEST(test_lose_flushes(),
         "lose_connection sends every queued byte, then both sides see ConnectionDone");
    TEST(test_write_after_lose(),
         "write after lose_connection fails with WEFT_ECLOSED and sends nothing");
    TEST(test_abort(), "abort_connection reports ConnectionAborted on a later pass and resets "
                       "the peer");
    TEST(test_peer_close_is_clean(), "a peer's orderly close is ConnectionDone after its data");
    TEST(test_half_close(), "lose_write_connection half-closes: the peer reads end of stream and "
                            "still writes back");
    TEST(test_refused(), "connect to a closed port fails with ConnectionRefused and never calls "
                         "the protocol");
    TEST(test_connect_timeout(), "connect past its timeout fails with TimeoutError (manual clock)");
    TEST(test_connect_cancel(), "cancelling a connect's deferred fails it with CancelledError");
    TEST(test_connect_by_name(), "connect_tcp resolves a host name before connecting");
    TEST(test_cancel_while_resolving(), "cancelling a connect while its name resolves fails it "
                                        "with CancelledError and the reactor frees afterwards");
    TEST(test_ipv6(), "listen and connect on IPv6 ::1");
    TEST(test_unix(),
         "unix sockets listen, connect and echo; the socket file goes when the listener stops");
    TEST(test_reuse_port(), "reuse_port lets two listeners share a port; without it "
                            "WEFT_EADDRINUSE");
    TEST(test_factory_counts(),
         "a factory starts with its first listener and stops after its last one");
    TEST(test_refusing_factory(), "build_protocol refusing closes the connection at once");
    TEST(test_free_refuses_while_open(),
         "weft_reactor_free refuses while a connection is open and succeeds once closed");
    TEST(test_pause_reading(), "pause_reading holds data_received until resume_reading");
    TEST(test_writes_gathered_in_data_received(),
         "writes made inside data_received wait in the transport (pending counts them) and go "
         "out together when it returns");
    TEST(test_lose_in_data_received_sends_gathered(),
         "lose_connection inside data_received sends what it wrote first, then closes cleanly");
    TEST(test_abort_in_data_received_drops_gathered(),
         "abort_connection inside data_received drops what it wrote and resets the peer");
    TEST(test_write_in_pause_producing_during_lose_in_data_received(),
         "a write accepted by pause_producing while lose_connection sends the gathered writes "
         "(inside data_received) goes out before the close, not dropped");
    TEST(test_pause_inside_data_received(),
         "a write inside data_received that takes the pending bytes past high_water runs "
         "pause_producing then, as it does outside");
    TEST(test_options(), "nodelay, keepalive and water marks are set or refused as documented");
    TEST(test_offload_after_disconnect(),
         "an offload finishing after its peer left gets WEFT_ECLOSED on write and is dropped "
         "safely");
    return done_testing();
}
