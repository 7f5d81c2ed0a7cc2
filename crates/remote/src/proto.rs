//! The remote-write 1.0 messages (`prompb/remote.proto`, `prompb/types.proto`),
//! with the same field numbers. Exemplars and native histograms are not
//! declared: their fields are skipped when decoding.

use argus_model::Labels;

#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MetricMetadata {
    /// `MetricMetadata.MetricType` as its number.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// The protobuf labels of a label set, in its (sorted) order.
pub fn labels_to_proto(labels: &Labels) -> Vec<Label> {
    labels
        .iter()
        .map(|l| Label {
            name: l.name.to_string(),
            value: l.value.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// `{__name__="up"} 1 @1000`, encoded by hand from the .proto field
    /// numbers and wire types.
    const UP: &[u8] = &[
        0x0a, 0x1e, // WriteRequest.timeseries (1, len) 30 bytes
        0x0a, 0x0e, // TimeSeries.labels (1, len) 14 bytes
        0x0a, 0x08, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', // Label.name (1)
        0x12, 0x02, b'u', b'p', // Label.value (2)
        0x12, 0x0c, // TimeSeries.samples (2, len) 12 bytes
        0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, // Sample.value (1, fixed64) 1.0
        0x10, 0xe8, 0x07, // Sample.timestamp (2, varint) 1000
    ];

    fn up() -> WriteRequest {
        WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "__name__".into(),
                    value: "up".into(),
                }],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 1000,
                }],
            }],
            metadata: Vec::new(),
        }
    }

    #[test]
    fn encodes_with_prompb_field_numbers() {
        assert_eq!(up().encode_to_vec(), UP);
    }

    #[test]
    fn decodes_hand_encoded_bytes() {
        let got = WriteRequest::decode(UP).unwrap_or_else(|e| panic!("decode: {e}"));
        assert_eq!(got, up());
    }

    #[test]
    fn skips_exemplars_histograms_and_reads_metadata() {
        let mut b = UP.to_vec();
        // Grow the series by an empty exemplar (3) and histogram (4).
        b[1] += 4;
        b.extend_from_slice(&[0x1a, 0x00, 0x22, 0x00]);
        // metadata (3): type COUNTER (1), metric_family_name (2) "up".
        b.extend_from_slice(&[0x1a, 0x06, 0x08, 0x01, 0x12, 0x02, b'u', b'p']);
        let got = WriteRequest::decode(b.as_slice()).unwrap_or_else(|e| panic!("decode: {e}"));
        assert_eq!(got.timeseries, up().timeseries);
        assert_eq!(got.metadata.len(), 1);
        assert_eq!(got.metadata[0].r#type, 1);
        assert_eq!(got.metadata[0].metric_family_name, "up");
    }
}
