//! The local time-series database: an in-memory head of recent samples
//! backed by a write-ahead log, sealed into Parquet blocks as time passes.

pub mod db;
pub mod head;
pub mod tombstones;
pub mod wal;
pub mod wal_watch;

pub use db::{
    CleanedBlock, CommitStats, Db, DbAppender, DbOptions, DeletionGuard, OpenStats, SNAPSHOTS_DIR,
    Snapshot, TsdbError,
};
pub use head::{AppendError, Head};
pub use tombstones::{Interval, Intervals};
pub use wal::{FsyncPolicy, InvalidFsyncPolicy, WalOptions};

#[cfg(test)]
mod conformance_tests;
