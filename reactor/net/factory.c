/* SPDX-License-Identifier: MIT */
/* Factories: build a protocol per accepted connection; start and stop with their listeners. */
#include <weft/error.h>

#include "../../common/alloc-internal.h"
#include "net-internal.h"
#include "factory-internal.h"

weft_factory_t *weft_factory_new(const weft_factory_ops_t *ops, void *ctx, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    if (ops == NULL || ops->build_protocol == NULL) {
        *err = WEFT_EINVAL;
        return NULL;
    }
    weft_factory_t *f = weft__calloc(1, sizeof(*f));
    if (f == NULL) {
        *err = WEFT_ENOMEM;
        return NULL;
    }
    f->ops = *ops;
    f->ctx = ctx;
    return f;
}

int weft_factory_free(weft_factory_t *f)
{
    if (f == NULL)
        return 0;
    if (f->ports > 0)
        return WEFT_EBUSY;
    weft__free(f);
    return 0;
}

void weft__factory_do_start(weft_factory_t *f)
{
    if (f->ports++ == 0 && f->ops.start_factory != NULL)
        f->ops.start_factory(f->ctx);
}

void weft__factory_do_stop(weft_factory_t *f)
{
    WEFT_ASSERT(f->ports > 0);
    if (--f->ports == 0 && f->ops.stop_factory != NULL)
        f->ops.stop_factory(f->ctx);
}
