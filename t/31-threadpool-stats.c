/* SPDX-License-Identifier: MIT */
/* Pool statistics: counters that add up, histograms of queue wait and run time. */
#include <stdint.h>
#include <stdlib.h>

#include "pool-helpers.h"
#include "tap.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Waits, on this thread, until the monotonic clock has moved ns past t0. The test only relies
 * on "at least ns passed", which this guarantees whatever the scheduling. */
static void until_after(uint64_t t0, uint64_t ns)
{
    while (now_ns() - t0 < ns) {
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
}

static void test_new_pool_stats_zero(void)
{
    weft_pool_t *pool = make_pool("stats", 1, 3, 100);
    if (!check_ptr(pool, !=, NULL))
        return;
    weft_pool_stats_t s = pool_stats(pool);
    check_uint(s.threads, ==, 0);
    check_uint(s.idle, ==, 0);
    check_uint(s.running, ==, 0);
    check_uint(s.queued, ==, 0);
    check_uint(s.submitted + s.completed + s.rejected + s.timed_out + s.cancelled, ==, 0);
    check_uint(s.min_threads, ==, 1);
    check_uint(s.max_threads, ==, 3);
    check_uint(s.queue_limit, ==, 100);
    check_uint(s.queue_wait.count + s.run_time.count, ==, 0);
    check_uint(s.run_time.p99_ns + s.run_time.max_ns, ==, 0);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, 0), 0);
}

static void test_totals_add_up(void)
{
    gate_t hold, g;
    gate_init(&hold);
    gate_init(&g);
    weft_pool_t *pool = make_pool("totals", 0, 1, 10);
    if (!check_ptr(pool, !=, NULL))
        return;
    for (int i = 0; i < 7; i++) /* completed */
        check_err(weft_pool_submit(pool, count_job, count_done, &g, NULL), 0);
    gate_wait_hooked(&g, 7);
    check_err(weft_pool_submit(pool, gated_job, count_done, &hold, NULL), 0);
    gate_wait_started(&hold, 1);
    weft_job_id_t ids[3];
    for (int i = 0; i < 3; i++) /* cancelled */
        check_err(weft_pool_submit(pool, count_job, count_done, &g, &ids[i]), 0);
    for (int i = 0; i < 3; i++)
        check_err(weft_pool_cancel(pool, ids[i]), 0);
    weft_job_options_t jo;
    weft_job_options_init(&jo);
    jo.start_timeout_ms = 1;
    for (int i = 0; i < 2; i++) /* timed out */
        check_err(weft_pool_submit_ex(pool, &jo, count_job, count_done, &g, NULL), 0);
    gate_wait_hooked(&g, 5);
    for (int i = 0; i < 10; i++) /* queued, then drained */
        check_err(weft_pool_submit(pool, count_job, count_done, &g, NULL), 0);
    for (int i = 0; i < 4; i++) /* rejected */
        check_err(weft_pool_submit(pool, count_job, count_done, &g, NULL), WEFT_EOVERLOAD);
    weft_pool_stats_t s = pool_stats(pool);
    check_uint(s.submitted, ==, 23);
    check_uint(s.queued, ==, 10);
    check_uint(s.running, ==, 1);
    check_uint(s.rejected, ==, 4);
    check_uint(s.submitted, ==, s.completed + s.cancelled + s.timed_out + s.queued + s.running);
    gate_release(&hold, 1);
    check_err(weft_pool_stop(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    s = pool_stats(pool);
    check_uint(s.submitted, ==, 23);
    check_uint(s.completed, ==, 18);
    check_uint(s.cancelled, ==, 3);
    check_uint(s.timed_out, ==, 2);
    check_uint(s.rejected, ==, 4);
    check_uint(s.queued + s.running + s.threads, ==, 0);
    check_uint(s.queue_wait.count, ==, 18);
    check_uint(s.run_time.count, ==, 18);
    check_int(atomic_load(&g.done) + atomic_load(&hold.done), ==, 23);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, 0), 0);
    gate_destroy(&hold);
    gate_destroy(&g);
}

typedef struct {
    uint64_t spin_ns;
} spin_t;

static void spin_job(void *arg)
{
    spin_t *s = arg;
    until_after(now_ns(), s->spin_ns);
}

static void test_histograms(void)
{
    gate_t hold, g;
    gate_init(&hold);
    gate_init(&g);
    weft_pool_t *pool = make_pool("hist", 0, 1, 64);
    if (!check_ptr(pool, !=, NULL))
        return;
    /* One job runs for at least 2 ms; one waits in the queue for at least 2 ms. */
    spin_t spin = {2000000};
    check_err(weft_pool_submit(pool, spin_job, NULL, &spin, NULL), 0);
    check(WAIT_FOR(pool_stats(pool).completed == 1));
    check_err(weft_pool_submit(pool, gated_job, count_done, &hold, NULL), 0);
    gate_wait_started(&hold, 1);
    for (int i = 0; i < 30; i++)
        check_err(weft_pool_submit(pool, count_job, count_done, &g, NULL), 0);
    /* Counted from after the last submit, so that every one of the 30 waits 2 ms at least
     * however long the submits took on a busy machine. */
    until_after(now_ns(), 2000000);
    gate_release(&hold, 1);
    check_err(weft_pool_stop(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    weft_pool_stats_t s = pool_stats(pool);
    check_uint(s.run_time.count, ==, 32);
    check_uint(s.run_time.max_ns, >=, 2000000);
    check_uint(s.queue_wait.max_ns, >=, 2000000);
    /* 30 of 32 waited >= 2 ms: the median wait is at least that. */
    check_uint(s.queue_wait.p50_ns, >=, 2000000);
    const weft_pool_hist_t *hs[] = {&s.queue_wait, &s.run_time};
    for (int k = 0; k < 2; k++) {
        const weft_pool_hist_t *h = hs[k];
        check_uint(h->p50_ns, <=, h->p90_ns);
        check_uint(h->p90_ns, <=, h->p99_ns);
        check_uint(h->p99_ns, <=, h->max_ns);
        check_uint(h->sum_ns, >=, h->max_ns);
        uint64_t n = 0;
        for (unsigned i = 0; i < WEFT_POOL_HIST_BUCKETS; i++)
            n += h->buckets[i];
        check_uint(n, ==, h->count);
    }
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, 0), 0);
    gate_destroy(&hold);
    gate_destroy(&g);
}

static void test_histograms_outlive_threads(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_options_t o;
    weft_pool_options_init(&o);
    o.name = "gone";
    o.max_threads = 2;
    o.idle_timeout_ms = 1;
    weft_pool_t *pool = weft_pool_new(&o, NULL);
    if (!check_ptr(pool, !=, NULL))
        return;
    for (int i = 0; i < 10; i++)
        check_err(weft_pool_submit(pool, count_job, count_done, &g, NULL), 0);
    gate_wait_hooked(&g, 10);
    check(WAIT_FOR(pool_stats(pool).threads == 0)); /* every thread timed out and left */
    weft_pool_stats_t s = pool_stats(pool);
    check_uint(s.completed, ==, 10);
    check_uint(s.queue_wait.count, ==, 10);
    check_uint(s.run_time.count, ==, 10);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    gate_destroy(&g);
}

static void test_bucket_floors(void)
{
    check_uint(weft_pool_hist_bucket_floor(0), ==, 0);
    check_uint(weft_pool_hist_bucket_floor(3), ==, 3);
    check_uint(weft_pool_hist_bucket_floor(4), ==, 4);
    check_uint(weft_pool_hist_bucket_floor(8), ==, 8);
    check_uint(weft_pool_hist_bucket_floor(9), ==, 10);
    check_uint(weft_pool_hist_bucket_floor(12), ==, 16);
    check_uint(weft_pool_hist_bucket_floor(WEFT_POOL_HIST_BUCKETS), ==, 0);
    bool increasing = true, tight = true;
    for (unsigned i = 1; i < 252; i++) {
        uint64_t lo = weft_pool_hist_bucket_floor(i), prev = weft_pool_hist_bucket_floor(i - 1);
        if (lo <= prev)
            increasing = false;
        /* Four buckets per power of two: a bucket spans at most a quarter of its floor. */
        if (i >= 5 && (lo - prev) * 4 > prev)
            tight = false;
    }
    check(increasing);
    check(tight);
}

typedef struct {
    weft_pool_t *pool;
    atomic_bool stop;
    int bad;
    int reads;
    sem_t first_read;
} reader_t;

static void *read_stats(void *arg)
{
    reader_t *r = arg;
    while (!atomic_load(&r->stop)) {
        weft_pool_stats_t s = pool_stats(r->pool);
        if (r->reads++ == 0)
            sem_post(&r->first_read);
        if (s.idle > s.threads || s.running > s.threads || s.threads > s.max_threads ||
            s.submitted != s.completed + s.cancelled + s.timed_out + s.queued + s.running ||
            s.run_time.count > s.completed) /* (a batch's jobs enter it when it ends) */
            r->bad++;
    }
    return NULL;
}

static void test_stats_consistent_under_load(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_t *pool = make_pool("load", 0, 2, 100000);
    if (!check_ptr(pool, !=, NULL))
        return;
    reader_t r = {.pool = pool};
    atomic_init(&r.stop, false);
    sem_init(&r.first_read, 0, 0);
    pthread_t th;
    pthread_create(&th, NULL, read_stats, &r);
    sem_wait(&r.first_read); /* the reader is running before the first submit */
    weft_job_options_t jo;
    weft_job_options_init(&jo);
    jo.room_timeout_ms = WEFT_POOL_FOREVER;
    int n = getenv("WEFT_UNDER_VALGRIND") ? 2000 : 20000;
    for (int i = 0; i < n; i++)
        check_err(weft_pool_submit_ex(pool, &jo, count_job, count_done, &g, NULL), 0);
    check_err(weft_pool_stop(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    atomic_store(&r.stop, true);
    pthread_join(th, NULL);
    check_int(r.bad, ==, 0);
    check_int(r.reads, >, 0);
    sem_destroy(&r.first_read);
    check_uint(pool_stats(pool).completed, ==, (unsigned)n);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, 0), 0);
    gate_destroy(&g);
}

int main(void)
{
    TEST(test_new_pool_stats_zero(), "a new pool's stats are zero but for its limits");
    TEST(test_totals_add_up(),
         "stats totals equal what was submitted: completed + cancelled + timed out + queued");
    TEST(test_histograms(),
         "queue wait and run time histograms count every job that ran, p50<=p90<=p99<=max");
    TEST(test_histograms_outlive_threads(),
         "histograms keep the samples of threads that have exited");
    TEST(test_bucket_floors(), "histogram buckets are log-scaled, four per power of two");
    TEST(test_stats_consistent_under_load(), "stats read while jobs run are a consistent snapshot");
    return done_testing();
}
