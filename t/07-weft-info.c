/* SPDX-License-Identifier: MIT */
/* weft-info and the default pool sizes it reports (weft_cpu_count, weft_default_pool_threads,
 * WEFT_CPU_THREADS / WEFT_IO_THREADS). */
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <weft/default-pools.h>
#include <weft/log.h>
#include <weft/version.h>

#include "../common/log-internal.h"
#include "helpers.h"
#include "tap.h"

static char out[8192];
static char info[512];

#define run(...) t_sh(out, sizeof(out), __VA_ARGS__)

static int warnings;
static char last_warning[1024];

static void count_warnings(const weft_log_record_t *rec, void *arg)
{
    (void)arg;
    if (rec->level == WEFT_LOG_WARN) {
        warnings++;
        weft_log_format_record(rec, WEFT_LOG_FORMAT_PLAIN, last_warning, sizeof(last_warning));
    }
}

static void test_cpu_count(void)
{
    cpu_set_t set;
    check_int(sched_getaffinity(0, sizeof(set), &set), ==, 0);
    check_uint(weft_cpu_count(), ==, (unsigned)CPU_COUNT(&set));
    check_uint(weft_cpu_count(), >=, 1);
}

static void test_defaults(void)
{
    unsetenv("WEFT_CPU_THREADS");
    unsetenv("WEFT_IO_THREADS");
    unsigned cpus = weft_cpu_count();
    unsigned io = 4 * cpus < 8 ? 8 : 4 * cpus > 64 ? 64 : 4 * cpus;
    check_uint(weft_default_pool_threads(WEFT_POOL_KIND_CPU), ==, cpus);
    check_uint(weft_default_pool_threads(WEFT_POOL_KIND_IO), ==, io);
    check_uint(weft_default_pool_threads(WEFT_POOL_KIND_IO), >=, 8);
}

static void test_env_sizes(void)
{
    setenv("WEFT_CPU_THREADS", "3", 1);
    setenv("WEFT_IO_THREADS", "1024", 1);
    check_uint(weft_default_pool_threads(WEFT_POOL_KIND_CPU), ==, 3);
    check_uint(weft_default_pool_threads(WEFT_POOL_KIND_IO), ==, 1024);
    unsetenv("WEFT_CPU_THREADS");
    unsetenv("WEFT_IO_THREADS");
}

static void test_bad_env_sizes(void)
{
    weft__log_reset();
    weft_log_set_sink(count_warnings, NULL);
    warnings = 0;
    const char *bad[] = {"0", "1025", "-2", "4x", "lots", " 4"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("WEFT_CPU_THREADS", bad[i], 1);
        check_uint(weft_default_pool_threads(WEFT_POOL_KIND_CPU), ==, weft_cpu_count());
    }
    check_int(warnings, ==, 6);
    check(strstr(last_warning, "variable=WEFT_CPU_THREADS value=\" 4\"") != NULL);
    unsetenv("WEFT_CPU_THREADS");
    weft__log_reset();
}

static void test_info_output(void)
{
    int rc = run("env -u WEFT_LOG -u WEFT_CPU_THREADS -u WEFT_IO_THREADS %s", info);
    check_int(rc, ==, 0);
    char want[512];
    snprintf(want, sizeof(want), "weft %s\n", weft_version_string());
    check(strncmp(out, want, strlen(want)) == 0);
    check(strstr(out, "\nlibuv 1.") != NULL);
    snprintf(want, sizeof(want), "\ncpus %u\ncpu pool threads %u\nio pool threads %u\n",
             weft_cpu_count(), weft_default_pool_threads(WEFT_POOL_KIND_CPU),
             weft_default_pool_threads(WEFT_POOL_KIND_IO));
    check(strstr(out, want) != NULL);
    check(strstr(out, "\nlog info,format=logfmt sink=stderr\n") != NULL);
    if (strstr(out, want) == NULL)
        diag("weft-info printed:\n%s", out);
}

static void test_info_env(void)
{
    int rc = run("WEFT_LOG=warn,pool=debug WEFT_CPU_THREADS=5 WEFT_IO_THREADS=9 %s", info);
    check_int(rc, ==, 0);
    check(strstr(out, "\ncpu pool threads 5\nio pool threads 9\n") != NULL);
    check(strstr(out, "\nlog warn,pool=debug,format=logfmt sink=stderr\n") != NULL);
}

static void test_info_bad_argument(void)
{
    check_int(run("%s --frobnicate", info), ==, 2);
    check(strstr(out, "unknown argument '--frobnicate'") != NULL);
    check_int(run("%s --help", info), ==, 0);
    check(strncmp(out, "usage: ", 7) == 0);
}

int main(void)
{
    const char *build = getenv("WEFT_BUILD");
    if (build == NULL)
        skip_all("WEFT_BUILD is not set: run through make check");
    snprintf(info, sizeof(info), "%s/%s/weft-info", getenv("WEFT_TOP") ? getenv("WEFT_TOP") : ".",
             build);
    TEST(test_cpu_count(), "weft_cpu_count counts the CPUs of the process's affinity mask");
    TEST(test_defaults(), "the CPU pool matches the CPUs and the I/O pool is 4x, within 8..64");
    TEST(test_env_sizes(), "WEFT_CPU_THREADS and WEFT_IO_THREADS set the default pool sizes");
    TEST(test_bad_env_sizes(), "a pool size that is not a whole number 1..1024 is ignored with "
                               "a warning");
    TEST(test_info_output(), "weft-info prints the version, libuv, CPUs, pool sizes and log");
    TEST(test_info_env(), "weft-info reports the environment's pool sizes and log settings");
    TEST(test_info_bad_argument(), "weft-info refuses an unknown argument with exit code 2");
    return done_testing();
}
