//! burn backends, models and training stages of rmdnet.
//!
//! * [`backend`]: backend selection and device probing (flex CPU default; `wgpu`, `cuda`
//!   cargo features).
//! * [`models`]: residual encoders and the SimSiam heads.
//! * [`pretrain`]: the RM stage (SimSiam pre-training with checkpoints and resume).
//! * [`distill`]: the RGRL stage (supervised training on noisy labels with relation
//!   distillation, plug-and-play base losses).
//! * [`train`]: the epoch loop the training stages share ([`train::Trainer`] running an
//!   [`train::Objective`]), and their CSV epoch logs.
//! * [`checkpoint`]: per-epoch checkpoints shared by the training stages.
//! * [`knn`]: embedding and the weighted kNN monitor.
//! * [`schedule`]: learning-rate schedules.

pub mod backend;
pub mod checkpoint;
pub mod distill;
mod error;
pub mod host_memory;
pub mod knn;
pub mod models;
pub mod pretrain;
pub mod profile;
pub mod relations;
pub mod schedule;
pub mod train;

pub use backend::{BURN_VERSION, BackendError, BackendKind, ComputeDevice};
pub use error::{NnError, Result};
pub use profile::Profile;
