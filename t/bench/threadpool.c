/* SPDX-License-Identifier: MIT */
/* weft pools against a plain mutex+condvar queue: throughput, dispatch latency, loop lateness. */

/*
 * Prints machine-readable lines:
 *   value: <measure> <number> <unit>
 *   ratio: <measure> <number>          (weft / baseline; > 1 is better for throughput,
 *                                       < 1 is better for latency)
 * Both sides run in the same process, one after the other, with the same number of worker
 * threads (the CPUs we may use), the same queue bound (1024, submitters wait for room) and
 * the same completion step (a hook called on the worker after the job). Each throughput
 * figure is the best of three alternating runs, to damp noise from other load on the machine.
 * WEFT_BENCH_JOBS sets the jobs per throughput run (default 400000).
 *
 * The last section measures what the CPU pool's scheduling option is for: how late a
 * sleeping "event loop" thread wakes while the pool's threads saturate the CPUs, with a
 * plain pool and with a CPU pool (SCHED_BATCH + nice 5).
 */
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <weft/error.h>
#include <weft/threadpool.h>

#define QUEUE_LIMIT    1024
#define LATENCY_ROUNDS 3000

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    return 1;
}

typedef void (*job_fn)(void *);
typedef void (*done_fn)(void *, int);

/* ------------------------------------------------------------------------- the baseline */

/* A bounded ring of jobs under one mutex, one condvar for workers, one for submitters. */
typedef struct {
    job_fn fn;
    done_fn done;
    void *arg;
} item_t;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    item_t ring[QUEUE_LIMIT];
    size_t head, len;
    unsigned idle_workers, waiting_submitters;
    bool stop;
    pthread_t threads[64];
    unsigned nthreads;
} bq_t;

static void *bq_worker(void *arg)
{
    bq_t *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->len == 0 && !q->stop) {
            q->idle_workers++;
            pthread_cond_wait(&q->not_empty, &q->mu);
            q->idle_workers--;
        }
        if (q->len == 0)
            break;
        item_t it = q->ring[q->head];
        q->head = (q->head + 1) % QUEUE_LIMIT;
        q->len--;
        if (q->waiting_submitters)
            pthread_cond_signal(&q->not_full);
        pthread_mutex_unlock(&q->mu);
        it.fn(it.arg);
        it.done(it.arg, 0);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static bq_t *bq_new(unsigned threads)
{
    bq_t *q = calloc(1, sizeof(*q));
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    q->nthreads = threads;
    for (unsigned i = 0; i < threads; i++)
        pthread_create(&q->threads[i], NULL, bq_worker, q);
    return q;
}

static void bq_submit(bq_t *q, job_fn fn, done_fn done, void *arg)
{
    pthread_mutex_lock(&q->mu);
    while (q->len == QUEUE_LIMIT) {
        q->waiting_submitters++;
        pthread_cond_wait(&q->not_full, &q->mu);
        q->waiting_submitters--;
    }
    q->ring[(q->head + q->len) % QUEUE_LIMIT] = (item_t){fn, done, arg};
    q->len++;
    if (q->idle_workers)
        pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

static void bq_free(bq_t *q)
{
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_broadcast(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    for (unsigned i = 0; i < q->nthreads; i++)
        pthread_join(q->threads[i], NULL);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    free(q);
}

/* ------------------------------------------------------------------------- one interface */

typedef struct {
    weft_pool_t *pool; /* weft, or */
    bq_t *bq;          /* the baseline */
} exec_t;

static void exec_submit(exec_t *e, job_fn fn, done_fn done, void *arg)
{
    if (e->bq != NULL) {
        bq_submit(e->bq, fn, done, arg);
        return;
    }
    weft_job_options_t jo;
    weft_job_options_init(&jo);
    jo.room_timeout_ms = WEFT_POOL_FOREVER;
    int rc = weft_pool_submit_ex(e->pool, &jo, fn, done, arg, NULL);
    if (rc != 0) {
        fprintf(stderr, "submit: %s\n", weft_strerror(rc));
        exit(1);
    }
}

static exec_t exec_new(bool weft, unsigned threads)
{
    exec_t e = {0};
    if (weft) {
        weft_pool_options_t o;
        weft_pool_options_init(&o);
        o.name = "bench";
        o.max_threads = threads;
        o.queue_limit = QUEUE_LIMIT;
        e.pool = weft_pool_new(&o, NULL);
    } else {
        e.bq = bq_new(threads);
    }
    return e;
}

static void exec_free(exec_t *e)
{
    if (e->bq != NULL)
        bq_free(e->bq);
    else if (weft_pool_free(e->pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER) != 0)
        exit(1);
}

/* ------------------------------------------------------------------------- throughput */

typedef struct {
    atomic_size_t done;
    size_t total;
    sem_t all_done;
} tp_t;

static void tiny_job(void *arg)
{
    (void)arg;
}

static void tp_done(void *arg, int status)
{
    tp_t *t = arg;
    (void)status;
    if (atomic_fetch_add_explicit(&t->done, 1, memory_order_acq_rel) + 1 == t->total)
        sem_post(&t->all_done);
}

typedef struct {
    exec_t *e;
    tp_t *t;
    size_t n;
} sub_t;

static void *submitter(void *arg)
{
    sub_t *s = arg;
    for (size_t i = 0; i < s->n; i++)
        exec_submit(s->e, tiny_job, tp_done, s->t);
    return NULL;
}

/* Jobs per second for jobs submitted from k threads. */
static double throughput(bool weft, unsigned k, size_t jobs)
{
    exec_t e = exec_new(weft, cpus());
    tp_t t;
    atomic_init(&t.done, 0);
    t.total = jobs / k * k;
    sem_init(&t.all_done, 0, 0);
    sub_t s = {&e, &t, jobs / k};
    pthread_t th[16];
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < k; i++)
        pthread_create(&th[i], NULL, submitter, &s);
    sem_wait(&t.all_done);
    uint64_t t1 = now_ns();
    for (unsigned i = 0; i < k; i++)
        pthread_join(th[i], NULL);
    exec_free(&e);
    sem_destroy(&t.all_done);
    return (double)t.total * 1e9 / (double)(t1 - t0);
}

/* ------------------------------------------------------------------------- dispatch latency */

typedef struct {
    uint64_t started;
    sem_t done;
} lat_t;

static void lat_job(void *arg)
{
    lat_t *l = arg;
    l->started = now_ns();
}

static void lat_done(void *arg, int status)
{
    lat_t *l = arg;
    (void)status;
    sem_post(&l->done);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Submit-to-start latency of one job at a time into an idle pool: p50 and p99 (ns). */
static void dispatch_latency(bool weft, uint64_t *p50, uint64_t *p99)
{
    exec_t e = exec_new(weft, cpus());
    static uint64_t samples[LATENCY_ROUNDS];
    lat_t l;
    sem_init(&l.done, 0, 0);
    for (int i = 0; i < LATENCY_ROUNDS; i++) {
        uint64_t t0 = now_ns();
        exec_submit(&e, lat_job, lat_done, &l);
        sem_wait(&l.done);
        samples[i] = l.started - t0;
    }
    exec_free(&e);
    sem_destroy(&l.done);
    qsort(samples, LATENCY_ROUNDS, sizeof(samples[0]), cmp_u64);
    *p50 = samples[LATENCY_ROUNDS / 2];
    *p99 = samples[LATENCY_ROUNDS * 99 / 100];
}

/* ------------------------------------------------------------------------- loop lateness */

static atomic_bool spin_stop;

static void spin_job(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&spin_stop, memory_order_relaxed))
        ;
}

/* How late a thread sleeping 1 ms at a time wakes while 2 x CPUs pool threads spin: p99 (ns). */
static uint64_t loop_lateness(bool cpu_pool)
{
    weft_pool_options_t o;
    if (cpu_pool)
        weft_pool_options_init_cpu(&o);
    else
        weft_pool_options_init(&o);
    unsigned n = 2 * cpus();
    o.max_threads = n;
    weft_pool_t *pool = weft_pool_new(&o, NULL);
    atomic_store(&spin_stop, false);
    for (unsigned i = 0; i < n; i++)
        if (weft_pool_submit(pool, spin_job, NULL, NULL, NULL) != 0)
            exit(1);
    enum { ROUNDS = 300 };
    static uint64_t late[ROUNDS];
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    for (int i = 0; i < ROUNDS; i++) {
        ts.tv_nsec += 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_nsec -= 1000000000;
            ts.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        uint64_t target = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        uint64_t now = now_ns();
        late[i] = now > target ? now - target : 0;
        /* A late wake must not push every later target back. */
        clock_gettime(CLOCK_MONOTONIC, &ts);
    }
    atomic_store(&spin_stop, true);
    if (weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER) != 0)
        exit(1);
    qsort(late, ROUNDS, sizeof(late[0]), cmp_u64);
    return late[ROUNDS * 99 / 100];
}

int main(void)
{
    const char *env = getenv("WEFT_BENCH_JOBS");
    size_t jobs = env != NULL && atol(env) > 0 ? (size_t)atol(env) : 400000;
    /* WEFT_BENCH_CASE=weft|baseline: one throughput run of one side (for perf). */
    const char *only = getenv("WEFT_BENCH_CASE");
    if (only != NULL) {
        unsigned k =
            getenv("WEFT_BENCH_SUBMITTERS") ? (unsigned)atoi(getenv("WEFT_BENCH_SUBMITTERS")) : 1;
        printf("value: throughput_%usub_%s %.0f jobs/s\n", k, only,
               throughput(strcmp(only, "weft") == 0, k, jobs));
        return 0;
    }
    printf("# weft threadpool vs mutex+condvar queue: %u worker threads, queue %d, %zu jobs\n",
           cpus(), QUEUE_LIMIT, jobs);

    static const unsigned ks[] = {1, 4};
    for (size_t i = 0; i < 2; i++) {
        unsigned k = ks[i];
        double w = 0, b = 0;
        for (int r = 0; r < 3; r++) {
            double x = throughput(true, k, jobs);
            double y = throughput(false, k, jobs);
            w = x > w ? x : w;
            b = y > b ? y : b;
        }
        printf("value: throughput_%usub_weft %.0f jobs/s\n", k, w);
        printf("value: throughput_%usub_baseline %.0f jobs/s\n", k, b);
        printf("ratio: throughput_%usub_weft_vs_baseline %.3f\n", k, w / b);
    }

    uint64_t wp50, wp99, bp50, bp99;
    dispatch_latency(true, &wp50, &wp99);
    dispatch_latency(false, &bp50, &bp99);
    printf("value: dispatch_p50_weft %llu ns\n", (unsigned long long)wp50);
    printf("value: dispatch_p50_baseline %llu ns\n", (unsigned long long)bp50);
    printf("value: dispatch_p99_weft %llu ns\n", (unsigned long long)wp99);
    printf("value: dispatch_p99_baseline %llu ns\n", (unsigned long long)bp99);
    printf("ratio: dispatch_p50_weft_vs_baseline %.3f\n", (double)wp50 / (double)bp50);
    printf("ratio: dispatch_p99_weft_vs_baseline %.3f\n", (double)wp99 / (double)bp99);

    uint64_t normal = loop_lateness(false);
    uint64_t low = loop_lateness(true);
    printf("value: loop_wake_late_p99_plain_pool %llu ns\n", (unsigned long long)normal);
    printf("value: loop_wake_late_p99_cpu_pool %llu ns\n", (unsigned long long)low);
    printf("ratio: loop_wake_late_p99_cpu_vs_plain %.3f\n",
           normal ? (double)low / (double)normal : 0.0);
    return 0;
}
