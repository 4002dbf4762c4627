//! `rmd`: dataset import and artifact-store tooling.

use anyhow::Context;
use clap::{Parser, Subcommand};
use rmdnet::cli::{self, BackendArgs, DataArgs, OutputArgs, PlanArgs, StoreDirArgs, UsageError};
use rmdnet::label_issues::{LabelIssueInputs, LabelIssueParams, LabelIssueSummary, run_label_issues};
use rmdnet::predict::{SplitChoice, predict_to_parquet};
use rmdnet::reproduce::{Pipeline, ReproduceOptions, STAGES, StageRunner, reproduce};
use rmdnet::store_cmd::{self, StoreCommand};
use std::path::PathBuf;
use std::process::ExitCode;

// `rmd` is also each stage binary when started under that binary's name (through a link
// named `rmd-pretrain` that points at it, say): one executable instead of five where size
// matters, as in the bundle `just gpu-bundle` makes for a GPU machine.
#[path = "rmd-distill.rs"]
mod distill_stage;
#[path = "rmd-noise.rs"]
mod noise_stage;
#[path = "rmd-pretrain.rs"]
mod pretrain_stage;
#[path = "rmd-relations.rs"]
mod relations_stage;

/// The stage whose `main` runs when `rmd` was started under that stage binary's name.
fn stage_invoked_as() -> Option<fn() -> ExitCode> {
    let arg0 = std::env::args_os().next()?;
    let name = std::path::Path::new(&arg0).file_name()?.to_str()?.to_string();
    match name.as_str() {
        "rmd-noise" => Some(noise_stage::main),
        "rmd-pretrain" => Some(pretrain_stage::main),
        "rmd-relations" => Some(relations_stage::main),
        "rmd-distill" => Some(distill_stage::main),
        _ => None,
    }
}

/// rmdnet: learning with noisy labels by relation modeling and distillation.
///
/// Pipeline stages are separate binaries (rmd-noise, rmd-pretrain, rmd-relations,
/// rmd-distill); this tool imports datasets, manages the content-hashed artifact store they
/// share, and runs whole pipelines (`rmd reproduce`).
#[derive(Debug, Parser)]
#[command(name = "rmd", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    store: StoreDirArgs,
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
    /// Import a dataset into the store and print its key: a known dataset from the data
    /// directory (downloading it when missing and allowed), or with --from torchvision's CIFAR
    /// files, an image folder or an image list under a name. Examples:
    ///
    ///   rmd dataset cifar10
    ///   rmd dataset --from cifar-python ~/data/cifar-10-python.tar.gz
    ///   rmd dataset --from image-folder ~/data/animals --name animals --size 32
    ///   rmd dataset --from image-list labels.csv --name shop --size 64 --test-fraction 0.2
    #[command(
        verbatim_doc_comment,
        about = "Import a dataset (known, torchvision files, image folder or list) and print its key"
    )]
    Dataset(rmdnet::dataset_cmd::DatasetArgs),
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
    #[command(
        verbatim_doc_comment,
        about = "Run a pipeline from raw data to a results table and plots, cached"
    )]
    Reproduce(ReproduceArgs),
    /// Compare RM artifacts: kNN accuracy against training minutes, as a table (Markdown, CSV)
    /// and a plot (PNG, SVG), with the diagnostics of any relations artifact built from each
    /// encoder.
    ///
    /// Each RM is given as a key or key prefix, optionally with a legend label after '='.
    /// Example:
    ///
    ///   rmd rm-curves 0f880349=simsiam a2c2646a=simclr --out reports/rm-curves
    #[command(
        name = "rm-curves",
        verbatim_doc_comment,
        about = "Compare RM artifacts: kNN accuracy against training minutes"
    )]
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
    /// Find the training labels that are probably wrong, without clean labels (a cached
    /// stage; prints its key last).
    ///
    /// Each sample's evidence is the similarity-weighted vote of its K teacher neighbours'
    /// given labels, mixed with a trained classifier's probabilities when --classifier is
    /// given. score = 1 − p(given label); a sample is flagged when another class is more
    /// likely, and that class is suggested. The artifact holds label_issues.parquet (one row
    /// per training sample: index, given_label, suggested_label, score, rank, flagged, ...),
    /// contact_sheet.png and contact_sheet.html (the top suspects). When the noise artifact
    /// changed labels (synthetic noise, CIFAR-10N), precision, recall and ROC-AUC against the
    /// clean labels are added. Example:
    ///
    ///   rmd label-issues --noise 695d3437 --relations 1a0123b1
    #[command(
        name = "label-issues",
        verbatim_doc_comment,
        about = "Find the training labels that are probably wrong (a cached stage)"
    )]
    LabelIssues(LabelIssuesArgs),
    /// Predict a dataset split with a trained classifier and write the predictions as
    /// Parquet (index, predicted_label, predicted_class, confidence, label, correct,
    /// probabilities); prints the accuracy against the split's labels.
    ///
    ///   rmd predict --classifier 67bbb763 --dataset cifar10 --split test --out predictions.parquet
    #[command(verbatim_doc_comment, about = "Predict a dataset split with a trained classifier, as Parquet")]
    Predict(PredictArgs),
    /// Export a classifier's (rmd-distill artifact) or an RM encoder's (rmd-pretrain
    /// artifact) weights as SafeTensors in PyTorch's conventions, with export.json (the
    /// architecture, input normalisation and class names). python/rmdnet_torch.py rebuilds
    /// the PyTorch module from the directory:
    ///
    ///   rmd export 67bbb763 --out exported/
    ///   python3 -c "import rmdnet_torch; m, info = rmdnet_torch.load('exported')"
    #[command(
        verbatim_doc_comment,
        about = "Export a classifier's or RM encoder's weights as SafeTensors for PyTorch"
    )]
    Export {
        /// The artifact (key or unique prefix): a classifier or an RM encoder.
        #[arg(value_name = "KEY")]
        artifact: String,
        /// Directory for the weights and export.json (created if missing; files replaced).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Time one training step on this machine's backend: the RM stage's SimSiam step or the
    /// RGRL stage's supervised step, with a profile's network and batch size, on synthetic
    /// 32×32 images. Prints images per second (median, min and max of the timed steps).
    /// Examples:
    ///
    ///   rmd bench-step                                   # SimSiam, the default profile
    ///   rmd bench-step --backend wgpu --profile paper    # ResNet-18, batch 512
    ///   rmd bench-step --objective supervised --json
    #[command(
        name = "bench-step",
        verbatim_doc_comment,
        about = "Time one training step (SimSiam or supervised) on this machine"
    )]
    BenchStep(rmdnet::bench_step::BenchStepArgs),
}

impl Command {
    /// The subcommand's output flags, when it has them.
    fn output(&self) -> Option<&OutputArgs> {
        match self {
            Command::Store { .. } => None,
            Command::Dataset(d) => Some(&d.output),
            Command::Reproduce(r) => Some(&r.output),
            Command::RmCurves { output, .. } | Command::Export { output, .. } => Some(output),
            Command::LabelIssues(a) => Some(&a.output),
            Command::Predict(a) => Some(&a.output),
            Command::BenchStep(_) => None,
        }
    }
}

#[derive(Debug, clap::Args)]
struct LabelIssuesArgs {
    /// The noise artifact whose labels are checked (key or unique prefix).
    #[arg(long, value_name = "KEY")]
    noise: String,
    /// The relations artifact (the teacher's neighbour graph) over the same dataset.
    #[arg(long, value_name = "KEY")]
    relations: String,
    /// A classifier (rmd-distill artifact) trained on the dataset, whose probabilities are
    /// mixed into the evidence.
    #[arg(long, value_name = "KEY")]
    classifier: Option<String>,
    /// Temperature of the neighbours' similarity weights (smaller: nearer neighbours count
    /// more; large: every neighbour counts the same).
    #[arg(long, default_value_t = 0.1, value_name = "TAU")]
    neighbour_tau: f64,
    /// Weight of the classifier's probabilities in the evidence, in [0, 1] (with --classifier).
    #[arg(long, default_value_t = 0.5, value_name = "W")]
    classifier_weight: f64,
    /// Suspects on the contact sheet.
    #[arg(long, default_value_t = 48, value_name = "N")]
    sheet: usize,
    /// Recompute even when cached.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    plan: PlanArgs,
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    output: OutputArgs,
}

fn run_label_issues_cmd(args: LabelIssuesArgs, store: &StoreDirArgs) -> anyhow::Result<()> {
    let store = &store.with_plan(args.plan);
    let started = std::time::Instant::now();
    if !(args.neighbour_tau > 0.0 && args.neighbour_tau.is_finite()) {
        return Err(UsageError(format!("--neighbour-tau must be > 0, got {}", args.neighbour_tau)).into());
    }
    if !(0.0..=1.0).contains(&args.classifier_weight) {
        return Err(UsageError(format!(
            "--classifier-weight must be in [0, 1], got {}",
            args.classifier_weight
        ))
        .into());
    }
    if args.sheet == 0 || args.sheet > 1000 {
        return Err(UsageError(format!("--sheet must be in 1..=1000, got {}", args.sheet)).into());
    }
    let st = store.open()?;
    let noise = st.find(Some("noise"), &args.noise).context("resolving --noise")?;
    let relations = st.find(Some("relations"), &args.relations).context("resolving --relations")?;
    let classifier = args
        .classifier
        .as_deref()
        .map(|c| st.find(Some("distill"), c).context("resolving --classifier"))
        .transpose()?;
    let params = LabelIssueParams {
        neighbour_tau: args.neighbour_tau,
        classifier_weight: classifier.is_some().then_some(args.classifier_weight),
        sheet: args.sheet,
    };
    let compute = args.backend.select()?;
    let inputs = LabelIssueInputs { noise: &noise, relations: &relations, classifier: classifier.as_ref() };
    let (artifact, cached) =
        run_label_issues(&st, inputs, &params, args.force, &compute, &cli::code_identity(true))?;
    let s = LabelIssueSummary::from_artifact(&artifact);
    args.output.say(format!(
        "{} of {} labels flagged ({:.1}%)",
        s.flagged,
        s.n,
        100.0 * s.flagged as f64 / s.n.max(1) as f64
    ));
    if let Some(q) = s.quality {
        args.output.say(format!(
            "against the clean labels ({} wrong): precision {:.4}, recall {:.4}, F1 {:.4}, precision in the top {} {:.4}, ROC-AUC {}",
            q.true_issues,
            q.precision,
            q.recall,
            q.f1,
            q.true_issues,
            q.precision_at_true_count,
            q.roc_auc.map_or("n/a".into(), |a| format!("{a:.4}"))
        ));
    }
    args.output.say(format!("contact sheet: {}", artifact.path("contact_sheet.html").display()));
    args.output.say_outcome(&artifact, cached, started, "");
    args.output.print_result(&artifact);
    Ok(())
}

#[derive(Debug, clap::Args)]
struct PredictArgs {
    /// The classifier: an rmd-distill artifact (key or unique prefix).
    #[arg(long, value_name = "KEY")]
    classifier: String,
    /// Dataset to predict: a known name (cifar10, ...) or a dataset artifact key. Default:
    /// the dataset the classifier was trained on.
    #[arg(long, value_name = "NAME|KEY")]
    dataset: Option<String>,
    /// Which split to predict.
    #[arg(long, value_enum, default_value_t = SplitChoice::Test)]
    split: SplitChoice,
    /// Output Parquet file (replaced if it exists).
    #[arg(long, value_name = "FILE", default_value = "predictions.parquet")]
    out: PathBuf,
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    output: OutputArgs,
}

fn run_predict(args: PredictArgs, store: &StoreDirArgs) -> anyhow::Result<()> {
    let st = store.open()?;
    let classifier = st.find(Some("distill"), &args.classifier).context("resolving --classifier")?;
    let dataset = match &args.dataset {
        Some(what) => rmd_data::resolve_dataset(
            &st,
            what,
            &args.data.sources(args.output.progress()),
            &cli::code_identity(false),
        )
        .with_context(|| format!("resolving --dataset {what}"))?,
        None => {
            let key = classifier.manifest.inputs.get("dataset").cloned().unwrap_or_default();
            st.find(Some("dataset"), &key).context("finding the classifier's dataset")?
        }
    };
    let compute = args.backend.select()?;
    let s = predict_to_parquet(&classifier, &dataset, args.split, &args.out, &compute)?;
    println!(
        "{} {} images: accuracy {:.4} against the stored labels",
        s.n,
        format!("{:?}", args.split).to_lowercase(),
        s.accuracy
    );
    if let Some(m) = s.manifest_test_acc {
        let same = if m == s.accuracy { "identical" } else { "DIFFERENT" };
        println!("the classifier's manifest says last_test_acc {m:.4}: {same}");
    }
    println!("{}", args.out.display());
    Ok(())
}

fn run_rm_curves(
    rm: &[String],
    out: &std::path::Path,
    output: &OutputArgs,
    store: &StoreDirArgs,
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
    /// Profile of the pipeline, one its file defines: most have paper (ResNet-18, GPU-length
    /// schedules), cpu (about an hour on a 2-core CPU) and smoke (seconds per stage); the
    /// CIFAR-10 ones also cpu-full (the full training set, hours on a CPU). Default: paper
    /// when built with a GPU backend, else cpu.
    #[arg(long)]
    profile: Option<String>,
    /// Print the plan and stop (--plan is the same).
    #[arg(long, visible_alias = "plan")]
    dry_run: bool,
    /// Compute nothing (but the dataset record): write the report from the planned runs
    /// already in the store, leaving out the others and listing them as pending in
    /// results.md. Shows the table so far of a long pipeline, also while it runs in another
    /// terminal (give that report its own --out).
    #[arg(long, conflicts_with_all = ["dry_run", "force", "push"])]
    cached_only: bool,
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
    /// Pull every planned artifact this remote has (a configured name or a URL, as for `rmd
    /// store pull`) before computing anything; the plan marks them "remote". Its dataset
    /// record lets a machine without the raw files pull the dataset too.
    #[arg(long, value_name = "NAME|URL")]
    remote: Option<String>,
    /// After the run, upload every artifact of the plan and the dataset's name record to
    /// --remote (what is already there is skipped).
    #[arg(long, requires = "remote")]
    push: bool,
    /// When --remote names the pipeline's dataset as another artifact than this store's
    /// dataset name points at, use the remote's (repoint the name). Without it this store's
    /// own dataset stands and a warning says so.
    #[arg(long, requires = "remote")]
    adopt_remote_dataset: bool,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    output: OutputArgs,
}

fn run_reproduce(args: ReproduceArgs, store: &StoreDirArgs) -> anyhow::Result<()> {
    let dir = rmdnet::reproduce::pipelines_dir(args.pipelines_dir.as_deref());
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
        args.output.quiet,
    )?;
    let opts = ReproduceOptions {
        pipeline,
        profile,
        dry_run: args.dry_run,
        cached_only: args.cached_only,
        force: args.force.clone(),
        out: out.clone(),
        verbose: !args.output.quiet,
        remote: args.remote.clone(),
        push: args.push,
        adopt_remote_dataset: args.adopt_remote_dataset,
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
    if let Some(stage_main) = stage_invoked_as() {
        return stage_main();
    }
    cli::run(|| {
        let args = Cli::parse();
        if let Some(output) = args.command.output() {
            output.apply();
        }
        match args.command {
            Command::Store { verb } => store_cmd::run(verb, &args.store),
            Command::Dataset(d) => {
                let store = args.store.with_plan(d.plan);
                rmdnet::dataset_cmd::run(d, &store)
            }
            Command::Reproduce(r) => run_reproduce(r, &args.store),
            Command::RmCurves { rm, out, output } => run_rm_curves(&rm, &out, &output, &args.store),
            Command::LabelIssues(a) => run_label_issues_cmd(a, &args.store),
            Command::Predict(a) => run_predict(a, &args.store),
            Command::BenchStep(a) => rmdnet::bench_step::run(&a),
            Command::Export { artifact, out, output } => {
                let st = args.store.open()?;
                let a = st.find(None, &artifact).with_context(|| format!("resolving {artifact}"))?;
                for path in rmdnet::export::export(&a, &out)? {
                    output.say(format!("wrote {}", path.display()));
                }
                println!("{}", out.display());
                Ok(())
            }
        }
    })
}
