/* SPDX-License-Identifier: MIT */
/* One HTTP connection: http-parser fed from the transport, requests rendered one at a time.
 *
 * Data flow: data_received appends to c->in; process() runs the parser over c->in while no
 * request is being served. The parser pauses itself at the end of each message, so at most one
 * request is parsed ahead of its answer; the bytes of pipelined requests wait in c->in (reading
 * pauses past WEB_PIPELINE_BYTES) and are parsed once the current answer is finished: answers
 * leave in order by construction.
 *
 * Memory per connection is bounded: answers queued on the transport by its high-water mark plus
 * the answer being written (see conn_pause), c->in by WEB_PIPELINE_BYTES plus one read, a request's
 * target and headers by max_header_bytes, its body by max_body_bytes, the input dropped while
 * closing by WEB_LINGER_BYTES.
 *
 * Re-entrancy: a render may finish its request at once (inside process) or later (from any loop
 * callback); web_conn_request_finished resumes process() only when it is not already running.
 * The connection is freed by connection_lost, or by process() when it was lost meanwhile. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <weft/error.h>
#include <weft/log.h>

#include "web-internal.h"

#define WEB_PIPELINE_BYTES 65536
/* Answers gathered while pipelined requests are processed, before they are written at once. */
#define WEB_CORK_BYTES   65536
#define WEB_LINGER_BYTES (1u << 20)
#define WEB_LINGER_S     2.0

enum { T_NONE, T_IDLE, T_HEADERS, T_BODY, T_LINGER };

static void process(web_conn_t *c);
static void reject(web_conn_t *c, int code, const char *why);

static weft_reactor_t *conn_reactor(web_conn_t *c)
{
    return weft_transport_reactor(c->t);
}

/* Timers are lazy: a connection's deadline changes with every request (header timeout, then
 * the idle timeout), which would schedule and cancel two delayed calls per request. Instead
 * one delayed call stays armed; moving the deadline later is a store, and the call re-arms
 * itself for the rest when it fires early. Only a deadline earlier than the armed call
 * re-schedules it. */
static void cancel_timer(web_conn_t *c)
{
    c->timer_kind = T_NONE;
}

static void drop_timer(web_conn_t *c)
{
    if (c->timer != 0)
        (void)weft_delayed_call_cancel(conn_reactor(c), c->timer);
    c->timer = 0;
    c->timer_kind = T_NONE;
}

static void on_timer(void *arg);

static void arm(web_conn_t *c, double delay)
{
    if (weft_reactor_call_later(conn_reactor(c), delay, on_timer, c, &c->timer) != 0)
        c->timer = 0;
    else
        c->timer_at = c->deadline;
}

static void set_timer(web_conn_t *c, int kind, double seconds)
{
    if (seconds <= 0) {
        c->timer_kind = T_NONE;
        return;
    }
    c->timer_kind = kind;
    c->deadline = weft_reactor_now(conn_reactor(c)) + seconds;
    if (c->timer != 0 && c->timer_at <= c->deadline)
        return;
    if (c->timer != 0)
        (void)weft_delayed_call_cancel(conn_reactor(c), c->timer);
    arm(c, seconds);
}

/* ---------------------------------------------------------------- writing */

/* Counts bytes handed to the transport, and how full its buffer got. */
static void count_sent(web_conn_t *c, size_t n)
{
    weft_site_stats_t *st = &c->site->stats;
    st->bytes_sent += n;
    st->writes++;
    size_t pending = weft_transport_pending(c->t);
    if (pending > st->write_buffer_peak)
        st->write_buffer_peak = pending;
}

/* Writes the answers gathered for c, if it is the site buffer's owner, and gives the buffer
 * up. */
static int flush(web_conn_t *c)
{
    weft_site_t *site = c->site;
    if (site->out_owner != c)
        return 0;
    site->out_owner = NULL;
    size_t n = site->out.len;
    site->out.len = 0;
    if (n == 0 || c->lost)
        return 0;
    int rc = weft_transport_write(c->t, site->out.data, n);
    if (rc == 0)
        count_sent(c, n);
    return rc;
}

/*
 * Pipelined requests whose answers are finished while process() parses them (a render that
 * answers at once, as most do) have their answers gathered and written together when
 * process() is done: one system call for a read's worth of requests instead of one each, as
 * Twisted's transport buffers what is written during a reactor turn. An answer finished later
 * (after an offload, say) is written at once, after anything gathered. The site has one
 * buffer: a connection whose process() runs inside another's (a render finishing another
 * connection's request) writes directly.
 */
int web_conn_write(web_conn_t *c, const weft_iovec_t *iov, size_t n, size_t total)
{
    weft_site_t *site = c->site;
    web_buf_t *out = &site->out;
    if (c->corked && (site->out_owner == NULL || site->out_owner == c) &&
        out->len + total <= WEB_CORK_BYTES) {
        size_t before = out->len;
        size_t i = 0;
        while (i < n && web_buf_append(out, iov[i].base, iov[i].len) == 0)
            i++;
        if (i == n) {
            site->out_owner = c;
            return 0;
        }
        out->len = before; /* out of memory: write them directly below */
    }
    int rc = flush(c);
    if (rc != 0)
        return rc;
    rc = weft_transport_writev(c->t, iov, n);
    if (rc == 0 && total > 0)
        count_sent(c, total);
    return rc;
}

/* Stops serving: sends what is queued, shuts the write side (the client reads the answer and
 * then the end of stream), drops what still arrives, and closes once the client closes or
 * after WEB_LINGER_S. */
static void close_lingering(web_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    flush(c);
    if (weft_transport_lose_write_connection(c->t) != 0) {
        weft_transport_lose_connection(c->t);
        return;
    }
    set_timer(c, T_LINGER, WEB_LINGER_S);
}

static void on_timer(void *arg)
{
    web_conn_t *c = arg;
    int kind = c->timer_kind;
    c->timer = 0;
    if (kind == T_NONE)
        return;
    double left = c->deadline - weft_reactor_now(conn_reactor(c));
    if (left > 0) {
        arm(c, left);
        return;
    }
    c->timer_kind = T_NONE;
    if ((kind == T_HEADERS || kind == T_BODY) && c->req != NULL && !c->busy) {
        c->site->stats.timeouts++;
        reject(c, 408, kind == T_HEADERS ? "request headers too slow" : "request body stalled");
        return;
    }
    if (kind == T_IDLE)
        c->site->stats.timeouts++;
    weft_transport_lose_connection(c->t);
}

/* ---------------------------------------------------------------- parser callbacks */

static int on_message_begin(http_parser *p)
{
    web_conn_t *c = p->data;
    c->req = web_request_new(c->site, c);
    if (c->req == NULL)
        return -1;
    c->in_message = true;
    c->header_bytes = 0;
    c->hstate = 0;
    set_timer(c, T_HEADERS, c->site->opts.header_timeout);
    return 0;
}

static int count_header_bytes(web_conn_t *c, size_t len)
{
    c->header_bytes += len;
    if (c->header_bytes > c->site->opts.max_header_bytes) {
        c->reject = 431;
        return -1;
    }
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    web_conn_t *c = p->data;
    weft_request_t *req = c->req;
    if (req->arena.len + len > c->site->opts.max_url_bytes) {
        c->reject = 414;
        return -1;
    }
    if (count_header_bytes(c, len) != 0)
        return -1;
    return web_buf_append(&req->arena, at, len) == 0 ? 0 : -1;
}

/* Ends the token being collected (the url, a name or a value) with its NUL. A value loses its
 * trailing spaces and tabs (RFC 9110's OWS; http-parser drops only the leading ones). */
static int end_token(web_conn_t *c, weft_request_t *req)
{
    if (c->hstate == 2) {
        size_t start = req->headers[req->nheaders - 1].value;
        while (req->arena.len > start && (req->arena.data[req->arena.len - 1] == ' ' ||
                                          req->arena.data[req->arena.len - 1] == '\t'))
            req->arena.len--;
    }
    return web_buf_append(&req->arena, "", 1);
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    web_conn_t *c = p->data;
    weft_request_t *req = c->req;
    if (count_header_bytes(c, len) != 0)
        return -1;
    if (c->hstate != 1) {
        if (req->nheaders == c->site->opts.max_headers) {
            c->reject = 431;
            return -1;
        }
        if (end_token(c, req) != 0)
            return -1;
        if (req->nheaders == req->headers_cap) {
            size_t cap = req->headers_cap ? req->headers_cap * 2 : 16;
            web_pair_t *h = realloc(req->headers, cap * sizeof(*h));
            if (h == NULL)
                return -1;
            req->headers = h;
            req->headers_cap = cap;
        }
        req->headers[req->nheaders].name = (uint32_t)req->arena.len;
        req->headers[req->nheaders].value = 0;
        req->nheaders++;
        c->hstate = 1;
    }
    return web_buf_append(&req->arena, at, len) == 0 ? 0 : -1;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    web_conn_t *c = p->data;
    weft_request_t *req = c->req;
    if (count_header_bytes(c, len) != 0)
        return -1;
    if (c->hstate != 2) {
        if (end_token(c, req) != 0)
            return -1;
        req->headers[req->nheaders - 1].value = (uint32_t)req->arena.len;
        c->hstate = 2;
    }
    return web_buf_append(&req->arena, at, len) == 0 ? 0 : -1;
}

static int on_headers_complete(http_parser *p)
{
    web_conn_t *c = p->data;
    weft_request_t *req = c->req;
    if (end_token(c, req) != 0)
        return -1;
    if (c->hstate == 1) /* a name without a value: the parser does not allow it */
        return -1;
    set_timer(c, T_BODY, c->site->opts.body_timeout);
    snprintf(req->method, sizeof(req->method), "%s", http_method_str(p->method));
    req->http_major = p->http_major;
    req->http_minor = p->http_minor;
    req->keep_alive = http_should_keep_alive(p) != 0 && !p->upgrade;
    if (req->http_major != 1) {
        c->reject = 400;
        return -1;
    }
    if (web_request_prepare(req) != 0)
        return -1;
    weft_site_t *site = c->site;
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > site->opts.max_body_bytes) {
        c->reject = 413;
        return -1;
    }
    const char *expect = weft_request_header(req, "Expect");
    if (expect != NULL && strcasecmp(expect, "100-continue") == 0 && req->http_minor >= 1 &&
        ((p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length > 0))) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        weft_iovec_t iov = {cont, sizeof(cont) - 1};
        int rc = web_conn_write(c, &iov, 1, iov.len); /* after the answers gathered before it */
        (void)rc; /* on failure the connection is lost, and connection_lost says so */
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    web_conn_t *c = p->data;
    weft_request_t *req = c->req;
    if (req->body.len + len > c->site->opts.max_body_bytes) {
        c->reject = 413;
        return -1;
    }
    set_timer(c, T_BODY, c->site->opts.body_timeout); /* a store: the timer is lazy */
    return web_buf_append(&req->body, at, len) == 0 ? 0 : -1;
}

static int on_message_complete(http_parser *p)
{
    cancel_timer(p->data);
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---------------------------------------------------------------- serving */

/* Answers the request being parsed with code and closes the connection. */
static void reject(web_conn_t *c, int code, const char *why)
{
    weft_site_t *site = c->site;
    weft_request_t *req = c->req;
    c->req = NULL;
    c->in_message = false;
    cancel_timer(c);
    if (code == 400)
        site->stats.bad_requests++;
    else if (code != 408)
        site->stats.over_limit++;
    weft_log(WEFT_LOG_INFO, "http", "closing %s: %d %s (%s)", c->peer, code, web_reason(code), why);
    if (req == NULL)
        req = web_request_new(site, c);
    if (req == NULL) {
        weft_transport_abort_connection(c->t);
        return;
    }
    if (req->method[0] == '\0')
        snprintf(req->method, sizeof(req->method), "-");
    if (req->http_major == 0) {
        req->http_major = 1;
        req->http_minor = 1;
    }
    req->keep_alive = false;
    req->nheaders = 0;
    /* A HEAD request rejected after its headers (413, a bad version) gets no body either. */
    req->head = strcmp(req->method, "HEAD") == 0;
    c->busy = true;
    c->req = req;
    site->stats.requests++;
    site->stats.in_flight++;
    web_request_error(req, code);
}

static void process(web_conn_t *c)
{
    if (c->processing)
        return;
    c->processing = true;
    c->corked = true;
    while (!c->lost && !c->closing && !c->busy && !c->write_paused && c->in.len > 0) {
        size_t n = http_parser_execute(&c->parser, &settings, c->in.data, c->in.len);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (n > c->in.len)
            n = c->in.len;
        memmove(c->in.data, c->in.data + n, c->in.len - n);
        c->in.len -= n;
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
            weft_request_t *req = c->req;
            c->in_message = false;
            c->busy = true;
            if (c->parser.upgrade)
                req->keep_alive = false;
            web_request_dispatch(req);
            continue;
        }
        if (e != HPE_OK) {
            int code = c->reject != 0 ? c->reject : 400;
            reject(c, code, code == 400 ? http_errno_description(e) : "over a limit");
            break;
        }
        if (c->parser.upgrade) { /* parsing stopped before the message's end */
            reject(c, 400, "upgrade without a complete message");
            break;
        }
    }
    if (!c->lost && !c->closing && !c->busy && !c->in_message && c->in.len == 0 &&
        c->timer_kind != T_IDLE)
        set_timer(c, T_IDLE, c->site->opts.keepalive_timeout);
    if (!c->lost && !c->closing && weft_transport_is_reading_paused(c->t) &&
        c->in.len < WEB_PIPELINE_BYTES) {
        int rc = weft_transport_resume_reading(c->t);
        (void)rc; /* on failure the connection is lost, and connection_lost says so */
    }
    c->corked = false;
    int rc = flush(c);
    (void)rc; /* on failure the connection is lost, and connection_lost says so */
    c->processing = false;
    if (c->lost) {
        web_buf_free(&c->in);
        free(c);
    }
}

void web_conn_request_finished(web_conn_t *c, weft_request_t *req)
{
    c->busy = false;
    if (c->req == req)
        c->req = NULL;
    if (c->lost)
        return;
    if (c->site->closing) { /* a shutdown: the client has its answer, no need to linger */
        c->closing = true;
        cancel_timer(c);
        flush(c);
        weft_transport_lose_connection(c->t);
        return;
    }
    if (!req->keep_alive) {
        close_lingering(c);
        return;
    }
    process(c);
}

void web_conn_close_when_idle(web_conn_t *c)
{
    if (c->lost || c->closing)
        return;
    if (!c->busy) {
        c->closing = true;
        cancel_timer(c);
        flush(c);
        weft_transport_lose_connection(c->t);
    }
}

/* ---------------------------------------------------------------- the protocol */

static void conn_made(void *proto, weft_transport_t *t)
{
    web_conn_t *c = proto;
    c->t = t;
    set_timer(c, T_IDLE, c->site->opts.keepalive_timeout);
}

static void conn_data(void *proto, weft_transport_t *t, const char *data, size_t len)
{
    web_conn_t *c = proto;
    if (c->closing) {
        c->dropped += len;
        if (c->dropped > WEB_LINGER_BYTES)
            weft_transport_abort_connection(t);
        return;
    }
    if (web_buf_append(&c->in, data, len) != 0) {
        weft_transport_abort_connection(t);
        return;
    }
    if (c->in.len >= WEB_PIPELINE_BYTES)
        weft_transport_pause_reading(t);
    if (c->timer_kind == T_IDLE)
        cancel_timer(c);
    process(c);
}

static void conn_lost(void *proto, weft_transport_t *t, weft_failure_t *reason)
{
    (void)t;
    web_conn_t *c = proto;
    weft_failure_free(reason);
    c->lost = true;
    drop_timer(c);
    weft_request_t *req = c->req;
    c->req = NULL;
    if (req != NULL) {
        if (c->busy)
            web_request_client_gone(req);
        else
            web_request_release(req);
    }
    web_site_conn_gone(c->site, c);
    if (!c->processing) {
        web_buf_free(&c->in);
        free(c);
    }
}

/* Back-pressure: while the transport holds more than its high-water mark of answers the client
 * has not read, no further pipelined request is started (its input waits, and reading pauses
 * once that is full), so a client that sends and never reads cannot grow the queue. */
static void conn_pause(void *proto, weft_transport_t *t)
{
    (void)t;
    ((web_conn_t *)proto)->write_paused = true;
}

static void conn_resume(void *proto, weft_transport_t *t)
{
    (void)t;
    web_conn_t *c = proto;
    c->write_paused = false;
    if (c->busy && c->req != NULL)
        web_request_writable(c->req); /* a streamed body goes on */
    process(c);
}

static const weft_protocol_ops_t conn_ops = {
    .connection_made = conn_made,
    .data_received = conn_data,
    .connection_lost = conn_lost,
    .pause_producing = conn_pause,
    .resume_producing = conn_resume,
};

const weft_protocol_ops_t *web_conn_ops(void)
{
    return &conn_ops;
}

web_conn_t *web_conn_new(weft_site_t *site, const char *peer)
{
    web_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->site = site;
    snprintf(c->peer, sizeof(c->peer), "%s", peer != NULL ? peer : "");
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    return c;
}
