/* SPDX-License-Identifier: MIT */
/* A pool service: a weft thread pool started and stopped (with a deadline) as a service. */
#ifndef WEFT_BRIDGE_POOL_SERVICE_H
#define WEFT_BRIDGE_POOL_SERVICE_H

#include <stdint.h>

#include <weft/compiler.h>
#include <weft/reactor.h>
#include <weft/service.h>
#include <weft/threadpool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Options of weft_pool_service_new. weft_pool_service_options_init gives the defaults. */
typedef struct {
    weft_pool_options_t pool;        /* the pool made at each start (its name is copied) */
    weft_pool_stop_mode_t stop_mode; /* what stop does with queued jobs. Default CANCEL */
    double stop_deadline;            /* seconds stop waits for running jobs. Default 10 */
} weft_pool_service_options_t;

/* Fills opts with the defaults: weft_pool_options_init's pool, WEFT_POOL_STOP_CANCEL, 10 s.
 * Thread: any. */
WEFT_EXPORT void weft_pool_service_options_init(weft_pool_service_options_t *opts);

/*
 * Makes a stopped service named name (copied; may be NULL) whose start makes a pool with
 * opts->pool (weft_pool_new's errors are start's errors) and whose stop stops it: new submits
 * fail with WEFT_ECLOSED, queued jobs are handled as opts->stop_mode says, and running jobs are
 * awaited up to opts->stop_deadline on a helper thread, so the loop keeps serving meanwhile.
 * The stop deferred fires with NULL once every job has finished (the pool is then freed), or
 * fails with weft.TimeoutError (WEFT_ETIMEDOUT) naming the pool if jobs were still running at
 * the deadline; cancelling it fails it with weft.CancelledError at once (the helper thread
 * still finishes its wait). Freeing the service frees a pool left by such a stop: at once if
 * no job runs any more; else after waiting up to stop_deadline again, and if a job is still
 * running then, the pool is left allocated and logged: a job that never returns cannot be
 * reclaimed. A service whose stop passed its deadline starts again once its late jobs have
 * ended (the old pool is freed then); until then, and while a cancelled stop still waits for
 * its pool, start returns WEFT_EBUSY. opts is copied (NULL: defaults). Offload to the pool with
 * weft_defer_to_pool(r, weft_pool_service_pool(s), ...).
 * Returns an owned service (weft_service_free), or NULL with *err (may be NULL): WEFT_EINVAL
 * for a NULL r, a bad stop_mode or a negative or non-finite stop_deadline; WEFT_ENOMEM.
 * Thread: loop.
 */
WEFT_EXPORT WEFT_NODISCARD weft_service_t *
weft_pool_service_new(weft_reactor_t *r, const char *name, const weft_pool_service_options_t *opts,
                      int *err);

/* The pool of a running pool service (borrowed; valid until its stop), else NULL.
 * Thread: loop. */
WEFT_EXPORT weft_pool_t *weft_pool_service_pool(const weft_service_t *s);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_BRIDGE_POOL_SERVICE_H */
