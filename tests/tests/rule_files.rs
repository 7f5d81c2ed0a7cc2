//! `rule_files` in `prometheus.yml`: `argus server` loads and validates
//! them as Prometheus does (rules are not evaluated yet, which one warning
//! says). A bad rule file fails the start with the file, group, rule and
//! position of each problem; on reload it fails the reload and the old
//! config stays.

use std::time::Duration;

use argus_tests::e2e::{self, Daemon, wait_for};

const WARNING: &str = "rule evaluation and alert sending are not available yet in argus";

const GOOD_RULES: &str = "groups:
  - name: node
    interval: 30s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: InstanceDown
        expr: up == 0
        for: 5m
        labels:
          severity: page
        annotations:
          summary: 'Instance {{ $labels.instance }} is down'
  - name: other
    rules:
      - record: job:scrape_duration:max
        expr: max by (job) (scrape_duration_seconds)
";

const BAD_EXPR_RULES: &str = "groups:
  - name: node
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: Broken
        expr: sum(rate(up[5m])
";

fn prometheus_yml(rule_files: &[&str], generation: u32) -> String {
    let list: Vec<String> = rule_files.iter().map(|f| format!("'{f}'")).collect();
    format!(
        "# generation {generation}
global:
  scrape_interval: 15s
rule_files: [{}]
",
        list.join(", ")
    )
}

fn warnings(argus: &Daemon) -> usize {
    argus
        .log_text()
        .lines()
        .filter(|l| l.contains(WARNING))
        .count()
}

fn status_config(argus: &Daemon) -> String {
    argus.api("/api/v1/status/config")["yaml"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn valid_rule_files_start_with_one_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    e2e::write_file(&dir.path().join("rules/node.yml"), GOOD_RULES);
    let config = dir.path().join("prometheus.yml");
    // Relative to the config file's directory, not the working directory.
    e2e::write_file(&config, &prometheus_yml(&["rules/*.yml"], 1));
    let mut argus = e2e::start_argus(dir.path(), "argus", &config, &[]);
    assert_eq!(warnings(&argus), 1, "{}", argus.log_tail(30));
    let line = argus
        .log_text()
        .lines()
        .find(|l| l.contains(WARNING))
        .map(str::to_string)
        .unwrap_or_default();
    for count in ["files=1", "groups=2", "rules=3"] {
        assert!(line.contains(count), "{count} missing from {line:?}");
    }
    assert!(argus.exited().is_none());
}

#[test]
fn bad_rule_file_fails_the_start_with_file_group_rule_and_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("bad.rules.yml");
    e2e::write_file(&rules, BAD_EXPR_RULES);
    let config = dir.path().join("prometheus.yml");
    e2e::write_file(&config, &prometheus_yml(&["*.rules.yml"], 1));
    let (status, stderr) = e2e::run_server_to_exit(dir.path(), &config);
    assert!(!status.success(), "exited successfully:\n{stderr}");
    let want = format!(
        "{}: 7:15: group \"node\", rule 2, \"Broken\": could not parse expression: ",
        rules.display()
    );
    assert!(
        stderr.contains(&want),
        "{want:?} missing from stderr:\n{stderr}"
    );
    assert!(stderr.contains("parse error"), "{stderr}");
    assert!(stderr.contains("loading rule file"), "{stderr}");

    // Several problems of a file are all reported.
    e2e::write_file(
        &rules,
        "groups:
  - name: g
    rules:
      - record: r
        alert: A
        expr: up
  - name: g
",
    );
    let (status, stderr) = e2e::run_server_to_exit(dir.path(), &config);
    assert!(!status.success(), "exited successfully:\n{stderr}");
    for want in [
        "4:17: 5:16: group \"g\", rule 1, \"A\": only one of 'record' and 'alert' must be set",
        "7:5: groupname: \"g\" is repeated in the same file",
    ] {
        assert!(
            stderr.contains(want),
            "{want:?} missing from stderr:\n{stderr}"
        );
    }
}

#[test]
fn globs_matching_nothing_start_without_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    e2e::write_file(&config, &prometheus_yml(&["rules/*.yml", "missing.yml"], 1));
    let mut argus = e2e::start_argus(dir.path(), "argus", &config, &[]);
    assert_eq!(warnings(&argus), 0, "{}", argus.log_tail(30));
    assert!(argus.exited().is_none());
}

#[test]
fn reload_with_a_broken_rule_file_keeps_the_old_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules.yml");
    e2e::write_file(&rules, GOOD_RULES);
    let config = dir.path().join("prometheus.yml");
    e2e::write_file(&config, &prometheus_yml(&["rules.yml"], 1));
    let mut argus = e2e::start_argus(dir.path(), "argus", &config, &["--web.enable-lifecycle"]);
    assert!(status_config(&argus).contains("# generation 1"));

    // A new config whose rule file is broken: refused, the old one kept.
    e2e::write_file(&rules, BAD_EXPR_RULES);
    e2e::write_file(&config, &prometheus_yml(&["rules.yml"], 2));
    let r = argus.post("/-/reload");
    assert_eq!(r.status, 500, "reload with a broken rule file: {}", r.body);
    assert!(
        r.body
            .contains("rules.yml: 7:15: group \\\"node\\\", rule 2, \\\"Broken\\\"")
            || r.body
                .contains("rules.yml: 7:15: group \"node\", rule 2, \"Broken\""),
        "the error is not in the answer: {}",
        r.body
    );
    assert!(
        status_config(&argus).contains("# generation 1"),
        "{}",
        status_config(&argus)
    );
    wait_for(
        "argus_config_last_reload_successful 0",
        Duration::from_secs(10),
        || match argus.self_metric("argus_config_last_reload_successful") {
            Some(0.0) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    assert!(argus.exited().is_none(), "{}", argus.log_tail(20));

    // Fixed: the new config is applied.
    e2e::write_file(&rules, GOOD_RULES);
    let r = argus.post("/-/reload");
    assert_eq!(r.status, 200, "reload with a fixed rule file: {}", r.body);
    assert!(status_config(&argus).contains("# generation 2"));
    assert!(argus.exited().is_none(), "{}", argus.log_tail(20));
}
