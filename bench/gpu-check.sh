#!/usr/bin/env bash
# The GPU check: does the wgpu build work on this machine's GPU, how fast is it next to
# PyTorch on the same card, and what would the paper profile cost here? About 10 minutes.
#
#   1. The smoke pipeline end to end on wgpu and on the CPU backend (flex), each in its own
#      store: the artifact keys must be the same, the accuracies may differ by float rounding
#      (the largest difference is reported).
#   2. Training-step throughput: the SimSiam step (paper profile: ResNet-18, batch 512) and
#      the supervised step (paper profile: ResNet-18, batch 128) with `rmd bench-step
#      --backend wgpu`, and the same steps in PyTorch on the same GPU, eager (ROUNDS
#      alternating rounds: ratios as median and range) and torch.compile'd (once, when it
#      compiles within COMPILE_SECONDS).
#   3. The paper-profile RM stage on wgpu for RM_SECONDS: kNN accuracy and images/s per
#      epoch, and the projected hours of a paper-profile pipeline.
#
# Needs: the wgpu build's binaries (`just gpu-bundle` makes a folder with them, a CIFAR-10
# subset, this script and the PyTorch benches; or a checkout with `cargo build --release
# --features wgpu --bins`), a Vulkan loader and driver, and for the comparison a Python with
# PyTorch and CUDA (PYTHON=...). Usage, from the bundle or the checkout:
#
#   bench/gpu-check.sh [OUT_DIR]        (default gpu-check-out; `just gpu-check` runs it)
#
# Settings (environment): RMD_BIN (folder of the binaries), RMD_DATA_DIR (holding
# cifar-10-batches-bin/), PYTHON, ROUNDS (3), STEPS (10 timed steps per bench), RM_SECONDS
# (180), COMPILE_SECONDS (150 per compiled bench), PARTS ("smoke bench rm": the parts to run),
# SKIP_CPU_SMOKE=1 (wgpu smoke only); for a trial of the script itself on a slow device:
# SIMSIAM_BATCH (512), SUPERVISED_BATCH (128), TORCH_DEVICE (cuda), RM_ARGS ("--profile paper").
# Writes OUT_DIR/summary.md (also printed), summary.json and every command's log.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mkdir -p "${1:-gpu-check-out}" && cd "${1:-gpu-check-out}" && pwd)"
python="${PYTHON:-python3}"
rounds="${ROUNDS:-3}"
steps="${STEPS:-10}"
rm_seconds="${RM_SECONDS:-180}"
compile_seconds="${COMPILE_SECONDS:-150}"
simsiam_batch="${SIMSIAM_BATCH:-512}"
supervised_batch="${SUPERVISED_BATCH:-128}"
torch_device="${TORCH_DEVICE:-cuda}"
read -r -a rm_args <<< "${RM_ARGS:---profile paper}"
parts=" ${PARTS:-smoke bench rm} "
if [ -z "${RMD_BIN:-}" ]; then
    for d in "$root/bin" "$root/target/dist" "$root/target/release"; do
        if [ -x "$d/rmd" ]; then RMD_BIN="$d"; break; fi
    done
fi
if [ -z "${RMD_BIN:-}" ] || [ ! -x "$RMD_BIN/rmd" ]; then
    echo "error: no rmd binary: set RMD_BIN to the folder of the wgpu build's binaries (just gpu-bundle)" >&2
    exit 2
fi
RMD_BIN="$(cd "$RMD_BIN" && pwd)"
# `rmd` runs as a stage binary when started under its name: a bundle may hold links only.
for stage in rmd-noise rmd-pretrain rmd-relations rmd-distill; do
    if [ ! -e "$RMD_BIN/$stage" ] && ! ln -s rmd "$RMD_BIN/$stage"; then
        echo "error: no $RMD_BIN/$stage, and no link to rmd could be made there" >&2
        exit 2
    fi
done
export RMD_DATA_DIR="${RMD_DATA_DIR:-$root/data/raw}"
if [ ! -f "$RMD_DATA_DIR/cifar-10-batches-bin/data_batch_1.bin" ]; then
    echo "error: no CIFAR-10 binary files in RMD_DATA_DIR=$RMD_DATA_DIR/cifar-10-batches-bin" >&2
    exit 2
fi
export RMD_PIPELINES_DIR="$root/pipelines"
# A Vulkan loader: the machine's, else the bundle's packages (gpu-bundle.sh), unpacked here.
# (grep reads all of ldconfig's list: with pipefail, `grep -q` could fail the pipe early.)
if ! ldconfig -p 2>/dev/null | grep 'libvulkan.so.1' > /dev/null && ls "$root"/vulkan/*.deb > /dev/null 2>&1; then
    if command -v dpkg > /dev/null; then
        for deb in "$root"/vulkan/*.deb; do dpkg -x "$deb" "$root/vulkan/root"; done
        export LD_LIBRARY_PATH="$root/vulkan/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    else
        echo "note: no Vulkan loader on this machine and no dpkg to unpack the bundle's" >&2
    fi
fi
# The NVIDIA driver's Vulkan and EGL manifests, where containers mount the driver outside
# the standard folders.
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && [ -e "$nvidia_icd" ] \
    && [ ! -e /usr/share/vulkan/icd.d/nvidia_icd.json ] && [ ! -e /etc/vulkan/icd.d/nvidia_icd.json ]; then
    export VK_DRIVER_FILES="$nvidia_icd"
fi
nvidia_egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
if [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ] && [ -e "$nvidia_egl" ] \
    && [ ! -e /usr/share/glvnd/egl_vendor.d/10_nvidia.json ]; then
    export __EGL_VENDOR_LIBRARY_FILENAMES="$nvidia_egl"
fi
rmd="$RMD_BIN/rmd"
work="$out/work"
rm -rf "$work"
mkdir -p "$work"
status=0
started=$(date +%s)
stamp() { echo "[gpu-check +$(($(date +%s) - started))s] $*" >&2; }

stamp "binaries: $RMD_BIN; data: $RMD_DATA_DIR; out: $out"
{
    uname -a
    if command -v nvidia-smi > /dev/null; then
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
    else
        echo "nvidia-smi: not found"
    fi
    (command -v vulkaninfo >/dev/null && vulkaninfo --summary 2>&1 | grep -E "deviceName|deviceType|driverName|apiVersion") || echo "vulkaninfo: not found"
    "$rmd" --version
    echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-} __EGL_VENDOR_LIBRARY_FILENAMES=${__EGL_VENDOR_LIBRARY_FILENAMES:-} LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
    "$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" 2>&1 || echo "no PyTorch"
} > "$out/machine.txt" 2>&1
cat "$out/machine.txt" >&2

# 0. Does wgpu start here? (A missing driver is an error naming the adapter problem.)
stamp "probe: a smoke-sized SimSiam step on wgpu"
if ! "$rmd" bench-step --backend wgpu --profile smoke --steps 1 --warmup 0 > "$out/probe.log" 2>&1; then
    status=1
    stamp "wgpu did not start; its error:"
    cat "$out/probe.log" >&2
fi
wgpu_ok=$([ "$status" = 0 ] && echo 1 || echo 0)

# 1. Smoke pipeline, wgpu and flex, separate stores.
smoke() { # backend
    local t0=$(date +%s)
    if "$rmd" --store "$work/store-$1" reproduce cifar10-asym --profile smoke --backend "$1" \
        --out "$work/smoke-$1" > "$out/smoke-$1.log" 2>&1; then
        echo "$(($(date +%s) - t0))" > "$work/smoke-$1.seconds"
    else
        status=1
        stamp "smoke pipeline on $1 failed (tail of $out/smoke-$1.log):"
        tail -20 "$out/smoke-$1.log" >&2
    fi
    ls "$work/store-$1" > /dev/null 2>&1 && find "$work/store-$1" -mindepth 2 -maxdepth 2 -type d \
        ! -name '.*' -printf '%P\n' 2>/dev/null | sort > "$work/keys-$1.txt"
}
if [ "$wgpu_ok" = 1 ] && [[ "$parts" == *" smoke "* ]]; then
    stamp "smoke pipeline on wgpu"
    smoke wgpu
fi
if [ "${SKIP_CPU_SMOKE:-0}" != 1 ] && [[ "$parts" == *" smoke "* ]]; then
    stamp "smoke pipeline on flex (CPU)"
    smoke flex
fi

# 2. Step throughput, burn on wgpu vs PyTorch on the same GPU.
if [ "$torch_device" = cpu ]; then
    has_cuda=$("$python" -c "import torch; print(1)" 2>/dev/null || echo 0)
else
    has_cuda=$("$python" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
fi
bench_burn() { # objective batch
    "$rmd" bench-step --backend wgpu --profile paper --objective "$1" --batch "$2" --steps "$steps" --json \
        2>> "$out/bench.log" | tail -1
}
bench_torch() { # objective batch [--compile]
    local script=simsiam_step.py extra=(resnet18 --all-steps)
    if [ "$1" = supervised ]; then script=supervised_step.py extra=(--arch resnet18); fi
    timeout "${4:-600}" "$python" "$root/bench/$script" "${extra[@]}" --device "$torch_device" --batch "$2" --steps "$steps" \
        --json ${3:-} 2>> "$out/bench.log" | tail -1
}
: > "$work/bench.jsonl"
if { [ "$wgpu_ok" = 1 ] || [ "$has_cuda" = 1 ]; } && [[ "$parts" == *" bench "* ]]; then
    for round in $(seq 1 "$rounds"); do
        for spec in "simsiam $simsiam_batch" "supervised $supervised_batch"; do
            set -- $spec
            stamp "round $round/$rounds: $1 step, batch $2"
            if [ "$wgpu_ok" = 1 ]; then
                r=$(bench_burn "$1" "$2") && [ -n "$r" ] && echo "{\"side\":\"burn-wgpu\",\"round\":$round,\"result\":$r}" >> "$work/bench.jsonl"
            fi
            if [ "$has_cuda" = 1 ]; then
                r=$(bench_torch "$1" "$2") && [ -n "$r" ] && echo "{\"side\":\"pytorch-eager\",\"round\":$round,\"result\":$r}" >> "$work/bench.jsonl"
            fi
        done
    done
    if [ "$has_cuda" = 1 ]; then
        for spec in "simsiam $simsiam_batch" "supervised $supervised_batch"; do
            set -- $spec
            stamp "torch.compile: $1 step, batch $2 (at most ${compile_seconds}s)"
            r=$(bench_torch "$1" "$2" --compile "$compile_seconds") && [ -n "$r" ] \
                && echo "{\"side\":\"pytorch-compile\",\"round\":1,\"result\":$r}" >> "$work/bench.jsonl" \
                || stamp "torch.compile did not finish within ${compile_seconds}s or failed (bench.log)"
        done
    fi
fi

# 3. The paper-profile RM stage on wgpu, as many epochs as RM_SECONDS allow.
if [ "$wgpu_ok" = 1 ] && [[ "$parts" == *" rm "* ]]; then
    stamp "RM stage (${rm_args[*]}) on wgpu for ${rm_seconds}s (kNN every epoch)"
    timeout "$rm_seconds" "$RMD_BIN/rmd-pretrain" --store "$work/store-rm" --dataset cifar10 "${rm_args[@]}" \
        --backend wgpu --knn-every 1 > /dev/null 2>> "$out/rm.log"
    rc=$?
    if [ "$rc" != 0 ] && [ "$rc" != 124 ]; then
        status=1
        stamp "the RM stage failed (exit $rc; tail of $out/rm.log):"
        tail -20 "$out/rm.log" >&2
    fi
fi

stamp "summary"
OUT="$out" WORK="$work" WGPU_OK="$wgpu_ok" STATUS="$status" RM_SECONDS="$rm_seconds" RM_ARGS="${rm_args[*]}" \
    "$python" "$root/bench/gpu_check_summary.py" || status=1
exit "$status"
