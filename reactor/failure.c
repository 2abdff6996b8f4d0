/* SPDX-License-Identifier: MIT */
/* Failures: construction, the cause chain, check, format and the built-in types. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <weft/failure.h>

#include "../common/alloc-internal.h"

/*
 * A failure owns its message and its cause. Cause chains are walked with loops, never by
 * recursion, so a long chain cannot overflow the stack when it is freed, copied or formatted.
 * The one static failure (out of memory) has is_static set: free ignores it, set_cause refuses.
 */
struct weft_failure_s {
    const weft_failure_type_t *type;
    int code;
    bool is_static;
    char *message;
    weft_failure_t *cause;
    size_t index; /* weft.FirstError only */
};

WEFT_FAILURE_TYPE(weft_error_type, "weft.Error", NULL);
WEFT_FAILURE_TYPE(weft_cancelled_error_type, "weft.CancelledError", &weft_error_type);
WEFT_FAILURE_TYPE(weft_timeout_error_type, "weft.TimeoutError", &weft_error_type);
WEFT_FAILURE_TYPE(weft_already_called_error_type, "weft.AlreadyCalledError", &weft_error_type);
WEFT_FAILURE_TYPE(weft_first_error_type, "weft.FirstError", &weft_error_type);
WEFT_FAILURE_TYPE(weft_queue_overflow_type, "weft.QueueOverflow", &weft_error_type);
WEFT_FAILURE_TYPE(weft_queue_underflow_type, "weft.QueueUnderflow", &weft_error_type);
WEFT_FAILURE_TYPE(weft_memory_error_type, "weft.MemoryError", &weft_error_type);
WEFT_FAILURE_TYPE(weft_overload_error_type, "weft.OverloadError", &weft_error_type);
WEFT_FAILURE_TYPE(weft_closed_error_type, "weft.ClosedError", &weft_error_type);
WEFT_FAILURE_TYPE(weft_system_error_type, "weft.SystemError", &weft_error_type);
WEFT_FAILURE_TYPE(weft_connection_lost_type, "weft.ConnectionLost", &weft_error_type);
WEFT_FAILURE_TYPE(weft_connection_done_type, "weft.ConnectionDone", &weft_connection_lost_type);
WEFT_FAILURE_TYPE(weft_connection_refused_type, "weft.ConnectionRefused", &weft_error_type);

static weft_failure_t oom_failure = {
    .type = &weft_memory_error_type,
    .code = WEFT_ENOMEM,
    .is_static = true,
    .message = "out of memory",
};

weft_failure_t *weft_failure_new(const weft_failure_type_t *type, int code, const char *message)
{
    if (type == NULL)
        type = &weft_error_type;
    weft_failure_t *f = weft__malloc(sizeof(*f));
    if (f == NULL)
        return &oom_failure;
    f->message = weft__strdup(message != NULL ? message : type->name);
    if (f->message == NULL) {
        weft__free(f);
        return &oom_failure;
    }
    f->type = type;
    f->code = code;
    f->is_static = false;
    f->cause = NULL;
    f->index = 0;
    return f;
}

weft_failure_t *weft_failure_newf(const weft_failure_type_t *type, int code, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        snprintf(buf, sizeof(buf), "%s", fmt);
    return weft_failure_new(type, code, buf);
}

weft_failure_t *weft_failure_from_code(int code, const char *message)
{
    const weft_failure_type_t *type;
    switch (code) {
    case WEFT_ECANCELED:
        type = &weft_cancelled_error_type;
        break;
    case WEFT_ETIMEDOUT:
        type = &weft_timeout_error_type;
        break;
    case WEFT_EALREADY:
        type = &weft_already_called_error_type;
        break;
    case WEFT_EOVERLOAD:
        type = &weft_overload_error_type;
        break;
    case WEFT_ECLOSED:
        type = &weft_closed_error_type;
        break;
    case WEFT_ENOMEM:
        type = &weft_memory_error_type;
        break;
    case WEFT_ECONNREFUSED:
        type = &weft_connection_refused_type;
        break;
    case WEFT_ECONNRESET:
    case WEFT_ECONNABORTED:
    case WEFT_EPIPE:
        type = &weft_connection_lost_type;
        break;
    case WEFT_EEOF:
        type = &weft_connection_done_type;
        break;
    default:
        type = &weft_system_error_type;
        break;
    }
    return weft_failure_new(type, code, message != NULL ? message : weft_strerror(code));
}

weft_failure_t *weft_failure_first_error(weft_failure_t *sub, size_t index)
{
    weft_failure_t *f =
        weft_failure_newf(&weft_first_error_type, sub ? weft_failure_code(sub) : WEFT_EINVAL,
                          "input %zu failed", index);
    if (f->is_static) {
        weft_failure_free(sub);
        return f;
    }
    f->index = index;
    f->cause = sub;
    return f;
}

void weft_failure_free(weft_failure_t *f)
{
    while (f != NULL && !f->is_static) {
        weft_failure_t *next = f->cause;
        weft__free(f->message);
        weft__free(f);
        f = next;
    }
}

void weft_failure_free_fn(void *f)
{
    weft_failure_free(f);
}

weft_failure_t *weft_failure_copy(const weft_failure_t *f)
{
    if (f == NULL)
        return NULL;
    if (f->is_static)
        return &oom_failure;
    weft_failure_t *head = NULL, **tail = &head;
    for (const weft_failure_t *p = f; p != NULL; p = p->cause) {
        weft_failure_t *c =
            p->is_static ? &oom_failure : weft_failure_new(p->type, p->code, p->message);
        if (c->is_static) {
            /* Out of memory part way: end the copy with the static failure. */
            *tail = c;
            break;
        }
        c->index = p->index;
        *tail = c;
        tail = &c->cause;
    }
    return head;
}

int weft_failure_set_cause(weft_failure_t *f, weft_failure_t *cause)
{
    if (f == NULL) {
        weft_failure_free(cause);
        return WEFT_EINVAL;
    }
    for (const weft_failure_t *p = f; p != NULL; p = p->cause) {
        if (p == cause)
            return WEFT_EINVAL; /* in f's chain: f owns it already, so it is not freed */
    }
    for (const weft_failure_t *p = cause; p != NULL; p = p->cause) {
        if (p == f)
            return WEFT_EINVAL; /* cause contains f: a cycle; freeing cause would free f */
    }
    if (f->is_static) {
        weft_failure_free(cause);
        return WEFT_ENOMEM;
    }
    weft_failure_free(f->cause);
    f->cause = cause;
    return 0;
}

weft_failure_t *weft_failure_take_cause(weft_failure_t *f)
{
    if (f == NULL || f->is_static)
        return NULL;
    weft_failure_t *c = f->cause;
    f->cause = NULL;
    return c;
}

const weft_failure_type_t *weft_failure_type(const weft_failure_t *f)
{
    return f ? f->type : NULL;
}

int weft_failure_code(const weft_failure_t *f)
{
    return f ? f->code : 0;
}

const char *weft_failure_message(const weft_failure_t *f)
{
    return f ? f->message : NULL;
}

const weft_failure_t *weft_failure_cause(const weft_failure_t *f)
{
    return f ? f->cause : NULL;
}

size_t weft_failure_index(const weft_failure_t *f)
{
    return f ? f->index : 0;
}

bool weft_failure_type_is(const weft_failure_type_t *type, const weft_failure_type_t *t)
{
    for (; type != NULL; type = type->parent) {
        if (type == t)
            return true;
    }
    return false;
}

const weft_failure_type_t *
weft_failure_check_array(const weft_failure_t *f, const weft_failure_type_t *const *types, size_t n)
{
    if (f == NULL)
        return NULL;
    /* Twisted's order: the first argument that is among the failure's ancestors wins. */
    for (size_t i = 0; i < n; i++) {
        if (types[i] != NULL && weft_failure_type_is(f->type, types[i]))
            return types[i];
    }
    return NULL;
}

bool weft_failure_is(const weft_failure_t *f, const weft_failure_type_t *t)
{
    return f != NULL && weft_failure_type_is(f->type, t);
}

/* Appends s to buf at *len, keeping it NUL-terminated; *len counts what the whole text needs. */
static void put(char *buf, size_t size, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + 1 < size) {
        size_t room = size - *len - 1;
        size_t k = n < room ? n : room;
        memcpy(buf + *len, s, k);
        buf[*len + k] = '\0';
    }
    *len += n;
}

size_t weft_failure_format(const weft_failure_t *f, char *buf, size_t size)
{
    size_t len = 0;
    if (size > 0)
        buf[0] = '\0';
    if (f == NULL) {
        put(buf, size, &len, "(no failure)");
        return len;
    }
    for (const weft_failure_t *p = f; p != NULL; p = p->cause) {
        if (p != f)
            put(buf, size, &len, "; caused by: ");
        put(buf, size, &len, p->type->name);
        put(buf, size, &len, ": ");
        put(buf, size, &len, p->message);
        if (p->code != 0) {
            const char *name = weft_err_name(p->code);
            char num[32];
            if (strncmp(name, "WEFT_", 5) != 0) {
                snprintf(num, sizeof(num), "code %d", p->code);
                name = num;
            }
            put(buf, size, &len, " [");
            put(buf, size, &len, name);
            put(buf, size, &len, "]");
        }
    }
    return len;
}
