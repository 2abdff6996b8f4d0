/* SPDX-License-Identifier: MIT */
/* The reactor's insides, shared by reactor.c, time.c, thread-calls.c and reactor/net/ only. */
#ifndef WEFT_REACTOR_REACTOR_INTERNAL_H
#define WEFT_REACTOR_REACTOR_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include <weft/events.h>
#include <weft/log.h>
#include <weft/reactor.h>
#include <weft/time.h>

#include "../common/list-internal.h"

/* A delayed call lives in a slot of a growing array; the heap holds slot indices. */
typedef enum {
    SLOT_FREE = 0,
    SLOT_PENDING,
    SLOT_RUNNING,
    SLOT_CALLED,
    SLOT_CANCELLED,
} weft__slot_state_t;

typedef struct {
    uint64_t due_ns;
    uint64_t seq; /* scheduling order: ties and the "not in this pass" rule */
    weft_call_fn fn;
    void *arg;
    uint32_t gen; /* bumped each time the slot is reused: stale ids never match */
    uint32_t heap_index;
    uint32_t next_free;
    uint8_t state;
} weft__call_slot_t;

/* A queued call (call_soon or call_from_thread), recycled through free lists. */
typedef struct weft__call_node_s {
    struct weft__call_node_s *next;
    weft_call_fn fn;
    void *arg;
} weft__call_node_t;

/* A queued call_from_thread call. */
typedef struct {
    weft_call_fn fn;
    void *arg;
} weft__thread_call_t;

typedef enum {
    REACTOR_NEW = 0,
    REACTOR_RUNNING,
    REACTOR_STOPPING,
    REACTOR_STOPPED,
    REACTOR_CRASHED,
} weft__reactor_state_t;

struct weft_reactor_s {
    char name[32];
    uv_loop_t *loop;
    uv_loop_t own_loop;
    bool borrowed;
    bool manual_clock;
    bool install_signals;
    unsigned thread_calls_per_tick;
    unsigned long timer_slack_ns;
    weft__reactor_state_t state;
    atomic_uintptr_t loop_thread; /* a pthread_t; atomic: workers read it (blocking calls) */
    int exit_signal;

    /* Handles; closing counts down in free's close callbacks. */
    uv_timer_t timer;
    uv_idle_t soon_idle;
    uv_idle_t spin_idle; /* unreferenced; active until spin_until (weft__reactor_poll_for) */
    uint64_t spin_until; /* uv_hrtime() */
    uint64_t dispatched; /* weft dispatches so far (WEFT__DISPATCH) */
    uint64_t spin_seen;  /* dispatched as the spinning idle handle last saw it */
    uv_prepare_t prepare;
    uv_async_t async;
    uv_signal_t sigint, sigterm, sighup;
    bool signals_on;
    bool stop_pending;
    int closing;

    weft_call_fn sighup_fn;
    void *sighup_arg;

    /* Delayed calls (time.c). */
    weft__call_slot_t *slots;
    uint32_t nslots, slots_cap;
    uint32_t free_head, free_tail; /* FIFO, so a slot is reused as late as possible */
    uint32_t *heap;
    uint32_t heap_len, heap_cap;
    uint64_t next_seq;
    uint64_t manual_ns;
    bool in_pass;
    bool in_timer_cb; /* on_timer is running: libuv would rerun a timer restarted at 0 */
    bool rearm_timer; /* arm again from the prepare handle (a due call found in on_timer) */

    /* call_soon (time.c): loop-only FIFO. */
    weft__call_node_t *soon_head, *soon_tail;
    weft__call_node_t *node_cache; /* loop-only free list */
    size_t node_cache_len;

    /* call_from_thread (thread-calls.c): two arrays swapped whole. tc_in and the flags are
     * under tc_lock; tc_out is the loop's alone. */
    pthread_mutex_t tc_lock;
    weft__thread_call_t *tc_in;
    size_t tc_in_len, tc_in_cap;
    bool tc_wake_pending;
    bool tc_closed;
    weft__thread_call_t *tc_out;
    size_t tc_out_len, tc_out_pos, tc_out_cap;

    /* System event triggers (events.c). */
    weft__list_t triggers; /* weft__trigger_t, in the order they were added */
    weft__list_t firings;  /* weft__firing_t of the events firing now */
    weft_trigger_id_t next_trigger_id;
    bool running_flag; /* Twisted's `running`: from during-startup to during-shutdown */
    double shutdown_deadline;

    /* One extension (the bridge's per-reactor state), released with the reactor. */
    _Atomic(void *) ext; /* read from workers (blocking calls): atomic */
    const struct weft__reactor_ext_ops_s *ext_ops;

    /* Loop health. */
    weft_reactor_stats_t stats;
    uint64_t tick_callbacks;
    unsigned dispatching; /* user callbacks running now: weft_reactor_free refuses */
    unsigned holds;       /* thread calls weft expects (offloads in flight) */
    bool ext_flush;       /* the extension's flush runs when the outermost dispatch ends */

    /* Networking (reactor/net/): transports, listeners and connects whose memory is not yet
     * released (free refuses while any is), and the read buffer every connection of this
     * loop shares (a read is handed to data_received at once, so one buffer is enough). */
    size_t net_objects;
    char *net_read_buf;
    /* The gather buffer of the transport whose data_received runs (net_cork_owner), shared
     * like the read buffer: an idle connection keeps none (reactor/net/transport.c). */
    char *net_cork;
    size_t net_cork_cap;
    struct weft_transport_s *net_cork_owner;
};

#define WEFT__NO_INDEX UINT32_MAX

/* Logs with the reactor's name as a field. */
void weft__reactor_log(const weft_reactor_t *r, weft_log_level_t level, const char *fmt, ...)
    WEFT_PRINTF(3, 4);

/* Counts one user callback for the loop health stats. */
static inline void weft__reactor_count_callback(weft_reactor_t *r)
{
    r->stats.callbacks++;
    r->tick_callbacks++;
}

/* time.c */
int weft__time_init(weft_reactor_t *r);
void weft__time_release(weft_reactor_t *r);
uint64_t weft__time_now_ns(const weft_reactor_t *r);
/* True for a finite seconds >= 0. */
bool weft__seconds_valid(double s);
/* seconds as nanoseconds, saturating at "never" (UINT64_MAX / 2). */
uint64_t weft__seconds_to_ns(double s);
size_t weft__time_soon_pending(const weft_reactor_t *r);
weft__call_node_t *weft__node_get(weft_reactor_t *r);
void weft__node_put(weft_reactor_t *r, weft__call_node_t *node);

/*
 * Extension hooks, for the bridge (which mirrors these declarations in bridge/, since a room
 * never includes another room's -internal.h). The reactor knows nothing of what it carries.
 */
typedef struct weft__reactor_ext_ops_s {
    bool (*busy)(void *ext);    /* free refuses with WEFT_EBUSY while true */
    void (*release)(void *ext); /* called by free, on the loop thread, after the thread calls */
    void (*flush)(void *ext);   /* hands on what was gathered during a dispatch (may be NULL) */
    /* A refused free reopened the thread-call queue it had closed: a call_from_thread that
     * got WEFT_ECLOSED meanwhile may be posted again now (may be NULL). */
    void (*reopened)(void *ext);
} weft__reactor_ext_ops_t;
int weft__reactor_set_ext(weft_reactor_t *r, void *ext, const weft__reactor_ext_ops_t *ops);
void *weft__reactor_get_ext(const weft_reactor_t *r);
bool weft__reactor_on_loop_thread(const weft_reactor_t *r);
double weft__reactor_shutdown_deadline(const weft_reactor_t *r);
/* A thread call is expected (an offload is in flight): on a borrowed loop this keeps the
 * caller's uv_run alive until weft__reactor_unhold. Loop thread. */
void weft__reactor_hold(weft_reactor_t *r);
void weft__reactor_unhold(weft_reactor_t *r);
/* Inside a dispatch (a weft callback running on the loop thread), asks for the extension's
 * flush when the outermost one returns, and returns true; outside any, returns false: there
 * is no end of dispatch to wait for, so the caller acts at once. Loop thread. */
bool weft__reactor_flush_after_dispatch(weft_reactor_t *r);
/* For the next ns nanoseconds the loop does not sleep: each iteration polls with a zero
 * timeout and yields the CPU once (a reply expected from another thread then arrives without
 * a wake-up through the scheduler). Extends a window already open. Loop thread. */
void weft__reactor_poll_for(weft_reactor_t *r, uint64_t ns);
/* Runs the extension's flush (WEFT__DISPATCH calls it). */
void weft__reactor_run_ext_flush(weft_reactor_t *r);
/* Runs the thread calls accepted so far, now, without closing (the bridge's shutdown, so that
 * results already back arrive with their values). Loop thread. */
void weft__reactor_run_thread_calls(weft_reactor_t *r);

/* events.c */
void weft__events_init(weft_reactor_t *r);
/* Fires "startup" (from run) and "shutdown" (from stop); when the shutdown's after phase is
 * done, calls weft__reactor_shutdown_done. */
int weft__events_fire_startup(weft_reactor_t *r);
int weft__events_fire_shutdown(weft_reactor_t *r);
void weft__reactor_shutdown_done(weft_reactor_t *r);
/* True while run is in progress and no stop or crash has begun. */
bool weft__reactor_is_started(const weft_reactor_t *r);
/* True while some event waits on before-phase deferreds. */
bool weft__events_busy(const weft_reactor_t *r);
/* Frees the triggers that never ran. */
void weft__events_release(weft_reactor_t *r);

/* time.c: arms the uv timer for the earliest delayed call (the prepare handle calls it when
 * on_timer left a call due at once). */
void weft__time_arm(weft_reactor_t *r);

/* thread-calls.c */
int weft__thread_calls_init(weft_reactor_t *r);
/* Refuses later calls with WEFT_ECLOSED and runs every one already accepted. */
void weft__thread_calls_close_and_drain(weft_reactor_t *r);
void weft__thread_calls_release(weft_reactor_t *r);
void weft__thread_calls_on_async(uv_async_t *handle);

_Static_assert(sizeof(pthread_t) <= sizeof(uintptr_t), "pthread_t must fit in a uintptr_t");

static inline void weft__reactor_set_loop_thread(weft_reactor_t *r)
{
    atomic_store_explicit(&r->loop_thread, (uintptr_t)pthread_self(), memory_order_release);
}

static inline bool weft__reactor_is_loop_thread(const weft_reactor_t *r)
{
    pthread_t t =
        (pthread_t)atomic_load_explicit(&((weft_reactor_t *)r)->loop_thread, memory_order_acquire);
    return pthread_equal(pthread_self(), t) != 0;
}

/* Counts a user callback running (free refuses meanwhile) around `call`; when the outermost
 * one returns, runs the extension's flush if something asked for it (the bridge hands the
 * offloads a callback made to its pools in one batch). */
#define WEFT__DISPATCH(r, call)                                                                    \
    do {                                                                                           \
        (r)->dispatching++;                                                                        \
        (r)->dispatched++;                                                                         \
        call;                                                                                      \
        if (--(r)->dispatching == 0 && (r)->ext_flush)                                             \
            weft__reactor_run_ext_flush(r);                                                        \
    } while (0)

/* Wrong-thread checks: on in debug builds only, free in release builds. */
#ifdef WEFT_DEBUG
_Noreturn void weft__wrong_thread(const char *func);
#define WEFT__LOOP_ONLY(r)                                                                         \
    do {                                                                                           \
        if (!weft__reactor_is_loop_thread(r))                                                      \
            weft__wrong_thread(__func__);                                                          \
    } while (0)
#else
#define WEFT__LOOP_ONLY(r) ((void)(r))
#endif

#endif /* WEFT_REACTOR_REACTOR_INTERNAL_H */
