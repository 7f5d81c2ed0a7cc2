//! Storage errors to gRPC statuses and back, by their [`ErrorKind`] (whose
//! `grpc_code` is the one mapping of kinds to codes).

use argus_model::error::ErrorKind;
use argus_model::storage::StorageError;
use tonic::{Code, Status};

use crate::convert::ConvertError;

/// The status a failed storage call answers with.
pub fn status_from_storage(e: &StorageError) -> Status {
    Status::new(Code::from_i32(e.kind().grpc_code()), e.message())
}

/// The storage error of a status received from a store at `endpoint`.
/// A `CANCELLED` that reaches us is not our request's cancellation (that
/// stops the call on our side); it is the connection or the store giving
/// up (hyper reports a connection closed before the request was sent
/// so): the store is unavailable.
pub fn storage_from_status(endpoint: &str, s: &Status) -> StorageError {
    let kind = match ErrorKind::from_grpc_code(s.code() as i32) {
        ErrorKind::Canceled => ErrorKind::Unavailable,
        kind => kind,
    };
    let message = if s.message().is_empty() {
        format!("store {endpoint}: {}", s.code().description())
    } else {
        format!("store {endpoint}: {}", s.message())
    };
    StorageError::new(kind, message)
}

/// A request field the model cannot take: invalid argument.
pub fn status_from_convert(e: &ConvertError) -> Status {
    Status::invalid_argument(e.to_string())
}

/// How long the caller gives us, from the `grpc-timeout` header
/// (`<digits><unit>`, unit one of `H M S m u n`).
pub fn parse_grpc_timeout(value: &str) -> Option<std::time::Duration> {
    use std::time::Duration;
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_survive_a_round_trip_through_a_status() {
        for kind in [
            ErrorKind::InvalidArgument,
            ErrorKind::NotFound,
            ErrorKind::Unavailable,
            ErrorKind::ResourceExhausted,
            ErrorKind::DeadlineExceeded,
            ErrorKind::Execution,
            ErrorKind::Internal,
        ] {
            let e = StorageError::new(kind, "boom");
            let back = storage_from_status("s:1", &status_from_storage(&e));
            assert_eq!(back.kind(), kind);
            assert_eq!(back.message(), "store s:1: boom");
        }
        // A store's CANCELLED is its giving up, not ours: unavailable.
        let e = StorageError::new(ErrorKind::Canceled, "operation was canceled");
        let back = storage_from_status("s:1", &status_from_storage(&e));
        assert_eq!(back.kind(), ErrorKind::Unavailable);
    }

    #[test]
    fn grpc_timeouts_parse() {
        use std::time::Duration;
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout("S"), None);
        assert_eq!(parse_grpc_timeout("5x"), None);
        assert_eq!(parse_grpc_timeout("1234567890S"), None);
    }
}
