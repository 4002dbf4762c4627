//! End-to-end tests of `rmd-noise` and the store tooling through the binaries.

mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

fn noise(store: &Path, data: &Path, extra: &[&str]) -> std::process::Output {
    run(bin("rmd-noise")
        .args(["--store", store.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "--no-download"])
        .args(extra))
}

fn manifest(store: &Path, key: &str) -> serde_json::Value {
    let out = run(bin("rmd").args(["--store", store.to_str().unwrap(), "store", "show", key]));
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
#[ignore = "needs the real CIFAR-10 in RMD_DATA_DIR; `just test` runs it when the data is there"]
fn real_cifar10_asym_sym_and_cifar10n_worse() {
    let data = real_data_dir();
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");

    let out =
        noise(&store, &data, &["--dataset", "cifar10", "--noise", "asym", "--rate", "0.4", "--seed", "1"]);
    let key = ok_key(&out);
    let m = manifest(&store, &key);
    let actual = m["metrics"]["actual_rate"].as_f64().unwrap();
    let source = m["metrics"]["source_rate"].as_f64().unwrap();
    assert!((actual - 0.2).abs() < 0.01, "asym 0.4 actual rate {actual}");
    assert!((source - 0.4).abs() < 0.01, "asym 0.4 source-class rate {source}");
    assert_eq!(m["metrics"]["n_samples"], 50_000);

    let again =
        noise(&store, &data, &["--dataset", "cifar10", "--noise", "asym", "--rate", "0.4", "--seed", "1"]);
    assert_eq!(ok_key(&again), key, "rerun gives the same key");
    assert!(stderr(&again).contains("cache hit"), "{}", stderr(&again));

    let sym = ok_key(&noise(&store, &data, &["--dataset", "cifar10", "--noise", "sym", "--rate", "0.5"]));
    let rate = manifest(&store, &sym)["metrics"]["actual_rate"].as_f64().unwrap();
    assert!((rate - 0.5).abs() < 0.01, "sym 0.5 actual rate {rate}");

    let csv = data.join("cifar-10n/cifar10n_labels.csv");
    let worse = ok_key(&noise(
        &store,
        &data,
        &[
            "--dataset",
            "cifar10",
            "--noise",
            "file",
            "--labels-file",
            csv.to_str().unwrap(),
            "--label-column",
            "worse_label",
        ],
    ));
    let m = manifest(&store, &worse);
    let rate = m["metrics"]["actual_rate"].as_f64().unwrap();
    assert!((rate - 0.4021).abs() < 0.0005, "CIFAR-10N worse rate {rate}");
    assert_eq!(m["metrics"]["clean_label_mismatches"], 0, "CIFAR-10N is aligned with the training order");
    assert!(m["seeds"].as_object().unwrap().is_empty(), "file noise has no seed");

    let verify = run(bin("rmd").args(["--store", store.to_str().unwrap(), "store", "verify"]));
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

#[test]
fn verify_catches_a_flipped_byte_in_labels_parquet() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 20);
    let store = tmp.path().join("store");
    let key =
        ok_key(&noise(&store, tmp.path(), &["--dataset", "cifar10", "--noise", "pair", "--rate", "0.3"]));
    let labels = store.join("noise").join(&key).join("labels.parquet");
    let mut bytes = std::fs::read(&labels).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&labels, &bytes).unwrap();
    // `--store` is accepted after the verb too.
    let out = run(bin("rmd").args(["store", "verify", "--store", store.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("labels.parquet: content changed"), "{text}");
    // The tampered artifact (same size) is still served from cache by cheap lookups, but
    // a forced rerun repairs it.
    ok_key(&noise(
        &store,
        tmp.path(),
        &["--dataset", "cifar10", "--noise", "pair", "--rate", "0.3", "--force"],
    ));
    let out = run(bin("rmd").args(["--store", store.to_str().unwrap(), "store", "verify"]));
    assert!(out.status.success());
}

#[test]
fn killed_noise_stage_leaves_no_complete_artifact() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 20);
    let store = tmp.path().join("store");
    // Import the dataset first so the only pending artifact is the noise one.
    ok_key(&run(bin("rmd").args([
        "--store",
        store.to_str().unwrap(),
        "dataset",
        "cifar10",
        "--no-download",
        "--data-dir",
        tmp.path().to_str().unwrap(),
    ])));
    let mut child = bin("rmd-noise")
        .args(["--store", store.to_str().unwrap(), "--data-dir", tmp.path().to_str().unwrap()])
        .args(["--dataset", "cifar10", "--noise", "sym", "--rate", "0.2"])
        .env("RMD_STORE_STALL_BEFORE_COMMIT_MS", "60000")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let noise_dir = store.join("noise");
    let deadline = Instant::now() + Duration::from_secs(60);
    let partial = loop {
        let found = std::fs::read_dir(&noise_dir).ok().and_then(|it| {
            it.flatten().map(|e| e.path()).find(|p| {
                p.file_name().unwrap().to_string_lossy().starts_with(".partial-")
                    && p.join("transition.parquet").exists()
            })
        });
        if let Some(p) = found {
            break p;
        }
        assert!(Instant::now() < deadline, "the stage never wrote its outputs");
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().unwrap();
    child.wait().unwrap();

    // Outputs were written, but nothing looks complete.
    assert!(partial.join("labels.parquet").exists());
    assert!(!partial.join("manifest.json").exists());
    let complete: Vec<_> = std::fs::read_dir(&noise_dir)
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(complete.is_empty(), "a killed run left {complete:?}");
    let list =
        run(bin("rmd").args(["--store", store.to_str().unwrap(), "store", "list", "--stage", "noise"]));
    assert_eq!(String::from_utf8_lossy(&list.stdout).lines().count(), 1, "only the header");

    // The rerun produces the artifact; gc then has nothing of it to clean.
    let key =
        ok_key(&noise(&store, tmp.path(), &["--dataset", "cifar10", "--noise", "sym", "--rate", "0.2"]));
    assert!(noise_dir.join(&key).join("manifest.json").exists());
    assert!(!partial.exists(), "the rerun replaced the stale partial directory");
    let verify = run(bin("rmd").args(["--store", store.to_str().unwrap(), "store", "verify"]));
    assert!(verify.status.success());
}

#[test]
fn concurrent_runs_of_one_key_produce_one_valid_artifact() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 20);
    let store = tmp.path().join("store");
    ok_key(&run(bin("rmd").args([
        "--store",
        store.to_str().unwrap(),
        "dataset",
        "cifar10",
        "--no-download",
        "--data-dir",
        tmp.path().to_str().unwrap(),
    ])));
    let spawn = || {
        bin("rmd-noise")
            .args(["--store", store.to_str().unwrap(), "--data-dir", tmp.path().to_str().unwrap()])
            .args(["--dataset", "cifar10", "--noise", "asym", "--rate", "0.4"])
            .env("RMD_STORE_STALL_BEFORE_COMMIT_MS", "500")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(ok_key(&a), ok_key(&b));
    let hits = [&a, &b].iter().filter(|o| stderr(o).contains("cache hit")).count();
    assert_eq!(hits, 1, "one produced it, the other waited and found it");
    let verify = run(bin("rmd").args(["--store", store.to_str().unwrap(), "store", "verify"]));
    assert!(verify.status.success());
}

#[test]
fn bad_requests_exit_2_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 10);
    let store = tmp.path().join("store");

    let out = noise(
        &store,
        tmp.path(),
        &["--dataset", "cifar10", "--noise", "asym", "--asym-map", "block5", "--rate", "0.4"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("block5") && stderr(&out).contains("10 classes"), "{}", stderr(&out));

    let csv = tmp.path().join("short.csv");
    std::fs::write(&csv, "index,noisy\n0,1\n1,2\n").unwrap();
    let out = noise(
        &store,
        tmp.path(),
        &[
            "--dataset",
            "cifar10",
            "--noise",
            "file",
            "--labels-file",
            csv.to_str().unwrap(),
            "--label-column",
            "noisy",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("short.csv") && stderr(&out).contains("2 rows"), "{}", stderr(&out));

    let out = noise(&store, tmp.path(), &["--dataset", "imagenet", "--noise", "sym", "--rate", "0.1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown dataset 'imagenet'"), "{}", stderr(&out));

    let out = noise(&store, tmp.path(), &["--dataset", "cifar10", "--noise", "sym"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("needs --rate"), "{}", stderr(&out));

    // A truncated batch file names the file.
    let batch = tmp.path().join("cifar-10-batches-bin/data_batch_2.bin");
    let bytes = std::fs::read(&batch).unwrap();
    std::fs::write(&batch, &bytes[..bytes.len() - 100]).unwrap();
    let fresh = tmp.path().join("store2");
    let out = noise(&fresh, tmp.path(), &["--dataset", "cifar10", "--noise", "sym", "--rate", "0.1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("data_batch_2.bin") && stderr(&out).contains("truncated"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn offline_cifar100_names_the_files_and_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(bin("rmd").args([
        "--store",
        tmp.path().join("s").to_str().unwrap(),
        "dataset",
        "cifar100",
        "--data-dir",
        tmp.path().to_str().unwrap(),
        "--download-url",
        "http://127.0.0.1:9/",
    ]));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("cifar-100-binary.tar.gz") && err.contains("cifar-100-binary/"), "{err}");
    assert!(!tmp.path().join("s/dataset").read_dir().map(|mut d| d.next().is_some()).unwrap_or(false));
}

#[test]
fn same_seed_same_labels_and_export_import_is_a_cache_hit() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 50);
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let args = ["--dataset", "cifar10", "--noise", "sym-incl", "--rate", "0.6", "--seed", "7"];
    let ka = ok_key(&noise(&a, tmp.path(), &args));
    let kb = ok_key(&noise(&b, tmp.path(), &args));
    assert_eq!(ka, kb);
    let la = std::fs::read(a.join("noise").join(&ka).join("labels.parquet")).unwrap();
    let lb = std::fs::read(b.join("noise").join(&kb).join("labels.parquet")).unwrap();
    assert_eq!(la, lb, "same seed and inputs give byte-identical labels");
    let other = ok_key(&noise(
        &a,
        tmp.path(),
        &["--dataset", "cifar10", "--noise", "sym-incl", "--rate", "0.6", "--seed", "8"],
    ));
    assert_ne!(other, ka);

    let bundle = tmp.path().join("noise.tar.gz");
    let out = run(bin("rmd").args([
        "--store",
        a.to_str().unwrap(),
        "store",
        "export",
        &ka[..10],
        bundle.to_str().unwrap(),
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let c = tmp.path().join("c");
    let out =
        run(bin("rmd").args(["--store", c.to_str().unwrap(), "store", "import", bundle.to_str().unwrap()]));
    assert_eq!(ok_key(&out), ka);
    // The dataset came along: the stage finds everything cached in the new store.
    let dataset_key = manifest(&c, &ka)["inputs"]["dataset"].as_str().unwrap().to_string();
    let out = noise(
        &c,
        Path::new("/nonexistent"),
        &["--dataset", &dataset_key[..12], "--noise", "sym-incl", "--rate", "0.6", "--seed", "7"],
    );
    assert_eq!(ok_key(&out), ka);
    assert!(stderr(&out).contains("cache hit"));
}
