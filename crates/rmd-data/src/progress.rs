//! Progress bars on stderr (hidden when stderr is not a terminal or when disabled).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A byte-count bar with rate and ETA; a spinner when the total is unknown.
pub fn bytes_bar(total: Option<u64>, enabled: bool, message: &str) -> ProgressBar {
    let bar = match total {
        Some(t) => ProgressBar::new(t).with_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{msg} {spinner} {bytes} {bytes_per_sec}").expect("valid template"),
        ),
    };
    finish_setup(bar, enabled, message)
}

/// An item-count bar with ETA.
pub fn count_bar(total: u64, enabled: bool, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    finish_setup(bar, enabled, message)
}

fn finish_setup(bar: ProgressBar, enabled: bool, message: &str) -> ProgressBar {
    if enabled {
        bar.set_draw_target(ProgressDrawTarget::stderr());
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_message(message.to_string());
    bar
}
