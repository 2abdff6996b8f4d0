/* SPDX-License-Identifier: MIT */
/* System event triggers: the three phases of startup, shutdown and named events. */

/*
 * Design. Triggers sit in one list in the order they were added. Firing a phase repeatedly
 * takes the first trigger of that event and phase off the list and runs it, so a trigger added
 * to the phase while it fires runs in it too, and each runs once.
 *
 * A firing (weft__firing_t) exists while an event is firing. Each deferred a before-trigger
 * returns gets a wait record and an add_both pair; `pending` counts waits not yet done. The
 * firing is freed when the reactor no longer needs it and every pair has run (`refs`), so a
 * late deferred that fires after the firing went on finds its record alive and harmless.
 * The shutdown's before phase is bounded by a delayed call at the shutdown deadline, which
 * names the late triggers in the log, cancels their deferreds and goes on.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <weft/error.h>

#include "../common/alloc-internal.h"
#include "reactor-internal.h"

typedef struct {
    weft__list_t link;
    weft_trigger_id_t id;
    char *event;
    char *name;
    weft_phase_t phase;
    weft_trigger_fn fn;
    weft_call_fn plain; /* call_when_running's functions return nothing */
    void *arg;
} trigger_t;

typedef struct firing_s firing_t;

typedef struct {
    firing_t *firing;
    weft_deferred_t *d; /* our reference, until it fires */
    char *name;
    bool done;
} wait_t;

struct firing_s {
    weft__list_t link;
    weft_reactor_t *r;
    char *event;
    bool shutdown;
    bool before_ran; /* every before trigger has run (their deferreds may still be pending) */
    bool continued;  /* the before phase is over */
    size_t pending;
    size_t refs; /* 1 for the reactor while firing, 1 per pair not yet run */
    wait_t **waits;
    size_t nwaits;
    weft_call_id_t deadline;
};

void weft__events_init(weft_reactor_t *r)
{
    weft__list_init(&r->triggers);
    weft__list_init(&r->firings);
    r->next_trigger_id = 1;
}

static void trigger_free(trigger_t *t)
{
    weft__free(t->event);
    weft__free(t->name);
    weft__free(t);
}

static int add(weft_reactor_t *r, const char *event, weft_phase_t phase, weft_trigger_fn fn,
               weft_call_fn plain, void *arg, const char *name, weft_trigger_id_t *id)
{
    if (event == NULL || (fn == NULL && plain == NULL) ||
        (phase != WEFT_PHASE_BEFORE && phase != WEFT_PHASE_DURING && phase != WEFT_PHASE_AFTER))
        return WEFT_EINVAL;
    trigger_t *t = weft__calloc(1, sizeof(*t));
    if (t == NULL)
        return WEFT_ENOMEM;
    t->event = weft__strdup(event);
    t->name = name ? weft__strdup(name) : NULL;
    if (t->event == NULL || (name != NULL && t->name == NULL)) {
        trigger_free(t);
        return WEFT_ENOMEM;
    }
    t->id = r->next_trigger_id++;
    t->phase = phase;
    t->fn = fn;
    t->plain = plain;
    t->arg = arg;
    weft__list_push_tail(&r->triggers, &t->link);
    if (id != NULL)
        *id = t->id;
    return 0;
}

int weft_reactor_add_trigger(weft_reactor_t *r, const char *event, weft_phase_t phase,
                             weft_trigger_fn fn, void *arg, const char *name, weft_trigger_id_t *id)
{
    WEFT__LOOP_ONLY(r);
    if (fn == NULL)
        return WEFT_EINVAL;
    return add(r, event, phase, fn, NULL, arg, name, id);
}

int weft_reactor_remove_trigger(weft_reactor_t *r, weft_trigger_id_t id)
{
    WEFT__LOOP_ONLY(r);
    if (id == 0 || id >= r->next_trigger_id)
        return WEFT_EINVAL;
    weft__list_t *pos;
    weft__list_foreach(pos, &r->triggers)
    {
        trigger_t *t = weft__list_entry(pos, trigger_t, link);
        if (t->id == id) {
            weft__list_remove(&t->link);
            trigger_free(t);
            return 0;
        }
    }
    return WEFT_EALREADY;
}

int weft_reactor_call_when_running(weft_reactor_t *r, weft_call_fn fn, void *arg)
{
    WEFT__LOOP_ONLY(r);
    if (fn == NULL)
        return WEFT_EINVAL;
    if (r->running_flag) {
        weft__reactor_count_callback(r);
        WEFT__DISPATCH(r, fn(arg));
        return 0;
    }
    return add(r, "startup", WEFT_PHASE_AFTER, NULL, fn, arg, "call_when_running", NULL);
}

/* ---------------------------------------------------------------- firing */

static void firing_release(firing_t *f)
{
    if (--f->refs > 0)
        return;
    for (size_t i = 0; i < f->nwaits; i++) {
        weft__free(f->waits[i]->name);
        weft__free(f->waits[i]);
    }
    weft__free(f->waits);
    weft__free(f->event);
    weft__free(f);
}

static const char *trigger_label(const trigger_t *t, char *buf, size_t size)
{
    if (t->name != NULL)
        return t->name;
    snprintf(buf, size, "trigger-%llu", (unsigned long long)t->id);
    return buf;
}

static void watch(firing_t *f, weft_deferred_t *d, const char *label);

/* Runs every trigger of f's event and phase, including ones added while it runs. */
static void run_phase(firing_t *f, weft_phase_t phase)
{
    weft_reactor_t *r = f->r;
    for (;;) {
        trigger_t *t = NULL;
        weft__list_t *pos;
        weft__list_foreach(pos, &r->triggers)
        {
            trigger_t *c = weft__list_entry(pos, trigger_t, link);
            if (c->phase == phase && strcmp(c->event, f->event) == 0) {
                t = c;
                break;
            }
        }
        if (t == NULL)
            return;
        weft__list_remove(&t->link);
        weft__reactor_count_callback(r);
        char label[48];
        if (t->plain != NULL) {
            WEFT__DISPATCH(r, t->plain(t->arg));
        } else {
            weft_deferred_t *d;
            WEFT__DISPATCH(r, d = t->fn(t->arg));
            if (d != NULL && phase == WEFT_PHASE_BEFORE)
                watch(f, d, trigger_label(t, label, sizeof(label)));
            else
                weft_deferred_unref(d); /* during and after: not waited for */
        }
        trigger_free(t);
    }
}

static void finish(firing_t *f)
{
    weft_reactor_t *r = f->r;
    if (f->deadline != 0) {
        (void)weft_delayed_call_cancel(r, f->deadline);
        f->deadline = 0;
    }
    bool startup = !f->shutdown && strcmp(f->event, "startup") == 0;
    if (f->shutdown)
        r->running_flag = false; /* Twisted: running ends at the first during-shutdown step */
    else if (startup && weft__reactor_is_started(r))
        r->running_flag = true;
    /* A startup whose before triggers outlived a stop never revives the reactor: its during
     * and after triggers (call_when_running ...) are dropped with the reactor. */
    if (!startup || weft__reactor_is_started(r)) {
        run_phase(f, WEFT_PHASE_DURING);
        run_phase(f, WEFT_PHASE_AFTER);
    }
    weft__list_remove(&f->link);
    bool shutdown = f->shutdown;
    firing_release(f);
    if (shutdown)
        weft__reactor_shutdown_done(r);
}

static weft_result_t wait_done(weft_result_t result, void *arg)
{
    wait_t *w = arg;
    firing_t *f = w->firing;
    if (result.kind == WEFT_RESULT_FAILURE && !f->continued) {
        char text[512];
        weft_failure_format(result.failure, text, sizeof(text));
        weft__reactor_log(f->r, WEFT_LOG_WARN, "before-%s trigger %s failed: %s", f->event, w->name,
                          text);
    }
    weft_result_free(result);
    w->done = true;
    /* Inside d's own chain: the runner holds d, so dropping ours here is safe. */
    weft_deferred_unref(w->d);
    w->d = NULL;
    f->pending--;
    /* A deferred that had fired already completes here while the before phase still runs its
     * triggers: then fire() goes on, not us. */
    if (!f->continued && f->pending == 0 && f->before_ran) {
        f->continued = true;
        finish(f);
    }
    firing_release(f);
    return weft_ok(NULL, NULL); /* handled here: never an unhandled error */
}

static void watch(firing_t *f, weft_deferred_t *d, const char *label)
{
    wait_t *w = weft__calloc(1, sizeof(*w));
    wait_t **waits = w ? weft__realloc(f->waits, (f->nwaits + 1) * sizeof(*waits)) : NULL;
    if (waits == NULL) {
        weft__free(w);
        weft__reactor_log(f->r, WEFT_LOG_ERROR,
                          "out of memory: not waiting for before-%s trigger %s", f->event, label);
        weft_deferred_unref(d);
        return;
    }
    f->waits = waits;
    f->waits[f->nwaits++] = w;
    w->firing = f;
    w->d = d;
    w->name = weft__strdup(label);
    f->pending++;
    f->refs++;
    if (weft_deferred_add_both(d, wait_done, w) != 0) {
        /* Promised elsewhere or out of memory: it cannot hold the phase up. */
        weft__reactor_log(f->r, WEFT_LOG_ERROR,
                          "cannot wait for before-%s trigger %s: its deferred is not usable",
                          f->event, label);
        w->done = true;
        w->d = NULL;
        f->pending--;
        f->refs--;
        weft_deferred_unref(d);
    }
}

static void on_deadline(void *arg)
{
    firing_t *f = arg;
    f->deadline = 0;
    f->continued = true;
    f->refs++; /* the cancels below may run pairs that release f */
    for (size_t i = 0; i < f->nwaits; i++) {
        wait_t *w = f->waits[i];
        if (w->done)
            continue;
        weft__reactor_log(f->r, WEFT_LOG_WARN,
                          "before-%s trigger %s still pending at the %.3gs deadline: "
                          "cancelling it and going on",
                          f->event, w->name, f->r->shutdown_deadline);
        weft_deferred_t *d = weft_deferred_ref(w->d);
        int rc = weft_deferred_cancel(d);
        if (rc != 0)
            weft__reactor_log(f->r, WEFT_LOG_WARN,
                              "before-%s trigger %s: its canceller refused (%s); going on anyway",
                              f->event, w->name, weft_err_name(rc));
        weft_deferred_unref(d);
    }
    f->refs--;
    finish(f);
}

static int fire(weft_reactor_t *r, const char *event, bool shutdown)
{
    weft__list_t *pos;
    weft__list_foreach(pos, &r->firings)
    {
        if (strcmp(weft__list_entry(pos, firing_t, link)->event, event) == 0)
            return WEFT_EALREADY;
    }
    firing_t *f = weft__calloc(1, sizeof(*f));
    if (f == NULL || (f->event = weft__strdup(event)) == NULL) {
        weft__free(f);
        return WEFT_ENOMEM;
    }
    f->r = r;
    f->shutdown = shutdown;
    f->refs = 1;
    weft__list_push_tail(&r->firings, &f->link);
    f->refs++; /* held across the before phase, whose pairs may finish f synchronously */
    run_phase(f, WEFT_PHASE_BEFORE);
    f->before_ran = true;
    if (f->pending == 0) {
        f->continued = true;
        finish(f);
    } else if (shutdown && isfinite(r->shutdown_deadline) && r->shutdown_deadline > 0) {
        if (weft_reactor_call_later(r, r->shutdown_deadline, on_deadline, f, &f->deadline) != 0)
            f->deadline = 0;
    }
    firing_release(f);
    return 0;
}

int weft_reactor_fire_event(weft_reactor_t *r, const char *event)
{
    WEFT__LOOP_ONLY(r);
    if (event == NULL)
        return WEFT_EINVAL;
    return fire(r, event, false);
}

int weft__events_fire_startup(weft_reactor_t *r)
{
    return fire(r, "startup", false);
}

int weft__events_fire_shutdown(weft_reactor_t *r)
{
    return fire(r, "shutdown", true);
}

bool weft__events_busy(const weft_reactor_t *r)
{
    return !weft__list_is_empty(&r->firings);
}

void weft__events_release(weft_reactor_t *r)
{
    weft__list_t *pos, *tmp;
    weft__list_foreach_safe(pos, tmp, &r->triggers)
    {
        trigger_t *t = weft__list_entry(pos, trigger_t, link);
        weft__list_remove(&t->link);
        trigger_free(t);
    }
}
