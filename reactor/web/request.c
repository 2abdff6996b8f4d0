/* SPDX-License-Identifier: MIT */
/* Requests: what arrived (accessors), and the response going back (status, headers, body,
 * finish, notify_finish).
 *
 * Life of a request: made by its connection when a message begins; filled by the parser's
 * callbacks; dispatched to a render once complete. It is released when it is finished (by the
 * render's return, or by the weft_request_finish of a WEFT_NOT_DONE_YET render) or, when the
 * connection goes before the render started, by the connection. A request whose client goes
 * away while it waits is only marked gone: the render's later finish releases it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <weft/error.h>
#include <weft/log.h>

#include "web-internal.h"

int web_buf_append(web_buf_t *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (p == NULL)
            return WEFT_ENOMEM;
        b->data = p;
        b->cap = cap;
    }
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

void web_buf_free(web_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

weft_request_t *web_request_new(weft_site_t *site, web_conn_t *c)
{
    weft_request_t *req = site->free_requests;
    if (req != NULL) {
        site->free_requests = req->next_free;
        site->nfree_requests--;
        req->next_free = NULL;
    } else {
        req = calloc(1, sizeof(*req));
        if (req == NULL)
            return NULL;
    }
    req->site = site;
    req->conn = c;
    req->r = weft_transport_reactor(c->t);
    req->code = 200;
    snprintf(req->client, sizeof(req->client), "%s", c->peer);
    site->live_requests++;
    return req;
}

/* Frees what a request holds; keeps its buffers when keep_buffers (they are reused). */
static void request_clear(weft_request_t *req, bool keep_buffers)
{
    web_resource_free_owned(req);
    for (size_t i = 0; i < req->nnotify; i++)
        weft_deferred_unref(req->notify[i]);
    free(req->notify);
    for (size_t i = 0; i < req->nresp_headers; i++) {
        free(req->resp_headers[i].name);
        free(req->resp_headers[i].value);
    }
    free(req->resp_headers);
    free(req->args);
    free(req->path);
    free(req->postpath);
    if (!keep_buffers) {
        web_buf_free(&req->arena);
        web_buf_free(&req->args_arena);
        web_buf_free(&req->body);
        web_buf_free(&req->out);
        free(req->headers);
        return;
    }
    web_buf_t arena = req->arena, args = req->args_arena, body = req->body, out = req->out;
    web_pair_t *headers = req->headers;
    size_t headers_cap = req->headers_cap;
    memset(req, 0, sizeof(*req));
    arena.len = args.len = body.len = out.len = 0;
    req->arena = arena;
    req->args_arena = args;
    req->body = body;
    req->out = out;
    req->headers = headers;
    req->headers_cap = headers_cap;
}

/* Requests are recycled per site (up to WEB_FREE_REQUESTS, with buffers up to
 * WEB_RECYCLE_BYTES): a kept-alive connection then parses and answers without allocating. */
#define WEB_FREE_REQUESTS 64
#define WEB_RECYCLE_BYTES 16384

void web_request_release(weft_request_t *req)
{
    if (req == NULL)
        return;
    if (req->produce_scheduled) { /* produce_soon still holds req: it releases it */
        req->release_pending = true;
        return;
    }
    weft_site_t *site = req->site;
    site->live_requests--;
    bool keep = site->nfree_requests < WEB_FREE_REQUESTS && req->arena.cap <= WEB_RECYCLE_BYTES &&
                req->body.cap <= WEB_RECYCLE_BYTES && req->out.cap <= WEB_RECYCLE_BYTES &&
                req->args_arena.cap <= WEB_RECYCLE_BYTES && req->headers_cap <= 64;
    request_clear(req, keep);
    if (!keep) {
        free(req);
        return;
    }
    req->next_free = site->free_requests;
    site->free_requests = req;
    site->nfree_requests++;
}

void web_request_free_list(weft_site_t *site)
{
    while (site->free_requests != NULL) {
        weft_request_t *req = site->free_requests;
        site->free_requests = req->next_free;
        request_clear(req, false);
        free(req);
    }
    site->nfree_requests = 0;
}

/* ---------------------------------------------------------------- what arrived */

const char *weft_request_method(const weft_request_t *req)
{
    return req->method;
}

const char *weft_request_uri(const weft_request_t *req)
{
    return req->arena.data != NULL ? req->arena.data + req->url_off : "";
}

const char *weft_request_path(const weft_request_t *req)
{
    return req->path != NULL ? req->path : "";
}

const char *weft_request_postpath(const weft_request_t *req)
{
    return req->postpath != NULL ? req->postpath : "";
}

int weft_request_http_minor(const weft_request_t *req)
{
    return req->http_minor;
}

const char *weft_request_arg(const weft_request_t *req, const char *name)
{
    for (size_t i = 0; i < req->nargs; i++) {
        if (strcmp(req->args_arena.data + req->args[i].name, name) == 0)
            return req->args_arena.data + req->args[i].value;
    }
    return NULL;
}

size_t weft_request_arg_count(const weft_request_t *req)
{
    return req->nargs;
}

bool weft_request_arg_at(const weft_request_t *req, size_t i, const char **name, const char **value)
{
    if (i >= req->nargs)
        return false;
    if (name != NULL)
        *name = req->args_arena.data + req->args[i].name;
    if (value != NULL)
        *value = req->args_arena.data + req->args[i].value;
    return true;
}

const char *weft_request_header(const weft_request_t *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        if (strcasecmp(req->arena.data + req->headers[i].name, name) == 0)
            return req->arena.data + req->headers[i].value;
    }
    return NULL;
}

size_t weft_request_header_count(const weft_request_t *req)
{
    return req->nheaders;
}

bool weft_request_header_at(const weft_request_t *req, size_t i, const char **name,
                            const char **value)
{
    if (i >= req->nheaders)
        return false;
    if (name != NULL)
        *name = req->arena.data + req->headers[i].name;
    if (value != NULL)
        *value = req->arena.data + req->headers[i].value;
    return true;
}

const char *weft_request_body(const weft_request_t *req, size_t *len)
{
    if (len != NULL)
        *len = req->body.len;
    return req->body.data != NULL ? req->body.data : "";
}

const char *weft_request_client(const weft_request_t *req)
{
    return req->client;
}

struct weft_site_s *weft_request_site(const weft_request_t *req)
{
    return req->site;
}

weft_reactor_t *weft_request_reactor(const weft_request_t *req)
{
    return req->r;
}

bool weft_request_is_gone(const weft_request_t *req)
{
    return req->gone;
}

/* ---------------------------------------------------------------- the response */

const char *web_reason(int code)
{
    switch (code) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

int weft_request_set_response_code(weft_request_t *req, int code)
{
    if (code < 100 || code > 999)
        return WEFT_EINVAL;
    if (req->headers_sent)
        return WEFT_EALREADY;
    req->code = code;
    return 0;
}

int weft_request_response_code(const weft_request_t *req)
{
    return req->code;
}

static bool header_text_ok(const char *s)
{
    return strpbrk(s, "\r\n") == NULL;
}

static const web_header_t *find_resp_header(const weft_request_t *req, const char *name)
{
    for (size_t i = 0; i < req->nresp_headers; i++) {
        if (strcasecmp(req->resp_headers[i].name, name) == 0)
            return &req->resp_headers[i];
    }
    return NULL;
}

int weft_request_set_header(weft_request_t *req, const char *name, const char *value)
{
    if (name == NULL || value == NULL || name[0] == '\0' || !header_text_ok(name) ||
        !header_text_ok(value) || strchr(name, ':') != NULL)
        return WEFT_EINVAL;
    if (req->headers_sent)
        return WEFT_EALREADY;
    char *v = strdup(value);
    if (v == NULL)
        return WEFT_ENOMEM;
    web_header_t *h = (web_header_t *)find_resp_header(req, name);
    if (h != NULL) {
        free(h->value);
        h->value = v;
        return 0;
    }
    web_header_t *hs = realloc(req->resp_headers, (req->nresp_headers + 1) * sizeof(*hs));
    char *n = strdup(name);
    if (hs == NULL || n == NULL) {
        if (hs != NULL)
            req->resp_headers = hs;
        free(n);
        free(v);
        return WEFT_ENOMEM;
    }
    req->resp_headers = hs;
    hs[req->nresp_headers].name = n;
    hs[req->nresp_headers].value = v;
    req->nresp_headers++;
    return 0;
}

static bool no_body_code(int code)
{
    return code < 200 || code == 204 || code == 304;
}

/* Hands bytes to the connection (web_conn_write), which counts them. */
static int send_pieces(weft_request_t *req, const weft_iovec_t *iov, size_t n)
{
    if (req->conn == NULL)
        return WEFT_ECLOSED;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += iov[i].len;
    return web_conn_write(req->conn, iov, n, total);
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LIT(p, lit) put((p), (lit), sizeof(lit) - 1)

static char *put_str(char *p, const char *s)
{
    return put(p, s, strlen(s));
}

static char *put_u64(char *p, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

/* Sends the status line and headers, and the buffered body (with the chunk framing when the
 * response is chunked; final: the body is complete). The head is built with plain copies:
 * it is on every response's path, and snprintf cost more than the rest of it. */
static int send_head(weft_request_t *req, bool final)
{
    weft_site_t *site = req->site;
    bool bodyless = no_body_code(req->code);
    const web_header_t *cl = find_resp_header(req, "Content-Length");
    req->has_length = cl != NULL || final;
    if (!bodyless && !req->has_length) {
        if (req->http_minor >= 1)
            req->chunked = true;
        else
            req->close_delimited = true;
    }
    if (req->close_delimited || site->closing)
        req->keep_alive = false;
    const char *server = site->opts.server_name;
    size_t need = 256 + (server != NULL ? strlen(server) : 0);
    for (size_t i = 0; i < req->nresp_headers; i++)
        need += strlen(req->resp_headers[i].name) + strlen(req->resp_headers[i].value) + 4;
    char stack[1024];
    char *head = need <= sizeof(stack) ? stack : malloc(need);
    if (head == NULL)
        return WEFT_ENOMEM;
    char *p = PUT_LIT(head, "HTTP/1.1 ");
    p = put_u64(p, (uint64_t)req->code);
    *p++ = ' ';
    p = put_str(p, web_reason(req->code));
    p = PUT_LIT(p, "\r\nDate: ");
    p = put_str(p, web_site_date(site));
    p = PUT_LIT(p, "\r\n");
    if (server != NULL) {
        p = PUT_LIT(p, "Server: ");
        p = put_str(p, server);
        p = PUT_LIT(p, "\r\n");
    }
    if (!bodyless && cl == NULL) {
        if (req->chunked) {
            p = PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
        } else if (final) {
            p = PUT_LIT(p, "Content-Length: ");
            p = put_u64(p, req->body_bytes);
            p = PUT_LIT(p, "\r\n");
        }
    }
    if (!bodyless && find_resp_header(req, "Content-Type") == NULL)
        p = PUT_LIT(p, "Content-Type: text/html\r\n");
    if (!req->keep_alive)
        p = PUT_LIT(p, "Connection: close\r\n");
    else if (req->http_minor == 0)
        p = PUT_LIT(p, "Connection: keep-alive\r\n");
    for (size_t i = 0; i < req->nresp_headers; i++) {
        const web_header_t *h = &req->resp_headers[i];
        if (bodyless && req->code != 304 && strcasecmp(h->name, "Content-Length") == 0)
            continue;
        p = put_str(p, h->name);
        p = PUT_LIT(p, ": ");
        p = put_str(p, h->value);
        p = PUT_LIT(p, "\r\n");
    }
    p = PUT_LIT(p, "\r\n");
    req->headers_sent = true;
    weft_iovec_t iov[4];
    size_t k = 0;
    iov[k++] = (weft_iovec_t){head, (size_t)(p - head)};
    char chunk[24];
    if (req->out.len > 0 && !bodyless) {
        if (req->chunked) {
            int cn = snprintf(chunk, sizeof(chunk), "%zx\r\n", req->out.len);
            iov[k++] = (weft_iovec_t){chunk, (size_t)cn};
        }
        iov[k++] = (weft_iovec_t){req->out.data, req->out.len};
        if (req->chunked)
            iov[k++] = (weft_iovec_t){"\r\n", 2};
    }
    int rc = send_pieces(req, iov, k);
    req->out.len = 0;
    if (head != stack)
        free(head);
    return rc;
}

static void produce_kick(weft_request_t *req);

static int write_body(weft_request_t *req, const void *data, size_t len);

int weft_request_write(weft_request_t *req, const void *data, size_t len)
{
    int rc = write_body(req, data, len);
    if (rc == 0 && req->produce != NULL) {
        req->produce_due = true;
        produce_kick(req);
    }
    return rc;
}

static int write_body(weft_request_t *req, const void *data, size_t len)
{
    if (data == NULL && len > 0)
        return WEFT_EINVAL;
    if (req->finished)
        return WEFT_EALREADY;
    if (req->gone || req->conn == NULL)
        return WEFT_ECLOSED;
    if (len == 0)
        return 0;
    req->body_bytes += len;
    if (req->head || no_body_code(req->code))
        return 0;
    if (!req->headers_sent) {
        int rc = web_buf_append(&req->out, data, len);
        if (rc != 0 || req->out.len < req->site->opts.response_buffer)
            return rc;
        return send_head(req, false);
    }
    if (req->chunked) {
        char chunk[24];
        int cn = snprintf(chunk, sizeof(chunk), "%zx\r\n", len);
        weft_iovec_t iov[3] = {{chunk, (size_t)cn}, {data, len}, {"\r\n", 2}};
        return send_pieces(req, iov, 3);
    }
    weft_iovec_t iov = {data, len};
    return send_pieces(req, &iov, 1);
}

/* One common log format line: host ident user [date] "request" status bytes. */
static void access_log(weft_request_t *req)
{
    if (!req->site->opts.access_log || !weft_log_enabled(WEFT_LOG_INFO, "access"))
        return;
    char host[64];
    snprintf(host, sizeof(host), "%s", req->client);
    char *colon = strrchr(host, ':');
    if (colon != NULL && host[0] != '[')
        *colon = '\0';
    else if (colon != NULL && colon > host && colon[-1] == ']') {
        colon[-1] = '\0';
        memmove(host, host + 1, strlen(host));
    }
    time_t now = time(NULL);
    struct tm tm;
    char date[40];
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%d/%b/%Y:%H:%M:%S +0000", &tm);
    weft_log(WEFT_LOG_INFO, "access", "%s - - [%s] \"%s %s HTTP/%d.%d\" %d %llu", host, date,
             req->method, weft_request_uri(req), req->http_major, req->http_minor, req->code,
             (unsigned long long)(req->head ? 0 : req->body_bytes));
}

static void fire_notify(weft_request_t *req, bool ok)
{
    size_t n = req->nnotify;
    weft_deferred_t **ds = req->notify;
    req->notify = NULL;
    req->nnotify = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = ok ? weft_deferred_callback(ds[i], NULL, NULL)
                    : weft_deferred_errback(
                          ds[i], weft_failure_new(&weft_connection_lost_type, WEFT_ECONNRESET,
                                                  "the client went away before the "
                                                  "response was finished"));
        (void)rc;
        weft_deferred_unref(ds[i]);
    }
    free(ds);
}

int weft_request_finish(weft_request_t *req)
{
    if (req->finished) {
        weft_log(WEFT_LOG_WARN, "http", "request finished twice: %s %s", req->method,
                 weft_request_uri(req));
        return WEFT_EALREADY;
    }
    req->finished = true;
    weft_request_unregister_producer(req);
    weft_site_t *site = req->site;
    site->stats.in_flight--;
    web_conn_t *c = req->conn;
    if (c != NULL && !req->gone) {
        int rc = 0;
        const web_header_t *cl = find_resp_header(req, "Content-Length");
        if (cl != NULL && !req->head && !no_body_code(req->code) &&
            req->body_bytes != strtoull(cl->value, NULL, 10))
            req->keep_alive = false; /* a short (or long) body: only the close delimits it */
        if (!req->headers_sent)
            rc = send_head(req, true);
        else if (req->chunked && !req->head)
            rc = send_pieces(req, &(weft_iovec_t){"0\r\n\r\n", 5}, 1);
        (void)rc;
        int cls = req->code / 100;
        if (cls >= 1 && cls <= 5)
            site->stats.responses[cls]++;
        access_log(req);
        req->conn = NULL;
        fire_notify(req, true);
        web_conn_request_finished(c, req);
    }
    if (!req->in_render)
        web_request_release(req);
    return 0;
}

weft_deferred_t *weft_request_notify_finish(weft_request_t *req, int *err)
{
    weft_deferred_t *d = weft_deferred_new();
    weft_deferred_t **ds = d ? realloc(req->notify, (req->nnotify + 1) * sizeof(*ds)) : NULL;
    if (ds == NULL) {
        weft_deferred_unref(d);
        if (err != NULL)
            *err = WEFT_ENOMEM;
        return NULL;
    }
    req->notify = ds;
    if (req->gone) {
        int rc =
            weft_deferred_errback(d, weft_failure_new(&weft_connection_lost_type, WEFT_ECONNRESET,
                                                      "the client went away"));
        (void)rc;
        return d;
    }
    ds[req->nnotify++] = weft_deferred_ref(d);
    return d;
}

/* The connection is gone while the request waits for its render's finish. */
void web_request_client_gone(weft_request_t *req)
{
    req->gone = true;
    req->conn = NULL;
    req->site->stats.clients_gone++;
    /* Held while notify_finish's errbacks run: one may finish (and so release) req, which is
     * then released here, after the producer is stopped. */
    bool held = req->in_render;
    req->in_render = true;
    fire_notify(req, false);
    weft_request_stop_cb stop = req->stop;
    void *arg = req->producer_arg;
    bool had = req->produce != NULL;
    weft_request_unregister_producer(req);
    req->in_render = held;
    if (!held && req->finished) {
        web_request_release(req); /* an errback finished it; the producer is not told twice */
        return;
    }
    if (had && stop != NULL)
        stop(req, arg); /* last: it may finish (and so release) req */
}

/* ---------------------------------------------------------------- pull producers
 *
 * produce runs from a call_soon (produce_soon), never from inside a weft_request_* call: a
 * producer that writes from produce would otherwise recurse once per piece. While that call is
 * pending it holds req: a release meanwhile is left to produce_soon (release_pending). */

static bool produce_allowed(const weft_request_t *req)
{
    return req->produce != NULL && req->produce_due && req->conn != NULL && !req->gone &&
           !req->finished;
}

static void produce_soon(void *arg)
{
    weft_request_t *req = arg;
    req->produce_scheduled = false;
    if (req->release_pending) {
        req->release_pending = false;
        web_request_release(req);
        return;
    }
    if (!produce_allowed(req))
        return;
    if (req->conn->write_paused) { /* paused since it was scheduled: wait for the drain */
        produce_kick(req);
        return;
    }
    req->produce_due = false;
    req->produce(req, req->producer_arg);
}

static void produce_kick(weft_request_t *req)
{
    if (req->produce_scheduled || !produce_allowed(req))
        return;
    if (req->conn->write_paused) {
        if (!req->produce_waiting) {
            req->produce_waiting = true;
            req->site->stats.producer_waits++;
        }
        return; /* web_request_writable kicks again */
    }
    int rc = weft_reactor_call_soon(req->r, produce_soon, req);
    if (rc != 0) {
        weft_log(WEFT_LOG_WARN, "http", "cannot schedule the producer of %s %s: %s", req->method,
                 weft_request_uri(req), weft_strerror(rc));
        return;
    }
    req->produce_scheduled = true;
}

/* The connection's transport drained to its low-water mark while req is being served. */
void web_request_writable(weft_request_t *req)
{
    req->produce_waiting = false;
    produce_kick(req);
}

int weft_request_register_producer(weft_request_t *req, weft_request_produce_cb produce,
                                   weft_request_stop_cb stop, void *arg)
{
    if (req == NULL || produce == NULL)
        return WEFT_EINVAL;
    if (req->finished || req->produce != NULL)
        return WEFT_EALREADY;
    if (req->gone || req->conn == NULL)
        return WEFT_ECLOSED;
    req->produce = produce;
    req->stop = stop;
    req->producer_arg = arg;
    req->produce_due = true;
    req->produce_waiting = false;
    produce_kick(req);
    if (!req->produce_scheduled && !req->conn->write_paused) { /* call_soon failed */
        weft_request_unregister_producer(req);
        return WEFT_ENOMEM;
    }
    return 0;
}

void weft_request_unregister_producer(weft_request_t *req)
{
    if (req == NULL)
        return;
    req->produce = NULL;
    req->stop = NULL;
    req->producer_arg = NULL;
    req->produce_due = false;
    req->produce_waiting = false;
}

/* Answers req with an error page for code (404, 405, 400 ...) and finishes it. */
int web_request_error(weft_request_t *req, int code)
{
    req->code = code;
    req->out.len = 0;
    req->body_bytes = 0;
    char body[128];
    int n = snprintf(body, sizeof(body), "<html><body><h1>%d %s</h1></body></html>\n", code,
                     web_reason(code));
    int rc = weft_request_write(req, body, (size_t)n);
    (void)rc;
    return weft_request_finish(req);
}

/* Splits the target into the decoded path and the query's arguments. */
int web_request_prepare(weft_request_t *req)
{
    const char *uri = weft_request_uri(req);
    /* An absolute-form target (proxy style): keep its path. */
    if (strncasecmp(uri, "http://", 7) == 0 || strncasecmp(uri, "https://", 8) == 0) {
        const char *p = strchr(strstr(uri, "//") + 2, '/');
        uri = p != NULL ? p : "/";
    }
    const char *q = strchr(uri, '?');
    size_t plen = q != NULL ? (size_t)(q - uri) : strlen(uri);
    req->path = strndup(uri, plen);
    if (req->path == NULL)
        return WEFT_ENOMEM;
    const char *hash = strchr(uri, '#');
    if (hash != NULL && (size_t)(hash - uri) < plen)
        req->path[hash - uri] = '\0';
    if (web_url_decode(req->path, false) != 0)
        return WEFT_EPROTO;
    if (q != NULL) {
        char *query = strdup(q + 1);
        if (query == NULL)
            return WEFT_ENOMEM;
        char *h = strchr(query, '#');
        if (h != NULL)
            *h = '\0';
        int rc = web_parse_query(req, query);
        free(query);
        return rc;
    }
    return 0;
}

/* Finds the request's resource and renders it (see resource.h). */
void web_request_dispatch(weft_request_t *req)
{
    weft_site_t *site = req->site;
    site->stats.requests++;
    site->stats.in_flight++;
    req->head = strcmp(req->method, "HEAD") == 0;
    const char *postpath = "";
    int err = 0;
    weft_resource_t *res = web_resource_locate(site->root, req->path, &postpath, req, &err);
    if (res == NULL) {
        if (err != 0)
            weft_log(WEFT_LOG_WARN, "http", "finding the resource of %s %s failed: %s", req->method,
                     req->path, weft_strerror(err));
        web_request_error(req, err != 0 ? 500 : 404);
        return;
    }
    req->postpath = strdup(postpath);
    weft_render_fn fn = web_resource_render_for(res, req->method);
    if (req->postpath == NULL || fn == NULL) {
        char allow[160];
        web_resource_allow(res, allow, sizeof(allow));
        int rc = weft_request_set_header(req, "Allow", allow);
        (void)rc;
        web_request_error(req, req->postpath == NULL ? 500 : 405);
        return;
    }
    req->in_render = true;
    int rc = fn(req, res->ctx);
    req->in_render = false;
    if (req->finished) {
        web_request_release(req);
        return;
    }
    if (rc == WEFT_NOT_DONE_YET) {
        req->not_done_yet = true;
        return;
    }
    if (rc < 0 && !req->headers_sent) {
        weft_log(WEFT_LOG_WARN, "http", "render of %s %s failed: %s", req->method, req->path,
                 weft_strerror(rc));
        web_request_error(req, 500);
        return;
    }
    weft_request_finish(req);
}
