#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks the include arrows of DESIGN.md in the tree at $1 (default: .):
#   common      includes nothing of weft's rooms (only itself)
#   reactor     may include common (and uv.h); never threadpool or bridge
#   threadpool  may include common; never reactor, bridge or uv.h
#   bridge      may include common, reactor, threadpool (and uv.h)
# and, inside reactor, lower layers never include higher ones:
#   reactor/ (core) < reactor/net < reactor/web, reactor/app (app may use web too).
# An include is resolved to its room by path ("../threadpool/x.h"), by the public header's
# flat name (<weft/threadpool.h>) or as a sibling ("x.h"). Prints each broken arrow as
# file:line: and exits 1 if there is any.
set -u
cd "${1:-.}" || exit 2

# name.h -> room, for every public header (the flat names they install under).
map=$(find common reactor threadpool bridge -name '*.h' ! -name '*-internal.h' \
        ! -path '*/private/*' 2>/dev/null |
      awk -F/ '{ room = $1; if ($1 == "reactor" && NF > 2) room = "reactor/" $2;
                 print $NF, room }')

files=$(find common reactor threadpool bridge -name '*.[ch]' 2>/dev/null | sort)
[ -n "$files" ] || exit 0
# shellcheck disable=SC2086 # one argument per file; weft's paths have no spaces
awk -v map="$map" '
BEGIN {
    n = split(map, lines, "\n")
    for (i = 1; i <= n; i++) { split(lines[i], kv, " "); if (kv[1] != "") owner[kv[1]] = kv[2] }
    allow["common"] = " common "
    allow["reactor"] = " common reactor uv "
    allow["reactor/net"] = " common reactor reactor/net uv "
    allow["reactor/web"] = " common reactor reactor/net reactor/web uv "
    allow["reactor/app"] = " common reactor reactor/net reactor/web reactor/app uv "
    allow["threadpool"] = " common threadpool "
    allow["bridge"] = " common reactor reactor/net reactor/web reactor/app threadpool bridge uv "
    bad = 0
}
function room_of(path,   parts, k) {
    k = split(path, parts, "/")
    if (parts[1] == "reactor" && k > 2) return "reactor/" parts[2]
    return parts[1]
}
# Resolves a relative include from the directory of file to a room, or "" if not weft.
function resolve(file, inc,   dir, parts, k, out, i, n, seg) {
    dir = file; sub(/\/[^\/]*$/, "", dir)
    n = split(dir "/" inc, parts, "/")
    k = 0
    for (i = 1; i <= n; i++) {
        seg = parts[i]
        if (seg == "" || seg == ".") continue
        if (seg == "..") { if (k > 0) k--; continue }
        out[++k] = seg
    }
    if (k < 2) return ""
    if (out[1] == "reactor" && k > 2) return "reactor/" out[2]
    if (out[1] ~ /^(common|reactor|threadpool|bridge)$/) return out[1]
    return ""
}
FNR == 1 { file = FILENAME; room = room_of(file) }
/^[ \t]*#[ \t]*include/ {
    line = $0
    target = ""
    if (match(line, /<uv\.h>/) || match(line, /<uv\/[^>]*>/)) target = "uv"
    else if (match(line, /<weft\/[^>]*>/)) {
        name = substr(line, RSTART + 6, RLENGTH - 7)
        target = (name in owner) ? owner[name] : ""
    } else if (match(line, /"[^"]*"/)) {
        inc = substr(line, RSTART + 1, RLENGTH - 2)
        target = resolve(file, inc)
    }
    if (target != "" && index(allow[room], " " target " ") == 0) {
        printf "%s:%d: %s must not include %s (%s)\n", file, FNR, room, target, line
        bad = 1
    }
}
END { exit bad }
' $files
