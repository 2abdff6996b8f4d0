/* SPDX-License-Identifier: MIT */
/* What the benchmarks print for one measure taken on weft and on raw libuv in the same run. */
#ifndef WEFT_T_BENCH_REPORT_H
#define WEFT_T_BENCH_REPORT_H

#include <stdarg.h>
#include <stdio.h>

/* Prints, as mk/bench-report.sh reads them:
 *   value: <name>_weft <weft> <unit>
 *   value: <name>_libuv <libuv> <unit>
 *   ratio: <name> <weft / libuv>
 * the values with `decimals` digits after the point, the ratio with two. name is a printf
 * format and its arguments. */
static inline void bench_vs_libuv(double weft, double libuv, int decimals, const char *unit,
                                  const char *name, ...) __attribute__((format(printf, 5, 6)));

static inline void bench_vs_libuv(double weft, double libuv, int decimals, const char *unit,
                                  const char *name, ...)
{
    char n[128];
    va_list ap;
    va_start(ap, name);
    vsnprintf(n, sizeof(n), name, ap);
    va_end(ap);
    printf("value: %s_weft %.*f %s\n", n, decimals, weft, unit);
    printf("value: %s_libuv %.*f %s\n", n, decimals, libuv, unit);
    printf("ratio: %s %.2f\n", n, weft / libuv);
}

#endif /* WEFT_T_BENCH_REPORT_H */
