//! `rmd-pretrain`: the RM stage (self-supervised pre-training, SimSiam or SimCLR; labels
//! unused).

use anyhow::Context;
use clap::Parser;
use rmd_nn::BackendKind;
use rmd_nn::pretrain::{Profile, RmMethod};
use rmdnet::cli::{self, BackendArgs, DataArgs, OutputArgs, StoreArgs, UsageError, parse_arch, short};
use rmdnet::stages::pretrain::{PretrainRequest, run_pretrain};
use std::process::ExitCode;
use std::time::Instant;

/// Pre-train an encoder with SimSiam or SimCLR on all training images of a dataset (labels
/// are never read, so one RM artifact serves every noise setting of the dataset).
///
/// Writes an RM artifact (encoder.bpk, simsiam.bpk or simclr.bpk, model.json, epochs.csv)
/// and prints its key as the last line of stdout; the same command again is a cache hit. A
/// weighted kNN monitor (k neighbours, clean labels, a diagnostic only) reports
/// representation quality. Checkpoints are written after every epoch; after an
/// interruption, the same command with --resume continues from the last one.
///
/// Examples:
///   rmd-pretrain --dataset cifar10 --profile smoke
///   rmd-pretrain --dataset cifar10 --profile cpu --epochs 20 --resume
///   rmd-pretrain --dataset cifar10 --method simclr --temperature 0.5 --epochs 10
#[derive(Debug, Parser)]
#[command(name = "rmd-pretrain", version, about, long_about, verbatim_doc_comment, args_override_self = true)]
struct Args {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    backend: BackendArgs,

    /// Dataset: a name (cifar10, cifar100, mnist, fashion-mnist) or a dataset artifact key.
    #[arg(long)]
    dataset: String,

    /// Parameter set: smoke (seconds: a few hundred images, a tiny network), cpu (small
    /// residual networks sized for a 2-core CPU, 9 epochs), cpu-full (the cpu RM for 30
    /// epochs, about 65 minutes on 2 cores), paper (ResNet-18, 800 epochs, a GPU job);
    /// the flags below override single values. Default: paper when built with a GPU
    /// backend, else cpu.
    #[arg(long, value_parser = cli::choice(&Profile::ALL, Profile::name))]
    profile: Option<Profile>,

    /// Self-supervised objective: simsiam (predictor + stop-gradient, no negatives) or simclr
    /// (NT-Xent: each view must find its pair among the batch's 2B − 2 other views).
    /// Default: the profile's (simsiam).
    #[arg(long, value_enum)]
    method: Option<MethodArg>,

    /// SimCLR's softmax temperature τ (only with --method simclr). Default: 0.5.
    #[arg(long)]
    temperature: Option<f64>,

    /// Seed of initialisation, sample order and augmentation.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Override: epochs.
    #[arg(long)]
    epochs: Option<usize>,

    /// Override: batch size (images; each gives two views).
    #[arg(long)]
    batch_size: Option<usize>,

    /// Override: train on the first N images of a seeded permutation of the training set.
    #[arg(long)]
    images: Option<usize>,

    /// Override: base learning rate (lr = base · batch / 256).
    #[arg(long)]
    base_lr: Option<f64>,

    /// Override: warm-up epochs before the cosine decay.
    #[arg(long)]
    warmup_epochs: Option<usize>,

    /// Override the encoder: resnet18, or small:WIDTH:STAGES:BLOCKS[:STEM_STRIDE] (e.g.
    /// small:16:3:1; small:32:3:1:2 is the cpu profile's network, stem stride 2).
    #[arg(long, value_name = "ARCH")]
    arch: Option<String>,

    /// Override: projector output dimension.
    #[arg(long)]
    proj_dim: Option<usize>,

    /// Override: predictor bottleneck dimension.
    #[arg(long)]
    pred_hidden: Option<usize>,

    /// Override: run the kNN monitor every N epochs (0: only after the last).
    #[arg(long)]
    knn_every: Option<usize>,

    /// Continue an interrupted run of the same parameters from its last checkpoint.
    #[arg(long)]
    resume: bool,

    /// Recompute even when the artifact is cached.
    #[arg(long)]
    force: bool,
}

/// `--method` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MethodArg {
    /// SimSiam (Chen & He 2021).
    Simsiam,
    /// SimCLR (Chen et al. 2020).
    Simclr,
}

/// The objective the flags ask for, starting from the profile's.
fn method(
    profile: RmMethod,
    arg: Option<MethodArg>,
    temperature: Option<f64>,
) -> Result<RmMethod, UsageError> {
    let chosen = match arg {
        None => profile,
        Some(MethodArg::Simsiam) => RmMethod::SimSiam,
        Some(MethodArg::Simclr) => match profile {
            RmMethod::SimClr { .. } => profile,
            RmMethod::SimSiam => RmMethod::SimClr { temperature: RmMethod::DEFAULT_SIMCLR_TEMPERATURE },
        },
    };
    match (chosen, temperature) {
        (_, None) => Ok(chosen),
        (RmMethod::SimClr { .. }, Some(t)) => Ok(RmMethod::SimClr { temperature: t }),
        (RmMethod::SimSiam, Some(_)) => {
            Err(UsageError("--temperature is SimCLR's: add --method simclr, or drop it".into()))
        }
    }
}

pub fn main() -> ExitCode {
    cli::run(|| {
        let args = Args::parse();
        args.output.apply();
        let started = Instant::now();
        let store = args.store.open()?;
        let code = cli::code_identity(true);
        let backend: BackendKind = args.backend.kind()?;
        let profile = args.profile.unwrap_or(Profile::default_for(backend));
        let dataset = rmd_data::resolve_dataset(
            &store,
            &args.dataset,
            &args.data.sources(args.output.progress()),
            &code,
        )
        .with_context(|| format!("resolving --dataset {}", args.dataset))?;
        let info = rmd_data::dataset::DatasetInfo::read(&dataset)?;
        let channels = info.channels;
        let mut params = profile.pretrain_params(channels, args.seed);
        params.method = method(params.method, args.method, args.temperature)?;
        if let Some(a) = &args.arch {
            params.model.encoder = parse_arch(a, channels)?;
        }
        macro_rules! set {
            ($flag:expr, $field:expr) => {
                if let Some(v) = $flag {
                    $field = v;
                }
            };
        }
        set!(args.epochs, params.epochs);
        set!(args.batch_size, params.batch_size);
        set!(args.base_lr, params.base_lr);
        set!(args.warmup_epochs, params.warmup_epochs);
        set!(args.proj_dim, params.model.proj_dim);
        set!(args.pred_hidden, params.model.pred_hidden);
        set!(args.knn_every, params.knn.every);
        cli::check_training_memory(
            &params.model.encoder,
            2 * params.batch_size,
            info.height,
            info.width,
            backend,
        )?;
        if let Some(n) = args.images
            && n > info.n_train
        {
            return Err(UsageError(format!(
                "--images {n}: {} has only {} training images (omit --images to use all)",
                info.name, info.n_train
            ))
            .into());
        }
        if args.images.is_some() {
            params.images = args.images;
        }
        let compute = args.backend.select()?;
        args.output.say(format!(
            "{} on {} [{}], profile {}, {} epochs, batch {}, {} on {}",
            params.method.name(),
            info.name,
            short(dataset.key()),
            profile.name(),
            params.epochs,
            params.batch_size,
            params.model.encoder.describe(),
            compute.description
        ));
        let req = PretrainRequest {
            params,
            profile,
            resume: args.resume,
            force: args.force,
            progress: args.output.progress(),
            verbose: !args.output.quiet,
        };
        let (artifact, cached) = run_pretrain(&store, &dataset, &req, &compute, &code)?;
        let m = &artifact.manifest.metrics;
        let detail = format!(
            ": final loss {:.4}, kNN acc {} (diagnostic, clean labels), {:.0} img/s",
            m["final_loss"].as_f64().unwrap_or(f64::NAN),
            m["final_knn_acc"].as_f64().map(|a| format!("{a:.4}")).unwrap_or("-".into()),
            m["images_per_s"].as_f64().unwrap_or(f64::NAN),
        );
        args.output.say_outcome(&artifact, cached, started, &detail);
        args.output.print_result(&artifact);
        Ok(())
    })
}
