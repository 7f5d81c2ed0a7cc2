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
        let _ = name;
        None
    }

    pub fn apply(self, v: f64) -> f64 {
        v
    }
}

/// `round(v, to_nearest)`: rounds half up to a multiple of `to_nearest`.
pub fn round(v: f64, to_nearest: f64) -> f64 {
    let _ = to_nearest;
    v
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
        let _ = name;
        None
    }

    /// The function's value for `t` seconds since the epoch; NaN and
    /// infinities give NaN as in Prometheus.
    pub fn apply(self, t_seconds: f64) -> f64 {
        t_seconds
    }
}
