/* SPDX-License-Identifier: MIT */
/* The intrusive list of common/list-internal.h. */
#include "../common/list-internal.h"

#include "tap.h"

typedef struct {
    int value;
    weft__list_t link;
} item_t;

static void test_fifo(void)
{
    weft__list_t head;
    weft__list_init(&head);
    check(weft__list_is_empty(&head));
    item_t items[4];
    for (int i = 0; i < 4; i++) {
        items[i].value = i;
        weft__list_push_tail(&head, &items[i].link);
    }
    check_uint(weft__list_count(&head), ==, 4);
    for (int i = 0; i < 4; i++) {
        weft__list_t *n = weft__list_pop_head(&head);
        if (!check_ptr(n, !=, NULL))
            return;
        check_int(weft__list_entry(n, item_t, link)->value, ==, i);
        check(!weft__list_is_linked(n));
    }
    check_ptr(weft__list_pop_head(&head), ==, NULL);
}

static void test_lifo(void)
{
    weft__list_t head;
    weft__list_init(&head);
    item_t items[3];
    for (int i = 0; i < 3; i++) {
        items[i].value = i;
        weft__list_push_head(&head, &items[i].link);
    }
    for (int i = 2; i >= 0; i--)
        check_int(weft__list_entry(weft__list_pop_head(&head), item_t, link)->value, ==, i);
}

static void test_remove_twice(void)
{
    weft__list_t head;
    weft__list_init(&head);
    item_t a = {1, {0}}, b = {2, {0}};
    weft__list_push_tail(&head, &a.link);
    weft__list_push_tail(&head, &b.link);
    weft__list_remove(&a.link);
    weft__list_remove(&a.link); /* unlinked: must not corrupt the list */
    check_uint(weft__list_count(&head), ==, 1);
    check_int(weft__list_entry(head.next, item_t, link)->value, ==, 2);
}

static void test_splice(void)
{
    weft__list_t a, b, empty;
    weft__list_init(&a);
    weft__list_init(&b);
    weft__list_init(&empty);
    item_t items[5];
    for (int i = 0; i < 5; i++) {
        items[i].value = i;
        weft__list_push_tail(i < 2 ? &a : &b, &items[i].link);
    }
    weft__list_splice_tail(&a, &b);
    weft__list_splice_tail(&a, &empty);
    check(weft__list_is_empty(&b));
    check_uint(weft__list_count(&a), ==, 5);
    int want = 0;
    weft__list_t *pos;
    weft__list_foreach(pos, &a)
    {
        check_int(weft__list_entry(pos, item_t, link)->value, ==, want++);
    }
}

static void test_safe_iteration(void)
{
    weft__list_t head;
    weft__list_init(&head);
    item_t items[6];
    for (int i = 0; i < 6; i++) {
        items[i].value = i;
        weft__list_push_tail(&head, &items[i].link);
    }
    weft__list_t *pos, *tmp;
    weft__list_foreach_safe(pos, tmp, &head)
    {
        if (weft__list_entry(pos, item_t, link)->value % 2 == 0)
            weft__list_remove(pos);
    }
    check_uint(weft__list_count(&head), ==, 3);
    int want = 1;
    weft__list_foreach(pos, &head)
    {
        check_int(weft__list_entry(pos, item_t, link)->value, ==, want);
        want += 2;
    }
}

int main(void)
{
    TEST(test_fifo(), "push_tail then pop_head gives FIFO order and unlinks each node");
    TEST(test_lifo(), "push_head then pop_head gives LIFO order");
    TEST(test_remove_twice(), "removing an already removed node leaves the list intact");
    TEST(test_splice(), "splice_tail moves every node in order and empties the source");
    TEST(test_safe_iteration(), "foreach_safe allows removing the current node");
    return done_testing();
}
