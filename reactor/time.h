/* SPDX-License-Identifier: MIT */
/* The reactor's clock: call_soon, delayed calls, and the manual clock for tests. */
#ifndef WEFT_REACTOR_TIME_H
#define WEFT_REACTOR_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/compiler.h>
#include <weft/reactor.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Time is monotonic, in seconds, read through the reactor: a real reactor reads
 * CLOCK_MONOTONIC; a manual-clock reactor starts at 0.0 and moves only by weft_reactor_advance.
 *
 * Delayed calls are named by an id, never by a pointer: an id stays safe to use after its call
 * has run or been cancelled (the functions then say so with an error code) and never names a
 * later call. Calls due at the same time run in the order they were scheduled, and a call
 * scheduled while delayed calls are running (even with delay 0) runs in a later pass, never
 * in the current one (Twisted's reactor rule; its task.Clock breaks it, weft's does not).
 */
typedef uint64_t weft_call_id_t; /* 0 is never a valid id */

/* The reactor's current time in seconds. Thread: loop. */
WEFT_EXPORT double weft_reactor_now(const weft_reactor_t *r);

/*
 * Runs fn(arg) on the loop thread at the next loop iteration, after the current callback
 * returns; calls run in the order they were made, and one made while they run waits for the
 * next iteration. Independent of the clock (it runs on a manual-clock reactor too). arg is
 * borrowed by weft until fn runs. Thread: loop.
 * Returns: 0; WEFT_ENOMEM; WEFT_EINVAL for a NULL fn.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_reactor_call_soon(weft_reactor_t *r, weft_call_fn fn,
                                                      void *arg);

/*
 * Schedules fn(arg) delay seconds from now (delay >= 0) and stores its id in *id (id may be
 * NULL). Thread: loop.
 * Returns: 0; WEFT_EINVAL for a NULL fn or a negative, NaN or infinite delay; WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_reactor_call_later(weft_reactor_t *r, double delay,
                                                       weft_call_fn fn, void *arg,
                                                       weft_call_id_t *id);

/*
 * Cancels a pending delayed call: fn never runs. Thread: loop.
 * Returns: 0; WEFT_EALREADY if it has run or is running (cancelling yourself from inside fn);
 * WEFT_ECANCELED if it was cancelled before; WEFT_EINVAL if id was never given out by r.
 * Long after a call ended its id may only be known as ended: then WEFT_EALREADY.
 */
WEFT_EXPORT int weft_delayed_call_cancel(weft_reactor_t *r, weft_call_id_t id);

/* Moves a pending call to seconds from now (Twisted's reset). It then runs after calls already
 * due at its new time. Thread: loop. Returns: as weft_delayed_call_cancel, and WEFT_EINVAL for
 * a negative or non-finite seconds. */
WEFT_EXPORT int weft_delayed_call_reset(weft_reactor_t *r, weft_call_id_t id, double seconds);

/* Shifts a pending call by seconds relative to its current due time (negative is allowed; a
 * due time before now runs at the next pass). Thread: loop. Returns: as reset. */
WEFT_EXPORT int weft_delayed_call_delay(weft_reactor_t *r, weft_call_id_t id, double seconds);

/* True while the call is pending: neither run nor running nor cancelled. Thread: loop. */
WEFT_EXPORT bool weft_delayed_call_is_active(const weft_reactor_t *r, weft_call_id_t id);

/* Stores the absolute due time of a pending call in *when. Thread: loop.
 * Returns: as weft_delayed_call_cancel. */
WEFT_EXPORT int weft_delayed_call_get_time(const weft_reactor_t *r, weft_call_id_t id,
                                           double *when);

/* The number of pending delayed calls (Twisted's len(getDelayedCalls())). Thread: loop. */
WEFT_EXPORT size_t weft_reactor_pending_calls(const weft_reactor_t *r);

/*
 * Manual clock only: moves time forward by seconds, then runs, in order, every delayed call
 * due by the new time that was scheduled before this call. Calls those schedule run at a later
 * advance (advance(r, 0) runs the ones already due). Thread: loop.
 * Returns: 0; WEFT_EINVAL if the reactor has a real clock or seconds is negative or not finite.
 */
WEFT_EXPORT int weft_reactor_advance(weft_reactor_t *r, double seconds);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REACTOR_TIME_H */
