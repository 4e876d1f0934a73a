// Secrets never reach logs: the client's flows (calls, retries, 401 refresh, each Entra grant and its failures)
// run under the TRACE subscriber every test binary has (`common::log_guard`), which also captures dependencies'
// `log` records, and no secret may show up in it. Here the log is also read, to show the guard sees it all.

mod common;

use std::time::Duration;

use common::log_guard::{captured, leaked_secret, start_capture};
use common::{Reply, TestServer, mpn, response_example};
use partner_center_insights::entra::{
    Authority, ClientCredentials, EndpointVersion, PasswordCredential, RefreshTokenCredential,
};
use partner_center_insights::{Client, RetryPolicy, types};

const CLIENT_SECRET: &str = "client-secret-Zq8~x";
const PASSWORD: &str = "p4ssw0rd-Kq2!";
const REFRESH_TOKEN: &str = "refresh-token-0.AAAA";
const ROTATED_REFRESH_TOKEN: &str = "refresh-token-1.BBBB";
const ACCESS_TOKENS: [&str; 2] = ["access-token-eyJ-first", "access-token-eyJ-second"];
/// The storage signature in an execution's download link.
const LINK_SIGNATURE: &str = "sig=Wq3Zk%2Bsignature";

#[tokio::test]
async fn no_secret_appears_in_trace_logs() {
    start_capture();

    // A token endpoint that issues two access tokens, rotates the refresh token, and then refuses everything with
    // a description that echoes the secret (as a badly behaved endpoint might).
    let token_endpoint = TestServer::start(|request, n| {
        let body = String::from_utf8_lossy(&request.body).into_owned();
        if n >= 3 {
            let echo = format!(
                r#"{{"error":"invalid_grant","error_description":"AADSTS50126: bad credentials {CLIENT_SECRET} {PASSWORD}","error_codes":[50126]}}"#
            );
            return Reply::json(400, &echo);
        }
        let refresh = if body.contains("grant_type=refresh_token") { ROTATED_REFRESH_TOKEN } else { REFRESH_TOKEN };
        Reply::json(
            200,
            &format!(
                r#"{{"token_type":"Bearer","expires_in":3599,"access_token":"{}","refresh_token":"{refresh}"}}"#,
                ACCESS_TOKENS[n.min(1)]
            ),
        )
    })
    .await;
    let authority = || Authority::parse(&token_endpoint.url("")).unwrap();

    // The API: rejects the first access token once (401 → refresh), is unavailable once (retry), then answers.
    let api = TestServer::start(|request, n| match (request.header("authorization"), n) {
        (Some(token), _) if token.ends_with(ACCESS_TOKENS[0]) => Reply::json(401, r#"{"message":"Unauthorized"}"#),
        (_, 1) => Reply::json(503, r#"{"message":"busy"}"#).with_header("Retry-After", "0"),
        _ => Reply::json(200, &response_example("Reports").to_string()),
    })
    .await;
    let quick = RetryPolicy::default().initial_backoff(Duration::from_millis(1));

    let credentials = ClientCredentials::builder("contoso.onmicrosoft.com", "app", CLIENT_SECRET)
        .authority(authority())
        .build()
        .unwrap();
    let client = Client::builder(mpn(&api)).token_provider(credentials).retry_policy(quick.clone()).build().unwrap();
    client.resume_report().report_id("r1").send().await.expect("401 refresh and 503 retry, then success");

    let refresh = RefreshTokenCredential::builder("contoso.onmicrosoft.com", "app", REFRESH_TOKEN)
        .client_secret(CLIENT_SECRET)
        .endpoint_version(EndpointVersion::v1())
        .authority(authority())
        .build()
        .unwrap();
    let client = Client::builder(mpn(&api)).token_provider(refresh).retry_policy(quick.clone()).build().unwrap();
    client.get_reports().send().await.unwrap();

    let password = PasswordCredential::builder("contoso.onmicrosoft.com", "app", "user@contoso.com", PASSWORD)
        .client_secret(CLIENT_SECRET)
        .authority(authority())
        .build()
        .unwrap();
    let client = Client::builder(mpn(&api)).token_provider(password).retry_policy(quick).build().unwrap();
    let error = client.get_reports().send().await.map_err(partner_center_insights::Error::from).unwrap_err();
    tracing::error!(%error, ?error, "reported to the application");

    // A download from a signed link: once refused by storage, then served; the execution is logged as a whole.
    let storage = TestServer::sequence(vec![
        Reply::body(403, "application/xml", "<Error><Code>AuthenticationFailed</Code></Error>"),
        Reply::body(200, "text/csv", "a,b\n1,2\n"),
    ])
    .await;
    let execution: types::Execution = serde_json::from_value(serde_json::json!({
        "executionId": "e1", "executionStatus": "Completed",
        "reportAccessSecureLink": storage.url(&format!("/e1.csv?sv=2020-08-04&{LINK_SIGNATURE}")),
    }))
    .unwrap();
    let error = client.download_execution(&execution, &mut Vec::new(), |_| {}).await.unwrap_err();
    tracing::error!(%error, ?error, ?execution, "download failed");
    client.download_execution(&execution, &mut Vec::new(), |_| {}).await.expect("the second try is served");
    assert!(storage.requests().iter().all(|r| r.target.ends_with(LINK_SIGNATURE)), "the whole link was fetched");

    let logs = captured();
    // The capture works: the client's own events and spans are in it, and so are dependencies' records (reqwest's
    // `log` records, through the `tracing-log` bridge).
    for expected in [
        "partner_center_call",
        "401: retrying once with a fresh token",
        "AADSTS50126",
        "reqwest::connect: starting new connection",
    ] {
        assert!(logs.contains(expected), "`{expected}` was logged:\n{logs}");
    }
    // The retry is a warning with its reason and wait; the call's span ends up with its attempts, status and time.
    let line = |wanted: &[&str]| logs.lines().any(|line| wanted.iter().all(|part| line.contains(part)));
    assert!(line(&[" WARN ", "retrying attempt=2 reason=HTTP 503 Service Unavailable wait_ms="]), "{logs}");
    assert!(
        line(&[r#"partner_center_call{operation="resume_report" request_id=""#, " attempts=3 elapsed_ms="]),
        "{logs}"
    );
    assert!(line(&["partner_center_call{", " status=200}", "answered"]), "{logs}");
    let secrets = [CLIENT_SECRET, PASSWORD, REFRESH_TOKEN, ROTATED_REFRESH_TOKEN, ACCESS_TOKENS[0], ACCESS_TOKENS[1]];
    // The signature in any spelling (encoded or not), not only as sent.
    for secret in secrets.into_iter().chain([LINK_SIGNATURE, "Wq3Zk"]) {
        assert!(!logs.contains(secret), "`{secret}` leaked into the logs");
        assert!(!logs.contains(&secret.replace('~', "%7E").replace('!', "%21")), "`{secret}`, URL-encoded, leaked");
    }
}

/// The guard every test binary logs through finds each secret as given and URL-encoded, and nothing else.
#[test]
fn the_suite_s_log_guard_finds_secrets_in_any_spelling() {
    for secret in [CLIENT_SECRET, PASSWORD, REFRESH_TOKEN, ACCESS_TOKENS[1], LINK_SIGNATURE] {
        let line = format!("2026-11-25T04:00:00Z TRACE reqwest: body={secret}&x=1");
        assert!(leaked_secret(&line).is_some_and(|found| secret.contains(&found)), "{line}");
    }
    assert!(leaked_secret("client_secret=client-secret-Zq8%7Ex").is_some(), "percent-encoded");
    assert!(leaked_secret("password=pw+P%40ss%26word%3D42").is_some(), "form-encoded, with `+` for the space");
    assert!(leaked_secret("refresh_token=0.emulator-refresh.5f0c1e").is_some(), "an emulator refresh token");
    assert_eq!(leaked_secret(r#"partner_center_call{operation="resume_report"} answered status=200"#), None);
    assert_eq!(leaked_secret("client_secret=[redacted] refresh_token=[redacted]"), None);
}
