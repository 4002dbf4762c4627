#!/usr/bin/env bash
# Crash-safety soak: N times, start a random stage (noise, RM pre-training, relations, RGRL)
# on a small CIFAR-10-layout dataset, SIGKILL it at a random moment, check `rmd store verify`,
# rerun the same command to completion (training stages with --resume) and verify again.
# Usage: bench/kill-loop.sh [RUNS] [SEED]   (binaries from target/release; build them first)
set -euo pipefail
runs=${1:-20}
RANDOM=${2:-1}
bin=${BIN_DIR:-target/release}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
store=$work/store
data=$work/data

python3 - "$data" <<'PY'
import os, sys
d = os.path.join(sys.argv[1], "cifar-10-batches-bin"); os.makedirs(d)
names = "airplane automobile bird cat deer dog frog horse ship truck".split()
open(os.path.join(d, "batches.meta.txt"), "w").write("\n".join(names) + "\n")
files = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
for fi, f in enumerate(files):
    out = bytearray()
    for i in range(60):
        n = fi * 60 + i
        out.append(n % 10)
        out.extend((p * 7 + n * 13 + (p % 32) * (n % 10)) % 256 for p in range(3072))
    open(os.path.join(d, f), "wb").write(out)
PY

common=(--store "$store" --quiet)
data_args=(--data-dir "$data" --no-download)
"$bin/rmd" --store "$store" dataset cifar10 --quiet "${data_args[@]}" >/dev/null
# Fixed upstream artifacts for the later stages; each stage's uninterrupted duration (ms)
# bounds the random moment its killed runs are killed at.
ms() { echo $(( $(date +%s%N) / 1000000 )); }
t=$(ms); noise_key=$("$bin/rmd-noise" "${common[@]}" "${data_args[@]}" --dataset cifar10 --noise instance --rate 0.3 --seed 1 | tail -1); noise_ms=$(( $(ms) - t ))
t=$(ms); enc_key=$("$bin/rmd-pretrain" "${common[@]}" "${data_args[@]}" --dataset cifar10 --profile smoke --epochs 12 --seed 1 | tail -1); pretrain_ms=$(( $(ms) - t ))
t=$(ms); rel_key=$("$bin/rmd-relations" "${common[@]}" --encoder "$enc_key" --k 5 | tail -1); relations_ms=$(( $(ms) - t ))
t=$(ms); "$bin/rmd-distill" "${common[@]}" --noise "$noise_key" --relations "$rel_key" --profile smoke --epochs 12 --seed 1 >/dev/null; distill_ms=$(( $(ms) - t ))
echo "uninterrupted: noise ${noise_ms} ms, pretrain ${pretrain_ms} ms, relations ${relations_ms} ms, distill ${distill_ms} ms"

verify() {
    if ! out=$("$bin/rmd" --store "$store" store verify 2>&1); then
        echo "FAILED: store verify after $1"; echo "$out"; exit 1
    fi
}

killed=0
for i in $(seq 1 "$runs"); do
    seed=$((100 + i))
    case $((RANDOM % 4)) in
        # The killed run of each stage computes something (a new seed, or --force, which
        # also exercises replacing a complete artifact); the rerun resumes where it can.
        0) stage=noise; cmd=("$bin/rmd-noise" "${common[@]}" "${data_args[@]}" --dataset cifar10 --noise instance --rate 0.3 --seed "$seed"); first=(); resume=() ;;
        1) stage=pretrain; cmd=("$bin/rmd-pretrain" "${common[@]}" "${data_args[@]}" --dataset cifar10 --profile smoke --epochs 12 --seed "$seed"); first=(); resume=(--resume) ;;
        2) stage=relations; cmd=("$bin/rmd-relations" "${common[@]}" --encoder "$enc_key" --k $((3 + i % 3))); first=(--force); resume=() ;;
        3) stage=distill; cmd=("$bin/rmd-distill" "${common[@]}" --noise "$noise_key" --relations "$rel_key" --profile smoke --epochs 12 --seed "$seed"); first=(); resume=(--resume) ;;
    esac
    span_var=${stage}_ms
    delay_ms=$((RANDOM % (${!span_var} + 1)))
    "${cmd[@]}" "${first[@]}" >/dev/null 2>&1 &
    pid=$!
    sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
    if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); state="killed after ${delay_ms} ms"; else state="finished before ${delay_ms} ms"; fi
    wait "$pid" 2>/dev/null || true
    verify "run $i ($stage, $state)"
    key=$("${cmd[@]}" "${resume[@]}" | tail -1)
    verify "rerun $i ($stage)"
    printf 'run %2d  %-9s %-26s rerun -> %s, verify ok\n' "$i" "$stage" "$state" "${key:0:12}"
done
"$bin/rmd" --store "$store" store gc >/dev/null
verify "gc"
echo "kill-loop: $runs runs, $killed killed mid-run, store verify passed after every kill and every rerun"
