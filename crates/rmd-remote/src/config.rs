//! Named remotes: `<store>/.remotes.toml`, and `--remote` resolution (a configured name or
//! a URL).
//!
//! ```toml
//! [remotes.lab]
//! url = "s3://lab-artifacts/rmdnet"
//! # object_store options for this kind of remote (never credentials):
//! options = { endpoint = "http://minio.lab:9000", region = "us-east-1", allow_http = "true" }
//! ```
//!
//! Credentials are never stored here: they come from the usual environment variables
//! (`AWS_ACCESS_KEY_ID`, `GOOGLE_APPLICATION_CREDENTIALS`, `AZURE_STORAGE_ACCOUNT_KEY`, ...)
//! and, for S3, the AWS shared credentials file and `AWS_PROFILE`.

use crate::error::{RemoteError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One remote: where it is and the options its client takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteEntry {
    /// `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`,
    /// `file:///absolute/path` or `https://host/prefix` (read-only).
    pub url: String,
    /// Client options (object_store configuration keys), e.g. `endpoint`, `region`,
    /// `allow_http`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// The remotes of a store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// Remotes by name.
    #[serde(default)]
    pub remotes: BTreeMap<String, RemoteEntry>,
}

/// A remote to connect to: its name when it is a configured one, its URL and options.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSpec {
    /// The configured name, or `None` for a URL given directly.
    pub name: Option<String>,
    /// The URL.
    pub url: String,
    /// Client options.
    pub options: BTreeMap<String, String>,
}

/// Refuses an entry that would keep a secret: a URL with a password or a query string, an
/// option that object_store reads a credential from, or an option whose value is a URL with
/// a password or query (an endpoint, a proxy). The message names the option and where the
/// credential belongs instead; the secret itself is never shown.
fn refuse_credentials(entry: &RemoteEntry) -> Result<()> {
    let kind = crate::connect::Location::parse(&entry.url)?.kind;
    if let Some(what) = crate::secrets::url_secret(&entry.url) {
        return Err(RemoteError::config(format!(
            "the URL {} carries {what}; a remote's URL is kept in the store's config and printed, so give credentials through the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_KEY, ...) or use the URL directly with --remote, unsaved",
            crate::secrets::redact_url(&entry.url)
        )));
    }
    for (k, v) in &entry.options {
        if let Some(var) = crate::secrets::credential_option(kind, k) {
            return Err(RemoteError::config(format!(
                "option {k:?} is a credential; credentials are never kept in the store: set {var} in the environment instead, and remove the option"
            )));
        }
        if let Some(what) = crate::secrets::url_secret(v) {
            return Err(RemoteError::config(format!(
                "option {k:?} is a URL that carries {what}; give it without them and the credentials through the environment"
            )));
        }
    }
    Ok(())
}

/// A remote name: 1-40 letters, digits, `-` or `_`, starting with a letter (so it is never
/// taken for a URL or a path).
pub fn check_name(name: &str) -> Result<()> {
    let ok = (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(RemoteError::config(format!(
            "remote name {name:?}: use 1-40 letters, digits, '-' or '_', starting with a letter"
        )))
    }
}

impl RemoteConfig {
    /// The config file of the store rooted at `store_root`.
    pub fn path(store_root: &Path) -> PathBuf {
        store_root.join(rmd_store::REMOTES_FILE)
    }

    /// Reads the store's remotes (none when the file does not exist).
    pub fn load(store_root: &Path) -> Result<RemoteConfig> {
        let path = Self::path(store_root);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RemoteConfig::default()),
            Err(e) => return Err(RemoteError::config(format!("reading {}: {e}", path.display()))),
        };
        let config: RemoteConfig = toml::from_str(&text)
            .map_err(|e| RemoteError::config(format!("{}: {}", path.display(), e.message())))?;
        for (name, entry) in &config.remotes {
            check_name(name).map_err(|e| RemoteError::config(format!("{}: {e}", path.display())))?;
            refuse_credentials(entry)
                .map_err(|e| RemoteError::config(format!("{}: remote {name}: {e}", path.display())))?;
        }
        Ok(config)
    }

    /// Writes the config atomically (temporary file, then rename), readable by its owner
    /// only (it names buckets and endpoints, though never a credential).
    pub fn save(&self, store_root: &Path) -> Result<()> {
        let path = Self::path(store_root);
        let text = format!(
            "# Remotes of this rmdnet store (`rmd store remote add/remove/list`). Credentials are\n# never kept here: they come from the environment.\n{}",
            toml::to_string_pretty(self).expect("remote config serialises")
        );
        rmd_store::output::write_private_file(&path, text.as_bytes())
            .map_err(|e| RemoteError::config(format!("writing {}: {e}", path.display())))
    }

    /// Adds (or, with `replace`, replaces) a remote after checking its URL and options.
    pub fn add(&mut self, name: &str, entry: RemoteEntry, replace: bool) -> Result<()> {
        check_name(name)?;
        crate::connect::Location::parse(&entry.url)?;
        refuse_credentials(&entry)?;
        if self.remotes.contains_key(name) && !replace {
            return Err(RemoteError::config(format!(
                "a remote named {name} already exists ({}); remove it first or pass --replace",
                crate::secrets::redact_url(&self.remotes[name].url)
            )));
        }
        self.remotes.insert(name.to_string(), entry);
        Ok(())
    }

    /// What `--remote VALUE` means: a configured name, else a URL.
    pub fn resolve(&self, value: &str, options: &BTreeMap<String, String>) -> Result<RemoteSpec> {
        if let Some(entry) = self.remotes.get(value) {
            let mut merged = entry.options.clone();
            merged.extend(options.clone());
            return Ok(RemoteSpec { name: Some(value.to_string()), url: entry.url.clone(), options: merged });
        }
        if value.contains("://") {
            crate::connect::Location::parse(value)?;
            return Ok(RemoteSpec { name: None, url: value.to_string(), options: options.clone() });
        }
        let known: Vec<&String> = self.remotes.keys().collect();
        Err(RemoteError::config(format!(
            "--remote {value}: not a configured remote ({}) and not a URL (s3://, gs://, az://, file:///, https://); add one with `rmd store remote add NAME URL`",
            if known.is_empty() {
                "this store has none".to_string()
            } else {
                format!("this store has {}", known.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))
            }
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_and_refuses_credentials_and_unknown_names() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = RemoteConfig::default();
        let entry = RemoteEntry {
            url: "s3://bucket/pre".into(),
            options: [("endpoint".to_string(), "http://127.0.0.1:9000".to_string())].into(),
        };
        c.add("lab", entry.clone(), false).unwrap();
        assert!(c.add("lab", entry.clone(), false).is_err());
        c.save(dir.path()).unwrap();
        let back = RemoteConfig::load(dir.path()).unwrap();
        assert_eq!(back, c);
        let spec = back.resolve("lab", &BTreeMap::new()).unwrap();
        assert_eq!(spec.name.as_deref(), Some("lab"));
        assert_eq!(spec.url, "s3://bucket/pre");
        assert!(back.resolve("file:///tmp/x", &BTreeMap::new()).unwrap().name.is_none());
        let err = back.resolve("elsewhere", &BTreeMap::new()).unwrap_err().to_string();
        assert!(err.contains("not a configured remote") && err.contains("lab"), "{err}");

        let secret = RemoteEntry {
            url: "s3://b".into(),
            options: [("aws_secret_access_key".to_string(), "x".to_string())].into(),
        };
        assert!(c.add("other", secret, false).unwrap_err().to_string().contains("credential"));
        std::fs::write(
            RemoteConfig::path(dir.path()),
            "[remotes.lab]\nurl = \"s3://b\"\noptions = { secret_access_key = \"abc\" }\n",
        )
        .unwrap();
        let err = RemoteConfig::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("credential") && !err.contains("abc"), "{err}");
        for (url, options, want) in [
            ("s3://b", vec![("aws_token", "tok-123")], "AWS_SESSION_TOKEN"),
            ("az://c", vec![("sas_token", "sv=tok-123")], "AZURE_STORAGE_SAS_KEY"),
            ("s3://b", vec![("endpoint", "http://ak:tok-123@minio:9000")], "user information"),
            ("s3://b", vec![("proxy_url", "http://u:tok-123@proxy:3128")], "user information"),
            ("https://u:tok-123@host/store", vec![], "user information"),
            ("https://host/store?sig=tok-123", vec![], "query string"),
        ] {
            let entry = RemoteEntry {
                url: url.into(),
                options: options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            };
            let err = c.clone().add("x", entry, false).unwrap_err().to_string();
            assert!(err.contains(want) && !err.contains("tok-123"), "{url}: {err}");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            c.save(dir.path()).unwrap();
            let mode = std::fs::metadata(RemoteConfig::path(dir.path())).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the config is the owner's alone");
        }
        assert!(check_name("1abc").is_err() && check_name("s3://x").is_err() && check_name("lab-2").is_ok());
    }
}
