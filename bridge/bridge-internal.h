/* SPDX-License-Identifier: MIT */
/* The bridge's per-reactor state, shared by its files; and the reactor hooks it uses. */
#ifndef WEFT_BRIDGE_BRIDGE_INTERNAL_H
#define WEFT_BRIDGE_BRIDGE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <weft/bridge.h>

#include "../common/list-internal.h"

/*
 * The reactor's extension hooks. They are defined in reactor/ and declared in its private
 * header; a room never includes another room's -internal.h, so the bridge repeats the few
 * declarations it uses here (STYLE.md 2.3). The signatures must stay identical.
 */
typedef struct weft__reactor_ext_ops_s {
    bool (*busy)(void *ext);
    void (*release)(void *ext);
} weft__reactor_ext_ops_t;
int weft__reactor_set_ext(weft_reactor_t *r, void *ext, const weft__reactor_ext_ops_t *ops);
void *weft__reactor_get_ext(const weft_reactor_t *r);
bool weft__reactor_on_loop_thread(const weft_reactor_t *r);
double weft__reactor_shutdown_deadline(const weft_reactor_t *r);
void weft__reactor_hold(weft_reactor_t *r);
void weft__reactor_unhold(weft_reactor_t *r);
void weft__reactor_run_thread_calls(weft_reactor_t *r);

typedef struct weft__offload_s weft__offload_t;

/* Lock order: `lock` and a blocking call's own mutex are never held together. */
typedef struct {
    weft_reactor_t *r;
    weft_pool_t *pools[2];
    unsigned pool_threads[2];
    bool shut_down;

    /* Loop thread only. */
    weft__offload_t *free_records;
    size_t nfree;
    weft__list_t in_flight; /* offloads whose result has not been delivered */
    weft_bridge_stats_t stats;

    /* Shared with workers. */
    pthread_mutex_t lock;
    weft__offload_t *orphans;       /* completions posted after the reactor stopped (under lock) */
    weft__list_t blocking;          /* blocking calls waiting (under lock) */
    bool closed;                    /* shutdown has woken the blocking calls (under lock) */
    atomic_size_t outstanding;      /* jobs submitted whose completion hook has not finished */
    atomic_size_t blocking_records; /* blocking-call records that may still touch the bridge */
} weft__bridge_t;

/* The reactor's bridge, made on first use (loop thread); NULL with *err if it cannot be. */
weft__bridge_t *weft__bridge_get(weft_reactor_t *r, int *err);

/* The reactor's bridge if it exists (any thread). */
weft__bridge_t *weft__bridge_peek(const weft_reactor_t *r);

/* Wakes every blocking call with WEFT_ECLOSED and refuses new ones (shutdown; loop). */
void weft__blocking_close(weft__bridge_t *b);

#endif /* WEFT_BRIDGE_BRIDGE_INTERNAL_H */
