/* SPDX-License-Identifier: MIT */
/* Offload benchmark (issue 7): weft_defer_to_thread against raw libuv uv_queue_work, side by
 * side in one process and one run, with the same pool size on both sides (4, then 2):
 *   1. throughput of a trivial job with K = 1, 64 and 1024 jobs in flight (each completion
 *      submits the next until N are done);
 *   2. round-trip latency p50/p99 with one job in flight (submit -> the deferred's callback,
 *      or -> uv_queue_work's after_work_cb);
 *   3. lateness p50/p99 of a 1 ms timer on the loop while the pool is saturated with 5 ms
 *      CPU-burning jobs (P of them always running);
 *   4. allocations per offload in steady state (malloc/calloc/realloc interposed below);
 *   5. if python3-twisted is importable, Twisted's deferToThread on the same workload
 *      (t/bench/twisted_offload.py) at K = 1, 64 and 1024, on the first pool size.
 *
 * Output, one measure per line (machine-readable):
 *   value: <measure> <value> <unit>
 *   ratio: <measure> <value>          weft / libuv (or weft / Twisted): above 1 is better for
 *                                     throughput, below 1 better for latency and lateness.
 * The machine is shared and noisy: the two sides alternate, ROUNDS rounds each, and each
 * side's median round is reported.
 *
 * libuv's pool is process-global and sized once, from UV_THREADPOOL_SIZE, at its first use:
 * the program sets the variable before that, and for the next pool size re-executes itself
 * (execv of /proc/self/exe: the same process, a fresh image) with the variable set again.
 * weft's side sizes the reactor's default CPU pool with weft_reactor_set_default_pool_threads.
 * Usage:
 *   offload                  pool sizes 4 then 2 (what `make bench` runs)
 *   offload --pool P         one pool size
 *   offload --callgrind N P [libuv]
 *                            weft only (or libuv only): N trivial offloads at K = 64 (or
 *                            $OFFLOAD_K) on P threads after a warm-up of N, for valgrind
 *                            --tool=callgrind (doc/performance.md); weft's side without its poll
 *                            window and spinning, whose waits callgrind would count, unless
 *                            $OFFLOAD_POLL_US and $OFFLOAD_SPIN_US set them (for timing this
 *                            mode, or profiling it with perf, as the default run has them)
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include <weft/bridge.h>
#include <weft/deferred.h>
#include <weft/reactor.h>
#include <weft/time.h>

#include "report.h"

#define ROUNDS  5
#define K_MAX   1024
#define SAMPLES 400 /* timer ticks per lateness round */
#define RTT_N   4000
#define BURN_NS 5000000u
/* Twisted's jobs per run at K = 1, 64 and 1024 in flight (tput_cases' order). */
static const unsigned twisted_n[] = {10000, 30000, 60000};

/* ------------------------------------------------------------------ counting allocator */

/* glibc's own entry points: the interposed functions below forward to them. Workers
 * allocate too, so the counter is atomic. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);

static atomic_ullong n_allocs; /* malloc + calloc + realloc */

void *malloc(size_t size)
{
    atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
    return __libc_realloc(p, size);
}

void free(void *p)
{
    __libc_free(p);
}

static unsigned long long allocs_now(void)
{
    return atomic_load_explicit(&n_allocs, memory_order_relaxed);
}

/* ------------------------------------------------------------------ helpers */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The p-quantile of v (sorted in place). */
static double pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[(int)(p * (n - 1) + 0.5)];
}

static double median(double *v, int n)
{
    return pct(v, n, 0.5);
}

static volatile uint64_t burn_sink;

/* Burns ns of this thread's CPU time (not wall time: with more workers than cores each job
 * still does 5 ms of work). */
static void burn_cpu(uint64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    uint64_t end = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + ns;
    uint64_t x = ns;
    for (;;) {
        for (int i = 0; i < 2000; i++)
            x = x * 6364136223846793005u + 1442695040888963407u;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        if ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec >= end)
            break;
    }
    burn_sink = x;
}

/* What one run measures: a throughput (jobs/s) and, with lat set, each job's round trip. */
typedef struct {
    uint64_t n;      /* jobs to complete */
    unsigned k;      /* jobs in flight */
    double *lat;     /* NULL, or n round trips in us */
    uint64_t t0, t1; /* first submit, last completion */
    uint64_t submitted, done;
    uint64_t t_submit; /* with lat: the one job in flight's submit time */
    /* Allocations counted in the steady part of the run: from the K-th completion to the
     * (N-K)-th, so the first burst of K submissions and the last K completions are left out. */
    unsigned long long allocs_from, allocs_to;
} run_t;

static run_t run;

/* Called by both sides' completion callbacks after counting one more job done. */
static inline void run_mark_allocs(void)
{
    if (run.done == run.k)
        run.allocs_from = allocs_now();
    else if (run.done == run.n - run.k)
        run.allocs_to = allocs_now();
}

static double run_steady_allocs(void)
{
    return (double)(run.allocs_to - run.allocs_from) / (double)(run.n - 2 * run.k);
}

/* One throughput run's figures: jobs/s, and the process's CPU time and voluntary context
 * switches per job (loop and workers together: what a server pays per offload). */
typedef struct {
    double tput;
    double cpu_ns;
    double csw;
} figures_t;

typedef struct {
    struct rusage ru;
} usage_t;

static void usage_mark(usage_t *u)
{
    getrusage(RUSAGE_SELF, &u->ru);
}

static double tv_ns(struct timeval tv)
{
    return (double)tv.tv_sec * 1e9 + (double)tv.tv_usec * 1e3;
}

static figures_t run_figures(const usage_t *u0)
{
    usage_t u1;
    usage_mark(&u1);
    double n = (double)run.n;
    double cpu = tv_ns(u1.ru.ru_utime) - tv_ns(u0->ru.ru_utime) + tv_ns(u1.ru.ru_stime) -
                 tv_ns(u0->ru.ru_stime);
    figures_t f = {n / ((double)(run.t1 - run.t0) / 1e9), cpu / n,
                   (double)(u1.ru.ru_nvcsw - u0->ru.ru_nvcsw) / n};
    return f;
}

/* Lateness rounds: a 1 ms timer while `burning` 5 ms jobs keep the pool busy. */
typedef struct {
    double lat[SAMPLES];
    int nlat;
    uint64_t expected_ns;
    unsigned burning; /* burn jobs in flight */
    bool sampling;    /* keep resubmitting burn jobs while true */
} lateness_t;

static lateness_t late;

/* ------------------------------------------------------------------ weft side */

static weft_reactor_t *wr;
static weft_pool_t *wpool; /* NULL: the reactor's default CPU pool */

static weft_deferred_t *w_offload(weft_thread_fn fn, void *arg, int *err)
{
    if (wpool != NULL)
        return weft_defer_to_pool(wr, wpool, fn, arg, NULL, err);
    return weft_defer_to_thread(wr, fn, arg, NULL, err);
}

/* The trivial job: a small integer back, nothing to free. */
static weft_result_t w_job(void *arg)
{
    return weft_ok(arg, NULL);
}

static weft_result_t w_failed(weft_failure_t *f, void *arg)
{
    (void)arg;
    fprintf(stderr, "offload: a weft offload failed: %s\n", weft_failure_message(f));
    abort();
}

static void w_submit(void);

static weft_result_t w_done(void *value, weft_free_fn free_fn, void *arg)
{
    (void)arg;
    (void)free_fn;
    if ((uintptr_t)value != 7)
        abort();
    if (run.lat != NULL)
        run.lat[run.done] = (double)(uv_hrtime() - run.t_submit) / 1e3;
    run.done++;
    run_mark_allocs();
    if (run.submitted < run.n) {
        w_submit();
    } else if (run.done == run.n) {
        run.t1 = uv_hrtime();
        weft_reactor_crash(wr);
    }
    return weft_ok(NULL, NULL);
}

static void w_submit(void)
{
    int err;
    if (run.lat != NULL)
        run.t_submit = uv_hrtime();
    weft_deferred_t *d = w_offload(w_job, (void *)(uintptr_t)7, &err);
    if (d == NULL) {
        fprintf(stderr, "offload: weft_defer_to_thread: %d\n", err);
        abort();
    }
    run.submitted++;
    if (weft_deferred_add_callbacks(d, w_done, NULL, w_failed, NULL) != 0)
        abort();
    weft_deferred_unref(d);
}

static void w_start(void *arg)
{
    (void)arg;
    run.t0 = uv_hrtime();
    for (unsigned i = 0; i < run.k && run.submitted < run.n; i++)
        w_submit();
}

static void w_loop_run(void)
{
    if (weft_reactor_run(wr) != 0)
        abort();
}

static figures_t weft_throughput(unsigned k, uint64_t n, double *lat)
{
    usage_t u0;
    run = (run_t){.n = n, .k = k, .lat = lat};
    usage_mark(&u0);
    if (weft_reactor_call_soon(wr, w_start, NULL) != 0)
        abort();
    w_loop_run();
    if (run.done != n)
        abort();
    return run_figures(&u0);
}

static weft_result_t w_burn_job(void *arg)
{
    (void)arg;
    burn_cpu(BURN_NS);
    return weft_ok(NULL, NULL);
}

static void w_burn_submit(void);

static weft_result_t w_burn_done(void *value, weft_free_fn free_fn, void *arg)
{
    (void)value;
    (void)free_fn;
    (void)arg;
    late.burning--;
    if (late.sampling)
        w_burn_submit();
    else if (late.burning == 0)
        weft_reactor_crash(wr);
    return weft_ok(NULL, NULL);
}

static void w_burn_submit(void)
{
    int err;
    weft_deferred_t *d = w_offload(w_burn_job, NULL, &err);
    if (d == NULL)
        abort();
    late.burning++;
    if (weft_deferred_add_callbacks(d, w_burn_done, NULL, w_failed, NULL) != 0)
        abort();
    weft_deferred_unref(d);
}

static void w_tick(void *arg)
{
    (void)arg;
    uint64_t t = uv_hrtime();
    late.lat[late.nlat++] = t > late.expected_ns ? (double)(t - late.expected_ns) / 1e3 : 0;
    if (late.nlat == SAMPLES) {
        late.sampling = false;
        if (late.burning == 0)
            weft_reactor_crash(wr);
        return;
    }
    late.expected_ns = uv_hrtime() + 1000000;
    if (weft_reactor_call_later(wr, 0.001, w_tick, NULL, NULL) != 0)
        abort();
}

static void w_lateness_start(void *arg)
{
    unsigned p = *(unsigned *)arg;
    for (unsigned i = 0; i < p; i++)
        w_burn_submit();
    late.expected_ns = uv_hrtime() + 1000000;
    if (weft_reactor_call_later(wr, 0.001, w_tick, NULL, NULL) != 0)
        abort();
}

static void weft_lateness(unsigned p, double *p50, double *p99)
{
    memset(&late, 0, sizeof(late));
    late.sampling = true;
    if (weft_reactor_call_soon(wr, w_lateness_start, &p) != 0)
        abort();
    w_loop_run();
    *p50 = pct(late.lat, late.nlat, 0.5);
    *p99 = pct(late.lat, late.nlat, 0.99);
}

static void weft_open(unsigned p)
{
    weft_reactor_options_t o;
    weft_reactor_options_init(&o);
    o.install_signal_handlers = false;
    wr = weft_reactor_new(&o, NULL);
    if (wr == NULL || weft_reactor_set_default_pool_threads(wr, WEFT_POOL_KIND_CPU, p) != 0)
        abort();
    /* Diagnosis: OFFLOAD_WEFT_POOL=normal runs weft's side on a pool of its own with normal
     * scheduling (no SCHED_BATCH, no nice offset), to tell the CPU pool's scheduling policy
     * apart from the code path. */
    const char *kind = getenv("OFFLOAD_WEFT_POOL");
    if (kind != NULL && strcmp(kind, "normal") == 0) {
        weft_pool_options_t po;
        weft_pool_options_init(&po);
        po.max_threads = p;
        if ((wpool = weft_pool_new(&po, NULL)) == NULL)
            abort();
        printf("note: weft side on a normal-scheduled pool (OFFLOAD_WEFT_POOL=normal)\n");
    }
}

static void w_stop(void *arg)
{
    (void)arg;
    if (weft_reactor_stop(wr) != 0)
        abort();
}

static void weft_close(void)
{
    weft_bridge_stats_t s;
    weft_bridge_get_stats(wr, &s);
    if (s.failed != 0 || s.refused != 0 || s.in_flight != 0)
        abort();
    if (weft_reactor_call_soon(wr, w_stop, NULL) != 0)
        abort();
    w_loop_run();
    if (weft_reactor_free(wr) != 0)
        abort();
    wr = NULL;
    if (wpool != NULL && weft_pool_free(wpool, WEFT_POOL_STOP_CANCEL, WEFT_POOL_FOREVER) != 0)
        abort();
    wpool = NULL;
}

/* ------------------------------------------------------------------ raw libuv side */

static uv_loop_t uloop;
static uv_work_t ureqs[K_MAX];
/* Set once libuv's pool may have started: its size can no longer change in this image. */
static bool uv_pool_used;

/* The same trivial job: a small integer back in the request. */
static void u_job(uv_work_t *w)
{
    w->data = (void *)(uintptr_t)7;
}

static void u_submit(uv_work_t *w);

static void u_done(uv_work_t *w, int status)
{
    if (status != 0 || (uintptr_t)w->data != 7)
        abort();
    if (run.lat != NULL)
        run.lat[run.done] = (double)(uv_hrtime() - run.t_submit) / 1e3;
    run.done++;
    run_mark_allocs();
    if (run.submitted < run.n)
        u_submit(w);
    else if (run.done == run.n)
        run.t1 = uv_hrtime();
}

static void u_submit(uv_work_t *w)
{
    if (run.lat != NULL)
        run.t_submit = uv_hrtime();
    w->data = NULL;
    run.submitted++;
    if (uv_queue_work(&uloop, w, u_job, u_done) != 0)
        abort();
}

static figures_t uv_throughput(unsigned k, uint64_t n, double *lat)
{
    usage_t u0;
    run = (run_t){.n = n, .k = k, .lat = lat};
    usage_mark(&u0);
    run.t0 = uv_hrtime();
    for (unsigned i = 0; i < k && run.submitted < n; i++)
        u_submit(&ureqs[i]);
    uv_run(&uloop, UV_RUN_DEFAULT);
    if (run.done != n)
        abort();
    return run_figures(&u0);
}

static void u_burn_job(uv_work_t *w)
{
    (void)w;
    burn_cpu(BURN_NS);
}

static void u_burn_done(uv_work_t *w, int status)
{
    if (status != 0)
        abort();
    late.burning--;
    if (late.sampling) {
        late.burning++;
        if (uv_queue_work(&uloop, w, u_burn_job, u_burn_done) != 0)
            abort();
    }
}

static void u_tick(uv_timer_t *t)
{
    uint64_t now = uv_hrtime();
    late.lat[late.nlat++] = now > late.expected_ns ? (double)(now - late.expected_ns) / 1e3 : 0;
    if (late.nlat == SAMPLES) {
        late.sampling = false;
        uv_close((uv_handle_t *)t, NULL);
        return;
    }
    late.expected_ns = uv_hrtime() + 1000000;
    uv_update_time(t->loop);
    uv_timer_start(t, u_tick, 1, 0);
}

static void uv_lateness(unsigned p, double *p50, double *p99)
{
    uv_timer_t timer;
    memset(&late, 0, sizeof(late));
    late.sampling = true;
    for (unsigned i = 0; i < p; i++) {
        late.burning++;
        if (uv_queue_work(&uloop, &ureqs[i], u_burn_job, u_burn_done) != 0)
            abort();
    }
    uv_timer_init(&uloop, &timer);
    late.expected_ns = uv_hrtime() + 1000000;
    uv_update_time(&uloop);
    uv_timer_start(&timer, u_tick, 1, 0);
    uv_run(&uloop, UV_RUN_DEFAULT);
    *p50 = pct(late.lat, late.nlat, 0.5);
    *p99 = pct(late.lat, late.nlat, 0.99);
}

/* ------------------------------------------------------------------ Twisted */

/* Runs t/bench/twisted_offload.py with N jobs, K in flight, on P threads, if Twisted is
 * importable: its jobs/s, or 0 (skipped, and a `skip:` line says why). */
static double twisted_throughput(unsigned n, unsigned k, unsigned p)
{
    const char *script = "t/bench/twisted_offload.py";
    if (access(script, R_OK) != 0) {
        printf("skip: twisted (%s not found: run from the source tree)\n", script);
        return 0;
    }
    /* Debian's python3-twisted lives in the system interpreter, which a python3 first on
     * PATH (pyenv, a virtualenv) may hide: try $PYTHON, then /usr/bin/python3, then python3. */
    const char *candidates[] = {getenv("PYTHON"), "/usr/bin/python3", "python3"};
    const char *python = NULL;
    char cmd[512];
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]) && python == NULL; i++) {
        if (candidates[i] == NULL || candidates[i][0] == '\0')
            continue;
        snprintf(cmd, sizeof(cmd), "%s -c 'import twisted' >/dev/null 2>&1", candidates[i]);
        if (system(cmd) == 0)
            python = candidates[i];
    }
    if (python == NULL) {
        printf("skip: twisted not installed (apt-get install python3-twisted)\n");
        return 0;
    }
    snprintf(cmd, sizeof(cmd), "%s %s %u %u %u", python, script, n, k, p);
    fflush(stdout);
    FILE *f = popen(cmd, "r");
    double tput = 0;
    char line[256];
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "jobs/s %lf", &tput) == 1)
            break;
    }
    if (f == NULL || pclose(f) != 0 || tput <= 0) {
        printf("skip: twisted (%s failed)\n", cmd);
        return 0;
    }
    return tput;
}

/* ------------------------------------------------------------------ one pool size */

/* Reads the "cpu" line of /proc/stat: the idle (idle + iowait) and total jiffies. */
static bool cpu_jiffies(unsigned long long *idle, unsigned long long *total)
{
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[8] = {0};
    int n = f != NULL ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                               &v[2], &v[3], &v[4], &v[5], &v[6], &v[7])
                      : 0;
    if (f != NULL)
        fclose(f);
    if (n < 5)
        return false;
    *idle = v[3] + v[4];
    *total = 0;
    for (int i = 0; i < 8; i++)
        *total += v[i];
    return true;
}

/* How many CPUs stood idle during 300 ms while this process slept: about 2 on a quiet
 * 2-CPU machine, about 1 when other work holds one. -1 if /proc/stat cannot be read. */
static double idle_cpus(void)
{
    unsigned long long i0, t0, i1, t1;
    if (!cpu_jiffies(&i0, &t0))
        return -1;
    usleep(300000);
    if (!cpu_jiffies(&i1, &t1) || t1 == t0)
        return -1;
    return (double)(i1 - i0) / (double)(t1 - t0) * (double)sysconf(_SC_NPROCESSORS_ONLN);
}

static const struct {
    unsigned k;
    uint64_t n;
} tput_cases[] = {{1, 10000}, {64, 200000}, {1024, 400000}};

#define NCASES (sizeof(tput_cases) / sizeof(tput_cases[0]))

static void bench_pool(unsigned p, bool with_twisted)
{
    static double rtt[RTT_N];
    uv_pool_used = true;
    /* The ratios depend on whether the other CPU is free (doc/performance.md): say how many CPUs
     * other work left idle just before this pool size started. */
    double idle = idle_cpus();
    if (idle >= 0)
        printf("value: machine_idle_cpus_before_pool%u %.2f cpus\n", p, idle);
    weft_open(p);
    if (uv_loop_init(&uloop) != 0)
        abort();

    /* Warm up: threads started, free lists and arrays grown, on both sides. */
    for (size_t c = 0; c < NCASES; c++) {
        weft_throughput(tput_cases[c].k, tput_cases[c].n / 4, NULL);
        uv_throughput(tput_cases[c].k, tput_cases[c].n / 4, NULL);
    }

    /* 1. Throughput. */
    double wt[NCASES][ROUNDS], ut[NCASES][ROUNDS], wc[NCASES][ROUNDS], uc[NCASES][ROUNDS];
    double ws[NCASES][ROUNDS], us[NCASES][ROUNDS];
    for (int rep = 0; rep < ROUNDS; rep++) {
        for (size_t c = 0; c < NCASES; c++) {
            figures_t w = weft_throughput(tput_cases[c].k, tput_cases[c].n, NULL);
            figures_t u = uv_throughput(tput_cases[c].k, tput_cases[c].n, NULL);
            wt[c][rep] = w.tput, wc[c][rep] = w.cpu_ns, ws[c][rep] = w.csw;
            ut[c][rep] = u.tput, uc[c][rep] = u.cpu_ns, us[c][rep] = u.csw;
        }
    }
    double wmed[NCASES];
    for (size_t c = 0; c < NCASES; c++) {
        unsigned k = tput_cases[c].k;
        double w = median(wt[c], ROUNDS), u = median(ut[c], ROUNDS);
        wmed[c] = w;
        bench_vs_libuv(w, u, 0, "jobs/s", "offload_tput_k%u_pool%u", k, p);
        bench_vs_libuv(median(wc[c], ROUNDS), median(uc[c], ROUNDS), 0, "ns",
                       "offload_cpu_per_job_k%u_pool%u", k, p);
        printf("value: offload_csw_per_job_k%u_pool%u_weft %.3f switches\n", k, p,
               median(ws[c], ROUNDS));
        printf("value: offload_csw_per_job_k%u_pool%u_libuv %.3f switches\n", k, p,
               median(us[c], ROUNDS));
    }
    fflush(stdout);

    /* 2. Round trip with one job in flight: each round's p50 and p99, median over rounds. */
    double w50[ROUNDS], w99[ROUNDS], u50[ROUNDS], u99[ROUNDS];
    for (int rep = 0; rep < ROUNDS; rep++) {
        weft_throughput(1, RTT_N, rtt);
        w50[rep] = pct(rtt, RTT_N, 0.5);
        w99[rep] = pct(rtt, RTT_N, 0.99);
        uv_throughput(1, RTT_N, rtt);
        u50[rep] = pct(rtt, RTT_N, 0.5);
        u99[rep] = pct(rtt, RTT_N, 0.99);
    }
    double a = median(w50, ROUNDS), b = median(u50, ROUNDS);
    double c = median(w99, ROUNDS), d = median(u99, ROUNDS);
    printf("value: offload_rtt_p50_pool%u_weft %.1f us\n", p, a);
    printf("value: offload_rtt_p50_pool%u_libuv %.1f us\n", p, b);
    printf("value: offload_rtt_p99_pool%u_weft %.1f us\n", p, c);
    printf("value: offload_rtt_p99_pool%u_libuv %.1f us\n", p, d);
    printf("ratio: offload_rtt_p50_pool%u %.2f\n", p, a / b);
    printf("ratio: offload_rtt_p99_pool%u %.2f\n", p, c / d);
    fflush(stdout);

    /* 3. Timer lateness with the pool saturated by P 5 ms jobs. */
    for (int rep = 0; rep < ROUNDS; rep++) {
        weft_lateness(p, &w50[rep], &w99[rep]);
        uv_lateness(p, &u50[rep], &u99[rep]);
    }
    a = median(w50, ROUNDS), b = median(u50, ROUNDS);
    c = median(w99, ROUNDS), d = median(u99, ROUNDS);
    printf("value: timer_lateness_p50_saturated_pool%u_weft %.0f us\n", p, a);
    printf("value: timer_lateness_p50_saturated_pool%u_libuv %.0f us\n", p, b);
    printf("value: timer_lateness_p99_saturated_pool%u_weft %.0f us\n", p, c);
    printf("value: timer_lateness_p99_saturated_pool%u_libuv %.0f us\n", p, d);
    printf("ratio: timer_lateness_p50_saturated_pool%u %.2f\n", p, b > 0 ? a / b : 0);
    printf("ratio: timer_lateness_p99_saturated_pool%u %.2f\n", p, d > 0 ? c / d : 0);
    fflush(stdout);

    /* 4. Allocations per offload in steady state (everything above was the warm-up; each
     * run also leaves out its first and last K jobs: see run_mark_allocs). */
    double wmax = 0, umax = 0;
    for (size_t i = 0; i < NCASES; i++) {
        unsigned k = tput_cases[i].k;
        uint64_t n = tput_cases[i].n;
        weft_throughput(k, n, NULL);
        double wa = run_steady_allocs();
        uv_throughput(k, n, NULL);
        double ua = run_steady_allocs();
        wmax = wa > wmax ? wa : wmax;
        umax = ua > umax ? ua : umax;
        printf("value: allocs_per_offload_k%u_pool%u_weft %.4f allocs\n", k, p, wa);
        printf("value: allocs_per_offload_k%u_pool%u_libuv %.4f allocs\n", k, p, ua);
    }
    printf("value: allocs_per_offload_pool%u_weft %.4f allocs\n", p, wmax);
    printf("value: allocs_per_offload_pool%u_libuv %.4f allocs\n", p, umax);
    fflush(stdout);

    /* 5. Twisted, on the same pool size, at each K (stops at the first skip). */
    for (size_t i = 0; with_twisted && i < NCASES; i++) {
        unsigned k = tput_cases[i].k;
        double t = twisted_throughput(twisted_n[i], k, p);
        if (t <= 0)
            break;
        printf("value: offload_tput_k%u_pool%u_twisted %.0f jobs/s\n", k, p, t);
        printf("ratio: offload_tput_k%u_vs_twisted %.2f\n", k, wmed[i] / t);
        fflush(stdout);
    }

    weft_close();
    if (uv_loop_close(&uloop) != 0)
        abort();
}

/* For callgrind: N offloads at K = 64 after a warm-up of N, weft's side (or libuv's). Prints
 * nothing: the instruction counts of two N differ by 2 * delta-N offloads (doc/performance.md). */
static void bench_callgrind(uint64_t n, unsigned p, bool libuv)
{
    const char *ks = getenv("OFFLOAD_K");
    unsigned k = ks != NULL && atoi(ks) > 0 && atoi(ks) <= K_MAX ? (unsigned)atoi(ks) : 64;
    if (libuv) {
        uv_pool_used = true;
        if (uv_loop_init(&uloop) != 0)
            abort();
        uv_throughput(k, n, NULL);
        uv_throughput(k, n, NULL);
        if (uv_loop_close(&uloop) != 0)
            abort();
    } else {
        weft_open(p);
        /* Instructions of the path itself: no poll window and no spinning worker, whose
         * waiting loops callgrind would count as work (they trade CPU for wall time), unless
         * OFFLOAD_POLL_US / OFFLOAD_SPIN_US ask for them (to time or profile this mode as the
         * default run has it: 50 and 50). */
        const char *poll = getenv("OFFLOAD_POLL_US"), *spin = getenv("OFFLOAD_SPIN_US");
        if (weft_reactor_set_offload_poll_us(wr, poll ? (unsigned)atoi(poll) : 0) != 0)
            abort();
        if (wpool == NULL) {
            weft_pool_options_t po;
            weft_pool_options_init_cpu(&po);
            po.max_threads = p;
            po.spin_us = spin ? (unsigned)atoi(spin) : 0;
            if ((wpool = weft_pool_new(&po, NULL)) == NULL)
                abort();
        }
        weft_throughput(k, n, NULL);
        weft_throughput(k, n, NULL);
        weft_close();
    }
}

/* ------------------------------------------------------------------ main */

static const unsigned pool_sizes[] = {4, 2};
#define NSIZES (sizeof(pool_sizes) / sizeof(pool_sizes[0]))

/* Sets UV_THREADPOOL_SIZE to p before libuv's pool starts; once it has, re-executes this
 * program (same process, new image) with argv and the variable set. */
static void set_uv_pool_size(unsigned p, char **argv)
{
    char want[16];
    snprintf(want, sizeof(want), "%u", p);
    const char *have = getenv("UV_THREADPOOL_SIZE");
    if (have != NULL && strcmp(have, want) == 0)
        return;
    if (setenv("UV_THREADPOOL_SIZE", want, 1) != 0)
        abort();
    if (!uv_pool_used)
        return;
    fflush(stdout);
    execv("/proc/self/exe", argv);
    perror("offload: execv /proc/self/exe");
    exit(1);
}

static _Noreturn void usage(void)
{
    fprintf(stderr, "usage: offload [--pool P | --callgrind N P [libuv]]\n");
    exit(2);
}

/* The default run, stage i: pool size pool_sizes[i], then an exec for the next stage. */
static void run_stage(unsigned stage, char *self)
{
    char num[16];
    snprintf(num, sizeof(num), "%u", stage);
    char *args[] = {self, "--stage", num, NULL};
    set_uv_pool_size(pool_sizes[stage], args);
    bench_pool(pool_sizes[stage], stage == 0);
    if (stage + 1 < NSIZES) {
        snprintf(num, sizeof(num), "%u", stage + 1);
        set_uv_pool_size(pool_sizes[stage + 1], args);
    }
}

int main(int argc, char **argv)
{
    if (argc == 1) {
        run_stage(0, argv[0]);
        return 0;
    }
    if (strcmp(argv[1], "--stage") == 0 && argc == 3) {
        int stage = atoi(argv[2]);
        if (stage < 0 || (size_t)stage >= NSIZES)
            usage();
        run_stage((unsigned)stage, argv[0]);
        return 0;
    }
    if (strcmp(argv[1], "--pool") == 0 && argc == 3) {
        int p = atoi(argv[2]);
        if (p < 1 || p > 1024)
            usage();
        set_uv_pool_size((unsigned)p, argv);
        bench_pool((unsigned)p, true);
        return 0;
    }
    if (strcmp(argv[1], "--callgrind") == 0 && (argc == 4 || argc == 5)) {
        long n = atol(argv[2]);
        int p = atoi(argv[3]);
        bool libuv = argc == 5 && strcmp(argv[4], "libuv") == 0;
        if (n < 1 || p < 1 || p > 1024 || (argc == 5 && !libuv))
            usage();
        if (libuv)
            set_uv_pool_size((unsigned)p, argv);
        bench_callgrind((uint64_t)n, (unsigned)p, libuv);
        return 0;
    }
    usage();
}
