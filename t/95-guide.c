/* SPDX-License-Identifier: MIT */
/* doc/guide.md cannot rot: every C block it shows is a verbatim excerpt of one of the programs
 * in doc/guide/, which `make check` builds (build/<variant>/guide/), and each program runs
 * here and prints what the guide says it prints. The servers are driven over plain blocking
 * sockets, bounded by poll timeouts and the TAP watchdog. */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "tap.h"

static const char *top;
static char build_dir[4096];
static char tmp[256];
static char out[16384];

/* ---------------------------------------------------------------- files */

/* The whole file at path, NUL-terminated (malloc'd), or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf != NULL && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf != NULL)
        buf[len] = '\0';
    return buf;
}

#define MAX_PROGRAMS 32
static char *program_names[MAX_PROGRAMS];
static char *program_text[MAX_PROGRAMS];
static size_t nprograms;

static void load_programs(void)
{
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/doc/guide", top);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL && nprograms < MAX_PROGRAMS) {
        size_t n = strlen(e->d_name);
        if (n < 3 || strcmp(e->d_name + n - 2, ".c") != 0)
            continue;
        char path[4500];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        program_names[nprograms] = strdup(e->d_name);
        program_text[nprograms] = slurp(path);
        nprograms++;
    }
    if (d != NULL)
        closedir(d);
}

static void test_blocks_are_excerpts(void)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/doc/guide.md", top);
    char *guide = slurp(path);
    if (!check(guide != NULL) || !check(nprograms >= 6))
        return;
    size_t blocks = 0;
    char *p = guide;
    while ((p = strstr(p, "\n```c\n")) != NULL) {
        char *start = p + 6;
        char *end = strstr(start, "\n```");
        if (!check(end != NULL))
            break;
        *end = '\0';
        blocks++;
        /* Whole lines: the block starts and ends at line ends of the program. */
        size_t need = strlen(start) + 3;
        char *lines = malloc(need);
        if (!check(lines != NULL))
            break;
        snprintf(lines, need, "\n%s\n", start);
        bool found = false;
        for (size_t i = 0; i < nprograms && !found; i++)
            found = program_text[i] != NULL && strstr(program_text[i], lines) != NULL;
        free(lines);
        if (!found)
            diag("doc/guide.md block %zu is in no doc/guide/*.c:\n%.300s", blocks, start);
        check(found);
        p = end + 1;
    }
    check_uint(blocks, >=, 12);
    free(guide);
}

static void test_programs_are_quoted(void)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/doc/guide.md", top);
    char *guide = slurp(path);
    if (!check(guide != NULL))
        return;
    for (size_t i = 0; i < nprograms; i++) {
        char name[300];
        snprintf(name, sizeof(name), "doc/guide/%s", program_names[i]);
        if (strstr(guide, name) == NULL)
            diag("doc/guide.md never names %s", name);
        check(strstr(guide, name) != NULL);
    }
    free(guide);
}

/* ---------------------------------------------------------------- programs that end */

/* Runs build/<variant>/guide/<name> with args; its stdout and stderr land in out. */
static int run_guide(const char *name, const char *args)
{
    return t_sh(out, sizeof(out), "%s/guide/%s %s", build_dir, name, args);
}

static void test_hello(void)
{
    check_int(run_guide("01-hello", ""), ==, 0);
    check_str(out, "hello, world\nthen: greeted\n");
}

static void test_offload(void)
{
    check_int(run_guide("02-offload", ""), ==, 0);
    check(strstr(out, "primes below 200000: 17984 (on the loop thread: yes)\n") != NULL);
    check(strstr(out, "failed: weft.Error: limit too large\n") != NULL);
    check(strstr(out, "failed: weft.CancelledError: ") != NULL);
    check(strstr(out, "failed: weft.TimeoutError: ") != NULL);
}

static void test_threads(void)
{
    check_int(run_guide("03-threads", ""), ==, 0);
    check_str(out, "loop: blocking_call_from_thread here returns WEFT_EWRONGTHREAD\n"
                   "worker: the loop says hits = 1\n"
                   "loop: a call from my own thread, hits = 1\n");
}

static void test_database(void)
{
    char args[512];
    snprintf(args, sizeof(args), "%s/bank.db", tmp);
    check_int(run_guide("05-database", args), ==, 0);
    check_str(out, "inserted 2 rows\n"
                   "alice -> bob 30: committed\n"
                   "bob -> alice 500: rolled back (weft.db.IntegrityError, SQLSTATE 23514)\n"
                   "alice has 70\n"
                   "bob has 50\n"
                   "pool closed\n");
}

/* ---------------------------------------------------------------- servers */

typedef struct {
    pid_t pid;
    int port;
} proc_t;

/* Starts build/<variant>/guide/<name> with up to two more arguments and --port 0; reads its
 * `listening on <port>` line (stderr goes to /dev/null: the runner logs there). */
static bool start(proc_t *p, const char *name, const char *arg1, const char *arg2)
{
    int fds[2];
    if (pipe(fds) != 0)
        return false;
    char path[4200];
    snprintf(path, sizeof(path), "%s/guide/%s", build_dir, name);
    fflush(stdout);
    p->pid = fork();
    if (p->pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(fds[1], 1);
        if (null >= 0)
            dup2(null, 2);
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

/* Sends req, then reads until want's length arrived or 10 s of silence; compares. */
static void exchange(int fd, const char *req, const char *want)
{
    size_t len = strlen(req), wlen = strlen(want), got = 0;
    check_int(write(fd, req, len), ==, (long long)len);
    char buf[1024] = "";
    while (got < wlen && got < sizeof(buf) - 1) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 10000) <= 0)
            break;
        ssize_t n = read(fd, buf + got, wlen - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    check_str(buf, want);
}

static void test_line_server(void)
{
    proc_t p;
    if (!check(start(&p, "04-line-server", NULL, NULL)))
        return;
    int fd = t_dial(p.port), idle = t_dial(p.port);
    if (check(fd >= 0)) {
        exchange(fd, "PING\r\n", "PONG\r\n");
        exchange(fd, "HASH hello\r\n", "HASH ff484204e59920c3\r\n");
        exchange(fd, "LIST\r\n", "ERR unknown command\r\n");
        close(fd);
    }
    /* The other connection is still open: the stop closes it and exits 0. */
    check_int(stop(&p, SIGTERM), ==, 0);
    if (idle >= 0)
        close(idle);
}

static void test_service(void)
{
    char db[512];
    snprintf(db, sizeof(db), "%s/kv.db", tmp);
    proc_t p;
    if (!check(start(&p, "06-service", "--db", db)))
        return;
    int fd = t_dial(p.port);
    if (check(fd >= 0)) {
        exchange(fd, "colour: blue\r\nshape: round\r\ncolour\r\nsize\r\n",
                 "OK\r\nOK\r\ncolour: blue\r\nERR no such key\r\n");
        close(fd);
    }
    check_int(stop(&p, SIGTERM), ==, 0);
    /* The data is in the file: a new process finds it. */
    if (!check(start(&p, "06-service", "--db", db)))
        return;
    fd = t_dial(p.port);
    if (check(fd >= 0)) {
        exchange(fd, "shape\r\n", "shape: round\r\n");
        close(fd);
    }
    check_int(stop(&p, SIGINT), ==, 0);
}

/* Sends one HTTP/1.0 request and reads the whole answer (the server closes after it). */
static void http_get(int port, const char *path, char *buf, size_t size)
{
    buf[0] = '\0';
    int fd = t_dial(port);
    if (!check(fd >= 0))
        return;
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", path);
    check_int(write(fd, req, (size_t)n), ==, n);
    size_t got = 0;
    while (got < size - 1) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 10000) <= 0)
            break;
        ssize_t r = read(fd, buf + got, size - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    close(fd);
}

/* The body of an answer in buf ("" without one). */
static const char *body_of(const char *buf)
{
    const char *b = strstr(buf, "\r\n\r\n");
    return b != NULL ? b + 4 : "";
}

static void test_web(void)
{
    char files[300], path[400];
    snprintf(files, sizeof(files), "%s/files", tmp);
    mkdir(files, 0755);
    snprintf(path, sizeof(path), "%s/hello.txt", files);
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fputs("0123456789abcdef", f);
        fclose(f);
    }
    proc_t p;
    if (!check(start(&p, "07-web", "--files", files)))
        return;
    char buf[2048];
    http_get(p.port, "/ping", buf, sizeof(buf));
    check_str(body_of(buf), "pong\n");
    http_get(p.port, "/hash?text=hello", buf, sizeof(buf));
    check_str(body_of(buf), "ff484204e59920c3\n");
    http_get(p.port, "/hello/world", buf, sizeof(buf));
    check_str(body_of(buf), "hello, world\n");
    http_get(p.port, "/hello/", buf, sizeof(buf));
    check(strncmp(buf, "HTTP/1.1 404 ", 13) == 0);
    http_get(p.port, "/files/hello.txt", buf, sizeof(buf));
    check_str(body_of(buf), "0123456789abcdef");
    check_int(stop(&p, SIGTERM), ==, 0);
}

int main(void)
{
    top = getenv("WEFT_TOP");
    const char *build = getenv("WEFT_BUILD");
    if (top == NULL || build == NULL)
        skip_all("WEFT_TOP or WEFT_BUILD is not set: run through make check");
    snprintf(build_dir, sizeof(build_dir), "%s/%s", top, build);
    snprintf(tmp, sizeof(tmp), "/tmp/weft-guide-XXXXXX");
    if (mkdtemp(tmp) == NULL)
        bail_out("mkdtemp failed");
    signal(SIGPIPE, SIG_IGN);
    load_programs();
    TEST(test_blocks_are_excerpts(), "every C block of doc/guide.md is an excerpt of a program");
    TEST(test_programs_are_quoted(), "doc/guide.md names every program of doc/guide/");
    TEST(test_hello(), "chapter 1: the deferred fires from a delayed call and the chain runs");
    TEST(test_offload(), "chapter 2: a result on the loop thread, a failure, a cancel, a timeout");
    TEST(test_threads(), "chapter 3: blocking_call_from_thread is refused on the loop thread "
                         "and answers a worker; call_from_thread from any thread");
    TEST(test_line_server(), "chapter 4: the line server answers PING at once and HASH from a "
                             "worker, and stops on SIGTERM with exit 0");
    TEST(test_database(), "chapter 5: the pool commits one interaction and rolls back another");
    TEST(test_web(), "chapter 8: the web front answers /ping on the loop, /hash from the pool, "
                     "/hello/<name> from a dynamic child and files, and stops cleanly");
    TEST(test_service(), "chapters 6 and 7: the database service serves, stops cleanly and "
                         "keeps its data");
    t_sh(out, sizeof(out), "rm -rf %s", tmp);
    for (size_t i = 0; i < nprograms; i++) {
        free(program_names[i]);
        free(program_text[i]);
    }
    return done_testing();
}
