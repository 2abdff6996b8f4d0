/* SPDX-License-Identifier: MIT */
/* TimerService: a LoopingCall run as a service. */
#ifndef WEFT_REACTOR_APP_TIMER_SERVICE_H
#define WEFT_REACTOR_APP_TIMER_SERVICE_H

#include <weft/compiler.h>
#include <weft/reactor.h>
#include <weft/service.h>
#include <weft/task.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Makes a stopped service named name (copied; may be NULL) that, once started, calls fn(arg)
 * every interval seconds on r's clock through a new looping call, the first call at once,
 * inside weft_service_start (Twisted's TimerService with now=True). A failure from fn (or from
 * its deferred) is logged with the service's name and the loop is not restarted; the service
 * still counts as running until stopped. Stopping stops the loop; its stop deferred fires when
 * the call in flight, if any, has finished. arg is borrowed for the life of the service.
 * Returns an owned service (weft_service_free), or NULL with *err (may be NULL): WEFT_EINVAL
 * for a NULL r or fn, or a negative or non-finite interval; WEFT_ENOMEM. Thread: loop.
 */
WEFT_EXPORT WEFT_NODISCARD weft_service_t *weft_timer_service_new(weft_reactor_t *r,
                                                                  const char *name, double interval,
                                                                  weft_looping_fn fn, void *arg,
                                                                  int *err);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REACTOR_APP_TIMER_SERVICE_H */
