/* SPDX-License-Identifier: MIT */
/* weft-info: what weft is, what it runs on, and the choices it will make on this machine. */
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include <weft.h>

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: %s\nPrints weft's version, the libuv it runs on, the CPU count, the\n"
               "default pool sizes and the log settings (WEFT_LOG, WEFT_CPU_THREADS and\n"
               "WEFT_IO_THREADS change them).\n",
               argv[0]);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "%s: unknown argument '%s' (try --help)\n", argv[0], argv[1]);
        return 2;
    }
    char log[256];
    weft_log_describe(log, sizeof(log));
    printf("weft %s\n", weft_version_string());
    printf("libuv %s (built against %d.%d.%d)\n", uv_version_string(), UV_VERSION_MAJOR,
           UV_VERSION_MINOR, UV_VERSION_PATCH);
    printf("cpus %u\n", weft_cpu_count());
    printf("cpu pool threads %u\n", weft_default_pool_threads(WEFT_POOL_KIND_CPU));
    printf("io pool threads %u\n", weft_default_pool_threads(WEFT_POOL_KIND_IO));
    printf("log %s\n", log);
    if (weft_version() != WEFT_VERSION_HEX) {
        fprintf(stderr, "weft-info: header version %06x but library version %06x\n",
                WEFT_VERSION_HEX, weft_version());
        return 1;
    }
    return 0;
}
