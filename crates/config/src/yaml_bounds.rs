//! Limits on the size and nesting of YAML files, checked before parsing.
//!
//! The YAML scanner keeps one entry per open flow collection and walks all
//! of them for every token, so `x: [[[[…` 100k deep took minutes to be
//! refused, blocking a reload meanwhile. A linear pre-scan measures the
//! nesting first. It counts block levels (by indentation and `- `/`? `
//! indicators) and flow brackets outside quotes, comments and block
//! scalars; it may count a level or two more than the parser sees, never
//! fewer, and the limit is twice what the deserializer accepts anyway.

/// Deepest nesting accepted (serde_yaml itself stops at 128).
pub const MAX_YAML_DEPTH: usize = 256;

/// Largest YAML file read: a 20,000-job config is ~2 MB, a file SD file
/// with 200k targets ~12 MB.
pub const MAX_YAML_BYTES: u64 = 64 << 20;

/// Why a YAML text is refused before it is parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlBoundsError {
    #[error("file is {size} bytes, over the limit of {MAX_YAML_BYTES} bytes")]
    TooLarge { size: u64 },
    #[error("nesting deeper than {MAX_YAML_DEPTH} levels")]
    TooDeep {
        /// 1-based line where the limit was passed.
        line: usize,
    },
}

impl YamlBoundsError {
    pub fn line(&self) -> Option<usize> {
        match self {
            YamlBoundsError::TooLarge { .. } => None,
            YamlBoundsError::TooDeep { line } => Some(*line),
        }
    }
}

/// Refuses a file over [`MAX_YAML_BYTES`] by its length, before reading it.
pub fn check_yaml_size(size: u64) -> Result<(), YamlBoundsError> {
    if size > MAX_YAML_BYTES {
        return Err(YamlBoundsError::TooLarge { size });
    }
    Ok(())
}

/// Reads a config or SD file of at most [`MAX_YAML_BYTES`]; a larger one
/// is an `InvalidData` error, found by its length before reading.
pub fn read_bounded(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let too_large = |e: YamlBoundsError| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    check_yaml_size(len).map_err(too_large)?;
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // A file that grows while read (or a /proc file of length 0) is cut.
    file.take(MAX_YAML_BYTES + 1).read_to_end(&mut buf)?;
    check_yaml_size(buf.len() as u64).map_err(too_large)?;
    Ok(buf)
}

/// [`read_bounded`], as UTF-8 text.
pub fn read_bounded_to_string(path: &std::path::Path) -> std::io::Result<String> {
    String::from_utf8(read_bounded(path)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Checks the size and nesting depth of `text`, in one linear pass.
pub fn check_yaml_bounds(text: &str) -> Result<(), YamlBoundsError> {
    check_yaml_size(text.len() as u64)?;
    let mut scan = Scan::default();
    for (i, line) in text.lines().enumerate() {
        if scan.line(line) > MAX_YAML_DEPTH {
            return Err(YamlBoundsError::TooDeep { line: i + 1 });
        }
    }
    Ok(())
}

#[derive(Default)]
struct Scan {
    /// Columns of the open block nodes.
    indents: Vec<usize>,
    /// Open flow collections (`[`, `{`).
    flow: usize,
    /// Inside a quoted scalar that continues on the next line.
    quote: Option<u8>,
    /// Skipping the content of a block scalar (`|`, `>`) whose parent
    /// starts at this column.
    block_scalar: Option<usize>,
}

impl Scan {
    /// Takes one line; returns the deepest nesting seen on it.
    fn line(&mut self, line: &str) -> usize {
        let b = line.as_bytes();
        if self.quote.is_some() || self.flow > 0 {
            let at = self.skip_quote(b, 0);
            if self.flow == 0 {
                return self.indents.len();
            }
            return self.indents.len() + self.scan_flow(b, at);
        }
        let col = b.iter().take_while(|&&c| c == b' ').count();
        let rest = &b[col..];
        if rest.is_empty() || rest[0] == b'#' || rest.iter().all(|c| c.is_ascii_whitespace()) {
            return 0;
        }
        if let Some(parent) = self.block_scalar {
            if col > parent {
                return 0;
            }
            self.block_scalar = None;
        }
        let mut at = col;
        if col == 0 && (rest.starts_with(b"---") || rest.starts_with(b"...")) {
            self.indents.clear();
            at += 3;
            if !b.get(at).is_some_and(|c| c.is_ascii_whitespace()) {
                return 0;
            }
        }
        while self.indents.last().is_some_and(|&c| c >= col) {
            self.indents.pop();
        }
        self.indents.push(col);
        let mut depth = self.indents.len();

        // `- - - x` and `? ` open one level each on the same line.
        at = skip_spaces(b, at);
        while at < b.len() && matches!(b[at], b'-' | b'?') && next_is_space(b, at + 1) {
            depth += 1;
            at = skip_spaces(b, at + 1);
        }
        // The value of `key: value`, or the node itself.
        let value = match b.get(at) {
            Some(b'[' | b'{' | b'|' | b'>') => at,
            _ => match mapping_value(b, at) {
                Some(v) => v,
                None => return depth,
            },
        };
        let value = skip_properties(b, value);
        match b.get(value) {
            Some(b'[' | b'{') => depth + self.scan_flow(b, value),
            Some(b'|' | b'>') => {
                self.block_scalar = Some(col);
                depth
            }
            Some(q @ (b'"' | b'\'')) => {
                self.quote = Some(*q);
                self.skip_quote(b, value + 1);
                depth
            }
            _ => depth,
        }
    }

    /// Skips the rest of an open quoted scalar from `at`; returns where
    /// scanning goes on (the line's end when the quote stays open).
    fn skip_quote(&mut self, b: &[u8], mut at: usize) -> usize {
        let Some(q) = self.quote else { return at };
        while at < b.len() {
            let c = b[at];
            if q == b'"' && c == b'\\' {
                at += 2;
                continue;
            }
            if c == q {
                if q == b'\'' && b.get(at + 1) == Some(&b'\'') {
                    at += 2;
                    continue;
                }
                self.quote = None;
                return at + 1;
            }
            at += 1;
        }
        b.len()
    }

    /// Counts flow brackets from `at`; returns the deepest flow nesting on
    /// the line.
    fn scan_flow(&mut self, b: &[u8], mut at: usize) -> usize {
        let mut peak = self.flow;
        while at < b.len() {
            match b[at] {
                b'[' | b'{' => {
                    self.flow += 1;
                    peak = peak.max(self.flow);
                }
                b']' | b'}' => {
                    self.flow = self.flow.saturating_sub(1);
                    if self.flow == 0 {
                        return peak;
                    }
                }
                q @ (b'"' | b'\'') => {
                    self.quote = Some(q);
                    at = self.skip_quote(b, at + 1);
                    continue;
                }
                b'#' if at == 0 || b[at - 1].is_ascii_whitespace() => return peak,
                _ => {}
            }
            at += 1;
        }
        peak
    }
}

fn skip_spaces(b: &[u8], mut at: usize) -> usize {
    while b.get(at).is_some_and(|c| *c == b' ' || *c == b'\t') {
        at += 1;
    }
    at
}

fn next_is_space(b: &[u8], at: usize) -> bool {
    b.get(at).is_none_or(|c| c.is_ascii_whitespace())
}

/// Where the value of a `key: value` line starts, past the key (plain or
/// quoted); `None` when the line is a scalar without a mapping indicator.
fn mapping_value(b: &[u8], mut at: usize) -> Option<usize> {
    if let Some(&q @ (b'"' | b'\'')) = b.get(at) {
        at += 1;
        while at < b.len() && b[at] != q {
            at += if q == b'"' && b[at] == b'\\' { 2 } else { 1 };
        }
        at += 1;
    }
    while at < b.len() {
        match b[at] {
            b':' if next_is_space(b, at + 1) => return Some(skip_spaces(b, at + 1)),
            b'#' if at > 0 && b[at - 1].is_ascii_whitespace() => return None,
            _ => at += 1,
        }
    }
    None
}

/// Skips `&anchor` and `!tag` before a node.
fn skip_properties(b: &[u8], mut at: usize) -> usize {
    while let Some(b'&' | b'!') = b.get(at) {
        while at < b.len() && !b[at].is_ascii_whitespace() {
            at += 1;
        }
        at = skip_spaces(b, at);
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_ok(text: &str) -> bool {
        check_yaml_bounds(text).is_ok()
    }

    #[test]
    fn deep_flow_nesting_is_refused_in_linear_time() {
        let deep = format!("x: {}", "[".repeat(100_000));
        let start = std::time::Instant::now();
        assert_eq!(
            check_yaml_bounds(&deep),
            Err(YamlBoundsError::TooDeep { line: 1 })
        );
        // Not a timing assertion on the result: the pass is linear, so this
        // is milliseconds; the parser took minutes.
        eprintln!("refused in {:?}", start.elapsed());
        let inner = format!(
            "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: {}{}\n",
            "[".repeat(300),
            "]".repeat(300)
        );
        assert!(matches!(
            check_yaml_bounds(&inner),
            Err(YamlBoundsError::TooDeep { line: 4 })
        ));
        // Across lines, as a flow collection may be written.
        let multiline = format!("x:\n{}", "  [\n".repeat(MAX_YAML_DEPTH + 1));
        assert!(!depth_ok(&multiline));
    }

    #[test]
    fn deep_block_nesting_is_refused() {
        let dashes = format!("{}x\n", "- ".repeat(MAX_YAML_DEPTH + 1));
        assert!(!depth_ok(&dashes));
        let mut mapping = String::new();
        for i in 0..=MAX_YAML_DEPTH {
            mapping.push_str(&format!("{}k{i}:\n", " ".repeat(i)));
        }
        assert!(!depth_ok(&mapping));
    }

    #[test]
    fn ordinary_configs_pass() {
        let config = r#"
global:
  scrape_interval: 15s # a comment with [ and {
  external_labels: {cluster: "a[", replica: '{'}
scrape_configs:
  - job_name: "node"
    relabel_configs:
      - source_labels: [__address__]
        regex: 'foo[0-9'
        replacement: ${1}[x
      - regex: unbalanced[[[[ plain scalar
    authorization:
      credentials: |
        [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
        {{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{
    static_configs:
      - targets:
          - localhost:9100
        labels: &l
          a: "multi
            line [[[[[[ quoted"
      - targets: [a, "b]", 'c''[']
        labels: *l
---
- another: [document]
"#;
        let mut many = String::from(config);
        // Unbalanced brackets in plain scalars do not add up across lines.
        for i in 0..(MAX_YAML_DEPTH * 2) {
            many.push_str(&format!("  - job_name: j{i}\n    regex: a[b\n"));
        }
        assert_eq!(check_yaml_bounds(&many), Ok(()));
        let nested_ok = format!("x: {}{}", "[".repeat(100), "]".repeat(100));
        assert!(depth_ok(&nested_ok));
    }

    #[test]
    fn size_is_checked_first() {
        assert_eq!(
            check_yaml_size(MAX_YAML_BYTES + 1),
            Err(YamlBoundsError::TooLarge {
                size: MAX_YAML_BYTES + 1
            })
        );
        assert_eq!(check_yaml_size(MAX_YAML_BYTES), Ok(()));
    }
}
