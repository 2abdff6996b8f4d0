/* SPDX-License-Identifier: MIT */
/* The configuration file parser: a pure function from bytes to a config or an error. */

/*
 * Design. One pass over the buffer, line by line, never reading past len and never copying a
 * line before it is known to be within WEFT_CONFIG_LINE_MAX: memory grows only with the keys
 * stored, which are bounded by WEFT_CONFIG_ENTRIES_MAX. Every error names the line (1-based)
 * and a static reason, so the caller can print "file:line: reason". No I/O, no logging, no
 * global state: the fuzzer calls weft_config_parse directly.
 */
#include <string.h>

#include <weft/error.h>

#include "config-internal.h"

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Trims spaces and tabs from both ends of [*s, *s + *len). */
static void trim(const char **s, size_t *len)
{
    while (*len > 0 && is_blank(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && is_blank((*s)[*len - 1]))
        (*len)--;
}

typedef struct {
    weft_config_error_t *error;
    const char *source;
    unsigned long line;
} ctx_t;

static int fail(ctx_t *x, int code, const char *reason)
{
    if (x->error != NULL) {
        x->error->source = x->source;
        x->error->line = x->line;
        x->error->reason = reason;
        x->error->code = code;
    }
    return code;
}

/* Parses one line (no newline, no "\r"), updating the current section. */
static int parse_line(weft_config_t *c, ctx_t *x, const char *s, size_t len, const char **sec,
                      size_t *slen)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\0')
            return fail(x, WEFT_ESYNTAX, "NUL byte in the line");
    }
    trim(&s, &len);
    if (len == 0 || s[0] == '#' || s[0] == ';')
        return 0;
    if (s[0] == '[') {
        if (s[len - 1] != ']')
            return fail(x, WEFT_ESYNTAX, "section header without a closing ']'");
        const char *name = s + 1;
        size_t nlen = len - 2;
        trim(&name, &nlen);
        if (!weft__config_name_ok(name, nlen))
            return fail(x, WEFT_ESYNTAX,
                        "bad section name: use letters, digits, '_', '-' and '.' between [ ]");
        *sec = name;
        *slen = nlen;
        return 0;
    }
    const char *eq = memchr(s, '=', len);
    if (eq == NULL)
        return fail(x, WEFT_ESYNTAX, "expected 'key = value', '[section]' or a comment");
    const char *key = s;
    size_t klen = (size_t)(eq - s);
    trim(&key, &klen);
    if (klen == 0)
        return fail(x, WEFT_ESYNTAX, "missing key before '='");
    if (!weft__config_name_ok(key, klen))
        return fail(x, WEFT_ESYNTAX, "bad key: use letters, digits, '_', '-' and '.'");
    const char *value = eq + 1;
    size_t vlen = (size_t)(s + len - value);
    trim(&value, &vlen);
    for (size_t i = 0; i < vlen; i++) {
        unsigned char ch = (unsigned char)value[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return fail(x, WEFT_ESYNTAX, "control character in the value");
    }
    int rc = weft__config_put(c, *sec, *slen, key, klen, value, vlen, false);
    if (rc == WEFT_EEXIST)
        return fail(x, WEFT_ESYNTAX, "duplicate key: it is already set in this section");
    if (rc == WEFT_EMSGSIZE)
        return fail(x, rc, "too many keys (the limit is WEFT_CONFIG_ENTRIES_MAX)");
    if (rc != 0)
        return fail(x, rc, "out of memory");
    return 0;
}

weft_config_t *weft_config_parse(const char *text, size_t len, const char *source,
                                 weft_config_error_t *error, int *err)
{
    ctx_t x = {error, source != NULL ? source : "<config>", 0};
    int rc = 0;
    weft_config_t *c = NULL;
    if (text == NULL && len > 0) {
        rc = fail(&x, WEFT_EINVAL, "no text");
        goto out;
    }
    c = weft_config_new(&rc);
    if (c == NULL) {
        rc = fail(&x, rc, "out of memory");
        goto out;
    }
    const char *sec = "";
    size_t slen = 0;
    size_t pos = 0;
    while (pos < len) {
        x.line++;
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t llen = nl != NULL ? (size_t)(nl - start) : len - pos;
        pos += llen + (nl != NULL);
        if (llen > 0 && start[llen - 1] == '\r')
            llen--;
        if (llen > WEFT_CONFIG_LINE_MAX) {
            rc = fail(&x, WEFT_EMSGSIZE,
                      "line too long (the limit is WEFT_CONFIG_LINE_MAX, 4096 bytes)");
            break;
        }
        rc = parse_line(c, &x, start, llen, &sec, &slen);
        if (rc != 0)
            break;
    }
    if (rc != 0) {
        weft_config_free(c);
        c = NULL;
    }
out:
    if (err != NULL)
        *err = rc;
    return c;
}
