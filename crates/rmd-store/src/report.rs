//! Informational messages from library code (downloads, imports, waiting for a lock,
//! resuming a run) on stderr, silenced process-wide by `--quiet`. Warnings (a damaged
//! artifact being replaced, a checkpoint being discarded) are not informational and go to
//! stderr whatever the setting.

use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Silences (or re-enables) [`note`] for the whole process.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether [`note`] is silenced.
pub fn is_quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Prints an informational line on stderr unless quiet.
pub fn note(message: impl std::fmt::Display) {
    if !is_quiet() {
        eprintln!("{message}");
    }
}

/// Prints a warning line on stderr (also when quiet).
pub fn warn(message: impl std::fmt::Display) {
    eprintln!("warning: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_is_a_process_wide_switch() {
        set_quiet(true);
        assert!(is_quiet());
        set_quiet(false);
        assert!(!is_quiet());
    }
}
