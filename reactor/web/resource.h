/* SPDX-License-Identifier: MIT */
/* A tree of HTTP resources (Twisted's twisted.web.resource.Resource): children by path
 * segment, leaves, one render function per method. */
#ifndef WEFT_REACTOR_WEB_RESOURCE_H
#define WEFT_REACTOR_WEB_RESOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include <weft/compiler.h>
#include <weft/deferred.h>
#include <weft/request.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A site finds the resource of a request as Twisted's getChildForRequest does: from the root,
 * each segment of the path ("/a/b" gives "a", "b"; "/" gives "") names a child, until the
 * segments run out or a leaf is reached (a leaf renders the rest of the path itself:
 * weft_request_postpath). A segment without a static child asks the resource's get_child
 * (weft_resource_set_get_child), if any. A missing child answers 404. The resource found then
 * renders with the function set for the request's method; HEAD uses GET's (the body is dropped); a
 * method without a function answers 405 with an Allow header naming those it has.
 *
 * A resource owns its children (put_child takes the child) and its ctx (freed with free_ctx).
 * Thread: loop.
 */
typedef struct weft_resource_s weft_resource_t;

/* A render function: answers req (borrowed) for a resource whose ctx it gets. Returns 0 when
 * done (the request is finished if the function did not finish it), WEFT_NOT_DONE_YET to
 * finish it later, or a negative code: a 500 answer unless the headers were sent. */
typedef int (*weft_render_fn)(weft_request_t *req, void *ctx);

/* Makes a resource with no render function and no child. Takes ctx: free_ctx (may be NULL)
 * releases it with the resource. Returns an owned resource (released with weft_resource_free,
 * or by its parent or site), or NULL with *err (err may be NULL): WEFT_ENOMEM (ctx is freed). */
WEFT_EXPORT WEFT_NODISCARD weft_resource_t *weft_resource_new(void *ctx, weft_free_fn free_ctx,
                                                              int *err);

/*
 * Sets the render function of method ("GET", "POST" ...; copied; case matters, as in HTTP).
 * Returns: 0; WEFT_EINVAL for a NULL res, method or fn, or a method over 15 bytes; WEFT_ENOSPC
 * past 8 methods.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_resource_set_render(weft_resource_t *res, const char *method,
                                                        weft_render_fn fn);

/* Makes res a leaf (Twisted's isLeaf): the path after it is not looked up as children. */
WEFT_EXPORT void weft_resource_set_leaf(weft_resource_t *res, bool leaf);

/*
 * Adds child under the path segment name (copied; "" is the child for a trailing slash),
 * replacing (and freeing) an earlier child of that name (Twisted's putChild). Takes child on
 * every path. Returns: 0; WEFT_EINVAL for a NULL argument, a name holding '/', or a child that
 * already has a parent or is held by a request (from a get_child): such a child is not taken;
 * WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_resource_put_child(weft_resource_t *res, const char *name,
                                                       weft_resource_t *child);

/*
 * A dynamic child function (Twisted's getChild): called on the loop for a path segment that
 * names no static child of res (static children win, as in getChildWithDefault), with the
 * segment (decoded, borrowed for the call; "" for a trailing slash, "/a/" asking a for ""),
 * the request (borrowed) and res's ctx. It is not called on a leaf (a leaf renders the rest of
 * the path itself), and the walk goes on from the resource it returns, which may have static
 * children, a get_child and be a leaf in turn. Returns NULL for a 404, or a resource:
 *   - one with a parent (put_child'ed anywhere, or the site's root) is borrowed: its tree
 *     outlives the request;
 *   - one without (fresh from weft_resource_new, say) is taken by the request, which frees it
 *     with weft_resource_free once the request is released, after its render finished, also
 *     when the render answered later or the client left. Returning one resource to two
 *     requests at once is refused (logged; the request gets 500): keep shared resources in a
 *     tree instead.
 */
typedef weft_resource_t *(*weft_get_child_fn)(weft_resource_t *res, const char *name,
                                              weft_request_t *req, void *ctx);

/* Sets (or with NULL, clears) res's dynamic child function. Does nothing for a NULL res. */
WEFT_EXPORT void weft_resource_set_get_child(weft_resource_t *res, weft_get_child_fn fn);

/* The child called name, borrowed, or NULL (Twisted's getStaticEntity: static children
 * only; get_child is not called). */
WEFT_EXPORT weft_resource_t *weft_resource_get_child(const weft_resource_t *res, const char *name);

/* The ctx given to weft_resource_new (borrowed). */
WEFT_EXPORT void *weft_resource_ctx(const weft_resource_t *res);

/* Releases res, its children and their ctx. Only for a resource no parent or site holds.
 * weft_resource_free(NULL) does nothing. */
WEFT_EXPORT void weft_resource_free(weft_resource_t *res);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REACTOR_WEB_RESOURCE_H */
