// App + user tokens from a user name and password (the resource-owner password grant), the flow the partner
// insights pages show; it cannot do MFA, so it only suits legacy and test tenants.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::endpoint::TokenEndpoint;
use super::{
    EndpointOptions, EndpointVersion, NOT_REPEATED, check_client_id, check_secret, endpoint_builder_methods,
    trimmed_secret, whitespace_in,
};
use crate::auth::{AccessToken, AuthError, TokenProvider};

/// App + user tokens from a user's name and password (`grant_type=password`, "ROPC").
///
/// **Legacy and test tenants only.** The password grant cannot satisfy multi-factor authentication: Entra
/// refuses it for any user who must pass MFA, and Partner Center requires MFA on every app + user call from
/// April 1, 2026. For production use the Secure Application Model
/// ([`RefreshTokenCredential`](super::RefreshTokenCredential)). This credential exists because it is the flow the
/// partner insights documentation shows; on the v1 endpoint it sends the form those pages show, with
/// `scope=openid`.
///
/// Every [`token`](TokenProvider::token) call posts once; nothing is cached. `Debug` never shows the secrets.
///
/// ```no_run
/// use partner_center_insights::entra::{EndpointVersion, PasswordCredential};
/// use partner_center_insights::{Client, Program};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let credential = PasswordCredential::builder(
///     "contoso.onmicrosoft.com",
///     "6f1c7c1e-2a4b-4c3d-9e8f-0a1b2c3d4e5f",
///     "report.viewer@contoso.onmicrosoft.com",
///     std::env::var("TEST_USER_PASSWORD")?,
/// )
/// .client_secret(std::env::var("PARTNER_CENTER_CLIENT_SECRET")?)
/// .endpoint_version(EndpointVersion::v1())
/// .build()?;
/// let client = Client::builder(Program::Partner).token_provider(credential).build()?;
/// let reports = client.get_reports().send().await?;
/// # Ok(()) }
/// ```
pub struct PasswordCredential {
    endpoint: TokenEndpoint,
    client_id: String,
    client_secret: Option<SecretString>,
    username: String,
    password: SecretString,
}

impl PasswordCredential {
    /// A confidential application's password credential for `tenant` on the public cloud's v2 endpoint, with the
    /// Partner Center `.default` scope. Not for production: see the type's documentation.
    ///
    /// # Errors
    /// When the tenant is not a GUID, a domain name or a multi-tenant alias, the client id or user name is empty or
    /// contains whitespace (or the client id a `~`, a client secret's), the secret or password is empty, or the HTTP
    /// client cannot start.
    pub fn new(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
        username: impl Into<String>,
        password: impl Into<SecretString>,
    ) -> Result<Self, AuthError> {
        Self::builder(tenant, client_id, username, password).client_secret(client_secret).build()
    }

    /// Starts configuring a password credential. Without
    /// [`client_secret`](PasswordCredentialBuilder::client_secret) it is a public client's.
    pub fn builder(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<SecretString>,
    ) -> PasswordCredentialBuilder {
        PasswordCredentialBuilder {
            tenant: tenant.into(),
            client_id: client_id.into(),
            client_secret: None,
            username: username.into(),
            password: password.into(),
            endpoint: EndpointOptions::default(),
        }
    }

    /// The token endpoint this credential posts to.
    pub fn token_endpoint(&self) -> &str {
        self.endpoint.url().as_str()
    }

    /// The application (client) id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The user the tokens are for.
    pub fn username(&self) -> &str {
        &self.username
    }
}

impl TokenProvider for PasswordCredential {
    async fn token(&self) -> Result<AccessToken, AuthError> {
        let password = self.password.expose_secret();
        let client_secret = self.client_secret.as_ref().map(ExposeSecret::expose_secret);
        let mut form = vec![
            ("grant_type", "password"),
            ("client_id", self.client_id.as_str()),
            ("username", self.username.as_str()),
            ("password", password),
            self.endpoint.audience_field(),
        ];
        form.extend(client_secret.map(|secret| ("client_secret", secret)));
        // The v1 form the partner insights pages show also asks for an id token.
        if matches!(self.endpoint.version(), EndpointVersion::V1 { .. }) {
            form.push(("scope", "openid"));
        }
        let secrets = [password, client_secret.unwrap_or_default()];
        Ok(self.endpoint.request(&form, &secrets).await?.access_token)
    }
}

impl fmt::Debug for PasswordCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordCredential")
            .field("tenant", &self.endpoint.tenant())
            .field("client_id", &super::shown_client_id(&self.client_id))
            .field("client_secret", &self.client_secret.as_ref().map(|_| "[redacted]"))
            .field("username", &super::shown_username(&self.username))
            .field("password", &"[redacted]")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// Configures a [`PasswordCredential`]; made by [`PasswordCredential::builder`].
///
/// ```
/// use partner_center_insights::entra::PasswordCredential;
///
/// let credential = PasswordCredential::builder("contoso.onmicrosoft.com", "my-app-id", "user@contoso.com", "pa55")
///     .client_secret("my-secret")
///     .build()?;
/// assert_eq!(credential.token_endpoint(), "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
/// assert!(!format!("{credential:?}").contains("pa55"));
/// # Ok::<(), partner_center_insights::AuthError>(())
/// ```
#[must_use]
pub struct PasswordCredentialBuilder {
    tenant: String,
    client_id: String,
    client_secret: Option<SecretString>,
    username: String,
    password: SecretString,
    endpoint: EndpointOptions,
}

impl PasswordCredentialBuilder {
    endpoint_builder_methods!();

    /// Authenticates the application with this secret (a confidential client, as the documentation's example
    /// does). Public clients have none.
    pub fn client_secret(mut self, client_secret: impl Into<SecretString>) -> Self {
        self.client_secret = Some(client_secret.into());
        self
    }

    /// Checks the settings and builds the credential.
    ///
    /// # Errors
    /// When the tenant is not a GUID, a domain name or a multi-tenant alias, the client id or user name is empty or
    /// contains whitespace (or the client id a `~`, a client secret's), the password, a given secret or the
    /// resource/scope is empty, or the HTTP client cannot start.
    pub fn build(self) -> Result<PasswordCredential, AuthError> {
        check_client_id(&self.client_id)?;
        if self.username.is_empty() {
            return Err(AuthError::new("user name is empty"));
        }
        if let Some(place) = whitespace_in(&self.username) {
            return Err(AuthError::new(format!("user name has whitespace {place}{NOT_REPEATED}")));
        }
        check_secret(&self.password, "password")?;
        let client_secret = self.client_secret.map(|secret| trimmed_secret(secret, "client secret")).transpose()?;
        Ok(PasswordCredential {
            endpoint: TokenEndpoint::new(self.tenant, self.endpoint)?,
            client_id: self.client_id,
            client_secret,
            username: self.username,
            password: self.password,
        })
    }
}

impl fmt::Debug for PasswordCredentialBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordCredentialBuilder")
            .field("tenant", &super::shown_tenant(&self.tenant))
            .field("client_id", &super::shown_client_id(&self.client_id))
            .field("client_secret", &self.client_secret.as_ref().map(|_| "[redacted]"))
            .field("username", &super::shown_username(&self.username))
            .field("password", &"[redacted]")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}
