/* SPDX-License-Identifier: MIT */
/* HTTP/1.1 on a site: keep-alive, pipelining in order, chunked in and out, 100-continue, HEAD,
 * HTTP/1.0, and the parser fed whole, byte by byte and in seeded random splits. */
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

static th_resp_t resp[8];

/* GET /later?n=X answers X on a later loop pass (not done yet); GET /now?n=X at once. */
static void later_fire(void *arg)
{
    weft_request_t *req = arg;
    const char *n = weft_request_arg(req, "n");
    int rc = weft_request_write(req, n ? n : "?", n ? strlen(n) : 1);
    (void)rc;
    weft_request_finish(req);
}

static int later_get(weft_request_t *req, void *ctx)
{
    (void)ctx;
    if (weft_reactor_call_soon(weft_request_reactor(req), later_fire, req) != 0)
        return WEFT_ENOMEM;
    return WEFT_NOT_DONE_YET;
}

static int now_get(weft_request_t *req, void *ctx)
{
    (void)ctx;
    const char *n = weft_request_arg(req, "n");
    return weft_request_write(req, n ? n : "?", n ? strlen(n) : 1);
}

/* POST /echo answers the body it got. */
static int echo_post(weft_request_t *req, void *ctx)
{
    (void)ctx;
    size_t len = 0;
    const char *body = weft_request_body(req, &len);
    return weft_request_write(req, body, len);
}

/* GET /big writes 3 x 10000 bytes. */
static int big_get(weft_request_t *req, void *ctx)
{
    (void)ctx;
    char chunk[10000];
    for (int i = 0; i < 3; i++) {
        memset(chunk, 'a' + i, sizeof(chunk));
        int rc = weft_request_write(req, chunk, sizeof(chunk));
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* GET /info answers "path|arg a|arg b|header X-Test|client-known". */
static int info_get(weft_request_t *req, void *ctx)
{
    (void)ctx;
    char buf[512];
    const char *a = weft_request_arg(req, "a"), *b = weft_request_arg(req, "b");
    const char *x = weft_request_header(req, "x-test");
    snprintf(buf, sizeof(buf), "%s|%s|%s|%s|%s|%zu", weft_request_path(req), a ? a : "-",
             b ? b : "-", x ? x : "-",
             strncmp(weft_request_client(req), "127.0.0.1:", 10) == 0 ? "client" : "?",
             weft_request_arg_count(req));
    return weft_request_write(req, buf, strlen(buf));
}

static weft_resource_t *tree(void)
{
    weft_resource_t *root = weft_resource_new(NULL, NULL, NULL);
    weft_resource_t *later = weft_resource_new(NULL, NULL, NULL);
    weft_resource_t *now = weft_resource_new(NULL, NULL, NULL);
    weft_resource_t *echo = weft_resource_new(NULL, NULL, NULL);
    weft_resource_t *big = weft_resource_new(NULL, NULL, NULL);
    weft_resource_t *info = weft_resource_new(NULL, NULL, NULL);
    if (weft_resource_set_render(later, "GET", later_get) != 0 ||
        weft_resource_set_render(now, "GET", now_get) != 0 ||
        weft_resource_set_render(echo, "POST", echo_post) != 0 ||
        weft_resource_set_render(big, "GET", big_get) != 0 ||
        weft_resource_set_render(info, "GET", info_get) != 0 ||
        weft_resource_put_child(root, "later", later) != 0 ||
        weft_resource_put_child(root, "now", now) != 0 ||
        weft_resource_put_child(root, "echo", echo) != 0 ||
        weft_resource_put_child(root, "big", big) != 0 ||
        weft_resource_put_child(root, "info", info) != 0 ||
        weft_resource_put_child(root, "", th_text("home")) != 0)
        bail_out("tree");
    return root;
}

typedef th_fixture_t fixture_t;

static bool setup(fixture_t *f)
{
    return th_fixture_start(f, false, tree(), NULL);
}

static void teardown(fixture_t *f)
{
    th_fixture_end(f);
}

/* Finds needle in what the client received (not NUL-terminated). */
static const char *got(const fixture_t *f, const char *from, const char *needle)
{
    if (f->c.data == NULL)
        return NULL;
    if (from == NULL)
        from = f->c.data;
    return memmem(from, f->c.len - (size_t)(from - f->c.data), needle, strlen(needle));
}

static void send_str(fixture_t *f, const char *s)
{
    th_send_str(&f->c, s);
}

static void test_get(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    send_str(&f, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    if (check_int(th_wait(f.r, &f.c, false, 1, resp, 8), ==, 1)) {
        check_int(resp[0].status, ==, 200);
        check_str(resp[0].body, "home");
        check_str(th_header(&resp[0], "content-length"), "4");
        check(th_header(&resp[0], "date") != NULL);
        check(th_header(&resp[0], "connection") == NULL);
    }
    check_int(f.c.lost, ==, 0);
    teardown(&f);
}

static void test_pipelined(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    send_str(&f, "GET /later?n=1 HTTP/1.1\r\n\r\nGET /now?n=2 HTTP/1.1\r\n\r\n"
                 "GET /later?n=3 HTTP/1.1\r\n\r\nGET /now?n=4 HTTP/1.1\r\n\r\n");
    if (check_int(th_wait(f.r, &f.c, false, 4, resp, 8), ==, 4)) {
        for (int i = 0; i < 4; i++) {
            char want[4];
            snprintf(want, sizeof(want), "%d", i + 1);
            check_int(resp[i].status, ==, 200);
            check_str(resp[i].body, want);
        }
    }
    teardown(&f);
}

static void test_pipelined_one_write(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    /* One send, so one read on the server: the four answers are finished while it is
     * processed, and go out together. */
    send_str(&f, "GET /now?n=1 HTTP/1.1\r\n\r\nGET /now?n=2 HTTP/1.1\r\n\r\n"
                 "GET /now?n=3 HTTP/1.1\r\n\r\nGET /now?n=4 HTTP/1.1\r\n\r\n");
    if (check_int(th_wait(f.r, &f.c, false, 4, resp, 8), ==, 4))
        check_str(resp[3].body, "4");
    weft_site_stats_t st;
    weft_site_get_stats(f.s.site, &st);
    check_uint(st.requests, ==, 4);
    check_uint(st.writes, ==, 1);
    check_uint(st.bytes_sent, ==, f.c.len);
    /* An answer finished later (a delayed call) is written when it is finished. */
    send_str(&f, "GET /later?n=5 HTTP/1.1\r\n\r\n");
    check_int(th_wait(f.r, &f.c, false, 5, resp, 8), ==, 5);
    weft_site_get_stats(f.s.site, &st);
    check_uint(st.writes, ==, 2);
    teardown(&f);
}

static void test_pipelined_close_after_answers(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    send_str(&f, "GET /now?n=1 HTTP/1.1\r\n\r\n"
                 "GET /now?n=2 HTTP/1.1\r\nConnection: close\r\n\r\n"
                 "GET /now?n=3 HTTP/1.1\r\n\r\n");
    t_run_until_count(f.r, &f.c.lost, 1);
    if (check_int(th_parse(f.c.data, f.c.len, false, resp, 8), ==, 2)) {
        check_str(resp[0].body, "1");
        check_str(resp[1].body, "2");
        check_str(th_header(&resp[1], "connection"), "close");
    }
    teardown(&f);
}

static void test_continue_after_gathered_answers(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    send_str(&f, "GET /now?n=1 HTTP/1.1\r\n\r\n"
                 "POST /echo HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    /* The first answer, then the 100 Continue of the second request: in that order. */
    if (check_int(th_wait(f.r, &f.c, false, 2, resp, 8), ==, 2)) {
        check_int(resp[0].status, ==, 200);
        check_str(resp[0].body, "1");
        check_int(resp[1].status, ==, 100);
    }
    send_str(&f, "ping");
    if (check_int(th_wait(f.r, &f.c, false, 3, resp, 8), ==, 3))
        check_str(resp[2].body, "ping");
    teardown(&f);
}

static void test_keepalive_then_close(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    send_str(&f, "GET /now?n=a HTTP/1.1\r\n\r\n");
    check_int(th_wait(f.r, &f.c, false, 1, resp, 8), ==, 1);
    send_str(&f, "GET /now?n=b HTTP/1.1\r\n\r\n");
    check_int(th_wait(f.r, &f.c, false, 2, resp, 8), ==, 2);
    check_int(f.c.lost, ==, 0);
    send_str(&f, "GET /now?n=c HTTP/1.1\r\nConnection: close\r\n\r\n");
    t_run_until_count(f.r, &f.c.lost, 1);
    if (check_int(th_parse(f.c.data, f.c.len, false, resp, 8), ==, 3)) {
        check_str(resp[2].body, "c");
        check_str(th_header(&resp[2], "connection"), "close");
    }
    check_int(f.c.lost, ==, 1);
    teardown(&f);
}

static void test_http10(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    send_str(&f, "GET /now?n=x HTTP/1.0\r\n\r\n");
    t_run_until_count(f.r, &f.c.lost, 1);
    if (check_int(th_parse(f.c.data, f.c.len, false, resp, 8), ==, 1)) {
        check_str(resp[0].body, "x");
        check_str(th_header(&resp[0], "content-length"), "1");
    }
    check_int(f.c.lost, ==, 1);
    teardown(&f);
}

static void test_http10_keepalive(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    send_str(&f, "GET /now?n=x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    if (check_int(th_wait(f.r, &f.c, false, 1, resp, 8), ==, 1))
        check_str(th_header(&resp[0], "connection"), "keep-alive");
    check_int(f.c.lost, ==, 0);
    teardown(&f);
}

static void test_chunked_in(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    send_str(&f, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n");
    if (check_int(th_wait(f.r, &f.c, false, 1, resp, 8), ==, 1)) {
        check_int(resp[0].status, ==, 200);
        check_str(resp[0].body, "hello, world");
    }
    teardown(&f);
}

static void test_chunked_out(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    send_str(&f, "GET /big HTTP/1.1\r\n\r\nGET /now?n=after HTTP/1.1\r\n\r\n");
    if (check_int(th_wait(f.r, &f.c, false, 2, resp, 8), ==, 2)) {
        check(resp[0].chunked);
        check_str(th_header(&resp[0], "transfer-encoding"), "chunked");
        check_uint(resp[0].body_len, ==, 30000);
        check(resp[0].body[0] == 'a' && resp[0].body[10000] == 'b' && resp[0].body[29999] == 'c');
        check_str(resp[1].body, "after");
    }
    teardown(&f);
}

static void test_http10_streamed(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    send_str(&f, "GET /big HTTP/1.0\r\n\r\n");
    t_run_until_count(f.r, &f.c.lost, 1);
    const char *end = got(&f, NULL, "\r\n\r\n");
    if (check(end != NULL)) {
        check(got(&f, NULL, "Transfer-Encoding") == NULL);
        check(got(&f, NULL, "Content-Length") == NULL);
        check_uint(f.c.len - (size_t)(end + 4 - f.c.data), ==, 30000);
    }
    teardown(&f);
}

static void test_expect_continue(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    send_str(&f, "POST /echo HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    t_run_until_len(f.r, &f.c.len, 25);
    check(f.c.len >= 25 && memcmp(f.c.data, "HTTP/1.1 100 Continue\r\n\r\n", 25) == 0);
    send_str(&f, "ping");
    size_t before = f.c.len;
    t_run_until_len(f.r, &f.c.len, before + 20);
    if (check_int(th_parse(f.c.data + 25, f.c.len - 25, false, resp, 8), ==, 1))
        check_str(resp[0].body, "ping");
    teardown(&f);
}

static void test_head(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    send_str(&f, "HEAD / HTTP/1.1\r\n\r\nHEAD /big HTTP/1.1\r\n\r\n");
    if (check_int(th_wait(f.r, &f.c, true, 2, resp, 8), ==, 2)) {
        check_int(resp[0].status, ==, 200);
        check_str(th_header(&resp[0], "content-length"), "4");
        check_int(resp[1].status, ==, 200);
    }
    /* Nothing but the two heads arrived: no body bytes after either. */
    const char *second = got(&f, NULL, "\r\n\r\n");
    if (check(second != NULL)) {
        second += 4;
        check(strncmp(second, "HTTP/1.1 200", 12) == 0);
        const char *end = got(&f, second, "\r\n\r\n");
        check(end != NULL && (size_t)(end + 4 - f.c.data) == f.c.len);
    }
    teardown(&f);
}

static void test_info(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    send_str(&f, "GET /info?a=1%202&b=x+y&c HTTP/1.1\r\nX-TEST: yes\r\n\r\n");
    if (check_int(th_wait(f.r, &f.c, false, 1, resp, 8), ==, 1))
        check_str(resp[0].body, "/info|1 2|x y|yes|client|3");
    teardown(&f);
}

static const char script[] =
    "GET /now?n=1 HTTP/1.1\r\nHost: a\r\nX-Long-Header: "
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n"
    "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    "POST /echo HTTP/1.1\r\nContent-Length: 6\r\n\r\nfghijk"
    "GET /later?n=4 HTTP/1.1\r\n\r\n";

static void check_script(fixture_t *f)
{
    if (check_int(th_wait(f->r, &f->c, false, 4, resp, 8), ==, 4)) {
        check_str(resp[0].body, "1");
        check_str(resp[1].body, "abcde");
        check_str(resp[2].body, "fghijk");
        check_str(resp[3].body, "4");
    }
}

static void test_byte_by_byte(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    for (size_t i = 0; i < sizeof(script) - 1; i++) {
        th_send(&f.c, script + i, 1);
        t_run_once(f.r);
    }
    check_script(&f);
    teardown(&f);
}

static void test_random_splits(void)
{
    unsigned seed = 12345;
    for (int round = 0; round < 5; round++) {
        fixture_t f;
        if (!setup(&f))
            return;
        size_t off = 0, len = sizeof(script) - 1;
        while (off < len) {
            seed = seed * 1103515245u + 12345u;
            size_t n = 1 + (seed >> 16) % 17;
            if (n > len - off)
                n = len - off;
            th_send(&f.c, script + off, n);
            t_run_once(f.r);
            off += n;
        }
        check_script(&f);
        teardown(&f);
    }
}

int main(void)
{
    /* The site logs each closing reason at info; keep the TAP output quiet. */
    if (weft_log_set_component_level("http", WEFT_LOG_WARN) != 0)
        bail_out("log level");
    TEST(test_get(), "a GET answers 200 with Content-Length, Date and the body, and keeps the "
                     "connection open");
    TEST(test_pipelined(), "pipelined requests are answered in order, a later-finished one "
                           "before the quick one behind it");
    TEST(test_pipelined_one_write(), "answers to pipelined requests finished while one read is "
                                     "processed go out in one write; a later one on its own");
    TEST(test_pipelined_close_after_answers(),
         "pipelined answers gathered before a Connection: close all arrive, then the close");
    TEST(test_continue_after_gathered_answers(),
         "a 100 Continue goes out after the answers gathered before it");
    TEST(test_keepalive_then_close(), "a kept-alive connection serves several requests; "
                                      "Connection: close closes it after the answer");
    TEST(test_http10(), "an HTTP/1.0 request is answered with a Content-Length and closed");
    TEST(test_http10_keepalive(), "an HTTP/1.0 request with Connection: keep-alive stays open");
    TEST(test_chunked_in(), "a chunked request body reaches the render de-chunked");
    TEST(test_chunked_out(), "a response over the buffer goes out chunked and the next "
                             "pipelined answer follows it");
    TEST(test_http10_streamed(), "a long response to HTTP/1.0 is delimited by the close");
    TEST(test_expect_continue(), "Expect: 100-continue gets 100 Continue before the body is "
                                 "sent, then the answer");
    TEST(test_head(), "HEAD answers with GET's status and Content-Length and no body");
    TEST(test_info(), "query arguments are decoded, headers are found without case, the "
                      "client's address is known");
    TEST(test_byte_by_byte(), "requests fed byte by byte are parsed as when sent whole");
    TEST(test_random_splits(), "requests fed in seeded random splits are parsed as when sent "
                               "whole");
    return done_testing();
}
