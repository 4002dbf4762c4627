#!/usr/bin/env python3
"""The supervised step of `cargo bench -p rmd-nn --bench distill_step`, in PyTorch.

The cpu-profile classifier (the same residual network as python/rmdnet_torch.py: widths 32,
64, 128, one block each, stem stride 2, and a linear head for 10 classes), batch 128,
cross-entropy forward + backward + SGD (momentum 0.9, dampening 0, weight decay 5e-4) on
pre-made inputs (augmentation is timed separately on the Rust side). Prints
`pytorch supervised small batch 128: model step median <img/s> img/s (min <..>, max <..>,
N steps)`.

Usage: python3 bench/supervised_step.py [--steps N]     (default 12; RMD_BENCH_THREADS=n)
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from rmdnet_torch import ResNet  # noqa: E402
from step_timing import time_steps  # noqa: E402


def main():
    args = sys.argv[1:]
    steps = int(args[args.index("--steps") + 1]) if "--steps" in args else 12
    torch.set_num_threads(int(os.environ.get("RMD_BENCH_THREADS", torch.get_num_threads())))
    torch.manual_seed(1)
    backbone = ResNet(3, 32, 2, [32, 64, 128], [1, 1, 1])
    model = nn.Sequential(backbone, nn.Linear(backbone.out_dim, 10))
    batch = 128
    x = torch.randn(batch, 3, 32, 32)
    y = torch.arange(batch) % 10
    spread = time_steps(model, lambda: F.cross_entropy(model(x), y), batch, steps)
    print(f"pytorch supervised small batch {batch}: {spread}")


if __name__ == "__main__":
    main()
