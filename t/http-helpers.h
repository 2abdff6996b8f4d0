/* SPDX-License-Identifier: MIT */
/* Helpers for the HTTP tests: a site on 127.0.0.1:0, a raw client, a response parser. */
#ifndef WEFT_T_HTTP_HELPERS_H
#define WEFT_T_HTTP_HELPERS_H

#include <stdbool.h>
#include <stddef.h>

#include <weft/reactor.h>
#include <weft/site.h>
#include <weft/tcp.h>

#include "net-helpers.h"

/* A site listening on 127.0.0.1:0. */
typedef struct {
    weft_reactor_t *r;
    weft_site_t *site;
    weft_listener_t *l;
    int port;
} th_server_t;

/* Starts a site serving root (taken) with opts (NULL: defaults, access log off). Bails out on
 * failure. */
void th_start(th_server_t *s, weft_reactor_t *r, weft_resource_t *root,
              const weft_site_options_t *opts);
/* Stops listening, closes the connections, runs the loop until the site can be freed, frees
 * it. Returns whether it was freed. */
bool th_stop(th_server_t *s);

/* One parsed response. */
typedef struct {
    int status;
    char headers[2048]; /* "name: value\n" lines, names lowercased */
    char body[40000];
    size_t body_len;
    bool chunked;
} th_resp_t;

/* Parses the complete responses in data (HEAD responses: pass head = true for all) into out
 * (up to max); returns how many are complete. */
int th_parse(const char *data, size_t len, bool head, th_resp_t *out, int max);

/* The value of header name (lowercase) in r, or NULL (a static buffer). */
const char *th_header(const th_resp_t *r, const char *name);

/* Runs the loop until c holds want complete responses or lost its connection; returns the
 * count. */
int th_wait(weft_reactor_t *r, t_conn_t *c, bool head, int want, th_resp_t *out, int max);

/* Writes raw bytes from the client. Bails out on error. */
void th_send(t_conn_t *c, const char *data, size_t len);

/* Writes the string s from the client. Bails out on error. */
void th_send_str(t_conn_t *c, const char *s);

/* Ends a test's server, client and reactor: closes the client if it is still connected, waits
 * for its loss, stops the server and frees the reactor, checking (TAP) that both go. */
void th_teardown(weft_reactor_t *r, th_server_t *s, t_conn_t *c);

/* A test's reactor, the site it serves and a client connected to it. */
typedef struct {
    weft_reactor_t *r;
    th_server_t s;
    t_conn_t c;
} th_fixture_t;

/* Zeroes f, makes its reactor (manual: the manual clock), starts a site serving root (taken)
 * with opts (as th_start) and connects the client. Returns whether it connected (checked). */
bool th_fixture_start(th_fixture_t *f, bool manual, weft_resource_t *root,
                      const weft_site_options_t *opts);

/* th_teardown of f's reactor, site and client. */
void th_fixture_end(th_fixture_t *f);

/* A resource whose GET answers with body (static string), for trees in tests. */
weft_resource_t *th_text(const char *body);

#endif /* WEFT_T_HTTP_HELPERS_H */
