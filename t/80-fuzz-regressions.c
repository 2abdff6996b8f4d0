/* SPDX-License-Identifier: MIT */
/* Replays every committed fuzz input (t/fuzz/corpus/<name>/) through its harness. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEFT_FUZZ_NO_MAIN 1 /* the harnesses were built so: their entries are fuzz_<name>_one */
#include "fuzz/fuzz.h"
#include "helpers.h"
#include "tap.h"

/*
 * The harnesses of t/fuzz/ are linked in, built without libFuzzer (WEFT_FUZZ_NO_MAIN), so
 * `make check` and its sanitizer and valgrind runs cover every seed and every crash input ever
 * added to a corpus. A harness aborts on a broken invariant; a crash fails the whole program.
 * Each input is also replayed cut short at every length up to 256 bytes (a fuzzer's inputs are
 * scripts, and their prefixes are scripts too).
 *
 * A new harness adds one row to harnesses[] and its declaration to fuzz.h.
 */

typedef int (*entry_fn)(const uint8_t *data, size_t size);

static const struct {
    const char *name;
    entry_fn one;
} harnesses[] = {
    {"line", fuzz_line_one},     {"netstring", fuzz_netstring_one}, {"intn", fuzz_intn_one},
    {"config", fuzz_config_one}, {"http", fuzz_http_one},
};

/* Reads a whole file into an owned buffer. */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void replay(size_t h)
{
    const char *top = getenv("WEFT_TOP");
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/t/fuzz/corpus/%s", top != NULL ? top : ".", harnesses[h].name);
    DIR *d = opendir(dir);
    if (!check(d != NULL)) {
        diag("cannot open %s", dir);
        return;
    }
    char *names[1024];
    size_t count = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && count < sizeof(names) / sizeof(names[0])) {
        if (de->d_name[0] != '.')
            names[count++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, count, sizeof(names[0]), by_name);
    size_t prefix_max = t_under_valgrind() ? 16 : 256;
    for (size_t i = 0; i < count; i++) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        size_t len = 0;
        uint8_t *data = slurp(path, &len);
        if (check(data != NULL)) {
            harnesses[h].one(data, len);
            for (size_t cut = 0; cut < len && cut <= prefix_max; cut++)
                harnesses[h].one(data, cut);
        }
        free(data);
        free(names[i]);
    }
    note("%s: %zu corpus inputs replayed", harnesses[h].name, count);
    check(count > 0);
}

int main(void)
{
    for (size_t h = 0; h < sizeof(harnesses) / sizeof(harnesses[0]); h++) {
        char desc[128];
        snprintf(desc, sizeof(desc), "every %s corpus input replays without a crash or a leak",
                 harnesses[h].name);
        TEST(replay(h), desc);
    }
    return done_testing();
}
