// App + user tokens from a refresh token (the Secure Application Model), as partner insights requires: the
// newest refresh token Entra hands back is kept for the next call and passed to the caller to store.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use secrecy::{ExposeSecret, SecretString};

use super::endpoint::TokenEndpoint;
use super::{EndpointOptions, EndpointVersion, check_client_id, endpoint_builder_methods, trimmed_secret};
use crate::auth::{AccessToken, AuthError, TokenProvider};

type RotationCallback = Box<dyn Fn(&SecretString) + Send + Sync + 'static>;

/// App + user tokens from a refresh token (`grant_type=refresh_token`), the Secure Application Model.
///
/// Partner insights ([`Program::Partner`](crate::Program::Partner)) needs a token for an application acting
/// for a user who holds the Executive Report Viewer role. The Secure Application Model gets such a user's consent
/// once, interactively and with MFA, and keeps the refresh token it yields; this credential redeems it.
///
/// Entra may answer with a new refresh token. The credential then uses the new one from its next call on, and
/// hands it to the callback set with
/// [`on_refresh_token_rotated`](RefreshTokenCredentialBuilder::on_refresh_token_rotated), so that it can be
/// stored for the next run. Every [`token`](TokenProvider::token) call posts once; nothing is cached. `Debug`
/// never shows the secrets. To share one credential, wrap it in an `Arc`.
///
/// ```no_run
/// use partner_center_insights::{Client, ExposeSecret, Program, RefreshTokenCredential};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let credential = RefreshTokenCredential::builder(
///     "contoso.onmicrosoft.com",
///     "6f1c7c1e-2a4b-4c3d-9e8f-0a1b2c3d4e5f",
///     std::fs::read_to_string("refresh-token.txt")?,
/// )
/// .client_secret(std::env::var("PARTNER_CENTER_CLIENT_SECRET")?)
/// .on_refresh_token_rotated(|rotated| {
///     if let Err(e) = std::fs::write("refresh-token.txt", rotated.expose_secret()) {
///         eprintln!("could not store the new refresh token: {e}");
///     }
/// })
/// .build()?;
/// let client = Client::builder(Program::Partner).token_provider(credential).build()?;
/// let reports = client.get_reports().send().await?;
/// # Ok(()) }
/// ```
pub struct RefreshTokenCredential {
    endpoint: TokenEndpoint,
    client_id: String,
    client_secret: Option<SecretString>,
    /// The newest refresh token; never locked across an await.
    refresh_token: Mutex<SecretString>,
    /// Held while a rotation is recorded and announced, so the callback sees rotations in the order they are
    /// kept, without blocking readers of `refresh_token`.
    rotation: Mutex<()>,
    on_rotated: Option<RotationCallback>,
}

impl RefreshTokenCredential {
    /// A confidential application's refresh-token credential for `tenant` on the public cloud's v2 endpoint, with
    /// the Partner Center `.default` scope. On v2 the credential adds `offline_access` to the scope it is given, as
    /// MSAL does, so that new refresh tokens keep coming.
    ///
    /// # Errors
    /// When the tenant is not a GUID, a domain name or a multi-tenant alias, the client id is empty, contains
    /// whitespace or a `~` (a client secret's), the secret or refresh token is empty, or the HTTP client cannot start.
    pub fn new(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
        refresh_token: impl Into<SecretString>,
    ) -> Result<Self, AuthError> {
        Self::builder(tenant, client_id, refresh_token).client_secret(client_secret).build()
    }

    /// Starts configuring a refresh-token credential. Without
    /// [`client_secret`](RefreshTokenCredentialBuilder::client_secret) it is a public client's. Whitespace around
    /// the refresh token and the secret (a line break from a file) is dropped.
    pub fn builder(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        refresh_token: impl Into<SecretString>,
    ) -> RefreshTokenCredentialBuilder {
        RefreshTokenCredentialBuilder {
            tenant: tenant.into(),
            client_id: client_id.into(),
            client_secret: None,
            refresh_token: refresh_token.into(),
            on_rotated: None,
            endpoint: EndpointOptions::default(),
        }
    }

    /// The newest refresh token: the one given, or the last one Entra issued.
    pub fn refresh_token(&self) -> SecretString {
        self.refresh_token.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The token endpoint this credential posts to.
    pub fn token_endpoint(&self) -> &str {
        self.endpoint.url().as_str()
    }

    /// The application (client) id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Keeps `rotated` for the next call and announces it, unless it is the token already kept.
    fn keep(&self, rotated: SecretString) {
        let _in_order = self.rotation.lock().unwrap_or_else(PoisonError::into_inner);
        {
            let mut kept = self.refresh_token.lock().unwrap_or_else(PoisonError::into_inner);
            if kept.expose_secret() == rotated.expose_secret() {
                return;
            }
            *kept = rotated.clone();
        }
        if let Some(on_rotated) = &self.on_rotated {
            on_rotated(&rotated);
        }
    }
}

impl TokenProvider for RefreshTokenCredential {
    async fn token(&self) -> Result<AccessToken, AuthError> {
        let refresh_token = self.refresh_token();
        let client_secret = self.client_secret.as_ref().map(ExposeSecret::expose_secret);
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("client_id", self.client_id.as_str()),
            ("refresh_token", refresh_token.expose_secret()),
            self.endpoint.audience_field(),
        ];
        form.extend(client_secret.map(|secret| ("client_secret", secret)));
        let secrets = [refresh_token.expose_secret(), client_secret.unwrap_or_default()];
        let granted = self.endpoint.request(&form, &secrets).await?;
        if let Some(rotated) = granted.refresh_token {
            self.keep(rotated);
        }
        Ok(granted.access_token)
    }
}

impl fmt::Debug for RefreshTokenCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenCredential")
            .field("tenant", &self.endpoint.tenant())
            .field("client_id", &super::shown_client_id(&self.client_id))
            .field("client_secret", &self.client_secret.as_ref().map(|_| "[redacted]"))
            .field("refresh_token", &"[redacted]")
            .field("on_refresh_token_rotated", &self.on_rotated.as_ref().map(|_| "[set]"))
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// Configures a [`RefreshTokenCredential`]; made by [`RefreshTokenCredential::builder`].
///
/// ```
/// use partner_center_insights::entra::{EndpointVersion, RefreshTokenCredential};
///
/// let credential = RefreshTokenCredential::builder("contoso.onmicrosoft.com", "my-app-id", "my-refresh-token")
///     .client_secret("my-secret")
///     .endpoint_version(EndpointVersion::v2_with_scope(
///         "https://api.partnercenter.microsoft.com/user_impersonation offline_access",
///     ))
///     .on_refresh_token_rotated(|_rotated| { /* store it */ })
///     .build()?;
/// let shown = format!("{credential:?}");
/// assert!(!shown.contains("my-secret") && !shown.contains("my-refresh-token"));
/// # Ok::<(), partner_center_insights::AuthError>(())
/// ```
#[must_use]
pub struct RefreshTokenCredentialBuilder {
    tenant: String,
    client_id: String,
    client_secret: Option<SecretString>,
    refresh_token: SecretString,
    on_rotated: Option<RotationCallback>,
    endpoint: EndpointOptions,
}

impl RefreshTokenCredentialBuilder {
    endpoint_builder_methods!();

    /// Authenticates the application with this secret (a confidential client; the Secure Application Model's
    /// usual setup). Public clients have none.
    pub fn client_secret(mut self, client_secret: impl Into<SecretString>) -> Self {
        self.client_secret = Some(client_secret.into());
        self
    }

    /// Calls `on_rotated` with every new refresh token Entra issues, after the credential has switched to it, so
    /// it can be stored for the next run. Calls come in the order the tokens were kept; the callback should
    /// return quickly, since it runs inside [`token`](TokenProvider::token).
    pub fn on_refresh_token_rotated(mut self, on_rotated: impl Fn(&SecretString) + Send + Sync + 'static) -> Self {
        self.on_rotated = Some(Box::new(on_rotated));
        self
    }

    /// Checks the settings and builds the credential.
    ///
    /// # Errors
    /// When the tenant is not a GUID, a domain name or a multi-tenant alias, the client id is empty, contains
    /// whitespace or a `~` (a client secret's), the refresh token, a given secret or the resource/scope is empty, or
    /// the HTTP client cannot start.
    pub fn build(self) -> Result<RefreshTokenCredential, AuthError> {
        check_client_id(&self.client_id)?;
        let refresh_token = trimmed_secret(self.refresh_token, "refresh token")?;
        let client_secret = self.client_secret.map(|secret| trimmed_secret(secret, "client secret")).transpose()?;
        let mut endpoint = self.endpoint;
        // On v2 a new refresh token is promised only to a request that asks for `offline_access`, which MSAL adds to
        // every one: without it the emulator (whose refresh tokens are single-use) issues none, and a strict token
        // endpoint may do the same, leaving the kept token to age out unseen. (A blank scope stays blank, to be
        // refused as one.)
        if let EndpointVersion::V2 { scope } = &mut endpoint.version
            && !scope.trim().is_empty()
            && !scope.split_whitespace().any(|s| s.eq_ignore_ascii_case("offline_access"))
        {
            *scope = format!("{} offline_access", scope.trim_end());
        }
        Ok(RefreshTokenCredential {
            endpoint: TokenEndpoint::new(self.tenant, endpoint)?,
            client_id: self.client_id,
            client_secret,
            refresh_token: Mutex::new(refresh_token),
            rotation: Mutex::new(()),
            on_rotated: self.on_rotated,
        })
    }
}

impl fmt::Debug for RefreshTokenCredentialBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenCredentialBuilder")
            .field("tenant", &super::shown_tenant(&self.tenant))
            .field("client_id", &super::shown_client_id(&self.client_id))
            .field("client_secret", &self.client_secret.as_ref().map(|_| "[redacted]"))
            .field("refresh_token", &"[redacted]")
            .field("on_refresh_token_rotated", &self.on_rotated.as_ref().map(|_| "[set]"))
            .field("endpoint", &self.endpoint)
            .finish()
    }
}
