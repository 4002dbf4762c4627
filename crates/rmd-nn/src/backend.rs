//! Backend selection: parse `--backend`, refuse backends this build lacks with a clear
//! message, and probe GPU devices before work starts (a missing driver otherwise panics on
//! the first tensor operation, inside a device thread).

use burn::tensor::{Device, Tensor};
use std::fmt;
use std::str::FromStr;

/// Version of the burn framework this crate is built against (recorded in manifests).
pub const BURN_VERSION: &str = "0.22.1";

/// A compute backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// burn's pure-Rust CPU backend (always available).
    Flex,
    /// burn's wgpu backend (Vulkan/Metal GPUs), with the `wgpu` feature.
    Wgpu,
    /// burn's CUDA backend, with the `cuda` feature.
    Cuda,
}

/// Backend selection failures.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The name is not a backend.
    #[error("unknown backend '{0}': expected flex (CPU), wgpu or cuda")]
    Unknown(String),
    /// The backend exists but this binary was built without it.
    #[error(
        "this build has no {0} backend: rebuild with `cargo build --release --features {0}` (available here: {1})"
    )]
    NotBuilt(&'static str, String),
    /// The device could not be used.
    #[error("the {0} device could not be initialised: {1}")]
    Unavailable(&'static str, String),
}

impl BackendKind {
    /// The flag value and recorded name.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Cuda => "cuda",
        }
    }

    /// Whether this binary was built with the backend.
    pub fn is_built(self) -> bool {
        match self {
            BackendKind::Flex => true,
            BackendKind::Wgpu => cfg!(feature = "wgpu"),
            BackendKind::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// The backends this binary was built with.
    pub fn built() -> Vec<BackendKind> {
        [BackendKind::Flex, BackendKind::Wgpu, BackendKind::Cuda]
            .into_iter()
            .filter(|b| b.is_built())
            .collect()
    }

    /// The best backend built in: a GPU one when present, else flex.
    pub fn default_for_build() -> BackendKind {
        if cfg!(feature = "cuda") {
            BackendKind::Cuda
        } else if cfg!(feature = "wgpu") {
            BackendKind::Wgpu
        } else {
            BackendKind::Flex
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = BackendError;
    fn from_str(s: &str) -> Result<Self, BackendError> {
        match s.to_ascii_lowercase().as_str() {
            "flex" | "cpu" => Ok(BackendKind::Flex),
            "wgpu" | "vulkan" => Ok(BackendKind::Wgpu),
            "cuda" | "gpu" => Ok(BackendKind::Cuda),
            _ => Err(BackendError::Unknown(s.to_string())),
        }
    }
}

/// A ready device with a description for manifests.
#[derive(Debug, Clone)]
pub struct ComputeDevice {
    /// The backend.
    pub kind: BackendKind,
    /// The burn device (without autodiff; call `.autodiff()` for training).
    pub device: Device,
    /// Human description (`flex (cpu, 2 threads)`, `cuda:0`, ...).
    pub description: String,
}

impl ComputeDevice {
    /// Selects and probes a device of `kind`, and sets the process up for tensor work
    /// ([`crate::host_memory::keep_freed_blocks`]). `index` picks a GPU: for cuda the
    /// CUDA device (0 when `None`); for wgpu the index-th discrete GPU, or when `None` the
    /// adapter wgpu ranks best (a high-power GPU first; `CUBECL_WGPU_DEFAULT_DEVICE`, e.g.
    /// `DiscreteGpu(1)` or `Cpu`, overrides it). The CPU backend ignores it.
    pub fn select(kind: BackendKind, index: Option<usize>) -> Result<ComputeDevice, BackendError> {
        if !kind.is_built() {
            let built: Vec<&str> = BackendKind::built().iter().map(|b| b.name()).collect();
            return Err(BackendError::NotBuilt(kind.name(), built.join(", ")));
        }
        crate::host_memory::keep_freed_blocks();
        let (device, description) = make_device(kind, index);
        probe(kind, &device)?;
        Ok(ComputeDevice { kind, device, description })
    }
}

/// Runs `body` on a thread of a rayon pool of `threads` threads (default: one per core,
/// `RAYON_NUM_THREADS` honoured) with the main thread's 8 MiB stack. Tensor ops then run
/// their parallel loops on this thread and its siblings, instead of the main thread handing
/// every op to the global pool and sleeping until it is done: the SimSiam step bench ran
/// faster this way in seven alternating pairs on two cores (median ratio 1.09, never
/// slower), with the same results. Every binary's body runs here (`cli::run`), and so do
/// the step benches. Falls back to the calling thread if no pool can be built.
pub fn on_pool_thread<R: Send>(threads: Option<usize>, body: impl FnOnce() -> R + Send) -> R {
    let mut builder = rayon::ThreadPoolBuilder::new().stack_size(8 << 20).thread_name(|i| format!("rmd-{i}"));
    if let Some(n) = threads {
        builder = builder.num_threads(n);
    }
    match builder.build() {
        Ok(pool) => pool.install(body),
        Err(_) => body(),
    }
}

fn make_device(kind: BackendKind, index: Option<usize>) -> (Device, String) {
    let _ = index;
    match kind {
        #[cfg(feature = "cuda")]
        BackendKind::Cuda => {
            let index = index.unwrap_or(0);
            (Device::cuda(index), format!("cuda:{index}"))
        }
        #[cfg(feature = "wgpu")]
        BackendKind::Wgpu => match index {
            Some(i) => {
                (Device::wgpu(burn::tensor::DeviceKind::DiscreteGpu(i)), format!("wgpu discrete gpu {i}"))
            }
            None => {
                let chosen = std::env::var("CUBECL_WGPU_DEFAULT_DEVICE").unwrap_or_else(|_| "best".into());
                (
                    Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
                    format!("wgpu default device ({chosen})"),
                )
            }
        },
        _ => {
            let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            (Device::flex(), format!("flex (cpu, {threads} threads)"))
        }
    }
}

/// Runs a tiny computation on the device in a separate thread, turning a panic (missing
/// driver, no adapter) into an error. The backend may panic on a thread of its own first
/// (wgpu's device thread), leaving the probe only a broken channel to report; so while the
/// probe runs, panics on every thread are collected instead of printed, and the first one
/// is the error's message, with what to do about it.
fn probe(kind: BackendKind, device: &Device) -> Result<(), BackendError> {
    // One probe at a time, so that two never swap the process's panic hook in between.
    static PROBING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = PROBING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let device = device.clone();
    let panics = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let previous_hook = std::panic::take_hook();
    let sink = panics.clone();
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(mut all) = sink.lock() {
            all.push(panic_text(info.payload()));
        }
    }));
    let result = std::thread::spawn(move || {
        let t = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &device);
        let v = (t.clone() * t).sum().into_data().try_to_vec::<f32>();
        v.map(|v| v[0]).map_err(|e| format!("{e:?}"))
    })
    .join();
    std::panic::set_hook(previous_hook);
    let first_panic = panics.lock().ok().and_then(|all| all.first().cloned());
    let unavailable = |msg: String| BackendError::Unavailable(kind.name(), format!("{msg}{}", remedy(kind)));
    match result {
        Ok(Ok(v)) if (v - 14.0).abs() < 1e-4 => Ok(()),
        Ok(Ok(v)) => Err(BackendError::Unavailable(kind.name(), format!("probe computed {v} instead of 14"))),
        Ok(Err(e)) => Err(unavailable(e)),
        Err(panic) => Err(unavailable(first_panic.unwrap_or_else(|| panic_text(panic.as_ref())))),
    }
}

/// A panic's message, when it has one.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "the backend panicked".into())
}

/// What a user can do when a GPU backend does not start.
fn remedy(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::Wgpu => {
            ". wgpu needs a Vulkan driver (the loader, libvulkan1 on Debian/Ubuntu, and the GPU \
             driver's Vulkan support) or an OpenGL/EGL one; --backend flex runs on the CPU"
        }
        BackendKind::Cuda => ". The cuda backend needs the NVIDIA driver; --backend flex runs on the CPU",
        BackendKind::Flex => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_is_always_available_and_computes() {
        let d = ComputeDevice::select(BackendKind::Flex, None).unwrap();
        assert!(d.description.starts_with("flex"));
    }

    #[test]
    fn parsing_and_missing_backends() {
        assert_eq!("cpu".parse::<BackendKind>().unwrap(), BackendKind::Flex);
        assert!("tpu".parse::<BackendKind>().is_err());
        if !cfg!(feature = "cuda") {
            let err = ComputeDevice::select(BackendKind::Cuda, None).unwrap_err().to_string();
            assert!(err.contains("no cuda backend") && err.contains("--features cuda"), "{err}");
        }
    }

    #[test]
    fn burn_version_matches_the_lock_file() {
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock")).unwrap();
        let pos = lock.find("name = \"burn\"\nversion = \"").expect("burn in Cargo.lock");
        let rest = &lock[pos + "name = \"burn\"\nversion = \"".len()..];
        assert_eq!(&rest[..rest.find('"').unwrap()], BURN_VERSION);
    }
}
