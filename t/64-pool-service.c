/* SPDX-License-Identifier: MIT */
/* The pool service: a pool started and stopped with a deadline, off the loop thread. */
#include <sched.h>
#include <semaphore.h>
#include <string.h>

#include <weft/deferred.h>
#include <weft/error.h>
#include <weft/failure.h>
#include <weft/pool-service.h>
#include <weft/service.h>
#include <weft/threadpool.h>

#include "helpers.h"
#include "tap.h"

static weft_reactor_t *R;
static sem_t gate, job_started, job_done;

typedef struct {
    int fired;
    bool failed;
    const weft_failure_type_t *type;
    int code;
} catch_t;

static weft_result_t catch_both(weft_result_t res, void *arg)
{
    catch_t *c = arg;
    c->fired++;
    if (res.kind == WEFT_RESULT_FAILURE) {
        c->failed = true;
        c->type = weft_failure_type(res.failure);
        c->code = weft_failure_code(res.failure);
    }
    weft_result_free(res);
    return weft_ok(NULL, NULL);
}

static void catch_on(weft_deferred_t *d, catch_t *c)
{
    memset(c, 0, sizeof(*c));
    check_err(weft_deferred_add_both(d, catch_both, c), 0);
}

static weft_service_t *pool_service(double deadline)
{
    weft_pool_service_options_t o;
    weft_pool_service_options_init(&o);
    o.pool.name = "svc";
    o.pool.max_threads = 2;
    o.stop_deadline = deadline;
    int err = 0;
    weft_service_t *s = weft_pool_service_new(R, "pool", &o, &err);
    if (s == NULL)
        bail_out("weft_pool_service_new: %s", weft_strerror(err));
    return s;
}

static void gated_job(void *arg)
{
    (void)arg;
    sem_post(&job_started);
    while (sem_wait(&gate) != 0)
        ;
}

static void gated_done(void *arg, int status)
{
    (void)arg;
    (void)status;
    sem_post(&job_done);
}

static void begin(void)
{
    R = t_reactor(false);
    sem_init(&gate, 0, 0);
    sem_init(&job_started, 0, 0);
    sem_init(&job_done, 0, 0);
}

static void end(void)
{
    t_teardown(R);
    sem_destroy(&gate);
    sem_destroy(&job_started);
    sem_destroy(&job_done);
}

/* Queues the gated job and waits until it runs (a queued one would just be cancelled). */
static void run_gated_job(weft_service_t *s)
{
    check_err(weft_pool_submit(weft_pool_service_pool(s), gated_job, gated_done, NULL, NULL), 0);
    while (sem_wait(&job_started) != 0)
        ;
}

static void test_start_stop(void)
{
    begin();
    weft_service_t *s = pool_service(10);
    check_ptr(weft_pool_service_pool(s), ==, NULL);
    check_err(weft_service_start(s), 0);
    weft_pool_t *p = weft_pool_service_pool(s);
    check(p != NULL);
    check_str(weft_pool_get_name(p), "svc");
    weft_deferred_t *done = NULL;
    check_err(weft_service_stop(s, &done), 0);
    check_ptr(weft_pool_service_pool(s), ==, NULL);
    catch_t c;
    catch_on(done, &c);
    t_run_until(R, &c.fired, 1000);
    check_int(c.fired, ==, 1);
    check(!c.failed);
    weft_deferred_unref(done);
    /* A stopped pool service starts again with a new pool. */
    check_err(weft_service_start(s), 0);
    check(weft_pool_service_pool(s) != NULL);
    check_err(weft_service_stop(s, &done), 0);
    catch_on(done, &c);
    t_run_until(R, &c.fired, 1000);
    check(!c.failed);
    weft_deferred_unref(done);
    check_err(weft_service_free(s), 0);
    end();
}

static void test_stop_waits_for_running_job(void)
{
    begin();
    weft_service_t *s = pool_service(30);
    check_err(weft_service_start(s), 0);
    run_gated_job(s);
    weft_deferred_t *done = NULL;
    check_err(weft_service_stop(s, &done), 0);
    catch_t c;
    catch_on(done, &c);
    check_int(c.fired, ==, 0); /* the loop did not block: we are here */
    check(weft_service_is_stopping(s));
    check_err(weft_service_start(s), WEFT_EBUSY);
    sem_post(&gate);
    t_run_until(R, &c.fired, 100000);
    check_int(c.fired, ==, 1);
    check(!c.failed);
    weft_deferred_unref(done);
    check_err(weft_service_free(s), 0);
    end();
}

static void test_deadline_passed(void)
{
    begin();
    weft_service_t *s = pool_service(0.05);
    check_err(weft_service_start(s), 0);
    run_gated_job(s);
    weft_deferred_t *done = NULL;
    check_err(weft_service_stop(s, &done), 0);
    catch_t c;
    catch_on(done, &c);
    t_run_until(R, &c.fired, 100000);
    check_int(c.fired, ==, 1);
    check(c.failed);
    check_ptr(c.type, ==, &weft_timeout_error_type);
    check_err(c.code, WEFT_ETIMEDOUT);
    weft_deferred_unref(done);
    /* A later start is refused while the old pool still has its job. */
    check_err(weft_service_start(s), WEFT_EBUSY);
    sem_post(&gate);
    while (sem_wait(&job_done) != 0)
        ;
    check_err(weft_service_free(s), 0); /* the job is done: the pool is freed */
    end();
}

static void test_cancelled_stop(void)
{
    begin();
    weft_service_t *s = pool_service(30);
    check_err(weft_service_start(s), 0);
    run_gated_job(s);
    weft_deferred_t *done = NULL;
    check_err(weft_service_stop(s, &done), 0);
    catch_t c;
    catch_on(done, &c);
    check_err(weft_deferred_cancel(done), 0);
    check_int(c.fired, ==, 1);
    check_ptr(c.type, ==, &weft_cancelled_error_type);
    check(!weft_service_is_stopping(s));
    weft_deferred_unref(done);
    /* Freed while the helper may still be waiting: the state goes with the posted result. */
    sem_post(&gate);
    check_err(weft_service_free(s), 0);
    end();
}

static void test_start_after_late_job(void)
{
    begin();
    weft_service_t *s = pool_service(0.05);
    check_err(weft_service_start(s), 0);
    weft_pool_t *old = weft_pool_service_pool(s); /* kept by the service after the deadline */
    run_gated_job(s);
    weft_deferred_t *done = NULL;
    check_err(weft_service_stop(s, &done), 0);
    catch_t c;
    catch_on(done, &c);
    t_run_until(R, &c.fired, 100000);
    check(c.failed); /* the deadline passed */
    weft_deferred_unref(done);
    /* The job still runs in the old pool: a start is refused. */
    check_err(weft_service_start(s), WEFT_EBUSY);
    sem_post(&gate);
    while (sem_wait(&job_done) != 0)
        ;
    /* The job's done hook has run; wait until its worker counts it finished. */
    weft_pool_stats_t ps;
    for (weft_pool_get_stats(old, &ps); ps.running != 0; weft_pool_get_stats(old, &ps))
        sched_yield();
    /* "A stopped service may be started again": the old pool goes, a new one comes. */
    int rc = weft_service_start(s);
    check_err(rc, 0);
    if (rc == 0) {
        check_ptr(weft_pool_service_pool(s), !=, NULL);
        check_err(weft_service_stop(s, &done), 0);
        catch_on(done, &c);
        t_run_until(R, &c.fired, 100000);
        check(!c.failed);
        weft_deferred_unref(done);
    }
    check_err(weft_service_free(s), 0);
    end();
}

static void test_bad_options(void)
{
    begin();
    weft_pool_service_options_t o;
    weft_pool_service_options_init(&o);
    o.stop_deadline = -1;
    int err = 0;
    check_ptr(weft_pool_service_new(R, "p", &o, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    weft_pool_service_options_init(&o);
    o.stop_mode = (weft_pool_stop_mode_t)7;
    check_ptr(weft_pool_service_new(R, "p", &o, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    weft_service_t *s = weft_pool_service_new(R, NULL, NULL, &err);
    check(s != NULL);
    check_err(weft_service_free(s), 0);
    end();
}

int main(void)
{
    TEST(test_start_stop(), "a pool service makes a pool at start, frees it at stop, and starts "
                            "again with a new one");
    TEST(test_stop_waits_for_running_job(), "its stop deferred waits for a running job without "
                                            "blocking the loop");
    TEST(test_deadline_passed(), "a job still running at the stop deadline fails the stop with "
                                 "weft.TimeoutError");
    TEST(test_cancelled_stop(), "cancelling the stop fails it with CancelledError at once and the "
                                "service can still be freed");
    TEST(test_start_after_late_job(), "a pool service whose stop passed its deadline is refused "
                                      "a start while the late job runs, and starts once it ended");
    TEST(test_bad_options(), "a negative deadline or a bad stop mode is refused; NULL options are "
                             "the defaults");
    return done_testing();
}
