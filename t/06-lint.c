/* SPDX-License-Identifier: MIT */
/* The include arrows of DESIGN.md, as `make lint` checks them (mk/check-arrows.sh), and the
 * API reference's completeness (mk/check-api-docs.sh): planted violations in a scratch tree
 * fail, the real tree passes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "helpers.h"
#include "tap.h"

static char dir[256];
static const char *top;
static char out[8192];

#define run(...) t_sh(out, sizeof(out), __VA_ARGS__)

/* A scratch tree with one public header per room and nothing wrong in it. */
static void fresh_tree(void)
{
    run("rm -rf %s && mkdir -p %s/common %s/reactor/net %s/reactor/web %s/threadpool %s/bridge",
        dir, dir, dir, dir, dir, dir);
    run("cd %s && touch common/error.h reactor/deferred.h reactor/net/tcp.h reactor/web/site.h "
        "threadpool/threadpool.h bridge/bridge.h",
        dir);
    run("cd %s && printf '#include <weft/error.h>\\n#include <uv.h>\\n#include \"deferred.h\"\\n' "
        "> reactor/reactor.c",
        dir);
    run("cd %s && printf '#include <weft/deferred.h>\\n#include <weft/threadpool.h>\\n"
        "#include <uv.h>\\n' > bridge/bridge.c",
        dir);
    run("cd %s && printf '#include \"../deferred.h\"\\n#include <weft/error.h>\\n' > "
        "reactor/net/tcp.c",
        dir);
}

static void plant(const char *file, const char *include)
{
    run("printf '#include <stdio.h>\\n%s\\n' > %s/%s", include, dir, file);
}

static int arrows(void)
{
    return run("sh %s/mk/check-arrows.sh %s", top, dir);
}

static void test_clean_tree(void)
{
    fresh_tree();
    check_int(arrows(), ==, 0);
    check_str(out, "");
}

static void test_reactor_threadpool(void)
{
    fresh_tree();
    plant("reactor/timer.c", "#include \"../threadpool/threadpool.h\"");
    check_int(arrows(), ==, 1);
    check(strstr(out, "reactor/timer.c:2: reactor must not include threadpool") != NULL);
}

static void test_reactor_bridge_by_name(void)
{
    fresh_tree();
    plant("reactor/deferred.c", "#include <weft/bridge.h>");
    check_int(arrows(), ==, 1);
    check(strstr(out, "reactor/deferred.c:2: reactor must not include bridge") != NULL);
}

static void test_threadpool_uv(void)
{
    fresh_tree();
    plant("threadpool/worker.c", "#include <uv.h>");
    check_int(arrows(), ==, 1);
    check(strstr(out, "threadpool/worker.c:2: threadpool must not include uv") != NULL);
}

static void test_threadpool_reactor(void)
{
    fresh_tree();
    plant("threadpool/queue-internal.h", "#  include \"../reactor/deferred.h\"");
    check_int(arrows(), ==, 1);
    check(strstr(out, "threadpool must not include reactor") != NULL);
}

static void test_common_room(void)
{
    fresh_tree();
    plant("common/log.c", "#include <weft/deferred.h>");
    check_int(arrows(), ==, 1);
    check(strstr(out, "common/log.c:2: common must not include reactor") != NULL);
}

static void test_layers(void)
{
    fresh_tree();
    plant("reactor/net/line.c", "#include \"../web/site.h\"");
    check_int(arrows(), ==, 1);
    check(strstr(out, "reactor/net must not include reactor/web") != NULL);
    fresh_tree();
    plant("reactor/deferred.c", "#include \"net/tcp.h\"");
    check_int(arrows(), ==, 1);
    check(strstr(out, "reactor must not include reactor/net") != NULL);
}

static void test_real_tree(void)
{
    check_int(run("sh %s/mk/check-arrows.sh %s", top, top), ==, 0);
    check_str(out, "");
}

static void test_lint_runs_arrows(void)
{
    check_int(run("grep -q 'mk/check-arrows.sh' %s/mk/lint.sh", top), ==, 0);
}

/* A scratch tree whose one public header exports a function and a type descriptor, both with
 * an entry in doc/api. */
static void api_tree(void)
{
    run("rm -rf %s && mkdir -p %s/reactor/net %s/doc/api", dir, dir, dir);
    run("cd %s && printf 'WEFT_EXPORT WEFT_NODISCARD int\\nweft_thing_open(int a,\\n"
        "    int b) WEFT_PRINTF(1, 2);\\nWEFT_EXPORT extern const int weft_thing_type;\\n' "
        "> reactor/net/thing.h",
        dir);
    run("cd %s && printf '# thing\\n\\n`weft_thing_open(a, b)` opens; `weft_thing_type`.\\n' "
        "> doc/api/thing.md",
        dir);
}

static int api_docs(void)
{
    return run("sh %s/mk/check-api-docs.sh %s", top, dir);
}

static void test_api_documented(void)
{
    api_tree();
    check_int(api_docs(), ==, 0);
    check_str(out, "");
}

static void test_api_new_export(void)
{
    api_tree();
    run("printf 'WEFT_EXPORT void weft_thing_close(int a);\\n' >> %s/reactor/net/thing.h", dir);
    check_int(api_docs(), ==, 1);
    check(strstr(out, "reactor/net/thing.h: weft_thing_close has no entry in doc/api") != NULL);
}

static void test_api_word_not_enough(void)
{
    /* A mention outside backticks, or in another doc/ page, is not an entry. */
    api_tree();
    run("printf 'WEFT_EXPORT void weft_thing_close(int a);\\n' >> %s/reactor/net/thing.h", dir);
    run("printf 'weft_thing_close closes.\\n' >> %s/doc/api/thing.md", dir);
    run("printf '`weft_thing_close()`\\n' > %s/doc/guide.md", dir);
    check_int(api_docs(), ==, 1);
    check(strstr(out, "weft_thing_close has no entry") != NULL);
}

static void test_api_private_and_macros(void)
{
    /* -internal.h headers and macro bodies declare nothing public. */
    api_tree();
    run("printf 'WEFT_EXPORT void weft_thing_secret(void);\\n' > %s/reactor/thing-internal.h", dir);
    run("printf '#define WEFT_THING_DEFINE \\\\\\n    WEFT_EXPORT int weft_thing_sym;\\n' "
        ">> %s/reactor/net/thing.h",
        dir);
    check_int(api_docs(), ==, 0);
    check_str(out, "");
}

static void test_api_real_tree(void)
{
    check_int(run("sh %s/mk/check-api-docs.sh %s", top, top), ==, 0);
    check_str(out, "");
}

static void test_lint_runs_api_docs(void)
{
    check_int(run("grep -q 'mk/check-api-docs.sh' %s/mk/lint.sh", top), ==, 0);
}

int main(void)
{
    top = getenv("WEFT_TOP");
    if (top == NULL)
        skip_all("WEFT_TOP is not set: run through make check");
    snprintf(dir, sizeof(dir), "/tmp/weft-lint-XXXXXX");
    if (mkdtemp(dir) == NULL)
        bail_out("mkdtemp failed");
    TEST(test_clean_tree(), "a tree that keeps the arrows passes and prints nothing");
    TEST(test_reactor_threadpool(), "reactor including ../threadpool/threadpool.h fails");
    TEST(test_reactor_bridge_by_name(), "reactor including <weft/bridge.h> fails");
    TEST(test_threadpool_uv(), "threadpool including uv.h fails");
    TEST(test_threadpool_reactor(), "threadpool including a reactor header fails");
    TEST(test_common_room(), "common including a room's header fails");
    TEST(test_layers(), "a lower reactor layer including a higher one fails");
    TEST(test_real_tree(), "weft's own tree keeps every arrow");
    TEST(test_lint_runs_arrows(), "make lint runs the arrow check");
    TEST(test_api_documented(), "public names with an entry in doc/api pass");
    TEST(test_api_new_export(), "a new WEFT_EXPORT function without a doc/api entry fails");
    TEST(test_api_word_not_enough(),
         "a bare mention, or one outside doc/api, is not an entry and fails");
    TEST(test_api_private_and_macros(), "internal headers and macro bodies are not checked");
    TEST(test_api_real_tree(), "every public name of weft's own tree has a doc/api entry");
    TEST(test_lint_runs_api_docs(), "make lint runs the doc/api check");
    run("rm -rf %s", dir);
    return done_testing();
}
