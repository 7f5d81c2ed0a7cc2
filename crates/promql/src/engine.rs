//! The query entry points and their options.

use std::time::Instant;

use argus_model::cancel::CancelToken;
use argus_model::error::ErrorKind;
use argus_model::matcher::Matcher;
use argus_model::storage::{Queryable, ReadContext};

use argus_model::labels::Labels;
use argus_model::sample::Sample;
use promql_parser::parser::Expr;
use promql_parser::parser::value::ValueType;

use crate::error::QueryError;
use crate::eval::{Evaluator, Val};
use crate::series::{Grid, Series, is_present};
use crate::value::{MatrixSeries, QueryOutput, Value, VectorSample};

/// Engine settings, named after Prometheus's flags.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// `--query.lookback-delta`: how far back an instant selector looks for
    /// the latest sample, ms.
    pub lookback_delta_ms: i64,
    /// Step of subqueries written without one (`x[1h:]`): the global
    /// `evaluation_interval`, ms.
    pub default_subquery_step_ms: i64,
    /// `--query.max-samples`: samples held in memory at once by one query.
    pub max_samples: usize,
    /// Keep `__name__` through name-dropping functions until the end of
    /// evaluation, so `label_replace(rate(x[1m]), ...)` can still see it
    /// (Prometheus's `promql-delayed-name-removal` feature).
    pub delayed_name_removal: bool,
    /// How deeply an expression may nest (operators, calls, aggregations,
    /// subqueries and parentheses); deeper queries are refused as
    /// `bad_data` before they are parsed.
    pub max_depth: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: 5 * 60 * 1000,
            default_subquery_step_ms: 60 * 1000,
            max_samples: 50_000_000,
            delayed_name_removal: false,
            max_depth: crate::depth::DEFAULT_MAX_DEPTH,
        }
    }
}

/// Per-query controls: the read context every select of the query
/// carries to storage (a deadline, a cancellation token the HTTP API
/// cancels when the client disconnects, per-select read limits).
#[derive(Debug, Clone, Default)]
pub struct QueryContext {
    pub read: ReadContext,
}

impl QueryContext {
    pub fn new(deadline: Option<Instant>, cancel: CancelToken) -> QueryContext {
        QueryContext {
            read: ReadContext::new(deadline, cancel),
        }
    }

    /// An error if the query must stop now; `stage` names where, for the
    /// message ("query timed out in series selection").
    pub fn check(&self, stage: &'static str) -> Result<(), QueryError> {
        match self.read.interruption() {
            None => Ok(()),
            Some(ErrorKind::Canceled) => Err(QueryError::Canceled(stage)),
            Some(_) => Err(QueryError::Timeout(stage)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Engine {
    opts: EngineOptions,
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Engine {
        Engine { opts }
    }

    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `query` at time `t` (ms).
    pub fn instant(
        &self,
        storage: &dyn Queryable,
        query: &str,
        t: i64,
        ctx: &QueryContext,
    ) -> Result<QueryOutput, QueryError> {
        let expr = parse_bounded(query, self.opts.max_depth)?;
        let t = clamp_time(t);
        let grid = Grid {
            start: t,
            end: t,
            step: 1,
        };
        let mut ev = Evaluator::new(query, storage, &self.opts, ctx, t, t);
        let val = ev.eval(&expr, &grid)?;
        let value = match val {
            Val::Scalar(v) => Value::Scalar {
                t,
                v: v.first().copied().unwrap_or(f64::NAN),
            },
            Val::String(s) => Value::String { t, s },
            Val::Vector(series) => {
                let series = self.cleanup(&mut ev, series)?;
                Value::Vector(
                    series
                        .into_iter()
                        .filter(|s| is_present(s.values[0]))
                        .map(|s| VectorSample {
                            labels: s.labels,
                            t,
                            v: s.values[0],
                        })
                        .collect(),
                )
            }
            Val::Matrix(mut m) => {
                m.sort_by(|a, b| a.labels.cmp(&b.labels));
                Value::Matrix(m)
            }
        };
        Ok(QueryOutput {
            value,
            annotations: ev.annotations.with_storage_warnings(&ctx.read),
            samples_loaded: ev.samples_loaded,
        })
    }

    /// Evaluates `query` at every step from `start` to `end` inclusive (ms).
    /// The result is a matrix; `query` must be a scalar or instant vector.
    pub fn range(
        &self,
        storage: &dyn Queryable,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
        ctx: &QueryContext,
    ) -> Result<QueryOutput, QueryError> {
        if step <= 0 {
            return Err(QueryError::BadData(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end < start {
            return Err(QueryError::BadData(
                "end timestamp must not be before start time".into(),
            ));
        }
        let expr = parse_bounded(query, self.opts.max_depth)?;
        match expr.value_type() {
            ValueType::Scalar | ValueType::Vector => {}
            other => {
                return Err(QueryError::BadData(format!(
                    "invalid expression type {:?} for range query, must be Scalar or instant Vector",
                    type_name(other)
                )));
            }
        }
        let (start, end) = (clamp_time(start), clamp_time(end));
        let step = step.min(crate::eval::MAX_DURATION_MS);
        let grid = Grid { start, end, step };
        let mut ev = Evaluator::new(query, storage, &self.opts, ctx, start, end);
        if end > start {
            ev.query_step = step;
        }
        // One series over the grid must fit before any is built.
        ev.ensure_room(crate::series::slots_cost(grid.len()))?;
        let series = match ev.eval(&expr, &grid)? {
            Val::Scalar(v) => vec![Series {
                labels: Labels::empty(),
                drop_name: false,
                values: v,
            }],
            Val::Vector(series) => self.cleanup(&mut ev, series)?,
            _ => {
                return Err(QueryError::BadData(
                    "range queries need a scalar or instant vector expression".into(),
                ));
            }
        };
        let mut matrix: Vec<MatrixSeries> = series
            .into_iter()
            .filter_map(|s| {
                let samples: Vec<Sample> = s
                    .values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| is_present(**v))
                    .map(|(i, v)| Sample::new(grid.time(i), *v))
                    .collect();
                (!samples.is_empty()).then_some(MatrixSeries {
                    labels: s.labels,
                    samples,
                })
            })
            .collect();
        matrix.sort_by(|a, b| a.labels.cmp(&b.labels));
        ctx.check("expression evaluation")?;
        Ok(QueryOutput {
            value: Value::Matrix(matrix),
            annotations: ev.annotations.with_storage_warnings(&ctx.read),
            samples_loaded: ev.samples_loaded,
        })
    }

    /// Delayed name removal: drop `__name__` where marked, then merge
    /// series that became equal.
    fn cleanup(
        &self,
        ev: &mut Evaluator<'_>,
        mut series: Vec<Series>,
    ) -> Result<Vec<Series>, QueryError> {
        if !self.opts.delayed_name_removal {
            return Ok(series);
        }
        for s in &mut series {
            if s.drop_name {
                s.labels = crate::series::drop_metric_labels(&s.labels);
                s.drop_name = false;
            }
        }
        ev.merge_same_labels(series)
    }
}

pub(crate) fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Vector => "instant vector",
        ValueType::Scalar => "scalar",
        ValueType::Matrix => "range vector",
        ValueType::String => "string",
    }
}

/// Evaluation times are kept within ±2^61 ms (73 million years), and
/// durations within 2^60 ms, so that time arithmetic on a few of them
/// cannot overflow; no data lies beyond either.
pub(crate) fn clamp_time(t: i64) -> i64 {
    const LIMIT: i64 = 1 << 61;
    t.clamp(-LIMIT, LIMIT)
}

/// Parses PromQL, reporting errors in Prometheus's words, after checking
/// that it nests no deeper than `max_depth`. The tree comes back wrapped
/// so that dropping it does not recurse.
pub(crate) fn parse_bounded(query: &str, max_depth: usize) -> Result<ParsedExpr, QueryError> {
    let depth = crate::depth::check_depth(query, max_depth)?;
    crate::literals::check_duration_literals(query)?;
    crate::literals::check_regex_literals(query)?;
    // The parser recurses (and clones subtrees) once per level: make sure
    // it has a stack sized for the depth, generous enough for debug-build
    // frames; shallow queries fit on the thread's own and allocate none.
    let stack = 1024 * 1024 + depth * 32 * 1024;
    stacker::maybe_grow(stack, stack, || {
        promql_parser::parser::parse(query)
            .map(ParsedExpr)
            .map_err(|e| QueryError::BadData(crate::parse_error::describe(query, &e)))
    })
}

/// `/api/v1/format_query`: the expression printed as Prometheus's
/// `Expr.Pretty(0)` prints it, after the same checks as a query.
pub fn format_query(query: &str, max_depth: usize) -> Result<String, QueryError> {
    let expr = parse_bounded(query, max_depth)?;
    let depth = crate::depth::check_depth(query, max_depth)?;
    let stack = 1024 * 1024 + depth * 32 * 1024;
    Ok(stacker::maybe_grow(stack, stack, || expr.prettify()))
}

/// A parsed expression that is taken apart iteratively when dropped: the
/// parser's own `Drop` recurses once per level.
pub(crate) struct ParsedExpr(pub Expr);

impl std::ops::Deref for ParsedExpr {
    type Target = Expr;
    fn deref(&self) -> &Expr {
        &self.0
    }
}

impl Drop for ParsedExpr {
    fn drop(&mut self) {
        let leaf = || Expr::NumberLiteral(promql_parser::parser::NumberLiteral { val: 0.0 });
        let mut pending = vec![std::mem::replace(&mut self.0, leaf())];
        while let Some(mut e) = pending.pop() {
            let mut take = |b: &mut Box<Expr>| pending.push(std::mem::replace(&mut **b, leaf()));
            match &mut e {
                Expr::Aggregate(a) => {
                    take(&mut a.expr);
                    if let Some(p) = &mut a.param {
                        take(p);
                    }
                }
                Expr::Unary(u) => take(&mut u.expr),
                Expr::Binary(b) => {
                    take(&mut b.lhs);
                    take(&mut b.rhs);
                }
                Expr::Paren(p) => take(&mut p.expr),
                Expr::Subquery(s) => take(&mut s.expr),
                Expr::Call(c) => c.args.args.iter_mut().for_each(take),
                Expr::NumberLiteral(_)
                | Expr::StringLiteral(_)
                | Expr::VectorSelector(_)
                | Expr::MatrixSelector(_)
                | Expr::Extension(_) => {}
            }
            // `e` now holds only leaves and drops without recursing.
        }
    }
}

/// Checks that `expr` parses as the engine would parse it for a query
/// (same depth limit and literal checks), reporting errors in Prometheus's
/// words (`1:5: parse error: ...`). Used to validate rule files.
pub fn validate_expr(expr: &str) -> Result<(), QueryError> {
    parse_bounded(expr, crate::depth::DEFAULT_MAX_DEPTH).map(drop)
}

/// Parses a series selector such as `up{job="x"}` (the `match[]` parameter
/// of the series and label APIs) into storage matchers.
pub fn parse_selector(selector: &str) -> Result<Vec<Matcher>, QueryError> {
    let parsed = parse_bounded(selector, crate::depth::DEFAULT_MAX_DEPTH)?;
    match &*parsed {
        Expr::VectorSelector(vs) => {
            let mut sets = crate::eval::selector_matchers(vs)?;
            if sets.len() != 1 {
                return Err(QueryError::BadData(
                    "\"or\" is not supported in series selectors".into(),
                ));
            }
            Ok(sets.remove(0))
        }
        _ => Err(QueryError::BadData(format!(
            "1:1: parse error: expected vector selector, got {selector:?}"
        ))),
    }
}
