#!/usr/bin/env bash
# Replays the ways a store could lose or serve wrong data, and bad inputs that once crashed or
# were accepted, against the binaries in BIN_DIR, on a small CIFAR-10-layout dataset written
# into OUT_DIR (deleted first). Prints each command with the tail of its stderr/stdout and its
# exit code. Run it against two builds to compare them.
# Usage: bench/store-trust-cases.sh BIN_DIR OUT_DIR   (needs python3; case 6g: pip blake3)
S=$(cd "$(dirname "$0")" && pwd); B=$(cd "$1" && pwd); W=$2; rm -rf "$W"; mkdir -p "$W"; cd "$W"
python3 "$S/write_small_cifar10.py" data
D="--data-dir data --no-download"
say() { echo; echo "### $*"; }
ex() { echo "\$ $*"; "$@" > out.txt 2> err.txt; rc=$?; tail -c 600 err.txt | tail -n 4 | sed 's/^/  stderr: /'; tail -n 2 out.txt | sed 's/^/  stdout: /'; echo "  exit $rc"; }
flip() { python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[int(sys.argv[2])]^=1; open(p,'wb').write(b)" "$@"; }

say "1. gc on a directory that is not a store"
mkdir -p home/Documents/.partial-notes && echo "chapter 1" > home/Documents/.partial-notes/thesis.tex
ex $B/rmd store gc --store home
ls home/Documents/.partial-notes/thesis.tex 2>&1 | sed 's/^/  /'

say "2. one missing manifest.json"
ex $B/rmd-noise --store s2 $D --dataset cifar10 --noise sym --rate 0.4 --quiet
NK=$(tail -1 out.txt); DK=$(ls s2/dataset | grep -v '^\.')
rm s2/dataset/$DK/manifest.json
ex $B/rmd store gc --store s2
echo "  noise artifact still there: $(test -d s2/noise/$NK && echo yes || echo no); dataset files: $(ls s2/dataset/$DK 2>/dev/null | wc -l) in place, $(ls s2/.quarantine/dataset 2>/dev/null | wc -l) in quarantine"

say "3. a flipped byte in a cached file (dataset images, same size)"
ex $B/rmd-noise --store s3 $D --dataset cifar10 --noise sym --rate 0.4 --quiet
DK=$(ls s3/dataset | grep -v '^\.'); flip s3/dataset/$DK/train_images.u8 5000
ex $B/rmd-noise --store s3 $D --dataset ${DK:0:12} --noise sym --rate 0.6
ex $B/rmd dataset cifar10 --store s3 $D

say "4. a self-consistent bundle with another artifact's files"
A=$($B/rmd-noise --store s4 $D --dataset cifar10 --noise sym --rate 0.2 --quiet | tail -1)
Bk=$($B/rmd-noise --store s4 $D --dataset cifar10 --noise sym --rate 0.8 --quiet | tail -1)
$B/rmd store export --store s4 $Bk b.tar.gz 2>/dev/null
python3 - s4 $A $Bk b.tar.gz crafted.tar.gz <<'PY'
import sys, tarfile, io, json
store, a, b, src, dst = sys.argv[1:]
am = json.load(open(f"{store}/noise/{a}/manifest.json"))
with tarfile.open(src) as t, tarfile.open(dst, "w:gz") as o:
    for m in t.getmembers():
        data = t.extractfile(m).read()
        pre = f"noise/{b}/"
        if m.name.startswith(pre):
            name = m.name[len(pre):]
            if name == "manifest.json":
                j = json.loads(data); j["outputs"] = am["outputs"]; data = json.dumps(j, indent=2).encode()
            else:
                data = open(f"{store}/noise/{a}/{name}", "rb").read()
        info = tarfile.TarInfo(m.name); info.size = len(data); o.addfile(info, io.BytesIO(data))
PY
ex $B/rmd store import --store s4b crafted.tar.gz
if [ -d s4b/noise/$Bk ]; then echo "  served as $Bk: rate recorded $(grep -o '"rate": [0-9.]*' s4b/noise/$Bk/manifest.json), labels.parquet identical to the 0.2 artifact: $(cmp -s s4b/noise/$Bk/labels.parquet s4/noise/$A/labels.parquet && echo yes)"; fi

say "5a. IDX header whose dimensions overflow"
mkdir -p data/mnist; python3 - data/mnist <<'PY'
import sys, struct
d = sys.argv[1]
def put(n, dims, data): open(f"{d}/{n}", "wb").write(bytes([0,0,8,len(dims)]) + b"".join(struct.pack(">I", x) for x in dims) + data)
# 2^22 * 2^21 * 2^21 = 2^64: the product wraps to 0 bytes in unchecked 64-bit arithmetic.
put("train-images-idx3-ubyte", [1 << 22, 1 << 21, 1 << 21], b"")
put("train-labels-idx1-ubyte", [1 << 22], bytes(1 << 22))
put("t10k-images-idx3-ubyte", [1 << 22, 1 << 21, 1 << 21], b"")
put("t10k-labels-idx1-ubyte", [1 << 22], bytes(1 << 22))
PY
ex $B/rmd dataset mnist --store s5 $D
test -z "$(ls s5/dataset 2>/dev/null | grep -v '^\.')" || ex $B/rmd-pretrain --store s5 --dataset $(ls s5/dataset | grep -v '^\.' | head -1 | cut -c1-12) --profile smoke
say "5b. rmd-pretrain --batch-size 0"
ex $B/rmd-pretrain --store s5 $D --dataset cifar10 --profile smoke --batch-size 0

say "6a. a CIFAR batch file one record too long"
cp -r data data6; python3 -c "
p='data6/cifar-10-batches-bin/data_batch_5.bin'; b=open(p,'rb').read(); open(p,'wb').write(b+b[:3073])"
ex $B/rmd dataset cifar10 --store s6a --data-dir data6 --no-download
say "6b. two label-file columns with the same name"
python3 -c "
open('dup.csv','w').write('index,noisy,noisy\n' + ''.join(f'{i},{i%10},{(i+1)%10}\n' for i in range(300)))"
ex $B/rmd-noise --store s6 $D --dataset cifar10 --noise file --labels-file dup.csv --label-column noisy
say "6c. export to an existing path"
K=$($B/rmd-noise --store s6 $D --dataset cifar10 --noise sym --rate 0.3 --quiet | tail -1)
mkdir -p existing
ex $B/rmd store export --store s6 $K existing
ls -d existing.partial 2>/dev/null | sed 's/^/  left behind: /'
say "6d. non-UTF-8 class names; store path is a file"
cp -r data data6d; printf '\xff\xfe\n' > data6d/cifar-10-batches-bin/batches.meta.txt
ex $B/rmd dataset cifar10 --store s6d --data-dir data6d --no-download
echo x > afile
ex $B/rmd store list --store afile
say "6e. --rate=-0 vs --rate 0"
k0=$($B/rmd-noise --store s6 $D --dataset cifar10 --noise sym --rate 0 --quiet | tail -1)
k1=$($B/rmd-noise --store s6 $D --dataset cifar10 --noise sym --rate=-0 --quiet | tail -1)
echo "  keys: ${k0:0:12} ${k1:0:12}"
say "6f. --base-lr=-1; unsorted milestones"
ex $B/rmd-pretrain --store s6 $D --dataset cifar10 --profile smoke --base-lr=-1 --epochs 1
ex $B/rmd-distill --store s6 --noise $K --profile smoke --schedule multistep:8,4:0.1 --epochs 1
say "6g. corrupt encoder header (file and manifest hash rewritten consistently); bad --noise key"
E=$($B/rmd-pretrain --store s6 $D --dataset cifar10 --profile smoke --epochs 1 --quiet | tail -1)
python3 - s6/pretrain/$E <<'PY'
import sys, json, subprocess
d = sys.argv[1]; p = f"{d}/encoder.bpk"
b = bytearray(open(p, "rb").read()); b[12:20] = b"\xff" * 8; open(p, "wb").write(b)
m = json.load(open(f"{d}/manifest.json"))
import hashlib
try:
    import blake3; h = blake3.blake3(bytes(b)).hexdigest()
except ImportError:
    h = subprocess.run(["b3sum", "--no-names", p], capture_output=True, text=True).stdout.strip()
m["outputs"]["encoder.bpk"]["blake3"] = h; json.dump(m, open(f"{d}/manifest.json", "w"), indent=2)
PY
ex $B/rmd-relations --store s6 --encoder $E --k 5
E2=$($B/rmd-pretrain --store s6 $D --dataset cifar10 --profile smoke --epochs 2 --quiet | tail -1)
ex $B/rmd-relations --store s6 --encoder $E2 --k 5 --noise ffffffffffff
echo "  relations artifacts written: $(ls s6/relations 2>/dev/null | grep -v '^\.' | wc -l)"
