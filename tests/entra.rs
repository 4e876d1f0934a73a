// The Entra ID credentials against a real token endpoint on 127.0.0.1 that records every request: the forms sent
// on v1 and v2, expiries, refresh-token rotation, failures and their messages, and one call through `Client`.

#[path = "common/log_guard.rs"]
#[allow(dead_code)]
mod log_guard;

use std::collections::VecDeque;
use std::error::Error as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use partner_center_insights::entra::{
    Authority, ClientCredentials, EndpointVersion, PARTNER_CENTER_DEFAULT_SCOPE, PARTNER_CENTER_RESOURCE,
    PasswordCredential, RefreshTokenCredential,
};
use partner_center_insights::{AccessToken, AuthError, Client, ExposeSecret, TokenProvider};

const TENANT: &str = "contoso.onmicrosoft.com";
const CLIENT_ID: &str = "6f1c7c1e-2a4b-4c3d-9e8f-0a1b2c3d4e5f";
const USERNAME: &str = "report.viewer@contoso.onmicrosoft.com";
// The secrets hold characters that form encoding changes, so both spellings are checked for leaks.
const CLIENT_SECRET: &str = "cs~Q8x.client+secret/value=";
const PASSWORD: &str = "pw P@ss&word=42";
const REFRESH_TOKEN: &str = "rt-0.AAAA.first-refresh-token";
const ROTATED_REFRESH_TOKEN: &str = "rt-0.BBBB.second-refresh-token";
const THIRD_REFRESH_TOKEN: &str = "rt-0.CCCC.third-refresh-token";
const ACCESS_TOKEN: &str = "eyJ0eXAiOiJKV1Qi.access-token-body.signature";
const SECRETS: [&str; 6] =
    [CLIENT_SECRET, PASSWORD, REFRESH_TOKEN, ROTATED_REFRESH_TOKEN, THIRD_REFRESH_TOKEN, ACCESS_TOKEN];
const CORRELATION_ID: &str = "1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9";

// ---------------------------------------------------------------------------------------------------------------
// The loopback server

/// One request as the server saw it.
#[derive(Debug)]
struct Recorded {
    method: Method,
    path: String,
    content_type: Option<String>,
    user_agent: Option<String>,
    authorization: Option<String>,
    form: Vec<(String, String)>,
}

impl Recorded {
    fn field(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    fn field_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.form.iter().map(|(key, _)| key.as_str()).collect();
        names.sort_unstable();
        names
    }

    /// Asserts a secret field without ever printing its value.
    fn assert_secret(&self, name: &str, expected: &str) {
        assert!(self.field(name) == Some(expected), "form field `{name}` is not the secret given");
    }
}

/// What the token endpoint answers next.
enum Reply {
    Answer {
        status: StatusCode,
        content_type: &'static str,
        body: String,
    },
    /// Never answers, to provoke a timeout.
    Never,
    /// 429 with this `Retry-After` and Entra's throttling body.
    Throttled {
        retry_after: &'static str,
    },
}

fn json(status: StatusCode, body: serde_json::Value) -> Reply {
    Reply::Answer { status, content_type: "application/json; charset=utf-8", body: body.to_string() }
}

/// A v1 answer, as in the partner insights docs: every number a string.
fn v1_token() -> Reply {
    json(
        StatusCode::OK,
        serde_json::json!({
            "token_type": "Bearer",
            "expires_in": "3599",
            "ext_expires_in": "3599",
            "expires_on": "1900000000",
            "not_before": "1899996100",
            "resource": PARTNER_CENTER_RESOURCE,
            "access_token": ACCESS_TOKEN,
        }),
    )
}

/// A v2 answer: numbers are numbers.
fn v2_token() -> Reply {
    json(
        StatusCode::OK,
        serde_json::json!({
            "token_type": "Bearer",
            "scope": PARTNER_CENTER_DEFAULT_SCOPE,
            "expires_in": 4242,
            "ext_expires_in": 4242,
            "access_token": ACCESS_TOKEN,
        }),
    )
}

fn token_with_refresh_token(refresh_token: &str) -> Reply {
    json(
        StatusCode::OK,
        serde_json::json!({
            "token_type": "Bearer",
            "expires_in": 3599,
            "access_token": ACCESS_TOKEN,
            "refresh_token": refresh_token,
        }),
    )
}

/// Entra's answer to a wrong client secret, as it really looks.
fn invalid_client() -> Reply {
    json(
        StatusCode::UNAUTHORIZED,
        serde_json::json!({
            "error": "invalid_client",
            "error_description": format!(
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the \
                 client secret value, not the client secret ID, for a secret added to app '{CLIENT_ID}'.\r\n\
                 Trace ID: 0f9e8d7c-6b5a-4938-2716-051423324150\r\nCorrelation ID: {CORRELATION_ID}\r\n\
                 Timestamp: 2026-11-23 10:20:30Z"
            ),
            "error_codes": [7000215],
            "timestamp": "2026-11-23 10:20:30Z",
            "trace_id": "0f9e8d7c-6b5a-4938-2716-051423324150",
            "correlation_id": CORRELATION_ID,
            "error_uri": "https://login.microsoftonline.com/error?code=7000215",
        }),
    )
}

struct TokenServer {
    base_url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    replies: Arc<Mutex<VecDeque<Reply>>>,
}

#[derive(Clone)]
struct ServerState {
    requests: Arc<Mutex<Vec<Recorded>>>,
    replies: Arc<Mutex<VecDeque<Reply>>>,
}

impl TokenServer {
    /// Starts a server on 127.0.0.1 that answers token requests with `replies`, in order, and
    /// `GET .../ScheduledReport` with an empty report list.
    async fn start(replies: Vec<Reply>) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let replies = Arc::new(Mutex::new(VecDeque::from(replies)));
        let state = ServerState { requests: Arc::clone(&requests), replies: Arc::clone(&replies) };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
        let address = listener.local_addr().expect("local address");
        let app = Router::new().fallback(answer).with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base_url: format!("http://{address}"), requests, replies }
    }

    fn authority(&self) -> Authority {
        Authority::parse(&self.base_url).expect("a loopback authority is accepted")
    }

    fn requests(&self) -> std::sync::MutexGuard<'_, Vec<Recorded>> {
        self.requests.lock().unwrap()
    }

    fn only_request(&self) -> std::sync::MutexGuard<'_, Vec<Recorded>> {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "exactly one request was expected");
        requests
    }

    fn replies_left(&self) -> usize {
        self.replies.lock().unwrap().len()
    }
}

async fn answer(State(state): State<ServerState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let text = |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    state.requests.lock().unwrap().push(Recorded {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        content_type: text(header::CONTENT_TYPE),
        user_agent: text(header::USER_AGENT),
        authorization: text(header::AUTHORIZATION),
        form: url::form_urlencoded::parse(&body).into_owned().collect(),
    });
    if parts.method == Method::GET && parts.uri.path().ends_with("/ScheduledReport") {
        let reports = serde_json::json!({"value": [], "totalCount": 0, "message": "", "statusCode": 200});
        return ([(header::CONTENT_TYPE, "application/json")], reports.to_string()).into_response();
    }
    let reply = state.replies.lock().unwrap().pop_front();
    match reply {
        Some(Reply::Answer { status, content_type, body }) => {
            (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Some(Reply::Never) => std::future::pending().await,
        Some(Reply::Throttled { retry_after }) => {
            let body = serde_json::json!({
                "error": "temporarily_unavailable",
                "error_description": "AADSTS50196: The server terminated an operation because it encountered a client \
                                      request loop.",
                "error_codes": [50196],
            });
            let headers = [(header::CONTENT_TYPE, "application/json"), (header::RETRY_AFTER, retry_after)];
            (StatusCode::TOO_MANY_REQUESTS, headers, body.to_string()).into_response()
        }
        None => (StatusCode::IM_A_TEAPOT, "no reply scripted").into_response(),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

fn client_credentials(server: &TokenServer, version: EndpointVersion) -> ClientCredentials {
    ClientCredentials::builder(TENANT, CLIENT_ID, CLIENT_SECRET)
        .authority(server.authority())
        .endpoint_version(version)
        .build()
        .expect("valid client credentials")
}

fn refresh_token_credential(server: &TokenServer, version: EndpointVersion) -> RefreshTokenCredential {
    RefreshTokenCredential::builder(TENANT, CLIENT_ID, REFRESH_TOKEN)
        .client_secret(CLIENT_SECRET)
        .authority(server.authority())
        .endpoint_version(version)
        .build()
        .expect("valid refresh-token credential")
}

fn password_credential(server: &TokenServer, version: EndpointVersion) -> PasswordCredential {
    PasswordCredential::builder(TENANT, CLIENT_ID, USERNAME, PASSWORD)
        .client_secret(CLIENT_SECRET)
        .authority(server.authority())
        .endpoint_version(version)
        .build()
        .expect("valid password credential")
}

/// Asks `provider` for a token and checks it is the server's, expiring `seconds` after the call.
async fn assert_token(provider: &impl TokenProvider, seconds: u64) -> AccessToken {
    let before = SystemTime::now();
    let token = provider.token().await.unwrap_or_else(|e| panic!("token request failed: {e}"));
    let after = SystemTime::now();
    assert!(token.secret().expose_secret() == ACCESS_TOKEN, "not the access token the endpoint issued");
    let expires_at = token.expires_at().expect("the token has an expiry");
    let lifetime = Duration::from_secs(seconds);
    assert!(
        before + lifetime <= expires_at && expires_at <= after + lifetime,
        "expiry is not {seconds} s after the request"
    );
    token
}

fn assert_token_request(request: &Recorded, path: &str) {
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, path);
    assert_eq!(request.content_type.as_deref(), Some("application/x-www-form-urlencoded"));
}

const V1_PATH: &str = "/contoso.onmicrosoft.com/oauth2/token";
const V2_PATH: &str = "/contoso.onmicrosoft.com/oauth2/v2.0/token";

/// Everything an error shows: its message, its Debug form, and every cause's.
fn everything_shown(error: &AuthError) -> String {
    let mut shown = format!("{error}\n{error:?}");
    let mut cause = error.source();
    while let Some(next) = cause {
        shown.push_str(&format!("\n{next}\n{next:?}"));
        cause = next.source();
    }
    shown
}

/// Fails, without printing the text, when any test secret appears in it, as is or form-encoded.
fn assert_no_secret(text: &str, what: &str) {
    assert_none_of(&SECRETS, text, what);
}

/// Fails, without printing the text, when any of `secrets` appears in it, as is or form-encoded.
fn assert_none_of(secrets: &[&str], text: &str, what: &str) {
    for secret in secrets {
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        assert!(!text.contains(secret) && !text.contains(&encoded), "{what} contains a secret");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The three flows, on both endpoint versions

#[tokio::test]
async fn client_credentials_v2_posts_the_scope_form_and_reads_a_numeric_expires_in() {
    let server = TokenServer::start(vec![v2_token()]).await;
    let credential = ClientCredentials::builder(TENANT, CLIENT_ID, CLIENT_SECRET)
        .authority(server.authority())
        .build()
        .expect("valid client credentials");
    assert_token(&credential, 4242).await;

    let requests = server.only_request();
    let request = &requests[0];
    assert_token_request(request, V2_PATH);
    assert_eq!(request.field_names(), ["client_id", "client_secret", "grant_type", "scope"]);
    assert_eq!(request.field("grant_type"), Some("client_credentials"));
    assert_eq!(request.field("client_id"), Some(CLIENT_ID));
    assert_eq!(request.field("scope"), Some("https://api.partnercenter.microsoft.com/.default"));
    request.assert_secret("client_secret", CLIENT_SECRET);
    assert_eq!(request.user_agent.as_deref(), Some(concat!("partner-center-insights/", env!("CARGO_PKG_VERSION"))));
}

#[tokio::test]
async fn client_credentials_v1_posts_the_resource_form_and_reads_a_string_expires_in() {
    let server = TokenServer::start(vec![v1_token()]).await;
    let credential = client_credentials(&server, EndpointVersion::v1());
    assert_token(&credential, 3599).await;

    let requests = server.only_request();
    let request = &requests[0];
    assert_token_request(request, V1_PATH);
    assert_eq!(request.field_names(), ["client_id", "client_secret", "grant_type", "resource"]);
    assert_eq!(request.field("grant_type"), Some("client_credentials"));
    assert_eq!(request.field("client_id"), Some(CLIENT_ID));
    assert_eq!(request.field("resource"), Some("https://api.partnercenter.microsoft.com"));
    request.assert_secret("client_secret", CLIENT_SECRET);
}

#[tokio::test]
async fn refresh_token_v2_posts_the_refresh_form() {
    let server = TokenServer::start(vec![v2_token()]).await;
    let credential = refresh_token_credential(&server, EndpointVersion::v2());
    assert_token(&credential, 4242).await;

    let requests = server.only_request();
    let request = &requests[0];
    assert_token_request(request, V2_PATH);
    assert_eq!(request.field_names(), ["client_id", "client_secret", "grant_type", "refresh_token", "scope"]);
    assert_eq!(request.field("grant_type"), Some("refresh_token"));
    assert_eq!(request.field("client_id"), Some(CLIENT_ID));
    // On v2 a new refresh token comes only when `offline_access` is asked for again, as MSAL always does.
    assert_eq!(request.field("scope"), Some(format!("{PARTNER_CENTER_DEFAULT_SCOPE} offline_access").as_str()));
    request.assert_secret("client_secret", CLIENT_SECRET);
    request.assert_secret("refresh_token", REFRESH_TOKEN);
}

#[tokio::test]
async fn refresh_token_v2_asks_for_offline_access_once() {
    let scope = "https://api.partnercenter.microsoft.com/user_impersonation Offline_Access";
    let server = TokenServer::start(vec![v2_token()]).await;
    let credential = refresh_token_credential(&server, EndpointVersion::v2_with_scope(scope));
    assert_token(&credential, 4242).await;
    assert_eq!(server.only_request()[0].field("scope"), Some(scope));
    // Added with one space, whatever the given scope ends with.
    let server = TokenServer::start(vec![v2_token()]).await;
    let credential = refresh_token_credential(&server, EndpointVersion::v2_with_scope("api://partner/.default \n"));
    assert_token(&credential, 4242).await;
    assert_eq!(server.only_request()[0].field("scope"), Some("api://partner/.default offline_access"));
}

#[tokio::test]
async fn refresh_token_v1_posts_the_refresh_form_with_a_resource() {
    let server = TokenServer::start(vec![v1_token()]).await;
    let credential = refresh_token_credential(&server, EndpointVersion::v1());
    assert_token(&credential, 3599).await;

    let requests = server.only_request();
    let request = &requests[0];
    assert_token_request(request, V1_PATH);
    assert_eq!(request.field_names(), ["client_id", "client_secret", "grant_type", "refresh_token", "resource"]);
    assert_eq!(request.field("grant_type"), Some("refresh_token"));
    assert_eq!(request.field("resource"), Some(PARTNER_CENTER_RESOURCE));
    request.assert_secret("client_secret", CLIENT_SECRET);
    request.assert_secret("refresh_token", REFRESH_TOKEN);
}

#[tokio::test]
async fn secrets_read_from_files_are_sent_without_their_line_breaks() {
    let server = TokenServer::start(vec![v2_token(), v2_token(), v2_token()]).await;
    let refresh = RefreshTokenCredential::builder(TENANT, CLIENT_ID, format!("{REFRESH_TOKEN}\n"))
        .client_secret(format!("{CLIENT_SECRET}\r\n"))
        .authority(server.authority())
        .build()
        .unwrap();
    assert_token(&refresh, 4242).await;
    let client = ClientCredentials::builder(TENANT, CLIENT_ID, format!(" {CLIENT_SECRET}\n"))
        .authority(server.authority())
        .build()
        .unwrap();
    assert_token(&client, 4242).await;
    // A password may hold any character, surrounding spaces included: it is sent as given.
    let password = format!(" {PASSWORD} ");
    let user = PasswordCredential::builder(TENANT, CLIENT_ID, USERNAME, password.clone())
        .client_secret(format!("{CLIENT_SECRET}\n"))
        .authority(server.authority())
        .build()
        .unwrap();
    assert_token(&user, 4242).await;

    let requests = server.requests();
    requests[0].assert_secret("refresh_token", REFRESH_TOKEN);
    requests[0].assert_secret("client_secret", CLIENT_SECRET);
    requests[1].assert_secret("client_secret", CLIENT_SECRET);
    requests[2].assert_secret("client_secret", CLIENT_SECRET);
    requests[2].assert_secret("password", &password);
}

#[tokio::test]
async fn refresh_token_of_a_public_client_sends_no_client_secret() {
    let server = TokenServer::start(vec![v2_token()]).await;
    let credential = RefreshTokenCredential::builder(TENANT, CLIENT_ID, REFRESH_TOKEN)
        .authority(server.authority())
        .endpoint_version(EndpointVersion::v2_with_scope("https://api.partnercenter.microsoft.com/user_impersonation"))
        .build()
        .expect("valid public-client credential");
    assert_token(&credential, 4242).await;

    let requests = server.only_request();
    assert_eq!(requests[0].field_names(), ["client_id", "grant_type", "refresh_token", "scope"]);
    assert_eq!(
        requests[0].field("scope"),
        Some("https://api.partnercenter.microsoft.com/user_impersonation offline_access")
    );
}

#[tokio::test]
async fn password_v2_posts_the_password_form() {
    let server = TokenServer::start(vec![v2_token()]).await;
    let credential = password_credential(&server, EndpointVersion::v2());
    assert_token(&credential, 4242).await;

    let requests = server.only_request();
    let request = &requests[0];
    assert_token_request(request, V2_PATH);
    assert_eq!(request.field_names(), ["client_id", "client_secret", "grant_type", "password", "scope", "username"]);
    assert_eq!(request.field("grant_type"), Some("password"));
    assert_eq!(request.field("client_id"), Some(CLIENT_ID));
    assert_eq!(request.field("username"), Some(USERNAME));
    assert_eq!(request.field("scope"), Some(PARTNER_CENTER_DEFAULT_SCOPE));
    request.assert_secret("client_secret", CLIENT_SECRET);
    request.assert_secret("password", PASSWORD);
}

#[tokio::test]
async fn password_v1_posts_the_documented_form_with_scope_openid() {
    let server = TokenServer::start(vec![v1_token()]).await;
    let credential = password_credential(&server, EndpointVersion::v1());
    assert_token(&credential, 3599).await;

    let requests = server.only_request();
    let request = &requests[0];
    assert_token_request(request, V1_PATH);
    assert_eq!(
        request.field_names(),
        ["client_id", "client_secret", "grant_type", "password", "resource", "scope", "username"]
    );
    assert_eq!(request.field("grant_type"), Some("password"));
    assert_eq!(request.field("resource"), Some(PARTNER_CENTER_RESOURCE));
    assert_eq!(request.field("scope"), Some("openid"));
    assert_eq!(request.field("username"), Some(USERNAME));
    request.assert_secret("client_secret", CLIENT_SECRET);
    request.assert_secret("password", PASSWORD);
}

#[tokio::test]
async fn every_call_posts_again_since_credentials_do_not_cache() {
    let server = TokenServer::start(vec![v2_token(), v2_token()]).await;
    let credential = client_credentials(&server, EndpointVersion::v2());
    assert_token(&credential, 4242).await;
    assert_token(&credential, 4242).await;
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn expires_on_is_used_when_expires_in_is_missing() {
    let answer = json(
        StatusCode::OK,
        serde_json::json!({"token_type": "Bearer", "expires_on": "1900000000", "access_token": ACCESS_TOKEN}),
    );
    let server = TokenServer::start(vec![answer]).await;
    let token = client_credentials(&server, EndpointVersion::v1()).token().await.expect("a token");
    assert_eq!(token.expires_at(), Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000)));
}

// ---------------------------------------------------------------------------------------------------------------
// Refresh-token rotation

#[tokio::test]
async fn rotated_refresh_token_is_announced_once_and_used_for_the_next_request() {
    for version in [EndpointVersion::v1(), EndpointVersion::v2()] {
        let server = TokenServer::start(vec![
            token_with_refresh_token(ROTATED_REFRESH_TOKEN),
            // The same token again is no rotation, so no call back.
            token_with_refresh_token(ROTATED_REFRESH_TOKEN),
            token_with_refresh_token(THIRD_REFRESH_TOKEN),
        ])
        .await;
        let announced = Arc::new(Mutex::new(Vec::<String>::new()));
        let record = Arc::clone(&announced);
        let credential = RefreshTokenCredential::builder(TENANT, CLIENT_ID, REFRESH_TOKEN)
            .client_secret(CLIENT_SECRET)
            .authority(server.authority())
            .endpoint_version(version.clone())
            .on_refresh_token_rotated(move |rotated| record.lock().unwrap().push(rotated.expose_secret().to_owned()))
            .build()
            .expect("valid refresh-token credential");

        assert_token(&credential, 3599).await;
        assert!(*announced.lock().unwrap() == [ROTATED_REFRESH_TOKEN], "{version:?}: first rotation not announced");
        assert!(credential.refresh_token().expose_secret() == ROTATED_REFRESH_TOKEN, "rotation not kept");

        assert_token(&credential, 3599).await;
        assert_eq!(announced.lock().unwrap().len(), 1, "{version:?}: an unchanged token was announced");

        assert_token(&credential, 3599).await;
        assert!(
            *announced.lock().unwrap() == [ROTATED_REFRESH_TOKEN, THIRD_REFRESH_TOKEN],
            "{version:?}: second rotation not announced in order"
        );

        let requests = server.requests();
        assert_eq!(requests.len(), 3);
        requests[0].assert_secret("refresh_token", REFRESH_TOKEN);
        requests[1].assert_secret("refresh_token", ROTATED_REFRESH_TOKEN);
        requests[2].assert_secret("refresh_token", ROTATED_REFRESH_TOKEN);
        assert!(credential.refresh_token().expose_secret() == THIRD_REFRESH_TOKEN, "newest token not kept");
    }
}

#[tokio::test]
async fn failed_refresh_keeps_the_current_refresh_token() {
    let server = TokenServer::start(vec![
        json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({
                "error": "invalid_grant",
                "error_description": "AADSTS700082: The refresh token has expired due to inactivity.",
                "error_codes": [700082],
            }),
        ),
        v2_token(),
    ])
    .await;
    let credential = refresh_token_credential(&server, EndpointVersion::v2());
    let error = credential.token().await.expect_err("an expired refresh token fails");
    assert_eq!(error.oauth_error(), Some("invalid_grant"));
    assert_eq!(error.aadsts_code(), Some(700082));
    assert!(credential.refresh_token().expose_secret() == REFRESH_TOKEN, "the refresh token changed");
    assert_token(&credential, 4242).await;
    server.requests()[1].assert_secret("refresh_token", REFRESH_TOKEN);
}

// ---------------------------------------------------------------------------------------------------------------
// Failures

#[tokio::test]
async fn aadsts_error_becomes_one_line_with_status_code_and_correlation_id() {
    let server = TokenServer::start(vec![invalid_client()]).await;
    let error = client_credentials(&server, EndpointVersion::v2()).token().await.expect_err("a wrong secret fails");

    assert_eq!(
        error.to_string(),
        format!(
            "token endpoint answered 401 Unauthorized: invalid_client: AADSTS7000215: Invalid client secret \
             provided. Ensure the secret being sent in the request is the client secret value, not the client \
             secret ID, for a secret added to app '{CLIENT_ID}'. (correlation id {CORRELATION_ID})"
        )
    );
    assert!(!error.to_string().contains('\n'));
    assert_eq!(error.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(error.oauth_error(), Some("invalid_client"));
    assert_eq!(error.error_codes(), [7000215]);
    assert_eq!(error.aadsts_code(), Some(7000215));
    assert_eq!(error.correlation_id(), Some(CORRELATION_ID));
    assert_eq!(error.trace_id(), Some("0f9e8d7c-6b5a-4938-2716-051423324150"));
    assert_no_secret(&everything_shown(&error), "the error");
}

#[tokio::test]
async fn aadsts_code_is_named_when_the_description_does_not_start_with_it() {
    let answer = json(
        StatusCode::BAD_REQUEST,
        serde_json::json!({"error": "invalid_request", "error_description": "Bad scope.", "error_codes": [70011]}),
    );
    let server = TokenServer::start(vec![answer]).await;
    let error = client_credentials(&server, EndpointVersion::v2()).token().await.expect_err("fails");
    let message = error.to_string();
    assert!(message.starts_with("token endpoint answered 400 Bad Request: invalid_request: AADSTS70011: Bad scope."));
    // Without a correlation id in the body, the one this request sent as `client-request-id` is quoted.
    let correlation_id = error.correlation_id().expect("a correlation id");
    assert!(uuid::Uuid::parse_str(correlation_id).is_ok(), "{correlation_id}");
    assert!(message.ends_with(&format!("(correlation id {correlation_id})")));
}

#[tokio::test]
async fn secrets_echoed_by_the_endpoint_never_reach_the_error() {
    let echo_everything = format!(
        "AADSTS50126: bad credentials {CLIENT_SECRET} {PASSWORD} {REFRESH_TOKEN} {} \r\nTrace ID: x",
        url::form_urlencoded::byte_serialize(PASSWORD.as_bytes()).collect::<String>()
    );
    let echoing_json = || {
        json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({
                "error": format!("invalid_grant {CLIENT_SECRET}"),
                "error_description": echo_everything,
                "error_codes": [50126],
                "correlation_id": format!("{REFRESH_TOKEN}-{PASSWORD}"),
                "trace_id": CLIENT_SECRET,
            }),
        )
    };
    let echoing_html = || Reply::Answer {
        status: StatusCode::BAD_REQUEST,
        content_type: "text/html",
        body: format!("<html><body><p>{CLIENT_SECRET}</p><p>{PASSWORD}</p><p>{REFRESH_TOKEN}</p></body></html>"),
    };
    // A success answer that cannot be used must not quote the access token either.
    let odd_token = || {
        json(
            StatusCode::OK,
            serde_json::json!({"token_type": ACCESS_TOKEN, "expires_in": 1, "access_token": ACCESS_TOKEN}),
        )
    };
    let server = TokenServer::start(vec![
        echoing_json(),
        echoing_html(),
        odd_token(),
        echoing_json(),
        echoing_html(),
        odd_token(),
        echoing_json(),
        echoing_html(),
        odd_token(),
    ])
    .await;
    let client_credentials = client_credentials(&server, EndpointVersion::v2());
    let refresh = refresh_token_credential(&server, EndpointVersion::v1());
    let password = password_credential(&server, EndpointVersion::v1());
    // Each credential scrubs the secrets it holds; the server echoes them all.
    let mut errors = Vec::new();
    for _ in 0..3 {
        errors.push((client_credentials.token().await.expect_err("fails"), vec![CLIENT_SECRET, ACCESS_TOKEN]));
    }
    for _ in 0..3 {
        let own = vec![CLIENT_SECRET, REFRESH_TOKEN, ACCESS_TOKEN];
        errors.push((refresh.token().await.expect_err("fails"), own));
    }
    for _ in 0..3 {
        errors.push((password.token().await.expect_err("fails"), vec![CLIENT_SECRET, PASSWORD, ACCESS_TOKEN]));
    }
    assert_eq!(server.replies_left(), 0);
    for (error, own_secrets) in &errors {
        let shown = everything_shown(error);
        assert_none_of(own_secrets, &shown, "an error");
        for field in [error.oauth_error(), error.correlation_id(), error.trace_id()].into_iter().flatten() {
            assert_none_of(own_secrets, field, "an error field");
        }
        assert!(shown.contains("[redacted]"), "nothing was redacted in an error");
    }
    let (odd_token_error, _) = &errors[2];
    assert!(odd_token_error.to_string().contains("where a Bearer token is needed"), "{odd_token_error}");
}

#[tokio::test]
async fn html_500_body_is_described_briefly() {
    let html = Reply::Answer {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        content_type: "text/html; charset=utf-8",
        body: "<!DOCTYPE html>\n<html><head><title>Server Error</title></head>\n<body><h1>Sorry, something went \
               wrong.</h1>\n</body></html>"
            .to_owned(),
    };
    let server = TokenServer::start(vec![html]).await;
    let error = client_credentials(&server, EndpointVersion::v2()).token().await.expect_err("a 500 fails");
    let message = error.to_string();
    assert!(
        message.starts_with(
            "token endpoint answered 500 Internal Server Error with a non-JSON text/html body: Server Error Sorry, \
             something went wrong. (correlation id "
        ),
        "{message}"
    );
    assert!(!message.contains('\n') && !message.contains('<'));
    assert_eq!(error.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(error.oauth_error(), None);
    assert!(error.correlation_id().is_some());
}

#[tokio::test]
async fn unusable_success_answers_are_errors() {
    let server = TokenServer::start(vec![
        json(StatusCode::OK, serde_json::json!({"token_type": "Bearer", "expires_in": 3599})),
        json(StatusCode::OK, serde_json::json!({"access_token": ACCESS_TOKEN, "expires_in": "an hour"})),
        Reply::Answer { status: StatusCode::OK, content_type: "text/plain", body: String::new() },
        Reply::Answer { status: StatusCode::FOUND, content_type: "text/plain", body: "moved".to_owned() },
        // Tokens in an answer that does not parse (a trailing comma) are still tokens: it is not quoted.
        Reply::Answer {
            status: StatusCode::OK,
            content_type: "application/json",
            body: format!(r#"{{"access_token":"{ACCESS_TOKEN}","refresh_token":"{ROTATED_REFRESH_TOKEN}",}}"#),
        },
    ])
    .await;
    let credential = client_credentials(&server, EndpointVersion::v2());
    let mut messages = Vec::new();
    for _ in 0..5 {
        messages.push(credential.token().await.expect_err("an unusable answer fails").to_string());
    }
    assert!(messages[0].starts_with("token endpoint answered 200 OK with a JSON body without an access_token"));
    assert!(messages[1].starts_with("token endpoint answered 200 OK with a token whose expires_in is not a number"));
    assert!(messages[2].starts_with("token endpoint answered 200 OK without a token, with an empty body"));
    assert!(messages[3].contains("302 Found") && messages[3].contains("redirects are not followed"), "{}", messages[3]);
    assert!(messages[4].contains("200 OK without a token, with a non-JSON application/json body of 113 bytes"));
    for message in &messages {
        assert_no_secret(message, "an error");
    }
}

#[tokio::test]
async fn connection_refused_is_a_clear_error_with_the_reqwest_cause() {
    // A port held (bound, never listening) for the whole test, so no other test can take it.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let port = socket.local_addr().unwrap().port();
    let authority = Authority::parse(&format!("http://127.0.0.1:{port}")).expect("loopback authority");
    let credential = PasswordCredential::builder(TENANT, CLIENT_ID, USERNAME, PASSWORD)
        .authority(authority)
        .build()
        .expect("valid password credential");
    let error = credential.token().await.expect_err("nothing listens");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "could not connect to the token endpoint http://127.0.0.1:{port}/contoso.onmicrosoft.com/oauth2/v2.0/token: "
        )),
        "{message}"
    );
    let cause = error.source().and_then(|e| e.downcast_ref::<reqwest::Error>()).expect("the reqwest error is kept");
    assert!(cause.is_connect());
    assert_eq!(error.status(), None);
    assert!(error.correlation_id().is_some_and(|id| id.len() == 36), "the id the request would have carried");
    assert_no_secret(&everything_shown(&error), "the error");
}

#[tokio::test]
async fn a_token_endpoint_that_never_answers_times_out() {
    let server = TokenServer::start(vec![Reply::Never]).await;
    let credential = ClientCredentials::builder(TENANT, CLIENT_ID, CLIENT_SECRET)
        .authority(server.authority())
        .request_timeout(Duration::from_millis(200))
        .build()
        .expect("valid client credentials");
    let error = credential.token().await.expect_err("no answer");
    assert!(error.to_string().contains("timed out (request timeout 200ms)"), "{error}");
    let cause = error.source().and_then(|e| e.downcast_ref::<reqwest::Error>()).expect("the reqwest error is kept");
    assert!(cause.is_timeout());
}

// ---------------------------------------------------------------------------------------------------------------
// Settings

#[test]
fn invalid_tenants_are_rejected_by_every_constructor() {
    // A domain's last label is letters: `Winter.2024` is a password given in the tenant's place more likely.
    let not_domains = ["Winter.2024", "contoso.c0m", "contoso.x"];
    for tenant in ["", " ", "contoso.onmicrosoft.com/evil", "a?b", "a#b", "a%2F", "..", "../x", "a b", "contoso"]
        .into_iter()
        .chain(not_domains)
    {
        let errors = [
            ClientCredentials::new(tenant, CLIENT_ID, CLIENT_SECRET).err(),
            RefreshTokenCredential::new(tenant, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN).err(),
            PasswordCredential::new(tenant, CLIENT_ID, CLIENT_SECRET, USERNAME, PASSWORD).err(),
        ];
        for error in errors {
            let error = error.unwrap_or_else(|| panic!("tenant {tenant:?} was accepted"));
            assert!(error.to_string().starts_with("tenant id "), "{error}");
            assert!(error.to_string().contains("contoso.onmicrosoft.com, or common/organizations/consumers"));
            let message = error.to_string();
            let said = message.split(": use the tenant GUID").next().unwrap_or_default();
            assert!(tenant.trim().is_empty() || !said.contains(tenant), "not repeated: {error}");
        }
    }
    for tenant in ["72f988bf-86f1-41af-91ab-2d7cd011db47", "contoso.onmicrosoft.com", "common", "organizations"] {
        assert!(ClientCredentials::new(tenant, CLIENT_ID, CLIENT_SECRET).is_ok(), "{tenant} was rejected");
    }
}

#[test]
fn a_secret_given_in_the_wrong_argument_is_not_repeated_in_the_error() {
    let secret = "Xy8Q~s3cretV4lue_0123456789abcdef";
    let spaced = "correct horse battery staple";
    let errors = [
        ClientCredentials::new(secret, CLIENT_ID, TENANT).unwrap_err(),
        ClientCredentials::new(TENANT, spaced, CLIENT_SECRET).unwrap_err(),
        PasswordCredential::new(TENANT, CLIENT_ID, CLIENT_SECRET, spaced, USERNAME).unwrap_err(),
    ];
    for error in errors {
        for shown in [error.to_string(), format!("{error:?}")] {
            assert!(!shown.contains("s3cret") && !shown.contains("horse"), "{shown}");
            assert!(shown.contains("not repeated here"), "{shown}");
        }
    }
    let error = ClientCredentials::new(secret, CLIENT_ID, TENANT).unwrap_err();
    assert!(error.to_string().starts_with("tenant id contains `~`, which is not allowed"), "{error}");
    // Client id and secret swapped: Entra's secrets hold a `~`, application ids never do.
    let swapped = [
        ClientCredentials::new(TENANT, secret, CLIENT_ID).unwrap_err(),
        RefreshTokenCredential::builder(TENANT, secret, REFRESH_TOKEN).build().unwrap_err(),
        PasswordCredential::new(TENANT, secret, CLIENT_ID, USERNAME, PASSWORD).unwrap_err(),
    ];
    for error in swapped {
        assert!(error.to_string().starts_with("client id has a `~`, as client secrets do (not repeated"), "{error}");
        assert!(!format!("{error} {error:?}").contains("s3cret"), "{error:?}");
    }
}

#[test]
fn a_given_http_client_is_not_shown_as_its_default_headers_may_hold_a_key() {
    let mut proxy_key = header::HeaderValue::from_static("proxy-s3cret");
    proxy_key.set_sensitive(false); // as a caller may well leave it
    let http = partner_center_insights::http_client_builder()
        .unwrap()
        .default_headers([(header::HeaderName::from_static("x-proxy-key"), proxy_key)].into_iter().collect())
        .build()
        .unwrap();
    let builder = ClientCredentials::builder(TENANT, CLIENT_ID, CLIENT_SECRET).http_client(http);
    let shown = format!("{builder:?}");
    assert!(!shown.contains("proxy-s3cret") && shown.contains(r#"http_client: Some("[set]")"#), "{shown}");
    let built = format!("{:?}", builder.build().unwrap());
    assert!(!built.contains("proxy-s3cret"), "{built}");
}

#[tokio::test]
async fn a_client_id_that_is_not_a_guid_is_neither_shown_nor_let_through_when_entra_quotes_it() {
    // A secret of the older kind (no `~`) in the client id's place: AADSTS700016 quotes the "application" back.
    let old_style_secret = "Jd8xLb2mQ9vWc4Rt7Yp1Zk5Ns3Hf6Ga0Ue2Io4Pa8=";
    let not_found = |id: &str| {
        json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({
                "error": "unauthorized_client",
                "error_description": format!(
                    "AADSTS700016: Application with identifier '{id}' was not found in the directory 'Contoso'."
                ),
                "error_codes": [700016],
            }),
        )
    };
    let server = TokenServer::start(vec![not_found(old_style_secret), not_found(CLIENT_ID)]).await;
    let credential = |client_id: &str| {
        ClientCredentials::builder(TENANT, client_id, CLIENT_SECRET).authority(server.authority()).build().unwrap()
    };
    let swapped = credential(old_style_secret);
    let error = swapped.token().await.expect_err("not found");
    let shown = format!("{}\n{swapped:?}", everything_shown(&error));
    assert_none_of(&[old_style_secret], &shown, "an error or the credential's Debug");
    assert!(error.to_string().contains("Application with identifier '[redacted]' was not found"), "{error}");
    // An application id is no secret: it stays, where it helps to find the app.
    let right = credential(CLIENT_ID);
    let error = right.token().await.expect_err("not found");
    assert!(error.to_string().contains(&format!("identifier '{CLIENT_ID}'")), "{error}");
    assert!(format!("{right:?}").contains(CLIENT_ID), "{right:?}");
}

#[test]
fn empty_client_ids_and_secrets_are_rejected() {
    fn says<T: std::fmt::Debug, E: std::fmt::Display>(result: Result<T, E>, reason: &str) {
        let error = result.expect_err(reason).to_string();
        assert!(error.contains(reason), "{error}");
    }
    says(ClientCredentials::new(TENANT, "", CLIENT_SECRET), "client id is empty");
    says(ClientCredentials::new(TENANT, " app", CLIENT_SECRET), "client id has whitespace at its start");
    says(ClientCredentials::new(TENANT, "app\n", CLIENT_SECRET), "client id has whitespace at its end");
    says(ClientCredentials::new(TENANT, CLIENT_ID, ""), "client secret is empty");
    says(RefreshTokenCredential::builder(TENANT, CLIENT_ID, " ").build(), "the refresh token is empty");
    says(PasswordCredential::builder(TENANT, CLIENT_ID, "", PASSWORD).build(), "user name is empty");
    says(PasswordCredential::builder(TENANT, CLIENT_ID, "a b", PASSWORD).build(), "user name has whitespace inside");
    says(PasswordCredential::builder(TENANT, CLIENT_ID, USERNAME, "").build(), "the password is empty");
    let empty_scope = ClientCredentials::builder(TENANT, CLIENT_ID, CLIENT_SECRET)
        .endpoint_version(EndpointVersion::v2_with_scope(""))
        .build();
    says(empty_scope, "the token request's scope is empty");
    // Not made `offline_access` alone by the refresh-token credential.
    let blank_scope = RefreshTokenCredential::builder(TENANT, CLIENT_ID, REFRESH_TOKEN)
        .endpoint_version(EndpointVersion::v2_with_scope(" "))
        .build();
    says(blank_scope, "the token request's scope is empty");
}

#[test]
fn plain_http_authority_is_rejected_unless_loopback() {
    for authority in ["http://login.microsoftonline.com", "http://10.0.0.1:8080", "http://token-proxy.internal"] {
        let error = Authority::parse(authority).expect_err(authority);
        assert!(error.to_string().contains("is plain http"), "{error}");
    }
    for authority in ["http://127.0.0.1:1234", "http://localhost:1234/login", "http://[::1]:1234"] {
        assert!(Authority::parse(authority).is_ok(), "{authority} was rejected");
    }
    assert!(Authority::parse("not a url").is_err());
    assert!(Authority::parse("https://login.microsoftonline.com/contoso/oauth2/v2.0/token").is_err());
}

#[test]
fn authority_errors_never_echo_a_password_or_signature() {
    for (authority, reason) in [
        ("https://admin:hunter2@login.example.com:99999", "is not a URL: invalid port number"),
        ("https://admin:hunter2@login.example.com", "must not contain a user name or password"),
        ("ftp://admin:hunter2@login.example.com", "must not contain a user name or password"),
        ("https://login.example.com/?sig=hunter2", "must not have a query or fragment"),
        ("https://login.example.com/#hunter2", "must not have a query or fragment"),
        ("http://login.example.com/hunter2", "`http://login.example.com` is plain http"),
        ("https://login.example.com/hunter2/oauth2/v2.0/token", "names a token endpoint"),
        ("hunter2://login.example.com", "must be an absolute https URL, not `hunter2:`"),
    ] {
        let error = Authority::parse(authority).expect_err(authority).to_string();
        assert!(error.contains(reason), "{authority}: {error}");
        if !authority.starts_with("hunter2:") {
            assert!(!error.contains("hunter2"), "{authority}: {error}");
        }
    }
}

#[test]
fn authority_and_version_shape_the_token_endpoint() {
    let build = |authority: Authority, version: EndpointVersion| {
        ClientCredentials::builder("72f988bf-86f1-41af-91ab-2d7cd011db47", CLIENT_ID, CLIENT_SECRET)
            .authority(authority)
            .endpoint_version(version)
            .build()
            .expect("valid client credentials")
            .token_endpoint()
            .to_owned()
    };
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    assert_eq!(
        ClientCredentials::new(tenant, CLIENT_ID, CLIENT_SECRET).unwrap().token_endpoint(),
        format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token")
    );
    assert_eq!(
        build(Authority::US_GOVERNMENT, EndpointVersion::v1()),
        format!("https://login.microsoftonline.us/{tenant}/oauth2/token")
    );
    assert_eq!(
        build(Authority::CHINA, EndpointVersion::v2()),
        format!("https://login.chinacloudapi.cn/{tenant}/oauth2/v2.0/token")
    );
    assert_eq!(
        build(Authority::parse("http://127.0.0.1:9/entra/").unwrap(), EndpointVersion::v2()),
        format!("http://127.0.0.1:9/entra/{tenant}/oauth2/v2.0/token")
    );
}

#[test]
fn debug_never_shows_a_secret() {
    let client_credentials = ClientCredentials::builder(TENANT, CLIENT_ID, CLIENT_SECRET);
    let refresh = RefreshTokenCredential::builder(TENANT, CLIENT_ID, REFRESH_TOKEN)
        .client_secret(CLIENT_SECRET)
        .on_refresh_token_rotated(|_| {});
    let password = PasswordCredential::builder(TENANT, CLIENT_ID, USERNAME, PASSWORD).client_secret(CLIENT_SECRET);
    let builders = [format!("{client_credentials:?}"), format!("{refresh:?}"), format!("{password:?}")];
    let credentials = [
        format!("{:?}", client_credentials.build().unwrap()),
        format!("{:?}", refresh.build().unwrap()),
        format!("{:?}", password.build().unwrap()),
    ];
    for shown in builders.iter().chain(&credentials) {
        assert_no_secret(shown, "a Debug form");
        assert!(shown.contains(CLIENT_ID) && shown.contains("[redacted]"), "{shown}");
    }
    assert!(credentials[2].contains(USERNAME));

    // Secrets given where the tenant or the user name goes (the arguments are all strings) are not shown either.
    let unspaced_password = "P@ssw0rd.2024";
    let swapped = [
        format!("{:?}", ClientCredentials::builder(CLIENT_SECRET, CLIENT_ID, TENANT)),
        format!("{:?}", RefreshTokenCredential::builder(CLIENT_SECRET, CLIENT_ID, REFRESH_TOKEN)),
        format!("{:?}", PasswordCredential::builder(TENANT, CLIENT_ID, PASSWORD, USERNAME)),
        format!("{:?}", PasswordCredential::builder(TENANT, CLIENT_ID, unspaced_password, USERNAME)),
        format!("{:?}", PasswordCredential::new(TENANT, CLIENT_ID, CLIENT_SECRET, unspaced_password, "x").unwrap()),
        format!("{:?}", ClientCredentials::builder("Winter.2024", CLIENT_ID, CLIENT_SECRET)),
    ];
    for shown in &swapped {
        assert_no_secret(shown, "a Debug form");
        assert_none_of(&[unspaced_password, "Winter.2024"], shown, "a Debug form");
        assert!(shown.contains("not shown"), "{shown}");
    }
}

#[tokio::test]
async fn a_given_http_client_is_used() {
    let server = TokenServer::start(vec![v2_token()]).await;
    let http = partner_center_insights::http_client_builder()
        .unwrap()
        .user_agent("my-tool/1.0")
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    let credential = ClientCredentials::builder(TENANT, CLIENT_ID, CLIENT_SECRET)
        .authority(server.authority())
        .http_client(http)
        .build()
        .expect("valid client credentials");
    assert_token(&credential, 4242).await;
    assert_eq!(server.only_request()[0].user_agent.as_deref(), Some("my-tool/1.0"));
}

// ---------------------------------------------------------------------------------------------------------------
// End to end

#[tokio::test]
async fn a_token_endpoint_that_asks_to_wait_is_not_asked_again_by_later_calls_until_then() {
    // An hour asked for; held to five minutes, so a failure is never served from memory for long.
    let server = TokenServer::start(vec![Reply::Throttled { retry_after: "3600" }, v2_token()]).await;
    let credential = client_credentials(&server, EndpointVersion::v2());
    let client = Client::builder(format!("{}/insights/v1.1/cmp", server.base_url))
        .token_provider(credential)
        .build()
        .expect("a client");
    for call in 0..5 {
        let error = partner_center_insights::Error::from(client.get_reports().send().await.unwrap_err());
        assert!(error.to_string().contains("AADSTS50196"), "call {call}: {error}");
        assert!(error.is_transient(), "call {call}: {error}");
        let wait = error.retry_after().expect("the wait is kept");
        let bound = if call == 0 { Duration::from_secs(3600) } else { Duration::from_secs(300) };
        assert!(wait <= bound && wait > Duration::from_secs(290), "call {call}: {wait:?}");
    }
    assert_eq!(server.requests().len(), 1, "one token request for five calls");
    assert_eq!(server.replies_left(), 1);
}

#[tokio::test]
async fn client_sends_the_token_from_the_token_endpoint() {
    let server = TokenServer::start(vec![v2_token()]).await;
    let credential = client_credentials(&server, EndpointVersion::v2());
    let client = Client::builder(format!("{}/insights/v1.1/cmp", server.base_url))
        .token_provider(credential)
        .build()
        .expect("a client");

    let reports = client.get_reports().send().await.expect("get reports succeeds");
    assert!(reports.into_inner().value.is_empty());

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_token_request(&requests[0], V2_PATH);
    assert_eq!(requests[0].field("grant_type"), Some("client_credentials"));
    assert_eq!(requests[1].method, Method::GET);
    assert_eq!(requests[1].path, "/insights/v1.1/cmp/ScheduledReport");
    assert!(
        requests[1].authorization.as_deref() == Some(format!("Bearer {ACCESS_TOKEN}").as_str()),
        "the report request did not carry the token from the token endpoint"
    );
}
