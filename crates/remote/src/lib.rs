//! Prometheus remote write.
//!
//! - [`receiver_router`]: `POST /api/v1/write`, remote-write 1.0 into any
//!   [`argus_model::Appendable`].
//! - [`RemoteWriteManager`]: one queue per `remote_write` entry, each tailing
//!   the TSDB's WAL (`argus_tsdb::wal_watch`) and sending snappy-compressed
//!   protobuf batches through sharded, retrying senders.

mod client;
mod manager;
mod metrics;
pub mod proto;
mod queue;
mod receiver;
mod shards;
mod writer;

#[cfg(test)]
mod test_util;

pub use manager::RemoteWriteManager;
pub use receiver::receiver_router;
