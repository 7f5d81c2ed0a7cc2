use argus_model::labels::Labels;
use argus_model::sample::Sample;

use crate::annotations::Annotations;

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSample {
    pub labels: Labels,
    /// Milliseconds: the evaluation time.
    pub t: i64,
    pub v: f64,
}

/// One series of a range query result or of a range-vector expression.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// A query result as the HTTP API reports it (`resultType`).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `scalar`: a value at time `t` (ms).
    Scalar { t: i64, v: f64 },
    /// `string`: a string literal at time `t` (ms).
    String { t: i64, s: String },
    /// `vector`: instant query of a vector expression. Sorted by labels
    /// unless the expression orders its output (`sort`, `topk`...).
    Vector(Vec<VectorSample>),
    /// `matrix`: range queries, and instant queries of a range vector.
    /// Sorted by labels.
    Matrix(Vec<MatrixSeries>),
}

impl Value {
    pub fn result_type(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// What a successful query returns.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    pub value: Value,
    pub annotations: Annotations,
    /// Samples read from storage, for statistics.
    pub samples_loaded: u64,
}
