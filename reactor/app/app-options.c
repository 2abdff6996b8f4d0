/* SPDX-License-Identifier: MIT */
/* The runner's command line and settings: argv, the config file, defaults, --help. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <weft/error.h>
#include <weft/log.h>

#include "app-internal.h"

/* A common option: its flag and its key in [weft]. */
typedef struct {
    const char *flag;
    const char *key;
    const char *arg;
    const char *help;
} common_t;

static const common_t commons[] = {
    {"log-level", "log_level", "LEVEL", "debug, info, warn, error or off"},
    {"log-format", "log_format", "FORMAT", "logfmt or plain"},
    {"pid-file", "pid_file", "FILE", "write the pid here; removed at exit"},
    {"shutdown-deadline", "shutdown_deadline", "SECONDS",
     "how long stops may take before shutdown goes on (default 30)"},
};
#define NCOMMONS (sizeof(commons) / sizeof(commons[0]))

static bool name_ok(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return false;
    for (; *s != '\0'; s++) {
        char ch = *s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '.'))
            return false;
    }
    return true;
}

bool weft__app_name_ok(const weft_app_t *app)
{
    if (!name_ok(app->name) || strcmp(app->name, WEFT__APP_SECTION) == 0)
        return false;
    for (const weft_app_option_t *o = app->options; o != NULL && o->name != NULL; o++) {
        if (!name_ok(o->name))
            return false;
    }
    return true;
}

static const weft_app_option_t *find_option(const weft_app_t *app, const char *name, size_t len)
{
    for (const weft_app_option_t *o = app->options; o != NULL && o->name != NULL; o++) {
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    }
    return NULL;
}

static int usage_error(const weft_app_t *app, const char *what, const char *arg)
{
    weft_log(WEFT_LOG_ERROR, "app", "%s: %s '%s' (try --help)", app->name, what, arg);
    return WEFT_EINVAL;
}

int weft__app_parse_args(const weft_app_t *app, int argc, char **argv, weft__app_args_t *out)
{
    memset(out, 0, sizeof(*out));
    int rc = 0;
    out->overrides = weft_config_new(&rc);
    if (out->overrides == NULL)
        return rc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            out->help = true;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 && strcmp(a, "-c") != 0)
            return usage_error(app, "unexpected argument", a);
        /* --name=value or --name value */
        const char *name = strcmp(a, "-c") == 0 ? "config" : a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
        const char *value = NULL;
        if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return usage_error(app, "missing value after", a);
        }
        if (nlen == 6 && strncmp(name, "config", 6) == 0) {
            out->config_path = value;
            continue;
        }
        const common_t *c = NULL;
        for (size_t k = 0; k < NCOMMONS; k++) {
            if (strlen(commons[k].flag) == nlen && strncmp(commons[k].flag, name, nlen) == 0)
                c = &commons[k];
        }
        if (c != NULL) {
            rc = weft_config_set(out->overrides, WEFT__APP_SECTION, c->key, value);
        } else {
            const weft_app_option_t *o = find_option(app, name, nlen);
            if (o == NULL)
                return usage_error(app, "unknown option", a);
            rc = weft_config_set(out->overrides, app->name, o->name, value);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

weft_config_t *weft__app_build_config(const weft_app_t *app, const weft__app_args_t *args)
{
    int rc = 0;
    weft_config_t *cfg;
    if (args->config_path != NULL) {
        weft_config_error_t e;
        cfg = weft_config_load(args->config_path, &e, &rc);
        if (cfg == NULL) {
            char text[600];
            weft_config_error_format(&e, text, sizeof(text));
            weft_log(WEFT_LOG_ERROR, "app", "%s: bad config file: %s", app->name, text);
            return NULL;
        }
        /* Only known keys in our sections: a typo must not pass silently. */
        for (size_t i = 0; i < weft_config_count(cfg); i++) {
            const char *sec, *key;
            (void)weft_config_entry(cfg, i, &sec, &key, NULL);
            bool known = true;
            if (strcmp(sec, WEFT__APP_SECTION) == 0) {
                known = false;
                for (size_t k = 0; k < NCOMMONS; k++)
                    known |= strcmp(commons[k].key, key) == 0;
            } else if (strcmp(sec, app->name) == 0) {
                known = find_option(app, key, strlen(key)) != NULL;
            }
            if (!known) {
                weft_log(WEFT_LOG_ERROR, "app", "%s: bad config file: %s: unknown key '%s' in [%s]",
                         app->name, args->config_path, key, sec);
                weft_config_free(cfg);
                return NULL;
            }
        }
    } else {
        cfg = weft_config_new(&rc);
        if (cfg == NULL)
            return NULL;
    }
    for (size_t i = 0; rc == 0 && i < weft_config_count(args->overrides); i++) {
        const char *sec, *key, *value;
        (void)weft_config_entry(args->overrides, i, &sec, &key, &value);
        rc = weft_config_set(cfg, sec, key, value);
    }
    for (const weft_app_option_t *o = app->options; rc == 0 && o != NULL && o->name != NULL; o++) {
        if (o->default_value != NULL && weft_config_get(cfg, app->name, o->name) == NULL)
            rc = weft_config_set(cfg, app->name, o->name, o->default_value);
    }
    if (rc != 0) {
        weft_log(WEFT_LOG_ERROR, "app", "%s: cannot build the config: %s", app->name,
                 weft_strerror(rc));
        weft_config_free(cfg);
        return NULL;
    }
    return cfg;
}

int weft__app_read_settings(const weft_config_t *cfg, weft__app_settings_t *out)
{
    memset(out, 0, sizeof(*out));
    out->shutdown_deadline = 30.0;
    const char *v = weft_config_get(cfg, WEFT__APP_SECTION, "log_level");
    if (v != NULL) {
        weft_log_level_t level;
        if (weft_log_level_parse(v, &level) != 0) {
            weft_log(WEFT_LOG_ERROR, "app",
                     "bad log level '%s': use debug, info, warn, error or off", v);
            return WEFT_EINVAL;
        }
        out->has_level = true;
        out->level = (int)level;
    }
    v = weft_config_get(cfg, WEFT__APP_SECTION, "log_format");
    if (v != NULL) {
        if (strcmp(v, "logfmt") != 0 && strcmp(v, "plain") != 0) {
            weft_log(WEFT_LOG_ERROR, "app", "bad log format '%s': use logfmt or plain", v);
            return WEFT_EINVAL;
        }
        out->has_format = true;
        out->format = strcmp(v, "plain") == 0 ? WEFT_LOG_FORMAT_PLAIN : WEFT_LOG_FORMAT_LOGFMT;
    }
    out->pid_file = weft_config_get(cfg, WEFT__APP_SECTION, "pid_file");
    if (out->pid_file != NULL && out->pid_file[0] == '\0')
        out->pid_file = NULL;
    int rc = weft_config_get_double(cfg, WEFT__APP_SECTION, "shutdown_deadline",
                                    &out->shutdown_deadline);
    if (rc == WEFT_EINVAL || !(out->shutdown_deadline >= 0)) {
        weft_log(WEFT_LOG_ERROR, "app", "bad shutdown deadline '%s': give seconds, 0 or more",
                 weft_config_get(cfg, WEFT__APP_SECTION, "shutdown_deadline"));
        return WEFT_EINVAL;
    }
    return 0;
}

void weft__app_apply_log(const weft__app_settings_t *s)
{
    if (s->has_level)
        weft_log_set_level((weft_log_level_t)s->level);
    if (s->has_format)
        weft_log_set_format((weft_log_format_t)s->format);
}

void weft_app_print_usage(const weft_app_t *app, const char *argv0)
{
    printf("usage: %s [options]\n", argv0 != NULL ? argv0 : app->name);
    if (app->description != NULL)
        printf("%s\n", app->description);
    printf("\noptions (also in the config file's [%s] section, without the dashes):\n",
           WEFT__APP_SECTION);
    printf("  -c, --config FILE              the config file (key = value, [sections])\n");
    for (size_t k = 0; k < NCOMMONS; k++) {
        char left[64];
        snprintf(left, sizeof(left), "--%s %s", commons[k].flag, commons[k].arg);
        printf("  %-30s %s\n", left, commons[k].help);
    }
    printf("  -h, --help                     this text\n");
    if (app->options != NULL && app->options[0].name != NULL) {
        printf("\n%s options (also in the config file's [%s] section):\n", app->name, app->name);
        for (const weft_app_option_t *o = app->options; o->name != NULL; o++) {
            char left[64];
            snprintf(left, sizeof(left), "--%s VALUE", o->name);
            printf("  %-30s %s", left, o->help != NULL ? o->help : "");
            if (o->default_value != NULL)
                printf(" (default: %s)", o->default_value);
            printf("\n");
        }
    }
    fflush(stdout);
}
