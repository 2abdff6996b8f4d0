/* SPDX-License-Identifier: MIT */
/* doc/guide.md, chapter 1: a reactor and a deferred. Prints two lines and exits 0. */
#include <stdio.h>

#include <weft.h>

typedef struct {
    weft_reactor_t *r;
    weft_deferred_t *d;
} hello_t;

/* A callback: takes the value it is given (and its free function) and returns the next. */
static weft_result_t greet(void *value, weft_free_fn free_fn, void *arg)
{
    (void)free_fn; /* NULL: a string literal needs no freeing */
    (void)arg;
    printf("hello, %s\n", (const char *)value);
    return weft_ok("greeted", NULL); /* the next callback's value */
}

static weft_result_t stop(void *value, weft_free_fn free_fn, void *arg)
{
    (void)free_fn;
    printf("then: %s\n", (const char *)value);
    (void)weft_reactor_stop(arg); /* run() returns once the shutdown is done */
    return weft_ok(NULL, NULL);
}

/* A delayed call: the producer fires the deferred, once, on the loop thread. */
static void fire(void *arg)
{
    hello_t *h = arg;
    if (weft_deferred_callback(h->d, "world", NULL) != 0)
        fprintf(stderr, "fired twice?\n");
}

int main(void)
{
    int err = 0;
    weft_reactor_t *r = weft_reactor_new(NULL, &err);
    if (r == NULL) {
        fprintf(stderr, "reactor: %s\n", weft_strerror(err));
        return 1;
    }
    hello_t h = {r, weft_deferred_new()};
    if (h.d == NULL || weft_deferred_add_callback(h.d, greet, NULL) != 0 ||
        weft_deferred_add_callback(h.d, stop, r) != 0 ||
        weft_reactor_call_later(r, 0.01, fire, &h, NULL) != 0)
        return 1;
    if (weft_reactor_run(r) != 0)
        return 1;
    weft_deferred_unref(h.d); /* our reference, from weft_deferred_new */
    return weft_reactor_free(r) == 0 ? 0 : 1;
}
