/* SPDX-License-Identifier: MIT */
/* The pool's insides, shared by pool.c, deadline.c and stats.c (threadpool/ only). */
#ifndef WEFT_THREADPOOL_POOL_INTERNAL_H
#define WEFT_THREADPOOL_POOL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <weft/threadpool.h>

#include "../common/list-internal.h"

/* Job records live in chunks of this many, never freed before the pool; a job's index names
 * its chunk and slot, so a handle is checked without trusting any pointer. */
#define WEFT__JOBS_PER_CHUNK 64u
#define WEFT__NO_HEAP_SLOT   SIZE_MAX
#define WEFT__CACHE_LINE     64u
#define WEFT__TAKE_MAX       8u /* jobs a worker takes per hold of the lock, at most */

typedef enum {
    WEFT__JOB_FREE = 0, /* on the free list */
    WEFT__JOB_QUEUED,   /* on the queue (and in the deadline heap if it has a deadline) */
    WEFT__JOB_RUNNING,  /* taken by a worker: run, about to be, or waiting in its batch */
    WEFT__JOB_DONE,     /* off the queue, its cancel/timeout hook about to run */
} weft__job_state_t;

/* One job record. Every field but `cancel` is guarded by the pool's mutex, except that the
 * worker that took a job reads fn, done, arg and name without the lock while the job is
 * RUNNING (nobody writes them then), and so does the thread running a DONE job's hook. */
typedef struct weft__job_s {
    _Alignas(WEFT__CACHE_LINE) weft__list_t link; /* a stop's or the deadline thread's list */
    weft_job_fn fn;
    weft_job_done_fn done;
    void *arg;
    const char *name;
    uint64_t submit_ns;
    uint64_t deadline_ns; /* 0: none */
    uint64_t qpos;        /* QUEUED: its position in the queue ring */
    /* RUNNING and taken with others: the batch slot that holds it until someone claims it
     * (weft__worker_t.batch); NULL when taken alone. Stale once claimed: the slot no longer
     * holds this job, which is all a claim checks. */
    _Atomic(struct weft__job_s *) *batch_slot;
    size_t heap_slot; /* index in the deadline heap, or WEFT__NO_HEAP_SLOT */
    uint32_t index;   /* slot number in the chunk table */
    uint32_t gen;     /* bumped each time the record is recycled */
    weft__job_state_t state;
    atomic_bool cancel;   /* the cooperative flag: set by cancel, read by the running job */
    atomic_bool finished; /* RUNNING: its function has returned (a cancel answers ENOENT) */
} weft__job_t;

/* A histogram as kept inside the pool (percentiles are computed on read). */
typedef struct {
    uint64_t count;
    uint64_t max_ns;
    uint64_t sum_ns;
    uint64_t buckets[WEFT_POOL_HIST_BUCKETS];
} weft__hist_t;

/* One worker thread. Guarded by the pool's mutex. */
typedef struct weft__worker_s {
    weft__list_t idle_link; /* in pool->idle while waiting for work */
    weft__list_t all_link;  /* in pool->workers while alive, then in pool->zombies */
    pthread_t thread;
    pthread_cond_t cond; /* signalled to wake this worker alone (LIFO wake) */
    struct weft_pool_s *pool;
    /* The job it runs and since when, for a stop's report (written by the worker, read under
     * mu by the stop). */
    _Atomic(weft__job_t *) job;
    _Atomic uint64_t job_start_ns;
    /* The jobs it took in one hold of mu, run in order. Each is claimed by exchanging its
     * slot with NULL: by this worker before running it, or first by another worker that has
     * nothing else to do (stealing), a cancel or a stop; whoever claims a job accounts for it.
     * nbatch (under mu) says how many slots the last take filled. */
    _Atomic(weft__job_t *) batch[WEFT__TAKE_MAX];
    unsigned nbatch;
    /* Jobs of the current batch that have run, not yet added to the pool's counters (the
     * worker does that under mu when the batch ends); written by the worker alone, read by
     * weft_pool_get_stats, so that a finished job counts as completed at once. */
    atomic_uint batch_done;
    bool idle;
    unsigned n; /* its number in the thread name */
    /* This worker's share of the pool's histograms: written under mu like the rest, but on a
     * line only this worker writes, so recording a job costs no cache miss. Merged into the
     * pool's on exit; weft_pool_get_stats adds up the live ones. */
    weft__hist_t queue_wait;
    weft__hist_t run_time;
    char thread_name[16];
} weft__worker_t;

struct weft_pool_s {
    /* The lock and what every submit and every job touches, packed into as few cache lines
     * as possible: each line touched under mu is a likely miss from another CPU. */
    pthread_mutex_t mu; /* guards everything below but the constants; the only lock */
    uint32_t gen_seed;  /* first generation of this pool's job records (constant) */
    /* The FIFO of QUEUED jobs: a ring of pointers holding positions ring_head up to
     * ring_tail, with NULL where a job left before its turn (cancel, deadline). A pop reads
     * the array, not the records: a linked queue made each pop write into the next job's
     * record, whose line the submitter had just filled, one miss after another. */
    weft__job_t **ring;
    uint64_t ring_mask; /* capacity - 1 (0 before the first submit) */
    uint64_t ring_head, ring_tail;
    size_t queued; /* jobs in the ring (holes not counted) */
    /* FREE jobs, a stack kept in an array (the most recently used last): popping reads the
     * array, not the record, whose line a worker may hold; a linked stack would make every
     * submit wait for that line before it could take the next record. */
    weft__job_t **free_jobs;
    size_t nfree;
    weft__list_t idle; /* idle workers, the most recently idle first */
    unsigned nidle;
    unsigned threads;
    unsigned max_threads;
    unsigned room_waiters;
    unsigned taken; /* jobs workers took off the queue and have not finished */
    bool closed;
    unsigned spinning;   /* workers watching for work before they sleep (0 or 1) */
    bool spin_claimed;   /* a submit has counted on the spinning worker to take its job */
    atomic_uint submits; /* bumped by each queued job: what a spinning worker watches */
    size_t queue_limit;
    uint64_t submitted, completed;

    pthread_cond_t room_cond;  /* submitters waiting for room in the queue */
    pthread_cond_t stop_cond;  /* a stop waiting for threads to exit */
    pthread_cond_t timer_cond; /* the deadline thread waiting for the next deadline */

    /* Constants after weft_pool_new. */
    char *name;
    size_t stack_size;
    uint64_t idle_timeout_ns;
    uint64_t spin_ns; /* how long a worker that just finished a job watches for the next */
    weft_pool_sched_t sched;
    int target_nice; /* nice value for threads; INT32_MIN: leave as inherited */

    unsigned min_threads; /* resize changes it, as it does max_threads */

    weft__job_t **chunks; /* chunk i holds records i * 64 ... i * 64 + 63 */
    void **chunk_mem;     /* what to free for chunk i (chunks[i] is aligned inside it) */
    size_t nchunks;
    size_t chunks_cap;

    weft__job_t **heap; /* min-heap of queued jobs with a deadline, by deadline_ns */
    size_t heap_len;
    size_t heap_cap;

    weft__list_t workers; /* every live worker */
    weft__list_t zombies; /* exited workers waiting to be joined */
    unsigned next_thread_n;

    bool timer_started; /* the deadline thread was created and not yet joined */
    bool timer_running; /* it has not exited yet */
    pthread_t timer_thread;

    uint64_t rejected, timed_out, cancelled, threads_started;
    /* Histograms of workers that have exited; live workers keep their own (see worker_t). */
    weft__hist_t queue_wait;
    weft__hist_t run_time;
};

/* Monotonic clock, nanoseconds. */
uint64_t weft__pool_now_ns(void);

/* Milliseconds to a deadline from now; UINT64_MAX for WEFT_POOL_FOREVER or overflow. */
uint64_t weft__pool_deadline_after_ms(uint64_t ms);

/* pthread_cond_timedwait on a CLOCK_MONOTONIC condvar until deadline_ns (UINT64_MAX: no
 * deadline). Returns 0 or ETIMEDOUT. */
int weft__pool_cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *mu, uint64_t deadline_ns);

/* Initialises a condvar on CLOCK_MONOTONIC. Returns 0 or a positive errno. */
int weft__pool_cond_init(pthread_cond_t *cond);

/* Claims, for whoever calls, every job still waiting in a worker's batch, appending them to
 * out (linked by `link`), each counted as no longer running; returns how many. Under mu. */
size_t weft__pool_claim_batches_locked(weft_pool_t *pool, weft__list_t *out);

/* Back to the free list with a new generation. Under mu. */
void weft__pool_recycle_locked(weft_pool_t *pool, weft__job_t *job);

/* Wakes one submitter waiting for room, if any. Under mu. */
void weft__pool_room_freed_locked(weft_pool_t *pool);

/* Joins and frees every exited worker. Under mu. */
void weft__pool_reap_locked(weft_pool_t *pool);

/* Takes every idle worker off the idle stack and wakes it, so that it re-reads the queue,
 * closed and the limits. Under mu. */
void weft__pool_wake_all_idle_locked(weft_pool_t *pool);

/* Starts a pool thread running fn with every asynchronous signal blocked. Under mu or not. */
int weft__pool_start_thread(weft_pool_t *pool, pthread_t *thread, void *(*fn)(void *), void *arg);

/* Names the calling thread weft-<pool name>-<suffix>, cut to 15 bytes; writes the name to
 * out[16] too. */
void weft__pool_name_thread(const weft_pool_t *pool, const char *suffix, char out[16]);

/* Set on each of the pool's threads: the pool it belongs to. */
extern _Thread_local weft_pool_t *weft__pool_current;

/* The queue ring (pool.c). All under mu. reserve makes room for n more positions (0 or
 * WEFT_ENOMEM); push needs that room; peek returns the oldest job or NULL, pop takes it;
 * remove leaves a hole where a queued job was. None of them counts `queued`. */
int weft__queue_reserve(weft_pool_t *pool, size_t n);
void weft__queue_push(weft_pool_t *pool, weft__job_t *job);
weft__job_t *weft__queue_peek(weft_pool_t *pool);
weft__job_t *weft__queue_pop(weft_pool_t *pool);
void weft__queue_remove(weft_pool_t *pool, weft__job_t *job);

/* deadline.c: the min-heap of deadlines and the deadline thread. All under mu. */
int weft__heap_reserve(weft_pool_t *pool);
void weft__heap_push(weft_pool_t *pool, weft__job_t *job);
void weft__heap_remove(weft_pool_t *pool, weft__job_t *job);
void *weft__pool_deadline_main(void *arg);

/* stats.c */
void weft__hist_add(weft__hist_t *h, uint64_t ns);
void weft__hist_export(const weft__hist_t *h, weft_pool_hist_t *out);
void weft__hist_merge(weft__hist_t *into, const weft__hist_t *from);

#endif /* WEFT_THREADPOOL_POOL_INTERNAL_H */
