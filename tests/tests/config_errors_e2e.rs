//! Bad `prometheus.yml` files: `argus server` refuses to start with a
//! one-line `file:line` error naming the field; a running server given a
//! bad file on reload (HTTP or SIGHUP) answers 500, reports
//! `argus_config_last_reload_successful 0` and keeps its old config.

use std::time::{Duration, Instant};

use argus_tests::e2e::{self, Daemon, now_s, wait_for};
use argus_tests::fixed_target::{FixedTarget, TEXT_CONTENT_TYPE};

struct BadConfig {
    file: &'static str,
    yaml: &'static str,
    /// Lines the error may point at (a missing field points at its entry).
    lines: &'static [usize],
    /// Words the error line must contain: the field, and hints.
    words: &'static [&'static str],
}

const BAD_CONFIGS: &[BadConfig] = &[
    BadConfig {
        file: "typo.yml",
        yaml: "global:
  scrape_interval: 15s
scrape_configs:
  - job_name: a
    scarpe_interval: 5s
    static_configs:
      - targets: ['127.0.0.1:9']
",
        lines: &[5],
        words: &["scarpe_interval", "scrape_interval"],
    },
    BadConfig {
        file: "bad_yaml.yml",
        yaml: "global:
  scrape_interval: 15s
scrape_configs:
  - job_name: a
    static_configs: targets: x
",
        lines: &[5],
        words: &[],
    },
    BadConfig {
        file: "wrong_type.yml",
        yaml: "scrape_configs:
  - job_name: a
    honor_labels: maybe
",
        lines: &[3],
        words: &["honor_labels"],
    },
    BadConfig {
        file: "bad_regex.yml",
        yaml: "scrape_configs:
  - job_name: a
    static_configs:
      - targets: ['127.0.0.1:9']
    relabel_configs:
      - source_labels: [__address__]
        regex: '(unclosed'
        target_label: x
",
        lines: &[7],
        words: &["regex"],
    },
    BadConfig {
        file: "duplicate_jobs.yml",
        yaml: "scrape_configs:
  - job_name: same
    static_configs:
      - targets: ['127.0.0.1:9']
  - job_name: same
    static_configs:
      - targets: ['127.0.0.1:10']
",
        lines: &[5],
        words: &["job_name", "same"],
    },
    BadConfig {
        file: "bad_duration.yml",
        yaml: "global:
  evaluation_interval: 30s
  scrape_interval: 15x
",
        lines: &[3],
        words: &["scrape_interval"],
    },
    BadConfig {
        file: "file_sd_unknown_field.yml",
        yaml: "scrape_configs:
  - job_name: a
    file_sd_configs:
      - files: ['targets/*.json']
        refresh_intervall: 1m
",
        lines: &[5],
        words: &["refresh_intervall", "refresh_interval"],
    },
    BadConfig {
        file: "timeout_over_interval.yml",
        yaml: "scrape_configs:
  - job_name: a
    scrape_interval: 5s
    scrape_timeout: 10s
    static_configs:
      - targets: ['127.0.0.1:9']
",
        lines: &[3, 4],
        words: &["scrape_timeout"],
    },
    BadConfig {
        file: "unknown_action.yml",
        yaml: "scrape_configs:
  - job_name: a
    static_configs:
      - targets: ['127.0.0.1:9']
    relabel_configs:
      - source_labels: [__address__]
        action: replase
",
        lines: &[7],
        words: &["action", "replase"],
    },
    BadConfig {
        file: "hashmod_without_modulus.yml",
        yaml: "scrape_configs:
  - job_name: a
    static_configs:
      - targets: ['127.0.0.1:9']
    relabel_configs:
      - source_labels: [__address__]
        target_label: shard
        action: hashmod
",
        lines: &[6, 7, 8],
        words: &["modulus"],
    },
    BadConfig {
        file: "remote_write_without_url.yml",
        yaml: "global:
  scrape_interval: 15s
remote_write:
  - name: backup
    queue_config:
      capacity: 100
",
        lines: &[4, 5, 6],
        words: &["url"],
    },
    BadConfig {
        file: "unknown_section.yml",
        yaml: "global:
  scrape_interval: 15s
scrape_config:
  - job_name: a
",
        lines: &[3],
        words: &["scrape_config", "scrape_configs"],
    },
];

#[test]
fn bad_configs_fail_startup_with_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for case in BAD_CONFIGS {
        let config = dir.path().join(case.file);
        e2e::write_file(&config, case.yaml);
        let started = Instant::now();
        let (status, stderr) = e2e::run_server_to_exit(dir.path(), &config);
        if status.success() {
            failures.push(format!("{}: exited successfully:\n{stderr}", case.file));
            continue;
        }
        assert!(started.elapsed() < Duration::from_secs(15));
        // The one line naming `<file>:<line>:` must also name the field.
        let error_line = stderr.lines().find(|l| {
            case.lines
                .iter()
                .any(|n| l.contains(&format!("{}:{n}:", case.file)))
        });
        match error_line {
            None => failures.push(format!(
                "{}: no `{}:<one of {:?}>:` in stderr:\n{stderr}",
                case.file, case.file, case.lines
            )),
            Some(line) => {
                let missing: Vec<_> = case.words.iter().filter(|w| !line.contains(*w)).collect();
                if !missing.is_empty() {
                    failures.push(format!("{}: {missing:?} missing from {line:?}", case.file));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad configs not reported as required:\n\n{}",
        failures.len(),
        BAD_CONFIGS.len(),
        failures.join("\n\n")
    );
}

fn good_config(target: &str, generation: u32) -> String {
    format!(
        "global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: fixed
    static_configs:
      - targets: ['{target}']
        labels:
          generation: '{generation}'
"
    )
}

const RELOAD_METRIC: &str = "argus_config_last_reload_successful";

fn wait_reload_metric(argus: &Daemon, want: f64) {
    wait_for(
        &format!("{RELOAD_METRIC} {want}"),
        Duration::from_secs(10),
        || match argus.self_metric(RELOAD_METRIC) {
            Some(v) if v == want => Ok(()),
            other => Err(format!("{other:?}\n{}", argus.log_tail(10))),
        },
    );
}

fn wait_generation_up(argus: &Daemon, generation: u32) {
    wait_for(
        &format!("up of generation {generation}"),
        Duration::from_secs(15),
        || match argus.scalar(&format!("up{{job=\"fixed\",generation=\"{generation}\"}}")) {
            Some(1.0) => Ok(()),
            other => Err(format!("{other:?} / {:?}", argus.instant("up", None))),
        },
    );
}

/// New `up == 1` samples of `generation` strictly after `since`: the
/// server is still scraping with that config.
fn wait_still_scraping(argus: &Daemon, generation: u32, since: f64) {
    wait_for(
        &format!("scrapes of generation {generation} to continue"),
        Duration::from_secs(10),
        || {
            let raw = argus.raw_samples(
                &format!("up{{job=\"fixed\",generation=\"{generation}\"}}[10s]"),
                now_s(),
            );
            let newer = raw
                .values()
                .flatten()
                .filter(|(t, v)| *t as f64 / 1000.0 > since + 1.0 && *v == 1.0)
                .count();
            if newer >= 2 {
                Ok(())
            } else {
                Err(format!("{raw:?}"))
            }
        },
    );
}

#[test]
fn reload_rejects_bad_config_and_keeps_the_old_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = FixedTarget::start(
        TEXT_CONTENT_TYPE,
        "# TYPE reload_gauge gauge\nreload_gauge 1\n",
    );
    let config = dir.path().join("prometheus.yml");
    e2e::write_file(&config, &good_config(&target.addr(), 1));
    let argus = e2e::start_argus(dir.path(), "argus", &config, &["--web.enable-lifecycle"]);
    wait_generation_up(&argus, 1);
    wait_reload_metric(&argus, 1.0);

    // A typo on disk + POST /-/reload: 500 with the error, old config kept.
    let typo = BAD_CONFIGS[0].yaml;
    e2e::write_file(&config, typo);
    let reloaded_at = now_s();
    let r = argus.post("/-/reload");
    assert_eq!(r.status, 500, "reload of a bad config: {}", r.body);
    assert!(
        r.body.contains("prometheus.yml:5") && r.body.contains("scarpe_interval"),
        "the 500 does not carry the error: {:?}",
        r.body
    );
    wait_reload_metric(&argus, 0.0);
    wait_still_scraping(&argus, 1, reloaded_at);

    // Fixed + reload: 200, metric back to 1, the new config in force.
    e2e::write_file(&config, &good_config(&target.addr(), 2));
    let r = argus.post("/-/reload");
    assert_eq!(r.status, 200, "reload of a good config: {}", r.body);
    wait_reload_metric(&argus, 1.0);
    wait_generation_up(&argus, 2);

    // SIGHUP reloads too: a bad file is refused, a good one applied.
    e2e::write_file(&config, typo);
    let hup_at = now_s();
    argus.sighup();
    wait_reload_metric(&argus, 0.0);
    wait_still_scraping(&argus, 2, hup_at);
    e2e::write_file(&config, &good_config(&target.addr(), 3));
    argus.sighup();
    wait_reload_metric(&argus, 1.0);
    wait_generation_up(&argus, 3);
    let mut argus = argus;
    assert!(argus.exited().is_none(), "{}", argus.log_tail(20));
}
