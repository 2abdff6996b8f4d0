/* SPDX-License-Identifier: MIT */
/* Fuzz harness: the Int8/16/32 receivers, fed in input-driven chunks with pause/resume. */
#include <stdbool.h>
#include <string.h>

#include <weft/error.h>
#include <weft/framing.h>

#include "fuzz.h"

/*
 * Byte 0 picks the prefix size (1, 2 or 4), max_length (0 to 63 times 5) and whether
 * length_limit_exceeded is set; then as the netstring harness. Checked: payloads fit
 * max_length, the limit callback runs at most once and with a length over the limit, feed
 * returns only documented codes, and what the encoder makes of a payload parses back to it.
 */

typedef struct {
    weft_intn_receiver_t *ir;
    fuzz_in_t *in;
    size_t max_seen;
    int exceeded;
    bool freed;
} intn_rx_t;

static bool code_ok(int rc)
{
    return rc == 0 || rc == WEFT_EMSGSIZE;
}

static int on_string(void *ctx, const char *data, size_t len)
{
    intn_rx_t *rx = ctx;
    WEFT_FUZZ_CHECK(len <= rx->max_seen);
    WEFT_FUZZ_CHECK(len == 0 || data != NULL);
    fuzz_touch(data, len);
    uint8_t b = fuzz_byte(rx->in);
    switch (b & 7) {
    case 1:
        return 1;
    case 2:
        weft_intn_receiver_pause(rx->ir);
        break;
    case 3:
        WEFT_FUZZ_CHECK(code_ok(weft_intn_receiver_resume(rx->ir)));
        break;
    case 4: {
        size_t n;
        const char *p = fuzz_take(rx->in, b >> 3, &n);
        WEFT_FUZZ_CHECK(code_ok(weft_intn_receiver_feed(rx->ir, p, n)));
        break;
    }
    case 5:
        rx->freed = true;
        weft_intn_receiver_free(rx->ir);
        return 1;
    default:
        break;
    }
    return 0;
}

static void on_exceeded(void *ctx, size_t length)
{
    intn_rx_t *rx = ctx;
    WEFT_FUZZ_CHECK(length > weft_intn_receiver_max_length(rx->ir));
    rx->exceeded++;
}

/* The encoder's frame of a payload, fed back, gives that payload. */
typedef struct {
    const char *want;
    size_t want_len;
    int got;
} echo_t;

static int on_echo(void *ctx, const char *data, size_t len)
{
    echo_t *e = ctx;
    WEFT_FUZZ_CHECK(len == e->want_len && memcmp(data, e->want, len) == 0);
    e->got++;
    return 0;
}

static void round_trip(unsigned prefix, const char *p, size_t n)
{
    char frame[4 + 256];
    size_t flen = 0;
    if (prefix == 1 && n > 255)
        n = 255;
    WEFT_FUZZ_CHECK(weft_intn_encode(prefix, p, n, frame, sizeof(frame), &flen) == 0);
    WEFT_FUZZ_CHECK(flen == prefix + n);
    weft_intn_receiver_options_t o;
    weft_intn_receiver_options_init(&o);
    o.prefix_size = prefix;
    echo_t e = {p, n, 0};
    weft_intn_receiver_ops_t ops = {on_echo, NULL};
    weft_intn_receiver_t *ir = weft_intn_receiver_new(&o, &ops, &e, NULL);
    WEFT_FUZZ_CHECK(ir != NULL);
    WEFT_FUZZ_CHECK(weft_intn_receiver_feed(ir, frame, flen) == 0);
    WEFT_FUZZ_CHECK(e.got == 1);
    weft_intn_receiver_free(ir);
}

int FUZZ_ENTRY(intn)(const uint8_t *data, size_t size)
{
    static const unsigned prefixes[] = {1, 2, 4, 4};
    fuzz_in_t in = {data, size};
    uint8_t opt = fuzz_byte(&in);
    weft_intn_receiver_options_t o;
    weft_intn_receiver_options_init(&o);
    o.prefix_size = prefixes[opt & 3];
    o.max_length = (size_t)((opt >> 2) & 31) * 5;
    weft_intn_receiver_ops_t ops = {on_string, (opt & 0x80) ? on_exceeded : NULL};

    intn_rx_t rx = {.in = &in, .max_seen = o.max_length};
    int err = 0;
    rx.ir = weft_intn_receiver_new(&o, &ops, &rx, &err);
    WEFT_FUZZ_CHECK(rx.ir != NULL && err == 0);

    while (in.left > 0 && !rx.freed) {
        uint8_t op = fuzz_byte(&in);
        int before = weft_intn_receiver_error(rx.ir);
        int rc = 0;
        size_t n;
        const char *p;
        switch (op >> 6) {
        case 0:
        case 1:
            p = fuzz_take(&in, (op & 63) + 1u, &n);
            rc = weft_intn_receiver_feed(rx.ir, p, n);
            break;
        case 2:
            if (op & 32) {
                weft_intn_receiver_pause(rx.ir);
            } else if (op & 16) {
                p = fuzz_take(&in, op & 15, &n);
                round_trip(o.prefix_size, p, n);
            } else {
                rc = weft_intn_receiver_resume(rx.ir);
            }
            break;
        case 3: {
            size_t m = (size_t)(op & 63) * 7;
            WEFT_FUZZ_CHECK(weft_intn_receiver_set_max_length(rx.ir, m) == 0);
            if (m > rx.max_seen)
                rx.max_seen = m;
            break;
        }
        }
        WEFT_FUZZ_CHECK(code_ok(rc));
        if (rx.freed)
            break;
        int after = weft_intn_receiver_error(rx.ir);
        WEFT_FUZZ_CHECK(before == 0 || after == before);
        WEFT_FUZZ_CHECK(rx.exceeded <= 1);
    }
    if (!rx.freed)
        weft_intn_receiver_free(rx.ir);
    return 0;
}
