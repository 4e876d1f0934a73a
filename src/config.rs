// Building a client: which program (or base URL) it talks to, its token source, timeouts and user agent.
// Everything that can be decided once is decided here, so the per-request hooks only copy prepared values.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderValue;

use crate::auth::{AccessToken, TokenCache, TokenProvider, Tokens};
use crate::{Client, Error, RetryPolicy};

/// The two programs that expose the Insights API; each has its own base URL and authentication model.
///
/// Exhaustive on purpose, so a `match` on it needs no catch-all: a third program would bring its own API version
/// and rules, and with them a new major version of this crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Program {
    /// Partner insights (Microsoft AI Cloud Partner Program): `/insights/v1/mpn`, app + user tokens.
    Partner,
    /// Commercial marketplace publisher analytics: `/insights/v1.1/cmp`, app-only tokens.
    Marketplace,
}

impl Program {
    /// The program's base URL on the public cloud.
    pub const fn base_url(self) -> &'static str {
        match self {
            Self::Partner => "https://api.partnercenter.microsoft.com/insights/v1/mpn",
            Self::Marketplace => "https://api.partnercenter.microsoft.com/insights/v1.1/cmp",
        }
    }
}

/// Default time allowed to open a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time allowed for one attempt of a call, from sending to the last byte of the response.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time allowed for one attempt of try-query, which the service itself stops after 100 seconds.
pub const DEFAULT_TRY_QUERY_TIMEOUT: Duration = Duration::from_secs(130);
/// Default time allowed for a whole call, retries and their waits included.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// Configures and builds a [`Client`].
///
/// ```
/// use std::time::Duration;
/// use partner_center_insights::{Client, ClientInfo, Program, StaticToken};
///
/// let client = Client::builder(Program::Marketplace)
///     .token_provider(StaticToken::new("eyJ0eXAi..."))
///     .request_timeout(Duration::from_secs(30))
///     .build()?;
/// assert_eq!(client.baseurl(), "https://api.partnercenter.microsoft.com/insights/v1.1/cmp");
/// # Ok::<(), partner_center_insights::Error>(())
/// ```
#[must_use]
pub struct ClientBuilder {
    base_url: String,
    tokens: Option<Tokens>,
    connect_timeout: Duration,
    request_timeout: Duration,
    operation_timeouts: Vec<(String, Duration)>,
    call_timeout: Duration,
    retry: RetryPolicy,
    user_agent: Option<String>,
    correlation_id: Option<String>,
    http_client: Option<reqwest::Client>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &shown_base_url(&self.base_url))
            .field("token_provider", &self.tokens.as_ref().map(|_| "[set]"))
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("operation_timeouts", &self.operation_timeouts)
            .field("call_timeout", &self.call_timeout)
            .field("retry", &self.retry)
            .field("user_agent", &self.user_agent)
            .field("correlation_id", &self.correlation_id)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts configuring a client for `target`: a [`Program`], or any base URL (a test server, a sovereign
    /// cloud), given with or without a trailing slash.
    ///
    /// This is the way to make a client. The generated `Client::new` and `Client::new_with_client` skip the
    /// builder's checks and settings (TLS set-up, timeouts, no redirects); `Client::new` panics under the default
    /// features, whose reqwest has no crypto provider of its own. A token is still never sent over plain http to
    /// a host other than loopback, however the client was made.
    pub fn builder(target: impl Into<BaseUrl>) -> ClientBuilder {
        ClientBuilder {
            base_url: target.into().0,
            tokens: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            operation_timeouts: vec![("try_query".to_owned(), DEFAULT_TRY_QUERY_TIMEOUT)],
            call_timeout: DEFAULT_CALL_TIMEOUT,
            retry: RetryPolicy::default(),
            user_agent: None,
            correlation_id: None,
            http_client: None,
        }
    }
}

/// Where a client sends its requests: a [`Program`] or a base URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl(String);

impl From<Program> for BaseUrl {
    fn from(program: Program) -> Self {
        Self(program.base_url().to_owned())
    }
}

impl From<&str> for BaseUrl {
    fn from(url: &str) -> Self {
        Self(url.to_owned())
    }
}

impl From<String> for BaseUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

impl From<&String> for BaseUrl {
    fn from(url: &String) -> Self {
        Self(url.clone())
    }
}

impl ClientBuilder {
    /// Gets tokens from `provider`. Tokens with an expiry are cached and refreshed ahead of it (one refresh at a
    /// time; a still-valid token is kept when a refresh fails); tokens without one are asked for before every
    /// request. A [`StaticToken`](crate::StaticToken) (also in an [`AnyTokenProvider`](crate::AnyTokenProvider))
    /// is sent as [`bearer_token`](Self::bearer_token) sends its token, and checked as it is when the client is
    /// built.
    pub fn token_provider(mut self, provider: impl TokenProvider) -> Self {
        let any = &provider as &dyn std::any::Any;
        let erased = any.downcast_ref::<crate::AnyTokenProvider>();
        // A fixed token needs no cache, whose every ask of a provider without expiry is a task and a timer.
        let fixed = any.downcast_ref::<crate::StaticToken>().map(crate::StaticToken::access_token);
        if let Some(fixed) = fixed.or_else(|| erased.and_then(crate::AnyTokenProvider::fixed)) {
            self.tokens = Some(Tokens::Fixed(fixed.clone()));
            return self;
        }
        // An erased provider is asked through its own pointer, not through a second one in front of it.
        let shared = match erased {
            Some(erased) => erased.shared(),
            None => Arc::new(provider),
        };
        self.tokens = Some(Tokens::Cached(TokenCache::new(shared)));
        self
    }

    /// Sends this fixed token with every request (like a [`StaticToken`](crate::StaticToken) provider).
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.tokens = Some(Tokens::Fixed(AccessToken::new(token, None)));
        self
    }

    /// Time allowed to open a connection (default 10 s). Not applied to a client given with
    /// [`http_client`](Self::http_client), which keeps its own.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for one attempt of a call, until the last byte of the response (default 60 s). It is also
    /// the total timeout of the HTTP client built here, so requests sent directly through `Client::client()` have
    /// it too. Downloads are not bound by it as a whole: it bounds the wait for their headers and for each chunk.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Time allowed for one attempt of the operation `operation_id` (`"tryQuery"` or `"try_query"`), instead of
    /// the request timeout. Try-query has 130 s by default, as the service stops the query after 100 s.
    pub fn operation_timeout(mut self, operation_id: &str, timeout: Duration) -> Self {
        self.operation_timeouts.push((crate::naming::snake_case(operation_id), timeout));
        self
    }

    /// Time allowed for a whole call, every attempt and wait included (default 300 s). Getting the access token
    /// before the first attempt is bounded by the same time, separately: a provider that hangs fails the call with
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout).
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// How failed calls are retried (default [`RetryPolicy::default`]; [`RetryPolicy::none`] turns retries off).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Replaces the `User-Agent` (default `partner-center-insights/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Sends this `MS-CorrelationId` with every request, so one job's calls can be found together in Microsoft's
    /// logs (default: a random id per client). Each request also carries its own random `MS-RequestId`.
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Sends requests through this `reqwest::Client` (for proxies, custom roots, shared pools). Its own
    /// connect timeout and redirect policy apply; request timeouts are still set per request, and downloads lift
    /// any total timeout it has (the request timeout bounds each of their waits instead).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Checks the configuration and builds the client.
    ///
    /// A client given neither [`token_provider`](Self::token_provider) nor [`bearer_token`](Self::bearer_token)
    /// sends no `Authorization` header (for a gateway that adds its own); Partner Center answers its calls with 401.
    ///
    /// # Errors
    /// When the base URL is not an absolute http(s) URL, when a token would be sent over plain `http://` to a host
    /// other than loopback, when a [`bearer_token`](Self::bearer_token) (or a [`StaticToken`](crate::StaticToken)
    /// given as the token provider) is empty, contains whitespace or is not a
    /// valid header value, when an operation timeout names no operation, when a timeout is zero (every call would
    /// time out at once), when the user agent is not a valid header value, or when the TLS backend cannot start.
    pub fn build(self) -> Result<Client, Error> {
        let timeouts = [
            ("connect timeout", self.connect_timeout),
            ("request timeout", self.request_timeout),
            ("call timeout", self.call_timeout),
        ];
        let operation_timeouts = self.operation_timeouts.iter().map(|(_, timeout)| ("operation timeout", *timeout));
        if let Some((what, _)) = timeouts.into_iter().chain(operation_timeouts).find(|(_, t)| t.is_zero()) {
            return Err(Error::invalid_argument(format!("{what} is zero: every call would time out at once")));
        }
        let mut tokens = self.tokens;
        let base_url = checked_base_url(&self.base_url, tokens.is_some())?;
        match &mut tokens {
            Some(Tokens::Fixed(token)) if token.header().is_none() => {
                return Err(Error::invalid_argument(
                    "bearer token is empty, contains whitespace or holds characters an HTTP header cannot carry \
                     (give the token alone, without `Bearer `)",
                ));
            }
            Some(Tokens::Cached(cache)) => cache.set_limits(self.call_timeout, self.retry.clone()),
            _ => {}
        }
        let mut attempt_timeouts = Vec::with_capacity(self.operation_timeouts.len());
        for (operation, timeout) in self.operation_timeouts {
            let Ok(index) = crate::spec_tables::OPERATION_IDS.binary_search(&operation.as_str()) else {
                return Err(Error::invalid_argument(format!("operation timeout: there is no operation `{operation}`")));
            };
            attempt_timeouts.push((crate::spec_tables::OPERATION_IDS[index], timeout));
        }
        let user_agent = self
            .user_agent
            .unwrap_or_else(|| concat!("partner-center-insights/", env!("CARGO_PKG_VERSION")).to_owned());
        let user_agent = HeaderValue::from_str(&user_agent)
            .map_err(|_| Error::invalid_argument("user agent is not a valid header value"))?;
        let correlation_id = match self.correlation_id {
            Some(id) => HeaderValue::from_str(&id)
                .map_err(|_| Error::invalid_argument("correlation id is not a valid header value"))?,
            None => crate::hooks::uuid_header(),
        };
        let (http, client_timeout, download_http) = match self.http_client {
            Some(client) => (client, None, None),
            None => {
                let builder = || {
                    // The API never redirects; refusing redirects means a token can never follow one elsewhere.
                    crate::http_client_builder().map(|builder| {
                        builder.connect_timeout(self.connect_timeout).redirect(reqwest::redirect::Policy::none())
                    })
                };
                let built = |client: reqwest::Result<reqwest::Client>| {
                    client.map_err(|e| Error::configuration("could not build the HTTP client", e))
                };
                // The usual attempt timeout, so that most requests need no timeout of their own (which reqwest
                // would store in a freshly allocated extension map on every request).
                let api = crate::tls::direct_if_loopback_http(builder(), &base_url)?.timeout(self.request_timeout);
                // Downloads decode gzip and deflate themselves: reqwest's decoder stops after a gzip stream's first
                // member (a file in several would be saved cut short, as if whole) and ignores what follows it.
                // Storage is another host than the API: proxies apply, except to a loopback link (the emulator's).
                let download = || builder().map(|builder| builder.no_gzip().no_deflate());
                let downloads = DownloadClients {
                    proxied: built(download()?.build())?,
                    direct: built(download()?.no_proxy().build())?,
                };
                (built(api.build())?, Some(self.request_timeout), Some(downloads))
            }
        };
        let state = ClientState(Arc::new(State {
            tokens,
            user_agent,
            correlation_id,
            request_timeout: self.request_timeout,
            client_timeout,
            download_http,
            attempt_timeouts,
            call_timeout: self.call_timeout,
            retry: self.retry,
        }));
        Ok(Client::new_with_client(&base_url, http, state))
    }
}

fn checked_base_url(raw: &str, sends_token: bool) -> Result<String, Error> {
    let url =
        reqwest::Url::parse(raw.trim()).map_err(|e| Error::invalid_argument(format!("base URL is not a URL: {e}")))?;
    // Checked first, and the URL is never echoed whole: its user info or query may hold a secret (a password, a
    // signature). What the messages show is only what was wrong with it.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid_argument("base URL must not contain a user name or password"));
    }
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Error::invalid_argument(format!(
            "base URL must be an absolute http(s) URL, not `{}:`",
            url.scheme()
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid_argument("base URL must not have a query or fragment"));
    }
    if sends_token && url.scheme() == "http" && !is_loopback(&url) {
        return Err(Error::invalid_argument(format!(
            "base URL `{}` is plain http: a bearer token is only sent over http to loopback hosts",
            url.origin().ascii_serialization()
        )));
    }
    // Generated paths start with `/`; a trailing slash on the base would double it.
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// The base URL as `Debug` shows it: without user info, query or fragment, which may hold a secret (a password, a
/// signature). `build` refuses such a URL, but a builder can be printed before that.
fn shown_base_url(raw: &str) -> String {
    let Ok(mut url) = reqwest::Url::parse(raw.trim()) else { return "[not a URL]".to_owned() };
    let (query, fragment) = (url.query().is_some(), url.fragment().is_some());
    if url.has_authority() {
        // Only fails for URLs without a host, which have no user info to remove.
        let _ = url.set_username("");
        let _ = url.set_password(None);
    }
    url.set_query(None);
    url.set_fragment(None);
    // What was removed is marked, since `build` refuses a base URL that has it.
    let mut shown = String::from(url);
    if query {
        shown.push_str("?…");
    }
    if fragment {
        shown.push_str("#…");
    }
    shown
}

pub(crate) fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The HTTP clients the client's own downloads go through: the API's client's settings without its total timeout,
/// and without decoding (the download decodes). One for links elsewhere, through the proxies the environment names,
/// one for plain-http links to a loopback host, which no proxy may see.
pub(crate) struct DownloadClients {
    pub(crate) proxied: reqwest::Client,
    pub(crate) direct: reqwest::Client,
}

/// Per-client settings the generated client carries and its hooks read; built by [`ClientBuilder`] only.
#[derive(Clone)]
pub struct ClientState(Arc<State>);

pub(crate) struct State {
    pub(crate) tokens: Option<Tokens>,
    pub(crate) user_agent: HeaderValue,
    pub(crate) correlation_id: HeaderValue,
    request_timeout: Duration,
    /// The total timeout the HTTP client applies by itself (`None` for a caller's client): an attempt sets its own
    /// only when it needs a different one, and a download lifts it.
    pub(crate) client_timeout: Option<Duration>,
    /// The HTTP clients for downloads (`None` for a caller's client, which downloads go through as it is).
    pub(crate) download_http: Option<DownloadClients>,
    /// Per-operation attempt timeouts; the last setting for an operation wins.
    attempt_timeouts: Vec<(&'static str, Duration)>,
    pub(crate) call_timeout: Duration,
    pub(crate) retry: RetryPolicy,
}

impl ClientState {
    pub(crate) fn get(&self) -> &State {
        &self.0
    }
}

impl State {
    /// The time allowed for one attempt of a call, or for one wait of a download.
    pub(crate) fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    pub(crate) fn attempt_timeout(&self, operation_id: &str) -> Duration {
        let chosen = self.attempt_timeouts.iter().rev().find(|(operation, _)| *operation == operation_id);
        chosen.map_or(self.request_timeout, |(_, timeout)| *timeout)
    }
}

/// The base URL and the settings; not the HTTP client, whose `Debug` shows its default headers in full (a caller's
/// client given with [`ClientBuilder::http_client`] may carry a key in them).
impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("base_url", &self.baseurl).field("state", &self.inner).finish_non_exhaustive()
    }
}

impl fmt::Debug for ClientState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientState")
            .field("token_provider", &self.0.tokens.as_ref().map(|_| "[set]"))
            .field("user_agent", &self.0.user_agent)
            .field("correlation_id", &self.0.correlation_id)
            .field("request_timeout", &self.0.request_timeout)
            .field("attempt_timeouts", &self.0.attempt_timeouts)
            .field("call_timeout", &self.0.call_timeout)
            .field("retry", &self.0.retry)
            .finish()
    }
}
