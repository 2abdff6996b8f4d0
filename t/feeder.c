/* SPDX-License-Identifier: MIT */
/* Test helpers for parsers (feeder.h). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "feeder.h"
#include "tap.h"

static char *guard_base;
static size_t guard_size; /* readable bytes before the PROT_NONE page */

static char *guard_end(size_t need)
{
    if (need > guard_size) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        if (guard_base != NULL)
            munmap(guard_base, guard_size + page);
        size_t size = (need + page - 1) / page * page;
        void *m =
            mmap(NULL, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            bail_out("mmap of %zu bytes failed", size + page);
        if (mprotect((char *)m + size, page, PROT_NONE) != 0)
            bail_out("mprotect failed");
        guard_base = m;
        guard_size = size;
    }
    return guard_base + guard_size;
}

const char *t_guard(const char *data, size_t len)
{
    char *dst = guard_end(len > 0 ? len : 1) - len;
    if (len > 0)
        memcpy(dst, data, len);
    return dst;
}

const char *t_way(int i, t_split_t *how, unsigned *seed)
{
    static char name[32];
    *seed = 0;
    if (i == 0) {
        *how = T_WHOLE;
        return "whole";
    }
    if (i == 1) {
        *how = T_BYTES;
        return "byte by byte";
    }
    *how = T_RANDOM;
    *seed = (unsigned)(i - 1) * 2654435761u;
    snprintf(name, sizeof(name), "random splits, seed %u", *seed);
    return name;
}

static uint32_t next_rand(uint32_t *x)
{
    /* xorshift32: the same cuts on every machine for a given seed. */
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

int t_feed(t_feed_fn fn, void *rx, const char *data, size_t len, t_split_t how, unsigned seed,
           const bool *stop)
{
    uint32_t x = seed != 0 ? seed : 0x9e3779b9u;
    size_t at = 0;
    int first = 0;
    do {
        if (stop != NULL && *stop)
            break;
        size_t n = len - at;
        if (how == T_BYTES && n > 1)
            n = 1;
        else if (how == T_RANDOM) {
            size_t r = 1 + next_rand(&x) % 64;
            if (r < n)
                n = r;
        }
        char *dst = (char *)t_guard(data + at, n);
        int rc = fn(rx, dst, n);
        if (rc < 0 && first == 0)
            first = rc;
        memset(dst, 0xA5, n);
        at += n;
    } while (at < len);
    return first;
}

static void reserve(t_log_t *log, size_t more)
{
    if (log->len + more + 1 <= log->cap)
        return;
    size_t cap = log->cap ? log->cap : 256;
    while (cap < log->len + more + 1)
        cap *= 2;
    char *s = realloc(log->s, cap);
    if (s == NULL)
        bail_out("out of memory in t_log");
    log->s = s;
    log->cap = cap;
}

static void put_escaped(t_log_t *log, const char *data, size_t len)
{
    reserve(log, len * 4);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '|')
            log->s[log->len++] = (char)c;
        else
            log->len += (size_t)sprintf(log->s + log->len, "\\x%02x", c);
    }
    log->s[log->len] = '\0';
}

void t_log_add(t_log_t *log, char tag, const char *data, size_t len, bool merge)
{
    if (merge && log->len > 0 && log->last_tag == tag) {
        log->len--; /* reopen the last event: drop its '|' */
        put_escaped(log, data, len);
    } else {
        reserve(log, 2);
        log->s[log->len++] = tag;
        log->s[log->len++] = ':';
        put_escaped(log, data, len);
    }
    reserve(log, 1);
    log->s[log->len++] = '|';
    log->s[log->len] = '\0';
    log->last_tag = tag;
}

void t_log_addf(t_log_t *log, char tag, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    t_log_add(log, tag, buf, strlen(buf), false);
}

const char *t_log_str(const t_log_t *log)
{
    return log->s != NULL ? log->s : "";
}

void t_log_reset(t_log_t *log)
{
    log->len = 0;
    log->last_tag = 0;
    if (log->s != NULL)
        log->s[0] = '\0';
}

void t_log_free(t_log_t *log)
{
    free(log->s);
    memset(log, 0, sizeof(*log));
}
