//! A runner for upstream Prometheus's promqltest scripts
//! (`promql/promqltest/testdata/*.test`) over the Argus engine.
//!
//! It follows `promql/promqltest/test.go`: the same script grammar, engine
//! settings (5m lookback, 1m default subquery step, 10,000 max samples,
//! delayed name removal), value tolerance, annotation checks, and the extra
//! runs of every instant evaluation: with `@ <t>` added to its selectors at
//! other evaluation times, and each as a range query from `t-1m` to `t+1m`
//! step 1m whose middle step must give the same answer.
//!
//! Every evaluation is one case that passes, fails with a message, or is
//! skipped with a reason (native histograms, start timestamps, experimental
//! syntax the engine's parser rejects).

mod exec;
mod rewrite;
mod script;

#[cfg(test)]
mod tests;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub use exec::{EPSILON, MAX_SAMPLES, almost_equal, test_engine_options};
pub use rewrite::{AtCase, AtError, at_modifier_cases, experimental_feature};
pub use script::{
    Command, EvalCmd, LoadCmd, ScriptError, SeqValue, SeriesDesc, parse_go_number, parse_script,
    parse_series, parse_values,
};

use exec::{Outcome, Runner};

/// Outcome of one script: cases passed, and the failed and skipped cases
/// with their line and message or reason.
#[derive(Debug, Default, Clone)]
pub struct FileReport {
    pub passed: usize,
    pub failed: Vec<(usize, String)>,
    pub skipped: Vec<(usize, String)>,
}

/// Runs the script text `input`.
pub fn run_script(input: &str) -> FileReport {
    let mut report = FileReport::default();
    let mut runner = Runner::new();
    for cmd in parse_script(input) {
        match cmd {
            Command::Clear { .. } => runner.clear(),
            Command::Load(l) => runner.load(&l),
            Command::Invalid { error, is_load } => {
                if is_load {
                    runner.load_failed(error.line);
                }
                report
                    .failed
                    .push((error.line, format!("parse error: {}", error.message)));
            }
            Command::Eval(e) => match runner.eval(&e) {
                Outcome::Pass => report.passed += 1,
                Outcome::Fail(m) => report.failed.push((e.line, m)),
                Outcome::Skip(r) => report.skipped.push((e.line, r)),
            },
        }
    }
    report
}

/// Runs one script file; a file that cannot be read is one failure at line 0.
pub fn run_file(path: &Path) -> FileReport {
    match std::fs::read_to_string(path) {
        Ok(text) => run_script(&text),
        Err(e) => FileReport {
            failed: vec![(0, format!("cannot read {}: {e}", path.display()))],
            ..FileReport::default()
        },
    }
}

/// Runs the files and prints, per file, `FILE: N passed, M failed, K
/// skipped` followed by every failure (and, with `verbose`, every skipped
/// case), then the totals. Returns (passed, failed) over all files.
pub fn run_cli(
    files: &[PathBuf],
    verbose: bool,
    out: &mut dyn Write,
) -> io::Result<(usize, usize)> {
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for f in files {
        let r = run_file(f);
        writeln!(
            out,
            "{}: {} passed, {} failed, {} skipped",
            f.display(),
            r.passed,
            r.failed.len(),
            r.skipped.len()
        )?;
        for (line, msg) in &r.failed {
            writeln!(out, "  FAIL {}:{line}: {msg}", f.display())?;
        }
        if verbose {
            for (line, why) in &r.skipped {
                writeln!(out, "  SKIP {}:{line}: {why}", f.display())?;
            }
        }
        passed += r.passed;
        failed += r.failed.len();
        skipped += r.skipped.len();
    }
    writeln!(out, "{skipped} skipped")?;
    writeln!(out, "{passed} passed, {failed} failed")?;
    Ok((passed, failed))
}
