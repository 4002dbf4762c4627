//! Shared plumbing of the rmdnet binaries: common flags, code identity, exit codes.
//!
//! Each binary in `src/bin/` is one pipeline stage (or the `rmd` tool); the work itself
//! lives in the library crates under `crates/`.

pub mod cli;
pub mod store_cmd;
