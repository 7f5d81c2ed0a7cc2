//! Reads Prometheus TSDB blocks (index v2 and chunk segment files).
