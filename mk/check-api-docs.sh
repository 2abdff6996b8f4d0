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

docs=$(ls doc/api/*.md 2>/dev/null)
# One awk pass: the doc pages first (every backticked `name` or `name(...)` is an entry), then
# the headers (each declaration from WEFT_EXPORT to its ';').
# shellcheck disable=SC2086 # one argument per file; weft's paths have no spaces
awk -v ndocs="$(printf '%s\n' $docs | grep -c .)" '
function last_ident(t) {
    sub(/[[:space:]]+$/, "", t)
    return match(t, /[A-Za-z_][A-Za-z0-9_]*$/) ? substr(t, RSTART, RLENGTH) : ""
}
function check(file, decl,    name, p) {
    gsub(/WEFT_[A-Z_]*\([^)]*\)/, "", decl)  # attribute macros with arguments
    p = index(decl, "(")
    if (p > 0)
        name = last_ident(substr(decl, 1, p - 1))
    else {
        sub(/[[;={].*/, "", decl)
        name = last_ident(decl)
    }
    if (name != "" && !(name in entry)) {
        print file ": " name " has no entry in doc/api"
        status = 1
    }
}
FNR == 1 { fileno++; on = 0; indef = 0 }
fileno <= ndocs {
    line = $0
    while (match(line, /`[A-Za-z_][A-Za-z0-9_]*/)) {
        name = substr(line, RSTART + 1, RLENGTH - 1)
        next_char = substr(line, RSTART + RLENGTH, 1)
        if (next_char == "`" || next_char == "(" || next_char == " " || next_char == "")
            entry[name] = 1
        line = substr(line, RSTART + RLENGTH)
    }
    next
}
indef { indef = /\\$/; next }
/^[[:space:]]*#/ { indef = /\\$/; next }
/WEFT_EXPORT/ { buf = ""; on = 1 }
on {
    buf = buf " " $0
    if (index($0, ";") || index($0, "{")) { on = 0; check(FILENAME, buf) }
}
END { exit status }' $docs $headers
