/* SPDX-License-Identifier: MIT */
/* DeferredList, gather_results, DeferredSemaphore, DeferredLock and DeferredQueue. */
#include <stdint.h>
#include <string.h>

#include <weft/defer-util.h>
#include <weft/log.h>

#include "../common/alloc-internal.h"
#include "../common/list-internal.h"
#include "deferred-internal.h"

/*
 * DESIGN
 *
 * DeferredList. One state block holds the list deferred (a reference, until it fires), the
 * result being built and one slot per input. Each input gets one add_both hook whose argument is
 * its slot; the slot holds a reference to its input until the hook runs, so that cancelling the
 * list can reach every unfired input. The state is reference counted: one count per hook not yet
 * run plus one for the constructor, so it lives until the last input has reported, even when the
 * list fired early (fire_on_one_*). Everything is synchronous: a hook may fire the list, whose
 * callbacks then run inside the input's chain run.
 *
 * Semaphore, lock, queue. Waiters are nodes in an intrusive FIFO; each node holds a reference to
 * the deferred it will fire, and that deferred's canceller unlinks the node (so a cancelled
 * waiter leaves the FIFO at once). Hand-offs fire the waiter directly: its callbacks run before
 * release or put returns (TWISTED.md 9.21).
 */

/* ------------------------------------------------------------------ DeferredList */

typedef struct dl_state_s dl_state_t;

typedef struct {
    dl_state_t *st;
    size_t index;
    weft_deferred_t *input; /* reference until the hook runs */
} dl_slot_t;

struct dl_state_s {
    weft_deferred_t *list; /* reference until the list fires */
    weft_dl_result_t *result;
    unsigned flags;
    size_t n, finished;
    size_t refs;
    dl_slot_t slots[];
};

void weft_deferred_list_result_free(void *p)
{
    weft_dl_result_t *r = p;
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->count; i++) {
        weft_dl_entry_t *e = &r->entries[i];
        if (e->free != NULL)
            e->free(e->value);
        weft_failure_free(e->failure);
    }
    weft__free(r);
}

static weft_dl_result_t *dl_result_new(size_t n)
{
    if (n > (SIZE_MAX - sizeof(weft_dl_result_t)) / sizeof(weft_dl_entry_t))
        return NULL;
    weft_dl_result_t *r = weft__calloc(1, sizeof(*r) + n * sizeof(weft_dl_entry_t));
    if (r == NULL)
        return NULL;
    r->count = n;
    r->fired_by = WEFT_DL_ALL;
    r->entries = (weft_dl_entry_t *)(r + 1);
    return r;
}

static void dl_unref(dl_state_t *st)
{
    if (--st->refs > 0)
        return;
    weft_deferred_list_result_free(st->result);
    for (size_t i = 0; i < st->n; i++)
        weft_deferred_unref(st->slots[i].input);
    weft_deferred_unref(st->list);
    weft__free(st);
}

/* Fires the list with r, once. The state's reference to the list goes first, so the list's
 * callbacks may drop the last other one. */
static void dl_fire(dl_state_t *st, weft_result_t r)
{
    weft_deferred_t *list = st->list;
    st->list = NULL;
    int rc = weft_deferred_fire(list, r); /* dl_hook dropped a list fired from outside */
    WEFT_ASSERT(rc == 0);
    weft_deferred_unref(list);
}

static void dl_fire_result(dl_state_t *st, size_t fired_by)
{
    weft_dl_result_t *r = st->result;
    st->result = NULL;
    r->fired_by = fired_by;
    dl_fire(st, weft_ok(r, weft_deferred_list_result_free));
}

static weft_result_t dl_hook(weft_result_t r, void *arg)
{
    dl_slot_t *slot = arg;
    dl_state_t *st = slot->st;
    weft_deferred_t *input = slot->input;
    slot->input = NULL;
    bool ok = r.kind == WEFT_RESULT_VALUE;
    bool consume = (st->flags & WEFT_DL_CONSUME_ERRORS) != 0;
    weft_result_t pass = r; /* what the input's own chain continues with */

    if (st->list != NULL && weft_deferred_called(st->list)) {
        /* Fired from outside: cancel() errbacked it because an input refused to cancel. */
        weft_deferred_unref(st->list);
        st->list = NULL;
        weft_deferred_list_result_free(st->result);
        st->result = NULL;
    }
    if (st->list != NULL) {
        weft_dl_entry_t *e = &st->result->entries[slot->index];
        st->finished++;
        if (ok) {
            e->state = WEFT_DL_SUCCESS;
            e->value = r.value;
            e->free = r.free;
            pass = weft_ok(NULL, NULL);
        } else {
            e->state = WEFT_DL_FAILURE;
            if (consume) {
                e->failure = r.failure;
                pass = weft_ok(NULL, NULL);
            } else {
                e->failure = weft_failure_copy(r.failure);
            }
        }
        if (ok && (st->flags & WEFT_DL_FIRE_ON_ONE_CALLBACK)) {
            dl_fire_result(st, slot->index);
        } else if (!ok && (st->flags & WEFT_DL_FIRE_ON_ONE_ERRBACK)) {
            weft_failure_t *sub = e->failure;
            e->failure = NULL;
            e->state = WEFT_DL_PENDING;
            /* The outcomes recorded so far will never be delivered: free them now. */
            weft_deferred_list_result_free(st->result);
            st->result = NULL;
            dl_fire(st, weft_fail(weft_failure_first_error(sub, slot->index)));
        } else if (st->finished == st->n) {
            dl_fire_result(st, WEFT_DL_ALL);
        }
    } else if (!ok && consume) {
        /* Late: not recorded, but consume_errors still silences the input's chain. */
        weft_failure_free(r.failure);
        pass = weft_ok(NULL, NULL);
    }
    weft_deferred_unref(input); /* its chain's run holds its own reference */
    dl_unref(st);
    return pass;
}

static int dl_cancel(weft_deferred_t *list, void *arg)
{
    (void)list;
    dl_state_t *st = arg;
    st->refs++; /* hooks run inside the cancels below */
    for (size_t i = 0; i < st->n; i++) {
        weft_deferred_t *in = st->slots[i].input;
        if (in == NULL)
            continue;
        weft_deferred_ref(in);
        int rc = weft_deferred_cancel(in);
        if (rc != 0)
            weft_log(WEFT_LOG_WARN, "deferred",
                     "DeferredList cancel: input %zu's canceller could not cancel (%s)", i,
                     weft_err_name(rc));
        weft_deferred_unref(in);
    }
    dl_unref(st);
    return 0;
}

static void set_err(int *err, int code)
{
    if (err != NULL)
        *err = code;
}

weft_deferred_t *weft_deferred_list_new(weft_deferred_t *const *ds, size_t n, unsigned flags,
                                        int *err)
{
    const unsigned known =
        WEFT_DL_FIRE_ON_ONE_CALLBACK | WEFT_DL_FIRE_ON_ONE_ERRBACK | WEFT_DL_CONSUME_ERRORS;
    if ((flags & ~known) != 0 || (ds == NULL && n > 0)) {
        set_err(err, WEFT_EINVAL);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (ds[i] == NULL) {
            set_err(err, WEFT_EINVAL);
            return NULL;
        }
        if (weft__deferred_promised(ds[i])) {
            weft_log(WEFT_LOG_ERROR, "deferred",
                     "DeferredList input %zu's result is already promised to another deferred", i);
            set_err(err, WEFT_EBUSY);
            return NULL;
        }
    }
    if (n > (SIZE_MAX - sizeof(dl_state_t)) / sizeof(dl_slot_t)) {
        set_err(err, WEFT_ENOMEM);
        return NULL;
    }
    dl_state_t *st = weft__malloc(sizeof(*st) + n * sizeof(dl_slot_t));
    if (st == NULL) {
        set_err(err, WEFT_ENOMEM);
        return NULL;
    }
    st->result = dl_result_new(n);
    st->list = weft_deferred_new_cancellable(dl_cancel, st);
    st->flags = flags;
    st->n = n;
    st->finished = 0;
    st->refs = 1; /* ours, until the end of this function */
    for (size_t i = 0; i < n; i++)
        st->slots[i] = (dl_slot_t){.st = st, .index = i, .input = NULL};
    if (st->result == NULL || st->list == NULL) {
        dl_unref(st);
        set_err(err, WEFT_ENOMEM);
        return NULL;
    }
    weft_deferred_t *list = weft_deferred_ref(st->list); /* the caller's reference */
    if (n == 0)
        dl_fire_result(st, WEFT_DL_ALL);
    for (size_t i = 0; i < n; i++) {
        dl_slot_t *slot = &st->slots[i];
        slot->input = weft_deferred_ref(ds[i]);
        st->refs++;
        int rc = weft_deferred_add_both(ds[i], dl_hook, slot);
        if (rc != 0) {
            /* Out of memory part way: the hooks already added still run (and release the
             * state); the list fails now so that nobody waits for it. */
            weft_deferred_unref(slot->input);
            slot->input = NULL;
            st->refs--;
            if (st->list != NULL)
                dl_fire(st, weft_fail(weft_failure_from_code(rc, "DeferredList setup failed")));
            dl_unref(st);
            weft_deferred_unref(list);
            set_err(err, rc);
            return NULL;
        }
    }
    dl_unref(st);
    set_err(err, 0);
    return list;
}

weft_deferred_t *weft_gather_results(weft_deferred_t *const *ds, size_t n, bool consume_errors,
                                     int *err)
{
    return weft_deferred_list_new(
        ds, n, WEFT_DL_FIRE_ON_ONE_ERRBACK | (consume_errors ? WEFT_DL_CONSUME_ERRORS : 0u), err);
}

/* ------------------------------------------------------------------ waiters */

typedef struct {
    weft__list_t link;
    weft_deferred_t *d; /* the reference the hand-off fires */
    size_t *count;      /* the owner's waiter count */
} waiter_t;

/* The waiter's canceller: leave the FIFO; cancel then errbacks CancelledError. */
static int waiter_cancel(weft_deferred_t *d, void *arg)
{
    waiter_t *w = arg;
    (void)d;
    weft__list_remove(&w->link);
    (*w->count)--;
    weft_deferred_unref(w->d); /* cancel holds its own reference during the call */
    weft__free(w);
    return 0;
}

/* Appends a new waiter to head; returns the caller's reference to its deferred, or NULL. */
static weft_deferred_t *waiter_add(weft__list_t *head, size_t *count)
{
    waiter_t *w = weft__malloc(sizeof(*w));
    if (w == NULL)
        return NULL;
    weft_deferred_t *d = weft_deferred_new_cancellable(waiter_cancel, w);
    if (d == NULL) {
        weft__free(w);
        return NULL;
    }
    w->d = weft_deferred_ref(d);
    w->count = count;
    weft__list_push_tail(head, &w->link);
    (*count)++;
    return d;
}

/* Takes the oldest waiter off head and returns its deferred (a reference), unfired, or NULL.
 * A waiter whose deferred someone fired by hand (a misuse: only the lock, semaphore or queue
 * should) has lost its turn: it is logged and skipped, and the next waiter gets the turn. */
static weft_deferred_t *waiter_pop(weft__list_t *head, size_t *count)
{
    weft__list_t *node;
    while ((node = weft__list_pop_head(head)) != NULL) {
        waiter_t *w = weft__list_entry(node, waiter_t, link);
        weft_deferred_t *d = w->d;
        (*count)--;
        weft__free(w); /* d's canceller still points here, but firing d forgets it */
        if (!weft_deferred_called(d))
            return d;
        weft_log(WEFT_LOG_ERROR, "deferred",
                 "a waiter's deferred was fired by someone else: its turn goes to the next");
        weft_deferred_unref(d);
    }
    return NULL;
}

static void waiters_fail_all(weft__list_t *head, size_t *count, const char *why)
{
    weft_deferred_t *d;
    while ((d = waiter_pop(head, count)) != NULL) {
        int rc = weft_deferred_errback(
            d, weft_failure_new(&weft_cancelled_error_type, WEFT_ECANCELED, why));
        WEFT_ASSERT(rc == 0);
        weft_deferred_unref(d);
    }
}

/* ------------------------------------------------------------------ semaphore and lock */

struct weft_deferred_semaphore_s {
    size_t tokens, limit;
    weft__list_t waiters;
    size_t nwaiting;
    void *handle; /* what acquire fires with: the semaphore, or the lock around it */
    const char *what;
};

struct weft_deferred_lock_s {
    struct weft_deferred_semaphore_s sem;
};

static void sem_init(weft_deferred_semaphore_t *s, size_t tokens, void *handle, const char *what)
{
    s->tokens = tokens;
    s->limit = tokens;
    weft__list_init(&s->waiters);
    s->nwaiting = 0;
    s->handle = handle;
    s->what = what;
}

weft_deferred_semaphore_t *weft_deferred_semaphore_new(size_t tokens, int *err)
{
    if (tokens < 1) {
        set_err(err, WEFT_EINVAL);
        return NULL;
    }
    weft_deferred_semaphore_t *s = weft__malloc(sizeof(*s));
    if (s == NULL) {
        set_err(err, WEFT_ENOMEM);
        return NULL;
    }
    sem_init(s, tokens, s, "semaphore");
    set_err(err, 0);
    return s;
}

void weft_deferred_semaphore_free(weft_deferred_semaphore_t *s)
{
    if (s == NULL)
        return;
    waiters_fail_all(&s->waiters, &s->nwaiting, "freed with acquires pending");
    weft__free(s);
}

weft_deferred_t *weft_deferred_semaphore_acquire(weft_deferred_semaphore_t *s)
{
    if (s->tokens > 0) {
        weft_deferred_t *d = weft_deferred_new();
        if (d == NULL)
            return NULL;
        s->tokens--;
        int rc = weft_deferred_callback(d, s->handle, NULL);
        WEFT_ASSERT(rc == 0);
        return d;
    }
    return waiter_add(&s->waiters, &s->nwaiting);
}

int weft_deferred_semaphore_release(weft_deferred_semaphore_t *s)
{
    if (s == NULL)
        return WEFT_EINVAL;
    if (s->tokens >= s->limit) {
        weft_log(WEFT_LOG_ERROR, "deferred", "%s released more times than acquired", s->what);
        return WEFT_EINVAL;
    }
    weft_deferred_t *d = waiter_pop(&s->waiters, &s->nwaiting);
    if (d == NULL) {
        s->tokens++;
        return 0;
    }
    /* Hand the token straight over: the waiter's callbacks run now. */
    int rc = weft_deferred_callback(d, s->handle, NULL);
    WEFT_ASSERT(rc == 0);
    weft_deferred_unref(d);
    return 0;
}

size_t weft_deferred_semaphore_tokens(const weft_deferred_semaphore_t *s)
{
    return s->tokens;
}

size_t weft_deferred_semaphore_limit(const weft_deferred_semaphore_t *s)
{
    return s->limit;
}

typedef struct {
    weft_deferred_semaphore_t *s;
    weft_result_t (*fn)(void *arg);
    void *arg;
} run_ctx_t;

static weft_result_t run_release(weft_result_t r, void *arg)
{
    run_ctx_t *ctx = arg;
    int rc = weft_deferred_semaphore_release(ctx->s);
    WEFT_ASSERT(rc == 0);
    weft__free(ctx);
    return r;
}

static weft_result_t run_execute(void *value, weft_free_fn free_fn, void *arg)
{
    run_ctx_t *ctx = arg;
    (void)value;
    (void)free_fn; /* the semaphore itself: nothing to free */
    weft_deferred_t *d = weft_maybe_deferred(ctx->fn, ctx->arg);
    if (d == NULL) {
        int rc = weft_deferred_semaphore_release(ctx->s);
        WEFT_ASSERT(rc == 0);
        weft__free(ctx);
        return weft_fail(weft_failure_from_code(WEFT_ENOMEM, NULL));
    }
    if (weft_deferred_add_both(d, run_release, ctx) != 0) {
        weft_deferred_unref(d);
        int rc = weft_deferred_semaphore_release(ctx->s);
        WEFT_ASSERT(rc == 0);
        weft__free(ctx);
        return weft_fail(weft_failure_from_code(WEFT_ENOMEM, NULL));
    }
    return weft_wait_for(d);
}

/* The acquire failed (it was cancelled): nothing was acquired, so nothing is released. */
static weft_result_t run_abort(weft_failure_t *f, void *arg)
{
    weft__free(arg);
    return weft_fail(f);
}

weft_deferred_t *weft_deferred_semaphore_run(weft_deferred_semaphore_t *s,
                                             weft_result_t (*fn)(void *arg), void *arg)
{
    run_ctx_t *ctx = weft__malloc(sizeof(*ctx));
    if (ctx == NULL)
        return NULL;
    *ctx = (run_ctx_t){.s = s, .fn = fn, .arg = arg};
    weft_deferred_t *d = weft_deferred_semaphore_acquire(s);
    if (d == NULL) {
        weft__free(ctx);
        return NULL;
    }
    if (weft_deferred_add_callbacks(d, run_execute, ctx, run_abort, ctx) != 0) {
        /* Only out of memory can get here, and only while waiting: give the place up. */
        int rc = weft_deferred_cancel(d);
        (void)rc;
        weft_deferred_unref(d);
        weft__free(ctx);
        return NULL;
    }
    return d;
}

weft_deferred_lock_t *weft_deferred_lock_new(void)
{
    weft_deferred_lock_t *l = weft__malloc(sizeof(*l));
    if (l == NULL)
        return NULL;
    sem_init(&l->sem, 1, l, "lock");
    return l;
}

void weft_deferred_lock_free(weft_deferred_lock_t *l)
{
    if (l == NULL)
        return;
    waiters_fail_all(&l->sem.waiters, &l->sem.nwaiting, "lock freed with acquires pending");
    weft__free(l);
}

weft_deferred_t *weft_deferred_lock_acquire(weft_deferred_lock_t *l)
{
    return weft_deferred_semaphore_acquire(&l->sem);
}

int weft_deferred_lock_release(weft_deferred_lock_t *l)
{
    return l == NULL ? WEFT_EINVAL : weft_deferred_semaphore_release(&l->sem);
}

weft_deferred_t *weft_deferred_lock_run(weft_deferred_lock_t *l, weft_result_t (*fn)(void *arg),
                                        void *arg)
{
    return weft_deferred_semaphore_run(&l->sem, fn, arg);
}

bool weft_deferred_lock_locked(const weft_deferred_lock_t *l)
{
    return l->sem.tokens == 0;
}

/* ------------------------------------------------------------------ queue */

typedef struct {
    weft__list_t link;
    void *value;
    weft_free_fn free;
} item_t;

struct weft_deferred_queue_s {
    size_t size, backlog;
    weft__list_t items;
    size_t nitems;
    weft__list_t waiters;
    size_t nwaiting;
};

weft_deferred_queue_t *weft_deferred_queue_new(size_t size, size_t backlog, int *err)
{
    weft_deferred_queue_t *q = weft__malloc(sizeof(*q));
    if (q == NULL) {
        set_err(err, WEFT_ENOMEM);
        return NULL;
    }
    q->size = size;
    q->backlog = backlog;
    weft__list_init(&q->items);
    q->nitems = 0;
    weft__list_init(&q->waiters);
    q->nwaiting = 0;
    set_err(err, 0);
    return q;
}

void weft_deferred_queue_free(weft_deferred_queue_t *q)
{
    if (q == NULL)
        return;
    waiters_fail_all(&q->waiters, &q->nwaiting, "queue freed with gets pending");
    weft__list_t *node;
    while ((node = weft__list_pop_head(&q->items)) != NULL) {
        item_t *it = weft__list_entry(node, item_t, link);
        if (it->free != NULL)
            it->free(it->value);
        weft__free(it);
    }
    weft__free(q);
}

int weft_deferred_queue_put(weft_deferred_queue_t *q, void *value, weft_free_fn free)
{
    if (q == NULL) {
        if (free != NULL)
            free(value);
        return WEFT_EINVAL;
    }
    weft_deferred_t *d = waiter_pop(&q->waiters, &q->nwaiting);
    if (d != NULL) {
        int rc = weft_deferred_callback(d, value, free);
        WEFT_ASSERT(rc == 0);
        weft_deferred_unref(d);
        return 0;
    }
    if (q->size != WEFT_DQ_UNBOUNDED && q->nitems >= q->size) {
        if (free != NULL)
            free(value);
        return WEFT_EOVERLOAD;
    }
    item_t *it = weft__malloc(sizeof(*it));
    if (it == NULL) {
        if (free != NULL)
            free(value);
        return WEFT_ENOMEM;
    }
    it->value = value;
    it->free = free;
    weft__list_push_tail(&q->items, &it->link);
    q->nitems++;
    return 0;
}

weft_deferred_t *weft_deferred_queue_get(weft_deferred_queue_t *q, int *err)
{
    if (q == NULL) {
        set_err(err, WEFT_EINVAL);
        return NULL;
    }
    weft__list_t *node = weft__list_pop_head(&q->items);
    if (node != NULL) {
        item_t *it = weft__list_entry(node, item_t, link);
        q->nitems--;
        weft_deferred_t *d = weft_deferred_succeed(it->value, it->free);
        weft__free(it);
        set_err(err, d ? 0 : WEFT_ENOMEM);
        return d;
    }
    if (q->backlog != WEFT_DQ_UNBOUNDED && q->nwaiting >= q->backlog) {
        set_err(err, WEFT_EOVERLOAD);
        return NULL;
    }
    weft_deferred_t *d = waiter_add(&q->waiters, &q->nwaiting);
    set_err(err, d ? 0 : WEFT_ENOMEM);
    return d;
}

size_t weft_deferred_queue_pending(const weft_deferred_queue_t *q)
{
    return q->nitems;
}

size_t weft_deferred_queue_waiting(const weft_deferred_queue_t *q)
{
    return q->nwaiting;
}
