/* SPDX-License-Identifier: MIT */
/* LineReceiver and LineOnlyReceiver: Twisted's limits, raw mode, re-entrancy, the encoder.
 * Every case that does not depend on chunking is fed whole, byte by byte and in seeded random
 * splits, each piece flush against a guard page (feeder.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/error.h>
#include <weft/framing.h>

#include "feeder.h"
#include "helpers.h"
#include "tap.h"

/* feed's codes when no allocation fails: 0, or WEFT_EMSGSIZE after an over-long line. */
static bool ok_or_too_long(int rc)
{
    return rc == 0 || rc == WEFT_EMSGSIZE;
}

/* One receiver and what its callbacks saw. Lines may carry commands for the callback. */
typedef struct {
    weft_line_receiver_t *lr;
    t_log_t log;
    bool closed;          /* the exceeded reaction "closed the connection" */
    bool close_on_exceed; /* as the TCP glue's default */
    bool exceed_data;     /* log the exceeded bytes (chunk-dependent in some cases) */
    size_t raw_left;      /* raw mode: body bytes to take before going back to line mode */
    int exceeded;
    int raw_calls;
} rx_t;

static bool is(const char *line, size_t len, const char *cmd)
{
    return len == strlen(cmd) && memcmp(line, cmd, len) == 0;
}

/* The decimal number in line[at..len) (the line is not NUL-terminated). */
static size_t number_after(const char *line, size_t len, size_t at)
{
    size_t v = 0;
    for (; at < len && line[at] >= '0' && line[at] <= '9'; at++)
        v = v * 10 + (size_t)(line[at] - '0');
    return v;
}

static int on_line(void *ctx, const char *line, size_t len)
{
    rx_t *rx = ctx;
    t_log_add(&rx->log, 'L', line, len, false);
    if (len > 4 && memcmp(line, "RAW ", 4) == 0) {
        rx->raw_left = number_after(line, len, 4);
        check_err(weft_line_receiver_set_raw_mode(rx->lr), 0);
    } else if (is(line, len, "RAWALL")) {
        rx->raw_left = SIZE_MAX;
        check_err(weft_line_receiver_set_raw_mode(rx->lr), 0);
    } else if (is(line, len, "PAUSE")) {
        weft_line_receiver_pause(rx->lr);
    } else if (is(line, len, "PAUSERESUME")) {
        weft_line_receiver_pause(rx->lr);
        check_err(weft_line_receiver_resume(rx->lr), 0);
    } else if (is(line, len, "STOP")) {
        return 1;
    } else if (is(line, len, "FEED")) {
        check_err(weft_line_receiver_feed(rx->lr, "fed\r\n", 5), 0);
    } else if (is(line, len, "FEEDBIG")) {
        /* Several appends from one callback, each too big for the buffer so far. */
        char big[600];
        for (int i = 0; i < 3; i++) {
            size_t n = 200 * (size_t)(i + 1);
            memset(big, 'a' + i, n - 2);
            big[n - 2] = '\r';
            big[n - 1] = '\n';
            check_err(weft_line_receiver_feed(rx->lr, big, n), 0);
        }
    } else if (is(line, len, "CLEAR")) {
        const char *d;
        size_t n;
        check_err(weft_line_receiver_clear_buffer(rx->lr, &d, &n), 0);
        t_log_add(&rx->log, 'C', d, n, false);
    } else if (is(line, len, "FREE")) {
        weft_line_receiver_free(rx->lr);
        rx->lr = NULL;
        rx->closed = true;
    }
    return 0;
}

static int on_raw(void *ctx, const char *data, size_t len)
{
    rx_t *rx = ctx;
    rx->raw_calls++;
    size_t take = len < rx->raw_left ? len : rx->raw_left;
    t_log_add(&rx->log, 'R', data, take, true);
    if (rx->raw_left != SIZE_MAX)
        rx->raw_left -= take;
    if (rx->raw_left == 0)
        check_err(weft_line_receiver_set_line_mode(rx->lr, data + take, len - take), 0);
    return 0;
}

static void on_exceeded(void *ctx, const char *data, size_t len)
{
    rx_t *rx = ctx;
    rx->exceeded++;
    if (rx->exceed_data)
        t_log_add(&rx->log, 'X', data, len, false);
    else
        t_log_add(&rx->log, 'X', "", 0, false);
    if (rx->close_on_exceed)
        rx->closed = true;
}

static const weft_line_receiver_ops_t ops = {
    .line_received = on_line,
    .raw_data_received = on_raw,
    .line_length_exceeded = on_exceeded,
};

static int feed_fn(void *p, const char *data, size_t len)
{
    rx_t *rx = p;
    if (rx->closed)
        return 0;
    return weft_line_receiver_feed(rx->lr, data, len);
}

static void rx_open(rx_t *rx, const char *delim, size_t max, bool line_only)
{
    memset(rx, 0, sizeof(*rx));
    weft_line_receiver_options_t o;
    weft_line_receiver_options_init(&o);
    if (delim != NULL) {
        o.delimiter = delim;
        o.delimiter_len = strlen(delim);
    }
    o.max_length = max;
    o.line_only = line_only;
    int err = -1;
    rx->lr = weft_line_receiver_new(&o, &ops, rx, &err);
    if (rx->lr == NULL)
        bail_out("weft_line_receiver_new: %s", weft_strerror(err));
    check_err(err, 0);
    rx->close_on_exceed = true;
    rx->exceed_data = true;
}

static void rx_close(rx_t *rx)
{
    weft_line_receiver_free(rx->lr);
    t_log_free(&rx->log);
}

enum { RESUME_AT_END = 1, FEED_AGAIN_AT_END = 2, NO_EXCEED_DATA = 4 };

/* Feeds input every way and checks the log each time; also checks the bytes left buffered
 * (want_buffered, or SIZE_MAX for "don't check"). */
static bool every_way(const char *delim, size_t max, bool line_only, const char *input, size_t len,
                      const char *want, size_t want_buffered, int flags)
{
    bool ok = true;
    for (int w = 0; w < T_WAYS; w++) {
        t_split_t how;
        unsigned seed;
        const char *name = t_way(w, &how, &seed);
        rx_t rx;
        rx_open(&rx, delim, max, line_only);
        rx.exceed_data = !(flags & NO_EXCEED_DATA);
        t_feed(feed_fn, &rx, input, len, how, seed, &rx.closed);
        if ((flags & RESUME_AT_END) && !rx.closed)
            check_err(weft_line_receiver_resume(rx.lr), 0);
        for (int i = 0; i < 4 && (flags & FEED_AGAIN_AT_END) && !rx.closed; i++)
            check(ok_or_too_long(weft_line_receiver_feed(rx.lr, NULL, 0)));
        bool same = check_str(t_log_str(&rx.log), want);
        if (same && want_buffered != SIZE_MAX && rx.lr != NULL)
            same = check_uint(weft_line_receiver_buffered(rx.lr), ==, want_buffered);
        if (!same) {
            diag("fed %s", name);
            ok = false;
        }
        rx_close(&rx);
        if (!ok)
            break;
    }
    return ok;
}

#define S(lit) lit, sizeof(lit) - 1

static const char *find_crlf(const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (p[i] == '\r' && p[i + 1] == '\n')
            return p + i;
    return NULL;
}

static char *repeat(char c, size_t n, const char *suffix)
{
    size_t sl = suffix ? strlen(suffix) : 0;
    char *s = malloc(n + sl + 1);
    memset(s, c, n);
    if (sl)
        memcpy(s + n, suffix, sl);
    s[n + sl] = '\0';
    return s;
}

/* ------------------------------------------------------------------ plain lines */

static void test_lines(void)
{
    every_way(NULL, 16384, false, S("hello\r\nworld\r\n\r\nlast"), "L:hello|L:world|L:|", 4, 0);
}

static void test_other_delimiters(void)
{
    every_way("\n", 100, false, S("a\nbc\n\nd\r\n"), "L:a|L:bc|L:|L:d\\x0d|", 0, 0);
    every_way("END", 100, false, S("ENENDxENDEENDENEN"), "L:EN|L:x|L:E|", 4, 0);
    every_way("\r\n", 100, false, S("a\r\r\nb\rc\r\n\r"), "L:a\\x0d|L:b\\x0dc|", 1, 0);
}

static void test_defaults(void)
{
    weft_line_receiver_options_t o;
    weft_line_receiver_options_init(&o);
    check_uint(o.max_length, ==, 16384);
    check_uint(WEFT_LINE_MAX_LENGTH_DEFAULT, ==, 16384);
    check_uint(o.delimiter_len, ==, 2);
    check(memcmp(o.delimiter, "\r\n", 2) == 0);
    check(!o.line_only);
    rx_t rx;
    memset(&rx, 0, sizeof(rx));
    weft_line_receiver_t *lr = weft_line_receiver_new(NULL, &ops, &rx, NULL);
    check_uint(weft_line_receiver_max_length(lr), ==, 16384);
    size_t dlen = 0;
    const char *d = weft_line_receiver_delimiter(lr, &dlen);
    check_uint(dlen, ==, 2);
    check(memcmp(d, "\r\n", 2) == 0);
    check(weft_line_receiver_is_line_mode(lr));
    check(!weft_line_receiver_is_paused(lr));
    weft_line_receiver_free(lr);
    weft_line_receiver_free(NULL);
}

/* ------------------------------------------------------------------ limits (TWISTED 9.37) */

static void test_exact_max(void)
{
    char *in = repeat('x', 16, "\r\nok\r\n");
    char *want = malloc(64);
    snprintf(want, 64, "L:%.16s|L:ok|", in);
    every_way(NULL, 16, false, in, strlen(in), want, 0, 0);
    free(in);
    free(want);
    /* and at the default 16384 */
    in = repeat('y', 16384, "\r\n");
    rx_t rx;
    for (int w = 0; w < 3; w++) {
        t_split_t how;
        unsigned seed;
        t_way(w, &how, &seed);
        rx_open(&rx, NULL, WEFT_LINE_MAX_LENGTH_DEFAULT, false);
        rx.exceed_data = false;
        t_feed(feed_fn, &rx, in, strlen(in), how, seed, &rx.closed);
        check_int(rx.exceeded, ==, 0);
        check_uint(rx.log.len, ==, 2 + 16384 + 1);
        rx_close(&rx);
    }
    free(in);
}

static void test_complete_over_max(void)
{
    /* Whole: Twisted hands over line + delimiter + the rest of the buffer. */
    rx_t rx;
    rx_open(&rx, NULL, 16, false);
    rx.close_on_exceed = false;
    char *in = repeat('x', 17, "\r\nnext\r\npart");
    check_err(weft_line_receiver_feed(rx.lr, t_guard(in, strlen(in)), strlen(in)), WEFT_EMSGSIZE);
    char want[128];
    snprintf(want, sizeof(want), "X:%.17s\\x0d\\x0anext\\x0d\\x0apart|", in);
    check_str(t_log_str(&rx.log), want);
    check_uint(weft_line_receiver_buffered(rx.lr), ==, 0);
    /* The receiver goes on with later data. */
    check_err(weft_line_receiver_feed(rx.lr, S("ok\r\n")), 0);
    check_int(rx.exceeded, ==, 1);
    rx_close(&rx);
    free(in);
    /* Every way, the over-long line is reported before anything after it. */
    in = repeat('x', 17, "\r\nnext\r\n");
    every_way(NULL, 16, false, in, strlen(in), "X:|", SIZE_MAX, NO_EXCEED_DATA);
    free(in);
}

static void test_unterminated_waits(void)
{
    /* max + len(delimiter) - 1 bytes without a delimiter: no report yet. */
    char *in = repeat('x', 17, NULL);
    every_way(NULL, 16, false, in, 17, "", 17, 0);
    free(in);
    in = repeat('x', 16, "\r");
    every_way(NULL, 16, false, in, 17, "", 17, 0);
    /* ... and its delimiter's last byte makes it a line of exactly max_length */
    free(in);
    in = repeat('x', 16, "\r\n");
    char want[64];
    snprintf(want, sizeof(want), "L:%.16s|", in);
    every_way(NULL, 16, false, in, 18, want, 0, 0);
    free(in);
    in = repeat('x', 100, "EN");
    every_way("END", 100, false, in, 102, "", 102, 0);
    free(in);
}

static void test_unterminated_reported(void)
{
    char *in = repeat('x', 18, NULL);
    char want[256];
    snprintf(want, sizeof(want), "X:%s|", in);
    every_way(NULL, 16, false, in, 18, want, 0, 0);
    free(in);
    in = repeat('x', 103, NULL);
    snprintf(want, sizeof(want), "X:%s|", in);
    every_way("END", 100, false, in, 103, want, 0, 0);
    free(in);
}

static void test_lines_before_over_long(void)
{
    char *in = repeat('x', 40, "\r\n");
    char *all = malloc(strlen(in) + 16);
    sprintf(all, "a\r\nb\r\n%s", in);
    every_way(NULL, 16, false, all, strlen(all), "L:a|L:b|X:|", SIZE_MAX, NO_EXCEED_DATA);
    free(in);
    free(all);
}

static void test_set_max_length(void)
{
    rx_t rx;
    rx_open(&rx, NULL, 16, false);
    check_err(weft_line_receiver_set_max_length(rx.lr, 3), 0);
    check_uint(weft_line_receiver_max_length(rx.lr), ==, 3);
    check_err(weft_line_receiver_feed(rx.lr, S("abc\r\n")), 0);
    check_err(weft_line_receiver_feed(rx.lr, S("abcd\r\n")), WEFT_EMSGSIZE);
    check_str(t_log_str(&rx.log), "L:abc|X:abcd\\x0d\\x0a|");
    check_err(weft_line_receiver_set_max_length(rx.lr, SIZE_MAX), WEFT_EINVAL);
    rx_close(&rx);
}

static void test_buffer_bound(void)
{
    for (int line_only = 0; line_only < 2; line_only++) {
        rx_t rx;
        rx_open(&rx, NULL, 100, line_only);
        rx.close_on_exceed = false;
        rx.exceed_data = false;
        uint32_t x = 31;
        size_t worst = 0;
        for (int i = 0; i < 3000; i++) {
            char piece[64];
            x = x * 1103515245u + 12345u;
            size_t n = 1 + (x >> 8) % sizeof(piece);
            for (size_t j = 0; j < n; j++) {
                x = x * 1103515245u + 12345u;
                piece[j] = (x >> 12) % 500 == 0 ? '\n' : "ab\r"[(x >> 8) % 3];
            }
            check(ok_or_too_long(weft_line_receiver_feed(rx.lr, t_guard(piece, n), n)));
            size_t b = weft_line_receiver_buffered(rx.lr);
            if (b > worst)
                worst = b;
        }
        /* LineReceiver: below max + len(delimiter); line_only: at most max. */
        check_uint(worst, <=, line_only ? 100 : 101);
        check_int(rx.exceeded, >, 10);
        rx_close(&rx);
    }
}

/* ------------------------------------------------------------------ raw mode */

static void test_raw_switch_in_chunk(void)
{
    every_way(NULL, 100, false, S("HEAD\r\nRAW 5\r\nhellonext\r\nRAW 2\r\n\r\n\r\nend\r\n"),
              "L:HEAD|L:RAW 5|R:hello|L:next|L:RAW 2|R:\\x0d\\x0a|L:|L:end|", 0, 0);
}

static void test_raw_all_in_one_call(void)
{
    rx_t rx;
    rx_open(&rx, NULL, 100, false);
    weft_line_receiver_pause(rx.lr);
    check(weft_line_receiver_is_paused(rx.lr));
    t_feed(feed_fn, &rx, S("RAWALL\r\nabc\r\ndef\r\n"), T_BYTES, 0, NULL);
    check_str(t_log_str(&rx.log), "");
    check_uint(weft_line_receiver_buffered(rx.lr), ==, 18);
    check_err(weft_line_receiver_resume(rx.lr), 0);
    check_str(t_log_str(&rx.log), "L:RAWALL|R:abc\\x0d\\x0adef\\x0d\\x0a|");
    check_int(rx.raw_calls, ==, 1);
    check(!weft_line_receiver_is_line_mode(rx.lr));
    rx_close(&rx);
}

static void test_line_mode_extra_outside(void)
{
    rx_t rx;
    rx_open(&rx, NULL, 100, false);
    rx.raw_left = SIZE_MAX;
    check_err(weft_line_receiver_set_raw_mode(rx.lr), 0);
    check_err(weft_line_receiver_feed(rx.lr, S("raw\r\n")), 0);
    check_err(weft_line_receiver_set_line_mode(rx.lr, S("x\r\ny")), 0);
    check(weft_line_receiver_is_line_mode(rx.lr));
    check_str(t_log_str(&rx.log), "R:raw\\x0d\\x0a|L:x|");
    check_uint(weft_line_receiver_buffered(rx.lr), ==, 1);
    check_err(weft_line_receiver_set_line_mode(rx.lr, NULL, 0), 0);
    rx_close(&rx);
}

static void test_raw_refused(void)
{
    rx_t rx;
    rx_open(&rx, NULL, 100, true);
    check_err(weft_line_receiver_set_raw_mode(rx.lr), WEFT_EINVAL);
    rx_close(&rx);
    weft_line_receiver_ops_t no_raw = {.line_received = on_line};
    weft_line_receiver_t *lr = weft_line_receiver_new(NULL, &no_raw, NULL, NULL);
    check_err(weft_line_receiver_set_raw_mode(lr), WEFT_EINVAL);
    weft_line_receiver_free(lr);
}

/* ------------------------------------------------------------------ re-entrancy */

static void test_pause_inside(void)
{
    rx_t rx;
    rx_open(&rx, NULL, 100, false);
    check_err(weft_line_receiver_feed(rx.lr, S("a\r\nPAUSE\r\nb\r\nc")), 0);
    check_str(t_log_str(&rx.log), "L:a|L:PAUSE|");
    check_err(weft_line_receiver_feed(rx.lr, S("\r\n")), 0);
    check_str(t_log_str(&rx.log), "L:a|L:PAUSE|");
    check_uint(weft_line_receiver_buffered(rx.lr), ==, 6);
    check_err(weft_line_receiver_resume(rx.lr), 0);
    check_str(t_log_str(&rx.log), "L:a|L:PAUSE|L:b|L:c|");
    rx_close(&rx);
    every_way(NULL, 100, false, S("a\r\nPAUSE\r\nb\r\nPAUSERESUME\r\nc\r\n"),
              "L:a|L:PAUSE|L:b|L:PAUSERESUME|L:c|", 0, RESUME_AT_END);
}

static void test_feed_inside(void)
{
    rx_t rx;
    rx_open(&rx, NULL, 100, false);
    check_err(weft_line_receiver_feed(rx.lr, S("FEED\r\na\r\nb")), 0);
    /* As in Twisted: "fed\r\n" lands after the buffered "a\r\nb", so "b" and "fed" join. */
    check_str(t_log_str(&rx.log), "L:FEED|L:a|L:bfed|");
    check_uint(weft_line_receiver_buffered(rx.lr), ==, 0);
    rx_close(&rx);
    every_way(NULL, 100, false, S("x\r\nFEED\r\n"), "L:x|L:FEED|L:fed|", 0, 0);
}

static void test_feed_big_inside(void)
{
    char *a = repeat('a', 198, NULL), *b = repeat('b', 398, NULL), *c = repeat('c', 598, NULL);
    char *want = malloc(2000);
    snprintf(want, 2000, "L:x|L:FEEDBIG|L:%s|L:%s|L:%s|", a, b, c);
    every_way(NULL, 1000, false, S("x\r\nFEEDBIG\r\n"), want, 0, 0);
    /* Whole, with a line after it in the chunk: that line first, then the fed ones. */
    rx_t rx;
    rx_open(&rx, NULL, 1000, false);
    check_err(weft_line_receiver_feed(rx.lr, S("FEED")), 0);
    check_err(weft_line_receiver_feed(rx.lr, S("BIG\r\ny\r\n")), 0);
    snprintf(want, 2000, "L:FEEDBIG|L:y|L:%s|L:%s|L:%s|", a, b, c);
    check_str(t_log_str(&rx.log), want);
    rx_close(&rx);
    free(a);
    free(b);
    free(c);
    free(want);
}

static void test_stop(void)
{
    rx_t rx;
    rx_open(&rx, NULL, 100, false);
    check_err(weft_line_receiver_feed(rx.lr, S("STOP\r\na\r\nb")), 0);
    check_str(t_log_str(&rx.log), "L:STOP|");
    check_uint(weft_line_receiver_buffered(rx.lr), ==, 4);
    check_err(weft_line_receiver_feed(rx.lr, NULL, 0), 0);
    check_str(t_log_str(&rx.log), "L:STOP|L:a|");
    rx_close(&rx);
    every_way(NULL, 100, false, S("STOP\r\na\r\nSTOP\r\nb\r\n"), "L:STOP|L:a|L:STOP|L:b|", 0,
              FEED_AGAIN_AT_END);
}

static void test_clear_inside(void)
{
    rx_t rx;
    rx_open(&rx, NULL, 100, false);
    check_err(weft_line_receiver_feed(rx.lr, S("a\r\nCLEAR\r\nrest\r\nmore")), 0);
    check_str(t_log_str(&rx.log), "L:a|L:CLEAR|C:rest\\x0d\\x0amore|");
    check_uint(weft_line_receiver_buffered(rx.lr), ==, 0);
    rx_close(&rx);
    /* From a buffered line too (the rest then lives in the receiver's own memory). */
    rx_open(&rx, NULL, 100, false);
    check_err(weft_line_receiver_feed(rx.lr, S("CLE")), 0);
    check_err(weft_line_receiver_feed(rx.lr, S("AR\r\nxy\r\nFEED\r\n")), 0);
    check_str(t_log_str(&rx.log), "L:CLEAR|C:xy\\x0d\\x0aFEED\\x0d\\x0a|");
    rx_close(&rx);
}

static void test_clear_outside(void)
{
    rx_t rx;
    rx_open(&rx, NULL, 100, false);
    check_err(weft_line_receiver_feed(rx.lr, S("partial")), 0);
    const char *d = NULL;
    size_t n = 0;
    check_err(weft_line_receiver_clear_buffer(rx.lr, &d, &n), 0);
    check_uint(n, ==, 7);
    check(memcmp(d, "partial", 7) == 0);
    check_uint(weft_line_receiver_buffered(rx.lr), ==, 0);
    /* The lent bytes may be fed straight back. */
    check_err(weft_line_receiver_feed(rx.lr, d, n), 0);
    check_err(weft_line_receiver_feed(rx.lr, S("\r\n")), 0);
    check_str(t_log_str(&rx.log), "L:partial|");
    check_err(weft_line_receiver_clear_buffer(rx.lr, &d, &n), 0);
    check_uint(n, ==, 0);
    check_err(weft_line_receiver_clear_buffer(rx.lr, NULL, &n), WEFT_EINVAL);
    rx_close(&rx);
}

static void test_free_inside(void)
{
    rx_t rx;
    rx_open(&rx, NULL, 100, false);
    check_err(weft_line_receiver_feed(rx.lr, S("ab")), 0);
    check_err(weft_line_receiver_feed(rx.lr, S("\r\nFREE\r\nnever\r\n")), 0);
    check(rx.lr == NULL);
    check_str(t_log_str(&rx.log), "L:ab|L:FREE|");
    rx_close(&rx);
}

/* Raw bytes fed back as a line after set_line_mode from a pinned buffer, with growth. */
static void test_set_line_mode_from_buffer(void)
{
    rx_t rx;
    rx_open(&rx, NULL, 1000, false);
    check_err(weft_line_receiver_feed(rx.lr, S("RAW 3\r\n")), 0);
    weft_line_receiver_pause(rx.lr);
    char *big = repeat('z', 700, "\r\n");
    check_err(weft_line_receiver_feed(rx.lr, S("abc")), 0);
    check_err(weft_line_receiver_feed(rx.lr, big, strlen(big)), 0);
    check_err(weft_line_receiver_resume(rx.lr), 0);
    char want[800];
    snprintf(want, sizeof(want), "L:RAW 3|R:abc|L:%.700s|", big);
    check_str(t_log_str(&rx.log), want);
    free(big);
    rx_close(&rx);
}

/* ------------------------------------------------------------------ LineOnlyReceiver */

static void test_line_only_limits(void)
{
    char *in = repeat('x', 16, NULL);
    every_way(NULL, 16, true, in, 16, "", 16, 0);
    free(in);
    in = repeat('x', 16, "\r"); /* no delimiter allowance: 17 bytes are over */
    char want[64];
    snprintf(want, sizeof(want), "X:%s|", "xxxxxxxxxxxxxxxx\\x0d");
    every_way(NULL, 16, true, in, 17, want, 0, 0);
    free(in);
    /* A line of exactly max_length, whole: delivered. Fed so that its delimiter arrives in
     * pieces, "x..x\r" is already over the threshold, as in Twisted's LineOnlyReceiver. */
    in = repeat('x', 16, "\r\nab\r\n");
    rx_t rx;
    rx_open(&rx, NULL, 16, true);
    check_err(weft_line_receiver_feed(rx.lr, t_guard(in, strlen(in)), strlen(in)), 0);
    snprintf(want, sizeof(want), "L:%.16s|L:ab|", in);
    check_str(t_log_str(&rx.log), want);
    rx_close(&rx);
    rx_open(&rx, NULL, 16, true);
    check_err(weft_line_receiver_feed(rx.lr, t_guard(in, 17), 17), WEFT_EMSGSIZE);
    check_int(rx.exceeded, ==, 1);
    rx_close(&rx);
    free(in);
}

static void test_line_only_over_long(void)
{
    rx_t rx;
    rx_open(&rx, NULL, 4, true);
    rx.close_on_exceed = false;
    check_err(weft_line_receiver_feed(rx.lr, S("ok\r\ntoolong\r\nb\r\nc\r\ntail")), WEFT_EMSGSIZE);
    check_str(t_log_str(&rx.log), "L:ok|X:toolong|");
    check_uint(weft_line_receiver_buffered(rx.lr), ==, 4);
    check_err(weft_line_receiver_feed(rx.lr, S("\r\n")), 0);
    check_str(t_log_str(&rx.log), "L:ok|X:toolong|L:tail|");
    rx_close(&rx);
}

static void test_line_only_stop(void)
{
    rx_t rx;
    rx_open(&rx, NULL, 100, true);
    check_err(weft_line_receiver_feed(rx.lr, S("a\r\nSTOP\r\nb\r\nc\r\ntail")), 0);
    check_str(t_log_str(&rx.log), "L:a|L:STOP|");
    check_uint(weft_line_receiver_buffered(rx.lr), ==, 4);
    check_err(weft_line_receiver_feed(rx.lr, S("\r\n")), 0);
    check_str(t_log_str(&rx.log), "L:a|L:STOP|L:tail|");
    rx_close(&rx);
}

/* ------------------------------------------------------------------ API edges */

static void test_new_refuses(void)
{
    int err = 0;
    weft_line_receiver_ops_t none = {0};
    check(weft_line_receiver_new(NULL, &none, NULL, &err) == NULL);
    check_err(err, WEFT_EINVAL);
    check(weft_line_receiver_new(NULL, NULL, NULL, &err) == NULL);
    check_err(err, WEFT_EINVAL);
    weft_line_receiver_options_t o;
    weft_line_receiver_options_init(&o);
    o.delimiter_len = 0;
    check(weft_line_receiver_new(&o, &ops, NULL, &err) == NULL);
    check_err(err, WEFT_EINVAL);
    weft_line_receiver_options_init(&o);
    o.max_length = SIZE_MAX;
    check(weft_line_receiver_new(&o, &ops, NULL, &err) == NULL);
    check_err(err, WEFT_EINVAL);
    rx_t rx;
    rx_open(&rx, NULL, 10, false);
    check_err(weft_line_receiver_feed(rx.lr, NULL, 3), WEFT_EINVAL);
    check_err(weft_line_receiver_feed(NULL, "a", 1), WEFT_EINVAL);
    rx_close(&rx);
}

static void test_encode(void)
{
    char out[32];
    size_t n = 0;
    check_err(weft_line_encode(S("\r\n"), S("hello"), out, sizeof(out), &n), 0);
    check_uint(n, ==, 7);
    check(memcmp(out, "hello\r\n", 7) == 0);
    check_err(weft_line_encode(S("\r\n"), S(""), out, sizeof(out), &n), 0);
    check_uint(n, ==, 2);
    check(memcmp(out, "\r\n", 2) == 0);
    /* Twisted does not check the line: a delimiter inside goes out as is. */
    check_err(weft_line_encode(S("\n"), S("a\nb"), out, sizeof(out), &n), 0);
    check(n == 4 && memcmp(out, "a\nb\n", 4) == 0);
    check_err(weft_line_encode(S("\r\n"), S("hello"), out, 6, &n), WEFT_ENOSPC);
    check_uint(n, ==, 7);
    check_err(weft_line_encode(S("\r\n"), S("hello"), NULL, 0, &n), WEFT_ENOSPC);
    check_err(weft_line_encode("", 0, S("x"), out, sizeof(out), &n), WEFT_EINVAL);
    /* Round trip through a receiver. */
    rx_t rx;
    rx_open(&rx, NULL, 100, false);
    check_err(weft_line_encode(S("\r\n"), S("round trip"), out, sizeof(out), &n), 0);
    check_err(weft_line_receiver_feed(rx.lr, out, n), 0);
    check_str(t_log_str(&rx.log), "L:round trip|");
    rx_close(&rx);
}

/* ------------------------------------------------------------------ a long random stream */

static void test_random_stream(void)
{
    size_t total = t_under_valgrind() ? 16 * 1024 : 256 * 1024;
    char *in = malloc(total);
    t_log_t want = {0};
    uint32_t x = 12345;
    size_t at = 0;
    while (at + 200 < total) {
        x = x * 1103515245u + 12345u;
        size_t len = (x >> 16) % 120;
        const char *start = in + at;
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            char c = (char)('a' + (x >> 16) % 26);
            if ((x >> 8) % 17 == 0)
                c = '\r'; /* a lone CR: part of the line */
            if (i + 1 == len && c == '\r')
                c = 'r';
            in[at++] = c;
        }
        t_log_add(&want, 'L', start, len, false);
        in[at++] = '\r';
        in[at++] = '\n';
    }
    every_way(NULL, 200, false, in, at, t_log_str(&want), 0, NO_EXCEED_DATA);
    free(in);
    t_log_free(&want);
}

/* ------------------------------------------------------------------ against a model of Twisted */

/*
 * A literal C transcription of Twisted's LineReceiver.dataReceived (protocols/basic.py): one
 * plain buffer, appended to on every call, the _busyReceiving guard, the paused check, and
 * the same callbacks. Random streams of lines carrying commands (raw mode, pause, stop, feed,
 * clear, over-long lines) are fed to it and to weft in random chunks; the logs must match.
 */
typedef struct model_s model_t;

/* What a command line may do, on either implementation. */
typedef struct {
    int (*feed)(void *impl, const char *data, size_t len);
    void (*pause)(void *impl);
    void (*set_raw)(void *impl);
    int (*set_line)(void *impl, const char *extra, size_t len);
    void (*clear)(void *impl, const char **data, size_t *len);
} impl_ops_t;

typedef struct {
    const impl_ops_t *ops;
    void *impl;
    t_log_t log;
    size_t raw_left;
} side_t;

struct model_s {
    char *buf;
    size_t len, cap;
    bool busy, paused, raw;
    size_t max;
    side_t *side;
    char *cleared;
};

static int side_line(side_t *sd, const char *line, size_t len)
{
    t_log_add(&sd->log, 'L', line, len, false);
    if (len > 4 && memcmp(line, "RAW ", 4) == 0) {
        sd->raw_left = number_after(line, len, 4);
        sd->ops->set_raw(sd->impl);
    } else if (is(line, len, "PAUSE")) {
        sd->ops->pause(sd->impl);
    } else if (is(line, len, "STOP")) {
        return 1;
    } else if (is(line, len, "FEED")) {
        sd->ops->feed(sd->impl, "fed\r\nfe", 7);
    } else if (is(line, len, "CLEAR")) {
        const char *d;
        size_t n;
        sd->ops->clear(sd->impl, &d, &n);
        t_log_add(&sd->log, 'C', d, n, false);
    }
    return 0;
}

static int side_raw(side_t *sd, const char *data, size_t len)
{
    size_t take = len < sd->raw_left ? len : sd->raw_left;
    t_log_add(&sd->log, 'R', data, take, false);
    sd->raw_left -= take;
    if (sd->raw_left == 0)
        sd->ops->set_line(sd->impl, data + take, len - take);
    return 0;
}

static void side_exceeded(side_t *sd, const char *data, size_t len)
{
    t_log_add(&sd->log, 'X', data, len, false);
}

static void model_append(model_t *m, const char *data, size_t len)
{
    if (m->len + len + 1 > m->cap) {
        m->cap = (m->len + len + 1) * 2;
        m->buf = realloc(m->buf, m->cap);
    }
    if (len > 0)
        memcpy(m->buf + m->len, data, len);
    m->len += len;
}

static int model_feed(void *impl, const char *data, size_t len)
{
    model_t *m = impl;
    model_append(m, data, len);
    if (m->busy)
        return 0;
    m->busy = true;
    while (m->len > 0 && !m->paused) {
        if (!m->raw) {
            const char *q = find_crlf(m->buf, m->len);
            if (q == NULL) {
                if (m->len >= m->max + 2) {
                    char *all = malloc(m->len);
                    size_t n = m->len;
                    memcpy(all, m->buf, n);
                    m->len = 0;
                    side_exceeded(m->side, all, n);
                    free(all);
                }
                break;
            }
            size_t ll = (size_t)(q - m->buf);
            if (ll > m->max) {
                char *all = malloc(m->len);
                size_t n = m->len;
                memcpy(all, m->buf, n);
                m->len = 0;
                side_exceeded(m->side, all, n);
                free(all);
                break;
            }
            char *line = malloc(ll + 1);
            memcpy(line, m->buf, ll);
            memmove(m->buf, m->buf + ll + 2, m->len - ll - 2);
            m->len -= ll + 2;
            int why = side_line(m->side, line, ll);
            free(line);
            if (why)
                break;
        } else {
            char *all = malloc(m->len);
            size_t n = m->len;
            memcpy(all, m->buf, n);
            m->len = 0;
            int why = side_raw(m->side, all, n);
            free(all);
            if (why)
                break;
        }
    }
    m->busy = false;
    return 0;
}

static void model_pause(void *impl)
{
    ((model_t *)impl)->paused = true;
}

static void model_set_raw(void *impl)
{
    ((model_t *)impl)->raw = true;
}

static int model_set_line(void *impl, const char *extra, size_t len)
{
    model_t *m = impl;
    m->raw = false;
    if (len > 0)
        return model_feed(m, extra, len);
    return 0;
}

static void model_clear(void *impl, const char **data, size_t *len)
{
    model_t *m = impl;
    free(m->cleared);
    m->cleared = malloc(m->len + 1);
    memcpy(m->cleared, m->buf, m->len);
    *data = m->cleared;
    *len = m->len;
    m->len = 0;
}

static const impl_ops_t model_ops = {model_feed, model_pause, model_set_raw, model_set_line,
                                     model_clear};

static int weft_side_feed(void *impl, const char *data, size_t len)
{
    return weft_line_receiver_feed(impl, data, len);
}

static void weft_side_pause(void *impl)
{
    weft_line_receiver_pause(impl);
}

static void weft_side_set_raw(void *impl)
{
    check_err(weft_line_receiver_set_raw_mode(impl), 0);
}

static int weft_side_set_line(void *impl, const char *extra, size_t len)
{
    return weft_line_receiver_set_line_mode(impl, extra, len);
}

static void weft_side_clear(void *impl, const char **data, size_t *len)
{
    check_err(weft_line_receiver_clear_buffer(impl, data, len), 0);
}

static const impl_ops_t weft_side_ops = {weft_side_feed, weft_side_pause, weft_side_set_raw,
                                         weft_side_set_line, weft_side_clear};

static int w_line(void *ctx, const char *line, size_t len)
{
    return side_line(ctx, line, len);
}

static int w_raw(void *ctx, const char *data, size_t len)
{
    return side_raw(ctx, data, len);
}

static void w_exceeded(void *ctx, const char *data, size_t len)
{
    side_exceeded(ctx, data, len);
}

static uint32_t rnd(uint32_t *x)
{
    *x = *x * 1103515245u + 12345u;
    return *x >> 8;
}

/* A stream of lines, commands among them. */
static size_t make_stream(char *out, size_t cap, uint32_t *x, size_t max)
{
    static const char *cmds[] = {"PAUSE", "STOP", "FEED", "CLEAR", "RAW "};
    size_t at = 0;
    while (at + 2 * max + 64 < cap) {
        uint32_t r = rnd(x) % 100;
        if (r < 12) {
            const char *c = cmds[rnd(x) % 5];
            at += (size_t)sprintf(out + at, "%s", c);
            if (c[0] == 'R') {
                size_t n = rnd(x) % 20;
                at += (size_t)sprintf(out + at, "%zu\r\n", n);
                for (size_t i = 0; i < n; i++)
                    out[at++] = "ab\r\nz"[rnd(x) % 5];
                continue;
            }
        } else {
            size_t n = r < 16 ? max + rnd(x) % 8 - 3 : rnd(x) % 12;
            for (size_t i = 0; i < n; i++)
                out[at++] = "xyz\r"[rnd(x) % 4];
        }
        out[at++] = '\r';
        out[at++] = '\n';
    }
    return at;
}

static void test_against_model(void)
{
    const int rounds = t_under_valgrind() ? 20 : 300;
    weft_line_receiver_ops_t wops = {w_line, w_raw, w_exceeded};
    char *stream = malloc(4096);
    size_t seen[4] = {0}; /* over-long reports, clears, raw chunks, lines */
    for (int round = 0; round < rounds; round++) {
        uint32_t x = 1000u + (uint32_t)round;
        size_t max = 4 + rnd(&x) % 20;
        size_t len = make_stream(stream, 4096, &x, max);
        side_t ms = {&model_ops, NULL, {0}, 0}, ws = {&weft_side_ops, NULL, {0}, 0};
        model_t m = {0};
        m.max = max;
        m.side = &ms;
        ms.impl = &m;
        weft_line_receiver_options_t o;
        weft_line_receiver_options_init(&o);
        o.max_length = max;
        weft_line_receiver_t *lr = weft_line_receiver_new(&o, &wops, &ws, NULL);
        ws.impl = lr;
        size_t at = 0;
        bool same = true;
        while (at < len && same) {
            size_t n = 1 + rnd(&x) % (rnd(&x) % 2 ? 8 : 200);
            if (n > len - at)
                n = len - at;
            const char *piece = t_guard(stream + at, n);
            model_feed(&m, piece, n);
            check(ok_or_too_long(weft_line_receiver_feed(lr, piece, n)));
            at += n;
            if (rnd(&x) % 3 == 0 && m.paused) {
                m.paused = false;
                model_feed(&m, "", 0);
                check(ok_or_too_long(weft_line_receiver_resume(lr)));
            }
            same = check_str(t_log_str(&ws.log), t_log_str(&ms.log)) &&
                   check_uint(weft_line_receiver_buffered(lr), ==, m.len) &&
                   check(weft_line_receiver_is_paused(lr) == m.paused);
        }
        if (!same)
            diag("round %d, %zu of %zu bytes fed", round, at, len);
        for (const char *e = t_log_str(&ms.log); *e != '\0'; e++) {
            if (e == t_log_str(&ms.log) || e[-1] == '|') {
                const char *tags = "XCRL";
                const char *t = strchr(tags, *e);
                if (t != NULL)
                    seen[t - tags]++;
            }
        }
        weft_line_receiver_free(lr);
        free(m.buf);
        free(m.cleared);
        t_log_free(&ms.log);
        t_log_free(&ws.log);
        if (!same)
            break;
    }
    free(stream);
    note("model comparison saw %zu over-long reports, %zu clears, %zu raw chunks, %zu lines",
         seen[0], seen[1], seen[2], seen[3]);
    check(seen[0] > 0 && seen[1] > 0 && seen[2] > 0 && seen[3] > 0);
}

int main(void)
{
    TEST(test_lines(), "lines split on \\r\\n are delivered without the delimiter, in order, "
                       "and the unterminated rest stays buffered");
    TEST(test_other_delimiters(),
         "a one-byte or three-byte delimiter splits the same way, partial delimiters included");
    TEST(test_defaults(), "the defaults are max_length 16384 and the delimiter \\r\\n, line mode");
    TEST(test_exact_max(), "a line of exactly max_length is delivered");
    TEST(test_complete_over_max(), "a complete line of max_length + 1 reports line, delimiter "
                                   "and the rest, empties the buffer, and parsing goes on later");
    TEST(test_unterminated_waits(),
         "an unterminated buffer of max_length + len(delimiter) - 1 bytes waits for more");
    TEST(test_unterminated_reported(),
         "an unterminated buffer of max_length + len(delimiter) bytes is reported whole");
    TEST(test_lines_before_over_long(), "lines before an over-long line are delivered first");
    TEST(test_set_max_length(), "set_max_length applies to the next line and refuses huge values");
    TEST(test_buffer_bound(), "between feeds the buffer never holds more than max_length + "
                              "len(delimiter) - 1 bytes (line_only: max_length)");
    TEST(test_raw_switch_in_chunk(),
         "raw mode set inside line_received takes the rest of the same chunk, and "
         "set_line_mode(extra) from raw_data_received parses extra as lines");
    TEST(test_raw_all_in_one_call(),
         "raw mode hands everything buffered to raw_data_received in one call");
    TEST(test_line_mode_extra_outside(), "set_line_mode(extra) outside callbacks parses extra now");
    TEST(test_raw_refused(), "set_raw_mode is refused for line_only and without raw_data_received");
    TEST(test_pause_inside(), "pause inside line_received stops after that line; feeds buffer "
                              "while paused and resume works them off");
    TEST(test_feed_inside(),
         "feed inside line_received only appends: its bytes are parsed after the buffered ones");
    TEST(test_feed_big_inside(), "several large feeds from one callback are all parsed, in order, "
                                 "after the buffered bytes");
    TEST(test_stop(),
         "a non-zero return from line_received stops parsing and keeps the rest for the next feed");
    TEST(test_clear_inside(),
         "clear_buffer inside line_received hands back the unparsed rest and empties the buffer");
    TEST(test_clear_outside(), "clear_buffer returns what was buffered, and those bytes may be "
                               "fed straight back");
    TEST(test_free_inside(), "free inside line_received stops parsing; the receiver is released "
                             "when feed returns");
    TEST(test_set_line_mode_from_buffer(),
         "set_line_mode(extra) with extra in the receiver's own buffer survives its growth");
    TEST(test_line_only_limits(), "line_only: an unterminated buffer of max_length waits, "
                                  "max_length + 1 is reported, a whole line of max_length is "
                                  "delivered");
    TEST(test_line_only_over_long(), "line_only: an over-long line reports just the line and "
                                     "drops the chunk's other complete lines, keeping the rest");
    TEST(test_line_only_stop(), "line_only: a non-zero return drops the chunk's other complete "
                                "lines and keeps the unterminated rest");
    TEST(test_new_refuses(), "new refuses NULL callbacks, an empty delimiter and a huge "
                             "max_length; feed refuses NULL data with WEFT_EINVAL");
    TEST(test_encode(), "the line encoder writes line + delimiter as Twisted's sendLine, and "
                        "says WEFT_ENOSPC with the size needed");
    TEST(test_random_stream(),
         "a long random stream gives the same lines whole, byte by byte and in random splits");
    TEST(test_against_model(),
         "random feeds with pauses, stops, re-entrant feeds, clears, raw mode and over-long "
         "lines give what a literal model of Twisted's dataReceived gives");
    return done_testing();
}
