/* SPDX-License-Identifier: MIT */
/* weft's error codes, weft_strerror and weft_err_name, generated from one list. */
#ifndef WEFT_COMMON_ERROR_H
#define WEFT_COMMON_ERROR_H

#include <errno.h>

#include <weft/compiler.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Every weft function that can fail returns 0 or one of these negative codes. Where an errno
 * value fits, the code is that errno negated (WEFT_EINVAL == -EINVAL), as libuv does, so a
 * code that came from the system or from libuv keeps its meaning. Codes with no errno
 * equivalent live in weft's own range, -4001 to -4099, clear of errno values and of libuv's
 * private codes (UV_EOF is -4095; UV_EAI_* sit near -3000).
 *
 * XX(name, value, message): one line per code. The enum, weft_strerror and weft_err_name are
 * all generated from this list, so a name and its message cannot drift apart.
 */
#define WEFT__OWN_BASE (-4000)

#define WEFT_ERRNO_MAP(XX)                                                                         \
    XX(EPERM, -EPERM, "operation not permitted")                                                   \
    XX(ENOENT, -ENOENT, "no such file or directory")                                               \
    XX(EIO, -EIO, "input/output error")                                                            \
    XX(E2BIG, -E2BIG, "argument list too long")                                                    \
    XX(EBADF, -EBADF, "bad file descriptor")                                                       \
    XX(EAGAIN, -EAGAIN, "resource temporarily unavailable")                                        \
    XX(ENOMEM, -ENOMEM, "out of memory")                                                           \
    XX(EACCES, -EACCES, "permission denied")                                                       \
    XX(EBUSY, -EBUSY, "resource busy: still running or still holding open objects")                \
    XX(EEXIST, -EEXIST, "already exists")                                                          \
    XX(EINVAL, -EINVAL, "invalid argument")                                                        \
    XX(ENFILE, -ENFILE, "file table overflow")                                                     \
    XX(EMFILE, -EMFILE, "too many open files")                                                     \
    XX(ENOSPC, -ENOSPC, "no space left on device")                                                 \
    XX(EPIPE, -EPIPE, "broken pipe")                                                               \
    XX(ERANGE, -ERANGE, "result out of range")                                                     \
    XX(ENOSYS, -ENOSYS, "function not implemented")                                                \
    XX(ENOTSUP, -ENOTSUP, "operation not supported")                                               \
    XX(EPROTO, -EPROTO, "protocol error: the peer sent malformed data")                            \
    XX(EMSGSIZE, -EMSGSIZE, "message too long: over the configured maximum")                       \
    XX(EADDRINUSE, -EADDRINUSE, "address already in use")                                          \
    XX(EADDRNOTAVAIL, -EADDRNOTAVAIL, "address not available")                                     \
    XX(ENETUNREACH, -ENETUNREACH, "network is unreachable")                                        \
    XX(ECONNABORTED, -ECONNABORTED, "connection aborted")                                          \
    XX(ECONNRESET, -ECONNRESET, "connection reset by peer")                                        \
    XX(ENOTCONN, -ENOTCONN, "socket is not connected")                                             \
    XX(ETIMEDOUT, -ETIMEDOUT, "timed out")                                                         \
    XX(ECONNREFUSED, -ECONNREFUSED, "connection refused")                                          \
    XX(EHOSTUNREACH, -EHOSTUNREACH, "host is unreachable")                                         \
    XX(EALREADY, -EALREADY, "already done: fired, started or called before")                       \
    XX(ECANCELED, -ECANCELED, "operation canceled")                                                \
    XX(EOVERLOAD, WEFT__OWN_BASE - 1, "overloaded: the queue is at its limit")                     \
    XX(ECLOSED, WEFT__OWN_BASE - 2, "closed or shutting down: no new work is taken")               \
    XX(EWRONGTHREAD, WEFT__OWN_BASE - 3, "called from a thread this function forbids")             \
    XX(EEOF, WEFT__OWN_BASE - 4, "end of stream")                                                  \
    XX(ESYNTAX, WEFT__OWN_BASE - 5, "syntax error in configuration or input")                      \
    XX(ENOTRUNNING, WEFT__OWN_BASE - 6, "not running")                                             \
    XX(EPLUGIN, WEFT__OWN_BASE - 7, "not a weft plugin: cannot be loaded or has no descriptor")    \
    XX(EVERSION, WEFT__OWN_BASE - 8, "built for another version of weft's plugin ABI")

/* The codes: WEFT_EINVAL, WEFT_EOVERLOAD ... WEFT_OK is 0. */
typedef enum {
    WEFT_OK = 0,
#define WEFT__ERR_ENUM(name, value, msg) WEFT_##name = (value),
    WEFT_ERRNO_MAP(WEFT__ERR_ENUM)
#undef WEFT__ERR_ENUM
} weft_errno_t;

/*
 * A sentence describing code: "out of memory" for WEFT_ENOMEM, "success" for 0. An unknown
 * code gives "unknown error N". Never NULL; the string is static, except for unknown codes,
 * where it lives in a per-thread buffer valid until the thread's next call.
 * Thread: any.
 */
WEFT_EXPORT const char *weft_strerror(int code);

/*
 * The C name of code: "WEFT_ENOMEM", "WEFT_OK" for 0; "unknown error N" for an unknown code.
 * Never NULL; storage as for weft_strerror. Thread: any.
 */
WEFT_EXPORT const char *weft_err_name(int code);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_COMMON_ERROR_H */
