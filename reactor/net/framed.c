/* SPDX-License-Identifier: MIT */
/* Framing protocols over a transport: the framing receivers wired to a connection. */

/*
 * Design. A framed protocol is the proto of one connection. data_received feeds its receiver;
 * the receiver's frame callbacks forward to the user's frame_received; the receiver's limit
 * and error callbacks forward to bad_frame, whose default logs and calls lose_connection.
 * Line frames also stop parsing once the transport is disconnecting, as Twisted's
 * LineReceiver does (its IntN and netstring receivers do not check). connection_lost (from the
 * transport's close callback, never inside a feed) hands over the reason and frees everything.
 *
 * Stop and bounded input. A frame callback that returns stop leaves the rest buffered, and
 * every read appends a chunk: a protocol that kept stopping would buffer all the peer sends,
 * and a stop on the last frames of a burst would leave them waiting for a read that may never
 * come. So a stop yields to the loop: the rest is parsed on the next loop pass (drain, one
 * call_soon per stop); and while more than hold_at bytes (one frame at max_length plus its
 * framing) are unparsed, the transport stops reading (held) until the backlog is back under
 * it. A protocol freed while a drain is due keeps its shell (released) until the drain runs
 * and frees it.
 */
#include <string.h>

#include <weft/error.h>
#include <weft/framed.h>
#include <weft/log.h>
#include <weft/time.h>

#include "../../common/alloc-internal.h"

struct weft_framed_s {
    weft_framing_t framing;
    union {
        weft_line_receiver_t *line;
        weft_netstring_receiver_t *ns;
        weft_intn_receiver_t *intn;
    } rx;
    weft_framed_ops_t ops;
    void *ctx;
    weft_transport_t *t;
    unsigned prefix; /* IntN: 4, 2 or 1 */
    size_t hold_at;  /* unparsed bytes over which reading stops */
    bool paused;     /* weft_framed_pause */
    bool held;       /* reading stopped for the backlog */
    bool stopped;    /* the last frame callback of this feed returned stop */
    bool drain_due;  /* a call_soon of drain() is pending */
    bool released;   /* freed while drain_due: drain() frees the shell */
};

void weft_framed_options_init(weft_framed_options_t *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->framing = WEFT_FRAMING_LINE;
}

/* ---------------------------------------------------------------- the receivers' callbacks */

static void default_bad_frame(weft_framed_t *fp, int code, const char *reason)
{
    char peer[128] = "?";
    if (fp->t != NULL && weft_transport_peer(fp->t, peer, sizeof(peer), NULL) < 0)
        strcpy(peer, "?");
    weft_log(WEFT_LOG_WARN, "net", "closing the connection from %s: %s (%s)", peer, reason,
             weft_err_name(code));
    if (fp->t != NULL)
        weft_transport_lose_connection(fp->t);
}

static void bad_frame(weft_framed_t *fp, int code, const char *reason, const char *data, size_t len)
{
    if (fp->ops.bad_frame != NULL)
        fp->ops.bad_frame(fp->ctx, fp, code, reason, data, len);
    else
        default_bad_frame(fp, code, reason);
}

static int on_line(void *ctx, const char *line, size_t len)
{
    weft_framed_t *fp = ctx;
    int rc = fp->ops.frame_received(fp->ctx, fp, line, len);
    fp->stopped = rc != 0;
    /* Twisted's LineReceiver stops once the transport is disconnecting. */
    return rc != 0 || fp->t == NULL || !weft_transport_is_connected(fp->t);
}

static int on_raw(void *ctx, const char *data, size_t len)
{
    weft_framed_t *fp = ctx;
    int rc = fp->ops.raw_data_received(fp->ctx, fp, data, len);
    fp->stopped = rc != 0;
    return rc;
}

static void on_line_too_long(void *ctx, const char *data, size_t len)
{
    bad_frame(ctx, WEFT_EMSGSIZE, "line longer than max_length", data, len);
}

static int on_string(void *ctx, const char *data, size_t len)
{
    weft_framed_t *fp = ctx;
    int rc = fp->ops.frame_received(fp->ctx, fp, data, len);
    fp->stopped = rc != 0;
    return rc;
}

static void on_ns_error(void *ctx, int code, const char *reason)
{
    bad_frame(ctx, code, reason, NULL, 0);
}

static void on_intn_too_long(void *ctx, size_t length)
{
    bad_frame(ctx, WEFT_EMSGSIZE, "length prefix over max_length", NULL, length);
}

/* ---------------------------------------------------------------- bounded input */

static int feed_rx(weft_framed_t *fp, const char *data, size_t len)
{
    fp->stopped = false;
    switch (fp->framing) {
    case WEFT_FRAMING_LINE:
        return weft_line_receiver_feed(fp->rx.line, data, len);
    case WEFT_FRAMING_NETSTRING:
        return weft_netstring_receiver_feed(fp->rx.ns, data, len);
    default:
        return weft_intn_receiver_feed(fp->rx.intn, data, len);
    }
}

static void out_of_memory(weft_transport_t *t)
{
    weft_log(WEFT_LOG_ERROR, "net", "out of memory buffering input: aborting the connection");
    weft_transport_abort_connection(t);
}

static void drain(void *arg);

/* After parsing: holds or releases the transport's reading by the backlog, and schedules
 * the parsing of what a stop left (see the design note). */
static void regulate(weft_framed_t *fp)
{
    weft_transport_t *t = fp->t;
    if (t == NULL || !weft_transport_is_connected(t) || weft_transport_protocol(t) != fp)
        return;
    size_t backlog = weft_framed_buffered(fp);
    if (backlog > fp->hold_at && !fp->held) {
        fp->held = true;
        weft_transport_pause_reading(t);
    } else if (backlog <= fp->hold_at && fp->held) {
        fp->held = false;
        if (!fp->paused) {
            int rc = weft_transport_resume_reading(t);
            (void)rc; /* on failure the connection is lost, and connection_lost says so */
        }
    }
    if (fp->stopped && backlog > 0 && !fp->paused && !fp->drain_due) {
        if (weft_reactor_call_soon(weft_transport_reactor(t), drain, fp) != 0) {
            out_of_memory(t);
            return;
        }
        fp->drain_due = true;
    }
}

/* Parses what a stop left, as a read would have: until a frame callback stops again. */
static void drain(void *arg)
{
    weft_framed_t *fp = arg;
    fp->drain_due = false;
    if (fp->released) {
        weft__free(fp);
        return;
    }
    if (fp->paused || fp->t == NULL || !weft_transport_is_connected(fp->t) ||
        weft_transport_protocol(fp->t) != fp)
        return;
    if (feed_rx(fp, NULL, 0) == WEFT_ENOMEM) {
        out_of_memory(fp->t);
        return;
    }
    regulate(fp);
}

/* ---------------------------------------------------------------- protocol ops */

static void p_made(void *proto, weft_transport_t *t)
{
    weft_framed_t *fp = proto;
    fp->t = t;
    if (fp->ops.connection_made != NULL)
        fp->ops.connection_made(fp->ctx, fp);
}

static void p_data(void *proto, weft_transport_t *t, const char *data, size_t len)
{
    weft_framed_t *fp = proto;
    if (feed_rx(fp, data, len) == WEFT_ENOMEM) {
        out_of_memory(t);
        return;
    }
    regulate(fp);
}

static void p_lost(void *proto, weft_transport_t *t, weft_failure_t *reason)
{
    (void)t;
    weft_framed_t *fp = proto;
    if (fp->ops.connection_lost != NULL)
        fp->ops.connection_lost(fp->ctx, fp, reason);
    else
        weft_failure_free(reason);
    fp->t = NULL;
    weft_framed_free(fp);
}

static void p_pause(void *proto, weft_transport_t *t)
{
    (void)t;
    weft_framed_t *fp = proto;
    if (fp->ops.pause_producing != NULL)
        fp->ops.pause_producing(fp->ctx, fp);
}

static void p_resume(void *proto, weft_transport_t *t)
{
    (void)t;
    weft_framed_t *fp = proto;
    if (fp->ops.resume_producing != NULL)
        fp->ops.resume_producing(fp->ctx, fp);
}

static const weft_protocol_ops_t framed_protocol_ops = {
    .connection_made = p_made,
    .data_received = p_data,
    .connection_lost = p_lost,
    .pause_producing = p_pause,
    .resume_producing = p_resume,
};

const weft_protocol_ops_t *weft_framed_protocol_ops(void)
{
    return &framed_protocol_ops;
}

/* ---------------------------------------------------------------- create and release */

weft_framed_t *weft_framed_new(const weft_framed_options_t *opts, const weft_framed_ops_t *ops,
                               void *ctx, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    weft_framed_options_t defaults;
    if (opts == NULL) {
        weft_framed_options_init(&defaults);
        opts = &defaults;
    }
    if (ops == NULL || ops->frame_received == NULL || opts->framing > WEFT_FRAMING_INT8) {
        *err = WEFT_EINVAL;
        return NULL;
    }
    weft_framed_t *fp = weft__calloc(1, sizeof(*fp));
    if (fp == NULL) {
        *err = WEFT_ENOMEM;
        return NULL;
    }
    fp->framing = opts->framing;
    fp->ops = *ops;
    fp->ctx = ctx;
    void *rx = NULL;
    if (opts->framing == WEFT_FRAMING_LINE) {
        weft_line_receiver_options_t lo;
        weft_line_receiver_options_init(&lo);
        if (opts->max_length > 0)
            lo.max_length = opts->max_length;
        if (opts->delimiter != NULL) {
            lo.delimiter = opts->delimiter;
            lo.delimiter_len = opts->delimiter_len;
        }
        lo.line_only = opts->line_only;
        fp->hold_at = lo.max_length + lo.delimiter_len;
        weft_line_receiver_ops_t lops = {
            .line_received = on_line,
            .raw_data_received = ops->raw_data_received != NULL ? on_raw : NULL,
            .line_length_exceeded = on_line_too_long,
        };
        rx = fp->rx.line = weft_line_receiver_new(&lo, &lops, fp, err);
    } else if (opts->framing == WEFT_FRAMING_NETSTRING) {
        weft_netstring_receiver_options_t no;
        weft_netstring_receiver_options_init(&no);
        if (opts->max_length > 0)
            no.max_length = opts->max_length;
        fp->hold_at = no.max_length + WEFT_NETSTRING_PREFIX_MAX + 1;
        weft_netstring_receiver_ops_t nops = {.string_received = on_string,
                                              .parse_error = on_ns_error};
        rx = fp->rx.ns = weft_netstring_receiver_new(&no, &nops, fp, err);
    } else {
        weft_intn_receiver_options_t io;
        weft_intn_receiver_options_init(&io);
        io.prefix_size = opts->framing == WEFT_FRAMING_INT32   ? 4
                         : opts->framing == WEFT_FRAMING_INT16 ? 2
                                                               : 1;
        fp->prefix = io.prefix_size;
        if (opts->max_length > 0)
            io.max_length = opts->max_length;
        fp->hold_at = io.max_length + io.prefix_size;
        weft_intn_receiver_ops_t iops = {.string_received = on_string,
                                         .length_limit_exceeded = on_intn_too_long};
        rx = fp->rx.intn = weft_intn_receiver_new(&io, &iops, fp, err);
    }
    if (rx == NULL) {
        weft__free(fp);
        return NULL;
    }
    return fp;
}

void weft_framed_free(weft_framed_t *fp)
{
    if (fp == NULL)
        return;
    switch (fp->framing) {
    case WEFT_FRAMING_LINE:
        weft_line_receiver_free(fp->rx.line);
        break;
    case WEFT_FRAMING_NETSTRING:
        weft_netstring_receiver_free(fp->rx.ns);
        break;
    default:
        weft_intn_receiver_free(fp->rx.intn);
        break;
    }
    if (fp->drain_due) {
        fp->released = true; /* drain() frees it on the next loop pass */
        return;
    }
    weft__free(fp);
}

/* ---------------------------------------------------------------- sending and control */

int weft_framed_send(weft_framed_t *fp, const char *data, size_t len)
{
    if (fp == NULL || (data == NULL && len > 0))
        return WEFT_EINVAL;
    if (fp->t == NULL)
        return WEFT_ECLOSED;
    weft_iovec_t iov[3];
    size_t n = 0;
    char prefix[WEFT_NETSTRING_PREFIX_MAX];
    if (fp->framing == WEFT_FRAMING_LINE) {
        size_t dlen;
        const char *delim = weft_line_receiver_delimiter(fp->rx.line, &dlen);
        iov[n++] = (weft_iovec_t){data, len};
        iov[n++] = (weft_iovec_t){delim, dlen};
    } else if (fp->framing == WEFT_FRAMING_NETSTRING) {
        size_t plen = weft_netstring_prefix(prefix, len);
        iov[n++] = (weft_iovec_t){prefix, plen};
        iov[n++] = (weft_iovec_t){data, len};
        iov[n++] = (weft_iovec_t){WEFT_NETSTRING_SUFFIX, 1};
    } else {
        int rc = weft_intn_prefix(fp->prefix, len, (unsigned char *)prefix);
        if (rc < 0)
            return rc;
        iov[n++] = (weft_iovec_t){prefix, fp->prefix};
        iov[n++] = (weft_iovec_t){data, len};
    }
    return weft_transport_writev(fp->t, iov, n);
}

weft_transport_t *weft_framed_transport(const weft_framed_t *fp)
{
    return fp->t;
}

size_t weft_framed_buffered(const weft_framed_t *fp)
{
    switch (fp->framing) {
    case WEFT_FRAMING_LINE:
        return weft_line_receiver_buffered(fp->rx.line);
    case WEFT_FRAMING_NETSTRING:
        return weft_netstring_receiver_buffered(fp->rx.ns);
    default:
        return weft_intn_receiver_buffered(fp->rx.intn);
    }
}

weft_framing_t weft_framed_framing(const weft_framed_t *fp)
{
    return fp->framing;
}

void weft_framed_pause(weft_framed_t *fp)
{
    fp->paused = true;
    switch (fp->framing) {
    case WEFT_FRAMING_LINE:
        weft_line_receiver_pause(fp->rx.line);
        break;
    case WEFT_FRAMING_NETSTRING:
        weft_netstring_receiver_pause(fp->rx.ns);
        break;
    default:
        weft_intn_receiver_pause(fp->rx.intn);
        break;
    }
    if (fp->t != NULL)
        weft_transport_pause_reading(fp->t);
}

int weft_framed_resume(weft_framed_t *fp)
{
    fp->paused = false;
    fp->stopped = false;
    int rc;
    switch (fp->framing) {
    case WEFT_FRAMING_LINE:
        rc = weft_line_receiver_resume(fp->rx.line);
        break;
    case WEFT_FRAMING_NETSTRING:
        rc = weft_netstring_receiver_resume(fp->rx.ns);
        break;
    default:
        rc = weft_intn_receiver_resume(fp->rx.intn);
        break;
    }
    if (rc == WEFT_ENOMEM)
        return rc;
    /* A frame handled during the resume may have paused again or closed the connection; a
     * backlog still over hold_at keeps reading held (and is drained on later passes). */
    if (fp->paused || fp->t == NULL || !weft_transport_is_connected(fp->t))
        return 0;
    regulate(fp);
    if (fp->held)
        return 0;
    return weft_transport_resume_reading(fp->t);
}

int weft_framed_set_raw_mode(weft_framed_t *fp)
{
    if (fp->framing != WEFT_FRAMING_LINE)
        return WEFT_EINVAL;
    return weft_line_receiver_set_raw_mode(fp->rx.line);
}

int weft_framed_set_line_mode(weft_framed_t *fp, const char *extra, size_t len)
{
    if (fp->framing != WEFT_FRAMING_LINE)
        return WEFT_EINVAL;
    return weft_line_receiver_set_line_mode(fp->rx.line, extra, len);
}
