/* SPDX-License-Identifier: MIT */
/* The pool: creation, submit, the worker loop, cancel, resize, stats (stop is in stop.c). */

/*
 * DESIGN
 *
 * One mutex (mu) guards the whole pool: the FIFO queue (a ring of pointers), the free list of
 * job records, the deadline heap, the idle stack, the counters. A submit takes mu once; a
 * worker takes it once per job (to account for the jobs it finished and take the next), or,
 * when the queue is deep and no worker idles, once per batch of up to WEFT__TAKE_MAX jobs,
 * which others may claim (steal) before it starts them (take_locked). Nothing runs user code
 * with mu held: job functions and completion hooks run after an unlock.
 *
 * One lock only: threadpool/ never holds two locks at once.
 *
 * Job records come from a per-pool free stack, filled in chunks of 64 that live until the pool
 * is freed; in steady state a submit allocates nothing. A job id is (generation << 32 |
 * index + 1); recycling a record bumps its generation, so a stale id never matches a later
 * job, and cancel looks the index up in the chunk table instead of trusting a pointer.
 *
 * Threads start lazily: a submit that finds no idle worker starts one if the pool is below
 * max_threads. Idle workers wait on their own condvar, in a stack: a submit wakes the most
 * recently idle one (LIFO), so under light load the same warm thread runs everything and the
 * others reach their idle timeout and exit (down to min_threads). A woken worker is taken off
 * the stack by whoever wakes it, so "on the idle stack" is the one truth about idleness.
 *
 * Exited threads are joined, never detached: an exiting worker moves itself to the zombie
 * list as its last act under mu, and whoever next may start a thread (submit, resize) or
 * stops the pool joins it, under mu (the exiting thread needs no lock to finish exiting).
 * A submit joins only the zombies that have finished exiting (pthread_tryjoin_np): one may
 * still run thread-exit work (key destructors: a dbpool closes its connection there), and
 * a submit, often on the loop thread, must not wait for it. Stop, free and resize join all.
 *
 * Stopping and freeing, and why free may refuse to free: stop.c.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <weft/error.h>
#include <weft/log.h>

#include "../common/alloc-internal.h"
#include "../common/fault-internal.h"
#include "pool-internal.h"

#define DEFAULT_QUEUE_LIMIT     65536u
#define DEFAULT_IDLE_TIMEOUT_MS 10000u
#define DEFAULT_STACK_SIZE      (4u << 20)
#define CPU_NICE_OFFSET         5
#define DEFAULT_SPIN_US         50u
#define MAX_SPIN_US             10000u

_Thread_local weft_pool_t *weft__pool_current;
/* The job running on this thread, for weft_job_cancelled. */
static _Thread_local weft__job_t *current_job;

/* ------------------------------------------------------------------------- small helpers */

uint64_t weft__pool_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t weft__pool_deadline_after_ms(uint64_t ms)
{
    if (ms == WEFT_POOL_FOREVER || ms > UINT64_MAX / 2000000u)
        return UINT64_MAX;
    return weft__pool_now_ns() + ms * 1000000u;
}

int weft__pool_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int rc = pthread_condattr_init(&attr);
    if (rc != 0)
        return rc;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}

int weft__pool_cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *mu, uint64_t deadline_ns)
{
    if (deadline_ns == UINT64_MAX) {
        pthread_cond_wait(cond, mu);
        return 0;
    }
    struct timespec ts = {.tv_sec = (time_t)(deadline_ns / 1000000000u),
                          .tv_nsec = (long)(deadline_ns % 1000000000u)};
    int rc = pthread_cond_timedwait(cond, mu, &ts);
    return rc == ETIMEDOUT ? ETIMEDOUT : 0;
}

static int errno_to_weft(int rc)
{
    return rc == ENOMEM ? WEFT_ENOMEM : WEFT_EAGAIN;
}

void weft__pool_name_thread(const weft_pool_t *pool, const char *suffix, char out[16])
{
    /* "weft-" + name + "-" + suffix must fit 15 bytes: the name gives way, the suffix (the
     * thread number, which tells threads apart) never does. */
    int room = 15 - 5 - 1 - (int)strlen(suffix);
    char buf[64];
    snprintf(buf, sizeof(buf), "weft-%.*s-%s", room > 0 ? room : 0, pool->name, suffix);
    memcpy(out, buf, 15);
    out[15] = '\0';
    pthread_setname_np(pthread_self(), out);
}

int weft__pool_start_thread(weft_pool_t *pool, pthread_t *thread, void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc != 0)
        return rc;
    rc = pthread_attr_setstacksize(&attr, pool->stack_size);
    if (rc == 0) {
        /* The new thread inherits this mask, so no asynchronous signal can reach it even
         * before its first instruction; synchronous ones (faults, abort) stay deliverable. */
        sigset_t all, old;
        sigfillset(&all);
        static const int synchronous[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL,
                                          SIGTRAP, SIGSYS, SIGABRT};
        for (size_t i = 0; i < sizeof(synchronous) / sizeof(synchronous[0]); i++)
            sigdelset(&all, synchronous[i]);
        pthread_sigmask(SIG_SETMASK, &all, &old);
#ifdef WEFT_FAULT_INJECTION
        /* The fault builds can fail this as the system would, out of threads (t/82). */
        if (weft__fault_thread_hit())
            rc = EAGAIN;
        else
#endif
            rc = pthread_create(thread, &attr, fn, arg);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    pthread_attr_destroy(&attr);
    return rc;
}

/* Applies the pool's scheduling options to the calling thread. Failures are logged at debug
 * level: a thread started by a niced thread may not be allowed to lower its nice value. */
static void apply_sched(const weft_pool_t *pool)
{
    if (pool->sched == WEFT_POOL_SCHED_BATCH) {
        struct sched_param sp = {.sched_priority = 0};
        int rc = pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
        if (rc != 0)
            weft_log(WEFT_LOG_DEBUG, "pool", "pool %s: cannot set SCHED_BATCH: %s", pool->name,
                     weft_strerror(-rc));
    }
    if (pool->target_nice != INT32_MIN) {
        if (setpriority(PRIO_PROCESS, (id_t)gettid(), pool->target_nice) != 0)
            weft_log(WEFT_LOG_DEBUG, "pool", "pool %s: cannot set nice %d: %s", pool->name,
                     pool->target_nice, weft_strerror(-errno));
    }
}

static weft__job_t *job_at(const weft_pool_t *pool, size_t index)
{
    return &pool->chunks[index / WEFT__JOBS_PER_CHUNK][index % WEFT__JOBS_PER_CHUNK];
}

static weft_job_id_t job_id(const weft__job_t *job)
{
    return ((uint64_t)job->gen << 32) | ((uint64_t)job->index + 1);
}

/* Pushes a record on the free stack, which has room for every record (see take_job_locked).
 * Under mu. */
static void put_free_locked(weft_pool_t *pool, weft__job_t *job)
{
    pool->free_jobs[pool->nfree++] = job;
}

/* Takes a FREE record, adding a chunk of 64 when the free stack is empty. Under mu. */
static weft__job_t *take_job_locked(weft_pool_t *pool)
{
    if (pool->nfree > 0)
        return pool->free_jobs[--pool->nfree];
    if ((uint64_t)(pool->nchunks + 1) * WEFT__JOBS_PER_CHUNK > UINT32_MAX)
        return NULL;
    if (pool->nchunks == pool->chunks_cap) {
        size_t cap = pool->chunks_cap ? 2 * pool->chunks_cap : 16;
        weft__job_t **chunks = weft__realloc(pool->chunks, cap * sizeof(*chunks));
        if (chunks == NULL)
            return NULL;
        pool->chunks = chunks;
        void **raw = weft__realloc(pool->chunk_mem, cap * sizeof(*raw));
        if (raw == NULL)
            return NULL;
        pool->chunk_mem = raw;
        /* The free stack can hold every record there may be with this many chunks. */
        weft__job_t **free_jobs =
            weft__realloc(pool->free_jobs, cap * WEFT__JOBS_PER_CHUNK * sizeof(*free_jobs));
        if (free_jobs == NULL)
            return NULL;
        pool->free_jobs = free_jobs;
        pool->chunks_cap = cap;
    }
    /* Records are cache-line aligned (the type says so; malloc only gives 16 bytes), so a
     * submitter filling one record never shares a line with a worker reading the next. */
    void *mem = weft__calloc(1, WEFT__JOBS_PER_CHUNK * sizeof(weft__job_t) + WEFT__CACHE_LINE);
    if (mem == NULL)
        return NULL;
    weft__job_t *chunk = (weft__job_t *)(((uintptr_t)mem + WEFT__CACHE_LINE - 1) &
                                         ~(uintptr_t)(WEFT__CACHE_LINE - 1));
    pool->chunk_mem[pool->nchunks] = mem;
    size_t base = pool->nchunks * WEFT__JOBS_PER_CHUNK;
    pool->chunks[pool->nchunks++] = chunk;
    /* Slot 0 is handed out now; the rest go on the free stack, the lowest on top. */
    for (size_t i = WEFT__JOBS_PER_CHUNK; i-- > 0;) {
        weft__job_t *job = &chunk[i];
        job->index = (uint32_t)(base + i);
        job->gen = pool->gen_seed;
        job->heap_slot = WEFT__NO_HEAP_SLOT;
        job->state = WEFT__JOB_FREE;
        atomic_init(&job->cancel, false);
        atomic_init(&job->finished, false);
        weft__list_init(&job->link);
        if (i > 0)
            put_free_locked(pool, job);
    }
    return &chunk[0];
}

/* ------------------------------------------------------------------------- the queue ring */

int weft__queue_reserve(weft_pool_t *pool, size_t n)
{
    uint64_t used = pool->ring_tail - pool->ring_head;
    uint64_t cap = pool->ring == NULL ? 0 : pool->ring_mask + 1;
    if (used + n <= cap)
        return 0;
    if (pool->queued + n <= cap / 2) {
        /* Mostly holes (jobs cancelled behind a head that waits): close them up in place,
         * rather than grow the ring for room nobody uses. Amortised: at least cap / 2
         * positions come free for each pass over cap. */
        uint64_t to = pool->ring_head;
        for (uint64_t from = pool->ring_head; from != pool->ring_tail; from++) {
            weft__job_t *job = pool->ring[from & pool->ring_mask];
            if (job == NULL)
                continue;
            job->qpos = to;
            pool->ring[to++ & pool->ring_mask] = job;
        }
        pool->ring_tail = to;
        return 0;
    }
    uint64_t want = cap != 0 ? cap : 64;
    while (want < used + n)
        want *= 2;
    weft__job_t **ring = weft__malloc((size_t)want * sizeof(*ring));
    if (ring == NULL)
        return WEFT_ENOMEM;
    /* Positions stay what they were (a queued job's qpos still names its slot). */
    for (uint64_t pos = pool->ring_head; pos != pool->ring_tail; pos++)
        ring[pos & (want - 1)] = pool->ring[pos & pool->ring_mask];
    weft__free(pool->ring);
    pool->ring = ring;
    pool->ring_mask = want - 1;
    return 0;
}

void weft__queue_push(weft_pool_t *pool, weft__job_t *job)
{
    job->qpos = pool->ring_tail++;
    pool->ring[job->qpos & pool->ring_mask] = job;
}

weft__job_t *weft__queue_peek(weft_pool_t *pool)
{
    while (pool->ring_head != pool->ring_tail) {
        weft__job_t *job = pool->ring[pool->ring_head & pool->ring_mask];
        if (job != NULL)
            return job;
        pool->ring_head++;
    }
    return NULL;
}

weft__job_t *weft__queue_pop(weft_pool_t *pool)
{
    weft__job_t *job = weft__queue_peek(pool);
    if (job != NULL)
        pool->ring_head++;
    return job;
}

void weft__queue_remove(weft_pool_t *pool, weft__job_t *job)
{
    pool->ring[job->qpos & pool->ring_mask] = NULL;
    /* Holes at either end go at once, so an emptied queue is an empty ring. */
    while (pool->ring_tail != pool->ring_head &&
           pool->ring[(pool->ring_tail - 1) & pool->ring_mask] == NULL)
        pool->ring_tail--;
    while (pool->ring_head != pool->ring_tail &&
           pool->ring[pool->ring_head & pool->ring_mask] == NULL)
        pool->ring_head++;
}

/* ------------------------------------------------------------------------- job records */

void weft__pool_recycle_locked(weft_pool_t *pool, weft__job_t *job)
{
    job->gen++;
    job->state = WEFT__JOB_FREE;
    job->fn = NULL;
    job->done = NULL;
    job->arg = NULL;
    job->name = NULL;
    put_free_locked(pool, job);
}

void weft__pool_room_freed_locked(weft_pool_t *pool)
{
    if (pool->room_waiters > 0)
        pthread_cond_signal(&pool->room_cond);
}

void weft__pool_reap_locked(weft_pool_t *pool)
{
    weft__list_t *node;
    while ((node = weft__list_pop_head(&pool->zombies)) != NULL) {
        weft__worker_t *w = weft__list_entry(node, weft__worker_t, all_link);
        /* Under mu, and safe: the thread released mu for the last time before it became a
         * zombie and takes no lock on its way out, so this only waits for its exit. */
        pthread_join(w->thread, NULL);
        pthread_cond_destroy(&w->cond);
        weft__free(w);
    }
}

/* As weft__pool_reap_locked, but only the zombies that have already exited: never waits. */
static void reap_exited_locked(weft_pool_t *pool)
{
    weft__list_t *pos, *tmp;
    weft__list_foreach_safe(pos, tmp, &pool->zombies)
    {
        weft__worker_t *w = weft__list_entry(pos, weft__worker_t, all_link);
        if (pthread_tryjoin_np(w->thread, NULL) != 0)
            continue; /* still exiting: a later submit, resize or the stop joins it */
        weft__list_remove(&w->all_link);
        pthread_cond_destroy(&w->cond);
        weft__free(w);
    }
}

/* Wakes every idle worker (taking each off the idle stack) so it re-reads the pool state:
 * the queue, closed, the limits. Under mu. */
void weft__pool_wake_all_idle_locked(weft_pool_t *pool)
{
    weft__list_t *node;
    while ((node = weft__list_pop_head(&pool->idle)) != NULL) {
        weft__worker_t *w = weft__list_entry(node, weft__worker_t, idle_link);
        w->idle = false;
        pool->nidle--;
        pthread_cond_signal(&w->cond);
    }
}

/* ------------------------------------------------------------------------- workers */

/* Takes, for w, a job another worker took in a batch but has not started: the last one of
 * the first batch found. Under mu. Returns 1, or 0 when there is none. The job is already
 * counted in `taken`. */
static unsigned steal_locked(weft_pool_t *pool, weft__worker_t *w)
{
    weft__list_t *pos;
    weft__list_foreach(pos, &pool->workers)
    {
        weft__worker_t *v = weft__list_entry(pos, weft__worker_t, all_link);
        if (v == w)
            continue;
        for (unsigned i = v->nbatch; i-- > 0;) {
            weft__job_t *job = atomic_exchange_explicit(&v->batch[i], NULL, memory_order_acq_rel);
            if (job == NULL)
                continue;
            job->batch_slot = &w->batch[0];
            atomic_store_explicit(&w->batch[0], job, memory_order_relaxed);
            return 1;
        }
    }
    return 0;
}

/* Takes work for w into its batch slots; under mu. One job, unless the queue is deep and no
 * worker is idle: then up to WEFT__TAKE_MAX, one hold of mu for all (the others have plenty
 * left to take, and one that runs out steals from this batch before it sleeps, so a long job
 * does not hold back those taken with it). A job with a start deadline is taken alone, so
 * that the deadline thread watches it until it starts. With the queue empty, w steals.
 * Returns how many slots it filled. */
static unsigned take_locked(weft_pool_t *pool, weft__worker_t *w)
{
    unsigned want = 1;
    if (pool->nidle == 0 && pool->queued >= (size_t)pool->threads * WEFT__TAKE_MAX * 2)
        want = WEFT__TAKE_MAX;
    unsigned n = 0;
    weft__job_t *job;
    while (n < want && (job = weft__queue_peek(pool)) != NULL) {
        if (job->deadline_ns != 0 && n > 0)
            break;
        weft__queue_pop(pool);
        pool->queued--;
        weft__pool_room_freed_locked(pool);
        if (job->heap_slot != WEFT__NO_HEAP_SLOT)
            weft__heap_remove(pool, job);
        job->state = WEFT__JOB_RUNNING;
        job->batch_slot = want > 1 ? &w->batch[n] : NULL;
        atomic_store_explicit(&w->batch[n], job, memory_order_relaxed);
        n++;
        if (job->deadline_ns != 0)
            break;
    }
    pool->taken += n;
    if (n == 0)
        n = steal_locked(pool, w);
    w->nbatch = n;
    return n;
}

/* Runs the n jobs in w's batch slots, each claimed first (one another thread claimed is
 * skipped), then accounts for those it ran. Called and returns with mu held, dropping it
 * meanwhile. now: when w's previous job ended, 0 if it waited since. Returns when the last
 * job it ran ended (one clock read per job: the end of one is the start of the next), 0 if it
 * ran none. */
static uint64_t run_taken_locked(weft_pool_t *pool, weft__worker_t *w, unsigned n, uint64_t now)
{
    struct {
        weft__job_t *job;
        uint64_t start, end;
        bool expired;
    } ran[WEFT__TAKE_MAX];
    unsigned nran = 0;
    pthread_mutex_unlock(&pool->mu);

    /* Unlocked: a job may run for seconds, and may submit, cancel or read stats. */
    if (now == 0)
        now = weft__pool_now_ns();
    for (unsigned i = 0; i < n; i++) {
        weft__job_t *job = atomic_exchange_explicit(&w->batch[i], NULL, memory_order_acq_rel);
        if (job == NULL)
            continue; /* stolen, or cancelled before it started */
        /* now may be the end of this worker's last job, read before this one was submitted. */
        if (now < job->submit_ns)
            now = job->submit_ns;
        ran[nran].job = job;
        ran[nran].start = now;
        ran[nran].expired = job->deadline_ns != 0 && now >= job->deadline_ns;
        if (ran[nran].expired) {
            /* Past its start deadline before the deadline thread got to it: same outcome. */
            if (job->done != NULL)
                job->done(job->arg, WEFT_ETIMEDOUT);
        } else {
            atomic_store_explicit(&w->job_start_ns, now, memory_order_relaxed);
            atomic_store_explicit(&w->job, job, memory_order_relaxed);
            current_job = job;
            job->fn(job->arg);
            current_job = NULL;
            atomic_store_explicit(&job->finished, true, memory_order_relaxed);
            if (job->done != NULL)
                job->done(job->arg, 0);
            atomic_store_explicit(&w->job, NULL, memory_order_relaxed);
            now = weft__pool_now_ns();
            atomic_store_explicit(&w->batch_done,
                                  atomic_load_explicit(&w->batch_done, memory_order_relaxed) + 1,
                                  memory_order_relaxed);
        }
        ran[nran++].end = now;
    }

    pthread_mutex_lock(&pool->mu);
    w->nbatch = 0;
    atomic_store_explicit(&w->batch_done, 0, memory_order_relaxed);
    for (unsigned i = 0; i < nran; i++) {
        if (ran[i].expired) {
            pool->timed_out++;
        } else {
            weft__hist_add(&w->queue_wait, ran[i].start - ran[i].job->submit_ns);
            weft__hist_add(&w->run_time, ran[i].end - ran[i].start);
            pool->completed++;
        }
        pool->taken--;
        weft__pool_recycle_locked(pool, ran[i].job);
    }
    return nran > 0 ? now : 0;
}

size_t weft__pool_claim_batches_locked(weft_pool_t *pool, weft__list_t *out)
{
    size_t n = 0;
    weft__list_t *pos;
    weft__list_foreach(pos, &pool->workers)
    {
        weft__worker_t *w = weft__list_entry(pos, weft__worker_t, all_link);
        for (unsigned i = 0; i < w->nbatch; i++) {
            weft__job_t *job = atomic_exchange_explicit(&w->batch[i], NULL, memory_order_acq_rel);
            if (job == NULL)
                continue;
            job->state = WEFT__JOB_DONE; /* a cancel now answers ENOENT */
            pool->taken--;
            weft__list_push_tail(out, &job->link);
            n++;
        }
    }
    return n;
}

/* Waits on the idle stack until woken or timed out. Returns false when the worker should exit
 * (it timed out above min_threads). Called and returns with mu held. */
static bool wait_idle_locked(weft_pool_t *pool, weft__worker_t *w)
{
    weft__list_push_head(&pool->idle, &w->idle_link);
    w->idle = true;
    pool->nidle++;
    uint64_t deadline = weft__pool_now_ns() + pool->idle_timeout_ns;
    for (;;) {
        bool above_min = pool->threads > pool->min_threads;
        int rc = weft__pool_cond_wait_until(&w->cond, &pool->mu, above_min ? deadline : UINT64_MAX);
        if (!w->idle)
            return true; /* whoever woke us took us off the stack */
        if (pool->threads > pool->min_threads &&
            (rc == ETIMEDOUT || weft__pool_now_ns() >= deadline)) {
            weft__list_remove(&w->idle_link);
            w->idle = false;
            pool->nidle--;
            return false;
        }
    }
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* A worker that has just finished a job and found the queue empty watches, without mu, for a
 * submit during spin_ns before it goes to sleep: at one job in flight, the next usually comes
 * back within microseconds, and taking it awake saves two trips through the scheduler (the
 * submitter's futex wake and this thread's wake-up: 15 to 60 us on a VM, measured in
 * doc/performance.md). One worker of a pool spins at a time, and it yields the CPU every few
 * hundred nanoseconds, so the rest of the machine loses little for at most spin_ns after a
 * burst ends. A submit that finds it spinning counts on it and wakes nobody
 * (ensure_worker_locked). Called and returns with mu held. */
static void spin_for_work_locked(weft_pool_t *pool)
{
    pool->spinning = 1;
    unsigned seen = atomic_load_explicit(&pool->submits, memory_order_relaxed);
    pthread_mutex_unlock(&pool->mu);
    uint64_t until = weft__pool_now_ns() + pool->spin_ns;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(&pool->submits, memory_order_relaxed) != seen)
            break;
        cpu_relax();
        if ((i & 31) == 0) {
            if (weft__pool_now_ns() >= until)
                break;
            /* Gives the CPU to whoever else is runnable on it: the loop thread, if the
             * scheduler put both here, is what this worker is waiting for. */
            sched_yield();
        }
    }
    pthread_mutex_lock(&pool->mu);
    pool->spinning = 0;
    pool->spin_claimed = false;
}

static void *worker_main(void *arg)
{
    weft__worker_t *w = arg;
    weft_pool_t *pool = w->pool;
    weft__pool_current = pool;

    char suffix[12];
    snprintf(suffix, sizeof(suffix), "%u", w->n);
    weft__pool_name_thread(pool, suffix, w->thread_name);
    apply_sched(pool);

    uint64_t last_end = 0; /* when the job just run ended; 0 after waiting */
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        if (pool->threads > pool->max_threads)
            break; /* resized down: the surplus leaves after its job */
        unsigned n = take_locked(pool, w);
        if (n > 0) {
            last_end = run_taken_locked(pool, w, n, last_end);
            continue;
        }
        bool just_ran = last_end != 0;
        last_end = 0;
        if (pool->closed)
            break;
        if (just_ran && pool->spin_ns != 0 && pool->spinning == 0) {
            spin_for_work_locked(pool);
            continue; /* re-read the queue under mu: a job a submit left to us is there */
        }
        if (!wait_idle_locked(pool, w))
            break;
    }
    pool->threads--;
    if (pool->queued > 0 && !pool->closed) {
        /* Leaving with work queued (resized down, maybe right after a submit counted on this
         * thread while it watched the queue): hand it to an idle worker. */
        weft__list_t *node = weft__list_pop_head(&pool->idle);
        if (node != NULL) {
            weft__worker_t *idle = weft__list_entry(node, weft__worker_t, idle_link);
            idle->idle = false;
            pool->nidle--;
            pthread_cond_signal(&idle->cond);
        }
    }
    weft__hist_merge(&pool->queue_wait, &w->queue_wait);
    weft__hist_merge(&pool->run_time, &w->run_time);
    weft__list_remove(&w->all_link);
    weft__list_push_tail(&pool->zombies, &w->all_link);
    pthread_cond_broadcast(&pool->stop_cond);
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

/* Starts one more worker. Under mu. Returns 0 or a positive errno. */
static int spawn_worker_locked(weft_pool_t *pool)
{
    weft__worker_t *w = weft__calloc(1, sizeof(*w));
    if (w == NULL)
        return ENOMEM;
    int rc = weft__pool_cond_init(&w->cond);
    if (rc != 0) {
        weft__free(w);
        return rc;
    }
    w->pool = pool;
    w->n = pool->next_thread_n++;
    weft__list_init(&w->idle_link);
    weft__list_init(&w->all_link);
    rc = weft__pool_start_thread(pool, &w->thread, worker_main, w);
    if (rc != 0) {
        pthread_cond_destroy(&w->cond);
        weft__free(w);
        return rc;
    }
    weft__list_push_tail(&pool->workers, &w->all_link);
    pool->threads++;
    pool->threads_started++;
    return 0;
}

/* Logged without mu held: a sink is user code. */
static void log_spawn_failure(const weft_pool_t *pool, int rc)
{
    weft_log(WEFT_LOG_WARN, "pool",
             "pool %s: cannot start a thread (%s); the threads alive carry on", pool->name,
             weft_strerror(-rc));
}

/* Makes sure someone will pick up a newly queued job: wakes the most recently idle worker, or
 * starts a thread if the pool is below max. Under mu. Returns 0, or a positive errno when no
 * thread could be started and the pool has none (*spawn_err: a failure to start one more, to
 * log once mu is dropped). */
static int ensure_worker_locked(weft_pool_t *pool, int *spawn_err)
{
    atomic_store_explicit(&pool->submits,
                          atomic_load_explicit(&pool->submits, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (pool->spinning > 0 && !pool->spin_claimed) {
        pool->spin_claimed = true; /* the spinning worker takes this job: no wake needed */
        return 0;
    }
    weft__list_t *node = weft__list_pop_head(&pool->idle);
    if (node != NULL) {
        weft__worker_t *w = weft__list_entry(node, weft__worker_t, idle_link);
        w->idle = false;
        pool->nidle--;
        pthread_cond_signal(&w->cond);
        return 0;
    }
    if (pool->threads >= pool->max_threads)
        return 0;
    int rc = spawn_worker_locked(pool);
    if (rc != 0 && pool->threads == 0)
        return rc;
    *spawn_err = rc;
    return 0;
}

/* ------------------------------------------------------------------------- public API */

void weft_pool_options_init(weft_pool_options_t *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->name = "pool";
    opts->min_threads = 0;
    opts->max_threads = 0;
    opts->queue_limit = DEFAULT_QUEUE_LIMIT;
    opts->idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
    opts->stack_size = DEFAULT_STACK_SIZE;
    opts->sched = WEFT_POOL_SCHED_NORMAL;
    opts->nice_offset = 0;
    opts->spin_us = DEFAULT_SPIN_US;
}

void weft_pool_options_init_cpu(weft_pool_options_t *opts)
{
    weft_pool_options_init(opts);
    opts->name = "cpu";
    opts->sched = WEFT_POOL_SCHED_BATCH;
    opts->nice_offset = CPU_NICE_OFFSET;
}

void weft_job_options_init(weft_job_options_t *opts)
{
    memset(opts, 0, sizeof(*opts));
}

static unsigned cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

static void set_err(int *err, int code)
{
    if (err != NULL)
        *err = code;
}

weft_pool_t *weft_pool_new(const weft_pool_options_t *opts, int *err)
{
    weft_pool_options_t defaults;
    if (opts == NULL) {
        weft_pool_options_init(&defaults);
        opts = &defaults;
    }
    unsigned max = opts->max_threads ? opts->max_threads : cpu_count();
    if (opts->min_threads > max || opts->nice_offset < 0 || opts->nice_offset > 19 ||
        opts->spin_us > MAX_SPIN_US ||
        (opts->sched != WEFT_POOL_SCHED_NORMAL && opts->sched != WEFT_POOL_SCHED_BATCH)) {
        set_err(err, WEFT_EINVAL);
        return NULL;
    }
    weft_pool_t *pool = weft__calloc(1, sizeof(*pool));
    if (pool == NULL) {
        set_err(err, WEFT_ENOMEM);
        return NULL;
    }
    /* Each pool starts its generations elsewhere, so an id from one pool names no job of
     * another (except by a 1 in 2^32 chance): cancel with a foreign id finds nothing. */
    static atomic_uint pools_made;
    pool->gen_seed =
        (atomic_fetch_add_explicit(&pools_made, 1, memory_order_relaxed) + 1) * 0x9E3779B1u;
    if (pool->gen_seed == 0)
        pool->gen_seed = 1;
    pool->name = weft__strdup(opts->name != NULL && opts->name[0] != '\0' ? opts->name : "pool");
    if (pool->name == NULL) {
        weft__free(pool);
        set_err(err, WEFT_ENOMEM);
        return NULL;
    }
    pthread_mutexattr_t mattr;
    pthread_mutexattr_init(&mattr);
    pthread_mutexattr_settype(&mattr, PTHREAD_MUTEX_ADAPTIVE_NP);
    int rc = pthread_mutex_init(&pool->mu, &mattr);
    pthread_mutexattr_destroy(&mattr);
    WEFT_ASSERT(rc == 0);
    rc = weft__pool_cond_init(&pool->room_cond);
    WEFT_ASSERT(rc == 0);
    rc = weft__pool_cond_init(&pool->stop_cond);
    WEFT_ASSERT(rc == 0);
    rc = weft__pool_cond_init(&pool->timer_cond);
    WEFT_ASSERT(rc == 0);

    long page = sysconf(_SC_PAGESIZE);
    size_t pagesize = page > 0 ? (size_t)page : 4096;
    size_t stack = opts->stack_size ? opts->stack_size : DEFAULT_STACK_SIZE;
    if (stack < (size_t)PTHREAD_STACK_MIN)
        stack = PTHREAD_STACK_MIN;
    pool->stack_size = (stack + pagesize - 1) / pagesize * pagesize;
    uint64_t idle_ms = opts->idle_timeout_ms ? opts->idle_timeout_ms : DEFAULT_IDLE_TIMEOUT_MS;
    pool->idle_timeout_ns = idle_ms > UINT64_MAX / 2000000u ? UINT64_MAX / 2 : idle_ms * 1000000u;
    pool->spin_ns = (uint64_t)opts->spin_us * 1000u;
    pool->sched = opts->sched;
    pool->target_nice = INT32_MIN;
    if (opts->nice_offset > 0) {
        /* The target is computed once, from the creating thread: a thread started later by a
         * worker (which is already niced) must not add the offset a second time. */
        errno = 0;
        int base = getpriority(PRIO_PROCESS, (id_t)gettid());
        if (errno == 0) {
            int target = base + opts->nice_offset;
            pool->target_nice = target > 19 ? 19 : target;
        }
    }
    pool->min_threads = opts->min_threads;
    pool->max_threads = max;
    pool->queue_limit = opts->queue_limit ? opts->queue_limit : DEFAULT_QUEUE_LIMIT;
    weft__list_init(&pool->idle);
    weft__list_init(&pool->workers);
    weft__list_init(&pool->zombies);
    set_err(err, 0);
    return pool;
}

const char *weft_pool_get_name(const weft_pool_t *pool)
{
    return pool->name;
}

int weft_pool_submit(weft_pool_t *pool, weft_job_fn fn, weft_job_done_fn done, void *arg,
                     weft_job_id_t *id)
{
    return weft_pool_submit_ex(pool, NULL, fn, done, arg, id);
}

/* Waits for room in the queue until deadline. Under mu. Returns 0 when there is room. */
static int wait_for_room_locked(weft_pool_t *pool, uint64_t room_timeout_ms)
{
    uint64_t deadline = 0;
    while (pool->queued >= pool->queue_limit) {
        if (room_timeout_ms == 0) {
            pool->rejected++;
            return WEFT_EOVERLOAD;
        }
        if (deadline == 0)
            deadline = weft__pool_deadline_after_ms(room_timeout_ms);
        pool->room_waiters++;
        int rc = weft__pool_cond_wait_until(&pool->room_cond, &pool->mu, deadline);
        pool->room_waiters--;
        if (pool->closed)
            return WEFT_ECLOSED;
        if (rc == ETIMEDOUT && pool->queued >= pool->queue_limit) {
            pool->rejected++;
            return WEFT_ETIMEDOUT;
        }
    }
    return 0;
}

/* What queue_one_locked needs to know about one job. */
typedef struct {
    weft_job_fn fn;
    weft_job_done_fn done;
    void *arg;
    const char *name;
    uint64_t deadline_ns; /* 0: none */
} job_spec_t;

static uint64_t start_deadline(uint64_t now, uint64_t start_timeout_ms)
{
    if (start_timeout_ms == 0 || start_timeout_ms > UINT64_MAX / 2000000u)
        return 0;
    return now + start_timeout_ms * 1000000u;
}

/* Writes what the job is into a record taken from the free stack (state stays FREE until it is
 * queued). Needs no lock: the record is on no list, and no id names it yet. */
static void fill_job(weft__job_t *job, const job_spec_t *spec, uint64_t now)
{
    job->fn = spec->fn;
    job->done = spec->done;
    job->arg = spec->arg;
    job->name = spec->name;
    job->submit_ns = now;
    job->deadline_ns = spec->deadline_ns;
}

/* Queues a filled record: the deadline thread if the job needs it, a worker to run it. Under
 * mu. Returns 0 (and the id in *id) or a weft error code, with the record back on the free
 * stack. */
static int queue_filled_locked(weft_pool_t *pool, weft__job_t *job, int *spawn_err,
                               weft_job_id_t *id)
{
    int rc;
    if ((job->deadline_ns != 0 && (rc = weft__heap_reserve(pool)) != 0) ||
        (rc = weft__queue_reserve(pool, 1)) != 0) {
        put_free_locked(pool, job);
        return rc;
    }
    if (job->deadline_ns != 0 && !pool->timer_started) {
        int trc =
            weft__pool_start_thread(pool, &pool->timer_thread, weft__pool_deadline_main, pool);
        if (trc != 0) {
            put_free_locked(pool, job);
            return errno_to_weft(trc);
        }
        pool->timer_started = true;
        pool->timer_running = true;
    }
    if (pool->nidle == 0 && !weft__list_is_empty(&pool->zombies))
        reap_exited_locked(pool); /* only on the path that may start a thread */
    int wrc = ensure_worker_locked(pool, spawn_err);
    if (wrc != 0) {
        put_free_locked(pool, job);
        return errno_to_weft(wrc);
    }
    job->state = WEFT__JOB_QUEUED;
    job->batch_slot = NULL;
    atomic_store_explicit(&job->cancel, false, memory_order_relaxed);
    atomic_store_explicit(&job->finished, false, memory_order_relaxed);
    weft__queue_push(pool, job);
    pool->queued++;
    pool->submitted++;
    if (job->deadline_ns != 0)
        weft__heap_push(pool, job);
    *id = job_id(job); /* before unlocking: the job cannot start before this */
    return 0;
}

/* Queues one job once there is room. Under mu. As queue_filled_locked. */
static int queue_one_locked(weft_pool_t *pool, const job_spec_t *spec, uint64_t now, int *spawn_err,
                            weft_job_id_t *id)
{
    weft__job_t *job = take_job_locked(pool);
    if (job == NULL)
        return WEFT_ENOMEM;
    fill_job(job, spec, now);
    return queue_filled_locked(pool, job, spawn_err, id);
}

int weft_pool_submit_ex(weft_pool_t *pool, const weft_job_options_t *opts, weft_job_fn fn,
                        weft_job_done_fn done, void *arg, weft_job_id_t *id)
{
    if (pool == NULL || fn == NULL)
        return WEFT_EINVAL;
    uint64_t room_timeout_ms = opts != NULL ? opts->room_timeout_ms : 0;
    uint64_t now = weft__pool_now_ns();
    job_spec_t spec = {fn, done, arg, opts != NULL ? opts->name : NULL,
                       start_deadline(now, opts != NULL ? opts->start_timeout_ms : 0)};

    int spawn_err = 0;
    weft_job_id_t job_id_out = 0;
    pthread_mutex_lock(&pool->mu);
    int rc = pool->closed ? WEFT_ECLOSED : wait_for_room_locked(pool, room_timeout_ms);
    if (rc == 0)
        rc = queue_one_locked(pool, &spec, now, &spawn_err, &job_id_out);
    if (rc == 0 && id != NULL)
        *id = job_id_out;
    pthread_mutex_unlock(&pool->mu);
    if (spawn_err != 0)
        log_spawn_failure(pool, spawn_err);
    return rc;
}

/* Submits up to SLICE jobs of a batch in two short holds of mu, not one long one: the first
 * takes the records off the free stack, the second queues them once they are filled. Filling
 * a record means waiting for its cache line, which the worker that recycled it last holds;
 * done under mu, those waits would keep the workers off the lock for the whole batch (and,
 * on a small machine, put them to sleep on it, to be woken at the unlock). */
#define SLICE 64
static size_t submit_slice(weft_pool_t *pool, weft_pool_batch_job_t *jobs, size_t n, uint64_t now,
                           int *spawn_err)
{
    weft__job_t *recs[SLICE];
    pthread_mutex_lock(&pool->mu);
    size_t room = pool->queued < pool->queue_limit ? pool->queue_limit - pool->queued : 0;
    for (size_t i = 0; i < n; i++) {
        jobs[i].id = 0;
        jobs[i].rc = 0;
        recs[i] = NULL;
        /* Refusals first, as weft_pool_submit_ex gives them, then a record (the queueing
         * below checks closed and the limit again: they may change in between). */
        if (jobs[i].fn == NULL) {
            jobs[i].rc = WEFT_EINVAL;
        } else if (pool->closed) {
            jobs[i].rc = WEFT_ECLOSED;
        } else if (room == 0) {
            pool->rejected++;
            jobs[i].rc = WEFT_EOVERLOAD;
        } else if ((recs[i] = take_job_locked(pool)) == NULL) {
            jobs[i].rc = WEFT_ENOMEM;
        } else {
            room--;
        }
    }
    pthread_mutex_unlock(&pool->mu);

    for (size_t i = 0; i < n; i++) {
        weft_pool_batch_job_t *j = &jobs[i];
        if (recs[i] != NULL) {
            job_spec_t spec = {j->fn, j->done, j->arg, j->name,
                               start_deadline(now, j->start_timeout_ms)};
            fill_job(recs[i], &spec, now);
        }
    }

    size_t queued = 0;
    pthread_mutex_lock(&pool->mu);
    for (size_t i = 0; i < n; i++) {
        weft_pool_batch_job_t *j = &jobs[i];
        if (recs[i] == NULL)
            continue;
        if (pool->closed) {
            put_free_locked(pool, recs[i]);
            j->rc = WEFT_ECLOSED;
            continue;
        }
        if (pool->queued >= pool->queue_limit) {
            put_free_locked(pool, recs[i]);
            pool->rejected++;
            j->rc = WEFT_EOVERLOAD;
            continue;
        }
        j->rc = queue_filled_locked(pool, recs[i], spawn_err, &j->id);
        if (j->rc == 0)
            queued++;
    }
    pthread_mutex_unlock(&pool->mu);
    return queued;
}

size_t weft_pool_submit_batch(weft_pool_t *pool, weft_pool_batch_job_t *jobs, size_t n)
{
    if (n == 0)
        return 0;
    if (pool == NULL) {
        for (size_t i = 0; i < n; i++)
            jobs[i].rc = WEFT_EINVAL;
        return 0;
    }
    uint64_t now = weft__pool_now_ns();
    size_t queued = 0;
    int spawn_err = 0;
    for (size_t i = 0; i < n; i += SLICE)
        queued += submit_slice(pool, jobs + i, n - i < SLICE ? n - i : SLICE, now, &spawn_err);
    if (spawn_err != 0)
        log_spawn_failure(pool, spawn_err);
    return queued;
}

int weft_pool_cancel(weft_pool_t *pool, weft_job_id_t id)
{
    if (pool == NULL)
        return WEFT_EINVAL;
    uint64_t low = id & 0xffffffffu;
    uint32_t gen = (uint32_t)(id >> 32);
    pthread_mutex_lock(&pool->mu);
    if (low == 0 || low > (uint64_t)pool->nchunks * WEFT__JOBS_PER_CHUNK) {
        pthread_mutex_unlock(&pool->mu);
        return WEFT_ENOENT;
    }
    weft__job_t *job = job_at(pool, (size_t)(low - 1));
    if (job->gen != gen || job->state == WEFT__JOB_FREE || job->state == WEFT__JOB_DONE) {
        pthread_mutex_unlock(&pool->mu);
        return WEFT_ENOENT;
    }
    if (job->state == WEFT__JOB_RUNNING) {
        /* Taken in a batch but not started: claimed here, it never runs (as if queued). */
        weft__job_t *expect = job;
        if (job->batch_slot == NULL ||
            !atomic_compare_exchange_strong_explicit(job->batch_slot, &expect, NULL,
                                                     memory_order_acq_rel, memory_order_acquire)) {
            /* Run already (its worker accounts for its batch later): completed. */
            if (atomic_load_explicit(&job->finished, memory_order_relaxed)) {
                pthread_mutex_unlock(&pool->mu);
                return WEFT_ENOENT;
            }
            atomic_store_explicit(&job->cancel, true, memory_order_release);
            pthread_mutex_unlock(&pool->mu);
            return WEFT_EBUSY;
        }
        pool->taken--;
    } else {
        weft__queue_remove(pool, job);
        pool->queued--;
        weft__pool_room_freed_locked(pool);
        if (job->heap_slot != WEFT__NO_HEAP_SLOT)
            weft__heap_remove(pool, job);
    }
    pool->cancelled++;
    weft_job_done_fn done = job->done;
    void *arg = job->arg;
    weft__pool_recycle_locked(pool, job);
    pthread_mutex_unlock(&pool->mu);
    if (done != NULL)
        done(arg, WEFT_ECANCELED);
    return 0;
}

bool weft_job_cancelled(void)
{
    weft__job_t *job = current_job;
    return job != NULL && atomic_load_explicit(&job->cancel, memory_order_acquire);
}

int weft_pool_resize(weft_pool_t *pool, unsigned min_threads, unsigned max_threads)
{
    if (pool == NULL || max_threads == 0 || min_threads > max_threads)
        return WEFT_EINVAL;
    pthread_mutex_lock(&pool->mu);
    if (pool->closed) {
        pthread_mutex_unlock(&pool->mu);
        return WEFT_ECLOSED;
    }
    pool->min_threads = min_threads;
    pool->max_threads = max_threads;
    /* Idle workers re-read the limits: the surplus exits, the rest re-arm their timeout. */
    weft__pool_wake_all_idle_locked(pool);
    weft__pool_reap_locked(pool);
    /* Queued jobs get the new threads now rather than at the next submit. */
    size_t want = pool->queued;
    int spawn_err = 0;
    while (want > 0 && pool->threads < pool->max_threads) {
        if ((spawn_err = spawn_worker_locked(pool)) != 0)
            break;
        want--;
    }
    pthread_mutex_unlock(&pool->mu);
    if (spawn_err != 0)
        log_spawn_failure(pool, spawn_err);
    return 0;
}

void weft_pool_get_stats(weft_pool_t *pool, weft_pool_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (pool == NULL)
        return;
    /* Scratch for the sums, taken before the lock (if it cannot be had, the histograms stay
     * zero: stats never fail). */
    weft__hist_t *wait = weft__malloc(2 * sizeof(*wait));
    pthread_mutex_lock(&pool->mu);
    out->threads = pool->threads;
    out->idle = pool->nidle;
    /* Taken jobs have run (their worker adds them to the counters when its batch ends: they
     * count as completed already), are running, or wait in a batch (counted as queued: not
     * started yet). Workers say which without mu, so the split may lag a job by a moment;
     * the sum is exact. */
    unsigned now_running = 0, ran = 0;
    weft__list_t *pos;
    weft__list_foreach(pos, &pool->workers)
    {
        weft__worker_t *w = weft__list_entry(pos, weft__worker_t, all_link);
        now_running += atomic_load_explicit(&w->job, memory_order_relaxed) != NULL;
        ran += atomic_load_explicit(&w->batch_done, memory_order_relaxed);
    }
    if (ran > pool->taken)
        ran = pool->taken;
    out->completed = pool->completed + ran;
    out->running = now_running < pool->taken - ran ? now_running : pool->taken - ran;
    out->batched = pool->taken - ran - out->running;
    out->min_threads = pool->min_threads;
    out->max_threads = pool->max_threads;
    out->queued = pool->queued + out->batched;
    out->queue_limit = pool->queue_limit;
    out->submitted = pool->submitted;
    out->rejected = pool->rejected;
    out->timed_out = pool->timed_out;
    out->cancelled = pool->cancelled;
    out->threads_started = pool->threads_started;
    if (wait != NULL) {
        weft__hist_t *run = wait + 1;
        *wait = pool->queue_wait;
        *run = pool->run_time;
        weft__list_foreach(pos, &pool->workers)
        {
            weft__worker_t *w = weft__list_entry(pos, weft__worker_t, all_link);
            weft__hist_merge(wait, &w->queue_wait);
            weft__hist_merge(run, &w->run_time);
        }
    }
    pthread_mutex_unlock(&pool->mu);
    if (wait != NULL) {
        weft__hist_export(&wait[0], &out->queue_wait);
        weft__hist_export(&wait[1], &out->run_time);
        weft__free(wait);
    }
}
