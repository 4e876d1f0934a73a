// Request fields whose documented limits generated types would not enforce (integer ranges) or would report
// unclearly (a regex for `;`): checked here, so a bad value fails with a plain reason before anything is sent.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use super::ValidationError;

macro_rules! limited_text {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal, min $min:literal, forbid $forbidden:expr, pattern $pattern:expr
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Longest text the service accepts, in characters as .NET counts them (UTF-16 code units: a
            /// character outside the Basic Multilingual Plane, such as most emoji, counts as two).
            pub const MAX_CHARS: usize = 256;

            /// Checks `text` and wraps it.
            ///
            /// # Errors
            /// When `text` is longer than 256 UTF-16 code units, blank where a value is required, or contains a
            /// forbidden character.
            pub fn new(text: impl Into<String>) -> Result<Self, ValidationError> {
                let text = text.into();
                // The service is .NET, whose string length counts UTF-16 code units.
                let chars = text.encode_utf16().count();
                if $min > 0 && text.trim().is_empty() {
                    return Err(ValidationError::new($what, "must not be empty"));
                }
                if chars > Self::MAX_CHARS {
                    let counted = if chars == text.chars().count() {
                        ""
                    } else {
                        " (in UTF-16 code units, as the service counts)"
                    };
                    return Err(ValidationError::new(
                        $what,
                        format!("is {chars} characters long{counted}; at most {} are allowed", Self::MAX_CHARS),
                    ));
                }
                let forbidden: Option<char> = $forbidden;
                if let Some(c) = forbidden.filter(|c| text.contains(*c)) {
                    return Err(ValidationError::new($what, format!("must not contain `{c}`")));
                }
                Ok(Self(text))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        super::validated_string!($name);

        impl schemars::JsonSchema for $name {
            fn schema_name() -> String {
                stringify!($name).to_owned()
            }

            fn json_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
                let pattern: Option<&str> = $pattern;
                schemars::schema::SchemaObject {
                    instance_type: Some(schemars::schema::InstanceType::String.into()),
                    string: Some(Box::new(schemars::schema::StringValidation {
                        min_length: ($min > 0).then_some($min),
                        max_length: Some(Self::MAX_CHARS as u32),
                        pattern: pattern.map(str::to_owned),
                    })),
                    ..Default::default()
                }
                .into()
            }
        }
    };
}

limited_text! {
    /// A report name: 1 to 256 characters, without `;` (the service's limits).
    ///
    /// ```
    /// use partner_center_insights::ReportName;
    /// assert!(ReportName::new("Monthly usage").is_ok());
    /// assert!(ReportName::new("x".repeat(257)).is_err());
    /// assert!(ReportName::new("usage;daily").is_err());
    /// ```
    ReportName, "report name", min 1, forbid Some(';'), pattern Some("^[^;]*$")
}

limited_text! {
    /// A report description: at most 256 characters (the service's limit).
    ///
    /// ```
    /// use partner_center_insights::ReportDescription;
    /// assert!(ReportDescription::new("Normalized usage, every 4 days").is_ok());
    /// assert!(ReportDescription::new("d".repeat(257)).is_err());
    /// ```
    ReportDescription, "report description", min 0, forbid None, pattern None
}

/// An integer request field the service holds to a range, with what it counts (`unit`) and its accessor.
macro_rules! limited_integer {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal, $unit:literal, $min_name:ident = $min:expr, $max_name:ident = $max:expr, $get:ident
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(i32);

        impl $name {
            #[doc = concat!("Least ", $what, " the service accepts, in ", $unit, ".")]
            pub const $min_name: i32 = $min;
            #[doc = concat!("Greatest ", $what, " the service accepts, in ", $unit, ".")]
            pub const $max_name: i32 = $max;

            /// Checks `value` and wraps it.
            ///
            /// # Errors
            #[doc = concat!("When `value` is outside ", stringify!($min), "..=", stringify!($max), ".")]
            pub fn new(value: i64) -> Result<Self, ValidationError> {
                match i32::try_from(value) {
                    Ok(v) if (Self::$min_name..=Self::$max_name).contains(&v) => Ok(Self(v)),
                    _ => Err(ValidationError::new(
                        $what,
                        format!("{value} {} is outside {}..={} {}", $unit, Self::$min_name, Self::$max_name, $unit),
                    )),
                }
            }

            #[doc = concat!("The value, in ", $unit, ".")]
            pub fn $get(self) -> i32 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        limited_integer!(@from $name: i32, u32, i64, u16, i16);

        impl TryFrom<std::num::NonZeroU32> for $name {
            type Error = ValidationError;
            fn try_from(value: std::num::NonZeroU32) -> Result<Self, Self::Error> {
                Self::new(i64::from(value.get()))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Self::new(i64::deserialize(deserializer)?).map_err(serde::de::Error::custom)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> String {
                stringify!($name).to_owned()
            }

            fn json_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
                schemars::schema::SchemaObject {
                    instance_type: Some(schemars::schema::InstanceType::Integer.into()),
                    format: Some("int32".to_owned()),
                    number: Some(Box::new(schemars::schema::NumberValidation {
                        minimum: Some(f64::from(Self::$min_name)),
                        maximum: Some(f64::from(Self::$max_name)),
                        ..Default::default()
                    })),
                    ..Default::default()
                }
                .into()
            }
        }
    };
    (@from $name:ident: $($int:ty),*) => {$(
        impl TryFrom<$int> for $name {
            type Error = ValidationError;
            fn try_from(value: $int) -> Result<Self, Self::Error> {
                Self::new(i64::from(value))
            }
        }
    )*};
}

limited_integer! {
    /// Hours between two executions of a report: 4 to 2160 (90 days).
    ///
    /// ```
    /// use partner_center_insights::RecurrenceInterval;
    /// assert_eq!(RecurrenceInterval::new(24).unwrap().hours(), 24);
    /// assert!(RecurrenceInterval::new(3).is_err());
    /// ```
    RecurrenceInterval, "recurrence interval", "hours", MIN_HOURS = 4, MAX_HOURS = 2160, hours
}

limited_integer! {
    /// How many executions a scheduled report makes: 1 to 2,147,483,647 (the service's 32-bit integer); without
    /// one, a schedule runs until paused or deleted.
    ///
    /// ```
    /// use partner_center_insights::RecurrenceCount;
    /// assert_eq!(RecurrenceCount::new(12).unwrap().executions(), 12);
    /// assert!(RecurrenceCount::new(0).is_err());
    /// assert!(RecurrenceCount::try_from(u32::MAX).is_err());
    /// ```
    RecurrenceCount, "recurrence count", "executions", MIN_EXECUTIONS = 1, MAX_EXECUTIONS = i32::MAX, executions
}
