/* SPDX-License-Identifier: MIT */
/* A million jobs from eight threads, two of them pool workers: each runs and completes once;
 * batches racing cancels and a stop: each accepted entry hooks once. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <weft/error.h>
#include <weft/threadpool.h>

#include "pool-helpers.h"
#include "tap.h"

#define SUBMITTERS   8
#define FROM_WORKERS 2 /* of the submitters, this many are jobs on the pool itself */

typedef struct {
    weft_pool_t *pool;
    size_t jobs;
    atomic_uchar *runs;
    atomic_uchar *hooks;
    atomic_size_t hook_before_run; /* hooks that found their job not run exactly once */
    atomic_size_t bad_status;
    atomic_size_t submit_errors;
    sem_t workers_done;
} stress_t;

typedef struct {
    stress_t *st;
    size_t first, count;
} slice_t;

static stress_t *stress_of_job; /* one stress run at a time */

static void stress_job(void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;
    atomic_fetch_add_explicit(&stress_of_job->runs[i], 1, memory_order_relaxed);
}

static void stress_done(void *arg, int status)
{
    stress_t *st = stress_of_job;
    size_t i = (size_t)(uintptr_t)arg;
    if (status != 0)
        atomic_fetch_add(&st->bad_status, 1);
    if (atomic_load_explicit(&st->runs[i], memory_order_relaxed) != 1)
        atomic_fetch_add(&st->hook_before_run, 1);
    atomic_fetch_add_explicit(&st->hooks[i], 1, memory_order_relaxed);
}

static void submit_slice(slice_t *sl)
{
    weft_job_options_t jo;
    weft_job_options_init(&jo);
    jo.room_timeout_ms = WEFT_POOL_FOREVER;
    for (size_t i = sl->first; i < sl->first + sl->count; i++) {
        int rc = weft_pool_submit_ex(sl->st->pool, &jo, stress_job, stress_done,
                                     (void *)(uintptr_t)i, NULL);
        if (rc != 0)
            atomic_fetch_add(&sl->st->submit_errors, 1);
    }
}

static void *submitter_thread(void *arg)
{
    submit_slice(arg);
    return NULL;
}

static void submitter_job(void *arg)
{
    submit_slice(arg);
}

static void submitter_job_done(void *arg, int status)
{
    slice_t *sl = arg;
    if (status != 0)
        atomic_fetch_add(&sl->st->bad_status, 1);
    sem_post(&sl->st->workers_done);
}

static size_t job_count(void)
{
    const char *env = getenv("WEFT_STRESS_JOBS");
    if (env != NULL && atoi(env) > 0)
        return (size_t)atoi(env);
    if (getenv("WEFT_UNDER_VALGRIND") != NULL)
        return 20000;
    return 1000000;
}

static void test_million_jobs(void)
{
    stress_t st;
    memset(&st, 0, sizeof(st));
    st.jobs = job_count();
    note("%zu jobs from %d threads, %d of them pool workers", st.jobs, SUBMITTERS, FROM_WORKERS);
    st.runs = calloc(st.jobs, sizeof(*st.runs));
    st.hooks = calloc(st.jobs, sizeof(*st.hooks));
    sem_init(&st.workers_done, 0, 0);
    stress_of_job = &st;
    /* Four threads: two busy submitting, two (at least) running jobs. A small queue makes
     * the submitters wait for room over and over. */
    st.pool = make_pool("stress", 0, 4, 1024);
    if (!check_ptr(st.pool, !=, NULL) || !check_ptr(st.runs, !=, NULL) ||
        !check_ptr(st.hooks, !=, NULL))
        return;
    slice_t slices[SUBMITTERS];
    size_t per = st.jobs / SUBMITTERS;
    for (int t = 0; t < SUBMITTERS; t++) {
        slices[t].st = &st;
        slices[t].first = (size_t)t * per;
        slices[t].count = t == SUBMITTERS - 1 ? st.jobs - slices[t].first : per;
    }
    /* The first submitter job may fill the queue before the second is submitted: wait for
     * room, or the second is refused (WEFT_EOVERLOAD, correctly) and its slice never runs. */
    weft_job_options_t wait_room;
    weft_job_options_init(&wait_room);
    wait_room.room_timeout_ms = WEFT_POOL_FOREVER;
    int submitted_jobs = 0;
    for (int t = 0; t < FROM_WORKERS; t++)
        if (check_err(weft_pool_submit_ex(st.pool, &wait_room, submitter_job, submitter_job_done,
                                          &slices[t], NULL),
                      0))
            submitted_jobs++;
    pthread_t threads[SUBMITTERS];
    for (int t = FROM_WORKERS; t < SUBMITTERS; t++)
        pthread_create(&threads[t], NULL, submitter_thread, &slices[t]);
    for (int t = FROM_WORKERS; t < SUBMITTERS; t++)
        pthread_join(threads[t], NULL);
    for (int t = 0; t < submitted_jobs; t++)
        sem_wait(&st.workers_done);
    check_err(weft_pool_free(st.pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);

    size_t not_once_runs = 0, not_once_hooks = 0;
    for (size_t i = 0; i < st.jobs; i++) {
        not_once_runs += atomic_load(&st.runs[i]) != 1;
        not_once_hooks += atomic_load(&st.hooks[i]) != 1;
    }
    check_uint(atomic_load(&st.submit_errors), ==, 0);
    check_uint(not_once_runs, ==, 0);
    check_uint(not_once_hooks, ==, 0);
    check_uint(atomic_load(&st.hook_before_run), ==, 0);
    check_uint(atomic_load(&st.bad_status), ==, 0);
    sem_destroy(&st.workers_done);
    free(st.runs);
    free(st.hooks);
}

/* Cancels racing with workers: every job either runs or is cancelled, never both, and its
 * hook runs exactly once either way. */
typedef struct {
    weft_pool_t *pool;
    size_t jobs;
    weft_job_id_t *ids;
    atomic_uchar *runs;
    atomic_uchar *hooks;
    atomic_size_t cancelled_hooks;
    atomic_size_t ok_hooks;
} race_t;

static race_t *race_of_job;

static void race_job(void *arg)
{
    atomic_fetch_add(&race_of_job->runs[(size_t)(uintptr_t)arg], 1);
}

static void race_done(void *arg, int status)
{
    race_t *r = race_of_job;
    atomic_fetch_add(&r->hooks[(size_t)(uintptr_t)arg], 1);
    atomic_fetch_add(status == 0 ? &r->ok_hooks : &r->cancelled_hooks, 1);
}

static void test_cancel_races(void)
{
    race_t r;
    memset(&r, 0, sizeof(r));
    r.jobs = getenv("WEFT_UNDER_VALGRIND") ? 5000 : 100000;
    r.ids = calloc(r.jobs, sizeof(*r.ids));
    r.runs = calloc(r.jobs, sizeof(*r.runs));
    r.hooks = calloc(r.jobs, sizeof(*r.hooks));
    race_of_job = &r;
    r.pool = make_pool("race", 0, 2, r.jobs);
    if (!check_ptr(r.pool, !=, NULL))
        return;
    size_t zero = 0, busy = 0, gone = 0, other = 0;
    for (size_t i = 0; i < r.jobs; i++) {
        check_err(weft_pool_submit(r.pool, race_job, race_done, (void *)(uintptr_t)i, &r.ids[i]),
                  0);
        if (i % 2 == 1) {
            int rc = weft_pool_cancel(r.pool, r.ids[i - 1]);
            zero += rc == 0;
            busy += rc == WEFT_EBUSY;
            gone += rc == WEFT_ENOENT;
            other += rc != 0 && rc != WEFT_EBUSY && rc != WEFT_ENOENT;
        }
    }
    check_err(weft_pool_free(r.pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    note("cancel outcomes: %zu cancelled, %zu running, %zu finished", zero, busy, gone);
    size_t bad = 0;
    for (size_t i = 0; i < r.jobs; i++)
        bad += atomic_load(&r.hooks[i]) != 1 || atomic_load(&r.runs[i]) > 1;
    check_uint(bad, ==, 0);
    check_uint(other, ==, 0);
    check_uint(atomic_load(&r.cancelled_hooks), ==, zero);
    check_uint(atomic_load(&r.ok_hooks) + atomic_load(&r.cancelled_hooks), ==, r.jobs);
    free(r.ids);
    free(r.runs);
    free(r.hooks);
}

/* Batches (weft_pool_submit_batch: records taken and queued in two holds of the lock) against
 * concurrent cancels and a stop: every accepted entry hooks exactly once, refused ones never. */
#define BT_NB     150
#define BT_ROUNDS 60

static atomic_int bt_hooks, bt_accepted;
static _Atomic weft_job_id_t bt_ids[256];
static atomic_bool bt_done;

static void bt_nop(void *arg)
{
    (void)arg;
}

static void bt_hook(void *arg, int status)
{
    (void)arg;
    (void)status;
    atomic_fetch_add(&bt_hooks, 1);
}

typedef struct {
    weft_pool_t *pool;
    int refused_closed;
} sub_t;

static void *bt_submitter(void *arg)
{
    sub_t *s = arg;
    weft_pool_batch_job_t jobs[BT_NB];
    for (int round = 0; round < BT_ROUNDS; round++) {
        for (int i = 0; i < BT_NB; i++)
            jobs[i] = (weft_pool_batch_job_t){.fn = bt_nop,
                                              .done = bt_hook,
                                              .arg = NULL,
                                              .start_timeout_ms = (i % 3 == 0) ? 1000 : 0};
        size_t q = weft_pool_submit_batch(s->pool, jobs, BT_NB);
        size_t seen = 0;
        for (int i = 0; i < BT_NB; i++) {
            if (jobs[i].rc == 0) {
                seen++;
                atomic_store(&bt_ids[(round * BT_NB + i) & 255], jobs[i].id);
            } else if (jobs[i].rc == WEFT_ECLOSED) {
                s->refused_closed++;
            }
        }
        if (seen != q)
            diag("batch returned %zu but %zu entries have rc 0", q, seen);
        atomic_fetch_add(&bt_accepted, (int)seen);
    }
    return NULL;
}

static void *bt_canceller(void *arg)
{
    weft_pool_t *pool = arg;
    unsigned k = 0;
    while (!atomic_load(&bt_done)) {
        weft_job_id_t id = atomic_load(&bt_ids[k++ & 255]);
        if (id != 0) {
            int rc = weft_pool_cancel(pool, id);
            (void)rc;
        }
    }
    return NULL;
}

static void bt_run(bool stop_midway)
{
    atomic_store(&bt_hooks, 0);
    atomic_store(&bt_accepted, 0);
    atomic_store(&bt_done, false);
    for (int i = 0; i < 256; i++)
        atomic_store(&bt_ids[i], 0);
    weft_pool_options_t o;
    weft_pool_options_init(&o);
    o.max_threads = 2;
    o.queue_limit = 200;
    weft_pool_t *pool = weft_pool_new(&o, NULL);
    if (!check(pool != NULL))
        return;
    sub_t s1 = {pool, 0}, s2 = {pool, 0};
    pthread_t a, b, c;
    pthread_create(&a, NULL, bt_submitter, &s1);
    pthread_create(&b, NULL, bt_submitter, &s2);
    pthread_create(&c, NULL, bt_canceller, pool);
    if (stop_midway) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        check_err(weft_pool_stop(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    }
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    atomic_store(&bt_done, true);
    pthread_join(c, NULL);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&bt_hooks), ==, atomic_load(&bt_accepted));
    diag("accepted %d, refused closed %d", atomic_load(&bt_accepted),
         s1.refused_closed + s2.refused_closed);
}

static void test_batches_with_cancels(void)
{
    bt_run(false);
}

static void test_batches_with_cancels_and_stop(void)
{
    bt_run(true);
}

int main(void)
{
    TEST(test_million_jobs(),
         "1M jobs from 8 threads (2 of them workers) each run once and complete once");
    TEST(test_cancel_races(),
         "cancels racing with workers: every job runs or is cancelled, its hook runs once");
    TEST(test_batches_with_cancels(),
         "two batch submitters and a canceller: every accepted entry hooks exactly once");
    TEST(test_batches_with_cancels_and_stop(),
         "the same with a stop midway: accepted entries hook once, the rest are refused");
    return done_testing();
}
