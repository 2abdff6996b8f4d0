/* SPDX-License-Identifier: MIT */
/* HTTP lifetimes: what an idle kept-alive connection keeps, a request finished from its
 * notify_finish errback when the client leaves, a get_child resource returning itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <stdint.h>
#include <unistd.h>

#include <weft/deferred.h>
#include <weft/error.h>
#include <weft/failure.h>
#include <weft/log.h>
#include <weft/request.h>
#include <weft/resource.h>
#include <weft/site.h>
#include <weft/web-file.h>

#include "helpers.h"
#include "http-helpers.h"
#include "net-helpers.h"
#include "tap.h"

static th_resp_t resp[8];
static char dir[64];

typedef th_fixture_t fixture_t;

static void send_str(fixture_t *f, const char *s)
{
    th_send_str(&f->c, s);
}

static void setup(fixture_t *f, weft_resource_t *root)
{
    if (!th_fixture_start(f, false, root, NULL))
        bail_out("connect");
}

static void teardown(fixture_t *f)
{
    th_fixture_end(f);
}

/* ---------------------------------------------------------------- get_child returning itself */

static int self_get(weft_request_t *req, void *ctx)
{
    (void)ctx;
    const char *pp = weft_request_postpath(req);
    int rc = weft_request_write(req, "self", 4);
    (void)pp;
    return rc;
}

/* Twisted's catch-all idiom: getChild returns self. */
static weft_resource_t *self_child(weft_resource_t *res, const char *name, weft_request_t *req,
                                   void *ctx)
{
    (void)name;
    (void)req;
    (void)ctx;
    return res;
}

static int made_fresh;

static void fresh_free(void *p)
{
    (void)p;
    made_fresh--;
}

/* The root makes a fresh (parentless) catch-all for any segment. */
static weft_resource_t *fresh_child(weft_resource_t *res, const char *name, weft_request_t *req,
                                    void *ctx)
{
    (void)res;
    (void)name;
    (void)req;
    (void)ctx;
    weft_resource_t *c = weft_resource_new(&made_fresh, fresh_free, NULL);
    if (c == NULL || weft_resource_set_render(c, "GET", self_get) != 0)
        bail_out("fresh");
    made_fresh++;
    weft_resource_set_get_child(c, self_child);
    return c;
}

static void test_dynamic_self(void)
{
    weft_resource_t *root = weft_resource_new(NULL, NULL, NULL);
    if (root == NULL)
        bail_out("root");
    weft_resource_set_get_child(root, fresh_child);
    fixture_t f;
    setup(&f, root);
    send_str(&f, "GET /a HTTP/1.1\r\n\r\n"
                 "GET /a/b/c HTTP/1.1\r\n\r\n");
    if (check_int(th_wait(f.r, &f.c, false, 2, resp, 8), ==, 2)) {
        check_int(resp[0].status, ==, 200);
        check_int(resp[1].status, ==, 200); /* 500 here: "another request holds" it */
        check_str(resp[1].body, "self");
    }
    check_int(made_fresh, ==, 0);
    teardown(&f);
}

/* ---------------------------------------------------------------- memory an idle connection keeps
 */

static int tiny_get(weft_request_t *req, void *ctx)
{
    (void)ctx;
    return weft_request_write(req, "x", 1);
}

static int big30_get(weft_request_t *req, void *ctx)
{
    (void)ctx;
    static char body[30000];
    memset(body, 'b', sizeof(body));
    return weft_request_write(req, body, sizeof(body));
}

static uint64_t answered;

static bool all_answered(void *arg)
{
    weft_site_stats_t st;
    weft_site_get_stats(((fixture_t *)arg)->s.site, &st);
    return st.responses[2] >= answered;
}

#define IDLE_CONNS 64

static void test_idle_memory(void)
{
    weft_resource_t *root = weft_resource_new(NULL, NULL, NULL);
    weft_resource_t *tiny = weft_resource_new(NULL, NULL, NULL);
    weft_resource_t *big = weft_resource_new(NULL, NULL, NULL);
    if (root == NULL || tiny == NULL || big == NULL ||
        weft_resource_set_render(tiny, "GET", tiny_get) != 0 ||
        weft_resource_set_render(big, "GET", big30_get) != 0 ||
        weft_resource_put_child(root, "tiny", tiny) != 0 ||
        weft_resource_put_child(root, "big", big) != 0)
        bail_out("tree");
    fixture_t f;
    setup(&f, root);
    int fds[IDLE_CONNS];
    static const char get_tiny[] = "GET /tiny HTTP/1.1\r\n\r\n";
    static const char get_big[] = "GET /big HTTP/1.1\r\n\r\n";
    for (int i = 0; i < IDLE_CONNS; i++) {
        fds[i] = t_dial(f.s.port);
        if (fds[i] < 0 || write(fds[i], get_tiny, sizeof(get_tiny) - 1) < 0)
            bail_out("dial");
    }
    answered = IDLE_CONNS;
    check(t_run_until_fn(f.r, all_answered, &f, 5000));
    size_t before = mallinfo2().uordblks;
    for (int i = 0; i < IDLE_CONNS; i++) {
        if (write(fds[i], get_big, sizeof(get_big) - 1) < 0)
            bail_out("write");
    }
    answered = 2 * IDLE_CONNS;
    check(t_run_until_fn(f.r, all_answered, &f, 5000));
    size_t after = mallinfo2().uordblks;
    size_t per_conn = after > before ? (after - before) / IDLE_CONNS : 0;
    diag("heap kept per idle connection after one 30000-byte answer: %zu bytes", per_conn);
    check_uint(per_conn, <, 8192); /* about 64 KiB: its answer, twice (c->out and the cork) */
    for (int i = 0; i < IDLE_CONNS; i++)
        close(fds[i]);
    teardown(&f);
}

/* ---------------------------------------------------------------- notify_finish's errback finishes
 */

static int nf_lost_runs;

static weft_result_t nf_lost(weft_failure_t *fl, void *arg)
{
    weft_failure_free(fl);
    nf_lost_runs++;
    check_err(weft_request_finish(arg), 0); /* releases (here: frees) the request */
    return weft_ok(NULL, NULL);
}

static int nf_render(weft_request_t *req, void *ctx)
{
    (void)ctx;
    int err = 0;
    weft_deferred_t *d = weft_request_notify_finish(req, &err);
    if (d == NULL || weft_deferred_add_errback(d, nf_lost, req) != 0)
        bail_out("notify_finish");
    weft_deferred_unref(d);
    return WEFT_NOT_DONE_YET;
}

static void test_notify_finish_on_loss(void)
{
    weft_resource_t *root = weft_resource_new(NULL, NULL, NULL);
    weft_resource_t *nf = weft_resource_new(NULL, NULL, NULL);
    if (root == NULL || nf == NULL || weft_resource_set_render(nf, "POST", nf_render) != 0 ||
        weft_resource_put_child(root, "nf", nf) != 0)
        bail_out("tree");
    fixture_t f;
    setup(&f, root);
    /* A body past the recycling limit (16 KiB): the released request is freed, not kept. */
    static char req[20100];
    int n = snprintf(req, sizeof(req), "POST /nf HTTP/1.1\r\nContent-Length: 20000\r\n\r\n");
    memset(req + n, 'p', 20000);
    th_send(&f.c, req, (size_t)n + 20000);
    weft_site_stats_t st;
    for (int i = 0; i < 200; i++) {
        weft_site_get_stats(f.s.site, &st);
        if (st.in_flight == 1)
            break;
        t_run_once(f.r);
    }
    check_uint(st.in_flight, ==, 1);
    weft_transport_abort_connection(f.c.t); /* the client leaves: the errback finishes */
    t_run_until_count(f.r, &nf_lost_runs, 1);
    check_int(nf_lost_runs, ==, 1);
    teardown(&f);
}

int main(void)
{
    if (weft_log_set_component_level("http", WEFT_LOG_WARN) != 0)
        bail_out("log level");
    (void)dir;
    TEST(test_dynamic_self(), "a get_child-made resource whose get_child returns itself (Twisted's "
                              "catch-all) answers deeper paths, not 500");
    TEST(test_idle_memory(), "an idle kept-alive connection does not keep the buffers of its last "
                             "answer");
    TEST(test_notify_finish_on_loss(),
         "a notify_finish errback that finishes the request when "
         "the client leaves (web_request_client_gone: no use after free)");
    return done_testing();
}
