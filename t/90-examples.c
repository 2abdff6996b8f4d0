/* SPDX-License-Identifier: MIT */
/* The examples of issue 11 as a user meets them: each one builds with its `Build:` line
 * against a weft installed in a temporary DESTDIR (pkg-config), and each runs and says what
 * its header comment promises: cpu_server's PING and PBKDF2 answers (RFC test vectors), the
 * load client's report, db_service on SQLite (one process and two on one port) and on
 * PostgreSQL, embed_uv and embed_poll. Servers keep the house convention (`--port 0` prints
 * `listening on <port>`, SIGTERM exits 0). Plain blocking sockets, bounded by poll timeouts
 * and the TAP watchdog. */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "pg-helpers.h"
#include "tap.h"

static char build_dir[4096], tmp[64];
static const char *top;
static char out[16384];
static const char *python;         /* a python3 with Twisted, or NULL */
static const char *vg_prefix = ""; /* valgrind's command line under make valgrind */

/* PBKDF2-HMAC-SHA256("password", "salt", c, 32), the vectors of RFC 7914's neighbours
 * (draft-josefsson-pbkdf2-test-vectors, SHA-256 edition). */
#define PBKDF2_C1    "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"
#define PBKDF2_C4096 "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"

typedef struct {
    pid_t pid;
    int port;
    char log[128];
} proc_t;

/* Starts examples/<name> with the NULL-terminated arguments; reads its `listening on` line. */
static bool start(proc_t *p, const char *name, ...)
{
    const char *argv[32] = {name};
    int argc = 1;
    va_list ap;
    va_start(ap, name);
    for (const char *a; argc < 31 && (a = va_arg(ap, const char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    static int nlog;
    snprintf(p->log, sizeof(p->log), "%s/%s-%d.log", tmp, name, nlog++);
    int fds[2];
    if (pipe(fds) != 0)
        return false;
    char path[4200];
    snprintf(path, sizeof(path), "%s/examples/%s", build_dir, name);
    bool py = strstr(name, ".py") != NULL; /* a Python example: python3 examples/<name> */
    if (py)
        snprintf(path, sizeof(path), "%s/examples/%s", top, name);
    p->pid = fork();
    if (p->pid == 0) {
        int log = open(p->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fds[1], 1);
        if (log >= 0)
            dup2(log, 2);
        close(fds[0]);
        close(fds[1]);
        if (py) {
            const char *pargv[34] = {python, path};
            for (int i = 1; i <= argc; i++)
                pargv[1 + i] = argv[i];
            execvp(python, (char *const *)pargv);
            _exit(127);
        }
        if (t_under_valgrind()) { /* make valgrind: the servers' leaks fail their exit code */
            const char *vg[40] = {"valgrind",
                                  "-q",
                                  "--error-exitcode=99",
                                  "--leak-check=full",
                                  "--errors-for-leak-kinds=definite,indirect",
                                  path};
            for (int i = 1; i <= argc; i++)
                vg[5 + i] = argv[i];
            execvp("valgrind", (char *const *)vg);
        }
        execv(path, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[128] = "";
    bool ok = f != NULL && fgets(line, sizeof(line), f) != NULL &&
              sscanf(line, "listening on %d", &p->port) == 1 && p->port > 0;
    if (f != NULL)
        fclose(f);
    if (!ok) {
        t_sh(out, sizeof(out), "cat %s", p->log);
        diag("%s did not start; it said: %s%s", name, line, out);
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
    return ok;
}

/* SIGTERM, then the exit code (128 + signal if it died of one). */
static int stop(proc_t *p)
{
    int rc = t_kill_wait(p->pid, SIGTERM);
    if (rc < 0)
        return -1;
    if (rc != 0) {
        t_sh(out, sizeof(out), "cat %s", p->log);
        diag("exit code %d; its log:\n%s", rc, out);
    }
    return rc;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, "\r\n")) != NULL; p += 2)
        n++;
    return n;
}

/* Sends req on a new connection and reads until `lines` CRLF lines arrived (or 30 s of
 * silence); the answer goes to buf, NUL-terminated. */
static bool ask(int port, const char *req, size_t lines, char *buf, size_t size)
{
    buf[0] = '\0';
    int fd = t_dial(port);
    if (fd < 0)
        return false;
    size_t got = 0;
    bool ok = write(fd, req, strlen(req)) == (ssize_t)strlen(req);
    while (ok && count_lines(buf) < lines && got + 1 < size) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 30000) <= 0)
            break;
        ssize_t n = read(fd, buf + got, size - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
    }
    close(fd);
    return count_lines(buf) == lines;
}

/* ---------------------------------------------------------------- built with pkg-config */

/* The pkg-config names of an example's `Build:` line, "weft" if it has none. */
static void build_pkgs(const char *src, char *pkgs, size_t size)
{
    snprintf(pkgs, size, "weft");
    FILE *f = fopen(src, "r");
    char line[512];
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        const char *m = strstr(line, "$(pkg-config --cflags --libs ");
        if (strstr(line, "Build:") != NULL && m != NULL) {
            m += strlen("$(pkg-config --cflags --libs ");
            size_t n = strcspn(m, ")");
            snprintf(pkgs, size, "%.*s", (int)(n < size ? n : size - 1), m);
            break;
        }
    }
    if (f != NULL)
        fclose(f);
}

#define PKG "PKG_CONFIG_PATH=%s/dest/usr/local/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=%s/dest %s"

static void test_installed_build(void)
{
    const char *cc = getenv("CC") ? getenv("CC") : "cc";
    const char *make = getenv("MAKE") ? getenv("MAKE") : "make";
    const char *pkg_config = getenv("PKG_CONFIG") ? getenv("PKG_CONFIG") : "pkg-config";
    /* t/04-install installs from the same tree at the same time: one make at a time. */
    char lock[4200];
    snprintf(lock, sizeof(lock), "%s/build/install.lock", top);
    int lfd = open(lock, O_RDWR | O_CREAT, 0644);
    if (!check(lfd >= 0) || !check_int(flock(lfd, LOCK_EX), ==, 0))
        return;
    int rc = t_sh(out, sizeof(out),
                  "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL %s -C %s install VARIANT=default "
                  "CC='%s' DESTDIR=%s/dest PREFIX=/usr/local",
                  make, top, cc, tmp);
    close(lfd);
    if (!check_int(rc, ==, 0)) {
        diag("%s", out);
        return;
    }
    DIR *d = opendir("examples");
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/examples", top);
    if (d == NULL)
        d = opendir(dir);
    if (!check(d != NULL))
        return;
    int built = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t n = strlen(e->d_name);
        if (n < 3 || strcmp(e->d_name + n - 2, ".c") != 0)
            continue;
        char src[4400], pkgs[256];
        snprintf(src, sizeof(src), "%s/%s", dir, e->d_name);
        build_pkgs(src, pkgs, sizeof(pkgs));
        rc = t_sh(out, sizeof(out),
                  "cd %s && %s -Wall -Wextra -Werror %s -o installed-%.*s $(" PKG
                  " --cflags --libs %s)",
                  tmp, cc, src, (int)(n - 2), e->d_name, tmp, tmp, pkg_config, pkgs);
        if (!check_int(rc, ==, 0))
            diag("%s with `pkg-config --cflags --libs %s`:\n%s", e->d_name, pkgs, out);
        built++;
    }
    closedir(d);
    check_int(built, >=, 6);
    /* One of them runs on the installed libweft.so. */
    rc = t_sh(out, sizeof(out), "LD_LIBRARY_PATH=%s/dest/usr/local/lib %s/installed-embed_poll",
              tmp, tmp);
    check_int(rc, ==, 0);
    check(strstr(out, "job 3: 13848 primes below 150000\n") != NULL);
}

/* ---------------------------------------------------------------- cpu_server, cpu_load */

static void test_cpu_server_offload(void)
{
    proc_t p;
    if (!check(
            start(&p, "cpu_server", "--iterations", "4096", "--threads", "2", "--port", "0", NULL)))
        return;
    char got[1024];
    check(ask(p.port, "PING\r\nHASH password\r\nHASH\r\nBOGUS\r\n", 4, got, sizeof(got)));
    check(strstr(got, "PONG\r\n") != NULL);
    check(strstr(got, "HASH " PBKDF2_C4096 "\r\n") != NULL);
    check(strstr(got, "ERR usage: HASH <password>\r\n") != NULL);
    check(strstr(got, "ERR unknown command") != NULL);
    check_int(stop(&p), ==, 0);
}

static void test_cpu_server_vectors(void)
{
    proc_t p;
    if (!check(start(&p, "cpu_server", "--iterations", "1", "--salt", "salt", "--port", "0", NULL)))
        return;
    char got[1024];
    check(ask(p.port, "HASH password\r\n", 1, got, sizeof(got)));
    check_str(got, "HASH " PBKDF2_C1 "\r\n");
    /* Many requests in flight on one connection: every one is answered. */
    char req[20 * 16] = "";
    for (int i = 0; i < 20; i++)
        strcat(req, "HASH password\r\n");
    check(ask(p.port, req, 20, out, sizeof(out)));
    check_int(stop(&p), ==, 0);
}

static void test_cpu_server_inline(void)
{
    proc_t p;
    if (!check(start(&p, "cpu_server", "--inline", "--iterations", "4096", "--port", "0", NULL)))
        return;
    char got[1024];
    /* Inline, the hash is answered before the PING that follows it. */
    check(ask(p.port, "HASH password\r\nPING\r\n", 2, got, sizeof(got)));
    check_str(got, "HASH " PBKDF2_C4096 "\r\nPONG\r\n");
    check_int(stop(&p), ==, 0);
}

static void test_cpu_server_twisted(void)
{
    if (python == NULL) {
        t_skip("Twisted is not installed (python3-twisted; make check installs it as root)");
        return;
    }
    proc_t p;
    if (!check(start(&p, "cpu_server_twisted.py", "--iterations", "4096", "--port", "0", NULL)))
        return;
    char got[1024];
    check(ask(p.port, "PING\r\nHASH password\r\nBOGUS\r\n", 3, got, sizeof(got)));
    check(strstr(got, "PONG\r\n") != NULL);
    check(strstr(got, "HASH " PBKDF2_C4096 "\r\n") != NULL);
    check(strstr(got, "ERR unknown command") != NULL);
    check_int(stop(&p), ==, 0);
}

static void test_cpu_server_bad_options(void)
{
    check_int(t_sh(out, sizeof(out), "%s/examples/cpu_server --iterations 0 --port 0", build_dir),
              ==, 2);
    check(strstr(out, "usage:") != NULL);
    check_int(t_sh(out, sizeof(out), "%s/examples/cpu_server --port 0 --nope 1", build_dir), ==, 2);
    check_int(t_sh(out, sizeof(out), "%s/examples/cpu_load --port 1 --seconds x", build_dir), ==,
              2);
}

static void test_cpu_load(void)
{
    proc_t p;
    if (!check(start(&p, "cpu_server", "--iterations", "100", "--port", "0", NULL)))
        return;
    char port[16];
    snprintf(port, sizeof(port), "%d", p.port);
    int rc = t_sh(out, sizeof(out), "%s/examples/cpu_load --port %s --seconds 1 --connections 2",
                  build_dir, port);
    check_int(rc, ==, 0);
    const char *keys[] = {
        "pings: ", "ping_p50_ms: ", "ping_p99_ms: ", "ping_max_ms: ", "hashes: ", "hashes_per_s: "};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!check(strstr(out, keys[i]) != NULL))
            diag("missing %s in:\n%s", keys[i], out);
    unsigned long pings = 0, hashes = 0;
    const char *s = strstr(out, "pings: ");
    if (s != NULL)
        pings = strtoul(s + 7, NULL, 10);
    s = strstr(out, "hashes: ");
    if (s != NULL)
        hashes = strtoul(s + 8, NULL, 10);
    check_uint(pings, >, 0);
    check_uint(hashes, >, 0);
    check_int(stop(&p), ==, 0);
}

/* ---------------------------------------------------------------- db_service */

static const char kv_req[] = "colour: blue\r\ncolour\r\nshape\r\ncolour: red\r\ncolour\r\n";
static const char kv_want[] = "OK\r\ncolour: blue\r\nERR no such key\r\nOK\r\ncolour: red\r\n";

static void db_case(const char *flag, const char *where)
{
    proc_t p;
    if (!check(start(&p, "db_service", flag, where, "--port", "0", NULL)))
        return;
    char got[1024];
    check(ask(p.port, kv_req, 5, got, sizeof(got)));
    check_str(got, kv_want);
    /* Another connection sees the store; quotes and SQL stay data. */
    check(ask(p.port, "it's: a'); DROP TABLE kv;--\r\nit's\r\ncolour\r\n", 3, got, sizeof(got)));
    check_str(got, "OK\r\nit's: a'); DROP TABLE kv;--\r\ncolour: red\r\n");
    check_int(stop(&p), ==, 0);
    /* A new process finds what the last one stored. */
    if (!check(start(&p, "db_service", flag, where, "--port", "0", NULL)))
        return;
    check(ask(p.port, "colour\r\n", 1, got, sizeof(got)));
    check_str(got, "colour: red\r\n");
    check_int(stop(&p), ==, 0);
}

static void test_db_sqlite(void)
{
    char file[128];
    snprintf(file, sizeof(file), "%s/kv.db", tmp);
    db_case("--db", file);
}

static void test_db_reuse_port(void)
{
    char file[128], port[16];
    snprintf(file, sizeof(file), "%s/shared.db", tmp);
    proc_t a, b;
    if (!check(start(&a, "db_service", "--db", file, "--reuse-port", "--port", "0", NULL)))
        return;
    snprintf(port, sizeof(port), "%d", a.port);
    if (check(start(&b, "db_service", "--db", file, "--reuse-port", "--port", port, NULL))) {
        check_int(b.port, ==, a.port);
        char got[256];
        check(ask(a.port, "k: v\r\n", 1, got, sizeof(got)));
        /* Whichever process the kernel picks, each connection sees the shared store. */
        for (int i = 0; i < 8; i++) {
            check(ask(a.port, "k\r\n", 1, got, sizeof(got)));
            check_str(got, "k: v\r\n");
        }
        check_int(stop(&b), ==, 0);
    }
    check_int(stop(&a), ==, 0);
}

static void test_db_postgres(void)
{
    pg_server_t pg = {0};
    char why[256];
    if (pg_server_start(&pg, why, sizeof(why)) != 0) {
        pg_server_stop(&pg);
        t_skip(why);
        return;
    }
    db_case("--pg", pg.conninfo);
    pg_server_stop(&pg);
}

static void test_db_bad_database(void)
{
    /* A database that cannot be opened: a clear message and exit 1, not a hang. */
    int rc = t_sh(out, sizeof(out), "%s/examples/db_service --db %s/no/such/dir/kv.db --port 0",
                  build_dir, tmp);
    check_int(rc, ==, 1);
    check(strstr(out, "db_service: cannot use the database") != NULL);
    check_int(t_sh(out, sizeof(out), "%s/examples/db_service --port", build_dir), ==, 2);
}

/* ---------------------------------------------------------------- embedding */

static void test_embed_uv(void)
{
    int rc = t_sh(out, sizeof(out), "%s%s/examples/embed_uv 2>&1", vg_prefix, build_dir);
    check_int(rc, ==, 0);
    check(strstr(out, "job 1: 9592 primes below 100000\n") != NULL);
    check(strstr(out, "job 2: 17984 primes below 200000\n") != NULL);
    check(strstr(out, "job 3: 25997 primes below 300000\n") != NULL);
    check(strstr(out, "job 4: 33860 primes below 400000\n") != NULL);
    check(strstr(out, "heartbeat ticked ") != NULL);
    size_t n = strlen(out);
    const char *end = "\nloop closed cleanly\n";
    if (!check(n > strlen(end) && strcmp(out + n - strlen(end), end) == 0))
        diag("embed_uv said:\n%s", out);
}

static void test_embed_poll(void)
{
    int rc = t_sh(out, sizeof(out), "%s%s/examples/embed_poll 2>&1", vg_prefix, build_dir);
    check_int(rc, ==, 0);
    check(strstr(out, "job 1: 5133 primes below 50000\n") != NULL);
    check(strstr(out, "job 2: 9592 primes below 100000\n") != NULL);
    check(strstr(out, "job 3: 13848 primes below 150000\n") != NULL);
    if (!check(strstr(out, "poll loop done after ") != NULL))
        diag("embed_poll said:\n%s", out);
}

int main(void)
{
    top = getenv("WEFT_TOP");
    const char *b = getenv("WEFT_BUILD");
    if (top == NULL || b == NULL)
        skip_all("run through make check (WEFT_TOP and WEFT_BUILD unset)");
    snprintf(build_dir, sizeof(build_dir), "%s/%s", top, b);
    char probe[4200];
    snprintf(probe, sizeof(probe), "%s/examples/cpu_server", build_dir);
    if (access(probe, X_OK) != 0)
        bail_out("%s is not built (make check builds the examples)", probe);
    snprintf(tmp, sizeof(tmp), "/tmp/weft-examples-XXXXXX");
    if (mkdtemp(tmp) == NULL)
        bail_out("mkdtemp failed");
    signal(SIGPIPE, SIG_IGN);
    if (t_sh(out, sizeof(out), "python3 -c 'import twisted' 2>/dev/null") == 0)
        python = "python3";
    else if (t_sh(out, sizeof(out), "/usr/bin/python3 -c 'import twisted' 2>/dev/null") == 0)
        python = "/usr/bin/python3";
    if (t_under_valgrind())
        vg_prefix = "valgrind -q --error-exitcode=99 --leak-check=full "
                    "--errors-for-leak-kinds=definite,indirect ";

    TEST(test_installed_build(),
         "every example builds with its Build: line against an installed weft (pkg-config)");
    TEST(test_cpu_server_offload(), "cpu_server answers PING at once and HASH with the PBKDF2 "
                                    "vector from its pool, ERR for bad lines, exits 0 on SIGTERM");
    TEST(test_cpu_server_vectors(), "cpu_server's --iterations and --salt give RFC's c=1 vector; "
                                    "twenty hashes in flight on one connection all come back");
    TEST(test_cpu_server_inline(), "cpu_server --inline hashes on the loop, answering in order");
    TEST(test_cpu_server_twisted(), "cpu_server_twisted.py speaks the same protocol with the "
                                    "same vector and exits 0 on SIGTERM");
    TEST(test_cpu_server_bad_options(), "cpu_server and cpu_load exit 2 with usage on bad options");
    TEST(test_cpu_load(), "cpu_load reports PING percentiles and hashes/s and exits 0");
    TEST(test_db_sqlite(), "db_service sets and gets through SQLite, keeps data across restarts "
                           "and exits 0 on SIGTERM");
    TEST(test_db_reuse_port(), "two db_service processes serve one port with --reuse-port");
    TEST(test_db_postgres(), "db_service --pg sets and gets through PostgreSQL");
    TEST(test_db_bad_database(), "db_service exits 1 naming the error when the database fails");
    TEST(test_embed_uv(), "embed_uv offloads on its own libuv loop and closes it cleanly");
    TEST(test_embed_poll(), "embed_poll drives weft from a poll() loop and exits 0");
    t_sh(out, sizeof(out), "rm -rf %s", tmp);
    return done_testing();
}
