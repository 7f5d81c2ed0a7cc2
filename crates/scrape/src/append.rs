//! Turning one scrape into appended samples: parse in place, resolve each
//! series through the cache, enforce limits, write staleness markers and the
//! report series, commit once.

use std::sync::Arc;
use std::time::Instant;

use argus_config::scrape::ScrapeConfig;
use argus_exposition::{Entry, Format, Parser, SampleRef, Validation};
use argus_model::{AppendError, Appendable, Appender, Labels, SeriesRef, stale_nan};

use crate::cache::{ScrapeCache, SeriesEntry};
use crate::metrics::Metrics;
use crate::report::{ReportSeries, ScrapeReport};
use crate::sample_labels::{LabelLimits, check_label_limits, merge_target_labels, metric_relabel};

/// Samples further ahead of the scrape time than this are out of bounds,
/// as upstream's `maxAheadTime`.
const MAX_AHEAD_MS: i64 = 10 * 60 * 1000;

const SAMPLE_LIMIT_ERROR: &str = "sample limit exceeded";

/// What a loop needs to append one target's samples.
#[derive(Debug, Clone)]
pub(crate) struct AppendSettings {
    pub cfg: Arc<ScrapeConfig>,
    /// The target's labels without `__` labels.
    pub target_labels: Labels,
    pub label_limits: LabelLimits,
}

impl AppendSettings {
    pub fn new(cfg: Arc<ScrapeConfig>, target_labels: Labels) -> AppendSettings {
        let label_limits = LabelLimits {
            labels: cfg.label_limit,
            name_length: cfg.label_name_length_limit,
            value_length: cfg.label_value_length_limit,
        };
        AppendSettings {
            cfg,
            target_labels,
            label_limits,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct AppendStats {
    total: usize,
    added: usize,
    series_added: usize,
}

/// Samples the storage refused; the scrape still succeeds.
#[derive(Debug, Default)]
struct Rejected {
    out_of_order: u64,
    duplicate: u64,
    out_of_bounds: u64,
}

impl Rejected {
    fn count(&mut self, e: &AppendError) {
        match e {
            AppendError::OutOfOrder { .. } => self.out_of_order += 1,
            AppendError::Duplicate { .. } => self.duplicate += 1,
            AppendError::OutOfBounds { .. } => self.out_of_bounds += 1,
        }
    }

    fn report(&self, metrics: &Metrics, target: &Labels) {
        if self.out_of_order > 0 {
            metrics.sample_out_of_order.inc_by(self.out_of_order);
            tracing::warn!(target = %target, num_dropped = self.out_of_order, "error on ingesting out-of-order samples");
        }
        if self.duplicate > 0 {
            metrics.sample_duplicate.inc_by(self.duplicate);
            tracing::warn!(target = %target, num_dropped = self.duplicate, "error on ingesting samples with different value but same timestamp");
        }
        if self.out_of_bounds > 0 {
            metrics.sample_out_of_bounds.inc_by(self.out_of_bounds);
            tracing::warn!(target = %target, num_dropped = self.out_of_bounds, "error on ingesting samples that are too old or are too far into the future");
        }
    }
}

/// The outcome of one scrape, for the target status.
#[derive(Debug)]
pub(crate) struct ScrapeOutcome {
    pub error: Option<String>,
    pub duration: std::time::Duration,
}

/// Appends one scrape: the fetched body (or the fetch error), staleness
/// markers and the report series at `t`, in one commit.
#[allow(clippy::too_many_arguments)]
pub(crate) fn process_scrape(
    storage: &dyn Appendable,
    cache: &mut ScrapeCache,
    settings: &AppendSettings,
    report: &mut ReportSeries,
    metrics: &Metrics,
    fetched: Result<(&[u8], &str), String>,
    t: i64,
    start: Instant,
) -> ScrapeOutcome {
    cache.begin();
    let mut app = storage.appender();
    let mut stats = AppendStats::default();
    let mut error = None;
    match fetched {
        Ok((body, content_type)) if !body.is_empty() => {
            let mut rejected = Rejected::default();
            let res = append_body(
                &mut *app,
                cache,
                body,
                content_type,
                t,
                settings,
                metrics,
                &mut stats,
                &mut rejected,
            );
            match res {
                Ok(()) => {
                    rejected.report(metrics, &settings.target_labels);
                    cache.finish_success(|e| append_stale(&mut *app, e, t));
                }
                Err(e) => {
                    // Nothing of a failed body is kept: start over with only
                    // the staleness markers and the report.
                    app.rollback();
                    app = storage.appender();
                    fail(cache, &mut *app, t, metrics);
                    error = Some(e);
                }
            }
        }
        // An empty body is a successful scrape of nothing.
        Ok(_) => fail(cache, &mut *app, t, metrics),
        Err(e) => {
            fail(cache, &mut *app, t, metrics);
            error = Some(e);
        }
    }
    let duration = start.elapsed();
    report.append(
        &mut *app,
        t,
        &ScrapeReport {
            up: error.is_none(),
            duration_seconds: duration.as_secs_f64(),
            scraped: stats.total,
            post_relabeling: stats.added,
            series_added: stats.series_added,
        },
    );
    if let Err(e) = app.commit() {
        tracing::error!(target = %settings.target_labels, err = %e, "scrape commit failed");
    }
    ScrapeOutcome { error, duration }
}

/// Marks every series of the previous scrape stale.
fn fail(cache: &mut ScrapeCache, app: &mut dyn Appender, t: i64, metrics: &Metrics) {
    if cache.finish_failure(|e| append_stale(app, e, t)) {
        metrics.cache_flush_forced.inc();
    }
}

/// Staleness markers for the last series of a loop that stopped, and for
/// its report series.
pub(crate) fn end_of_run_staleness(
    storage: &dyn Appendable,
    cache: &mut ScrapeCache,
    report: &mut ReportSeries,
    t: i64,
) {
    let mut app = storage.appender();
    cache.begin();
    cache.finish_failure(|e| append_stale(&mut *app, e, t));
    report.append_stale(&mut *app, t);
    if let Err(e) = app.commit() {
        tracing::warn!(err = %e, "stale commit failed");
    }
}

fn append_stale(app: &mut dyn Appender, e: &mut SeriesEntry, t: i64) {
    match app.append(&mut e.series_ref, &e.labels, t, stale_nan()) {
        Ok(()) => {}
        // Expected when the target came back with a new loop.
        Err(AppendError::OutOfOrder { .. } | AppendError::Duplicate { .. }) => {}
        Err(err) => tracing::debug!(series = %e.labels, err = %err, "staleness marker rejected"),
    }
}

/// The final labels of a series seen for the first time; `None` when metric
/// relabeling drops it; an error fails the scrape.
fn new_series_labels(
    s: &SampleRef<'_>,
    settings: &AppendSettings,
    metrics: &Metrics,
) -> Result<Option<Labels>, String> {
    let exposed = s.labels().map_err(|e| e.to_string())?;
    let merged = merge_target_labels(&exposed, &settings.target_labels, settings.cfg.honor_labels);
    let Some(labels) = metric_relabel(merged, &settings.cfg.metric_relabel_configs) else {
        return Ok(None);
    };
    if labels.metric_name().is_none() {
        return Err("missing metric name (__name__ label)".to_string());
    }
    if let Err(e) = check_label_limits(&labels, &settings.label_limits) {
        metrics.exceeded_label_limits.inc();
        return Err(e);
    }
    Ok(Some(labels))
}

#[allow(clippy::too_many_arguments)]
fn append_body(
    app: &mut dyn Appender,
    cache: &mut ScrapeCache,
    body: &[u8],
    content_type: &str,
    default_t: i64,
    settings: &AppendSettings,
    metrics: &Metrics,
    stats: &mut AppendStats,
    rejected: &mut Rejected,
) -> Result<(), String> {
    let cfg = &settings.cfg;
    let iter = cache.iter;
    let max_t = default_t.saturating_add(MAX_AHEAD_MS);
    let mut parser = Parser::new(body, Format::from_content_type(content_type))
        .with_validation(Validation::Syntax);
    let mut appended: u64 = 0;
    let mut sample_limit_hit = false;
    loop {
        let s = match parser.next_entry() {
            Ok(Some(Entry::Sample(s))) => s,
            Ok(Some(Entry::Help { family, text })) => {
                let m = cache.meta(family);
                m.help.clear();
                m.help.push_str(&text);
                continue;
            }
            Ok(Some(Entry::Type { family, kind })) => {
                cache.meta(family).kind = Some(kind);
                continue;
            }
            Ok(Some(Entry::Unit { family, unit })) => {
                let m = cache.meta(family);
                m.unit.clear();
                m.unit.push_str(unit);
                continue;
            }
            Ok(Some(Entry::Eof) | None) => break,
            Err(e) => return Err(e.to_string()),
        };
        stats.total += 1;
        let explicit_t = if cfg.honor_timestamps {
            s.timestamp_ms
        } else {
            None
        };
        let t = explicit_t.unwrap_or(default_t);
        // Series with their own timestamps are not marked stale (unless
        // asked), as their timestamps say when they were current.
        let track = explicit_t.is_none() || cfg.track_timestamps_staleness;

        if let Some(e) = cache.series.get_mut(s.series) {
            if e.dropped {
                e.seen_iter = iter;
                continue;
            }
            let repeated = e.seen_iter == iter;
            e.seen_iter = iter;
            stats.added += 1;
            if repeated && explicit_t.is_none() {
                rejected.duplicate += 1;
                continue;
            }
            if over_limit(&mut appended, cfg.sample_limit) {
                sample_limit_hit = true;
                continue;
            }
            if t > max_t {
                rejected.out_of_bounds += 1;
                continue;
            }
            match app.append(&mut e.series_ref, &e.labels, t, s.value) {
                Ok(()) => e.cur_tracked |= track,
                Err(err) => rejected.count(&err),
            }
            continue;
        }

        let Some(labels) = new_series_labels(&s, settings, metrics)? else {
            cache.series.insert(
                s.series.into(),
                SeriesEntry {
                    series_ref: SeriesRef::default(),
                    labels: Labels::empty(),
                    dropped: true,
                    seen_iter: iter,
                    prev_tracked: false,
                    cur_tracked: false,
                },
            );
            continue;
        };
        stats.added += 1;
        if over_limit(&mut appended, cfg.sample_limit) {
            sample_limit_hit = true;
            continue;
        }
        if t > max_t {
            rejected.out_of_bounds += 1;
            continue;
        }
        let mut series_ref = SeriesRef::default();
        match app.append(&mut series_ref, &labels, t, s.value) {
            Ok(()) => {
                cache.series.insert(
                    s.series.into(),
                    SeriesEntry {
                        series_ref,
                        labels,
                        dropped: false,
                        seen_iter: iter,
                        prev_tracked: false,
                        cur_tracked: track,
                    },
                );
                if !sample_limit_hit {
                    stats.series_added += 1;
                }
            }
            Err(err) => rejected.count(&err),
        }
    }
    if sample_limit_hit {
        metrics.exceeded_sample_limit.inc();
        return Err(SAMPLE_LIMIT_ERROR.to_string());
    }
    Ok(())
}

/// Counts one more sample against `sample_limit` (0: none).
fn over_limit(appended: &mut u64, limit: u64) -> bool {
    *appended += 1;
    limit > 0 && *appended > limit
}
