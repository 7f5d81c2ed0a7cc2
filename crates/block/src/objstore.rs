//! Blocks in object storage: `<bucket>/<ULID>/{meta.json, series.parquet,
//! chunks.parquet}`.
//!
//! `meta.json` is uploaded last and deleted first, so a block directory
//! without it is a partial upload (or a partial delete): [`Bucket::list_blocks`]
//! ignores it and [`Bucket::partial_blocks`] reports it for cleanup.
//! Every request is retried with exponential backoff on errors that may be
//! transient.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use argus_config::BucketConfig;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ulid::Ulid;

use crate::meta::BlockMeta;
use crate::{BlockError, META_FILE, TMP_DOWNLOAD_SUFFIX, fsync_dir};

/// Default multipart part size (and the size above which uploads use it).
pub const DEFAULT_PART_SIZE: usize = 16 << 20;
/// S3's smallest allowed part (except the last).
const MIN_S3_PART_SIZE: usize = 5 << 20;

/// How often and how patiently a request is retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in total, at least 1.
    pub max_tries: u32,
    /// Sleep before the second attempt; doubled for each further one.
    pub initial_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_tries: 5,
            initial_backoff: Duration::from_millis(100),
        }
    }
}

/// A bucket holding blocks.
#[derive(Debug, Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    /// For logs and errors: `memory`, `filesystem:/dir`, `s3://bucket/prefix`.
    name: String,
    retry: RetryPolicy,
    /// Files larger than this are uploaded in parts of this size.
    part_size: usize,
    multipart: bool,
}

/// Whether an object storage error may go away on retry: connection
/// errors, timeouts, 5xx, 408 and 429 yes; other 4xx answers and typed
/// errors (not found, permission denied, ...) no.
pub fn is_retryable(e: &object_store::Error) -> bool {
    match e {
        object_store::Error::Generic { source, .. } => {
            // The HTTP status is only visible in the message of the
            // retry error inside (its type is private to object_store).
            let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
            while let Some(err) = cur {
                let msg = err.to_string();
                if let Some(rest) = msg.strip_prefix("Server returned non-2xx status code: ") {
                    let code = rest.get(..3).unwrap_or("");
                    return !code.starts_with('4') || code == "408" || code == "429";
                }
                cur = err.source();
            }
            true
        }
        object_store::Error::JoinError { .. } => true,
        _ => false,
    }
}

fn block_retryable(e: &BlockError) -> bool {
    match e {
        BlockError::ObjectStore { source, .. } => is_retryable(source),
        _ => false,
    }
}

fn is_not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

impl Bucket {
    /// Opens the bucket a config describes. A filesystem bucket's directory
    /// is created if missing.
    pub fn from_config(cfg: &BucketConfig) -> Result<Bucket, BlockError> {
        match cfg {
            BucketConfig::Filesystem { directory } => {
                std::fs::create_dir_all(directory).map_err(|e| BlockError::io(directory, e))?;
                let fs = LocalFileSystem::new_with_prefix(directory)
                    .map_err(|e| {
                        BlockError::Config(format!(
                            "filesystem bucket {}: {e}",
                            directory.display()
                        ))
                    })?
                    .with_automatic_cleanup(true)
                    // Local blocks are deleted once uploaded: the copy in
                    // the bucket must be durable, as S3's is.
                    .with_fsync(true);
                Ok(Bucket::from_store(
                    Arc::new(fs),
                    format!("filesystem:{}", directory.display()),
                ))
            }
            BucketConfig::S3(c) => {
                c.validate()
                    .map_err(|e| BlockError::Config(e.to_string()))?;
                let mut b = if c.aws_sdk_auth {
                    AmazonS3Builder::from_env()
                } else {
                    AmazonS3Builder::new()
                };
                let path_style = c.path_style();
                let mut allow_http = false;
                b = b
                    .with_bucket_name(&c.bucket)
                    .with_region(c.region_or_default())
                    .with_virtual_hosted_style_request(!path_style);
                if let Some(url) = c.endpoint_url() {
                    let url = if path_style {
                        url
                    } else {
                        // object_store expects the bucket in a
                        // virtual-hosted endpoint; Thanos's endpoint lacks it.
                        match url.split_once("://") {
                            Some((scheme, host))
                                if !host.starts_with(&format!("{}.", c.bucket)) =>
                            {
                                format!("{scheme}://{}.{host}", c.bucket)
                            }
                            _ => url,
                        }
                    };
                    allow_http = url.starts_with("http://");
                    b = b.with_endpoint(url);
                }
                if !c.access_key.is_empty() {
                    b = b
                        .with_access_key_id(&c.access_key)
                        .with_secret_access_key(&c.secret_key);
                    if !c.session_token.is_empty() {
                        b = b.with_token(&c.session_token);
                    }
                }
                if let Some(sse) = &c.sse_config {
                    match sse.kind.as_str() {
                        "SSE-S3" => {
                            let key: AmazonS3ConfigKey = "aws_server_side_encryption"
                                .parse()
                                .map_err(|e| BlockError::Config(format!("s3: {e}")))?;
                            b = b.with_config(key, "AES256");
                        }
                        "SSE-KMS" => b = b.with_sse_kms_encryption(&sse.kms_key_id),
                        _ => {}
                    }
                }
                let retry = RetryConfig {
                    max_retries: c.max_retries as usize,
                    retry_timeout: Duration::from_secs(60),
                    ..RetryConfig::default()
                };
                b = b.with_retry(retry);
                let h = &c.http_config;
                // Client options carry `allow_http` too, so set it here.
                let mut opts = ClientOptions::new()
                    .with_allow_http(allow_http)
                    .with_allow_invalid_certificates(h.insecure_skip_verify);
                if let Some(d) = h.response_header_timeout.filter(|d| !d.is_zero()) {
                    opts = opts.with_timeout(d);
                }
                if let Some(d) = h.tls_handshake_timeout.filter(|d| !d.is_zero()) {
                    opts = opts.with_connect_timeout(d);
                }
                if let Some(d) = h.idle_conn_timeout.filter(|d| !d.is_zero()) {
                    opts = opts.with_pool_idle_timeout(d);
                }
                if h.max_idle_conns_per_host > 0 {
                    opts = opts.with_pool_max_idle_per_host(h.max_idle_conns_per_host as usize);
                }
                b = b.with_client_options(opts);
                let s3 = b
                    .build()
                    .map_err(|e| BlockError::Config(format!("s3 bucket {:?}: {e}", c.bucket)))?;
                let name = if c.prefix.is_empty() {
                    format!("s3://{}", c.bucket)
                } else {
                    format!("s3://{}/{}", c.bucket, c.prefix)
                };
                let store: Arc<dyn ObjectStore> = if c.prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(PrefixStore::new(s3, c.prefix.as_str()))
                };
                let mut bucket = Bucket::from_store(store, name);
                if c.part_size > 0 {
                    bucket.part_size = usize::try_from(c.part_size)
                        .unwrap_or(usize::MAX)
                        .max(MIN_S3_PART_SIZE);
                }
                bucket.multipart = !c.disable_multipart;
                Ok(bucket)
            }
        }
    }

    /// An in-memory bucket, for tests.
    pub fn in_memory() -> Bucket {
        Bucket::from_store(Arc::new(InMemory::new()), "memory".to_string())
    }

    /// Wraps any object store.
    pub fn from_store(store: Arc<dyn ObjectStore>, name: String) -> Bucket {
        Bucket {
            store,
            name,
            retry: RetryPolicy::default(),
            part_size: DEFAULT_PART_SIZE,
            multipart: true,
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Bucket {
        self.retry = RetryPolicy {
            max_tries: retry.max_tries.max(1),
            ..retry
        };
        self
    }

    /// Files larger than `bytes` are uploaded in parts of `bytes`.
    pub fn with_part_size(mut self, bytes: usize) -> Bucket {
        self.part_size = bytes.max(1);
        self
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn object_err(&self, object: &ObjectPath, source: object_store::Error) -> BlockError {
        BlockError::ObjectStore {
            object: format!("{}/{object}", self.name),
            source,
        }
    }

    /// Runs `op` until it succeeds, fails for good, or runs out of tries.
    async fn retry<T, F, Fut>(
        &self,
        op: &str,
        object: &ObjectPath,
        mut f: F,
    ) -> Result<T, BlockError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, BlockError>>,
    {
        let mut delay = self.retry.initial_backoff;
        let mut attempt = 1;
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) if attempt < self.retry.max_tries && block_retryable(&e) => {
                    tracing::warn!(
                        bucket = %self.name,
                        op,
                        object = %object,
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        error = %e,
                        "object storage request failed; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn put_bytes(&self, path: &ObjectPath, data: Bytes) -> Result<(), BlockError> {
        self.retry("put", path, || {
            let payload = PutPayload::from(data.clone());
            async move {
                self.store
                    .put(path, payload)
                    .await
                    .map(|_| ())
                    .map_err(|e| self.object_err(path, e))
            }
        })
        .await
    }

    /// Uploads one local file, in parts when it is large.
    async fn put_file(&self, local: &Path, path: &ObjectPath) -> Result<u64, BlockError> {
        let len = tokio::fs::metadata(local)
            .await
            .map_err(|e| BlockError::io(local, e))?
            .len();
        if !self.multipart || len <= self.part_size as u64 {
            let data = tokio::fs::read(local)
                .await
                .map_err(|e| BlockError::io(local, e))?;
            self.put_bytes(path, Bytes::from(data)).await?;
            return Ok(len);
        }
        self.retry("multipart put", path, || {
            self.put_file_multipart(local, path)
        })
        .await?;
        Ok(len)
    }

    async fn put_file_multipart(&self, local: &Path, path: &ObjectPath) -> Result<(), BlockError> {
        let mut file = tokio::fs::File::open(local)
            .await
            .map_err(|e| BlockError::io(local, e))?;
        let mut upload = self
            .store
            .put_multipart(path)
            .await
            .map_err(|e| self.object_err(path, e))?;
        let res: Result<(), BlockError> = async {
            loop {
                let mut buf = Vec::with_capacity(self.part_size);
                (&mut file)
                    .take(self.part_size as u64)
                    .read_to_end(&mut buf)
                    .await
                    .map_err(|e| BlockError::io(local, e))?;
                if buf.is_empty() {
                    break;
                }
                upload
                    .put_part(PutPayload::from(buf))
                    .await
                    .map_err(|e| self.object_err(path, e))?;
            }
            upload
                .complete()
                .await
                .map(|_| ())
                .map_err(|e| self.object_err(path, e))
        }
        .await;
        if res.is_err()
            && let Err(e) = upload.abort().await
        {
            tracing::warn!(bucket = %self.name, object = %path, error = %e, "cannot abort multipart upload");
        }
        res
    }

    /// Uploads a local block directory (named by its ULID): every file but
    /// `meta.json` first, `meta.json` last.
    pub async fn upload_block(&self, local_block_dir: &Path) -> Result<(), BlockError> {
        let start = std::time::Instant::now();
        let meta = read_local_meta(local_block_dir).await?;
        let dir_name = local_block_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if dir_name != meta.ulid.to_string() {
            return Err(BlockError::corrupt(
                local_block_dir,
                format!("directory name differs from meta.json ulid {}", meta.ulid),
            ));
        }
        let files = local_files(local_block_dir).await?;
        let mut bytes = 0;
        for rel in files.iter().filter(|r| r.as_str() != META_FILE) {
            let object = ObjectPath::from(format!("{}/{rel}", meta.ulid));
            bytes += self.put_file(&local_block_dir.join(rel), &object).await?;
        }
        let meta_path = local_block_dir.join(META_FILE);
        let meta_bytes = tokio::fs::read(&meta_path)
            .await
            .map_err(|e| BlockError::io(&meta_path, e))?;
        bytes += meta_bytes.len() as u64;
        self.put_bytes(&meta_object(meta.ulid), Bytes::from(meta_bytes))
            .await?;
        tracing::info!(
            bucket = %self.name,
            block = %meta.ulid,
            files = files.len(),
            bytes,
            elapsed_ms = start.elapsed().as_millis() as u64,
            "uploaded block"
        );
        Ok(())
    }

    /// The meta of block `id`, or `None` when its `meta.json` is absent.
    pub async fn block_meta(&self, id: Ulid) -> Result<Option<BlockMeta>, BlockError> {
        let path = meta_object(id);
        let got = self
            .retry("get", &path, || async {
                match self.store.get(&path).await {
                    Ok(r) => r.bytes().await.map(Some),
                    Err(e) if is_not_found(&e) => Ok(None),
                    Err(e) => Err(e),
                }
                .map_err(|e| self.object_err(&path, e))
            })
            .await?;
        let Some(bytes) = got else {
            return Ok(None);
        };
        let object = format!("{}/{path}", self.name);
        let meta: BlockMeta =
            serde_json::from_slice(&bytes).map_err(|source| BlockError::RemoteMetaJson {
                object: object.clone(),
                source,
            })?;
        meta.check().map_err(|m| BlockError::Corrupt {
            path: PathBuf::from(object),
            message: m.to_string(),
        })?;
        Ok(Some(meta))
    }

    /// ULIDs of the top-level block directories, complete or not.
    async fn block_dirs(&self) -> Result<Vec<Ulid>, BlockError> {
        let root = ObjectPath::from("");
        let list = self
            .retry("list", &root, || async {
                self.store
                    .list_with_delimiter(None)
                    .await
                    .map_err(|e| self.object_err(&root, e))
            })
            .await?;
        let mut ids: Vec<Ulid> = list
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().and_then(|n| Ulid::from_string(n).ok()))
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Metas of the complete blocks, sorted by `min_time` then ULID. A block
    /// directory without `meta.json` is skipped; one whose `meta.json` does
    /// not parse is skipped with a warning.
    pub async fn list_blocks(&self) -> Result<Vec<BlockMeta>, BlockError> {
        let ids = self.block_dirs().await?;
        let results: Vec<(Ulid, Result<Option<BlockMeta>, BlockError>)> =
            futures::stream::iter(ids)
                .map(|id| async move { (id, self.block_meta(id).await) })
                .buffer_unordered(16)
                .collect()
                .await;
        let mut metas = Vec::new();
        for (id, r) in results {
            match r {
                Ok(Some(m)) => metas.push(m),
                Ok(None) => {}
                Err(e @ (BlockError::RemoteMetaJson { .. } | BlockError::Corrupt { .. })) => {
                    tracing::warn!(bucket = %self.name, block = %id, error = %e, "skipping block with a bad meta.json");
                }
                Err(e) => return Err(e),
            }
        }
        metas.sort_by(|a, b| a.min_time.cmp(&b.min_time).then(a.ulid.cmp(&b.ulid)));
        Ok(metas)
    }

    /// Block directories without `meta.json`: partial uploads or deletes.
    /// A block being uploaded right now shows up here too; callers deleting
    /// them should wait until the ULID's time is old enough.
    pub async fn partial_blocks(&self) -> Result<Vec<Ulid>, BlockError> {
        let ids = self.block_dirs().await?;
        let results: Vec<(Ulid, Result<bool, BlockError>)> = futures::stream::iter(ids)
            .map(|id| async move {
                let path = meta_object(id);
                let r = self
                    .retry("head", &path, || async {
                        match self.store.head(&path).await {
                            Ok(_) => Ok(true),
                            Err(e) if is_not_found(&e) => Ok(false),
                            Err(e) => Err(self.object_err(&path, e)),
                        }
                    })
                    .await;
                (id, r)
            })
            .buffer_unordered(16)
            .collect()
            .await;
        let mut out = Vec::new();
        for (id, r) in results {
            if !r? {
                out.push(id);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Objects under `<id>/`, with sizes.
    async fn block_objects(&self, id: Ulid) -> Result<Vec<(ObjectPath, u64)>, BlockError> {
        let prefix = ObjectPath::from(id.to_string());
        self.retry("list", &prefix, || async {
            self.store
                .list(Some(&prefix))
                .map_ok(|m| (m.location, m.size))
                .try_collect::<Vec<_>>()
                .await
                .map_err(|e| self.object_err(&prefix, e))
        })
        .await
    }

    /// Downloads block `id` into `local_parent/<id>/` (through a temporary
    /// directory renamed at the end) and returns that path. A complete local
    /// copy (with `meta.json`) is kept as it is: blocks never change.
    pub async fn download_block(
        &self,
        id: Ulid,
        local_parent: &Path,
    ) -> Result<PathBuf, BlockError> {
        let start = std::time::Instant::now();
        let dst = local_parent.join(id.to_string());
        if tokio::fs::try_exists(dst.join(META_FILE))
            .await
            .unwrap_or(false)
        {
            tracing::debug!(block = %id, dir = %dst.display(), "block already downloaded");
            return Ok(dst);
        }
        let objects = self.block_objects(id).await?;
        let meta = meta_object(id);
        if !objects.iter().any(|(p, _)| *p == meta) {
            return Err(BlockError::NotFound(id));
        }
        let tmp = local_parent.join(format!("{id}{TMP_DOWNLOAD_SUFFIX}"));
        remove_dir_if_exists(&tmp).await?;
        tokio::fs::create_dir_all(&tmp)
            .await
            .map_err(|e| BlockError::io(&tmp, e))?;
        let res = self.download_into(id, &objects, &tmp).await;
        let res = match res {
            Ok(bytes) => {
                async {
                    let tmp2 = tmp.clone();
                    tokio::task::spawn_blocking(move || fsync_dir(&tmp2))
                        .await
                        .map_err(|e| BlockError::Join(e.to_string()))??;
                    remove_dir_if_exists(&dst).await?;
                    tokio::fs::rename(&tmp, &dst)
                        .await
                        .map_err(|e| BlockError::io(&dst, e))?;
                    let parent = local_parent.to_path_buf();
                    tokio::task::spawn_blocking(move || fsync_dir(&parent))
                        .await
                        .map_err(|e| BlockError::Join(e.to_string()))??;
                    Ok(bytes)
                }
                .await
            }
            Err(e) => Err(e),
        };
        match res {
            Ok(bytes) => {
                tracing::info!(
                    bucket = %self.name,
                    block = %id,
                    dir = %dst.display(),
                    bytes,
                    elapsed_ms = start.elapsed().as_millis() as u64,
                    "downloaded block"
                );
                Ok(dst)
            }
            Err(e) => {
                let _ = tokio::fs::remove_dir_all(&tmp).await;
                Err(e)
            }
        }
    }

    async fn download_into(
        &self,
        id: Ulid,
        objects: &[(ObjectPath, u64)],
        dir: &Path,
    ) -> Result<u64, BlockError> {
        let meta = meta_object(id);
        let mut ordered: Vec<&(ObjectPath, u64)> =
            objects.iter().filter(|(p, _)| *p != meta).collect();
        ordered.extend(objects.iter().filter(|(p, _)| *p == meta));
        let mut total = 0;
        for (path, size) in ordered {
            let parts: Vec<String> = path
                .parts()
                .skip(1)
                .map(|p| p.as_ref().to_string())
                .collect();
            if parts.is_empty() || parts.iter().any(|p| p == ".." || p == "." || p.is_empty()) {
                return Err(BlockError::Corrupt {
                    path: PathBuf::from(format!("{}/{path}", self.name)),
                    message: "unexpected object name in block".to_string(),
                });
            }
            let local: PathBuf = parts.iter().fold(dir.to_path_buf(), |acc, p| acc.join(p));
            if let Some(parent) = local.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| BlockError::io(parent, e))?;
            }
            let got = self
                .retry("get", path, || self.get_to_file(path, &local))
                .await?;
            if got != *size {
                return Err(BlockError::Corrupt {
                    path: local,
                    message: format!("downloaded {got} bytes, the bucket lists {size}"),
                });
            }
            total += got;
        }
        Ok(total)
    }

    async fn get_to_file(&self, path: &ObjectPath, local: &Path) -> Result<u64, BlockError> {
        let mut file = tokio::fs::File::create(local)
            .await
            .map_err(|e| BlockError::io(local, e))?;
        let mut stream = self
            .store
            .get(path)
            .await
            .map_err(|e| self.object_err(path, e))?
            .into_stream();
        let mut n = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.object_err(path, e))?;
            file.write_all(&chunk)
                .await
                .map_err(|e| BlockError::io(local, e))?;
            n += chunk.len() as u64;
        }
        file.sync_all()
            .await
            .map_err(|e| BlockError::io(local, e))?;
        Ok(n)
    }

    /// Deletes block `id`: `meta.json` first (so the block stops being
    /// listed at once), then everything else. Missing objects are fine.
    pub async fn delete_block(&self, id: Ulid) -> Result<(), BlockError> {
        let meta = meta_object(id);
        self.delete_object(&meta).await?;
        let objects = self.block_objects(id).await?;
        for (path, _) in &objects {
            self.delete_object(path).await?;
        }
        tracing::info!(bucket = %self.name, block = %id, objects = objects.len() + 1, "deleted block");
        Ok(())
    }

    async fn delete_object(&self, path: &ObjectPath) -> Result<(), BlockError> {
        self.retry("delete", path, || async {
            match self.store.delete(path).await {
                Ok(()) => Ok(()),
                Err(e) if is_not_found(&e) => Ok(()),
                Err(e) => Err(self.object_err(path, e)),
            }
        })
        .await
    }
}

fn meta_object(id: Ulid) -> ObjectPath {
    ObjectPath::from(format!("{id}/{META_FILE}"))
}

async fn read_local_meta(dir: &Path) -> Result<BlockMeta, BlockError> {
    let path = dir.join(META_FILE);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| BlockError::io(&path, e))?;
    BlockMeta::from_json(&bytes, &path)
}

async fn remove_dir_if_exists(dir: &Path) -> Result<(), BlockError> {
    match tokio::fs::remove_dir_all(dir).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(BlockError::io(dir, e)),
    }
}

/// Relative paths (with `/`) of the regular files under `dir`, sorted.
async fn local_files(dir: &Path) -> Result<Vec<String>, BlockError> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, rel)) = stack.pop() {
        let mut rd = tokio::fs::read_dir(&d)
            .await
            .map_err(|e| BlockError::io(&d, e))?;
        while let Some(entry) = rd.next_entry().await.map_err(|e| BlockError::io(&d, e))? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel_name = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let ft = entry
                .file_type()
                .await
                .map_err(|e| BlockError::io(entry.path(), e))?;
            if ft.is_dir() {
                stack.push((entry.path(), rel_name));
            } else if ft.is_file() {
                out.push(rel_name);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::BlockReader;
    use crate::testutil::{counters, spec};
    use crate::writer::write_block;
    use crate::{CHUNKS_FILE, SERIES_FILE};
    use argus_config::S3Config;
    use argus_model::QueryableExt;

    const H: i64 = 3_600_000;
    const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % (2 * H);
    const SUITE_TIMEOUT: Duration = Duration::from_secs(60);

    fn same_series(a: &Path, b: &Path) {
        let ra = BlockReader::open(a).expect("open a");
        let rb = BlockReader::open(b).expect("open b");
        let sa = ra.select_all(&[], i64::MIN, i64::MAX).expect("select a");
        let sb = rb.select_all(&[], i64::MIN, i64::MAX).expect("select b");
        assert_eq!(sa.len(), sb.len());
        for (x, y) in sa.iter().zip(&sb) {
            assert_eq!(x.labels, y.labels);
            assert_eq!(x.chunks.len(), y.chunks.len());
            for (c, d) in x.chunks.iter().zip(&y.chunks) {
                assert_eq!(
                    (c.min_t, c.max_t, &c.bytes[..]),
                    (d.min_t, d.max_t, &d.bytes[..])
                );
            }
        }
    }

    fn same_files(a: &Path, b: &Path) {
        for f in [META_FILE, SERIES_FILE, CHUNKS_FILE] {
            let x = std::fs::read(a.join(f)).expect("read a");
            let y = std::fs::read(b.join(f)).expect("read b");
            assert!(x == y, "{f} differs");
        }
    }

    /// The behaviour every backend must have.
    async fn suite(bucket: Bucket) {
        let local = tempfile::tempdir().expect("tempdir");
        let src = local.path().join("src");
        let (series, _) = counters(20, T0, T0 + 2 * H, 15_000, 3, 9);
        let meta = write_block(&src, &spec(T0, T0 + 2 * H), &series).expect("write");
        let id = meta.ulid;
        let src_dir = src.join(id.to_string());

        assert!(bucket.list_blocks().await.expect("list").is_empty());
        bucket.upload_block(&src_dir).await.expect("upload");
        let listed = bucket.list_blocks().await.expect("list");
        assert_eq!(listed, vec![meta.clone()]);
        assert!(bucket.partial_blocks().await.expect("partial").is_empty());
        assert_eq!(
            bucket.block_meta(id).await.expect("meta"),
            Some(meta.clone())
        );

        let dl = local.path().join("dl");
        let got = bucket.download_block(id, &dl).await.expect("download");
        assert_eq!(got, dl.join(id.to_string()));
        same_files(&src_dir, &got);
        same_series(&src_dir, &got);
        assert!(!dl.join(format!("{id}{TMP_DOWNLOAD_SUFFIX}")).exists());
        // A second download keeps the complete copy.
        let again = bucket
            .download_block(id, &dl)
            .await
            .expect("download again");
        assert_eq!(again, got);

        // A partial upload: every file but meta.json.
        let (series2, _) = counters(5, T0 + 2 * H, T0 + 4 * H, 15_000, 0, 10);
        let meta2 = write_block(&src, &spec(T0 + 2 * H, T0 + 4 * H), &series2).expect("write");
        let id2 = meta2.ulid;
        let dir2 = src.join(id2.to_string());
        for f in [SERIES_FILE, CHUNKS_FILE] {
            let data = std::fs::read(dir2.join(f)).expect("read");
            bucket
                .put_bytes(&ObjectPath::from(format!("{id2}/{f}")), Bytes::from(data))
                .await
                .expect("put");
        }
        assert_eq!(
            bucket.list_blocks().await.expect("list"),
            vec![meta.clone()]
        );
        assert_eq!(bucket.partial_blocks().await.expect("partial"), vec![id2]);
        assert_eq!(bucket.block_meta(id2).await.expect("meta"), None);
        let e = bucket.download_block(id2, &dl).await.err();
        assert!(
            matches!(e, Some(BlockError::NotFound(x)) if x == id2),
            "{e:?}"
        );
        assert!(!dl.join(id2.to_string()).exists());

        // Completing it makes it a block; sorted by time.
        bucket.upload_block(&dir2).await.expect("upload");
        let ids: Vec<Ulid> = bucket
            .list_blocks()
            .await
            .expect("list")
            .iter()
            .map(|m| m.ulid)
            .collect();
        assert_eq!(ids, vec![id, id2]);

        bucket.delete_block(id2).await.expect("delete");
        assert_eq!(
            bucket.list_blocks().await.expect("list"),
            vec![meta.clone()]
        );
        assert!(bucket.partial_blocks().await.expect("partial").is_empty());
        bucket.delete_block(id).await.expect("delete");
        assert!(bucket.list_blocks().await.expect("list").is_empty());
        assert!(bucket.partial_blocks().await.expect("partial").is_empty());
        // Deleting what is gone is fine.
        bucket.delete_block(id).await.expect("delete again");

        // Multipart uploads: a chunks file of more than one 5 MiB part (the
        // smallest S3 allows).
        let (big, _) = counters(4000, T0, T0 + 2 * H, 15_000, 5, 11);
        let meta3 = write_block(&src, &spec(T0, T0 + 2 * H), &big).expect("write");
        let chunks_size = meta3
            .thanos
            .files
            .iter()
            .find(|f| f.rel_path == CHUNKS_FILE)
            .map_or(0, |f| f.size_bytes);
        assert!(chunks_size > MIN_S3_PART_SIZE as u64, "{chunks_size}");
        let small_parts = bucket.clone().with_part_size(MIN_S3_PART_SIZE);
        let dir3 = src.join(meta3.ulid.to_string());
        small_parts
            .upload_block(&dir3)
            .await
            .expect("multipart upload");
        let got3 = small_parts
            .download_block(meta3.ulid, &local.path().join("dl3"))
            .await
            .expect("download");
        same_files(&dir3, &got3);
        small_parts.delete_block(meta3.ulid).await.expect("delete");
        assert!(small_parts.list_blocks().await.expect("list").is_empty());
    }

    async fn run_suite(bucket: Bucket) {
        tokio::time::timeout(SUITE_TIMEOUT, suite(bucket))
            .await
            .expect("suite finished in time");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_memory_backend() {
        run_suite(Bucket::in_memory()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn filesystem_backend() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("bucket");
        let cfg = BucketConfig::Filesystem {
            directory: dir.clone(),
        };
        let bucket = Bucket::from_config(&cfg).expect("bucket");
        assert!(dir.is_dir());
        run_suite(bucket).await;
    }

    async fn start_s3(
        root: &Path,
        bucket: &str,
    ) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        crate::s3_test_server::start(root, bucket, "argus-test", "argus-secret").await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s3_backend() {
        let root = tempfile::tempdir().expect("tempdir");
        let (addr, server) = start_s3(root.path(), "argus").await;
        let cfg = BucketConfig::S3(S3Config {
            bucket: "argus".to_string(),
            endpoint: addr.to_string(),
            access_key: "argus-test".to_string(),
            secret_key: "argus-secret".to_string(),
            insecure: true,
            max_retries: 1,
            ..S3Config::default()
        });
        let bucket = Bucket::from_config(&cfg).expect("bucket");
        run_suite(bucket).await;

        // Wrong credentials fail without retrying for long.
        let bad = BucketConfig::S3(S3Config {
            bucket: "argus".to_string(),
            endpoint: addr.to_string(),
            access_key: "argus-test".to_string(),
            secret_key: "wrong".to_string(),
            insecure: true,
            max_retries: 0,
            ..S3Config::default()
        });
        let bucket = Bucket::from_config(&bad).expect("bucket");
        let e = tokio::time::timeout(SUITE_TIMEOUT, bucket.list_blocks())
            .await
            .expect("in time")
            .err();
        assert!(e.is_some_and(|e| e.to_string().contains("s3://argus")));
        server.abort();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s3_with_prefix() {
        let root = tempfile::tempdir().expect("tempdir");
        let (addr, server) = start_s3(root.path(), "argus").await;
        let cfg = BucketConfig::S3(S3Config {
            bucket: "argus".to_string(),
            endpoint: format!("http://{addr}"),
            access_key: "argus-test".to_string(),
            secret_key: "argus-secret".to_string(),
            prefix: "tenant/a".to_string(),
            max_retries: 1,
            ..S3Config::default()
        });
        let bucket = Bucket::from_config(&cfg).expect("bucket");
        let local = tempfile::tempdir().expect("tempdir");
        let (series, _) = counters(3, T0, T0 + H, 15_000, 0, 12);
        let meta = write_block(local.path(), &spec(T0, T0 + 2 * H), &series).expect("write");
        let up = tokio::time::timeout(
            SUITE_TIMEOUT,
            bucket.upload_block(&local.path().join(meta.ulid.to_string())),
        )
        .await
        .expect("in time");
        up.expect("upload");
        assert!(
            root.path()
                .join("argus/tenant/a")
                .join(meta.ulid.to_string())
                .join(META_FILE)
                .is_file()
        );
        assert_eq!(bucket.list_blocks().await.expect("list"), vec![meta]);
        server.abort();
    }

    #[tokio::test]
    async fn retries_only_transient_errors() {
        let bucket = Bucket::in_memory().with_retry(RetryPolicy {
            max_tries: 4,
            initial_backoff: Duration::from_millis(1),
        });
        let path = ObjectPath::from("x");
        let transient = || BlockError::ObjectStore {
            object: "x".to_string(),
            source: object_store::Error::Generic {
                store: "test",
                source: "connection reset".into(),
            },
        };
        let calls = std::sync::atomic::AtomicU32::new(0);
        let r = bucket
            .retry("put", &path, || {
                let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move { if n < 2 { Err(transient()) } else { Ok(n) } }
            })
            .await;
        assert_eq!(r.ok(), Some(2));

        calls.store(0, std::sync::atomic::Ordering::SeqCst);
        let r: Result<(), _> = bucket
            .retry("put", &path, || {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { Err(transient()) }
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 4);

        calls.store(0, std::sync::atomic::Ordering::SeqCst);
        let r: Result<(), _> = bucket
            .retry("get", &path, || {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async {
                    Err(BlockError::ObjectStore {
                        object: "x".to_string(),
                        source: object_store::Error::PermissionDenied {
                            path: "x".to_string(),
                            source: "denied".into(),
                        },
                    })
                }
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn upload_rejects_a_directory_not_named_by_its_ulid() {
        let local = tempfile::tempdir().expect("tempdir");
        let meta = write_block(local.path(), &spec(T0, T0 + 2 * H), &[]).expect("write");
        let renamed = local.path().join("renamed");
        std::fs::rename(local.path().join(meta.ulid.to_string()), &renamed).expect("rename");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let e = rt
            .block_on(Bucket::in_memory().upload_block(&renamed))
            .err();
        assert!(e.is_some_and(|e| e.to_string().contains("differs from meta.json")));
    }
}
