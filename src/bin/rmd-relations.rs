//! `rmd-relations`: the relation-extraction stage.

use anyhow::Context;
use clap::Parser;
use rmd_nn::relations::external::ExternalEmbeddings;
use rmd_nn::relations::synthetic::SyntheticTeacher;
use rmd_nn::relations::{RelationGraph, write_npy};
use rmd_store::Artifact;
use rmdnet::cli::{self, BackendArgs, DataArgs, OutputArgs, StoreArgs, short};
use rmdnet::stages::relations::{
    GraphSearch, RelationsRequest, run_classifier_relations, run_external_relations, run_graph_eval,
    run_relations, run_synthetic_relations,
};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Embed every training image with a frozen RM encoder and compute each sample's top-K
/// neighbours by cosine similarity: exact, or approximate with --index ivf for large N.
///
/// Writes a relations artifact (embeddings.parquet: index, embedding; graph.parquet: src,
/// dst, rank, similarity, K rows per src sorted by rank) and prints its key as the last line
/// of stdout; the same command again is a cache hit. With --noise, also evaluates how well
/// "fraction of neighbours whose noisy label differs" detects the flipped labels (ROC-AUC),
/// as a small separate artifact per noise setting, without recomputing the graph.
///
/// With --synthetic-purity P (and --dataset instead of --encoder) the teacher is synthetic:
/// embeddings built from the dataset's CLEAN labels (class prototypes plus Gaussian noise,
/// calibrated so that the top-K neighbours agree with the clean labels a share P of the
/// time). Such an artifact says so in its params, metadata and manifest: it diagnoses how
/// RGRL responds to teacher quality, and is never a result.
///
/// With --classifier KEY the teacher is a trained rmd-distill classifier's backbone (its
/// penultimate features): a teacher that has learnt from the noisy labels, for a second
/// round of distillation where the RM teacher is weak.
///
/// With --embeddings FILE (and --dataset) the teacher is yours: embeddings computed
/// elsewhere (CLIP, DINOv2, ...), one row per training image in dataset order, optionally
/// followed by one per test image, as .npy ([rows, d] float32/float64) or Parquet (an
/// `embedding` list column, optionally an `index` column 0, 1, 2, ...). The artifact is keyed
/// by the embeddings' values, so the same numbers in either format give the same artifact.
///
/// Examples:
///   rmd-relations --encoder 3fa9c1 --k 10
///   rmd-relations --dataset cifar10 --embeddings clip.npy --k 10
///   rmd-relations --classifier 67bbb763 --k 10
///   rmd-relations --encoder 3fa9c1 --k 10 --noise 9212 --noise 695d --npy out/
///   rmd-relations --dataset cifar10 --synthetic-purity 0.9 --k 10 --seed 1
///   rmd-relations --dataset mine --embeddings emb.npy --k 10 --index ivf --min-recall 0.95
#[derive(Debug, Parser)]
#[command(
    name = "rmd-relations",
    version,
    about,
    long_about,
    verbatim_doc_comment,
    args_override_self = true
)]
struct Args {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    data: DataArgs,

    /// Key (or unique prefix) of the RM (rmd-pretrain) artifact whose encoder is the teacher.
    #[arg(
        long,
        required_unless_present_any = ["synthetic_purity", "embeddings", "classifier"],
        conflicts_with_all = ["synthetic_purity", "embeddings", "classifier"]
    )]
    encoder: Option<String>,

    /// Key (or unique prefix) of a trained classifier (an rmd-distill artifact) whose backbone
    /// is the teacher: its penultimate features on the classifier's dataset.
    #[arg(long, value_name = "KEY", conflicts_with_all = ["synthetic_purity", "embeddings", "dataset"])]
    classifier: Option<String>,

    /// Use these embeddings as the teacher (.npy or .parquet; see above) for --dataset.
    #[arg(long, value_name = "FILE", requires = "dataset", conflicts_with = "synthetic_purity")]
    embeddings: Option<PathBuf>,

    /// Build a synthetic diagnostic teacher of this top-K neighbour purity (clean-label
    /// agreement, above chance and at most 1) from the clean labels of --dataset.
    #[arg(long, value_name = "P", requires = "dataset")]
    synthetic_purity: Option<f64>,

    /// Dataset of the synthetic or external teacher: a name (cifar10, ...) or a dataset
    /// artifact key.
    #[arg(long)]
    dataset: Option<String>,

    /// Embedding dimension of the synthetic teacher.
    #[arg(long, default_value_t = 32)]
    synthetic_dim: usize,

    /// Seed of the synthetic teacher's prototypes and noise, or of the IVF index's k-means.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Subtract the mean training embedding before normalising (RM teacher): spreads out
    /// the cosine similarities of post-ReLU features, which otherwise all sit near 1.
    #[arg(long, conflicts_with = "synthetic_purity")]
    centre: bool,

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

    /// How neighbours are found: `exact` (every pair scored; the reference, and fast up to a
    /// few hundred thousand samples) or `ivf` (approximate: k-means cells, each sample
    /// scored against the members of its --ivf-probes nearest cells; for large N). The IVF
    /// graph's recall@K against exact search is measured on --recall-rows seeded rows,
    /// printed and recorded in the manifest. Its parameters and --seed are part of the key.
    #[arg(long, value_enum, default_value_t = Index::Exact, conflicts_with = "synthetic_purity")]
    index: Index,

    /// IVF: k-means cells [default: 2·√N].
    #[arg(long, value_name = "N")]
    ivf_lists: Option<usize>,

    /// IVF: cells each sample is scored against; more probes, higher recall, slower
    /// [default: 32].
    #[arg(long, value_name = "N")]
    ivf_probes: Option<usize>,

    /// IVF: k-means iterations.
    #[arg(long, value_name = "N", default_value_t = 10)]
    ivf_iterations: usize,

    /// IVF: rows of the seeded recall check (each scored against all N exactly).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    recall_rows: usize,

    /// IVF: refuse (exit 2; nothing stored) a graph whose measured recall@K is below this
    /// (0..1).
    #[arg(long, value_name = "R")]
    min_recall: Option<f64>,

    /// Recompute even when the artifact is cached.
    #[arg(long)]
    force: bool,
}

/// How neighbours are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Index {
    /// Exact search.
    Exact,
    /// Approximate inverted-file (IVF) search.
    Ivf,
}

/// Where the relations come from.
enum Teacher {
    /// An RM artifact's encoder.
    Rm(Artifact),
    /// A trained classifier's backbone.
    Classifier(Artifact),
    /// A synthetic teacher on a dataset artifact.
    Synthetic(Artifact, SyntheticTeacher),
    /// Embeddings from a file, for a dataset artifact.
    External(Artifact, ExternalEmbeddings),
}

/// The search the flags ask for; IVF flags without `--index ivf` are refused.
fn graph_search(args: &Args) -> anyhow::Result<GraphSearch> {
    if args.index == Index::Exact {
        let ivf_only = [
            ("--ivf-lists", args.ivf_lists.is_some()),
            ("--ivf-probes", args.ivf_probes.is_some()),
            ("--min-recall", args.min_recall.is_some()),
        ];
        if let Some((flag, _)) = ivf_only.iter().find(|f| f.1) {
            anyhow::bail!(rmd_nn::NnError::Invalid(format!("{flag} applies to --index ivf only")));
        }
        return Ok(GraphSearch::Exact);
    }
    if let Some(r) = args.min_recall
        && !(0.0..=1.0).contains(&r)
    {
        anyhow::bail!(rmd_nn::NnError::Invalid(format!("--min-recall {r} must be between 0 and 1")));
    }
    if args.recall_rows == 0 {
        anyhow::bail!(rmd_nn::NnError::Invalid("--recall-rows must be at least 1".into()));
    }
    Ok(GraphSearch::Ivf {
        lists: args.ivf_lists,
        probes: args.ivf_probes,
        iterations: args.ivf_iterations,
        seed: args.seed,
        recall_rows: args.recall_rows,
        min_recall: args.min_recall,
    })
}

pub fn main() -> ExitCode {
    cli::run(|| {
        let args = Args::parse();
        args.output.apply();
        if let Some(dir) = &args.npy {
            cli::check_output_dir(dir, "--npy")?;
        }
        let started = Instant::now();
        let store = args.store.open()?;
        let code = cli::code_identity(true);
        let compute = args.backend.select()?;
        // The teacher: an RM artifact, or the synthetic one (resolved before any long work).
        let dataset = || -> anyhow::Result<Artifact> {
            let what = args.dataset.as_deref().expect("clap requires --dataset");
            rmd_data::resolve_dataset(&store, what, &args.data.sources(args.output.progress()), &code)
                .with_context(|| format!("resolving --dataset {what}"))
        };
        let teacher = match (&args.encoder, &args.classifier, args.synthetic_purity, &args.embeddings) {
            (Some(e), ..) => Teacher::Rm(store.find(Some("pretrain"), e).context("resolving --encoder")?),
            (None, Some(c), ..) => {
                Teacher::Classifier(store.find(Some("distill"), c).context("resolving --classifier")?)
            }
            (None, None, Some(p), _) => {
                Teacher::Synthetic(dataset()?, SyntheticTeacher::new(p, args.synthetic_dim, args.seed))
            }
            (None, None, None, Some(file)) => {
                let emb = ExternalEmbeddings::read(file)?;
                args.output.say(format!(
                    "read {} embeddings of dimension {} from {}",
                    emb.rows,
                    emb.dim,
                    file.display()
                ));
                Teacher::External(dataset()?, emb)
            }
            (None, None, None, None) => {
                unreachable!("clap requires --encoder, --classifier, --synthetic-purity or --embeddings")
            }
        };
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
            verbose: !args.output.quiet,
            centre: args.centre,
            search: graph_search(&args)?,
        };
        let (artifact, cached) = match &teacher {
            Teacher::Rm(encoder) => run_relations(&store, encoder, &req, &compute, &code)?,
            Teacher::Classifier(classifier) => {
                run_classifier_relations(&store, classifier, &req, &compute, &code)?
            }
            Teacher::Synthetic(ds, t) => {
                args.output.say(format!(
                    "synthetic teacher of purity {} from the CLEAN labels of [{}] (a diagnostic, never a result)",
                    t.purity,
                    short(ds.key())
                ));
                run_synthetic_relations(&store, ds, t, &req, &compute, &code)?
            }
            Teacher::External(ds, emb) => run_external_relations(&store, ds, emb, &req, &compute, &code)?,
        };
        req.search.check_recall(&artifact)?;
        let m = &artifact.manifest.metrics;
        if let Some(r) = m.get("recall").filter(|r| !r.is_null()) {
            args.output.say(format!(
                "IVF graph recall@{} {:.4} against exact search (worst row {:.2}, {} seeded rows)",
                m["k"],
                r["recall_at_k"].as_f64().unwrap_or(f64::NAN),
                r["worst_row"].as_f64().unwrap_or(f64::NAN),
                r["rows"]
            ));
        }
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
            rmdnet::cli::create_output_dir(dir, "--npy")?;
            let g = RelationGraph::open(&artifact.dir)?;
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
