/* SPDX-License-Identifier: MIT */
/* embed_poll: a plain poll() program that drives weft, with no libuv code of its own.
 *
 *     embed_poll
 *
 * Build: cc embed_poll.c $(pkg-config --cflags --libs weft)
 *
 * The program's main loop is a poll() over its own file descriptor (a pipe it reads messages
 * from) and weft's backend fd (weft_reactor_backend_fd), with weft's timeout
 * (weft_reactor_backend_timeout); after each wake-up it calls weft_reactor_run_once_nowait.
 * It offloads three prime counts with weft_defer_to_thread; each deferred's callback, on
 * the program's thread, writes a message into the program's pipe, which the poll loop reads
 * and prints:
 *
 *     job <n>: <count> primes below <limit>
 *
 * then `poll loop done after <k> wake-ups` and exits 0 (1 on failure). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft.h>

#define NJOBS 3

typedef struct {
    int id;
    unsigned limit;
    int pipe_w; /* where the loop thread reports the result */
} job_t;

/* Worker thread: counts the primes below job->limit by trial division. */
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

/* Loop thread (the program's thread, inside run_once_nowait): report into the pipe. */
static weft_result_t on_result(weft_result_t res, void *arg)
{
    job_t *job = arg;
    char line[128];
    int n;
    if (res.kind == WEFT_RESULT_VALUE)
        n = snprintf(line, sizeof(line), "job %d: %lu primes below %u\n", job->id,
                     *(unsigned long *)res.value, job->limit);
    else
        n = snprintf(line, sizeof(line), "job %d: failed\n", job->id);
    weft_result_free(res);
    if (write(job->pipe_w, line, (size_t)n) != n)
        fprintf(stderr, "embed_poll: cannot write to the pipe: %s\n", strerror(errno));
    return weft_ok(NULL, NULL);
}

int main(int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: embed_poll\n");
        return 2;
    }
    int fds[2];
    if (pipe(fds) != 0)
        return 1;
    weft_reactor_options_t o;
    weft_reactor_options_init(&o);
    o.install_signal_handlers = false; /* the program keeps its own signal handling */
    int err = 0;
    weft_reactor_t *r = weft_reactor_new(&o, &err);
    if (r == NULL) {
        fprintf(stderr, "embed_poll: %s\n", weft_strerror(err));
        return 1;
    }
    static job_t jobs[NJOBS] = {{1, 50000, -1}, {2, 100000, -1}, {3, 150000, -1}};
    for (int i = 0; i < NJOBS; i++) {
        jobs[i].pipe_w = fds[1];
        weft_deferred_t *d = weft_defer_to_thread(r, count_primes, &jobs[i], NULL, &err);
        if (d == NULL || weft_deferred_add_both(d, on_result, &jobs[i]) != 0) {
            fprintf(stderr, "embed_poll: cannot offload: %s\n", weft_strerror(err));
            return 1;
        }
        weft_deferred_unref(d);
    }

    /* The program's own loop: poll() on its pipe and on weft's backend fd. */
    int reported = 0, failed = 0;
    unsigned wakeups = 0;
    char buf[512];
    size_t used = 0;
    while (reported < NJOBS) {
        struct pollfd pfd[2] = {{.fd = fds[0], .events = POLLIN},
                                {.fd = weft_reactor_backend_fd(r), .events = POLLIN}};
        int timeout = weft_reactor_backend_timeout(r);
        if (timeout < 0 || timeout > 1000)
            timeout = 1000; /* the program's own tick */
        if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
            return 1;
        wakeups++;
        if (pfd[0].revents & POLLIN) {
            ssize_t n = read(fds[0], buf + used, sizeof(buf) - used - 1);
            if (n <= 0)
                return 1;
            used += (size_t)n;
            char *nl;
            while ((nl = memchr(buf, '\n', used)) != NULL) { /* one message per line */
                size_t len = (size_t)(nl - buf) + 1;
                fwrite(buf, 1, len, stdout);
                failed += len >= 7 && memcmp(buf + len - 7, "failed\n", 7) == 0;
                reported++;
                memmove(buf, buf + len, used - len);
                used -= len;
            }
        }
        weft_reactor_run_once_nowait(r); /* weft's turn: results, timers, thread calls */
    }
    printf("poll loop done after %u wake-ups\n", wakeups > 0 ? wakeups : 1);
    /* weft's own loop closes its handles over a few more steps. */
    int rc = weft_reactor_free(r);
    for (int i = 0; i < 1000 && rc != 0; i++) {
        weft_reactor_run_once_nowait(r);
        rc = weft_reactor_free(r);
    }
    close(fds[0]);
    close(fds[1]);
    return failed == 0 && rc == 0 ? 0 : 1;
}
