#!/bin/sh
# SPDX-License-Identifier: MIT
# `make demo`: examples/cpu_server under examples/cpu_load, first hashing on weft's worker pool
# (weft_defer_to_thread), then the same server written with Twisted's deferToThread
# (examples/cpu_server_twisted.py; skipped if Twisted is missing), then hashing inline on the
# loop as a plain event loop would; prints PING latency and hash throughput of each side by
# side. Usage: sh mk/demo.sh BUILD_DIR
# DEMO_SECONDS (per mode, default 4), DEMO_ITERATIONS (PBKDF2 rounds, default 5000) and
# DEMO_CONNECTIONS (hash connections, default 4) change the run.
set -u

build=${1:?usage: mk/demo.sh BUILD_DIR}
seconds=${DEMO_SECONDS:-4}
iterations=${DEMO_ITERATIONS:-5000}
connections=${DEMO_CONNECTIONS:-4}
server=$build/examples/cpu_server
client=$build/examples/cpu_load
for p in "$server" "$client"; do
    [ -x "$p" ] || { echo "demo: $p is not built (make all builds it)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/weft-demo-XXXXXX) || exit 1
pid=
cleanup() {
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run MODE SERVER [options...]: starts the server on a free port, loads it, stops it.
run() {
    mode=$1
    shift
    : >"$tmp/$mode.listen"
    "$@" --port 0 --iterations "$iterations" >"$tmp/$mode.listen" 2>"$tmp/$mode.log" &
    pid=$!
    port=
    for _ in $(seq 100); do
        port=$(sed -n 's/^listening on \([0-9][0-9]*\)$/\1/p' "$tmp/$mode.listen")
        [ -n "$port" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        echo "demo: the $mode server did not start:" >&2
        cat "$tmp/$mode.log" >&2
        exit 1
    fi
    echo "demo: $mode mode on port $port: $connections connections send HASH, one sends PING," \
        "for $seconds s" >&2
    if ! "$client" --port "$port" --seconds "$seconds" --connections "$connections" \
        >"$tmp/$mode.out"; then
        echo "demo: cpu_load failed against the $mode server" >&2
        exit 1
    fi
    kill -TERM "$pid"
    wait "$pid"
    rc=$?
    pid=
    if [ "$rc" != 0 ]; then
        echo "demo: the $mode server exited with $rc after SIGTERM:" >&2
        cat "$tmp/$mode.log" >&2
        exit 1
    fi
}

get() { sed -n "s/^$2: //p" "$tmp/$1.out"; }

# Twisted: the python3 that has it (a pyenv shim may come first in PATH without it).
python=
for py in python3 /usr/bin/python3; do
    if "$py" -c 'import twisted' 2>/dev/null; then
        python=$py
        break
    fi
done

run offload "$server"
[ -n "$python" ] && run twisted "$python" "$(dirname "$0")/../examples/cpu_server_twisted.py"
run inline "$server" --inline

echo
echo "weft demo: PBKDF2-HMAC-SHA256, $iterations iterations per HASH, $connections connections" \
    "hashing, PING on one more"
echo "($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'))"
echo
printf '%-44s %12s %12s %10s\n' "mode" "PING p50 ms" "PING p99 ms" "hashes/s"
printf '%-44s %12s %12s %10s\n' "offload: weft_defer_to_thread, loop free" \
    "$(get offload ping_p50_ms)" "$(get offload ping_p99_ms)" "$(get offload hashes_per_s)"
if [ -n "$python" ]; then
    printf '%-44s %12s %12s %10s\n' "Twisted: deferToThread, same protocol" \
        "$(get twisted ping_p50_ms)" "$(get twisted ping_p99_ms)" "$(get twisted hashes_per_s)"
else
    printf '%-44s %12s\n' "Twisted: not installed (python3-twisted)" "-"
fi
printf '%-44s %12s %12s %10s\n' "inline: hash on the loop (a plain event loop)" \
    "$(get inline ping_p50_ms)" "$(get inline ping_p99_ms)" "$(get inline hashes_per_s)"
echo
p99=$(get offload ping_p99_ms)
if awk -v v="$p99" 'BEGIN { exit !(v < 5) }'; then
    echo "With the hashes on weft's pool the loop answers PING in under 5 ms at p99 while every"
    echo "CPU is busy; hashing on the loop makes every PING wait behind the hashes."
else
    echo "Offload PING p99 is $p99 ms, above the 5 ms target: the machine is busy with other"
    echo "work (see the load average); run make demo again on a quieter machine."
fi
