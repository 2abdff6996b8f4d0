/* SPDX-License-Identifier: MIT */
/* weft_reactor_call_from_thread: the one reactor entry any thread may use. */

/*
 * Design. Two arrays of (fn, arg). Producers append to tc_in under tc_lock, which keeps each
 * thread's calls in order and lets TSan see every hand-over (uv_async_send only wakes the
 * loop; it publishes nothing). The producer that finds no wake pending sets tc_wake_pending
 * and, after unlocking, calls uv_async_send: one wake per batch, however many threads post.
 *
 * The loop, once it has run everything in tc_out, swaps the two arrays under the lock (O(1);
 * the wake flag is cleared there) and runs up to thread_calls_per_tick calls with no lock
 * held, so timers and sockets keep their turn; while calls remain, in either array, it wakes
 * itself for the next iteration. The arrays only grow (under the lock, amortised), so steady
 * traffic allocates nothing and the loop never touches the lock per call. The wake-up is sent
 * while the lock is held, so that a reactor freed right after its last call ran can never have
 * a producer still inside uv_async_send.
 *
 * Closing sets tc_closed under the lock (later calls get WEFT_ECLOSED) and then runs every
 * call accepted before it: nothing accepted is ever lost or run twice.
 */
#include <weft/error.h>

#include "../common/alloc-internal.h"
#include "reactor-internal.h"

#define INITIAL_CAP 256

int weft_reactor_call_from_thread(weft_reactor_t *r, weft_call_fn fn, void *arg)
{
    if (fn == NULL)
        return WEFT_EINVAL;
    pthread_mutex_lock(&r->tc_lock);
    if (r->tc_closed) {
        pthread_mutex_unlock(&r->tc_lock);
        return WEFT_ECLOSED;
    }
    if (r->tc_in_len == r->tc_in_cap) {
        /* Growth only: once both arrays are big enough for the traffic this never runs. */
        size_t cap = r->tc_in_cap ? r->tc_in_cap * 2 : INITIAL_CAP;
        weft__thread_call_t *in = weft__realloc(r->tc_in, cap * sizeof(*in));
        if (in == NULL) {
            pthread_mutex_unlock(&r->tc_lock);
            return WEFT_ENOMEM;
        }
        r->tc_in = in;
        r->tc_in_cap = cap;
    }
    r->tc_in[r->tc_in_len++] = (weft__thread_call_t){fn, arg};
    bool wake = !r->tc_wake_pending;
    r->tc_wake_pending = true;
    /* Sent under the lock: once a close has taken the lock, no producer can still be about to
     * touch r->async, so the reactor may be freed the moment its own call has run. */
    if (wake)
        uv_async_send(&r->async);
    pthread_mutex_unlock(&r->tc_lock);
    return 0;
}

/* Once tc_out is used up, swaps in what producers queued. Returns whether calls remain in
 * tc_in afterwards (only when tc_out still had calls). Loop thread. */
static bool take_shared(weft_reactor_t *r)
{
    bool more;
    pthread_mutex_lock(&r->tc_lock);
    if (r->tc_out_pos == r->tc_out_len) {
        weft__thread_call_t *out = r->tc_out;
        size_t cap = r->tc_out_cap;
        r->tc_out = r->tc_in;
        r->tc_out_cap = r->tc_in_cap;
        r->tc_out_len = r->tc_in_len;
        r->tc_out_pos = 0;
        r->tc_in = out;
        r->tc_in_cap = cap;
        r->tc_in_len = 0;
    }
    more = r->tc_in_len > 0;
    r->tc_wake_pending = false;
    pthread_mutex_unlock(&r->tc_lock);
    return more;
}

/* Runs up to limit calls of tc_out. */
static void run_out(weft_reactor_t *r, size_t limit)
{
    /* Bounds re-read every time: a call may drain and swap the arrays (close_and_drain). */
    for (size_t n = 0; n < limit && r->tc_out_pos < r->tc_out_len; n++) {
        /* Consumed before the call, so a call may post again or close the reactor. */
        weft__thread_call_t c = r->tc_out[r->tc_out_pos++];
        r->stats.thread_calls++;
        weft__reactor_count_callback(r);
        WEFT__DISPATCH(r, c.fn(c.arg));
    }
}

void weft__thread_calls_on_async(uv_async_t *handle)
{
    weft_reactor_t *r = handle->data;
    r->stats.wakeups++;
    bool more = take_shared(r);
    run_out(r, r->thread_calls_per_tick);
    /* More than one batch waiting: come back next iteration, after timers and I/O. */
    if (more || r->tc_out_pos < r->tc_out_len)
        uv_async_send(&r->async);
}

void weft__reactor_run_thread_calls(weft_reactor_t *r)
{
    /* What the loop already holds, then what was queued until now; calls posted while these
     * run wait for the usual path. */
    run_out(r, SIZE_MAX);
    take_shared(r);
    run_out(r, SIZE_MAX);
}

void weft__thread_calls_close_and_drain(weft_reactor_t *r)
{
    pthread_mutex_lock(&r->tc_lock);
    r->tc_closed = true;
    pthread_mutex_unlock(&r->tc_lock);
    /* Nothing new can arrive now; run everything accepted before, in order. */
    for (;;) {
        run_out(r, SIZE_MAX);
        take_shared(r);
        if (r->tc_out_pos == r->tc_out_len)
            break;
    }
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
    weft__free(r->tc_in);
    weft__free(r->tc_out);
    r->tc_in = r->tc_out = NULL;
    pthread_mutex_destroy(&r->tc_lock);
}
