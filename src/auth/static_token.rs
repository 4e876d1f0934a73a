// A fixed bearer token: for short scripts, tests, and tokens obtained elsewhere.
// It is never refreshed; use a refreshing provider for anything that runs longer than the token lives.

use std::future::Future;

use super::{AccessToken, AuthError, TokenProvider};

/// A token that never changes.
///
/// ```
/// use partner_center_insights::StaticToken;
/// let provider = StaticToken::new("eyJ0eXAi.hunter2");
/// assert!(!format!("{provider:?}").contains("hunter2"));
/// ```
#[derive(Clone, Debug)]
pub struct StaticToken(AccessToken);

impl StaticToken {
    /// Uses `token` for every request.
    pub fn new(token: impl Into<String>) -> Self {
        Self(AccessToken::new(token, None))
    }

    /// The token, for a client that sends it as `ClientBuilder::bearer_token` would.
    pub(crate) fn access_token(&self) -> &AccessToken {
        &self.0
    }
}

impl TokenProvider for StaticToken {
    fn token(&self) -> impl Future<Output = Result<AccessToken, AuthError>> + Send {
        std::future::ready(Ok(self.0.clone()))
    }
}
