//! Changing the labels of a sorted stream while keeping it sorted: adding a
//! store's external labels, dropping replica labels for deduplication.
//!
//! Call the pairs of a label set named before the first changed name its
//! prefix `k`, the others its tail. Sorted by labels, the series under a
//! prefix come as: the series that is exactly `k` (empty tail), then every
//! series whose prefix extends `k`, then the series with prefix `k` and a
//! tail, sorted by tail (a tail's first name sorts after any name of an
//! extension). A change only rewrites tails, so the order among prefixes
//! holds, except that a series whose tail goes from empty to not empty
//! moves from before the extensions of its prefix to after them (adding
//! `replica`: `{a="1"}` < `{a="1",b="2"}` but `{a="1",b="2",replica="x"}`
//! < `{a="1",replica="x"}`), and the series of one prefix are reordered
//! by their new tails.
//!
//! [`RelabeledSource`] streams a change that never empties a tail (adding
//! labels): it holds each bare-prefix series until the input leaves its
//! extensions (a chain at most as deep as the prefix), and sorts each run
//! of one prefix. A change that may empty a tail (dropping labels) can move
//! a series before extensions already seen, so it sorts the whole input:
//! memory then follows the size of the selection, which the read limits
//! bound. Series that become equal come out next to each other; with
//! [`OnEqualLabels::ConcatChunks`] they are joined into one.

use std::collections::VecDeque;

use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::storage::read::{LabelRequest, Queryable, ReadContext, SelectRequest};
use crate::storage::stream::{OnEqualLabels, SeriesSource, SeriesStream};
use crate::storage::{StorageError, StorageSeries};

/// How to change each series' labels; `first_changed` bounds the names
/// it may add, remove or rewrite (none sorts before it).
pub trait LabelChange: Send {
    /// The smallest label name this change touches.
    fn first_changed(&self) -> &str;
    /// Whether every changed label set keeps at least one pair named at
    /// or after `first_changed` (see the module documentation).
    fn never_empties_tail(&self) -> bool;
    fn apply(&self, labels: &Labels) -> Labels;
}

/// Sets labels on every series, overriding a series' own value of the
/// same name (as Thanos attaches external labels).
#[derive(Debug, Clone)]
pub struct SetLabels(pub Labels);

impl LabelChange for SetLabels {
    fn first_changed(&self) -> &str {
        self.0.iter().next().map_or("", |l| l.name)
    }

    fn never_empties_tail(&self) -> bool {
        self.0.iter().any(|l| !l.value.is_empty())
    }

    fn apply(&self, labels: &Labels) -> Labels {
        if self.0.is_empty() {
            return labels.clone();
        }
        let mut b = labels.builder();
        for l in self.0.iter() {
            b.set(l.name, l.value);
        }
        b.build()
    }
}

/// Removes the named labels from every series.
#[derive(Debug, Clone)]
pub struct DropLabels {
    names: Vec<String>,
}

impl DropLabels {
    pub fn new(mut names: Vec<String>) -> DropLabels {
        names.sort();
        names.dedup();
        DropLabels { names }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }
}

impl LabelChange for DropLabels {
    fn first_changed(&self) -> &str {
        self.names.first().map_or("", String::as_str)
    }

    fn never_empties_tail(&self) -> bool {
        self.names.is_empty()
    }

    fn apply(&self, labels: &Labels) -> Labels {
        without_names(labels, &self.names)
    }
}

/// A sorted source whose labels are changed by a [`LabelChange`], still
/// sorted. See the module documentation.
pub struct RelabeledSource<'a, C> {
    inner: Box<dyn SeriesSource + 'a>,
    change: C,
    on_equal: Option<OnEqualLabels>,
    /// The next series of `inner`, read ahead to find the end of a run.
    lookahead: Option<StorageSeries>,
    /// Relabeled bare-prefix series waiting for the extensions of their
    /// prefix, which sort before them: a chain of ever longer prefixes.
    held: Vec<(Prefix, StorageSeries)>,
    ready: VecDeque<StorageSeries>,
    done: bool,
}

/// The pairs of a label set named before the first changed name.
type Prefix = Vec<(String, String)>;

impl<'a, C: LabelChange> RelabeledSource<'a, C> {
    /// `on_equal` decides what happens to series that become equal:
    /// `None` leaves them next to each other (deduplication groups them).
    pub fn new(
        inner: impl SeriesSource + 'a,
        change: C,
        on_equal: Option<OnEqualLabels>,
    ) -> RelabeledSource<'a, C> {
        RelabeledSource {
            inner: Box::new(inner),
            change,
            on_equal,
            lookahead: None,
            held: Vec::new(),
            ready: VecDeque::new(),
            done: false,
        }
    }

    /// Sorts the whole input (a change that may empty a tail).
    fn fill_all(&mut self) -> Result<(), StorageError> {
        let mut all = Vec::new();
        while let Some(mut s) = self.inner.next_series()? {
            s.labels = self.change.apply(&s.labels);
            all.push(s);
        }
        all.sort_by(|a, b| a.labels.cmp(&b.labels));
        self.ready.extend(self.join_equal(all));
        self.done = true;
        Ok(())
    }

    /// Reads the next run of series with one prefix and moves what can no
    /// longer be overtaken to `ready`.
    fn fill_run(&mut self) -> Result<(), StorageError> {
        let first = match self.lookahead.take() {
            Some(s) => Some(s),
            None => self.inner.next_series()?,
        };
        let Some(first) = first else {
            self.done = true;
            while let Some((_, s)) = self.held.pop() {
                self.ready.push_back(s);
            }
            return Ok(());
        };
        let cut = self.change.first_changed().to_string();
        let prefix = prefix_of(&first.labels, &cut);
        let mut run = vec![first];
        loop {
            match self.inner.next_series()? {
                None => break,
                Some(s) if has_prefix(&s.labels, &prefix, &cut) => run.push(s),
                Some(s) => {
                    self.lookahead = Some(s);
                    break;
                }
            }
        }
        // The input has left the extensions of every held prefix that
        // this one does not extend.
        let mut held_bare = None;
        while let Some((p, _)) = self.held.last() {
            if prefix.len() > p.len() && prefix.starts_with(p) {
                break;
            }
            if *p == prefix {
                // The tails of a held bare prefix: they sort together.
                held_bare = self.held.pop().map(|(_, bare)| bare);
                continue;
            }
            if let Some((_, s)) = self.held.pop() {
                self.ready.push_back(s);
            }
        }
        let bare_only =
            held_bare.is_none() && run.len() == 1 && run[0].labels.len() == prefix.len();
        for s in &mut run {
            s.labels = self.change.apply(&s.labels);
        }
        run.extend(held_bare);
        if bare_only {
            // Extensions of this prefix may follow and sort before it.
            if let Some(s) = run.pop() {
                self.held.push((prefix, s));
            }
            return Ok(());
        }
        run.sort_by(|a, b| a.labels.cmp(&b.labels));
        let run = self.join_equal(run);
        self.ready.extend(run);
        Ok(())
    }

    fn join_equal(&self, run: Vec<StorageSeries>) -> Vec<StorageSeries> {
        let Some(on_equal) = self.on_equal else {
            return run;
        };
        let mut out: Vec<StorageSeries> = Vec::with_capacity(run.len());
        for s in run {
            match out.last_mut() {
                Some(last) if last.labels == s.labels => {
                    if on_equal == OnEqualLabels::ConcatChunks {
                        last.chunks.extend(s.chunks);
                        last.chunks.sort_by_key(|c| c.min_t);
                    }
                }
                _ => out.push(s),
            }
        }
        out
    }
}

fn prefix_of(labels: &Labels, cut: &str) -> Prefix {
    labels
        .iter()
        .take_while(|l| l.name < cut)
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect()
}

/// Whether the pairs of `labels` named before `cut` are exactly `prefix`.
fn has_prefix(labels: &Labels, prefix: &Prefix, cut: &str) -> bool {
    let mut own = labels.iter().take_while(|l| l.name < cut);
    for (n, v) in prefix {
        match own.next() {
            Some(l) if l.name == n && l.value == v => {}
            _ => return false,
        }
    }
    own.next().is_none()
}

impl<C: LabelChange> SeriesSource for RelabeledSource<'_, C> {
    fn next_series(&mut self) -> Result<Option<StorageSeries>, StorageError> {
        while self.ready.is_empty() && !self.done {
            if self.change.never_empties_tail() {
                self.fill_run()?;
            } else {
                self.fill_all()?;
            }
        }
        Ok(self.ready.pop_front())
    }
}

/// A storage whose series all carry `labels` (a scraper's or a block's
/// external labels), overriding a series' own labels of those names.
/// Matchers on those names are decided by the external values alone.
pub struct WithExternalLabels<Q> {
    inner: Q,
    labels: Labels,
}

/// `labels` without the labels named in `names`.
pub fn without_names(labels: &Labels, names: &[String]) -> Labels {
    if !names.iter().any(|n| labels.get(n).is_some()) {
        return labels.clone();
    }
    let mut b = labels.builder();
    for n in names {
        b.del(n);
    }
    b.build()
}

impl<Q: Queryable> WithExternalLabels<Q> {
    pub fn new(inner: Q, labels: Labels) -> WithExternalLabels<Q> {
        WithExternalLabels { inner, labels }
    }

    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    pub fn inner(&self) -> &Q {
        &self.inner
    }

    /// The matchers left for the inner storage, or `None` when a matcher
    /// on an external label rules every series out.
    fn split(&self, matchers: &[Matcher]) -> Option<Vec<Matcher>> {
        let mut rest = Vec::with_capacity(matchers.len());
        for m in matchers {
            match self.labels.get(&m.name) {
                Some(v) if !m.matches(v) => return None,
                Some(_) => {}
                None => rest.push(m.clone()),
            }
        }
        Some(rest)
    }
}

impl<Q: Queryable> Queryable for WithExternalLabels<Q> {
    fn select(
        &self,
        req: &SelectRequest,
        ctx: &ReadContext,
    ) -> Result<SeriesStream<'_>, StorageError> {
        ctx.check()?;
        let Some(matchers) = self.split(&req.matchers) else {
            return Ok(SeriesStream::empty());
        };
        if self.labels.is_empty() {
            return self.inner.select(req, ctx);
        }
        let inner_req = SelectRequest {
            matchers,
            ..req.clone()
        };
        let stream = self.inner.select(&inner_req, ctx)?;
        let relabeled = RelabeledSource::new(
            stream,
            SetLabels(self.labels.clone()),
            Some(OnEqualLabels::ConcatChunks),
        );
        Ok(SeriesStream::new(relabeled, req, ctx))
    }

    /// External labels among `names` are not attached (a label constant
    /// over the stream leaves it sorted when removed); the inner storage
    /// leaves out the rest of `names` its own way.
    fn select_without(
        &self,
        req: &SelectRequest,
        ctx: &ReadContext,
        names: &[String],
    ) -> Result<SeriesStream<'_>, StorageError> {
        ctx.check()?;
        if names.is_empty() {
            return self.select(req, ctx);
        }
        // Matchers still see the labels left out.
        let Some(matchers) = self.split(&req.matchers) else {
            return Ok(SeriesStream::empty());
        };
        let inner_req = SelectRequest {
            matchers,
            ..req.clone()
        };
        let stream = self.inner.select_without(&inner_req, ctx, names)?;
        let kept = without_names(&self.labels, names);
        if kept.is_empty() {
            return Ok(stream);
        }
        let relabeled =
            RelabeledSource::new(stream, SetLabels(kept), Some(OnEqualLabels::ConcatChunks));
        Ok(SeriesStream::new(relabeled, req, ctx))
    }

    fn label_names(
        &self,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        let Some(matchers) = self.split(&req.matchers) else {
            return Ok(Vec::new());
        };
        let inner_req = LabelRequest {
            matchers,
            limit: 0,
            ..req.clone()
        };
        let names = self.inner.label_names(&inner_req, ctx)?;
        if names.is_empty() {
            return Ok(names);
        }
        let external = self.labels.iter().map(|l| l.name.to_string()).collect();
        Ok(crate::storage::merge_sorted_strings(
            vec![names, external],
            req.limit,
        ))
    }

    fn label_values(
        &self,
        name: &str,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        let Some(matchers) = self.split(&req.matchers) else {
            return Ok(Vec::new());
        };
        let inner_req = LabelRequest {
            matchers,
            ..req.clone()
        };
        match self.labels.get(name) {
            // The external value, if any series is there to carry it.
            Some(v) => {
                let any = self.inner.label_names(&inner_req.with_limit(1), ctx)?;
                Ok(if any.is_empty() || v.is_empty() {
                    Vec::new()
                } else {
                    vec![v.to_string()]
                })
            }
            None => self.inner.label_values(name, &inner_req, ctx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::stream::VecSource;
    use crate::storage::test_support::chunk;

    fn s(pairs: &[(&str, &str)]) -> StorageSeries {
        StorageSeries {
            labels: Labels::from_pairs(pairs),
            chunks: Vec::new(),
        }
    }

    fn drain(mut src: impl SeriesSource) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(x) = src.next_series().expect("series") {
            out.push(x.labels.to_string());
        }
        out
    }

    #[test]
    fn setting_a_label_keeps_the_stream_sorted() {
        let input = vec![
            s(&[("__name__", "up"), ("a", "1")]),
            s(&[("__name__", "up"), ("a", "1"), ("b", "2")]),
            s(&[("__name__", "up"), ("a", "2")]),
        ];
        let got = drain(RelabeledSource::new(
            VecSource::new(input),
            SetLabels(Labels::from_pairs(&[("replica", "x")])),
            Some(OnEqualLabels::ConcatChunks),
        ));
        assert_eq!(
            got,
            vec![
                r#"up{a="1", b="2", replica="x"}"#,
                r#"up{a="1", replica="x"}"#,
                r#"up{a="2", replica="x"}"#,
            ]
        );
    }

    #[test]
    fn dropping_a_label_groups_the_series_that_become_equal() {
        let mut a = s(&[("__name__", "up"), ("replica", "a")]);
        a.chunks.push(chunk(&[(10, 1.0)]));
        let mut b = s(&[("__name__", "up"), ("replica", "b")]);
        b.chunks.push(chunk(&[(5, 1.0)]));
        let input = vec![a, s(&[("__name__", "up"), ("replica", "b"), ("x", "1")]), b];
        // Not sorted as given: fix the input order first.
        let mut input = input;
        input.sort_by(|x, y| x.labels.cmp(&y.labels));
        let mut src = RelabeledSource::new(
            VecSource::new(input),
            DropLabels::new(vec!["replica".into()]),
            None,
        );
        let mut got = Vec::new();
        while let Some(x) = src.next_series().expect("series") {
            got.push((x.labels.to_string(), x.chunks.len()));
        }
        assert_eq!(
            got,
            vec![
                ("up".to_string(), 1),
                ("up".to_string(), 1),
                (r#"up{x="1"}"#.to_string(), 0)
            ]
        );
    }

    #[test]
    fn concat_joins_series_made_equal_by_an_override() {
        let mut a = s(&[("__name__", "up"), ("replica", "p")]);
        a.chunks.push(chunk(&[(10, 1.0)]));
        let mut b = s(&[("__name__", "up"), ("replica", "q")]);
        b.chunks.push(chunk(&[(5, 1.0)]));
        let mut src = RelabeledSource::new(
            VecSource::new(vec![a, b]),
            SetLabels(Labels::from_pairs(&[("replica", "x")])),
            Some(OnEqualLabels::ConcatChunks),
        );
        let one = src.next_series().expect("ok").expect("one series");
        assert_eq!(one.labels.to_string(), r#"up{replica="x"}"#);
        let starts: Vec<i64> = one.chunks.iter().map(|c| c.min_t).collect();
        assert_eq!(starts, vec![5, 10]);
        assert!(src.next_series().expect("ok").is_none());
    }

    /// Any sorted input comes out as sorting the relabeled input would
    /// give, for random label sets.
    #[test]
    fn output_matches_a_full_sort_for_many_inputs() {
        let names = ["A", "__name__", "a", "b", "replica", "z"];
        let values = ["1", "2"];
        let mut state = 7u64;
        let mut rnd = move |n: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as usize) % n
        };
        for _ in 0..500 {
            let mut input: Vec<StorageSeries> = (0..1 + rnd(30))
                .map(|_| {
                    let mut pairs: Vec<(&str, &str)> = Vec::new();
                    for n in names {
                        if rnd(2) == 0 {
                            pairs.push((n, values[rnd(2)]));
                        }
                    }
                    s(&pairs)
                })
                .collect();
            input.sort_by(|x, y| x.labels.cmp(&y.labels));
            input.dedup_by(|x, y| x.labels == y.labels);

            let set = SetLabels(Labels::from_pairs(&[("b", "9"), ("replica", "x")]));
            let mut want: Vec<Labels> = input.iter().map(|x| set.apply(&x.labels)).collect();
            want.sort();
            want.dedup();
            let got = drain_labels(RelabeledSource::new(
                VecSource::new(input.clone()),
                set,
                Some(OnEqualLabels::ConcatChunks),
            ));
            assert_eq!(got, want);

            let drop = DropLabels::new(vec!["replica".into(), "a".into()]);
            let mut want: Vec<Labels> = input.iter().map(|x| drop.apply(&x.labels)).collect();
            want.sort();
            let got = drain_labels(RelabeledSource::new(
                VecSource::new(input.clone()),
                drop,
                None,
            ));
            assert_eq!(got, want);
        }
    }

    fn drain_labels(mut src: impl SeriesSource) -> Vec<Labels> {
        let mut out = Vec::new();
        while let Some(x) = src.next_series().expect("series") {
            out.push(x.labels);
        }
        out
    }
}
