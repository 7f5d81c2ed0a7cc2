//! Test fixtures: an in-memory bucket that records every read and can be
//! made to fail, and helpers that write blocks into it.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use argus_block::meta::BlockMeta;
use argus_block::{BlockSeries, Bucket, NewBlock, write_block};
use argus_model::{Labels, Sample};
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use parking_lot::Mutex;

use crate::{BucketStore, BucketStoreOptions};

/// An in-memory object store recording the ranges it served.
#[derive(Debug, Default)]
pub(crate) struct CountingStore {
    inner: InMemory,
    /// `(path, range)` of every GET answered.
    pub gets: Mutex<Vec<(String, Range<u64>)>>,
    /// Paths whose GETs fail with a transient error.
    pub failing: Mutex<HashSet<String>>,
    /// GETs of paths ending with this wait this long first.
    pub slow: Mutex<Option<(String, std::time::Duration)>>,
}

impl std::fmt::Display for CountingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CountingStore")
    }
}

impl CountingStore {
    /// Bytes served so far.
    pub(crate) fn served_bytes(&self) -> u64 {
        self.gets.lock().iter().map(|(_, r)| r.end - r.start).sum()
    }

    /// Ranges served for objects whose path ends with `suffix`.
    pub(crate) fn gets_of(&self, suffix: &str) -> Vec<Range<u64>> {
        self.gets
            .lock()
            .iter()
            .filter(|(p, _)| p.ends_with(suffix))
            .map(|(_, r)| r.clone())
            .collect()
    }
}

#[async_trait::async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &ObjectPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        if self.failing.lock().contains(location.as_ref()) {
            return Err(object_store::Error::Generic {
                store: "counting",
                source: "injected failure".into(),
            });
        }
        let delay = self
            .slow
            .lock()
            .as_ref()
            .filter(|(suffix, _)| location.as_ref().ends_with(suffix.as_str()))
            .map(|(_, d)| *d);
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        let head = options.head;
        let r = self.inner.get_opts(location, options).await?;
        if !head {
            self.gets
                .lock()
                .push((location.to_string(), r.range.clone()));
        }
        Ok(r)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjectPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
        self.inner.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// A runtime, a counting bucket and a local directory to write blocks in.
pub(crate) struct Env {
    pub rt: tokio::runtime::Runtime,
    pub store: Arc<CountingStore>,
    pub bucket: Bucket,
    pub dir: tempfile::TempDir,
}

impl Env {
    pub(crate) fn new() -> Env {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let store = Arc::new(CountingStore::default());
        let bucket = Bucket::from_store(store.clone(), "test".to_string());
        Env {
            rt,
            store,
            bucket,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Writes a block locally and uploads it.
    pub(crate) fn upload(&self, spec: &NewBlock, series: &[BlockSeries]) -> BlockMeta {
        let meta = write_block(self.dir.path(), spec, series).expect("write block");
        let local = self.dir.path().join(meta.ulid.to_string());
        self.rt
            .block_on(self.bucket.upload_block(&local))
            .expect("upload");
        meta
    }

    /// Replaces an object of the bucket.
    pub(crate) fn put(&self, path: &str, data: Vec<u8>) {
        self.rt
            .block_on(
                self.store
                    .put(&ObjectPath::from(path), PutPayload::from(Bytes::from(data))),
            )
            .expect("put");
    }

    pub(crate) fn get(&self, path: &str) -> Vec<u8> {
        self.rt
            .block_on(async { self.store.get(&ObjectPath::from(path)).await?.bytes().await })
            .expect("get")
            .to_vec()
    }

    pub(crate) fn delete(&self, path: &str) {
        self.rt
            .block_on(self.store.delete(&ObjectPath::from(path)))
            .expect("delete");
    }

    /// Total size of the objects in the bucket.
    pub(crate) fn bucket_bytes(&self) -> u64 {
        use futures::TryStreamExt;
        self.rt
            .block_on(
                self.store
                    .list(None)
                    .map_ok(|m| m.size)
                    .try_collect::<Vec<_>>(),
            )
            .expect("list")
            .iter()
            .sum()
    }

    pub(crate) fn store(&self, opts: BucketStoreOptions) -> BucketStore {
        let s = BucketStore::new(self.bucket.clone(), opts, self.rt.handle().clone());
        self.rt.block_on(s.sync()).expect("sync");
        s
    }

    pub(crate) fn sync(&self, s: &BucketStore) -> crate::SyncStats {
        self.rt.block_on(s.sync()).expect("sync")
    }
}

pub(crate) const H: i64 = 3_600_000;
/// A 2h-aligned start.
pub(crate) const T0: i64 = 1_700_006_400_000;

/// `n` series `metric_<i % 7>{instance="host-<i>", job="job<i % 3>"}`
/// sampled every `step` in `[from, to)`, sorted by labels.
pub(crate) fn many_series(n: usize, from: i64, to: i64, step: i64) -> Vec<BlockSeries> {
    let mut out: Vec<BlockSeries> = (0..n)
        .map(|i| {
            let labels = Labels::from_pairs(&[
                ("__name__", format!("metric_{}", i % 7)),
                ("instance", format!("host-{i:06}")),
                ("job", format!("job{}", i % 3)),
            ]);
            let samples: Vec<Sample> = (0..)
                .map(|k| from + k * step)
                .take_while(|t| *t < to)
                .map(|t| Sample::new(t, (i as f64) + (t - from) as f64 / 1000.0))
                .collect();
            BlockSeries::from_samples(labels, &samples)
        })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

/// A Parquet file rewritten as another writer might have made it: no
/// dictionary, no statistics, no page index, one page per column chunk.
pub(crate) fn rewrite_plain(data: Vec<u8>) -> Vec<u8> {
    use parquet::column::reader::ColumnReader;
    use parquet::data_type::{ByteArrayType, Int64Type};
    use parquet::file::properties::{EnabledStatistics, WriterProperties};
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::writer::SerializedFileWriter;

    let r = SerializedFileReader::new(Bytes::from(data)).expect("parquet");
    let md = r.metadata();
    let schema = md.file_metadata().schema_descr().root_schema_ptr();
    let props = WriterProperties::builder()
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_offset_index_disabled(true)
        .set_key_value_metadata(md.file_metadata().key_value_metadata().cloned())
        .build();
    let mut w = SerializedFileWriter::new(Vec::new(), schema, Arc::new(props)).expect("writer");
    for g in 0..md.num_row_groups() {
        let rg = r.get_row_group(g).expect("row group");
        let n = rg.metadata().num_rows() as usize;
        let mut out = w.next_row_group().expect("row group");
        for c in 0..rg.num_columns() {
            let optional = md.file_metadata().schema_descr().column(c).max_def_level() > 0;
            let mut col = out.next_column().expect("column").expect("a column");
            let mut defs = Vec::new();
            match rg.get_column_reader(c).expect("reader") {
                ColumnReader::ByteArrayColumnReader(mut cr) => {
                    let mut v = Vec::new();
                    cr.read_records(n, Some(&mut defs), None, &mut v)
                        .expect("read");
                    col.typed::<ByteArrayType>()
                        .write_batch(&v, optional.then_some(&defs[..]), None)
                        .expect("write");
                }
                ColumnReader::Int64ColumnReader(mut cr) => {
                    let mut v = Vec::new();
                    cr.read_records(n, Some(&mut defs), None, &mut v)
                        .expect("read");
                    col.typed::<Int64Type>()
                        .write_batch(&v, optional.then_some(&defs[..]), None)
                        .expect("write");
                }
                _ => panic!("unexpected column type"),
            }
            col.close().expect("close column");
        }
        out.close().expect("close row group");
    }
    w.into_inner().expect("finish")
}
