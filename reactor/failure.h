/* SPDX-License-Identifier: MIT */
/* Failures: weft's exceptions. A type (a static descriptor with a parent), a code, a message. */
#ifndef WEFT_REACTOR_FAILURE_H
#define WEFT_REACTOR_FAILURE_H

#include <stdbool.h>
#include <stddef.h>

#include <weft/compiler.h>
#include <weft/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A failure is what travels down a deferred's error path, as Twisted's Failure does: a type, an
 * integer code (a WEFT_E... code or the user's own), a message, and an optional cause (another
 * failure, owned by this one). Failures are plain owned objects, never shared: a failure has
 * one owner at a time, and ownership moves with it through a chain.
 *
 * Failure types stand in for exception classes. A type is a static descriptor with a dotted
 * name and a parent; types are compared by address, and weft_failure_check walks the parent
 * links, so a user's hierarchy works as a Python one does:
 *
 *     WEFT_FAILURE_TYPE(myapp_error, "myapp.Error", &weft_error_type);
 *     WEFT_FAILURE_TYPE(myapp_db_error, "myapp.DbError", &myapp_error);
 *
 * The descriptor struct is public because users define their own types with that macro; its
 * fields are read-only and weft never changes them. Every type's ancestry ends at
 * weft_error_type ("weft.Error") or at a user root with a NULL parent.
 */
typedef struct weft_failure_type_s {
    const char *name;                         /* dotted, e.g. "weft.CancelledError" */
    const struct weft_failure_type_s *parent; /* NULL only for a root */
} weft_failure_type_t;

/* Defines a failure type `ident` named `dotted` whose parent is `parent_ptr` (a pointer to
 * another type, or NULL for a new root). Use at file scope; add `static` in front for a type
 * private to one file. Declare it elsewhere with WEFT_FAILURE_TYPE_DECLARE(ident). */
#define WEFT_FAILURE_TYPE(ident, dotted, parent_ptr)                                               \
    const weft_failure_type_t ident = {.name = (dotted), .parent = (parent_ptr)}
#define WEFT_FAILURE_TYPE_DECLARE(ident) extern const weft_failure_type_t ident

/* The built-in types. weft.Error is the root of all of them. */
WEFT_EXPORT extern const weft_failure_type_t weft_error_type;           /* weft.Error */
WEFT_EXPORT extern const weft_failure_type_t weft_cancelled_error_type; /* weft.CancelledError */
WEFT_EXPORT extern const weft_failure_type_t weft_timeout_error_type;   /* weft.TimeoutError */
/* weft.AlreadyCalledError: a deferred fired twice (or from its own callback). */
WEFT_EXPORT extern const weft_failure_type_t weft_already_called_error_type;
/* weft.FirstError: a DeferredList or gather_results input failed; see weft_failure_first_error. */
WEFT_EXPORT extern const weft_failure_type_t weft_first_error_type;
WEFT_EXPORT extern const weft_failure_type_t weft_queue_overflow_type;  /* weft.QueueOverflow */
WEFT_EXPORT extern const weft_failure_type_t weft_queue_underflow_type; /* weft.QueueUnderflow */
/* weft.MemoryError: what a failure constructor returns when it cannot allocate. */
WEFT_EXPORT extern const weft_failure_type_t weft_memory_error_type;
/* weft.OverloadError: a bounded queue or pool refused work (code WEFT_EOVERLOAD). */
WEFT_EXPORT extern const weft_failure_type_t weft_overload_error_type;
/* weft.ClosedError: the pool, reactor or service is shutting down (code WEFT_ECLOSED). */
WEFT_EXPORT extern const weft_failure_type_t weft_closed_error_type;
/* weft.SystemError: a failed system or libuv call; the code is the negative errno. */
WEFT_EXPORT extern const weft_failure_type_t weft_system_error_type;
/* weft.ConnectionLost (parent weft.Error) and weft.ConnectionDone (a clean close; its parent
 * is weft.ConnectionLost, as in Twisted). weft.ConnectionRefused's parent is weft.Error. */
WEFT_EXPORT extern const weft_failure_type_t weft_connection_lost_type;
WEFT_EXPORT extern const weft_failure_type_t weft_connection_done_type;
WEFT_EXPORT extern const weft_failure_type_t weft_connection_refused_type;

/* A failure. Opaque; read it with the accessors below. */
typedef struct weft_failure_s weft_failure_t;

/*
 * Makes a failure of type (NULL means weft_error_type) with code and a copy of message (NULL
 * means the type's name).
 * Ownership: returns an owned failure; release it with weft_failure_free or hand it on.
 * Never returns NULL: when memory runs out it returns a shared static weft.MemoryError failure
 * (code WEFT_ENOMEM) that weft_failure_free accepts and ignores, so error paths need no error
 * path of their own.
 * Thread: any (a failure itself belongs to one thread at a time).
 */
WEFT_EXPORT WEFT_NODISCARD weft_failure_t *weft_failure_new(const weft_failure_type_t *type,
                                                            int code, const char *message);

/* As weft_failure_new, with a printf-formatted message (cut at 1 KiB). Thread: any. */
WEFT_EXPORT WEFT_NODISCARD weft_failure_t *weft_failure_newf(const weft_failure_type_t *type,
                                                             int code, const char *fmt, ...)
    WEFT_PRINTF(3, 4);

/*
 * Makes a failure from a weft error code, picking the type that fits it: WEFT_ECANCELED gives
 * weft.CancelledError, WEFT_ETIMEDOUT weft.TimeoutError, WEFT_EALREADY weft.AlreadyCalledError,
 * WEFT_EOVERLOAD weft.OverloadError, WEFT_ECLOSED weft.ClosedError, WEFT_ENOMEM weft.MemoryError,
 * WEFT_ECONNREFUSED weft.ConnectionRefused, WEFT_ECONNRESET/WEFT_ECONNABORTED/WEFT_EPIPE
 * weft.ConnectionLost, WEFT_EEOF weft.ConnectionDone, any other code weft.SystemError. message
 * NULL means weft_strerror(code). Ownership and NULL as for weft_failure_new. Thread: any.
 */
WEFT_EXPORT WEFT_NODISCARD weft_failure_t *weft_failure_from_code(int code, const char *message);

/*
 * Makes a weft.FirstError failure saying that input number index failed with sub.
 * Ownership: takes sub (which becomes the failure's cause), returns an owned failure.
 * Thread: any.
 */
WEFT_EXPORT WEFT_NODISCARD weft_failure_t *weft_failure_first_error(weft_failure_t *sub,
                                                                    size_t index);

/*
 * Frees f and its whole cause chain. weft_failure_free(NULL) does nothing, and so does freeing
 * the static out-of-memory failure. Thread: the failure's owner.
 */
WEFT_EXPORT void weft_failure_free(weft_failure_t *f);

/* weft_failure_free with the signature of a weft_free_fn (void *). Thread: the owner. */
WEFT_EXPORT void weft_failure_free_fn(void *f);

/*
 * Makes a deep copy of f (cause chain included); NULL for NULL.
 * Ownership: borrows f; returns an owned failure (not NULL for a failure: out of memory gives
 * the static weft.MemoryError failure, as for weft_failure_new).
 * Thread: the failure's owner.
 */
WEFT_EXPORT WEFT_NODISCARD weft_failure_t *weft_failure_copy(const weft_failure_t *f);

/*
 * Attaches cause as f's cause, freeing any earlier cause. Ownership: borrows f, takes cause.
 * Thread: the owner.
 * Returns: 0; WEFT_EINVAL if f is NULL (cause is freed), or if cause is f, is already in f's
 * chain or has f in its own chain (a cycle: nothing is freed or changed); WEFT_ENOMEM if f is the
 * static out-of-memory failure (cause is freed).
 */
WEFT_EXPORT WEFT_NODISCARD int weft_failure_set_cause(weft_failure_t *f, weft_failure_t *cause);

/*
 * Detaches f's cause and returns it (NULL if none). For a weft.FirstError this is the input's
 * own failure (Twisted's subFailure). Ownership: borrows f; returns the owned cause.
 * Thread: the owner.
 */
WEFT_EXPORT WEFT_NODISCARD weft_failure_t *weft_failure_take_cause(weft_failure_t *f);

/* Accessors. Each borrows f; strings and the cause stay valid until f is freed or changed.
 * Thread: the owner. */
WEFT_EXPORT const weft_failure_type_t *weft_failure_type(const weft_failure_t *f);
WEFT_EXPORT int weft_failure_code(const weft_failure_t *f);
WEFT_EXPORT const char *weft_failure_message(const weft_failure_t *f);
WEFT_EXPORT const weft_failure_t *weft_failure_cause(const weft_failure_t *f);
/* For a weft.FirstError: the index of the input that failed; 0 for other types. */
WEFT_EXPORT size_t weft_failure_index(const weft_failure_t *f);

/* True when type is t or one of t's descendants (walks type's parent links). Thread: any. */
WEFT_EXPORT bool weft_failure_type_is(const weft_failure_type_t *type,
                                      const weft_failure_type_t *t);

/*
 * Failure.check: returns the first of the n types in types that f's type is, or descends
 * from; NULL when none matches (or f is NULL). Borrows everything. Thread: the owner.
 * The weft_failure_check(f, ...) macro takes the types as arguments:
 *
 *     if (weft_failure_check(f, &weft_cancelled_error_type, &weft_timeout_error_type)) ...
 */
WEFT_EXPORT const weft_failure_type_t *
weft_failure_check_array(const weft_failure_t *f, const weft_failure_type_t *const *types,
                         size_t n);
#define weft_failure_check(f, ...)                                                                 \
    weft_failure_check_array((f), (const weft_failure_type_t *const[]){__VA_ARGS__},               \
                             sizeof((const weft_failure_type_t *const[]){__VA_ARGS__}) /           \
                                 sizeof(const weft_failure_type_t *))

/* True when f is of type t or a descendant of it. Thread: the owner. */
WEFT_EXPORT bool weft_failure_is(const weft_failure_t *f, const weft_failure_type_t *t);

/*
 * Formats f and its cause chain as one line, like Twisted's brief traceback:
 *     myapp.DbError: connect failed [WEFT_ECONNREFUSED]; caused by: weft.SystemError: ...
 * into buf (always NUL-terminated when size > 0, cut to size). Returns the length the whole
 * text needs, as snprintf does. Borrows f. Thread: the owner.
 */
WEFT_EXPORT size_t weft_failure_format(const weft_failure_t *f, char *buf, size_t size);

/*
 * Trap, for errbacks (Twisted's failure.trap): deferred.h's WEFT_TRAP(f, types...) statement
 * returns f unchanged from the errback when none of the types match, so the failure keeps
 * travelling down the error path; when one matches, the errback goes on and handles it.
 */

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REACTOR_FAILURE_H */
