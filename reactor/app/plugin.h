/* SPDX-License-Identifier: MIT */
/* Plugins: shared objects exporting one versioned descriptor, found lazily through sidecars. */
#ifndef WEFT_REACTOR_APP_PLUGIN_H
#define WEFT_REACTOR_APP_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include <weft/app.h>
#include <weft/compiler.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A plugin is a shared object NAME.so that exports one descriptor, `weft_plugin`, plus a
 * sidecar NAME.plugin beside it in the config file format:
 *
 *     [plugin]
 *     name = hello
 *     description = says hello every interval
 *
 * Listing a directory reads only the sidecars: no plugin code is loaded or run until one is
 * chosen (twistd's dropin cache, as a file the plugin ships). Opening the chosen one dlopens
 * it and checks its descriptor's ABI version before reading anything else.
 *
 * A plugin resolves weft's functions from the program that loads it (weft-run exports them):
 * build it with `cc -shared -fPIC $(pkg-config --cflags weft) -o NAME.so NAME.c`, without
 * -lweft, so that one copy of weft runs in the process.
 */

/* The ABI version this weft loads. A descriptor with another value is refused. */
#define WEFT_PLUGIN_ABI 1

/* The descriptor's symbol name. */
#define WEFT_PLUGIN_SYMBOL "weft_plugin"

/* The descriptor. abi comes first so that any version can be checked before the rest. */
typedef struct {
    uint32_t abi;   /* WEFT_PLUGIN_ABI */
    weft_app_t app; /* name, description, options, make_service, reload, arg */
} weft_plugin_t;

/* Defines the descriptor in a plugin's source, e.g.
 *     WEFT_PLUGIN_DEFINE(.name = "hello", .description = "...", .make_service = make);  */
#define WEFT_PLUGIN_DEFINE(...)                                                                    \
    WEFT_EXPORT extern const weft_plugin_t weft_plugin;                                            \
    WEFT_EXPORT const weft_plugin_t weft_plugin = {.abi = WEFT_PLUGIN_ABI, .app = {__VA_ARGS__}}

/* ---------------------------------------------------------------- discovery (sidecars only) */

typedef struct weft_plugin_list_s weft_plugin_list_t;

/*
 * Lists the plugins of directory dir (borrowed) from their sidecars, sorted by name, without
 * loading any: every NAME.plugin, and every NAME.so that has none (listed with a note). A
 * sidecar that cannot be read is listed with its error as the note. Returns an owned list
 * (weft_plugin_list_free), or NULL with *err (may be NULL): the system's error for the
 * directory (WEFT_ENOENT ...); WEFT_ENOMEM. Thread: any.
 */
WEFT_EXPORT WEFT_NODISCARD weft_plugin_list_t *weft_plugin_list_new(const char *dir, int *err);

/* Releases l. NULL does nothing. Thread: any. */
WEFT_EXPORT void weft_plugin_list_free(weft_plugin_list_t *l);

/* The number of plugins listed. Thread: any. */
WEFT_EXPORT size_t weft_plugin_list_count(const weft_plugin_list_t *l);

/*
 * The i-th plugin's name, its description (from the sidecar; "" if none), the path of its
 * shared object, and a note saying why it may not run (NULL when its sidecar is fine). The
 * strings are borrowed from l; NULL past the end. Thread: any.
 */
WEFT_EXPORT const char *weft_plugin_list_name(const weft_plugin_list_t *l, size_t i);
WEFT_EXPORT const char *weft_plugin_list_description(const weft_plugin_list_t *l, size_t i);
WEFT_EXPORT const char *weft_plugin_list_path(const weft_plugin_list_t *l, size_t i);
WEFT_EXPORT const char *weft_plugin_list_note(const weft_plugin_list_t *l, size_t i);

/* The index of the plugin named name, or (size_t)-1. Thread: any. */
WEFT_EXPORT size_t weft_plugin_list_find(const weft_plugin_list_t *l, const char *name);

/* ---------------------------------------------------------------- loading one */

typedef struct weft_plugin_handle_s weft_plugin_handle_t;

/*
 * Loads the shared object at path (borrowed) and checks its descriptor: the symbol exists,
 * its abi is WEFT_PLUGIN_ABI, and it has a name and a make_service. Every refusal is logged
 * (component "plugin", level error) with the path and the reason (dlerror's text for a file
 * that does not load). Returns an owned handle (weft_plugin_close), or NULL with *err (may be
 * NULL): WEFT_ENOENT if there is no such file; WEFT_EPLUGIN if it does not load or exports no
 * descriptor, or the descriptor lacks a name or make_service; WEFT_EVERSION for another ABI;
 * WEFT_ENOMEM. Thread: any.
 */
WEFT_EXPORT WEFT_NODISCARD weft_plugin_handle_t *weft_plugin_open(const char *path, int *err);

/* The descriptor of an open plugin, valid until weft_plugin_close. Thread: any. */
WEFT_EXPORT const weft_plugin_t *weft_plugin_descriptor(const weft_plugin_handle_t *h);

/* Unloads the plugin. Nothing made by it may outlive this (free its services first). NULL
 * does nothing. Thread: any. */
WEFT_EXPORT void weft_plugin_close(weft_plugin_handle_t *h);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REACTOR_APP_PLUGIN_H */
