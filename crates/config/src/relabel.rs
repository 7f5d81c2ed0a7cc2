//! Relabeling: `relabel_configs`, `metric_relabel_configs`,
//! `write_relabel_configs` and `alert_relabel_configs`, with Prometheus's
//! defaults (`separator: ;`, `regex: (.*)`, `replacement: $1`,
//! `action: replace`) and every action, behaving as Prometheus's
//! `model/relabel` package.

use std::borrow::Cow;

use argus_model::Labels;

/// What a relabel rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RelabelAction {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl RelabelAction {
    pub const ALL: [RelabelAction; 11] = [
        RelabelAction::Replace,
        RelabelAction::Keep,
        RelabelAction::Drop,
        RelabelAction::KeepEqual,
        RelabelAction::DropEqual,
        RelabelAction::HashMod,
        RelabelAction::LabelMap,
        RelabelAction::LabelDrop,
        RelabelAction::LabelKeep,
        RelabelAction::Lowercase,
        RelabelAction::Uppercase,
    ];

    /// The name used in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            RelabelAction::Replace => "replace",
            RelabelAction::Keep => "keep",
            RelabelAction::Drop => "drop",
            RelabelAction::KeepEqual => "keepequal",
            RelabelAction::DropEqual => "dropequal",
            RelabelAction::HashMod => "hashmod",
            RelabelAction::LabelMap => "labelmap",
            RelabelAction::LabelDrop => "labeldrop",
            RelabelAction::LabelKeep => "labelkeep",
            RelabelAction::Lowercase => "lowercase",
            RelabelAction::Uppercase => "uppercase",
        }
    }

    /// Parses an action name case-insensitively, as Prometheus does.
    pub fn parse(name: &str) -> Option<RelabelAction> {
        let lower = name.to_ascii_lowercase();
        RelabelAction::ALL.into_iter().find(|a| a.as_str() == lower)
    }
}

/// One relabel rule, validated.
#[derive(Debug, Clone)]
pub struct RelabelConfig {
    pub source_labels: Vec<String>,
    /// Default `;`.
    pub separator: String,
    /// Anchored at both ends as Prometheus does (`^(?s:<regex>)$`); default `(.*)`.
    pub regex: Regex,
    pub modulus: u64,
    pub target_label: String,
    /// Default `$1`.
    pub replacement: String,
    pub action: RelabelAction,
}

pub const DEFAULT_SEPARATOR: &str = ";";
pub const DEFAULT_REGEX: &str = "(.*)";
pub const DEFAULT_REPLACEMENT: &str = "$1";

impl Default for RelabelConfig {
    /// Prometheus's defaults: a `replace` that needs a `target_label`.
    fn default() -> Self {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: DEFAULT_SEPARATOR.to_string(),
            regex: Regex::default(),
            modulus: 0,
            target_label: String::new(),
            replacement: DEFAULT_REPLACEMENT.to_string(),
            action: RelabelAction::Replace,
        }
    }
}

/// A relabel regex that does not compile: the text as written and the
/// compiler's complaint on one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid regex {pattern:?}: {reason}")]
pub struct InvalidRegex {
    // Not named `source`: thiserror takes a field of that name for the
    // error's cause.
    pub pattern: String,
    pub reason: String,
}

/// A compiled, fully anchored regular expression that remembers how it was
/// written (for equality and for showing the config back).
#[derive(Debug, Clone)]
pub struct Regex {
    pub source: String,
    pub compiled: regex::Regex,
}

impl Regex {
    /// Compiles `source` anchored as `^(?s:source)$`. The error is one line.
    pub fn new(source: &str) -> Result<Regex, InvalidRegex> {
        match regex::Regex::new(&format!("^(?s:{source})$")) {
            Ok(compiled) => Ok(Regex {
                source: source.to_string(),
                compiled,
            }),
            Err(e) => Err(InvalidRegex {
                pattern: source.to_string(),
                reason: one_line(&e),
            }),
        }
    }

    pub fn is_match(&self, s: &str) -> bool {
        self.compiled.is_match(s)
    }
}

/// `regex` reports syntax errors over several lines with a caret diagram;
/// keep the line that says what is wrong.
fn one_line(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map(str::to_string)
        .unwrap_or_else(|| text.lines().map(str::trim).collect::<Vec<_>>().join(" "))
}

impl Default for Regex {
    fn default() -> Self {
        static DEFAULT: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let compiled = DEFAULT.get_or_init(|| {
            regex::Regex::new("^(?s:(.*))$").unwrap_or_else(|e| panic!("default regex: {e}"))
        });
        Regex {
            source: DEFAULT_REGEX.to_string(),
            compiled: compiled.clone(),
        }
    }
}

impl PartialEq for Regex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl PartialEq for RelabelConfig {
    fn eq(&self, other: &Self) -> bool {
        self.source_labels == other.source_labels
            && self.separator == other.separator
            && self.regex == other.regex
            && self.modulus == other.modulus
            && self.target_label == other.target_label
            && self.replacement == other.replacement
            && self.action == other.action
    }
}

/// Whether `name` may be a label name. Prometheus 3 validates names as
/// UTF-8 (any non-empty string) unless `metric_name_validation_scheme` is
/// `legacy` (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn is_valid_label_name(name: &str, legacy: bool) -> bool {
    if !legacy {
        return !name.is_empty();
    }
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Applies `configs` in order to `labels`. `None` when a rule drops the
/// set; otherwise the resulting labels (labels with an empty value are
/// removed, as in Prometheus). When no rule changes anything the result
/// shares `labels`' buffer.
pub fn relabel(labels: &Labels, configs: &[RelabelConfig]) -> Option<Labels> {
    let mut builder = Builder::new(labels);
    for cfg in configs {
        if !apply(cfg, &mut builder) {
            return None;
        }
    }
    Some(builder.build())
}

/// Prometheus's `labels.Builder`: the base set plus pending additions (in
/// insertion order) and deletions; iteration order matters for `labelmap`.
struct Builder<'a> {
    base: &'a Labels,
    add: Vec<(String, String)>,
    del: Vec<String>,
}

impl<'a> Builder<'a> {
    fn new(base: &'a Labels) -> Self {
        Builder {
            base,
            add: Vec::new(),
            del: Vec::new(),
        }
    }

    fn get(&self, name: &str) -> &str {
        if let Some((_, v)) = self.add.iter().find(|(n, _)| n == name) {
            return v;
        }
        if self.del.iter().any(|n| n == name) {
            return "";
        }
        self.base.get_or_empty(name)
    }

    fn set(&mut self, name: &str, value: &str) {
        if value.is_empty() {
            return self.del(name);
        }
        // Setting a label to its current value changes nothing; skipping it
        // keeps the common no-op path free of allocation.
        if self.get(name) == value {
            return;
        }
        match self.add.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => {
                v.clear();
                v.push_str(value);
            }
            None => self.add.push((name.to_string(), value.to_string())),
        }
    }

    fn del(&mut self, name: &str) {
        if self.get(name).is_empty() {
            return;
        }
        self.add.retain(|(n, _)| n != name);
        self.del.push(name.to_string());
    }

    /// The current labels: the base ones still visible, then additions.
    fn for_each<'s>(&'s self, mut f: impl FnMut(&'s str, &'s str)) {
        for l in self.base.iter() {
            let shadowed =
                self.del.iter().any(|n| n == l.name) || self.add.iter().any(|(n, _)| n == l.name);
            if !shadowed {
                f(l.name, l.value);
            }
        }
        for (n, v) in &self.add {
            f(n, v);
        }
    }

    fn build(&self) -> Labels {
        if self.add.is_empty() && self.del.is_empty() {
            return self.base.clone();
        }
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(self.base.len() + self.add.len());
        self.for_each(|n, v| pairs.push((n, v)));
        pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
        Labels::from_sorted(pairs.iter().copied()).unwrap_or_else(|| Labels::from_pairs(&pairs))
    }
}

/// The source label values joined by the separator, borrowed when there is
/// only one.
fn source_value<'b>(cfg: &RelabelConfig, b: &'b Builder<'_>) -> Cow<'b, str> {
    match cfg.source_labels.as_slice() {
        [] => Cow::Borrowed(""),
        [one] => Cow::Borrowed(b.get(one)),
        many => {
            let mut joined = String::new();
            for (i, name) in many.iter().enumerate() {
                if i > 0 {
                    joined.push_str(&cfg.separator);
                }
                joined.push_str(b.get(name));
            }
            Cow::Owned(joined)
        }
    }
}

/// Applies one rule; false means drop.
fn apply(cfg: &RelabelConfig, b: &mut Builder<'_>) -> bool {
    let val = source_value(cfg, b);
    match cfg.action {
        RelabelAction::Drop => return !cfg.regex.is_match(&val),
        RelabelAction::Keep => return cfg.regex.is_match(&val),
        RelabelAction::DropEqual => return b.get(&cfg.target_label) != val,
        RelabelAction::KeepEqual => return b.get(&cfg.target_label) == val,
        RelabelAction::Replace => {
            let re = &cfg.regex.compiled;
            let mut locs = re.capture_locations();
            if re.captures_read(&mut locs, &val).is_none() {
                return true;
            }
            let group = |i: usize| locs.get(i).map(|(s, e)| &val[s..e]);
            let target = expand(&cfg.target_label, re, &group);
            // An expanded name that is not a label name skips the rule.
            if !is_valid_label_name(&target, false) {
                return true;
            }
            let value = expand(&cfg.replacement, re, &group);
            drop(val);
            b.set(&target, &value);
        }
        RelabelAction::Lowercase => {
            let lower = go_lowercase(&val);
            drop(val);
            b.set(&cfg.target_label, &lower);
        }
        RelabelAction::Uppercase => {
            let upper = go_uppercase(&val);
            drop(val);
            b.set(&cfg.target_label, &upper);
        }
        RelabelAction::HashMod => {
            let digest = crate::md5::md5(val.as_bytes());
            let mut tail = [0u8; 8];
            tail.copy_from_slice(&digest[8..]);
            let modulus = cfg.modulus.max(1);
            let value = (u64::from_be_bytes(tail) % modulus).to_string();
            drop(val);
            b.set(&cfg.target_label, &value);
        }
        RelabelAction::LabelMap => {
            drop(val);
            let re = &cfg.regex.compiled;
            let mut mapped = Vec::new();
            b.for_each(|name, value| {
                if let Some(caps) = re.captures(name) {
                    let group = |i: usize| caps.get(i).map(|m| m.as_str());
                    mapped.push((expand(&cfg.replacement, re, &group), value.to_string()));
                }
            });
            for (name, value) in mapped {
                b.set(&name, &value);
            }
        }
        RelabelAction::LabelDrop | RelabelAction::LabelKeep => {
            drop(val);
            let keep_matching = cfg.action == RelabelAction::LabelKeep;
            let mut doomed = Vec::new();
            b.for_each(|name, _| {
                if cfg.regex.is_match(name) != keep_matching {
                    doomed.push(name.to_string());
                }
            });
            for name in doomed {
                b.del(&name);
            }
        }
    }
    true
}

/// Expands `$1`, `${1}`, `$name`, `${name}` and `$$` in `template` as Go's
/// `regexp.Expand`: a name is the longest run of letters, digits and `_`
/// (so `$1x` is the group named `1x`, usually empty); a malformed
/// reference stays literal; unknown or unmatched groups expand to nothing.
pub fn expand<'h>(
    template: &str,
    re: &regex::Regex,
    group: &dyn Fn(usize) -> Option<&'h str>,
) -> String {
    if !template.contains('$') {
        return template.to_string();
    }
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let Some((name, after)) = group_reference(rest) else {
            out.push('$');
            continue;
        };
        rest = after;
        let index = match group_number(name) {
            Some(n) => Some(n),
            None => re.capture_names().position(|n| n == Some(name)),
        };
        if let Some(text) = index.and_then(group) {
            out.push_str(text);
        }
    }
    out.push_str(rest);
    out
}

/// Splits `name...` or `{name}...` off the text after a `$`.
fn group_reference(s: &str) -> Option<(&str, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(inner) => (true, inner),
        None => (false, s),
    };
    let len: usize = body
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .map(char::len_utf8)
        .sum();
    if len == 0 {
        return None;
    }
    let (name, rest) = body.split_at(len);
    if braced {
        return rest.strip_prefix('}').map(|r| (name, r));
    }
    Some((name, rest))
}

/// A group number as Go reads one: decimal, no leading zero, below 1e8.
fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    if name.len() > 8 {
        return None;
    }
    name.parse().ok()
}

/// Go's `strings.ToLower`: one-to-one simple case mapping per character
/// (Rust's `to_lowercase` uses full mappings and a final-sigma rule).
fn go_lowercase(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars()
        .map(|c| c.to_lowercase().next().unwrap_or(c))
        .collect()
}

/// Go's `strings.ToUpper`: characters without a one-character upper case
/// (`ß`, ligatures) stay as they are.
fn go_uppercase(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    s.chars()
        .map(|c| {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
