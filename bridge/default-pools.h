/* SPDX-License-Identifier: MIT */
/* How big weft makes a reactor's default pools: one for CPU work, one for blocking I/O. */
#ifndef WEFT_BRIDGE_DEFAULT_POOLS_H
#define WEFT_BRIDGE_DEFAULT_POOLS_H

#include <weft/compiler.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The two default pools a reactor makes lazily (so that blocking calls never starve CPU work,
 * the lesson of libuv's single pool). */
typedef enum {
    WEFT_POOL_KIND_CPU = 0, /* CPU-heavy jobs: hashing, compression, parsing */
    WEFT_POOL_KIND_IO = 1,  /* blocking calls: files, DNS, database drivers */
} weft_pool_kind_t;

/*
 * The number of CPUs this process may run on (its affinity mask, so a container's or
 * taskset's limit counts), at least 1. Thread: any.
 */
WEFT_EXPORT unsigned weft_cpu_count(void);

/*
 * The maximum thread count weft picks for a default pool of kind:
 *   CPU: weft_cpu_count(), or WEFT_CPU_THREADS from the environment;
 *   I/O: 4 x weft_cpu_count() clamped to 8..64, or WEFT_IO_THREADS from the environment.
 * An environment value must be an integer from 1 to 1024; any other value is ignored and
 * logged as a warning (component "pool"). Thread: any.
 */
WEFT_EXPORT unsigned weft_default_pool_threads(weft_pool_kind_t kind);

/* How long, in microseconds, a reactor's loop polls without sleeping after it submits an
 * offload, by default (weft_reactor_set_offload_poll_us changes it per reactor). */
#define WEFT_OFFLOAD_POLL_US_DEFAULT 50
#define WEFT_OFFLOAD_POLL_US_MAX     10000

/*
 * The offload poll time a new reactor starts with: WEFT_OFFLOAD_POLL_US_DEFAULT, or
 * WEFT_OFFLOAD_POLL_US from the environment (a whole number 0..10000; any other value is
 * ignored and logged as a warning, component "pool"). Thread: any.
 */
WEFT_EXPORT unsigned weft_default_offload_poll_us(void);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_BRIDGE_DEFAULT_POOLS_H */
