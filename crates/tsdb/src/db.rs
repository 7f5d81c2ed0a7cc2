//! The local TSDB: a head with its WAL, sealed Parquet blocks, retention,
//! deletions (tombstones) and snapshots.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use argus_block::meta::{BlockDesc, BlockMeta};
use argus_block::reader::BlockReader;
use argus_block::writer::{BlockSeries, NewBlock, write_block};
use argus_block::{META_FILE, TMP_CREATION_SUFFIX};
use argus_model::storage::{
    LabelRequest, MergeSeries, OnEqualLabels, ReadContext, SelectRequest, SeriesSource,
    SeriesStream, StorageError, merge_sorted_strings,
};
use argus_model::{ErrorKind, Labels, Matcher, Queryable, SeriesRef};
use parking_lot::{Mutex, RwLock};
use ulid::Ulid;

use crate::head::{AppendError, Head, IdHasher, MemSeries};
use crate::tombstones::{BlockStoneFilter, BlockTombstones};
use crate::wal::{self, RefSample, Wal, WalOptions};

pub const DEFAULT_BLOCK_DURATION_MS: i64 = 2 * 3600 * 1000;

/// The directory under the storage directory that [`Db::snapshot`] writes
/// into, as Prometheus's `snapshots/`.
pub const SNAPSHOTS_DIR: &str = "snapshots";

const WAL_DIR: &str = "wal";
const TMP_DELETION_SUFFIX: &str = ".tmp-for-deletion";

#[derive(Debug, thiserror::Error)]
pub enum TsdbError {
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("wal write failed: {0}")]
    Wal(#[source] std::io::Error),
    #[error("storage directory {0} is locked by another process")]
    Locked(PathBuf),
    #[error(transparent)]
    Block(#[from] argus_block::BlockError),
    #[error("{}: corrupt tombstones: {message}", path.display())]
    CorruptTombstones { path: PathBuf, message: String },
    #[error("reading block {ulid}: {source}")]
    ReadBlock {
        ulid: Ulid,
        #[source]
        source: StorageError,
    },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl TsdbError {
    /// How an API reports this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TsdbError::InvalidArgument(_) => ErrorKind::InvalidArgument,
            TsdbError::Locked(_) => ErrorKind::Unavailable,
            TsdbError::ReadBlock { source, .. } => source.kind(),
            TsdbError::Io { .. }
            | TsdbError::Wal(_)
            | TsdbError::Block(_)
            | TsdbError::CorruptTombstones { .. } => ErrorKind::Internal,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TsdbError + '_ {
    move |source| TsdbError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone)]
pub struct DbOptions {
    /// Width of blocks sealed from the head, in ms; chunks are cut at its
    /// multiples.
    pub block_duration_ms: i64,
    /// Blocks ending this long before the newest block's end are deleted.
    pub retention_ms: Option<i64>,
    /// While the blocks and the WAL take more bytes than this, the oldest
    /// blocks are deleted (`--storage.tsdb.retention.size`); `None` or 0
    /// turns it off.
    pub retention_bytes: Option<u64>,
    pub wal: WalOptions,
    /// Written into every sealed block's `thanos.labels`.
    pub external_labels: Labels,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            block_duration_ms: DEFAULT_BLOCK_DURATION_MS,
            retention_ms: Some(15 * 24 * 3600 * 1000),
            retention_bytes: None,
            wal: WalOptions::default(),
            external_labels: Labels::empty(),
        }
    }
}

/// What opening the database found.
#[derive(Debug, Default, Clone)]
pub struct OpenStats {
    pub blocks: usize,
    pub wal_records: u64,
    pub wal_samples: u64,
    pub wal_series: u64,
    pub wal_tombstones: u64,
    pub wal_truncated_segments: usize,
    pub wal_unknown_refs: u64,
    pub replay_duration: Duration,
}

/// A block written by [`Db::clean_tombstones`] in place of one with
/// tombstones.
#[derive(Debug, Clone)]
pub struct CleanedBlock {
    /// The block that had tombstones; it is deleted.
    pub replaced: Ulid,
    /// Its data without the deleted samples; `None` when nothing was left.
    pub new: Option<BlockMeta>,
}

/// A snapshot written by [`Db::snapshot`].
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// `<timestamp>-<random hex>`, the directory under `snapshots/` (what
    /// Prometheus's snapshot API answers).
    pub name: String,
    pub dir: PathBuf,
    /// The blocks in it, the one sealed from the head included.
    pub blocks: Vec<Ulid>,
}

/// A block the database serves: its reader, its tombstones and its size.
#[derive(Clone)]
struct LoadedBlock {
    reader: Arc<BlockReader>,
    stones: Arc<BlockTombstones>,
    /// Bytes of every file in its directory.
    bytes: u64,
}

impl LoadedBlock {
    fn open(dir: &Path) -> Result<LoadedBlock, TsdbError> {
        let reader = BlockReader::open(dir)?;
        let stones = BlockTombstones::read(&reader)?;
        Ok(LoadedBlock {
            reader: Arc::new(reader),
            stones: Arc::new(stones),
            bytes: dir_size(dir),
        })
    }

    fn meta(&self) -> &BlockMeta {
        self.reader.meta()
    }

    fn ulid(&self) -> Ulid {
        self.reader.meta().ulid
    }
}

/// Bytes of the files under `path` (recursively, symlinks not followed);
/// what cannot be read counts as nothing.
fn dir_size(path: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(path) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// A fingerprint of a directory's files (names, sizes, modification
/// times): an unreadable block is retried once it changes.
fn dir_signature(path: &Path) -> u64 {
    let mut files: Vec<(String, u64, Option<std::time::SystemTime>)> = fs::read_dir(path)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    let m = e.metadata().ok();
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        m.as_ref().map_or(0, |m| m.len()),
                        m.and_then(|m| m.modified().ok()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut h = std::hash::DefaultHasher::new();
    files.hash(&mut h);
    h.finish()
}

/// Renames a block directory aside, then removes it, so that a crash never
/// leaves a partial block under its ULID.
fn remove_block_dir(dir: &Path, id: Ulid) -> Result<(), TsdbError> {
    let path = dir.join(id.to_string());
    let trash = dir.join(format!("{id}{TMP_DELETION_SUFFIX}"));
    fs::rename(&path, &trash).map_err(io_err(&path))?;
    fs::remove_dir_all(&trash).map_err(io_err(&trash))?;
    Ok(())
}

/// Hard-links (or, across file systems, copies) the files of a block
/// directory into `parent/<ULID>/`, through a temporary directory renamed
/// into place.
fn link_block(src: &Path, parent: &Path, id: Ulid) -> Result<(), TsdbError> {
    let tmp = parent.join(format!("{id}{TMP_CREATION_SUFFIX}"));
    let dst = parent.join(id.to_string());
    let res = (|| {
        fs::create_dir(&tmp).map_err(io_err(&tmp))?;
        for e in fs::read_dir(src).map_err(io_err(src))? {
            let e = e.map_err(io_err(src))?;
            if !e.file_type().map_err(io_err(&e.path()))?.is_file() {
                continue;
            }
            let from = e.path();
            let to = tmp.join(e.file_name());
            if fs::hard_link(&from, &to).is_err() {
                fs::copy(&from, &to).map_err(io_err(&to))?;
            }
        }
        fs::rename(&tmp, &dst).map_err(io_err(&dst))?;
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(io_err(parent))
    })();
    if res.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    res
}

/// `20060102T150405Z-<16 hex digits>`, as Prometheus names snapshots.
fn snapshot_name() -> String {
    let now = argus_model::time::now_ms();
    let stamp: String = argus_model::time::format_rfc3339(now - now.rem_euclid(1000))
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let random = (Ulid::new().random() as u64) & (u64::MAX >> 1);
    format!("{stamp}-{random:016x}")
}

/// Decides whether retention may delete a block: `true` lets it go. A
/// shipper refuses the blocks it has not uploaded yet. Called with the
/// database's block list locked: it must be quick and must not call back
/// into the database.
pub type DeletionGuard = Arc<dyn Fn(&BlockMeta) -> bool + Send + Sync>;

pub struct Db {
    dir: PathBuf,
    opts: DbOptions,
    /// Time and size retention: from `opts`, changed by
    /// [`Db::set_retention`] (a config reload).
    retention: RwLock<(Option<i64>, Option<u64>)>,
    head: Head,
    wal: Wal,
    blocks: RwLock<Vec<LoadedBlock>>,
    /// WAL series ids replayed onto a series that already had another id.
    aliases: RwLock<HashMap<u64, u64>>,
    /// Serialises what changes the blocks or the tombstones: sealing,
    /// retention, reloads, deletions, tombstone cleaning, snapshots.
    seal_lock: Mutex<()>,
    /// Block directories [`Db::reload_blocks`] could not open, with their
    /// signature when it tried: logged once, retried when they change.
    unreadable: Mutex<HashMap<String, u64>>,
    /// Consulted by retention; `None` deletes whatever is past retention.
    deletion_guard: RwLock<Option<DeletionGuard>>,
    _lock: File,
    open_stats: OpenStats,
}

impl Db {
    pub fn open(dir: &Path, opts: DbOptions) -> Result<Db, TsdbError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join("lock");
        let lock = File::create(&lock_path).map_err(io_err(&lock_path))?;
        if lock.try_lock().is_err() {
            return Err(TsdbError::Locked(dir.to_path_buf()));
        }
        argus_block::reader::cleanup_partial(dir)?;
        let mut blocks = Vec::new();
        for meta in argus_block::reader::list_local_blocks(dir)? {
            blocks.push(LoadedBlock::open(&dir.join(meta.ulid.to_string()))?);
        }
        drop_replaced(dir, &mut blocks)?;
        let head = Head::new(opts.block_duration_ms);
        if let Some(max) = blocks.iter().map(|b| b.meta().max_time).max() {
            head.set_min_valid_time(max);
        }
        let started = Instant::now();
        let mut stats = OpenStats {
            blocks: blocks.len(),
            ..OpenStats::default()
        };
        let wal_dir = dir.join(WAL_DIR);
        let mut by_ref: HashMap<u64, Arc<MemSeries>> = HashMap::new();
        let mut aliases = HashMap::new();
        let replay = wal::replay(&wal_dir, &mut |rec| match rec {
            wal::Record::Series(list) => {
                for (id, labels) in list {
                    stats.wal_series += 1;
                    let s = head.create_with_id(id, &labels);
                    if s.id != id {
                        aliases.insert(id, s.id);
                    }
                    by_ref.insert(id, s);
                }
            }
            wal::Record::Samples(list) => {
                for x in list {
                    match by_ref.get(&x.series) {
                        Some(s) => {
                            if head.store(s, x.t, x.v) {
                                stats.wal_samples += 1;
                            }
                        }
                        None => stats.wal_unknown_refs += 1,
                    }
                }
            }
            wal::Record::Tombstones(list) => {
                for x in list {
                    match by_ref.get(&x.series) {
                        Some(s) => {
                            Head::add_tombstone(s, x.min_t, x.max_t);
                            stats.wal_tombstones += 1;
                        }
                        None => stats.wal_unknown_refs += 1,
                    }
                }
            }
        })
        .map_err(io_err(&wal_dir))?;
        stats.wal_records = replay.records;
        stats.wal_truncated_segments = replay.truncated_segments;
        stats.replay_duration = started.elapsed();
        // Replay refusals are not user errors.
        head.stats.out_of_order.store(0, Ordering::Relaxed);
        head.stats.duplicates.store(0, Ordering::Relaxed);
        head.stats.out_of_bounds.store(0, Ordering::Relaxed);
        head.stats.samples_appended.store(0, Ordering::Relaxed);
        if stats.wal_unknown_refs > 0 {
            tracing::warn!(
                records = stats.wal_unknown_refs,
                "wal replay found samples or tombstones of unknown series; they were skipped"
            );
        }
        tracing::info!(
            dir = %dir.display(),
            blocks = stats.blocks,
            series = head.num_series(),
            samples = stats.wal_samples,
            tombstones = stats.wal_tombstones,
            duration_ms = stats.replay_duration.as_millis() as u64,
            "tsdb opened"
        );
        let wal = Wal::open(&wal_dir, opts.wal.clone()).map_err(io_err(&wal_dir))?;
        Ok(Db {
            dir: dir.to_path_buf(),
            retention: RwLock::new((opts.retention_ms, opts.retention_bytes)),
            opts,
            head,
            wal,
            blocks: RwLock::new(blocks),
            aliases: RwLock::new(aliases),
            seal_lock: Mutex::new(()),
            unreadable: Mutex::new(HashMap::new()),
            deletion_guard: RwLock::new(None),
            _lock: lock,
            open_stats: stats,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    pub fn wal(&self) -> &Wal {
        &self.wal
    }

    pub fn open_stats(&self) -> &OpenStats {
        &self.open_stats
    }

    pub fn options(&self) -> &DbOptions {
        &self.opts
    }

    pub fn appender(&self) -> DbAppender<'_> {
        DbAppender {
            db: self,
            samples: Vec::new(),
            pending: HashMap::default(),
        }
    }

    pub fn blocks(&self) -> Vec<BlockMeta> {
        self.blocks
            .read()
            .iter()
            .map(|b| b.meta().clone())
            .collect()
    }

    /// Whether block `id` is loaded (served from the storage directory).
    pub fn has_block(&self, id: Ulid) -> bool {
        self.blocks.read().iter().any(|b| b.ulid() == id)
    }

    /// Bytes on disk that count against the size retention, as
    /// Prometheus counts them: every loaded block's directory (tombstones
    /// included) and the WAL. Snapshots are not counted.
    pub fn size_bytes(&self) -> u64 {
        let blocks: u64 = self.blocks.read().iter().map(|b| b.bytes).sum();
        blocks + dir_size(&self.dir.join(WAL_DIR))
    }

    /// Seals every head range that is ready into a block, truncates the head
    /// and checkpoints the WAL, then applies retention. Returns the new
    /// blocks. A range is ready once the head reaches 1.5 block durations
    /// past its start, as in Prometheus.
    pub fn seal_head(&self) -> Result<Vec<BlockMeta>, TsdbError> {
        self.seal_until(|start, max_t, range| max_t - start >= range / 2 * 3)
    }

    /// Seals everything in the head into blocks, including the newest range.
    pub fn seal_all(&self) -> Result<Vec<BlockMeta>, TsdbError> {
        self.seal_until(|_, _, _| true)
    }

    fn seal_until(
        &self,
        ready: impl Fn(i64, i64, i64) -> bool,
    ) -> Result<Vec<BlockMeta>, TsdbError> {
        let _g = self.seal_lock.lock();
        let range = self.opts.block_duration_ms;
        let mut made = Vec::new();
        let mut truncated = false;
        while let Some((min_t, max_t)) = self.head.time_range() {
            let from = min_t.max(self.head.min_valid_time());
            let start = from.div_euclid(range) * range;
            if !ready(start, max_t, range) || from > max_t {
                break;
            }
            let end = start + range;
            // Deleted samples are left out: this applies the head's
            // tombstones for the range.
            let contents = self.head.block_contents(start, end);
            if !contents.is_empty() {
                let series: Vec<BlockSeries> = contents
                    .into_iter()
                    .map(|s| BlockSeries {
                        labels: s.labels,
                        chunks: s.chunks,
                    })
                    .collect();
                let spec = NewBlock {
                    min_time: start,
                    max_time: end,
                    external_labels: self.opts.external_labels.clone(),
                    resolution: 0,
                    source: "head".to_string(),
                    compaction_level: 1,
                    sources: Vec::new(),
                    parents: Vec::new(),
                };
                let meta = write_block(&self.dir, &spec, &series)?;
                let block = LoadedBlock::open(&self.dir.join(meta.ulid.to_string()))?;
                self.add_blocks(vec![block]);
                tracing::info!(
                    ulid = %meta.ulid,
                    min_time = start,
                    max_time = end,
                    series = series.len(),
                    "sealed head block"
                );
                made.push(meta);
            }
            self.head.truncate(end);
            truncated = true;
        }
        if truncated {
            let upto = self.wal.rotate().map_err(TsdbError::Wal)?;
            let aliases = self.aliases.read().clone();
            let keep = |id: u64| {
                self.head.contains_id(id)
                    || aliases
                        .get(&id)
                        .is_some_and(|real| self.head.contains_id(*real))
            };
            let cp = self
                .wal
                .checkpoint(upto, &keep, self.head.min_valid_time())
                .map_err(TsdbError::Wal)?;
            tracing::debug!(
                segments = cp.segments,
                series = cp.series,
                samples = cp.samples,
                tombstones = cp.tombstones,
                "wal checkpoint written"
            );
        }
        self.apply_retention_locked()?;
        Ok(made)
    }

    fn add_blocks(&self, new: Vec<LoadedBlock>) {
        let mut blocks = self.blocks.write();
        blocks.extend(new);
        blocks.sort_by_key(|a| (a.meta().min_time, a.ulid()));
    }

    /// Changes the time and size retention (`None` or 0: none), applied
    /// from the next [`Db::apply_retention`] on.
    pub fn set_retention(&self, retention_ms: Option<i64>, retention_bytes: Option<u64>) {
        *self.retention.write() = (retention_ms.filter(|&t| t > 0), retention_bytes);
    }

    /// The time and size retention in force.
    pub fn retention(&self) -> (Option<i64>, Option<u64>) {
        *self.retention.read()
    }

    /// Makes retention ask `guard` before deleting a block: a block it
    /// refuses is kept (past retention) and asked about again on the next
    /// pass. Replaces an earlier guard.
    pub fn set_deletion_guard(&self, guard: DeletionGuard) {
        *self.deletion_guard.write() = Some(guard);
    }

    /// Removes the deletion guard: retention deletes as without one.
    pub fn clear_deletion_guard(&self) {
        *self.deletion_guard.write() = None;
    }

    /// Deletes blocks past the retention, as Prometheus: by time, blocks
    /// ending more than the retention before the newest block's end; by
    /// size, going from the newest block (by end time) to the oldest and
    /// counting the WAL first, the block that takes the total past the
    /// limit and every older one. The head is never deleted, nor a block
    /// the deletion guard ([`Db::set_deletion_guard`]) refuses. Returns
    /// the deleted block ids.
    pub fn apply_retention(&self) -> Result<Vec<String>, TsdbError> {
        let _g = self.seal_lock.lock();
        self.apply_retention_locked()
    }

    fn apply_retention_locked(&self) -> Result<Vec<String>, TsdbError> {
        let (retention_ms, retention_bytes) = *self.retention.read();
        let size_limit = retention_bytes.filter(|&b| b > 0);
        if retention_ms.is_none() && size_limit.is_none() {
            return Ok(Vec::new());
        }
        let wal_bytes = match size_limit {
            Some(_) => dir_size(&self.dir.join(WAL_DIR)),
            None => 0,
        };
        let guard = self.deletion_guard.read().clone();
        let may_delete = |b: &LoadedBlock, reason: &'static str| {
            let Some(guard) = &guard else { return true };
            let ok = guard(b.meta());
            if !ok {
                tracing::debug!(
                    ulid = %b.ulid(),
                    reason,
                    min_time = b.meta().min_time,
                    max_time = b.meta().max_time,
                    "keeping block past retention: the deletion guard refused it"
                );
            }
            ok
        };
        let mut doomed: Vec<(LoadedBlock, &'static str)> = Vec::new();
        {
            let mut blocks = self.blocks.write();
            if let Some(retention) = retention_ms
                && let Some(newest) = blocks.iter().map(|b| b.meta().max_time).max()
            {
                let (gone, kept): (Vec<_>, Vec<_>) = blocks
                    .drain(..)
                    .partition(|b| newest - b.meta().max_time > retention && may_delete(b, "time"));
                *blocks = kept;
                doomed.extend(gone.into_iter().map(|b| (b, "time")));
            }
            if let Some(limit) = size_limit {
                let mut order: Vec<usize> = (0..blocks.len()).collect();
                order.sort_by(|&a, &b| {
                    let key = |i: usize| (blocks[i].meta().max_time, blocks[i].meta().min_time);
                    key(b).cmp(&key(a))
                });
                let mut total = wal_bytes;
                let mut cut = None;
                for (k, &i) in order.iter().enumerate() {
                    total = total.saturating_add(blocks[i].bytes);
                    if total > limit {
                        cut = Some(k);
                        break;
                    }
                }
                if let Some(k) = cut {
                    let gone: HashSet<Ulid> = order[k..]
                        .iter()
                        .filter(|&&i| may_delete(&blocks[i], "size"))
                        .map(|&i| blocks[i].ulid())
                        .collect();
                    if !gone.is_empty() {
                        let (gone, kept): (Vec<_>, Vec<_>) =
                            blocks.drain(..).partition(|b| gone.contains(&b.ulid()));
                        *blocks = kept;
                        tracing::info!(
                            limit_bytes = limit,
                            wal_bytes,
                            blocks = gone.len(),
                            "blocks and wal are over the size retention"
                        );
                        doomed.extend(gone.into_iter().map(|b| (b, "size")));
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (b, reason) in doomed {
            let id = b.ulid();
            remove_block_dir(&self.dir, id)?;
            tracing::info!(
                ulid = %id,
                reason,
                min_time = b.meta().min_time,
                max_time = b.meta().max_time,
                bytes = b.bytes,
                "deleted block past retention"
            );
            out.push(id.to_string());
        }
        Ok(out)
    }

    /// Loads the complete blocks that appeared in the storage directory
    /// since it was opened (a backfill with `argus tools import`, a copy),
    /// so that they are queried without a restart. A block is complete when
    /// its directory is named by its ULID and has `meta.json` (writers build
    /// blocks in `<ULID>.tmp-for-creation/` and rename them into place).
    /// Directories that fail to open are logged once and skipped, and
    /// retried when their content changes. A new block that names loaded
    /// blocks as its parents replaces them. Returns the loaded block ids.
    pub fn reload_blocks(&self) -> Result<Vec<String>, TsdbError> {
        let _g = self.seal_lock.lock();
        let loaded: HashSet<Ulid> = self.blocks.read().iter().map(LoadedBlock::ulid).collect();
        let mut new = Vec::new();
        let mut seen = HashSet::new();
        for e in fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let e = e.map_err(io_err(&self.dir))?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let Ok(id) = Ulid::from_string(name) else {
                continue;
            };
            if id.to_string() != name || loaded.contains(&id) {
                continue;
            }
            let path = e.path();
            if !path.is_dir() || !path.join(META_FILE).exists() {
                continue;
            }
            seen.insert(name.to_string());
            let sig = dir_signature(&path);
            if self.unreadable.lock().get(name) == Some(&sig) {
                continue;
            }
            let opened = LoadedBlock::open(&path).and_then(|b| {
                if b.ulid() == id {
                    Ok(b)
                } else {
                    Err(TsdbError::InvalidArgument(format!(
                        "meta.json names block {}, not {id}",
                        b.ulid()
                    )))
                }
            });
            match opened {
                Ok(b) => {
                    self.unreadable.lock().remove(name);
                    new.push(b);
                }
                Err(err) => {
                    if self
                        .unreadable
                        .lock()
                        .insert(name.to_string(), sig)
                        .is_none()
                    {
                        tracing::warn!(
                            dir = %path.display(),
                            error = %err,
                            "cannot load new block; skipping it until it changes"
                        );
                    }
                }
            }
        }
        self.unreadable.lock().retain(|name, _| seen.contains(name));
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = new.iter().map(|b| b.ulid().to_string()).collect();
        for b in &new {
            tracing::info!(
                ulid = %b.ulid(),
                min_time = b.meta().min_time,
                max_time = b.meta().max_time,
                series = b.meta().stats.num_series,
                source = %b.meta().thanos.source,
                "loaded new block"
            );
        }
        self.add_blocks(new);
        let mut blocks = self.blocks.write();
        drop_replaced(&self.dir, &mut blocks)?;
        Ok(ids)
    }

    /// Deletes the samples in `[min_t, max_t]` of the series matching every
    /// matcher, as Prometheus's `delete_series`: reads stop returning them
    /// at once (a series left without samples in a select's range is not
    /// returned; label names and values are not affected) and they are
    /// removed from disk when the head range is sealed or by
    /// [`Db::clean_tombstones`]. Only data that exists now is deleted: each
    /// deleted interval is clamped to what the series holds.
    ///
    /// Durable when it returns: a block's deletions are in its `tombstones`
    /// file, the head's in a WAL tombstones record (synced).
    pub fn delete_series(
        &self,
        matchers: &[Matcher],
        min_t: i64,
        max_t: i64,
    ) -> Result<(), TsdbError> {
        if matchers.is_empty() {
            return Err(TsdbError::InvalidArgument(
                "deleting series needs at least one matcher".to_string(),
            ));
        }
        if min_t > max_t {
            return Err(TsdbError::InvalidArgument(format!(
                "deletion end {max_t} is before its start {min_t}"
            )));
        }
        let _g = self.seal_lock.lock();
        let blocks = self.blocks.read().clone();
        let mut block_series = 0usize;
        let mut changed_blocks = 0usize;
        for b in &blocks {
            if !b.reader.overlaps(min_t, max_t) {
                continue;
            }
            let rows = b.reader.matching_series(matchers, min_t, max_t);
            if rows.is_empty() {
                continue;
            }
            let mut stones = (*b.stones).clone();
            let mut changed = false;
            for row in rows {
                let Some((first, last)) = b.reader.series_time_range(row as usize) else {
                    continue;
                };
                let (lo, hi) = (min_t.max(first), max_t.min(last));
                if lo <= hi && stones.add(row, lo, hi) {
                    changed = true;
                    block_series += 1;
                }
            }
            if !changed {
                continue;
            }
            stones.write(b.reader.dir())?;
            changed_blocks += 1;
            let stones = Arc::new(stones);
            let bytes = dir_size(b.reader.dir());
            if let Some(x) = self
                .blocks
                .write()
                .iter_mut()
                .find(|x| x.ulid() == b.ulid())
            {
                x.stones = stones;
                x.bytes = bytes;
            }
        }
        let stones = self.head.tombstones_for(matchers, min_t, max_t);
        if !stones.is_empty() {
            let mut bodies = Vec::new();
            for part in stones.chunks(16_384) {
                let mut b = Vec::with_capacity(part.len() * 12 + 1);
                wal::encode_tombstones(&mut b, part);
                bodies.push(b);
            }
            let slices: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
            self.wal.log(&slices).map_err(TsdbError::Wal)?;
            self.wal.sync().map_err(TsdbError::Wal)?;
            self.head.apply_tombstones(&stones);
        }
        let matchers: Vec<String> = matchers.iter().map(ToString::to_string).collect();
        tracing::info!(
            matchers = %matchers.join(","),
            min_time = min_t,
            max_time = max_t,
            blocks = changed_blocks,
            block_series,
            head_series = stones.len(),
            "deleted series"
        );
        Ok(())
    }

    /// Rewrites every block that has tombstones without the deleted
    /// samples, as Prometheus's `CleanTombstones`: the new block has the
    /// same time range, sources and level, names the old one as its parent,
    /// and replaces it (the old one is deleted; a block whose data was all
    /// deleted is just deleted). The head's tombstones are applied when its
    /// ranges are sealed. Returns what was rewritten.
    pub fn clean_tombstones(&self) -> Result<Vec<CleanedBlock>, TsdbError> {
        let _g = self.seal_lock.lock();
        let blocks = self.blocks.read().clone();
        let mut out = Vec::new();
        for b in blocks.iter().filter(|b| !b.stones.is_empty()) {
            let meta = b.meta().clone();
            let req = SelectRequest::new(Vec::new(), meta.min_time, meta.max_time - 1);
            let mut src = BlockStoneFilter {
                inner: BlockReader::series_source(b.reader.clone(), &req),
                block: b.reader.clone(),
                stones: b.stones.clone(),
                mint: req.mint,
                maxt: req.maxt,
                skip_chunks: false,
            };
            let mut series = Vec::new();
            while let Some(s) = src.next_series().map_err(|source| TsdbError::ReadBlock {
                ulid: meta.ulid,
                source,
            })? {
                series.push(BlockSeries {
                    labels: s.labels,
                    chunks: s.chunks,
                });
            }
            let new = if series.is_empty() {
                None
            } else {
                let spec = NewBlock {
                    min_time: meta.min_time,
                    max_time: meta.max_time,
                    external_labels: meta.thanos.labels.clone(),
                    resolution: meta.resolution(),
                    source: meta.thanos.source.clone(),
                    compaction_level: meta.compaction.level.max(1),
                    sources: meta.compaction.sources.clone(),
                    parents: vec![BlockDesc {
                        ulid: meta.ulid,
                        min_time: meta.min_time,
                        max_time: meta.max_time,
                    }],
                };
                let m = write_block(&self.dir, &spec, &series)?;
                Some((LoadedBlock::open(&self.dir.join(m.ulid.to_string()))?, m))
            };
            // One swap, so that a query sees the old block or the new one.
            let new_meta = {
                let mut list = self.blocks.write();
                list.retain(|x| x.ulid() != meta.ulid);
                new.map(|(block, m)| {
                    list.push(block);
                    list.sort_by_key(|a| (a.meta().min_time, a.ulid()));
                    m
                })
            };
            remove_block_dir(&self.dir, meta.ulid)?;
            tracing::info!(
                ulid = %meta.ulid,
                new_ulid = %new_meta.as_ref().map(|m| m.ulid.to_string()).unwrap_or_default(),
                tombstones = b.stones.num_intervals(),
                series = series.len(),
                "rewrote block without its deleted samples"
            );
            out.push(CleanedBlock {
                replaced: meta.ulid,
                new: new_meta,
            });
        }
        Ok(out)
    }

    /// Writes a snapshot into `<storage>/snapshots/<timestamp>-<random
    /// hex>/`, as Prometheus's snapshot API: see [`Db::snapshot_into`].
    pub fn snapshot(&self, with_head: bool) -> Result<Snapshot, TsdbError> {
        let name = snapshot_name();
        let dir = self.dir.join(SNAPSHOTS_DIR).join(&name);
        let blocks = self.snapshot_into(&dir, with_head)?;
        Ok(Snapshot { name, dir, blocks })
    }

    /// Writes every block into `dir` as hard links (copies across file
    /// systems) of its files, tombstones included, and with `with_head` the
    /// head's samples (without deleted ones) as one more block spanning
    /// them, as Prometheus's `DB.Snapshot`. The result is a storage
    /// directory a database can be opened on. `dir` must not be the
    /// storage directory nor be named by a ULID (it would pass for a
    /// block). Returns the blocks written.
    pub fn snapshot_into(&self, dir: &Path, with_head: bool) -> Result<Vec<Ulid>, TsdbError> {
        let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        };
        if same(dir, &self.dir) {
            return Err(TsdbError::InvalidArgument(
                "cannot snapshot into the storage directory".to_string(),
            ));
        }
        if dir
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| Ulid::from_string(n).is_ok())
        {
            return Err(TsdbError::InvalidArgument(format!(
                "snapshot directory {} must not be named by a ULID",
                dir.display()
            )));
        }
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let _g = self.seal_lock.lock();
        let blocks = self.blocks.read().clone();
        let mut out = Vec::new();
        for b in &blocks {
            link_block(b.reader.dir(), dir, b.ulid())?;
            out.push(b.ulid());
        }
        if with_head && let Some((min_t, max_t)) = self.head.time_range() {
            let series: Vec<BlockSeries> = self
                .head
                .block_contents(min_t, max_t.saturating_add(1))
                .into_iter()
                .map(|s| BlockSeries {
                    labels: s.labels,
                    chunks: s.chunks,
                })
                .collect();
            if !series.is_empty() {
                let spec = NewBlock {
                    min_time: min_t,
                    max_time: max_t.saturating_add(1),
                    external_labels: self.opts.external_labels.clone(),
                    resolution: 0,
                    source: "head".to_string(),
                    compaction_level: 1,
                    sources: Vec::new(),
                    parents: Vec::new(),
                };
                out.push(write_block(dir, &spec, &series)?.ulid);
            }
        }
        tracing::info!(dir = %dir.display(), blocks = out.len(), with_head, "wrote snapshot");
        Ok(out)
    }

    /// Flushes the WAL to disk.
    pub fn sync(&self) -> Result<(), TsdbError> {
        self.wal.sync().map_err(TsdbError::Wal)
    }

    fn overlapping_blocks(&self, mint: i64, maxt: i64) -> Vec<LoadedBlock> {
        self.blocks
            .read()
            .iter()
            .filter(|b| b.reader.overlaps(mint, maxt))
            .cloned()
            .collect()
    }
}

/// Deletes the blocks that a loaded block names as its parents: it was
/// compacted or rewritten from them, and a crash kept them (Prometheus
/// does the same when it loads blocks).
fn drop_replaced(dir: &Path, blocks: &mut Vec<LoadedBlock>) -> Result<(), TsdbError> {
    let parents: HashSet<Ulid> = blocks
        .iter()
        .flat_map(|b| b.meta().compaction.parents.iter().map(|p| p.ulid))
        .collect();
    if parents.is_empty() {
        return Ok(());
    }
    let (gone, kept): (Vec<_>, Vec<_>) =
        blocks.drain(..).partition(|b| parents.contains(&b.ulid()));
    *blocks = kept;
    for b in gone {
        remove_block_dir(dir, b.ulid())?;
        tracing::info!(ulid = %b.ulid(), reason = "replaced", "deleted block replaced by a newer one");
    }
    Ok(())
}

impl Queryable for Db {
    /// The blocks overlapping the range and the head, merged: a series in
    /// several of them comes out once, with the chunks of all (a block's
    /// first where they overlap). Deleted samples are left out.
    fn select(
        &self,
        req: &SelectRequest,
        ctx: &ReadContext,
    ) -> Result<SeriesStream<'_>, StorageError> {
        ctx.check()?;
        let mut sources: Vec<Box<dyn SeriesSource + '_>> = Vec::new();
        for b in self.overlapping_blocks(req.mint, req.maxt) {
            let inner = BlockReader::series_source(b.reader.clone(), req);
            if b.stones.is_empty() {
                sources.push(Box::new(inner));
            } else {
                sources.push(Box::new(BlockStoneFilter {
                    inner,
                    block: b.reader,
                    stones: b.stones,
                    mint: req.mint,
                    maxt: req.maxt,
                    skip_chunks: req.hints.skip_chunks,
                }));
            }
        }
        sources.push(Box::new(self.head.series_source(req)));
        let merged = MergeSeries::new(sources, OnEqualLabels::ConcatChunks);
        Ok(SeriesStream::new(merged, req, ctx))
    }

    fn label_names(
        &self,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        let mut lists = vec![self.head.label_names(req, ctx)?];
        for b in self.overlapping_blocks(req.mint, req.maxt) {
            lists.push(b.reader.label_names(req, ctx)?);
        }
        Ok(merge_sorted_strings(lists, req.limit))
    }

    fn label_values(
        &self,
        name: &str,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        let mut lists = vec![self.head.label_values(name, req, ctx)?];
        for b in self.overlapping_blocks(req.mint, req.maxt) {
            lists.push(b.reader.label_values(name, req, ctx)?);
        }
        Ok(merge_sorted_strings(lists, req.limit))
    }
}

/// Counts of one commit.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CommitStats {
    pub stored: usize,
    /// Refused at commit because a concurrent commit got ahead.
    pub refused: usize,
}

/// Collects samples and writes them to the WAL and the head on commit.
/// Samples are visible to queries and durable (per the fsync policy) once
/// `commit` returns.
pub struct DbAppender<'a> {
    db: &'a Db,
    samples: Vec<(Arc<MemSeries>, i64, f64)>,
    /// Newest timestamp per series in this batch, to keep it in order.
    pending: HashMap<u64, i64, BuildHasherDefault<IdHasher>>,
}

impl DbAppender<'_> {
    /// Adds a sample, checking it against the series' last sample. Errors
    /// leave the appender usable; the sample is just not added.
    pub fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), AppendError> {
        let (series, _) = self.db.head.get_or_create(labels);
        self.add(series, t, v)
    }

    /// As [`DbAppender::append`] with a handle from an earlier call that
    /// skips the label lookup; a handle to a series truncation dropped (or
    /// from another storage) is replaced after looking the labels up.
    pub fn append_ref(
        &mut self,
        handle: &mut SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<(), AppendError> {
        let series = match handle
            .get::<MemSeries>()
            .filter(|s| !s.removed.load(Ordering::Acquire))
        {
            Some(s) => s,
            None => {
                let s = self.db.head.get_or_create(labels).0;
                *handle = SeriesRef::new(s.clone());
                s
            }
        };
        self.add(series, t, v)
    }

    fn add(&mut self, series: Arc<MemSeries>, t: i64, v: f64) -> Result<(), AppendError> {
        match self.pending.get(&series.id) {
            Some(&last) if t <= last => return Err(AppendError::OutOfOrder { t, last }),
            Some(_) => {}
            None => {
                if !self.db.head.check(&series, t, v)? {
                    return Ok(());
                }
            }
        }
        self.pending.insert(series.id, t);
        self.samples.push((series, t, v));
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Logs the batch to the WAL, then applies it to the head.
    pub fn commit(self) -> Result<CommitStats, TsdbError> {
        if self.samples.is_empty() {
            return Ok(CommitStats::default());
        }
        let mut seen = HashSet::new();
        let unlogged: Vec<&Arc<MemSeries>> = self
            .samples
            .iter()
            .map(|x| &x.0)
            .filter(|s| !s.logged.load(Ordering::Acquire) && seen.insert(s.id))
            .collect();
        let mut series_body = Vec::new();
        if !unlogged.is_empty() {
            let list: Vec<(u64, &Labels)> = unlogged.iter().map(|s| (s.id, &s.labels)).collect();
            wal::encode_series(&mut series_body, &list);
        }
        let refs: Vec<RefSample> = self
            .samples
            .iter()
            .map(|(s, t, v)| RefSample {
                series: s.id,
                t: *t,
                v: *v,
            })
            .collect();
        let mut bodies: Vec<Vec<u8>> = Vec::new();
        if !series_body.is_empty() {
            bodies.push(series_body);
        }
        // Bounded record size keeps replay memory and torn-tail loss small.
        for part in refs.chunks(16_384) {
            let mut b = Vec::with_capacity(part.len() * 14 + 16);
            wal::encode_samples(&mut b, part);
            bodies.push(b);
        }
        let slices: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        self.db.wal.log(&slices).map_err(TsdbError::Wal)?;
        for s in unlogged {
            s.logged.store(true, Ordering::Release);
        }
        let mut stats = CommitStats::default();
        for (s, t, v) in &self.samples {
            if self.db.head.store(s, *t, *v) {
                stats.stored += 1;
            } else {
                stats.refused += 1;
            }
        }
        Ok(stats)
    }

    pub fn rollback(self) {}
}

impl argus_model::Appendable for Db {
    fn appender(&self) -> Box<dyn argus_model::Appender + '_> {
        Box::new(Db::appender(self))
    }
}

impl argus_model::Appender for DbAppender<'_> {
    fn append(
        &mut self,
        series: &mut SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<(), AppendError> {
        self.append_ref(series, labels, t, v)
    }

    fn len(&self) -> usize {
        self.samples.len()
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        DbAppender::commit(*self)
            .map(|_| ())
            .map_err(|e| StorageError::internal(e.to_string()))
    }

    fn rollback(self: Box<Self>) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::FsyncPolicy;
    use argus_model::{QueryableExt, Sample};

    fn opts(block: i64) -> DbOptions {
        DbOptions {
            block_duration_ms: block,
            retention_ms: None,
            retention_bytes: None,
            wal: WalOptions {
                segment_size: 1 << 16,
                fsync: FsyncPolicy::Always,
            },
            external_labels: Labels::from_pairs(&[("replica", "a")]),
        }
    }

    fn series(i: usize) -> Labels {
        Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())])
    }

    /// Every series of `q` with its decoded samples.
    fn decoded_all(q: &impl QueryableExt) -> Vec<(Labels, Vec<Sample>)> {
        q.select_all(&[], i64::MIN, i64::MAX)
            .expect("select")
            .into_iter()
            .map(|s| {
                let v = s.decode(i64::MIN, i64::MAX).expect("decode");
                (s.labels, v)
            })
            .collect()
    }

    fn all(db: &Db) -> Vec<(Labels, Vec<Sample>)> {
        decoded_all(db)
    }

    fn write(db: &Db, series_n: usize, from: i64, to: i64, step: i64) {
        let mut t = from;
        while t < to {
            let mut app = db.appender();
            for i in 0..series_n {
                app.append(&series(i), t, (t / step) as f64 + i as f64)
                    .expect("append");
            }
            app.commit().expect("commit");
            t += step;
        }
    }

    #[test]
    fn replays_wal_after_reopen() {
        let d = tempfile::tempdir().expect("tempdir");
        let db = Db::open(d.path(), opts(1_000_000)).expect("open");
        write(&db, 5, 0, 10_000, 100);
        let before = all(&db);
        drop(db);
        let db = Db::open(d.path(), opts(1_000_000)).expect("reopen");
        assert_eq!(db.open_stats().wal_samples, 500);
        assert_eq!(all(&db), before);
    }

    #[test]
    fn sealing_writes_blocks_and_keeps_every_sample() {
        let d = tempfile::tempdir().expect("tempdir");
        let db = Db::open(d.path(), opts(10_000)).expect("open");
        write(&db, 4, 0, 47_000, 500);
        let before = all(&db);
        let made = db.seal_head().expect("seal head");
        // The head reached 46.5s: [30s, 40s) is sealed too, as 46.5 - 30 >= 15.
        assert_eq!(made.len(), 4);
        assert_eq!(made[0].min_time, 0);
        assert_eq!(made[3].max_time, 40_000);
        assert_eq!(db.head().min_valid_time(), 40_000);
        assert_eq!(all(&db), before);
        // Samples already in blocks are refused.
        let mut app = db.appender();
        assert!(matches!(
            app.append(&series(0), 39_000, 1.0),
            Err(AppendError::OutOfBounds { .. })
        ));
        drop(app);
        drop(db);
        // After reopening: blocks plus the checkpointed WAL give the same.
        let db = Db::open(d.path(), opts(10_000)).expect("reopen");
        assert_eq!(db.blocks().len(), 4);
        assert_eq!(all(&db), before);
        let names = db.label_names_all(&[], i64::MIN, i64::MAX).expect("names");
        assert_eq!(names, vec!["__name__", "i"]);
    }

    #[test]
    fn retention_deletes_old_blocks() {
        let d = tempfile::tempdir().expect("tempdir");
        let mut o = opts(10_000);
        o.retention_ms = Some(15_000);
        let db = Db::open(d.path(), o).expect("open");
        write(&db, 1, 0, 60_000, 1000);
        db.seal_head().expect("seal head");
        let blocks = db.blocks();
        assert!(blocks.iter().all(|b| b.min_time >= 20_000), "{blocks:?}");
    }

    #[test]
    fn batch_keeps_each_series_in_order() {
        let d = tempfile::tempdir().expect("tempdir");
        let db = Db::open(d.path(), opts(10_000)).expect("open");
        let mut app = db.appender();
        app.append(&series(0), 10, 1.0).expect("first");
        app.append(&series(1), 5, 1.0).expect("other series");
        assert_eq!(
            app.append(&series(0), 10, 2.0),
            Err(AppendError::OutOfOrder { t: 10, last: 10 })
        );
        app.append(&series(0), 11, 2.0).expect("later");
        assert_eq!(app.commit().expect("commit").stored, 3);
    }

    #[test]
    fn second_open_is_refused_while_locked() {
        let d = tempfile::tempdir().expect("tempdir");
        let _db = Db::open(d.path(), opts(10_000)).expect("open");
        assert!(matches!(
            Db::open(d.path(), opts(10_000)),
            Err(TsdbError::Locked(_))
        ));
    }

    fn eq(name: &str, value: &str) -> Matcher {
        Matcher::equal(name, value)
    }

    fn times(db: &Db, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<(String, Vec<i64>)> {
        db.select_all(matchers, mint, maxt)
            .expect("select")
            .into_iter()
            .map(|s| {
                let ts = s
                    .decode(mint, maxt)
                    .expect("decode")
                    .iter()
                    .map(|x| x.t)
                    .collect();
                (s.labels.get("i").unwrap_or_default().to_string(), ts)
            })
            .collect()
    }

    fn block_samples(dir: &Path) -> Vec<(Labels, Vec<Sample>)> {
        decoded_all(&BlockReader::open(dir).expect("open block"))
    }

    #[test]
    fn size_retention_deletes_oldest_blocks_first() {
        let d = tempfile::tempdir().expect("tempdir");
        let db = Db::open(d.path(), opts(10_000)).expect("open");
        write(&db, 3, 0, 50_000, 500);
        db.seal_all().expect("seal");
        let blocks = db.blocks();
        assert_eq!(blocks.len(), 5);
        let sizes: Vec<u64> = blocks
            .iter()
            .map(|b| dir_size(&d.path().join(b.ulid.to_string())))
            .collect();
        let wal = dir_size(&d.path().join(WAL_DIR));
        assert_eq!(db.size_bytes(), sizes.iter().sum::<u64>() + wal);
        drop(db);
        // Room for the WAL and the newest three blocks, not four.
        let mut o = opts(10_000);
        o.retention_bytes = Some(wal + sizes[2] + sizes[3] + sizes[4] + sizes[1] / 2);
        let db = Db::open(d.path(), o).expect("reopen");
        let wal = dir_size(&d.path().join(WAL_DIR));
        let deleted = db.apply_retention().expect("retention");
        let want: Vec<String> = blocks[..2].iter().map(|b| b.ulid.to_string()).collect();
        assert_eq!(deleted, want);
        let left: Vec<i64> = db.blocks().iter().map(|b| b.min_time).collect();
        assert_eq!(left, vec![20_000, 30_000, 40_000]);
        assert!(!d.path().join(&want[0]).exists());
        assert!(db.size_bytes() <= wal + sizes[2] + sizes[3] + sizes[4]);
        // Under the limit now: nothing more goes.
        assert!(db.apply_retention().expect("again").is_empty());
        // The head is never deleted.
        assert_eq!(times(&db, &[eq("i", "0")], 0, 100_000)[0].1[0], 20_000);
    }

    #[test]
    fn retention_keeps_blocks_the_guard_refuses_until_it_allows_them() {
        let d = tempfile::tempdir().expect("tempdir");
        let db = Db::open(d.path(), opts(10_000)).expect("open");
        write(&db, 1, 0, 60_000, 1000);
        db.seal_all().expect("seal");
        let blocks = db.blocks();
        assert_eq!(blocks.len(), 6);
        let ids: Vec<Ulid> = blocks.iter().map(|b| b.ulid).collect();
        let unshipped = Arc::new(Mutex::new(HashSet::from([ids[0], ids[2]])));
        let asked = Arc::new(Mutex::new(Vec::new()));
        let (u, a) = (unshipped.clone(), asked.clone());
        db.set_deletion_guard(Arc::new(move |m: &BlockMeta| {
            a.lock().push(m.ulid);
            !u.lock().contains(&m.ulid)
        }));
        let left = |db: &Db| db.blocks().iter().map(|b| b.ulid).collect::<Vec<_>>();

        // Time: the four blocks ending before 45s are past it; two refused.
        db.set_retention(Some(15_000), None);
        let deleted = db.apply_retention().expect("retention");
        assert_eq!(deleted, vec![ids[1].to_string(), ids[3].to_string()]);
        assert_eq!(left(&db), vec![ids[0], ids[2], ids[4], ids[5]]);
        assert!(d.path().join(ids[0].to_string()).is_dir());
        assert!(!d.path().join(ids[1].to_string()).exists());
        // Only blocks past retention are asked about.
        assert!(!asked.lock().contains(&ids[4]));
        // Refused blocks are still read.
        assert_eq!(times(&db, &[], 0, 60_000)[0].1.len(), 40);
        // Shipped: the next pass takes it.
        unshipped.lock().remove(&ids[0]);
        let deleted = db.apply_retention().expect("retention");
        assert_eq!(deleted, vec![ids[0].to_string()]);
        // Without a guard, retention deletes as before.
        db.clear_deletion_guard();
        let deleted = db.apply_retention().expect("retention");
        assert_eq!(deleted, vec![ids[2].to_string()]);
        assert_eq!(left(&db), vec![ids[4], ids[5]]);

        // Size: room for the WAL and the newest block only; the older one
        // is refused and kept until allowed.
        db.set_retention(None, Some(1));
        unshipped.lock().insert(ids[4]);
        db.set_deletion_guard(Arc::new({
            let u = unshipped.clone();
            move |m: &BlockMeta| !u.lock().contains(&m.ulid)
        }));
        let deleted = db.apply_retention().expect("retention");
        assert_eq!(deleted, vec![ids[5].to_string()]);
        assert_eq!(left(&db), vec![ids[4]]);
        assert!(db.apply_retention().expect("retention").is_empty());
        unshipped.lock().clear();
        let deleted = db.apply_retention().expect("retention");
        assert_eq!(deleted, vec![ids[4].to_string()]);
        assert!(db.blocks().is_empty());
    }

    #[test]
    fn size_retention_runs_after_sealing() {
        let d = tempfile::tempdir().expect("tempdir");
        let mut o = opts(10_000);
        o.retention_bytes = Some(1);
        let db = Db::open(d.path(), o).expect("open");
        write(&db, 2, 0, 30_000, 500);
        db.seal_all().expect("seal");
        assert!(db.blocks().is_empty());
        assert!(all(&db).is_empty());
    }

    #[test]
    fn reload_picks_up_new_complete_blocks_only() {
        let d = tempfile::tempdir().expect("tempdir");
        let db = Db::open(d.path(), opts(10_000)).expect("open");
        write(&db, 1, 100_000, 101_000, 100);
        assert!(db.reload_blocks().expect("reload").is_empty());
        // A backfilled block written while the db is open.
        let other = Labels::from_pairs(&[("__name__", "old"), ("i", "9")]);
        let samples: Vec<Sample> = (0..10)
            .map(|i| Sample {
                t: i * 100,
                v: i as f64,
            })
            .collect();
        let meta = write_block(
            d.path(),
            &NewBlock::new(0, 10_000, "import"),
            &[BlockSeries::from_samples(other, &samples)],
        )
        .expect("write block");
        // Not blocks: a temporary directory, one without meta.json, one with
        // a broken meta.json, a stray directory.
        let tmp = d
            .path()
            .join(format!("{}{TMP_CREATION_SUFFIX}", Ulid::new()));
        fs::create_dir(&tmp).expect("mkdir");
        let partial = d.path().join(Ulid::new().to_string());
        fs::create_dir(&partial).expect("mkdir");
        let broken = d.path().join(Ulid::new().to_string());
        fs::create_dir(&broken).expect("mkdir");
        fs::write(broken.join(META_FILE), b"{not json").expect("write");
        fs::create_dir(d.path().join("stray")).expect("mkdir");
        assert!(times(&db, &[eq("__name__", "old")], 0, 10_000).is_empty());
        let loaded = db.reload_blocks().expect("reload");
        assert_eq!(loaded, vec![meta.ulid.to_string()]);
        assert_eq!(
            times(&db, &[eq("__name__", "old")], 0, 10_000),
            vec![("9".to_string(), (0..10).map(|i| i * 100).collect())]
        );
        assert_eq!(db.unreadable.lock().len(), 1);
        // Nothing new the second time; the broken block is not retried
        // until it changes, and then it loads.
        assert!(db.reload_blocks().expect("reload").is_empty());
        fs::remove_dir_all(&broken).expect("rm");
        assert!(db.reload_blocks().expect("reload").is_empty());
        assert!(db.unreadable.lock().is_empty());
        // The head still accepts its samples; the old block does not move
        // the head's lower bound.
        let mut app = db.appender();
        app.append(&series(0), 101_500, 1.0).expect("append");
        app.commit().expect("commit");
        assert!(tmp.exists() && partial.exists());
    }

    #[test]
    fn delete_series_hides_samples_in_head_and_blocks_and_survives_restart() {
        let d = tempfile::tempdir().expect("tempdir");
        let db = Db::open(d.path(), opts(10_000)).expect("open");
        write(&db, 3, 0, 25_000, 1000);
        db.seal_head().expect("seal"); // [0, 10s) sealed; the head keeps 10s..24s
        assert_eq!(db.blocks().len(), 1);
        // Delete series 1 from 5s to 15s: both the block and the head.
        db.delete_series(&[eq("i", "1")], 5_000, 15_000)
            .expect("delete");
        let want1: Vec<i64> = (0..5).chain(16..25).map(|t| t * 1000).collect();
        let all_t: Vec<i64> = (0..25).map(|t| t * 1000).collect();
        let check = |db: &Db| {
            let got = times(db, &[], 0, 24_999);
            assert_eq!(got.len(), 3);
            assert_eq!(got[0], ("0".to_string(), all_t.clone()));
            assert_eq!(got[1], ("1".to_string(), want1.clone()));
            assert_eq!(got[2], ("2".to_string(), all_t.clone()));
            // A range holding only deleted samples has no series 1, in
            // selects and in the labels-only selects of the series API.
            let got = times(db, &[], 6_000, 14_000);
            let names: Vec<&str> = got.iter().map(|x| x.0.as_str()).collect();
            assert_eq!(names, vec!["0", "2"]);
            let mut req = SelectRequest::new(vec![eq("i", "1")], 6_000, 14_000);
            req.hints.skip_chunks = true;
            let n = db
                .select(&req, &ReadContext::default())
                .expect("select")
                .count();
            assert_eq!(n, 0);
            req.mint = 0;
            let n = db
                .select(&req, &ReadContext::default())
                .expect("select")
                .count();
            assert_eq!(n, 1); // the block's and the head's parts, merged
        };
        check(&db);
        // Samples appended after the delete, past what it covered, show.
        let mut app = db.appender();
        app.append(&series(1), 25_000, 1.0).expect("append");
        app.commit().expect("commit");
        assert_eq!(
            times(&db, &[eq("i", "1")], 25_000, 25_000)[0].1,
            vec![25_000]
        );
        // Deleting over nothing, or twice, is fine.
        db.delete_series(&[eq("i", "nope")], 0, 100_000)
            .expect("delete");
        db.delete_series(&[eq("i", "1")], 5_000, 15_000)
            .expect("delete again");
        assert!(matches!(
            db.delete_series(&[], 0, 1),
            Err(TsdbError::InvalidArgument(_))
        ));
        assert!(matches!(
            db.delete_series(&[eq("i", "1")], 2, 1),
            Err(e) if e.kind() == ErrorKind::InvalidArgument
        ));
        drop(db);
        let db = Db::open(d.path(), opts(10_000)).expect("reopen");
        assert_eq!(db.open_stats().wal_tombstones, 2);
        let got = times(&db, &[eq("i", "1")], 0, 100_000);
        let mut with_new = want1.clone();
        with_new.push(25_000);
        assert_eq!(got[0].1, with_new);
        check(&db);
    }

    #[test]
    fn head_tombstones_are_applied_at_seal_and_kept_by_checkpoints() {
        let d = tempfile::tempdir().expect("tempdir");
        let db = Db::open(d.path(), opts(10_000)).expect("open");
        write(&db, 2, 0, 25_000, 1000);
        db.delete_series(&[eq("i", "0")], 8_000, 12_000)
            .expect("delete");
        let made = db.seal_head().expect("seal");
        assert_eq!(made.len(), 1);
        // The sealed block has no deleted samples and no tombstones file.
        let bdir = d.path().join(made[0].ulid.to_string());
        assert!(!bdir.join(crate::tombstones::TOMBSTONES_FILE).exists());
        let in_block = block_samples(&bdir);
        let ts: Vec<i64> = in_block[0].1.iter().map(|s| s.t).collect();
        assert_eq!(ts, (0..8).map(|t| t * 1000).collect::<Vec<_>>());
        assert_eq!(in_block[1].1.len(), 10);
        // The checkpoint kept the rest of the tombstone for the head.
        drop(db);
        let db = Db::open(d.path(), opts(10_000)).expect("reopen");
        let want: Vec<i64> = (0..8).chain(13..25).map(|t| t * 1000).collect();
        assert_eq!(times(&db, &[eq("i", "0")], 0, 100_000)[0].1, want);
    }

    #[test]
    fn clean_tombstones_rewrites_blocks_without_deleted_data() {
        let d = tempfile::tempdir().expect("tempdir");
        let db = Db::open(d.path(), opts(10_000)).expect("open");
        write(&db, 2, 0, 30_000, 1000);
        db.seal_all().expect("seal");
        let before = db.blocks();
        assert_eq!(before.len(), 3);
        db.delete_series(&[eq("i", "0")], 5_000, 14_000)
            .expect("delete");
        // The whole of [20s, 30s) for every series.
        db.delete_series(&[eq("__name__", "m")], 20_000, 29_999)
            .expect("delete");
        let visible = all(&db);
        let cleaned = db.clean_tombstones().expect("clean");
        assert_eq!(cleaned.len(), 3);
        assert!(cleaned[2].new.is_none());
        assert_eq!(all(&db), visible);
        let after = db.blocks();
        assert_eq!(after.len(), 2);
        for (old, new) in before.iter().zip(&after) {
            assert!(!d.path().join(old.ulid.to_string()).exists());
            assert_eq!((new.min_time, new.max_time), (old.min_time, old.max_time));
            assert_eq!(new.compaction.sources, old.compaction.sources);
            assert_eq!(new.compaction.parents[0].ulid, old.ulid);
            let dir = d.path().join(new.ulid.to_string());
            assert!(!dir.join(crate::tombstones::TOMBSTONES_FILE).exists());
        }
        let first = block_samples(&d.path().join(after[0].ulid.to_string()));
        let ts: Vec<i64> = first[0].1.iter().map(|s| s.t / 1000).collect();
        assert_eq!(ts, vec![0, 1, 2, 3, 4]);
        assert_eq!(first[1].1.len(), 10);
        assert!(db.clean_tombstones().expect("clean again").is_empty());
        drop(db);
        let db = Db::open(d.path(), opts(10_000)).expect("reopen");
        assert_eq!(all(&db), visible);
    }

    #[test]
    fn open_drops_blocks_replaced_by_a_child() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = vec![BlockSeries::from_samples(
            series(0),
            &[Sample { t: 1, v: 1.0 }],
        )];
        let parent = write_block(d.path(), &NewBlock::new(0, 10, "test"), &s).expect("write");
        let mut spec = NewBlock::new(0, 10, "test");
        spec.parents = vec![BlockDesc {
            ulid: parent.ulid,
            min_time: 0,
            max_time: 10,
        }];
        let child = write_block(d.path(), &spec, &s).expect("write");
        let db = Db::open(d.path(), opts(10_000)).expect("open");
        let ids: Vec<Ulid> = db.blocks().iter().map(|b| b.ulid).collect();
        assert_eq!(ids, vec![child.ulid]);
        assert!(!d.path().join(parent.ulid.to_string()).exists());
        assert_eq!(all(&db)[0].1.len(), 1);
    }

    #[test]
    fn snapshot_links_blocks_and_seals_the_head() {
        let d = tempfile::tempdir().expect("tempdir");
        let db = Db::open(d.path(), opts(10_000)).expect("open");
        write(&db, 2, 0, 25_000, 1000);
        db.seal_head().expect("seal");
        db.delete_series(&[eq("i", "1")], 0, 3_000).expect("delete");
        let visible = all(&db);
        let snap = db.snapshot(true).expect("snapshot");
        assert!(snap.dir.starts_with(d.path().join(SNAPSHOTS_DIR)));
        assert_eq!(
            snap.dir.file_name().and_then(|n| n.to_str()),
            Some(snap.name.as_str())
        );
        let (stamp, hex) = snap.name.split_once('-').expect("name");
        assert_eq!(stamp.len(), 16);
        assert!(stamp.ends_with('Z') && stamp.as_bytes()[8] == b'T');
        assert_eq!(hex.len(), 16);
        assert_eq!(snap.blocks.len(), 2);
        let block = db.blocks()[0].ulid.to_string();
        assert!(
            snap.dir
                .join(&block)
                .join(crate::tombstones::TOMBSTONES_FILE)
                .exists()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let a =
                fs::metadata(d.path().join(&block).join(argus_block::CHUNKS_FILE)).expect("stat");
            let b =
                fs::metadata(snap.dir.join(&block).join(argus_block::CHUNKS_FILE)).expect("stat");
            assert_eq!(a.ino(), b.ino());
        }
        // The snapshot directory does not disturb the database.
        assert!(db.reload_blocks().expect("reload").is_empty());
        drop(db);
        let db = Db::open(d.path(), opts(10_000)).expect("reopen");
        assert_eq!(db.blocks().len(), 1);
        assert_eq!(all(&db), visible);
        let snap_db = Db::open(&snap.dir, opts(10_000)).expect("open snapshot");
        assert_eq!(snap_db.blocks().len(), 2);
        assert_eq!(all(&snap_db), visible);
        // Without the head, and refused targets.
        let blocks = db
            .snapshot_into(&d.path().join("elsewhere"), false)
            .expect("snapshot");
        assert_eq!(blocks.len(), 1);
        assert!(db.snapshot_into(d.path(), false).is_err());
        assert!(
            db.snapshot_into(&d.path().join(Ulid::new().to_string()), false)
                .is_err()
        );
    }
}
