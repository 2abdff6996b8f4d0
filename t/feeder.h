/* SPDX-License-Identifier: MIT */
/* Test helpers for parsers: guard-paged input, whole / byte / random-split feeding, event logs. */
#ifndef WEFT_T_FEEDER_H
#define WEFT_T_FEEDER_H

#include <stdbool.h>
#include <stddef.h>

/* A parser's feed function, adapted: rx is the receiver. */
typedef int (*t_feed_fn)(void *rx, const char *data, size_t len);

/* How t_feed cuts the input. */
typedef enum { T_WHOLE, T_BYTES, T_RANDOM } t_split_t;

/* The ways every case is fed: whole, byte by byte, and T_WAYS - 2 seeded random splits. */
#define T_WAYS 10

/* The split and seed of way i (0 <= i < T_WAYS); returns a name for diagnostics. */
const char *t_way(int i, t_split_t *how, unsigned *seed);

/*
 * Feeds data[0..len) to rx through fn, cut as `how` says (T_RANDOM: pieces of 1 to 64 bytes
 * from a generator seeded with seed). Each piece is first copied flush against a PROT_NONE
 * page, so reading past it faults, and scribbled over after the call, so a parser that keeps
 * a pointer into it reads garbage. Stops before the next piece once *stop is true (a closed
 * connection; stop may be NULL). Returns the first negative code fn returned, or 0.
 */
int t_feed(t_feed_fn fn, void *rx, const char *data, size_t len, t_split_t how, unsigned seed,
           const bool *stop);

/* A copy of data[0..len) flush against a PROT_NONE page, valid until the next t_guard or
 * t_feed call. */
const char *t_guard(const char *data, size_t len);

/* An event log: "tag:data|" per event, data escaped (\xHH for bytes outside printable ASCII,
 * and for '\\' and '|'). */
typedef struct {
    char *s;
    size_t len, cap;
    char last_tag;
} t_log_t;

/* Appends an event. With merge, data of a tag equal to the last event's tag is appended to
 * that event instead (raw data comes in chunk-dependent pieces; merged, it does not). */
void t_log_add(t_log_t *log, char tag, const char *data, size_t len, bool merge);
/* Appends formatted text as one event. */
void t_log_addf(t_log_t *log, char tag, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The log so far, "" when empty. */
const char *t_log_str(const t_log_t *log);
void t_log_reset(t_log_t *log);
void t_log_free(t_log_t *log);

#endif /* WEFT_T_FEEDER_H */
