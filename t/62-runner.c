/* SPDX-License-Identifier: MIT */
/* weft_app_run in this process: real signals through the reactor, pool services with offloads,
 * the shutdown deadline, pid files, SIGHUP reloads, and the exit codes. */
#include <semaphore.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft/app.h>
#include <weft/bridge.h>
#include <weft/error.h>
#include <weft/events.h>
#include <weft/log.h>
#include <weft/pool-service.h>
#include <weft/service.h>

#include "../reactor/app/app-internal.h"
#include "helpers.h"
#include "tap.h"

static char dir[64];
static char logged[16384];

static void log_sink(const weft_log_record_t *rec, void *arg)
{
    (void)arg;
    size_t len = strlen(logged);
    snprintf(logged + len, sizeof(logged) - len, "%s[%s] %s\n", weft_log_level_name(rec->level),
             rec->component, rec->message);
}

/* Runs app with the arguments given, NULL-terminated, after "prog". */
static int run_app(const weft_app_t *app, ...)
{
    char *argv[32] = {"prog"};
    int argc = 1;
    va_list ap;
    va_start(ap, app);
    for (const char *a; argc < 31 && (a = va_arg(ap, const char *)) != NULL;)
        argv[argc++] = (char *)a;
    va_end(ap);
    logged[0] = '\0';
    weft_log_set_sink(log_sink, NULL);
    int code = weft_app_run(app, argc, argv);
    weft_log_set_sink(NULL, NULL);
    return code;
}

static bool logged_has(const char *text)
{
    if (strstr(logged, text) != NULL)
        return true;
    diag("log lacks \"%s\"; it holds:\n%s", text, logged);
    return false;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        bail_out("cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static void signal_self(int sig)
{
    if (kill(getpid(), sig) != 0)
        bail_out("kill failed");
}

/* ---------------------------------------------------------------- a scripted service */

typedef struct {
    int signal_at_start; /* sent to ourselves once the services run */
    int then_signal;     /* and this one right after it */
    bool stop_hangs;     /* stop returns a deferred nobody fires */
    int start_rc;
    int starts, stops;
    weft_deferred_t *hang;
} script_t;

static script_t S;

static int script_start(weft_service_t *s)
{
    (void)s;
    S.starts++;
    if (S.start_rc != 0)
        return S.start_rc;
    if (S.signal_at_start != 0)
        signal_self(S.signal_at_start);
    if (S.then_signal != 0)
        signal_self(S.then_signal);
    return 0;
}

static weft_result_t script_stop(weft_service_t *s)
{
    (void)s;
    S.stops++;
    if (S.stop_hangs) {
        S.hang = weft_deferred_new();
        return weft_wait_for(weft_deferred_ref(S.hang));
    }
    return weft_ok(NULL, NULL);
}

static const weft_service_ops_t script_ops = {script_start, script_stop, NULL};

static weft_service_t *make_script(weft_reactor_t *r, const weft_config_t *cfg, void *arg, int *err)
{
    (void)cfg;
    (void)arg;
    weft_service_t *root = weft_multi_service_new(r, "root", err);
    weft_service_t *s = weft_service_new(r, "script", &script_ops, NULL, err);
    if (root == NULL || s == NULL || weft_service_add(root, s) != 0)
        bail_out("cannot build the script service");
    return root;
}

static const weft_app_option_t script_options[] = {
    {"greeting", "what to say", "hello"},
    {"target", "whom to say it to", NULL},
    {NULL, NULL, NULL},
};

static char seen_greeting[64];
static int reloads;

static void script_reload(weft_service_t *root, const weft_config_t *cfg, void *arg)
{
    (void)root;
    (void)arg;
    reloads++;
    const char *g = weft_config_get(cfg, "script", "greeting");
    snprintf(seen_greeting, sizeof(seen_greeting), "%s", g ? g : "(none)");
    signal_self(SIGTERM);
}

static weft_app_t script_app = {
    .name = "script",
    .description = "a scripted test program",
    .options = script_options,
    .make_service = make_script,
    .reload = script_reload,
};

static void reset_script(void)
{
    memset(&S, 0, sizeof(S));
    reloads = 0;
    seen_greeting[0] = '\0';
}

static void test_sigterm_clean(void)
{
    reset_script();
    S.signal_at_start = SIGTERM;
    check_int(run_app(&script_app, (char *)NULL), ==, WEFT_APP_EXIT_OK);
    check_int(S.starts, ==, 1);
    check_int(S.stops, ==, 1);
    check(logged_has("received SIGTERM, stopping"));
    check(logged_has("script: services stopped"));
}

static void test_sigint_clean(void)
{
    reset_script();
    S.signal_at_start = SIGINT;
    check_int(run_app(&script_app, (char *)NULL), ==, WEFT_APP_EXIT_OK);
    check_int(S.stops, ==, 1);
    check(logged_has("received SIGINT, stopping"));
}

static void test_deadline_exceeded(void)
{
    reset_script();
    S.signal_at_start = SIGTERM;
    S.stop_hangs = true;
    check_int(run_app(&script_app, "--shutdown-deadline", "0.05", (char *)NULL), ==,
              WEFT_APP_EXIT_UNCLEAN);
    check(logged_has("before-shutdown trigger weft.app still pending at the 0.05s deadline"));
    check(logged_has("services did not stop cleanly"));
    check(logged_has("script: weft.CancelledError"));
    check(logged_has("exiting with code 3"));
    weft_deferred_unref(S.hang);
}

static void test_start_failure(void)
{
    reset_script();
    S.start_rc = WEFT_EADDRINUSE;
    check_int(run_app(&script_app, (char *)NULL), ==, WEFT_APP_EXIT_FAILURE);
    check(logged_has("service script failed to start"));
    check(logged_has("services failed to start (address already in use): stopping"));
}

static weft_service_t *make_nothing(weft_reactor_t *r, const weft_config_t *cfg, void *arg,
                                    int *err)
{
    (void)r;
    (void)cfg;
    (void)arg;
    *err = WEFT_ECONNREFUSED;
    return NULL;
}

static void test_make_service_failure(void)
{
    weft_app_t app = {.name = "broken", .make_service = make_nothing};
    check_int(run_app(&app, (char *)NULL), ==, WEFT_APP_EXIT_FAILURE);
    check(logged_has("broken: make_service failed: connection refused"));
}

static void test_bad_usage(void)
{
    reset_script();
    check_int(run_app(&script_app, "--no-such-option", "1", (char *)NULL), ==, WEFT_APP_EXIT_USAGE);
    check(logged_has("unknown option '--no-such-option'"));
    check_int(run_app(&script_app, "stray", (char *)NULL), ==, WEFT_APP_EXIT_USAGE);
    check_int(run_app(&script_app, "--pid-file", (char *)NULL), ==, WEFT_APP_EXIT_USAGE);
    check(logged_has("missing value after '--pid-file'"));
    check_int(run_app(&script_app, "--log-level", "loud", (char *)NULL), ==, WEFT_APP_EXIT_USAGE);
    check(logged_has("bad log level 'loud'"));
    check_int(run_app(&script_app, "--shutdown-deadline=-1", (char *)NULL), ==,
              WEFT_APP_EXIT_USAGE);
    check_int(run_app(&script_app, "--log-format", "xml", (char *)NULL), ==, WEFT_APP_EXIT_USAGE);
    check_int(S.starts, ==, 0);
}

static void test_bad_program_name(void)
{
    weft_app_t app = script_app;
    app.name = "my app";
    check_int(run_app(&app, (char *)NULL), ==, WEFT_APP_EXIT_USAGE);
    check(logged_has("program name 'my app' or one of its option names"));
    app.name = "weft"; /* the common options' section */
    check_int(run_app(&app, (char *)NULL), ==, WEFT_APP_EXIT_USAGE);
}

static void test_bad_config_file(void)
{
    reset_script();
    char path[128];
    snprintf(path, sizeof(path), "%s/bad.conf", dir);
    write_file(path, "[weft]\nlog_level = warn\n[script]\ngreeting hello\n");
    check_int(run_app(&script_app, "-c", path, (char *)NULL), ==, WEFT_APP_EXIT_USAGE);
    char want[256];
    snprintf(want, sizeof(want), "bad config file: %s:4: expected 'key = value'", path);
    check(logged_has(want));
    write_file(path, "[script]\ngreetings = hi\n");
    check_int(run_app(&script_app, "--config", path, (char *)NULL), ==, WEFT_APP_EXIT_USAGE);
    check(logged_has("unknown key 'greetings' in [script]"));
    snprintf(path, sizeof(path), "%s/missing.conf", dir);
    check_int(run_app(&script_app, "--config", path, (char *)NULL), ==, WEFT_APP_EXIT_USAGE);
    snprintf(want, sizeof(want), "%s: no such file or directory", path);
    check(logged_has(want));
    check_int(S.starts, ==, 0);
}

/* ---------------------------------------------------------------- options reach the services */

static char made_with[128];

static weft_service_t *make_reader(weft_reactor_t *r, const weft_config_t *cfg, void *arg, int *err)
{
    (void)arg;
    const char *g = weft_config_get(cfg, "script", "greeting");
    const char *t = weft_config_get(cfg, "script", "target");
    snprintf(made_with, sizeof(made_with), "%s %s", g ? g : "-", t ? t : "-");
    return make_script(r, cfg, arg, err);
}

static void test_options_reach_services(void)
{
    reset_script();
    S.signal_at_start = SIGTERM;
    weft_app_t app = script_app;
    app.make_service = make_reader;
    check_int(run_app(&app, (char *)NULL), ==, WEFT_APP_EXIT_OK);
    check_str(made_with, "hello -"); /* the default */
    char path[128];
    snprintf(path, sizeof(path), "%s/opts.conf", dir);
    write_file(path, "[script]\ngreeting = hi\ntarget = file\n");
    check_int(run_app(&app, "-c", path, "--target=cli", (char *)NULL), ==, WEFT_APP_EXIT_OK);
    check_str(made_with, "hi cli"); /* the command line wins over the file */
}

/* ---------------------------------------------------------------- SIGHUP */

static weft_service_t *make_hup(weft_reactor_t *r, const weft_config_t *cfg, void *arg, int *err)
{
    char *path = arg;
    /* The file changes between start and SIGHUP: the reload must see the new value. */
    write_file(path, "[script]\ngreeting = reloaded\n");
    return make_script(r, cfg, arg, err);
}

static void test_sighup_reloads(void)
{
    reset_script();
    S.signal_at_start = SIGHUP;
    char path[128];
    snprintf(path, sizeof(path), "%s/hup.conf", dir);
    write_file(path, "[script]\ngreeting = first\n");
    weft_app_t app = script_app;
    app.make_service = make_hup;
    app.arg = path;
    check_int(run_app(&app, "-c", path, (char *)NULL), ==, WEFT_APP_EXIT_OK);
    check_int(reloads, ==, 1);
    check_str(seen_greeting, "reloaded");
    check(logged_has("script: SIGHUP: reloading"));
}

static weft_service_t *make_hup_restart(weft_reactor_t *r, const weft_config_t *cfg, void *arg,
                                        int *err)
{
    char text[256];
    snprintf(text, sizeof(text), "[weft]\nshutdown_deadline = 7\npid_file = %s/later.pid\n", dir);
    write_file(arg, text);
    return make_script(r, cfg, arg, err);
}

static void test_sighup_restart_settings_logged(void)
{
    reset_script();
    S.signal_at_start = SIGHUP;
    char path[128];
    snprintf(path, sizeof(path), "%s/hup-restart.conf", dir);
    write_file(path, "[weft]\nshutdown_deadline = 5\n");
    weft_app_t app = script_app;
    app.make_service = make_hup_restart;
    app.arg = path;
    check_int(run_app(&app, "-c", path, (char *)NULL), ==, WEFT_APP_EXIT_OK);
    check_int(reloads, ==, 1);
    check(logged_has("script: SIGHUP: shutdown_deadline changed (5 -> 7): it takes effect at the "
                     "next start"));
    char want[256];
    snprintf(want, sizeof(want),
             "script: SIGHUP: pid_file changed ('' -> '%s/later.pid'): it takes effect at the "
             "next start",
             dir);
    check(logged_has(want));
    char later[128];
    snprintf(later, sizeof(later), "%s/later.pid", dir);
    check_int(access(later, F_OK), ==, -1); /* not written by the reload */
}

static weft_service_t *make_hup_bad(weft_reactor_t *r, const weft_config_t *cfg, void *arg,
                                    int *err)
{
    write_file(arg, "[script]\ngreeting = x\n[broken\n");
    return make_script(r, cfg, arg, err);
}

static void test_sighup_bad_config_keeps_old(void)
{
    reset_script();
    S.signal_at_start = SIGHUP;
    S.then_signal = SIGTERM;
    char path[128];
    snprintf(path, sizeof(path), "%s/hup-bad.conf", dir);
    write_file(path, "[script]\ngreeting = first\n");
    weft_app_t app = script_app;
    app.make_service = make_hup_bad;
    app.reload = NULL;
    app.arg = path;
    check_int(run_app(&app, "-c", path, (char *)NULL), ==, WEFT_APP_EXIT_OK);
    char want[256];
    snprintf(want, sizeof(want), "bad config file: %s:3: section header without a closing ']'",
             path);
    check(logged_has(want));
    check(logged_has("SIGHUP: keeping the configuration in use"));
}

/* ---------------------------------------------------------------- pid file */

static char pid_path[128];
static char pid_seen[64];

static weft_service_t *make_pid_reader(weft_reactor_t *r, const weft_config_t *cfg, void *arg,
                                       int *err)
{
    FILE *f = fopen(pid_path, "r");
    pid_seen[0] = '\0';
    if (f != NULL) {
        if (fgets(pid_seen, sizeof(pid_seen), f) == NULL)
            pid_seen[0] = '\0';
        fclose(f);
    }
    return make_script(r, cfg, arg, err);
}

static void test_pid_file(void)
{
    reset_script();
    S.signal_at_start = SIGTERM;
    snprintf(pid_path, sizeof(pid_path), "%s/app.pid", dir);
    weft_app_t app = script_app;
    app.make_service = make_pid_reader;
    check_int(run_app(&app, "--pid-file", pid_path, (char *)NULL), ==, WEFT_APP_EXIT_OK);
    char want[32];
    snprintf(want, sizeof(want), "%ld\n", (long)getpid());
    check_str(pid_seen, want);
    check_int(access(pid_path, F_OK), ==, -1); /* removed at exit */
}

static void test_pid_file_of_live_process(void)
{
    reset_script();
    snprintf(pid_path, sizeof(pid_path), "%s/other.pid", dir);
    write_file(pid_path, "1\n"); /* init: always running */
    check_int(run_app(&script_app, "--pid-file", pid_path, (char *)NULL), ==,
              WEFT_APP_EXIT_FAILURE);
    check(logged_has("names process 1, which is running"));
    check_int(S.starts, ==, 0);
    check_int(access(pid_path, F_OK), ==, 0); /* not ours: left alone */
}

/* A child that writes the pid file when released, reports the result on `result`, then stays
 * alive (a running runner) until `hold` closes. */
static pid_t pid_file_racer(const int release[2], const int result[2], const int hold[2],
                            const char *path)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    close(release[1]);
    close(result[0]);
    close(hold[1]);
    char b;
    if (read(release[0], &b, 1) < 0)
        _exit(2);
    char rc = weft__pid_file_write(path) == 0 ? 'y' : 'n';
    if (write(result[1], &rc, 1) != 1)
        _exit(2);
    (void)!read(hold[0], &b, 1);
    _exit(0);
}

static void test_pid_file_race(void)
{
    snprintf(pid_path, sizeof(pid_path), "%s/race.pid", dir);
    weft_log_set_sink(log_sink, NULL); /* the loser's refusal, logged in the child */
    int rounds = 0, both = 0, neither = 0, misnamed = 0;
    for (; rounds < 40; rounds++) {
        unlink(pid_path);
        int release[2], result[2], hold[2];
        if (pipe(release) != 0 || pipe(result) != 0 || pipe(hold) != 0)
            bail_out("pipe failed");
        pid_t kids[2];
        for (int k = 0; k < 2; k++)
            kids[k] = pid_file_racer(release, result, hold, pid_path);
        if (kids[0] < 0 || kids[1] < 0)
            bail_out("fork failed");
        close(release[0]);
        close(result[1]);
        close(hold[0]);
        close(release[1]); /* both go at once */
        char got[2] = {0, 0};
        for (int k = 0; k < 2; k++) {
            if (read(result[0], &got[k], 1) != 1)
                got[k] = '?';
        }
        /* Both children are alive here: the file must name the one that succeeded. */
        int won = (got[0] == 'y') + (got[1] == 'y');
        both += won == 2;
        neither += won == 0;
        long named = 0;
        FILE *f = fopen(pid_path, "r");
        if (f != NULL) {
            if (fscanf(f, "%ld", &named) != 1)
                named = -1;
            fclose(f);
        }
        bool named_winner = false;
        for (int k = 0; k < 2; k++)
            named_winner |= named > 0 && (pid_t)named == kids[k];
        misnamed += won == 1 && !named_winner;
        close(hold[1]);
        close(result[0]);
        for (int k = 0; k < 2; k++)
            waitpid(kids[k], NULL, 0);
        if (both + neither + misnamed > 0)
            break;
    }
    weft_log_set_sink(NULL, NULL);
    note("%d rounds: both won %d, neither %d, file not naming the winner %d", rounds, both, neither,
         misnamed);
    check_int(both, ==, 0);
    check_int(neither, ==, 0);
    check_int(misnamed, ==, 0);
    unlink(pid_path);
}

static void test_pid_file_symlink_tmp(void)
{
    char target[160], link_path[192];
    snprintf(pid_path, sizeof(pid_path), "%s/sym.pid", dir);
    snprintf(target, sizeof(target), "%s/precious", dir);
    write_file(target, "keep me\n");
    /* Planted at the temporary names, the old shared one and this process's. */
    snprintf(link_path, sizeof(link_path), "%s.tmp", pid_path);
    check_int(symlink(target, link_path), ==, 0);
    snprintf(link_path, sizeof(link_path), "%s.%ld.tmp", pid_path, (long)getpid());
    check_int(symlink(target, link_path), ==, 0);
    check_err(weft__pid_file_write(pid_path), 0);
    char text[64] = "";
    FILE *f = fopen(target, "r");
    if (f != NULL) {
        if (fgets(text, sizeof(text), f) == NULL)
            text[0] = '\0';
        fclose(f);
    }
    check_str(text, "keep me\n");
    char want[32], seen[32] = "";
    snprintf(want, sizeof(want), "%ld\n", (long)getpid());
    f = fopen(pid_path, "r");
    if (f != NULL) {
        if (fgets(seen, sizeof(seen), f) == NULL)
            seen[0] = '\0';
        fclose(f);
    }
    check_str(seen, want);
    weft__pid_file_remove(pid_path);
    check_int(access(pid_path, F_OK), ==, -1);
    snprintf(link_path, sizeof(link_path), "%s.tmp", pid_path);
    unlink(link_path);
}

static void test_pid_file_stale(void)
{
    snprintf(pid_path, sizeof(pid_path), "%s/stale.pid", dir);
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0); /* reaped: its pid names no process (until reused) */
    char text[32];
    snprintf(text, sizeof(text), "%ld\n", (long)dead);
    write_file(pid_path, text);
    check_err(weft__pid_file_write(pid_path), 0);
    char want[32], seen[32] = "";
    snprintf(want, sizeof(want), "%ld\n", (long)getpid());
    FILE *f = fopen(pid_path, "r");
    if (f != NULL) {
        if (fgets(seen, sizeof(seen), f) == NULL)
            seen[0] = '\0';
        fclose(f);
    }
    check_str(seen, want);
    weft__pid_file_remove(pid_path);
}

/* ---------------------------------------------------------------- pool services and offloads */

static sem_t gate, job_returned;
static int job_results;
static bool open_gate_late; /* after the shutdown deadline instead of before the stop */

static weft_result_t gated_job(void *arg)
{
    (void)arg;
    signal_self(SIGTERM); /* the job runs: now ask for the stop */
    while (sem_wait(&gate) != 0)
        ;
    sem_post(&job_returned);
    return weft_ok(NULL, NULL);
}

static weft_result_t count_result(weft_result_t res, void *arg)
{
    (void)arg;
    if (res.kind == WEFT_RESULT_VALUE)
        job_results++;
    weft_result_free(res);
    return weft_ok(NULL, NULL);
}

static int offloader_start(weft_service_t *s)
{
    weft_service_t *pool_svc = weft_service_get_data(s);
    int err = 0;
    weft_deferred_t *d = weft_defer_to_pool(
        weft_service_reactor(s), weft_pool_service_pool(pool_svc), gated_job, NULL, NULL, &err);
    if (d == NULL)
        return err;
    int rc = weft_deferred_add_both(d, count_result, NULL);
    weft_deferred_unref(d);
    return rc;
}

static const weft_service_ops_t offloader_ops = {offloader_start, NULL, NULL};

static weft_deferred_t *open_gate(void *arg)
{
    (void)arg;
    sem_post(&gate);
    if (open_gate_late) {
        /* Wait until the job has returned, so that freeing its pool finds it done. */
        while (sem_wait(&job_returned) != 0)
            ;
    }
    return NULL;
}

static double pool_deadline;

static weft_service_t *make_pooled(weft_reactor_t *r, const weft_config_t *cfg, void *arg, int *err)
{
    (void)cfg;
    (void)arg;
    weft_pool_service_options_t po;
    weft_pool_service_options_init(&po);
    po.pool.name = "jobs";
    po.pool.max_threads = 2;
    po.stop_deadline = pool_deadline;
    weft_service_t *root = weft_multi_service_new(r, "root", err);
    weft_service_t *pool = weft_pool_service_new(r, "pool", &po, err);
    weft_service_t *off = weft_service_new(r, "offloader", &offloader_ops, pool, err);
    if (root == NULL || pool == NULL || off == NULL || weft_service_add(root, pool) != 0 ||
        weft_service_add(root, off) != 0)
        bail_out("cannot build the pooled services");
    /* Before the runner's own trigger (added after make_service returns). */
    if (weft_reactor_add_trigger(r, "shutdown",
                                 open_gate_late ? WEFT_PHASE_AFTER : WEFT_PHASE_BEFORE, open_gate,
                                 NULL, "open-gate", NULL) != 0)
        bail_out("cannot add the gate trigger");
    return root;
}

static weft_app_t pooled_app = {.name = "pooled", .make_service = make_pooled};

static void test_offloads_stop_gracefully(void)
{
    sem_init(&gate, 0, 0);
    sem_init(&job_returned, 0, 0);
    job_results = 0;
    open_gate_late = false;
    pool_deadline = 30;
    check_int(run_app(&pooled_app, (char *)NULL), ==, WEFT_APP_EXIT_OK);
    check_int(job_results, ==, 1);
    check(logged_has("pooled: services stopped"));
    sem_destroy(&gate);
    sem_destroy(&job_returned);
}

static void test_stuck_job_hits_deadline(void)
{
    sem_init(&gate, 0, 0);
    sem_init(&job_returned, 0, 0);
    job_results = 0;
    open_gate_late = true;
    pool_deadline = 0.25;
    check_int(run_app(&pooled_app, (char *)NULL), ==, WEFT_APP_EXIT_UNCLEAN);
    check(logged_has("pool jobs still running jobs at its 0.25s stop deadline"));
    check(logged_has("pool: weft.TimeoutError"));
    check(logged_has("exiting with code 3"));
    sem_destroy(&gate);
    sem_destroy(&job_returned);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/weft-t62-XXXXXX");
    if (mkdtemp(dir) == NULL)
        bail_out("mkdtemp failed");
    TEST(test_sigterm_clean(), "SIGTERM stops the services and the run exits 0");
    TEST(test_sigint_clean(), "SIGINT stops the services and the run exits 0");
    TEST(test_deadline_exceeded(), "a stop still pending at the shutdown deadline is cancelled and "
                                   "the run exits WEFT_APP_EXIT_UNCLEAN");
    TEST(test_start_failure(),
         "a service failing to start is logged and the run exits WEFT_APP_EXIT_FAILURE");
    TEST(test_make_service_failure(),
         "a failing make_service is logged and the run exits WEFT_APP_EXIT_FAILURE");
    TEST(test_bad_usage(), "unknown options, stray arguments and bad common values exit "
                           "WEFT_APP_EXIT_USAGE before anything starts");
    TEST(test_bad_program_name(), "a program whose name cannot be a config section exits "
                                  "WEFT_APP_EXIT_USAGE");
    TEST(test_bad_config_file(), "a malformed, unknown-keyed or missing config file exits "
                                 "WEFT_APP_EXIT_USAGE naming the file and line");
    TEST(test_options_reach_services(),
         "the program's options reach make_service: defaults, then the file, then the command "
         "line");
    TEST(test_sighup_reloads(), "SIGHUP re-reads the config file and calls the reload function");
    TEST(test_sighup_restart_settings_logged(),
         "SIGHUP logs that a changed shutdown_deadline or pid_file takes effect at the next start");
    TEST(test_sighup_bad_config_keeps_old(),
         "SIGHUP with a malformed config file logs file and line and keeps the old config");
    TEST(test_pid_file(), "the pid file holds our pid while running and is removed at exit");
    TEST(test_pid_file_of_live_process(),
         "a pid file naming a live process refuses to start with WEFT_APP_EXIT_FAILURE");
    TEST(test_pid_file_race(), "of two runners writing the same pid file at once exactly one "
                               "succeeds and the file names it");
    TEST(test_pid_file_symlink_tmp(),
         "a symlink planted at the pid file's temporary name is not followed");
    TEST(test_pid_file_stale(), "a pid file naming a dead process is replaced");
    TEST(test_offloads_stop_gracefully(), "SIGTERM with an offload running waits for it in the "
                                          "pool service's stop and exits 0");
    TEST(test_stuck_job_hits_deadline(), "a job still running at the pool service's stop deadline "
                                         "makes the run exit WEFT_APP_EXIT_UNCLEAN");
    t_sh(logged, sizeof(logged), "rm -rf %s", dir);
    return done_testing();
}
