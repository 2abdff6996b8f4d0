/* SPDX-License-Identifier: MIT */
/* doc/twisted-map.md answers for every name of the Twisted inventory (TWISTED.md, in the
 * project's shared notes beside the tree, or $WEFT_TWISTED_MD): mk/check-twisted-map.sh on
 * the real files, and on planted copies missing a name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "tap.h"

static char dir[256];
static const char *top;
static char inventory[1024];
static char out[16384];

#define run(...) t_sh(out, sizeof(out), __VA_ARGS__)

static void test_real_map(void)
{
    check_int(run("sh %s/mk/check-twisted-map.sh %s %s/doc/twisted-map.md", top, inventory, top),
              ==, 0);
    check_str(out, "");
}

static void test_names_found(void)
{
    /* The inventory's tables yield the names, without arguments or object prefixes. */
    check_int(run("sh %s/mk/check-twisted-map.sh --list %s", top, inventory), ==, 0);
    check(strstr(out, "\ndeferToThread\n") != NULL);
    check(strstr(out, "\nrunInteraction\n") != NULL);
    check(strstr(out, "\ncallFromThread\n") != NULL);
    check(strstr(out, "\nLineReceiver\n") != NULL);
    check(strstr(out, "(") == NULL);
}

static void test_missing_name(void)
{
    /* The map without its blockingCallFromThread row fails and names it. */
    check_int(run("grep -v blockingCallFromThread %s/doc/twisted-map.md > %s/map.md", top, dir), ==,
              0);
    check_int(run("sh %s/mk/check-twisted-map.sh %s %s/map.md", top, inventory, dir), ==, 1);
    check_str(out, "blockingCallFromThread\n");
}

static void test_new_inventory_name(void)
{
    /* A name added to the inventory's tables fails until the map has it. */
    check_int(run("cp %s %s/inv.md && printf '\\n## 3. more\\n\\n| Feature | x |\\n|---|---|\\n"
                  "| `reactor.spawnWidget(n)` | y |\\n' >> %s/inv.md",
                  inventory, dir, dir),
              ==, 0);
    check_int(run("sh %s/mk/check-twisted-map.sh %s/inv.md %s/doc/twisted-map.md", top, dir, top),
              ==, 1);
    check_str(out, "spawnWidget\n");
}

static void test_prose_sections_ignored(void)
{
    /* Names in the pain points (section 8) and later are prose, not inventory rows. */
    check_int(run("cp %s %s/inv2.md && printf '\\n## 8. pains\\n\\n| Feature | x |\\n|---|---|\\n"
                  "| `reactor.spawnWidget(n)` | y |\\n' >> %s/inv2.md",
                  inventory, dir, dir),
              ==, 0);
    check_int(run("sh %s/mk/check-twisted-map.sh %s/inv2.md %s/doc/twisted-map.md", top, dir, top),
              ==, 0);
}

int main(void)
{
    top = getenv("WEFT_TOP");
    if (top == NULL)
        skip_all("WEFT_TOP is not set: run through make check");
    const char *env = getenv("WEFT_TWISTED_MD");
    if (env != NULL && env[0] != '\0')
        snprintf(inventory, sizeof(inventory), "%s", env);
    else
        snprintf(inventory, sizeof(inventory), "%s/../shared/TWISTED.md", top);
    if (access(inventory, R_OK) != 0)
        skip_all("no Twisted inventory at %s (set WEFT_TWISTED_MD)", inventory);
    snprintf(dir, sizeof(dir), "/tmp/weft-tmap-XXXXXX");
    if (mkdtemp(dir) == NULL)
        bail_out("mkdtemp failed");
    TEST(test_real_map(), "every name of the Twisted inventory has a row in doc/twisted-map.md");
    TEST(test_names_found(), "the inventory's names are read without arguments or prefixes");
    TEST(test_missing_name(), "a map missing a name fails and names it");
    TEST(test_new_inventory_name(), "a name new in the inventory fails until the map has it");
    TEST(test_prose_sections_ignored(), "tables after section 7 are not inventory");
    run("rm -rf %s", dir);
    return done_testing();
}
