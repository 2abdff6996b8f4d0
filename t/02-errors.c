/* SPDX-License-Identifier: MIT */
/* Error codes: the X-macro list, weft_strerror and weft_err_name. */
#include <string.h>

#include <weft/error.h>

#include "tap.h"

static void test_every_code_named(void)
{
    int n = 0;
#define CHECK_CODE(name, value, msg)                                                               \
    do {                                                                                           \
        check_str(weft_err_name(value), "WEFT_" #name);                                            \
        check_str(weft_strerror(value), msg);                                                      \
        check(strncmp(weft_strerror(value), "unknown", 7) != 0);                                   \
        check_int(value, <, 0);                                                                    \
        n++;                                                                                       \
    } while (0);
    WEFT_ERRNO_MAP(CHECK_CODE)
#undef CHECK_CODE
    check_int(n, >=, 30);
}

static void test_errno_values(void)
{
    check_int(WEFT_EINVAL, ==, -EINVAL);
    check_int(WEFT_ENOMEM, ==, -ENOMEM);
    check_int(WEFT_ECANCELED, ==, -ECANCELED);
    check_int(WEFT_EBUSY, ==, -EBUSY);
    check_int(WEFT_EALREADY, ==, -EALREADY);
    check_int(WEFT_ETIMEDOUT, ==, -ETIMEDOUT);
    check_int(WEFT_EPROTO, ==, -EPROTO);
}

static void test_own_range(void)
{
    int own[] = {WEFT_EOVERLOAD, WEFT_ECLOSED, WEFT_EWRONGTHREAD, WEFT_EEOF, WEFT_ESYNTAX};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
        check_int(own[i], <=, -4001);
        check_int(own[i], >=, -4099);
    }
    check_str(weft_err_name(WEFT_EOVERLOAD), "WEFT_EOVERLOAD");
}

static void test_unknown(void)
{
    check_str(weft_strerror(-123456), "unknown error -123456");
    check_str(weft_err_name(-123456), "unknown error -123456");
    check_str(weft_strerror(77), "unknown error 77");
    check_ptr(weft_strerror(-4095), !=, NULL);
}

static void test_success(void)
{
    check_str(weft_strerror(0), "success");
    check_str(weft_err_name(WEFT_OK), "WEFT_OK");
}

int main(void)
{
    TEST(test_every_code_named(), "weft_strerror and weft_err_name name every code of the list");
    TEST(test_errno_values(), "codes with an errno equivalent are that errno negated");
    TEST(test_own_range(), "weft's own codes sit in -4001..-4099");
    TEST(test_unknown(), "an unknown code gives \"unknown error N\", never NULL");
    TEST(test_success(), "code 0 is success / WEFT_OK");
    return done_testing();
}
