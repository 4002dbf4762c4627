//! AWS shared credentials (`~/.aws/credentials`, `AWS_SHARED_CREDENTIALS_FILE`) and the
//! region of `~/.aws/config` (`AWS_CONFIG_FILE`) for the profile `AWS_PROFILE` (default
//! `default`): object_store reads only environment variables, so the usual profile files
//! are read here.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Credentials found in the shared credentials file.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileCredentials {
    /// `aws_access_key_id`.
    pub access_key_id: String,
    /// `aws_secret_access_key`.
    pub secret_access_key: String,
    /// `aws_session_token`, when set.
    pub session_token: Option<String>,
    /// `region` of the profile in the config file, when set.
    pub region: Option<String>,
}

/// Sections of an INI file: name → (key → value).
fn parse_ini(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_string();
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            out.entry(section.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    out
}

fn home_file(env: &str, default: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".aws").join(default))
}

/// The profile's credentials, when the credentials file has them.
pub fn credentials() -> Option<ProfileCredentials> {
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    let text = std::fs::read_to_string(home_file("AWS_SHARED_CREDENTIALS_FILE", "credentials")?).ok()?;
    from_files(
        &profile,
        &text,
        home_file("AWS_CONFIG_FILE", "config").and_then(|p| std::fs::read_to_string(p).ok()),
    )
}

fn from_files(profile: &str, credentials: &str, config: Option<String>) -> Option<ProfileCredentials> {
    let sections = parse_ini(credentials);
    let s = sections.get(profile)?;
    let region = config.and_then(|c| {
        let cfg = parse_ini(&c);
        let name = if profile == "default" { "default".to_string() } else { format!("profile {profile}") };
        cfg.get(&name).and_then(|s| s.get("region").cloned())
    });
    Some(ProfileCredentials {
        access_key_id: s.get("aws_access_key_id")?.clone(),
        secret_access_key: s.get("aws_secret_access_key")?.clone(),
        session_token: s.get("aws_session_token").cloned(),
        region,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_sections_and_region_are_read() {
        let creds = "[default]\naws_access_key_id = AK1\naws_secret_access_key = SK1\n\n[lab]\naws_access_key_id=AK2\naws_secret_access_key=SK2\naws_session_token = T2\n";
        let config = "[default]\nregion = us-east-1\n[profile lab]\nregion = eu-west-1\n".to_string();
        let d = from_files("default", creds, Some(config.clone())).unwrap();
        assert_eq!((d.access_key_id.as_str(), d.region.as_deref()), ("AK1", Some("us-east-1")));
        let l = from_files("lab", creds, Some(config)).unwrap();
        assert_eq!(l.secret_access_key, "SK2");
        assert_eq!(l.session_token.as_deref(), Some("T2"));
        assert_eq!(l.region.as_deref(), Some("eu-west-1"));
        assert!(from_files("other", creds, None).is_none());
    }
}
