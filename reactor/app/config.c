/* SPDX-License-Identifier: MIT */
/* Configuration values: storage, lookup, loading a file, formatting errors. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <weft/error.h>

#include "../../common/alloc-internal.h"
#include "config-internal.h"

weft_config_t *weft_config_new(int *err)
{
    weft_config_t *c = weft__calloc(1, sizeof(*c));
    if (err != NULL)
        *err = c != NULL ? 0 : WEFT_ENOMEM;
    return c;
}

void weft_config_free(weft_config_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++) {
        weft__free(c->entries[i].section);
        weft__free(c->entries[i].key);
        weft__free(c->entries[i].value);
    }
    weft__free(c->entries);
    weft__free(c);
}

bool weft__config_name_ok(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
        if (!ok)
            return false;
    }
    return true;
}

static bool same(const char *stored, const char *s, size_t len)
{
    return strncmp(stored, s, len) == 0 && stored[len] == '\0';
}

static weft__config_entry_t *find(const weft_config_t *c, const char *section, size_t slen,
                                  const char *key, size_t klen)
{
    for (size_t i = 0; i < c->n; i++) {
        weft__config_entry_t *e = &c->entries[i];
        if (same(e->key, key, klen) && same(e->section, section, slen))
            return e;
    }
    return NULL;
}

int weft__config_put(weft_config_t *c, const char *section, size_t slen, const char *key,
                     size_t klen, const char *value, size_t vlen, bool replace)
{
    weft__config_entry_t *e = find(c, section, slen, key, klen);
    if (e != NULL) {
        if (!replace)
            return WEFT_EEXIST;
        char *v = weft__strndup(value, vlen);
        if (v == NULL)
            return WEFT_ENOMEM;
        weft__free(e->value);
        e->value = v;
        return 0;
    }
    if (c->n >= WEFT_CONFIG_ENTRIES_MAX)
        return WEFT_EMSGSIZE;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        weft__config_entry_t *grown = weft__realloc(c->entries, cap * sizeof(*grown));
        if (grown == NULL)
            return WEFT_ENOMEM;
        c->entries = grown;
        c->cap = cap;
    }
    weft__config_entry_t n = {weft__strndup(section, slen), weft__strndup(key, klen),
                              weft__strndup(value, vlen)};
    if (n.section == NULL || n.key == NULL || n.value == NULL) {
        weft__free(n.section);
        weft__free(n.key);
        weft__free(n.value);
        return WEFT_ENOMEM;
    }
    c->entries[c->n++] = n;
    return 0;
}

const char *weft_config_get(const weft_config_t *c, const char *section, const char *key)
{
    if (c == NULL || key == NULL)
        return NULL;
    if (section == NULL)
        section = "";
    weft__config_entry_t *e = find(c, section, strlen(section), key, strlen(key));
    return e != NULL ? e->value : NULL;
}

int weft_config_get_double(const weft_config_t *c, const char *section, const char *key,
                           double *out)
{
    const char *v = weft_config_get(c, section, key);
    if (v == NULL)
        return WEFT_ENOENT;
    char *end = NULL;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end != '\0' || errno != 0 || !isfinite(d))
        return WEFT_EINVAL;
    *out = d;
    return 0;
}

int weft_config_set(weft_config_t *c, const char *section, const char *key, const char *value)
{
    if (section == NULL)
        section = "";
    if (c == NULL || key == NULL || value == NULL || !weft__config_name_ok(key, strlen(key)) ||
        (section[0] != '\0' && !weft__config_name_ok(section, strlen(section))))
        return WEFT_EINVAL;
    return weft__config_put(c, section, strlen(section), key, strlen(key), value, strlen(value),
                            true);
}

size_t weft_config_count(const weft_config_t *c)
{
    return c->n;
}

int weft_config_entry(const weft_config_t *c, size_t i, const char **section, const char **key,
                      const char **value)
{
    if (i >= c->n)
        return WEFT_ERANGE;
    if (section != NULL)
        *section = c->entries[i].section;
    if (key != NULL)
        *key = c->entries[i].key;
    if (value != NULL)
        *value = c->entries[i].value;
    return 0;
}

/* ---------------------------------------------------------------- files and errors */

static weft_config_t *load_fail(weft_config_error_t *error, const char *path, int code,
                                const char *reason, int *err)
{
    if (error != NULL) {
        error->source = path;
        error->line = 0;
        error->reason = reason;
        error->code = code;
    }
    if (err != NULL)
        *err = code;
    return NULL;
}

weft_config_t *weft_config_load(const char *path, weft_config_error_t *error, int *err)
{
    if (path == NULL)
        return load_fail(error, "<config>", WEFT_EINVAL, "no path", err);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int code = -errno;
        return load_fail(error, path, code, weft_strerror(code), err);
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return load_fail(error, path, WEFT_EINVAL, "not a regular file", err);
    }
    if (st.st_size > WEFT_CONFIG_FILE_MAX) {
        close(fd);
        return load_fail(error, path, WEFT_EMSGSIZE,
                         "file too big (the limit is WEFT_CONFIG_FILE_MAX, 1 MiB)", err);
    }
    size_t size = (size_t)st.st_size;
    char *buf = weft__malloc(size ? size : 1);
    if (buf == NULL) {
        close(fd);
        return load_fail(error, path, WEFT_ENOMEM, "out of memory", err);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int code = n < 0 ? -errno : WEFT_EIO;
            weft__free(buf);
            close(fd);
            return load_fail(error, path, code, weft_strerror(code), err);
        }
        got += (size_t)n;
    }
    close(fd);
    weft_config_t *c = weft_config_parse(buf, size, path, error, err);
    weft__free(buf);
    return c;
}

size_t weft_config_error_format(const weft_config_error_t *e, char *buf, size_t size)
{
    const char *src = e->source != NULL ? e->source : "<config>";
    const char *why = e->reason != NULL ? e->reason : "error";
    int n = e->line > 0 ? snprintf(buf, size, "%s:%lu: %s", src, e->line, why)
                        : snprintf(buf, size, "%s: %s", src, why);
    return n < 0 ? 0 : (size_t)n;
}
