#!/usr/bin/env bash
# Scale benchmark, images: generate N 32x32 PNG images and an image list
# (bench/make_image_list.py; needs numpy and Pillow), then report the wall time and peak
# memory (bench/peak_memory.py: peak RSS, and its anonymous and file-backed parts) of
# (1) importing them with `rmd dataset --from image-list`, and (2) one epoch of the cpu-full
# classifier over them (`rmd-distill --profile cpu-full --epochs 1`, CE on 20 % symmetric
# noise). BEFORE=path/to/an/older/rmd also imports with that binary, same command.
# Usage: bench/scale-images.sh [N] [WORK_DIR]   (binaries from target/release)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200000}
work=${2:-$(mktemp -d)}
bin=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}
py=${PYTHON:-python3}
mkdir -p "$work"
if [ ! -f "$work/images/labels.csv" ]; then
    echo "generating $n images in $work/images"
    "$py" bench/make_image_list.py "$work/images" "$n"
fi
echo "machine: $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "${BEFORE:-}" ]; then
    rm -rf "$work/store-before"
    python3 bench/peak_memory.py "import $n images (before: $BEFORE)" -- \
        "$BEFORE" --store "$work/store-before" dataset --from image-list "$work/images/labels.csv" --name "gen$n" -q
fi
rm -rf "$work/store"
python3 bench/peak_memory.py "import $n images" -- \
    "$bin/rmd" --store "$work/store" dataset --from image-list "$work/images/labels.csv" --name "gen$n" -q
noise=$("$bin/rmd-noise" --store "$work/store" --dataset "gen$n" --noise sym --rate 0.2 --seed 1 -q | tail -1)
python3 bench/peak_memory.py "one cpu-full epoch over $n images" -- \
    "$bin/rmd-distill" --store "$work/store" --noise "$noise" --profile cpu-full --epochs 1 -q
