/* SPDX-License-Identifier: MIT */
/* callInThread and its variants: fire-and-forget jobs on the reactor's default CPU pool. */
#include <string.h>

#include <weft/bridge.h>
#include <weft/error.h>

#include "../common/alloc-internal.h"
#include "bridge-internal.h"

/* One record per call, freed by its hook on whatever thread runs it: nothing here belongs to
 * the loop, so nothing needs to go back to it. */
typedef struct {
    void (*plain)(void *arg);
    void (*on_result)(weft_result_t, void *);
    weft_thread_fn fn;
    void *arg;
    size_t n;
    weft_thread_call_t calls[]; /* call_multiple_in_thread */
} call_t;

static void run_call(void *arg)
{
    call_t *c = arg;
    if (c->n > 0) {
        for (size_t i = 0; i < c->n; i++)
            c->calls[i].fn(c->calls[i].arg);
    } else if (c->plain != NULL) {
        c->plain(c->arg);
    } else {
        c->on_result(c->fn(c->arg), c->arg);
    }
}

static void call_done(void *arg, int status)
{
    call_t *c = arg;
    if (status != 0 && c->on_result != NULL) {
        /* Never ran (a stop cancelled it): the callback still hears of it, exactly once. */
        c->on_result(weft_fail(weft_failure_from_code(status, NULL)), c->arg);
    }
    weft__free(c);
}

static int submit(weft_reactor_t *r, call_t *c)
{
    weft__bridge_t *b = weft__bridge_peek(r);
    if (b != NULL && b->shut_down) {
        weft__free(c); /* after shutdown no pool is made or used */
        return WEFT_ECLOSED;
    }
    int err;
    weft_pool_t *pool = weft_reactor_default_pool(r, WEFT_POOL_KIND_CPU, &err);
    if (pool == NULL) {
        weft__free(c);
        return err;
    }
    int rc = weft_pool_submit(pool, run_call, call_done, c, NULL);
    if (rc != 0)
        weft__free(c);
    return rc;
}

int weft_call_in_thread(weft_reactor_t *r, void (*fn)(void *arg), void *arg)
{
    if (fn == NULL)
        return WEFT_EINVAL;
    call_t *c = weft__calloc(1, sizeof(*c));
    if (c == NULL)
        return WEFT_ENOMEM;
    c->plain = fn;
    c->arg = arg;
    return submit(r, c);
}

int weft_call_in_thread_with_callback(weft_reactor_t *r, void (*on_result)(weft_result_t, void *),
                                      weft_thread_fn fn, void *arg)
{
    if (fn == NULL || on_result == NULL)
        return WEFT_EINVAL;
    call_t *c = weft__calloc(1, sizeof(*c));
    if (c == NULL)
        return WEFT_ENOMEM;
    c->on_result = on_result;
    c->fn = fn;
    c->arg = arg;
    return submit(r, c);
}

int weft_call_multiple_in_thread(weft_reactor_t *r, const weft_thread_call_t *calls, size_t n)
{
    if (calls == NULL || n == 0)
        return WEFT_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (calls[i].fn == NULL)
            return WEFT_EINVAL;
    call_t *c = weft__calloc(1, sizeof(*c) + n * sizeof(c->calls[0]));
    if (c == NULL)
        return WEFT_ENOMEM;
    c->n = n;
    memcpy(c->calls, calls, n * sizeof(calls[0]));
    return submit(r, c);
}
