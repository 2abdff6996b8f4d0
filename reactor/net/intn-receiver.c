/* SPDX-License-Identifier: MIT */
/* Int32/Int16/Int8StringReceiver, as Twisted's protocols/basic.py parses and writes them. */
#include <stdint.h>
#include <string.h>

#include <weft/error.h>
#include <weft/framing.h>

#include "../../common/alloc-internal.h"
#include "framing-internal.h"

/*
 * Design. A frame is an unsigned big-endian prefix of 1, 2 or 4 bytes and that many payload
 * bytes. The prefix is checked against max_length as soon as it is complete, before any of
 * its payload arrives (TWISTED.md 9.39), so the buffer never holds more than prefix +
 * max_length bytes between feeds. Twisted keeps the buffer after lengthLimitExceeded and calls
 * it again on every later dataReceived, buffering without bound; weft calls it once and then
 * drops everything, as its netstring receiver does (DESIGN.md: bounded memory on bad input).
 */
struct weft_intn_receiver_s {
    weft__fbuf_t fb;
    weft_intn_receiver_ops_t ops;
    void *ctx;
    size_t max_length;
    unsigned prefix_size;
    bool paused;
    bool busy;
    bool doomed;
    int broken;
};

void weft_intn_receiver_options_init(weft_intn_receiver_options_t *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->prefix_size = 4;
    opts->max_length = WEFT_INTN_MAX_LENGTH_DEFAULT;
}

static bool valid_prefix_size(unsigned n)
{
    return n == 1 || n == 2 || n == 4;
}

weft_intn_receiver_t *weft_intn_receiver_new(const weft_intn_receiver_options_t *opts,
                                             const weft_intn_receiver_ops_t *ops, void *ctx,
                                             int *err)
{
    weft_intn_receiver_options_t defaults;
    if (opts == NULL) {
        weft_intn_receiver_options_init(&defaults);
        opts = &defaults;
    }
    int rc = WEFT_EINVAL;
    if (ops == NULL || ops->string_received == NULL || !valid_prefix_size(opts->prefix_size) ||
        opts->max_length > WEFT__FRAMING_MAX_LIMIT)
        goto fail;
    rc = WEFT_ENOMEM;
    weft_intn_receiver_t *ir = weft__calloc(1, sizeof(*ir));
    if (ir == NULL)
        goto fail;
    ir->ops = *ops;
    ir->ctx = ctx;
    ir->max_length = opts->max_length;
    ir->prefix_size = opts->prefix_size;
    weft__fbuf_init(&ir->fb);
    if (err != NULL)
        *err = 0;
    return ir;
fail:
    if (err != NULL)
        *err = rc;
    return NULL;
}

static void destroy(weft_intn_receiver_t *ir)
{
    weft__fbuf_release(&ir->fb);
    weft__free(ir);
}

void weft_intn_receiver_free(weft_intn_receiver_t *ir)
{
    if (ir == NULL)
        return;
    if (ir->busy) {
        ir->doomed = true;
        return;
    }
    destroy(ir);
}

static size_t read_prefix(const char *p, unsigned n)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = (v << 8) | u[i];
    return v;
}

static int parse(weft_intn_receiver_t *ir)
{
    weft__fbuf_t *fb = &ir->fb;
    const unsigned n = ir->prefix_size;
    while (!ir->paused) {
        int have = weft__fbuf_need(fb, n);
        if (have <= 0)
            return have;
        size_t length = read_prefix(weft__fbuf_data(fb), n);
        if (length > ir->max_length) {
            weft__fbuf_clear(fb);
            ir->broken = WEFT_EMSGSIZE;
            if (ir->ops.length_limit_exceeded != NULL)
                ir->ops.length_limit_exceeded(ir->ctx, length);
            return WEFT_EMSGSIZE;
        }
        have = weft__fbuf_need(fb, n + length);
        if (have <= 0)
            return have;
        const char *p = weft__fbuf_data(fb) + n;
        weft__fbuf_consume(fb, n + length);
        weft__fbuf_enter_cb(fb);
        int why = ir->ops.string_received(ir->ctx, p, length);
        weft__fbuf_leave_cb(fb);
        if (ir->doomed || why != 0)
            return 0;
    }
    return 0;
}

static int run(weft_intn_receiver_t *ir, const char *data, size_t len)
{
    int rc = weft__fbuf_begin(&ir->fb, data, len);
    if (rc != 0)
        return rc;
    ir->busy = true;
    rc = parse(ir);
    if (ir->doomed) {
        destroy(ir);
        return rc;
    }
    int frc = weft__fbuf_finish(&ir->fb);
    ir->busy = false;
    if (ir->broken != 0)
        return ir->broken;
    return rc != 0 ? rc : frc;
}

int weft_intn_receiver_feed(weft_intn_receiver_t *ir, const char *data, size_t len)
{
    if (ir == NULL || (data == NULL && len > 0))
        return WEFT_EINVAL;
    if (ir->broken != 0)
        return ir->broken;
    if (ir->busy)
        return weft__fbuf_append(&ir->fb, data, len);
    return run(ir, data, len);
}

int weft_intn_receiver_error(const weft_intn_receiver_t *ir)
{
    return ir->broken;
}

void weft_intn_receiver_pause(weft_intn_receiver_t *ir)
{
    ir->paused = true;
}

int weft_intn_receiver_resume(weft_intn_receiver_t *ir)
{
    if (ir == NULL)
        return WEFT_EINVAL;
    ir->paused = false;
    if (ir->broken != 0)
        return ir->broken;
    if (ir->busy)
        return 0;
    return run(ir, NULL, 0);
}

bool weft_intn_receiver_is_paused(const weft_intn_receiver_t *ir)
{
    return ir->paused;
}

size_t weft_intn_receiver_buffered(const weft_intn_receiver_t *ir)
{
    return weft__fbuf_total(&ir->fb);
}

int weft_intn_receiver_set_max_length(weft_intn_receiver_t *ir, size_t max_length)
{
    if (ir == NULL || max_length > WEFT__FRAMING_MAX_LIMIT)
        return WEFT_EINVAL;
    ir->max_length = max_length;
    return 0;
}

size_t weft_intn_receiver_max_length(const weft_intn_receiver_t *ir)
{
    return ir->max_length;
}

int weft_intn_prefix(unsigned prefix_size, size_t len, unsigned char *out)
{
    if (!valid_prefix_size(prefix_size) || out == NULL)
        return WEFT_EINVAL;
    if (prefix_size < sizeof(size_t) && len >> (8 * prefix_size) != 0)
        return WEFT_EMSGSIZE;
    for (unsigned i = 0; i < prefix_size; i++)
        out[i] = (unsigned char)(len >> (8 * (prefix_size - 1 - i)));
    return 0;
}

int weft_intn_encode(unsigned prefix_size, const char *data, size_t len, char *out, size_t cap,
                     size_t *out_len)
{
    if (out_len == NULL || (data == NULL && len > 0))
        return WEFT_EINVAL;
    unsigned char prefix[4];
    int rc = weft_intn_prefix(prefix_size, len, prefix);
    if (rc != 0)
        return rc;
    if (len > (size_t)-1 - prefix_size)
        return WEFT_EINVAL;
    size_t need = prefix_size + len;
    *out_len = need;
    if (out == NULL || cap < need)
        return WEFT_ENOSPC;
    memcpy(out, prefix, prefix_size);
    if (len > 0)
        memcpy(out + prefix_size, data, len);
    return 0;
}
