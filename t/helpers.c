/* SPDX-License-Identifier: MIT */
/* Helpers shared by weft's tests. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include <weft/bridge.h>
#include <weft/error.h>

#include "helpers.h"
#include "tap.h"

weft_reactor_t *t_reactor(bool manual)
{
    weft_reactor_options_t opts;
    weft_reactor_options_init(&opts);
    opts.name = "test";
    opts.manual_clock = manual;
    opts.install_signal_handlers = false;
    int err = 0;
    weft_reactor_t *r = weft_reactor_new(&opts, &err);
    if (r == NULL)
        bail_out("weft_reactor_new: %s", weft_strerror(err));
    return r;
}

/* libuv 1.44's UV_RUN_ONCE runs due timers before it polls: a timer that sets the flag there
 * would leave the poll blocking with nothing more to come (a hang seen under valgrind). A
 * prepare handle, which runs just before the poll, stops the loop once the flag is set. */
static void stop_if_flag(uv_prepare_t *h)
{
    if (*(const int *)h->data)
        uv_stop(h->loop);
}

bool t_run_until(weft_reactor_t *r, const int *flag, unsigned limit)
{
    uv_loop_t *loop = weft_reactor_get_uv_loop(r);
    uv_prepare_t guard;
    uv_prepare_init(loop, &guard);
    guard.data = (void *)flag;
    uv_prepare_start(&guard, stop_if_flag);
    uv_unref((uv_handle_t *)&guard);
    for (unsigned i = 0; i < limit && !*flag; i++)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(loop, UV_RUN_NOWAIT); /* the close completes before guard goes out of scope */
    return *flag != 0;
}

void t_run_once(weft_reactor_t *r)
{
    uv_run(weft_reactor_get_uv_loop(r), UV_RUN_ONCE);
}

size_t t_run_until_delivered(weft_reactor_t *r)
{
    weft_bridge_stats_t st;
    for (int i = 0; i < 1000000 && (weft_bridge_get_stats(r, &st), st.in_flight > 0); i++)
        t_run_once(r);
    return st.in_flight;
}

uint64_t t_wait_pool_completed(weft_pool_t *pool, uint64_t n)
{
    weft_pool_stats_t ps;
    for (int i = 0; i < 100000000 && (weft_pool_get_stats(pool, &ps), ps.completed < n); i++)
        sched_yield();
    return ps.completed;
}

bool t_teardown(weft_reactor_t *r)
{
    return check_err(weft_reactor_free(r), 0);
}

int t_sh(char *out, size_t size, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof(cmd) - 8, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(cmd) - 8)
        bail_out("t_sh: command too long");
    strcat(cmd, " 2>&1");
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    size_t len = 0;
    char sink[4096];
    for (;;) {
        /* Read everything, keeping what fits: the command must never block on a full pipe. */
        size_t room = len + 1 < size ? size - 1 - len : 0;
        size_t got = room ? fread(out + len, 1, room, p) : fread(sink, 1, sizeof(sink), p);
        if (got == 0)
            break;
        if (room)
            len += got;
    }
    if (size > 0)
        out[len] = '\0';
    int status = pclose(p);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

bool t_under_valgrind(void)
{
    return getenv("WEFT_UNDER_VALGRIND") != NULL;
}

int t_dial(int port)
{
    return t_dial_rcvbuf(port, 0);
}

int t_dial_rcvbuf(int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int t_kill_wait(pid_t pid, int sig)
{
    kill(pid, sig);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
