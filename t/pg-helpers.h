/* SPDX-License-Identifier: MIT */
/* A private PostgreSQL server for tests and benchmarks: initdb + pg_ctl, stopped at the end. */
#ifndef WEFT_T_PG_HELPERS_H
#define WEFT_T_PG_HELPERS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The server runs as a non-root user (nobody, through setpriv, when we are root), in a
 * temporary directory that holds its data, its log and its unix socket; it listens on no TCP
 * address, and its socket is named after a port nobody else was using. A watcher process
 * stops it and removes the directory if the test dies without pg_server_stop (a watchdog's
 * _exit, a crash), so no postgres process outlives the test. Plain libc only: this file is
 * linked into every test program.
 */
typedef struct {
    char dir[128];
    char bin[128];
    char as[64]; /* the setpriv prefix, or "" when we are not root */
    int port;
    char conninfo[256];
    bool running;
} pg_server_t;

/* Starts a server. Returns 0, or -1 with a reason in why (for skip_all). */
int pg_server_start(pg_server_t *s, char *why, size_t why_size);

/* Restarts it in fast mode (every session is terminated); 0 or -1. */
int pg_server_restart(pg_server_t *s);

/* Stops it and removes its directory. Does nothing if it is not running. */
void pg_server_stop(pg_server_t *s);

#endif /* WEFT_T_PG_HELPERS_H */
