//! The StoreAPI of the distributed read path: the `thanos.Store` and
//! `thanos.info.Info` gRPC services and their messages, generated from
//! `proto/` and wire-compatible with Thanos v0.39, so Thanos queriers and
//! stores and Argus's talk to each other.
//!
//! - [`convert`]: the mapping between wire and model types;
//! - [`server`]: any `Queryable` served as a StoreAPI endpoint;
//! - [`client`]: a StoreAPI endpoint (Argus or Thanos) as a `Queryable`;
//! - [`status`]: storage errors to gRPC statuses and back;
//! - [`wire`]: the `Series` message, encoded and decoded by hand.

pub mod client;
pub mod convert;
pub mod server;
pub mod status;
pub mod wire;

/// Package `thanos`: `Store`, series, chunks, matchers, labels.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod thanos {
    tonic::include_proto!("thanos");

    /// Package `thanos.info`: the `Info` service.
    #[allow(clippy::all, clippy::pedantic, missing_docs)]
    pub mod info {
        tonic::include_proto!("thanos.info");
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::thanos::info::{InfoResponse, StoreInfo};
    use super::thanos::{
        Label, LabelMatcher, SeriesRequest, SeriesResponse, ZLabelSet, chunk, label_matcher,
        series_response,
    };

    /// The tag byte of a field: its number and wire type.
    fn tag(field: u32, wire_type: u32) -> u8 {
        u8::try_from(field << 3 | wire_type).unwrap_or(0)
    }

    #[test]
    fn series_request_fields_have_thanos_numbers() {
        let req = SeriesRequest {
            min_time: 1,
            max_time: 2,
            matchers: vec![LabelMatcher {
                r#type: label_matcher::Type::Re as i32,
                name: "job".into(),
                value: "a|b".into(),
            }],
            skip_chunks: true,
            limit: 7,
            ..SeriesRequest::default()
        };
        let bytes = req.encode_to_vec();
        // min_time=1 (varint), max_time=2, matchers (length-delimited),
        // skip_chunks=8, limit=15, in field order.
        assert_eq!(&bytes[..4], &[tag(1, 0), 1, tag(2, 0), 2]);
        assert_eq!(bytes[4], tag(3, 2));
        assert!(bytes.windows(2).any(|w| w == [tag(8, 0), 1]));
        assert_eq!(&bytes[bytes.len() - 2..], &[tag(15, 0), 7]);
        assert_eq!(SeriesRequest::decode(bytes.as_slice()), Ok(req));
    }

    #[test]
    fn series_responses_carry_series_or_warnings() {
        let series = crate::wire::Series::new(argus_model::storage::StorageSeries {
            labels: argus_model::labels::Labels::from_pairs(&[("__name__", "up")]),
            chunks: vec![argus_model::storage::ChunkData {
                min_t: 0,
                max_t: 15_000,
                bytes: vec![0u8, 1, 2].into(),
            }],
        });
        for result in [
            series_response::Result::Series(series),
            series_response::Result::Warning("store b unavailable".into()),
        ] {
            let resp = SeriesResponse {
                result: Some(result),
            };
            let bytes = resp.encode_to_vec();
            assert_eq!(SeriesResponse::decode(bytes.as_slice()), Ok(resp));
        }
        // XOR is 0, as Prometheus's chunk encoding.
        assert_eq!(chunk::Encoding::Xor as i32, 0);
    }

    #[test]
    fn info_names_the_component_and_its_store_range() {
        let info = InfoResponse {
            label_sets: vec![ZLabelSet {
                labels: vec![Label {
                    name: "replica".into(),
                    value: "a".into(),
                }],
            }],
            component_type: "sidecar".into(),
            store: Some(StoreInfo {
                min_time: -1,
                max_time: 9,
                supports_without_replica_labels: true,
                ..StoreInfo::default()
            }),
            ..InfoResponse::default()
        };
        let bytes = info.encode_to_vec();
        assert_eq!(bytes[0], tag(1, 2));
        assert_eq!(InfoResponse::decode(bytes.as_slice()), Ok(info));
    }
}
