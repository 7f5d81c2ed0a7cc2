use argus_model::error::ErrorKind;
use argus_model::storage::StorageError;

/// Why a query failed, in Prometheus's categories: the HTTP API maps each to
/// its `errorType` and status code.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query text does not parse or does not type-check (400 `bad_data`).
    #[error("{0}")]
    BadData(String),
    /// Evaluation failed, e.g. duplicate label sets or many-to-many
    /// matching (422 `execution`).
    #[error("{0}")]
    Execution(String),
    /// More samples would be held in memory than `--query.max-samples`
    /// allows (422 `execution`).
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(&'static str),
    /// The deadline passed (503 `timeout`).
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// The client went away or the server is shutting down (499 `canceled`).
    #[error("query was canceled in {0}")]
    Canceled(&'static str),
    /// Reading from storage failed; its kind decides the status.
    #[error("{0}")]
    Storage(StorageError),
}

impl From<StorageError> for QueryError {
    /// A storage that stopped because the query's context said so reports
    /// it as the query being canceled or timed out.
    fn from(e: StorageError) -> QueryError {
        match e.kind() {
            ErrorKind::Canceled => QueryError::Canceled("series selection"),
            ErrorKind::DeadlineExceeded => QueryError::Timeout("series selection"),
            _ => QueryError::Storage(e),
        }
    }
}

impl QueryError {
    /// The kind of failure, which decides the HTTP status and `errorType`
    /// (mapped once, in [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            QueryError::BadData(_) => ErrorKind::InvalidArgument,
            QueryError::Execution(_) => ErrorKind::Execution,
            QueryError::TooManySamples(_) => ErrorKind::ResourceExhausted,
            QueryError::Timeout(_) => ErrorKind::DeadlineExceeded,
            QueryError::Canceled(_) => ErrorKind::Canceled,
            QueryError::Storage(e) => e.kind(),
        }
    }

    /// Prometheus's `errorType` for this error.
    pub fn error_type(&self) -> &'static str {
        self.kind().prometheus_error_type()
    }

    /// Prometheus's HTTP status for this error.
    pub fn http_status(&self) -> u16 {
        self.kind().http_status()
    }
}
