/* SPDX-License-Identifier: MIT */
/* CPU count and the default pool sizes, with their environment overrides. */
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include <weft/default-pools.h>
#include <weft/log.h>

#define ENV_MAX_THREADS 1024

unsigned weft_cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return (unsigned)n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* The value of variable if it is a whole number in min..max; else (unset, empty or bad: a bad
 * one is logged as a warning naming what) none. */
static long env_number(const char *variable, long min, long max, long none, const char *what)
{
    const char *value = getenv(variable);
    if (value == NULL || *value == '\0')
        return none;
    char *end;
    long n = strtol(value, &end, 10);
    /* strtol would also take leading blanks and a sign: only plain digits are meant. */
    if (*value < '0' || *value > '9' || *end != '\0' || n < min || n > max) {
        weft_log_field_t fields[] = {{"variable", variable}, {"value", value}};
        weft_log_with(WEFT_LOG_WARN, "pool", fields, 2,
                      "ignoring %s from the environment: want a whole number %ld..%ld", what, min,
                      max);
        return none;
    }
    return n;
}

static unsigned env_threads(const char *variable)
{
    return (unsigned)env_number(variable, 1, ENV_MAX_THREADS, 0, "pool size");
}

unsigned weft_default_offload_poll_us(void)
{
    return (unsigned)env_number("WEFT_OFFLOAD_POLL_US", 0, WEFT_OFFLOAD_POLL_US_MAX,
                                WEFT_OFFLOAD_POLL_US_DEFAULT, "offload poll time");
}

unsigned weft_default_pool_threads(weft_pool_kind_t kind)
{
    unsigned cpus = weft_cpu_count();
    if (kind == WEFT_POOL_KIND_IO) {
        unsigned n = env_threads("WEFT_IO_THREADS");
        if (n)
            return n;
        n = 4 * cpus;
        return n < 8 ? 8 : n > 64 ? 64 : n;
    }
    unsigned n = env_threads("WEFT_CPU_THREADS");
    return n ? n : cpus;
}
