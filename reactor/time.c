/* SPDX-License-Identifier: MIT */
/* Delayed calls (a min-heap over recycled slots), call_soon, and the manual clock. */

/*
 * Design. Each delayed call lives in a slot of r->slots; the binary min-heap r->heap holds
 * slot indices ordered by (due_ns, seq), so equal due times keep scheduling order. One uv
 * timer is armed for the earliest call (never on a manual clock). A pass (run_due) first
 * notes r->next_seq and then pops only calls due by now whose seq is below it, so calls
 * scheduled during the pass wait for the next one. A slot goes back to a FIFO free list after
 * its call ran or was cancelled; its generation is bumped when reused, so an id (gen, slot)
 * can never name a later call, and until reuse the slot still tells "called" from
 * "cancelled". The slot array is re-fetched by index after every user callback, because the
 * callback may grow it.
 *
 * call_soon is a loop-only FIFO of nodes, run by an idle handle that is active only while the
 * list is not empty. A run takes the whole list first, so calls added meanwhile wait.
 */
#include <math.h>
#include <string.h>

#include <weft/error.h>

#include "../common/alloc-internal.h"
#include "reactor-internal.h"

#define NODE_CACHE_MAX 1024

static weft_call_id_t make_id(uint32_t gen, uint32_t slot)
{
    return ((uint64_t)gen << 32) | slot;
}

uint64_t weft__time_now_ns(const weft_reactor_t *r)
{
    return r->manual_clock ? r->manual_ns : uv_hrtime();
}

double weft_reactor_now(const weft_reactor_t *r)
{
    WEFT__LOOP_ONLY(r);
    return (double)weft__time_now_ns(r) / 1e9;
}

bool weft__seconds_valid(double s)
{
    return isfinite(s) && s >= 0;
}

/* a + b, or UINT64_MAX / 2 if that is further: "never", without wrapping around. */
static uint64_t add_sat(uint64_t a, uint64_t b)
{
    const uint64_t never = UINT64_MAX / 2;
    return a >= never || b >= never - a ? never : a + b;
}

uint64_t weft__seconds_to_ns(double seconds)
{
    double ns = seconds * 1e9;
    return ns >= 1.8e19 ? UINT64_MAX / 2 : (uint64_t)ns;
}

/* ---------------------------------------------------------------- the heap */

static bool before(const weft_reactor_t *r, uint32_t a, uint32_t b)
{
    const weft__call_slot_t *sa = &r->slots[a], *sb = &r->slots[b];
    return sa->due_ns < sb->due_ns || (sa->due_ns == sb->due_ns && sa->seq < sb->seq);
}

static void heap_set(weft_reactor_t *r, uint32_t pos, uint32_t slot)
{
    r->heap[pos] = slot;
    r->slots[slot].heap_index = pos;
}

static void sift_up(weft_reactor_t *r, uint32_t pos)
{
    uint32_t slot = r->heap[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!before(r, slot, r->heap[parent]))
            break;
        heap_set(r, pos, r->heap[parent]);
        pos = parent;
    }
    heap_set(r, pos, slot);
}

static void sift_down(weft_reactor_t *r, uint32_t pos)
{
    uint32_t slot = r->heap[pos];
    for (;;) {
        uint32_t child = 2 * pos + 1;
        if (child >= r->heap_len)
            break;
        if (child + 1 < r->heap_len && before(r, r->heap[child + 1], r->heap[child]))
            child++;
        if (!before(r, r->heap[child], slot))
            break;
        heap_set(r, pos, r->heap[child]);
        pos = child;
    }
    heap_set(r, pos, slot);
}

static void heap_remove(weft_reactor_t *r, uint32_t slot)
{
    uint32_t pos = r->slots[slot].heap_index;
    WEFT_ASSERT(pos < r->heap_len && r->heap[pos] == slot);
    r->slots[slot].heap_index = WEFT__NO_INDEX;
    uint32_t last = r->heap[--r->heap_len];
    if (pos == r->heap_len)
        return;
    heap_set(r, pos, last);
    sift_up(r, pos);
    sift_down(r, r->slots[last].heap_index);
}

static void heap_update(weft_reactor_t *r, uint32_t slot)
{
    uint32_t pos = r->slots[slot].heap_index;
    sift_up(r, pos);
    sift_down(r, r->slots[slot].heap_index);
}

/* ---------------------------------------------------------------- slots */

static int slot_alloc(weft_reactor_t *r, uint32_t *out)
{
    if (r->free_head != WEFT__NO_INDEX) {
        uint32_t s = r->free_head;
        r->free_head = r->slots[s].next_free;
        if (r->free_head == WEFT__NO_INDEX)
            r->free_tail = WEFT__NO_INDEX;
        r->slots[s].gen++;
        if (r->slots[s].gen == 0)
            r->slots[s].gen = 1;
        *out = s;
        return 0;
    }
    if (r->nslots == r->slots_cap) {
        uint32_t cap = r->slots_cap ? r->slots_cap * 2 : 64;
        if (cap >= WEFT__NO_INDEX / 2)
            return WEFT_ENOMEM;
        weft__call_slot_t *slots = weft__realloc(r->slots, cap * sizeof(*slots));
        if (slots == NULL)
            return WEFT_ENOMEM;
        r->slots = slots;
        uint32_t *heap = weft__realloc(r->heap, cap * sizeof(*heap));
        if (heap == NULL)
            return WEFT_ENOMEM;
        r->heap = heap;
        r->slots_cap = r->heap_cap = cap;
    }
    uint32_t s = r->nslots++;
    memset(&r->slots[s], 0, sizeof(r->slots[s]));
    r->slots[s].gen = 1;
    *out = s;
    return 0;
}

static void slot_release(weft_reactor_t *r, uint32_t s, weft__slot_state_t final)
{
    weft__call_slot_t *slot = &r->slots[s];
    slot->state = (uint8_t) final;
    slot->fn = NULL;
    slot->arg = NULL;
    slot->next_free = WEFT__NO_INDEX;
    if (r->free_tail == WEFT__NO_INDEX)
        r->free_head = s;
    else
        r->slots[r->free_tail].next_free = s;
    r->free_tail = s;
}

/* Finds the slot of id. Returns 0 with *out set for a pending call, else the error the
 * delayed_call functions return. */
static int lookup(const weft_reactor_t *r, weft_call_id_t id, uint32_t *out)
{
    uint32_t s = (uint32_t)id;
    uint32_t gen = (uint32_t)(id >> 32);
    if (gen == 0 || s >= r->nslots)
        return WEFT_EINVAL;
    const weft__call_slot_t *slot = &r->slots[s];
    if (slot->gen != gen)
        return slot->gen > gen ? WEFT_EALREADY : WEFT_EINVAL;
    switch (slot->state) {
    case SLOT_PENDING:
        *out = s;
        return 0;
    case SLOT_CANCELLED:
        return WEFT_ECANCELED;
    case SLOT_FREE:
        return WEFT_EINVAL;
    default:
        return WEFT_EALREADY;
    }
}

/* ---------------------------------------------------------------- the uv timer */

static void on_timer(uv_timer_t *timer);

/* Arms the uv timer for the earliest pending call (real clock only). */
static void arm(weft_reactor_t *r)
{
    if (r->manual_clock || r->in_pass)
        return;
    if (r->heap_len == 0) {
        uv_timer_stop(&r->timer);
        return;
    }
    uint64_t due = r->slots[r->heap[0]].due_ns;
    uint64_t now = uv_hrtime();
    uint64_t ms = due > now ? (due - now + 999999) / 1000000 : 0;
    if (ms == 0 && r->in_timer_cb) {
        /* libuv 1.44 reruns a timer restarted at 0 from its own callback in the same pass,
         * before any poll: a call rescheduling itself with delay 0 (a LoopingCall of interval
         * 0) would then starve the loop for good. Arm it from the prepare handle instead, so
         * it runs on the next iteration, as Twisted's callLater(0) does. */
        uv_timer_stop(&r->timer);
        r->rearm_timer = true;
        return;
    }
    /* libuv measures the timeout from its cached loop time; refresh it so the timer is not
     * early by however long this iteration has run. (Measuring from uv_now, whole ms, instead
     * would make every 1 ms delay a 2 ms one: t/bench/reactor measured it.) */
    uv_update_time(r->loop);
    uv_timer_start(&r->timer, on_timer, ms, 0);
}

/* Runs the calls due by now that were scheduled before this pass began. */
static void run_due(weft_reactor_t *r)
{
    uint64_t now = weft__time_now_ns(r);
    uint64_t limit = r->next_seq;
    r->in_pass = true;
    while (r->heap_len > 0) {
        uint32_t s = r->heap[0];
        weft__call_slot_t *slot = &r->slots[s];
        if (slot->due_ns > now || slot->seq >= limit)
            break;
        heap_remove(r, s);
        slot->state = SLOT_RUNNING;
        uint64_t lag = now - slot->due_ns;
        if (!r->manual_clock) {
            uint64_t t = uv_hrtime();
            lag = t > slot->due_ns ? t - slot->due_ns : 0;
        }
        r->stats.timers_fired++;
        r->stats.timer_lag_last_ns = lag;
        r->stats.timer_lag_sum_ns += lag;
        if (lag > r->stats.timer_lag_max_ns)
            r->stats.timer_lag_max_ns = lag;
        weft__reactor_count_callback(r);
        WEFT__DISPATCH(r, slot->fn(slot->arg));
        /* The callback may have grown r->slots: index again. */
        slot_release(r, s, SLOT_CALLED);
    }
    r->in_pass = false;
    arm(r);
}

static void on_timer(uv_timer_t *timer)
{
    weft_reactor_t *r = timer->data;
    r->in_timer_cb = true;
    run_due(r);
    r->in_timer_cb = false;
}

void weft__time_arm(weft_reactor_t *r)
{
    r->rearm_timer = false;
    arm(r);
}

/* ---------------------------------------------------------------- public: delayed calls */

int weft_reactor_call_later(weft_reactor_t *r, double delay, weft_call_fn fn, void *arg,
                            weft_call_id_t *id)
{
    WEFT__LOOP_ONLY(r);
    if (fn == NULL || !weft__seconds_valid(delay))
        return WEFT_EINVAL;
    uint32_t s;
    int rc = slot_alloc(r, &s);
    if (rc != 0)
        return rc;
    weft__call_slot_t *slot = &r->slots[s];
    slot->due_ns = add_sat(weft__time_now_ns(r), weft__seconds_to_ns(delay));
    slot->seq = r->next_seq++;
    slot->fn = fn;
    slot->arg = arg;
    slot->state = SLOT_PENDING;
    slot->heap_index = r->heap_len++;
    r->heap[slot->heap_index] = s;
    sift_up(r, slot->heap_index);
    if (r->heap[0] == s)
        arm(r);
    if (id != NULL)
        *id = make_id(slot->gen, s);
    return 0;
}

int weft_delayed_call_cancel(weft_reactor_t *r, weft_call_id_t id)
{
    WEFT__LOOP_ONLY(r);
    uint32_t s;
    int rc = lookup(r, id, &s);
    if (rc != 0)
        return rc;
    bool was_first = r->heap[0] == s;
    heap_remove(r, s);
    slot_release(r, s, SLOT_CANCELLED);
    if (was_first)
        arm(r);
    return 0;
}

static int move_to(weft_reactor_t *r, uint32_t s, uint64_t due)
{
    weft__call_slot_t *slot = &r->slots[s];
    slot->due_ns = due;
    slot->seq = r->next_seq++; /* as if scheduled now: never runs in the current pass */
    heap_update(r, s);
    arm(r);
    return 0;
}

int weft_delayed_call_reset(weft_reactor_t *r, weft_call_id_t id, double seconds)
{
    WEFT__LOOP_ONLY(r);
    uint32_t s;
    int rc = lookup(r, id, &s);
    if (rc != 0)
        return rc;
    if (!weft__seconds_valid(seconds))
        return WEFT_EINVAL;
    return move_to(r, s, add_sat(weft__time_now_ns(r), weft__seconds_to_ns(seconds)));
}

int weft_delayed_call_delay(weft_reactor_t *r, weft_call_id_t id, double seconds)
{
    WEFT__LOOP_ONLY(r);
    uint32_t s;
    int rc = lookup(r, id, &s);
    if (rc != 0)
        return rc;
    if (!isfinite(seconds))
        return WEFT_EINVAL;
    uint64_t due = r->slots[s].due_ns;
    if (seconds >= 0) {
        due = add_sat(due, weft__seconds_to_ns(seconds));
    } else {
        uint64_t back = weft__seconds_to_ns(-seconds);
        due = back > due ? 0 : due - back;
    }
    return move_to(r, s, due);
}

bool weft_delayed_call_is_active(const weft_reactor_t *r, weft_call_id_t id)
{
    WEFT__LOOP_ONLY(r);
    uint32_t s;
    return lookup(r, id, &s) == 0;
}

int weft_delayed_call_get_time(const weft_reactor_t *r, weft_call_id_t id, double *when)
{
    WEFT__LOOP_ONLY(r);
    uint32_t s;
    int rc = lookup(r, id, &s);
    if (rc == 0)
        *when = (double)r->slots[s].due_ns / 1e9;
    return rc;
}

size_t weft_reactor_pending_calls(const weft_reactor_t *r)
{
    WEFT__LOOP_ONLY(r);
    return r->heap_len;
}

int weft_reactor_advance(weft_reactor_t *r, double seconds)
{
    WEFT__LOOP_ONLY(r);
    if (!r->manual_clock || !weft__seconds_valid(seconds))
        return WEFT_EINVAL;
    r->manual_ns = add_sat(r->manual_ns, weft__seconds_to_ns(seconds));
    run_due(r);
    return 0;
}

/* ---------------------------------------------------------------- call_soon */

weft__call_node_t *weft__node_get(weft_reactor_t *r)
{
    weft__call_node_t *n = r->node_cache;
    if (n != NULL) {
        r->node_cache = n->next;
        r->node_cache_len--;
        return n;
    }
    return weft__malloc(sizeof(*n));
}

void weft__node_put(weft_reactor_t *r, weft__call_node_t *node)
{
    if (r->node_cache_len >= NODE_CACHE_MAX) {
        weft__free(node);
        return;
    }
    node->next = r->node_cache;
    r->node_cache = node;
    r->node_cache_len++;
}

static void on_soon(uv_idle_t *idle)
{
    weft_reactor_t *r = idle->data;
    weft__call_node_t *n = r->soon_head;
    r->soon_head = r->soon_tail = NULL;
    uv_idle_stop(idle);
    while (n != NULL) {
        weft__call_node_t *next = n->next;
        weft_call_fn fn = n->fn;
        void *arg = n->arg;
        weft__node_put(r, n);
        weft__reactor_count_callback(r);
        WEFT__DISPATCH(r, fn(arg));
        n = next;
    }
}

int weft_reactor_call_soon(weft_reactor_t *r, weft_call_fn fn, void *arg)
{
    WEFT__LOOP_ONLY(r);
    if (fn == NULL)
        return WEFT_EINVAL;
    weft__call_node_t *n = weft__node_get(r);
    if (n == NULL)
        return WEFT_ENOMEM;
    n->fn = fn;
    n->arg = arg;
    n->next = NULL;
    if (r->soon_tail != NULL) {
        r->soon_tail->next = n;
    } else {
        r->soon_head = n;
        uv_idle_start(&r->soon_idle, on_soon);
    }
    r->soon_tail = n;
    return 0;
}

size_t weft__time_soon_pending(const weft_reactor_t *r)
{
    size_t n = 0;
    for (const weft__call_node_t *p = r->soon_head; p != NULL; p = p->next)
        n++;
    return n;
}

/* ---------------------------------------------------------------- setup */

int weft__time_init(weft_reactor_t *r)
{
    r->free_head = r->free_tail = WEFT__NO_INDEX;
    r->next_seq = 1;
    int rc = uv_timer_init(r->loop, &r->timer);
    if (rc != 0)
        return rc;
    r->timer.data = r;
    rc = uv_idle_init(r->loop, &r->soon_idle);
    if (rc != 0)
        return rc;
    r->soon_idle.data = r;
    return 0;
}

void weft__time_release(weft_reactor_t *r)
{
    weft__free(r->slots);
    weft__free(r->heap);
    while (r->node_cache != NULL) {
        weft__call_node_t *n = r->node_cache;
        r->node_cache = n->next;
        weft__free(n);
    }
    r->node_cache_len = 0;
}
