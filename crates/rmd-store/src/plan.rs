//! Plan mode bookkeeping: the artifact a planning [`Store`](crate::Store) declined to compute.
//!
//! A stage binary run with `--plan` opens its store in plan mode; when the stage reaches
//! [`Store::begin`](crate::Store::begin) for an artifact that is not cached, the store
//! records the stage and key here and returns an error, and the binary reports
//! `run STAGE KEY` instead of failing.

use std::sync::Mutex;

static PLANNED: Mutex<Option<(String, String)>> = Mutex::new(None);

pub(crate) fn record(stage: &str, key: &str) {
    *PLANNED.lock().unwrap_or_else(|e| e.into_inner()) = Some((stage.to_string(), key.to_string()));
}

/// The (stage, key) of the artifact a planning store declined to compute, if any.
pub fn take_planned() -> Option<(String, String)> {
    PLANNED.lock().unwrap_or_else(|e| e.into_inner()).take()
}
