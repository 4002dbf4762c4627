//! Flags shared by every binary, the code identity recorded in manifests, and the mapping
//! of errors to exit codes (0 success, 2 usage or input error, 1 other failure).

use clap::Args;
use rmd_data::download::{BASE_URL_ENV, DEFAULT_BASE_URL};
use rmd_data::{DATA_DIR_ENV, DataError, SourceOptions};
use rmd_store::{CodeIdentity, STORE_ENV, Store, StoreError};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// Where the artifact store is (the flag alone, for commands without a plan mode).
#[derive(Debug, Clone, Args)]
pub struct StoreDirArgs {
    /// Artifact store directory (created if missing).
    #[arg(long, global = true, env = STORE_ENV, default_value = "data/artifacts", value_name = "DIR")]
    pub store: PathBuf,
}

impl StoreDirArgs {
    /// Opens the store.
    pub fn open(&self) -> anyhow::Result<Store> {
        Ok(Store::open(&self.store)?.with_content_check(rmd_data::artifact_check::check_artifact))
    }

    /// The store flag with a command's plan flag, for the commands that have a plan mode.
    pub fn with_plan(&self, plan: PlanArgs) -> StoreArgs {
        StoreArgs { dir: self.clone(), plan }
    }
}

/// `--plan`: offered only by the commands that honour it (those that produce an artifact).
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct PlanArgs {
    /// Compute nothing: print the key of the artifact this command would produce as the last
    /// stdout line, as `KEY` when it is cached or `run STAGE KEY` when it would be computed.
    /// Its inputs must exist. (Used by `rmd reproduce` to print its plan.)
    #[arg(long)]
    pub plan: bool,
}

/// Where the artifact store is, and `--plan`: the store flags of a command that produces an
/// artifact.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    #[command(flatten)]
    pub dir: StoreDirArgs,
    #[command(flatten)]
    pub plan: PlanArgs,
}

impl StoreArgs {
    /// Opens the store (in plan mode with --plan).
    pub fn open(&self) -> anyhow::Result<Store> {
        let store = self.dir.open()?;
        Ok(if self.plan.plan { store.planning() } else { store })
    }
}

/// Where raw datasets are and whether they may be downloaded.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Directory holding raw datasets (`cifar-10-batches-bin/`, `cifar-100-binary/`,
    /// `mnist/`, `fashion-mnist/`, or the official archives).
    #[arg(long, env = DATA_DIR_ENV, default_value = "data/raw", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Never download missing archives; fail with instructions instead.
    #[arg(long)]
    pub no_download: bool,
    /// Base URL of the official CIFAR archives (a mirror or a local server).
    #[arg(long, env = BASE_URL_ENV, default_value = DEFAULT_BASE_URL, value_name = "URL")]
    pub download_url: String,
}

impl DataArgs {
    /// The options for dataset resolution.
    pub fn sources(&self, progress: bool) -> SourceOptions {
        SourceOptions {
            data_dir: self.data_dir.clone(),
            download: !self.no_download,
            base_url: self.download_url.clone(),
            progress,
        }
    }
}

/// A clap parser for a library enum with a fixed list of named values (`ALL` and `name()`):
/// the field is typed, `--help` lists the names, and a bad value is a usage error (exit 2)
/// that lists them too.
pub fn choice<T>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> impl clap::builder::TypedValueParser<Value = T>
where
    T: Copy + Send + Sync + 'static,
{
    use clap::builder::TypedValueParser as _;
    let names: Vec<&'static str> = all.iter().map(|&v| name(v)).collect();
    clap::builder::PossibleValuesParser::new(names).map(move |chosen: String| {
        *all.iter().find(|&&v| name(v) == chosen).expect("clap accepts only the listed names")
    })
}

/// Which compute backend and device a training stage uses.
#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    /// Compute backend: flex (CPU), wgpu or cuda (when built with that feature).
    #[arg(long, default_value_t = rmd_nn::BackendKind::default_for_build().name().to_string())]
    pub backend: String,
    /// GPU to use: for cuda the CUDA device index (default 0); for wgpu the index among
    /// discrete GPUs (default: the adapter wgpu ranks best, a high-power GPU first, which
    /// CUBECL_WGPU_DEFAULT_DEVICE=DiscreteGpu(1) or =Cpu overrides). Ignored by flex.
    #[arg(long, value_name = "N")]
    pub device_index: Option<usize>,
}

impl BackendArgs {
    /// The backend asked for.
    pub fn kind(&self) -> anyhow::Result<rmd_nn::BackendKind> {
        Ok(self.backend.parse()?)
    }

    /// Selects and probes the device.
    pub fn select(&self) -> anyhow::Result<rmd_nn::ComputeDevice> {
        Ok(rmd_nn::ComputeDevice::select(self.kind()?, self.device_index)?)
    }
}

/// Output format and verbosity.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Print the artifact's manifest as JSON on stdout instead of its key.
    #[arg(long)]
    pub json: bool,
    /// No progress bars or summaries on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

impl OutputArgs {
    /// Makes `--quiet` silence the libraries' informational messages too
    /// ([`rmd_store::report`]); called once the arguments are parsed.
    pub fn apply(&self) {
        rmd_store::report::set_quiet(self.quiet);
    }

    /// Whether to draw progress bars (not quiet, stderr is a terminal).
    pub fn progress(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }

    /// Prints the artifact's key (or manifest) as the last line of stdout.
    pub fn print_result(&self, artifact: &rmd_store::Artifact) {
        if self.json {
            println!("{}", artifact.manifest.to_json_pretty());
        } else {
            println!("{}", artifact.key());
        }
    }

    /// "wrote DIR in Ns" or "cache hit DIR in Ns" on stderr unless quiet, with `detail`
    /// appended when not empty.
    pub fn say_outcome(
        &self,
        artifact: &rmd_store::Artifact,
        cached: bool,
        started: std::time::Instant,
        detail: &str,
    ) {
        self.say(format!(
            "{} {} in {:.1}s{detail}",
            if cached { "cache hit" } else { "wrote" },
            artifact.dir.display(),
            started.elapsed().as_secs_f64()
        ));
    }

    /// A summary line on stderr unless quiet.
    pub fn say(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", msg.as_ref());
        }
    }
}

/// The identity of this build, recorded in every manifest.
pub fn code_identity(burn: bool) -> CodeIdentity {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    CodeIdentity {
        package_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: opt(env!("RMD_GIT_COMMIT")),
        git_dirty: match env!("RMD_GIT_DIRTY") {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        cargo_lock_blake3: opt(env!("RMD_CARGO_LOCK_BLAKE3")),
        burn_version: burn.then(|| rmd_nn::BURN_VERSION.to_string()),
    }
}

/// An error in what the user asked for (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl UsageError {
    /// A usage error carrying another error's message (with its causes).
    pub fn from_err(e: impl Into<anyhow::Error>) -> UsageError {
        UsageError(format!("{:#}", e.into()))
    }
}

/// Exit code for an error: 2 when the input is at fault, 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    let input = err.chain().any(|e| {
        e.downcast_ref::<DataError>().is_some_and(DataError::is_input_error)
            || e.downcast_ref::<StoreError>().is_some_and(StoreError::is_input_error)
            || e.downcast_ref::<rmd_nn::BackendError>().is_some()
            || e.downcast_ref::<rmd_nn::NnError>().is_some_and(rmd_nn::NnError::is_input_error)
            || e.downcast_ref::<UsageError>().is_some()
            || e.downcast_ref::<rmd_remote::RemoteError>()
                .is_some_and(rmd_remote::RemoteError::is_input_error)
            || e.downcast_ref::<crate::reproduce::StageFailed>().is_some_and(|f| f.code == 2)
    });
    if input { 2 } else { 1 }
}

/// Runs a binary's body on a worker thread of a rayon pool
/// ([`rmd_nn::backend::on_pool_thread`]), printing any error with its causes and choosing
/// the exit code.
pub fn run(body: impl FnOnce() -> anyhow::Result<()> + Send) -> ExitCode {
    match rmd_nn::backend::on_pool_thread(None, body) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // With --plan, reaching an uncached artifact is the answer, not a failure.
            if let Some((stage, key)) = rmd_store::take_planned() {
                println!("run {stage} {key}");
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

/// A usage error (exit 2) unless `a` is an artifact of `stage`; `flag` names the argument
/// that gave it.
pub fn expect_stage(a: &rmd_store::Artifact, stage: &str, flag: &str) -> Result<(), UsageError> {
    if a.stage() != stage {
        return Err(UsageError(format!(
            "{flag} {} is a {} artifact, not a {stage} artifact",
            short(a.key()),
            a.stage()
        )));
    }
    Ok(())
}

/// Refuses a network and batch size whose training step would need more memory than this
/// machine has (checked for the CPU backend, whose tensors live in host memory), before
/// anything is allocated: such settings otherwise abort deep inside an allocation.
/// `images_per_step` counts every image a step holds (two views each for the RM stage).
pub fn check_training_memory(
    backbone: &rmd_nn::models::ResNetConfig,
    images_per_step: usize,
    height: usize,
    width: usize,
    backend: rmd_nn::BackendKind,
) -> Result<(), UsageError> {
    if backend != rmd_nn::BackendKind::Flex {
        return Ok(());
    }
    let Some(total) = host_memory_bytes() else { return Ok(()) };
    let need = backbone.training_bytes(images_per_step, height, width);
    if need > total as f64 {
        return Err(UsageError(format!(
            "a training step of {} with {images_per_step} images of {height}x{width} needs about {:.1} GiB, more than this machine's {:.1} GiB of memory: use a smaller --batch-size or --arch",
            backbone.describe(),
            need / f64::from(1u32 << 30),
            total as f64 / f64::from(1u32 << 30)
        )));
    }
    Ok(())
}

/// Total memory of this machine (Linux `/proc/meminfo`), when it can be read.
fn host_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Requires `path` to be a regular file (a symlink to one is fine) for reading as `what`
/// ("bundle file", ...): a missing path, a directory, FIFO or device gets a message that says
/// which, instead of a read that blocks or an OS error.
pub fn require_regular_file(path: &std::path::Path, what: &str) -> Result<(), UsageError> {
    match rmd_data::input_file_problem(path) {
        None => Ok(()),
        Some(problem) => Err(UsageError(format!("{}: the {what} {problem}", path.display()))),
    }
}

/// Refuses an output directory `dir` (given by `flag`) that exists as something else than a
/// directory; called before long work so that it does not fail only at the end.
pub fn check_output_dir(dir: &std::path::Path, flag: &str) -> Result<(), UsageError> {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Err(UsageError(format!(
            "{flag} {}: it is {}, not a directory; give a directory (it is created if missing)",
            dir.display(),
            rmd_store::file_kind(&m.file_type())
        ))),
        _ => Ok(()),
    }
}

/// Creates the output directory `dir` given by `flag` (with its parents), or accepts it when
/// it is already a directory; a file, FIFO or anything else in its place is a usage error
/// naming what it is, instead of the OS's "File exists".
pub fn create_output_dir(dir: &std::path::Path, flag: &str) -> Result<(), UsageError> {
    check_output_dir(dir, flag)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| UsageError(format!("{flag} {}: cannot create this directory: {e}", dir.display())))
}

/// First 12 characters of a key, for human output.
pub fn short(key: &str) -> &str {
    &key[..key.len().min(12)]
}

/// Parses a backbone architecture: `resnet18` or `small:WIDTH:STAGES:BLOCKS[:STEM_STRIDE]`
/// (stem stride 1 when omitted; 2 quarters the cost of every later layer).
pub fn parse_arch(s: &str, channels: usize) -> Result<rmd_nn::models::ResNetConfig, UsageError> {
    if s == "resnet18" {
        return Ok(rmd_nn::models::ResNetConfig::resnet18(channels));
    }
    let num =
        |x: &str| x.parse::<usize>().map_err(|_| UsageError(format!("--arch {s}: '{x}' is not a number")));
    let parts: Vec<&str> = s.split(':').collect();
    let (w, st, b, stride) = match parts.as_slice() {
        ["small", w, st, b] => (*w, *st, *b, "1"),
        ["small", w, st, b, stride] => (*w, *st, *b, *stride),
        _ => {
            return Err(UsageError(format!(
                "--arch {s}: expected resnet18 or small:WIDTH:STAGES:BLOCKS[:STEM_STRIDE]"
            )));
        }
    };
    let stem_stride = num(stride)?;
    if !(1..=4).contains(&stem_stride) {
        return Err(UsageError(format!("--arch {s}: the stem stride must be 1 to 4, not {stem_stride}")));
    }
    Ok(rmd_nn::models::ResNetConfig {
        stem_stride,
        ..rmd_nn::models::ResNetConfig::small(channels, num(w)?, num(st)?, num(b)?)
    })
}
