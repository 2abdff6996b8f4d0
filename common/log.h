/* SPDX-License-Identifier: MIT */
/* The logger every room of weft writes through: levels, a pluggable sink, key=value fields. */
#ifndef WEFT_COMMON_LOG_H
#define WEFT_COMMON_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include <weft/compiler.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One process-wide log configuration, read from the WEFT_LOG environment variable the first
 * time any log function runs, and changeable from code at any time afterwards (code wins over
 * the environment because it runs later). Nothing in weft writes to stderr except through
 * this logger; the default sink writes one line per record to stderr.
 *
 * WEFT_LOG holds comma-separated items, for example "warn", "debug,pool=error" or
 * "info,format=plain":
 *   <level>              the level for every component (debug, info, warn, error, off)
 *   <component>=<level>  a level for one component ("deferred", "pool", "tcp" ...)
 *   format=logfmt|plain  the default sink's line format (logfmt is the default)
 * A malformed WEFT_LOG is ignored as a whole and reported once through the sink.
 */
typedef enum {
    WEFT_LOG_DEBUG = 0,
    WEFT_LOG_INFO = 1,
    WEFT_LOG_WARN = 2,
    WEFT_LOG_ERROR = 3,
    WEFT_LOG_OFF = 4, /* as a threshold only: nothing is logged */
} weft_log_level_t;

/* A structured field of a record. Both strings are borrowed for the call. */
typedef struct {
    const char *key;
    const char *value;
} weft_log_field_t;

/* What a sink receives. Every pointer in it is borrowed: valid until the sink returns. */
typedef struct {
    weft_log_level_t level;
    const char *component; /* "deferred", "pool" ...; never NULL */
    const char *message;   /* formatted, one line, never NULL */
    const weft_log_field_t *fields;
    size_t nfields;
} weft_log_record_t;

/* A sink receives each enabled record. It runs on the thread that logged; a program that logs
 * from several threads needs a thread-safe sink. It must not call back into the logger. */
typedef void (*weft_log_sink_fn)(const weft_log_record_t *rec, void *arg);

/* The line formats of the default sink. */
typedef enum {
    WEFT_LOG_FORMAT_LOGFMT = 0, /* ts=... level=warn component=deferred msg="..." k=v */
    WEFT_LOG_FORMAT_PLAIN = 1,  /* weft[deferred] warn: ... k=v */
} weft_log_format_t;

/*
 * Routes every record to fn(rec, arg); fn == NULL restores the default stderr sink. arg is
 * borrowed for as long as fn stays installed. A record being written on another thread while
 * this runs may still reach the old sink. Thread: any.
 */
WEFT_EXPORT void weft_log_set_sink(weft_log_sink_fn fn, void *arg);

/* Sets the threshold for every component without its own level. Thread: any. */
WEFT_EXPORT void weft_log_set_level(weft_log_level_t level);

/* The threshold for components without their own level. Thread: any. */
WEFT_EXPORT weft_log_level_t weft_log_get_level(void);

/*
 * Gives one component its own threshold (replacing an earlier one). component is copied.
 * Thread: any.
 * Returns: 0; WEFT_EINVAL if component is NULL, empty, longer than 31 bytes or level is not a
 * weft_log_level_t; WEFT_ENOSPC if 16 components already have their own level.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_log_set_component_level(const char *component,
                                                            weft_log_level_t level);

/* Sets the default sink's line format. Thread: any. */
WEFT_EXPORT void weft_log_set_format(weft_log_format_t format);

/*
 * Applies a configuration written as WEFT_LOG is (see above), all of it or none of it.
 * Thread: any.
 * Returns: 0; WEFT_ESYNTAX if an item is malformed (nothing is changed then); WEFT_ENOSPC as
 * for weft_log_set_component_level.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_log_configure(const char *spec);

/* True when a record of level from component would reach the sink. Thread: any. */
WEFT_EXPORT bool weft_log_enabled(weft_log_level_t level, const char *component);

/*
 * Logs a printf-formatted message from component at level. Messages longer than 2 KiB are cut
 * and end in "...". Thread: any.
 */
WEFT_EXPORT void weft_log(weft_log_level_t level, const char *component, const char *fmt, ...)
    WEFT_PRINTF(3, 4);

/* As weft_log, with nfields key=value fields (borrowed for the call). Thread: any. */
WEFT_EXPORT void weft_log_with(weft_log_level_t level, const char *component,
                               const weft_log_field_t *fields, size_t nfields, const char *fmt, ...)
    WEFT_PRINTF(5, 6);

/*
 * Formats rec as one line in format, ending in '\n', into buf (NUL-terminated, cut to size).
 * Values with spaces, quotes, '=' or control characters are quoted and escaped so that a
 * record is always exactly one line. Returns the length the whole line needs, as snprintf
 * does. Thread: any.
 */
WEFT_EXPORT size_t weft_log_format_record(const weft_log_record_t *rec, weft_log_format_t format,
                                          char *buf, size_t size);

/* The default sink: weft_log_format_record in the configured format, written to stderr with
 * one write per record. Exported so a custom sink can pass records on. Thread: any. */
WEFT_EXPORT void weft_log_default_sink(const weft_log_record_t *rec, void *arg);

/* "debug", "info", "warn", "error", "off"; "?" for anything else. Thread: any. */
WEFT_EXPORT const char *weft_log_level_name(weft_log_level_t level);

/*
 * Parses a level name (as weft_log_level_name prints it; "warning" is accepted too).
 * Thread: any. Returns: 0 and *out set; WEFT_EINVAL for an unknown name.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_log_level_parse(const char *name, weft_log_level_t *out);

/*
 * Describes the current settings in WEFT_LOG syntax plus the sink, e.g.
 * "info,pool=debug,format=logfmt sink=stderr", into buf (cut to size, NUL-terminated).
 * Returns the length the whole text needs. Thread: any.
 */
WEFT_EXPORT size_t weft_log_describe(char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_COMMON_LOG_H */
