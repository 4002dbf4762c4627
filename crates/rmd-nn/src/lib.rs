//! burn backends, models, losses and training of rmdnet. Works on plain directories and
//! in-memory datasets; the store-backed stages are `rmdnet::stages`.
//!
//! * [`backend`]: backend selection and device probing (flex CPU default; `wgpu`, `cuda`
//!   cargo features).
//! * [`models`]: residual encoders, the SimSiam/SimCLR heads and losses, the classifier.
//! * [`pretrain`]: relation modeling (SimSiam or SimCLR pre-training of an encoder).
//! * [`relations`]: embedding, exact top-K search, relation graph files, diagnostics.
//! * [`distill`]: RGRL training (supervised training on noisy labels with relation
//!   distillation, plug-and-play base losses).
//! * [`train`]: the epoch loop both trainings share ([`train::Trainer`] running an
//!   [`train::Objective`]), and their CSV epoch logs.
//! * [`checkpoint`]: per-epoch checkpoints shared by the training loops.
//! * [`knn`]: embedding and the weighted kNN monitor.
//! * [`schedule`]: learning-rate schedules and the SGD every training uses.
//! * [`step_bench`]: training-step throughput on any backend (`rmd bench-step`, the cargo
//!   step benches).

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
pub mod step_bench;
pub mod train;

pub use backend::{BURN_VERSION, BackendError, BackendKind, ComputeDevice};
pub use error::{NnError, Result};
pub use profile::Profile;
