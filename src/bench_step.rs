//! `rmd bench-step`: how fast this machine trains, per backend. Times the RM stage's SimSiam
//! step or the RGRL stage's supervised step with a profile's network and batch size
//! ([`rmd_nn::step_bench`]) and prints images per second, the median and spread of the
//! timed steps; `--json` prints the same as one JSON object for scripts (the GPU check).

use crate::cli::{self, BackendArgs, UsageError};
use rmd_nn::Profile;
use rmd_nn::step_bench::{StepBenchConfig, StepNet, StepTimes};

/// Which training step to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StepObjective {
    /// The RM stage's SimSiam step: two augmented views, encoder, projector and predictor.
    Simsiam,
    /// The RGRL stage's cross-entropy step: crop+flip, backbone and linear head.
    Supervised,
}

/// `rmd bench-step` flags.
#[derive(Debug, clap::Args)]
pub struct BenchStepArgs {
    /// The step to time.
    #[arg(long, value_enum, default_value_t = StepObjective::Simsiam)]
    pub objective: StepObjective,
    /// Whose network and batch size: the stage's settings in this profile (default: paper
    /// on a GPU backend, cpu on flex). paper: ResNet-18, SimSiam batch 512, supervised 128.
    #[arg(long, value_parser = cli::choice(&Profile::ALL, Profile::name))]
    pub profile: Option<Profile>,
    /// The network instead of the profile's: resnet18 or small:WIDTH:STAGES:BLOCKS[:STEM_STRIDE]
    /// (as the stages' --arch).
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Images per step instead of the profile's batch size.
    #[arg(long, value_name = "N")]
    pub batch: Option<usize>,
    /// Timed steps.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub steps: usize,
    /// Untimed steps first (a GPU compiles its kernels during these).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub warmup: usize,
    /// Classes of the supervised step's head.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub classes: usize,
    /// Print one JSON object instead of the line of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// Runs the bench and prints its result on stdout.
pub fn run(args: &BenchStepArgs) -> anyhow::Result<()> {
    if args.steps == 0 || args.batch == Some(0) || args.classes < 2 {
        return Err(UsageError("--steps and --batch must be at least 1, --classes at least 2".into()).into());
    }
    let compute = args.backend.select()?;
    let profile = args.profile.unwrap_or(Profile::default_for(compute.kind));
    let backbone = args.arch.as_deref().map(|a| cli::parse_arch(a, 3)).transpose()?;
    let (net, profile_batch, arch) = match args.objective {
        StepObjective::Simsiam => {
            let mut p = profile.pretrain_params(3, 1);
            if let Some(b) = backbone {
                p.model.encoder = b;
            }
            let arch = p.model.encoder.describe();
            (StepNet::SimSiam(p.model), p.batch_size, arch)
        }
        StepObjective::Supervised => {
            let mut p = profile.distill_params(3, rmd_nn::distill::losses::BaseLoss::Ce, 1);
            if let Some(b) = backbone {
                p.backbone = b;
            }
            let arch = p.backbone.describe();
            let cfg = rmd_nn::models::ClassifierConfig {
                backbone: p.backbone,
                num_classes: args.classes,
                projection: vec![],
            };
            (StepNet::Supervised(cfg), p.batch_size, arch)
        }
    };
    let batch = args.batch.unwrap_or(profile_batch);
    // Sizes are checked before anything is allocated, as the training stages do: a batch the
    // machine cannot hold is an input error, not an allocation abort.
    let (backbone, images_per_step) = match &net {
        StepNet::SimSiam(m) => (&m.encoder, batch.saturating_mul(2)),
        StepNet::Supervised(c) => (&c.backbone, batch),
    };
    cli::check_training_memory(backbone, images_per_step, 32, 32, compute.kind)?;
    let cfg = StepBenchConfig { net, batch, steps: args.steps, warmup: args.warmup };
    let t = rmd_nn::step_bench::run(&cfg, &compute.device).map_err(anyhow::Error::msg)?;
    // The flag value clap derived from the variant, so the output names the step as it was asked for.
    let objective = clap::ValueEnum::to_possible_value(&args.objective).expect("no variant is skipped");
    let objective = objective.get_name();
    if args.json {
        println!("{}", json(objective, profile, &arch, batch, args.steps, &compute.description, &t));
    } else {
        println!(
            "{objective} {} ({arch}) batch {batch} on {}: model step median {:.1} img/s (min {:.1}, max {:.1}, {} steps); with host augmentation {:.1} img/s ({:.1}% of the step); warm-up {:.1} s",
            profile.name(),
            compute.description,
            t.model.median,
            t.model.min,
            t.model.max,
            args.steps,
            t.with_augmentation.median,
            100.0 * t.augmentation_share,
            t.warmup_seconds,
        );
    }
    Ok(())
}

fn json(
    objective: &str,
    profile: Profile,
    arch: &str,
    batch: usize,
    steps: usize,
    device: &str,
    t: &StepTimes,
) -> serde_json::Value {
    serde_json::json!({
        "objective": objective,
        "profile": profile.name(),
        "arch": arch,
        "batch": batch,
        "steps": steps,
        "device": device,
        "model_img_per_s": { "median": t.model.median, "min": t.model.min, "max": t.model.max },
        "with_augmentation_img_per_s": t.with_augmentation.median,
        "augmentation_share": t.augmentation_share,
        "warmup_seconds": t.warmup_seconds,
    })
}
