/* SPDX-License-Identifier: MIT */
/* doc/guide.md, chapter 8: an HTTP front whose renders defer to a pool.
 *
 *     07-web [--port P] [--files DIR]
 *
 * `GET /ping` answers `pong` at once, on the loop; `GET /hash?text=...` hashes text on a CPU
 * worker and answers when the deferred fires; `GET /hello/<name>` is made per request by a
 * dynamic child; `/files/...` serves DIR (if given) with streamed reads on the I/O pool. With
 * --port 0 (the default) it prints `listening on <port>`; SIGTERM or SIGINT stops it with exit
 * code 0. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

typedef struct {
    weft_reactor_t *r;
    weft_site_t *site;
    weft_listener_t *listener;
} server_t;

static int ping_get(weft_request_t *req, void *ctx)
{
    (void)ctx;
    return weft_request_write(req, "pong\n", 5); /* returns 0: weft finishes the request */
}

/* One /hash request: what the worker reads, and the request to answer (loop side only). */
typedef struct {
    weft_request_t *req;
    size_t len;
    char text[];
} hash_job_t;

/* On a CPU worker: reads only the job's own bytes, returns a new string. */
static weft_result_t slow_hash(void *arg)
{
    const hash_job_t *j = arg;
    uint64_t h = 1469598103934665603ull;
    for (int round = 0; round < 20000; round++)
        for (size_t i = 0; i < j->len; i++)
            h = (h ^ (unsigned char)j->text[i]) * 1099511628211ull;
    char *hex = malloc(20);
    if (hex == NULL)
        return weft_fail_new(NULL, WEFT_ENOMEM, "out of memory");
    snprintf(hex, 20, "%016llx\n", (unsigned long long)h);
    return weft_ok(hex, free);
}

/* Back on the loop: answer unless the client left, and finish in every case. */
static weft_result_t hashed(void *value, weft_free_fn free_fn, void *arg)
{
    hash_job_t *j = arg;
    if (!weft_request_is_gone(j->req) && weft_request_write(j->req, value, strlen(value)) != 0)
        fprintf(stderr, "cannot answer /hash\n");
    weft_request_finish(j->req); /* exactly once: it releases the request */
    free_fn(value);
    return weft_ok(NULL, NULL); /* j is weft's (arg_free) */
}

static weft_result_t hash_failed(weft_failure_t *f, void *arg)
{
    hash_job_t *j = arg;
    if (!weft_request_is_gone(j->req) && weft_request_set_response_code(j->req, 503) != 0)
        fprintf(stderr, "cannot answer /hash\n");
    weft_request_finish(j->req); /* a pool refusal or a shutdown: 503 */
    weft_failure_free(f);
    return weft_ok(NULL, NULL);
}

static int hash_get(weft_request_t *req, void *ctx)
{
    server_t *srv = ctx;
    const char *text = weft_request_arg(req, "text");
    if (text == NULL) {
        int rc = weft_request_set_response_code(req, 400);
        return rc != 0 ? rc : weft_request_write(req, "text= is missing\n", 17);
    }
    size_t len = strlen(text);
    hash_job_t *j = malloc(sizeof(*j) + len);
    if (j == NULL)
        return WEFT_ENOMEM; /* a 500 */
    j->req = req;
    j->len = len;
    memcpy(j->text, text, len); /* the worker never touches the request */
    weft_offload_options_t o;
    weft_offload_options_init(&o);
    o.arg_free = free; /* weft frees j once the worker can no longer touch it */
    int err = 0;
    weft_deferred_t *d = weft_defer_to_thread(srv->r, slow_hash, j, &o, &err);
    if (d == NULL)
        return err; /* j was freed */
    if (weft_deferred_add_callbacks(d, hashed, j, hash_failed, j) != 0)
        abort(); /* cannot happen on a fresh deferred */
    weft_deferred_unref(d);
    return WEFT_NOT_DONE_YET; /* answered from hashed */
}

static int hello_get(weft_request_t *req, void *ctx)
{
    char buf[160];
    int n = snprintf(buf, sizeof(buf), "hello, %.100s\n", (const char *)ctx);
    return weft_request_write(req, buf, (size_t)n);
}

/* Twisted's getChild: a resource per name, taken by the request and freed with it. */
static weft_resource_t *hello_child(weft_resource_t *res, const char *name, weft_request_t *req,
                                    void *ctx)
{
    (void)res, (void)req, (void)ctx;
    if (name[0] == '\0')
        return NULL; /* /hello/ : 404 */
    weft_resource_t *page = weft_resource_new(strdup(name), free, NULL);
    if (page != NULL && weft_resource_set_render(page, "GET", hello_get) != 0) {
        weft_resource_free(page);
        return NULL;
    }
    return page;
}

/* Before shutdown: stop listening and close the connections (busy ones after their answer). */
static weft_deferred_t *before_shutdown(void *arg)
{
    server_t *srv = arg;
    weft_deferred_t *stopped = weft_listener_stop(srv->listener);
    srv->listener = NULL;
    weft_site_close_connections(srv->site);
    return stopped;
}

static int put(weft_resource_t *parent, const char *name, weft_resource_t *child)
{
    return child != NULL ? weft_resource_put_child(parent, name, child) : WEFT_ENOMEM;
}

static weft_resource_t *with_render(server_t *srv, weft_render_fn fn)
{
    weft_resource_t *res = weft_resource_new(srv, NULL, NULL);
    if (res != NULL && weft_resource_set_render(res, "GET", fn) != 0) {
        weft_resource_free(res);
        return NULL;
    }
    return res;
}

int main(int argc, char **argv)
{
    int port = 0;
    const char *files = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--files") == 0)
            files = argv[i + 1];
    }
    int err = 0;
    server_t srv = {weft_reactor_new(NULL, &err), NULL, NULL};
    weft_resource_t *root = srv.r ? weft_resource_new(NULL, NULL, &err) : NULL;
    weft_resource_t *hello = root ? weft_resource_new(NULL, NULL, &err) : NULL;
    if (hello == NULL)
        return 1;
    weft_resource_set_get_child(hello, hello_child); /* /hello/<name> */
    if (put(root, "ping", with_render(&srv, ping_get)) != 0 ||
        put(root, "hash", with_render(&srv, hash_get)) != 0 || put(root, "hello", hello) != 0 ||
        (files != NULL && put(root, "files", weft_file_resource_new(files, 0, &err)) != 0))
        return 1;
    srv.site = weft_site_new(root, NULL, &err); /* the site owns the tree */
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = "127.0.0.1";
    lo.port = port;
    srv.listener = srv.site ? weft_listen_tcp(srv.r, &lo, weft_site_factory(srv.site), &err) : NULL;
    if (srv.listener == NULL) {
        fprintf(stderr, "cannot listen: %s\n", weft_strerror(err));
        return 1;
    }
    if (weft_reactor_add_trigger(srv.r, "shutdown", WEFT_PHASE_BEFORE, before_shutdown, &srv, "web",
                                 NULL) != 0)
        return 1;
    printf("listening on %d\n", weft_listener_port(srv.listener));
    fflush(stdout);
    if (weft_reactor_run(srv.r) != 0)
        return 1;
    /* The last connections' close callbacks run on the next loop turns: free when they did. */
    for (int i = 0; i < 100 && weft_site_free(srv.site) != 0; i++)
        weft_reactor_run_once_nowait(srv.r);
    int rc = WEFT_EBUSY;
    for (int i = 0; i < 100 && (rc = weft_reactor_free(srv.r)) != 0; i++)
        weft_reactor_run_once_nowait(srv.r);
    return rc == 0 ? 0 : 1;
}
