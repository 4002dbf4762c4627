#!/usr/bin/env bash
# One example per hardening class (paths that escape, one standard of trust, flags that
# promise nothing, gc, bombs, ambiguous inputs, numerics, sizes, pipeline files, messages,
# torchvision's files), run against the binaries in BIN_DIR on small data written into
# OUT_DIR (deleted first). Prints each command with the tail of its output, its exit code and
# what happened to the files involved. Run it against two builds to compare them.
# Usage: bench/hardening-cases.sh BIN_DIR OUT_DIR   (needs python3 with numpy and blake3)
S=$(cd "$(dirname "$0")" && pwd); B=$(cd "$1" && pwd); W=$2; rm -rf "$W"; mkdir -p "$W"; cd "$W"
python3 "$S/write_small_cifar10.py" data
D="--data-dir data --no-download"
say() { echo; echo "### $*"; }
ex() { echo "\$ $*"; "$@" > out.txt 2> err.txt; rc=$?; tail -c 700 err.txt | tail -n 3 | cut -c1-300 | sed 's/^/  stderr: /'; tail -n 1 out.txt | cut -c1-200 | sed 's/^/  stdout: /'; echo "  exit $rc"; }
flip() { python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)-int(sys.argv[2])]^=0x40; open(p,'wb').write(b)" "$@"; }
noise() { $B/rmd-noise --store "$1" $D --dataset cifar10 --noise sym --rate 0.4 --quiet | tail -1; }
count() { find "$1" -mindepth 2 -maxdepth 2 -type d ! -name '.*' 2>/dev/null | wc -l; }

say "1. paths that escape: a manifest output named ../../../secret.txt with the host file's true hash"
NK=$(noise s1); echo "host file" > secret.txt
python3 - s1/noise/$NK <<'PY'
import json, os, sys, hashlib
d = sys.argv[1]; m = json.load(open(f"{d}/manifest.json"))
for f in m["outputs"]: os.remove(f"{d}/{f}")
try:
    import blake3; h = blake3.blake3(open("secret.txt", "rb").read()).hexdigest()
except ImportError:
    h = "0" * 64
m["outputs"] = {"../../../secret.txt": {"blake3": h, "bytes": os.path.getsize("secret.txt")}}
json.dump(m, open(f"{d}/manifest.json", "w"))
PY
ex $B/rmd store verify --store s1
echo "  and store export onto a name whose temporary is a planted symlink:"
NK2=$(noise s1b); echo "victim" > victim.txt; ln -s "$PWD/victim.txt" b.tar.gz.partial
ex $B/rmd store export --store s1b $NK2 b.tar.gz
echo "  victim.txt now: $(head -c 20 victim.txt | tr -c '[:print:]' '?')"
CK=$($B/rmd-distill --store s1b --noise $NK2 --profile smoke --quiet 2> /dev/null | tail -1)
mkfifo fifo; ex timeout 20 $B/rmd predict --store s1b --classifier $CK --dataset cifar10 $D --split test --out fifo
echo "  fifo is still a FIFO: $(test -p fifo && echo yes || echo no)"

say "2. one standard of trust: dataset images altered and their manifest hash rewritten"
NK=$(noise s2); DK=$(ls s2/dataset | grep -v '^\.')
flip s2/dataset/$DK/train_images.u8 100
python3 - s2/dataset/$DK <<'PY'
import json, sys
d = sys.argv[1]; m = json.load(open(f"{d}/manifest.json"))
try:
    import blake3; m["outputs"]["train_images.u8"]["blake3"] = blake3.blake3(open(f"{d}/train_images.u8", "rb").read()).hexdigest()
except ImportError:
    print("  (pip install blake3 to rewrite the hash)")
json.dump(m, open(f"{d}/manifest.json", "w"))
PY
ex $B/rmd store verify --store s2
ex $B/rmd-distill --store s2 --noise $NK --profile smoke
echo "  and a --resume checkpoint with one flipped bit in the weights:"
NK=$(noise s2b)
$B/rmd-distill --store s2b --noise $NK --profile smoke --epochs 40 > /dev/null 2>&1 & pid=$!
for _ in $(seq 600); do ls s2b/distill/.partial-*/checkpoint/model.bpk > /dev/null 2>&1 && break; sleep 0.05; done
sleep 0.3; kill -9 $pid; wait $pid 2> /dev/null
flip $(ls s2b/distill/.partial-*/checkpoint/model.bpk) 64
ex $B/rmd-distill --store s2b --noise $NK --profile smoke --epochs 40 --resume

say "3. flags that promise nothing: store gc --keep K --plan"
NK=$(noise s3); $B/rmd-noise --store s3 $D --dataset cifar10 --noise sym --rate 0.6 --quiet > /dev/null
echo "  artifacts before: $(count s3)"
ex $B/rmd store gc --store s3 --keep $NK --plan
echo "  artifacts after: $(count s3)"

say "4. gc adopting a folder made before store markers"
mkdir -p s4/backup/.partial-$(printf 'a%.0s' $(seq 64)) && echo "chapter 1" > s4/backup/.partial-$(printf 'a%.0s' $(seq 64))/thesis.tex
ex $B/rmd store gc --store s4
echo "  thesis.tex still there: $(ls s4/backup/.partial-*/thesis.tex > /dev/null 2>&1 && echo yes || echo no)"

say "5. bombs: a gzip IDX file announcing 2 images that inflates to 256 MiB (peak memory)"
mkdir -p data/mnist
python3 - data/mnist <<'PY'
import gzip, struct, sys
d = sys.argv[1]
def idx(name, dims, payload_len, code=8):
    with gzip.open(f"{d}/{name}.gz", "wb", compresslevel=1) as f:
        f.write(struct.pack(">BBBB", 0, 0, code, len(dims)) + b"".join(struct.pack(">I", x) for x in dims))
        for _ in range(payload_len // (1 << 20)): f.write(bytes(1 << 20))
        f.write(bytes(payload_len % (1 << 20)))
idx("train-images-idx3-ubyte", [2, 28, 28], 256 << 20)
idx("train-labels-idx1-ubyte", [2], 2); idx("t10k-images-idx3-ubyte", [2, 28, 28], 2 * 784); idx("t10k-labels-idx1-ubyte", [2], 2)
PY
ex /usr/bin/time -f "peak RSS %M KiB" $B/rmd dataset mnist --store s5 $D

say "6. ambiguous inputs: duplicate class names; an image folder with a link loop; --name cifar10"
cp -r data dup; sed -i 's/^automobile$/airplane/' dup/cifar-10-batches-bin/batches.meta.txt
ex $B/rmd dataset cifar10 --store s6 --data-dir dup --no-download
python3 - imgs <<'PY'
import os, sys, zlib, struct
def png(path, shade):
    raw = b"".join(b"\x00" + bytes([shade]) * 8 * 3 for _ in range(8))
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
for c, cls in enumerate(["cat", "dog"]):
    os.makedirs(f"{sys.argv[1]}/{cls}", exist_ok=True)
    for i in range(4): png(f"{sys.argv[1]}/{cls}/{i}.png", 40 * c + i)
PY
ln -s .. imgs/cat/loop
ex $B/rmd dataset --store s6 --from image-folder imgs --name pets --test-fraction 0.25
rm imgs/cat/loop
ex $B/rmd dataset --store s6 --from image-folder imgs --name cifar10 --test-fraction 0.25

say "7. numerics: external embeddings with rows scaled by 1e30 and 1e-40"
python3 - <<'PY'
import numpy as np
e = np.zeros((300, 16), np.float32)
for r in range(300): e[r, r % 10] = 1; e[r, 10 + r % 3] = 0.1 + (r % 7) * 0.01
e *= np.array([1e30, 1e-40, 1], np.float32)[np.arange(300) % 3][:, None]
np.save("extreme.npy", e)
PY
ex $B/rmd-relations --store s7 $D --dataset cifar10 --embeddings extreme.npy --k 5
K=$(tail -1 out.txt); python3 -c "import json,sys; print('  neighbour_label_agreement:', json.load(open(sys.argv[1]))['metrics']['neighbour_label_agreement'])" s7/relations/$K/manifest.json 2> /dev/null

say "8. sizes that cannot fit: --arch widths that need hundreds of GB; --images beyond the data"
NK=$(noise s8)
ex $B/rmd-distill --store s8 --noise $NK --profile smoke --arch small:16384:3:1
ex $B/rmd-distill --store s8 --noise $NK --profile smoke --images 100000

say "9. pipeline files: a repeated seed"
cat > rep.toml <<'TOML'
description = "a repeated seed"
dataset = "cifar10"
[[noise]]
id = "sym"
args = ["--noise", "sym", "--rate", "0.4", "--seed", "1"]
[[runs]]
name = "ce"
loss = "ce"
[profiles.smoke]
stage_profile = "smoke"
seeds = [1, 1]
minutes = { pretrain = 1, relations = 1, distill = 1 }
TOML
ex $B/rmd reproduce rep.toml --store s9 $D --profile smoke --dry-run

say "10. messages: an output directory that is a file"
echo mine > taken
ex $B/rmd-relations --store s10 $D --dataset cifar10 --synthetic-purity 0.9 --k 5 --npy taken

say "11. only torchvision's cifar-10-batches-py/ in the data directory"
mkdir -p tv
python3 - data/cifar-10-batches-bin tv/cifar-10-batches-py <<'PY'
import os, pickle, sys
import numpy as np
src, dst = sys.argv[1:]; os.makedirs(dst)
def read(f):
    b = np.fromfile(f"{src}/{f}", np.uint8).reshape(-1, 3073); return b[:, 1:], b[:, 0].tolist()
for i in range(1, 6):
    x, y = read(f"data_batch_{i}.bin"); pickle.dump({"data": x, "labels": y}, open(f"{dst}/data_batch_{i}", "wb"))
x, y = read("test_batch.bin"); pickle.dump({"data": x, "labels": y}, open(f"{dst}/test_batch", "wb"))
names = open(f"{src}/batches.meta.txt").read().split()
pickle.dump({"label_names": names}, open(f"{dst}/batches.meta", "wb"))
PY
ex $B/rmd dataset cifar10 --store s11 --data-dir tv --no-download
echo "  (the binary copy's key: $($B/rmd dataset cifar10 --store s11b $D --quiet | tail -1 | cut -c1-12))"
