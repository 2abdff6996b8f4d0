/* SPDX-License-Identifier: MIT */
/* The site's limits and their reactions: 413, 414, 431, 400 on malformed input, 408 on slow
 * headers and the idle close (both on the manual clock), and max_connections. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/error.h>
#include <weft/log.h>
#include <weft/request.h>
#include <weft/resource.h>
#include <weft/site.h>
#include <weft/time.h>

#include "helpers.h"
#include "http-helpers.h"
#include "net-helpers.h"
#include "tap.h"

static th_resp_t resp[4];
static int renders;

static int count_post(weft_request_t *req, void *ctx)
{
    (void)ctx;
    renders++;
    size_t len = 0;
    weft_request_body(req, &len);
    char buf[32];
    snprintf(buf, sizeof(buf), "%zu", len);
    return weft_request_write(req, buf, strlen(buf));
}

typedef th_fixture_t fixture_t;

static bool setup_with(fixture_t *f, bool manual, const weft_site_options_t *o)
{
    renders = 0;
    weft_resource_t *root = weft_resource_new(NULL, NULL, NULL);
    if (weft_resource_set_render(root, "POST", count_post) != 0 ||
        weft_resource_set_render(root, "GET", count_post) != 0)
        bail_out("render");
    weft_resource_set_leaf(root, true);
    weft_site_options_t opts;
    if (o != NULL) {
        opts = *o;
    } else {
        weft_site_options_init(&opts);
        opts.access_log = false;
        opts.max_body_bytes = 1000;
        opts.max_header_bytes = 2000;
        opts.max_headers = 10;
        opts.max_url_bytes = 200;
    }
    return th_fixture_start(f, manual, root, &opts);
}

static bool setup(fixture_t *f)
{
    return setup_with(f, false, NULL);
}

static void teardown(fixture_t *f)
{
    th_fixture_end(f);
}

/* Runs loop passes that do not block: on loopback, bytes written are already in the peer's
 * socket, so a few passes deliver them (the manual clock keeps timers still). */
static void spin(weft_reactor_t *r)
{
    for (int i = 0; i < 50; i++)
        (void)weft_reactor_run_once_nowait(r);
}

static void send_str(fixture_t *f, const char *s)
{
    th_send_str(&f->c, s);
}

/* Sends s, waits for the close, and checks the one answer is code with Connection: close. */
static void expect_close(fixture_t *f, const char *s, int code)
{
    send_str(f, s);
    t_run_until_count(f->r, &f->c.lost, 1);
    check_int(f->c.lost, ==, 1);
    if (check_int(th_parse(f->c.data, f->c.len, false, resp, 4), ==, 1)) {
        check_int(resp[0].status, ==, code);
        check_str(th_header(&resp[0], "connection"), "close");
    }
}

static void test_body_limit(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    char req[2200];
    int n = snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n");
    memset(req + n, 'x', 1001);
    req[n + 1001] = '\0';
    strcat(req, "GET / HTTP/1.1\r\n\r\n");
    expect_close(&f, req, 413);
    check_int(renders, ==, 0);
    weft_site_stats_t st;
    weft_site_get_stats(f.s.site, &st);
    check_uint(st.over_limit, ==, 1);
    teardown(&f);
}

static void test_body_limit_expect(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    expect_close(&f, "POST / HTTP/1.1\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
                 413);
    check(f.c.len < 12 || memcmp(f.c.data, "HTTP/1.1 100", 12) != 0);
    check_int(renders, ==, 0);
    teardown(&f);
}

static void test_chunked_limit(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    char req[4096];
    int n = snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        n += snprintf(req + n, sizeof(req) - (size_t)n, "190\r\n");
        memset(req + n, 'y', 400);
        n += 400;
        n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
    }
    snprintf(req + n, sizeof(req) - (size_t)n, "0\r\n\r\n");
    expect_close(&f, req, 413);
    check_int(renders, ==, 0);
    teardown(&f);
}

static void test_body_at_limit(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    char req[2200];
    int n = snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n");
    memset(req + n, 'x', 1000);
    req[n + 1000] = '\0';
    send_str(&f, req);
    if (check_int(th_wait(f.r, &f.c, false, 1, resp, 4), ==, 1)) {
        check_int(resp[0].status, ==, 200);
        check_str(resp[0].body, "1000");
    }
    check_int(f.c.lost, ==, 0);
    teardown(&f);
}

static void test_bad_request_line(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    expect_close(&f, "GET / HTTP/1.1 extra\r\n\r\n", 400);
    check_int(renders, ==, 0);
    teardown(&f);
}

static void test_garbage(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    expect_close(&f, "\x01\x02\x03 nonsense\r\n\r\n", 400);
    teardown(&f);
}

static void test_bad_header(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    expect_close(&f, "GET / HTTP/1.1\r\nBad Header Without Colon\r\n\r\n", 400);
    check_int(renders, ==, 0);
    teardown(&f);
}

static void test_bad_content_length(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    expect_close(&f, "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400);
    check_int(renders, ==, 0);
    teardown(&f);
}

static void test_header_bytes(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    char req[4096];
    int n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nX-Big: ");
    memset(req + n, 'h', 2100);
    snprintf(req + n + 2100, sizeof(req) - (size_t)n - 2100, "\r\n\r\n");
    expect_close(&f, req, 431);
    teardown(&f);
}

static void test_header_count(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    char req[1024];
    int n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 11; i++)
        n += snprintf(req + n, sizeof(req) - (size_t)n, "X-H%d: v\r\n", i);
    snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
    expect_close(&f, req, 431);
    teardown(&f);
}

static void test_url_length(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    char req[1024];
    int n = snprintf(req, sizeof(req), "GET /");
    memset(req + n, 'u', 300);
    snprintf(req + n + 300, sizeof(req) - (size_t)n - 300, " HTTP/1.1\r\n\r\n");
    expect_close(&f, req, 414);
    teardown(&f);
}

static void test_slow_headers(void)
{
    weft_site_options_t o;
    weft_site_options_init(&o);
    o.access_log = false;
    o.header_timeout = 10;
    o.keepalive_timeout = 100;
    fixture_t f;
    if (!setup_with(&f, true, &o))
        return;
    send_str(&f, "GET / HTTP/1.1\r\nHost: sl");
    spin(f.r); /* the bytes arrive; nothing is answered */
    check_uint(f.c.len, ==, 0);
    check_err(weft_reactor_advance(f.r, 9.0), 0);
    spin(f.r);
    check_uint(f.c.len, ==, 0);
    check_err(weft_reactor_advance(f.r, 1.5), 0);
    t_run_until_count(f.r, &f.c.lost, 1);
    if (check_int(th_parse(f.c.data, f.c.len, false, resp, 4), ==, 1))
        check_int(resp[0].status, ==, 408);
    check_int(renders, ==, 0);
    weft_site_stats_t st;
    weft_site_get_stats(f.s.site, &st);
    check_uint(st.timeouts, ==, 1);
    teardown(&f);
}

static void test_slow_body(void)
{
    weft_site_options_t o;
    weft_site_options_init(&o);
    o.access_log = false;
    o.body_timeout = 10;
    o.keepalive_timeout = 100;
    fixture_t f;
    if (!setup_with(&f, true, &o))
        return;
    send_str(&f, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    spin(f.r);
    check_err(weft_reactor_advance(f.r, 8.0), 0);
    spin(f.r);
    send_str(&f, "de"); /* a byte arriving restarts the count */
    spin(f.r);
    check_err(weft_reactor_advance(f.r, 8.0), 0);
    spin(f.r);
    check_uint(f.c.len, ==, 0);
    check_err(weft_reactor_advance(f.r, 2.5), 0);
    t_run_until_count(f.r, &f.c.lost, 1);
    if (check_int(th_parse(f.c.data, f.c.len, false, resp, 4), ==, 1))
        check_int(resp[0].status, ==, 408);
    check_int(renders, ==, 0);
    teardown(&f);
}

static void test_idle_close(void)
{
    weft_site_options_t o;
    weft_site_options_init(&o);
    o.access_log = false;
    o.header_timeout = 100;
    o.keepalive_timeout = 5;
    fixture_t f;
    if (!setup_with(&f, true, &o))
        return;
    send_str(&f, "GET / HTTP/1.1\r\n\r\n");
    check_int(th_wait(f.r, &f.c, false, 1, resp, 4), ==, 1);
    check_err(weft_reactor_advance(f.r, 4.0), 0);
    spin(f.r);
    check_int(f.c.lost, ==, 0);
    check_err(weft_reactor_advance(f.r, 1.5), 0);
    t_run_until_count(f.r, &f.c.lost, 1);
    check_int(f.c.lost, ==, 1);
    check_int(th_parse(f.c.data, f.c.len, false, resp, 4), ==, 1);
    teardown(&f);
}

static void test_max_connections(void)
{
    weft_site_options_t o;
    weft_site_options_init(&o);
    o.access_log = false;
    o.max_connections = 1;
    fixture_t f;
    if (!setup_with(&f, false, &o))
        return;
    t_conn_t c2;
    memset(&c2, 0, sizeof(c2));
    t_connect(f.r, f.s.port, &c2);
    t_run_until_count(f.r, &c2.lost, 1);
    check_int(c2.lost, ==, 1);
    weft_site_stats_t st;
    weft_site_get_stats(f.s.site, &st);
    check_uint(st.connections_refused, ==, 1);
    check_uint(st.connections_open, ==, 1);
    send_str(&f, "GET / HTTP/1.1\r\n\r\n");
    check_int(th_wait(f.r, &f.c, false, 1, resp, 4), ==, 1);
    t_conn_reset(&c2);
    teardown(&f);
}

int main(void)
{
    /* The site logs each closing reason at info; keep the TAP output quiet. */
    if (weft_log_set_component_level("http", WEFT_LOG_WARN) != 0)
        bail_out("log level");
    TEST(test_body_limit(), "a Content-Length over max_body_bytes gets 413 and a close; the "
                            "render never runs and nothing after it is served");
    TEST(test_body_limit_expect(), "Expect: 100-continue with a body over the limit gets 413 "
                                   "and no 100 Continue");
    TEST(test_chunked_limit(), "a chunked body growing past max_body_bytes gets 413 and a close");
    TEST(test_body_at_limit(), "a body of exactly max_body_bytes is served");
    TEST(test_bad_request_line(), "a malformed request line gets 400 and the connection closes");
    TEST(test_garbage(), "binary garbage gets 400 and the connection closes");
    TEST(test_bad_header(), "a malformed header line gets 400 and the connection closes");
    TEST(test_bad_content_length(), "two different Content-Length headers get 400 and a close");
    TEST(test_header_bytes(), "headers over max_header_bytes get 431 and a close");
    TEST(test_header_count(), "more than max_headers headers get 431 and a close");
    TEST(test_url_length(), "a target over max_url_bytes gets 414 and a close");
    TEST(test_slow_headers(), "headers not complete within header_timeout get 408 and a close "
                              "(manual clock)");
    TEST(test_slow_body(), "a request body stalled for body_timeout gets 408 and a close; each "
                           "byte restarts the count (manual clock)");
    TEST(test_idle_close(), "a kept-alive connection idle for keepalive_timeout is closed "
                            "without an answer (manual clock)");
    TEST(test_max_connections(), "a connection past max_connections is closed at once and "
                                 "counted; the others are served");
    return done_testing();
}
