// The fault matrix: real sockets on 127.0.0.1 misbehaving the ways networks and services do. Each case checks the
// outcome, that the HTTP status survives, and how many requests the server saw (so retries are counted, not guessed).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use common::{Recorded, Reply, TEST_TOKEN, TestServer, mpn, response_example};
use partner_center_insights::entra::{Authority, ClientCredentials};
use partner_center_insights::{
    AccessToken, AuthError, Client, Error, ErrorKind, ReportStatus, RetryPolicy, TokenProvider, types,
};

const REPORT_ID: &str = "0c9f3f3d-2a5c-4c1a-8d7e-6b2f1e0a9c44";

/// Retries on, with short waits so the suite stays fast.
fn quick_retries() -> RetryPolicy {
    RetryPolicy::default().initial_backoff(Duration::from_millis(5)).max_backoff(Duration::from_millis(20))
}

fn client(server: &TestServer) -> Client {
    Client::builder(mpn(server)).bearer_token(TEST_TOKEN).retry_policy(quick_retries()).build().unwrap()
}

fn client_without_retries(server: &TestServer) -> Client {
    Client::builder(mpn(server)).bearer_token(TEST_TOKEN).retry_policy(RetryPolicy::none()).build().unwrap()
}

fn client_with_request_timeout(server: &TestServer, timeout: Duration) -> Client {
    Client::builder(mpn(server))
        .bearer_token(TEST_TOKEN)
        .retry_policy(RetryPolicy::none())
        .request_timeout(timeout)
        .build()
        .unwrap()
}

fn reports() -> String {
    response_example("Reports").to_string()
}

/// A 200 that promises 5,000 bytes of JSON, sends 100 and resets the connection.
fn cut_off_200() -> Reply {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n";
    Reply::RawThenReset(format!("{head}{}", &reports()[..100]).into_bytes())
}

fn status(error: &Error) -> Option<u16> {
    error.status().map(|s| s.as_u16())
}

async fn get(client: &Client) -> Result<types::ReportEnvelope, Error> {
    Ok(client.get_reports().report_id(REPORT_ID).send().await?.into_inner())
}

async fn resume(client: &Client) -> Result<types::ReportEnvelope, Error> {
    Ok(client.resume_report().report_id(REPORT_ID).send().await?.into_inner())
}

async fn create(client: &Client) -> Result<types::ReportEnvelope, Error> {
    let body = client.create_report().body_map(|r| r.report_name("Usage").query_id("q1").execute_now(true));
    Ok(body.send().await?.into_inner())
}

/// A client that gets its tokens from `token_endpoint` (Entra client credentials) and calls `server`.
fn entra_client(server: &TestServer, token_endpoint: &TestServer, retry: RetryPolicy) -> Client {
    let credential = ClientCredentials::builder("contoso.onmicrosoft.com", "app-id", "client-secret-value-123")
        .authority(Authority::parse(&token_endpoint.url("")).unwrap())
        .build()
        .unwrap();
    Client::builder(mpn(server)).token_provider(credential).retry_policy(retry).build().unwrap()
}

#[tokio::test]
async fn connection_refused_is_retried_then_reported() {
    let (_refusing, port) = common::refusing_port();
    let client = Client::builder(format!("http://127.0.0.1:{port}/insights/v1/mpn"))
        .bearer_token(TEST_TOKEN)
        .retry_policy(quick_retries())
        .build()
        .unwrap();
    let error = get(&client).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connect);
    assert_eq!(error.status(), None);
    assert_eq!(error.attempts(), 4, "{error}");
    // Nothing answered: the id to quote is the one the client sent.
    let sent = error.request_id().expect("the sent request id");
    assert!(uuid::Uuid::parse_str(sent).is_ok(), "{sent}");
    assert!(error.to_string().ends_with(&format!("(request id {sent}; after 4 attempts)")), "{error}");
    // A POST that never reached the service is safe to repeat as well.
    assert_eq!(create(&client).await.unwrap_err().attempts(), 4);
}

#[tokio::test]
async fn reset_mid_body_is_retried_for_idempotent_calls() {
    let server = TestServer::sequence(vec![cut_off_200(), Reply::json(200, &reports())]).await;
    let envelope = get(&client(&server)).await.expect("the second attempt succeeds");
    assert_eq!(envelope.value.len(), 1);
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn a_body_reset_on_every_attempt_fails_with_the_attempt_count() {
    let server = TestServer::always(cut_off_200()).await;
    let error = get(&client(&server)).await.unwrap_err();
    assert_eq!(error.attempts() as usize, server.request_count(), "{error}");
    assert!(server.request_count() > 1, "the reset body was retried");
    assert!(error.to_string().contains(&format!("after {} attempts", server.request_count())), "{error}");
    // No answer came, so the id to quote is the one sent (the same on every attempt).
    let sent = server.requests()[0].header("ms-requestid").map(str::to_owned);
    assert!(sent.is_some() && server.requests().iter().all(|r| r.header("ms-requestid") == sent.as_deref()));
    assert_eq!(error.request_id(), sent.as_deref(), "{error}");
    assert!(error.to_string().contains(sent.as_deref().unwrap()), "{error}");
    // The answer's status is kept: the service did answer, only its body broke off.
    assert_eq!((error.kind(), status(&error)), (ErrorKind::Transport, Some(200)));
    assert!(error.is_transient());
    assert!(error.to_string().starts_with("HTTP 200 OK, then its body broke off: "), "{error}");
}

#[tokio::test]
async fn a_create_answered_200_whose_body_breaks_off_says_200_and_is_not_retried() {
    // The report was created: a caller must be able to tell this from a request that never got an answer.
    let server = TestServer::always(cut_off_200()).await;
    let error = create(&client(&server)).await.unwrap_err();
    assert_eq!((error.kind(), status(&error), error.attempts()), (ErrorKind::Transport, Some(200), 1), "{error}");
    assert_eq!(server.request_count(), 1);
    // A body that stops coming times out, with its status too.
    let server = TestServer::always(Reply::trickle(503, reports(), 8, Duration::from_millis(400))).await;
    let error = get(&client_with_request_timeout(&server, Duration::from_secs(1))).await.unwrap_err();
    assert_eq!((error.kind(), status(&error)), (ErrorKind::Timeout, Some(503)), "{error}");
    assert!(error.to_string().starts_with("HTTP 503 Service Unavailable, then its body timed out: "), "{error}");
}

#[tokio::test]
async fn headers_never_sent_time_out_within_the_configured_time() {
    let server = TestServer::always(Reply::Hang).await;
    let client = client_with_request_timeout(&server, Duration::from_millis(300));
    let error = get(&client).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert_eq!(server.settled_request_count(1).await, 1);

    // With retries, every attempt times out, and the call deadline bounds them all. (At most 10 attempts of 200 ms
    // fit in 2 s; at least 2 do even if this machine stalls for over a second.)
    let client = Client::builder(mpn(&server))
        .bearer_token(TEST_TOKEN)
        .retry_policy(quick_retries().max_attempts(50))
        .request_timeout(Duration::from_millis(200))
        .call_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let error = get(&client).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    let attempts = error.attempts() as usize;
    assert!((2..=10).contains(&attempts), "a 2 s deadline allows 2..=10 attempts of 200 ms, made {attempts}");
    assert_eq!(server.settled_request_count(1 + attempts).await, 1 + attempts);
}

#[tokio::test]
async fn a_given_http_client_without_a_timeout_still_gets_the_attempt_timeout() {
    let server = TestServer::always(Reply::Hang).await;
    let http = partner_center_insights::http_client_builder().unwrap().build().unwrap();
    let client = Client::builder(mpn(&server))
        .bearer_token(TEST_TOKEN)
        .http_client(http)
        .retry_policy(RetryPolicy::none())
        .request_timeout(Duration::from_millis(300))
        .call_timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    let error = tokio::time::timeout(Duration::from_secs(20), get(&client)).await.expect("the call ends").unwrap_err();
    assert_eq!((error.kind(), server.request_count()), (ErrorKind::Timeout, 1), "{error}");
}

#[tokio::test]
async fn throttled_with_retry_after_seconds_then_ok() {
    let server = TestServer::sequence(vec![
        Reply::json(429, r#"{"message":"Too many requests","statusCode":429}"#).with_header("Retry-After", "1"),
        Reply::json(200, &reports()),
    ])
    .await;
    let started = std::time::Instant::now();
    resume(&client(&server)).await.expect("succeeds after the hinted wait");
    assert_eq!(server.request_count(), 2);
    // The hint (1 s) outweighs the backoff (≤ 5 ms): it was honoured, not replaced.
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
}

#[tokio::test]
async fn throttled_with_an_http_date_then_ok() {
    // Two seconds ahead, written to the second: at least one second away from now, and from the start below.
    let started = std::time::Instant::now();
    let when = chrono::Utc::now() + chrono::Duration::seconds(2);
    let date = when.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let server = TestServer::sequence(vec![
        Reply::json(429, r#"{"message":"Too many requests"}"#).with_header("Retry-After", &date),
        Reply::json(200, &reports()),
    ])
    .await;
    resume(&client(&server)).await.expect("succeeds after the date");
    assert_eq!(server.request_count(), 2);
    // A lower bound only (a slow machine makes it longer, never shorter): the backoff alone is ≤ 5 ms.
    assert!(started.elapsed() >= Duration::from_millis(900), "the date was not honoured: {:?}", started.elapsed());
}

#[tokio::test]
async fn unavailable_three_times_then_ok_with_one_request_id() {
    let unavailable = Reply::json(503, r#"{"message":"Service unavailable","statusCode":503}"#);
    let server =
        TestServer::sequence(vec![unavailable.clone(), unavailable.clone(), unavailable, Reply::json(200, &reports())])
            .await;
    resume(&client(&server)).await.expect("the fourth attempt succeeds");
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    let ids: std::collections::BTreeSet<_> =
        requests.iter().map(|r| r.header("ms-requestid").unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 1, "every attempt carries the same MS-RequestId: {ids:?}");
    // The retry layer's copy of the request is the request: same line, same headers, same (empty) body.
    let sorted = |r: &Recorded| {
        let mut headers = r.headers.clone();
        headers.sort();
        (r.request_line.clone(), headers, r.body.clone())
    };
    let first = sorted(&requests[0]);
    assert!(first.1.contains(&("content-length".to_owned(), "0".to_owned())), "{first:?}");
    assert!(first.1.iter().any(|(name, _)| name == "authorization"), "{first:?}");
    assert!(requests.iter().all(|r| sorted(r) == first), "{requests:?}");
}

#[tokio::test]
async fn each_call_has_its_own_request_id_and_the_client_one_correlation_id() {
    let server = TestServer::always(Reply::json(200, &reports())).await;
    let header = |name: &str| -> Vec<String> {
        server.requests().iter().map(|r| r.header(name).expect("sent on every call").to_owned()).collect()
    };
    let default = client(&server);
    resume(&default).await.unwrap();
    resume(&default).await.unwrap();
    let chosen = Client::builder(mpn(&server)).bearer_token(TEST_TOKEN).correlation_id("nightly-export-42").build();
    resume(&chosen.unwrap()).await.unwrap();

    let (request_ids, correlation_ids) = (header("ms-requestid"), header("ms-correlationid"));
    assert_eq!(request_ids.iter().collect::<std::collections::BTreeSet<_>>().len(), 3, "{request_ids:?}");
    let version_4 = |id: &String| uuid::Uuid::parse_str(id).is_ok_and(|id| id.get_version_num() == 4);
    assert!(request_ids.iter().all(version_4), "lower-case hyphenated v4 UUIDs: {request_ids:?}");
    assert!(request_ids.iter().all(|id| id.len() == 36 && *id == id.to_lowercase()), "{request_ids:?}");
    assert_eq!(correlation_ids[0], correlation_ids[1], "one correlation id per client");
    assert!(uuid::Uuid::parse_str(&correlation_ids[0]).is_ok(), "{correlation_ids:?}");
    assert_ne!(correlation_ids[0], request_ids[0]);
    assert_eq!(correlation_ids[2], "nightly-export-42");

    let refused = Client::builder(mpn(&server)).correlation_id("line\nbreak").build().unwrap_err();
    assert_eq!(refused.kind(), partner_center_insights::ErrorKind::InvalidArgument);
    assert_eq!(server.request_count(), 3, "a refused setting sends nothing");
}

#[tokio::test]
async fn a_delete_whose_answer_was_lost_is_retried_and_its_404_says_it_was_a_retry() {
    // The first DELETE is processed but its connection drops before the answer; the retry finds nothing to delete.
    let gone = r#"{"value":[],"totalCount":0,"message":"No item found with given filters.","statusCode":404}"#;
    let server = TestServer::sequence(vec![Reply::Reset, Reply::json(404, gone)]).await;
    let error = client(&server).delete_report().report_id(REPORT_ID).send().await.map_err(Error::from).unwrap_err();
    assert_eq!(server.request_count(), 2, "a DELETE is idempotent, so the reset was retried");
    assert!(server.requests().iter().all(|r| r.method == "DELETE"));
    assert_eq!(status(&error), Some(404));
    assert_eq!(error.attempts(), 2, "the caller can tell the 404 came from a retry");
    assert!(error.to_string().ends_with("after 2 attempts)"), "{error}");
}

#[tokio::test]
async fn unavailable_forever_stops_at_the_attempt_cap() {
    let server = TestServer::always(Reply::json(503, r#"{"message":"Service unavailable","statusCode":503}"#)).await;
    let client = Client::builder(mpn(&server))
        .bearer_token(TEST_TOKEN)
        .retry_policy(quick_retries().max_attempts(3))
        .build()
        .unwrap();
    let error = resume(&client).await.unwrap_err();
    assert_eq!(status(&error), Some(503));
    assert_eq!(error.message(), Some("Service unavailable"));
    assert_eq!(error.attempts(), 3);
    assert_eq!(server.request_count(), 3);
    assert!(error.to_string().contains("after 3 attempts"), "{error}");
}

#[tokio::test]
async fn unavailable_forever_stops_at_the_call_deadline() {
    let server = TestServer::always(Reply::json(503, r#"{"message":"Service unavailable"}"#)).await;
    let client = Client::builder(mpn(&server))
        .bearer_token(TEST_TOKEN)
        .retry_policy(
            RetryPolicy::default()
                .max_attempts(1000)
                .initial_backoff(Duration::from_millis(50))
                .max_backoff(Duration::from_millis(100)),
        )
        .call_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let error = resume(&client).await.unwrap_err();
    assert_eq!(status(&error), Some(503));
    let seen = server.request_count();
    // At most 100 ms apart in 3 s (less the 500 ms a last attempt needs): the deadline ended it, not the cap.
    assert!((2..100).contains(&seen), "the deadline, not the attempt cap, ended it after {seen} requests");
    assert_eq!(error.attempts() as usize, seen);
}

#[tokio::test]
async fn html_500_is_retried_then_kept() {
    let html = "<html><body><h1>500 - Internal server error.</h1></body></html>";
    let server = TestServer::always(Reply::body(500, "text/html", html)).await;
    let error = get(&client(&server)).await.unwrap_err();
    assert_eq!(status(&error), Some(500));
    assert_eq!(error.body(), Some(html.as_bytes()));
    assert_eq!(error.attempts(), 4);
    assert_eq!(server.request_count(), 4);
}

#[tokio::test]
async fn empty_401_with_a_challenge_is_returned_after_one_request_for_a_fixed_token() {
    let reply = Reply::body(401, "text/plain", "").with_header("WWW-Authenticate", r#"Bearer error="invalid_token""#);
    let server = TestServer::always(reply).await;
    let error = get(&client(&server)).await.unwrap_err();
    assert_eq!(status(&error), Some(401));
    assert_eq!(error.kind(), ErrorKind::Service);
    // A fixed token cannot be refreshed: there is nothing different to retry with.
    assert_eq!(server.request_count(), 1);
}

/// Hands out `token-1`, `token-2`, … valid for an hour, counting requests; can be told to fail.
#[derive(Default)]
struct CountingProvider {
    /// Every ask, failed ones included.
    asked: AtomicUsize,
    issued: AtomicUsize,
    failing: std::sync::atomic::AtomicBool,
    delay: Duration,
    lifetime: Option<Duration>,
}

impl TokenProvider for CountingProvider {
    async fn token(&self) -> Result<AccessToken, AuthError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        if self.failing.load(Ordering::SeqCst) {
            return Err(AuthError::new("token endpoint unavailable"));
        }
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let lifetime = self.lifetime.unwrap_or(Duration::from_secs(3600));
        Ok(AccessToken::new(format!("token-{n}"), Some(SystemTime::now() + lifetime)))
    }
}

#[tokio::test]
async fn a_401_refreshes_the_token_once_and_retries_once() {
    let server = TestServer::start(|request, _| {
        if request.header("authorization") == Some("Bearer token-1") {
            Reply::json(401, r#"{"message":"Unauthorized","statusCode":401}"#)
        } else {
            Reply::json(200, &response_example("Reports").to_string())
        }
    })
    .await;
    let provider = Arc::new(CountingProvider::default());
    let client =
        Client::builder(mpn(&server)).token_provider(provider.clone()).retry_policy(quick_retries()).build().unwrap();
    resume(&client).await.expect("the retry with the fresh token succeeds");
    let sent: Vec<_> = server.requests().iter().map(|r| r.header("authorization").unwrap().to_owned()).collect();
    assert_eq!(sent, ["Bearer token-1", "Bearer token-2"]);
    assert_eq!(provider.issued.load(Ordering::SeqCst), 2);

    // The fresh token is cached: the next call asks nobody.
    resume(&client).await.unwrap();
    assert_eq!(provider.issued.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_second_401_is_returned() {
    let server = TestServer::always(Reply::json(401, r#"{"message":"Unauthorized","statusCode":401}"#)).await;
    let provider = Arc::new(CountingProvider::default());
    let client =
        Client::builder(mpn(&server)).token_provider(provider.clone()).retry_policy(quick_retries()).build().unwrap();
    let error = resume(&client).await.unwrap_err();
    assert_eq!(status(&error), Some(401));
    assert_eq!(error.message(), Some("Unauthorized"));
    assert_eq!(server.request_count(), 2, "one refresh, one retry, no more");
    assert_eq!(provider.issued.load(Ordering::SeqCst), 2);
    // The next call's 401 on the token just fetched for the last one is not worth another token request.
    let error = resume(&client).await.unwrap_err();
    assert_eq!((status(&error), error.attempts()), (Some(401), 1));
    assert_eq!((server.request_count(), provider.issued.load(Ordering::SeqCst)), (3, 2));
}

/// Hands out `token-1`, then fails every ask (transiently, or as a refusal such as a revoked grant).
struct RenewalFails {
    asked: AtomicUsize,
    transient: bool,
}

impl TokenProvider for RenewalFails {
    async fn token(&self) -> Result<AccessToken, AuthError> {
        if self.asked.fetch_add(1, Ordering::SeqCst) == 0 {
            return Ok(AccessToken::new("token-1", Some(SystemTime::now() + Duration::from_secs(3600))));
        }
        Err(match self.transient {
            true => AuthError::new("token endpoint unreachable").transient(),
            false => AuthError::new("invalid_grant: AADSTS50173: The provided grant has expired"),
        })
    }
}

#[tokio::test]
async fn a_401_whose_token_cannot_be_renewed_says_why_with_the_401() {
    for transient in [false, true] {
        // Answers the first request, then refuses the token as revoked.
        let server = TestServer::start(|_, n| match n {
            0 => Reply::json(200, &reports()),
            _ => Reply::json(401, r#"{"message":"Unauthorized","statusCode":401}"#),
        })
        .await;
        let provider = Arc::new(RenewalFails { asked: AtomicUsize::new(0), transient });
        let client = Client::builder(mpn(&server))
            .token_provider(provider.clone())
            .retry_policy(RetryPolicy::none())
            .build()
            .unwrap();
        resume(&client).await.unwrap();
        let error = resume(&client).await.unwrap_err();
        // The 401 as the service gave it, and why no fresh token came: the cause to fix.
        assert_eq!(
            (error.kind(), status(&error), error.message()),
            (ErrorKind::Service, Some(401), Some("Unauthorized"))
        );
        let why = if transient { "token endpoint unreachable" } else { "invalid_grant: AADSTS50173" };
        assert!(error.to_string().starts_with("HTTP 401 Unauthorized: Unauthorized; no fresh token: "), "{error}");
        assert!(error.to_string().contains(why), "{error}");
        let source = std::error::Error::source(&error).and_then(|s| s.downcast_ref::<AuthError>());
        assert!(source.is_some_and(|auth| auth.to_string().contains(why)), "{error:?}");
        // Worth trying again later only when the token endpoint was unreachable, not when it refused.
        assert_eq!(error.is_transient(), transient, "{error}");
        assert_eq!((server.request_count(), provider.asked.load(Ordering::SeqCst)), (2, 2));
    }
}

#[tokio::test]
async fn a_server_cannot_pose_as_the_record_of_a_token_that_was_not_renewed() {
    // One call's token failure, kept (not yet converted); its text carries the key it is kept under.
    let server = TestServer::always(Reply::json(200, &reports())).await;
    let provider = FailingProvider { text: "tenant A: invalid client secret".into(), transient: false };
    let failing = Client::builder(mpn(&server)).token_provider(provider).retry_policy(RetryPolicy::none()).build();
    let kept = failing.unwrap().get_reports().send().await.unwrap_err();
    let partner_center_insights::OperationError::Custom(text) = &kept else { panic!("{kept:?}") };
    let key = text.rsplit_once('#').and_then(|(_, key)| key.strip_suffix(')')).unwrap().to_owned();
    // Another client's server answers 401 with the crate's marker and that key.
    let marker = "x-partner-center-insights-token-not-renewed";
    let server = TestServer::always(Reply::json(401, r#"{"message":"Unauthorized"}"#).with_header(marker, &key)).await;
    let error = get(&client(&server)).await.unwrap_err();
    assert_eq!(status(&error), Some(401));
    assert!(std::error::Error::source(&error).is_none(), "{error:?}");
    assert!(!error.to_string().contains("tenant A"), "{error}");
    // Nor as the record of how many attempts a call took, on a 200 that fails to decode.
    let fake =
        Reply::body(200, "application/json", "{\"value\":[").with_header("x-partner-center-insights-attempts", "9");
    let error = get(&client(&TestServer::always(fake).await)).await.unwrap_err();
    assert_eq!((status(&error), error.attempts()), (Some(200), 1), "{error}");
    // The failure stays with its own call.
    let error = Error::from(kept);
    assert_eq!(error.kind(), ErrorKind::Authentication);
    assert!(std::error::Error::source(&error).is_some_and(|s| s.is::<AuthError>()), "{error:?}");
}

#[tokio::test]
async fn a_401_whose_refresh_leaves_no_time_for_a_retry_is_returned_as_the_401() {
    // A slow provider: its refresh leaves less of the call timeout than a retry needs (500 ms). (The call timeout
    // starts once the first token is in hand.)
    let server = TestServer::start(|request, _| match request.header("authorization") {
        Some("Bearer token-1") => Reply::json(401, r#"{"message":"Token expired","statusCode":401}"#),
        _ => Reply::Hang,
    })
    .await;
    let provider = Arc::new(CountingProvider { delay: Duration::from_millis(1200), ..Default::default() });
    let client = Client::builder(mpn(&server))
        .token_provider(provider.clone())
        .call_timeout(Duration::from_millis(1600))
        .build()
        .unwrap();
    let error = resume(&client).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Service, "the 401, not a timeout: {error}");
    assert_eq!(status(&error), Some(401));
    assert_eq!(error.message(), Some("Token expired"));
    assert_eq!(server.request_count(), 1, "no retry was started that could not finish");
}

#[tokio::test]
async fn a_token_provider_that_hangs_fails_the_call_at_the_call_timeout_before_anything_is_sent() {
    let server = TestServer::always(Reply::json(200, &reports())).await;
    let provider = Arc::new(CountingProvider { delay: Duration::from_secs(600), ..Default::default() });
    let client = Client::builder(mpn(&server))
        .token_provider(provider)
        .call_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = resume(&client).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert!(error.is_transient());
    assert_eq!(error.to_string(), "timed out: no access token within 200ms");
    assert_eq!(server.request_count(), 0);
}

#[tokio::test]
async fn a_thousand_calls_on_a_cold_cache_fetch_one_token() {
    let server = TestServer::always(Reply::json(200, &reports())).await;
    let provider = Arc::new(CountingProvider { delay: Duration::from_millis(50), ..Default::default() });
    let client = Client::builder(mpn(&server)).token_provider(provider.clone()).build().unwrap();
    let calls = (0..1000).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.resume_report().report_id(REPORT_ID).send().await.map(drop) })
    });
    for call in calls.collect::<Vec<_>>() {
        call.await.unwrap().unwrap();
    }
    assert_eq!(provider.issued.load(Ordering::SeqCst), 1);
    assert_eq!(server.request_count(), 1000);
}

#[tokio::test]
async fn a_failed_refresh_keeps_serving_a_still_valid_token() {
    let server = TestServer::always(Reply::json(200, &reports())).await;
    // Valid 10 s: due for refresh after half of that, refreshed behind the calls until 2.5 s before expiry. The
    // calls come 1 s into that window and leave 1.5 s of it: room for a machine that stalls.
    let provider = Arc::new(CountingProvider { lifetime: Some(Duration::from_secs(10)), ..Default::default() });
    let client = Client::builder(mpn(&server)).token_provider(provider.clone()).build().unwrap();
    resume(&client).await.unwrap();
    provider.failing.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(6)).await;
    resume(&client).await.expect("the cached token is still valid");
    resume(&client).await.expect("the cached token is still valid");
    assert_eq!(server.requests().last().unwrap().header("authorization"), Some("Bearer token-1"));
    assert_eq!(provider.asked.load(Ordering::SeqCst), 2, "one refresh ahead of expiry, failed and postponed");
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let error = resume(&client).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Authentication, "once expired, the failure shows: {error}");
    assert_eq!(server.request_count(), 3);
}

#[tokio::test]
async fn truncated_json_keeps_status_200_and_is_not_retried() {
    let server = TestServer::always(Reply::json(200, &reports()[..60])).await;
    let error = get(&client(&server)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidResponse);
    assert_eq!(status(&error), Some(200));
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn the_seed_sample_with_its_trailing_comma_fails_with_its_status() {
    let seed = r#"{ "Value": [ { "ReportId": "string", "CreatedTime": "string", "ReportStatus": "string" } ],
        "TotalCount": 0, "Message": "string", "StatusCode": 0, }"#;
    let server = TestServer::always(Reply::json(200, seed)).await;
    let error = get(&client(&server)).await.unwrap_err();
    assert_eq!((error.kind(), status(&error)), (ErrorKind::InvalidResponse, Some(200)));
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn wrong_field_types_fail_with_status_200() {
    let server = TestServer::always(Reply::json(200, r#"{"value":[{"reportId":42}],"totalCount":"one"}"#)).await;
    let error = get(&client(&server)).await.unwrap_err();
    assert_eq!((error.kind(), status(&error)), (ErrorKind::InvalidResponse, Some(200)));
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn a_broken_success_after_a_retry_keeps_the_sent_request_id_and_the_attempt_count() {
    let maintenance = Reply::body(200, "text/html", "<html><body>Down for maintenance</body></html>");
    let server = TestServer::sequence(vec![Reply::json(503, r#"{"message":"busy"}"#), maintenance]).await;
    let error = get(&client(&server)).await.unwrap_err();
    assert_eq!((error.kind(), status(&error)), (ErrorKind::InvalidResponse, Some(200)));
    assert_eq!(error.attempts(), 2);
    let sent = server.requests()[0].header("ms-requestid").unwrap().to_owned();
    assert_eq!(error.request_id(), Some(sent.as_str()), "the answer had no id of its own: the sent one is kept");
    assert!(error.to_string().ends_with("after 2 attempts)"), "{error}");
}

#[tokio::test]
async fn a_body_declared_larger_than_the_limit_is_not_read() {
    let headers = "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 100000000000\r\n\r\n";
    let server = TestServer::always(Reply::Raw(format!("{headers}{{\"message\":").into_bytes())).await;
    let error = get(&client(&server)).await.unwrap_err();
    assert_eq!((error.kind(), status(&error)), (ErrorKind::Service, Some(400)));
    assert!(error.to_string().contains("response body is larger than 64 MiB"), "{error}");
    assert_eq!(error.body(), None);
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn an_endless_body_is_cut_at_the_limit_and_its_start_kept() {
    // No length, and no end: a client that read it whole would wait for ever (here, the request timeout).
    let mut start = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n".to_vec();
    start.extend_from_slice(br#"{"value":[{"reportId":""#);
    let server = TestServer::always(Reply::Endless(start)).await;
    let client = Client::builder(mpn(&server))
        .bearer_token(TEST_TOKEN)
        .retry_policy(quick_retries())
        .call_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let error = get(&client).await.unwrap_err();
    assert_eq!((error.kind(), status(&error)), (ErrorKind::InvalidResponse, Some(200)), "{error}");
    assert!(error.to_string().contains("response body is larger than 64 MiB"), "{error}");
    let kept = error.body().expect("the start is kept");
    assert_eq!(kept.len(), 64 << 10);
    assert!(kept.starts_with(br#"{"value":[{"reportId":"xxx"#));
    assert!(error.request_id().is_some(), "the sent request id");
    assert_eq!(server.request_count(), 1, "a 200 is not retried");
}

#[tokio::test]
async fn a_multi_megabyte_body_decodes() {
    let report = response_example("Reports")["value"][0].clone();
    let many: Vec<_> = (0..10_000)
        .map(|i| {
            let mut r = report.clone();
            r["reportId"] = format!("report-{i}").into();
            r
        })
        .collect();
    let body = serde_json::json!({"value": many, "totalCount": 10_000}).to_string();
    assert!(body.len() > 5_000_000, "{} bytes", body.len());
    let server = TestServer::always(Reply::json(200, &body)).await;
    let envelope = get(&client(&server)).await.unwrap();
    assert_eq!(envelope.value.len(), 10_000);
    assert_eq!(envelope.value[9_999].report_id, "report-9999");
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn invalid_utf8_fails_with_status_200() {
    let mut body = br#"{"value":[{"reportId":""#.to_vec();
    body.extend_from_slice(&[0xc3, 0x28]);
    body.extend_from_slice(br#""}]}"#);
    let server = TestServer::always(Reply::body(200, "application/json", body)).await;
    let error = get(&client(&server)).await.unwrap_err();
    assert_eq!((error.kind(), status(&error)), (ErrorKind::InvalidResponse, Some(200)));
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn an_unknown_enum_value_is_kept() {
    let server =
        TestServer::always(Reply::json(200, r#"{"value":[{"reportId":"r","reportStatus":"Archived"}]}"#)).await;
    let envelope = get(&client(&server)).await.unwrap();
    assert_eq!(envelope.value[0].report_status.as_ref().map(ReportStatus::as_str), Some("Archived"));
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn a_cross_host_redirect_is_not_followed_and_never_gets_the_token() {
    let elsewhere = TestServer::always(Reply::json(200, &reports())).await;
    let location = elsewhere.url("/insights/v1/mpn/ScheduledReport");
    let server = TestServer::always(Reply::body(307, "text/plain", "").with_header("Location", &location)).await;
    let error = get(&client(&server)).await.unwrap_err();
    assert_eq!(status(&error), Some(307));
    assert_eq!((server.request_count(), elsewhere.request_count()), (1, 0));

    // A caller's own client that follows redirects still drops the token when the host changes.
    let following = partner_center_insights::http_client_builder().unwrap().build().unwrap();
    let client = Client::builder(mpn(&server)).bearer_token(TEST_TOKEN).http_client(following).build().unwrap();
    get(&client).await.unwrap();
    let forwarded = elsewhere.requests();
    assert_eq!(forwarded.len(), 1);
    assert_eq!(forwarded[0].header("authorization"), None, "no token after a cross-host redirect");
}

#[tokio::test]
async fn a_token_endpoint_that_is_down_fails_the_call_before_sending() {
    let server = TestServer::always(Reply::json(200, &reports())).await;
    let (_refusing, port) = common::refusing_port();
    let authority = Authority::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let credential = ClientCredentials::builder("contoso.onmicrosoft.com", "app-id", "client-secret-value-123")
        .authority(authority)
        .build()
        .unwrap();
    let client =
        Client::builder(mpn(&server)).token_provider(credential).retry_policy(quick_retries()).build().unwrap();
    let error = get(&client).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Authentication, "{error}");
    assert!(!error.to_string().contains("client-secret-value-123"));
    assert_eq!(server.request_count(), 0);
    // The provider's error is the source, its own cause (reqwest's connect error) behind it.
    let auth = std::error::Error::source(&error).and_then(|e| e.downcast_ref::<AuthError>()).expect("the AuthError");
    assert_eq!(Some(auth.to_string().as_str()), error.message());
    assert!(
        std::error::Error::source(auth)
            .and_then(|e| e.downcast_ref::<reqwest::Error>())
            .is_some_and(|e| e.is_connect())
    );
    // The line is the credential's message, which names the innermost cause itself: nothing from behind it.
    assert_eq!(error.to_string(), format!("authentication failed: {auth}"));
    assert!(auth.is_transient() && error.is_transient(), "an unreachable endpoint may be back later");
}

/// A provider that fails with a cause of its own, whose text must not reach the error's line.
struct TokenFileProvider;

impl TokenProvider for TokenFileProvider {
    async fn token(&self) -> Result<AccessToken, AuthError> {
        let cause = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "/etc/partner-center/token");
        Err(AuthError::with_source("could not read the token file", cause))
    }
}

#[tokio::test]
async fn a_provider_failure_is_the_error_source_and_its_cause_stays_off_the_line() {
    let server = TestServer::always(Reply::json(200, &reports())).await;
    let client = Client::builder(mpn(&server)).token_provider(TokenFileProvider).build().unwrap();
    let error = get(&client).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Authentication);
    assert_eq!(error.to_string(), "authentication failed: could not read the token file");
    let auth = std::error::Error::source(&error).and_then(|e| e.downcast_ref::<AuthError>()).expect("the AuthError");
    let cause = std::error::Error::source(auth).and_then(|e| e.downcast_ref::<std::io::Error>()).expect("its cause");
    assert_eq!(cause.kind(), std::io::ErrorKind::PermissionDenied);
    assert_eq!(server.request_count(), 0);
}

/// A provider that fails with a text of its own choosing, transiently or not.
struct FailingProvider {
    text: String,
    transient: bool,
}

impl TokenProvider for FailingProvider {
    async fn token(&self) -> Result<AccessToken, AuthError> {
        let error = AuthError::new(self.text.clone());
        Err(if self.transient { error.transient() } else { error })
    }
}

#[tokio::test]
async fn many_token_failures_at_once_each_keep_their_own_auth_error() {
    let server = TestServer::always(Reply::json(200, &reports())).await;
    // Forty tenants fail together, half of them with the same text, and their errors are converted only afterwards
    // (the generated code's hook errors are text until `Error::from` finds the `AuthError` again).
    let clients: Vec<_> = (0..40)
        .map(|i| {
            // Same-text pairs (i and i + 20) differ in whether they are transient, so a mix-up shows.
            let provider = FailingProvider { text: format!("tenant {} is unreachable", i % 20), transient: i < 20 };
            let retry = RetryPolicy::none();
            Client::builder(mpn(&server)).token_provider(provider).retry_policy(retry).build().unwrap()
        })
        .collect();
    let failures = futures_util::future::join_all(clients.iter().map(|c| c.get_reports().send())).await;
    for (i, failure) in failures.into_iter().enumerate() {
        let error = Error::from(failure.unwrap_err());
        assert_eq!(error.message(), Some(format!("tenant {} is unreachable", i % 20).as_str()));
        assert_eq!(error.is_transient(), i < 20, "{i}");
        assert!(std::error::Error::source(&error).is_some_and(|e| e.is::<AuthError>()), "{i}");
    }
    assert_eq!(server.request_count(), 0);
    // A provider's own text that reads like the client's token timeout is still an authentication failure.
    let provider = FailingProvider { text: "no access token within reach".to_owned(), transient: false };
    let client = Client::builder(mpn(&server)).token_provider(provider).build().unwrap();
    assert_eq!(get(&client).await.unwrap_err().kind(), ErrorKind::Authentication);
}

#[tokio::test]
async fn a_token_endpoint_aadsts_error_is_clear_and_secret_free() {
    let aadsts = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.\r\nTrace ID: 1\r\nCorrelation ID: 2f0e","error_codes":[7000215],"correlation_id":"2f0e"}"#;
    let token_endpoint = TestServer::always(Reply::json(401, aadsts)).await;
    let server = TestServer::always(Reply::json(200, &reports())).await;
    let credential = ClientCredentials::builder("contoso.onmicrosoft.com", "app-id", "client-secret-value-123")
        .authority(Authority::parse(&token_endpoint.url("")).unwrap())
        .build()
        .unwrap();
    let client = Client::builder(mpn(&server)).token_provider(credential).build().unwrap();
    let error = get(&client).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Authentication);
    let line = error.to_string();
    assert!(line.contains("AADSTS7000215") && line.contains("invalid_client"), "{line}");
    assert!(!line.contains("client-secret-value-123") && !format!("{error:?}").contains("client-secret-value-123"));
    assert_eq!(token_endpoint.request_count(), 1);
    assert_eq!(server.request_count(), 0);
    // What the token endpoint said, structured, for a caller that acts on it.
    let auth = std::error::Error::source(&error).and_then(|e| e.downcast_ref::<AuthError>()).expect("the AuthError");
    assert_eq!(auth.status().map(|s| s.as_u16()), Some(401));
    assert_eq!(
        (auth.oauth_error(), auth.aadsts_code(), auth.correlation_id()),
        (Some("invalid_client"), Some(7000215), Some("2f0e"))
    );
    assert_eq!(line.matches("AADSTS7000215").count(), 1, "said once: {line}");
    assert!(!auth.is_transient() && !error.is_transient(), "a wrong secret stays wrong");
}

#[tokio::test]
async fn a_busy_token_endpoint_is_asked_again_before_the_call_fails() {
    let token = r#"{"token_type":"Bearer","expires_in":3599,"access_token":"fresh-token"}"#;
    let busy = r#"{"error":"temporarily_unavailable","error_description":"AADSTS90033: busy","error_codes":[90033]}"#;
    let token_endpoint = TestServer::sequence(vec![
        Reply::json(503, busy).with_header("Retry-After", "0"),
        Reply::Reset,
        Reply::json(200, token),
    ])
    .await;
    let server = TestServer::always(Reply::json(200, &reports())).await;
    let client = entra_client(&server, &token_endpoint, quick_retries());
    get(&client).await.expect("the third token request succeeds");
    assert_eq!(token_endpoint.request_count(), 3);
    assert_eq!(server.requests()[0].header("authorization"), Some("Bearer fresh-token"));

    // Without retries, the first busy answer is the call's error, transient and with the endpoint's hint.
    let token_endpoint = TestServer::always(Reply::json(429, busy).with_header("Retry-After", "17")).await;
    let client = entra_client(&server, &token_endpoint, RetryPolicy::none());
    let error = get(&client).await.unwrap_err();
    assert_eq!(token_endpoint.request_count(), 1);
    assert!(error.is_transient(), "{error}");
    let auth = std::error::Error::source(&error).and_then(|e| e.downcast_ref::<AuthError>()).expect("the AuthError");
    assert_eq!((auth.status().map(|s| s.as_u16()), auth.retry_after()), (Some(429), Some(Duration::from_secs(17))));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(17)), "the endpoint's hint, on the call's error");
    assert_eq!(server.request_count(), 1, "only the first call reached the service");
}

#[tokio::test]
async fn a_token_endpoint_hint_longer_than_the_policy_waits_ends_the_call_with_it() {
    let server = TestServer::always(Reply::json(200, &reports())).await;
    let busy = r#"{"error":"temporarily_unavailable","error_description":"AADSTS50196: slow down"}"#;
    let token_endpoint = TestServer::always(Reply::json(429, busy).with_header("Retry-After", "120")).await;
    let client = entra_client(&server, &token_endpoint, quick_retries());
    let error = get(&client).await.unwrap_err();
    assert_eq!(token_endpoint.request_count(), 1, "not asked again before the endpoint's time: {error}");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(server.request_count(), 0);
}

#[tokio::test]
async fn a_create_report_reset_after_sending_is_not_retried() {
    let server = TestServer::always(Reply::Reset).await;
    let error = create(&client(&server)).await.unwrap_err();
    assert_eq!((error.kind(), error.status(), error.attempts()), (ErrorKind::Transport, None, 1), "{error}");
    assert_eq!(server.request_count(), 1, "the POST may have been processed: never repeated");
}

#[tokio::test]
async fn a_create_report_is_retried_after_a_503_with_a_hint_but_not_a_bare_503_or_a_500() {
    let busy = Reply::json(503, r#"{"message":"busy"}"#);
    let server =
        TestServer::sequence(vec![busy.clone().with_header("Retry-After", "0"), Reply::json(200, &reports())]).await;
    create(&client(&server)).await.expect("a 503 that says when to come back was a refusal: retried");
    assert_eq!(server.request_count(), 2);

    // A gateway's bare 503 may come after the service created the report.
    for refusal in [busy, Reply::json(500, r#"{"message":"Internal error"}"#)] {
        let server = TestServer::always(refusal).await;
        let error = create(&client(&server)).await.unwrap_err();
        assert!(matches!(status(&error), Some(500 | 503)), "{error}");
        assert_eq!((error.attempts(), server.request_count()), (1, 1), "may have created the report: not repeated");
    }
    // The same bare 503 on a GET is retried.
    let server =
        TestServer::sequence(vec![Reply::json(503, r#"{"message":"busy"}"#), Reply::json(200, &reports())]).await;
    get(&client(&server)).await.expect("a GET is safe to repeat");
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn a_hint_longer_than_the_policy_waits_ends_the_call_with_it() {
    let server = TestServer::sequence(vec![
        Reply::json(429, r#"{"message":"Too many requests"}"#).with_header("Retry-After", "120"),
        Reply::json(200, &reports()),
    ])
    .await;
    let started = std::time::Instant::now();
    let error = get(&client(&server)).await.unwrap_err();
    assert_eq!(status(&error), Some(429));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(120)), "for the caller to schedule the next try");
    assert_eq!((error.attempts(), server.request_count()), (1, 1));
    assert!(started.elapsed() < Duration::from_secs(30), "did not wait out the policy's 60 s cap first");
    // A hint too large for a `Duration` is the longest wait of all, not no hint (which would retry at once).
    let server = TestServer::sequence(vec![
        Reply::json(429, r#"{"message":"Too many requests"}"#).with_header("Retry-After", "99999999999999999999"),
        Reply::json(200, &reports()),
    ])
    .await;
    let error = get(&client(&server)).await.unwrap_err();
    assert_eq!((error.retry_after(), server.request_count()), (Some(Duration::MAX), 1), "{error}");

    // At the policy's limit, the hint is waited out and the call retried.
    let server = TestServer::sequence(vec![
        Reply::json(429, r#"{"message":"Too many requests"}"#).with_header("Retry-After", "1"),
        Reply::json(200, &reports()),
    ])
    .await;
    let patient = Client::builder(mpn(&server))
        .bearer_token(TEST_TOKEN)
        .retry_policy(quick_retries().max_retry_after(Duration::from_secs(1)))
        .build()
        .unwrap();
    get(&patient).await.expect("a hint the policy waits out is retried");
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn a_try_query_that_times_out_is_not_run_again_but_other_reads_are() {
    let server = TestServer::always(Reply::Hang).await;
    let client = Client::builder(mpn(&server))
        .bearer_token(TEST_TOKEN)
        .retry_policy(quick_retries())
        .request_timeout(Duration::from_millis(200))
        .operation_timeout("tryQuery", Duration::from_millis(200))
        .call_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let error = client.try_query().query_id("q1").send().await.map(drop).map_err(Error::from).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert_eq!(
        (error.attempts(), server.settled_request_count(1).await),
        (1, 1),
        "a query past its time is not run twice"
    );

    let error = get(&client).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert_eq!(error.attempts(), 4, "a timed-out read is retried as far as the policy's 4 attempts go");

    // Nor when the service (or its gateway) gave up on it: a 504 or a 408. A 500 or a 503 is tried again.
    for (status, attempts) in [(504, 1), (408, 1), (500, 4), (503, 4)] {
        let server = TestServer::always(Reply::json(status, r#"{"message":"stopped"}"#)).await;
        let client = Client::builder(mpn(&server)).bearer_token(TEST_TOKEN).retry_policy(quick_retries()).build();
        let error = client.unwrap().try_query().query_id("q1").send().await.map(drop).map_err(Error::from);
        let error = error.unwrap_err();
        assert_eq!((self::status(&error), error.attempts()), (Some(status), attempts), "{error}");
        assert_eq!(server.request_count(), attempts as usize);
    }
}

#[tokio::test]
async fn retries_can_be_turned_off() {
    let server = TestServer::always(Reply::json(503, r#"{"message":"busy"}"#)).await;
    assert_eq!(status(&resume(&client_without_retries(&server)).await.unwrap_err()), Some(503));
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn a_per_operation_timeout_applies_to_that_operation_only() {
    // Every answer arrives 400 ms late, in two pieces.
    let server = TestServer::always(Reply::trickle(200, reports().into_bytes(), 2, Duration::from_millis(400))).await;
    let client = Client::builder(mpn(&server))
        .bearer_token(TEST_TOKEN)
        .retry_policy(RetryPolicy::none())
        .request_timeout(Duration::from_secs(30))
        .operation_timeout("resumeReport", Duration::from_millis(200))
        .build()
        .unwrap();
    assert_eq!(resume(&client).await.unwrap_err().kind(), ErrorKind::Timeout, "resume_report is held to 200 ms");
    get(&client).await.expect("get_reports keeps the client's request timeout");
    let unknown = Client::builder(mpn(&server)).operation_timeout("resumeReports", Duration::from_secs(1)).build();
    assert!(unknown.unwrap_err().to_string().contains("there is no operation `resume_reports`"));
}

/// A try-query may run for the service's 100 s: by default it has 130 s per attempt, whatever the request timeout.
#[tokio::test]
async fn a_try_query_outlasts_the_request_timeout_by_default() {
    // Every answer arrives 800 ms late, in two pieces.
    let rows = response_example("QueryResult").to_string().into_bytes();
    let server = TestServer::always(Reply::trickle(200, rows, 2, Duration::from_millis(400))).await;
    let client = client_with_request_timeout(&server, Duration::from_millis(200));
    client.try_query().query_id("q1").send().await.expect("try_query has a timeout of its own");
    assert_eq!(get(&client).await.unwrap_err().kind(), ErrorKind::Timeout, "get_reports is held to 200 ms");
    let settings = format!("{client:?}");
    assert!(settings.contains(r#"("try_query", 130s)"#), "{settings}");
}

#[tokio::test]
async fn a_retry_that_runs_out_of_time_returns_the_last_answer() {
    let server = TestServer::sequence(vec![
        Reply::json(503, r#"{"message":"Service unavailable"}"#).with_header("Retry-After", "0"),
        Reply::Hang,
    ])
    .await;
    let client = Client::builder(mpn(&server))
        .bearer_token(TEST_TOKEN)
        .retry_policy(quick_retries())
        .call_timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    let error = get(&client).await.unwrap_err();
    assert_eq!(status(&error), Some(503), "the service's answer, not the deadline's timeout: {error}");
    assert_eq!(error.message(), Some("Service unavailable"));
    assert_eq!(error.attempts(), 2);
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn a_create_retried_after_a_429_that_runs_out_of_time_is_a_timeout_not_the_429() {
    // The retried POST reached the service, which may have created the report: the earlier refusal would say it
    // had not, and a caller creating it again would make two.
    let server = TestServer::sequence(vec![
        Reply::json(429, r#"{"message":"Too many requests"}"#).with_header("Retry-After", "0"),
        Reply::Hang,
    ])
    .await;
    let client = Client::builder(mpn(&server))
        .bearer_token(TEST_TOKEN)
        .retry_policy(quick_retries())
        .call_timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    let error = create(&client).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert_eq!(status(&error), None);
    assert_eq!(error.attempts(), 2);
    assert_eq!(server.request_count(), 2);
}

/// Gives its first token at once and takes `later` for every one after (none expires, so each call asks again).
struct SlowAfterFirst {
    asked: AtomicUsize,
    later: Duration,
}

impl TokenProvider for SlowAfterFirst {
    async fn token(&self) -> Result<AccessToken, AuthError> {
        if self.asked.fetch_add(1, Ordering::SeqCst) > 0 {
            tokio::time::sleep(self.later).await;
        }
        Ok(AccessToken::new("token", None))
    }
}

#[tokio::test]
async fn a_retry_whose_token_takes_the_time_left_is_not_sent() {
    let server = TestServer::sequence(vec![
        Reply::json(429, r#"{"message":"Too many requests"}"#).with_header("Retry-After", "0"),
        Reply::json(200, &reports()),
    ])
    .await;
    // The wait fits; the token asked for after it leaves ~400 ms, under the 500 ms a retry is started with.
    let provider = SlowAfterFirst { asked: AtomicUsize::new(0), later: Duration::from_millis(1200) };
    let client = Client::builder(mpn(&server))
        .token_provider(provider)
        .retry_policy(quick_retries())
        .call_timeout(Duration::from_millis(1600))
        .build()
        .unwrap();
    let error = resume(&client).await.unwrap_err();
    assert_eq!(status(&error), Some(429), "{error}");
    assert_eq!(error.message(), Some("Too many requests"));
    assert_eq!(error.attempts(), 1);
    assert_eq!(server.request_count(), 1, "no retry was sent without time for its answer");
}

#[tokio::test]
async fn unrepresentable_timeouts_and_hints_mean_no_limit_not_a_panic() {
    let server = TestServer::sequence(vec![
        Reply::json(429, r#"{"message":"slow down"}"#).with_header("retry-after-ms", "1e25"),
        Reply::json(200, &reports()),
    ])
    .await;
    let client = Client::builder(mpn(&server))
        .bearer_token(TEST_TOKEN)
        .retry_policy(quick_retries().max_retry_after(Duration::MAX).max_backoff(Duration::MAX))
        .call_timeout(Duration::MAX)
        .request_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    // The hint, too large for a `Duration`, is the longest wait there is: not waited (no deadline could hold it),
    // not ignored either (that would retry at once), but handed to the caller.
    let error = get(&client).await.unwrap_err();
    assert_eq!((status(&error), error.retry_after()), (Some(429), Some(Duration::MAX)), "{error}");
    assert_eq!(server.request_count(), 1);
    // Unrepresentable limits on a call that needs no retry: no limit, and no panic.
    let server = TestServer::always(Reply::json(200, &reports())).await;
    let client = Client::builder(mpn(&server))
        .bearer_token(TEST_TOKEN)
        .retry_policy(quick_retries().max_retry_after(Duration::MAX).max_backoff(Duration::MAX))
        .call_timeout(Duration::MAX)
        .request_timeout(Duration::MAX)
        .build()
        .unwrap();
    get(&client).await.expect("no limit is no limit");
}

/// The statuses the retry policy names (408, 429, 500, 502, 503, 504) are retried, transient, and keep their
/// status when retries are off; any other failure is answered once. A POST is repeated after a 429 (a refusal,
/// so not processed) and after nothing else here.
#[tokio::test]
async fn exactly_the_documented_statuses_are_retried() {
    let answer = |status: u16| Reply::json(status, r#"{"message":"not now"}"#);
    for code in [408, 429, 500, 502, 503, 504] {
        let server = TestServer::sequence(vec![answer(code), Reply::json(200, &reports())]).await;
        get(&client(&server)).await.unwrap_or_else(|e| panic!("{code} is retried: {e}"));
        assert_eq!(server.request_count(), 2, "{code}");

        let server = TestServer::always(answer(code)).await;
        let error = get(&client_without_retries(&server)).await.unwrap_err();
        assert_eq!((status(&error), error.is_transient(), error.attempts()), (Some(code), true, 1), "{error}");
        assert_eq!(error.message(), Some("not now"));

        let server = TestServer::sequence(vec![answer(code), Reply::json(200, &reports())]).await;
        let outcome = create(&client(&server)).await;
        let repeated = code == 429;
        assert_eq!((outcome.is_ok(), server.request_count()), (repeated, if repeated { 2 } else { 1 }), "POST {code}");
    }
    for code in [400, 403, 404, 409, 501] {
        let server = TestServer::always(answer(code)).await;
        let error = get(&client(&server)).await.unwrap_err();
        assert_eq!((status(&error), error.is_transient(), error.attempts()), (Some(code), false, 1), "{error}");
        assert_eq!(server.request_count(), 1, "{code} is answered once");
    }
}

/// A token endpoint answering 408, 429, 500, 502, 503 or 504 is asked again (a repeated token request does no
/// harm); its other refusals are final and not transient.
#[tokio::test]
async fn exactly_the_documented_token_endpoint_statuses_are_asked_again() {
    let token = r#"{"token_type":"Bearer","expires_in":3599,"access_token":"fresh-token"}"#;
    let refusal = |status: u16| Reply::json(status, r#"{"error":"x","error_description":"AADSTS1: no"}"#);
    let server = TestServer::always(Reply::json(200, &reports())).await;
    for code in [408, 429, 500, 502, 503, 504] {
        let token_endpoint = TestServer::sequence(vec![refusal(code), Reply::json(200, token)]).await;
        get(&entra_client(&server, &token_endpoint, quick_retries())).await.unwrap_or_else(|e| panic!("{code}: {e}"));
        assert_eq!(token_endpoint.request_count(), 2, "{code}");

        let token_endpoint = TestServer::always(refusal(code)).await;
        let error = get(&entra_client(&server, &token_endpoint, RetryPolicy::none())).await.unwrap_err();
        assert!(error.is_transient(), "{code}: {error}");
    }
    for code in [400, 401, 403, 404] {
        let token_endpoint = TestServer::always(refusal(code)).await;
        let error = get(&entra_client(&server, &token_endpoint, quick_retries())).await.unwrap_err();
        assert!(!error.is_transient(), "{code}: {error}");
        assert_eq!((error.kind(), token_endpoint.request_count()), (ErrorKind::Authentication, 1), "{code}");
    }
}

#[tokio::test]
async fn a_token_answer_that_breaks_off_keeps_its_status_and_ids_and_is_transient() {
    use std::io::Write;
    // A compressed 503 whose body stops half way: reqwest reports the break as a decode error.
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(
        format!(r#"{{"error":"temporarily_unavailable","error_description":"{}"}}"#, "x".repeat(4000)).as_bytes(),
    )
    .unwrap();
    let body = gzip.finish().unwrap();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n\
         x-ms-request-id: trace-7\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let mut cut = head.into_bytes();
    cut.extend_from_slice(&body[..body.len() / 2]);
    let token_endpoint = TestServer::always(Reply::RawThenReset(cut)).await;
    let credential = ClientCredentials::builder("contoso.onmicrosoft.com", "app", "client-s3cret")
        .authority(Authority::parse(&token_endpoint.url("")).unwrap())
        .build()
        .unwrap();
    let error = partner_center_insights::TokenProvider::token(&credential).await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(503), "{error}");
    assert!(error.is_transient(), "an answer that broke off may come whole next time: {error}");
    assert_eq!(error.trace_id(), Some("trace-7"));
    let sent = token_endpoint.requests()[0].header("client-request-id").map(str::to_owned);
    assert_eq!(error.correlation_id().map(str::to_owned), sent, "the id the request carried, to quote");
}

#[tokio::test]
async fn a_refused_password_is_not_sent_again_by_the_next_calls() {
    use partner_center_insights::PasswordCredential;
    // Every refused sign-in counts towards Entra's smart lockout of the account.
    let refused = r#"{"error":"invalid_grant","error_description":"AADSTS50126: Error validating credentials due to invalid username or password.","error_codes":[50126]}"#;
    let token_endpoint = TestServer::always(Reply::json(400, refused)).await;
    let server = TestServer::always(Reply::json(200, &reports())).await;
    let credential =
        PasswordCredential::builder("contoso.onmicrosoft.com", "app-id", "viewer@contoso.com", "p4ss-s3cret")
            .authority(Authority::parse(&token_endpoint.url("")).unwrap())
            .build()
            .unwrap();
    let client =
        Client::builder(mpn(&server)).token_provider(credential).retry_policy(quick_retries()).build().unwrap();
    for call in 0..15 {
        let error = get(&client).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Authentication, "call {call}: {error}");
        assert!(error.to_string().contains("AADSTS50126"), "call {call} has the refusal: {error}");
        assert!(!error.is_transient() && error.retry_after().is_none(), "call {call}: {error}");
        let repeated = error.to_string().contains("(a refusal repeated: not asked again for ");
        assert_eq!(repeated, call > 0, "call {call} says whether the endpoint was asked: {error}");
    }
    assert_eq!((token_endpoint.request_count(), server.request_count()), (1, 0), "one sign-in sent, not fifteen");
}
