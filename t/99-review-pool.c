/* SPDX-License-Identifier: MIT */
/* Review of 65b2e7f..HEAD (two-hold batches): batches against concurrent cancels and a stop,
 * under TSan: every accepted entry hooks exactly once, refused ones never. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include <weft/error.h>
#include <weft/threadpool.h>

#include "tap.h"

#define NB 150
#define ROUNDS 60

static atomic_int hooks, accepted;
static _Atomic weft_job_id_t ids[256];
static atomic_bool done_submitting;

static void nop(void *arg)
{
    (void)arg;
}

static void hook(void *arg, int status)
{
    (void)arg;
    (void)status;
    atomic_fetch_add(&hooks, 1);
}

typedef struct {
    weft_pool_t *pool;
    int refused_closed;
} sub_t;

static void *submitter(void *arg)
{
    sub_t *s = arg;
    weft_pool_batch_job_t jobs[NB];
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < NB; i++)
            jobs[i] = (weft_pool_batch_job_t){.fn = nop, .done = hook, .arg = NULL,
                                              .start_timeout_ms = (i % 3 == 0) ? 1000 : 0};
        size_t q = weft_pool_submit_batch(s->pool, jobs, NB);
        size_t seen = 0;
        for (int i = 0; i < NB; i++) {
            if (jobs[i].rc == 0) {
                seen++;
                atomic_store(&ids[(round * NB + i) & 255], jobs[i].id);
            } else if (jobs[i].rc == WEFT_ECLOSED) {
                s->refused_closed++;
            }
        }
        if (seen != q)
            diag("batch returned %zu but %zu entries have rc 0", q, seen);
        atomic_fetch_add(&accepted, (int)seen);
    }
    return NULL;
}

static void *canceller(void *arg)
{
    weft_pool_t *pool = arg;
    unsigned k = 0;
    while (!atomic_load(&done_submitting)) {
        weft_job_id_t id = atomic_load(&ids[k++ & 255]);
        if (id != 0)
        {
            int rc = weft_pool_cancel(pool, id);
            (void)rc;
        }
    }
    return NULL;
}

static void run(bool stop_midway)
{
    atomic_store(&hooks, 0);
    atomic_store(&accepted, 0);
    atomic_store(&done_submitting, false);
    for (int i = 0; i < 256; i++)
        atomic_store(&ids[i], 0);
    weft_pool_options_t o;
    weft_pool_options_init(&o);
    o.max_threads = 2;
    o.queue_limit = 200;
    weft_pool_t *pool = weft_pool_new(&o, NULL);
    if (!check(pool != NULL))
        return;
    sub_t s1 = {pool, 0}, s2 = {pool, 0};
    pthread_t a, b, c;
    pthread_create(&a, NULL, submitter, &s1);
    pthread_create(&b, NULL, submitter, &s2);
    pthread_create(&c, NULL, canceller, pool);
    if (stop_midway) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        check_err(weft_pool_stop(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    }
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    atomic_store(&done_submitting, true);
    pthread_join(c, NULL);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&hooks), ==, atomic_load(&accepted));
    diag("accepted %d, refused closed %d", atomic_load(&accepted),
         s1.refused_closed + s2.refused_closed);
}

static void test_batches_with_cancels(void)
{
    run(false);
}

static void test_batches_with_cancels_and_stop(void)
{
    run(true);
}

int main(void)
{
    TEST(test_batches_with_cancels(),
         "two batch submitters and a canceller: every accepted entry hooks exactly once");
    TEST(test_batches_with_cancels_and_stop(),
         "the same with a stop midway: accepted entries hook once, the rest are refused");
    return done_testing();
}
