/* SPDX-License-Identifier: MIT */
/* A test plugin whose pool job never returns: its pool service's stop passes its deadline, and
 * a pool thread still runs the plugin's code while weft-run exits. */
#include <stdatomic.h>

#include <weft.h>

static atomic_ulong spins;

static void stop_now(void *arg)
{
    (void)weft_reactor_stop(arg);
}

/* Asks for the stop once it runs (a job still queued would just be cancelled), then spins:
 * several of them keep the process's cores busy, so one is often running plugin code while
 * weft-run exits. */
static void spin(void *arg)
{
    if (weft_reactor_call_from_thread(arg, stop_now, arg) != 0)
        return; /* the reactor is stopping already */
    for (;;)
        atomic_fetch_add(&spins, 1);
}

static int submit_start(weft_service_t *s)
{
    weft_service_t *pool_svc = weft_service_get_data(s);
    for (int i = 0; i < 4; i++) {
        int rc = weft_pool_submit(weft_pool_service_pool(pool_svc), spin, NULL,
                                  weft_service_reactor(s), NULL);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static const weft_service_ops_t submit_ops = {.start = submit_start};

static weft_service_t *make(weft_reactor_t *r, const weft_config_t *cfg, void *arg, int *err)
{
    (void)cfg;
    (void)arg;
    weft_pool_service_options_t po;
    weft_pool_service_options_init(&po);
    po.pool.name = "stuck";
    po.pool.max_threads = 4;
    po.stop_deadline = 0.02;
    weft_service_t *root = weft_multi_service_new(r, "root", err);
    weft_service_t *pool = weft_pool_service_new(r, "pool", &po, err);
    weft_service_t *sub = weft_service_new(r, "submit", &submit_ops, pool, err);
    if (root == NULL || pool == NULL || sub == NULL || weft_service_add(root, pool) != 0 ||
        weft_service_add(root, sub) != 0) {
        *err = WEFT_ENOMEM;
        return NULL; /* the process is leaving */
    }
    return root;
}

WEFT_PLUGIN_DEFINE(.name = "stuck-job", .description = "a pool job that never returns",
                   .make_service = make);
