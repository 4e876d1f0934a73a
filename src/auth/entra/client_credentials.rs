// App-only tokens (the OAuth client-credentials grant), as the commercial marketplace analytics API requires:
// the application's id and secret are exchanged for a token, one POST per `token()` call.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::endpoint::TokenEndpoint;
use super::{EndpointOptions, check_client_id, endpoint_builder_methods, trimmed_secret};
use crate::auth::{AccessToken, AuthError, TokenProvider};

/// App-only tokens from a client id and secret (`grant_type=client_credentials`).
///
/// This is the model of commercial marketplace analytics ([`Program::Marketplace`](crate::Program::Marketplace)):
/// the Entra application is added to the Partner Center account (Account settings → User management → Azure AD
/// applications) with the Manager role. Partner insights needs app + user tokens instead
/// ([`RefreshTokenCredential`](super::RefreshTokenCredential)).
///
/// Every [`token`](TokenProvider::token) call posts once; nothing is cached. `Debug` never shows the secret.
///
/// ```no_run
/// use partner_center_insights::{Client, ClientCredentials, Program};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let credential = ClientCredentials::new(
///     "contoso.onmicrosoft.com",
///     "6f1c7c1e-2a4b-4c3d-9e8f-0a1b2c3d4e5f",
///     std::env::var("PARTNER_CENTER_CLIENT_SECRET")?,
/// )?;
/// let client = Client::builder(Program::Marketplace).token_provider(credential).build()?;
/// let reports = client.get_reports().send().await?;
/// # Ok(()) }
/// ```
pub struct ClientCredentials {
    endpoint: TokenEndpoint,
    client_id: String,
    client_secret: SecretString,
}

impl ClientCredentials {
    /// Client credentials for `tenant` on the public cloud's v2 endpoint, with the Partner Center `.default`
    /// scope. Whitespace around the secret (a line break from a file) is dropped.
    ///
    /// # Errors
    /// When the tenant is not a GUID, a domain name or a multi-tenant alias, the client id is empty, contains
    /// whitespace or a `~` (a client secret's), the secret is empty, or the HTTP client cannot start.
    pub fn new(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
    ) -> Result<Self, AuthError> {
        Self::builder(tenant, client_id, client_secret).build()
    }

    /// Starts configuring client credentials, for another cloud, endpoint version or HTTP client.
    pub fn builder(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
    ) -> ClientCredentialsBuilder {
        ClientCredentialsBuilder {
            tenant: tenant.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
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
}

impl TokenProvider for ClientCredentials {
    async fn token(&self) -> Result<AccessToken, AuthError> {
        let client_secret = self.client_secret.expose_secret();
        let audience = self.endpoint.audience_field();
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", client_secret),
            audience,
        ];
        Ok(self.endpoint.request(&form, &[client_secret]).await?.access_token)
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("tenant", &self.endpoint.tenant())
            .field("client_id", &super::shown_client_id(&self.client_id))
            .field("client_secret", &"[redacted]")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// Configures [`ClientCredentials`]; made by [`ClientCredentials::builder`].
///
/// ```
/// use partner_center_insights::entra::{Authority, ClientCredentials, EndpointVersion};
///
/// let credential = ClientCredentials::builder("contoso.onmicrosoft.com", "my-app-id", "my-secret")
///     .authority(Authority::US_GOVERNMENT)
///     .endpoint_version(EndpointVersion::v1())
///     .build()?;
/// assert_eq!(credential.token_endpoint(), "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/token");
/// assert!(!format!("{credential:?}").contains("my-secret"));
/// # Ok::<(), partner_center_insights::AuthError>(())
/// ```
#[must_use]
pub struct ClientCredentialsBuilder {
    tenant: String,
    client_id: String,
    client_secret: SecretString,
    endpoint: EndpointOptions,
}

impl ClientCredentialsBuilder {
    endpoint_builder_methods!();

    /// Checks the settings and builds the credential.
    ///
    /// # Errors
    /// When the tenant is not a GUID, a domain name or a multi-tenant alias, the client id is empty, contains
    /// whitespace or a `~` (a client secret's), the secret or the resource/scope is empty, or the HTTP client cannot
    /// start.
    pub fn build(self) -> Result<ClientCredentials, AuthError> {
        check_client_id(&self.client_id)?;
        let client_secret = trimmed_secret(self.client_secret, "client secret")?;
        Ok(ClientCredentials {
            endpoint: TokenEndpoint::new(self.tenant, self.endpoint)?,
            client_id: self.client_id,
            client_secret,
        })
    }
}

impl fmt::Debug for ClientCredentialsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentialsBuilder")
            .field("tenant", &super::shown_tenant(&self.tenant))
            .field("client_id", &super::shown_client_id(&self.client_id))
            .field("client_secret", &"[redacted]")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}
