//! Blocks: the Parquet block format, `meta.json`, object storage I/O, and a
//! reader for Prometheus's own TSDB blocks.

pub mod prometheus;
