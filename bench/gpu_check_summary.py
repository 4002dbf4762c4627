#!/usr/bin/env python3
"""Summary of bench/gpu-check.sh: reads its work folder and logs, writes summary.md and
summary.json into OUT and prints the Markdown. Standard library only.

Environment (set by gpu-check.sh): OUT, WORK, WGPU_OK, STATUS, RM_SECONDS, and
RMD_PIPELINES_DIR for the paper pipeline whose cost is projected (cifar100-asym).
"""
import csv
import json
import os
import re
import statistics
import sys

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

OUT = os.environ["OUT"]
WORK = os.environ["WORK"]
# The paper profile's sizes: CIFAR's 50,000 training images, 5,000 of them held out by the
# RGRL stage for validation; 800 SimSiam epochs and 120 RGRL epochs (crates/rmd-nn profiles).
TRAIN_IMAGES, VAL_IMAGES, RM_EPOCHS, RGRL_EPOCHS = 50_000, 5_000, 800, 120


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def smoke_section():
    lines, info = ["## 1. Smoke pipeline (cifar10-asym --profile smoke), wgpu vs flex", ""], {}
    keys = {b: read(os.path.join(WORK, f"keys-{b}.txt")) for b in ("wgpu", "flex")}
    secs = {b: read(os.path.join(WORK, f"smoke-{b}.seconds")) for b in ("wgpu", "flex")}
    for b in ("wgpu", "flex"):
        ok = secs[b] is not None
        info[f"{b}_passed"] = ok
        lines.append(f"* {b}: {'passed in ' + secs[b].strip() + ' s' if ok else 'did not run or failed (smoke-' + b + '.log)'}")
    if keys["wgpu"] is not None and keys["flex"] is not None:
        kw, kf = keys["wgpu"].split(), keys["flex"].split()
        same = kw == kf
        info["same_keys"] = same
        lines.append(f"* artifact keys: {'the same' if same else 'DIFFERENT'} ({len(kw)} artifacts on wgpu, {len(kf)} on flex)")
        if not same:
            for k in sorted(set(kw) ^ set(kf)):
                lines.append(f"  * only on {'wgpu' if k in kw else 'flex'}: {k}")
    rows = {}
    for b in ("wgpu", "flex"):
        path = os.path.join(WORK, f"smoke-{b}", "results.csv")
        if os.path.exists(path):
            with open(path, newline="") as f:
                rows[b] = list(csv.DictReader(f))
    if len(rows) == 2:
        diffs = []
        # Test accuracies (fractions): validation-selected, last epoch, best on test.
        columns = ("val_selected_mean", "last_mean", "best_on_test_mean")
        for rw, rf in zip(rows["wgpu"], rows["flex"]):
            for col, v in rw.items():
                if col in columns and v not in ("", None) and rf.get(col) not in ("", None):
                    try:
                        diffs.append((abs(float(v) - float(rf[col])), col, rw.get("run", "?"), v, rf[col]))
                    except ValueError:
                        pass
        if diffs:
            worst = max(diffs)
            info["max_accuracy_difference"] = worst[0]
            lines.append(
                f"* test accuracies (results.csv, {len(diffs)} values): largest |wgpu − flex| = {worst[0]:.4f} "
                f"({worst[1]} of run {worst[2]}: {worst[3]} vs {worst[4]})"
            )
    return lines + [""], info


def bench_section():
    lines = ["## 2. Training-step throughput on the same GPU (images/s of the model step)", ""]
    path = os.path.join(WORK, "bench.jsonl")
    entries = []
    for line in (read(path) or "").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    info = {"entries": entries}
    if not entries:
        return lines + ["No step bench ran (see bench.log).", ""], info
    lines += [
        "| step | side | rounds | median of round medians | range of round medians | within-round min–max |",
        "|---|---|---|---|---|---|",
    ]
    by = {}
    for e in entries:
        by.setdefault((e["result"].get("objective"), e["side"]), []).append(e)
    for (objective, side), es in sorted(by.items()):
        meds = [e["result"]["model_img_per_s"]["median"] for e in es]
        lo = min(e["result"]["model_img_per_s"]["min"] for e in es)
        hi = max(e["result"]["model_img_per_s"]["max"] for e in es)
        batch = es[0]["result"].get("batch")
        lines.append(
            f"| {objective} batch {batch} | {side} | {len(es)} | {statistics.median(meds):.1f} | "
            f"{min(meds):.1f}–{max(meds):.1f} | {lo:.1f}–{hi:.1f} |"
        )
    lines.append("")
    for objective in sorted({o for o, _ in by}):
        burn = {e["round"]: e["result"]["model_img_per_s"]["median"] for e in by.get((objective, "burn-wgpu"), [])}
        for other in ("pytorch-eager", "pytorch-compile"):
            theirs = {e["round"]: e["result"]["model_img_per_s"]["median"] for e in by.get((objective, other), [])}
            if other == "pytorch-eager":
                ratios = [burn[r] / theirs[r] for r in burn if r in theirs]
            else:  # one compiled run, against each round of burn
                ratios = [b / t for b in burn.values() for t in theirs.values()]
            if ratios:
                info[f"ratio_{objective}_{other}"] = ratios
                lines.append(
                    f"* {objective}: burn-wgpu / {other} = **{statistics.median(ratios):.2f}** "
                    f"(range {min(ratios):.2f}–{max(ratios):.2f}, {len(ratios)} pair{'s' if len(ratios) > 1 else ''})"
                )
    return lines + [""], info


EPOCH = re.compile(r"epoch (\d+)/(\d+): loss (-?[0-9.]+), lr [0-9.]+, (?:kNN acc ([0-9.]+), )?([0-9.]+) img/s.*?([0-9.]+)s$")


def rm_section(bench_info):
    lines = [f"## 3. RM stage on wgpu (`{os.environ.get('RM_ARGS', '')}`, {os.environ.get('RM_SECONDS', '?')} s budget)", ""]
    log = read(os.path.join(OUT, "rm.log")) or ""
    epochs = [m.groups() for m in (EPOCH.search(l) for l in log.splitlines()) if m]
    info = {"epochs": [{"epoch": int(e[0]), "loss": float(e[2]), "knn_acc": float(e[3]) if e[3] else None,
                        "img_per_s": float(e[4]), "seconds": float(e[5])} for e in epochs]}
    if not epochs:
        return lines + ["No epoch finished (rm.log).", ""], info
    lines += ["| epoch | loss | kNN acc | img/s | seconds |", "|---|---|---|---|---|"]
    for e in info["epochs"]:
        knn = f"{e['knn_acc']:.4f}" if e["knn_acc"] is not None else "–"
        lines.append(f"| {e['epoch']} | {e['loss']:.4f} | {knn} | {e['img_per_s']:.0f} | {e['seconds']:.0f} |")
    steady = [e["img_per_s"] for e in info["epochs"][1:]] or [info["epochs"][0]["img_per_s"]]
    rate = statistics.median(steady)
    per_minute = 60.0 / statistics.median([e["seconds"] for e in info["epochs"][1:]] or [info["epochs"][0]["seconds"]])
    info.update(rm_img_per_s=rate, epochs_per_minute_on_this_data=per_minute)
    lines += [
        "",
        f"* training rate (median over epochs after the first): **{rate:.0f} img/s**; {per_minute:.2f} epochs per minute on this data "
        "(kNN each epoch included)",
    ]
    if "--profile paper" not in os.environ.get("RM_ARGS", ""):
        return lines + ["* no projection: the RM did not run with the paper profile", ""], info
    rm_hours = RM_EPOCHS * TRAIN_IMAGES / rate / 3600
    info.update(rm_paper_hours=rm_hours)
    lines.append(
        f"* paper RM, {RM_EPOCHS} epochs × {TRAIN_IMAGES:,} images at that rate: **{rm_hours:.1f} hours** (kNN every 10 epochs not counted)"
    )
    sup = [e["result"] for e in bench_info["entries"] if e["side"] == "burn-wgpu" and e["result"].get("objective") == "supervised"]
    if sup:
        sup_rate = statistics.median(r["with_augmentation_img_per_s"] for r in sup)
        run_hours = RGRL_EPOCHS * (TRAIN_IMAGES - VAL_IMAGES) / sup_rate / 3600
        runs = paper_runs("cifar100-asym")
        info.update(rgrl_img_per_s=sup_rate, rgrl_run_hours=run_hours, cifar100_asym_runs=runs)
        lines.append(
            f"* one paper RGRL run, {RGRL_EPOCHS} epochs × {TRAIN_IMAGES - VAL_IMAGES:,} images at the supervised step's "
            f"{sup_rate:.0f} img/s (host augmentation included; RGRL's extra terms and evaluation not counted): "
            f"**{run_hours:.2f} hours**"
        )
        if runs:
            lines.append(
                f"* `just reproduce cifar100-asym` (paper: one RM, {runs} RGRL runs): about "
                f"**{rm_hours + runs * run_hours:.1f} hours** on this GPU"
            )
    return lines + [""], info


def paper_runs(name):
    path = os.path.join(os.environ.get("RMD_PIPELINES_DIR", "pipelines"), f"{name}.toml")
    if tomllib is None or not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        p = tomllib.load(f)
    prof = p.get("profiles", {}).get("paper", {})
    noise = prof.get("noise", [n["id"] for n in p.get("noise", [])])
    runs = prof.get("runs", [r["name"] for r in p.get("runs", [])])
    return len(noise) * len(runs) * len(prof.get("seeds", [1]))


def main():
    machine = (read(os.path.join(OUT, "machine.txt")) or "").strip()
    head = ["# GPU check", "", "```", machine, "```", ""]
    if os.environ.get("WGPU_OK") != "1":
        head += ["**wgpu did not start.** Its error (probe.log):", "", "```", (read(os.path.join(OUT, "probe.log")) or "").strip()[-3000:], "```", ""]
    s1, i1 = smoke_section()
    s2, i2 = bench_section()
    s3, i3 = rm_section(i2)
    passed = os.environ.get("STATUS") == "0"
    tail = [f"Result: {'every part ran' if passed else 'a part failed; see the logs named above'}."]
    text = "\n".join(head + s1 + s2 + s3 + tail) + "\n"
    with open(os.path.join(OUT, "summary.md"), "w") as f:
        f.write(text)
    with open(os.path.join(OUT, "summary.json"), "w") as f:
        json.dump({"wgpu_ok": os.environ.get("WGPU_OK") == "1", "smoke": i1, "bench": i2, "rm": i3, "passed": passed}, f, indent=1)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
