/* SPDX-License-Identifier: MIT */
/* The resource tree: children by path segment, leaves, render functions by method. */
#include <stdlib.h>
#include <string.h>

#include <weft/error.h>
#include <weft/log.h>

#include "web-internal.h"

weft_resource_t *weft_resource_new(void *ctx, weft_free_fn free_ctx, int *err)
{
    weft_resource_t *res = calloc(1, sizeof(*res));
    if (res == NULL) {
        if (free_ctx != NULL)
            free_ctx(ctx);
        if (err != NULL)
            *err = WEFT_ENOMEM;
        return NULL;
    }
    res->ctx = ctx;
    res->free_ctx = free_ctx;
    return res;
}

int weft_resource_set_render(weft_resource_t *res, const char *method, weft_render_fn fn)
{
    if (res == NULL || method == NULL || fn == NULL || method[0] == '\0' ||
        strlen(method) >= sizeof(res->renders[0].method))
        return WEFT_EINVAL;
    for (size_t i = 0; i < res->nrenders; i++) {
        if (strcmp(res->renders[i].method, method) == 0) {
            res->renders[i].fn = fn;
            return 0;
        }
    }
    if (res->nrenders == WEB_MAX_METHODS)
        return WEFT_ENOSPC;
    strcpy(res->renders[res->nrenders].method, method);
    res->renders[res->nrenders++].fn = fn;
    return 0;
}

void weft_resource_set_leaf(weft_resource_t *res, bool leaf)
{
    if (res != NULL)
        res->leaf = leaf;
}

int weft_resource_put_child(weft_resource_t *res, const char *name, weft_resource_t *child)
{
    if (child == NULL)
        return WEFT_EINVAL;
    if (res == NULL || name == NULL || strchr(name, '/') != NULL || child->has_parent ||
        child == res || child->request_owned) {
        if (!child->has_parent && child != res && !child->request_owned)
            weft_resource_free(child);
        return WEFT_EINVAL;
    }
    for (web_child_t *c = res->children; c != NULL; c = c->next) {
        if (strcmp(c->name, name) == 0) {
            c->res->has_parent = false;
            weft_resource_free(c->res);
            c->res = child;
            child->has_parent = true;
            return 0;
        }
    }
    web_child_t *c = malloc(sizeof(*c));
    char *copy = strdup(name);
    if (c == NULL || copy == NULL) {
        free(c);
        free(copy);
        weft_resource_free(child);
        return WEFT_ENOMEM;
    }
    c->name = copy;
    c->res = child;
    c->next = res->children;
    res->children = c;
    child->has_parent = true;
    return 0;
}

weft_resource_t *weft_resource_get_child(const weft_resource_t *res, const char *name)
{
    if (res == NULL || name == NULL)
        return NULL;
    for (web_child_t *c = res->children; c != NULL; c = c->next) {
        if (strcmp(c->name, name) == 0)
            return c->res;
    }
    return NULL;
}

void weft_resource_set_get_child(weft_resource_t *res, weft_get_child_fn fn)
{
    if (res != NULL)
        res->get_child = fn;
}

void *weft_resource_ctx(const weft_resource_t *res)
{
    return res != NULL ? res->ctx : NULL;
}

void weft_resource_free(weft_resource_t *res)
{
    if (res == NULL)
        return;
    web_child_t *c = res->children;
    while (c != NULL) {
        web_child_t *next = c->next;
        weft_resource_free(c->res);
        free(c->name);
        free(c);
        c = next;
    }
    if (res->free_ctx != NULL)
        res->free_ctx(res->ctx);
    free(res);
}

weft_render_fn web_resource_render_for(const weft_resource_t *res, const char *method)
{
    for (size_t i = 0; i < res->nrenders; i++) {
        if (strcmp(res->renders[i].method, method) == 0)
            return res->renders[i].fn;
    }
    if (strcmp(method, "HEAD") == 0)
        return web_resource_render_for(res, "GET");
    return NULL;
}

/* The Allow header's value: the methods res renders, with HEAD when it renders GET. */
size_t web_resource_allow(const weft_resource_t *res, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    bool get = false, head = false;
    for (size_t i = 0; i < res->nrenders; i++) {
        get |= strcmp(res->renders[i].method, "GET") == 0;
        head |= strcmp(res->renders[i].method, "HEAD") == 0;
    }
    for (size_t i = 0; i <= res->nrenders; i++) {
        const char *m = i < res->nrenders ? res->renders[i].method : "HEAD";
        if (i == res->nrenders && (!get || head))
            break;
        size_t len = strlen(m);
        if (n + len + 3 > size)
            break;
        if (n > 0) {
            memcpy(buf + n, ", ", 2);
            n += 2;
        }
        memcpy(buf + n, m, len + 1);
        n += len;
    }
    return n;
}

/* The child of res for the segment [name, name + len) (Twisted's getChildWithDefault): the
 * static one, else what res's get_child returns (a parentless one is handed to req). NULL with
 * *err 0 is a 404; with *err set, a failure. */
static weft_resource_t *child_of(weft_resource_t *res, const char *name, size_t len,
                                 weft_request_t *req, int *err)
{
    for (web_child_t *c = res->children; c != NULL; c = c->next) {
        if (strlen(c->name) == len && memcmp(c->name, name, len) == 0)
            return c->res;
    }
    if (res->get_child == NULL)
        return NULL;
    char stack[256];
    char *seg = len < sizeof(stack) ? stack : malloc(len + 1);
    weft_resource_t **owned = realloc(req->owned, (req->nowned + 1) * sizeof(*owned));
    if (owned != NULL)
        req->owned = owned;
    if (seg == NULL || owned == NULL) {
        if (seg != stack)
            free(seg);
        *err = WEFT_ENOMEM;
        return NULL;
    }
    memcpy(seg, name, len);
    seg[len] = '\0';
    weft_resource_t *child = res->get_child(res, seg, req, res->ctx);
    if (seg != stack)
        free(seg);
    if (child == NULL || child->has_parent)
        return child;
    if (child->request_owned) {
        /* This request's already (a catch-all returning itself, Twisted's `return self`). */
        for (size_t i = 0; i < req->nowned; i++)
            if (req->owned[i] == child)
                return child;
        weft_log(WEFT_LOG_ERROR, "http",
                 "get_child returned a resource another request holds (for %s)",
                 weft_request_path(req));
        *err = WEFT_EBUSY;
        return NULL;
    }
    child->request_owned = true;
    req->owned[req->nowned++] = child;
    return child;
}

/* Frees the resources a request took from get_child functions. */
void web_resource_free_owned(weft_request_t *req)
{
    for (size_t i = req->nowned; i > 0; i--) {
        req->owned[i - 1]->request_owned = false;
        weft_resource_free(req->owned[i - 1]);
    }
    free(req->owned);
    req->owned = NULL;
    req->nowned = 0;
}

/* Walks from root along path's segments (Twisted's getChildForRequest). Returns the resource
 * and sets *postpath to the rest of path after it; NULL for a missing child (*err 0) or a
 * failure (*err set). */
weft_resource_t *web_resource_locate(weft_resource_t *root, const char *path, const char **postpath,
                                     weft_request_t *req, int *err)
{
    weft_resource_t *res = root;
    const char *p = path;
    *err = 0;
    if (*p == '/')
        p++;
    else if (*p == '\0') {
        *postpath = p;
        return res->leaf ? res : child_of(res, "", 0, req, err);
    }
    for (;;) {
        if (res->leaf) {
            *postpath = p > path ? p - 1 : p;
            return res;
        }
        const char *slash = strchr(p, '/');
        size_t len = slash != NULL ? (size_t)(slash - p) : strlen(p);
        weft_resource_t *child = child_of(res, p, len, req, err);
        if (child == NULL)
            return NULL;
        res = child;
        if (slash == NULL) {
            *postpath = p + len;
            return res;
        }
        p = slash + 1;
    }
}
