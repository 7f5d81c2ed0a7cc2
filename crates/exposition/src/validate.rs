//! The semantic rules of OpenMetrics 1.0, checked as samples stream by.
//!
//! The rules follow the specification and its reference parser: metric
//! families are contiguous and never repeated (also under another type's
//! suffixes), metadata comes first and once, samples of one label set group
//! are contiguous with non-decreasing timestamps, and each type constrains its
//! sample names, labels and values. Label sets are compared by a hash of
//! their (unescaped, order-independent) pairs so that nothing is allocated per
//! sample; a 64-bit collision could only cause a spurious error.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::number::parse_float;
use crate::scan::{LabelSpan, unescape};
use crate::{MetricType, ParseError};

/// The keys are hashes already.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxh3_64_with_seed(bytes, self.0);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type HashSet64 = HashSet<u64, BuildHasherDefault<IdHasher>>;

/// Suffixes a family of each type owns; its samples must use them.
fn suffixes(kind: Option<MetricType>) -> &'static [&'static str] {
    match kind {
        Some(MetricType::Counter) => &["_total", "_created"],
        Some(MetricType::Summary) => &["", "_count", "_sum", "_created"],
        Some(MetricType::Histogram) => &["_count", "_sum", "_bucket", "_created"],
        Some(MetricType::GaugeHistogram) => &["_gcount", "_gsum", "_bucket"],
        Some(MetricType::Info) => &["_info"],
        _ => &[""],
    }
}

/// Samples whose values are counts or sums: never NaN, never negative (except
/// `_gsum`, see the histogram checks).
const COUNTER_LIKE: [&str; 6] = ["_total", "_sum", "_count", "_bucket", "_gcount", "_gsum"];

/// A metadata line, as the validator sees it.
pub(crate) enum Meta<'a> {
    Help(&'a str),
    Type(&'a str, MetricType),
    Unit(&'a str, &'a str),
}

/// What the validator needs to know about one sample.
pub(crate) struct Facts<'s, 'a> {
    pub name: &'a str,
    pub block: &'a str,
    pub line_bytes: &'a [u8],
    /// Label pairs, positions relative to `line_bytes`.
    pub spans: &'s [LabelSpan],
    pub value: f64,
    /// Seconds.
    pub timestamp: Option<f64>,
    pub exemplar: bool,
    pub line: usize,
}

impl<'a> Facts<'_, 'a> {
    fn label(&self, name: &str) -> Option<&LabelSpan> {
        self.spans
            .iter()
            .find(|s| &self.line_bytes[s.name.clone()] == name.as_bytes())
    }

    /// The raw value of `span`. OpenMetrics puts the block right after the
    /// name, so its first byte is at `name.len() + 1`.
    fn raw_value(&self, span: &LabelSpan) -> &'a str {
        let base = self.name.len() + 1;
        span.value
            .start
            .checked_sub(base)
            .zip(span.value.end.checked_sub(base))
            .and_then(|(s, e)| self.block.get(s..e))
            .unwrap_or_default()
    }

    fn value(&self, span: &LabelSpan) -> Cow<'a, str> {
        let raw = self.raw_value(span);
        if span.escaped {
            unescape(raw, true)
        } else {
            Cow::Borrowed(raw)
        }
    }

    /// An order-independent hash of the label pairs, leaving out `excluded`.
    fn group_key(&self, excluded: Option<&str>) -> u64 {
        let mut key = 0u64;
        for span in self.spans {
            let name = &self.line_bytes[span.name.clone()];
            if excluded.is_some_and(|e| e.as_bytes() == name) {
                continue;
            }
            let pair = xxh3_64_with_seed(self.value(span).as_bytes(), xxh3_64(name));
            key = key.wrapping_add(pair);
        }
        key
    }
}

struct Family<'a> {
    name: &'a str,
    /// `None` until a TYPE line, `Unknown` for a family opened by a sample.
    kind: Option<MetricType>,
    help: bool,
    unit: Option<&'a str>,
    has_samples: bool,
    group: Option<Group>,
    histogram: Option<HistogramGroup>,
}

impl<'a> Family<'a> {
    fn new(name: &'a str, kind: Option<MetricType>) -> Family<'a> {
        Family {
            name,
            kind,
            help: false,
            unit: None,
            has_samples: false,
            group: None,
            histogram: None,
        }
    }

    fn owns(&self, sample: &str) -> bool {
        sample
            .strip_prefix(self.name)
            .is_some_and(|suffix| suffixes(self.kind).contains(&suffix))
    }
}

/// The label set group the previous sample belonged to.
struct Group {
    key: u64,
    timestamp: Option<f64>,
}

/// One histogram: a label set group at one timestamp.
struct HistogramGroup {
    key: u64,
    timestamp: Option<f64>,
    count: Option<f64>,
    le: Option<f64>,
    bucket_value: f64,
    negative_buckets: bool,
    sum: bool,
    gsum: bool,
    negative_gsum: bool,
    /// The last line seen, where errors about the whole group are reported.
    line: usize,
}

impl HistogramGroup {
    fn new(key: u64, timestamp: Option<f64>) -> HistogramGroup {
        HistogramGroup {
            key,
            timestamp,
            count: None,
            le: None,
            bucket_value: 0.0,
            negative_buckets: false,
            sum: false,
            gsum: false,
            negative_gsum: false,
            line: 0,
        }
    }

    fn check(&self, family: &str) -> Result<(), ParseError> {
        let err = |m: String| Err(ParseError::new(self.line, m));
        if self.le != Some(f64::INFINITY) {
            return err(format!("histogram \"{family}\" has no +Inf bucket"));
        }
        if let Some(count) = self.count
            && count != self.bucket_value
        {
            return err(format!(
                "histogram \"{family}\": count {count} does not match the +Inf bucket {}",
                self.bucket_value
            ));
        }
        if self.sum && self.count.is_none() {
            return err(format!("histogram \"{family}\" has _sum but no _count"));
        }
        if self.gsum && self.count.is_none() {
            return err(format!("histogram \"{family}\" has _gsum but no _gcount"));
        }
        if !(self.sum || self.gsum) && self.count.is_some() {
            return err(format!("histogram \"{family}\" has a count but no sum"));
        }
        if self.negative_buckets && self.sum {
            return err(format!(
                "histogram \"{family}\" has negative buckets and must not have _sum"
            ));
        }
        if !self.negative_buckets && self.negative_gsum {
            return err(format!(
                "histogram \"{family}\" has a negative _gsum but no negative buckets"
            ));
        }
        Ok(())
    }
}

#[derive(Default)]
pub(crate) struct Validator<'a> {
    family: Option<Family<'a>>,
    /// Hashes of every name claimed by a finished family.
    claimed: HashSet64,
    /// Label set groups seen in the current family.
    groups: HashSet64,
    name_buf: String,
}

impl std::fmt::Debug for Validator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("family", &self.family.as_ref().map(|f| f.name))
            .finish_non_exhaustive()
    }
}

impl<'a> Validator<'a> {
    pub fn metadata(&mut self, meta: Meta<'a>, line: usize) -> Result<(), ParseError> {
        let name = match meta {
            Meta::Help(n) | Meta::Type(n, _) | Meta::Unit(n, _) => n,
        };
        let err = |m: String| Err(ParseError::new(line, m));
        match &self.family {
            Some(f) if f.name == name => {
                if f.has_samples {
                    return err(format!(
                        "metadata for metric family \"{name}\" after its samples"
                    ));
                }
            }
            _ => self.open(name, None, line)?,
        }
        let Some(f) = self.family.as_mut() else {
            return Ok(());
        };
        match meta {
            Meta::Help(_) => {
                if f.help {
                    return err(format!("second HELP line for metric family \"{name}\""));
                }
                f.help = true;
            }
            Meta::Type(_, kind) => {
                if f.kind.is_some() {
                    return err(format!("second TYPE line for metric family \"{name}\""));
                }
                f.kind = Some(kind);
            }
            Meta::Unit(_, unit) => {
                if f.unit.is_some() {
                    return err(format!("second UNIT line for metric family \"{name}\""));
                }
                let suffixed = name.len() > unit.len()
                    && name.ends_with(unit)
                    && name.as_bytes()[name.len() - unit.len() - 1] == b'_';
                if !unit.is_empty() && !suffixed {
                    return err(format!(
                        "unit \"{unit}\" is not a suffix of metric family name \"{name}\""
                    ));
                }
                f.unit = Some(unit);
            }
        }
        if f.unit.is_some_and(|u| !u.is_empty())
            && matches!(f.kind, Some(MetricType::Info | MetricType::StateSet))
        {
            return err(format!(
                "{} metric family \"{name}\" cannot have a unit",
                f.kind.unwrap_or(MetricType::Unknown)
            ));
        }
        Ok(())
    }

    pub fn sample(&mut self, s: &Facts<'_, 'a>) -> Result<(), ParseError> {
        if !self.family.as_ref().is_some_and(|f| f.owns(s.name)) {
            self.open(s.name, Some(MetricType::Unknown), s.line)?;
        }
        let Some(f) = self.family.as_mut() else {
            return Ok(());
        };
        f.has_samples = true;
        let family = f.name;
        let kind = f.kind.unwrap_or(MetricType::Unknown);
        let suffix = s.name.get(family.len()..).unwrap_or_default();
        let err = |m: String| Err(ParseError::new(s.line, m));
        let histogram = matches!(kind, MetricType::Histogram | MetricType::GaugeHistogram);

        // Labels each type requires; they are left out of the group key.
        let mut excluded = None;
        let mut le = f64::NAN;
        match kind {
            MetricType::StateSet => {
                if s.label(family).is_none() {
                    return err(format!(
                        "stateset sample has no label named after its family \"{family}\""
                    ));
                }
                excluded = Some(family);
            }
            _ if histogram && suffix == "_bucket" => {
                let Some(span) = s.label("le") else {
                    return err("histogram bucket has no \"le\" label".to_string());
                };
                let raw = s.value(span);
                le = match canonical_number(&raw) {
                    Some(v) if !v.is_nan() => v,
                    _ => return err(format!("invalid \"le\" label value \"{raw}\"")),
                };
                excluded = Some("le");
            }
            MetricType::Summary if suffix.is_empty() => {
                let Some(span) = s.label("quantile") else {
                    return err("summary quantile has no \"quantile\" label".to_string());
                };
                let raw = s.value(span);
                match canonical_number(&raw) {
                    Some(q) if (0.0..=1.0).contains(&q) => {}
                    _ => return err(format!("invalid \"quantile\" label value \"{raw}\"")),
                }
                excluded = Some("quantile");
            }
            _ => {}
        }

        let v = s.value;
        if matches!(suffix, "_bucket" | "_count" | "_gcount")
            && !(v.is_finite() && v.fract() == 0.0)
        {
            return err(format!("{suffix} value {v} is not an integer"));
        }
        match kind {
            MetricType::StateSet if v != 0.0 && v != 1.0 => {
                return err(format!("stateset value {v} is neither 0 nor 1"));
            }
            MetricType::Info if v != 1.0 => {
                return err(format!("info value {v} is not 1"));
            }
            MetricType::Summary if suffix.is_empty() && v < 0.0 => {
                return err(format!("quantile value {v} is negative"));
            }
            _ => {}
        }
        if COUNTER_LIKE.contains(&suffix) {
            if v.is_nan() {
                return err(format!("{suffix} value must not be NaN"));
            }
            if v < 0.0 && suffix != "_gsum" {
                return err(format!("{suffix} value {v} is negative"));
            }
        }
        if s.exemplar
            && !((histogram && suffix == "_bucket")
                || (kind == MetricType::Counter && suffix == "_total"))
        {
            return err(
                "exemplars are only allowed on histogram buckets and counter totals".to_string(),
            );
        }

        // Info samples cannot be told apart, so they form one group.
        let key = if kind == MetricType::Info {
            0
        } else {
            s.group_key(excluded)
        };
        match &mut f.group {
            Some(g) if g.key == key => {
                if g.timestamp.is_some() != s.timestamp.is_some() {
                    return err("a label set mixes samples with and without timestamps".to_string());
                }
                if let (Some(prev), Some(t)) = (g.timestamp, s.timestamp)
                    && t < prev
                    && kind != MetricType::Info
                {
                    return err(format!("timestamp {t} goes back from {prev}"));
                }
                g.timestamp = s.timestamp;
            }
            _ => {
                if !self.groups.insert(key) {
                    return err(format!(
                        "samples of metric family \"{family}\" with these labels are not contiguous"
                    ));
                }
                f.group = Some(Group {
                    key,
                    timestamp: s.timestamp,
                });
            }
        }

        if histogram {
            let same = f
                .histogram
                .as_ref()
                .is_some_and(|h| h.key == key && h.timestamp == s.timestamp);
            if !same {
                if let Some(h) = f.histogram.take() {
                    h.check(family)?;
                }
                f.histogram = Some(HistogramGroup::new(key, s.timestamp));
            }
            let Some(h) = f.histogram.as_mut() else {
                return Ok(());
            };
            h.line = s.line;
            match suffix {
                "_bucket" => match h.le {
                    // A repeated bucket is the same sample again.
                    Some(prev) if le == prev && v == h.bucket_value => {}
                    Some(prev) if le <= prev => {
                        return err(format!(
                            "bucket le={le} is not above the previous le={prev}"
                        ));
                    }
                    _ => {
                        if v < h.bucket_value {
                            return err(format!(
                                "bucket count {v} is below the previous bucket's {}",
                                h.bucket_value
                            ));
                        }
                        h.negative_buckets |= le < 0.0;
                        h.le = Some(le);
                        h.bucket_value = v;
                    }
                },
                "_count" | "_gcount" => h.count = Some(v),
                "_sum" => h.sum = true,
                "_gsum" => {
                    h.gsum = true;
                    h.negative_gsum |= v < 0.0;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The `# EOF` line: the last family ends.
    pub fn finish(&mut self, line: usize) -> Result<(), ParseError> {
        self.close(line)
    }

    fn open(
        &mut self,
        name: &'a str,
        kind: Option<MetricType>,
        line: usize,
    ) -> Result<(), ParseError> {
        self.close(line)?;
        if self.claimed.contains(&xxh3_64(name.as_bytes())) {
            return Err(ParseError::new(
                line,
                format!("metric family \"{name}\" repeats or clashes with an earlier family"),
            ));
        }
        self.family = Some(Family::new(name, kind));
        Ok(())
    }

    fn close(&mut self, line: usize) -> Result<(), ParseError> {
        let Some(f) = self.family.take() else {
            return Ok(());
        };
        self.groups.clear();
        if let Some(h) = &f.histogram {
            h.check(f.name)?;
        }
        let owned = suffixes(f.kind).iter().filter(|s| !s.is_empty());
        for suffix in std::iter::once(&"").chain(owned) {
            self.name_buf.clear();
            self.name_buf.push_str(f.name);
            self.name_buf.push_str(suffix);
            if !self.claimed.insert(xxh3_64(self.name_buf.as_bytes())) {
                return Err(ParseError::new(
                    line,
                    format!(
                        "metric family \"{}\" clashes with an earlier family over the name \"{}\"",
                        f.name, self.name_buf
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A number in a label value (`le`, `quantile`); infinities must be written
/// `+Inf` or `-Inf`.
fn canonical_number(s: &str) -> Option<f64> {
    let v = parse_float(s.as_bytes())?;
    if v.is_infinite() && s != "+Inf" && s != "-Inf" {
        return None;
    }
    Some(v)
}
