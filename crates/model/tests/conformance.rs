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

/// External labels over a store: the suite's dataset split by its `job`
/// label, each part served with `job` as an external label and merged.
mod with_external_labels {
    use super::*;
    use argus_model::Labels;
    use argus_model::storage::relabel::WithExternalLabels;

    fn build(ds: &Dataset) -> Fixture {
        // Series with a job carry it as the external label of their
        // store; the others go to a store without external labels.
        let mut with_job: std::collections::BTreeMap<String, MemStorage> = Default::default();
        let mut plain = MemStorage::new();
        for (labels, samples) in &ds.series {
            match labels.get("job") {
                Some(job) => {
                    let stripped = labels.builder().del("job").build();
                    let m = with_job.entry(job.to_string()).or_default();
                    for s in samples {
                        m.append(stripped.clone(), s.t, s.v);
                    }
                }
                None => {
                    for s in samples {
                        plain.append(labels.clone(), s.t, s.v);
                    }
                }
            }
        }
        let mut stores: Vec<Box<dyn argus_model::Queryable>> = vec![Box::new(plain)];
        for (job, m) in with_job {
            stores.push(Box::new(WithExternalLabels::new(
                m,
                Labels::from_pairs(&[("job", job.as_str())]),
            )));
        }
        Fixture::new(Union(stores))
    }

    /// The stores read as one, merged.
    struct Union(Vec<Box<dyn argus_model::Queryable>>);

    impl argus_model::Queryable for Union {
        fn select(
            &self,
            req: &argus_model::SelectRequest,
            ctx: &argus_model::ReadContext,
        ) -> Result<argus_model::SeriesStream<'_>, argus_model::StorageError> {
            use argus_model::storage::{MergeSeries, OnEqualLabels, SeriesSource};
            ctx.check()?;
            let sources = self
                .0
                .iter()
                .map(|q| Ok(Box::new(q.select(req, ctx)?) as Box<dyn SeriesSource + '_>))
                .collect::<Result<Vec<_>, argus_model::StorageError>>()?;
            Ok(argus_model::SeriesStream::new(
                MergeSeries::new(sources, OnEqualLabels::ConcatChunks),
                req,
                ctx,
            ))
        }

        fn label_names(
            &self,
            req: &argus_model::LabelRequest,
            ctx: &argus_model::ReadContext,
        ) -> Result<Vec<String>, argus_model::StorageError> {
            ctx.check()?;
            let lists = self
                .0
                .iter()
                .map(|q| q.label_names(req, ctx))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(argus_model::storage::merge_sorted_strings(lists, req.limit))
        }

        fn label_values(
            &self,
            name: &str,
            req: &argus_model::LabelRequest,
            ctx: &argus_model::ReadContext,
        ) -> Result<Vec<String>, argus_model::StorageError> {
            ctx.check()?;
            let lists = self
                .0
                .iter()
                .map(|q| q.label_values(name, req, ctx))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(argus_model::storage::merge_sorted_strings(lists, req.limit))
        }
    }

    storage_conformance!(build);
}
