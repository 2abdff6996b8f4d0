/* SPDX-License-Identifier: MIT */
/* A pool service: a weft thread pool started and stopped (with a deadline) as a service. */

/*
 * Design. weft_pool_stop blocks until the jobs are done or its deadline, so the service never
 * calls it on the loop thread: its stop starts a helper thread that calls weft_pool_stop and
 * posts the outcome back with weft_reactor_call_from_thread (`stop_done`, on the loop), which
 * joins the helper, frees the pool when it emptied, and fires the stop deferred. Threads:
 * `stop_rc` and `posted` are written by the helper before it posts or exits and read on the
 * loop after the post is run or the helper joined (both order the accesses).
 *
 * If the service is freed while a posted stop_done has not run yet (a cancelled stop), the
 * state is handed over: stop_done frees it when it runs (the reactor runs every accepted
 * thread call, at the latest in weft_reactor_free).
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include <weft/error.h>
#include <weft/log.h>
#include <weft/pool-service.h>

#include "../common/alloc-internal.h"

typedef struct {
    weft_reactor_t *r;
    weft_pool_service_options_t opts;
    char *pool_name;
    weft_pool_t *pool;    /* made at start; freed once a stop emptied it */
    weft_pool_t *stopped; /* a stopped pool that still had jobs at the deadline */
    weft_deferred_t *d;   /* our reference to the stop deferred, until it fires */
    pthread_t helper;
    bool helper_live; /* started and not joined */
    bool posted;      /* the helper posted stop_done (written by it, read after the join) */
    bool orphaned;    /* the service was freed: stop_done frees this state */
    int stop_rc;      /* weft_pool_stop's result (written by the helper) */
} pool_state_t;

void weft_pool_service_options_init(weft_pool_service_options_t *opts)
{
    weft_pool_options_init(&opts->pool);
    opts->stop_mode = WEFT_POOL_STOP_CANCEL;
    opts->stop_deadline = 10.0;
}

static uint64_t deadline_ms(const pool_state_t *st)
{
    double ms = st->opts.stop_deadline * 1000.0;
    return ms >= (double)UINT64_MAX / 2 ? WEFT_POOL_FOREVER : (uint64_t)ms;
}

static void release_pools(pool_state_t *st)
{
    weft_pool_t *pools[] = {st->pool, st->stopped};
    for (size_t i = 0; i < 2; i++) {
        if (pools[i] == NULL)
            continue;
        /* With no job running, only threads on their way out remain: wait for them. */
        weft_pool_stats_t ps;
        weft_pool_get_stats(pools[i], &ps);
        uint64_t ms = ps.running == 0 ? WEFT_POOL_FOREVER : deadline_ms(st);
        int rc = weft_pool_free(pools[i], WEFT_POOL_STOP_CANCEL, ms);
        if (rc != 0)
            weft_log(WEFT_LOG_WARN, "pool",
                     "pool %s: jobs still running when its service is "
                     "freed (%s): the pool is left allocated",
                     st->pool_name, weft_err_name(rc));
    }
    st->pool = st->stopped = NULL;
}

static void state_free(pool_state_t *st)
{
    release_pools(st);
    weft_deferred_unref(st->d);
    weft__free(st->pool_name);
    weft__free(st);
}

static void stop_done(void *arg)
{
    pool_state_t *st = arg;
    pthread_join(st->helper, NULL);
    st->helper_live = false;
    weft_pool_t *pool = st->stopped;
    if (st->stop_rc == 0) {
        st->stopped = NULL;
        int rc = weft_pool_free(pool, WEFT_POOL_STOP_CANCEL, 0); /* every thread has exited */
        WEFT_ASSERT(rc == 0);
    }
    weft_deferred_t *d = st->d;
    st->d = NULL;
    if (st->orphaned) {
        weft_deferred_unref(d);
        state_free(st);
        return;
    }
    if (d != NULL && !weft_deferred_called(d)) {
        int rc;
        if (st->stop_rc == 0) {
            rc = weft_deferred_callback(d, NULL, NULL);
        } else {
            char msg[256];
            snprintf(msg, sizeof(msg), "pool %s still running jobs at its %gs stop deadline",
                     st->pool_name, st->opts.stop_deadline);
            rc = weft_deferred_errback(
                d, weft_failure_new(&weft_timeout_error_type, st->stop_rc, msg));
        }
        (void)rc;
    }
    weft_deferred_unref(d);
}

static void *helper_main(void *arg)
{
    pool_state_t *st = arg;
    st->stop_rc = weft_pool_stop(st->stopped, st->opts.stop_mode, deadline_ms(st));
    /* After a refused post the service's free joins us and sees posted == false. */
    st->posted = weft_reactor_call_from_thread(st->r, stop_done, st) == 0;
    return NULL;
}

static int pool_start(weft_service_t *s)
{
    pool_state_t *st = weft_service_get_data(s);
    if (st->helper_live)
        return WEFT_EBUSY; /* the last stop (cancelled) is still waiting for its pool */
    if (st->stopped != NULL) {
        /* Left by a stop that passed its deadline: free it once its late jobs have ended
         * (only threads on their way out remain, a short wait); refuse while one still runs
         * or, after a DRAIN stop, is still queued. */
        weft_pool_stats_t ps;
        weft_pool_get_stats(st->stopped, &ps);
        if (ps.running != 0 || ps.queued != 0)
            return WEFT_EBUSY;
        int rc = weft_pool_free(st->stopped, WEFT_POOL_STOP_CANCEL, WEFT_POOL_FOREVER);
        if (rc != 0)
            return rc;
        st->stopped = NULL;
    }
    int rc = 0;
    st->pool = weft_pool_new(&st->opts.pool, &rc);
    return st->pool != NULL ? 0 : rc;
}

static int cancel_stop(weft_deferred_t *d, void *arg)
{
    (void)d;
    (void)arg;
    return 0; /* the helper cannot be interrupted: d fails with CancelledError now */
}

static weft_result_t pool_stop(weft_service_t *s)
{
    pool_state_t *st = weft_service_get_data(s);
    st->stopped = st->pool;
    st->pool = NULL;
    weft_deferred_t *d = weft_deferred_new_cancellable(cancel_stop, st);
    if (d == NULL)
        return weft_fail_new(&weft_memory_error_type, WEFT_ENOMEM, "out of memory");
    st->posted = false;
    int rc = -pthread_create(&st->helper, NULL, helper_main, st);
    if (rc != 0) {
        weft_deferred_unref(d);
        return weft_fail_new(&weft_system_error_type, rc, "cannot start the pool's stop thread");
    }
    st->helper_live = true;
    st->d = weft_deferred_ref(d);
    return weft_wait_for(d);
}

static void pool_free(weft_service_t *s)
{
    pool_state_t *st = weft_service_get_data(s);
    if (st->helper_live) {
        pthread_join(st->helper, NULL); /* bounded by the stop deadline */
        if (st->posted) {
            st->orphaned = true; /* stop_done will run: it frees st */
            return;
        }
        st->helper_live = false;
    }
    state_free(st);
}

static const weft_service_ops_t pool_ops = {
    .start = pool_start,
    .stop = pool_stop,
    .free = pool_free,
};

weft_service_t *weft_pool_service_new(weft_reactor_t *r, const char *name,
                                      const weft_pool_service_options_t *opts, int *err)
{
    weft_pool_service_options_t defaults;
    if (opts == NULL) {
        weft_pool_service_options_init(&defaults);
        opts = &defaults;
    }
    if (r == NULL ||
        (opts->stop_mode != WEFT_POOL_STOP_CANCEL && opts->stop_mode != WEFT_POOL_STOP_DRAIN) ||
        !isfinite(opts->stop_deadline) || opts->stop_deadline < 0) {
        if (err != NULL)
            *err = WEFT_EINVAL;
        return NULL;
    }
    pool_state_t *st = weft__calloc(1, sizeof(*st));
    const char *pname = opts->pool.name != NULL ? opts->pool.name : "pool";
    if (st == NULL || (st->pool_name = weft__strdup(pname)) == NULL) {
        weft__free(st);
        if (err != NULL)
            *err = WEFT_ENOMEM;
        return NULL;
    }
    st->r = r;
    st->opts = *opts;
    st->opts.pool.name = st->pool_name;
    weft_service_t *s = weft_service_new(r, name, &pool_ops, st, err);
    if (s == NULL) {
        weft__free(st->pool_name);
        weft__free(st);
    }
    return s;
}

weft_pool_t *weft_pool_service_pool(const weft_service_t *s)
{
    pool_state_t *st = weft_service_get_data(s);
    return weft_service_is_running(s) ? st->pool : NULL;
}
