/* SPDX-License-Identifier: MIT */
/* The File resource (Twisted's static.File), streamed.
 *
 * Data flow: the render copies what it needs from the request into a stream and submits an
 * open job (open, fstat, index.html) to the I/O pool. Its callback, on the loop, picks the
 * answer (404, 304, 200, 206 of one range or multipart/byteranges, 416), sets the headers with
 * the exact Content-Length, and registers the stream as the request's pull producer. Each
 * produce writes what the loop can (a part's separator) and submits one read job of at most
 * chunk bytes; its callback writes the bytes, and the request asks for more only once the
 * transport is below its high-water mark. So a response holds at most one chunk in the stream
 * plus the transport's high-water mark, whatever the file's size.
 *
 * Ownership: the stream is reference-counted on the loop: one reference for the request
 * (dropped when the stream finishes it) and one per job in flight (dropped by the offload's
 * arg_free, which runs once the job can no longer touch it, also after a cancel). A job writes
 * only the fields of its result (fd, size, mtime, status; buf, got, read_err), which the loop
 * reads in the job's callback. The last reference closes the file and frees the rest. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <weft/bridge.h>
#include <weft/error.h>
#include <weft/log.h>
#include <weft/request.h>

#include "web-file.h"

#define FILE_CHUNK_DEFAULT 65536

typedef struct {
    char *root;
    size_t chunk;
} file_ctx_t;

/* One piece of the body: sep (may be NULL) then len bytes of the file from off. */
typedef struct {
    long long off, len;
    char *sep;
    size_t seplen;
} file_part_t;

typedef struct {
    int refs;
    weft_request_t *req; /* NULL once the stream finished it */
    char *path;
    time_t ims; /* If-Modified-Since, or -1 */
    bool head;
    char *range; /* the Range header, copied, or NULL */
    size_t chunk;
    /* Written by the open job. */
    int fd;
    int status; /* 0: a regular file is open; 403, 404 */
    bool index; /* index.html of a directory */
    long long size;
    time_t mtime;
    /* The body, built on the loop. */
    file_part_t *parts;
    size_t nparts, part;
    long long part_done; /* bytes of parts[part] written */
    bool sep_sent;
    char *tail; /* the closing boundary of a multipart body, or NULL */
    size_t taillen;
    /* The read in flight; buf, got and read_err are written by the read job. */
    bool reading, stopped;
    char *buf;
    long long read_off;
    size_t read_len, got;
    int read_err;
} file_stream_t;

static void stream_unref(void *p)
{
    file_stream_t *st = p;
    if (--st->refs > 0)
        return;
    if (st->fd >= 0)
        close(st->fd); /* a read-only regular file: close does not block */
    for (size_t i = 0; i < st->nparts; i++)
        free(st->parts[i].sep);
    free(st->parts);
    free(st->tail);
    free(st->buf);
    free(st->range);
    free(st->path);
    free(st);
}

/* Finishes the request once and drops its reference. */
static void stream_finish(file_stream_t *st)
{
    weft_request_t *req = st->req;
    if (req == NULL)
        return;
    st->req = NULL;
    weft_request_finish(req);
    stream_unref(st);
}

const char *weft_web_content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"txt", "text/plain; charset=utf-8"},
        {"css", "text/css"},
        {"js", "text/javascript"},
        {"json", "application/json"},
        {"xml", "application/xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"svg", "image/svg+xml"},
        {"ico", "image/x-icon"},
        {"webp", "image/webp"},
        {"pdf", "application/pdf"},
        {"wasm", "application/wasm"},
        {"gz", "application/gzip"},
        {"md", "text/markdown; charset=utf-8"},
    };
    const char *dot = name != NULL ? strrchr(name, '.') : NULL;
    const char *slash = name != NULL ? strrchr(name, '/') : NULL;
    if (dot != NULL && (slash == NULL || dot > slash)) {
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
            if (strcasecmp(dot + 1, types[i].ext) == 0)
                return types[i].type;
        }
    }
    return "application/octet-stream";
}

/* ---------------------------------------------------------------- on the I/O pool */

/* Opens the file (or a directory's index.html) and stats it. */
static weft_result_t open_job(void *arg)
{
    file_stream_t *st = arg;
    struct stat sb;
    int fd = open(st->path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        char *index = malloc(strlen(st->path) + 12);
        close(fd);
        fd = -1;
        if (index != NULL) {
            sprintf(index, "%s/index.html", st->path);
            fd = open(index, O_RDONLY | O_CLOEXEC);
            free(index);
            st->index = true;
        }
    }
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st->status = (fd < 0 && errno == EACCES) ? 403 : 404;
        if (fd >= 0)
            close(fd);
        return weft_ok(NULL, NULL);
    }
    st->fd = fd;
    st->size = (long long)sb.st_size;
    st->mtime = sb.st_mtime;
    return weft_ok(NULL, NULL);
}

/* Reads [read_off, read_off + read_len) into buf; got is short at the end of the file. */
static weft_result_t read_job(void *arg)
{
    file_stream_t *st = arg;
    size_t got = 0;
    int err = 0;
    while (got < st->read_len) {
        ssize_t n = pread(st->fd, st->buf + got, st->read_len - got,
                          (off_t)(st->read_off + (long long)got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            err = errno;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    st->got = got;
    st->read_err = err;
    return weft_ok(NULL, NULL);
}

/* ---------------------------------------------------------------- Range (Twisted's rules) */

typedef struct {
    bool has_start, has_end;
    long long start, end;
} file_range_t;

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Strips ASCII whitespace off [*s, *s + *n), as Python's bytes.strip. */
static void strip(const char **s, size_t *n)
{
    while (*n > 0 && is_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_space((*s)[*n - 1]))
        (*n)--;
}

/* Parses a number as Python's int() does (spaces around, an optional sign, digits; no
 * underscores), saturating far beyond any file size. */
static bool parse_int(const char *s, size_t n, long long *v)
{
    strip(&s, &n);
    bool neg = false;
    if (n > 0 && (*s == '+' || *s == '-')) {
        neg = *s == '-';
        s++;
        n--;
    }
    if (n == 0)
        return false;
    long long x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (x < (1LL << 60))
            x = x * 10 + (s[i] - '0');
    }
    *v = neg ? -x : x;
    return true;
}

/* Parses a Range header as Twisted's File._parseRangeHeader: "bytes" = one or more comma
 * separated "start-end" (either may be omitted, not both; start <= end when both are given);
 * empty items are skipped. Returns the number of ranges (0 is possible: "bytes="), or -1 when
 * the header is malformed (it is then ignored) or on ENOMEM. *out is owned by the caller. */
static long parse_ranges(const char *h, file_range_t **out)
{
    *out = NULL;
    const char *eq = strchr(h, '=');
    if (eq == NULL)
        return -1;
    const char *kind = h;
    size_t klen = (size_t)(eq - h);
    strip(&kind, &klen);
    if (klen != 5 || memcmp(kind, "bytes", 5) != 0)
        return -1;
    size_t cap = 1;
    for (const char *p = eq + 1; *p != '\0'; p++)
        cap += *p == ',';
    file_range_t *rs = calloc(cap, sizeof(*rs));
    if (rs == NULL)
        return -1;
    long n = 0;
    for (const char *p = eq + 1;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        const char *item = p;
        strip(&item, &len);
        if (len > 0) {
            const char *dash = memchr(item, '-', len);
            if (dash == NULL)
                goto bad;
            file_range_t *r = &rs[n];
            size_t slen = (size_t)(dash - item), elen = len - slen - 1;
            r->has_start = slen > 0;
            r->has_end = elen > 0;
            if ((r->has_start && !parse_int(item, slen, &r->start)) ||
                (r->has_end && !parse_int(dash + 1, elen, &r->end)))
                goto bad;
            if (!r->has_start && !r->has_end)
                goto bad;
            if (r->has_start && r->has_end && r->start > r->end)
                goto bad;
            n++;
        }
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    *out = rs;
    return n;
bad:
    free(rs);
    return -1;
}

/* Twisted's _rangeToOffsetAndSize. Returns false when the range misses the file. One
 * divergence: a suffix longer than the file ("bytes=-20" of 16 bytes) is the whole file, as
 * RFC 9110 says, where Twisted answers 500. */
static bool range_span(const file_range_t *r, long long size, long long *off, long long *len)
{
    long long start = r->start, end;
    if (!r->has_start) {
        start = size - r->end;
        end = size;
    } else if (!r->has_end || r->end >= size) {
        end = size;
    } else {
        end = r->end + 1;
    }
    if (start < 0)
        start = 0;
    if (start >= size)
        return false;
    *off = start;
    *len = end - start;
    return true;
}

/* ---------------------------------------------------------------- on the loop */

static void http_date(time_t t, char *buf, size_t size)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static const char *stream_type(const file_stream_t *st)
{
    return st->index ? "text/html; charset=utf-8" : weft_web_content_type(st->path);
}

static int add_part(file_stream_t *st, long long off, long long len, char *sep, size_t seplen)
{
    file_part_t *ps = realloc(st->parts, (st->nparts + 1) * sizeof(*ps));
    if (ps == NULL) {
        free(sep);
        return WEFT_ENOMEM;
    }
    st->parts = ps;
    ps[st->nparts++] = (file_part_t){off, len, sep, seplen};
    return 0;
}

/* Sets the status and headers of a 416 (no body). */
static int unsatisfiable(file_stream_t *st)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "bytes */%lld", st->size);
    return weft_request_set_response_code(st->req, 416) |
           weft_request_set_header(st->req, "Content-Range", buf) |
           weft_request_set_header(st->req, "Content-Length", "0");
}

/* Plans a multipart/byteranges body (Twisted's _doMultipleRangeRequest): each range that
 * meets the file is a part, in the order asked, overlaps included; none: 416. */
static int plan_multipart(file_stream_t *st, const file_range_t *rs, long n, long long *total)
{
    static atomic_uint counter; /* several reactors may answer ranges at once */
    char boundary[48];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(boundary, sizeof(boundary), "%llx%x%x",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000,
             (unsigned)getpid(), atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed));
    const char *type = stream_type(st);
    *total = 0;
    for (long i = 0; i < n; i++) {
        long long off, len;
        if (!range_span(&rs[i], st->size, &off, &len))
            continue;
        size_t cap = strlen(boundary) + strlen(type) + 128;
        char *sep = malloc(cap);
        if (sep == NULL)
            return WEFT_ENOMEM;
        int k = snprintf(
            sep, cap, "\r\n--%s\r\nContent-type: %s\r\nContent-range: bytes %lld-%lld/%lld\r\n\r\n",
            boundary, type, off, off + len - 1, st->size);
        int rc = add_part(st, off, len, sep, (size_t)k);
        if (rc != 0)
            return rc;
        *total += len + k;
    }
    if (st->nparts == 0) {
        *total = 0;
        return unsatisfiable(st);
    }
    size_t cap = strlen(boundary) + 16;
    if ((st->tail = malloc(cap)) == NULL)
        return WEFT_ENOMEM;
    st->taillen = (size_t)snprintf(st->tail, cap, "\r\n--%s--\r\n", boundary);
    *total += (long long)st->taillen;
    char ct[96];
    snprintf(ct, sizeof(ct), "multipart/byteranges; boundary=\"%s\"", boundary);
    return weft_request_set_response_code(st->req, 206) |
           weft_request_set_header(st->req, "Content-Type", ct);
}

/* Picks the answer for an open file and plans its body (Twisted's makeProducer); *total gets
 * the body's length. */
static int plan(file_stream_t *st, long long *total)
{
    weft_request_t *req = st->req;
    int rc = weft_request_set_header(req, "Content-Type", stream_type(st));
    *total = st->size;
    if (st->range == NULL || st->head) /* Twisted's HEAD ignores Range */
        return rc | weft_request_set_response_code(req, 200) | add_part(st, 0, st->size, NULL, 0);
    file_range_t *rs;
    long n = parse_ranges(st->range, &rs);
    if (n < 0) {
        weft_log(WEFT_LOG_DEBUG, "http", "ignoring malformed Range header %s", st->range);
        return rc | weft_request_set_response_code(req, 200) | add_part(st, 0, st->size, NULL, 0);
    }
    if (n == 1) {
        long long off, len;
        if (!range_span(&rs[0], st->size, &off, &len)) {
            *total = 0;
            rc |= unsatisfiable(st);
        } else {
            char buf[96];
            snprintf(buf, sizeof(buf), "bytes %lld-%lld/%lld", off, off + len - 1, st->size);
            *total = len;
            rc |= weft_request_set_response_code(req, 206) |
                  weft_request_set_header(req, "Content-Range", buf) |
                  add_part(st, off, len, NULL, 0);
        }
    } else {
        rc |= plan_multipart(st, rs, n, total);
    }
    free(rs);
    return rc;
}

static void produce(weft_request_t *req, void *arg);

static void stream_stop(weft_request_t *req, void *arg)
{
    (void)req;
    file_stream_t *st = arg;
    st->stopped = true;
    if (!st->reading)
        stream_finish(st);
}

/* Answers an open job's result. */
static weft_result_t opened(void *value, weft_free_fn free_fn, void *arg)
{
    (void)value;
    (void)free_fn;
    file_stream_t *st = arg;
    weft_request_t *req = st->req;
    if (weft_request_is_gone(req)) {
        stream_finish(st);
        return weft_ok(NULL, NULL);
    }
    if (st->status != 0) {
        int rc = weft_request_set_response_code(req, st->status);
        (void)rc;
        stream_finish(st);
        return weft_ok(NULL, NULL);
    }
    char buf[64];
    http_date(st->mtime, buf, sizeof(buf));
    int rc = weft_request_set_header(req, "Accept-Ranges", "bytes") |
             weft_request_set_header(req, "Last-Modified", buf);
    long long total = 0;
    if (st->ims >= 0 && st->mtime <= st->ims) {
        rc |= weft_request_set_response_code(req, 304);
    } else {
        rc |= plan(st, &total);
        snprintf(buf, sizeof(buf), "%lld", total);
        rc |= weft_request_set_header(req, "Content-Length", buf);
    }
    if (rc == 0 && total > 0 && !st->head) {
        rc = weft_request_register_producer(req, produce, stream_stop, st);
        if (rc == 0)
            return weft_ok(NULL, NULL);
    }
    if (rc != 0) {
        weft_log(WEFT_LOG_WARN, "http", "file answer for %s failed: %s", weft_request_path(req),
                 weft_strerror(rc));
        if (weft_request_set_response_code(req, 500) == 0) {
            int r2 = weft_request_set_header(req, "Content-Length", "0");
            (void)r2;
        }
    }
    stream_finish(st);
    return weft_ok(NULL, NULL);
}

/* A job failed to run (the pool refused it or was shut down): 503 if nothing was sent yet;
 * mid-body, the request finishes short and its connection closes. */
static weft_result_t job_failed(weft_failure_t *f, void *arg)
{
    file_stream_t *st = arg;
    st->reading = false;
    if (st->req != NULL && !weft_request_is_gone(st->req)) {
        weft_log(WEFT_LOG_WARN, "http", "file job for %s failed: %s", weft_request_path(st->req),
                 weft_failure_message(f));
        if (weft_request_set_response_code(st->req, 503) == 0) {
            int rc = weft_request_set_header(st->req, "Content-Length", "0");
            (void)rc;
        }
    }
    weft_failure_free(f);
    stream_finish(st);
    return weft_ok(NULL, NULL);
}

/* Submits fn on the I/O pool with a reference to st; cb answers its result. */
static int submit(file_stream_t *st, weft_thread_fn fn, weft_callback_fn cb)
{
    weft_offload_options_t o;
    weft_offload_options_init(&o);
    o.kind = WEFT_POOL_KIND_IO;
    o.name = "http-file";
    o.arg_free = stream_unref; /* the job's reference, dropped once it can no longer touch st */
    st->refs++;
    int err = 0;
    weft_deferred_t *d = weft_defer_to_thread(weft_request_reactor(st->req), fn, st, &o, &err);
    if (d == NULL)
        return err;
    int rc = weft_deferred_add_callbacks(d, cb, st, job_failed, st);
    weft_deferred_unref(d);
    return rc;
}

static weft_result_t read_done(void *value, weft_free_fn free_fn, void *arg);

/* The request wants more body: the next separator, a read, or the end. */
static void produce(weft_request_t *req, void *arg)
{
    (void)req;
    file_stream_t *st = arg;
    if (st->reading || st->stopped || st->req == NULL)
        return;
    while (st->part < st->nparts) {
        file_part_t *p = &st->parts[st->part];
        if (p->sep != NULL && !st->sep_sent) {
            st->sep_sent = true;
            if (weft_request_write(st->req, p->sep, p->seplen) != 0)
                break;
        }
        if (st->part_done == p->len) {
            st->part++;
            st->part_done = 0;
            st->sep_sent = false;
            continue;
        }
        long long left = p->len - st->part_done;
        st->read_len = left < (long long)st->chunk ? (size_t)left : st->chunk;
        st->read_off = p->off + st->part_done;
        if (st->buf == NULL && (st->buf = malloc(st->chunk)) == NULL)
            break;
        st->reading = true;
        int rc = submit(st, read_job, read_done);
        if (rc != 0) {
            st->reading = false;
            weft_log(WEFT_LOG_WARN, "http", "cannot read %s: %s", st->path, weft_strerror(rc));
            break;
        }
        return;
    }
    if (st->part == st->nparts && st->tail != NULL) {
        int rc = weft_request_write(st->req, st->tail, st->taillen);
        (void)rc;
    }
    stream_finish(st); /* done, or failed: a short body closes the connection */
}

static weft_result_t read_done(void *value, weft_free_fn free_fn, void *arg)
{
    (void)value;
    (void)free_fn;
    file_stream_t *st = arg;
    st->reading = false;
    if (st->stopped || st->req == NULL || weft_request_is_gone(st->req)) {
        stream_finish(st);
        return weft_ok(NULL, NULL);
    }
    if (st->got == 0) { /* an error, or the file shrank: the body ends short */
        weft_log(WEFT_LOG_WARN, "http", "reading %s stopped at %lld: %s", st->path, st->read_off,
                 st->read_err != 0 ? strerror(st->read_err) : "end of file");
        stream_finish(st);
        return weft_ok(NULL, NULL);
    }
    st->part_done += (long long)st->got;
    if (weft_request_write(st->req, st->buf, st->got) != 0)
        stream_finish(st);
    /* else the request calls produce once the transport has room */
    return weft_ok(NULL, NULL);
}

static int file_render(weft_request_t *req, void *ctx)
{
    file_ctx_t *fc = ctx;
    const char *rest = weft_request_postpath(req);
    /* No ".." segment may climb out of the root. */
    for (const char *p = rest; (p = strstr(p, "..")) != NULL; p += 2) {
        bool start = p == rest || p[-1] == '/';
        bool end = p[2] == '\0' || p[2] == '/';
        if (start && end) {
            int rc = weft_request_set_response_code(req, 404);
            (void)rc;
            return 0;
        }
    }
    file_stream_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return WEFT_ENOMEM;
    st->refs = 1;
    st->fd = -1;
    st->req = req;
    st->ims = -1;
    st->chunk = fc->chunk;
    st->head = strcmp(weft_request_method(req), "HEAD") == 0;
    st->path = malloc(strlen(fc->root) + strlen(rest) + 2);
    const char *range = weft_request_header(req, "Range");
    if (range != NULL)
        st->range = strdup(range);
    if (st->path == NULL || (range != NULL && st->range == NULL)) {
        st->req = NULL;
        stream_unref(st);
        return WEFT_ENOMEM;
    }
    sprintf(st->path, "%s%s%s", fc->root, rest[0] == '/' || rest[0] == '\0' ? "" : "/", rest);
    const char *ims = weft_request_header(req, "If-Modified-Since");
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (ims != NULL && strptime(ims, "%a, %d %b %Y %H:%M:%S GMT", &tm) != NULL)
        st->ims = timegm(&tm);
    int rc = submit(st, open_job, opened);
    if (rc != 0) { /* the job's reference is dropped; the render answers 500 */
        st->req = NULL;
        stream_unref(st);
        return rc;
    }
    return WEFT_NOT_DONE_YET;
}

static void file_ctx_free(void *p)
{
    file_ctx_t *fc = p;
    if (fc != NULL)
        free(fc->root);
    free(fc);
}

weft_resource_t *weft_file_resource_new(const char *root, size_t chunk_bytes, int *err)
{
    if (root == NULL || root[0] == '\0') {
        if (err != NULL)
            *err = WEFT_EINVAL;
        return NULL;
    }
    file_ctx_t *fc = calloc(1, sizeof(*fc));
    if (fc == NULL || (fc->root = strdup(root)) == NULL) {
        free(fc);
        if (err != NULL)
            *err = WEFT_ENOMEM;
        return NULL;
    }
    size_t n = strlen(fc->root);
    while (n > 1 && fc->root[n - 1] == '/')
        fc->root[--n] = '\0';
    fc->chunk = chunk_bytes ? chunk_bytes : FILE_CHUNK_DEFAULT;
    weft_resource_t *res = weft_resource_new(fc, file_ctx_free, err);
    if (res == NULL)
        return NULL;
    weft_resource_set_leaf(res, true);
    if (weft_resource_set_render(res, "GET", file_render) != 0) {
        weft_resource_free(res);
        if (err != NULL)
            *err = WEFT_ENOMEM;
        return NULL;
    }
    return res;
}
