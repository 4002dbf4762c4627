//! `rmd-noise`: the noise-injection stage.

use anyhow::Context;
use clap::Parser;
use rmd_data::noise::{AsymMap, LabelFileSpec, NoiseKind, NoiseRequest, run_noise_stage};
use rmdnet::cli::{self, DataArgs, OutputArgs, StoreArgs, UsageError, short};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Inject label noise into a dataset's training labels, or import noisy labels from a file.
///
/// Writes a noise artifact (labels.parquet: index, clean_label, noisy_label, is_noisy;
/// transition.parquet: the realised transition matrix) and prints its key as the last line
/// of stdout. The same command again is a cache hit and prints the same key.
///
/// Examples:
///   rmd-noise --dataset cifar10 --noise asym --rate 0.4 --seed 1
///   rmd-noise --dataset cifar10 --noise file --labels-file cifar10n_labels.csv --label-column worse_label
#[derive(Debug, Parser)]
#[command(name = "rmd-noise", version, about, long_about, verbatim_doc_comment, args_override_self = true)]
struct Args {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    output: OutputArgs,

    /// Dataset: a name (cifar10, cifar100, mnist, fashion-mnist) resolved under --data-dir,
    /// or the key (prefix) of a dataset artifact in the store.
    #[arg(long)]
    dataset: String,

    /// Noise model: sym (uniform over other classes), sym-incl (uniform over all classes),
    /// asym (class-dependent map, see --asym-map), pair (c -> c+1), instance
    /// (instance-dependent, Xia et al. 2020), file (import from --labels-file).
    #[arg(long, value_parser = cli::choice(&NoiseKind::ALL, NoiseKind::name))]
    noise: NoiseKind,

    /// Nominal noise rate in [0, 1] (all models but file).
    #[arg(long)]
    rate: Option<f64>,

    /// Random seed; the same seed and inputs give the same labels.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Map of --noise asym: cifar10 (truck->automobile, bird->airplane, deer->horse,
    /// cat<->dog), block5 (CIFAR-100: next class in blocks of 5), superclass (CIFAR-100: next
    /// class in the true superclass). Default: cifar10 for 10 classes, block5 for 100.
    #[arg(long, value_parser = cli::choice(&AsymMap::ALL, AsymMap::name))]
    asym_map: Option<AsymMap>,

    /// CSV/TSV/Parquet file of noisy labels (--noise file), one row per training sample.
    #[arg(long, value_name = "FILE")]
    labels_file: Option<PathBuf>,

    /// Column of --labels-file holding the noisy labels (class indices or names).
    #[arg(long, value_name = "NAME")]
    label_column: Option<String>,

    /// Column of --labels-file holding the sample index (default: `index` when present,
    /// else row order).
    #[arg(long, value_name = "NAME")]
    index_column: Option<String>,

    /// Import even when the file's clean_label column disagrees with the dataset's labels.
    #[arg(long)]
    allow_clean_mismatch: bool,

    /// Recompute even when the artifact is cached (replaces it).
    #[arg(long)]
    force: bool,
}

pub fn main() -> ExitCode {
    cli::run(|| {
        let args = Args::parse();
        args.output.apply();
        let started = Instant::now();
        let store = args.store.open()?;
        let code = cli::code_identity(false);
        let kind = args.noise;
        let label_file = match (&args.labels_file, &args.label_column) {
            (Some(path), Some(column)) => Some(LabelFileSpec {
                path: path.clone(),
                column: column.clone(),
                index_column: args.index_column.clone(),
                allow_clean_mismatch: args.allow_clean_mismatch,
            }),
            (None, None) => None,
            _ => return Err(UsageError("--labels-file and --label-column go together".into()).into()),
        };
        let req =
            NoiseRequest { kind, rate: args.rate, seed: args.seed, asym_map: args.asym_map, label_file };
        let dataset = rmd_data::resolve_dataset(
            &store,
            &args.dataset,
            &args.data.sources(args.output.progress()),
            &code,
        )
        .with_context(|| format!("resolving --dataset {}", args.dataset))?;
        let (artifact, cached) = run_noise_stage(&store, &dataset, &req, &code, args.force)?;
        let m = &artifact.manifest.metrics;
        let mut summary = format!(
            "noise {}{} on {} [{}]: actual rate {:.4} ({} of {} labels changed)",
            m["noise"].as_str().unwrap_or("?"),
            m["asym_map"].as_str().map(|s| format!(" ({s})")).unwrap_or_default(),
            dataset.manifest.metrics["name"].as_str().unwrap_or("?"),
            short(dataset.key()),
            m["actual_rate"].as_f64().unwrap_or(f64::NAN),
            m["n_noisy"],
            m["n_samples"],
        );
        if let Some(r) = m["nominal_rate"].as_f64() {
            summary.push_str(&format!(", nominal {r}"));
        }
        if let Some(r) = m["source_rate"].as_f64() {
            summary.push_str(&format!(", {r:.4} of the source classes"));
        }
        args.output.say(summary);
        args.output.say_outcome(&artifact, cached, started, "");
        args.output.print_result(&artifact);
        Ok(())
    })
}
