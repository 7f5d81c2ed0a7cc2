//! File service discovery (`file_sd_configs`): groups from JSON and YAML
//! files matched by globs, re-read when a matched file appears, changes or
//! goes away (polled), and every refresh interval, as Prometheus does.

mod parse;

pub use parse::FILEPATH_LABEL;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use argus_config::discovery::FileSdConfig;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use crate::{BoxFuture, Discoverer, TargetGroup, send_groups};

use parse::{file_source, parse_groups};

/// How often matched files are checked for changes (Prometheus watches
/// with inotify instead).
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Used for a zero refresh interval, which would re-read without pause.
const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct FileDiscoverer {
    patterns: Arc<[PathBuf]>,
    refresh_interval: Duration,
    poll_interval: Duration,
}

impl FileDiscoverer {
    /// Relative paths in `cfg` are taken from `base_dir`.
    pub fn new(cfg: &FileSdConfig, base_dir: &Path) -> FileDiscoverer {
        FileDiscoverer {
            patterns: cfg.files.iter().map(|f| base_dir.join(f)).collect(),
            refresh_interval: nonzero_or(cfg.refresh_interval, DEFAULT_REFRESH_INTERVAL),
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }

    /// Changes how often files are checked for changes (1s by default).
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> FileDiscoverer {
        self.poll_interval = nonzero_or(poll_interval, DEFAULT_POLL_INTERVAL);
        self
    }

    async fn run_loop(self, tx: mpsc::Sender<Vec<TargetGroup>>, shutdown: CancellationToken) {
        let mut scanner = Scanner {
            patterns: self.patterns.clone(),
            last_counts: BTreeMap::new(),
        };
        loop {
            // The fingerprint is taken before reading, so a change made
            // during the read triggers another one.
            let scanned = tokio::task::spawn_blocking(move || {
                let seen = fingerprint(&scanner.patterns);
                let groups = scanner.refresh();
                (scanner, seen, groups)
            })
            .await;
            let (returned, seen, groups) = match scanned {
                Ok(scanned) => scanned,
                Err(e) => {
                    error!(error = %e, "file discovery scan failed");
                    return;
                }
            };
            scanner = returned;
            if !send_groups(&tx, groups, &shutdown).await {
                return;
            }
            if !self.wait_for_change(&seen, &shutdown).await {
                return;
            }
        }
    }

    /// Waits until a matched file changes or the refresh interval passes;
    /// false on shutdown.
    async fn wait_for_change(&self, seen: &Fingerprint, shutdown: &CancellationToken) -> bool {
        let refresh_at = Instant::now() + self.refresh_interval;
        loop {
            let wake = (Instant::now() + self.poll_interval).min(refresh_at);
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep_until(wake) => {}
            }
            if Instant::now() >= refresh_at {
                return true;
            }
            let patterns = self.patterns.clone();
            match tokio::task::spawn_blocking(move || fingerprint(&patterns)).await {
                Ok(now) if &now != seen => {
                    debug!("file discovery saw a file change");
                    return true;
                }
                Ok(_) => {}
                Err(e) => {
                    error!(error = %e, "file discovery poll failed");
                    return false;
                }
            }
        }
    }
}

impl Discoverer for FileDiscoverer {
    fn run(
        self: Box<Self>,
        tx: mpsc::Sender<Vec<TargetGroup>>,
        shutdown: CancellationToken,
    ) -> BoxFuture {
        Box::pin(self.run_loop(tx, shutdown))
    }
}

fn nonzero_or(interval: Duration, default: Duration) -> Duration {
    if interval.is_zero() {
        default
    } else {
        interval
    }
}

/// Per matched file, its modification time and size (None if unreadable).
type Fingerprint = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

fn fingerprint(patterns: &[PathBuf]) -> Fingerprint {
    list_files(patterns)
        .into_iter()
        .map(|path| {
            let stamp = std::fs::metadata(&path)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())));
            (path, stamp)
        })
        .collect()
}

fn list_files(patterns: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut files = BTreeSet::new();
    for pattern in patterns {
        let Some(text) = pattern.to_str() else {
            warn!(pattern = %pattern.display(), "file discovery pattern is not utf-8");
            continue;
        };
        let paths = match glob::glob(text) {
            Ok(paths) => paths,
            Err(e) => {
                error!(pattern = text, error = %e, "error expanding glob");
                continue;
            }
        };
        for entry in paths {
            match entry {
                Ok(path) if path.is_file() => {
                    files.insert(path);
                }
                Ok(_) => {}
                Err(e) => debug!(pattern = text, error = %e, "glob entry unreadable"),
            }
        }
    }
    files
}

/// Reads matched files, remembering how many groups each had so groups of
/// deleted files or dropped entries can be cleared.
struct Scanner {
    patterns: Arc<[PathBuf]>,
    last_counts: BTreeMap<PathBuf, usize>,
}

impl Scanner {
    fn refresh(&mut self) -> Vec<TargetGroup> {
        let mut counts = BTreeMap::new();
        let mut groups = Vec::new();
        for path in list_files(&self.patterns) {
            match read_file(&path) {
                Ok(file_groups) => {
                    counts.insert(path, file_groups.len());
                    groups.extend(file_groups);
                }
                Err(e) => {
                    // Sending nothing for it keeps its previous groups.
                    error!(path = %path.display(), error = %e, "error reading file");
                    let previous = self.last_counts.get(&path).copied().unwrap_or(0);
                    counts.insert(path, previous);
                }
            }
        }
        for (path, &previous) in &self.last_counts {
            let now = counts.get(path).copied().unwrap_or(0);
            for index in now..previous {
                groups.push(TargetGroup {
                    source: file_source(path, index),
                    ..TargetGroup::default()
                });
            }
        }
        self.last_counts = counts;
        groups
    }
}

fn read_file(path: &Path) -> Result<Vec<TargetGroup>, String> {
    let content = argus_config::yaml_bounds::read_bounded(path).map_err(|e| e.to_string())?;
    parse_groups(path, &content)
}
