#!/usr/bin/env python3
"""The SimSiam training step of `cargo bench -p rmd-nn --bench pretrain_step`, in PyTorch.

Same networks (the cpu-profile small ResNet and the CIFAR ResNet-18 with the paper's heads),
batch 128, two views, forward + backward + SGD (momentum 0.9, dampening 0, weight decay
5e-4). Views are pre-made tensors: augmentation is timed separately on the Rust side, so
the two figures compare the model step alone. Prints one line per network:
`pytorch simsiam <net> batch 128: model step median <img/s> img/s (min .., max .., N steps)`.

Usage: python3 bench/simsiam_step.py [small|resnet18|all] [--steps N]
"""
import sys

import os

import torch
import torch.nn as nn
import torch.nn.functional as F

# The same residual encoder users load exported weights into.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from rmdnet_torch import ResNet  # noqa: E402
from step_timing import time_steps  # noqa: E402


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


def bench(name, model, batch, steps):
    torch.manual_seed(1)
    x1 = torch.randn(batch, 3, 32, 32)
    x2 = torch.randn(batch, 3, 32, 32)
    print(f"pytorch simsiam {name} batch {batch}: {time_steps(model, lambda: model.loss(x1, x2), batch, steps)}")


def main():
    args = sys.argv[1:]
    which = next((a for a in args if not a.startswith("--") and not a.isdigit()), "all")
    steps = int(args[args.index("--steps") + 1]) if "--steps" in args else 12
    torch.set_num_threads(int(__import__("os").environ.get("RMD_BENCH_THREADS", torch.get_num_threads())))
    if which in ("small", "all"):
        enc = ResNet(3, 32, 2, [32, 64, 128], [1, 1, 1])
        bench("small (cpu profile)", SimSiam(enc, 512, 2, 128), 128, steps)
    if which in ("resnet18", "all"):
        enc = ResNet(3, 64, 1, [64, 128, 256, 512], [2, 2, 2, 2])
        bench("resnet18 (paper profile)", SimSiam(enc, 2048, 3, 512), 128, min(steps, 3))


if __name__ == "__main__":
    main()
