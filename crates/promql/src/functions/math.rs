//! Element-wise functions on instant-vector values.

/// A function applied to each sample value on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MathFunc {
    Abs,
    Ceil,
    Floor,
    Exp,
    Sqrt,
    Ln,
    Log2,
    Log10,
    Sgn,
    Deg,
    Rad,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Asinh,
    Acosh,
    Atanh,
}

impl MathFunc {
    pub fn from_name(name: &str) -> Option<MathFunc> {
        Some(match name {
            "abs" => MathFunc::Abs,
            "ceil" => MathFunc::Ceil,
            "floor" => MathFunc::Floor,
            "exp" => MathFunc::Exp,
            "sqrt" => MathFunc::Sqrt,
            "ln" => MathFunc::Ln,
            "log2" => MathFunc::Log2,
            "log10" => MathFunc::Log10,
            "sgn" => MathFunc::Sgn,
            "deg" => MathFunc::Deg,
            "rad" => MathFunc::Rad,
            "sin" => MathFunc::Sin,
            "cos" => MathFunc::Cos,
            "tan" => MathFunc::Tan,
            "asin" => MathFunc::Asin,
            "acos" => MathFunc::Acos,
            "atan" => MathFunc::Atan,
            "sinh" => MathFunc::Sinh,
            "cosh" => MathFunc::Cosh,
            "tanh" => MathFunc::Tanh,
            "asinh" => MathFunc::Asinh,
            "acosh" => MathFunc::Acosh,
            "atanh" => MathFunc::Atanh,
            _ => return None,
        })
    }

    /// The function's value at `v`, as Go's `math` package computes it
    /// (NaN in, NaN out; domain errors give NaN; poles give infinities).
    pub fn apply(self, v: f64) -> f64 {
        match self {
            MathFunc::Abs => v.abs(),
            MathFunc::Ceil => v.ceil(),
            MathFunc::Floor => v.floor(),
            MathFunc::Exp => v.exp(),
            MathFunc::Sqrt => v.sqrt(),
            MathFunc::Ln => v.ln(),
            MathFunc::Log2 => v.log2(),
            MathFunc::Log10 => v.log10(),
            // Zero (of either sign) and NaN are returned unchanged.
            MathFunc::Sgn => {
                if v < 0.0 {
                    -1.0
                } else if v > 0.0 {
                    1.0
                } else {
                    v
                }
            }
            MathFunc::Deg => v * 180.0 / std::f64::consts::PI,
            MathFunc::Rad => v * std::f64::consts::PI / 180.0,
            MathFunc::Sin => v.sin(),
            MathFunc::Cos => v.cos(),
            MathFunc::Tan => v.tan(),
            MathFunc::Asin => v.asin(),
            MathFunc::Acos => v.acos(),
            MathFunc::Atan => v.atan(),
            MathFunc::Sinh => v.sinh(),
            MathFunc::Cosh => v.cosh(),
            MathFunc::Tanh => v.tanh(),
            MathFunc::Asinh => v.asinh(),
            MathFunc::Acosh => v.acosh(),
            MathFunc::Atanh => v.atanh(),
        }
    }
}

/// `round(v, to_nearest)`: rounds half up to a multiple of `to_nearest`.
/// Ties round up (towards +Inf); as upstream, the multiple is applied via
/// its inverse, `floor(v * (1/to_nearest) + 0.5) / (1/to_nearest)`, which
/// has fewer floating-point surprises for fractional `to_nearest`.
pub fn round(v: f64, to_nearest: f64) -> f64 {
    let inverse = 1.0 / to_nearest;
    (v * inverse + 0.5).floor() / inverse
}

/// A date function of a Unix time in seconds (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateFunc {
    DayOfMonth,
    DayOfWeek,
    DayOfYear,
    DaysInMonth,
    Hour,
    Minute,
    Month,
    Year,
}

impl DateFunc {
    pub fn from_name(name: &str) -> Option<DateFunc> {
        Some(match name {
            "day_of_month" => DateFunc::DayOfMonth,
            "day_of_week" => DateFunc::DayOfWeek,
            "day_of_year" => DateFunc::DayOfYear,
            "days_in_month" => DateFunc::DaysInMonth,
            "hour" => DateFunc::Hour,
            "minute" => DateFunc::Minute,
            "month" => DateFunc::Month,
            "year" => DateFunc::Year,
            _ => return None,
        })
    }

    /// The function's value for `t` seconds since the epoch; NaN and
    /// infinities give NaN as in Prometheus.
    ///
    /// Like upstream, the value is truncated towards zero to whole seconds
    /// (`time.Unix(int64(v), 0).UTC()`). Values outside the int64 range,
    /// for which Go's conversion is undefined, also give NaN.
    pub fn apply(self, t_seconds: f64) -> f64 {
        // 2^63: the first float beyond i64::MAX.
        const LIMIT: f64 = 9_223_372_036_854_775_808.0;
        if !(-LIMIT..LIMIT).contains(&t_seconds) {
            return f64::NAN;
        }
        let secs = t_seconds.trunc() as i64;
        let days = secs.div_euclid(86_400);
        let sec_of_day = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        match self {
            DateFunc::DayOfMonth => day as f64,
            // 1970-01-01 was a Thursday (4); Sunday is 0.
            DateFunc::DayOfWeek => (days + 4).rem_euclid(7) as f64,
            DateFunc::DayOfYear => {
                let mut doy = day;
                for m in 1..month {
                    doy += days_in_month(year, m);
                }
                doy as f64
            }
            DateFunc::DaysInMonth => days_in_month(year, month) as f64,
            DateFunc::Hour => (sec_of_day / 3600) as f64,
            DateFunc::Minute => ((sec_of_day % 3600) / 60) as f64,
            DateFunc::Month => month as f64,
            DateFunc::Year => year as f64,
        }
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if is_leap(year) {
                29
            } else {
                28
            }
        }
    }
}

/// Proleptic Gregorian (year, month 1-12, day 1-31) of a day count since
/// 1970-01-01 (H. Hinnant's `civil_from_days`), valid over the whole i64
/// range of seconds.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(MathFunc::from_name("sgn"), Some(MathFunc::Sgn));
        assert_eq!(MathFunc::from_name("log10"), Some(MathFunc::Log10));
        assert_eq!(MathFunc::from_name("round"), None);
        assert_eq!(
            DateFunc::from_name("days_in_month"),
            Some(DateFunc::DaysInMonth)
        );
        assert_eq!(DateFunc::from_name("time"), None);
    }

    #[test]
    fn math_values() {
        assert_eq!(MathFunc::Sgn.apply(-3.0), -1.0);
        assert_eq!(MathFunc::Sgn.apply(2.0), 1.0);
        assert!(MathFunc::Sgn.apply(-0.0).is_sign_negative());
        assert!(MathFunc::Sgn.apply(f64::NAN).is_nan());
        assert_eq!(MathFunc::Deg.apply(std::f64::consts::PI), 180.0);
        assert_eq!(MathFunc::Rad.apply(180.0), std::f64::consts::PI);
        assert!(MathFunc::Ln.apply(-1.0).is_nan());
        assert_eq!(MathFunc::Ln.apply(0.0), f64::NEG_INFINITY);
        assert_eq!(MathFunc::Atanh.apply(1.0), f64::INFINITY);
        assert_eq!(MathFunc::Ceil.apply(1.2), 2.0);
    }

    #[test]
    fn round_half_up_to_multiple() {
        assert_eq!(round(2.5, 1.0), 3.0);
        assert_eq!(round(-2.5, 1.0), -2.0);
        assert_eq!(round(12.34, 0.1), 12.3);
        assert_eq!(round(17.0, 5.0), 15.0);
        assert_eq!(round(17.5, 5.0), 20.0);
        assert!(round(f64::NAN, 1.0).is_nan());
    }

    #[test]
    fn dates() {
        // 2024-02-29T13:45:30Z, a Thursday.
        let t = 1_709_214_330.0;
        assert_eq!(DateFunc::Year.apply(t), 2024.0);
        assert_eq!(DateFunc::Month.apply(t), 2.0);
        assert_eq!(DateFunc::DayOfMonth.apply(t), 29.0);
        assert_eq!(DateFunc::DaysInMonth.apply(t), 29.0);
        assert_eq!(DateFunc::DayOfYear.apply(t), 60.0);
        assert_eq!(DateFunc::DayOfWeek.apply(t), 4.0);
        assert_eq!(DateFunc::Hour.apply(t), 13.0);
        assert_eq!(DateFunc::Minute.apply(t), 45.0);
        // Before the epoch: 1969-12-31T23:59:59Z, a Wednesday.
        assert_eq!(DateFunc::Year.apply(-1.0), 1969.0);
        assert_eq!(DateFunc::DayOfYear.apply(-1.0), 365.0);
        assert_eq!(DateFunc::DayOfWeek.apply(-1.0), 3.0);
        assert_eq!(DateFunc::Hour.apply(-1.0), 23.0);
        // Truncation towards zero: -0.5 is the epoch itself.
        assert_eq!(DateFunc::Year.apply(-0.5), 1970.0);
        assert_eq!(DateFunc::DaysInMonth.apply(0.0), 31.0);
        assert!(DateFunc::Year.apply(f64::NAN).is_nan());
        assert!(DateFunc::Month.apply(f64::INFINITY).is_nan());
    }
}
