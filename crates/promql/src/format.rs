//! Float formatting as Go prints it, for label values and messages that
//! must read exactly as Prometheus's.

pub use argus_model::strconv::format_float;

pub use crate::functions::gofmt::format_g;

/// Go's `labels.Labels.String()`: `{a="1", b="2"}`, values quoted as Go
/// quotes them, the metric name as an ordinary label.
pub fn go_labels(l: &argus_model::labels::Labels) -> String {
    let pairs: Vec<String> = l
        .iter()
        .map(|p| format!("{}={}", p.name, crate::functions::gofmt::quote(p.value)))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// Go's `labels.FormatOpenMetricsFloat`: integers keep a `.0`.
pub fn format_openmetrics_float(v: f64) -> String {
    let s = format_float(v);
    if v.is_finite() && !s.contains('.') && !s.contains('e') {
        format!("{s}.0")
    } else {
        s
    }
}

/// Go's `%.2g`: two significant digits.
pub fn format_g2(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return format_g(v);
    }
    let sci = format!("{:.1e}", v);
    let (m, e) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = e.parse().unwrap_or(0);
    if !(-4..2).contains(&exp) {
        let m = m.trim_end_matches('0').trim_end_matches('.');
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (1 - exp).max(0) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_g_format() {
        assert_eq!(format_g2(0.5), "0.5");
        assert_eq!(format_g2(12.0), "12");
        assert_eq!(format_g2(150.0), "1.5e+02");
        assert_eq!(format_openmetrics_float(1.0), "1.0");
        assert_eq!(format_openmetrics_float(0.25), "0.25");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(0.1), "0.1");
    }
}
