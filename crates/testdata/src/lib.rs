//! Where the tests find the upstream conformance corpus, and what they do
//! when it is not there.
//!
//! The corpus (PromQL test scripts, OpenMetrics parser cases, realistic
//! scrape bodies) is upstream test data that is read in place, never copied
//! into the repository. Its directory is `$ARGUS_CONFORMANCE_DIR` when that
//! is set and not empty (a relative value is taken from the repository
//! root), else `../shared/conformance` beside the repository root.
//!
//! A test that needs it calls [`require`]. When the corpus (or the
//! subdirectory asked for) is missing:
//! - with `CI=true` (or `CI=1`) the test fails, naming the path looked at;
//! - elsewhere it writes one line `SKIPPED <test>: <reason>` to stderr,
//!   past the test harness's output capture (on a line of its own), and
//!   the test returns. The line shows in every `cargo test` run, so
//!   `grep -c '^SKIPPED '` counts the skips.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The environment variable naming the corpus directory.
pub const ENV_VAR: &str = "ARGUS_CONFORMANCE_DIR";

/// The default location, relative to the repository root.
pub const DEFAULT_RELATIVE: &str = "../shared/conformance";

/// The repository root: two levels above this crate's manifest
/// (`crates/testdata`).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| manifest.join("../.."), Path::to_path_buf)
}

/// The corpus directory for an `ARGUS_CONFORMANCE_DIR` value (`None` or
/// empty when unset) and a repository root. The default climbs out of the
/// root by name rather than with `..`, so messages show a plain path.
pub fn resolve(env: Option<OsString>, root: &Path) -> PathBuf {
    match env.filter(|v| !v.is_empty()) {
        Some(v) => root.join(PathBuf::from(v)),
        None => match root.parent() {
            Some(parent) => parent.join("shared").join("conformance"),
            None => root.join(DEFAULT_RELATIVE),
        },
    }
}

/// Where the corpus is looked for, whether or not it exists.
pub fn conformance_path() -> PathBuf {
    resolve(std::env::var_os(ENV_VAR), &repo_root())
}

/// The corpus directory, or why it cannot be used.
pub fn conformance_dir() -> Result<PathBuf, String> {
    let dir = conformance_path();
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!(
            "conformance corpus not found at {}; set {ENV_VAR} to its directory",
            dir.display()
        ))
    }
}

/// `subdir` of the corpus (such as `promqltest`), or why it cannot be used.
pub fn corpus_subdir(subdir: &str) -> Result<PathBuf, String> {
    let dir = conformance_dir()?.join(subdir);
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!(
            "conformance corpus has no {subdir}/ (looked for {}); set {ENV_VAR} to a complete corpus",
            dir.display()
        ))
    }
}

/// Whether the run is CI's: `CI` is `true` or `1`, as CI services set it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| is_ci_value(&v))
}

fn is_ci_value(v: &str) -> bool {
    v.eq_ignore_ascii_case("true") || v == "1"
}

/// The line a skipped test prints.
pub fn skip_line(test: &str, reason: &str) -> String {
    format!("SKIPPED {test}: {reason}")
}

/// Applies the policy for a test that cannot run: fails it under CI,
/// otherwise reports the skip on stderr. Returns only when skipping.
pub fn skip(test: &str, reason: &str) {
    if in_ci() {
        panic!("{test}: {reason} (CI is set: the conformance corpus is required)");
    }
    // `eprintln!` would be captured by the test harness and hidden for a
    // passing test; a direct write to the stream is always shown. The
    // leading newline keeps the line whole when the harness is half-way
    // through a `test name ... ok` line.
    let line = format!("\n{}\n", skip_line(test, reason));
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// `subdir` of the corpus for `test`, or `None` after [`skip`] when it is
/// missing (under CI the test fails instead).
///
/// ```no_run
/// let Some(dir) = argus_testdata::require("my_test", "promqltest") else {
///     return;
/// };
/// # let _ = dir;
/// ```
pub fn require(test: &str, subdir: &str) -> Option<PathBuf> {
    match corpus_subdir(subdir) {
        Ok(dir) => Some(dir),
        Err(reason) => {
            skip(test, &reason);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn resolves_the_default_and_the_variable() {
        let root = Path::new("repo-parent").join("argus");
        assert_eq!(
            resolve(None, &root),
            Path::new("repo-parent").join("shared").join("conformance")
        );
        assert_eq!(resolve(Some(OsString::new()), &root), resolve(None, &root));
        assert_eq!(resolve(Some("corpus".into()), &root), root.join("corpus"));
        // An absolute value replaces the root.
        let abs = std::env::temp_dir().join("corpus");
        assert_eq!(resolve(Some(abs.clone().into_os_string()), &root), abs);
    }

    #[test]
    fn repo_root_holds_the_workspace_manifest() {
        let root = repo_root();
        let manifest =
            std::fs::read_to_string(root.join("Cargo.toml")).expect("workspace manifest");
        assert!(manifest.contains("[workspace]"), "{}", root.display());
    }

    #[test]
    fn ci_values() {
        for v in ["true", "TRUE", "1"] {
            assert!(is_ci_value(v), "{v}");
        }
        for v in ["", "false", "0", "yes"] {
            assert!(!is_ci_value(v), "{v}");
        }
    }

    /// Runs [`probe`] in a child test process with the corpus pointed at a
    /// directory that does not exist.
    fn run_probe(ci: Option<&str>) -> (bool, String) {
        let exe = std::env::current_exe().expect("test binary");
        let mut cmd = Command::new(exe);
        cmd.args(["--exact", "tests::probe", "--include-ignored"])
            .env(ENV_VAR, "no-such-conformance-corpus")
            .env_remove("CI");
        if let Some(ci) = ci {
            cmd.env("CI", ci);
        }
        let out = cmd.output().expect("run the probe");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    #[test]
    fn absent_corpus_is_skipped_visibly() {
        let (ok, text) = run_probe(None);
        assert!(ok, "{text}");
        let line = text
            .lines()
            .find(|l| l.starts_with("SKIPPED probe: "))
            .unwrap_or_else(|| panic!("no SKIPPED line in:\n{text}"));
        assert!(line.contains("no-such-conformance-corpus"), "{line}");
        assert!(line.contains(ENV_VAR), "{line}");
    }

    #[test]
    fn absent_corpus_fails_under_ci() {
        let (ok, text) = run_probe(Some("true"));
        assert!(!ok, "{text}");
        assert!(text.contains("CI is set"), "{text}");
        assert!(!text.contains("SKIPPED probe"), "{text}");
    }

    #[test]
    #[ignore = "run in a child process by the absent_corpus tests"]
    fn probe() {
        let _ = require("probe", "promqltest");
    }
}
