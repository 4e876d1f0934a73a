// The URL the service calls when a report's file is ready. It may carry a key (an Azure Functions `?code=`), so
// its query stays out of `Debug` and `Display`; a request can only be given an absolute http(s) URL.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ValidationError;
use super::secure_link::write_without_secrets;

/// A report's callback URL (`CallbackUrl`): the service calls `<url>/<reportId>` with POST, or
/// `<url>?reportId=<reportId>` with GET, when a report's file is ready.
///
/// [`CallbackUrl::new`] (and `TryFrom`/`FromStr`) accepts only an absolute `http` or `https` URL with a host,
/// written out as one (`https://…`, with no spaces, control characters or backslashes: it is sent as written, not
/// as a URL parser would clean it up); the request builders' `callback_url` takes the result. `Debug` and
/// `Display` leave out the query and any user info, which may hold a key (an Azure Functions `?code=`); a secret
/// kept in the path instead (as some webhook services do) is shown. [`CallbackUrl::as_str`] gives the whole URL.
/// Decoding an answer takes what the service sends, unchecked.
///
/// How the service adds the report id to a URL that already has a query is not documented, for either method:
/// written out as documented, POST would call `?code=KEY/<reportId>` and GET `?code=KEY?reportId=<reportId>`, and
/// either would break the key. The emulator adds the id URL-aware (into the path for POST, as `&reportId=` for
/// GET), which is an assumption. With a key in the query, check with a test report what the service calls, or
/// keep the key out of the query.
///
/// ```
/// use partner_center_insights::CallbackUrl;
/// let url = CallbackUrl::new("https://contoso.example/api/ready?code=s3cret")?;
/// assert_eq!(url.to_string(), "https://contoso.example/api/ready?…");
/// assert!(url.as_str().ends_with("?code=s3cret"));
/// assert!(CallbackUrl::new("contoso.example/api/ready").is_err());
/// # Ok::<(), partner_center_insights::ValidationError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallbackUrl(String);

impl CallbackUrl {
    /// Checks `url` and wraps it.
    ///
    /// # Errors
    /// When `url` is not an absolute `http` or `https` URL with a host, written out as one. The error does not
    /// repeat the URL.
    pub fn new(url: impl Into<String>) -> Result<Self, ValidationError> {
        let url = url.into();
        if callable(&url) {
            Ok(Self(url))
        } else {
            Err(ValidationError::new("callback URL", "must be an absolute http or https URL"))
        }
    }

    /// The whole URL, query included.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether the service could call `url` back: an absolute http(s) URL with a host, written as one. Also the
/// request hook's check of bodies decoded from JSON, which no constructor saw.
pub(crate) fn callable(url: &str) -> bool {
    // The URL parser forgives what the service, given the string as written, may not: it trims spaces and
    // controls, drops tabs and line breaks anywhere (a URL read from a file with its newline), reads `\` as `/`,
    // and `https:host` and `https:///host` as `https://host`. The string is sent as written, so it must already be
    // a URL as written.
    let written_as_url = url.split_once("://").is_some_and(|(scheme, rest)| {
        (scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http")) && !rest.starts_with('/')
    }) && !url.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\\');
    written_as_url
        && url::Url::parse(url).is_ok_and(|url| matches!(url.scheme(), "https" | "http") && url.host().is_some())
}

impl fmt::Display for CallbackUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_without_secrets(f, &self.0)
    }
}

impl fmt::Debug for CallbackUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CallbackUrl").field(&format_args!("{self}")).finish()
    }
}

// Parsing checks, as `new` does; decoding (derived) does not.
super::validated_string!(@parsing CallbackUrl);

impl schemars::JsonSchema for CallbackUrl {
    fn schema_name() -> String {
        "CallbackUrl".to_owned()
    }

    fn json_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
        schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            format: Some("uri".to_owned()),
            ..Default::default()
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_http_urls_with_a_host_and_never_echoed() {
        for good in [
            "https://contoso.example/cb",
            "http://127.0.0.1:8080/cb?code=k",
            "https://[::1]/cb",
            "HTTPS://Contoso.example",
            "https://[2001:db8::1]:8443/cb?code=a==",
            "https://münchen.example/cb",
            "https://xn--mnchen-3ya.example/r%C3%A9ports/cb",
            "https://user:p%40ss@contoso.example:444/cb",
        ] {
            assert_eq!(CallbackUrl::new(good).unwrap().as_str(), good);
        }
        let bad_ones = [
            "",
            "contoso.example/cb",
            "/cb",
            "ftp://contoso.example/cb",
            "https://",
            "mailto:a@b.example",
            // What the URL parser would forgive, though the string goes to the service as written.
            " https://contoso.example/cb",
            "https://contoso.example/cb\n",
            "https://contoso.example/c\nb",
            "https://contoso.example/c\tb",
            "https://contoso.example/c b",
            "https:contoso.example/cb",
            "https:\\\\contoso.example\\cb",
            "https:///contoso.example/cb",
            "https:////contoso.example/cb",
            "https://contoso.example/cb\u{7f}",
        ];
        for bad in bad_ones {
            let error = CallbackUrl::new(bad).unwrap_err().to_string();
            assert_eq!(error, "invalid callback URL: must be an absolute http or https URL", "{bad}");
        }
        assert!(!CallbackUrl::new("ftp://u:s3cret@h/?code=s3cret").unwrap_err().to_string().contains("s3cret"));
    }

    #[test]
    fn shows_no_query_or_user_info_and_decodes_what_the_service_sends() {
        let url = CallbackUrl::new("https://u:pw@f.example/api/ready?code=s3cret").unwrap();
        assert_eq!(format!("{url:?}"), "CallbackUrl(https://…@f.example/api/ready?…)");
        assert_eq!(url.to_string(), "https://…@f.example/api/ready?…");
        let decoded: CallbackUrl = serde_json::from_str(r#""not a url?code=s3cret""#).unwrap();
        assert_eq!(format!("{decoded:?}"), "CallbackUrl(<not a URL, 21 bytes>)");
        assert_eq!(serde_json::to_string(&url).unwrap(), r#""https://u:pw@f.example/api/ready?code=s3cret""#);
    }
}
