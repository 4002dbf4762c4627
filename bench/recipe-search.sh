#!/usr/bin/env bash
# Classifier recipe search on CIFAR-10 with clean labels, judged on the held-out validation
# split (never the test set). Each line of RECIPES is `NAME ARGS...` (rmd-distill flags on
# top of `--profile cpu --images 0`); blank lines and lines starting with # are skipped.
# Every recipe runs once (seed 1) through the store, so a rerun of the same list is cached
# and only new lines compute. Writes OUT/recipes.csv (one row per recipe: final and best
# validation accuracy, the epoch of the best, minutes, img/s) and OUT/curves.csv (per epoch:
# cumulative minutes and validation accuracy), which bench/recipe_plot.py draws (python3 bench/recipe_plot.py OUT.png OUT/curves.csv).
#
# Usage: bench/recipe-search.sh RECIPES OUT
#   env: BIN_DIR (default target/release), RMD_STORE, RMD_DATA_DIR (must hold CIFAR-10)
set -euo pipefail
recipes=${1:?usage: bench/recipe-search.sh RECIPES OUT}
out=${2:?usage: bench/recipe-search.sh RECIPES OUT}
bin=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}
mkdir -p "$out"

"$bin/rmd" dataset cifar10 --quiet --no-download >/dev/null
clean=$("$bin/rmd-noise" --quiet --dataset cifar10 --noise sym --rate 0 --seed 1 | tail -1)
echo "clean-label noise artifact: $clean" >&2

echo "name,key,epochs,val_acc_last,val_acc_best,best_epoch,minutes,img_per_s,args" >"$out/recipes.csv"
echo "name,epoch,minutes,val_acc" >"$out/curves.csv"
while read -r name rest; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    read -ra extra <<<"$rest"
    echo "== $name: ${extra[*]}" >&2
    key=$("$bin/rmd-distill" --noise "$clean" --loss ce --profile cpu --images 0 --resume "${extra[@]}" | tail -1)
    dir="${RMD_STORE:-data/artifacts}/distill/$key"
    python3 - "$dir/epochs.csv" "$name" "$key" "${extra[*]}" "$out" <<'PY'
import csv, sys
path, name, key, args, out = sys.argv[1:]
rows = list(csv.DictReader(open(path)))
val = [float(r["val_acc_noisy"]) for r in rows]
secs = [float(r["seconds"]) for r in rows]
ips = sum(float(r["images_per_s"]) for r in rows) / len(rows)
best = max(range(len(val)), key=lambda i: (val[i], -i))
minutes = sum(secs) / 60
with open(f"{out}/recipes.csv", "a", newline="") as f:
    csv.writer(f).writerow([name, key[:12], len(rows), f"{val[-1]:.4f}", f"{val[best]:.4f}", best + 1,
                            f"{minutes:.2f}", f"{ips:.0f}", args])
with open(f"{out}/curves.csv", "a", newline="") as f:
    w = csv.writer(f)
    t = 0.0
    for i, (v, s) in enumerate(zip(val, secs)):
        t += s
        w.writerow([name, i + 1, f"{t / 60:.3f}", f"{v:.4f}"])
print(f"{name}: val {val[-1]:.4f} (best {val[best]:.4f} at epoch {best + 1}), {minutes:.1f} min, {ips:.0f} img/s")
PY
done <"$recipes"
column -s, -t <"$out/recipes.csv" | cut -c1-160
