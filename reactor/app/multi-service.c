/* SPDX-License-Identifier: MIT */
/* MultiService: start the children in order, stop them in reverse, gather every stop. */

/*
 * Design. Stopping calls weft_service_stop on each running child from the last to the first,
 * without waiting between them (Twisted), and puts their stop deferreds, in child order, into
 * a DeferredList with WEFT_DL_CONSUME_ERRORS: the list fires once every child has stopped, and
 * cancelling it cancels the children still stopping. `gathered` turns the list's outcomes into
 * the multi service's result: NULL when every child stopped cleanly, else one
 * weft.ServiceError naming each child that failed (each failure is also logged with the
 * child's name, so that none is lost even when the message is cut).
 */
#include <stdio.h>
#include <string.h>

#include <weft/defer-util.h>
#include <weft/error.h>
#include <weft/log.h>

#include "../../common/alloc-internal.h"
#include "service-internal.h"

#define MESSAGE_MAX 2048

static const char *label(const char *name)
{
    return name != NULL ? name : "(unnamed)";
}

static int multi_start(weft_service_t *s)
{
    /* A child's start may stop s, or add or remove children (itself included): so each turn
     * looks again for the first stopped child this start has not tried yet, and the loop ends
     * as soon as s is no longer running (its stop has already stopped the children started). */
    unsigned pass = ++s->start_pass;
    while (s->running) {
        weft_service_t *c = NULL;
        for (size_t i = 0; i < s->nchildren && c == NULL; i++) {
            weft_service_t *x = s->children[i];
            if (x->tried_in != pass && !x->running && x->stopping == NULL)
                c = x;
        }
        if (c == NULL)
            break;
        c->tried_in = pass;
        int rc = weft_service_start(c);
        if (rc != 0) {
            weft_log_field_t f[] = {{"service", label(c->name)}};
            weft_log_with(WEFT_LOG_ERROR, "service", f, 1, "service %s failed to start: %s",
                          label(c->name), weft_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* What `gathered` needs: the children's names, in list order. */
typedef struct {
    size_t n;
    char *multi_name;
    char **names;
} gather_t;

static void gather_free(gather_t *g)
{
    for (size_t i = 0; i < g->n; i++)
        weft__free(g->names[i]);
    weft__free(g->names);
    weft__free(g->multi_name);
    weft__free(g);
}

static void append(char *buf, size_t *len, const char *text)
{
    size_t room = MESSAGE_MAX - *len;
    int w = snprintf(buf + *len, room, "%s", text);
    *len += (size_t)w < room ? (size_t)w : room - 1;
}

static weft_result_t gathered(weft_result_t result, void *arg)
{
    gather_t *g = arg;
    if (result.kind != WEFT_RESULT_VALUE) {
        /* The list itself failed (cancelled while a child's canceller refused). */
        gather_free(g);
        return result;
    }
    weft_dl_result_t *dl = result.value;
    size_t failed = 0;
    for (size_t i = 0; i < dl->count; i++)
        failed += dl->entries[i].state == WEFT_DL_FAILURE;
    if (failed == 0) {
        weft_result_free(result);
        gather_free(g);
        return weft_ok(NULL, NULL);
    }
    char *msg = weft__malloc(MESSAGE_MAX);
    size_t len = 0;
    weft_failure_t *first = NULL;
    if (msg != NULL) {
        char head[160];
        snprintf(head, sizeof(head), "%zu of %zu services of %s failed to stop: ", failed,
                 dl->count, label(g->multi_name));
        msg[0] = '\0';
        append(msg, &len, head);
    }
    size_t listed = 0;
    for (size_t i = 0; i < dl->count; i++) {
        weft_dl_entry_t *e = &dl->entries[i];
        if (e->state != WEFT_DL_FAILURE)
            continue;
        char text[512];
        weft_failure_format(e->failure, text, sizeof(text));
        weft_log_field_t f[] = {{"service", label(g->names[i])}};
        weft_log_with(WEFT_LOG_WARN, "service", f, 1, "service %s failed to stop: %s",
                      label(g->names[i]), text);
        if (msg != NULL) {
            append(msg, &len, listed++ ? "; " : "");
            append(msg, &len, label(g->names[i]));
            append(msg, &len, ": ");
            append(msg, &len, text);
        }
        if (first == NULL) {
            first = e->failure;
            e->failure = NULL;
        }
    }
    int code = weft_failure_code(first);
    weft_failure_t *f = weft_failure_new(&weft_service_error_type, code, msg);
    weft__free(msg);
    if (weft_failure_set_cause(f, first) != 0)
        weft_log(WEFT_LOG_ERROR, "service", "out of memory: a stop failure lost its cause");
    weft_result_free(result);
    gather_free(g);
    return weft_fail(f);
}

static weft_result_t multi_stop(weft_service_t *s)
{
    size_t n = s->nchildren;
    weft_deferred_t **ds = weft__calloc(n ? n : 1, sizeof(*ds));
    gather_t *g = weft__calloc(1, sizeof(*g));
    char **names = weft__calloc(n ? n : 1, sizeof(*names));
    if (ds == NULL || g == NULL || names == NULL) {
        weft__free(ds);
        weft__free(g);
        weft__free(names);
        return weft_fail_new(&weft_memory_error_type, WEFT_ENOMEM, "out of memory");
    }
    g->names = names;
    /* In reverse order, all at once. */
    for (size_t i = n; i-- > 0;) {
        weft_service_t *c = s->children[i];
        if (c->running) {
            int rc = weft_service_stop(c, &ds[i]);
            if (rc != 0) {
                ds[i] = weft_deferred_fail(
                    weft_failure_new(&weft_service_error_type, rc, weft_strerror(rc)));
            }
        } else if (c->stopping != NULL) {
            ds[i] = weft_deferred_ref(c->stopping);
        }
    }
    /* Compact to the children that are stopping, keeping child order. */
    size_t m = 0;
    bool oom = false;
    for (size_t i = 0; i < n; i++) {
        if (ds[i] == NULL)
            continue;
        const char *name = s->children[i]->name;
        names[m] = name != NULL ? weft__strdup(name) : NULL;
        oom |= name != NULL && names[m] == NULL;
        ds[m++] = ds[i];
    }
    g->n = m;
    if (s->name != NULL && (g->multi_name = weft__strdup(s->name)) == NULL)
        oom = true;
    int err = 0;
    weft_deferred_t *list =
        oom ? NULL : weft_deferred_list_new(ds, m, WEFT_DL_CONSUME_ERRORS, &err);
    for (size_t i = 0; i < m; i++)
        weft_deferred_unref(ds[i]); /* the list holds each until it fires */
    weft__free(ds);
    if (list == NULL) {
        gather_free(g);
        return weft_fail_new(&weft_memory_error_type, WEFT_ENOMEM, "out of memory");
    }
    if (weft_deferred_add_both(list, gathered, g) != 0) {
        gather_free(g);
        weft_deferred_unref(list);
        return weft_fail_new(&weft_memory_error_type, WEFT_ENOMEM, "out of memory");
    }
    return weft_wait_for(list);
}

const weft_service_ops_t weft__multi_service_ops = {
    .start = multi_start,
    .stop = multi_stop,
    .free = NULL,
};
