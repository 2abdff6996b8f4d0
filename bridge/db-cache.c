/* SPDX-License-Identifier: MIT */
/* The per-connection prepared statement cache: a small LRU keyed by the SQL text. */
#include <string.h>

#include "../common/alloc-internal.h"
#include "dbpool-internal.h"

/* Linear scan over a few dozen slots, compared by hash first: cheaper than a hash table at
 * these sizes, and the order of eviction is exact LRU. */

void weft__db_cache_init(weft__db_cache_t *c, size_t cap, void (*finalize)(void *, void *),
                         void *ctx)
{
    memset(c, 0, sizeof(*c));
    c->cap = cap;
    c->finalize = finalize;
    c->ctx = ctx;
}

uint64_t weft__db_hash(const char *sql)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (const unsigned char *s = (const unsigned char *)sql; *s; s++) {
        h ^= *s;
        h *= 1099511628211u;
    }
    return h;
}

void *weft__db_cache_get(weft__db_cache_t *c, const char *sql, uint64_t hash)
{
    for (size_t i = 0; i < c->n; i++) {
        weft__db_cache_slot_t *s = &c->slots[i];
        if (s->hash == hash && strcmp(s->sql, sql) == 0) {
            s->used = ++c->tick;
            return s->stmt;
        }
    }
    return NULL;
}

bool weft__db_cache_put(weft__db_cache_t *c, const char *sql, uint64_t hash, void *stmt)
{
    if (c->cap == 0)
        return false;
    char *copy = weft__strdup(sql);
    if (copy == NULL)
        return false;
    weft__db_cache_slot_t *s;
    if (c->n < c->cap) {
        if (c->slots == NULL && (c->slots = weft__calloc(c->cap, sizeof(*s))) == NULL) {
            weft__free(copy);
            return false;
        }
        s = &c->slots[c->n++];
    } else {
        s = &c->slots[0];
        for (size_t i = 1; i < c->n; i++)
            if (c->slots[i].used < s->used)
                s = &c->slots[i];
        c->finalize(c->ctx, s->stmt);
        weft__free(s->sql);
    }
    s->sql = copy;
    s->hash = hash;
    s->stmt = stmt;
    s->used = ++c->tick;
    return true;
}

void weft__db_cache_drop(weft__db_cache_t *c, const char *sql, uint64_t hash)
{
    for (size_t i = 0; i < c->n; i++) {
        weft__db_cache_slot_t *s = &c->slots[i];
        if (s->hash == hash && strcmp(s->sql, sql) == 0) {
            c->finalize(c->ctx, s->stmt);
            weft__free(s->sql);
            *s = c->slots[--c->n];
            return;
        }
    }
}

void weft__db_cache_clear(weft__db_cache_t *c)
{
    for (size_t i = 0; i < c->n; i++) {
        c->finalize(c->ctx, c->slots[i].stmt);
        weft__free(c->slots[i].sql);
    }
    weft__free(c->slots);
    c->slots = NULL;
    c->n = 0;
}
