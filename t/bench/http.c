/* SPDX-License-Identifier: MIT */
/* HTTP benchmark (issue 12): a load client on raw libuv drives, in one process and one run,
 *   1. weft's site answering GET /ping (a Resource on the loop), and a raw libuv server using
 *      the same parser (Debian's http-parser) with the same answer: requests per second and
 *      p99 over C kept-alive connections, each sending its next request when the answer came;
 *      the two alternate ROUNDS rounds and each side's median round is reported, with the
 *      server thread's CPU time per request; then the same with PIPELINE requests in flight
 *      per connection (HTTP/1.1 pipelining, lines ending in _pipelined);
 *   2. Twisted's twisted.web (t/bench/twisted_http.py) on the same loads, if /usr/bin/python3
 *      (or $PYTHON) can import twisted;
 *   3. /ping's p99 on one connection while HASH_CONNS connections keep GET /hash busy: a job
 *      of HASH_MS of CPU on the CPU pool per request (weft: weft_defer_to_thread; libuv:
 *      uv_queue_work), so the pool is saturated while the loop answers /ping.
 * Output (machine-readable), one measure per line:
 *   value: <measure> <value> <unit>
 *   ratio: <measure> <value>     weft / libuv (or weft / Twisted): above 1 is better for
 *                                throughput, below 1 better for latency and CPU.
 * The whole run takes about 15 s. */
#include <http_parser.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include <weft/bridge.h>
#include <weft/reactor.h>
#include <weft/request.h>
#include <weft/resource.h>
#include <weft/site.h>
#include <weft/tcp.h>
#include <weft/time.h>

#include "report.h"

#define ROUNDS     3
#define RUN_S      0.8
#define CONNS      32
#define HASH_CONNS 8
#define HASH_MS    2
#define MAX_LAT    2000000
#define PIPELINE   16 /* requests in flight per connection in the pipelined runs */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* HASH_MS of CPU, the stand-in for PBKDF2 (the bench links no libcrypto). */
static unsigned spin(void)
{
    uint64_t end = now_ns() + HASH_MS * 1000000ull;
    unsigned x = 1;
    while (now_ns() < end)
        for (int i = 0; i < 1000; i++)
            x = x * 1103515245u + 12345u;
    return x;
}

/* ------------------------------------------------------------------ the weft server */

typedef struct {
    pthread_t thread;
    atomic_int port;
    weft_reactor_t *r;
    weft_site_t *site;
    weft_listener_t *l;
} wserver_t;

static int w_ping(weft_request_t *req, void *ctx)
{
    (void)ctx;
    int rc = weft_request_set_header(req, "Content-Type", "text/plain");
    return rc != 0 ? rc : weft_request_write(req, "pong\n", 5);
}

static weft_result_t w_hash_job(void *arg)
{
    (void)arg;
    spin();
    return weft_ok(NULL, NULL);
}

static weft_result_t w_hash_done(void *value, weft_free_fn free_fn, void *arg)
{
    (void)value;
    (void)free_fn;
    weft_request_t *req = arg;
    int rc = weft_request_write(req, "hashed\n", 7);
    (void)rc;
    weft_request_finish(req);
    return weft_ok(NULL, NULL);
}

static weft_result_t w_hash_failed(weft_failure_t *f, void *arg)
{
    weft_failure_free(f);
    weft_request_finish(arg);
    return weft_ok(NULL, NULL);
}

static int w_hash(weft_request_t *req, void *ctx)
{
    (void)ctx;
    weft_deferred_t *d =
        weft_defer_to_thread(weft_request_reactor(req), w_hash_job, NULL, NULL, NULL);
    if (d == NULL || weft_deferred_add_callbacks(d, w_hash_done, req, w_hash_failed, req) != 0)
        return -1;
    weft_deferred_unref(d);
    return WEFT_NOT_DONE_YET;
}

static void w_stop(void *arg)
{
    wserver_t *s = arg;
    weft_deferred_unref(weft_listener_stop(s->l));
    weft_site_close_connections(s->site);
    if (weft_reactor_stop(s->r) != 0)
        fprintf(stderr, "http: weft stop failed\n");
}

static void *weft_server(void *arg)
{
    wserver_t *s = arg;
    weft_reactor_options_t o;
    weft_reactor_options_init(&o);
    o.install_signal_handlers = false;
    int err = 0;
    s->r = weft_reactor_new(&o, &err);
    weft_resource_t *root = weft_resource_new(NULL, NULL, NULL);
    weft_resource_t *ping = weft_resource_new(NULL, NULL, NULL);
    weft_resource_t *hash = weft_resource_new(NULL, NULL, NULL);
    if (s->r == NULL || root == NULL || ping == NULL || hash == NULL ||
        weft_resource_set_render(ping, "GET", w_ping) != 0 ||
        weft_resource_set_render(hash, "GET", w_hash) != 0 ||
        weft_resource_put_child(root, "ping", ping) != 0 ||
        weft_resource_put_child(root, "hash", hash) != 0)
        exit(1);
    weft_site_options_t so;
    weft_site_options_init(&so);
    so.access_log = false;
    s->site = weft_site_new(root, &so, &err);
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = "127.0.0.1";
    lo.backlog = 1024;
    s->l = s->site ? weft_listen_tcp(s->r, &lo, weft_site_factory(s->site), &err) : NULL;
    if (s->l == NULL) {
        fprintf(stderr, "http: weft listen failed\n");
        exit(1);
    }
    atomic_store(&s->port, weft_listener_port(s->l));
    if (weft_reactor_run(s->r) != 0)
        exit(1);
    uv_loop_t *loop = weft_reactor_get_uv_loop(s->r);
    for (int i = 0; i < 1000 && weft_site_free(s->site) != 0; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    for (int i = 0; i < 1000 && weft_reactor_free(s->r) != 0; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    return NULL;
}

/* ------------------------------------------------------------------ the raw libuv server */

typedef struct {
    pthread_t thread;
    atomic_int port;
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t stop;
    time_t date_sec;
    char date[40];
} userver_t;

typedef struct {
    uv_tcp_t tcp;
    http_parser parser;
    userver_t *s;
    bool hash;
    char url[64];
    size_t url_len;
} uconn_t;

typedef struct {
    uv_write_t req;
    size_t len;
    char data[256];
} uwrite_t;

typedef struct {
    uv_work_t work;
    uconn_t *c;
} uwork_t;

static char u_rbuf[64 * 1024];

static void u_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
    (void)h;
    (void)sz;
    *buf = uv_buf_init(u_rbuf, sizeof(u_rbuf));
}

static void u_free_handle(uv_handle_t *h)
{
    free(h);
}

static void u_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

/* The same answer weft sends: status, Date, Server, Content-Length, Content-Type. */
static void u_answer(uconn_t *c, const char *body)
{
    userver_t *s = c->s;
    time_t now = time(NULL);
    if (now != s->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date, sizeof(s->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_sec = now;
    }
    char buf[256];
    int n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 200 OK\r\nDate: %s\r\nServer: weft\r\nContent-Length: %zu\r\n"
                     "Content-Type: text/plain\r\n\r\n%s",
                     s->date, strlen(body), body);
    uv_buf_t b = uv_buf_init(buf, (unsigned)n);
    int sent = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0
                   ? uv_try_write((uv_stream_t *)&c->tcp, &b, 1)
                   : 0;
    if (sent < 0)
        sent = 0;
    if (sent == n)
        return;
    uwrite_t *w = malloc(sizeof(*w));
    w->len = (size_t)(n - sent);
    memcpy(w->data, buf + sent, w->len);
    uv_buf_t wb = uv_buf_init(w->data, (unsigned)w->len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &wb, 1, u_written) != 0)
        free(w);
}

static void u_work(uv_work_t *w)
{
    (void)w;
    spin();
}

static void u_work_done(uv_work_t *w, int status)
{
    (void)status;
    uwork_t *uw = (uwork_t *)w;
    if (!uv_is_closing((uv_handle_t *)&uw->c->tcp))
        u_answer(uw->c, "hashed\n");
    free(uw);
}

static int u_on_url(http_parser *p, const char *at, size_t len)
{
    uconn_t *c = p->data;
    size_t n = len < sizeof(c->url) - 1 - c->url_len ? len : sizeof(c->url) - 1 - c->url_len;
    memcpy(c->url + c->url_len, at, n);
    c->url_len += n;
    c->url[c->url_len] = '\0';
    return 0;
}

static int u_on_begin(http_parser *p)
{
    uconn_t *c = p->data;
    c->url_len = 0;
    return 0;
}

static int u_on_complete(http_parser *p)
{
    uconn_t *c = p->data;
    if (strncmp(c->url, "/hash", 5) == 0) {
        uwork_t *uw = malloc(sizeof(*uw));
        uw->c = c;
        if (uv_queue_work(c->tcp.loop, &uw->work, u_work, u_work_done) != 0)
            free(uw);
        return 0;
    }
    u_answer(c, "pong\n");
    return 0;
}

static const http_parser_settings u_settings = {
    .on_message_begin = u_on_begin,
    .on_url = u_on_url,
    .on_message_complete = u_on_complete,
};

static void u_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    uconn_t *c = (uconn_t *)st;
    if (n < 0) {
        uv_close((uv_handle_t *)st, u_free_handle);
        return;
    }
    size_t got = http_parser_execute(&c->parser, &u_settings, buf->base, (size_t)n);
    if (got != (size_t)n)
        uv_close((uv_handle_t *)st, u_free_handle);
}

static void u_conn(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    uconn_t *c = calloc(1, sizeof(*c));
    c->s = server->data;
    uv_tcp_init(server->loop, &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, u_free_handle);
        return;
    }
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, u_alloc, u_read);
}

static void u_close_all(uv_handle_t *h, void *arg)
{
    userver_t *s = arg;
    if (uv_is_closing(h))
        return;
    bool mine = h == (uv_handle_t *)&s->listener || h == (uv_handle_t *)&s->stop;
    uv_close(h, mine ? NULL : u_free_handle);
}

static void u_stop(uv_async_t *a)
{
    uv_walk(a->loop, u_close_all, a->data);
}

static void *uv_server(void *arg)
{
    userver_t *s = arg;
    uv_loop_init(&s->loop);
    uv_tcp_init(&s->loop, &s->listener);
    s->listener.data = s;
    uv_async_init(&s->loop, &s->stop, u_stop);
    s->stop.data = s;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_bind(&s->listener, (struct sockaddr *)&a, 0);
    if (uv_listen((uv_stream_t *)&s->listener, 1024, u_conn) != 0)
        exit(1);
    struct sockaddr_in bound;
    int len = sizeof(bound);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
    atomic_store(&s->port, ntohs(bound.sin_port));
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
    return NULL;
}

/* ------------------------------------------------------------------ the load client */

typedef struct client_s client_t;

#define MAX_DEPTH 16

typedef struct {
    uv_tcp_t tcp;
    uv_connect_t connect;
    http_parser parser;
    client_t *cl;
    const char *req;
    bool measure;
    int depth;       /* requests kept in flight on this connection (pipelined past 1) */
    int outstanding; /* sent, not yet answered */
    int head;        /* sent_at[head] is the oldest outstanding request's */
    int answered;    /* answers parsed in this read, to replace in one write */
    uint64_t sent_at[MAX_DEPTH];
} cconn_t;

struct client_s {
    uv_loop_t loop;
    uv_timer_t timer;
    cconn_t conns[CONNS + HASH_CONNS + 1];
    int nconns;
    int connected;
    bool running;
    uint64_t done;
    uint64_t *lat;
    size_t nlat;
};

static char c_rbuf[64 * 1024];

static void c_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
    (void)h;
    (void)sz;
    *buf = uv_buf_init(c_rbuf, sizeof(c_rbuf));
}

/* Sends requests until depth are in flight, in one write. */
static void c_top_up(cconn_t *c)
{
    uv_buf_t b[MAX_DEPTH];
    int n = 0;
    uint64_t now = now_ns();
    size_t len = strlen(c->req), total = 0;
    while (c->outstanding < c->depth) {
        c->sent_at[(c->head + c->outstanding) % MAX_DEPTH] = now;
        c->outstanding++;
        b[n++] = uv_buf_init((char *)c->req, (unsigned)len);
        total += len;
    }
    if (n == 0)
        return;
    int rc = uv_try_write((uv_stream_t *)&c->tcp, b, (unsigned)n);
    if (rc != (int)total) {
        fprintf(stderr, "http: client write: %s\n", rc < 0 ? uv_strerror(rc) : "short");
        exit(1);
    }
}

static int c_on_complete(http_parser *p)
{
    cconn_t *c = p->data;
    client_t *cl = c->cl;
    uint64_t sent = c->sent_at[c->head];
    c->head = (c->head + 1) % MAX_DEPTH;
    c->outstanding--;
    if (c->measure && cl->running) {
        cl->done++;
        if (cl->nlat < MAX_LAT)
            cl->lat[cl->nlat++] = now_ns() - sent;
    }
    return 0;
}

static const http_parser_settings c_settings = {.on_message_complete = c_on_complete};

static void c_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    cconn_t *c = (cconn_t *)st;
    if (n < 0) {
        if (c->cl->running) {
            fprintf(stderr, "http: server closed a connection\n");
            exit(1);
        }
        return;
    }
    http_parser_execute(&c->parser, &c_settings, buf->base, (size_t)n);
    /* Every answer is replaced by a new request while the run lasts; between the warm-up and
     * the run, connections drain and are topped up again when the run starts. */
    if (c->cl->running)
        c_top_up(c);
}

static void c_connected(uv_connect_t *req, int status)
{
    cconn_t *c = req->data;
    if (status != 0) {
        fprintf(stderr, "http: connect: %s\n", uv_strerror(status));
        exit(1);
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, c_alloc, c_read);
    c->cl->connected++;
}

static void c_timeout(uv_timer_t *t)
{
    client_t *cl = t->data;
    cl->running = false;
    uv_stop(&cl->loop);
}

static void c_close_all(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int cmp(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* Opens n ping connections (measured), each keeping depth requests in flight (pipelined past
 * 1), and extra hash connections (one each), runs for seconds, and returns requests per second
 * of the measured ones; *p99_us gets their p99 (from each request's send to its answer). */
static double load(int port, int n, int depth, int hash_conns, double seconds, double *p99_us)
{
    client_t *cl = calloc(1, sizeof(*cl));
    cl->lat = malloc(sizeof(uint64_t) * MAX_LAT);
    uv_loop_init(&cl->loop);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", port, &a);
    cl->nconns = n + hash_conns;
    for (int i = 0; i < cl->nconns; i++) {
        cconn_t *c = &cl->conns[i];
        c->cl = cl;
        c->measure = i < n;
        c->depth = i < n ? depth : 1;
        c->req = i < n ? "GET /ping HTTP/1.1\r\nHost: bench\r\n\r\n"
                       : "GET /hash HTTP/1.1\r\nHost: bench\r\n\r\n";
        http_parser_init(&c->parser, HTTP_RESPONSE);
        c->parser.data = c;
        uv_tcp_init(&cl->loop, &c->tcp);
        c->connect.data = c;
        uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&a, c_connected);
    }
    while (cl->connected < cl->nconns)
        uv_run(&cl->loop, UV_RUN_ONCE);
    cl->running = true;
    for (int i = 0; i < cl->nconns; i++)
        c_top_up(&cl->conns[i]);
    /* Warm up for a tenth of the run, then count. */
    uv_timer_init(&cl->loop, &cl->timer);
    cl->timer.data = cl;
    uv_timer_start(&cl->timer, c_timeout, (uint64_t)(seconds * 100), 0);
    uv_run(&cl->loop, UV_RUN_DEFAULT);
    cl->running = true;
    cl->done = 0;
    cl->nlat = 0;
    /* Answers that came after the warm-up's timer were not replaced: top every connection up
     * again, or a connection left without a request would sit out the run. */
    for (int i = 0; i < cl->nconns; i++)
        c_top_up(&cl->conns[i]);
    uint64_t t0 = now_ns();
    uv_timer_start(&cl->timer, c_timeout, (uint64_t)(seconds * 1000), 0);
    uv_run(&cl->loop, UV_RUN_DEFAULT);
    double elapsed = (double)(now_ns() - t0) / 1e9;
    double rps = (double)cl->done / elapsed;
    qsort(cl->lat, cl->nlat, sizeof(uint64_t), cmp);
    *p99_us = cl->nlat ? (double)cl->lat[cl->nlat * 99 / 100] / 1e3 : 0;
    uv_walk(&cl->loop, c_close_all, NULL);
    uv_run(&cl->loop, UV_RUN_DEFAULT);
    uv_loop_close(&cl->loop);
    free(cl->lat);
    free(cl);
    return rps;
}

static double thread_cpu_s(pthread_t t)
{
    clockid_t id;
    struct timespec ts;
    if (pthread_getcpuclockid(t, &id) != 0 || clock_gettime(id, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return v[n / 2];
}

/* Starts Twisted's server (if importable) and returns its port, or 0; *pid gets its pid. */
static int twisted_start(pid_t *pid)
{
    const char *candidates[] = {getenv("PYTHON"), "/usr/bin/python3", "python3"};
    const char *py = NULL;
    char cmd[512];
    for (size_t i = 0; i < 3 && py == NULL; i++) {
        if (candidates[i] == NULL)
            continue;
        snprintf(cmd, sizeof(cmd), "%s -c 'import twisted.web' 2>/dev/null", candidates[i]);
        if (system(cmd) == 0)
            py = candidates[i];
    }
    int fds[2];
    if (py == NULL || pipe(fds) != 0)
        return 0;
    *pid = fork();
    if (*pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execlp(py, py, "t/bench/twisted_http.py", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    int port = 0;
    char line[128];
    if (f == NULL || fgets(line, sizeof(line), f) == NULL ||
        sscanf(line, "listening on %d", &port) != 1)
        port = 0;
    if (f != NULL)
        fclose(f);
    return port;
}

/* CPU seconds (user + system) a child process has used, from /proc/<pid>/stat. */
static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command may hold spaces */
    unsigned long utime = 0, stime = 0;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return 0;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Runs the ping load at depth against weft and libuv (ROUNDS alternating rounds, medians),
 * then Twisted if it runs (tport > 0), and prints the lines, their names ending in sfx. */
static void compare(wserver_t *ws, userver_t *us, int tport, pid_t tpid, int depth, const char *sfx)
{
    double w_rps[ROUNDS], u_rps[ROUNDS], w_p99[ROUNDS], u_p99[ROUNDS], w_cpu[ROUNDS], u_cpu[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        double c0 = thread_cpu_s(ws->thread);
        uint64_t t0 = now_ns();
        w_rps[i] = load(ws->port, CONNS, depth, 0, RUN_S, &w_p99[i]);
        w_cpu[i] = (thread_cpu_s(ws->thread) - c0) / (w_rps[i] * (double)(now_ns() - t0) / 1e9);
        c0 = thread_cpu_s(us->thread);
        t0 = now_ns();
        u_rps[i] = load(us->port, CONNS, depth, 0, RUN_S, &u_p99[i]);
        u_cpu[i] = (thread_cpu_s(us->thread) - c0) / (u_rps[i] * (double)(now_ns() - t0) / 1e9);
    }
    double wr = median(w_rps, ROUNDS), ur = median(u_rps, ROUNDS);
    double wl = median(w_p99, ROUNDS), ul = median(u_p99, ROUNDS);
    double wc = median(w_cpu, ROUNDS) * 1e9, uc = median(u_cpu, ROUNDS) * 1e9;
    bench_vs_libuv(wr, ur, 0, "req/s", "http_rps_ping%s", sfx);
    bench_vs_libuv(wl, ul, 1, "us", "http_p99_ping%s", sfx);
    bench_vs_libuv(wc, uc, 0, "ns", "http_server_cpu_per_req%s", sfx);
    fflush(stdout);
    if (tport <= 0)
        return;
    double tl = 0;
    double c0 = proc_cpu_s(tpid);
    uint64_t t0 = now_ns();
    double tr = load(tport, CONNS, depth, 0, RUN_S * 2, &tl);
    double tc = (proc_cpu_s(tpid) - c0) / (tr * (double)(now_ns() - t0) / 1e9) * 1e9;
    printf("value: http_rps_ping%s_twisted %.0f req/s\n", sfx, tr);
    printf("value: http_p99_ping%s_twisted %.1f us\n", sfx, tl);
    printf("value: http_server_cpu_per_req%s_twisted %.0f ns\n", sfx, tc);
    printf("ratio: http_rps_ping%s_vs_twisted %.2f\n", sfx, wr / tr);
    printf("ratio: http_p99_ping%s_vs_twisted %.3f\n", sfx, wl / tl);
    printf("ratio: http_server_cpu_per_req%s_vs_twisted %.3f\n", sfx, wc / tc);
    fflush(stdout);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    wserver_t ws = {0};
    userver_t us = {0};
    pthread_create(&ws.thread, NULL, weft_server, &ws);
    pthread_create(&us.thread, NULL, uv_server, &us);
    while (atomic_load(&ws.port) == 0 || atomic_load(&us.port) == 0)
        sched_yield();

    pid_t tpid = 0;
    int tport = twisted_start(&tpid);
    if (tport == 0)
        printf("skip: twisted not installed (apt-get install python3-twisted)\n");
    /* One request in flight per connection, then PIPELINE in flight: the client then writes
     * and reads many requests per system call, so that it, not the server, stops being what
     * limits the count on two CPUs shared by client and server. */
    compare(&ws, &us, tport, tpid, 1, "");
    compare(&ws, &us, tport, tpid, PIPELINE, "_pipelined");
    if (tpid > 0) {
        kill(tpid, SIGTERM);
        waitpid(tpid, NULL, 0);
    }
    fflush(stdout);

    double wsat = 0, usat = 0;
    double wsr = load(ws.port, 1, 1, HASH_CONNS, RUN_S * 1.5, &wsat);
    double usr = load(us.port, 1, 1, HASH_CONNS, RUN_S * 1.5, &usat);
    bench_vs_libuv(wsat, usat, 1, "us", "http_p99_ping_pool_saturated");
    printf("value: http_rps_ping_pool_saturated_weft %.0f req/s\n", wsr);
    printf("value: http_rps_ping_pool_saturated_libuv %.0f req/s\n", usr);

    if (weft_reactor_call_from_thread(ws.r, w_stop, &ws) != 0)
        return 1;
    uv_async_send(&us.stop);
    pthread_join(ws.thread, NULL);
    pthread_join(us.thread, NULL);
    return 0;
}
