/* SPDX-License-Identifier: MIT */
/* First-command behaviour: mk/deps.sh installs missing Debian packages as root and names the
 * exact apt-get command otherwise. dpkg-query, apt-get and the uid are stood in for. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "helpers.h"
#include "tap.h"

static char dir[256];
static const char *top;

static void write_script(const char *name, const char *body)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        bail_out("cannot write %s", path);
    fprintf(f, "#!/bin/sh\n%s", body);
    fclose(f);
    chmod(path, 0755);
}

static char out[8192];

#define run(...) t_sh(out, sizeof(out), __VA_ARGS__)

static const char *slurp(const char *name)
{
    static char buf[4096];
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    return f ? buf : NULL;
}

/* The environment that stands in for the system: packages listed in MISSING are absent. */
#define FAKE "WEFT_DEPS_DPKG_QUERY=%s/dpkg-query WEFT_DEPS_APT_GET=%s/apt-get WEFT_DEPS_UID=%d "

static void setup(void)
{
    /* dpkg-query -W -f='${Status}' PKG, as the real one answers it. */
    write_script("dpkg-query", "for p; do :; done\n"
                               "case \" $MISSING \" in *\" $p \"*) exit 1 ;; esac\n"
                               "printf 'install ok installed'\n");
    /* apt-get: records its arguments; fails `install` while APT_STALE is set and no update
     * has run, as apt-get does on a fresh machine with empty package lists. */
    char apt[1024];
    snprintf(apt, sizeof(apt),
             "echo \"$*\" >> %s/apt.log\n"
             "[ \"$1\" = update ] && { touch %s/updated; exit 0; }\n"
             "[ -n \"$APT_BROKEN\" ] && exit 100\n"
             "[ -n \"$APT_STALE\" ] && [ ! -e %s/updated ] && exit 100\n"
             "exit 0\n",
             dir, dir, dir);
    write_script("apt-get", apt);
}

static void reset(void)
{
    run("rm -f %s/apt.log %s/updated", dir, dir);
}

static void test_nothing_missing(void)
{
    reset();
    int rc = run(FAKE "MISSING= sh %s/mk/deps.sh gcc libuv1-dev", dir, dir, 1000, top);
    check_int(rc, ==, 0);
    check_str(out, "");
    check_ptr(slurp("apt.log"), ==, NULL);
}

static void test_non_root_names_command(void)
{
    reset();
    int rc = run(FAKE "MISSING='libuv1-dev pkg-config' sh %s/mk/deps.sh gcc pkg-config "
                      "libuv1-dev pkg-config",
                 dir, dir, 1000, top);
    check_int(rc, ==, 1);
    check_str(out, "weft: missing Debian packages: pkg-config libuv1-dev; install them with: "
                   "sudo apt-get install -y pkg-config libuv1-dev\n");
    check_ptr(slurp("apt.log"), ==, NULL);
}

static void test_root_installs(void)
{
    reset();
    int rc = run(FAKE "MISSING=libuv1-dev sh %s/mk/deps.sh gcc libuv1-dev", dir, dir, 0, top);
    check_int(rc, ==, 0);
    const char *log = slurp("apt.log");
    if (check(log != NULL))
        check_str(log, "install -y --no-install-recommends libuv1-dev\n");
    check(strstr(out, "installing missing Debian packages: libuv1-dev") != NULL);
}

static void test_root_updates_stale_lists(void)
{
    reset();
    int rc =
        run(FAKE "APT_STALE=1 MISSING=libuv1-dev sh %s/mk/deps.sh libuv1-dev", dir, dir, 0, top);
    check_int(rc, ==, 0);
    const char *log = slurp("apt.log");
    if (check(log != NULL))
        check_str(log, "install -y --no-install-recommends libuv1-dev\n"
                       "update\n"
                       "install -y --no-install-recommends libuv1-dev\n");
}

static void test_root_apt_failure(void)
{
    reset();
    int rc =
        run(FAKE "APT_BROKEN=1 MISSING=libuv1-dev sh %s/mk/deps.sh libuv1-dev", dir, dir, 0, top);
    check_int(rc, ==, 1);
    check(strstr(out, "weft: could not install: libuv1-dev") != NULL);
}

static void test_makefile_lists_build_deps(void)
{
    reset();
    /* Everything missing, not root: make names the whole build list and stops. */
    int rc = run("env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL " FAKE
                 "MISSING='gcc libc6-dev pkg-config libuv1-dev perl' %s -s -C %s deps-check "
                 "CC=gcc",
                 dir, dir, 1000, getenv("MAKE") ? getenv("MAKE") : "make", top);
    check_int(rc, !=, 0);
    check(strstr(out, "weft: missing Debian packages: gcc libc6-dev pkg-config libuv1-dev perl; "
                      "install them with: sudo apt-get install -y gcc libc6-dev pkg-config "
                      "libuv1-dev perl\n") != NULL);
}

int main(void)
{
    top = getenv("WEFT_TOP");
    if (top == NULL)
        skip_all("WEFT_TOP is not set: run through make check");
    snprintf(dir, sizeof(dir), "/tmp/weft-deps-XXXXXX");
    if (mkdtemp(dir) == NULL)
        bail_out("mkdtemp failed");
    setup();
    TEST(test_nothing_missing(), "with every package installed deps.sh says nothing");
    TEST(test_non_root_names_command(),
         "a missing package stops a non-root user with one line naming the apt-get command");
    TEST(test_root_installs(), "as root the missing packages are installed with apt-get");
    TEST(test_root_updates_stale_lists(),
         "as root a failed install runs apt-get update and tries again");
    TEST(test_root_apt_failure(), "as root an apt-get that keeps failing stops with a clear error");
    TEST(test_makefile_lists_build_deps(),
         "make check names libuv1-dev, pkg-config, the compiler and prove's perl");
    run("rm -rf %s", dir);
    return done_testing();
}
