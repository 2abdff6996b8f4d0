/* SPDX-License-Identifier: MIT */
/* An HTTP/1.1 server (Twisted's twisted.web.server.Site): a factory serving a resource tree,
 * with limits, an access log and counters. */
#ifndef WEFT_REACTOR_WEB_SITE_H
#define WEFT_REACTOR_WEB_SITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/compiler.h>
#include <weft/resource.h>
#include <weft/tcp.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A site speaks HTTP/1.0 and 1.1 on every connection its factory (weft_site_factory) is given
 * by a listener: keep-alive, pipelining (requests are rendered one at a time, answers leave in
 * order), chunked request and response bodies, Expect: 100-continue, HEAD, Date. Requests are
 * parsed by Debian's http-parser (Node's former parser). Every limit below has a reaction:
 * the answer is sent, then the connection is closed (its write side first, so the client
 * reads the answer), and the reason is logged (component "http", level info).
 *
 * Thread: loop, for every function here.
 */
typedef struct weft_site_s weft_site_t;

/* Options of a site. Fill with weft_site_options_init. */
typedef struct {
    /* Request line plus headers, in bytes; over it: 431. Default 16384. */
    size_t max_header_bytes;
    /* Number of request headers; over it: 431. Default 100. */
    size_t max_headers;
    /* Request target length in bytes; over it: 414. Default 8192. */
    size_t max_url_bytes;
    /* Request body in bytes (declared or de-chunked); over it: 413, and nothing more is read.
     * Default 1048576 (1 MiB). */
    size_t max_body_bytes;
    /* Seconds from a request's first byte to the end of its headers; over it: 408. Default
     * 30. */
    double header_timeout;
    /* Seconds a request body may go without a byte arriving (from the end of its headers);
     * over it: 408. Default 30. */
    double body_timeout;
    /* Seconds a kept-alive connection may wait for its next request (and a new one for its
     * first byte); then it is closed without an answer. Default 15. */
    double keepalive_timeout;
    /* Connections open at once; one more is closed at once, counted and logged. Default 1024;
     * 0: no limit. */
    size_t max_connections;
    /* Bytes of response body buffered before the headers go out (so that small answers carry
     * a Content-Length). Default 16384. */
    size_t response_buffer;
    /* One common-log-format line per request through the logger (component "access", level
     * info). Default true. */
    bool access_log;
    /* The Server header's value; NULL: none. Default "weft". Borrowed for the site's life. */
    const char *server_name;
} weft_site_options_t;

/* Fills opts with the defaults above. Thread: any. */
WEFT_EXPORT void weft_site_options_init(weft_site_options_t *opts);

/* Counters of a site since weft_site_new. */
typedef struct {
    uint64_t connections_total;   /* accepted */
    uint64_t connections_open;    /* open now */
    uint64_t connections_refused; /* closed at once by max_connections */
    uint64_t requests;            /* requests rendered (or answered by an error) */
    uint64_t in_flight;           /* requests not finished yet */
    uint64_t responses[6];        /* finished responses by class: [1] 1xx ... [5] 5xx */
    uint64_t bad_requests;        /* malformed: 400 */
    uint64_t over_limit;          /* 413, 414 and 431 answers */
    uint64_t timeouts;            /* 408 answers and idle closes */
    uint64_t clients_gone;        /* requests whose client left before the finish */
    uint64_t bytes_sent;          /* response bytes handed to transports */
    uint64_t write_buffer_peak;   /* the most bytes a transport held unsent after a response
                                     write (weft_transport_pending): the memory bound of a
                                     streamed response */
    uint64_t producer_waits;      /* times a body producer waited for its transport to drain */
    uint64_t writes;              /* writes handed to the transport: the answers to pipelined
                                     requests finished while one read is processed share one */
} weft_site_stats_t;

/*
 * Makes a site serving the tree under root (taken on every path; freed with the site). opts is
 * copied (NULL: defaults). Returns an owned site, or NULL with *err (err may be NULL):
 * WEFT_EINVAL for a NULL root or a zero limit; WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD weft_site_t *weft_site_new(weft_resource_t *root,
                                                      const weft_site_options_t *opts, int *err);

/* The site's factory, for weft_listen_tcp / weft_listen_unix (borrowed: owned by the site).
 * Every connection it builds belongs to the site. */
WEFT_EXPORT weft_factory_t *weft_site_factory(weft_site_t *site);

/* The root resource (borrowed). */
WEFT_EXPORT weft_resource_t *weft_site_root(const weft_site_t *site);

/* Copies the site's counters into *out. */
WEFT_EXPORT void weft_site_get_stats(const weft_site_t *site, weft_site_stats_t *out);

/*
 * Closes every connection of the site for a shutdown: idle ones at once, busy ones once their
 * current response is finished (they answer with Connection: close). New connections are
 * refused from now on.
 */
WEFT_EXPORT void weft_site_close_connections(weft_site_t *site);

/*
 * Releases site, its factory and its resource tree. weft_site_free(NULL) returns 0.
 * Returns: 0; WEFT_EBUSY while a listener uses the factory, a connection is open or a request
 * is not finished (nothing changes then).
 */
WEFT_EXPORT WEFT_NODISCARD int weft_site_free(weft_site_t *site);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REACTOR_WEB_SITE_H */
