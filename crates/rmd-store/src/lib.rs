//! Content-hashed artifact store.
//!
//! Every pipeline stage writes its outputs into `<store>/<stage>/<key>/`, where the key is
//! the blake3 hash of the canonical JSON of `{stage, stage_schema_version, params, inputs}`
//! ([`ArtifactSpec::key`]). Outputs are written into a hidden `.partial-<key>` sibling that is
//! renamed into place only after `manifest.json` (the last file written) is on disk, so a
//! crash never leaves a directory that looks complete. A per-key lock file serialises two
//! processes that produce the same key.
//!
//! The crate knows nothing about machine learning or file formats: stages hand it files.

mod bundle;
mod error;
mod gc;
mod hashing;
mod key;
mod layout;
mod manifest;
pub mod output;
mod pending;
mod plan;
pub mod report;
mod staging;
mod store;
mod verify;

pub use bundle::{ExportSummary, ImportSummary};
pub use error::{Result, StoreError, io_is_input_error};
pub use gc::{GcOptions, GcReport};
pub use hashing::{FileDigest, file_kind, hash_file};
pub use key::{ArtifactSpec, canonical_json};
pub use layout::{QUARANTINE_DIR, REMOTES_FILE, is_stage_name};
pub use manifest::{CodeIdentity, MANIFEST_FILE, Manifest, OutputFile, check_output_name, now_rfc3339};
pub use pending::{Begin, BeginOptions, CommitInfo, PendingArtifact};
pub use plan::take_planned;
pub use staging::{InstallError, InstallSummary, Staging};
pub use store::{Artifact, ContentCheck, STORE_ENV, STORE_MARKER, Store, is_key};
pub use verify::{Problem, VerifyReport};
