//! The page at `/` (and `/graph`, `/query`) until the web UI exists: what
//! this server is, its version, links to the status endpoints and a query
//! box that shows the API's JSON answer.

/// Escapes text for HTML element content and attribute values.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const TEMPLATE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
.version { color: #666; margin-top: 0; }
form { display: flex; gap: 0.5em; margin: 1.5em 0 0.5em; }
input[type=text] { flex: 1; font-family: monospace; font-size: 1em; padding: 0.4em; }
button { font-size: 1em; padding: 0.4em 1em; }
pre { background: #f5f5f5; padding: 1em; overflow: auto; max-height: 40em; white-space: pre-wrap; }
ul { columns: 2; }
</style>
</head>
<body data-prefix="{prefix}">
<h1>{title}</h1>
<p class="version">Argus {version}: a Prometheus-compatible metrics server. The web UI is not built yet; the Prometheus HTTP API is complete, so Grafana and other API clients work against this address.</p>
<form id="query-form">
<input type="text" id="query" name="query" placeholder="PromQL expression, e.g. up" autofocus>
<button type="submit">Execute</button>
</form>
<pre id="result">Results of /api/v1/query appear here.</pre>
<h2>Status</h2>
<ul>
<li><a href="{prefix}/api/v1/targets">Targets</a></li>
<li><a href="{prefix}/api/v1/status/config">Configuration</a></li>
<li><a href="{prefix}/api/v1/status/flags">Command-line flags</a></li>
<li><a href="{prefix}/api/v1/status/runtimeinfo">Runtime information</a></li>
<li><a href="{prefix}/api/v1/status/buildinfo">Build information</a></li>
<li><a href="{prefix}/api/v1/status/tsdb">TSDB status</a></li>
<li><a href="{prefix}/api/v1/rules">Rules</a></li>
<li><a href="{prefix}/api/v1/alerts">Alerts</a></li>
<li><a href="{prefix}/api/v1/labels">Label names</a></li>
<li><a href="{prefix}/api/v1/metadata">Metric metadata</a></li>
<li><a href="{prefix}/metrics">This server's own metrics</a></li>
<li><a href="{prefix}/-/healthy">Health</a> and <a href="{prefix}/-/ready">readiness</a></li>
</ul>
<script>
document.getElementById("query-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const out = document.getElementById("result");
  const q = document.getElementById("query").value;
  out.textContent = "Loading...";
  try {
    const r = await fetch(document.body.dataset.prefix + "/api/v1/query?query=" + encodeURIComponent(q));
    const body = await r.text();
    try { out.textContent = JSON.stringify(JSON.parse(body), null, 2); }
    catch (_) { out.textContent = body; }
  } catch (err) {
    out.textContent = "Request failed: " + err;
  }
});
</script>
</body>
</html>
"#;

/// The page, with links under `route_prefix` (`/` or `/something`).
pub fn index_html(title: &str, version: &str, route_prefix: &str) -> String {
    let prefix = route_prefix.trim_end_matches('/');
    TEMPLATE
        .replace("{title}", &html_escape(title))
        .replace("{version}", &html_escape(version))
        .replace("{prefix}", &html_escape(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_is_escaped_and_links_carry_the_prefix() {
        let page = index_html("<Prod> & co", "1.2.3", "/prom");
        assert!(page.contains("<title>&lt;Prod&gt; &amp; co</title>"));
        assert!(page.contains(r#"href="/prom/api/v1/targets""#));
        assert!(page.contains(r#"<body data-prefix="/prom">"#));
        assert!(page.contains("Argus 1.2.3"));
        let page = index_html("t", "1", "/");
        assert!(page.contains(r#"href="/api/v1/targets""#));
    }
}
