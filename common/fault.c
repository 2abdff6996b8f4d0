/* SPDX-License-Identifier: MIT */
/* Fault injection counters (fault-internal.h); empty unless WEFT_FAULT_INJECTION is defined. */
#include "fault-internal.h"

#ifdef WEFT_FAULT_INJECTION
#include <stdatomic.h>
#include <stddef.h>

/*
 * A counter and a target per kind. The count only matters relative to the target, and arming
 * happens while no other thread allocates (between scenarios), so relaxed order suffices: the
 * fetch_add alone decides which single call sees the target.
 */
typedef struct {
    atomic_ulong count;
    atomic_ulong target; /* 0: disarmed */
    atomic_bool sticky;  /* fail the target and every call after it */
} fault_counter_t;

static fault_counter_t allocs, threads;

static void arm(fault_counter_t *c, unsigned long n, bool sticky)
{
    atomic_store_explicit(&c->target, 0, memory_order_relaxed);
    atomic_store_explicit(&c->sticky, sticky, memory_order_relaxed);
    atomic_store_explicit(&c->target, n, memory_order_relaxed);
    atomic_store_explicit(&c->count, 0, memory_order_relaxed);
}

static bool hit(fault_counter_t *c)
{
    unsigned long n = atomic_fetch_add_explicit(&c->count, 1, memory_order_relaxed) + 1;
    unsigned long target = atomic_load_explicit(&c->target, memory_order_relaxed);
    if (target == 0)
        return false;
    return n == target || (n > target && atomic_load_explicit(&c->sticky, memory_order_relaxed));
}

void weft__fault_alloc_arm(unsigned long n)
{
    arm(&allocs, n, false);
}

unsigned long weft__fault_alloc_count(void)
{
    return atomic_load_explicit(&allocs.count, memory_order_relaxed);
}

bool weft__fault_alloc_hit(void)
{
    return hit(&allocs);
}

void weft__fault_thread_arm(unsigned long n, bool sticky)
{
    arm(&threads, n, sticky);
}

unsigned long weft__fault_thread_count(void)
{
    return atomic_load_explicit(&threads.count, memory_order_relaxed);
}

bool weft__fault_thread_hit(void)
{
    return hit(&threads);
}

/* The publish hold: armed with two semaphores; the first call after arming takes them. */
static _Atomic(sem_t *) publish_reached, publish_resume;

void weft__fault_publish_arm(sem_t *reached, sem_t *resume)
{
    atomic_store_explicit(&publish_resume, resume, memory_order_relaxed);
    atomic_store_explicit(&publish_reached, reached, memory_order_release);
}

void weft__fault_publish_point(void)
{
    sem_t *reached = atomic_exchange_explicit(&publish_reached, NULL, memory_order_acq_rel);
    if (reached == NULL)
        return;
    sem_t *resume = atomic_load_explicit(&publish_resume, memory_order_relaxed);
    sem_post(reached);
    while (sem_wait(resume) != 0)
        ;
}
#else
/* ISO C wants a translation unit to declare something. */
typedef int weft__fault_unused_t;
#endif /* WEFT_FAULT_INJECTION */
