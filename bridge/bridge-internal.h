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
    void (*flush)(void *ext);
    void (*reopened)(void *ext);
} weft__reactor_ext_ops_t;
int weft__reactor_set_ext(weft_reactor_t *r, void *ext, const weft__reactor_ext_ops_t *ops);
void *weft__reactor_get_ext(const weft_reactor_t *r);
bool weft__reactor_on_loop_thread(const weft_reactor_t *r);
double weft__reactor_shutdown_deadline(const weft_reactor_t *r);
void weft__reactor_hold(weft_reactor_t *r);
void weft__reactor_unhold(weft_reactor_t *r);
void weft__reactor_run_thread_calls(weft_reactor_t *r);
bool weft__reactor_flush_after_dispatch(weft_reactor_t *r);
void weft__reactor_poll_for(weft_reactor_t *r, uint64_t ns);

typedef struct weft__offload_s weft__offload_t;

/* One slot of the completion ring (offload.c): seq says whose turn it is (Vyukov's bounded
 * queue): position p is free for a producer when seq == p, holds a record for the loop when
 * seq == p + 1. A line each: workers finishing at once would otherwise write into one line. */
typedef struct {
    _Alignas(64) atomic_size_t seq;
    weft__offload_t *rec;
} weft__done_slot_t;

/* A function the bridge calls when a refused weft_reactor_free has reopened the thread-call
 * queue (so that whoever was refused with WEFT_ECLOSED meanwhile can post again). Embedded in
 * its owner; added and removed on the loop thread. */
typedef struct {
    weft__list_t link;
    void (*fn)(void *arg);
    void *arg;
} weft__bridge_hook_t;

#define WEFT__DONE_RING 1024u /* completion ring slots (a power of two) */

/* Lock order: `lock` and a blocking call's own mutex are never held together. */
typedef struct {
    weft_reactor_t *r;
    weft_pool_t *pools[2];
    unsigned pool_threads[2];
    uint64_t poll_ns; /* the loop polls this long after a submit (0: sleeps at once) */
    bool shut_down;

    /* Loop thread only. */
    weft__offload_t *free_records;
    size_t nfree;
    weft__list_t in_flight;                       /* offloads whose result has not been delivered */
    weft__offload_t *pending_head, *pending_tail; /* made in this dispatch, not yet submitted */
    weft__offload_t *ready_head, *ready_tail;     /* taken back early, delivered first */
    size_t nready;                                /* records on the ready list */
    size_t ring_head;                             /* next ring position the loop takes */
    weft__offload_t *ovf_head, *ovf_tail;         /* taken off the overflow stack, in push order */
    weft__list_t reopen_hooks;                    /* weft__bridge_hook_t */
    bool drain_again;                             /* a drain posted by the loop is on its way */
    size_t jobs_expected; /* records whose completion (job_done or on the loop) will come */
    weft_bridge_stats_t stats;

    /* Shared with workers. */
    pthread_mutex_t lock;
    weft__list_t blocking;          /* blocking calls waiting (under lock) */
    bool closed;                    /* shutdown has woken the blocking calls (under lock) */
    atomic_size_t blocking_records; /* blocking-call records that may still touch the bridge */

    /* What completions write, on a line of its own: ring_tail, the next ring position to
     * claim; the overflow stack, for records that find the ring full; drain_armed, set when
     * the loop wants the next completion to post a drain (none is on its way); and
     * jobs_finished, completions done with the bridge (the reactor may not be freed while it
     * trails jobs_expected). The overflow stack's top is on a line of its own. */
    char pad_before[64]; /* (padding, not _Alignas: the struct comes from malloc) */
    atomic_size_t ring_tail;
    atomic_bool drain_armed;
    atomic_size_t jobs_finished;
    char pad_mid[64];
    _Atomic(weft__offload_t *) ovf_top; /* read by the loop at every take: rarely written */
    char pad_after[64];
    weft__done_slot_t *ring; /* WEFT__DONE_RING slots, made with the bridge */
} weft__bridge_t;

/* The reactor's bridge, made on first use (loop thread); NULL with *err if it cannot be. */
weft__bridge_t *weft__bridge_get(weft_reactor_t *r, int *err);

/* The reactor's bridge if it exists (any thread). */
weft__bridge_t *weft__bridge_peek(const weft_reactor_t *r);

/* Adds h to the functions called when the reactor reopens its thread-call queue after a
 * refused free, or removes it (loop; removing an unlisted hook does nothing). */
void weft__bridge_add_reopen_hook(weft__bridge_t *b, weft__bridge_hook_t *h);
void weft__bridge_remove_reopen_hook(weft__bridge_hook_t *h);

/* Wakes every blocking call with WEFT_ECLOSED and refuses new ones (shutdown; loop). */
void weft__blocking_close(weft__bridge_t *b);

#endif /* WEFT_BRIDGE_BRIDGE_INTERNAL_H */
