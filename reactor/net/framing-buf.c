/* SPDX-License-Identifier: MIT */
/* The framing receivers' input buffer (design note in framing-internal.h). */
#include <stdint.h>
#include <string.h>

#include <weft/error.h>

#include "../../common/alloc-internal.h"
#include "framing-internal.h"

/* An emptied buffer bigger than this is given back at the end of a feed, so one big frame does
 * not pin its memory on an idle connection. */
#define FBUF_KEEP (64 * 1024)
#define FBUF_MIN  256

static struct weft__fblk *blk_of(char *mem)
{
    return (struct weft__fblk *)(void *)(mem - sizeof(struct weft__fblk));
}

static char *mem_of(struct weft__fblk *b)
{
    return (char *)b + sizeof(struct weft__fblk);
}

static bool inside_mem(const weft__fbuf_t *fb, const char *p, size_t n)
{
    if (fb->mem == NULL || n == 0)
        return false;
    uintptr_t a = (uintptr_t)p, lo = (uintptr_t)fb->mem, hi = lo + fb->cap;
    return a < hi && a + n > lo;
}

static size_t grown_cap(size_t cap, size_t need)
{
    size_t c = cap < FBUF_MIN ? FBUF_MIN : cap;
    while (c < need) {
        if (c > ((size_t)-1 - sizeof(struct weft__fblk)) / 2)
            return need;
        c *= 2;
    }
    return c;
}

void weft__fbuf_init(weft__fbuf_t *fb)
{
    memset(fb, 0, sizeof(*fb));
}

static void free_retired(weft__fbuf_t *fb)
{
    while (fb->retired != NULL) {
        struct weft__fblk *b = fb->retired;
        fb->retired = b->next;
        weft__free(b);
    }
}

void weft__fbuf_release(weft__fbuf_t *fb)
{
    if (fb->mem != NULL)
        weft__free(blk_of(fb->mem));
    free_retired(fb);
    memset(fb, 0, sizeof(*fb));
}

/* Moves mem to the retired list; U must not be left in it unless the caller re-points in. */
static void retire(weft__fbuf_t *fb)
{
    if (fb->mem == NULL)
        return;
    struct weft__fblk *b = blk_of(fb->mem);
    b->next = fb->retired;
    fb->retired = b;
    fb->mem = NULL;
    fb->cap = 0;
}

/* Resizes mem in place (realloc) to hold at least need bytes. Only when not frozen. */
static int grow(weft__fbuf_t *fb, size_t need)
{
    WEFT_ASSERT(!fb->frozen);
    size_t cap = grown_cap(fb->cap, need);
    if (cap > (size_t)-1 - sizeof(struct weft__fblk))
        return WEFT_ENOMEM;
    struct weft__fblk *old = fb->mem != NULL ? blk_of(fb->mem) : NULL;
    struct weft__fblk *b = weft__realloc(old, sizeof(struct weft__fblk) + cap);
    if (b == NULL)
        return WEFT_ENOMEM;
    bool in_mem = fb->mem != NULL && fb->in == fb->mem;
    fb->mem = mem_of(b);
    fb->cap = cap;
    if (in_mem)
        fb->in = fb->mem;
    return 0;
}

/* Gathers U ++ L ++ data into a fresh block and retires the old mem: used when mem is frozen
 * or data lies inside it. Nothing changes on failure. */
static int gather_fresh(weft__fbuf_t *fb, const char *data, size_t n)
{
    size_t u = fb->end - fb->pos, total = u + fb->latlen;
    if (n > (size_t)-1 / 2 - total)
        return WEFT_ENOMEM;
    total += n;
    size_t cap = grown_cap(0, total);
    struct weft__fblk *b = weft__malloc(sizeof(struct weft__fblk) + cap);
    if (b == NULL)
        return WEFT_ENOMEM;
    char *m = mem_of(b);
    if (u > 0)
        memcpy(m, fb->in + fb->pos, u);
    if (fb->latlen > 0)
        memcpy(m + u, fb->lat, fb->latlen);
    if (n > 0)
        memcpy(m + u + fb->latlen, data, n);
    retire(fb);
    fb->mem = m;
    fb->cap = cap;
    fb->in = m;
    fb->pos = 0;
    fb->end = total;
    fb->lat = NULL;
    fb->latlen = 0;
    fb->frozen = false;
    return 0;
}

int weft__fbuf_begin(weft__fbuf_t *fb, const char *data, size_t len)
{
    /* Lends from before this call have expired. */
    fb->frozen = false;
    if (inside_mem(fb, data, len)) {
        if (fb->pos == fb->end) {
            /* Bytes a clear lent, fed back: keep them where they are until finish. */
            retire(fb);
            fb->in = NULL;
            fb->pos = fb->end = 0;
        } else {
            fb->frozen = true;
            return gather_fresh(fb, data, len);
        }
    }
    if (fb->pos == fb->end && fb->in == fb->mem)
        fb->pos = fb->end = 0;
    fb->lat = data;
    fb->latlen = len;
    return 0;
}

int weft__fbuf_pull(weft__fbuf_t *fb, size_t k)
{
    WEFT_ASSERT(k <= fb->latlen);
    if (k == 0)
        return 0;
    if (fb->in != fb->mem || fb->mem == NULL) {
        if (fb->pos == fb->end) {
            fb->in = fb->lat;
            fb->pos = 0;
            fb->end = 0;
        }
        /* Chunk mode: U and L are adjacent, pulling is moving the boundary. */
        WEFT_ASSERT(fb->lat == fb->in + fb->end);
        fb->end += k;
        fb->lat += k;
        fb->latlen -= k;
        return 0;
    }
    if (fb->pos == fb->end) {
        fb->in = fb->lat;
        fb->pos = 0;
        fb->end = k;
        fb->lat += k;
        fb->latlen -= k;
        return 0;
    }
    WEFT_ASSERT(!fb->frozen);
    size_t u = fb->end - fb->pos;
    if (fb->end + k > fb->cap) {
        if (fb->pos > 0) {
            memmove(fb->mem, fb->mem + fb->pos, u);
            fb->pos = 0;
            fb->end = u;
        }
        if (fb->end + k > fb->cap) {
            int rc = grow(fb, fb->end + k);
            if (rc != 0)
                return rc;
        }
    }
    memcpy(fb->mem + fb->end, fb->lat, k);
    fb->end += k;
    fb->lat += k;
    fb->latlen -= k;
    return 0;
}

int weft__fbuf_need(weft__fbuf_t *fb, size_t want)
{
    for (;;) {
        size_t u = fb->end - fb->pos;
        if (u >= want)
            return 1;
        if (fb->latlen == 0)
            return 0;
        size_t k = fb->latlen;
        if (!weft__fbuf_pull_is_free(fb) && want - u < k)
            k = want - u;
        int rc = weft__fbuf_pull(fb, k);
        if (rc != 0)
            return rc;
    }
}

int weft__fbuf_flatten(weft__fbuf_t *fb)
{
    if (fb->latlen == 0)
        return 0;
    if (weft__fbuf_pull_is_free(fb) || !fb->frozen)
        return weft__fbuf_pull(fb, fb->latlen);
    return gather_fresh(fb, NULL, 0);
}

int weft__fbuf_append(weft__fbuf_t *fb, const char *data, size_t n)
{
    if (n == 0)
        return 0;
    bool in_mem = fb->mem != NULL && fb->in == fb->mem;
    if (in_mem && fb->latlen == 0 && n <= fb->cap - fb->end && !inside_mem(fb, data, n)) {
        /* Fits after U: nothing live moves, so this is fine while frozen too. */
        memcpy(fb->mem + fb->end, data, n);
        fb->end += n;
        return 0;
    }
    if (fb->frozen || inside_mem(fb, data, n))
        return gather_fresh(fb, data, n);
    size_t u = fb->end - fb->pos, total = u + fb->latlen;
    if (n > (size_t)-1 / 2 - total)
        return WEFT_ENOMEM;
    total += n;
    if (in_mem) {
        if (fb->pos > 0) {
            memmove(fb->mem, fb->mem + fb->pos, u);
            fb->pos = 0;
            fb->end = u;
        }
        if (total > fb->cap) {
            int rc = grow(fb, total);
            if (rc != 0)
                return rc;
        }
        if (fb->latlen > 0)
            memcpy(fb->mem + u, fb->lat, fb->latlen);
    } else {
        /* Chunk mode: U ++ L is one run of the caller's chunk; mem holds nothing live. */
        if (total > fb->cap) {
            int rc = grow(fb, total);
            if (rc != 0)
                return rc;
        }
        if (u + fb->latlen > 0)
            memcpy(fb->mem, fb->in + fb->pos, u + fb->latlen);
    }
    memcpy(fb->mem + u + fb->latlen, data, n);
    fb->in = fb->mem;
    fb->pos = 0;
    fb->end = total;
    fb->lat = NULL;
    fb->latlen = 0;
    return 0;
}

int weft__fbuf_finish(weft__fbuf_t *fb)
{
    int rc = 0;
    fb->frozen = false;
    size_t u = fb->end - fb->pos;
    bool in_mem = fb->mem != NULL && fb->in == fb->mem;
    if (in_mem && u > 0) {
        if (fb->latlen > 0)
            rc = weft__fbuf_pull(fb, fb->latlen);
    } else if (u + fb->latlen > 0) {
        /* U is empty or lives in the chunk; either way U ++ L is one run of the chunk. */
        const char *src = u > 0 ? fb->in + fb->pos : fb->lat;
        size_t total = u + fb->latlen;
        if (total > fb->cap)
            rc = grow(fb, total);
        if (rc == 0) {
            memcpy(fb->mem, src, total);
            fb->end = total;
        } else {
            fb->end = 0;
        }
        fb->in = fb->mem;
        fb->pos = 0;
    } else {
        fb->in = fb->mem;
        fb->pos = fb->end = 0;
    }
    fb->lat = NULL;
    fb->latlen = 0;
    free_retired(fb);
    if (fb->pos == fb->end) {
        fb->pos = fb->end = 0;
        if (fb->cap > FBUF_KEEP) {
            weft__free(blk_of(fb->mem));
            fb->mem = NULL;
            fb->cap = 0;
            fb->in = NULL;
        }
    }
    return rc;
}

void weft__fbuf_clear(weft__fbuf_t *fb)
{
    fb->pos = fb->end;
    fb->lat = NULL;
    fb->latlen = 0;
}

const char *weft__fbuf_lend(weft__fbuf_t *fb, size_t *len)
{
    WEFT_ASSERT(fb->latlen == 0);
    *len = fb->end - fb->pos;
    /* Nothing buffered: in may be NULL, and NULL + 0 is undefined (found by the fuzzer). */
    if (*len == 0)
        return "";
    const char *p = fb->in + fb->pos;
    if (fb->mem != NULL && fb->in == fb->mem)
        fb->frozen = true;
    fb->pos = fb->end;
    return p;
}
