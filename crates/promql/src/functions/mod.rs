//! Function kernels: pure computations on samples and values. The engine
//! decides which series and windows they see; these decide the numbers,
//! following Prometheus 3.x `promql/functions.go` and `quantile.go`.

pub mod gofmt;
pub mod histogram;
pub mod math;
pub mod range;
pub mod stats;
