#!/usr/bin/env bash
# Push and pull throughput of one artifact (default: the store's newest relations artifact)
# through a folder remote and an S3-compatible server (s3s-fs on the loopback address),
# against `cp -r` of the same files into the served directory, side by side in one run,
# REPS times each. Its inputs are transferred first and untimed, so only the artifact itself
# is measured. A pull includes verification (sizes, blake3, key, embedded keys) and fsync.
# Usage: bench/remote-throughput.sh STORE [KEY] [REPS]   (binaries from target/release)
set -euo pipefail
src=${1:?usage: bench/remote-throughput.sh STORE [KEY] [REPS]}
bin=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}
reps=${3:-3}
s3s=${RMD_S3S_FS:-$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")}
key=${2:-$(ls -t "$src/relations" | grep -v '^\.' | head -1)}
key=$("$bin/rmd" --store "$src" store show "$key" --path | xargs basename)
dir=$src/relations/$key
[ -d "$dir" ] || dir=$(dirname "$("$bin/rmd" --store "$src" store show "$key" --path)")/$key
mb=$(du -sm --apparent-size "$dir" | cut -f1)
inputs=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["inputs"].values()))' "$dir/manifest.json")
work=$(mktemp -d -p "${TMPDIR:-/tmp}")
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

mkdir -p "$work/s3/shared"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$s3s" --host 127.0.0.1 --port "$port" --access-key benchkey --secret-key benchsecret0123 "$work/s3" >/dev/null 2>&1 &
server=$!
for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
export AWS_ACCESS_KEY_ID=benchkey AWS_SECRET_ACCESS_KEY=benchsecret0123 AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ALLOW_HTTP=true

secs() { python3 -c "import sys; print(f'{(int(sys.argv[2]) - int(sys.argv[1])) / 1e9:.3f}')" "$1" "$2"; }
echo "artifact relations/${key:0:12}: $mb MB; $reps repetitions; machine: $(nproc) cores"
printf '%-22s %8s %8s\n' "how" "seconds" "MB/s"
for r in $(seq "$reps"); do
    for kind in folder s3; do
        if [ $kind = folder ]; then remote=file://$work/folder-$r; else remote=s3://shared/rep$r; fi
        # Inputs first (untimed), then the artifact alone.
        [ -n "$inputs" ] && "$bin/rmd" --store "$src" store push --remote "$remote" $inputs 2>/dev/null
        t=$(date +%s%N); "$bin/rmd" --store "$src" store push --remote "$remote" "$key" 2>/dev/null; e=$(date +%s%N)
        s=$(secs "$t" "$e"); printf '%-22s %8s %8.1f\n' "push $kind" "$s" "$(python3 -c "print($mb / $s)")"
        b=$work/pull-$kind-$r
        [ -n "$inputs" ] && "$bin/rmd" --store "$b" store pull --remote "$remote" $inputs >/dev/null 2>&1
        t=$(date +%s%N); "$bin/rmd" --store "$b" store pull --remote "$remote" "$key" >/dev/null 2>&1; e=$(date +%s%N)
        s=$(secs "$t" "$e"); printf '%-22s %8s %8.1f\n' "pull $kind" "$s" "$(python3 -c "print($mb / $s)")"
    done
    mkdir -p "$work/folder-$r/cp"
    t=$(date +%s%N); cp -r "$dir" "$work/folder-$r/cp/"; e=$(date +%s%N)
    s=$(secs "$t" "$e"); printf '%-22s %8s %8.1f\n' "cp -r to the folder" "$s" "$(python3 -c "print($mb / $s)")"
    rm -rf "$work/folder-$r" "$work/pull-"*
done
