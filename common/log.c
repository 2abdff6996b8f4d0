/* SPDX-License-Identifier: MIT */
/* The process-wide logger: configuration, WEFT_LOG parsing and the default stderr sink. */

/*
 * Design. The configuration (threshold, per-component thresholds, format, sink) sits behind
 * one mutex. The common case, "is this level enabled?" with no per-component levels, is
 * answered from two atomics without taking it. A record is formatted on the caller's stack,
 * the sink pair is copied under the mutex, and the sink runs with no lock held, so a slow or
 * re-entrant sink cannot block other threads' configuration calls. WEFT_LOG is read once,
 * under pthread_once, before the first configuration read or write.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <weft/error.h>

#include "log-internal.h"

#define MAX_COMPONENTS 16
#define COMPONENT_MAX  31
#define MESSAGE_MAX    2048
#define LINE_MAX_BYTES 4096

typedef struct {
    char name[COMPONENT_MAX + 1];
    weft_log_level_t level;
} component_level_t;

typedef struct {
    weft_log_level_t level;
    weft_log_format_t format;
    component_level_t comps[MAX_COMPONENTS];
    size_t ncomps;
} log_config_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static log_config_t config = {.level = WEFT_LOG_INFO, .format = WEFT_LOG_FORMAT_LOGFMT};
static weft_log_sink_fn sink_fn; /* NULL: the default sink */
static void *sink_arg;
/* Lock-free mirrors for weft_log_enabled's fast path. */
static atomic_int fast_level = WEFT_LOG_INFO;
static atomic_size_t fast_ncomps;
static atomic_int fast_format = WEFT_LOG_FORMAT_LOGFMT;

/* A malformed WEFT_LOG, to be reported once load_env's pthread_once has returned (logging
 * from inside it would re-enter pthread_once and deadlock). */
static const char *env_error_spec;
static int env_error_code;
static atomic_bool env_error_pending;

static void load_env(void);
static void report_env_error(void);

static void ensure_env(void)
{
    pthread_once(&env_once, load_env);
    if (atomic_load_explicit(&env_error_pending, memory_order_acquire))
        report_env_error();
}

static void publish_locked(void)
{
    atomic_store_explicit(&fast_level, (int)config.level, memory_order_relaxed);
    atomic_store_explicit(&fast_ncomps, config.ncomps, memory_order_relaxed);
    atomic_store_explicit(&fast_format, (int)config.format, memory_order_relaxed);
}

const char *weft_log_level_name(weft_log_level_t level)
{
    switch (level) {
    case WEFT_LOG_DEBUG:
        return "debug";
    case WEFT_LOG_INFO:
        return "info";
    case WEFT_LOG_WARN:
        return "warn";
    case WEFT_LOG_ERROR:
        return "error";
    case WEFT_LOG_OFF:
        return "off";
    }
    return "?";
}

int weft_log_level_parse(const char *name, weft_log_level_t *out)
{
    static const struct {
        const char *name;
        weft_log_level_t level;
    } names[] = {
        {"debug", WEFT_LOG_DEBUG},  {"info", WEFT_LOG_INFO},   {"warn", WEFT_LOG_WARN},
        {"warning", WEFT_LOG_WARN}, {"error", WEFT_LOG_ERROR}, {"off", WEFT_LOG_OFF},
    };
    if (name == NULL)
        return WEFT_EINVAL;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(name, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return WEFT_EINVAL;
}

static bool valid_level(weft_log_level_t level)
{
    return level >= WEFT_LOG_DEBUG && level <= WEFT_LOG_OFF;
}

/* Sets (or replaces) component's level in cfg. */
static int set_component(log_config_t *cfg, const char *component, size_t len,
                         weft_log_level_t level)
{
    if (component == NULL || len == 0 || len > COMPONENT_MAX || !valid_level(level))
        return WEFT_EINVAL;
    for (size_t i = 0; i < cfg->ncomps; i++) {
        if (strlen(cfg->comps[i].name) == len && memcmp(cfg->comps[i].name, component, len) == 0) {
            cfg->comps[i].level = level;
            return 0;
        }
    }
    if (cfg->ncomps == MAX_COMPONENTS)
        return WEFT_ENOSPC;
    memcpy(cfg->comps[cfg->ncomps].name, component, len);
    cfg->comps[cfg->ncomps].name[len] = '\0';
    cfg->comps[cfg->ncomps].level = level;
    cfg->ncomps++;
    return 0;
}

/* Parses spec into a copy of cfg; cfg is changed only if the whole spec is good. */
static int parse_spec(log_config_t *cfg, const char *spec)
{
    log_config_t next = *cfg;
    const char *p = spec;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[64];
        if (len == 0 || len >= sizeof(item))
            return WEFT_ESYNTAX;
        memcpy(item, p, len);
        item[len] = '\0';
        char *eq = strchr(item, '=');
        weft_log_level_t level;
        if (eq == NULL) {
            if (weft_log_level_parse(item, &level) != 0)
                return WEFT_ESYNTAX;
            next.level = level;
        } else if (strncmp(item, "format=", 7) == 0) {
            if (strcmp(eq + 1, "logfmt") == 0)
                next.format = WEFT_LOG_FORMAT_LOGFMT;
            else if (strcmp(eq + 1, "plain") == 0)
                next.format = WEFT_LOG_FORMAT_PLAIN;
            else
                return WEFT_ESYNTAX;
        } else {
            if (weft_log_level_parse(eq + 1, &level) != 0)
                return WEFT_ESYNTAX;
            int rc = set_component(&next, item, (size_t)(eq - item), level);
            if (rc != 0)
                return rc == WEFT_EINVAL ? WEFT_ESYNTAX : rc;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    *cfg = next;
    return 0;
}

static void load_env(void)
{
    const char *spec = getenv("WEFT_LOG");
    if (spec == NULL || *spec == '\0')
        return;
    pthread_mutex_lock(&lock);
    int rc = parse_spec(&config, spec);
    publish_locked();
    pthread_mutex_unlock(&lock);
    if (rc != 0) {
        env_error_spec = spec;
        env_error_code = rc;
        atomic_store_explicit(&env_error_pending, true, memory_order_release);
    }
}

static void report_env_error(void)
{
    if (!atomic_exchange_explicit(&env_error_pending, false, memory_order_acq_rel))
        return; /* another thread reports it */
    weft_log_field_t f[] = {{"value", env_error_spec}, {"error", weft_err_name(env_error_code)}};
    weft_log_with(WEFT_LOG_WARN, "log", f, 2,
                  "ignoring malformed WEFT_LOG (want e.g. \"info,pool=debug\")");
}

void weft__log_reload_env(void)
{
    ensure_env();
    load_env();
}

void weft__log_reset(void)
{
    ensure_env();
    pthread_mutex_lock(&lock);
    config = (log_config_t){.level = WEFT_LOG_INFO, .format = WEFT_LOG_FORMAT_LOGFMT};
    sink_fn = NULL;
    sink_arg = NULL;
    publish_locked();
    pthread_mutex_unlock(&lock);
}

void weft_log_set_sink(weft_log_sink_fn fn, void *arg)
{
    ensure_env();
    pthread_mutex_lock(&lock);
    sink_fn = fn;
    sink_arg = fn ? arg : NULL;
    pthread_mutex_unlock(&lock);
}

void weft_log_set_level(weft_log_level_t level)
{
    if (!valid_level(level))
        return;
    ensure_env();
    pthread_mutex_lock(&lock);
    config.level = level;
    publish_locked();
    pthread_mutex_unlock(&lock);
}

weft_log_level_t weft_log_get_level(void)
{
    ensure_env();
    return (weft_log_level_t)atomic_load_explicit(&fast_level, memory_order_relaxed);
}

int weft_log_set_component_level(const char *component, weft_log_level_t level)
{
    ensure_env();
    pthread_mutex_lock(&lock);
    int rc = set_component(&config, component, component ? strlen(component) : 0, level);
    publish_locked();
    pthread_mutex_unlock(&lock);
    return rc;
}

void weft_log_set_format(weft_log_format_t format)
{
    if (format != WEFT_LOG_FORMAT_LOGFMT && format != WEFT_LOG_FORMAT_PLAIN)
        return;
    ensure_env();
    pthread_mutex_lock(&lock);
    config.format = format;
    publish_locked();
    pthread_mutex_unlock(&lock);
}

int weft_log_configure(const char *spec)
{
    if (spec == NULL)
        return WEFT_ESYNTAX;
    ensure_env();
    pthread_mutex_lock(&lock);
    int rc = parse_spec(&config, spec);
    publish_locked();
    pthread_mutex_unlock(&lock);
    return rc;
}

bool weft_log_enabled(weft_log_level_t level, const char *component)
{
    ensure_env();
    if (!valid_level(level) || level == WEFT_LOG_OFF)
        return false;
    if (atomic_load_explicit(&fast_ncomps, memory_order_relaxed) == 0)
        return (int)level >= atomic_load_explicit(&fast_level, memory_order_relaxed);
    pthread_mutex_lock(&lock);
    weft_log_level_t threshold = config.level;
    for (size_t i = 0; component != NULL && i < config.ncomps; i++) {
        if (strcmp(config.comps[i].name, component) == 0) {
            threshold = config.comps[i].level;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    return level >= threshold;
}

/* Appends src[0..n) to buf at *len, keeping NUL termination; *len counts what was needed. */
static void put(char *buf, size_t size, size_t *len, const char *src, size_t n)
{
    if (*len < size) {
        size_t room = size - *len - 1;
        memcpy(buf + *len, src, n < room ? n : room);
        buf[*len + (n < room ? n : room)] = '\0';
    }
    *len += n;
}

static void puts_(char *buf, size_t size, size_t *len, const char *s)
{
    put(buf, size, len, s, strlen(s));
}

static bool needs_quotes(const char *v)
{
    if (*v == '\0')
        return true;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
            return true;
    }
    return false;
}

/* Writes v, quoted and escaped when needed, so it can never break the line. */
static void put_value(char *buf, size_t size, size_t *len, const char *v, bool always_quote)
{
    if (v == NULL)
        v = "";
    bool quote = always_quote || needs_quotes(v);
    if (quote)
        put(buf, size, len, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        char esc[5];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(buf, size, len, esc, 2);
        } else if (*p == '\n') {
            put(buf, size, len, "\\n", 2);
        } else if (*p == '\t') {
            put(buf, size, len, "\\t", 2);
        } else if (*p < ' ' || *p == 0x7f) {
            snprintf(esc, sizeof(esc), "\\x%02x", *p);
            put(buf, size, len, esc, 4);
        } else {
            put(buf, size, len, (const char *)p, 1);
        }
    }
    if (quote)
        put(buf, size, len, "\"", 1);
}

size_t weft_log_format_record(const weft_log_record_t *rec, weft_log_format_t format, char *buf,
                              size_t size)
{
    size_t len = 0;
    if (size > 0)
        buf[0] = '\0';
    const char *component = rec->component ? rec->component : "weft";
    if (format == WEFT_LOG_FORMAT_PLAIN) {
        puts_(buf, size, &len, "weft[");
        put_value(buf, size, &len, component, false);
        puts_(buf, size, &len, "] ");
        puts_(buf, size, &len, weft_log_level_name(rec->level));
        puts_(buf, size, &len, ": ");
        /* The message is free text here; only control characters are escaped. */
        for (const unsigned char *p = (const unsigned char *)rec->message; p && *p; p++) {
            if (*p < ' ' || *p == 0x7f) {
                char esc[5];
                snprintf(esc, sizeof(esc), "\\x%02x", *p);
                put(buf, size, &len, esc, 4);
            } else {
                put(buf, size, &len, (const char *)p, 1);
            }
        }
    } else {
        struct timespec ts;
        struct tm tm;
        char stamp[40];
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ", ts.tv_nsec / 1000000);
        puts_(buf, size, &len, "ts=");
        puts_(buf, size, &len, stamp);
        puts_(buf, size, &len, " level=");
        puts_(buf, size, &len, weft_log_level_name(rec->level));
        puts_(buf, size, &len, " component=");
        put_value(buf, size, &len, component, false);
        puts_(buf, size, &len, " msg=");
        put_value(buf, size, &len, rec->message, true);
    }
    for (size_t i = 0; i < rec->nfields; i++) {
        puts_(buf, size, &len, " ");
        put_value(buf, size, &len, rec->fields[i].key, false);
        puts_(buf, size, &len, "=");
        put_value(buf, size, &len, rec->fields[i].value, false);
    }
    put(buf, size, &len, "\n", 1);
    /* A cut line still ends in a newline, so the next record starts on its own line. */
    if (size > 1 && len >= size)
        buf[size - 2] = '\n';
    return len;
}

void weft_log_default_sink(const weft_log_record_t *rec, void *arg)
{
    (void)arg;
    char line[LINE_MAX_BYTES];
    weft_log_format_t format =
        (weft_log_format_t)atomic_load_explicit(&fast_format, memory_order_relaxed);
    size_t len = weft_log_format_record(rec, format, line, sizeof(line));
    if (len >= sizeof(line))
        len = sizeof(line) - 1;
    /* One write per record so that lines from several threads never interleave. */
    ssize_t rc;
    do {
        rc = write(STDERR_FILENO, line, len);
    } while (rc < 0 && errno == EINTR);
}

static void vemit(weft_log_level_t level, const char *component, const weft_log_field_t *fields,
                  size_t nfields, const char *fmt, va_list ap)
{
    if (component == NULL)
        component = "weft";
    if (!weft_log_enabled(level, component))
        return;
    char message[MESSAGE_MAX];
    int n = vsnprintf(message, sizeof(message), fmt, ap);
    if (n < 0)
        snprintf(message, sizeof(message), "(unformattable message: %s)", fmt);
    else if ((size_t)n >= sizeof(message))
        memcpy(message + sizeof(message) - 4, "...", 4);
    weft_log_record_t rec = {
        .level = level,
        .component = component,
        .message = message,
        .fields = fields,
        .nfields = fields ? nfields : 0,
    };
    pthread_mutex_lock(&lock);
    weft_log_sink_fn fn = sink_fn;
    void *arg = sink_arg;
    pthread_mutex_unlock(&lock);
    /* Unlocked: the sink is user code and may take as long as it likes. */
    (fn ? fn : weft_log_default_sink)(&rec, arg);
}

void weft_log(weft_log_level_t level, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vemit(level, component, NULL, 0, fmt, ap);
    va_end(ap);
}

void weft_log_with(weft_log_level_t level, const char *component, const weft_log_field_t *fields,
                   size_t nfields, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vemit(level, component, fields, nfields, fmt, ap);
    va_end(ap);
}

size_t weft_log_describe(char *buf, size_t size)
{
    ensure_env();
    size_t len = 0;
    if (size > 0)
        buf[0] = '\0';
    pthread_mutex_lock(&lock);
    log_config_t cfg = config;
    bool custom = sink_fn != NULL;
    pthread_mutex_unlock(&lock);
    puts_(buf, size, &len, weft_log_level_name(cfg.level));
    for (size_t i = 0; i < cfg.ncomps; i++) {
        puts_(buf, size, &len, ",");
        puts_(buf, size, &len, cfg.comps[i].name);
        puts_(buf, size, &len, "=");
        puts_(buf, size, &len, weft_log_level_name(cfg.comps[i].level));
    }
    puts_(buf, size, &len,
          cfg.format == WEFT_LOG_FORMAT_PLAIN ? ",format=plain" : ",format=logfmt");
    puts_(buf, size, &len, custom ? " sink=custom" : " sink=stderr");
    return len;
}
