/* SPDX-License-Identifier: MIT */
/* A weft plugin: says hello every interval, as a TimerService. Run it with
 *     weft-run --plugin-dir DIR hello --target you --interval 0.5 --count 3
 * Build: cc -shared -fPIC $(pkg-config --cflags weft) -o hello.so hello.c   (no -lweft: the
 * program that loads it, weft-run, provides weft), and put hello.plugin beside hello.so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

typedef struct {
    weft_reactor_t *r;
    char greeting[64];
    char target[64];
    unsigned long count, said;
} hello_t;

static weft_result_t say_hello(void *arg)
{
    hello_t *h = arg;
    h->said++;
    printf("%s, %s (%lu)\n", h->greeting, h->target, h->said);
    fflush(stdout);
    if (h->count > 0 && h->said >= h->count)
        (void)weft_reactor_stop(h->r); /* a graceful stop: the services stop, exit code 0 */
    return weft_ok(NULL, NULL);
}

/* The state lives in a service of its own, so that freeing the tree frees it. */
static void hello_free(weft_service_t *s)
{
    free(weft_service_get_data(s));
}

static const weft_service_ops_t state_ops = {.free = hello_free};

/* Frees a service that never started (free cannot refuse then). */
static void discard(weft_service_t *s)
{
    int rc = weft_service_free(s);
    (void)rc;
}

static weft_service_t *make_hello(weft_reactor_t *r, const weft_config_t *cfg, void *arg, int *err)
{
    (void)arg;
    double interval = 1.0, count = 0;
    if (weft_config_get_double(cfg, "hello", "interval", &interval) != 0 || interval <= 0 ||
        weft_config_get_double(cfg, "hello", "count", &count) != 0 || count < 0) {
        fprintf(stderr, "hello: --interval takes seconds above 0, --count a number\n");
        *err = WEFT_EINVAL;
        return NULL;
    }
    hello_t *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        *err = WEFT_ENOMEM;
        return NULL;
    }
    h->r = r;
    h->count = (unsigned long)count;
    snprintf(h->greeting, sizeof(h->greeting), "%s", weft_config_get(cfg, "hello", "greeting"));
    snprintf(h->target, sizeof(h->target), "%s", weft_config_get(cfg, "hello", "target"));
    weft_service_t *state = weft_service_new(r, "state", &state_ops, h, err);
    if (state == NULL) {
        free(h);
        return NULL;
    }
    /* From here on h belongs to state, and state to root once added. */
    weft_service_t *root = weft_multi_service_new(r, "hello", err);
    if (root == NULL || (*err = weft_service_add(root, state)) != 0) {
        discard(state);
        discard(root);
        return NULL;
    }
    weft_service_t *timer = weft_timer_service_new(r, "greeter", interval, say_hello, h, err);
    if (timer == NULL || (*err = weft_service_add(root, timer)) != 0) {
        discard(timer);
        discard(root);
        return NULL;
    }
    return root;
}

static const weft_app_option_t hello_options[] = {
    {"greeting", "what to say", "hello"},
    {"target", "whom to greet", "world"},
    {"interval", "seconds between greetings", "1"},
    {"count", "stop after this many greetings (0: never)", "0"},
    {NULL, NULL, NULL},
};

WEFT_PLUGIN_DEFINE(.name = "hello", .description = "says hello every interval",
                   .options = hello_options, .make_service = make_hello);
