//! End-to-end tests of `rmd-pretrain` (the RM stage) with the smoke profile.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Stdio;

fn pretrain(store: &Path, data: &Path, extra: &[&str]) -> std::process::Command {
    let mut c = bin("rmd-pretrain");
    c.args(["--store", store.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "--no-download"]);
    c.args(["--dataset", "cifar10", "--profile", "smoke"]).args(extra);
    c
}

fn artifact_dir(store: &Path, key: &str) -> PathBuf {
    store.join("pretrain").join(key)
}

/// The loss column of epochs.csv.
fn losses(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("epochs.csv")).unwrap();
    text.lines().skip(1).map(|l| l.split(',').nth(1).unwrap().to_string()).collect()
}

#[test]
fn smoke_run_is_cached_and_rejects_missing_backends() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 60);
    let store = tmp.path().join("store");
    let first = run(&mut pretrain(&store, tmp.path(), &[]));
    let key = ok_key(&first);
    let dir = artifact_dir(&store, &key);
    for f in ["encoder.bpk", "simsiam.bpk", "model.json", "epochs.csv", "manifest.json"] {
        assert!(dir.join(f).is_file(), "missing {f}");
    }
    assert!(!dir.join("checkpoint").exists(), "checkpoints are not part of the artifact");
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("model.json")).unwrap()).unwrap();
    assert_eq!(info["image_shape"], serde_json::json!([3, 32, 32]));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert!(manifest["metrics"]["final_knn_acc"].as_f64().is_some());
    assert_eq!(manifest["backend"], "flex");

    let again = run(&mut pretrain(&store, tmp.path(), &[]));
    assert_eq!(ok_key(&again), key);
    assert!(stderr(&again).contains("cache hit"), "{}", stderr(&again));

    if !cfg!(feature = "cuda") {
        let out = run(&mut pretrain(&store, tmp.path(), &["--backend", "cuda"]));
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("no cuda backend"), "{}", stderr(&out));
    }
}

#[test]
fn killed_run_resumes_to_the_same_encoder_as_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 60);
    let args = ["--epochs", "8", "--seed", "3"];

    // Uninterrupted reference.
    let a = tmp.path().join("a");
    let key = ok_key(&run(&mut pretrain(&a, tmp.path(), &args)));

    // Interrupted after the second epoch's checkpoint, then resumed.
    let b = tmp.path().join("b");
    let mut child =
        pretrain(&b, tmp.path(), &args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let state = b.join("pretrain").join(format!(".partial-{key}")).join("checkpoint").join("state.json");
    wait_for_checkpoint(&mut child, 2, || vec![state.clone()]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!artifact_dir(&b, &key).exists(), "a killed run must not leave a complete artifact");

    // Without --resume the checkpoint is discarded (with a note); here we resume instead.
    let resumed = run(&mut pretrain(&b, tmp.path(), &[&args[..], &["--resume"]].concat()));
    assert_eq!(ok_key(&resumed), key);
    assert!(stderr(&resumed).contains("resuming after epoch"), "{}", stderr(&resumed));

    let (da, db) = (artifact_dir(&a, &key), artifact_dir(&b, &key));
    assert_eq!(losses(&da), losses(&db), "same seed, same loss curve, across the interruption");
    assert_eq!(
        std::fs::read(da.join("encoder.bpk")).unwrap(),
        std::fs::read(db.join("encoder.bpk")).unwrap(),
        "the resumed run ends with the same encoder weights"
    );
    assert!(
        std::fs::read(da.join("simsiam.bpk")).unwrap() == std::fs::read(db.join("simsiam.bpk")).unwrap(),
        "the resumed run ends with the same full model (heads and their batch-norm statistics)"
    );

    // A different seed gives a different curve.
    let c = tmp.path().join("c");
    let other = ok_key(&run(&mut pretrain(&c, tmp.path(), &["--epochs", "8", "--seed", "4"])));
    assert_ne!(losses(&artifact_dir(&c, &other)), losses(&da));
}

#[test]
fn single_channel_28x28_images_train() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_idx(&tmp.path().join("fashion-mnist"), 300, 100);
    let store = tmp.path().join("store");
    let mut c = bin("rmd-pretrain");
    c.args(["--store", store.to_str().unwrap(), "--data-dir", tmp.path().to_str().unwrap()]);
    c.args(["--dataset", "fashion-mnist", "--profile", "smoke"]);
    let key = ok_key(&run(&mut c));
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(artifact_dir(&store, &key).join("model.json")).unwrap())
            .unwrap();
    assert_eq!(info["image_shape"], serde_json::json!([1, 28, 28]));
    assert_eq!(info["model"]["encoder"]["in_channels"], 1);
}

#[test]
fn simclr_is_its_own_artifact_deterministic_and_compared_by_rm_curves() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 60);
    let store = tmp.path().join("store");
    let simsiam = ok_key(&run(&mut pretrain(&store, tmp.path(), &["--epochs", "2"])));
    let args = ["--epochs", "2", "--method", "simclr", "--temperature", "0.2"];
    let simclr = ok_key(&run(&mut pretrain(&store, tmp.path(), &args)));
    assert_ne!(simclr, simsiam, "the method is part of the key");
    let dir = artifact_dir(&store, &simclr);
    assert!(dir.join("simclr.bpk").is_file() && !dir.join("simsiam.bpk").exists());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["params"]["method"], serde_json::json!({"simclr": {"temperature": 0.2}}));
    assert_eq!(manifest["metrics"]["method"], "simclr");
    let first_losses = losses(&dir);
    // NT-Xent of a batch of 64 starts near ln(127) ≈ 4.84, far above SimSiam's [-1, 1].
    assert!(first_losses.iter().all(|l| l.parse::<f64>().unwrap() > 1.0), "{first_losses:?}");

    // The same flags again, recomputed: the same bytes.
    let encoder = std::fs::read(dir.join("encoder.bpk")).unwrap();
    let again = ok_key(&run(&mut pretrain(&store, tmp.path(), &[&args[..], &["--force"]].concat())));
    assert_eq!(again, simclr);
    assert_eq!(std::fs::read(dir.join("encoder.bpk")).unwrap(), encoder);
    assert_eq!(losses(&dir), first_losses);

    // Another temperature is another artifact; a temperature without SimCLR is a usage error.
    let other = ok_key(&run(&mut pretrain(&store, tmp.path(), &["--epochs", "2", "--method", "simclr"])));
    assert_ne!(other, simclr);
    let bad = run(&mut pretrain(&store, tmp.path(), &["--temperature", "0.2"]));
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--method simclr"), "{}", stderr(&bad));
    let bad = run(&mut pretrain(&store, tmp.path(), &["--method", "simclr", "--temperature", "0"]));
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("temperature"), "{}", stderr(&bad));

    // rm-curves: both curves in the table, the CSV and the plots.
    let out = tmp.path().join("curves");
    let mut c = bin("rmd");
    c.args(["--store", store.to_str().unwrap(), "rm-curves", "--out", out.to_str().unwrap()]);
    c.args([format!("{}=siam", &simsiam[..10]), format!("{}=clr", &simclr[..10])]);
    let res = run(&mut c);
    assert!(res.status.success(), "{}", stderr(&res));
    let table = String::from_utf8_lossy(&res.stdout).to_string();
    assert!(table.contains("| siam | simsiam |") && table.contains("| clr | simclr |"), "{table}");
    let csv = std::fs::read_to_string(out.join("rm-curves.csv")).unwrap();
    assert_eq!(csv.lines().filter(|l| l.starts_with("clr,")).count(), 2, "{csv}");
    for f in ["rm-curves.md", "rm-curves.png", "rm-curves.svg"] {
        assert!(std::fs::metadata(out.join(f)).unwrap().len() > 100, "{f}");
    }
    let mut c = bin("rmd");
    c.args(["--store", store.to_str().unwrap(), "rm-curves", "ffff0000", "--out", out.to_str().unwrap()]);
    let res = run(&mut c);
    assert_eq!(res.status.code(), Some(2), "{}", stderr(&res));
    assert!(stderr(&res).contains("ffff0000"), "{}", stderr(&res));
}
