/* SPDX-License-Identifier: MIT */
/* A transport: one connected libuv stream, its writes, its reads and its close. */

/*
 * Design. A transport wraps a uv_tcp_t or uv_pipe_t that lives inside it, so the struct is
 * released only after libuv's close callback; connection_lost is called from that callback,
 * which is why it always comes on a later loop pass than the close that caused it.
 *
 * Writes: with nothing queued, a write goes straight to the kernel (uv_try_write), with no
 * allocation; the rest is queued as one uv_write request that carries a copy (or the caller's
 * owned buffer). While the transport's own data_received runs, writes (up to CORK_MAX in all)
 * are gathered and written when it returns, so that a protocol answering each of many
 * pipelined messages makes one system call for them, not one each; a close asked for
 * meanwhile writes them first, an abort drops them. They gather in one buffer per reactor
 * (r->net_cork: one data_received runs at a time), so an idle connection holds none; and not
 * while the transport has a queue (a slow peer) or past its high-water mark, so that
 * pause_producing comes from the write that crosses it, as without gathering. `pending` counts
 * bytes in requests; the push producer (the protocol's pause_producing / resume_producing) follows
 * it against the water marks.
 *
 * States: CONNECTING -> OPEN -> (CLOSING: flushing after lose_connection) -> CLOSED (uv_close
 * issued). Every operation but ref/unref checks the state, so a late caller (an offload
 * finishing after the peer left) gets WEFT_ECLOSED instead of touching a dead socket.
 *
 * Reads go into the reactor's one shared buffer (r->net_read_buf): data_received borrows the
 * bytes for the call, so nothing else can need the buffer meanwhile.
 *
 * Memory: refs starts at 1 for the connection, dropped after the close callback; users may
 * add refs to read the transport later. r->net_objects counts transports whose memory is not
 * released, so weft_reactor_free refuses until they are.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <weft/error.h>
#include <weft/log.h>

#include "../../common/alloc-internal.h"
#include "net-internal.h"

#define CORK_MAX 65536 /* bytes gathered at most while data_received runs */

typedef struct {
    uv_write_t req;
    weft_transport_t *t;
    size_t len;
    void *owned;
    void (*free_fn)(void *);
    char data[];
} wreq_t;

void weft__net_log(const weft_reactor_t *r, weft_log_level_t level, const char *fmt, ...)
{
    if (!weft_log_enabled(level, "net"))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    weft_log_field_t f[] = {{"reactor", weft_reactor_name(r)}};
    weft_log_with(level, "net", f, 1, "%s", msg);
}

void weft_transport_options_init(weft_transport_options_t *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->nodelay = true;
    opts->high_water = 65536;
    opts->low_water = 0;
}

/* ---------------------------------------------------------------- create and release */

weft_transport_t *weft__transport_new(weft_reactor_t *r, bool tcp,
                                      const weft_transport_options_t *opts, int *err)
{
    weft_transport_t *t = weft__calloc(1, sizeof(*t));
    if (t == NULL) {
        *err = WEFT_ENOMEM;
        return NULL;
    }
    int rc = tcp ? uv_tcp_init(r->loop, &t->h.tcp) : uv_pipe_init(r->loop, &t->h.pipe, 0);
    if (rc < 0) {
        weft__free(t);
        *err = rc;
        return NULL;
    }
    t->h.handle.data = t;
    t->r = r;
    t->is_tcp = tcp;
    t->state = T_CONNECTING;
    t->refs = 1;
    t->high_water = opts->high_water;
    t->low_water = opts->low_water <= opts->high_water ? opts->low_water : opts->high_water;
    weft__list_init(&t->link);
    r->net_objects++;
    return t;
}

static void release(weft_transport_t *t)
{
    weft_reactor_t *r = t->r;
    weft_failure_free(t->reason);
    weft__free(t);
    WEFT_ASSERT(r->net_objects > 0);
    r->net_objects--;
}

weft_transport_t *weft_transport_ref(weft_transport_t *t)
{
    WEFT__LOOP_ONLY(t->r);
    t->refs++;
    return t;
}

void weft_transport_unref(weft_transport_t *t)
{
    if (t == NULL)
        return;
    WEFT__LOOP_ONLY(t->r);
    WEFT_ASSERT(t->refs > 0);
    if (--t->refs == 0)
        release(t);
}

/* ---------------------------------------------------------------- closing */

static void on_close(uv_handle_t *h)
{
    weft_transport_t *t = h->data;
    weft_reactor_t *r = t->r;
    weft_failure_t *reason = t->reason;
    t->reason = NULL;
    if (reason == NULL)
        reason = weft_failure_from_code(WEFT_EEOF, "connection closed");
    weft_failure_t *copy = NULL;
    if (t->on_closed != NULL && t->made)
        copy = weft_failure_copy(reason);
    if (t->made) {
        if (t->ops.connection_lost != NULL)
            WEFT__DISPATCH(r, t->ops.connection_lost(t->proto, t, reason));
        else
            weft_failure_free(reason);
        reason = copy;
    }
    if (t->on_closed != NULL)
        WEFT__DISPATCH(r, t->on_closed(t->owner, t, t->made, reason));
    weft_failure_free(reason);
    weft_transport_unref(t);
}

static void stop_reading(weft_transport_t *t)
{
    if (t->reading) {
        uv_read_stop(&t->h.stream);
        t->reading = false;
    }
}

void weft__transport_close(weft_transport_t *t, weft_failure_t *reason)
{
    if (t->state == T_CLOSED) {
        weft_failure_free(reason);
        return;
    }
    if (t->reason == NULL)
        t->reason = reason;
    else
        weft_failure_free(reason);
    t->state = T_CLOSED;
    t->cork_len = 0; /* closed: what was gathered cannot be sent */
    stop_reading(t);
    if (t->idle_id != 0) {
        (void)weft_delayed_call_cancel(t->r, t->idle_id);
        t->idle_id = 0;
    }
    /* An abort resets the connection (SO_LINGER 0); libuv refuses that after a shutdown. */
    if (t->abort && t->is_tcp && !t->shutting) {
        if (uv_tcp_close_reset(&t->h.tcp, on_close) == 0)
            return;
    }
    uv_close(&t->h.handle, on_close);
}

/* Called when pending may have dropped: the push producer, a lose_connection waiting for the
 * flush, a half-close waiting for it. */
static void on_shutdown(uv_shutdown_t *req, int status);

static void after_drain(weft_transport_t *t)
{
    if (t->producer_paused && t->pending <= t->low_water && t->state == T_OPEN) {
        t->producer_paused = false;
        if (t->ops.resume_producing != NULL)
            WEFT__DISPATCH(t->r, t->ops.resume_producing(t->proto, t));
    }
    if (t->pending > 0)
        return;
    if (t->state == T_CLOSING) {
        weft__transport_close(t, NULL);
        return;
    }
    if (t->state == T_OPEN && t->write_shut_req && !t->shutting) {
        t->shutting = true;
        t->shutdown_req.data = t;
        int rc = uv_shutdown(&t->shutdown_req, &t->h.stream, on_shutdown);
        if (rc < 0) {
            t->shutting = false;
            weft__transport_close(t, weft_failure_from_code(rc, NULL));
        }
    }
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    weft_transport_t *t = req->data;
    if (status == UV_ECANCELED || t->state == T_CLOSED)
        return;
    if (status < 0) {
        weft__transport_close(t, weft_failure_from_code(status, NULL));
        return;
    }
    t->write_shut = true;
    if (t->ops.write_connection_lost != NULL)
        WEFT__DISPATCH(t->r, t->ops.write_connection_lost(t->proto, t));
    /* Both halves closed: the connection is done. */
    if (t->read_eof && t->state == T_OPEN)
        weft__transport_close(t, weft_failure_from_code(WEFT_EEOF, "connection closed"));
}

static void cork_flush(weft_transport_t *t);

void weft_transport_lose_connection(weft_transport_t *t)
{
    WEFT__LOOP_ONLY(t->r);
    if (t->state != T_OPEN)
        return;
    cork_flush(t); /* what was gathered goes before the close */
    if (t->state != T_OPEN)
        return; /* writing it failed: the transport is closing with that failure */
    t->state = T_CLOSING;
    stop_reading(t);
    if (t->reason == NULL)
        t->reason = weft_failure_from_code(WEFT_EEOF, "connection closed cleanly");
    if (t->pending == 0)
        weft__transport_close(t, NULL);
}

void weft_transport_abort_connection(weft_transport_t *t)
{
    WEFT__LOOP_ONLY(t->r);
    if (t->state == T_CLOSED)
        return;
    t->abort = true;
    weft_failure_free(t->reason); /* an abort overrides a clean close in progress */
    t->reason = NULL;
    weft__transport_close(t, weft_failure_from_code(WEFT_ECONNABORTED, "connection aborted"));
}

int weft_transport_lose_write_connection(weft_transport_t *t)
{
    WEFT__LOOP_ONLY(t->r);
    if (t->state != T_OPEN || t->write_shut_req)
        return WEFT_ECLOSED;
    cork_flush(t);
    if (t->state != T_OPEN)
        return WEFT_ECLOSED;
    t->write_shut_req = true;
    after_drain(t);
    return 0;
}

/* ---------------------------------------------------------------- idle timeout */

static void touch(weft_transport_t *t)
{
    if (t->idle_timeout > 0)
        t->last_active = weft_reactor_now(t->r);
}

static void on_idle_timer(void *arg);

/* (Re)starts the idle timer for seconds (> 0, finite) from now. */
static int arm_idle(weft_transport_t *t, double seconds)
{
    t->idle_timeout = seconds;
    t->last_active = weft_reactor_now(t->r);
    if (t->idle_id != 0)
        return weft_delayed_call_reset(t->r, t->idle_id, seconds);
    return weft_reactor_call_later(t->r, seconds, on_idle_timer, t, &t->idle_id);
}

static void on_idle_timer(void *arg)
{
    weft_transport_t *t = arg;
    t->idle_id = 0;
    if (t->state != T_OPEN && t->state != T_CLOSING)
        return;
    double left = t->last_active + t->idle_timeout - weft_reactor_now(t->r);
    if (left > 0) {
        if (weft_reactor_call_later(t->r, left, on_idle_timer, t, &t->idle_id) < 0)
            t->idle_id = 0;
        return;
    }
    if (t->ops.timeout_connection != NULL) {
        WEFT__DISPATCH(t->r, t->ops.timeout_connection(t->proto, t));
        return;
    }
    if (t->state == T_OPEN)
        weft__net_log(t->r, WEFT_LOG_INFO, "closing a connection idle for %.3f s", t->idle_timeout);
    else
        weft__net_log(t->r, WEFT_LOG_INFO,
                      "aborting a connection whose output has not moved for %.3f s (%zu bytes "
                      "pending)",
                      t->idle_timeout, t->pending);
    weft_failure_free(t->reason);
    t->reason = weft_failure_newf(&weft_timeout_error_type, WEFT_ETIMEDOUT,
                                  "connection idle for %.3f s", t->idle_timeout);
    if (t->state == T_OPEN) {
        weft_transport_lose_connection(t);
        /* Output still pending: give the flush one more idle period, then abort (below). */
        if (t->state == T_CLOSING && arm_idle(t, t->idle_timeout) < 0)
            weft__transport_close(t, NULL);
    } else {
        /* Still flushing after lose_connection and nothing moved: the peer is stuck. */
        t->abort = true;
        weft__transport_close(t, NULL);
    }
}

int weft_transport_set_timeout(weft_transport_t *t, double seconds)
{
    WEFT__LOOP_ONLY(t->r);
    if (!(seconds >= 0) || isinf(seconds))
        return WEFT_EINVAL;
    if (t->state != T_OPEN)
        return WEFT_ECLOSED;
    if (seconds == 0) {
        t->idle_timeout = 0;
        if (t->idle_id != 0)
            (void)weft_delayed_call_cancel(t->r, t->idle_id);
        t->idle_id = 0;
        return 0;
    }
    return arm_idle(t, seconds);
}

/* ---------------------------------------------------------------- reading */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    weft_transport_t *t = h->data;
    weft_reactor_t *r = t->r;
    if (r->net_read_buf == NULL)
        r->net_read_buf = weft__malloc(WEFT__NET_READ_BUF);
    buf->base = r->net_read_buf;
    buf->len = r->net_read_buf != NULL ? WEFT__NET_READ_BUF : 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    weft_transport_t *t = s->data;
    if (nread > 0) {
        if (t->state != T_OPEN)
            return;
        touch(t);
        weft_reactor_t *r = t->r;
        bool gather = r->net_cork_owner == NULL;
        if (gather) {
            r->net_cork_owner = t;
            t->corked = true;
        }
        WEFT__DISPATCH(r, t->ops.data_received(t->proto, t, buf->base, (size_t)nread));
        if (gather) {
            t->corked = false;
            cork_flush(t);
            r->net_cork_owner = NULL;
        }
        return;
    }
    if (nread == 0)
        return;
    if (nread == UV_EOF) {
        stop_reading(t);
        if (t->ops.read_connection_lost != NULL && t->state == T_OPEN) {
            t->read_eof = true;
            WEFT__DISPATCH(t->r, t->ops.read_connection_lost(t->proto, t));
            if (t->write_shut && t->state == T_OPEN)
                weft__transport_close(t, weft_failure_from_code(WEFT_EEOF, "connection closed"));
            return;
        }
        /* The peer closed cleanly: send what is queued, then close (ConnectionDone). */
        weft_transport_lose_connection(t);
        return;
    }
    weft__transport_close(t, weft_failure_from_code((int)nread, NULL));
}

static int start_reading(weft_transport_t *t)
{
    if (t->reading || t->read_paused || t->read_eof || t->state != T_OPEN)
        return 0;
    int rc = uv_read_start(&t->h.stream, on_alloc, on_read);
    if (rc < 0) {
        weft__transport_close(t, weft_failure_from_code(rc, NULL));
        return rc;
    }
    t->reading = true;
    return 0;
}

void weft_transport_pause_reading(weft_transport_t *t)
{
    WEFT__LOOP_ONLY(t->r);
    t->read_paused = true;
    stop_reading(t);
}

int weft_transport_resume_reading(weft_transport_t *t)
{
    WEFT__LOOP_ONLY(t->r);
    t->read_paused = false;
    return start_reading(t);
}

bool weft_transport_is_reading_paused(const weft_transport_t *t)
{
    return t->read_paused;
}

bool weft_transport_is_connected(const weft_transport_t *t)
{
    return t->state == T_OPEN;
}

int weft__transport_start(weft_transport_t *t, const weft_protocol_ops_t *ops, void *proto,
                          const weft_transport_options_t *opts)
{
    t->ops = *ops;
    t->proto = proto;
    t->state = T_OPEN;
    if (t->is_tcp) {
        (void)uv_tcp_nodelay(&t->h.tcp, opts->nodelay);
        if (opts->keepalive_s > 0)
            (void)uv_tcp_keepalive(&t->h.tcp, 1, opts->keepalive_s);
    }
    t->made = true;
    if (t->ops.connection_made != NULL)
        WEFT__DISPATCH(t->r, t->ops.connection_made(t->proto, t));
    /* Also when connection_made called lose_connection: a flush to a peer that never reads
     * must still end (the idle timer aborts it). */
    if ((t->state == T_OPEN || t->state == T_CLOSING) && t->idle_timeout == 0 &&
        opts->idle_timeout > 0) {
        int rc =
            weft__seconds_valid(opts->idle_timeout) ? arm_idle(t, opts->idle_timeout) : WEFT_EINVAL;
        if (rc < 0)
            weft__net_log(t->r, WEFT_LOG_ERROR, "idle timeout not set: %s", weft_strerror(rc));
    }
    if (t->state != T_OPEN)
        return 0;
    return start_reading(t);
}

/* ---------------------------------------------------------------- writing */

static void on_write(uv_write_t *req, int status)
{
    wreq_t *w = (wreq_t *)req;
    weft_transport_t *t = w->t;
    t->pending -= w->len;
    t->nreqs--;
    if (w->free_fn != NULL)
        w->free_fn(w->owned);
    weft__free(w);
    if (status < 0) {
        if (status != UV_ECANCELED)
            weft__transport_close(t, weft_failure_from_code(status, NULL));
        return;
    }
    touch(t);
    after_drain(t);
}

static int write_check(const weft_transport_t *t)
{
    if (t->state != T_OPEN || t->write_shut_req)
        return WEFT_ECLOSED;
    return 0;
}

/* Queues w (its buf set up by the caller) and runs the producer check. Takes w. */
static int queue(weft_transport_t *t, wreq_t *w, uv_buf_t buf)
{
    w->t = t;
    int rc = uv_write(&w->req, &t->h.stream, &buf, 1, on_write);
    if (rc < 0) {
        if (w->free_fn != NULL)
            w->free_fn(w->owned);
        weft__free(w);
        weft__transport_close(t, weft_failure_from_code(rc, NULL));
        return rc;
    }
    t->nreqs++;
    t->pending += w->len;
    if (!t->producer_paused && t->pending > t->high_water) {
        t->producer_paused = true;
        if (t->ops.pause_producing != NULL)
            WEFT__DISPATCH(t->r, t->ops.pause_producing(t->proto, t));
    }
    return 0;
}

/* Tries to send bufs at once when nothing is queued; returns the bytes sent, or a negative
 * code after which the connection is closing. */
static ssize_t try_now(weft_transport_t *t, const uv_buf_t *bufs, unsigned n)
{
    if (t->nreqs > 0)
        return 0;
    int sent = uv_try_write(&t->h.stream, bufs, n);
    if (sent >= 0)
        return sent;
    if (sent == UV_EAGAIN || sent == UV_ENOSYS)
        return 0;
    weft__transport_close(t, weft_failure_from_code(sent, NULL));
    return sent;
}

/* Sends len bytes now, queueing a copy of what the kernel does not take. */
static int send_copy(weft_transport_t *t, const char *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    ssize_t sent = try_now(t, &b, 1);
    if (sent < 0)
        return (int)sent;
    if ((size_t)sent == len)
        return 0;
    size_t rest = len - (size_t)sent;
    wreq_t *w = weft__malloc(sizeof(*w) + rest);
    if (w == NULL)
        return WEFT_ENOMEM;
    memcpy(w->data, data + sent, rest);
    w->len = rest;
    w->owned = NULL;
    w->free_fn = NULL;
    return queue(t, w, uv_buf_init(w->data, (unsigned)rest));
}

/* Writes what was gathered. A failure closes the transport: the writes were accepted already,
 * so they cannot be refused now. */
static void cork_flush(weft_transport_t *t)
{
    size_t n = t->cork_len;
    if (n == 0)
        return;
    t->cork_len = 0;
    if (t->state != T_OPEN)
        return;
    /* Not gathering meanwhile: a write from pause_producing, which the queueing may call, goes
     * out after these bytes, not into a buffer a close is about to drop. */
    bool corked = t->corked;
    t->corked = false;
    int rc = send_copy(t, t->r->net_cork, n);
    t->corked = corked;
    if (rc != 0 && t->state != T_CLOSED)
        weft__transport_close(t, weft_failure_from_code(rc, "writing gathered data"));
}

/* Gathers the bytes of iov (total in all) while data_received runs. Returns false when they
 * are to be written now instead, after whatever was gathered: outside data_received, behind
 * a queue or past the high-water mark (the write path then pauses the producer), past
 * CORK_MAX, or out of memory. */
static bool cork_take(weft_transport_t *t, const weft_iovec_t *iov, size_t n, size_t total)
{
    if (!t->corked)
        return false;
    weft_reactor_t *r = t->r;
    if (t->nreqs > 0 || t->cork_len + total > CORK_MAX ||
        t->pending + t->cork_len + total > t->high_water) {
        cork_flush(t);
        return false;
    }
    if (t->cork_len + total > r->net_cork_cap) {
        size_t cap = r->net_cork_cap ? r->net_cork_cap : 4096;
        while (cap < t->cork_len + total)
            cap *= 2;
        char *p = weft__realloc(r->net_cork, cap);
        if (p == NULL) {
            cork_flush(t);
            return false;
        }
        r->net_cork = p;
        r->net_cork_cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        if (iov[i].len > 0)
            memcpy(r->net_cork + t->cork_len, iov[i].base, iov[i].len);
        t->cork_len += iov[i].len;
    }
    return true;
}

int weft_transport_write(weft_transport_t *t, const char *data, size_t len)
{
    if (t == NULL || (data == NULL && len > 0) || len > UINT_MAX)
        return WEFT_EINVAL;
    WEFT__LOOP_ONLY(t->r);
    int rc = write_check(t);
    if (rc < 0 || len == 0)
        return rc;
    touch(t);
    weft_iovec_t v = {data, len};
    if (cork_take(t, &v, 1, len))
        return 0;
    if (t->state != T_OPEN)
        return WEFT_ECLOSED; /* flushing the cork failed */
    return send_copy(t, data, len);
}

int weft_transport_write_owned(weft_transport_t *t, void *data, size_t len, void (*free_fn)(void *))
{
    if (t == NULL || (data == NULL && len > 0) || len > UINT_MAX) {
        if (free_fn != NULL && data != NULL)
            free_fn(data);
        return WEFT_EINVAL;
    }
    WEFT__LOOP_ONLY(t->r);
    int rc = write_check(t);
    ssize_t sent = 0;
    if (rc == 0 && len > 0) {
        touch(t);
        weft_iovec_t v = {data, len};
        if (cork_take(t, &v, 1, len)) {
            if (free_fn != NULL)
                free_fn(data);
            return 0;
        }
        if (t->state != T_OPEN) {
            if (free_fn != NULL)
                free_fn(data);
            return WEFT_ECLOSED;
        }
        uv_buf_t b = uv_buf_init(data, (unsigned)len);
        sent = try_now(t, &b, 1);
        if (sent < 0)
            rc = (int)sent;
    }
    if (rc < 0 || (size_t)sent == len) {
        if (free_fn != NULL)
            free_fn(data);
        return rc;
    }
    wreq_t *w = weft__malloc(sizeof(*w));
    if (w == NULL) {
        if (free_fn != NULL)
            free_fn(data);
        return WEFT_ENOMEM;
    }
    w->len = len - (size_t)sent;
    w->owned = data;
    w->free_fn = free_fn;
    return queue(t, w, uv_buf_init((char *)data + sent, (unsigned)w->len));
}

int weft_transport_writev(weft_transport_t *t, const weft_iovec_t *iov, size_t n)
{
    if (t == NULL || (iov == NULL && n > 0))
        return WEFT_EINVAL;
    WEFT__LOOP_ONLY(t->r);
    int rc = write_check(t);
    if (rc < 0)
        return rc;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if ((iov[i].base == NULL && iov[i].len > 0) || iov[i].len > UINT_MAX - total)
            return WEFT_EINVAL;
        total += iov[i].len;
    }
    if (total == 0)
        return 0;
    touch(t);
    if (cork_take(t, iov, n, total))
        return 0;
    if (t->state != T_OPEN)
        return WEFT_ECLOSED;
    size_t sent = 0;
    if (t->nreqs == 0 && n <= 16) {
        uv_buf_t bufs[16];
        for (size_t i = 0; i < n; i++)
            bufs[i] = uv_buf_init((char *)iov[i].base, (unsigned)iov[i].len);
        ssize_t s = try_now(t, bufs, (unsigned)n);
        if (s < 0)
            return (int)s;
        sent = (size_t)s;
    }
    if (sent == total)
        return 0;
    size_t rest = total - sent;
    wreq_t *w = weft__malloc(sizeof(*w) + rest);
    if (w == NULL)
        return WEFT_ENOMEM;
    size_t skip = sent, off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = iov[i].len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        memcpy(w->data + off, (const char *)iov[i].base + skip, l - skip);
        off += l - skip;
        skip = 0;
    }
    w->len = rest;
    w->owned = NULL;
    w->free_fn = NULL;
    return queue(t, w, uv_buf_init(w->data, (unsigned)rest));
}

size_t weft_transport_pending(const weft_transport_t *t)
{
    return t->pending + t->cork_len;
}

int weft_transport_set_water_marks(weft_transport_t *t, size_t high, size_t low)
{
    WEFT__LOOP_ONLY(t->r);
    if (low > high)
        return WEFT_EINVAL;
    t->high_water = high;
    t->low_water = low;
    return 0;
}

/* ---------------------------------------------------------------- settings and addresses */

int weft_transport_set_nodelay(weft_transport_t *t, bool on)
{
    WEFT__LOOP_ONLY(t->r);
    if (!t->is_tcp)
        return WEFT_ENOTSUP;
    if (t->state == T_CLOSED)
        return WEFT_ECLOSED;
    return uv_tcp_nodelay(&t->h.tcp, on);
}

int weft_transport_set_keepalive(weft_transport_t *t, unsigned delay_s)
{
    WEFT__LOOP_ONLY(t->r);
    if (!t->is_tcp)
        return WEFT_ENOTSUP;
    if (t->state == T_CLOSED)
        return WEFT_ECLOSED;
    return uv_tcp_keepalive(&t->h.tcp, delay_s > 0, delay_s);
}

int weft__format_addr(const struct sockaddr_storage *ss, char *buf, size_t size, int *port)
{
    char ip[64];
    int p = 0, n;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        uv_ip4_name(in, ip, sizeof(ip));
        p = ntohs(in->sin_port);
        n = snprintf(buf, size, "%s:%d", ip, p);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(in6, ip, sizeof(ip));
        p = ntohs(in6->sin6_port);
        n = snprintf(buf, size, "[%s]:%d", ip, p);
    } else {
        return WEFT_ENOTSUP;
    }
    if (port != NULL)
        *port = p;
    return n < 0 || (size_t)n >= size ? WEFT_ENOSPC : 0;
}

int weft__parse_addr(const char *host, int port, struct sockaddr_storage *ss)
{
    if (host == NULL || port < 0 || port > 65535)
        return WEFT_EINVAL;
    memset(ss, 0, sizeof(*ss));
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return WEFT_EINVAL;
}

static int address(const weft_transport_t *t, bool peer, char *buf, size_t size, int *port)
{
    WEFT__LOOP_ONLY(t->r);
    if (buf == NULL || size == 0)
        return WEFT_EINVAL;
    if (t->state == T_CLOSED)
        return WEFT_ECLOSED;
    if (port != NULL)
        *port = 0;
    if (!t->is_tcp) {
        size_t len = size;
        int rc = peer ? uv_pipe_getpeername(&t->h.pipe, buf, &len)
                      : uv_pipe_getsockname(&t->h.pipe, buf, &len);
        if (rc == UV_ENOBUFS)
            return WEFT_ENOSPC;
        if (rc < 0)
            return rc;
        buf[len < size ? len : size - 1] = '\0';
        return 0;
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    int rc = peer ? uv_tcp_getpeername(&t->h.tcp, (struct sockaddr *)&ss, &len)
                  : uv_tcp_getsockname(&t->h.tcp, (struct sockaddr *)&ss, &len);
    if (rc < 0)
        return rc;
    return weft__format_addr(&ss, buf, size, port);
}

int weft_transport_peer(const weft_transport_t *t, char *buf, size_t size, int *port)
{
    return address(t, true, buf, size, port);
}

int weft_transport_host(const weft_transport_t *t, char *buf, size_t size, int *port)
{
    return address(t, false, buf, size, port);
}

weft_reactor_t *weft_transport_reactor(const weft_transport_t *t)
{
    return t->r;
}

void *weft_transport_protocol(const weft_transport_t *t)
{
    return t->proto;
}

void weft_transport_set_protocol(weft_transport_t *t, const weft_protocol_ops_t *ops, void *proto)
{
    WEFT__LOOP_ONLY(t->r);
    if (ops == NULL || ops->data_received == NULL) {
        weft__net_log(t->r, WEFT_LOG_ERROR,
                      "weft_transport_set_protocol: no data_received; the protocol is unchanged");
        return;
    }
    t->ops = *ops;
    t->proto = proto;
}
