/* SPDX-License-Identifier: MIT */
/* System event triggers: before/during/after phases of startup, shutdown and named events. */
#ifndef WEFT_REACTOR_EVENTS_H
#define WEFT_REACTOR_EVENTS_H

#include <stdint.h>

#include <weft/compiler.h>
#include <weft/deferred.h>
#include <weft/reactor.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * An event fires in three phases, each running its triggers once, in the order they were
 * added (a trigger added to the phase that is firing runs in it too). "startup" fires when
 * weft_reactor_run starts; "shutdown" when weft_reactor_stop is called; any other name when
 * weft_reactor_fire_event says so.
 *
 * A before-phase trigger may return a deferred: the during phase waits until every such
 * deferred has fired (a failure is logged and does not block), while the loop goes on serving
 * timers, sockets and thread calls. For shutdown the wait is bounded by the reactor's
 * shutdown_deadline: then each trigger still pending is named in the log, its deferred is
 * cancelled, and shutdown goes on. Deferreds returned by during and after triggers are not
 * waited for (as in Twisted). A trigger that fails is logged; the others still run.
 */
typedef enum {
    WEFT_PHASE_BEFORE = 0,
    WEFT_PHASE_DURING = 1,
    WEFT_PHASE_AFTER = 2,
} weft_phase_t;

/* A trigger. Returns NULL, or an owned reference to a deferred the before phase waits for. */
typedef weft_deferred_t *(*weft_trigger_fn)(void *arg);

typedef uint64_t weft_trigger_id_t; /* 0 is never a valid id */

/*
 * Adds fn(arg) to phase of event (copied; "startup", "shutdown" or any name). name (copied,
 * may be NULL) is how the log calls the trigger. arg is borrowed until the trigger has run or
 * been removed. Stores its id in *id (id may be NULL). Thread: loop.
 * Returns: 0; WEFT_EINVAL for a NULL fn or event or a bad phase; WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_reactor_add_trigger(weft_reactor_t *r, const char *event,
                                                        weft_phase_t phase, weft_trigger_fn fn,
                                                        void *arg, const char *name,
                                                        weft_trigger_id_t *id);

/*
 * Removes a trigger that has not run. Thread: loop.
 * Returns: 0; WEFT_EALREADY if it has run; WEFT_EINVAL if r never gave out id.
 */
WEFT_EXPORT int weft_reactor_remove_trigger(weft_reactor_t *r, weft_trigger_id_t id);

/*
 * Fires the three phases of event now (the before phase may make the rest wait, see above).
 * Thread: loop.
 * Returns: 0; WEFT_EALREADY if that event is already firing; WEFT_EINVAL for NULL;
 * WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_reactor_fire_event(weft_reactor_t *r, const char *event);

/*
 * Twisted's callWhenRunning: calls fn(arg) now if the reactor is running, otherwise adds it as
 * an after-startup trigger. Thread: loop.
 * Returns: 0; WEFT_EINVAL for a NULL fn; WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_reactor_call_when_running(weft_reactor_t *r, weft_call_fn fn,
                                                              void *arg);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REACTOR_EVENTS_H */
