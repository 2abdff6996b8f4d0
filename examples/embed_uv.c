/* SPDX-License-Identifier: MIT */
/* embed_uv: a libuv program that keeps its own loop and adds weft's offload to it.
 *
 *     embed_uv
 *
 * Build: cc embed_uv.c $(pkg-config --cflags --libs weft)
 *
 * The program is a plain libuv program: it owns its uv_loop_t, runs it with uv_run, and has
 * timers of its own (a heartbeat every 5 ms and a watchdog). weft joins that loop through
 * weft_reactor_new_from_uv: weft_defer_to_thread sends four prime counts to weft's CPU pool
 * while the heartbeat keeps ticking, and each result comes back on the loop thread through
 * a deferred. It prints one line per job, in the order they finish:
 *
 *     job <n>: <count> primes below <limit>
 *
 * then `heartbeat ticked <t> times while weft worked` and `loop closed cleanly`, and exits 0
 * (1 if anything failed or the watchdog fired). */
#include <stdio.h>
#include <stdlib.h>

#include <uv.h>

#include <weft.h>

#define NJOBS 4

typedef struct {
    int id;
    unsigned limit;
} job_t;

typedef struct {
    uv_timer_t heartbeat, watchdog; /* the program's own handles */
    unsigned ticks;
    int done, failed;
} program_t;

/* Worker thread: counts the primes below job->limit by trial division (CPU work). */
static weft_result_t count_primes(void *arg)
{
    const job_t *job = arg;
    unsigned long *count = malloc(sizeof(*count));
    if (count == NULL)
        return weft_fail_new(&weft_error_type, WEFT_ENOMEM, "out of memory");
    *count = 0;
    for (unsigned n = 2; n < job->limit; n++) {
        bool prime = true;
        for (unsigned d = 2; d * d <= n; d++) {
            if (n % d == 0) {
                prime = false;
                break;
            }
        }
        *count += prime;
    }
    return weft_ok(count, free);
}

static void all_done(program_t *p)
{
    if (p->done + p->failed < NJOBS)
        return;
    /* The program's own handles go; weft's handles do not keep uv_run alive by themselves. */
    uv_close((uv_handle_t *)&p->heartbeat, NULL);
    uv_close((uv_handle_t *)&p->watchdog, NULL);
}

/* Loop thread: a job's result, or its failure. */
static weft_result_t on_result(weft_result_t res, void *arg)
{
    job_t *job = arg;
    program_t *p = weft_offload_context();
    if (res.kind == WEFT_RESULT_VALUE) {
        printf("job %d: %lu primes below %u\n", job->id, *(unsigned long *)res.value, job->limit);
        p->done++;
    } else {
        fprintf(stderr, "embed_uv: job %d failed\n", job->id);
        p->failed++;
    }
    weft_result_free(res);
    all_done(p);
    return weft_ok(NULL, NULL);
}

static void tick(uv_timer_t *t)
{
    program_t *p = t->data;
    p->ticks++;
}

static void watchdog(uv_timer_t *t)
{
    program_t *p = t->data;
    fprintf(stderr, "embed_uv: the jobs took more than 60 s\n");
    p->failed = NJOBS;
    all_done(p);
}

int main(int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: embed_uv\n");
        return 2;
    }
    /* The program's own loop and timers, as it had them before weft. */
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        return 1;
    static program_t p;
    uv_timer_init(&loop, &p.heartbeat);
    uv_timer_init(&loop, &p.watchdog);
    p.heartbeat.data = p.watchdog.data = &p;
    uv_timer_start(&p.heartbeat, tick, 5, 5);
    uv_timer_start(&p.watchdog, watchdog, 60000, 0);
    uv_unref((uv_handle_t *)&p.watchdog); /* the watchdog alone does not keep the loop alive */

    /* weft on the borrowed loop: the program still runs it. */
    int err = 0;
    weft_reactor_t *r = weft_reactor_new_from_uv(&loop, NULL, &err);
    if (r == NULL) {
        fprintf(stderr, "embed_uv: %s\n", weft_strerror(err));
        return 1;
    }
    static job_t jobs[NJOBS] = {{1, 100000}, {2, 200000}, {3, 300000}, {4, 400000}};
    weft_offload_options_t opts;
    weft_offload_options_init(&opts);
    opts.context = &p;
    for (int i = 0; i < NJOBS; i++) {
        weft_deferred_t *d = weft_defer_to_thread(r, count_primes, &jobs[i], &opts, &err);
        if (d == NULL || weft_deferred_add_both(d, on_result, &jobs[i]) != 0) {
            fprintf(stderr, "embed_uv: cannot offload: %s\n", weft_strerror(err));
            return 1;
        }
        weft_deferred_unref(d);
    }

    uv_run(&loop, UV_RUN_DEFAULT); /* returns once the timers are closed and the jobs are in */
    printf("heartbeat ticked %u times while weft worked\n", p.ticks);
    if (weft_reactor_free(r) != 0)
        return 1;
    uv_run(&loop, UV_RUN_DEFAULT); /* weft's close callbacks */
    if (uv_loop_close(&loop) != 0) {
        fprintf(stderr, "embed_uv: handles left on the loop\n");
        return 1;
    }
    printf("loop closed cleanly\n");
    return p.failed == 0 ? 0 : 1;
}
