// Where access tokens come from: the `TokenProvider` trait the client asks before every request, the token type
// that keeps the secret out of logs, and the simplest provider, a fixed token.

mod cache;
mod static_token;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

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
    secret: SecretString,
    expires_at: Option<SystemTime>,
}

impl AccessToken {
    /// Wraps a bearer token that expires at `expires_at` (`None`: unknown or never).
    pub fn new(token: impl Into<String>, expires_at: Option<SystemTime>) -> Self {
        Self { secret: SecretString::from(token.into()), expires_at }
    }

    /// The token; call [`ExposeSecret::expose_secret`] on it to read it.
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    /// When the token stops being valid, if known.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken").field("secret", &"[redacted]").field("expires_at", &self.expires_at).finish()
    }
}

/// Why no token could be had. The message must never contain a secret; the built-in providers guarantee it.
#[derive(Debug)]
pub struct AuthError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl AuthError {
    /// An error with a message (which must not contain a secret).
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), source: None }
    }

    /// An error with a message and the error that caused it.
    pub fn with_source(message: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self { message: message.into(), source: Some(Box::new(source)) }
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

/// A source of access tokens, asked before every request, so a provider may rotate or refresh them.
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
