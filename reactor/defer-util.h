/* SPDX-License-Identifier: MIT */
/* Combinators over deferreds: DeferredList, gather_results, lock, semaphore and queue. */
#ifndef WEFT_REACTOR_DEFER_UTIL_H
#define WEFT_REACTOR_DEFER_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <weft/compiler.h>
#include <weft/deferred.h>
#include <weft/failure.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ DeferredList */

/* Flags of weft_deferred_list_new (Twisted's keyword arguments). */
#define WEFT_DL_FIRE_ON_ONE_CALLBACK 0x1u /* fire on the first success */
#define WEFT_DL_FIRE_ON_ONE_ERRBACK  0x2u /* fail with weft.FirstError on the first failure */
#define WEFT_DL_CONSUME_ERRORS       0x4u /* an input's failure stops in the list */

/* fired_by when the list fired because every input had finished. */
#define WEFT_DL_ALL ((size_t)-1)

/* The state of one input in a list result. */
typedef enum {
    WEFT_DL_PENDING = 0, /* had not fired when the list fired */
    WEFT_DL_SUCCESS = 1,
    WEFT_DL_FAILURE = 2,
} weft_dl_state_t;

/* One input's outcome, in input order. The result owns value and failure; a user may take one
 * by copying it out and setting the field (and free) to NULL. */
typedef struct {
    weft_dl_state_t state;
    void *value;             /* WEFT_DL_SUCCESS */
    weft_free_fn free;       /* frees value, or NULL */
    weft_failure_t *failure; /* WEFT_DL_FAILURE */
} weft_dl_entry_t;

/* The value a DeferredList fires with: Twisted's list of (success, value) pairs, plus which
 * input made it fire. Free it with weft_deferred_list_result_free (its weft_free_fn). */
typedef struct {
    size_t count;             /* the number of inputs */
    size_t fired_by;          /* the input whose success fired it, or WEFT_DL_ALL */
    weft_dl_entry_t *entries; /* count entries, in input order */
} weft_dl_result_t;

/* Frees a weft_dl_result_t and every value and failure it still owns. NULL does nothing.
 * Thread: loop. */
WEFT_EXPORT void weft_deferred_list_result_free(void *result);

/*
 * DeferredList: a deferred that fires from the n inputs ds[0..n):
 *   - default: once every input has fired, with a weft_dl_result_t of every outcome in input
 *     order (fired_by WEFT_DL_ALL); it never fails;
 *   - WEFT_DL_FIRE_ON_ONE_CALLBACK: at the first success, with the outcomes so far (fired_by is
 *     that input; the others may be WEFT_DL_PENDING); if every input fails, as the default;
 *   - WEFT_DL_FIRE_ON_ONE_ERRBACK: at the first failure, fails with weft.FirstError whose cause
 *     is that failure and whose index (weft_failure_index) is that input;
 *   - WEFT_DL_CONSUME_ERRORS: a failed input's own chain continues with NULL instead of the
 *     failure (so it is not reported as unhandled) and the list takes the failure itself;
 *     without it, the list holds a copy and the input's chain keeps the failure.
 * A value recorded by the list moves into it: the input's own chain continues with NULL.
 * Outcomes arriving after the list fired are not recorded: they stay in the input's chain.
 * An empty list (n == 0) fires at once with an empty result, whatever the flags (Twisted never
 * fires it with fireOnOneCallback; weft picks one rule for every case).
 * Cancelling the list cancels every input that has not fired (a canceller's refusal is logged);
 * if the list is still unfired after that, it fails with weft.CancelledError.
 * Ownership: borrows the array; the list holds a reference to each input until that input has
 * fired. Returns an owned reference. Known limit: an input that nobody will ever fire keeps
 * the list (and itself) alive, so dropping every reference to both leaks them; Twisted's
 * garbage collector would collect the pair. Fire or cancel the list (or the input).
 * Thread: loop.
 * Errors (*err, which may be NULL; the return is NULL): WEFT_EINVAL if ds is NULL with n > 0, an
 * input is NULL, or flags has unknown bits; WEFT_EBUSY if an input's result is already promised
 * to another deferred (nothing is added to any input); WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *
weft_deferred_list_new(weft_deferred_t *const *ds, size_t n, unsigned flags, int *err);

/*
 * gatherResults: as weft_deferred_list_new with WEFT_DL_FIRE_ON_ONE_ERRBACK (and
 * WEFT_DL_CONSUME_ERRORS when consume_errors): fires with a weft_dl_result_t whose entries are
 * all WEFT_DL_SUCCESS, or fails with weft.FirstError (the input's failure is its cause).
 * Ownership, thread and errors as weft_deferred_list_new.
 */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *
weft_gather_results(weft_deferred_t *const *ds, size_t n, bool consume_errors, int *err);

/* ------------------------------------------------------------------ DeferredSemaphore / Lock */

/* A semaphore whose acquire gives a deferred. Waiters are served first come, first served, and
 * release hands the token to the next waiter synchronously (its callbacks run before release
 * returns). Cancelling a pending acquire removes it from the queue. */
typedef struct weft_deferred_semaphore_s weft_deferred_semaphore_t;

/*
 * Makes a semaphore with tokens tokens (its limit). Returns an owned semaphore, or NULL with
 * *err (may be NULL) set: WEFT_EINVAL if tokens < 1; WEFT_ENOMEM. Thread: loop.
 */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_semaphore_t *weft_deferred_semaphore_new(size_t tokens,
                                                                                  int *err);

/*
 * Frees s. Every pending acquire fails at once with weft.CancelledError (code WEFT_ECANCELED).
 * weft_deferred_semaphore_free(NULL) does nothing. Thread: loop.
 */
WEFT_EXPORT void weft_deferred_semaphore_free(weft_deferred_semaphore_t *s);

/*
 * Takes a token: the deferred fires with s as its value (no free function) at once if a token
 * is free, otherwise when one is released to it. Returns an owned reference; NULL only when out
 * of memory. Thread: loop.
 */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *
weft_deferred_semaphore_acquire(weft_deferred_semaphore_t *s);

/*
 * Gives a token back, or straight to the oldest waiter (whose callbacks run before this
 * returns). Thread: loop.
 * Returns: 0; WEFT_EINVAL if no token is taken (Twisted asserts; logged) or s is NULL.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_deferred_semaphore_release(weft_deferred_semaphore_t *s);

/*
 * Acquires, then calls fn(arg) as weft_maybe_deferred does, and releases when fn's result is
 * ready, success or failure; the returned deferred fires with fn's result.
 * Ownership: borrows s (it must outlive the run) and arg; returns an owned reference, NULL only
 * when out of memory. Thread: loop.
 */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *
weft_deferred_semaphore_run(weft_deferred_semaphore_t *s, weft_result_t (*fn)(void *arg),
                            void *arg);

/* Free tokens now, and the limit given to new. Thread: loop. */
WEFT_EXPORT size_t weft_deferred_semaphore_tokens(const weft_deferred_semaphore_t *s);
WEFT_EXPORT size_t weft_deferred_semaphore_limit(const weft_deferred_semaphore_t *s);

/* A lock: a semaphore of one token, with Twisted's DeferredLock names. */
typedef struct weft_deferred_lock_s weft_deferred_lock_t;

/* Makes an unlocked lock. Returns an owned lock; NULL only when out of memory. Thread: loop. */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_lock_t *weft_deferred_lock_new(void);

/* Frees l; pending acquires fail with weft.CancelledError. NULL does nothing. Thread: loop. */
WEFT_EXPORT void weft_deferred_lock_free(weft_deferred_lock_t *l);

/* As weft_deferred_semaphore_acquire; the deferred fires with l as its value. Thread: loop. */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *weft_deferred_lock_acquire(weft_deferred_lock_t *l);

/* Unlocks, or hands the lock to the oldest waiter synchronously. Thread: loop.
 * Returns: 0; WEFT_EINVAL if l is not locked (logged) or NULL. */
WEFT_EXPORT WEFT_NODISCARD int weft_deferred_lock_release(weft_deferred_lock_t *l);

/* As weft_deferred_semaphore_run, under the lock. Thread: loop. */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *
weft_deferred_lock_run(weft_deferred_lock_t *l, weft_result_t (*fn)(void *arg), void *arg);

/* True while l is held. Thread: loop. */
WEFT_EXPORT bool weft_deferred_lock_locked(const weft_deferred_lock_t *l);

/* ------------------------------------------------------------------ DeferredQueue */

/* A queue whose get gives a deferred, with a limit on buffered items (size) and on waiting
 * gets (backlog). put hands an item to the oldest waiting get synchronously. */
typedef struct weft_deferred_queue_s weft_deferred_queue_t;

/* A size or backlog with no limit. weft has no unbounded default: ask for it by name. */
#define WEFT_DQ_UNBOUNDED ((size_t)-1)

/*
 * Makes a queue buffering at most size items with at most backlog waiting gets (either may be
 * 0, or WEFT_DQ_UNBOUNDED). Returns an owned queue, or NULL with *err (may be NULL) set to
 * WEFT_ENOMEM. Thread: loop.
 */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_queue_t *weft_deferred_queue_new(size_t size,
                                                                          size_t backlog, int *err);

/* Frees q: buffered items are freed with their free functions, waiting gets fail with
 * weft.CancelledError. NULL does nothing. Thread: loop. */
WEFT_EXPORT void weft_deferred_queue_free(weft_deferred_queue_t *q);

/*
 * Puts value: to the oldest waiting get (its callbacks run before this returns), else into the
 * buffer. Ownership: takes value on every path. Thread: loop.
 * Returns: 0; WEFT_EOVERLOAD if the buffer holds size items and nobody waits (QueueOverflow;
 * value is freed); WEFT_ENOMEM (value is freed); WEFT_EINVAL if q is NULL.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_deferred_queue_put(weft_deferred_queue_t *q, void *value,
                                                       weft_free_fn free);

/*
 * Gets the oldest item: a fired deferred if one is buffered, else a deferred that fires on the
 * next put (cancelling it removes it from the waiters). Returns an owned reference, or NULL
 * with *err (may be NULL) set: WEFT_EOVERLOAD if backlog gets already wait (QueueUnderflow);
 * WEFT_ENOMEM; WEFT_EINVAL if q is NULL. Thread: loop.
 */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *weft_deferred_queue_get(weft_deferred_queue_t *q,
                                                                    int *err);

/* The number of buffered items / of waiting gets. Thread: loop. */
WEFT_EXPORT size_t weft_deferred_queue_pending(const weft_deferred_queue_t *q);
WEFT_EXPORT size_t weft_deferred_queue_waiting(const weft_deferred_queue_t *q);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REACTOR_DEFER_UTIL_H */
