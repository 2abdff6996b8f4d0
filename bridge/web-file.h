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
 * Content-Type from the name's extension, Last-Modified, If-Modified-Since (304), byte ranges
 * as Twisted's static.File answers them, and index.html for a directory. Paths holding a ".."
 * segment answer 404, as do missing files and anything but regular files (403 when the file
 * cannot be opened for lack of permission).
 *
 * Ranges: one range answers 206 with Content-Range; several answer 206 multipart/byteranges
 * (boundary quoted in the Content-Type), one part per range that meets the file, in the order
 * asked, overlaps kept, each part with its own Content-type and Content-range lines. When no
 * range meets the file: 416 with the Content-Range Twisted sends ("bytes *" "/" size) and no body.
 * A malformed Range header (another unit, a range without '-', start > end, a non-number) is
 * ignored: 200 with the whole file. HEAD ignores Range. Two divergences from Twisted 22.4, where it
 * answers 500: a suffix longer than the file ("bytes=-20" of 16 bytes) is the whole file, and a set
 * of ranges of which none meets the file (also "bytes=") is a 416.
 *
 * The body streams: it lives in bridge/ because every open, stat and read runs on the
 * reactor's default I/O pool (weft_defer_to_thread), never on the loop. The body is read
 * chunk_bytes at a time (0: 64 KiB), and the next read starts only once the connection's
 * transport is below its high-water mark (weft_request_register_producer), so a response holds
 * one chunk plus the transport's high-water mark of memory whatever the file's size. A client
 * that leaves stops the reads; the answer is dropped and everything freed. A file that shrinks
 * while it is sent ends the body short and closes the connection.
 *
 * Thread: loop.
 */

/* Makes the resource (root copied). Returns an owned resource (see weft_resource_new), or NULL
 * with *err (err may be NULL): WEFT_EINVAL for a NULL or empty root; WEFT_ENOMEM. */
WEFT_EXPORT WEFT_NODISCARD weft_resource_t *weft_file_resource_new(const char *root,
                                                                   size_t chunk_bytes, int *err);

/* The Content-Type weft sends for a file name ("text/html", "image/png" ...;
 * "application/octet-stream" when the extension is unknown). Thread: any. */
WEFT_EXPORT const char *weft_web_content_type(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_BRIDGE_WEB_FILE_H */
