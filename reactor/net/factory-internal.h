/* SPDX-License-Identifier: MIT */
/* A factory's insides, for listeners. */
#ifndef WEFT_REACTOR_NET_FACTORY_INTERNAL_H
#define WEFT_REACTOR_NET_FACTORY_INTERNAL_H

#include <weft/tcp.h>

struct weft_factory_s {
    weft_factory_ops_t ops;
    void *ctx;
    unsigned ports; /* listeners using it (Twisted's numPorts) */
};

/* start_factory before the first listener; stop_factory after the last. */
void weft__factory_do_start(weft_factory_t *f);
void weft__factory_do_stop(weft_factory_t *f);

#endif /* WEFT_REACTOR_NET_FACTORY_INTERNAL_H */
