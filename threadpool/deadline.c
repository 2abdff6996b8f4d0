/* SPDX-License-Identifier: MIT */
/* Start deadlines: a min-heap of queued jobs by deadline, and the thread that expires them. */

/*
 * A job submitted with a start timeout sits both on the FIFO queue and in this heap. Whoever
 * takes it off the queue (a worker, cancel, a cancelling stop) also takes it out of the heap,
 * so the heap only ever holds QUEUED jobs. The deadline thread (one per pool, started by the
 * first submit that carries a deadline, named weft-<name>-dl) sleeps until the earliest
 * deadline, then moves every expired job off the queue under mu, and runs their hooks with
 * WEFT_ETIMEDOUT with mu dropped. So a job whose workers are all busy still completes at its
 * deadline, not when a worker frees up. Everything here runs under the pool's mu, except the
 * hooks.
 */
#include <weft/error.h>

#include "../common/alloc-internal.h"
#include "pool-internal.h"

static void heap_set(weft_pool_t *pool, size_t slot, weft__job_t *job)
{
    pool->heap[slot] = job;
    job->heap_slot = slot;
}

static void sift_up(weft_pool_t *pool, size_t slot)
{
    weft__job_t *job = pool->heap[slot];
    while (slot > 0) {
        size_t parent = (slot - 1) / 2;
        if (pool->heap[parent]->deadline_ns <= job->deadline_ns)
            break;
        heap_set(pool, slot, pool->heap[parent]);
        slot = parent;
    }
    heap_set(pool, slot, job);
}

static void sift_down(weft_pool_t *pool, size_t slot)
{
    weft__job_t *job = pool->heap[slot];
    for (;;) {
        size_t child = 2 * slot + 1;
        if (child >= pool->heap_len)
            break;
        if (child + 1 < pool->heap_len &&
            pool->heap[child + 1]->deadline_ns < pool->heap[child]->deadline_ns)
            child++;
        if (pool->heap[child]->deadline_ns >= job->deadline_ns)
            break;
        heap_set(pool, slot, pool->heap[child]);
        slot = child;
    }
    heap_set(pool, slot, job);
}

int weft__heap_reserve(weft_pool_t *pool)
{
    if (pool->heap_len < pool->heap_cap)
        return 0;
    size_t cap = pool->heap_cap ? 2 * pool->heap_cap : 64;
    weft__job_t **heap = weft__realloc(pool->heap, cap * sizeof(*heap));
    if (heap == NULL)
        return WEFT_ENOMEM;
    pool->heap = heap;
    pool->heap_cap = cap;
    return 0;
}

void weft__heap_push(weft_pool_t *pool, weft__job_t *job)
{
    WEFT_ASSERT(pool->heap_len < pool->heap_cap);
    size_t slot = pool->heap_len++;
    heap_set(pool, slot, job);
    sift_up(pool, slot);
    /* A new earliest deadline: the deadline thread sleeps until a later one, wake it. */
    if (job->heap_slot == 0)
        pthread_cond_signal(&pool->timer_cond);
}

void weft__heap_remove(weft_pool_t *pool, weft__job_t *job)
{
    size_t slot = job->heap_slot;
    WEFT_ASSERT(slot < pool->heap_len && pool->heap[slot] == job);
    job->heap_slot = WEFT__NO_HEAP_SLOT;
    weft__job_t *last = pool->heap[--pool->heap_len];
    /* A stopping pool's deadline thread exits once the heap is empty: tell it so. */
    if (pool->heap_len == 0 && pool->closed)
        pthread_cond_signal(&pool->timer_cond);
    if (last == job)
        return;
    heap_set(pool, slot, last);
    sift_down(pool, slot);
    sift_up(pool, last->heap_slot);
}

void *weft__pool_deadline_main(void *arg)
{
    weft_pool_t *pool = arg;
    weft__pool_current = pool;
    char name[16];
    weft__pool_name_thread(pool, "dl", name);

    weft__list_t expired;
    weft__list_init(&expired);
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        if (pool->heap_len == 0) {
            if (pool->closed)
                break;
            weft__pool_cond_wait_until(&pool->timer_cond, &pool->mu, UINT64_MAX);
            continue;
        }
        uint64_t now = weft__pool_now_ns();
        if (pool->heap[0]->deadline_ns > now) {
            weft__pool_cond_wait_until(&pool->timer_cond, &pool->mu, pool->heap[0]->deadline_ns);
            continue;
        }
        while (pool->heap_len > 0 && pool->heap[0]->deadline_ns <= now) {
            weft__job_t *job = pool->heap[0];
            weft__heap_remove(pool, job);
            weft__queue_remove(pool, job);
            pool->queued--;
            pool->timed_out++;
            job->state = WEFT__JOB_DONE; /* cancel now answers ENOENT; nobody reuses it */
            weft__list_push_tail(&expired, &job->link);
        }
        if (pool->room_waiters > 0)
            pthread_cond_broadcast(&pool->room_cond);
        pthread_mutex_unlock(&pool->mu);

        /* Unlocked: hooks are user code. */
        weft__list_t *pos;
        weft__list_foreach(pos, &expired)
        {
            weft__job_t *job = weft__list_entry(pos, weft__job_t, link);
            if (job->done != NULL)
                job->done(job->arg, WEFT_ETIMEDOUT);
        }

        pthread_mutex_lock(&pool->mu);
        weft__list_t *tmp;
        weft__list_foreach_safe(pos, tmp, &expired)
        {
            weft__list_remove(pos);
            weft__pool_recycle_locked(pool, weft__list_entry(pos, weft__job_t, link));
        }
    }
    pool->timer_running = false;
    pthread_cond_broadcast(&pool->stop_cond);
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}
