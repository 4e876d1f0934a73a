// Hand-written types the generated code uses in place of its own (see `build.rs`): enums that tolerate what the
// service really sends, ids that cannot escape their URL path segment, validated request fields, timestamps.

mod enums;
mod fields;
mod ids;
mod timestamp;

pub use enums::{CallbackMethod, ExecutionStatus, ReportFormat, ReportStatus, UnknownValue};
pub use fields::{RecurrenceInterval, ReportDescription, ReportName};
pub use ids::{QueryId, ReportId};
pub use timestamp::Timestamp;

use std::fmt;

/// A value rejected before any request was sent: which argument, and why.
///
/// ```
/// use partner_center_insights::ReportName;
/// let err = ReportName::try_from("usage;daily").unwrap_err();
/// assert_eq!(err.to_string(), "invalid report name: must not contain `;`");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationError {
    what: &'static str,
    reason: String,
}

impl ValidationError {
    pub(crate) fn new(what: &'static str, reason: impl Into<String>) -> Self {
        Self { what, reason: reason.into() }
    }

    /// What was rejected, such as `report id`.
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// Why it was rejected.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.what, self.reason)
    }
}

impl std::error::Error for ValidationError {}

/// Reads a JSON string without allocating and hands it to `parse` (serde's `Cow<str>` always allocates).
pub(crate) fn deserialize_str<'de, D, T>(
    deserializer: D,
    parse: impl FnOnce(&str) -> Result<T, ValidationError>,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct StrVisitor<F>(F);

    impl<'de, T, F: FnOnce(&str) -> Result<T, ValidationError>> serde::de::Visitor<'de> for StrVisitor<F> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }

        fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<T, E> {
            (self.0)(value).map_err(E::custom)
        }
    }

    deserializer.deserialize_str(StrVisitor(parse))
}
