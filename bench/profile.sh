#!/usr/bin/env bash
# Where one SimSiam training step of the cpu-profile network spends its time, burn (flex)
# vs PyTorch, by op category: burn from `perf record --call-graph dwarf` of the
# pretrain_step bench run on one pool thread (so every sample's stack names the layer and
# pass that asked for it), PyTorch from torch.profiler at one thread; then the cores each
# keeps busy at its default thread count.
# Usage: bench/profile.sh   (STEPS=N timed steps, default 10; PYTHON=/path/to/python3 with torch)
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
steps="${STEPS:-10}"
if ! command -v perf >/dev/null; then
    echo "error: perf is not installed (Debian: apt install linux-perf); it samples burn's call stacks" >&2
    exit 2
fi
bin=$(cargo bench -p rmd-nn --bench pretrain_step --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# One thread, with call stacks: shares per category and the one-thread step time.
perf record -q -o "$tmp/perf.data" --call-graph dwarf,65528 -F 200 "$bin" small --steps "$steps" --one-thread >"$tmp/one.txt"
perf script -i "$tmp/perf.data" -F ip,sym --no-inline 2>/dev/null | python3 bench/profile_burn.py >"$tmp/burn.tsv"
if "$python" -c "import torch" 2>/dev/null; then
    "$python" bench/profile_torch.py --steps "$steps" 2>/dev/null >"$tmp/torch.tsv"
else
    echo "PyTorch is not installed: burn's profile only (pip install torch to compare)" >&2
    : >"$tmp/torch.tsv"
fi
python3 - "$tmp" "$bin" "$steps" <<'PY'
import re, resource, subprocess, sys, pathlib, time
tmp, bin, steps = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
# Default threads, no profiler: the step time and the cores kept busy (whole process).
t0 = time.perf_counter()
default = subprocess.run([bin, "small", "--steps", steps], capture_output=True, text=True, check=True).stdout
wall = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
burn_cores = (usage.ru_utime + usage.ru_stime) / wall
one = (tmp / "one.txt").read_text()
median = lambda text: float(re.search(r"model step alone median ([0-9.]+) img/s", text).group(1))
burn_ms = 128 / median(one) * 1000
shares = dict(l.split("\t") for l in (tmp / "burn.tsv").read_text().splitlines())
torch = dict(l.split("\t", 1) for l in (tmp / "torch.tsv").read_text().splitlines())
b = lambda *cats: sum(float(shares.get(c, 0)) for c in cats) * burn_ms
t = lambda *cats: sum(float(torch.get(c, 0)) for c in cats) if torch else None
rows = [
    ("conv forward", b("conv forward"), t("conv forward")),
    ("conv backward, weights", b("conv backward, weights"), None),
    ("conv backward, input", b("conv backward, input (conv_transpose)"), None),
    ("conv backward, both", b("conv backward, weights", "conv backward, input (conv_transpose)"), t("conv backward (input and weights)")),
    ("batch norm forward", b("batch norm forward"), t("batch norm forward")),
    ("batch norm backward", b("batch norm backward"), t("batch norm backward")),
    ("layout copies (to contiguous)", b("layout copies (to contiguous)"), None),
    ("allocation, copies, page faults", b("allocation, copies, page faults"), t("allocation and copies")),
    ("element-wise", b("element-wise"), t("element-wise")),
    ("matmul (heads)", b("matmul (heads)"), t("matmul (heads)")),
    ("reductions", b("reductions"), t("reductions")),
    ("optimizer", b("optimizer"), t("optimizer")),
    ("autodiff bookkeeping, sync, other", b("autodiff bookkeeping", "thread sync and idle", "other"), t("other")),
]
fmt = lambda v: "" if v is None else f"{v:.0f}"
print(f"| one thread, batch 128 ({steps} steps) | burn ms/step | PyTorch ms/step | burn / PyTorch |")
print("|---|---|---|---|")
for name, bv, tv in rows:
    print(f"| {name} | {fmt(bv)} | {fmt(tv)} | {f'{bv / tv:.2f}' if tv else ''} |")
torch_step = float(torch["step"]) if torch else None
bold = lambda text: f"**{text}**" if text else ""
print(f"| **step** | **{burn_ms:.0f}** | {bold(fmt(torch_step))} | {bold(f'{burn_ms / torch_step:.2f}' if torch_step else '')} |")
print()
print(f"burn: {shares.get('samples')} samples in the model step; PyTorch's column is torch.profiler's self CPU time per op")
print(f"default threads: burn model step median {median(default):.1f} img/s, {burn_cores:.2f} cores busy (whole bench process)")
if torch:
    busy, threads = torch["cores"].split("\t")
    print(f"default threads: PyTorch {busy} cores busy of {threads} threads (timed steps)")
PY
