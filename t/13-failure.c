/* SPDX-License-Identifier: MIT */
/* Failures: types and their parents, check, trap, causes, format, copy, the built-in types. */
#include <string.h>

#include <weft/deferred.h>
#include <weft/failure.h>

#include "tap.h"

WEFT_FAILURE_TYPE(app_error, "app.Error", &weft_error_type);
WEFT_FAILURE_TYPE(app_db_error, "app.DbError", &app_error);
WEFT_FAILURE_TYPE(app_io_error, "app.IoError", &app_error);
static WEFT_FAILURE_TYPE(other_root, "other.Root", NULL);

static void test_new_fields(void)
{
    weft_failure_t *f = weft_failure_new(&app_db_error, WEFT_EIO, "disk on fire");
    check_ptr(weft_failure_type(f), ==, &app_db_error);
    check_int(weft_failure_code(f), ==, WEFT_EIO);
    check_str(weft_failure_message(f), "disk on fire");
    check_ptr(weft_failure_cause(f), ==, NULL);
    weft_failure_free(f);
}

static void test_defaults(void)
{
    weft_failure_t *f = weft_failure_new(NULL, 0, NULL);
    check_ptr(weft_failure_type(f), ==, &weft_error_type);
    check_str(weft_failure_message(f), "weft.Error");
    weft_failure_free(f);
    weft_failure_t *g = weft_failure_newf(&app_error, 7, "row %d of %s", 3, "users");
    check_str(weft_failure_message(g), "row 3 of users");
    weft_failure_free(g);
}

static void test_free_null(void)
{
    weft_failure_free(NULL);
    weft_failure_free_fn(NULL);
    check(1);
}

static void test_check_walks_parents(void)
{
    weft_failure_t *f = weft_failure_new(&app_db_error, 0, "x");
    check_ptr(weft_failure_check(f, &app_error), ==, &app_error);
    check_ptr(weft_failure_check(f, &weft_error_type), ==, &weft_error_type);
    check_ptr(weft_failure_check(f, &app_db_error), ==, &app_db_error);
    check_ptr(weft_failure_check(f, &app_io_error), ==, NULL);
    check_ptr(weft_failure_check(f, &other_root), ==, NULL);
    check(weft_failure_is(f, &app_error));
    check(!weft_failure_is(f, &weft_cancelled_error_type));
    weft_failure_free(f);
}

static void test_check_first_argument_wins(void)
{
    weft_failure_t *f = weft_failure_new(&app_db_error, 0, "x");
    /* Twisted returns the first argument that matches, not the most specific one. */
    check_ptr(weft_failure_check(f, &app_io_error, &app_error, &app_db_error), ==, &app_error);
    check_ptr(weft_failure_check(f, &app_db_error, &weft_error_type), ==, &app_db_error);
    check_ptr(weft_failure_check(NULL, &weft_error_type), ==, NULL);
    weft_failure_free(f);
}

static int trapped;

static weft_result_t trap_cancel(weft_failure_t *f, void *arg)
{
    (void)arg;
    WEFT_TRAP(f, &weft_cancelled_error_type);
    trapped++;
    weft_failure_free(f);
    return weft_ok(NULL, NULL);
}

static int last_errback_seen;
static const weft_failure_type_t *last_type;

static weft_result_t record_errback(weft_failure_t *f, void *arg)
{
    (void)arg;
    last_errback_seen++;
    last_type = weft_failure_type(f);
    weft_failure_free(f);
    return weft_ok(NULL, NULL);
}

static void test_trap_mismatch_passes_same_failure(void)
{
    trapped = 0;
    last_errback_seen = 0;
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_add_errback(d, trap_cancel, NULL), 0);
    check_err(weft_deferred_add_errback(d, record_errback, NULL), 0);
    check_err(weft_deferred_errback(d, weft_failure_new(&app_io_error, 1, "io")), 0);
    check_int(trapped, ==, 0);
    check_int(last_errback_seen, ==, 1);
    check_ptr(last_type, ==, &app_io_error);
    weft_deferred_unref(d);
}

static void test_trap_match_handles(void)
{
    trapped = 0;
    last_errback_seen = 0;
    weft_deferred_t *d = weft_deferred_new();
    check_err(weft_deferred_add_errback(d, trap_cancel, NULL), 0);
    check_err(weft_deferred_add_errback(d, record_errback, NULL), 0);
    check_err(weft_deferred_cancel(d), 0);
    check_int(trapped, ==, 1);
    check_int(last_errback_seen, ==, 0);
    weft_deferred_unref(d);
}

static void test_format_with_cause_chain(void)
{
    weft_failure_t *inner = weft_failure_from_code(WEFT_ECONNREFUSED, NULL);
    weft_failure_t *f = weft_failure_new(&app_db_error, WEFT_EIO, "connect failed");
    check_err(weft_failure_set_cause(f, inner), 0);
    char buf[256];
    size_t n = weft_failure_format(f, buf, sizeof(buf));
    check_str(buf, "app.DbError: connect failed [WEFT_EIO]; caused by: weft.ConnectionRefused: "
                   "connection refused [WEFT_ECONNREFUSED]");
    check_uint(n, ==, strlen(buf));
    weft_failure_free(f);
}

static void test_format_truncates_like_snprintf(void)
{
    weft_failure_t *f = weft_failure_new(&app_error, 0, "0123456789");
    char small[8];
    size_t n = weft_failure_format(f, small, sizeof(small));
    check_uint(n, ==, strlen("app.Error: 0123456789"));
    check_str(small, "app.Err");
    check_uint(weft_failure_format(f, NULL, 0), ==, n);
    weft_failure_free(f);
}

static void test_format_user_code(void)
{
    weft_failure_t *f = weft_failure_new(&app_error, 42, "answer");
    char buf[64];
    weft_failure_format(f, buf, sizeof(buf));
    check_str(buf, "app.Error: answer [code 42]");
    weft_failure_free(f);
}

static void test_copy_is_deep(void)
{
    weft_failure_t *f = weft_failure_new(&app_error, 1, "outer");
    check_err(weft_failure_set_cause(f, weft_failure_new(&app_io_error, 2, "inner")), 0);
    weft_failure_t *c = weft_failure_copy(f);
    weft_failure_free(f);
    check_ptr(weft_failure_type(c), ==, &app_error);
    check_str(weft_failure_message(c), "outer");
    check_ptr(weft_failure_type(weft_failure_cause(c)), ==, &app_io_error);
    check_str(weft_failure_message(weft_failure_cause(c)), "inner");
    weft_failure_free(c);
}

static void test_set_cause_rejects_cycle(void)
{
    weft_failure_t *f = weft_failure_new(&app_error, 0, "a");
    weft_failure_t *g = weft_failure_new(&app_error, 0, "b");
    check_err(weft_failure_set_cause(f, g), 0);
    check_err(weft_failure_set_cause(g, f), WEFT_EINVAL); /* f would contain itself */
    check_err(weft_failure_set_cause(f, f), WEFT_EINVAL);
    weft_failure_t *taken = weft_failure_take_cause(f);
    check_ptr(taken, ==, g);
    check_ptr(weft_failure_cause(f), ==, NULL);
    weft_failure_free(taken);
    weft_failure_free(f);
}

static void test_long_cause_chain(void)
{
    weft_failure_t *f = weft_failure_new(&app_error, 0, "0");
    /* first_error takes its sub-failure as its cause without set_cause's cycle walk. */
    for (size_t i = 1; i < 200000; i++)
        f = weft_failure_first_error(f, i);
    char buf[64];
    check_uint(weft_failure_format(f, buf, sizeof(buf)), >, 200000);
    weft_failure_t *c = weft_failure_copy(f);
    weft_failure_free(f);
    weft_failure_free(c);
    check(1); /* reaching here without a stack overflow is the test; ASan/valgrind check leaks */
}

static void test_from_code_types(void)
{
    struct {
        int code;
        const weft_failure_type_t *type;
    } cases[] = {
        {WEFT_ECANCELED, &weft_cancelled_error_type},
        {WEFT_ETIMEDOUT, &weft_timeout_error_type},
        {WEFT_EALREADY, &weft_already_called_error_type},
        {WEFT_EOVERLOAD, &weft_overload_error_type},
        {WEFT_ECLOSED, &weft_closed_error_type},
        {WEFT_ECONNRESET, &weft_connection_lost_type},
        {WEFT_EEOF, &weft_connection_done_type},
        {WEFT_EIO, &weft_system_error_type},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        weft_failure_t *f = weft_failure_from_code(cases[i].code, NULL);
        check_ptr(weft_failure_type(f), ==, cases[i].type);
        check_int(weft_failure_code(f), ==, cases[i].code);
        check_str(weft_failure_message(f), weft_strerror(cases[i].code));
        weft_failure_free(f);
    }
}

static void test_builtin_hierarchy(void)
{
    const weft_failure_type_t *all[] = {
        &weft_cancelled_error_type,    &weft_timeout_error_type,   &weft_already_called_error_type,
        &weft_first_error_type,        &weft_queue_overflow_type,  &weft_queue_underflow_type,
        &weft_memory_error_type,       &weft_overload_error_type,  &weft_closed_error_type,
        &weft_system_error_type,       &weft_connection_lost_type, &weft_connection_done_type,
        &weft_connection_refused_type,
    };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        check(weft_failure_type_is(all[i], &weft_error_type));
        check(strncmp(all[i]->name, "weft.", 5) == 0);
    }
    check_ptr(weft_error_type.parent, ==, NULL);
    check_str(weft_error_type.name, "weft.Error");
    check(weft_failure_type_is(&weft_connection_done_type, &weft_connection_lost_type));
    check(!weft_failure_type_is(&weft_timeout_error_type, &weft_cancelled_error_type));
}

static void test_first_error(void)
{
    weft_failure_t *sub = weft_failure_new(&app_io_error, WEFT_EIO, "read");
    weft_failure_t *f = weft_failure_first_error(sub, 3);
    check_ptr(weft_failure_type(f), ==, &weft_first_error_type);
    check_uint(weft_failure_index(f), ==, 3);
    check_ptr(weft_failure_cause(f), ==, sub);
    weft_failure_t *taken = weft_failure_take_cause(f);
    check_ptr(taken, ==, sub);
    weft_failure_free(f);
    weft_failure_free(taken);
}

int main(void)
{
    TEST(test_new_fields(), "failure_new keeps type, code, message and has no cause");
    TEST(test_defaults(), "failure_new defaults to weft.Error and the type name; newf formats");
    TEST(test_free_null(), "failure_free(NULL) does nothing");
    TEST(test_check_walks_parents(), "check matches the failure's type and every ancestor only");
    TEST(test_check_first_argument_wins(), "check returns the first argument that matches");
    TEST(test_trap_mismatch_passes_same_failure(),
         "trap on a mismatch hands the same failure to the next errback");
    TEST(test_trap_match_handles(), "trap on a match lets the errback handle the failure");
    TEST(test_format_with_cause_chain(), "format prints type, message, code and the cause chain");
    TEST(test_format_truncates_like_snprintf(),
         "format cuts to the buffer and returns the full length");
    TEST(test_format_user_code(), "format prints a user code as a number");
    TEST(test_copy_is_deep(), "copy duplicates the whole cause chain");
    TEST(test_set_cause_rejects_cycle(),
         "set_cause refuses a cycle; take_cause detaches the cause");
    TEST(test_long_cause_chain(),
         "a 200 000-long cause chain is copied and freed without recursion");
    TEST(test_from_code_types(), "failure_from_code picks the type that fits the code");
    TEST(test_builtin_hierarchy(), "every built-in type descends from weft.Error");
    TEST(test_first_error(), "first_error wraps the sub-failure as its cause with the index");
    return done_testing();
}
