// The one HTTP exchange every Entra credential makes: a form POST to the token endpoint, its answer read into a
// token, or into an `AuthError` that says what Entra said and never repeats a secret.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use reqwest::{StatusCode, Url};
use secrecy::SecretString;
use serde_json::{Map, Value};

use super::{EndpointOptions, EndpointVersion, check_tenant};
use crate::auth::{AccessToken, AuthError};

/// Token answers are a few kilobytes; anything far larger is not one, and is not read into memory.
const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// How much of an unexpected body an error message quotes.
const EXCERPT_CHARS: usize = 200;
/// How much of Entra's `error_description` an error message quotes.
const DESCRIPTION_CHARS: usize = 300;
const REDACTED: &str = "[redacted]";

/// A token endpoint, ready to post to.
pub(super) struct TokenEndpoint {
    url: Url,
    tenant: String,
    version: EndpointVersion,
    http: reqwest::Client,
    request_timeout: Duration,
}

/// What a successful token request yields.
pub(super) struct GrantedToken {
    pub(super) access_token: AccessToken,
    /// A refresh token, when Entra issued one (it rotates them on the refresh-token grant).
    pub(super) refresh_token: Option<SecretString>,
}

impl fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("url", &self.url.as_str())
            .field("version", &self.version)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

impl TokenEndpoint {
    /// Checks the tenant and options and prepares the HTTP client.
    pub(super) fn new(tenant: String, options: EndpointOptions) -> Result<Self, AuthError> {
        check_tenant(&tenant)?;
        options.version.check()?;
        let url = format!("{}/{}/{}", options.authority.as_str(), tenant, options.version.path());
        let url = Url::parse(&url).map_err(|e| AuthError::new(format!("token endpoint `{url}` is not a URL: {e}")))?;
        let http = match options.http_client {
            Some(client) => client,
            None => crate::tls::direct_if_loopback_http(crate::http_client_builder(), url.as_str())
                .map_err(|e| {
                    let message = format!("could not set up TLS for the token endpoint: {}", innermost_cause(&e));
                    AuthError::with_source(message, e)
                })?
                .connect_timeout(options.connect_timeout)
                // A redirect would carry the form, secrets included, to wherever it points.
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("partner-center-insights/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| {
                    let message =
                        format!("could not build the HTTP client for the token endpoint: {}", innermost_cause(&e));
                    AuthError::with_source(message, e)
                })?,
        };
        Ok(Self { url, tenant, version: options.version, http, request_timeout: options.request_timeout })
    }

    pub(super) fn url(&self) -> &Url {
        &self.url
    }

    pub(super) fn tenant(&self) -> &str {
        &self.tenant
    }

    pub(super) fn version(&self) -> &EndpointVersion {
        &self.version
    }

    /// The form field naming what the token is for: `resource` on v1, `scope` on v2.
    pub(super) fn audience_field(&self) -> (&'static str, &str) {
        self.version.audience_field()
    }

    /// Posts `form` and reads the answer. `secrets` are the values sent, which no error may repeat; nor may a
    /// `client_id` that may be a secret given in its place (Entra's AADSTS700016 quotes it).
    pub(super) async fn request(&self, form: &[(&str, &str)], secrets: &[&str]) -> Result<GrantedToken, AuthError> {
        let client_id = form.iter().find(|(name, _)| *name == "client_id").map(|&(_, id)| id);
        let secrets = &[secrets, &[client_id.filter(|id| super::may_be_a_secret(id)).unwrap_or_default()]].concat();
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        // Entra adopts a caller's `client-request-id` as the correlation id, so even a failure without a JSON body
        // has an id to quote.
        let correlation_id = crate::hooks::random_uuid().to_string();
        // `expires_in` counts from when Entra issued the token, which is no earlier than this.
        let requested_at = SystemTime::now();
        let started = Instant::now();
        let response = self
            .http
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .header("client-request-id", &correlation_id)
            .header("return-client-request-id", "true")
            .timeout(self.request_timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport_error("failed", e, secrets).with_ids(Some(correlation_id.clone()), None))?;
        let status = response.status();
        let hint = crate::retry::retry_after(response.headers());
        // Busy or failing for now, not refusing: asking again later may succeed.
        let transient = |error: AuthError| match status.as_u16() {
            408 | 429 | 500 | 502 | 503 | 504 => error.transient().with_retry_after(hint),
            _ => error,
        };
        let header_text = |value: Option<&HeaderValue>| value.and_then(|v| v.to_str().ok()).map(str::to_owned);
        let content_type = header_text(response.headers().get(CONTENT_TYPE));
        let trace_id = header_text(response.headers().get("x-ms-request-id"));
        let body = match read_capped(response).await {
            Ok(Some(body)) => body,
            Ok(None) => {
                let message = format!(
                    "token endpoint answered {status} with a body over {MAX_ANSWER_BYTES} bytes, which is not a \
                     token answer (correlation id {correlation_id})"
                );
                let error = AuthError::new(message).with_status(status).with_ids(Some(correlation_id), trace_id);
                return Err(transient(error));
            }
            // The status was read, and is kept: a 503 whose body broke off is still busy, and says so.
            Err(e) => {
                let error = self.transport_error("failed while reading the answer", e, secrets);
                return Err(transient(error.with_status(status).with_ids(Some(correlation_id), trace_id)));
            }
        };
        tracing::debug!(
            token_endpoint = %self.url,
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            correlation_id,
            "entra token request"
        );
        let answer = Answer { status, content_type, body, correlation_id, trace_id };
        if status.is_success() {
            answer.into_token(requested_at, secrets)
        } else {
            Err(transient(answer.into_error(secrets)))
        }
    }

    fn transport_error(&self, what: &str, error: reqwest::Error, secrets: &[&str]) -> AuthError {
        let refused = crate::tls::handshake_refused(&error);
        let message = if error.is_timeout() {
            format!("token request to {} timed out (request timeout {:?})", self.url, self.request_timeout)
        } else if refused {
            format!("TLS handshake with the token endpoint {} refused: {}", self.url, innermost_cause(&error))
        } else if error.is_connect() {
            format!("could not connect to the token endpoint {}: {}", self.url, innermost_cause(&error))
        } else {
            format!("token request to {} {what}: {}", self.url, innermost_cause(&error))
        };
        // The request did not get through (or its answer broke off): worth asking again, unlike a request that
        // could not even be built.
        // (A body that broke off mid-stream is a decode error when it was compressed.)
        let broke =
            (error.is_connect() || error.is_timeout() || error.is_request() || error.is_body() || error.is_decode())
                && !refused;
        let failure = AuthError::with_source(scrub(&message, secrets), error);
        if broke { failure.transient() } else { failure }
    }
}

/// The whole body, or `None` when it is larger than any token answer.
async fn read_capped(mut response: reqwest::Response) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// The most specific reason in an error chain ("Connection refused (os error 111)"), not reqwest's generic top.
fn innermost_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A token endpoint's answer, read whole.
struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    body: Vec<u8>,
    /// The `client-request-id` this request sent; Entra's own `correlation_id` takes precedence when it has one.
    correlation_id: String,
    trace_id: Option<String>,
}

impl Answer {
    /// A successful answer, read into a token.
    fn into_token(self, requested_at: SystemTime, secrets: &[&str]) -> Result<GrantedToken, AuthError> {
        let fields = match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(fields)) => fields,
            // Not quoted: a success answer that does not parse (a trailing comma, say) may still hold the tokens.
            _ => return Err(self.malformed(&format!("without a token, with {}", self.describe_body(None)), secrets)),
        };
        let Some(access_token) = non_empty_text(&fields, "access_token") else {
            return Err(self.malformed("with a JSON body without an access_token", secrets));
        };
        // The access token just received is a secret too, should anything below quote the answer.
        let secrets = &[secrets, &[access_token]].concat();
        if let Some(token_type) = non_empty_text(&fields, "token_type")
            && !token_type.eq_ignore_ascii_case("bearer")
        {
            return Err(
                self.malformed(&format!("with a `{token_type}` token, where a Bearer token is needed"), secrets)
            );
        }
        let expires_at = expiry(&fields, requested_at).map_err(|why| self.malformed(why, secrets))?;
        if expires_at.is_none() {
            tracing::warn!(correlation_id = self.correlation_id, "entra token answer has no expiry");
        }
        Ok(GrantedToken {
            access_token: AccessToken::new(access_token, expires_at),
            refresh_token: non_empty_text(&fields, "refresh_token").map(SecretString::from),
        })
    }

    /// An answer this crate cannot use: `why` follows "token endpoint answered <status> ".
    fn malformed(&self, why: &str, secrets: &[&str]) -> AuthError {
        let message = format!("token endpoint answered {} {why} (correlation id {})", self.status, self.correlation_id);
        AuthError::new(scrub(&message, secrets))
            .with_status(self.status)
            .with_ids(Some(scrub(&self.correlation_id, secrets)), self.trace_id.as_deref().map(|t| scrub(t, secrets)))
    }

    /// A failed answer: Entra's OAuth error when the body is one, otherwise what the body looks like.
    fn into_error(self, secrets: &[&str]) -> AuthError {
        let oauth_error = match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(fields)) if non_empty_text(&fields, "error").is_some() => Some(fields),
            _ => None,
        };
        let Some(fields) = oauth_error else {
            let mut why = format!("with {}", self.describe_body(Some(secrets)));
            if self.status.is_redirection() {
                why.push_str("; redirects are not followed, so check the authority URL");
            }
            return self.malformed(&why, secrets);
        };
        let text = |name: &str| non_empty_text(&fields, name).map(|t| scrub(t, secrets));
        let error = text("error").unwrap_or_default();
        let description = text("error_description")
            .map(|d| cut(d.lines().map(str::trim).find(|line| !line.is_empty()).unwrap_or_default(), DESCRIPTION_CHARS))
            .unwrap_or_default();
        let codes: Vec<u32> = fields
            .get("error_codes")
            .and_then(Value::as_array)
            .map(|codes| codes.iter().filter_map(|c| c.as_u64().and_then(|c| u32::try_from(c).ok())).collect())
            .unwrap_or_default();
        let correlation_id = text("correlation_id").unwrap_or_else(|| scrub(&self.correlation_id, secrets));
        let trace_id = text("trace_id").or_else(|| self.trace_id.as_deref().map(|t| scrub(t, secrets)));

        let mut message = format!("token endpoint answered {}: {error}", self.status);
        // The description normally opens with its AADSTS code; name the code when it does not.
        if let Some(code) = codes.first()
            && !description.starts_with(&format!("AADSTS{code}"))
        {
            message.push_str(&format!(": AADSTS{code}"));
        }
        if !description.is_empty() {
            message.push_str(": ");
            message.push_str(&description);
        }
        message.push_str(&format!(" (correlation id {correlation_id})"));
        AuthError::new(scrub(&message, secrets))
            .with_status(self.status)
            .with_oauth_error(Some(error), codes)
            .with_ids(Some(correlation_id), trace_id)
    }

    /// "an empty body", "a non-JSON text/html body: Service unavailable ...".
    /// What the body looks like, quoting its start when `quoted` gives the secrets to remove from it.
    fn describe_body(&self, quoted: Option<&[&str]>) -> String {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return "an empty body".to_owned();
        }
        let content_type = self.content_type.as_deref().map(|c| c.split(';').next().unwrap_or(c).trim());
        let kind = match (content_type, serde_json::from_slice::<Value>(&self.body).is_ok()) {
            (_, true) => "a JSON body that is not an OAuth answer".to_owned(),
            (Some(content_type), false) if !content_type.is_empty() => format!("a non-JSON {content_type} body"),
            _ => "a non-JSON body".to_owned(),
        };
        match quoted {
            Some(secrets) => format!("{kind}: {}", excerpt(&self.body, secrets)),
            None => format!("{kind} of {} bytes", self.body.len()),
        }
    }
}

/// The start of a body as one readable line: markup dropped, whitespace collapsed, secrets removed.
fn excerpt(body: &[u8], secrets: &[&str]) -> String {
    // Secrets are removed before markup is dropped too, since dropping markup could join a secret's pieces.
    let text = scrub(&String::from_utf8_lossy(body), secrets);
    let looks_like_markup = text.trim_start().starts_with('<');
    let mut visible = String::with_capacity(text.len().min(4096));
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' if looks_like_markup => in_tag = true,
            '>' if looks_like_markup && in_tag => {
                in_tag = false;
                visible.push(' ');
            }
            _ if in_tag => {}
            _ => visible.push(c),
        }
    }
    let collapsed = visible.split_whitespace().collect::<Vec<_>>().join(" ");
    cut(&scrub(&collapsed, secrets), EXCERPT_CHARS)
}

/// At most `limit` characters of `text`, marked when cut.
fn cut(text: &str, limit: usize) -> String {
    let mut kept: String = text.chars().take(limit).collect();
    if text.chars().nth(limit).is_some() {
        kept.push('…');
    }
    kept
}

/// `text` with every occurrence of every secret, in any of the forms a body may quote it in, replaced by
/// `[redacted]`.
pub(super) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut secrets: Vec<&str> = secrets.iter().copied().filter(|s| !s.is_empty()).collect();
    // Longest first: a secret that contains another is removed whole, not with the other's surroundings left.
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    let mut text = text.to_owned();
    for secret in secrets {
        for variant in quoted_forms(secret) {
            if !variant.is_empty() && text.contains(&variant) {
                text = text.replace(&variant, REDACTED);
            }
        }
    }
    text
}

/// A secret in the forms a body may quote it in: as sent; form-encoded, in either case of hex (a proxy echoing
/// the request); JSON-escaped as serde_json does (with and without `\/`) and as .NET does (`\u002B` for `+ < > & '`
/// and non-ASCII, either case of hex); and HTML-escaped with named, decimal or hex entities (an error page).
fn quoted_forms(secret: &str) -> Vec<String> {
    let form_encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let quoted = serde_json::to_string(secret).unwrap_or_default();
    let json = quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or_default().to_owned();
    // System.Text.Json's default: short escapes for `\\` and the common controls, `\uXXXX` for the rest it picks.
    let dotnet_json = |upper_case_hex: bool| {
        let pick = |c: char| c.is_ascii_control() || !c.is_ascii() || "\"\\<>&'+`".contains(c);
        escaped(secret, pick, move |unit| match unit {
            0x5C => "\\\\".to_owned(),
            0x0A => "\\n".to_owned(),
            0x0D => "\\r".to_owned(),
            0x09 => "\\t".to_owned(),
            0x08 => "\\b".to_owned(),
            0x0C => "\\f".to_owned(),
            _ if upper_case_hex => format!("\\u{unit:04X}"),
            _ => format!("\\u{unit:04x}"),
        })
    };
    let html = |entity: fn(char) -> String| {
        escaped(
            secret,
            |c| "&<>\"'".contains(c),
            move |unit| entity(char::from_u32(u32::from(unit)).unwrap_or_default()),
        )
    };
    let named = html(|c| match c {
        '&' => "&amp;".to_owned(),
        '<' => "&lt;".to_owned(),
        '>' => "&gt;".to_owned(),
        '"' => "&quot;".to_owned(),
        _ => "&#39;".to_owned(),
    });
    vec![
        secret.to_owned(),
        lower_case_percent_escapes(&form_encoded),
        form_encoded,
        json.replace('/', "\\/"),
        json,
        dotnet_json(true),
        dotnet_json(false),
        named,
        html(|c| format!("&#{};", u32::from(c))),
        html(|c| format!("&#x{:X};", u32::from(c))),
    ]
}

/// `text` with the hex digits of its `%XX` escapes in lower case (and nothing else changed).
fn lower_case_percent_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut hex_left = 0u8;
    for c in text.chars() {
        out.push(if hex_left > 0 { c.to_ascii_lowercase() } else { c });
        hex_left = if c == '%' { 2 } else { hex_left.saturating_sub(1) };
    }
    out
}

/// `text` with each UTF-16 unit of the characters `escape` picks written by `write`.
fn escaped(text: &str, escape: impl Fn(char) -> bool, write: impl Fn(u16) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if escape(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&write(*unit));
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn non_empty_text<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    fields.get(name).and_then(Value::as_str).filter(|text| !text.trim().is_empty())
}

/// When the token expires: `expires_in` seconds after the request (v1 sends a string, v2 a number), or else the
/// `expires_on` Unix time; `None` when the answer has neither.
fn expiry(fields: &Map<String, Value>, requested_at: SystemTime) -> Result<Option<SystemTime>, &'static str> {
    let field = |name: &str| fields.get(name).filter(|value| !value.is_null());
    if let Some(expires_in) = field("expires_in") {
        let seconds = seconds(expires_in).ok_or("with a token whose expires_in is not a number of seconds")?;
        return requested_at
            .checked_add(Duration::from_secs(seconds))
            .map(Some)
            .ok_or("with an out-of-range expires_in");
    }
    if let Some(expires_on) = field("expires_on") {
        let seconds = seconds(expires_on).ok_or("with a token whose expires_on is not a Unix time")?;
        return UNIX_EPOCH.checked_add(Duration::from_secs(seconds)).map(Some).ok_or("with an out-of-range expires_on");
    }
    Ok(None)
}

/// A whole, non-negative number of seconds, given as a JSON number or a string of digits.
fn seconds(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_u64().or_else(|| {
            // Whole seconds are enough; a fraction is dropped, which errs towards expiring early.
            number.as_f64().filter(|f| f.is_finite() && *f >= 0.0 && *f < u64::MAX as f64).map(|f| f as u64)
        }),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(fields) => fields,
            _ => unreachable!("test input is an object"),
        }
    }

    #[test]
    fn expiry_accepts_strings_numbers_and_expires_on() {
        let now = SystemTime::now();
        let in_an_hour = Some(now + Duration::from_secs(3599));
        assert_eq!(expiry(&fields(json!({"expires_in": "3599"})), now), Ok(in_an_hour));
        assert_eq!(expiry(&fields(json!({"expires_in": 3599})), now), Ok(in_an_hour));
        assert_eq!(expiry(&fields(json!({"expires_in": 3599.7})), now), Ok(in_an_hour));
        assert_eq!(
            expiry(&fields(json!({"expires_on": "1700000000"})), now),
            Ok(Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)))
        );
        assert_eq!(expiry(&fields(json!({"expires_in": null})), now), Ok(None));
        assert!(expiry(&fields(json!({"expires_in": "soon"})), now).is_err());
        assert!(expiry(&fields(json!({"expires_in": -5})), now).is_err());
        assert!(expiry(&fields(json!({"expires_in": u64::MAX})), now).is_err());
    }

    #[test]
    fn scrub_removes_plain_and_form_encoded_secrets() {
        let scrubbed = scrub("a=s3cr+t/x b=s3cr%2Bt%2Fx c", &["s3cr+t/x", ""]);
        assert_eq!(scrubbed, "a=[redacted] b=[redacted] c");
    }

    #[test]
    fn scrub_removes_dotnet_json_numeric_entities_and_lower_case_percent_forms() {
        let secret = "Ab+c/d~e<fé";
        for text in [
            r#"{"echo":"Ab\u002Bc/d~e\u003Cf\u00E9"}"#,
            r#"{"echo":"Ab\u002bc/d~e\u003cf\u00e9"}"#,
            "<p>Ab+c/d~e&#60;fé</p>",
            "<p>Ab+c/d~e&#x3C;fé</p>",
            "body=Ab%2bc%2fd%7ee%3cf%c3%a9",
        ] {
            let scrubbed = scrub(text, &[secret]);
            assert!(!scrubbed.contains("d~e") && !scrubbed.contains("d%7ee"), "{text} became {scrubbed}");
        }
        // .NET writes a backslash and the common controls with short escapes.
        let scrubbed = scrub(r#"{"echo":"p\\w\u002Brd\n"}"#, &["p\\w+rd\n"]);
        assert_eq!(scrubbed, r#"{"echo":"[redacted]"}"#);
    }

    #[test]
    fn scrub_removes_json_and_html_escaped_secrets_and_longer_secrets_whole() {
        let secret = r#"pa"ss\w0rd/&<x>'"#;
        let json = serde_json::json!({ "echo": format!("password={secret}") }).to_string();
        let json_slashes = json.replace('/', "\\/");
        let html = "<p>password=pa&quot;ss\\w0rd/&amp;&lt;x&gt;&#39;</p>";
        for text in [json.as_str(), json_slashes.as_str(), html] {
            let scrubbed = scrub(text, &[secret]);
            assert!(scrubbed.contains("password=[redacted]"), "{text} became {scrubbed}");
            assert!(!scrubbed.contains("w0rd"), "{scrubbed}");
        }
        assert_eq!(excerpt(html.as_bytes(), &[secret]), "password=[redacted]");
        // One secret inside another: the longer one goes whole, whichever is named first.
        assert_eq!(scrub("t=abc123xyz", &["123", "abc123xyz"]), "t=[redacted]");
    }

    #[test]
    fn excerpt_drops_markup_and_secrets() {
        let html = b"<html><head><title>500 - Internal error</title></head>\n<body>oops hunter2</body></html>";
        assert_eq!(excerpt(html, &["hunter2"]), "500 - Internal error oops [redacted]");
        assert!(excerpt("x".repeat(1000).as_bytes(), &[]).ends_with('…'));
    }
}
