#!/usr/bin/env bash
# Scale benchmark, neighbour graphs: exact search against the IVF approximation on generated
# embeddings (d 128, 100 classes, a 16-dimensional within-class subspace; see
# crates/rmd-nn/benches/graph_scale.rs), one process per run so each peak memory is its own.
# Exact runs at the sizes in EXACT_SIZES (its cost grows as N², so larger sizes are
# extrapolated from the largest measured: time × (N / N_measured)²); IVF at IVF_SIZES.
# Usage: bench/scale.sh   (EXACT_SIZES="100000 300000" IVF_SIZES="100000 300000 1000000")
set -euo pipefail
cd "$(dirname "$0")/.."
exact_sizes=${EXACT_SIZES:-100000 300000}
ivf_sizes=${IVF_SIZES:-100000 300000 1000000}
cargo bench -q -p rmd-nn --bench graph_scale --no-run 2>/dev/null
bin=$(cargo bench -q -p rmd-nn --bench graph_scale --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "graph_scale" and m.get("executable"):
        print(m["executable"])')
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $exact_sizes; do "$bin" --n "$n" --index exact "$@"; done
for n in $ivf_sizes; do "$bin" --n "$n" --index ivf "$@"; done
