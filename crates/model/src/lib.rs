//! The model layer of Argus: no I/O, no async.
//!
//! - [`labels`]: sorted, compact label sets.
//! - [`matcher`]: label matchers with Prometheus semantics.
//! - [`sample`]: samples and the staleness marker.
//! - [`chunk`]: the Gorilla XOR chunk codec, bit-compatible with Prometheus.
//! - [`storage`]: the `Queryable` read interface the query engine consumes.

pub mod chunk;
pub mod duration;
pub mod labels;
pub mod matcher;
pub mod memstore;
pub mod sample;
pub mod storage;
pub mod time;
pub mod varint;

pub use chunk::{XorAppender, XorChunk, XorIterator};
pub use labels::{Label, Labels, LabelsBuilder};
pub use matcher::{MatchType, Matcher, MatcherError};
pub use sample::{STALE_NAN_BITS, Sample, is_stale_nan, stale_nan};
pub use storage::{
    AppendError, Appendable, Appender, Queryable, SeriesRef, SeriesSet, StorageError, StorageSeries,
};
