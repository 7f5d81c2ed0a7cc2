//! The conformance suite of the read interface: one set of cases every
//! [`Queryable`] implementation must pass, local or remote.
//!
//! An implementation's tests build a [`Fixture`] holding the suite's
//! [`Dataset`] and call [`storage_conformance!`], which expands to one
//! `#[test]` per case:
//!
//! ```ignore
//! fn build(ds: &Dataset) -> Fixture { /* load ds into the storage */ }
//! argus_storage_conformance::storage_conformance!(build);
//! ```
//!
//! Expected answers are computed by brute force over the dataset with the
//! model's matcher semantics, so the suite checks storage, not itself.
//!
//! The dataset spans four hours from [`T0`] (2h-aligned) at a 15s interval,
//! with series covering all of it, only its first or last hour, a single
//! sample on the 2h boundary, a gap, a staleness marker, regex
//! metacharacters and UTF-8 in label values, and labels present on some
//! series only. A database fixture can put its first hours in blocks
//! (overlapping ones too) and the rest in the head: the suite then checks
//! the merged view.

use std::time::{Duration, Instant};

use argus_model::cancel::CancelToken;
use argus_model::error::ErrorKind;
use argus_model::labels::Labels;
use argus_model::matcher::{MatchType, Matcher, matches_all};
use argus_model::sample::{Sample, stale_nan};
use argus_model::storage::{
    LabelRequest, Queryable, ReadContext, ReadLimits, SelectRequest, StorageError, StorageSeries,
};

/// Start of the dataset, aligned to two hours.
pub const T0: i64 = 1_700_006_400_000;
/// Sample interval.
pub const STEP: i64 = 15_000;
pub const HOUR: i64 = 3_600_000;
/// The dataset covers `[T0, T0 + SPAN)`.
pub const SPAN: i64 = 4 * HOUR;

/// Series with their samples, sorted by labels.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub series: Vec<(Labels, Vec<Sample>)>,
}

impl Dataset {
    /// Each series' samples in `[mint, maxt]`, series without any left out.
    pub fn samples_in(&self, mint: i64, maxt: i64) -> Vec<(Labels, Vec<Sample>)> {
        self.series
            .iter()
            .filter_map(|(l, s)| {
                let s: Vec<Sample> = s
                    .iter()
                    .filter(|x| x.t >= mint && x.t <= maxt)
                    .copied()
                    .collect();
                (!s.is_empty()).then(|| (l.clone(), s))
            })
            .collect()
    }

    /// Every sample as `(labels, t, v)` in time order, for storages that
    /// are filled through an appender.
    pub fn in_time_order(&self) -> Vec<(&Labels, Sample)> {
        let mut all: Vec<(&Labels, Sample)> = self
            .series
            .iter()
            .flat_map(|(l, s)| s.iter().map(move |x| (l, *x)))
            .collect();
        all.sort_by_key(|(_, s)| s.t);
        all
    }
}

/// Samples every `STEP` in `[from, to)`, counting up by `rate`.
fn counter(from: i64, to: i64, rate: f64) -> Vec<Sample> {
    (0..)
        .map(|i| from + i * STEP)
        .take_while(|t| *t < to)
        .enumerate()
        .map(|(i, t)| Sample::new(t, i as f64 * rate))
        .collect()
}

/// The suite's data.
pub fn dataset() -> Dataset {
    let all = |rate| counter(T0, T0 + SPAN, rate);
    let mut series: Vec<(Labels, Vec<Sample>)> = Vec::new();
    let mut add = |pairs: &[(&str, &str)], samples: Vec<Sample>| {
        series.push((Labels::from_pairs(pairs), samples));
    };
    for (i, (job, inst)) in [
        ("api", "a:1"),
        ("api", "b:1"),
        ("db", "c:1"),
        ("apix", "d:1"),
    ]
    .iter()
    .enumerate()
    {
        add(
            &[("__name__", "up"), ("job", job), ("instance", inst)],
            all(0.0)
                .into_iter()
                .map(|s| Sample::new(s.t, 1.0 + i as f64))
                .collect(),
        );
    }
    for (i, (code, path)) in [("200", "/"), ("500", "/"), ("200", "/a|b"), ("404", "/ü")]
        .iter()
        .enumerate()
    {
        add(
            &[
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("code", code),
                ("path", path),
            ],
            all(1.0 + i as f64),
        );
    }
    for cpu in ["0", "1", "2", "10"] {
        add(
            &[
                ("__name__", "node_cpu_seconds_total"),
                ("cpu", cpu),
                ("job", "node"),
            ],
            all(0.5),
        );
    }
    add(
        &[("__name__", "early"), ("job", "batch")],
        counter(T0, T0 + HOUR, 2.0),
    );
    add(
        &[("__name__", "late"), ("job", "batch")],
        counter(T0 + 3 * HOUR, T0 + SPAN, 2.0),
    );
    add(
        &[("__name__", "boundary"), ("job", "batch")],
        vec![Sample::new(T0 + 2 * HOUR, 7.0)],
    );
    let mut gap = counter(T0, T0 + HOUR / 2, 1.0);
    gap.extend(counter(T0 + 3 * HOUR + HOUR / 2, T0 + SPAN, 1.0));
    add(&[("__name__", "gappy"), ("job", "batch")], gap);
    let mut stale = counter(T0, T0 + HOUR, 1.0);
    stale.push(Sample::new(T0 + HOUR, stale_nan()));
    add(&[("__name__", "went_stale"), ("job", "batch")], stale);
    add(&[("__name__", "lonely"), ("zone", "eu-1")], all(3.0));
    add(
        &[("__name__", "lonely"), ("zone", "us-1"), ("rack", "r7")],
        all(3.0),
    );
    series.sort_by(|a, b| a.0.cmp(&b.0));
    Dataset { series }
}

/// A storage under test and whatever must live as long as it (a
/// temporary directory, a server). The storage is dropped first.
pub struct Fixture {
    pub storage: Box<dyn Queryable>,
    _keep: Vec<Box<dyn std::any::Any>>,
}

impl Fixture {
    pub fn new(storage: impl Queryable + 'static) -> Fixture {
        Fixture {
            storage: Box::new(storage),
            _keep: Vec::new(),
        }
    }

    /// Keeps `guard` alive until the fixture is dropped.
    pub fn keeping(mut self, guard: impl std::any::Any) -> Fixture {
        self._keep.push(Box::new(guard));
        self
    }
}

/// Expands to one `#[test]` per case of the suite, each building a fresh
/// fixture with `$build: fn(&Dataset) -> Fixture`.
#[macro_export]
macro_rules! storage_conformance {
    ($build:expr) => {
        $crate::storage_conformance!(@cases $build;
            series_are_sorted_unique_and_complete,
            matchers_select_what_they_match,
            empty_value_matchers,
            time_range_boundaries,
            skip_chunks_returns_labels_only,
            label_names,
            label_values,
            select_limit_hint,
            select_without_leaves_labels_out,
            label_limit,
            read_limits_fail_the_select,
            cancel_before_select,
            cancel_mid_stream,
            deadline,
        );
    };
    (@cases $build:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::cases::$case(&$build);
            }
        )*
    };
}

fn m(kind: MatchType, name: &str, value: &str) -> Matcher {
    Matcher::new(kind, name, value).unwrap_or_else(|e| panic!("matcher {name}{value}: {e}"))
}

fn eq(name: &str, value: &str) -> Matcher {
    m(MatchType::Equal, name, value)
}

fn re(name: &str, value: &str) -> Matcher {
    m(MatchType::Regex, name, value)
}

fn describe(ms: &[Matcher]) -> String {
    let parts: Vec<String> = ms.iter().map(|m| m.to_string()).collect();
    format!("{{{}}}", parts.join(","))
}

fn collect(
    storage: &dyn Queryable,
    req: &SelectRequest,
    ctx: &ReadContext,
) -> Result<Vec<StorageSeries>, StorageError> {
    storage.select(req, ctx)?.collect()
}

fn select(storage: &dyn Queryable, req: &SelectRequest) -> Vec<StorageSeries> {
    collect(storage, req, &ReadContext::default()).unwrap_or_else(|e| {
        panic!(
            "select {} [{}, {}]: {e}",
            describe(&req.matchers),
            req.mint,
            req.maxt
        )
    })
}

fn bits(s: &[Sample]) -> Vec<(i64, u64)> {
    s.iter().map(|x| (x.t, x.v.to_bits())).collect()
}

/// Checks one select against the dataset: every expected series with
/// exactly its samples in range, in label order, each once; a series
/// beyond those may only come when it has no sample in the range (a
/// storage may select by chunk).
fn check_select(
    ds: &Dataset,
    storage: &dyn Queryable,
    matchers: Vec<Matcher>,
    mint: i64,
    maxt: i64,
) {
    let what = format!("{} [{mint}, {maxt}]", describe(&matchers));
    let req = SelectRequest::new(matchers, mint, maxt);
    let got = select(storage, &req);
    assert_sorted_unique(&got, &what);
    let want: Vec<(Labels, Vec<Sample>)> = ds
        .samples_in(mint, maxt)
        .into_iter()
        .filter(|(l, _)| matches_all(&req.matchers, l))
        .collect();
    let mut got_nonempty = Vec::new();
    for s in &got {
        assert!(
            matches_all(&req.matchers, &s.labels),
            "{what}: {} does not match",
            s.labels
        );
        assert!(
            s.chunks.windows(2).all(|w| w[0].min_t <= w[1].min_t),
            "{what}: chunks of {} are not ordered by min_t",
            s.labels
        );
        let samples = s
            .decode(mint, maxt)
            .unwrap_or_else(|e| panic!("{what}: {}: {e}", s.labels));
        if !samples.is_empty() {
            got_nonempty.push((s.labels.clone(), samples));
        }
    }
    let names =
        |v: &[(Labels, Vec<Sample>)]| v.iter().map(|(l, _)| l.to_string()).collect::<Vec<_>>();
    assert_eq!(names(&got_nonempty), names(&want), "{what}: series");
    for ((l, g), (_, w)) in got_nonempty.iter().zip(&want) {
        assert_eq!(bits(g), bits(w), "{what}: samples of {l}");
    }
}

fn assert_sorted_unique(got: &[StorageSeries], what: &str) {
    for w in got.windows(2) {
        assert!(
            w[0].labels < w[1].labels,
            "{what}: {} comes before {}: not sorted or not unique",
            w[0].labels,
            w[1].labels
        );
    }
}

fn all_series() -> Vec<Matcher> {
    vec![re("__name__", ".+")]
}

/// The cases; [`storage_conformance!`] calls each with the fixture builder.
pub mod cases {
    use super::*;

    type Build<'a> = &'a dyn Fn(&Dataset) -> Fixture;

    /// `select_without`: the named labels gone, still sorted, every
    /// sample kept; a name no series has changes nothing.
    pub fn select_without_leaves_labels_out(build: Build<'_>) {
        let ds = dataset();
        let f = build(&ds);
        let req = SelectRequest::new(all_series(), i64::MIN, i64::MAX);
        let without = |names: &[&str]| -> Vec<StorageSeries> {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            f.storage
                .select_without(&req, &ReadContext::default(), &names)
                .and_then(|s| s.collect())
                .unwrap_or_else(|e| panic!("select without {names:?}: {e}"))
        };
        let label_strings =
            |v: &[StorageSeries]| v.iter().map(|s| s.labels.to_string()).collect::<Vec<_>>();
        let plain = select(&*f.storage, &req);
        assert_eq!(
            label_strings(&without(&["absent"])),
            label_strings(&plain),
            "without a label no series has"
        );
        let got = without(&["job", "absent"]);
        assert_sorted_unique(&got, "without job");
        let mut want: Vec<(Labels, Vec<Sample>)> = ds
            .series
            .iter()
            .map(|(l, s)| {
                let mut b = l.builder();
                b.del("job");
                (b.build(), s.clone())
            })
            .collect();
        want.sort_by(|a, b| a.0.cmp(&b.0));
        let got: Vec<(String, Vec<(i64, u64)>)> = got
            .iter()
            .map(|s| {
                let samples = s
                    .decode(i64::MIN, i64::MAX)
                    .unwrap_or_else(|e| panic!("without job: {}: {e}", s.labels));
                (s.labels.to_string(), bits(&samples))
            })
            .collect();
        let want: Vec<(String, Vec<(i64, u64)>)> =
            want.iter().map(|(l, s)| (l.to_string(), bits(s))).collect();
        assert_eq!(got, want, "without job");
    }

    pub fn series_are_sorted_unique_and_complete(build: Build<'_>) {
        let ds = dataset();
        let f = build(&ds);
        check_select(&ds, &*f.storage, all_series(), i64::MIN, i64::MAX);
        check_select(&ds, &*f.storage, all_series(), T0, T0 + SPAN);
        let got = select(
            &*f.storage,
            &SelectRequest::new(all_series(), i64::MIN, i64::MAX),
        );
        assert_eq!(got.len(), ds.series.len(), "every series once");
    }

    pub fn matchers_select_what_they_match(build: Build<'_>) {
        let ds = dataset();
        let f = build(&ds);
        let ne = |n: &str, v: &str| m(MatchType::NotEqual, n, v);
        let nre = |n: &str, v: &str| m(MatchType::NotRegex, n, v);
        let sets: Vec<Vec<Matcher>> = vec![
            vec![eq("__name__", "up")],
            vec![eq("__name__", "up"), eq("job", "api")],
            vec![eq("__name__", "up"), ne("job", "api")],
            vec![re("job", "api|db")],
            // Regexes are anchored: "api" does not match "apix".
            vec![re("job", "api")],
            vec![re("job", "ap")],
            vec![re("job", "ap.*"), ne("job", "api")],
            vec![eq("__name__", "up"), nre("job", "api")],
            vec![re("__name__", "node_.*"), nre("cpu", "1.*")],
            vec![re("job", "API")],
            vec![re("job", "(?i)API")],
            vec![eq("path", "/a|b")],
            vec![re("path", "/a\\|b")],
            vec![re("path", "/.*")],
            vec![re("path", "/.")],
            vec![eq("path", "/ü")],
            vec![eq("nonexistent", "x")],
            vec![eq("__name__", "up"), ne("nonexistent", "x")],
            vec![eq("__name__", "lonely"), eq("zone", "eu-1")],
            vec![eq("__name__", "nope")],
            vec![re("__name__", "up|late|early")],
        ];
        for ms in sets {
            check_select(&ds, &*f.storage, ms, i64::MIN, i64::MAX);
        }
    }

    pub fn empty_value_matchers(build: Build<'_>) {
        let ds = dataset();
        let f = build(&ds);
        let ne = |n: &str, v: &str| m(MatchType::NotEqual, n, v);
        let nre = |n: &str, v: &str| m(MatchType::NotRegex, n, v);
        let sets: Vec<Vec<Matcher>> = vec![
            // A label that is absent has the empty value.
            vec![eq("__name__", "lonely"), eq("rack", "")],
            vec![eq("__name__", "lonely"), ne("rack", "")],
            vec![re("__name__", ".+"), eq("job", "")],
            vec![re("__name__", ".+"), ne("job", "")],
            vec![re("__name__", ".+"), re("job", "")],
            vec![re("__name__", ".+"), re("job", ".*")],
            vec![re("__name__", ".+"), re("job", ".+")],
            vec![re("__name__", ".+"), nre("job", ".*")],
            vec![re("__name__", ".+"), nre("job", ".+")],
            vec![re("__name__", ".+"), re("job", "|api")],
            vec![eq("__name__", "up"), eq("nonexistent", "")],
        ];
        for ms in sets {
            check_select(&ds, &*f.storage, ms, i64::MIN, i64::MAX);
        }
    }

    pub fn time_range_boundaries(build: Build<'_>) {
        let ds = dataset();
        let f = build(&ds);
        let windows = [
            (T0, T0),
            (T0 + HOUR, T0 + HOUR),
            (T0 + HOUR - 1, T0 + HOUR + 1),
            (T0 + HOUR + 1, T0 + HOUR + STEP - 1),
            (T0 + 2 * HOUR, T0 + 2 * HOUR),
            (T0 + 2 * HOUR - STEP, T0 + 2 * HOUR + STEP),
            (T0 + HOUR / 2, T0 + 3 * HOUR + HOUR / 2),
            (T0 + 3 * HOUR, T0 + SPAN + 5 * 60_000),
            (T0 + SPAN - STEP, T0 + SPAN),
            (T0 + SPAN, T0 + SPAN + HOUR),
            (T0 - HOUR, T0 - 1),
            (T0 + HOUR, T0),
        ];
        for (mint, maxt) in windows {
            check_select(&ds, &*f.storage, all_series(), mint, maxt);
            check_select(&ds, &*f.storage, vec![eq("job", "batch")], mint, maxt);
        }
    }

    pub fn skip_chunks_returns_labels_only(build: Build<'_>) {
        let ds = dataset();
        let f = build(&ds);
        for (matchers, mint, maxt) in [
            (all_series(), i64::MIN, i64::MAX),
            (vec![eq("job", "batch")], T0 + 3 * HOUR, T0 + SPAN),
            (vec![eq("__name__", "up")], T0, T0 + HOUR),
            (all_series(), T0 + SPAN, T0 + SPAN + HOUR),
        ] {
            let what = format!("{} [{mint}, {maxt}] labels only", describe(&matchers));
            let req = SelectRequest::new(matchers.clone(), mint, maxt).labels_only();
            let got = select(&*f.storage, &req);
            assert_sorted_unique(&got, &what);
            assert!(
                got.iter().all(|s| s.chunks.is_empty()),
                "{what}: chunks were returned"
            );
            let got: Vec<String> = got.iter().map(|s| s.labels.to_string()).collect();
            // At least the series with samples in range; at most those
            // whose first-to-last sample span meets it.
            let exact: Vec<String> = ds
                .samples_in(mint, maxt)
                .iter()
                .filter(|(l, _)| matches_all(&matchers, l))
                .map(|(l, _)| l.to_string())
                .collect();
            let loose: Vec<String> = ds
                .series
                .iter()
                .filter(|(l, s)| {
                    matches_all(&matchers, l)
                        && s.first().is_some_and(|x| x.t <= maxt)
                        && s.last().is_some_and(|x| x.t >= mint)
                })
                .map(|(l, _)| l.to_string())
                .collect();
            for l in &exact {
                assert!(got.contains(l), "{what}: {l} is missing");
            }
            for l in &got {
                assert!(
                    loose.contains(l),
                    "{what}: {l} has no samples near the range"
                );
            }
        }
    }

    fn names_of<'a>(series: impl Iterator<Item = &'a Labels>) -> Vec<String> {
        let mut out: Vec<String> = series
            .flat_map(|l| l.iter().map(|x| x.name.to_string()).collect::<Vec<_>>())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    fn values_of<'a>(name: &str, series: impl Iterator<Item = &'a Labels>) -> Vec<String> {
        let mut out: Vec<String> = series
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    fn names(f: &Fixture, req: &LabelRequest) -> Vec<String> {
        f.storage
            .label_names(req, &ReadContext::default())
            .unwrap_or_else(|e| panic!("label names {}: {e}", describe(&req.matchers)))
    }

    fn values(f: &Fixture, name: &str, req: &LabelRequest) -> Vec<String> {
        f.storage
            .label_values(name, req, &ReadContext::default())
            .unwrap_or_else(|e| panic!("label values of {name} {}: {e}", describe(&req.matchers)))
    }

    /// A label answer over part of the data: at least the exact answer, at
    /// most the answer ignoring time, sorted and unique.
    fn assert_between(got: &[String], exact: &[String], loose: &[String], what: &str) {
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "{what}: not sorted/unique: {got:?}"
        );
        for x in exact {
            assert!(got.contains(x), "{what}: {x} is missing from {got:?}");
        }
        for x in got {
            assert!(loose.contains(x), "{what}: {x} should not be in {got:?}");
        }
    }

    pub fn label_names(build: Build<'_>) {
        let ds = dataset();
        let f = build(&ds);
        let all = names_of(ds.series.iter().map(|(l, _)| l));
        assert_eq!(
            names(&f, &LabelRequest::new(vec![], i64::MIN, i64::MAX)),
            all
        );
        assert_eq!(names(&f, &LabelRequest::new(vec![], T0, T0 + SPAN)), all);
        for ms in [
            vec![eq("__name__", "up")],
            vec![eq("__name__", "lonely")],
            vec![eq("__name__", "lonely"), eq("rack", "")],
            vec![re("path", "/.*")],
            vec![eq("nonexistent", "x")],
        ] {
            let want = names_of(
                ds.series
                    .iter()
                    .map(|(l, _)| l)
                    .filter(|l| matches_all(&ms, l)),
            );
            let got = names(&f, &LabelRequest::new(ms.clone(), i64::MIN, i64::MAX));
            assert_eq!(got, want, "label names of {}", describe(&ms));
        }
        // No data at all in these ranges.
        for (mint, maxt) in [(T0 - HOUR, T0 - 1), (T0 + SPAN, T0 + SPAN + HOUR)] {
            assert!(
                names(&f, &LabelRequest::new(vec![], mint, maxt)).is_empty(),
                "label names in [{mint}, {maxt}]"
            );
        }
        let (mint, maxt) = (T0 + 3 * HOUR, T0 + SPAN);
        let ms = vec![eq("job", "batch")];
        let exact = names_of(
            ds.samples_in(mint, maxt)
                .iter()
                .map(|(l, _)| l)
                .filter(|l| matches_all(&ms, l)),
        );
        let loose = names_of(
            ds.series
                .iter()
                .map(|(l, _)| l)
                .filter(|l| matches_all(&ms, l)),
        );
        let got = names(&f, &LabelRequest::new(ms, mint, maxt));
        assert_between(
            &got,
            &exact,
            &loose,
            "label names of batch jobs in the last hour",
        );
    }

    pub fn label_values(build: Build<'_>) {
        let ds = dataset();
        let f = build(&ds);
        let every = || ds.series.iter().map(|(l, _)| l);
        for name in ["__name__", "job", "path", "cpu", "rack", "nonexistent"] {
            let got = values(&f, name, &LabelRequest::new(vec![], i64::MIN, i64::MAX));
            assert_eq!(got, values_of(name, every()), "values of {name}");
        }
        for (name, ms) in [
            ("job", vec![eq("__name__", "up")]),
            ("instance", vec![eq("job", "api")]),
            ("zone", vec![eq("__name__", "lonely"), eq("rack", "")]),
            ("code", vec![re("path", "/.+")]),
            ("job", vec![eq("nonexistent", "x")]),
        ] {
            let want = values_of(name, every().filter(|l| matches_all(&ms, l)));
            let got = values(&f, name, &LabelRequest::new(ms.clone(), i64::MIN, i64::MAX));
            assert_eq!(got, want, "values of {name} for {}", describe(&ms));
        }
        assert!(
            values(
                &f,
                "job",
                &LabelRequest::new(vec![], T0 + SPAN, T0 + SPAN + HOUR)
            )
            .is_empty(),
            "values after the data"
        );
        let (mint, maxt) = (T0, T0 + HOUR / 4);
        let ms = vec![eq("job", "batch")];
        let exact = values_of(
            "__name__",
            ds.samples_in(mint, maxt)
                .iter()
                .map(|(l, _)| l)
                .filter(|l| matches_all(&ms, l)),
        );
        let loose = values_of("__name__", every().filter(|l| matches_all(&ms, l)));
        let got = values(&f, "__name__", &LabelRequest::new(ms, mint, maxt));
        assert_between(
            &got,
            &exact,
            &loose,
            "names of batch jobs in the first minutes",
        );
    }

    pub fn select_limit_hint(build: Build<'_>) {
        let ds = dataset();
        let f = build(&ds);
        for limit in [1, 3] {
            for skip in [false, true] {
                let mut req =
                    SelectRequest::new(all_series(), i64::MIN, i64::MAX).with_limit(limit);
                req.hints.skip_chunks = skip;
                let got: Vec<String> = select(&*f.storage, &req)
                    .iter()
                    .map(|s| s.labels.to_string())
                    .collect();
                let want: Vec<String> = ds
                    .series
                    .iter()
                    .take(limit)
                    .map(|(l, _)| l.to_string())
                    .collect();
                assert_eq!(got, want, "limit {limit}, labels only: {skip}");
            }
        }
    }

    pub fn label_limit(build: Build<'_>) {
        let ds = dataset();
        let f = build(&ds);
        let req = LabelRequest::new(vec![], i64::MIN, i64::MAX).with_limit(2);
        let all = names_of(ds.series.iter().map(|(l, _)| l));
        assert_eq!(names(&f, &req), all[..2].to_vec(), "label names, limit 2");
        let all = values_of("job", ds.series.iter().map(|(l, _)| l));
        assert_eq!(
            values(&f, "job", &req),
            all[..2].to_vec(),
            "job values, limit 2"
        );
    }

    fn expect_error(
        f: &Fixture,
        req: &SelectRequest,
        ctx: &ReadContext,
        kind: ErrorKind,
        what: &str,
    ) {
        match collect(&*f.storage, req, ctx) {
            Ok(got) => panic!("{what}: the select succeeded with {} series", got.len()),
            Err(e) => assert_eq!(e.kind(), kind, "{what}: {e}"),
        }
    }

    pub fn read_limits_fail_the_select(build: Build<'_>) {
        let ds = dataset();
        let f = build(&ds);
        let req = SelectRequest::new(all_series(), i64::MIN, i64::MAX);
        for (limits, what) in [
            (
                ReadLimits {
                    max_series: 2,
                    ..ReadLimits::default()
                },
                "max series 2",
            ),
            (
                ReadLimits {
                    max_samples: 100,
                    ..ReadLimits::default()
                },
                "max samples 100",
            ),
            (
                ReadLimits {
                    max_chunk_bytes: 64,
                    ..ReadLimits::default()
                },
                "max chunk bytes 64",
            ),
        ] {
            let ctx = ReadContext::default().with_limits(limits);
            expect_error(&f, &req, &ctx, ErrorKind::ResourceExhausted, what);
        }
        let roomy = ReadContext::default().with_limits(ReadLimits {
            max_series: ds.series.len(),
            max_samples: 10_000_000,
            max_chunk_bytes: 1 << 30,
        });
        let got = collect(&*f.storage, &req, &roomy)
            .unwrap_or_else(|e| panic!("limits that hold must not fail: {e}"));
        assert_eq!(got.len(), ds.series.len());
        // Labels only: no samples or bytes are read, so only the series
        // limit applies.
        let labels = req.clone().labels_only();
        let ctx = ReadContext::default().with_limits(ReadLimits {
            max_samples: 1,
            max_chunk_bytes: 1,
            ..ReadLimits::default()
        });
        let got = collect(&*f.storage, &labels, &ctx)
            .unwrap_or_else(|e| panic!("labels only under sample limits: {e}"));
        assert_eq!(got.len(), ds.series.len());
    }

    pub fn cancel_before_select(build: Build<'_>) {
        let ds = dataset();
        let f = build(&ds);
        let token = CancelToken::new();
        token.cancel();
        let ctx = ReadContext::new(None, token);
        let req = SelectRequest::new(all_series(), i64::MIN, i64::MAX);
        expect_error(&f, &req, &ctx, ErrorKind::Canceled, "canceled select");
        let lreq = LabelRequest::new(vec![], i64::MIN, i64::MAX);
        let e = f.storage.label_names(&lreq, &ctx).err();
        assert_eq!(
            e.map(|e| e.kind()),
            Some(ErrorKind::Canceled),
            "label names"
        );
        let e = f.storage.label_values("job", &lreq, &ctx).err();
        assert_eq!(
            e.map(|e| e.kind()),
            Some(ErrorKind::Canceled),
            "label values"
        );
    }

    pub fn cancel_mid_stream(build: Build<'_>) {
        let ds = dataset();
        let f = build(&ds);
        let token = CancelToken::new();
        let ctx = ReadContext::new(None, token.clone());
        let req = SelectRequest::new(all_series(), i64::MIN, i64::MAX);
        let mut stream = f
            .storage
            .select(&req, &ctx)
            .unwrap_or_else(|e| panic!("select: {e}"));
        for i in 0..3 {
            match stream.next() {
                Some(Ok(_)) => {}
                other => panic!("series {i} before canceling: {other:?}"),
            }
        }
        token.cancel();
        match stream.next() {
            Some(Err(e)) => assert_eq!(e.kind(), ErrorKind::Canceled, "{e}"),
            other => panic!("after cancel: {other:?}"),
        }
        assert!(stream.next().is_none(), "a failed stream ends");
    }

    pub fn deadline(build: Build<'_>) {
        let ds = dataset();
        let f = build(&ds);
        let past = Instant::now().checked_sub(Duration::from_millis(1));
        let ctx = ReadContext::new(past, CancelToken::new());
        let req = SelectRequest::new(all_series(), i64::MIN, i64::MAX);
        expect_error(&f, &req, &ctx, ErrorKind::DeadlineExceeded, "past deadline");
        let ahead = ReadContext::new(
            Instant::now().checked_add(Duration::from_secs(600)),
            CancelToken::new(),
        );
        let got =
            collect(&*f.storage, &req, &ahead).unwrap_or_else(|e| panic!("deadline ahead: {e}"));
        assert_eq!(got.len(), ds.series.len());
    }
}
