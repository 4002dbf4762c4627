//! burn backends, models and training utilities of rmdnet.
//!
//! The CPU backend `flex` (pure Rust) is always built; `wgpu` and `cuda` are cargo
//! features of this crate and of the `rmdnet` package.

pub mod backend;

pub use backend::{BURN_VERSION, BackendError, BackendKind, ComputeDevice};
