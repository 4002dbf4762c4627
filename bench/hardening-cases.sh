#!/usr/bin/env bash
# One example per hardening class (paths that escape, one standard of trust, flags that
# promise nothing, gc, bombs, ambiguous inputs, numerics, sizes, pipeline files, messages,
# torchvision's files; then the sharing round, cases 12-21: secrets, forged manifests, folder
# remotes with links, waits, dry runs, escaping pipeline files, names that are not text,
# formulas, the rest, CARGO_TARGET_DIR), run against the binaries in BIN_DIR on small data written into
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

# ---- The sharing round: one case per class of the hostile review of remotes and inputs ----

say "12. secrets: credentials in remote options, URLs and URL-valued options; the config's mode; AWS_ENDPOINT_URL in messages"
ex $B/rmd store remote add --store s12 tok s3://bucket/p --option aws_token=SECRET-TOKEN-1
ex $B/rmd store remote add --store s12 sas az://container/p --option sas_token=SECRET-SAS-2
ex $B/rmd store remote add --store s12 pw https://user:SECRET-PW-3@host.example/store
ex $B/rmd store remote add --store s12 signed "https://host.example/store?X-Amz-Signature=SECRET-SIG-4"
ex $B/rmd store remote add --store s12 ep s3://bucket/p --option endpoint=http://ak:SECRET-EP-5@127.0.0.1:9
ex $B/rmd store remote add --store s12 fine s3://bucket/p --option region=eu-west-1
ex $B/rmd store remote list --store s12
echo "  .remotes.toml mode: $(stat -c %a s12/.remotes.toml 2> /dev/null); secrets kept in it: $(grep -c SECRET s12/.remotes.toml 2> /dev/null || echo 0)"
AWS_ENDPOINT_URL=http://ak:SECRET-ENV-6@127.0.0.1:9 AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=y AWS_REGION=us-east-1 ex timeout 120 $B/rmd store status --store s12 --remote s3://bucket/p
echo "  secrets printed by the status call: $(grep -c SECRET err.txt)"

say "13. forged manifests: an input that is not a key, non-ASCII where an id is expected"
NK=$(noise s13)
python3 - s13/noise/$NK <<'PY'
import json, sys
d = sys.argv[1]; m = json.load(open(f"{d}/manifest.json"))
m["inputs"]["dataset"] = "é" * 40
json.dump(m, open(f"{d}/manifest.json", "w"), ensure_ascii=False)
PY
ex $B/rmd store verify --store s13
ex $B/rmd store show --store s13 ${NK:0:12}
ex $B/rmd store list --store s13
ex $B/rmd store gc --store s13 --plan

say "14. folder remotes: a push through a symlinked stage folder; a pull of a file that is a link to a host file"
NK=$(noise s14); mkdir -p r14 outside14; ln -s "$PWD/outside14" r14/noise
ex $B/rmd store push --store s14 --remote "file://$PWD/r14" $NK
echo "  files written outside the remote: $(find outside14 -type f | wc -l)"
rm r14/noise; $B/rmd store push --store s14 --remote "file://$PWD/r14" $NK > /dev/null 2>&1
mv r14/noise/$NK/labels.parquet host-labels.parquet; ln -s "$PWD/host-labels.parquet" r14/noise/$NK/labels.parquet
ex $B/rmd store pull --store s14b --remote "file://$PWD/r14" $NK
echo "  installed through the link: $(ls s14b/noise 2> /dev/null | grep -c "$NK")"

say "15. waits: a remote that accepts and never answers; one that answers a byte a second; a FIFO as --embeddings"
# 18911 accepts and never answers; 18912 sends a valid HTTP response one byte a second.
python3 -c "
import socket, time, threading
RESP = b'HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n' + b'x' * 100000
def serve(port, trickle):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', port)); s.listen(8); s.settimeout(1)
    held = []; end = time.time() + 400
    while time.time() < end:
        try:
            c = s.accept()[0]; c.settimeout(2); c.recv(65536); held.append([c, 0])
        except OSError: pass
        if trickle:
            for c in held:
                try: c[0].send(RESP[c[1]:c[1] + 1]); c[1] += 1
                except OSError: pass
for p, t in ((18911, False), (18912, True)): threading.Thread(target=serve, args=(p, t), daemon=True).start()
time.sleep(400)
" & srv=$!
sleep 1
K64=$(printf 'ab%.0s' $(seq 32))
for port in 18911 18912; do
    start=$(date +%s.%N); ex timeout 700 $B/rmd store pull --store s15 --remote http://127.0.0.1:$port/store $K64
    echo "  port $port: $(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')") s"
done
kill $srv 2> /dev/null
mkfifo emb.npy
start=$(date +%s.%N); ex timeout 60 $B/rmd-relations --store s15 $D --dataset cifar10 --embeddings emb.npy --k 5
echo "  took $(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')") s"

say "16. a dry run with a remote changes nothing; a remote never renames this store's dataset"
NK=$(noise s16a); DK=$(ls s16a/dataset | grep -v '^\.')
mkdir -p r16/dataset/.names; $B/rmd store push --store s16a --remote "file://$PWD/r16" $DK > /dev/null 2>&1
echo "{\"name\": \"cifar10\", \"key\": \"$DK\", \"source\": \"pushed\"}" > r16/dataset/.names/cifar10.json
mkdir -p nodata
ex $B/rmd reproduce cifar10-asym --store s16 --data-dir nodata --no-download --profile smoke --remote "file://$PWD/r16" --dry-run --pipelines-dir "$S/../pipelines"
echo "  the dry run wrote: $(find s16 -type f 2> /dev/null | grep -v rmdnet-store | wc -l) file(s)"

say "17. pipeline files that escape: a profile named ../../x; a data_file outside the data directory"
cat > esc.toml <<'TOML'
description = "escapes"
dataset = "cifar10"
[[noise]]
id = "f"
args = ["--noise", "file", "--label-column", "label"]
data_file = "../../../etc/hostname"
[[runs]]
name = "ce"
loss = "ce"
[profiles."../../x"]
stage_profile = "smoke"
TOML
ex $B/rmd reproduce esc.toml --store s17 $D --profile ../../x --dry-run

say "18. names that are not text: a class folder whose name is not UTF-8; a class name with control characters"
mkdir -p names18; cp -r imgs/cat names18/ 2> /dev/null || true
python3 - names18 <<'PY'
import os, shutil, sys
d = sys.argv[1].encode()
src = os.path.join(d, b"cat")
shutil.copytree(src, os.path.join(d, b"d\xffg"))
shutil.copytree(src, os.path.join(d, b"bird\x1b[31m"))
PY
ex $B/rmd dataset --store s18 --from image-folder names18 --name nontext --test-fraction 0.25
echo "  classes imported: $(ls s18/dataset 2> /dev/null | grep -vc '^\.')"

say "19. formulas: a class named =HYPERLINK(\"x\",\"y\") in an image folder"
mkdir -p f19; cp -r imgs/cat f19/; cp -r imgs/dog 'f19/=HYPERLINK("x","y")'
ex $B/rmd dataset --store s19 --from image-folder f19 --name formula --test-fraction 0.25

say "20. the rest: several left-out inputs; -q on push and pull; an absurd bench batch; a checkpoint that is a file; epochs.csv of one key twice"
NK=$(noise s20); CK=$($B/rmd-distill --store s20 --noise $NK --profile smoke --quiet 2> /dev/null | tail -1)
$B/rmd store export --store s20 $CK b20.tar.gz --without noise --without dataset > /dev/null 2>&1
ex $B/rmd store import --store s20b b20.tar.gz
ex $B/rmd store push --store s20 --remote "file://$PWD/r20" $NK -q
ex $B/rmd store pull --store s20c --remote "file://$PWD/r20" $NK -q
ex timeout 60 $B/rmd bench-step --batch 4000000000 --steps 1
$B/rmd-distill --store s20 --noise $NK --profile smoke --epochs 30 --seed 9 > /dev/null 2>&1 & pid=$!
for _ in $(seq 600); do ls s20/distill/.partial-*/checkpoint/state.json > /dev/null 2>&1 && break; sleep 0.05; done
sleep 0.3; kill -9 $pid; wait $pid 2> /dev/null
P=$(ls -d s20/distill/.partial-* | head -1); rm -rf "$P/checkpoint" "$P/checkpoint.new"; echo file > "$P/checkpoint"
ex $B/rmd-distill --store s20 --noise $NK --profile smoke --epochs 30 --seed 9 --resume
a=$(sha256sum s20/distill/$CK/epochs.csv | cut -c1-16)
$B/rmd-distill --store s20 --noise $NK --profile smoke --force --quiet > /dev/null 2>&1
echo "  epochs.csv of $CK, two runs: $a vs $(sha256sum s20/distill/$CK/epochs.csv | cut -c1-16)"

say "21. CARGO_TARGET_DIR: the binary just reproduce runs"
# JUST_DIR: the checkout whose justfile to ask (default: this script's).
echo "  $(cd "${JUST_DIR:-$S/..}" && CARGO_TARGET_DIR=/tmp/elsewhere just --dry-run reproduce cifar10-asym 2>&1 | grep 'rmd reproduce')"
