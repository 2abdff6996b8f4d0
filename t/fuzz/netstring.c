/* SPDX-License-Identifier: MIT */
/* Fuzz harness: the netstring receiver, fed in input-driven chunks with pause/resume. */
#include <stdbool.h>
#include <string.h>

#include <weft/error.h>
#include <weft/framing.h>

#include "fuzz.h"

/*
 * Byte 0 picks max_length (0 to 255, or the default for 0xff) and whether parse_error is set;
 * then each op byte feeds (op & 63) + 1 bytes, pauses, resumes or changes max_length. Each
 * delivery reads one script byte: stop, pause, resume, feed from inside, or free. Checked:
 * payloads fit max_length, feed returns only documented codes, an error is sticky and
 * parse_error runs at most once.
 */

typedef struct {
    weft_netstring_receiver_t *ns;
    fuzz_in_t *in;
    size_t max_seen;
    int errors;
    bool freed;
} ns_rx_t;

static bool code_ok(int rc)
{
    return rc == 0 || rc == WEFT_EPROTO || rc == WEFT_EMSGSIZE;
}

static int on_string(void *ctx, const char *data, size_t len)
{
    ns_rx_t *rx = ctx;
    WEFT_FUZZ_CHECK(len <= rx->max_seen);
    WEFT_FUZZ_CHECK(len == 0 || data != NULL);
    fuzz_touch(data, len);
    uint8_t b = fuzz_byte(rx->in);
    switch (b & 7) {
    case 1:
        return 1;
    case 2:
        weft_netstring_receiver_pause(rx->ns);
        break;
    case 3:
        WEFT_FUZZ_CHECK(code_ok(weft_netstring_receiver_resume(rx->ns)));
        break;
    case 4: {
        size_t n;
        const char *p = fuzz_take(rx->in, b >> 3, &n);
        WEFT_FUZZ_CHECK(code_ok(weft_netstring_receiver_feed(rx->ns, p, n)));
        break;
    }
    case 5:
        rx->freed = true;
        weft_netstring_receiver_free(rx->ns);
        return 1;
    default:
        break;
    }
    return 0;
}

static void on_error(void *ctx, int code, const char *reason)
{
    ns_rx_t *rx = ctx;
    WEFT_FUZZ_CHECK(code == WEFT_EPROTO || code == WEFT_EMSGSIZE);
    WEFT_FUZZ_CHECK(reason != NULL && reason[0] != '\0');
    rx->errors++;
}

int FUZZ_ENTRY(netstring)(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    uint8_t opt = fuzz_byte(&in);
    weft_netstring_receiver_options_t o;
    weft_netstring_receiver_options_init(&o);
    if (opt != 0xff)
        o.max_length = opt;
    weft_netstring_receiver_ops_t ops = {on_string, (opt & 1) ? on_error : NULL};

    ns_rx_t rx = {.in = &in, .max_seen = o.max_length};
    int err = 0;
    rx.ns = weft_netstring_receiver_new(&o, &ops, &rx, &err);
    WEFT_FUZZ_CHECK(rx.ns != NULL && err == 0);

    while (in.left > 0 && !rx.freed) {
        uint8_t op = fuzz_byte(&in);
        int before = weft_netstring_receiver_error(rx.ns);
        int rc = 0;
        size_t n;
        const char *p;
        switch (op >> 6) {
        case 0:
        case 1:
            p = fuzz_take(&in, (op & 63) + 1u, &n);
            rc = weft_netstring_receiver_feed(rx.ns, p, n);
            break;
        case 2:
            if (op & 32)
                weft_netstring_receiver_pause(rx.ns);
            else
                rc = weft_netstring_receiver_resume(rx.ns);
            break;
        case 3: {
            size_t m = (size_t)(op & 63) * 3;
            WEFT_FUZZ_CHECK(weft_netstring_receiver_set_max_length(rx.ns, m) == 0);
            if (m > rx.max_seen)
                rx.max_seen = m;
            break;
        }
        }
        WEFT_FUZZ_CHECK(code_ok(rc));
        if (rx.freed)
            break;
        int after = weft_netstring_receiver_error(rx.ns);
        WEFT_FUZZ_CHECK(before == 0 || after == before); /* an error is sticky */
        WEFT_FUZZ_CHECK(rx.errors <= 1);
    }
    if (!rx.freed)
        weft_netstring_receiver_free(rx.ns);
    return 0;
}
