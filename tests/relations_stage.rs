//! End-to-end tests of `rmd-relations` on a smoke RM artifact.

mod common;

use common::*;
use std::path::Path;

fn setup(tmp: &Path) -> (std::path::PathBuf, String) {
    write_small_cifar10(tmp, 60);
    let store = tmp.join("store");
    let mut c = bin("rmd-pretrain");
    c.args(["--store", store.to_str().unwrap(), "--data-dir", tmp.to_str().unwrap(), "--no-download"]);
    c.args(["--dataset", "cifar10", "--profile", "smoke"]);
    let enc = ok_key(&run(&mut c));
    (store, enc)
}

fn relations(store: &Path, args: &[&str]) -> std::process::Output {
    run(bin("rmd-relations").args(["--store", store.to_str().unwrap()]).args(args))
}

#[test]
fn graph_has_k_sorted_non_self_rows_and_is_cached_and_portable() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, enc) = setup(tmp.path());
    let noise = ok_key(&run(bin("rmd-noise").args([
        "--store",
        store.to_str().unwrap(),
        "--data-dir",
        tmp.path().to_str().unwrap(),
        "--dataset",
        "cifar10",
        "--noise",
        "sym",
        "--rate",
        "0.4",
    ])));
    let npy = tmp.path().join("npy");
    let out = relations(
        &store,
        &["--encoder", &enc[..10], "--k", "7", "--noise", &noise[..10], "--npy", npy.to_str().unwrap()],
    );
    let key = ok_key(&out);
    assert!(stderr(&out).contains("detection ROC-AUC"), "{}", stderr(&out));

    let dir = store.join("relations").join(&key);
    let g = rmd_data::parquet_io::read_parquet(&dir.join("graph.parquet")).unwrap();
    let p = dir.join("graph.parquet");
    let src = rmd_data::parquet_io::int_column(&g, &p, "src").unwrap();
    let dst = rmd_data::parquet_io::int_column(&g, &p, "dst").unwrap();
    let rank = rmd_data::parquet_io::int_column(&g, &p, "rank").unwrap();
    assert_eq!(src.len(), 300 * 7);
    assert_eq!(g.metadata["rmdnet.k"], "7");
    assert_eq!(g.metadata["rmdnet.encoder_key"], enc);
    for (row, ((s, d), r)) in src.iter().zip(&dst).zip(&rank).enumerate() {
        assert_eq!(*s as usize, row / 7, "K rows per src, in src order");
        assert_eq!(*r as usize, row % 7, "rank order");
        assert_ne!(s, d, "no self edges");
    }
    let sims: Vec<f32> = {
        use arrow_array::cast::AsArray;
        g.column("similarity")
            .unwrap()
            .iter()
            .flat_map(|a| a.as_primitive::<arrow_array::types::Float32Type>().values().to_vec())
            .collect()
    };
    assert!(
        sims.chunks(7).all(|w| w.windows(2).all(|p| p[0] >= p[1])),
        "similarity non-increasing with rank"
    );

    for f in ["embeddings.npy", "neighbours.npy", "similarities.npy"] {
        let bytes = std::fs::read(npy.join(f)).unwrap();
        assert_eq!(&bytes[..6], b"\x93NUMPY", "{f}");
    }

    let again = relations(&store, &["--encoder", &enc[..10], "--k", "7", "--noise", &noise[..10]]);
    assert_eq!(ok_key(&again), key);
    assert!(
        stderr(&again).contains("cache hit") && stderr(&again).contains("[cached "),
        "{}",
        stderr(&again)
    );

    // Exported with its inputs and imported elsewhere, it is a cache hit there.
    let bundle = tmp.path().join("graph.tar.gz");
    let out = run(bin("rmd").args([
        "--store",
        store.to_str().unwrap(),
        "store",
        "export",
        &key[..12],
        bundle.to_str().unwrap(),
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let other = tmp.path().join("other");
    let out = run(bin("rmd").args([
        "--store",
        other.to_str().unwrap(),
        "store",
        "import",
        bundle.to_str().unwrap(),
    ]));
    assert_eq!(ok_key(&out), key);
    let there = relations(&other, &["--encoder", &enc[..10], "--k", "7"]);
    assert_eq!(ok_key(&there), key);
    assert!(stderr(&there).contains("cache hit"), "{}", stderr(&there));

    // A bundle without the encoder: refused (exit 2, nothing installed) by a store that lacks
    // it, accepted once the encoder arrived on its own.
    let slim = tmp.path().join("graph-without-encoder.tar.gz");
    let out = rmd(&store, &["store", "export", &key[..12], slim.to_str().unwrap(), "--without", "pretrain"]);
    assert!(out.status.success() && stderr(&out).contains("left out"), "{}", stderr(&out));
    assert!(std::fs::metadata(&slim).unwrap().len() < std::fs::metadata(&bundle).unwrap().len());
    let third = tmp.path().join("third");
    code2(&rmd(&third, &["store", "import", slim.to_str().unwrap()]), &["--without pretrain", &enc[..12]]);
    assert!(!third.join("relations").join(&key).exists());
    let encoder_bundle = tmp.path().join("encoder.tar.gz");
    assert!(rmd(&store, &["store", "export", &enc[..12], encoder_bundle.to_str().unwrap()]).status.success());
    assert!(rmd(&third, &["store", "import", encoder_bundle.to_str().unwrap()]).status.success());
    assert_eq!(ok_key(&rmd(&third, &["store", "import", slim.to_str().unwrap()])), key);
    let typo = tmp.path().join("typo.tar.gz");
    code2(
        &rmd(&store, &["store", "export", &key[..12], typo.to_str().unwrap(), "--without", "pretrian"]),
        &["no artifacts of a stage"],
    );
    assert!(!typo.exists());
}

#[test]
fn wrong_inputs_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, enc) = setup(tmp.path());
    let out = relations(&store, &["--encoder", &enc[..10], "--k", "300"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--k 300"), "{}", stderr(&out));
    let out = relations(&store, &["--encoder", "ffffffff"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no artifact"), "{}", stderr(&out));
}

#[test]
fn synthetic_teacher_reaches_its_purity_says_so_and_feeds_rgrl() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 60);
    let store = tmp.path().join("store");
    let with_data = |name: &str| {
        let mut c = bin(name);
        c.args([
            "--store",
            store.to_str().unwrap(),
            "--data-dir",
            tmp.path().to_str().unwrap(),
            "--no-download",
        ]);
        c
    };
    let show = |key: &str| -> serde_json::Value {
        let out = run(bin("rmd").args(["--store", store.to_str().unwrap(), "store", "show", key]));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let synth = |extra: &[&str]| {
        run(with_data("rmd-relations").args(["--dataset", "cifar10", "--k", "5", "--seed", "3"]).args(extra))
    };
    let first = synth(&["--synthetic-purity", "0.8"]);
    let key = ok_key(&first);
    assert!(stderr(&first).contains("CLEAN labels"), "{}", stderr(&first));
    let m = show(&key);
    let reached = m["metrics"]["synthetic_teacher"]["reached_purity"].as_f64().unwrap();
    assert!((reached - 0.8).abs() <= 0.005, "reached {reached}");
    assert_eq!(m["metrics"]["neighbour_label_agreement"].as_f64().unwrap(), reached);
    assert!(m["params"]["synthetic"]["built_from"].as_str().unwrap().contains("clean labels"));
    assert!(m["inputs"].get("encoder").is_none());
    let again = synth(&["--synthetic-purity", "0.8"]);
    assert_eq!(ok_key(&again), key);
    assert!(stderr(&again).contains("cache hit"));
    assert_ne!(ok_key(&synth(&["--synthetic-purity", "0.5"])), key, "another purity, another teacher");

    // RGRL trains on it, and its manifest names the teacher as synthetic.
    let noise = ok_key(&run(with_data("rmd-noise").args([
        "--dataset",
        "cifar10",
        "--noise",
        "sym",
        "--rate",
        "0.5",
    ])));
    let distill = run(bin("rmd-distill").args([
        "--store",
        store.to_str().unwrap(),
        "--noise",
        &noise,
        "--relations",
        &key,
        "--profile",
        "smoke",
    ]));
    let dk = ok_key(&distill);
    let dm = show(&dk);
    assert!(
        dm["metrics"]["teacher"]["synthetic"]["purity"].as_f64().is_some(),
        "{}",
        dm["metrics"]["teacher"]
    );
    assert_eq!(
        dm["metrics"]["teacher"]["training_neighbour_label_agreement"].as_f64().map(|a| a > 0.0),
        Some(true)
    );

    // Impossible requests are input errors.
    let below = synth(&["--synthetic-purity", "0.05"]);
    assert_eq!(below.status.code(), Some(2));
    assert!(stderr(&below).contains("above chance"), "{}", stderr(&below));
    let both = synth(&["--synthetic-purity", "0.5", "--encoder", "abc"]);
    assert_eq!(both.status.code(), Some(2));
}
