//! The evaluator: walks the parsed expression once, each node producing
//! its values for every step of the grid at once.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use argus_model::labels::{Labels, METRIC_NAME};
use argus_model::matcher::{MatchType, Matcher};
use argus_model::sample::{Sample, is_stale_nan};
use argus_model::storage::{
    Grouping, MergeSeries, OnEqualLabels, Queryable, SelectHints, SelectRequest, SeriesSource,
    SeriesStream,
};
use promql_parser::label::{MatchOp, Matcher as ParserMatcher};
use promql_parser::parser::{AtModifier, Call, Expr, Offset, SubqueryExpr, VectorSelector};

use crate::annotations::Annotations;
use crate::engine::{EngineOptions, QueryContext};
use crate::error::QueryError;
use crate::functions::range::{
    RangeFunc, SmoothingParamError, Window, eval_range_at, possible_non_counter_info,
    validate_smoothing_params,
};
use crate::series::{Grid, Series, is_present, sanitize, slots_cost};
use crate::value::MatrixSeries;

/// The value of an expression over a grid.
pub(crate) enum Val {
    Scalar(Vec<f64>),
    String(String),
    Vector(Vec<Series>),
    /// Only for a range vector at the top of an instant query.
    Matrix(Vec<MatrixSeries>),
}

pub(crate) struct Evaluator<'a> {
    /// The query text, to name positions in annotations.
    pub query: &'a str,
    pub storage: &'a dyn Queryable,
    pub opts: &'a EngineOptions,
    pub ctx: &'a QueryContext,
    /// Start and end of the whole query, for `@ start()` / `@ end()`.
    pub query_start: i64,
    pub query_end: i64,
    /// Step of a range query, 0 for an instant query (for `step()`).
    pub query_step: i64,
    pub annotations: Annotations,
    /// Samples held in memory now, checked against `max_samples`.
    held: usize,
    pub samples_loaded: u64,
    /// The nearest enclosing function or aggregation and the grouping of a
    /// directly enclosing aggregation, handed to storage as select hints
    /// (as Prometheus's `extractFuncFromPath`/`extractGroupsFromPath`).
    hint_func: Option<String>,
    hint_grouping: Option<Grouping>,
}

/// Samples of one series from a range source (a range selector or a
/// subquery), stale markers removed.
pub(crate) struct RangeInput {
    pub labels: Labels,
    pub drop_name: bool,
    pub samples: Vec<Sample>,
}

/// The series of a range-vector argument, decoded one at a time: storage
/// series are pulled from the storage's stream and stay compressed until
/// their turn.
pub(crate) enum RangeSource<'a> {
    Storage {
        series: SeriesStream<'a>,
        mint: i64,
        maxt: i64,
    },
    Computed(std::vec::IntoIter<RangeInput>),
}

impl RangeSource<'_> {
    /// Whether the samples were charged against the limit when computed
    /// (a subquery's), rather than as each series is decoded.
    pub fn is_precharged(&self) -> bool {
        matches!(self, RangeSource::Computed(_))
    }

    /// Fills `buf` with the next series' samples (stale markers removed)
    /// and returns its labels and whether its name is to be dropped.
    pub fn next_into(
        &mut self,
        buf: &mut Vec<Sample>,
    ) -> Result<Option<(Labels, bool)>, QueryError> {
        buf.clear();
        match self {
            RangeSource::Storage { series, mint, maxt } => {
                let Some(s) = series.next().transpose()? else {
                    return Ok(None);
                };
                buf.extend(
                    s.samples(*mint, *maxt)
                        .filter(|x| !is_stale_nan(x.v))
                        .map(|x| Sample::new(x.t, sanitize(x.v))),
                );
                Ok(Some((s.labels, false)))
            }
            RangeSource::Computed(inputs) => {
                let Some(mut i) = inputs.next() else {
                    return Ok(None);
                };
                std::mem::swap(buf, &mut i.samples);
                Ok(Some((i.labels, i.drop_name)))
            }
        }
    }
}

/// Stack left when evaluation moves to a new segment, and that segment's
/// size: generous, since debug builds use large frames.
const STACK_RED_ZONE: usize = 256 * 1024;
const STACK_SEGMENT: usize = 4 * 1024 * 1024;

/// The value type of `expr` in Prometheus's words, for errors (printing the
/// expression itself would recurse through it).
fn type_name(expr: &Expr) -> &'static str {
    crate::engine::type_name(expr.value_type())
}

/// The longest duration evaluation works with (see [`crate::engine::clamp_time`]).
pub(crate) const MAX_DURATION_MS: i64 = 1 << 60;

pub(crate) fn duration_ms(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).map_or(MAX_DURATION_MS, |ms| ms.min(MAX_DURATION_MS))
}

pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(d),
        Some(Offset::Neg(d)) => -duration_ms(d),
    }
}

fn system_time_ms(t: &SystemTime) -> i64 {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    crate::engine::clamp_time(match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => ms(d),
        Err(e) => -ms(e.duration()),
    })
}

impl<'a> Evaluator<'a> {
    pub fn new(
        query: &'a str,
        storage: &'a dyn Queryable,
        opts: &'a EngineOptions,
        ctx: &'a QueryContext,
        query_start: i64,
        query_end: i64,
    ) -> Self {
        Evaluator {
            query,
            storage,
            opts,
            ctx,
            query_start,
            query_end,
            query_step: 0,
            annotations: Annotations::default(),
            held: 0,
            samples_loaded: 0,
            hint_func: None,
            hint_grouping: None,
        }
    }

    /// Evaluates `f` with the select hints of a node: `func` replaces the
    /// enclosing function name when given (`Some(None)` clears it, as a
    /// binary operator does), `grouping` always replaces the grouping.
    fn with_hints<T>(
        &mut self,
        func: Option<Option<String>>,
        grouping: Option<Grouping>,
        f: impl FnOnce(&mut Self) -> T,
    ) -> T {
        let saved_func = match func {
            Some(func) => Some(std::mem::replace(&mut self.hint_func, func)),
            None => None,
        };
        let saved_grouping = std::mem::replace(&mut self.hint_grouping, grouping);
        let out = f(self);
        if let Some(func) = saved_func {
            self.hint_func = func;
        }
        self.hint_grouping = saved_grouping;
        out
    }

    /// ` (line:col)` of a call or one of its arguments, for annotations.
    pub fn position(&self, name: &str, arg: Option<usize>) -> String {
        crate::position::call_position(self.query, name, arg)
    }

    pub fn check(&self) -> Result<(), QueryError> {
        self.ctx.check("expression evaluation")
    }

    /// Accounts `n` more samples held in memory.
    pub fn charge(&mut self, n: usize) -> Result<(), QueryError> {
        self.held += n;
        if self.held > self.opts.max_samples {
            return Err(QueryError::TooManySamples("expression evaluation"));
        }
        Ok(())
    }

    /// Fails when `n` more samples would not fit under the limit; called
    /// before allocating, so memory is never taken beyond it.
    pub fn ensure_room(&self, n: usize) -> Result<(), QueryError> {
        if self.held.saturating_add(n) > self.opts.max_samples {
            return Err(QueryError::TooManySamples("expression evaluation"));
        }
        Ok(())
    }

    /// Samples that may still be taken before the limit.
    pub fn room(&self) -> usize {
        self.opts.max_samples.saturating_sub(self.held)
    }

    pub fn release(&mut self, n: usize) {
        self.held = self.held.saturating_sub(n);
    }

    pub fn release_series(&mut self, series: &[Series]) {
        let n = series.iter().map(Series::cost).sum();
        self.release(n);
    }

    pub fn at_time(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
            Some(AtModifier::At(t)) => Some(system_time_ms(t)),
        }
    }

    /// Evaluates `expr`, growing the stack onto the heap when a deep tree
    /// nears its end (the depth is bounded by `max_depth` before parsing).
    pub fn eval(&mut self, expr: &Expr, grid: &Grid) -> Result<Val, QueryError> {
        stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || self.eval_node(expr, grid))
    }

    fn eval_node(&mut self, expr: &Expr, grid: &Grid) -> Result<Val, QueryError> {
        self.check()?;
        match expr {
            Expr::NumberLiteral(n) => {
                self.ensure_room(slots_cost(grid.len()))?;
                Ok(Val::Scalar(vec![n.val; grid.len()]))
            }
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, grid),
            Expr::VectorSelector(vs) => {
                Ok(Val::Vector(self.eval_vector_selector(vs, grid, false)?))
            }
            Expr::MatrixSelector(_) => {
                if !grid.is_instant() {
                    return Err(QueryError::BadData(
                        "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector".into(),
                    ));
                }
                self.eval_matrix_selector_top(expr, grid)
            }
            Expr::Subquery(sq) => {
                if !grid.is_instant() {
                    return Err(QueryError::BadData(
                        "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector".into(),
                    ));
                }
                let inputs = self.eval_subquery(sq, grid)?;
                Ok(Val::Matrix(
                    inputs
                        .into_iter()
                        .filter(|i| !i.samples.is_empty())
                        .map(|i| MatrixSeries {
                            labels: if i.drop_name && !self.opts.delayed_name_removal {
                                crate::series::drop_metric_labels(&i.labels)
                            } else {
                                i.labels
                            },
                            samples: i.samples,
                        })
                        .collect(),
                ))
            }
            Expr::Unary(u) => match self.eval(&u.expr, grid)? {
                Val::Scalar(mut v) => {
                    v.iter_mut().for_each(|x| *x = -*x);
                    Ok(Val::Scalar(v))
                }
                Val::Vector(mut series) => {
                    for s in &mut series {
                        s.values.iter_mut().for_each(|x| {
                            if is_present(*x) {
                                *x = -*x
                            }
                        });
                        self.mark_drop_name(s);
                    }
                    Ok(Val::Vector(self.merge_same_labels(series)?))
                }
                _ => Err(QueryError::BadData(
                    "unary expression only allowed on expressions of type scalar or instant vector"
                        .into(),
                )),
            },
            Expr::Binary(b) => self.with_hints(Some(None), None, |ev| {
                crate::binary::eval_binary(ev, b, grid)
            }),
            Expr::Aggregate(a) => {
                let grouping = Some(crate::aggregate::Grouping::hint(&a.modifier));
                self.with_hints(Some(Some(a.op.to_string())), grouping, |ev| {
                    crate::aggregate::eval_aggregate(ev, a, grid)
                })
            }
            Expr::Call(c) => self.with_hints(Some(Some(c.func.name.to_string())), None, |ev| {
                ev.eval_call(c, grid)
            }),
            Expr::Extension(_) => Err(QueryError::BadData("unsupported expression".into())),
        }
    }

    pub fn eval_vector(&mut self, expr: &Expr, grid: &Grid) -> Result<Vec<Series>, QueryError> {
        match self.eval(expr, grid)? {
            Val::Vector(v) => Ok(v),
            _ => Err(QueryError::BadData(format!(
                "expected instant vector, got {}",
                type_name(expr)
            ))),
        }
    }

    /// Evaluates an instant-vector expression handing each series to
    /// `sink`; selectors and range functions stream without materialising
    /// the whole vector.
    pub fn eval_vector_each(
        &mut self,
        expr: &Expr,
        grid: &Grid,
        sink: &mut dyn FnMut(Series) -> Result<(), QueryError>,
    ) -> Result<(), QueryError> {
        match expr {
            Expr::Paren(p) => stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || {
                self.eval_vector_each(&p.expr, grid, sink)
            }),
            Expr::VectorSelector(vs) => self.vector_selector_each(vs, grid, false, sink),
            Expr::Call(c) if RangeFunc::from_name(c.func.name).is_some() => {
                let f = RangeFunc::from_name(c.func.name).ok_or_else(|| {
                    QueryError::BadData(format!("unknown function {}", c.func.name))
                })?;
                self.with_hints(Some(Some(c.func.name.to_string())), None, |ev| {
                    ev.range_call_each(f, c, grid, sink)
                })
            }
            _ => {
                let series = self.eval_vector(expr, grid)?;
                self.release_series(&series);
                for s in series {
                    sink(s)?;
                }
                Ok(())
            }
        }
    }

    pub fn eval_scalar(&mut self, expr: &Expr, grid: &Grid) -> Result<Vec<f64>, QueryError> {
        match self.eval(expr, grid)? {
            Val::Scalar(v) => Ok(v),
            _ => Err(QueryError::BadData(format!(
                "expected scalar, got {}",
                type_name(expr)
            ))),
        }
    }

    /// Marks `__name__` for removal: at once, or at the end of evaluation
    /// with delayed name removal.
    pub fn mark_drop_name(&self, s: &mut Series) {
        if self.opts.delayed_name_removal {
            s.drop_name = true;
        } else if crate::series::has_metric_labels(&s.labels) {
            s.labels = crate::series::drop_metric_labels(&s.labels);
        }
    }

    /// Series whose label sets became equal are merged into one; two values
    /// at the same step are an error, as in Prometheus.
    pub fn merge_same_labels(&mut self, series: Vec<Series>) -> Result<Vec<Series>, QueryError> {
        if series.len() < 2 {
            return Ok(series);
        }
        let mut index: HashMap<Labels, usize> = HashMap::with_capacity(series.len());
        let mut out: Vec<Series> = Vec::with_capacity(series.len());
        for s in series {
            match index.get(&s.labels) {
                None => {
                    index.insert(s.labels.clone(), out.len());
                    out.push(s);
                }
                Some(&i) => {
                    let target = &mut out[i];
                    for (dst, src) in target.values.iter_mut().zip(s.values.iter()) {
                        if is_present(*src) {
                            if is_present(*dst) {
                                return Err(duplicate_labelset());
                            }
                            *dst = *src;
                        }
                    }
                    target.drop_name |= s.drop_name;
                }
            }
        }
        Ok(out)
    }

    /// Selects series for a selector's matchers (and `or` alternatives)
    /// as a stream; `range_ms` is the range of an enclosing range selector
    /// or subquery (0 for an instant selector).
    pub fn select(
        &mut self,
        vs: &VectorSelector,
        mint: i64,
        maxt: i64,
        range_ms: i64,
    ) -> Result<SeriesStream<'a>, QueryError> {
        self.ctx.check("series selection")?;
        let storage: &'a dyn Queryable = self.storage;
        let hints = SelectHints {
            step_ms: self.query_step,
            range_ms,
            func: self.hint_func.clone(),
            grouping: self.hint_grouping.clone(),
            ..SelectHints::default()
        };
        let requests: Vec<SelectRequest> = selector_matchers(vs)?
            .into_iter()
            .map(|matchers| SelectRequest {
                matchers,
                mint,
                maxt,
                hints: hints.clone(),
            })
            .collect();
        let read = &self.ctx.read;
        match requests.as_slice() {
            [] => Ok(SeriesStream::empty()),
            [one] => Ok(storage.select(one, read)?),
            [first, ..] => {
                let streams = requests
                    .iter()
                    .map(|r| Ok(Box::new(storage.select(r, read)?) as Box<dyn SeriesSource + 'a>))
                    .collect::<Result<Vec<_>, QueryError>>()?;
                // The alternatives of `or` may select the same series.
                let merged = MergeSeries::new(streams, OnEqualLabels::KeepFirst);
                Ok(SeriesStream::new(merged, first, read))
            }
        }
    }

    /// An instant selector over the grid; with `timestamps`, each value is
    /// the selected sample's timestamp in seconds (for `timestamp()`).
    pub fn eval_vector_selector(
        &mut self,
        vs: &VectorSelector,
        grid: &Grid,
        timestamps: bool,
    ) -> Result<Vec<Series>, QueryError> {
        let mut out = Vec::new();
        let mut taken = 0usize;
        let room = self.room();
        self.vector_selector_each(vs, grid, timestamps, &mut |s| {
            taken = taken.saturating_add(s.cost());
            if taken > room {
                return Err(QueryError::TooManySamples("expression evaluation"));
            }
            out.push(s);
            Ok(())
        })?;
        self.charge(taken)?;
        Ok(out)
    }

    /// Hands each series of an instant selector to `sink` as it is built.
    fn vector_selector_each(
        &mut self,
        vs: &VectorSelector,
        grid: &Grid,
        timestamps: bool,
        sink: &mut dyn FnMut(Series) -> Result<(), QueryError>,
    ) -> Result<(), QueryError> {
        let offset = offset_ms(&vs.offset);
        let lookback = self.opts.lookback_delta_ms;
        let at = self.at_time(&vs.at);
        let (first, last) = match at {
            Some(t) => (t - offset, t - offset),
            None => (grid.start - offset, grid.end - offset),
        };
        let selected = self.select(vs, first - lookback + 1, last, 0)?;
        let steps = grid.len();

        let mut samples: Vec<Sample> = Vec::new();
        for s in selected {
            let s = s?;
            self.check()?;
            samples.clear();
            samples.extend(s.samples(first - lookback + 1, last));
            self.samples_loaded += samples.len() as u64;
            self.ensure_room(slots_cost(steps))?;
            let mut series = Series::new(s.labels, steps);
            if at.is_some() {
                if let Some(v) = lookup(&samples, first, lookback, timestamps) {
                    series.values.iter_mut().for_each(|x| *x = v);
                }
            } else {
                let mut idx = 0;
                for (i, slot) in series.values.iter_mut().enumerate() {
                    let t = grid.time(i) - offset;
                    while idx < samples.len() && samples[idx].t <= t {
                        idx += 1;
                    }
                    if idx > 0 {
                        let s = samples[idx - 1];
                        if s.t > t - lookback && !is_stale_nan(s.v) {
                            *slot = if timestamps {
                                s.t as f64 / 1000.0
                            } else {
                                sanitize(s.v)
                            };
                        }
                    }
                }
            }
            if !series.is_empty() {
                sink(series)?;
            }
        }
        Ok(())
    }

    /// A range selector at the top of an instant query: its raw samples.
    fn eval_matrix_selector_top(&mut self, expr: &Expr, grid: &Grid) -> Result<Val, QueryError> {
        let (mut source, ..) = self.range_inputs(expr, grid)?;
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while let Some((labels, _)) = source.next_into(&mut buf)? {
            self.check()?;
            self.samples_loaded += buf.len() as u64;
            if buf.is_empty() {
                continue;
            }
            self.charge(buf.len())?;
            out.push(MatrixSeries {
                labels,
                samples: std::mem::take(&mut buf),
            });
        }
        Ok(Val::Matrix(out))
    }

    /// Evaluates a subquery's inner expression on its own grid and returns
    /// each series' points as samples.
    pub fn eval_subquery(
        &mut self,
        sq: &SubqueryExpr,
        grid: &Grid,
    ) -> Result<Vec<RangeInput>, QueryError> {
        let offset = offset_ms(&sq.offset);
        let range = duration_ms(&sq.range);
        let step = match &sq.step {
            Some(s) if !s.is_zero() => duration_ms(s),
            _ => self.opts.default_subquery_step_ms,
        };
        if step <= 0 {
            return Err(QueryError::BadData("zero or negative subquery step".into()));
        }
        let (outer_start, outer_end) = match self.at_time(&sq.at) {
            Some(t) => (t, t),
            None => (grid.start, grid.start + (grid.len() as i64 - 1) * grid.step),
        };
        // The first step-aligned time after the earliest window start,
        // computed with truncating division as upstream does.
        let lower = outer_start - offset - range;
        let mut start = step * (lower / step);
        if start <= lower {
            start += step;
        }
        let end = outer_end - offset;
        if end < start {
            return Ok(Vec::new());
        }
        let sub_grid = Grid { start, end, step };
        // One series over the inner grid must fit before any is built.
        self.ensure_room(slots_cost(sub_grid.len()))?;
        let series = match self.eval(&sq.expr, &sub_grid)? {
            Val::Vector(v) => v,
            Val::Scalar(v) => {
                self.charge(slots_cost(v.len()))?;
                vec![Series {
                    labels: Labels::empty(),
                    drop_name: false,
                    values: v,
                }]
            }
            _ => {
                return Err(QueryError::BadData(
                    "subquery is only allowed on instant vector".into(),
                ));
            }
        };
        // The inner series' slots are given back and their points taken as
        // samples, which the consumer releases series by series.
        self.release_series(&series);
        let mut out = Vec::with_capacity(series.len());
        for s in series {
            self.charge(s.present_count())?;
            let samples: Vec<Sample> = s
                .values
                .iter()
                .enumerate()
                .filter(|(_, v)| is_present(**v))
                .map(|(i, v)| Sample::new(sub_grid.time(i), *v))
                .collect();
            out.push(RangeInput {
                labels: s.labels,
                drop_name: s.drop_name,
                samples,
            });
        }
        Ok(out)
    }

    /// The per-series inputs of a range-vector argument, with the offset,
    /// range and fixed evaluation time (`@`) that shape its windows.
    pub fn range_inputs(
        &mut self,
        arg: &Expr,
        grid: &Grid,
    ) -> Result<(RangeSource<'a>, i64, i64, Option<i64>), QueryError> {
        match arg {
            Expr::MatrixSelector(ms) => {
                let offset = offset_ms(&ms.vs.offset);
                let range = duration_ms(&ms.range);
                let at = self.at_time(&ms.vs.at);
                let (first, last) = match at {
                    Some(t) => (t - offset, t - offset),
                    None => (grid.start - offset, grid.end - offset),
                };
                let mint = first - range + 1;
                let series = self.select(&ms.vs, mint, last, range)?;
                let source = RangeSource::Storage {
                    series: series.into_iter(),
                    mint,
                    maxt: last,
                };
                Ok((source, offset, range, at))
            }
            Expr::Subquery(sq) => {
                let inputs = self.eval_subquery(sq, grid)?;
                let at = self.at_time(&sq.at);
                let source = RangeSource::Computed(inputs.into_iter());
                Ok((source, offset_ms(&sq.offset), duration_ms(&sq.range), at))
            }
            Expr::Paren(p) => self.range_inputs(&p.expr, grid),
            _ => Err(QueryError::BadData(format!(
                "expected type range vector, got {arg}"
            ))),
        }
    }

    fn eval_call(&mut self, call: &Call, grid: &Grid) -> Result<Val, QueryError> {
        let name = call.func.name;
        if let Some(f) = RangeFunc::from_name(name) {
            return self.eval_range_call(f, call, grid).map(Val::Vector);
        }
        if name == "absent_over_time" {
            return self.eval_absent_over_time(call, grid).map(Val::Vector);
        }
        crate::calls::eval_instant_call(self, call, grid)
    }

    fn eval_range_call(
        &mut self,
        f: RangeFunc,
        call: &Call,
        grid: &Grid,
    ) -> Result<Vec<Series>, QueryError> {
        let mut out = Vec::new();
        let mut taken = 0usize;
        let room = self.room();
        self.range_call_each(f, call, grid, &mut |s| {
            taken = taken.saturating_add(s.cost());
            if taken > room {
                return Err(QueryError::TooManySamples("expression evaluation"));
            }
            out.push(s);
            Ok(())
        })?;
        self.charge(taken)?;
        Ok(out)
    }

    /// Evaluates a range function series by series, handing each result
    /// to `sink` before the next series is decoded.
    fn range_call_each(
        &mut self,
        f: RangeFunc,
        call: &Call,
        grid: &Grid,
        sink: &mut dyn FnMut(Series) -> Result<(), QueryError>,
    ) -> Result<(), QueryError> {
        let matrix_idx = f.matrix_arg_index();
        let mut params: Vec<Vec<f64>> = Vec::new();
        for (i, a) in call.args.args.iter().enumerate() {
            if i != matrix_idx {
                params.push(self.eval_scalar(a, grid)?);
            }
        }
        let arg = call.args.args.get(matrix_idx).ok_or_else(|| {
            QueryError::BadData(format!(
                "missing range-vector argument to {}",
                call.func.name
            ))
        })?;
        let (mut source, offset, range, at) = self.range_inputs(arg, grid)?;
        let precharged = source.is_precharged();
        let steps = grid.len();
        let mut buf: Vec<Sample> = Vec::new();
        let check_counter = matches!(f, RangeFunc::Rate | RangeFunc::Increase);
        // Where a parameter's warning points (quantile_over_time's q).
        let param_pos = match f {
            RangeFunc::QuantileOverTime => {
                crate::position::call_position(self.query, call.func.name, Some(0))
            }
            _ => String::new(),
        };
        // predict_linear anchors at the step time, so an `@` window still
        // gives a different value at every step.
        let per_step = !params.is_empty() || f == RangeFunc::PredictLinear;
        let smoothing = f == RangeFunc::DoubleExponentialSmoothing;
        let mut smoothing_error: Option<SmoothingParamError> = None;
        // Names dropped now may make two series equal: an error, as upstream.
        let check_duplicates = f.drops_metric_name() && !self.opts.delayed_name_removal;
        let mut seen_labels: std::collections::HashSet<Labels> = std::collections::HashSet::new();
        let mut step_params = vec![0.0; params.len()];
        let mut annotations = std::mem::take(&mut self.annotations);
        let result: Result<(), QueryError> = (|| {
            while let Some((labels, drop_name)) = source.next_into(&mut buf)? {
                self.check()?;
                self.samples_loaded += buf.len() as u64;
                // A subquery's samples were charged when it was evaluated.
                if !precharged {
                    self.charge(buf.len())?;
                }
                self.ensure_room(slots_cost(steps))?;
                let mut series = Series::new(labels, steps);
                series.drop_name = drop_name;
                let samples = &buf;
                let mut eval_at = |i: usize, t: i64, lo: usize, hi: usize| -> Option<f64> {
                    for (p, vals) in step_params.iter_mut().zip(params.iter()) {
                        *p = vals[i];
                    }
                    if hi == lo {
                        return None;
                    }
                    if smoothing
                        && let Err(e) = validate_smoothing_params(step_params[0], step_params[1])
                    {
                        smoothing_error.get_or_insert(e);
                        return None;
                    }
                    if let Some(w) =
                        crate::functions::range::invalid_param_warning(f, &step_params, &param_pos)
                    {
                        annotations.warn(w);
                    }
                    let window = Window {
                        samples: &samples[lo..hi],
                        range_start: t - range,
                        range_end: t,
                    };
                    eval_range_at(f, &window, grid.time(i), &step_params, "", &mut annotations)
                };
                match at {
                    Some(at) => {
                        let t = at - offset;
                        let (lo, hi) = window_bounds(samples, t - range, t);
                        if !per_step {
                            if let Some(v) = eval_at(0, t, lo, hi) {
                                series.values.iter_mut().for_each(|x| *x = v);
                            }
                        } else {
                            for i in 0..steps {
                                if let Some(v) = eval_at(i, t, lo, hi) {
                                    series.values[i] = v;
                                }
                            }
                        }
                    }
                    None => {
                        let (mut lo, mut hi) = (0usize, 0usize);
                        for i in 0..steps {
                            let t = grid.time(i) - offset;
                            while hi < samples.len() && samples[hi].t <= t {
                                hi += 1;
                            }
                            while lo < hi && samples[lo].t <= t - range {
                                lo += 1;
                            }
                            if let Some(v) = eval_at(i, t, lo, hi) {
                                series.values[i] = v;
                            }
                        }
                    }
                }
                if let Some(e) = smoothing_error.take() {
                    return Err(QueryError::Execution(e.to_string()));
                }
                self.release(samples.len());
                let n = series.present_count();
                if n == 0 {
                    continue;
                }
                if check_counter
                    && let Some(name) = series.labels.get(METRIC_NAME)
                    && !name.ends_with("_total")
                    && !name.ends_with("_sum")
                    && !name.ends_with("_count")
                    && !name.ends_with("_bucket")
                {
                    let pos = crate::position::call_position(self.query, call.func.name, Some(0));
                    annotations.info(format!("{}{pos}", possible_non_counter_info(name)));
                }
                if f.drops_metric_name() {
                    self.mark_drop_name(&mut series);
                }
                if check_duplicates && !seen_labels.insert(series.labels.clone()) {
                    return Err(duplicate_labelset());
                }
                sink(series)?;
            }
            Ok(())
        })();
        self.annotations.merge(annotations);
        result?;
        Ok(())
    }

    fn eval_absent_over_time(
        &mut self,
        call: &Call,
        grid: &Grid,
    ) -> Result<Vec<Series>, QueryError> {
        let arg =
            call.args.args.first().ok_or_else(|| {
                QueryError::BadData("missing argument to absent_over_time".into())
            })?;
        let (mut source, offset, range, at) = self.range_inputs(arg, grid)?;
        let steps = grid.len();
        let precharged = source.is_precharged();
        let mut seen = vec![false; steps];
        let mut buf: Vec<Sample> = Vec::new();
        while source.next_into(&mut buf)?.is_some() {
            self.check()?;
            if precharged {
                self.release(buf.len());
            }
            let samples = &buf;
            for (i, slot) in seen.iter_mut().enumerate() {
                let t = at.unwrap_or(grid.time(i)) - offset;
                let (lo, hi) = window_bounds(samples, t - range, t);
                if hi > lo {
                    *slot = true;
                }
            }
        }
        if seen.iter().all(|s| *s) {
            return Ok(Vec::new());
        }
        let labels = absent_labels(arg);
        let mut s = Series::new(labels, steps);
        for (i, slot) in seen.iter().enumerate() {
            if !slot {
                s.values[i] = 1.0;
            }
        }
        s.drop_name = true;
        Ok(vec![s])
    }
}

/// The value an instant selector sees at `t`: the latest sample in
/// `(t - lookback, t]`, unless it is a staleness marker.
fn lookup(samples: &[Sample], t: i64, lookback: i64, timestamps: bool) -> Option<f64> {
    let idx = samples.partition_point(|s| s.t <= t);
    if idx == 0 {
        return None;
    }
    let s = samples[idx - 1];
    if s.t > t - lookback && !is_stale_nan(s.v) {
        Some(if timestamps {
            s.t as f64 / 1000.0
        } else {
            sanitize(s.v)
        })
    } else {
        None
    }
}

/// Index range of the samples in `(start, end]`.
fn window_bounds(samples: &[Sample], start: i64, end: i64) -> (usize, usize) {
    let lo = samples.partition_point(|s| s.t <= start);
    let hi = samples.partition_point(|s| s.t <= end);
    (lo, hi.max(lo))
}

pub(crate) fn duplicate_labelset() -> QueryError {
    QueryError::Execution("vector cannot contain metrics with the same labelset".into())
}

pub(crate) fn has_duplicate_labels(series: &[Series]) -> bool {
    if series.len() < 2 {
        return false;
    }
    let mut seen = std::collections::HashSet::with_capacity(series.len());
    series.iter().any(|s| !seen.insert(&s.labels))
}

/// The labels `absent()` and `absent_over_time()` give their result: the
/// selector's equality matchers, except a label matched more than once.
pub(crate) fn absent_labels(arg: &Expr) -> Labels {
    let vs = match arg {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::empty(),
    };
    let mut seen: HashMap<&str, Option<&str>> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        match seen.get_mut(m.name.as_str()) {
            None => {
                order.push(m.name.as_str());
                let v = matches!(m.op, MatchOp::Equal).then_some(m.value.as_str());
                seen.insert(m.name.as_str(), v);
            }
            Some(slot) => *slot = None,
        }
    }
    let mut b = argus_model::labels::LabelsBuilder::new();
    for name in order {
        if let Some(Some(v)) = seen.get(name) {
            b.set(name, v);
        }
    }
    b.build()
}

fn convert_matcher(m: &ParserMatcher) -> Result<Matcher, QueryError> {
    let kind = match m.op {
        MatchOp::Equal => MatchType::Equal,
        MatchOp::NotEqual => MatchType::NotEqual,
        MatchOp::Re(_) => MatchType::Regex,
        MatchOp::NotRe(_) => MatchType::NotRegex,
    };
    Matcher::new(kind, &m.name, &m.value).map_err(|e| QueryError::BadData(e.to_string()))
}

/// Storage matchers of a selector: one set per `or` alternative.
pub(crate) fn selector_matchers(vs: &VectorSelector) -> Result<Vec<Vec<Matcher>>, QueryError> {
    let name_matcher = vs.name.as_ref().map(|n| Matcher::equal(METRIC_NAME, n));
    let build = |ms: &[ParserMatcher]| -> Result<Vec<Matcher>, QueryError> {
        let mut out: Vec<Matcher> = Vec::with_capacity(ms.len() + 1);
        if let Some(n) = &name_matcher
            && !ms.iter().any(|m| {
                m.name == METRIC_NAME && matches!(m.op, MatchOp::Equal) && m.value == n.value
            })
        {
            out.push(n.clone());
        }
        for m in ms {
            out.push(convert_matcher(m)?);
        }
        Ok(out)
    };
    let mut sets = Vec::new();
    if vs.matchers.or_matchers.is_empty() {
        sets.push(build(&vs.matchers.matchers)?);
    } else {
        for alt in &vs.matchers.or_matchers {
            let mut all = vs.matchers.matchers.clone();
            all.extend(alt.iter().cloned());
            sets.push(build(&all)?);
        }
    }
    for set in &sets {
        if set.iter().all(|m| m.matches("")) {
            return Err(QueryError::BadData(
                "vector selector must contain at least one non-empty matcher".into(),
            ));
        }
    }
    Ok(sets)
}
