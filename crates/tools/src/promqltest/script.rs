//! Parsing of the upstream promqltest script format into commands.
//!
//! The grammar follows `promql/promqltest/test.go` of prometheus/prometheus:
//! lines are trimmed, `#` lines are blank, a command's block ends at the
//! first blank line. Line numbers in this module are 1-based.

use std::collections::HashMap;
use std::sync::LazyLock;

use argus_model::duration::parse_duration_ms;
use argus_model::labels::{Labels, LabelsBuilder};
use argus_model::sample::stale_nan;
use argus_model::strconv;
use regex::Regex;

static PAT_SPACE: LazyLock<Regex> = LazyLock::new(|| re(r"[\t ]+"));
static PAT_LOAD: LazyLock<Regex> = LazyLock::new(|| re(r"^load(?:_(with_nhcb))?\s+(.+?)$"));
static PAT_EVAL_INSTANT: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
});
static PAT_EVAL_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$")
});
static PAT_EXPECT: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$")
});
static PAT_EXPECT_RANGE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$"));
/// Matches anything on one line, as upstream's `patMatchAny`.
pub(crate) static PAT_MATCH_ANY: LazyLock<Regex> = LazyLock::new(|| re(r"^.*$"));

/// Compiles a pattern that is a constant of this module.
fn re(p: &str) -> Regex {
    match Regex::new(p) {
        Ok(r) => r,
        Err(e) => panic!("constant regex {p:?} is invalid: {e}"),
    }
}

const RANGE_VECTOR_PREFIX: &str = "expect range vector";
const EXPECT_STRING_PREFIX: &str = "expect string";

/// A parse error at a 1-based line.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptError {
    pub line: usize,
    pub message: String,
}

impl ScriptError {
    fn new(line: usize, message: impl Into<String>) -> ScriptError {
        ScriptError {
            line,
            message: message.into(),
        }
    }
}

/// Why a series line (`metric{labels} values...`) does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeriesParseError {
    #[error("unexpected end of input")]
    EndOfInput,
    #[error("invalid string literal {0}")]
    StringLiteral(String),
    #[error("unterminated quoted string")]
    Unterminated,
    #[error("unexpected character in label set: {0:?}")]
    LabelSetChar(String),
    #[error("expected a quoted label value after {0}=")]
    UnquotedValue(String),
    #[error("expected ',' or '}}' in label set, got {0:?}")]
    LabelSetSeparator(String),
    #[error("expected a metric name or label set, got {0:?}")]
    NoMetric(String),
    #[error("unexpected {0:?} after the metric")]
    AfterMetric(String),
    #[error("invalid series value {item:?}: {problem}")]
    Value { item: String, problem: ValueProblem },
}

/// What is wrong with one value item (`1+2x3`, `_x2`, `stale`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueProblem {
    #[error("invalid repetition {0:?}")]
    Repetition(String),
    #[error("invalid repetition in series values: {0}")]
    RepetitionRange(std::num::ParseIntError),
    #[error("too many repetitions")]
    TooManyRepetitions,
    #[error("expected 'x' after '_'")]
    OmittedWithoutX,
    #[error("unexpected {0:?}")]
    Unexpected(String),
    #[error("expected a sign")]
    ExpectedSign,
    #[error("expected a number or \"stale\", got {0:?}")]
    NotANumber(String),
    #[error("invalid number {0:?}")]
    InvalidNumber(String),
    #[error("unexpected {0:?} after number")]
    AfterNumber(String),
}

/// One element of a value sequence: a float, or a step with no sample
/// (`_`). An omitted value reads as 0 where upstream reads it anyway.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeqValue {
    pub omitted: bool,
    pub value: f64,
}

impl SeqValue {
    pub fn value(v: f64) -> SeqValue {
        SeqValue {
            omitted: false,
            value: v,
        }
    }

    pub fn omitted() -> SeqValue {
        SeqValue {
            omitted: true,
            value: 0.0,
        }
    }
}

/// A parsed `metric{labels} values...` line.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesDesc {
    pub labels: Labels,
    pub values: Vec<SeqValue>,
    /// The values contain native histograms (`{{...}}`); `values` is then
    /// not filled in.
    pub histogram: bool,
}

#[derive(Debug, Clone)]
pub struct LoadCmd {
    pub line: usize,
    pub interval_ms: i64,
    pub with_nhcb: bool,
    /// Series in file order; a later line for the same labels replaces an
    /// earlier one, as upstream's map does.
    pub series: Vec<SeriesDesc>,
    /// Series that carry start timestamps (`name{...}@st` lines).
    pub st_series: Vec<Labels>,
}

/// `expect <type> [msg|regex: ...]`.
#[derive(Debug, Clone)]
pub struct ExpectMatch {
    pub message: String,
    pub regex: Option<Regex>,
}

impl ExpectMatch {
    pub fn check(&self, s: &str) -> bool {
        match &self.regex {
            Some(r) => r.is_match(s),
            None => self.message == s,
        }
    }

    pub fn describe(&self) -> (&'static str, &str) {
        match &self.regex {
            Some(r) => ("pattern", r.as_str()),
            None => ("message", &self.message),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectType {
    Ordered,
    Fail,
    Warn,
    NoWarn,
    Info,
    NoInfo,
}

#[derive(Debug, Clone, Default)]
pub struct ExpectCmds {
    pub ordered: Vec<ExpectMatch>,
    pub fail: Vec<ExpectMatch>,
    pub warn: Vec<ExpectMatch>,
    pub no_warn: Vec<ExpectMatch>,
    pub info: Vec<ExpectMatch>,
    pub no_info: Vec<ExpectMatch>,
}

impl ExpectCmds {
    fn push(&mut self, t: ExpectType, m: ExpectMatch) {
        match t {
            ExpectType::Ordered => self.ordered.push(m),
            ExpectType::Fail => self.fail.push(m),
            ExpectType::Warn => self.warn.push(m),
            ExpectType::NoWarn => self.no_warn.push(m),
            ExpectType::Info => self.info.push(m),
            ExpectType::NoInfo => self.no_info.push(m),
        }
    }
}

/// An expected series: its 1-based position among the result lines and
/// its values.
#[derive(Debug, Clone)]
pub struct Entry {
    pub pos: usize,
    pub vals: Vec<SeqValue>,
}

#[derive(Debug, Clone)]
pub struct EvalCmd {
    pub line: usize,
    pub expr: String,
    pub is_range: bool,
    /// Range start, or the evaluation time of an instant query.
    pub start: i64,
    /// Range end; `i64::MIN` for an instant query without
    /// `expect range vector` (upstream's zero time).
    pub end: i64,
    pub step: i64,
    /// Evaluation time of an instant query.
    pub eval: i64,
    pub fail: bool,
    pub warn: bool,
    pub info: bool,
    pub ordered: bool,
    pub expected_fail_message: String,
    pub expected_fail_regexp: Option<Regex>,
    pub expect: ExpectCmds,
    pub metrics: HashMap<Labels, Entry>,
    /// Insertion order of `metrics`, for messages.
    pub metric_order: Vec<Labels>,
    pub expect_scalar: bool,
    pub scalar: Option<Entry>,
    pub expected_string: String,
    pub exclude_from_range_query: bool,
    /// An expected value is a native histogram (`{{...}}`).
    pub expects_histogram: bool,
}

impl EvalCmd {
    fn new(line: usize, expr: &str) -> EvalCmd {
        EvalCmd {
            line,
            expr: expr.to_string(),
            is_range: false,
            start: 0,
            end: i64::MIN,
            step: 0,
            eval: 0,
            fail: false,
            warn: false,
            info: false,
            ordered: false,
            expected_fail_message: String::new(),
            expected_fail_regexp: None,
            expect: ExpectCmds::default(),
            metrics: HashMap::new(),
            metric_order: Vec::new(),
            expect_scalar: false,
            scalar: None,
            expected_string: String::new(),
            exclude_from_range_query: false,
            expects_histogram: false,
        }
    }

    pub fn is_ordered(&self) -> bool {
        self.ordered || !self.expect.ordered.is_empty()
    }

    pub fn is_fail(&self) -> bool {
        self.fail || !self.expect.fail.is_empty()
    }

    fn expect_metric(&mut self, pos: usize, labels: Labels, vals: Vec<SeqValue>) {
        self.expect_scalar = false;
        if !self.metrics.contains_key(&labels) {
            self.metric_order.push(labels.clone());
        }
        self.metrics.insert(labels, Entry { pos, vals });
    }
}

#[derive(Debug, Clone)]
pub enum Command {
    Clear {
        line: usize,
    },
    Load(LoadCmd),
    Eval(Box<EvalCmd>),
    /// A command that does not parse (`is_load`: it was a `load`).
    Invalid {
        error: ScriptError,
        is_load: bool,
    },
}

/// Trimmed lines with comments blanked, as upstream's `getLines`.
fn get_lines(input: &str) -> Vec<String> {
    input
        .split('\n')
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                String::new()
            } else {
                l.to_string()
            }
        })
        .collect()
}

/// Index of the last line of the block starting at `i` (a command line).
fn block_end(lines: &[String], i: usize) -> usize {
    let mut j = i;
    while j + 1 < lines.len() && !lines[j + 1].is_empty() {
        j += 1;
    }
    j
}

/// Parses a whole script. A command that does not parse becomes
/// [`Command::Invalid`] and parsing resumes after its block, so one bad
/// command costs one case, not the file.
pub fn parse_script(input: &str) -> Vec<Command> {
    let lines = get_lines(input);
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        if l.is_empty() {
            i += 1;
            continue;
        }
        let word = PAT_SPACE
            .splitn(l, 2)
            .next()
            .unwrap_or_default()
            .to_lowercase();
        let res = if word == "clear" {
            Ok((i, Command::Clear { line: i + 1 }))
        } else if word.starts_with("load") {
            parse_load(&lines, i).map(|(j, c)| (j, Command::Load(c)))
        } else if word.starts_with("eval") {
            parse_eval(&lines, i).map(|(j, c)| (j, Command::Eval(Box::new(c))))
        } else {
            Err(ScriptError::new(i + 1, format!("invalid command {l:?}")))
        };
        match res {
            Ok((j, c)) => {
                cmds.push(c);
                i = j + 1;
            }
            Err(error) => {
                let is_load = word.starts_with("load");
                cmds.push(Command::Invalid { error, is_load });
                // A bad load or eval takes its indented block with it; any
                // other unknown line is skipped alone.
                i = if is_load || word.starts_with("eval") {
                    block_end(&lines, i) + 1
                } else {
                    i + 1
                };
            }
        }
    }
    cmds
}

fn parse_duration_i64(s: &str) -> Result<i64, String> {
    parse_duration_ms(s)
        .map_err(|e| e.to_string())
        .and_then(|v| i64::try_from(v).map_err(|_| format!("duration {s:?} is too large")))
}

fn parse_load(lines: &[String], mut i: usize) -> Result<(usize, LoadCmd), ScriptError> {
    let line = i + 1;
    let caps = PAT_LOAD.captures(&lines[i]).ok_or_else(|| {
        ScriptError::new(
            line,
            "invalid load command. (load[_with_nhcb] <step:duration>)",
        )
    })?;
    let with_nhcb = caps.get(1).is_some();
    let step = caps.get(2).map_or("", |m| m.as_str());
    let interval_ms = parse_duration_i64(step)
        .map_err(|e| ScriptError::new(line, format!("invalid step definition {step:?}: {e}")))?;
    let mut cmd = LoadCmd {
        line,
        interval_ms,
        with_nhcb,
        series: Vec::new(),
        st_series: Vec::new(),
    };
    let mut pending_st: Option<(Labels, usize)> = None;
    while i + 1 < lines.len() {
        i += 1;
        let def = &lines[i];
        if def.is_empty() {
            i -= 1;
            break;
        }
        if let Some((metric, _)) = split_st_line(def) {
            if let Some((_, l)) = &pending_st {
                return Err(ScriptError::new(
                    *l,
                    "@st line has no following sample line",
                ));
            }
            let (labels, rest) =
                parse_metric(metric).map_err(|e| ScriptError::new(i + 1, e.to_string()))?;
            if !rest.trim().is_empty() {
                return Err(ScriptError::new(i + 1, "invalid @st line metric"));
            }
            pending_st = Some((labels, i + 1));
            continue;
        }
        let desc = parse_series(def).map_err(|e| ScriptError::new(i + 1, e.to_string()))?;
        if let Some((st_labels, l)) = pending_st.take() {
            if st_labels != desc.labels {
                return Err(ScriptError::new(
                    l,
                    "@st metric does not match the following sample line metric",
                ));
            }
            cmd.st_series.push(st_labels);
        }
        cmd.series.retain(|s| s.labels != desc.labels);
        cmd.series.push(desc);
    }
    if let Some((_, l)) = pending_st {
        return Err(ScriptError::new(l, "@st line has no following sample line"));
    }
    Ok((i, cmd))
}

/// `metric{...}@st values`: the metric part before `@st` and the values.
fn split_st_line(def: &str) -> Option<(&str, &str)> {
    let idx = def.find([' ', '\t'])?;
    let head = def[..idx].strip_suffix("@st")?;
    Some((head, &def[idx + 1..]))
}

fn parse_eval(lines: &[String], mut i: usize) -> Result<(usize, EvalCmd), ScriptError> {
    let text = &lines[i];
    let line = i + 1;
    let inst = PAT_EVAL_INSTANT.captures(text);
    let rng = PAT_EVAL_RANGE.captures(text);
    let cap = |c: &regex::Captures<'_>, n: usize| c.get(n).map_or("", |m| m.as_str()).to_string();
    let (is_instant, modifier, expr) = match (&inst, &rng) {
        (Some(c), _) => (true, cap(c, 1), cap(c, 3)),
        (None, Some(c)) => (false, cap(c, 1), cap(c, 5)),
        (None, None) => {
            return Err(ScriptError::new(
                line,
                "invalid evaluation command. Must be either 'eval[_fail|_warn|_ordered] instant \
                 [at <offset:duration>] <query>' or 'eval[_fail|_warn] range from <from> to <to> \
                 step <step> <query>'",
            ));
        }
    };
    let format_err =
        |msg: String| ScriptError::new(line, format!("error in eval {expr} (line {line}): {msg}"));
    let mut cmd = EvalCmd::new(line, &expr);
    if let Some(c) = &inst
        && is_instant
    {
        let at = cap(c, 2);
        let t = parse_duration_i64(&at)
            .map_err(|e| format_err(format!("invalid timestamp definition {at:?}: {e}")))?;
        cmd.start = t;
        cmd.eval = t;
    } else if let Some(c) = &rng {
        let (from, to, step) =
            parse_durations(&cap(c, 2), &cap(c, 3), &cap(c, 4)).map_err(&format_err)?;
        cmd.is_range = true;
        cmd.start = from;
        cmd.end = to;
        cmd.step = step;
    }
    match modifier.as_str() {
        "ordered" => cmd.ordered = true,
        "fail" => cmd.fail = true,
        "warn" => cmd.warn = true,
        "info" => cmd.info = true,
        _ => {}
    }

    let mut expect_range_vector = false;
    let mut j: usize = 1;
    while i + 1 < lines.len() {
        i += 1;
        let def = lines[i].as_str();
        if def.is_empty() {
            i -= 1;
            break;
        }
        let this = i + 1;
        if cmd.fail && def.starts_with("expected_fail_message") {
            cmd.expected_fail_message = def["expected_fail_message".len()..].trim().to_string();
            break;
        }
        if cmd.fail && def.starts_with("expected_fail_regexp") {
            let pattern = def["expected_fail_regexp".len()..].trim();
            cmd.expected_fail_regexp = Some(Regex::new(pattern).map_err(|e| {
                format_err(format!(
                    "invalid regexp '{pattern}' for expected_fail_regexp: {e}"
                ))
            })?);
            break;
        }
        if def.starts_with(RANGE_VECTOR_PREFIX) {
            let c = PAT_EXPECT_RANGE
                .captures(def)
                .ok_or_else(|| format_err(format!("invalid range vector definition {def:?}")))?;
            let (from, to, step) =
                parse_durations(&cap(&c, 1), &cap(&c, 2), &cap(&c, 3)).map_err(&format_err)?;
            expect_range_vector = true;
            cmd.start = from;
            cmd.end = to;
            cmd.step = step;
            cmd.eval = to;
            cmd.exclude_from_range_query = true;
            j += 1;
            continue;
        }
        if def.starts_with(EXPECT_STRING_PREFIX) {
            cmd.expected_string = parse_as_string_literal(def).map_err(&format_err)?;
            cmd.exclude_from_range_query = true;
            j += 1;
            continue;
        }
        if def.split(' ').next() == Some("expect") {
            let (t, m) = parse_expect(def).map_err(&format_err)?;
            cmd.expect.push(t, m);
            validate_expected_cmds(&cmd).map_err(&format_err)?;
            continue;
        }
        if let Some(f) = parse_go_number(def) {
            cmd.expect_scalar = true;
            cmd.scalar = Some(Entry {
                pos: 0,
                vals: vec![SeqValue::value(f)],
            });
            break;
        }
        let desc = parse_series(def).map_err(|e| ScriptError::new(this, e.to_string()))?;
        if desc.histogram {
            cmd.expects_histogram = true;
        }
        if desc.values.len() > 1 && is_instant && !expect_range_vector {
            return Err(format_err(
                "expecting multiple values in instant evaluation not allowed. consider using \
                 'expect range vector' directive to enable a range vector result for an instant \
                 query"
                    .to_string(),
            ));
        }
        cmd.expect_metric(j, desc.labels, desc.values);
        j += 1;
    }
    Ok((i, cmd))
}

fn parse_durations(from: &str, to: &str, step: &str) -> Result<(i64, i64, i64), String> {
    let f = parse_duration_i64(from)
        .map_err(|e| format!("invalid start timestamp definition {from:?}: {e}"))?;
    let t = parse_duration_i64(to)
        .map_err(|e| format!("invalid end timestamp definition {to:?}: {e}"))?;
    if t < f {
        return Err(format!(
            "invalid test definition, end timestamp ({to}) is before start timestamp ({from})"
        ));
    }
    let s =
        parse_duration_i64(step).map_err(|e| format!("invalid step definition {step:?}: {e}"))?;
    Ok((f, t, s))
}

pub(crate) fn parse_expect(def: &str) -> Result<(ExpectType, ExpectMatch), String> {
    let c = PAT_EXPECT.captures(def.trim()).ok_or_else(|| {
        "invalid expect statement, must match `expect <type> <match_type>: <string>` format"
            .to_string()
    })?;
    let mode = c.get(1).map_or("", |m| m.as_str());
    let t = match mode {
        "ordered" => ExpectType::Ordered,
        "fail" => ExpectType::Fail,
        "warn" => ExpectType::Warn,
        "no_warn" => ExpectType::NoWarn,
        "info" => ExpectType::Info,
        "no_info" => ExpectType::NoInfo,
        _ => return Err(format!("invalid expected error/annotation type {mode}")),
    };
    let arg = c.get(3).map_or("", |m| m.as_str()).trim();
    let m = match c.get(2).map(|m| m.as_str()) {
        Some("msg") => ExpectMatch {
            message: arg.to_string(),
            regex: None,
        },
        Some("regex") => ExpectMatch {
            message: String::new(),
            regex: Some(Regex::new(arg).map_err(|_| format!("invalid regex {arg} for {mode}"))?),
        },
        Some(other) => return Err(format!("invalid token {other} after {mode}")),
        None => ExpectMatch {
            message: String::new(),
            regex: Some(PAT_MATCH_ANY.clone()),
        },
    };
    Ok((t, m))
}

fn validate_expected_cmds(cmd: &EvalCmd) -> Result<(), String> {
    let e = &cmd.expect;
    if !e.info.is_empty() && !e.no_info.is_empty() {
        return Err("invalid expect lines, info and no_info cannot be used together".into());
    }
    if !e.warn.is_empty() && !e.no_warn.is_empty() {
        return Err("invalid expect lines, warn and no_warn cannot be used together".into());
    }
    if e.fail.len() > 1 {
        return Err("invalid expect lines, multiple expect fail lines are not allowed".into());
    }
    Ok(())
}

fn parse_as_string_literal(line: &str) -> Result<String, String> {
    const MSG: &str = "expected string literal not valid - a quoted string literal is required";
    if line == EXPECT_STRING_PREFIX {
        return Err(MSG.into());
    }
    let s = line
        .strip_prefix(EXPECT_STRING_PREFIX)
        .and_then(|s| s.strip_prefix(' '))
        .unwrap_or(line);
    if s.is_empty() {
        return Err(MSG.into());
    }
    go_unquote(s).ok_or_else(|| {
        "expected string literal not valid - check that the string is correctly quoted".into()
    })
}

/// Go's `strconv.ParseInt(s, 0, 64)` then `strconv.ParseFloat(s, 64)`.
pub fn parse_go_number(s: &str) -> Option<f64> {
    parse_go_int(s)
        .map(|i| i as f64)
        .or_else(|| strconv::parse_float(s).ok())
}

fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string(), true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string(), true)
    } else {
        (10, lower.clone(), false)
    };
    // Underscores are allowed between digits (and after a base prefix).
    if digits.contains('_') {
        let ok = !digits.ends_with('_')
            && !digits.contains("__")
            && (prefixed || !digits.starts_with('_'));
        if !ok {
            return None;
        }
    }
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = u64::from_str_radix(&digits, radix).ok()?;
    if neg {
        if v > (i64::MAX as u64) + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Go's `strconv.Unquote` for `"..."`, `'...'` (as a string here) and
/// backquoted strings.
pub fn go_unquote(s: &str) -> Option<String> {
    let q = s.chars().next()?;
    if s.len() < 2 || !s.ends_with(q) {
        return None;
    }
    let body = &s[1..s.len() - 1];
    match q {
        '`' => (!body.contains('`')).then(|| body.replace('\r', "")),
        '"' | '\'' => unescape(body, q),
        _ => None,
    }
}

fn unescape(body: &str, q: char) -> Option<String> {
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut chars = body.chars();
    let push = |out: &mut Vec<u8>, c: char| {
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    };
    let hex = |chars: &mut std::str::Chars<'_>, n: usize| {
        let mut v = 0u32;
        for _ in 0..n {
            v = v * 16 + chars.next()?.to_digit(16)?;
        }
        Some(v)
    };
    while let Some(c) = chars.next() {
        if c == q || c == '\n' {
            return None;
        }
        if c != '\\' {
            push(&mut out, c);
            continue;
        }
        let e = chars.next()?;
        match e {
            'a' => out.push(0x07),
            'b' => out.push(0x08),
            'f' => out.push(0x0c),
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            't' => out.push(b'\t'),
            'v' => out.push(0x0b),
            '\\' => out.push(b'\\'),
            '"' | '\'' if e == q => push(&mut out, e),
            'x' => out.push(u8::try_from(hex(&mut chars, 2)?).ok()?),
            'u' => push(&mut out, char::from_u32(hex(&mut chars, 4)?)?),
            'U' => push(&mut out, char::from_u32(hex(&mut chars, 8)?)?),
            '0'..='7' => {
                let mut v = e.to_digit(8)?;
                for _ in 0..2 {
                    v = v * 8 + chars.next()?.to_digit(8)?;
                }
                out.push(u8::try_from(v).ok()?);
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Reads a quoted string at the start of `s`; returns it unquoted and the rest.
fn take_quoted(s: &str) -> Result<(String, &str), SeriesParseError> {
    let q = s.chars().next().ok_or(SeriesParseError::EndOfInput)?;
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        if escaped {
            escaped = false;
        } else if c == '\\' && q != '`' {
            escaped = true;
        } else if c == q {
            let lit = &s[..i + c.len_utf8()];
            let v =
                go_unquote(lit).ok_or_else(|| SeriesParseError::StringLiteral(lit.to_string()))?;
            return Ok((v, &s[i + c.len_utf8()..]));
        }
    }
    Err(SeriesParseError::Unterminated)
}

fn take_ident(s: &str) -> (&str, &str) {
    let end = s
        .char_indices()
        .find(|&(i, c)| {
            !(if i == 0 {
                is_ident_start(c)
            } else {
                is_ident_char(c)
            })
        })
        .map_or(s.len(), |(i, _)| i);
    (&s[..end], &s[end..])
}

/// Parses `name{l="v", ...}` / `{__name__="x"}` / `{"name", l="v"}` at the
/// start of `s`; returns the labels and the rest of the line.
pub fn parse_metric(s: &str) -> Result<(Labels, &str), SeriesParseError> {
    let mut b = LabelsBuilder::new();
    let mut rest = s.trim_start();
    let (name, r) = take_ident(rest);
    if !name.is_empty() {
        b.set("__name__", name);
        rest = r;
    }
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let (lname, r) = if rest.starts_with(['"', '\'', '`']) {
                take_quoted(rest)?
            } else {
                let (id, r) = take_ident(rest);
                if id.is_empty() {
                    return Err(SeriesParseError::LabelSetChar(rest.to_string()));
                }
                (id.to_string(), r)
            };
            rest = r.trim_start();
            if let Some(r) = rest.strip_prefix('=') {
                let r = r.trim_start();
                if !r.starts_with(['"', '\'', '`']) {
                    return Err(SeriesParseError::UnquotedValue(lname));
                }
                let (v, r) = take_quoted(r)?;
                b.set(&lname, &v);
                rest = r;
            } else {
                // A lone quoted string is the metric name.
                b.set("__name__", &lname);
            }
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else if !rest.starts_with('}') {
                return Err(SeriesParseError::LabelSetSeparator(rest.to_string()));
            }
        }
    } else if name.is_empty() {
        return Err(SeriesParseError::NoMetric(s.to_string()));
    }
    Ok((b.build(), rest))
}

/// Parses a series line: metric, then whitespace-separated value items.
pub fn parse_series(line: &str) -> Result<SeriesDesc, SeriesParseError> {
    let (labels, rest) = parse_metric(line)?;
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return Err(SeriesParseError::AfterMetric(rest.to_string()));
    }
    if rest.contains("{{") {
        return Ok(SeriesDesc {
            labels,
            values: Vec::new(),
            histogram: true,
        });
    }
    let values = parse_values(rest)?;
    Ok(SeriesDesc {
        labels,
        values,
        histogram: false,
    })
}

/// Expands value items: `a`, `axn`, `a+bxn`, `a-bxn`, `_`, `_xn`,
/// `stale`, `Inf`, `NaN`.
pub fn parse_values(s: &str) -> Result<Vec<SeqValue>, SeriesParseError> {
    let mut out = Vec::new();
    for item in s.split_whitespace() {
        expand_item(item, &mut out).map_err(|problem| SeriesParseError::Value {
            item: item.to_string(),
            problem,
        })?;
    }
    Ok(out)
}

fn parse_uint(s: &str) -> Result<u64, ValueProblem> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueProblem::Repetition(s.to_string()));
    }
    s.parse::<u64>().map_err(ValueProblem::RepetitionRange)
}

const MAX_EXPANSION: u64 = 10_000_000;

fn expand_item(item: &str, out: &mut Vec<SeqValue>) -> Result<(), ValueProblem> {
    if let Some(rest) = item.strip_prefix('_') {
        if rest.is_empty() {
            out.push(SeqValue::omitted());
            return Ok(());
        }
        let n = parse_uint(
            rest.strip_prefix('x')
                .ok_or(ValueProblem::OmittedWithoutX)?,
        )?;
        if n > MAX_EXPANSION {
            return Err(ValueProblem::TooManyRepetitions);
        }
        out.extend((0..n).map(|_| SeqValue::omitted()));
        return Ok(());
    }
    let (base, rest) = take_signed_value(item, true)?;
    if rest.is_empty() {
        out.push(SeqValue::value(base));
        return Ok(());
    }
    let (delta, rest) = if rest.starts_with(['+', '-']) {
        let (d, r) = take_signed_value(rest, false)?;
        (Some(d), r)
    } else {
        (None, rest)
    };
    let n = parse_uint(
        rest.strip_prefix('x')
            .ok_or_else(|| ValueProblem::Unexpected(rest.to_string()))?,
    )?;
    if n >= MAX_EXPANSION {
        return Err(ValueProblem::TooManyRepetitions);
    }
    let mut v = base;
    for _ in 0..=n {
        out.push(SeqValue::value(v));
        if let Some(d) = delta {
            v += d;
        }
    }
    Ok(())
}

/// A value with an optional sign; `allow_stale` for the first value of an
/// item. Returns the value and the unparsed rest.
fn take_signed_value(s: &str, allow_stale: bool) -> Result<(f64, &str), ValueProblem> {
    let (neg, signed, body) = match s.as_bytes().first() {
        Some(b'-') => (true, true, &s[1..]),
        Some(b'+') => (false, true, &s[1..]),
        _ => (false, false, s),
    };
    if !signed && !allow_stale {
        return Err(ValueProblem::ExpectedSign);
    }
    let (v, rest) = if body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        take_number(body)?
    } else {
        let (word, rest) = take_word(body);
        match word.to_ascii_lowercase().as_str() {
            "inf" => (f64::INFINITY, rest),
            "nan" => (f64::NAN, rest),
            _ if word == "stale" && allow_stale && !signed => (stale_nan(), rest),
            _ => return Err(ValueProblem::NotANumber(word.to_string())),
        }
    };
    Ok((if neg { -v } else { v }, rest))
}

/// An alphabetic word, stopping before the repetition `x`.
fn take_word(s: &str) -> (&str, &str) {
    let lower = s.to_ascii_lowercase();
    for w in ["stale", "inf", "nan"] {
        if lower.starts_with(w) {
            return s.split_at(w.len());
        }
    }
    let end = s
        .char_indices()
        .find(|&(_, c)| !c.is_ascii_alphabetic())
        .map_or(s.len(), |(i, _)| i);
    s.split_at(end)
}

/// A decimal number (digits, fraction, exponent) at the start of `s`.
fn take_number(s: &str) -> Result<(f64, &str), ValueProblem> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let digits_start = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > digits_start {
            i = j;
        }
    }
    let text = &s[..i];
    let v =
        strconv::parse_float(text).map_err(|_| ValueProblem::InvalidNumber(text.to_string()))?;
    let rest = &s[i..];
    if rest.starts_with(|c: char| c.is_ascii_alphanumeric() && c != 'x') {
        return Err(ValueProblem::AfterNumber(rest.to_string()));
    }
    Ok((v, rest))
}
