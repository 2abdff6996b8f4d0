/* SPDX-License-Identifier: MIT */
/* Helpers for the TCP tests: a recording protocol, a test server, a client, run-until. */
#ifndef WEFT_T_NET_HELPERS_H
#define WEFT_T_NET_HELPERS_H

#include <stdbool.h>
#include <stddef.h>

#include <weft/failure.h>
#include <weft/reactor.h>
#include <weft/tcp.h>
#include <weft/transport.h>

/* One side of a connection, recording what its protocol was told. */
typedef struct {
    weft_transport_t *t;
    int made, lost, read_lost, write_lost, paused, resumed, timeouts;
    const weft_failure_type_t *lost_type; /* connection_lost's reason */
    int lost_code;
    size_t pending_at_pause, pending_at_resume;
    char *data; /* everything data_received got */
    size_t len, cap;
    bool echo;           /* write back what arrives */
    bool half_closeable; /* set read/write_connection_lost */
    bool custom_timeout; /* set timeout_connection (counts, then aborts) */
} t_conn_t;

/* The recording protocol's ops (proto = a t_conn_t); half-closeable variants. */
const weft_protocol_ops_t *t_conn_ops(const t_conn_t *c);
/* Frees what the recording kept. */
void t_conn_reset(t_conn_t *c);

#define T_MAX_CONNS 16

/* A listener on 127.0.0.1:0 with a factory building recording protocols. */
typedef struct {
    weft_reactor_t *r;
    weft_factory_t *f;
    weft_listener_t *l;
    int port;
    t_conn_t conns[T_MAX_CONNS];
    int nconns;
    bool echo, half_closeable, refuse;
    int started, stopped;
} t_server_t;

/* Starts s listening with opts (NULL: defaults on 127.0.0.1:0). Bails out on failure. */
void t_server_start(t_server_t *s, weft_reactor_t *r, const weft_listen_options_t *opts);
/* Stops the listener, waits for its close, frees the factory and the recordings. */
void t_server_stop(t_server_t *s);

/* Connects c to 127.0.0.1:port and runs the loop until connection_made (or failure); returns
 * whether it connected. */
bool t_connect(weft_reactor_t *r, int port, t_conn_t *c);

/* Runs the loop until pred(arg) is true or `limit` iterations passed; returns pred(arg). */
bool t_run_until_fn(weft_reactor_t *r, bool (*pred)(void *), void *arg, unsigned limit);

/* Runs the loop until *n >= want. */
bool t_run_until_count(weft_reactor_t *r, const int *n, int want);
/* Runs the loop until *len >= want. */
bool t_run_until_len(weft_reactor_t *r, const size_t *len, size_t want);

#endif /* WEFT_T_NET_HELPERS_H */
