//! Small conversions shared by the use cases.

use crate::{AppError, Result};
use billing::ids::IdError;

/// Parses a typed id supplied as `param`, with an error naming it.
pub fn parse_id<T>(
    param: &str,
    s: &str,
    parse: fn(&str) -> std::result::Result<T, IdError>,
) -> Result<T> {
    parse(s).map_err(|e| AppError::invalid(param, e.to_string()))
}

/// The series of a document finalized in `year`: "INV-2026", "CN-2026".
pub fn series(prefix: &str, year: i32) -> String {
    format!("{prefix}-{year}")
}

/// The number of a document: "INV-2026-000042".
pub fn number(series: &str, n: i64) -> String {
    format!("{series}-{n:06}")
}
