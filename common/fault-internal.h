/* SPDX-License-Identifier: MIT */
/* Fault injection for tests: fail the Nth allocation or thread creation (issue #13). */
#ifndef WEFT_COMMON_FAULT_INTERNAL_H
#define WEFT_COMMON_FAULT_INTERNAL_H

#include <stdbool.h>

/*
 * Compiled in only where WEFT_FAULT_INJECTION is defined (the debug and asan variants of the
 * Makefile); elsewhere nothing here exists and the allocation wrappers pay nothing.
 *
 * Each counter counts calls from all threads (one atomic counter): after arm(n), the n-th
 * call from then on fails, once; the others succeed. arm(0) disarms. A test arms, runs a
 * scenario, and reads the count to learn whether the failure was reached. Thread: any.
 */
#ifdef WEFT_FAULT_INJECTION

/* weft__malloc, weft__calloc, weft__realloc (and so weft__strdup) count here. */
void weft__fault_alloc_arm(unsigned long n);
unsigned long weft__fault_alloc_count(void);
/* True if the call being counted now is the one to fail. */
bool weft__fault_alloc_hit(void);

/* The thread pools' pthread_create counts here; a hit fails it with EAGAIN. With sticky, the
 * n-th call and every later one fail (a process out of threads), until the next arm. */
void weft__fault_thread_arm(unsigned long n, bool sticky);
unsigned long weft__fault_thread_count(void);
bool weft__fault_thread_hit(void);

/* The bridge calls weft__fault_publish_point between claiming a slot of its completion ring
 * and filling it. After arm, the next call (from any thread) posts *reached and waits on
 * *resume before it returns; the calls after it return at once. A test holds one producer
 * there to open the window the ring's overflow marks are for (t/82). */
#include <semaphore.h>
void weft__fault_publish_arm(sem_t *reached, sem_t *resume);
void weft__fault_publish_point(void);

#endif /* WEFT_FAULT_INJECTION */

#endif /* WEFT_COMMON_FAULT_INTERNAL_H */
