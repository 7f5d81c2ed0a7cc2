//! The block shipper: uploads the blocks a local [`Db`] seals to a
//! [`Bucket`], as Thanos's sidecar shipper (`pkg/shipper`) does for
//! Prometheus's blocks.
//!
//! A pass ([`Shipper::sync`]) takes the database's complete blocks, oldest
//! first, that are not uploaded yet: level-1 blocks with samples (any level
//! with [`ShipperOptions::upload_compacted`]). A block whose `meta.json` is
//! already in the bucket is recorded without an upload; any other is
//! hard-linked into `<storage>/thanos/upload/<ULID>/` with a `meta.json`
//! carrying the external labels, `thanos.source` and the file sizes, and
//! uploaded from there (`meta.json` last, so a failed upload stays
//! invisible and the next one overwrites it). Uploaded blocks are recorded
//! in `<storage>/thanos.shipper.json` (Thanos's file and shape), written
//! atomically; a block that the file misses is looked up in the bucket, so
//! a lost or corrupt file costs look-ups, never a duplicate upload. Blocks
//! gone locally leave the file.
//!
//! The first failure ends the pass (blocks go up in order); [`Shipper::run`]
//! retries with backoff while the database goes on: nothing here holds a
//! database lock while it talks to the bucket. The shipper installs a
//! deletion guard on the database ([`Db::set_deletion_guard`]), so
//! retention keeps every block it would ship until it is in the bucket.

mod metrics;
mod state;

pub use state::{STATE_FILE, STATE_VERSION, StateWriteError};

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use argus_block::{BlockError, BlockMeta, Bucket, CHUNKS_FILE, FileMeta, META_FILE, SERIES_FILE};
use argus_model::ErrorKind;
use argus_tsdb::Db;
use parking_lot::Mutex;
use prometheus_client::registry::Registry;
use tokio::sync::{Notify, watch};
use ulid::Ulid;

use crate::metrics::ShipperMetrics;
use crate::state::Loaded;

/// `thanos.source` of the uploaded blocks unless set otherwise.
pub const DEFAULT_SOURCE: &str = "sidecar";

/// Where blocks are staged for upload, under the storage directory (where
/// Thanos's sidecar stages them).
const UPLOAD_DIR: &str = "thanos/upload";

#[derive(Debug, Clone)]
pub struct ShipperOptions {
    /// Ship blocks of compaction level 2 and above too (Thanos's
    /// `--shipper.upload-compacted`); by default only level-1 blocks, the
    /// ones sealed from the head, are shipped.
    pub upload_compacted: bool,
    /// `thanos.source` written into the uploaded `meta.json`.
    pub source: String,
    /// Wait after a failed pass before [`Shipper::run`] tries again;
    /// doubled after each further failure.
    pub retry_backoff: Duration,
    /// The longest wait between failed passes.
    pub max_retry_backoff: Duration,
}

impl Default for ShipperOptions {
    fn default() -> Self {
        ShipperOptions {
            upload_compacted: false,
            source: DEFAULT_SOURCE.to_string(),
            retry_backoff: Duration::from_secs(1),
            max_retry_backoff: Duration::from_secs(30),
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShipStats {
    /// Blocks uploaded.
    pub uploaded: usize,
    /// Their bytes, `meta.json` included.
    pub uploaded_bytes: u64,
    /// Blocks found in the bucket already and recorded without an upload.
    pub already_in_bucket: usize,
    /// Blocks still waiting for an upload after the pass.
    pub backlog: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error("looking up block {block} in the bucket: {source}")]
    Lookup {
        block: Ulid,
        #[source]
        source: BlockError,
    },
    #[error("staging block {block} for upload: {source}")]
    Stage {
        block: Ulid,
        #[source]
        source: BlockError,
    },
    #[error("uploading block {block}: {source}")]
    Upload {
        block: Ulid,
        #[source]
        source: BlockError,
    },
    #[error("shipper task failed: {0}")]
    Task(String),
}

impl ShipError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ShipError::Lookup { source, .. }
            | ShipError::Stage { source, .. }
            | ShipError::Upload { source, .. } => block_error_kind(source),
            ShipError::Task(_) => ErrorKind::Internal,
        }
    }

    /// The block the pass stopped at.
    pub fn block(&self) -> Option<Ulid> {
        match self {
            ShipError::Lookup { block, .. }
            | ShipError::Stage { block, .. }
            | ShipError::Upload { block, .. } => Some(*block),
            ShipError::Task(_) => None,
        }
    }
}

fn block_error_kind(e: &BlockError) -> ErrorKind {
    match e {
        // The bucket may take the same request later.
        BlockError::ObjectStore { .. } => ErrorKind::Unavailable,
        BlockError::NotFound(_) => ErrorKind::NotFound,
        BlockError::InvalidInput(_) | BlockError::Config(_) => ErrorKind::InvalidArgument,
        _ => ErrorKind::Internal,
    }
}

/// Whether the shipper uploads this block at all: blocks it never ships
/// are left to retention.
fn wanted(meta: &BlockMeta, upload_compacted: bool) -> bool {
    meta.stats.num_samples > 0 && (meta.compaction.level <= 1 || upload_compacted)
}

enum Outcome {
    Uploaded {
        bytes: u64,
    },
    InBucket,
    /// Deleted locally before it could be uploaded (replaced by a rewrite).
    Gone,
}

pub struct Shipper {
    db: Arc<Db>,
    bucket: Bucket,
    opts: ShipperOptions,
    state_path: PathBuf,
    upload_root: PathBuf,
    /// Blocks known to be in the bucket; the deletion guard reads it.
    shipped: Arc<Mutex<HashSet<Ulid>>>,
    /// What the state file holds, `None` when unknown (unreadable, or a
    /// write failed): it is written when it differs.
    written: Mutex<Option<Vec<Ulid>>>,
    /// `maxTime` of the newest block known shipped, for its gauge.
    newest_ms: AtomicI64,
    /// One pass at a time.
    pass: tokio::sync::Mutex<()>,
    wake: Notify,
    metrics: ShipperMetrics,
}

impl Shipper {
    /// A shipper for `db`'s blocks. Reads the state file (a missing or
    /// corrupt one is rebuilt from the bucket on the first pass), removes
    /// what an interrupted upload left in the staging directory and
    /// installs the deletion guard on `db` (which stays after the shipper
    /// is dropped: unshipped blocks are kept until a shipper uploads them).
    pub fn new(db: Arc<Db>, bucket: Bucket, opts: ShipperOptions) -> Shipper {
        let state_path = db.dir().join(STATE_FILE);
        let (known, written) = match state::read(&state_path) {
            Loaded::Found(ids) => {
                tracing::info!(file = %state_path.display(), blocks = ids.len(), "read shipper state");
                (ids.clone(), Some(ids))
            }
            Loaded::Missing => {
                tracing::info!(
                    file = %state_path.display(),
                    "no shipper state file; local blocks are looked up in the bucket"
                );
                (Vec::new(), None)
            }
            Loaded::Corrupt(error) => {
                tracing::warn!(
                    file = %state_path.display(),
                    error = %error,
                    "shipper state file is unreadable; rebuilding it from the bucket"
                );
                (Vec::new(), None)
            }
        };
        let upload_root = db.dir().join(UPLOAD_DIR);
        match std::fs::remove_dir_all(&upload_root) {
            Ok(()) => {
                tracing::debug!(dir = %upload_root.display(), "removed stale upload directory")
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(
                dir = %upload_root.display(),
                error = %e,
                "cannot remove stale upload directory"
            ),
        }
        let shipped = Arc::new(Mutex::new(known.into_iter().collect::<HashSet<_>>()));
        let guard_set = shipped.clone();
        let upload_compacted = opts.upload_compacted;
        db.set_deletion_guard(Arc::new(move |m: &BlockMeta| {
            !wanted(m, upload_compacted) || guard_set.lock().contains(&m.ulid)
        }));
        Shipper {
            db,
            bucket,
            opts,
            state_path,
            upload_root,
            shipped,
            written: Mutex::new(written),
            newest_ms: AtomicI64::new(i64::MIN),
            pass: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            metrics: ShipperMetrics::default(),
        }
    }

    /// Registers the shipper's metrics.
    pub fn register(&self, registry: &mut Registry) {
        self.metrics.register(registry, self.bucket.name());
    }

    /// Starts a pass of [`Shipper::run`] now (or right after the one in
    /// progress): the sealing code calls it after sealing a block.
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// The local blocks known to be in the bucket, sorted.
    pub fn shipped_blocks(&self) -> Vec<Ulid> {
        let mut v: Vec<Ulid> = self.shipped.lock().iter().copied().collect();
        v.sort();
        v
    }

    /// One pass: uploads the blocks not shipped yet, oldest first, and
    /// stops at the first failure.
    pub async fn sync(&self) -> Result<ShipStats, ShipError> {
        let _pass = self.pass.lock().await;
        let res = self.pass_locked().await;
        match &res {
            Ok(_) => {
                self.metrics.dir_syncs.inc();
                self.metrics
                    .upload_compacted_done
                    .set(i64::from(self.opts.upload_compacted));
            }
            Err(_) => {
                self.metrics.dir_sync_failures.inc();
            }
        }
        res
    }

    /// Passes every `every`, the first at once, and on [`Shipper::notify`];
    /// after a failed pass, the next comes after a backoff instead (doubling
    /// up to [`ShipperOptions::max_retry_backoff`]). Returns when `stop`
    /// turns true or its sender is dropped; an upload in progress is
    /// abandoned (the next start uploads the block again).
    pub async fn run(self: Arc<Self>, every: Duration, mut stop: watch::Receiver<bool>) {
        let mut backoff: Option<Duration> = None;
        loop {
            let res = tokio::select! {
                r = self.sync() => r,
                _ = stop.wait_for(|v| *v) => break,
            };
            let wait = match res {
                Ok(stats) => {
                    backoff = None;
                    if stats.uploaded > 0 || stats.already_in_bucket > 0 {
                        tracing::debug!(
                            uploaded = stats.uploaded,
                            bytes = stats.uploaded_bytes,
                            already_in_bucket = stats.already_in_bucket,
                            "shipper pass done"
                        );
                    }
                    every
                }
                Err(e) => {
                    let next = backoff
                        .map_or(self.opts.retry_backoff, |b| b.saturating_mul(2))
                        .min(self.opts.max_retry_backoff);
                    backoff = Some(next);
                    tracing::warn!(
                        bucket = %self.bucket.name(),
                        block = %e.block().map(|b| b.to_string()).unwrap_or_default(),
                        error = %e,
                        retry_in_ms = next.as_millis() as u64,
                        "shipping blocks failed; retrying"
                    );
                    next
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                _ = stop.wait_for(|v| *v) => break,
            }
        }
        tracing::info!("shipper stopped");
    }

    async fn pass_locked(&self) -> Result<ShipStats, ShipError> {
        let local = self.db.blocks();
        let pending: Vec<&BlockMeta> = {
            let present: HashSet<Ulid> = local.iter().map(|m| m.ulid).collect();
            let mut shipped = self.shipped.lock();
            // Retention deleted them after their upload: keeps the file
            // bounded.
            shipped.retain(|id| present.contains(id));
            local
                .iter()
                .filter(|m| wanted(m, self.opts.upload_compacted) && !shipped.contains(&m.ulid))
                .collect()
        };
        self.note_newest(&local);
        let mut stats = ShipStats {
            backlog: pending.len(),
            ..ShipStats::default()
        };
        self.metrics.backlog.set(stats.backlog as i64);
        let mut result = Ok(());
        for m in pending {
            match self.ship(m).await {
                Ok(Outcome::Uploaded { bytes }) => {
                    stats.uploaded += 1;
                    stats.uploaded_bytes += bytes;
                    self.metrics.uploads.inc();
                    self.metrics.uploaded_bytes.inc_by(bytes);
                    self.metrics
                        .last_upload_time
                        .set(argus_model::time::now_ms() as f64 / 1000.0);
                    self.shipped.lock().insert(m.ulid);
                }
                Ok(Outcome::InBucket) => {
                    stats.already_in_bucket += 1;
                    self.shipped.lock().insert(m.ulid);
                }
                Ok(Outcome::Gone) => {}
                Err(e) => {
                    self.metrics.upload_failures.inc();
                    result = Err(e);
                    break;
                }
            }
            stats.backlog -= 1;
            self.metrics.backlog.set(stats.backlog as i64);
            self.note_newest(&local);
            // Recorded at once: a crash after this does not re-upload.
            self.persist(&local).await;
        }
        self.persist(&local).await;
        result.map(|()| stats)
    }

    /// Looks the block up in the bucket, then uploads it if it is not
    /// there.
    async fn ship(&self, m: &BlockMeta) -> Result<Outcome, ShipError> {
        let id = m.ulid;
        match self.bucket.block_meta(id).await {
            Ok(Some(_)) => {
                tracing::info!(block = %id, bucket = %self.bucket.name(), "block is in the bucket already; recording it");
                return Ok(Outcome::InBucket);
            }
            Ok(None) => {}
            Err(e @ (BlockError::RemoteMetaJson { .. } | BlockError::Corrupt { .. })) => {
                tracing::warn!(block = %id, error = %e, "block in the bucket has an unreadable meta.json; uploading it again");
            }
            Err(e) => {
                return Err(ShipError::Lookup {
                    block: id,
                    source: e,
                });
            }
        }
        let src = self.db.dir().join(id.to_string());
        let updir = self.upload_root.join(id.to_string());
        let meta = self.upload_meta(m);
        let staged = {
            let (src, updir) = (src.clone(), updir.clone());
            tokio::task::spawn_blocking(move || stage(&src, &updir, meta))
                .await
                .map_err(|e| ShipError::Task(e.to_string()))?
        };
        let bytes = match staged {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                self.remove_staged(updir).await;
                tracing::debug!(block = %id, "block was deleted locally before its upload; skipping it");
                return Ok(Outcome::Gone);
            }
            Err(e) => {
                self.remove_staged(updir).await;
                return Err(ShipError::Stage {
                    block: id,
                    source: e,
                });
            }
        };
        let started = Instant::now();
        let res = self.bucket.upload_block(&updir).await;
        self.remove_staged(updir).await;
        res.map_err(|e| ShipError::Upload {
            block: id,
            source: e,
        })?;
        tracing::debug!(
            block = %id,
            min_time = m.min_time,
            max_time = m.max_time,
            bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "shipped block"
        );
        Ok(Outcome::Uploaded { bytes })
    }

    /// The `meta.json` to upload: the local one with the database's
    /// external labels over the block's (as Thanos attaches the current
    /// labels) and this shipper's source. The files are set when staging.
    fn upload_meta(&self, m: &BlockMeta) -> BlockMeta {
        let mut meta = m.clone();
        let ext = &self.db.options().external_labels;
        if !ext.is_empty() {
            let mut b = meta.thanos.labels.builder();
            for l in ext.iter() {
                b.set(l.name, l.value);
            }
            meta.thanos.labels = b.build();
        }
        meta.thanos.source = self.opts.source.clone();
        meta
    }

    async fn remove_staged(&self, dir: PathBuf) {
        let res = tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err((dir, e)),
            _ => Ok(()),
        })
        .await;
        if let Ok(Err((dir, e))) = res {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove upload directory");
        }
    }

    fn note_newest(&self, local: &[BlockMeta]) {
        let newest = {
            let shipped = self.shipped.lock();
            local
                .iter()
                .filter(|m| shipped.contains(&m.ulid))
                .map(|m| m.max_time)
                .max()
        };
        if let Some(t) = newest {
            let t = self.newest_ms.fetch_max(t, Ordering::Relaxed).max(t);
            self.metrics.newest_max_time.set(t as f64 / 1000.0);
        }
    }

    /// Writes the state file when it differs from what the shipper knows:
    /// the shipped local blocks, oldest first. A failed write is logged;
    /// the next pass tries again (and the bucket look-ups cover for it).
    async fn persist(&self, local: &[BlockMeta]) {
        let ids: Vec<Ulid> = {
            let shipped = self.shipped.lock();
            local
                .iter()
                .map(|m| m.ulid)
                .filter(|id| shipped.contains(id))
                .collect()
        };
        if self.written.lock().as_ref() == Some(&ids) {
            return;
        }
        let path = self.state_path.clone();
        let to_write = ids.clone();
        let res = tokio::task::spawn_blocking(move || state::write(&path, &to_write)).await;
        let error = match res {
            Ok(Ok(())) => {
                *self.written.lock() = Some(ids);
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        *self.written.lock() = None;
        tracing::warn!(
            file = %self.state_path.display(),
            error = %error,
            "cannot write the shipper state file; retrying on the next pass"
        );
    }
}

/// Hard-links (or copies) the block's data files into `updir` and writes
/// the upload's `meta.json` there, with the files and their sizes. Returns
/// the bytes to upload, or `None` when the block is gone locally.
fn stage(src: &Path, updir: &Path, mut meta: BlockMeta) -> Result<Option<u64>, BlockError> {
    if !src.join(META_FILE).is_file() {
        return Ok(None);
    }
    match stage_files(src, updir, &mut meta) {
        Ok(bytes) => Ok(Some(bytes)),
        // Deleted while being linked.
        Err(_) if !src.join(META_FILE).exists() => Ok(None),
        Err(e) => Err(e),
    }
}

fn stage_files(src: &Path, updir: &Path, meta: &mut BlockMeta) -> Result<u64, BlockError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| BlockError::Io { path: p, source }
    };
    match std::fs::remove_dir_all(updir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(updir)(e)),
        _ => {}
    }
    std::fs::create_dir_all(updir).map_err(io(updir))?;
    // The block's data files, as its meta.json lists them; a tombstones
    // file is local only (Thanos's sidecar ships only the data files too).
    let mut rels: Vec<String> = meta
        .thanos
        .files
        .iter()
        .map(|f| f.rel_path.clone())
        .filter(|r| r != META_FILE)
        .collect();
    if rels.is_empty() {
        rels = vec![SERIES_FILE.to_string(), CHUNKS_FILE.to_string()];
    }
    let mut files = Vec::with_capacity(rels.len() + 1);
    let mut bytes = 0;
    for rel in rels {
        let rel_path = Path::new(&rel);
        if !rel_path
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(BlockError::Corrupt {
                path: src.join(META_FILE),
                message: format!("file {rel:?} is not inside the block"),
            });
        }
        let from = src.join(rel_path);
        let to = updir.join(rel_path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).map_err(io(&from))?;
        }
        let size = std::fs::metadata(&to).map_err(io(&to))?.len();
        bytes += size;
        files.push(FileMeta {
            rel_path: rel,
            size_bytes: size,
        });
    }
    files.push(FileMeta {
        rel_path: META_FILE.to_string(),
        size_bytes: 0,
    });
    files.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    meta.thanos.files = files;
    meta.write(updir)?;
    bytes += meta.to_json().len() as u64;
    Ok(bytes)
}

#[cfg(test)]
mod tests;
