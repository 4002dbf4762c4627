"""PyTorch twins of rmdnet's networks, loaded from `rmd export` directories.

    import numpy as np, rmdnet_torch
    model, info = rmdnet_torch.load("exported/")        # classifier or encoder, in eval mode
    x = rmdnet_torch.preprocess(images_uint8, info)     # [N, C, H, W] uint8 -> normalised float
    logits = model(x)                                   # classifier: [N, classes]; encoder: [N, d]

`images_uint8` is a uint8 array or tensor of shape [N, C, H, W] (CIFAR's layout; an
[N, H, W, C] image batch from PIL/numpy needs `.transpose(0, 3, 1, 2)` first). The modules
mirror rmdnet's burn modules layer for layer (3x3 stem, basic blocks with projection
shortcuts, global average pooling, a linear head), with the same parameter names, so
`load_state_dict(strict=True)` checks that every tensor is there. Needs torch and
safetensors (pip install torch safetensors).
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F


class Shortcut(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, stride, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = Shortcut(cin, cout, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class ResNet(nn.Module):
    """rmdnet's residual encoder (`ResNetConfig`): images -> pooled features."""

    def __init__(self, in_channels, stem_width, stem_stride, widths, blocks):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, stem_width, 3, stem_stride, 1, bias=False)
        self.stem_bn = nn.BatchNorm2d(stem_width)
        layers, c = [], stem_width
        for stage, (w, n) in enumerate(zip(widths, blocks)):
            for b in range(n):
                layers.append(BasicBlock(c, w, 2 if stage > 0 and b == 0 else 1))
                c = w
        self.blocks = nn.ModuleList(layers)
        self.out_dim = c

    def forward(self, x):
        x = F.relu(self.stem_bn(self.stem(x)))
        for block in self.blocks:
            x = block(x)
        return x.mean(dim=(2, 3))


class Classifier(nn.Module):
    """Backbone and linear head of an rmdnet classifier."""

    def __init__(self, backbone, num_classes):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.out_dim, num_classes)

    def forward(self, x):
        return self.head(self.backbone(x))


def load(directory):
    """Rebuilds the exported module from `directory` (export.json + weights), in eval mode."""
    with open(os.path.join(directory, "export.json")) as f:
        info = json.load(f)
    b = info["backbone"]
    backbone = ResNet(b["in_channels"], b["stem_width"], b.get("stem_stride", 1), b["widths"], b["blocks"])
    model = Classifier(backbone, len(info["classes"])) if info["kind"] == "classifier" else backbone
    from safetensors.torch import load_file  # only loading needs safetensors

    state = load_file(os.path.join(directory, info["weights"]))
    # BatchNorm's num_batches_tracked is not part of rmdnet's modules.
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{directory}: weights do not fit the module: missing {missing}, unexpected {unexpected}")
    return model.eval(), info


def preprocess(images, info):
    """uint8 images [N, C, H, W] -> the float input rmdnet feeds its networks."""
    x = torch.as_tensor(images).float() / 255.0
    mean = torch.tensor(info["normalizer_mean"]).view(1, -1, 1, 1)
    std = torch.tensor(info["normalizer_std"]).view(1, -1, 1, 1)
    return (x - mean) / std
