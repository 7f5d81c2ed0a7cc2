//! The engine tells storage how a selection will be used, as Prometheus's
//! engine fills `SelectHints`: the nearest function or aggregation, the
//! grouping of a directly enclosing aggregation, the range of a range
//! selector and the query step.

use std::sync::Mutex;

use argus_model::Labels;
use argus_model::memstore::MemStorage;
use argus_model::storage::{
    Grouping, LabelRequest, Queryable, ReadContext, SelectHints, SelectRequest, SeriesStream,
    StorageError,
};
use argus_promql::{Engine, EngineOptions, QueryContext};

/// Records the hints of every select, answering from a memory store.
struct Recording {
    inner: MemStorage,
    seen: Mutex<Vec<(String, SelectHints)>>,
}

impl Queryable for Recording {
    fn select(
        &self,
        req: &SelectRequest,
        ctx: &ReadContext,
    ) -> Result<SeriesStream<'_>, StorageError> {
        let name = req
            .matchers
            .iter()
            .find(|m| m.name == "__name__")
            .map(|m| m.value.clone())
            .unwrap_or_default();
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((name, req.hints.clone()));
        self.inner.select(req, ctx)
    }

    fn label_names(
        &self,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        self.inner.label_names(req, ctx)
    }

    fn label_values(
        &self,
        name: &str,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        self.inner.label_values(name, req, ctx)
    }
}

fn hints_of(query: &str, step: Option<i64>) -> Vec<(String, SelectHints)> {
    let mut inner = MemStorage::new();
    for name in ["x", "y"] {
        for t in 0..100 {
            inner.append(
                Labels::from_pairs(&[("__name__", name), ("job", "j")]),
                t * 15_000,
                t as f64,
            );
        }
    }
    let storage = Recording {
        inner,
        seen: Mutex::new(Vec::new()),
    };
    let engine = Engine::new(EngineOptions::default());
    let ctx = QueryContext::default();
    let out = match step {
        None => engine.instant(&storage, query, 1_000_000, &ctx),
        Some(step) => engine.range(&storage, query, 600_000, 1_200_000, step, &ctx),
    };
    out.unwrap_or_else(|e| panic!("{query}: {e}"));
    storage.seen.into_inner().unwrap_or_else(|p| p.into_inner())
}

fn hints(
    func: Option<&str>,
    range_ms: i64,
    step_ms: i64,
    grouping: Option<(bool, &[&str])>,
) -> SelectHints {
    SelectHints {
        step_ms,
        range_ms,
        func: func.map(str::to_string),
        grouping: grouping.map(|(by, labels)| Grouping {
            by,
            labels: labels.iter().map(|l| l.to_string()).collect(),
        }),
        ..SelectHints::default()
    }
}

/// A query, its step (instant when none), and the select hints per metric.
type Case = (&'static str, Option<i64>, Vec<(&'static str, SelectHints)>);

#[test]
fn hints_follow_the_expression() {
    let cases: Vec<Case> = vec![
        ("x", None, vec![("x", hints(None, 0, 0, None))]),
        (
            "rate(x[5m])",
            None,
            vec![("x", hints(Some("rate"), 300_000, 0, None))],
        ),
        (
            "sum by (job) (x)",
            None,
            vec![("x", hints(Some("sum"), 0, 0, Some((true, &["job"]))))],
        ),
        (
            "max without (instance) (rate(x[1m]))",
            Some(60_000),
            vec![("x", hints(Some("rate"), 60_000, 60_000, None))],
        ),
        (
            "sum(x) + rate(y[2m])",
            None,
            vec![
                ("x", hints(Some("sum"), 0, 0, Some((true, &[])))),
                ("y", hints(Some("rate"), 120_000, 0, None)),
            ],
        ),
        // A binary operator ends the search for an enclosing function.
        (
            "abs(x + y)",
            None,
            vec![
                ("x", hints(None, 0, 0, None)),
                ("y", hints(None, 0, 0, None)),
            ],
        ),
    ];
    for (query, step, want) in cases {
        let got = hints_of(query, step);
        let want: Vec<(String, SelectHints)> =
            want.into_iter().map(|(n, h)| (n.to_string(), h)).collect();
        assert_eq!(got, want, "{query}");
    }
}
