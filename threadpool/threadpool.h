/* SPDX-License-Identifier: MIT */
/* Worker pools on pthreads: bounded queues, start deadlines, cancel, stats, a stop that never
 * hangs. */
#ifndef WEFT_THREADPOOL_THREADPOOL_H
#define WEFT_THREADPOOL_THREADPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/compiler.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A pool runs jobs on its own pthreads. Every function here may be called from any thread,
 * workers of the pool included, except weft_pool_stop and weft_pool_free, which wait for the
 * pool's threads and so refuse to run on them (WEFT_EWRONGTHREAD).
 *
 * Every job whose submit returned 0 gets its completion hook called exactly once, with one of
 * these statuses:
 *   0               the job function ran (the hook runs on the same worker right after it);
 *   WEFT_ECANCELED  removed from the queue by weft_pool_cancel (hook runs on the cancelling
 *                   thread) or by a stop in WEFT_POOL_STOP_CANCEL mode (hook runs on the
 *                   stopping thread); the job function never runs;
 *   WEFT_ETIMEDOUT  its start deadline passed while it was still queued (hook runs on a thread
 *                   of the pool: the pool's deadline thread, or the worker that found it
 *                   expired); the job function never runs.
 * A submit that returns an error never calls either function. No pool lock is held while a
 * job function or a completion hook runs.
 *
 * fork() after a pool has started threads is not supported.
 */
typedef struct weft_pool_s weft_pool_t;

/* A job's handle for weft_pool_cancel. Never 0 for a submitted job. A handle goes stale once
 * its job has completed: the pool recycles job records, and a stale handle never matches a
 * later job (a per-record generation counter is part of it). */
typedef uint64_t weft_job_id_t;

/* The job itself. Runs on a worker of the pool, with no pool lock held. arg is the submit's. */
typedef void (*weft_job_fn)(void *arg);

/* The completion hook: runs exactly once per accepted job, with status 0, WEFT_ECANCELED or
 * WEFT_ETIMEDOUT (which thread runs it: see above). It must not block for long: the thread it
 * runs on serves other jobs. */
typedef void (*weft_job_done_fn)(void *arg, int status);

/* Wait forever, where a timeout in milliseconds is asked for. */
#define WEFT_POOL_FOREVER UINT64_MAX

/* How the pool's threads are scheduled (Linux). */
typedef enum {
    WEFT_POOL_SCHED_NORMAL = 0, /* as the thread that made the pool */
    WEFT_POOL_SCHED_BATCH = 1,  /* SCHED_BATCH: scheduled as CPU-bound batch work, so that a
                                 * waking interactive thread is favoured over it */
} weft_pool_sched_t;

/*
 * Options for weft_pool_new. Fill with weft_pool_options_init (or _init_cpu), then change the
 * fields you care about. A zero field means "the default" wherever a default is given.
 */
typedef struct {
    const char *name;         /* copied; threads are named weft-<name>-<n>. Default "pool" */
    unsigned min_threads;     /* idle threads kept alive past idle_timeout_ms. Default 0 */
    unsigned max_threads;     /* threads started at most (lazily). 0: the CPUs we may run on */
    size_t queue_limit;       /* jobs queued (not running) at most. 0: 65536 */
    uint64_t idle_timeout_ms; /* an idle thread above min exits after this. 0: 10000 */
    size_t stack_size;        /* bytes per thread, rounded up to the page size. 0: 4 MiB */
    weft_pool_sched_t sched;  /* scheduling class of the threads. Default NORMAL (CPU: BATCH) */
    int nice_offset;          /* added to each thread's nice value, 0..19. Default 0 (CPU: 5) */
    unsigned spin_us;         /* a worker that finishes a job and finds the queue empty
                               * watches it this long before it sleeps (one worker per pool at
                               * a time, yielding the CPU as it watches), so that a job sent
                               * right after a reply needs no thread wake-up. 0..10000; 0: never.
                               * Default 50 (not zero: the options_init functions set it) */
} weft_pool_options_t;

/* Fills opts with the defaults for a general (blocking I/O) pool: every field as documented
 * above, name "pool", sched NORMAL, nice_offset 0. Thread: any. */
WEFT_EXPORT void weft_pool_options_init(weft_pool_options_t *opts);

/* Fills opts with the defaults for a CPU pool: as weft_pool_options_init, plus name "cpu",
 * sched WEFT_POOL_SCHED_BATCH and nice_offset 5, so that the pool's threads yield the CPU to
 * an event loop thread when it wakes. Thread: any. */
WEFT_EXPORT void weft_pool_options_init_cpu(weft_pool_options_t *opts);

/*
 * Makes a pool. No thread starts yet: threads start as work arrives, up to max_threads.
 * opts is borrowed for the call (NULL: the weft_pool_options_init defaults). Returns an owned
 * pool, released with weft_pool_free. Thread: any.
 * Returns: the pool, and *err (if err is not NULL) set to 0; NULL and *err set to
 * WEFT_EINVAL if min_threads > max_threads, nice_offset is outside 0..19, spin_us is over
 * 10000, or sched is not a
 * weft_pool_sched_t; WEFT_ENOMEM when out of memory.
 */
WEFT_EXPORT WEFT_NODISCARD weft_pool_t *weft_pool_new(const weft_pool_options_t *opts, int *err);

/* The pool's name (as given in the options). Borrowed: valid until weft_pool_free returns 0.
 * Thread: any. */
WEFT_EXPORT const char *weft_pool_get_name(const weft_pool_t *pool);

/* Options for one job. Fill with weft_job_options_init; zero fields mean the defaults. */
typedef struct {
    const char *name;          /* borrowed until the hook has run; logged if the job hangs a
                                * stop. Default NULL ("(unnamed)") */
    uint64_t start_timeout_ms; /* the job must start within this or it completes with
                                * WEFT_ETIMEDOUT and never runs. 0: no deadline */
    uint64_t room_timeout_ms;  /* when the queue is full, wait this long for room.
                                * 0: fail at once (WEFT_EOVERLOAD); WEFT_POOL_FOREVER */
} weft_job_options_t;

/* Fills opts with the defaults: no name, no start deadline, no waiting for room. Thread: any. */
WEFT_EXPORT void weft_job_options_init(weft_job_options_t *opts);

/*
 * Queues fn(arg) on pool; after fn returns, done(arg, 0) runs on the same worker. done may be
 * NULL. The pool borrows arg and never frees it (done is the place to). If id is not NULL,
 * the job's handle is stored there before the job can start. Thread: any.
 * Returns: 0 (done will run exactly once); WEFT_EINVAL if pool or fn is NULL;
 * WEFT_EOVERLOAD if queue_limit jobs are already queued; WEFT_ECLOSED once weft_pool_stop
 * or weft_pool_free has begun; WEFT_EAGAIN if the pool has no thread and none could be
 * started (or, for a job with a start deadline, the pool's deadline thread could not be
 * started); WEFT_ENOMEM when out of memory.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_pool_submit(weft_pool_t *pool, weft_job_fn fn,
                                                weft_job_done_fn done, void *arg,
                                                weft_job_id_t *id);

/*
 * As weft_pool_submit, with a name, a start deadline and waiting for room as opts asks
 * (borrowed for the call; NULL: the defaults). Waiting for room from a worker of the same
 * pool is allowed but can wait out its whole timeout if every worker does so. Thread: any.
 * Returns: as weft_pool_submit, and WEFT_ETIMEDOUT if the queue stayed full for
 * room_timeout_ms; WEFT_ECLOSED also if the pool stops while the call waits for room.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_pool_submit_ex(weft_pool_t *pool,
                                                   const weft_job_options_t *opts, weft_job_fn fn,
                                                   weft_job_done_fn done, void *arg,
                                                   weft_job_id_t *id);

/* One job of a weft_pool_submit_batch call: the caller fills the inputs, the call the outputs. */
typedef struct {
    weft_job_fn fn;            /* in: the job (NULL: this entry fails with WEFT_EINVAL) */
    weft_job_done_fn done;     /* in: its completion hook, or NULL */
    void *arg;                 /* in: borrowed, as for weft_pool_submit */
    const char *name;          /* in: as weft_job_options_t.name */
    uint64_t start_timeout_ms; /* in: as weft_job_options_t.start_timeout_ms */
    weft_job_id_t id;          /* out: the job's handle when rc is 0 */
    int rc;                    /* out: what weft_pool_submit would have returned */
} weft_pool_batch_job_t;

/*
 * Queues the n jobs of the array in order, as n calls of weft_pool_submit_ex would (never
 * waiting for room: a job that finds the queue full gets WEFT_EOVERLOAD). Each entry says how
 * it went in rc; an entry with rc 0 gets its hook called exactly once, one with an error never.
 * Made for a submitter that gathers the jobs of one loop iteration (the bridge does): each
 * slice of 64 takes the pool's lock twice, briefly (records, then queueing; the records are
 * filled in between without it), not once per job. jobs is borrowed for the call. Thread: any.
 * Returns: how many entries were queued (rc 0); 0 for n == 0; with a NULL pool every entry
 * gets WEFT_EINVAL.
 */
WEFT_EXPORT size_t weft_pool_submit_batch(weft_pool_t *pool, weft_pool_batch_job_t *jobs, size_t n);

/*
 * Cancels the job id. A queued job is removed and its hook runs with WEFT_ECANCELED on this
 * thread before the call returns; its function never runs. A running job is not interrupted:
 * its cooperative cancel flag is set (see weft_job_cancelled) and it completes as usual.
 * Thread: any.
 * Returns: 0 if the job was queued and is now cancelled; WEFT_EBUSY if it is running (flag
 * set); WEFT_ENOENT if id names no pending job of this pool (completed, completing, or never
 * submitted here); WEFT_EINVAL if pool is NULL.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_pool_cancel(weft_pool_t *pool, weft_job_id_t id);

/*
 * True when the job running on this thread has been asked to stop by weft_pool_cancel; the
 * job may then return early. False outside a job. Thread: worker.
 */
WEFT_EXPORT bool weft_job_cancelled(void);

/*
 * Changes the thread limits at run time. Raising max starts threads at once for queued jobs;
 * lowering it lets surplus threads exit (idle ones now, busy ones after their current job).
 * Thread: any.
 * Returns: 0; WEFT_EINVAL if pool is NULL, max_threads is 0 or min_threads > max_threads;
 * WEFT_ECLOSED once the pool is stopping.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_pool_resize(weft_pool_t *pool, unsigned min_threads,
                                                unsigned max_threads);

/* Histogram buckets: log-scaled, four per power of two, in nanoseconds. */
#define WEFT_POOL_HIST_BUCKETS 256

/* A latency histogram. Percentiles are the upper bound of the bucket holding them, so they
 * overstate by at most 25%; max is exact. All zero when count is 0. */
typedef struct {
    uint64_t count;
    uint64_t p50_ns;
    uint64_t p90_ns;
    uint64_t p99_ns;
    uint64_t max_ns;
    uint64_t sum_ns;
    uint64_t buckets[WEFT_POOL_HIST_BUCKETS]; /* bucket i: weft_pool_hist_bucket_floor(i) up to
                                               * the next bucket's floor */
} weft_pool_hist_t;

/* The lowest value (ns) that falls in histogram bucket i (0 for i out of range). Thread: any. */
WEFT_EXPORT uint64_t weft_pool_hist_bucket_floor(unsigned i);

/* A snapshot of a pool's counters, taken under its lock, so the numbers agree with each
 * other. Totals count since weft_pool_new. */
typedef struct {
    unsigned threads;     /* threads alive */
    unsigned idle;        /* of which waiting for work */
    unsigned running;     /* jobs whose function or hook is running now */
    unsigned min_threads; /* the limits in force */
    unsigned max_threads;
    size_t queued;  /* jobs waiting to start, batched ones included */
    size_t batched; /* of which taken by a busy worker in a batch (see weft_pool_cancel) */
    size_t queue_limit;
    uint64_t submitted; /* submits that returned 0 */
    uint64_t completed; /* jobs that ran, hook included */
    uint64_t rejected;  /* submits refused for lack of room (EOVERLOAD, ETIMEDOUT) */
    uint64_t timed_out; /* jobs that missed their start deadline */
    uint64_t cancelled; /* jobs removed from the queue by cancel or a cancelling stop */
    uint64_t threads_started;
    weft_pool_hist_t queue_wait; /* submit to start, for jobs that ran */
    weft_pool_hist_t run_time;   /* start to end of the job function and its hook (a
                                    batch's jobs enter both when the batch ends) */
} weft_pool_stats_t;

/* Copies a snapshot of pool's counters into *out (borrowed). Works at any time, after a stop
 * too. Thread: any. */
WEFT_EXPORT void weft_pool_get_stats(weft_pool_t *pool, weft_pool_stats_t *out);

/* What a stop does with jobs still queued. */
typedef enum {
    WEFT_POOL_STOP_DRAIN = 0,  /* run them (subject to their start deadlines) */
    WEFT_POOL_STOP_CANCEL = 1, /* complete them with WEFT_ECANCELED on the stopping thread */
} weft_pool_stop_mode_t;

/*
 * Stops pool: from now on every submit fails with WEFT_ECLOSED; queued jobs are handled as
 * mode says; then waits up to timeout_ms (WEFT_POOL_FOREVER: no limit) for the queue to
 * empty and every running job to finish, and joins the threads that have exited. A job still
 * running at the deadline is logged (component "pool", level warn) with its name and thread.
 * Calling it again waits again (a CANCEL after a DRAIN cancels what is still queued). The
 * pool stays valid: stats remain readable until weft_pool_free. Thread: any, not from pool's
 * own workers.
 * Returns: 0 when every thread has exited and been joined; WEFT_ETIMEDOUT if jobs were still
 * running or queued at the deadline; WEFT_EWRONGTHREAD when called from one of pool's threads
 * or from a hook this pool's stop is running (nothing is done then); WEFT_EINVAL if pool is NULL or
 * mode is not a weft_pool_stop_mode_t.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_pool_stop(weft_pool_t *pool, weft_pool_stop_mode_t mode,
                                              uint64_t timeout_ms);

/*
 * Stops pool as weft_pool_stop does, then releases it. If a job is still running at the
 * deadline the pool is NOT released (its thread still uses it): the call returns
 * WEFT_ETIMEDOUT, the pool stays valid and stopped, and a later weft_pool_free finishes the
 * job. weft_pool_free(NULL, ...) does nothing and returns 0. It must not run concurrently with
 * any other call on pool (it releases what they use). Thread: any, not from pool's own
 * workers.
 * Returns: 0 when released (every hook has run and every thread is joined); WEFT_ETIMEDOUT as
 * above; WEFT_EWRONGTHREAD from one of pool's threads (nothing is done then); WEFT_EINVAL for
 * a bad mode.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_pool_free(weft_pool_t *pool, weft_pool_stop_mode_t mode,
                                              uint64_t timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_THREADPOOL_THREADPOOL_H */
