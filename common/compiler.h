/* SPDX-License-Identifier: MIT */
/* Compiler and attribute macros used by every public weft header. */
#ifndef WEFT_COMMON_COMPILER_H
#define WEFT_COMMON_COMPILER_H

/* Marks a public function: exported from libweft.so (everything else is hidden). */
#if defined(__GNUC__) || defined(__clang__)
#define WEFT_EXPORT __attribute__((visibility("default")))
#else
#define WEFT_EXPORT
#endif

/* On functions returning an error code or an owned pointer: ignoring it is a warning. */
#if defined(__GNUC__) || defined(__clang__)
#define WEFT_NODISCARD __attribute__((warn_unused_result))
#else
#define WEFT_NODISCARD
#endif

/* printf-style format checking: fmt is argument FMT, varargs start at argument ARGS. */
#if defined(__GNUC__) || defined(__clang__)
#define WEFT_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define WEFT_PRINTF(fmt, args)
#endif

/*
 * Thread contract markers. They expand to nothing; they make the "Thread:" line of each
 * declaration grep-able (STYLE.md 2.6).
 */
#define WEFT_LOOP_ONLY
#define WEFT_ANY_THREAD
#define WEFT_WORKER_ONLY

#endif /* WEFT_COMMON_COMPILER_H */
