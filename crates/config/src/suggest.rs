//! "Did you mean" hints for unknown fields, from serde's own list of the
//! fields it expected.

/// Levenshtein distance over chars.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// The candidate closest to `word`, when close enough to be a typo: at most
/// a third of the word's length in edits (and at least one allowed).
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Service discovery mechanisms Prometheus registers that Argus does not
/// implement; `<kind>_sd_configs` gets a clear error instead of "unknown field".
pub const UNSUPPORTED_SD_KINDS: &[&str] = &[
    "aws",
    "azure",
    "consul",
    "digitalocean",
    "docker",
    "dockerswarm",
    "ec2",
    "ecs",
    "elasticache",
    "eureka",
    "gce",
    "hetzner",
    "http",
    "ionos",
    "kuma",
    "lightsail",
    "linode",
    "marathon",
    "msk",
    "nerve",
    "nomad",
    "oci",
    "openstack",
    "outscale",
    "ovhcloud",
    "puppetdb",
    "rds",
    "scaleway",
    "serverset",
    "stackit",
    "triton",
    "uyuni",
    "vultr",
];

/// Which section a struct is, recognised by a field only it has; used to
/// say "in scrape config" rather than listing forty field names.
const SECTIONS: &[(&str, &str)] = &[
    ("job_name", "scrape config"),
    ("evaluation_interval", "global config"),
    ("scrape_config_files", "top-level config"),
    ("target_label", "relabel config"),
    ("batch_send_deadline", "queue_config"),
    ("send_interval", "metadata_config"),
    ("write_relabel_configs", "remote_write config"),
    ("read_recent", "remote_read config"),
    ("alertmanagers", "alerting config"),
    ("api_version", "alertmanager config"),
    ("kubeconfig_file", "kubernetes_sd_configs entry"),
    ("own_namespace", "kubernetes namespaces"),
    ("files", "file_sd_configs entry"),
    ("port", "dns_sd_configs entry"),
    ("field", "kubernetes selector"),
    ("cronjob", "kubernetes attach_metadata"),
    ("targets", "static_configs entry"),
    ("insecure_skip_verify", "tls_config"),
    ("password_file", "basic_auth"),
    ("credentials_file", "authorization"),
];

/// Rewrites serde's `unknown field `x`, expected one of `a`, `b`` into a
/// one-line message with a suggestion, or a "not supported" message for a
/// service discovery kind Argus lacks. Other messages pass through.
pub fn rewrite_unknown_field(message: &str) -> String {
    let Some(start) = message.find("unknown field `") else {
        return message.to_string();
    };
    let prefix = &message[..start];
    let after = &message[start + "unknown field `".len()..];
    let Some(end) = after.find('`') else {
        return message.to_string();
    };
    let field = &after[..end];
    let expected: Vec<&str> = after[end + 1..].split('`').skip(1).step_by(2).collect();
    if let Some(kind) = field.strip_suffix("_sd_configs")
        && expected.contains(&"static_configs")
        && UNSUPPORTED_SD_KINDS.contains(&kind)
    {
        return format!("{prefix}{field} is not supported by argus");
    }
    let section = SECTIONS
        .iter()
        .find(|(marker, _)| expected.contains(marker))
        .map(|(_, name)| format!(" in {name}"))
        .unwrap_or_default();
    match closest(field, &expected) {
        Some(best) => format!("{prefix}unknown field {field:?}{section}; did you mean {best:?}?"),
        None if expected.is_empty() => format!("{prefix}unknown field {field:?}{section}"),
        None => format!(
            "{prefix}unknown field {field:?}{section}; expected one of: {}",
            expected.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_and_suggestions() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("scarpe_interval", "scrape_interval"), 2);
        let fields = ["scrape_interval", "scrape_timeout", "job_name"];
        assert_eq!(closest("scarpe_interval", &fields), Some("scrape_interval"));
        assert_eq!(closest("completely_else", &fields), None);
    }

    #[test]
    fn rewrites_serde_messages() {
        let m = rewrite_unknown_field(
            "scrape_configs[0]: unknown field `scarpe_interval`, expected one of `job_name`, `scrape_interval`, `static_configs`",
        );
        assert_eq!(
            m,
            r#"scrape_configs[0]: unknown field "scarpe_interval" in scrape config; did you mean "scrape_interval"?"#
        );
        let m = rewrite_unknown_field(
            "scrape_configs[0]: unknown field `consul_sd_configs`, expected one of `job_name`, `static_configs`",
        );
        assert_eq!(
            m,
            "scrape_configs[0]: consul_sd_configs is not supported by argus"
        );
        let m = rewrite_unknown_field("unknown field `zzz`, expected `a` or `b`");
        assert_eq!(m, r#"unknown field "zzz"; expected one of: a, b"#);
        assert_eq!(rewrite_unknown_field("invalid type"), "invalid type");
    }
}
