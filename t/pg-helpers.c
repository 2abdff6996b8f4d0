/* SPDX-License-Identifier: MIT */
/* A private PostgreSQL server for tests and benchmarks (see pg-helpers.h). */
#include <arpa/inet.h>
#include <glob.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pg-helpers.h"

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(cmd))
        return -1;
    return system(cmd);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* pg_ctl with the server's options, as the server's user, from its directory. */
static int pg_ctl(pg_server_t *s, const char *what)
{
    return run("cd %s && %s %s/pg_ctl -D %s/data -l %s/log -w -t 60 -m fast "
               "-o \"-k %s -p %d -c listen_addresses='' -c fsync=off\" %s >>%s/ctl.log 2>&1",
               s->dir, s->as, s->bin, s->dir, s->dir, s->dir, s->port, what, s->dir);
}

int pg_server_start(pg_server_t *s, char *why, size_t why_size)
{
    memset(s, 0, sizeof(*s));
    glob_t g;
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0 || g.gl_pathc == 0) {
        snprintf(why, why_size, "no PostgreSQL server installed (/usr/lib/postgresql/*/bin)");
        return -1;
    }
    snprintf(s->bin, sizeof(s->bin), "%s", g.gl_pathv[g.gl_pathc - 1]);
    globfree(&g);
    *strrchr(s->bin, '/') = '\0';
    if (geteuid() == 0) {
        if (access("/usr/bin/setpriv", X_OK) != 0) {
            snprintf(why, why_size,
                     "running as root and setpriv is missing (postgres refuses "
                     "to run as root)");
            return -1;
        }
        snprintf(s->as, sizeof(s->as), "setpriv --reuid=65534 --regid=65534 --clear-groups");
    }
    snprintf(s->dir, sizeof(s->dir), "/tmp/weft-pg-XXXXXX");
    if (mkdtemp(s->dir) == NULL || (s->port = free_port()) < 0) {
        snprintf(why, why_size, "cannot make a temporary directory or find a free port");
        return -1;
    }
    if (geteuid() == 0 && chown(s->dir, 65534, 65534) != 0) {
        snprintf(why, why_size, "cannot hand %s to nobody", s->dir);
        rmdir(s->dir);
        return -1;
    }
    /* The watcher: once this process is gone, stop the server and remove its directory. */
    run("(while kill -0 %d 2>/dev/null; do sleep 1; done; "
        "if [ -d %s/data ]; then cd %s && %s %s/pg_ctl -D %s/data -m immediate -w stop; fi; "
        "rm -rf %s) </dev/null >/dev/null 2>&1 &",
        (int)getpid(), s->dir, s->dir, s->as, s->bin, s->dir, s->dir);
    if (run("cd %s && %s %s/initdb -D %s/data -A trust -U postgres -E UTF8 --locale=C "
            "--no-sync >%s/initdb.log 2>&1",
            s->dir, s->as, s->bin, s->dir, s->dir) != 0) {
        snprintf(why, why_size, "initdb failed (see %s/initdb.log)", s->dir);
        return -1;
    }
    if (pg_ctl(s, "start") != 0) {
        snprintf(why, why_size, "pg_ctl start failed (see %s/log)", s->dir);
        return -1;
    }
    s->running = true;
    snprintf(s->conninfo, sizeof(s->conninfo),
             "host=%s port=%d user=postgres dbname=postgres connect_timeout=10", s->dir, s->port);
    return 0;
}

int pg_server_restart(pg_server_t *s)
{
    return pg_ctl(s, "restart") == 0 ? 0 : -1;
}

void pg_server_stop(pg_server_t *s)
{
    if (!s->running)
        return;
    s->running = false;
    pg_ctl(s, "stop");
    run("rm -rf %s", s->dir);
}
