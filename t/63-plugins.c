/* SPDX-License-Identifier: MIT */
/* Plugins: discovery from sidecars, listing, running one through weft-run, and every refusal
 * (a missing symbol, another ABI, a failing make_service, a file that is no shared object). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/error.h>
#include <weft/log.h>
#include <weft/plugin.h>

#include "helpers.h"
#include "tap.h"

static char out[16384];
static char run_path[512];
static char plugins[512];
static char scratch[64];

#define run(...) t_sh(out, sizeof(out), __VA_ARGS__)

static bool has(const char *text)
{
    if (strstr(out, text) != NULL)
        return true;
    diag("output lacks \"%s\"; it is:\n%s", text, out);
    return false;
}

static void test_list(void)
{
    check_int(run("%s --plugin-dir %s --list", run_path, plugins), ==, 0);
    check(has("hello                says hello every interval\n"));
    check(has("failing-make         its make_service fails\n"));
    check(has("no-symbol            exports no descriptor\n"));
    check(has("stuck-job            a pool job that never returns\n"));
    check(has("wrong-version        built for another plugin ABI\n"));
}

static void test_list_is_lazy(void)
{
    /* A garbage shared object with a good sidecar, and one with no sidecar: listing reads the
     * sidecars only, so neither is loaded. */
    run("printf 'not an ELF file' > %s/garbage.so && printf '[plugin]\\ndescription = "
        "garbage inside\\n' > %s/garbage.plugin && cp %s/hello.so %s/bare.so",
        scratch, scratch, plugins, scratch);
    check_int(run("WEFT_PLUGIN_DIR=%s %s --list", scratch, run_path), ==, 0);
    check(has("bare                 (no sidecar bare.plugin: not described)\n"));
    check(has("garbage              garbage inside\n"));
}

static void test_list_api(void)
{
    int err = 0;
    weft_plugin_list_t *l = weft_plugin_list_new(plugins, &err);
    if (!check(l != NULL))
        return;
    check_uint(weft_plugin_list_count(l), ==, 5);
    size_t i = weft_plugin_list_find(l, "hello");
    if (check(i != (size_t)-1)) {
        check_str(weft_plugin_list_description(l, i), "says hello every interval");
        check(strstr(weft_plugin_list_path(l, i), "/hello.so") != NULL);
        check_ptr(weft_plugin_list_note(l, i), ==, NULL);
    }
    check_str(weft_plugin_list_name(l, 0), "failing-make"); /* sorted */
    check_ptr(weft_plugin_list_name(l, 5), ==, NULL);
    check(weft_plugin_list_find(l, "nope") == (size_t)-1);
    weft_plugin_list_free(l);
    char missing[128];
    snprintf(missing, sizeof(missing), "%s/no-such-dir", scratch);
    check_ptr(weft_plugin_list_new(missing, &err), ==, NULL);
    check_err(err, WEFT_ENOENT);
}

static void test_run_example(void)
{
    int rc =
        run("%s --plugin-dir %s hello --interval 0.001 --count 3 --target tap", run_path, plugins);
    check_int(rc, ==, 0);
    check(has("hello, tap (1)\n"));
    check(has("hello, tap (3)\n"));
    check(strstr(out, "hello, tap (4)") == NULL);
    check(has("hello: services stopped"));
}

static void test_run_with_config(void)
{
    run("printf '[weft]\\nlog_format = plain\\n[hello]\\ngreeting = hi\\ncount = 1\\n"
        "interval = 0.001\\n' > %s/hello.conf",
        scratch);
    check_int(run("%s --plugin-dir %s hello -c %s/hello.conf", run_path, plugins, scratch), ==, 0);
    check(has("hi, world (1)\n"));
    check(has("weft[app] info: hello: services stopped"));
}

static void test_plugin_help(void)
{
    check_int(run("%s --plugin-dir %s hello --help", run_path, plugins), ==, 0);
    check(has("usage: hello [options]"));
    check(has("--target VALUE"));
    check(has("(default: world)"));
    check(has("--shutdown-deadline SECONDS"));
}

static void test_describe(void)
{
    check_int(run("%s --describe %s/hello.so", run_path, plugins), ==, 0);
    check_str(out, "[plugin]\nname = hello\ndescription = says hello every interval\n");
}

static void test_wrong_version(void)
{
    check_int(run("%s --plugin-dir %s wrong-version", run_path, plugins), ==, 1);
    check(has("it was built for plugin ABI 42, this weft loads ABI 1"));
    check(has("plugin 'wrong-version' not loaded"));
}

static void test_missing_symbol(void)
{
    check_int(run("%s --plugin-dir %s no-symbol", run_path, plugins), ==, 1);
    check(has("it exports no 'weft_plugin' descriptor"));
}

static void test_failing_make(void)
{
    check_int(run("%s --plugin-dir %s failing-make", run_path, plugins), ==, 1);
    check(has("failing-make: make_service failed: permission denied"));
}

static void test_garbage_file(void)
{
    check_int(run("WEFT_PLUGIN_DIR=%s %s garbage", scratch, run_path), ==, 1);
    check(has("cannot use plugin"));
    check(has("garbage.so"));
}

static void test_unknown_plugin(void)
{
    check_int(run("%s --plugin-dir %s nope", run_path, plugins), ==, 2);
    check(has("no plugin 'nope'"));
    check_int(run("%s --plugin-dir %s hello --no-such-flag 1", run_path, plugins), ==, 2);
    check(has("unknown option '--no-such-flag'"));
}

static void test_unclean_stop_keeps_plugin_loaded(void)
{
    /* A pool thread still runs the plugin's job while weft-run exits: unloading the plugin
     * under it would crash the process (139) in some runs instead of exiting 3. */
    int codes[3] = {0, 0, 0}; /* exit 3, another code, a signal */
    for (int i = 0; i < 40; i++) {
        /* Under TSan: the process leaves threads it could not join on purpose (that is the
         * unclean stop), which TSan would report as leaked threads and exit 66 for. */
        int rc = run("TSAN_OPTIONS=\"$TSAN_OPTIONS:report_thread_leaks=0\" %s --plugin-dir %s "
                     "stuck-job --shutdown-deadline 0.05",
                     run_path, plugins);
        codes[rc == WEFT_APP_EXIT_UNCLEAN ? 0 : rc >= 128 ? 2 : 1]++;
        if (rc != WEFT_APP_EXIT_UNCLEAN) {
            diag("run %d exited %d:\n%s", i, rc, out);
            break;
        }
    }
    check_int(codes[2], ==, 0);
    check_int(codes[1], ==, 0);
}

/* The same refusals through the library, in this process. */
static int refusals;

static void count_refusals(const weft_log_record_t *rec, void *arg)
{
    (void)arg;
    if (rec->level == WEFT_LOG_ERROR && strcmp(rec->component, "plugin") == 0)
        refusals++;
}

static void test_open_refusals(void)
{
    char path[600];
    int err = 0;
    refusals = 0;
    weft_log_set_sink(count_refusals, NULL);
    snprintf(path, sizeof(path), "%s/wrong-version.so", plugins);
    check_ptr(weft_plugin_open(path, &err), ==, NULL);
    check_err(err, WEFT_EVERSION);
    snprintf(path, sizeof(path), "%s/no-symbol.so", plugins);
    check_ptr(weft_plugin_open(path, &err), ==, NULL);
    check_err(err, WEFT_EPLUGIN);
    snprintf(path, sizeof(path), "%s/garbage.so", scratch);
    check_ptr(weft_plugin_open(path, &err), ==, NULL);
    check_err(err, WEFT_EPLUGIN);
    snprintf(path, sizeof(path), "%s/absent.so", scratch);
    check_ptr(weft_plugin_open(path, &err), ==, NULL);
    check_err(err, WEFT_ENOENT);
    weft_log_set_sink(NULL, NULL);
    check_int(refusals, ==, 4);
}

int main(void)
{
    const char *top = getenv("WEFT_TOP");
    const char *build = getenv("WEFT_BUILD");
    if (top == NULL || build == NULL)
        skip_all("run through make check (WEFT_TOP and WEFT_BUILD unset)");
    snprintf(run_path, sizeof(run_path), "%s/%s/weft-run", top, build);
    snprintf(plugins, sizeof(plugins), "%s/%s/plugins", top, build);
    snprintf(scratch, sizeof(scratch), "/tmp/weft-t63-XXXXXX");
    if (mkdtemp(scratch) == NULL)
        bail_out("mkdtemp failed");
    TEST(test_list(), "weft-run --list shows every plugin of the directory with its description");
    TEST(test_list_is_lazy(), "listing reads sidecars only: a garbage shared object is listed, "
                              "one without a sidecar gets a note");
    TEST(test_list_api(), "the plugin list is sorted, found by name, and refuses a missing "
                          "directory with WEFT_ENOENT");
    TEST(test_run_example(), "the example plugin runs through weft-run with its options and "
                             "exits 0 after a clean stop");
    TEST(test_run_with_config(), "a plugin's options and log settings come from a config file");
    TEST(test_plugin_help(), "PLUGIN --help lists the common options and the plugin's own");
    TEST(test_describe(), "--describe prints a plugin's sidecar from its descriptor");
    TEST(test_wrong_version(), "a plugin built for another ABI is refused with a clear message "
                               "and exit code 1");
    TEST(test_missing_symbol(),
         "a shared object without the descriptor symbol is refused with exit code 1");
    TEST(test_failing_make(), "a plugin whose make_service fails exits 1 naming the error");
    TEST(test_garbage_file(), "a file that is no shared object is refused, never a crash");
    TEST(test_unknown_plugin(), "an unknown plugin or plugin option exits 2");
    TEST(test_unclean_stop_keeps_plugin_loaded(),
         "weft-run exits 3, never crashes, when a plugin's pool job outlives the shutdown");
    TEST(test_open_refusals(), "weft_plugin_open returns WEFT_EVERSION, WEFT_EPLUGIN or "
                               "WEFT_ENOENT and logs each refusal");
    run("rm -rf %s", scratch);
    return done_testing();
}
