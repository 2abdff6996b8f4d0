/* SPDX-License-Identifier: MIT */
/* The insides of transports, listeners and connects, shared by reactor/net/'s .c files. */
#ifndef WEFT_REACTOR_NET_NET_INTERNAL_H
#define WEFT_REACTOR_NET_NET_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include <weft/tcp.h>
#include <weft/time.h>
#include <weft/transport.h>

#include "../../common/list-internal.h"
#include "../reactor-internal.h"

/* The size of the read buffer all connections of a reactor share. */
#define WEFT__NET_READ_BUF (64 * 1024)

typedef enum {
    T_CONNECTING = 0, /* connect in progress; no protocol call yet */
    T_OPEN,           /* connection_made ran */
    T_CLOSING,        /* lose_connection: flushing, then closing */
    T_CLOSED,         /* uv_close issued; connection_lost comes from the close callback */
} weft__tstate_t;

/* Told when a transport's handle has closed, after the protocol's connection_lost. made says
 * whether connection_made ever ran; reason is borrowed for the call. */
typedef void (*weft__closed_fn)(void *owner, weft_transport_t *t, bool made,
                                const weft_failure_t *reason);

struct weft_transport_s {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    weft_reactor_t *r;
    weft_protocol_ops_t ops;
    void *proto;
    weft__tstate_t state;
    bool is_tcp;
    bool made;           /* connection_made ran: connection_lost is owed */
    bool reading;        /* uv_read_start is on */
    bool read_paused;    /* pause_reading by the user */
    bool read_eof;       /* the peer's FIN was seen (half-closeable protocol) */
    bool write_shut_req; /* lose_write_connection asked */
    bool write_shut;     /* the shutdown completed */
    bool shutting;       /* uv_shutdown issued */
    bool producer_paused;
    bool abort;      /* close with RST */
    bool corked;     /* data_received runs: writes are gathered in cork (see cork_take) */
    size_t pending;  /* bytes in write requests not yet completed */
    size_t cork_len; /* bytes gathered in r->net_cork (this transport is its owner) */
    size_t nreqs;    /* write requests outstanding */
    size_t high_water, low_water;
    weft_failure_t *reason; /* why it closes: handed to connection_lost */
    unsigned refs;          /* 1 for the connection + weft_transport_ref's */

    double idle_timeout;
    double last_active;
    weft_call_id_t idle_id;

    /* Who made it (a listener, a connect, a connector), told when the handle has closed. */
    weft__list_t link; /* in the listener's connections */
    weft__closed_fn on_closed;
    void *owner;

    uv_connect_t connect_req;
    uv_shutdown_t shutdown_req;
};

/* Makes a transport with an initialised handle (TCP or Unix) on r's loop, in T_CONNECTING,
 * counted in r->net_objects. NULL with *err on failure. */
weft_transport_t *weft__transport_new(weft_reactor_t *r, bool tcp,
                                      const weft_transport_options_t *opts, int *err);

/* Connected or accepted: applies opts, starts reading, calls connection_made. Returns 0, or a
 * libuv code after which the transport is closing (its close callback still runs). */
int weft__transport_start(weft_transport_t *t, const weft_protocol_ops_t *ops, void *proto,
                          const weft_transport_options_t *opts);

/* Closes now with reason (taken; the first reason wins). Idempotent. */
void weft__transport_close(weft_transport_t *t, weft_failure_t *reason);

/* One connect attempt (connect.c). done is called exactly once: with the connected
 * transport (not started: the owner starts it with weft__transport_start or closes it) and a
 * NULL failure, or with NULL and an owned failure. */
typedef struct weft__attempt_s weft__attempt_t;
typedef void (*weft__attempt_done_fn)(void *owner, weft_transport_t *t, weft_failure_t *f);

/* Starts connecting to ss (TCP) or path (Unix, when path is not NULL). Returns the attempt,
 * or NULL with *err (done is then never called). */
weft__attempt_t *weft__attempt_start(weft_reactor_t *r, const struct sockaddr_storage *ss,
                                     const char *path, double timeout,
                                     const weft_transport_options_t *topts,
                                     weft__attempt_done_fn done, void *owner, int *err);

/* Stops an attempt whose done has not run: done runs now with f (taken). */
void weft__attempt_cancel(weft__attempt_t *a, weft_failure_t *f);

/* Formats a socket address as the transports do ("1.2.3.4:5", "[::1]:5"). */
int weft__format_addr(const struct sockaddr_storage *ss, char *buf, size_t size, int *port);

/* Parses an IP literal (or "localhost", as 127.0.0.1) and a port into ss. */
int weft__parse_addr(const char *host, int port, struct sockaddr_storage *ss);

/* Whether path fits a Unix socket address (sun_path, with its NUL: at most 107 bytes on
 * Linux); libuv 1.44 truncates a longer one silently, so weft refuses it. */
bool weft__unix_path_fits(const char *path);

/* Logs with the reactor's name and component "net". */
void weft__net_log(const weft_reactor_t *r, weft_log_level_t level, const char *fmt, ...)
    WEFT_PRINTF(3, 4);

#endif /* WEFT_REACTOR_NET_NET_INTERNAL_H */
