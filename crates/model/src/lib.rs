//! The model layer of Argus: no I/O, no async.
//!
//! - [`labels`]: sorted, compact label sets.
//! - [`matcher`]: label matchers with Prometheus semantics.
//! - [`sample`]: samples and the staleness marker.
//! - [`chunk`]: the Gorilla XOR chunk codec, bit-compatible with Prometheus.
//! - [`storage`]: the streaming read interface (`Queryable`) and the write
//!   interface (`Appendable`) between storage and its users.
//! - [`error`]: error kinds and their HTTP and gRPC mapping.
//! - [`cancel`]: the cancellation token a request carries.
//! - [`strconv`], [`duration`], [`bytesize`], [`varint`]: Go's float
//!   syntax, Prometheus durations and byte sizes, and Go varints, one
//!   implementation each for the workspace.

pub mod bytesize;
pub mod cancel;
pub mod chunk;
pub mod duration;
pub mod error;
pub mod labels;
pub mod matcher;
pub mod memstore;
pub mod sample;
pub mod storage;
pub mod strconv;
pub mod time;
pub mod varint;

pub use cancel::CancelToken;
pub use chunk::{XorAppender, XorChunk, XorIterator};
pub use error::ErrorKind;
pub use labels::{Label, Labels, LabelsBuilder};
pub use matcher::{MatchType, Matcher, MatcherError};
pub use sample::{STALE_NAN_BITS, Sample, is_stale_nan, stale_nan};
pub use storage::{
    AppendError, Appendable, Appender, LabelRequest, Queryable, QueryableExt, ReadContext,
    SelectRequest, SeriesRef, SeriesStream, StorageError, StorageSeries,
};
