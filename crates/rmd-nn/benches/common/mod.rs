//! What the step benchmarks share: their command line, the optimiser of the training
//! stages, and the spread of the timed steps.

/// `--steps N` from the bench's arguments (after `cargo bench ... --`), or `default`; the
/// other arguments (without cargo's `--bench`) are returned too. Sets the allocator up as
/// the stages do ([`rmd_nn::host_memory::keep_freed_blocks`]), so the steps are timed as
/// they run there.
pub fn args(default_steps: usize) -> (Vec<String>, usize) {
    rmd_nn::host_memory::keep_freed_blocks();
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let steps = args
        .iter()
        .position(|a| a == "--steps")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_steps);
    (args, steps)
}

/// The stages' SGD at the profiles' settings (momentum 0.9, weight decay 5e-4).
pub fn sgd() -> burn::optim::ModuleOptimizer {
    rmd_nn::schedule::sgd(0.9, 5e-4)
}

/// Median, minimum and maximum of per-step rates.
pub struct Spread {
    /// Median.
    pub median: f64,
    /// Slowest step.
    pub min: f64,
    /// Fastest step.
    pub max: f64,
}

impl Spread {
    /// The spread of `rates` (at least one).
    pub fn of(mut rates: Vec<f64>) -> Spread {
        rates.sort_by(f64::total_cmp);
        Spread { median: rates[rates.len() / 2], min: rates[0], max: rates[rates.len() - 1] }
    }
}
