#!/usr/bin/env python3
"""Where the time of one SimSiam step of the cpu-profile network goes in burn (flex), from
`perf script` output of `perf record --call-graph dwarf` on the `pretrain_step` bench.

Each sample is put in one category by its call stack: the phase (forward, backward,
optimizer) from the frames that called it, the op from the innermost burn op frame;
samples inside allocation, copies and page faults count as such whatever op asked for
them. Samples outside the model step (set-up, augmentation timing) are left out. Prints
`category<TAB>share` lines (shares of the model step's samples).

Usage: perf script -F ip,sym --no-inline | python3 bench/profile_burn.py
"""
import re
import sys

MEMORY = re.compile(r"memmove|memset|memcpy|malloc|_int_free|cfree|page_fault|clear_page|munmap|mmap|alloc_pages")
SYNC = re.compile(r"crossbeam|rayon_core::sleep|rayon_core::registry::WorkerThread::wait|sched_yield|futex|syscall")


def category(frames):
    """Category of one sample, or None outside the model step. `frames` run leaf first."""
    text = "\n".join(frames)
    if "pretrain_step::bench" not in text and "rayon_core" not in text:
        return None
    if "rmd_data::augment" in text or "::init" in text and "burn_autodiff" not in text and "SimSiam::loss" not in text:
        return None
    if re.search(r"burn_optim|optim::sgd|optim::momentum|GradientsParams|ModuleOptimizer|::step\b", text) and "burn_autodiff::runtime" not in text:
        phase = "optimizer"
    elif "burn_autodiff::runtime::server" in text or "Backward>::backward" in text:
        phase = "backward"
    elif "SimSiam::loss" in text:
        phase = "forward"
    else:
        phase = "worker thread"
    if MEMORY.search(frames[0]):
        return "allocation, copies, page faults"
    if SYNC.search(frames[0]):
        return "thread sync and idle"
    if "copy_2d_tiled" in frames[0] or "into_contiguous" in text:
        return "layout copies (to contiguous)"
    if phase == "optimizer":
        return "optimizer"
    # conv2d_nchw: the NCHW passes (vendor/burn-flex); conv_transpose / conv: the generic ones.
    if re.search(r"conv2d_nchw::(conv2d_)?x_backward", text) or "conv_transpose" in text:
        return "conv backward, input (conv_transpose)"
    if re.search(r"conv2d_nchw::(conv2d_)?weight_backward", text):
        return "conv backward, weights"
    if "conv2d_nchw::conv2d" in text or "burn_flex::ops::conv::" in text:
        return "conv backward, weights" if phase == "backward" else "conv forward"
    if "batch_norm" in text:
        return f"batch norm {phase}"
    if "burn_flex::ops::matmul" in text:
        return "matmul (heads)"
    if "burn_flex::ops::reduce" in text:
        return "reductions"
    if re.search(r"burn_flex::(zip|ops::binary|ops::unary|ops::float|ops::activation)|macerator", text):
        return "element-wise"
    if "burn_autodiff" in text:
        return "autodiff bookkeeping"
    return "other"


def main():
    counts = {}
    for sample in sys.stdin.read().split("\n\n"):
        frames = [line.strip().split(" ", 1)[1] for line in sample.strip().splitlines() if " " in line.strip()]
        if not frames:
            continue
        cat = category(frames)
        if cat is not None:
            counts[cat] = counts.get(cat, 0) + 1
    total = sum(counts.values())
    for cat, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"{cat}\t{n / total:.4f}")
    print(f"samples\t{total}")


if __name__ == "__main__":
    main()
