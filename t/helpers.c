/* SPDX-License-Identifier: MIT */
/* Helpers shared by weft's tests. */
#include <stdlib.h>

#include <uv.h>

#include <weft/error.h>

#include "helpers.h"
#include "tap.h"

weft_reactor_t *t_reactor(bool manual)
{
    weft_reactor_options_t opts;
    weft_reactor_options_init(&opts);
    opts.name = "test";
    opts.manual_clock = manual;
    opts.install_signal_handlers = false;
    int err = 0;
    weft_reactor_t *r = weft_reactor_new(&opts, &err);
    if (r == NULL)
        bail_out("weft_reactor_new: %s", weft_strerror(err));
    return r;
}

bool t_run_until(weft_reactor_t *r, const int *flag, unsigned limit)
{
    uv_loop_t *loop = weft_reactor_get_uv_loop(r);
    for (unsigned i = 0; i < limit && !*flag; i++)
        uv_run(loop, UV_RUN_ONCE);
    return *flag != 0;
}

void t_run_once(weft_reactor_t *r)
{
    uv_run(weft_reactor_get_uv_loop(r), UV_RUN_ONCE);
}

bool t_teardown(weft_reactor_t *r)
{
    return check_err(weft_reactor_free(r), 0);
}

bool t_under_valgrind(void)
{
    return getenv("WEFT_UNDER_VALGRIND") != NULL;
}
