"""Writes N generated 32x32 RGB PNG images and a labels.csv (path,label,split) for the
image-list importer's scale benchmark: class c (i % classes) is a colour gradient of its
own plus seeded noise, so the classes are learnable. Usage:
    python3 bench/make_image_list.py OUT_DIR N [--classes 10] [--test-fraction 0.1]
Needs numpy and Pillow."""
import argparse
import os

import numpy as np
from PIL import Image

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("n", type=int)
ap.add_argument("--classes", type=int, default=10)
ap.add_argument("--test-fraction", type=float, default=0.1)
a = ap.parse_args()
rng = np.random.default_rng(1)
base = rng.integers(40, 216, size=(a.classes, 3)).astype(np.float32)
ramp = np.linspace(-30, 30, 32, dtype=np.float32)
os.makedirs(a.out, exist_ok=True)
with open(os.path.join(a.out, "labels.csv"), "w") as f:
    f.write("path,label,split\n")
    for i in range(a.n):
        c = i % a.classes
        img = base[c][None, None, :] + (ramp[:, None, None] if c % 2 else ramp[None, :, None])
        img = img + rng.normal(0, 25, size=(32, 32, 3))
        sub = f"{i // 1000:04d}"
        os.makedirs(os.path.join(a.out, sub), exist_ok=True)
        path = f"{sub}/{i:07d}.png"
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(os.path.join(a.out, path), compress_level=1)
        split = "test" if (i * 2654435761 % 1000) < a.test_fraction * 1000 else "train"
        f.write(f"{path},class{c},{split}\n")
