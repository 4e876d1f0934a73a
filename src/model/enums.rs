// The service's string enums: matched case-insensitively (it sends `csv` where the docs say `CSV`), and a value
// this crate does not know yet is kept as `Unknown` instead of failing the whole response.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ValidationError;

/// A value of a service enum that this version of the crate does not know; [`UnknownValue::as_str`] gives it back.
///
/// Only decoding creates one, so a request carries an undocumented value only when it is copied from an answer
/// (as [`UpdateReportRequest::try_from(&Report)`](crate::types::UpdateReportRequest) does): the service's own value,
/// sent back.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UnknownValue(Box<str>);

impl UnknownValue {
    /// The value as the service sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Reads an enum's value: a string (without allocating, unless it is unknown), or a number, which no documented value
/// is but a service writing its enum as an integer would send; kept as `Unknown`, as any value this crate does not
/// know, rather than failing the whole answer.
struct WireVisitor<T>(fn(&str) -> T);

impl<T> serde::de::Visitor<'_> for WireVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string (or a number)")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<T, E> {
        Ok((self.0)(value))
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<T, E> {
        Ok((self.0)(&value.to_string()))
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<T, E> {
        Ok((self.0)(&value.to_string()))
    }
}

macro_rules! service_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal, {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version of the crate does not know, kept as sent.
            Unknown(UnknownValue),
        }

        impl $name {
            /// Every value the service documents, in the spec's spelling.
            pub const DOCUMENTED: &'static [&'static str] = &[$($wire),+];

            /// The value as the spec spells it (or as the service sent it, for `Unknown`).
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::Unknown(value) => value.as_str(),
                }
            }

            /// Matches a documented value case-insensitively; anything else becomes `Unknown`.
            fn from_wire(value: &str) -> Self {
                $( if value.eq_ignore_ascii_case($wire) { return Self::$variant; } )+
                Self::Unknown(UnknownValue(value.into()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// Parses a documented value, ignoring case; unknown values are rejected, so requests stay valid.
        impl FromStr for $name {
            type Err = ValidationError;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                match Self::from_wire(value) {
                    Self::Unknown(_) => Err(ValidationError::new(
                        $what,
                        format!("`{value}` is not one of {}", Self::DOCUMENTED.join(", ")),
                    )),
                    known => Ok(known),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_any(WireVisitor(Self::from_wire))
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> String {
                stringify!($name).to_owned()
            }

            fn json_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
                schemars::schema::SchemaObject {
                    instance_type: Some(schemars::schema::InstanceType::String.into()),
                    enum_values: Some(Self::DOCUMENTED.iter().map(|v| (*v).into()).collect()),
                    ..Default::default()
                }
                .into()
            }
        }
    };
}

service_enum! {
    /// Whether a report's scheduled executions run.
    ReportStatus, "report status", {
        /// Executions run on schedule.
        Active = "Active",
        /// Executions are paused until the report is resumed.
        Paused = "Paused",
        /// The report has ended (all executions done) or was disabled.
        Inactive = "Inactive",
    }
}

service_enum! {
    /// State of one execution of a report.
    ExecutionStatus, "execution status", {
        /// Queued.
        Pending = "Pending",
        /// Being generated.
        Running = "Running",
        /// Held because the report is paused.
        Paused = "Paused",
        /// Generated; the download link is set.
        Completed = "Completed",
    }
}

service_enum! {
    /// File format of a report's output. The docs write `CSV`/`TSV`; the service sends and accepts lower case.
    ReportFormat, "report format", {
        /// Comma-separated values (the default).
        Csv = "csv",
        /// Tab-separated values.
        Tsv = "tsv",
    }
}

service_enum! {
    /// How the service calls a report's callback URL when a file is ready.
    CallbackMethod, "callback method", {
        /// `GET <url>?reportId=<id>`.
        Get = "GET",
        /// `POST <url>/<id>` (the default).
        Post = "POST",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_read_from_strings_in_any_case_and_numbers_and_nothing_else() {
        let read = |json: &str| serde_json::from_str::<ExecutionStatus>(json);
        assert_eq!(read(r#""completed""#).unwrap(), ExecutionStatus::Completed);
        assert_eq!(read("7").unwrap().as_str(), "7");
        let error = read("true").unwrap_err().to_string();
        assert_eq!(error, "invalid type: boolean `true`, expected a string (or a number) at line 1 column 4");
    }
}
