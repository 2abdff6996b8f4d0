/* SPDX-License-Identifier: MIT */
/* Helpers shared by weft's tests: reactors per test, running until a flag, teardown. */
#ifndef WEFT_T_HELPERS_H
#define WEFT_T_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <weft/reactor.h>
#include <weft/threadpool.h>

/* A reactor for one test, named after nothing in particular, without signal handlers;
 * manual selects the manual clock. Bails out if it cannot be made. */
weft_reactor_t *t_reactor(bool manual);

/* Runs loop iterations (blocking ones) until *flag is true or `limit` iterations passed;
 * returns *flag. The TAP watchdog bounds the wall time. */
bool t_run_until(weft_reactor_t *r, const int *flag, unsigned limit);

/* Runs one blocking loop iteration (it returns once something happened). */
void t_run_once(weft_reactor_t *r);

/* Runs loop iterations (blocking ones) until no offload of r is in flight, a million at
 * most; returns how many still are (0 once every result is delivered). */
size_t t_run_until_delivered(weft_reactor_t *r);

/* Yields the CPU until pool's stats count n completed jobs (a bounded number of times); returns
 * the count reached. */
uint64_t t_wait_pool_completed(weft_pool_t *pool, uint64_t n);

/* Frees r and checks that weft_reactor_free returns 0 (nothing left open). */
bool t_teardown(weft_reactor_t *r);

/* Runs the shell command fmt (printf-style) with stdout and stderr captured into out
 * (NUL-terminated, cut to size). Returns its exit code, 128 + the signal if it was killed,
 * or -1 if it could not be started. */
int t_sh(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A blocking TCP connection to 127.0.0.1:port; its fd, or -1. */
int t_dial(int port);
/* The same with a receive buffer of rcvbuf bytes (0: the system's), set before connecting. */
int t_dial_rcvbuf(int port, int rcvbuf);

/* Sends sig to pid and reaps it: its exit code, 128 + the signal that killed it, or -1. */
int t_kill_wait(pid_t pid, int sig);

/* True when the tests run under valgrind (make valgrind): scale big loops down. */
bool t_under_valgrind(void);

#endif /* WEFT_T_HELPERS_H */
