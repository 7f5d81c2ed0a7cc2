//! Prometheus 3.x flags `argus server` accepts without acting on them, so
//! that systemd units, the official container's command and helm charts
//! written for `prometheus` start it. Each one given is named in a single
//! warning at start.

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

const HEADING: &str = "Prometheus flags accepted and ignored";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Takes a value.
    Value,
    /// A boolean: `--x`, `--x=false` or `--no-x`.
    Bool,
    /// Agent mode only: refused in server mode, as Prometheus does.
    AgentOnly,
}

/// Name, kind and Prometheus's default (shown in `/api/v1/status/flags`).
const PROMETHEUS_FLAGS: &[(&str, Kind, &str)] = &[
    ("config.auto-reload", Kind::Bool, "false"),
    ("config.auto-reload-interval", Kind::Value, "30s"),
    ("auto-gomaxprocs", Kind::Bool, "true"),
    ("auto-gomemlimit", Kind::Bool, "true"),
    ("auto-gomemlimit.ratio", Kind::Value, "0.9"),
    ("auto-gomemlimit.refresh-interval", Kind::Value, "0s"),
    ("web.read-timeout", Kind::Value, "5m"),
    ("web.max-connections", Kind::Value, "512"),
    ("web.max-notifications-subscribers", Kind::Value, "16"),
    ("web.user-assets", Kind::Value, ""),
    (
        "web.remote-write-receiver.accepted-protobuf-messages",
        Kind::Value,
        "prometheus.WriteRequest,io.prometheus.write.v2.Request",
    ),
    ("web.enable-otlp-receiver", Kind::Bool, "false"),
    ("web.console.templates", Kind::Value, "consoles"),
    ("web.console.libraries", Kind::Value, "console_libraries"),
    ("storage.tsdb.max-block-duration", Kind::Value, ""),
    (
        "storage.tsdb.max-block-chunk-segment-size",
        Kind::Value,
        "0B",
    ),
    ("storage.tsdb.wal-segment-size", Kind::Value, "0B"),
    ("storage.tsdb.no-lockfile", Kind::Bool, "false"),
    (
        "storage.tsdb.allow-overlapping-compaction",
        Kind::Bool,
        "true",
    ),
    ("storage.tsdb.wal-compression", Kind::Bool, "true"),
    ("storage.tsdb.wal-compression-type", Kind::Value, "snappy"),
    (
        "storage.tsdb.head-chunks-write-queue-size",
        Kind::Value,
        "0",
    ),
    ("storage.tsdb.samples-per-chunk", Kind::Value, "120"),
    (
        "storage.tsdb.delayed-compaction.max-percent",
        Kind::Value,
        "10",
    ),
    ("storage.tsdb.delay-compact-file.path", Kind::Value, ""),
    ("storage.remote.flush-deadline", Kind::Value, "1m"),
    ("storage.remote.read-sample-limit", Kind::Value, "50000000"),
    ("storage.remote.read-concurrent-limit", Kind::Value, "10"),
    (
        "storage.remote.read-max-bytes-in-frame",
        Kind::Value,
        "1048576",
    ),
    ("web.search.max-limit", Kind::Value, "10000"),
    ("rules.alert.for-outage-tolerance", Kind::Value, "1h"),
    ("rules.alert.for-grace-period", Kind::Value, "10m"),
    ("rules.alert.resend-delay", Kind::Value, "1m"),
    ("rules.max-concurrent-evals", Kind::Value, "4"),
    ("scrape.adjust-timestamps", Kind::Bool, "true"),
    ("scrape.timestamp-tolerance", Kind::Value, "2ms"),
    ("scrape.discovery-reload-interval", Kind::Value, "5s"),
    (
        "alertmanager.notification-queue-capacity",
        Kind::Value,
        "10000",
    ),
    ("alertmanager.notification-batch-size", Kind::Value, "256"),
    (
        "alertmanager.drain-notification-queue-on-shutdown",
        Kind::Bool,
        "true",
    ),
    ("agent", Kind::AgentOnly, "false"),
    ("storage.agent.path", Kind::AgentOnly, "data-agent/"),
    ("storage.agent.wal-segment-size", Kind::AgentOnly, "0B"),
    ("storage.agent.wal-compression", Kind::AgentOnly, "true"),
    (
        "storage.agent.wal-compression-type",
        Kind::AgentOnly,
        "snappy",
    ),
    (
        "storage.agent.wal-truncate-frequency",
        Kind::AgentOnly,
        "0s",
    ),
    ("storage.agent.retention.min-time", Kind::AgentOnly, "5m"),
    ("storage.agent.retention.max-time", Kind::AgentOnly, "4h"),
    (
        "storage.agent.checkpoint-from-in-memory-series",
        Kind::AgentOnly,
        "false",
    ),
    (
        "storage.agent.checkpoint-batch-size",
        Kind::AgentOnly,
        "1000",
    ),
    ("storage.agent.no-lockfile", Kind::AgentOnly, "false"),
    ("write-documentation", Kind::Bool, "false"),
];

/// The Prometheus-only flags given on the command line, with their values.
#[derive(Debug, Clone, Default)]
pub struct CompatFlags {
    given: Vec<(&'static str, String)>,
    agent_only: Vec<&'static str>,
}

impl CompatFlags {
    /// `--name=value` for each flag given, for the warning line.
    pub fn ignored_descriptions(&self) -> Vec<String> {
        self.given
            .iter()
            .map(|(name, value)| format!("--{name}={value}"))
            .collect()
    }

    /// Agent-mode flags given; Prometheus refuses them in server mode.
    pub fn agent_only(&self) -> &[&'static str] {
        &self.agent_only
    }

    /// Every flag of the table with what was given, else its default.
    pub fn values(&self) -> impl Iterator<Item = (&'static str, String)> + '_ {
        PROMETHEUS_FLAGS.iter().map(|(name, _, default)| {
            let given = self.given.iter().find(|(n, _)| n == name);
            (
                *name,
                given.map_or_else(|| default.to_string(), |(_, v)| v.clone()),
            )
        })
    }
}

fn negated_id(name: &str) -> String {
    format!("no-{name}")
}

impl clap::FromArgMatches for CompatFlags {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = CompatFlags::default();
        for (name, kind, _) in PROMETHEUS_FLAGS {
            let from_command_line = |id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
            if *kind == Kind::Bool && from_command_line(&negated_id(name)) {
                flags.given.push((name, "false".to_string()));
                continue;
            }
            if !from_command_line(name) {
                continue;
            }
            let value = m
                .get_many::<String>(name)
                .map(|v| v.cloned().collect::<Vec<_>>().join(","))
                .unwrap_or_default();
            if *kind == Kind::AgentOnly {
                flags.agent_only.push(name);
            } else {
                flags.given.push((name, value));
            }
        }
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Args for CompatFlags {
    fn augment_args(mut cmd: Command) -> Command {
        for (name, kind, default) in PROMETHEUS_FLAGS {
            let help = match (kind, default.is_empty()) {
                (Kind::AgentOnly, _) => "Prometheus agent mode; refused".to_string(),
                (_, true) => "Ignored".to_string(),
                (_, false) => format!("Ignored (Prometheus's default: {default})"),
            };
            let arg = Arg::new(*name)
                .long(*name)
                .help(help)
                .help_heading(HEADING)
                .hide(*kind == Kind::AgentOnly)
                .action(ArgAction::Append);
            let arg = match kind {
                Kind::Bool | Kind::AgentOnly => arg
                    .num_args(0..=1)
                    .require_equals(true)
                    .default_missing_value("true")
                    .value_name("BOOL"),
                Kind::Value => arg.num_args(1).value_name("VALUE"),
            };
            cmd = cmd.arg(arg);
            if *kind == Kind::Bool {
                cmd = cmd.arg(
                    Arg::new(negated_id(name))
                        .long(negated_id(name))
                        .hide(true)
                        .action(ArgAction::SetTrue),
                );
            }
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}
