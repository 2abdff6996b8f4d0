/* SPDX-License-Identifier: MIT */
/* weft's TAP helper (see tap.h): plan, TEST, checks, skip, bail out, death tests, watchdog. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft/error.h>

#include "tap.h"

static int planned = -1;
static int count;
static int failed;
static bool in_test;
static bool test_failed;
static const char *test_name;
static char skip_reason[256];
static bool have_skip;
static unsigned timeout_s = 60;
/* Pre-formatted for the alarm handler, which may only call async-signal-safe functions. */
static char timeout_line[512];
static size_t timeout_len;

static void emit(FILE *f, const char *prefix, const char *fmt, va_list ap)
{
    char buf[4096];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    /* Every line of a diagnostic starts with '#', so it can never read as a TAP result. */
    for (char *line = buf, *next; line != NULL; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (next != NULL && *next == '\0')
            next = NULL;
        fprintf(f, "%s%s\n", prefix, line);
    }
    fflush(f);
}

void diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    emit(stderr, "# ", fmt, ap);
    va_end(ap);
}

void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(stdout, "# ", fmt, ap);
    va_end(ap);
}

static void on_alarm(int sig)
{
    (void)sig;
    ssize_t rc = write(STDOUT_FILENO, timeout_line, timeout_len);
    (void)rc;
    _exit(1);
}

static void arm_watchdog(void)
{
    int n;
    if (in_test)
        n = snprintf(timeout_line, sizeof(timeout_line),
                     "not ok %d - timed out in %s\nBail out! %s: watchdog fired after %us\n",
                     count + 1, test_name, test_name, timeout_s);
    else
        n = snprintf(timeout_line, sizeof(timeout_line),
                     "Bail out! watchdog fired after %us outside any test\n", timeout_s);
    timeout_len = n < 0                              ? 0
                  : (size_t)n < sizeof(timeout_line) ? (size_t)n
                                                     : sizeof(timeout_line) - 1;
    alarm(timeout_s);
}

__attribute__((constructor)) static void tap_init(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *t = getenv("TAP_TIMEOUT");
    if (t != NULL && atoi(t) > 0)
        timeout_s = (unsigned)atoi(t);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    arm_watchdog();
}

void plan(int n)
{
    planned = n;
    printf("1..%d\n", n);
    fflush(stdout);
}

int done_testing(void)
{
    alarm(0);
    if (planned < 0)
        printf("1..%d\n", count);
    else if (planned != count)
        diag("planned %d tests but ran %d", planned, count);
    if (failed)
        diag("failed %d of %d tests", failed, count);
    fflush(stdout);
    return (failed || (planned >= 0 && planned != count)) ? 1 : 0;
}

const char *t_current(void)
{
    return test_name ? test_name : "(no test)";
}

bool t__begin(const char *desc)
{
    in_test = true;
    test_failed = false;
    have_skip = false;
    test_name = desc;
    arm_watchdog();
    return true;
}

void t__end(void)
{
    count++;
    if (test_failed)
        failed++;
    if (have_skip)
        printf("ok %d - %s # SKIP %s\n", count, test_name, skip_reason);
    else
        printf("%sok %d - %s\n", test_failed ? "not " : "", count, test_name);
    fflush(stdout);
    in_test = false;
    arm_watchdog();
}

void t_skip(const char *reason)
{
    have_skip = true;
    snprintf(skip_reason, sizeof(skip_reason), "%s", reason);
}

static bool fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail_at(const char *file, int line, const char *fmt, ...)
{
    char msg[3072];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    test_failed = true;
    if (!in_test)
        failed++; /* a check outside any TEST still fails the program */
    diag("%s:%d: %s", file, line, msg);
    return false;
}

bool t__check(const char *file, int line, const char *expr, int ok)
{
    return ok ? true : fail_at(file, line, "check(%s) failed", expr);
}

static int compare(const char *op, int cmp)
{
    if (strcmp(op, "==") == 0)
        return cmp == 0;
    if (strcmp(op, "!=") == 0)
        return cmp != 0;
    if (strcmp(op, "<") == 0)
        return cmp < 0;
    if (strcmp(op, "<=") == 0)
        return cmp <= 0;
    if (strcmp(op, ">") == 0)
        return cmp > 0;
    if (strcmp(op, ">=") == 0)
        return cmp >= 0;
    bail_out("unknown comparison operator %s", op);
}

bool t__check_int(const char *file, int line, const char *ea, const char *op, const char *eb,
                  long long a, long long b)
{
    if (compare(op, (a > b) - (a < b)))
        return true;
    return fail_at(file, line, "check_int(%s %s %s) failed\n   got: %lld\n  want: %s %lld", ea, op,
                   eb, a, op, b);
}

bool t__check_uint(const char *file, int line, const char *ea, const char *op, const char *eb,
                   unsigned long long a, unsigned long long b)
{
    if (compare(op, (a > b) - (a < b)))
        return true;
    return fail_at(file, line, "check_uint(%s %s %s) failed\n   got: %llu\n  want: %s %llu", ea, op,
                   eb, a, op, b);
}

bool t__check_str(const char *file, int line, const char *ea, const char *eb, const char *a,
                  const char *b)
{
    if (a == b || (a != NULL && b != NULL && strcmp(a, b) == 0))
        return true;
    return fail_at(file, line, "check_str(%s, %s) failed\n   got: %s%s%s\n  want: %s%s%s", ea, eb,
                   a ? "\"" : "", a ? a : "NULL", a ? "\"" : "", b ? "\"" : "", b ? b : "NULL",
                   b ? "\"" : "");
}

bool t__check_ptr(const char *file, int line, const char *ea, const char *op, const char *eb,
                  const void *a, const void *b)
{
    int cmp = a == b ? 0 : (a < b ? -1 : 1);
    if (compare(op, cmp))
        return true;
    return fail_at(file, line, "check_ptr(%s %s %s) failed\n   got: %p\n  want: %s %p", ea, op, eb,
                   a, op, b);
}

bool t__check_err(const char *file, int line, const char *expr, int got, int want)
{
    if (got == want)
        return true;
    char gotname[64];
    snprintf(gotname, sizeof(gotname), "%s", weft_err_name(got));
    return fail_at(file, line, "check_err(%s) failed\n   got: %s (%d)\n  want: %s (%d)", expr,
                   gotname, got, weft_err_name(want), want);
}

_Noreturn void skip_all(const char *fmt, ...)
{
    char reason[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    printf("1..0 # SKIP %s\n", reason);
    fflush(stdout);
    exit(0);
}

_Noreturn void bail_out(const char *fmt, ...)
{
    char reason[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    printf("Bail out! %s\n", reason);
    fflush(stdout);
    exit(255);
}

bool t__dies_ok(const char *file, int line, const char *expr, void (*fn)(void *), void *arg,
                const char *want_stderr)
{
    int fds[2];
    if (pipe(fds) != 0)
        return fail_at(file, line, "dies_ok(%s): pipe: %s", expr, strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return fail_at(file, line, "dies_ok(%s): fork: %s", expr, strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        /* The child's own TAP output must never reach prove. */
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, STDOUT_FILENO);
        signal(SIGABRT, SIG_DFL);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    char err[8192];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fds[0], err + len, sizeof(err) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof(err) - 1)
            break;
    }
    err[len] = '\0';
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    bool died = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
    if (!died)
        return fail_at(file, line, "dies_ok(%s): the child returned normally", expr);
    if (want_stderr != NULL && strstr(err, want_stderr) == NULL)
        return fail_at(file, line, "dies_ok(%s): stderr lacks \"%s\"\n  stderr: %s", expr,
                       want_stderr, err);
    return true;
}
