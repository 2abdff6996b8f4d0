/* SPDX-License-Identifier: MIT */
/* The deferred: its callback list, the iterative chain runner, cancellation, release. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/deferred.h>
#include <weft/log.h>

#include "../common/alloc-internal.h"
#include "deferred-internal.h"

/*
 * DESIGN
 *
 * State. A deferred holds its result (a value or a failure; kind VALUE with NULL before it
 * fires), its list of pairs (an array with a head index; the first INLINE_PAIRS live inside the
 * struct, so short chains allocate nothing beyond the deferred), a pause count, and flags.
 *
 * Hand-offs. Two kinds of hidden pair move a result from one deferred to another:
 *   CONTINUE  added to an inner deferred when a callback of `outer` returned it unfired; it
 *             holds a reference to outer. outer->chained_to points back at the inner
 *             (weakly: the inner clears it when the pair runs or is destroyed), and outer is
 *             `waiting`, which pauses it like one more pause count.
 *   CHAIN     added by weft_deferred_chain; holds a reference to the target it will fire.
 * `handoffs` counts such pairs not yet run: while it is non-zero the deferred's result is
 * promised elsewhere, and weft_deferred_add_callbacks refuses (WEFT_EBUSY).
 *
 * The runner (run_chain) is Twisted's _runCallbacks: an explicit stack of deferreds. A hand-off
 * pushes the receiving deferred and runs its chain; when it is done (finished, paused or
 * waiting) it is popped and the giver's remaining pairs run. Every deferred on the stack holds
 * one reference for the stack, so callbacks may drop theirs freely. Nothing recurses: a
 * 100 000-deep chain of waits uses a heap-grown stack, not the C stack.
 *
 * Re-entrancy. `running` is set only while one of the deferred's own callbacks runs: then
 * add_callbacks appends and returns, and the runner picks the pair up after the callback; a
 * second fire sees `called` and fails with WEFT_EALREADY.
 *
 * Release. The last unref destroys the deferred: it logs an unhandled failure, frees its result
 * and drops the references its unrun hand-off pairs hold. Those drops can cascade (a long
 * chain of waiting deferreds), so destruction runs from a per-thread worklist, not recursively.
 * Release builds then keep the memory in a small per-thread cache (see cache_put), so steady
 * state allocates nothing per deferred or per callback.
 */

#define INLINE_PAIRS 4
#define STACK_INLINE 16

#ifdef WEFT_DEBUG
#define MAGIC_LIVE    0x44656665u /* "Defe" */
#define MAGIC_DEAD    0xdeadd00du
#define CHECK_LIVE(d) check_live((d), __func__)
#else
#define CHECK_LIVE(d) ((void)0)
#endif

enum side_kind {
    SIDE_PASS = 0, /* hand the result on unchanged */
    SIDE_CALLBACK,
    SIDE_ERRBACK,
    SIDE_BOTH,
    SIDE_CONTINUE, /* arg: the outer deferred waiting on this one (holds a reference) */
    SIDE_CHAIN,    /* arg: the target of weft_deferred_chain (holds a reference) */
};

typedef union {
    weft_callback_fn cb;
    weft_errback_fn eb;
    weft_both_fn both;
} side_fn_t;

typedef struct {
    side_fn_t ok_fn, err_fn;
    void *ok_arg, *err_arg;
    uint8_t ok_kind, err_kind;
} pair_t;

struct weft_deferred_s {
#ifdef WEFT_DEBUG
    uint32_t magic;
    pthread_t owner; /* the thread that made it (or adopted it) */
#endif
    uint32_t refs;
    uint32_t paused;   /* weft_deferred_pause count */
    uint32_t handoffs; /* unrun CONTINUE / CHAIN pairs */
    bool called;
    bool running;                /* one of its own callbacks is running */
    bool waiting;                /* paused until the deferred it waits on hands over */
    bool suppress_late;          /* cancelled with no canceller: swallow one late fire */
    weft_result_t result;        /* VALUE or FAILURE; VALUE NULL before firing */
    weft_deferred_t *chained_to; /* the deferred this one waits on (weak) */
    weft_canceller_fn canceller;
    void *canceller_arg;
    weft_deferred_t *next_dead; /* the destruction worklist */
    pair_t *pairs;
    uint32_t head, n, cap;
    pair_t inline_pairs[INLINE_PAIRS];
};

#ifdef WEFT_DEBUG
/* Debug builds only: a deferred used after its release, or from a thread other than the one
 * that owns it (Twisted pain point 8: reactor APIs called from worker threads), aborts with a
 * message naming the function, instead of corrupting the chain. */
static void check_live(const weft_deferred_t *d, const char *fn)
{
    if (d->magic != MAGIC_LIVE) {
        fprintf(stderr, "weft: %s: deferred %p used after its release\n", fn, (const void *)d);
        abort();
    }
    if (!pthread_equal(d->owner, pthread_self())) {
        fprintf(stderr,
                "weft: %s: deferred %p used from a thread other than its own (deferreds belong "
                "to the reactor thread; use weft_reactor_call_from_thread)\n",
                fn, (const void *)d);
        abort();
    }
}
#endif

void weft__deferred_adopt(weft_deferred_t *d)
{
#ifdef WEFT_DEBUG
    d->owner = pthread_self();
#else
    (void)d;
#endif
}

static const weft_result_t none_result = {WEFT_RESULT_VALUE, NULL, NULL, NULL, NULL};

/* ------------------------------------------------------------------ results */

void weft_result_free(weft_result_t r)
{
    switch (r.kind) {
    case WEFT_RESULT_VALUE:
        if (r.free != NULL)
            r.free(r.value);
        break;
    case WEFT_RESULT_FAILURE:
        weft_failure_free(r.failure);
        break;
    case WEFT_RESULT_DEFERRED:
        weft_deferred_unref(r.deferred);
        break;
    }
}

static void misuse(const char *what, int code)
{
    weft_log_field_t f[] = {{"error", weft_err_name(code)}};
    weft_log_with(WEFT_LOG_ERROR, "deferred", f, 1, "%s", what);
}

/* ------------------------------------------------------------------ lifetime */

/* Per-thread state, in one block so that a function touching several fields pays for one TLS
 * lookup. Deferreds never cross threads, so no lock is involved. */
static _Thread_local struct {
    weft_deferred_t *dead_head; /* released, waiting for the outermost unref to destroy them */
    bool destroying;            /* an unref up the stack is draining dead_head */
    weft_deferred_t *cache_head;
    unsigned cache_len;
    bool cache_registered;
} tls;

/*
 * A small per-thread cache of released deferreds, each keeping its heap pair array (up to
 * CACHE_KEEP_PAIRS pairs), so that steady-state create/fire/release allocates nothing. Debug
 * builds skip it, so that ASan sees every use after release. A thread's cache is freed when
 * the thread exits (a pthread key destructor) or by weft__deferred_cache_drain.
 */
#ifndef WEFT_DEBUG
#define CACHE_MAX        64
#define CACHE_KEEP_PAIRS 64

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_thread_exit(void *unused)
{
    (void)unused;
    weft__deferred_cache_drain();
}

static void cache_make_key(void)
{
    if (pthread_key_create(&cache_key, cache_thread_exit) != 0)
        cache_key = (pthread_key_t)-1;
}

/* Keeps d for reuse; false if the cache is full (or cannot be registered). */
static bool cache_put(weft_deferred_t *d)
{
    if (tls.cache_len >= CACHE_MAX)
        return false;
    if (!tls.cache_registered) {
        pthread_once(&cache_once, cache_make_key);
        if (cache_key == (pthread_key_t)-1 || pthread_setspecific(cache_key, &tls.cache_head) != 0)
            return false;
        tls.cache_registered = true;
    }
    if (d->pairs != d->inline_pairs && d->cap > CACHE_KEEP_PAIRS) {
        weft__free(d->pairs);
        d->pairs = d->inline_pairs;
        d->cap = INLINE_PAIRS;
    }
    d->next_dead = tls.cache_head;
    tls.cache_head = d;
    tls.cache_len++;
    return true;
}

static weft_deferred_t *cache_get(void)
{
    weft_deferred_t *d = tls.cache_head;
    if (d != NULL) {
        tls.cache_head = d->next_dead;
        tls.cache_len--;
    }
    return d;
}

void weft__deferred_cache_drain(void)
{
    weft_deferred_t *d;
    while ((d = cache_get()) != NULL) {
        if (d->pairs != d->inline_pairs)
            weft__free(d->pairs);
        weft__free(d);
    }
}
#else
static bool cache_put(weft_deferred_t *d)
{
    (void)d;
    return false;
}

static weft_deferred_t *cache_get(void)
{
    return NULL;
}

void weft__deferred_cache_drain(void)
{
}
#endif

static weft_deferred_t *alloc_deferred(weft_canceller_fn canceller, void *arg)
{
    weft_deferred_t *d = cache_get();
    if (d == NULL) {
        d = weft__malloc(sizeof(*d));
        if (d == NULL)
            return NULL;
        d->pairs = d->inline_pairs;
        d->cap = INLINE_PAIRS;
    }
#ifdef WEFT_DEBUG
    d->magic = MAGIC_LIVE;
    d->owner = pthread_self();
#endif
    d->refs = 1;
    d->paused = 0;
    d->handoffs = 0;
    d->called = false;
    d->running = false;
    d->waiting = false;
    d->suppress_late = false;
    d->result = none_result;
    d->chained_to = NULL;
    d->canceller = canceller;
    d->canceller_arg = arg;
    d->next_dead = NULL;
    d->head = 0;
    d->n = 0;
    return d;
}

weft_deferred_t *weft_deferred_new(void)
{
    return alloc_deferred(NULL, NULL);
}

weft_deferred_t *weft_deferred_new_cancellable(weft_canceller_fn canceller, void *arg)
{
    return alloc_deferred(canceller, arg);
}

weft_deferred_t *weft_deferred_ref(weft_deferred_t *d)
{
    if (d == NULL)
        return NULL;
    CHECK_LIVE(d);
    WEFT_ASSERT(d->refs < UINT32_MAX);
    d->refs++;
    return d;
}

static void log_unhandled(const weft_failure_t *f)
{
    char text[1024];
    weft_failure_format(f, text, sizeof(text));
    weft_log_field_t fields[] = {{"failure_type", weft_failure_type(f)->name},
                                 {"code", weft_err_name(weft_failure_code(f))}};
    weft_log_with(WEFT_LOG_ERROR, "deferred", fields, 2, "Unhandled error in Deferred: %s", text);
}

static void destroy(weft_deferred_t *d)
{
    if (d->result.kind == WEFT_RESULT_FAILURE)
        log_unhandled(d->result.failure);
    weft_result_free(d->result);
    d->result = none_result;
    for (uint32_t i = d->head; i < d->n; i++) {
        pair_t *p = &d->pairs[i];
        if (p->ok_kind == SIDE_CONTINUE) {
            weft_deferred_t *outer = p->ok_arg;
            /* outer stays waiting: nothing will ever hand it a result now. */
            if (outer->chained_to == d)
                outer->chained_to = NULL;
            weft_deferred_unref(outer);
        } else if (p->ok_kind == SIDE_CHAIN) {
            weft_deferred_unref(p->ok_arg);
        }
    }
#ifdef WEFT_DEBUG
    d->magic = MAGIC_DEAD;
#endif
    if (cache_put(d))
        return;
    if (d->pairs != d->inline_pairs)
        weft__free(d->pairs);
    weft__free(d);
}

/* The last reference went: destroys d, and whatever that releases, from the worklist. Kept out
 * of line so that the common unref (not the last) stays a decrement and a test. */
__attribute__((noinline)) static void release(weft_deferred_t *d)
{
    d->next_dead = tls.dead_head;
    tls.dead_head = d;
    if (tls.destroying)
        return; /* the outer release's loop below destroys it */
    tls.destroying = true;
    while (tls.dead_head != NULL) {
        weft_deferred_t *x = tls.dead_head;
        tls.dead_head = x->next_dead;
        destroy(x);
    }
    tls.destroying = false;
}

void weft_deferred_unref(weft_deferred_t *d)
{
    if (d == NULL)
        return;
    CHECK_LIVE(d);
    WEFT_ASSERT(d->refs > 0);
    if (--d->refs == 0)
        release(d);
}

/* ------------------------------------------------------------------ the pair list */

static int append_pair(weft_deferred_t *d, const pair_t *p)
{
    if (d->head == d->n) {
        d->head = 0;
        d->n = 0;
    }
    if (d->n == d->cap) {
        if (d->head > 0) {
            /* Room at the front: slide the unrun pairs down instead of growing. */
            memmove(d->pairs, d->pairs + d->head, (size_t)(d->n - d->head) * sizeof(pair_t));
            d->n -= d->head;
            d->head = 0;
        } else {
            if (d->cap > UINT32_MAX / 2)
                return WEFT_ENOMEM;
            uint32_t cap = d->cap * 2;
            pair_t *pairs;
            if (d->pairs == d->inline_pairs) {
                pairs = weft__malloc((size_t)cap * sizeof(pair_t));
                if (pairs != NULL)
                    memcpy(pairs, d->inline_pairs, sizeof(d->inline_pairs));
            } else {
                pairs = weft__realloc(d->pairs, (size_t)cap * sizeof(pair_t));
            }
            if (pairs == NULL)
                return WEFT_ENOMEM;
            d->pairs = pairs;
            d->cap = cap;
        }
    }
    d->pairs[d->n++] = *p;
    return 0;
}

/* ------------------------------------------------------------------ the runner */

typedef struct {
    weft_deferred_t **items;
    size_t len, cap;
    weft_deferred_t *inline_items[STACK_INLINE];
} run_stack_t;

/* Pushes d, whose reference the stack takes over. On allocation failure returns false and
 * the caller keeps the reference. */
static bool stack_push(run_stack_t *s, weft_deferred_t *d)
{
    if (s->len == s->cap) {
        size_t cap = s->cap * 2;
        weft_deferred_t **items;
        if (s->items == s->inline_items) {
            items = weft__malloc(cap * sizeof(*items));
            if (items != NULL)
                memcpy(items, s->inline_items, sizeof(s->inline_items));
        } else {
            items = weft__realloc(s->items, cap * sizeof(*items));
        }
        if (items == NULL)
            return false;
        s->items = items;
        s->cap = cap;
    }
    s->items[s->len++] = d;
    return true;
}

static weft_result_t invoke(const pair_t *p, bool failed, weft_result_t cur)
{
    uint8_t kind = failed ? p->err_kind : p->ok_kind;
    const side_fn_t *fn = failed ? &p->err_fn : &p->ok_fn;
    void *arg = failed ? p->err_arg : p->ok_arg;
    switch (kind) {
    case SIDE_CALLBACK:
        return fn->cb(cur.value, cur.free, arg);
    case SIDE_ERRBACK:
        return fn->eb(cur.failure, arg);
    case SIDE_BOTH:
        return fn->both(cur, arg);
    default:
        return cur;
    }
}

/* What a side returned becomes d's result. Returns the deferred to wait for, if any, with the
 * reference the callback handed over (d->result is then left empty). */
static weft_deferred_t *take_returned(weft_deferred_t *d, weft_result_t r)
{
    if (r.kind == WEFT_RESULT_VALUE) {
        d->result = r;
        return NULL;
    }
    if (r.kind == WEFT_RESULT_FAILURE) {
        if (r.failure == NULL)
            r.failure = weft_failure_new(&weft_error_type, WEFT_EINVAL,
                                         "a callback returned weft_fail(NULL)");
        d->result = r;
        return NULL;
    }
    if (r.kind != WEFT_RESULT_DEFERRED || r.deferred == NULL) {
        misuse("a callback returned a malformed weft_result_t", WEFT_EINVAL);
        d->result = weft_fail(
            weft_failure_new(&weft_error_type, WEFT_EINVAL, "callback returned a bad result"));
        return NULL;
    }
    if (r.deferred == d) {
        /* Twisted warns and stays paused forever; weft fails the step instead. */
        misuse("a callback returned its own deferred", WEFT_EINVAL);
        weft_deferred_unref(d); /* the handed reference; the run stack holds another */
        d->result = weft_fail(weft_failure_new(&weft_error_type, WEFT_EINVAL,
                                               "a callback returned its own deferred"));
        return NULL;
    }
    d->result = none_result;
    return r.deferred;
}

/* Makes d wait for inner (whose reference, handed over by a callback, is consumed here), or
 * takes inner's result at once if it has one. Returns true when d now waits. */
static bool wait_or_absorb(weft_deferred_t *d, weft_deferred_t *inner)
{
    CHECK_LIVE(inner);
    if (inner->called && inner->paused == 0 && !inner->waiting) {
        /* Already fired: take its result now; inner keeps NULL (Twisted's None). */
        d->result = inner->result;
        inner->result = none_result;
        weft_deferred_unref(inner);
        return false;
    }
    for (uint32_t i = d->head; i < d->n; i++) {
        if (d->pairs[i].ok_kind == SIDE_CHAIN && d->pairs[i].ok_arg == inner) {
            /* d would wait for inner and later fire it: each would hold the other forever. */
            misuse("a callback returned the deferred its own deferred is chained to", WEFT_EINVAL);
            d->result = weft_fail(weft_failure_new(&weft_error_type, WEFT_EINVAL,
                                                   "returned deferred is this one's chain target"));
            weft_deferred_unref(inner);
            return false;
        }
    }
    for (const weft_deferred_t *w = inner->chained_to; w != NULL; w = w->chained_to) {
        if (w == d) {
            /* inner waits (perhaps through others) on d: neither could ever resume. */
            misuse("a callback returned a deferred that waits on this one", WEFT_EINVAL);
            d->result = weft_fail(weft_failure_new(&weft_error_type, WEFT_EINVAL,
                                                   "returned deferred waits on this one"));
            weft_deferred_unref(inner);
            return false;
        }
    }
    if (inner->handoffs > 0) {
        misuse("a callback returned a deferred whose result is already promised to another",
               WEFT_EBUSY);
        d->result = weft_fail(weft_failure_new(&weft_error_type, WEFT_EBUSY,
                                               "returned deferred already has a waiter"));
        weft_deferred_unref(inner);
        return false;
    }
    pair_t p = {.ok_kind = SIDE_CONTINUE, .err_kind = SIDE_CONTINUE, .ok_arg = d, .err_arg = d};
    if (append_pair(inner, &p) != 0) {
        d->result = weft_fail(weft_failure_from_code(WEFT_ENOMEM, NULL));
        weft_deferred_unref(inner);
        return false;
    }
    weft_deferred_ref(d); /* for the CONTINUE pair */
    inner->handoffs++;
    d->waiting = true;
    d->chained_to = inner;
    /* The handed reference goes: the chain keeps inner alive only through whoever will fire it.
     * If nobody does, inner is freed now and d simply never resumes. */
    weft_deferred_unref(inner);
    return true;
}

/* Runs one side of a pair (consumed already) on d's result, which becomes what the side
 * returned. Returns true when d now waits on a deferred the side returned. */
static inline bool run_side(weft_deferred_t *d, const pair_t *p, bool failed)
{
    weft_result_t given = d->result;
    d->result = none_result;
    d->running = true;
    weft_result_t r = invoke(p, failed, given);
    d->running = false;
    weft_deferred_t *inner = take_returned(d, r);
    return inner != NULL && wait_or_absorb(d, inner);
}

/* The common case, without the runner's stack: d's pairs run in a plain loop while they are
 * callbacks (not hand-offs) and their callbacks return values, failures, or deferreds that
 * have already fired. Returns false at the first hand-off pair, which it leaves unrun for
 * run_stacked; true when d is done (finished, or waiting on a deferred a callback returned). */
static bool run_plain(weft_deferred_t *d)
{
    while (d->head < d->n) {
        const pair_t *pp = &d->pairs[d->head];
        bool failed = d->result.kind == WEFT_RESULT_FAILURE;
        uint8_t kind = failed ? pp->err_kind : pp->ok_kind;
        if (kind == SIDE_CONTINUE || kind == SIDE_CHAIN)
            return false;
        pair_t p = *pp;
        if (++d->head == d->n) {
            d->head = 0;
            d->n = 0;
        }
        if (kind != SIDE_PASS && run_side(d, &p, failed))
            return true;
    }
    return true;
}

static void run_stacked(weft_deferred_t *self);

static void run_chain(weft_deferred_t *self)
{
    if (self->running || self->paused > 0 || self->waiting)
        return;
    self->refs++; /* for the run: a callback may drop the caller's */
    if (run_plain(self)) {
        if (--self->refs == 0)
            release(self);
        return;
    }
    run_stacked(self); /* takes the run's reference over */
}

/* Twisted's _runCallbacks, for chains with hand-offs. self comes with a reference for the
 * stack, and is mid-run: run_plain has run its pairs up to a hand-off, so its first visit goes
 * on whatever its callbacks did meanwhile (one pausing its own deferred does not stop the run
 * it is in, as in Twisted); a later visit, after a hand-off, checks as usual. */
static void run_stacked(weft_deferred_t *self)
{
    run_stack_t s; /* no initialiser: zeroing inline_items on every run costs more than it saves */
    s.items = s.inline_items;
    s.len = 0;
    s.cap = STACK_INLINE;
    stack_push(&s, self);
    bool first = true;

    while (s.len > 0) {
        weft_deferred_t *cur = s.items[s.len - 1];
        bool finished = true;
        bool go = first || (cur->paused == 0 && !cur->waiting);
        first = false;
        if (go) {
            while (cur->head < cur->n) {
                pair_t p = cur->pairs[cur->head++];
                if (cur->head == cur->n) {
                    cur->head = 0;
                    cur->n = 0;
                }
                bool failed = cur->result.kind == WEFT_RESULT_FAILURE;
                uint8_t kind = failed ? p.err_kind : p.ok_kind;

                if (kind == SIDE_CONTINUE) {
                    /* Hand our result to the deferred waiting on us, then run its chain. */
                    weft_deferred_t *outer = p.ok_arg;
                    cur->handoffs--;
                    outer->result = cur->result;
                    cur->result = none_result;
                    outer->waiting = false;
                    outer->chained_to = NULL;
                    if (!stack_push(&s, outer)) {
                        /* Out of memory for the stack: run outer by a nested call instead. */
                        run_chain(outer);
                        weft_deferred_unref(outer);
                        continue;
                    }
                    finished = false;
                    break;
                }
                if (kind == SIDE_CHAIN) {
                    weft_deferred_t *target = p.ok_arg;
                    cur->handoffs--;
                    if (target->called) {
                        if (target->suppress_late) {
                            target->suppress_late = false;
                            weft_result_free(cur->result);
                            cur->result = none_result;
                        } else {
                            misuse("weft_deferred_chain target had already fired", WEFT_EALREADY);
                            weft_result_free(cur->result);
                            cur->result = weft_fail(
                                weft_failure_new(&weft_already_called_error_type, WEFT_EALREADY,
                                                 "chained deferred had already fired"));
                        }
                        weft_deferred_unref(target);
                        continue;
                    }
                    target->called = true;
                    target->canceller = NULL;
                    target->result = cur->result;
                    cur->result = none_result;
                    if (!stack_push(&s, target)) {
                        run_chain(target);
                        weft_deferred_unref(target);
                        continue;
                    }
                    finished = false;
                    break;
                }
                if (kind != SIDE_PASS && run_side(cur, &p, failed))
                    break; /* cur waits; finished stays true and it is popped below */
            }
        }
        if (finished) {
            s.len--;
            weft_deferred_unref(cur);
        }
    }
    if (s.items != s.inline_items)
        weft__free(s.items);
}

/* ------------------------------------------------------------------ firing */

int weft_deferred_fire(weft_deferred_t *d, weft_result_t r)
{
    if (d == NULL) {
        weft_result_free(r);
        return WEFT_EINVAL;
    }
    CHECK_LIVE(d);
    if (r.kind == WEFT_RESULT_DEFERRED) {
        misuse("a deferred was fired with a deferred (use weft_deferred_chain)", WEFT_EINVAL);
        weft_result_free(r);
        return WEFT_EINVAL;
    }
    if (r.kind == WEFT_RESULT_FAILURE && r.failure == NULL)
        r.failure = weft_failure_new(&weft_error_type, 0, NULL);
    if (d->called) {
        if (d->suppress_late) {
            /* The producer's one late fire after a cancel with no canceller. */
            d->suppress_late = false;
            weft_result_free(r);
            return 0;
        }
        misuse(d->running ? "a deferred was fired from inside its own callback"
                          : "a deferred was fired twice",
               WEFT_EALREADY);
        weft_result_free(r);
        return WEFT_EALREADY;
    }
    d->called = true;
    d->canceller = NULL;
    d->canceller_arg = NULL;
    d->result = r;
    run_chain(d);
    return 0;
}

int weft_deferred_callback(weft_deferred_t *d, void *value, weft_free_fn free)
{
    return weft_deferred_fire(d, weft_ok(value, free));
}

int weft_deferred_errback(weft_deferred_t *d, weft_failure_t *f)
{
    return weft_deferred_fire(d, weft_fail(f));
}

/* ------------------------------------------------------------------ adding callbacks */

static int add_pair(weft_deferred_t *d, const pair_t *p, bool handoff)
{
    if (d == NULL)
        return WEFT_EINVAL;
    CHECK_LIVE(d);
    if (d->handoffs > 0) {
        misuse("callbacks added to a deferred whose result is promised to another deferred",
               WEFT_EBUSY);
        return WEFT_EBUSY;
    }
    int rc = append_pair(d, p);
    if (rc != 0)
        return rc;
    if (handoff)
        d->handoffs++;
    if (d->called)
        run_chain(d);
    return 0;
}

int weft_deferred_add_callbacks(weft_deferred_t *d, weft_callback_fn cb, void *cb_arg,
                                weft_errback_fn eb, void *eb_arg)
{
    pair_t p = {.ok_fn.cb = cb,
                .ok_arg = cb_arg,
                .ok_kind = cb ? SIDE_CALLBACK : SIDE_PASS,
                .err_fn.eb = eb,
                .err_arg = eb_arg,
                .err_kind = eb ? SIDE_ERRBACK : SIDE_PASS};
    return add_pair(d, &p, false);
}

int weft_deferred_add_callback(weft_deferred_t *d, weft_callback_fn cb, void *arg)
{
    return weft_deferred_add_callbacks(d, cb, arg, NULL, NULL);
}

int weft_deferred_add_errback(weft_deferred_t *d, weft_errback_fn eb, void *arg)
{
    return weft_deferred_add_callbacks(d, NULL, NULL, eb, arg);
}

int weft_deferred_add_both(weft_deferred_t *d, weft_both_fn fn, void *arg)
{
    pair_t p = {.ok_fn.both = fn,
                .ok_arg = arg,
                .ok_kind = fn ? SIDE_BOTH : SIDE_PASS,
                .err_fn.both = fn,
                .err_arg = arg,
                .err_kind = fn ? SIDE_BOTH : SIDE_PASS};
    return add_pair(d, &p, false);
}

int weft_deferred_chain(weft_deferred_t *d, weft_deferred_t *target)
{
    if (d == NULL || target == NULL || d == target)
        return WEFT_EINVAL;
    CHECK_LIVE(d);
    CHECK_LIVE(target);
    if (target->called) {
        misuse("weft_deferred_chain target has already fired", WEFT_EALREADY);
        return WEFT_EALREADY;
    }
    for (const weft_deferred_t *w = d->chained_to; w != NULL; w = w->chained_to) {
        if (w == target) {
            /* d waits (perhaps through others) for target: chaining d to it would make each
             * hold the other, and neither could ever fire. */
            misuse("weft_deferred_chain target is a deferred this one waits on", WEFT_EINVAL);
            return WEFT_EINVAL;
        }
    }
    pair_t p = {.ok_kind = SIDE_CHAIN, .err_kind = SIDE_CHAIN, .ok_arg = target, .err_arg = target};
    weft_deferred_ref(target); /* held by the CHAIN pair */
    int rc = add_pair(d, &p, true);
    if (rc != 0)
        weft_deferred_unref(target);
    return rc;
}

/* ------------------------------------------------------------------ pause, cancel */

void weft_deferred_pause(weft_deferred_t *d)
{
    if (d == NULL)
        return;
    CHECK_LIVE(d);
    WEFT_ASSERT(d->paused < UINT32_MAX);
    d->paused++;
}

int weft_deferred_unpause(weft_deferred_t *d)
{
    if (d == NULL)
        return WEFT_EINVAL;
    CHECK_LIVE(d);
    if (d->paused == 0) {
        misuse("weft_deferred_unpause on a deferred that is not paused", WEFT_EINVAL);
        return WEFT_EINVAL;
    }
    if (--d->paused == 0 && d->called)
        run_chain(d);
    return 0;
}

int weft_deferred_cancel(weft_deferred_t *d)
{
    if (d == NULL)
        return WEFT_EINVAL;
    CHECK_LIVE(d);
    /* Fired but waiting: the cancel goes to the innermost deferred of the wait, in a loop. */
    while (d->called && d->waiting && d->chained_to != NULL)
        d = d->chained_to;
    if (d->called)
        return 0;
    weft_deferred_ref(d);
    weft_canceller_fn canceller = d->canceller;
    void *arg = d->canceller_arg;
    d->canceller = NULL; /* runs at most once */
    d->canceller_arg = NULL;
    int rc = 0;
    if (canceller != NULL) {
        rc = canceller(d, arg);
        if (rc > 0)
            rc = WEFT_EINVAL;
    } else {
        d->suppress_late = true;
    }
    if (rc == 0 && !d->called) {
        int frc = weft_deferred_errback(
            d, weft_failure_new(&weft_cancelled_error_type, WEFT_ECANCELED, "deferred cancelled"));
        WEFT_ASSERT(frc == 0);
    }
    weft_deferred_unref(d);
    return rc;
}

bool weft_deferred_called(const weft_deferred_t *d)
{
    return d != NULL && d->called;
}

bool weft_deferred_paused(const weft_deferred_t *d)
{
    return d != NULL && (d->paused > 0 || d->waiting);
}

bool weft_deferred_waiting(const weft_deferred_t *d)
{
    return d != NULL && d->waiting;
}

/* ------------------------------------------------------------------ helpers */

weft_deferred_t *weft_deferred_succeed(void *value, weft_free_fn free)
{
    weft_deferred_t *d = weft_deferred_new();
    if (d == NULL) {
        if (free != NULL)
            free(value);
        return NULL;
    }
    int rc = weft_deferred_callback(d, value, free);
    WEFT_ASSERT(rc == 0);
    return d;
}

weft_deferred_t *weft_deferred_fail(weft_failure_t *f)
{
    weft_deferred_t *d = weft_deferred_new();
    if (d == NULL) {
        weft_failure_free(f);
        return NULL;
    }
    int rc = weft_deferred_errback(d, f);
    WEFT_ASSERT(rc == 0);
    return d;
}

weft_deferred_t *weft_maybe_deferred(weft_result_t (*fn)(void *arg), void *arg)
{
    weft_result_t r = fn(arg);
    if (r.kind == WEFT_RESULT_DEFERRED && r.deferred != NULL)
        return r.deferred;
    if (r.kind == WEFT_RESULT_FAILURE)
        return weft_deferred_fail(r.failure);
    if (r.kind == WEFT_RESULT_VALUE)
        return weft_deferred_succeed(r.value, r.free);
    return weft_deferred_fail(
        weft_failure_new(&weft_error_type, WEFT_EINVAL, "maybe_deferred: bad result"));
}

/* ------------------------------------------------------------------ internal hooks */

void weft__deferred_cancel_from_timer(weft_deferred_t *d)
{
    int rc = weft_deferred_cancel(d);
    if (rc != 0)
        weft_log(WEFT_LOG_WARN, "deferred", "timeout: the canceller could not cancel (%s)",
                 weft_err_name(rc));
}

bool weft__deferred_promised(const weft_deferred_t *d)
{
    return d->handoffs > 0;
}
