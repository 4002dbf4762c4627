#!/usr/bin/env bash
# Crash-safety soak: N times, start a random stage (noise, RM pre-training, relations, RGRL)
# or store verb (gc --keep on a copy of the store, export of a bundle, import into a second
# store) on a small CIFAR-10-layout dataset, SIGKILL it at a random moment, check `rmd store
# verify` (of the store it wrote), rerun the same command to completion (training stages with
# --resume) and verify again. A killed export leaves no file under the bundle's name unless
# it is a complete bundle.
# Usage: bench/kill-loop.sh [RUNS] [SEED]   (binaries from target/release; build them first)
set -euo pipefail
runs=${1:-20}
RANDOM=${2:-1}
bin=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}
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
t=$(ms); dis_key=$("$bin/rmd-distill" "${common[@]}" --noise "$noise_key" --relations "$rel_key" --profile smoke --epochs 12 --seed 1 | tail -1); distill_ms=$(( $(ms) - t ))
t=$(ms); "$bin/rmd" --store "$store" store export "$dis_key" "$work/probe.tar.gz" 2>/dev/null; export_ms=$(( $(ms) - t ))
t=$(ms); "$bin/rmd" --store "$work/probe-store" store import "$work/probe.tar.gz" >/dev/null 2>&1; import_ms=$(( $(ms) - t ))
rm -rf "$work/probe-store"
cp -a "$store" "$work/probe-store"
t=$(ms); "$bin/rmd" --store "$work/probe-store" store gc --keep "$noise_key" >/dev/null; gc_ms=$(( $(ms) - t ))
rm -rf "$work/probe-store"
echo "uninterrupted: noise ${noise_ms} ms, pretrain ${pretrain_ms} ms, relations ${relations_ms} ms, distill ${distill_ms} ms, export ${export_ms} ms, import ${import_ms} ms, gc --keep ${gc_ms} ms"

verify() {
    local target=${2:-$store}
    if ! out=$("$bin/rmd" --store "$target" store verify 2>&1); then
        echo "FAILED: store verify of $target after $1"; echo "$out"; exit 1
    fi
}

killed=0
for i in $(seq 1 "$runs"); do
    seed=$((100 + i))
    checked=$store
    case $((RANDOM % 7)) in
        # The killed run of each stage computes something (a new seed, or --force, which
        # also exercises replacing a complete artifact); the rerun resumes where it can.
        0) stage=noise; cmd=("$bin/rmd-noise" "${common[@]}" "${data_args[@]}" --dataset cifar10 --noise instance --rate 0.3 --seed "$seed"); first=(); resume=() ;;
        1) stage=pretrain; cmd=("$bin/rmd-pretrain" "${common[@]}" "${data_args[@]}" --dataset cifar10 --profile smoke --epochs 12 --seed "$seed"); first=(); resume=(--resume) ;;
        2) stage=relations; cmd=("$bin/rmd-relations" "${common[@]}" --encoder "$enc_key" --k $((3 + i % 3))); first=(--force); resume=() ;;
        3) stage=distill; cmd=("$bin/rmd-distill" "${common[@]}" --noise "$noise_key" --relations "$rel_key" --profile smoke --epochs 12 --seed "$seed"); first=(); resume=(--resume) ;;
        # Store verbs on their own copies, so the stages above keep their inputs.
        4) stage=gc; rm -rf "$work/gc-store"; cp -a "$store" "$work/gc-store"; checked=$work/gc-store
           cmd=("$bin/rmd" --store "$checked" store gc --keep "$noise_key"); first=(); resume=() ;;
        5) stage=export; bundle=$work/b-$i.tar.gz
           cmd=("$bin/rmd" --store "$store" store export "$dis_key" "$bundle"); first=(); resume=() ;;
        6) stage=import; checked=$work/import-store
           [ -f "$work/probe.tar.gz" ] || "$bin/rmd" --store "$store" store export "$dis_key" "$work/probe.tar.gz" 2>/dev/null
           cmd=("$bin/rmd" --store "$checked" store import "$work/probe.tar.gz"); first=(); resume=() ;;
    esac
    span_var=${stage}_ms
    delay_ms=$((RANDOM % (${!span_var} + 1)))
    "${cmd[@]}" "${first[@]}" >/dev/null 2>&1 &
    pid=$!
    sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
    if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); state="killed after ${delay_ms} ms"; else state="finished before ${delay_ms} ms"; fi
    wait "$pid" 2>/dev/null || true
    verify "run $i ($stage, $state)" "$checked"
    if [ "$stage" = export ]; then
        # Under the bundle's name: nothing, or a complete bundle that imports.
        if [ -e "$bundle" ] && ! "$bin/rmd" --store "$work/check-$i" store import "$bundle" >/dev/null 2>&1; then
            echo "FAILED: a killed export left an incomplete $bundle"; exit 1
        fi
        rm -rf "$bundle" "$work/check-$i"
    fi
    key=$("${cmd[@]}" "${resume[@]}" 2>/dev/null | tail -1)
    verify "rerun $i ($stage)" "$checked"
    printf 'run %2d  %-9s %-26s rerun -> %s, verify ok\n' "$i" "$stage" "$state" "${key:0:12}"
done
"$bin/rmd" --store "$store" store gc >/dev/null
verify "gc"
echo "kill-loop: $runs runs, $killed killed mid-run, store verify passed after every kill and every rerun"
