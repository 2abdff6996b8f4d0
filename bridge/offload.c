/* SPDX-License-Identifier: MIT */
/* defer_to_thread: job records, default pools, completions, cancel, shutdown. */

/*
 * Design. One offload's path, and the thread of each step:
 *
 *   submit (loop)        a job record from the reactor's free list, a deferred whose
 *                        canceller is the record, weft_pool_submit_ex
 *   run_job (worker)     the job function; its result is written into the record
 *   job_done (worker)    weft_reactor_call_from_thread(complete): the record crosses back
 *                        under the reactor's thread-call lock, one wake per batch
 *   complete (loop)      the deferred fires with the result, or, if it was cancelled
 *                        meanwhile, the late result is freed with its own free function;
 *                        the record goes back to the free list
 *
 * Nothing is allocated per offload once the free lists (records here, deferreds in the
 * deferred's per-thread cache, the thread-call arrays) have warmed up. A record that cannot
 * be posted because the reactor has stopped goes on the orphan list (under the bridge lock)
 * and is finished by weft_reactor_free, on the loop thread; `outstanding` counts hooks that
 * have not finished, and the reactor refuses to free (WEFT_EBUSY) while it is not zero.
 *
 * Shutdown (a during-shutdown trigger): blocking calls are woken with WEFT_ECLOSED, the
 * default pools are stopped with the reactor's shutdown deadline (their queued jobs complete
 * with WEFT_ECANCELED through the same path), the completions already posted are run, and
 * every offload still in flight after that is cancelled: its deferred fails with
 * CancelledError, and its result, when it comes, is freed. Every deferred fires exactly once.
 */
#include <math.h>
#include <stdatomic.h>
#include <time.h>

#include <weft/bridge.h>
#include <weft/error.h>
#include <weft/events.h>
#include <weft/log.h>

#include "../common/alloc-internal.h"
#include "bridge-internal.h"

#define FREE_RECORDS_MAX 4096

struct weft__offload_s {
    weft__list_t link; /* in b->in_flight until delivered (loop) */
    weft__offload_t *next;
    weft__bridge_t *b;
    weft_pool_t *pool;
    weft_job_id_t id;
    weft_thread_fn fn;
    void *arg;
    void *context;
    weft_deferred_t *d; /* the completion's reference */
    uint64_t start_timeout_ms;
    /* Written by the worker, read by the loop after the thread-call hand-over. */
    weft_result_t result;
    int status;
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
}

/* ---------------------------------------------------------------- bridge state */

static bool bridge_busy(void *ext)
{
    weft__bridge_t *b = ext;
    if (atomic_load_explicit(&b->outstanding, memory_order_acquire) > 0)
        return true;
    /* A blocking call's waiter may still be on its way out (it unlists under b->lock). */
    if (atomic_load_explicit(&b->blocking_records, memory_order_acquire) > 0)
        return true;
    /* Jobs that are not offloads (call_in_thread, direct submits) hold the pool too: release
     * would wait for them without limit in weft_pool_free. */
    for (int k = 0; k < 2; k++) {
        if (b->pools[k] == NULL)
            continue;
        weft_pool_stats_t st;
        weft_pool_get_stats(b->pools[k], &st);
        if (st.running > 0)
            return true;
    }
    return false;
}

static void finish_orphans(weft__bridge_t *b);

static void bridge_release(void *ext)
{
    weft__bridge_t *b = ext;
    finish_orphans(b);
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
    weft__free(b);
}

static const weft__reactor_ext_ops_t bridge_ops = {.busy = bridge_busy, .release = bridge_release};

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
    weft__list_init(&b->in_flight);
    weft__list_init(&b->blocking);
    atomic_init(&b->outstanding, 0);
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
    } else if ((o = weft__malloc(sizeof(*o))) == NULL) {
        return NULL;
    }
    o->b = b;
    o->next = NULL;
    o->d = NULL;
    o->result = weft_ok(NULL, NULL);
    o->status = 0;
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

static void complete(void *arg);

/* Worker (or the thread that cancelled or stopped): hand the record to the loop. */
static void job_done(void *arg, int status)
{
    weft__offload_t *o = arg;
    weft__bridge_t *b = o->b; /* read before the hand-over: o may be recycled after it */
    o->status = status;
    for (;;) {
        int rc = weft_reactor_call_from_thread(b->r, complete, o);
        if (rc == 0)
            break;
        if (rc == WEFT_ECLOSED) {
            /* The reactor has stopped: weft_reactor_free finishes it on the loop thread. */
            pthread_mutex_lock(&b->lock);
            o->next = b->orphans;
            b->orphans = o;
            pthread_mutex_unlock(&b->lock);
            break;
        }
        /* Out of memory growing the thread-call array: the loop is alive, so the result must
         * still reach it; wait a moment and try again rather than strand the deferred. */
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    atomic_fetch_sub_explicit(&b->outstanding, 1, memory_order_release);
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
    record_put(b, o);
}

static void complete(void *arg)
{
    deliver(arg);
}

/* Loop: the deferred's canceller. It never fires d itself: weft_deferred_cancel then fails d
 * with CancelledError, and deliver() frees the result whenever it comes. */
static int offload_cancel(weft_deferred_t *d, void *arg)
{
    (void)d;
    weft__offload_t *o = arg;
    o->b->stats.cancelled++;
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
            return NULL;
        }
        b->stats.refused++;
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
    o->d = weft_deferred_ref(d);
    weft_job_options_t jo;
    weft_job_options_init(&jo);
    jo.name = opts->name;
    jo.start_timeout_ms = opts->start_timeout_ms;
    atomic_fetch_add_explicit(&b->outstanding, 1, memory_order_relaxed);
    int rc = weft_pool_submit_ex(pool, &jo, run_job, job_done, o, &o->id);
    if (rc != 0) {
        /* Refused: the deferred fails at once (overload, closed ...). */
        atomic_fetch_sub_explicit(&b->outstanding, 1, memory_order_relaxed);
        b->stats.refused++;
        weft_deferred_unref(o->d);
        o->d = NULL;
        record_put(b, o);
        rc = weft_deferred_errback(d, weft_failure_from_code(rc, NULL));
        (void)rc; /* d is new and unfired */
        return d;
    }
    weft__list_push_tail(&b->in_flight, &o->link);
    weft__reactor_hold(r); /* a borrowed loop stays alive until the result is back */
    b->stats.submitted++;
    b->stats.in_flight++;
    return d;
}

/* Both public submits: pool is the caller's, or NULL for the default pool of opts->kind. */
static weft_deferred_t *offload(weft_reactor_t *r, weft_pool_t *pool, weft_thread_fn fn, void *arg,
                                const weft_offload_options_t *opts, int *err)
{
    int e = 0;
    weft_deferred_t *d = NULL;
    weft_offload_options_t defaults;
    if (opts == NULL) {
        weft_offload_options_init(&defaults);
        opts = &defaults;
    }
    weft__bridge_t *b;
    if (fn == NULL || !valid_kind(opts->kind))
        e = WEFT_EINVAL;
    else if ((b = weft__bridge_get(r, &e)) != NULL &&
             (pool != NULL || b->shut_down || (pool = default_pool(b, opts->kind, &e)) != NULL))
        d = submit(r, b, pool, fn, arg, opts, &e);
    if (err != NULL)
        *err = d ? 0 : e;
    return d;
}

weft_deferred_t *weft_defer_to_pool(weft_reactor_t *r, weft_pool_t *pool, weft_thread_fn fn,
                                    void *arg, const weft_offload_options_t *opts, int *err)
{
    if (pool == NULL) {
        if (err != NULL)
            *err = WEFT_EINVAL;
        return NULL;
    }
    return offload(r, pool, fn, arg, opts, err);
}

weft_deferred_t *weft_defer_to_thread(weft_reactor_t *r, weft_thread_fn fn, void *arg,
                                      const weft_offload_options_t *opts, int *err)
{
    return offload(r, NULL, fn, arg, opts, err);
}

/* ---------------------------------------------------------------- shutdown */

static void finish_orphans(weft__bridge_t *b)
{
    pthread_mutex_lock(&b->lock);
    weft__offload_t *o = b->orphans;
    b->orphans = NULL;
    pthread_mutex_unlock(&b->lock);
    while (o != NULL) {
        weft__offload_t *next = o->next;
        deliver(o);
        o = next;
    }
}

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
