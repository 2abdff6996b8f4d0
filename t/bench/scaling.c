/* SPDX-License-Identifier: MIT */
/* Scaling benchmark (issue 11, doc/scaling.md): one port served by 1, then 2 processes
 * (SO_REUSEPORT, weft_listen_options_t.reuse_port), with PostgreSQL as the shared state.
 *
 * Each server process is a weft line server: a line `GET <k>` makes a point read
 * `SELECT v FROM kv WHERE k = $1` on its database pool (4 PostgreSQL connections) and answers
 * the value. The driver starts a private PostgreSQL (t/pg-helpers.h) with 10000 rows, starts
 * the servers (this program re-executed with --serve), and drives them with a load client of
 * its own: CONNS connections, one request in flight on each, random keys, for SECONDS. It
 * alternates 1 and 2 server processes for ROUNDS rounds and prints the median of each:
 *
 *   value: scaling_rps_<n>proc <requests/s> req/s
 *   value: scaling_server_cpu_per_req_<n>proc <ns> ns     the servers' CPU time (user+system)
 *   ratio: scaling_2proc_vs_1proc <rps 2 / rps 1>
 *
 * The client, both servers and PostgreSQL share the machine's CPUs: on 2 CPUs the second
 * process adds little throughput (doc/scaling.md says why), on more it adds more.
 * Usage:
 *   scaling [SECONDS]                   the benchmark (default 3 s per measurement)
 *   scaling --serve CONNINFO PORT       one server (PORT 0: a free one); prints
 *                                       `listening on <port>`, stops on SIGTERM
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <weft.h>

#include "../pg-helpers.c" /* benches link only themselves: the helper comes in whole */

#define ROWS   10000
#define CONNS  32
#define ROUNDS 3

/* ------------------------------------------------------------------ the server */

typedef struct {
    weft_reactor_t *r;
    weft_dbpool_t *db;
    weft_listener_t *listener;
} server_t;

static void die(const char *what, int err)
{
    fprintf(stderr, "scaling: %s: %s\n", what, weft_strerror(err));
    exit(1);
}

static weft_result_t answer(void *value, weft_free_fn free_fn, void *arg)
{
    weft_transport_t *t = arg;
    const weft_db_result_t *rs = value;
    const weft_db_value_t *v = weft_db_result_rows(rs) > 0 ? weft_db_result_value(rs, 0, 0) : NULL;
    weft_iovec_t iov[] = {{v != NULL ? v->data : "-", v != NULL ? v->len : 1}, {"\r\n", 2}};
    int rc = weft_transport_writev(t, iov, 2);
    if (rc != 0 && rc != WEFT_ECLOSED)
        weft_transport_abort_connection(t);
    free_fn(value);
    weft_transport_unref(t);
    return weft_ok(NULL, NULL);
}

static weft_result_t failed(weft_failure_t *f, void *arg)
{
    weft_transport_t *t = arg;
    if (weft_transport_write(t, "ERR\r\n", 5) != 0)
        weft_transport_abort_connection(t);
    weft_failure_free(f);
    weft_transport_unref(t);
    return weft_ok(NULL, NULL);
}

static int on_line(void *ctx, weft_framed_t *fp, const char *line, size_t len)
{
    server_t *s = ctx;
    if (len < 5 || memcmp(line, "GET ", 4) != 0) {
        weft_transport_abort_connection(weft_framed_transport(fp));
        return 1;
    }
    weft_db_value_t k = weft_db_int(strtoll(line + 4, NULL, 10));
    int err = 0;
    weft_deferred_t *d = weft_dbpool_run_query(s->db, "SELECT v FROM kv WHERE k = $1", &k, 1, &err);
    if (d == NULL) {
        weft_transport_abort_connection(weft_framed_transport(fp));
        return 1;
    }
    weft_transport_t *t = weft_transport_ref(weft_framed_transport(fp));
    if (weft_deferred_add_callbacks(d, answer, t, failed, t) != 0)
        abort();
    weft_deferred_unref(d);
    return 0;
}

static int build(void *ctx, const char *peer, const weft_protocol_ops_t **ops, void **proto)
{
    (void)peer;
    weft_framed_ops_t fops = {.frame_received = on_line};
    weft_framed_t *fp = weft_framed_new(NULL, &fops, ctx, NULL);
    if (fp == NULL)
        return -1;
    *ops = weft_framed_protocol_ops();
    *proto = fp;
    return 0;
}

static weft_deferred_t *before_shutdown(void *arg)
{
    server_t *s = arg;
    weft_deferred_t *closed = weft_listener_stop_all(s->listener, 0.5);
    s->listener = NULL;
    return closed;
}

static int serve(const char *conninfo, int port)
{
    server_t s = {0};
    int err = 0;
    if ((s.r = weft_reactor_new(NULL, &err)) == NULL)
        die("reactor_new", err);
    weft_dbpool_options_t po;
    weft_dbpool_options_init(&po);
    po.min_connections = po.max_connections = 4;
    if ((s.db = weft_dbpool_new(s.r, &weft_db_postgres, conninfo, &po, &err)) == NULL)
        die("dbpool_new", err);
    weft_factory_ops_t fops = {.build_protocol = build};
    weft_factory_t *factory = weft_factory_new(&fops, &s, &err);
    if (factory == NULL)
        die("factory_new", err);
    weft_listen_options_t lo;
    weft_listen_options_init(&lo);
    lo.host = "127.0.0.1";
    lo.port = port;
    lo.reuse_port = true; /* the other process binds the same port */
    if ((s.listener = weft_listen_tcp(s.r, &lo, factory, &err)) == NULL)
        die("listen_tcp", err);
    err = weft_reactor_add_trigger(s.r, "shutdown", WEFT_PHASE_BEFORE, before_shutdown, &s,
                                   "listener", NULL);
    if (err != 0)
        die("add_trigger", err);
    printf("listening on %d\n", weft_listener_port(s.listener));
    fflush(stdout);
    if ((err = weft_reactor_run(s.r)) != 0)
        die("reactor_run", err);
    if ((err = weft_dbpool_free(s.db)) != 0 || (err = weft_factory_free(factory)) != 0 ||
        (err = weft_reactor_free(s.r)) != 0)
        die("free", err);
    return 0;
}

/* ------------------------------------------------------------------ the driver */

typedef struct {
    pid_t pid;
    int port;
} proc_t;

static char self[4096];

static void start_server(proc_t *p, const char *conninfo, int port)
{
    int fds[2];
    char num[16];
    snprintf(num, sizeof(num), "%d", port);
    if (pipe(fds) != 0)
        abort();
    fflush(stdout);
    p->pid = fork();
    if (p->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(self, "scaling", "--serve", conninfo, num, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[128] = "";
    if (f == NULL || fgets(line, sizeof(line), f) == NULL ||
        sscanf(line, "listening on %d", &p->port) != 1) {
        fprintf(stderr, "scaling: a server did not start (%s)\n", line);
        exit(1);
    }
    fclose(f);
}

static void stop_server(proc_t *p)
{
    int status = 0;
    kill(p->pid, SIGTERM);
    if (waitpid(p->pid, &status, 0) != p->pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "scaling: server %d ended badly (status %d)\n", (int)p->pid, status);
}

/* User + system CPU time of a process so far, in ns (from /proc/PID/stat). */
static double cpu_ns(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    size_t n = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f != NULL)
        fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) * 1e9 / (double)sysconf(_SC_CLK_TCK);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
    int fd;
    char buf[256];
    size_t have;
} client_t;

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        perror("scaling: connect");
        exit(1);
    }
    return fd;
}

static uint64_t rng = 88172645463325252ull;

static void send_get(client_t *c)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    char req[32];
    int n = snprintf(req, sizeof(req), "GET %llu\r\n", (unsigned long long)(rng % ROWS + 1));
    if (write(c->fd, req, (size_t)n) != n) {
        perror("scaling: write");
        exit(1);
    }
}

/* Runs the closed-loop client on port for warmup + seconds; returns the requests/s of the
 * measured part, and the servers' CPU ns per request in *cpu. */
static double load(int port, double seconds, const proc_t *procs, int nprocs, double *cpu)
{
    static client_t cl[CONNS];
    struct pollfd pfd[CONNS];
    for (int i = 0; i < CONNS; i++) {
        cl[i].fd = dial(port);
        cl[i].have = 0;
        pfd[i].fd = cl[i].fd;
        pfd[i].events = POLLIN;
        send_get(&cl[i]);
    }
    double t0 = now_s(), start = t0 + 0.5, end = start + seconds, cpu0 = 0;
    uint64_t done = 0;
    bool measuring = false;
    for (;;) {
        double t = now_s();
        if (!measuring && t >= start) {
            measuring = true;
            done = 0;
            for (int i = 0; i < nprocs; i++)
                cpu0 += cpu_ns(procs[i].pid);
        }
        if (t >= end)
            break;
        if (poll(pfd, CONNS, 1000) <= 0)
            continue;
        for (int i = 0; i < CONNS; i++) {
            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            client_t *c = &cl[i];
            ssize_t n = read(c->fd, c->buf + c->have, sizeof(c->buf) - c->have);
            if (n <= 0) {
                fprintf(stderr, "scaling: a server closed a connection\n");
                exit(1);
            }
            c->have += (size_t)n;
            char *nl;
            while ((nl = memchr(c->buf, '\n', c->have)) != NULL) {
                size_t used = (size_t)(nl - c->buf) + 1;
                memmove(c->buf, nl + 1, c->have - used);
                c->have -= used;
                done++;
                send_get(c);
            }
        }
    }
    double elapsed = now_s() - start, cpu1 = 0;
    for (int i = 0; i < nprocs; i++)
        cpu1 += cpu_ns(procs[i].pid);
    for (int i = 0; i < CONNS; i++)
        close(cl[i].fd);
    *cpu = done > 0 ? (cpu1 - cpu0) / (double)done : 0;
    return (double)done / elapsed;
}

static void setup_table(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "scaling: %s", PQerrorMessage(c));
        exit(1);
    }
    PGresult *res = PQexec(c, "CREATE TABLE kv (k int PRIMARY KEY, v text NOT NULL);"
                              "INSERT INTO kv SELECT g, 'value-' || g FROM "
                              "generate_series(1, 10000) g; ANALYZE kv;");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fprintf(stderr, "scaling: %s", PQerrorMessage(c));
        exit(1);
    }
    PQclear(res);
    PQfinish(c);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--serve") == 0)
        return serve(argv[2], atoi(argv[3]));
    double seconds = argc > 1 ? atof(argv[1]) : 3;
    if (seconds <= 0)
        seconds = 3;
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        abort();
    self[n] = '\0';
    signal(SIGPIPE, SIG_IGN);

    pg_server_t pg;
    char why[256];
    if (pg_server_start(&pg, why, sizeof(why)) != 0) {
        printf("skip: scaling (no PostgreSQL: %s)\n", why);
        pg_server_stop(&pg);
        return 0;
    }
    setup_table(pg.conninfo);
    printf("value: scaling_cpus %ld cpus\n", sysconf(_SC_NPROCESSORS_ONLN));
    fflush(stdout);

    double rps[2][ROUNDS], cpu[2][ROUNDS];
    proc_t procs[2];
    start_server(&procs[0], pg.conninfo, 0);
    for (int round = 0; round < ROUNDS; round++) {
        rps[0][round] = load(procs[0].port, seconds, procs, 1, &cpu[0][round]);
        start_server(&procs[1], pg.conninfo, procs[0].port);
        rps[1][round] = load(procs[0].port, seconds, procs, 2, &cpu[1][round]);
        stop_server(&procs[1]);
    }
    stop_server(&procs[0]);
    pg_server_stop(&pg);

    double r1 = median(rps[0], ROUNDS), r2 = median(rps[1], ROUNDS);
    printf("value: scaling_rps_1proc %.0f req/s\n", r1);
    printf("value: scaling_rps_2proc %.0f req/s\n", r2);
    printf("value: scaling_server_cpu_per_req_1proc %.0f ns\n", median(cpu[0], ROUNDS));
    printf("value: scaling_server_cpu_per_req_2proc %.0f ns\n", median(cpu[1], ROUNDS));
    printf("ratio: scaling_2proc_vs_1proc %.2f\n", r2 / r1);
    return 0;
}
