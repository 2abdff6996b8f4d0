/* SPDX-License-Identifier: MIT */
/* Connectors: Twisted's connector + ClientFactory, and ReconnectingClientFactory's backoff. */

/*
 * Design. A connector is in one of four states: idle, connecting (an attempt), connected (a
 * transport whose on_closed hook points back here), or waiting (a delayed call for the next
 * retry). The user's callbacks may call back into the connector, free included: `busy` counts
 * the callbacks running and a free made meanwhile only marks the connector, which is released
 * when the last of them returns; no callback runs after weft_connector_free.
 *
 * Backoff follows Twisted's ReconnectingClientFactory.retry exactly: retries += 1; past
 * max_retries give up; delay = min(delay * factor, max_delay); delay = normal(delay,
 * delay * jitter) (stored, so jitter compounds, and it may exceed max_delay).
 */
#include <math.h>
#include <string.h>
#include <time.h>

#include <weft/error.h>

#include "../../common/alloc-internal.h"
#include "net-internal.h"

typedef enum { C_IDLE = 0, C_CONNECTING, C_CONNECTED, C_WAITING } cstate_t;

struct weft_connector_s {
    weft_reactor_t *r;
    struct sockaddr_storage addr;
    weft_connector_options_t opts;
    weft_client_factory_ops_t ops;
    void *ctx;
    cstate_t state;
    weft__attempt_t *attempt;
    weft_transport_t *t;
    weft_call_id_t retry_id;
    bool continue_trying;
    bool freed;
    unsigned busy;
    int retries;
    double delay;
    uint64_t rng;
};

void weft_connector_options_init(weft_connector_options_t *opts)
{
    memset(opts, 0, sizeof(*opts));
    weft_connect_options_init(&opts->connect);
    opts->retry = false;
    opts->initial_delay = 1.0;
    opts->max_delay = 3600.0;
    opts->factor = 2.7182818284590451;
    opts->jitter = 0.119626565582;
    opts->max_retries = -1;
}

/* xorshift64*: the jitter's generator, seeded per connector. */
static double uniform01(weft_connector_t *c)
{
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    uint64_t x = c->rng * 2685821657736338717ull;
    return ((double)(x >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
}

static double normal(weft_connector_t *c, double mu, double sigma)
{
    double u1 = uniform01(c), u2 = uniform01(c);
    return mu + sigma * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static void release_if_done(weft_connector_t *c)
{
    if (c->freed && c->busy == 0) {
        weft_reactor_t *r = c->r;
        weft__free(c);
        WEFT_ASSERT(r->net_objects > 0);
        r->net_objects--;
    }
}

static void on_retry(void *arg);
static void attempt_done(void *owner, weft_transport_t *t, weft_failure_t *f);

/* Twisted's retry(). */
static void retry(weft_connector_t *c)
{
    if (!c->opts.retry || !c->continue_trying || c->freed || c->state != C_IDLE)
        return;
    c->retries++;
    if (c->opts.max_retries >= 0 && c->retries > c->opts.max_retries) {
        weft__net_log(c->r, WEFT_LOG_INFO, "connector gave up after %d retries",
                      c->opts.max_retries);
        c->continue_trying = false;
        if (c->ops.gave_up != NULL) {
            c->busy++;
            WEFT__DISPATCH(c->r, c->ops.gave_up(c->ctx, c));
            c->busy--;
        }
        return;
    }
    c->delay = fmin(c->delay * c->opts.factor, c->opts.max_delay);
    if (c->opts.jitter > 0)
        c->delay = normal(c, c->delay, c->delay * c->opts.jitter);
    if (c->delay < 0)
        c->delay = 0;
    if (weft_reactor_call_later(c->r, c->delay, on_retry, c, &c->retry_id) == 0)
        c->state = C_WAITING;
}

/* Starts an attempt. started_connecting may free c: the caller calls release_if_done after. */
static int start_attempt(weft_connector_t *c)
{
    int err = 0;
    c->state = C_CONNECTING;
    if (c->ops.started_connecting != NULL) {
        c->busy++;
        WEFT__DISPATCH(c->r, c->ops.started_connecting(c->ctx, c));
        c->busy--;
        if (c->freed || c->state != C_CONNECTING)
            return 0;
        if (!c->continue_trying) { /* the callback called stop_trying */
            c->state = C_IDLE;
            return 0;
        }
    }
    c->attempt = weft__attempt_start(c->r, &c->addr, NULL, c->opts.connect.timeout,
                                     &c->opts.connect.transport, attempt_done, c, &err);
    if (c->attempt == NULL) {
        c->state = C_IDLE;
        return err;
    }
    return 0;
}

static void on_retry(void *arg)
{
    weft_connector_t *c = arg;
    c->retry_id = 0;
    c->state = C_IDLE;
    int rc = start_attempt(c);
    if (rc < 0) {
        weft_failure_t *f = weft_failure_from_code(rc, NULL);
        if (c->ops.connection_failed != NULL) {
            c->busy++;
            WEFT__DISPATCH(c->r, c->ops.connection_failed(c->ctx, c, f));
            c->busy--;
        }
        weft_failure_free(f);
        retry(c);
    }
    release_if_done(c); /* started_connecting may have freed c */
}

static void conn_closed(void *owner, weft_transport_t *t, bool made, const weft_failure_t *reason)
{
    (void)t;
    (void)made;
    weft_connector_t *c = owner;
    c->t = NULL;
    c->state = C_IDLE;
    if (!c->freed && c->ops.connection_lost != NULL) {
        c->busy++;
        WEFT__DISPATCH(c->r, c->ops.connection_lost(c->ctx, c, reason));
        c->busy--;
    }
    retry(c);
    release_if_done(c);
}

static void attempt_done(void *owner, weft_transport_t *t, weft_failure_t *f)
{
    weft_connector_t *c = owner;
    c->attempt = NULL;
    c->state = C_IDLE;
    if (t != NULL && !c->freed) {
        const weft_protocol_ops_t *ops = NULL;
        void *proto = NULL;
        c->busy++;
        int built;
        WEFT__DISPATCH(c->r, built = c->ops.build_protocol(c->ctx, c, &ops, &proto));
        c->busy--;
        if (built == 0 && ops != NULL && ops->data_received != NULL && !c->freed) {
            c->t = t;
            c->state = C_CONNECTED;
            t->on_closed = conn_closed;
            t->owner = c;
            /* connection_made may free c (weft_connector_free, or a service stopping). */
            c->busy++;
            (void)weft__transport_start(t, ops, proto, &c->opts.connect.transport);
            c->busy--;
            release_if_done(c);
            return;
        }
        weft__transport_close(t, NULL);
        f = weft_failure_new(&weft_error_type, WEFT_ECANCELED, "build_protocol refused");
    } else if (t != NULL) {
        weft__transport_close(t, NULL);
    }
    if (!c->freed && c->ops.connection_failed != NULL) {
        c->busy++;
        WEFT__DISPATCH(c->r, c->ops.connection_failed(c->ctx, c, f));
        c->busy--;
    }
    weft_failure_free(f);
    retry(c);
    release_if_done(c);
}

weft_connector_t *weft_connector_new_tcp(weft_reactor_t *r, const char *host, int port,
                                         const weft_connector_options_t *opts,
                                         const weft_client_factory_ops_t *ops, void *ctx, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    weft_connector_options_t defaults;
    if (opts == NULL) {
        weft_connector_options_init(&defaults);
        opts = &defaults;
    }
    struct sockaddr_storage ss;
    if (r == NULL || ops == NULL || ops->build_protocol == NULL || port <= 0 ||
        weft__parse_addr(host, port, &ss) < 0 || !(opts->initial_delay >= 0) ||
        !(opts->max_delay >= 0) || !(opts->factor >= 1) || !(opts->jitter >= 0) ||
        !(opts->connect.timeout >= 0)) {
        *err = WEFT_EINVAL;
        return NULL;
    }
    WEFT__LOOP_ONLY(r);
    weft_connector_t *c = weft__calloc(1, sizeof(*c));
    if (c == NULL) {
        *err = WEFT_ENOMEM;
        return NULL;
    }
    c->r = r;
    c->addr = ss;
    c->opts = *opts;
    c->ops = *ops;
    c->ctx = ctx;
    c->continue_trying = true;
    c->delay = opts->initial_delay;
    uint64_t seed = opts->seed != 0 ? opts->seed : (uint64_t)time(NULL) ^ (uintptr_t)c;
    c->rng = seed * 0x9E3779B97F4A7C15ull | 1;
    r->net_objects++; /* weft_reactor_free refuses until the connector is released */
    return c;
}

int weft_connector_connect(weft_connector_t *c)
{
    WEFT__LOOP_ONLY(c->r);
    if (c->state == C_CONNECTING || c->state == C_CONNECTED)
        return WEFT_EALREADY;
    if (c->state == C_WAITING) {
        (void)weft_delayed_call_cancel(c->r, c->retry_id);
        c->retry_id = 0;
        c->state = C_IDLE;
    }
    c->continue_trying = true;
    int rc = start_attempt(c);
    release_if_done(c); /* started_connecting may have freed c */
    return rc;
}

void weft_connector_stop_trying(weft_connector_t *c)
{
    WEFT__LOOP_ONLY(c->r);
    c->continue_trying = false;
    if (c->state == C_WAITING) {
        (void)weft_delayed_call_cancel(c->r, c->retry_id);
        c->retry_id = 0;
        c->state = C_IDLE;
    } else if (c->state == C_CONNECTING && c->attempt != NULL) {
        weft__attempt_cancel(c->attempt,
                             weft_failure_from_code(WEFT_ECANCELED, "connector stopped trying"));
    }
}

void weft_connector_reset_delay(weft_connector_t *c)
{
    c->delay = c->opts.initial_delay;
    c->retries = 0;
}

weft_transport_t *weft_connector_transport(const weft_connector_t *c)
{
    return c->t;
}

int weft_connector_retries(const weft_connector_t *c)
{
    return c->retries;
}

double weft_connector_delay(const weft_connector_t *c)
{
    return c->delay;
}

void weft_connector_free(weft_connector_t *c)
{
    if (c == NULL)
        return;
    WEFT__LOOP_ONLY(c->r);
    c->freed = true;
    c->busy++; /* the cancel below calls back into attempt_done */
    weft_connector_stop_trying(c);
    if (c->t != NULL) {
        c->t->on_closed = NULL;
        c->t->owner = NULL;
        weft_transport_lose_connection(c->t);
        c->t = NULL;
    }
    c->busy--;
    release_if_done(c);
}
