//! `rmd-relations --embeddings FILE`: a teacher from embeddings computed elsewhere, as
//! `.npy` or Parquet, checked against the dataset and usable by the RGRL stage.

mod common;

use arrow_array::builder::{FixedSizeListBuilder, Float32Builder};
use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

fn cmd(name: &str, store: &Path, data: &Path) -> Command {
    let mut c = bin(name);
    c.args(["--store", store.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "--no-download"]);
    c
}

/// Class-clustered embeddings for the small dataset's training images (label = index % 10):
/// one axis per class plus a little structure, so neighbours share their clean class.
fn embeddings(rows: usize, dim: usize) -> Vec<f32> {
    let mut v = vec![0f32; rows * dim];
    for r in 0..rows {
        v[r * dim + (r % 10)] = 1.0;
        v[r * dim + 10 + (r % 3)] = 0.1 + (r % 7) as f32 * 0.01;
    }
    v
}

fn write_parquet(path: &Path, values: &[f32], dim: usize, index: impl Fn(usize) -> u32) {
    let rows = values.len() / dim;
    let mut b = FixedSizeListBuilder::new(Float32Builder::new(), dim as i32);
    for r in 0..rows {
        b.values().append_slice(&values[r * dim..(r + 1) * dim]);
        b.append(true);
    }
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("index", Arc::new(UInt32Array::from_iter_values((0..rows).map(index)))),
        ("embedding", Arc::new(b.finish())),
    ];
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    rmd_data::parquet_io::write_parquet(path, &batch, &BTreeMap::new()).unwrap();
}

#[test]
fn npy_and_parquet_embeddings_make_the_same_teacher_and_rgrl_trains_on_it() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 60);
    let store = tmp.path().join("store");
    let (n, dim) = (300, 16);
    let values = embeddings(n, dim);
    let npy = tmp.path().join("emb.npy");
    rmd_nn::relations::write_npy(&npy, &values, &[n, dim]).unwrap();
    let relations = |file: &Path| relations_from(&store, tmp.path(), file);
    let out = relations(&npy);
    let key = ok_key(&out);
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(store.join("relations").join(&key).join("manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(m["params"]["external"]["rows"], 300);
    assert_eq!(m["metrics"]["neighbour_label_agreement"], 1.0, "class-clustered embeddings: pure neighbours");
    assert!(m["metrics"]["knn_acc"].is_null(), "no test rows, no kNN diagnostic");

    // The same values as Parquet: the same artifact (keyed by the values, not the file).
    let pq = tmp.path().join("emb.parquet");
    write_parquet(&pq, &values, dim, |r| r as u32);
    let again = relations(&pq);
    assert_eq!(ok_key(&again), key);
    assert!(stderr(&again).contains("cache hit"), "{}", stderr(&again));

    // Train + test rows: the kNN diagnostic is computed.
    let with_test = tmp.path().join("emb_test.npy");
    rmd_nn::relations::write_npy(&with_test, &embeddings(360, dim), &[360, dim]).unwrap();
    let key2 = ok_key(&relations(&with_test));
    let m2: serde_json::Value = serde_json::from_slice(
        &std::fs::read(store.join("relations").join(&key2).join("manifest.json")).unwrap(),
    )
    .unwrap();
    assert!(m2["metrics"]["knn_acc"].as_f64().unwrap() > 0.9, "{}", m2["metrics"]);

    // RGRL trains with it unchanged.
    let noise = ok_key(&run(cmd("rmd-noise", &store, tmp.path()).args([
        "--dataset",
        "cifar10",
        "--noise",
        "sym",
        "--rate",
        "0.4",
        "--seed",
        "1",
    ])));
    ok_key(&distill_smoke(&store, &noise, &key));
}

#[test]
fn embeddings_that_do_not_fit_are_refused_with_the_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 60);
    let store = tmp.path().join("store");
    let fails = |file: &Path, needles: &[&str]| {
        let out = cmd("rmd-relations", &store, tmp.path())
            .args(["--dataset", "cifar10", "--embeddings", file.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        for n in needles {
            assert!(stderr(&out).contains(n), "expected '{n}' in: {}", stderr(&out));
        }
        assert!(
            !store.join("relations").exists()
                || std::fs::read_dir(store.join("relations")).unwrap().count() == 0
        );
    };
    let wrong_rows = tmp.path().join("short.npy");
    rmd_nn::relations::write_npy(&wrong_rows, &embeddings(299, 16), &[299, 16]).unwrap();
    fails(&wrong_rows, &["299 rows", "300 training images"]);
    let bad_index = tmp.path().join("shuffled.parquet");
    write_parquet(&bad_index, &embeddings(300, 16), 16, |r| if r == 7 { 8 } else { r as u32 });
    fails(&bad_index, &["shuffled.parquet", "row 7"]);
    let truncated = tmp.path().join("trunc.npy");
    rmd_nn::relations::write_npy(&truncated, &embeddings(300, 16), &[300, 16]).unwrap();
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    fails(&truncated, &["trunc.npy"]);
    let not_npy = tmp.path().join("text.npy");
    std::fs::write(&not_npy, "hello").unwrap();
    fails(&not_npy, &["text.npy", "not a .npy file"]);
}

/// `rmd-relations --dataset cifar10 --embeddings FILE --k 5` on the small dataset.
fn relations_from(store: &Path, data: &Path, file: &Path) -> std::process::Output {
    run(cmd("rmd-relations", store, data).args([
        "--dataset",
        "cifar10",
        "--embeddings",
        file.to_str().unwrap(),
        "--k",
        "5",
    ]))
}

#[test]
fn embeddings_of_extreme_magnitude_are_normalised_and_ambiguous_files_refused() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 60);
    let store = tmp.path().join("store");
    let (n, dim) = (300, 16);
    let relations = |file: &Path| relations_from(&store, tmp.path(), file);

    // Rows scaled by 1e30 and 1e-40: cosine neighbours do not depend on a row's scale, but
    // the squares overflow or underflow float32, and such rows used to become zero or stay
    // unnormalised with arbitrary neighbours.
    let mut values = embeddings(n, dim);
    for (r, row) in values.chunks_mut(dim).enumerate() {
        let scale = [1e30f32, 1e-40, 1.0][r % 3];
        row.iter_mut().for_each(|v| *v *= scale);
    }
    let npy = tmp.path().join("extreme.npy");
    rmd_nn::relations::write_npy(&npy, &values, &[n, dim]).unwrap();
    let key = ok_key(&relations(&npy));
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(store.join("relations").join(&key).join("manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(m["metrics"]["neighbour_label_agreement"], 1.0, "{}", m["metrics"]);

    // float64 values that float32 cannot hold are refused, naming the row.
    let mut wide: Vec<f64> = embeddings(n, dim).iter().map(|&v| v as f64).collect();
    wide[7 * dim] = 1e300;
    let f64_file = tmp.path().join("wide.npy");
    rmd_nn::relations::write_npy(&f64_file, &wide, &[n, dim]).unwrap();
    code2(&relations(&f64_file), &["row 7, column 0", "outside float32's range"]);

    // A header that does not match the data: trailing bytes, or a shape far larger than the
    // file (refused before anything that size is allocated).
    let trailing = tmp.path().join("trailing.npy");
    rmd_nn::relations::write_npy(&trailing, &embeddings(n, dim), &[n, dim]).unwrap();
    let mut bytes = std::fs::read(&trailing).unwrap();
    bytes.extend([0u8; 64]);
    std::fs::write(&trailing, bytes).unwrap();
    code2(&relations(&trailing), &["trailing.npy", "the header does not match the data"]);
    let huge = tmp.path().join("huge.npy");
    rmd_nn::relations::write_npy(&huge, &[1.0f64; 4], &[2, 2]).unwrap();
    // The shape text is longer, so the header's padding absorbs it.
    let raw = std::fs::read(&huge).unwrap();
    let hlen = u16::from_le_bytes([raw[8], raw[9]]) as usize;
    let header = String::from_utf8_lossy(&raw[10..10 + hlen]).into_owned();
    let bigger = header.replacen("(2, 2), ", "(4000000000, 4000000000),", 1);
    let bigger = format!("{:width$}\n", bigger.trim_end(), width = hlen - 1);
    assert_eq!(bigger.len(), hlen);
    let mut out = raw[..10].to_vec();
    out.extend(bigger.as_bytes());
    out.extend(&raw[10 + hlen..]);
    std::fs::write(&huge, out).unwrap();
    code2(&relations(&huge), &["huge.npy", "the header does not match the data"]);

    // A null inside an embedding list (not the whole list) is refused, naming row and column.
    let nulls = tmp.path().join("nulls.parquet");
    let mut b = FixedSizeListBuilder::new(Float32Builder::new(), dim as i32);
    let base = embeddings(n, dim);
    for r in 0..n {
        for c in 0..dim {
            if r == 11 && c == 3 {
                b.values().append_null();
            } else {
                b.values().append_value(base[r * dim + c]);
            }
        }
        b.append(true);
    }
    let batch = RecordBatch::try_from_iter(vec![("embedding", Arc::new(b.finish()) as ArrayRef)]).unwrap();
    rmd_data::parquet_io::write_parquet(&nulls, &batch, &BTreeMap::new()).unwrap();
    code2(&relations(&nulls), &["nulls.parquet", "row 11, column 3 of the embedding is null"]);
}
