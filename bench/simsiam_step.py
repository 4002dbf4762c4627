#!/usr/bin/env python3
"""The SimSiam training step of `cargo bench -p rmd-nn --bench pretrain_step`, in PyTorch.

Same networks (the cpu-profile small ResNet and the CIFAR ResNet-18 with the paper's heads),
batch 128 by default, two views, forward + backward + SGD (momentum 0.9, dampening 0, weight
decay 5e-4). Views are pre-made tensors: augmentation is timed separately on the Rust side,
so the two figures compare the model step alone. Prints one line per network:
`pytorch simsiam <net> batch 128: model step median <img/s> img/s (min .., max .., N steps)`.

Usage: python3 bench/simsiam_step.py [small|resnet18|all] [--steps N] [--batch N]
       [--device cuda] [--compile] [--json]
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

# The same residual encoder users load exported weights into.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from rmdnet_torch import ResNet  # noqa: E402
from step_timing import measure, parser, setup  # noqa: E402


def mlp(dims, norm_last):
    layers = []
    for i in range(len(dims) - 1):
        last = i == len(dims) - 2
        normed = not last or norm_last
        layers.append(nn.Linear(dims[i], dims[i + 1], bias=not normed))
        if normed:
            layers.append(nn.BatchNorm1d(dims[i + 1]))
        if not last:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class SimSiam(nn.Module):
    def __init__(self, encoder, proj_dim, proj_layers, pred_hidden):
        super().__init__()
        self.encoder = encoder
        self.projector = mlp([encoder.out_dim] + [proj_dim] * proj_layers, True)
        self.predictor = mlp([proj_dim, pred_hidden, proj_dim], False)

    def loss(self, x1, x2):
        z1, z2 = self.projector(self.encoder(x1)), self.projector(self.encoder(x2))
        p1, p2 = self.predictor(z1), self.predictor(z2)
        d = lambda p, z: -F.cosine_similarity(p, z.detach(), dim=1).mean()
        return 0.5 * (d(p1, z2) + d(p2, z1))


def bench(name, model, args, steps):
    torch.manual_seed(1)
    model = setup(args, model)
    x1 = torch.randn(args.batch, 3, 32, 32, device=args.device)
    x2 = torch.randn(args.batch, 3, 32, 32, device=args.device)
    loss = model.loss
    if args.compile:
        loss = torch.compile(model.loss)
    measure("simsiam", name, model, lambda: loss(x1, x2), args, steps)


def main():
    p = parser("SimSiam training step in PyTorch", 128)
    p.add_argument("which", nargs="?", default="all", choices=["small", "resnet18", "all"])
    p.add_argument("--all-steps", action="store_true", help="time --steps ResNet-18 steps too (default: at most 3)")
    args = p.parse_args()
    if args.which in ("small", "all"):
        enc = ResNet(3, 32, 2, [32, 64, 128], [1, 1, 1])
        bench("small (cpu profile)", SimSiam(enc, 512, 2, 128), args, args.steps)
    if args.which in ("resnet18", "all"):
        enc = ResNet(3, 64, 1, [64, 128, 256, 512], [2, 2, 2, 2])
        steps = args.steps if args.all_steps else min(args.steps, 3)
        bench("resnet18 (paper profile)", SimSiam(enc, 2048, 3, 512), args, steps)


if __name__ == "__main__":
    main()
