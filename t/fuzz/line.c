/* SPDX-License-Identifier: MIT */
/* Fuzz harness: the line receiver, its mode switches, pause/resume and re-entrant calls. */
#include <stdbool.h>
#include <string.h>

#include <weft/error.h>
#include <weft/framing.h>

#include "fuzz.h"

/*
 * The input is a script. Byte 0 picks the options (delimiter, line_only, a small max_length);
 * then each op byte picks an action on the receiver: feed the next (op & 31) + 1 bytes, pause,
 * resume, raw mode, line mode with extra bytes, clear the buffer, change max_length. Each
 * callback reads one more byte of the script and may stop, pause, switch mode, feed from
 * inside, clear, or free the receiver. Checked: a delivered line is never longer than the
 * largest max_length set, in line mode it never holds the delimiter, and every call returns
 * one of its documented codes.
 */

typedef struct {
    weft_line_receiver_t *lr;
    fuzz_in_t *in;
    size_t max_seen; /* the largest max_length ever set */
    bool line_only;
    bool freed;
} line_rx_t;

static const struct {
    const char *s;
    size_t len;
} delimiters[] = {{"\r\n", 2}, {"\n", 1}, {"ab", 2}, {"\0", 1}, {"xyzxy", 5}};

static bool feed_code_ok(int rc)
{
    return rc == 0 || rc == WEFT_EMSGSIZE;
}

/* The action a callback takes, from the next script byte. Returns the callback's result. */
static int react(line_rx_t *rx)
{
    uint8_t b = fuzz_byte(rx->in);
    switch (b & 15) {
    case 1:
        return 1; /* stop parsing this feed */
    case 2:
        weft_line_receiver_pause(rx->lr);
        break;
    case 3:
        WEFT_FUZZ_CHECK(feed_code_ok(weft_line_receiver_resume(rx->lr)));
        break;
    case 4: {
        int rc = weft_line_receiver_set_raw_mode(rx->lr);
        WEFT_FUZZ_CHECK(rc == 0 || rc == WEFT_EINVAL);
        break;
    }
    case 5: {
        size_t n;
        const char *p = fuzz_take(rx->in, b >> 4, &n);
        WEFT_FUZZ_CHECK(feed_code_ok(weft_line_receiver_set_line_mode(rx->lr, p, n)));
        break;
    }
    case 6: {
        size_t n;
        const char *p = fuzz_take(rx->in, b >> 4, &n);
        WEFT_FUZZ_CHECK(feed_code_ok(weft_line_receiver_feed(rx->lr, p, n)));
        break;
    }
    case 7: {
        const char *d;
        size_t n;
        WEFT_FUZZ_CHECK(weft_line_receiver_clear_buffer(rx->lr, &d, &n) == 0);
        WEFT_FUZZ_CHECK(n == 0 || d != NULL);
        fuzz_touch(d, n);
        break;
    }
    case 8:
        if (!rx->freed) {
            rx->freed = true;
            weft_line_receiver_free(rx->lr);
        }
        return 1;
    default:
        break;
    }
    return 0;
}

static int on_line(void *ctx, const char *line, size_t len)
{
    line_rx_t *rx = ctx;
    WEFT_FUZZ_CHECK(len <= rx->max_seen);
    WEFT_FUZZ_CHECK(len == 0 || line != NULL);
    fuzz_touch(line, len);
    size_t dlen;
    const char *delim = weft_line_receiver_delimiter(rx->lr, &dlen);
    WEFT_FUZZ_CHECK(memmem(line, len, delim, dlen) == NULL);
    return react(rx);
}

static int on_raw(void *ctx, const char *data, size_t len)
{
    line_rx_t *rx = ctx;
    WEFT_FUZZ_CHECK(len > 0 && data != NULL);
    fuzz_touch(data, len);
    return react(rx);
}

static void on_exceeded(void *ctx, const char *data, size_t len)
{
    line_rx_t *rx = ctx;
    WEFT_FUZZ_CHECK(len == 0 || data != NULL);
    fuzz_touch(data, len);
    /* Emptied first; a LineOnlyReceiver keeps the unterminated rest (framing.h). */
    WEFT_FUZZ_CHECK(rx->line_only || weft_line_receiver_buffered(rx->lr) == 0);
    (void)react(rx); /* its return is ignored: parsing stops anyway */
}

int FUZZ_ENTRY(line)(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    uint8_t opt = fuzz_byte(&in);
    weft_line_receiver_options_t o;
    weft_line_receiver_options_init(&o);
    o.delimiter = delimiters[(opt & 7) % (sizeof(delimiters) / sizeof(delimiters[0]))].s;
    o.delimiter_len = delimiters[(opt & 7) % (sizeof(delimiters) / sizeof(delimiters[0]))].len;
    o.line_only = (opt & 8) != 0;
    o.max_length = (size_t)(opt >> 4) * 4; /* 0 to 60: limits are reached often */
    weft_line_receiver_ops_t ops = {on_line, (opt & 0x80) ? NULL : on_raw, on_exceeded};
    if (opt == 0xff)
        ops.line_length_exceeded = NULL;

    line_rx_t rx = {.in = &in, .max_seen = o.max_length, .line_only = o.line_only};
    int err = 0;
    rx.lr = weft_line_receiver_new(&o, &ops, &rx, &err);
    WEFT_FUZZ_CHECK(rx.lr != NULL && err == 0);

    while (in.left > 0 && !rx.freed) {
        uint8_t op = fuzz_byte(&in);
        int rc = 0;
        size_t n;
        const char *p;
        switch (op >> 5) {
        case 0:
        case 1:
        case 2: /* the common case: feed a chunk */
            p = fuzz_take(&in, (op & 31) + 1u, &n);
            rc = weft_line_receiver_feed(rx.lr, p, n);
            break;
        case 3:
            weft_line_receiver_pause(rx.lr);
            WEFT_FUZZ_CHECK(weft_line_receiver_is_paused(rx.lr));
            break;
        case 4:
            rc = weft_line_receiver_resume(rx.lr);
            break;
        case 5:
            rc = weft_line_receiver_set_raw_mode(rx.lr);
            WEFT_FUZZ_CHECK(rc == 0 || rc == WEFT_EINVAL);
            if (rc == 0)
                WEFT_FUZZ_CHECK(!weft_line_receiver_is_line_mode(rx.lr));
            rc = 0;
            break;
        case 6:
            p = fuzz_take(&in, op & 31, &n);
            rc = weft_line_receiver_set_line_mode(rx.lr, p, n);
            break;
        case 7:
            if (op & 16) {
                size_t m = (size_t)(op & 15) * 5;
                WEFT_FUZZ_CHECK(weft_line_receiver_set_max_length(rx.lr, m) == 0);
                WEFT_FUZZ_CHECK(weft_line_receiver_max_length(rx.lr) == m);
                if (m > rx.max_seen)
                    rx.max_seen = m;
            } else {
                const char *d;
                WEFT_FUZZ_CHECK(weft_line_receiver_clear_buffer(rx.lr, &d, &n) == 0);
                WEFT_FUZZ_CHECK(weft_line_receiver_buffered(rx.lr) == 0);
            }
            break;
        }
        WEFT_FUZZ_CHECK(feed_code_ok(rc));
    }
    if (!rx.freed)
        weft_line_receiver_free(rx.lr);
    return 0;
}
