/* SPDX-License-Identifier: MIT */
/* A real client against the HTTP examples: curl talks to http_hash and http_static, started
 * with --port 0 as the house convention says, and both stop with exit code 0 on SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "tap.h"

static char build_dir[4096];
static char dir[64];

typedef struct {
    pid_t pid;
    int port;
} proc_t;

/* Starts examples/<name> --port 0 [extra args]; reads its first line. */
static bool start(proc_t *p, const char *name, const char *a1, const char *a2)
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
        execl(path, name, "--port", "0", a1, a2, (char *)NULL);
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

#define CURL "curl -sS -m 20 "

static void test_hash(void)
{
    proc_t p;
    if (!check(start(&p, "http_hash", NULL, NULL)))
        return;
    char out[4096];
    check_int(t_sh(out, sizeof(out), CURL "http://127.0.0.1:%d/ping", p.port), ==, 0);
    check_str(out, "pong\n");
    check_int(t_sh(out, sizeof(out), CURL "'http://127.0.0.1:%d/hash?pw=secret'", p.port), ==, 0);
    /* hashlib.pbkdf2_hmac('sha256', b'secret', b'weft-http-hash', 10000).hex() */
    check_str(out, "132b1b284d11bba3a9ee8a1bf3ecc781fabf8db6170571929ee16935acdcd3cb\n");
    check_int(t_sh(out, sizeof(out),
                   CURL "-o /dev/null -o /dev/null -w '%%{http_code} %%{num_connects}\\n' "
                        "http://127.0.0.1:%d/ping http://127.0.0.1:%d/ping",
                   p.port, p.port),
              ==, 0);
    check_str(out, "200 1\n200 0\n"); /* the second request reused the connection */
    check_int(t_sh(out, sizeof(out),
                   CURL "-o /dev/null -o /dev/null -w '%%{http_code}\\n' "
                        "http://127.0.0.1:%d/hash http://127.0.0.1:%d/nowhere",
                   p.port, p.port),
              ==, 0);
    check_str(out, "400\n404\n");
    check_int(t_sh(out, sizeof(out),
                   CURL "-o /dev/null -w '%%{http_code}\\n' -X POST http://127.0.0.1:%d/ping",
                   p.port),
              ==, 0);
    check_str(out, "405\n");
    check_int(t_sh(out, sizeof(out), CURL "http://127.0.0.1:%d/metrics", p.port), ==, 0);
    check(strstr(out, "weft_http_requests_total") != NULL);
    check_int(stop(&p, SIGTERM), ==, 0);
}

static void test_hash_head_and_chunked(void)
{
    proc_t p;
    if (!check(start(&p, "http_hash", "--iterations", "1")))
        return;
    char out[4096];
    check_int(t_sh(out, sizeof(out), CURL "-I http://127.0.0.1:%d/ping", p.port), ==, 0);
    check(strstr(out, "HTTP/1.1 200 OK") != NULL);
    check(strstr(out, "Content-Length: 5") != NULL);
    /* A chunked upload with Expect: 100-continue to a GET-only resource: 405, cleanly. */
    check_int(t_sh(out, sizeof(out),
                   "head -c 3000 /dev/zero | " CURL
                   "-o /dev/null -w '%%{http_code}\\n' -H 'Transfer-Encoding: chunked' "
                   "-H 'Expect: 100-continue' --data-binary @- http://127.0.0.1:%d/ping",
                   p.port),
              ==, 0);
    check_str(out, "405\n");
    check_int(stop(&p, SIGINT), ==, 0);
}

static void test_static(void)
{
    snprintf(dir, sizeof(dir), "/tmp/weft-t73-XXXXXX");
    if (!check(mkdtemp(dir) != NULL))
        return;
    char path[128], out[4096];
    snprintf(path, sizeof(path), "%s/a.txt", dir);
    FILE *fp = fopen(path, "w");
    if (fp == NULL)
        return;
    fputs("hello, static world\n", fp);
    fclose(fp);
    struct timeval tv[2] = {{1000000000, 0}, {1000000000, 0}};
    utimes(path, tv);
    proc_t p;
    if (check(start(&p, "http_static", "--root", dir))) {
        check_int(t_sh(out, sizeof(out), CURL "http://127.0.0.1:%d/a.txt", p.port), ==, 0);
        check_str(out, "hello, static world\n");
        check_int(t_sh(out, sizeof(out), CURL "-r 7-12 http://127.0.0.1:%d/a.txt", p.port), ==, 0);
        check_str(out, "static");
        check_int(t_sh(out, sizeof(out),
                       CURL "-o /dev/null -w '%%{http_code}\\n' -z '%s' "
                            "http://127.0.0.1:%d/a.txt",
                       "Sun, 09 Sep 2001 01:46:40 GMT", p.port),
                  ==, 0);
        check_str(out, "304\n");
        check_int(t_sh(out, sizeof(out),
                       CURL "-o /dev/null -o /dev/null -w '%%{http_code} %%{content_type}\\n' "
                            "http://127.0.0.1:%d/a.txt http://127.0.0.1:%d/missing",
                       p.port, p.port),
                  ==, 0);
        check_str(out, "200 text/plain; charset=utf-8\n404 text/html\n");
        check_int(stop(&p, SIGTERM), ==, 0);
    }
    t_sh(out, sizeof(out), "rm -rf %s", dir);
}

int main(void)
{
    const char *top = getenv("WEFT_TOP"), *b = getenv("WEFT_BUILD");
    snprintf(build_dir, sizeof(build_dir), "%s/%s", top ? top : ".", b ? b : "build/default");
    char probe[4200], out[256];
    snprintf(probe, sizeof(probe), "%s/examples/http_hash", build_dir);
    if (access(probe, X_OK) != 0)
        bail_out("%s is not built (make check builds the examples)", probe);
    if (t_sh(out, sizeof(out), "curl --version") != 0)
        skip_all("curl is not installed (make check installs it: DEPS_CHECK)");
    signal(SIGPIPE, SIG_IGN);
    TEST(test_hash(), "curl gets /ping, /hash's PBKDF2 key from the CPU pool, 400/404/405, "
                      "/metrics and a reused connection from http_hash, which exits 0 on "
                      "SIGTERM");
    TEST(test_hash_head_and_chunked(), "curl's HEAD and a chunked upload with Expect: "
                                       "100-continue are answered; SIGINT exits 0");
    TEST(test_static(), "curl gets a file, a byte range, a 304 for -z and a 404 from "
                        "http_static");
    return done_testing();
}
