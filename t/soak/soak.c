/* SPDX-License-Identifier: MIT */
/* `make soak`: minutes of echo and offload traffic from several threads, watching for growth. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include <weft/bridge.h>
#include <weft/dbpool.h>
#include <weft/deferred.h>
#include <weft/error.h>
#include <weft/framed.h>
#include <weft/reactor.h>
#include <weft/tcp.h>
#include <weft/threadpool.h>
#include <weft/transport.h>

/*
 * One process: a reactor with a line echo server on loopback and a 4-thread pool. Load:
 * ECHO_CLIENTS threads each run a blocking client (send a numbered line, wait for it to come
 * back, check it); OFFLOADERS threads each keep WINDOW offloads in flight by asking the loop
 * (weft_reactor_call_from_thread) to defer a small CPU job to the pool and counting the
 * deferreds' results; DB_CLIENTS threads do the same with SQLite queries through a database
 * pool (an in-memory database, one connection). Every SAMPLE seconds the loop samples RSS
 * (/proc/self/statm), open descriptors (/proc/self/fd), loop lag (how late a 50 ms repeating timer
 * ran: mean and max over the window) and the request rates, printing a line and appending it to the
 * data file.
 *
 * Fails (exit 1) if, after the warm-up (the first tenth of the run, at least one sample), RSS
 * or the descriptor count ever rises more than 5% above its value at the end of the warm-up,
 * or if any request is lost: an echo that does not come back whole, an offload whose result is
 * wrong or missing once the load stops and drains.
 *
 * Usage: soak SECONDS DATAFILE [SAMPLE_SECONDS]
 */
enum { ECHO_CLIENTS = 3, OFFLOADERS = 2, DB_CLIENTS = 2, WINDOW = 64, LAG_MS = 50 };
enum { LOADERS = OFFLOADERS + DB_CLIENTS }; /* the threads that keep a window in flight */

static struct {
    weft_reactor_t *r;
    weft_pool_t *pool;
    weft_dbpool_t *db;
    weft_listener_t *l;
    weft_factory_t *f;
    int port;
    atomic_bool stop_load;
    atomic_int threads_done;
    /* echo */
    atomic_uint_fast64_t echo_ok, echo_lost;
    /* offloads: submitted and completed by the loop, windows kept by the offloaders */
    atomic_uint_fast64_t off_asked, off_done, off_bad;
    uint64_t off_submitted; /* loop only */
    atomic_int in_flight[LOADERS];
    atomic_uint_fast64_t db_done; /* queries answered (right or wrong; wrong ones in off_bad) */
    /* lag */
    uv_timer_t lag_timer, sample_timer, drain_timer;
    uint64_t lag_expected, lag_sum, lag_max, lag_n;
    /* samples */
    FILE *out;
    double start, sample_s, seconds;
    int samples, warm_samples;
    long rss0, fds0, rss_max, fds_max;
    uint64_t last_echo, last_off, last_db;
    bool failed;
} S;

static double now_s(void)
{
    return (double)uv_hrtime() / 1e9;
}

/* ---------------------------------------------------------------- the echo server */

static int srv_frame(void *ctx, weft_framed_t *fp, const char *data, size_t len)
{
    (void)ctx;
    if (weft_framed_send(fp, data, len) != 0)
        weft_transport_lose_connection(weft_framed_transport(fp));
    return 0;
}

static void srv_lost(void *ctx, weft_framed_t *fp, weft_failure_t *reason)
{
    (void)ctx;
    (void)fp;
    weft_failure_free(reason);
}

static const weft_framed_ops_t srv_ops = {.frame_received = srv_frame, .connection_lost = srv_lost};

static int build(void *ctx, const char *peer, const weft_protocol_ops_t **ops, void **proto)
{
    (void)ctx;
    (void)peer;
    weft_framed_t *fp = weft_framed_new(NULL, &srv_ops, NULL, NULL);
    if (fp == NULL)
        return WEFT_ENOMEM;
    *ops = weft_framed_protocol_ops();
    *proto = fp;
    return 0;
}

/* ---------------------------------------------------------------- echo clients (threads) */

static void *echo_client(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("soak: connect");
        atomic_fetch_add(&S.echo_lost, 1);
        close(fd);
        atomic_fetch_add(&S.threads_done, 1);
        return NULL;
    }
    char line[64], back[64];
    for (uint64_t n = 0; !atomic_load(&S.stop_load); n++) {
        int len =
            snprintf(line, sizeof(line), "client %u request %llu\r\n", id, (unsigned long long)n);
        if (send(fd, line, (size_t)len, 0) != len) {
            atomic_fetch_add(&S.echo_lost, 1);
            break;
        }
        int got = 0;
        while (got < len) {
            ssize_t k = recv(fd, back + got, (size_t)(len - got), 0);
            if (k <= 0)
                break;
            got += (int)k;
        }
        if (got != len || memcmp(line, back, (size_t)len) != 0) {
            atomic_fetch_add(&S.echo_lost, 1);
            break;
        }
        atomic_fetch_add(&S.echo_ok, 1);
    }
    close(fd);
    atomic_fetch_add(&S.threads_done, 1);
    return NULL;
}

/* ---------------------------------------------------------------- offloads */

/* What a job computes from its request; the deferred's callback checks it. */
static uint64_t work(uint64_t v)
{
    for (int i = 0; i < 200; i++)
        v = v * 6364136223846793005u + 1442695040888963407u;
    return v;
}

typedef struct {
    uint64_t req;
    unsigned owner;
} off_req_t;

static weft_result_t job(void *arg)
{
    off_req_t *q = arg;
    uint64_t *v = malloc(sizeof(*v));
    if (v == NULL)
        return weft_fail_new(NULL, WEFT_ENOMEM, "soak job");
    *v = work(q->req);
    return weft_ok(v, free);
}

static weft_result_t off_done(weft_result_t res, void *arg)
{
    off_req_t *q = arg;
    if (res.kind != WEFT_RESULT_VALUE || *(uint64_t *)res.value != work(q->req))
        atomic_fetch_add(&S.off_bad, 1);
    if (res.kind == WEFT_RESULT_FAILURE)
        weft_failure_free(res.failure);
    else
        weft_result_free(res);
    atomic_fetch_sub(&S.in_flight[q->owner], 1);
    atomic_fetch_add(&S.off_done, 1);
    free(q);
    return weft_ok(NULL, NULL);
}

/* On the loop: one offloader's request. */
static void submit(void *arg)
{
    off_req_t *q = arg;
    S.off_submitted++;
    weft_deferred_t *d = weft_defer_to_pool(S.r, S.pool, job, q, NULL, NULL);
    if (d == NULL || weft_deferred_add_both(d, off_done, q) != 0) {
        /* Counted as lost: the soak expects none. */
        atomic_fetch_add(&S.off_bad, 1);
        atomic_fetch_sub(&S.in_flight[q->owner], 1);
        atomic_fetch_add(&S.off_done, 1);
        if (d == NULL)
            free(q);
    }
    weft_deferred_unref(d);
}

static weft_result_t db_answer(weft_result_t res, void *arg)
{
    off_req_t *q = arg;
    bool ok = false;
    if (res.kind == WEFT_RESULT_VALUE) {
        const weft_db_value_t *v =
            weft_db_result_rows(res.value) == 1 ? weft_db_result_value(res.value, 0, 0) : NULL;
        ok = v != NULL && v->type == WEFT_DB_INT && (uint64_t)v->i == (q->req & 0xffffffffu) + 1;
        weft_result_free(res);
    } else {
        weft_failure_free(res.failure);
    }
    if (!ok)
        atomic_fetch_add(&S.off_bad, 1);
    atomic_fetch_sub(&S.in_flight[q->owner], 1);
    atomic_fetch_add(&S.db_done, 1);
    atomic_fetch_add(&S.off_done, 1);
    free(q);
    return weft_ok(NULL, NULL);
}

/* On the loop: one database client's request. */
static void query(void *arg)
{
    off_req_t *q = arg;
    S.off_submitted++;
    weft_db_value_t p = weft_db_int((int64_t)(q->req & 0xffffffffu));
    weft_deferred_t *d = weft_dbpool_run_query(S.db, "SELECT ? + 1", &p, 1, NULL);
    if (d == NULL || weft_deferred_add_both(d, db_answer, q) != 0) {
        atomic_fetch_add(&S.off_bad, 1);
        atomic_fetch_sub(&S.in_flight[q->owner], 1);
        atomic_fetch_add(&S.off_done, 1);
        if (d == NULL)
            free(q);
    }
    weft_deferred_unref(d);
}

/* Threads 0 .. OFFLOADERS - 1 offload jobs; the next DB_CLIENTS run queries. */
static void *offloader(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    weft_call_fn post = id < OFFLOADERS ? submit : query;
    uint64_t n = 0;
    while (!atomic_load(&S.stop_load)) {
        if (atomic_load(&S.in_flight[id]) >= WINDOW) {
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
            continue;
        }
        off_req_t *q = malloc(sizeof(*q));
        q->req = (uint64_t)id << 48 | n++;
        q->owner = id;
        atomic_fetch_add(&S.in_flight[id], 1);
        atomic_fetch_add(&S.off_asked, 1);
        if (weft_reactor_call_from_thread(S.r, post, q) != 0) {
            atomic_fetch_add(&S.off_bad, 1);
            atomic_fetch_sub(&S.in_flight[id], 1);
            atomic_fetch_add(&S.off_done, 1);
            free(q);
        }
    }
    atomic_fetch_add(&S.threads_done, 1);
    return NULL;
}

/* ---------------------------------------------------------------- sampling */

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, rss = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &size, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    long n = 0;
    if (d == NULL)
        return -1;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the directory's own descriptor */
}

static void on_lag(uv_timer_t *t)
{
    uint64_t now = uv_hrtime();
    uint64_t lag = now > S.lag_expected ? now - S.lag_expected : 0;
    S.lag_sum += lag;
    S.lag_n++;
    if (lag > S.lag_max)
        S.lag_max = lag;
    S.lag_expected = now + (uint64_t)LAG_MS * 1000000u;
    (void)t;
}

/* Once the load threads have ended and every offload is back: close what the soak opened on
 * the loop and stop the reactor. */
static void on_drain(uv_timer_t *t)
{
    (void)t;
    if (atomic_load(&S.threads_done) < ECHO_CLIENTS + LOADERS ||
        atomic_load(&S.off_done) != atomic_load(&S.off_asked))
        return;
    uv_close((uv_handle_t *)&S.lag_timer, NULL);
    uv_close((uv_handle_t *)&S.sample_timer, NULL);
    uv_close((uv_handle_t *)&S.drain_timer, NULL);
    weft_deferred_unref(weft_listener_stop(S.l));
    S.l = NULL;
    weft_reactor_stop(S.r);
}

static void on_sample(uv_timer_t *t)
{
    (void)t;
    double el = now_s() - S.start;
    long rss = rss_kb(), fds = open_fds();
    uint64_t echo = atomic_load(&S.echo_ok), db = atomic_load(&S.db_done);
    uint64_t off = atomic_load(&S.off_done) - db;
    double lag_mean = S.lag_n ? (double)S.lag_sum / (double)S.lag_n / 1e6 : 0;
    double lag_max = (double)S.lag_max / 1e6;
    double echo_rps = (double)(echo - S.last_echo) / S.sample_s;
    double off_rps = (double)(off - S.last_off) / S.sample_s;
    double db_rps = (double)(db - S.last_db) / S.sample_s;
    S.last_echo = echo;
    S.last_off = off;
    S.last_db = db;
    S.lag_sum = S.lag_max = S.lag_n = 0;
    S.samples++;
    const char *mark = "";
    if (S.samples == S.warm_samples) {
        S.rss0 = rss;
        S.fds0 = fds;
        mark = "  <- end of warm-up: the baseline";
    } else if (S.samples > S.warm_samples) {
        if (rss > S.rss_max)
            S.rss_max = rss;
        if (fds > S.fds_max)
            S.fds_max = fds;
    }
    printf("%6.1f s  rss %6ld KiB  fds %3ld  lag mean %6.3f max %7.3f ms  echo %7.0f/s  "
           "offload %7.0f/s  db %7.0f/s%s\n",
           el, rss, fds, lag_mean, lag_max, echo_rps, off_rps, db_rps, mark);
    fflush(stdout);
    fprintf(S.out, "%.1f %ld %ld %.3f %.3f %.0f %.0f %.0f\n", el, rss, fds, lag_mean, lag_max,
            echo_rps, off_rps, db_rps);
    fflush(S.out);
    if (el + S.sample_s / 2 >= S.seconds) {
        /* Stop the load and let everything in flight finish before the reactor stops. */
        atomic_store(&S.stop_load, true);
        uv_timer_stop(&S.sample_timer);
        uv_timer_start(&S.drain_timer, on_drain, 5, 5);
    }
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: soak SECONDS DATAFILE [SAMPLE_SECONDS]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    S.seconds = atof(argv[1]);
    S.sample_s = argc > 3 ? atof(argv[3]) : 10;
    int total = (int)(S.seconds / S.sample_s + 0.5);
    S.warm_samples = total / 10 > 1 ? total / 10 : 1;
    if (total < S.warm_samples + 2) {
        fprintf(stderr, "soak: run at least %g seconds\n", 3 * S.sample_s);
        return 2;
    }
    S.out = fopen(argv[2], "w");
    if (S.out == NULL) {
        perror(argv[2]);
        return 2;
    }
    fprintf(S.out,
            "# seconds rss_kib fds lag_mean_ms lag_max_ms echo_per_s offload_per_s db_per_s\n");

    weft_reactor_options_t ro;
    weft_reactor_options_init(&ro);
    ro.name = "soak";
    ro.install_signal_handlers = false;
    int err = 0;
    S.r = weft_reactor_new(&ro, &err);
    weft_pool_options_t po;
    weft_pool_options_init_cpu(&po);
    po.max_threads = 4;
    S.pool = S.r ? weft_pool_new(&po, &err) : NULL;
    weft_dbpool_options_t dbo;
    weft_dbpool_options_init(&dbo);
    dbo.max_connections = 1; /* an in-memory SQLite database has one connection */
    S.db = S.pool ? weft_dbpool_new(S.r, &weft_db_sqlite, ":memory:", &dbo, &err) : NULL;
    S.f =
        S.db ? weft_factory_new(&(weft_factory_ops_t){.build_protocol = build}, NULL, &err) : NULL;
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = "127.0.0.1";
    S.l = S.f ? weft_listen_tcp(S.r, &lo, S.f, &err) : NULL;
    if (S.l == NULL) {
        fprintf(stderr, "soak: setup failed: %s\n", weft_strerror(err));
        return 2;
    }
    S.port = weft_listener_port(S.l);

    uv_loop_t *loop = weft_reactor_get_uv_loop(S.r);
    uv_timer_init(loop, &S.lag_timer);
    uv_timer_init(loop, &S.sample_timer);
    uv_timer_init(loop, &S.drain_timer);
    S.lag_expected = uv_hrtime() + (uint64_t)LAG_MS * 1000000u;
    uv_timer_start(&S.lag_timer, on_lag, LAG_MS, LAG_MS);
    uv_timer_start(&S.sample_timer, on_sample, (uint64_t)(S.sample_s * 1000),
                   (uint64_t)(S.sample_s * 1000));
    S.start = now_s();
    printf("soak: %g s, a sample every %g s, warm-up %d samples; %d echo clients, %d "
           "offloaders (pool of 4), %d database clients (SQLite)\n",
           S.seconds, S.sample_s, S.warm_samples, ECHO_CLIENTS, OFFLOADERS, DB_CLIENTS);

    pthread_t th[ECHO_CLIENTS + LOADERS];
    for (unsigned i = 0; i < ECHO_CLIENTS; i++)
        pthread_create(&th[i], NULL, echo_client, (void *)(uintptr_t)i);
    for (unsigned i = 0; i < LOADERS; i++)
        pthread_create(&th[ECHO_CLIENTS + i], NULL, offloader, (void *)(uintptr_t)i);

    if (weft_reactor_run(S.r) != 0)
        S.failed = true;
    for (unsigned i = 0; i < ECHO_CLIENTS + LOADERS; i++)
        pthread_join(th[i], NULL);
    int db_rc = weft_dbpool_free(S.db);
    int pool_rc = weft_pool_free(S.pool, WEFT_POOL_STOP_DRAIN, WEFT_POOL_FOREVER);
    /* The last close callbacks run on the loop after the reactor has stopped. */
    int free_rc = WEFT_EBUSY;
    for (int i = 0; i < 1000 && (free_rc = weft_reactor_free(S.r)) != 0; i++)
        (void)uv_run(loop, UV_RUN_NOWAIT);
    if (db_rc != 0 || pool_rc != 0 || free_rc != 0 || weft_factory_free(S.f) != 0) {
        fprintf(stderr, "soak: shutdown left something open\n");
        S.failed = true;
    }
    fclose(S.out);

    double rss_growth = 100.0 * (double)(S.rss_max - S.rss0) / (double)S.rss0;
    double fds_growth = 100.0 * (double)(S.fds_max - S.fds0) / (double)S.fds0;
    uint64_t lost = atomic_load(&S.echo_lost) + atomic_load(&S.off_bad);
    printf("soak: %llu echoes, %llu offloads and queries (%llu of them queries; %llu submitted "
           "by the loop); lost or wrong: %llu\n",
           (unsigned long long)atomic_load(&S.echo_ok),
           (unsigned long long)atomic_load(&S.off_done),
           (unsigned long long)atomic_load(&S.db_done), (unsigned long long)S.off_submitted,
           (unsigned long long)lost);
    printf("soak: after warm-up RSS %ld -> max %ld KiB (%+.2f%%), fds %ld -> max %ld (%+.2f%%)\n",
           S.rss0, S.rss_max, rss_growth, S.fds0, S.fds_max, fds_growth);
    if (rss_growth > 5.0 || fds_growth > 5.0 || lost > 0 || S.failed) {
        printf("soak: FAILED\n");
        return 1;
    }
    printf("soak: passed\n");
    return 0;
}
