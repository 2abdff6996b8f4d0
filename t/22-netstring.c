/* SPDX-License-Identifier: MIT */
/* NetstringReceiver: Twisted's wire format and limits, its parse errors, re-entrancy and the
 * encoder. Cases are fed whole, byte by byte and in seeded random splits against a guard page. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/error.h>
#include <weft/framing.h>

#include "feeder.h"
#include "helpers.h"
#include "tap.h"

typedef struct {
    weft_netstring_receiver_t *ns;
    t_log_t log;
    int errors;
    bool closed;
} rx_t;

static int on_string(void *ctx, const char *data, size_t len)
{
    rx_t *rx = ctx;
    t_log_add(&rx->log, 'S', data, len, false);
    if (len == 5 && memcmp(data, "PAUSE", 5) == 0)
        weft_netstring_receiver_pause(rx->ns);
    else if (len == 4 && memcmp(data, "STOP", 4) == 0)
        return 1;
    else if (len == 4 && memcmp(data, "FEED", 4) == 0)
        check_err(weft_netstring_receiver_feed(rx->ns, "3:fed,", 6), 0);
    else if (len == 4 && memcmp(data, "FREE", 4) == 0) {
        weft_netstring_receiver_free(rx->ns);
        rx->ns = NULL;
        rx->closed = true;
    }
    return 0;
}

static void on_error(void *ctx, int code, const char *reason)
{
    rx_t *rx = ctx;
    rx->errors++;
    check(reason != NULL && reason[0] != '\0');
    t_log_addf(&rx->log, 'E', "%s", weft_err_name(code));
}

static const weft_netstring_receiver_ops_t ops = {
    .string_received = on_string,
    .parse_error = on_error,
};

static int feed_fn(void *p, const char *data, size_t len)
{
    rx_t *rx = p;
    if (rx->closed)
        return 0;
    return weft_netstring_receiver_feed(rx->ns, data, len);
}

static void rx_open(rx_t *rx, size_t max)
{
    memset(rx, 0, sizeof(*rx));
    weft_netstring_receiver_options_t o;
    weft_netstring_receiver_options_init(&o);
    o.max_length = max;
    int err = -1;
    rx->ns = weft_netstring_receiver_new(&o, &ops, rx, &err);
    if (rx->ns == NULL)
        bail_out("weft_netstring_receiver_new: %s", weft_strerror(err));
}

static void rx_close(rx_t *rx)
{
    weft_netstring_receiver_free(rx->ns);
    t_log_free(&rx->log);
}

/* Feeds input every way; checks the log, the error count (0 or 1) and, once broken, that a
 * later well-formed netstring yields nothing and feed keeps returning the code. */
static bool every_way(size_t max, const char *input, size_t len, const char *want, int want_err)
{
    bool ok = true;
    for (int w = 0; w < T_WAYS && ok; w++) {
        t_split_t how;
        unsigned seed;
        const char *name = t_way(w, &how, &seed);
        rx_t rx;
        rx_open(&rx, max);
        int rc = t_feed(feed_fn, &rx, input, len, how, seed, NULL);
        ok = check_str(t_log_str(&rx.log), want);
        ok = check_err(rc, want_err) && ok;
        ok = check_int(rx.errors, ==, want_err != 0) && ok;
        ok = check_err(weft_netstring_receiver_error(rx.ns), want_err) && ok;
        if (want_err != 0) {
            ok = check_err(weft_netstring_receiver_feed(rx.ns, "1:a,", 4), want_err) && ok;
            ok = check_err(weft_netstring_receiver_resume(rx.ns), want_err) && ok;
            ok = check_str(t_log_str(&rx.log), want) && ok;
            ok = check_int(rx.errors, ==, 1) && ok;
        }
        if (!ok)
            diag("fed %s", name);
        rx_close(&rx);
    }
    return ok;
}

#define S(lit) lit, sizeof(lit) - 1

/* ------------------------------------------------------------------ Twisted's wire format */

static void test_vectors(void)
{
    every_way(99999, S("3:abc,"), "S:abc|", 0);
    every_way(99999, S("0:,"), "S:|", 0);
    every_way(99999, S("12:hello world!,"), "S:hello world!|", 0);
    every_way(99999, S("3:abc,0:,5:a:b,c,1:,,"), "S:abc|S:|S:a:b,c|S:,|", 0);
    every_way(99999, S("4:\x00\xff\r\n,"), "S:\\x00\\xff\\x0d\\x0a|", 0);
}

static void test_defaults(void)
{
    weft_netstring_receiver_options_t o;
    weft_netstring_receiver_options_init(&o);
    check_uint(o.max_length, ==, 99999);
    check_uint(WEFT_NETSTRING_MAX_LENGTH_DEFAULT, ==, 99999);
    rx_t rx;
    memset(&rx, 0, sizeof(rx));
    weft_netstring_receiver_t *ns = weft_netstring_receiver_new(NULL, &ops, &rx, NULL);
    check_uint(weft_netstring_receiver_max_length(ns), ==, 99999);
    check_err(weft_netstring_receiver_error(ns), 0);
    check(!weft_netstring_receiver_is_paused(ns));
    weft_netstring_receiver_free(ns);
    weft_netstring_receiver_free(NULL);
}

/* ------------------------------------------------------------------ limits */

static void test_exact_max(void)
{
    every_way(10, S("10:0123456789,"), "S:0123456789|", 0);
    /* The default: a 99999-byte payload is fine. */
    size_t n = 99999;
    char *in = malloc(n + 16);
    int p = sprintf(in, "%zu:", n);
    memset(in + p, 'q', n);
    in[p + n] = ',';
    for (int w = 0; w < 3; w++) {
        t_split_t how;
        unsigned seed;
        t_way(w, &how, &seed);
        if (how == T_BYTES && t_under_valgrind())
            continue;
        rx_t rx;
        rx_open(&rx, WEFT_NETSTRING_MAX_LENGTH_DEFAULT);
        check_err(t_feed(feed_fn, &rx, in, (size_t)p + n + 1, how, seed, NULL), 0);
        check_uint(rx.log.len, ==, 2 + n + 1);
        check_int(rx.errors, ==, 0);
        rx_close(&rx);
    }
    free(in);
}

static void test_over_max(void)
{
    /* Reported at the digit that makes the length too big, before colon or payload. */
    every_way(10, S("11"), "E:WEFT_EMSGSIZE|", WEFT_EMSGSIZE);
    every_way(99999, S("100000"), "E:WEFT_EMSGSIZE|", WEFT_EMSGSIZE);
    every_way(99999, S("99999"), "", 0);
    every_way(99999, S("1:a,100000:xyz"), "S:a|E:WEFT_EMSGSIZE|", WEFT_EMSGSIZE);
}

static void test_too_many_digits(void)
{
    every_way(99999, S("1234567890123456789012345678901234567890:"), "E:WEFT_EMSGSIZE|",
              WEFT_EMSGSIZE);
    every_way(5, S("6:"), "E:WEFT_EMSGSIZE|", WEFT_EMSGSIZE);
}

/* ------------------------------------------------------------------ malformed input */

static void test_leading_zero(void)
{
    every_way(99999, S("007:abcdefg,"), "E:WEFT_EPROTO|", WEFT_EPROTO);
    every_way(99999, S("01:a,"), "E:WEFT_EPROTO|", WEFT_EPROTO);
    every_way(99999, S("00:,"), "E:WEFT_EPROTO|", WEFT_EPROTO);
}

static void test_non_digit(void)
{
    every_way(99999, S("3x:abc,"), "E:WEFT_EPROTO|", WEFT_EPROTO);
    every_way(99999, S("abc"), "E:WEFT_EPROTO|", WEFT_EPROTO);
    every_way(99999, S(":abc,"), "E:WEFT_EPROTO|", WEFT_EPROTO);
    every_way(99999, S("-1:a,"), "E:WEFT_EPROTO|", WEFT_EPROTO);
    every_way(99999, S(" 1:a,"), "E:WEFT_EPROTO|", WEFT_EPROTO);
}

static void test_missing_comma(void)
{
    every_way(99999, S("3:abcd"), "E:WEFT_EPROTO|", WEFT_EPROTO);
    every_way(99999, S("3:abc;1:a,"), "E:WEFT_EPROTO|", WEFT_EPROTO);
    /* Not yet: the comma's place has not arrived. */
    every_way(99999, S("3:abc"), "", 0);
}

static void test_earlier_strings_stay(void)
{
    every_way(99999, S("3:abc,0:,3:xyz!1:a,"), "S:abc|S:|E:WEFT_EPROTO|", WEFT_EPROTO);
    /* The rest of the chunk is dropped: nothing is buffered after the error. */
    rx_t rx;
    rx_open(&rx, 99999);
    check_err(weft_netstring_receiver_feed(rx.ns, S("1:a,x1:b,")), WEFT_EPROTO);
    check_str(t_log_str(&rx.log), "S:a|E:WEFT_EPROTO|");
    rx_close(&rx);
}

static void test_error_without_callback(void)
{
    weft_netstring_receiver_ops_t quiet = {.string_received = on_string};
    rx_t rx;
    memset(&rx, 0, sizeof(rx));
    rx.ns = weft_netstring_receiver_new(NULL, &quiet, &rx, NULL);
    check_err(weft_netstring_receiver_feed(rx.ns, S("2:ab.")), WEFT_EPROTO);
    check_err(weft_netstring_receiver_error(rx.ns), WEFT_EPROTO);
    check_err(weft_netstring_receiver_feed(rx.ns, S("2:ab,")), WEFT_EPROTO);
    check_str(t_log_str(&rx.log), "");
    rx_close(&rx);
}

/* ------------------------------------------------------------------ re-entrancy */

static void test_pause_inside(void)
{
    rx_t rx;
    rx_open(&rx, 99999);
    check_err(weft_netstring_receiver_feed(rx.ns, S("5:PAUSE,1:a,1:b,")), 0);
    check_str(t_log_str(&rx.log), "S:PAUSE|");
    check(weft_netstring_receiver_is_paused(rx.ns));
    check_err(weft_netstring_receiver_feed(rx.ns, S("1:c,")), 0);
    check_str(t_log_str(&rx.log), "S:PAUSE|");
    check_err(weft_netstring_receiver_resume(rx.ns), 0);
    check_str(t_log_str(&rx.log), "S:PAUSE|S:a|S:b|S:c|");
    rx_close(&rx);
}

static void test_stop_inside(void)
{
    rx_t rx;
    rx_open(&rx, 99999);
    check_err(weft_netstring_receiver_feed(rx.ns, S("4:STOP,1:a,")), 0);
    check_str(t_log_str(&rx.log), "S:STOP|");
    check_err(weft_netstring_receiver_feed(rx.ns, NULL, 0), 0);
    check_str(t_log_str(&rx.log), "S:STOP|S:a|");
    rx_close(&rx);
}

static void test_feed_inside(void)
{
    rx_t rx;
    rx_open(&rx, 99999);
    check_err(weft_netstring_receiver_feed(rx.ns, S("4:FEED,1:a,2:bc,")), 0);
    check_str(t_log_str(&rx.log), "S:FEED|S:a|S:bc|S:fed|");
    rx_close(&rx);
    /* Appended after a partial netstring, the bytes join it (as in Twisted). */
    rx_open(&rx, 99999);
    check_err(weft_netstring_receiver_feed(rx.ns, S("4:FEED,2:b")), WEFT_EPROTO);
    check_str(t_log_str(&rx.log), "S:FEED|E:WEFT_EPROTO|");
    rx_close(&rx);
    every_way(99999, S("1:x,4:FEED,"), "S:x|S:FEED|S:fed|", 0);
}

static void test_free_inside(void)
{
    rx_t rx;
    rx_open(&rx, 99999);
    check_err(weft_netstring_receiver_feed(rx.ns, S("4:FR")), 0);
    check_err(weft_netstring_receiver_feed(rx.ns, S("EE,1:a,")), 0);
    check(rx.ns == NULL);
    check_str(t_log_str(&rx.log), "S:FREE|");
    rx_close(&rx);
}

/* ------------------------------------------------------------------ API edges, encoder */

static void test_new_refuses(void)
{
    int err = 0;
    weft_netstring_receiver_ops_t none = {0};
    check(weft_netstring_receiver_new(NULL, &none, NULL, &err) == NULL);
    check_err(err, WEFT_EINVAL);
    weft_netstring_receiver_options_t o;
    weft_netstring_receiver_options_init(&o);
    o.max_length = SIZE_MAX;
    check(weft_netstring_receiver_new(&o, &ops, NULL, &err) == NULL);
    check_err(err, WEFT_EINVAL);
    rx_t rx;
    rx_open(&rx, 10);
    check_err(weft_netstring_receiver_feed(rx.ns, NULL, 1), WEFT_EINVAL);
    check_err(weft_netstring_receiver_set_max_length(rx.ns, SIZE_MAX), WEFT_EINVAL);
    check_err(weft_netstring_receiver_set_max_length(rx.ns, 3), 0);
    check_uint(weft_netstring_receiver_max_length(rx.ns), ==, 3);
    check_err(weft_netstring_receiver_feed(rx.ns, S("3:abc,")), 0);
    check_err(weft_netstring_receiver_feed(rx.ns, S("4")), WEFT_EMSGSIZE);
    check_str(t_log_str(&rx.log), "S:abc|E:WEFT_EMSGSIZE|");
    rx_close(&rx);
}

static void test_encode(void)
{
    char out[64];
    size_t n = 0;
    check_err(weft_netstring_encode(S("abc"), out, sizeof(out), &n), 0);
    check(n == 6 && memcmp(out, "3:abc,", 6) == 0);
    check_err(weft_netstring_encode(S(""), out, sizeof(out), &n), 0);
    check(n == 3 && memcmp(out, "0:,", 3) == 0);
    check_err(weft_netstring_encode(NULL, 0, out, sizeof(out), &n), 0);
    check(n == 3 && memcmp(out, "0:,", 3) == 0);
    check_err(weft_netstring_encode(S("hello world!"), out, sizeof(out), &n), 0);
    check(n == 16 && memcmp(out, "12:hello world!,", 16) == 0);
    check_err(weft_netstring_encode(S("abc"), out, 5, &n), WEFT_ENOSPC);
    check_uint(n, ==, 6);
    check_err(weft_netstring_encode(S("abc"), out, sizeof(out), NULL), WEFT_EINVAL);
    /* The prefix alone, for writev: no leading zeros, any size (no maximum, as Twisted). */
    char pre[WEFT_NETSTRING_PREFIX_MAX];
    size_t pl = weft_netstring_prefix(pre, 0);
    check(pl == 2 && memcmp(pre, "0:", 2) == 0);
    pl = weft_netstring_prefix(pre, 100000);
    check(pl == 7 && memcmp(pre, "100000:", 7) == 0);
    pl = weft_netstring_prefix(pre, SIZE_MAX);
    char want[32];
    int wl = snprintf(want, sizeof(want), "%zu:", (size_t)SIZE_MAX);
    check(pl == (size_t)wl && memcmp(pre, want, pl) == 0);
    check_str(WEFT_NETSTRING_SUFFIX, ",");
    /* Round trip. */
    rx_t rx;
    rx_open(&rx, 99999);
    check_err(weft_netstring_encode(S("round,trip:"), out, sizeof(out), &n), 0);
    check_err(weft_netstring_receiver_feed(rx.ns, out, n), 0);
    check_str(t_log_str(&rx.log), "S:round,trip:|");
    rx_close(&rx);
}

static void test_random_stream(void)
{
    size_t count = t_under_valgrind() ? 200 : 2000;
    size_t cap = count * 140, at = 0;
    char *in = malloc(cap);
    t_log_t want = {0};
    uint32_t x = 777;
    for (size_t i = 0; i < count; i++) {
        x = x * 1103515245u + 12345u;
        size_t len = (x >> 16) % 120;
        char payload[128];
        for (size_t j = 0; j < len; j++) {
            x = x * 1103515245u + 12345u;
            payload[j] = (char)(x >> 16);
        }
        size_t n = 0;
        check_err(weft_netstring_encode(payload, len, in + at, cap - at, &n), 0);
        at += n;
        t_log_add(&want, 'S', payload, len, false);
    }
    every_way(200, in, at, t_log_str(&want), 0);
    free(in);
    t_log_free(&want);
}

/* ------------------------------------------------------------------ against a model of Twisted */

/*
 * A literal C transcription of Twisted's NetstringReceiver parsing (_consumeData,
 * _consumeLength with its two regular expressions, _extractLength with the digit-count and value
 * tests, _consumePayload, brokenPeer). Random streams of good and damaged netstrings are fed
 * to it and to weft in random chunks; after every chunk both logs must match. The model logs
 * only the first parse error (Twisted repeats it on later data; weft, by design, does not).
 */
typedef struct {
    char *rem;
    size_t len, cap;
    bool in_payload, broken;
    size_t expected; /* payload + comma */
    char *payload;
    size_t plen;
    size_t max;
    t_log_t log;
} nmodel_t;

static size_t max_length_size(size_t max)
{
    /* ceil(log10(max)) + 1 */
    size_t d = 0;
    for (size_t p = 1; p < max; d++) {
        if (p > SIZE_MAX / 10)
            return d + 2;
        p *= 10;
    }
    return d + 1;
}

/* 0 ok (*value set), -1 error */
static int extract_length(nmodel_t *m, const char *digits, size_t n, size_t *value)
{
    if (n > max_length_size(m->max))
        return -1;
    size_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (v > (SIZE_MAX - 9) / 10)
            return -1;
        v = v * 10 + (size_t)(digits[i] - '0');
    }
    if (v > m->max)
        return -1;
    *value = v;
    return 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* 1 consumed a frame or a length, 0 incomplete, -1 parse error */
static int nmodel_step(nmodel_t *m)
{
    if (!m->in_payload) {
        /* _LENGTH = (0|[1-9]\d*)(:) */
        size_t n = 0;
        if (m->len > 0 && m->rem[0] == '0')
            n = 1;
        else if (m->len > 0 && m->rem[0] >= '1' && m->rem[0] <= '9')
            for (n = 1; n < m->len && is_digit(m->rem[n]); n++)
                ;
        if (n > 0 && n < m->len && m->rem[n] == ':') {
            size_t v;
            if (extract_length(m, m->rem, n, &v) != 0)
                return -1;
            m->expected = v + 1;
            memmove(m->rem, m->rem + n + 1, m->len - n - 1);
            m->len -= n + 1;
            m->in_payload = true;
            m->plen = 0;
        } else {
            /* _LENGTH_PREFIX = (0|[1-9]\d*)$ must cover all the data */
            if (n == 0 || n != m->len)
                return -1;
            size_t v;
            if (extract_length(m, m->rem, n, &v) != 0)
                return -1;
            return 0;
        }
    }
    size_t want = m->expected - m->plen;
    size_t take = m->len < want ? m->len : want;
    memcpy(m->payload + m->plen, m->rem, take);
    m->plen += take;
    memmove(m->rem, m->rem + take, m->len - take);
    m->len -= take;
    if (m->plen < m->expected)
        return 0;
    if (m->payload[m->expected - 1] != ',')
        return -1;
    m->in_payload = false;
    t_log_add(&m->log, 'S', m->payload, m->expected - 1, false);
    return 1;
}

static void nmodel_feed(nmodel_t *m, const char *data, size_t len)
{
    if (m->len + len > m->cap) {
        m->cap = (m->len + len) * 2;
        m->rem = realloc(m->rem, m->cap);
    }
    memcpy(m->rem + m->len, data, len);
    m->len += len;
    while (m->len > 0) {
        int r = nmodel_step(m);
        if (r == 0)
            break;
        if (r < 0) {
            if (!m->broken)
                t_log_add(&m->log, 'E', "", 0, false);
            m->broken = true;
            break;
        }
    }
}

static void on_error_plain(void *ctx, int code, const char *reason)
{
    (void)code;
    (void)reason;
    t_log_add(&((rx_t *)ctx)->log, 'E', "", 0, false);
}

static int on_string_plain(void *ctx, const char *data, size_t len)
{
    t_log_add(&((rx_t *)ctx)->log, 'S', data, len, false);
    return 0;
}

static void test_against_model(void)
{
    const int rounds = t_under_valgrind() ? 30 : 400;
    weft_netstring_receiver_ops_t plain = {on_string_plain, on_error_plain};
    char *stream = malloc(8192);
    int errors_seen = 0;
    for (int round = 0; round < rounds; round++) {
        uint32_t x = 5000u + (uint32_t)round;
        x = x * 1103515245u + 12345u;
        size_t max = 1 + (x >> 8) % 60;
        size_t at = 0;
        while (at < 4000) {
            x = x * 1103515245u + 12345u;
            uint32_t r = (x >> 8) % 1000;
            size_t n = (x >> 4) % (max + 1) + (r == 999);
            if (r < 980 || round % 4 == 0) {
                char pay[80];
                for (size_t i = 0; i < n; i++)
                    pay[i] = ":,0a"[(x >> (i % 20)) % 4];
                size_t w;
                check_err(weft_netstring_encode(pay, n, stream + at, 8192 - at, &w), 0);
                at += w;
            } else {
                static const char *bad[] = {"007:", "01:a,", "3:abcd",
                                            "x",    ":",     "1a",
                                            "00",   "2:ab;", "99999999999999999999:",
                                            "0:,,"};
                size_t k = strlen(bad[r % 10]);
                memcpy(stream + at, bad[r % 10], k);
                at += k;
            }
        }
        nmodel_t m = {0};
        m.max = max;
        m.payload = malloc(max + 2);
        rx_t rx;
        memset(&rx, 0, sizeof(rx));
        weft_netstring_receiver_options_t o;
        weft_netstring_receiver_options_init(&o);
        o.max_length = max;
        rx.ns = weft_netstring_receiver_new(&o, &plain, &rx, NULL);
        bool same = true;
        for (size_t done = 0; done < at && same;) {
            x = x * 1103515245u + 12345u;
            size_t n = 1 + (x >> 8) % ((x >> 20) % 2 ? 6 : 300);
            if (n > at - done)
                n = at - done;
            const char *piece = t_guard(stream + done, n);
            nmodel_feed(&m, piece, n);
            int rc = weft_netstring_receiver_feed(rx.ns, piece, n);
            done += n;
            same = check_str(t_log_str(&rx.log), t_log_str(&m.log)) && check(m.broken == (rc != 0));
            if (!same)
                diag("round %d (max %zu), %zu of %zu bytes fed", round, max, done, at);
        }
        errors_seen += m.broken;
        weft_netstring_receiver_free(rx.ns);
        t_log_free(&rx.log);
        t_log_free(&m.log);
        free(m.rem);
        free(m.payload);
        if (!same)
            break;
    }
    free(stream);
    note("model comparison: %d of %d streams broke", errors_seen, rounds);
    check(errors_seen > 0 && errors_seen < rounds);
}

int main(void)
{
    TEST(test_vectors(), "Twisted's netstrings (\"3:abc,\", \"0:,\", binary, several in a row) "
                         "are delivered");
    TEST(test_defaults(), "the default max_length is 99999");
    TEST(test_exact_max(), "a netstring of exactly max_length is delivered");
    TEST(test_over_max(), "a length over max_length is an error with WEFT_EMSGSIZE at the digit "
                          "that makes it too big, before the colon");
    TEST(test_too_many_digits(), "a length with too many digits is an error at once");
    TEST(test_leading_zero(), "a leading zero (\"007:\", \"01:\", \"00:\") is an error with "
                              "WEFT_EPROTO, once, and nothing is delivered after it");
    TEST(test_non_digit(), "a non-digit where the length belongs is an error with WEFT_EPROTO, "
                           "once, and nothing is delivered after it");
    TEST(test_missing_comma(), "a missing trailing comma is an error with WEFT_EPROTO once its "
                               "place arrives, and nothing is delivered after it");
    TEST(test_earlier_strings_stay(),
         "strings completed earlier in the chunk stay delivered; the rest is dropped");
    TEST(test_error_without_callback(),
         "without parse_error, feed's return code reports the error and the receiver stays broken");
    TEST(test_pause_inside(), "pause inside string_received stops after it; resume works off "
                              "the buffer");
    TEST(test_stop_inside(), "a non-zero return from string_received keeps the rest for the "
                             "next feed");
    TEST(test_feed_inside(), "feed inside string_received only appends after the buffered bytes");
    TEST(test_free_inside(), "free inside string_received stops parsing and releases later");
    TEST(test_new_refuses(),
         "new refuses NULL callbacks and a huge max_length; set_max_length applies next");
    TEST(test_encode(), "the encoder writes \"<len>:<bytes>,\" byte for byte as Twisted's "
                        "sendString; the prefix alone suits writev");
    TEST(test_random_stream(),
         "a long stream of encoded netstrings decodes the same whole, by bytes and in splits");
    TEST(test_against_model(), "random streams of good and damaged netstrings in random chunks "
                               "give what a literal model of Twisted's parser gives");
    return done_testing();
}
