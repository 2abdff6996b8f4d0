/* SPDX-License-Identifier: MIT */
/* weft_reactor_call_from_thread: the one reactor entry any thread may use. */

/*
 * Design. Producers append a node to one FIFO list under tc_lock; that keeps each thread's
 * calls in order and lets TSan see every hand-over (uv_async_send only wakes the loop, it
 * publishes nothing). Nodes come from a free list kept under the same lock, so a steady
 * stream of calls allocates nothing. The producer that finds no wake pending sets
 * tc_wake_pending and, after unlocking, calls uv_async_send: one wake per batch, however many
 * threads post.
 *
 * The loop's async callback takes the whole list in O(1) and clears tc_wake_pending under the
 * lock, then runs up to thread_calls_per_tick calls with no lock held, so timers and sockets
 * keep their turn; what is left stays on a loop-only list and the loop wakes itself for the
 * next iteration. The nodes of the batch go back to the free list under one more lock.
 *
 * Closing sets tc_closed under the lock (later calls get WEFT_ECLOSED) and then runs every
 * call accepted before it: nothing accepted is ever lost or run twice.
 */
#include <weft/error.h>

#include "../common/alloc-internal.h"
#include "reactor-internal.h"

#define FREE_LIST_MAX 4096

int weft_reactor_call_from_thread(weft_reactor_t *r, weft_call_fn fn, void *arg)
{
    if (fn == NULL)
        return WEFT_EINVAL;
    pthread_mutex_lock(&r->tc_lock);
    if (r->tc_closed) {
        pthread_mutex_unlock(&r->tc_lock);
        return WEFT_ECLOSED;
    }
    weft__call_node_t *n = r->tc_free;
    if (n != NULL) {
        r->tc_free = n->next;
        r->tc_free_len--;
    } else {
        /* Unlocked would be nicer, but this is only the warm-up: the list then recycles. */
        n = weft__malloc(sizeof(*n));
        if (n == NULL) {
            pthread_mutex_unlock(&r->tc_lock);
            return WEFT_ENOMEM;
        }
    }
    n->fn = fn;
    n->arg = arg;
    n->next = NULL;
    if (r->tc_tail != NULL)
        r->tc_tail->next = n;
    else
        r->tc_head = n;
    r->tc_tail = n;
    bool wake = !r->tc_wake_pending;
    r->tc_wake_pending = true;
    pthread_mutex_unlock(&r->tc_lock);
    if (wake)
        uv_async_send(&r->async);
    return 0;
}

/* Moves the shared list onto the loop-only list. Loop thread. */
static void take_shared(weft_reactor_t *r)
{
    pthread_mutex_lock(&r->tc_lock);
    weft__call_node_t *head = r->tc_head, *tail = r->tc_tail;
    r->tc_head = r->tc_tail = NULL;
    r->tc_wake_pending = false;
    pthread_mutex_unlock(&r->tc_lock);
    if (head == NULL)
        return;
    if (r->tc_local_tail != NULL)
        r->tc_local_tail->next = head;
    else
        r->tc_local_head = head;
    r->tc_local_tail = tail;
}

/* Runs up to limit calls of the loop-only list; returns their nodes to the free list. */
static size_t run_local(weft_reactor_t *r, size_t limit)
{
    weft__call_node_t *done_head = NULL, *done_tail = NULL;
    size_t ran = 0;
    while (r->tc_local_head != NULL && ran < limit) {
        weft__call_node_t *n = r->tc_local_head;
        r->tc_local_head = n->next;
        if (r->tc_local_head == NULL)
            r->tc_local_tail = NULL;
        /* Unlinked before the call, so a call may post again or close the reactor. */
        weft_call_fn fn = n->fn;
        void *arg = n->arg;
        n->next = done_head;
        done_head = n;
        if (done_tail == NULL)
            done_tail = n;
        ran++;
        r->stats.thread_calls++;
        weft__reactor_count_callback(r);
        fn(arg);
    }
    if (done_head != NULL) {
        weft__call_node_t *spill = NULL;
        pthread_mutex_lock(&r->tc_lock);
        if (r->tc_free_len + ran <= FREE_LIST_MAX) {
            done_tail->next = r->tc_free;
            r->tc_free = done_head;
            r->tc_free_len += ran;
        } else {
            spill = done_head;
        }
        pthread_mutex_unlock(&r->tc_lock);
        while (spill != NULL) {
            weft__call_node_t *next = spill->next;
            weft__free(spill);
            spill = next;
        }
    }
    return ran;
}

void weft__thread_calls_on_async(uv_async_t *handle)
{
    weft_reactor_t *r = handle->data;
    r->stats.wakeups++;
    take_shared(r);
    run_local(r, r->thread_calls_per_tick);
    /* More than one batch waiting: come back next iteration, after timers and I/O. */
    if (r->tc_local_head != NULL)
        uv_async_send(&r->async);
}

void weft__thread_calls_close_and_drain(weft_reactor_t *r)
{
    pthread_mutex_lock(&r->tc_lock);
    r->tc_closed = true;
    pthread_mutex_unlock(&r->tc_lock);
    /* Nothing new can arrive now; run everything accepted before, in order. */
    take_shared(r);
    while (r->tc_local_head != NULL)
        run_local(r, SIZE_MAX);
}

int weft__thread_calls_init(weft_reactor_t *r)
{
    /* tc_lock is made with the reactor, before any handle, and destroyed with its memory. */
    int rc = uv_async_init(r->loop, &r->async, weft__thread_calls_on_async);
    if (rc == 0)
        r->async.data = r;
    return rc;
}

void weft__thread_calls_release(weft_reactor_t *r)
{
    weft__call_node_t *n = r->tc_free;
    while (n != NULL) {
        weft__call_node_t *next = n->next;
        weft__free(n);
        n = next;
    }
    r->tc_free = NULL;
    pthread_mutex_destroy(&r->tc_lock);
}
