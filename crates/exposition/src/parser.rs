//! The line-oriented parser for both formats.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::Range;

use argus_model::Labels;

use crate::labels::{self, LabelPairs};
use crate::number::{parse_float, parse_ms_timestamp, parse_om_timestamp};
use crate::scan::{
    LabelSpan, duplicate_label, find_byte, is_blank, is_metric_name, is_unit, label_block,
    metric_name_end, show_byte, skip_blanks, unescape, unescaped_chars,
};
use crate::validate::{Facts, Meta, Validator};
use crate::{Format, MetricType, ParseError, Validation};

/// OpenMetrics caps the label names and values of an exemplar at this many
/// characters in total.
const MAX_EXEMPLAR_CHARS: usize = 128;

/// One meaningful line of a body.
#[derive(Debug, Clone)]
pub enum Entry<'a> {
    /// `# HELP family text`, the text unescaped.
    Help {
        family: &'a str,
        text: Cow<'a, str>,
    },
    /// `# TYPE family kind`.
    Type {
        family: &'a str,
        kind: MetricType,
    },
    /// `# UNIT family unit` (OpenMetrics only).
    Unit {
        family: &'a str,
        unit: &'a str,
    },
    Sample(SampleRef<'a>),
    /// The OpenMetrics `# EOF` line; nothing follows it.
    Eof,
}

/// A sample borrowed from the body.
#[derive(Debug, Clone, Copy)]
pub struct SampleRef<'a> {
    /// The raw bytes of the metric name and label block exactly as written
    /// (e.g. `foo_total{a="b"}`), usable as a cache key: equal bytes mean the
    /// same series.
    pub series: &'a [u8],
    pub name: &'a str,
    pub value: f64,
    /// Milliseconds. OpenMetrics timestamps are float seconds converted as
    /// Prometheus does, `int64(ts * 1000)` (Go truncation toward zero);
    /// Prometheus text timestamps are integer milliseconds.
    pub timestamp_ms: Option<i64>,
    /// 1-based line number.
    pub line: usize,
    /// The OpenMetrics exemplar written after the sample, if any.
    pub exemplar: Option<Exemplar<'a>>,
    /// The text between the braces, validated (as bytes: the str is only
    /// made when asked for, so the cache-hit path skips that check).
    label_block: &'a [u8],
}

impl<'a> SampleRef<'a> {
    /// Full label set including `__name__`, unescaped. Labels with an empty
    /// value are dropped, as Prometheus does. Errors on duplicate label names.
    pub fn labels(&self) -> Result<Labels, ParseError> {
        labels::build(Some(self.name), self.label_block(), self.line)
    }

    /// The labels as written (without `__name__`), values unescaped; borrows
    /// unless a value contains an escape.
    pub fn label_pairs(&self) -> LabelPairs<'a> {
        LabelPairs::new(self.label_block())
    }

    /// The raw text between the braces of the label block ("" without one).
    pub fn label_block(&self) -> &'a str {
        // Validated as UTF-8 by the parser, so this never falls back.
        std::str::from_utf8(self.label_block).unwrap_or_default()
    }
}

/// An exemplar: ` # {labels} value [timestamp]` after an OpenMetrics sample.
#[derive(Debug, Clone, Copy)]
pub struct Exemplar<'a> {
    pub value: f64,
    /// Milliseconds, converted like sample timestamps.
    pub timestamp_ms: Option<i64>,
    label_block: &'a str,
    line: usize,
}

impl<'a> Exemplar<'a> {
    /// The exemplar's label set, unescaped.
    pub fn labels(&self) -> Result<Labels, ParseError> {
        labels::build(None, self.label_block, self.line)
    }

    pub fn label_pairs(&self) -> LabelPairs<'a> {
        LabelPairs::new(self.label_block)
    }
}

#[derive(Debug)]
enum State {
    Running,
    Done,
    Failed(ParseError),
}

/// A streaming parser over a whole body. See the crate documentation.
#[derive(Debug)]
pub struct Parser<'a> {
    input: &'a [u8],
    /// `input` as text when it is valid UTF-8 throughout (checked once, at
    /// memory speed), so names become &str by slicing instead of a check
    /// per sample.
    text: Option<&'a str>,
    /// Start of the next line.
    pos: usize,
    /// Number of the next line.
    line: usize,
    format: Format,
    validation: Validation,
    state: State,
    // Scratch space reused from sample to sample.
    spans: Vec<LabelSpan>,
    exemplar_spans: Vec<LabelSpan>,
    dup_scratch: Vec<Range<usize>>,
    validator: Validator<'a>,
    /// Prometheus text: families that had a TYPE line.
    typed: HashSet<&'a str>,
}

/// What follows the label block of a sample.
struct Tail<'a> {
    value: f64,
    timestamp: Option<(f64, i64)>,
    exemplar: Option<Exemplar<'a>>,
}

impl<'a> Parser<'a> {
    /// A parser over `input` with [`Validation::Full`].
    pub fn new(input: &'a [u8], format: Format) -> Parser<'a> {
        Parser {
            input,
            text: std::str::from_utf8(input).ok(),
            pos: 0,
            line: 1,
            format,
            validation: Validation::Full,
            state: State::Running,
            spans: Vec::new(),
            exemplar_spans: Vec::new(),
            dup_scratch: Vec::new(),
            validator: Validator::default(),
            typed: HashSet::new(),
        }
    }

    /// Chooses how strictly OpenMetrics input is checked.
    pub fn with_validation(mut self, validation: Validation) -> Parser<'a> {
        self.validation = validation;
        self
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Next entry, or `Ok(None)` at the end of input. After an error the
    /// parser stops and returns the same error again. Entries returned before
    /// an error may belong to the invalid part (a histogram is only known to
    /// lack its `+Inf` bucket once it ends), so a caller that must not keep
    /// invalid data treats the body as a unit.
    pub fn next_entry(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        match &self.state {
            State::Running => {}
            State::Done => return Ok(None),
            State::Failed(e) => return Err(e.clone()),
        }
        let step = match self.format {
            Format::OpenMetrics => self.step_openmetrics(),
            Format::PrometheusText => self.step_text(),
        };
        match step {
            Ok(None) => self.state = State::Done,
            Err(ref e) => self.state = State::Failed(e.clone()),
            Ok(Some(_)) => {}
        }
        step
    }

    /// [`ascii`] for a slice of the input, without re-checking it.
    fn ascii_in_input(&self, s: &'a [u8]) -> &'a str {
        let Some(text) = self.text else {
            return ascii(s);
        };
        // `s` lies within `input`, so the difference is its offset.
        let start = (s.as_ptr() as usize).wrapping_sub(self.input.as_ptr() as usize);
        text.get(start..start.wrapping_add(s.len()))
            .unwrap_or_else(|| ascii(s))
    }

    fn next_line(&mut self) -> (&'a [u8], usize) {
        let input = self.input;
        let rest = &input[self.pos.min(input.len())..];
        let (line, advance) = match find_byte(rest, b'\n') {
            Some(n) => (&rest[..n], n + 1),
            None => (rest, rest.len()),
        };
        self.pos += advance;
        let number = self.line;
        self.line += 1;
        (line, number)
    }

    fn step_openmetrics(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        if self.pos >= self.input.len() {
            return Err(ParseError::new(
                self.line,
                "unexpected end of input: missing \"# EOF\" line",
            ));
        }
        let (line, n) = self.next_line();
        let full = self.validation == Validation::Full;
        if line.is_empty() {
            return Err(ParseError::new(n, "empty line"));
        }
        if line[0] == b'#' {
            if line == b"# EOF" {
                if self.pos < self.input.len() {
                    return Err(ParseError::new(n + 1, "unexpected content after \"# EOF\""));
                }
                if full {
                    self.validator.finish(n)?;
                }
                self.state = State::Done;
                return Ok(Some(Entry::Eof));
            }
            let entry = self.openmetrics_metadata(line, n)?;
            if full {
                let meta = match &entry {
                    Entry::Help { family, .. } => Meta::Help(family),
                    Entry::Type { family, kind } => Meta::Type(family, *kind),
                    Entry::Unit { family, unit } => Meta::Unit(family, unit),
                    _ => return Ok(Some(entry)),
                };
                self.validator.metadata(meta, n)?;
            }
            return Ok(Some(entry));
        }
        let (sample, seconds) = self
            .sample(line, n, false)
            .map_err(|m| ParseError::new(n, m))?;
        if full {
            self.validator.sample(&Facts {
                name: sample.name,
                block: sample.label_block(),
                line_bytes: line,
                spans: &self.spans,
                value: sample.value,
                timestamp: seconds,
                exemplar: sample.exemplar.is_some(),
                line: n,
            })?;
        }
        Ok(Some(Entry::Sample(sample)))
    }

    fn openmetrics_metadata(&mut self, line: &'a [u8], n: usize) -> Result<Entry<'a>, ParseError> {
        let err = |m: String| ParseError::new(n, m);
        let Some(rest) = line.strip_prefix(b"# ") else {
            return Err(err(
                "invalid line: openmetrics has no comments, only \"# HELP\", \"# TYPE\", \"# UNIT\" and \"# EOF\""
                    .to_string(),
            ));
        };
        let kw_end = find_byte(rest, b' ').unwrap_or(rest.len());
        let kw = &rest[..kw_end];
        let kw_name = match kw {
            b"HELP" => "HELP",
            b"TYPE" => "TYPE",
            b"UNIT" => "UNIT",
            _ => {
                return Err(err(format!(
                    "invalid metadata line \"# {}\"",
                    String::from_utf8_lossy(kw)
                )));
            }
        };
        let rest = rest.get(kw_end + 1..).unwrap_or_default();
        let name_end = find_byte(rest, b' ').unwrap_or(rest.len());
        let name = &rest[..name_end];
        if name.is_empty() {
            return Err(err(format!("missing metric family name after {kw_name}")));
        }
        if !is_metric_name(name) {
            return Err(err(format!(
                "invalid metric family name \"{}\"",
                String::from_utf8_lossy(name)
            )));
        }
        let Some(value) = rest.get(name_end + 1..) else {
            return Err(err(format!(
                "expected ' ' after the family name in the {kw_name} line"
            )));
        };
        let family = ascii(name);
        Ok(match kw {
            b"HELP" => {
                let text = std::str::from_utf8(value)
                    .map_err(|_| err("help text is not valid utf-8".to_string()))?;
                Entry::Help {
                    family,
                    text: unescape(text, true),
                }
            }
            b"TYPE" => match MetricType::from_openmetrics(value) {
                Some(kind) => Entry::Type { family, kind },
                None => {
                    return Err(err(format!(
                        "invalid metric type \"{}\"",
                        String::from_utf8_lossy(value)
                    )));
                }
            },
            _ => {
                if !is_unit(value) {
                    return Err(err(format!(
                        "invalid unit \"{}\"",
                        String::from_utf8_lossy(value)
                    )));
                }
                Entry::Unit {
                    family,
                    unit: ascii(value),
                }
            }
        })
    }

    fn step_text(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        while self.pos < self.input.len() {
            let (raw, n) = self.next_line();
            let line = trim_text(raw);
            if line.is_empty() {
                continue;
            }
            if line[0] == b'#' {
                match self.text_comment(line, n)? {
                    Some(entry) => return Ok(Some(entry)),
                    None => continue,
                }
            }
            let (sample, _) = self
                .sample(line, n, true)
                .map_err(|m| ParseError::new(n, m))?;
            return Ok(Some(Entry::Sample(sample)));
        }
        Ok(None)
    }

    /// `# HELP` and `# TYPE` lines; any other comment yields `None`.
    fn text_comment(&mut self, line: &'a [u8], n: usize) -> Result<Option<Entry<'a>>, ParseError> {
        let err = |m: String| ParseError::new(n, m);
        let i = skip_blanks(line, 1);
        if i == 1 {
            return Ok(None);
        }
        let kw_end = token_end(line, i);
        let help = match &line[i..kw_end] {
            b"HELP" => true,
            b"TYPE" => false,
            _ => return Ok(None),
        };
        let kw = if help { "HELP" } else { "TYPE" };
        let start = skip_blanks(line, kw_end);
        let end = metric_name_end(line, start);
        if end == start {
            return Err(err(match line.get(start) {
                None => format!("missing metric name after {kw}"),
                Some(&c) => format!(
                    "invalid metric name after {kw} starting with {}",
                    show_byte(c)
                ),
            }));
        }
        if let Some(&c) = line.get(end).filter(|&&c| !is_blank(c)) {
            return Err(err(format!(
                "invalid character {} in metric name after {kw}",
                show_byte(c)
            )));
        }
        let family = ascii(&line[start..end]);
        let rest = &line[skip_blanks(line, end)..];
        if help {
            let text = std::str::from_utf8(rest)
                .map_err(|_| err("help text is not valid utf-8".to_string()))?;
            return Ok(Some(Entry::Help {
                family,
                text: unescape(text, false),
            }));
        }
        if rest.is_empty() {
            return Err(err(format!("missing metric type for \"{family}\"")));
        }
        let kind = MetricType::from_prometheus_text(rest).ok_or_else(|| {
            err(format!(
                "invalid metric type \"{}\"",
                String::from_utf8_lossy(rest)
            ))
        })?;
        if self.validation == Validation::Full && !self.typed.insert(family) {
            return Err(err(format!(
                "second TYPE line for metric family \"{family}\""
            )));
        }
        Ok(Some(Entry::Type { family, kind }))
    }

    /// Parses a sample line; `text` selects the Prometheus text rules. Returns
    /// the sample and, for OpenMetrics, its timestamp in seconds.
    fn sample(
        &mut self,
        line: &'a [u8],
        n: usize,
        text: bool,
    ) -> Result<(SampleRef<'a>, Option<f64>), String> {
        let name_end = metric_name_end(line, 0);
        if name_end == 0 {
            return Err(match line.first() {
                Some(&c) => format!("invalid metric name starting with {}", show_byte(c)),
                None => "missing metric name".to_string(),
            });
        }
        let name = self.ascii_in_input(&line[..name_end]);
        let mut i = name_end;
        if text {
            // The text format allows blanks before the label block too.
            let j = skip_blanks(line, name_end);
            if line.get(j) == Some(&b'{') {
                i = j;
            }
        }
        let mut series_end = name_end;
        let mut block: &[u8] = b"";
        self.spans.clear();
        if line.get(i) == Some(&b'{') {
            let (close, ascii) = label_block(line, i, text, &mut self.spans)?;
            block = &line[i + 1..close - 1];
            if !ascii && std::str::from_utf8(block).is_err() {
                return Err("label values are not valid utf-8".to_string());
            }
            if let Some(d) = duplicate_label(line, &self.spans, &mut self.dup_scratch) {
                return Err(format!(
                    "duplicate label name \"{}\"",
                    String::from_utf8_lossy(d)
                ));
            }
            series_end = close;
            i = close;
        }
        if !text
            && series_end == name_end
            && let Some(&c) = line.get(i).filter(|&&c| c != b' ')
        {
            return Err(format!("invalid character {} in metric name", show_byte(c)));
        }
        let tail = if text {
            text_tail(line, i)?
        } else {
            self.openmetrics_tail(line, i, n)?
        };
        let sample = SampleRef {
            series: &line[..series_end],
            name,
            value: tail.value,
            timestamp_ms: tail.timestamp.map(|t| t.1),
            line: n,
            exemplar: tail.exemplar,
            label_block: block,
        };
        Ok((sample, tail.timestamp.map(|t| t.0)))
    }

    /// ` value [timestamp] [exemplar]`, with single spaces, as OpenMetrics
    /// requires.
    fn openmetrics_tail(&mut self, line: &'a [u8], i: usize, n: usize) -> Result<Tail<'a>, String> {
        match line.get(i) {
            Some(b' ') => {}
            None => return Err("missing value".to_string()),
            Some(&c) => {
                return Err(format!(
                    "expected ' ' before the value, found {}",
                    show_byte(c)
                ));
            }
        }
        let (token, next) = space_token(line, i + 1);
        if token.is_empty() {
            return Err("missing value (exactly one space must precede it)".to_string());
        }
        let value = parse_float(token).ok_or_else(|| invalid("value", token))?;
        let mut tail = Tail {
            value,
            timestamp: None,
            exemplar: None,
        };
        let Some(mut k) = next else {
            return Ok(tail);
        };
        if line.get(k) != Some(&b'#') {
            let (token, next) = space_token(line, k);
            let ts = parse_om_timestamp(token).ok_or_else(|| invalid("timestamp", token))?;
            tail.timestamp = Some(ts);
            match next {
                None => return Ok(tail),
                Some(e) if line.get(e) == Some(&b'#') => k = e,
                Some(_) => return Err("unexpected text after the timestamp".to_string()),
            }
        }
        tail.exemplar = Some(self.exemplar(line, k, n)?);
        Ok(tail)
    }

    /// `# {labels} value [timestamp]` starting at the `#` at `h`.
    fn exemplar(&mut self, line: &'a [u8], h: usize, n: usize) -> Result<Exemplar<'a>, String> {
        if line.get(h + 1) != Some(&b' ') || line.get(h + 2) != Some(&b'{') {
            return Err("invalid exemplar: expected \" # {\"".to_string());
        }
        let open = h + 2;
        self.exemplar_spans.clear();
        let (close, _) = label_block(line, open, false, &mut self.exemplar_spans)
            .map_err(|m| format!("invalid exemplar: {m}"))?;
        let block = std::str::from_utf8(&line[open + 1..close - 1])
            .map_err(|_| "exemplar label values are not valid utf-8".to_string())?;
        if let Some(d) = duplicate_label(line, &self.exemplar_spans, &mut self.dup_scratch) {
            return Err(format!(
                "duplicate exemplar label name \"{}\"",
                String::from_utf8_lossy(d)
            ));
        }
        let chars: usize = self
            .exemplar_spans
            .iter()
            .map(|s| {
                let value = block
                    .get(s.value.start - (open + 1)..s.value.end - (open + 1))
                    .unwrap_or_default();
                s.name.len() + unescaped_chars(value)
            })
            .sum();
        if chars > MAX_EXEMPLAR_CHARS {
            return Err(format!(
                "exemplar labels have {chars} characters, more than {MAX_EXEMPLAR_CHARS}"
            ));
        }
        if line.get(close) != Some(&b' ') {
            return Err("expected ' ' after the exemplar labels".to_string());
        }
        let (token, next) = space_token(line, close + 1);
        let value = parse_float(token).ok_or_else(|| invalid("exemplar value", token))?;
        let timestamp_ms = match next {
            None => None,
            Some(k) => {
                let token = &line[k..];
                Some(
                    parse_om_timestamp(token)
                        .ok_or_else(|| invalid("exemplar timestamp", token))?
                        .1,
                )
            }
        };
        Ok(Exemplar {
            value,
            timestamp_ms,
            label_block: block,
            line: n,
        })
    }
}

/// After the parser has returned an error, the iterator ends.
impl<'a> Iterator for Parser<'a> {
    type Item = Result<Entry<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if matches!(self.state, State::Failed(_)) {
            return None;
        }
        self.next_entry().transpose()
    }
}

/// ` value [timestamp]` with any blanks between, as the Prometheus text format
/// allows.
fn text_tail<'a>(line: &[u8], i: usize) -> Result<Tail<'a>, String> {
    let j = skip_blanks(line, i);
    match line.get(j) {
        None => return Err("missing value".to_string()),
        Some(&c) if j == i => {
            return Err(format!(
                "unexpected {} after the metric name or labels",
                show_byte(c)
            ));
        }
        Some(_) => {}
    }
    let end = token_end(line, j);
    let token = &line[j..end];
    let value = parse_float(token).ok_or_else(|| invalid("value", token))?;
    let k = skip_blanks(line, end);
    let mut tail = Tail {
        value,
        timestamp: None,
        exemplar: None,
    };
    if k == line.len() {
        return Ok(tail);
    }
    let end = token_end(line, k);
    let token = &line[k..end];
    let ms = parse_ms_timestamp(token).ok_or_else(|| invalid("timestamp", token))?;
    if skip_blanks(line, end) != line.len() {
        return Err("unexpected text after the timestamp".to_string());
    }
    tail.timestamp = Some((ms as f64 / 1000.0, ms));
    Ok(tail)
}

/// The token starting at `i` up to the next space, and the index after that
/// space if there is one.
fn space_token(line: &[u8], i: usize) -> (&[u8], Option<usize>) {
    let rest = line.get(i..).unwrap_or_default();
    match find_byte(rest, b' ') {
        Some(k) => (&rest[..k], Some(i + k + 1)),
        None => (rest, None),
    }
}

/// The end of the token starting at `i` (up to a blank or the end).
fn token_end(line: &[u8], mut i: usize) -> usize {
    while i < line.len() && !is_blank(line[i]) {
        i += 1;
    }
    i
}

fn trim_text(line: &[u8]) -> &[u8] {
    let start = skip_blanks(line, 0);
    let mut end = line.len();
    while end > start && matches!(line[end - 1], b' ' | b'\t' | b'\r') {
        end -= 1;
    }
    &line[start..end]
}

fn invalid(what: &str, token: &[u8]) -> String {
    if token.is_empty() {
        return format!("missing {what} (only single spaces separate fields)");
    }
    format!("invalid {what} \"{}\"", String::from_utf8_lossy(token))
}

/// Names are ASCII by grammar, so this never sees other bytes.
fn ascii(s: &[u8]) -> &str {
    std::str::from_utf8(s).unwrap_or_default()
}
