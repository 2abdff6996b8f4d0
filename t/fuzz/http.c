/* SPDX-License-Identifier: MIT */
/* Fuzz harness: the HTTP request path, one connection of a small site fed by a scripted client. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <weft/error.h>
#include <weft/log.h>
#include <weft/request.h>
#include <weft/resource.h>
#include <weft/site.h>

#include "../../reactor/net/factory-internal.h"
#include "../../reactor/net/net-internal.h"
#include "fuzz.h"

/*
 * Each input is one connection, on a reactor and site made for it (so a crash replays alone).
 * The server side is a real transport on one end of a socketpair (no listener: the site's
 * factory builds the protocol, as an accept would); the harness is the client on the other
 * end, with plain send and recv, and runs the loop without blocking between steps.
 *
 * Byte 0 picks the transport's water marks and socket buffer (small ones reach the
 * back-pressure paths) and what happens to an unfinished deferred request at the end. Then
 * each op byte, by its top 3 bits:
 *   0-3  send the next (op & 63) + 1 bytes           4  send the next (op & 31) * 16 + 1 bytes
 *   5    act on the request answered later (/later): finish it, with or without body, write
 *   6    advance the clock by (op & 31) / 2 s (header, body and keep-alive timeouts: 408)
 *   7    client: stop or go on reading, shut its write side, close; the site's shutdown
 * The site has small limits (512 header bytes, 8 headers, 96-byte target, 256-byte body, 64
 * bytes of response buffer), so 400, 408, 413, 414 and 431 are all a few bytes away.
 *
 * Checked, from the bytes the client read: every response starts with a well-formed
 * "HTTP/1.1 NNN Reason" line and well-formed headers, and its body is framed as its headers
 * say (Content-Length, chunked, none for HEAD, 1xx, 204 and 304, or up to the close with
 * Connection: close); no byte follows a response that said Connection: close; responses come
 * in the order the requests were rendered (each render stamps X-Seq) and match, code for
 * code, the access log's order; unless the client cut the connection, every logged response
 * arrived whole. On the server: at most one request is being served at a time, the
 * notify_finish deferred of a late request fires exactly once, the counters add up, and the
 * site and reactor free cleanly (nothing left open, LeakSanitizer checks the rest).
 */

#define HX_LOGGED_MAX 1024
#define HX_OUT_MAX    (4u << 20)

typedef struct {
    char method[16];
    int code;
} hx_logged_t;

typedef struct {
    weft_reactor_t *r;
    weft_site_t *site;
    weft_transport_t *t;
    int fd; /* the client's end */
    bool reading, shut, closed, site_closing;
    /* What the client read. */
    char *out;
    size_t out_len, out_cap;
    /* The access log, in order. */
    hx_logged_t logged[HX_LOGGED_MAX];
    size_t nlogged;
    /* Renders. */
    unsigned seq;
    weft_request_t *later; /* the request /later answers later, if unfinished */
    bool finished_gone;    /* a late request was finished after its client left */
    int notify_fired;      /* its notify_finish deferred's firings, all requests */
    int notify_armed;      /* notify_finish deferreds made */
} hx_t;

/* The access log's sink: libFuzzer runs inputs one after the other on one thread, so the one
 * harness state a sink can reach is this pointer, set for the input being run. */
static hx_t *current;

static void sink(const weft_log_record_t *rec, void *arg)
{
    (void)arg;
    if (current == NULL || strcmp(rec->component, "access") != 0)
        return;
    /* host - - [date] "METHOD target HTTP/x.y" code bytes */
    const char *m = strchr(rec->message, '"');
    const char *end = strrchr(rec->message, '"');
    WEFT_FUZZ_CHECK(m != NULL && end != NULL && end > m);
    WEFT_FUZZ_CHECK(current->nlogged < HX_LOGGED_MAX);
    hx_logged_t *l = &current->logged[current->nlogged++];
    size_t n = strcspn(m + 1, " ");
    WEFT_FUZZ_CHECK(n < sizeof(l->method));
    memcpy(l->method, m + 1, n);
    l->method[n] = '\0';
    unsigned long long bytes;
    WEFT_FUZZ_CHECK(sscanf(end + 1, " %d %llu", &l->code, &bytes) == 2);
}

/* ---------------------------------------------------------------- the resources */

static int stamp(weft_request_t *req)
{
    hx_t *h = current;
    WEFT_FUZZ_CHECK(h->later == NULL); /* one request at a time */
    char seq[16];
    snprintf(seq, sizeof(seq), "%u", h->seq++);
    return weft_request_set_header(req, "X-Seq", seq);
}

/* /echo (a leaf): the method, target, path, a header, an argument and the body. */
static int render_echo(weft_request_t *req, void *ctx)
{
    (void)ctx;
    int rc = stamp(req);
    if (rc != 0)
        return rc;
    size_t len;
    const char *body = weft_request_body(req, &len);
    const char *x = weft_request_header(req, "x");
    const char *a = weft_request_arg(req, "a");
    char head[512];
    int n = snprintf(head, sizeof(head), "%s %s %s %s %s %zu|", weft_request_method(req),
                     weft_request_uri(req), weft_request_path(req), x ? x : "-", a ? a : "-", len);
    rc = weft_request_write(req, head, (size_t)n < sizeof(head) ? (size_t)n : sizeof(head) - 1);
    return rc != 0 ? rc : weft_request_write(req, body, len);
}

/* /small takes a body of at most 16 bytes, and answers 413 itself past that. */
static int render_small(weft_request_t *req, void *ctx)
{
    size_t len;
    (void)weft_request_body(req, &len);
    if (len <= 16)
        return render_echo(req, ctx);
    int rc = stamp(req);
    if (rc == 0)
        rc = weft_request_set_response_code(req, 413);
    return rc != 0 ? rc : weft_request_write(req, "too big\n", 8);
}

/* /big: 4 KiB in 512-byte writes, past the response buffer: chunked, or up to the close for
 * HTTP/1.0; enough to fill a small socket buffer. */
static int render_big(weft_request_t *req, void *ctx)
{
    (void)ctx;
    int rc = stamp(req);
    static char block[512];
    memset(block, 'b', sizeof(block));
    for (int i = 0; i < 8 && rc == 0; i++)
        rc = weft_request_write(req, block, sizeof(block));
    return rc;
}

/* /fail: GET fails before writing (500); POST fails after the headers went out (the answer
 * ends as it is). */
static int render_fail(weft_request_t *req, void *ctx)
{
    (void)ctx;
    int rc = stamp(req);
    if (rc == 0 && strcmp(weft_request_method(req), "POST") == 0) {
        static const char part[100] = "partial";
        rc = weft_request_write(req, part, sizeof(part));
    }
    return rc != 0 ? rc : WEFT_EINVAL;
}

/* /empty: 204 (or 304 with ?m), with a body written anyway (dropped) and a Content-Length
 * header. */
static int render_empty(weft_request_t *req, void *ctx)
{
    (void)ctx;
    int rc = stamp(req);
    if (rc == 0)
        rc = weft_request_set_response_code(req, weft_request_arg(req, "m") ? 304 : 204);
    if (rc == 0)
        rc = weft_request_set_header(req, "Content-Length", "7");
    return rc != 0 ? rc : weft_request_write(req, "ignored", 7);
}

/* /length: its own Content-Length. */
static int render_length(weft_request_t *req, void *ctx)
{
    (void)ctx;
    int rc = stamp(req);
    if (rc == 0)
        rc = weft_request_set_header(req, "Content-Length", "5");
    return rc != 0 ? rc : weft_request_write(req, "hello", 5);
}

static weft_result_t on_notify(weft_result_t res, void *arg)
{
    (void)arg;
    current->notify_fired++;
    weft_result_free(res);
    return weft_ok(NULL, NULL);
}

/* /later: answered by the script (op 5) or at the end; ?w writes a first piece now. */
static int render_later(weft_request_t *req, void *ctx)
{
    (void)ctx;
    int rc = stamp(req);
    if (rc != 0)
        return rc;
    if (weft_request_arg(req, "w") != NULL) {
        rc = weft_request_write(req, "first piece;", 12);
        if (rc != 0)
            return rc;
    }
    weft_deferred_t *d = weft_request_notify_finish(req, NULL);
    WEFT_FUZZ_CHECK(d != NULL);
    current->notify_armed++;
    WEFT_FUZZ_CHECK(weft_deferred_add_both(d, on_notify, NULL) == 0);
    weft_deferred_unref(d);
    current->later = req;
    return WEFT_NOT_DONE_YET;
}

/* "/" (the root's child "", a leaf: Twisted's putChild(b"", ...)). */
static int render_root(weft_request_t *req, void *ctx)
{
    (void)ctx;
    int rc = stamp(req);
    return rc != 0 ? rc : weft_request_write(req, "root\n", 5);
}

static void put(weft_resource_t *root, const char *name, weft_render_fn fn, const char *methods)
{
    weft_resource_t *res = weft_resource_new(NULL, NULL, NULL);
    WEFT_FUZZ_CHECK(res != NULL);
    weft_resource_set_leaf(res, true);
    char m[64];
    snprintf(m, sizeof(m), "%s", methods);
    for (char *save, *tok = strtok_r(m, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
        WEFT_FUZZ_CHECK(weft_resource_set_render(res, tok, fn) == 0);
    WEFT_FUZZ_CHECK(weft_resource_put_child(root, name, res) == 0);
}

static weft_site_t *make_site(void)
{
    weft_resource_t *root = weft_resource_new(NULL, NULL, NULL);
    WEFT_FUZZ_CHECK(root != NULL);
    put(root, "", render_root, "GET");
    put(root, "echo", render_echo, "GET POST PUT DELETE OPTIONS PATCH");
    put(root, "small", render_small, "POST PUT");
    put(root, "big", render_big, "GET");
    put(root, "fail", render_fail, "GET POST");
    put(root, "empty", render_empty, "GET");
    put(root, "length", render_length, "GET");
    put(root, "later", render_later, "GET POST");
    weft_site_options_t o;
    weft_site_options_init(&o);
    o.max_header_bytes = 512;
    o.max_headers = 8;
    o.max_url_bytes = 96;
    o.max_body_bytes = 256;
    o.header_timeout = 5;
    o.body_timeout = 5;
    o.keepalive_timeout = 10;
    o.response_buffer = 64;
    o.access_log = true;
    int err = 0;
    weft_site_t *site = weft_site_new(root, &o, &err);
    WEFT_FUZZ_CHECK(site != NULL && err == 0);
    return site;
}

/* ---------------------------------------------------------------- the client */

/* Runs one pass of the loop without blocking. */
static void pump(hx_t *h)
{
    (void)uv_run(weft_reactor_get_uv_loop(h->r), UV_RUN_NOWAIT);
}

/* Reads what the server sent so far. */
static void drain(hx_t *h)
{
    if (h->closed)
        return;
    for (;;) {
        if (h->out_cap - h->out_len < 4096) {
            WEFT_FUZZ_CHECK(h->out_cap < HX_OUT_MAX); /* no input makes that much output */
            h->out_cap = h->out_cap ? h->out_cap * 2 : 16384;
            h->out = realloc(h->out, h->out_cap);
            WEFT_FUZZ_CHECK(h->out != NULL);
        }
        ssize_t n = recv(h->fd, h->out + h->out_len, h->out_cap - h->out_len, MSG_DONTWAIT);
        if (n <= 0)
            return;
        h->out_len += (size_t)n;
    }
}

static void step(hx_t *h)
{
    pump(h);
    if (h->reading) {
        drain(h);
        pump(h);
    }
}

/* Reads until the server has nothing queued for the client, or nothing moves for a few
 * passes (a small socket buffer passes a few writes at a time). */
static void flush(hx_t *h)
{
    h->reading = true;
    for (int idle = 0; idle < 4;) {
        size_t before = h->out_len, pending = weft_transport_pending(h->t);
        step(h);
        if (h->out_len == before && weft_transport_pending(h->t) == 0)
            return;
        idle = h->out_len == before && weft_transport_pending(h->t) == pending ? idle + 1 : 0;
    }
}

static void send_bytes(hx_t *h, const char *p, size_t n)
{
    if (h->closed || h->shut)
        return;
    while (n > 0) {
        ssize_t w = send(h->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w <= 0)
            return; /* full (the server stopped reading) or reset: the rest is never sent */
        p += w;
        n -= (size_t)w;
        step(h);
    }
}

static void finish_later(hx_t *h, uint8_t op)
{
    weft_request_t *req = h->later;
    if (req == NULL)
        return;
    if (op & 1) {
        int rc = weft_request_write(req, "late body", 9);
        WEFT_FUZZ_CHECK(rc == 0 || rc == WEFT_ECLOSED);
        WEFT_FUZZ_CHECK(rc == WEFT_ECLOSED || !weft_request_is_gone(req));
    }
    if (op & 2)
        return; /* written, not finished */
    h->later = NULL;
    if (weft_request_is_gone(req))
        h->finished_gone = true;
    WEFT_FUZZ_CHECK(weft_request_finish(req) == 0);
}

static void client_op(hx_t *h, uint8_t op)
{
    switch (op & 7) {
    case 0:
        h->reading = !h->reading;
        break;
    case 1:
        if (!h->shut && !h->closed) {
            h->shut = true;
            (void)shutdown(h->fd, SHUT_WR);
        }
        break;
    case 2:
        if (!h->closed) {
            drain(h);
            h->closed = true;
            close(h->fd);
        }
        break;
    case 3:
        if (!h->site_closing) {
            h->site_closing = true;
            weft_site_close_connections(h->site);
        }
        break;
    default:
        drain(h);
        break;
    }
}

/* ---------------------------------------------------------------- checking the answers */

static const char *find_crlf(const char *p, const char *end)
{
    for (; p + 1 < end; p++) {
        if (p[0] == '\r' && p[1] == '\n')
            return p;
    }
    return NULL;
}

static bool is_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

typedef struct {
    int code;
    bool chunked, close, has_length;
    unsigned long long length;
    long seq;
} hx_head_t;

/* Parses a status line and headers at p; returns the byte after the blank line, or NULL if
 * they are not all there. Malformed ones fail the check. */
static const char *parse_head(const char *p, const char *end, hx_head_t *hd)
{
    memset(hd, 0, sizeof(*hd));
    hd->seq = -1;
    const char *eol = find_crlf(p, end);
    if (eol == NULL)
        return NULL;
    WEFT_FUZZ_CHECK(eol - p > 13 && memcmp(p, "HTTP/1.1 ", 9) == 0);
    for (int i = 9; i < 12; i++)
        WEFT_FUZZ_CHECK(p[i] >= '0' && p[i] <= '9');
    WEFT_FUZZ_CHECK(p[9] >= '1' && p[9] <= '5' && p[12] == ' ');
    hd->code = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    for (const char *q = p + 13; q < eol; q++)
        WEFT_FUZZ_CHECK(*q >= ' ' && *q < 127);
    p = eol + 2;
    for (;;) {
        eol = find_crlf(p, end);
        if (eol == NULL)
            return NULL;
        if (eol == p)
            return p + 2;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        WEFT_FUZZ_CHECK(colon != NULL && colon > p && colon + 1 < eol && colon[1] == ' ');
        for (const char *q = p; q < colon; q++)
            WEFT_FUZZ_CHECK(is_token_char(*q));
        const char *v = colon + 2;
        size_t nlen = (size_t)(colon - p), vlen = (size_t)(eol - v);
        for (const char *q = v; q < eol; q++)
            WEFT_FUZZ_CHECK(*q >= ' ' || *q == '\t');
        char val[64];
        snprintf(val, sizeof(val), "%.*s", (int)(vlen < 63 ? vlen : 63), v);
        if (nlen == 14 && strncasecmp(p, "Content-Length", nlen) == 0) {
            char *e;
            WEFT_FUZZ_CHECK(!hd->has_length);
            hd->length = strtoull(val, &e, 10);
            WEFT_FUZZ_CHECK(e != val && *e == '\0');
            hd->has_length = true;
        } else if (nlen == 17 && strncasecmp(p, "Transfer-Encoding", nlen) == 0) {
            WEFT_FUZZ_CHECK(strcmp(val, "chunked") == 0);
            hd->chunked = true;
        } else if (nlen == 10 && strncasecmp(p, "Connection", nlen) == 0) {
            hd->close = strcmp(val, "close") == 0;
            WEFT_FUZZ_CHECK(hd->close || strcmp(val, "keep-alive") == 0);
        } else if (nlen == 5 && strncasecmp(p, "X-Seq", nlen) == 0) {
            hd->seq = strtol(val, NULL, 10);
        }
        p = eol + 2;
    }
}

/* Skips a chunked body at p; returns its end, or NULL if it is not all there. */
static const char *skip_chunked(const char *p, const char *end)
{
    for (;;) {
        const char *eol = find_crlf(p, end);
        if (eol == NULL)
            return NULL;
        WEFT_FUZZ_CHECK(eol > p && eol - p <= 16);
        unsigned long long n = 0;
        for (const char *q = p; q < eol; q++) {
            char c = *q;
            WEFT_FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
            n = n * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        p = eol + 2;
        if (n == 0) {
            if (end - p < 2)
                return NULL;
            WEFT_FUZZ_CHECK(p[0] == '\r' && p[1] == '\n'); /* no trailers */
            return p + 2;
        }
        if ((unsigned long long)(end - p) < n + 2)
            return NULL;
        WEFT_FUZZ_CHECK(p[n] == '\r' && p[n + 1] == '\n');
        p += n + 2;
    }
}

/* Walks the client's bytes; returns how many whole final responses they hold. */
static size_t check_answers(const hx_t *h)
{
    const char *p = h->out, *end = h->out + h->out_len;
    size_t k = 0;
    long next_seq = 0;
    while (p < end) {
        hx_head_t hd;
        const char *body = parse_head(p, end, &hd);
        if (body == NULL)
            break;
        if (hd.code < 200) { /* an interim answer: only 100 Continue, bare */
            WEFT_FUZZ_CHECK(hd.code == 100 && body - p == 25);
            p = body;
            continue;
        }
        if (k == h->nlogged) {
            /* An answer being written: its request is not finished, or was finished after
             * the client left (and so not logged). */
            WEFT_FUZZ_CHECK(h->later != NULL || h->finished_gone);
            WEFT_FUZZ_CHECK(!hd.chunked || skip_chunked(body, end) == NULL);
            break;
        }
        const hx_logged_t *l = &h->logged[k];
        WEFT_FUZZ_CHECK(hd.code == l->code);
        WEFT_FUZZ_CHECK(!(hd.chunked && hd.has_length));
        if (hd.seq >= 0) {
            WEFT_FUZZ_CHECK(hd.seq == next_seq); /* in the order they were rendered */
            next_seq++;
        }
        const char *next;
        if (strcmp(l->method, "HEAD") == 0 || hd.code == 204 || hd.code == 304) {
            WEFT_FUZZ_CHECK(!(hd.code == 204 && (hd.chunked || hd.has_length)));
            next = body;
        } else if (hd.chunked) {
            next = skip_chunked(body, end);
        } else if (hd.has_length) {
            next = (unsigned long long)(end - body) >= hd.length ? body + hd.length : NULL;
        } else {
            WEFT_FUZZ_CHECK(hd.close); /* delimited by the close */
            next = end;
        }
        if (next == NULL)
            break;
        k++;
        p = next;
        if (hd.close)
            WEFT_FUZZ_CHECK(p == end); /* nothing after Connection: close */
    }
    return k;
}

/* ---------------------------------------------------------------- one input */

static void open_connection(hx_t *h, uint8_t opt)
{
    int sv[2];
    WEFT_FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    if (opt & 1) {
        int small = 4096;
        (void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    }
    weft_transport_options_t to;
    weft_transport_options_init(&to);
    static const size_t high[4] = {65536, 1024, 256, 0};
    to.high_water = high[(opt >> 1) & 3];
    int err = 0;
    h->t = weft__transport_new(h->r, false, &to, &err);
    WEFT_FUZZ_CHECK(h->t != NULL);
    WEFT_FUZZ_CHECK(uv_pipe_open(&h->t->h.pipe, sv[0]) == 0);
    weft_transport_ref(h->t); /* read after the close too */
    weft_factory_t *f = weft_site_factory(h->site);
    const weft_protocol_ops_t *ops;
    void *proto;
    WEFT_FUZZ_CHECK(f->ops.build_protocol(f->ctx, "fuzz:1", &ops, &proto) == 0);
    WEFT_FUZZ_CHECK(weft__transport_start(h->t, ops, proto, &to) == 0);
    h->fd = sv[1];
    h->reading = true;
}

int FUZZ_ENTRY(http)(const uint8_t *data, size_t size)
{
    static bool logging_set;
    if (!logging_set) {
        logging_set = true;
        /* weft leaves SIGPIPE alone, so a server must ignore it: the server's write to a
         * client that closed would kill the process (libuv writes with write(2)). */
        signal(SIGPIPE, SIG_IGN);
        weft_log_set_level(WEFT_LOG_ERROR);
        WEFT_FUZZ_CHECK(weft_log_set_component_level("access", WEFT_LOG_INFO) == 0);
        weft_log_set_sink(sink, NULL);
    }
    fuzz_in_t in = {data, size};
    uint8_t opt = fuzz_byte(&in);
    hx_t h;
    memset(&h, 0, sizeof(h));
    current = &h;
    weft_reactor_options_t ro;
    weft_reactor_options_init(&ro);
    ro.manual_clock = true;
    ro.install_signal_handlers = false;
    h.r = weft_reactor_new(&ro, NULL);
    WEFT_FUZZ_CHECK(h.r != NULL);
    h.site = make_site();
    open_connection(&h, opt);

    while (in.left > 0 && !h.closed) {
        uint8_t op = fuzz_byte(&in);
        size_t n;
        const char *p;
        switch (op >> 5) {
        case 4:
            p = fuzz_take(&in, (size_t)(op & 31) * 16 + 1, &n);
            send_bytes(&h, p, n);
            break;
        case 5:
            finish_later(&h, op);
            break;
        case 6:
            WEFT_FUZZ_CHECK(weft_reactor_advance(h.r, (op & 31) * 0.5) == 0);
            break;
        case 7:
            client_op(&h, op);
            break;
        default:
            p = fuzz_take(&in, (size_t)(op & 63) + 1, &n);
            send_bytes(&h, p, n);
            break;
        }
        step(&h);
    }

    /* The end: read everything, maybe answer the late request, check, then close. */
    bool cut = h.shut || h.closed;
    if (!h.closed) {
        flush(&h);
        if (opt & 0x80)
            finish_later(&h, 0);
        flush(&h);
    }
    size_t whole = check_answers(&h);
    if (!cut)
        WEFT_FUZZ_CHECK(whole == h.nlogged); /* every answer given arrived whole */
    if (!h.closed)
        close(h.fd);
    weft_site_stats_t st;
    for (int i = 0; i < 64; i++) {
        pump(&h);
        weft_site_get_stats(h.site, &st);
        if (st.connections_open == 0)
            break;
        if (i == 32) /* time passes: a server that stopped reading learns by its timers */
            WEFT_FUZZ_CHECK(weft_reactor_advance(h.r, 60) == 0);
    }
    WEFT_FUZZ_CHECK(st.connections_open == 0);
    WEFT_FUZZ_CHECK(!weft_transport_is_connected(h.t));
    weft_transport_unref(h.t);
    if (h.later != NULL) {
        WEFT_FUZZ_CHECK(weft_request_is_gone(h.later));
        finish_later(&h, 0);
    }
    pump(&h);

    weft_site_get_stats(h.site, &st);
    WEFT_FUZZ_CHECK(h.notify_fired == h.notify_armed);
    WEFT_FUZZ_CHECK(st.in_flight == 0);
    uint64_t answered = 0;
    for (int i = 1; i <= 5; i++)
        answered += st.responses[i];
    WEFT_FUZZ_CHECK(answered == h.nlogged);
    WEFT_FUZZ_CHECK(st.requests == answered + st.clients_gone);
    WEFT_FUZZ_CHECK(st.requests >= h.seq);
    WEFT_FUZZ_CHECK(weft_site_free(h.site) == 0);
    WEFT_FUZZ_CHECK(weft_reactor_free(h.r) == 0);
    free(h.out);
    current = NULL;
    return 0;
}
