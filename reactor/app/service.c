/* SPDX-License-Identifier: MIT */
/* Services: the lifecycle every service shares (start, stop, free) and the parent/child tree. */

/*
 * Design. A service is stopped, running, or stopping (running false, `stopping` holding our
 * reference to the deferred its stop gave). weft_service_stop turns ops->stop's result into
 * a deferred (weft_maybe_deferred) and adds one pair to it, `stopped`, which clears the
 * stopping state and hands the result on (a value becomes NULL); whatever the caller adds
 * runs after it, so a caller's callback always sees the service stopped.
 *
 * A parent owns its children (an array in the order they were added). Multi services differ
 * from the others only by their ops table (multi-service.c); the tree itself lives here.
 */
#include <string.h>

#include <weft/error.h>
#include <weft/log.h>

#include "../../common/alloc-internal.h"
#include "service-internal.h"

WEFT_FAILURE_TYPE(weft_service_error_type, "weft.ServiceError", &weft_error_type);

static weft_service_t *make(weft_reactor_t *r, const char *name, const weft_service_ops_t *ops,
                            void *data, int *err)
{
    int rc = 0;
    weft_service_t *s = NULL;
    if (r == NULL || ops == NULL) {
        rc = WEFT_EINVAL;
        goto out;
    }
    s = weft__calloc(1, sizeof(*s));
    if (s == NULL || (name != NULL && (s->name = weft__strdup(name)) == NULL)) {
        weft__free(s);
        s = NULL;
        rc = WEFT_ENOMEM;
        goto out;
    }
    s->r = r;
    s->ops = ops;
    s->data = data;
out:
    if (err != NULL)
        *err = rc;
    return s;
}

weft_service_t *weft_service_new(weft_reactor_t *r, const char *name, const weft_service_ops_t *ops,
                                 void *data, int *err)
{
    return make(r, name, ops, data, err);
}

weft_service_t *weft_multi_service_new(weft_reactor_t *r, const char *name, int *err)
{
    return make(r, name, &weft__multi_service_ops, NULL, err);
}

bool weft_service_is_multi(const weft_service_t *s)
{
    return s->ops == &weft__multi_service_ops;
}

/* True when s or one of its descendants is running or stopping. */
static bool busy(const weft_service_t *s)
{
    if (s->running || s->stopping != NULL)
        return true;
    for (size_t i = 0; i < s->nchildren; i++) {
        if (busy(s->children[i]))
            return true;
    }
    return false;
}

static void release(weft_service_t *s)
{
    if (s->ops->free != NULL)
        s->ops->free(s);
    for (size_t i = 0; i < s->nchildren; i++)
        release(s->children[i]);
    weft__free(s->children);
    weft__free(s->name);
    weft__free(s);
}

int weft_service_free(weft_service_t *s)
{
    if (s == NULL)
        return 0;
    if (s->parent != NULL || busy(s))
        return WEFT_EBUSY;
    release(s);
    return 0;
}

/* ---------------------------------------------------------------- start and stop */

int weft_service_start(weft_service_t *s)
{
    if (s->running)
        return WEFT_EALREADY;
    if (s->stopping != NULL)
        return WEFT_EBUSY;
    s->running = true;
    int rc = s->ops->start != NULL ? s->ops->start(s) : 0;
    if (rc != 0 && !weft_service_is_multi(s))
        s->running = false;
    return rc;
}

/* The first pair on a stop deferred: s has stopped. */
static weft_result_t stopped(weft_result_t result, void *arg)
{
    weft_service_t *s = arg;
    weft_deferred_t *d = s->stopping;
    s->stopping = NULL;
    weft_deferred_unref(d); /* inside d's own chain: the run holds d */
    if (result.kind == WEFT_RESULT_FAILURE)
        return result;
    weft_result_free(result);
    return weft_ok(NULL, NULL);
}

static weft_result_t call_stop(void *arg)
{
    weft_service_t *s = arg;
    return s->ops->stop(s);
}

int weft_service_stop(weft_service_t *s, weft_deferred_t **done)
{
    if (s->stopping != NULL)
        return WEFT_EALREADY;
    if (!s->running)
        return WEFT_ENOTRUNNING;
    s->running = false;
    s->in_stop = true;
    weft_deferred_t *d = s->ops->stop != NULL ? weft_maybe_deferred(call_stop, s)
                                              : weft_deferred_succeed(NULL, NULL);
    s->in_stop = false;
    if (d == NULL) {
        weft_log(WEFT_LOG_ERROR, "service", "out of memory stopping service %s",
                 s->name ? s->name : "(unnamed)");
        return WEFT_ENOMEM; /* its stop ran: it counts as stopped */
    }
    s->stopping = weft_deferred_ref(d);
    int rc = weft_deferred_add_both(d, stopped, s);
    if (rc != 0) {
        /* Promised elsewhere or out of memory: s cannot learn when it stops; call it stopped. */
        weft_log(WEFT_LOG_ERROR, "service", "service %s: cannot wait for its stop (%s)",
                 s->name ? s->name : "(unnamed)", weft_err_name(rc));
        s->stopping = NULL;
        weft_deferred_unref(d);
    }
    if (done != NULL)
        *done = d;
    else
        weft_deferred_unref(d);
    return 0;
}

bool weft_service_is_running(const weft_service_t *s)
{
    return s->running;
}

bool weft_service_is_stopping(const weft_service_t *s)
{
    return s->stopping != NULL;
}

/* ---------------------------------------------------------------- accessors */

const char *weft_service_name(const weft_service_t *s)
{
    return s->name;
}

int weft_service_set_name(weft_service_t *s, const char *name)
{
    if (s->parent != NULL)
        return WEFT_EBUSY;
    char *copy = NULL;
    if (name != NULL && (copy = weft__strdup(name)) == NULL)
        return WEFT_ENOMEM;
    weft__free(s->name);
    s->name = copy;
    return 0;
}

weft_service_t *weft_service_parent(const weft_service_t *s)
{
    return s->parent;
}

weft_reactor_t *weft_service_reactor(const weft_service_t *s)
{
    return s->r;
}

void *weft_service_get_data(const weft_service_t *s)
{
    return s->data;
}

void weft_service_set_data(weft_service_t *s, void *data)
{
    s->data = data;
}

/* ---------------------------------------------------------------- the tree */

static size_t index_of(const weft_service_t *parent, const weft_service_t *child)
{
    for (size_t i = 0; i < parent->nchildren; i++) {
        if (parent->children[i] == child)
            return i;
    }
    return (size_t)-1;
}

static void take_out(weft_service_t *child)
{
    weft_service_t *p = child->parent;
    size_t i = index_of(p, child);
    WEFT_ASSERT(i != (size_t)-1);
    memmove(&p->children[i], &p->children[i + 1], (p->nchildren - i - 1) * sizeof(*p->children));
    p->nchildren--;
    child->parent = NULL;
}

int weft_service_add(weft_service_t *parent, weft_service_t *child)
{
    if (!weft_service_is_multi(parent))
        return WEFT_EINVAL;
    for (const weft_service_t *a = parent; a != NULL; a = a->parent) {
        if (a == child)
            return WEFT_EINVAL;
    }
    if (child->parent != NULL || child->stopping != NULL)
        return WEFT_EBUSY;
    if (child->name != NULL && weft_service_get_child(parent, child->name) != NULL)
        return WEFT_EEXIST;
    if (parent->nchildren == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 4;
        weft_service_t **c = weft__realloc(parent->children, cap * sizeof(*c));
        if (c == NULL)
            return WEFT_ENOMEM;
        parent->children = c;
        parent->cap = cap;
    }
    parent->children[parent->nchildren++] = child;
    child->parent = parent;
    child->tried_in = 0; /* a start of its new parent has not tried it */
    if (parent->running && !child->running) {
        int rc = weft_service_start(child);
        if (rc != 0) {
            if (child->parent == parent)
                take_out(child);
            /* A multi service whose start failed partway still runs the children it started:
             * stop them, so the caller gets back a stopped service it can free (once a
             * pending stop has fired; a failing one is logged as unhandled). */
            if (child->running && weft_service_stop(child, NULL) != 0)
                weft_log(WEFT_LOG_ERROR, "service",
                         "service %s: cannot stop it after its start failed",
                         child->name ? child->name : "(unnamed)");
            return rc;
        }
    }
    return 0;
}

int weft_service_remove(weft_service_t *child, weft_deferred_t **done)
{
    weft_service_t *parent = child->parent;
    if (parent == NULL)
        return WEFT_EINVAL;
    if (parent->stopping != NULL || parent->in_stop)
        return WEFT_EBUSY;
    take_out(child);
    weft_deferred_t *d = NULL;
    if (parent->running && child->running) {
        int rc = weft_service_stop(child, done != NULL ? &d : NULL);
        WEFT_ASSERT(rc == 0); /* running and not stopping */
    } else if (child->stopping != NULL && done != NULL) {
        d = weft_deferred_ref(child->stopping);
    }
    if (done != NULL)
        *done = d;
    return 0;
}

weft_service_t *weft_service_get_child(const weft_service_t *parent, const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < parent->nchildren; i++) {
        const char *n = parent->children[i]->name;
        if (n != NULL && strcmp(n, name) == 0)
            return parent->children[i];
    }
    return NULL;
}

size_t weft_service_child_count(const weft_service_t *parent)
{
    return parent->nchildren;
}

weft_service_t *weft_service_child_at(const weft_service_t *parent, size_t i)
{
    return i < parent->nchildren ? parent->children[i] : NULL;
}
