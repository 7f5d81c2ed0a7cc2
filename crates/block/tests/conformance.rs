//! The read-interface conformance suite against a block read from disk.

use argus_block::{BlockReader, BlockSeries, NewBlock, write_block};
use argus_storage_conformance::{Dataset, Fixture, SPAN, T0, storage_conformance};

fn build(ds: &Dataset) -> Fixture {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let series: Vec<BlockSeries> = ds
        .series
        .iter()
        .map(|(l, s)| BlockSeries::from_samples(l.clone(), s))
        .collect();
    let meta = write_block(dir.path(), &NewBlock::new(T0, T0 + SPAN, "test"), &series)
        .unwrap_or_else(|e| panic!("write block: {e}"));
    let reader = BlockReader::open(&dir.path().join(meta.ulid.to_string()))
        .unwrap_or_else(|e| panic!("open block: {e}"));
    Fixture::new(reader).keeping(dir)
}

storage_conformance!(build);
