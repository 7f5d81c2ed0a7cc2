//! The reference peers the tests and benchmarks compare against (Prometheus
//! 3.x, Thanos, MinIO), built from their Go modules by `scripts/peers` into
//! a cache outside the repository, at the versions pinned in
//! `scripts/peers.versions`:
//! `$ARGUS_PEERS_DIR` (default `$HOME/.cache/argus-peers`)`/<name>-<version>/bin/<binary>`.

use std::path::{Path, PathBuf};

/// `scripts/peers.versions` of this checkout.
pub fn versions_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/peers.versions")
}

/// The pinned version of peer `name` (`prometheus`, `thanos`, ...).
pub fn peer_version(name: &str) -> Result<String, String> {
    let path = versions_file();
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    parse_version(&text, name)
        .ok_or_else(|| format!("{} pins no version of `{name}`", path.display()))
}

fn parse_version(text: &str, name: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The peer cache: `$ARGUS_PEERS_DIR`, else `$HOME/.cache/argus-peers`.
pub fn peers_dir() -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("ARGUS_PEERS_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(Path::new(&home).join(".cache/argus-peers")),
        None => Err("neither ARGUS_PEERS_DIR nor HOME is set".into()),
    }
}

/// `<peers dir>/<name>-<version>/bin/<binary>` when it exists, else an error
/// that says how to build it.
pub fn find_peer_bin(name: &str, binary: &str) -> Result<PathBuf, String> {
    let version = peer_version(name)?;
    let bin = peers_dir()?
        .join(format!("{name}-{version}"))
        .join("bin")
        .join(binary);
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "{} is missing: the reference peer {name} {version} is not built; \
             run `scripts/peers {name}` (it builds the versions pinned in \
             scripts/peers.versions into $ARGUS_PEERS_DIR, default ~/.cache/argus-peers)",
            bin.display()
        ))
    }
}

/// Like [`find_peer_bin`], failing the test loudly when the peer is missing:
/// a reference comparison never passes silently without its reference.
pub fn peer_bin(name: &str, binary: &str) -> PathBuf {
    find_peer_bin(name, binary).unwrap_or_else(|e| panic!("{e}"))
}

/// The reference Prometheus server (3.x).
pub fn prometheus_bin() -> PathBuf {
    peer_bin("prometheus", "prometheus")
}

/// The reference Prometheus's `promtool`.
pub fn promtool_bin() -> PathBuf {
    peer_bin("prometheus", "promtool")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        let text = "# comment\nprometheus=3.16.0\nthanos=0.39.2\nprometheus-extra=9\n";
        assert_eq!(parse_version(text, "prometheus").as_deref(), Some("3.16.0"));
        assert_eq!(parse_version(text, "thanos").as_deref(), Some("0.39.2"));
        assert_eq!(parse_version(text, "minio"), None);
        assert_eq!(
            parse_version(text, "prometheus-extra").as_deref(),
            Some("9")
        );
    }

    #[test]
    fn the_checkout_pins_prometheus_3() {
        let v = peer_version("prometheus").expect("pinned");
        assert!(v.starts_with("3."), "{v}");
    }
}
