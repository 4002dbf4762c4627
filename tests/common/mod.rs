//! Helpers shared by the integration tests: running the binaries, synthetic datasets in
//! the official layouts, and the location of the real data.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// CIFAR-10 class names in the official order.
pub const CIFAR10_NAMES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// A command for one of this package's binaries with a clean environment for rmdnet.
pub fn bin(name: &str) -> Command {
    let path = match name {
        "rmd" => env!("CARGO_BIN_EXE_rmd"),
        "rmd-noise" => env!("CARGO_BIN_EXE_rmd-noise"),
        "rmd-pretrain" => env!("CARGO_BIN_EXE_rmd-pretrain"),
        "rmd-relations" => env!("CARGO_BIN_EXE_rmd-relations"),
        "rmd-distill" => env!("CARGO_BIN_EXE_rmd-distill"),
        other => panic!("unknown binary {other}"),
    };
    let mut c = Command::new(path);
    for v in ["RMD_STORE", "RMD_DOWNLOAD_URL", "RMD_STORE_STALL_BEFORE_COMMIT_MS"] {
        c.env_remove(v);
    }
    c
}

/// Runs a command and returns its output.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("binary runs")
}

/// stdout's last line (the artifact key).
pub fn last_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or("").trim().to_string()
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success and returns the key printed last.
pub fn ok_key(out: &Output) -> String {
    assert!(out.status.success(), "failed ({:?}): {}", out.status.code(), stderr(out));
    let key = last_line(out);
    assert_eq!(key.len(), 64, "last stdout line is not a key: {key:?}");
    key
}

/// The real data directory (`RMD_DATA_DIR`, ../shared/data in CI). Tests that need it are
/// `#[ignore = "needs the real CIFAR-10 ..."]`, so a run without the data reports them as
/// ignored; `just test` includes them when the data is there, and then its absence here is
/// a failure, never a silent pass.
pub fn real_data_dir() -> PathBuf {
    let d = PathBuf::from(
        std::env::var_os("RMD_DATA_DIR").expect("RMD_DATA_DIR must point at the real data for this test"),
    );
    assert!(
        d.join("cifar-10-batches-bin/data_batch_1.bin").is_file(),
        "RMD_DATA_DIR={} has no cifar-10-batches-bin/",
        d.display()
    );
    d
}

/// Writes a small CIFAR-10 in the official binary layout: `per_file` records in each of
/// the five training files and in the test file, labels cycling through the classes.
pub fn write_small_cifar10(root: &Path, per_file: usize) -> PathBuf {
    write_cifar10_with(root, per_file, |n, _class, p| ((p * 7 + n * 13) % 256) as u8)
}

/// Writes a CIFAR-10 in the official binary layout whose pixel `p` (0..3072, channel-major)
/// of record `n` (counted over all six files) with label `class` is `pixel(n, class, p)`.
pub fn write_cifar10_with(
    root: &Path,
    per_file: usize,
    pixel: impl Fn(usize, usize, usize) -> u8,
) -> PathBuf {
    let dir = root.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("batches.meta.txt"), CIFAR10_NAMES.join("\n") + "\n").unwrap();
    let files = [
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin",
        "test_batch.bin",
    ];
    for (f_idx, f) in files.iter().enumerate() {
        let mut bytes = Vec::new();
        for i in 0..per_file {
            let n = f_idx * per_file + i;
            bytes.push((n % 10) as u8);
            bytes.extend((0..3072).map(|p| pixel(n, n % 10, p)));
        }
        std::fs::write(dir.join(f), bytes).unwrap();
    }
    dir
}

/// Writes MNIST-family IDX files with `n_train` training and `n_test` test images.
pub fn write_small_idx(dir: &Path, n_train: usize, n_test: usize) {
    write_idx_files(dir, n_train, n_test, false)
}

/// Writes MNIST-family IDX files, gzip-compressed (`.gz`) when `gz`.
pub fn write_idx_files(dir: &Path, n_train: usize, n_test: usize, gz: bool) {
    use std::io::Write;
    std::fs::create_dir_all(dir).unwrap();
    let put = |name: &str, dims: &[u32], data: &[u8]| {
        let mut bytes = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            bytes.extend(d.to_be_bytes());
        }
        bytes.extend_from_slice(data);
        if gz {
            let f = std::fs::File::create(dir.join(format!("{name}.gz"))).unwrap();
            let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
            e.write_all(&bytes).unwrap();
            e.finish().unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    };
    let img = |n: usize| (0..n * 784).map(|i| ((i * 31 + i / 784 * 7) % 256) as u8).collect::<Vec<u8>>();
    let lab = |n: usize| (0..n).map(|i| (i % 10) as u8).collect::<Vec<u8>>();
    put("train-images-idx3-ubyte", &[n_train as u32, 28, 28], &img(n_train));
    put("train-labels-idx1-ubyte", &[n_train as u32], &lab(n_train));
    put("t10k-images-idx3-ubyte", &[n_test as u32, 28, 28], &img(n_test));
    put("t10k-labels-idx1-ubyte", &[n_test as u32], &lab(n_test));
}

/// Epochs that a training stage's checkpoint state file (`checkpoint/state.json` inside a
/// partial directory) records as done; 0 while it is missing or being replaced.
pub fn checkpoint_epochs_done(state: &Path) -> u64 {
    std::fs::read_to_string(state)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["epochs_done"].as_u64())
        .unwrap_or(0)
}

/// Waits (at most 120 s) until one of the state files `candidates` lists records at least
/// `epochs` completed epochs, and returns it; fails if `child` ends first or time runs out.
pub fn wait_for_checkpoint(
    child: &mut std::process::Child,
    epochs: u64,
    candidates: impl Fn() -> Vec<PathBuf>,
) -> PathBuf {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        if let Some(state) = candidates().into_iter().find(|s| checkpoint_epochs_done(s) >= epochs) {
            return state;
        }
        assert!(std::time::Instant::now() < deadline, "no checkpoint appeared");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be interrupted");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Rewrites a bundle: `edit` gets every entry (path, bytes), may change the bytes, and
/// returns false to leave the entry out.
pub fn rewrite_bundle(src: &Path, dst: &Path, mut edit: impl FnMut(&str, &mut Vec<u8>) -> bool) {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(src).unwrap()));
    let out = std::fs::File::create(dst).unwrap();
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(out, flate2::Compression::fast()));
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if !edit(&path, &mut data) {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, &path, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap();
}

/// `rmd --store STORE ARGS...`.
pub fn rmd(store: &Path, args: &[&str]) -> Output {
    run(bin("rmd").args(["--store", store.to_str().unwrap()]).args(args))
}

/// `rmd-noise` on the CIFAR-10 layout under `data` (no download), with `args`.
pub fn noise(store: &Path, data: &Path, args: &[&str]) -> Output {
    run(bin("rmd-noise")
        .args(["--store", store.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "--no-download"])
        .args(["--dataset", "cifar10"])
        .args(args))
}

/// `rmd-distill` with the smoke profile: RGRL (the default loss) on `noise` with `relations`.
pub fn distill_smoke(store: &Path, noise: &str, relations: &str) -> Output {
    run(bin("rmd-distill").args(["--store", store.to_str().unwrap(), "--noise", noise]).args([
        "--relations",
        relations,
        "--profile",
        "smoke",
    ]))
}

/// Asserts an input error (exit 2, no panic) whose message holds every `expect`; returns it.
pub fn code2(out: &Output, expect: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for e in expect {
        assert!(err.contains(e), "missing {e:?} in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// `rmd reproduce ARGS` on `store` with the data directory (no downloads), the report
/// directory and the source tree's pipelines.
pub fn reproduce_cmd(store: &Path, data: &Path, out: &Path, args: &[&str]) -> Command {
    let mut c = bin("rmd");
    c.args(["--store", store.to_str().unwrap(), "reproduce"]).args(args);
    c.args(["--data-dir", data.to_str().unwrap(), "--no-download", "--out", out.to_str().unwrap()]);
    c.args(["--pipelines-dir", concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines")]);
    c
}
