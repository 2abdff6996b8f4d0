/* SPDX-License-Identifier: MIT */
/* The application runner: options, config file, logging, pid file, signals, start and stop. */
#ifndef WEFT_REACTOR_APP_APP_H
#define WEFT_REACTOR_APP_APP_H

#include <weft/compiler.h>
#include <weft/config.h>
#include <weft/reactor.h>
#include <weft/service.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * weft_app_run is twistd's job for one program: it reads the command line and the config
 * file, sets up logging and the pid file, makes a reactor, builds the program's services with
 * its make_service function, starts them once the reactor runs, and on SIGTERM or SIGINT stops
 * them (in reverse order) before the reactor stops, waiting for their stop deferreds up to the
 * shutdown deadline. SIGHUP re-reads the config file and calls the reload function.
 *
 * Common options (command line, or the [weft] section of the config file; the command line
 * wins):
 *   -c, --config FILE            the config file (command line only)
 *   --log-level LEVEL            log_level = debug|info|warn|error|off
 *   --log-format FORMAT          log_format = logfmt|plain
 *   --pid-file FILE              pid_file = FILE: written at start, removed at exit
 *   --shutdown-deadline SECONDS  shutdown_deadline = SECONDS (default 30)
 *   -h, --help                   prints the usage on stdout
 * The program's own options are --NAME VALUE (or --NAME=VALUE) on the command line, or
 * NAME = VALUE in the config file's section named after the program (weft_app_t.name).
 */

/* One option of a program: --name VALUE, or name = VALUE in its config section. */
typedef struct {
    const char *name;          /* letters, digits, '_', '-', '.'; NULL ends an option array */
    const char *help;          /* one line for --help */
    const char *default_value; /* set when neither the file nor the command line gives one;
                                  NULL: none */
} weft_app_option_t;

/*
 * Builds the program's services on r (made by the runner; its loop is not running yet) from
 * cfg (borrowed for the call: copy what you keep). Returns an owned service, usually a multi
 * service, which the runner starts, stops and frees; or NULL with *err set to why.
 */
typedef weft_service_t *(*weft_app_make_fn)(weft_reactor_t *r, const weft_config_t *cfg, void *arg,
                                            int *err);

/* Called on SIGHUP with the config just re-read (borrowed for the call) and the running root
 * service. Runs on the loop thread. */
typedef void (*weft_app_reload_fn)(weft_service_t *root, const weft_config_t *cfg, void *arg);

/* A program for weft_app_run. Fill it by hand; every field but name and make_service may be
 * NULL. */
typedef struct {
    const char *name;                 /* the program's name: its config section, its reactor's
                                         name, its log lines */
    const char *description;          /* one line for --help */
    const weft_app_option_t *options; /* its own options, ended by a NULL name; may be NULL */
    weft_app_make_fn make_service;    /* builds the services */
    weft_app_reload_fn reload;        /* SIGHUP; NULL: re-read the config and log only */
    void *arg;                        /* handed to make_service and reload */
} weft_app_t;

/* weft_app_run's exit codes. */
#define WEFT_APP_EXIT_OK      0 /* the services started and stopped cleanly */
#define WEFT_APP_EXIT_FAILURE 1 /* they could not be made or started (pid file, reactor ...) */
#define WEFT_APP_EXIT_USAGE   2 /* a bad command line or config file */
#define WEFT_APP_EXIT_UNCLEAN 3 /* they ran, but a stop failed or the shutdown deadline passed */

/*
 * Runs app until SIGTERM or SIGINT (or until a service calls weft_reactor_stop) and returns an
 * exit code for main: WEFT_APP_EXIT_OK after a clean stop (and after --help);
 * WEFT_APP_EXIT_USAGE for a bad option, config file (the message names the file and line),
 * log level, log format or deadline; WEFT_APP_EXIT_FAILURE if the pid file names a live
 * process or cannot be written, the reactor cannot be made, make_service fails or the services
 * fail to start (what started is stopped first); WEFT_APP_EXIT_UNCLEAN if a service's stop
 * failed or had not finished at the shutdown deadline. Every reason is logged (component
 * "app"). app, argv and the strings in them are borrowed for the call. The calling thread
 * becomes the reactor's loop thread. Thread: any (one runner per process: it owns the
 * signals).
 */
WEFT_EXPORT WEFT_NODISCARD int weft_app_run(const weft_app_t *app, int argc, char **argv);

/* Prints app's usage (common options and its own) to stdout as --help does. Thread: any. */
WEFT_EXPORT void weft_app_print_usage(const weft_app_t *app, const char *argv0);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REACTOR_APP_APP_H */
