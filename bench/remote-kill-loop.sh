#!/usr/bin/env bash
# Remote crash-safety soak: RUNS times, SIGKILL a `rmd store push` (to a fresh prefix of an
# S3-compatible server) or a `rmd store pull` (into a fresh store) at a random moment, then
# check that nothing is half-visible: every artifact the remote publishes verifies (`rmd store
# verify --remote`), and the local store verifies (`rmd store verify`); rerun the same command
# to completion and check both again. The payload is the real CIFAR-10 dataset artifact and
# a noise artifact on it (~180 MB), so kills land mid-transfer.
# Needs RMD_DATA_DIR (CIFAR-10) and s3s-fs (RMD_S3S_FS, or on PATH, or ~/.cargo/bin).
# Usage: bench/remote-kill-loop.sh [RUNS] [SEED]   (binaries from target/release)
set -euo pipefail
runs=${1:-20}
RANDOM=${2:-1}
bin=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}
data=${RMD_DATA_DIR:?set RMD_DATA_DIR to the directory holding cifar-10-batches-bin/}
s3s=${RMD_S3S_FS:-$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")}
work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

mkdir -p "$work/s3/shared"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$s3s" --host 127.0.0.1 --port "$port" --access-key killloopkey --secret-key killloopsecret0123 "$work/s3" \
    >/dev/null 2>&1 &
server=$!
for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
export AWS_ACCESS_KEY_ID=killloopkey AWS_SECRET_ACCESS_KEY=killloopsecret0123 AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ALLOW_HTTP=true

a=$work/a
"$bin/rmd" --store "$a" dataset cifar10 --data-dir "$data" --no-download -q >/dev/null
key=$("$bin/rmd-noise" --store "$a" --data-dir "$data" --no-download --dataset cifar10 --noise sym --rate 0.5 --seed 1 -q | tail -1)
ms() { echo $(( $(date +%s%N) / 1000000 )); }
t=$(ms); "$bin/rmd" --store "$a" store push --remote s3://shared/complete "$key" 2>/dev/null; push_ms=$(( $(ms) - t ))
t=$(ms); "$bin/rmd" --store "$work/probe" store pull --remote s3://shared/complete "$key" >/dev/null 2>&1; pull_ms=$(( $(ms) - t ))
echo "payload: dataset + noise ($(du -sm "$a" | cut -f1) MB); uninterrupted push ${push_ms} ms, pull ${pull_ms} ms"

failures=0
check() { # $1: description; rest: command that must succeed
    local what=$1; shift
    if ! "$@" >"$work/check.log" 2>&1; then
        echo "  FAILED: $what"; sed 's/^/    /' "$work/check.log" | tail -5; failures=$((failures + 1))
    fi
}
for i in $(seq "$runs"); do
    if (( RANDOM % 2 )); then
        op=push; remote=s3://shared/run$i; store=$a; limit=$push_ms
        cmd=("$bin/rmd" --store "$a" store push --remote "$remote" "$key")
    else
        op=pull; remote=s3://shared/complete; store=$work/b$i; limit=$pull_ms
        cmd=("$bin/rmd" --store "$store" store pull --remote "$remote" "$key")
    fi
    kill_ms=$(( RANDOM % (limit + 1) ))
    "${cmd[@]}" >/dev/null 2>&1 &
    pid=$!
    sleep "$(printf '%d.%03d' $((kill_ms / 1000)) $((kill_ms % 1000)))"
    kill -9 "$pid" 2>/dev/null && killed=yes || killed="no (had finished)"
    wait "$pid" 2>/dev/null || true
    state=$("$bin/rmd" --store "$a" store status --remote "$remote" 2>/dev/null | tail -1 || true)
    printf '%2d %-4s killed at %5d ms: %-18s remote now: %s\n' "$i" "$op" "$kill_ms" "$killed" "${state#*: }"
    if [ "$op" = push ]; then
        check "remote verifies after the kill" "$bin/rmd" --store "$a" store verify --remote "$remote"
    elif [ -d "$store" ]; then
        check "local store verifies after the kill" "$bin/rmd" --store "$store" store verify
    fi
    check "rerun completes" "${cmd[@]}"
    check "remote verifies after the rerun" "$bin/rmd" --store "$a" store verify --remote "$remote"
    check "local store verifies after the rerun" "$bin/rmd" --store "$store" store verify
done
echo "$runs runs, $failures failed check(s)"
[ "$failures" -eq 0 ]
