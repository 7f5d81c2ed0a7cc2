//! Deeply nested queries neither overflow the stack nor take the engine
//! down: up to the depth limit they are evaluated, beyond it they are
//! refused as `bad_data` naming the limit. Each runs on a thread with a
//! 2 MiB stack, the size of tokio's blocking threads.

use argus_model::memstore::MemStorage;
use argus_promql::{Engine, EngineOptions, QueryContext, QueryError, Value};

fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("the query thread did not panic")
}

fn instant(query: String) -> Result<Value, QueryError> {
    on_small_stack(move || {
        let engine = Engine::new(EngineOptions::default());
        engine
            .instant(
                &MemStorage::new(),
                &query,
                3_600_000,
                &QueryContext::default(),
            )
            .map(|out| out.value)
    })
}

fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("{}{inner}{}", open.repeat(n), close.repeat(n))
}

fn scalar(v: &Value) -> f64 {
    match v {
        Value::Scalar { v, .. } => *v,
        Value::Vector(s) if s.len() == 1 => s[0].v,
        other => panic!("unexpected value {other:?}"),
    }
}

#[test]
fn deep_queries_within_the_limit_are_evaluated() {
    let cases = [
        (vec!["1"; 2000].join("+"), 2000.0),
        (vec!["2"; 2000].join("^"), f64::INFINITY),
        (vec!["1"; 2000].join(" == bool "), 1.0),
        (nested("abs(", "vector(-1)", ")", 2000), 1.0),
        (nested("sum(", "vector(1)", ")", 2000), 1.0),
        (nested("-(", "vector(1)", ")", 1000), 1.0),
        (nested("(", "1", ")", 2000), 1.0),
        (
            nested("max_over_time((", "vector(1)", ")[5m:1m])", 200),
            1.0,
        ),
    ];
    for (query, want) in cases {
        let got = instant(query.clone()).unwrap_or_else(|e| panic!("{}…: {e}", &query[..40]));
        assert_eq!(scalar(&got), want, "{}…", &query[..40]);
    }
}

#[test]
fn queries_deeper_than_the_limit_are_refused_as_bad_data() {
    let limit = argus_promql::DEFAULT_MAX_DEPTH;
    let cases = [
        vec!["1"; 3000].join("+"),
        vec!["1"; 3000].join("^"),
        nested("abs(", "vector(1)", ")", 3000),
        nested("sum(", "vector(1)", ")", 3000),
        nested("(", "1", ")", 40_000),
        nested("max_over_time((", "vector(1)", ")[5m:1m])", 5000),
        nested("{__name__=\"a\"} + on() (", "1", ")", 3000),
    ];
    for query in cases {
        match instant(query.clone()) {
            Err(e @ QueryError::BadData(_)) => {
                assert!(e.to_string().contains(&format!("limit of {limit}")), "{e}");
                assert_eq!(e.http_status(), 400);
            }
            other => panic!("{}…: {other:?}", &query[..40]),
        }
    }
}

#[test]
fn a_deep_selector_in_match_is_refused() {
    let selector = format!("{}up{}", "(".repeat(100_000), ")".repeat(100_000));
    let err = on_small_stack(move || argus_promql::parse_selector(&selector))
        .expect_err("a selector nested 100k deep is refused");
    assert!(matches!(err, QueryError::BadData(_)), "{err}");
}
