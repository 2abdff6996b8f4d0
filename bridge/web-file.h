/* SPDX-License-Identifier: MIT */
/* Static files over HTTP (Twisted's twisted.web.static.File), read on the I/O pool. */
#ifndef WEFT_BRIDGE_WEB_FILE_H
#define WEFT_BRIDGE_WEB_FILE_H

#include <stddef.h>

#include <weft/compiler.h>
#include <weft/resource.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A leaf resource serving the files under a directory: GET and HEAD of <root><postpath>, with
 * Content-Type from the name's extension, Last-Modified, If-Modified-Since (304), a single
 * byte Range (206, or 416 when it cannot be satisfied; several ranges get the whole file),
 * and index.html for a directory. Paths holding a ".." segment answer 404, as do missing
 * files and anything but regular files. It lives in bridge/ because every open, stat and read
 * runs on the reactor's default I/O pool (weft_defer_to_thread), never on the loop; the answer
 * is written from the deferred's callback, and dropped if the client left meanwhile.
 * Files larger than max_bytes (0: 64 MiB) answer 500 rather than being read into memory.
 *
 * Thread: loop.
 */

/* Makes the resource (root copied). Returns an owned resource (see weft_resource_new), or NULL
 * with *err (err may be NULL): WEFT_EINVAL for a NULL or empty root; WEFT_ENOMEM. */
WEFT_EXPORT WEFT_NODISCARD weft_resource_t *weft_file_resource_new(const char *root,
                                                                   size_t max_bytes, int *err);

/* The Content-Type weft sends for a file name ("text/html", "image/png" ...;
 * "application/octet-stream" when the extension is unknown). Thread: any. */
WEFT_EXPORT const char *weft_web_content_type(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_BRIDGE_WEB_FILE_H */
