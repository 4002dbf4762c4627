#!/usr/bin/env python3
"""Where the time of one SimSiam step of the cpu-profile network goes in PyTorch
(torch.profiler), in the categories `profile_burn.py` uses for burn.

Same network, batch and optimiser as `simsiam_step.py`; one thread unless
RMD_BENCH_THREADS says otherwise (the op shares are compared at one thread each, where
every sample belongs to one op; cores kept busy are measured separately). Prints
`category<TAB>ms per step` lines, then `step<TAB>ms`, then `cores<TAB>busy cores` from
the timed steps at the default thread count.

Usage: python3 bench/profile_torch.py [--steps N]
"""
import os
import re
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from rmdnet_torch import ResNet  # noqa: E402
from simsiam_step import SimSiam  # noqa: E402
from step_timing import sgd  # noqa: E402

# aten op name -> category (first match wins), the same categories as profile_burn.py.
CATEGORIES = [
    (r"convolution_backward", "conv backward (input and weights)"),
    (r"convolution|conv2d|mkldnn_conv", "conv forward"),
    (r"batch_norm.*backward", "batch norm backward"),
    (r"batch_norm", "batch norm forward"),
    (r"\b(addmm|mm|bmm|matmul|linear)\b", "matmul (heads)"),
    (r"sgd|_foreach", "optimizer"),
    (r"\b(sum|mean|norm|linalg_vector_norm|var|max|min)\b", "reductions"),
    (r"empty|zeros|zero_|fill_|copy_|clone|contiguous|to\b|_to_copy|resize_", "allocation and copies"),
    (r"relu|threshold|add|sub|mul|div|neg|sqrt|clamp|exp|where|pow|rsub|cosine|expand|view|reshape|t\b|transpose|detach", "element-wise"),
]


def category(name):
    n = name.removeprefix("aten::")
    for pattern, cat in CATEGORIES:
        if re.search(pattern, n):
            return cat
    return "other"


def step(model, opt, x1, x2):
    opt.zero_grad(set_to_none=True)
    loss = model.loss(x1, x2)
    loss.backward()
    opt.step()


def main():
    steps = int(sys.argv[sys.argv.index("--steps") + 1]) if "--steps" in sys.argv else 6
    default_threads = torch.get_num_threads()
    torch.manual_seed(1)
    model = SimSiam(ResNet(3, 32, 2, [32, 64, 128], [1, 1, 1]), 512, 2, 128)
    opt = sgd(model)
    x1, x2 = torch.randn(128, 3, 32, 32), torch.randn(128, 3, 32, 32)

    # Cores kept busy: CPU time over wall time of the timed steps, default threads.
    for _ in range(2):
        step(model, opt, x1, x2)
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(steps):
        step(model, opt, x1, x2)
    r1, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - t0
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)

    torch.set_num_threads(int(os.environ.get("RMD_BENCH_THREADS", "1")))
    for _ in range(2):
        step(model, opt, x1, x2)
    t0 = time.perf_counter()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step(model, opt, x1, x2)
    profiled = time.perf_counter() - t0
    totals = {}
    for e in prof.key_averages():
        if e.key.startswith("aten::") or "Optimizer" in e.key:
            cat = "optimizer" if "Optimizer" in e.key else category(e.key)
            totals[cat] = totals.get(cat, 0.0) + e.self_cpu_time_total / 1000.0
    for cat, ms in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"{cat}\t{ms / steps:.2f}")
    print(f"step\t{profiled / steps * 1000:.2f}")
    print(f"cores\t{cpu / wall:.2f}\t{default_threads}")


if __name__ == "__main__":
    main()
