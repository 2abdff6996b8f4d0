/* SPDX-License-Identifier: MIT */
/* Configuration files: `key = value` lines under [section] headers. */
#ifndef WEFT_REACTOR_APP_CONFIG_H
#define WEFT_REACTOR_APP_CONFIG_H

#include <stddef.h>

#include <weft/compiler.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The format, one item per line:
 *
 *     # a comment (also ';'), on a line of its own
 *     log_level = info          # not a comment: the value is "info          # not a ..."
 *     [web]
 *     port = 8080
 *
 * Keys and section names are letters, digits, '_', '-' and '.'. Spaces and tabs around keys,
 * values and section names are dropped; a value may be empty and holds any byte but control
 * characters (tabs inside it are kept). Keys before the first header belong to the section
 * "" (the top). A key may appear once per section. Lines end in "\n" or "\r\n"; the last one
 * needs no newline. Limits: WEFT_CONFIG_LINE_MAX bytes per line, WEFT_CONFIG_ENTRIES_MAX keys,
 * WEFT_CONFIG_FILE_MAX bytes per file (weft_config_load).
 *
 * A config is a plain value with one owner; nothing in it is tied to a thread
 * ("Thread: any", one thread at a time per config).
 */
typedef struct weft_config_s weft_config_t;

#define WEFT_CONFIG_LINE_MAX    4096
#define WEFT_CONFIG_ENTRIES_MAX 4096
#define WEFT_CONFIG_FILE_MAX    (1024 * 1024)

/* Where and why a parse or load failed. */
typedef struct {
    const char *source; /* the source name given to parse or load (borrowed from the caller) */
    unsigned long line; /* 1-based; 0 when the error is not about one line (a missing file) */
    const char *reason; /* a static sentence, e.g. "expected 'key = value'" */
    int code;           /* WEFT_ESYNTAX, WEFT_EMSGSIZE, or the load's system error */
} weft_config_error_t;

/*
 * Parses the len bytes at text (not NUL-terminated; any bytes) as a configuration. source
 * (borrowed; may be NULL, shown as "<config>") names it in errors. A pure function of its
 * input: no I/O, no logging. Returns an owned config (weft_config_free), or NULL with *err
 * (may be NULL) and *error (may be NULL) filled: WEFT_ESYNTAX for a malformed line, a
 * duplicate key or a NUL byte; WEFT_EMSGSIZE for a line over WEFT_CONFIG_LINE_MAX or more than
 * WEFT_CONFIG_ENTRIES_MAX keys; WEFT_EINVAL for NULL text with len > 0; WEFT_ENOMEM.
 * Thread: any.
 */
WEFT_EXPORT WEFT_NODISCARD weft_config_t *weft_config_parse(const char *text, size_t len,
                                                            const char *source,
                                                            weft_config_error_t *error, int *err);

/*
 * Reads the file at path (borrowed; it also names the source in errors) and parses it.
 * Returns as weft_config_parse, plus, with line 0: the open or read error (WEFT_ENOENT,
 * WEFT_EACCES ...); WEFT_EMSGSIZE for a file over WEFT_CONFIG_FILE_MAX. Thread: any.
 */
WEFT_EXPORT WEFT_NODISCARD weft_config_t *weft_config_load(const char *path,
                                                           weft_config_error_t *error, int *err);

/*
 * Formats e as "source:line: reason" (or "source: reason" for line 0) into buf (cut to size,
 * NUL-terminated when size > 0). Returns the length the whole text needs. Thread: any.
 */
WEFT_EXPORT size_t weft_config_error_format(const weft_config_error_t *e, char *buf, size_t size);

/* Makes an empty config. Returns an owned config, or NULL with *err = WEFT_ENOMEM.
 * Thread: any. */
WEFT_EXPORT WEFT_NODISCARD weft_config_t *weft_config_new(int *err);

/* Releases c and every string in it. NULL does nothing. Thread: any. */
WEFT_EXPORT void weft_config_free(weft_config_t *c);

/*
 * The value of key in section (NULL or "" for the top), or NULL if absent. Borrowed: valid
 * until c is changed or freed. Thread: any.
 */
WEFT_EXPORT const char *weft_config_get(const weft_config_t *c, const char *section,
                                        const char *key);

/*
 * Reads key in section as a number (strtod syntax, the whole value). Thread: any.
 * Returns: 0 with *out set; WEFT_ENOENT if the key is absent (*out unchanged); WEFT_EINVAL if
 * the value is not a finite number.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_config_get_double(const weft_config_t *c, const char *section,
                                                      const char *key, double *out);

/*
 * Sets key in section (NULL or "" for the top) to value, replacing an earlier value; all
 * three are copied. Thread: any.
 * Returns: 0; WEFT_EINVAL for a NULL key or value, or a key or section name the file format
 * would refuse; WEFT_EMSGSIZE past WEFT_CONFIG_ENTRIES_MAX keys; WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_config_set(weft_config_t *c, const char *section,
                                               const char *key, const char *value);

/* The number of keys in c, over all sections. Thread: any. */
WEFT_EXPORT size_t weft_config_count(const weft_config_t *c);

/*
 * The i-th key in the order it was first set: its section ("" for the top), key and value,
 * borrowed as for weft_config_get (any out pointer may be NULL). Thread: any.
 * Returns: 0; WEFT_ERANGE if i >= weft_config_count(c).
 */
WEFT_EXPORT int weft_config_entry(const weft_config_t *c, size_t i, const char **section,
                                  const char **key, const char **value);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REACTOR_APP_CONFIG_H */
