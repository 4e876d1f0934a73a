// Where access tokens come from: the `TokenProvider` trait asked before every request, the token type that keeps
// the secret out of logs, the error providers report, the cache in front of them, a fixed token, and Entra ID.

mod any_provider;
mod cache;
pub mod entra;
pub(crate) mod handover;
mod static_token;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

pub use any_provider::AnyTokenProvider;
pub(crate) use cache::TokenCache;
pub use secrecy::{ExposeSecret, SecretString};
pub use static_token::StaticToken;

/// An access token for `https://api.partnercenter.microsoft.com`, with its expiry when known.
///
/// `Debug` never shows the token itself.
///
/// ```
/// use partner_center_insights::AccessToken;
/// let token = AccessToken::new("eyJ0eXAi.hunter2", None);
/// assert!(!format!("{token:?}").contains("hunter2"));
/// ```
#[derive(Clone)]
pub struct AccessToken {
    // Shared, and with its header built once: a token is handed to every request.
    secret: Arc<SecretString>,
    /// `None`: the token is empty, contains whitespace or holds characters a header cannot carry, and is never sent.
    header: Option<reqwest::header::HeaderValue>,
    expires_at: Option<SystemTime>,
}

impl AccessToken {
    /// Wraps a bearer token that expires at `expires_at` (`None`: unknown or never).
    ///
    /// Whitespace around the token is dropped (a token read from a file keeps its line break; no token contains
    /// whitespace). A token that is empty, contains whitespace (say, `Bearer ` pasted in front of it), or holds
    /// characters an HTTP header cannot carry, is kept but never sent:
    /// a call that would send it fails before any request, with
    /// [`ErrorKind::Authentication`](crate::ErrorKind::Authentication) (or
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) from
    /// [`ClientBuilder::build`](crate::ClientBuilder::build) for a fixed token).
    pub fn new(token: impl Into<String>, expires_at: Option<SystemTime>) -> Self {
        let mut token = token.into();
        let trimmed = token.trim();
        if trimmed.len() != token.len() {
            token = trimmed.to_owned();
        }
        // No token contains whitespace inside; one that does was most likely pasted with its `Bearer ` in front.
        let header = match reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")) {
            Ok(mut header) if !token.is_empty() && !token.contains(char::is_whitespace) => {
                header.set_sensitive(true);
                Some(header)
            }
            _ => None,
        };
        Self { secret: Arc::new(SecretString::from(token)), header, expires_at }
    }

    /// The token; call [`ExposeSecret::expose_secret`] on it to read it.
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    /// When the token stops being valid, if known.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// The `Authorization` header value, marked sensitive; `None` for a token that cannot be sent.
    pub(crate) fn header(&self) -> Option<&reqwest::header::HeaderValue> {
        self.header.as_ref()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken").field("secret", &"[redacted]").field("expires_at", &self.expires_at).finish()
    }
}

/// Why no token could be had. Neither the message nor the source may contain a secret (an [`Error`](crate::Error)'s
/// `Display` shows the message, its `Debug` both); the built-in providers guarantee it.
///
/// When a token endpoint answered, the error also carries what it said: the HTTP [`status`](Self::status), the
/// OAuth [`error`](Self::oauth_error) code, Entra's `AADSTS` [`error codes`](Self::error_codes) and the
/// [`correlation id`](Self::correlation_id) to quote to Microsoft support.
///
/// Cloning is cheap: callers that were waiting for the same failed token request each get a copy of its error.
#[derive(Clone, Debug)]
pub struct AuthError {
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    transient: bool,
    /// No token came within the call's time limit: the call failed by timing out, not by being refused.
    timed_out: bool,
    /// Boxed so that a `Result<_, AuthError>` stays small on the success path.
    answer: Option<Box<TokenEndpointAnswer>>,
}

/// What a token endpoint said when it refused.
#[derive(Clone, Debug, Default)]
struct TokenEndpointAnswer {
    status: Option<http::StatusCode>,
    oauth_error: Option<String>,
    error_codes: Vec<u32>,
    correlation_id: Option<String>,
    trace_id: Option<String>,
    retry_after: Option<std::time::Duration>,
}

impl AuthError {
    /// An error with a message (which must not contain a secret).
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), source: None, transient: false, timed_out: false, answer: None }
    }

    /// No token came within `limit` (a slow provider, or retries of a failing one that ran out of time).
    pub(crate) fn no_token_within(limit: std::time::Duration) -> Self {
        Self { timed_out: true, ..Self::new(format!("{TOKEN_TIMEOUT} {limit:?}")).transient() }
    }

    /// Whether this is [`no_token_within`](Self::no_token_within)'s error.
    pub(crate) fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// An error with a message and the error that caused it.
    pub fn with_source(message: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self { source: Some(Arc::new(source)), ..Self::new(message) }
    }

    /// Marks the failure as transient: asking again a little later may succeed (the provider's service could not
    /// be reached, timed out, or was busy). The client asks a transient failure again, as its
    /// [`RetryPolicy`](crate::RetryPolicy) allows, before the call fails; the Entra credentials mark theirs.
    ///
    /// ```
    /// use partner_center_insights::AuthError;
    /// let busy = AuthError::new("the vault answered 503").transient();
    /// assert!(busy.is_transient() && !AuthError::new("no such secret").is_transient());
    /// ```
    pub fn transient(mut self) -> Self {
        self.transient = true;
        self
    }

    /// Whether asking again later may succeed (see [`transient`](Self::transient)). A refusal, such as a wrong
    /// secret or an expired refresh token, is not transient.
    pub fn is_transient(&self) -> bool {
        self.transient
    }

    /// How long the token endpoint asked to be left alone (`Retry-After` on a 429 or 503), if it said.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.answer.as_ref().and_then(|a| a.retry_after)
    }

    /// The HTTP status the token endpoint answered with, when it answered.
    pub fn status(&self) -> Option<http::StatusCode> {
        self.answer.as_ref().and_then(|a| a.status)
    }

    /// The OAuth `error` code the token endpoint gave (`invalid_client`, `invalid_grant`, ...), if any.
    pub fn oauth_error(&self) -> Option<&str> {
        self.answer.as_ref().and_then(|a| a.oauth_error.as_deref())
    }

    /// Entra's numeric `AADSTS` codes (`error_codes`; `7000215` means an invalid client secret), if any.
    pub fn error_codes(&self) -> &[u32] {
        self.answer.as_ref().map_or(&[], |a| &a.error_codes)
    }

    /// The first `AADSTS` code, which names the failure (see [`error_codes`](Self::error_codes)).
    pub fn aadsts_code(&self) -> Option<u32> {
        self.error_codes().first().copied()
    }

    /// The correlation id of the failed token request, to quote to Microsoft support.
    pub fn correlation_id(&self) -> Option<&str> {
        self.answer.as_ref().and_then(|a| a.correlation_id.as_deref())
    }

    /// The token endpoint's trace id (its `x-ms-request-id`), if it gave one.
    pub fn trace_id(&self) -> Option<&str> {
        self.answer.as_ref().and_then(|a| a.trace_id.as_deref())
    }

    fn answer_mut(&mut self) -> &mut TokenEndpointAnswer {
        self.answer.get_or_insert_default()
    }

    /// The same error, its message followed by `note` (what this client did with it).
    pub(crate) fn with_note(mut self, note: &str) -> Self {
        self.message.push_str(note);
        self
    }

    pub(crate) fn with_status(mut self, status: http::StatusCode) -> Self {
        self.answer_mut().status = Some(status);
        self
    }

    pub(crate) fn with_oauth_error(mut self, error: Option<String>, codes: Vec<u32>) -> Self {
        let answer = self.answer_mut();
        answer.oauth_error = error;
        answer.error_codes = codes;
        self
    }

    pub(crate) fn with_retry_after(mut self, hint: Option<std::time::Duration>) -> Self {
        if hint.is_some() {
            self.answer_mut().retry_after = hint;
        }
        self
    }

    pub(crate) fn with_ids(mut self, correlation_id: Option<String>, trace_id: Option<String>) -> Self {
        let answer = self.answer_mut();
        answer.correlation_id = correlation_id;
        answer.trace_id = trace_id;
        self
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A source of access tokens, asked before every request, so a provider may rotate or refresh them. Not usable as
/// `dyn TokenProvider` (its `token` returns `impl Future`): [`AnyTokenProvider`] erases a provider's type instead.
///
/// ```
/// use partner_center_insights::{AccessToken, AuthError, TokenProvider};
///
/// struct FromEnvironment;
///
/// impl TokenProvider for FromEnvironment {
///     async fn token(&self) -> Result<AccessToken, AuthError> {
///         let token = std::env::var("PARTNER_CENTER_TOKEN").map_err(|_| AuthError::new("PARTNER_CENTER_TOKEN is not set"))?;
///         Ok(AccessToken::new(token, None))
///     }
/// }
/// ```
pub trait TokenProvider: Send + Sync + 'static {
    /// A token that is valid now.
    fn token(&self) -> impl Future<Output = Result<AccessToken, AuthError>> + Send;

    /// The service rejected `token` (HTTP 401): a caching provider should stop handing it out.
    fn invalidate(&self, token: &AccessToken) {
        let _ = token;
    }
}

impl<P: TokenProvider> TokenProvider for Arc<P> {
    fn token(&self) -> impl Future<Output = Result<AccessToken, AuthError>> + Send {
        (**self).token()
    }

    fn invalidate(&self, token: &AccessToken) {
        (**self).invalidate(token);
    }
}

/// Where a client's tokens come from. A fixed token needs no future, allocation or lock per request; any other
/// provider is asked through its cache, called directly rather than through a boxed future.
pub(crate) enum Tokens {
    Fixed(AccessToken),
    Cached(TokenCache),
}

impl Tokens {
    /// A token, or an error once `limit` has passed: a provider that hangs must not hold a call forever.
    pub(crate) async fn token_within(&self, limit: std::time::Duration) -> Result<AccessToken, AuthError> {
        match self {
            Self::Fixed(token) => Ok(token.clone()),
            // The usual cache hit needs no timer (a runtime handle and a timer entry per call).
            Self::Cached(cache) => match cache.ready() {
                Some(token) => Ok(token),
                None => tokio::time::timeout(limit, TokenProvider::token(cache))
                    .await
                    .unwrap_or_else(|_| Err(AuthError::no_token_within(limit))),
            },
        }
    }

    pub(crate) fn invalidate(&self, rejected: &AccessToken) {
        if let Self::Cached(cache) = self {
            TokenProvider::invalidate(cache, rejected);
        }
    }
}

/// How the message of a token wait that ran out of time begins.
const TOKEN_TIMEOUT: &str = "no access token within";

/// Why a call with a token that cannot be sent stops before sending.
pub(crate) const UNSENDABLE_TOKEN: &str = "the access token is empty, contains whitespace or holds characters an \
                                          HTTP header cannot carry; no request was sent";

type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<AccessToken, AuthError>> + Send + 'a>>;

/// Object-safe form of [`TokenProvider`], so the client can hold any provider behind one pointer.
pub(crate) trait DynTokenProvider: Send + Sync {
    fn token(&self) -> TokenFuture<'_>;
    fn invalidate(&self, token: &AccessToken);
}

impl<P: TokenProvider> DynTokenProvider for P {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(TokenProvider::token(self))
    }

    fn invalidate(&self, token: &AccessToken) {
        TokenProvider::invalidate(self, token);
    }
}
