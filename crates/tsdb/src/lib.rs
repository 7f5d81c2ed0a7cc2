//! The local time-series database: an in-memory head of recent samples
//! backed by a write-ahead log, sealed into Parquet blocks as time passes.

pub mod db;
pub mod head;
pub mod wal;
pub mod wal_watch;

pub use db::{CommitStats, Db, DbAppender, DbOptions, OpenStats, TsdbError};
pub use head::{AppendError, Head};
pub use wal::{FsyncPolicy, InvalidFsyncPolicy, WalOptions};

#[cfg(test)]
mod conformance_tests;
