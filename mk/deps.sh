#!/bin/sh
# SPDX-License-Identifier: MIT
# Makes sure the Debian packages named as arguments are installed. As root it installs the
# missing ones with apt-get (running `apt-get update` first if the lists are stale); as
# anyone else it stops with one line naming the exact command. On a system without dpkg it
# checks nothing: the build's own errors will say what is missing.
#
# For weft's own tests, three variables stand in for the system:
#   WEFT_DEPS_DPKG_QUERY  the dpkg-query command   WEFT_DEPS_APT_GET  the apt-get command
#   WEFT_DEPS_UID         the user id to act as
set -u

dpkg_query=${WEFT_DEPS_DPKG_QUERY:-dpkg-query}
apt_get=${WEFT_DEPS_APT_GET:-apt-get}
uid=${WEFT_DEPS_UID:-$(id -u)}

command -v "$dpkg_query" >/dev/null 2>&1 || exit 0

missing=
seen=" "
for pkg in "$@"; do
    case "$seen" in *" $pkg "*) continue ;; esac
    seen="$seen$pkg "
    status=$("$dpkg_query" -W -f='${Status}' "$pkg" 2>/dev/null)
    case "$status" in
        *" installed") ;;
        *) missing="$missing $pkg" ;;
    esac
done
[ -z "$missing" ] && exit 0
missing=${missing# }

if [ "$uid" != 0 ]; then
    echo "weft: missing Debian packages: $missing; install them with: sudo apt-get install -y $missing" >&2
    exit 1
fi

echo "weft: installing missing Debian packages: $missing" >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086 # the package list is meant to split
if ! "$apt_get" install -y --no-install-recommends $missing >&2; then
    "$apt_get" update >&2 && "$apt_get" install -y --no-install-recommends $missing >&2 || {
        echo "weft: could not install: $missing (apt-get failed; see above)" >&2
        exit 1
    }
fi
exit 0
