//! The object storage config in Thanos's `objstore.yml` shape:
//!
//! ```yaml
//! type: S3            # or FILESYSTEM; case-insensitive
//! config:
//!   bucket: metrics
//!   endpoint: minio:9000
//!   access_key: ...
//!   secret_key: ...
//!   insecure: true
//! prefix: ""          # optional key prefix inside the bucket
//! ```
//!
//! Unknown fields are errors that name the field, so a typo does not silently
//! fall back to a default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::ConfigError;

const ORIGIN: &str = "bucket config";

/// Where blocks are stored.
// Parsed once per process; boxing the S3 variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketConfig {
    /// A directory on the local filesystem (created if missing).
    Filesystem { directory: PathBuf },
    /// An S3-compatible service (AWS, MinIO, Ceph, ...).
    S3(S3Config),
}

/// How the bucket name goes into request URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum BucketLookupType {
    /// Virtual-hosted style for AWS (no endpoint or `*.amazonaws.com`),
    /// path style for any other endpoint.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "virtual-hosted")]
    VirtualHosted,
    #[serde(rename = "path")]
    Path,
}

/// Thanos's S3 `config:` section. Fields Thanos knows that Argus cannot honour
/// are accepted only at their default values (see [`S3Config::validate`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    /// `host[:port]` as in Thanos (the scheme follows `insecure`), or a full
    /// `http(s)://` URL. Empty means AWS.
    pub endpoint: String,
    /// Signing region; empty means `us-east-1`.
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    pub session_token: String,
    /// Plain HTTP instead of HTTPS.
    pub insecure: bool,
    pub bucket_lookup_type: BucketLookupType,
    /// Retries of one HTTP request inside the S3 client.
    pub max_retries: u32,
    /// Multipart upload part size in bytes; 0 means the Argus default.
    pub part_size: u64,
    pub disable_multipart: bool,
    /// Use the AWS SDK's default credential chain (environment, profile,
    /// instance metadata) instead of `access_key`/`secret_key`.
    pub aws_sdk_auth: bool,
    pub http_config: BucketHttpConfig,
    pub sse_config: Option<SseConfig>,
    /// Accepted for compatibility; only `false` is supported.
    pub signature_version2: bool,
    /// Accepted for compatibility; the client always lists with v2.
    pub list_objects_version: String,
    /// Accepted for compatibility; ignored.
    pub send_content_md5: bool,
    /// Accepted for compatibility; only an empty map is supported.
    pub put_user_metadata: BTreeMap<String, String>,
    /// Accepted for compatibility; ignored.
    pub trace: TraceConfig,
    /// Accepted for compatibility; ignored.
    pub sts_endpoint: String,
    /// Key prefix inside the bucket (the top-level `prefix:` of the file).
    #[serde(skip)]
    pub prefix: String,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            bucket: String::new(),
            endpoint: String::new(),
            region: String::new(),
            access_key: String::new(),
            secret_key: String::new(),
            session_token: String::new(),
            insecure: false,
            bucket_lookup_type: BucketLookupType::Auto,
            max_retries: 3,
            part_size: 0,
            disable_multipart: false,
            aws_sdk_auth: false,
            http_config: BucketHttpConfig::default(),
            sse_config: None,
            signature_version2: false,
            list_objects_version: String::new(),
            send_content_md5: false,
            put_user_metadata: BTreeMap::new(),
            trace: TraceConfig::default(),
            sts_endpoint: String::new(),
            prefix: String::new(),
        }
    }
}

impl S3Config {
    pub const DEFAULT_REGION: &'static str = "us-east-1";

    /// The signing region, defaulting to `us-east-1`.
    pub fn region_or_default(&self) -> &str {
        if self.region.is_empty() {
            Self::DEFAULT_REGION
        } else {
            &self.region
        }
    }

    /// The endpoint as a URL (`http://` when `insecure`, else `https://`),
    /// or `None` for AWS's default endpoints.
    pub fn endpoint_url(&self) -> Option<String> {
        let e = self.endpoint.trim().trim_end_matches('/');
        if e.is_empty() {
            return None;
        }
        if e.starts_with("http://") || e.starts_with("https://") {
            return Some(e.to_string());
        }
        let scheme = if self.insecure { "http" } else { "https" };
        Some(format!("{scheme}://{e}"))
    }

    /// Whether requests should use path style (`endpoint/bucket/key`).
    pub fn path_style(&self) -> bool {
        match self.bucket_lookup_type {
            BucketLookupType::Path => true,
            BucketLookupType::VirtualHosted => false,
            BucketLookupType::Auto => {
                let e = self.endpoint.trim();
                !(e.is_empty() || e.trim_end_matches('/').ends_with("amazonaws.com"))
            }
        }
    }

    /// Checks values serde cannot: required fields and unsupported options.
    pub fn validate(&self) -> Result<(), S3ConfigError> {
        if self.bucket.trim().is_empty() {
            return Err(S3ConfigError::MissingBucket);
        }
        if self.access_key.is_empty() != self.secret_key.is_empty() {
            return Err(S3ConfigError::HalfACredential);
        }
        if self.signature_version2 {
            return Err(S3ConfigError::SignatureV2);
        }
        if !self.put_user_metadata.is_empty() {
            return Err(S3ConfigError::PutUserMetadata);
        }
        match self.list_objects_version.as_str() {
            "" | "v1" | "v2" => {}
            v => return Err(S3ConfigError::ListObjectsVersion(v.to_string())),
        }
        if let Some(sse) = &self.sse_config {
            match sse.kind.as_str() {
                "" | "SSE-S3" => {}
                "SSE-KMS" if !sse.kms_key_id.is_empty() => {}
                "SSE-KMS" => return Err(S3ConfigError::KmsWithoutKey),
                "SSE-C" => return Err(S3ConfigError::SseC),
                t => return Err(S3ConfigError::UnknownSse(t.to_string())),
            }
        }
        Ok(())
    }
}

/// What [`S3Config::validate`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S3ConfigError {
    #[error("s3: missing field `bucket`")]
    MissingBucket,
    #[error("s3: `access_key` and `secret_key` must be set together")]
    HalfACredential,
    #[error("s3: `signature_version2: true` is not supported")]
    SignatureV2,
    #[error("s3: `put_user_metadata` is not supported")]
    PutUserMetadata,
    #[error("s3: invalid `list_objects_version` {0:?}")]
    ListObjectsVersion(String),
    #[error("s3: sse_config of type SSE-KMS needs `kms_key_id`")]
    KmsWithoutKey,
    #[error("s3: sse_config of type SSE-C is not supported")]
    SseC,
    #[error("s3: unknown sse_config type {0:?}")]
    UnknownSse(String),
}

/// Thanos's `http_config` subset that maps onto the HTTP client.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BucketHttpConfig {
    #[serde(deserialize_with = "de_duration")]
    pub idle_conn_timeout: Option<Duration>,
    /// Used as the whole-request timeout.
    #[serde(deserialize_with = "de_duration")]
    pub response_header_timeout: Option<Duration>,
    /// Used as the connect timeout.
    #[serde(deserialize_with = "de_duration")]
    pub tls_handshake_timeout: Option<Duration>,
    /// Accepted for compatibility; ignored.
    #[serde(deserialize_with = "de_duration")]
    pub expect_continue_timeout: Option<Duration>,
    pub insecure_skip_verify: bool,
    /// Accepted for compatibility; ignored.
    pub max_idle_conns: u32,
    pub max_idle_conns_per_host: u32,
    /// Accepted for compatibility; ignored.
    pub max_conns_per_host: u32,
    /// Accepted for compatibility; ignored.
    pub disable_compression: bool,
}

/// Server-side encryption.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SseConfig {
    /// `SSE-S3` or `SSE-KMS` (`SSE-C` is rejected).
    #[serde(rename = "type")]
    pub kind: String,
    pub kms_key_id: String,
    pub kms_encryption_context: BTreeMap<String, String>,
    pub encryption_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceConfig {
    pub enable: bool,
}

fn de_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    match s {
        None => Ok(None),
        Some(s) => crate::parse_duration(&s)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilesystemConfig {
    directory: PathBuf,
}

/// The whole file for one bucket type.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<T> {
    #[serde(rename = "type")]
    _kind: String,
    config: T,
    #[serde(default)]
    prefix: String,
}

/// Only the `type` field, to pick the shape of `config`.
#[derive(Deserialize)]
struct KindOnly {
    #[serde(rename = "type")]
    kind: String,
}

/// Parses bucket config text. Errors say "bucket config" and the line.
pub fn parse_bucket_config(text: &str) -> Result<BucketConfig, ConfigError> {
    parse(text, ORIGIN)
}

/// Reads and parses a bucket config file. Errors name the file and line.
pub fn load_bucket_config(path: impl AsRef<Path>) -> Result<BucketConfig, ConfigError> {
    let path = path.as_ref();
    let text =
        crate::yaml_bounds::read_bounded_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    parse(&text, &path.display().to_string())
}

fn parse(text: &str, origin: &str) -> Result<BucketConfig, ConfigError> {
    if text.trim().is_empty() {
        return Err(ConfigError::Invalid {
            origin: origin.to_string(),
            message: "empty bucket config: expected `type:` and `config:`".to_string(),
        });
    }
    ConfigError::check_yaml(origin, text)?;
    let kind: KindOnly = serde_yaml::from_str(text).map_err(|e| ConfigError::yaml(origin, &e))?;
    let invalid = |message: String| ConfigError::Invalid {
        origin: origin.to_string(),
        message,
    };
    match kind.kind.trim().to_ascii_uppercase().as_str() {
        "FILESYSTEM" => {
            let env: Envelope<FilesystemConfig> =
                serde_yaml::from_str(text).map_err(|e| ConfigError::yaml(origin, &e))?;
            if env.config.directory.as_os_str().is_empty() {
                return Err(invalid("filesystem: `directory` is empty".to_string()));
            }
            let prefix = env.prefix.trim_matches('/');
            let directory = if prefix.is_empty() {
                env.config.directory
            } else {
                env.config.directory.join(prefix)
            };
            Ok(BucketConfig::Filesystem { directory })
        }
        "S3" => {
            let env: Envelope<S3Config> =
                serde_yaml::from_str(text).map_err(|e| ConfigError::yaml(origin, &e))?;
            let mut cfg = env.config;
            cfg.prefix = env.prefix.trim_matches('/').to_string();
            cfg.validate().map_err(|e| invalid(e.to_string()))?;
            Ok(BucketConfig::S3(cfg))
        }
        other => Err(invalid(format!(
            "unsupported bucket type {other:?} (supported: FILESYSTEM, S3)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match parse_bucket_config(text) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn filesystem() {
        let c = parse_bucket_config("type: FILESYSTEM\nconfig:\n  directory: /data/bucket\n");
        assert_eq!(
            c.ok(),
            Some(BucketConfig::Filesystem {
                directory: PathBuf::from("/data/bucket")
            })
        );
        let c = parse_bucket_config("type: filesystem\nconfig: {directory: d}\nprefix: /p/\n");
        assert_eq!(
            c.ok(),
            Some(BucketConfig::Filesystem {
                directory: PathBuf::from("d/p")
            })
        );
    }

    #[test]
    fn s3_minimal_defaults() {
        let text = "type: s3\nconfig:\n  bucket: metrics\n  endpoint: 127.0.0.1:9000\n  access_key: ak\n  secret_key: sk\n  insecure: true\n";
        let Ok(BucketConfig::S3(c)) = parse_bucket_config(text) else {
            panic!("expected s3 config");
        };
        assert_eq!(c.bucket, "metrics");
        assert_eq!(c.region_or_default(), "us-east-1");
        assert_eq!(c.endpoint_url().as_deref(), Some("http://127.0.0.1:9000"));
        assert!(c.path_style());
        assert!(c.insecure);
        assert_eq!(c.prefix, "");
    }

    #[test]
    fn s3_thanos_example_with_all_common_fields() {
        let text = r#"
type: S3
config:
  bucket: "thanos"
  endpoint: "s3.us-west-2.amazonaws.com"
  region: "us-west-2"
  aws_sdk_auth: false
  access_key: "AK"
  insecure: false
  signature_version2: false
  secret_key: "SK"
  session_token: ""
  put_user_metadata: {}
  http_config:
    idle_conn_timeout: 1m30s
    response_header_timeout: 2m
    insecure_skip_verify: false
    tls_handshake_timeout: 10s
    expect_continue_timeout: 1s
    max_idle_conns: 100
    max_idle_conns_per_host: 100
    max_conns_per_host: 0
  trace:
    enable: false
  list_objects_version: ""
  bucket_lookup_type: auto
  send_content_md5: true
  disable_multipart: false
  part_size: 67108864
  sse_config:
    type: ""
    kms_key_id: ""
    kms_encryption_context: {}
    encryption_key: ""
  sts_endpoint: ""
  max_retries: 5
prefix: "tenant-a"
"#;
        let c = match parse_bucket_config(text) {
            Ok(BucketConfig::S3(c)) => c,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(c.region_or_default(), "us-west-2");
        assert_eq!(
            c.endpoint_url().as_deref(),
            Some("https://s3.us-west-2.amazonaws.com")
        );
        assert!(!c.path_style());
        assert_eq!(
            c.http_config.idle_conn_timeout,
            Some(Duration::from_secs(90))
        );
        assert_eq!(c.max_retries, 5);
        assert_eq!(c.part_size, 64 << 20);
        assert_eq!(c.prefix, "tenant-a");
    }

    #[test]
    fn unknown_field_is_named_with_line() {
        let e = err("type: S3\nconfig:\n  bucket: b\n  bucket_name: x\n");
        assert!(e.contains("bucket_name"), "{e}");
        assert!(e.starts_with("bucket config:4:"), "{e}");
        let e = err("type: FILESYSTEM\nconfig:\n  directory: d\n  dir: x\n");
        assert!(e.contains("unknown field `dir`"), "{e}");
        let e = err("type: FILESYSTEM\nconfig:\n  directory: d\nextra: 1\n");
        assert!(e.contains("unknown field `extra`"), "{e}");
        let e = err("type: S3\nconfig:\n  bucket: b\n  http_config:\n    tls_config: {}\n");
        assert!(e.contains("tls_config"), "{e}");
    }

    #[test]
    fn invalid_values() {
        assert!(
            err("type: GCS\nconfig: {bucket: b}\n").contains("unsupported bucket type \"GCS\"")
        );
        assert!(err("type: S3\nconfig: {endpoint: e}\n").contains("missing field `bucket`"));
        assert!(err("type: S3\nconfig: {bucket: b, access_key: a}\n").contains("secret_key"));
        assert!(
            err("type: S3\nconfig: {bucket: b, signature_version2: true}\n")
                .contains("signature_version2")
        );
        assert!(err("type: S3\nconfig: {bucket: b, insecure: maybe}\n").contains("insecure"));
        let e = err("type: S3\nconfig:\n  bucket: b\n  http_config: {idle_conn_timeout: 5x}\n");
        assert!(e.contains("invalid duration"), "{e}");
        assert!(err("").contains("empty bucket config"));
        assert!(err("config: {directory: d}\n").contains("missing field `type`"));
        assert!(err("type: FILESYSTEM\n").contains("missing field `config`"));
        assert!(err("type: [\n").starts_with("bucket config:"));
    }

    #[test]
    fn load_names_the_file() {
        let dir = std::env::temp_dir().join(format!("argus-config-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("objstore.yml");
        let _ = std::fs::write(&path, "type: S3\nconfig:\n  bucket: b\n  nope: 1\n");
        let e = load_bucket_config(&path).err().map(|e| e.to_string());
        let _ = std::fs::remove_dir_all(&dir);
        let e = e.unwrap_or_default();
        assert!(e.starts_with(&format!("{}:4:", path.display())), "{e}");
        assert!(e.contains("nope"), "{e}");
        let missing = load_bucket_config(dir.join("missing.yml")).err();
        assert!(missing.is_some_and(|e| e.to_string().contains("missing.yml")));
    }
}
