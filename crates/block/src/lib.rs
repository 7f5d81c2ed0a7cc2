//! Blocks: the Parquet block format, `meta.json`, object storage I/O, and a
//! reader for Prometheus's own TSDB blocks.
//!
//! A block directory `<ULID>/` holds:
//! - `series.parquet`: one row per series, sorted by labels, one
//!   dictionary-encoded string column per label name (`__name__` first);
//! - `chunks.parquet`: row-aligned with `series.parquet` (same row groups):
//!   `min_time`, `max_time` and one binary column per fixed time window of the
//!   block holding that series' XOR chunks starting in the window (see
//!   [`cell`] for the record format);
//! - `meta.json`: Thanos-compatible metadata, written last.
//!
//! Modules: `meta` (`meta.json`), `writer` ([`write_block`]), `reader`
//! ([`BlockReader`], a [`argus_model::Queryable`], and local block directory
//! helpers), `objstore` ([`Bucket`]: uploads and downloads of whole blocks).

pub mod cell;
pub mod meta;
pub mod objstore;
pub mod prometheus;
pub mod reader;
#[cfg(any(test, feature = "s3-test-server"))]
pub mod s3_test_server;
pub mod writer;

#[cfg(test)]
mod testutil;

use std::path::{Path, PathBuf};

pub use meta::{
    ArgusMeta, BlockDesc, BlockMeta, BlockStats, Compaction, FileMeta, MetaError, ThanosMeta,
};
pub use objstore::{Bucket, RetryPolicy};
pub use reader::{BlockReader, cleanup_partial, list_local_blocks};
pub use writer::{BlockSeries, NewBlock, write_block};

/// File names inside a block directory.
pub const META_FILE: &str = "meta.json";
pub const SERIES_FILE: &str = "series.parquet";
pub const CHUNKS_FILE: &str = "chunks.parquet";

/// Suffix of a block directory being written; never read, removed by
/// [`cleanup_partial`].
pub const TMP_CREATION_SUFFIX: &str = ".tmp-for-creation";
/// Suffix of a block directory being downloaded.
pub const TMP_DOWNLOAD_SUFFIX: &str = ".tmp-for-download";

#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: parquet: {source}", path.display())]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("{}: invalid meta.json: {source}", path.display())]
    MetaJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: corrupt block: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("invalid block data: {0}")]
    InvalidInput(String),
    #[error("object storage {object}: {source}")]
    ObjectStore {
        object: String,
        #[source]
        source: object_store::Error,
    },
    #[error("object storage {object}: invalid meta.json: {source}")]
    RemoteMetaJson {
        object: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("bucket config: {0}")]
    Config(String),
    #[error("block {0} not found in the bucket")]
    NotFound(ulid::Ulid),
    #[error("background task failed: {0}")]
    Join(String),
}

impl BlockError {
    pub(crate) fn io(path: impl AsRef<Path>, source: std::io::Error) -> BlockError {
        BlockError::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub(crate) fn parquet(
        path: impl AsRef<Path>,
        source: parquet::errors::ParquetError,
    ) -> BlockError {
        BlockError::Parquet {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl AsRef<Path>, message: impl Into<String>) -> BlockError {
        BlockError::Corrupt {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }
}

impl From<BlockError> for argus_model::StorageError {
    fn from(e: BlockError) -> Self {
        use argus_model::StorageError;
        match &e {
            BlockError::Corrupt { .. }
            | BlockError::Parquet { .. }
            | BlockError::MetaJson { .. }
            | BlockError::RemoteMetaJson { .. } => StorageError::corrupt(e),
            BlockError::InvalidInput(_) | BlockError::Config(_) => {
                StorageError::invalid_argument(e.to_string())
            }
            BlockError::NotFound(_)
            | BlockError::ObjectStore {
                source: object_store::Error::NotFound { .. },
                ..
            } => StorageError::not_found(e.to_string()),
            // The bucket may answer the same request later.
            BlockError::ObjectStore { .. } => StorageError::unavailable(e.to_string()),
            BlockError::Io { .. } | BlockError::Join(_) => StorageError::internal(e.to_string()),
        }
    }
}

/// Fsyncs a directory so that entries created or renamed in it are durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<(), BlockError> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)
            .and_then(|f| f.sync_all())
            .map_err(|e| BlockError::io(dir, e))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}
