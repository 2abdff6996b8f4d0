/* SPDX-License-Identifier: MIT */
/* Fault cases: thread creation failing, accept out of memory, accept hitting EMFILE. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include <weft/bridge.h>
#include <weft/deferred.h>
#include <weft/error.h>
#include <weft/log.h>
#include <weft/reactor.h>
#include <weft/tcp.h>
#include <weft/threadpool.h>

#include "../common/fault-internal.h"
#include "helpers.h"
#include "net-helpers.h"
#include "tap.h"

/*
 * A job that never returns is the fourth fault case of issue #13; the pool's stop deadline
 * covers it and is tested where the pool is: t/30 ("free (drain|cancel) with a job that never
 * returns logs it by name, returns WEFT_ETIMEDOUT") and t/42 ("jobs still running at the
 * shutdown deadline fail their deferreds once ...").
 */

#ifdef WEFT_FAULT_INJECTION
/* ---------------------------------------------------------------- a log capture */

typedef struct {
    pthread_mutex_t mu;
    char text[4096];
    size_t len;
} capture_t;

static capture_t cap = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void capture_sink(const weft_log_record_t *rec, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&cap.mu);
    size_t room = sizeof(cap.text) - cap.len;
    int n = snprintf(cap.text + cap.len, room, "%s\n", rec->message);
    if (n > 0)
        cap.len += (size_t)n < room ? (size_t)n : room - 1;
    pthread_mutex_unlock(&cap.mu);
}

static void capture_start(void)
{
    cap.len = 0;
    cap.text[0] = '\0';
    weft_log_set_sink(capture_sink, NULL);
}

static bool captured(const char *what)
{
    pthread_mutex_lock(&cap.mu);
    bool found = strstr(cap.text, what) != NULL;
    pthread_mutex_unlock(&cap.mu);
    return found;
}
#endif /* WEFT_FAULT_INJECTION */

/* ---------------------------------------------------------------- raw loopback clients */

/* A blocking socket connected to 127.0.0.1:port, or -1 with errno set. */
static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Turns r's loop without blocking until fd is readable (at most about `tries` times 10 ms);
 * returns whether it became readable. */
static bool run_until_readable(weft_reactor_t *r, int fd, int tries)
{
    for (int i = 0; i < tries; i++) {
        (void)weft_reactor_run_once_nowait(r);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10) > 0)
            return true;
    }
    return false;
}

/* Sends text on fd, serves it through r, and checks it comes back whole. */
static bool echoes(weft_reactor_t *r, int fd, const char *text)
{
    size_t len = strlen(text);
    if (!check_int(send(fd, text, len, 0), ==, (long long)len))
        return false;
    char buf[64];
    size_t got = 0;
    while (got < len && run_until_readable(r, fd, 500)) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - got, MSG_DONTWAIT);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return check_uint(got, ==, len) && check(memcmp(buf, text, len) == 0);
}

/* ---------------------------------------------------------------- EMFILE */

/* The highest open file descriptor. */
static int highest_fd(void)
{
    int top = 0;
    for (int fd = 0; fd < 4096; fd++) {
        if (fcntl(fd, F_GETFD) != -1)
            top = fd;
    }
    return top;
}

/*
 * In a child, whose descriptor limit is lowered to leave FREE descriptors: clients fill them,
 * so the server's accept fails with EMFILE. libuv then accepts and closes the pending
 * connections with a descriptor it keeps in reserve for this (uv__emfile_trick): they see EOF
 * instead of hanging, the listening socket is not left readable (no busy loop), and weft is
 * not told (no callback runs). Once descriptors are free again the same listener serves new
 * connections. Exit 0 on success,
 * 1 + the step that failed otherwise.
 */
enum { FREE = 4 };

static int emfile_child(void)
{
    /* Inherited descriptors (a test harness's) would leave holes under the limit. */
    for (int fd = 3; fd < 4096; fd++)
        close(fd);
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {.echo = true};
    t_server_start(&s, r, NULL);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 2;
    rl.rlim_cur = (rlim_t)highest_fd() + 1 + FREE;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 3;
    /* FREE above the highest, and any holes below it (sanitizers keep descriptors of their
     * own): fill them all. */
    int fds[64];
    int n = 0;
    while (n < 64 && (fds[n] = raw_connect(s.port)) >= 0)
        n++;
    if (n == 0 || n == 64 || errno != EMFILE) {
        diag("%d clients connected, then: %s", n, strerror(errno));
        return 4;
    }
    /* Every descriptor is taken: the server cannot accept; the pending clients are closed. */
    if (!run_until_readable(r, fds[0], 500))
        return 5;
    char b;
    ssize_t got = recv(fds[0], &b, 1, MSG_DONTWAIT);
    if (!(got == 0 || (got < 0 && errno == ECONNRESET)))
        return 6;
    /* Descriptors free again: the same listener serves a new client. */
    for (int i = 0; i < n; i++)
        close(fds[i]);
    int fd = raw_connect(s.port);
    if (fd < 0)
        return 8;
    if (!echoes(r, fd, "still serving\n"))
        return 9;
    close(fd);
    t_server_stop(&s);
    return t_teardown(r) ? 0 : 10;
}

static void test_emfile(void)
{
    if (t_under_valgrind()) {
        t_skip("valgrind keeps descriptors of its own under the limit");
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGALRM, SIG_DFL);
        alarm(30);
        _exit(emfile_child());
    }
    int status = 0;
    if (!check_int(waitpid(pid, &status, 0), ==, pid))
        return;
    if (!check(WIFEXITED(status)))
        diag("killed by signal %d", WTERMSIG(status));
    else if (!check_int(WEXITSTATUS(status), ==, 0))
        diag("the child failed at step %d (see emfile_child)", WEXITSTATUS(status));
}

#ifdef WEFT_FAULT_INJECTION
/* ---------------------------------------------------------------- thread creation failing */

static sem_t gate, started;
static atomic_int ran;

static void gated_job(void *arg)
{
    (void)arg;
    sem_post(&started);
    while (sem_wait(&gate) != 0)
        ;
    atomic_fetch_add(&ran, 1);
}

static void plain_job(void *arg)
{
    (void)arg;
    atomic_fetch_add(&ran, 1);
}

static weft_pool_t *small_pool(unsigned max)
{
    weft_pool_options_t o;
    weft_pool_options_init(&o);
    o.name = "fault";
    o.max_threads = max;
    o.spin_us = 0;
    return weft_pool_new(&o, NULL);
}

static void test_threads_fail_later(void)
{
    sem_init(&gate, 0, 0);
    sem_init(&started, 0, 0);
    atomic_store(&ran, 0);
    weft_pool_t *pool = small_pool(4);
    if (!check_ptr(pool, !=, NULL))
        return;
    check_err(weft_pool_submit(pool, gated_job, NULL, NULL, NULL), 0);
    while (sem_wait(&started) != 0)
        ;
    capture_start();
    weft__fault_thread_arm(1, true); /* from now on no thread can be started */
    for (int i = 0; i < 3; i++)
        check_err(weft_pool_submit(pool, plain_job, NULL, NULL, NULL), 0);
    weft_pool_stats_t st;
    weft_pool_get_stats(pool, &st);
    check_uint(st.threads, ==, 1);
    check(captured("cannot start a thread"));
    sem_post(&gate);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    weft__fault_thread_arm(0, false);
    weft_log_set_sink(NULL, NULL);
    check_int(atomic_load(&ran), ==, 4);
    sem_destroy(&gate);
    sem_destroy(&started);
}

static void test_threads_fail_first(void)
{
    atomic_store(&ran, 0);
    weft_pool_t *pool = small_pool(2);
    if (!check_ptr(pool, !=, NULL))
        return;
    capture_start();
    weft__fault_thread_arm(1, true);
    check_err(weft_pool_submit(pool, plain_job, NULL, NULL, NULL), WEFT_EAGAIN);
    weft__fault_thread_arm(0, false);
    check_err(weft_pool_submit(pool, plain_job, NULL, NULL, NULL), 0);
    check_err(weft_pool_free(pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER), 0);
    weft_log_set_sink(NULL, NULL);
    check_int(atomic_load(&ran), ==, 1);
}

/* ---------------------------------------------------------------- accept out of memory */

static void test_accept_enomem(void)
{
    weft_reactor_t *r = t_reactor(false);
    t_server_t s = {.echo = true};
    t_server_start(&s, r, NULL);
    int fd = raw_connect(s.port);
    if (!check(fd >= 0)) {
        t_server_stop(&s);
        t_teardown(r);
        return;
    }
    capture_start();
    /* The next weft allocation is the accepted connection's transport. */
    weft__fault_alloc_arm(1);
    check(echoes(r, fd, "served after a retry\n"));
    weft__fault_alloc_arm(0);
    check(captured("retrying"));
    weft_log_set_sink(NULL, NULL);
    close(fd);
    t_server_stop(&s);
    t_teardown(r);
}
/* ---------------------------------------------------------------- the completion ring */

/* One worker is held after claiming a ring slot and before filling it; meanwhile the other
 * completes more jobs than the ring holds, so some of them overflow. The loop must deliver
 * none of the second worker's results before the held slot is filled: its overflowed ones
 * come after its ring ones, which come after the held slot. */
enum { RING_JOBS = 3000 };

static weft_result_t index_job(void *arg)
{
    return weft_ok(arg, NULL);
}

typedef struct {
    int delivered, misordered;
    intptr_t last;
} ring_order_t;

static weft_result_t ring_order_ok(void *value, weft_free_fn free_fn, void *arg)
{
    (void)free_fn;
    ring_order_t *o = arg;
    intptr_t v = (intptr_t)value;
    if (v != 0) { /* the held worker's job is 0 */
        o->misordered += v <= o->last;
        o->last = v;
    }
    o->delivered++;
    return weft_ok(NULL, NULL);
}

static void test_ring_marks_hold_overflow(void)
{
    weft_reactor_t *r = t_reactor(false);
    check_err(weft_reactor_set_default_pool_threads(r, WEFT_POOL_KIND_CPU, 2), 0);
    sem_t reached, resume;
    sem_init(&reached, 0, 0);
    sem_init(&resume, 0, 0);
    ring_order_t o = {0, 0, 0};
    weft__fault_publish_arm(&reached, &resume);
    weft_deferred_t *d = weft_defer_to_thread(r, index_job, (void *)0, NULL, NULL);
    check_err(weft_deferred_add_callbacks(d, ring_order_ok, &o, NULL, NULL), 0);
    weft_deferred_unref(d);
    while (sem_wait(&reached) != 0)
        ;
    /* The other worker runs the rest, in order (the held one takes nothing meanwhile). */
    for (intptr_t i = 1; i <= RING_JOBS; i++) {
        d = weft_defer_to_thread(r, index_job, (void *)i, NULL, NULL);
        check_err(weft_deferred_add_callbacks(d, ring_order_ok, &o, NULL, NULL), 0);
        weft_deferred_unref(d);
    }
    weft_pool_t *pool = weft_reactor_default_pool(r, WEFT_POOL_KIND_CPU, NULL);
    check_uint(t_wait_pool_completed(pool, RING_JOBS), ==, RING_JOBS);
    /* (Without blocking: once the drains the completions posted have run, nothing more
     * comes until the held slot is filled.) */
    for (int i = 0; i < 10; i++)
        uv_run(weft_reactor_get_uv_loop(r), UV_RUN_NOWAIT);
    check_int(o.delivered, ==, 0); /* everything waits for the held slot */
    sem_post(&resume);
    t_run_until_delivered(r);
    check_int(o.delivered, ==, RING_JOBS + 1);
    check_int(o.misordered, ==, 0);
    t_teardown(r);
    sem_destroy(&reached);
    sem_destroy(&resume);
}

#endif /* WEFT_FAULT_INJECTION */

#ifndef WEFT_FAULT_INJECTION
static void skip_no_injection(void)
{
    t_skip("fault injection is compiled into the debug and asan builds only (make asan)");
}
#endif

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
#ifdef WEFT_FAULT_INJECTION
    TEST(test_threads_fail_later(),
         "a pool that cannot start more threads runs every job on the threads it has and logs "
         "why");
    TEST(test_threads_fail_first(),
         "a submit to a pool that has no thread and cannot start one fails with WEFT_EAGAIN");
    TEST(test_accept_enomem(),
         "a listener out of memory for a new connection retries the accept and serves it");
    TEST(test_ring_marks_hold_overflow(),
         "results that overflow the completion ring wait for a ring slot claimed before them "
         "and not yet filled");
#else
    TEST(skip_no_injection(), "a pool that cannot start more threads runs every job");
    TEST(skip_no_injection(), "a submit to a pool that cannot start a thread fails");
    TEST(skip_no_injection(), "a listener out of memory for a new connection retries");
    TEST(skip_no_injection(), "overflowed results wait for an earlier ring slot");
#endif
    TEST(test_emfile(), "a listener whose accept hits EMFILE closes the pending connections and "
                        "serves again once descriptors are free");
    return done_testing();
}
