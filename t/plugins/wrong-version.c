/* SPDX-License-Identifier: MIT */
/* A test plugin built for another plugin ABI. */
#include <weft.h>

static weft_service_t *make_nothing(weft_reactor_t *r, const weft_config_t *cfg, void *arg,
                                    int *err)
{
    (void)r;
    (void)cfg;
    (void)arg;
    *err = WEFT_EINVAL;
    return NULL;
}

WEFT_EXPORT extern const weft_plugin_t weft_plugin;
WEFT_EXPORT const weft_plugin_t weft_plugin = {
    .abi = WEFT_PLUGIN_ABI + 41,
    .app = {.name = "wrong-version", .make_service = make_nothing},
};
