//! End-to-end tests of `rmd-distill` (the RGRL stage) with the smoke profile on a small
//! CIFAR-10-layout dataset.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Setup {
    store: PathBuf,
    noise: String,
    relations: String,
    encoder: String,
}

fn cmd(name: &str, store: &Path, data: &Path) -> Command {
    let mut c = bin(name);
    c.args(["--store", store.to_str().unwrap()]);
    if name != "rmd-relations" {
        c.args(["--data-dir", data.to_str().unwrap(), "--no-download"]);
    }
    c
}

fn setup(tmp: &Path) -> Setup {
    write_small_cifar10(tmp, 60);
    let store = tmp.join("store");
    let noise = ok_key(&run(cmd("rmd-noise", &store, tmp).args([
        "--dataset",
        "cifar10",
        "--noise",
        "sym",
        "--rate",
        "0.4",
        "--seed",
        "1",
    ])));
    let encoder =
        ok_key(&run(cmd("rmd-pretrain", &store, tmp).args(["--dataset", "cifar10", "--profile", "smoke"])));
    let relations = ok_key(&run(cmd("rmd-relations", &store, tmp).args(["--encoder", &encoder, "--k", "5"])));
    Setup { store, noise, relations, encoder }
}

fn distill(s: &Setup, args: &[&str]) -> Command {
    let mut c = bin("rmd-distill");
    c.args(["--store", s.store.to_str().unwrap(), "--noise", &s.noise, "--profile", "smoke"]).args(args);
    c
}

fn dir(s: &Setup, key: &str) -> PathBuf {
    s.store.join("distill").join(key)
}

fn csv(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn manifest(s: &Setup, key: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir(s, key).join("manifest.json")).unwrap()).unwrap()
}

/// The flags that switch the three relation terms off.
const TERMS_OFF: &[&str] = &["--node-weight", "0", "--edge-weight", "0", "--graph-weight", "0"];

#[test]
fn baseline_and_rgrl_runs_write_their_outputs_and_are_cached() {
    let tmp = tempfile::tempdir().unwrap();
    let s = setup(tmp.path());

    let base = ok_key(&run(&mut distill(&s, &["--loss", "ce"])));
    let rgrl = ok_key(&run(&mut distill(&s, &["--loss", "ce", "--relations", &s.relations])));
    assert_ne!(base, rgrl, "runs with and without relations are different artifacts");
    let node_only = ok_key(&run(&mut distill(
        &s,
        &["--relations", &s.relations, "--edge-weight", "0", "--graph-weight", "0"],
    )));
    assert_ne!(node_only, rgrl, "an ablation is a parameter change and a different artifact");
    let weighted = ok_key(&run(&mut distill(&s, &["--relations", &s.relations, "--rgrl-confidence"])));
    assert_ne!(weighted, rgrl);
    assert_eq!(manifest(&s, &weighted)["params"]["rgrl"]["confidence"], true);
    assert!(manifest(&s, &rgrl)["params"]["rgrl"].get("confidence").is_none());
    // Neighbour targets alone (every relation term off) are a run of their own.
    let votes_only = ok_key(&run(&mut distill(
        &s,
        &[&["--relations", &s.relations, "--neighbour-targets", "0.5"], TERMS_OFF].concat(),
    )));
    assert_ne!(votes_only, base);
    assert_eq!(manifest(&s, &votes_only)["params"]["rgrl"]["neighbour_targets"], 0.5);
    assert!(manifest(&s, &rgrl)["params"]["rgrl"].get("neighbour_targets").is_none());
    // Decaying the relation weights is a run of its own that trains differently; an explicit
    // constant schedule is the default run.
    let decayed = ok_key(&run(&mut distill(
        &s,
        &["--loss", "ce", "--relations", &s.relations, "--rgrl-schedule", "cosine-decay"],
    )));
    assert_ne!(decayed, rgrl);
    assert_eq!(manifest(&s, &decayed)["params"]["rgrl"]["weight_schedule"], "cosine-decay");
    assert!(manifest(&s, &rgrl)["params"]["rgrl"].get("weight_schedule").is_none());
    let loss_of = |key: &str| csv(&dir(&s, key).join("epochs.csv"))[2][2].clone();
    assert_ne!(loss_of(&decayed), loss_of(&rgrl), "the decayed weights change the training loss");
    let constant = ok_key(&run(&mut distill(
        &s,
        &["--loss", "ce", "--relations", &s.relations, "--rgrl-schedule", "constant"],
    )));
    assert_eq!(constant, rgrl);

    for key in [&base, &rgrl] {
        let d = dir(&s, key);
        for f in ["classifier.bpk", "model.json", "epochs.csv", "per_class.csv", "confusion.csv"] {
            assert!(d.join(f).is_file(), "missing {f}");
        }
        assert!(!d.join("checkpoint").exists());
        let epochs = csv(&d.join("epochs.csv"));
        assert_eq!(epochs.len(), 3, "header + 2 epochs");
        let col =
            |name: &str| epochs[0].iter().position(|h| h == name).unwrap_or_else(|| panic!("no {name}"));
        let (test_col, val_col) = (col("test_acc"), col("val_acc_noisy"));
        assert_eq!(csv(&d.join("confusion.csv")).len(), 1 + 100, "header + 10×10 pairs");
        let per_class = csv(&d.join("per_class.csv"));
        assert_eq!(per_class.len(), 11);
        assert_eq!(per_class[1][1], "airplane");
        let m = manifest(&s, key);
        // The manifest's summary is the epoch log's: last row and best row of test_acc.
        let accs: Vec<f64> = epochs[1..].iter().map(|r| r[test_col].parse().unwrap()).collect();
        assert_eq!(m["metrics"]["last_test_acc"].as_f64().unwrap(), *accs.last().unwrap());
        let best = accs.iter().cloned().fold(f64::MIN, f64::max);
        assert_eq!(m["metrics"]["best_test_acc"].as_f64().unwrap(), best);
        let best_epoch = accs.iter().rposition(|a| *a == best).unwrap() + 1; // ties: the later epoch
        assert_eq!(m["metrics"]["best_epoch"].as_u64().unwrap() as usize, best_epoch);
        // The reported epoch is chosen on the noisy validation split (earliest of ties).
        let vals: Vec<f64> = epochs[1..].iter().map(|r| r[val_col].parse().unwrap()).collect();
        let top = vals.iter().cloned().fold(f64::MIN, f64::max);
        let chosen = vals.iter().position(|v| *v == top).unwrap();
        assert_eq!(m["metrics"]["val_selected_epoch"].as_u64().unwrap() as usize, chosen + 1);
        assert_eq!(m["metrics"]["val_selected_test_acc"].as_f64().unwrap(), accs[chosen]);
        assert_eq!(m["metrics"]["val_images"].as_u64().unwrap(), 64, "the smoke profile's split");
        assert_eq!(m["params"]["loss"]["name"], "ce");
        assert!(m["inputs"]["noise"].as_str().unwrap().starts_with(&s.noise[..12]));
    }
    let m = manifest(&s, &rgrl);
    assert_eq!(m["inputs"]["relations"].as_str().unwrap(), s.relations);
    let epochs = csv(&dir(&s, &rgrl).join("epochs.csv"));
    for col in [4, 5, 6] {
        let v: f64 = epochs[2][col].parse().unwrap_or_else(|_| panic!("column {col}: {:?}", epochs[2]));
        assert!(v.is_finite());
    }
    let base_epochs = csv(&dir(&s, &base).join("epochs.csv"));
    assert_eq!(base_epochs[2][4], "", "no node loss without relations");

    let again = run(&mut distill(&s, &["--loss", "ce", "--relations", &s.relations]));
    assert_eq!(ok_key(&again), rgrl);
    assert!(stderr(&again).contains("cache hit"), "{}", stderr(&again));

    // Each base loss trains; loss parameters are recorded.
    for loss in ["gce", "sce", "elr"] {
        let key = ok_key(&run(&mut distill(&s, &["--loss", loss])));
        assert_eq!(manifest(&s, &key)["params"]["loss"]["name"], loss);
    }
    let q = ok_key(&run(&mut distill(&s, &["--loss", "gce", "--gce-q", "0.5"])));
    assert_eq!(manifest(&s, &q)["params"]["loss"]["q"], 0.5);

    // Backbone initialised from the RM encoder (same architecture in the smoke profiles).
    let init = ok_key(&run(&mut distill(&s, &["--init-from-rm", &s.encoder])));
    assert_eq!(manifest(&s, &init)["inputs"]["init_encoder"].as_str().unwrap(), s.encoder);
}

#[test]
fn bad_requests_are_input_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let s = setup(tmp.path());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--node-weight", "0.5"], "need --relations"),
        (vec!["--rgrl-confidence"], "need --relations"),
        (vec!["--neighbour-targets", "0.5"], "need --relations"),
        (vec!["--rgrl-schedule", "cosine-decay"], "need --relations"),
        (vec!["--relations", &s.relations, "--neighbour-targets", "1.5"], "must be in [0, 1]"),
        ([&["--relations", &s.relations], TERMS_OFF].concat(), "every RGRL term is off"),
        (vec!["--loss", "ce", "--gce-q", "0.5"], "--gce-q does not apply"),
        (vec!["--loss", "gce", "--gce-q", "0"], "GCE q"),
        (vec!["--relations", &s.noise], "relations"),
        (vec!["--schedule", "linear"], "schedule linear"),
        (vec!["--init-from-rm", &s.encoder, "--arch", "small:4:2:1"], "not the backbone"),
        (vec!["--val-images", "100000"], "leaves none of the"),
    ];
    for (args, needle) in cases {
        let out = run(&mut distill(&s, &args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
    // Relations of another dataset.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    write_small_cifar10(&other, 40);
    let enc = ok_key(&run(cmd("rmd-pretrain", &s.store, &other).args([
        "--dataset",
        "cifar10",
        "--profile",
        "smoke",
    ])));
    let rel = ok_key(&run(cmd("rmd-relations", &s.store, &other).args(["--encoder", &enc, "--k", "3"])));
    let out = run(&mut distill(&s, &["--relations", &rel]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("samples but the dataset has"), "{}", stderr(&out));
}

#[test]
fn killed_run_resumes_to_the_same_classifier() {
    let tmp = tempfile::tempdir().unwrap();
    let s = setup(tmp.path());
    // ELR and L_graph carry per-sample memories across epochs: both must survive the resume.
    let args = ["--loss", "elr", "--relations", &s.relations, "--epochs", "6", "--seed", "2"];
    let key = ok_key(&run(&mut distill(&s, &args)));
    let reference = std::fs::read(dir(&s, &key).join("classifier.bpk")).unwrap();
    let reference_log = std::fs::read(dir(&s, &key).join("epochs.csv")).unwrap();

    let mut child = distill(&s, &[&args[..], &["--force"]].concat())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let state = s.store.join("distill").join(format!(".partial-{key}")).join("checkpoint").join("state.json");
    wait_for_checkpoint(&mut child, 2, || vec![state.clone()]);
    child.kill().unwrap();
    child.wait().unwrap();
    let resumed = run(&mut distill(&s, &[&args[..], &["--resume", "--force"]].concat()));
    assert_eq!(ok_key(&resumed), key);
    assert!(stderr(&resumed).contains("resuming after epoch"), "{}", stderr(&resumed));
    // epochs.csv holds no wall-clock column: the resumed run's file is byte for byte the
    // uninterrupted one's (the timings are in the manifest's metrics).
    let log = std::fs::read(dir(&s, &key).join("epochs.csv")).unwrap();
    assert_eq!(log, reference_log, "the same epochs.csv across the interruption");
    let header = String::from_utf8_lossy(&log).lines().next().unwrap_or_default().to_string();
    assert!(!header.contains("seconds") && !header.contains("images_per_s"), "{header}");
    let m = manifest(&s, &key);
    assert_eq!(m["metrics"]["epoch_seconds"].as_array().map(Vec::len), Some(6), "{}", m["metrics"]);
    assert_eq!(std::fs::read(dir(&s, &key).join("classifier.bpk")).unwrap(), reference);
}

/// Writes a CIFAR-10-layout dataset whose classes are easy to tell apart: each class has its
/// own colour (a distinct level per channel) with a little per-pixel noise.
fn write_separable_cifar10(root: &Path, per_file: usize) {
    write_cifar10_with(root, per_file, |n, class, p| {
        let level = [20 + 23 * class, 230 - 21 * class, 40 + 19 * ((class * 3) % 10)][p / 1024];
        (level + (p * 31 + n * 17) % 21).min(255) as u8
    });
}

#[test]
fn learns_a_separable_synthetic_set() {
    let tmp = tempfile::tempdir().unwrap();
    write_separable_cifar10(tmp.path(), 60);
    let store = tmp.path().join("store");
    let noise_args = ["--dataset", "cifar10", "--noise", "sym", "--rate", "0", "--seed", "1"];
    let clean = ok_key(&run(cmd("rmd-noise", &store, tmp.path()).args(noise_args)));
    let train_args = ["--profile", "smoke", "--images", "0", "--epochs", "10", "--test-images", "0"];
    let out = run(bin("rmd-distill")
        .args(["--store", store.to_str().unwrap(), "--noise", &clean])
        .args(train_args));
    let key = ok_key(&out);
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(store.join("distill").join(&key).join("manifest.json")).unwrap(),
    )
    .unwrap();
    let acc = m["metrics"]["last_test_acc"].as_f64().unwrap();
    // Chance is 0.1 (a learning rate of 1e-6 stays there); 10 epochs reach 1.0 here.
    assert!(acc >= 0.9, "test accuracy {acc} on a separable set");
}
