// Who may call the API: the bearer tokens the emulator accepts (fixed ones such as the dev token, and those its
// token endpoint issued, until they expire on the emulator clock), and the apps and users the token endpoint knows.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use axum::http::{HeaderMap, header};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

/// The fixed token the emulator accepts by default: `Authorization: Bearer insights-emulator-dev-token`.
pub const DEV_TOKEN: &str = "insights-emulator-dev-token";
/// The app the token endpoint knows by default (client id).
pub const DEV_CLIENT_ID: &str = "00000000-0000-4000-8000-00000000c11e";
/// The secret of [`DEV_CLIENT_ID`].
pub const DEV_CLIENT_SECRET: &str = "insights-emulator-client-secret";
/// The user the token endpoint knows by default (for the password grant).
pub const DEV_USERNAME: &str = "erv.user@contoso.onmicrosoft.com";
/// The password of [`DEV_USERNAME`].
pub const DEV_PASSWORD: &str = "insights-emulator-password";
/// A tenant id to use in token URLs; the emulator accepts any tenant.
pub const DEV_TENANT_ID: &str = "00000000-0000-4000-8000-0000000000aa";

/// The `user` the marketplace shows on created items (its examples show a numeric account id).
pub(crate) const MARKETPLACE_USER: &str = "142344300";

/// Access tokens live 3599 seconds, as Entra's `expires_in` says.
pub(crate) const TOKEN_LIFETIME_SECS: i64 = 3599;
/// How long a refresh token can be redeemed (Entra's default inactivity lifetime).
const REFRESH_LIFETIME_DAYS: i64 = 90;

/// Which bearer tokens are accepted (besides those the emulator issued).
#[derive(Clone, Debug)]
pub(crate) enum Accepted {
    /// These fixed tokens.
    Tokens(HashSet<String>),
    /// Any non-empty token at all.
    Any,
}

/// Who a request is from, as far as the created items' `user` field is concerned.
#[derive(Clone, Debug, Default)]
pub(crate) struct Caller {
    /// The user principal name, for tokens issued to a user.
    pub(crate) upn: Option<String>,
}

#[derive(Clone, Debug)]
struct Issued {
    expires: DateTime<Utc>,
    caller: Caller,
    /// Issued for Partner Center: a token for another resource (Microsoft's samples ask for the Graph one) is
    /// refused by the API as the service refuses it.
    for_partner_center: bool,
}

/// What a refresh token may be exchanged for.
#[derive(Clone, Debug)]
pub(crate) struct RefreshGrant {
    pub(crate) client_id: String,
    pub(crate) username: String,
    /// The resource of the tokens it was issued with: a refresh that names none gets that one again.
    pub(crate) resource: String,
    /// Entra's refresh tokens last 90 days; the emulator forgets them then.
    expires: DateTime<Utc>,
}

/// Apps and users the token endpoint accepts, and the tokens it handed out.
#[derive(Debug)]
pub(crate) struct AuthState {
    accepted: Accepted,
    pub(crate) clients: HashMap<String, String>,
    pub(crate) users: HashMap<String, String>,
    tokens: Mutex<Tokens>,
}

#[derive(Debug, Default)]
struct Tokens {
    access: HashMap<String, Issued>,
    /// The access tokens in the order issued, which is also the order they expire in (each lives as long, on a
    /// clock that moves forward): the expired ones, and past `LIVE_KEPT` the oldest, leave from the front.
    access_order: VecDeque<String>,
    refresh: HashMap<String, RefreshGrant>,
    /// The refresh tokens in the order issued, the same way (a redeemed one is skipped when it reaches the front).
    refresh_order: VecDeque<String>,
    /// Issued tokens that expired and were forgotten: refused still when any token is accepted, or an expired one
    /// would be refused until the next issue and accepted after it. Bounded, as a long-running emulator must stay
    /// small: past `RETIRED_KEPT` the oldest are dropped.
    retired: HashSet<String>,
    retired_order: VecDeque<String>,
}

/// How many expired issued tokens are remembered as such.
const RETIRED_KEPT: usize = 10_000;
/// How many access tokens, and how many refresh tokens, stay valid at once: a token endpoint asked without end (the
/// emulator's manual clock never lets a token expire) must not grow the emulator without bound. Past it, the
/// oldest is retired early; a client holds its token for an hour, so that is one no client still uses.
const LIVE_KEPT: usize = 10_000;

impl Tokens {
    fn retire(&mut self, token: String) {
        if self.retired_order.len() == RETIRED_KEPT
            && let Some(oldest) = self.retired_order.pop_front()
        {
            self.retired.remove(&oldest);
        }
        self.retired.insert(token.clone());
        self.retired_order.push_back(token);
    }
}

impl AuthState {
    pub(crate) fn new(accepted: Accepted, clients: HashMap<String, String>, users: HashMap<String, String>) -> Self {
        Self { accepted, clients, users, tokens: Mutex::default() }
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, Tokens> {
        self.tokens.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The caller behind the request's bearer token, or `None` when it must get a 401.
    pub(crate) fn authenticate(&self, headers: &HeaderMap, now: DateTime<Utc>) -> Option<Caller> {
        let token = bearer_token(headers)?;
        let tokens = self.tokens();
        if let Some(issued) = tokens.access.get(token) {
            return (now < issued.expires && issued.for_partner_center).then(|| issued.caller.clone());
        }
        if tokens.retired.contains(token) {
            return None;
        }
        drop(tokens);
        match &self.accepted {
            Accepted::Any => Some(Caller::default()),
            Accepted::Tokens(tokens) => tokens.contains(token).then(Caller::default),
        }
    }

    /// Issues an access token (and, for a user, a refresh token); returns both.
    pub(crate) fn issue(
        &self,
        now: DateTime<Utc>,
        tenant: &str,
        client_id: &str,
        audience: &str,
        username: Option<&str>,
        with_refresh_token: bool,
    ) -> (String, Option<String>) {
        let expires = super::clock::later(now, Duration::seconds(TOKEN_LIFETIME_SECS));
        let access = jwt_shaped(now, expires, tenant, client_id, audience, username);
        let mut tokens = self.tokens();
        // Expired tokens can never be accepted again; forgetting them keeps a long-running emulator small. Each
        // issue looks at the front only, so issuing stays as quick however many tokens came before.
        while let Some(oldest) = tokens.access_order.front() {
            let spent = tokens.access.get(oldest).is_none_or(|issued| issued.expires <= now);
            if !spent && tokens.access.len() < LIVE_KEPT {
                break;
            }
            let oldest = tokens.access_order.pop_front().unwrap_or_default();
            if tokens.access.remove(&oldest).is_some() {
                tokens.retire(oldest);
            }
        }
        while let Some(oldest) = tokens.refresh_order.front() {
            let spent = tokens.refresh.get(oldest).is_none_or(|grant| grant.expires <= now);
            if !spent && tokens.refresh.len() < LIVE_KEPT {
                break;
            }
            let oldest = tokens.refresh_order.pop_front().unwrap_or_default();
            tokens.refresh.remove(&oldest);
        }
        // Redeemed refresh tokens stay in the order until they reach its front: dropped from it at once when they
        // come to outnumber the live ones by far, so the order stays as small as the tokens it lists.
        if tokens.refresh_order.len() > 2 * LIVE_KEPT {
            let Tokens { refresh, refresh_order, .. } = &mut *tokens;
            refresh_order.retain(|token| refresh.contains_key(token));
        }
        let for_partner_center =
            audience.trim_end_matches('/').eq_ignore_ascii_case(super::token::DEFAULT_RESOURCE.trim_end_matches('/'));
        let caller = Caller { upn: username.map(str::to_owned) };
        tokens.access.insert(access.clone(), Issued { expires, caller, for_partner_center });
        tokens.access_order.push_back(access.clone());
        let refresh = username.filter(|_| with_refresh_token).map(|username| {
            let refresh = format!("0.emulator-refresh.{}", uuid::Uuid::new_v4().simple());
            tokens.refresh.insert(
                refresh.clone(),
                RefreshGrant {
                    client_id: client_id.to_owned(),
                    username: username.to_owned(),
                    resource: audience.to_owned(),
                    expires: super::clock::later(now, Duration::days(REFRESH_LIFETIME_DAYS)),
                },
            );
            tokens.refresh_order.push_back(refresh.clone());
            refresh
        });
        (access, refresh)
    }

    /// Consumes a refresh token of `client_id`: each one works once, the response carries its replacement
    /// (rotation). Another app's attempt leaves it to its owner.
    pub(crate) fn redeem_refresh_token(
        &self,
        refresh_token: &str,
        client_id: &str,
        now: DateTime<Utc>,
    ) -> Option<RefreshGrant> {
        let mut tokens = self.tokens();
        let owner = tokens.refresh.get(refresh_token).is_some_and(|grant| grant.client_id == client_id);
        owner.then(|| tokens.refresh.remove(refresh_token)).flatten().filter(|grant| now < grant.expires)
    }

    /// Mints an access token for tests that skip the token endpoint.
    pub(crate) fn mint(&self, now: DateTime<Utc>) -> String {
        self.issue(now, super::auth::DEV_TENANT_ID, DEV_CLIENT_ID, super::token::DEFAULT_RESOURCE, None, false).0
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme matched ignoring case).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// An unsigned token shaped like Entra's JWTs (header.claims.signature, base64url), so clients that peek at
/// `exp` or `upn` find them; the emulator itself only looks tokens up by value.
fn jwt_shaped(
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
    tenant: &str,
    client_id: &str,
    audience: &str,
    username: Option<&str>,
) -> String {
    let header = json!({"typ": "JWT", "alg": "none", "kid": "insights-emulator"});
    let mut claims = json!({
        "aud": audience,
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": now.timestamp(),
        "nbf": now.timestamp(),
        "exp": expires.timestamp(),
        "appid": client_id,
        "tid": tenant,
        "ver": "1.0",
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    if let (Some(upn), Some(map)) = (username, claims.as_object_mut()) {
        map.insert("upn".into(), upn.into());
        map.insert("scp".into(), "user_impersonation".into());
    }
    format!(
        "{}.{}.{}",
        base64url(header.to_string().as_bytes()),
        base64url(claims.to_string().as_bytes()),
        uuid::Uuid::new_v4().simple()
    )
}

/// Unpadded base64url; a few lines here rather than a dependency for one call site.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_the_rfc_vectors() {
        for (input, expected) in
            [("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("\u{ff}\u{fe}", "w7_Dvg")]
        {
            assert_eq!(base64url(input.as_bytes()), expected, "{input:?}");
        }
    }

    #[test]
    fn bearer_header_parsing() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert(header::AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer_token(&headers), None);
    }

    #[test]
    fn issued_tokens_expire_on_the_emulator_clock() {
        let auth = AuthState::new(Accepted::Tokens(HashSet::new()), HashMap::new(), HashMap::new());
        let now = Utc::now();
        let token = auth.mint(now);
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        assert!(auth.authenticate(&headers, now).is_some());
        assert!(auth.authenticate(&headers, now + Duration::seconds(TOKEN_LIFETIME_SECS)).is_none());
    }

    #[test]
    fn issued_tokens_are_bounded_on_a_clock_that_never_moves() {
        let auth = AuthState::new(Accepted::Tokens(HashSet::new()), HashMap::new(), HashMap::new());
        let now = Utc::now();
        let accepted = |token: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
            auth.authenticate(&headers, now).is_some()
        };
        let issue =
            || auth.issue(now, DEV_TENANT_ID, DEV_CLIENT_ID, super::super::token::DEFAULT_RESOURCE, Some("u"), true);
        let first = issue();
        let more: Vec<_> = (0..LIVE_KEPT).map(|_| issue()).collect();
        // The oldest of each kind made room; every later one is still good.
        assert!(!accepted(&first.0) && accepted(&more[0].0) && accepted(&more[LIVE_KEPT - 1].0));
        let tokens = auth.tokens();
        assert_eq!((tokens.access.len(), tokens.refresh.len()), (LIVE_KEPT, LIVE_KEPT));
        assert!(tokens.retired.contains(&first.0) && !tokens.refresh.contains_key(first.1.as_deref().unwrap()));
    }

    #[test]
    fn a_refresh_token_in_use_outlives_many_redeemed_ones() {
        let auth = AuthState::new(Accepted::Tokens(HashSet::new()), HashMap::new(), HashMap::new());
        let now = Utc::now();
        let resource = super::super::token::DEFAULT_RESOURCE;
        let issue = || auth.issue(now, DEV_TENANT_ID, DEV_CLIENT_ID, resource, Some("u"), true).1.unwrap();
        let idle = issue();
        // Another client rotates its refresh token many times over: two live at any time, one of them `idle`'s.
        let mut rotating = issue();
        for _ in 0..2 * LIVE_KEPT + 10 {
            assert!(auth.redeem_refresh_token(&rotating, DEV_CLIENT_ID, now).is_some());
            rotating = issue();
        }
        assert!(auth.redeem_refresh_token(&idle, DEV_CLIENT_ID, now).is_some(), "the idle client's token still works");
        // The redeemed ones were dropped from the order once they outnumbered the live ones by far.
        assert!(auth.tokens().refresh_order.len() <= LIVE_KEPT + 2, "{}", auth.tokens().refresh_order.len());
    }
}
