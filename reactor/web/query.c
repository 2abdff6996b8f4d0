/* SPDX-License-Identifier: MIT */
/* Percent-decoding of paths and query strings. */
#include <stdlib.h>
#include <string.h>

#include <weft/error.h>

#include "web-internal.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes s in place (%XX, and '+' as space when asked). A '%' not followed by two hex digits
 * stays as it is (Twisted's unquote does the same). Returns: 0; WEFT_EPROTO for an encoded
 * NUL. */
int web_url_decode(char *s, bool plus_is_space)
{
    char *w = s;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '%' && p[1] != '\0' && p[2] != '\0' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            char c = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            if (c == '\0')
                return WEFT_EPROTO;
            *w++ = c;
            p += 2;
        } else if (*p == '+' && plus_is_space) {
            *w++ = ' ';
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    return 0;
}

/* Splits query ("a=1&b=2") into the request's decoded arguments. */
int web_parse_query(weft_request_t *req, const char *query)
{
    size_t n = 1;
    for (const char *p = query; *p != '\0'; p++)
        n += *p == '&';
    req->args = calloc(n, sizeof(*req->args));
    if (req->args == NULL)
        return WEFT_ENOMEM;
    const char *p = query;
    while (*p != '\0') {
        const char *amp = strchr(p, '&');
        size_t len = amp != NULL ? (size_t)(amp - p) : strlen(p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t nlen = eq != NULL ? (size_t)(eq - p) : len;
            size_t name_off = req->args_arena.len;
            if (web_buf_append(&req->args_arena, p, nlen) != 0 ||
                web_buf_append(&req->args_arena, "", 1) != 0)
                return WEFT_ENOMEM;
            size_t value_off = req->args_arena.len;
            const char *v = eq != NULL ? eq + 1 : "";
            size_t vlen = eq != NULL ? len - nlen - 1 : 0;
            if (web_buf_append(&req->args_arena, v, vlen) != 0 ||
                web_buf_append(&req->args_arena, "", 1) != 0)
                return WEFT_ENOMEM;
            if (web_url_decode(req->args_arena.data + name_off, true) != 0 ||
                web_url_decode(req->args_arena.data + value_off, true) != 0)
                return WEFT_EPROTO;
            req->args[req->nargs].name = (uint32_t)name_off;
            req->args[req->nargs].value = (uint32_t)value_off;
            req->nargs++;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    return 0;
}
