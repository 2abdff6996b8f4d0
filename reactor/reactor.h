/* SPDX-License-Identifier: MIT */
/* The reactor: one thread running a libuv loop that never blocks. */
#ifndef WEFT_REACTOR_REACTOR_H
#define WEFT_REACTOR_REACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/compiler.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A reactor is the clock and the entry point of everything on its loop thread. It either owns
 * a libuv loop (weft_reactor_new) or borrows the caller's (weft_reactor_new_from_uv). Every
 * function here is for the loop thread only, except weft_reactor_call_from_thread, which any
 * thread may call. Debug builds (WEFT_DEBUG) abort with a message naming the function when a
 * loop-only function is called from another thread; release builds do not check.
 *
 * Lifecycle: new -> run (startup) -> stop (graceful) -> run returns -> free. A stopped reactor
 * cannot run again; a crashed one can.
 */
typedef struct weft_reactor_s weft_reactor_t;

/* libuv's loop type (uv_loop_t), declared here instead of including <uv.h>, which needs POSIX
 * feature macros a strict -std=c11 program does not set. Callers of the two functions that
 * take or give a loop include <uv.h> themselves. */
struct uv_loop_s;

/* A function the reactor calls on its loop thread with the argument it was given. */
typedef void (*weft_call_fn)(void *arg);

/* Options for weft_reactor_new / weft_reactor_new_from_uv. Fill with weft_reactor_options_init
 * and change what you need; a NULL options pointer means all defaults. */
typedef struct {
    /* Name in every log record of this reactor ("reactor=<name>"). Copied. Default "main". */
    const char *name;
    /* Time moves only when weft_reactor_advance says so (a test clock, like Twisted's
     * task.Clock); delayed calls never fire on their own. Default false. */
    bool manual_clock;
    /* Install SIGINT/SIGTERM (graceful stop) and SIGHUP (the hook) handlers, and ignore
     * SIGPIPE (if its disposition is the default), while run lasts. Default true for
     * weft_reactor_new, false for weft_reactor_new_from_uv. */
    bool install_signal_handlers;
    /* Most call_from_thread calls run per loop iteration before timers and sockets get their
     * turn again. Default 1024. */
    unsigned thread_calls_per_tick;
    /* Seconds weft_reactor_stop waits for before-shutdown triggers' deferreds before it names
     * the late ones in the log, cancels them and goes on (<weft/events.h>). Default 30. */
    double shutdown_deadline;
    /* Timer slack for the loop thread in nanoseconds (prctl PR_SET_TIMERSLACK), applied when
     * run starts; 0 leaves the kernel's default (50 us). Lower values cut timer lateness. */
    unsigned long timer_slack_ns;
} weft_reactor_options_t;

/* Fills opts with the defaults above. Thread: any. */
WEFT_EXPORT void weft_reactor_options_init(weft_reactor_options_t *opts);

/*
 * Creates a reactor with its own libuv loop. opts is borrowed (NULL for defaults). Returns an
 * owned reactor, released with weft_reactor_free, or NULL with *err set (err may be NULL).
 * The calling thread is its loop thread until run is called. Thread: any.
 * Errors: WEFT_ENOMEM; WEFT_EINVAL for thread_calls_per_tick 0; libuv's codes if the loop or
 * its handles cannot be created.
 */
WEFT_EXPORT WEFT_NODISCARD weft_reactor_t *weft_reactor_new(const weft_reactor_options_t *opts,
                                                            int *err);

/*
 * Creates a reactor on the caller's libuv loop, which it borrows: weft adds its own handles,
 * coexists with the caller's, never runs or closes the loop itself, and after
 * weft_reactor_free has no handle left on it once the loop has run its close callbacks. The
 * caller drives the loop with uv_run. The creating thread is the loop thread. Thread: any.
 * Errors: as weft_reactor_new, and WEFT_EINVAL for a NULL loop.
 */
WEFT_EXPORT WEFT_NODISCARD weft_reactor_t *
weft_reactor_new_from_uv(struct uv_loop_s *loop, const weft_reactor_options_t *opts, int *err);

/*
 * Runs the loop until the reactor is stopped (or crashed). The calling thread becomes the
 * loop thread. Installs the signal handlers (unless opted out), applies the timer slack and
 * fires the "startup" event (<weft/events.h>); after-startup triggers and call_when_running
 * functions run once its before triggers' deferreds have fired.
 * Thread: loop (the thread that will run it).
 * Returns: 0 after a stop or crash; WEFT_EALREADY if it is already running; WEFT_ECLOSED if
 * it was stopped before (a reactor cannot be restarted); WEFT_EINVAL for a borrowed loop,
 * which its owner runs.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_reactor_run(weft_reactor_t *r);

/*
 * Starts a graceful stop: on the next loop pass the "shutdown" event fires (<weft/events.h>):
 * its before triggers run and the loop keeps serving while their deferreds are pending (up to
 * shutdown_deadline), then its during and after triggers run; then the reactor stops taking
 * thread calls (later ones get WEFT_ECLOSED), runs every thread call already accepted, and
 * returns from weft_reactor_run. Thread: loop.
 * Returns: 0; WEFT_ENOTRUNNING if it is not running; WEFT_EALREADY if it is already stopping.
 */
WEFT_EXPORT int weft_reactor_stop(weft_reactor_t *r);

/* Ends weft_reactor_run after the current pass without any shutdown step; run may be called
 * again. Does nothing if not running. Thread: loop. */
WEFT_EXPORT void weft_reactor_crash(weft_reactor_t *r);

/* Twisted's `running`: true from the during phase of startup until the during phase of
 * shutdown, or a crash. Thread: loop. */
WEFT_EXPORT bool weft_reactor_is_running(const weft_reactor_t *r);

/*
 * Releases the reactor. Refuses, changing nothing, while anything is open: then it logs what
 * (pending delayed calls, call_soon calls, an event still waiting on its before triggers, or
 * handles the caller added to the reactor's own loop) and returns WEFT_EBUSY. Triggers that
 * never ran are dropped. Thread calls accepted but not yet run are run first.
 * A borrowed loop gets its handles closed; their memory is released by the loop's close
 * callbacks (asynchronous release): no weft callback runs after this returns.
 * weft_reactor_free(NULL) returns 0. Thread: loop.
 * Returns: 0; WEFT_EBUSY while running or while anything is open.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_reactor_free(weft_reactor_t *r);

/*
 * Queues fn(arg) to run on the loop thread: the one reactor function any thread may call.
 * Calls from one thread run in the order they were made; none is ever lost or run twice.
 * The loop is woken at most once per batch. Thread: any.
 * Returns: 0; WEFT_ECLOSED once the reactor has stopped (fn is then never called);
 * WEFT_ENOMEM; WEFT_EINVAL for a NULL fn.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_reactor_call_from_thread(weft_reactor_t *r, weft_call_fn fn,
                                                             void *arg);

/* Sets the function SIGHUP calls on the loop thread (NULL: log and ignore SIGHUP). arg is
 * borrowed while set. Thread: loop. */
WEFT_EXPORT void weft_reactor_set_sighup_hook(weft_reactor_t *r, weft_call_fn fn, void *arg);

/* The signal that stopped the reactor (SIGINT or SIGTERM), or 0. Thread: loop. */
WEFT_EXPORT int weft_reactor_exit_signal(const weft_reactor_t *r);

/* The reactor's name (as given in the options). Thread: any. */
WEFT_EXPORT const char *weft_reactor_name(const weft_reactor_t *r);

/* The libuv loop the reactor runs on (its own or the borrowed one), for adding libuv handles
 * of your own; close them before weft_reactor_free. Thread: loop. */
WEFT_EXPORT struct uv_loop_s *weft_reactor_get_uv_loop(weft_reactor_t *r);

/*
 * Driving weft from a foreign poll loop (poll, epoll, GLib ...): wait until
 * weft_reactor_backend_fd is readable or weft_reactor_backend_timeout milliseconds pass
 * (-1: no timeout), then call weft_reactor_run_once_nowait. Thread: loop.
 */
WEFT_EXPORT int weft_reactor_backend_fd(const weft_reactor_t *r);
WEFT_EXPORT int weft_reactor_backend_timeout(const weft_reactor_t *r);
/* Runs one non-blocking loop iteration: due timers, ready I/O, thread calls. Returns nonzero
 * while weft has active handles or requests. Thread: loop. */
WEFT_EXPORT int weft_reactor_run_once_nowait(weft_reactor_t *r);

/* Loop health, readable at any moment on the loop thread. */
typedef struct {
    uint64_t iterations; /* loop iterations since creation */
    uint64_t callbacks;  /* delayed, soon and thread calls run */
    uint64_t max_callbacks_per_tick;
    uint64_t timers_fired;      /* delayed calls run */
    uint64_t timer_lag_last_ns; /* how late the last delayed call ran */
    uint64_t timer_lag_max_ns;
    uint64_t timer_lag_sum_ns; /* divide by timers_fired for the mean */
    uint64_t thread_calls;     /* call_from_thread calls run */
    uint64_t wakeups;          /* times a thread call woke the loop */
    size_t pending_delayed_calls;
} weft_reactor_stats_t;

/* Copies the loop health counters into *out. Thread: loop. */
WEFT_EXPORT void weft_reactor_get_stats(const weft_reactor_t *r, weft_reactor_stats_t *out);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REACTOR_REACTOR_H */
