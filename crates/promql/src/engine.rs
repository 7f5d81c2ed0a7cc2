//! The query entry points and their options.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use argus_model::matcher::Matcher;
use argus_model::storage::Queryable;

use crate::error::QueryError;
use crate::value::QueryOutput;

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
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: 5 * 60 * 1000,
            default_subquery_step_ms: 60 * 1000,
            max_samples: 50_000_000,
            delayed_name_removal: false,
        }
    }
}

/// Per-query controls: a deadline and a cancellation flag the caller may
/// set (the HTTP API sets it when the client disconnects).
#[derive(Debug, Clone, Default)]
pub struct QueryContext {
    pub deadline: Option<Instant>,
    pub cancel: Option<Arc<AtomicBool>>,
}

impl QueryContext {
    /// An error if the query must stop now; `stage` names where, for the
    /// message ("query timed out in series selection").
    pub fn check(&self, stage: &'static str) -> Result<(), QueryError> {
        if let Some(c) = &self.cancel
            && c.load(Ordering::Relaxed)
        {
            return Err(QueryError::Canceled(stage));
        }
        if let Some(d) = self.deadline
            && Instant::now() >= d
        {
            return Err(QueryError::Timeout(stage));
        }
        Ok(())
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
        let _ = (storage, query, t, ctx);
        Err(QueryError::Execution("not implemented".into()))
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
        let _ = (storage, query, start, end, step, ctx);
        Err(QueryError::Execution("not implemented".into()))
    }
}

/// Parses a series selector such as `up{job="x"}` (the `match[]` parameter
/// of the series and label APIs) into storage matchers.
pub fn parse_selector(selector: &str) -> Result<Vec<Matcher>, QueryError> {
    let _ = selector;
    Err(QueryError::BadData("not implemented".into()))
}
