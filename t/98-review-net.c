/* SPDX-License-Identifier: MIT */
/* Review of 65b2e7f..HEAD (transport cork): failing reproductions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/error.h>
#include <weft/failure.h>
#include <weft/tcp.h>
#include <weft/transport.h>

#include "helpers.h"
#include "net-helpers.h"
#include "tap.h"

static bool one_conn(void *arg)
{
    const t_server_t *s = arg;
    return s->nconns > 0 && s->conns[0].made > 0;
}

static void pair(weft_reactor_t *r, t_server_t *s, t_conn_t *c)
{
    t_server_start(s, r, NULL);
    if (!t_connect(r, s->port, c) || !t_run_until_fn(r, one_conn, s, 1000))
        bail_out("no connection on 127.0.0.1:%d", s->port);
}

#define BIG (8u << 20)
#define MID 4000u

/* The server side: data_received writes MID bytes (gathered), then lose_connection. That
 * flushes the cork, the flush crosses the high water mark, pause_producing runs (still inside
 * data_received) and writes "LAST": the write is accepted (0) into the cork, and then dropped
 * because lose_connection moves the transport to CLOSING before the end-of-callback flush. */
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

int main(void)
{
    TEST(test_write_in_pause_producing_during_lose_in_data_received(),
         "a write accepted by pause_producing while lose_connection flushes the gathered "
         "writes (inside data_received) is sent before the close, not dropped");
    return done_testing();
}
