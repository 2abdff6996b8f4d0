/* SPDX-License-Identifier: MIT */
/* doc/guide.md, chapter 3: the thread rules. A worker asks the loop for loop-owned state with
 * weft_blocking_call_from_thread; a thread of the program's own hands work to the loop with
 * weft_reactor_call_from_thread; the loop thread may not block on itself. Exits 0. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

typedef struct {
    weft_reactor_t *r;
    int hits; /* loop-owned: only the loop thread reads or writes it */
    pthread_t mine;
} app_t;

/* Runs on the loop thread, called by a worker through blocking_call_from_thread. */
static weft_result_t read_hits(void *arg)
{
    app_t *app = arg;
    int *copy = malloc(sizeof(*copy));
    if (copy == NULL)
        return weft_fail_new(&weft_error_type, WEFT_ENOMEM, "out of memory");
    *copy = ++app->hits;
    return weft_ok(copy, free);
}

/* The job, on a worker: it may not touch app->hits, so it asks the loop and waits. */
static weft_result_t job(void *arg)
{
    app_t *app = arg;
    weft_result_t got;
    int rc = weft_blocking_call_from_thread(app->r, read_hits, app, 5.0, &got);
    if (rc != 0)
        return weft_fail_new(NULL, rc, "blocking call failed");
    int hits = got.kind == WEFT_RESULT_VALUE ? *(int *)got.value : -1;
    weft_result_free(got); /* *out is ours */
    printf("worker: the loop says hits = %d\n", hits);
    return weft_ok(NULL, NULL);
}

/* Posted by a plain pthread; runs on the loop thread. */
static void from_my_thread(void *arg)
{
    app_t *app = arg;
    printf("loop: a call from my own thread, hits = %d\n", app->hits);
    (void)weft_reactor_stop(app->r);
}

static void *my_thread(void *arg)
{
    app_t *app = arg;
    /* The one reactor function any thread may call. */
    if (weft_reactor_call_from_thread(app->r, from_my_thread, app) != 0)
        fprintf(stderr, "the reactor has stopped\n");
    return NULL;
}

static weft_result_t job_done(void *value, weft_free_fn free_fn, void *arg)
{
    (void)value, (void)free_fn;
    app_t *app = arg;
    if (pthread_create(&app->mine, NULL, my_thread, app) != 0)
        abort();
    return weft_ok(NULL, NULL);
}

static void start(void *arg)
{
    app_t *app = arg;
    /* On the loop thread a blocking call would wait for itself: refused at once. */
    weft_result_t out;
    int rc = weft_blocking_call_from_thread(app->r, read_hits, app, 1.0, &out);
    printf("loop: blocking_call_from_thread here returns %s\n", weft_err_name(rc));

    int err = 0;
    weft_deferred_t *d = weft_defer_to_thread(app->r, job, app, NULL, &err);
    if (d == NULL || weft_deferred_add_callback(d, job_done, app) != 0)
        abort();
    weft_deferred_unref(d);
}

int main(void)
{
    int err = 0;
    app_t app = {weft_reactor_new(NULL, &err), 0, 0};
    if (app.r == NULL || weft_reactor_call_when_running(app.r, start, &app) != 0)
        return 1;
    if (weft_reactor_run(app.r) != 0 || pthread_join(app.mine, NULL) != 0)
        return 1;
    return weft_reactor_free(app.r) == 0 ? 0 : 1;
}
