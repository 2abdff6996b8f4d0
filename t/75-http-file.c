/* SPDX-License-Identifier: MIT */
/* The File resource's byte ranges (Twisted's static.File answers, byte for byte) and its
 * streaming (bounded buffers for a slow reader, a client leaving mid-body), and the request's
 * pull producer it is built on. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <weft/bridge.h>
#include <weft/error.h>
#include <weft/log.h>
#include <weft/request.h>
#include <weft/resource.h>
#include <weft/site.h>
#include <weft/web-file.h>

#include "helpers.h"
#include "http-helpers.h"
#include "net-helpers.h"
#include "tap.h"

#define BIG_SIZE  (16u << 20) /* the streamed file: 16 MiB, past what the kernel buffers */
#define CHUNK     65536
#define HIGH_MARK 65536 /* the transports' default high-water mark */

static th_resp_t resp[8];
static char dir[64];

/* Byte i of big.bin. */
static unsigned char big_byte(size_t i)
{
    return (unsigned char)(i * 7 + i / 251);
}

static void make_files(void)
{
    snprintf(dir, sizeof(dir), "/tmp/weft-t75-XXXXXX");
    if (mkdtemp(dir) == NULL)
        bail_out("mkdtemp");
    char path[128];
    snprintf(path, sizeof(path), "%s/hello.txt", dir);
    FILE *fp = fopen(path, "w");
    if (fp == NULL)
        bail_out("fopen");
    fputs("0123456789abcdef", fp);
    fclose(fp);
    static const char *const big[] = {"big.bin", "shrinks.bin"}; /* the second is truncated */
    for (size_t k = 0; k < 2; k++) {
        snprintf(path, sizeof(path), "%s/%s", dir, big[k]);
        fp = fopen(path, "w");
        if (fp == NULL)
            bail_out("fopen");
        for (size_t i = 0; i < BIG_SIZE; i++)
            fputc(big_byte(i), fp);
        fclose(fp);
    }
}

static void remove_files(void)
{
    char out[64];
    t_sh(out, sizeof(out), "rm -rf %s", dir);
}

/* ---------------------------------------------------------------- a producer of our own */

typedef struct {
    int produced, pieces, stops, register_again, register_null;
    bool in_register, produced_in_register;
    bool finish_on_stop;
    weft_request_t *req;
} prod_t;

static prod_t prod;

static void piece_produce(weft_request_t *req, void *arg)
{
    prod_t *p = arg;
    p->produced++;
    if (p->in_register)
        p->produced_in_register = true;
    if (p->pieces == 5) {
        weft_request_finish(req);
        return;
    }
    char buf[16];
    int n = snprintf(buf, sizeof(buf), "piece %d\n", p->pieces++);
    int rc = weft_request_write(req, buf, (size_t)n);
    (void)rc;
}

static void piece_stop(weft_request_t *req, void *arg)
{
    prod_t *p = arg;
    p->stops++;
    if (p->finish_on_stop)
        weft_request_finish(req);
}

static int pieces_get(weft_request_t *req, void *ctx)
{
    (void)ctx;
    prod.req = req;
    prod.register_null = weft_request_register_producer(req, NULL, piece_stop, &prod);
    prod.in_register = true;
    int rc = weft_request_register_producer(req, piece_produce, piece_stop, &prod);
    prod.in_register = false;
    if (rc != 0)
        return rc;
    prod.register_again = weft_request_register_producer(req, piece_produce, NULL, &prod);
    return WEFT_NOT_DONE_YET;
}

/* Registers a producer that never writes: it waits for the client to go. */
static void idle_produce(weft_request_t *req, void *arg)
{
    (void)req;
    ((prod_t *)arg)->produced++;
}

static int idle_get(weft_request_t *req, void *ctx)
{
    (void)ctx;
    int rc = weft_request_write(req, "x", 1);
    if (rc == 0)
        rc = weft_request_register_producer(req, idle_produce, piece_stop, &prod);
    return rc != 0 ? rc : WEFT_NOT_DONE_YET;
}

/* ---------------------------------------------------------------- fixture */

static weft_resource_t *tree(void)
{
    weft_resource_t *root = weft_resource_new(NULL, NULL, NULL);
    weft_resource_t *files = weft_file_resource_new(dir, 0, NULL);
    weft_resource_t *pieces = weft_resource_new(NULL, NULL, NULL);
    weft_resource_t *idle = weft_resource_new(NULL, NULL, NULL);
    if (root == NULL || files == NULL || pieces == NULL || idle == NULL ||
        weft_resource_set_render(pieces, "GET", pieces_get) != 0 ||
        weft_resource_set_render(idle, "GET", idle_get) != 0 ||
        weft_resource_put_child(root, "static", files) != 0 ||
        weft_resource_put_child(root, "pieces", pieces) != 0 ||
        weft_resource_put_child(root, "idle", idle) != 0)
        bail_out("tree");
    return root;
}

typedef th_fixture_t fixture_t;

static bool setup(fixture_t *f)
{
    memset(&prod, 0, sizeof(prod));
    return th_fixture_start(f, false, tree(), NULL);
}

static void teardown(fixture_t *f)
{
    th_fixture_end(f);
}

/* Sends a GET of /static/hello.txt with the Range header value range (NULL: none). */
static void get_range(fixture_t *f, const char *method, const char *range)
{
    char req[256];
    int n = snprintf(req, sizeof(req), "%s /static/hello.txt HTTP/1.1\r\n%s%s%s\r\n", method,
                     range ? "Range: " : "", range ? range : "", range ? "\r\n" : "");
    th_send(&f->c, req, (size_t)n);
}

/* The boundary of a multipart/byteranges Content-Type (quoted, as Twisted sends it), or "". */
static const char *boundary_of(const th_resp_t *r)
{
    static char b[64];
    b[0] = '\0';
    const char *ct = th_header(r, "content-type");
    const char *prefix = "multipart/byteranges; boundary=\"";
    if (ct == NULL || strncmp(ct, prefix, strlen(prefix)) != 0)
        return b;
    snprintf(b, sizeof(b), "%s", ct + strlen(prefix));
    char *q = strchr(b, '"');
    if (q == NULL || q[1] != '\0')
        b[0] = '\0';
    else
        *q = '\0';
    return b;
}

/* Builds the multipart body Twisted sends for parts "a-b" of hello.txt (text/plain type). */
static size_t expected_multipart(char *out, size_t size, const char *b, const int (*spans)[2],
                                 int n)
{
    static const char file[] = "0123456789abcdef";
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(out + len, size - len,
                                "\r\n--%s\r\nContent-type: text/plain; charset=utf-8\r\n"
                                "Content-range: bytes %d-%d/16\r\n\r\n%.*s",
                                b, spans[i][0], spans[i][1], spans[i][1] - spans[i][0] + 1,
                                file + spans[i][0]);
    }
    len += (size_t)snprintf(out + len, size - len, "\r\n--%s--\r\n", b);
    return len;
}

static void check_multipart(const th_resp_t *r, const int (*spans)[2], int n)
{
    check_int(r->status, ==, 206);
    const char *b = boundary_of(r);
    if (!check(b[0] != '\0'))
        return;
    char want[2048];
    size_t len = expected_multipart(want, sizeof(want), b, spans, n);
    check_uint(r->body_len, ==, len);
    check(r->body_len == len && memcmp(r->body, want, len) == 0);
    char cl[24];
    snprintf(cl, sizeof(cl), "%zu", len);
    check_str(th_header(r, "content-length"), cl);
}

/* ---------------------------------------------------------------- ranges */

static void test_multi_range(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    get_range(&f, "GET", "bytes=0-1,5-9");
    get_range(&f, "GET", " bytes = 0-1 , ,5-9 ");
    if (check_int(th_wait(f.r, &f.c, false, 2, resp, 8), ==, 2)) {
        static const int spans[][2] = {{0, 1}, {5, 9}};
        check_multipart(&resp[0], spans, 2);
        check_multipart(&resp[1], spans, 2);
        check(strcmp(boundary_of(&resp[0]), "") != 0);
        check_str(th_header(&resp[0], "accept-ranges"), "bytes");
        check(th_header(&resp[0], "content-range") == NULL);
    }
    teardown(&f);
}

static void test_overlapping_ranges(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    get_range(&f, "GET", "bytes=0-5,3-8");
    get_range(&f, "GET", "bytes=-3,0-0");
    get_range(&f, "GET", "bytes=0-1,20-30");
    if (check_int(th_wait(f.r, &f.c, false, 3, resp, 8), ==, 3)) {
        static const int overlap[][2] = {{0, 5}, {3, 8}};
        static const int suffix_first[][2] = {{13, 15}, {0, 0}};
        static const int one_left[][2] = {{0, 1}};
        check_multipart(&resp[0], overlap, 2);
        check_multipart(&resp[1], suffix_first, 2);
        check_multipart(&resp[2], one_left, 1);
    }
    teardown(&f);
}

static void test_unsatisfiable(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    get_range(&f, "GET", "bytes=20-30,40-");
    get_range(&f, "GET", "bytes=16-");
    get_range(&f, "GET", "bytes=-0");
    get_range(&f, "GET", "bytes=--3");
    get_range(&f, "GET", "bytes=");
    if (check_int(th_wait(f.r, &f.c, false, 5, resp, 8), ==, 5)) {
        for (int i = 0; i < 5; i++) {
            check_int(resp[i].status, ==, 416);
            check_str(th_header(&resp[i], "content-range"), "bytes */16");
            check_str(th_header(&resp[i], "content-length"), "0");
            check_uint(resp[i].body_len, ==, 0);
        }
    }
    check_int(f.c.lost, ==, 0); /* the connection stays open */
    teardown(&f);
}

static void test_malformed_range(void)
{
    static const char *bad[] = {"bytes=5-2", "items=0-1", "bytes=0-1,x", "bytes=1-2-3",
                                "bytes 0-1", "bytes=-",   "bytes=a-b"};
    enum { NBAD = sizeof(bad) / sizeof(bad[0]) };
    fixture_t f;
    if (!setup(&f))
        return;
    for (int i = 0; i < NBAD; i++)
        get_range(&f, "GET", bad[i]);
    if (check_int(th_wait(f.r, &f.c, false, NBAD, resp, 8), ==, NBAD)) {
        for (int i = 0; i < NBAD; i++) {
            if (!check_int(resp[i].status, ==, 200))
                diag("Range: %s", bad[i]);
            check_str(resp[i].body, "0123456789abcdef");
            check(th_header(&resp[i], "content-range") == NULL);
        }
    }
    teardown(&f);
}

static void test_single_range_rules(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    get_range(&f, "GET", "bytes=+1-2");
    get_range(&f, "GET", "bytes=-20");
    get_range(&f, "GET", "bytes=10-100");
    get_range(&f, "GET", "bytes=0 - 1");
    if (check_int(th_wait(f.r, &f.c, false, 4, resp, 8), ==, 4)) {
        check_int(resp[0].status, ==, 206);
        check_str(resp[0].body, "12");
        check_str(th_header(&resp[0], "content-range"), "bytes 1-2/16");
        check_str(th_header(&resp[0], "content-type"), "text/plain; charset=utf-8");
        check_int(resp[1].status, ==, 206);
        check_str(resp[1].body, "0123456789abcdef");
        check_str(th_header(&resp[1], "content-range"), "bytes 0-15/16");
        check_int(resp[2].status, ==, 206);
        check_str(resp[2].body, "abcdef");
        check_str(th_header(&resp[2], "content-range"), "bytes 10-15/16");
        check_int(resp[3].status, ==, 206);
        check_str(resp[3].body, "01");
    }
    teardown(&f);
}

static void test_head_ignores_range(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    get_range(&f, "HEAD", "bytes=0-1,5-9");
    if (check_int(th_wait(f.r, &f.c, true, 1, resp, 8), ==, 1)) {
        check_int(resp[0].status, ==, 200);
        check_str(th_header(&resp[0], "content-length"), "16");
        check_str(th_header(&resp[0], "content-type"), "text/plain; charset=utf-8");
    }
    check(f.c.len >= 4 && memcmp(f.c.data + f.c.len - 4, "\r\n\r\n", 4) == 0);
    teardown(&f);
}

/* ---------------------------------------------------------------- producers */

static void test_producer(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    th_send(&f.c, "GET /pieces HTTP/1.1\r\n\r\n", strlen("GET /pieces HTTP/1.1\r\n\r\n"));
    if (check_int(th_wait(f.r, &f.c, false, 1, resp, 8), ==, 1)) {
        check_int(resp[0].status, ==, 200);
        check_str(resp[0].body, "piece 0\npiece 1\npiece 2\npiece 3\npiece 4\n");
    }
    check_int(prod.produced, ==, 6); /* five pieces, then the call that finishes */
    check(!prod.produced_in_register);
    check_err(prod.register_again, WEFT_EALREADY);
    check_err(prod.register_null, WEFT_EINVAL);
    check_int(prod.stops, ==, 0);
    teardown(&f);
}

static bool stopped(void *arg)
{
    (void)arg;
    return prod.stops > 0;
}

static void test_producer_stop(void)
{
    fixture_t f;
    if (!setup(&f))
        return;
    prod.finish_on_stop = true;
    th_send(&f.c, "GET /idle HTTP/1.1\r\n\r\n", strlen("GET /idle HTTP/1.1\r\n\r\n"));
    /* Wait for the producer's first call, then leave. */
    for (int i = 0; i < 1000 && prod.produced == 0; i++)
        t_run_once(f.r);
    check_int(prod.produced, ==, 1);
    weft_transport_abort_connection(f.c.t);
    check(t_run_until_fn(f.r, stopped, NULL, 1000));
    check_int(prod.stops, ==, 1);
    weft_site_stats_t st;
    weft_site_get_stats(f.s.site, &st);
    check_uint(st.in_flight, ==, 0);
    check_uint(st.clients_gone, ==, 1);
    check_int(prod.produced, ==, 1);
    teardown(&f);
}

/* ---------------------------------------------------------------- streaming */

static bool producer_waited(void *arg)
{
    weft_site_stats_t st;
    weft_site_get_stats(((th_server_t *)arg)->site, &st);
    return st.producer_waits > 0;
}

/* Starts the file server on r, sends req (of len bytes) from a small-buffered client that does
 * not read, and runs until the server's body producer has had to wait for it. Returns the
 * client's socket. */
static int stream_to_slow_reader(weft_reactor_t *r, th_server_t *s, const char *req, size_t len)
{
    memset(&prod, 0, sizeof(prod));
    th_start(s, r, tree(), NULL);
    int fd = t_dial_rcvbuf(s->port, 4096); /* a small receive buffer, read only when told */
    if (!check(fd >= 0))
        bail_out("connect");
    check_int((int)write(fd, req, len), ==, (int)len);
    check(t_run_until_fn(r, producer_waited, s, 100000));
    return fd;
}

static bool none_in_flight(void *arg)
{
    weft_site_stats_t st;
    weft_site_get_stats(((th_server_t *)arg)->site, &st);
    return st.in_flight == 0 && st.clients_gone == 1;
}

/* Runs the loop and reads from fd, 4 KiB per turn, until the response to a GET of big.bin is
 * complete or the connection ends. Returns the body bytes that matched big.bin. */
static size_t read_big(weft_reactor_t *r, int fd, int *status)
{
    char head[4096];
    size_t hlen = 0, body = 0, want = 0;
    bool in_body = false, ok = true;
    *status = 0;
    while (!in_body || body < want) {
        weft_reactor_run_once_nowait(r);
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            break;
        if (n < 0) {
            struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
                                  {.fd = weft_reactor_backend_fd(r), .events = POLLIN}};
            int timeout = weft_reactor_backend_timeout(r);
            poll(p, 2, timeout < 0 || timeout > 100 ? 100 : timeout);
            continue;
        }
        size_t off = 0;
        if (!in_body) {
            size_t take = (size_t)n < sizeof(head) - 1 - hlen ? (size_t)n : sizeof(head) - 1 - hlen;
            memcpy(head + hlen, buf, take);
            hlen += take;
            head[hlen] = '\0';
            char *end = strstr(head, "\r\n\r\n");
            if (end == NULL)
                continue;
            size_t used = (size_t)(end + 4 - head) - (hlen - take);
            off = used;
            sscanf(head, "HTTP/1.1 %d", status);
            const char *cl = strstr(head, "Content-Length: ");
            want = cl != NULL ? strtoull(cl + 16, NULL, 10) : 0;
            in_body = true;
        }
        for (size_t i = off; i < (size_t)n; i++, body++)
            ok = ok && (unsigned char)buf[i] == big_byte(body);
    }
    return ok ? body : 0;
}

static void test_stream_bounded(void)
{
    weft_reactor_t *r = t_reactor(false);
    th_server_t s;
    /* The client does not read yet: the server must wait, with most of the file unsent. */
    const char req[] = "GET /static/big.bin HTTP/1.1\r\n\r\n";
    int fd = stream_to_slow_reader(r, &s, req, sizeof(req) - 1);
    weft_site_stats_t st;
    int status = 0;
    check_uint(read_big(r, fd, &status), ==, BIG_SIZE);
    check_int(status, ==, 200);
    weft_site_get_stats(s.site, &st);
    check_uint(st.write_buffer_peak, <=, HIGH_MARK + CHUNK + 1024);
    check_uint(st.bytes_sent, >, BIG_SIZE);
    check_uint(st.responses[2], ==, 1);
    close(fd);
    check(th_stop(&s));
    check(t_teardown(r));
}

static void test_stream_ranges(void)
{
    weft_reactor_t *r = t_reactor(false);
    th_server_t s;
    /* From 1 MiB - 10 to the end: its bytes are big.bin's from there. */
    char req[128];
    unsigned from = (1u << 20) - 10;
    int n = snprintf(req, sizeof(req), "GET /static/big.bin HTTP/1.1\r\nRange: bytes=%u-\r\n\r\n",
                     from);
    int fd = stream_to_slow_reader(r, &s, req, (size_t)n);
    char head[512];
    size_t hlen = 0, body = 0;
    bool ok = true, in_body = false;
    /* read_big checks bytes from offset 0; here compare from `from`. */
    while (body < BIG_SIZE - from) {
        weft_reactor_run_once_nowait(r);
        char buf[4096];
        ssize_t got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
            break;
        if (got < 0) {
            struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
                                  {.fd = weft_reactor_backend_fd(r), .events = POLLIN}};
            poll(p, 2, 100);
            continue;
        }
        size_t off = 0;
        if (!in_body) {
            size_t take =
                (size_t)got < sizeof(head) - 1 - hlen ? (size_t)got : sizeof(head) - 1 - hlen;
            memcpy(head + hlen, buf, take);
            hlen += take;
            head[hlen] = '\0';
            char *end = strstr(head, "\r\n\r\n");
            if (end == NULL)
                continue;
            off = (size_t)(end + 4 - head) - (hlen - take);
            in_body = true;
            check(strncmp(head, "HTTP/1.1 206 ", 13) == 0);
            char cr[64];
            snprintf(cr, sizeof(cr), "Content-Range: bytes %u-%u/%u\r\n", from, BIG_SIZE - 1,
                     BIG_SIZE);
            check(strstr(head, cr) != NULL);
        }
        for (size_t i = off; i < (size_t)got; i++, body++)
            ok = ok && (unsigned char)buf[i] == big_byte(from + body);
    }
    check_uint(body, ==, BIG_SIZE - from);
    check(ok);
    weft_site_stats_t st;
    weft_site_get_stats(s.site, &st);
    check_uint(st.write_buffer_peak, <=, HIGH_MARK + CHUNK + 1024);
    close(fd);
    check(th_stop(&s));
    check(t_teardown(r));
}

static void test_stream_client_leaves(void)
{
    weft_reactor_t *r = t_reactor(false);
    th_server_t s;
    weft_bridge_stats_t before, after;
    weft_bridge_get_stats(r, &before); /* nothing offloaded yet: the server starts below */
    const char req[] = "GET /static/big.bin HTTP/1.1\r\n\r\n";
    int fd = stream_to_slow_reader(r, &s, req, sizeof(req) - 1);
    close(fd); /* unread bytes: the kernel resets the connection */
    check(t_run_until_fn(r, none_in_flight, &s, 100000));
    weft_site_stats_t st;
    weft_site_get_stats(s.site, &st);
    weft_bridge_get_stats(r, &after);
    /* One open, then a read per chunk sent, and at most the one in flight when it left: far
     * fewer than the file's 256 chunks (the kernel's buffers hold a few MiB at most). */
    uint64_t jobs = after.submitted - before.submitted;
    check_uint(jobs, <=, 1 + st.bytes_sent / CHUNK + 2);
    check_uint(jobs, <, BIG_SIZE / CHUNK / 2);
    check_uint(after.in_flight, ==, 0);
    check(th_stop(&s)); /* the request is released: the site can be freed */
    check(t_teardown(r));
}

static void test_stream_file_shrinks(void)
{
    weft_reactor_t *r = t_reactor(false);
    th_server_t s;
    const char req[] = "GET /static/shrinks.bin HTTP/1.1\r\n\r\n";
    int fd = stream_to_slow_reader(r, &s, req, sizeof(req) - 1);
    char path[128];
    snprintf(path, sizeof(path), "%s/shrinks.bin", dir);
    check_int(truncate(path, 0), ==, 0);
    /* The body ends short, and the connection closes: the client is not left waiting for the
     * bytes its Content-Length promised. */
    int status = 0;
    size_t got = read_big(r, fd, &status);
    check_int(status, ==, 200);
    check_uint(got, >, 0);
    check_uint(got, <, BIG_SIZE);
    char c;
    check_int((int)recv(fd, &c, 1, MSG_DONTWAIT), ==, 0); /* end of stream, not EAGAIN */
    close(fd);
    check(th_stop(&s));
    check(t_teardown(r));
}

int main(void)
{
    if (weft_log_set_component_level("http", WEFT_LOG_ERROR) != 0)
        bail_out("log level");
    make_files();
    TEST(test_multi_range(), "several byte ranges answer 206 multipart/byteranges, one part per "
                             "range with its Content-type and Content-range, byte for byte as "
                             "Twisted's static.File");
    TEST(test_overlapping_ranges(), "overlapping ranges keep a part each, in the order asked; a "
                                    "range that misses the file is left out");
    TEST(test_unsatisfiable(), "a set of ranges that all miss the file gets 416 with "
                               "Content-Range bytes */size and an empty body");
    TEST(test_malformed_range(), "a malformed Range header is ignored: 200 with the whole file");
    TEST(test_single_range_rules(), "a single range follows Twisted's parsing (sign, spaces, "
                                    "end past the file) and a long suffix is the whole file");
    TEST(test_head_ignores_range(), "HEAD with a Range gets the whole file's headers and no body");
    TEST(test_producer(), "a pull producer is asked again after each write, never from inside "
                          "register, until it finishes; a second register is refused");
    TEST(test_producer_stop(), "a client leaving calls the producer's stop once, and a finish "
                               "from stop releases the request");
    TEST(test_stream_bounded(), "a file of several MiB streams to a slow reader with the "
                                "server's buffered bytes bounded by the high-water mark plus "
                                "one chunk");
    TEST(test_stream_ranges(), "a range of a large file streams the same way, from its offset");
    TEST(test_stream_client_leaves(), "a client leaving mid-stream stops the reads and the "
                                      "request is freed");
    TEST(test_stream_file_shrinks(), "a file that shrinks while it streams ends the body short "
                                     "and closes the connection");
    remove_files();
    return done_testing();
}
