/* SPDX-License-Identifier: MIT */
/* The runner's parts, shared by app-run.c, app-options.c and pid-file.c only. */
#ifndef WEFT_REACTOR_APP_APP_INTERNAL_H
#define WEFT_REACTOR_APP_APP_INTERNAL_H

#include <stdbool.h>

#include <weft/app.h>
#include <weft/config.h>

/* The section of the config file that holds the common options. */
#define WEFT__APP_SECTION "weft"

/* What the command line said. */
typedef struct {
    const char *config_path;  /* -c FILE (borrowed from argv), or NULL */
    bool help;                /* -h / --help */
    weft_config_t *overrides; /* owned: [weft] and [<app>] keys set on the command line */
} weft__app_args_t;

/* True when app's name and option names can be config section and key names. */
bool weft__app_name_ok(const weft_app_t *app);

/* Parses argv; on error logs why (component "app") and returns WEFT_EINVAL (or
 * WEFT_ENOMEM). On success the caller frees out->overrides. */
int weft__app_parse_args(const weft_app_t *app, int argc, char **argv, weft__app_args_t *out);

/* The config the services see: the file (if any), then the command line's keys over it, then
 * the app's option defaults where nothing set them. NULL after logging why (the file's
 * file:line error, or an option the app does not know in its section). */
weft_config_t *weft__app_build_config(const weft_app_t *app, const weft__app_args_t *args);

/* The [weft] settings, read from a built config. */
typedef struct {
    bool has_level;
    int level; /* a weft_log_level_t */
    bool has_format;
    int format;               /* a weft_log_format_t */
    const char *pid_file;     /* borrowed from the config, or NULL */
    double shutdown_deadline; /* default 30 */
} weft__app_settings_t;

/* Reads and checks the [weft] settings; logs and returns WEFT_EINVAL for a bad value. */
int weft__app_read_settings(const weft_config_t *cfg, weft__app_settings_t *out);

/* Applies the log level and format, when given. */
void weft__app_apply_log(const weft__app_settings_t *s);

/* Writes our pid to path; refuses (WEFT_EEXIST) if it names another live process. Logs. */
int weft__pid_file_write(const char *path);

/* Removes path if it still holds our pid. */
void weft__pid_file_remove(const char *path);

#endif /* WEFT_REACTOR_APP_APP_INTERNAL_H */
