#!/usr/bin/env bash
# SimSiam training throughput: burn (flex CPU) vs the same step in PyTorch when installed.
# Usage: bench/pretrain.sh [small|resnet18|all]   (STEPS=N timed steps, default 12)
set -euo pipefail
cd "$(dirname "$0")/.."
# The Python with PyTorch (PYTHON=/path/to/venv/bin/python3 when it is not the first python3).
python="${PYTHON:-python3}"
which="${1:-all}"
steps="${STEPS:-12}"
rust=$(cargo bench -q -p rmd-nn --bench pretrain_step -- "$which" --steps "$steps" | grep '^bench')
echo "$rust"
if ! "$python" -c "import torch" 2>/dev/null; then
    echo "PyTorch is not installed: no comparison (pip install torch to get one)"
    exit 0
fi
py=$("$python" bench/simsiam_step.py "$which" --steps "$steps")
echo "$py"
RUST="$rust" PY="$py" "$python" - <<'PY'
import os, re
rust = {m.group(1): float(m.group(2)) for m in re.finditer(r"bench simsiam (\w+).*model step alone median ([0-9.]+) img/s", os.environ["RUST"])}
py = {m.group(1): float(m.group(2)) for m in re.finditer(r"pytorch simsiam (\w+).*model step median ([0-9.]+) img/s", os.environ["PY"])}
for net in rust:
    if net in py:
        print(f"ratio {net}: burn/pytorch = {rust[net] / py[net]:.2f} (median model step, same machine, same run)")
PY
