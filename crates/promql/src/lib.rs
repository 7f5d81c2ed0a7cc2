//! PromQL evaluation over the [`Queryable`](argus_model::storage::Queryable)
//! read interface. Parsing is done by the `promql-parser` crate; this crate
//! evaluates the parsed expression step-vectorised: every selected series
//! is decoded once per query and walked across all steps.
//!
//! No networking lives here: the HTTP API and the test runner call
//! [`Engine::instant`] and [`Engine::range`].

mod aggregate;
mod annotations;
mod binary;
mod calls;
mod depth;
mod engine;
mod error;
mod eval;
pub mod format;
pub mod functions;
mod literals;
mod parse_error;
mod position;
mod series;
mod value;

pub use annotations::Annotations;
pub use depth::DEFAULT_MAX_DEPTH;
pub use engine::{
    Engine, EngineOptions, QueryContext, format_query, parse_selector, validate_expr,
};
pub use error::QueryError;
pub use literals::MAX_REGEX_BYTES;
pub use value::{MatrixSeries, QueryOutput, Value, VectorSample};
