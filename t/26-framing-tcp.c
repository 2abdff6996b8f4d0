/* SPDX-License-Identifier: MIT */
/* The framing protocols over TCP: Twisted's wire bytes both ways, the default reactions to
 * over-long and malformed frames (close with a logged reason), the disconnecting rule, raw
 * mode, and pause wired to the transport's reading. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include <weft/error.h>
#include <weft/framed.h>
#include <weft/log.h>
#include <weft/tcp.h>
#include <weft/transport.h>

#include "feeder.h"
#include "helpers.h"
#include "net-helpers.h"
#include "tap.h"

/* ---------------------------------------------------------------- a framed echo server */

typedef struct {
    weft_framed_options_t opts;
    bool custom_bad;
    bool stop_always;     /* every frame callback returns stop */
    size_t most_buffered; /* the most weft_framed_buffered seen in a frame callback */
    int frames, bad, lost, made;
    int bad_code;
    char last[256];
    weft_framed_t *fp;
    weft_listener_t *l;
    weft_factory_t *f;
    int port;
} fsrv_t;

static int s_frame(void *ctx, weft_framed_t *fp, const char *data, size_t len)
{
    fsrv_t *s = ctx;
    s->frames++;
    snprintf(s->last, sizeof(s->last), "%.*s", (int)len, data);
    if (s->stop_always) {
        size_t b = weft_framed_buffered(fp);
        if (b > s->most_buffered)
            s->most_buffered = b;
        return 1;
    }
    if (len == 4 && memcmp(data, "QUIT", 4) == 0) {
        weft_transport_lose_connection(weft_framed_transport(fp));
        return 0;
    }
    if (len == 3 && memcmp(data, "RAW", 3) == 0) {
        check_err(weft_framed_set_raw_mode(fp), 0);
        return 0;
    }
    if (len == 5 && memcmp(data, "PAUSE", 5) == 0) {
        weft_framed_pause(fp);
        return 0;
    }
    int rc = weft_framed_send(fp, data, len);
    if (rc < 0)
        diag("send: %s", weft_strerror(rc));
    return 0;
}

static int s_raw(void *ctx, weft_framed_t *fp, const char *data, size_t len)
{
    (void)ctx;
    /* Raw bytes go back as they are, unframed. */
    return weft_transport_write(weft_framed_transport(fp), data, len) < 0;
}

static void s_bad(void *ctx, weft_framed_t *fp, int code, const char *reason, const char *data,
                  size_t len)
{
    (void)reason;
    (void)data;
    (void)len;
    fsrv_t *s = ctx;
    s->bad++;
    s->bad_code = code;
    check_err(weft_transport_write(weft_framed_transport(fp), "BAD\r\n", 5), 0);
}

static void s_made(void *ctx, weft_framed_t *fp)
{
    fsrv_t *s = ctx;
    s->made++;
    s->fp = fp;
}

static void s_lost(void *ctx, weft_framed_t *fp, weft_failure_t *reason)
{
    (void)fp;
    fsrv_t *s = ctx;
    s->lost++;
    s->fp = NULL;
    weft_failure_free(reason);
}

static int s_build(void *ctx, const char *peer, const weft_protocol_ops_t **ops, void **proto)
{
    (void)peer;
    fsrv_t *s = ctx;
    weft_framed_ops_t fops = {
        .connection_made = s_made,
        .frame_received = s_frame,
        .raw_data_received = s_raw,
        .bad_frame = s->custom_bad ? s_bad : NULL,
        .connection_lost = s_lost,
    };
    weft_framed_t *fp = weft_framed_new(&s->opts, &fops, s, NULL);
    if (fp == NULL)
        return -1;
    *ops = weft_framed_protocol_ops();
    *proto = fp;
    return 0;
}

static void fsrv_start(weft_reactor_t *r, fsrv_t *s, weft_framing_t framing)
{
    weft_framed_options_init(&s->opts);
    s->opts.framing = framing;
    weft_factory_ops_t fo = {.build_protocol = s_build};
    s->f = weft_factory_new(&fo, s, NULL);
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = "127.0.0.1";
    int err = 0;
    s->l = weft_listen_tcp(r, &lo, s->f, &err);
    if (s->l == NULL)
        bail_out("listen: %s", weft_strerror(err));
    s->port = weft_listener_port(s->l);
}

static void fsrv_stop(weft_reactor_t *r, fsrv_t *s)
{
    weft_deferred_t *d = weft_listener_stop(s->l);
    for (int i = 0; i < 100 && !weft_deferred_called(d); i++)
        t_run_once(r);
    weft_deferred_unref(d);
    check_err(weft_factory_free(s->f), 0);
}

/* Sends `in` as raw bytes, `pieces` writes, and waits for want_len bytes back (or a close). */
static void exchange(weft_reactor_t *r, t_conn_t *c, const char *in, size_t len, size_t pieces)
{
    size_t step = (len + pieces - 1) / (pieces ? pieces : 1);
    if (step == 0)
        step = 1;
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        if (weft_transport_write(c->t, in + off, n) < 0)
            break;
        for (int i = 0; i < 3; i++)
            weft_reactor_run_once_nowait(r);
    }
}

static void finish(weft_reactor_t *r, t_conn_t *c, fsrv_t *s)
{
    if (c->lost == 0 && c->t != NULL)
        weft_transport_lose_connection(c->t);
    t_run_until_count(r, &c->lost, 1);
    if (s->made > 0)
        t_run_until_count(r, &s->lost, 1);
    fsrv_stop(r, s);
    t_conn_reset(c);
}

/* One echo round trip: what comes back must be `want`, byte for byte. */
static void echo_case(weft_framing_t framing, const char *in, size_t len, const char *want,
                      size_t want_len, size_t pieces)
{
    weft_reactor_t *r = t_reactor(false);
    fsrv_t s = {0};
    fsrv_start(r, &s, framing);
    t_conn_t c = {0};
    if (!check(t_connect(r, s.port, &c)))
        return;
    exchange(r, &c, in, len, pieces);
    while (c.len < want_len && c.lost == 0)
        t_run_once(r);
    check_uint(c.len, ==, want_len);
    check(c.len == want_len && memcmp(c.data, want, want_len) == 0);
    finish(r, &c, &s);
    t_teardown(r);
}

/* Twisted's own vectors (test_basic.py): what its receivers accept and what they send. */
static void test_line_echo(void)
{
    const char in[] = "hello\r\nworld\r\n\r\nlast line\r\n";
    for (size_t pieces = 1; pieces <= sizeof(in) - 1; pieces += 7)
        echo_case(WEFT_FRAMING_LINE, in, sizeof(in) - 1, in, sizeof(in) - 1, pieces);
}

static void test_netstring_echo(void)
{
    const char in[] = "3:abc,0:,12:hello world!,";
    for (size_t pieces = 1; pieces <= sizeof(in) - 1; pieces += 5)
        echo_case(WEFT_FRAMING_NETSTRING, in, sizeof(in) - 1, in, sizeof(in) - 1, pieces);
}

static void test_int_echo(void)
{
    const char in32[] = "\x00\x00\x00\x03"
                        "abc"
                        "\x00\x00\x00\x00"
                        "\x00\x00\x00\x05"
                        "hello";
    echo_case(WEFT_FRAMING_INT32, in32, sizeof(in32) - 1, in32, sizeof(in32) - 1, 1);
    echo_case(WEFT_FRAMING_INT32, in32, sizeof(in32) - 1, in32, sizeof(in32) - 1, 20);
    const char in16[] = "\x00\x03"
                        "abc"
                        "\x00\x01"
                        "z";
    echo_case(WEFT_FRAMING_INT16, in16, sizeof(in16) - 1, in16, sizeof(in16) - 1, 4);
    const char in8[] = "\x03"
                       "abc"
                       "\x00";
    echo_case(WEFT_FRAMING_INT8, in8, sizeof(in8) - 1, in8, sizeof(in8) - 1, 5);
}

/* ---------------------------------------------------------------- default reactions */

static char closing_reason[256];
static int closing_logs;
static void catch_close(const weft_log_record_t *rec, void *arg)
{
    (void)arg;
    if (strstr(rec->message, "closing the connection") != NULL) {
        closing_logs++;
        snprintf(closing_reason, sizeof(closing_reason), "%s", rec->message);
    }
}

/* Sends in; expects the server to echo `want` and then close with a logged reason that
 * contains `reason`. */
static void reaction_case(weft_framing_t framing, size_t max_length, const char *in, size_t len,
                          const char *want, size_t want_len, const char *reason)
{
    weft_reactor_t *r = t_reactor(false);
    fsrv_t s = {0};
    fsrv_start(r, &s, framing);
    s.opts.max_length = max_length;
    t_conn_t c = {0};
    if (!check(t_connect(r, s.port, &c)))
        return;
    closing_logs = 0;
    closing_reason[0] = '\0';
    weft_log_set_sink(catch_close, NULL);
    check_err(weft_transport_write(c.t, in, len), 0);
    t_run_until_count(r, &c.lost, 1);
    weft_log_set_sink(NULL, NULL);
    check_int(c.lost, ==, 1);
    check_ptr(c.lost_type, ==, &weft_connection_done_type);
    check_uint(c.len, ==, want_len);
    check(c.len == want_len && (want_len == 0 || memcmp(c.data, want, want_len) == 0));
    check_int(closing_logs, ==, 1);
    if (!check(strstr(closing_reason, reason) != NULL))
        diag("log: %s", closing_reason);
    finish(r, &c, &s);
    t_teardown(r);
}

static void test_line_too_long(void)
{
    /* max 5: "12345" passes, "123456" closes; the line after it is never seen. */
    const char in[] = "12345\r\n123456\r\nnever\r\n";
    reaction_case(WEFT_FRAMING_LINE, 5, in, sizeof(in) - 1, "12345\r\n", 7,
                  "line longer than max_length");
}

static void test_netstring_malformed(void)
{
    /* A string before the error is delivered (and echoed); "007:" closes. */
    const char in[] = "3:abc,007:abcdefg,1:x,";
    reaction_case(WEFT_FRAMING_NETSTRING, 0, in, sizeof(in) - 1, "3:abc,", 6, "EPROTO");
}

static void test_intn_too_long(void)
{
    const char in[] = "\x00\x00\x00\x02"
                      "ok"
                      "\x00\x00\x00\x09"
                      "toolong!!";
    reaction_case(WEFT_FRAMING_INT32, 8, in, sizeof(in) - 1,
                  "\x00\x00\x00\x02"
                  "ok",
                  6, "length prefix over max_length");
}

static void test_custom_bad_frame(void)
{
    weft_reactor_t *r = t_reactor(false);
    fsrv_t s = {.custom_bad = true};
    fsrv_start(r, &s, WEFT_FRAMING_LINE);
    s.opts.max_length = 4;
    t_conn_t c = {0};
    if (!check(t_connect(r, s.port, &c)))
        return;
    /* Twisted hands the over-long line and the rest of the buffer to the hook, so the next
     * line is sent once the reaction has come back. */
    check_err(weft_transport_write(c.t, "toolong\r\n", 9), 0);
    while (c.len < 5 && c.lost == 0)
        t_run_once(r);
    check_err(weft_transport_write(c.t, "ok\r\n", 4), 0);
    while (c.len < 9 && c.lost == 0)
        t_run_once(r);
    /* The hook ran instead of the close, and the receiver went on with the next line. */
    check_int(s.bad, ==, 1);
    check_err(s.bad_code, WEFT_EMSGSIZE);
    check(c.len == 9 && memcmp(c.data, "BAD\r\nok\r\n", 9) == 0);
    check_int(c.lost, ==, 0);
    finish(r, &c, &s);
    t_teardown(r);
}

static void test_stop_after_lose(void)
{
    weft_reactor_t *r = t_reactor(false);
    fsrv_t s = {0};
    fsrv_start(r, &s, WEFT_FRAMING_LINE);
    t_conn_t c = {0};
    if (!check(t_connect(r, s.port, &c)))
        return;
    check_err(weft_transport_write(c.t, "a\r\nQUIT\r\nb\r\nc\r\n", 15), 0);
    t_run_until_count(r, &c.lost, 1);
    /* Twisted's LineReceiver: nothing after the line that closed the transport. */
    check_int(s.frames, ==, 2);
    check_str(s.last, "QUIT");
    check(c.len == 3 && memcmp(c.data, "a\r\n", 3) == 0);
    finish(r, &c, &s);
    t_teardown(r);
}

static void test_raw_mode(void)
{
    const char in[] = "one\r\nRAW\r\nraw bytes \r\n here";
    /* "one" is echoed as a line; after RAW the rest comes back unframed. */
    weft_reactor_t *r = t_reactor(false);
    fsrv_t s = {0};
    fsrv_start(r, &s, WEFT_FRAMING_LINE);
    t_conn_t c = {0};
    if (!check(t_connect(r, s.port, &c)))
        return;
    check_err(weft_transport_write(c.t, in, sizeof(in) - 1), 0);
    const char want[] = "one\r\nraw bytes \r\n here";
    while (c.len < sizeof(want) - 1 && c.lost == 0)
        t_run_once(r);
    check(c.len == sizeof(want) - 1 && memcmp(c.data, want, sizeof(want) - 1) == 0);
    finish(r, &c, &s);
    t_teardown(r);
}

static void test_pause_wiring(void)
{
    weft_reactor_t *r = t_reactor(false);
    fsrv_t s = {0};
    fsrv_start(r, &s, WEFT_FRAMING_LINE);
    t_conn_t c = {0};
    if (!check(t_connect(r, s.port, &c)))
        return;
    check_err(weft_transport_write(c.t, "PAUSE\r\nx\r\ny\r\n", 13), 0);
    t_run_until_count(r, &s.frames, 1);
    for (int i = 0; i < 10; i++)
        weft_reactor_run_once_nowait(r);
    /* Paused inside the first frame: the rest stays buffered, reading is off. */
    check_int(s.frames, ==, 1);
    if (!check(s.fp != NULL))
        return;
    check(weft_transport_is_reading_paused(weft_framed_transport(s.fp)));
    check_err(weft_framed_resume(s.fp), 0);
    check_int(s.frames, ==, 3);
    check(!weft_transport_is_reading_paused(weft_framed_transport(s.fp)));
    while (c.len < 6 && c.lost == 0)
        t_run_once(r);
    check(c.len == 6 && memcmp(c.data, "x\r\ny\r\n", 6) == 0);
    finish(r, &c, &s);
    t_teardown(r);
}

/* A protocol whose frame callback returns stop every time, while the peer sends 1.1 MB of
 * 900-byte frames at once (max_length 1000): the unparsed input stays under max_length plus
 * the framing plus one read (64 KiB), and every frame is still delivered. */
static void stop_always_case(weft_framing_t framing)
{
    enum { N = 1200, PAYLOAD = 900, MAX = 1000 };
    weft_reactor_t *r = t_reactor(false);
    fsrv_t s = {0};
    fsrv_start(r, &s, framing);
    s.opts.max_length = MAX;
    s.stop_always = true;
    t_conn_t c = {0};
    if (!check(t_connect(r, s.port, &c)))
        return;
    size_t cap = (size_t)N * (PAYLOAD + 32), len = 0;
    char *in = malloc(cap);
    for (int i = 0; i < N; i++) {
        char payload[PAYLOAD];
        memset(payload, 'a' + i % 26, sizeof(payload));
        if (framing == WEFT_FRAMING_LINE) {
            memcpy(in + len, payload, PAYLOAD);
            memcpy(in + len + PAYLOAD, "\r\n", 2);
            len += PAYLOAD + 2;
        } else if (framing == WEFT_FRAMING_NETSTRING) {
            len += weft_netstring_prefix(in + len, PAYLOAD);
            memcpy(in + len, payload, PAYLOAD);
            in[len + PAYLOAD] = ',';
            len += PAYLOAD + 1;
        } else {
            check_err(weft_intn_prefix(4, PAYLOAD, (unsigned char *)in + len), 0);
            memcpy(in + len + 4, payload, PAYLOAD);
            len += 4 + PAYLOAD;
        }
    }
    check_err(weft_transport_write(c.t, in, len), 0);
    free(in);
    for (int i = 0; i < 200000 && s.frames < N && s.lost == 0; i++)
        weft_reactor_run_once_nowait(r);
    check_int(s.frames, ==, N);
    check_uint(s.most_buffered, <=, (size_t)MAX + WEFT_NETSTRING_PREFIX_MAX + 1 + 65536);
    check_int(s.lost, ==, 0);
    finish(r, &c, &s);
    t_teardown(r);
}

static void test_stop_always_bounded(void)
{
    stop_always_case(WEFT_FRAMING_LINE);
    stop_always_case(WEFT_FRAMING_NETSTRING);
    stop_always_case(WEFT_FRAMING_INT32);
}

/* A libuv check handle runs after the I/O callbacks of the same loop pass: aborting there
 * closes the connection (connection_lost, the framed protocol's release) before the next
 * pass, while the parsing of the frames a stop left is still due. */
static void abort_after_first_frame(uv_check_t *h)
{
    fsrv_t *s = h->data;
    if (s->frames == 1 && s->fp != NULL && s->lost == 0 &&
        weft_transport_is_connected(weft_framed_transport(s->fp)))
        weft_transport_abort_connection(weft_framed_transport(s->fp));
}

static void test_lost_while_stopped(void)
{
    weft_reactor_t *r = t_reactor(false);
    fsrv_t s = {0};
    fsrv_start(r, &s, WEFT_FRAMING_LINE);
    s.stop_always = true;
    t_conn_t c = {0};
    if (!check(t_connect(r, s.port, &c)))
        return;
    uv_check_t chk;
    uv_check_init(weft_reactor_get_uv_loop(r), &chk);
    chk.data = &s;
    uv_check_start(&chk, abort_after_first_frame);
    check_err(weft_transport_write(c.t, "a\r\nb\r\nc\r\n", 9), 0);
    for (int i = 0; i < 100000 && s.lost == 0; i++)
        weft_reactor_run_once_nowait(r);
    check_int(s.lost, ==, 1);
    check_int(s.frames, ==, 1); /* b and c are never delivered to a protocol that is gone */
    uv_close((uv_handle_t *)&chk, NULL);
    for (int i = 0; i < 3; i++)
        weft_reactor_run_once_nowait(r);
    finish(r, &c, &s);
    t_teardown(r);
}

/* ---------------------------------------------------------------- a framed client */

typedef struct {
    int strings;
    t_log_t log;
    weft_framed_t *fp;
    int done;
} fcli_t;

static int c_frame(void *ctx, weft_framed_t *fp, const char *data, size_t len)
{
    (void)fp;
    fcli_t *c = ctx;
    c->strings++;
    t_log_add(&c->log, 's', data, len, false);
    return 0;
}

static void c_made(void *ctx, weft_framed_t *fp)
{
    ((fcli_t *)ctx)->fp = fp;
}

static void c_lost(void *ctx, weft_framed_t *fp, weft_failure_t *reason)
{
    (void)fp;
    ((fcli_t *)ctx)->done = 1;
    ((fcli_t *)ctx)->fp = NULL;
    weft_failure_free(reason);
}

typedef struct {
    int paused, resumed;
    weft_framed_t *fp;
} producer_t;

static int p_frame(void *ctx, weft_framed_t *fp, const char *data, size_t len)
{
    (void)ctx;
    (void)fp;
    (void)data;
    (void)len;
    return 0;
}

static void p_made(void *ctx, weft_framed_t *fp)
{
    ((producer_t *)ctx)->fp = fp;
}

static void p_paused(void *ctx, weft_framed_t *fp)
{
    (void)fp;
    ((producer_t *)ctx)->paused++;
}

static void p_resumed(void *ctx, weft_framed_t *fp)
{
    (void)fp;
    ((producer_t *)ctx)->resumed++;
}

static void test_producer_forwarded(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {0};
    t_server_start(&s, r, NULL);
    producer_t pr = {0};
    weft_framed_options_t o;
    weft_framed_options_init(&o);
    o.framing = WEFT_FRAMING_INT32;
    weft_framed_ops_t ops = {.connection_made = p_made,
                             .frame_received = p_frame,
                             .pause_producing = p_paused,
                             .resume_producing = p_resumed};
    weft_framed_t *fp = weft_framed_new(&o, &ops, &pr, NULL);
    weft_deferred_t *d =
        weft_connect_tcp(r, "127.0.0.1", s.port, NULL, weft_framed_protocol_ops(), fp, NULL);
    while (pr.fp == NULL || s.nconns == 0 || s.conns[0].made == 0)
        t_run_once(r);
    weft_transport_pause_reading(s.conns[0].t); /* the peer stops reading */
    static char frame[60000];
    for (int i = 0; i < 4096 && pr.paused == 0; i++) {
        if (!check_err(weft_framed_send(fp, frame, sizeof(frame)), 0))
            break;
        weft_reactor_run_once_nowait(r);
    }
    check_int(pr.paused, ==, 1);
    check_err(weft_transport_resume_reading(s.conns[0].t), 0);
    t_run_until_count(r, &pr.resumed, 1);
    check_int(pr.resumed, ==, 1);
    weft_transport_abort_connection(weft_framed_transport(fp));
    t_run_until_count(r, &s.conns[0].lost, 1);
    for (int i = 0; i < 5; i++)
        weft_reactor_run_once_nowait(r);
    weft_deferred_unref(d);
    t_server_stop(&s);
    t_teardown(r);
}

static void test_int8_send_limit(void)
{
    weft_reactor_t *r = t_reactor(false);
    fsrv_t s = {0};
    fsrv_start(r, &s, WEFT_FRAMING_INT8);
    fcli_t cl = {0};
    weft_framed_options_t o;
    weft_framed_options_init(&o);
    o.framing = WEFT_FRAMING_INT8;
    weft_framed_ops_t ops = {
        .connection_made = c_made, .frame_received = c_frame, .connection_lost = c_lost};
    weft_framed_t *fp = weft_framed_new(&o, &ops, &cl, NULL);
    check_err(weft_framed_send(fp, "x", 1), WEFT_ECLOSED); /* not connected yet */
    weft_deferred_t *d =
        weft_connect_tcp(r, "127.0.0.1", s.port, NULL, weft_framed_protocol_ops(), fp, NULL);
    while (cl.fp == NULL)
        t_run_once(r);
    char big[256];
    memset(big, 'b', sizeof(big));
    check_err(weft_framed_send(fp, big, 256), WEFT_EMSGSIZE);
    check_err(weft_framed_send(fp, big, 255), 0);
    while (cl.strings < 1)
        t_run_once(r);
    check_int(cl.strings, ==, 1);
    check_uint(strlen(t_log_str(&cl.log)), ==, 2 + 255 + 1);
    weft_transport_lose_connection(weft_framed_transport(fp));
    t_run_until(r, &cl.done, 1000);
    t_run_until_count(r, &s.lost, 1);
    weft_deferred_unref(d);
    t_log_free(&cl.log);
    fsrv_stop(r, &s);
    t_teardown(r);
}

static void test_free_unconnected(void)
{
    int err = 0;
    weft_framed_ops_t bad = {0};
    check_ptr(weft_framed_new(NULL, &bad, NULL, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    weft_framed_ops_t ops = {.frame_received = c_frame};
    weft_framed_t *fp = weft_framed_new(NULL, &ops, NULL, &err);
    check_int(weft_framed_framing(fp), ==, WEFT_FRAMING_LINE);
    check_err(weft_framed_set_raw_mode(fp), WEFT_EINVAL); /* no raw_data_received */
    check_ptr(weft_framed_transport(fp), ==, NULL);
    weft_framed_free(fp);
    weft_framed_free(NULL);
}

int main(void)
{
    TEST(test_line_echo(), "lines echo byte for byte in Twisted's framing, however the bytes "
                           "are split");
    TEST(test_netstring_echo(), "netstrings echo byte for byte in Twisted's framing");
    TEST(test_int_echo(), "Int32, Int16 and Int8 strings echo byte for byte");
    TEST(test_line_too_long(), "a line longer than max_length closes the connection and logs "
                               "the reason");
    TEST(test_netstring_malformed(), "a malformed netstring closes the connection with a logged "
                                     "reason after delivering the strings before it");
    TEST(test_intn_too_long(), "an Int32 prefix over max_length closes the connection with a "
                               "logged reason");
    TEST(test_custom_bad_frame(), "bad_frame replaces the default reaction and the receiver "
                                  "goes on");
    TEST(test_stop_after_lose(), "a line that closes the transport stops the parsing of the "
                                 "rest of its chunk");
    TEST(test_raw_mode(), "set_raw_mode inside a line hands the rest of the chunk over raw");
    TEST(test_pause_wiring(), "pausing a framed protocol stops transport reading; resume "
                              "delivers the buffered frames and reads again");
    TEST(test_stop_always_bounded(),
         "a frame callback that always returns stop holds no more than max_length plus framing "
         "plus one read of unparsed input, and every frame still arrives (lines, netstrings, "
         "Int32)");
    TEST(test_lost_while_stopped(), "a framed protocol whose connection is lost while the frames "
                                    "a stop left wait delivers none of them and is released");
    TEST(test_producer_forwarded(), "a framed protocol hears its connection's pause_producing "
                                    "and resume_producing");
    TEST(test_int8_send_limit(), "an Int8 client refuses a 256-byte string and sends 255 bytes");
    TEST(test_free_unconnected(), "a framed protocol that never connected is released with "
                                  "weft_framed_free");
    return done_testing();
}
