//! The read-interface conformance suite against the head alone and against
//! the database, whose view merges overlapping blocks and the head.

use argus_block::{BlockSeries, NewBlock, write_block};
use argus_model::Appendable;
use argus_model::storage::SeriesRef;
use argus_storage_conformance::{Dataset, Fixture, HOUR, SPAN, T0, storage_conformance};

use crate::db::{DEFAULT_BLOCK_DURATION_MS, Db, DbOptions};
use crate::head::Head;

mod head {
    use super::*;

    fn build(ds: &Dataset) -> Fixture {
        let head = Head::new(DEFAULT_BLOCK_DURATION_MS);
        for (labels, s) in ds.in_time_order() {
            let (series, _) = head.get_or_create(labels);
            assert!(head.store(&series, s.t, s.v), "store {labels} at {}", s.t);
        }
        Fixture::new(head)
    }

    storage_conformance!(build);
}

mod db {
    use super::*;

    /// Two overlapping blocks, `[T0, T0+2h)` and `[T0+1h, T0+3h)` (an hour
    /// of identical samples in both), and the last hour in the head.
    fn build(ds: &Dataset) -> Fixture {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        for (min, max) in [(T0, T0 + 2 * HOUR), (T0 + HOUR, T0 + 3 * HOUR)] {
            let series: Vec<BlockSeries> = ds
                .samples_in(min, max - 1)
                .iter()
                .map(|(l, s)| BlockSeries::from_samples(l.clone(), s))
                .collect();
            write_block(dir.path(), &NewBlock::new(min, max, "test"), &series)
                .unwrap_or_else(|e| panic!("write block: {e}"));
        }
        let db =
            Db::open(dir.path(), DbOptions::default()).unwrap_or_else(|e| panic!("open db: {e}"));
        let mut app = Appendable::appender(&db);
        for (labels, s) in ds.in_time_order() {
            if s.t >= T0 + 3 * HOUR {
                app.append(&mut SeriesRef::default(), labels, s.t, s.v)
                    .unwrap_or_else(|e| panic!("append {labels}: {e}"));
            }
        }
        app.commit().unwrap_or_else(|e| panic!("commit: {e}"));
        assert!(
            db.head()
                .time_range()
                .is_some_and(|(_, max)| max < T0 + SPAN)
        );
        Fixture::new(db).keeping(dir)
    }

    storage_conformance!(build);
}
