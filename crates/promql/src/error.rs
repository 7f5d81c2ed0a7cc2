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
    /// The client went away or the server is shutting down (503 `canceled`).
    #[error("query was canceled in {0}")]
    Canceled(&'static str),
    /// Reading from storage failed (500 `internal`).
    #[error("{0}")]
    Storage(#[from] StorageError),
}

impl QueryError {
    /// Prometheus's `errorType` for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            QueryError::BadData(_) => "bad_data",
            QueryError::Execution(_) | QueryError::TooManySamples(_) => "execution",
            QueryError::Timeout(_) => "timeout",
            QueryError::Canceled(_) => "canceled",
            QueryError::Storage(_) => "internal",
        }
    }

    /// Prometheus's HTTP status for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            QueryError::BadData(_) => 400,
            QueryError::Execution(_) | QueryError::TooManySamples(_) => 422,
            QueryError::Timeout(_) | QueryError::Canceled(_) => 503,
            QueryError::Storage(_) => 500,
        }
    }
}
