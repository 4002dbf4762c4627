#!/usr/bin/env python3
"""Checks an `rmd export` classifier in PyTorch against rmdnet's own predictions.

Loads the exported classifier with python/rmdnet_torch.py, runs it on the first N test
images of CIFAR-10 (official binary layout, `test_batch.bin`) and compares its logits with
the `logits` column of `rmd predict --split test` for the same classifier. Prints the
largest absolute logit difference and how many predicted classes agree; exits 1 when any
predicted class differs.

Usage: python3 bench/check_export.py EXPORT_DIR PREDICTIONS.parquet DATA_DIR [--n 100]
Needs torch, safetensors and pyarrow (optional tools, not dependencies of rmdnet).
"""
import os
import sys

import numpy as np
import pyarrow.parquet as pq
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import rmdnet_torch  # noqa: E402


def cifar10_test_images(data_dir, n):
    path = os.path.join(data_dir, "cifar-10-batches-bin", "test_batch.bin")
    raw = np.fromfile(path, dtype=np.uint8, count=n * 3073).reshape(n, 3073)
    return raw[:, 1:].reshape(n, 3, 32, 32), raw[:, 0]


def main():
    args = sys.argv[1:]
    n = int(args[args.index("--n") + 1]) if "--n" in args else 100
    export_dir, predictions, data_dir = [a for a in args if not a.startswith("--") and a != str(n)][:3]
    model, info = rmdnet_torch.load(export_dir)
    images, labels = cifar10_test_images(data_dir, n)
    with torch.no_grad():
        torch_logits = model(rmdnet_torch.preprocess(images, info)).numpy()
    table = pq.read_table(predictions).to_pandas().sort_values("index").head(n)
    rust_logits = np.stack(table["logits"].to_numpy()).astype(np.float32)
    diff = np.abs(torch_logits - rust_logits).max()
    agree = int((torch_logits.argmax(1) == table["predicted_label"].to_numpy()).sum())
    acc = float((torch_logits.argmax(1) == labels).mean())
    print(f"{n} test images: max |logit(PyTorch) - logit(rmdnet)| = {diff:.3g}; "
          f"predicted classes agree on {agree}/{n}; PyTorch accuracy on them {acc:.3f}")
    sys.exit(0 if agree == n else 1)


if __name__ == "__main__":
    main()
