/* SPDX-License-Identifier: MIT */
/* Hooks of the deferred for other parts of weft's reactor room (the timeout of issue 5). */
#ifndef WEFT_REACTOR_DEFERRED_INTERNAL_H
#define WEFT_REACTOR_DEFERRED_INTERNAL_H

#include <weft/deferred.h>

/*
 * Timeouts. Twisted's addTimeout(t, clock, onTimeoutCancel) is, and weft's add_timeout will be,
 * built from public pieces plus this one hook:
 *   1. schedule a delayed call that calls weft__deferred_cancel_from_timer(d) and records
 *      "the timer fired" in the timeout's own state (the delayed call holds a reference to d);
 *   2. weft_deferred_add_both(d, translate): only if the timer fired and the result is a
 *      weft.CancelledError failure, replace it with a weft.TimeoutError (code WEFT_ETIMEDOUT)
 *      whose cause is the CancelledError; anything else passes through unchanged;
 *   3. weft_deferred_add_both(d, stop_timer): cancel the delayed call if it is still pending.
 * The steps cover only callbacks added before them, and a deferred waiting on another forwards
 * the cancel to the inner one, exactly as TWISTED.md 9.15 requires; nothing else is needed
 * from the deferred.
 */

/* weft_deferred_cancel for a timer, which has nobody to return a code to: a canceller's
 * refusal is logged (component "deferred", warn) instead. Borrows d. Thread: loop. */
void weft__deferred_cancel_from_timer(weft_deferred_t *d);

/* True while d's result is promised to another deferred (one waits on d, or d was chained):
 * weft_deferred_add_callbacks would refuse with WEFT_EBUSY. Thread: loop. */
bool weft__deferred_promised(const weft_deferred_t *d);

/* Makes the calling thread d's owner. Debug builds abort when a deferred is used from a
 * thread other than its owner (the one that made it); the bridge calls this when it hands a
 * deferred made elsewhere to the reactor thread. Release builds do nothing. Thread: any, while
 * no other thread touches d. */
void weft__deferred_adopt(weft_deferred_t *d);

/* Frees the calling thread's cache of released deferreds (release builds keep up to 64 for
 * reuse; a thread's cache is also freed when it exits). For tests and shutdown paths that want
 * every byte back now. Thread: any (acts on the calling thread's cache). */
void weft__deferred_cache_drain(void);

#endif /* WEFT_REACTOR_DEFERRED_INTERNAL_H */
