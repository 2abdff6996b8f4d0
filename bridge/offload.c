/* SPDX-License-Identifier: MIT */
/* defer_to_thread: job records, default pools, completions, cancel, shutdown. */

/*
 * Design. One offload's path, and the thread of each step:
 *
 *   submit (loop)        a job record from the reactor's free list, a deferred whose
 *                        canceller is the record. Inside a weft callback the record waits on
 *                        the pending list and is handed to its pool with the others of that
 *                        callback, in one weft_pool_submit_batch, when the callback returns
 *                        (the reactor's flush hook); outside any, it is submitted at once
 *   run_job (worker)     the job function; its result is written into the record
 *   job_done (worker)    the record's address goes into the bridge's completion ring
 *                        (publish: one CAS, no lock; if the ring is full, onto an overflow
 *                        stack beside it); the first completion after the loop re-armed the
 *                        ring posts one drain with weft_reactor_call_from_thread: one wake
 *                        per batch
 *   drain (loop)         re-arms, takes records in order (take_one), prefetching a few
 *                        ahead, and delivers up to DELIVER_BATCH records per loop iteration
 *                        (the rest after the next iteration's timers and I/O, through another
 *                        posted drain); offloads their callbacks make go to the pools every
 *                        SUBMIT_BATCH deliveries, so the workers run them while the loop
 *                        delivers the rest
 *   deliver (loop)       the deferred fires with the result, or, if it was cancelled
 *                        meanwhile, the late result is freed with its own free function;
 *                        the record goes back to the free list
 *
 * Waking a sleeping thread costs tens of microseconds on a VM (doc/performance.md), more than a
 * small job itself, so neither side sleeps at once: after a submit the loop polls without
 * sleeping for poll_ns (weft_reactor_set_offload_poll_us), and a worker that finds its queue
 * empty watches it for the pool's spin_us; both yield the CPU meanwhile. A reply that comes
 * back within that window then costs no wake-up at all.
 *
 * The loop thus takes no lock per offload in steady state: one pool lock per batch of
 * submits, one re-arming store per batch of completions. Nothing is allocated per offload
 * once the free lists (records here, deferreds in the deferred's per-thread cache, the
 * thread-call arrays) have warmed up.
 *
 * Lifetime: jobs_expected (loop) counts records whose completion will come, jobs_finished
 * (workers, after their last touch of the bridge) those that came; the reactor refuses to
 * free (WEFT_EBUSY) while they differ. A drain that cannot be posted because the reactor has
 * stopped leaves its records on the ring; weft_reactor_free delivers them on the loop thread.
 *
 * Shutdown (a during-shutdown trigger): blocking calls are woken with WEFT_ECLOSED, pending
 * records are submitted, the default pools are stopped with the reactor's shutdown deadline
 * (their queued jobs complete with WEFT_ECANCELED through the same path), the completions
 * already back are delivered, and every offload still in flight after that is cancelled: its
 * deferred fails with CancelledError, and its result, when it comes, is freed. Every deferred
 * fires exactly once.
 */
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include <weft/bridge.h>
#include <weft/error.h>
#include <weft/events.h>
#include <weft/log.h>

#include "../common/alloc-internal.h"
#include "../common/fault-internal.h"
#include "bridge-internal.h"

#define FREE_RECORDS_MAX 4096
#define DELIVER_BATCH    1024 /* completions delivered per loop iteration */
#define SUBMIT_BATCH     64   /* records per weft_pool_submit_batch call */
#define BUSY_WAIT_TRIES  1000 /* yields a free waits for workers finishing their bookkeeping */
#define CACHE_LINE       64

/* Three cache lines, so that no line is written on two CPUs at once: what the worker reads
 * (written by the loop before the job is queued); the loop's own; and what the worker writes
 * (read by the loop once the record is off the completion ring; back also before, by a
 * cancel). Records are aligned to a line (record_get). */
struct weft__offload_s {
    _Alignas(CACHE_LINE) weft__bridge_t *b;
    weft_thread_fn fn;
    void *arg;
    void *context;

    _Alignas(CACHE_LINE) weft__list_t link; /* in b->in_flight until delivered (loop) */
    weft__offload_t *next; /* free list, pending list, ready list, overflow stack */
    weft_pool_t *pool;
    weft_job_id_t id;
    weft_deferred_t *d; /* the completion's reference */
    uint64_t start_timeout_ms;
    const char *name;
    weft_free_fn arg_free;
    bool pending;   /* on the pending list, not yet given to the pool (loop) */
    bool cancelled; /* cancelled while pending: never submitted (loop) */

    _Alignas(CACHE_LINE) weft_result_t result;
    size_t mark; /* on the overflow stack: the ring positions claimed before it */
    int status;
    atomic_bool back; /* its hook has run: the pool is done with it */
};

static _Thread_local void *current_context;

void *weft_offload_context(void)
{
    return current_context;
}

void weft_offload_options_init(weft_offload_options_t *opts)
{
    opts->kind = WEFT_POOL_KIND_CPU;
    opts->context = NULL;
    opts->name = NULL;
    opts->start_timeout_ms = 0;
    opts->arg_free = NULL;
}

/* ---------------------------------------------------------------- bridge state */

static void take_done(weft__bridge_t *b);

static bool bridge_busy(void *ext)
{
    weft__bridge_t *b = ext;
    if (atomic_load_explicit(&b->jobs_finished, memory_order_acquire) != b->jobs_expected) {
        take_done(b);
        if (b->nready < b->stats.in_flight)
            return true; /* results still to come */
        /* Every result is back (delivered, or on the ready list for release to deliver), so
         * every hook still counted has pushed its record and is in its last steps (posting a
         * drain, counting itself): wait for them rather than make the caller retry a free
         * that is about to succeed. */
        while (atomic_load_explicit(&b->jobs_finished, memory_order_acquire) != b->jobs_expected)
            sched_yield();
    }
    /* A database pool still open on this reactor (its reopen hook is listed): freeing the
     * reactor first would leave the pool pointing at it. */
    if (!weft__list_is_empty(&b->reopen_hooks))
        return true;
    /* A blocking call's waiter may still be on its way out (it unlists under b->lock). */
    if (atomic_load_explicit(&b->blocking_records, memory_order_acquire) > 0)
        return true;
    /* Jobs that are not offloads (call_in_thread, direct submits) hold the pool too: release
     * would wait for them without limit in weft_pool_free. A worker also counts as running
     * for the few instructions after an offload's hook (its bookkeeping under the pool's
     * lock), so a short wait tells that apart from a job really running. */
    for (int tries = 0;; tries++) {
        bool running = false;
        for (int k = 0; k < 2; k++) {
            if (b->pools[k] == NULL)
                continue;
            weft_pool_stats_t st;
            weft_pool_get_stats(b->pools[k], &st);
            running = running || st.running > 0;
        }
        if (!running)
            return false;
        if (tries == BUSY_WAIT_TRIES)
            return true;
        sched_yield();
    }
}

static void deliver_all(weft__bridge_t *b);
static void flush_pending(void *ext);

static void bridge_release(void *ext)
{
    weft__bridge_t *b = ext;
    deliver_all(b);
    for (int k = 0; k < 2; k++) {
        /* No hook is outstanding (free checked): the threads are idle or finishing. */
        int rc = weft_pool_free(b->pools[k], WEFT_POOL_STOP_CANCEL, WEFT_POOL_FOREVER);
        (void)rc;
    }
    while (b->free_records != NULL) {
        weft__offload_t *o = b->free_records;
        b->free_records = o->next;
        weft__free(o);
    }
    pthread_mutex_destroy(&b->lock);
    weft__free(b->ring);
    weft__free(b);
}

static void bridge_reopened(void *ext);

static const weft__reactor_ext_ops_t bridge_ops = {.busy = bridge_busy,
                                                   .release = bridge_release,
                                                   .flush = flush_pending,
                                                   .reopened = bridge_reopened};

static weft_deferred_t *bridge_shutdown(void *arg);

weft__bridge_t *weft__bridge_peek(const weft_reactor_t *r)
{
    return weft__reactor_get_ext(r);
}

weft__bridge_t *weft__bridge_get(weft_reactor_t *r, int *err)
{
    weft__bridge_t *b = weft__reactor_get_ext(r);
    if (b != NULL)
        return b;
    b = weft__calloc(1, sizeof(*b));
    if (b == NULL) {
        *err = WEFT_ENOMEM;
        return NULL;
    }
    b->r = r;
    b->pool_threads[WEFT_POOL_KIND_CPU] = weft_default_pool_threads(WEFT_POOL_KIND_CPU);
    b->pool_threads[WEFT_POOL_KIND_IO] = weft_default_pool_threads(WEFT_POOL_KIND_IO);
    b->poll_ns = (uint64_t)weft_default_offload_poll_us() * 1000u;
    weft__list_init(&b->in_flight);
    weft__list_init(&b->blocking);
    weft__list_init(&b->reopen_hooks);
    b->ring = weft__aligned_alloc(64, WEFT__DONE_RING * sizeof(*b->ring));
    if (b->ring == NULL) {
        weft__free(b);
        *err = WEFT_ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < WEFT__DONE_RING; i++)
        atomic_init(&b->ring[i].seq, i);
    atomic_init(&b->ring_tail, 0);
    atomic_init(&b->ovf_top, NULL);
    atomic_init(&b->drain_armed, true);
    atomic_init(&b->jobs_finished, 0);
    atomic_init(&b->blocking_records, 0);
    int rc = -pthread_mutex_init(&b->lock, NULL);
    if (rc == 0) {
        rc = weft_reactor_add_trigger(r, "shutdown", WEFT_PHASE_DURING, bridge_shutdown, b,
                                      "weft.bridge", NULL);
        if (rc != 0)
            pthread_mutex_destroy(&b->lock);
    }
    if (rc == 0)
        rc = weft__reactor_set_ext(r, b, &bridge_ops);
    if (rc != 0) {
        weft__free(b->ring);
        weft__free(b);
        *err = rc;
        return NULL;
    }
    return b;
}

static bool valid_kind(weft_pool_kind_t kind)
{
    return kind == WEFT_POOL_KIND_CPU || kind == WEFT_POOL_KIND_IO;
}

static weft_pool_t *default_pool(weft__bridge_t *b, weft_pool_kind_t kind, int *err)
{
    if (b->pools[kind] != NULL)
        return b->pools[kind];
    weft_pool_options_t o;
    if (kind == WEFT_POOL_KIND_CPU) {
        weft_pool_options_init_cpu(&o);
        o.name = "cpu";
    } else {
        weft_pool_options_init(&o);
        o.name = "io";
    }
    o.max_threads = b->pool_threads[kind];
    b->pools[kind] = weft_pool_new(&o, err);
    return b->pools[kind];
}

weft_pool_t *weft_reactor_default_pool(weft_reactor_t *r, weft_pool_kind_t kind, int *err)
{
    int e = 0;
    weft_pool_t *pool = NULL;
    weft__bridge_t *b = NULL;
    if (!valid_kind(kind))
        e = WEFT_EINVAL;
    else if ((b = weft__bridge_get(r, &e)) != NULL)
        pool = default_pool(b, kind, &e);
    if (err != NULL)
        *err = pool ? 0 : e;
    return pool;
}

int weft_reactor_set_default_pool_threads(weft_reactor_t *r, weft_pool_kind_t kind,
                                          unsigned threads)
{
    if (!valid_kind(kind) || threads == 0)
        return WEFT_EINVAL;
    int err;
    weft__bridge_t *b = weft__bridge_get(r, &err);
    if (b == NULL)
        return err;
    if (b->pools[kind] != NULL)
        return WEFT_EALREADY;
    b->pool_threads[kind] = threads;
    return 0;
}

int weft_reactor_set_offload_poll_us(weft_reactor_t *r, unsigned us)
{
    if (us > WEFT_OFFLOAD_POLL_US_MAX)
        return WEFT_EINVAL;
    int err;
    weft__bridge_t *b = weft__bridge_get(r, &err);
    if (b == NULL)
        return err;
    b->poll_ns = (uint64_t)us * 1000u;
    return 0;
}

void weft_bridge_get_stats(weft_reactor_t *r, weft_bridge_stats_t *out)
{
    weft__bridge_t *b = weft__bridge_peek(r);
    if (b == NULL) {
        *out = (weft_bridge_stats_t){0};
        return;
    }
    *out = b->stats;
}

/* ---------------------------------------------------------------- records */

static weft__offload_t *record_get(weft__bridge_t *b)
{
    weft__offload_t *o = b->free_records;
    if (o != NULL) {
        b->free_records = o->next;
        b->nfree--;
    } else if ((o = weft__aligned_alloc(CACHE_LINE, sizeof(*o))) == NULL) {
        return NULL;
    }
    o->b = b;
    o->next = NULL;
    o->d = NULL;
    o->result = weft_ok(NULL, NULL);
    o->status = 0;
    o->pending = false;
    o->cancelled = false;
    atomic_init(&o->back, false);
    o->arg_free = NULL;
    weft__list_init(&o->link);
    return o;
}

static void record_put(weft__bridge_t *b, weft__offload_t *o)
{
    if (b->nfree >= FREE_RECORDS_MAX) {
        weft__free(o);
        return;
    }
    o->next = b->free_records;
    b->free_records = o;
    b->nfree++;
}

/* ---------------------------------------------------------------- the offload path */

/* Worker: the job. */
static void run_job(void *arg)
{
    weft__offload_t *o = arg;
    current_context = o->context;
    o->result = o->fn(o->arg);
    current_context = NULL;
}

static void drain(void *arg);

/* Posts a drain of the completion ring to the loop. Any thread. */
static void post_drain(weft__bridge_t *b)
{
    for (;;) {
        int rc = weft_reactor_call_from_thread(b->r, drain, b);
        /* Closed: the reactor has stopped, and weft_reactor_free delivers what is on the
         * stack, on the loop thread. */
        if (rc == 0 || rc == WEFT_ECLOSED)
            return;
        /* Out of memory growing the thread-call array: the loop is alive, so the results
         * must still reach it; wait a moment and try again rather than strand them. */
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
}

/* Any thread: puts o on the completion ring, or, if the ring is full, on the overflow stack
 * with the ring position reached so far (the loop delivers every ring record claimed before
 * it first, so each thread's completions still arrive in the order it made them). */
static void publish(weft__bridge_t *b, weft__offload_t *o)
{
    size_t pos = atomic_load_explicit(&b->ring_tail, memory_order_relaxed);
    for (;;) {
        weft__done_slot_t *slot = &b->ring[pos & (WEFT__DONE_RING - 1)];
        size_t seq = atomic_load_explicit(&slot->seq, memory_order_acquire);
        if (seq == pos) {
            if (atomic_compare_exchange_weak_explicit(&b->ring_tail, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed)) {
#ifdef WEFT_FAULT_INJECTION
                weft__fault_publish_point();
#endif
                slot->rec = o;
                /* Sequentially consistent, as the armed check after it and the loop's
                 * re-arming before its reads: one of the two sees the other (job_done). */
                atomic_store_explicit(&slot->seq, pos + 1, memory_order_seq_cst);
                return;
            }
        } else if ((ptrdiff_t)(seq - pos) < 0) {
            break; /* the slot still holds the record from a lap ago: full */
        } else {
            pos = atomic_load_explicit(&b->ring_tail, memory_order_relaxed);
        }
    }
    o->mark = atomic_load_explicit(&b->ring_tail, memory_order_relaxed);
    weft__offload_t *top = atomic_load_explicit(&b->ovf_top, memory_order_relaxed);
    do
        o->next = top;
    while (!atomic_compare_exchange_weak_explicit(&b->ovf_top, &top, o, memory_order_seq_cst,
                                                  memory_order_relaxed));
}

/* Worker (or the thread that cancelled or stopped): hand the record to the loop. */
static void job_done(void *arg, int status)
{
    weft__offload_t *o = arg;
    weft__bridge_t *b = o->b; /* read before publishing: o may be delivered right after */
    o->status = status;
    atomic_store_explicit(&o->back, true, memory_order_release);
    publish(b, o);
    /* One drain per batch: the first completion after the loop re-armed posts it. */
    if (atomic_load_explicit(&b->drain_armed, memory_order_seq_cst) &&
        atomic_exchange_explicit(&b->drain_armed, false, memory_order_seq_cst))
        post_drain(b);
    /* The last touch of the bridge: from here the reactor may be freed. */
    atomic_fetch_add_explicit(&b->jobs_finished, 1, memory_order_release);
}

/* Loop: what the deferred fires with. */
static weft_result_t outcome(weft__offload_t *o)
{
    switch (o->status) {
    case 0:
        if (o->result.kind == WEFT_RESULT_DEFERRED) {
            weft_deferred_unref(o->result.deferred);
            return weft_fail_new(&weft_error_type, WEFT_EINVAL,
                                 "a job function returned a deferred (only values or failures "
                                 "can come back from a worker)");
        }
        return o->result;
    case WEFT_ECANCELED:
        return weft_fail_new(&weft_cancelled_error_type, WEFT_ECANCELED,
                             "the job was cancelled before it ran");
    case WEFT_ETIMEDOUT:
        return weft_fail(weft_failure_newf(&weft_timeout_error_type, WEFT_ETIMEDOUT,
                                           "the job did not start within %llu ms",
                                           (unsigned long long)o->start_timeout_ms));
    default:
        return weft_fail(weft_failure_from_code(o->status, NULL));
    }
}

/* Loop: deliver (or drop) one result and recycle the record. */
static void deliver(weft__offload_t *o)
{
    weft__bridge_t *b = o->b;
    weft__list_remove(&o->link);
    weft__reactor_unhold(b->r);
    b->stats.in_flight--;
    weft_deferred_t *d = o->d;
    o->d = NULL;
    weft_result_t res = outcome(o);
    if (weft_deferred_called(d)) {
        /* Cancelled meanwhile: the late result is freed here, with its own free function. */
        if (o->status == 0)
            b->stats.late_results++;
        weft_result_free(res);
    } else {
        if (res.kind == WEFT_RESULT_FAILURE)
            b->stats.failed++;
        else
            b->stats.succeeded++;
        void *saved = current_context;
        current_context = o->context;
        int rc = weft_deferred_fire(d, res);
        (void)rc; /* d is unfired (checked above): it cannot fail */
        current_context = saved;
    }
    weft_deferred_unref(d);
    if (o->arg_free != NULL)
        o->arg_free(o->arg); /* the job is done with it */
    record_put(b, o);
}

/* Loop: a record that never reached a pool (refused, or cancelled while pending) ends here,
 * as a worker's would, minus the trip through the stack. */
static void finish_on_loop(weft__bridge_t *b, weft__offload_t *o, int status)
{
    o->status = status;
    atomic_fetch_add_explicit(&b->jobs_finished, 1, memory_order_release);
    deliver(o);
}

/* Loop: the record at ring position pos if it has been published, else NULL. */
static weft__offload_t *ring_peek(const weft__bridge_t *b, size_t pos)
{
    const weft__done_slot_t *slot = &b->ring[pos & (WEFT__DONE_RING - 1)];
    if (atomic_load_explicit(&slot->seq, memory_order_seq_cst) != pos + 1)
        return NULL;
    return slot->rec;
}

/* How many ring positions ahead the loop prefetches the record it will deliver then. */
#define PREFETCH_AHEAD 4

/* Loop: moves the overflow stack, in push order, to the end of the overflow list. */
static void take_overflow(weft__bridge_t *b)
{
    weft__offload_t *top = atomic_exchange_explicit(&b->ovf_top, NULL, memory_order_seq_cst);
    if (top == NULL)
        return;
    weft__offload_t *head = NULL, *tail = top;
    while (top != NULL) {
        weft__offload_t *next = top->next;
        top->next = head;
        head = top;
        top = next;
    }
    if (b->ovf_tail != NULL)
        b->ovf_tail->next = head;
    else
        b->ovf_head = head;
    b->ovf_tail = tail;
}

/* Loop: the next completion in order, or NULL if none is ready (the ring empty, or its next
 * slot claimed but not yet written, whose writer will post a drain).
 *
 * Order: an overflowed record X with mark m goes after every ring record claimed before m and
 * before every one claimed after it. The overflow stack is read after the ring slot, never
 * before: if X's producer published a later record R, it pushed X first, so once the loop has
 * seen R it sees X too, and X's mark (at most R's position) puts X first.
 *
 * Each record taken from the ring prefetches the one PREFETCH_AHEAD behind it: the ring holds
 * addresses, so the loop can ask for several records' lines at once instead of following a
 * chain one miss at a time. */
static weft__offload_t *take_one(weft__bridge_t *b)
{
    for (;;) {
        weft__offload_t *o = b->ovf_head;
        if (o != NULL && o->mark <= b->ring_head) {
            b->ovf_head = o->next;
            if (b->ovf_head == NULL)
                b->ovf_tail = NULL;
            return o;
        }
        o = ring_peek(b, b->ring_head);
        if (atomic_load_explicit(&b->ovf_top, memory_order_seq_cst) != NULL) {
            take_overflow(b);
            continue; /* their marks decide whether they go before o */
        }
        if (o == NULL)
            return NULL;
        weft__done_slot_t *slot = &b->ring[b->ring_head & (WEFT__DONE_RING - 1)];
        /* The slot is free again for the producer one lap on. */
        atomic_store_explicit(&slot->seq, b->ring_head + WEFT__DONE_RING, memory_order_release);
        b->ring_head++;
        weft__offload_t *ahead = ring_peek(b, b->ring_head + PREFETCH_AHEAD - 1);
        if (ahead != NULL) {
            __builtin_prefetch(ahead);
            __builtin_prefetch((char *)ahead + 64);
            __builtin_prefetch((char *)ahead + 128);
        }
        return o;
    }
}

/* Loop: whether a completion is ready to take (take_one would not return NULL). */
static bool done_waiting(const weft__bridge_t *b)
{
    return (b->ovf_head != NULL && b->ovf_head->mark <= b->ring_head) ||
           ring_peek(b, b->ring_head) != NULL ||
           atomic_load_explicit(&b->ovf_top, memory_order_seq_cst) != NULL;
}

/* Loop: moves every completion that is back, in order, to the end of the ready list (for the
 * paths that must see them all: a free's check, shutdown, a reopened queue). */
static void take_done(weft__bridge_t *b)
{
    weft__offload_t *o;
    while ((o = take_one(b)) != NULL) {
        o->next = NULL;
        if (b->ready_tail != NULL)
            b->ready_tail->next = o;
        else
            b->ready_head = o;
        b->ready_tail = o;
        b->nready++;
    }
}

/* Loop: the next record to deliver: the ready list's first (taken earlier, so older), else
 * the next completion. */
static weft__offload_t *next_ready(weft__bridge_t *b)
{
    weft__offload_t *o = b->ready_head;
    if (o == NULL)
        return take_one(b);
    b->ready_head = o->next;
    if (b->ready_head == NULL)
        b->ready_tail = NULL;
    b->nready--;
    return o;
}

/* Loop: delivers up to limit ready records; the rest wait for the next iteration. */
static void deliver_ready(weft__bridge_t *b, size_t limit)
{
    weft__offload_t *o;
    /* Looked up afresh each time: a callback may deliver_all. */
    for (size_t n = 0; n < limit && (o = next_ready(b)) != NULL; n++) {
        deliver(o);
        /* Offloads the callbacks made so far go to their pools now and then, not only when
         * the whole drain is done: the workers then run them while the loop delivers the rest,
         * instead of waiting for it with an empty queue. */
        if ((n + 1) % SUBMIT_BATCH == 0 && b->pending_head != NULL)
            flush_pending(b);
    }
    if ((b->ready_head == NULL && !done_waiting(b)) || b->drain_again)
        return;
    /* More than a batch: another drain, through the thread-call queue, runs the rest after
     * this iteration's timers and I/O (as the reactor's own thread calls do). It is run even
     * by a stop; if it cannot be posted, the rest are delivered now. */
    if (weft_reactor_call_from_thread(b->r, drain, b) == 0)
        b->drain_again = true;
    else
        deliver_ready(b, SIZE_MAX);
}

/* Loop: the drain a worker (or deliver_ready) posted. */
static void drain(void *arg)
{
    weft__bridge_t *b = arg;
    b->drain_again = false;
    /* Re-armed before anything is read: a completion this drain does not see posts the next
     * one (job_done). */
    atomic_store_explicit(&b->drain_armed, true, memory_order_seq_cst);
    deliver_ready(b, DELIVER_BATCH);
}

/* Loop: a refused weft_reactor_free reopened the thread-call queue. A worker refused while it
 * was closed published its record without a drain, having disarmed the ring, so the ones
 * after it post none either: re-arm, and post one now if anything is back. Then the other
 * users of the hook. */
static void bridge_reopened(void *ext)
{
    weft__bridge_t *b = ext;
    atomic_store_explicit(&b->drain_armed, true, memory_order_seq_cst);
    take_done(b);
    if (b->ready_head != NULL && !b->drain_again &&
        weft_reactor_call_from_thread(b->r, drain, b) == 0)
        b->drain_again = true;
    weft__list_t *pos, *tmp;
    weft__list_foreach_safe(pos, tmp, &b->reopen_hooks)
    {
        weft__bridge_hook_t *h = weft__list_entry(pos, weft__bridge_hook_t, link);
        h->fn(h->arg);
    }
}

void weft__bridge_add_reopen_hook(weft__bridge_t *b, weft__bridge_hook_t *h)
{
    weft__list_push_tail(&b->reopen_hooks, &h->link);
}

void weft__bridge_remove_reopen_hook(weft__bridge_hook_t *h)
{
    weft__list_remove(&h->link);
}

/* Loop: everything back, delivered now (shutdown, free). */
static void deliver_all(weft__bridge_t *b)
{
    take_done(b);
    deliver_ready(b, SIZE_MAX);
}

/* Loop: the deferred's canceller. It never fires d itself: weft_deferred_cancel then fails d
 * with CancelledError, and deliver() frees the result whenever it comes. */
static int offload_cancel(weft_deferred_t *d, void *arg)
{
    (void)d;
    weft__offload_t *o = arg;
    o->b->stats.cancelled++;
    if (o->pending) {
        o->cancelled = true; /* the flush finishes it instead of submitting it */
        return 0;
    }
    /* A job whose hook has run is done with its pool, which its owner may have freed since:
     * leave the pool alone, deliver() drops the result. */
    if (atomic_load_explicit(&o->back, memory_order_acquire))
        return 0;
    /* 0: removed, its hook has posted the completion; EBUSY: running, its cooperative flag
     * is set; ENOENT: completing. All three end in deliver(). */
    int rc = weft_pool_cancel(o->pool, o->id);
    (void)rc;
    return 0;
}

static weft_deferred_t *submit(weft_reactor_t *r, weft__bridge_t *b, weft_pool_t *pool,
                               weft_thread_fn fn, void *arg, const weft_offload_options_t *opts,
                               int *err)
{
    if (b->shut_down) {
        /* After shutdown: refused like a stopped pool's submit, whatever the pool. */
        weft_deferred_t *fd = weft_deferred_new();
        if (fd == NULL) {
            *err = WEFT_ENOMEM;
            return NULL; /* offload() frees arg */
        }
        b->stats.refused++;
        if (opts->arg_free != NULL)
            opts->arg_free(arg);
        int frc = weft_deferred_errback(fd, weft_failure_from_code(WEFT_ECLOSED, NULL));
        (void)frc;
        return fd;
    }
    weft__offload_t *o = record_get(b);
    weft_deferred_t *d = o ? weft_deferred_new_cancellable(offload_cancel, o) : NULL;
    if (d == NULL) {
        if (o != NULL)
            record_put(b, o);
        *err = WEFT_ENOMEM;
        return NULL;
    }
    o->pool = pool;
    o->fn = fn;
    o->arg = arg;
    o->context = opts->context;
    o->start_timeout_ms = opts->start_timeout_ms;
    o->name = opts->name;
    o->arg_free = opts->arg_free;
    o->d = weft_deferred_ref(d);
    if (weft__reactor_flush_after_dispatch(r)) {
        /* Inside a weft callback: submitted with the others of this callback when it ends. */
        o->pending = true;
        if (b->pending_tail != NULL)
            b->pending_tail->next = o;
        else
            b->pending_head = o;
        b->pending_tail = o;
    } else {
        weft_job_options_t jo;
        weft_job_options_init(&jo);
        jo.name = opts->name;
        jo.start_timeout_ms = opts->start_timeout_ms;
        int rc = weft_pool_submit_ex(pool, &jo, run_job, job_done, o, &o->id);
        if (rc != 0) {
            /* Refused: the deferred fails at once (overload, closed ...). */
            b->stats.refused++;
            weft_deferred_unref(o->d);
            o->d = NULL;
            record_put(b, o);
            if (opts->arg_free != NULL)
                opts->arg_free(arg);
            rc = weft_deferred_errback(d, weft_failure_from_code(rc, NULL));
            (void)rc; /* d is new and unfired */
            return d;
        }
        if (b->poll_ns != 0)
            weft__reactor_poll_for(r, b->poll_ns);
    }
    b->jobs_expected++;
    weft__list_push_tail(&b->in_flight, &o->link);
    weft__reactor_hold(r); /* a borrowed loop stays alive until the result is back */
    b->stats.submitted++;
    b->stats.in_flight++;
    return d;
}

/* Loop: hands up to SUBMIT_BATCH pending records, all for the pool of the first, to it. */
static void submit_some(weft__bridge_t *b)
{
    weft_pool_batch_job_t jobs[SUBMIT_BATCH];
    weft__offload_t *recs[SUBMIT_BATCH];
    weft_pool_t *pool = b->pending_head->pool;
    size_t n = 0;
    while (n < SUBMIT_BATCH && b->pending_head != NULL && b->pending_head->pool == pool) {
        weft__offload_t *o = b->pending_head;
        b->pending_head = o->next;
        if (b->pending_head == NULL)
            b->pending_tail = NULL;
        o->next = NULL;
        o->pending = false;
        if (o->cancelled) {
            finish_on_loop(b, o, WEFT_ECANCELED);
            continue;
        }
        recs[n] = o;
        jobs[n] = (weft_pool_batch_job_t){.fn = run_job,
                                          .done = job_done,
                                          .arg = o,
                                          .name = o->name,
                                          .start_timeout_ms = o->start_timeout_ms};
        n++;
    }
    size_t queued = weft_pool_submit_batch(pool, jobs, n);
    if (queued > 0 && b->poll_ns != 0)
        weft__reactor_poll_for(b->r, b->poll_ns);
    for (size_t i = 0; i < n; i++) {
        if (jobs[i].rc == 0) {
            recs[i]->id = jobs[i].id; /* the job may even be back already: delivered later */
            continue;
        }
        /* Refused (overload, closed ...): the deferred fails now, at the end of the callback
         * that asked for it. */
        b->stats.refused++;
        b->stats.submitted--;
        finish_on_loop(b, recs[i], jobs[i].rc);
    }
}

/* Loop: the reactor's flush hook, when the callback that made offloads returns. */
static void flush_pending(void *ext)
{
    weft__bridge_t *b = ext;
    while (b->pending_head != NULL)
        submit_some(b);
}

/* Both public submits: pool is the caller's (own_pool), or NULL for the default pool of
 * opts->kind. Takes arg on every path when opts->arg_free is set. */
static weft_deferred_t *offload(weft_reactor_t *r, bool own_pool, weft_pool_t *pool,
                                weft_thread_fn fn, void *arg, const weft_offload_options_t *opts,
                                int *err)
{
    int e = 0;
    weft_deferred_t *d = NULL;
    weft_offload_options_t defaults;
    if (opts == NULL) {
        weft_offload_options_init(&defaults);
        opts = &defaults;
    }
    weft__bridge_t *b;
    if (fn == NULL || !valid_kind(opts->kind) || (own_pool && pool == NULL))
        e = WEFT_EINVAL;
    else if ((b = weft__bridge_get(r, &e)) != NULL &&
             (pool != NULL || b->shut_down || (pool = default_pool(b, opts->kind, &e)) != NULL))
        d = submit(r, b, pool, fn, arg, opts, &e);
    if (d == NULL && opts->arg_free != NULL)
        opts->arg_free(arg);
    if (err != NULL)
        *err = d ? 0 : e;
    return d;
}

weft_deferred_t *weft_defer_to_pool(weft_reactor_t *r, weft_pool_t *pool, weft_thread_fn fn,
                                    void *arg, const weft_offload_options_t *opts, int *err)
{
    return offload(r, true, pool, fn, arg, opts, err);
}

weft_deferred_t *weft_defer_to_thread(weft_reactor_t *r, weft_thread_fn fn, void *arg,
                                      const weft_offload_options_t *opts, int *err)
{
    return offload(r, false, NULL, fn, arg, opts, err);
}

/* ---------------------------------------------------------------- shutdown */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static weft_deferred_t *bridge_shutdown(void *arg)
{
    weft__bridge_t *b = arg;
    b->shut_down = true;
    weft__blocking_close(b);
    flush_pending(b); /* to the pools, which cancel them as queued jobs */
    double deadline = weft__reactor_shutdown_deadline(b->r);
    uint64_t ms =
        isfinite(deadline) && deadline < 1e12 ? (uint64_t)(deadline * 1000) : WEFT_POOL_FOREVER;
    /* One deadline for both pools, not one each. */
    uint64_t end_ns = ms == WEFT_POOL_FOREVER ? UINT64_MAX : mono_ns() + ms * 1000000u;
    for (int k = 0; k < 2; k++) {
        if (b->pools[k] == NULL)
            continue;
        if (end_ns != UINT64_MAX) {
            uint64_t t = mono_ns();
            ms = t < end_ns ? (end_ns - t) / 1000000u : 0;
        }
        /* Blocks the loop up to the deadline, as Twisted's pool stop does; the hooks of
         * cancelled and finished jobs post their completions, delivered before run returns. */
        int rc = weft_pool_stop(b->pools[k], WEFT_POOL_STOP_CANCEL, ms);
        if (rc != 0) {
            weft_log_field_t f[] = {{"reactor", weft_reactor_name(b->r)},
                                    {"pool", weft_pool_get_name(b->pools[k])}};
            weft_log_with(WEFT_LOG_WARN, "bridge", f, 2,
                          "pool still running jobs at the shutdown deadline (%s): their "
                          "deferreds are cancelled and late results will be freed",
                          weft_err_name(rc));
        }
    }
    /* Results already back are delivered with their values; whatever has not come back by
     * now is cancelled, so that every deferred fires (a result posted later is freed). */
    weft__reactor_run_thread_calls(b->r);
    deliver_all(b);
    weft__list_t *pos, *tmp;
    weft__list_foreach_safe(pos, tmp, &b->in_flight)
    {
        weft__offload_t *o = weft__list_entry(pos, weft__offload_t, link);
        if (weft_deferred_called(o->d))
            continue;
        weft_deferred_t *d = weft_deferred_ref(o->d);
        int rc = weft_deferred_cancel(d);
        (void)rc; /* our canceller never refuses */
        weft_deferred_unref(d);
    }
    return NULL;
}
