/* SPDX-License-Identifier: MIT */
/* The limits of TCP connections: water marks and the push producer, max connections per
 * listener, the idle timeout, and the reconnecting connector's backoff (manual clock). */
#include <stdlib.h>
#include <string.h>

#include <weft/error.h>
#include <weft/log.h>
#include <weft/tcp.h>
#include <weft/time.h>
#include <weft/transport.h>

#include "helpers.h"
#include "net-helpers.h"
#include "tap.h"

static bool conns_made(void *arg)
{
    t_server_t *s = arg;
    int made = 0;
    for (int i = 0; i < s->nconns; i++)
        made += s->conns[i].made;
    return made >= 1 && s->nconns >= 1;
}

static void close_all(weft_reactor_t *r, t_server_t *s, t_conn_t *cs, int n)
{
    for (int i = 0; i < n; i++) {
        if (cs[i].t != NULL && cs[i].lost == 0)
            weft_transport_abort_connection(cs[i].t);
        t_run_until_count(r, &cs[i].lost, 1);
    }
    for (int i = 0; i < s->nconns; i++)
        t_run_until_count(r, &s->conns[i].lost, 1);
    t_server_stop(s);
    for (int i = 0; i < n; i++)
        t_conn_reset(&cs[i]);
}

/* ---------------------------------------------------------------- water marks */

static void test_water_marks(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {0};
    t_conn_t c = {0};
    t_server_start(&s, r, NULL);
    if (!t_connect(r, s.port, &c) || !t_run_until_fn(r, conns_made, &s, 1000))
        bail_out("no connection");
    weft_transport_pause_reading(s.conns[0].t);
    const size_t high = 256 * 1024, low = 64 * 1024;
    check_err(weft_transport_set_water_marks(c.t, high, low), 0);
    static char chunk[64 * 1024];
    memset(chunk, 'w', sizeof(chunk));
    size_t written = 0;
    /* The kernel takes a few MB first; then writes queue until the high mark pauses us. */
    for (int i = 0; i < 4096 && c.paused == 0; i++) {
        if (!check_err(weft_transport_write(c.t, chunk, sizeof(chunk)), 0))
            break;
        written += sizeof(chunk);
        weft_reactor_run_once_nowait(r);
    }
    check_int(c.paused, ==, 1);
    check_uint(c.pending_at_pause, >, high);
    check_int(c.resumed, ==, 0);
    /* The reader drains: the producer resumes once pending is at the low mark or below. */
    check_err(weft_transport_resume_reading(s.conns[0].t), 0);
    t_run_until_count(r, &c.resumed, 1);
    check_int(c.resumed, ==, 1);
    check_uint(c.pending_at_resume, <=, low);
    t_run_until_len(r, &s.conns[0].len, written);
    check_uint(s.conns[0].len, ==, written);
    check_int(c.paused, ==, 1);
    close_all(r, &s, &c, 1);
    t_teardown(r);
}

/* ---------------------------------------------------------------- max connections */

static int refusal_logs;
static void count_refusals(const weft_log_record_t *rec, void *arg)
{
    (void)arg;
    if (strstr(rec->message, "refused a connection") != NULL)
        refusal_logs++;
}

static void test_max_connections(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {0};
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = "127.0.0.1";
    lo.max_connections = 2;
    t_server_start(&s, r, &lo);
    refusal_logs = 0;
    weft_log_set_sink(count_refusals, NULL);
    t_conn_t cs[3] = {{0}};
    for (int i = 0; i < 2; i++)
        check(t_connect(r, s.port, &cs[i]));
    t_run_until_count(r, &s.nconns, 2);
    for (int i = 0; i < 2; i++)
        t_run_until_count(r, &s.conns[i].made, 1);
    check(t_connect(r, s.port, &cs[2]));
    /* The third is accepted and closed at once: its client sees the close, no protocol ran. */
    t_run_until_count(r, &cs[2].lost, 1);
    weft_log_set_sink(NULL, NULL);
    check_int(cs[2].lost, ==, 1);
    check_int(s.nconns, ==, 2);
    check_uint(weft_listener_connections(s.l), ==, 2);
    check_uint(weft_listener_refused(s.l), ==, 1);
    check_int(refusal_logs, ==, 1);
    /* A slot frees up when a connection goes. */
    weft_transport_abort_connection(cs[0].t);
    t_run_until_count(r, &s.conns[0].lost, 1);
    check_uint(weft_listener_connections(s.l), ==, 1);
    t_conn_t again = {0};
    check(t_connect(r, s.port, &again));
    t_run_until_count(r, &s.nconns, 3);
    check_int(s.nconns, ==, 3);
    check_uint(weft_listener_refused(s.l), ==, 1);
    weft_transport_abort_connection(again.t);
    t_run_until_count(r, &again.lost, 1);
    t_conn_reset(&again);
    close_all(r, &s, cs, 3);
    t_teardown(r);
}

/* ---------------------------------------------------------------- idle timeout */

static void test_idle_timeout(void)
{
    weft_reactor_t *r = t_reactor(true);
    t_server_t s = {0};
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = "127.0.0.1";
    lo.transport.idle_timeout = 10;
    t_server_start(&s, r, &lo);
    t_conn_t c = {0};
    if (!t_connect(r, s.port, &c) || !t_run_until_fn(r, conns_made, &s, 1000))
        bail_out("no connection");
    check_err(weft_reactor_advance(r, 9.5), 0);
    check_int(s.conns[0].lost, ==, 0);
    /* Activity at 9.5 restarts the count. */
    check_err(weft_transport_write(c.t, "ping", 4), 0);
    t_run_until_len(r, &s.conns[0].len, 4);
    check_err(weft_reactor_advance(r, 0.5), 0); /* 10.0: the timer sees 0.5 s idle */
    check_err(weft_reactor_advance(r, 9.0), 0); /* 19.0 */
    for (int i = 0; i < 5; i++)
        weft_reactor_run_once_nowait(r);
    check_int(s.conns[0].lost, ==, 0);
    check_err(weft_reactor_advance(r, 0.5), 0); /* 19.5: idle for 10 s */
    t_run_until_count(r, &s.conns[0].lost, 1);
    check_int(s.conns[0].lost, ==, 1);
    check_ptr(s.conns[0].lost_type, ==, &weft_timeout_error_type);
    check_err(s.conns[0].lost_code, WEFT_ETIMEDOUT);
    t_run_until_count(r, &c.lost, 1);
    check_ptr(c.lost_type, ==, &weft_connection_done_type);
    close_all(r, &s, &c, 1);
    t_teardown(r);
}

static void test_timeout_hook(void)
{
    weft_reactor_t *r = t_reactor(true);
    t_server_t s = {0};
    t_server_start(&s, r, NULL);
    t_conn_t c = {.custom_timeout = true};
    if (!t_connect(r, s.port, &c) || !t_run_until_fn(r, conns_made, &s, 1000))
        bail_out("no connection");
    check_err(weft_transport_set_timeout(c.t, -1), WEFT_EINVAL);
    check_err(weft_transport_set_timeout(c.t, 3), 0);
    check_err(weft_transport_set_timeout(c.t, 0), 0); /* cleared */
    check_err(weft_reactor_advance(r, 5), 0);
    check_int(c.timeouts, ==, 0);
    check_err(weft_transport_set_timeout(c.t, 3), 0);
    check_err(weft_reactor_advance(r, 3), 0);
    check_int(c.timeouts, ==, 1);
    t_run_until_count(r, &c.lost, 1);
    check_err(c.lost_code, WEFT_ECONNABORTED);
    close_all(r, &s, &c, 1);
    t_teardown(r);
}

/* ---------------------------------------------------------------- reconnecting */

typedef struct {
    int started, failed, lost, gave_up, built;
    t_conn_t conn;
} client_t;

static int cf_build(void *ctx, weft_connector_t *c, const weft_protocol_ops_t **ops, void **proto)
{
    (void)c;
    client_t *cl = ctx;
    cl->built++;
    t_conn_reset(&cl->conn);
    *ops = t_conn_ops(&cl->conn);
    *proto = &cl->conn;
    return 0;
}

static void cf_started(void *ctx, weft_connector_t *c)
{
    (void)c;
    ((client_t *)ctx)->started++;
}

static void cf_failed(void *ctx, weft_connector_t *c, const weft_failure_t *reason)
{
    (void)c;
    (void)reason;
    ((client_t *)ctx)->failed++;
}

static void cf_lost(void *ctx, weft_connector_t *c, const weft_failure_t *reason)
{
    (void)c;
    (void)reason;
    ((client_t *)ctx)->lost++;
}

static void cf_gave_up(void *ctx, weft_connector_t *c)
{
    (void)c;
    ((client_t *)ctx)->gave_up++;
}

static const weft_client_factory_ops_t cf_ops = {
    .build_protocol = cf_build,
    .started_connecting = cf_started,
    .connection_failed = cf_failed,
    .connection_lost = cf_lost,
    .gave_up = cf_gave_up,
};

static int closed_port(weft_reactor_t *r)
{
    t_server_t s = {0};
    t_server_start(&s, r, NULL);
    int port = s.port;
    t_server_stop(&s);
    return port;
}

static void test_backoff(void)
{
    weft_reactor_t *r = t_reactor(true);
    int port = closed_port(r);
    weft_connector_options_t o;
    weft_connector_options_init(&o);
    o.retry = true;
    o.initial_delay = 1;
    o.factor = 2;
    o.jitter = 0;
    o.max_delay = 5;
    o.max_retries = 4;
    client_t cl = {0};
    int err = 0;
    weft_connector_t *c = weft_connector_new_tcp(r, "127.0.0.1", port, &o, &cf_ops, &cl, &err);
    if (!check(c != NULL))
        return;
    check_err(weft_connector_connect(c), 0);
    check_err(weft_connector_connect(c), WEFT_EALREADY);
    t_run_until_count(r, &cl.failed, 1);
    /* Twisted's rule: the first retry waits initial_delay * factor, not initial_delay. */
    const double want[] = {2, 4, 5, 5};
    for (int i = 0; i < 4; i++) {
        check_int(weft_connector_retries(c), ==, i + 1);
        check(weft_connector_delay(c) == want[i]);
        check_err(weft_reactor_advance(r, want[i] - 0.001), 0);
        check_int(cl.started, ==, i + 1);
        check_err(weft_reactor_advance(r, 0.001), 0);
        check_int(cl.started, ==, i + 2);
        t_run_until_count(r, &cl.failed, i + 2);
    }
    /* The fifth failure is past max_retries 4: no more attempts. */
    check_int(cl.gave_up, ==, 1);
    check_uint(weft_reactor_pending_calls(r), ==, 0);
    check_int(cl.built, ==, 0);
    weft_connector_free(c);
    t_teardown(r);
}

static void test_jitter(void)
{
    weft_reactor_t *r = t_reactor(true);
    int port = closed_port(r);
    double first[3] = {0}, second[3] = {0};
    for (int round = 0; round < 2; round++) {
        weft_connector_options_t o;
        weft_connector_options_init(&o); /* Twisted's defaults: factor e, jitter 0.1196 */
        o.retry = true;
        o.seed = 42;
        client_t cl = {0};
        weft_connector_t *c = weft_connector_new_tcp(r, "127.0.0.1", port, &o, &cf_ops, &cl, NULL);
        if (!check(c != NULL))
            return;
        check_err(weft_connector_connect(c), 0);
        for (int i = 0; i < 3; i++) {
            t_run_until_count(r, &cl.failed, i + 1);
            double d = weft_connector_delay(c);
            (round == 0 ? first : second)[i] = d;
            check_err(weft_reactor_advance(r, d), 0);
        }
        t_run_until_count(r, &cl.failed, 4);
        /* stop_trying cancels the waiting retry. */
        weft_connector_stop_trying(c);
        check_uint(weft_reactor_pending_calls(r), ==, 0);
        weft_connector_free(c);
    }
    double e = 2.718281828459045;
    check(first[0] != e);                            /* jittered */
    check(first[0] > e * 0.4 && first[0] < e * 1.6); /* within 5 sigma */
    check(first[1] > first[0]);                      /* still growing by about e */
    for (int i = 0; i < 3; i++)
        check(first[i] == second[i]); /* the same seed gives the same delays */
    t_teardown(r);
}

static void test_reconnect_after_loss(void)
{
    weft_reactor_t *r = t_reactor(true);
    t_server_t s = {0};
    t_server_start(&s, r, NULL);
    weft_connector_options_t o;
    weft_connector_options_init(&o);
    o.retry = true;
    o.jitter = 0;
    o.factor = 2;
    client_t cl = {0};
    weft_connector_t *c = weft_connector_new_tcp(r, "127.0.0.1", s.port, &o, &cf_ops, &cl, NULL);
    if (!check(c != NULL))
        return;
    check_err(weft_connector_connect(c), 0);
    t_run_until_count(r, &cl.conn.made, 1);
    check_ptr(weft_connector_transport(c), ==, cl.conn.t);
    weft_connector_reset_delay(c);
    t_run_until_count(r, &s.nconns, 1);
    t_run_until_count(r, &s.conns[0].made, 1);
    /* The server drops the connection: the connector is told, then retries after 2 s. */
    weft_transport_abort_connection(s.conns[0].t);
    t_run_until_count(r, &cl.lost, 1);
    check_int(cl.conn.lost, ==, 1);
    check_ptr(weft_connector_transport(c), ==, NULL);
    check(weft_connector_delay(c) == 2);
    check_err(weft_reactor_advance(r, 2), 0);
    t_run_until_count(r, &cl.built, 2);
    t_run_until_count(r, &cl.conn.made, 1);
    check_int(cl.built, ==, 2);
    check_ptr(weft_connector_transport(c), !=, NULL);
    t_run_until_count(r, &s.nconns, 2);
    /* Freeing the connector closes its connection; no connector callback follows. */
    int lost_before = cl.lost;
    weft_connector_free(c);
    t_run_until_count(r, &cl.conn.lost, 1);
    t_run_until_count(r, &s.conns[1].lost, 1);
    check_int(cl.lost, ==, lost_before);
    t_server_stop(&s);
    t_conn_reset(&cl.conn);
    t_teardown(r);
}

int main(void)
{
    TEST(test_water_marks(), "writes above the high-water mark pause the producer; draining "
                             "to the low-water mark resumes it");
    TEST(test_max_connections(), "a listener at max_connections closes the next connection at "
                                 "once, counts it and logs it");
    TEST(test_idle_timeout(), "a connection idle for idle_timeout closes with TimeoutError; "
                              "activity restarts the count (manual clock)");
    TEST(test_timeout_hook(), "timeout_connection replaces the default reaction; set_timeout(0) "
                              "clears the timeout");
    TEST(test_backoff(), "a reconnecting connector waits initial*factor, then grows to max_delay "
                         "and gives up after max_retries (manual clock)");
    TEST(test_jitter(), "jitter draws a seeded normal delay that compounds; stop_trying "
                        "cancels the waiting retry");
    TEST(test_reconnect_after_loss(), "a lost connection is retried after the backoff; freeing "
                                      "the connector closes its connection");
    return done_testing();
}
