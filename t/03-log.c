/* SPDX-License-Identifier: MIT */
/* The logger: levels, per-component levels, WEFT_LOG, sinks and the one-line format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft/error.h>
#include <weft/log.h>

#include "../common/log-internal.h"
#include "tap.h"

typedef struct {
    int count;
    weft_log_level_t level;
    char component[64];
    char message[4096];
    char line[8192];
} capture_t;

static void capture_sink(const weft_log_record_t *rec, void *arg)
{
    capture_t *c = arg;
    c->count++;
    c->level = rec->level;
    snprintf(c->component, sizeof(c->component), "%s", rec->component);
    snprintf(c->message, sizeof(c->message), "%s", rec->message);
    weft_log_format_record(rec, WEFT_LOG_FORMAT_LOGFMT, c->line, sizeof(c->line));
}

static capture_t *start_capture(void)
{
    static capture_t c;
    memset(&c, 0, sizeof(c));
    weft__log_reset();
    weft_log_set_sink(capture_sink, &c);
    return &c;
}

static void test_threshold(void)
{
    capture_t *c = start_capture();
    weft_log(WEFT_LOG_DEBUG, "test", "hidden");
    check_int(c->count, ==, 0);
    weft_log(WEFT_LOG_INFO, "test", "shown %d", 42);
    check_int(c->count, ==, 1);
    check_str(c->message, "shown 42");
    check_str(c->component, "test");
    weft_log_set_level(WEFT_LOG_ERROR);
    weft_log(WEFT_LOG_WARN, "test", "hidden");
    check_int(c->count, ==, 1);
    weft_log_set_level(WEFT_LOG_OFF);
    weft_log(WEFT_LOG_ERROR, "test", "hidden");
    check_int(c->count, ==, 1);
    check(!weft_log_enabled(WEFT_LOG_OFF, "test"));
}

static void test_component_levels(void)
{
    capture_t *c = start_capture();
    check_err(weft_log_set_component_level("pool", WEFT_LOG_DEBUG), 0);
    check_err(weft_log_set_component_level("tcp", WEFT_LOG_ERROR), 0);
    weft_log(WEFT_LOG_DEBUG, "pool", "pool debug");
    weft_log(WEFT_LOG_WARN, "tcp", "tcp warn");
    weft_log(WEFT_LOG_DEBUG, "other", "other debug");
    weft_log(WEFT_LOG_INFO, "other", "other info");
    check_int(c->count, ==, 2);
    check_str(c->message, "other info");
    check_err(weft_log_set_component_level("", WEFT_LOG_DEBUG), WEFT_EINVAL);
    check_err(weft_log_set_component_level(NULL, WEFT_LOG_DEBUG), WEFT_EINVAL);
    check_err(weft_log_set_component_level("a-component-name-that-is-far-too-long", 0),
              WEFT_EINVAL);
    check_err(weft_log_set_component_level("x", (weft_log_level_t)9), WEFT_EINVAL);
}

static void test_component_table_full(void)
{
    start_capture();
    char name[16];
    for (int i = 0; i < 16; i++) {
        snprintf(name, sizeof(name), "c%d", i);
        check_err(weft_log_set_component_level(name, WEFT_LOG_WARN), 0);
    }
    check_err(weft_log_set_component_level("one-more", WEFT_LOG_WARN), WEFT_ENOSPC);
    check_err(weft_log_set_component_level("c3", WEFT_LOG_ERROR), 0); /* replacing is fine */
}

static void test_configure(void)
{
    capture_t *c = start_capture();
    check_err(weft_log_configure("warn,deferred=debug,format=plain"), 0);
    check_int(weft_log_get_level(), ==, WEFT_LOG_WARN);
    check(weft_log_enabled(WEFT_LOG_DEBUG, "deferred"));
    check(!weft_log_enabled(WEFT_LOG_INFO, "pool"));
    char buf[256];
    weft_log_describe(buf, sizeof(buf));
    check_str(buf, "warn,deferred=debug,format=plain sink=custom");
    (void)c;
}

static void test_configure_all_or_nothing(void)
{
    start_capture();
    check_err(weft_log_configure("debug,pool=loud"), WEFT_ESYNTAX);
    check_err(weft_log_configure("debug,,info"), WEFT_ESYNTAX);
    check_err(weft_log_configure("format=xml"), WEFT_ESYNTAX);
    check_err(weft_log_configure("chatty"), WEFT_ESYNTAX);
    check_err(weft_log_configure("=debug"), WEFT_ESYNTAX);
    check_err(weft_log_configure(NULL), WEFT_ESYNTAX);
    check_int(weft_log_get_level(), ==, WEFT_LOG_INFO); /* the good "debug" item was not kept */
    check(!weft_log_enabled(WEFT_LOG_DEBUG, "pool"));
}

static void test_env(void)
{
    capture_t *c = start_capture();
    setenv("WEFT_LOG", "error,tcp=debug", 1);
    weft__log_reload_env();
    check_int(weft_log_get_level(), ==, WEFT_LOG_ERROR);
    check(weft_log_enabled(WEFT_LOG_DEBUG, "tcp"));
    check_int(c->count, ==, 0);

    start_capture();
    c = start_capture();
    setenv("WEFT_LOG", "verbose", 1);
    weft__log_reload_env();
    weft_log_enabled(WEFT_LOG_INFO, "x"); /* the report comes after the configuration read */
    check_int(c->count, ==, 1);
    weft_log_enabled(WEFT_LOG_INFO, "y");
    check_int(c->count, ==, 1); /* reported once, not on every read */
    check_int(c->level, ==, WEFT_LOG_WARN);
    check(strstr(c->line, "value=verbose") != NULL);
    check(strstr(c->line, "error=WEFT_ESYNTAX") != NULL);
    check_int(weft_log_get_level(), ==, WEFT_LOG_INFO);
    unsetenv("WEFT_LOG");
}

static void test_logfmt_line(void)
{
    capture_t *c = start_capture();
    weft_log_field_t fields[] = {
        {"peer", "127.0.0.1:5"}, {"reason", "line too long"}, {"quote", "a\"b\nc"}, {"e", ""}};
    weft_log_with(WEFT_LOG_WARN, "tcp", fields, 4, "closing %s", "connection");
    check_int(c->count, ==, 1);
    /* ts=YYYY-MM-DDTHH:MM:SS.mmmZ */
    check(strncmp(c->line, "ts=", 3) == 0);
    check_int(c->line[26], ==, 'Z');
    check_str(c->line + 27, " level=warn component=tcp msg=\"closing connection\" peer=127.0.0.1:5 "
                            "reason=\"line too long\" quote=\"a\\\"b\\nc\" e=\"\"\n");
    check(strchr(c->line, '\n') == c->line + strlen(c->line) - 1);
}

static void test_plain_line(void)
{
    weft_log_record_t rec = {.level = WEFT_LOG_ERROR,
                             .component = "deferred",
                             .message = "Unhandled error in Deferred:\tboom",
                             .fields = NULL,
                             .nfields = 0};
    char line[256];
    size_t n = weft_log_format_record(&rec, WEFT_LOG_FORMAT_PLAIN, line, sizeof(line));
    check_str(line, "weft[deferred] error: Unhandled error in Deferred:\\x09boom\n");
    check_uint(n, ==, strlen(line));
}

static void test_truncation(void)
{
    capture_t *c = start_capture();
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    weft_log(WEFT_LOG_INFO, "test", "%s", big);
    check_uint(strlen(c->message), ==, 2047);
    check_str(c->message + 2044, "...");
    char small[64];
    weft_log_record_t rec = {.level = WEFT_LOG_INFO, .component = "t", .message = big};
    size_t need = weft_log_format_record(&rec, WEFT_LOG_FORMAT_PLAIN, small, sizeof(small));
    check_uint(need, >, sizeof(small));
    check_uint(strlen(small), ==, sizeof(small) - 1);
    check_int(small[sizeof(small) - 2], ==, '\n');
}

static void test_default_sink_writes_stderr(void)
{
    weft__log_reset();
    int fds[2];
    if (!check_int(pipe(fds), ==, 0))
        return;
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    weft_log_set_format(WEFT_LOG_FORMAT_PLAIN);
    weft_log(WEFT_LOG_WARN, "pool", "queue at %d%%", 100);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    char buf[256] = {0};
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    check_int(n, >, 0);
    check_str(buf, "weft[pool] warn: queue at 100%\n");
    weft__log_reset();
}

static void test_level_names(void)
{
    weft_log_level_t l;
    check_err(weft_log_level_parse("WARNING", &l), 0);
    check_int(l, ==, WEFT_LOG_WARN);
    check_err(weft_log_level_parse("nope", &l), WEFT_EINVAL);
    check_str(weft_log_level_name(WEFT_LOG_DEBUG), "debug");
    check_str(weft_log_level_name((weft_log_level_t)42), "?");
}

int main(void)
{
    TEST(test_threshold(), "records below the level never reach the sink; off silences all");
    TEST(test_component_levels(), "a component's own level overrides the global one");
    TEST(test_component_table_full(), "the 17th component level is refused with WEFT_ENOSPC");
    TEST(test_configure(), "weft_log_configure applies a WEFT_LOG-style spec");
    TEST(test_configure_all_or_nothing(),
         "a malformed spec returns WEFT_ESYNTAX and changes nothing");
    TEST(test_env(), "WEFT_LOG sets the levels; a malformed one is reported once and ignored");
    TEST(test_logfmt_line(), "a logfmt record is one line with quoted, escaped values");
    TEST(test_plain_line(), "the plain format escapes control characters in the message");
    TEST(test_truncation(), "long messages are cut with ... and lines keep their newline");
    TEST(test_default_sink_writes_stderr(), "the default sink writes one line to stderr");
    TEST(test_level_names(), "level names parse case-insensitively and print back");
    weft__log_reset();
    return done_testing();
}
