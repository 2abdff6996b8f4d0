/* SPDX-License-Identifier: MIT */
/* Sites: options, the factory that builds a connection per accept, the cached Date header,
 * counters and shutdown. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/error.h>
#include <weft/log.h>

#include "web-internal.h"

void weft_site_options_init(weft_site_options_t *opts)
{
    *opts = (weft_site_options_t){
        .max_header_bytes = 16384,
        .max_headers = 100,
        .max_url_bytes = 8192,
        .max_body_bytes = 1048576,
        .header_timeout = 30.0,
        .body_timeout = 30.0,
        .keepalive_timeout = 15.0,
        .max_connections = 1024,
        .response_buffer = 16384,
        .access_log = true,
        .server_name = "weft",
    };
}

static int build(void *ctx, const char *peer, const weft_protocol_ops_t **ops, void **proto)
{
    weft_site_t *site = ctx;
    if (site->closing)
        return -1;
    if (site->opts.max_connections > 0 &&
        site->stats.connections_open >= site->opts.max_connections) {
        site->stats.connections_refused++;
        weft_log(WEFT_LOG_WARN, "http", "refusing %s: %zu connections open (max_connections)", peer,
                 (size_t)site->stats.connections_open);
        return -1;
    }
    web_conn_t *c = web_conn_new(site, peer);
    if (c == NULL)
        return -1;
    c->next = &site->conns;
    c->prev = site->conns.prev;
    site->conns.prev->next = c;
    site->conns.prev = c;
    site->stats.connections_total++;
    site->stats.connections_open++;
    *ops = web_conn_ops();
    *proto = c;
    return 0;
}

void web_site_conn_gone(weft_site_t *site, web_conn_t *c)
{
    c->prev->next = c->next;
    c->next->prev = c->prev;
    c->next = c->prev = c;
    site->stats.connections_open--;
}

weft_site_t *weft_site_new(weft_resource_t *root, const weft_site_options_t *opts, int *err)
{
    int e = 0;
    weft_site_t *site = NULL;
    weft_site_options_t o;
    if (opts != NULL)
        o = *opts;
    else
        weft_site_options_init(&o);
    if (root == NULL || o.max_header_bytes == 0 || o.max_headers == 0 || o.max_url_bytes == 0 ||
        o.header_timeout < 0 || o.body_timeout < 0 || o.keepalive_timeout < 0) {
        e = WEFT_EINVAL;
        goto fail;
    }
    site = calloc(1, sizeof(*site));
    if (site == NULL) {
        e = WEFT_ENOMEM;
        goto fail;
    }
    site->opts = o;
    site->root = root;
    root->has_parent = true; /* the site holds it: a get_child returning it lends it */
    site->conns.next = site->conns.prev = &site->conns;
    weft_factory_ops_t fops = {.build_protocol = build};
    site->factory = weft_factory_new(&fops, site, &e);
    if (site->factory == NULL)
        goto fail;
    return site;
fail:
    free(site);
    weft_resource_free(root);
    if (err != NULL)
        *err = e;
    return NULL;
}

weft_factory_t *weft_site_factory(weft_site_t *site)
{
    return site->factory;
}

weft_resource_t *weft_site_root(const weft_site_t *site)
{
    return site->root;
}

void weft_site_get_stats(const weft_site_t *site, weft_site_stats_t *out)
{
    *out = site->stats;
}

void weft_site_close_connections(weft_site_t *site)
{
    site->closing = true;
    web_conn_t *c = site->conns.next;
    while (c != &site->conns) {
        web_conn_t *next = c->next;
        web_conn_close_when_idle(c);
        c = next;
    }
}

int weft_site_free(weft_site_t *site)
{
    if (site == NULL)
        return 0;
    if (site->conns.next != &site->conns || site->live_requests > 0)
        return WEFT_EBUSY;
    int rc = weft_factory_free(site->factory);
    if (rc != 0)
        return rc;
    weft_resource_free(site->root);
    web_request_free_list(site);
    web_buf_free(&site->out);
    free(site);
    return 0;
}

/* The Date header's value, formatted once a second. */
const char *web_site_date(weft_site_t *site)
{
    time_t now = time(NULL);
    if (now != site->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(site->date, sizeof(site->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        site->date_sec = now;
    }
    return site->date;
}
