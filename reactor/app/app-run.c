/* SPDX-License-Identifier: MIT */
/* weft_app_run: from argv to a running reactor with started services, and back to an exit code. */

/*
 * Design. The runner settles everything that can fail before the loop runs (options, config,
 * log settings, pid file, reactor, make_service). It then hooks the services into the
 * reactor's own lifecycle instead of driving them itself:
 *   - start: a call_when_running function (after-startup), so services start on a running
 *     loop; a start error logs and stops the reactor, which stops whatever had started;
 *   - stop: a before-shutdown trigger returning the root's stop deferred, so the reactor keeps
 *     serving while services stop and bounds the wait by its shutdown deadline (at the deadline
 *     the reactor cancels the deferred: a multi service cancels its children's stops);
 *   - SIGTERM/SIGINT are the reactor's own handlers (graceful stop); SIGHUP is its hook.
 * The stop deferred's outcome, recorded by a pair added before the reactor's, decides the
 * exit code.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <weft/error.h>
#include <weft/events.h>
#include <weft/log.h>

#include "app-internal.h"

typedef struct {
    const weft_app_t *app;
    const weft__app_args_t *args;
    weft_reactor_t *r;
    weft_service_t *root;
    weft_config_t *cfg;   /* the current config; replaced by SIGHUP */
    double deadline;      /* the shutdown deadline in use (SIGHUP does not change it) */
    const char *pid_path; /* the pid file in use, "" for none (nor this) */
    bool start_failed;
    bool stop_clean;
} run_t;

static void start_services(void *arg)
{
    run_t *x = arg;
    int rc = weft_service_start(x->root);
    if (rc != 0) {
        weft_log(WEFT_LOG_ERROR, "app", "%s: services failed to start (%s): stopping", x->app->name,
                 weft_strerror(rc));
        x->start_failed = true;
        (void)weft_reactor_stop(x->r);
        return;
    }
    weft_log(WEFT_LOG_INFO, "app", "%s: running (pid %ld)", x->app->name, (long)getpid());
}

static weft_result_t stopped(weft_result_t result, void *arg)
{
    run_t *x = arg;
    if (result.kind == WEFT_RESULT_FAILURE) {
        char text[2048];
        weft_failure_format(result.failure, text, sizeof(text));
        weft_log(WEFT_LOG_ERROR, "app", "%s: services did not stop cleanly: %s", x->app->name,
                 text);
        x->stop_clean = false;
    } else {
        weft_log(WEFT_LOG_INFO, "app", "%s: services stopped", x->app->name);
        x->stop_clean = true;
    }
    weft_result_free(result);
    return weft_ok(NULL, NULL);
}

static weft_deferred_t *stop_services(void *arg)
{
    run_t *x = arg;
    weft_deferred_t *d = NULL;
    int rc = weft_service_stop(x->root, &d);
    if (rc != 0) {
        /* Never started, or stopped by the program itself: nothing of ours to wait for. */
        x->stop_clean = rc == WEFT_ENOTRUNNING;
        if (rc != WEFT_ENOTRUNNING)
            weft_log(WEFT_LOG_WARN, "app", "%s: cannot stop the services: %s", x->app->name,
                     weft_strerror(rc));
        return NULL;
    }
    if (weft_deferred_add_both(d, stopped, x) != 0) {
        weft_log(WEFT_LOG_ERROR, "app", "%s: cannot follow the services' stop", x->app->name);
        weft_deferred_unref(d);
        return NULL;
    }
    return d;
}

static void on_sighup(void *arg)
{
    run_t *x = arg;
    weft_log(WEFT_LOG_INFO, "app", "%s: SIGHUP: reloading", x->app->name);
    weft_config_t *cfg = weft__app_build_config(x->app, x->args);
    weft__app_settings_t s;
    if (cfg == NULL || weft__app_read_settings(cfg, &s) != 0) {
        weft_log(WEFT_LOG_ERROR, "app", "%s: SIGHUP: keeping the configuration in use",
                 x->app->name);
        weft_config_free(cfg);
        return;
    }
    weft__app_apply_log(&s);
    /* Fixed for the whole run: say so rather than ignore a change silently. */
    if (s.shutdown_deadline != x->deadline)
        weft_log(WEFT_LOG_WARN, "app",
                 "%s: SIGHUP: shutdown_deadline changed (%g -> %g): it takes effect at the next "
                 "start",
                 x->app->name, x->deadline, s.shutdown_deadline);
    const char *pid_path = s.pid_file != NULL ? s.pid_file : "";
    if (strcmp(pid_path, x->pid_path) != 0)
        weft_log(WEFT_LOG_WARN, "app",
                 "%s: SIGHUP: pid_file changed ('%s' -> '%s'): it takes effect at the next start",
                 x->app->name, x->pid_path, pid_path);
    weft_config_free(x->cfg);
    x->cfg = cfg;
    if (x->app->reload != NULL)
        x->app->reload(x->root, x->cfg, x->app->arg);
}

/* Makes the reactor and the services, runs until stopped, releases both. */
static int run(const weft_app_t *app, const weft__app_args_t *args, weft_config_t *cfg,
               const weft__app_settings_t *s, const char *pid_path)
{
    run_t x = {.app = app,
               .args = args,
               .cfg = cfg,
               .deadline = s->shutdown_deadline,
               .pid_path = pid_path};
    weft_reactor_options_t opts;
    weft_reactor_options_init(&opts);
    opts.name = app->name;
    opts.shutdown_deadline = s->shutdown_deadline;
    opts.install_signal_handlers = true;
    int rc = 0;
    x.r = weft_reactor_new(&opts, &rc);
    if (x.r == NULL) {
        weft_log(WEFT_LOG_ERROR, "app", "%s: cannot make the reactor: %s", app->name,
                 weft_strerror(rc));
        weft_config_free(x.cfg);
        return WEFT_APP_EXIT_FAILURE;
    }
    rc = WEFT_EINVAL;
    x.root = app->make_service(x.r, x.cfg, app->arg, &rc);
    int code = WEFT_APP_EXIT_OK;
    if (x.root == NULL) {
        weft_log(WEFT_LOG_ERROR, "app", "%s: make_service failed: %s", app->name,
                 weft_strerror(rc));
        code = WEFT_APP_EXIT_FAILURE;
        goto out;
    }
    rc = weft_reactor_call_when_running(x.r, start_services, &x);
    if (rc == 0)
        rc = weft_reactor_add_trigger(x.r, "shutdown", WEFT_PHASE_BEFORE, stop_services, &x,
                                      "weft.app", NULL);
    if (rc != 0) {
        weft_log(WEFT_LOG_ERROR, "app", "%s: %s", app->name, weft_strerror(rc));
        code = WEFT_APP_EXIT_FAILURE;
        goto out;
    }
    weft_reactor_set_sighup_hook(x.r, on_sighup, &x);
    rc = weft_reactor_run(x.r);
    if (rc != 0)
        weft_log(WEFT_LOG_ERROR, "app", "%s: run: %s", app->name, weft_strerror(rc));
    if (x.start_failed || rc != 0)
        code = WEFT_APP_EXIT_FAILURE;
    else if (!x.stop_clean)
        code = WEFT_APP_EXIT_UNCLEAN;
    weft_log(code == WEFT_APP_EXIT_OK ? WEFT_LOG_INFO : WEFT_LOG_WARN, "app",
             "%s: exiting with code %d (%s)", app->name, code,
             code == WEFT_APP_EXIT_OK        ? "clean stop"
             : code == WEFT_APP_EXIT_UNCLEAN ? "a stop failed or the shutdown deadline passed"
                                             : "failed");
out:
    weft_config_free(x.cfg);
    if (weft_service_free(x.root) != 0) {
        /* A stop that never finished (its canceller refused at the deadline): the services
         * and their reactor are left as they are; the process is leaving. */
        weft_log(WEFT_LOG_WARN, "app", "%s: services still stopping at exit: not freed", app->name);
    } else {
        rc = weft_reactor_free(x.r);
        if (rc != 0)
            weft_log(WEFT_LOG_WARN, "app", "%s: reactor not freed: %s", app->name,
                     weft_strerror(rc));
    }
    return code;
}

int weft_app_run(const weft_app_t *app, int argc, char **argv)
{
    if (app == NULL || app->name == NULL || app->make_service == NULL)
        return WEFT_APP_EXIT_USAGE;
    if (!weft__app_name_ok(app)) {
        weft_log(WEFT_LOG_ERROR, "app",
                 "program name '%s' or one of its option names is not letters, digits, '_', '-' "
                 "and '.' (they name config sections and keys)",
                 app->name);
        return WEFT_APP_EXIT_USAGE;
    }
    weft__app_args_t args;
    int rc = weft__app_parse_args(app, argc, argv, &args);
    if (rc != 0) {
        weft_config_free(args.overrides);
        return WEFT_APP_EXIT_USAGE;
    }
    if (args.help) {
        weft_app_print_usage(app, argc > 0 ? argv[0] : NULL);
        weft_config_free(args.overrides);
        return WEFT_APP_EXIT_OK;
    }
    weft_config_t *cfg = weft__app_build_config(app, &args);
    weft__app_settings_t s;
    if (cfg == NULL || weft__app_read_settings(cfg, &s) != 0) {
        weft_config_free(cfg);
        weft_config_free(args.overrides);
        return WEFT_APP_EXIT_USAGE;
    }
    weft__app_apply_log(&s);
    /* The pid file's path outlives cfg (SIGHUP replaces it). */
    char pid_path[4096] = "";
    if (s.pid_file != NULL) {
        snprintf(pid_path, sizeof(pid_path), "%s", s.pid_file);
        if (weft__pid_file_write(pid_path) != 0) {
            weft_config_free(cfg);
            weft_config_free(args.overrides);
            return WEFT_APP_EXIT_FAILURE;
        }
    }
    int code = run(app, &args, cfg, &s, pid_path);
    if (pid_path[0] != '\0')
        weft__pid_file_remove(pid_path);
    weft_config_free(args.overrides);
    return code;
}
