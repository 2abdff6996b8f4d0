/* SPDX-License-Identifier: MIT */
/* TimerService: a LoopingCall run as a service. */

/*
 * Design. Each start makes a new looping call (as Twisted does) and keeps a reference to its
 * start deferred, `done`, which fires when the loop stops or fails; an errback on it logs a
 * failure and consumes it. Stopping hands `done` to weft_service_stop, so the service's stop
 * deferred fires when the call in flight has finished. The looping call itself is freed at
 * the next start or when the service is freed, never from inside its own deferred's chain.
 */
#include <math.h>

#include <weft/error.h>
#include <weft/log.h>
#include <weft/timer-service.h>

#include "../../common/alloc-internal.h"

typedef struct {
    double interval;
    weft_looping_fn fn;
    void *arg;
    weft_looping_call_t *lc;
    weft_deferred_t *done; /* our reference to lc's start deferred, while it runs */
} timer_state_t;

static weft_result_t loop_failed(weft_failure_t *f, void *arg)
{
    weft_service_t *s = arg;
    const char *name = weft_service_name(s) ? weft_service_name(s) : "(unnamed)";
    char text[512];
    weft_failure_format(f, text, sizeof(text));
    weft_log_field_t fields[] = {{"service", name}};
    weft_log_with(WEFT_LOG_ERROR, "service", fields, 1,
                  "timer service %s: its function failed, the loop is not restarted: %s", name,
                  text);
    weft_failure_free(f);
    return weft_ok(NULL, NULL);
}

static int timer_start(weft_service_t *s)
{
    timer_state_t *t = weft_service_get_data(s);
    weft_looping_call_free(t->lc); /* the previous run's, stopped */
    t->lc = NULL;
    int rc = 0;
    t->lc = weft_looping_call_new(weft_service_reactor(s), t->fn, t->arg, &rc);
    if (t->lc == NULL)
        return rc;
    rc = weft_looping_call_start(t->lc, t->interval, true, &t->done);
    if (rc != 0)
        return rc;
    rc = weft_deferred_add_errback(t->done, loop_failed, s);
    if (rc != 0) {
        (void)weft_looping_call_stop(t->lc);
        weft_deferred_unref(t->done);
        t->done = NULL;
    }
    return rc;
}

static weft_result_t timer_stop(weft_service_t *s)
{
    timer_state_t *t = weft_service_get_data(s);
    weft_deferred_t *d = t->done;
    t->done = NULL;
    if (t->lc != NULL && weft_looping_call_is_running(t->lc)) {
        int rc = weft_looping_call_stop(t->lc);
        WEFT_ASSERT(rc == 0);
        return weft_wait_for(d); /* fires when the call in flight has finished */
    }
    weft_deferred_unref(d); /* failed earlier: already logged */
    return weft_ok(NULL, NULL);
}

static void timer_free(weft_service_t *s)
{
    timer_state_t *t = weft_service_get_data(s);
    weft_looping_call_free(t->lc);
    weft_deferred_unref(t->done);
    weft__free(t);
}

static const weft_service_ops_t timer_ops = {
    .start = timer_start,
    .stop = timer_stop,
    .free = timer_free,
};

weft_service_t *weft_timer_service_new(weft_reactor_t *r, const char *name, double interval,
                                       weft_looping_fn fn, void *arg, int *err)
{
    if (r == NULL || fn == NULL || !isfinite(interval) || interval < 0) {
        if (err != NULL)
            *err = WEFT_EINVAL;
        return NULL;
    }
    timer_state_t *t = weft__calloc(1, sizeof(*t));
    if (t == NULL) {
        if (err != NULL)
            *err = WEFT_ENOMEM;
        return NULL;
    }
    t->interval = interval;
    t->fn = fn;
    t->arg = arg;
    weft_service_t *s = weft_service_new(r, name, &timer_ops, t, err);
    if (s == NULL)
        weft__free(t);
    return s;
}
