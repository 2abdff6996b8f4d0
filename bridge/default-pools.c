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

/* The value of variable if it is a whole number in 1..ENV_MAX_THREADS, else 0. */
static unsigned env_threads(const char *variable)
{
    const char *value = getenv(variable);
    if (value == NULL || *value == '\0')
        return 0;
    char *end;
    long n = strtol(value, &end, 10);
    /* strtol would also take leading blanks and a sign: only plain digits are meant. */
    if (*value < '0' || *value > '9' || *end != '\0' || n < 1 || n > ENV_MAX_THREADS) {
        weft_log_field_t fields[] = {{"variable", variable}, {"value", value}};
        weft_log_with(WEFT_LOG_WARN, "pool", fields, 2,
                      "ignoring pool size from the environment: want a whole number 1..%d",
                      ENV_MAX_THREADS);
        return 0;
    }
    return (unsigned)n;
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
