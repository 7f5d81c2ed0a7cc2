//! Runs the upstream promqltest corpus (`promqltest/` of the conformance
//! corpus, located by `argus-testdata`: `$ARGUS_CONFORMANCE_DIR`, default
//! `../shared/conformance` beside the repository) and holds every file to its
//! pass-count floor in `promqltest_floor.txt`.
//!
//! Set `PROMQLTEST_VERBOSE=1` to print every failure and skip reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use argus_tools::promqltest::{FileReport, run_file};

/// Files whose cases lean on experimental syntax or native histograms;
/// reported apart so the core score stays readable.
const EXPERIMENTAL_FILES: &[&str] = &[
    "duration_expression.test",
    "extended_vectors.test",
    "fill-modifier.test",
    "info.test",
    "limit.test",
    "name_label_dropping.test",
    "native_histograms.test",
    "start_timestamps.test",
    "type_and_unit.test",
];

struct Floor {
    passed: usize,
    zero_failures: bool,
}

fn read_floors() -> BTreeMap<String, Floor> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/promqltest_floor.txt");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut floors = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let bad = format!(
            "{}:{}: expected `file floor [zero_failures]`, got {line:?}",
            path.display(),
            i + 1
        );
        assert!(f.len() == 2 || f.len() == 3, "{bad}");
        let Ok(passed) = f[1].parse::<usize>() else {
            panic!("{bad}");
        };
        let zero_failures = match f.get(2) {
            None => false,
            Some(&"zero_failures") => true,
            Some(_) => panic!("{bad}"),
        };
        floors.insert(
            f[0].to_string(),
            Floor {
                passed,
                zero_failures,
            },
        );
    }
    floors
}

#[test]
fn promqltest_corpus_meets_floors() {
    let Some(dir) = argus_testdata::require("promqltest_corpus_meets_floors", "promqltest") else {
        return;
    };
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the promqltest corpus {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no .test files in {}: the corpus is missing",
        dir.display()
    );
    let floors = read_floors();
    let verbose = std::env::var_os("PROMQLTEST_VERBOSE").is_some_and(|v| v != "0");

    // One thread per file: the files are independent.
    let reports: Vec<(String, FileReport)> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .iter()
            .map(|p| {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                s.spawn(move || (name, run_file(p)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("runner thread panicked"))
            .collect()
    });

    let mut problems = Vec::new();
    let mut totals = [(0usize, 0usize, 0usize); 2];
    println!("promqltest corpus: {}", dir.display());
    for (name, r) in &reports {
        let experimental = EXPERIMENTAL_FILES.contains(&name.as_str());
        let t = &mut totals[usize::from(experimental)];
        t.0 += r.passed;
        t.1 += r.failed.len();
        t.2 += r.skipped.len();
        let floor = floors.get(name);
        println!(
            "{name:28} {:5} passed {:5} failed {:5} skipped   floor {}{}{}",
            r.passed,
            r.failed.len(),
            r.skipped.len(),
            floor.map_or("none".to_string(), |f| f.passed.to_string()),
            if floor.is_some_and(|f| f.zero_failures) {
                " zero_failures"
            } else {
                ""
            },
            if experimental { "  (experimental)" } else { "" },
        );
        if verbose {
            for (line, m) in &r.failed {
                println!("    FAIL {name}:{line}: {m}");
            }
            for (line, m) in &r.skipped {
                println!("    SKIP {name}:{line}: {m}");
            }
        }
        match floor {
            None => println!("    note: {name} has no floor in promqltest_floor.txt"),
            Some(f) => {
                if r.passed < f.passed {
                    problems.push(format!(
                        "{name}: {} passed, below its floor of {}",
                        r.passed, f.passed
                    ));
                }
                if f.zero_failures && !r.failed.is_empty() {
                    problems.push(format!(
                        "{name}: {} failures but the file is marked zero_failures; first: line \
                         {}: {}",
                        r.failed.len(),
                        r.failed[0].0,
                        r.failed[0].1
                    ));
                }
            }
        }
    }
    for name in floors.keys() {
        if !reports.iter().any(|(n, _)| n == name) {
            problems.push(format!(
                "{name} is listed in promqltest_floor.txt but not in the corpus"
            ));
        }
    }
    let [core, exp] = totals;
    println!(
        "core:         {} passed, {} failed, {} skipped",
        core.0, core.1, core.2
    );
    println!(
        "experimental: {} passed, {} failed, {} skipped",
        exp.0, exp.1, exp.2
    );
    println!(
        "total:        {} passed, {} failed, {} skipped",
        core.0 + exp.0,
        core.1 + exp.1,
        core.2 + exp.2
    );
    assert!(
        problems.is_empty(),
        "promqltest floors not met:\n  {}",
        problems.join("\n  ")
    );
}
