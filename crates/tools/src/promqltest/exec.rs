//! Running parsed commands against the engine, with upstream's checks.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use argus_model::labels::Labels;
use argus_model::memstore::MemStorage;
use argus_model::sample::is_stale_nan;
use argus_promql::{
    Annotations, Engine, EngineOptions, QueryContext, QueryError, QueryOutput, Value, VectorSample,
};

use super::rewrite::{
    AtCase, AtError, RE_QUERY_CONTEXT_FUNCS, at_modifier_cases, experimental_feature, selectors,
};
use super::script::{EvalCmd, ExpectMatch, LoadCmd};

/// Relative tolerance of value comparisons (upstream's `defaultEpsilon`).
pub const EPSILON: f64 = 0.000_001;

/// Upstream's `DefaultMaxSamplesPerQuery`.
pub const MAX_SAMPLES: usize = 10_000;

/// Upstream's per-query timeout in the test engine.
const QUERY_TIMEOUT: Duration = Duration::from_secs(100);

/// Upstream's `almost.Equal`: equal within a relative `epsilon`, stale
/// markers equal only to each other, any other NaN equal to NaN.
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if is_stale_nan(a) || is_stale_nan(b) {
        return is_stale_nan(a) && is_stale_nan(b);
    }
    argus_promql::functions::stats::almost_equal(a, b, epsilon)
}

/// The engine options of upstream's test engine.
pub fn test_engine_options() -> EngineOptions {
    EngineOptions {
        lookback_delta_ms: 5 * 60 * 1000,
        default_subquery_step_ms: 60 * 1000,
        max_samples: MAX_SAMPLES,
        delayed_name_removal: true,
        ..EngineOptions::default()
    }
}

pub enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

/// A series the in-memory store does not hold as upstream would.
struct Special {
    labels: Labels,
    what: &'static str,
    line: usize,
}

pub struct Runner {
    engine: Engine,
    storage: MemStorage,
    special: Vec<Special>,
    broken_load: Option<usize>,
    /// The first bad-data (parse) error the engine returned for this case.
    bad_data: Option<String>,
}

impl Default for Runner {
    fn default() -> Self {
        Runner::new()
    }
}

impl Runner {
    pub fn new() -> Runner {
        Runner {
            engine: Engine::new(test_engine_options()),
            storage: MemStorage::new(),
            special: Vec::new(),
            broken_load: None,
            bad_data: None,
        }
    }

    pub fn clear(&mut self) {
        self.storage.clear();
        self.special.clear();
        self.broken_load = None;
    }

    /// Marks the data as incomplete: the load at `line` did not parse.
    pub fn load_failed(&mut self, line: usize) {
        self.broken_load.get_or_insert(line);
    }

    pub fn load(&mut self, cmd: &LoadCmd) {
        for s in &cmd.series {
            if s.histogram {
                self.special.push(Special {
                    labels: s.labels.clone(),
                    what: "native histogram",
                    line: cmd.line,
                });
                continue;
            }
            let mut t = 0i64;
            for v in &s.values {
                if !v.omitted {
                    self.storage.append(s.labels.clone(), t, v.value);
                }
                t = t.saturating_add(cmd.interval_ms);
            }
        }
        for l in &cmd.st_series {
            self.special.push(Special {
                labels: l.clone(),
                what: "start-timestamp (@st)",
                line: cmd.line,
            });
        }
        if cmd.with_nhcb {
            for s in &cmd.series {
                let Some(name) = s.labels.metric_name() else {
                    continue;
                };
                let base = if let Some(b) = name.strip_suffix("_bucket") {
                    if s.labels.get("le").is_none() {
                        continue;
                    }
                    b
                } else if let Some(b) = name.strip_suffix("_count") {
                    b
                } else if let Some(b) = name.strip_suffix("_sum") {
                    b
                } else {
                    continue;
                };
                let mut lb = s.labels.builder();
                lb.set("__name__", base);
                lb.del("le");
                self.special.push(Special {
                    labels: lb.build(),
                    what: "native histogram (load_with_nhcb)",
                    line: cmd.line,
                });
            }
        }
    }

    fn ctx() -> QueryContext {
        QueryContext::new(Some(Instant::now() + QUERY_TIMEOUT), Default::default())
    }

    /// Runs a query, turning an engine panic into an error text.
    fn query(
        &mut self,
        expr: &str,
        range: Option<(i64, i64, i64)>,
        t: i64,
    ) -> Result<Result<QueryOutput, QueryError>, String> {
        let engine = &self.engine;
        let storage = &self.storage;
        let ctx = Runner::ctx();
        let r = catch_unwind(AssertUnwindSafe(|| match range {
            None => engine.instant(storage, expr, t, &ctx),
            Some((s, e, step)) => engine.range(storage, expr, s, e, step, &ctx),
        }));
        match r {
            Ok(res) => {
                if let Err(QueryError::BadData(m)) = &res {
                    self.bad_data.get_or_insert_with(|| m.clone());
                }
                Ok(res)
            }
            Err(p) => {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Err(format!("engine panicked evaluating {expr:?}: {msg}"))
            }
        }
    }

    pub fn eval(&mut self, cmd: &EvalCmd) -> Outcome {
        if cmd.expects_histogram {
            return Outcome::Skip("expected result holds native histogram values".into());
        }
        if let Some(l) = self.broken_load {
            return Outcome::Fail(format!(
                "the load at line {l} did not parse, so the data for this case is incomplete"
            ));
        }
        if !self.special.is_empty() {
            match selectors(&cmd.expr) {
                Ok(sels) => {
                    if let Some(s) = self
                        .special
                        .iter()
                        .find(|s| sels.iter().any(|m| m.matches(&s.labels)))
                    {
                        return Outcome::Skip(format!(
                            "reads {} series {} (loaded at line {})",
                            s.what, s.labels, s.line
                        ));
                    }
                }
                Err(_) => {
                    let s = &self.special[0];
                    let why = experimental_feature(&cmd.expr)
                        .map(|f| format!(" (it uses experimental syntax: {f})"))
                        .unwrap_or_default();
                    return Outcome::Skip(format!(
                        "data holds {} series (line {}) and the expression could not be \
                         parsed to tell whether it reads them{why}",
                        s.what, s.line
                    ));
                }
            }
        }
        self.bad_data = None;
        let r = if cmd.is_range {
            self.exec_range(cmd)
        } else {
            self.exec_instant(cmd)
        };
        match r {
            Ok(()) => Outcome::Pass,
            Err(msg) => {
                if let Some(bad) = &self.bad_data
                    && let Some(feature) = experimental_feature(&cmd.expr)
                {
                    return Outcome::Skip(format!(
                        "uses experimental syntax: {feature}, which the engine rejects: {bad}"
                    ));
                }
                Outcome::Fail(msg)
            }
        }
    }

    fn exec_range(&mut self, cmd: &EvalCmd) -> Result<(), String> {
        let expr = cmd.expr.as_str();
        let line = cmd.line;
        match self.query(expr, Some((cmd.start, cmd.end, cmd.step)), cmd.start)? {
            Err(e) => {
                if cmd.is_fail() {
                    check_expected_failure(cmd, &e)
                } else {
                    Err(format!(
                        "error evaluating query {expr:?} (line {line}): {e}"
                    ))
                }
            }
            Ok(res) => {
                if cmd.is_fail() {
                    return Err(format!(
                        "expected error evaluating query {expr:?} (line {line}) but got none"
                    ));
                }
                check_annotations(cmd, expr, &res.annotations)?;
                compare_result(cmd, &res.value)
                    .map_err(|e| format!("error in eval {expr} (line {line}): {e}"))
            }
        }
    }

    fn exec_instant(&mut self, cmd: &EvalCmd) -> Result<(), String> {
        let original = AtCase {
            expr: cmd.expr.clone(),
            eval_time: cmd.eval,
        };
        self.run_instant_query(&original, cmd)?;
        match at_modifier_cases(&cmd.expr, cmd.eval) {
            Ok(cases) => {
                for c in &cases {
                    self.run_instant_query(c, cmd)?;
                }
                Ok(())
            }
            // The original query already reported what is wrong with it.
            Err(AtError::Parse(_)) => Ok(()),
            Err(AtError::RoundTrip(e)) => Err(format!(
                "runner could not build the @-modifier variant of line {}: {e}",
                cmd.line
            )),
        }
    }

    fn run_instant_query(&mut self, iq: &AtCase, cmd: &EvalCmd) -> Result<(), String> {
        let expr = iq.expr.as_str();
        let line = cmd.line;
        let t = iq.eval_time;
        let res = match self.query(expr, None, t)? {
            Err(e) => {
                if cmd.is_fail() {
                    return check_expected_failure(cmd, &e);
                }
                return Err(format!(
                    "error evaluating query {expr:?} at {t}ms (line {line}): {e}"
                ));
            }
            Ok(res) => res,
        };
        if cmd.is_fail() {
            return Err(format!(
                "expected error evaluating query {expr:?} at {t}ms (line {line}) but got none"
            ));
        }
        check_annotations(cmd, expr, &res.annotations)?;
        compare_result(cmd, &res.value)
            .map_err(|e| format!("error in eval {expr} at {t}ms (line {line}): {e}"))?;

        if cmd.exclude_from_range_query || RE_QUERY_CONTEXT_FUNCS.is_match(expr) {
            return Ok(());
        }
        let range = self.query(expr, Some((t - 60_000, t + 60_000, 60_000)), t)?;
        let range = range.map_err(|e| {
            format!("error evaluating query {expr:?} at {t}ms (line {line}) in range mode: {e}")
        })?;
        if cmd.is_ordered() {
            return Ok(());
        }
        let Value::Matrix(mat) = &range.value else {
            return Err(format!(
                "range query for {expr:?} (line {line}) returned a {}, not a matrix",
                range.value.result_type()
            ));
        };
        assert_matrix_sorted(mat).map_err(|e| e.to_string())?;
        let vec: Vec<VectorSample> = mat
            .iter()
            .filter_map(|s| {
                s.samples.iter().find(|p| p.t == t).map(|p| VectorSample {
                    labels: s.labels.clone(),
                    t: p.t,
                    v: p.v,
                })
            })
            .collect();
        let r = if matches!(res.value, Value::Scalar { .. }) {
            match vec.first() {
                Some(s) => {
                    compare_result(cmd, &Value::Scalar { t, v: s.v }).map_err(|e| e.to_string())
                }
                None => Err("range mode returned no value at the evaluation time".to_string()),
            }
        } else {
            compare_result(cmd, &Value::Vector(vec)).map_err(|e| e.to_string())
        };
        r.map_err(|e| format!("error in eval {expr} at {t}ms (line {line}) range mode: {e}"))
    }
}

fn check_expected_failure(cmd: &EvalCmd, err: &QueryError) -> Result<(), String> {
    let actual = err.to_string();
    let (expr, line) = (&cmd.expr, cmd.line);
    if !cmd.expected_fail_message.is_empty() && cmd.expected_fail_message != actual {
        return Err(format!(
            "expected error {:?} evaluating query {expr:?} (line {line}), but got: {actual}",
            cmd.expected_fail_message
        ));
    }
    if let Some(r) = &cmd.expected_fail_regexp
        && !r.is_match(&actual)
    {
        return Err(format!(
            "expected error matching pattern {:?} evaluating query {expr:?} (line {line}), but \
             got: {actual}",
            r.as_str()
        ));
    }
    if let Some(f) = cmd.expect.fail.first()
        && !f.check(&actual)
    {
        return Err(format!(
            "expected error matching {:?} evaluating query {expr:?} (line {line}), but got: \
             {actual}",
            f.describe().1
        ));
    }
    Ok(())
}

fn validate_expected(
    expr: &str,
    expected: &[ExpectMatch],
    actual: &[&str],
    line: usize,
    kind: &str,
) -> Result<(), String> {
    if expected.is_empty() {
        return Ok(());
    }
    if actual.is_empty() {
        return Err(format!(
            "expected {kind} annotations but none were found for query {expr:?} (line {line})"
        ));
    }
    for e in expected {
        if !actual.iter().any(|a| e.check(a)) {
            let (t, s) = e.describe();
            return Err(format!(
                "expected {kind} annotation matching {t} {s:?} but no matching annotation was \
                 found for query {expr:?} (line {line}), found: {actual:?}"
            ));
        }
    }
    for a in actual {
        if !expected.iter().any(|e| e.check(a)) {
            return Err(format!(
                "unexpected {kind} annotation {a:?} found for query {expr} (line {line})"
            ));
        }
    }
    Ok(())
}

fn check_annotations(cmd: &EvalCmd, expr: &str, annos: &Annotations) -> Result<(), String> {
    let warnings: Vec<&str> = annos.warnings().collect();
    let infos: Vec<&str> = annos.infos().collect();
    let line = cmd.line;
    if cmd.warn && warnings.is_empty() {
        return Err(format!(
            "expected warnings evaluating query {expr:?} (line {line}) but got none"
        ));
    }
    if cmd.info && infos.is_empty() {
        return Err(format!(
            "expected info annotations evaluating query {expr:?} (line {line}) but got none"
        ));
    }
    validate_expected(expr, &cmd.expect.warn, &warnings, line, "warn")?;
    validate_expected(expr, &cmd.expect.info, &infos, line, "info")?;
    if !cmd.expect.no_warn.is_empty() && !warnings.is_empty() {
        return Err(format!(
            "unexpected warning annotations evaluating query {expr:?} (line {line}): {warnings:?}"
        ));
    }
    if !cmd.expect.no_info.is_empty() && !infos.is_empty() {
        return Err(format!(
            "unexpected info annotations evaluating query {expr:?} (line {line}): {infos:?}"
        ));
    }
    Ok(())
}

/// How a result differs from the expectation: upstream's `compareResult`
/// messages.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResultMismatch {
    #[error("expected ordered result, but query returned a matrix")]
    OrderedMatrix,
    #[error("expected scalar result, but got matrix with {series} series")]
    ScalarGotMatrix { series: usize },
    #[error(
        "matrix results should always be sorted by labels, but matrix is not sorted: series at \
         index {} with labels {labels} sorts before series at index {index} with labels {previous}",
        .index + 1
    )]
    Unsorted {
        /// Index of the earlier series, which sorts after the next one.
        index: usize,
        labels: Labels,
        previous: Labels,
    },
    #[error("unexpected metric {labels} in result, has {points}")]
    UnexpectedSeries { labels: Labels, points: String },
    #[error(
        "expected {expected} points for {labels}, but query time range cannot return this many \
         points"
    )]
    TooManyPoints { expected: usize, labels: Labels },
    #[error(
        "expected {expected} float points and 0 histogram points for {labels}, but got {points}"
    )]
    PointCount {
        expected: usize,
        labels: Labels,
        points: String,
    },
    #[error(
        "expected float value at index {index} for {labels} to have timestamp {want}, but it had \
         timestamp {got} (result has {points})"
    )]
    Timestamp {
        index: usize,
        labels: Labels,
        want: i64,
        got: i64,
        points: String,
    },
    #[error(
        "expected float value at index {index} (t={t}) for {labels} to be {want}, but got {got} \
         (result has {points})"
    )]
    Value {
        index: usize,
        t: i64,
        labels: Labels,
        want: f64,
        got: f64,
        points: String,
    },
    #[error("expected metric {0} not found")]
    MissingSeries(Labels),
    #[error("expected scalar result, but got vector of {samples} samples")]
    ScalarGotVector { samples: usize },
    #[error("unexpected metric {labels} in result, has value {value}")]
    UnexpectedSample { labels: Labels, value: f64 },
    #[error("expected metric {labels} at position {want} but was at {got}")]
    Position {
        labels: Labels,
        want: usize,
        got: usize,
    },
    #[error("no expected value given for {0}")]
    NoExpectedValue(Labels),
    #[error("expected {want} for {labels} but got {got}")]
    SampleValue { labels: Labels, want: f64, got: f64 },
    #[error("expected metric {labels} with [{values}] not found")]
    MissingSample { labels: Labels, values: String },
    #[error("expected vector or matrix result, but got scalar {0}")]
    UnexpectedScalar(f64),
    #[error("expected scalar {want} but got {got}")]
    ScalarValue { want: f64, got: f64 },
    #[error("expected string \"{want}\" but got \"{got}\"")]
    StringValue { want: String, got: String },
}

fn assert_matrix_sorted(m: &[argus_promql::MatrixSeries]) -> Result<(), ResultMismatch> {
    for (i, w) in m.windows(2).enumerate() {
        if w[0].labels > w[1].labels {
            return Err(ResultMismatch::Unsorted {
                index: i,
                labels: w[1].labels.clone(),
                previous: w[0].labels.clone(),
            });
        }
    }
    Ok(())
}

fn fmt_points(s: &[argus_model::sample::Sample]) -> String {
    let pts: Vec<String> = s.iter().map(|p| format!("{} @[{}]", p.v, p.t)).collect();
    format!("{} float point(s) [{}]", s.len(), pts.join(" "))
}

/// Upstream's `compareResult`.
pub fn compare_result(cmd: &EvalCmd, value: &Value) -> Result<(), ResultMismatch> {
    use ResultMismatch as M;
    match value {
        Value::Matrix(mat) => {
            if cmd.is_ordered() {
                return Err(M::OrderedMatrix);
            }
            if cmd.expect_scalar {
                return Err(M::ScalarGotMatrix { series: mat.len() });
            }
            assert_matrix_sorted(mat)?;
            let mut seen = std::collections::HashSet::new();
            for s in mat {
                let Some(exp) = cmd.metrics.get(&s.labels) else {
                    return Err(M::UnexpectedSeries {
                        labels: s.labels.clone(),
                        points: fmt_points(&s.samples),
                    });
                };
                seen.insert(&s.labels);
                let mut expected: Vec<(i64, f64)> = Vec::new();
                for (i, e) in exp.vals.iter().enumerate() {
                    let ts = (i as i64)
                        .checked_mul(cmd.step)
                        .and_then(|d| cmd.start.checked_add(d))
                        .unwrap_or(i64::MAX);
                    if ts > cmd.end {
                        return Err(M::TooManyPoints {
                            expected: exp.vals.len(),
                            labels: s.labels.clone(),
                        });
                    }
                    if !e.omitted {
                        expected.push((ts, e.value));
                    }
                }
                if expected.len() != s.samples.len() {
                    return Err(M::PointCount {
                        expected: expected.len(),
                        labels: s.labels.clone(),
                        points: fmt_points(&s.samples),
                    });
                }
                for (i, ((et, ev), a)) in expected.iter().zip(&s.samples).enumerate() {
                    if *et != a.t {
                        return Err(M::Timestamp {
                            index: i,
                            labels: s.labels.clone(),
                            want: *et,
                            got: a.t,
                            points: fmt_points(&s.samples),
                        });
                    }
                    if !almost_equal(a.v, *ev, EPSILON) {
                        return Err(M::Value {
                            index: i,
                            t: a.t,
                            labels: s.labels.clone(),
                            want: *ev,
                            got: a.v,
                            points: fmt_points(&s.samples),
                        });
                    }
                }
            }
            for l in &cmd.metric_order {
                if !seen.contains(l) {
                    return Err(M::MissingSeries(l.clone()));
                }
            }
            Ok(())
        }
        Value::Vector(vec) => {
            if cmd.expect_scalar {
                return Err(M::ScalarGotVector { samples: vec.len() });
            }
            let mut seen = std::collections::HashSet::new();
            for (pos, v) in vec.iter().enumerate() {
                let Some(exp) = cmd.metrics.get(&v.labels) else {
                    return Err(M::UnexpectedSample {
                        labels: v.labels.clone(),
                        value: v.v,
                    });
                };
                if cmd.is_ordered() && exp.pos != pos + 1 {
                    return Err(M::Position {
                        labels: v.labels.clone(),
                        want: exp.pos,
                        got: pos + 1,
                    });
                }
                let Some(e0) = exp.vals.first() else {
                    return Err(M::NoExpectedValue(v.labels.clone()));
                };
                if !almost_equal(e0.value, v.v, EPSILON) {
                    return Err(M::SampleValue {
                        labels: v.labels.clone(),
                        want: e0.value,
                        got: v.v,
                    });
                }
                seen.insert(&v.labels);
            }
            for l in &cmd.metric_order {
                if !seen.contains(l) {
                    let vals: Vec<String> = cmd
                        .metrics
                        .get(l)
                        .map(|e| e.vals.iter().map(|v| v.value.to_string()).collect())
                        .unwrap_or_default();
                    return Err(M::MissingSample {
                        labels: l.clone(),
                        values: vals.join(" "),
                    });
                }
            }
            Ok(())
        }
        Value::Scalar { v, .. } => {
            if !cmd.expect_scalar {
                return Err(M::UnexpectedScalar(*v));
            }
            let exp = cmd
                .scalar
                .as_ref()
                .and_then(|e| e.vals.first())
                .map_or(0.0, |e| e.value);
            if !almost_equal(exp, *v, EPSILON) {
                return Err(M::ScalarValue { want: exp, got: *v });
            }
            Ok(())
        }
        Value::String { s, .. } => {
            if cmd.expected_string != *s {
                return Err(M::StringValue {
                    want: cmd.expected_string.clone(),
                    got: s.clone(),
                });
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_model::sample::stale_nan;

    #[test]
    fn almost_equal_matches_upstream() {
        assert!(almost_equal(1.0, 1.0, EPSILON));
        assert!(almost_equal(1.0, 1.0 + 1e-9, EPSILON));
        assert!(!almost_equal(1.0, 1.001, EPSILON));
        assert!(almost_equal(f64::NAN, f64::NAN, EPSILON));
        assert!(!almost_equal(f64::NAN, stale_nan(), EPSILON));
        assert!(almost_equal(stale_nan(), stale_nan(), EPSILON));
        assert!(almost_equal(f64::INFINITY, f64::INFINITY, EPSILON));
        assert!(!almost_equal(f64::INFINITY, f64::NEG_INFINITY, EPSILON));
        assert!(!almost_equal(0.0, 1e-300, EPSILON));
        assert!(almost_equal(0.0, -0.0, EPSILON));
    }
}
