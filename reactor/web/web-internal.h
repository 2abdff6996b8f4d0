/* SPDX-License-Identifier: MIT */
/* reactor/web's private structures: sites, connections, requests, resources. */
#ifndef WEFT_REACTOR_WEB_WEB_INTERNAL_H
#define WEFT_REACTOR_WEB_WEB_INTERNAL_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <weft/deferred.h>
#include <weft/time.h>
#include <weft/tcp.h>
#include <weft/transport.h>
#include <weft/request.h>
#include <weft/resource.h>
#include <weft/site.h>

#define WEB_MAX_METHODS 8

typedef struct {
    char method[16];
    weft_render_fn fn;
} web_render_t;

struct weft_resource_s {
    void *ctx;
    weft_free_fn free_ctx;
    bool leaf;
    bool has_parent;    /* a parent or a site holds it: borrowed when get_child returns it */
    bool request_owned; /* returned by a get_child and held by a request until it is released */
    weft_get_child_fn get_child;
    web_render_t renders[WEB_MAX_METHODS];
    size_t nrenders;
    struct web_child_s *children; /* singly linked */
};

typedef struct web_child_s {
    struct web_child_s *next;
    char *name;
    weft_resource_t *res;
} web_child_t;

typedef struct web_conn_s web_conn_t;

/* A name/value pair as offsets into a request's arena. */
typedef struct {
    uint32_t name, value;
} web_pair_t;

/* A growable byte buffer. */
typedef struct {
    char *data;
    size_t len, cap;
} web_buf_t;

int web_buf_append(web_buf_t *b, const void *data, size_t len);
void web_buf_free(web_buf_t *b);

typedef struct {
    char *name;
    char *value;
} web_header_t;

struct weft_request_s {
    weft_site_t *site;
    weft_request_t *next_free; /* the site's recycled requests */
    web_conn_t *conn;          /* NULL once the client is gone or the request is finished */
    weft_reactor_t *r;
    /* What arrived. */
    char method[16];
    web_buf_t arena; /* url, header names and values, each NUL-terminated */
    uint32_t url_off;
    web_pair_t *headers;
    size_t nheaders, headers_cap;
    char *path;     /* decoded, owned */
    char *postpath; /* owned */
    web_buf_t args_arena;
    web_pair_t *args;
    size_t nargs;
    web_buf_t body;
    char client[64];
    int http_major, http_minor;
    bool keep_alive;
    bool head;
    /* The response. */
    int code;
    web_header_t *resp_headers;
    size_t nresp_headers;
    web_buf_t out;
    bool headers_sent, chunked, close_delimited, has_length;
    uint64_t body_bytes;
    bool in_render, not_done_yet, finished, gone, released;
    weft_deferred_t **notify;
    size_t nnotify;
    weft_resource_t **owned; /* made by get_child functions: freed with the request */
    size_t nowned;
    /* A pull producer (weft_request_register_producer). */
    weft_request_produce_cb produce;
    weft_request_stop_cb stop;
    void *producer_arg;
    bool produce_due;       /* the producer is to be asked for more */
    bool produce_waiting;   /* counted in producer_waits; waits for web_request_writable */
    bool produce_scheduled; /* a call_soon of produce_soon is pending: it holds req */
    bool release_pending;   /* released while produce_scheduled: produce_soon releases it */
};

struct web_conn_s {
    weft_site_t *site;
    weft_transport_t *t;
    web_conn_t *prev, *next; /* the site's list */
    http_parser parser;
    web_buf_t in;        /* bytes received and not parsed yet */
    weft_request_t *req; /* the request being parsed or served */
    int hstate;          /* header callbacks: 0 url, 1 a name, 2 a value was the last fragment */
    size_t header_bytes;
    int reject; /* an answer chosen by a parser callback (413, 414, 431) */
    bool busy;  /* a request is being rendered / waits for its finish */
    bool processing;
    bool closing; /* the last answer is out; input is dropped */
    bool lost;
    bool write_paused; /* the transport is over its high-water mark */
    bool in_message;   /* the parser is inside a request */
    weft_call_id_t timer;
    int timer_kind;
    double deadline; /* when the timer_kind's reaction is due */
    double timer_at; /* when the armed delayed call runs */
    size_t dropped;  /* bytes dropped while closing */
    bool corked;     /* process() runs: answers finished now are gathered (web_conn_write) */
    char peer[64];
};

struct weft_site_s {
    weft_resource_t *root;
    weft_site_options_t opts;
    weft_factory_t *factory;
    web_conn_t conns; /* list head */
    size_t live_requests;
    weft_request_t *free_requests;
    size_t nfree_requests;
    bool closing;
    weft_site_stats_t stats;
    /* Answers gathered for out_owner while its process() runs (web_conn_write): one buffer
     * for the site, as one connection's process() gathers at a time, so an idle connection
     * holds none. */
    web_buf_t out;
    web_conn_t *out_owner;
    time_t date_sec;
    char date[40];
};

/* site.c */
const char *web_site_date(weft_site_t *site);
void web_site_conn_gone(weft_site_t *site, web_conn_t *c);

/* http-conn.c */
const weft_protocol_ops_t *web_conn_ops(void);
web_conn_t *web_conn_new(weft_site_t *site, const char *peer);
void web_conn_request_finished(web_conn_t *c, weft_request_t *req);
void web_conn_close_when_idle(web_conn_t *c);
/* Sends an answer's bytes (total: their sum): gathered while the connection is corked (its
 * pipelined requests are being processed), else, and past WEB_CORK_BYTES, written at once
 * after what was gathered. Returns 0 or the transport's error. */
int web_conn_write(web_conn_t *c, const weft_iovec_t *iov, size_t n, size_t total);

/* request.c */
weft_request_t *web_request_new(weft_site_t *site, web_conn_t *c);
void web_request_release(weft_request_t *req);
void web_request_free_list(weft_site_t *site);
void web_request_client_gone(weft_request_t *req);
void web_request_writable(weft_request_t *req);
int web_request_prepare(weft_request_t *req);
int web_request_error(weft_request_t *req, int code);
void web_request_dispatch(weft_request_t *req);
const char *web_reason(int code);

/* resource.c */
weft_render_fn web_resource_render_for(const weft_resource_t *res, const char *method);
size_t web_resource_allow(const weft_resource_t *res, char *buf, size_t size);
weft_resource_t *web_resource_locate(weft_resource_t *root, const char *path, const char **postpath,
                                     weft_request_t *req, int *err);
void web_resource_free_owned(weft_request_t *req);

/* query.c */
int web_url_decode(char *s, bool plus_is_space);
int web_parse_query(weft_request_t *req, const char *query);

#endif /* WEFT_REACTOR_WEB_WEB_INTERNAL_H */
