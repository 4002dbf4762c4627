"""Writes a small CIFAR-10 in the official binary layout for the bench scripts: DIR/
cifar-10-batches-bin/ with 60 records per batch file (300 training, 60 test images) whose
label is the record number mod 10 and whose pixels follow a fixed pattern.

Usage: python3 bench/write_small_cifar10.py DIR
"""

import os
import sys

d = os.path.join(sys.argv[1], "cifar-10-batches-bin")
os.makedirs(d)
names = "airplane automobile bird cat deer dog frog horse ship truck".split()
open(os.path.join(d, "batches.meta.txt"), "w").write("\n".join(names) + "\n")
for fi, f in enumerate([f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]):
    out = bytearray()
    for i in range(60):
        n = fi * 60 + i
        out.append(n % 10)
        out.extend((p * 7 + n * 13) % 256 for p in range(3072))
    open(os.path.join(d, f), "wb").write(out)
