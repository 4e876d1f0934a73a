// Keeps the current access token and refreshes it ahead of expiry: one refresh at a time however many calls are
// waiting (single-flight), run behind callers while the current token is still good for a while, and a token that
// is still valid keeps being served when a refresh fails; a token endpoint that asked to wait is not asked sooner.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::{AccessToken, AuthError, DynTokenProvider, TokenProvider, UNSENDABLE_TOKEN};
use crate::RetryPolicy;

/// Refresh this long before a token expires…
const REFRESH_AHEAD: Duration = Duration::from_secs(5 * 60);
/// …plus up to this much more, at random, so clients started together do not refresh together.
const REFRESH_JITTER: Duration = Duration::from_secs(60);
/// After a failed refresh, wait this long before trying again (while the cached token is still valid).
const REFRESH_RETRY: Duration = Duration::from_secs(30);
/// A token due for refresh is still handed out, the refresh running behind the calls, until it has this little
/// left (at most half the refresh lead, for short-lived tokens); from then on callers wait for the refresh. Each
/// attempt (a retry too) takes its token from the cache anew and the service checks it when the request arrives,
/// so it must outlast a connection (10 s by default) and a request head, not a whole call: the call timeout (5 min
/// by default) would take up the whole refresh window, and the shortest attempt (500 ms) is less than a connection
/// may take.
const MIN_VALIDITY: Duration = Duration::from_secs(30);
/// A token fetched to replace one the service refused (401), and refused in turn within this long, is not replaced
/// again: the service refuses this client's tokens (a wrong resource or role), and each call would otherwise cost a
/// token request for the same 401.
const REFUSED_AGAIN: Duration = Duration::from_secs(60);
/// The longest a failure's `Retry-After` (Entra's 429 or 503) keeps the provider from being asked again; a hint
/// longer than this is held to it, so no failure is served from memory for long.
const MAX_HELD_OFF: Duration = Duration::from_secs(5 * 60);
/// How long a refusal (a 4xx from the token endpoint that is not throttling: a wrong password or secret, a refresh
/// token revoked) is served from memory: the same credentials would be refused again, and each refused password
/// counts towards Entra's smart lockout of the account, which a batch of calls would otherwise reach at once.
const REFUSAL_HELD: Duration = Duration::from_secs(30);

/// Wraps every provider the client is given (see `ClientBuilder::token_provider`). Tokens without an expiry are
/// not cached: such a provider is asked before every request, as a rotating provider expects, until it hands out a
/// token with an expiry again.
pub(crate) struct TokenCache {
    shared: Arc<Shared>,
    /// Held while the provider is asked, so concurrent callers wait for that one answer instead of asking too (or,
    /// while the current token is still good, get that instead). The ask runs as a task of its own that holds this
    /// lock, so a caller that gives up (a timeout, a dropped future) or does not wait neither cancels it for the
    /// others nor loses its answer (or a rotated refresh token the provider keeps).
    refreshing: Arc<tokio::sync::Mutex<()>>,
    /// How long one ask may take: the client's call timeout.
    ask_limit: Duration,
    /// How often a transient failure is asked again within one ask: the client's retry policy.
    retry: RetryPolicy,
}

/// What an ask still under way needs after its caller may have gone.
struct Shared {
    provider: Arc<dyn DynTokenProvider>,
    current: Mutex<Option<Cached>>,
    /// Set once the provider has returned a token without expiry: there is nothing to cache.
    uncacheable: AtomicBool,
    /// How many answers the provider has given (counted under `refreshing`)…
    asks: AtomicU64,
    /// …and the last ask's error, if it failed with no valid token to fall back on: callers that queued behind
    /// that ask share its answer instead of asking again one after another (each waiting out a failing endpoint).
    failure: Mutex<Option<(u64, AuthError)>>,
    /// A failure whose `Retry-After` asked the client to wait, or a refusal, and until when: callers that come before
    /// then get it again (with the wait that is left) instead of sending the token endpoint a request it asked not to
    /// get, or one it would refuse again. As MSAL does for the first; without it, every call of a batch would ask an
    /// endpoint that is throttling this client, or send a wrong password towards the account's lockout.
    held_off: Mutex<Option<(tokio::time::Instant, AuthError)>>,
    /// Set when the service refused the cached token: the next token stored replaces a refused one.
    refused: AtomicBool,
}

#[derive(Clone)]
struct Cached {
    token: AccessToken,
    /// From here on a refresh is due…
    refresh_at: SystemTime,
    /// …callers get the token without waiting for it up to here (and up to `refresh_at`, when a failed refresh has
    /// postponed the next one past this)…
    wait_from: SystemTime,
    /// …and a refresh that fails still leaves callers this token up to here.
    expires_at: SystemTime,
    /// When it was stored to replace a token the service refused (a paused test clock moves it).
    replaced_refused: Option<tokio::time::Instant>,
}

impl TokenCache {
    pub(crate) fn new(provider: Arc<dyn DynTokenProvider>) -> Self {
        Self {
            shared: Arc::new(Shared {
                provider,
                current: Mutex::new(None),
                uncacheable: AtomicBool::new(false),
                asks: AtomicU64::new(0),
                failure: Mutex::new(None),
                held_off: Mutex::new(None),
                refused: AtomicBool::new(false),
            }),
            refreshing: Arc::new(tokio::sync::Mutex::new(())),
            ask_limit: crate::DEFAULT_CALL_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }

    /// Gives up an ask of the provider after `limit`, and asks again after transient failures as `retry` allows.
    pub(crate) fn set_limits(&mut self, limit: Duration, retry: RetryPolicy) {
        self.ask_limit = limit;
        self.retry = retry;
    }

    /// The cached token if it can be had without waiting: what nearly every call gets, without awaiting. A token
    /// due for refresh but still good for a while is one, and starts the refresh (unless one is under way) in a
    /// task of its own, which the callers after it do not wait for. Called within a runtime.
    pub(crate) fn ready(&self) -> Option<AccessToken> {
        if self.shared.uncacheable.load(Ordering::Relaxed) {
            return None;
        }
        let (token, due) = self.shared.servable(SystemTime::now())?;
        if due {
            self.refresh_behind();
        }
        Some(token)
    }

    /// Starts a refresh that nobody waits for, unless one is under way already.
    fn refresh_behind(&self) {
        let Ok(refreshing) = Arc::clone(&self.refreshing).try_lock_owned() else {
            return;
        };
        // A refresh may have ended between the look at the token and the lock: its token, or its postponement.
        // And a token endpoint that asked to wait is not asked before then, not even behind the callers.
        if self.shared.fresh(SystemTime::now()).is_some() || self.shared.held_off().is_some() {
            return;
        }
        tracing::debug!("token due for refresh; refreshing while the current one stays in use");
        // Its answer is settled in the task: stored, or postponed on failure while the token is valid.
        drop(self.spawn_ask(refreshing));
    }

    /// Asks the provider in a task of its own that holds `refreshing` until the answer is settled.
    fn spawn_ask(
        &self,
        refreshing: tokio::sync::OwnedMutexGuard<()>,
    ) -> tokio::task::JoinHandle<Result<AccessToken, AuthError>> {
        let (shared, limit, retry) = (Arc::clone(&self.shared), self.ask_limit, self.retry.clone());
        tokio::spawn(async move {
            // The provider in a task of its own too: a panic is then a failed ask like any other (postponed while
            // the token is valid, shared with those waiting), not one that each later caller asks again.
            let outcome = ask_in_own_task(Arc::clone(&shared), retry, limit).await;
            let answer = shared.settle(outcome);
            drop(refreshing);
            answer
        })
    }

    /// The cached token, or the answer of an ask of the provider. The ask is given up after the cache's ask limit
    /// (and shared as a failure), so a provider that hangs cannot hold the single-flight lock, and with it every
    /// later call, for good; each caller's own wait is bounded by its caller.
    async fn token_or_ask(&self) -> Result<AccessToken, AuthError> {
        let shared = &self.shared;
        if shared.uncacheable.load(Ordering::Relaxed) {
            return self.ask_uncached().await;
        }
        if let Some(token) = self.ready() {
            return Ok(token);
        }
        // No token good enough to go on with: wait for a refresh, under way or started here.
        let seen = shared.asks.load(Ordering::Acquire);
        let refreshing = Arc::clone(&self.refreshing).lock_owned().await;
        // Whoever held the lock before may have refreshed already, or failed to.
        if let Some(token) = shared.fresh(SystemTime::now()) {
            return Ok(token);
        }
        // Or learned that this provider's tokens have no expiry: asked for on every call, at once, not one caller
        // after another behind the lock (on a cold start, all of them would queue).
        if shared.uncacheable.load(Ordering::Relaxed) {
            drop(refreshing);
            return self.ask_uncached().await;
        }
        if let Some(error) = shared.failed_since(seen) {
            return Err(error);
        }
        if let Some(error) = shared.held_off() {
            // As a failed ask would end: a token that has not expired yet is still better than none.
            return shared.unexpired(SystemTime::now()).ok_or(error);
        }
        self.spawn_ask(refreshing).await.unwrap_or_else(|e| Err(gone(&e)))
    }

    /// Asks a provider whose tokens have no expiry, as on every call (unless it asked to wait or refused).
    async fn ask_uncached(&self) -> Result<AccessToken, AuthError> {
        let shared = &self.shared;
        if let Some(error) = shared.held_off() {
            return Err(error);
        }
        // Asked on every call, and still in a task of its own: a panic is then a failed ask, not the caller's.
        let outcome = ask_in_own_task(Arc::clone(shared), self.retry.clone(), self.ask_limit).await;
        shared.hold_off(outcome.as_ref().err());
        // A token with an expiry again: cached, and the calls after it served from the cache.
        if let Ok(token) = &outcome
            && token.expires_at().is_some()
        {
            shared.store(token, SystemTime::now());
        }
        outcome
    }
}

/// The provider's answer, asked in a task of its own, so a panic in it is a failed ask and not its caller's.
async fn ask_in_own_task(shared: Arc<Shared>, retry: RetryPolicy, limit: Duration) -> Result<AccessToken, AuthError> {
    tokio::spawn(async move { shared.ask(&retry, limit).await }).await.unwrap_or_else(|e| Err(gone(&e)))
}

/// The error for an ask whose task ended without an answer. A panic's message is not repeated: it could hold
/// anything the provider had, a secret included.
fn gone(failed: &tokio::task::JoinError) -> AuthError {
    AuthError::new(if failed.is_panic() { "the token provider panicked" } else { "the token ask was cancelled" })
}

impl Shared {
    /// The provider's answer, asked again after a transient failure as `retry` allows: not when a still-valid token
    /// can be served instead (callers are not held up for a refresh), nor when the wait and a short ask would not
    /// fit in `limit`. Given up at `limit`, with the last failure when there was one: what the endpoint said is
    /// worth more than that time ran out.
    async fn ask(&self, retry: &RetryPolicy, limit: Duration) -> Result<AccessToken, AuthError> {
        let deadline = tokio::time::Instant::now().checked_add(limit);
        let left = || deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(tokio::time::Instant::now()));
        let mut attempt = 1;
        let mut last_failure = None;
        loop {
            let answer = match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, self.provider.token()).await,
                None => Ok(self.provider.token().await),
            };
            let failure = match answer {
                Err(_elapsed) => {
                    return Err(last_failure.unwrap_or_else(|| AuthError::no_token_within(limit)));
                }
                Ok(Err(error)) if error.is_transient() => error,
                Ok(outcome) => return outcome,
            };
            // A hint longer than the policy waits out is the endpoint's answer: its `retry_after` goes to the caller.
            if attempt >= retry.attempts()
                || retry.hint_too_long(failure.retry_after())
                || self.unexpired(SystemTime::now()).is_some()
            {
                return Err(failure);
            }
            let wait = retry.wait(attempt, failure.retry_after());
            if wait.saturating_add(crate::hooks::MIN_ATTEMPT) >= left() {
                return Err(failure);
            }
            tracing::warn!(attempt, wait_ms = wait.as_millis() as u64, error = %failure, "no token; asking again");
            tokio::time::sleep(wait).await;
            last_failure = Some(failure);
            attempt += 1;
        }
    }

    /// The error of an ask answered after `seen` answers, if it failed: the answer to a caller that waited for it.
    fn failed_since(&self, seen: u64) -> Option<AuthError> {
        let failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        failure.as_ref().filter(|(ask, _)| *ask > seen).map(|(_, error)| error.clone())
    }

    fn record(&self, ask: u64, outcome: Option<&AuthError>) {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = outcome.map(|error| (ask, error.clone()));
        self.hold_off(outcome);
    }

    /// Takes in an ask's outcome (`None`: a token came): a failure with a `Retry-After`, or a refusal, holds the
    /// provider off.
    fn hold_off(&self, failure: Option<&AuthError>) {
        let until = failure.and_then(|error| {
            let refused = !error.is_transient() && error.status().is_some_and(|status| status.is_client_error());
            let wait = error.retry_after().or(refused.then_some(REFUSAL_HELD))?.min(MAX_HELD_OFF);
            Some((tokio::time::Instant::now().checked_add(wait)?, error.clone()))
        });
        *self.held_off.lock().unwrap_or_else(|e| e.into_inner()) = until;
    }

    /// The failure that holds the provider off, while it does: with the wait that is left when the endpoint asked
    /// for one, and a refusal saying that it is not asked again yet.
    fn held_off(&self) -> Option<AuthError> {
        let held_off = self.held_off.lock().unwrap_or_else(|e| e.into_inner());
        let (until, error) = held_off.as_ref()?;
        let left = until.checked_duration_since(tokio::time::Instant::now()).filter(|left| !left.is_zero())?;
        tracing::debug!(
            wait_ms = left.as_millis() as u64,
            "the token endpoint refused or asked to wait; not asking yet"
        );
        Some(match error.retry_after() {
            Some(_) => error.clone().with_retry_after(Some(left)),
            None => {
                let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                error.clone().with_note(&format!(" (a refusal repeated: not asked again for {seconds}s)"))
            }
        })
    }

    /// The cached token if callers can have it without waiting, and whether a refresh is due.
    fn servable(&self, now: SystemTime) -> Option<(AccessToken, bool)> {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let cached = current.as_ref()?;
        if now < cached.refresh_at {
            return Some((cached.token.clone(), false));
        }
        (now < cached.wait_from).then(|| (cached.token.clone(), true))
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
            // Nothing to fall back on from now on: an older token must not stop a retry it cannot replace.
            *self.current.lock().unwrap_or_else(|e| e.into_inner()) = None;
            return;
        };
        self.uncacheable.store(false, Ordering::Relaxed);
        let lifetime = expires_at.duration_since(now).unwrap_or_default();
        // Short-lived tokens are refreshed at half-life instead.
        let ahead = (REFRESH_AHEAD + REFRESH_JITTER.mul_f64(fastrand::f64())).min(lifetime / 2);
        // At most half the lead, so a short-lived token too is refreshed behind callers for a while before they wait.
        let margin = MIN_VALIDITY.min(ahead / 2);
        // The flag is read and cleared under the same lock `invalidate` sets it under, so a refusal between the two
        // cannot be lost or carried over to a later token.
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let replaced_refused = self.refused.swap(false, Ordering::AcqRel).then(tokio::time::Instant::now);
        *current = Some(Cached {
            token: token.clone(),
            refresh_at: expires_at - ahead,
            wait_from: expires_at - margin,
            expires_at,
            replaced_refused,
        });
    }

    /// After a failed refresh, the still-valid token is served without asking again for a while, so callers do not
    /// queue behind one failing refresh after another. (A wait the endpoint asked for is `held_off`'s.)
    fn postpone_refresh(&self, now: SystemTime) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cached) = current.as_mut() {
            cached.refresh_at = (now + REFRESH_RETRY).min(cached.expires_at);
        }
    }

    /// Takes in the provider's answer to ask number `ask`: what every caller waiting for it gets.
    fn settle(&self, outcome: Result<AccessToken, AuthError>) -> Result<AccessToken, AuthError> {
        // Numbered when answered: whoever came while it was under way waited for this answer.
        let ask = self.asks.fetch_add(1, Ordering::AcqRel) + 1;
        // A token no request can carry is a failed ask, not one to cache until it is due for refresh.
        let outcome = outcome.and_then(|token| match token.header() {
            Some(_) => Ok(token),
            None => Err(AuthError::new(UNSENDABLE_TOKEN)),
        });
        match outcome {
            Ok(token) => {
                self.store(&token, SystemTime::now());
                self.record(ask, None);
                Ok(token)
            }
            Err(error) => match self.unexpired(SystemTime::now()) {
                Some(still_valid) => {
                    tracing::warn!(error = %error, "token refresh failed; the cached token is still valid and stays in use");
                    self.postpone_refresh(SystemTime::now());
                    // Also for the ask after the token is dropped (a 401) or past its time: not before the wait.
                    self.hold_off(Some(&error));
                    Ok(still_valid)
                }
                None => {
                    self.record(ask, Some(&error));
                    Err(error)
                }
            },
        }
    }
}

impl TokenProvider for TokenCache {
    async fn token(&self) -> Result<AccessToken, AuthError> {
        self.token_or_ask().await
    }

    fn invalidate(&self, rejected: &AccessToken) {
        use secrecy::ExposeSecret;
        let mut current = self.shared.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cached) = current.as_ref()
            && cached.token.secret().expose_secret() == rejected.secret().expose_secret()
        {
            if cached.replaced_refused.is_some_and(|at| at.elapsed() < REFUSED_AGAIN) {
                // Kept: the caller then has no different token to retry with, and the 401 stands.
                tracing::debug!("the token that replaced a refused one is refused too; not asking for another yet");
                return;
            }
            *current = None;
            self.shared.refused.store(true, Ordering::Release);
        }
        drop(current);
        self.shared.provider.invalidate(rejected);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails after a while, counting how often it was asked.
    struct Failing(AtomicU64);

    impl TokenProvider for Failing {
        async fn token(&self) -> Result<AccessToken, AuthError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(200)).await;
            Err(AuthError::new("the token endpoint is down"))
        }
    }

    /// Answers after 200 ms (of the paused clock), counting asks; panics when told to.
    struct Slow(AtomicU64, bool);

    impl TokenProvider for Slow {
        async fn token(&self) -> Result<AccessToken, AuthError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(!self.1, "provider bug");
            Ok(AccessToken::new("slow-token", Some(SystemTime::now() + Duration::from_secs(3600))))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_that_gives_up_does_not_cancel_the_ask_for_the_others() {
        use secrecy::ExposeSecret;
        let provider = Arc::new(Slow(AtomicU64::new(0), false));
        let cache = TokenCache::new(provider.clone());
        let gave_up = tokio::time::timeout(Duration::from_millis(50), TokenProvider::token(&cache)).await;
        assert!(gave_up.is_err(), "the first caller stops waiting a quarter of the way in");
        // The ask went on without it: the next caller gets that answer, and nobody asked twice.
        let token = TokenProvider::token(&cache).await.unwrap();
        assert_eq!(token.secret().expose_secret(), "slow-token");
        assert_eq!(provider.0.load(Ordering::SeqCst), 1);
        assert!(cache.ready().is_some());
    }

    /// Hangs on its first ask (or hands out a token no header can carry), answers later ones at once.
    struct BadFirst(AtomicU64, &'static str);

    impl TokenProvider for BadFirst {
        async fn token(&self) -> Result<AccessToken, AuthError> {
            let expiry = Some(SystemTime::now() + Duration::from_secs(3600));
            if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                if self.1 == "hang" {
                    std::future::pending::<()>().await;
                }
                return Ok(AccessToken::new("line\nbreak", expiry));
            }
            Ok(AccessToken::new("second", expiry))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_ask_that_hangs_is_given_up_at_the_ask_limit_and_the_next_caller_asks_anew() {
        use secrecy::ExposeSecret;
        let provider = Arc::new(BadFirst(AtomicU64::new(0), "hang"));
        let mut cache = TokenCache::new(provider.clone());
        cache.set_limits(Duration::from_secs(5), RetryPolicy::default());
        let error = TokenProvider::token(&cache).await.unwrap_err();
        assert_eq!(error.to_string(), "no access token within 5s");
        let token = TokenProvider::token(&cache).await.expect("the lock was let go with the hung ask");
        assert_eq!((token.secret().expose_secret(), provider.0.load(Ordering::SeqCst)), ("second", 2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_no_header_can_carry_is_a_failed_ask_not_a_cached_token() {
        use secrecy::ExposeSecret;
        let provider = Arc::new(BadFirst(AtomicU64::new(0), "unsendable"));
        let cache = TokenCache::new(provider.clone());
        let error = TokenProvider::token(&cache).await.unwrap_err();
        assert!(error.to_string().contains("cannot carry"), "{error}");
        assert!(cache.ready().is_none());
        let token = TokenProvider::token(&cache).await.unwrap();
        assert_eq!(token.secret().expose_secret(), "second");
    }

    #[tokio::test(start_paused = true)]
    async fn a_provider_that_panics_is_an_error_for_its_callers() {
        let provider = Arc::new(Slow(AtomicU64::new(0), true));
        let cache = TokenCache::new(provider.clone());
        let error = TokenProvider::token(&cache).await.unwrap_err();
        assert_eq!(error.to_string(), "the token provider panicked");
        // The lock it held is free again: the next caller asks anew.
        assert!(TokenProvider::token(&cache).await.is_err());
        assert_eq!(provider.0.load(Ordering::SeqCst), 2);
    }

    /// Hands out a token without an expiry (so it is asked on every call), then panics.
    struct NoExpiryThenPanics(AtomicU64);

    impl TokenProvider for NoExpiryThenPanics {
        async fn token(&self) -> Result<AccessToken, AuthError> {
            assert!(self.0.fetch_add(1, Ordering::SeqCst) == 0, "provider bug");
            Ok(AccessToken::new("no-expiry", None))
        }
    }

    #[tokio::test]
    async fn a_provider_asked_on_every_call_that_panics_is_an_error_too() {
        let provider = Arc::new(NoExpiryThenPanics(AtomicU64::new(0)));
        let cache = TokenCache::new(provider.clone());
        assert!(TokenProvider::token(&cache).await.is_ok());
        assert!(cache.ready().is_none(), "a token without an expiry is not cached");
        let error = TokenProvider::token(&cache).await.unwrap_err();
        assert_eq!(error.to_string(), "the token provider panicked");
        assert_eq!(provider.0.load(Ordering::SeqCst), 2);
    }

    /// Hands out a token without an expiry first, then tokens that expire in an hour; counts asks.
    struct NoExpiryFirst(AtomicU64);

    impl TokenProvider for NoExpiryFirst {
        async fn token(&self) -> Result<AccessToken, AuthError> {
            let expiry =
                (self.0.fetch_add(1, Ordering::SeqCst) > 0).then(|| SystemTime::now() + Duration::from_secs(3600));
            Ok(AccessToken::new("token", expiry))
        }
    }

    #[tokio::test]
    async fn a_provider_that_gives_expiries_again_is_cached_again() {
        let provider = Arc::new(NoExpiryFirst(AtomicU64::new(0)));
        let cache = TokenCache::new(provider.clone());
        assert!(TokenProvider::token(&cache).await.unwrap().expires_at().is_none());
        assert!(cache.ready().is_none(), "a token without an expiry is not cached");
        assert!(TokenProvider::token(&cache).await.unwrap().expires_at().is_some());
        for _ in 0..5 {
            assert!(TokenProvider::token(&cache).await.unwrap().expires_at().is_some());
        }
        assert!(cache.ready().is_some());
        assert_eq!(provider.0.load(Ordering::SeqCst), 2, "asked again only for the token without an expiry");
    }

    /// Fails as a throttling token endpoint does: transiently, asking to wait `1`, counting asks; or answers, once
    /// told to.
    struct Throttled(AtomicU64, Duration, std::sync::atomic::AtomicBool);

    impl TokenProvider for Throttled {
        async fn token(&self) -> Result<AccessToken, AuthError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            if self.2.load(Ordering::SeqCst) {
                return Ok(AccessToken::new("after-the-wait", Some(SystemTime::now() + Duration::from_secs(3600))));
            }
            Err(AuthError::new("token endpoint answered 429 Too Many Requests")
                .transient()
                .with_retry_after(Some(self.1)))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_that_asks_to_wait_is_served_again_until_the_wait_is_over() {
        let provider = Arc::new(Throttled(AtomicU64::new(0), Duration::from_secs(60), false.into()));
        let mut cache = TokenCache::new(provider.clone());
        cache.set_limits(Duration::from_secs(300), RetryPolicy::none());
        let first = TokenProvider::token(&cache).await.unwrap_err();
        assert_eq!(first.retry_after(), Some(Duration::from_secs(60)));
        tokio::time::advance(Duration::from_secs(20)).await;
        let again = TokenProvider::token(&cache).await.unwrap_err();
        assert_eq!((again.to_string(), again.is_transient()), (first.to_string(), true));
        assert_eq!(again.retry_after(), Some(Duration::from_secs(40)), "the wait that is left");
        assert_eq!(provider.0.load(Ordering::SeqCst), 1, "not asked while held off");
        // Once the wait is over, it is asked again; a token then ends the hold.
        tokio::time::advance(Duration::from_secs(41)).await;
        provider.2.store(true, Ordering::SeqCst);
        assert!(TokenProvider::token(&cache).await.is_ok());
        assert_eq!(provider.0.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_wait_holds_the_provider_off_for_five_minutes_at_most_and_a_failure_without_one_not_at_all() {
        let provider = Arc::new(Throttled(AtomicU64::new(0), Duration::from_secs(86_400), false.into()));
        let mut cache = TokenCache::new(provider.clone());
        cache.set_limits(Duration::from_secs(300), RetryPolicy::none());
        assert!(TokenProvider::token(&cache).await.is_err());
        tokio::time::advance(MAX_HELD_OFF - Duration::from_secs(1)).await;
        assert_eq!(TokenProvider::token(&cache).await.unwrap_err().retry_after(), Some(Duration::from_secs(1)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(TokenProvider::token(&cache).await.is_err());
        assert_eq!(provider.0.load(Ordering::SeqCst), 2);

        let failing = Arc::new(Failing(AtomicU64::new(0)));
        let cache = TokenCache::new(failing.clone());
        for _ in 0..3 {
            assert!(TokenProvider::token(&cache).await.is_err());
        }
        assert_eq!(failing.0.load(Ordering::SeqCst), 3, "without a Retry-After every call asks");
    }

    /// Answers after 200 ms with a token without expiry, counting the asks under way at once.
    #[derive(Default)]
    struct SlowNoExpiry {
        in_flight: AtomicU64,
        most_at_once: AtomicU64,
    }

    impl TokenProvider for SlowNoExpiry {
        async fn token(&self) -> Result<AccessToken, AuthError> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_at_once.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(200)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(AccessToken::new("no-expiry", None))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn callers_of_a_provider_without_expiry_do_not_queue_on_a_cold_start() {
        let provider = Arc::new(SlowNoExpiry::default());
        let cache = Arc::new(TokenCache::new(provider.clone()));
        let started = tokio::time::Instant::now();
        assert!(twenty_callers(&cache).await.iter().all(Result::is_ok));
        // The first ask is alone (nothing says yet that the tokens have no expiry); the other nineteen then ask at
        // once, not one after another (twenty asks of 200 ms in a row would take 4 s of the paused clock).
        assert!(provider.most_at_once.load(Ordering::SeqCst) > 1);
        assert!(started.elapsed() <= Duration::from_millis(400), "{:?}", started.elapsed());
    }

    /// The answers of twenty callers asking at once, each in a task of its own.
    async fn twenty_callers(cache: &Arc<TokenCache>) -> Vec<Result<AccessToken, AuthError>> {
        let callers: Vec<_> = (0..20)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { TokenProvider::token(&*cache).await })
            })
            .collect();
        let mut answers = Vec::with_capacity(callers.len());
        for caller in callers {
            answers.push(caller.await.unwrap());
        }
        answers
    }

    // On a paused clock the provider's sleep ends only once every caller is waiting: no timing assumption.
    #[tokio::test(start_paused = true)]
    async fn callers_queued_behind_a_failed_ask_share_its_error_and_later_callers_ask_again() {
        let provider = Arc::new(Failing(AtomicU64::new(0)));
        let cache = Arc::new(TokenCache::new(provider.clone()));
        for answer in twenty_callers(&cache).await {
            assert_eq!(answer.unwrap_err().to_string(), "the token endpoint is down");
        }
        // One ask for the whole cold start, not twenty in a row.
        assert_eq!(provider.0.load(Ordering::SeqCst), 1);
        // A failure is an answer for those who waited for it, not a verdict to cache.
        assert!(TokenProvider::token(&*cache).await.is_err());
        assert_eq!(provider.0.load(Ordering::SeqCst), 2);
    }

    /// Answers from a script: `Err(transient?)` or a token valid for `Ok(lifetime)`; counts asks.
    struct Scripted {
        asked: AtomicU64,
        script: Vec<Result<Duration, bool>>,
        hint: Option<Duration>,
        /// How long each answer takes.
        delay: Duration,
    }

    impl Scripted {
        fn new(script: Vec<Result<Duration, bool>>, hint: Option<Duration>) -> Arc<Self> {
            Arc::new(Self { asked: AtomicU64::new(0), script, hint, delay: Duration::ZERO })
        }

        fn asked(&self) -> u64 {
            self.asked.load(Ordering::SeqCst)
        }
    }

    impl TokenProvider for Scripted {
        async fn token(&self) -> Result<AccessToken, AuthError> {
            let n = self.asked.fetch_add(1, Ordering::SeqCst) as usize;
            tokio::time::sleep(self.delay).await;
            match self.script[n.min(self.script.len() - 1)] {
                Ok(lifetime) => Ok(AccessToken::new(format!("token-{n}"), Some(SystemTime::now() + lifetime))),
                Err(true) => Err(AuthError::new("busy").transient().with_retry_after(self.hint)),
                Err(false) => Err(AuthError::new("refused")),
            }
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    fn quick() -> RetryPolicy {
        RetryPolicy::default().initial_backoff(Duration::from_millis(10))
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_asked_again_as_the_policy_allows_and_refusals_are_not() {
        use secrecy::ExposeSecret;
        let provider = Scripted::new(vec![Err(true), Err(true), Ok(HOUR)], None);
        let mut cache = TokenCache::new(provider.clone());
        cache.set_limits(Duration::from_secs(30), quick());
        let token = TokenProvider::token(&cache).await.expect("the third ask succeeds");
        assert_eq!((token.secret().expose_secret(), provider.asked()), ("token-2", 3));

        let provider = Scripted::new(vec![Err(false), Ok(HOUR)], None);
        let mut cache = TokenCache::new(provider.clone());
        cache.set_limits(Duration::from_secs(30), quick());
        assert_eq!(TokenProvider::token(&cache).await.unwrap_err().to_string(), "refused");
        assert_eq!(provider.asked(), 1, "a refusal is not asked again");

        let provider = Scripted::new(vec![Err(true)], None);
        let mut cache = TokenCache::new(provider.clone());
        cache.set_limits(Duration::from_secs(30), quick().max_attempts(3));
        let error = TokenProvider::token(&cache).await.unwrap_err();
        assert!(error.is_transient() && error.to_string() == "busy", "{error}");
        assert_eq!(provider.asked(), 3, "as many asks as the policy's attempts");

        let provider = Scripted::new(vec![Err(true), Ok(HOUR)], None);
        let mut cache = TokenCache::new(provider.clone());
        cache.set_limits(Duration::from_secs(30), RetryPolicy::none());
        assert!(TokenProvider::token(&cache).await.is_err());
        assert_eq!(provider.asked(), 1, "no retries: one ask");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hint_that_outlasts_the_ask_limit_ends_the_ask_with_the_failure_itself() {
        let provider = Scripted::new(vec![Err(true), Ok(HOUR)], Some(Duration::from_secs(20)));
        let mut cache = TokenCache::new(provider.clone());
        cache.set_limits(Duration::from_secs(5), quick());
        let started = tokio::time::Instant::now();
        let error = TokenProvider::token(&cache).await.unwrap_err();
        assert_eq!(error.to_string(), "busy", "the endpoint's answer, not a timeout");
        assert_eq!(provider.asked(), 1);
        assert!(started.elapsed() < Duration::from_secs(5), "no wait that could not end in time");
        // A hint that fits is honoured: the second ask comes after it.
        let provider = Scripted::new(vec![Err(true), Ok(HOUR)], Some(Duration::from_secs(2)));
        let mut cache = TokenCache::new(provider.clone());
        cache.set_limits(Duration::from_secs(5), quick());
        let started = tokio::time::Instant::now();
        assert!(TokenProvider::token(&cache).await.is_ok());
        assert!(started.elapsed() >= Duration::from_secs(2), "{:?}", started.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_that_replaced_a_refused_one_is_not_replaced_again_for_a_minute() {
        let provider = Gated::new();
        let cache = TokenCache::new(provider.clone());
        use secrecy::ExposeSecret;
        let secret = |token: AccessToken| token.secret().expose_secret().to_owned();
        let first = TokenProvider::token(&cache).await.unwrap();
        // A refusal of a token that replaced nothing drops it, however new.
        TokenProvider::invalidate(&cache, &first);
        let second = TokenProvider::token(&cache).await.unwrap();
        assert_eq!((secret(second.clone()), provider.asked()), ("token-1".to_owned(), 2));
        // Its replacement refused too: kept, so the caller's 401 stands instead of costing a token request per call.
        tokio::time::advance(REFUSED_AGAIN - Duration::from_secs(1)).await;
        TokenProvider::invalidate(&cache, &second);
        assert_eq!((secret(TokenProvider::token(&cache).await.unwrap()), provider.asked()), ("token-1".to_owned(), 2));
        // After a minute, the next refusal is believed again (the service may have been fixed meanwhile).
        tokio::time::advance(Duration::from_secs(1)).await;
        TokenProvider::invalidate(&cache, &second);
        assert_eq!((secret(TokenProvider::token(&cache).await.unwrap()), provider.asked()), ("token-2".to_owned(), 3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refresh_that_fails_for_now_is_not_asked_again_while_the_token_is_valid() {
        use secrecy::ExposeSecret;
        // A token, then a busy provider.
        let provider = Scripted::new(vec![Ok(Duration::from_secs(120)), Err(true), Ok(HOUR)], None);
        let mut cache = TokenCache::new(provider.clone());
        cache.set_limits(Duration::from_secs(30), quick());
        TokenProvider::token(&cache).await.unwrap();
        // Valid for two more minutes, but too close to expiry to go on without the refresh: the caller waits.
        let now = SystemTime::now();
        set_times(&cache, now, now, now + Duration::from_secs(120));
        let token = TokenProvider::token(&cache).await.expect("the still-valid token");
        assert_eq!((token.secret().expose_secret(), provider.asked()), ("token-0", 2), "one refresh ask, not three");
    }

    /// Refreshed 5 to 6 minutes before expiry, jittered, or at half-life when that comes sooner; callers wait for
    /// the refresh only in the last 30 s (or the last half of a shorter lead).
    #[test]
    fn refresh_times_follow_the_documented_lead() {
        let cache = TokenCache::new(Gated::new());
        let now = SystemTime::now();
        // How long before expiry the refresh is due, and callers wait.
        let leads = |lifetime: Duration| {
            let expires_at = now + lifetime;
            cache.shared.store(&AccessToken::new("t", Some(expires_at)), now);
            let current = cache.shared.current.lock().unwrap();
            let cached = current.as_ref().expect("cached");
            let before = |time: SystemTime| expires_at.duration_since(time).unwrap();
            (before(cached.refresh_at), before(cached.wait_from))
        };
        let minutes = |m: u64| Duration::from_secs(m * 60);
        let mut refresh_leads = Vec::new();
        for _ in 0..200 {
            let (refresh, wait) = leads(HOUR);
            assert!((minutes(5)..=minutes(6)).contains(&refresh), "{refresh:?}");
            assert_eq!(wait, Duration::from_secs(30));
            refresh_leads.push(refresh);
        }
        let spread = refresh_leads.iter().max().unwrap().saturating_sub(*refresh_leads.iter().min().unwrap());
        assert!(spread > Duration::from_secs(30), "jittered, so clients started together spread out: {spread:?}");
        assert_eq!(leads(minutes(10)), (minutes(5), Duration::from_secs(30)));
        assert_eq!(leads(minutes(2)), (minutes(1), Duration::from_secs(30)));
        assert_eq!(leads(Duration::from_secs(40)), (Duration::from_secs(20), Duration::from_secs(10)));
    }

    /// Moves the cached token's refresh, wait and expiry times (`SystemTime` does not follow a paused clock).
    fn set_times(cache: &TokenCache, refresh_at: SystemTime, wait_from: SystemTime, expires_at: SystemTime) {
        let mut current = cache.shared.current.lock().unwrap();
        let cached = current.as_mut().expect("a cached token");
        (cached.refresh_at, cached.wait_from, cached.expires_at) = (refresh_at, wait_from, expires_at);
    }

    /// Due for refresh, and good for an hour yet: callers need not wait.
    fn due(cache: &TokenCache) {
        let now = SystemTime::now();
        set_times(cache, now, now + HOUR, now + HOUR);
    }

    /// Hands out `token-N` (N counting asks from 0), valid for an hour, once its gate is open; or fails, or
    /// panics, as told.
    struct Gated {
        asked: AtomicU64,
        open: tokio::sync::watch::Sender<bool>,
        answer: Mutex<&'static str>,
    }

    impl Gated {
        fn new() -> Arc<Self> {
            Arc::new(Self {
                asked: AtomicU64::new(0),
                open: tokio::sync::watch::Sender::new(true),
                answer: Mutex::new("token"),
            })
        }

        fn asked(&self) -> u64 {
            self.asked.load(Ordering::SeqCst)
        }

        fn gate(&self, open: bool) {
            self.open.send_replace(open);
        }

        fn answer(&self, answer: &'static str) {
            *self.answer.lock().unwrap() = answer;
        }
    }

    impl TokenProvider for Gated {
        async fn token(&self) -> Result<AccessToken, AuthError> {
            let n = self.asked.fetch_add(1, Ordering::SeqCst);
            self.open.subscribe().wait_for(|open| *open).await.unwrap();
            let answer = *self.answer.lock().unwrap();
            match answer {
                "refuse" => Err(AuthError::new("refused")),
                "throttle" => {
                    Err(AuthError::new("throttled").transient().with_retry_after(Some(Duration::from_secs(120))))
                }
                "panic" => panic!("provider bug"),
                _ => Ok(AccessToken::new(format!("token-{n}"), Some(SystemTime::now() + HOUR))),
            }
        }
    }

    fn secrets(answers: Vec<Result<AccessToken, AuthError>>) -> Vec<String> {
        use secrecy::ExposeSecret;
        answers
            .into_iter()
            .map(|a| a.map_or_else(|e| e.to_string(), |t| t.secret().expose_secret().to_owned()))
            .collect()
    }

    /// Waits until no ask is under way: the one in flight has been settled.
    async fn settled(cache: &TokenCache) {
        drop(cache.refreshing.lock().await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_due_for_refresh_is_served_at_once_while_one_refresh_runs_behind_the_callers() {
        let provider = Gated::new();
        let cache = Arc::new(TokenCache::new(provider.clone()));
        TokenProvider::token(&*cache).await.unwrap();
        provider.gate(false);
        due(&cache);
        let started = tokio::time::Instant::now();
        let answers = twenty_callers(&cache).await;
        // On a paused clock: had any caller waited for the blocked refresh, time would have moved (to its limit).
        assert_eq!(started.elapsed(), Duration::ZERO, "nobody waited");
        assert_eq!(secrets(answers), vec!["token-0"; 20]);
        assert!(cache.ready().is_some(), "the hot path serves it too");
        tokio::task::yield_now().await;
        assert!(cache.refreshing.try_lock().is_err(), "the refresh is still under way");
        assert_eq!(provider.asked(), 2, "one refresh for all the callers");

        provider.gate(true);
        settled(&cache).await;
        assert_eq!(secrets(twenty_callers(&cache).await), vec!["token-1"; 20]);
        assert_eq!(provider.asked(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refresh_behind_the_callers_that_fails_keeps_the_token_and_is_postponed() {
        let provider = Gated::new();
        let cache = Arc::new(TokenCache::new(provider.clone()));
        TokenProvider::token(&*cache).await.unwrap();
        for failure in ["refuse", "panic"] {
            provider.answer(failure);
            due(&cache);
            let asked = provider.asked();
            assert_eq!(secrets(twenty_callers(&cache).await), vec!["token-0"; 20]);
            settled(&cache).await;
            assert_eq!(provider.asked(), asked + 1, "{failure}: one ask");
            // The failure was nobody's answer: later callers still get the valid token, and do not ask again.
            assert_eq!(secrets(twenty_callers(&cache).await), vec!["token-0"; 20], "{failure}");
            settled(&cache).await;
            assert_eq!(provider.asked(), asked + 1, "{failure}: postponed, not asked again");
            let current = cache.shared.current.lock().unwrap().clone().unwrap();
            assert!(current.refresh_at > SystemTime::now(), "{failure}: postponed");
        }
        // Once the postponement is over, the next refresh goes ahead.
        provider.answer("token");
        due(&cache);
        TokenProvider::token(&*cache).await.unwrap();
        settled(&cache).await;
        assert_eq!(secrets(vec![TokenProvider::token(&*cache).await]), ["token-3"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refresh_told_to_wait_is_not_asked_again_before_then_not_even_after_a_401() {
        let provider = Gated::new();
        let mut cache = TokenCache::new(provider.clone());
        cache.set_limits(Duration::from_secs(300), RetryPolicy::none());
        let cache = Arc::new(cache);
        let token = TokenProvider::token(&*cache).await.unwrap();
        provider.answer("throttle");
        due(&cache);
        assert_eq!(secrets(vec![TokenProvider::token(&*cache).await]), ["token-0"]);
        settled(&cache).await;
        assert_eq!(provider.asked(), 2, "the refresh behind the caller was refused with a wait of 120 s");
        // Past the usual postponement (30 s), within the wait: the token, and no refresh behind the callers.
        tokio::time::advance(Duration::from_secs(60)).await;
        due(&cache);
        assert_eq!(secrets(vec![TokenProvider::token(&*cache).await]), ["token-0"]);
        settled(&cache).await;
        assert_eq!(provider.asked(), 2, "not asked within the wait");
        // Too close to its expiry to go on with, but not expired: still the token, as a failed ask would end.
        let now = SystemTime::now();
        set_times(&cache, now, now, now + Duration::from_secs(10));
        assert_eq!(secrets(vec![TokenProvider::token(&*cache).await]), ["token-0"]);
        // The service refuses it (a 401): no fresh one is asked for within the wait, and the failure says why.
        TokenProvider::invalidate(&*cache, &token);
        let error = TokenProvider::token(&*cache).await.unwrap_err();
        assert_eq!((error.to_string(), error.retry_after()), ("throttled".to_owned(), Some(Duration::from_secs(60))));
        assert_eq!(provider.asked(), 2);
        // Once the wait is over, it is asked again.
        tokio::time::advance(Duration::from_secs(60)).await;
        provider.answer("token");
        assert_eq!(secrets(vec![TokenProvider::token(&*cache).await]), ["token-2"]);
    }

    /// Hands out a token without an expiry (so it is asked on every call), then fails as a throttling endpoint does.
    struct NoExpiryThenThrottled(AtomicU64);

    impl TokenProvider for NoExpiryThenThrottled {
        async fn token(&self) -> Result<AccessToken, AuthError> {
            if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                return Ok(AccessToken::new("no-expiry", None));
            }
            Err(AuthError::new("throttled").transient().with_retry_after(Some(Duration::from_secs(60))))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_provider_asked_on_every_call_is_held_off_too() {
        let provider = Arc::new(NoExpiryThenThrottled(AtomicU64::new(0)));
        let mut cache = TokenCache::new(provider.clone());
        cache.set_limits(Duration::from_secs(300), RetryPolicy::none());
        assert!(TokenProvider::token(&cache).await.is_ok());
        assert!(TokenProvider::token(&cache).await.is_err());
        tokio::time::advance(Duration::from_secs(30)).await;
        let error = TokenProvider::token(&cache).await.unwrap_err();
        assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
        assert_eq!(provider.0.load(Ordering::SeqCst), 2, "not asked within the wait");
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(TokenProvider::token(&cache).await.is_err());
        assert_eq!(provider.0.load(Ordering::SeqCst), 3);
    }

    /// Refuses every ask, as a token endpoint refuses a wrong password (400, not transient).
    struct Refusing(AtomicU64);

    impl TokenProvider for Refusing {
        async fn token(&self) -> Result<AccessToken, AuthError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(AuthError::new("AADSTS50126: invalid username or password").with_status(http::StatusCode::BAD_REQUEST))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_served_from_memory_for_a_while_then_asked_again() {
        let provider = Arc::new(Refusing(AtomicU64::new(0)));
        let mut cache = TokenCache::new(provider.clone());
        cache.set_limits(Duration::from_secs(300), RetryPolicy::default());
        for _ in 0..5 {
            let error = TokenProvider::token(&cache).await.unwrap_err();
            assert!(error.to_string().contains("AADSTS50126") && !error.is_transient(), "{error}");
        }
        assert_eq!(provider.0.load(Ordering::SeqCst), 1, "a refusal is not retried, nor asked again at once");
        tokio::time::advance(REFUSAL_HELD).await;
        assert!(TokenProvider::token(&cache).await.is_err());
        assert_eq!(provider.0.load(Ordering::SeqCst), 2, "asked again once the hold is over");
    }

    #[tokio::test(start_paused = true)]
    async fn callers_without_a_token_good_enough_wait_for_the_refresh_and_share_its_answer() {
        let provider = Gated::new();
        let cache = Arc::new(TokenCache::new(provider.clone()));
        TokenProvider::token(&*cache).await.unwrap();
        let now = SystemTime::now();
        // Expired; valid for a few seconds yet, too few to go on with; expired, with a refusal to share.
        let cases = [
            (now - Duration::from_secs(1), "token", "token-1"),
            (now + Duration::from_secs(5), "token", "token-2"),
            (now, "refuse", "refused"),
        ];
        for (asked, (expires_at, answer, expected)) in (2..).zip(cases) {
            set_times(&cache, now.min(expires_at), now.min(expires_at), expires_at);
            provider.answer(answer);
            provider.gate(false);
            let waiting = {
                let cache = cache.clone();
                tokio::spawn(async move { twenty_callers(&cache).await })
            };
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert!(!waiting.is_finished(), "{expected}: the callers wait for the refresh");
            assert_eq!(provider.asked(), asked, "{expected}: one ask for them all");
            provider.gate(true);
            assert_eq!(secrets(waiting.await.unwrap()), vec![expected; 20]);
            assert_eq!(provider.asked(), asked);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_ask_cut_short_by_the_limit_fails_with_the_last_answer_not_a_timeout() {
        // Each answer takes 3 s: busy at 3 s, a 1 s wait, and the second ask is cut at the 5 s limit.
        let provider = Arc::new(Scripted {
            asked: AtomicU64::new(0),
            script: vec![Err(true), Ok(HOUR)],
            hint: Some(Duration::from_secs(1)),
            delay: Duration::from_secs(3),
        });
        let mut cache = TokenCache::new(provider.clone());
        cache.set_limits(Duration::from_secs(5), quick());
        let error = TokenProvider::token(&cache).await.unwrap_err();
        assert_eq!((error.to_string().as_str(), provider.asked()), ("busy", 2));
    }

    #[tokio::test(start_paused = true)]
    async fn callers_queued_behind_a_retrying_ask_share_it() {
        let provider = Scripted::new(vec![Err(true)], None);
        let mut cache = TokenCache::new(provider.clone());
        cache.set_limits(Duration::from_secs(30), quick().max_attempts(3));
        for answer in twenty_callers(&Arc::new(cache)).await {
            assert_eq!(answer.unwrap_err().to_string(), "busy");
        }
        assert_eq!(provider.asked(), 3, "one ask with its retries for everyone, not one each");
    }
}
