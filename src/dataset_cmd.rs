//! `rmd dataset`: import a known dataset from the data directory, or another source
//! (`--from KIND PATH`: torchvision's CIFAR files, an image folder, an image list) under a
//! name that `--dataset NAME` then finds.

use crate::cli::{self, DataArgs, OutputArgs, StoreArgs, UsageError};
use clap::{Args, ValueEnum};
use rmd_data::import::images::{Fit, ImageImportOptions, parse_size};
use rmd_data::import::{SourceKind, import_source};
use std::path::PathBuf;

/// How images of another size are fitted to `--size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FitArg {
    /// Scale so the shorter side fits, then cut out the centre (keeps the aspect ratio).
    Crop,
    /// Scale width and height independently (distorts other aspect ratios).
    Stretch,
}

/// Arguments of `rmd dataset`.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct DatasetArgs {
    /// A known dataset: cifar10, cifar100, mnist or fashion-mnist, read from the data
    /// directory (official binary/IDX files or archives). Not used with --from.
    #[arg(required_unless_present = "from", conflicts_with = "from")]
    pub name: Option<String>,
    /// Import another source instead: KIND is cifar-python (torchvision's
    /// cifar-10-python.tar.gz / cifar-100-python.tar.gz, md5-checked, or the extracted
    /// cifar-10-batches-py/ or cifar-100-python/), image-folder (ROOT/train/<class>/*.png|jpg
    /// and ROOT/test/<class>/..., or ROOT/<class>/... with --test-fraction) or image-list
    /// (a CSV, TSV or Parquet file with columns path, label and optionally split =
    /// train|test; paths relative to the file).
    #[arg(long, num_args = 2, value_names = ["KIND", "PATH"])]
    pub from: Option<Vec<String>>,
    /// Dataset name for --from (letters, digits, '-', '_', '.'); other stages then take
    /// `--dataset NAME`. Default: cifar10/cifar100 for cifar-python (the same dataset, and
    /// key, as the binary version), else the folder or list file name.
    #[arg(long = "name", value_name = "NAME", requires = "from")]
    pub dataset_name: Option<String>,
    /// Image folders and lists: bring every image to this size, N or WIDTHxHEIGHT (e.g. 32
    /// or 64x48). Default: keep the size, which every image must then share.
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub size: Option<(u32, u32)>,
    /// How images of another size are fitted to --size.
    #[arg(long, value_enum, default_value_t = FitArg::Crop)]
    pub fit: FitArg,
    /// Channels of the imported images: 1 (grey) or 3 (RGB). Default: 1 when every image is
    /// grey, else 3.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
    pub channels: Option<u8>,
    /// For sources without a test split (no test/ folder, no split column): hold out this
    /// share of each class as the test split, drawn with --seed.
    #[arg(long, value_name = "F")]
    pub test_fraction: Option<f64>,
    /// Seed of the --test-fraction draw.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub plan: cli::PlanArgs,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Runs `rmd dataset`.
pub fn run(a: DatasetArgs, store_args: &StoreArgs) -> anyhow::Result<()> {
    let store = store_args.open()?;
    let artifact = match &a.from {
        None => {
            let name = a.name.as_deref().expect("clap requires a name without --from");
            rmd_data::resolve_dataset(
                &store,
                name,
                &a.data.sources(a.output.progress()),
                &cli::code_identity(false),
            )?
        }
        Some(from) => {
            let kind = SourceKind::parse(&from[0]).map_err(|e| UsageError(format!("--from: {e}")))?;
            let path = PathBuf::from(&from[1]);
            let name = match (&a.dataset_name, kind) {
                (Some(n), _) => n.clone(),
                (None, SourceKind::CifarPython) => String::new(),
                (None, _) => path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .map(String::from)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        UsageError(format!("{}: give the dataset a name with --name", path.display()))
                    })?,
            };
            if kind == SourceKind::CifarPython
                && (a.size.is_some() || a.channels.is_some() || a.test_fraction.is_some())
            {
                return Err(UsageError("--size, --channels and --test-fraction apply to image folders and lists, not to cifar-python".into()).into());
            }
            let opts = ImageImportOptions {
                name,
                size: a.size,
                fit: match a.fit {
                    FitArg::Crop => Fit::Crop,
                    FitArg::Stretch => Fit::Stretch,
                },
                channels: a.channels.map(usize::from),
                test_fraction: a.test_fraction,
                seed: a.seed,
                progress: a.output.progress(),
            };
            import_source(&store, kind, &path, &opts, &cli::code_identity(false), a.output.quiet)?
        }
    };
    let m = &artifact.manifest.metrics;
    a.output.say(format!(
        "dataset {} ({} train / {} test images, {} classes, shape {})",
        m["name"].as_str().unwrap_or("?"),
        m["n_train"],
        m["n_test"],
        m["num_classes"],
        m["shape"],
    ));
    a.output.print_result(&artifact);
    Ok(())
}
