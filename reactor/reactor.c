/* SPDX-License-Identifier: MIT */
/* The reactor's lifecycle: create (own or borrowed loop), run, stop, crash, free; signals,
 * foreign-loop embedding and loop health. */

/*
 * Design. A reactor owns a fixed set of libuv handles: the delayed-call timer and the
 * call_soon idle (time.c), the thread-call async (thread-calls.c), a prepare handle that
 * counts iterations, and three signal handles. On its own loop the async stays referenced, so
 * weft_reactor_run keeps going until uv_stop; on a borrowed loop every weft handle that is
 * not doing work is unreferenced, so weft never keeps the caller's loop alive.
 *
 * A stop is requested with a flag and the async (no allocation, so it cannot fail); the next
 * async callback refuses further thread calls, runs the accepted ones and stops the loop.
 * Releasing closes every handle; the memory goes back when the last close callback runs:
 * inside weft_reactor_free on an owned loop, at the caller's next uv_run on a borrowed one.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include <weft/error.h>

#include "../common/alloc-internal.h"
#include "reactor-internal.h"

enum {
    H_TIMER = 1 << 0,
    H_IDLE = 1 << 1,
    H_PREPARE = 1 << 2,
    H_ASYNC = 1 << 3,
    H_SIGINT = 1 << 4,
    H_SIGTERM = 1 << 5,
    H_SIGHUP = 1 << 6,
    H_SPIN = 1 << 7,
};

void weft__reactor_log(const weft_reactor_t *r, weft_log_level_t level, const char *fmt, ...)
{
    if (!weft_log_enabled(level, "reactor"))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    weft_log_field_t f[] = {{"reactor", r->name}};
    weft_log_with(level, "reactor", f, 1, "%s", msg);
}

#ifdef WEFT_DEBUG
void weft__wrong_thread(const char *func)
{
    fprintf(stderr, "weft: %s called from a thread that is not its reactor's loop thread\n", func);
    fflush(stderr);
    abort();
}
#endif

void weft_reactor_options_init(weft_reactor_options_t *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->name = "main";
    opts->install_signal_handlers = true;
    opts->thread_calls_per_tick = 1024;
    opts->shutdown_deadline = 30.0;
}

/* ---------------------------------------------------------------- release */

static void release_memory(weft_reactor_t *r)
{
    weft__time_release(r);
    weft__thread_calls_release(r);
    weft__free(r->net_read_buf);
    weft__free(r->net_cork);
    weft__free(r);
}

static void on_closed(uv_handle_t *h)
{
    weft_reactor_t *r = h->data;
    if (--r->closing == 0 && r->borrowed)
        release_memory(r);
}

/* Closes the handles in mask; frees r once they are closed (at once on an owned loop). */
static void teardown(weft_reactor_t *r, unsigned mask)
{
    uv_handle_t *handles[] = {
        (uv_handle_t *)&r->timer,  (uv_handle_t *)&r->soon_idle, (uv_handle_t *)&r->prepare,
        (uv_handle_t *)&r->async,  (uv_handle_t *)&r->sigint,    (uv_handle_t *)&r->sigterm,
        (uv_handle_t *)&r->sighup, (uv_handle_t *)&r->spin_idle,
    };
    r->closing = 1; /* held until every close is issued */
    for (size_t i = 0; i < sizeof(handles) / sizeof(handles[0]); i++) {
        if (mask & (1u << i)) {
            handles[i]->data = r;
            r->closing++;
            uv_close(handles[i], on_closed);
        }
    }
    bool borrowed = r->borrowed;
    uv_loop_t *loop = r->loop;
    if (--r->closing == 0) {
        /* Nothing to wait for. */
        if (!borrowed) {
            uv_loop_close(loop);
        }
        release_memory(r);
        return;
    }
    if (!borrowed) {
        while (r->closing > 0)
            uv_run(loop, UV_RUN_ONCE);
        int rc = uv_loop_close(loop);
        WEFT_ASSERT(rc == 0); /* free checked that nothing else is open */
        release_memory(r);
    }
}

/* ---------------------------------------------------------------- create */

static void on_prepare(uv_prepare_t *h)
{
    weft_reactor_t *r = h->data;
    r->stats.iterations++;
    if (r->tick_callbacks > r->stats.max_callbacks_per_tick)
        r->stats.max_callbacks_per_tick = r->tick_callbacks;
    r->tick_callbacks = 0;
    if (r->rearm_timer)
        weft__time_arm(r); /* a call left due by on_timer: the poll now returns at once */
}

static void on_async(uv_async_t *h);

static weft_reactor_t *create(uv_loop_t *loop, const weft_reactor_options_t *opts, int *err)
{
    weft_reactor_options_t defaults;
    if (opts == NULL) {
        weft_reactor_options_init(&defaults);
        if (loop != NULL)
            defaults.install_signal_handlers = false;
        opts = &defaults;
    }
    int rc = 0;
    if (opts->thread_calls_per_tick == 0 || !(opts->shutdown_deadline >= 0)) {
        rc = WEFT_EINVAL;
        goto fail;
    }
    weft_reactor_t *r = weft__calloc(1, sizeof(*r));
    if (r == NULL) {
        rc = WEFT_ENOMEM;
        goto fail;
    }
    if ((rc = -pthread_mutex_init(&r->tc_lock, NULL)) != 0) {
        weft__free(r);
        goto fail;
    }
    snprintf(r->name, sizeof(r->name), "%s", opts->name ? opts->name : "main");
    r->manual_clock = opts->manual_clock;
    r->install_signals = opts->install_signal_handlers;
    r->thread_calls_per_tick = opts->thread_calls_per_tick;
    r->timer_slack_ns = opts->timer_slack_ns;
    r->shutdown_deadline = opts->shutdown_deadline;
    weft__events_init(r);
    weft__reactor_set_loop_thread(r);
    if (loop != NULL) {
        r->loop = loop;
        r->borrowed = true;
    } else {
        rc = uv_loop_init(&r->own_loop);
        if (rc != 0) {
            release_memory(r);
            goto fail;
        }
        r->loop = &r->own_loop;
    }
    unsigned made = 0;
    if ((rc = weft__time_init(r)) != 0)
        goto fail_handles;
    made |= H_TIMER | H_IDLE;
    if ((rc = weft__thread_calls_init(r)) != 0)
        goto fail_handles;
    made |= H_ASYNC;
    /* thread-calls.c set the async callback; the reactor's own callback wraps it. */
    r->async.async_cb = on_async;
    if ((rc = uv_prepare_init(r->loop, &r->prepare)) != 0)
        goto fail_handles;
    made |= H_PREPARE;
    r->prepare.data = r;
    uv_prepare_start(&r->prepare, on_prepare);
    uv_unref((uv_handle_t *)&r->prepare);
    if ((rc = uv_signal_init(r->loop, &r->sigint)) != 0)
        goto fail_handles;
    made |= H_SIGINT;
    if ((rc = uv_signal_init(r->loop, &r->sigterm)) != 0)
        goto fail_handles;
    made |= H_SIGTERM;
    if ((rc = uv_signal_init(r->loop, &r->sighup)) != 0)
        goto fail_handles;
    made |= H_SIGHUP;
    if ((rc = uv_idle_init(r->loop, &r->spin_idle)) != 0)
        goto fail_handles;
    made |= H_SPIN;
    r->spin_idle.data = r;
    uv_unref((uv_handle_t *)&r->spin_idle);
    r->sigint.data = r->sigterm.data = r->sighup.data = r;
    if (r->borrowed) {
        /* The async is active for life: on a borrowed loop it keeps the caller's uv_run going
         * only while weft expects a thread call (weft__reactor_hold). The idle handle is
         * active only while call_soon calls wait, so it stays referenced. */
        uv_unref((uv_handle_t *)&r->async);
    }
    if (err != NULL)
        *err = 0;
    return r;

fail_handles:
    teardown(r, made);
fail:
    if (err != NULL)
        *err = rc;
    return NULL;
}

weft_reactor_t *weft_reactor_new(const weft_reactor_options_t *opts, int *err)
{
    return create(NULL, opts, err);
}

weft_reactor_t *weft_reactor_new_from_uv(uv_loop_t *loop, const weft_reactor_options_t *opts,
                                         int *err)
{
    if (loop == NULL) {
        if (err != NULL)
            *err = WEFT_EINVAL;
        return NULL;
    }
    return create(loop, opts, err);
}

/* ---------------------------------------------------------------- run and stop */

void weft__reactor_shutdown_done(weft_reactor_t *r)
{
    if (r->state != REACTOR_STOPPING)
        return; /* crashed meanwhile: run has returned already */
    weft__thread_calls_close_and_drain(r);
    r->state = REACTOR_STOPPED;
    uv_stop(r->loop);
    weft__reactor_log(r, WEFT_LOG_DEBUG, "stopped");
}

static void on_async(uv_async_t *h)
{
    weft_reactor_t *r = h->data;
    weft__thread_calls_on_async(h);
    if (r->stop_pending && r->state == REACTOR_STOPPING) {
        r->stop_pending = false;
        int rc = weft__events_fire_shutdown(r);
        if (rc != 0) {
            /* Out of memory (or shutdown fired by hand): stop without the triggers. */
            weft__reactor_log(r, WEFT_LOG_ERROR, "shutdown triggers skipped: %s",
                              weft_strerror(rc));
            r->running_flag = false;
            weft__reactor_shutdown_done(r);
        }
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    weft_reactor_t *r = h->data;
    if (signum == SIGHUP) {
        if (r->sighup_fn != NULL) {
            weft__reactor_count_callback(r);
            WEFT__DISPATCH(r, r->sighup_fn(r->sighup_arg));
        } else {
            weft__reactor_log(r, WEFT_LOG_INFO, "SIGHUP ignored: no hook set");
        }
        return;
    }
    weft__reactor_log(r, WEFT_LOG_INFO, "received %s, stopping",
                      signum == SIGINT ? "SIGINT" : "SIGTERM");
    if (r->exit_signal == 0)
        r->exit_signal = signum;
    (void)weft_reactor_stop(r);
}

/*
 * SIGPIPE: a write to a peer that has gone raises it (libuv writes with write(2), not
 * send(MSG_NOSIGNAL)), and its default action kills the process, where the write's EPIPE is
 * what a server wants. While reactors that installed their signal handlers run, it is ignored,
 * as Python (hence Twisted) does for the whole process. Process-wide, so counted: the first
 * such run sets SIG_IGN if the disposition was the default, the last to end puts the default
 * back (unless someone else changed it meanwhile). A program that set its own disposition
 * keeps it.
 */
static pthread_mutex_t sigpipe_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned sigpipe_users;
static bool sigpipe_ours;

static void sigpipe_ignore(void)
{
    pthread_mutex_lock(&sigpipe_mu);
    if (sigpipe_users++ == 0) {
        struct sigaction old, ign;
        memset(&ign, 0, sizeof(ign));
        ign.sa_handler = SIG_IGN;
        sigemptyset(&ign.sa_mask);
        sigpipe_ours = sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
                       !(old.sa_flags & SA_SIGINFO) && sigaction(SIGPIPE, &ign, NULL) == 0;
    }
    pthread_mutex_unlock(&sigpipe_mu);
}

static void sigpipe_restore(void)
{
    pthread_mutex_lock(&sigpipe_mu);
    if (--sigpipe_users == 0 && sigpipe_ours) {
        struct sigaction cur, dfl;
        memset(&dfl, 0, sizeof(dfl));
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        if (sigaction(SIGPIPE, NULL, &cur) == 0 && cur.sa_handler == SIG_IGN)
            (void)sigaction(SIGPIPE, &dfl, NULL);
        sigpipe_ours = false;
    }
    pthread_mutex_unlock(&sigpipe_mu);
}

static void signals_start(weft_reactor_t *r)
{
    if (!r->install_signals || r->signals_on)
        return;
    sigpipe_ignore();
    uv_signal_start(&r->sigint, on_signal, SIGINT);
    uv_signal_start(&r->sigterm, on_signal, SIGTERM);
    uv_signal_start(&r->sighup, on_signal, SIGHUP);
    /* Waiting for a signal is no reason to keep the loop alive. */
    uv_unref((uv_handle_t *)&r->sigint);
    uv_unref((uv_handle_t *)&r->sigterm);
    uv_unref((uv_handle_t *)&r->sighup);
    r->signals_on = true;
}

static void signals_stop(weft_reactor_t *r)
{
    if (!r->signals_on)
        return;
    uv_signal_stop(&r->sigint);
    uv_signal_stop(&r->sigterm);
    uv_signal_stop(&r->sighup);
    sigpipe_restore();
    r->signals_on = false;
}

int weft_reactor_run(weft_reactor_t *r)
{
    if (r->borrowed)
        return WEFT_EINVAL;
    switch (r->state) {
    case REACTOR_RUNNING:
    case REACTOR_STOPPING:
        return WEFT_EALREADY;
    case REACTOR_STOPPED:
        return WEFT_ECLOSED;
    default:
        break;
    }
    weft__reactor_set_loop_thread(r);
    if (r->timer_slack_ns != 0 && prctl(PR_SET_TIMERSLACK, r->timer_slack_ns, 0, 0, 0) != 0)
        weft__reactor_log(r, WEFT_LOG_WARN, "could not set timer slack to %lu ns",
                          r->timer_slack_ns);
    signals_start(r);
    r->state = REACTOR_RUNNING;
    weft__reactor_log(r, WEFT_LOG_DEBUG, "running");
    int rc = weft__events_fire_startup(r);
    if (rc != 0) {
        weft__reactor_log(r, WEFT_LOG_ERROR, "startup triggers skipped: %s", weft_strerror(rc));
        r->running_flag = true;
    }
    uv_run(r->loop, UV_RUN_DEFAULT);
    signals_stop(r);
    return 0;
}

int weft_reactor_stop(weft_reactor_t *r)
{
    WEFT__LOOP_ONLY(r);
    if (r->state == REACTOR_STOPPING || r->state == REACTOR_STOPPED)
        return WEFT_EALREADY;
    if (r->state != REACTOR_RUNNING)
        return WEFT_ENOTRUNNING;
    r->state = REACTOR_STOPPING;
    r->stop_pending = true;
    /* Finish at the next async callback: after the current pass, with no allocation. */
    uv_async_send(&r->async);
    return 0;
}

void weft_reactor_crash(weft_reactor_t *r)
{
    WEFT__LOOP_ONLY(r);
    if (r->state != REACTOR_RUNNING && r->state != REACTOR_STOPPING)
        return;
    r->state = REACTOR_CRASHED;
    r->running_flag = false;
    r->stop_pending = false;
    uv_stop(r->loop);
}

bool weft_reactor_is_running(const weft_reactor_t *r)
{
    WEFT__LOOP_ONLY(r);
    return r->running_flag;
}

int weft_reactor_exit_signal(const weft_reactor_t *r)
{
    WEFT__LOOP_ONLY(r);
    return r->exit_signal;
}

void weft_reactor_set_sighup_hook(weft_reactor_t *r, weft_call_fn fn, void *arg)
{
    WEFT__LOOP_ONLY(r);
    r->sighup_fn = fn;
    r->sighup_arg = fn ? arg : NULL;
}

const char *weft_reactor_name(const weft_reactor_t *r)
{
    return r->name;
}

uv_loop_t *weft_reactor_get_uv_loop(weft_reactor_t *r)
{
    WEFT__LOOP_ONLY(r);
    return r->loop;
}

/* ---------------------------------------------------------------- free */

typedef struct {
    const weft_reactor_t *r;
    int foreign;
} walk_t;

static void count_foreign(uv_handle_t *h, void *arg)
{
    walk_t *w = arg;
    const weft_reactor_t *r = w->r;
    if (uv_is_closing(h))
        return;
    if (h == (uv_handle_t *)&r->timer || h == (uv_handle_t *)&r->soon_idle ||
        h == (uv_handle_t *)&r->prepare || h == (uv_handle_t *)&r->async ||
        h == (uv_handle_t *)&r->sigint || h == (uv_handle_t *)&r->sigterm ||
        h == (uv_handle_t *)&r->sighup || h == (uv_handle_t *)&r->spin_idle)
        return;
    w->foreign++;
}

/* Logs and returns true when something keeps r from being freed. */
static bool still_open(weft_reactor_t *r)
{
    walk_t w = {r, 0};
    if (!r->borrowed)
        uv_walk(r->loop, count_foreign, &w);
    size_t soon = weft__time_soon_pending(r);
    bool firing = weft__events_busy(r);
    bool ext_busy =
        r->ext_ops != NULL && r->ext_ops->busy(atomic_load_explicit(&r->ext, memory_order_relaxed));
    if (r->heap_len == 0 && soon == 0 && w.foreign == 0 && !firing && !ext_busy &&
        r->net_objects == 0)
        return false;
    weft__reactor_log(r, WEFT_LOG_WARN,
                      "cannot free: %u delayed calls, %zu call_soon calls, %s, %s, %zu "
                      "connections, listeners or connectors and %d libuv handles of the caller "
                      "still open",
                      r->heap_len, soon, firing ? "an event firing" : "no event firing",
                      ext_busy ? "offloaded jobs still running" : "no offloaded job running",
                      r->net_objects, w.foreign);
    return true;
}

int weft_reactor_free(weft_reactor_t *r)
{
    if (r == NULL)
        return 0;
    WEFT__LOOP_ONLY(r);
    /* Running, or called from inside one of r's own callbacks: the callers up the stack
     * still use r. */
    if (r->state == REACTOR_RUNNING || r->state == REACTOR_STOPPING || r->dispatching > 0)
        return WEFT_EBUSY;
    if (still_open(r))
        return WEFT_EBUSY; /* nothing changed */
    /* Every accepted thread call runs exactly once, and no new one is taken... */
    bool was_closed = r->tc_closed;
    weft__thread_calls_close_and_drain(r);
    if (still_open(r)) {
        /* ... unless those calls left work behind: then the refusal changes nothing either. */
        if (!was_closed) {
            pthread_mutex_lock(&r->tc_lock);
            r->tc_closed = false;
            pthread_mutex_unlock(&r->tc_lock);
            /* Producers refused while it was closed (the bridge's workers) post again. */
            if (r->ext_ops != NULL && r->ext_ops->reopened != NULL)
                r->ext_ops->reopened(atomic_load_explicit(&r->ext, memory_order_relaxed));
        }
        return WEFT_EBUSY;
    }
    if (r->ext_ops != NULL) {
        r->ext_ops->release(atomic_load_explicit(&r->ext, memory_order_relaxed));
        r->ext_ops = NULL;
        atomic_store_explicit(&r->ext, NULL, memory_order_relaxed);
    }
    weft__events_release(r);
    signals_stop(r);
    teardown(r, H_TIMER | H_IDLE | H_PREPARE | H_ASYNC | H_SIGINT | H_SIGTERM | H_SIGHUP | H_SPIN);
    return 0;
}

/* ---------------------------------------------------------------- extension hooks */

void weft__reactor_hold(weft_reactor_t *r)
{
    if (r->holds++ == 0 && r->borrowed)
        uv_ref((uv_handle_t *)&r->async);
}

void weft__reactor_unhold(weft_reactor_t *r)
{
    WEFT_ASSERT(r->holds > 0);
    if (--r->holds == 0 && r->borrowed)
        uv_unref((uv_handle_t *)&r->async);
}

bool weft__reactor_is_started(const weft_reactor_t *r)
{
    return r->state == REACTOR_RUNNING;
}

int weft__reactor_set_ext(weft_reactor_t *r, void *ext, const weft__reactor_ext_ops_t *ops)
{
    if (r->ext_ops != NULL)
        return WEFT_EALREADY;
    r->ext_ops = ops;
    /* Release: a worker that sees ext sees it fully built. */
    atomic_store_explicit(&r->ext, ext, memory_order_release);
    return 0;
}

void *weft__reactor_get_ext(const weft_reactor_t *r)
{
    return atomic_load_explicit(&((weft_reactor_t *)r)->ext, memory_order_acquire);
}

bool weft__reactor_on_loop_thread(const weft_reactor_t *r)
{
    return weft__reactor_is_loop_thread(r);
}

double weft__reactor_shutdown_deadline(const weft_reactor_t *r)
{
    return r->shutdown_deadline;
}

/* While active, the idle handle makes each loop iteration poll with a zero timeout. An
 * iteration that found nothing to do yields the CPU, so a thread the loop waits for can run on
 * it meanwhile; one that dispatched work does not: the loop is busy, and giving its CPU away
 * then only slows it (on two CPUs shared with two busy workers, by a quarter). */
static void on_spin(uv_idle_t *h)
{
    weft_reactor_t *r = h->data;
    if (uv_hrtime() >= r->spin_until) {
        uv_idle_stop(h);
    } else if (r->dispatched != r->spin_seen) {
        r->spin_seen = r->dispatched;
    } else {
        sched_yield();
    }
}

void weft__reactor_poll_for(weft_reactor_t *r, uint64_t ns)
{
    uint64_t until = uv_hrtime() + ns;
    if (until > r->spin_until)
        r->spin_until = until;
    if (!uv_is_active((uv_handle_t *)&r->spin_idle))
        uv_idle_start(&r->spin_idle, on_spin);
}

bool weft__reactor_flush_after_dispatch(weft_reactor_t *r)
{
    if (r->dispatching == 0 || r->ext_ops == NULL || r->ext_ops->flush == NULL)
        return false;
    r->ext_flush = true;
    return true;
}

void weft__reactor_run_ext_flush(weft_reactor_t *r)
{
    /* Counted as a dispatch: the flush may fire deferreds (refused jobs), whose callbacks may
     * ask for another flush; this one then runs again before returning. */
    while (r->ext_flush) {
        r->ext_flush = false;
        r->dispatching++;
        r->ext_ops->flush(atomic_load_explicit(&r->ext, memory_order_relaxed));
        r->dispatching--;
    }
}

/* ---------------------------------------------------------------- embedding and health */

int weft_reactor_backend_fd(const weft_reactor_t *r)
{
    return uv_backend_fd(r->loop);
}

int weft_reactor_backend_timeout(const weft_reactor_t *r)
{
    return uv_backend_timeout(r->loop);
}

int weft_reactor_run_once_nowait(weft_reactor_t *r)
{
    WEFT__LOOP_ONLY(r);
    return uv_run(r->loop, UV_RUN_NOWAIT);
}

void weft_reactor_get_stats(const weft_reactor_t *r, weft_reactor_stats_t *out)
{
    WEFT__LOOP_ONLY(r);
    *out = r->stats;
    out->pending_delayed_calls = r->heap_len;
}
