//! Connecting to a remote through `object_store`, and the object operations the transfers
//! use, with errors turned into messages that name the remote and never a credential.

use crate::config::RemoteSpec;
use crate::error::{RemoteError, Result};
use crate::secrets::{redact_url, redact_urls_in};
use crate::waits::{RateFloor, Waits};
use bytes::Bytes;
use futures_util::StreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The kind of remote a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `s3://` (AWS, MinIO, R2, Ceph, any S3-compatible service).
    S3,
    /// `gs://` (Google Cloud Storage).
    Gcs,
    /// `az://` or `azure://` (Azure Blob Storage).
    Azure,
    /// `file:///absolute/path` (a shared folder, NFS).
    Folder,
    /// `http://` or `https://` (read-only: a store published by a static web server).
    Http,
}

/// A parsed remote URL.
#[derive(Debug, Clone)]
pub struct Location {
    /// Its kind.
    pub kind: Kind,
    /// The URL.
    pub url: url::Url,
}

impl Location {
    /// Parses and checks a remote URL.
    pub fn parse(text: &str) -> Result<Location> {
        let bad = |why: &str| RemoteError::config(format!("remote URL {}: {why}", redact_url(text)));
        let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        let kind = match url.scheme() {
            "s3" | "s3a" => Kind::S3,
            "gs" => Kind::Gcs,
            "az" | "azure" | "abfs" | "abfss" => Kind::Azure,
            "file" => Kind::Folder,
            "http" | "https" => Kind::Http,
            other => {
                return Err(bad(&format!(
                    "unsupported scheme {other:?}; use s3://, gs://, az://, file:///absolute/path or https://"
                )));
            }
        };
        match kind {
            Kind::Folder => {
                if url.host_str().is_some_and(|h| !h.is_empty() && h != "localhost") {
                    return Err(bad("a folder remote is file:///absolute/path (three slashes)"));
                }
                if url.to_file_path().is_err() {
                    return Err(bad("not an absolute path"));
                }
            }
            Kind::S3 | Kind::Gcs | Kind::Azure if url.host_str().is_none_or(str::is_empty) => {
                return Err(bad("no bucket or container name"));
            }
            _ => {}
        }
        Ok(Location { kind, url })
    }
}

/// An open remote.
pub struct Remote {
    label: String,
    kind: Kind,
    store: Arc<dyn ObjectStore>,
    prefix: ObjPath,
    /// A folder remote's folder: every path below it is checked before it is read or written.
    folder: Option<std::path::PathBuf>,
    /// How long each operation may wait.
    waits: Waits,
    secrets: Vec<String>,
    rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("label", &self.label).field("kind", &self.kind).finish()
    }
}

/// Loopback and plain-http endpoints are allowed only when the URL or endpoint says http.
fn wants_http(options: &BTreeMap<String, String>, url: &url::Url) -> bool {
    url.scheme() == "http"
        || options.iter().any(|(k, v)| {
            (k.ends_with("endpoint") || k.ends_with("endpoint_url")) && v.starts_with("http://")
        })
        || std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| v.starts_with("http://"))
        || std::env::var("AWS_ENDPOINT").is_ok_and(|v| v.starts_with("http://"))
}

/// Checks a remote's URL and that its client knows every option, without connecting or
/// reading credentials (for `rmd store remote add`).
pub fn check_spec(spec: &RemoteSpec) -> Result<()> {
    let loc = Location::parse(&spec.url)?;
    for k in spec.options.keys() {
        let known = match loc.kind {
            Kind::S3 => k.parse::<object_store::aws::AmazonS3ConfigKey>().is_ok(),
            Kind::Gcs => k.parse::<object_store::gcp::GoogleConfigKey>().is_ok(),
            Kind::Azure => k.parse::<object_store::azure::AzureConfigKey>().is_ok(),
            Kind::Folder | Kind::Http => false,
        };
        if !known {
            return Err(RemoteError::config(format!(
                "remote {}: unknown option {k:?} for this kind of remote",
                redact_url(&spec.url)
            )));
        }
    }
    Ok(())
}

impl Remote {
    /// Connects to a remote (no request is made yet, except for a folder, which must exist
    /// or is created for `create_folder`).
    pub fn open(spec: &RemoteSpec, create_folder: bool) -> Result<Remote> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let loc = Location::parse(&spec.url)?;
        let label = match &spec.name {
            Some(n) => format!("{n} ({})", redact_url(&spec.url)),
            None => redact_url(&spec.url),
        };
        let cfg_err =
            |what: String| RemoteError::config(format!("remote {label}: {}", redact_urls_in(&what)));
        let allow_http = wants_http(&spec.options, &loc.url);
        let mut secrets = Vec::new();
        let mut folder = None;
        let waits = Waits::from_env()?;
        let prefix_of = |u: &url::Url| ObjPath::from(u.path().trim_matches('/'));
        let (store, prefix): (Arc<dyn ObjectStore>, ObjPath) = match loc.kind {
            Kind::Folder => {
                if !spec.options.is_empty() {
                    return Err(cfg_err("a folder remote takes no options".into()));
                }
                let path = loc.url.to_file_path().expect("checked in parse");
                if create_folder {
                    std::fs::create_dir_all(&path)
                        .map_err(|e| cfg_err(format!("creating the folder {}: {e}", path.display())))?;
                } else if !path.is_dir() {
                    return Err(RemoteError::User {
                        remote: label.clone(),
                        message: format!("the folder {} does not exist", path.display()),
                    });
                }
                let fs = object_store::local::LocalFileSystem::new_with_prefix(&path)
                    .map_err(|e| cfg_err(format!("opening the folder {}: {e}", path.display())))?;
                folder = Some(path.clone());
                (Arc::new(fs), ObjPath::default())
            }
            Kind::S3 => {
                let mut b = object_store::aws::AmazonS3Builder::from_env();
                if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
                    && let Some(creds) = crate::aws_profile::credentials()
                {
                    b = b
                        .with_access_key_id(&creds.access_key_id)
                        .with_secret_access_key(&creds.secret_access_key);
                    if let Some(t) = &creds.session_token {
                        b = b.with_token(t);
                        secrets.push(t.clone());
                    }
                    if std::env::var_os("AWS_REGION").is_none()
                        && std::env::var_os("AWS_DEFAULT_REGION").is_none()
                        && let Some(r) = &creds.region
                    {
                        b = b.with_region(r);
                    }
                    secrets.push(creds.access_key_id.clone());
                    secrets.push(creds.secret_access_key.clone());
                }
                // The client's timeouts first, so a remote's own options (connect_timeout,
                // read_timeout, ...) replace them rather than being replaced.
                b = b
                    .with_url(loc.url.as_str())
                    .with_client_options(waits.client_options(allow_http))
                    .with_retry(waits.retry());
                for (k, v) in &spec.options {
                    let key = k.parse().map_err(|_| cfg_err(format!("unknown S3 option {k:?}")))?;
                    b = b.with_config(key, v);
                }
                let s3 = b.build().map_err(|e| cfg_err(e.to_string()))?;
                (Arc::new(s3), prefix_of(&loc.url))
            }
            Kind::Gcs => {
                let mut b = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_url(loc.url.as_str())
                    .with_client_options(waits.client_options(allow_http))
                    .with_retry(waits.retry());
                for (k, v) in &spec.options {
                    let key = k.parse().map_err(|_| cfg_err(format!("unknown GCS option {k:?}")))?;
                    b = b.with_config(key, v);
                }
                let gcs = b.build().map_err(|e| cfg_err(e.to_string()))?;
                (Arc::new(gcs), prefix_of(&loc.url))
            }
            Kind::Azure => {
                let mut b = object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(loc.url.as_str())
                    .with_client_options(waits.client_options(allow_http))
                    .with_retry(waits.retry());
                for (k, v) in &spec.options {
                    let key = k.parse().map_err(|_| cfg_err(format!("unknown Azure option {k:?}")))?;
                    b = b.with_config(key, v);
                }
                let az = b.build().map_err(|e| cfg_err(e.to_string()))?;
                (Arc::new(az), prefix_of(&loc.url))
            }
            Kind::Http => {
                if !spec.options.is_empty() {
                    return Err(cfg_err("an https remote takes no options".into()));
                }
                if let Some(p) = loc.url.password() {
                    secrets.push(p.to_string());
                }
                let mut base = loc.url.to_string();
                if !base.ends_with('/') {
                    base.push('/');
                }
                let http = object_store::http::HttpBuilder::new()
                    .with_url(base)
                    .with_client_options(waits.client_options(allow_http))
                    .with_retry(waits.retry())
                    .build()
                    .map_err(|e| cfg_err(e.to_string()))?;
                (Arc::new(http), ObjPath::default())
            }
        };
        for var in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "GOOGLE_SERVICE_ACCOUNT_KEY",
            "AZURE_STORAGE_ACCOUNT_KEY",
            "AZURE_STORAGE_ACCESS_KEY",
            "AZURE_STORAGE_SAS_KEY",
            "AZURE_STORAGE_TOKEN",
        ] {
            if let Ok(v) = std::env::var(var)
                && v.len() >= 4
            {
                secrets.push(v);
            }
        }
        secrets.retain(|s| s.len() >= 4);
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(
            |e| RemoteError::Failed {
                remote: label.clone(),
                message: format!("starting the I/O runtime: {e}"),
            },
        )?;
        Ok(Remote { label, kind: loc.kind, store, prefix, folder, waits, secrets, rt })
    }

    /// The remote as shown to the user: its name and URL, without credentials.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Its kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// A web server is read-only.
    pub fn is_read_only(&self) -> bool {
        self.kind == Kind::Http
    }

    /// A static web server cannot list what it serves.
    pub fn can_list(&self) -> bool {
        self.kind != Kind::Http
    }

    /// Runs a future on the remote's I/O runtime.
    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// The object path of `rel` (`stage/key/file`) under the remote's prefix.
    pub(crate) fn path(&self, rel: &str) -> ObjPath {
        let mut p = self.prefix.clone();
        for part in rel.split('/') {
            p = p.clone().join(part);
        }
        p
    }

    /// `rel` of an object path under the prefix (None when outside it).
    pub(crate) fn relative(&self, p: &ObjPath) -> Option<String> {
        let parts: Vec<String> = p.prefix_match(&self.prefix)?.map(|s| s.as_ref().to_string()).collect();
        Some(parts.join("/"))
    }

    /// Removes every credential value from a message.
    pub fn redact(&self, message: &str) -> String {
        let mut m = redact_urls_in(message);
        for s in &self.secrets {
            m = m.replace(s.as_str(), "***");
        }
        m
    }

    /// An object_store error as an error naming this remote and `what` (`stage/key/file`).
    pub(crate) fn fail(&self, what: &str, e: &object_store::Error) -> RemoteError {
        let text = self.redact(&error_chain(e));
        let user = |message: String| RemoteError::User { remote: self.label.clone(), message };
        match e {
            object_store::Error::NotFound { .. } => user(format!("{what}: not on the remote")),
            object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
                user(format!(
                    "{what}: the remote refused the credentials ({text}). {}",
                    self.credentials_hint()
                ))
            }
            _ if text.contains("NoSuchBucket") || text.contains("bucket does not exist") => {
                user(format!("{what}: the bucket does not exist ({text})"))
            }
            _ if text.contains("InvalidAccessKeyId")
                || text.contains("SignatureDoesNotMatch")
                || text.contains("AccessDenied")
                || text.contains("403 Forbidden")
                || text.contains("401 Unauthorized") =>
            {
                user(format!(
                    "{what}: the remote refused the credentials ({text}). {}",
                    self.credentials_hint()
                ))
            }
            _ if is_untrusted_certificate(&text) => user(format!(
                "{what}: the remote's TLS certificate is not trusted ({text}); if a private \
                 certificate authority signed it, point SSL_CERT_FILE at that authority's PEM file"
            )),
            _ if is_unreachable(&text) => user(format!(
                "{what}: cannot reach the remote ({text}); check the URL or endpoint and that the service is running"
            )),
            _ => RemoteError::Failed { remote: self.label.clone(), message: format!("{what}: {text}") },
        }
    }

    fn credentials_hint(&self) -> &'static str {
        match self.kind {
            Kind::S3 => {
                "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE with ~/.aws/credentials)"
            }
            Kind::Gcs => "Set GOOGLE_APPLICATION_CREDENTIALS (or GOOGLE_SERVICE_ACCOUNT)",
            Kind::Azure => {
                "Set AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY (or a SAS/token variable)"
            }
            Kind::Folder => "Check the folder's permissions",
            Kind::Http => "Check that the web server allows reading",
        }
    }

    /// For a folder remote, refuses `rel` when an entry on its way below the folder is a
    /// symbolic link or not a directory, or when it exists and is not a regular file (a
    /// link, FIFO, socket or device): a folder remote is as untrusted as a bundle, so nothing
    /// is read from or written through a link or a special file. The folder itself may be a
    /// link (to a mount, say): it is the user's choice.
    fn check_folder_entry(&self, rel: &str) -> Result<()> {
        let Some(root) = &self.folder else { return Ok(()) };
        let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
        let mut path = root.clone();
        for (i, part) in parts.iter().enumerate() {
            path.push(part);
            let last = i + 1 == parts.len();
            let refuse = |what: &str| RemoteError::Refused {
                remote: self.label.clone(),
                message: format!(
                    "{rel}: {} is {what}; a folder remote is read and written without following links or opening special files: remove it from the folder",
                    path.display()
                ),
            };
            match std::fs::symlink_metadata(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => {
                    return Err(RemoteError::Failed {
                        remote: self.label.clone(),
                        message: format!("{rel}: inspecting {}: {e}", path.display()),
                    });
                }
                Ok(m) if m.file_type().is_symlink() || (last && !m.is_file()) => {
                    return Err(refuse(rmd_store::file_kind(&m.file_type())));
                }
                Ok(m) if !last && !m.is_dir() => return Err(refuse("not a directory")),
                Ok(_) => {}
            }
        }
        Ok(())
    }

    /// `fut`, or an error naming `what` and the variable that sets the bound when it has not
    /// finished within `limit`.
    async fn within<T>(
        &self,
        what: &str,
        limit: Duration,
        var: &str,
        fut: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(limit, fut).await {
            Ok(r) => r,
            Err(_) => Err(RemoteError::User {
                remote: self.label.clone(),
                message: format!(
                    "{what}: the remote did not answer within {} ({var} sets the bound); check that the service is up and not overloaded",
                    humantime::format_duration(limit)
                ),
            }),
        }
    }

    /// A small request within the request deadline.
    async fn small<T>(&self, what: &str, fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        self.within(what, self.waits.request, "RMD_REMOTE_REQUEST_TIMEOUT", fut).await
    }

    /// The error of a transfer slower than the rate floor.
    fn too_slow(&self, what: &str, rate: f64) -> RemoteError {
        RemoteError::User {
            remote: self.label.clone(),
            message: format!(
                "{what}: the transfer ran at {rate:.0} bytes/s, under the floor of {} bytes/s (RMD_REMOTE_MIN_RATE sets it; 0 turns it off)",
                self.waits.min_rate
            ),
        }
    }

    /// Size of an object, `None` when absent.
    pub(crate) async fn size_of(&self, rel: &str) -> Result<Option<u64>> {
        self.check_folder_entry(rel)?;
        self.small(rel, self.head_size(rel)).await
    }

    async fn head_size(&self, rel: &str) -> Result<Option<u64>> {
        match self.store.head(&self.path(rel)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail(rel, &e)),
        }
    }

    /// A small object's bytes (at most `limit`), `None` when absent.
    pub(crate) async fn read_small(&self, rel: &str, limit: u64) -> Result<Option<Bytes>> {
        self.check_folder_entry(rel)?;
        self.small(rel, self.read_small_unbounded(rel, limit)).await
    }

    async fn read_small_unbounded(&self, rel: &str, limit: u64) -> Result<Option<Bytes>> {
        let got = match self.store.get(&self.path(rel)).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.fail(rel, &e)),
        };
        if got.meta.size > limit {
            return Err(RemoteError::Refused {
                remote: self.label.clone(),
                message: format!("{rel}: {} bytes, more than a manifest can be ({limit})", got.meta.size),
            });
        }
        let mut out = Vec::new();
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.fail(rel, &e))?;
            if (out.len() + chunk.len()) as u64 > limit {
                return Err(RemoteError::Refused {
                    remote: self.label.clone(),
                    message: format!("{rel}: more than {limit} bytes"),
                });
            }
            out.extend_from_slice(&chunk);
        }
        Ok(Some(Bytes::from(out)))
    }

    /// Streams an object into `dest`, refusing more than `expected` bytes (so a changed
    /// remote cannot fill the disk) or fewer; `on_bytes` is told of each chunk.
    pub(crate) async fn download(
        &self,
        rel: &str,
        dest: &std::path::Path,
        expected: u64,
        on_bytes: &(dyn Fn(u64) + Sync),
    ) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        self.check_folder_entry(rel)?;
        let got = self
            .small(rel, async {
                self.store.get(&self.path(rel)).await.map_err(|e| match e {
                    object_store::Error::NotFound { .. } => RemoteError::Refused {
                        remote: self.label.clone(),
                        message: format!("{rel}: listed in its manifest but missing on the remote"),
                    },
                    e => self.fail(rel, &e),
                })
            })
            .await?;
        let local = |action: &'static str, e: std::io::Error| {
            RemoteError::Store(rmd_store::StoreError::Io { action, path: dest.to_path_buf(), cause: e })
        };
        let mut file = tokio::fs::File::create(dest).await.map_err(|e| local("creating", e))?;
        let mut written = 0u64;
        let mut stream = got.into_stream();
        let mut floor = RateFloor::new(self.waits.min_rate);
        let idle = self.waits.idle;
        while let Some(chunk) =
            self.within(rel, idle, "RMD_REMOTE_IDLE_TIMEOUT", async { Ok(stream.next().await) }).await?
        {
            let chunk = chunk.map_err(|e| self.fail(rel, &e))?;
            written += chunk.len() as u64;
            floor.add(chunk.len() as u64).map_err(|rate| self.too_slow(rel, rate))?;
            if written > expected {
                return Err(RemoteError::Refused {
                    remote: self.label.clone(),
                    message: format!("{rel}: larger than the {expected} bytes its manifest records"),
                });
            }
            file.write_all(&chunk).await.map_err(|e| local("writing", e))?;
            on_bytes(chunk.len() as u64);
        }
        if written != expected {
            return Err(RemoteError::Refused {
                remote: self.label.clone(),
                message: format!("{rel}: {written} bytes, its manifest records {expected}"),
            });
        }
        file.sync_all().await.map_err(|e| local("writing", e))?;
        Ok(())
    }

    /// Uploads a local file (multipart above 32 MiB), replacing any object of that name.
    pub(crate) async fn upload(
        &self,
        rel: &str,
        src: &std::path::Path,
        on_bytes: &(dyn Fn(u64) + Sync),
    ) -> Result<()> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        const PART: usize = 32 << 20;
        self.check_folder_entry(rel)?;
        let read_err = |e: std::io::Error| {
            RemoteError::Store(rmd_store::StoreError::Io {
                action: "reading",
                path: src.to_path_buf(),
                cause: e,
            })
        };
        let mut file = tokio::fs::File::open(src).await.map_err(read_err)?;
        let mut writer =
            object_store::buffered::BufWriter::with_capacity(self.store.clone(), self.path(rel), PART)
                .with_max_concurrency(4);
        let mut buf = vec![0u8; 8 << 20];
        loop {
            let n = file.read(&mut buf).await.map_err(read_err)?;
            if n == 0 {
                break;
            }
            let part = self.waits.transfer_deadline(PART as u64);
            let put = self
                .within(rel, part, "RMD_REMOTE_MIN_RATE", async {
                    writer.put(Bytes::copy_from_slice(&buf[..n])).await.map_err(|e| self.fail(rel, &e))
                })
                .await;
            if let Err(e) = put {
                let _ = writer.abort().await;
                return Err(e);
            }
            on_bytes(n as u64);
        }
        // The final part (or the single put) fails as an io::Error wrapping object_store's
        // own, which is classified like every other request's.
        let last = self.waits.transfer_deadline(PART as u64);
        self.within(rel, last, "RMD_REMOTE_MIN_RATE", async {
            writer.shutdown().await.map_err(|e| {
                match e.get_ref().and_then(|i| i.downcast_ref::<object_store::Error>()) {
                    Some(inner) => self.fail(rel, inner),
                    None => RemoteError::Failed {
                        remote: self.label.clone(),
                        message: format!("{rel}: {}", self.redact(&e.to_string())),
                    },
                }
            })
        })
        .await
    }

    /// Writes `bytes` only if no object of that name exists; false when one does.
    pub(crate) async fn put_if_absent(&self, rel: &str, bytes: Bytes) -> Result<bool> {
        self.check_folder_entry(rel)?;
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        let path = self.path(rel);
        let put = self
            .small(rel, async { Ok(self.store.put_opts(&path, PutPayload::from(bytes), opts).await) })
            .await?;
        match put {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(object_store::Error::NotImplemented { .. })
            | Err(object_store::Error::NotSupported { .. }) => Err(RemoteError::User {
                remote: self.label.clone(),
                message: format!(
                    "{rel}: the service does not support conditional writes (If-None-Match), which pushes need so that two people pushing at once never overwrite each other's manifests"
                ),
            }),
            Err(e) => Err(self.fail(rel, &e)),
        }
    }

    /// Writes `bytes`, replacing any object of that name.
    pub(crate) async fn put_replacing(&self, rel: &str, bytes: Bytes) -> Result<()> {
        self.check_folder_entry(rel)?;
        self.small(rel, async {
            self.store
                .put(&self.path(rel), PutPayload::from(bytes))
                .await
                .map(|_| ())
                .map_err(|e| self.fail(rel, &e))
        })
        .await
    }

    /// One cheap request (a delimited listing of the prefix) that fails early and clearly on
    /// an unreachable service, refused credentials or a missing bucket. A web server cannot
    /// list, so it is not probed.
    pub(crate) async fn probe(&self) -> Result<()> {
        if !self.can_list() {
            return Ok(());
        }
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let listed =
            self.small("listing the prefix", async { Ok(self.store.list_with_delimiter(prefix).await) });
        match listed.await? {
            Ok(_) => Ok(()),
            Err(object_store::Error::NotFound { .. }) if self.kind == Kind::Folder => Ok(()),
            Err(e) => Err(self.fail("listing the prefix", &e)),
        }
    }

    /// Every object under the prefix as (`rel`, size).
    pub(crate) async fn list_all(&self) -> Result<Vec<(String, u64)>> {
        if !self.can_list() {
            return Err(RemoteError::User {
                remote: self.label.clone(),
                message: "a web server cannot list what it serves; give full 64-character keys".into(),
            });
        }
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let mut stream = self.store.list(prefix);
        let mut out = Vec::new();
        while let Some(meta) = self.small("listing", async { Ok(stream.next().await) }).await? {
            let meta = match meta {
                Ok(m) => m,
                // A folder remote being written by another process: a file vanished between
                // the directory listing and its metadata.
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(self.fail("listing", &e)),
            };
            if let Some(rel) = self.relative(&meta.location) {
                out.push((rel, meta.size));
            }
        }
        out.sort();
        Ok(out)
    }
}

/// The message of an error and its sources, joined.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// Whether an error chain says the TLS handshake rejected the server's certificate.
fn is_untrusted_certificate(text: &str) -> bool {
    ["invalid peer certificate", "UnknownIssuer", "certificate verify failed", "CaUsedAsEndEntity"]
        .iter()
        .any(|needle| text.contains(needle))
}

fn is_unreachable(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "connection refused",
        "error sending request",
        "dns error",
        "failed to lookup",
        "timed out",
        "connect error",
        "tcp connect",
        "connection reset",
        "no route to host",
    ]
    .iter()
    .any(|p| t.contains(p))
}
