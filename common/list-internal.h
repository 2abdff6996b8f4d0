/* SPDX-License-Identifier: MIT */
/* An intrusive, circular, doubly linked list: a node lives inside the object it links. */
#ifndef WEFT_COMMON_LIST_INTERNAL_H
#define WEFT_COMMON_LIST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A list head and a list node are the same type. An empty head points at itself; so does a
 * node that is in no list (after weft__list_init or weft__list_remove), which makes
 * weft__list_is_linked a cheap and exact test and removing an unlinked node harmless.
 * Nothing here allocates; the caller owns every node.
 */
typedef struct weft__list_s {
    struct weft__list_s *next;
    struct weft__list_s *prev;
} weft__list_t;

/* The object that contains the list node ptr as member field. */
#define weft__list_entry(ptr, type, field) ((type *)((char *)(ptr)-offsetof(type, field)))

/* Iterates over every node of head; the body must not unlink pos (use the _safe form). */
#define weft__list_foreach(pos, head)                                                              \
    for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)

/* Iterates with tmp holding the next node, so the body may unlink or free pos. */
#define weft__list_foreach_safe(pos, tmp, head)                                                    \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);                               \
         (pos) = (tmp), (tmp) = (pos)->next)

static inline void weft__list_init(weft__list_t *l)
{
    l->next = l;
    l->prev = l;
}

static inline bool weft__list_is_empty(const weft__list_t *head)
{
    return head->next == head;
}

/* True when node is in some list (as opposed to initialised or removed). */
static inline bool weft__list_is_linked(const weft__list_t *node)
{
    return node->next != node;
}

static inline void weft__list_insert_between(weft__list_t *node, weft__list_t *prev,
                                             weft__list_t *next)
{
    node->prev = prev;
    node->next = next;
    prev->next = node;
    next->prev = node;
}

/* Appends node at the tail of head (FIFO order with weft__list_pop_head). */
static inline void weft__list_push_tail(weft__list_t *head, weft__list_t *node)
{
    weft__list_insert_between(node, head->prev, head);
}

/* Inserts node at the front of head (LIFO order with weft__list_pop_head). */
static inline void weft__list_push_head(weft__list_t *head, weft__list_t *node)
{
    weft__list_insert_between(node, head, head->next);
}

/* Unlinks node from its list and leaves it self-linked; harmless on an unlinked node. */
static inline void weft__list_remove(weft__list_t *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    weft__list_init(node);
}

/* Unlinks and returns the first node, or NULL when head is empty. */
static inline weft__list_t *weft__list_pop_head(weft__list_t *head)
{
    if (weft__list_is_empty(head))
        return NULL;
    weft__list_t *node = head->next;
    weft__list_remove(node);
    return node;
}

/* Moves every node of from to the tail of to, in order, and leaves from empty. O(1). */
static inline void weft__list_splice_tail(weft__list_t *to, weft__list_t *from)
{
    if (weft__list_is_empty(from))
        return;
    from->next->prev = to->prev;
    to->prev->next = from->next;
    from->prev->next = to;
    to->prev = from->prev;
    weft__list_init(from);
}

/* Number of nodes in head; O(n), meant for tests and stats, not hot paths. */
static inline size_t weft__list_count(const weft__list_t *head)
{
    size_t n = 0;
    for (const weft__list_t *p = head->next; p != head; p = p->next)
        n++;
    return n;
}

#endif /* WEFT_COMMON_LIST_INTERNAL_H */
