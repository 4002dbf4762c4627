#!/usr/bin/env python3
"""The supervised step of `cargo bench -p rmd-nn --bench distill_step`, in PyTorch.

The cpu-profile classifier (the same residual network as python/rmdnet_torch.py: widths 32,
64, 128, one block each, stem stride 2, and a linear head for 10 classes), batch 128,
cross-entropy forward + backward + SGD (momentum 0.9, dampening 0, weight decay 5e-4) on
pre-made inputs (augmentation is timed separately on the Rust side). Prints
`pytorch supervised small batch 128: model step median <img/s> img/s (min <..>, max <..>,
N steps)`.

Usage: python3 bench/supervised_step.py [--steps N] [--batch N] [--arch small|resnet18]
       [--device cuda] [--compile] [--json]          (default 12 steps; RMD_BENCH_THREADS=n)
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from rmdnet_torch import ResNet  # noqa: E402
from step_timing import measure, parser, setup  # noqa: E402


def main():
    p = parser("Supervised (cross-entropy) training step in PyTorch", 128)
    p.add_argument("--arch", default="small", choices=["small", "resnet18"], help="cpu-profile net or the paper's ResNet-18")
    args = p.parse_args()
    torch.manual_seed(1)
    if args.arch == "small":
        backbone, name = ResNet(3, 32, 2, [32, 64, 128], [1, 1, 1]), "small"
    else:
        backbone, name = ResNet(3, 64, 1, [64, 128, 256, 512], [2, 2, 2, 2]), "resnet18"
    model = setup(args, nn.Sequential(backbone, nn.Linear(backbone.out_dim, 10)))
    x = torch.randn(args.batch, 3, 32, 32, device=args.device)
    y = torch.arange(args.batch, device=args.device) % 10
    forward = torch.compile(model) if args.compile else model
    measure("supervised", name, model, lambda: F.cross_entropy(forward(x), y), args, args.steps)


if __name__ == "__main__":
    main()
