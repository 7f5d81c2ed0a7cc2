//! Expression analysis with `promql-parser`: upstream's `@` rewrite
//! (`atModifierTestCases`), the selectors an expression reads, and the
//! experimental syntax it uses.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use argus_model::labels::Labels;
use argus_model::matcher::{MatchType, Matcher};
use promql_parser::label::{MatchOp, Matchers};
use promql_parser::parser::{self, AtModifier, BinModifier, Expr, LabelModifier, VectorSelector};
use regex::Regex;

/// Functions whose result depends on the evaluation time even when their
/// arguments are pinned by `@` (upstream's `AtModifierUnsafeFunctions`).
const AT_MODIFIER_UNSAFE_FUNCTIONS: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "end",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "range",
    "start",
    "step",
    "time",
    "timestamp",
];

/// Upstream's `reQueryContextFuncs`: expressions whose value depends on the
/// query's range are not re-checked in range mode.
pub static RE_QUERY_CONTEXT_FUNCS: LazyLock<Regex> =
    LazyLock::new(|| match Regex::new(r"(start|end|range|step)\(\)") {
        Ok(r) => r,
        Err(e) => panic!("constant regex: {e}"),
    });

/// A string escape for a byte that is not valid UTF-8 on its own.
static RAW_BYTE_ESCAPE: LazyLock<Regex> =
    LazyLock::new(
        || match Regex::new(r"\\(x[89a-fA-F][0-9a-fA-F]|[23][0-7]{2})") {
            Ok(r) => r,
            Err(e) => panic!("constant regex: {e}"),
        },
    );

/// Why the `@` variants could not be built.
#[derive(Debug, Clone, PartialEq)]
pub enum AtError {
    /// `promql-parser` rejects the expression.
    Parse(String),
    /// The rewritten expression does not print and parse back faithfully.
    RoundTrip(String),
}

/// One extra instant query of upstream's `@` check.
#[derive(Debug, Clone, PartialEq)]
pub struct AtCase {
    pub expr: String,
    pub eval_time: i64,
}

fn at_time(ms: i64) -> SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        SystemTime::UNIX_EPOCH + d
    } else {
        SystemTime::UNIX_EPOCH - d
    }
}

fn set_at(at: &mut Option<AtModifier>, t: SystemTime) {
    // Upstream sets the timestamp where none is set; `@ start()` and
    // `@ end()` leave it unset, so they are replaced too.
    if !matches!(at, Some(AtModifier::At(_))) {
        *at = Some(AtModifier::At(t));
    }
}

/// Pins every selector and subquery outside a subquery to `t`; true if
/// an `@`-unsafe function is called outside a subquery.
fn pin(e: &mut Expr, t: SystemTime) -> bool {
    match e {
        Expr::VectorSelector(vs) => {
            set_at(&mut vs.at, t);
            false
        }
        Expr::MatrixSelector(ms) => {
            set_at(&mut ms.vs.at, t);
            false
        }
        Expr::Subquery(sq) => {
            // Everything below a subquery (which now has an `@`) is left
            // alone, calls included.
            set_at(&mut sq.at, t);
            false
        }
        Expr::Call(c) => {
            let mut unsafe_fn = AT_MODIFIER_UNSAFE_FUNCTIONS.contains(&c.func.name);
            for a in &mut c.args.args {
                unsafe_fn |= pin(a, t);
            }
            unsafe_fn
        }
        Expr::Aggregate(a) => {
            let mut u = pin(&mut a.expr, t);
            if let Some(p) = &mut a.param {
                u |= pin(p, t);
            }
            u
        }
        Expr::Unary(u) => pin(&mut u.expr, t),
        Expr::Binary(b) => {
            let l = pin(&mut b.lhs, t);
            let r = pin(&mut b.rhs, t);
            l || r
        }
        Expr::Paren(p) => pin(&mut p.expr, t),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => false,
    }
}

/// Upstream's `atModifierTestCases`: the expression with `@ <eval time>`
/// added to its selectors, evaluated at several other times. Empty when
/// the expression calls an `@`-unsafe function. An error when the
/// expression does not parse or the rewritten text would not parse back
/// to the same tree.
pub fn at_modifier_cases(expr: &str, eval_time: i64) -> Result<Vec<AtCase>, AtError> {
    let mut ast = parser::parse(expr).map_err(AtError::Parse)?;
    if RAW_BYTE_ESCAPE.is_match(expr) {
        // `"\xff"` is one invalid byte in Go; promql-parser reads it as
        // U+00FF and would print that valid character back, changing the
        // query. Such expressions are only run as written.
        return Ok(Vec::new());
    }
    let ts = eval_time;
    if pin(&mut ast, at_time(ts)) {
        return Ok(Vec::new());
    }
    let text = ast.to_string();
    // The printer sorts matchers; compare modulo their order.
    let back = parser::parse(&text).map(|mut b| {
        normalize(&mut b);
        b
    });
    let mut canonical = ast.clone();
    normalize(&mut canonical);
    match back {
        Ok(b) if b == canonical => {}
        Ok(_) => {
            return Err(AtError::RoundTrip(format!(
                "rewritten expression {text:?} does not round-trip"
            )));
        }
        Err(e) => {
            return Err(AtError::RoundTrip(format!(
                "rewritten expression {text:?} does not parse: {e}"
            )));
        }
    }
    let times: Vec<i64> = if ts == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![ts.saturating_mul(-10), 0, ts / 5, ts, ts.saturating_mul(10)]
    };
    Ok(times
        .into_iter()
        .map(|t| AtCase {
            expr: text.clone(),
            eval_time: t,
        })
        .collect())
}

fn sort_matchers(ms: &mut Matchers) {
    let key =
        |m: &promql_parser::label::Matcher| (m.name.clone(), m.op.to_string(), m.value.clone());
    ms.matchers.sort_by_key(key);
    for g in &mut ms.or_matchers {
        g.sort_by_key(key);
    }
}

/// Puts every selector's matchers in a canonical order.
fn normalize(e: &mut Expr) {
    match e {
        Expr::VectorSelector(vs) => sort_matchers(&mut vs.matchers),
        Expr::MatrixSelector(ms) => sort_matchers(&mut ms.vs.matchers),
        Expr::Subquery(sq) => normalize(&mut sq.expr),
        Expr::Call(c) => c.args.args.iter_mut().for_each(|a| normalize(a)),
        Expr::Aggregate(a) => {
            // `by ()` groups as no clause at all and prints as none.
            if matches!(&a.modifier, Some(LabelModifier::Include(l)) if l.labels.is_empty()) {
                a.modifier = None;
            }
            normalize(&mut a.expr);
            if let Some(p) = &mut a.param {
                normalize(p);
            }
        }
        Expr::Unary(u) => normalize(&mut u.expr),
        Expr::Binary(b) => {
            // `ignoring ()` matches as no clause at all and prints as none.
            if let Some(m) = &mut b.modifier {
                if matches!(&m.matching, Some(LabelModifier::Exclude(l)) if l.labels.is_empty()) {
                    m.matching = None;
                }
                if *m == BinModifier::default() {
                    b.modifier = None;
                }
            }
            normalize(&mut b.lhs);
            normalize(&mut b.rhs);
        }
        Expr::Paren(p) => normalize(&mut p.expr),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// The label matchers of one selector, alternatives for `or` in braces.
#[derive(Debug, Clone)]
pub struct SelectorMatchers {
    pub alternatives: Vec<Vec<Matcher>>,
}

impl SelectorMatchers {
    pub fn matches(&self, l: &Labels) -> bool {
        self.alternatives
            .iter()
            .any(|ms| ms.iter().all(|m| m.matches_labels(l)))
    }
}

fn convert(name: &Option<String>, ms: &Matchers) -> SelectorMatchers {
    let conv = |group: &[promql_parser::label::Matcher]| -> Vec<Matcher> {
        let mut out = Vec::new();
        if let Some(n) = name {
            out.push(Matcher::equal("__name__", n));
        }
        for m in group {
            let kind = match m.op {
                MatchOp::Equal => MatchType::Equal,
                MatchOp::NotEqual => MatchType::NotEqual,
                MatchOp::Re(_) => MatchType::Regex,
                MatchOp::NotRe(_) => MatchType::NotRegex,
            };
            // A matcher we cannot build is dropped: the selector then
            // matches more, which only makes the caller more careful.
            if let Ok(m) = Matcher::new(kind, &m.name, &m.value) {
                out.push(m);
            }
        }
        out
    };
    let mut alternatives = vec![conv(&ms.matchers)];
    if !ms.or_matchers.is_empty() {
        alternatives = ms.or_matchers.iter().map(|g| conv(g)).collect();
        if !ms.matchers.is_empty() {
            alternatives.push(conv(&ms.matchers));
        }
    }
    SelectorMatchers { alternatives }
}

fn collect(e: &Expr, out: &mut Vec<SelectorMatchers>) {
    let vs = |v: &VectorSelector, out: &mut Vec<SelectorMatchers>| {
        out.push(convert(&v.name, &v.matchers));
    };
    match e {
        Expr::VectorSelector(v) => vs(v, out),
        Expr::MatrixSelector(m) => vs(&m.vs, out),
        Expr::Subquery(s) => collect(&s.expr, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| collect(a, out)),
        Expr::Aggregate(a) => {
            collect(&a.expr, out);
            if let Some(p) = &a.param {
                collect(p, out);
            }
        }
        Expr::Unary(u) => collect(&u.expr, out),
        Expr::Binary(b) => {
            collect(&b.lhs, out);
            collect(&b.rhs, out);
        }
        Expr::Paren(p) => collect(&p.expr, out),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// An expression `promql-parser` rejects, with its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExprParseError(pub String);

/// The selectors an expression reads, or the parse error.
pub fn selectors(expr: &str) -> Result<Vec<SelectorMatchers>, ExprParseError> {
    let ast = parser::parse(expr).map_err(ExprParseError)?;
    let mut out = Vec::new();
    collect(&ast, &mut out);
    Ok(out)
}

static EXPERIMENTAL: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    let funcs = [
        "double_exponential_smoothing",
        "info",
        "max_of",
        "min_of",
        "mad_over_time",
        "ts_of_first_over_time",
        "ts_of_max_over_time",
        "ts_of_min_over_time",
        "ts_of_last_over_time",
        "start_timestamp",
        "start",
        "end",
        "range",
        "step",
        "limitk",
        "limit_ratio",
    ];
    let mut v = vec![
        (
            r"\b(anchored|smoothed)\b",
            "extended range selectors (anchored/smoothed)",
        ),
        (
            r"\bfill(_left|_right)?\s*\(",
            "binary operator fill modifiers",
        ),
        (
            r"\boffset\s*-?\s*(\(|[a-zA-Z_]+\s*\(|\d+(\.\d+)?\s*($|[-+*/%^),\]\s]))",
            "duration expressions",
        ),
    ];
    let func_re: Vec<(String, &'static str)> = funcs
        .iter()
        .map(|f| (format!(r"(?i)\b{f}\s*\("), "experimental functions"))
        .collect();
    let mut out: Vec<(Regex, &'static str)> = Vec::new();
    for (p, why) in v.drain(..) {
        if let Ok(r) = Regex::new(p) {
            out.push((r, why));
        }
    }
    for (p, why) in func_re {
        if let Ok(r) = Regex::new(&p) {
            out.push((r, why));
        }
    }
    out
});

/// The experimental syntax an expression appears to use (upstream's test
/// parser enables it all), for telling "the parser lacks a feature" from
/// a plain failure. A heuristic on the text: only consulted after the
/// engine rejected the expression as bad data.
pub fn experimental_feature(expr: &str) -> Option<String> {
    let code = strip_strings(expr);
    if let Some(seg) = bracket_duration_expression(&code) {
        return Some(format!("duration expressions (`[{seg}]`)"));
    }
    EXPERIMENTAL.iter().find_map(|(r, why)| {
        r.find(&code)
            .map(|m| format!("{why} (`{}`)", m.as_str().trim()))
    })
}

static DURATION_LITERAL: LazyLock<Regex> =
    LazyLock::new(|| match Regex::new(r"^\s*(\d+(ms|s|m|h|d|w|y))*\s*$") {
        Ok(r) => r,
        Err(e) => panic!("constant regex: {e}"),
    });

/// The contents of the first `[...]` whose range or step is not a plain
/// duration literal (`[26m+4m]`, `[1800]`, `[5m:step()]`).
fn bracket_duration_expression(code: &str) -> Option<&str> {
    let mut rest = code;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let close = after.find(']')?;
        let seg = &after[..close];
        let mut parts = seg.splitn(2, ':');
        let range = parts.next().unwrap_or_default();
        let step = parts.next().unwrap_or_default();
        let plain = |p: &str| DURATION_LITERAL.is_match(p);
        if range.trim().is_empty() || !plain(range) || !plain(step) {
            return Some(seg);
        }
        rest = &after[close + 1..];
    }
    None
}

/// The expression with the contents of string literals removed.
fn strip_strings(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in expr.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q != '`' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                    out.push(c);
                }
            }
            None => {
                if matches!(c, '"' | '\'' | '`') {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_cases_pin_selectors_outside_subqueries() {
        let cases = at_modifier_cases("sum(rate(foo[5m])) + bar", 100_000).expect("parses");
        assert_eq!(cases.len(), 5);
        assert!(
            cases[0].expr.contains("foo[5m] @ 100.000"),
            "{}",
            cases[0].expr
        );
        assert!(cases[0].expr.contains("bar @ 100.000"), "{}", cases[0].expr);
        let times: Vec<i64> = cases.iter().map(|c| c.eval_time).collect();
        assert_eq!(times, vec![-1_000_000, 0, 20_000, 100_000, 1_000_000]);
    }

    #[test]
    fn at_cases_at_zero_use_three_times() {
        let cases = at_modifier_cases("foo", 0).expect("parses");
        let times: Vec<i64> = cases.iter().map(|c| c.eval_time).collect();
        assert_eq!(times, vec![-1000, 0, 1000]);
    }

    #[test]
    fn at_cases_leave_subquery_contents_and_existing_at() {
        let cases =
            at_modifier_cases("max_over_time(foo[5m:1m]) + bar @ 50", 60_000).expect("parses");
        let e = &cases[0].expr;
        assert!(e.contains("foo[5m:1m] @ 60.000"), "{e}");
        assert!(!e.contains("foo @"), "{e}");
        assert!(e.contains("bar @ 50.000"), "{e}");
    }

    #[test]
    fn at_unsafe_functions_disable_the_rewrite() {
        assert!(
            at_modifier_cases("time()", 10_000)
                .expect("parses")
                .is_empty()
        );
        assert!(
            at_modifier_cases("timestamp(foo)", 10_000)
                .expect("parses")
                .is_empty()
        );
        // Below a subquery calls are not looked at, as upstream.
        assert_eq!(
            at_modifier_cases("max_over_time(timestamp(foo)[5m:])", 10_000)
                .expect("parses")
                .len(),
            5
        );
    }

    #[test]
    fn raw_byte_escapes_are_not_rewritten() {
        let cases = at_modifier_cases(r#"label_replace(m, "\xff", "", "src", "(.*)")"#, 10_000)
            .expect("parses");
        assert!(cases.is_empty());
        let cases = at_modifier_cases(r#"label_replace(m, "\x41", "", "src", "(.*)")"#, 10_000)
            .expect("parses");
        assert_eq!(cases.len(), 5);
    }

    #[test]
    fn selectors_are_collected() {
        let s = selectors(r#"rate(foo{a="b"}[5m]) / on() group_left bar"#).expect("parses");
        assert_eq!(s.len(), 2);
        let foo = Labels::from_pairs(&[("__name__", "foo"), ("a", "b")]);
        let bar = Labels::from_pairs(&[("__name__", "bar")]);
        assert!(s[0].matches(&foo));
        assert!(!s[0].matches(&bar));
        assert!(s[1].matches(&bar));
    }

    #[test]
    fn experimental_syntax_is_recognised() {
        assert!(experimental_feature("rate(foo[5m] anchored)").is_some());
        assert!(experimental_feature("foo + fill(0) bar").is_some());
        assert!(experimental_feature("changes(foo[26m+4m])").is_some());
        assert!(experimental_feature("changes(foo[1800])").is_some());
        assert!(experimental_feature("foo offset (1m+1m)").is_some());
        assert!(experimental_feature("foo offset STEP()").is_some());
        assert!(experimental_feature("info(foo)").is_some());
        assert!(experimental_feature("limitk(1, foo)").is_some());
        assert!(experimental_feature("rate(foo[5m]) offset 1m").is_none());
        assert!(experimental_feature("foo[5m:1m]").is_none());
        assert!(experimental_feature("sum by (job) (foo)").is_none());
        assert!(experimental_feature(r#"foo{a=~"[a-z]+"}"#).is_none());
    }
}
