//! `rmd-relations --index ivf`: the approximate graph, its measured recall, the
//! `--min-recall` gate, its parameters in the key, and RGRL training on it.

mod common;

use common::*;
use rmd_nn::relations::RelationGraph;
use std::path::Path;
use std::process::Output;

fn relations(store: &Path, data: &Path, file: &Path, extra: &[&str]) -> Output {
    let mut c = bin("rmd-relations");
    c.args(["--store", store.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "--no-download"]);
    c.args(["--dataset", "cifar10", "--embeddings", file.to_str().unwrap(), "--k", "5"]).args(extra);
    run(&mut c)
}

/// Noisy class-clustered embeddings for the small dataset's training images: 10 class axes
/// plus pseudo-random jitter in 22 more dimensions, so neighbour lists are not ties.
fn embeddings(rows: usize, dim: usize) -> Vec<f32> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let mut v = vec![0f32; rows * dim];
    for r in 0..rows {
        v[r * dim + (r % 10)] = 1.0;
        for t in 10..dim {
            v[r * dim + t] = 0.6 * next();
        }
    }
    v
}

fn manifest(store: &Path, key: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(store.join("relations").join(key).join("manifest.json")).unwrap())
        .unwrap()
}

fn stored(store: &Path) -> usize {
    std::fs::read_dir(store.join("relations"))
        .map(|d| d.flatten().filter(|e| e.path().join("manifest.json").is_file()).count())
        .unwrap_or(0)
}

#[test]
fn ivf_graphs_are_measured_gated_keyed_and_train_rgrl() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    write_small_cifar10(data, 60);
    let store = tmp.path().join("store");
    let (n, dim) = (300, 32);
    let file = tmp.path().join("emb.npy");
    rmd_nn::relations::write_npy(&file, &embeddings(n, dim), &[n, dim]).unwrap();

    let exact = ok_key(&relations(&store, data, &file, &[]));
    assert!(manifest(&store, &exact)["metrics"].get("recall").is_none(), "exact graphs carry no recall");

    // Probing every cell scores every pair: the exact graph, recall 1, a different key.
    let all = relations(&store, data, &file, &["--index", "ivf", "--ivf-lists", "6", "--ivf-probes", "6"]);
    let full = ok_key(&all);
    assert_ne!(full, exact, "the index parameters are part of the key");
    assert!(stderr(&all).contains("IVF graph recall@5 1.0000"), "{}", stderr(&all));
    let (g_exact, g_full) = (
        RelationGraph::open(&store.join("relations").join(&exact)).unwrap(),
        RelationGraph::open(&store.join("relations").join(&full)).unwrap(),
    );
    assert_eq!(g_full.dst, g_exact.dst);
    let m = manifest(&store, &full);
    assert_eq!(m["params"]["ivf"]["lists"], 6);
    assert_eq!(m["metrics"]["recall"]["recall_at_k"], 1.0);
    assert_eq!(m["metrics"]["recall"]["rows"], 300, "the sample is capped at N rows");

    // One probe of many cells misses neighbours; a --min-recall above it refuses the graph
    // and stores nothing.
    let before = stored(&store);
    let few = ["--index", "ivf", "--ivf-lists", "40", "--ivf-probes", "1"];
    let refused = relations(&store, data, &file, &[&few[..], &["--min-recall", "0.999"]].concat());
    code2(&refused, &["below --min-recall 0.999", "nothing was stored", "--ivf-probes"]);
    assert_eq!(stored(&store), before, "a refused graph is not stored");
    let out = relations(&store, data, &file, &few);
    let approx = ok_key(&out);
    let recall = manifest(&store, &approx)["metrics"]["recall"]["recall_at_k"].as_f64().unwrap();
    assert!(recall < 1.0 && recall > 0.2, "recall {recall}");
    // The cached graph is gated too.
    let again = relations(&store, data, &file, &[&few[..], &["--min-recall", "0.999"]].concat());
    code2(&again, &["below --min-recall 0.999"]);

    // Deterministic: recomputing gives the same bytes.
    let graph_file = store.join("relations").join(&approx).join("graph.parquet");
    let first = std::fs::read(&graph_file).unwrap();
    ok_key(&relations(&store, data, &file, &[&few[..], &["--force"]].concat()));
    assert_eq!(std::fs::read(&graph_file).unwrap(), first, "same seed and inputs, same graph bytes");

    // Bad parameters exit 2 before any work.
    code2(
        &relations(&store, data, &file, &["--ivf-probes", "3"]),
        &["--ivf-probes applies to --index ivf only"],
    );
    code2(&relations(&store, data, &file, &["--index", "ivf", "--ivf-lists", "301"]), &["--ivf-lists 301"]);
    code2(
        &relations(&store, data, &file, &["--index", "ivf", "--ivf-lists", "4", "--ivf-probes", "5"]),
        &["--ivf-probes 5"],
    );
    code2(&relations(&store, data, &file, &["--index", "ivf", "--min-recall", "1.5"]), &["--min-recall 1.5"]);
    // K must leave a non-neighbour (the file's 300 rows).
    code2(
        &relations(&store, data, &file, &["--index", "ivf", "--k", "300"]),
        &["--k 300 must be between 1 and 299"],
    );

    // RGRL trains on the approximate graph.
    let noise = ok_key(&noise(&store, data, &["--noise", "sym", "--rate", "0.4", "--seed", "1"]));
    ok_key(&distill_smoke(&store, &noise, &approx));
}
