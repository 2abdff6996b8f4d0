/* SPDX-License-Identifier: MIT */
/* The TAP helper checks itself: each scenario runs in a child (this program re-executed) and
 * the parent checks what the child printed and how it exited. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft/error.h>

#include "tap.h"

static const char *self;

/* ---------------------------------------------------------------- child scenarios */

static void passing(void)
{
    check(1 + 1 == 2);
    check_int(3, ==, 3);
    check_str("abc", "abc");
}

static void failing_int(void)
{
    int got = 41;
    check_int(got, ==, 42);
}

static void failing_str(void)
{
    check_str("hello", "world");
}

static void failing_err(void)
{
    check_err(WEFT_EBUSY, WEFT_EALREADY);
}

static void skipped(void)
{
    t_skip("no server here");
}

static void early_return(void)
{
    if (!check_ptr(NULL, !=, NULL))
        return;
    check(0); /* never reached: only one diagnostic may appear */
}

static void hang(void)
{
    for (;;)
        pause();
}

static void do_abort(void *arg)
{
    (void)arg;
    fprintf(stderr, "dying on purpose\n");
    abort();
}

static void do_return(void *arg)
{
    (void)arg;
}

static void death_passes(void)
{
    check(dies_ok(do_abort, NULL, "on purpose"));
}

static void death_fails_when_child_lives(void)
{
    dies_ok(do_return, NULL, NULL);
}

static int scenario(const char *name)
{
    if (strcmp(name, "mixed") == 0) {
        TEST(passing(), "passing test");
        TEST(failing_int(), "failing int");
        TEST(failing_str(), "failing str");
        TEST(failing_err(), "failing err");
        TEST(skipped(), "skipped test");
        TEST(early_return(), "early return");
        return done_testing();
    }
    if (strcmp(name, "all-pass") == 0) {
        plan(2);
        TEST(passing(), "first");
        TEST(passing(), "second");
        return done_testing();
    }
    if (strcmp(name, "plan-mismatch") == 0) {
        plan(3);
        TEST(passing(), "only one");
        return done_testing();
    }
    if (strcmp(name, "hang") == 0) {
        TEST(passing(), "before the hang");
        TEST(hang(), "hanging test");
        return done_testing();
    }
    if (strcmp(name, "skip-all") == 0)
        skip_all("needs %s", "a unicorn");
    if (strcmp(name, "bail") == 0)
        bail_out("cannot go on: %d", 7);
    if (strcmp(name, "death") == 0) {
        TEST(death_passes(), "death passes");
        TEST(death_fails_when_child_lives(), "death fails");
        return done_testing();
    }
    return 99;
}

/* ---------------------------------------------------------------- parent side */

typedef struct {
    char out[16384];
    int status;
} run_t;

/* Runs this program with argument name, env TAP_TIMEOUT=timeout, capturing stdout+stderr. */
static int run(const char *name, const char *timeout, run_t *r)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        setenv("TAP_TIMEOUT", timeout, 1);
        execl(self, self, name, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fds[0], r->out + len, sizeof(r->out) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (len += (size_t)n) == sizeof(r->out) - 1)
            break;
    }
    r->out[len] = '\0';
    close(fds[0]);
    while (waitpid(pid, &r->status, 0) < 0 && errno == EINTR)
        ;
    return 0;
}

static bool has(const run_t *r, const char *text)
{
    if (strstr(r->out, text) != NULL)
        return true;
    diag("output lacks \"%s\"; it was:\n%s", text, r->out);
    return false;
}

static int exit_code(const run_t *r)
{
    return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

static void test_results_and_diagnostics(void)
{
    run_t r;
    if (!check_int(run("mixed", "60", &r), ==, 0))
        return;
    check(has(&r, "ok 1 - passing test\n"));
    check(has(&r, "not ok 2 - failing int\n"));
    check(has(&r, "t/00-tap-selftest.c:"));
    check(has(&r, "check_int(got == 42) failed"));
    check(has(&r, "#    got: 41"));
    check(has(&r, "#   want: == 42"));
    check(has(&r, "not ok 3 - failing str\n"));
    check(has(&r, "#    got: \"hello\""));
    check(has(&r, "#   want: \"world\""));
    check(has(&r, "not ok 4 - failing err\n"));
    check(has(&r, "got: WEFT_EBUSY"));
    check(has(&r, "want: WEFT_EALREADY"));
    check(has(&r, "ok 5 - skipped test # SKIP no server here\n"));
    check(has(&r, "not ok 6 - early return\n"));
    check(strstr(r.out, "check(0)") == NULL);
    check(has(&r, "1..6\n"));
    check_int(exit_code(&r), ==, 1);
}

static void test_all_pass_exits_zero(void)
{
    run_t r;
    if (!check_int(run("all-pass", "60", &r), ==, 0))
        return;
    check(has(&r, "1..2\nok 1 - first\nok 2 - second\n"));
    check_int(exit_code(&r), ==, 0);
}

static void test_plan_mismatch_fails(void)
{
    run_t r;
    if (!check_int(run("plan-mismatch", "60", &r), ==, 0))
        return;
    check(has(&r, "planned 3 tests but ran 1"));
    check_int(exit_code(&r), ==, 1);
}

static void test_watchdog(void)
{
    run_t r;
    if (!check_int(run("hang", "1", &r), ==, 0))
        return;
    check(has(&r, "ok 1 - before the hang\n"));
    check(has(&r, "not ok 2 - timed out in hanging test\n"));
    check(has(&r, "Bail out! hanging test: watchdog fired after 1s"));
    check_int(exit_code(&r), !=, 0);
}

static void test_skip_all(void)
{
    run_t r;
    if (!check_int(run("skip-all", "60", &r), ==, 0))
        return;
    check_str(r.out, "1..0 # SKIP needs a unicorn\n");
    check_int(exit_code(&r), ==, 0);
}

static void test_bail_out(void)
{
    run_t r;
    if (!check_int(run("bail", "60", &r), ==, 0))
        return;
    check_str(r.out, "Bail out! cannot go on: 7\n");
    check_int(exit_code(&r), ==, 255);
}

static void test_death(void)
{
    run_t r;
    if (!check_int(run("death", "60", &r), ==, 0))
        return;
    check(has(&r, "ok 1 - death passes\n"));
    check(has(&r, "not ok 2 - death fails\n"));
    check(has(&r, "the child returned normally"));
    check(strstr(r.out, "dying on purpose") == NULL); /* the child's stderr is captured */
}

int main(int argc, char **argv)
{
    self = argv[0];
    if (argc > 1)
        return scenario(argv[1]);
    TEST(test_results_and_diagnostics(),
         "failed checks print file:line with got and want; the program exits 1");
    TEST(test_all_pass_exits_zero(), "a plan up front and passing tests exit 0");
    TEST(test_plan_mismatch_fails(), "running fewer tests than planned fails the program");
    TEST(test_watchdog(), "a hung test is reported by the watchdog and bails out");
    TEST(test_skip_all(), "skip_all prints 1..0 # SKIP with the reason and exits 0");
    TEST(test_bail_out(), "bail_out prints Bail out! and exits 255");
    TEST(test_death(), "dies_ok passes on abort and fails when the child returns");
    return done_testing();
}
