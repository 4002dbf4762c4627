//! `rmd`: dataset import and artifact-store tooling.

use clap::{Parser, Subcommand};
use rmdnet::cli::{self, DataArgs, OutputArgs, StoreArgs, UsageError};
use rmdnet::reproduce::{Pipeline, ReproduceOptions, STAGES, StageRunner, reproduce};
use rmdnet::store_cmd::{self, StoreCommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// rmdnet: learning with noisy labels by relation modeling and distillation.
///
/// Pipeline stages are separate binaries (rmd-noise, rmd-pretrain, rmd-relations,
/// rmd-distill); this tool imports datasets, manages the content-hashed artifact store they
/// share, and runs whole pipelines (`rmd reproduce`).
#[derive(Debug, Parser)]
#[command(name = "rmd", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect and maintain the artifact store.
    Store {
        #[command(subcommand)]
        verb: StoreCommand,
    },
    /// Import a dataset into the store (downloading it when missing and allowed); prints its key.
    Dataset {
        /// cifar10, cifar100, mnist or fashion-mnist.
        name: String,
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Run a pipeline (pipelines/NAME.toml) from raw data to a results table and plots,
    /// reusing every cached artifact.
    ///
    /// Prints a plan first (which stages are cached, which will run, estimated minutes), then
    /// runs the stage binaries as separate processes and writes results.md, results.csv and
    /// PNG/SVG plots into the report directory. The RM and relations artifacts are shared by
    /// every run (and every pipeline) of a dataset and profile. Examples:
    ///
    ///   rmd reproduce cifar10-asym --profile smoke
    ///   rmd reproduce cifar10-asym --dry-run
    ///   rmd reproduce cifar10n-worse --force distill
    #[command(verbatim_doc_comment)]
    Reproduce(ReproduceArgs),
    /// Compare RM artifacts: kNN accuracy against training minutes, as a table (Markdown, CSV)
    /// and a plot (PNG, SVG), with the diagnostics of any relations artifact built from each
    /// encoder.
    ///
    /// Each RM is given as a key or key prefix, optionally with a legend label after '='.
    /// Example:
    ///
    ///   rmd rm-curves 0f880349=simsiam a2c2646a=simclr --out reports/rm-curves
    #[command(name = "rm-curves", verbatim_doc_comment)]
    RmCurves {
        /// RM artifacts: KEY or KEY=LABEL (a key prefix is enough when it is unique).
        #[arg(required = true, value_name = "KEY[=LABEL]")]
        rm: Vec<String>,
        /// Directory for rm-curves.{md,csv,png,svg}.
        #[arg(long, value_name = "DIR", default_value = "reports/rm-curves")]
        out: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
}

fn run_rm_curves(
    rm: &[String],
    out: &std::path::Path,
    output: &OutputArgs,
    store: &StoreArgs,
) -> anyhow::Result<()> {
    let store = store.open()?;
    let curves = rmdnet::rm_curves::load_all(&store, rm).map_err(|e| UsageError(format!("{e:#}")))?;
    let files = rmdnet::rm_curves::write(out, &curves)?;
    println!("{}", rmdnet::rm_curves::markdown(&curves));
    output.say(format!("wrote {} into {}", files.join(", "), out.display()));
    Ok(())
}

#[derive(Debug, clap::Args)]
struct ReproduceArgs {
    /// Pipeline name (a file NAME.toml in the pipelines directory) or a path to a .toml file.
    pipeline: String,
    /// Profile of the pipeline: paper (ResNet-18, GPU-length schedules), cpu (about an hour on
    /// a 2-core CPU) or smoke (seconds per stage). Default: paper when built with a GPU
    /// backend, else cpu.
    #[arg(long)]
    profile: Option<String>,
    /// Print the plan and stop.
    #[arg(long)]
    dry_run: bool,
    /// Recompute this stage's artifacts even when cached (noise, pretrain, relations,
    /// distill; repeatable).
    #[arg(long, value_name = "STAGE", value_parser = STAGES)]
    force: Vec<String>,
    /// Report directory. Default: reports/PIPELINE-PROFILE.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Directory of the pipeline files. Default: ./pipelines when present, else the
    /// pipelines/ directory of the source tree this binary was built from.
    #[arg(long, env = "RMD_PIPELINES_DIR", value_name = "DIR")]
    pipelines_dir: Option<PathBuf>,
    /// Compute backend passed to the training stages (flex, wgpu, cuda).
    #[arg(long)]
    backend: Option<String>,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    output: OutputArgs,
}

fn run_reproduce(args: ReproduceArgs, store: &StoreArgs) -> anyhow::Result<()> {
    let dir = args.pipelines_dir.clone().unwrap_or_else(|| {
        let local = PathBuf::from("pipelines");
        if local.is_dir() { local } else { PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines") }
    });
    let pipeline =
        Pipeline::load(&Pipeline::locate(&args.pipeline, &dir).map_err(|e| UsageError(e.to_string()))?)
            .map_err(|e| UsageError(format!("{e:#}")))?;
    let gpu_build = rmd_nn::BackendKind::default_for_build() != rmd_nn::BackendKind::Flex;
    let profile = args.profile.clone().unwrap_or_else(|| if gpu_build { "paper" } else { "cpu" }.to_string());
    pipeline.profile(&profile).map_err(|e| UsageError(e.to_string()))?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports").join(format!("{}-{profile}", pipeline.name)));
    let runner = StageRunner::beside_current_exe(
        &store.store,
        &args.data.data_dir,
        args.data.no_download,
        args.backend.clone(),
    )?;
    let opts = ReproduceOptions {
        pipeline,
        profile,
        dry_run: args.dry_run || store.plan,
        force: args.force.clone(),
        out: out.clone(),
        verbose: !args.output.quiet,
    };
    reproduce(&opts, &runner)?;
    if !opts.dry_run {
        let md = std::fs::read_to_string(out.join("results.md"))?;
        println!("{md}");
        println!("{}", out.join("results.md").display());
    }
    Ok(())
}

fn main() -> ExitCode {
    cli::run(|| {
        let args = Cli::parse();
        match args.command {
            Command::Store { verb } => store_cmd::run(verb, &args.store),
            Command::Dataset { name, data, output } => {
                let store = args.store.open()?;
                let a = rmd_data::resolve_dataset(
                    &store,
                    &name,
                    &data.sources(output.progress()),
                    &cli::code_identity(false),
                )?;
                output.say(format!(
                    "dataset {} ({} train / {} test images, {} classes)",
                    a.manifest.metrics["name"].as_str().unwrap_or("?"),
                    a.manifest.metrics["n_train"],
                    a.manifest.metrics["n_test"],
                    a.manifest.metrics["num_classes"],
                ));
                output.print_result(&a);
                Ok(())
            }
            Command::Reproduce(r) => run_reproduce(r, &args.store),
            Command::RmCurves { rm, out, output } => run_rm_curves(&rm, &out, &output, &args.store),
        }
    })
}
