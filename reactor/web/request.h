/* SPDX-License-Identifier: MIT */
/* An HTTP request being served (Twisted's twisted.web.server.Request): what arrived, and the
 * response written back. */
#ifndef WEFT_REACTOR_WEB_REQUEST_H
#define WEFT_REACTOR_WEB_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/compiler.h>
#include <weft/deferred.h>
#include <weft/reactor.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A request is made by the site for each request parsed on a connection and handed to the
 * render function of the resource its path leads to. Every string it returns is borrowed: valid
 * until the request is released. A render either answers at once (returns 0: the request is
 * finished for it if it did not call weft_request_finish) or returns WEFT_NOT_DONE_YET and
 * finishes it later, for example from a deferred's callback.
 *
 * A request answered later must be finished exactly once with weft_request_finish, also after
 * its client went away: that call is what releases it. Once the client is gone the request
 * stays valid, weft_request_is_gone turns true, the deferreds of weft_request_notify_finish
 * fail with weft.ConnectionLost, and writes return WEFT_ECLOSED: a late result is dropped
 * safely and the finish only frees the request.
 *
 * Thread: loop, for every function here.
 */
typedef struct weft_request_s weft_request_t;

/* What a render returns to say it will finish the request later (Twisted's NOT_DONE_YET). */
#define WEFT_NOT_DONE_YET 1

/* The method ("GET", "POST" ...), the raw request target ("/a/b?x=1"), the decoded path
 * without the query ("/a/b"), and the part of the path left after the resource that renders
 * (Twisted's postpath, joined: "" when the resource's own path was the whole path; for a leaf
 * at /static, "/css/x.css" for /static/css/x.css). */
WEFT_EXPORT const char *weft_request_method(const weft_request_t *req);
WEFT_EXPORT const char *weft_request_uri(const weft_request_t *req);
WEFT_EXPORT const char *weft_request_path(const weft_request_t *req);
WEFT_EXPORT const char *weft_request_postpath(const weft_request_t *req);

/* The HTTP version's minor number: 1 for HTTP/1.1, 0 for HTTP/1.0. */
WEFT_EXPORT int weft_request_http_minor(const weft_request_t *req);

/* The first query argument called name, %-decoded and with '+' as space (Twisted's
 * request.args[name][0]), or NULL. */
WEFT_EXPORT const char *weft_request_arg(const weft_request_t *req, const char *name);

/* The number of query arguments, and the i-th one's decoded name and value (false past the
 * end). */
WEFT_EXPORT size_t weft_request_arg_count(const weft_request_t *req);
WEFT_EXPORT bool weft_request_arg_at(const weft_request_t *req, size_t i, const char **name,
                                     const char **value);

/* The first request header called name (compared without case), or NULL. */
WEFT_EXPORT const char *weft_request_header(const weft_request_t *req, const char *name);

/* The number of request headers, and the i-th one as received (false past the end). */
WEFT_EXPORT size_t weft_request_header_count(const weft_request_t *req);
WEFT_EXPORT bool weft_request_header_at(const weft_request_t *req, size_t i, const char **name,
                                        const char **value);

/* The request body (de-chunked), *len its length (len may be NULL). Never NULL: "" when empty. */
WEFT_EXPORT const char *weft_request_body(const weft_request_t *req, size_t *len);

/* The client's address as text, "127.0.0.1:5000" (Twisted's getClientAddress). */
WEFT_EXPORT const char *weft_request_client(const weft_request_t *req);

/* The site serving the request (borrowed). */
WEFT_EXPORT struct weft_site_s *weft_request_site(const weft_request_t *req);

/* The reactor the request is served on. */
WEFT_EXPORT weft_reactor_t *weft_request_reactor(const weft_request_t *req);

/*
 * Sets the response's status code (default 200; Twisted's setResponseCode). Returns: 0;
 * WEFT_EINVAL for a code outside 100..999; WEFT_EALREADY once the headers were sent.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_request_set_response_code(weft_request_t *req, int code);

/* The status code set so far. */
WEFT_EXPORT int weft_request_response_code(const weft_request_t *req);

/*
 * Sets a response header (name and value copied), replacing an earlier one of the same name
 * (Twisted's setHeader). Setting Content-Length makes the response use it instead of chunking;
 * Date, Server and Connection are written by weft. Returns: 0; WEFT_EINVAL for a NULL or empty
 * name, or a name or value holding CR, LF or NUL; WEFT_EALREADY once the headers were sent;
 * WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_request_set_header(weft_request_t *req, const char *name,
                                                       const char *value);

/*
 * Writes len bytes of the response body (copied). Small responses are buffered until finish
 * and go out in one piece with a Content-Length; past the site's response buffer the headers
 * go out and the body is sent chunked (HTTP/1.1) or until the close (HTTP/1.0). A HEAD request
 * drops the bytes. Returns: 0; WEFT_ECLOSED once the client is gone (the bytes are dropped);
 * WEFT_EALREADY after finish; WEFT_EINVAL for NULL data with len > 0; WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_request_write(weft_request_t *req, const void *data,
                                                  size_t len);

/*
 * Ends the response (Twisted's finish): sends what is buffered, logs the access line, fires
 * the notify_finish deferreds, then lets the connection serve its next request. For a request
 * whose render returned WEFT_NOT_DONE_YET this also releases req: do not touch it afterwards.
 * Returns: 0 (also when the client is gone: the request is only released); WEFT_EALREADY if
 * called twice from inside the render (logged).
 */
WEFT_EXPORT int weft_request_finish(weft_request_t *req);

/* True once the client went away before the response was finished. */
WEFT_EXPORT bool weft_request_is_gone(const weft_request_t *req);

/*
 * Twisted's notifyFinish: returns an owned deferred that fires with NULL once the response is
 * finished and sent to the transport, or fails with weft.ConnectionLost when the client goes
 * away first. Returns NULL with *err (err may be NULL): WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD weft_deferred_t *weft_request_notify_finish(weft_request_t *req,
                                                                       int *err);

/* A pull producer's callbacks (Twisted's IPullProducer): produce (resumeProducing) is asked for
 * more of the body and answers with weft_request_write, at once or later (after a pool job,
 * say); stop (stopProducing) tells it the client went away. Both run on the loop with the
 * request (borrowed) and the arg given at registration. */
typedef void (*weft_request_produce_cb)(weft_request_t *req, void *arg);
typedef void (*weft_request_stop_cb)(weft_request_t *req, void *arg);

/*
 * Registers a pull producer for the body (Twisted's registerProducer(producer, False)), so a
 * long body is written a piece at a time with bounded memory. produce runs on a later loop turn
 * after this call, then once after each weft_request_write made since it last ran, but only
 * while the connection's transport holds no more than its high-water mark of unsent bytes:
 * past it, produce waits until the transport has drained to its low-water mark (the site's
 * counter producer_waits counts those waits). produce never runs from inside a weft_request_*
 * call, so it may write, finish the request, or do neither and write later.
 * If the client goes away while a producer is registered, stop runs once (from the
 * connection's loss) and the producer is unregistered; the request must still be finished
 * with weft_request_finish, which may be called from stop. weft_request_finish and
 * weft_request_unregister_producer end the registration: neither callback runs after them.
 * arg is borrowed until then. Returns: 0; WEFT_EINVAL for a NULL produce; WEFT_EALREADY when a
 * producer is registered or the request is finished; WEFT_ECLOSED once the client is gone;
 * WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_request_register_producer(weft_request_t *req,
                                                              weft_request_produce_cb produce,
                                                              weft_request_stop_cb stop, void *arg);

/* Unregisters the producer (Twisted's unregisterProducer): neither of its callbacks runs
 * afterwards. Does nothing when none is registered. */
WEFT_EXPORT void weft_request_unregister_producer(weft_request_t *req);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REACTOR_WEB_REQUEST_H */
