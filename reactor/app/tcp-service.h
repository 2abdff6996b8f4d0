/* SPDX-License-Identifier: MIT */
/* TCP server and TCP client services (Twisted's internet.TCPServer and TCPClient). */
#ifndef WEFT_REACTOR_APP_TCP_SERVICE_H
#define WEFT_REACTOR_APP_TCP_SERVICE_H

#include <weft/compiler.h>
#include <weft/reactor.h>
#include <weft/service.h>
#include <weft/tcp.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Makes a stopped service named name (copied; may be NULL) that listens with
 * weft_listen_tcp(r, opts, factory) when started, and when stopped closes the listener and
 * every connection it accepted (weft_listener_stop_all: output flushed, connections still
 * open after stop_grace seconds aborted); its stop deferred fires once all are closed.
 * opts is copied (its host string too; NULL: weft_listen_options_init's defaults); factory is
 * borrowed and must outlive the service. A start that cannot listen fails with the listen
 * error (the service stays stopped). Returns an owned service (weft_service_free), or NULL
 * with *err (may be NULL): WEFT_EINVAL for a NULL r or factory or a negative or NaN
 * stop_grace; WEFT_ENOMEM. Thread: loop.
 */
WEFT_EXPORT WEFT_NODISCARD weft_service_t *
weft_tcp_server_service_new(weft_reactor_t *r, const char *name, const weft_listen_options_t *opts,
                            weft_factory_t *factory, double stop_grace, int *err);

/* The port a running TCP server service listens on (the one picked for port 0), or 0 while it
 * is not listening. Thread: loop. */
WEFT_EXPORT int weft_tcp_server_service_port(const weft_service_t *s);

/* The listener of a running TCP server service (for its counters), or NULL. Borrowed: valid
 * until the service stops. Thread: loop. */
WEFT_EXPORT weft_listener_t *weft_tcp_server_service_listener(const weft_service_t *s);

/*
 * Makes a stopped service named name (copied; may be NULL) that, when started, makes a
 * connector to host:port (host copied; opts copied, NULL for the defaults; ops copied, ctx
 * borrowed: see weft_connector_new_tcp) and connects, reconnecting as opts says; when
 * stopped, it stops trying and closes the connection (weft_connector_free), and its stop
 * completes at once. Each start makes a new connector (retries start from zero). Returns an
 * owned service (weft_service_free), or NULL with *err (may be NULL): WEFT_EINVAL for a NULL
 * r, host or ops or a port outside 1..65535; WEFT_ENOMEM. Thread: loop.
 */
WEFT_EXPORT WEFT_NODISCARD weft_service_t *
weft_tcp_client_service_new(weft_reactor_t *r, const char *name, const char *host, int port,
                            const weft_connector_options_t *opts,
                            const weft_client_factory_ops_t *ops, void *ctx, int *err);

/* The connector of a running TCP client service, or NULL. Borrowed: valid until the service
 * stops. Thread: loop. */
WEFT_EXPORT weft_connector_t *weft_tcp_client_service_connector(const weft_service_t *s);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REACTOR_APP_TCP_SERVICE_H */
