/* SPDX-License-Identifier: MIT */
/* The network examples keep the house convention: `--port 0` prints `listening on <port>`
 * before serving, they answer on that port, and SIGTERM / SIGINT stop them with exit code 0.
 * Plain blocking sockets on the test's side, bounded by poll timeouts and the TAP watchdog. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "tap.h"

static char build_dir[4096];

typedef struct {
    pid_t pid;
    int port;
} proc_t;

/* Starts examples/<name> with args and --port 0; reads its first line. */
static bool start(proc_t *p, const char *name, const char *arg1, const char *arg2)
{
    int fds[2];
    if (pipe(fds) != 0)
        return false;
    char path[4200];
    snprintf(path, sizeof(path), "%s/examples/%s", build_dir, name);
    p->pid = fork();
    if (p->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        if (arg1 != NULL)
            execl(path, name, arg1, arg2, "--port", "0", (char *)NULL);
        else
            execl(path, name, "--port", "0", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[128] = "";
    bool ok = f != NULL && fgets(line, sizeof(line), f) != NULL &&
              sscanf(line, "listening on %d", &p->port) == 1 && p->port > 0;
    if (f != NULL)
        fclose(f);
    if (!ok)
        diag("%s said: %s", name, line);
    return ok;
}

static int stop(proc_t *p, int sig)
{
    return t_kill_wait(p->pid, sig);
}

/* Reads until want bytes arrived or 10 s of silence. */
static size_t read_n(int fd, char *buf, size_t want)
{
    size_t got = 0;
    while (got < want) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 10000) <= 0)
            break;
        ssize_t n = read(fd, buf + got, want - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

static void test_kv(void)
{
    proc_t p;
    if (!check(start(&p, "kv", NULL, NULL)))
        return;
    int fd = t_dial(p.port);
    if (check(fd >= 0)) {
        const char req[] = "colour: blue\r\ncolour\r\nshape\r\ncolour: red\r\ncolour\r\n";
        const char want[] = "OK\r\ncolour: blue\r\nERR no such key\r\nOK\r\ncolour: red\r\n";
        check_int(write(fd, req, sizeof(req) - 1), ==, (long long)(sizeof(req) - 1));
        char got[256] = "";
        size_t n = read_n(fd, got, sizeof(want) - 1);
        check_uint(n, ==, sizeof(want) - 1);
        check_str(got, want);
        close(fd);
    }
    check_int(stop(&p, SIGTERM), ==, 0);
}

static void echo_case(const char *proto, const char *req, size_t len, int sig)
{
    proc_t p;
    if (!check(start(&p, "framing_echo", "--proto", proto)))
        return;
    int fd = t_dial(p.port);
    if (check(fd >= 0)) {
        check_int(write(fd, req, len), ==, (long long)len);
        char got[256] = "";
        check_uint(read_n(fd, got, len), ==, len);
        check(memcmp(got, req, len) == 0);
        /* The server stops with this connection still open: it closes it and exits 0. */
    }
    check_int(stop(&p, sig), ==, 0);
    if (fd >= 0) {
        char c;
        check_int(read_n(fd, &c, 1), ==, 0); /* end of stream, not a hang */
        close(fd);
    }
}

static void test_echo_line(void)
{
    echo_case("line", "hello\r\nworld\r\n", 14, SIGTERM);
}

static void test_echo_netstring(void)
{
    echo_case("netstring", "3:abc,0:,", 9, SIGINT);
}

static void test_echo_int32(void)
{
    echo_case("int32",
              "\x00\x00\x00\x02"
              "hi",
              6, SIGTERM);
}

static void test_bad_args(void)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/examples/framing_echo --proto nope --port 0 2>/dev/null",
             build_dir);
    int rc = system(path);
    check(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
}

int main(void)
{
    const char *top = getenv("WEFT_TOP"), *b = getenv("WEFT_BUILD");
    snprintf(build_dir, sizeof(build_dir), "%s/%s", top ? top : ".", b ? b : "build/default");
    char probe[4200];
    snprintf(probe, sizeof(probe), "%s/examples/kv", build_dir);
    if (access(probe, X_OK) != 0)
        bail_out("%s is not built (make check builds the examples)", probe);
    signal(SIGPIPE, SIG_IGN);
    TEST(test_kv(), "kv sets with `key: value`, gets with `key`, and exits 0 on SIGTERM");
    TEST(test_echo_line(), "framing_echo --proto line echoes lines and exits 0 on SIGTERM with "
                           "a connection open");
    TEST(test_echo_netstring(), "framing_echo --proto netstring echoes netstrings and exits 0 "
                                "on SIGINT");
    TEST(test_echo_int32(), "framing_echo --proto int32 echoes Int32 strings");
    TEST(test_bad_args(), "framing_echo with an unknown --proto exits 2");
    return done_testing();
}
