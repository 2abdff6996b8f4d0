/* SPDX-License-Identifier: MIT */
/* White-box: the connection protocol of a site fed directly, whole, byte by byte (each byte
 * at the end of a guard-paged buffer, so a read past it faults) and in seeded random splits,
 * so the splits are exactly the ones chosen, not whatever TCP coalesced. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <weft/error.h>
#include <weft/log.h>
#include <weft/request.h>
#include <weft/resource.h>
#include <weft/site.h>

#include "../reactor/web/web-internal.h"
#include "helpers.h"
#include "http-helpers.h"
#include "net-helpers.h"
#include "tap.h"

static th_resp_t resp[8];

/* GET /huge answers 1 MiB. */
static int huge_renders;

static int huge(weft_request_t *req, void *ctx)
{
    (void)ctx;
    huge_renders++;
    static char chunk[65536];
    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 16; i++) {
        int rc = weft_request_write(req, chunk, sizeof(chunk));
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int echo(weft_request_t *req, void *ctx)
{
    if (strcmp(weft_request_path(req), "/huge") == 0)
        return huge(req, ctx);
    char buf[256];
    size_t len = 0;
    const char *body = weft_request_body(req, &len);
    const char *h = weft_request_header(req, "x-h");
    int n = snprintf(buf, sizeof(buf), "%s %s %s %.*s", weft_request_method(req),
                     weft_request_uri(req), h ? h : "-", (int)len, body);
    return weft_request_write(req, buf, (size_t)n);
}

static const char script[] = "GET /a?x=1 HTTP/1.1\r\nHost: h\r\nX-H: v1\r\n\r\n"
                             "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-H: v2\r\n\r\n"
                             "3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n"
                             "PUT /c HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                             "DELETE /d HTTP/1.1\r\nX-H:  spaced value \r\n\r\n";

static const char *want[4] = {"GET /a?x=1 v1 ", "POST /b v2 abc0123456789abcdef", "PUT /c - hello",
                              "DELETE /d spaced value "};

typedef struct {
    weft_reactor_t *r;
    th_server_t s;
    t_conn_t c;
    web_conn_t *conn;
} fixture_t;

static bool has_conn(void *arg)
{
    fixture_t *f = arg;
    return f->s.site->conns.next != &f->s.site->conns;
}

static bool setup(fixture_t *f)
{
    memset(f, 0, sizeof(*f));
    f->r = t_reactor(false);
    weft_resource_t *root = weft_resource_new(NULL, NULL, NULL);
    weft_resource_set_leaf(root, true);
    if (weft_resource_set_render(root, "GET", echo) != 0 ||
        weft_resource_set_render(root, "POST", echo) != 0 ||
        weft_resource_set_render(root, "PUT", echo) != 0 ||
        weft_resource_set_render(root, "DELETE", echo) != 0)
        bail_out("render");
    th_start(&f->s, f->r, root, NULL);
    if (!check(t_connect(f->r, f->s.port, &f->c)))
        return false;
    if (!check(t_run_until_fn(f->r, has_conn, f, 1000)))
        return false;
    f->conn = f->s.site->conns.next;
    return true;
}

static void feed(fixture_t *f, const char *data, size_t len)
{
    web_conn_ops()->data_received(f->conn, f->conn->t, data, len);
}

static void check_answers(fixture_t *f)
{
    if (check_int(th_wait(f->r, &f->c, false, 4, resp, 8), ==, 4)) {
        for (int i = 0; i < 4; i++) {
            check_int(resp[i].status, ==, 200);
            check_str(resp[i].body, want[i]);
        }
    }
}

static void teardown(fixture_t *f)
{
    th_teardown(f->r, &f->s, &f->c);
}

static void test_whole(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    feed(&f, script, sizeof(script) - 1);
    check_answers(&f);
    teardown(&f);
}

static void test_back_pressure(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    huge_renders = 0;
    weft_transport_pause_reading(f.c.t); /* a client that sends and does not read */
    for (int i = 0; i < 16; i++)
        th_send(&f.c, "GET /huge HTTP/1.1\r\n\r\n", 22);
    size_t most = 0;
    for (int i = 0; i < 400; i++) {
        (void)weft_reactor_run_once_nowait(f.r);
        size_t pending = weft_transport_pending(f.conn->t);
        if (pending > most)
            most = pending;
    }
    check_int(huge_renders, <, 16);
    check_uint(most, <=, (size_t)2 << 20); /* high-water mark + one answer, not 16 MiB */
    check_err(weft_transport_resume_reading(f.c.t), 0);
    size_t total = (size_t)16 << 20;
    t_run_until_len(f.r, &f.c.len, total + 16 * 100);
    check_int(huge_renders, ==, 16);
    check_int(th_parse(f.c.data, f.c.len, false, resp, 8), ==, 16); /* (8 kept) */
    teardown(&f);
}

static void test_byte_by_byte(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char *map =
        mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!check(map != MAP_FAILED))
        return;
    check_int(mprotect(map + page, (size_t)page, PROT_NONE), ==, 0);
    char *last = map + page - 1; /* the byte before the guard page */
    fixture_t f;
    if (setup(&f)) {
        for (size_t i = 0; i < sizeof(script) - 1; i++) {
            *last = script[i];
            feed(&f, last, 1);
        }
        check_answers(&f);
        teardown(&f);
    }
    munmap(map, (size_t)page * 2);
}

static void test_random_splits(void)
{
    for (unsigned seed = 1; seed <= 20; seed++) {
        fixture_t f;
        if (!setup(&f))
            return;
        unsigned x = seed;
        size_t off = 0, len = sizeof(script) - 1;
        while (off < len) {
            x = x * 1103515245u + 12345u;
            size_t n = 1 + (x >> 16) % 23;
            if (n > len - off)
                n = len - off;
            char *piece = malloc(n); /* exactly n bytes: ASan sees an over-read */
            memcpy(piece, script + off, n);
            feed(&f, piece, n);
            free(piece);
            off += n;
        }
        check_answers(&f);
        teardown(&f);
    }
}

int main(void)
{
    if (weft_log_set_component_level("http", WEFT_LOG_WARN) != 0)
        bail_out("log level");
    TEST(test_whole(), "four pipelined requests fed at once get their four answers in order");
    TEST(test_back_pressure(), "a client pipelining requests without reading holds the server "
                               "at one answer past the high-water mark; reading again gets "
                               "them all");
    TEST(test_byte_by_byte(), "the same requests fed one byte at a time, each at the end of a "
                              "guard-paged buffer, get the same answers");
    TEST(test_random_splits(), "the same requests fed in 20 seeded random splits get the same "
                               "answers");
    return done_testing();
}
