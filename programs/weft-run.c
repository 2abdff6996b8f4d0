/* SPDX-License-Identifier: MIT */
/* weft-run: lists the plugins of a directory, or runs one as a service (twistd <plugin>). */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

#define DEFAULT_DIR "plugins"

static void usage(FILE *out, const char *argv0)
{
    fprintf(out,
            "usage: %s [--plugin-dir DIR] --list\n"
            "       %s [--plugin-dir DIR] PLUGIN [options]   (PLUGIN --help lists them)\n"
            "       %s --describe FILE.so                  (prints its sidecar)\n"
            "Plugins are DIR/NAME.so with a sidecar DIR/NAME.plugin; DIR is --plugin-dir,\n"
            "else $WEFT_PLUGIN_DIR, else ./" DEFAULT_DIR ". Listing reads only the sidecars.\n"
            "Exit codes: 0 clean stop, 1 could not load or start, 2 usage, 3 unclean stop.\n",
            argv0, argv0, argv0);
}

static int list(const char *dir)
{
    int err = 0;
    weft_plugin_list_t *l = weft_plugin_list_new(dir, &err);
    if (l == NULL) {
        fprintf(stderr, "weft-run: cannot list plugins in %s: %s\n", dir, weft_strerror(err));
        return WEFT_APP_EXIT_FAILURE;
    }
    for (size_t i = 0; i < weft_plugin_list_count(l); i++) {
        const char *desc = weft_plugin_list_description(l, i);
        const char *note = weft_plugin_list_note(l, i);
        printf("%-20s %s", weft_plugin_list_name(l, i), desc);
        if (note != NULL)
            printf("%s(%s)", desc[0] ? " " : "", note);
        printf("\n");
    }
    weft_plugin_list_free(l);
    return WEFT_APP_EXIT_OK;
}

static int describe(const char *path)
{
    int err = 0;
    weft_plugin_handle_t *h = weft_plugin_open(path, &err);
    if (h == NULL)
        return WEFT_APP_EXIT_FAILURE;
    const weft_app_t *app = &weft_plugin_descriptor(h)->app;
    printf("[plugin]\nname = %s\ndescription = %s\n", app->name,
           app->description ? app->description : "");
    weft_plugin_close(h);
    return WEFT_APP_EXIT_OK;
}

static int run(const char *dir, const char *name, int argc, char **argv)
{
    int err = 0;
    weft_plugin_list_t *l = weft_plugin_list_new(dir, &err);
    if (l == NULL) {
        fprintf(stderr, "weft-run: cannot list plugins in %s: %s\n", dir, weft_strerror(err));
        return WEFT_APP_EXIT_FAILURE;
    }
    size_t i = weft_plugin_list_find(l, name);
    if (i == (size_t)-1) {
        fprintf(stderr, "weft-run: no plugin '%s' in %s (weft-run --list shows them)\n", name, dir);
        weft_plugin_list_free(l);
        return WEFT_APP_EXIT_USAGE;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s", weft_plugin_list_path(l, i));
    weft_plugin_list_free(l);
    weft_plugin_handle_t *h = weft_plugin_open(path, &err);
    if (h == NULL) {
        fprintf(stderr, "weft-run: plugin '%s' not loaded: %s\n", name, weft_strerror(err));
        return WEFT_APP_EXIT_FAILURE;
    }
    const weft_app_t *app = &weft_plugin_descriptor(h)->app;
    if (strcmp(app->name, name) != 0) {
        fprintf(stderr, "weft-run: %s.so describes itself as '%s', not '%s'\n", name, app->name,
                name);
        weft_plugin_close(h);
        return WEFT_APP_EXIT_FAILURE;
    }
    /* Never unloaded once run: after an unclean stop a pool thread may still run the plugin's
     * code (a job past the deadline), and unmapping it under that thread would crash the exit.
     * RTLD_NODELETE on the loaded library pins it; closing the handle then frees only ours. */
    bool pinned = dlopen(path, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) != NULL;
    int code = weft_app_run(app, argc, argv);
    if (pinned)
        weft_plugin_close(h);
    return code;
}

int main(int argc, char **argv)
{
    const char *dir = getenv("WEFT_PLUGIN_DIR");
    if (dir == NULL || dir[0] == '\0')
        dir = DEFAULT_DIR;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--plugin-dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strncmp(argv[i], "--plugin-dir=", 13) == 0) {
            dir = argv[i] + 13;
        } else if (strcmp(argv[i], "--list") == 0) {
            return list(dir);
        } else if (strcmp(argv[i], "--describe") == 0 && i + 1 < argc) {
            return describe(argv[i + 1]);
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout, argv[0]);
            return WEFT_APP_EXIT_OK;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "weft-run: unknown argument '%s'\n", argv[i]);
            usage(stderr, argv[0]);
            return WEFT_APP_EXIT_USAGE;
        } else {
            break;
        }
    }
    if (i == argc) {
        usage(stderr, argv[0]);
        return WEFT_APP_EXIT_USAGE;
    }
    /* The plugin sees its own name as argv[0] and every argument after it. */
    return run(dir, argv[i], argc - i, argv + i);
}
