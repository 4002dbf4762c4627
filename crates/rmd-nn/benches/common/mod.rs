//! What the step benchmarks share: their command line.

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
