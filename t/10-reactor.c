/* SPDX-License-Identifier: MIT */
/* The reactor: run/stop/crash, signals, embedding on a borrowed loop and in a foreign poll
 * loop, free's refusals, loop health, logging, and the debug wrong-thread check. */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include <weft/error.h>
#include <weft/log.h>
#include <weft/reactor.h>
#include <weft/time.h>

#include "../common/log-internal.h"
#include "helpers.h"
#include "tap.h"

static weft_reactor_t *new_real(bool signals)
{
    weft_reactor_options_t o;
    weft_reactor_options_init(&o);
    o.name = "main-test";
    o.install_signal_handlers = signals;
    int err;
    weft_reactor_t *r = weft_reactor_new(&o, &err);
    if (r == NULL)
        bail_out("weft_reactor_new: %s", weft_strerror(err));
    return r;
}

typedef struct {
    weft_reactor_t *r;
    int running_inside;
    int rc_run_again;
    int rc_stop;
    int rc_stop_again;
    int ran;
} ctx_t;

static void stop_from_inside(void *arg)
{
    ctx_t *c = arg;
    c->running_inside = weft_reactor_is_running(c->r);
    c->rc_run_again = weft_reactor_run(c->r);
    c->rc_stop = weft_reactor_stop(c->r);
    c->rc_stop_again = weft_reactor_stop(c->r);
    c->ran++;
}

static void test_run_stop(void)
{
    ctx_t c = {0};
    c.r = new_real(false);
    check_err(weft_reactor_stop(c.r), WEFT_ENOTRUNNING);
    check_err(weft_reactor_call_soon(c.r, stop_from_inside, &c), 0);
    check_err(weft_reactor_run(c.r), 0);
    check_int(c.ran, ==, 1);
    check_int(c.running_inside, ==, 1);
    check_err(c.rc_run_again, WEFT_EALREADY);
    check_err(c.rc_stop, 0);
    check_err(c.rc_stop_again, WEFT_EALREADY);
    check(!weft_reactor_is_running(c.r));
    check_err(weft_reactor_run(c.r), WEFT_ECLOSED);
    check_err(weft_reactor_stop(c.r), WEFT_EALREADY);
    t_teardown(c.r);
}

static void do_crash(void *arg)
{
    ctx_t *c = arg;
    c->ran++;
    weft_reactor_crash(c->r);
}

static void test_crash(void)
{
    ctx_t c = {0};
    c.r = new_real(false);
    check_err(weft_reactor_call_soon(c.r, do_crash, &c), 0);
    check_err(weft_reactor_run(c.r), 0);
    check_int(c.ran, ==, 1);
    check(!weft_reactor_is_running(c.r));
    /* A crashed reactor runs again. */
    check_err(weft_reactor_call_soon(c.r, stop_from_inside, &c), 0);
    check_err(weft_reactor_run(c.r), 0);
    check_int(c.ran, ==, 2);
    check_err(c.rc_stop, 0);
    t_teardown(c.r);
}

static void raise_signal(void *arg)
{
    raise((int)(intptr_t)arg);
}

static void test_signal_stops(int sig)
{
    weft_reactor_t *r = new_real(true);
    check_err(weft_reactor_call_soon(r, raise_signal, (void *)(intptr_t)sig), 0);
    check_err(weft_reactor_run(r), 0);
    check_int(weft_reactor_exit_signal(r), ==, sig);
    check(!weft_reactor_is_running(r));
    t_teardown(r);
    /* The handler is gone with the run: the default disposition is back. */
    struct sigaction sa;
    sigaction(sig, NULL, &sa);
    check_ptr((void *)(uintptr_t)sa.sa_handler, ==, (void *)(uintptr_t)SIG_DFL);
}

static int hups;

static void on_hup(void *arg)
{
    weft_reactor_t *r = arg;
    hups++;
    weft_reactor_stop(r);
}

static void test_sighup_hook(void)
{
    weft_reactor_t *r = new_real(true);
    hups = 0;
    weft_reactor_set_sighup_hook(r, on_hup, r);
    check_err(weft_reactor_call_soon(r, raise_signal, (void *)(intptr_t)SIGHUP), 0);
    check_err(weft_reactor_run(r), 0);
    check_int(hups, ==, 1);
    check_int(weft_reactor_exit_signal(r), ==, 0);
    t_teardown(r);
}

static void look_at_sigpipe(void *arg)
{
    ctx_t *c = arg;
    struct sigaction sa;
    sigaction(SIGPIPE, NULL, &sa);
    c->ran = sa.sa_handler == SIG_IGN ? 1 : sa.sa_handler == SIG_DFL ? 2 : 3;
    raise(SIGPIPE); /* ignored: the process goes on; else the default action kills it here */
    weft_reactor_stop(c->r);
}

static void test_sigpipe_ignored_while_running(void)
{
    signal(SIGPIPE, SIG_DFL);
    ctx_t c = {0};
    c.r = new_real(true);
    check_err(weft_reactor_call_soon(c.r, look_at_sigpipe, &c), 0);
    check_err(weft_reactor_run(c.r), 0);
    check_int(c.ran, ==, 1); /* SIG_IGN during the run, and the raise did not kill us */
    struct sigaction sa;
    sigaction(SIGPIPE, NULL, &sa);
    check_ptr((void *)(uintptr_t)sa.sa_handler, ==, (void *)(uintptr_t)SIG_DFL); /* put back */
    t_teardown(c.r);
    /* A program's own disposition is left alone. */
    signal(SIGPIPE, SIG_IGN);
    c = (ctx_t){0};
    c.r = new_real(true);
    check_err(weft_reactor_call_soon(c.r, look_at_sigpipe, &c), 0);
    check_err(weft_reactor_run(c.r), 0);
    check_int(c.ran, ==, 1);
    sigaction(SIGPIPE, NULL, &sa);
    check_ptr((void *)(uintptr_t)sa.sa_handler, ==,
              (void *)(uintptr_t)SIG_IGN); /* still the program's */
    t_teardown(c.r);
    signal(SIGPIPE, SIG_DFL);
}

static void look_at_sigterm(void *arg)
{
    ctx_t *c = arg;
    struct sigaction sa;
    sigaction(SIGTERM, NULL, &sa);
    c->ran = sa.sa_handler == SIG_DFL;
    weft_reactor_stop(c->r);
}

static void test_signal_opt_out(void)
{
    ctx_t c = {0};
    c.r = new_real(false);
    check_err(weft_reactor_call_soon(c.r, look_at_sigterm, &c), 0);
    check_err(weft_reactor_run(c.r), 0);
    check_int(c.ran, ==, 1); /* weft installed nothing */
    t_teardown(c.r);
}

/* ---------------------------------------------------------------- borrowed loop */

static int caller_ticks;
static int weft_fired;

static void caller_tick(uv_timer_t *t)
{
    (void)t;
    caller_ticks++;
}

static void weft_fire(void *arg)
{
    (void)arg;
    weft_fired++;
}

static void test_borrowed_loop(void)
{
    uv_loop_t loop;
    check_int(uv_loop_init(&loop), ==, 0);
    uv_timer_t timer;
    uv_timer_init(&loop, &timer);
    uv_timer_start(&timer, caller_tick, 1, 1);
    int err;
    weft_reactor_t *r = weft_reactor_new_from_uv(&loop, NULL, &err);
    if (!check_ptr(r, !=, NULL))
        return;
    check_ptr(weft_reactor_get_uv_loop(r), ==, &loop);
    check_err(weft_reactor_run(r), WEFT_EINVAL); /* the caller runs it */
    weft_fired = caller_ticks = 0;
    check_err(weft_reactor_call_later(r, 0.001, weft_fire, NULL, NULL), 0);
    check_err(weft_reactor_call_from_thread(r, weft_fire, NULL), 0);
    while (weft_fired < 2)
        uv_run(&loop, UV_RUN_ONCE);
    check_err(weft_reactor_free(r), 0);
    int before = caller_ticks;
    while (caller_ticks < before + 3)
        uv_run(&loop, UV_RUN_ONCE);
    check_int(caller_ticks, >=, before + 3); /* the caller's timer lives on */
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    check_int(uv_loop_close(&loop), ==, 0); /* weft left no handle behind */
}

static void test_borrowed_loop_not_kept_alive(void)
{
    uv_loop_t loop;
    check_int(uv_loop_init(&loop), ==, 0);
    weft_reactor_t *r = weft_reactor_new_from_uv(&loop, NULL, NULL);
    if (!check_ptr(r, !=, NULL))
        return;
    /* With nothing to do, weft's handles do not keep the caller's uv_run going. */
    check_int(uv_run(&loop, UV_RUN_DEFAULT), ==, 0);
    check_err(weft_reactor_free(r), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    check_int(uv_loop_close(&loop), ==, 0);
}

/* ---------------------------------------------------------------- free refuses */

static void test_free_foreign_handle(void)
{
    weft_reactor_t *r = new_real(false);
    uv_timer_t mine;
    uv_timer_init(weft_reactor_get_uv_loop(r), &mine);
    check_err(weft_reactor_free(r), WEFT_EBUSY);
    uv_close((uv_handle_t *)&mine, NULL);
    uv_run(weft_reactor_get_uv_loop(r), UV_RUN_NOWAIT);
    check_err(weft_reactor_free(r), 0);
    check_err(weft_reactor_free(NULL), 0);
}

static void test_new_invalid(void)
{
    weft_reactor_options_t o;
    weft_reactor_options_init(&o);
    o.thread_calls_per_tick = 0;
    int err = 0;
    check_ptr(weft_reactor_new(&o, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
    check_ptr(weft_reactor_new_from_uv(NULL, NULL, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
}

/* ---------------------------------------------------------------- foreign poll loop */

static int poll_flags[2];

static void *poster(void *arg)
{
    weft_reactor_t *r = arg;
    int rc = weft_reactor_call_from_thread(r, weft_fire, NULL);
    return (void *)(intptr_t)rc;
}

static void set_flag(void *arg)
{
    *(int *)arg = 1;
}

static void test_foreign_poll(void)
{
    weft_reactor_t *r = new_real(false);
    weft_fired = 0;
    poll_flags[0] = poll_flags[1] = 0;
    check_err(weft_reactor_call_later(r, 0.002, set_flag, &poll_flags[0], NULL), 0);
    pthread_t t;
    pthread_create(&t, NULL, poster, r);
    void *rc;
    pthread_join(t, &rc);
    check_int((intptr_t)rc, ==, 0);
    int fd = weft_reactor_backend_fd(r);
    check_int(fd, >=, 0);
    /* A plain poll() loop drives weft: wait on its fd for its timeout, then one step. */
    for (int i = 0; i < 10000 && !(poll_flags[0] && weft_fired); i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, weft_reactor_backend_timeout(r));
        weft_reactor_run_once_nowait(r);
    }
    check_int(weft_fired, ==, 1);
    check_int(poll_flags[0], ==, 1);
    t_teardown(r);
}

/* ---------------------------------------------------------------- health and logging */

static void test_stats(void)
{
    weft_reactor_t *r = t_reactor(false);
    int flag = 0;
    for (int i = 0; i < 5; i++)
        check_err(weft_reactor_call_soon(r, weft_fire, NULL), 0);
    check_err(weft_reactor_call_later(r, 0, set_flag, &flag, NULL), 0);
    check(t_run_until(r, &flag, 100));
    weft_reactor_stats_t st;
    weft_reactor_get_stats(r, &st);
    check_uint(st.iterations, >=, 1);
    check_uint(st.callbacks, ==, 6);
    check_uint(st.timers_fired, ==, 1);
    check_uint(st.pending_delayed_calls, ==, 0);
    t_teardown(r);
}

static char logged[2048];
static int nlogged;

static void capture(const weft_log_record_t *rec, void *arg)
{
    (void)arg;
    nlogged++;
    weft_log_format_record(rec, WEFT_LOG_FORMAT_PLAIN, logged, sizeof(logged));
}

static void test_log_names_reactor(void)
{
    weft__log_reset();
    weft_log_set_sink(capture, NULL);
    nlogged = 0;
    weft_reactor_t *r = new_real(true);
    weft_reactor_set_sighup_hook(r, NULL, NULL);
    ctx_t c = {.r = r};
    check_err(weft_reactor_call_soon(r, raise_signal, (void *)(intptr_t)SIGHUP), 0);
    check_err(weft_reactor_call_later(r, 0.001, stop_from_inside, &c, NULL), 0);
    check_err(weft_reactor_run(r), 0);
    check_int(nlogged, ==, 1);
    check_str(logged, "weft[reactor] info: SIGHUP ignored: no hook set reactor=main-test\n");
    t_teardown(r);
    weft__log_reset();
}

static unsigned long slack_seen;

static void read_slack(void *arg)
{
    slack_seen = (unsigned long)prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    weft_reactor_stop(arg);
}

static void test_timer_slack(void)
{
    unsigned long before = (unsigned long)prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    weft_reactor_options_t o;
    weft_reactor_options_init(&o);
    o.install_signal_handlers = false;
    o.timer_slack_ns = 1000;
    weft_reactor_t *r = weft_reactor_new(&o, NULL);
    if (!check_ptr(r, !=, NULL))
        return;
    slack_seen = 0;
    check_err(weft_reactor_call_soon(r, read_slack, r), 0);
    check_err(weft_reactor_run(r), 0);
    check_uint(slack_seen, ==, 1000);
    t_teardown(r);
    prctl(PR_SET_TIMERSLACK, before, 0, 0, 0);
}

#ifdef WEFT_DEBUG
static void *wrong_thread_call(void *arg)
{
    int rc = weft_reactor_call_soon(arg, weft_fire, NULL);
    (void)rc;
    return NULL;
}

static void call_from_other_thread(void *arg)
{
    pthread_t t;
    pthread_create(&t, NULL, wrong_thread_call, arg);
    pthread_join(t, NULL);
}
#endif

static void test_wrong_thread(void)
{
#ifdef WEFT_DEBUG
    weft_reactor_t *r = t_reactor(true);
    check(dies_ok(call_from_other_thread, r,
                  "weft_reactor_call_soon called from a thread that is not its reactor's "
                  "loop thread"));
    t_teardown(r);
#else
    t_skip("the wrong-thread check is compiled in debug builds only (make debug, asan, tsan)");
#endif
}

int main(void)
{
    TEST(test_run_stop(), "stop inside run ends it; run again gives WEFT_EALREADY inside and "
                          "WEFT_ECLOSED after; stop when not running gives WEFT_ENOTRUNNING");
    TEST(test_crash(), "crash ends run at once and the reactor can run again");
    TEST(test_signal_stops(SIGTERM), "SIGTERM stops the reactor gracefully");
    TEST(test_signal_stops(SIGINT), "SIGINT stops the reactor gracefully");
    TEST(test_sighup_hook(), "SIGHUP calls the user's hook on the loop thread");
    TEST(test_sigpipe_ignored_while_running(),
         "SIGPIPE is ignored while a reactor with signal handlers runs (a write to a gone peer "
         "gives EPIPE, not death), then put back; a program's own setting is kept");
    TEST(test_signal_opt_out(), "with install_signal_handlers off weft installs no handler");
    TEST(test_borrowed_loop(), "a reactor on a borrowed loop runs under the caller's uv_run and "
                               "leaves the caller's timer running after free");
    TEST(test_borrowed_loop_not_kept_alive(),
         "an idle reactor does not keep a borrowed loop alive");
    TEST(test_free_foreign_handle(),
         "free refuses with WEFT_EBUSY while the caller's own handle is open on its loop");
    TEST(test_new_invalid(), "bad options and a NULL loop are refused with WEFT_EINVAL");
    TEST(test_foreign_poll(), "a plain poll() loop drives weft through its backend fd, timeout "
                              "and run_once_nowait");
    TEST(test_stats(), "loop health counts iterations, callbacks and fired timers");
    TEST(test_log_names_reactor(), "the reactor's log records carry its name");
    TEST(test_timer_slack(), "the timer_slack_ns option sets the loop thread's timer slack");
    TEST(test_wrong_thread(),
         "a loop-only function called from another thread aborts naming the function");
    return done_testing();
}
