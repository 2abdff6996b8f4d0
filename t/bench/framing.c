/* SPDX-License-Identifier: MIT */
/* Framing benchmarks: line parsing throughput against a memchr floor, in one run.
 *   1. many short lines (8 to 56 bytes) and 2. few long ones (4 to 12 KiB), fed in 64 KiB
 *      chunks to a line receiver with the "\r\n" and with the "\n" delimiter; the floor is a
 *      loop that only finds each '\n' of the same chunks with memchr.
 *   3. netstring and Int32 decoding of short frames, for reference (no floor).
 * Prints `value: <measure> <value> <unit>` and `ratio: <measure> <value>` lines (ratios are
 * weft / memchr floor: 1.0 would be parsing for free, higher is better). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft/framing.h>

#define CHUNK  (64 * 1024)
#define STREAM (32 * 1024 * 1024)

static volatile size_t sink;
static size_t total_len;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t rnd(uint32_t *x)
{
    *x = *x * 1103515245u + 12345u;
    return *x >> 8;
}

/* A stream of lines of lo..hi bytes (letters), each ending in "\r\n". */
static char *make_lines(size_t size, size_t lo, size_t hi, size_t *out_len)
{
    char *s = malloc(size);
    uint32_t x = 42;
    size_t at = 0;
    while (at + hi + 2 <= size) {
        size_t n = lo + rnd(&x) % (hi - lo + 1);
        for (size_t i = 0; i < n; i++)
            s[at + i] = (char)('a' + (i * 7 + n) % 26);
        at += n;
        s[at++] = '\r';
        s[at++] = '\n';
    }
    *out_len = at;
    return s;
}

static int on_line(void *ctx, const char *line, size_t len)
{
    (void)ctx;
    (void)line;
    total_len += len;
    return 0;
}

static double run_weft_lines(const char *s, size_t len, const char *delim)
{
    weft_line_receiver_options_t o;
    weft_line_receiver_options_init(&o);
    o.delimiter = delim;
    o.delimiter_len = strlen(delim);
    weft_line_receiver_ops_t ops = {.line_received = on_line};
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        weft_line_receiver_t *lr = weft_line_receiver_new(&o, &ops, NULL, NULL);
        total_len = 0;
        double t0 = now_s();
        for (size_t at = 0; at < len; at += CHUNK) {
            size_t n = len - at < CHUNK ? len - at : CHUNK;
            if (weft_line_receiver_feed(lr, s + at, n) != 0)
                abort();
        }
        double dt = now_s() - t0;
        sink += total_len;
        weft_line_receiver_free(lr);
        double mbs = (double)len / dt / 1e6;
        if (mbs > best)
            best = mbs;
    }
    return best;
}

static double run_memchr(const char *s, size_t len)
{
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        size_t count = 0;
        double t0 = now_s();
        for (size_t at = 0; at < len; at += CHUNK) {
            size_t n = len - at < CHUNK ? len - at : CHUNK;
            const char *p = s + at, *end = p + n;
            const char *q;
            while ((q = memchr(p, '\n', (size_t)(end - p))) != NULL) {
                count += (size_t)(q - p);
                p = q + 1;
            }
        }
        double dt = now_s() - t0;
        sink += count;
        double mbs = (double)len / dt / 1e6;
        if (mbs > best)
            best = mbs;
    }
    return best;
}

static void bench_lines(const char *name, size_t lo, size_t hi)
{
    size_t len;
    char *s = make_lines(STREAM, lo, hi, &len);
    double floor_mbs = run_memchr(s, len);
    double crlf = run_weft_lines(s, len, "\r\n");
    double lf = run_weft_lines(s, len, "\n");
    printf("value: %s_memchr_floor %.0f MB/s\n", name, floor_mbs);
    printf("value: %s_weft_crlf %.0f MB/s\n", name, crlf);
    printf("value: %s_weft_lf %.0f MB/s\n", name, lf);
    printf("ratio: %s_crlf %.2f\n", name, crlf / floor_mbs);
    printf("ratio: %s_lf %.2f\n", name, lf / floor_mbs);
    free(s);
}

static int on_string(void *ctx, const char *data, size_t len)
{
    (void)ctx;
    (void)data;
    total_len += len;
    return 0;
}

static void bench_frames(void)
{
    char *ns = malloc(STREAM), *i32 = malloc(STREAM);
    size_t nlen = 0, ilen = 0;
    uint32_t x = 7;
    char payload[64];
    memset(payload, 'p', sizeof(payload));
    while (nlen + 80 < STREAM && ilen + 80 < STREAM) {
        size_t n = 8 + rnd(&x) % 49, w;
        if (weft_netstring_encode(payload, n, ns + nlen, STREAM - nlen, &w) != 0)
            abort();
        nlen += w;
        if (weft_intn_encode(4, payload, n, i32 + ilen, STREAM - ilen, &w) != 0)
            abort();
        ilen += w;
    }
    double best_n = 0, best_i = 0;
    for (int rep = 0; rep < 5; rep++) {
        weft_netstring_receiver_ops_t nops = {.string_received = on_string};
        weft_netstring_receiver_t *r = weft_netstring_receiver_new(NULL, &nops, NULL, NULL);
        double t0 = now_s();
        for (size_t at = 0; at < nlen; at += CHUNK)
            if (weft_netstring_receiver_feed(r, ns + at, nlen - at < CHUNK ? nlen - at : CHUNK))
                abort();
        double dt = now_s() - t0;
        weft_netstring_receiver_free(r);
        if ((double)nlen / dt / 1e6 > best_n)
            best_n = (double)nlen / dt / 1e6;
        weft_intn_receiver_ops_t iops = {.string_received = on_string};
        weft_intn_receiver_t *ir = weft_intn_receiver_new(NULL, &iops, NULL, NULL);
        t0 = now_s();
        for (size_t at = 0; at < ilen; at += CHUNK)
            if (weft_intn_receiver_feed(ir, i32 + at, ilen - at < CHUNK ? ilen - at : CHUNK))
                abort();
        dt = now_s() - t0;
        weft_intn_receiver_free(ir);
        if ((double)ilen / dt / 1e6 > best_i)
            best_i = (double)ilen / dt / 1e6;
    }
    sink += total_len;
    printf("value: netstring_short_weft %.0f MB/s\n", best_n);
    printf("value: int32_short_weft %.0f MB/s\n", best_i);
    free(ns);
    free(i32);
}

int main(void)
{
    bench_lines("line_short", 8, 56);
    bench_lines("line_long", 4096, 12288);
    bench_frames();
    return 0;
}
