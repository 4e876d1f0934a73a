// Ids that go into a URL path segment. progenitor percent-encodes `/ ? # %` and non-ASCII, but `.` and `..` would
// still be resolved as dot segments, and `\` read as `/`, by URL parsing and reach another route: refused here.

use serde::Serialize;

use super::ValidationError;

macro_rules! path_id {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Checks `id` and wraps it.
            ///
            /// # Errors
            /// When `id` is empty, only whitespace, `.` or `..`, starts or ends with whitespace (as a line read
            /// from a file or terminal does), or contains `\` or a control character.
            pub fn new(id: impl Into<String>) -> Result<Self, ValidationError> {
                let id = id.into();
                if id.trim().is_empty() {
                    return Err(ValidationError::new($what, "must not be empty or only whitespace"));
                }
                // Sent as `%0A` or `%20`, it would only earn the service's 404 "No item found".
                if id.trim() != id {
                    return Err(ValidationError::new($what, "must not start or end with whitespace"));
                }
                if id.contains(char::is_control) {
                    return Err(ValidationError::new($what, "must not contain control characters"));
                }
                if id == "." || id == ".." {
                    return Err(ValidationError::new($what, "must not be `.` or `..`"));
                }
                if id.contains('\\') {
                    // progenitor leaves `\` unencoded and URL parsing turns it into `/`.
                    return Err(ValidationError::new($what, "must not contain `\\`"));
                }
                Ok(Self(id))
            }

            /// The id as given.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        super::validated_string!($name);

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<&$name> for $name {
            fn from(id: &$name) -> Self {
                id.clone()
            }
        }

        // For the operations that take an id as a plain string (filters in a query string).
        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl From<&$name> for String {
            fn from(id: &$name) -> Self {
                id.0.clone()
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> String {
                stringify!($name).to_owned()
            }

            fn json_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
                schemars::schema::SchemaObject {
                    instance_type: Some(schemars::schema::InstanceType::String.into()),
                    string: Some(Box::new(schemars::schema::StringValidation {
                        min_length: Some(1),
                        ..Default::default()
                    })),
                    ..Default::default()
                }
                .into()
            }
        }
    };
}

path_id! {
    /// Id of a scheduled report, as used in a URL path.
    ///
    /// ```
    /// use partner_center_insights::ReportId;
    /// assert!(ReportId::new("0c9f3f3d-2a5c-4c1a-8d7e-6b2f1e0a9c44").is_ok());
    /// assert!(ReportId::new("  ").is_err());
    /// assert!(ReportId::new("..").is_err());
    /// ```
    ReportId, "report id"
}

path_id! {
    /// Id of a report query, as used in a URL path.
    QueryId, "query id"
}
