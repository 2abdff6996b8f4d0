/* SPDX-License-Identifier: MIT */
/* The input buffer the three framing receivers share: zero copy when it can, pinned memory
 * while a callback holds a pointer into it. */
#ifndef WEFT_REACTOR_NET_FRAMING_INTERNAL_H
#define WEFT_REACTOR_NET_FRAMING_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The unparsed input is U ++ L: U = in[pos..end) is what the parser looks at, L = lat[0..latlen)
 * is the rest of the chunk being fed, not looked at yet. Between feeds L is empty and U lives
 * in mem. During a feed, U starts empty when nothing was buffered and then points straight
 * into the caller's chunk (no copy); only a frame that straddles two chunks is copied, and
 * only the bytes it needs (weft__fbuf_pull). At the end of a feed the unparsed rest is copied
 * into mem (weft__fbuf_finish).
 *
 * Chunk mode (in != mem): U and L are adjacent in the chunk, lat == in + end.
 *
 * Freezing: while user code may hold a pointer into mem (a callback's data, or bytes lent by
 * a clear), mem is frozen: it must not move and its used part must not be overwritten. An
 * append that does not fit then moves U ++ L into a fresh block and retires the old one; retired
 * blocks are freed at the end of the outer feed (weft__fbuf_finish) or at release, so a
 * pointer into one stays valid at least until then. A feed whose data lies inside mem (bytes a
 * clear lent, fed back) retires mem first, so L never lies inside mem.
 */
struct weft__fblk {
    struct weft__fblk *next;
};

typedef struct {
    char *mem;
    size_t cap;
    const char *in;
    size_t pos, end;
    const char *lat;
    size_t latlen;
    struct weft__fblk *retired;
    bool frozen;
} weft__fbuf_t;

void weft__fbuf_init(weft__fbuf_t *fb);
void weft__fbuf_release(weft__fbuf_t *fb);

/* Starts a feed: the chunk becomes L. Returns 0 or WEFT_ENOMEM (only when data lies inside mem
 * while U is not empty, a misuse). */
int weft__fbuf_begin(weft__fbuf_t *fb, const char *data, size_t len);

/* Ends a feed: U ++ L is copied into mem. WEFT_ENOMEM drops L (U is kept). */
int weft__fbuf_finish(weft__fbuf_t *fb);

/* Moves the first k bytes of L to the end of U (k <= latlen). Not while frozen.
 * Returns 0 or WEFT_ENOMEM (nothing moved). */
int weft__fbuf_pull(weft__fbuf_t *fb, size_t k);

/* Makes U ++ L contiguous as U. Safe while frozen. Returns 0 or WEFT_ENOMEM (nothing moved). */
int weft__fbuf_flatten(weft__fbuf_t *fb);

/* Appends bytes after U ++ L (a re-entrant feed, or a feed while parsing is off). Safe while
 * frozen; data may lie inside mem. Returns 0 or WEFT_ENOMEM (nothing appended). */
int weft__fbuf_append(weft__fbuf_t *fb, const char *data, size_t len);

/* Ensures |U| >= want, pulling from L: returns 1 when it holds, 0 when U ++ L is too short,
 * WEFT_ENOMEM. Pulls all of L when that is free, else only the bytes missing. */
int weft__fbuf_need(weft__fbuf_t *fb, size_t want);

/* Empties U and L. */
void weft__fbuf_clear(weft__fbuf_t *fb);

/* Lends U (after a flatten): the caller may keep the pointer until the next call, so mem is
 * frozen if U lives there. Then empties U. */
const char *weft__fbuf_lend(weft__fbuf_t *fb, size_t *len);

/* Brackets a callback that may hold a pointer into U: mem is frozen while it runs if U lives
 * there. Inline: they run once per frame. */
static inline void weft__fbuf_enter_cb(weft__fbuf_t *fb)
{
    fb->frozen = fb->mem != NULL && fb->in == fb->mem;
}

static inline void weft__fbuf_leave_cb(weft__fbuf_t *fb)
{
    fb->frozen = false;
}

static inline const char *weft__fbuf_data(const weft__fbuf_t *fb)
{
    return fb->in + fb->pos;
}

static inline size_t weft__fbuf_len(const weft__fbuf_t *fb)
{
    return fb->end - fb->pos;
}

static inline void weft__fbuf_consume(weft__fbuf_t *fb, size_t n)
{
    fb->pos += n;
}

/* |U| + |L|: everything not parsed yet. */
static inline size_t weft__fbuf_total(const weft__fbuf_t *fb)
{
    return fb->end - fb->pos + fb->latlen;
}

/* True when pulling from L costs no copy (U is empty or lives in the chunk). */
static inline bool weft__fbuf_pull_is_free(const weft__fbuf_t *fb)
{
    return fb->pos == fb->end || fb->in != fb->mem;
}

/* Largest max_length any receiver accepts (keeps max + framing clear of overflow). */
#define WEFT__FRAMING_MAX_LIMIT ((size_t)-1 / 2)

#endif /* WEFT_REACTOR_NET_FRAMING_INTERNAL_H */
