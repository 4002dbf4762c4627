//! Remotes of the artifact store: push, pull, status and verify against S3-compatible
//! storage (AWS, MinIO, R2, Ceph), Google Cloud Storage, Azure Blob Storage, a shared folder
//! (`file:///path`) and, read-only, a store published by any static web server
//! (`https://host/prefix`), through Apache Arrow's `object_store`.
//!
//! A remote holds the local store's layout (`<stage>/<key>/<file>`, manifest last), so what
//! it serves is verified exactly as a bundle import is before anything is installed.

mod aws_profile;
mod config;
mod connect;
mod error;
mod secrets;
mod transfer;
mod waits;

pub use config::{RemoteConfig, RemoteEntry, RemoteSpec, check_name};
pub use connect::{Kind, Location, Remote, check_spec};
pub use error::{RemoteError, Result};
pub use secrets::{credential_option, redact_url, redact_urls_in, url_secret};
pub use transfer::{RemoteVerifyReport, StatusReport, TransferSummary};
pub use waits::Waits;
