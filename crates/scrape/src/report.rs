//! The series every scrape writes about itself, with the target's labels.

use argus_model::{AppendError, Appender, Labels, LabelsBuilder, SeriesRef, stale_nan};

pub(crate) const REPORT_NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// One scrape's report values, in [`REPORT_NAMES`] order.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ScrapeReport {
    pub up: bool,
    pub duration_seconds: f64,
    pub scraped: usize,
    pub post_relabeling: usize,
    pub series_added: usize,
}

impl ScrapeReport {
    fn values(&self) -> [f64; 5] {
        [
            if self.up { 1.0 } else { 0.0 },
            self.duration_seconds,
            self.scraped as f64,
            self.post_relabeling as f64,
            self.series_added as f64,
        ]
    }
}

/// The report series of one target, with their storage references.
#[derive(Debug)]
pub(crate) struct ReportSeries {
    labels: [Labels; 5],
    refs: [SeriesRef; 5],
}

impl ReportSeries {
    pub fn new(target_labels: &Labels) -> ReportSeries {
        let labels = REPORT_NAMES.map(|name| {
            let mut b = LabelsBuilder::new();
            for l in target_labels.iter() {
                b.set(l.name, l.value);
            }
            b.set("__name__", name);
            b.build()
        });
        ReportSeries {
            labels,
            refs: Default::default(),
        }
    }

    pub fn append(&mut self, app: &mut dyn Appender, t: i64, report: &ScrapeReport) {
        self.append_values(app, t, report.values());
    }

    pub fn append_stale(&mut self, app: &mut dyn Appender, t: i64) {
        self.append_values(app, t, [stale_nan(); 5]);
    }

    fn append_values(&mut self, app: &mut dyn Appender, t: i64, values: [f64; 5]) {
        for ((labels, r), v) in self.labels.iter().zip(self.refs.iter_mut()).zip(values) {
            match app.append(r, labels, t, v) {
                Ok(()) => {}
                // A recreated loop of the same target may have written later.
                Err(AppendError::OutOfOrder { .. } | AppendError::Duplicate { .. }) => {}
                Err(e) => tracing::debug!(series = %labels, err = %e, "report sample rejected"),
            }
        }
    }
}
