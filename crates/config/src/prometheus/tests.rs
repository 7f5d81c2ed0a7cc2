use super::*;
use crate::discovery::{DnsRecordType, KubernetesRole, SdConfig};
use crate::http::Secret;
use crate::relabel::RelabelAction;

fn parse(text: &str) -> Result<PrometheusConfig, String> {
    parse_prometheus_config(text, "prometheus.yml").map_err(|e| e.to_string())
}

/// The error of a config that must fail, checked to be one line.
fn error(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => {
            assert!(!e.contains('\n'), "multi-line error: {e}");
            e
        }
    }
}

fn assert_error(text: &str, line: usize, parts: &[&str]) {
    let e = error(text);
    let prefix = format!("prometheus.yml:{line}: ");
    assert!(e.starts_with(&prefix), "want {prefix:?}: {e}");
    for p in parts {
        assert!(e.contains(p), "want {p:?} in: {e}");
    }
}

#[test]
fn empty_and_minimal_configs_are_accepted() {
    for text in ["", "# only a comment\n", "global: {}\nscrape_configs: []\n"] {
        let c = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(c.global, GlobalConfig::default());
        assert!(c.scrape_configs.is_empty());
        assert_eq!(c.original, text);
    }
    let c = parse("global:\nscrape_configs:\n").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.global.evaluation_interval, Duration::from_secs(60));
}

#[test]
fn global_fields_and_defaults() {
    let text = r#"
global:
  scrape_interval: 15s
  evaluation_interval: 30s
  query_log_file: /tmp/q.log
  external_labels:
    replica: a
    cluster: eu
  scrape_protocols: [OpenMetricsText1.0.0, PrometheusText0.0.4]
rule_files: ["rules/*.yml"]
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["localhost:9090"]
alerting:
  alertmanagers: []
remote_write:
  - url: http://x/api/v1/write
storage:
  tsdb:
    out_of_order_time_window: 0s
"#;
    let c = parse(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.global.scrape_interval, Duration::from_secs(15));
    assert_eq!(c.global.scrape_timeout, Duration::from_secs(10));
    assert_eq!(c.global.evaluation_interval, Duration::from_secs(30));
    assert_eq!(c.global.external_labels.len(), 2);
    assert_eq!(c.global.query_log_file, "/tmp/q.log");
    assert!(c.global.other.contains_key("scrape_protocols"));
    assert_eq!(c.scrape_configs.len(), 1);
    let job = &c.scrape_configs[0];
    assert_eq!(job.scrape_interval, Duration::from_secs(15));
    assert_eq!(
        job.scrape_protocols,
        vec!["OpenMetricsText1.0.0", "PrometheusText0.0.4"]
    );
    assert_eq!(c.rule_files, vec!["rules/*.yml"]);
    assert_eq!(c.remote_write.len(), 1);
    assert!(c.alerting.alertmanagers.is_empty() && c.storage.is_some());
    // A short scrape interval caps the default timeout.
    let c = parse("global: {scrape_interval: 5s}\n").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.global.scrape_timeout, Duration::from_secs(5));
}

#[test]
fn job_defaults_come_from_prometheus_and_global() {
    let text = r#"
global:
  scrape_interval: 20s
  scrape_timeout: 15s
  sample_limit: 100
  body_size_limit: 1KiB
scrape_configs:
  - job_name: a
  - job_name: b
    scrape_interval: 10s
    sample_limit: 5
    body_size_limit: 10MB
"#;
    let c = parse(text).unwrap_or_else(|e| panic!("{e}"));
    let (a, b) = (&c.scrape_configs[0], &c.scrape_configs[1]);
    assert_eq!(a.scrape_interval, Duration::from_secs(20));
    assert_eq!(a.scrape_timeout, Duration::from_secs(15));
    assert_eq!(a.metrics_path, "/metrics");
    assert_eq!(a.scheme, "http");
    assert!(a.honor_timestamps && a.enable_compression && !a.honor_labels);
    assert!(a.http.follow_redirects && a.http.enable_http2);
    assert_eq!(a.scrape_protocols, crate::DEFAULT_SCRAPE_PROTOCOLS.to_vec());
    assert_eq!((a.sample_limit, a.body_size_limit), (100, 1024));
    assert!(a.service_discovery.is_empty());
    // The global timeout is capped at the job's shorter interval.
    assert_eq!(b.scrape_timeout, Duration::from_secs(10));
    assert_eq!((b.sample_limit, b.body_size_limit), (5, 10 << 20));
}

#[test]
fn full_config_round_trips_to_typed_values() {
    let text = r#"
global:
  scrape_interval: 30s
  external_labels: {replica: r1}
rule_files: [rules/a.yml]
scrape_configs:
  - job_name: node
    honor_labels: true
    honor_timestamps: false
    params: {module: [http_2xx]}
    scrape_interval: 1m
    scrape_timeout: 50s
    metrics_path: /probe
    scheme: https
    enable_compression: false
    label_limit: 30
    scrape_protocols: [PrometheusText0.0.4]
    basic_auth: {username: u, password_file: pw.txt}
    tls_config: {ca_file: ca.pem, insecure_skip_verify: true, min_version: TLS12}
    follow_redirects: false
    proxy_url: http://proxy:3128
    http_headers:
      X-Team: {values: [a, b]}
    static_configs:
      - targets: [a:9100, b:9100]
        labels: {env: prod}
    file_sd_configs:
      - files: [targets/*.json]
        refresh_interval: 1m
    dns_sd_configs:
      - names: [_node._tcp.example.org]
      - names: [db.example.org]
        type: a
        port: 9100
    kubernetes_sd_configs:
      - role: endpointslice
        api_server: https://k8s:6443
        bearer_token: tok
        namespaces: {names: [default]}
        selectors:
          - role: pod
            label: app=web
        attach_metadata: {node: true}
    relabel_configs:
      - source_labels: [__address__]
        regex: (.*):9100
        target_label: host
      - action: hashmod
        source_labels: [host]
        modulus: 4
        target_label: shard
    metric_relabel_configs:
      - action: labeldrop
        regex: tmp_.*
alerting:
  alert_relabel_configs:
    - action: labeldrop
      regex: replica
  alertmanagers:
    - scheme: https
      path_prefix: /am
      timeout: 5s
      authorization: {credentials: secret}
      static_configs: [{targets: ["am:9093"]}]
remote_write:
  - url: https://rw.example/api/v1/write
    name: primary
    remote_timeout: 10s
    headers: {X-Scope-OrgID: t1}
    write_relabel_configs:
      - action: drop
        source_labels: [__name__]
        regex: go_.*
    queue_config: {max_shards: 10, capacity: 500}
    metadata_config: {send: false}
  - url: http://rw2/write
remote_read:
  - url: http://rr/read
    read_recent: true
    required_matchers: {job: node}
    filter_external_labels: false
"#;
    let c = parse_prometheus_config_in(text, "prometheus.yml", Path::new("/etc/prom"))
        .unwrap_or_else(|e| panic!("{e}"));
    let job = &c.scrape_configs[0];
    assert_eq!(job.job_name, "node");
    assert!(job.honor_labels && !job.honor_timestamps && !job.enable_compression);
    assert_eq!(job.params["module"], vec!["http_2xx"]);
    assert_eq!(job.scrape_timeout, Duration::from_secs(50));
    assert_eq!(
        (job.metrics_path.as_str(), job.scheme.as_str()),
        ("/probe", "https")
    );
    assert_eq!(job.label_limit, 30);
    let basic = job
        .http
        .basic_auth
        .as_ref()
        .unwrap_or_else(|| panic!("no basic_auth"));
    assert_eq!(basic.username, "u");
    assert_eq!(basic.password_file, Some(PathBuf::from("/etc/prom/pw.txt")));
    assert_eq!(
        job.http.tls_config.ca_file,
        Some(PathBuf::from("/etc/prom/ca.pem"))
    );
    assert!(job.http.tls_config.insecure_skip_verify);
    assert_eq!(job.http.tls_config.min_version.as_deref(), Some("TLS12"));
    assert!(!job.http.follow_redirects);
    assert_eq!(job.http.proxy_url.as_deref(), Some("http://proxy:3128"));
    assert_eq!(job.http.http_headers["X-Team"], vec!["a", "b"]);
    let sd = &job.service_discovery;
    assert_eq!(sd.len(), 5);
    match &sd[0] {
        SdConfig::Static(s) => {
            assert_eq!(s.targets, vec!["a:9100", "b:9100"]);
            assert_eq!(s.labels["env"], "prod");
        }
        other => panic!("{other:?}"),
    }
    match &sd[1] {
        SdConfig::File(f) => {
            assert_eq!(f.files, vec![PathBuf::from("/etc/prom/targets/*.json")]);
            assert_eq!(f.refresh_interval, Duration::from_secs(60));
        }
        other => panic!("{other:?}"),
    }
    match (&sd[2], &sd[3]) {
        (SdConfig::Dns(srv), SdConfig::Dns(a)) => {
            assert_eq!(srv.record_type, DnsRecordType::Srv);
            assert_eq!(srv.refresh_interval, Duration::from_secs(30));
            assert_eq!((a.record_type, a.port), (DnsRecordType::A, 9100));
        }
        other => panic!("{other:?}"),
    }
    match &sd[4] {
        SdConfig::Kubernetes(k) => {
            assert_eq!(k.role, KubernetesRole::EndpointSlice);
            assert_eq!(k.api_server.as_deref(), Some("https://k8s:6443"));
            let auth = k
                .http
                .authorization
                .as_ref()
                .unwrap_or_else(|| panic!("no auth"));
            assert_eq!(auth.kind, "Bearer");
            assert_eq!(auth.credentials, Some(Secret("tok".to_string())));
            assert_eq!(k.namespaces.names, vec!["default"]);
            assert_eq!(k.selectors[0].role, KubernetesRole::Pod);
            assert_eq!(k.selectors[0].label.as_deref(), Some("app=web"));
            assert!(k.attach_metadata_node && !k.attach_metadata_namespace);
        }
        other => panic!("{other:?}"),
    }
    let r = &job.relabel_configs;
    assert_eq!(r[0].regex.source, "(.*):9100");
    assert_eq!(
        (r[0].separator.as_str(), r[0].replacement.as_str()),
        (";", "$1")
    );
    assert_eq!(r[1].action, RelabelAction::HashMod);
    assert_eq!(r[1].modulus, 4);
    assert_eq!(
        job.metric_relabel_configs[0].action,
        RelabelAction::LabelDrop
    );

    assert_eq!(c.alerting.alert_relabel_configs.len(), 1);
    let am = &c.alerting.alertmanagers[0];
    assert_eq!(
        (am.scheme.as_str(), am.path_prefix.as_str()),
        ("https", "/am")
    );
    assert_eq!(
        (am.timeout, am.api_version.as_str()),
        (Duration::from_secs(5), "v2")
    );
    assert_eq!(am.service_discovery.len(), 1);

    let (rw, rw2) = (&c.remote_write[0], &c.remote_write[1]);
    assert_eq!(rw.name, "primary");
    assert_eq!(rw.remote_timeout, Duration::from_secs(10));
    assert_eq!(rw.headers["X-Scope-OrgID"], "t1");
    assert_eq!(rw.write_relabel_configs[0].action, RelabelAction::Drop);
    assert_eq!(
        (rw.queue_config.max_shards, rw.queue_config.capacity),
        (10, 500)
    );
    assert_eq!(rw.queue_config.min_shards, 1);
    assert!(!rw.metadata_config.send);
    assert!(!rw.http.enable_http2);
    assert_eq!(rw2.name.len(), 6);
    assert_eq!(rw2.remote_timeout, Duration::from_secs(30));
    assert_eq!(rw2.queue_config, crate::remote::QueueConfig::default());
    let rr = &c.remote_read[0];
    assert!(rr.read_recent && !rr.filter_external_labels);
    assert_eq!(rr.remote_timeout, Duration::from_secs(60));
    assert_eq!(rr.required_matchers["job"], "node");
    assert_eq!(c.base_dir, PathBuf::from("/etc/prom"));
    // Parsing is deterministic, default names included.
    let again = parse_prometheus_config_in(text, "prometheus.yml", Path::new("/etc/prom"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again, c);
}

#[test]
fn example_config_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/prometheus.yml");
    let c = load_prometheus_config(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.scrape_configs[0].job_name, "argus");
    assert_eq!(c.scrape_configs[0].scrape_interval, Duration::from_secs(15));
    assert_eq!(c.base_dir, path.parent().unwrap_or(Path::new("")));
}

#[test]
fn typo_in_scrape_config_suggests_the_field() {
    let text = "\
global:
  scrape_interval: 15s

scrape_configs:
  - job_name: a
    static_configs: [{targets: [x:1]}]
    scarpe_interval: 10s
";
    assert_error(
        text,
        7,
        &[
            r#"unknown field "scarpe_interval""#,
            r#"did you mean "scrape_interval"?"#,
        ],
    );
    let e = error("global:\n  scrape_interval: 15s\n  evaluation_intervall: 1m\n");
    assert!(e.starts_with("prometheus.yml:3:"), "{e}");
    assert!(e.contains(r#"did you mean "evaluation_interval""#), "{e}");
    assert_error(
        "global: {}\nscrape_config: []\n",
        2,
        &[
            r#"unknown field "scrape_config""#,
            r#"did you mean "scrape_configs"?"#,
        ],
    );
}

#[test]
fn malformed_configs_name_file_line_and_field() {
    // Bad YAML.
    assert_error(
        "global:\n  scrape_interval: 15s\n\tevaluation_interval: 1m\n",
        3,
        &["tab character"],
    );
    // Wrong types.
    assert_error(
        "scrape_configs:\n  - job_name: a\n    scrape_interval: [1]\n",
        3,
        &["scrape_interval", "invalid type"],
    );
    assert_error(
        "scrape_configs:\n  - job_name: a\n    honor_labels: maybe\n",
        3,
        &["honor_labels", "invalid type"],
    );
    // Bad durations.
    assert_error(
        "global:\n  scrape_interval: 15x\n",
        2,
        &["scrape_interval", "invalid duration"],
    );
    assert_error(
        "scrape_configs:\n  - job_name: a\n    scrape_timeout: 1h1h\n",
        3,
        &["scrape_timeout", "invalid duration"],
    );
    // Timeout longer than the interval.
    assert_error(
        "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n",
        4,
        &[
            "scrape_timeout",
            "scrape timeout greater than scrape interval",
            "\"a\"",
        ],
    );
    assert_error(
        "global: {scrape_interval: 5s, scrape_timeout: 10s}\n",
        1,
        &[
            "global.scrape_timeout",
            "global scrape timeout greater than scrape interval",
        ],
    );
    // A bad regex names itself.
    assert_error(
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [x]\n        regex: 'a(b'\n        action: keep\n",
        5,
        &["relabel_configs[0].regex", r#"invalid regex "a(b""#],
    );
    // Duplicate job names: the line of the second.
    assert_error(
        "scrape_configs:\n  - job_name: a\n  - job_name: b\n  - job_name: a\n",
        4,
        &[
            "scrape_configs[2].job_name",
            r#"multiple scrape configs with job name "a""#,
            "prometheus.yml:2",
        ],
    );
    // Unknown SD field, with a suggestion.
    assert_error(
        "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: [t.json]\n        refresh_intervall: 1m\n",
        5,
        &[
            r#"unknown field "refresh_intervall""#,
            r#"did you mean "refresh_interval"?"#,
        ],
    );
    // SD kinds Argus lacks.
    assert_error(
        "scrape_configs:\n  - job_name: a\n    consul_sd_configs:\n      - server: c:8500\n",
        3,
        &["consul_sd_configs is not supported by argus"],
    );
    assert_error(
        "alerting:\n  alertmanagers:\n    - ec2_sd_configs: [{}]\n",
        3,
        &["ec2_sd_configs is not supported by argus"],
    );
    // Relabel rules.
    assert_error(
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: keepp\n",
        4,
        &[
            "action",
            r#"unknown relabel action "keepp""#,
            r#"did you mean "keep"?"#,
        ],
    );
    assert_error(
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [a]\n        target_label: b\n        action: hashmod\n",
        4,
        &["relabel_configs[0]", "hashmod requires non-zero modulus"],
    );
    assert_error(
        "scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n      - source_labels: [a]\n        regex: x\n",
        4,
        &[
            "metric_relabel_configs[0]",
            "replace action requires 'target_label' value",
        ],
    );
    // Remote write.
    assert_error(
        "remote_write:\n  - remote_timeout: 5s\n",
        2,
        &["remote_write[0].url", "url for remote_write is empty"],
    );
    assert_error(
        "remote_write:\n  - url: ftp://x/write\n",
        2,
        &["remote_write[0].url", "scheme must be http or https"],
    );
    // Scrape scheme and body size.
    assert_error(
        "scrape_configs:\n  - job_name: a\n    scheme: ftp\n",
        3,
        &["scrape_configs[0].scheme", r#"invalid scheme "ftp""#],
    );
    assert_error(
        "scrape_configs:\n  - job_name: a\n    body_size_limit: 10XB\n",
        3,
        &["body_size_limit", r#"invalid size "10XB""#],
    );
}

#[test]
fn relabel_rules_are_validated_as_prometheus() {
    let job = |rule: &str| {
        format!("scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {rule}\n")
    };
    let cases = [
        (
            "{action: lowercase, source_labels: [a]}",
            "lowercase action requires 'target_label' value",
        ),
        (
            "{action: uppercase, target_label: b, replacement: x}",
            "'replacement' can not be set for uppercase action",
        ),
        (
            "{action: keepequal, target_label: b, regex: '(.*)'}",
            "keepequal action requires only 'source_labels' and `target_label`",
        ),
        (
            "{action: dropequal, target_label: b, separator: ','}",
            "dropequal action requires only",
        ),
        (
            "{action: labeldrop, regex: x, source_labels: [a]}",
            "labeldrop action requires only 'regex'",
        ),
        (
            "{action: labelkeep, regex: x, target_label: b}",
            "labelkeep action requires only 'regex'",
        ),
        (
            "{action: replace, target_label: ''}",
            "replace action requires 'target_label' value",
        ),
        (
            "{action: labelmap, regex: x, replacement: ''}",
            r#""" is invalid 'replacement' for labelmap action"#,
        ),
    ];
    for (rule, want) in cases {
        let e = error(&job(rule));
        assert!(e.starts_with("prometheus.yml:4: "), "{rule}: {e}");
        assert!(e.contains(want), "{rule}: {e}");
    }
    // Accepted: `${1}` targets, keepequal with only the two fields.
    let ok = job("{action: replace, source_labels: [a], regex: '(.+)', target_label: 'x_${1}'}");
    parse(&ok).unwrap_or_else(|e| panic!("{e}"));
    parse(&job(
        "{action: keepequal, source_labels: [a], target_label: b}",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    // Legacy names reject a dotted target label; UTF-8 (the default) accepts it.
    let dotted = job("{action: replace, target_label: a.b}");
    parse(&dotted).unwrap_or_else(|e| panic!("{e}"));
    let legacy = format!("global: {{metric_name_validation_scheme: legacy}}\n{dotted}");
    let e = error(&legacy);
    assert!(
        e.contains(r#""a.b" is invalid 'target_label' for replace action"#),
        "{e}"
    );
}

#[test]
fn other_checks() {
    let cases: &[(&str, &str)] = &[
        (
            "scrape_configs:\n  - scrape_interval: 1m\n",
            "job_name is empty",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['http://x:1/']}]\n",
            "is not a valid hostname",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    scrape_protocols: [OpenMetricsText1.0.1]\n",
            "unknown scrape protocol",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    scrape_protocols: []\n",
            "scrape_protocols cannot be empty",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    bearer_token: x\n    bearer_token_file: y\n",
            "at most one of bearer_token & bearer_token_file",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    bearer_token: x\n    authorization: {credentials: y}\n",
            "authorization is not compatible with bearer_token",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: p, password_file: f}\n",
            "at most one of basic_auth password, password_file",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u}\n    authorization: {credentials: y}\n",
            "at most one of basic_auth, oauth2 & authorization",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    authorization: {type: Basic}\n",
            "authorization type cannot be set to \"basic\"",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    tls_config: {cert_file: c}\n",
            "exactly one of key or key_file",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    tls_config: {min_version: TLS9}\n",
            "unknown TLS version: TLS9",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    no_proxy: x\n",
            "if no_proxy is configured, proxy_url must also be configured",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    oauth2: {client_id: x}\n",
            "oauth2 is not supported by argus",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    file_sd_configs: [{files: [t.txt]}]\n",
            "path name \"t.txt\" is not valid for file discovery",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    file_sd_configs: [{files: ['*/t.json']}]\n",
            "is not valid for file discovery",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    dns_sd_configs: [{names: [x], type: A}]\n",
            "a port is required",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    dns_sd_configs: [{names: [x], type: TXT}]\n",
            "invalid DNS-SD records type TXT",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    dns_sd_configs: [{type: SRV}]\n",
            "at least one SRV record name",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs: [{api_server: 'https://k'}]\n",
            "role missing",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs: [{role: pods}]\n",
            "unknown Kubernetes SD role \"pods\"",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs: [{role: pod, api_server: 'https://k', kubeconfig_file: k}]\n",
            "cannot use 'kubeconfig_file' and 'api_server' simultaneously",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs: [{role: pod, bearer_token: t}]\n",
            "please provide the 'api_server' URL explicitly",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs: [{role: service, selectors: [{role: pod}]}]\n",
            "service role supports only service selectors",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs: [{role: pod, selectors: [{role: pod}, {role: pod}]}]\n",
            "duplicated selector role: pod",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs: [{role: pod, selectors: [{role: pod, label: 'a b'}]}]\n",
            "invalid label selector",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs: [{role: pod, namespaces: {own_namespace: true}, api_server: 'https://k'}]\n",
            "own_namespace",
        ),
        (
            "remote_write:\n  - url: http://a/w\n    name: x\n  - url: http://b/w\n    name: x\n",
            "found multiple remote write configs with job name \"x\"",
        ),
        (
            "remote_write:\n  - url: http://a/w\n  - url: http://a/w\n",
            "duplicate remote write configs are not allowed",
        ),
        (
            "remote_write:\n  - url: http://a/w\n    headers: {Authorization: x}\n",
            "authorization header must be changed",
        ),
        (
            "remote_write:\n  - url: http://a/w\n    queue_config: {min_shards: 5, max_shards: 2}\n",
            "min_shards must not be greater than max_shards",
        ),
        (
            "remote_write:\n  - url: http://a/w\n    sigv4: {region: x}\n",
            "sigv4 is not supported by argus",
        ),
        (
            "remote_read:\n  - read_recent: true\n",
            "url for remote_read is empty",
        ),
        (
            "alerting:\n  alertmanagers:\n    - api_version: v1\n",
            "expected Alertmanager api version to be one of [v2] but got v1",
        ),
        (
            "alerting:\n  alertmanagers:\n    - scheme: udp\n",
            "invalid scheme \"udp\"",
        ),
        ("rule_files: ['a/*/b.yml']\n", "invalid rule file path"),
        (
            "scrape_config_files: ['*/*.yml']\n",
            "invalid scrape config file path",
        ),
        (
            "global: {metric_name_validation_scheme: ascii}\n",
            "unknown metric_name_validation_scheme",
        ),
        (
            "global: {external_labels: {__x: y}}\n",
            "not a valid label name for external_labels",
        ),
    ];
    for (text, want) in cases {
        let e = error(text);
        assert!(e.starts_with("prometheus.yml:"), "{text}: {e}");
        assert!(e.contains(want), "{text}\nwant {want:?} in: {e}");
    }
}

#[test]
fn scrape_config_files_are_loaded_and_appended() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let jobs = dir.path().join("jobs");
    std::fs::create_dir(&jobs).unwrap_or_else(|e| panic!("{e}"));
    let write = |name: &str, text: &str| {
        std::fs::write(jobs.join(name), text).unwrap_or_else(|e| panic!("{e}"));
    };
    write(
        "a.yml",
        "scrape_configs:\n  - job_name: from_a\n    file_sd_configs: [{files: [t.json]}]\n",
    );
    write("b.yml", "scrape_configs:\n  - job_name: from_b\n");
    let main = dir.path().join("prometheus.yml");
    let text = "global: {scrape_interval: 7s}\nscrape_config_files: ['jobs/*.yml']\nscrape_configs:\n  - job_name: main\n";
    std::fs::write(&main, text).unwrap_or_else(|e| panic!("{e}"));
    let c = load_prometheus_config(&main).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = c
        .scrape_configs
        .iter()
        .map(|j| j.job_name.as_str())
        .collect();
    assert_eq!(names, vec!["main", "from_a", "from_b"]);
    assert_eq!(c.scrape_configs[1].scrape_interval, Duration::from_secs(7));
    match &c.scrape_configs[1].service_discovery[0] {
        SdConfig::File(f) => assert_eq!(f.files, vec![jobs.join("t.json")]),
        other => panic!("{other:?}"),
    }
    // Errors name the included file and its line.
    write(
        "c.yml",
        "scrape_configs:\n  - job_name: c\n    scrape_intervall: 1m\n",
    );
    let e = load_prometheus_config(&main)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let want = format!("{}:3: ", jobs.join("c.yml").display());
    assert!(e.starts_with(&want), "{e}");
    assert!(e.contains(r#"did you mean "scrape_interval""#), "{e}");
    write("c.yml", "scrape_configs:\n  - job_name: main\n");
    let e = load_prometheus_config(&main)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.starts_with(&format!("{}:2: ", jobs.join("c.yml").display())),
        "{e}"
    );
    assert!(e.contains("first found at"), "{e}");
}

#[test]
fn exact_messages() {
    let e = error("scrape_configs:\n  - job_name: a\n    scarpe_interval: 10s\n");
    assert_eq!(
        e,
        r#"prometheus.yml:3: scrape_configs[0]: unknown field "scarpe_interval" in scrape config; did you mean "scrape_interval"?"#
    );
    let e = error("scrape_configs:\n  - job_name: a\n  - job_name: a\n");
    assert_eq!(
        e,
        r#"prometheus.yml:3: scrape_configs[1].job_name: found multiple scrape configs with job name "a", first found at prometheus.yml:2"#
    );
    let e = error(
        "scrape_configs:\n  - job_name: a\n    relabel_configs: [{regex: '(', target_label: x}]\n",
    );
    assert!(
        e.starts_with(
            r#"prometheus.yml:3: scrape_configs[0].relabel_configs[0].regex: invalid regex "(": "#
        ),
        "{e}"
    );
    let c = parse("remote_write: [{url: 'http://x/w'}]\n").unwrap_or_else(|e| panic!("{e}"));
    assert!(c.remote_write[0].queue_config.retry_on_http_429);
    assert_eq!(c.remote_write[0].metadata_config.max_samples_per_send, 2000);
}

#[test]
fn tsdb_retention_in_the_config_as_prometheus_3() {
    let c = parse("storage:\n  tsdb:\n    retention:\n      time: 30d\n      size: 1GB\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.tsdb_retention,
        Some(TsdbRetention {
            time_ms: Some(30 * 86_400_000),
            size_bytes: Some(1 << 30),
            percentage: None,
        })
    );
    // Omitted fields are unlimited; no section means the flags apply.
    let c = parse("storage:\n  tsdb:\n    retention:\n      size: 512MB\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.tsdb_retention.map(|r| r.time_ms), Some(None));
    assert_eq!(parse("storage: {}\n").map(|c| c.tsdb_retention), Ok(None));
    assert_error(
        "storage:\n  tsdb:\n    retention:\n      percentage: 101\n",
        4,
        &["percentage", "[0, 100]"],
    );
    assert_error(
        "storage:\n  tsdb:\n    retention:\n      size: 12 parsecs\n",
        4,
        &["retention.size"],
    );
    assert_error(
        "storage:\n  tsdb:\n    retention:\n      tme: 3h\n",
        4,
        &["tme", "TSDBRetentionConfig"],
    );
}

#[test]
fn standalone_relabel_configs_parse_and_are_checked() {
    let rules = super::parse_relabel_configs(
        "- source_labels: [replica]\n  regex: a\n  action: keep\n",
        "--selector.relabel-config",
    )
    .expect("valid rules");
    assert_eq!(rules.len(), 1);
    let err = super::parse_relabel_configs("- action: hashmod\n  target_label: x\n", "sel")
        .expect_err("hashmod without modulus");
    assert!(err.to_string().contains("modulus"), "{err}");
    let err = super::parse_relabel_configs("- actoin: keep\n", "sel").expect_err("typo");
    assert!(err.to_string().contains("actoin"), "{err}");
    assert!(
        super::parse_relabel_configs("", "sel")
            .expect("empty")
            .is_empty()
    );
}
