/* SPDX-License-Identifier: MIT */
/* NetstringReceiver, as Twisted's protocols/basic.py parses and writes "<len>:<bytes>,". */
#include <string.h>

#include <weft/error.h>
#include <weft/framing.h>

#include "../../common/alloc-internal.h"
#include "framing-internal.h"

/*
 * Design. The length is parsed digit by digit as the bytes arrive and its digits are consumed
 * at once, so an error shows at the first byte that makes the prefix impossible: a non-digit,
 * a digit after a leading "0", or a value over max_length (TWISTED.md 9.38; Twisted's extra
 * "more than ceil(log10(max)) + 1 digits" test can never fire before the value test). The
 * payload and its comma are then awaited as one frame of length + 1 bytes, so the buffer never
 * holds more than max_length + 1 bytes between feeds. The first error empties the buffer,
 * calls parse_error once, and turns every later feed into a no-op that returns the code
 * (Twisted's brokenPeer: it never delivers again).
 */
struct weft_netstring_receiver_s {
    weft__fbuf_t fb;
    weft_netstring_receiver_ops_t ops;
    void *ctx;
    size_t max_length;
    size_t value;
    unsigned ndigits;
    bool in_payload;
    bool paused;
    bool busy;
    bool doomed;
    int broken;
};

void weft_netstring_receiver_options_init(weft_netstring_receiver_options_t *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->max_length = WEFT_NETSTRING_MAX_LENGTH_DEFAULT;
}

weft_netstring_receiver_t *
weft_netstring_receiver_new(const weft_netstring_receiver_options_t *opts,
                            const weft_netstring_receiver_ops_t *ops, void *ctx, int *err)
{
    weft_netstring_receiver_options_t defaults;
    if (opts == NULL) {
        weft_netstring_receiver_options_init(&defaults);
        opts = &defaults;
    }
    int rc = WEFT_EINVAL;
    if (ops == NULL || ops->string_received == NULL || opts->max_length > WEFT__FRAMING_MAX_LIMIT)
        goto fail;
    rc = WEFT_ENOMEM;
    weft_netstring_receiver_t *ns = weft__calloc(1, sizeof(*ns));
    if (ns == NULL)
        goto fail;
    ns->ops = *ops;
    ns->ctx = ctx;
    ns->max_length = opts->max_length;
    weft__fbuf_init(&ns->fb);
    if (err != NULL)
        *err = 0;
    return ns;
fail:
    if (err != NULL)
        *err = rc;
    return NULL;
}

static void destroy(weft_netstring_receiver_t *ns)
{
    weft__fbuf_release(&ns->fb);
    weft__free(ns);
}

void weft_netstring_receiver_free(weft_netstring_receiver_t *ns)
{
    if (ns == NULL)
        return;
    if (ns->busy) {
        ns->doomed = true;
        return;
    }
    destroy(ns);
}

/* The first malformed byte: drop everything, remember why, tell the owner once. */
static int fail_parse(weft_netstring_receiver_t *ns, int code, const char *reason)
{
    weft__fbuf_clear(&ns->fb);
    ns->broken = code;
    if (ns->ops.parse_error != NULL)
        ns->ops.parse_error(ns->ctx, code, reason);
    return code;
}

static int parse(weft_netstring_receiver_t *ns)
{
    weft__fbuf_t *fb = &ns->fb;
    while (!ns->paused) {
        if (!ns->in_payload) {
            int have = weft__fbuf_need(fb, 1);
            if (have <= 0)
                return have;
            const char *p = weft__fbuf_data(fb);
            size_t n = weft__fbuf_len(fb), i = 0;
            for (; i < n; i++) {
                unsigned char c = (unsigned char)p[i];
                if (c == ':') {
                    if (ns->ndigits == 0)
                        return fail_parse(ns, WEFT_EPROTO,
                                          "netstring does not start with a length");
                    ns->in_payload = true;
                    i++;
                    break;
                }
                if (c < '0' || c > '9')
                    return fail_parse(ns, WEFT_EPROTO,
                                      ns->ndigits == 0 ? "netstring does not start with a length"
                                                       : "non-digit in the netstring length");
                if (ns->ndigits == 1 && ns->value == 0)
                    return fail_parse(ns, WEFT_EPROTO, "leading zero in the netstring length");
                size_t d = c - '0';
                if (d > ns->max_length || ns->value > (ns->max_length - d) / 10)
                    return fail_parse(ns, WEFT_EMSGSIZE, "netstring length over max_length");
                ns->value = ns->value * 10 + d;
                ns->ndigits++;
            }
            weft__fbuf_consume(fb, i);
            continue;
        }
        int have = weft__fbuf_need(fb, ns->value + 1);
        if (have <= 0)
            return have;
        const char *p = weft__fbuf_data(fb);
        size_t len = ns->value;
        if (p[len] != ',')
            return fail_parse(ns, WEFT_EPROTO, "netstring not terminated by a comma");
        weft__fbuf_consume(fb, len + 1);
        ns->in_payload = false;
        ns->value = 0;
        ns->ndigits = 0;
        weft__fbuf_enter_cb(fb);
        int why = ns->ops.string_received(ns->ctx, p, len);
        weft__fbuf_leave_cb(fb);
        if (ns->doomed || why != 0)
            return 0;
    }
    return 0;
}

static int run(weft_netstring_receiver_t *ns, const char *data, size_t len)
{
    int rc = weft__fbuf_begin(&ns->fb, data, len);
    if (rc != 0)
        return rc;
    ns->busy = true;
    rc = parse(ns);
    if (ns->doomed) {
        destroy(ns);
        return rc;
    }
    int frc = weft__fbuf_finish(&ns->fb);
    ns->busy = false;
    if (ns->broken != 0)
        return ns->broken;
    return rc != 0 ? rc : frc;
}

int weft_netstring_receiver_feed(weft_netstring_receiver_t *ns, const char *data, size_t len)
{
    if (ns == NULL || (data == NULL && len > 0))
        return WEFT_EINVAL;
    if (ns->broken != 0)
        return ns->broken;
    if (ns->busy)
        return weft__fbuf_append(&ns->fb, data, len);
    return run(ns, data, len);
}

int weft_netstring_receiver_error(const weft_netstring_receiver_t *ns)
{
    return ns->broken;
}

void weft_netstring_receiver_pause(weft_netstring_receiver_t *ns)
{
    ns->paused = true;
}

int weft_netstring_receiver_resume(weft_netstring_receiver_t *ns)
{
    if (ns == NULL)
        return WEFT_EINVAL;
    ns->paused = false;
    if (ns->broken != 0)
        return ns->broken;
    if (ns->busy)
        return 0;
    return run(ns, NULL, 0);
}

bool weft_netstring_receiver_is_paused(const weft_netstring_receiver_t *ns)
{
    return ns->paused;
}

size_t weft_netstring_receiver_buffered(const weft_netstring_receiver_t *ns)
{
    return weft__fbuf_total(&ns->fb);
}

int weft_netstring_receiver_set_max_length(weft_netstring_receiver_t *ns, size_t max_length)
{
    if (ns == NULL || max_length > WEFT__FRAMING_MAX_LIMIT)
        return WEFT_EINVAL;
    ns->max_length = max_length;
    return 0;
}

size_t weft_netstring_receiver_max_length(const weft_netstring_receiver_t *ns)
{
    return ns->max_length;
}

size_t weft_netstring_prefix(char *out, size_t len)
{
    char digits[WEFT_NETSTRING_PREFIX_MAX];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + len % 10);
        len /= 10;
    } while (len > 0);
    for (size_t i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    out[n] = ':';
    return n + 1;
}

int weft_netstring_encode(const char *data, size_t len, char *out, size_t cap, size_t *out_len)
{
    if (out_len == NULL || (data == NULL && len > 0) ||
        len > (size_t)-1 - WEFT_NETSTRING_PREFIX_MAX - 1)
        return WEFT_EINVAL;
    char prefix[WEFT_NETSTRING_PREFIX_MAX];
    size_t plen = weft_netstring_prefix(prefix, len);
    size_t need = plen + len + 1;
    *out_len = need;
    if (out == NULL || cap < need)
        return WEFT_ENOSPC;
    memcpy(out, prefix, plen);
    if (len > 0)
        memcpy(out + plen, data, len);
    out[plen + len] = ',';
    return 0;
}
