/* SPDX-License-Identifier: MIT */
/* The /metrics resource: Prometheus text built on the loop from the reactor's, the default
 * pools' and the site's counters (each read is a snapshot; nothing blocks). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <weft/bridge.h>
#include <weft/error.h>
#include <weft/request.h>
#include <weft/site.h>
#include <weft/time.h>

#include "web-metrics.h"

typedef struct {
    char buf[8192];
    size_t len;
} text_t;

__attribute__((format(printf, 2, 3))) static void put(text_t *t, const char *fmt, ...)
{
    if (t->len >= sizeof(t->buf))
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len += (size_t)n;
    if (t->len > sizeof(t->buf))
        t->len = sizeof(t->buf);
}

static void summary(text_t *t, const char *name, const char *pool, const weft_pool_hist_t *h)
{
    put(t, "%s{pool=\"%s\",quantile=\"0.5\"} %.9f\n", name, pool, (double)h->p50_ns / 1e9);
    put(t, "%s{pool=\"%s\",quantile=\"0.9\"} %.9f\n", name, pool, (double)h->p90_ns / 1e9);
    put(t, "%s{pool=\"%s\",quantile=\"0.99\"} %.9f\n", name, pool, (double)h->p99_ns / 1e9);
    put(t, "%s_sum{pool=\"%s\"} %.9f\n", name, pool, (double)h->sum_ns / 1e9);
    put(t, "%s_count{pool=\"%s\"} %llu\n", name, pool, (unsigned long long)h->count);
}

static int metrics_render(weft_request_t *req, void *ctx)
{
    (void)ctx;
    text_t local; /* 8 KiB on the loop's stack: the text is small */
    text_t *t = &local;
    t->len = 0;
    weft_reactor_t *r = weft_request_reactor(req);
    weft_reactor_stats_t rs;
    weft_reactor_get_stats(r, &rs);
    put(t, "# HELP weft_loop_lag_seconds How late delayed calls ran on the loop.\n");
    put(t, "# TYPE weft_loop_lag_seconds gauge\n");
    put(t, "weft_loop_lag_seconds{stat=\"last\"} %.9f\n", (double)rs.timer_lag_last_ns / 1e9);
    put(t, "weft_loop_lag_seconds{stat=\"max\"} %.9f\n", (double)rs.timer_lag_max_ns / 1e9);
    put(t, "weft_loop_lag_seconds{stat=\"mean\"} %.9f\n",
        rs.timers_fired ? (double)rs.timer_lag_sum_ns / (double)rs.timers_fired / 1e9 : 0.0);
    put(t, "# TYPE weft_loop_iterations_total counter\nweft_loop_iterations_total %llu\n",
        (unsigned long long)rs.iterations);
    static const struct {
        weft_pool_kind_t kind;
        const char *name;
    } pools[] = {{WEFT_POOL_KIND_CPU, "cpu"}, {WEFT_POOL_KIND_IO, "io"}};
    put(t, "# HELP weft_pool_queue_wait_seconds Submit to start of pool jobs.\n");
    put(t, "# TYPE weft_pool_queue_wait_seconds summary\n");
    weft_pool_stats_t ps[2];
    for (size_t i = 0; i < 2; i++) {
        weft_pool_t *pool = weft_reactor_default_pool(r, pools[i].kind, NULL);
        memset(&ps[i], 0, sizeof(ps[i]));
        if (pool != NULL)
            weft_pool_get_stats(pool, &ps[i]);
        summary(t, "weft_pool_queue_wait_seconds", pools[i].name, &ps[i].queue_wait);
    }
    put(t, "# HELP weft_pool_run_time_seconds Start to end of pool jobs.\n");
    put(t, "# TYPE weft_pool_run_time_seconds summary\n");
    for (size_t i = 0; i < 2; i++)
        summary(t, "weft_pool_run_time_seconds", pools[i].name, &ps[i].run_time);
    put(t, "# TYPE weft_pool_queued gauge\n");
    for (size_t i = 0; i < 2; i++)
        put(t, "weft_pool_queued{pool=\"%s\"} %zu\n", pools[i].name, ps[i].queued);
    put(t, "# TYPE weft_pool_threads gauge\n");
    for (size_t i = 0; i < 2; i++)
        put(t, "weft_pool_threads{pool=\"%s\"} %u\n", pools[i].name, ps[i].threads);
    weft_bridge_stats_t bs;
    weft_bridge_get_stats(r, &bs);
    put(t, "# TYPE weft_offloads_in_flight gauge\nweft_offloads_in_flight %llu\n",
        (unsigned long long)bs.in_flight);
    weft_site_stats_t ss;
    weft_site_get_stats(weft_request_site(req), &ss);
    put(t, "# TYPE weft_http_requests_total counter\nweft_http_requests_total %llu\n",
        (unsigned long long)ss.requests);
    put(t, "# TYPE weft_http_responses_total counter\n");
    for (int c = 1; c <= 5; c++)
        put(t, "weft_http_responses_total{code=\"%dxx\"} %llu\n", c,
            (unsigned long long)ss.responses[c]);
    put(t, "# TYPE weft_http_requests_in_flight gauge\nweft_http_requests_in_flight %llu\n",
        (unsigned long long)ss.in_flight);
    put(t, "# TYPE weft_http_connections_open gauge\nweft_http_connections_open %llu\n",
        (unsigned long long)ss.connections_open);
    put(t, "# TYPE weft_http_clients_gone_total counter\nweft_http_clients_gone_total %llu\n",
        (unsigned long long)ss.clients_gone);
    int rc = weft_request_set_header(req, "Content-Type", "text/plain; version=0.0.4");
    if (rc == 0)
        rc = weft_request_write(req, t->buf, t->len);
    return rc;
}

weft_resource_t *weft_metrics_resource_new(int *err)
{
    weft_resource_t *res = weft_resource_new(NULL, NULL, err);
    if (res == NULL)
        return NULL;
    weft_resource_set_leaf(res, true);
    if (weft_resource_set_render(res, "GET", metrics_render) != 0) {
        weft_resource_free(res);
        if (err != NULL)
            *err = WEFT_ENOMEM;
        return NULL;
    }
    return res;
}
