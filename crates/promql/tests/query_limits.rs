//! Queries whose evaluation would need more memory than
//! `--query.max-samples` allows are refused before the memory is taken,
//! and out-of-range durations and times are `bad_data`, never a panic.
//! Each query runs on its own thread, so a panic fails the test with the
//! query named instead of aborting the run.

use argus_model::labels::Labels;
use argus_model::memstore::MemStorage;
use argus_promql::{Engine, EngineOptions, QueryContext, QueryError, Value};

const MAX_SAMPLES: usize = 200_000;

fn storage() -> &'static MemStorage {
    static STORE: std::sync::OnceLock<MemStorage> = std::sync::OnceLock::new();
    STORE.get_or_init(build_storage)
}

fn build_storage() -> MemStorage {
    let mut store = MemStorage::new();
    // 300 series of 10 minutes at 1 s.
    for i in 0..300 {
        let labels = Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]);
        for s in 0..600i64 {
            store.append(labels.clone(), s * 1000, (i * s) as f64);
        }
    }
    store
}

fn run(query: &str, range: Option<(i64, i64, i64)>) -> Result<Value, QueryError> {
    let text = query.to_string();
    let query = text.clone();
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let engine = Engine::new(EngineOptions {
                max_samples: MAX_SAMPLES,
                ..EngineOptions::default()
            });
            let store = storage();
            let ctx = QueryContext::default();
            match range {
                None => engine.instant(store, &query, 600_000, &ctx),
                Some((s, e, st)) => engine.range(store, &query, s, e, st, &ctx),
            }
            .map(|o| o.value)
        })
        .expect("spawn")
        .join()
        .unwrap_or_else(|_| panic!("the engine panicked on {text}"))
}

#[test]
fn subqueries_and_ranges_beyond_the_limit_are_refused_before_allocating() {
    let cases = [
        "max_over_time(vector(1)[1y:1ms])",
        "sum_over_time(vector(1)[7d:1ms])",
        "count_over_time(vector(1)[30d:1ms])",
        "count_over_time(vector(1)[1d:1ms])",
        "quantile_over_time(0.5, vector(1)[1d:1ms])",
        "max_over_time(m[10m:1ms])",
        "sum_over_time(sum_over_time(m[5m:10ms])[5m:10ms])",
        "absent_over_time(vector(1)[1y:1ms])",
        "vector(1)[1y:1ms]",
        "count_values(\"v\", m)[10m:1ms]",
        "max_over_time(vector(1^1^1^1^1^1^1^1^1^1^1^1^1^1^1^1^1^1^1^1)[5m:10ms])",
        "max_over_time(quantile(0.5, m)[10m:100ms])",
        "max_over_time(sum by (i) (m)[10m:100ms])",
        "max_over_time(label_replace(m, \"x\", \"$1\", \"i\", \"(.*)\")[10m:100ms])",
        "max_over_time((m * on(i) group_left m)[10m:100ms])",
        "max_over_time((m or m offset 1s)[10m:100ms])",
        "max_over_time(topk(1e9, m)[10m:100ms])",
    ];
    for q in cases {
        match run(q, None) {
            Err(QueryError::TooManySamples(_)) => {}
            other => panic!("{q}: want too many samples, got {other:?}"),
        }
    }
}

#[test]
fn range_queries_over_many_steps_are_refused_before_allocating() {
    // 1e12 steps: the grid alone would be 8 TB.
    for q in ["vector(1)", "m", "sum(m)", "rate(m[1m])"] {
        match run(q, Some((0, 1_000_000_000_000, 1))) {
            Err(QueryError::TooManySamples(_)) => {}
            other => panic!("{q}: want too many samples, got {other:?}"),
        }
    }
}

#[test]
fn queries_within_the_limit_still_answer() {
    let cases = [
        ("max_over_time(vector(1)[1m:1ms])", 1.0),
        ("count_over_time(vector(1)[10s:1ms])", 10_000.0),
        ("sum(count_over_time(m[10m:1s]))", 300.0 * 600.0),
        ("count(topk(1e18, m))", 300.0),
        ("count(count_values(\"v\", m))", 300.0),
        ("quantile_over_time(0.5, m{i=\"2\"}[10m])", 600.0),
    ];
    for (q, want) in cases {
        let v = run(q, None).unwrap_or_else(|e| panic!("{q}: {e}"));
        let got = match v {
            Value::Vector(s) if s.len() == 1 => s[0].v,
            other => panic!("{q}: {other:?}"),
        };
        assert_eq!(got, want, "{q}");
    }
}

#[test]
fn out_of_range_durations_and_times_are_bad_data() {
    let cases = [
        "vector(1)[99999999999999999999999y]",
        "max_over_time(vector(1)[99999999999999999999999y:1m])",
        "max_over_time(vector(1)[1m:99999999999999999999999y])",
        "m offset 99999999999999999999999y",
        "m offset -99999999999999999999999y",
        "m @ 1e300",
        "m @ -1e300",
        "m @ NaN",
        "m @ Inf",
        "max_over_time(m[292277024y])",
        "m offset 292277024y",
        "max_over_time(m[5m] offset 292277024y)",
        "max_over_time(m[5m:1m] offset 292277024y)",
        "max_over_time(m[5m:1m] @ 9223372036854775.807)",
        "m @ 9223372036854775.807 offset -292277024y",
    ];
    for q in cases {
        match run(q, None) {
            Err(QueryError::BadData(_)) | Ok(_) => {}
            other => panic!("{q}: want bad_data or an answer, got {other:?}"),
        }
    }
}
