#!/usr/bin/env bash
# Supervised (RGRL-stage) training step: burn (flex CPU) vs the same step in PyTorch when
# installed, side by side; each reports the median and range of >= 10 timed steps.
# Usage: bench/distill.sh   (STEPS=N timed steps, default 12)
set -euo pipefail
cd "$(dirname "$0")/.."
# The Python with PyTorch (PYTHON=/path/to/venv/bin/python3 when it is not the first python3).
python="${PYTHON:-python3}"
steps="${STEPS:-12}"
rust=$(cargo bench -q -p rmd-nn --bench distill_step -- --steps "$steps" | grep '^bench')
echo "$rust"
if ! "$python" -c "import torch" 2>/dev/null; then
    echo "PyTorch is not installed: no comparison (pip install torch to get one)"
    exit 0
fi
py=$("$python" bench/supervised_step.py --steps "$steps")
echo "$py"
RUST="$rust" PY="$py" "$python" - <<'PY'
import os, re
med = lambda s: float(re.search(r"median ([0-9.]+) img/s", s).group(1))
print(f"ratio supervised small: burn/pytorch = {med(os.environ['RUST']) / med(os.environ['PY']):.2f} (median model step, same machine, same run)")
PY
