// Keeps the current access token and refreshes it ahead of expiry: one refresh at a time however many calls are
// waiting (single-flight), and a token that is still valid keeps being served when a refresh fails.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::{AccessToken, AuthError, DynTokenProvider, TokenProvider};

/// Refresh this long before a token expires…
const REFRESH_AHEAD: Duration = Duration::from_secs(5 * 60);
/// …plus up to this much more, at random, so clients started together do not refresh together.
const REFRESH_JITTER: Duration = Duration::from_secs(60);
/// After a failed refresh, wait this long before trying again (while the cached token is still valid).
const REFRESH_RETRY: Duration = Duration::from_secs(30);

/// Wraps every provider the client is given (see `ClientBuilder::token_provider`). Tokens without an expiry are
/// not cached: such a provider is asked before every request, as a rotating provider expects.
pub(crate) struct TokenCache {
    provider: Arc<dyn DynTokenProvider>,
    current: Mutex<Option<Cached>>,
    /// Held while the provider is asked, so concurrent callers wait for that one answer instead of asking too.
    refreshing: tokio::sync::Mutex<()>,
    /// Set once the provider has returned a token without expiry: there is nothing to cache.
    uncacheable: AtomicBool,
}

#[derive(Clone)]
struct Cached {
    token: AccessToken,
    refresh_at: SystemTime,
    expires_at: SystemTime,
}

impl TokenCache {
    pub(crate) fn new(provider: Arc<dyn DynTokenProvider>) -> Self {
        Self {
            provider,
            current: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            uncacheable: AtomicBool::new(false),
        }
    }

    /// The cached token if it does not need refreshing yet.
    fn fresh(&self, now: SystemTime) -> Option<AccessToken> {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        current.as_ref().filter(|c| now < c.refresh_at).map(|c| c.token.clone())
    }

    /// The cached token if it has not expired, due for refresh or not.
    fn unexpired(&self, now: SystemTime) -> Option<AccessToken> {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        current.as_ref().filter(|c| now < c.expires_at).map(|c| c.token.clone())
    }

    fn store(&self, token: &AccessToken, now: SystemTime) {
        let Some(expires_at) = token.expires_at() else {
            self.uncacheable.store(true, Ordering::Relaxed);
            return;
        };
        let lifetime = expires_at.duration_since(now).unwrap_or_default();
        // Short-lived tokens are refreshed at half-life instead.
        let ahead = (REFRESH_AHEAD + REFRESH_JITTER.mul_f64(fastrand::f64())).min(lifetime / 2);
        let cached = Cached { token: token.clone(), refresh_at: expires_at - ahead, expires_at };
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(cached);
    }
}

impl TokenCache {
    /// After a failed refresh, the still-valid token is served without asking again for a while, so callers do not
    /// queue behind one failing refresh after another.
    fn postpone_refresh(&self, now: SystemTime) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cached) = current.as_mut() {
            cached.refresh_at = (now + REFRESH_RETRY).min(cached.expires_at);
        }
    }
}

impl TokenProvider for TokenCache {
    async fn token(&self) -> Result<AccessToken, AuthError> {
        if self.uncacheable.load(Ordering::Relaxed) {
            return self.provider.token().await;
        }
        if let Some(token) = self.fresh(SystemTime::now()) {
            return Ok(token);
        }
        let _refreshing = self.refreshing.lock().await;
        // Whoever held the lock before may have refreshed already.
        if let Some(token) = self.fresh(SystemTime::now()) {
            return Ok(token);
        }
        match self.provider.token().await {
            Ok(token) => {
                self.store(&token, SystemTime::now());
                Ok(token)
            }
            Err(error) => match self.unexpired(SystemTime::now()) {
                Some(still_valid) => {
                    tracing::warn!(error = %error, "token refresh failed; the cached token is still valid and stays in use");
                    self.postpone_refresh(SystemTime::now());
                    Ok(still_valid)
                }
                None => Err(error),
            },
        }
    }

    fn invalidate(&self, rejected: &AccessToken) {
        use secrecy::ExposeSecret;
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|c| c.token.secret().expose_secret() == rejected.secret().expose_secret()) {
            *current = None;
        }
        drop(current);
        self.provider.invalidate(rejected);
    }
}
