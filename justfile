# rmdnet task runner. `just --list` shows every recipe.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Raw datasets (CIFAR binary dirs, IDX files) live here unless RMD_DATA_DIR is set.
export RMD_DATA_DIR := env_var_or_default("RMD_DATA_DIR", "data/raw")

default:
    @just --list

# Cargo features of the binaries that `build`, `reproduce` and the stage recipes make: `wgpu`
# (the GPU backend that builds offline) on a machine with an NVIDIA driver (nvidia-smi), else
# none (the CPU backend). RMD_FEATURES overrides it: RMD_FEATURES=cuda (needs network access
# at build time), RMD_FEATURES= (CPU only).
export RMD_FEATURES := env_var_or_default("RMD_FEATURES", `command -v nvidia-smi >/dev/null 2>&1 && echo wgpu || true`)

# Where cargo puts its builds: CARGO_TARGET_DIR when set (a shared target directory), else
# target/. Every recipe runs the binaries it built from there.
target_dir := env_var_or_default("CARGO_TARGET_DIR", "target")

# Build every binary in release mode (with $RMD_FEATURES: a GPU backend on NVIDIA machines).
build:
    cargo build --release --bins --features "$RMD_FEATURES"

# Run the whole test suite (release mode: tests that train need optimised code). Tests on
# the real CIFAR-10 are marked ignored and run here when $RMD_DATA_DIR holds it; without it
# the summary counts them as ignored.
test:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ -f "$RMD_DATA_DIR/cifar-10-batches-bin/data_batch_1.bin" ]; then
        cargo test --release --workspace -- --include-ignored
    else
        echo "note: no CIFAR-10 in RMD_DATA_DIR=$RMD_DATA_DIR: the real-data tests are left out (counted as ignored)"
        cargo test --release --workspace
    fi

# Type-check the CUDA backend offline (it cannot be built here: cubecl-llvm downloads LLVM).
check-cuda:
    DOCS_RS=1 cargo check --release --features cuda --lib --bins

# Type-check the wgpu backend (the GPU build that builds offline), so a change that breaks it
# fails CI even though no GPU runs here.
check-wgpu:
    cargo check --release --features wgpu --lib --bins

# Formatting and lints, as CI runs them.
lint:
    cargo fmt --all -- --check
    cargo clippy --release --workspace --all-targets -- -D warnings

# Everything CI checks: tests, the CUDA and wgpu type-checks, formatting and lints.
ci: test check-cuda check-wgpu lint

# SimSiam training throughput (small net and ResNet-18, batch 128) vs PyTorch when installed.
bench-pretrain which="all":
    bench/pretrain.sh {{which}}

# Supervised (RGRL-stage) step throughput on the cpu-profile classifier vs PyTorch when installed (median, min/max).
bench-distill:
    bench/distill.sh

# Where one SimSiam step's time goes, burn vs PyTorch, by op category at one thread, and the cores each keeps busy (needs perf; PyTorch optional).
profile-step:
    bench/profile.sh

# Crash-safety soak: SIGKILL random stages at random moments, verify the store after each kill and rerun.
kill-loop runs="20":
    cargo build --release --quiet --bins
    bench/kill-loop.sh {{runs}}

# Exact top-K search (N=50k, d=512 by default) against a plain GEMM of the same shape, with peak memory.
bench-relations *ARGS:
    cargo bench -q -p rmd-nn --bench relations_search -- {{ARGS}}

# Scale: exact vs IVF neighbour graphs on generated embeddings at 100k, 300k, 1M rows (time,
# recall@10, peak memory); EXACT_SIZES / IVF_SIZES choose the sizes.
bench-scale *ARGS:
    bench/scale.sh {{ARGS}}

# Scale: import 200,000 generated 32x32 images from an image list and train one cpu-full
# epoch over them, with wall time and peak memory (needs numpy and Pillow).
bench-scale-images n="200000":
    cargo build --release --quiet --bins
    bench/scale-images.sh {{n}}

# Run a pipeline end to end (pipelines/NAME.toml), cached: `just reproduce cifar10-asym`,
# `just reproduce cifar10-asym --profile smoke`, `just reproduce cifar10n-worse --dry-run`.
# A GPU build (see RMD_FEATURES) runs the paper profile on the GPU unless told otherwise.
reproduce NAME *ARGS:
    cargo build --release --quiet --bins --features "$RMD_FEATURES"
    {{target_dir}}/release/rmd reproduce {{NAME}} {{ARGS}}

# RGRL distillation training (any rmd-distill flags), e.g. `just distill --noise KEY --relations KEY --loss ce`.
distill *ARGS:
    cargo run --release --quiet --features "$RMD_FEATURES" --bin rmd-distill -- {{ARGS}}

# Relation extraction (any rmd-relations flags), e.g. `just relations --encoder KEY --k 10`.
relations *ARGS:
    cargo run --release --quiet --features "$RMD_FEATURES" --bin rmd-relations -- {{ARGS}}

# SimSiam pre-training (any rmd-pretrain flags), e.g. `just pretrain --dataset cifar10 --profile cpu`.
pretrain *ARGS:
    cargo run --release --quiet --features "$RMD_FEATURES" --bin rmd-pretrain -- {{ARGS}}

# Inject label noise (any rmd-noise flags), e.g. `just noise --dataset cifar10 --noise asym --rate 0.4`.
noise *ARGS:
    cargo run --release --quiet --features "$RMD_FEATURES" --bin rmd-noise -- {{ARGS}}

# The artifact-store tool (`just rmd store list`, `just rmd store verify`, ...).
rmd *ARGS:
    cargo run --release --quiet --features "$RMD_FEATURES" --bin rmd -- {{ARGS}}

# A folder to copy to a GPU machine for `bench/gpu-check.sh`: the wgpu build's `rmd` (profile
# dist: stripped; it runs as each stage binary through links), a CIFAR-10 subset of IMAGES
# images per file from $RMD_DATA_DIR, the check and the PyTorch benches, as DIR and
# DIR.tar.gz. Builds offline.
gpu-bundle DIR="target/gpu-check" IMAGES="1000":
    cargo build --profile dist --features wgpu --bin rmd
    bench/gpu-bundle.sh {{DIR}} {{IMAGES}}

# The GPU check (wgpu vs the CPU backend and vs PyTorch on the same GPU, paper-profile RM
# rate; about 10 minutes): builds the wgpu binaries here, then runs bench/gpu-check.sh.
gpu-check OUT="gpu-check-out":
    cargo build --release --features wgpu --bins
    RMD_BIN={{target_dir}}/release bench/gpu-check.sh {{OUT}}

# The foundation demo on CIFAR-10: asym 0.4, sym 0.5 and CIFAR-10N worse labels, then verify.
noise-demo:
    cargo build --release --quiet --bins --features "$RMD_FEATURES"
    {{target_dir}}/release/rmd-noise --dataset cifar10 --noise asym --rate 0.4 --seed 1
    {{target_dir}}/release/rmd-noise --dataset cifar10 --noise sym --rate 0.5 --seed 1
    {{target_dir}}/release/rmd-noise --dataset cifar10 --noise file --labels-file "$RMD_DATA_DIR/cifar-10n/cifar10n_labels.csv" --label-column worse_label
    {{target_dir}}/release/rmd store verify

# Write the report of a pipeline profile from the store's artifacts into
# docs/results/NAME-PROFILE (computes nothing; runs not in the store yet are listed as pending
# at the top of its results.md), e.g. `just publish cifar10-sym cpu-full`.
publish NAME PROFILE:
    cargo build --release --quiet --bins --features "$RMD_FEATURES"
    {{target_dir}}/release/rmd reproduce {{NAME}} --profile {{PROFILE}} --cached-only --out docs/results/{{NAME}}-{{PROFILE}}
