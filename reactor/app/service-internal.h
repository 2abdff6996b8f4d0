/* SPDX-License-Identifier: MIT */
/* A service's insides, shared by service.c and multi-service.c only. */
#ifndef WEFT_REACTOR_APP_SERVICE_INTERNAL_H
#define WEFT_REACTOR_APP_SERVICE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <weft/service.h>

struct weft_service_s {
    weft_reactor_t *r;
    char *name;
    const weft_service_ops_t *ops;
    void *data;
    weft_service_t *parent;
    bool running;
    bool in_stop;              /* inside ops->stop: the children must not move */
    weft_deferred_t *stopping; /* our reference, from stop until its deferred fires */
    unsigned start_pass;       /* a multi service: how many times it has started */
    unsigned tried_in;         /* a child: its parent's start_pass that last tried to start it */
    /* Children of a multi service, in the order they were added. */
    weft_service_t **children;
    size_t nchildren, cap;
};

/* The operations of every multi service (multi-service.c). */
extern const weft_service_ops_t weft__multi_service_ops;

#endif /* WEFT_REACTOR_APP_SERVICE_INTERNAL_H */
