#!/bin/sh
# SPDX-License-Identifier: MIT
# `make lint`: the checks that keep weft's house rules true. The Makefile passes CC, BUILD,
# CLANG_FORMAT, UV_CFLAGS, PUBLIC_HEADERS, UMBRELLA and FORMAT_FILES. Runs every check, then
# exits 1 if any failed.
set -u
status=0
fail() {
    echo "lint: $*" >&2
    status=1
}

# 1. The include arrows of DESIGN.md.
sh mk/check-arrows.sh . || fail "include arrows broken (see above; DESIGN.md, The house)"

# 2. Public header names are unique (they install flat under include/weft/).
dups=$(for h in $PUBLIC_HEADERS; do basename "$h"; done | sort | uniq -d)
[ -z "$dups" ] || fail "public header names used twice: $dups"

# 3. Every public header compiles alone, and twice (include guard), as C11.
for h in $PUBLIC_HEADERS $UMBRELLA; do
    name=$(basename "$h")
    case "$h" in include/*) inc="<$name>" ;; *) inc="<weft/$name>" ;; esac
    # shellcheck disable=SC2086 # UV_CFLAGS may hold several flags
    printf '#include %s\n#include %s\ntypedef int lint_nonempty;\n' "$inc" "$inc" |
        $CC -std=c11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -Ibuild/include -Iinclude \
            $UV_CFLAGS -x c - 2>&1 | sed "s|^|$h: |" >&2
    # POSIX sh has no pipefail: run again quietly for the status.
    printf '#include %s\n#include %s\ntypedef int lint_nonempty;\n' "$inc" "$inc" |
        $CC -std=c11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -Ibuild/include -Iinclude \
            $UV_CFLAGS -x c - >/dev/null 2>&1 || fail "$h does not compile on its own"
done

# 4. The umbrella header includes every public header.
for h in $PUBLIC_HEADERS; do
    grep -q "^#include <weft/$(basename "$h")>" "$UMBRELLA" ||
        fail "$UMBRELLA does not include <weft/$(basename "$h")>"
done

# 5. Every exported symbol is weft_-prefixed, none is an internal weft__ one, and each
#    exported symbol has an entry (`name` or `name(...)`) in doc/api/.
so="$BUILD/libweft.so"
if [ -f "$so" ]; then
    syms=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVWiu]$/ { print $3 }' | sort -u)
    for s in $syms; do
        case "$s" in
            weft__*) fail "internal symbol exported: $s (mark it static or drop WEFT_EXPORT)" ;;
            weft_*) grep -qE "\`$s([\`( ]|\$)" doc/api/*.md ||
                fail "exported $s has no entry in doc/api/" ;;
            *) fail "exported symbol without the weft_ prefix: $s" ;;
        esac
    done
else
    fail "$so is missing (make lib first)"
fi

# 5b. Every name a public header declares WEFT_EXPORT has an entry in doc/api/ (also the
#     ones the build leaves out of libweft.so).
sh mk/check-api-docs.sh . || fail "public names without an entry in doc/api (see above)"

# 6. doc/errors.md names every error code of WEFT_ERRNO_MAP.
for code in $(sed -n 's/^ *XX(\([A-Z0-9]*\),.*/\1/p' common/error.h); do
    grep -q "WEFT_$code\b" doc/errors.md || fail "doc/errors.md does not describe WEFT_$code"
done

# 7. Layout is clang-format's (the repo's .clang-format), not a reviewer's.
# shellcheck disable=SC2086 # one argument per file
$CLANG_FORMAT --dry-run -Werror $FORMAT_FILES || fail "clang-format wants changes: run make format"

# 8. No stray debugging or disabled code.
rooms=$(for d in common reactor threadpool bridge; do [ -d "$d" ] && echo "$d"; done)
# shellcheck disable=SC2086 # one argument per room
if grep -rnE '^[[:space:]]*#[[:space:]]*if[[:space:]]+0\b' $rooms; then
    fail "#if 0 blocks (STYLE.md 2.10)"
fi

[ "$status" = 0 ] && echo "lint: all checks passed"
exit "$status"
