/* SPDX-License-Identifier: MIT */
/* Wire compatibility with Twisted itself: Twisted's LineReceiver, NetstringReceiver and
 * Int32StringReceiver clients against examples/framing_echo, and a weft client against a
 * Twisted echo server, byte for byte (t/twisted-interop.py is Twisted's side). Skips only
 * when Twisted is not installed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft/error.h>
#include <weft/framed.h>
#include <weft/tcp.h>
#include <weft/transport.h>

#include "helpers.h"
#include "tap.h"

static const char *python;
static char top[2048], echo_bin[4200];

static void twisted_client(const char *kind)
{
    char out[4096];
    int rc = t_sh(out, sizeof(out), "%s %s/t/twisted-interop.py client %s %s", python, top, kind,
                  echo_bin);
    check_int(rc, ==, 0);
    if (!check(strstr(out, "ok") != NULL))
        diag("%s", out);
}

/* ---------------------------------------------------------------- weft client, Twisted server */

typedef struct {
    const char *const *msgs;
    const size_t *lens;
    size_t n, got;
    bool mismatch;
    int done;
    weft_framed_t *fp;
} client_t;

static void c_made(void *ctx, weft_framed_t *fp)
{
    client_t *c = ctx;
    c->fp = fp;
    for (size_t i = 0; i < c->n; i++)
        check_err(weft_framed_send(fp, c->msgs[i], c->lens[i]), 0);
}

static int c_frame(void *ctx, weft_framed_t *fp, const char *data, size_t len)
{
    client_t *c = ctx;
    if (c->got >= c->n || len != c->lens[c->got] || memcmp(data, c->msgs[c->got], len) != 0)
        c->mismatch = true;
    if (++c->got == c->n)
        weft_transport_lose_connection(weft_framed_transport(fp));
    return 0;
}

static void c_lost(void *ctx, weft_framed_t *fp, weft_failure_t *reason)
{
    (void)fp;
    ((client_t *)ctx)->done = 1;
    weft_failure_free(reason);
}

/* Starts Twisted's echo server; returns its pid and sets *port, or -1. */
static pid_t start_server(const char *kind, int *port)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        char script[4200];
        snprintf(script, sizeof(script), "%s/t/twisted-interop.py", top);
        execlp(python, python, script, "server", kind, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[128] = "";
    if (f == NULL || fgets(line, sizeof(line), f) == NULL ||
        sscanf(line, "listening on %d", port) != 1) {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        if (f != NULL)
            fclose(f);
        return -1;
    }
    fclose(f);
    return pid;
}

static void weft_client(weft_framing_t framing, const char *kind)
{
    static char big[99999];
    memset(big, 'w', sizeof(big));
    const char *msgs[] = {"abc", "", big, "\x00\r\n,:", "last"};
    size_t lens[] = {3, 0, framing == WEFT_FRAMING_LINE ? 16384 : 99999, 5, 4};
    if (framing == WEFT_FRAMING_LINE)
        msgs[3] = "tab\tand \x01\xff bytes", lens[3] = strlen(msgs[3]);
    int port = 0;
    pid_t pid = start_server(kind, &port);
    if (!check(pid > 0))
        return;
    weft_reactor_t *r = t_reactor(false);
    client_t c = {.msgs = msgs, .lens = lens, .n = 5};
    weft_framed_options_t o;
    weft_framed_options_init(&o);
    o.framing = framing;
    weft_framed_ops_t ops = {
        .connection_made = c_made, .frame_received = c_frame, .connection_lost = c_lost};
    weft_framed_t *fp = weft_framed_new(&o, &ops, &c, NULL);
    int err = 0;
    weft_deferred_t *d =
        weft_connect_tcp(r, "127.0.0.1", port, NULL, weft_framed_protocol_ops(), fp, &err);
    if (check(d != NULL)) {
        t_run_until(r, &c.done, 100000);
        weft_deferred_unref(d);
    }
    check_uint(c.got, ==, 5);
    check(!c.mismatch);
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    t_teardown(r);
}

int main(void)
{
    char out[256];
    if (t_sh(out, sizeof(out), "python3 -c 'import twisted' 2>/dev/null") == 0)
        python = "python3";
    else if (t_sh(out, sizeof(out), "/usr/bin/python3 -c 'import twisted' 2>/dev/null") == 0)
        python = "/usr/bin/python3";
    else
        skip_all("Twisted is not installed (python3-twisted; `make check` installs it as root)");
    const char *t = getenv("WEFT_TOP"), *b = getenv("WEFT_BUILD");
    snprintf(top, sizeof(top), "%s", t ? t : ".");
    snprintf(echo_bin, sizeof(echo_bin), "%s/%s/examples/framing_echo", top,
             b ? b : "build/default");
    if (access(echo_bin, X_OK) != 0)
        bail_out("%s is not built (make check builds it)", echo_bin);
    TEST(twisted_client("line"), "Twisted's LineReceiver gets its lines back from framing_echo "
                                 "byte for byte");
    TEST(twisted_client("netstring"), "Twisted's NetstringReceiver gets its strings back from "
                                      "framing_echo byte for byte");
    TEST(twisted_client("int32"), "Twisted's Int32StringReceiver gets its strings back from "
                                  "framing_echo byte for byte");
    TEST(weft_client(WEFT_FRAMING_LINE, "line"),
         "a weft line client gets its lines back from Twisted's LineReceiver echo");
    TEST(weft_client(WEFT_FRAMING_NETSTRING, "netstring"),
         "a weft netstring client gets its strings back from Twisted's NetstringReceiver echo");
    TEST(weft_client(WEFT_FRAMING_INT32, "int32"),
         "a weft Int32 client gets its strings back from Twisted's Int32StringReceiver echo");
    return done_testing();
}
