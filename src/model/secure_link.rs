// The signed download link of a completed execution. Whoever holds the whole link can read the report until it
// expires, so it stays out of `Debug` and `Display` (and so out of logs) like any other credential.

use std::fmt;

use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

/// The time-limited link to a completed execution's file (`reportAccessSecureLink`).
///
/// The link's query string carries the storage signature that grants access, so `Debug` and `Display` show it
/// without the query (and without any user info); [`ExposeSecret::expose_secret`] gives the whole link.
/// [`Client::download_execution`](crate::Client::download_execution) fetches it for you.
///
/// ```
/// use partner_center_insights::{ExposeSecret, SecureLink};
/// let link = SecureLink::new("https://storage.example/reports/usage.csv?sv=2020-08-04&sig=hunter2");
/// assert_eq!(link.to_string(), "https://storage.example/reports/usage.csv?…");
/// assert!(!format!("{link:?}").contains("hunter2"));
/// assert!(link.expose_secret().ends_with("&sig=hunter2"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecureLink(String);

impl SecureLink {
    /// Wraps a link as received (or as a test builds it); nothing is checked until it is downloaded.
    pub fn new(link: impl Into<String>) -> Self {
        Self(link.into())
    }
}

impl ExposeSecret<str> for SecureLink {
    fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecureLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_without_secrets(f, &self.0)
    }
}

/// Writes `link` without its query (marked `?…`) and user info (marked `…@`), or only its length when it is not an
/// http(s) URL: the parts that carry signatures, keys and passwords.
pub(crate) fn write_without_secrets(f: &mut fmt::Formatter<'_>, link: &str) -> fmt::Result {
    use url::Position;
    // Read as a download or a callback will read it: URL parsing accepts spellings of user info (`https:u:p@host`,
    // `https:\\u:p@host`) that no hand-written split would catch.
    let Ok(url) = url::Url::parse(link) else {
        return write!(f, "<not a URL, {} bytes>", link.len());
    };
    // Other schemes have no host and keep everything in the path (`sas:sv=1&sig=…`).
    if !matches!(url.scheme(), "http" | "https") {
        return write!(f, "<not an http(s) URL, {} bytes>", link.len());
    }
    f.write_str(&url[..Position::BeforeUsername])?;
    if !url.username().is_empty() || url.password().is_some() {
        f.write_str("…@")?;
    }
    f.write_str(&url[Position::BeforeHost..Position::AfterPath])?;
    if url.query().is_some() {
        f.write_str("?…")?;
    }
    Ok(())
}

impl fmt::Debug for SecureLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SecureLink").field(&format_args!("{self}")).finish()
    }
}

impl schemars::JsonSchema for SecureLink {
    fn schema_name() -> String {
        "SecureLink".to_owned()
    }

    fn json_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
        schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            ..Default::default()
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_no_query_string_and_no_user_info() {
        let shown = |link: &str| SecureLink::new(link).to_string();
        assert_eq!(shown("https://s.example/r.csv?sig=abc&se=2026"), "https://s.example/r.csv?…");
        assert_eq!(shown("https://s.example/r.csv"), "https://s.example/r.csv");
        assert_eq!(shown("https://s.example:8443/r.csv?sig=abc#top"), "https://s.example:8443/r.csv?…");
        assert_eq!(shown("https://[::1]/r.csv?sig=abc"), "https://[::1]/r.csv?…");
        assert_eq!(shown("https://u:p@s.example/r.csv?sig=abc"), "https://…@s.example/r.csv?…");
        assert_eq!(shown("https://u:p@s.example"), "https://…@s.example/");
        assert_eq!(shown("https://u@s.example/r.csv"), "https://…@s.example/r.csv");
        // Spellings URL parsing reads as user info too.
        for odd in ["https:u:secret@s.example/r", "https:/u:secret@s.example/r", "https:///u:secret@s.example/r"] {
            assert_eq!(shown(odd), "https://…@s.example/r", "{odd}");
        }
        assert_eq!(shown("https:\\\\u:secret@s.example/r"), "https://…@s.example/r");
        assert_eq!(shown("https:/\t/u:secret@s.example/r"), "https://…@s.example/r");
        // An `@` after the host belongs to the path (or the query), not to user info.
        assert_eq!(shown("https://s.example/a@b/r.csv?sig=abc"), "https://s.example/a@b/r.csv?…");
        assert_eq!(shown("https://s.example/r.csv?u=a@b"), "https://s.example/r.csv?…");
        // What is not a URL is not shown at all: it cannot be downloaded, and it may still hold a secret.
        assert_eq!(shown("https://u:se/cret@s.example/r"), "<not a URL, 29 bytes>");
        assert_eq!(shown("not a link?sig=abc"), "<not a URL, 18 bytes>");
        assert_eq!(shown(""), "<not a URL, 0 bytes>");
        // Nor is a URL of another scheme, whose path would be the whole rest.
        assert_eq!(shown("sas:sv=1&sig=SECRET"), "<not an http(s) URL, 19 bytes>");
        assert_eq!(shown("ftp://u:p@s.example/r.csv"), "<not an http(s) URL, 25 bytes>");
        let debug = format!("{:?}", SecureLink::new("https://u:secret@s.example/r.csv?sig=abc"));
        assert_eq!(debug, "SecureLink(https://…@s.example/r.csv?…)");
    }

    #[test]
    fn decodes_and_encodes_as_the_plain_string() {
        let link: SecureLink = serde_json::from_str(r#""https://s.example/r.csv?sig=abc""#).unwrap();
        assert_eq!(link.expose_secret(), "https://s.example/r.csv?sig=abc");
        assert_eq!(serde_json::to_string(&link).unwrap(), r#""https://s.example/r.csv?sig=abc""#);
    }
}
