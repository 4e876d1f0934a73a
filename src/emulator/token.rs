// A stand-in for Microsoft Entra ID's token endpoints (`/{tenant}/oauth2/token` v1 and `/oauth2/v2.0/token`):
// client_credentials, password and refresh_token grants, answering and failing in Entra's JSON shapes.

use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::auth::TOKEN_LIFETIME_SECS;
use super::context::Shared;
use super::envelope::json_response;

/// The audience tokens are for when a request names none.
pub(crate) const DEFAULT_RESOURCE: &str = "https://api.partnercenter.microsoft.com";
/// The resource of scopes that name none.
const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// Partner Center's application id, which Entra takes in a scope in place of its URI.
const PARTNER_CENTER_APP_ID: &str = "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd";

/// Which Entra endpoint was called; they differ in `resource` vs `scope` and in `expires_in`'s type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    V2,
}

/// An Entra error: status, OAuth error code, AADSTS number and its text.
struct EntraError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

impl EntraError {
    fn new(status: StatusCode, error: &'static str, code: u32, description: impl Into<String>) -> Self {
        Self { status, error, code, description: description.into() }
    }

    fn missing(parameter: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{parameter}'."),
        )
    }

    fn invalid_grant(code: u32, description: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", code, description)
    }

    fn into_response(self, now: DateTime<Utc>) -> Response {
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let timestamp = now.format("%Y-%m-%d %H:%M:%SZ").to_string();
        let body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}",
                self.code, self.description
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        json_response(self.status, &body)
    }
}

/// Handles a token request for `tenant` (any tenant is accepted).
pub(crate) fn handle(shared: &Shared, version: Version, tenant: &str, body: &[u8]) -> Response {
    let now = shared.now();
    match issue(shared, version, tenant, body, now) {
        Ok(body) => json_response(StatusCode::OK, &Value::Object(body)),
        Err(error) => error.into_response(now),
    }
}

fn issue(
    shared: &Shared,
    version: Version,
    tenant: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Map<String, Value>, EntraError> {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| form.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str());

    let grant_type = field("grant_type").ok_or_else(|| EntraError::missing("grant_type"))?;
    let client_id = field("client_id").ok_or_else(|| EntraError::missing("client_id"))?;
    let auth = &shared.auth;
    let Some(secret) = auth.clients.get(client_id) else {
        return Err(EntraError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can \
                 happen if the application has not been installed by the administrator of the tenant or consented \
                 to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        ));
    };
    match field("client_secret") {
        None => {
            return Err(EntraError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ));
        }
        Some(given) if given != secret => {
            return Err(EntraError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client \
                     secret value, not the client secret ID, for a secret added to app '{client_id}'."
                ),
            ));
        }
        Some(_) => {}
    }

    // The audience: v1 names a resource, v2 a scope. A refresh may omit it and keep the original one.
    let audience_field = match version {
        Version::V1 => "resource",
        Version::V2 => "scope",
    };
    let audience = field(audience_field);
    let require_audience = || audience.ok_or_else(|| EntraError::missing(audience_field));

    let (audience, username) = match grant_type {
        "client_credentials" => {
            let audience = require_audience()?;
            if version == Version::V2 && !audience.split_whitespace().all(|s| s.ends_with("/.default")) {
                return Err(EntraError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    1002012,
                    format!(
                        "The provided value for scope {audience} is not valid. Client credential flows must have a \
                         scope value with /.default suffixed to the resource identifier (application ID URI)."
                    ),
                ));
            }
            (audience.to_owned(), None)
        }
        "password" => {
            let audience = require_audience()?;
            let username = field("username").ok_or_else(|| EntraError::missing("username"))?;
            let password = field("password").ok_or_else(|| EntraError::missing("password"))?;
            // Entra matches user principal names ignoring case.
            let known = auth.users.iter().find(|(name, _)| name.eq_ignore_ascii_case(username));
            match known {
                Some((name, expected)) if expected == password => (audience.to_owned(), Some(name.clone())),
                _ => {
                    return Err(EntraError::invalid_grant(
                        50126,
                        "Error validating credentials due to invalid username or password.",
                    ));
                }
            }
        }
        "refresh_token" => {
            let refresh_token = field("refresh_token").ok_or_else(|| EntraError::missing("refresh_token"))?;
            let grant = auth
                .redeem_refresh_token(refresh_token, client_id, now)
                .ok_or_else(|| EntraError::invalid_grant(70000, "Provided grant is invalid or malformed."))?;
            // Without a resource or scope, Entra gives a token for the resource the refresh token was issued for.
            let default = match version {
                Version::V1 => grant.resource.clone(),
                Version::V2 => format!("{}/user_impersonation offline_access", grant.resource),
            };
            (audience.map_or(default, str::to_owned), Some(grant.username))
        }
        other => {
            return Err(EntraError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'."),
            ));
        }
    };

    let resource = match version {
        Version::V1 => audience.clone(),
        // `https://api.partnercenter.microsoft.com/.default` (or the resource's application id in front of the
        // scope) → the resource. Scopes that name no resource (`openid`, `offline_access`) are Microsoft Graph's:
        // Entra's token is then for Graph, not Partner Center.
        Version::V2 => audience
            .split_whitespace()
            .find_map(|scope| scope.rsplit_once('/').map(|(resource, _)| resource))
            .map(
                |resource| {
                    if resource.eq_ignore_ascii_case(PARTNER_CENTER_APP_ID) { DEFAULT_RESOURCE } else { resource }
                },
            )
            .unwrap_or(GRAPH_RESOURCE)
            .to_owned(),
    };
    // v2 returns a refresh token only when `offline_access` was asked for; v1 always does for users. One that is
    // not returned is not kept either.
    let with_refresh_token =
        version == Version::V1 || audience.split_whitespace().any(|scope| scope.eq_ignore_ascii_case("offline_access"));
    let (access_token, refresh_token) =
        auth.issue(now, tenant, client_id, &resource, username.as_deref(), with_refresh_token);

    let mut out = Map::new();
    out.insert("token_type".into(), "Bearer".into());
    match version {
        Version::V1 => {
            if username.is_some() {
                out.insert("scope".into(), "user_impersonation".into());
            }
            // v1 writes every number as a string, `expires_in` included.
            let lifetime = TOKEN_LIFETIME_SECS.to_string();
            out.insert("expires_in".into(), lifetime.clone().into());
            out.insert("ext_expires_in".into(), lifetime.into());
            out.insert("expires_on".into(), (now.timestamp() + TOKEN_LIFETIME_SECS).to_string().into());
            out.insert("not_before".into(), now.timestamp().to_string().into());
            out.insert("resource".into(), resource.into());
        }
        Version::V2 => {
            out.insert("scope".into(), audience.into());
            out.insert("expires_in".into(), TOKEN_LIFETIME_SECS.into());
            out.insert("ext_expires_in".into(), TOKEN_LIFETIME_SECS.into());
        }
    }
    out.insert("access_token".into(), access_token.into());
    if let Some(refresh_token) = refresh_token {
        out.insert("refresh_token".into(), refresh_token.into());
    }
    Ok(out)
}
