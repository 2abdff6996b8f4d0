/* SPDX-License-Identifier: MIT */
/* kv: a key:value store over a line protocol (CRLF-delimited lines, Twisted's LineReceiver).
 *
 *     kv [--host H] --port P
 *
 * A line `key: value` sets key to value and answers `OK`; a line `key` alone answers
 * `key: value`, or `ERR no such key`. Keys are up to 256 bytes, values up to 4096, lines up
 * to 16384 (longer lines close the connection, as LineReceiver does); at most 100000 keys.
 * With --port 0 it prints `listening on <port>` on stdout before serving; SIGTERM or SIGINT
 * stops it cleanly with exit code 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include <weft.h>

#define NBUCKETS  4096
#define MAX_KEY   256
#define MAX_VALUE 4096
#define MAX_KEYS  100000

typedef struct entry_s {
    struct entry_s *next;
    size_t klen, vlen;
    char *value;
    char key[];
} entry_t;

typedef struct {
    entry_t *buckets[NBUCKETS];
    size_t nkeys;
    weft_listener_t *listener;
    size_t nconns;
    weft_transport_t *conns[1024]; /* open connections, for the shutdown */
} store_t;

static size_t hash(const char *s, size_t n)
{
    size_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h % NBUCKETS;
}

static entry_t **find(store_t *st, const char *key, size_t klen)
{
    entry_t **e = &st->buckets[hash(key, klen)];
    while (*e != NULL && ((*e)->klen != klen || memcmp((*e)->key, key, klen) != 0))
        e = &(*e)->next;
    return e;
}

static const char *set(store_t *st, const char *key, size_t klen, const char *value, size_t vlen)
{
    if (klen == 0 || klen > MAX_KEY || vlen > MAX_VALUE)
        return "ERR key or value too long";
    entry_t **slot = find(st, key, klen);
    char *v = malloc(vlen + 1);
    if (v == NULL)
        return "ERR out of memory";
    memcpy(v, value, vlen);
    if (*slot != NULL) {
        free((*slot)->value);
        (*slot)->value = v;
        (*slot)->vlen = vlen;
        return "OK";
    }
    if (st->nkeys >= MAX_KEYS) {
        free(v);
        return "ERR store full";
    }
    entry_t *e = malloc(sizeof(*e) + klen);
    if (e == NULL) {
        free(v);
        return "ERR out of memory";
    }
    memcpy(e->key, key, klen);
    e->klen = klen;
    e->value = v;
    e->vlen = vlen;
    e->next = NULL;
    *slot = e;
    st->nkeys++;
    return "OK";
}

static void reply(weft_framed_t *fp, const char *s)
{
    if (weft_framed_send(fp, s, strlen(s)) < 0)
        weft_transport_abort_connection(weft_framed_transport(fp));
}

static int on_line(void *ctx, weft_framed_t *fp, const char *line, size_t len)
{
    store_t *st = ctx;
    const char *colon = memchr(line, ':', len);
    if (colon != NULL) {
        size_t klen = (size_t)(colon - line);
        const char *v = colon + 1;
        size_t vlen = len - klen - 1;
        if (vlen > 0 && v[0] == ' ') {
            v++;
            vlen--;
        }
        reply(fp, set(st, line, klen, v, vlen));
        return 0;
    }
    entry_t *e = *find(st, line, len);
    if (e == NULL) {
        reply(fp, "ERR no such key");
        return 0;
    }
    weft_iovec_t iov[] = {{e->key, e->klen}, {": ", 2}, {e->value, e->vlen}, {"\r\n", 2}};
    if (weft_transport_writev(weft_framed_transport(fp), iov, 4) < 0)
        weft_transport_abort_connection(weft_framed_transport(fp));
    return 0;
}

static void on_made(void *ctx, weft_framed_t *fp)
{
    store_t *st = ctx;
    weft_transport_t *t = weft_framed_transport(fp);
    for (size_t i = 0; i < sizeof(st->conns) / sizeof(st->conns[0]); i++) {
        if (st->conns[i] == NULL) {
            st->conns[i] = t;
            st->nconns++;
            return;
        }
    }
    weft_transport_lose_connection(t); /* more connections than this example keeps */
}

static void on_lost(void *ctx, weft_framed_t *fp, weft_failure_t *reason)
{
    store_t *st = ctx;
    weft_transport_t *t = weft_framed_transport(fp);
    for (size_t i = 0; i < sizeof(st->conns) / sizeof(st->conns[0]); i++) {
        if (st->conns[i] == t) {
            st->conns[i] = NULL;
            st->nconns--;
        }
    }
    weft_failure_free(reason);
}

static int build(void *ctx, const char *peer, const weft_protocol_ops_t **ops, void **proto)
{
    (void)peer;
    weft_framed_ops_t fops = {
        .connection_made = on_made, .frame_received = on_line, .connection_lost = on_lost};
    weft_framed_t *fp = weft_framed_new(NULL, &fops, ctx, NULL); /* lines, CRLF, 16384 */
    if (fp == NULL)
        return -1;
    *ops = weft_framed_protocol_ops();
    *proto = fp;
    return 0;
}

/* Before shutdown: stop listening and close the connections (their bytes are sent first). */
static weft_deferred_t *before_shutdown(void *arg)
{
    store_t *st = arg;
    weft_deferred_t *stopped = weft_listener_stop(st->listener);
    st->listener = NULL;
    for (size_t i = 0; i < sizeof(st->conns) / sizeof(st->conns[0]); i++)
        if (st->conns[i] != NULL)
            weft_transport_lose_connection(st->conns[i]);
    return stopped; /* the shutdown waits until the listener has closed */
}

static int usage(const char *prog, int code)
{
    fprintf(code ? stderr : stdout,
            "usage: %s [--host H] --port P\n"
            "A key:value store: `key: value` sets, `key` gets. --port 0 binds a free port\n"
            "and prints `listening on <port>`. SIGTERM or SIGINT stops it.\n",
            prog);
    return code;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(argv[0], 0);
        if (i + 1 >= argc)
            return usage(argv[0], 2);
        if (strcmp(argv[i], "--host") == 0)
            host = argv[++i];
        else if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[++i]);
        else
            return usage(argv[0], 2);
    }
    if (port < 0 || port > 65535)
        return usage(argv[0], 2);
    static store_t st;
    int err = 0;
    weft_reactor_t *r = weft_reactor_new(NULL, &err);
    if (r == NULL) {
        fprintf(stderr, "kv: %s\n", weft_strerror(err));
        return 1;
    }
    weft_factory_ops_t fops = {.build_protocol = build};
    weft_factory_t *factory = weft_factory_new(&fops, &st, &err);
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = host;
    lo.port = port;
    st.listener = factory ? weft_listen_tcp(r, &lo, factory, &err) : NULL;
    if (st.listener == NULL) {
        fprintf(stderr, "kv: cannot listen on %s:%d: %s\n", host, port, weft_strerror(err));
        return 1;
    }
    if (weft_reactor_add_trigger(r, "shutdown", WEFT_PHASE_BEFORE, before_shutdown, &st, "kv",
                                 NULL) != 0)
        return 1;
    printf("listening on %d\n", weft_listener_port(st.listener));
    fflush(stdout);
    if (weft_reactor_run(r) != 0)
        return 1;
    /* Connections still flushing close on the loop after the reactor has stopped. */
    uv_loop_t *loop = weft_reactor_get_uv_loop(r);
    for (int i = 0; i < 1000 && st.nconns > 0; i++)
        uv_run(loop, UV_RUN_ONCE);
    for (int i = 0; i < 100 && weft_reactor_free(r) != 0; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    if (weft_factory_free(factory) != 0)
        return 1;
    for (size_t b = 0; b < NBUCKETS; b++) {
        for (entry_t *e = st.buckets[b], *next; e != NULL; e = next) {
            next = e->next;
            free(e->value);
            free(e);
        }
    }
    return 0;
}
