/* SPDX-License-Identifier: MIT */
/* The File resource: the render parses the request on the loop, a job on the I/O pool opens,
 * stats and reads the file, and the deferred's callback answers on the loop (or only finishes
 * the request if its client left). */
#include <errno.h>
#include <fcntl.h>
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

typedef struct {
    char *root;
    size_t max_bytes;
} file_ctx_t;

/* What the loop hands the job: owned by weft (arg_free) from the submit on, freed once the job
 * can no longer touch it, after the deferred's callbacks ran. */
typedef struct {
    weft_request_t *req;
    char *path;
    time_t ims; /* If-Modified-Since, or -1 */
    int range;  /* 0: none; 1: from-to (to < 0: to the end); 2: the last `to` bytes */
    long long from, to;
    size_t max_bytes;
} file_in_t;

/* What the job gives back. */
typedef struct {
    int status;
    char *body;
    size_t len;
    long long size, from, to;
    time_t mtime;
} file_out_t;

static void file_out_free(void *p)
{
    file_out_t *o = p;
    if (o != NULL)
        free(o->body);
    free(o);
}

static void file_in_free(void *p)
{
    file_in_t *in = p;
    free(in->path);
    free(in);
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

/* Reads [from, from + len) of fd into a new buffer. */
static char *read_span(int fd, long long from, size_t len)
{
    char *buf = malloc(len + 1);
    size_t got = 0;
    while (buf != NULL && got < len) {
        ssize_t n = pread(fd, buf + got, len - got, (off_t)(from + (long long)got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(buf);
            return NULL;
        }
        got += (size_t)n;
    }
    return buf;
}

/* The job, on an I/O worker: every system call of the answer. */
static weft_result_t file_job(void *arg)
{
    file_in_t *in = arg;
    file_out_t *out = calloc(1, sizeof(*out));
    if (out == NULL)
        return weft_fail_new(&weft_memory_error_type, WEFT_ENOMEM, "out of memory");
    int fd = open(in->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        char *index = malloc(strlen(in->path) + 12);
        close(fd);
        fd = -1;
        if (index != NULL) {
            sprintf(index, "%s/index.html", in->path);
            fd = open(index, O_RDONLY | O_CLOEXEC);
            free(index);
        }
    }
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        out->status = (fd < 0 && errno == EACCES) ? 403 : 404;
        if (fd >= 0)
            close(fd);
        return weft_ok(out, file_out_free);
    }
    out->size = (long long)st.st_size;
    out->mtime = st.st_mtime;
    if (in->ims >= 0 && st.st_mtime <= in->ims) {
        out->status = 304;
        close(fd);
        return weft_ok(out, file_out_free);
    }
    out->status = 200;
    out->from = 0;
    out->to = out->size - 1;
    if (in->range == 1 || in->range == 2) {
        long long from = in->from, to = in->to;
        if (in->range == 2) {
            from = to >= out->size ? 0 : out->size - to;
            to = out->size - 1;
        } else if (to < 0 || to >= out->size) {
            to = out->size - 1;
        }
        if (from >= out->size || from > to || (in->range == 2 && in->to == 0)) {
            out->status = 416;
            close(fd);
            return weft_ok(out, file_out_free);
        }
        out->status = 206;
        out->from = from;
        out->to = to;
    }
    long long len = out->to - out->from + 1;
    if (len < 0)
        len = 0;
    if ((unsigned long long)len > in->max_bytes) {
        out->status = 500;
        close(fd);
        return weft_ok(out, file_out_free);
    }
    out->len = (size_t)len;
    out->body = read_span(fd, out->from, out->len);
    close(fd);
    if (out->body == NULL)
        out->status = 500;
    return weft_ok(out, file_out_free);
}

static void http_date(time_t t, char *buf, size_t size)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static weft_result_t file_done(void *value, weft_free_fn free_fn, void *arg)
{
    (void)free_fn;
    file_in_t *in = arg;
    file_out_t *out = value;
    weft_request_t *req = in->req;
    if (!weft_request_is_gone(req)) {
        int rc = weft_request_set_response_code(req, out->status);
        char buf[96];
        if (out->status == 200 || out->status == 206 || out->status == 304) {
            http_date(out->mtime, buf, sizeof(buf));
            rc |= weft_request_set_header(req, "Last-Modified", buf);
            rc |= weft_request_set_header(req, "Accept-Ranges", "bytes");
            rc |= weft_request_set_header(req, "Content-Type", weft_web_content_type(in->path));
        }
        if (out->status == 206) {
            snprintf(buf, sizeof(buf), "bytes %lld-%lld/%lld", out->from, out->to, out->size);
            rc |= weft_request_set_header(req, "Content-Range", buf);
        } else if (out->status == 416) {
            snprintf(buf, sizeof(buf), "bytes */%lld", out->size);
            rc |= weft_request_set_header(req, "Content-Range", buf);
        }
        if (out->status == 200 || out->status == 206) {
            snprintf(buf, sizeof(buf), "%zu", out->len);
            rc |= weft_request_set_header(req, "Content-Length", buf);
            rc |= weft_request_write(req, out->body, out->len);
        }
        if (rc != 0)
            weft_log(WEFT_LOG_DEBUG, "http", "file answer for %s incomplete: %s",
                     weft_request_path(req), weft_strerror(rc));
    }
    weft_request_finish(req);
    file_out_free(out);
    return weft_ok(NULL, NULL); /* in is freed by weft (arg_free) once the job is done */
}

static weft_result_t file_failed(weft_failure_t *f, void *arg)
{
    file_in_t *in = arg;
    weft_request_t *req = in->req;
    if (!weft_request_is_gone(req)) {
        int rc = weft_request_set_response_code(req, 503);
        (void)rc;
    }
    weft_request_finish(req);
    weft_failure_free(f);
    return weft_ok(NULL, NULL);
}

/* Parses "bytes=a-b", "bytes=a-" or "bytes=-n" (one range; anything else is ignored). */
static void parse_range(const char *h, file_in_t *in)
{
    if (h == NULL || strncmp(h, "bytes=", 6) != 0 || strchr(h, ',') != NULL)
        return;
    const char *p = h + 6;
    char *end;
    if (*p == '-') {
        long long n = strtoll(p + 1, &end, 10);
        if (end != p + 1 && *end == '\0' && n >= 0) {
            in->range = 2;
            in->to = n;
        }
        return;
    }
    long long from = strtoll(p, &end, 10);
    if (end == p || *end != '-' || from < 0)
        return;
    p = end + 1;
    long long to = -1;
    if (*p != '\0') {
        to = strtoll(p, &end, 10);
        if (end == p || *end != '\0' || to < from)
            return;
    }
    in->range = 1;
    in->from = from;
    in->to = to;
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
    file_in_t *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return WEFT_ENOMEM;
    in->req = req;
    in->ims = -1;
    in->max_bytes = fc->max_bytes;
    in->path = malloc(strlen(fc->root) + strlen(rest) + 2);
    if (in->path == NULL) {
        free(in);
        return WEFT_ENOMEM;
    }
    sprintf(in->path, "%s%s%s", fc->root, rest[0] == '/' || rest[0] == '\0' ? "" : "/", rest);
    const char *ims = weft_request_header(req, "If-Modified-Since");
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (ims != NULL && strptime(ims, "%a, %d %b %Y %H:%M:%S GMT", &tm) != NULL)
        in->ims = timegm(&tm);
    parse_range(weft_request_header(req, "Range"), in);
    weft_offload_options_t o;
    weft_offload_options_init(&o);
    o.kind = WEFT_POOL_KIND_IO;
    o.name = "http-file";
    o.arg_free = file_in_free; /* weft frees in once the job can no longer touch it */
    int err = 0;
    weft_deferred_t *d = weft_defer_to_thread(weft_request_reactor(req), file_job, in, &o, &err);
    if (d == NULL) /* in was freed (arg_free is called on every error path) */
        return err;
    int rc = weft_deferred_add_callbacks(d, file_done, in, file_failed, in);
    weft_deferred_unref(d);
    if (rc != 0) /* cannot happen on a fresh deferred; answered as a failed render */
        return rc;
    return WEFT_NOT_DONE_YET;
}

static void file_ctx_free(void *p)
{
    file_ctx_t *fc = p;
    if (fc != NULL)
        free(fc->root);
    free(fc);
}

weft_resource_t *weft_file_resource_new(const char *root, size_t max_bytes, int *err)
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
    fc->max_bytes = max_bytes ? max_bytes : (size_t)64 << 20;
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
