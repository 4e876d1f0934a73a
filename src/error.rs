// The crate's one error type: every failure, from a rejected argument to an HTML 502, with its HTTP status, the
// service's message and the request id when there are any, printed on one line and never with a secret.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::hooks::{BodyProblem, ReceivedBody};
use crate::{ValidationError, types};

/// What kind of failure an [`Error`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument or setting was rejected before anything was sent.
    InvalidArgument,
    /// No access token could be had from the token provider.
    Authentication,
    /// The connection could not be opened.
    Connect,
    /// The server's TLS certificate was refused (untrusted, expired, for another host name), or client and server
    /// have no TLS version or cipher suite in common: a setting to fix, so not [transient](Error::is_transient).
    Tls,
    /// A timeout elapsed.
    Timeout,
    /// The connection failed while sending or receiving.
    Transport,
    /// The service answered with an error status (see [`Error::status`] and [`Error::message`]). A 401 whose token
    /// the provider then failed to renew has the provider's [`AuthError`](crate::AuthError) as its `source()`.
    Service,
    /// The service answered, but the body is not what the status promises (not JSON, or not the expected shape).
    InvalidResponse,
    /// The client could not be set up.
    Configuration,
    /// A report execution ended in a state other than completed.
    ExecutionFailed,
    /// A local file or the caller's writer failed while saving a download (disk full, no permission): not the
    /// network's fault, so not [transient](Error::is_transient).
    LocalIo,
}

/// Everything that can go wrong, with what is known about it.
///
/// `?` converts the generated operations' errors into this type:
///
/// ```no_run
/// # async fn run(client: partner_center_insights::Client) -> Result<(), partner_center_insights::Error> {
/// let resumed = client.resume_report().report_id("0c9f3f3d-2a5c-4c1a-8d7e-6b2f1e0a9c44").send().await?;
/// # Ok(()) }
/// ```
///
/// and then a failure reads, on one line:
/// `HTTP 404 Not Found: No item found with given filters. (request id 8a3c…)`.
pub struct Error {
    kind: ErrorKind,
    status: Option<StatusCode>,
    message: Option<String>,
    request_id: Option<String>,
    body: Option<Bytes>,
    attempts: u32,
    retry_after: Option<Duration>,
    /// Whether the service answered with its envelope (so an absent message is not an empty body).
    envelope: bool,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            status: None,
            message: None,
            request_id: None,
            body: None,
            attempts: 1,
            retry_after: None,
            envelope: false,
            source: None,
        }
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        Self { message: Some(message.into()), ..Self::new(ErrorKind::InvalidArgument) }
    }

    pub(crate) fn invalid_response(message: String) -> Self {
        Self { message: Some(message), ..Self::new(ErrorKind::InvalidResponse) }
    }

    /// This error, for an answer with `status` and `request_id` that the call took `attempts` to get (found wrong
    /// after the response was read).
    pub(crate) fn answered(self, status: StatusCode, request_id: Option<String>, attempts: u32) -> Self {
        Self { status: Some(status), request_id, attempts, ..self }
    }

    pub(crate) fn timed_out(message: String) -> Self {
        Self { message: Some(message), ..Self::new(ErrorKind::Timeout) }
    }

    pub(crate) fn execution_failed(message: String) -> Self {
        Self { message: Some(message), ..Self::new(ErrorKind::ExecutionFailed) }
    }

    pub(crate) fn configuration(message: &str, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            message: Some(message.to_owned()),
            source: Some(Box::new(source)),
            ..Self::new(ErrorKind::Configuration)
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The HTTP status of the response, for every failure where the service answered.
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }

    /// The service's explanation (the envelope's `message`, or another error shape's text) when it gave one, or
    /// for a refusal whose body says nothing, its `WWW-Authenticate` challenge's `error_description`; otherwise
    /// this crate's.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The call's request id, to quote to Microsoft support: the response's `MS-RequestId` (or `request-id`)
    /// header, or, when no response came or it carried none, the `MS-RequestId` this client sent (the same on
    /// every attempt). One gap: a report or execution operation's 200 whose JSON is an envelope but does not have
    /// the operation's shape has neither, as progenitor passes on only its body, unless the answer may hold a link
    /// (checked before progenitor sees it, as every other operation's answer is).
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The response body, when the service answered with one that is not its error envelope: an HTML page,
    /// plain text, other JSON, or an undocumented status (of a failed download, the first 64 KiB). A documented
    /// error status with the envelope is read into [`message`](Self::message) and not kept. Of a body over
    /// 64 MiB, the first 64 KiB read before the client stopped (none when its declared length was already over).
    /// JSON is as the client read it: keys the spec names in the spec's spelling, `null` lists as `[]`, trailing
    /// commas gone. Unlike `Display`, it may hold a link's signature (a success body of the wrong shape).
    pub fn body(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    /// How many attempts the call made before giving up (1 when it was not retried). The same gap as for
    /// [`request_id`](Self::request_id): of a report or execution operation's 200 of the wrong shape, it is 1.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// How long the service (or, for an authentication failure, the token endpoint) asked the caller to wait before
    /// trying again (`Retry-After`, `retry-after-ms` or `x-ms-retry-after-ms` on the failed response), as sent:
    /// not capped by the [`RetryPolicy`](crate::RetryPolicy), so add it to an `Instant` with `checked_add`. An
    /// HTTP date is counted from when the error was made (when `?` converted it). The client has already honoured
    /// such hints between its own attempts; this is for a caller who schedules the next try. (When a retry ran out
    /// of call time, the error is the previous answer, whose hint the client had begun to wait out.)
    ///
    /// ```no_run
    /// # async fn run(client: partner_center_insights::Client) -> Result<(), partner_center_insights::Error> {
    /// use std::time::Duration;
    /// use partner_center_insights::Error;
    /// let reports = loop {
    ///     match client.get_reports().send().await.map_err(Error::from) {
    ///         // The client's own retries are spent: come back when the service says.
    ///         Err(e) if e.is_transient() => {
    ///             tokio::time::sleep(e.retry_after().unwrap_or(Duration::from_secs(30))).await
    ///         }
    ///         other => break other?,
    ///     }
    /// };
    /// # Ok(()) }
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after.or_else(|| self.auth_error().and_then(crate::AuthError::retry_after))
    }

    /// The token provider's error behind an authentication failure, or behind a 401 whose token it could not
    /// renew.
    fn auth_error(&self) -> Option<&crate::AuthError> {
        self.source.as_deref().and_then(|e| e.downcast_ref::<crate::AuthError>())
    }

    /// Whether trying the same call again later may succeed: connection failures, timeouts, HTTP 408, 429, 500,
    /// 502, 503, 504, and a token provider that could not be reached or was busy
    /// ([`AuthError::is_transient`](crate::AuthError::is_transient)). The client has already retried these as far
    /// as its [`RetryPolicy`](crate::RetryPolicy) allows. For a create call, a transient failure after the request
    /// was sent (a timeout, a 500, a 502) does not say whether the service created the query or report: list them
    /// before creating it again.
    pub fn is_transient(&self) -> bool {
        match self.kind {
            ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::Transport => true,
            // A 401 too, when the fresh token it called for could not be had for one of those reasons.
            ErrorKind::Service => {
                self.status.is_some_and(|s| matches!(s.as_u16(), 408 | 429 | 500 | 502 | 503 | 504))
                    || self.auth_error().is_some_and(crate::AuthError::is_transient)
            }
            // The token provider's own verdict: unreachable or busy, rather than refusing.
            ErrorKind::Authentication => self.auth_error().is_some_and(crate::AuthError::is_transient),
            _ => false,
        }
    }

    pub(crate) fn io(message: &str, source: std::io::Error) -> Self {
        Self { message: Some(message.to_owned()), source: Some(Box::new(source)), ..Self::new(ErrorKind::LocalIo) }
    }

    pub(crate) fn from_response(status: StatusCode, headers: &HeaderMap, body: Option<Bytes>) -> Self {
        let kind = if status.is_success() { ErrorKind::InvalidResponse } else { ErrorKind::Service };
        Self {
            status: Some(status),
            request_id: call_request_id(headers),
            attempts: attempts_in(headers),
            retry_after: crate::retry::retry_after(headers),
            message: body.as_deref().and_then(message_in).or_else(|| challenge_description(headers)),
            body: body.filter(|b| !b.is_empty()),
            source: token_not_renewed(status, headers).map(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
            ..Self::new(kind)
        }
    }

    /// A 200 whose body is JSON but does not decode into the operation's type.
    pub(crate) fn wrong_shape(headers: &HeaderMap, body: Bytes, error: serde_json::Error) -> Self {
        Self {
            message: Some(WRONG_SHAPE.to_owned()),
            source: Some(Box::new(without_quoted_values(error))),
            ..Self::from_response(StatusCode::OK, headers, Some(body))
        }
    }
}

/// `error`, or where its message may quote a value (serde writes `invalid type: string "…"`, and a type's own
/// refusal may quote in backticks; either may be a link with its signature), the same message with each quoted
/// value cut to `…`. Missing and repeated fields name only the field, and stay. A cut error keeps its position in its
/// message only (its `line()` and `column()` are 0).
pub(crate) fn without_quoted_values(error: serde_json::Error) -> serde_json::Error {
    let message = error.to_string();
    let names_a_field = message.starts_with("missing field `") || message.starts_with("duplicate field `");
    if names_a_field || !message.contains(['"', '`']) {
        return error;
    }
    let mut cut = String::with_capacity(message.len());
    let mut rest = message.as_str();
    while let Some(start) = rest.find(['"', '`']) {
        let quote = if rest[start..].starts_with('"') { '"' } else { '`' };
        cut.push_str(&rest[..=start]);
        let inside = &rest[start + 1..];
        let end = if quote == '"' {
            // serde writes strings as Rust does, `\"` and `\\` inside: the first quote not escaped closes.
            let mut escaped = false;
            inside.char_indices().find(|&(_, c)| {
                let closes = !escaped && c == '"';
                escaped = !escaped && c == '\\';
                closes
            })
        } else {
            // Backticks are not escaped: what they quote runs to the last one.
            inside.rfind('`').map(|end| (end, '`'))
        };
        let Some((end, _)) = end else {
            cut.push('…');
            rest = "";
            break;
        };
        cut.push('…');
        cut.push(quote);
        rest = &inside[end + 1..];
    }
    cut.push_str(rest);
    serde::de::Error::custom(cut)
}

/// Why an answer with a success status other than the operations' only one, 200, failed.
const UNDOCUMENTED_SUCCESS: &str = "a success status the operation does not document (the call may have taken effect)";

/// Why a success answer failed. Not the envelope's `message`: on a 200 that is the service's success text.
const WRONG_SHAPE: &str = "response body does not have the operation's shape";

/// The `error_description` of a `WWW-Authenticate` challenge (RFC 6750), for a refusal whose body says nothing: an
/// API gateway's 401 often has no body, and the challenge is its only explanation (`The token is expired`).
fn challenge_description(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|challenges| auth_param(challenges, "error_description"))
        .map(|text| text.trim().to_owned())
        .find(|text| !text.is_empty())
}

/// The value of the auth-param `name` in a `WWW-Authenticate` value (RFC 7235: challenges `Scheme name=value, …`;
/// each value is a token or a quoted string with `\` escapes; names in any case, spaces allowed around `=`). Read
/// by hand: a challenge parser would be a dependency for one message, and a misread costs only that message.
fn auth_param(challenges: &str, name: &str) -> Option<String> {
    let mut rest = challenges.trim_start();
    while !rest.is_empty() {
        // A scheme, a token68 or a parameter's name; each pass consumes at least one character.
        let end = rest.find(|c: char| c == '=' || c == ',' || c.is_whitespace()).unwrap_or(rest.len());
        let word = &rest[..end];
        rest = rest[end..].trim_start();
        let Some(value_start) = rest.strip_prefix('=') else {
            rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
            continue;
        };
        let value_start = value_start.trim_start();
        let (value, after) = match value_start.strip_prefix('"') {
            Some(quoted) => {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let close = loop {
                    match chars.next()? {
                        (at, '"') => break at,
                        (_, '\\') => value.push(chars.next()?.1),
                        (_, c) => value.push(c),
                    }
                };
                (value, &quoted[close + 1..])
            }
            None => {
                let end = value_start.find(|c: char| c == ',' || c.is_whitespace()).unwrap_or(value_start.len());
                (value_start[..end].to_owned(), &value_start[end..])
            }
        };
        if word.eq_ignore_ascii_case(name) {
            return Some(value);
        }
        rest = after.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    None
}

/// Why the token of a 401 could not be renewed, if the hooks recorded that it could not.
fn token_not_renewed(status: StatusCode, headers: &HeaderMap) -> Option<crate::AuthError> {
    if status != StatusCode::UNAUTHORIZED {
        return None;
    }
    let key = headers.get(&crate::hooks::TOKEN_NOT_RENEWED)?.to_str().ok()?.parse().ok()?;
    crate::auth::handover::take(key)
}

/// The request id a response carries, if any.
pub(crate) fn request_id(headers: &HeaderMap) -> Option<&str> {
    ["ms-requestid", "request-id", "x-ms-request-id"]
        .iter()
        .find_map(|name| headers.get(*name))
        .and_then(|value| value.to_str().ok())
}

/// The request id a failed call's response carries, or else the one the hooks recorded as sent.
fn call_request_id(headers: &HeaderMap) -> Option<String> {
    request_id(headers)
        .or_else(|| headers.get(&crate::hooks::SENT_REQUEST_ID).and_then(|value| value.to_str().ok()))
        .map(str::to_owned)
}

/// The number of attempts the hooks recorded on a response (1 when none is recorded).
pub(crate) fn attempts_in(headers: &HeaderMap) -> u32 {
    headers.get(&crate::hooks::ATTEMPTS).and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(1)
}

/// What a failure body says, in any of the shapes seen in front of Microsoft APIs: the service's envelope (any
/// casing), `{"error":{"message":…}}` (Azure gateways), OAuth's `error_description`, Partner Center's
/// `{"code":…,"description":…}`, problem+json's `detail`, a bare JSON string (ASP.NET's `BadRequest("…")`), or
/// Azure Storage's XML error (a download link that expired or was refused).
pub(crate) fn message_in(body: &[u8]) -> Option<String> {
    let body = body.strip_prefix(crate::hooks::BYTE_ORDER_MARK).unwrap_or(body);
    let text = |value: &serde_json::Value| value.as_str().map(str::trim).filter(|m| !m.is_empty()).map(str::to_owned);
    let Ok(normalized) = crate::casing::normalize(&Bytes::copy_from_slice(body), crate::casing::Items::Typed) else {
        return storage_message(body).or_else(|| text(&serde_json::from_slice(body).ok()?));
    };
    let json: serde_json::Value = serde_json::from_slice(&normalized.bytes).ok()?;
    text(&json["message"])
        .or_else(|| text(&json["error"]["message"]))
        .or_else(|| text(&json["error_description"]))
        // `description` alone is a report's field, so only next to Partner Center's error `code`.
        .or_else(|| json.get("code").and_then(|_| text(&json["description"])))
        .or_else(|| text(&json["detail"]))
        .or_else(|| text(&json["title"]))
        .or_else(|| text(&json["error"]))
}

/// `Code: Message` of an Azure Storage error body (`<Error><Code>…</Code><Message>…</Message>…</Error>`). Only these
/// two elements: the others may quote the request's string-to-sign. Read by hand, as a whole XML parser for two
/// fixed elements of one documented shape would be a dependency for nothing.
fn storage_message(body: &[u8]) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?.trim_start();
    if !body.starts_with('<') {
        return None;
    }
    let element = |name: &str| {
        let start = body.find(&format!("<{name}>"))? + name.len() + 2;
        let end = start + body[start..].find(&format!("</{name}>"))?;
        let text = body[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&");
        Some(text.trim().to_owned()).filter(|text| !text.is_empty())
    };
    let message = element("Message")?;
    Some(match element("Code") {
        Some(code) => format!("{code}: {message}"),
        None => message,
    })
}

impl From<progenitor_client::Error<types::ErrorEnvelope>> for Error {
    fn from(error: progenitor_client::Error<types::ErrorEnvelope>) -> Self {
        use progenitor_client::Error as E;
        match error {
            E::InvalidRequest(message) => Self::invalid_argument(readable_conversion_error(&message)),
            E::CommunicationError(e) | E::InvalidUpgrade(e) | E::ResponseBodyError(e) => Self::from(e),
            // An error status (so `from_response` makes it a service error) whose body was the envelope.
            // An envelope without a message (`{"statusCode":401}`) leaves the word to the challenge, if any.
            E::ErrorResponse(response) => {
                let mut error = Self::from_response(response.status(), response.headers(), None);
                let said = response.message.clone().filter(|m| !m.trim().is_empty());
                Self { envelope: true, message: said.or_else(|| error.message.take()), ..error }
            }
            // The hooks turn every body that cannot decode under an error status into `UnexpectedResponse`, and
            // every operation's only success status is 200, so a payload error here is a 200 whose body is JSON
            // of the wrong shape.
            // progenitor keeps only the body of such an answer, so its headers (the request id) are gone here; the
            // hooks catch most first (`BodyProblem::WrongShape`, see `success_problem`), which keeps them.
            E::InvalidResponsePayload(body, e) => Self::wrong_shape(&HeaderMap::new(), body, e),
            E::UnexpectedResponse(response) => {
                let received = response.extensions().get::<ReceivedBody>();
                let mut error =
                    Self::from_response(response.status(), response.headers(), received.map(|r| r.bytes.clone()));
                // A 201 or 204 where the spec has 200 only: its body's message would be a success text.
                if response.status().is_success() && response.status() != StatusCode::OK {
                    error.message = Some(UNDOCUMENTED_SUCCESS.to_owned());
                    return error;
                }
                match received.and_then(|r| r.problem.as_ref()) {
                    Some(BodyProblem::NotJson(malformed)) if response.status().is_success() => {
                        error.message = Some(format!("response body is not JSON ({})", malformed.reason));
                    }
                    Some(BodyProblem::NotAnEnvelope(reason)) if error.message.is_none() => {
                        error.message = Some(format!("response body is not the service's envelope ({reason})"));
                    }
                    Some(BodyProblem::WrongShape(why)) => {
                        error.message = Some(WRONG_SHAPE.to_owned());
                        // A decode error, as the generated code's payload error would have had.
                        let cause: serde_json::Error = serde::de::Error::custom(why);
                        error.source = Some(Box::new(cause));
                    }
                    Some(BodyProblem::TooLarge) => {
                        error.message = Some(format!(
                            "response body is larger than {} MiB and was not read in full",
                            crate::hooks::MAX_BODY_BYTES >> 20
                        ));
                    }
                    _ => {}
                }
                error
            }
            // The only hook errors are token failures, handed over as text.
            E::Custom(text) => {
                let taken = crate::auth::handover::take_back(&text);
                let kind = if taken.timed_out { ErrorKind::Timeout } else { ErrorKind::Authentication };
                let source = taken.error;
                Self {
                    message: Some(taken.message.to_owned()),
                    source: source.map(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
                    ..Self::new(kind)
                }
            }
        }
    }
}

/// progenitor reports a failed argument conversion as "conversion to `crate :: ReportId` for report_id failed",
/// without the reason; the only reasons our id types have are their documented rules, so name them.
fn readable_conversion_error(message: &str) -> String {
    let message = message.replace("crate :: ", "");
    if message.contains("`ReportId`") || message.contains("`QueryId`") {
        format!(
            "{message}: an id must not be empty, only whitespace, `.` or `..`, start or end with whitespace, or \
             contain `\\` or control characters"
        )
    } else if message.contains("`Timestamp`") {
        format!("{message}: a time is written yyyy-MM-ddTHH:mm:ssZ (UTC), in the years 0001 to 9999")
    } else {
        message
    }
}

impl From<reqwest::Error> for Error {
    fn from(error: reqwest::Error) -> Self {
        let kind = if error.is_timeout() {
            ErrorKind::Timeout
        } else if crate::tls::handshake_refused(&error) {
            ErrorKind::Tls
        } else if error.is_connect() {
            ErrorKind::Connect
        } else {
            ErrorKind::Transport
        };
        // The hooks record the call in the URL's fragment: `status=NNN&request-id=…&attempts=N`, the status when an
        // answer came and its body then broke off or timed out.
        let recorded = |name: &str| -> Option<String> {
            let fragment = error.url()?.fragment()?;
            fragment.split('&').find_map(|field| Some(field.strip_prefix(name)?.strip_prefix('=')?.to_owned()))
        };
        let answered = recorded("status").and_then(|code| StatusCode::from_bytes(code.as_bytes()).ok());
        Self {
            status: error.status().or(answered),
            attempts: recorded("attempts").and_then(|n| n.parse().ok()).unwrap_or(1),
            request_id: recorded("request-id"),
            source: Some(Box::new(error.without_url())),
            ..Self::new(kind)
        }
    }
}

impl From<crate::AuthError> for Error {
    fn from(error: crate::AuthError) -> Self {
        Self { message: Some(error.to_string()), source: Some(Box::new(error)), ..Self::new(ErrorKind::Authentication) }
    }
}

/// For conversions that cannot fail (a [`ReportId`](crate::ReportId) passed where a string could be).
impl From<std::convert::Infallible> for Error {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

/// Kept as the source, so code can downcast to read `what()` and `reason()`.
impl From<ValidationError> for Error {
    fn from(error: ValidationError) -> Self {
        let message = error.to_string();
        Self { source: Some(Box::new(error)), ..Self::invalid_argument(message) }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.status) {
            (ErrorKind::Timeout, Some(status)) => write!(f, "HTTP {status}, then its body timed out")?,
            (ErrorKind::Transport, Some(status)) => write!(f, "HTTP {status}, then its body broke off")?,
            (_, Some(status)) => write!(f, "HTTP {status}")?,
            (ErrorKind::InvalidArgument, _) => f.write_str("invalid argument")?,
            (ErrorKind::Authentication, _) => f.write_str("authentication failed")?,
            (ErrorKind::Connect, _) => f.write_str("could not connect")?,
            (ErrorKind::Tls, _) => f.write_str("TLS handshake refused")?,
            (ErrorKind::Timeout, _) => f.write_str("timed out")?,
            (ErrorKind::Configuration, _) => f.write_str("invalid configuration")?,
            (ErrorKind::ExecutionFailed, _) => f.write_str("execution failed")?,
            (ErrorKind::LocalIo, _) => f.write_str("local I/O error")?,
            (ErrorKind::InvalidResponse, _) => f.write_str("invalid response")?,
            _ => f.write_str("transport error")?,
        }
        match &self.message {
            Some(message) => write!(f, ": {}", OneLine(message))?,
            None if self.status.is_some() && !matches!(self.kind, ErrorKind::Timeout | ErrorKind::Transport) => {
                match self.body.as_ref().map(Bytes::len) {
                    Some(len) => write!(f, ": {len}-byte body without a message")?,
                    None if self.kind == ErrorKind::Service && self.envelope => {
                        f.write_str(": no message in the envelope")?
                    }
                    None => f.write_str(": empty body")?,
                }
            }
            None => {}
        }
        // The cause, flattened into the same line (reqwest's chain ends with the OS error, which is the useful part);
        // skipped where the message already is the cause's text. Not past an `AuthError`: its message is the
        // provider's whole, secret-free account (the Entra credentials name the innermost cause in it), and what
        // lies behind it is for code to inspect, not for a log line.
        let mut source = self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static));
        if let Some(refused) = source.and_then(|cause| cause.downcast_ref::<crate::AuthError>()) {
            // A 401 whose token could not be renewed: why not, once. (A failure to get a token at all, or in time,
            // has the provider's account as its message already.)
            if self.kind == ErrorKind::Service {
                write!(f, "; no fresh token: {}", OneLine(&refused.to_string()))?;
            }
            source = None;
        } else if source.is_some_and(|cause| self.message.as_deref() == Some(&cause.to_string())) {
            source = source.and_then(std::error::Error::source);
        }
        while let Some(cause) = source {
            write!(f, ": {}", OneLine(&cause.to_string()))?;
            source = cause.source();
        }
        match (&self.request_id, self.attempts) {
            (Some(id), 1) => write!(f, " (request id {})", OneLine(id))?,
            (Some(id), n) => write!(f, " (request id {}; after {n} attempts)", OneLine(id))?,
            (None, 1) => {}
            (None, n) => write!(f, " (after {n} attempts)")?,
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("status", &self.status)
            .field("message", &self.message)
            .field("request_id", &self.request_id)
            .field("body_len", &self.body.as_ref().map(Bytes::len))
            .field("attempts", &self.attempts)
            .field("retry_after", &self.retry_after)
            .field("source", &self.source)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Text with line breaks and other control characters shown as spaces, cut at 500 characters.
struct OneLine<'a>(&'a str);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const LIMIT: usize = 500;
        let text = self.0.trim();
        for (i, c) in text.chars().enumerate() {
            if i == LIMIT {
                return f.write_str("…");
            }
            // Unicode's line and paragraph separators end a line for many log viewers and JSON log pipelines.
            let breaks = c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
            fmt::Write::write_char(f, if breaks { ' ' } else { c })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::without_quoted_values;

    #[test]
    fn one_line_has_no_line_breaks_of_any_kind() {
        let text = " first\r\nsecond\u{2028}third\u{2029}fourth\u{85}fifth\tsixth ";
        assert_eq!(super::OneLine(text).to_string(), "first  second third fourth fifth sixth");
    }

    fn cut(json: &str) -> String {
        let error = serde_json::from_str::<crate::types::Execution>(json).expect_err("wrong shape");
        without_quoted_values(error).to_string()
    }

    #[test]
    fn decode_errors_keep_what_went_wrong_and_where_but_no_value() {
        let link = "https://s.example/r.csv?sig=SECRET";
        assert_eq!(
            cut(&format!(r#"{{"executionId":"e1","recurrenceInterval":"{link}"}}"#)),
            "invalid type: string \"…\", expected i32 at line 1 column 77"
        );
        assert_eq!(
            cut(&format!(r#"{{"executionId":"e1","reportGeneratedTime":"{link}"}}"#)),
            "invalid timestamp: the value is not yyyy-MM-ddTHH:mm:ssZ at line 1 column 78"
        );
        // Field names are no values.
        assert_eq!(cut(r#"{"reportId":"r1"}"#), "missing field `executionId` at line 1 column 17");
        assert_eq!(
            cut(r#"{"executionId":"e1","reportId":42}"#),
            "invalid type: integer `…`, expected a string at line 1 column 33"
        );
        // Quotes inside the value: escaped in serde's strings, not in backticks.
        let tricky = r#"{"executionId":"e1","recurrenceInterval":"https://s.example/r?x=\"&sig=SECRET`"}"#;
        assert_eq!(cut(tricky), "invalid type: string \"…\", expected i32 at line 1 column 79");
        let custom = serde::de::Error::custom("refused `https://s.example/r?x=`&sig=SECRET` here, and `more`");
        assert_eq!(without_quoted_values(custom).to_string(), "refused `…`");
        let unpaired = serde::de::Error::custom("refused `https://s.example/r?sig=SECRET");
        assert_eq!(without_quoted_values(unpaired).to_string(), "refused `…");
    }
}
