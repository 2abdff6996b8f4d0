/* SPDX-License-Identifier: MIT */
/* Resources on a site: the tree (404, 405 with Allow, leaves, dynamic children), renders that
 * wait on a pool job (and a client that leaves meanwhile), the File resource (Range,
 * If-Modified-Since), the metrics resource and the access log. */
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <weft/bridge.h>
#include <weft/error.h>
#include <weft/log.h>
#include <weft/request.h>
#include <weft/resource.h>
#include <weft/site.h>
#include <weft/web-file.h>
#include <weft/web-metrics.h>

#include "helpers.h"
#include "http-helpers.h"
#include "net-helpers.h"
#include "tap.h"

static th_resp_t resp[8];
static char dir[64];

/* ---------------------------------------------------------------- renders */

static int leaf_get(weft_request_t *req, void *ctx)
{
    (void)ctx;
    const char *p = weft_request_postpath(req);
    return weft_request_write(req, p, strlen(p));
}

static int failing_get(weft_request_t *req, void *ctx)
{
    (void)ctx;
    (void)req;
    return WEFT_EIO;
}

static int code_get(weft_request_t *req, void *ctx)
{
    (void)ctx;
    int rc = weft_request_set_response_code(req, 201);
    if (rc == 0)
        rc = weft_request_set_header(req, "X-Made", "yes");
    if (rc == 0)
        rc = weft_request_write(req, "made", 4);
    if (rc == 0)
        weft_request_finish(req);
    return rc;
}

/* /job: waits on a gated pool job, then answers (or sees its client gone). */
static sem_t job_started, job_open;
static int renders, job_done, job_write_rc, job_saw_gone, notify_ok, notify_lost;

static weft_result_t gated(void *arg)
{
    (void)arg;
    sem_post(&job_started);
    while (sem_wait(&job_open) != 0)
        ;
    return weft_ok(NULL, NULL);
}

static weft_result_t job_cb(void *value, weft_free_fn free_fn, void *arg)
{
    (void)value;
    (void)free_fn;
    weft_request_t *req = arg;
    job_saw_gone = weft_request_is_gone(req);
    job_write_rc = weft_request_write(req, "late", 4);
    weft_request_finish(req);
    job_done++;
    return weft_ok(NULL, NULL);
}

static weft_result_t notify_cb(void *value, weft_free_fn free_fn, void *arg)
{
    (void)value;
    (void)free_fn;
    (void)arg;
    notify_ok++;
    return weft_ok(NULL, NULL);
}

static weft_result_t notify_eb(weft_failure_t *f, void *arg)
{
    (void)arg;
    if (weft_failure_is(f, &weft_connection_lost_type))
        notify_lost++;
    weft_failure_free(f);
    return weft_ok(NULL, NULL);
}

static int job_get(weft_request_t *req, void *ctx)
{
    (void)ctx;
    renders++;
    weft_deferred_t *n = weft_request_notify_finish(req, NULL);
    if (n == NULL || weft_deferred_add_callbacks(n, notify_cb, NULL, notify_eb, NULL) != 0)
        return WEFT_ENOMEM;
    weft_deferred_unref(n);
    weft_deferred_t *d = weft_defer_to_thread(weft_request_reactor(req), gated, NULL, NULL, NULL);
    if (d == NULL || weft_deferred_add_callback(d, job_cb, req) != 0)
        return WEFT_ENOMEM;
    weft_deferred_unref(d);
    return WEFT_NOT_DONE_YET;
}

static int frees;
static void count_free(void *p)
{
    (void)p;
    frees++;
}

static weft_resource_t *tree(void)
{
    weft_resource_t *root = weft_resource_new(NULL, NULL, NULL);
    weft_resource_t *leaf = weft_resource_new(NULL, NULL, NULL);
    weft_resource_t *fail = weft_resource_new(NULL, NULL, NULL);
    weft_resource_t *code = weft_resource_new(NULL, NULL, NULL);
    weft_resource_t *job = weft_resource_new(NULL, NULL, NULL);
    weft_resource_t *files = weft_file_resource_new(dir, 0, NULL);
    weft_resource_t *metrics = weft_metrics_resource_new(NULL);
    weft_resource_t *post_only = weft_resource_new(NULL, NULL, NULL);
    weft_resource_set_leaf(leaf, true);
    if (files == NULL || metrics == NULL || weft_resource_set_render(leaf, "GET", leaf_get) != 0 ||
        weft_resource_set_render(fail, "GET", failing_get) != 0 ||
        weft_resource_set_render(code, "GET", code_get) != 0 ||
        weft_resource_set_render(job, "GET", job_get) != 0 ||
        weft_resource_set_render(post_only, "POST", leaf_get) != 0 ||
        weft_resource_set_render(post_only, "PUT", leaf_get) != 0 ||
        weft_resource_put_child(root, "text", th_text("text")) != 0 ||
        weft_resource_put_child(root, "leaf", leaf) != 0 ||
        weft_resource_put_child(root, "fail", fail) != 0 ||
        weft_resource_put_child(root, "code", code) != 0 ||
        weft_resource_put_child(root, "job", job) != 0 ||
        weft_resource_put_child(root, "static", files) != 0 ||
        weft_resource_put_child(root, "metrics", metrics) != 0 ||
        weft_resource_put_child(root, "post", post_only) != 0)
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

static void send_str(fixture_t *f, const char *s)
{
    th_send_str(&f->c, s);
}

/* ---------------------------------------------------------------- tests */

static void test_tree(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    send_str(&f, "GET /nothing HTTP/1.1\r\n\r\n"
                 "GET /text HTTP/1.1\r\n\r\n"
                 "GET /text/deeper HTTP/1.1\r\n\r\n"
                 "GET /leaf/a/b%20c HTTP/1.1\r\n\r\n"
                 "GET /leaf HTTP/1.1\r\n\r\n"
                 "GET / HTTP/1.1\r\n\r\n");
    if (check_int(th_wait(f.r, &f.c, false, 6, resp, 8), ==, 6)) {
        check_int(resp[0].status, ==, 404);
        check_int(resp[1].status, ==, 200);
        check_str(resp[1].body, "text");
        check_int(resp[2].status, ==, 404);
        check_str(resp[3].body, "/a/b c");
        check_int(resp[4].status, ==, 200);
        check_str(resp[4].body, "");
        check_int(resp[5].status, ==, 404);
    }
    teardown(&f);
}

static void test_405(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    send_str(&f, "POST /text HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET /post HTTP/1.1\r\n\r\n");
    if (check_int(th_wait(f.r, &f.c, false, 2, resp, 8), ==, 2)) {
        check_int(resp[0].status, ==, 405);
        check_str(th_header(&resp[0], "allow"), "GET, HEAD");
        check_int(resp[1].status, ==, 405);
        check_str(th_header(&resp[1], "allow"), "POST, PUT");
    }
    check_int(f.c.lost, ==, 0);
    teardown(&f);
}

static void test_render_error_and_code(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    send_str(&f, "GET /fail HTTP/1.1\r\n\r\nGET /code HTTP/1.1\r\n\r\n");
    if (check_int(th_wait(f.r, &f.c, false, 2, resp, 8), ==, 2)) {
        check_int(resp[0].status, ==, 500);
        check_int(resp[1].status, ==, 201);
        check_str(th_header(&resp[1], "x-made"), "yes");
        check_str(resp[1].body, "made");
    }
    teardown(&f);
}

static void test_resource_api(void)
{
    int err = 0;
    frees = 0;
    weft_resource_t *root = weft_resource_new(NULL, NULL, &err);
    weft_resource_t *a = weft_resource_new(&frees, count_free, &err);
    weft_resource_t *b = weft_resource_new(&frees, count_free, &err);
    check_err(weft_resource_put_child(root, "x", a), 0);
    check_ptr(weft_resource_get_child(root, "x"), ==, a);
    check_ptr(weft_resource_get_child(root, "y"), ==, NULL);
    check_ptr(weft_resource_ctx(a), ==, &frees);
    check_err(weft_resource_put_child(root, "x", b), 0); /* replaces and frees a */
    check_int(frees, ==, 1);
    check_ptr(weft_resource_get_child(root, "x"), ==, b);
    check_err(weft_resource_put_child(root, "a/b", weft_resource_new(NULL, NULL, NULL)),
              WEFT_EINVAL);
    check_err(weft_resource_set_render(root, "A-METHOD-TOO-LONG", leaf_get), WEFT_EINVAL);
    weft_resource_free(root);
    check_int(frees, ==, 2);
}

/* ---------------------------------------------------------------- dynamic children */

static int dyn_made, dyn_freed, dyn_calls, dyn_leaf_calls;
static char dyn_names[256];
static weft_request_t *dyn_held;
static weft_resource_t *dyn_shared; /* handed out by "shared", parentless */

static void dyn_free(void *p)
{
    free(p);
    dyn_freed++;
}

/* Renders "dyn:<name>" (the name is the resource's ctx). */
static int dyn_get(weft_request_t *req, void *ctx)
{
    char buf[128];
    int n = snprintf(buf, sizeof(buf), "dyn:%s", (const char *)ctx);
    return weft_request_write(req, buf, (size_t)n);
}

/* Holds the request unanswered: the test finishes it. */
static int dyn_hold(weft_request_t *req, void *ctx)
{
    (void)ctx;
    dyn_held = req;
    return WEFT_NOT_DONE_YET;
}

/* A get_child in Twisted's style: "no..." is a 404, "hold" a render that answers later,
 * "tree" a resource with a static child "s" and a get_child of its own, anything else a new
 * resource rendering its name; "borrow" lends the static child "static". */
static weft_resource_t *dyn_child(weft_resource_t *res, const char *name, weft_request_t *req,
                                  void *ctx)
{
    (void)ctx;
    (void)req;
    dyn_calls++;
    snprintf(dyn_names + strlen(dyn_names), sizeof(dyn_names) - strlen(dyn_names), "[%s]", name);
    if (strncmp(name, "no", 2) == 0)
        return NULL;
    if (strcmp(name, "borrow") == 0)
        return weft_resource_get_child(res, "static");
    if (strcmp(name, "shared") == 0)
        return dyn_shared;
    char *copy = strdup(name);
    weft_resource_t *child = weft_resource_new(copy, dyn_free, NULL);
    if (child == NULL)
        return NULL;
    dyn_made++;
    int rc = weft_resource_set_render(child, "GET", strcmp(name, "hold") == 0 ? dyn_hold : dyn_get);
    if (rc == 0 && strcmp(name, "tree") == 0) {
        rc = weft_resource_put_child(child, "s", th_text("static under dynamic"));
        weft_resource_set_get_child(child, dyn_child);
    }
    if (rc != 0)
        bail_out("dyn_child");
    return child;
}

static weft_resource_t *dyn_leaf_child(weft_resource_t *res, const char *name, weft_request_t *req,
                                       void *ctx)
{
    (void)res;
    (void)name;
    (void)req;
    (void)ctx;
    dyn_leaf_calls++;
    return NULL;
}

static weft_resource_t *dyn_tree(void)
{
    weft_resource_t *root = weft_resource_new(NULL, NULL, NULL);
    weft_resource_t *leaf = weft_resource_new(NULL, NULL, NULL);
    if (root == NULL || leaf == NULL || weft_resource_set_render(leaf, "GET", leaf_get) != 0)
        bail_out("dyn_tree");
    weft_resource_set_leaf(leaf, true);
    weft_resource_set_get_child(leaf, dyn_leaf_child);
    weft_resource_set_get_child(root, dyn_child);
    if (weft_resource_put_child(root, "static", th_text("static")) != 0 ||
        weft_resource_put_child(root, "leaf", leaf) != 0)
        bail_out("dyn_tree");
    dyn_made = dyn_freed = dyn_calls = dyn_leaf_calls = 0;
    dyn_names[0] = '\0';
    dyn_held = NULL;
    return root;
}

static void dyn_setup(fixture_t *f)
{
    memset(f, 0, sizeof(*f));
    f->r = t_reactor(false);
    th_start(&f->s, f->r, dyn_tree(), NULL);
    if (!t_connect(f->r, f->s.port, &f->c))
        bail_out("connect");
}

static void test_get_child(void)
{
    fixture_t f;
    dyn_setup(&f);
    send_str(&f, "GET /static HTTP/1.1\r\n\r\n"
                 "GET /x%20y HTTP/1.1\r\n\r\n"
                 "GET /nothing HTTP/1.1\r\n\r\n"
                 "GET /borrow HTTP/1.1\r\n\r\n");
    if (check_int(th_wait(f.r, &f.c, false, 4, resp, 8), ==, 4)) {
        check_int(resp[0].status, ==, 200);
        check_str(resp[0].body, "static");
        check_int(resp[1].status, ==, 200);
        check_str(resp[1].body, "dyn:x y");
        check_int(resp[2].status, ==, 404);
        check_int(resp[3].status, ==, 200);
        check_str(resp[3].body, "static");
    }
    check_str(dyn_names, "[x y][nothing][borrow]"); /* never asked for "static" */
    check_int(dyn_made, ==, 1);
    check_int(dyn_freed, ==, 1); /* freed with its request */
    teardown(&f);
}

static void test_get_child_segments(void)
{
    fixture_t f;
    dyn_setup(&f);
    send_str(&f, "GET / HTTP/1.1\r\n\r\n"
                 "GET /a/ HTTP/1.1\r\n\r\n"
                 "GET /tree/ HTTP/1.1\r\n\r\n"
                 "GET /tree/s HTTP/1.1\r\n\r\n"
                 "GET /tree/deeper HTTP/1.1\r\n\r\n"
                 "GET /leaf/x/y HTTP/1.1\r\n\r\n"
                 "GET /no/x HTTP/1.1\r\n\r\n");
    if (check_int(th_wait(f.r, &f.c, false, 7, resp, 8), ==, 7)) {
        check_int(resp[0].status, ==, 200);
        check_str(resp[0].body, "dyn:");    /* "/" asks the root for "" */
        check_int(resp[1].status, ==, 404); /* "/a/": a has no child "" and no get_child */
        check_int(resp[2].status, ==, 200);
        check_str(resp[2].body, "dyn:"); /* "/tree/": tree's get_child for "" */
        check_int(resp[3].status, ==, 200);
        check_str(resp[3].body, "static under dynamic");
        check_int(resp[4].status, ==, 200);
        check_str(resp[4].body, "dyn:deeper");
        check_int(resp[5].status, ==, 200);
        check_str(resp[5].body, "/x/y");
        check_int(resp[6].status, ==, 404);
    }
    check_str(dyn_names, "[][a][tree][][tree][tree][deeper][no]");
    check_int(dyn_leaf_calls, ==, 0); /* a leaf renders the rest itself */
    check_int(dyn_made, ==, 7);
    check_int(dyn_freed, ==, dyn_made);
    teardown(&f);
}

static bool held(void *arg)
{
    (void)arg;
    return dyn_held != NULL;
}

static bool gone_counted(void *arg)
{
    weft_site_stats_t st;
    weft_site_get_stats(((fixture_t *)arg)->s.site, &st);
    return st.clients_gone == 1;
}

static void test_get_child_held(void)
{
    fixture_t f;
    dyn_setup(&f);
    send_str(&f, "GET /hold HTTP/1.1\r\n\r\n");
    check(t_run_until_fn(f.r, held, NULL, 1000));
    check_int(dyn_made, ==, 1);
    check_int(dyn_freed, ==, 0); /* in use while the request waits */
    weft_transport_abort_connection(f.c.t);
    check(t_run_until_fn(f.r, gone_counted, &f, 1000));
    check_int(dyn_freed, ==, 0); /* the request is not finished yet */
    check(weft_request_is_gone(dyn_held));
    check_err(weft_request_finish(dyn_held), 0);
    check_int(dyn_freed, ==, 1);
    teardown(&f);
}

static void test_get_child_shared(void)
{
    fixture_t f;
    dyn_setup(&f);
    dyn_shared = weft_resource_new(strdup("shared"), dyn_free, NULL);
    if (dyn_shared == NULL || weft_resource_set_render(dyn_shared, "GET", dyn_hold) != 0)
        bail_out("shared");
    t_conn_t c2;
    memset(&c2, 0, sizeof(c2));
    if (!t_connect(f.r, f.s.port, &c2))
        bail_out("connect");
    send_str(&f, "GET /shared HTTP/1.1\r\n\r\n");
    check(t_run_until_fn(f.r, held, NULL, 1000));
    weft_request_t *first = dyn_held;
    dyn_held = NULL;
    const char second[] = "GET /shared HTTP/1.1\r\n\r\n";
    th_send(&c2, second, sizeof(second) - 1);
    th_resp_t r2[1];
    if (check_int(th_wait(f.r, &c2, false, 1, r2, 1), ==, 1))
        check_int(r2[0].status, ==, 500);
    check_ptr(dyn_held, ==, NULL); /* the second request never rendered */
    check_int(dyn_freed, ==, 0);
    check_err(weft_request_finish(first), 0);
    check_int(dyn_freed, ==, 1); /* the first request took it, and freed it */
    dyn_shared = NULL;
    weft_transport_lose_connection(c2.t);
    t_run_until_count(f.r, &c2.lost, 1);
    t_conn_reset(&c2);
    teardown(&f);
}

static bool job_is_done(void *arg)
{
    (void)arg;
    return job_done == 1;
}

static bool rendered(void *arg)
{
    (void)arg;
    return renders == 1;
}

static bool lost_seen(void *arg)
{
    (void)arg;
    return notify_lost == 1;
}

static void test_pool_render(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    renders = job_done = notify_ok = notify_lost = 0;
    sem_init(&job_started, 0, 0);
    sem_init(&job_open, 0, 0);
    sem_post(&job_open);
    send_str(&f, "GET /job HTTP/1.1\r\n\r\n");
    if (check_int(th_wait(f.r, &f.c, false, 1, resp, 8), ==, 1)) {
        check_int(resp[0].status, ==, 200);
        check_str(resp[0].body, "late");
    }
    check_int(notify_ok, ==, 1);
    check_int(job_write_rc, ==, 0);
    teardown(&f);
    sem_destroy(&job_started);
    sem_destroy(&job_open);
}

static void test_client_gone(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    renders = job_done = notify_ok = notify_lost = 0;
    job_saw_gone = 0;
    sem_init(&job_started, 0, 0);
    sem_init(&job_open, 0, 0);
    send_str(&f, "GET /job HTTP/1.1\r\n\r\n");
    t_run_until_fn(f.r, rendered, NULL, 1000);
    while (sem_wait(&job_started) != 0)
        ;
    weft_transport_abort_connection(f.c.t);
    t_run_until_fn(f.r, lost_seen, NULL, 1000);
    check_int(notify_lost, ==, 1);
    check_int(job_done, ==, 0);
    sem_post(&job_open);
    t_run_until_fn(f.r, job_is_done, NULL, 1000);
    check_int(job_done, ==, 1);
    check_int(job_saw_gone, ==, 1);
    check_err(job_write_rc, WEFT_ECLOSED);
    check_int(notify_ok, ==, 0);
    weft_site_stats_t st;
    weft_site_get_stats(f.s.site, &st);
    check_uint(st.clients_gone, ==, 1);
    check_uint(st.in_flight, ==, 0);
    teardown(&f);
    sem_destroy(&job_started);
    sem_destroy(&job_open);
}

static void make_file(void)
{
    snprintf(dir, sizeof(dir), "/tmp/weft-t72-XXXXXX");
    if (mkdtemp(dir) == NULL)
        bail_out("mkdtemp");
    char path[128];
    snprintf(path, sizeof(path), "%s/hello.txt", dir);
    FILE *fp = fopen(path, "w");
    if (fp == NULL)
        bail_out("fopen");
    fputs("0123456789abcdef", fp);
    fclose(fp);
    struct timeval tv[2] = {{1000000000, 0}, {1000000000, 0}}; /* Sun, 09 Sep 2001 01:46:40 */
    utimes(path, tv);
    snprintf(path, sizeof(path), "%s/sub", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/sub/index.html", dir);
    fp = fopen(path, "w");
    if (fp == NULL)
        bail_out("fopen");
    fputs("<p>index</p>", fp);
    fclose(fp);
}

static void remove_file(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    char out[64];
    t_sh(out, sizeof(out), "%s", cmd);
}

static void test_file(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    send_str(&f, "GET /static/hello.txt HTTP/1.1\r\n\r\n"
                 "GET /static/hello.txt HTTP/1.1\r\nRange: bytes=2-5\r\n\r\n"
                 "GET /static/hello.txt HTTP/1.1\r\nRange: bytes=-3\r\n\r\n"
                 "GET /static/hello.txt HTTP/1.1\r\nRange: bytes=20-\r\n\r\n"
                 "GET /static/missing.txt HTTP/1.1\r\n\r\n"
                 "GET /static/../hello.txt HTTP/1.1\r\n\r\n"
                 "GET /static/sub/ HTTP/1.1\r\n\r\n");
    if (check_int(th_wait(f.r, &f.c, false, 7, resp, 8), ==, 7)) {
        check_int(resp[0].status, ==, 200);
        check_str(resp[0].body, "0123456789abcdef");
        check_str(th_header(&resp[0], "content-type"), "text/plain; charset=utf-8");
        check_str(th_header(&resp[0], "last-modified"), "Sun, 09 Sep 2001 01:46:40 GMT");
        check_str(th_header(&resp[0], "accept-ranges"), "bytes");
        check_int(resp[1].status, ==, 206);
        check_str(resp[1].body, "2345");
        check_str(th_header(&resp[1], "content-range"), "bytes 2-5/16");
        check_int(resp[2].status, ==, 206);
        check_str(resp[2].body, "def");
        check_int(resp[3].status, ==, 416);
        check_str(th_header(&resp[3], "content-range"), "bytes */16");
        check_int(resp[4].status, ==, 404);
        check_int(resp[5].status, ==, 404);
        check_int(resp[6].status, ==, 200);
        check_str(resp[6].body, "<p>index</p>");
    }
    teardown(&f);
}

static void test_file_ims(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    send_str(&f, "GET /static/hello.txt HTTP/1.1\r\n"
                 "If-Modified-Since: Sun, 09 Sep 2001 01:46:40 GMT\r\n\r\n"
                 "GET /static/hello.txt HTTP/1.1\r\n"
                 "If-Modified-Since: Sun, 09 Sep 2001 01:46:39 GMT\r\n\r\n");
    if (check_int(th_wait(f.r, &f.c, false, 2, resp, 8), ==, 2)) {
        check_int(resp[0].status, ==, 304);
        check_uint(resp[0].body_len, ==, 0);
        check_int(resp[1].status, ==, 200);
        check_str(resp[1].body, "0123456789abcdef");
    }
    teardown(&f);
}

static void test_file_head(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    send_str(&f, "HEAD /static/hello.txt HTTP/1.1\r\n\r\n");
    if (check_int(th_wait(f.r, &f.c, true, 1, resp, 8), ==, 1)) {
        check_int(resp[0].status, ==, 200);
        check_str(th_header(&resp[0], "content-length"), "16");
    }
    /* Nothing past the head. */
    check(f.c.len >= 4 && memcmp(f.c.data + f.c.len - 4, "\r\n\r\n", 4) == 0);
    teardown(&f);
}

static void test_metrics(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    send_str(&f, "GET /text HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n");
    if (check_int(th_wait(f.r, &f.c, false, 2, resp, 8), ==, 2)) {
        check_int(resp[1].status, ==, 200);
        check_str(th_header(&resp[1], "content-type"), "text/plain; version=0.0.4");
        check(strstr(resp[1].body, "weft_http_requests_total 2\n") != NULL);
        check(strstr(resp[1].body, "weft_http_responses_total{code=\"2xx\"} 1\n") != NULL);
        check(strstr(resp[1].body, "weft_loop_lag_seconds{stat=\"max\"}") != NULL);
        check(strstr(resp[1].body,
                     "weft_pool_queue_wait_seconds{pool=\"cpu\",quantile=\"0.99\"}") != NULL);
        check(strstr(resp[1].body, "weft_pool_run_time_seconds_count{pool=\"io\"}") != NULL);
        check(strstr(resp[1].body, "weft_http_connections_open 1\n") != NULL);
    }
    teardown(&f);
}

static char access_line[512];
static int access_lines;

static void capture(const weft_log_record_t *rec, void *arg)
{
    (void)arg;
    if (strcmp(rec->component, "access") == 0) {
        snprintf(access_line, sizeof(access_line), "%s", rec->message);
        access_lines++;
    }
}

static void test_access_log(void)
{
    weft_reactor_t *r = t_reactor(false);
    th_server_t s;
    weft_site_options_t o;
    weft_site_options_init(&o);
    o.access_log = true;
    th_start(&s, r, tree(), &o);
    t_conn_t c;
    memset(&c, 0, sizeof(c));
    access_lines = 0;
    weft_log_set_sink(capture, NULL);
    if (check(t_connect(r, s.port, &c))) {
        th_send(&c, "GET /text?q=1 HTTP/1.1\r\n\r\n", 26);
        check_int(th_wait(r, &c, false, 1, resp, 8), ==, 1);
        weft_transport_lose_connection(c.t);
        t_run_until_count(r, &c.lost, 1);
    }
    weft_log_set_sink(NULL, NULL);
    check_int(access_lines, ==, 1);
    check(strncmp(access_line, "127.0.0.1 - - [", 15) == 0);
    check(strstr(access_line, "] \"GET /text?q=1 HTTP/1.1\" 200 4") != NULL);
    check(th_stop(&s));
    t_conn_reset(&c);
    check(t_teardown(r));
}

int main(void)
{
    if (weft_log_set_component_level("http", WEFT_LOG_WARN) != 0)
        bail_out("log level");
    make_file();
    TEST(test_tree(), "paths walk the tree by segment: a missing child is 404, a leaf renders "
                      "the rest of the path, / is the child \"\"");
    TEST(test_405(), "a method without a render gets 405 with an Allow header naming those "
                     "there are, and the connection stays open");
    TEST(test_render_error_and_code(), "a render returning an error gets 500; response code "
                                       "and headers set by the render are sent");
    TEST(test_resource_api(), "put_child takes the child and replaces (frees) an earlier one; "
                              "get_child finds it; bad names and methods are refused");
    TEST(test_get_child(), "get_child answers a segment without a static child (static "
                           "children win); NULL is a 404; a child it lends stays in its tree");
    TEST(test_get_child_segments(), "get_child gets \"\" for a trailing slash, is not asked "
                                    "below a leaf, and the walk goes on into what it returns");
    TEST(test_get_child_held(), "a resource made by get_child is freed with its request, only "
                                "once the request is finished, also after its client left");
    TEST(test_get_child_shared(), "a parentless resource handed to a second request while the "
                                  "first holds it is refused with 500, not freed twice");
    TEST(test_pool_render(), "a render that waits on a pool job answers from the deferred's "
                             "callback and notify_finish fires");
    TEST(test_client_gone(), "a client leaving while its render waits on a pool job fails "
                             "notify_finish with ConnectionLost; the late result is dropped");
    TEST(test_file(), "the File resource serves a file with its type and Last-Modified, byte "
                      "ranges (206, 416), 404 for missing files and .., and index.html");
    TEST(test_file_ims(), "If-Modified-Since at the file's time gets 304 without a body; an "
                          "older one gets the file");
    TEST(test_file_head(), "HEAD of a file gets its Content-Length and no body");
    TEST(test_metrics(), "/metrics answers Prometheus text with loop lag, pool histograms and "
                         "request counts");
    TEST(test_access_log(), "each request logs one common log format line (component access)");
    remove_file();
    return done_testing();
}
