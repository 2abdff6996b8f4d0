/* SPDX-License-Identifier: MIT */
/* A config's insides, shared by config.c and config-parse.c only. */
#ifndef WEFT_REACTOR_APP_CONFIG_INTERNAL_H
#define WEFT_REACTOR_APP_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <weft/config.h>

typedef struct {
    char *section; /* "" for the top */
    char *key;
    char *value;
} weft__config_entry_t;

struct weft_config_s {
    weft__config_entry_t *entries; /* in the order keys were first set */
    size_t n, cap;
};

/* True for a non-empty key or section name of letters, digits, '_', '-' and '.'. */
bool weft__config_name_ok(const char *s, size_t len);

/*
 * Stores section/key = value (each len-delimited, copied). An existing key is replaced when
 * replace is true. Returns: 0; WEFT_EEXIST if the key exists and replace is false;
 * WEFT_EMSGSIZE past WEFT_CONFIG_ENTRIES_MAX; WEFT_ENOMEM.
 */
int weft__config_put(weft_config_t *c, const char *section, size_t slen, const char *key,
                     size_t klen, const char *value, size_t vlen, bool replace);

#endif /* WEFT_REACTOR_APP_CONFIG_INTERNAL_H */
