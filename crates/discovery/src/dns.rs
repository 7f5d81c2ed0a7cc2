//! DNS service discovery (`dns_sd_configs`): SRV, A, AAAA, MX and NS
//! lookups refreshed every refresh interval, one group per name, as
//! Prometheus does. A name whose lookup fails sends nothing, so its
//! previous group stays.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use argus_config::discovery::{DnsRecordType, DnsSdConfig};
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::static_sd::ADDRESS_LABEL;
use crate::{BoxFuture, Discoverer, TargetGroup, send_groups};

/// Used for a zero refresh interval, which would query without pause.
const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

pub const NAME_LABEL: &str = "__meta_dns_name";
pub const SRV_TARGET_LABEL: &str = "__meta_dns_srv_record_target";
pub const SRV_PORT_LABEL: &str = "__meta_dns_srv_record_port";
pub const MX_TARGET_LABEL: &str = "__meta_dns_mx_record_target";
pub const NS_TARGET_LABEL: &str = "__meta_dns_ns_record_target";

#[derive(Debug, Clone, Copy)]
enum Nameservers {
    /// `/etc/resolv.conf`, re-read at every refresh as Prometheus does.
    System,
    Explicit(SocketAddr),
}

#[derive(Debug, Clone)]
pub struct DnsDiscoverer {
    names: Vec<String>,
    record_type: DnsRecordType,
    port: u16,
    refresh_interval: Duration,
    nameservers: Nameservers,
}

impl DnsDiscoverer {
    /// Resolves with the system configuration.
    pub fn new(cfg: &DnsSdConfig) -> DnsDiscoverer {
        DnsDiscoverer {
            names: cfg.names.clone(),
            record_type: cfg.record_type,
            port: cfg.port,
            refresh_interval: if cfg.refresh_interval.is_zero() {
                DEFAULT_REFRESH_INTERVAL
            } else {
                cfg.refresh_interval
            },
            nameservers: Nameservers::System,
        }
    }

    /// Asks only `nameserver` (over UDP), without search domains or the
    /// hosts file.
    pub fn with_nameserver(cfg: &DnsSdConfig, nameserver: SocketAddr) -> DnsDiscoverer {
        DnsDiscoverer {
            nameservers: Nameservers::Explicit(nameserver),
            ..DnsDiscoverer::new(cfg)
        }
    }

    fn resolver(&self) -> Result<TokioResolver, String> {
        let builder = match self.nameservers {
            Nameservers::System => TokioResolver::builder_tokio().map_err(|e| e.to_string())?,
            Nameservers::Explicit(addr) => {
                let mut server = NameServerConfig::udp(addr.ip());
                for connection in &mut server.connections {
                    connection.port = addr.port();
                }
                let mut builder = Resolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![server]),
                    TokioRuntimeProvider::default(),
                );
                builder.options_mut().use_hosts_file = ResolveHosts::Never;
                builder
            }
        };
        builder.build().map_err(|e| e.to_string())
    }

    async fn run_loop(self, tx: mpsc::Sender<Vec<TargetGroup>>, shutdown: CancellationToken) {
        loop {
            let groups = tokio::select! {
                _ = shutdown.cancelled() => return,
                groups = self.refresh() => groups,
            };
            if !send_groups(&tx, groups, &shutdown).await {
                return;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.refresh_interval) => {}
            }
        }
    }

    /// The groups of the names that resolved (an absent name is an empty
    /// group); failures are logged and left out.
    async fn refresh(&self) -> Vec<TargetGroup> {
        // A fresh resolver per refresh: nothing cached, resolv.conf re-read.
        let resolver = match self.resolver() {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "cannot create dns resolver");
                return Vec::new();
            }
        };
        let lookups = self
            .names
            .iter()
            .map(|name| self.lookup_group(&resolver, name));
        futures::future::join_all(lookups)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    async fn lookup_group(&self, resolver: &TokioResolver, name: &str) -> Option<TargetGroup> {
        let mut group = TargetGroup {
            source: name.to_string(),
            ..TargetGroup::default()
        };
        let lookup = match resolver.lookup(name, query_type(self.record_type)).await {
            Ok(lookup) => lookup,
            Err(e) if e.is_no_records_found() => return Some(group),
            Err(e) => {
                warn!(name, error = %e, "error refreshing dns targets");
                return None;
            }
        };
        for record in lookup.answers() {
            if let Some(target) = self.target(name, &record.data) {
                group.targets.push(target);
            }
        }
        Some(group)
    }

    /// A target for one answer record; None for records of other types
    /// (CNAMEs on the way, for instance).
    fn target(&self, name: &str, data: &RData) -> Option<BTreeMap<String, String>> {
        let mut labels = BTreeMap::from([(NAME_LABEL.to_string(), name.to_string())]);
        let address = match data {
            RData::SRV(srv) => {
                labels.insert(SRV_TARGET_LABEL.to_string(), srv.target.to_string());
                labels.insert(SRV_PORT_LABEL.to_string(), srv.port.to_string());
                host_port(&host_name(&srv.target), srv.port)
            }
            RData::MX(mx) => {
                labels.insert(MX_TARGET_LABEL.to_string(), mx.exchange.to_string());
                host_port(&host_name(&mx.exchange), self.port)
            }
            RData::NS(ns) => {
                labels.insert(NS_TARGET_LABEL.to_string(), ns.0.to_string());
                host_port(&host_name(&ns.0), self.port)
            }
            RData::A(a) => SocketAddr::from((a.0, self.port)).to_string(),
            RData::AAAA(aaaa) => SocketAddr::from((aaaa.0, self.port)).to_string(),
            RData::CNAME(_) => return None,
            other => {
                debug!(name, record_type = %other.record_type(), "skipping dns record");
                return None;
            }
        };
        labels.insert(ADDRESS_LABEL.to_string(), address);
        Some(labels)
    }
}

impl Discoverer for DnsDiscoverer {
    fn run(
        self: Box<Self>,
        tx: mpsc::Sender<Vec<TargetGroup>>,
        shutdown: CancellationToken,
    ) -> BoxFuture {
        Box::pin(self.run_loop(tx, shutdown))
    }
}

fn query_type(record_type: DnsRecordType) -> RecordType {
    match record_type {
        DnsRecordType::Srv => RecordType::SRV,
        DnsRecordType::A => RecordType::A,
        DnsRecordType::Aaaa => RecordType::AAAA,
        DnsRecordType::Mx => RecordType::MX,
        DnsRecordType::Ns => RecordType::NS,
    }
}

/// A record's name without the root dot, for addresses.
fn host_name(name: &Name) -> String {
    name.to_string().trim_end_matches('.').to_string()
}

/// `host:port`, bracketing IPv6 literals as Go's `net.JoinHostPort`.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
