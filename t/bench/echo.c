/* SPDX-License-Identifier: MIT */
/* Echo benchmark (issue 8): a load client written on raw libuv drives, in one process and one
 * run, the weft echo server (a protocol whose data_received writes the bytes back) and a raw
 * libuv echo server (read callback -> uv_try_write, uv_write for the rest), each on its own
 * thread:
 *   1. one connection, ping-pong: send 64 bytes, wait for them, repeat;
 *   2. 64 connections, pipelined: each keeps DEPTH 64-byte requests in flight.
 * For each, requests per second, the p99 round trip and the server thread's CPU time per
 * request (the steadier number when client and server share 2 busy cores). Then line parsing:
 * Twisted's LineReceiver framing (weft_line_receiver_feed) over a buffer of short lines, in MB/s,
 * against a memchr loop over the same bytes (the floor: no parser can find the delimiters faster).
 *
 * Output, one measure per line (machine-readable):
 *   value: <measure> <value> <unit>
 *   ratio: <measure> <value>          weft / libuv (or parser / memchr): above 1 is better
 *                                     for throughput, below 1 better for latency.
 * The machine is shared and noisy: the two servers alternate, ROUNDS rounds each, and each
 * side's median round is reported. The whole run takes about 12 s.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include <weft/framing.h>
#include <weft/reactor.h>
#include <weft/tcp.h>
#include <weft/time.h>
#include <weft/transport.h>

#include "report.h"

#define ROUNDS   7
#define RUN_S    0.35
#define MSG      64
#define DEPTH    8
#define MAX_CONN 64
#define MAX_LAT  4000000

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ weft echo server */

typedef struct {
    pthread_t thread;
    atomic_int port;
    weft_reactor_t *r;
    weft_listener_t *l;
} server_t;

static void w_data(void *proto, weft_transport_t *t, const char *data, size_t len)
{
    (void)proto;
    if (weft_transport_write(t, data, len) < 0)
        weft_transport_abort_connection(t);
}

static void w_lost(void *proto, weft_transport_t *t, weft_failure_t *reason)
{
    (void)proto;
    (void)t;
    weft_failure_free(reason);
}

static const weft_protocol_ops_t w_echo = {.data_received = w_data, .connection_lost = w_lost};

static int w_build(void *ctx, const char *peer, const weft_protocol_ops_t **ops, void **proto)
{
    (void)ctx;
    (void)peer;
    *ops = &w_echo;
    *proto = NULL;
    return 0;
}

static void w_stop(void *arg)
{
    server_t *s = arg;
    weft_deferred_unref(weft_listener_stop(s->l));
    if (weft_reactor_stop(s->r) != 0)
        fprintf(stderr, "echo: weft stop failed\n");
}

static void *weft_server(void *arg)
{
    server_t *s = arg;
    weft_reactor_options_t o;
    weft_reactor_options_init(&o);
    o.install_signal_handlers = false;
    int err = 0;
    s->r = weft_reactor_new(&o, &err);
    weft_factory_ops_t fo = {.build_protocol = w_build};
    weft_factory_t *f = weft_factory_new(&fo, NULL, &err);
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = "127.0.0.1";
    lo.backlog = 1024;
    s->l = weft_listen_tcp(s->r, &lo, f, &err);
    if (s->l == NULL) {
        fprintf(stderr, "echo: weft listen failed\n");
        exit(1);
    }
    atomic_store(&s->port, weft_listener_port(s->l));
    if (weft_reactor_run(s->r) != 0)
        exit(1);
    uv_loop_t *loop = weft_reactor_get_uv_loop(s->r);
    for (int i = 0; i < 1000 && weft_reactor_free(s->r) != 0; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    if (weft_factory_free(f) != 0)
        exit(1);
    return NULL;
}

/* ------------------------------------------------------------------ raw libuv echo server */

typedef struct {
    pthread_t thread;
    atomic_int port;
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t stop;
} uvserver_t;

typedef struct {
    uv_write_t req;
    char data[];
} uvw_t;

static char uv_rbuf[64 * 1024];

static void u_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
    (void)h;
    (void)sz;
    *buf = uv_buf_init(uv_rbuf, sizeof(uv_rbuf));
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

static void u_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    if (n < 0) {
        uv_close((uv_handle_t *)s, u_free_handle);
        return;
    }
    if (n == 0)
        return;
    uv_buf_t b = uv_buf_init(buf->base, (unsigned)n);
    int sent = uv_stream_get_write_queue_size(s) == 0 ? uv_try_write(s, &b, 1) : 0;
    if (sent < 0)
        sent = 0;
    if (sent == n)
        return;
    size_t rest = (size_t)n - (size_t)sent;
    uvw_t *w = malloc(sizeof(*w) + rest);
    memcpy(w->data, buf->base + sent, rest);
    uv_buf_t wb = uv_buf_init(w->data, (unsigned)rest);
    if (uv_write(&w->req, s, &wb, 1, u_written) != 0)
        free(w);
}

static void u_conn(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    uv_tcp_t *c = malloc(sizeof(*c));
    uv_tcp_init(server->loop, c);
    if (uv_accept(server, (uv_stream_t *)c) != 0) {
        uv_close((uv_handle_t *)c, u_free_handle);
        return;
    }
    uv_tcp_nodelay(c, 1);
    uv_read_start((uv_stream_t *)c, u_alloc, u_read);
}

static void u_close_all(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (uv_is_closing(h))
        return;
    uvserver_t *s = h->loop->data;
    bool mine = h == (uv_handle_t *)&s->listener || h == (uv_handle_t *)&s->stop;
    uv_close(h, mine ? NULL : u_free_handle);
}

static void u_stop(uv_async_t *a)
{
    uv_walk(a->loop, u_close_all, NULL);
}

static void *uv_server(void *arg)
{
    uvserver_t *s = arg;
    uv_loop_init(&s->loop);
    s->loop.data = s;
    uv_async_init(&s->loop, &s->stop, u_stop);
    uv_tcp_init(&s->loop, &s->listener);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_bind(&s->listener, (const struct sockaddr *)&a, 0);
    if (uv_listen((uv_stream_t *)&s->listener, 1024, u_conn) != 0)
        exit(1);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
    atomic_store(&s->port, ntohs(((struct sockaddr_in *)&ss)->sin_port));
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
    return NULL;
}

/* ------------------------------------------------------------------ the load client */

typedef struct client_s client_t;

typedef struct {
    uv_tcp_t tcp;
    uv_connect_t creq;
    client_t *cl;
    uint64_t sent_at[DEPTH]; /* FIFO of send times */
    unsigned head, inflight;
    size_t partial; /* bytes of the current reply already read */
} cconn_t;

struct client_s {
    uv_loop_t loop;
    uv_timer_t timer;
    cconn_t conns[MAX_CONN];
    int nconn, connected, depth;
    bool stopping;
    uint64_t done;
    uint64_t *lat;
    size_t nlat;
};

static char payload[MSG];

static void c_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
    static char b[64 * 1024];
    (void)h;
    (void)sz;
    *buf = uv_buf_init(b, sizeof(b));
}

static void c_send(cconn_t *c)
{
    uv_buf_t b = uv_buf_init(payload, MSG);
    c->sent_at[(c->head + c->inflight) % DEPTH] = now_ns();
    c->inflight++;
    if (uv_try_write((uv_stream_t *)&c->tcp, &b, 1) != MSG) {
        fprintf(stderr, "echo: client write would block\n");
        exit(1);
    }
}

static void c_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    cconn_t *c = s->data;
    client_t *cl = c->cl;
    if (n < 0) {
        if (!cl->stopping)
            fprintf(stderr, "echo: client read: %s\n", uv_strerror((int)n));
        return;
    }
    c->partial += (size_t)n;
    uint64_t t = now_ns();
    while (c->partial >= MSG) {
        c->partial -= MSG;
        uint64_t lat = t - c->sent_at[c->head];
        c->head = (c->head + 1) % DEPTH;
        c->inflight--;
        cl->done++;
        if (cl->nlat < MAX_LAT)
            cl->lat[cl->nlat++] = lat;
        if (!cl->stopping)
            c_send(c);
    }
}

static void c_connected(uv_connect_t *req, int status)
{
    cconn_t *c = req->data;
    if (status != 0) {
        fprintf(stderr, "echo: connect: %s\n", uv_strerror(status));
        exit(1);
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->tcp.data = c;
    uv_read_start((uv_stream_t *)&c->tcp, c_alloc, c_read);
    c->cl->connected++;
}

static void c_timer(uv_timer_t *t)
{
    client_t *cl = t->data;
    cl->stopping = true;
    uv_stop(&cl->loop);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double rps;
    double p99_us;
    double cpu_ns; /* the server thread's CPU time per request */
} result_t;

static uint64_t cpu_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static result_t load(int port, clockid_t server_cpu, int nconn, int depth)
{
    client_t *cl = calloc(1, sizeof(*cl));
    cl->lat = malloc(sizeof(uint64_t) * MAX_LAT);
    uv_loop_init(&cl->loop);
    cl->nconn = nconn;
    cl->depth = depth;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", port, &a);
    for (int i = 0; i < nconn; i++) {
        cconn_t *c = &cl->conns[i];
        c->cl = cl;
        uv_tcp_init(&cl->loop, &c->tcp);
        c->creq.data = c;
        uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&a, c_connected);
    }
    while (cl->connected < nconn)
        uv_run(&cl->loop, UV_RUN_ONCE);
    /* Warm up briefly, then measure RUN_S seconds. */
    for (int i = 0; i < nconn; i++)
        for (int k = 0; k < depth; k++)
            c_send(&cl->conns[i]);
    uv_timer_init(&cl->loop, &cl->timer);
    cl->timer.data = cl;
    uv_timer_start(&cl->timer, c_timer, 100, 0);
    uv_run(&cl->loop, UV_RUN_DEFAULT);
    cl->stopping = false;
    cl->done = 0;
    cl->nlat = 0;
    /* Replies that came after the warm-up's stop sent nothing: fill every pipeline again. */
    for (int i = 0; i < nconn; i++)
        while (cl->conns[i].inflight < (unsigned)depth)
            c_send(&cl->conns[i]);
    uint64_t t0 = now_ns(), c0 = cpu_ns(server_cpu);
    uv_timer_start(&cl->timer, c_timer, (uint64_t)(RUN_S * 1000), 0);
    uv_run(&cl->loop, UV_RUN_DEFAULT);
    double secs = (double)(now_ns() - t0) / 1e9;
    double cpu = (double)(cpu_ns(server_cpu) - c0);
    result_t res = {(double)cl->done / secs, 0, cl->done ? cpu / (double)cl->done : 0};
    qsort(cl->lat, cl->nlat, sizeof(uint64_t), cmp_u64);
    if (cl->nlat > 0)
        res.p99_us = (double)cl->lat[cl->nlat * 99 / 100] / 1000.0;
    /* Drain what is in flight, then close. */
    for (int i = 0; i < 200; i++)
        uv_run(&cl->loop, UV_RUN_NOWAIT);
    for (int i = 0; i < nconn; i++)
        uv_close((uv_handle_t *)&cl->conns[i].tcp, close_cb);
    uv_close((uv_handle_t *)&cl->timer, close_cb);
    uv_run(&cl->loop, UV_RUN_DEFAULT);
    uv_loop_close(&cl->loop);
    free(cl->lat);
    free(cl);
    return res;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    return v[n / 2];
}

/* ------------------------------------------------------------------ line parsing */

static size_t lines_seen;

static int on_line(void *ctx, const char *line, size_t len)
{
    (void)ctx;
    (void)line;
    (void)len;
    lines_seen++;
    return 0;
}

static void line_parsing(void)
{
    size_t total = 64u << 20;
    char *buf = malloc(total);
    /* Lines of 8 to 71 bytes, CRLF-terminated, like a chatty line protocol. */
    size_t off = 0, n = 0;
    while (off + 80 < total) {
        size_t len = 8 + (n * 37) % 64;
        memset(buf + off, 'a' + (int)(n % 26), len);
        off += len;
        buf[off++] = '\r';
        buf[off++] = '\n';
        n++;
    }
    total = off;
    const size_t chunk = 64 * 1024;
    double best_parse = 0, best_floor = 0;
    for (int round = 0; round < ROUNDS; round++) {
        weft_line_receiver_ops_t ops = {.line_received = on_line};
        weft_line_receiver_t *lr = weft_line_receiver_new(NULL, &ops, NULL, NULL);
        lines_seen = 0;
        uint64_t t0 = now_ns();
        for (size_t p = 0; p < total; p += chunk) {
            size_t len = total - p < chunk ? total - p : chunk;
            if (weft_line_receiver_feed(lr, buf + p, len) != 0)
                exit(1);
        }
        double parse = (double)total / 1e6 / ((double)(now_ns() - t0) / 1e9);
        weft_line_receiver_free(lr);
        if (lines_seen != n) {
            fprintf(stderr, "echo: parsed %zu lines, want %zu\n", lines_seen, n);
            exit(1);
        }
        size_t found = 0;
        t0 = now_ns();
        for (size_t p = 0; p < total; p += chunk) {
            size_t len = total - p < chunk ? total - p : chunk;
            const char *s = buf + p, *end = s + len;
            while ((s = memchr(s, '\n', (size_t)(end - s))) != NULL) {
                found++;
                s++;
            }
        }
        double floor = (double)total / 1e6 / ((double)(now_ns() - t0) / 1e9);
        if (found != n)
            exit(1);
        if (parse > best_parse)
            best_parse = parse;
        if (floor > best_floor)
            best_floor = floor;
    }
    printf("value: line_parse_weft %.0f MB/s\n", best_parse);
    printf("value: line_parse_memchr_floor %.0f MB/s\n", best_floor);
    printf("ratio: line_parse_vs_memchr %.2f\n", best_parse / best_floor);
    free(buf);
}

/* ------------------------------------------------------------------ main */

int main(void)
{
    memset(payload, 'p', sizeof(payload));
    server_t ws = {0};
    uvserver_t us = {0};
    pthread_create(&ws.thread, NULL, weft_server, &ws);
    pthread_create(&us.thread, NULL, uv_server, &us);
    while (atomic_load(&ws.port) == 0 || atomic_load(&us.port) == 0)
        ;
    clockid_t wclk, uclk;
    if (pthread_getcpuclockid(ws.thread, &wclk) != 0 ||
        pthread_getcpuclockid(us.thread, &uclk) != 0)
        return 1;
    struct {
        const char *name;
        int nconn, depth;
    } cases[] = {{"c1", 1, 1}, {"c64", 64, DEPTH}};
    for (size_t k = 0; k < 2; k++) {
        double wr[ROUNDS], ur[ROUNDS], wp[ROUNDS], up[ROUNDS], wc[ROUNDS], uc[ROUNDS];
        for (int round = 0; round < ROUNDS; round++) {
            result_t w = load(atomic_load(&ws.port), wclk, cases[k].nconn, cases[k].depth);
            result_t u = load(atomic_load(&us.port), uclk, cases[k].nconn, cases[k].depth);
            wr[round] = w.rps, wp[round] = w.p99_us, wc[round] = w.cpu_ns;
            ur[round] = u.rps, up[round] = u.p99_us, uc[round] = u.cpu_ns;
        }
        double w = median(wr, ROUNDS), u = median(ur, ROUNDS);
        double wl = median(wp, ROUNDS), ul = median(up, ROUNDS);
        double wcpu = median(wc, ROUNDS), ucpu = median(uc, ROUNDS);
        const char *c = cases[k].name;
        bench_vs_libuv(w, u, 0, "req/s", "echo_rps_%s", c);
        bench_vs_libuv(wl, ul, 1, "us", "echo_p99_%s", c);
        bench_vs_libuv(wcpu, ucpu, 0, "ns", "echo_server_cpu_per_req_%s", c);
        fflush(stdout);
    }
    if (weft_reactor_call_from_thread(ws.r, w_stop, &ws) != 0)
        return 1;
    uv_async_send(&us.stop);
    pthread_join(ws.thread, NULL);
    pthread_join(us.thread, NULL);
    line_parsing();
    return 0;
}
