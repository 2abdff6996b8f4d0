/* SPDX-License-Identifier: MIT */
/* Deferreds: Twisted's promise of one future result, with a chain of callbacks, in C. */
#ifndef WEFT_REACTOR_DEFERRED_H
#define WEFT_REACTOR_DEFERRED_H

#include <stdbool.h>
#include <stddef.h>

#include <weft/compiler.h>
#include <weft/error.h>
#include <weft/failure.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A deferred stands for a result that is not there yet. Whoever will produce it fires it once,
 * with a value (weft_deferred_callback) or a failure (weft_deferred_errback); whoever wants the
 * result adds (callback, errback) pairs. The pairs run in order, each on the current result,
 * exactly as Twisted's Deferred runs them (doc/api/deferred.md lists the rules; each one has
 * a test in t/12-deferred.c):
 *
 *   - a pair runs one side only: its callback if the current result is a value, its errback if
 *     it is a failure; what that side returns becomes the current result;
 *   - an errback that returns a value switches the chain back to the success path;
 *   - a callback that returns a failure goes to the next pair's errback, not its own pair's;
 *   - a side that returns a deferred makes the chain wait for it: an already-fired one hands
 *     over its result at once (its own result becomes NULL), an unfired one pauses this chain
 *     until it fires; long chains of such waits run in a loop, never by recursion.
 *
 * Ownership. A value moving through a chain is a pointer paired with the function that frees
 * it (a weft_free_fn, NULL when nothing needs freeing). The deferred owns its current result;
 * a callback takes ownership of the result it is given and returns ownership of the result it
 * produces, as a weft_result_t: weft_ok(value, free), weft_fail(failure) or
 * weft_wait_for(deferred). A deferred released while its result is a failure logs
 * "Unhandled error in Deferred" once, through weft_log (component "deferred", level error).
 *
 * Deferreds are reference counted (weft_deferred_ref/unref); whoever will fire one, or wants
 * to read it later, holds a reference. The chain itself keeps alive only what it will touch:
 * a deferred waiting on another is kept alive by the other, not the reverse, so a deferred that
 * nobody holds and nobody will fire is simply freed.
 *
 * Misuse (firing twice, firing from one's own callback, adding callbacks to a deferred whose
 * result is promised to another) returns an error code, logs it once (component "deferred"),
 * frees what it was handed and leaves the deferred as it was.
 *
 * Thread: a deferred and everything reached from it belong to one thread, the reactor's
 * ("Thread: loop." below). Deferreds need no running loop: tests drive them directly.
 */
typedef struct weft_deferred_s weft_deferred_t;

/* Frees a value travelling through a chain. */
typedef void (*weft_free_fn)(void *value);

/* What a callback returns: one of a value, a failure, or a deferred to wait for. */
typedef enum {
    WEFT_RESULT_VALUE = 0,
    WEFT_RESULT_FAILURE = 1,
    WEFT_RESULT_DEFERRED = 2,
} weft_result_kind_t;

/* A result. Build it with the helpers below rather than by hand. Whoever holds one owns what
 * it carries. */
typedef struct {
    weft_result_kind_t kind;
    void *value;               /* WEFT_RESULT_VALUE: the value (may be NULL) */
    weft_free_fn free;         /* WEFT_RESULT_VALUE: frees value; NULL if nothing to free */
    weft_failure_t *failure;   /* WEFT_RESULT_FAILURE: the failure (owned) */
    weft_deferred_t *deferred; /* WEFT_RESULT_DEFERRED: one reference to it (owned) */
} weft_result_t;

/* A value result; free (may be NULL) frees value when its owner is done with it. */
static inline weft_result_t weft_ok(void *value, weft_free_fn free_fn)
{
    weft_result_t r = {WEFT_RESULT_VALUE, value, free_fn, NULL, NULL};
    return r;
}

/* A failure result; takes f. */
static inline weft_result_t weft_fail(weft_failure_t *f)
{
    weft_result_t r = {WEFT_RESULT_FAILURE, NULL, NULL, f, NULL};
    return r;
}

/* Shorthand for weft_fail(weft_failure_new(type, code, message)). */
static inline weft_result_t weft_fail_new(const weft_failure_type_t *type, int code,
                                          const char *message)
{
    return weft_fail(weft_failure_new(type, code, message));
}

/* A deferred to wait for; takes one reference to d (the caller's). */
static inline weft_result_t weft_wait_for(weft_deferred_t *d)
{
    weft_result_t r = {WEFT_RESULT_DEFERRED, NULL, NULL, NULL, d};
    return r;
}

/* In an errback: hands f on unchanged unless it is one of the given types (Failure.trap).
 *     WEFT_TRAP(f, &weft_cancelled_error_type);   ... handle the cancel ...  */
#define WEFT_TRAP(f, ...)                                                                          \
    do {                                                                                           \
        if (weft_failure_check((f), __VA_ARGS__) == NULL)                                          \
            return weft_fail(f);                                                                   \
    } while (0)

/*
 * Releases whatever r carries: calls the value's free function, frees the failure, or drops
 * the deferred reference. Takes r. Thread: loop.
 */
WEFT_EXPORT void weft_result_free(weft_result_t r);

/* A callback: receives the current value (owned, with its free function). */
typedef weft_result_t (*weft_callback_fn)(void *value, weft_free_fn free, void *arg);
/* An errback: receives the current failure (owned). */
typedef weft_result_t (*weft_errback_fn)(weft_failure_t *failure, void *arg);
/* A both-callback (add_both): receives the current result, a value or a failure (owned). */
typedef weft_result_t (*weft_both_fn)(weft_result_t result, void *arg);
/*
 * A canceller, called by weft_deferred_cancel on an unfired deferred (at most once). It should
 * stop the producer and may fire d itself. It returns 0, or a negative code for "could not
 * cancel" (what raising is in Twisted): cancel then returns that code and leaves d unfired.
 * d is borrowed for the call.
 */
typedef int (*weft_canceller_fn)(weft_deferred_t *d, void *arg);

/*
 * Makes an unfired deferred with no canceller (cancel then errbacks it with CancelledError and
 * swallows the producer's one late fire, freeing its value).
 * Ownership: returns an owned reference (count 1). Returns NULL only when out of memory.
 * Thread: loop.
 */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *weft_deferred_new(void);

/*
 * As weft_deferred_new with a canceller and its argument (borrowed; the deferred forgets both
 * once it has fired or the canceller has run). canceller may be NULL. Thread: loop.
 */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *
weft_deferred_new_cancellable(weft_canceller_fn canceller, void *arg);

/* Adds a reference and returns d (NULL for NULL). Thread: loop. */
WEFT_EXPORT weft_deferred_t *weft_deferred_ref(weft_deferred_t *d);

/*
 * Drops a reference; the last one frees d, its result (logging "Unhandled error in Deferred"
 * when that is a failure) and its unrun callbacks. weft_deferred_unref(NULL) does nothing.
 * Thread: loop.
 */
WEFT_EXPORT void weft_deferred_unref(weft_deferred_t *d);

/*
 * Fires d with value (and its free function) and runs the chain before returning.
 * Ownership: takes value on every path (on error it is freed with free).
 * Thread: loop.
 * Returns: 0, also when d was cancelled without a canceller and this is the producer's one
 * late fire (the value is freed); WEFT_EALREADY if d has fired already (logged; d unchanged);
 * WEFT_EINVAL if d is NULL.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_deferred_callback(weft_deferred_t *d, void *value,
                                                      weft_free_fn free);

/*
 * Fires d with failure f (NULL becomes a plain weft.Error) and runs the chain.
 * Ownership: takes f on every path. Thread: loop.
 * Returns: as weft_deferred_callback.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_deferred_errback(weft_deferred_t *d, weft_failure_t *f);

/*
 * Fires d with r: a value as weft_deferred_callback, a failure as weft_deferred_errback
 * (Twisted's callback(Failure) takes the error path too). A deferred is refused: firing with
 * a deferred does not chain in Twisted either; use weft_deferred_chain.
 * Ownership: takes r on every path. Thread: loop.
 * Returns: as weft_deferred_callback; WEFT_EINVAL if r carries a deferred (its reference is
 * dropped, the refusal logged, d unchanged).
 */
WEFT_EXPORT WEFT_NODISCARD int weft_deferred_fire(weft_deferred_t *d, weft_result_t r);

/*
 * Appends the pair (cb, cb_arg) / (eb, eb_arg); a NULL side passes the result through. If d
 * has fired and is neither paused, waiting nor running its chain, the chain runs before this
 * returns; if it is running, the pair runs after the current callback, from the same loop.
 * Ownership: borrows d and both args (they must outlive the pair's run). Thread: loop.
 * Returns: 0; WEFT_EBUSY if d's result is promised to another deferred (another one waits on
 * d, or d was chained with weft_deferred_chain, and that hand-off has not happened yet; logged);
 * WEFT_ENOMEM; WEFT_EINVAL if d is NULL. On error nothing is added.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_deferred_add_callbacks(weft_deferred_t *d, weft_callback_fn cb,
                                                           void *cb_arg, weft_errback_fn eb,
                                                           void *eb_arg);

/* The pair (cb, pass the failure on). Returns: as weft_deferred_add_callbacks. Thread: loop. */
WEFT_EXPORT WEFT_NODISCARD int weft_deferred_add_callback(weft_deferred_t *d, weft_callback_fn cb,
                                                          void *arg);

/* The pair (pass the value on, eb). Returns: as weft_deferred_add_callbacks. Thread: loop. */
WEFT_EXPORT WEFT_NODISCARD int weft_deferred_add_errback(weft_deferred_t *d, weft_errback_fn eb,
                                                         void *arg);

/* The pair (fn, fn): fn runs on either kind of result. Returns: as weft_deferred_add_callbacks.
 * Thread: loop. */
WEFT_EXPORT WEFT_NODISCARD int weft_deferred_add_both(weft_deferred_t *d, weft_both_fn fn,
                                                      void *arg);

/*
 * chainDeferred: when d's chain reaches this point, its result moves into target, which fires
 * with it (d's result becomes NULL). The hand-off is iterative, as implicit waits are.
 * Ownership: borrows d; takes a reference to target for as long as the hand-off is pending.
 * Thread: loop.
 * Returns: 0; WEFT_EALREADY if target has fired (logged); WEFT_EINVAL if either is NULL,
 * they are the same deferred, or d waits (directly or through others) for target (a cycle;
 * logged); WEFT_EBUSY, WEFT_ENOMEM as weft_deferred_add_callbacks. If
 * target has fired by the time d's result reaches it, d's chain takes a
 * weft.AlreadyCalledError failure instead (as Twisted's d2.callback raising would).
 */
WEFT_EXPORT WEFT_NODISCARD int weft_deferred_chain(weft_deferred_t *d, weft_deferred_t *target);

/* Adds one to d's pause count: its chain does not start or resume while it is above zero. A
 * callback pausing its own deferred does not stop the rest of the current run (as in Twisted).
 * Thread: loop. */
WEFT_EXPORT void weft_deferred_pause(weft_deferred_t *d);

/*
 * Takes one from d's pause count; at zero, a fired deferred resumes its chain before this
 * returns. Thread: loop.
 * Returns: 0; WEFT_EINVAL if d was not paused by weft_deferred_pause (logged; Twisted lets the
 * count go negative) or d is NULL.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_deferred_unpause(weft_deferred_t *d);

/*
 * Cancels d (Twisted's cancel):
 *   - unfired: runs the canceller if there is one (at most once); if d is still unfired
 *     afterwards, errbacks it with weft.CancelledError (code WEFT_ECANCELED). Without a
 *     canceller the producer's one later fire is swallowed (its value freed), a second one is
 *     an error;
 *   - fired but waiting on another deferred: cancels that one instead (d's canceller is not
 *     called) and its CancelledError flows into d;
 *   - otherwise: nothing.
 * Ownership: borrows d. Thread: loop.
 * Returns: 0; the canceller's negative code when it reports it could not cancel (d stays
 * unfired, the canceller is spent); WEFT_EINVAL if d is NULL.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_deferred_cancel(weft_deferred_t *d);

/* True once d has been fired (Twisted's `called`). Thread: loop. */
WEFT_EXPORT bool weft_deferred_called(const weft_deferred_t *d);

/* True while d's chain cannot run: paused by weft_deferred_pause or waiting on another deferred.
 * Thread: loop. */
WEFT_EXPORT bool weft_deferred_paused(const weft_deferred_t *d);

/* True while d waits for another deferred a callback returned. Thread: loop. */
WEFT_EXPORT bool weft_deferred_waiting(const weft_deferred_t *d);

/*
 * A deferred already fired with value (Twisted's succeed).
 * Ownership: takes value; returns an owned reference. NULL only when out of memory (value is
 * freed then). Thread: loop.
 */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *weft_deferred_succeed(void *value, weft_free_fn free);

/* A deferred already failed with f (Twisted's fail). Takes f. NULL only when out of memory
 * (f is freed then). Thread: loop. */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *weft_deferred_fail(weft_failure_t *f);

/*
 * maybeDeferred: calls fn(arg) now and always gives a deferred: fn's value as a fired deferred,
 * its failure as a failed one, its deferred as that same deferred.
 * Ownership: returns an owned reference. NULL only when out of memory (fn's result is freed).
 * Thread: loop.
 */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *weft_maybe_deferred(weft_result_t (*fn)(void *arg),
                                                                void *arg);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REACTOR_DEFERRED_H */
