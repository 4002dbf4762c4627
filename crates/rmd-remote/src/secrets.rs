//! What counts as a secret in a remote's configuration, and how secrets are kept out of
//! messages.
//!
//! An option is a credential when object_store's own configuration key for it (any of the
//! names and aliases object_store accepts, parsed by object_store itself) is one of the
//! credential keys below; a URL, given as the remote or as an option's value (an endpoint, a
//! proxy), holds a secret when it carries a password or a query string (signed URLs and SAS
//! tokens live there). Secrets are refused when a remote is added and when the config is
//! read, with the environment variable to use instead, and every URL printed in a message
//! has its user information and query removed ([`redact_urls_in`]).

use crate::connect::Kind;
use object_store::aws::AmazonS3ConfigKey;
use object_store::azure::AzureConfigKey;
use object_store::gcp::GoogleConfigKey;

/// Where a credential given as the option `name` of a remote of this kind belongs instead
/// (the environment variable or file that object_store reads it from), or `None` when the
/// option holds no credential. Options object_store does not know are not credentials here
/// (they are refused as unknown elsewhere).
pub fn credential_option(kind: Kind, name: &str) -> Option<&'static str> {
    let name = name.trim().to_ascii_lowercase();
    let name = name.as_str();
    match kind {
        Kind::S3 => match name.parse::<AmazonS3ConfigKey>().ok()? {
            AmazonS3ConfigKey::AccessKeyId => Some("AWS_ACCESS_KEY_ID (or a profile in ~/.aws/credentials)"),
            AmazonS3ConfigKey::SecretAccessKey => {
                Some("AWS_SECRET_ACCESS_KEY (or a profile in ~/.aws/credentials)")
            }
            AmazonS3ConfigKey::Token => Some("AWS_SESSION_TOKEN"),
            // A customer-provided encryption key (SSE-C); its config key type is private to
            // object_store, so it is told by its canonical name.
            key @ AmazonS3ConfigKey::Encryption(_) if key.as_ref() == "aws_sse_customer_key_base64" => {
                Some("AWS_SSE_CUSTOMER_KEY_BASE64")
            }
            _ => None,
        },
        Kind::Gcs => match name.parse::<GoogleConfigKey>().ok()? {
            GoogleConfigKey::ServiceAccountKey => Some("GOOGLE_SERVICE_ACCOUNT_KEY"),
            // Paths to key files: kept out of a config that is shared with the store.
            GoogleConfigKey::ServiceAccount => Some("GOOGLE_SERVICE_ACCOUNT"),
            GoogleConfigKey::ApplicationCredentials => Some("GOOGLE_APPLICATION_CREDENTIALS"),
            GoogleConfigKey::BearerToken => Some("GOOGLE_BEARER_TOKEN"),
            _ => None,
        },
        Kind::Azure => match name.parse::<AzureConfigKey>().ok()? {
            AzureConfigKey::AccessKey => Some("AZURE_STORAGE_ACCOUNT_KEY"),
            AzureConfigKey::ClientSecret => Some("AZURE_CLIENT_SECRET"),
            AzureConfigKey::SasKey => Some("AZURE_STORAGE_SAS_KEY"),
            AzureConfigKey::Token => Some("AZURE_STORAGE_TOKEN"),
            AzureConfigKey::FabricSessionToken => Some("AZURE_FABRIC_SESSION_TOKEN"),
            AzureConfigKey::EncryptionKey => Some("AZURE_STORAGE_ENCRYPTION_KEY"),
            _ => None,
        },
        Kind::Folder | Kind::Http => None,
    }
}

/// What in a URL would be a secret: a password (`user:password@`) or a query string (signed
/// URLs, SAS tokens). `None` for a URL without either, or for text that is not a URL.
pub fn url_secret(text: &str) -> Option<&'static str> {
    let url = url::Url::parse(text.trim()).ok()?;
    if url.password().is_some() || !url.username().is_empty() {
        Some("user information (user:password@)")
    } else if url.query().is_some() {
        Some("a query string (signed URLs and SAS tokens are credentials)")
    } else {
        None
    }
}

/// A URL with any user information (`user:password@`) and query removed, for messages.
/// Text that is not a URL loses everything up to its last `@`.
pub fn redact_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => text.split('@').next_back().unwrap_or(text).to_string(),
    }
}

/// `message` with every URL in it (`scheme://…` up to white space or a quote) redacted as by
/// [`redact_url`]: error texts of the HTTP client quote the URLs they requested, which may
/// carry an endpoint's user information or a signed query.
pub fn redact_urls_in(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("://") {
        // The scheme: the letters, digits, '+', '-' and '.' just before "://".
        let start = rest[..at]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || "+-.".contains(*c))
            .last()
            .map_or(at, |(i, _)| i);
        let end = rest[at..]
            .find(|c: char| c.is_whitespace() || "\"'<>`)],".contains(c))
            .map_or(rest.len(), |e| at + e);
        out.push_str(&rest[..start]);
        out.push_str(&redact_url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_known_by_every_name_object_store_accepts() {
        for name in ["aws_secret_access_key", "secret_access_key", "AWS_SECRET_ACCESS_KEY"] {
            assert!(credential_option(Kind::S3, name).is_some_and(|v| v.contains("AWS_SECRET")), "{name}");
        }
        for name in ["aws_session_token", "aws_token", "session_token", "token", "sse_customer_key_base64"] {
            assert!(credential_option(Kind::S3, name).is_some(), "{name}");
        }
        for name in ["endpoint", "region", "aws_endpoint_url", "allow_http", "sse_kms_key_id"] {
            assert!(credential_option(Kind::S3, name).is_none(), "{name}");
        }
        for name in [
            "azure_storage_account_key",
            "access_key",
            "account_key",
            "azure_client_secret",
            "sas_token",
            "azure_storage_sas_key",
            "bearer_token",
            "encryption_key",
        ] {
            assert!(credential_option(Kind::Azure, name).is_some(), "{name}");
        }
        assert!(credential_option(Kind::Azure, "account_name").is_none());
        for name in
            ["service_account_key", "google_service_account_key", "bearer_token", "application_credentials"]
        {
            assert!(credential_option(Kind::Gcs, name).is_some(), "{name}");
        }
    }

    #[test]
    fn urls_lose_user_information_and_queries_in_messages() {
        assert_eq!(url_secret("http://u:p@minio:9000"), Some("user information (user:password@)"));
        assert!(url_secret("https://h/p?X-Amz-Signature=abc").is_some_and(|w| w.contains("query")));
        assert_eq!(url_secret("http://minio:9000"), None);
        assert_eq!(url_secret("us-east-1"), None);
        let m = redact_urls_in(
            "error sending request for url (http://ak:s3cret@127.0.0.1:9/b/k?sig=xyz): connect, see \"https://x/y?token=t\"",
        );
        assert!(!m.contains("s3cret") && !m.contains("xyz") && !m.contains("token=t"), "{m}");
        assert!(m.contains("http://127.0.0.1:9/b/k") && m.contains("https://x/y"), "{m}");
        assert_eq!(redact_urls_in("no url here"), "no url here");
    }
}
