//! Shared helpers for the end-to-end tests: finding the binaries under test
//! and the tools they are compared against, and the deterministic data the
//! crash test writes.

pub mod cluster;
pub mod datagen;
pub mod differential;
pub mod e2e;
pub mod fixed_target;
pub mod http;
pub mod minio;
pub mod peers;
pub mod remote_write;

use std::path::{Path, PathBuf};

/// The value the crash writer stores for series `i` at time `t`, so the
/// checker needs no record of what was written.
pub fn crash_value(i: usize, t: i64) -> f64 {
    (t as f64) * 0.5 + i as f64
}

pub fn crash_series(i: usize) -> argus_model::Labels {
    argus_model::Labels::from_pairs(&[
        ("__name__", "crash_test_samples"),
        ("series", &format!("{i:03}")),
    ])
}

/// The `argus` binary built alongside the tests: `cargo test --workspace`
/// builds it into the same target directory because the `argus` package has
/// integration tests of its own (`crates/argus/tests`).
pub fn argus_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> → target/<profile>/argus
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let bin = dir.join("argus");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (or `cargo build -p argus` first)",
        bin.display()
    );
    bin
}

/// Path of an external tool, failing the test loudly when it is missing.
pub fn require_tool(name: &str, install: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("`{name}` is not installed; the test needs it: {install}");
}

// The upstream conformance corpus is found through `argus-testdata`
// (`argus_testdata::require`), the one lookup every test shares.
