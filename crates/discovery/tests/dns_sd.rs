//! DNS service discovery against a tiny fake DNS server on 127.0.0.1.

mod common;

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argus_config::discovery::{DnsRecordType, DnsSdConfig};
use argus_discovery::dns::{
    DnsDiscoverer, MX_TARGET_LABEL, NAME_LABEL, NS_TARGET_LABEL, SRV_PORT_LABEL, SRV_TARGET_LABEL,
};
use common::{Collector, addresses};
use tokio::net::UdpSocket;

const WAIT: Duration = Duration::from_secs(10);

const TYPE_A: u16 = 1;
const TYPE_NS: u16 = 2;
const TYPE_MX: u16 = 15;
const TYPE_AAAA: u16 = 28;
const TYPE_SRV: u16 = 33;

const RCODE_SERVFAIL: u16 = 2;
const RCODE_NXDOMAIN: u16 = 3;

#[derive(Clone)]
enum Record {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Srv { port: u16, target: &'static str },
    Mx(&'static str),
    Ns(&'static str),
}

impl Record {
    fn record_type(&self) -> u16 {
        match self {
            Record::A(_) => TYPE_A,
            Record::Aaaa(_) => TYPE_AAAA,
            Record::Srv { .. } => TYPE_SRV,
            Record::Mx(_) => TYPE_MX,
            Record::Ns(_) => TYPE_NS,
        }
    }

    fn rdata(&self) -> Vec<u8> {
        match self {
            Record::A(ip) => ip.octets().to_vec(),
            Record::Aaaa(ip) => ip.octets().to_vec(),
            Record::Srv { port, target } => {
                // Priority 10, weight 5.
                let mut data = vec![0, 10, 0, 5];
                data.extend_from_slice(&port.to_be_bytes());
                data.extend(encode_name(target));
                data
            }
            Record::Mx(exchange) => {
                let mut data = vec![0, 10];
                data.extend(encode_name(exchange));
                data
            }
            Record::Ns(host) => encode_name(host),
        }
    }
}

#[derive(Clone)]
enum Answer {
    Records(Vec<Record>),
    ServFail,
}

/// Answers from a zone the test can change; unknown names get NXDOMAIN.
struct FakeDns {
    addr: SocketAddr,
    zone: Arc<Mutex<HashMap<(String, u16), Answer>>>,
    queries: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeDns {
    async fn start() -> FakeDns {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = socket
            .local_addr()
            .unwrap_or_else(|e| panic!("local addr: {e}"));
        let zone: Arc<Mutex<HashMap<(String, u16), Answer>>> = Arc::default();
        let queries = Arc::new(AtomicUsize::new(0));
        let (server_zone, server_queries) = (zone.clone(), queries.clone());
        // Bounded in time; aborted on drop anyway.
        let task = tokio::spawn(async move {
            let serve = async {
                let mut buf = [0u8; 1500];
                loop {
                    let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
                        return;
                    };
                    server_queries.fetch_add(1, Ordering::SeqCst);
                    if let Some(reply) = respond(&buf[..len], &server_zone) {
                        let _ = socket.send_to(&reply, peer).await;
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(60), serve).await;
        });
        FakeDns {
            addr,
            zone,
            queries,
            task,
        }
    }

    fn set(&self, name: &str, record_type: u16, answer: Answer) {
        self.zone
            .lock()
            .unwrap_or_else(|e| panic!("zone lock: {e}"))
            .insert((name.to_string(), record_type), answer);
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// The reply to one query, or None if it cannot be parsed.
fn respond(query: &[u8], zone: &Mutex<HashMap<(String, u16), Answer>>) -> Option<Vec<u8>> {
    let header = query.get(..12)?;
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = *query.get(pos)? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(pos..pos + len)?).to_lowercase());
        pos += len;
    }
    let qtype = u16::from_be_bytes([*query.get(pos)?, *query.get(pos + 1)?]);
    let question_end = pos + 4;
    let question = query.get(12..question_end)?;
    let name = labels.join(".");

    let answer = zone.lock().ok()?.get(&(name, qtype)).cloned();
    let (rcode, records) = match answer {
        Some(Answer::Records(records)) => (0, records),
        Some(Answer::ServFail) => (RCODE_SERVFAIL, Vec::new()),
        None => (RCODE_NXDOMAIN, Vec::new()),
    };
    let recursion_desired = u16::from_be_bytes([header[2], header[3]]) & 0x0100;
    let flags: u16 = 0x8000 | recursion_desired | 0x0080 | rcode;

    let mut reply = Vec::new();
    reply.extend_from_slice(&header[..2]);
    reply.extend_from_slice(&flags.to_be_bytes());
    reply.extend_from_slice(&1u16.to_be_bytes());
    reply.extend_from_slice(&(records.len() as u16).to_be_bytes());
    reply.extend_from_slice(&[0, 0, 0, 0]);
    reply.extend_from_slice(question);
    for record in &records {
        // A pointer to the question's name.
        reply.extend_from_slice(&[0xc0, 0x0c]);
        reply.extend_from_slice(&record.record_type().to_be_bytes());
        reply.extend_from_slice(&1u16.to_be_bytes());
        reply.extend_from_slice(&0u32.to_be_bytes());
        let rdata = record.rdata();
        reply.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        reply.extend_from_slice(&rdata);
    }
    Some(reply)
}

fn config(names: &[&str], record_type: DnsRecordType, port: u16) -> DnsSdConfig {
    DnsSdConfig {
        names: names.iter().map(|n| n.to_string()).collect(),
        refresh_interval: Duration::from_secs(3600),
        record_type,
        port,
    }
}

#[tokio::test]
async fn srv_records_become_targets_with_record_labels() {
    let dns = FakeDns::start().await;
    let name = "_web._tcp.argus.test";
    dns.set(
        name,
        TYPE_SRV,
        Answer::Records(vec![
            Record::Srv {
                port: 9100,
                target: "node1.argus.test.",
            },
            Record::Srv {
                port: 9200,
                target: "node2.argus.test.",
            },
        ]),
    );
    let cfg = config(&[name], DnsRecordType::Srv, 0);
    let mut sd = Collector::start(Box::new(DnsDiscoverer::with_nameserver(&cfg, dns.addr)));
    let update = sd.next_update(WAIT).await;
    assert_eq!(update.len(), 1);
    let group = &update[0];
    assert_eq!(group.source, name);
    assert_eq!(
        addresses(group),
        ["node1.argus.test:9100", "node2.argus.test:9200"]
    );
    let first = &group.targets[0];
    assert_eq!(first[NAME_LABEL], name);
    assert_eq!(first[SRV_TARGET_LABEL], "node1.argus.test.");
    assert_eq!(first[SRV_PORT_LABEL], "9100");
}

#[tokio::test]
async fn a_and_aaaa_records_use_the_config_port() {
    let dns = FakeDns::start().await;
    dns.set(
        "v4.argus.test",
        TYPE_A,
        Answer::Records(vec![
            Record::A(Ipv4Addr::new(127, 0, 0, 1)),
            Record::A(Ipv4Addr::new(127, 0, 0, 2)),
        ]),
    );
    dns.set(
        "v6.argus.test",
        TYPE_AAAA,
        Answer::Records(vec![Record::Aaaa(Ipv6Addr::LOCALHOST)]),
    );

    let cfg = config(&["v4.argus.test"], DnsRecordType::A, 9090);
    let mut v4 = Collector::start(Box::new(DnsDiscoverer::with_nameserver(&cfg, dns.addr)));
    let update = v4.next_update(WAIT).await;
    assert_eq!(addresses(&update[0]), ["127.0.0.1:9090", "127.0.0.2:9090"]);
    assert_eq!(update[0].targets[0][NAME_LABEL], "v4.argus.test");
    assert!(!update[0].targets[0].contains_key(SRV_TARGET_LABEL));

    let cfg = config(&["v6.argus.test"], DnsRecordType::Aaaa, 9090);
    let mut v6 = Collector::start(Box::new(DnsDiscoverer::with_nameserver(&cfg, dns.addr)));
    let update = v6.next_update(WAIT).await;
    assert_eq!(addresses(&update[0]), ["[::1]:9090"]);
}

#[tokio::test]
async fn mx_and_ns_records_keep_the_record_target() {
    let dns = FakeDns::start().await;
    dns.set(
        "argus.test",
        TYPE_MX,
        Answer::Records(vec![Record::Mx("mail.argus.test.")]),
    );
    dns.set(
        "argus.test",
        TYPE_NS,
        Answer::Records(vec![Record::Ns("ns1.argus.test.")]),
    );

    let cfg = config(&["argus.test"], DnsRecordType::Mx, 25);
    let mut mx = Collector::start(Box::new(DnsDiscoverer::with_nameserver(&cfg, dns.addr)));
    let update = mx.next_update(WAIT).await;
    assert_eq!(addresses(&update[0]), ["mail.argus.test:25"]);
    assert_eq!(update[0].targets[0][MX_TARGET_LABEL], "mail.argus.test.");

    let cfg = config(&["argus.test"], DnsRecordType::Ns, 53);
    let mut ns = Collector::start(Box::new(DnsDiscoverer::with_nameserver(&cfg, dns.addr)));
    let update = ns.next_update(WAIT).await;
    assert_eq!(addresses(&update[0]), ["ns1.argus.test:53"]);
    assert_eq!(update[0].targets[0][NS_TARGET_LABEL], "ns1.argus.test.");
}

#[tokio::test]
async fn missing_name_is_an_empty_group() {
    let dns = FakeDns::start().await;
    let cfg = config(&["absent.argus.test"], DnsRecordType::A, 80);
    let mut sd = Collector::start(Box::new(DnsDiscoverer::with_nameserver(&cfg, dns.addr)));
    let update = sd.next_update(WAIT).await;
    assert_eq!(update.len(), 1);
    assert_eq!(update[0].source, "absent.argus.test");
    assert!(update[0].targets.is_empty());
}

#[tokio::test]
async fn refreshes_and_keeps_groups_of_failing_names() {
    let dns = FakeDns::start().await;
    let (stable, flaky) = ("stable.argus.test", "flaky.argus.test");
    dns.set(
        stable,
        TYPE_A,
        Answer::Records(vec![Record::A(Ipv4Addr::new(127, 0, 0, 1))]),
    );
    dns.set(
        flaky,
        TYPE_A,
        Answer::Records(vec![Record::A(Ipv4Addr::new(127, 0, 0, 2))]),
    );
    let mut cfg = config(&[stable, flaky], DnsRecordType::A, 80);
    cfg.refresh_interval = Duration::from_millis(100);
    let mut sd = Collector::start(Box::new(DnsDiscoverer::with_nameserver(&cfg, dns.addr)));
    sd.until(WAIT, |g| g.len() == 2).await;

    dns.set(flaky, TYPE_A, Answer::ServFail);
    let queries_before = dns.queries.load(Ordering::SeqCst);
    // Wait for refreshes that saw the failure: they carry only the stable
    // name, so the collected view still has the flaky name's old group.
    tokio::time::timeout(WAIT, async {
        loop {
            let update = sd.next_update(WAIT).await;
            if update.len() == 1 {
                assert_eq!(update[0].source, stable);
                break;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no refresh saw the failure"));
    assert!(dns.queries.load(Ordering::SeqCst) > queries_before);
    assert_eq!(addresses(&sd.groups[flaky]), ["127.0.0.2:80"]);

    dns.set(
        flaky,
        TYPE_A,
        Answer::Records(vec![Record::A(Ipv4Addr::new(127, 0, 0, 3))]),
    );
    sd.until(WAIT, |g| {
        g.get(flaky)
            .is_some_and(|g| addresses(g) == ["127.0.0.3:80"])
    })
    .await;
}
