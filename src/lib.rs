//! The rmdnet stages and tools over the artifact store: common flags, code identity, exit
//! codes, the model-computing stages ([`stages`]), `rmd label-issues`, `predict`, `export`,
//! `rm-curves`, `bench-step`, and the `rmd reproduce` orchestrator.
//!
//! Each binary in `src/bin/` is one pipeline stage (or the `rmd` tool) over this library;
//! the datasets, noise models, models and training live in the crates under `crates/`.

pub mod bench_step;
pub mod cli;
pub mod dataset_cmd;
pub mod export;
pub mod label_issues;
pub mod predict;
pub mod remote_cmd;
pub mod reproduce;
pub mod rm_curves;
pub mod stages;
pub mod store_cmd;
