"""Validation accuracy against cumulative training minutes, one line per recipe, from the
curves CSVs that bench/recipe-search.sh writes (name, epoch, minutes, val_acc).

Usage: python3 bench/recipe_plot.py OUT.png CURVES.csv [CURVES.csv ...]
Writes OUT.png and the same plot as OUT.svg. Needs matplotlib (an optional bench tool).
"""

import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, paths = sys.argv[1], sys.argv[2:]
    curves: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                curves[row["name"]].append((float(row["minutes"]), 100 * float(row["val_acc"])))
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, points in sorted(curves.items()):
        points.sort()
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o", markersize=2.5, linewidth=1.2, label=f"{name} ({ys[-1]:.1f})")
    ax.axhline(85, color="grey", linestyle="--", linewidth=0.8)
    ax.axvline(20, color="grey", linestyle=":", linewidth=0.8)
    ax.set_xlabel("cumulative minutes (training and per-epoch evaluation; contended runs are slower)")
    ax.set_ylabel("validation accuracy, clean labels (%)")
    ax.set_ylim(40, 90)
    ax.set_title("cpu-full recipe search: CIFAR-10, 45,000 training images, 2-core CPU")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    fig.savefig(out.rsplit(".", 1)[0] + ".svg")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
