/* SPDX-License-Identifier: MIT */
/* LineReceiver and LineOnlyReceiver, as Twisted's protocols/basic.py parses them. */
#include <string.h>

#include <weft/error.h>
#include <weft/framing.h>

#include "../../common/alloc-internal.h"
#include "framing-internal.h"

/*
 * Design. feed() runs one parsing loop over the unparsed input (framing-internal.h); a feed
 * made while the loop runs (from a callback) only appends, and the loop parses those bytes
 * after the ones already there: Twisted's _busyReceiving rule. The loop stops when the input
 * runs out, when paused, when a callback returns non-zero, after an over-long line, or when a
 * callback freed the receiver (then the loop frees it on its way out).
 *
 * Limits, exactly Twisted's (TWISTED.md 9.37): a complete line of max_length bytes is
 * delivered, a longer one is reported with its delimiter and everything buffered after it;
 * an unterminated buffer is reported once it holds max_length + delimiter_len bytes
 * (line_only: more than max_length). Either way the buffer is emptied before the callback.
 *
 * noscan counts the bytes at the start of U known not to begin a delimiter, so an unterminated
 * line fed in small pieces is scanned once, not once per piece.
 */
struct weft_line_receiver_s {
    weft__fbuf_t fb;
    weft_line_receiver_ops_t ops;
    void *ctx;
    char *delim;
    size_t dlen;
    size_t max_length;
    size_t noscan;
    bool line_only;
    bool raw;
    bool paused;
    bool busy;
    bool doomed;
};

void weft_line_receiver_options_init(weft_line_receiver_options_t *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->delimiter = WEFT_LINE_DELIMITER_DEFAULT;
    opts->delimiter_len = sizeof(WEFT_LINE_DELIMITER_DEFAULT) - 1;
    opts->max_length = WEFT_LINE_MAX_LENGTH_DEFAULT;
    opts->line_only = false;
}

weft_line_receiver_t *weft_line_receiver_new(const weft_line_receiver_options_t *opts,
                                             const weft_line_receiver_ops_t *ops, void *ctx,
                                             int *err)
{
    weft_line_receiver_options_t defaults;
    if (opts == NULL) {
        weft_line_receiver_options_init(&defaults);
        opts = &defaults;
    }
    int rc = WEFT_EINVAL;
    if (ops == NULL || ops->line_received == NULL || opts->delimiter == NULL ||
        opts->delimiter_len == 0 || opts->delimiter_len > 255 ||
        opts->max_length > WEFT__FRAMING_MAX_LIMIT)
        goto fail;
    rc = WEFT_ENOMEM;
    weft_line_receiver_t *lr = weft__calloc(1, sizeof(*lr));
    if (lr == NULL)
        goto fail;
    lr->delim = weft__malloc(opts->delimiter_len);
    if (lr->delim == NULL) {
        weft__free(lr);
        goto fail;
    }
    memcpy(lr->delim, opts->delimiter, opts->delimiter_len);
    lr->dlen = opts->delimiter_len;
    lr->max_length = opts->max_length;
    lr->line_only = opts->line_only;
    lr->ops = *ops;
    lr->ctx = ctx;
    weft__fbuf_init(&lr->fb);
    if (err != NULL)
        *err = 0;
    return lr;
fail:
    if (err != NULL)
        *err = rc;
    return NULL;
}

static void destroy(weft_line_receiver_t *lr)
{
    weft__fbuf_release(&lr->fb);
    weft__free(lr->delim);
    weft__free(lr);
}

void weft_line_receiver_free(weft_line_receiver_t *lr)
{
    if (lr == NULL)
        return;
    if (lr->busy) {
        lr->doomed = true;
        return;
    }
    destroy(lr);
}

/* The first delimiter in p[0..n), or NULL. Reads nothing outside p[0..n). */
static const char *find_delim(const char *p, size_t n, const char *d, size_t dlen)
{
    if (dlen == 1)
        return memchr(p, (unsigned char)d[0], n);
    if (n < dlen)
        return NULL;
    const char *last = p + (n - dlen); /* the last place a delimiter can start */
    while (p <= last) {
        const char *q = memchr(p, (unsigned char)d[0], (size_t)(last - p) + 1);
        if (q == NULL)
            return NULL;
        if (dlen == 2 ? q[1] == d[1] : memcmp(q + 1, d + 1, dlen - 1) == 0)
            return q;
        p = q + 1;
    }
    return NULL;
}

/* After the last complete line of p[0..n) (scanning as a split would), or 0 if none. */
static size_t after_last_line(const char *p, size_t n, const char *d, size_t dlen)
{
    size_t at = 0;
    for (;;) {
        const char *q = find_delim(p + at, n - at, d, dlen);
        if (q == NULL)
            return at;
        at = (size_t)(q - p) + dlen;
    }
}

/* Hands over everything unparsed as one over-long "line" (the buffer is emptied first). */
static void report_exceeded(weft_line_receiver_t *lr, const char *data, size_t len)
{
    if (lr->ops.line_length_exceeded == NULL)
        return;
    weft__fbuf_enter_cb(&lr->fb);
    lr->ops.line_length_exceeded(lr->ctx, data, len);
    weft__fbuf_leave_cb(&lr->fb);
}

/* The parsing loop. Returns 0, WEFT_EMSGSIZE or WEFT_ENOMEM; lr may be doomed after it. */
static int parse(weft_line_receiver_t *lr)
{
    weft__fbuf_t *fb = &lr->fb;
    while (!lr->paused) {
        size_t ulen = weft__fbuf_len(fb);
        if (ulen == 0) {
            if (fb->latlen == 0)
                return 0;
            int rc = weft__fbuf_pull(fb, fb->latlen); /* free: U is empty */
            if (rc != 0)
                return rc;
            continue;
        }
        if (lr->raw) {
            int rc = weft__fbuf_flatten(fb);
            if (rc != 0)
                return rc;
            const char *p = weft__fbuf_data(fb);
            size_t n = weft__fbuf_len(fb);
            weft__fbuf_consume(fb, n);
            lr->noscan = 0;
            weft__fbuf_enter_cb(fb);
            int why = lr->ops.raw_data_received(lr->ctx, p, n);
            weft__fbuf_leave_cb(fb);
            if (lr->doomed || why != 0)
                return 0;
            continue;
        }
        const char *p = weft__fbuf_data(fb);
        size_t from = lr->noscan < ulen ? lr->noscan : ulen;
        const char *q = find_delim(p + from, ulen - from, lr->delim, lr->dlen);
        if (q == NULL) {
            lr->noscan = ulen >= lr->dlen ? ulen - lr->dlen + 1 : 0;
            if (fb->latlen > 0) {
                /* The line goes on in the chunk: copy in just enough to complete it. */
                size_t k = fb->latlen;
                if (!weft__fbuf_pull_is_free(fb)) {
                    const char *e = find_delim(fb->lat, fb->latlen, lr->delim, lr->dlen);
                    if (e != NULL)
                        k = (size_t)(e - fb->lat) + lr->dlen;
                }
                int rc = weft__fbuf_pull(fb, k);
                if (rc != 0)
                    return rc;
                continue;
            }
            bool over = lr->line_only ? ulen > lr->max_length : ulen >= lr->max_length + lr->dlen;
            if (!over)
                return 0;
            weft__fbuf_consume(fb, ulen);
            lr->noscan = 0;
            report_exceeded(lr, p, ulen);
            return WEFT_EMSGSIZE;
        }
        size_t len = (size_t)(q - p);
        lr->noscan = 0;
        if (len > lr->max_length) {
            int rc = weft__fbuf_flatten(fb);
            if (rc != 0)
                return rc;
            p = weft__fbuf_data(fb);
            size_t n = weft__fbuf_len(fb);
            if (lr->line_only) {
                /* Twisted hands over the line alone and drops the chunk's other lines. */
                size_t at = len + lr->dlen;
                at += after_last_line(p + at, n - at, lr->delim, lr->dlen);
                weft__fbuf_consume(fb, at);
                report_exceeded(lr, p, len);
                return WEFT_EMSGSIZE;
            }
            weft__fbuf_consume(fb, n);
            report_exceeded(lr, p, n);
            return WEFT_EMSGSIZE;
        }
        weft__fbuf_consume(fb, len + lr->dlen);
        weft__fbuf_enter_cb(fb);
        int why = lr->ops.line_received(lr->ctx, p, len);
        weft__fbuf_leave_cb(fb);
        if (lr->doomed)
            return 0;
        if (why != 0) {
            if (!lr->line_only)
                return 0;
            /* LineOnlyReceiver: after a line that closed the transport, the chunk's other
             * complete lines are dropped; with none left, the rest is still checked. */
            int rc = weft__fbuf_flatten(fb);
            if (rc != 0)
                return rc;
            size_t at =
                after_last_line(weft__fbuf_data(fb), weft__fbuf_len(fb), lr->delim, lr->dlen);
            if (at > 0) {
                weft__fbuf_consume(fb, at);
                return 0;
            }
        }
    }
    return 0;
}

/* feed() for data, outside the loop. */
static int run(weft_line_receiver_t *lr, const char *data, size_t len)
{
    int rc = weft__fbuf_begin(&lr->fb, data, len);
    if (rc != 0)
        return rc;
    lr->busy = true;
    rc = parse(lr);
    if (lr->doomed) {
        destroy(lr);
        return rc;
    }
    int frc = weft__fbuf_finish(&lr->fb);
    lr->busy = false;
    return rc != 0 ? rc : frc;
}

int weft_line_receiver_feed(weft_line_receiver_t *lr, const char *data, size_t len)
{
    if (lr == NULL || (data == NULL && len > 0))
        return WEFT_EINVAL;
    if (lr->busy)
        return weft__fbuf_append(&lr->fb, data, len);
    return run(lr, data, len);
}

int weft_line_receiver_set_raw_mode(weft_line_receiver_t *lr)
{
    if (lr == NULL || lr->line_only || lr->ops.raw_data_received == NULL)
        return WEFT_EINVAL;
    lr->raw = true;
    return 0;
}

int weft_line_receiver_set_line_mode(weft_line_receiver_t *lr, const char *extra, size_t len)
{
    if (lr == NULL || (extra == NULL && len > 0))
        return WEFT_EINVAL;
    lr->raw = false;
    if (len == 0)
        return 0;
    return weft_line_receiver_feed(lr, extra, len);
}

bool weft_line_receiver_is_line_mode(const weft_line_receiver_t *lr)
{
    return !lr->raw;
}

int weft_line_receiver_clear_buffer(weft_line_receiver_t *lr, const char **data, size_t *len)
{
    if (lr == NULL || data == NULL || len == NULL)
        return WEFT_EINVAL;
    int rc = weft__fbuf_flatten(&lr->fb);
    if (rc != 0)
        return rc;
    *data = weft__fbuf_lend(&lr->fb, len);
    lr->noscan = 0;
    return 0;
}

size_t weft_line_receiver_buffered(const weft_line_receiver_t *lr)
{
    return weft__fbuf_total(&lr->fb);
}

void weft_line_receiver_pause(weft_line_receiver_t *lr)
{
    lr->paused = true;
}

int weft_line_receiver_resume(weft_line_receiver_t *lr)
{
    if (lr == NULL)
        return WEFT_EINVAL;
    lr->paused = false;
    if (lr->busy)
        return 0;
    return run(lr, NULL, 0);
}

bool weft_line_receiver_is_paused(const weft_line_receiver_t *lr)
{
    return lr->paused;
}

int weft_line_receiver_set_max_length(weft_line_receiver_t *lr, size_t max_length)
{
    if (lr == NULL || max_length > WEFT__FRAMING_MAX_LIMIT)
        return WEFT_EINVAL;
    lr->max_length = max_length;
    return 0;
}

size_t weft_line_receiver_max_length(const weft_line_receiver_t *lr)
{
    return lr->max_length;
}

const char *weft_line_receiver_delimiter(const weft_line_receiver_t *lr, size_t *len)
{
    if (len != NULL)
        *len = lr->dlen;
    return lr->delim;
}

int weft_line_encode(const char *delimiter, size_t delimiter_len, const char *line, size_t len,
                     char *out, size_t cap, size_t *out_len)
{
    if (out_len == NULL || delimiter == NULL || delimiter_len == 0 || (line == NULL && len > 0) ||
        len > (size_t)-1 - delimiter_len)
        return WEFT_EINVAL;
    size_t need = len + delimiter_len;
    *out_len = need;
    if (out == NULL || cap < need)
        return WEFT_ENOSPC;
    if (len > 0)
        memcpy(out, line, len);
    memcpy(out + len, delimiter, delimiter_len);
    return 0;
}
