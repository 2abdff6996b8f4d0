/* SPDX-License-Identifier: MIT */
/* A test plugin that forgot its descriptor: it exports something else. */
#include <weft.h>

WEFT_EXPORT int weft_test_not_a_plugin(void);

int weft_test_not_a_plugin(void)
{
    return 42;
}
