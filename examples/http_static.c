/* SPDX-License-Identifier: MIT */
/* http_static: a small static file server. Every path is a file under --root (index.html for
 * a directory), read on the reactor's I/O pool, with Content-Type, Last-Modified,
 * If-Modified-Since and byte ranges; /metrics is left to http_hash.
 *
 *     http_static [--host H] --port P [--root DIR] [--access-log]
 *
 * With --port 0 it binds a free port and prints `listening on <port>` on stdout before
 * serving. SIGTERM or SIGINT stops it cleanly with exit code 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include <weft.h>

typedef struct {
    weft_site_t *site;
    weft_listener_t *listener;
} app_t;

static weft_deferred_t *before_shutdown(void *arg)
{
    app_t *app = arg;
    weft_deferred_t *stopped = weft_listener_stop(app->listener);
    app->listener = NULL;
    weft_site_close_connections(app->site);
    return stopped;
}

static int usage(const char *prog, int code)
{
    fprintf(code ? stderr : stdout,
            "usage: %s [--host H] --port P [--root DIR] [--access-log]\n"
            "Serves the files under DIR (default: the current directory). --port 0 binds a\n"
            "free port and prints `listening on <port>`. SIGTERM or SIGINT stops it.\n",
            prog);
    return code;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *root_dir = ".";
    int port = -1;
    bool access = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(argv[0], 0);
        if (strcmp(argv[i], "--access-log") == 0) {
            access = true;
            continue;
        }
        if (i + 1 >= argc)
            return usage(argv[0], 2);
        if (strcmp(argv[i], "--host") == 0)
            host = argv[++i];
        else if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--root") == 0)
            root_dir = argv[++i];
        else
            return usage(argv[0], 2);
    }
    if (port < 0 || port > 65535)
        return usage(argv[0], 2);

    int err = 0;
    weft_reactor_t *r = weft_reactor_new(NULL, &err);
    weft_resource_t *files = r ? weft_file_resource_new(root_dir, 0, &err) : NULL;
    if (files == NULL) {
        fprintf(stderr, "http_static: %s\n", weft_strerror(err));
        return 1;
    }
    weft_site_options_t so;
    weft_site_options_init(&so);
    so.access_log = access;
    app_t app = {0};
    app.site = weft_site_new(files, &so, &err);
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = host;
    lo.port = port;
    app.listener = app.site ? weft_listen_tcp(r, &lo, weft_site_factory(app.site), &err) : NULL;
    if (app.listener == NULL) {
        fprintf(stderr, "http_static: cannot listen on %s:%d: %s\n", host, port,
                weft_strerror(err));
        return 1;
    }
    if (weft_reactor_add_trigger(r, "shutdown", WEFT_PHASE_BEFORE, before_shutdown, &app,
                                 "http_static", NULL) != 0)
        return 1;
    printf("listening on %d\n", weft_listener_port(app.listener));
    fflush(stdout);
    if (weft_reactor_run(r) != 0)
        return 1;
    uv_loop_t *loop = weft_reactor_get_uv_loop(r);
    for (int i = 0; i < 100 && weft_site_free(app.site) != 0; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    for (int i = 0; i < 100 && weft_reactor_free(r) != 0; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    return 0;
}
