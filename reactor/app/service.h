/* SPDX-License-Identifier: MIT */
/* Services: things a program starts and stops (Twisted's IService), and MultiService trees. */
#ifndef WEFT_REACTOR_APP_SERVICE_H
#define WEFT_REACTOR_APP_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include <weft/compiler.h>
#include <weft/deferred.h>
#include <weft/failure.h>
#include <weft/reactor.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A service has a name (may be NULL), a parent (a multi service, or none), a running flag and
 * a table of operations: start, stop (which may return a deferred) and free. A multi service
 * holds children: it starts them in the order they were added and stops them in reverse
 * order, all at once (as Twisted's MultiService), and its stop deferred fires when every child
 * has stopped. A parent owns its children: freeing it frees them.
 *
 * States: stopped -> (start) running -> (stop) stopping -> (its stop deferred fires) stopped.
 * weft_service_is_running is false from the moment stop is called (Twisted's stopService sets
 * running to 0 first). A stopped service may be started again.
 *
 * Every function here is for the reactor's loop thread ("Thread: loop.").
 */
typedef struct weft_service_s weft_service_t;

/* A service's operations. Each runs on the loop thread. */
typedef struct weft_service_ops {
    /* Starts the service: 0, or a negative code (the service stays stopped). NULL: nothing to
     * start. */
    int (*start)(weft_service_t *s);
    /* Stops it: returns a value (ignored and freed), a failure (the stop failed) or a
     * deferred that fires when the service has stopped (as weft_maybe_deferred). NULL: stops
     * at once. */
    weft_result_t (*stop)(weft_service_t *s);
    /* Releases the user's data when the service is freed. May be NULL. */
    void (*free)(weft_service_t *s);
} weft_service_ops_t;

/* weft.ServiceError: a service failed to start or stop. A multi service's stop fails with one
 * that names every child that failed (the first child failure is its cause). */
WEFT_EXPORT extern const weft_failure_type_t weft_service_error_type;

/*
 * Makes a stopped service on r named name (copied; NULL for none) with ops (borrowed: a
 * static table that outlives the service) and data (yours, see ops->free). Returns an owned
 * service (weft_service_free), or NULL with *err (may be NULL): WEFT_EINVAL for a NULL r or
 * ops; WEFT_ENOMEM. Thread: loop.
 */
WEFT_EXPORT WEFT_NODISCARD weft_service_t *weft_service_new(weft_reactor_t *r, const char *name,
                                                            const weft_service_ops_t *ops,
                                                            void *data, int *err);

/* Makes an empty, stopped multi service on r named name (copied; may be NULL). Returns an
 * owned service, or NULL with *err: WEFT_EINVAL for a NULL r; WEFT_ENOMEM. Thread: loop. */
WEFT_EXPORT WEFT_NODISCARD weft_service_t *weft_multi_service_new(weft_reactor_t *r,
                                                                  const char *name, int *err);

/*
 * Releases s: calls ops->free, then frees the children of a multi service (each as this
 * does). weft_service_free(NULL) returns 0. Thread: loop.
 * Returns: 0; WEFT_EBUSY, changing nothing, if s (or one of its children) is running or
 * stopping, or s has a parent (remove it first; the parent frees its children).
 */
WEFT_EXPORT WEFT_NODISCARD int weft_service_free(weft_service_t *s);

/*
 * Starts s: sets running, then calls ops->start; a multi service starts each of its stopped
 * children in the order they were added. Thread: loop.
 * Returns: 0; WEFT_EALREADY if s is running; WEFT_EBUSY if it is still stopping; the code
 * ops->start returned (s stays stopped). For a multi service, a child's error stops the loop
 * over the children (the later ones are not started, as in Twisted), is logged with the
 * child's name, and is returned; the multi service then counts as running, with the children
 * started before still running: stop it to stop them. A child's start may stop the multi
 * service (the later children are then not started, and 0 is returned with s stopped) or add
 * and remove children, itself included: each stopped child is started at most once per
 * start, in order, and none is skipped.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_service_start(weft_service_t *s);

/*
 * Stops s: clears running, then calls ops->stop; a multi service calls stop on each running
 * child in reverse order, without waiting between them. If done is not NULL it receives an
 * owned reference to a deferred that fires with a NULL value once s has stopped, or fails:
 * with the stop's failure; for a multi service, with a weft.ServiceError naming every child
 * whose stop failed (each also logged with its name), after every child has stopped.
 * Cancelling a multi service's stop deferred cancels its children's pending stops. When done
 * is NULL a failed stop is logged as an unhandled error. Thread: loop.
 * Returns: 0 (done is set); WEFT_ENOTRUNNING if s is stopped; WEFT_EALREADY if it is
 * stopping (for both, done is left alone); WEFT_ENOMEM if no deferred could be made (the stop
 * has run and s counts as stopped; done is left alone).
 */
WEFT_EXPORT WEFT_NODISCARD int weft_service_stop(weft_service_t *s, weft_deferred_t **done);

/* True between start and stop (Twisted's `running`). Thread: loop. */
WEFT_EXPORT bool weft_service_is_running(const weft_service_t *s);

/* True from stop until its deferred has fired. Thread: loop. */
WEFT_EXPORT bool weft_service_is_stopping(const weft_service_t *s);

/* The name (NULL if none), valid until it changes or s is freed. Thread: loop. */
WEFT_EXPORT const char *weft_service_name(const weft_service_t *s);

/*
 * Renames s (name is copied; NULL for none). Thread: loop.
 * Returns: 0; WEFT_EBUSY once s has a parent (Twisted's setName raises then); WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_service_set_name(weft_service_t *s, const char *name);

/* The parent multi service, or NULL. Thread: loop. */
WEFT_EXPORT weft_service_t *weft_service_parent(const weft_service_t *s);

/* The reactor s was made on. Thread: loop. */
WEFT_EXPORT weft_reactor_t *weft_service_reactor(const weft_service_t *s);

/* The data given to weft_service_new (NULL for a multi service), and a way to replace it.
 * Thread: loop. */
WEFT_EXPORT void *weft_service_get_data(const weft_service_t *s);
WEFT_EXPORT void weft_service_set_data(weft_service_t *s, void *data);

/* True for a service made by weft_multi_service_new. Thread: loop. */
WEFT_EXPORT bool weft_service_is_multi(const weft_service_t *s);

/*
 * Adds child as the last child of parent (Twisted's setServiceParent / addService); parent
 * takes ownership of child. If parent is running, child is started now; if that fails the
 * child is taken out again and stays the caller's, stopped: a multi child whose start failed
 * partway is stopped, which stops the children it started (free it once
 * weft_service_is_stopping is false). Thread: loop.
 * Returns: 0; WEFT_EINVAL if parent is not a multi service, child is parent or one of its
 * ancestors; WEFT_EBUSY if child already has a parent or is stopping; WEFT_EEXIST if parent
 * already has a child of that name; WEFT_ENOMEM; child's start error.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_service_add(weft_service_t *parent, weft_service_t *child);

/*
 * Takes child out of its parent (Twisted's disownServiceParent / removeService); ownership
 * goes back to the caller. If the parent is running and child is running, child is stopped:
 * done (if not NULL) receives an owned reference to its stop deferred, as weft_service_stop
 * gives; otherwise *done is set to NULL. Thread: loop.
 * Returns: 0; WEFT_EINVAL if child has no parent; WEFT_EBUSY while the parent is stopping
 * (its stop deferred waits for this child), also from inside a child's stop called by the
 * parent's.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_service_remove(weft_service_t *child, weft_deferred_t **done);

/* The child of parent named name, or NULL (Twisted's getServiceNamed). Borrowed. Thread:
 * loop. */
WEFT_EXPORT weft_service_t *weft_service_get_child(const weft_service_t *parent, const char *name);

/* The number of children (0 for a service that is not a multi service). Thread: loop. */
WEFT_EXPORT size_t weft_service_child_count(const weft_service_t *parent);

/* The i-th child in the order they were added, or NULL past the end. Borrowed. Thread: loop. */
WEFT_EXPORT weft_service_t *weft_service_child_at(const weft_service_t *parent, size_t i);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REACTOR_APP_SERVICE_H */
