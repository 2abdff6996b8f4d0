/* SPDX-License-Identifier: MIT */
/* Helpers for the HTTP tests. */
#include <ctype.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include <weft/error.h>
#include <weft/request.h>
#include <weft/resource.h>

#include "helpers.h"
#include "http-helpers.h"
#include "tap.h"

void th_start(th_server_t *s, weft_reactor_t *r, weft_resource_t *root,
              const weft_site_options_t *opts)
{
    weft_site_options_t o;
    if (opts != NULL) {
        o = *opts;
    } else {
        weft_site_options_init(&o);
        o.access_log = false;
    }
    int err = 0;
    s->r = r;
    s->site = weft_site_new(root, &o, &err);
    if (s->site == NULL)
        bail_out("weft_site_new: %s", weft_strerror(err));
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = "127.0.0.1";
    s->l = weft_listen_tcp(r, &lo, weft_site_factory(s->site), &err);
    if (s->l == NULL)
        bail_out("weft_listen_tcp: %s", weft_strerror(err));
    s->port = weft_listener_port(s->l);
}

static bool site_freed(void *arg)
{
    th_server_t *s = arg;
    return s->site == NULL;
}

static bool try_free(void *arg)
{
    th_server_t *s = arg;
    if (s->l != NULL)
        return false;
    if (weft_site_free(s->site) == 0)
        s->site = NULL;
    return site_freed(s);
}

bool th_stop(th_server_t *s)
{
    weft_deferred_t *d = weft_listener_stop(s->l);
    s->l = NULL;
    weft_deferred_unref(d);
    weft_site_close_connections(s->site);
    return t_run_until_fn(s->r, try_free, s, 1000);
}

typedef struct {
    th_resp_t *out;
    int max, n;
    bool in_value;
    size_t hlen;
} parse_state_t;

static int p_header_field(http_parser *p, const char *at, size_t len)
{
    parse_state_t *st = p->data;
    if (st->n >= st->max)
        return 0;
    th_resp_t *r = &st->out[st->n];
    if (st->in_value || st->hlen == 0) {
        if (st->hlen > 0 && st->hlen + 1 < sizeof(r->headers))
            r->headers[st->hlen++] = '\n';
    }
    for (size_t i = 0; i < len && st->hlen + 1 < sizeof(r->headers); i++)
        r->headers[st->hlen++] = (char)tolower((unsigned char)at[i]);
    r->headers[st->hlen] = '\0';
    st->in_value = false;
    return 0;
}

static int p_header_value(http_parser *p, const char *at, size_t len)
{
    parse_state_t *st = p->data;
    if (st->n >= st->max)
        return 0;
    th_resp_t *r = &st->out[st->n];
    if (!st->in_value && st->hlen + 3 < sizeof(r->headers)) {
        r->headers[st->hlen++] = ':';
        r->headers[st->hlen++] = ' ';
    }
    for (size_t i = 0; i < len && st->hlen + 2 < sizeof(r->headers); i++)
        r->headers[st->hlen++] = at[i];
    r->headers[st->hlen] = '\0';
    st->in_value = true;
    return 0;
}

static int p_begin(http_parser *p)
{
    parse_state_t *st = p->data;
    if (st->n < st->max)
        memset(&st->out[st->n], 0, sizeof(st->out[st->n]));
    st->hlen = 0;
    st->in_value = false;
    return 0;
}

static int p_headers_done(http_parser *p)
{
    parse_state_t *st = p->data;
    if (st->n < st->max) {
        st->out[st->n].status = (int)p->status_code;
        st->out[st->n].chunked = (p->flags & F_CHUNKED) != 0;
        size_t n = strlen(st->out[st->n].headers);
        if (n + 1 < sizeof(st->out[st->n].headers))
            strcat(st->out[st->n].headers, "\n");
    }
    return 0;
}

static int p_body(http_parser *p, const char *at, size_t len)
{
    parse_state_t *st = p->data;
    if (st->n >= st->max)
        return 0;
    th_resp_t *r = &st->out[st->n];
    size_t room = sizeof(r->body) - 1 - r->body_len;
    size_t n = len < room ? len : room;
    memcpy(r->body + r->body_len, at, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return 0;
}

static int p_done(http_parser *p)
{
    parse_state_t *st = p->data;
    st->n++;
    return 0;
}

int th_parse(const char *data, size_t len, bool head, th_resp_t *out, int max)
{
    http_parser_settings s = {
        .on_message_begin = p_begin,
        .on_header_field = p_header_field,
        .on_header_value = p_header_value,
        .on_headers_complete = p_headers_done,
        .on_body = p_body,
        .on_message_complete = p_done,
    };
    http_parser p;
    http_parser_init(&p, HTTP_RESPONSE);
    parse_state_t st = {.out = out, .max = max};
    p.data = &st;
    if (head) {
        /* A HEAD answer has no body whatever its headers say: parse each as 1xx-like by
         * telling the parser to skip the body (on_headers_complete returning 1). */
        s.on_headers_complete = NULL;
    }
    size_t off = 0;
    while (off < len) {
        size_t n;
        if (head) {
            /* Feed one response's head at a time. */
            const char *end = memmem(data + off, len - off, "\r\n\r\n", 4);
            if (end == NULL)
                break;
            size_t hl = (size_t)(end - (data + off)) + 4;
            http_parser_init(&p, HTTP_RESPONSE);
            p.data = &st;
            http_parser_settings hs = s;
            hs.on_message_complete = NULL;
            p_begin(&p);
            n = http_parser_execute(&p, &hs, data + off, hl);
            if (st.n < max) {
                out[st.n].status = (int)p.status_code;
                strcat(out[st.n].headers, "\n");
            }
            st.n++;
            off += hl;
            continue;
        }
        n = http_parser_execute(&p, &s, data + off, len - off);
        if (HTTP_PARSER_ERRNO(&p) != HPE_OK)
            break;
        off += n;
        if (n == 0)
            break;
    }
    return st.n;
}

const char *th_header(const th_resp_t *r, const char *name)
{
    static char value[512];
    char key[128];
    snprintf(key, sizeof(key), "%s: ", name);
    const char *p = r->headers;
    while (p != NULL && *p != '\0') {
        if (strncmp(p, key, strlen(key)) == 0) {
            const char *v = p + strlen(key);
            const char *nl = strchr(v, '\n');
            size_t n = nl ? (size_t)(nl - v) : strlen(v);
            if (n >= sizeof(value))
                n = sizeof(value) - 1;
            memcpy(value, v, n);
            value[n] = '\0';
            return value;
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return NULL;
}

typedef struct {
    t_conn_t *c;
    bool head;
    int want;
    th_resp_t *out;
    int max;
} wait_t;

static bool enough(void *arg)
{
    wait_t *w = arg;
    if (w->c->lost > 0)
        return true;
    return th_parse(w->c->data, w->c->len, w->head, w->out, w->max) >= w->want;
}

int th_wait(weft_reactor_t *r, t_conn_t *c, bool head, int want, th_resp_t *out, int max)
{
    wait_t w = {c, head, want, out, max};
    t_run_until_fn(r, enough, &w, 2000);
    return th_parse(c->data, c->len, head, out, max);
}

void th_send(t_conn_t *c, const char *data, size_t len)
{
    int rc = weft_transport_write(c->t, data, len);
    if (rc != 0)
        bail_out("client write: %s", weft_strerror(rc));
}

void th_send_str(t_conn_t *c, const char *s)
{
    th_send(c, s, strlen(s));
}

void th_teardown(weft_reactor_t *r, th_server_t *s, t_conn_t *c)
{
    if (c->lost == 0)
        weft_transport_lose_connection(c->t);
    t_run_until_count(r, &c->lost, 1);
    check(th_stop(s));
    t_conn_reset(c);
    check(t_teardown(r));
}

bool th_fixture_start(th_fixture_t *f, bool manual, weft_resource_t *root,
                      const weft_site_options_t *opts)
{
    memset(f, 0, sizeof(*f));
    f->r = t_reactor(manual);
    th_start(&f->s, f->r, root, opts);
    return check(t_connect(f->r, f->s.port, &f->c));
}

void th_fixture_end(th_fixture_t *f)
{
    th_teardown(f->r, &f->s, &f->c);
}

static int text_get(weft_request_t *req, void *ctx)
{
    const char *body = ctx;
    return weft_request_write(req, body, strlen(body));
}

weft_resource_t *th_text(const char *body)
{
    weft_resource_t *res = weft_resource_new((void *)body, NULL, NULL);
    if (res == NULL || weft_resource_set_render(res, "GET", text_get) != 0)
        bail_out("th_text");
    return res;
}
