// Microsoft Entra ID (Azure AD) credentials: which cloud and endpoint version to ask, tenant and input checks,
// and the settings every credential builder shares. Each flow lives in its own file; the HTTP exchange in `endpoint`.

//! Microsoft Entra ID (Azure AD) credentials that get Partner Center tokens with one form POST each.
//!
//! | Type | Grant | For |
//! |---|---|---|
//! | [`ClientCredentials`] | `client_credentials` | app-only: commercial marketplace analytics (`Program::Marketplace`) |
//! | [`RefreshTokenCredential`] | `refresh_token` | app + user via the Secure Application Model: partner insights |
//! | [`PasswordCredential`] | `password` | app + user without MFA: legacy and test tenants only |
//!
//! Every [`token`](crate::TokenProvider::token) call posts to the token endpoint once: these types do not cache.
//! A client built with [`ClientBuilder::token_provider`](crate::ClientBuilder::token_provider) does: it keeps the
//! token until a few minutes before it expires, refreshes it once however many calls are waiting, and keeps using
//! a still-valid token when a refresh fails.
//!
//! By default they use the v2 endpoint, `{authority}/{tenant}/oauth2/v2.0/token`, with
//! `scope=https://api.partnercenter.microsoft.com/.default` on the public cloud. [`EndpointVersion::v1`] selects
//! `{authority}/{tenant}/oauth2/token` with `resource=https://api.partnercenter.microsoft.com`, the form the
//! Partner Center documentation shows, and [`Authority`] selects a sovereign cloud or a test server.
//!
//! ```no_run
//! use partner_center_insights::entra::{Authority, ClientCredentials, EndpointVersion};
//! use partner_center_insights::{Client, Program};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let credential = ClientCredentials::builder(
//!     "contoso.onmicrosoft.com",
//!     "6f1c7c1e-2a4b-4c3d-9e8f-0a1b2c3d4e5f",
//!     std::env::var("PARTNER_CENTER_CLIENT_SECRET")?,
//! )
//! .authority(Authority::PUBLIC_CLOUD)
//! .endpoint_version(EndpointVersion::v1())
//! .build()?;
//! let client = Client::builder(Program::Marketplace).token_provider(credential).build()?;
//! let reports = client.get_reports().send().await?;
//! # Ok(()) }
//! ```

mod client_credentials;
mod endpoint;
mod password;
mod refresh_token;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub use client_credentials::{ClientCredentials, ClientCredentialsBuilder};
pub use password::{PasswordCredential, PasswordCredentialBuilder};
pub use refresh_token::{RefreshTokenCredential, RefreshTokenCredentialBuilder};

use super::AuthError;

/// The v1 `resource` of the Partner Center API.
pub const PARTNER_CENTER_RESOURCE: &str = "https://api.partnercenter.microsoft.com";
/// The v2 `scope` that asks for every Partner Center permission the application was granted.
pub const PARTNER_CENTER_DEFAULT_SCOPE: &str = "https://api.partnercenter.microsoft.com/.default";
/// Default time allowed for one token request, from sending to the last byte of the answer.
pub const DEFAULT_TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The Entra ID host that issues tokens (the "authority"): a national cloud or, for tests, any server.
///
/// Only `https://` is accepted, except for loopback hosts, so that secrets never travel in clear text.
///
/// ```
/// use partner_center_insights::entra::Authority;
///
/// assert_eq!(Authority::default(), Authority::PUBLIC_CLOUD);
/// assert_eq!(Authority::parse("https://login.microsoftonline.us/")?, Authority::US_GOVERNMENT);
/// assert!(Authority::parse("http://127.0.0.1:8080").is_ok());
/// assert!(Authority::parse("http://login.example.com").is_err());
/// # Ok::<(), partner_center_insights::AuthError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Authority(Cow<'static, str>);

impl Authority {
    /// The global Azure cloud, `https://login.microsoftonline.com` (the default).
    pub const PUBLIC_CLOUD: Self = Self(Cow::Borrowed("https://login.microsoftonline.com"));
    /// Azure US Government, `https://login.microsoftonline.us`.
    pub const US_GOVERNMENT: Self = Self(Cow::Borrowed("https://login.microsoftonline.us"));
    /// Azure operated by 21Vianet (China), `https://login.chinacloudapi.cn`.
    pub const CHINA: Self = Self(Cow::Borrowed("https://login.chinacloudapi.cn"));

    /// Any authority URL: `https://` host with an optional path prefix, or `http://` on a loopback host.
    ///
    /// # Errors
    /// When `url` is not an absolute URL, is plain `http://` to a host other than loopback, carries credentials,
    /// a query or a fragment, or already names a token endpoint (`.../oauth2/...`).
    pub fn parse(url: &str) -> Result<Self, AuthError> {
        // The URL is never echoed whole, as for a base URL: its user info or query may hold a secret, and even one
        // that does not parse may (a password before a bad port). Messages show only what was wrong with it.
        let parsed = url::Url::parse(url.trim()).map_err(|e| AuthError::new(format!("authority is not a URL: {e}")))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(AuthError::new("authority URL must not contain a user name or password"));
        }
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(AuthError::new(format!(
                "authority must be an absolute https URL, not `{}:`",
                shown(parsed.scheme())
            )));
        }
        let origin = parsed.origin().ascii_serialization();
        if parsed.scheme() == "http" && !crate::config::is_loopback(&parsed) {
            return Err(AuthError::new(format!(
                "authority `{origin}` is plain http: secrets are only sent over http to loopback hosts; use https"
            )));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(AuthError::new("authority must not have a query or fragment"));
        }
        if parsed.path_segments().is_some_and(|mut segments| segments.any(|s| s.eq_ignore_ascii_case("oauth2"))) {
            return Err(AuthError::new(format!(
                "authority `{origin}/…` names a token endpoint (`…/oauth2/…`); give only the host, like \
                 https://login.microsoftonline.com"
            )));
        }
        // MSAL's authorities end with the tenant (`…/contoso.onmicrosoft.com`, `…/common`); here the tenant is the
        // credential's own argument, and one in the authority too would end up in the path twice.
        if let Some(last) = parsed.path_segments().and_then(|mut segments| segments.rfind(|s| !s.is_empty()))
            && check_tenant(last).is_ok()
        {
            return Err(AuthError::new(format!(
                "authority `{origin}/…` ends with a tenant (`{}`); give only the host, like \
                 https://login.microsoftonline.com, and the tenant to the credential",
                shown(last)
            )));
        }
        // The tenant and endpoint path are appended with `/`; a trailing slash here would double it.
        Ok(Self(Cow::Owned(parsed.as_str().trim_end_matches('/').to_owned())))
    }

    /// The authority URL, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Authority {
    fn default() -> Self {
        Self::PUBLIC_CLOUD
    }
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Authority {
    type Err = AuthError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Self::parse(url)
    }
}

/// Which token endpoint to ask, with what it needs to know about the API the token is for.
///
/// ```
/// use partner_center_insights::entra::EndpointVersion;
///
/// assert_eq!(EndpointVersion::default(), EndpointVersion::v2());
/// assert_eq!(
///     EndpointVersion::v2(),
///     EndpointVersion::V2 { scope: "https://api.partnercenter.microsoft.com/.default".into() },
/// );
/// assert_eq!(EndpointVersion::v1(), EndpointVersion::V1 { resource: "https://api.partnercenter.microsoft.com".into() });
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndpointVersion {
    /// Azure AD v1: `POST {authority}/{tenant}/oauth2/token` with `resource=...`, as the Partner Center
    /// documentation shows. It answers `expires_in` as a string.
    V1 {
        /// The API the token is for ([`PARTNER_CENTER_RESOURCE`] by default).
        resource: String,
    },
    /// Microsoft identity platform v2: `POST {authority}/{tenant}/oauth2/v2.0/token` with `scope=...`.
    V2 {
        /// Space-separated scopes ([`PARTNER_CENTER_DEFAULT_SCOPE`] by default).
        scope: String,
    },
}

impl EndpointVersion {
    /// The v1 endpoint for the Partner Center API.
    pub fn v1() -> Self {
        Self::V1 { resource: PARTNER_CENTER_RESOURCE.to_owned() }
    }

    /// The v1 endpoint for another `resource` (a sovereign cloud's Partner Center, say).
    pub fn v1_with_resource(resource: impl Into<String>) -> Self {
        Self::V1 { resource: resource.into() }
    }

    /// The v2 endpoint with the Partner Center `.default` scope.
    pub fn v2() -> Self {
        Self::V2 { scope: PARTNER_CENTER_DEFAULT_SCOPE.to_owned() }
    }

    /// The v2 endpoint with other space-separated scopes, such as
    /// `https://api.partnercenter.microsoft.com/user_impersonation offline_access`.
    pub fn v2_with_scope(scope: impl Into<String>) -> Self {
        Self::V2 { scope: scope.into() }
    }

    /// The endpoint's path below `{authority}/{tenant}`.
    fn path(&self) -> &'static str {
        match self {
            Self::V1 { .. } => "oauth2/token",
            Self::V2 { .. } => "oauth2/v2.0/token",
        }
    }

    /// The form field that names what the token is for: `resource` on v1, `scope` on v2.
    fn audience_field(&self) -> (&'static str, &str) {
        match self {
            Self::V1 { resource } => ("resource", resource),
            Self::V2 { scope } => ("scope", scope),
        }
    }

    fn check(&self) -> Result<(), AuthError> {
        let (field, value) = self.audience_field();
        if value.trim().is_empty() {
            Err(AuthError::new(format!("the token request's {field} is empty")))
        } else {
            Ok(())
        }
    }
}

impl Default for EndpointVersion {
    fn default() -> Self {
        Self::v2()
    }
}

/// The settings every credential builder shares: where to ask and how.
#[derive(Clone)]
struct EndpointOptions {
    authority: Authority,
    version: EndpointVersion,
    http_client: Option<reqwest::Client>,
    connect_timeout: Duration,
    request_timeout: Duration,
}

// By hand: a `reqwest::Client`'s `Debug` prints its default headers, where a proxy's key may be.
impl fmt::Debug for EndpointOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointOptions")
            .field("authority", &self.authority)
            .field("version", &self.version)
            .field("http_client", &self.http_client.as_ref().map(|_| "[set]"))
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl Default for EndpointOptions {
    fn default() -> Self {
        Self {
            authority: Authority::default(),
            version: EndpointVersion::default(),
            http_client: None,
            connect_timeout: crate::DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_TOKEN_REQUEST_TIMEOUT,
        }
    }
}

/// The builder methods every credential shares; expects a field `endpoint: EndpointOptions`.
macro_rules! endpoint_builder_methods {
    () => {
        /// Asks this authority (default [`Authority::PUBLIC_CLOUD`](crate::entra::Authority::PUBLIC_CLOUD)).
        pub fn authority(mut self, authority: crate::entra::Authority) -> Self {
            self.endpoint.authority = authority;
            self
        }

        /// Asks this endpoint version (default [`EndpointVersion::v2`](crate::entra::EndpointVersion::v2) with
        /// the Partner Center `.default` scope).
        pub fn endpoint_version(mut self, version: crate::entra::EndpointVersion) -> Self {
            self.endpoint.version = version;
            self
        }

        /// Sends token requests through this `reqwest::Client` (for proxies or custom roots). Its own connect
        /// timeout and redirect policy apply; disable redirects on it so a secret can never follow one.
        pub fn http_client(mut self, client: reqwest::Client) -> Self {
            self.endpoint.http_client = Some(client);
            self
        }

        /// Time allowed to open a connection (default 10 s); not applied to a client given with
        /// [`http_client`](Self::http_client).
        pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.endpoint.connect_timeout = timeout;
            self
        }

        /// Time allowed for one token request, until the last byte of the answer (default 30 s).
        pub fn request_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.endpoint.request_timeout = timeout;
            self
        }
    };
}
use endpoint_builder_methods;

/// Checks a tenant: a GUID, a verified domain such as `contoso.onmicrosoft.com`, or one of the multi-tenant
/// aliases `common`, `organizations`, `consumers`. It becomes a URL path segment, so nothing else may pass.
fn check_tenant(tenant: &str) -> Result<(), AuthError> {
    const HINT: &str = "use the tenant GUID, a domain like contoso.onmicrosoft.com, or common/organizations/consumers";
    // Not quoted: a tenant that is none of these may be a secret given in its place (the three arguments are all
    // strings), and shows in the token endpoint's URL, so it must not pass either.
    let invalid = |why: &str| Err(AuthError::new(format!("tenant id {why}{NOT_REPEATED}: {HINT}")));
    if tenant.is_empty() {
        return Err(AuthError::new(format!("tenant id is empty: {HINT}")));
    }
    // Not quoted from here on: a tenant with such characters may be a secret given in its place (the three
    // arguments are all strings, and Entra secrets always hold a `~`).
    if let Some(place) = whitespace_in(tenant) {
        return Err(AuthError::new(format!("tenant id has whitespace {place}{NOT_REPEATED}: {HINT}")));
    }
    if let Some(bad) = tenant.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.')) {
        let bad = bad.escape_default();
        return Err(AuthError::new(format!("tenant id contains `{bad}`, which is not allowed{NOT_REPEATED}: {HINT}")));
    }
    if ["common", "organizations", "consumers"].iter().any(|alias| tenant.eq_ignore_ascii_case(alias))
        || is_guid(tenant)
    {
        return Ok(());
    }
    if tenant.len() > 253 {
        return invalid("is longer than a domain name can be");
    }
    let labels: Vec<&str> = tenant.split('.').collect();
    if labels.len() < 2 {
        return invalid("is neither a GUID nor a domain name");
    }
    if labels.iter().any(|label| label.is_empty()) {
        return invalid("has an empty domain label (a leading, trailing or doubled `.`)");
    }
    if labels.iter().any(|label| label.len() > 63 || label.starts_with('-') || label.ends_with('-')) {
        return invalid("has a domain label that is too long or starts or ends with `-`");
    }
    // A domain's last label is letters (`.com`, `.onmicrosoft`); `Winter.2024` is more likely a password.
    if labels.last().is_some_and(|top| top.len() < 2 || !top.bytes().all(|b| b.is_ascii_alphabetic())) {
        return invalid("is a domain name whose last label is not letters");
    }
    Ok(())
}

fn is_guid(text: &str) -> bool {
    text.len() == 36
        && text
            .char_indices()
            .all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { c == '-' } else { c.is_ascii_hexdigit() })
}

/// Checks a client id: sent as a form field, so any text is safe, but an empty or padded one is a mistake, and one
/// with a `~` is a client secret given in its place.
fn check_client_id(client_id: &str) -> Result<(), AuthError> {
    let why = match whitespace_in(client_id) {
        _ if client_id.is_empty() => "is empty".to_owned(),
        Some(place) => format!("has whitespace {place}{NOT_REPEATED}"),
        // Entra's client secrets have held a `~` since 2019; application ids never do.
        None if client_id.contains('~') => format!("has a `~`, as client secrets do{NOT_REPEATED}"),
        None => return Ok(()),
    };
    Err(AuthError::new(format!("client id {why}: use the application (client) id")))
}

/// Whether a client id may be a secret given in the wrong place, and so is removed from Entra's errors (which quote
/// it): not an application id (a GUID), and as long as Entra's secrets are (34–44 characters). A short one is left,
/// as removing it would blank out ordinary words too.
pub(super) fn may_be_a_secret(client_id: &str) -> bool {
    !is_guid(client_id) && client_id.len() >= 16
}

/// A tenant as a builder's `Debug` shows it: one `check_tenant` takes (a GUID, an alias, or a domain name whose last
/// label is letters); any other, which the build will refuse, may be a secret given in its place.
pub(super) fn shown_tenant(tenant: &str) -> &str {
    if check_tenant(tenant).is_ok() { tenant } else { "[not a tenant id: not shown]" }
}

/// A user name as `Debug` shows it: one shaped like a user principal name (`name@domain`, the domain as
/// `shown_tenant` shows it) is shown; any other may be the password given in its place.
pub(super) fn shown_username(username: &str) -> &str {
    match username.split_once('@') {
        Some((name, domain)) if !name.is_empty() && whitespace_in(name).is_none() && check_tenant(domain).is_ok() => {
            username
        }
        _ => "[not a user principal name: not shown]",
    }
}

/// A client id as `Debug` shows it: an application id (a GUID) is no secret; any other may be one.
pub(super) fn shown_client_id(client_id: &str) -> &str {
    if is_guid(client_id) { client_id } else { "[not a GUID: not shown]" }
}

/// Why a rejected input is not quoted in its error: it may be a secret (a password, a client secret) given in the
/// wrong argument.
pub(super) const NOT_REPEATED: &str = " (not repeated here, in case it is a secret given in the wrong place)";

/// Where `text` has whitespace or control characters, if it has any: at its start, at its end, or inside.
pub(super) fn whitespace_in(text: &str) -> Option<&'static str> {
    let space = |c: char| c.is_whitespace() || c.is_control();
    if text.starts_with(space) {
        Some("at its start")
    } else if text.ends_with(space) {
        Some("at its end")
    } else {
        text.contains(space).then_some("inside")
    }
}

/// `secret` without surrounding whitespace, checked to be given at all (it is never shown): a client secret or
/// refresh token read from a file or an `.env` line keeps its line break, and Entra would answer "invalid secret"
/// without saying why. Neither ever contains whitespace; passwords may, and go through `check_secret` as given.
fn trimmed_secret(secret: secrecy::SecretString, what: &str) -> Result<secrecy::SecretString, AuthError> {
    use secrecy::ExposeSecret;
    let text = secret.expose_secret();
    let secret = if text.trim().len() == text.len() { secret } else { secrecy::SecretString::from(text.trim()) };
    check_secret(&secret, what)?;
    Ok(secret)
}

/// Checks that a secret was given at all (it is never shown).
fn check_secret(secret: &secrecy::SecretString, what: &str) -> Result<(), AuthError> {
    use secrecy::ExposeSecret;
    if secret.expose_secret().trim().is_empty() { Err(AuthError::new(format!("the {what} is empty"))) } else { Ok(()) }
}

/// User input quoted in an error: escaped onto one line and cut short, so a message stays readable.
fn shown(input: &str) -> String {
    const LIMIT: usize = 80;
    let mut shown: String = input.chars().take(LIMIT).flat_map(char::escape_debug).collect();
    if input.chars().nth(LIMIT).is_some() {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_that_pass() {
        for tenant in [
            "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "72F988BF-86F1-41AF-91AB-2D7CD011DB47",
            "contoso.onmicrosoft.com",
            "login.contoso-partner.co.uk",
            "common",
            "Organizations",
            "consumers",
        ] {
            assert!(check_tenant(tenant).is_ok(), "{tenant}");
        }
    }

    #[test]
    fn tenants_that_fail() {
        for tenant in [
            "",
            " ",
            "contoso.onmicrosoft.com ",
            "a/b",
            "a?b",
            "a#b",
            "a%2Fb",
            "..",
            "contoso..com",
            ".contoso.com",
            "contoso.com.",
            "contoso",
            "-contoso.com",
            "72f988bf_86f1",
            "ünïcode.com",
            "a\nb.com",
        ] {
            assert!(check_tenant(tenant).is_err(), "{tenant:?}");
        }
    }

    #[test]
    fn authority_is_normalized() {
        assert_eq!(Authority::parse("https://login.microsoftonline.com/").unwrap(), Authority::PUBLIC_CLOUD);
        assert_eq!(Authority::parse("http://localhost:1234/prefix/").unwrap().as_str(), "http://localhost:1234/prefix");
        assert!(Authority::parse("https://login.microsoftonline.com/contoso/oauth2/v2.0/token").is_err());
        // MSAL-style authorities, ending with the tenant.
        for tenant in ["contoso.onmicrosoft.com", "common", "Organizations", "6f1c7c1e-2a4b-4c3d-9e8f-0a1b2c3d4e5f/"] {
            let error = Authority::parse(&format!("https://login.microsoftonline.com/{tenant}")).unwrap_err();
            assert!(error.to_string().contains("ends with a tenant"), "{error}");
        }
        // A proxy's own path is not a tenant.
        assert!(Authority::parse("https://proxy.example/entra/v2.0").is_ok());
        assert!(Authority::parse("https://user:pw@login.microsoftonline.com").is_err());
        assert!(Authority::parse("ftp://login.microsoftonline.com").is_err());
        assert!(Authority::parse("login.microsoftonline.com").is_err());
    }

    #[test]
    fn long_input_is_cut_in_messages() {
        let long = "x".repeat(500);
        let message = check_tenant(&format!("{long}/")).unwrap_err().to_string();
        assert!(message.len() < 300, "{message}");
    }
}
