//! `/federate`: the newest sample of every series matching `match[]`
//! within the lookback delta, in the Prometheus text format, as
//! Prometheus's federation handler writes it: families sorted by metric
//! name, all `untyped`, each sample with its timestamp, the external labels
//! a series lacks appended (and an empty `instance` when there is none), so
//! a scraping Prometheus with `honor_labels: true` keeps the original job
//! and instance.

use std::fmt::Write;

use argus_model::labels::Labels;
use argus_model::matcher::Matcher;
use argus_model::storage::{
    MergeSeries, OnEqualLabels, Queryable, ReadContext, SelectHints, SelectRequest, SeriesSource,
    SeriesStream, StorageError,
};
use argus_model::{Sample, is_stale_nan};

/// One federated sample.
struct Federated {
    labels: Labels,
    sample: Sample,
}

/// The text exposition for `sets` (one per `match[]`) at `now_ms`.
pub fn federate(
    storage: &dyn Queryable,
    ctx: &ReadContext,
    sets: Vec<Vec<Matcher>>,
    now_ms: i64,
    lookback_ms: i64,
    external_labels: &Labels,
) -> Result<String, StorageError> {
    let mint = now_ms.saturating_sub(lookback_ms);
    let requests: Vec<SelectRequest> = sets
        .into_iter()
        .map(|matchers| SelectRequest {
            matchers,
            mint,
            maxt: now_ms,
            hints: SelectHints::default(),
        })
        .collect();
    if requests.is_empty() {
        return Ok(String::new());
    }
    let streams = requests
        .iter()
        .map(|r| Ok(Box::new(storage.select(r, ctx)?) as Box<dyn SeriesSource + '_>))
        .collect::<Result<Vec<_>, StorageError>>()?;
    let merged = MergeSeries::new(streams, OnEqualLabels::KeepFirst);
    let mut found = Vec::new();
    for series in SeriesStream::new(merged, &requests[0], ctx) {
        let series = series?;
        let Some(last) = series.samples(mint, now_ms).last() else {
            continue;
        };
        if is_stale_nan(last.v) {
            continue;
        }
        found.push(Federated {
            labels: series.labels,
            sample: last,
        });
    }
    // Series arrive in label order; a stable sort by name keeps that
    // order within a family, as upstream's.
    found.sort_by(|a, b| {
        a.labels
            .get_or_empty("__name__")
            .cmp(b.labels.get_or_empty("__name__"))
    });
    Ok(render(&found, external_labels))
}

fn render(found: &[Federated], external_labels: &Labels) -> String {
    let mut externals: Vec<(&str, &str)> =
        external_labels.iter().map(|l| (l.name, l.value)).collect();
    if !externals.iter().any(|(n, _)| *n == "instance") {
        externals.push(("instance", ""));
        externals.sort_by(|a, b| a.0.cmp(b.0));
    }
    let mut out = String::new();
    let mut family = "";
    for f in found {
        let name = f.labels.get_or_empty("__name__");
        if name.is_empty() {
            tracing::warn!(metric = %f.labels, "ignoring nameless metric during federation");
            continue;
        }
        if name != family {
            let _ = writeln!(out, "# TYPE {name} untyped");
            family = name;
        }
        out.push_str(name);
        let mut first = true;
        let mut pair = |out: &mut String, n: &str, v: &str| {
            out.push(if first { '{' } else { ',' });
            first = false;
            out.push_str(n);
            out.push_str("=\"");
            escape_label_value(out, v);
            out.push('"');
        };
        for l in f.labels.iter() {
            if l.name == "__name__" || l.value.is_empty() {
                continue;
            }
            pair(&mut out, l.name, l.value);
        }
        for (n, v) in &externals {
            if f.labels.get(n).is_none_or(str::is_empty) {
                pair(&mut out, n, v);
            }
        }
        if !first {
            out.push('}');
        }
        out.push(' ');
        // The text format writes values as Go's `'g'`, -1.
        out.push_str(&argus_promql::format::format_g(f.sample.v));
        let _ = writeln!(out, " {}", f.sample.t);
    }
    out
}

fn escape_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(pairs: &[(&str, &str)], t: i64, v: f64) -> Federated {
        Federated {
            labels: Labels::from_pairs(pairs),
            sample: Sample { t, v },
        }
    }

    #[test]
    fn renders_as_prometheus_federation() {
        let found = [
            fed(
                &[("__name__", "a"), ("job", "x"), ("q", "say \"hi\"\n")],
                1000,
                1e6,
            ),
            fed(
                &[("__name__", "a"), ("instance", "h:1"), ("job", "y")],
                1000,
                0.5,
            ),
            fed(&[("__name__", "b"), ("replica", "r9")], 2000, f64::INFINITY),
        ];
        let ext = Labels::from_pairs(&[("replica", "r1"), ("cluster", "c")]);
        assert_eq!(
            render(&found, &ext),
            "# TYPE a untyped\na{job=\"x\",q=\"say \\\"hi\\\"\\n\",cluster=\"c\",instance=\"\",replica=\"r1\"} 1e+06 1000\na{instance=\"h:1\",job=\"y\",cluster=\"c\",replica=\"r1\"} 0.5 1000\n# TYPE b untyped\nb{replica=\"r9\",cluster=\"c\",instance=\"\"} +Inf 2000\n"
        );
    }
}
