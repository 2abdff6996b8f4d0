/* SPDX-License-Identifier: MIT */
/* Helpers shared by the threadpool tests: gates, counters, bounded waits, a log capture. */
#ifndef WEFT_T_POOL_HELPERS_H
#define WEFT_T_POOL_HELPERS_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <weft/error.h>
#include <weft/log.h>
#include <weft/threadpool.h>

/* A gate holds jobs until the test opens it; `started` counts jobs that reached it, so the
 * test knows exactly which jobs occupy the workers (libuv's saturate_threadpool). */
typedef struct {
    sem_t started;
    sem_t open;
    atomic_int ran;     /* job functions that ran */
    atomic_int done;    /* hooks called */
    atomic_int done_ok; /* hooks with status 0 */
    atomic_int done_canceled;
    atomic_int done_timedout;
    atomic_int saw_cancel_flag;
    sem_t hooked; /* posted by every hook */
} gate_t;

static inline void gate_init(gate_t *g)
{
    memset(g, 0, sizeof(*g));
    sem_init(&g->started, 0, 0);
    sem_init(&g->open, 0, 0);
    sem_init(&g->hooked, 0, 0);
}

static inline void gate_destroy(gate_t *g)
{
    sem_destroy(&g->started);
    sem_destroy(&g->open);
    sem_destroy(&g->hooked);
}

/* Lets n gated jobs through. */
static inline void gate_release(gate_t *g, int n)
{
    for (int i = 0; i < n; i++)
        sem_post(&g->open);
}

/* Waits until n more gated jobs have reached the gate. */
static inline void gate_wait_started(gate_t *g, int n)
{
    for (int i = 0; i < n; i++)
        while (sem_wait(&g->started) != 0)
            ;
}

static inline void gate_wait_hooked(gate_t *g, int n)
{
    for (int i = 0; i < n; i++)
        while (sem_wait(&g->hooked) != 0)
            ;
}

/* A job that waits at the gate, then records whether it was asked to stop. */
static inline void gated_job(void *arg)
{
    gate_t *g = arg;
    atomic_fetch_add(&g->ran, 1);
    sem_post(&g->started);
    while (sem_wait(&g->open) != 0)
        ;
    if (weft_job_cancelled())
        atomic_fetch_add(&g->saw_cancel_flag, 1);
}

/* A job that only counts. */
static inline void count_job(void *arg)
{
    gate_t *g = arg;
    atomic_fetch_add(&g->ran, 1);
}

/* The hook every test uses: counts by status. */
static inline void count_done(void *arg, int status)
{
    gate_t *g = arg;
    atomic_fetch_add(&g->done, 1);
    if (status == 0)
        atomic_fetch_add(&g->done_ok, 1);
    else if (status == WEFT_ECANCELED)
        atomic_fetch_add(&g->done_canceled, 1);
    else if (status == WEFT_ETIMEDOUT)
        atomic_fetch_add(&g->done_timedout, 1);
    sem_post(&g->hooked);
}

/* Polls cond every millisecond for up to 30 s (never asserts on how long it took). */
#define WAIT_FOR(cond)                                                                             \
    ({                                                                                             \
        bool wait_for_ok_ = false;                                                                 \
        for (int wait_for_i_ = 0; wait_for_i_ < 30000; wait_for_i_++) {                            \
            if (cond) {                                                                            \
                wait_for_ok_ = true;                                                               \
                break;                                                                             \
            }                                                                                      \
            struct timespec wait_for_ts_ = {0, 1000000};                                           \
            nanosleep(&wait_for_ts_, NULL);                                                        \
        }                                                                                          \
        wait_for_ok_;                                                                              \
    })

static inline weft_pool_stats_t pool_stats(weft_pool_t *pool)
{
    weft_pool_stats_t s;
    weft_pool_get_stats(pool, &s);
    return s;
}

static inline weft_pool_t *make_pool(const char *name, unsigned min, unsigned max, size_t limit)
{
    weft_pool_options_t o;
    weft_pool_options_init(&o);
    o.name = name;
    o.min_threads = min;
    o.max_threads = max;
    o.queue_limit = limit;
    int err = -1;
    weft_pool_t *pool = weft_pool_new(&o, &err);
    if (pool == NULL)
        fprintf(stderr, "# weft_pool_new: %s\n", weft_strerror(err));
    return pool;
}

/* A log sink that keeps warn-and-above records from component "pool". */
typedef struct {
    pthread_mutex_t mu;
    char text[4096];
    int records;
} log_capture_t;

static inline void capture_sink(const weft_log_record_t *rec, void *arg)
{
    log_capture_t *c = arg;
    if (rec->level < WEFT_LOG_WARN || strcmp(rec->component, "pool") != 0)
        return;
    char line[1024];
    weft_log_format_record(rec, WEFT_LOG_FORMAT_PLAIN, line, sizeof(line));
    pthread_mutex_lock(&c->mu);
    size_t used = strlen(c->text);
    snprintf(c->text + used, sizeof(c->text) - used, "%s", line);
    c->records++;
    pthread_mutex_unlock(&c->mu);
}

/* A sink that drops everything: for tests whose expected warnings would clutter stderr. */
static inline void quiet_sink(const weft_log_record_t *rec, void *arg)
{
    (void)rec;
    (void)arg;
}

#endif /* WEFT_T_POOL_HELPERS_H */
