/* SPDX-License-Identifier: MIT */
/* Plugins: listing a directory from sidecars, and loading one shared object. */

/*
 * Design. Listing never calls dlopen: dlopen runs a library's constructors, so listing fifty
 * plugins would load fifty libraries and run their code, and one broken plugin could take the
 * listing down. The sidecar NAME.plugin (the config file format) carries what listing shows.
 * Loading the chosen plugin checks, in order: the file exists, dlopen accepts it (RTLD_NOW, so
 * a missing symbol fails here and not in the middle of a run), it exports `weft_plugin`, the
 * descriptor's first field is WEFT_PLUGIN_ABI, and only then reads the rest.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft/config.h>
#include <weft/error.h>
#include <weft/log.h>
#include <weft/plugin.h>

#include "../../common/alloc-internal.h"

typedef struct {
    char *name;
    char *description;
    char *path;
    char *note;
} entry_t;

struct weft_plugin_list_s {
    entry_t *e;
    size_t n, cap;
};

struct weft_plugin_handle_s {
    void *dl;
    const weft_plugin_t *desc;
};

void weft_plugin_list_free(weft_plugin_list_t *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++) {
        weft__free(l->e[i].name);
        weft__free(l->e[i].description);
        weft__free(l->e[i].path);
        weft__free(l->e[i].note);
    }
    weft__free(l->e);
    weft__free(l);
}

size_t weft_plugin_list_find(const weft_plugin_list_t *l, const char *name)
{
    for (size_t i = 0; name != NULL && i < l->n; i++) {
        if (strcmp(l->e[i].name, name) == 0)
            return i;
    }
    return (size_t)-1;
}

static char *join(const char *dir, const char *name, const char *ext)
{
    size_t len = strlen(dir) + strlen(name) + strlen(ext) + 2;
    char *p = weft__malloc(len);
    if (p != NULL)
        snprintf(p, len, "%s/%s%s", dir, name, ext);
    return p;
}

/* Adds the plugin base (NAME) of dir if it is not listed yet. */
static int add_base(weft_plugin_list_t *l, const char *dir, const char *base, size_t blen)
{
    char *name = weft__strndup(base, blen);
    if (name == NULL)
        return WEFT_ENOMEM;
    if (weft_plugin_list_find(l, name) != (size_t)-1) {
        weft__free(name);
        return 0;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        entry_t *grown = weft__realloc(l->e, cap * sizeof(*grown));
        if (grown == NULL) {
            weft__free(name);
            return WEFT_ENOMEM;
        }
        l->e = grown;
        l->cap = cap;
    }
    entry_t e = {name, NULL, join(dir, name, ".so"), NULL};
    char *sidecar = join(dir, name, ".plugin");
    if (e.path == NULL || sidecar == NULL) {
        weft__free(sidecar);
        weft__free(e.path);
        weft__free(name);
        return WEFT_ENOMEM;
    }
    weft_config_error_t ce;
    int rc = 0;
    weft_config_t *c = weft_config_load(sidecar, &ce, &rc);
    char note[600] = "";
    if (c != NULL) {
        const char *d = weft_config_get(c, "plugin", "description");
        e.description = weft__strdup(d != NULL ? d : "");
        const char *n = weft_config_get(c, "plugin", "name");
        if (n != NULL && strcmp(n, name) != 0)
            snprintf(note, sizeof(note), "its sidecar names '%s', not '%s'", n, name);
        else if (access(e.path, F_OK) != 0)
            snprintf(note, sizeof(note), "no %s.so beside its sidecar", name);
        weft_config_free(c);
    } else {
        e.description = weft__strdup("");
        if (rc == WEFT_ENOENT)
            snprintf(note, sizeof(note), "no sidecar %s.plugin: not described", name);
        else
            weft_config_error_format(&ce, note, sizeof(note));
    }
    if (note[0] != '\0')
        e.note = weft__strdup(note);
    weft__free(sidecar);
    if (e.description == NULL || (note[0] != '\0' && e.note == NULL)) {
        weft__free(e.description);
        weft__free(e.path);
        weft__free(e.name);
        return WEFT_ENOMEM;
    }
    l->e[l->n++] = e;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const entry_t *)a)->name, ((const entry_t *)b)->name);
}

static bool ends_with(const char *s, size_t len, const char *ext, size_t *base)
{
    size_t el = strlen(ext);
    if (len <= el || strcmp(s + len - el, ext) != 0)
        return false;
    *base = len - el;
    return true;
}

weft_plugin_list_t *weft_plugin_list_new(const char *dir, int *err)
{
    int rc = 0;
    weft_plugin_list_t *l = weft__calloc(1, sizeof(*l));
    DIR *d = NULL;
    if (l == NULL) {
        rc = WEFT_ENOMEM;
        goto out;
    }
    d = opendir(dir);
    if (d == NULL) {
        rc = -errno;
        goto out;
    }
    for (struct dirent *de; rc == 0 && (de = readdir(d)) != NULL;) {
        size_t len = strlen(de->d_name), base;
        if (de->d_name[0] == '.')
            continue;
        if (ends_with(de->d_name, len, ".plugin", &base) ||
            ends_with(de->d_name, len, ".so", &base))
            rc = add_base(l, dir, de->d_name, base);
    }
    if (l->n > 1)
        qsort(l->e, l->n, sizeof(*l->e), by_name);
out:
    if (d != NULL)
        closedir(d);
    if (rc != 0) {
        weft_plugin_list_free(l);
        l = NULL;
    }
    if (err != NULL)
        *err = rc;
    return l;
}

size_t weft_plugin_list_count(const weft_plugin_list_t *l)
{
    return l->n;
}

const char *weft_plugin_list_name(const weft_plugin_list_t *l, size_t i)
{
    return i < l->n ? l->e[i].name : NULL;
}

const char *weft_plugin_list_description(const weft_plugin_list_t *l, size_t i)
{
    return i < l->n ? l->e[i].description : NULL;
}

const char *weft_plugin_list_path(const weft_plugin_list_t *l, size_t i)
{
    return i < l->n ? l->e[i].path : NULL;
}

const char *weft_plugin_list_note(const weft_plugin_list_t *l, size_t i)
{
    return i < l->n ? l->e[i].note : NULL;
}

/* ---------------------------------------------------------------- loading */

static weft_plugin_handle_t *refuse(void *dl, const char *path, int code, const char *why, int *err)
{
    weft_log_field_t f[] = {{"path", path}};
    weft_log_with(WEFT_LOG_ERROR, "plugin", f, 1, "cannot use plugin %s: %s", path, why);
    if (dl != NULL)
        dlclose(dl);
    if (err != NULL)
        *err = code;
    return NULL;
}

weft_plugin_handle_t *weft_plugin_open(const char *path, int *err)
{
    if (path == NULL)
        return refuse(NULL, "(null)", WEFT_EINVAL, "no path", err);
    if (access(path, F_OK) != 0)
        return refuse(NULL, path, WEFT_ENOENT, "no such file", err);
    /* A path without '/' would make dlopen search the library path instead. */
    char local[4096];
    const char *open_path = path;
    if (strchr(path, '/') == NULL) {
        snprintf(local, sizeof(local), "./%s", path);
        open_path = local;
    }
    void *dl = dlopen(open_path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        const char *why = dlerror();
        return refuse(NULL, path, WEFT_EPLUGIN, why != NULL ? why : "dlopen failed", err);
    }
    const weft_plugin_t *desc = dlsym(dl, WEFT_PLUGIN_SYMBOL);
    if (desc == NULL)
        return refuse(dl, path, WEFT_EPLUGIN,
                      "it exports no '" WEFT_PLUGIN_SYMBOL "' descriptor (WEFT_PLUGIN_DEFINE)",
                      err);
    if (desc->abi != WEFT_PLUGIN_ABI) {
        char why[128];
        snprintf(why, sizeof(why), "it was built for plugin ABI %lu, this weft loads ABI %d",
                 (unsigned long)desc->abi, WEFT_PLUGIN_ABI);
        return refuse(dl, path, WEFT_EVERSION, why, err);
    }
    if (desc->app.name == NULL || desc->app.make_service == NULL)
        return refuse(dl, path, WEFT_EPLUGIN, "its descriptor has no name or no make_service", err);
    weft_plugin_handle_t *h = weft__calloc(1, sizeof(*h));
    if (h == NULL)
        return refuse(dl, path, WEFT_ENOMEM, "out of memory", err);
    h->dl = dl;
    h->desc = desc;
    if (err != NULL)
        *err = 0;
    return h;
}

const weft_plugin_t *weft_plugin_descriptor(const weft_plugin_handle_t *h)
{
    return h->desc;
}

void weft_plugin_close(weft_plugin_handle_t *h)
{
    if (h == NULL)
        return;
    dlclose(h->dl);
    weft__free(h);
}
