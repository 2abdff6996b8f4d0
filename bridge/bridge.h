/* SPDX-License-Identifier: MIT */
/* The bridge: offload jobs to thread pools and get their results back as deferreds. */
#ifndef WEFT_BRIDGE_BRIDGE_H
#define WEFT_BRIDGE_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/compiler.h>
#include <weft/default-pools.h>
#include <weft/deferred.h>
#include <weft/reactor.h>
#include <weft/threadpool.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Twisted's deferToThread, in C. A job function runs on a worker thread of a pool; its result
 * comes back to the reactor's loop thread, where it fires the deferred that the submit
 * returned. Completions cross threads through the reactor's call_from_thread queue: one lock,
 * one wake-up per batch, bounded batches per loop pass, no allocation per job in steady state
 * (job records are recycled per reactor).
 *
 * Each reactor makes two default pools lazily (<weft/default-pools.h>): one for CPU work and
 * one for blocking I/O, so that blocking calls never starve CPU work. When the reactor shuts
 * down, during its "shutdown" event, blocking_call_from_thread callers are woken with
 * WEFT_ECLOSED, the default pools are stopped with the reactor's shutdown_deadline (queued
 * jobs are cancelled, running ones awaited up to the deadline), and every offload deferred
 * still pending fails with weft.CancelledError; results arriving later are freed on the loop
 * thread when the reactor is freed. Every deferred fires exactly once.
 */

/* A job: runs on a worker with arg; returns weft_ok(value, free) or a failure (failures may be
 * made on any thread). A deferred is not a valid job result: it arrives as a weft.Error. */
typedef weft_result_t (*weft_thread_fn)(void *arg);

/* Options of one offload. weft_offload_options_init gives the defaults. */
typedef struct {
    weft_pool_kind_t kind; /* default pool for weft_defer_to_thread. Default WEFT_POOL_KIND_CPU */
    void *context;         /* the job's context: weft_offload_context() returns it on the worker
                              while the job runs and on the loop while its deferred fires */
    const char *name;      /* the job's name in the pool's logs (borrowed until it completes) */
    uint64_t start_timeout_ms; /* if the job has not started within this, it never runs and
                                  the deferred fails with weft.TimeoutError. 0: no limit */
    weft_free_fn arg_free;     /* if set, weft owns arg and calls arg_free(arg) on the loop
                                  thread once the job can no longer touch it: after its result
                                  was delivered, or dropped after a cancel; also on every error
                                  path of the submit. Default NULL: arg stays yours */
} weft_offload_options_t;

/* Fills opts with the defaults above. Thread: any. */
WEFT_EXPORT void weft_offload_options_init(weft_offload_options_t *opts);

/*
 * Runs fn(arg) on the reactor's default pool of opts->kind (made now if it is the first use)
 * and returns a deferred that fires on the loop thread with fn's result.
 * - Pool refusals arrive as failures on the returned deferred: weft.OverloadError
 *   (WEFT_EOVERLOAD) past the queue limit, weft.ClosedError (WEFT_ECLOSED) after shutdown.
 * - Cancelling the deferred (weft_deferred_cancel, add_timeout) fails it with
 *   weft.CancelledError at once: a queued job is removed from the pool and never runs; a running
 *   job's cooperative flag is set (weft_job_cancelled()) and its late result is freed on the loop
 *   thread with its own free function.
 * arg and opts->context are borrowed until the job has finished: until the deferred fires,
 * except after a cancel of a running job, which fires the deferred at once while the job still
 * runs. To free arg safely in that case, give opts->arg_free and weft frees it when the job is
 * done. opts is borrowed for the call (NULL: defaults). Returns an owned reference, or NULL
 * with *err: WEFT_EINVAL for a NULL fn; WEFT_ENOMEM; a pool's creation error. Thread: loop.
 */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *weft_defer_to_thread(weft_reactor_t *r,
                                                                 weft_thread_fn fn, void *arg,
                                                                 const weft_offload_options_t *opts,
                                                                 int *err);

/* As weft_defer_to_thread on a pool of your own (borrowed; it must outlive the job). The
 * reactor does not stop your pool at shutdown, but still fails its pending deferreds then. */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *weft_defer_to_pool(weft_reactor_t *r, weft_pool_t *pool,
                                                               weft_thread_fn fn, void *arg,
                                                               const weft_offload_options_t *opts,
                                                               int *err);

/*
 * The context of the offload this thread is working for: on a worker, the job it runs; on
 * the loop thread, the offload whose deferred is firing. NULL otherwise. Thread: any.
 */
WEFT_EXPORT void *weft_offload_context(void);

/*
 * Twisted's callInThread: runs fn(arg) on the reactor's default CPU pool, fire and forget.
 * Thread: loop.
 * Returns: 0 (fn will run, unless the pool is stopped first); WEFT_EOVERLOAD; WEFT_ECLOSED;
 * WEFT_EINVAL for a NULL fn; WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_call_in_thread(weft_reactor_t *r, void (*fn)(void *arg),
                                                   void *arg);

/* Twisted's callInThreadWithCallback: on_result(result, arg) runs on the worker right after
 * fn and takes fn's result (a value or a failure). Returns: as weft_call_in_thread. */
WEFT_EXPORT WEFT_NODISCARD int
weft_call_in_thread_with_callback(weft_reactor_t *r, void (*on_result)(weft_result_t, void *),
                                  weft_thread_fn fn, void *arg);

/* One call of weft_call_multiple_in_thread. */
typedef struct {
    void (*fn)(void *arg);
    void *arg;
} weft_thread_call_t;

/* Twisted's callMultipleInThread: one job runs every calls[i].fn(calls[i].arg) in order
 * (calls is copied). Returns: as weft_call_in_thread; WEFT_EINVAL also for n == 0 or a NULL
 * fn in calls. */
WEFT_EXPORT WEFT_NODISCARD int
weft_call_multiple_in_thread(weft_reactor_t *r, const weft_thread_call_t *calls, size_t n);

/*
 * Twisted's blockingCallFromThread: from a worker (any thread but the loop's), runs fn(arg) on
 * the loop thread and waits for its result: a value, a failure, or a deferred's eventual
 * result, stored in *out (owned by the caller: release it with weft_result_free).
 * timeout_s < 0 waits without limit.
 * Thread: worker (any thread except r's loop thread).
 * Returns: 0 with *out set; WEFT_EWRONGTHREAD at once on the loop thread (instead of
 * deadlocking); WEFT_ECLOSED if the reactor has stopped or stops while waiting;
 * WEFT_ETIMEDOUT if timeout_s passed (a result arriving later is freed on the loop thread);
 * WEFT_EINVAL for a NULL fn or out; WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_blocking_call_from_thread(weft_reactor_t *r,
                                                              weft_result_t (*fn)(void *arg),
                                                              void *arg, double timeout_s,
                                                              weft_result_t *out);

/*
 * Sets the maximum thread count of the reactor's default pool of kind before its first use
 * (default: weft_default_pool_threads(kind)). Thread: loop.
 * Returns: 0; WEFT_EALREADY if that pool exists already; WEFT_EINVAL for 0 or a bad kind.
 */
WEFT_EXPORT WEFT_NODISCARD int
weft_reactor_set_default_pool_threads(weft_reactor_t *r, weft_pool_kind_t kind, unsigned threads);

/*
 * Sets how long, in microseconds (0..WEFT_OFFLOAD_POLL_US_MAX), the loop polls without
 * sleeping after it submits an offload, so that a reply coming back within that time needs no
 * wake-up of the loop thread (on a VM, a wake-up costs more than a small job: doc/performance.md).
 * The loop yields its CPU on every iteration meanwhile. 0: sleep at once, as libuv does.
 * Default: weft_default_offload_poll_us(). Takes effect from the next submit. Thread: loop.
 * Returns: 0; WEFT_EINVAL over the maximum; WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_reactor_set_offload_poll_us(weft_reactor_t *r, unsigned us);

/*
 * The reactor's default pool of kind, made now if needed (for its stats, or to submit to it
 * directly). The pool belongs to the reactor: do not stop or free it. Returns a borrowed
 * pointer, or NULL with *err (WEFT_EINVAL for a bad kind, the pool's creation error).
 * Thread: loop.
 */
WEFT_EXPORT weft_pool_t *weft_reactor_default_pool(weft_reactor_t *r, weft_pool_kind_t kind,
                                                   int *err);

/* The bridge's counters for one reactor. */
typedef struct {
    uint64_t submitted;    /* offloads whose job was queued */
    uint64_t refused;      /* offloads the pool refused (overload, closed) */
    uint64_t succeeded;    /* deferreds fired with the job's value */
    uint64_t failed;       /* deferreds fired with a failure from the job or the pool */
    uint64_t cancelled;    /* deferreds cancelled before the job's result arrived */
    uint64_t late_results; /* results that arrived after their deferred was cancelled: freed */
    uint64_t in_flight;    /* offloads whose result has not come back yet */
} weft_bridge_stats_t;

/* Copies the reactor's bridge counters into *out (all zero before the first offload). Pool
 * histograms: weft_pool_get_stats(weft_reactor_default_pool(r, kind, NULL), ...); loop lag:
 * weft_reactor_get_stats. Thread: loop. */
WEFT_EXPORT void weft_bridge_get_stats(weft_reactor_t *r, weft_bridge_stats_t *out);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_BRIDGE_BRIDGE_H */
