#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks that every public name of the tree at $1 (default: .) has an entry in its API
# reference: each name a public header declares WEFT_EXPORT (functions and exported data)
# must appear in backticks, as `name` or `name(...)`, in some doc/api/*.md. Public headers
# are the *.h of common/, reactor/, threadpool/ and bridge/ that do not end in -internal.h
# and are not under a private/ folder. Macro bodies (a #define and its continued lines) are
# skipped: what a macro declares belongs to its user. Prints one line per undocumented name,
# "header: name has no entry in doc/api", and exits 1 if there is any.
set -u
cd "${1:-.}" || exit 2

headers=$(find common reactor threadpool bridge -name '*.h' ! -name '*-internal.h' \
            ! -path '*/private/*' 2>/dev/null | sort)
[ -n "$headers" ] || exit 0

# One line per declaration: "header<TAB>declaration text", from WEFT_EXPORT to its ';'.
# shellcheck disable=SC2086 # one argument per header; weft's paths have no spaces
decls=$(awk '
FNR == 1 { on = 0; indef = 0 }
indef { indef = /\\$/; next }
/^[[:space:]]*#/ { indef = /\\$/; next }
/WEFT_EXPORT/ { buf = ""; on = 1 }
on {
    buf = buf " " $0
    if (index($0, ";") || index($0, "{")) { on = 0; print FILENAME "\t" buf }
}' $headers)

status=0
docs=$(ls doc/api/*.md 2>/dev/null)
tab=$(printf '\t')
while IFS="$tab" read -r header decl; do
    [ -n "$header" ] || continue
    # Attribute macros with arguments (WEFT_PRINTF(2, 3)) are not the declared name.
    decl=$(printf '%s\n' "$decl" | sed -e 's/WEFT_[A-Z_]*([^)]*)//g')
    case "$decl" in
        *"("*) name=$(printf '%s\n' "$decl" | sed -e 's/(.*//') ;;
        *) name=$(printf '%s\n' "$decl" | sed -e 's/[[;={].*//') ;;
    esac
    name=$(printf '%s\n' "$name" | sed -e 's/[[:space:]]*$//' -e 's/.*[^A-Za-z0-9_]//')
    [ -n "$name" ] || continue
    # shellcheck disable=SC2086 # one argument per page
    if [ -z "$docs" ] || ! grep -qE "\`$name([\`( ]|\$)" $docs; then
        echo "$header: $name has no entry in doc/api"
        status=1
    fi
done <<EOF
$decls
EOF
exit "$status"
