/* SPDX-License-Identifier: MIT */
/* Log-scaled latency histograms: four buckets per power of two, percentiles on read. */
#include <string.h>

#include "pool-internal.h"

/*
 * Bucket of value v (ns): 0..3 for v < 4; above, with e = floor(log2 v) >= 2 and the two bits
 * after the leading one as sub, bucket 4 * (e - 1) + sub. So each power of two is cut in four
 * and a bucket's upper bound is at most 25% above its floor. e <= 63 gives at most 251.
 */
static unsigned bucket_of(uint64_t v)
{
    if (v < 4)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    unsigned sub = (unsigned)(v >> (e - 2)) & 3u;
    return 4u * (e - 1u) + sub;
}

uint64_t weft_pool_hist_bucket_floor(unsigned i)
{
    if (i >= WEFT_POOL_HIST_BUCKETS)
        return 0;
    if (i < 4)
        return i;
    unsigned e = i / 4u + 1u;
    if (e > 63)
        return UINT64_MAX;
    return (uint64_t)(4u + i % 4u) << (e - 2u);
}

/* The largest value of bucket i. */
static uint64_t bucket_top(unsigned i)
{
    uint64_t next = weft_pool_hist_bucket_floor(i + 1);
    return next == 0 || next == UINT64_MAX ? UINT64_MAX : next - 1;
}

void weft__hist_add(weft__hist_t *h, uint64_t ns)
{
    h->count++;
    h->sum_ns += ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
    h->buckets[bucket_of(ns)]++;
}

/* The value below which a fraction num/den of the samples fall (the top of its bucket, never
 * above the exact max). */
static uint64_t percentile(const weft__hist_t *h, uint64_t num, uint64_t den)
{
    uint64_t rank = (h->count * num + den - 1) / den;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < WEFT_POOL_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t top = bucket_top(i);
            return top < h->max_ns ? top : h->max_ns;
        }
    }
    return h->max_ns;
}

void weft__hist_export(const weft__hist_t *h, weft_pool_hist_t *out)
{
    memset(out, 0, sizeof(*out));
    out->count = h->count;
    out->max_ns = h->max_ns;
    out->sum_ns = h->sum_ns;
    memcpy(out->buckets, h->buckets, sizeof(out->buckets));
    if (h->count == 0)
        return;
    out->p50_ns = percentile(h, 50, 100);
    out->p90_ns = percentile(h, 90, 100);
    out->p99_ns = percentile(h, 99, 100);
}

void weft__hist_merge(weft__hist_t *into, const weft__hist_t *from)
{
    into->count += from->count;
    into->sum_ns += from->sum_ns;
    if (from->max_ns > into->max_ns)
        into->max_ns = from->max_ns;
    for (unsigned i = 0; i < WEFT_POOL_HIST_BUCKETS; i++)
        into->buckets[i] += from->buckets[i];
}
