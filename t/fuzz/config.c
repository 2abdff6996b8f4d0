/* SPDX-License-Identifier: MIT */
/* Fuzz harness: the config file parser (weft_config_parse), with a print-and-parse-back check. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/config.h>
#include <weft/error.h>

#include "fuzz.h"

/*
 * The whole input is the file. Checked: a parse either succeeds or fails with a documented
 * code, a line number inside the input and a reason; a config holds at most
 * WEFT_CONFIG_ENTRIES_MAX keys, each found again by weft_config_get; and a config printed back
 * as a file parses to the same keys and values in the same order.
 */

/* Prints c as a file into an owned buffer; *len gets its length. */
static char *print_config(const weft_config_t *c, size_t *len)
{
    size_t cap = 64, n = 0;
    char *out = malloc(cap);
    WEFT_FUZZ_CHECK(out != NULL);
    const char *cur = "";
    for (size_t i = 0; i < weft_config_count(c); i++) {
        const char *sec, *key, *val;
        WEFT_FUZZ_CHECK(weft_config_entry(c, i, &sec, &key, &val) == 0);
        size_t need = strlen(sec) + strlen(key) + strlen(val) + 16;
        if (n + need > cap) {
            cap = 2 * (n + need);
            out = realloc(out, cap);
            WEFT_FUZZ_CHECK(out != NULL);
        }
        if (strcmp(sec, cur) != 0) {
            WEFT_FUZZ_CHECK(sec[0] != '\0'); /* top keys come first, before any header */
            n += (size_t)sprintf(out + n, "[%s]\n", sec);
            cur = sec;
        }
        n += (size_t)sprintf(out + n, "%s = %s\n", key, val);
    }
    *len = n;
    return out;
}

int FUZZ_ENTRY(config)(const uint8_t *data, size_t size)
{
    weft_config_error_t e;
    memset(&e, 0, sizeof(e));
    int err = 1;
    weft_config_t *c = weft_config_parse((const char *)data, size, "fuzz", &e, &err);
    if (c == NULL) {
        WEFT_FUZZ_CHECK(err == WEFT_ESYNTAX || err == WEFT_EMSGSIZE || err == WEFT_ENOMEM);
        WEFT_FUZZ_CHECK(e.code == err && e.reason != NULL && e.line >= 1 && e.line <= size + 1);
        char buf[64];
        WEFT_FUZZ_CHECK(weft_config_error_format(&e, buf, sizeof(buf)) > 0);
        return 0;
    }
    WEFT_FUZZ_CHECK(err == 0);
    size_t count = weft_config_count(c);
    WEFT_FUZZ_CHECK(count <= WEFT_CONFIG_ENTRIES_MAX);
    for (size_t i = 0; i < count; i++) {
        const char *sec, *key, *val;
        WEFT_FUZZ_CHECK(weft_config_entry(c, i, &sec, &key, &val) == 0);
        WEFT_FUZZ_CHECK(weft_config_get(c, sec, key) == val);
        double d;
        int rc = weft_config_get_double(c, sec, key, &d);
        WEFT_FUZZ_CHECK(rc == 0 || rc == WEFT_EINVAL);
    }
    WEFT_FUZZ_CHECK(weft_config_entry(c, count, NULL, NULL, NULL) == WEFT_ERANGE);

    size_t len;
    char *text = print_config(c, &len);
    weft_config_t *back = weft_config_parse(text, len, "printed", NULL, &err);
    WEFT_FUZZ_CHECK(back != NULL && err == 0);
    WEFT_FUZZ_CHECK(weft_config_count(back) == count);
    for (size_t i = 0; i < count; i++) {
        const char *s1, *k1, *v1, *s2, *k2, *v2;
        WEFT_FUZZ_CHECK(weft_config_entry(c, i, &s1, &k1, &v1) == 0);
        WEFT_FUZZ_CHECK(weft_config_entry(back, i, &s2, &k2, &v2) == 0);
        WEFT_FUZZ_CHECK(strcmp(s1, s2) == 0 && strcmp(k1, k2) == 0 && strcmp(v1, v2) == 0);
    }
    weft_config_free(back);
    free(text);
    weft_config_free(c);
    return 0;
}
