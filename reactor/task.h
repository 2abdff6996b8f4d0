/* SPDX-License-Identifier: MIT */
/* Twisted's task module on the reactor's clock: LoopingCall, defer_later, and timeouts. */
#ifndef WEFT_REACTOR_TASK_H
#define WEFT_REACTOR_TASK_H

#include <stdbool.h>

#include <weft/compiler.h>
#include <weft/deferred.h>
#include <weft/reactor.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- LoopingCall */

/*
 * Calls a function every interval seconds on the reactor's clock (a manual clock in tests).
 * The schedule is a grid from the start time: a call that runs late does not shift later
 * calls, and ticks missed during a stall are skipped, not caught up (the with-count variant
 * says how many went by). If the function returns a deferred, the next call waits for it.
 * A failure (returned, or from its deferred) stops the loop and fails the start deferred.
 */
typedef struct weft_looping_call_s weft_looping_call_t;

/* The repeated function: returns a value (freed, ignored), a failure (stops the loop) or a
 * deferred to wait for, as weft_result_t. Runs on the loop thread. */
typedef weft_result_t (*weft_looping_fn)(void *arg);

/* The with-count function: count is how many grid ticks went by since the last call (>= 1;
 * 1 when the interval is 0). */
typedef weft_result_t (*weft_looping_count_fn)(unsigned long count, void *arg);

/*
 * Makes a looping call of fn(arg) on r, not started. arg is borrowed for the life of the
 * looping call. Returns an owned object (weft_looping_call_free) or NULL with *err:
 * WEFT_EINVAL for a NULL fn, WEFT_ENOMEM. Thread: loop.
 */
WEFT_EXPORT WEFT_NODISCARD weft_looping_call_t *
weft_looping_call_new(weft_reactor_t *r, weft_looping_fn fn, void *arg, int *err);

/* As weft_looping_call_new with a with-count function (LoopingCall.withCount). */
WEFT_EXPORT WEFT_NODISCARD weft_looping_call_t *
weft_looping_call_new_with_count(weft_reactor_t *r, weft_looping_count_fn fn, void *arg, int *err);

/*
 * Starts calling every interval seconds (>= 0; 0 runs once per loop pass), the first call now
 * (synchronously, before this returns) if now is true, else after one interval. If done is
 * not NULL it receives an owned reference to the start deferred: it fires with the looping
 * call as its value (no free function) when stopped, or fails with the function's failure.
 * Thread: loop.
 * Returns: 0; WEFT_EALREADY if it is running; WEFT_EINVAL for a negative or non-finite
 * interval; WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_looping_call_start(weft_looping_call_t *lc, double interval,
                                                       bool now, weft_deferred_t **done);

/*
 * Stops it: the next call is cancelled and the start deferred fires, at once, or, if the
 * function's deferred is in flight, when that one completes. Thread: loop.
 * Returns: 0; WEFT_ENOTRUNNING if it is not running.
 */
WEFT_EXPORT int weft_looping_call_stop(weft_looping_call_t *lc);

/* Restarts the grid from now: the next call comes one interval from now. Thread: loop.
 * Returns: 0; WEFT_ENOTRUNNING if it is not running. */
WEFT_EXPORT int weft_looping_call_reset(weft_looping_call_t *lc);

/* True between start and stop (or a failure). Thread: loop. */
WEFT_EXPORT bool weft_looping_call_is_running(const weft_looping_call_t *lc);

/*
 * Stops it if running (its start deferred fires) and releases it; if the function's deferred
 * is still in flight, the memory goes when that deferred completes. NULL does nothing.
 * Thread: loop.
 */
WEFT_EXPORT void weft_looping_call_free(weft_looping_call_t *lc);

/* ---------------------------------------------------------------- defer_later */

/*
 * Twisted's deferLater: a deferred that, delay seconds from now, fires with fn(arg)'s result
 * (a value, a failure, or a deferred it then waits for), or with a NULL value when fn is NULL.
 * Cancelling it before then cancels the timer and fails it with weft.CancelledError; after fn
 * returned a deferred it cancels that one. fn runs from the deferred's first callback (as in
 * Twisted), so a cancel from inside fn does nothing.
 * arg is borrowed until fn has run or the deferred is cancelled. Returns an owned reference,
 * or NULL with *err: WEFT_EINVAL for a negative or non-finite delay, WEFT_ENOMEM.
 * Thread: loop.
 */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *weft_defer_later(weft_reactor_t *r, double delay,
                                                             weft_result_t (*fn)(void *arg),
                                                             void *arg, int *err);

/* ---------------------------------------------------------------- timeouts */

/*
 * Twisted's addTimeout: if d has not fired seconds from now, it is cancelled; a
 * weft.CancelledError that this cancel causes reaches the callbacks added after this call as
 * weft.TimeoutError (code WEFT_ETIMEDOUT, the CancelledError as its cause). Callbacks added
 * before see the CancelledError (so an errback there that handles it makes d succeed). When d
 * fires first the timer is cancelled. If d waits on another deferred, the timeout cancels that
 * one. A d that never fires, and whose canceller refuses, keeps the timer's reference (and its
 * few bytes) alive: fire or cancel your deferreds.
 * Ownership: borrows d (the timer holds a reference until it is done). Thread: loop.
 * On a d that has fired and is idle, the step runs at once and cancels the timer (Twisted).
 * Returns: 0; WEFT_EINVAL for a NULL d or a negative or non-finite seconds; WEFT_EBUSY if d's
 * result is promised to another deferred; WEFT_ENOMEM. On error nothing is added.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_deferred_add_timeout(weft_deferred_t *d, weft_reactor_t *r,
                                                         double seconds);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REACTOR_TASK_H */
