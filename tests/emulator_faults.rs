// Fault injection as the client experiences it (429 with Retry-After, 503, malformed JSON, a dropped connection,
// a slow answer), queued through the Rust API and through `POST /_emulator/faults`, per scope.

#![cfg(feature = "emulator")]

mod emulator_support;

use std::time::Duration;

use emulator_support::*;
use partner_center_insights::emulator::{DEV_TOKEN, Emulator, FaultScope};
use partner_center_insights::{Client, Error, ErrorKind, Program, RetryPolicy};
use serde_json::json;

async fn admin(
    emulator: &Emulator,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, String) {
    let mut request = http().request(method, format!("{}{path}", emulator.origin()));
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_string());
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Faults are observed one at a time here, so the client does not retry them away (see the last test for that).
fn client(emulator: &Emulator, program: Program) -> Client {
    Client::builder(emulator.base_url(program))
        .bearer_token(DEV_TOKEN)
        .retry_policy(RetryPolicy::none())
        .build()
        .expect("client builds")
}

async fn datasets(client: &Client) -> Result<(), Error> {
    client.get_datasets().send().await.map(drop).map_err(Error::from)
}

#[tokio::test]
async fn status_429_with_retry_after() {
    let emulator = Emulator::start().await.unwrap();
    emulator.faults().next(2).status_429(Duration::from_secs(3));
    assert_eq!(emulator.faults().pending(), 2);

    let response = http()
        .get(format!("{}/ScheduledDataset", emulator.base_url(Program::Marketplace)))
        .bearer_auth(DEV_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "3");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!((body["statusCode"].as_u64(), message(&body)), (Some(429), "Too many requests"));

    let client = client(&emulator, Program::Marketplace);
    let error = datasets(&client).await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(429));
    assert_eq!(error.message(), Some("Too many requests"));
    // Used up: the next call goes through.
    datasets(&client).await.unwrap();
    assert_eq!(emulator.faults().pending(), 0);
}

#[tokio::test]
async fn status_503() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Partner);
    emulator.faults().next(1).status(503);
    let error = datasets(&client).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Service);
    assert_eq!(error.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(error.message(), Some("Service unavailable"));
    assert!(error.request_id().is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()), "{error}");
    datasets(&client).await.unwrap();
}

#[tokio::test]
async fn malformed_body() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Marketplace);
    emulator.faults().next(1).malformed_body();
    let error = client.get_reports().send().await.map_err(Error::from).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidResponse);
    assert_eq!(error.status().map(|s| s.as_u16()), Some(200));
    assert!(error.message().unwrap_or_default().contains("not JSON"), "{error}");
}

#[tokio::test]
async fn dropped_connection() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Marketplace);
    emulator.faults().next(1).drop_connection();
    let error = datasets(&client).await.unwrap_err();
    assert_eq!(error.status(), None, "{error}");
    // The connection was made and the request sent: what failed is the answer, not connecting.
    assert_eq!(error.kind(), ErrorKind::Transport, "{error:?}");
    datasets(&client).await.unwrap();
}

#[tokio::test]
async fn slow_answers_trip_the_client_timeout() {
    let emulator = Emulator::start().await.unwrap();
    let client = Client::builder(emulator.base_url(Program::Marketplace))
        .bearer_token(DEV_TOKEN)
        .request_timeout(Duration::from_millis(100))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    emulator.faults().next(1).delay(Duration::from_millis(1500));
    let error = datasets(&client).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
}

#[tokio::test]
async fn the_admin_endpoint_refuses_rules_beyond_its_cap() {
    let emulator = Emulator::start().await.unwrap();
    for _ in 0..10_000 {
        emulator.faults().next(1).drop_connection();
    }
    let (status, text) =
        admin(&emulator, reqwest::Method::POST, "/_emulator/faults", Some(json!({"kind": "dropConnection"}))).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("10000 fault rules are already pending"), "{text}");
    assert_eq!(emulator.faults().pending(), 10_000);
}

#[tokio::test]
async fn faults_through_the_admin_endpoint() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Partner);
    let post = |body| admin(&emulator, reqwest::Method::POST, "/_emulator/faults", Some(body));

    let (status, text) = post(json!({"kind": "status", "status": 429, "retryAfterSeconds": 7, "count": 2})).await;
    assert_eq!(status, 200, "{text}");
    let error = datasets(&client).await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(429));
    let response = http()
        .get(format!("{}/ScheduledReport", emulator.base_url(Program::Partner)))
        .bearer_auth(DEV_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!((response.status().as_u16(), &response.headers()["retry-after"]), (429, &"7".parse().unwrap()));

    post(json!({"kind": "status", "status": 503, "count": 2})).await;
    assert_eq!(admin(&emulator, reqwest::Method::GET, "/_emulator/faults", None).await.1, r#"{"pending":2}"#);
    for _ in 0..2 {
        assert_eq!(datasets(&client).await.unwrap_err().status().map(|s| s.as_u16()), Some(503));
    }

    post(json!({"kind": "malformedBody"})).await;
    assert_eq!(datasets(&client).await.unwrap_err().kind(), ErrorKind::InvalidResponse);

    post(json!({"kind": "dropConnection"})).await;
    assert_eq!(datasets(&client).await.unwrap_err().status(), None);

    post(json!({"kind": "status", "status": 500, "count": 5})).await;
    let (status, _) = admin(&emulator, reqwest::Method::DELETE, "/_emulator/faults", None).await;
    assert_eq!(status, 204);
    datasets(&client).await.unwrap();

    for (bad, reason) in [
        (json!({"kind": "status"}), "`status` must be an HTTP status code (100-599)"),
        (json!({"kind": "teleport"}), "`kind` must be one of status, delay, dropConnection, malformedBody"),
        (json!({"kind": "delay", "count": -1}), "`count` must be a non-negative integer"),
    ] {
        let (status, text) = post(bad.clone()).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), json!({ "error": reason }), "{bad}");
    }
}

#[tokio::test]
async fn faults_stay_in_their_scope() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Marketplace);
    let query = create_query(&client, Program::Marketplace).await;
    let report = execute_now(&client, &query, "faulty download").await;
    emulator.advance(Duration::from_secs(600)).await;
    let executions = client.get_report_executions().report_id(report.as_str()).send().await.unwrap();
    let link = link(&executions.value[0]);

    emulator.faults().next(1).on(FaultScope::Download).status(503);
    emulator.faults().next(1).on(FaultScope::Token).status_429(Duration::from_secs(1));
    // API calls are untouched by download and token faults.
    datasets(&client).await.unwrap();
    assert_eq!(fetch(&link).await.unwrap().status(), 503);
    assert_eq!(fetch(&link).await.unwrap().status(), 200);
    let token = http().post(emulator.token_url()).body("grant_type=x").send().await.unwrap();
    assert_eq!(token.status(), 429);

    // A rule for any scope covers downloads too: the connection closes without an answer, once.
    emulator.faults().next(1).on(FaultScope::Any).drop_connection();
    let dropped = fetch(&link).await.unwrap_err();
    assert!(dropped.status().is_none() && !dropped.is_timeout() && !dropped.is_connect(), "{dropped:?}");
    assert_eq!(fetch(&link).await.unwrap().status(), 200);
}

#[tokio::test]
async fn the_clock_can_be_advanced_over_http() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Marketplace);
    let query = create_query(&client, Program::Marketplace).await;
    let report = execute_now(&client, &query, "advance over http").await;
    let before = emulator.now();
    let (status, text) =
        admin(&emulator, reqwest::Method::POST, "/_emulator/clock/advance", Some(json!({"seconds": 600}))).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(emulator.now().as_datetime() - before.as_datetime(), chrono::Duration::seconds(600));
    let done = client.get_report_executions().report_id(report.as_str()).send().await.unwrap();
    assert_eq!(done.total_count, Some(1));
    let (status, _) =
        admin(&emulator, reqwest::Method::POST, "/_emulator/clock/advance", Some(json!({"hours": 1}))).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_default_client_retries_through_transient_faults() {
    let emulator = Emulator::start().await.unwrap();
    let client = Client::builder(emulator.base_url(Program::Partner))
        .bearer_token(DEV_TOKEN)
        .retry_policy(RetryPolicy::default().initial_backoff(Duration::from_millis(5)))
        .build()
        .unwrap();
    emulator.faults().next(1).status_429(Duration::from_secs(0));
    emulator.faults().next(1).status(503);
    emulator.faults().next(1).drop_connection();
    datasets(&client).await.expect("three transient faults, then the answer");
    assert_eq!(emulator.faults().pending(), 0);
}
