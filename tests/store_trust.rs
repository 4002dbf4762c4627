//! The store serves only what it wrote: it refuses directories that are not stores, never
//! deletes what it cannot prove is its own, does not serve changed files, and does not
//! import one artifact's files under another's key. Each test reproduces one way this
//! went wrong before.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn manifest(store: &Path, key: &str) -> serde_json::Value {
    let out = rmd(store, &["store", "show", key]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn artifact_dir(store: &Path, stage: &str, key: &str) -> PathBuf {
    store.join(stage).join(key)
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = at.min(bytes.len() - 1);
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

/// Complete artifacts (key directories) of one stage.
fn artifacts(store: &Path, stage: &str) -> usize {
    std::fs::read_dir(store.join(stage))
        .map(|rd| rd.filter_map(|e| e.ok()).filter(|e| e.file_name().len() == 64).count())
        .unwrap_or(0)
}

fn dataset_key(store: &Path, noise_key: &str) -> String {
    manifest(store, noise_key)["inputs"]["dataset"].as_str().unwrap().to_string()
}

#[test]
fn a_directory_that_is_not_a_store_is_refused_by_every_verb() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let thesis = home.join("Documents/.partial-notes/thesis.tex");
    std::fs::create_dir_all(thesis.parent().unwrap()).unwrap();
    std::fs::write(&thesis, b"chapter 1").unwrap();
    let hexdir = home.join("backup").join("a".repeat(64));
    std::fs::create_dir_all(&hexdir).unwrap();
    std::fs::write(hexdir.join("photo.jpg"), b"jpeg").unwrap();

    code2(&rmd(&home, &["store", "gc"]), &["is not an rmdnet store", "Documents"]);
    code2(&rmd(&home, &["store", "list"]), &["is not an rmdnet store"]);
    write_small_cifar10(tmp.path(), 4);
    code2(&noise(&home, tmp.path(), &["--noise", "sym", "--rate", "0.2"]), &["is not an rmdnet store"]);
    assert_eq!(std::fs::read(&thesis).unwrap(), b"chapter 1");
    assert!(hexdir.join("photo.jpg").is_file());
    assert!(!home.join(".rmdnet-store").exists());

    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    code2(&rmd(&file, &["store", "list"]), &["is a file"]);
}

#[test]
fn gc_quarantines_an_artifact_without_manifest_and_keeps_what_depends_on_it() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 4);
    let store = tmp.path().join("store");
    let key = ok_key(&noise(&store, tmp.path(), &["--noise", "sym", "--rate", "0.2"]));
    let ds = dataset_key(&store, &key);
    std::fs::remove_file(artifact_dir(&store, "dataset", &ds).join("manifest.json")).unwrap();

    let out = rmd(&store, &["store", "gc"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("quarantined") && text.contains(&ds), "{text}");
    assert!(!artifact_dir(&store, "dataset", &ds).exists());
    let q: Vec<_> = std::fs::read_dir(store.join(".quarantine/dataset")).unwrap().collect();
    assert_eq!(q.len(), 1, "the dataset's files are kept in the quarantine");
    assert!(artifact_dir(&store, "noise", &key).join("labels.parquet").is_file(), "downstream kept");
    // The next gc warns about the missing input and still deletes nothing.
    let out = rmd(&store, &["store", "gc"]);
    assert!(out.status.success());
    assert!(stderr(&out).contains("is not in the store (kept)"), "{}", stderr(&out));
    assert!(artifact_dir(&store, "noise", &key).is_dir());
}

#[test]
fn a_changed_file_is_never_served_and_a_rerun_replaces_it() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 4);
    let store = tmp.path().join("store");
    let args = ["--noise", "sym", "--rate", "0.4", "--seed", "2"];
    let key = ok_key(&noise(&store, tmp.path(), &args));
    let ds = dataset_key(&store, &key);

    // One flipped byte in the dataset's images (same size): consumers refuse it by key...
    let images = artifact_dir(&store, "dataset", &ds).join("train_images.u8");
    flip_byte(&images, 1000);
    let by_key =
        run(bin("rmd-noise").args(["--store", store.to_str().unwrap(), "--dataset", &ds[..12]]).args(args));
    code2(&by_key, &["is damaged", "train_images.u8: content changed"]);
    // The message points at `rmd store verify KEY`, which lists the problem (exit 1).
    let listed = rmd(&store, &["store", "verify", &ds[..12]]);
    assert_eq!(listed.status.code(), Some(1), "{}", stderr(&listed));
    assert!(String::from_utf8_lossy(&listed.stdout).contains("FAILED dataset/"));
    // ...and by name the import notices and replaces it, instead of saying "cached".
    let again = run(bin("rmd").args(["--store", store.to_str().unwrap(), "dataset", "cifar10"]).args([
        "--data-dir",
        tmp.path().to_str().unwrap(),
        "--no-download",
    ]));
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stderr(&again).contains("damaged"), "{}", stderr(&again));
    assert_eq!(last_line(&again), ds, "same content, same key");
    assert!(rmd(&store, &["store", "verify"]).status.success());

    // A same-size edit of a noise artifact's labels: its consumers refuse it...
    let labels = artifact_dir(&store, "noise", &key).join("labels.parquet");
    flip_byte(&labels, 200);
    let distill = run(bin("rmd-distill").args([
        "--store",
        store.to_str().unwrap(),
        "--noise",
        &key,
        "--profile",
        "smoke",
    ]));
    code2(&distill, &["is damaged", "labels.parquet"]);
    assert_eq!(artifacts(&store, "distill"), 0);
    // ...and producing it again replaces it with the same bytes as the first time.
    let rerun = noise(&store, tmp.path(), &args);
    assert_eq!(ok_key(&rerun), key);
    assert!(stderr(&rerun).contains("damaged"), "{}", stderr(&rerun));
    let out = rmd(&store, &["store", "verify"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn a_self_consistent_bundle_with_another_artifact_s_files_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 4);
    let store = tmp.path().join("store");
    let a = ok_key(&noise(&store, tmp.path(), &["--noise", "sym", "--rate", "0.2"]));
    let b = ok_key(&noise(&store, tmp.path(), &["--noise", "sym", "--rate", "0.8"]));
    let bundle = tmp.path().join("b.tar.gz");
    assert!(rmd(&store, &["store", "export", &b, bundle.to_str().unwrap()]).status.success());

    // B's manifest (params, key) with A's files, their hashes written into the manifest.
    let a_dir = artifact_dir(&store, "noise", &a);
    let a_manifest = manifest(&store, &a);
    let crafted = tmp.path().join("crafted.tar.gz");
    rewrite_bundle(&bundle, &crafted, |path, data| {
        if let Some(name) = path.strip_prefix(&format!("noise/{b}/")) {
            if name == "manifest.json" {
                let mut m: serde_json::Value = serde_json::from_slice(data).unwrap();
                m["outputs"] = a_manifest["outputs"].clone();
                *data = serde_json::to_vec_pretty(&m).unwrap();
            } else {
                *data = std::fs::read(a_dir.join(name)).unwrap();
            }
        }
        true
    });
    let fresh = tmp.path().join("fresh");
    let out = rmd(&fresh, &["store", "import", crafted.to_str().unwrap()]);
    code2(&out, &["labels.parquet", "belongs to another artifact"]);
    assert_eq!(artifacts(&fresh, "noise") + artifacts(&fresh, "dataset"), 0, "nothing installed");
    // The honest bundle imports.
    assert!(rmd(&fresh, &["store", "import", bundle.to_str().unwrap()]).status.success());
    // A bundle whose artifact needs an input it does not carry is refused too.
    let partial = tmp.path().join("no-dataset.tar.gz");
    let ds = dataset_key(&store, &b);
    rewrite_bundle(&bundle, &partial, |path, data| {
        if path == "rmdnet-bundle.json" {
            let mut idx: serde_json::Value = serde_json::from_slice(data).unwrap();
            idx["artifacts"] = serde_json::json!([format!("noise/{b}")]);
            *data = serde_json::to_vec(&idx).unwrap();
        }
        !path.starts_with(&format!("dataset/{ds}/"))
    });
    let other = tmp.path().join("other");
    code2(
        &rmd(&other, &["store", "import", partial.to_str().unwrap()]),
        &["neither in the bundle nor in this store"],
    );
}

#[test]
fn crafted_headers_and_impossible_settings_are_input_errors() {
    let tmp = tempfile::tempdir().unwrap();
    // IDX dimensions whose product overflows 64 bits (it wrapped to 0 bytes before).
    let mnist = tmp.path().join("mnist");
    write_small_idx(&mnist, 4, 2);
    let mut header = vec![0u8, 0, 8, 3];
    for _ in 0..3 {
        header.extend(u32::MAX.to_be_bytes());
    }
    std::fs::write(mnist.join("train-images-idx3-ubyte"), header).unwrap();
    let store = tmp.path().join("store");
    let out = run(bin("rmd").args(["--store", store.to_str().unwrap(), "dataset", "mnist"]).args([
        "--data-dir",
        tmp.path().to_str().unwrap(),
        "--no-download",
    ]));
    code2(&out, &["train-images-idx3-ubyte", "overflows"]);
    assert_eq!(artifacts(&store, "dataset"), 0, "nothing imported");

    write_small_cifar10(tmp.path(), 4);
    let pretrain = |extra: &[&str]| {
        run(bin("rmd-pretrain")
            .args(["--store", store.to_str().unwrap(), "--data-dir", tmp.path().to_str().unwrap()])
            .args(["--no-download", "--dataset", "cifar10", "--profile", "smoke"])
            .args(extra))
    };
    code2(&pretrain(&["--batch-size", "0"]), &["batch size 0"]);
    code2(&pretrain(&["--base-lr=-1"]), &["learning rate -1"]);
    code2(&pretrain(&["--epochs", "0"]), &["epochs"]);
    // Nothing was started: no partial directory is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(store.join("pretrain"))
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(leftovers.iter().all(|n| !n.to_string_lossy().starts_with(".partial-")), "{leftovers:?}");

    let key = ok_key(&noise(&store, tmp.path(), &["--noise", "sym", "--rate", "0.2"]));
    let distill = |extra: &[&str]| {
        run(bin("rmd-distill")
            .args(["--store", store.to_str().unwrap(), "--noise", &key, "--profile", "smoke"])
            .args(extra))
    };
    code2(&distill(&["--schedule", "multistep:8,4:0.1"]), &["increasing order"]);
    code2(&distill(&["--lr=-0.1"]), &["learning rate -0.1"]);
}

#[test]
fn smaller_input_problems() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");

    // A CIFAR batch file one record too long.
    let bad = tmp.path().join("bad");
    let dir = write_small_cifar10(&bad, 4);
    let mut bytes = std::fs::read(dir.join("data_batch_5.bin")).unwrap();
    let record = bytes[..3073].to_vec();
    bytes.extend(record);
    std::fs::write(dir.join("data_batch_5.bin"), bytes).unwrap();
    code2(&noise(&store, &bad, &["--noise", "sym", "--rate", "0.2"]), &["data_batch_5.bin", "5 images"]);

    // Non-UTF-8 class names.
    std::fs::write(dir.join("batches.meta.txt"), b"\xff\xfe\n").unwrap();
    code2(&noise(&store, &bad, &["--noise", "sym", "--rate", "0.2"]), &["batches.meta.txt"]);

    write_small_cifar10(tmp.path(), 4);
    // -0 and 0 are one parameter value: one key.
    let zero = ok_key(&noise(&store, tmp.path(), &["--noise", "sym", "--rate", "0"]));
    let neg = ok_key(&noise(&store, tmp.path(), &["--noise", "sym", "--rate=-0"]));
    assert_eq!(zero, neg);

    // Two label-file columns with the same name.
    let labels = tmp.path().join("labels.csv");
    let mut text = String::from("index,noisy,noisy\n");
    for i in 0..20 {
        text.push_str(&format!("{i},{},{}\n", i % 10, (i + 1) % 10));
    }
    std::fs::write(&labels, text).unwrap();
    let out = noise(
        &store,
        tmp.path(),
        &["--noise", "file", "--labels-file", labels.to_str().unwrap(), "--label-column", "noisy"],
    );
    code2(&out, &["labels.csv", "column 'noisy' appears twice"]);

    // Export onto an existing path: refused, and no `.partial` file is left.
    let target = tmp.path().join("exists");
    std::fs::create_dir_all(&target).unwrap();
    code2(&rmd(&store, &["store", "export", &zero[..12], target.to_str().unwrap()]), &["already exists"]);
    assert!(!tmp.path().join("exists.partial").exists());
}

/// `--json` prints the manifest instead of the key; `--quiet` silences stderr.
#[test]
fn json_and_quiet_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 4);
    let store = tmp.path().join("store");
    let key = ok_key(&noise(&store, tmp.path(), &["--noise", "pair", "--rate", "0.3"]));
    let json = noise(&store, tmp.path(), &["--noise", "pair", "--rate", "0.3", "--json"]);
    assert!(json.status.success());
    let m: serde_json::Value = serde_json::from_slice(&json.stdout).expect("stdout is one JSON document");
    assert_eq!(m["key"], key.as_str());
    assert_eq!(m["stage"], "noise");
    let quiet = noise(&store, tmp.path(), &["--noise", "pair", "--rate", "0.3", "--quiet"]);
    assert_eq!(ok_key(&quiet), key);
    assert!(quiet.stderr.is_empty(), "{}", stderr(&quiet));
    let loud = noise(&store, tmp.path(), &["--noise", "pair", "--rate", "0.3"]);
    assert!(stderr(&loud).contains("cache hit"), "without --quiet the outcome is said");
}
