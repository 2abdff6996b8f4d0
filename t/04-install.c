/* SPDX-License-Identifier: MIT */
/* `make install` into a temporary DESTDIR gives headers, both libraries and a weft.pc that a
 * program can build against with pkg-config, shared and static; `make uninstall` removes it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft/version.h>

#include "helpers.h"
#include "tap.h"

static char dest[256];
static char libdir[512];
static const char *top, *cc, *make, *pkg_config;

/* Runs a shell command; on failure what it printed is shown. */
#define sh(...) sh_checked(t_sh(out, sizeof(out), __VA_ARGS__))

static char out[8192];

static int sh_checked(int rc)
{
    if (rc != 0)
        diag("command failed (%d):\n%s", rc, out);
    return rc;
}

static bool exists(const char *rel)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof(path), "%s%s", dest, rel);
    if (lstat(path, &st) == 0)
        return true;
    diag("missing after install: %s", path);
    return false;
}

static char *slurp(const char *rel)
{
    static char buf[4096];
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dest, rel);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static const char program[] =
    "#include <stdio.h>\n"
    "#include <weft.h>\n"
    "int main(void)\n"
    "{\n"
    "    printf(\"weft %s\\n\", weft_version_string());\n"
    "    printf(\"%s: %s\\n\", weft_err_name(WEFT_EOVERLOAD), weft_strerror(WEFT_EOVERLOAD));\n"
    "    return weft_version() == WEFT_VERSION_HEX ? 0 : 1;\n"
    "}\n";

static void test_install_layout(void)
{
    /* A clean environment for the inner make: the outer one's MAKEFLAGS would carry its
     * variant (asan, tsan ...) into it. The installed library is the default variant. */
    /* t/90-examples installs from the same tree at the same time: one make at a time. */
    char lock[1024];
    snprintf(lock, sizeof(lock), "%s/build/install.lock", top);
    int lfd = open(lock, O_RDWR | O_CREAT, 0644);
    if (lfd >= 0 && flock(lfd, LOCK_EX) != 0)
        diag("cannot lock %s", lock);
    int rc = sh("env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL %s -C %s install VARIANT=default "
                "CC='%s' DESTDIR=%s PREFIX=/usr/local",
                make, top, cc, dest);
    if (lfd >= 0)
        close(lfd);
    if (!check_int(rc, ==, 0))
        return;
    char so[64];
    snprintf(so, sizeof(so), "/usr/local/lib/libweft.so.%d.%d.%d", WEFT_VERSION_MAJOR,
             WEFT_VERSION_MINOR, WEFT_VERSION_PATCH);
    check(exists("/usr/local/include/weft.h"));
    check(exists("/usr/local/include/weft/error.h"));
    check(exists("/usr/local/include/weft/version.h"));
    check(exists("/usr/local/include/weft/log.h"));
    check(exists("/usr/local/lib/libweft.a"));
    check(exists(so));
    check(exists("/usr/local/lib/libweft.so"));
    check(exists("/usr/local/lib/pkgconfig/weft.pc"));
    check(exists("/usr/local/bin/weft-info"));
    char soname[512];
    snprintf(soname, sizeof(soname), "%s/usr/local/lib/libweft.so.%d", dest, WEFT_VERSION_MAJOR);
    char target[256] = {0};
    check_int(readlink(soname, target, sizeof(target) - 1), >, 0);
    check_str(target, so + strlen("/usr/local/lib/"));
    check_int(
        sh("readelf -d %s%s | grep -q 'SONAME.*\\[libweft.so.%d\\]'", dest, so, WEFT_VERSION_MAJOR),
        ==, 0);
    const char *pc = slurp("usr/local/lib/pkgconfig/weft.pc");
    if (check(pc != NULL)) {
        check(strstr(pc, "Requires: libuv") != NULL);
        check(strstr(pc, "Libs: -L${libdir} -lweft") != NULL);
        check(strstr(pc, "libdir=/usr/local/lib") != NULL);
    }
}

static void write_program(void)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/prog.c", dest);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        bail_out("cannot write %s", path);
    fputs(program, f);
    fclose(f);
}

#define PKG "PKG_CONFIG_PATH=%s/usr/local/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=%s %s"

static void test_shared(void)
{
    write_program();
    int rc = sh("cd %s && %s -Wall -Werror prog.c -o prog-shared $(" PKG " --cflags --libs weft)",
                dest, cc, dest, dest, pkg_config);
    if (!check_int(rc, ==, 0))
        return;
    check_int(sh("readelf -d %s/prog-shared | grep -q 'NEEDED.*\\[libweft.so.%d\\]'", dest,
                 WEFT_VERSION_MAJOR),
              ==, 0);
    check_int(sh("LD_LIBRARY_PATH=%s %s/prog-shared > %s/out", libdir, dest, dest), ==, 0);
    char want[128];
    snprintf(want, sizeof(want), "weft %s\nWEFT_EOVERLOAD: overloaded: the queue is at its limit\n",
             weft_version_string());
    check_str(slurp("out"), want);
}

static void test_static(void)
{
    write_program();
    /* -l:libweft.a picks the archive even though libweft.so sits beside it. */
    int rc = sh("cd %s && %s -Wall -Werror prog.c -o prog-static $(" PKG " --cflags weft) "
                "$(" PKG " --static --libs weft | sed 's/-lweft\\b/-l:libweft.a/')",
                dest, cc, dest, dest, pkg_config, dest, dest, pkg_config);
    if (!check_int(rc, ==, 0))
        return;
    check_int(sh("! readelf -d %s/prog-static | grep -q 'NEEDED.*libweft'", dest), ==, 0);
    check_int(sh("%s/prog-static > %s/out", dest, dest), ==, 0);
    char want[128];
    snprintf(want, sizeof(want), "weft %s\nWEFT_EOVERLOAD: overloaded: the queue is at its limit\n",
             weft_version_string());
    check_str(slurp("out"), want);
}

static void test_uninstall(void)
{
    int rc = sh("env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL %s -C %s uninstall VARIANT=default "
                "CC='%s' DESTDIR=%s PREFIX=/usr/local",
                make, top, cc, dest);
    if (!check_int(rc, ==, 0))
        return;
    check_int(sh("test -z \"$(find %s/usr -name '*weft*' ! -type d)\"", dest), ==, 0);
}

int main(void)
{
    top = getenv("WEFT_TOP");
    if (top == NULL)
        skip_all("WEFT_TOP is not set: run through make check");
    cc = getenv("CC") ? getenv("CC") : "cc";
    make = getenv("MAKE") ? getenv("MAKE") : "make";
    pkg_config = getenv("PKG_CONFIG") ? getenv("PKG_CONFIG") : "pkg-config";
    snprintf(dest, sizeof(dest), "/tmp/weft-install-XXXXXX");
    if (mkdtemp(dest) == NULL)
        bail_out("mkdtemp failed");
    snprintf(libdir, sizeof(libdir), "%s/usr/local/lib", dest);

    TEST(test_install_layout(),
         "make install puts headers, both libraries with soname links and weft.pc in DESTDIR");
    TEST(test_shared(), "a program built with pkg-config --cflags --libs weft runs on libweft.so");
    TEST(test_static(), "a program built with pkg-config --static links libweft.a and runs");
    TEST(test_uninstall(), "make uninstall removes every installed file");
    sh("rm -rf %s", dest);
    return done_testing();
}
