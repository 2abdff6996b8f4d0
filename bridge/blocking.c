/* SPDX-License-Identifier: MIT */
/* blocking_call_from_thread: a worker runs a function on the loop and waits for its result. */

/*
 * Design. The waiting thread and the loop share one record, counted by `refs` (one each,
 * under the record's mutex): whoever lets go last frees it, so a worker that timed out and left
 * never strands the loop, and a loop that never answers never frees memory under a waiter.
 * The record is listed in the bridge (under the bridge lock) from submission, so that the
 * reactor's shutdown can wake every waiter with WEFT_ECLOSED before it stops the pools, whose
 * workers may be the ones waiting. A result that arrives for a waiter that has gone is freed
 * on the loop thread.
 *
 * Lock order: the bridge lock and a record's mutex are never held together.
 */
#include <errno.h>
#include <math.h>
#include <time.h>

#include <weft/bridge.h>
#include <weft/error.h>

#include "../common/alloc-internal.h"
#include "bridge-internal.h"

typedef struct {
    weft__list_t link; /* in b->blocking, under b->lock */
    weft_reactor_t *r;
    weft_result_t (*fn)(void *arg);
    void *arg;
    pthread_mutex_t m;
    pthread_cond_t cv;
    /* Under m. */
    int refs;
    bool done;    /* result or rc is final */
    bool waiting; /* the caller still waits for it */
    int rc;
    weft_result_t result;
    weft__bridge_t *b;   /* the bridge it is counted in (and listed in), set once; under m */
    bool listed_at_call; /* set before the hand-over to the loop, constant after */
} blocking_t;

/* Counts c in b (once): the bridge, and so the reactor's free, waits for it. */
static void attach(blocking_t *c, weft__bridge_t *b)
{
    pthread_mutex_lock(&c->m);
    c->b = b;
    pthread_mutex_unlock(&c->m);
    atomic_fetch_add_explicit(&b->blocking_records, 1, memory_order_relaxed);
}

/* Takes c off its bridge's list. Never reads the reactor: a waiter may get here while the
 * reactor is being freed, and the bridge outlives every record counted in it. */
static void unlist(blocking_t *c)
{
    pthread_mutex_lock(&c->m);
    weft__bridge_t *b = c->b;
    pthread_mutex_unlock(&c->m);
    if (b == NULL)
        return;
    pthread_mutex_lock(&b->lock);
    weft__list_remove(&c->link); /* harmless if already unlisted */
    pthread_mutex_unlock(&b->lock);
}

static void release(blocking_t *c)
{
    pthread_mutex_lock(&c->m);
    bool last = --c->refs == 0;
    pthread_mutex_unlock(&c->m);
    if (!last)
        return;
    weft__bridge_t *b = c->b; /* no one else holds c now */
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->m);
    weft__free(c);
    if (b != NULL)
        atomic_fetch_sub_explicit(&b->blocking_records, 1, memory_order_release);
}

/* Loop: the function's result is in. Takes res. */
static void finish(blocking_t *c, weft_result_t res)
{
    pthread_mutex_lock(&c->m);
    bool keep = c->waiting && !c->done;
    if (keep) {
        c->result = res;
        c->rc = 0;
        c->done = true;
        pthread_cond_signal(&c->cv);
    }
    pthread_mutex_unlock(&c->m);
    if (!keep)
        weft_result_free(res); /* the caller has gone: free it here, on the loop thread */
    unlist(c);
    release(c);
}

static weft_result_t on_deferred(weft_result_t res, void *arg)
{
    finish(arg, res);
    return weft_ok(NULL, NULL);
}

/* Loop: run the function. */
static void run(void *arg)
{
    blocking_t *c = arg;
    pthread_mutex_lock(&c->m);
    bool skip = c->done || !c->waiting; /* closed by shutdown, or the caller timed out */
    pthread_mutex_unlock(&c->m);
    if (skip) {
        unlist(c);
        release(c);
        return;
    }
    if (!c->listed_at_call) {
        /* Called before the reactor had a bridge: list it now (loop thread, where the bridge
         * can be made), so that shutdown wakes it; refused if shutdown has come already. */
        int err = 0;
        weft__bridge_t *b = weft__bridge_get(c->r, &err);
        bool closed = false;
        if (b != NULL) {
            attach(c, b);
            pthread_mutex_lock(&b->lock);
            closed = b->closed;
            if (!closed)
                weft__list_push_tail(&b->blocking, &c->link);
            pthread_mutex_unlock(&b->lock);
        }
        if (closed) {
            pthread_mutex_lock(&c->m);
            if (!c->done) {
                c->done = true;
                c->rc = WEFT_ECLOSED;
                pthread_cond_signal(&c->cv);
            }
            pthread_mutex_unlock(&c->m);
            release(c);
            return;
        }
    }
    weft_result_t res = c->fn(c->arg);
    if (res.kind != WEFT_RESULT_DEFERRED) {
        finish(c, res);
        return;
    }
    weft_deferred_t *d = res.deferred;
    if (weft_deferred_add_both(d, on_deferred, c) != 0)
        finish(c, weft_fail_new(&weft_error_type, WEFT_EBUSY,
                                "blocking_call_from_thread: the deferred cannot take callbacks"));
    weft_deferred_unref(d);
}

void weft__blocking_close(weft__bridge_t *b)
{
    /* One record at a time, each taken off b->blocking under the lock: a waiter that times out
     * meanwhile unlinks its own record under the same lock, so the list is never walked while
     * another thread edits it. A listed record stays alive: the loop's reference (this thread)
     * is only dropped after unlist. */
    for (;;) {
        pthread_mutex_lock(&b->lock);
        b->closed = true;
        weft__list_t *node = weft__list_pop_head(&b->blocking);
        pthread_mutex_unlock(&b->lock);
        if (node == NULL)
            break;
        blocking_t *c = weft__list_entry(node, blocking_t, link);
        pthread_mutex_lock(&c->m);
        if (!c->done) {
            c->done = true;
            c->rc = WEFT_ECLOSED;
            pthread_cond_signal(&c->cv);
        }
        pthread_mutex_unlock(&c->m);
    }
}

int weft_blocking_call_from_thread(weft_reactor_t *r, weft_result_t (*fn)(void *arg), void *arg,
                                   double timeout_s, weft_result_t *out)
{
    if (fn == NULL || out == NULL)
        return WEFT_EINVAL;
    if (weft__reactor_on_loop_thread(r))
        return WEFT_EWRONGTHREAD; /* waiting here would deadlock the loop */
    blocking_t *c = weft__calloc(1, sizeof(*c));
    if (c == NULL)
        return WEFT_ENOMEM;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&c->m, NULL);
    c->r = r;
    c->fn = fn;
    c->arg = arg;
    c->refs = 2; /* the waiter and the loop */
    c->waiting = true;
    weft__list_init(&c->link);

    weft__bridge_t *b = weft__bridge_peek(r);
    if (b != NULL) {
        attach(c, b);
        pthread_mutex_lock(&b->lock);
        bool closed = b->closed;
        if (!closed)
            weft__list_push_tail(&b->blocking, &c->link);
        c->listed_at_call = !closed;
        pthread_mutex_unlock(&b->lock);
        if (closed) {
            c->refs = 1;
            release(c);
            return WEFT_ECLOSED;
        }
    }
    int rc = weft_reactor_call_from_thread(r, run, c);
    if (rc != 0) {
        unlist(c);
        c->refs = 1;
        release(c);
        return rc;
    }

    struct timespec until;
    /* Past ~30 years a deadline is "never": beyond that, (time_t)timeout_s may overflow. */
    bool bounded = timeout_s >= 0 && timeout_s < 1e9;
    if (bounded) {
        clock_gettime(CLOCK_MONOTONIC, &until);
        time_t whole = (time_t)timeout_s; /* truncation is floor here: timeout_s >= 0 */
        until.tv_sec += whole;
        until.tv_nsec += (long)((timeout_s - (double)whole) * 1e9);
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&c->m);
    while (!c->done) {
        int w = bounded ? pthread_cond_timedwait(&c->cv, &c->m, &until)
                        : pthread_cond_wait(&c->cv, &c->m);
        if (w == ETIMEDOUT && !c->done) {
            c->done = true;
            c->rc = WEFT_ETIMEDOUT;
        }
    }
    c->waiting = false;
    rc = c->rc;
    if (rc == 0)
        *out = c->result;
    pthread_mutex_unlock(&c->m);
    unlist(c);
    release(c);
    return rc;
}
