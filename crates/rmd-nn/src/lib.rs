//! burn backends, models and training stages of rmdnet.
//!
//! * [`backend`]: backend selection and device probing (flex CPU default; `wgpu`, `cuda`
//!   cargo features).
//! * [`models`]: residual encoders and the SimSiam heads.
//! * [`pretrain`]: the RM stage (SimSiam pre-training with checkpoints and resume).
//! * [`knn`]: embedding and the weighted kNN monitor.
//! * [`schedule`]: learning-rate schedules.

pub mod backend;
mod error;
pub mod knn;
pub mod models;
pub mod pretrain;
pub mod relations;
pub mod schedule;

pub use backend::{BURN_VERSION, BackendError, BackendKind, ComputeDevice};
pub use error::{NnError, Result};
