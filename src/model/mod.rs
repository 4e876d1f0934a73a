// Hand-written types the generated code uses in place of its own (see `build.rs`): tolerant enums, ids that cannot
// escape their URL path segment, validated request fields, lenient timestamps, a download link and a callback URL
// kept out of logs.

mod callback_url;
mod enums;
mod fields;
mod ids;
mod secure_link;
mod timestamp;

pub use callback_url::CallbackUrl;
pub(crate) use callback_url::callable;
pub use enums::{CallbackMethod, ExecutionStatus, ReportFormat, ReportStatus, UnknownValue};
pub use fields::{RecurrenceCount, RecurrenceInterval, ReportDescription, ReportName};
pub use ids::{QueryId, ReportId};
pub use secure_link::SecureLink;
#[cfg(feature = "emulator")]
pub(crate) use secure_link::write_without_secrets;
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

/// `Display`, `FromStr`, `TryFrom<&str | &String | String>` and a validating `Deserialize` for a string newtype
/// whose `new(impl Into<String>) -> Result<Self, ValidationError>` does the checking. `@parsing` gives only
/// `FromStr` and `TryFrom`, for a type that shows or decodes itself its own way.
macro_rules! validated_string {
    ($name:ident) => {
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        $crate::model::validated_string!(@parsing $name);

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::model::deserialize_str(deserializer, |text| Self::new(text))
            }
        }
    };
    (@parsing $name:ident) => {
        impl std::str::FromStr for $name {
            type Err = $crate::ValidationError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::new(text)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = $crate::ValidationError;
            fn try_from(text: &str) -> Result<Self, Self::Error> {
                Self::new(text)
            }
        }

        impl TryFrom<&String> for $name {
            type Error = $crate::ValidationError;
            fn try_from(text: &String) -> Result<Self, Self::Error> {
                Self::new(text.as_str())
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::ValidationError;
            fn try_from(text: String) -> Result<Self, Self::Error> {
                Self::new(text)
            }
        }
    };
}
pub(crate) use validated_string;

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
