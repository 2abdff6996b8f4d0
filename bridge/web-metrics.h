/* SPDX-License-Identifier: MIT */
/* A /metrics resource in Prometheus text format: loop lag, pool histograms, HTTP counters. */
#ifndef WEFT_BRIDGE_WEB_METRICS_H
#define WEFT_BRIDGE_WEB_METRICS_H

#include <stddef.h>

#include <weft/compiler.h>
#include <weft/resource.h>
#include <weft/site.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A leaf resource answering GET with the Prometheus text exposition format (version 0.0.4),
 * read at each request from the reactor, its default pools and the site serving the request:
 *   weft_loop_lag_seconds{stat="last"|"max"|"mean"}          gauge (weft_reactor_get_stats)
 *   weft_pool_queue_wait_seconds{pool,quantile} _sum _count  summary, per default pool
 *   weft_pool_run_time_seconds{pool,quantile} _sum _count    summary, per default pool
 *   weft_pool_queued{pool}, weft_pool_threads{pool}           gauges
 *   weft_offloads_in_flight                                   gauge (weft_bridge_get_stats)
 *   weft_http_requests_total, weft_http_responses_total{code="2xx"...},
 *   weft_http_connections_open, weft_http_requests_in_flight,
 *   weft_http_clients_gone_total                               (weft_site_get_stats)
 * It lives in bridge/ because it reads the pools; the default pools are made if they do not
 * exist yet. Returns an owned resource, or NULL with *err (err may be NULL): WEFT_ENOMEM.
 * Thread: loop.
 */
WEFT_EXPORT WEFT_NODISCARD weft_resource_t *weft_metrics_resource_new(int *err);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_BRIDGE_WEB_METRICS_H */
