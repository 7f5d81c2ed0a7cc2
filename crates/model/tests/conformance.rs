//! The read-interface conformance suite against the in-memory stores.

use argus_model::Appendable;
use argus_model::memstore::{MemStorage, SharedMemStorage};
use argus_model::storage::SeriesRef;
use argus_storage_conformance::{Dataset, Fixture, storage_conformance};

mod memstore {
    use super::*;

    fn build(ds: &Dataset) -> Fixture {
        let mut m = MemStorage::new();
        for (labels, samples) in &ds.series {
            for s in samples {
                m.append(labels.clone(), s.t, s.v);
            }
        }
        Fixture::new(m)
    }

    storage_conformance!(build);
}

mod shared_memstore {
    use super::*;

    fn build(ds: &Dataset) -> Fixture {
        let m = SharedMemStorage::new();
        let mut app = m.appender();
        for (labels, s) in ds.in_time_order() {
            app.append(&mut SeriesRef::default(), labels, s.t, s.v)
                .unwrap_or_else(|e| panic!("append {labels}: {e}"));
        }
        app.commit().unwrap_or_else(|e| panic!("commit: {e}"));
        Fixture::new(m)
    }

    storage_conformance!(build);
}
