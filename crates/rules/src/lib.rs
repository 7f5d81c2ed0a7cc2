//! Prometheus rule files (`rule_files` in `prometheus.yml`): found by glob,
//! decoded strictly and validated as Prometheus 3 does (`rulefmt`), with
//! its error messages and the line:column of the YAML node at fault.
//!
//! - [`parse_rule_file`]: one file's bytes to a [`RuleFile`], or every
//!   problem found in it ([`RuleFileErrors`]).
//! - [`load_rule_files`]: the `rule_files` globs, relative to the config
//!   file's directory, to the files they match, each parsed.
//!
//! Rules are not evaluated yet: the server only validates them. The
//! typed groups keep each expression's text, which the engine parses
//! again when it evaluates it.

mod decode;
mod template;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Most problems reported for one file; past that the rest are left out
/// (a hostile file could otherwise make validation run for long: each bad
/// expression's position is searched for).
pub const MAX_ERRORS: usize = 100;

/// How metric and label names are validated: `global.metric_name_validation_scheme`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameValidation {
    /// Prometheus 3's default: any non-empty UTF-8 name.
    #[default]
    Utf8,
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*` for metric names, `[a-zA-Z_][a-zA-Z0-9_]*`
    /// for label names.
    Legacy,
}

/// A rule file that validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFile {
    /// The file's path as given to [`parse_rule_file`].
    pub path: String,
    pub groups: Vec<RuleGroup>,
    /// The file held more than one YAML document; only the first was read
    /// (Prometheus does the same and warns).
    pub extra_documents: bool,
}

/// A group of rules evaluated in order at one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleGroup {
    pub name: String,
    /// `None`: the global `evaluation_interval`.
    pub interval: Option<Duration>,
    /// `None`: the global `rule_query_offset`.
    pub query_offset: Option<Duration>,
    /// Most series (or alerts) one evaluation may produce; 0 is no limit.
    pub limit: i64,
    /// Added to every rule's result.
    pub labels: BTreeMap<String, String>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub kind: RuleKind,
    /// The PromQL expression as written; it parses.
    pub expr: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    Recording {
        /// The metric name of the result.
        record: String,
    },
    Alerting {
        alert: String,
        /// How long the expression must hold before the alert fires.
        for_: Duration,
        /// How long the alert keeps firing after the expression stops.
        keep_firing_for: Duration,
        annotations: BTreeMap<String, String>,
    },
}

/// A 1-based line and column in a rule file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// What a problem is about, shown before its message as Prometheus does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Context {
    /// The file (YAML and group-level problems).
    None,
    /// A group's `labels`.
    Group(String),
    /// A rule: its group, 1-based index in the group and name (its
    /// `alert`, else its `record`, possibly empty).
    Rule {
        group: String,
        index: usize,
        name: String,
    },
}

/// A problem before the file's name is attached.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    pos: Option<Pos>,
    alt_pos: Option<Pos>,
    context: Context,
    message: String,
}

/// One problem in a rule file, shown as Prometheus shows it:
/// `rules.yml: 5:11: group "g", rule 1, "name": could not parse expression: ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFileError {
    pub file: String,
    /// Where the YAML node at fault starts, when known.
    pub pos: Option<Pos>,
    /// A second node (`record` and `alert` both set: the `alert`).
    pub alt_pos: Option<Pos>,
    pub context: Context,
    pub message: String,
}

impl fmt::Display for RuleFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        for p in [self.pos, self.alt_pos].into_iter().flatten() {
            write!(f, "{p}: ")?;
        }
        match &self.context {
            Context::None => {}
            Context::Group(g) => write!(f, "group {}: ", quote(g))?,
            Context::Rule { group, index, name } => {
                write!(f, "group {}, rule {index}, {}: ", quote(group), quote(name))?
            }
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in one rule file, one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFileErrors {
    pub file: String,
    /// At least one; at most [`MAX_ERRORS`] and a note that more were left out.
    pub errors: Vec<RuleFileError>,
}

impl fmt::Display for RuleFileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RuleFileError {}

impl std::error::Error for RuleFileErrors {}

impl RuleFileErrors {
    fn new(file: &str, problems: Vec<Problem>) -> RuleFileErrors {
        RuleFileErrors {
            file: file.to_string(),
            errors: problems
                .into_iter()
                .map(|p| RuleFileError {
                    file: file.to_string(),
                    pos: p.pos,
                    alt_pos: p.alt_pos,
                    context: p.context,
                    message: p.message,
                })
                .collect(),
        }
    }

    fn one(file: &str, pos: Option<Pos>, message: String) -> RuleFileErrors {
        RuleFileErrors::new(file, vec![Problem::new(pos, message)])
    }
}

/// A rule file that did not load, and the pattern that named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFailure {
    pub file: String,
    pub pattern: String,
    pub errors: RuleFileErrors,
}

/// Why the rule files of a config did not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// A `rule_files` entry is not a valid glob.
    #[error("failed retrieving rule files for {pattern:?}: {message}")]
    Pattern { pattern: String, message: String },
    /// Files that did not read or validate, each with all its problems.
    #[error("{}", files_text(.0))]
    Files(Vec<FileFailure>),
}

fn files_text(files: &[FileFailure]) -> String {
    files
        .iter()
        .map(|f| {
            format!(
                "parse rules from file {} (pattern: {}): {}",
                quote(&f.file),
                quote(&f.pattern),
                f.errors
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Go's `%q`, as Prometheus quotes names in its messages.
pub(crate) fn quote(s: &str) -> String {
    argus_promql::functions::gofmt::quote(s)
}

/// Parses and validates one rule file's content with Prometheus 3's
/// default (UTF-8) name validation. `path` names the file in errors.
pub fn parse_rule_file(path: &str, bytes: &[u8]) -> Result<RuleFile, RuleFileErrors> {
    parse_rule_file_with(path, bytes, NameValidation::default())
}

/// [`parse_rule_file`] with the given name validation.
pub fn parse_rule_file_with(
    path: &str,
    bytes: &[u8],
    names: NameValidation,
) -> Result<RuleFile, RuleFileErrors> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| RuleFileErrors::one(path, None, format!("yaml: invalid UTF-8: {e}")))?;
    if let Err(e) = argus_config::yaml_bounds::check_yaml_bounds(text) {
        let pos = e.line().map(|line| Pos { line, column: 1 });
        return Err(RuleFileErrors::one(path, pos, e.to_string()));
    }
    let mut problems = Vec::new();
    let raw = decode::decode(text, &mut problems);
    if problems.is_empty() {
        validate::validate(&raw.groups, names, &mut problems);
    }
    if !problems.is_empty() {
        if problems.len() >= MAX_ERRORS {
            problems.truncate(MAX_ERRORS);
            problems.push(Problem::new(
                None,
                format!("too many errors; only the first {MAX_ERRORS} are shown"),
            ));
        }
        return Err(RuleFileErrors::new(path, problems));
    }
    Ok(RuleFile {
        path: path.to_string(),
        groups: validate::typed(raw.groups),
        extra_documents: raw.extra_documents,
    })
}

/// Loads every file the `rule_files` patterns match, with UTF-8 name
/// validation. See [`load_rule_files_with`].
pub fn load_rule_files(patterns: &[String], base_dir: &Path) -> Result<Vec<RuleFile>, RuleError> {
    load_rule_files_with(patterns, base_dir, NameValidation::default())
}

/// Loads every file the `rule_files` patterns match. Relative patterns
/// start at `base_dir` (the config file's directory); a pattern that
/// matches nothing is fine, as in Prometheus, and a file matched twice is
/// read once. Every failing file is reported, each with all its problems.
pub fn load_rule_files_with(
    patterns: &[String],
    base_dir: &Path,
    names: NameValidation,
) -> Result<Vec<RuleFile>, RuleError> {
    let mut files: Vec<(PathBuf, PathBuf, &str)> = Vec::new();
    for pattern in patterns {
        for file in glob_files(&join_dir(base_dir, pattern), pattern)? {
            // The same file through two patterns (or a symlink) once.
            let real = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
            if !files.iter().any(|(r, _, _)| *r == real) {
                files.push((real, file, pattern));
            }
        }
    }
    let mut loaded = Vec::new();
    let mut failures = Vec::new();
    for (_, file, pattern) in files {
        let shown = file.display().to_string();
        let result = argus_config::yaml_bounds::read_bounded(&file)
            .map_err(|e| RuleFileErrors::one(&shown, None, e.to_string()))
            .and_then(|bytes| parse_rule_file_with(&shown, &bytes, names));
        match result {
            Ok(rf) => {
                if rf.extra_documents {
                    tracing::warn!(
                        file = %shown,
                        "multiple document yaml rules files are not supported, only the first document is processed"
                    );
                }
                loaded.push(rf);
            }
            Err(errors) => failures.push(FileFailure {
                file: shown,
                pattern: pattern.to_string(),
                errors,
            }),
        }
    }
    if !failures.is_empty() {
        return Err(RuleError::Files(failures));
    }
    Ok(loaded)
}

/// `pattern` under `dir` unless it is absolute, as Prometheus's `JoinDir`.
fn join_dir(dir: &Path, pattern: &str) -> PathBuf {
    let p = Path::new(pattern);
    if pattern.is_empty() || p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

/// Files matching `pattern` in order, as Go's `filepath.Glob`: `*` does
/// not cross `/` but matches a leading dot, and unreadable directories
/// are skipped.
fn glob_files(pattern: &Path, original: &str) -> Result<Vec<PathBuf>, RuleError> {
    let bad = |message: String| RuleError::Pattern {
        pattern: original.to_string(),
        message,
    };
    if original.is_empty() {
        return Ok(Vec::new());
    }
    let text = pattern
        .to_str()
        .ok_or_else(|| bad("the path is not valid UTF-8".into()))?;
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let paths = glob::glob_with(text, options).map_err(|e| bad(e.to_string()))?;
    Ok(paths.filter_map(Result::ok).collect())
}

#[cfg(test)]
mod tests;
