/* SPDX-License-Identifier: MIT */
/* Configuration files: good input, every malformed case with its file and line, the limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <weft/config.h>
#include <weft/error.h>

#include "helpers.h"
#include "tap.h"

static char dir[64];
static char msg[512];

static weft_config_t *parse(const char *text, weft_config_error_t *e, int *err)
{
    memset(e, 0, sizeof(*e));
    weft_config_t *c = weft_config_parse(text, strlen(text), "app.conf", e, err);
    msg[0] = '\0';
    if (c == NULL)
        weft_config_error_format(e, msg, sizeof(msg));
    return c;
}

static void test_good_file(void)
{
    const char *text = "# a comment\n"
                       "  ; another one\n"
                       "name = weft demo  \n"
                       "empty =\n"
                       "\n"
                       "[web]\r\n"
                       "port=8080\r\n"
                       "\thost =\t127.0.0.1\t\n"
                       "[ db.main ]\n"
                       "url = postgres://u@h/db?x=1 # kept\n"
                       "port = 5432";
    weft_config_error_t e;
    int err = -1;
    weft_config_t *c = parse(text, &e, &err);
    if (!check(c != NULL))
        return;
    check_err(err, 0);
    check_str(weft_config_get(c, NULL, "name"), "weft demo");
    check_str(weft_config_get(c, "", "empty"), "");
    check_str(weft_config_get(c, "web", "port"), "8080");
    check_str(weft_config_get(c, "web", "host"), "127.0.0.1");
    check_str(weft_config_get(c, "db.main", "url"), "postgres://u@h/db?x=1 # kept");
    check_str(weft_config_get(c, "db.main", "port"), "5432");
    check_ptr(weft_config_get(c, "web", "name"), ==, NULL);
    check_ptr(weft_config_get(c, "nope", "port"), ==, NULL);
    check_uint(weft_config_count(c), ==, 6);
    const char *s, *k, *v;
    check_err(weft_config_entry(c, 2, &s, &k, &v), 0);
    check_str(s, "web");
    check_str(k, "port");
    check_str(v, "8080");
    check_err(weft_config_entry(c, 6, &s, &k, &v), WEFT_ERANGE);
    weft_config_free(c);
}

static void test_empty_input(void)
{
    weft_config_error_t e;
    int err = -1;
    weft_config_t *c = weft_config_parse(NULL, 0, NULL, &e, &err);
    check(c != NULL);
    check_uint(weft_config_count(c), ==, 0);
    weft_config_free(c);
    check_ptr(weft_config_parse(NULL, 3, NULL, &e, &err), ==, NULL);
    check_err(err, WEFT_EINVAL);
}

/* One malformed input: refused with code, the line and the reason in "app.conf:line: ...". */
static void refused(const char *text, int code, const char *want)
{
    weft_config_error_t e;
    int err = 0;
    weft_config_t *c = parse(text, &e, &err);
    check_ptr(c, ==, NULL);
    check_err(err, code);
    check_err(e.code, code);
    if (!check(strstr(msg, want) != NULL))
        diag("message: %s", msg);
    weft_config_free(c);
}

static void test_malformed(void)
{
    refused("a = 1\njust words\n", WEFT_ESYNTAX,
            "app.conf:2: expected 'key = value', '[section]' or a comment");
    refused("a = 1\n\n[web\n", WEFT_ESYNTAX, "app.conf:3: section header without a closing ']'");
    refused("[]\n", WEFT_ESYNTAX, "app.conf:1: bad section name");
    refused("[we b]\n", WEFT_ESYNTAX, "app.conf:1: bad section name");
    refused("x\n= 1\n", WEFT_ESYNTAX, "app.conf:1: expected");
    refused("= 1\n", WEFT_ESYNTAX, "app.conf:1: missing key before '='");
    refused("my key = 1\n", WEFT_ESYNTAX, "app.conf:1: bad key");
    refused("k\xc3\xa9 = 1\n", WEFT_ESYNTAX, "app.conf:1: bad key");
    refused("[a]\nk = 1\n[b]\nk = 2\n[a]\nk = 3\n", WEFT_ESYNTAX,
            "app.conf:6: duplicate key: it is already set in this section");
    refused("k = a\x01z\n", WEFT_ESYNTAX, "app.conf:1: control character in the value");
    refused("k = 1\r\nj = 2\r\n\r\nz\r\n", WEFT_ESYNTAX, "app.conf:4: expected");
}

static void test_nul_byte(void)
{
    const char text[] = "a = 1\nb = x\0y\n";
    weft_config_error_t e;
    int err = 0;
    check_ptr(weft_config_parse(text, sizeof(text) - 1, "nul.conf", &e, &err), ==, NULL);
    check_err(err, WEFT_ESYNTAX);
    check_uint(e.line, ==, 2);
    check_str(e.reason, "NUL byte in the line");
    check_str(e.source, "nul.conf");
}

static void test_line_limit(void)
{
    size_t n = WEFT_CONFIG_LINE_MAX + 64;
    char *text = malloc(n + 32);
    if (!check(text != NULL))
        return;
    /* "k = vvv...": exactly WEFT_CONFIG_LINE_MAX bytes, then a CRLF: accepted. */
    strcpy(text, "a = 1\nk = ");
    size_t len = strlen(text);
    memset(text + len, 'v', WEFT_CONFIG_LINE_MAX - 4);
    len += WEFT_CONFIG_LINE_MAX - 4;
    strcpy(text + len, "\r\n");
    weft_config_error_t e;
    int err = 0;
    weft_config_t *c = weft_config_parse(text, strlen(text), "big.conf", &e, &err);
    check(c != NULL);
    if (c != NULL)
        check_uint(strlen(weft_config_get(c, NULL, "k")), ==, WEFT_CONFIG_LINE_MAX - 4);
    weft_config_free(c);
    /* One byte more is refused, naming the line, with or without a newline after it. */
    text[len] = 'v';
    text[len + 1] = '\0';
    check_ptr(weft_config_parse(text, strlen(text), "big.conf", &e, &err), ==, NULL);
    check_err(err, WEFT_EMSGSIZE);
    weft_config_error_format(&e, msg, sizeof(msg));
    check(strstr(msg, "big.conf:2: line too long") != NULL);
    free(text);
}

static void test_key_limit(void)
{
    size_t n = WEFT_CONFIG_ENTRIES_MAX + 1;
    char *text = malloc(n * 16);
    if (!check(text != NULL))
        return;
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(text + len, "k%zu = 1\n", i);
    weft_config_error_t e;
    int err = 0;
    check_ptr(weft_config_parse(text, len, "many.conf", &e, &err), ==, NULL);
    check_err(err, WEFT_EMSGSIZE);
    check_uint(e.line, ==, n);
    free(text);
}

/* Every prefix of a tricky input, placed so that its last byte is the last of a readable page:
 * a read past the end faults. */
static void test_prefixes_never_overread(void)
{
    const char *src = "# c\n[s]\r\nk = v\n[t ]\nx=\n\ty = z\t\r\n[u";
    size_t len = strlen(src);
    long page = sysconf(_SC_PAGESIZE);
    char *map =
        mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!check(map != MAP_FAILED))
        return;
    check_int(mprotect(map + page, (size_t)page, PROT_NONE), ==, 0);
    int parsed = 0, refused_n = 0;
    for (size_t n = 0; n <= len; n++) {
        char *at = map + page - n;
        memcpy(at, src, n);
        weft_config_error_t e;
        int err = 0;
        weft_config_t *c = weft_config_parse(at, n, "p.conf", &e, &err);
        if (c != NULL)
            parsed++;
        else
            refused_n++;
        weft_config_free(c);
    }
    check_int(parsed + refused_n, ==, (int)len + 1);
    check_int(refused_n, >, 0); /* "[u" and "[" */
    munmap(map, (size_t)page * 2);
}

static void test_load_file(void)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/good.conf", dir);
    FILE *f = fopen(path, "w");
    if (!check(f != NULL))
        return;
    fputs("[weft]\nshutdown_deadline = 2.5\nbad_number = 2.5s\n", f);
    fclose(f);
    weft_config_error_t e;
    int err = -1;
    weft_config_t *c = weft_config_load(path, &e, &err);
    if (!check(c != NULL))
        return;
    double d = 0;
    check_err(weft_config_get_double(c, "weft", "shutdown_deadline", &d), 0);
    check(d == 2.5);
    check_err(weft_config_get_double(c, "weft", "bad_number", &d), WEFT_EINVAL);
    check_err(weft_config_get_double(c, "weft", "missing", &d), WEFT_ENOENT);
    weft_config_free(c);
}

static void test_load_malformed_names_file_and_line(void)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/bad.conf", dir);
    FILE *f = fopen(path, "w");
    if (!check(f != NULL))
        return;
    fputs("[weft]\nlog_level = info\nport 8080\n", f);
    fclose(f);
    weft_config_error_t e;
    int err = 0;
    check_ptr(weft_config_load(path, &e, &err), ==, NULL);
    check_err(err, WEFT_ESYNTAX);
    weft_config_error_format(&e, msg, sizeof(msg));
    char want[256];
    snprintf(want, sizeof(want), "%s:3: expected 'key = value'", path);
    if (!check(strstr(msg, want) != NULL))
        diag("message: %s", msg);
}

static void test_missing_file(void)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/nope.conf", dir);
    weft_config_error_t e;
    int err = 0;
    check_ptr(weft_config_load(path, &e, &err), ==, NULL);
    check_err(err, WEFT_ENOENT);
    check_uint(e.line, ==, 0);
    weft_config_error_format(&e, msg, sizeof(msg));
    char want[256];
    snprintf(want, sizeof(want), "%s: no such file or directory", path);
    check_str(msg, want);
    check_ptr(weft_config_load(dir, &e, &err), ==, NULL); /* a directory */
    check_err(err, WEFT_EINVAL);
}

static void test_set(void)
{
    int err = 0;
    weft_config_t *c = weft_config_new(&err);
    if (!check(c != NULL))
        return;
    check_err(weft_config_set(c, "web", "port", "80"), 0);
    check_err(weft_config_set(c, "web", "port", "8080"), 0);
    check_err(weft_config_set(c, NULL, "top", "x"), 0);
    check_str(weft_config_get(c, "web", "port"), "8080");
    check_str(weft_config_get(c, "", "top"), "x");
    check_uint(weft_config_count(c), ==, 2);
    check_err(weft_config_set(c, "web", "bad key", "x"), WEFT_EINVAL);
    check_err(weft_config_set(c, "bad section", "k", "x"), WEFT_EINVAL);
    check_err(weft_config_set(c, "web", "k", NULL), WEFT_EINVAL);
    weft_config_free(c);
    weft_config_free(NULL);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/weft-t61-XXXXXX");
    if (mkdtemp(dir) == NULL)
        bail_out("mkdtemp failed");
    TEST(test_good_file(), "a config with comments, sections, CRLF, blanks and an unterminated "
                           "last line gives every key its trimmed value");
    TEST(test_empty_input(), "an empty input is an empty config; NULL text with a length is "
                             "refused");
    TEST(test_malformed(),
         "each malformed line is refused with WEFT_ESYNTAX naming the file, line and reason");
    TEST(test_nul_byte(), "a NUL byte is refused with its line");
    TEST(test_line_limit(), "a line of WEFT_CONFIG_LINE_MAX bytes is read; one byte more is "
                            "refused with WEFT_EMSGSIZE and its line");
    TEST(test_key_limit(), "more than WEFT_CONFIG_ENTRIES_MAX keys are refused with WEFT_EMSGSIZE");
    TEST(test_prefixes_never_overread(),
         "every prefix of an input ending at a guard page parses or fails without reading past "
         "it");
    TEST(test_load_file(), "a loaded file's numbers are read; a non-number is WEFT_EINVAL");
    TEST(test_load_malformed_names_file_and_line(),
         "a malformed file's error names its path and line");
    TEST(test_missing_file(), "a missing file is WEFT_ENOENT with its path and no line");
    TEST(test_set(), "set replaces values and refuses names the file format would refuse");
    t_sh(msg, sizeof(msg), "rm -rf %s", dir);
    return done_testing();
}
