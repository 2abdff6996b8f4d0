/* SPDX-License-Identifier: MIT */
/* Worker pools: limits, deadlines, cancel, growth and shrink, resize, stop. Pure pthreads. */
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../threadpool/pool-internal.h"
#include "helpers.h"
#include "pool-helpers.h"
#include "tap.h"

/* ------------------------------------------------------------------------- submit and run */

typedef struct {
    pthread_t job_thread;
    pthread_t hook_thread;
    int status;
    atomic_int order; /* 1 after the job, 2 after the hook */
    sem_t hooked;
} where_t;

static void where_job(void *arg)
{
    where_t *w = arg;
    w->job_thread = pthread_self();
    atomic_store(&w->order, 1);
}

static void where_done(void *arg, int status)
{
    where_t *w = arg;
    w->hook_thread = pthread_self();
    w->status = status;
    if (atomic_load(&w->order) == 1)
        atomic_store(&w->order, 2);
    sem_post(&w->hooked);
}

static void test_submit_runs_job_then_hook(void)
{
    weft_pool_t *pool = make_pool("run", 0, 2, 16);
    if (!check_ptr(pool, !=, NULL))
        return;
    where_t w = {.status = -1};
    sem_init(&w.hooked, 0, 0);
    weft_job_id_t id = 0;
    check_err(weft_pool_submit(pool, where_job, where_done, &w, &id), 0);
    check_uint(id, !=, 0);
    sem_wait(&w.hooked);
    check_int(atomic_load(&w.order), ==, 2);
    check_err(w.status, 0);
    check(pthread_equal(w.job_thread, w.hook_thread));
    check(!pthread_equal(w.job_thread, pthread_self()));
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    sem_destroy(&w.hooked);
}

typedef struct {
    char name[16];
    bool sigint_blocked, sigterm_blocked, sigusr1_blocked, sigsegv_blocked;
    int policy;
    int nice;
    sem_t done;
} thread_info_t;

static void info_job(void *arg)
{
    thread_info_t *t = arg;
    pthread_getname_np(pthread_self(), t->name, sizeof(t->name));
    sigset_t set;
    pthread_sigmask(SIG_SETMASK, NULL, &set);
    t->sigint_blocked = sigismember(&set, SIGINT) == 1;
    t->sigterm_blocked = sigismember(&set, SIGTERM) == 1;
    t->sigusr1_blocked = sigismember(&set, SIGUSR1) == 1;
    t->sigsegv_blocked = sigismember(&set, SIGSEGV) == 1;
    t->policy = sched_getscheduler(0);
    t->nice = getpriority(PRIO_PROCESS, (id_t)gettid());
    sem_post(&t->done);
}

static void run_info(weft_pool_t *pool, thread_info_t *t)
{
    memset(t, 0, sizeof(*t));
    sem_init(&t->done, 0, 0);
    if (check_err(weft_pool_submit(pool, info_job, NULL, t, NULL), 0))
        sem_wait(&t->done);
    sem_destroy(&t->done);
}

static void test_thread_names_and_signals(void)
{
    weft_pool_t *pool = make_pool("io", 0, 1, 16);
    if (!check_ptr(pool, !=, NULL))
        return;
    check_str(weft_pool_get_name(pool), "io");
    thread_info_t t;
    run_info(pool, &t);
    check_str(t.name, "weft-io-0");
    check(t.sigint_blocked);
    check(t.sigterm_blocked);
    check(t.sigusr1_blocked);
    check(!t.sigsegv_blocked);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
}

static void test_long_name_cut(void)
{
    weft_pool_t *pool = make_pool("database-connections", 0, 1, 16);
    if (!check_ptr(pool, !=, NULL))
        return;
    thread_info_t t;
    run_info(pool, &t);
    check_str(t.name, "weft-database-0");
    check_str(weft_pool_get_name(pool), "database-connections");
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
}

static void test_cpu_pool_priority(void)
{
    weft_pool_options_t o;
    weft_pool_options_init_cpu(&o);
    o.max_threads = 1;
    check_int(o.sched, ==, WEFT_POOL_SCHED_BATCH);
    check_int(o.nice_offset, ==, 5);
    int err;
    weft_pool_t *pool = weft_pool_new(&o, &err);
    if (!check_ptr(pool, !=, NULL))
        return;
    int base = getpriority(PRIO_PROCESS, (id_t)gettid());
    thread_info_t t;
    run_info(pool, &t);
    check_int(t.policy, ==, SCHED_BATCH);
    check_int(t.nice, ==, base + 5 > 19 ? 19 : base + 5);
    check_str(t.name, "weft-cpu-0");
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);

    /* A general pool leaves its threads as the creator's. */
    pool = make_pool("plain", 0, 1, 4);
    if (!check_ptr(pool, !=, NULL))
        return;
    run_info(pool, &t);
    check_int(t.policy, ==, sched_getscheduler(0));
    check_int(t.nice, ==, base);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
}

static void test_new_rejects_bad_options(void)
{
    weft_pool_options_t o;
    weft_pool_options_init(&o);
    o.min_threads = 3;
    o.max_threads = 2;
    int err = 0;
    check_ptr(weft_pool_new(&o, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    weft_pool_options_init(&o);
    o.nice_offset = 20;
    err = 0;
    check_ptr(weft_pool_new(&o, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    weft_pool_options_init(&o);
    o.sched = (weft_pool_sched_t)7;
    err = 0;
    check_ptr(weft_pool_new(&o, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
}

static void test_new_defaults(void)
{
    int err = -1;
    weft_pool_t *pool = weft_pool_new(NULL, &err);
    if (!check_ptr(pool, !=, NULL))
        return;
    check_err(err, 0);
    weft_pool_stats_t s = pool_stats(pool);
    check_uint(s.threads, ==, 0);
    check_uint(s.min_threads, ==, 0);
    check_uint(s.max_threads, >=, 1);
    check_uint(s.queue_limit, ==, 65536);
    check_str(weft_pool_get_name(pool), "pool");
    check_err(weft_pool_submit(pool, NULL, NULL, NULL, NULL), WEFT_EINVAL);
    check_err(weft_pool_submit(NULL, count_job, NULL, NULL, NULL), WEFT_EINVAL);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, 0), 0);
    check_err(weft_pool_free(NULL, WEFT_POOL_STOP_DRAIN, 0), 0);
}

/* ------------------------------------------------------------------------- overload */

static void test_overload_fails_at_once(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_t *pool = make_pool("full", 0, 1, 2);
    if (!check_ptr(pool, !=, NULL))
        return;
    check_err(weft_pool_submit(pool, gated_job, count_done, &g, NULL), 0);
    gate_wait_started(&g, 1); /* the only worker is held: what follows stays queued */
    check_err(weft_pool_submit(pool, count_job, count_done, &g, NULL), 0);
    check_err(weft_pool_submit(pool, count_job, count_done, &g, NULL), 0);
    check_err(weft_pool_submit(pool, count_job, count_done, &g, NULL), WEFT_EOVERLOAD);
    weft_pool_stats_t s = pool_stats(pool);
    check_uint(s.queued, ==, 2);
    check_uint(s.rejected, ==, 1);
    check_uint(s.submitted, ==, 3);
    gate_release(&g, 1);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&g.done), ==, 3); /* the rejected job's hook never ran */
    check_int(atomic_load(&g.ran), ==, 3);
    gate_destroy(&g);
}

typedef struct {
    weft_pool_t *pool;
    gate_t *g;
    uint64_t room_timeout_ms;
    int rc;
} submitter_t;

static void *submit_waiting(void *arg)
{
    submitter_t *s = arg;
    weft_job_options_t jo;
    weft_job_options_init(&jo);
    jo.room_timeout_ms = s->room_timeout_ms;
    s->rc = weft_pool_submit_ex(s->pool, &jo, count_job, count_done, s->g, NULL);
    return NULL;
}

static void test_wait_for_room_succeeds(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_t *pool = make_pool("room", 0, 1, 1);
    if (!check_ptr(pool, !=, NULL))
        return;
    check_err(weft_pool_submit(pool, gated_job, count_done, &g, NULL), 0);
    gate_wait_started(&g, 1);
    weft_job_id_t queued;
    check_err(weft_pool_submit(pool, count_job, count_done, &g, &queued), 0);
    submitter_t s = {pool, &g, WEFT_POOL_FOREVER, -1};
    pthread_t th;
    pthread_create(&th, NULL, submit_waiting, &s);
    /* Whether the thread is already waiting or not, cancelling makes room it must get. */
    check_err(weft_pool_cancel(pool, queued), 0);
    pthread_join(th, NULL);
    check_err(s.rc, 0);
    gate_release(&g, 1);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&g.done), ==, 3);
    check_int(atomic_load(&g.done_canceled), ==, 1);
    check_int(atomic_load(&g.ran), ==, 2);
    gate_destroy(&g);
}

static void test_wait_for_room_times_out(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_t *pool = make_pool("room", 0, 1, 1);
    if (!check_ptr(pool, !=, NULL))
        return;
    check_err(weft_pool_submit(pool, gated_job, count_done, &g, NULL), 0);
    gate_wait_started(&g, 1);
    check_err(weft_pool_submit(pool, count_job, count_done, &g, NULL), 0);
    /* The gate stays shut throughout, so the queue cannot empty before the deadline. */
    submitter_t s = {pool, &g, 20, -1};
    submit_waiting(&s);
    check_err(s.rc, WEFT_ETIMEDOUT);
    check_uint(pool_stats(pool).rejected, ==, 1);
    gate_release(&g, 1);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&g.done), ==, 2);
    gate_destroy(&g);
}

static void test_wait_for_room_closed(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_t *pool = make_pool("room", 0, 1, 1);
    if (!check_ptr(pool, !=, NULL))
        return;
    check_err(weft_pool_submit(pool, gated_job, count_done, &g, NULL), 0);
    gate_wait_started(&g, 1);
    check_err(weft_pool_submit(pool, count_job, count_done, &g, NULL), 0);
    submitter_t s = {pool, &g, WEFT_POOL_FOREVER, -1};
    pthread_t th;
    pthread_create(&th, NULL, submit_waiting, &s);
    /* The stop times out (the gate is shut) but closes the pool: the waiter must leave. */
    weft_log_set_sink(quiet_sink, NULL);
    check_err(weft_pool_stop(pool, WEFT_POOL_STOP_CANCEL, 0), WEFT_ETIMEDOUT);
    weft_log_set_sink(NULL, NULL);
    pthread_join(th, NULL);
    check_err(s.rc, WEFT_ECLOSED);
    gate_release(&g, 1);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&g.done), ==, 2);
    check_int(atomic_load(&g.done_canceled), ==, 1);
    gate_destroy(&g);
}

/* ------------------------------------------------------------------------- start deadlines */

static void test_start_deadline_expires(void)
{
    gate_t g, late;
    gate_init(&g);
    gate_init(&late);
    weft_pool_t *pool = make_pool("dl", 0, 1, 16);
    if (!check_ptr(pool, !=, NULL))
        return;
    check_err(weft_pool_submit(pool, gated_job, count_done, &g, NULL), 0);
    gate_wait_started(&g, 1);
    weft_job_options_t jo;
    weft_job_options_init(&jo);
    jo.start_timeout_ms = 10;
    weft_job_id_t id;
    check_err(weft_pool_submit_ex(pool, &jo, count_job, count_done, &late, &id), 0);
    /* The only worker is held until after this hook: the job cannot have started. */
    gate_wait_hooked(&late, 1);
    check_int(atomic_load(&late.done_timedout), ==, 1);
    check_int(atomic_load(&late.ran), ==, 0);
    check_err(weft_pool_cancel(pool, id), WEFT_ENOENT);
    weft_pool_stats_t s = pool_stats(pool);
    check_uint(s.timed_out, ==, 1);
    check_uint(s.queued, ==, 0);
    gate_release(&g, 1);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&late.ran), ==, 0);
    check_int(atomic_load(&late.done), ==, 1);
    gate_destroy(&g);
    gate_destroy(&late);
}

static void test_start_deadline_met(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_t *pool = make_pool("dl", 0, 1, 16);
    if (!check_ptr(pool, !=, NULL))
        return;
    weft_job_options_t jo;
    weft_job_options_init(&jo);
    jo.start_timeout_ms = 600000;
    for (int i = 0; i < 10; i++)
        check_err(weft_pool_submit_ex(pool, &jo, count_job, count_done, &g, NULL), 0);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&g.ran), ==, 10);
    check_int(atomic_load(&g.done_ok), ==, 10);
    gate_destroy(&g);
}

static void test_start_deadlines_in_any_order(void)
{
    gate_t g, late, ok;
    gate_init(&g);
    gate_init(&late);
    gate_init(&ok);
    weft_pool_t *pool = make_pool("dl", 0, 1, 64);
    if (!check_ptr(pool, !=, NULL))
        return;
    check_err(weft_pool_submit(pool, gated_job, count_done, &g, NULL), 0);
    gate_wait_started(&g, 1);
    weft_job_options_t jo;
    weft_job_options_init(&jo);
    /* Deadlines submitted out of order; the short ones expire while the worker is held. */
    static const uint64_t ms[] = {600000, 5, 600000, 1, 3, 600000, 2, 4};
    for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
        jo.start_timeout_ms = ms[i];
        gate_t *which = ms[i] < 1000 ? &late : &ok;
        check_err(weft_pool_submit_ex(pool, &jo, count_job, count_done, which, NULL), 0);
    }
    gate_wait_hooked(&late, 5);
    check_int(atomic_load(&late.done_timedout), ==, 5);
    check_uint(pool_stats(pool).queued, ==, 3);
    gate_release(&g, 1);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&ok.done_ok), ==, 3);
    check_int(atomic_load(&late.ran), ==, 0);
    gate_destroy(&g);
    gate_destroy(&late);
    gate_destroy(&ok);
}

/* ------------------------------------------------------------------------- cancel */

typedef struct {
    gate_t g;
    pthread_t hook_thread;
} cancel_ctx_t;

static void cancel_done(void *arg, int status)
{
    cancel_ctx_t *c = arg;
    c->hook_thread = pthread_self();
    count_done(&c->g, status);
}

static void test_cancel_queued(void)
{
    gate_t g;
    gate_init(&g);
    cancel_ctx_t c;
    gate_init(&c.g);
    weft_pool_t *pool = make_pool("cancel", 0, 1, 16);
    if (!check_ptr(pool, !=, NULL))
        return;
    check_err(weft_pool_submit(pool, gated_job, count_done, &g, NULL), 0);
    gate_wait_started(&g, 1);
    weft_job_id_t id;
    check_err(weft_pool_submit(pool, count_job, cancel_done, &c, &id), 0);
    check_err(weft_pool_cancel(pool, id), 0);
    /* The hook ran before cancel returned, on this thread. */
    check_int(atomic_load(&c.g.done_canceled), ==, 1);
    check(pthread_equal(c.hook_thread, pthread_self()));
    check_err(weft_pool_cancel(pool, id), WEFT_ENOENT);
    weft_pool_stats_t s = pool_stats(pool);
    check_uint(s.cancelled, ==, 1);
    check_uint(s.queued, ==, 0);
    gate_release(&g, 1);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&c.g.ran), ==, 0);
    check_int(atomic_load(&c.g.done), ==, 1);
    gate_destroy(&g);
    gate_destroy(&c.g);
}

/* Jobs that write their number into a shared log in the order they run (one worker). */
typedef struct {
    int log[400];
    atomic_int n;
} order_log_t;

typedef struct {
    order_log_t *log;
    int number;
} numbered_t;

static void numbered_job(void *arg)
{
    numbered_t *j = arg;
    j->log->log[atomic_fetch_add(&j->log->n, 1)] = j->number;
}

static void test_queue_order_with_holes(void)
{
    enum { FIRST = 150, MORE = 100 };
    gate_t g;
    gate_init(&g);
    order_log_t log = {.n = 0};
    static numbered_t jobs[FIRST + MORE];
    weft_job_id_t ids[FIRST + MORE];
    bool cancel[FIRST + MORE] = {false};
    weft_pool_t *pool = make_pool("holes", 0, 1, 1000);
    if (!check_ptr(pool, !=, NULL))
        return;
    check_err(weft_pool_submit(pool, gated_job, NULL, &g, NULL), 0);
    gate_wait_started(&g, 1);
    for (int i = 0; i < FIRST; i++) {
        jobs[i] = (numbered_t){&log, i};
        check_err(weft_pool_submit(pool, numbered_job, NULL, &jobs[i], &ids[i]), 0);
    }
    /* Holes at the front, in the middle (a run of them) and at the back. */
    for (int i = 0; i < FIRST; i++)
        cancel[i] = i < 3 || (i >= 60 && i < 90) || i % 7 == 0 || i >= FIRST - 5;
    for (int i = 0; i < FIRST; i++)
        if (cancel[i])
            check_err(weft_pool_cancel(pool, ids[i]), 0);
    /* More after the holes, past the first ring size (64) and its next (128). */
    for (int i = FIRST; i < FIRST + MORE; i++) {
        jobs[i] = (numbered_t){&log, i};
        check_err(weft_pool_submit(pool, numbered_job, NULL, &jobs[i], &ids[i]), 0);
        if (i % 11 == 0) {
            cancel[i] = true;
            check_err(weft_pool_cancel(pool, ids[i]), 0);
        }
    }
    int expected = 0;
    for (int i = 0; i < FIRST + MORE; i++)
        expected += !cancel[i];
    check_uint(pool_stats(pool).queued, ==, (size_t)expected);
    gate_release(&g, 1);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&log.n), ==, expected);
    int k = 0;
    for (int i = 0; i < FIRST + MORE && k < atomic_load(&log.n); i++) {
        if (cancel[i])
            continue;
        if (!check_int(log.log[k], ==, i))
            break;
        k++;
    }
    gate_destroy(&g);
}

static void test_cancel_running(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_t *pool = make_pool("cancel", 0, 1, 16);
    if (!check_ptr(pool, !=, NULL))
        return;
    weft_job_id_t id;
    check_err(weft_pool_submit(pool, gated_job, count_done, &g, &id), 0);
    gate_wait_started(&g, 1);
    check_err(weft_pool_cancel(pool, id), WEFT_EBUSY);
    gate_release(&g, 1);
    gate_wait_hooked(&g, 1);
    check_int(atomic_load(&g.saw_cancel_flag), ==, 1);
    check_int(atomic_load(&g.done_ok), ==, 1); /* it ran to the end: status 0 */
    check_uint(pool_stats(pool).cancelled, ==, 0);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    gate_destroy(&g);
}

static void test_cancel_stale_id(void)
{
    gate_t g, h;
    gate_init(&g);
    gate_init(&h);
    weft_pool_t *pool = make_pool("stale", 0, 1, 16);
    if (!check_ptr(pool, !=, NULL))
        return;
    weft_job_id_t old_id, new_id;
    check_err(weft_pool_submit(pool, count_job, count_done, &g, &old_id), 0);
    gate_wait_hooked(&g, 1);
    check(WAIT_FOR(pool_stats(pool).completed == 1)); /* the record is back on the free list */
    check_err(weft_pool_submit(pool, gated_job, count_done, &h, &new_id), 0);
    gate_wait_started(&h, 1);
    /* The free list is LIFO: the new job reuses the old record, with a new generation. */
    check_uint(new_id & 0xffffffffu, ==, old_id & 0xffffffffu);
    check_uint(new_id, !=, old_id);
    check_err(weft_pool_cancel(pool, old_id), WEFT_ENOENT);
    check_err(weft_pool_cancel(pool, 0), WEFT_ENOENT);
    check_err(weft_pool_cancel(pool, (weft_job_id_t)1 << 40 | 999999), WEFT_ENOENT);
    gate_release(&h, 1);
    gate_wait_hooked(&h, 1);
    check_int(atomic_load(&h.saw_cancel_flag), ==, 0);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    gate_destroy(&g);
    gate_destroy(&h);
}

static void test_cancel_flag_outside_job(void)
{
    check(!weft_job_cancelled());
}

/* ------------------------------------------------------------------------- growth and shrink */

static void test_lazy_growth(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_t *pool = make_pool("grow", 0, 3, 16);
    if (!check_ptr(pool, !=, NULL))
        return;
    check_uint(pool_stats(pool).threads, ==, 0);
    check_err(weft_pool_submit(pool, gated_job, count_done, &g, NULL), 0);
    gate_wait_started(&g, 1);
    check_uint(pool_stats(pool).threads, ==, 1);
    for (int i = 0; i < 4; i++)
        check_err(weft_pool_submit(pool, gated_job, count_done, &g, NULL), 0);
    gate_wait_started(&g, 2);
    weft_pool_stats_t s = pool_stats(pool);
    check_uint(s.threads, ==, 3);
    check_uint(s.threads_started, ==, 3);
    check_uint(s.running, ==, 3);
    check_uint(s.queued, ==, 2);
    gate_release(&g, 5);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&g.done_ok), ==, 5);
    gate_destroy(&g);
}

static void test_shrink_to_min(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_options_t o;
    weft_pool_options_init(&o);
    o.name = "shrink";
    o.min_threads = 1;
    o.max_threads = 3;
    o.idle_timeout_ms = 5;
    weft_pool_t *pool = weft_pool_new(&o, NULL);
    if (!check_ptr(pool, !=, NULL))
        return;
    for (int i = 0; i < 3; i++)
        check_err(weft_pool_submit(pool, gated_job, count_done, &g, NULL), 0);
    gate_wait_started(&g, 3);
    check_uint(pool_stats(pool).threads, ==, 3);
    gate_release(&g, 3);
    /* The two surplus threads leave; the last one stays, idle, however long it idles. */
    check(WAIT_FOR(pool_stats(pool).threads == 1 && pool_stats(pool).idle == 1));
    weft_pool_stats_t s = pool_stats(pool);
    check_uint(s.threads, ==, 1);
    check_uint(s.idle, ==, 1);
    /* It still runs work. */
    gate_t h;
    gate_init(&h);
    check_err(weft_pool_submit(pool, count_job, count_done, &h, NULL), 0);
    gate_wait_hooked(&h, 1);
    check_uint(pool_stats(pool).threads_started, ==, 3);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    gate_destroy(&g);
    gate_destroy(&h);
}

typedef struct {
    pthread_t thread;
    sem_t done;
} lifo_t;

static void lifo_job(void *arg)
{
    lifo_t *l = arg;
    l->thread = pthread_self();
}

static void lifo_done(void *arg, int status)
{
    (void)status;
    lifo_t *l = arg;
    sem_post(&l->done);
}

static void test_lifo_wake(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_t *pool = make_pool("lifo", 0, 3, 16);
    if (!check_ptr(pool, !=, NULL))
        return;
    for (int i = 0; i < 3; i++)
        check_err(weft_pool_submit(pool, gated_job, count_done, &g, NULL), 0);
    gate_wait_started(&g, 3);
    gate_release(&g, 3);
    check(WAIT_FOR(pool_stats(pool).idle == 3));
    /* One job at a time: each finds three idle workers and must get the most recent one. */
    lifo_t l;
    sem_init(&l.done, 0, 0);
    pthread_t first = 0;
    bool same = true;
    for (int i = 0; i < 20; i++) {
        check_err(weft_pool_submit(pool, lifo_job, lifo_done, &l, NULL), 0);
        sem_wait(&l.done);
        if (i == 0)
            first = l.thread;
        else if (!pthread_equal(first, l.thread))
            same = false;
        check(WAIT_FOR(pool_stats(pool).idle == 3));
    }
    check(same);
    check_uint(pool_stats(pool).threads_started, ==, 3);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    sem_destroy(&l.done);
    gate_destroy(&g);
}

/* ------------------------------------------------------------------------- resize */

static void test_resize_up_under_load(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_t *pool = make_pool("resize", 0, 1, 16);
    if (!check_ptr(pool, !=, NULL))
        return;
    for (int i = 0; i < 4; i++)
        check_err(weft_pool_submit(pool, gated_job, count_done, &g, NULL), 0);
    gate_wait_started(&g, 1);
    check_uint(pool_stats(pool).queued, ==, 3);
    check_err(weft_pool_resize(pool, 0, 3), 0);
    /* Two new threads take two queued jobs without any further submit. */
    gate_wait_started(&g, 2);
    weft_pool_stats_t s = pool_stats(pool);
    check_uint(s.threads, ==, 3);
    check_uint(s.running, ==, 3);
    check_uint(s.queued, ==, 1);
    check_uint(s.max_threads, ==, 3);
    gate_release(&g, 4);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&g.done_ok), ==, 4);
    gate_destroy(&g);
}

static void test_resize_down_under_load(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_t *pool = make_pool("resize", 0, 3, 16); /* idle timeout 10 s: no shrink by it */
    if (!check_ptr(pool, !=, NULL))
        return;
    for (int i = 0; i < 6; i++)
        check_err(weft_pool_submit(pool, gated_job, count_done, &g, NULL), 0);
    gate_wait_started(&g, 3);
    check_err(weft_pool_resize(pool, 0, 1), 0);
    check_uint(pool_stats(pool).threads, ==, 3); /* busy threads are never interrupted */
    gate_release(&g, 3);
    /* The surplus threads leave after their jobs; the remaining one runs the queue. */
    gate_wait_started(&g, 1);
    check(WAIT_FOR(pool_stats(pool).threads == 1));
    weft_pool_stats_t s = pool_stats(pool);
    check_uint(s.running, ==, 1);
    check_uint(s.queued, ==, 2);
    gate_release(&g, 3);
    gate_wait_started(&g, 2);
    check_uint(pool_stats(pool).threads, ==, 1);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&g.done_ok), ==, 6);
    gate_destroy(&g);
}

static void test_resize_rejects_bad_limits(void)
{
    weft_pool_t *pool = make_pool("resize", 0, 2, 16);
    if (!check_ptr(pool, !=, NULL))
        return;
    check_err(weft_pool_resize(pool, 0, 0), WEFT_EINVAL);
    check_err(weft_pool_resize(pool, 3, 2), WEFT_EINVAL);
    check_err(weft_pool_resize(NULL, 0, 1), WEFT_EINVAL);
    check_uint(pool_stats(pool).max_threads, ==, 2);
    check_err(weft_pool_stop(pool, WEFT_POOL_STOP_DRAIN, 0), 0);
    check_err(weft_pool_resize(pool, 0, 4), WEFT_ECLOSED);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, 0), 0);
}

/* ------------------------------------------------------------------------- stop and free */

/* Two workers, each held at gate a; then job L (held at gate b) and COUNTS counting jobs
 * queued behind it. Opening gate a once lets one worker out: finding the queue deep and no
 * worker idle, it takes a batch, L and the next TAKE - 1, and holds at gate b in L. */
enum { TAKE = 8, COUNTS = 39 };

typedef struct {
    gate_t a, b, c; /* c counts the counting jobs */
    weft_pool_t *pool;
    weft_job_id_t ids[COUNTS];
} batch_fixture_t;

static bool batch_fixture_start(batch_fixture_t *f)
{
    gate_init(&f->a);
    gate_init(&f->b);
    gate_init(&f->c);
    f->pool = make_pool("batch", 0, 2, 1000);
    if (!check_ptr(f->pool, !=, NULL))
        return false;
    check_err(weft_pool_submit(f->pool, gated_job, count_done, &f->a, NULL), 0);
    gate_wait_started(&f->a, 1);
    check_err(weft_pool_submit(f->pool, gated_job, count_done, &f->a, NULL), 0);
    gate_wait_started(&f->a, 1);
    check_err(weft_pool_submit(f->pool, gated_job, count_done, &f->b, NULL), 0);
    for (int i = 0; i < COUNTS; i++)
        check_err(weft_pool_submit(f->pool, count_job, count_done, &f->c, &f->ids[i]), 0);
    gate_release(&f->a, 1);
    gate_wait_started(&f->b, 1);
    /* The batch left the queue together: L runs, TAKE - 1 counting jobs wait behind it. */
    weft_pool_stats_t s = pool_stats(f->pool);
    return check_uint(s.queued, ==, COUNTS) && check_uint(s.batched, ==, TAKE - 1) &&
           check_uint(s.running, ==, 2); /* L and the job held at gate a */
}

static void batch_fixture_end(batch_fixture_t *f)
{
    gate_release(&f->a, 1);
    gate_release(&f->b, 1);
    if (f->pool != NULL)
        check_err(weft_pool_free(f->pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    gate_destroy(&f->a);
    gate_destroy(&f->b);
    gate_destroy(&f->c);
}

static void test_batch_stolen_from_long_job(void)
{
    batch_fixture_t f;
    if (batch_fixture_start(&f)) {
        /* The other worker, let out, runs the queue, then the jobs stuck behind L. */
        gate_release(&f.a, 1);
        check(WAIT_FOR(atomic_load(&f.c.done) == COUNTS));
        check_int(atomic_load(&f.c.done_ok), ==, COUNTS);
        check_int(atomic_load(&f.b.done), ==, 0); /* L still holds its worker */
        weft_pool_stats_t s = pool_stats(f.pool);
        check_uint(s.running, ==, 1);
        check_uint(s.completed, ==, 2 + COUNTS); /* the two held at gate a, the counting jobs */
        gate_release(&f.b, 1);
        check(WAIT_FOR(pool_stats(f.pool).running == 0));
        check_uint(pool_stats(f.pool).completed, ==, 3 + COUNTS);
    }
    batch_fixture_end(&f);
}

static void test_cancel_in_batch(void)
{
    batch_fixture_t f;
    if (batch_fixture_start(&f)) {
        /* ids[0 .. TAKE - 2] wait in the batch behind L. */
        check_err(weft_pool_cancel(f.pool, f.ids[2]), 0);
        check_int(atomic_load(&f.c.done_canceled), ==, 1); /* its hook ran, here */
        check_err(weft_pool_cancel(f.pool, f.ids[2]), WEFT_ENOENT);
        weft_pool_stats_t s = pool_stats(f.pool);
        check_uint(s.cancelled, ==, 1);
        check_uint(s.batched, ==, TAKE - 2); /* one fewer */
        gate_release(&f.a, 1);
        gate_release(&f.b, 1);
        check(WAIT_FOR(atomic_load(&f.c.done) == COUNTS));
        check_int(atomic_load(&f.c.ran), ==, COUNTS - 1); /* it never ran */
        check_int(atomic_load(&f.c.done_ok), ==, COUNTS - 1);
        check(WAIT_FOR(pool_stats(f.pool).running == 0));
    }
    batch_fixture_end(&f);
}

typedef struct {
    batch_fixture_t *f;
    int rc;
} batch_stopper_t;

static void *stop_cancel_thread(void *arg)
{
    batch_stopper_t *st = arg;
    st->rc = weft_pool_stop(st->f->pool, WEFT_POOL_STOP_CANCEL, WEFT_POOL_FOREVER);
    return NULL;
}

static void test_stop_cancels_batch(void)
{
    batch_fixture_t f;
    if (batch_fixture_start(&f)) {
        batch_stopper_t st = {&f, -1};
        pthread_t th;
        pthread_create(&th, NULL, stop_cancel_thread, &st);
        /* Queued and batched alike are cancelled before the stop waits for L and the job at
         * gate a. */
        check(WAIT_FOR(atomic_load(&f.c.done_canceled) == COUNTS));
        gate_release(&f.a, 1);
        gate_release(&f.b, 1);
        pthread_join(th, NULL);
        check_err(st.rc, 0);
        check_int(atomic_load(&f.c.ran), ==, 0);
        weft_pool_stats_t s = pool_stats(f.pool);
        check_uint(s.cancelled, ==, COUNTS);
        check_uint(s.running, ==, 0);
        gate_release(&f.a, 1); /* (none left to let out: the fixture's end opens a gate too) */
        gate_release(&f.b, 1);
    }
    batch_fixture_end(&f);
}

static void test_batch_finished_jobs_count_as_completed(void)
{
    gate_t a, b, c;
    gate_init(&a);
    gate_init(&b);
    gate_init(&c);
    weft_pool_t *pool = make_pool("bstat", 0, 1, 1000);
    weft_job_id_t ids[15];
    if (check_ptr(pool, !=, NULL)) {
        check_err(weft_pool_submit(pool, gated_job, count_done, &a, NULL), 0);
        gate_wait_started(&a, 1);
        for (int i = 0; i < 7; i++)
            check_err(weft_pool_submit(pool, count_job, count_done, &c, &ids[i]), 0);
        check_err(weft_pool_submit(pool, gated_job, count_done, &b, NULL), 0);
        for (int i = 7; i < 15; i++)
            check_err(weft_pool_submit(pool, count_job, count_done, &c, &ids[i]), 0);
        /* 16 queued, one thread, none idle: the worker let out takes 8 in one batch, runs 7
         * and holds at gate b in the 8th. */
        gate_release(&a, 1);
        gate_wait_started(&b, 1);
        gate_wait_hooked(&c, 7);
        check(WAIT_FOR(pool_stats(pool).completed == 8));
        weft_pool_stats_t s = pool_stats(pool);
        check_uint(s.running, ==, 1);   /* the job at gate b */
        check_uint(s.queued, ==, 8);    /* the 8 behind the batch, nothing more */
        check_uint(s.batched, ==, 0);   /* nothing in the batch is waiting to start */
        check_uint(s.completed, ==, 8); /* the job at gate a and the 7 that ran */
        /* The first counting job has completed: its id names no pending job. */
        check_err(weft_pool_cancel(pool, ids[0]), WEFT_ENOENT);
        gate_release(&b, 1);
        check(WAIT_FOR(pool_stats(pool).completed == 17));
        check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    }
    gate_destroy(&a);
    gate_destroy(&b);
    gate_destroy(&c);
}

static void test_queue_ring_holes_bounded(void)
{
    gate_t g, c;
    gate_init(&g);
    gate_init(&c);
    weft_pool_t *pool = make_pool("holes", 0, 1, 3);
    if (check_ptr(pool, !=, NULL)) {
        check_err(weft_pool_submit(pool, gated_job, count_done, &g, NULL), 0);
        gate_wait_started(&g, 1); /* the one worker is busy: the head job stays queued */
        check_err(weft_pool_submit(pool, count_job, count_done, &c, NULL), 0); /* the head */
        weft_job_id_t prev;
        check_err(weft_pool_submit(pool, count_job, count_done, &c, &prev), 0);
        int bad = 0;
        for (int i = 0; i < 100000; i++) {
            weft_job_id_t next;
            bad += weft_pool_submit(pool, count_job, count_done, &c, &next) != 0;
            bad += weft_pool_cancel(pool, prev) != 0; /* a hole between the head and next */
            prev = next;
        }
        check_int(bad, ==, 0);
        check_uint(pool_stats(pool).queued, ==, 2);
        pthread_mutex_lock(&pool->mu);
        uint64_t cap = pool->ring_mask + 1;
        pthread_mutex_unlock(&pool->mu);
        check_uint(cap, <=, 64); /* the first ring, reused */
        gate_release(&g, 1);
        check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
        check_int(atomic_load(&c.ran), ==, 2);
    }
    gate_destroy(&g);
    gate_destroy(&c);
}

static void test_stop_drain(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_t *pool = make_pool("drain", 0, 2, 64);
    if (!check_ptr(pool, !=, NULL))
        return;
    check_err(weft_pool_submit(pool, gated_job, count_done, &g, NULL), 0);
    check_err(weft_pool_submit(pool, gated_job, count_done, &g, NULL), 0);
    gate_wait_started(&g, 2);
    for (int i = 0; i < 20; i++)
        check_err(weft_pool_submit(pool, count_job, count_done, &g, NULL), 0);
    gate_release(&g, 2);
    check_err(weft_pool_stop(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&g.done_ok), ==, 22);
    weft_pool_stats_t s = pool_stats(pool);
    check_uint(s.threads, ==, 0);
    check_uint(s.completed, ==, 22);
    check_err(weft_pool_submit(pool, count_job, count_done, &g, NULL), WEFT_ECLOSED);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, 0), 0);
    check_int(atomic_load(&g.done), ==, 22);
    gate_destroy(&g);
}

typedef struct {
    gate_t *g;
    weft_pool_t *pool;
    gate_t *released; /* opened by the test once stop has returned */
} stop_ctx_t;

static void *open_gate_later(void *arg)
{
    stop_ctx_t *c = arg;
    /* Opens the running jobs' gate only after every queued job was cancelled. */
    gate_wait_hooked(c->released, 20);
    gate_release(c->g, 2);
    return NULL;
}

static void test_stop_cancel(void)
{
    gate_t g, q;
    gate_init(&g);
    gate_init(&q);
    weft_pool_t *pool = make_pool("cancelstop", 0, 2, 64);
    if (!check_ptr(pool, !=, NULL))
        return;
    check_err(weft_pool_submit(pool, gated_job, count_done, &g, NULL), 0);
    check_err(weft_pool_submit(pool, gated_job, count_done, &g, NULL), 0);
    gate_wait_started(&g, 2);
    for (int i = 0; i < 20; i++)
        check_err(weft_pool_submit(pool, count_job, count_done, &q, NULL), 0);
    stop_ctx_t c = {&g, pool, &q};
    pthread_t th;
    pthread_create(&th, NULL, open_gate_later, &c);
    /* Running jobs are waited for (no deadline), queued ones are cancelled first. */
    check_err(weft_pool_stop(pool, WEFT_POOL_STOP_CANCEL, WEFT_POOL_FOREVER), 0);
    pthread_join(th, NULL);
    check_int(atomic_load(&g.done_ok), ==, 2);
    check_int(atomic_load(&q.done_canceled), ==, 20);
    check_int(atomic_load(&q.ran), ==, 0);
    check_uint(pool_stats(pool).cancelled, ==, 20);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_CANCEL, 0), 0);
    gate_destroy(&g);
    gate_destroy(&q);
}

static void run_stop_with_stuck_job(weft_pool_stop_mode_t mode)
{
    log_capture_t cap;
    memset(&cap, 0, sizeof(cap));
    pthread_mutex_init(&cap.mu, NULL);
    gate_t g, q;
    gate_init(&g);
    gate_init(&q);
    weft_pool_t *pool = make_pool("stuck", 0, 1, 64);
    if (!check_ptr(pool, !=, NULL))
        return;
    weft_job_options_t jo;
    weft_job_options_init(&jo);
    jo.name = "resize-images";
    check_err(weft_pool_submit_ex(pool, &jo, gated_job, count_done, &g, NULL), 0);
    gate_wait_started(&g, 1);
    for (int i = 0; i < 3; i++)
        check_err(weft_pool_submit(pool, count_job, count_done, &q, NULL), 0);
    weft_log_set_sink(capture_sink, &cap);
    /* The job never returns by itself: the gate stays shut until stop has given up. */
    check_err(weft_pool_free(pool, mode, 20), WEFT_ETIMEDOUT);
    weft_log_set_sink(NULL, NULL);
    pthread_mutex_lock(&cap.mu);
    check(strstr(cap.text, "resize-images") != NULL);
    check(strstr(cap.text, "weft-stuck-0") != NULL);
    check_int(cap.records, >=, 1);
    pthread_mutex_unlock(&cap.mu);
    if (cap.records == 0 || strstr(cap.text, "resize-images") == NULL)
        diag("log: %s", cap.text);
    /* The pool is still valid and closed. */
    check_err(weft_pool_submit(pool, count_job, count_done, &q, NULL), WEFT_ECLOSED);
    check_uint(pool_stats(pool).running, ==, 1);
    gate_release(&g, 1);
    check_err(weft_pool_free(pool, mode, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&g.done_ok), ==, 1);
    if (mode == WEFT_POOL_STOP_DRAIN)
        check_int(atomic_load(&q.done_ok), ==, 3);
    else
        check_int(atomic_load(&q.done_canceled), ==, 3);
    check_int(atomic_load(&q.done), ==, 3);
    pthread_mutex_destroy(&cap.mu);
    gate_destroy(&g);
    gate_destroy(&q);
}

static void test_stop_stuck_drain(void)
{
    run_stop_with_stuck_job(WEFT_POOL_STOP_DRAIN);
}

static void test_stop_stuck_cancel(void)
{
    run_stop_with_stuck_job(WEFT_POOL_STOP_CANCEL);
}

typedef struct {
    weft_pool_t *pool;
    int rc;
} stopper_t;

static void *stop_forever(void *arg)
{
    stopper_t *s = arg;
    s->rc = weft_pool_stop(s->pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER);
    return NULL;
}

static void test_concurrent_stops(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_t *pool = make_pool("twostops", 0, 1, 4);
    if (!check_ptr(pool, !=, NULL))
        return;
    check_err(weft_pool_submit(pool, gated_job, count_done, &g, NULL), 0);
    gate_wait_started(&g, 1);
    stopper_t s = {pool, 1};
    pthread_t th;
    pthread_create(&th, NULL, stop_forever, &s);
    /* Whether or not the other stop is already waiting, this one keeps its own deadline. */
    weft_log_set_sink(quiet_sink, NULL);
    check_err(weft_pool_stop(pool, WEFT_POOL_STOP_CANCEL, 10), WEFT_ETIMEDOUT);
    weft_log_set_sink(NULL, NULL);
    gate_release(&g, 1);
    pthread_join(th, NULL);
    check_err(s.rc, 0);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&g.done_ok), ==, 1);
    gate_destroy(&g);
}

typedef struct {
    weft_pool_t *pool;
    int free_rc;
    int stop_rc;
    sem_t done;
} self_free_t;

static void self_free_job(void *arg)
{
    self_free_t *s = arg;
    s->free_rc = weft_pool_free(s->pool, WEFT_POOL_STOP_CANCEL, 0);
    s->stop_rc = weft_pool_stop(s->pool, WEFT_POOL_STOP_CANCEL, 0);
}

static void self_free_done(void *arg, int status)
{
    (void)status;
    self_free_t *s = arg;
    sem_post(&s->done);
}

static void test_free_from_worker(void)
{
    self_free_t s = {.free_rc = 1, .stop_rc = 1};
    sem_init(&s.done, 0, 0);
    s.pool = make_pool("self", 0, 1, 4);
    if (!check_ptr(s.pool, !=, NULL))
        return;
    check_err(weft_pool_submit(s.pool, self_free_job, self_free_done, &s, NULL), 0);
    sem_wait(&s.done);
    check_err(s.free_rc, WEFT_EWRONGTHREAD);
    check_err(s.stop_rc, WEFT_EWRONGTHREAD);
    /* Nothing was done: the pool still takes work. */
    gate_t g;
    gate_init(&g);
    check_err(weft_pool_submit(s.pool, count_job, count_done, &g, NULL), 0);
    check_err(weft_pool_free(s.pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&g.done_ok), ==, 1);
    sem_destroy(&s.done);
    gate_destroy(&g);
}

typedef struct {
    weft_pool_t *pool;
    atomic_int rc;
    atomic_int hooks;
} hook_stop_t;

static void stop_in_hook(void *arg, int status)
{
    hook_stop_t *h = arg;
    if (status == WEFT_ECANCELED)
        atomic_store(&h->rc, weft_pool_free(h->pool, WEFT_POOL_STOP_CANCEL, 0));
    atomic_fetch_add(&h->hooks, 1);
}

static void test_free_from_stop_hook(void)
{
    gate_t g;
    gate_init(&g);
    hook_stop_t h = {.pool = make_pool("hookstop", 0, 1, 4)};
    atomic_init(&h.rc, 1);
    atomic_init(&h.hooks, 0);
    if (!check_ptr(h.pool, !=, NULL))
        return;
    check_err(weft_pool_submit(h.pool, gated_job, count_done, &g, NULL), 0);
    gate_wait_started(&g, 1);
    check_err(weft_pool_submit(h.pool, count_job, stop_in_hook, &h, NULL), 0);
    /* The worker is held, so the stop cancels the queued job and runs its hook here. */
    weft_log_set_sink(quiet_sink, NULL);
    check_err(weft_pool_stop(h.pool, WEFT_POOL_STOP_CANCEL, 0), WEFT_ETIMEDOUT);
    weft_log_set_sink(NULL, NULL);
    check_int(atomic_load(&h.hooks), ==, 1);
    check_err(atomic_load(&h.rc), WEFT_EWRONGTHREAD);
    gate_release(&g, 1);
    check_err(weft_pool_free(h.pool, WEFT_POOL_STOP_CANCEL, WEFT_POOL_FOREVER), 0);
    gate_destroy(&g);
}

static void test_submit_after_stop(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_t *pool = make_pool("closed", 0, 1, 4);
    if (!check_ptr(pool, !=, NULL))
        return;
    check_err(weft_pool_stop(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_err(weft_pool_submit(pool, count_job, count_done, &g, NULL), WEFT_ECLOSED);
    weft_job_options_t jo;
    weft_job_options_init(&jo);
    jo.room_timeout_ms = WEFT_POOL_FOREVER;
    check_err(weft_pool_submit_ex(pool, &jo, count_job, count_done, &g, NULL), WEFT_ECLOSED);
    check_err(weft_pool_stop(pool, WEFT_POOL_STOP_CANCEL, 0), 0); /* a second stop is fine */
    check_err(weft_pool_stop(pool, (weft_pool_stop_mode_t)9, 0), WEFT_EINVAL);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, 0), 0);
    check_int(atomic_load(&g.done), ==, 0);
    check_int(atomic_load(&g.ran), ==, 0);
    gate_destroy(&g);
}

/* ------------------------------------------------------------------------- from workers */

typedef struct {
    weft_pool_t *pool;
    gate_t g;
    atomic_int depth;
} chain_t;

static void chain_done(void *arg, int status);

static void chain_job(void *arg)
{
    chain_t *c = arg;
    atomic_fetch_add(&c->g.ran, 1);
    if (atomic_fetch_add(&c->depth, 1) < 9) {
        int rc = weft_pool_submit(c->pool, chain_job, chain_done, c, NULL);
        if (rc != 0)
            diag("submit from a worker: %s", weft_err_name(rc));
    }
}

static void chain_done(void *arg, int status)
{
    chain_t *c = arg;
    count_done(&c->g, status);
}

static void test_submit_from_worker(void)
{
    chain_t c;
    gate_init(&c.g);
    atomic_init(&c.depth, 0);
    c.pool = make_pool("chain", 0, 2, 16);
    if (!check_ptr(c.pool, !=, NULL))
        return;
    check_err(weft_pool_submit(c.pool, chain_job, chain_done, &c, NULL), 0);
    gate_wait_hooked(&c.g, 10);
    check_int(atomic_load(&c.g.ran), ==, 10);
    check_int(atomic_load(&c.g.done_ok), ==, 10);
    check_err(weft_pool_free(c.pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&c.g.done), ==, 10);
    gate_destroy(&c.g);
}

static void test_every_path_hooks_once(void)
{
    gate_t hold, ran, canc, late, stopped;
    gate_init(&hold);
    gate_init(&ran);
    gate_init(&canc);
    gate_init(&late);
    gate_init(&stopped);
    weft_pool_t *pool = make_pool("paths", 0, 1, 64);
    if (!check_ptr(pool, !=, NULL))
        return;
    check_err(weft_pool_submit(pool, count_job, count_done, &ran, NULL), 0);
    gate_wait_hooked(&ran, 1);
    check_err(weft_pool_submit(pool, gated_job, count_done, &hold, NULL), 0);
    gate_wait_started(&hold, 1);
    weft_job_id_t id;
    check_err(weft_pool_submit(pool, count_job, count_done, &canc, &id), 0);
    check_err(weft_pool_cancel(pool, id), 0);
    weft_job_options_t jo;
    weft_job_options_init(&jo);
    jo.start_timeout_ms = 1;
    check_err(weft_pool_submit_ex(pool, &jo, count_job, count_done, &late, NULL), 0);
    gate_wait_hooked(&late, 1);
    for (int i = 0; i < 5; i++)
        check_err(weft_pool_submit(pool, count_job, count_done, &stopped, NULL), 0);
    weft_log_set_sink(quiet_sink, NULL);
    check_err(weft_pool_stop(pool, WEFT_POOL_STOP_CANCEL, 0), WEFT_ETIMEDOUT);
    weft_log_set_sink(NULL, NULL);
    gate_release(&hold, 1);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_CANCEL, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&ran.done), ==, 1);
    check_int(atomic_load(&ran.done_ok), ==, 1);
    check_int(atomic_load(&hold.done_ok), ==, 1);
    check_int(atomic_load(&canc.done), ==, 1);
    check_int(atomic_load(&canc.done_canceled), ==, 1);
    check_int(atomic_load(&late.done), ==, 1);
    check_int(atomic_load(&late.done_timedout), ==, 1);
    check_int(atomic_load(&stopped.done), ==, 5);
    check_int(atomic_load(&stopped.done_canceled), ==, 5);
    check_int(atomic_load(&canc.ran) + atomic_load(&late.ran) + atomic_load(&stopped.ran), ==, 0);
    gate_destroy(&hold);
    gate_destroy(&ran);
    gate_destroy(&canc);
    gate_destroy(&late);
    gate_destroy(&stopped);
}

/* ---------------------------------------------------------------- review regressions */

static weft_pool_t *nest_a, *nest_b;
static sem_t nest_gate_a, nest_gate_b, nest_started;
static int nest_free_rc = 12345;

static void nest_hold_a(void *arg)
{
    (void)arg;
    sem_post(&nest_started);
    while (sem_wait(&nest_gate_a) != 0)
        ;
}

static void nest_hold_b(void *arg)
{
    (void)arg;
    sem_post(&nest_started);
    while (sem_wait(&nest_gate_b) != 0)
        ;
}

static void nest_noop(void *arg)
{
    (void)arg;
}

static void nest_a_hook1(void *arg, int status)
{
    (void)arg;
    if (status != WEFT_ECANCELED)
        return;
    sem_post(&nest_gate_b); /* B's running job may finish, so stop(B) returns */
    int rc = weft_pool_stop(nest_b, WEFT_POOL_STOP_CANCEL, WEFT_POOL_FOREVER);
    (void)rc;
}

static void nest_a_hook2(void *arg, int status)
{
    (void)arg;
    if (status != WEFT_ECANCELED)
        return;
    sem_post(&nest_gate_a);
    nest_free_rc = weft_pool_free(nest_a, WEFT_POOL_STOP_CANCEL, WEFT_POOL_FOREVER);
}

static void test_free_from_nested_stop_hook(void)
{
    sem_init(&nest_gate_a, 0, 0);
    sem_init(&nest_gate_b, 0, 0);
    sem_init(&nest_started, 0, 0);
    nest_a = make_pool("nest-a", 0, 1, 0);
    nest_b = make_pool("nest-b", 0, 1, 0);
    check_err(weft_pool_submit(nest_a, nest_hold_a, NULL, NULL, NULL), 0);
    check_err(weft_pool_submit(nest_b, nest_hold_b, NULL, NULL, NULL), 0);
    sem_wait(&nest_started);
    sem_wait(&nest_started);
    check_err(weft_pool_submit(nest_b, nest_noop, NULL, NULL, NULL), 0); /* queued on B */
    check_err(weft_pool_submit(nest_a, nest_noop, nest_a_hook1, NULL, NULL), 0);
    check_err(weft_pool_submit(nest_a, nest_noop, nest_a_hook2, NULL, NULL), 0);
    /* stop(A) cancels both queued jobs: hook1 stops B (a stop inside a stop), then hook2
     * tries to free A, whose stop is still running: refused, not a use after free. */
    check_err(weft_pool_stop(nest_a, WEFT_POOL_STOP_CANCEL, WEFT_POOL_FOREVER), 0);
    check_err(nest_free_rc, WEFT_EWRONGTHREAD);
    check_err(weft_pool_free(nest_b, WEFT_POOL_STOP_CANCEL, WEFT_POOL_FOREVER), 0);
    check_err(weft_pool_free(nest_a, WEFT_POOL_STOP_CANCEL, WEFT_POOL_FOREVER), 0);
}

static void test_foreign_id(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_t *a = make_pool("ids-a", 0, 1, 0);
    weft_pool_t *b = make_pool("ids-b", 0, 1, 0);
    weft_job_id_t ida, idb;
    check_err(weft_pool_submit(a, gated_job, count_done, &g, NULL), 0);
    check_err(weft_pool_submit(b, gated_job, count_done, &g, NULL), 0);
    gate_wait_started(&g, 2);
    check_err(weft_pool_submit(a, gated_job, count_done, &g, &ida), 0); /* queued */
    check_err(weft_pool_submit(b, gated_job, count_done, &g, &idb), 0); /* queued */
    check(ida != idb); /* two new pools do not hand out the same ids */
    check_err(weft_pool_cancel(a, idb), WEFT_ENOENT);
    check_err(weft_pool_cancel(b, ida), WEFT_ENOENT);
    gate_release(&g, 4);
    check_err(weft_pool_free(a, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_err(weft_pool_free(b, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&g.done_ok), ==, 4);
    gate_destroy(&g);
}

/* ------------------------------------------------------------------------- batches */

static void test_submit_batch(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_t *pool = make_pool("batch", 0, 1, 3);
    if (!check_ptr(pool, !=, NULL))
        return;
    check_err(weft_pool_submit(pool, gated_job, count_done, &g, NULL), 0);
    gate_wait_started(&g, 1); /* the only worker is held: the batch stays queued */
    weft_pool_batch_job_t jobs[5];
    for (int i = 0; i < 5; i++)
        jobs[i] = (weft_pool_batch_job_t){.fn = count_job, .done = count_done, .arg = &g};
    jobs[1].fn = NULL;
    check_uint(weft_pool_submit_batch(pool, jobs, 5), ==, 3);
    check_err(jobs[0].rc, 0);
    check_err(jobs[1].rc, WEFT_EINVAL);
    check_err(jobs[2].rc, 0);
    check_err(jobs[3].rc, 0);
    check_err(jobs[4].rc, WEFT_EOVERLOAD); /* queue_limit 3 */
    check(jobs[0].id != 0 && jobs[2].id != 0 && jobs[3].id != 0);
    check(jobs[0].id != jobs[2].id && jobs[2].id != jobs[3].id);
    weft_pool_stats_t s = pool_stats(pool);
    check_uint(s.queued, ==, 3);
    check_uint(s.submitted, ==, 4);
    check_uint(s.rejected, ==, 1);
    check_err(weft_pool_cancel(pool, jobs[2].id), 0); /* each id names its job */
    gate_release(&g, 1);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&g.ran), ==, 3); /* the held job and two of the batch */
    check_int(atomic_load(&g.done), ==, 4);
    check_int(atomic_load(&g.done_canceled), ==, 1); /* refused entries never hook */
    gate_destroy(&g);
}

static void test_submit_batch_refused(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_batch_job_t jobs[2] = {{.fn = count_job, .done = count_done, .arg = &g},
                                     {.fn = count_job, .done = count_done, .arg = &g}};
    check_uint(weft_pool_submit_batch(NULL, jobs, 2), ==, 0);
    check_err(jobs[0].rc, WEFT_EINVAL);
    check_err(jobs[1].rc, WEFT_EINVAL);
    weft_pool_t *pool = make_pool("batch-closed", 0, 2, 16);
    if (!check_ptr(pool, !=, NULL))
        return;
    check_uint(weft_pool_submit_batch(pool, jobs, 0), ==, 0);
    check_err(weft_pool_stop(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_uint(weft_pool_submit_batch(pool, jobs, 2), ==, 0);
    check_err(jobs[0].rc, WEFT_ECLOSED);
    check_err(jobs[1].rc, WEFT_ECLOSED);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&g.done), ==, 0);
    gate_destroy(&g);
}

/* ------------------------------------------------------------------------- spinning */

static weft_pool_t *make_spin_pool(const char *name, unsigned max, unsigned spin_us)
{
    weft_pool_options_t o;
    weft_pool_options_init(&o);
    o.name = name;
    o.max_threads = max;
    o.spin_us = spin_us;
    return weft_pool_new(&o, NULL);
}

static void test_spin_options(void)
{
    weft_pool_options_t o;
    weft_pool_options_init(&o);
    check_uint(o.spin_us, ==, 50);
    weft_pool_options_init_cpu(&o);
    check_uint(o.spin_us, ==, 50);
    o.spin_us = 10001;
    int err = 0;
    check_ptr(weft_pool_new(&o, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    /* Without spinning every job still runs. */
    gate_t g;
    gate_init(&g);
    weft_pool_t *pool = make_spin_pool("nospin", 2, 0);
    if (!check_ptr(pool, !=, NULL))
        return;
    for (int i = 0; i < 100; i++) {
        check_err(weft_pool_submit(pool, count_job, count_done, &g, NULL), 0);
        gate_wait_hooked(&g, 1);
    }
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&g.ran), ==, 100);
    gate_destroy(&g);
}

/* One job in flight at a time, each sent the moment the last one's hook ran: the worker is
 * then watching the queue, and takes each job without being woken. None is lost. */
static void test_spin_takes_next_job(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_t *pool = make_spin_pool("spin", 2, 10000);
    if (!check_ptr(pool, !=, NULL))
        return;
    int n = t_under_valgrind() ? 200 : 5000;
    for (int i = 0; i < n; i++) {
        check_err(weft_pool_submit(pool, count_job, count_done, &g, NULL), 0);
        gate_wait_hooked(&g, 1);
    }
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&g.ran), ==, n);
    check_int(atomic_load(&g.done_ok), ==, n);
    gate_destroy(&g);
}

/* Two jobs sent while one worker watches the queue: it takes one and the second wakes the
 * other worker, so the two run at the same time (neither waits for the spinner). */
static void test_spin_second_job_wakes_another(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_t *pool = make_spin_pool("spin2", 2, 10000);
    if (!check_ptr(pool, !=, NULL))
        return;
    for (int i = 0; i < 2; i++)
        check_err(weft_pool_submit(pool, gated_job, count_done, &g, NULL), 0);
    gate_wait_started(&g, 2); /* both threads exist */
    gate_release(&g, 2);
    gate_wait_hooked(&g, 2);
    for (int round = 0; round < 20; round++) {
        check_err(weft_pool_submit(pool, count_job, count_done, &g, NULL), 0);
        gate_wait_hooked(&g, 1); /* its worker now watches the queue (for up to 10 ms) */
        /* One batch: both are queued under one hold of the lock, so the spinner cannot take
         * the first before the second is queued. */
        weft_pool_batch_job_t two[2] = {{.fn = gated_job, .done = count_done, .arg = &g},
                                        {.fn = gated_job, .done = count_done, .arg = &g}};
        check_uint(weft_pool_submit_batch(pool, two, 2), ==, 2);
        gate_wait_started(&g, 2); /* both run at once: hangs (watchdog) if one waited */
        gate_release(&g, 2);
        gate_wait_hooked(&g, 2);
    }
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    check_int(atomic_load(&g.done), ==, 2 + 20 * 3);
    gate_destroy(&g);
}

/* A stop while a worker watches the queue returns once the watch ends. */
static void test_stop_while_spinning(void)
{
    gate_t g;
    gate_init(&g);
    weft_pool_t *pool = make_spin_pool("spin-stop", 1, 10000);
    if (!check_ptr(pool, !=, NULL))
        return;
    check_err(weft_pool_submit(pool, count_job, count_done, &g, NULL), 0);
    gate_wait_hooked(&g, 1);
    check_err(weft_pool_stop(pool, WEFT_POOL_STOP_CANCEL, WEFT_POOL_FOREVER), 0);
    check_uint(pool_stats(pool).threads, ==, 0);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, 0), 0);
    gate_destroy(&g);
}

int main(void)
{
    TEST(test_submit_runs_job_then_hook(),
         "submit runs the job, then its hook with status 0 on the same worker");
    TEST(test_thread_names_and_signals(),
         "workers are named weft-<name>-<n> and block asynchronous signals, not SIGSEGV");
    TEST(test_long_name_cut(), "a long pool name is cut so the thread name fits 15 bytes");
    TEST(test_cpu_pool_priority(),
         "CPU pool options run workers under SCHED_BATCH at nice +5; a plain pool inherits");
    TEST(test_new_rejects_bad_options(),
         "weft_pool_new rejects min > max, a bad nice offset or sched with WEFT_EINVAL");
    TEST(test_new_defaults(), "weft_pool_new(NULL) gives the documented defaults, no threads yet");
    TEST(test_overload_fails_at_once(),
         "submit past the queue limit fails at once with WEFT_EOVERLOAD and never runs the hook");
    TEST(test_wait_for_room_succeeds(), "submit waiting for room gets in when a queued job leaves");
    TEST(test_wait_for_room_times_out(),
         "submit waiting for room fails with WEFT_ETIMEDOUT when the queue stays full");
    TEST(test_wait_for_room_closed(), "submit waiting for room fails with WEFT_ECLOSED on stop");
    TEST(test_start_deadline_expires(),
         "a job still queued at its start deadline completes with WEFT_ETIMEDOUT, never runs");
    TEST(test_start_deadline_met(), "a job that starts before its deadline runs normally");
    TEST(test_start_deadlines_in_any_order(),
         "start deadlines submitted out of order each expire; later ones still run");
    TEST(test_cancel_queued(),
         "cancel of a queued job runs its hook with WEFT_ECANCELED on the caller; it never runs");
    TEST(test_queue_order_with_holes(),
         "jobs cancelled at the front, middle and back of a growing queue leave the rest to run "
         "in submit order");
    TEST(test_cancel_running(),
         "cancel of a running job returns WEFT_EBUSY and sets its cooperative cancel flag");
    TEST(test_cancel_stale_id(), "a stale job id cannot cancel a job that reuses its record");
    TEST(test_cancel_flag_outside_job(), "weft_job_cancelled is false outside a job");
    TEST(test_lazy_growth(), "threads start lazily, one per job finding no idle worker, up to max");
    TEST(test_shrink_to_min(), "idle threads above min exit after the idle timeout, min stay");
    TEST(test_lifo_wake(), "idle workers are woken last-in-first-out: the warm one runs all");
    TEST(test_resize_up_under_load(), "resize up starts threads for queued jobs at once");
    TEST(test_resize_down_under_load(),
         "resize down lets busy surplus threads exit after their job, never interrupting it");
    TEST(test_resize_rejects_bad_limits(),
         "resize rejects max 0 or min > max with WEFT_EINVAL, and WEFT_ECLOSED after stop");
    TEST(test_batch_stolen_from_long_job(),
         "a worker with a deep queue takes several jobs at once; when the rest runs out, "
         "another worker takes those stuck behind a long one");
    TEST(test_cancel_in_batch(), "cancel of a job taken in a batch but not started returns 0, "
                                 "runs its hook with WEFT_ECANCELED, and it never runs");
    TEST(test_stop_cancels_batch(),
         "stop in cancel mode cancels jobs waiting in a batch as well as queued ones");
    TEST(test_batch_finished_jobs_count_as_completed(),
         "jobs of a batch that have run count as completed, not queued, while a later one of "
         "the batch still runs; cancelling one answers WEFT_ENOENT");
    TEST(test_queue_ring_holes_bounded(), "cancelling queued jobs behind a waiting head job "
                                          "does not grow the queue ring without bound");
    TEST(test_stop_drain(), "stop in drain mode runs every queued job, then returns 0");
    TEST(test_stop_cancel(),
         "stop in cancel mode completes queued jobs with WEFT_ECANCELED, waits for running ones");
    TEST(test_stop_stuck_drain(),
         "free (drain) with a job that never returns logs it by name, returns WEFT_ETIMEDOUT");
    TEST(test_stop_stuck_cancel(),
         "free (cancel) with a job that never returns logs it by name, returns WEFT_ETIMEDOUT");
    TEST(test_concurrent_stops(),
         "a stop keeps its own deadline while another stop waits without one");
    TEST(test_free_from_worker(),
         "weft_pool_free and weft_pool_stop from a worker return WEFT_EWRONGTHREAD");
    TEST(test_free_from_stop_hook(),
         "weft_pool_free from a hook the pool's own stop runs returns WEFT_EWRONGTHREAD");
    TEST(test_submit_after_stop(), "submit after stop fails with WEFT_ECLOSED, hook never runs");
    TEST(test_submit_from_worker(), "a job may submit to its own pool");
    TEST(test_every_path_hooks_once(),
         "every accepted job's hook runs exactly once: ran, cancelled, timed out, stopped");
    TEST(test_free_from_nested_stop_hook(), "a hook of a pool's stop that stops another pool "
                                            "and then frees its own gets WEFT_EWRONGTHREAD");
    TEST(test_foreign_id(), "a job id from one pool cancels nothing in another (WEFT_ENOENT)");
    TEST(test_submit_batch(), "a batch is queued in order under one lock; each entry says how "
                              "it went and only accepted ones get their hook");
    TEST(test_submit_batch_refused(),
         "a batch to a NULL or stopped pool refuses every entry and calls no hook");
    TEST(test_spin_options(), "spin_us defaults to 50, over 10000 is refused, and 0 turns "
                              "spinning off without losing jobs");
    TEST(test_spin_takes_next_job(),
         "a worker watching the queue takes the next job sent right after a reply; none is lost");
    TEST(test_spin_second_job_wakes_another(),
         "a second job sent while a worker watches the queue wakes another worker at once");
    TEST(test_stop_while_spinning(), "stopping a pool while a worker watches the queue returns "
                                     "and leaves no thread");
    return done_testing();
}
