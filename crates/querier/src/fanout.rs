//! The querier's storage: every store it knows, read as one.
//!
//! A select goes to the stores whose time range and external label sets
//! (from their `Info`) can hold a match; their sorted streams are merged
//! k-way, equal series joined (a scraper's head and the store gateway's
//! blocks of the same replica), and HA replicas deduplicated. A store that
//! fails becomes a warning under partial response, and an error otherwise.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use argus_model::ErrorKind;
use argus_model::labels::Labels;
use argus_model::matcher::Matcher;
use argus_model::storage::{
    LabelRequest, MergeSeries, OnEqualLabels, Queryable, ReadContext, SelectRequest, SeriesSource,
    SeriesStream, StorageError, StorageSeries, drop_labels_sorted, merge_sorted_strings,
};
use argus_storeapi::client::{ClientOptions, RemoteInfo, RemoteSelect, RemoteStore};

use crate::dedup::DedupSource;

/// What the querier last learned of a store.
#[derive(Debug, Clone, Default)]
pub struct EndpointStatus {
    /// The last `Info` answer; `None` before the first one.
    pub info: Option<RemoteInfo>,
    /// When the last check ran, ms since the epoch (0: never).
    pub last_check_ms: i64,
    /// Why the last check failed.
    pub last_error: Option<String>,
}

/// One store: a StoreAPI endpoint or a storage in this process.
pub struct Endpoint {
    name: String,
    storage: Arc<dyn Queryable>,
    remote: Option<RemoteStore>,
    status: RwLock<EndpointStatus>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.name)
            .finish()
    }
}

impl Endpoint {
    /// A StoreAPI endpoint at `address` (`host:port`), connected lazily.
    pub fn remote(
        address: &str,
        runtime: tokio::runtime::Handle,
        opts: ClientOptions,
    ) -> Result<Endpoint, StorageError> {
        let remote = RemoteStore::new(address, runtime, opts)?;
        Ok(Endpoint {
            name: address.to_string(),
            storage: Arc::new(remote.clone()),
            remote: Some(remote),
            status: RwLock::new(EndpointStatus::default()),
        })
    }

    /// A storage of this process described by `info`.
    pub fn local(name: &str, storage: Arc<dyn Queryable>, info: RemoteInfo) -> Endpoint {
        Endpoint {
            name: name.to_string(),
            storage,
            remote: None,
            status: RwLock::new(EndpointStatus {
                info: Some(info),
                last_check_ms: argus_model::time::now_ms(),
                last_error: None,
            }),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn status(&self) -> EndpointStatus {
        match self.status.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Asks a remote endpoint for its `Info`; a failure keeps the last
    /// answer (a store that restarts keeps being queried) and records why.
    pub async fn refresh(&self, timeout: Duration) {
        let Some(remote) = &self.remote else {
            return;
        };
        let got = remote.info(timeout).await;
        let mut st = match self.status.write() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        st.last_check_ms = argus_model::time::now_ms();
        match got {
            Ok(info) => {
                if st.info.as_ref() != Some(&info) {
                    tracing::info!(endpoint = %self.name, component = %info.component, min_time = info.min_time, max_time = info.max_time, "store endpoint info");
                }
                st.info = Some(info);
                st.last_error = None;
            }
            Err(e) => {
                if st.last_error.is_none() {
                    tracing::warn!(endpoint = %self.name, error = %e, "store endpoint is unhealthy");
                }
                st.last_error = Some(e.to_string());
            }
        }
    }

    /// Whether the store may hold series matching `matchers` in
    /// `[mint, maxt]`: its time range overlaps and one of its label sets
    /// agrees with the matchers on the labels it names. A store whose
    /// `Info` is unknown may hold anything.
    pub fn may_hold(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> bool {
        let Some(info) = self.status().info else {
            return true;
        };
        if info.min_time > maxt || info.max_time < mint {
            return false;
        }
        if info.label_sets.is_empty() {
            return true;
        }
        info.label_sets
            .iter()
            .any(|set| label_set_matches(set, matchers))
    }
}

fn label_set_matches(set: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| set.get(&m.name).is_none_or(|v| m.matches(v)))
}

/// Settings of the fan-out.
#[derive(Debug, Clone)]
pub struct FanoutOptions {
    /// `--query.replica-label`: labels that tell HA replicas apart.
    pub replica_labels: Vec<String>,
    /// Answer with warnings when some stores fail, unless a request says
    /// otherwise (`--query.partial-response`).
    pub partial_response: bool,
}

/// Every store of the querier.
pub struct Fanout {
    endpoints: Vec<Arc<Endpoint>>,
    opts: FanoutOptions,
}

impl Fanout {
    pub fn new(endpoints: Vec<Arc<Endpoint>>, opts: FanoutOptions) -> Arc<Fanout> {
        Arc::new(Fanout { endpoints, opts })
    }

    pub fn endpoints(&self) -> &[Arc<Endpoint>] {
        &self.endpoints
    }

    pub fn options(&self) -> &FanoutOptions {
        &self.opts
    }

    /// Refreshes every endpoint's `Info` at once.
    pub async fn refresh(&self, timeout: Duration) {
        futures::future::join_all(self.endpoints.iter().map(|e| e.refresh(timeout))).await;
    }

    /// The fan-out as a storage: `dedup` merges replicas, `partial`
    /// turns failing stores into warnings.
    pub fn view(self: &Arc<Self>, dedup: bool, partial: bool) -> FanoutView {
        FanoutView {
            fanout: self.clone(),
            dedup: dedup && !self.opts.replica_labels.is_empty(),
            partial,
        }
    }

    /// The label sets and time range of all stores together (what a
    /// querier says of itself in `Info`).
    pub fn describe(&self) -> (Vec<Labels>, i64, i64) {
        let mut sets = Vec::new();
        let (mut min, mut max) = (i64::MAX, i64::MIN);
        for e in &self.endpoints {
            if let Some(info) = e.status().info {
                sets.extend(info.label_sets);
                min = min.min(info.min_time);
                max = max.max(info.max_time);
            }
        }
        sets.sort();
        sets.dedup();
        if min > max {
            (min, max) = (i64::MIN, i64::MAX);
        }
        (sets, min, max)
    }
}

/// The fan-out for one request. See [`Fanout::view`].
#[derive(Clone)]
pub struct FanoutView {
    fanout: Arc<Fanout>,
    dedup: bool,
    partial: bool,
}

/// Whether a store's failure may become a warning: not when the request
/// itself ended or the request is at fault.
fn tolerable(e: &StorageError, ctx: &ReadContext) -> bool {
    ctx.interruption().is_none()
        && !matches!(
            e.kind(),
            ErrorKind::ResourceExhausted | ErrorKind::InvalidArgument | ErrorKind::Canceled
        )
}

/// One store's stream; under partial response its failure ends it with a
/// warning instead of failing the select.
struct StoreSource<'a> {
    inner: SeriesStream<'a>,
    name: &'a str,
    ctx: ReadContext,
    partial: bool,
    done: bool,
}

impl SeriesSource for StoreSource<'_> {
    fn next_series(&mut self) -> Result<Option<StorageSeries>, StorageError> {
        if self.done {
            return Ok(None);
        }
        match self.inner.next_series() {
            Err(e) if self.partial && tolerable(&e, &self.ctx) => {
                tracing::warn!(endpoint = %self.name, error = %e, "store failed; answering without it");
                self.ctx.warnings.add(warning_for(self.name, &e));
                self.done = true;
                Ok(None)
            }
            other => other,
        }
    }
}

fn warning_for(name: &str, e: &StorageError) -> String {
    let msg = e.message();
    if msg.starts_with("store ") {
        msg.to_string()
    } else {
        format!("store {name}: {msg}")
    }
}

impl FanoutView {
    fn targets(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<&Arc<Endpoint>> {
        self.fanout
            .endpoints
            .iter()
            .filter(|e| e.may_hold(matchers, mint, maxt))
            .collect()
    }

    /// Runs `f` on every target store at once and collects the answers;
    /// failures are warnings under partial response.
    fn gather(
        &self,
        targets: &[&Arc<Endpoint>],
        ctx: &ReadContext,
        f: impl Fn(&dyn Queryable) -> Result<Vec<String>, StorageError> + Sync,
    ) -> Result<Vec<Vec<String>>, StorageError> {
        let results: Vec<Result<Vec<String>, StorageError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = targets
                .iter()
                .map(|e| {
                    let f = &f;
                    scope.spawn(move || f(&*e.storage))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(StorageError::internal("store call panicked")))
                })
                .collect()
        });
        let mut lists = Vec::with_capacity(results.len());
        for (r, e) in results.into_iter().zip(targets) {
            match r {
                Ok(list) => lists.push(list),
                Err(err) if self.partial && tolerable(&err, ctx) => {
                    ctx.warnings.add(warning_for(e.name(), &err));
                }
                Err(err) => return Err(err),
            }
        }
        Ok(lists)
    }

    fn without_replica_labels(&self, mut names: Vec<String>) -> Vec<String> {
        if self.dedup {
            names.retain(|n| !self.fanout.opts.replica_labels.contains(n));
        }
        names
    }
}

impl Queryable for FanoutView {
    fn select(
        &self,
        req: &SelectRequest,
        ctx: &ReadContext,
    ) -> Result<SeriesStream<'_>, StorageError> {
        ctx.check()?;
        // With dedup every store answers without the replica labels, so
        // replicas of a series come out of the merge together.
        let replica_labels: &[String] = if self.dedup {
            &self.fanout.opts.replica_labels
        } else {
            &[]
        };
        let mut sources: Vec<Box<dyn SeriesSource + '_>> = Vec::new();
        for e in self.targets(&req.matchers, req.mint, req.maxt) {
            // Each remote select starts its call at once, so the stores
            // work in parallel while the merge pulls.
            let selected = match &e.remote {
                Some(remote) => {
                    let supported = e
                        .status()
                        .info
                        .is_some_and(|i| i.supports_without_replica_labels);
                    let extra = RemoteSelect {
                        without_replica_labels: if supported {
                            replica_labels.to_vec()
                        } else {
                            Vec::new()
                        },
                        partial_response_disabled: !self.partial,
                    };
                    remote.select_with(req, ctx, &extra).map(|stream| {
                        if supported {
                            stream
                        } else {
                            drop_labels_sorted(stream, replica_labels.to_vec(), req, ctx)
                        }
                    })
                }
                None => e.storage.select_without(req, ctx, replica_labels),
            };
            match selected {
                Ok(stream) => sources.push(Box::new(StoreSource {
                    inner: stream,
                    name: e.name(),
                    ctx: ctx.clone(),
                    partial: self.partial,
                    done: false,
                })),
                Err(err) if self.partial && tolerable(&err, ctx) => {
                    ctx.warnings.add(warning_for(e.name(), &err));
                }
                Err(err) => return Err(err),
            }
        }
        let merged = MergeSeries::new(sources, OnEqualLabels::ConcatChunks);
        if self.dedup {
            let deduped = DedupSource::new(merged, req.mint, req.maxt, req.hints.func.as_deref());
            Ok(SeriesStream::new(deduped, req, ctx))
        } else {
            Ok(SeriesStream::new(merged, req, ctx))
        }
    }

    fn label_names(
        &self,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        ctx.check()?;
        let targets = self.targets(&req.matchers, req.mint, req.maxt);
        let lists = self.gather(&targets, ctx, |s| s.label_names(req, ctx))?;
        let names = self.without_replica_labels(merge_sorted_strings(lists, 0));
        Ok(req.limited(names))
    }

    fn label_values(
        &self,
        name: &str,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        ctx.check()?;
        if self.dedup && self.fanout.opts.replica_labels.iter().any(|l| l == name) {
            return Ok(Vec::new());
        }
        let targets = self.targets(&req.matchers, req.mint, req.maxt);
        let lists = self.gather(&targets, ctx, |s| s.label_values(name, req, ctx))?;
        Ok(merge_sorted_strings(lists, req.limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_model::MatchType;
    use argus_model::memstore::MemStorage;
    use argus_model::storage::QueryableExt;

    fn info(labels: &[(&str, &str)], min: i64, max: i64) -> RemoteInfo {
        RemoteInfo {
            component: "sidecar".into(),
            label_sets: vec![Labels::from_pairs(labels)],
            min_time: min,
            max_time: max,
            supports_without_replica_labels: true,
        }
    }

    /// A replica's store: `up` sampled every 10s from `phase`, with
    /// external labels as a scraper attaches them.
    fn replica(name: &str, phase: i64, until: i64) -> Arc<Endpoint> {
        let mut m = MemStorage::new();
        let labels = Labels::from_pairs(&[
            ("__name__", "up"),
            ("cluster", "c1"),
            ("job", "node"),
            ("replica", name),
        ]);
        let mut t = phase;
        while t <= until {
            m.append(labels.clone(), t, 1.0);
            t += 10_000;
        }
        Arc::new(Endpoint::local(
            name,
            Arc::new(m),
            info(&[("cluster", "c1"), ("replica", name)], 0, until),
        ))
    }

    /// A store that always fails.
    struct Broken;

    impl Queryable for Broken {
        fn select(
            &self,
            _: &SelectRequest,
            _: &ReadContext,
        ) -> Result<SeriesStream<'_>, StorageError> {
            Err(StorageError::unavailable(
                "store broken: connection refused",
            ))
        }
        fn label_names(
            &self,
            _: &LabelRequest,
            _: &ReadContext,
        ) -> Result<Vec<String>, StorageError> {
            Err(StorageError::unavailable(
                "store broken: connection refused",
            ))
        }
        fn label_values(
            &self,
            _: &str,
            _: &LabelRequest,
            _: &ReadContext,
        ) -> Result<Vec<String>, StorageError> {
            Err(StorageError::unavailable(
                "store broken: connection refused",
            ))
        }
    }

    fn opts() -> FanoutOptions {
        FanoutOptions {
            replica_labels: vec!["replica".into()],
            partial_response: true,
        }
    }

    fn up() -> Vec<Matcher> {
        vec![Matcher::new(MatchType::Equal, "__name__", "up").expect("matcher")]
    }

    #[test]
    fn replicas_come_out_once_without_the_replica_label() {
        let f = Fanout::new(
            vec![replica("a", 0, 100_000), replica("b", 3_000, 100_000)],
            opts(),
        );
        let got = f
            .view(true, true)
            .select_all(&up(), 0, 100_000)
            .expect("select");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].labels.to_string(), r#"up{cluster="c1", job="node"}"#);
        assert_eq!(got[0].samples(0, 100_000).count(), 11);
        let raw = f
            .view(false, true)
            .select_all(&up(), 0, 100_000)
            .expect("select");
        assert_eq!(raw.len(), 2, "dedup=false keeps both replicas");
    }

    #[test]
    fn a_failing_store_is_a_warning_or_an_error() {
        let broken = Arc::new(Endpoint::local(
            "broken",
            Arc::new(Broken),
            info(&[("replica", "c")], 0, 100_000),
        ));
        let f = Fanout::new(vec![replica("a", 0, 100_000), broken], opts());
        let ctx = ReadContext::default();
        let req = SelectRequest::new(up(), 0, 100_000);
        let got: Vec<_> = f
            .view(true, true)
            .select(&req, &ctx)
            .expect("partial select")
            .collect::<Result<_, _>>()
            .expect("series");
        assert_eq!(got.len(), 1);
        assert_eq!(
            ctx.warnings.snapshot(),
            vec!["store broken: connection refused"]
        );
        let err = f
            .view(true, false)
            .select(&req, &ReadContext::default())
            .err();
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::Unavailable));
        let ctx = ReadContext::default();
        let names = f
            .view(true, true)
            .label_names(&LabelRequest::new(vec![], 0, 100_000), &ctx)
            .expect("names");
        assert_eq!(names, vec!["__name__", "cluster", "job"]);
        assert_eq!(ctx.warnings.snapshot().len(), 1);
    }

    #[test]
    fn stores_are_pruned_by_time_and_external_labels() {
        let f = Fanout::new(
            vec![
                replica("a", 0, 100_000),
                Arc::new(Endpoint::local(
                    "broken",
                    Arc::new(Broken),
                    info(&[("replica", "c")], 200_000, 300_000),
                )),
            ],
            opts(),
        );
        // The broken store is outside the range: no warning.
        let ctx = ReadContext::default();
        let req = SelectRequest::new(up(), 0, 100_000);
        let n = f
            .view(true, false)
            .select(&req, &ctx)
            .expect("select")
            .count();
        assert_eq!(n, 1);
        // A matcher on its external labels rules it out too.
        let mut m = up();
        m.push(Matcher::new(MatchType::Equal, "replica", "a").expect("matcher"));
        let req = SelectRequest::new(m, 0, 300_000);
        let n = f
            .view(false, false)
            .select(&req, &ctx)
            .expect("select")
            .count();
        assert_eq!(n, 1);
        assert!(ctx.warnings.snapshot().is_empty());
    }
}
