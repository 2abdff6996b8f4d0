/* SPDX-License-Identifier: MIT */
/* Stopping and freeing a pool: close, cancel or drain, wait up to a deadline, report. */

/*
 * A stop closes the pool to submits (under mu), cancels the queue (CANCEL) or leaves it to the
 * workers (DRAIN), wakes every idle worker so that each one drains or exits, then waits on
 * stop_cond, up to the deadline, for every worker and the deadline thread to exit, joining
 * each as it exits (under mu: an exited thread needs no lock to finish). If threads are still alive
 * at the deadline, each running job is logged by name and the stop returns WEFT_ETIMEDOUT: it never
 * waits longer than asked.
 *
 * Freeing: the pool's memory may only go once no thread of it can touch it again, i.e. after
 * a stop that saw every thread exit. A worker stuck in a job will, when the job returns, lock
 * mu, account for the job and read the queue; so a free whose stop timed out frees nothing and
 * returns WEFT_ETIMEDOUT, and the pool stays valid (and closed) for a later free. Handing the
 * memory to the last thread out instead would need a detached thread (nobody left to join
 * it), which weft does not use.
 *
 * One lock only (mu). Two stops may run at once: each joins what it finds exited, under mu,
 * so no thread is joined twice, and each waits only up to its own deadline.
 */
#include <stdio.h>

#include <weft/error.h>
#include <weft/log.h>

#include "../common/alloc-internal.h"
#include "pool-internal.h"

/* The pool whose stop is running cancel hooks on this thread: a hook that stops or frees that
 * pool again would wait for itself. */
typedef struct stop_frame_s {
    weft_pool_t *pool;
    struct stop_frame_s *prev;
} stop_frame_t;
static _Thread_local stop_frame_t *stopping; /* innermost first: stops nest through hooks */

static bool stopping_on_this_thread(const weft_pool_t *pool)
{
    for (const stop_frame_t *f = stopping; f != NULL; f = f->prev)
        if (f->pool == pool)
            return true;
    return false;
}

/* What a timed-out stop reports about one thread that is still busy. */
typedef struct {
    char job[64];
    char thread[16];
    uint64_t running_ms;
} stuck_t;

/* Copies (under mu) what a late stop must report, since the jobs' names may be freed as soon
 * as mu is dropped. Returns an owned array of *n entries, or NULL. */
static stuck_t *collect_stuck_locked(weft_pool_t *pool, size_t *n)
{
    *n = 0;
    if (pool->threads == 0)
        return NULL;
    stuck_t *s = weft__calloc(pool->threads, sizeof(*s));
    if (s == NULL)
        return NULL;
    uint64_t now = weft__pool_now_ns();
    weft__list_t *pos;
    weft__list_foreach(pos, &pool->workers)
    {
        weft__worker_t *w = weft__list_entry(pos, weft__worker_t, all_link);
        /* The record stays valid while mu is held: its worker recycles it under mu. */
        weft__job_t *job = atomic_load_explicit(&w->job, memory_order_relaxed);
        if (job == NULL)
            continue;
        uint64_t start = atomic_load_explicit(&w->job_start_ns, memory_order_relaxed);
        stuck_t *e = &s[(*n)++];
        snprintf(e->job, sizeof(e->job), "%s", job->name != NULL ? job->name : "(unnamed)");
        snprintf(e->thread, sizeof(e->thread), "%s", w->thread_name);
        e->running_ms = now > start ? (now - start) / 1000000u : 0;
    }
    return s;
}

/* Joins every exited worker and the deadline thread if it has exited. Returns true when no
 * thread of the pool is left. Under mu. */
static bool reap_all_locked(weft_pool_t *pool)
{
    weft__pool_reap_locked(pool);
    if (pool->timer_started && !pool->timer_running) {
        pthread_join(pool->timer_thread, NULL); /* it has left mu for good: see reap */
        pool->timer_started = false;
    }
    return pool->threads == 0 && !pool->timer_started;
}

int weft_pool_stop(weft_pool_t *pool, weft_pool_stop_mode_t mode, uint64_t timeout_ms)
{
    if (pool == NULL || (mode != WEFT_POOL_STOP_DRAIN && mode != WEFT_POOL_STOP_CANCEL))
        return WEFT_EINVAL;
    if (weft__pool_current == pool || stopping_on_this_thread(pool))
        return WEFT_EWRONGTHREAD;
    uint64_t deadline = weft__pool_deadline_after_ms(timeout_ms);

    pthread_mutex_lock(&pool->mu);
    pool->closed = true;
    weft__list_t cancelled;
    weft__list_init(&cancelled);
    if (mode == WEFT_POOL_STOP_CANCEL) {
        weft__job_t *job;
        while ((job = weft__queue_pop(pool)) != NULL) {
            job->state = WEFT__JOB_DONE;
            if (job->heap_slot != WEFT__NO_HEAP_SLOT)
                weft__heap_remove(pool, job);
            pool->cancelled++;
            weft__list_push_tail(&cancelled, &job->link);
        }
        pool->queued = 0;
        /* And those taken in a batch that no worker has started yet. */
        pool->cancelled += weft__pool_claim_batches_locked(pool, &cancelled);
    }
    weft__pool_wake_all_idle_locked(pool);
    pthread_cond_broadcast(&pool->room_cond);
    pthread_cond_signal(&pool->timer_cond);
    if (!weft__list_is_empty(&cancelled)) {
        pthread_mutex_unlock(&pool->mu);
        /* Unlocked: hooks are user code. The records are DONE, so nobody reuses them. */
        stop_frame_t frame = {pool, stopping};
        stopping = &frame;
        weft__list_t *pos;
        weft__list_foreach(pos, &cancelled)
        {
            weft__job_t *job = weft__list_entry(pos, weft__job_t, link);
            if (job->done != NULL)
                job->done(job->arg, WEFT_ECANCELED);
        }
        stopping = frame.prev;
        pthread_mutex_lock(&pool->mu);
        weft__list_t *tmp;
        weft__list_foreach_safe(pos, tmp, &cancelled)
        {
            weft__list_remove(pos);
            weft__pool_recycle_locked(pool, weft__list_entry(pos, weft__job_t, link));
        }
    }

    bool finished;
    for (;;) {
        finished = reap_all_locked(pool);
        if (finished)
            break;
        if (weft__pool_cond_wait_until(&pool->stop_cond, &pool->mu, deadline) == ETIMEDOUT) {
            finished = reap_all_locked(pool);
            break;
        }
    }
    size_t nstuck = 0;
    stuck_t *stuck = finished ? NULL : collect_stuck_locked(pool, &nstuck);
    size_t still_queued = pool->queued;
    unsigned still_threads = pool->threads;
    pthread_mutex_unlock(&pool->mu);

    for (size_t i = 0; i < nstuck; i++) {
        char ms[24];
        snprintf(ms, sizeof(ms), "%llu", (unsigned long long)stuck[i].running_ms);
        weft_log_field_t fields[] = {{"pool", pool->name},
                                     {"job", stuck[i].job},
                                     {"thread", stuck[i].thread},
                                     {"running_ms", ms}};
        weft_log_with(WEFT_LOG_WARN, "pool", fields, 4,
                      "pool %s: job %s still running at the stop deadline", pool->name,
                      stuck[i].job);
    }
    if (!finished && nstuck == 0) {
        weft_log(WEFT_LOG_WARN, "pool",
                 "pool %s: stop deadline passed with %u threads alive and %zu jobs queued",
                 pool->name, still_threads, still_queued);
    }
    weft__free(stuck);
    return finished ? 0 : WEFT_ETIMEDOUT;
}

int weft_pool_free(weft_pool_t *pool, weft_pool_stop_mode_t mode, uint64_t timeout_ms)
{
    if (pool == NULL)
        return 0;
    int rc = weft_pool_stop(pool, mode, timeout_ms);
    if (rc != 0)
        return rc;
    /* Every thread is joined and every hook has run: nothing else touches the pool. */
    for (size_t i = 0; i < pool->nchunks; i++)
        weft__free(pool->chunk_mem[i]);
    weft__free(pool->chunk_mem);
    weft__free(pool->chunks);
    weft__free(pool->free_jobs);
    weft__free(pool->heap);
    weft__free(pool->ring);
    pthread_cond_destroy(&pool->room_cond);
    pthread_cond_destroy(&pool->stop_cond);
    pthread_cond_destroy(&pool->timer_cond);
    pthread_mutex_destroy(&pool->mu);
    weft__free(pool->name);
    weft__free(pool);
    return 0;
}
