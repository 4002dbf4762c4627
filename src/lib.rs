//! Shared plumbing of the rmdnet binaries: common flags, code identity, exit codes, and the
//! `rmd reproduce` orchestrator.
//!
//! Each binary in `src/bin/` is one pipeline stage (or the `rmd` tool); the work itself
//! lives in the library crates under `crates/`.

pub mod cli;
pub mod dataset_cmd;
pub mod export;
pub mod label_issues;
pub mod predict;
pub mod reproduce;
pub mod rm_curves;
pub mod stages;
pub mod store_cmd;
