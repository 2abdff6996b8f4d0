/* SPDX-License-Identifier: MIT */
/* Transports and protocols: one connected stream (TCP or Unix) and the code that speaks on it. */
#ifndef WEFT_REACTOR_NET_TRANSPORT_H
#define WEFT_REACTOR_NET_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include <weft/compiler.h>
#include <weft/failure.h>
#include <weft/reactor.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Twisted's ITransport and IProtocol (internet/abstract.py, internet/protocol.py) in C. A
 * transport is one connected stream socket on a reactor's loop; a protocol is a table of
 * callbacks (weft_protocol_ops_t) and a pointer (proto) the transport hands to each of them.
 *
 * Life of a connection: connection_made(proto, t) once; data_received any number of times;
 * connection_lost(proto, t, reason) exactly once, last. The reason says why: weft.ConnectionDone
 * for a clean close (lose_connection, or the peer's orderly close), weft.ConnectionLost with a
 * code otherwise (WEFT_ECONNRESET, WEFT_ECONNABORTED for abort_connection, ...), or
 * weft.TimeoutError for an idle timeout. No callback runs after connection_lost; the protocol
 * frees itself there (the transport never frees proto).
 *
 * The transport is made and released by weft. The pointer stays valid until connection_lost
 * returns, or longer for whoever holds a reference (weft_transport_ref); a transport that lost
 * its connection refuses every operation with WEFT_ECLOSED, so a late result (an offload that
 * finished after the peer left) is dropped safely.
 *
 * Thread: loop, for every function here and every callback.
 */
typedef struct weft_transport_s weft_transport_t;

/* A protocol: what a connection calls. Only data_received is required. */
typedef struct {
    /* The connection is up; t is valid until connection_lost returns. */
    void (*connection_made)(void *proto, weft_transport_t *t);
    /* Bytes arrived, borrowed for the call. */
    void (*data_received)(void *proto, weft_transport_t *t, const char *data, size_t len);
    /* The connection is gone (the last call); takes reason (an owned failure). NULL: the reason
     * is freed. */
    void (*connection_lost)(void *proto, weft_transport_t *t, weft_failure_t *reason);
    /* Half-close (Twisted's IHalfCloseableProtocol): with read_connection_lost set, the peer's
     * orderly close (FIN) calls it instead of closing, and the transport stays open for
     * writing until lose_connection. write_connection_lost runs once
     * weft_transport_lose_write_connection has flushed and shut the write side. */
    void (*read_connection_lost)(void *proto, weft_transport_t *t);
    void (*write_connection_lost)(void *proto, weft_transport_t *t);
    /* Push producer (Twisted's registerProducer(p, True) with the protocol as producer):
     * pause_producing runs when the bytes pending rise above the high-water mark,
     * resume_producing when they fall to the low-water mark or below. */
    void (*pause_producing)(void *proto, weft_transport_t *t);
    void (*resume_producing)(void *proto, weft_transport_t *t);
    /* The idle timeout (weft_transport_set_timeout) expired (Twisted's timeoutConnection).
     * NULL: the default, which logs and closes the connection with weft.TimeoutError
     * (lose_connection; if the pending output has not flushed one more idle period later,
     * as with a peer that stopped reading, it aborts). It also runs on a connection closing
     * after lose_connection whose output has not moved for the idle period. */
    void (*timeout_connection)(void *proto, weft_transport_t *t);
} weft_protocol_ops_t;

/* Per-connection settings, for listeners and connects. Fill with
 * weft_transport_options_init. */
typedef struct {
    /* TCP_NODELAY (no Nagle delay). Default true. */
    bool nodelay;
    /* TCP keepalive probes after this many idle seconds; 0 (the default) leaves them off. */
    unsigned keepalive_s;
    /* Push-producer water marks in bytes pending: pause_producing above high, resume_producing
     * at low or below. Default 65536 and 0 (Twisted: resume once the buffer is empty). */
    size_t high_water;
    size_t low_water;
    /* Idle timeout in seconds (Twisted's TimeoutMixin): no byte read or written for this long
     * calls timeout_connection; armed after connection_made, also when connection_made called
     * lose_connection (so a flush to a peer that never reads ends). 0 (the default): none. */
    double idle_timeout;
} weft_transport_options_t;

/* Fills opts with the defaults above. Thread: any. */
WEFT_EXPORT void weft_transport_options_init(weft_transport_options_t *opts);

/*
 * Queues len bytes for sending; data is copied (or sent at once when nothing is pending).
 * Thread: loop.
 * Returns: 0; WEFT_ECLOSED after lose_connection, abort_connection, the write side's
 * shutdown, or the loss of the connection (the bytes are not sent: a deliberate divergence
 * from Twisted, which still sends writes made after loseConnection); WEFT_ENOMEM;
 * WEFT_EINVAL for a NULL t, NULL data with len > 0, or a write over 4 GiB - 1; libuv's code
 * when the socket failed (the connection is then lost).
 */
WEFT_EXPORT WEFT_NODISCARD int weft_transport_write(weft_transport_t *t, const char *data,
                                                    size_t len);

/*
 * Queues len bytes without copying: takes data, which free_fn (may be NULL for static data)
 * releases once the bytes are sent or dropped, on every path, errors included. Thread: loop.
 * Returns: as weft_transport_write (data is freed on error).
 */
WEFT_EXPORT WEFT_NODISCARD int weft_transport_write_owned(weft_transport_t *t, void *data,
                                                          size_t len, void (*free_fn)(void *));

/* One piece of a weft_transport_writev. */
typedef struct {
    const void *base;
    size_t len;
} weft_iovec_t;

/*
 * Queues n pieces in order, as one write (Twisted's writeSequence); the pieces are copied
 * unless sent at once. Thread: loop. Returns: as weft_transport_write; WEFT_EINVAL also for a
 * NULL iov with n > 0.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_transport_writev(weft_transport_t *t, const weft_iovec_t *iov,
                                                     size_t n);

/* Bytes queued and not yet handed to the kernel. Thread: loop. */
WEFT_EXPORT size_t weft_transport_pending(const weft_transport_t *t);

/* Sets the push-producer water marks (see weft_transport_options_t). Thread: loop.
 * Returns: 0; WEFT_EINVAL when low > high. */
WEFT_EXPORT WEFT_NODISCARD int weft_transport_set_water_marks(weft_transport_t *t, size_t high,
                                                              size_t low);

/*
 * Closes cleanly (Twisted's loseConnection): stops reading, sends every byte already queued,
 * then closes; connection_lost gets weft.ConnectionDone (code WEFT_EEOF). Later writes fail
 * with WEFT_ECLOSED. Calling it again, or on a lost connection, does nothing. Thread: loop.
 */
WEFT_EXPORT void weft_transport_lose_connection(weft_transport_t *t);

/*
 * Closes now (Twisted's abortConnection): drops what is queued, resets a TCP connection (RST)
 * and calls connection_lost on a later loop pass with weft.ConnectionLost, code
 * WEFT_ECONNABORTED. Idempotent. Thread: loop.
 */
WEFT_EXPORT void weft_transport_abort_connection(weft_transport_t *t);

/*
 * Half-close (Twisted's loseWriteConnection): after the queued bytes are sent, shuts the write
 * side (the peer reads end of stream) and calls write_connection_lost; reading goes on. Later
 * writes fail with WEFT_ECLOSED. Thread: loop.
 * Returns: 0; WEFT_ECLOSED if the connection is closing or the write side already shut.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_transport_lose_write_connection(weft_transport_t *t);

/* Stops reading (Twisted's pauseProducing on a transport): data_received is not called until
 * resume_reading; the peer is slowed by TCP's own flow control. Thread: loop. */
WEFT_EXPORT void weft_transport_pause_reading(weft_transport_t *t);

/* Reads again after pause_reading; does nothing on a closing connection. Thread: loop.
 * Returns: 0, or libuv's code if reading could not start (the connection is then lost). */
WEFT_EXPORT WEFT_NODISCARD int weft_transport_resume_reading(weft_transport_t *t);

/* True between pause_reading and resume_reading. Thread: loop. */
WEFT_EXPORT bool weft_transport_is_reading_paused(const weft_transport_t *t);

/* True from connection_made until lose_connection, abort_connection or the loss. Thread: loop. */
WEFT_EXPORT bool weft_transport_is_connected(const weft_transport_t *t);

/*
 * Sets (or with 0, clears) the idle timeout and restarts its count (Twisted's setTimeout);
 * every read and write restarts it too (resetTimeout). Thread: loop.
 * Returns: 0; WEFT_EINVAL for a negative or non-finite value; WEFT_ECLOSED on a closing
 * connection; WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_transport_set_timeout(weft_transport_t *t, double seconds);

/* Turns TCP_NODELAY on or off. Thread: loop.
 * Returns: 0; WEFT_ENOTSUP on a Unix socket; libuv's code. */
WEFT_EXPORT WEFT_NODISCARD int weft_transport_set_nodelay(weft_transport_t *t, bool on);

/* Turns TCP keepalive on after delay_s idle seconds, or off with 0. Thread: loop.
 * Returns: as weft_transport_set_nodelay. */
WEFT_EXPORT WEFT_NODISCARD int weft_transport_set_keepalive(weft_transport_t *t, unsigned delay_s);

/*
 * Writes the peer's (getPeer) or the local (getHost) address as text into buf (size bytes):
 * "127.0.0.1:5000", "[::1]:5000", or the socket path for a Unix socket (peer: "" when the
 * peer is unnamed); *port, if not NULL, gets the port (0 for Unix). Thread: loop.
 * Returns: 0; WEFT_ENOSPC when buf is too small; WEFT_ECLOSED once the connection is lost;
 * libuv's code.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_transport_peer(const weft_transport_t *t, char *buf,
                                                   size_t size, int *port);
WEFT_EXPORT WEFT_NODISCARD int weft_transport_host(const weft_transport_t *t, char *buf,
                                                   size_t size, int *port);

/* The reactor the transport runs on. Thread: loop. */
WEFT_EXPORT weft_reactor_t *weft_transport_reactor(const weft_transport_t *t);

/* The protocol pointer the transport calls with, and a way to swap it (for example, a
 * framing protocol taking over from a plain one; ops copied). ops NULL or without
 * data_received is refused: it is logged and the protocol stays as it was. Thread: loop. */
WEFT_EXPORT void *weft_transport_protocol(const weft_transport_t *t);
WEFT_EXPORT void weft_transport_set_protocol(weft_transport_t *t, const weft_protocol_ops_t *ops,
                                             void *proto);

/*
 * Keeps the transport's memory (not its connection) alive past connection_lost, for code that
 * may still hold the pointer later, such as an offload's callback; returns t. Every ref needs
 * one weft_transport_unref; weft_reactor_free refuses while any is held. Thread: loop.
 */
WEFT_EXPORT weft_transport_t *weft_transport_ref(weft_transport_t *t);
WEFT_EXPORT void weft_transport_unref(weft_transport_t *t);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REACTOR_NET_TRANSPORT_H */
