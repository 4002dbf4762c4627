//! `rmd-relations`: the relation-extraction stage.

use anyhow::Context;
use clap::Parser;
use rmd_nn::relations::{RelationGraph, RelationsRequest, run_graph_eval, run_relations, write_npy};
use rmdnet::cli::{self, BackendArgs, OutputArgs, StoreArgs, short};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Embed every training image with a frozen RM encoder and compute each sample's exact top-K
/// neighbours by cosine similarity.
///
/// Writes a relations artifact (embeddings.parquet: index, embedding; graph.parquet: src,
/// dst, rank, similarity, K rows per src sorted by rank) and prints its key as the last line
/// of stdout; the same command again is a cache hit. With --noise, also evaluates how well
/// "fraction of neighbours whose noisy label differs" detects the flipped labels (ROC-AUC),
/// as a small separate artifact per noise setting, without recomputing the graph.
///
/// Examples:
///   rmd-relations --encoder 3fa9c1 --k 10
///   rmd-relations --encoder 3fa9c1 --k 10 --noise 9212 --noise 695d --npy out/
#[derive(Debug, Parser)]
#[command(name = "rmd-relations", version, about, long_about, verbatim_doc_comment)]
struct Args {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    backend: BackendArgs,

    /// Key (or unique prefix) of the RM (rmd-pretrain) artifact.
    #[arg(long)]
    encoder: String,

    /// Neighbours per sample (self excluded).
    #[arg(long, default_value_t = 10)]
    k: usize,

    /// Noise artifact(s) to evaluate the graph against (repeatable).
    #[arg(long, value_name = "KEY")]
    noise: Vec<String>,

    /// Also export embeddings.npy (f32 [n, d]), neighbours.npy (u32 [n, k]) and
    /// similarities.npy (f32 [n, k]) into this directory.
    #[arg(long, value_name = "DIR")]
    npy: Option<PathBuf>,

    /// Query rows per block of the search; memory use is about block × N × 4 bytes.
    #[arg(long, default_value_t = 1024)]
    block: usize,

    /// Recompute even when the artifact is cached.
    #[arg(long)]
    force: bool,
}

fn main() -> ExitCode {
    cli::run(|| {
        let args = Args::parse();
        let started = Instant::now();
        let store = args.store.open()?;
        let code = cli::code_identity(true);
        let compute = args.backend.select()?;
        let encoder = store.find(Some("pretrain"), &args.encoder).context("resolving --encoder")?;
        // Resolve every --noise key before the (long) graph computation, so a typo fails fast.
        let noises = args
            .noise
            .iter()
            .map(|n| store.find(Some("noise"), n).with_context(|| format!("resolving --noise {n}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let req = RelationsRequest {
            k: args.k,
            block: args.block.max(1),
            force: args.force,
            progress: args.output.progress(),
        };
        let (artifact, cached) = run_relations(&store, &encoder, &req, &compute, &code)?;
        let m = &artifact.manifest.metrics;
        args.output.say(format!(
            "relations k={} d={} over {} samples: neighbour agreement {:.4}, kNN acc {:.4} (clean labels, diagnostics)",
            m["k"], m["dim"], m["n"],
            m["neighbour_label_agreement"].as_f64().unwrap_or(f64::NAN),
            m["knn_acc"].as_f64().unwrap_or(f64::NAN),
        ));
        args.output.say_outcome(&artifact, cached, started, "");
        for noise in &noises {
            let (eval, cached) = run_graph_eval(&store, &artifact, noise, &code)?;
            let em = &eval.manifest.metrics;
            args.output.say(format!(
                "noise {} ({}, rate {:.4}): detection ROC-AUC {:.4} [{}{}]",
                short(noise.key()),
                noise.manifest.params["noise"].as_str().unwrap_or("?"),
                em["noise_rate"].as_f64().unwrap_or(f64::NAN),
                em["detection_auc"].as_f64().unwrap_or(f64::NAN),
                if cached { "cached " } else { "" },
                short(eval.key()),
            ));
        }
        if let Some(dir) = &args.npy {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let g = RelationGraph::open(&artifact)?;
            write_npy(&dir.join("embeddings.npy"), &g.embeddings, &[g.n, g.dim])?;
            write_npy(&dir.join("neighbours.npy"), &g.dst, &[g.n, g.k])?;
            write_npy(&dir.join("similarities.npy"), &g.sim, &[g.n, g.k])?;
            args.output
                .say(format!("wrote embeddings.npy, neighbours.npy, similarities.npy to {}", dir.display()));
        }
        args.output.print_result(&artifact);
        Ok(())
    })
}
