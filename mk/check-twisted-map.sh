#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks that doc/twisted-map.md answers for every Twisted name of the inventory: each
# backticked name in the first column of the tables of TWISTED.md ($1) must appear, as a
# word, in the map ($2, default doc/twisted-map.md). A name is the identifier a backticked
# entry starts with, without its arguments and without an object prefix
# (`reactor.callLater(delay, f)` -> callLater, `d.addCallback(f)` -> addCallback). Prints each
# missing name and exits 1 if there is any; `--list` prints the names instead.
set -u
list=0
if [ "${1:-}" = "--list" ]; then
    list=1
    shift
fi
inventory=${1:?usage: check-twisted-map.sh [--list] TWISTED.md [twisted-map.md]}
map=${2:-doc/twisted-map.md}
[ -r "$inventory" ] || { echo "cannot read $inventory" >&2; exit 2; }
[ -r "$map" ] || { echo "cannot read $map" >&2; exit 2; }

names=$(awk -F'|' '
/^## / { tables = ($0 ~ /^## [1-7]\./) }
tables && /^\|/ && $2 !~ /^ *(Feature|---)/ { print $2 }' "$inventory" |
    grep -o '`[^`]*`' | tr -d '`' |
    sed -e 's/^[[:space:]]*//' -e 's/(.*//' -e 's/[[:space:]].*//' -e 's/.*\.//' |
    grep -E '^[A-Za-z_][A-Za-z0-9_]*$' | sort -u)

if [ "$list" = 1 ]; then
    printf '%s\n' "$names"
    exit 0
fi
# One awk pass: every word of the map, then each name that is not one of them.
printf '%s\n' "$names" | awk '
NR == FNR { n = split($0, words, /[^A-Za-z0-9_]+/); for (i = 1; i <= n; i++) seen[words[i]] = 1; next }
$0 != "" && !($0 in seen) { print; status = 1 }
END { exit status }' "$map" -
