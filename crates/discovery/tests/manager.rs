//! Discovery manager semantics: provider reuse across reloads, removal,
//! immediate static targets, coalesced publishing.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argus_config::discovery::{DnsRecordType, DnsSdConfig, FileSdConfig, SdConfig, StaticConfig};
use argus_discovery::{BoxFuture, Discoverer, Manager, ManagerOptions, TargetGroup, TargetSets};
use common::addresses;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

/// Counts how often the fake providers started and stopped, per name.
#[derive(Default)]
struct Counters {
    starts: Mutex<Vec<String>>,
    stops: AtomicUsize,
}

impl Counters {
    fn starts(&self) -> Vec<String> {
        self.starts
            .lock()
            .unwrap_or_else(|e| panic!("lock: {e}"))
            .clone()
    }
}

/// Stands in for a DNS provider: one group per name, target
/// `127.0.0.1:<port>`, sent once; runs until cancelled.
struct FakeProvider {
    names: Vec<String>,
    port: u16,
    counters: Arc<Counters>,
}

impl Discoverer for FakeProvider {
    fn run(
        self: Box<Self>,
        tx: mpsc::Sender<Vec<TargetGroup>>,
        shutdown: CancellationToken,
    ) -> BoxFuture {
        Box::pin(async move {
            let groups = self
                .names
                .iter()
                .map(|name| group(name, &[&format!("127.0.0.1:{}", self.port)]))
                .collect();
            let _ = tx.send(groups).await;
            shutdown.cancelled().await;
            self.counters.stops.fetch_add(1, Ordering::SeqCst);
        })
    }
}

/// Sends a new group every 10ms, `count` times, then waits.
struct ChurnProvider {
    count: u16,
}

impl Discoverer for ChurnProvider {
    fn run(
        self: Box<Self>,
        tx: mpsc::Sender<Vec<TargetGroup>>,
        shutdown: CancellationToken,
    ) -> BoxFuture {
        Box::pin(async move {
            for port in 1..=self.count {
                let update = vec![group("churn", &[&format!("127.0.0.1:{port}")])];
                if tx.send(update).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            shutdown.cancelled().await;
        })
    }
}

fn group(source: &str, addresses: &[&str]) -> TargetGroup {
    TargetGroup {
        source: source.to_string(),
        targets: addresses
            .iter()
            .map(|a| BTreeMap::from([("__address__".to_string(), a.to_string())]))
            .collect(),
        labels: BTreeMap::new(),
    }
}

/// DNS configs stand for any dynamic provider: the fake factory turns
/// them into [`FakeProvider`]s, fails for the name "fail", and churns for
/// the name "churn".
fn dns(names: &[&str], port: u16) -> SdConfig {
    SdConfig::Dns(DnsSdConfig {
        names: names.iter().map(|n| n.to_string()).collect(),
        refresh_interval: Duration::from_secs(30),
        record_type: DnsRecordType::A,
        port,
    })
}

fn static_config(targets: &[&str]) -> SdConfig {
    SdConfig::Static(StaticConfig {
        targets: targets.iter().map(|t| t.to_string()).collect(),
        labels: BTreeMap::new(),
    })
}

fn fake_manager(
    counters: &Arc<Counters>,
    shutdown: &CancellationToken,
    update_interval: Duration,
) -> (Manager, watch::Receiver<Arc<TargetSets>>) {
    let counters = counters.clone();
    let options = ManagerOptions {
        update_interval,
        factory: Arc::new(move |cfg: &SdConfig, _: &Path| {
            let SdConfig::Dns(dns) = cfg else {
                return Err("unexpected config".to_string());
            };
            match dns.names.first().map(String::as_str) {
                Some("fail") => Err("refusing to start".to_string()),
                Some("churn") => {
                    Ok(Box::new(ChurnProvider { count: dns.port }) as Box<dyn Discoverer>)
                }
                _ => {
                    counters
                        .starts
                        .lock()
                        .unwrap_or_else(|e| panic!("lock: {e}"))
                        .extend(dns.names.iter().cloned());
                    Ok(Box::new(FakeProvider {
                        names: dns.names.clone(),
                        port: dns.port,
                        counters: counters.clone(),
                    }))
                }
            }
        }),
    };
    Manager::with_options(shutdown.clone(), options)
}

fn sets(entries: &[(&str, Vec<SdConfig>)]) -> BTreeMap<String, Vec<SdConfig>> {
    entries
        .iter()
        .map(|(job, configs)| (job.to_string(), configs.clone()))
        .collect()
}

/// Sorted addresses of all groups of `job`.
fn job_addresses(published: &TargetSets, job: &str) -> Vec<String> {
    let mut all: Vec<String> = published
        .get(job)
        .unwrap_or_else(|| panic!("job {job} not published: {published:#?}"))
        .iter()
        .flat_map(addresses)
        .collect();
    all.sort();
    all
}

async fn wait_until(
    rx: &mut watch::Receiver<Arc<TargetSets>>,
    done: impl Fn(&TargetSets) -> bool,
) -> Arc<TargetSets> {
    let waited = tokio::time::timeout(WAIT, async {
        rx.wait_for(|p| done(p)).await.map(|p| p.clone())
    })
    .await;
    match waited {
        Ok(Ok(published)) => published,
        Ok(Err(e)) => panic!("manager gone: {e}"),
        Err(_) => panic!("not published in time: {:#?}", rx.borrow()),
    }
}

async fn wait_for_count(counter: &AtomicUsize, want: usize) {
    let deadline = Instant::now() + WAIT;
    while counter.load(Ordering::SeqCst) != want {
        assert!(
            Instant::now() < deadline,
            "count {} never became {want}",
            counter.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn static_targets_are_published_by_apply_config_itself() {
    let shutdown = CancellationToken::new();
    let (mut manager, rx) = Manager::new(shutdown.clone());
    manager.apply_config(
        sets(&[
            (
                "web",
                vec![
                    static_config(&["127.0.0.1:9090"]),
                    static_config(&["127.0.0.1:9091", "127.0.0.1:9092"]),
                ],
            ),
            ("empty", vec![]),
        ]),
        Path::new("/"),
    );
    let published = rx.borrow().clone();
    let web = &published["web"];
    assert_eq!(web.len(), 2);
    assert_eq!((web[0].source.as_str(), web[1].source.as_str()), ("0", "1"));
    assert_eq!(addresses(&web[1]), ["127.0.0.1:9091", "127.0.0.1:9092"]);
    assert_eq!(published["empty"], Vec::new());
    shutdown.cancel();
}

#[tokio::test]
async fn unchanged_providers_keep_running_and_removed_ones_stop() {
    let counters = Arc::new(Counters::default());
    let shutdown = CancellationToken::new();
    let (mut manager, mut rx) = fake_manager(&counters, &shutdown, Duration::from_millis(200));
    let base = Path::new("/");

    manager.apply_config(
        sets(&[("a", vec![dns(&["x"], 1)]), ("b", vec![dns(&["y"], 2)])]),
        base,
    );
    wait_until(&mut rx, |p| {
        p.get("a").is_some_and(|g| !g.is_empty()) && p.get("b").is_some_and(|g| !g.is_empty())
    })
    .await;
    assert_eq!(counters.starts(), ["x", "y"]);

    // "a" unchanged; "y" moves from "b" to "c"; "d" is new.
    manager.apply_config(
        sets(&[
            ("a", vec![dns(&["x"], 1)]),
            ("c", vec![dns(&["y"], 2)]),
            ("d", vec![dns(&["z"], 3)]),
        ]),
        base,
    );
    // Kept providers' groups are in the very first publish.
    let published = rx.borrow().clone();
    assert_eq!(job_addresses(&published, "a"), ["127.0.0.1:1"]);
    assert_eq!(job_addresses(&published, "c"), ["127.0.0.1:2"]);
    assert!(!published.contains_key("b"));
    wait_until(&mut rx, |p| p.get("d").is_some_and(|g| !g.is_empty())).await;
    assert_eq!(counters.starts(), ["x", "y", "z"]);
    assert_eq!(counters.stops.load(Ordering::SeqCst), 0);

    // A changed config is a new provider; the old one and unused ones stop.
    manager.apply_config(sets(&[("a", vec![dns(&["x"], 4)])]), base);
    let published = rx.borrow().clone();
    assert_eq!(published.keys().collect::<Vec<_>>(), ["a"]);
    assert_eq!(published["a"], Vec::new());
    wait_for_count(&counters.stops, 3).await;
    let published = wait_until(&mut rx, |p| p.get("a").is_some_and(|g| !g.is_empty())).await;
    assert_eq!(job_addresses(&published, "a"), ["127.0.0.1:4"]);
    assert_eq!(counters.starts(), ["x", "y", "z", "x"]);

    shutdown.cancel();
    wait_for_count(&counters.stops, 4).await;
}

#[tokio::test]
async fn jobs_sharing_a_config_share_one_provider() {
    let counters = Arc::new(Counters::default());
    let shutdown = CancellationToken::new();
    let (mut manager, mut rx) = fake_manager(&counters, &shutdown, Duration::from_millis(200));
    manager.apply_config(
        sets(&[
            ("a", vec![dns(&["x"], 1), static_config(&["127.0.0.1:7"])]),
            ("b", vec![dns(&["x"], 1)]),
        ]),
        Path::new("/"),
    );
    let published = wait_until(&mut rx, |p| {
        p.get("b").is_some_and(|g| !g.is_empty()) && p.get("a").is_some_and(|g| g.len() == 2)
    })
    .await;
    assert_eq!(
        job_addresses(&published, "a"),
        ["127.0.0.1:1", "127.0.0.1:7"]
    );
    assert_eq!(job_addresses(&published, "b"), ["127.0.0.1:1"]);
    assert_eq!(counters.starts(), ["x"]);
    shutdown.cancel();
}

#[tokio::test]
async fn job_whose_providers_fail_is_published_without_groups() {
    let counters = Arc::new(Counters::default());
    let shutdown = CancellationToken::new();
    let (mut manager, rx) = fake_manager(&counters, &shutdown, Duration::from_millis(200));
    manager.apply_config(
        sets(&[
            ("broken", vec![dns(&["fail"], 1)]),
            ("fine", vec![static_config(&["127.0.0.1:9"])]),
        ]),
        Path::new("/"),
    );
    let published = rx.borrow().clone();
    assert_eq!(published["broken"], Vec::new());
    assert_eq!(job_addresses(&published, "fine"), ["127.0.0.1:9"]);
    shutdown.cancel();
}

#[tokio::test]
async fn provider_updates_are_coalesced() {
    let counters = Arc::new(Counters::default());
    let shutdown = CancellationToken::new();
    let (mut manager, mut rx) = fake_manager(&counters, &shutdown, Duration::from_millis(300));
    // 100 updates over about a second.
    manager.apply_config(
        sets(&[("churn", vec![dns(&["churn"], 100)])]),
        Path::new("/"),
    );
    rx.mark_unchanged();

    let mut publishes = 0;
    let deadline = Instant::now() + WAIT;
    loop {
        let last = rx.borrow_and_update().clone();
        if job_addresses(&last, "churn") == ["127.0.0.1:100"] {
            break;
        }
        assert!(Instant::now() < deadline, "last update never published");
        tokio::time::timeout(WAIT, rx.changed())
            .await
            .unwrap_or_else(|_| panic!("no publish in time"))
            .unwrap_or_else(|e| panic!("manager gone: {e}"));
        publishes += 1;
    }
    // Backoff 100ms, 150ms, 225ms, then 300ms: about six publishes.
    assert!(
        (2..=10).contains(&publishes),
        "{publishes} publishes for 100 updates"
    );
    drop(manager);
}

#[tokio::test]
async fn dropping_the_manager_stops_its_providers() {
    let counters = Arc::new(Counters::default());
    let shutdown = CancellationToken::new();
    let (mut manager, _rx) = fake_manager(&counters, &shutdown, Duration::from_millis(200));
    manager.apply_config(sets(&[("a", vec![dns(&["x", "y"], 1)])]), Path::new("/"));
    drop(manager);
    wait_for_count(&counters.stops, 1).await;
    assert!(!shutdown.is_cancelled());
}

#[tokio::test]
async fn file_provider_survives_a_reload_with_its_groups() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    std::fs::write(
        dir.path().join("targets.json"),
        r#"[{"targets": ["127.0.0.1:9100"]}]"#,
    )
    .unwrap_or_else(|e| panic!("write: {e}"));
    let file_sd = SdConfig::File(FileSdConfig {
        files: vec![PathBuf::from("*.json")],
        refresh_interval: Duration::from_secs(300),
    });
    let shutdown = CancellationToken::new();
    let (mut manager, mut rx) = Manager::new(shutdown.clone());
    manager.apply_config(sets(&[("node", vec![file_sd.clone()])]), dir.path());
    wait_until(&mut rx, |p| p.get("node").is_some_and(|g| !g.is_empty())).await;

    manager.apply_config(
        sets(&[("node", vec![file_sd.clone()]), ("also", vec![file_sd])]),
        dir.path(),
    );
    let published = rx.borrow().clone();
    assert_eq!(job_addresses(&published, "node"), ["127.0.0.1:9100"]);
    assert_eq!(job_addresses(&published, "also"), ["127.0.0.1:9100"]);
    shutdown.cancel();
}
