//! The README stands on its own: no links out of the repository, the
//! paths it names exist, `data/` (where the run command writes) is ignored
//! by git, and it says what differs from Prometheus.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn read(name: &str) -> String {
    std::fs::read_to_string(repo().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn readme_links_stay_in_the_repository() {
    let readme = read("README.md");
    for (i, line) in readme.lines().enumerate() {
        for scheme in ["http://", "https://"] {
            for (at, _) in line.match_indices(scheme) {
                let host = line[at + scheme.len()..]
                    .split(|c: char| {
                        c == '/' || c == ':' || c == '`' || c == ')' || c.is_whitespace()
                    })
                    .next()
                    .unwrap_or("");
                assert!(
                    matches!(host, "localhost" | "127.0.0.1"),
                    "README.md:{}: a link out of the repository: {line}",
                    i + 1
                );
            }
        }
        // Markdown links to files must name files that exist.
        for part in line.split("](").skip(1) {
            let target = part.split(')').next().unwrap_or("");
            if !target.starts_with("http") && !target.starts_with('#') {
                let path = target.split('#').next().unwrap_or("");
                assert!(
                    repo().join(path).exists(),
                    "README.md:{}: {path} does not exist",
                    i + 1
                );
            }
        }
    }
}

#[test]
fn readme_run_command_data_is_ignored_and_differences_are_listed() {
    let readme = read("README.md");
    assert!(readme.contains("--config.file=examples/prometheus.yml"));
    assert!(repo().join("examples/prometheus.yml").is_file());
    let ignore = read(".gitignore");
    assert!(
        ignore
            .lines()
            .any(|l| l.trim() == "/data" || l.trim() == "data/"),
        "{ignore}"
    );
    assert!(readme.contains("### Differences from Prometheus"));
    assert!(readme.contains("after the first scrape interval"));
    assert!(readme.contains("ARGUS_CONFORMANCE_DIR"));
}
