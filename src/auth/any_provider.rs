// A token provider with its type erased, for a provider chosen at run time or kept in a field without a type
// parameter: `TokenProvider::token` returns `impl Future`, so there is no `dyn TokenProvider`.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use super::{AccessToken, AuthError, DynTokenProvider, StaticToken, TokenProvider};

/// Any [`TokenProvider`], behind one shared pointer: for a provider chosen at run time (`match` arms of different
/// types), or kept where a type parameter would be a burden. `TokenProvider::token` returns `impl Future`, so
/// `Box<dyn TokenProvider>` cannot exist; this stands in for it. Clones share the provider.
///
/// ```no_run
/// use partner_center_insights::{AnyTokenProvider, Client, ClientCredentials, Program, StaticToken};
///
/// # fn main() -> Result<(), partner_center_insights::Error> {
/// let provider = match std::env::var("PARTNER_CENTER_TOKEN") {
///     Ok(token) => AnyTokenProvider::new(StaticToken::new(token)),
///     Err(_) => AnyTokenProvider::new(ClientCredentials::new(
///         "contoso.onmicrosoft.com",
///         "6f1c7c1e-2a4b-4c3d-9e8f-0a1b2c3d4e5f",
///         std::env::var("PARTNER_CENTER_CLIENT_SECRET").unwrap_or_default(),
///     )?),
/// };
/// let client = Client::builder(Program::Marketplace).token_provider(provider).build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AnyTokenProvider {
    provider: Arc<dyn DynTokenProvider>,
    /// A [`StaticToken`]'s token, which a client sends (and checks when it is built) as it would the bare one's.
    fixed: Option<AccessToken>,
}

impl AnyTokenProvider {
    /// Erases `provider`'s type. (A token is then asked for through one boxed future: the client's token cache
    /// asks only when its token nears expiry, so that costs nothing a call would notice.)
    pub fn new(provider: impl TokenProvider) -> Self {
        let any = &provider as &dyn Any;
        if let Some(erased) = any.downcast_ref::<Self>() {
            return erased.clone();
        }
        let fixed = any.downcast_ref::<StaticToken>().map(|fixed| fixed.access_token().clone());
        Self { provider: Arc::new(provider), fixed }
    }

    /// The provider, for a client's token cache (which would otherwise put a second pointer in front of it).
    pub(crate) fn shared(&self) -> Arc<dyn DynTokenProvider> {
        Arc::clone(&self.provider)
    }

    /// The token, when the provider is a [`StaticToken`].
    pub(crate) fn fixed(&self) -> Option<&AccessToken> {
        self.fixed.as_ref()
    }
}

/// Shows nothing of the provider, which may hold a secret and need not be `Debug`.
impl fmt::Debug for AnyTokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyTokenProvider").finish_non_exhaustive()
    }
}

impl TokenProvider for AnyTokenProvider {
    fn token(&self) -> impl Future<Output = Result<AccessToken, AuthError>> + Send {
        self.provider.token()
    }

    fn invalidate(&self, token: &AccessToken) {
        self.provider.invalidate(token);
    }
}
