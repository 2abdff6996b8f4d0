/* SPDX-License-Identifier: MIT */
/* weft_strerror and weft_err_name, generated from WEFT_ERRNO_MAP. */
#include <stdio.h>

#include <weft/error.h>

static const char *unknown(int code)
{
    static _Thread_local char buf[32];
    snprintf(buf, sizeof(buf), "unknown error %d", code);
    return buf;
}

const char *weft_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
#define WEFT__ERR_MSG(name, value, msg)                                                            \
    case (value):                                                                                  \
        return msg;
        WEFT_ERRNO_MAP(WEFT__ERR_MSG)
#undef WEFT__ERR_MSG
    }
    return unknown(code);
}

const char *weft_err_name(int code)
{
    switch (code) {
    case 0:
        return "WEFT_OK";
#define WEFT__ERR_NAME(name, value, msg)                                                           \
    case (value):                                                                                  \
        return "WEFT_" #name;
        WEFT_ERRNO_MAP(WEFT__ERR_NAME)
#undef WEFT__ERR_NAME
    }
    return unknown(code);
}
