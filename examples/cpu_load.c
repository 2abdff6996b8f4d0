/* SPDX-License-Identifier: MIT */
/* cpu_load: a load client for cpu_server. It keeps the server's pool busy with HASH requests
 * from several connections while it measures PING round trips on one more connection.
 *
 *     cpu_load [--host H] --port P [--seconds S] [--connections N] [--password W]
 *
 * Build: cc cpu_load.c $(pkg-config --cflags --libs libuv)
 *
 * Each of the N hash connections (default 4) sends `HASH <W>` and the next one as soon as the
 * answer arrives; the ping connection sends `PING`, waits for `PONG`, pauses 2 ms and sends
 * again. After S seconds (default 3; longer if no PING or no HASH has been answered yet, up
 * to a minute more) it prints
 *
 *     pings: <count>
 *     ping_p50_ms: <median round trip>
 *     ping_p99_ms: <99th percentile>
 *     ping_max_ms: <slowest>
 *     hashes: <count>
 *     hashes_per_s: <rate>
 *
 * and exits 0; 1 if it could not connect or got no answers; 2 for bad options. A plain libuv
 * program, so that the measuring side owes nothing to weft. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#define PING_GAP_MS 2
#define MAX_CONNS   64
#define MAX_LINE    512

typedef struct load_s load_t;

typedef struct {
    uv_tcp_t tcp;
    uv_connect_t connect;
    load_t *load;
    bool is_ping;
    bool open;
    char buf[MAX_LINE];
    size_t used;
    uint64_t sent_ns; /* when the PING in flight was sent */
} conn_t;

struct load_s {
    uv_loop_t loop;
    uv_timer_t stop_timer, gap_timer;
    conn_t conns[MAX_CONNS + 1]; /* [0] pings, [1..n] hashes */
    int nconns;
    const char *password;
    bool stopping;
    int failures;
    double *rtt_ms;
    size_t npings, cap;
    uint64_t hashes, errors, started_ns, run_ns;
};

static void on_write(uv_write_t *req, int status)
{
    (void)status; /* a failed write shows up as a closed connection on read */
    free(req);
}

/* Sends one line (copied into the request). */
static void send_line(conn_t *c, const char *a, const char *b)
{
    size_t la = strlen(a), lb = b ? strlen(b) : 0;
    uv_write_t *req = malloc(sizeof(*req) + la + lb + 2);
    if (req == NULL)
        return;
    char *p = (char *)(req + 1);
    memcpy(p, a, la);
    if (lb > 0)
        memcpy(p + la, b, lb);
    memcpy(p + la + lb, "\r\n", 2);
    uv_buf_t buf = uv_buf_init(p, (unsigned)(la + lb + 2));
    if (uv_write(req, (uv_stream_t *)&c->tcp, &buf, 1, on_write) != 0)
        free(req);
}

static void send_ping(load_t *l)
{
    conn_t *c = &l->conns[0];
    if (l->stopping || !c->open)
        return;
    c->sent_ns = uv_hrtime();
    send_line(c, "PING", NULL);
}

static void gap_done(uv_timer_t *t)
{
    send_ping(t->data);
}

static void on_line(conn_t *c, const char *line, size_t len)
{
    load_t *l = c->load;
    if (l->stopping)
        return;
    if (c->is_ping) {
        if (len == 4 && memcmp(line, "PONG", 4) == 0) {
            if (l->npings == l->cap) {
                size_t cap = l->cap ? 2 * l->cap : 4096;
                double *p = realloc(l->rtt_ms, cap * sizeof(*p));
                if (p == NULL)
                    return;
                l->rtt_ms = p;
                l->cap = cap;
            }
            l->rtt_ms[l->npings++] = (double)(uv_hrtime() - c->sent_ns) / 1e6;
            uv_timer_start(&l->gap_timer, gap_done, PING_GAP_MS, 0);
        }
        return;
    }
    if (len > 5 && memcmp(line, "HASH ", 5) == 0)
        l->hashes++;
    else
        l->errors++;
    send_line(c, "HASH ", l->password);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    conn_t *c = h->data;
    buf->base = c->buf + c->used;
    buf->len = sizeof(c->buf) - c->used;
}

static void close_conn(conn_t *c)
{
    if (c->open && !uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, NULL);
    c->open = false;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    conn_t *c = s->data;
    if (n < 0) {
        if (!c->load->stopping) {
            fprintf(stderr, "cpu_load: connection closed: %s\n", uv_strerror((int)n));
            c->load->failures++;
        }
        close_conn(c);
        return;
    }
    c->used += (size_t)n;
    size_t start = 0;
    for (size_t i = 0; i + 1 < c->used; i++) {
        if (c->buf[i] == '\r' && c->buf[i + 1] == '\n') {
            on_line(c, c->buf + start, i - start);
            start = i + 2;
            i++;
        }
    }
    memmove(c->buf, c->buf + start, c->used - start);
    c->used -= start;
    if (c->used == sizeof(c->buf)) { /* no line fits: not a cpu_server */
        fprintf(stderr, "cpu_load: line too long from the server\n");
        c->load->failures++;
        close_conn(c);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    conn_t *c = req->data;
    if (status != 0) {
        fprintf(stderr, "cpu_load: cannot connect: %s\n", uv_strerror(status));
        c->load->failures++;
        close_conn(c);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (c->is_ping)
        send_ping(c->load);
    else
        send_line(c, "HASH ", c->load->password);
}

static void stop(uv_timer_t *t)
{
    load_t *l = t->data;
    /* A very slow server (a debugger, valgrind): wait for a first answer of each kind, up to
     * a minute more, so that the report has something in it. */
    bool waiting = l->npings == 0 || (l->nconns > 1 && l->hashes == 0);
    if (waiting && l->failures == 0 && uv_hrtime() - l->started_ns < l->run_ns + 60000000000ull) {
        uv_timer_start(t, stop, 100, 0);
        return;
    }
    l->stopping = true;
    uv_timer_stop(&l->gap_timer);
    for (int i = 0; i < l->nconns; i++)
        close_conn(&l->conns[i]);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *v, size_t n, double p)
{
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static int usage(const char *prog, int code)
{
    fprintf(code ? stderr : stdout,
            "usage: %s [--host H] --port P [--seconds S] [--connections N] [--password W]\n"
            "Loads a cpu_server with HASH requests on N connections (default 4) for S seconds\n"
            "(default 3) and measures PING round trips on one more; prints pings, ping_p50_ms,\n"
            "ping_p99_ms, ping_max_ms, hashes and hashes_per_s.\n",
            prog);
    return code;
}

static bool parse_int(const char *s, int min, int max, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

int main(int argc, char **argv)
{
    static load_t l;
    const char *host = "127.0.0.1";
    int port = -1, seconds = 3, nhash = 4;
    l.password = "demo";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return usage(argv[0], 0);
        if (i + 1 >= argc)
            return usage(argv[0], 2);
        const char *v = argv[++i];
        bool ok = true;
        if (strcmp(a, "--host") == 0)
            host = v;
        else if (strcmp(a, "--port") == 0)
            ok = parse_int(v, 1, 65535, &port);
        else if (strcmp(a, "--seconds") == 0)
            ok = parse_int(v, 1, 3600, &seconds);
        else if (strcmp(a, "--connections") == 0)
            ok = parse_int(v, 0, MAX_CONNS, &nhash);
        else if (strcmp(a, "--password") == 0)
            l.password = v;
        else
            ok = false;
        if (!ok)
            return usage(argv[0], 2);
    }
    struct sockaddr_storage addr;
    if (port < 0 || (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
                     uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0))
        return usage(argv[0], 2);

    if (uv_loop_init(&l.loop) != 0)
        return 1;
    l.nconns = nhash + 1;
    for (int i = 0; i < l.nconns; i++) {
        conn_t *c = &l.conns[i];
        c->load = &l;
        c->is_ping = i == 0;
        uv_tcp_init(&l.loop, &c->tcp);
        uv_tcp_nodelay(&c->tcp, 1);
        c->tcp.data = c;
        c->connect.data = c;
        c->open = true;
        if (uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&addr, on_connect) != 0) {
            fprintf(stderr, "cpu_load: cannot connect to %s:%d\n", host, port);
            l.failures++;
            close_conn(c);
        }
    }
    uv_timer_init(&l.loop, &l.gap_timer);
    l.gap_timer.data = &l;
    uv_timer_init(&l.loop, &l.stop_timer);
    l.stop_timer.data = &l;
    uv_timer_start(&l.stop_timer, stop, (uint64_t)seconds * 1000, 0);
    l.started_ns = uv_hrtime();
    l.run_ns = (uint64_t)seconds * 1000000000ull;
    uv_run(&l.loop, UV_RUN_DEFAULT);
    double elapsed = (double)(uv_hrtime() - l.started_ns) / 1e9;
    uv_close((uv_handle_t *)&l.gap_timer, NULL);
    uv_close((uv_handle_t *)&l.stop_timer, NULL);
    uv_run(&l.loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&l.loop) == 0 ? 0 : 1;

    if (l.npings == 0 || (nhash > 0 && l.hashes == 0) || l.failures > 0) {
        fprintf(stderr, "cpu_load: no answers (%zu pings, %llu hashes, %d failures)\n", l.npings,
                (unsigned long long)l.hashes, l.failures);
        free(l.rtt_ms);
        return 1;
    }
    qsort(l.rtt_ms, l.npings, sizeof(double), cmp_double);
    printf("pings: %zu\n", l.npings);
    printf("ping_p50_ms: %.3f\n", percentile(l.rtt_ms, l.npings, 0.50));
    printf("ping_p99_ms: %.3f\n", percentile(l.rtt_ms, l.npings, 0.99));
    printf("ping_max_ms: %.3f\n", l.rtt_ms[l.npings - 1]);
    printf("hashes: %llu\n", (unsigned long long)l.hashes);
    printf("hashes_per_s: %.1f\n", (double)l.hashes / elapsed);
    if (l.errors > 0)
        printf("errors: %llu\n", (unsigned long long)l.errors);
    free(l.rtt_ms);
    return rc;
}
