//! `rmd-distill`: the RGRL stage (classifier training on noisy labels, optionally with
//! relation distillation from an RM teacher).

use anyhow::Context;
use clap::Parser;
use rmd_nn::BackendKind;
use rmd_nn::distill::{BaseLoss, LrSchedule, Profile, RelationWeightSchedule};
use rmdnet::cli::{self, BackendArgs, OutputArgs, StoreArgs, UsageError, parse_arch, short};
use rmdnet::stages::distill::{DistillInputs, DistillRequest, run_distill};
use std::process::ExitCode;
use std::time::Instant;

/// Train a classifier on the noisy labels of a noise artifact with a base loss (CE, GCE, SCE,
/// ELR) and, with --relations, the RGRL regulariser that distils the RM teacher's relations:
/// L = L_base + λ_node·L_node + λ_edge·L_edge + λ_graph·L_graph (a weight of 0 switches a
/// term off, so ablations are parameter changes).
///
/// The dataset is the one the noise artifact labels. Writes an RGRL artifact (classifier.bpk,
/// model.json, epochs.csv with per-epoch losses, clean test accuracy and the memorisation
/// of flipped samples, per_class.csv, confusion.csv) and prints its key as the last line of
/// stdout; the same command again is a cache hit. Checkpoints are written after every
/// epoch; after an interruption, the same command with --resume continues from the last one.
///
/// Examples:
///   rmd-distill --noise 9212 --loss ce --profile smoke
///   rmd-distill --noise 9212 --relations 6ff8 --loss gce --profile cpu
///   rmd-distill --noise 9212 --relations 6ff8 --loss ce --edge-weight 0 --graph-weight 0
#[derive(Debug, Parser)]
#[command(name = "rmd-distill", version, about, long_about, verbatim_doc_comment, args_override_self = true)]
struct Args {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    backend: BackendArgs,

    /// Key (or unique prefix) of the noise (rmd-noise) artifact: the labels to train on.
    #[arg(long)]
    noise: String,

    /// Key (or unique prefix) of the relations (rmd-relations) artifact: the teacher. Without
    /// it the run is the plain base-loss baseline.
    #[arg(long, value_name = "KEY")]
    relations: Option<String>,

    /// Base loss; its parameters default to the usual CIFAR-10 values (CIFAR-100 values for
    /// datasets with 100 or more classes) and can be overridden below.
    #[arg(long, value_enum, default_value_t = LossArg::Ce)]
    loss: LossArg,

    /// Parameter set: smoke (seconds: a few hundred images, a tiny network), cpu (small
    /// residual networks sized for a 2-core CPU, 10,000 images, 8 epochs), cpu-full (the cpu
    /// network on every training image, 24 epochs, lr 0.1, label smoothing 0.1 for CE: about
    /// 22-27 minutes a run on 2 cores), paper (ResNet-18, 120 epochs, a GPU job);
    /// the flags below override single values. Default: paper when built with a GPU
    /// backend, else cpu.
    #[arg(long, value_parser = cli::choice(&Profile::ALL, Profile::name))]
    profile: Option<Profile>,

    /// Seed of initialisation, sample order and augmentation.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Override: epochs.
    #[arg(long)]
    epochs: Option<usize>,

    /// Override: batch size.
    #[arg(long)]
    batch_size: Option<usize>,

    /// Override: train on the first N images of a seeded permutation of the training images
    /// outside the validation split (0: all of them).
    #[arg(long)]
    images: Option<usize>,

    /// Override: peak learning rate.
    #[arg(long)]
    lr: Option<f64>,

    /// Override: schedule, `cosine`, `cosine:WARMUP_EPOCHS` or `multistep:M1,M2:GAMMA`.
    #[arg(long)]
    schedule: Option<String>,

    /// Override: weight decay.
    #[arg(long)]
    weight_decay: Option<f64>,

    /// Override the backbone: resnet18, or small:WIDTH:STAGES:BLOCKS[:STEM_STRIDE] (e.g.
    /// small:16:3:1; small:32:3:1:2 is the cpu profile's network, stem stride 2).
    #[arg(long, value_name = "ARCH")]
    arch: Option<String>,

    /// Initialise the backbone from this RM (rmd-pretrain) artifact's encoder (same
    /// architecture as the backbone).
    #[arg(long, value_name = "KEY")]
    init_from_rm: Option<String>,

    /// Prune and retrain: leave out of training every sample that this label-issues artifact
    /// (`rmd label-issues` over the same noise artifact) flags as probably mislabelled. The
    /// validation split is unchanged, so the selection is judged as for any other run.
    #[arg(long, value_name = "KEY")]
    drop_flagged: Option<String>,

    /// Override: test images evaluated each epoch (0: all).
    #[arg(long)]
    test_images: Option<usize>,

    /// Override: training images held out as the noisy validation split (0: none). The split
    /// is the same for every seed and never trained on; the reported epoch is the one with
    /// the best accuracy on it against its noisy labels. Default: 5000 (smoke: 64).
    #[arg(long)]
    val_images: Option<usize>,

    /// CE: label smoothing ε, the target (1 − ε)·one-hot + ε/C (0: none, the default; only
    /// with --loss ce).
    #[arg(long, value_name = "EPS")]
    label_smoothing: Option<f64>,

    /// GCE: exponent q.
    #[arg(long)]
    gce_q: Option<f64>,

    /// SCE: weight α of CE.
    #[arg(long)]
    sce_alpha: Option<f64>,

    /// SCE: weight β of reverse CE.
    #[arg(long)]
    sce_beta: Option<f64>,

    /// ELR: regulariser weight λ.
    #[arg(long)]
    elr_lambda: Option<f64>,

    /// ELR: target momentum β.
    #[arg(long)]
    elr_beta: Option<f64>,

    /// RGRL: weight of L_node (0: off). Default 0.3.
    #[arg(long)]
    node_weight: Option<f64>,

    /// RGRL: weight of L_edge (0: off). Default 0.3.
    #[arg(long)]
    edge_weight: Option<f64>,

    /// RGRL: weight of L_graph (0: off). Default 0.3.
    #[arg(long)]
    graph_weight: Option<f64>,

    /// RGRL: teacher temperature τ_t of L_edge. Default 0.1.
    #[arg(long)]
    tau_teacher: Option<f64>,

    /// RGRL: student temperature τ_s of L_edge and L_graph. Default 0.1.
    #[arg(long)]
    tau_student: Option<f64>,

    /// RGRL: teacher neighbours used by L_graph (at most the graph's K). Default 10.
    #[arg(long)]
    graph_k: Option<usize>,

    /// RGRL: temperature of the teacher's neighbour weights in L_graph. Default 0.1.
    #[arg(long)]
    graph_tau: Option<f64>,

    /// RGRL: weight each sample's relation terms by how consistent the noisy labels of its
    /// teacher neighbourhood are (0 when as mixed as chance, 1 when unanimous), so that a
    /// teacher with mixed neighbourhoods pulls less.
    #[arg(long)]
    rgrl_confidence: bool,

    /// RGRL: train on targets that mix in the teacher's label evidence: (1 − α)·target of the
    /// noisy label + α·the similarity-weighted vote of the noisy labels of the sample's
    /// teacher neighbours among the training images (temperature --graph-tau; the evidence
    /// `rmd label-issues` scores labels with). α in [0, 1]; 0 (the default) is off. With the
    /// node, edge and graph weights at 0 it is the only teacher term.
    #[arg(long, value_name = "ALPHA")]
    neighbour_targets: Option<f64>,

    /// RGRL: how the node, edge and graph weights change over the run: constant (the
    /// default, the method as published) or cosine-decay (from the full weight at the first
    /// step to 0 at the last, so the teacher shapes the features early and the base loss
    /// alone finishes training).
    #[arg(long, value_enum, value_name = "SCHEDULE")]
    rgrl_schedule: Option<RgrlScheduleArg>,

    /// Continue an interrupted run of the same parameters from its last checkpoint.
    #[arg(long)]
    resume: bool,

    /// Recompute even when the artifact is cached.
    #[arg(long)]
    force: bool,
}

impl Args {
    fn rgrl_flags_given(&self) -> bool {
        self.node_weight.is_some()
            || self.edge_weight.is_some()
            || self.graph_weight.is_some()
            || self.tau_teacher.is_some()
            || self.tau_student.is_some()
            || self.graph_k.is_some()
            || self.graph_tau.is_some()
            || self.rgrl_confidence
            || self.neighbour_targets.is_some()
            || self.rgrl_schedule.is_some()
    }

    fn base_loss(&self, classes: usize) -> Result<BaseLoss, UsageError> {
        let name = self.loss.name();
        let mut loss = BaseLoss::default_for(name, classes).map_err(UsageError)?;
        let stray = |flag: &str| UsageError(format!("{flag} does not apply to --loss {name}"));
        match &mut loss {
            BaseLoss::Ce => {}
            BaseLoss::Gce { q } => set(&mut *q, self.gce_q),
            BaseLoss::Sce { alpha, beta, .. } => {
                set(alpha, self.sce_alpha);
                set(beta, self.sce_beta);
            }
            BaseLoss::Elr { lambda, beta } => {
                set(lambda, self.elr_lambda);
                set(beta, self.elr_beta);
            }
        }
        for (flag, given, applies) in [
            ("--gce-q", self.gce_q.is_some(), self.loss == LossArg::Gce),
            ("--sce-alpha", self.sce_alpha.is_some(), self.loss == LossArg::Sce),
            ("--sce-beta", self.sce_beta.is_some(), self.loss == LossArg::Sce),
            ("--elr-lambda", self.elr_lambda.is_some(), self.loss == LossArg::Elr),
            ("--elr-beta", self.elr_beta.is_some(), self.loss == LossArg::Elr),
        ] {
            if given && !applies {
                return Err(stray(flag));
            }
        }
        Ok(loss)
    }
}

/// `--rgrl-schedule` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RgrlScheduleArg {
    /// The full weights at every step.
    Constant,
    /// Cosine decay of the weights from full to 0 over the run.
    CosineDecay,
}

impl RgrlScheduleArg {
    fn schedule(self) -> RelationWeightSchedule {
        match self {
            RgrlScheduleArg::Constant => RelationWeightSchedule::Constant,
            RgrlScheduleArg::CosineDecay => RelationWeightSchedule::CosineDecay,
        }
    }
}

/// `--loss` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LossArg {
    /// Cross-entropy.
    Ce,
    /// Generalised cross-entropy (Zhang & Sabuncu 2018).
    Gce,
    /// Symmetric cross-entropy (Wang et al. 2019).
    Sce,
    /// Early-learning regularisation (Liu et al. 2020).
    Elr,
}

impl LossArg {
    /// The loss's name in parameters and manifests.
    fn name(self) -> &'static str {
        match self {
            LossArg::Ce => "ce",
            LossArg::Gce => "gce",
            LossArg::Sce => "sce",
            LossArg::Elr => "elr",
        }
    }
}

/// Counts given on the command line must fit the dataset: a count larger than the data would
/// otherwise be cut to what there is, under a key that records the larger number. (A too
/// large validation split is refused by the stage itself, whichever way it was set.)
fn check_counts(
    args: &Args,
    val_images: usize,
    info: &rmd_data::dataset::DatasetInfo,
) -> Result<(), UsageError> {
    let name = &info.name;
    let outside_val = info.n_train.saturating_sub(val_images);
    if let Some(n) = args.images
        && n > outside_val
    {
        return Err(UsageError(format!(
            "--images {n}: {name} has {outside_val} training images outside the {val_images}-image validation split (--images 0 uses all)"
        )));
    }
    if let Some(n) = args.test_images
        && n > info.n_test
    {
        return Err(UsageError(format!(
            "--test-images {n}: {name} has only {} test images (--test-images 0 uses all)",
            info.n_test
        )));
    }
    Ok(())
}

fn set<T: Copy>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
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
        let noise = store.find(Some("noise"), &args.noise).context("resolving --noise")?;
        let relations = match &args.relations {
            Some(k) => Some(store.find(Some("relations"), k).context("resolving --relations")?),
            None if args.rgrl_flags_given() => {
                return Err(UsageError(
                    "RGRL flags (--node-weight, --edge-weight, --rgrl-confidence, ...) need --relations"
                        .into(),
                )
                .into());
            }
            None => None,
        };
        let init = match &args.init_from_rm {
            Some(k) => Some(store.find(Some("pretrain"), k).context("resolving --init-from-rm")?),
            None => None,
        };
        let drop_flagged = match &args.drop_flagged {
            Some(k) => Some(
                store
                    .find(Some(rmdnet::label_issues::LABEL_ISSUES_STAGE), k)
                    .context("resolving --drop-flagged")?,
            ),
            None => None,
        };
        let dataset_key = noise.manifest.inputs.get("dataset").cloned().unwrap_or_default();
        let dataset = store
            .find(Some("dataset"), &dataset_key)
            .with_context(|| format!("finding the dataset of noise artifact {}", short(noise.key())))?;
        let info = rmd_data::dataset::DatasetInfo::read(&dataset)?;
        let (channels, classes) = (info.channels, info.num_classes());
        let mut params = profile.distill_params(channels, args.base_loss(classes)?, args.seed);
        if let Some(a) = &args.arch {
            params.backbone = parse_arch(a, channels)?;
        }
        set(&mut params.epochs, args.epochs);
        set(&mut params.batch_size, args.batch_size);
        set(&mut params.lr, args.lr);
        set(&mut params.weight_decay, args.weight_decay);
        set(&mut params.label_smoothing, args.label_smoothing);
        if let Some(n) = args.images {
            params.images = (n > 0).then_some(n);
        }
        if let Some(n) = args.test_images {
            params.eval.test_images = (n > 0).then_some(n);
        }
        set(&mut params.eval.val_images, args.val_images);
        check_counts(&args, params.eval.val_images, &info)?;
        cli::check_training_memory(&params.backbone, params.batch_size, info.height, info.width, backend)?;
        if let Some(s) = &args.schedule {
            params.schedule = LrSchedule::parse(s).map_err(UsageError)?;
        }
        params.init_from_rm = init.is_some();
        if relations.is_some() {
            let mut r = profile.rgrl_params();
            set(&mut r.node_weight, args.node_weight);
            set(&mut r.edge_weight, args.edge_weight);
            set(&mut r.graph_weight, args.graph_weight);
            set(&mut r.tau_teacher, args.tau_teacher);
            set(&mut r.tau_student, args.tau_student);
            set(&mut r.graph_k, args.graph_k);
            set(&mut r.graph_tau, args.graph_tau);
            r.confidence = args.rgrl_confidence;
            set(&mut r.neighbour_targets, args.neighbour_targets);
            if let Some(sched) = args.rgrl_schedule {
                r.weight_schedule = sched.schedule();
            }
            r.validate().map_err(UsageError)?;
            params.rgrl = Some(r);
        }
        let compute = args.backend.select()?;
        args.output.say(format!(
            "{}{} on noise {} ({}), profile {}, {} epochs, batch {}, {} on {}",
            params.loss.name(),
            params.rgrl.as_ref().map(|r| format!(" + RGRL ({})", r.describe())).unwrap_or_default(),
            short(noise.key()),
            info.name,
            profile.name(),
            params.epochs,
            params.batch_size,
            params.backbone.describe(),
            compute.description
        ));
        let req = DistillRequest {
            params,
            profile,
            resume: args.resume,
            force: args.force,
            progress: args.output.progress(),
            verbose: !args.output.quiet,
        };
        let inputs = DistillInputs {
            noise: &noise,
            relations: relations.as_ref(),
            init_encoder: init.as_ref(),
            drop_flagged: drop_flagged.as_ref(),
        };
        let (artifact, cached) = run_distill(&store, inputs, &req, &compute, &code)?;
        let m = &artifact.manifest.metrics;
        let selected = match m["val_selected_epoch"].as_u64() {
            Some(e) => format!(
                "at the validation-selected epoch {e} {:.4}, ",
                m["val_selected_test_acc"].as_f64().unwrap_or(f64::NAN)
            ),
            None => String::new(),
        };
        let detail = format!(
            ": test acc {selected}last {:.4} (best on test {:.4}, epoch {}); flipped samples memorised {:.3}",
            m["last_test_acc"].as_f64().unwrap_or(f64::NAN),
            m["best_test_acc"].as_f64().unwrap_or(f64::NAN),
            m["best_epoch"],
            m["last_memorised"].as_f64().unwrap_or(f64::NAN),
        );
        args.output.say_outcome(&artifact, cached, started, &detail);
        args.output.print_result(&artifact);
        Ok(())
    })
}
