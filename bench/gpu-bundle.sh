#!/usr/bin/env bash
# Packs what bench/gpu-check.sh needs on a GPU machine that has no Rust toolchain and no copy
# of the data: the wgpu build's stripped binaries (target/dist, `cargo build --profile dist
# --features wgpu --bins`), IMAGES evenly spaced records of each CIFAR-10 binary file from
# $RMD_DATA_DIR (a subset in the official layout, which the importer accepts), the pipelines,
# the check and the PyTorch benches; and, when apt-get can download them, the Vulkan loader
# and GL dispatch packages (libvulkan1, libglvnd0, ...: the NVIDIA driver's Vulkan library
# needs libGLdispatch), which the check unpacks into the bundle when the machine lacks them.
# Writes DIR and DIR.tar.gz and prints their sizes.
#
# Usage: bench/gpu-bundle.sh [DIR] [IMAGES]     (default target/gpu-check 1000; `just gpu-bundle`)
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-target/gpu-check}"
images="${2:-1000}"
stages=(rmd-noise rmd-pretrain rmd-relations rmd-distill)
data="${RMD_DATA_DIR:-data/raw}/cifar-10-batches-bin"
dist="${CARGO_TARGET_DIR:-target}/dist"
if [ ! -x "$dist/rmd" ]; then
    echo "error: $dist/rmd is missing: run \`cargo build --profile dist --features wgpu --bin rmd\` first" >&2
    exit 2
fi
if [ ! -f "$data/data_batch_1.bin" ] || [ ! -f "$data/batches.meta.txt" ]; then
    echo "error: no CIFAR-10 binary files in $data (set RMD_DATA_DIR)" >&2
    exit 2
fi
case "$images" in '' | *[!0-9]* | 0) echo "error: IMAGES must be a positive number, not '$images'" >&2; exit 2 ;; esac
rm -rf "$dir" "$dir.tar.gz"
mkdir -p "$dir/bin" "$dir/data/raw/cifar-10-batches-bin" "$dir/bench" "$dir/python"
cp "$dist/rmd" "$dir/bin/"
for s in "${stages[@]}"; do ln -s rmd "$dir/bin/$s"; done
# Every CIFAR-10 record is 1 label byte and 3072 pixel bytes; the six files keep equal
# counts. Records are taken evenly spaced through each file, not from its head: a copy whose
# test file is ordered by class would otherwise give a one-class test set.
python3 - "$data" "$dir/data/raw/cifar-10-batches-bin" "$images" <<'PY'
import os, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for f in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
    size = os.path.getsize(os.path.join(src, f))
    total = size // 3073
    if size % 3073 or total < n:
        sys.exit(f"error: {src}/{f} holds {total} images ({size} bytes), fewer than {n} or not whole records")
    with open(os.path.join(src, f), "rb") as i, open(os.path.join(dst, f), "wb") as o:
        for k in range(n):
            i.seek((k * total // n) * 3073)
            o.write(i.read(3073))
PY
cp "$data/batches.meta.txt" "$dir/data/raw/cifar-10-batches-bin/"
cp -r pipelines "$dir/"
cp bench/gpu-check.sh bench/gpu_check_summary.py bench/simsiam_step.py bench/supervised_step.py \
    bench/step_timing.py "$dir/bench/"
cp python/rmdnet_torch.py "$dir/python/"
if command -v apt-get > /dev/null; then
    mkdir -p "$dir/vulkan"
    (cd "$dir/vulkan" && apt-get download libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 libgles2 \
        > /dev/null 2>&1) \
        || echo "note: apt-get could not download the Vulkan loader; the GPU machine must have one" >&2
fi
tar -C "$(dirname "$dir")" -czf "$dir.tar.gz" "$(basename "$dir")"
du -sh "$dir" "$dir.tar.gz"
echo "on the GPU machine: tar xzf $(basename "$dir").tar.gz && $(basename "$dir")/bench/gpu-check.sh OUT_DIR"
