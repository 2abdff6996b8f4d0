/* SPDX-License-Identifier: MIT */
/* Int32/Int16/Int8StringReceiver: big-endian prefixes, Twisted's limits, pause, re-entrancy
 * and the encoders. Cases are fed whole, byte by byte and in seeded random splits against a
 * guard page. */
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
    weft_intn_receiver_t *ir;
    t_log_t log;
    int exceeded;
    bool closed;
} rx_t;

static int on_string(void *ctx, const char *data, size_t len)
{
    rx_t *rx = ctx;
    t_log_add(&rx->log, 'S', data, len, false);
    if (len == 5 && memcmp(data, "PAUSE", 5) == 0)
        weft_intn_receiver_pause(rx->ir);
    else if (len == 4 && memcmp(data, "STOP", 4) == 0)
        return 1;
    else if (len == 4 && memcmp(data, "FREE", 4) == 0) {
        weft_intn_receiver_free(rx->ir);
        rx->ir = NULL;
        rx->closed = true;
    }
    return 0;
}

static void on_exceeded(void *ctx, size_t length)
{
    rx_t *rx = ctx;
    rx->exceeded++;
    t_log_addf(&rx->log, 'X', "%zu", length);
}

static int on_plain(void *ctx, const char *data, size_t len)
{
    t_log_add(&((rx_t *)ctx)->log, 'S', data, len, false);
    return 0;
}

static const weft_intn_receiver_ops_t ops = {
    .string_received = on_string,
    .length_limit_exceeded = on_exceeded,
};

static int feed_fn(void *p, const char *data, size_t len)
{
    rx_t *rx = p;
    if (rx->closed)
        return 0;
    return weft_intn_receiver_feed(rx->ir, data, len);
}

static void rx_open(rx_t *rx, unsigned prefix, size_t max)
{
    memset(rx, 0, sizeof(*rx));
    weft_intn_receiver_options_t o;
    weft_intn_receiver_options_init(&o);
    o.prefix_size = prefix;
    o.max_length = max;
    int err = -1;
    rx->ir = weft_intn_receiver_new(&o, &ops, rx, &err);
    if (rx->ir == NULL)
        bail_out("weft_intn_receiver_new: %s", weft_strerror(err));
}

static void rx_close(rx_t *rx)
{
    weft_intn_receiver_free(rx->ir);
    t_log_free(&rx->log);
}

static bool every_way(unsigned prefix, size_t max, const char *input, size_t len, const char *want,
                      int want_err)
{
    bool ok = true;
    for (int w = 0; w < T_WAYS && ok; w++) {
        t_split_t how;
        unsigned seed;
        const char *name = t_way(w, &how, &seed);
        rx_t rx;
        rx_open(&rx, prefix, max);
        int rc = t_feed(feed_fn, &rx, input, len, how, seed, NULL);
        ok = check_str(t_log_str(&rx.log), want);
        ok = check_err(rc, want_err) && ok;
        ok = check_int(rx.exceeded, ==, want_err != 0) && ok;
        if (want_err != 0) {
            ok = check_err(weft_intn_receiver_error(rx.ir), want_err) && ok;
            ok = check_err(weft_intn_receiver_feed(rx.ir, "\0\0\0\0", prefix), want_err) && ok;
            ok = check_str(t_log_str(&rx.log), want) && ok;
            ok = check_int(rx.exceeded, ==, 1) && ok;
        }
        if (!ok)
            diag("fed %s, prefix %u", name, prefix);
        rx_close(&rx);
    }
    return ok;
}

#define S(lit) lit, sizeof(lit) - 1

/* ------------------------------------------------------------------ wire format */

static void test_vectors(void)
{
    every_way(4, 99999,
              S("\x00\x00\x00\x03"
                "abc"),
              "S:abc|", 0);
    every_way(2, 99999,
              S("\x00\x03"
                "abc"),
              "S:abc|", 0);
    every_way(1, 99999,
              S("\x03"
                "abc"),
              "S:abc|", 0);
    every_way(4, 99999, S("\x00\x00\x00\x00"), "S:|", 0);
    every_way(4, 99999,
              S("\x00\x00\x00\x01"
                "a"
                "\x00\x00\x00\x00"
                "\x00\x00\x00\x02"
                "\x00\xff"),
              "S:a|S:|S:\\x00\\xff|", 0);
    every_way(1, 99999,
              S("\x01"
                "a"
                "\x00"
                "\x02"
                "bc"),
              "S:a|S:|S:bc|", 0);
    /* Big-endian: 0x0102 = 258 bytes. */
    char in[2 + 258];
    in[0] = 1;
    in[1] = 2;
    memset(in + 2, 'k', 258);
    char want[300];
    snprintf(want, sizeof(want), "S:%.258s|", in + 2);
    every_way(2, 99999, in, sizeof(in), want, 0);
}

static void test_defaults(void)
{
    weft_intn_receiver_options_t o;
    weft_intn_receiver_options_init(&o);
    check_uint(o.max_length, ==, 99999);
    check_uint(WEFT_INTN_MAX_LENGTH_DEFAULT, ==, 99999);
    check_uint(o.prefix_size, ==, 4);
    rx_t rx;
    memset(&rx, 0, sizeof(rx));
    weft_intn_receiver_t *ir = weft_intn_receiver_new(NULL, &ops, &rx, NULL);
    check_uint(weft_intn_receiver_max_length(ir), ==, 99999);
    check_err(weft_intn_receiver_error(ir), 0);
    check(!weft_intn_receiver_is_paused(ir));
    weft_intn_receiver_free(ir);
    weft_intn_receiver_free(NULL);
}

/* ------------------------------------------------------------------ limits */

static void test_exact_max(void)
{
    every_way(4, 3,
              S("\x00\x00\x00\x03"
                "abc"),
              "S:abc|", 0);
    every_way(2, 3,
              S("\x00\x03"
                "abc"),
              "S:abc|", 0);
    every_way(1, 3,
              S("\x03"
                "abc"),
              "S:abc|", 0);
    /* The default, Int32: 99999 bytes. */
    size_t n = 99999;
    char *in = malloc(4 + n);
    in[0] = 0;
    in[1] = (char)(n >> 16);
    in[2] = (char)(n >> 8);
    in[3] = (char)n;
    memset(in + 4, 'z', n);
    for (int w = 0; w < 3; w++) {
        t_split_t how;
        unsigned seed;
        t_way(w, &how, &seed);
        if (how == T_BYTES && t_under_valgrind())
            continue;
        rx_t rx;
        rx_open(&rx, 4, WEFT_INTN_MAX_LENGTH_DEFAULT);
        check_err(t_feed(feed_fn, &rx, in, 4 + n, how, seed, NULL), 0);
        check_uint(rx.log.len, ==, 2 + n + 1);
        rx_close(&rx);
    }
    free(in);
}

static void test_over_max_at_once(void)
{
    /* Only the prefix has arrived: reported at once, before the payload. */
    every_way(4, 3, S("\x00\x00\x00\x04"), "X:4|", WEFT_EMSGSIZE);
    every_way(2, 3, S("\x00\x04"), "X:4|", WEFT_EMSGSIZE);
    every_way(1, 3, S("\x04"), "X:4|", WEFT_EMSGSIZE);
    every_way(4, 99999, S("\x00\x01\x86\xa0"), "X:100000|", WEFT_EMSGSIZE);
    every_way(4, 99999,
              S("\xff\xff\xff\xff"
                "abc"),
              "X:4294967295|", WEFT_EMSGSIZE);
    /* Strings before it in the same chunk stay delivered; nothing after it is. */
    every_way(1, 3,
              S("\x01"
                "a"
                "\x09"
                "abcdefghi"
                "\x01"
                "b"),
              "S:a|X:9|", WEFT_EMSGSIZE);
}

/* ------------------------------------------------------------------ pause, stop, re-entrancy */

static void test_pause(void)
{
    rx_t rx;
    rx_open(&rx, 4, 99999);
    check_err(weft_intn_receiver_feed(rx.ir, S("\0\0\0\x05PAUSE\0\0\0\x01"
                                               "a")),
              0);
    check_str(t_log_str(&rx.log), "S:PAUSE|");
    check(weft_intn_receiver_is_paused(rx.ir));
    check_err(weft_intn_receiver_feed(rx.ir, S("\0\0\0\x01"
                                               "b")),
              0);
    check_str(t_log_str(&rx.log), "S:PAUSE|");
    check_err(weft_intn_receiver_resume(rx.ir), 0);
    check_str(t_log_str(&rx.log), "S:PAUSE|S:a|S:b|");
    check(!weft_intn_receiver_is_paused(rx.ir));
    rx_close(&rx);
    /* Paused from the start: nothing is parsed, not even an oversized prefix. */
    rx_open(&rx, 1, 3);
    weft_intn_receiver_pause(rx.ir);
    check_err(weft_intn_receiver_feed(rx.ir, S("\x09")), 0);
    check_int(rx.exceeded, ==, 0);
    check_err(weft_intn_receiver_resume(rx.ir), WEFT_EMSGSIZE);
    check_int(rx.exceeded, ==, 1);
    rx_close(&rx);
}

static void test_stop(void)
{
    rx_t rx;
    rx_open(&rx, 2, 99999);
    check_err(weft_intn_receiver_feed(rx.ir, S("\0\x04STOP\0\x01"
                                               "a")),
              0);
    check_str(t_log_str(&rx.log), "S:STOP|");
    check_err(weft_intn_receiver_feed(rx.ir, NULL, 0), 0);
    check_str(t_log_str(&rx.log), "S:STOP|S:a|");
    rx_close(&rx);
}

static int feed_more(void *ctx, const char *data, size_t len)
{
    rx_t *rx = ctx;
    t_log_add(&rx->log, 'S', data, len, false);
    if (len == 1 && data[0] == 'f')
        check_err(weft_intn_receiver_feed(rx->ir, S("\x02"
                                                    "ed")),
                  0);
    return 0;
}

static void test_feed_inside(void)
{
    weft_intn_receiver_ops_t o = {.string_received = feed_more};
    weft_intn_receiver_options_t opts;
    weft_intn_receiver_options_init(&opts);
    opts.prefix_size = 1;
    rx_t rx;
    memset(&rx, 0, sizeof(rx));
    rx.ir = weft_intn_receiver_new(&opts, &o, &rx, NULL);
    check_err(weft_intn_receiver_feed(rx.ir, S("\x01"
                                               "f"
                                               "\x01"
                                               "x"
                                               "\x01")),
              0);
    /* "\x02ed" lands after the buffered "\x01", as in Twisted: the frame "\x01\x02". */
    check_str(t_log_str(&rx.log), "S:f|S:x|S:\\x02|");
    rx_close(&rx);
}

static void test_free_inside(void)
{
    rx_t rx;
    rx_open(&rx, 4, 99999);
    check_err(weft_intn_receiver_feed(rx.ir, S("\0\0\0\x04"
                                               "FR")),
              0);
    check_err(weft_intn_receiver_feed(rx.ir, S("EE\0\0\0\x01"
                                               "a")),
              0);
    check(rx.ir == NULL);
    check_str(t_log_str(&rx.log), "S:FREE|");
    rx_close(&rx);
}

/* ------------------------------------------------------------------ API edges, encoders */

static void test_new_refuses(void)
{
    int err = 0;
    weft_intn_receiver_ops_t none = {0};
    check(weft_intn_receiver_new(NULL, &none, NULL, &err) == NULL);
    check_err(err, WEFT_EINVAL);
    weft_intn_receiver_options_t o;
    weft_intn_receiver_options_init(&o);
    o.prefix_size = 3;
    check(weft_intn_receiver_new(&o, &ops, NULL, &err) == NULL);
    check_err(err, WEFT_EINVAL);
    weft_intn_receiver_options_init(&o);
    o.max_length = SIZE_MAX;
    check(weft_intn_receiver_new(&o, &ops, NULL, &err) == NULL);
    check_err(err, WEFT_EINVAL);
    rx_t rx;
    rx_open(&rx, 4, 10);
    check_err(weft_intn_receiver_feed(rx.ir, NULL, 1), WEFT_EINVAL);
    check_err(weft_intn_receiver_set_max_length(rx.ir, SIZE_MAX), WEFT_EINVAL);
    check_err(weft_intn_receiver_set_max_length(rx.ir, 2), 0);
    check_uint(weft_intn_receiver_max_length(rx.ir), ==, 2);
    check_err(weft_intn_receiver_feed(rx.ir, S("\0\0\0\x03")), WEFT_EMSGSIZE);
    check_str(t_log_str(&rx.log), "X:3|");
    rx_close(&rx);
}

static void test_encode(void)
{
    char out[300];
    size_t n = 0;
    check_err(weft_intn_encode(4, S("abc"), out, sizeof(out), &n), 0);
    check(n == 7 && memcmp(out,
                           "\x00\x00\x00\x03"
                           "abc",
                           7) == 0);
    check_err(weft_intn_encode(2, S("abc"), out, sizeof(out), &n), 0);
    check(n == 5 && memcmp(out,
                           "\x00\x03"
                           "abc",
                           5) == 0);
    check_err(weft_intn_encode(1, S("abc"), out, sizeof(out), &n), 0);
    check(n == 4 && memcmp(out,
                           "\x03"
                           "abc",
                           4) == 0);
    check_err(weft_intn_encode(4, NULL, 0, out, sizeof(out), &n), 0);
    check(n == 4 && memcmp(out, "\0\0\0\0", 4) == 0);
    check_err(weft_intn_encode(4, S("abc"), out, 6, &n), WEFT_ENOSPC);
    check_uint(n, ==, 7);
    check_err(weft_intn_encode(3, S("abc"), out, sizeof(out), &n), WEFT_EINVAL);
    /* Int8: 255 bytes go, 256 do not (Twisted's StringTooLongError). */
    char big[256];
    memset(big, 'b', sizeof(big));
    check_err(weft_intn_encode(1, big, 255, out, sizeof(out), &n), 0);
    check(n == 256 && (unsigned char)out[0] == 255);
    check_err(weft_intn_encode(1, big, 256, out, sizeof(out), &n), WEFT_EMSGSIZE);
    /* Over max_length is fine for the encoder, as in Twisted. */
    unsigned char pre[4];
    check_err(weft_intn_prefix(4, 100000, pre), 0);
    check(memcmp(pre, "\x00\x01\x86\xa0", 4) == 0);
    check_err(weft_intn_prefix(2, 65535, pre), 0);
    check(memcmp(pre, "\xff\xff", 2) == 0);
    check_err(weft_intn_prefix(2, 65536, pre), WEFT_EMSGSIZE);
    check_err(weft_intn_prefix(1, 256, pre), WEFT_EMSGSIZE);
    check_err(weft_intn_prefix(4, 0xffffffffu, pre), 0);
    check(memcmp(pre, "\xff\xff\xff\xff", 4) == 0);
#if SIZE_MAX > 0xffffffffu
    check_err(weft_intn_prefix(4, (size_t)0xffffffffu + 1, pre), WEFT_EMSGSIZE);
#endif
    check_err(weft_intn_prefix(4, 1, NULL), WEFT_EINVAL);
    check_err(weft_intn_prefix(0, 1, pre), WEFT_EINVAL);
}

static void test_random_stream(void)
{
    static const unsigned sizes[] = {1, 2, 4};
    for (int s = 0; s < 3; s++) {
        size_t count = t_under_valgrind() ? 100 : 1000;
        size_t cap = count * 140, at = 0;
        char *in = malloc(cap);
        t_log_t want = {0};
        uint32_t x = 99 + (uint32_t)s;
        for (size_t i = 0; i < count; i++) {
            x = x * 1103515245u + 12345u;
            size_t len = (x >> 16) % 130;
            char payload[130];
            for (size_t j = 0; j < len; j++) {
                x = x * 1103515245u + 12345u;
                payload[j] = (char)(x >> 16);
            }
            size_t n = 0;
            check_err(weft_intn_encode(sizes[s], payload, len, in + at, cap - at, &n), 0);
            at += n;
            t_log_add(&want, 'S', payload, len, false);
        }
        every_way(sizes[s], 200, in, at, t_log_str(&want), 0);
        free(in);
        t_log_free(&want);
    }
}

/* ------------------------------------------------------------------ against a model of Twisted */

/* A literal C transcription of IntNStringReceiver.dataReceived: one buffer, an offset, the
 * prefix checked before its payload. The model stops at the first lengthLimitExceeded: Twisted
 * keeps the whole chunk (_unprocessed = alldata) and restarts at offset 0 on the next
 * dataReceived, so it reports the limit again and even delivers again the strings that came
 * before the bad prefix in that chunk; weft, by design, stops for good. */
typedef struct {
    char *buf;
    size_t len, cap;
    unsigned n;
    size_t max;
    bool broken;
    t_log_t log;
} imodel_t;

static void imodel_feed(imodel_t *m, const char *data, size_t len)
{
    if (m->broken)
        return;
    if (m->len + len > m->cap) {
        m->cap = (m->len + len) * 2;
        m->buf = realloc(m->buf, m->cap);
    }
    memcpy(m->buf + m->len, data, len);
    m->len += len;
    size_t off = 0;
    while (m->len >= off + m->n) {
        size_t length = 0;
        for (unsigned i = 0; i < m->n; i++)
            length = length << 8 | (unsigned char)m->buf[off + i];
        if (length > m->max) {
            if (!m->broken)
                t_log_addf(&m->log, 'X', "%zu", length);
            m->broken = true;
            return;
        }
        if (m->len < off + m->n + length)
            break;
        t_log_add(&m->log, 'S', m->buf + off + m->n, length, false);
        off += m->n + length;
    }
    memmove(m->buf, m->buf + off, m->len - off);
    m->len -= off;
}

static void test_against_model(void)
{
    static const unsigned sizes[] = {1, 2, 4};
    const int rounds = t_under_valgrind() ? 30 : 300;
    char *stream = malloc(8192);
    int broke = 0;
    for (int round = 0; round < rounds; round++) {
        uint32_t x = 9000u + (uint32_t)round;
        x = x * 1103515245u + 12345u;
        unsigned ps = sizes[(x >> 8) % 3];
        size_t max = 1 + (x >> 12) % 200;
        size_t at = 0;
        while (at < 4000) {
            x = x * 1103515245u + 12345u;
            size_t n = (x >> 8) % (max + 1);
            if ((x >> 4) % 500 == 0)
                n = max + 1 + (x >> 20) % 50;
            if (ps == 1 && n > 255)
                n = 255;
            char pay[260];
            for (size_t i = 0; i < n && i < sizeof(pay); i++)
                pay[i] = (char)(x >> (i % 24));
            size_t w = 0;
            if (n > sizeof(pay)) {
                unsigned char pre[4];
                check_err(weft_intn_prefix(ps, n, pre), 0);
                memcpy(stream + at, pre, ps);
                at += ps;
                continue;
            }
            check_err(weft_intn_encode(ps, pay, n, stream + at, 8192 - at, &w), 0);
            at += w;
        }
        imodel_t m = {0};
        m.n = ps;
        m.max = max;
        rx_t rx;
        memset(&rx, 0, sizeof(rx));
        weft_intn_receiver_options_t o;
        weft_intn_receiver_options_init(&o);
        o.prefix_size = ps;
        o.max_length = max;
        weft_intn_receiver_ops_t plain = {.string_received = on_plain,
                                          .length_limit_exceeded = on_exceeded};
        rx.ir = weft_intn_receiver_new(&o, &plain, &rx, NULL);
        bool same = true;
        for (size_t done = 0; done < at && same;) {
            x = x * 1103515245u + 12345u;
            size_t n = 1 + (x >> 8) % ((x >> 20) % 2 ? 5 : 400);
            if (n > at - done)
                n = at - done;
            const char *piece = t_guard(stream + done, n);
            imodel_feed(&m, piece, n);
            int rc = weft_intn_receiver_feed(rx.ir, piece, n);
            done += n;
            same = check_str(t_log_str(&rx.log), t_log_str(&m.log)) && check(m.broken == (rc != 0));
            if (!same)
                diag("round %d (prefix %u, max %zu), %zu of %zu bytes", round, ps, max, done, at);
        }
        broke += m.broken;
        weft_intn_receiver_free(rx.ir);
        t_log_free(&rx.log);
        t_log_free(&m.log);
        free(m.buf);
        if (!same)
            break;
    }
    free(stream);
    note("model comparison: %d of %d streams hit the limit", broke, rounds);
    check(broke > 0 && broke < rounds);
}

int main(void)
{
    TEST(test_vectors(), "Twisted's Int32, Int16 and Int8 frames (big-endian unsigned prefix) "
                         "are delivered, empty ones included");
    TEST(test_defaults(), "the defaults are a 4-byte prefix and max_length 99999");
    TEST(test_exact_max(), "a string of exactly max_length is delivered");
    TEST(test_over_max_at_once(), "a prefix over max_length calls length_limit_exceeded once, at "
                                  "once, before its payload; nothing is delivered after it");
    TEST(test_pause(), "pause inside string_received stops after it; resume works off the "
                       "buffer");
    TEST(test_stop(), "a non-zero return from string_received keeps the rest for the next feed");
    TEST(test_feed_inside(), "feed inside string_received only appends after the buffered bytes");
    TEST(test_free_inside(), "free inside string_received stops parsing and releases later");
    TEST(test_new_refuses(), "new refuses NULL callbacks, prefix size 3 and a huge max_length; "
                             "set_max_length applies next");
    TEST(test_encode(), "the encoders write prefix + bytes as Twisted's sendString and refuse "
                        "len >= 2^(8n) with WEFT_EMSGSIZE, but not len > max_length");
    TEST(test_random_stream(),
         "long streams of IntN frames decode the same whole, by bytes and in random splits");
    TEST(test_against_model(), "random streams of IntN frames, some over the limit, in random "
                               "chunks give what a literal model of Twisted's parser gives");
    return done_testing();
}
