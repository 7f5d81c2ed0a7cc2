//! What kind of failure an error is, and the one place each kind is mapped
//! to the Prometheus HTTP API (`errorType`, status code) and to gRPC.

/// The kind of a failure: decides how an API reports it and whether a retry
/// may help. Every error type of the read path has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request itself is wrong (a bad matcher, a bad time range).
    InvalidArgument,
    /// What the request names does not exist.
    NotFound,
    /// The storage cannot serve now; the same request may succeed later.
    Unavailable,
    /// A limit was hit (series, samples or bytes of one request).
    ResourceExhausted,
    /// The request's deadline passed.
    DeadlineExceeded,
    /// The caller went away or the server is shutting down.
    Canceled,
    /// The request was valid but evaluating it failed on this data (e.g.
    /// PromQL's many-to-many matching).
    Execution,
    /// A bug or corrupt data.
    Internal,
}

impl ErrorKind {
    /// Whether retrying the same request may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Unavailable)
    }

    /// Prometheus's `errorType` for this kind.
    pub fn prometheus_error_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "bad_data",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::ResourceExhausted | ErrorKind::Execution => "execution",
            ErrorKind::DeadlineExceeded => "timeout",
            ErrorKind::Canceled => "canceled",
            ErrorKind::Internal => "internal",
        }
    }

    /// Prometheus's HTTP status for this kind (499 is its "client closed
    /// connection" for canceled queries).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidArgument => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::ResourceExhausted | ErrorKind::Execution => 422,
            ErrorKind::Unavailable | ErrorKind::DeadlineExceeded => 503,
            ErrorKind::Canceled => 499,
            ErrorKind::Internal => 500,
        }
    }

    /// The gRPC status code (the numbers of `google.rpc.Code`).
    pub fn grpc_code(self) -> i32 {
        match self {
            ErrorKind::Canceled => 1,
            ErrorKind::InvalidArgument => 3,
            ErrorKind::DeadlineExceeded => 4,
            ErrorKind::NotFound => 5,
            ErrorKind::ResourceExhausted => 8,
            ErrorKind::Execution => 9,
            ErrorKind::Internal => 13,
            ErrorKind::Unavailable => 14,
        }
    }

    /// The kind of a gRPC status code received from a remote store; codes
    /// without a kind of their own are internal errors.
    pub fn from_grpc_code(code: i32) -> ErrorKind {
        match code {
            1 => ErrorKind::Canceled,
            3 | 11 => ErrorKind::InvalidArgument,
            4 => ErrorKind::DeadlineExceeded,
            5 => ErrorKind::NotFound,
            8 => ErrorKind::ResourceExhausted,
            9 => ErrorKind::Execution,
            14 => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        }
    }

    /// The kind's name in messages and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::NotFound => "not found",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::ResourceExhausted => "resource exhausted",
            ErrorKind::DeadlineExceeded => "deadline exceeded",
            ErrorKind::Canceled => "canceled",
            ErrorKind::Execution => "execution",
            ErrorKind::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [ErrorKind; 8] = [
        ErrorKind::InvalidArgument,
        ErrorKind::NotFound,
        ErrorKind::Unavailable,
        ErrorKind::ResourceExhausted,
        ErrorKind::DeadlineExceeded,
        ErrorKind::Canceled,
        ErrorKind::Execution,
        ErrorKind::Internal,
    ];

    #[test]
    fn grpc_codes_round_trip() {
        for k in ALL {
            assert_eq!(ErrorKind::from_grpc_code(k.grpc_code()), k, "{k}");
        }
        assert_eq!(ErrorKind::from_grpc_code(2), ErrorKind::Internal);
    }

    #[test]
    fn http_mapping_follows_prometheus() {
        let got: Vec<(u16, &str)> = ALL
            .iter()
            .map(|k| (k.http_status(), k.prometheus_error_type()))
            .collect();
        assert_eq!(
            got,
            vec![
                (400, "bad_data"),
                (404, "not_found"),
                (503, "unavailable"),
                (422, "execution"),
                (503, "timeout"),
                (499, "canceled"),
                (422, "execution"),
                (500, "internal"),
            ]
        );
        assert!(ErrorKind::Unavailable.is_retryable());
        assert!(!ErrorKind::Internal.is_retryable());
    }
}
