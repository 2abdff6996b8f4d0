/* SPDX-License-Identifier: MIT */
/* Listening and connecting over TCP and Unix sockets: factories, listeners, connects,
 * connectors that reconnect. */
#ifndef WEFT_REACTOR_NET_TCP_H
#define WEFT_REACTOR_NET_TCP_H

#include <stdbool.h>
#include <stddef.h>

#include <weft/compiler.h>
#include <weft/deferred.h>
#include <weft/failure.h>
#include <weft/reactor.h>
#include <weft/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- factories */

/*
 * Twisted's Factory: makes a protocol for each connection a listener accepts, and is told when
 * the first listener using it starts and the last one stops. Thread: loop.
 */
typedef struct weft_factory_s weft_factory_t;

typedef struct {
    /* Makes the protocol of a new connection from peer (text as weft_transport_peer gives it):
     * sets *ops (borrowed: it must outlive the connection) and *proto, and returns 0; a
     * non-zero return refuses the connection, which is closed at once. Returning 0 with ops
     * that lack data_received also refuses it (logged): proto is then never called and stays
     * the factory's to free. Required. */
    int (*build_protocol)(void *ctx, const char *peer, const weft_protocol_ops_t **ops,
                          void **proto);
    /* Before the first listener using the factory starts listening / after the last one has
     * stopped (Twisted's doStart/doStop counting). Optional. */
    void (*start_factory)(void *ctx);
    void (*stop_factory)(void *ctx);
} weft_factory_ops_t;

/* Makes a factory. ops is copied, ctx is borrowed and handed to every callback. Returns an
 * owned factory, released with weft_factory_free, or NULL with *err set (err may be NULL).
 * Thread: loop. Errors: WEFT_EINVAL for a NULL ops or build_protocol; WEFT_ENOMEM. */
WEFT_EXPORT WEFT_NODISCARD weft_factory_t *weft_factory_new(const weft_factory_ops_t *ops,
                                                            void *ctx, int *err);

/* Releases f. weft_factory_free(NULL) returns 0. Thread: loop.
 * Returns: 0; WEFT_EBUSY while a listener still uses it (nothing changes). */
WEFT_EXPORT WEFT_NODISCARD int weft_factory_free(weft_factory_t *f);

/* ---------------------------------------------------------------- listeners */

typedef struct weft_listener_s weft_listener_t;

/* Options for weft_listen_tcp / weft_listen_unix. Fill with weft_listen_options_init. */
typedef struct {
    /* The address to bind: an IPv4 or IPv6 literal. Default "0.0.0.0"; "::" listens on IPv6
     * (and IPv4, unless ipv6_only). */
    const char *host;
    /* The port; 0 binds a free one (weft_listener_port tells which). Default 0. */
    int port;
    /* listen() backlog. Default 511. */
    int backlog;
    /* SO_REUSEPORT: several sockets (processes) may bind the same port; the kernel spreads
     * the connections. Default false. */
    bool reuse_port;
    /* IPV6_V6ONLY for an IPv6 host. Default false. */
    bool ipv6_only;
    /* Most connections open at once; one more is accepted and closed at once (never queued),
     * counted (weft_listener_refused) and logged. 0 (the default): no limit. */
    size_t max_connections;
    /* Settings of each accepted connection. */
    weft_transport_options_t transport;
} weft_listen_options_t;

/* Fills opts with the defaults above. Thread: any. */
WEFT_EXPORT void weft_listen_options_init(weft_listen_options_t *opts);

/*
 * Listens for TCP connections (Twisted's listenTCP) and serves each with a protocol from
 * factory (borrowed: it must outlive the listener; start_factory runs now if this is its first
 * listener). opts is borrowed (NULL for defaults). Returns an owned listener, closed with
 * weft_listener_stop, or NULL with *err set (err may be NULL). Thread: loop.
 * Errors: WEFT_EINVAL for a NULL r or factory, a host that is not an IP literal, a port out of
 * 0..65535; WEFT_EADDRINUSE; WEFT_EACCES; WEFT_ENOMEM; other libuv codes.
 */
WEFT_EXPORT WEFT_NODISCARD weft_listener_t *weft_listen_tcp(weft_reactor_t *r,
                                                            const weft_listen_options_t *opts,
                                                            weft_factory_t *factory, int *err);

/* As weft_listen_tcp on a Unix socket at path (host, port, reuse_port and ipv6_only are
 * ignored). The socket file is removed when the listener stops. Thread: loop.
 * Errors: as weft_listen_tcp; WEFT_EINVAL for a NULL path or one of 108 bytes or more (it
 * does not fit sun_path with its NUL; libuv would silently truncate it). */
WEFT_EXPORT WEFT_NODISCARD weft_listener_t *weft_listen_unix(weft_reactor_t *r, const char *path,
                                                             const weft_listen_options_t *opts,
                                                             weft_factory_t *factory, int *err);

/* The bound port (0 for a Unix socket). Thread: loop. */
WEFT_EXPORT int weft_listener_port(const weft_listener_t *l);

/* Connections open now, and connections refused by max_connections so far. Thread: loop. */
WEFT_EXPORT size_t weft_listener_connections(const weft_listener_t *l);
WEFT_EXPORT size_t weft_listener_refused(const weft_listener_t *l);

/*
 * Stops listening (Twisted's stopListening) and releases l: takes l. Connections already
 * accepted stay open. Returns an owned deferred that fires (value NULL) once the socket is
 * closed and the factory's stop_factory (if this was its last listener) has run, or NULL when
 * out of memory (the listener stops all the same). Thread: loop.
 */
WEFT_EXPORT weft_deferred_t *weft_listener_stop(weft_listener_t *l);

/*
 * Stops listening and closes every connection the listener accepted, then releases l: takes
 * l. Each connection gets weft_transport_lose_connection (its pending output is flushed);
 * those still open after grace seconds (>= 0; negative or NaN means 0) get
 * weft_transport_abort_connection, and the stop logs how many. Returns an owned deferred that
 * fires (value NULL) once the socket and every connection are closed and the factory's
 * stop_factory (if this was its last listener) has run, or NULL when out of memory (the stop
 * goes on all the same). INFINITY as grace never aborts: the deferred waits for every
 * connection to close. A connection accepted while it stops (stop_all called from
 * build_protocol or connection_made) is closed the same way. The TCP server service stops
 * this way. Thread: loop.
 */
WEFT_EXPORT weft_deferred_t *weft_listener_stop_all(weft_listener_t *l, double grace);

/* ---------------------------------------------------------------- connecting */

/* Options for weft_connect_tcp / weft_connect_unix. Fill with weft_connect_options_init. */
typedef struct {
    /* Give up after this many seconds with weft.TimeoutError (WEFT_ETIMEDOUT). Default 30;
     * 0: no timeout. */
    double timeout;
    /* Settings of the connection. */
    weft_transport_options_t transport;
} weft_connect_options_t;

/* Fills opts with the defaults above. Thread: any. */
WEFT_EXPORT void weft_connect_options_init(weft_connect_options_t *opts);

/*
 * Connects to host:port and runs the protocol (ops copied, proto borrowed) on the connection
 * (Twisted's ClientCreator). host is an IPv4 or IPv6 literal, "localhost" (127.0.0.1), or a
 * name resolved to an IPv4 address first (uv_getaddrinfo, as Twisted's connectTCP resolves;
 * the timeout counts from the end of the resolution). Returns an owned deferred that fires,
 * after connection_made, with the transport (borrowed, valid until connection_lost; free
 * function NULL), or fails with weft.ConnectionRefused, weft.TimeoutError, weft.SystemError
 * with WEFT_EHOSTUNREACH for a name that does not resolve, or weft.SystemError /
 * weft.ConnectionLost with libuv's code; proto is then never called and stays the caller's.
 * Cancelling the deferred before the connection is made stops the connect (CancelledError);
 * from connection_made on, a cancel does nothing and returns WEFT_EALREADY (the deferred still
 * fires with the transport, once). NULL with *err set on an immediate error (nothing is ever
 * called then). Thread: loop.
 * Errors: WEFT_EINVAL for a NULL argument, an empty host, a port out of 1..65535; WEFT_ENOMEM;
 * libuv's codes.
 */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *
weft_connect_tcp(weft_reactor_t *r, const char *host, int port, const weft_connect_options_t *opts,
                 const weft_protocol_ops_t *ops, void *proto, int *err);

/* As weft_connect_tcp to the Unix socket at path. Thread: loop.
 * Errors: as weft_connect_tcp; WEFT_EINVAL for a path of 108 bytes or more (see
 * weft_listen_unix). */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *weft_connect_unix(weft_reactor_t *r, const char *path,
                                                              const weft_connect_options_t *opts,
                                                              const weft_protocol_ops_t *ops,
                                                              void *proto, int *err);

/* ---------------------------------------------------------------- connectors */

/*
 * Twisted's connector with a ClientFactory, and, with retry options, ReconnectingClientFactory:
 * keeps (re)connecting to one address, building a protocol for each connection. Thread: loop.
 */
typedef struct weft_connector_s weft_connector_t;

typedef struct {
    /* As weft_factory_ops_t's build_protocol; non-zero (or ops without data_received, whose
     * proto stays the caller's) gives up this attempt (it counts as a failed connect).
     * Required. */
    int (*build_protocol)(void *ctx, weft_connector_t *c, const weft_protocol_ops_t **ops,
                          void **proto);
    /* An attempt begins (Twisted's startedConnecting). Optional. */
    void (*started_connecting)(void *ctx, weft_connector_t *c);
    /* An attempt failed (clientConnectionFailed) / a made connection was lost
     * (clientConnectionLost), after the protocol's connection_lost. reason is borrowed. Either
     * may call weft_connector_connect to try again at once, or weft_connector_stop_trying.
     * Optional. */
    void (*connection_failed)(void *ctx, weft_connector_t *c, const weft_failure_t *reason);
    void (*connection_lost)(void *ctx, weft_connector_t *c, const weft_failure_t *reason);
    /* Retrying gave up after max_retries (with retry on). Optional. */
    void (*gave_up)(void *ctx, weft_connector_t *c);
} weft_client_factory_ops_t;

/* Options of a connector. Fill with weft_connector_options_init. */
typedef struct {
    weft_connect_options_t connect;
    /* Reconnect after each failure or loss (ReconnectingClientFactory). Default false. */
    bool retry;
    /* Twisted's defaults: initial_delay 1.0, max_delay 3600, factor e (2.718...), jitter
     * 0.119626565582, max_retries -1 (no limit). After each failure or loss:
     * retries += 1, and past max_retries it gives up; delay = min(delay * factor, max_delay),
     * then delay = normal(delay, delay * jitter), which is stored (jitter compounds); the next
     * attempt is that many seconds later. So the first retry comes after about e seconds. */
    double initial_delay;
    double max_delay;
    double factor;
    double jitter;
    int max_retries;
    /* Seed of the jitter's generator (tests); 0 seeds from the clock. */
    unsigned seed;
} weft_connector_options_t;

/* Fills opts with the defaults above. Thread: any. */
WEFT_EXPORT void weft_connector_options_init(weft_connector_options_t *opts);

/*
 * Makes a connector to host:port (an IP literal or "localhost": names are not resolved here),
 * idle until weft_connector_connect.
 * ops is copied, ctx borrowed, opts borrowed (NULL for defaults). Returns an owned connector,
 * released with weft_connector_free (weft_reactor_free refuses while it lives), or NULL with
 * *err set. Thread: loop.
 * Errors: WEFT_EINVAL for a NULL argument, a bad address, a negative delay or a factor below 1;
 * WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD weft_connector_t *
weft_connector_new_tcp(weft_reactor_t *r, const char *host, int port,
                       const weft_connector_options_t *opts, const weft_client_factory_ops_t *ops,
                       void *ctx, int *err);

/* Starts an attempt now (Twisted's connector.connect()); cancels a retry that was waiting.
 * Thread: loop. Returns: 0; WEFT_EALREADY while connecting or connected; WEFT_ENOMEM. */
WEFT_EXPORT WEFT_NODISCARD int weft_connector_connect(weft_connector_t *c);

/* Stops retrying (Twisted's stopTrying): cancels a waiting retry and stops an attempt in
 * progress; a made connection stays up. Thread: loop. */
WEFT_EXPORT void weft_connector_stop_trying(weft_connector_t *c);

/* Goes back to initial_delay and zero retries (Twisted's resetDelay: call it once a connection
 * is made and works). Thread: loop. */
WEFT_EXPORT void weft_connector_reset_delay(weft_connector_t *c);

/* The transport of the current connection, or NULL. Thread: loop. */
WEFT_EXPORT weft_transport_t *weft_connector_transport(const weft_connector_t *c);

/* Retries counted so far, and the delay the next retry uses (or used). Thread: loop. */
WEFT_EXPORT int weft_connector_retries(const weft_connector_t *c);
WEFT_EXPORT double weft_connector_delay(const weft_connector_t *c);

/*
 * Releases c: takes c. Stops trying and closes the current connection, if any (with
 * lose_connection; its protocol still gets connection_lost, but no connector callback runs
 * after this returns). Any callback may call it, the protocol's connection_made and the
 * connector's started_connecting included. weft_connector_free(NULL) does nothing.
 * Thread: loop.
 */
WEFT_EXPORT void weft_connector_free(weft_connector_t *c);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REACTOR_NET_TCP_H */
