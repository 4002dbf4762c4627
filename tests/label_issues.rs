//! End-to-end tests of `rmd label-issues` and `rmd predict` on a small CIFAR-10-layout
//! dataset: a perfect synthetic teacher must find the flipped labels, the outputs must be
//! complete and cached, bad requests must be input errors, and predictions must reproduce
//! the classifier's own test accuracy.

mod common;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, UInt16Type, UInt32Type};
use common::*;
use rmd_data::parquet_io::read_parquet;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Setup {
    store: PathBuf,
    data: PathBuf,
    noise: String,
    relations: String,
}

fn cmd(name: &str, s: &Setup) -> Command {
    let mut c = bin(name);
    c.args(["--store", s.store.to_str().unwrap()]);
    c
}

fn with_data(c: &mut Command, s: &Setup) {
    c.args(["--data-dir", s.data.to_str().unwrap(), "--no-download"]);
}

/// 300 training images, sym 0.4 noise and a synthetic teacher of purity 1.0 (every
/// neighbour of the sample's clean class).
fn setup(tmp: &Path) -> Setup {
    write_small_cifar10(tmp, 60);
    let mut s = Setup {
        store: tmp.join("store"),
        data: tmp.to_path_buf(),
        noise: String::new(),
        relations: String::new(),
    };
    let mut noise = cmd("rmd-noise", &s);
    with_data(&mut noise, &s);
    s.noise =
        ok_key(&run(noise.args(["--dataset", "cifar10", "--noise", "sym", "--rate", "0.4", "--seed", "1"])));
    let mut rel = cmd("rmd-relations", &s);
    with_data(&mut rel, &s);
    s.relations = ok_key(&run(rel.args([
        "--dataset",
        "cifar10",
        "--synthetic-purity",
        "1.0",
        "--k",
        "10",
        "--seed",
        "1",
    ])));
    s
}

fn label_issues(s: &Setup, extra: &[&str]) -> std::process::Output {
    run(cmd("rmd", s).args(["label-issues", "--noise", &s.noise, "--relations", &s.relations]).args(extra))
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn a_perfect_teacher_finds_the_flipped_labels_and_the_report_is_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let s = setup(tmp.path());
    let out = label_issues(&s, &["--sheet", "12"]);
    let key = ok_key(&out);
    let dir = s.store.join("label-issues").join(&key);
    let m = manifest(&dir);
    let q = &m["metrics"]["quality"];
    assert_eq!(m["metrics"]["clean_labels_known"], true);
    assert!(q["roc_auc"].as_f64().unwrap() > 0.9, "{q}");
    assert!(q["precision"].as_f64().unwrap() > 0.8 && q["recall"].as_f64().unwrap() > 0.8, "{q}");
    assert!(stderr(&out).contains("precision"), "{}", stderr(&out));

    let t = read_parquet(&dir.join("label_issues.parquet")).unwrap();
    let n = t.num_rows();
    assert_eq!(n, 300);
    let b = &t.batches[0];
    let col = |name: &str| b.column_by_name(name).unwrap_or_else(|| panic!("no column {name}")).clone();
    let index = col("index");
    assert!(index.as_primitive::<UInt32Type>().values().iter().enumerate().all(|(i, &x)| x as usize == i));
    let mut ranks: Vec<u32> = col("rank").as_primitive::<UInt32Type>().values().to_vec();
    let (given, suggested) = (col("given_label"), col("suggested_label"));
    let (given, suggested) = (given.as_primitive::<UInt16Type>(), suggested.as_primitive::<UInt16Type>());
    let flagged = col("flagged");
    let flagged = flagged.as_boolean();
    for i in 0..n {
        assert_eq!(flagged.value(i), given.value(i) != suggested.value(i), "row {i}");
    }
    // Rank 1 has the highest score.
    let score = col("score");
    let score = score.as_primitive::<Float64Type>().values();
    let top = ranks.iter().position(|&r| r == 1).unwrap();
    assert!(score.iter().all(|&x| x <= score[top]));
    ranks.sort_unstable();
    assert_eq!(ranks, (1..=n as u32).collect::<Vec<_>>(), "ranks are a permutation");
    // With clean labels known, the truth columns are there; without a classifier, its
    // columns are null.
    assert!(b.column_by_name("is_wrong").is_some() && b.column_by_name("clean_label").is_some());
    assert_eq!(col("classifier_prob_given").null_count(), n);
    assert_eq!(t.metadata.get("rmdnet.artifact_key"), Some(&key));

    let png = std::fs::read(dir.join("contact_sheet.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let html = std::fs::read_to_string(dir.join("contact_sheet.html")).unwrap();
    assert_eq!(html.matches("<figure>").count(), 12);
    assert_eq!(html.matches("data:image/png;base64,").count(), 12);

    // Cached: same key, nothing recomputed; another sheet size is another artifact.
    let again = label_issues(&s, &["--sheet", "12"]);
    assert_eq!(ok_key(&again), key);
    assert!(stderr(&again).contains("cache hit"), "{}", stderr(&again));
    assert_ne!(ok_key(&label_issues(&s, &["--sheet", "5"])), key);
    // The store verifies it.
    run(cmd("rmd", &s).args(["store", "verify"]));
}

#[test]
fn without_flipped_labels_there_is_no_ground_truth_to_report() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = setup(tmp.path());
    let mut noise = cmd("rmd-noise", &s);
    with_data(&mut noise, &s);
    s.noise =
        ok_key(&run(noise.args(["--dataset", "cifar10", "--noise", "sym", "--rate", "0", "--seed", "1"])));
    let key = ok_key(&label_issues(&s, &[]));
    let dir = s.store.join("label-issues").join(&key);
    let m = manifest(&dir);
    assert_eq!(m["metrics"]["clean_labels_known"], false);
    assert!(m["metrics"]["quality"].is_null());
    let t = read_parquet(&dir.join("label_issues.parquet")).unwrap();
    assert!(t.batches[0].column_by_name("is_wrong").is_none());
    // A perfect teacher on clean labels flags nothing.
    assert_eq!(m["metrics"]["flagged"], 0);
}

#[test]
fn bad_requests_are_input_errors_that_say_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let s = setup(tmp.path());
    let fails = |args: &[&str], needle: &str| {
        let out = cmd("rmd", &s).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: expected '{needle}' in {}", stderr(&out));
    };
    let li = |extra: &[&'static str], needle: &str| {
        let mut v = vec!["label-issues", "--noise", &s.noise, "--relations", &s.relations];
        v.extend_from_slice(extra);
        fails(&v, needle);
    };
    li(&["--neighbour-tau", "0"], "--neighbour-tau");
    li(&["--classifier-weight", "1.5"], "--classifier-weight");
    li(&["--sheet", "0"], "--sheet");
    li(&["--classifier", "ffff00"], "--classifier");
    // Stages swapped: a relations key given as the noise.
    fails(&["label-issues", "--noise", &s.relations, "--relations", &s.relations], "--noise");
    fails(&["predict", "--classifier", &s.noise], "--classifier");
}

#[test]
fn a_classifier_adds_evidence_and_predict_reproduces_its_test_accuracy() {
    let tmp = tempfile::tempdir().unwrap();
    let s = setup(tmp.path());
    let mut d = cmd("rmd-distill", &s);
    d.args(["--noise", &s.noise, "--profile", "smoke", "--images", "200", "--val-images", "40"]);
    let clf = ok_key(&run(&mut d));
    let clf_manifest = manifest(&s.store.join("distill").join(&clf));

    let key = ok_key(&label_issues(&s, &["--classifier", &clf]));
    let dir = s.store.join("label-issues").join(&key);
    assert_eq!(manifest(&dir)["inputs"]["classifier"], clf.as_str());
    let t = read_parquet(&dir.join("label_issues.parquet")).unwrap();
    let b = &t.batches[0];
    let seen = b.column_by_name("seen_by_classifier").unwrap().as_boolean().clone();
    assert_eq!(seen.null_count(), 0);
    assert_eq!(
        seen.iter().filter(|x| *x == Some(true)).count() as u64,
        clf_manifest["metrics"]["images"].as_u64().unwrap(),
        "the images the classifier trained on are marked"
    );
    let p = b.column_by_name("classifier_prob_given").unwrap().as_primitive::<Float64Type>().clone();
    assert!(p.iter().all(|x| x.is_some_and(|v| (0.0..=1.0).contains(&v))));

    // Predictions on the whole (60-image) test split: the accuracy the classifier recorded.
    let out_file = tmp.path().join("pred.parquet");
    let mut pred = cmd("rmd", &s);
    pred.args(["predict", "--classifier", &clf, "--split", "test", "--out", out_file.to_str().unwrap()]);
    with_data(&mut pred, &s);
    let out = run(&mut pred);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success() && text.contains("identical"), "{text}{}", stderr(&out));
    let want = clf_manifest["metrics"]["last_test_acc"].as_f64().unwrap();
    assert!(text.contains(&format!("accuracy {want:.4}")), "{text}");
    let t = read_parquet(&out_file).unwrap();
    assert_eq!(t.num_rows(), 60);
    let b = &t.batches[0];
    for c in
        ["index", "predicted_label", "predicted_class", "confidence", "label", "correct", "probabilities"]
    {
        assert!(b.column_by_name(c).is_some(), "no column {c}");
    }
    let correct = b.column_by_name("correct").unwrap().as_boolean().true_count();
    assert_eq!(correct as f64 / 60.0, want);
    let probs = b.column_by_name("probabilities").unwrap().as_fixed_size_list().clone();
    assert_eq!(probs.value_length(), 10);
    assert!(
        std::fs::read_dir(tmp.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("partial"))
    );

    // A missing output directory is an input error, and nothing is written.
    let mut bad = cmd("rmd", &s);
    let missing = tmp.path().join("no/such/dir/p.parquet");
    let out =
        bad.args(["predict", "--classifier", &clf, "--out", missing.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("does not exist"));
}

/// The tensor names and shapes in a SafeTensors file's header.
fn safetensors_header(path: &Path) -> serde_json::Map<String, serde_json::Value> {
    let bytes = std::fs::read(path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    serde_json::from_slice(&bytes[8..8 + len]).unwrap()
}

#[test]
fn export_writes_pytorch_named_weights_and_a_description() {
    let tmp = tempfile::tempdir().unwrap();
    let s = setup(tmp.path());
    let mut d = cmd("rmd-distill", &s);
    d.args(["--noise", &s.noise, "--profile", "smoke", "--relations", &s.relations]);
    let clf = ok_key(&run(&mut d));
    let out_dir = tmp.path().join("exported");
    let out = run(cmd("rmd", &s).args(["export", &clf[..10], "--out", out_dir.to_str().unwrap()]));
    assert!(out.status.success(), "{}", stderr(&out));
    let header = safetensors_header(&out_dir.join("classifier.safetensors"));
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("export.json")).unwrap()).unwrap();
    assert_eq!(info["kind"], "classifier");
    assert_eq!(info["artifact"], clf.as_str());
    assert_eq!(info["classes"].as_array().unwrap().len(), 10);
    let width = info["backbone"]["widths"].as_array().unwrap().last().unwrap().as_u64().unwrap();
    // PyTorch conventions: linear weight [out, in], batch norm weight/bias/running stats.
    assert_eq!(header["head.weight"]["shape"], serde_json::json!([10, width]));
    for name in
        ["backbone.stem.weight", "backbone.stem_bn.weight", "backbone.stem_bn.running_var", "head.bias"]
    {
        assert!(header.contains_key(name), "{name} missing: {:?}", header.keys().collect::<Vec<_>>());
    }
    assert!(!header.keys().any(|k| k.starts_with("projection")), "the RGRL projection is not exported");
    assert_eq!(header["__metadata__"]["rmdnet.artifact_key"], clf.as_str());
    // The same classifier exports to the same bytes (the header's metadata map is sorted).
    let again_dir = tmp.path().join("exported-again");
    let out = run(cmd("rmd", &s).args(["export", &clf, "--out", again_dir.to_str().unwrap()]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(out_dir.join("classifier.safetensors")).unwrap(),
        std::fs::read(again_dir.join("classifier.safetensors")).unwrap()
    );

    // A noise artifact cannot be exported.
    let bad = cmd("rmd", &s).args(["export", &s.noise, "--out", out_dir.to_str().unwrap()]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("only classifiers"), "{}", stderr(&bad));
}

/// Prune and retrain: `rmd-distill --drop-flagged KEY` leaves the flagged samples out of
/// training (recorded in its metrics and inputs, a key of its own), keeps the validation
/// split, and refuses a label-issue artifact made for other labels.
#[test]
fn prune_and_retrain_drops_the_flagged_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let s = setup(tmp.path());
    let issues = ok_key(&label_issues(&s, &[]));
    let flagged =
        manifest(&s.store.join("label-issues").join(&issues))["metrics"]["flagged"].as_u64().unwrap();
    assert!(flagged > 0);
    let distill = |extra: &[&str]| {
        run(cmd("rmd-distill", &s)
            .args(["--noise", &s.noise, "--profile", "smoke", "--images", "0"])
            .args(extra))
    };
    let plain = ok_key(&distill(&[]));
    let pruned = ok_key(&distill(&["--drop-flagged", &issues]));
    assert_ne!(plain, pruned);
    let (mp, mq) =
        (manifest(&s.store.join("distill").join(&plain)), manifest(&s.store.join("distill").join(&pruned)));
    assert_eq!(mq["inputs"]["drop_flagged"], serde_json::json!(issues));
    let dropped = mq["metrics"]["pruned"]["dropped_from_training"].as_u64().unwrap();
    assert!(dropped > 0 && dropped <= flagged, "{}", mq["metrics"]);
    assert_eq!(
        mp["metrics"]["images"].as_u64().unwrap() - dropped,
        mq["metrics"]["images"].as_u64().unwrap()
    );
    assert_eq!(mp["metrics"]["val_images"], mq["metrics"]["val_images"], "the validation split is unchanged");
    // A perfect teacher's flags are mostly the flipped labels: fewer flipped samples remain.
    assert!(
        mq["metrics"]["flipped_in_training_set"].as_u64().unwrap()
            < mp["metrics"]["flipped_in_training_set"].as_u64().unwrap()
    );

    // The flags of other labels (another noise draw) are refused.
    let mut other = cmd("rmd-noise", &s);
    with_data(&mut other, &s);
    let other =
        ok_key(&run(other.args(["--dataset", "cifar10", "--noise", "sym", "--rate", "0.4", "--seed", "9"])));
    let out = run(cmd("rmd-distill", &s).args([
        "--noise",
        &other,
        "--profile",
        "smoke",
        "--drop-flagged",
        &issues,
    ]));
    code2(&out, &["--drop-flagged", "judged the labels of noise artifact"]);
}
