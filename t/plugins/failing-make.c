/* SPDX-License-Identifier: MIT */
/* A test plugin whose make_service fails. */
#include <weft.h>

static weft_service_t *make_nothing(weft_reactor_t *r, const weft_config_t *cfg, void *arg,
                                    int *err)
{
    (void)r;
    (void)cfg;
    (void)arg;
    *err = WEFT_EACCES;
    return NULL;
}

WEFT_PLUGIN_DEFINE(.name = "failing-make", .description = "its make_service fails",
                   .make_service = make_nothing);
