// The workflow helpers against real loopback servers: waiting for an execution (404 first, then states), streaming
// a multi-megabyte gzip download without the token, and following nextLink across pages without leaving the host.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Reply, TEST_TOKEN, TestServer, client, mpn};
use partner_center_insights::{Error, ErrorKind, ExecutionStatus, ExposeSecret, SecureLink, WaitProgress, types};

const REPORT_ID: &str = "0c9f3f3d-2a5c-4c1a-8d7e-6b2f1e0a9c44";

fn executions(status: &str, link: Option<&str>) -> String {
    serde_json::json!({
        "value": [{"executionId": "e1", "reportId": REPORT_ID, "executionStatus": status, "reportAccessSecureLink": link}],
        "totalCount": 1, "message": null, "statusCode": 200
    })
    .to_string()
}

fn not_found() -> Reply {
    Reply::json(
        404,
        r#"{"value":[],"message":"There are no executions that have occurred for the given filter conditions.","statusCode":404}"#,
    )
}

#[tokio::test]
async fn waiting_reads_404_as_not_yet_and_returns_the_completed_execution() {
    // Each poll asks for the latest run that has begun, and only when there is none, for the queued one.
    let server = TestServer::sequence(vec![
        not_found(),
        not_found(),
        // Nothing yet: is there such a report? (Asked once.)
        Reply::json(200, &common::response_example("Reports").to_string()),
        not_found(),
        Reply::json(200, &executions("Pending", None)),
        Reply::json(200, &executions("Running", None)),
        Reply::json(200, &executions("Completed", Some("https://storage.example/r.csv?sig=x"))),
    ])
    .await;
    let client = client(&mpn(&server));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let execution = client
        .wait_for_execution(REPORT_ID)
        .poll_interval(Duration::from_millis(5))
        .on_progress(move |p| log.lock().unwrap().push(p.clone()))
        .await
        .expect("completes");
    assert_eq!(execution.execution_status, Some(ExecutionStatus::Completed));
    let link = execution.report_access_secure_link.as_ref().map(ExposeSecret::expose_secret);
    assert_eq!(link, Some("https://storage.example/r.csv?sig=x"));
    let statuses: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|p| match p {
            WaitProgress::NoExecutionYet => "none".to_owned(),
            WaitProgress::Execution { status, .. } => status.to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(statuses, ["none", "Pending", "Running", "Completed"]);
    let targets: Vec<String> = server.requests().into_iter().map(|r| r.target).collect();
    let started =
        format!("/ScheduledReport/execution/{REPORT_ID}?executionStatus=Running%3BCompleted&getLatestExecution=true");
    let queued =
        format!("/ScheduledReport/execution/{REPORT_ID}?executionStatus=Pending%3BPaused&getLatestExecution=true");
    let report = format!("/ScheduledReport?reportId={REPORT_ID}");
    // Once seen running, the run is followed by its id.
    let by_id = format!(
        "/ScheduledReport/execution/{REPORT_ID}?executionId=e1&executionStatus=Pending%3BRunning%3BPaused%3BCompleted&getLatestExecution=false"
    );
    assert_eq!(targets.len(), 7, "{targets:#?}");
    for (target, expected) in targets.iter().zip([&started, &queued, &report, &started, &queued, &started, &by_id]) {
        assert!(target.ends_with(expected.as_str()), "{target} does not end with {expected}");
    }
}

#[tokio::test]
async fn a_poll_that_fails_for_now_does_not_end_the_wait() {
    // An outage (a 503, retries off) and a throttled poll (a 429 asking for 1 s), then the run has completed; and the
    // report check, when it fails for now, is asked again.
    let server = TestServer::sequence(vec![
        Reply::json(503, r#"{"message":"Service unavailable","statusCode":503}"#),
        not_found(),
        not_found(),
        Reply::json(503, r#"{"message":"Service unavailable","statusCode":503}"#),
        not_found(),
        not_found(),
        Reply::json(200, &common::response_example("Reports").to_string()),
        Reply::json(429, r#"{"message":"Too many requests","statusCode":429}"#).with_header("Retry-After", "1"),
        Reply::json(200, &executions("Completed", Some("https://storage.example/r.csv?sig=x"))),
    ])
    .await;
    let api = client(&mpn(&server));
    let wait = api.wait_for_execution(REPORT_ID).poll_interval(Duration::from_millis(5));
    let execution = wait.timeout(Duration::from_secs(30)).await.expect("the run is seen completed");
    assert_eq!(execution.execution_status, Some(ExecutionStatus::Completed));
    assert_eq!(server.request_count(), 9);

    // Past the deadline, the last failure is the answer.
    let server = TestServer::always(Reply::json(503, r#"{"message":"Service unavailable","statusCode":503}"#)).await;
    let api = client(&mpn(&server));
    let wait = api.wait_for_execution(REPORT_ID).poll_interval(Duration::from_millis(20));
    let error = wait.timeout(Duration::from_millis(300)).await.unwrap_err();
    assert!(server.request_count() >= 2, "polled again after the first failure");
    // The deadline names the last failure it saw.
    assert_eq!((error.kind(), error.status()), (ErrorKind::Timeout, None), "{error}");
    assert!(error.to_string().contains("(last seen: a failed poll: HTTP 503 Service Unavailable"), "{error}");
    // A failure that is not transient ends it at once.
    let server = TestServer::always(Reply::json(403, r#"{"message":"Forbidden","statusCode":403}"#)).await;
    let error = client(&mpn(&server)).wait_for_execution(REPORT_ID).await.unwrap_err();
    assert_eq!((error.status().map(|s| s.as_u16()), server.request_count()), (Some(403), 1));
}

#[tokio::test]
async fn a_poll_that_fails_near_the_deadline_is_followed_by_one_more_look() {
    // The interval (3 s) outlasts the wait (2 s): after the failed first poll, the wait still looks once more, a
    // second before the deadline (the first poll's quick answer says little about how long the next takes).
    let server = TestServer::sequence(vec![
        Reply::json(503, r#"{"message":"Service unavailable","statusCode":503}"#),
        // The body comes 0.4 s after the head: a look begun by twice the first poll's few milliseconds before the
        // deadline would be cut off, while the last look (begun a second before it) has 0.6 s to spare.
        Reply::trickle(200, executions("Completed", None), 1, Duration::from_millis(400)),
    ])
    .await;
    let api = client(&mpn(&server));
    let wait = api.wait_for_execution(REPORT_ID).execution_id("e1").poll_interval(Duration::from_secs(3));
    let execution = wait.timeout(Duration::from_secs(2)).await.expect("the second look sees it completed");
    assert_eq!(execution.execution_status, Some(ExecutionStatus::Completed));
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn a_wait_shorter_than_the_last_looks_lead_polls_once() {
    // Less than a second in all: the first poll is the last look, and a quick answer is not asked again at once.
    let server = TestServer::always(Reply::json(200, &executions("Running", None))).await;
    for timeout in [500, 900] {
        let error = client(&mpn(&server)).wait_for_execution(REPORT_ID).timeout(Duration::from_millis(timeout)).await;
        assert_eq!(error.unwrap_err().kind(), ErrorKind::Timeout);
    }
    assert_eq!(server.request_count(), 2, "one poll per wait");
}

#[tokio::test]
async fn a_wait_asked_for_that_leaves_no_time_to_answer_ends_with_the_hint() {
    // Asked to wait 1 s with 1.5 s left: a poll after it would have half a second, under the lead a poll is given.
    let server = TestServer::always(
        Reply::json(503, r#"{"message":"Service unavailable","statusCode":503}"#).with_header("Retry-After", "1"),
    )
    .await;
    let error = client(&mpn(&server)).wait_for_execution(REPORT_ID).timeout(Duration::from_millis(1500)).await;
    let error = error.unwrap_err();
    assert_eq!((error.status().map(|s| s.as_u16()), error.retry_after()), (Some(503), Some(Duration::from_secs(1))));
    assert_eq!(server.request_count(), 1, "not polled again with too little time left");
}

#[tokio::test]
async fn a_slow_poll_early_on_does_not_use_up_the_look_before_the_deadline() {
    // The first poll takes about a second: the next is brought forward, with time for as slow an answer. That one
    // is quick, and the last 2 s would go unlooked at before the 2.5 s interval ended the wait; a third poll, a
    // second before the deadline, sees the run completed.
    let server = TestServer::sequence(vec![
        Reply::trickle(200, executions("Running", None), 3, Duration::from_millis(400)),
        Reply::json(200, &executions("Running", None)),
        Reply::json(200, &executions("Completed", None)),
    ])
    .await;
    let execution = client(&mpn(&server))
        .wait_for_execution(REPORT_ID)
        .poll_interval(Duration::from_millis(2500))
        .max_interval(Duration::from_millis(2500))
        .timeout(Duration::from_millis(4500))
        .await
        .expect("the third poll sees it completed");
    assert_eq!(execution.execution_status, Some(ExecutionStatus::Completed));
    assert_eq!(server.request_count(), 3);
}

#[tokio::test]
async fn a_run_asked_for_by_id_is_found_in_any_case() {
    let server = TestServer::always(Reply::json(200, &executions("Completed", None))).await;
    let api = client(&mpn(&server));
    let wait = api.wait_for_execution(REPORT_ID).execution_id("E1");
    let execution = wait.poll_interval(Duration::from_millis(5)).await.expect("e1 is E1");
    assert_eq!(execution.execution_id, "e1");
    assert_eq!(server.request_count(), 1);
}

/// A server where execution e1 is Running at first and then listed in no documented state, while an earlier run
/// is Completed; `report` answers the report lookup.
async fn run_that_vanishes(report: Reply) -> TestServer {
    let earlier = Reply::json(200, &executions("Completed", Some("https://storage.example/old.csv?sig=x")));
    TestServer::start(move |request, n| match n {
        0 => Reply::json(200, &executions("Running", None)),
        _ if request.target.contains("executionId=e1") => not_found(),
        _ if request.target.contains("/execution/") => earlier.clone(),
        _ => report.clone(),
    })
    .await
}

#[tokio::test]
async fn a_run_seen_running_that_leaves_the_documented_states_fails_the_wait() {
    // The earlier completed run must not be returned in its place.
    let server = run_that_vanishes(Reply::json(200, &common::response_example("Reports").to_string())).await;
    let error =
        client(&mpn(&server)).wait_for_execution(REPORT_ID).poll_interval(Duration::from_millis(5)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ExecutionFailed, "{error}");
    assert!(error.to_string().contains("execution e1 of report"), "{error}");
    // Running; not listed, twice (one miss is not enough); the report is still there.
    let targets: Vec<String> = server.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(targets.len(), 4, "{targets:#?}");
    assert!(targets[1].contains("executionId=e1") && targets[2].contains("executionId=e1"), "{targets:#?}");
    assert!(targets[3].ends_with(&format!("/ScheduledReport?reportId={REPORT_ID}")), "{targets:#?}");

    // The same with the run's id given (listed at the first poll, then not).
    let server = run_that_vanishes(Reply::json(200, &common::response_example("Reports").to_string())).await;
    let client = client(&mpn(&server));
    let error = client.wait_for_execution(REPORT_ID).execution_id("e1").poll_interval(Duration::from_millis(5)).await;
    assert_eq!(error.unwrap_err().kind(), ErrorKind::ExecutionFailed);
    assert_eq!(server.request_count(), 4);
}

#[tokio::test]
async fn a_report_deleted_while_its_run_is_waited_for_fails_with_the_reports_404() {
    let gone = Reply::json(404, r#"{"value":[],"message":"No item found with given filters.","statusCode":404}"#);
    let server = run_that_vanishes(gone).await;
    let error =
        client(&mpn(&server)).wait_for_execution(REPORT_ID).poll_interval(Duration::from_millis(5)).await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(404), "{error}");
    assert_eq!(error.message(), Some("No item found with given filters."));
    // An empty list where the report should be says the same.
    let server = run_that_vanishes(Reply::json(200, r#"{"value":[],"totalCount":0,"statusCode":200}"#)).await;
    let error =
        client(&mpn(&server)).wait_for_execution(REPORT_ID).poll_interval(Duration::from_millis(5)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{error}");
    assert!(error.to_string().contains(&format!("there is no report {REPORT_ID}")), "{error}");
}

#[tokio::test]
async fn waiting_on_a_report_that_does_not_exist_fails_with_its_404() {
    let server = TestServer::start(|request, _| {
        if request.target.contains("/execution/") {
            not_found()
        } else {
            Reply::json(404, r#"{"value":[],"message":"No item found with given filters.","statusCode":404}"#)
        }
    })
    .await;
    let error = client(&mpn(&server)).wait_for_execution(REPORT_ID).poll_interval(Duration::from_millis(5)).await;
    let error = error.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(404));
    assert_eq!(error.message(), Some("No item found with given filters."));
    assert_eq!(server.request_count(), 3, "started, queued, the report: then no more polls");
}

#[tokio::test]
async fn waiting_for_one_execution_asks_for_it_in_any_state() {
    let other = serde_json::json!({"executionId": "e0", "reportId": REPORT_ID, "executionStatus": "Completed"});
    let mine = |status: &str| {
        serde_json::json!({"value": [other, {"executionId": "e1", "reportId": REPORT_ID, "executionStatus": status}],
            "totalCount": 2, "statusCode": 200})
        .to_string()
    };
    let server = TestServer::sequence(vec![
        not_found(),
        Reply::json(200, &mine("Pending")),
        Reply::json(200, &mine("Completed")),
    ])
    .await;
    let execution = client(&mpn(&server))
        .wait_for_execution(REPORT_ID)
        .execution_id("e1")
        .poll_interval(Duration::from_millis(5))
        .await
        .expect("completes");
    // Not the other completed execution the answer also lists.
    assert_eq!(execution.execution_id, "e1");
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert!(
        requests[0].target.ends_with(
            "?executionId=e1&executionStatus=Pending%3BRunning%3BPaused%3BCompleted&getLatestExecution=false"
        ),
        "{}",
        requests[0].target
    );
}

/// A server that never lists execution `typo` (a 404 first, then a list of another run), and answers the report
/// lookup with `report`.
async fn never_listing_typo(report: Reply) -> TestServer {
    let other =
        serde_json::json!({"value": [{"executionId": "e0", "reportId": REPORT_ID, "executionStatus": "Running"}],
        "totalCount": 1, "statusCode": 200})
        .to_string();
    TestServer::start(move |request, n| match n {
        0 => not_found(),
        _ if request.target.contains("/execution/") => Reply::json(200, &other),
        _ => report.clone(),
    })
    .await
}

#[tokio::test]
async fn waiting_for_an_execution_id_that_is_never_listed_fails_naming_it_not_at_the_timeout() {
    let server = never_listing_typo(Reply::json(200, &common::response_example("Reports").to_string())).await;
    let api = client(&mpn(&server));
    // Read as "no run yet", an unlisted id would end the wait only at its timeout, with ErrorKind::Timeout.
    let wait = api.wait_for_execution(REPORT_ID).execution_id("typo").poll_interval(Duration::from_millis(5));
    let error = wait.timeout(Duration::from_secs(30)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ExecutionFailed, "{error}");
    let message = error.to_string();
    assert!(message.contains(&format!("execution typo of report {REPORT_ID} is not listed")), "{message}");
    assert!(message.contains("the id is wrong"), "{message}");
    // Not listed, twice (one miss is not enough); then the report is found to exist.
    let targets: Vec<String> = server.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(targets.len(), 3, "{targets:#?}");
    assert!(targets[..2].iter().all(|t| t.contains("/execution/") && t.contains("executionId=typo")), "{targets:#?}");
    assert!(targets[2].ends_with(&format!("/ScheduledReport?reportId={REPORT_ID}")), "{targets:#?}");

    // Of a report that is gone, the report's 404 says why.
    let gone = Reply::json(404, r#"{"value":[],"message":"No item found with given filters.","statusCode":404}"#);
    let server = never_listing_typo(gone).await;
    let client = client(&mpn(&server));
    let wait = client.wait_for_execution(REPORT_ID).execution_id("typo").poll_interval(Duration::from_millis(5));
    let error = wait.timeout(Duration::from_secs(30)).await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(404), "{error}");
    assert_eq!(error.message(), Some("No item found with given filters."));
    assert_eq!(server.request_count(), 3);
}

#[tokio::test]
async fn waiting_stops_at_an_undocumented_final_state() {
    let server = TestServer::always(Reply::json(200, &executions("Failed", None))).await;
    let error =
        client(&mpn(&server)).wait_for_execution(REPORT_ID).poll_interval(Duration::from_millis(5)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ExecutionFailed);
    assert!(error.to_string().contains("ended as `Failed`"), "{error}");
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn waiting_times_out() {
    let server = TestServer::always(Reply::json(200, &executions("Running", None))).await;
    let error = client(&mpn(&server))
        .wait_for_execution(REPORT_ID)
        .poll_interval(Duration::from_millis(10))
        .max_interval(Duration::from_millis(20))
        .timeout(Duration::from_secs(2))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert!(error.to_string().contains("last seen: execution e1 is Running"), "{error}");
    assert!(server.request_count() >= 2);
}

#[tokio::test]
async fn a_run_that_completes_in_the_last_interval_before_the_deadline_is_returned() {
    // The first answer takes about 600 ms (two pieces, each after a 300 ms pause), so the last poll is begun some
    // 1.2 s before the deadline: ample for the immediate answer after it, even on a machine that stalls for a second.
    let running = executions("Running", None).into_bytes();
    let server = TestServer::sequence(vec![
        Reply::trickle(200, running, 2, Duration::from_millis(300)),
        Reply::json(200, &executions("Completed", Some("https://storage.example/r.csv?sig=x"))),
    ])
    .await;
    // A 10 s interval does not fit in the 3 s timeout: the wait used to give up after the first poll.
    let execution = client(&mpn(&server))
        .wait_for_execution(REPORT_ID)
        .poll_interval(Duration::from_secs(10))
        .max_interval(Duration::from_secs(10))
        .timeout(Duration::from_secs(3))
        .await
        .expect("the run completed before the deadline");
    assert_eq!(execution.execution_status, Some(ExecutionStatus::Completed));
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn a_poll_slowed_by_a_retry_does_not_end_the_wait_while_time_is_left() {
    // The first poll waits out a 1 s hint: it takes over half of what is left of the 2.5 s, which used to end the
    // wait there (no room for "twice what the last poll took"); the next poll still fits and finds the run done.
    let server = TestServer::sequence(vec![
        Reply::json(429, r#"{"message":"slow down"}"#).with_header("Retry-After", "1"),
        Reply::json(200, &executions("Running", None)),
        Reply::json(200, &executions("Completed", Some("https://storage.example/r.csv?sig=x"))),
    ])
    .await;
    let retrying = retrying_client(&server);
    let execution = retrying
        .wait_for_execution(REPORT_ID)
        .poll_interval(Duration::from_secs(10))
        .timeout(Duration::from_millis(2500))
        .await
        .expect("the run completed before the deadline");
    assert_eq!(execution.execution_status, Some(ExecutionStatus::Completed));
    assert_eq!(server.request_count(), 3);
}

#[tokio::test]
async fn a_first_poll_interval_over_the_longest_is_cut_to_it() {
    let server = TestServer::sequence(vec![
        Reply::json(200, &executions("Running", None)),
        Reply::json(200, &executions("Running", None)),
        Reply::json(200, &executions("Running", None)),
        Reply::json(200, &executions("Completed", Some("https://storage.example/r.csv?sig=x"))),
    ])
    .await;
    // With the hour slept in full (cut only by the deadline), the wait would time out after two polls.
    let execution = client(&mpn(&server))
        .wait_for_execution(REPORT_ID)
        .poll_interval(Duration::from_secs(3600))
        .max_interval(Duration::from_millis(5))
        .timeout(Duration::from_secs(30))
        .await
        .expect("polled every 5 ms");
    assert_eq!(execution.execution_status, Some(ExecutionStatus::Completed));
    assert_eq!(server.request_count(), 4);
}

#[tokio::test]
async fn a_poll_that_hangs_ends_at_the_waits_deadline_not_the_clients() {
    // The first poll answers, the second never does: the client alone would wait out its 60 s request timeout.
    let server = TestServer::sequence(vec![Reply::json(200, &executions("Running", None)), Reply::Hang]).await;
    let client = partner_center_insights::Client::builder(mpn(&server))
        .bearer_token(TEST_TOKEN)
        .request_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let error = client
        .wait_for_execution(REPORT_ID)
        .poll_interval(Duration::from_millis(10))
        .timeout(Duration::from_secs(2))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert!(error.to_string().contains("completed within 2s (last seen: execution e1 is Running)"), "{error}");
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn a_zero_timeout_fails_without_polling_or_asking_for_a_token() {
    struct Counted(Arc<std::sync::atomic::AtomicUsize>);
    impl partner_center_insights::TokenProvider for Counted {
        async fn token(&self) -> Result<partner_center_insights::AccessToken, partner_center_insights::AuthError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(partner_center_insights::AccessToken::new(TEST_TOKEN, None))
        }
    }
    let server = TestServer::always(Reply::json(200, &executions("Completed", None))).await;
    let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let client =
        partner_center_insights::Client::builder(mpn(&server)).token_provider(Counted(asked.clone())).build().unwrap();
    let error = client.wait_for_execution(REPORT_ID).timeout(Duration::ZERO).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    // A token asked for in a task of its own would have been asked by now: this runtime has one thread, and runs
    // the tasks it was given in turn.
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 0, "no token was asked for");
    assert_eq!(server.request_count(), 0);
}

#[tokio::test]
async fn waiting_refuses_poll_intervals_under_a_millisecond_before_polling() {
    let server = TestServer::always(Reply::json(200, &executions("Running", None))).await;
    let client = client(&mpn(&server));
    for wait in [
        client.wait_for_execution(REPORT_ID).poll_interval(Duration::ZERO),
        // Too short to ever grow: 1.5 times 1 ns is still 1 ns.
        client.wait_for_execution(REPORT_ID).poll_interval(Duration::from_nanos(1)),
        client.wait_for_execution(REPORT_ID).max_interval(Duration::ZERO),
    ] {
        let error = wait.await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidArgument);
        assert!(error.to_string().contains("poll intervals must be at least 1ms"), "{error}");
    }
    assert_eq!(server.request_count(), 0);
}

#[tokio::test]
async fn waiting_returns_service_errors_and_refuses_bad_ids() {
    let server = TestServer::always(Reply::json(403, r#"{"message":"Forbidden","statusCode":403}"#)).await;
    let client = client(&mpn(&server));
    let error = client.wait_for_execution(REPORT_ID).await.unwrap_err();
    assert_eq!((error.status().map(|s| s.as_u16()), error.message()), (Some(403), Some("Forbidden")));
    assert_eq!(client.wait_for_execution("..").await.unwrap_err().kind(), ErrorKind::InvalidArgument);
    // `;` lists several ids to the service: the wait would take whichever run came first.
    for wait in [client.wait_for_execution("r1;r2"), client.wait_for_execution(REPORT_ID).execution_id("e1;e2")] {
        let error = wait.await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{error}");
        assert!(error.to_string().contains("no `;`"), "{error}");
    }
    assert_eq!(server.request_count(), 1);
}

fn csv(rows: usize) -> Vec<u8> {
    let mut out = b"CustomerName,NormalizedUsage\n".to_vec();
    for i in 0..rows {
        writeln!(out, "Customer {i},{}.25", i * 7).unwrap();
    }
    out
}

fn execution_with(link: String) -> types::Execution {
    serde_json::from_str(&executions("Completed", Some(&link)))
        .map(|e: types::ExecutionEnvelope| e.value[0].clone())
        .unwrap()
}

#[tokio::test]
async fn a_multi_megabyte_gzip_download_streams_without_the_token() {
    let file = csv(300_000);
    assert!(file.len() > 6_000_000, "{} bytes", file.len());
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&file).unwrap();
    let gzipped = encoder.finish().unwrap();
    let storage =
        TestServer::always(Reply::body(200, "text/csv", gzipped).with_header("content-encoding", "gzip")).await;
    let api = TestServer::always(Reply::json(500, "{}")).await;
    let client = client(&mpn(&api));
    let execution = execution_with(storage.url("/reports/e1.csv?sig=abc"));

    let mut written = Vec::new();
    let mut progress = Vec::new();
    let done = client.download_execution(&execution, &mut written, |p| progress.push(p.bytes)).await.unwrap();
    assert_eq!(done.bytes as usize, file.len());
    assert_eq!(written, file, "gzip was decoded");
    assert!(progress.windows(2).all(|w| w[0] < w[1]) && progress.last() == Some(&(file.len() as u64)));
    assert!(progress.len() > 10, "streamed in chunks, not read whole ({} chunks)", progress.len());
    let request = &storage.requests()[0];
    assert_eq!(request.target, "/reports/e1.csv?sig=abc");
    assert_eq!(request.header("authorization"), None, "the bearer token never goes to storage");
    assert!(request.header("accept-encoding").is_some_and(|v| v.contains("gzip")));
    assert!(!format!("{:?}", storage.requests()).contains(TEST_TOKEN));
    assert_eq!(api.request_count(), 0);
}

#[tokio::test]
async fn a_download_to_a_file_is_all_or_nothing() {
    let dir = std::env::temp_dir().join(format!("pci-download-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let storage = TestServer::sequence(vec![
        Reply::body(200, "text/csv", csv(1000)),
        Reply::body(403, "application/xml", "<Error><Code>AuthenticationFailed</Code></Error>"),
    ])
    .await;
    let client = client(&mpn(&storage));
    let execution = execution_with(storage.url("/e1.csv?sig=abc"));
    let target = dir.join("report.csv");
    client.download_execution_to_file(&execution, &target, |_| {}).await.unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), csv(1000));

    let failed = dir.join("failed.csv");
    let error = client.download_execution_to_file(&execution, &failed, |_| {}).await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(403));
    // The whole signed link went to storage, and its signature shows nowhere else.
    assert!(storage.requests().iter().all(|r| r.target == "/e1.csv?sig=abc"));
    for shown in [format!("{error}"), format!("{error:?}"), format!("{execution:?}")] {
        assert!(!shown.contains("sig=abc"), "{shown}");
    }
    assert!(error.body().is_some_and(|b| b.starts_with(b"<Error>")));
    assert!(!failed.exists(), "no half file under the final name");
    assert_eq!(partial_files(&dir), Vec::<String>::new(), "no partial file is left");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_gzip_download_of_several_members_is_saved_whole_and_a_broken_one_not_at_all() {
    let gzip = |part: &[u8]| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(part).unwrap();
        encoder.finish().unwrap()
    };
    let file = csv(20_000);
    let (head, tail) = file.split_at(file.len() / 3);
    // Two gzip members back to back (as `cat a.gz b.gz` makes): one file.
    let two_members = [gzip(head), gzip(tail)].concat();
    let storage =
        TestServer::always(Reply::body(200, "text/csv", two_members).with_header("content-encoding", "gzip")).await;
    let client = client(&mpn(&storage));
    let mut written = Vec::new();
    let execution = execution_with(storage.url("/e1.csv?sig=a"));
    let done = client.download_execution(&execution, &mut written, |_| {}).await.unwrap();
    assert_eq!((done.bytes as usize, written == file), (file.len(), true), "every member was decoded");

    let dir = std::env::temp_dir().join(format!("pci-download-gzip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("report.csv");
    let whole = gzip(&file);
    let broken = [
        // Something after the last member that is not another.
        [whole.as_slice(), b"<html>proxy footer</html>"].concat(),
        // The stream stops short (the connection closed cleanly, the length as sent).
        whole[..whole.len() / 2].to_vec(),
        // Its checksum does not match.
        [&whole[..whole.len() - 8], &[0u8; 8][..]].concat(),
    ];
    for body in broken {
        std::fs::write(&target, "the report saved before").unwrap();
        let storage =
            TestServer::always(Reply::body(200, "text/csv", body).with_header("content-encoding", "gzip")).await;
        let execution = execution_with(storage.url("/e1.csv?sig=a"));
        let error = client.download_execution_to_file(&execution, &target, |_| {}).await.unwrap_err();
        assert_eq!((error.kind(), error.status().map(|s| s.as_u16())), (ErrorKind::InvalidResponse, Some(200)));
        assert!(error.to_string().contains("the encoded file is broken: "), "{error}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "the report saved before");
    }
    assert_eq!(partial_files(&dir), Vec::<String>::new(), "no partial file is left");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A writer that keeps only the length of what it is given, and its largest single write.
#[derive(Default)]
struct Measuring {
    written: usize,
    largest: usize,
}

impl tokio::io::AsyncWrite for Measuring {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.written += buf.len();
        self.largest = self.largest.max(buf.len());
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn an_encoded_download_is_decoded_a_little_at_a_time_and_an_empty_one_is_empty() {
    // 32 MiB of zeros is 32 KiB of gzip, or of deflate: a chunk of it decoded at once would be megabytes in memory.
    let file = vec![0u8; 32 << 20];
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(&file).unwrap();
    let mut deflate = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    deflate.write_all(&file).unwrap();
    for (encoding, body) in [("gzip", gzip.finish().unwrap()), ("deflate", deflate.finish().unwrap())] {
        let reply = Reply::body(200, "text/csv", body.clone()).with_header("content-encoding", encoding);
        let storage = TestServer::always(reply).await;
        let client = client(&mpn(&storage));
        let mut measuring = Measuring::default();
        let execution = execution_with(storage.url("/e1.csv?sig=a"));
        let done = client.download_execution(&execution, &mut measuring, |_| {}).await.unwrap();
        assert_eq!((done.bytes as usize, measuring.written), (file.len(), file.len()), "{encoding}");
        assert!(measuring.largest <= 5 << 20, "{encoding}: a write of {} bytes", measuring.largest);
        // With something after its end: refused, as not the file.
        let reply =
            Reply::body(200, "text/csv", [body.as_slice(), b"more"].concat()).with_header("content-encoding", encoding);
        let storage = TestServer::always(reply).await;
        let execution = execution_with(storage.url("/e1.csv?sig=a"));
        let error = client.download_execution(&execution, &mut Measuring::default(), |_| {}).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidResponse, "{encoding}: {error}");
        if encoding == "deflate" {
            assert!(error.to_string().contains("there are bytes after the end of the deflate stream"), "{error}");
        }
        // An empty body is an empty file, whatever encoding it is said to be in.
        let storage =
            TestServer::always(Reply::body(200, "text/csv", "").with_header("content-encoding", encoding)).await;
        let execution = execution_with(storage.url("/e1.csv?sig=a"));
        let done = client.download_execution(&execution, &mut Vec::new(), |_| {}).await.unwrap();
        assert_eq!(done.bytes, 0, "{encoding}");
    }
}

#[tokio::test]
async fn a_deflate_download_is_decoded() {
    let file = csv(20_000);
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&file).unwrap();
    let deflated = encoder.finish().unwrap();
    let storage =
        TestServer::always(Reply::body(200, "text/csv", deflated).with_header("content-encoding", "deflate")).await;
    let client = client(&mpn(&storage));
    let mut written = Vec::new();
    let done =
        client.download_execution(&execution_with(storage.url("/e1.csv?sig=a")), &mut written, |_| {}).await.unwrap();
    assert_eq!((done.bytes as usize, written == file), (file.len(), true), "deflate was decoded");
    assert!(storage.requests()[0].header("accept-encoding").is_some_and(|v| v.contains("deflate")));
}

#[tokio::test]
async fn a_download_whose_content_encoding_names_none_is_saved_as_sent() {
    for encoding in ["identity", "IDENTITY", "", " , identity"] {
        let storage =
            TestServer::always(Reply::body(200, "text/csv", csv(10)).with_header("content-encoding", encoding)).await;
        let client = client(&mpn(&storage));
        let mut written = Vec::new();
        let execution = execution_with(storage.url("/e1.csv?sig=a"));
        client.download_execution(&execution, &mut written, |_| {}).await.unwrap();
        assert_eq!(written, csv(10), "{encoding:?}");
    }
}

#[tokio::test]
async fn a_download_that_is_not_the_whole_file_decoded_fails_and_keeps_the_file_on_disk() {
    let dir = std::env::temp_dir().join(format!("pci-download-not-whole-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("report.csv");
    let cut_off = {
        let body = csv(1000);
        let mut raw =
            format!("HTTP/1.1 200 OK\r\ncontent-type: text/csv\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
        raw.extend_from_slice(&body[..body.len() / 2]);
        Reply::Raw(raw)
    };
    let answers = [
        // An encoding the client cannot decode: its bytes are not the report.
        (Reply::body(200, "text/csv", "\u{1b}\u{2}\u{0}compressed").with_header("content-encoding", "br"), "`br`"),
        // Gzip named (`identity` names nothing): decoded, and these bytes are not gzip.
        (
            Reply::body(200, "text/csv", "\u{1f}\u{8b}compressed")
                .with_header("content-encoding", "identity")
                .with_header("content-encoding", "gzip"),
            "the encoded file is broken: ",
        ),
        // Two encodings, one over the other: not undone.
        (Reply::body(200, "text/csv", "x").with_header("content-encoding", "gzip, deflate"), "`gzip, deflate`"),
        // Not the file at all, though a success.
        (Reply::body(204, "text/csv", ""), "204 No Content"),
        (Reply::body(206, "text/csv", "Contoso"), "206 Partial Content"),
    ];
    for (answer, shown) in answers {
        std::fs::write(&target, "the report saved before").unwrap();
        let storage = TestServer::always(answer).await;
        let client = client(&mpn(&storage));
        let execution = execution_with(storage.url("/e1.csv?sig=abc"));
        let error = client.download_execution_to_file(&execution, &target, |_| {}).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidResponse, "{error}");
        assert!(error.to_string().contains(shown), "{error}");
        assert!(error.status().is_some(), "{error}");
        assert!(!format!("{error:?}").contains("sig=abc"), "{error:?}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "the report saved before");
    }
    // A body that breaks off after some of it was written to the partial file.
    std::fs::write(&target, "the report saved before").unwrap();
    let storage = TestServer::always(cut_off).await;
    let client = client(&mpn(&storage));
    let execution = execution_with(storage.url("/e1.csv?sig=abc"));
    let error = client.download_execution_to_file(&execution, &target, |_| {}).await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(200), "{error}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "the report saved before");
    assert_eq!(partial_files(&dir), Vec::<String>::new(), "no partial file is left");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn partial_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".partial"))
        .collect()
}

#[tokio::test]
async fn downloads_to_one_path_do_not_share_a_partial_file_and_a_dropped_one_leaves_none() {
    let dir = std::env::temp_dir().join(format!("pci-download-shared-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Each answer arrives in pieces, so the two downloads write at the same time; the third one's over 4 s, so it
    // is still under way when it is dropped, however slow this machine is.
    let storage = TestServer::start(move |request, _| {
        let (rows, gap) = match request.target.split_once('.').map(|(path, _)| path) {
            Some("/a") => (3000, 20),
            Some("/slow") => (5000, 500),
            _ => (5000, 20),
        };
        Reply::trickle(200, csv(rows), 8, Duration::from_millis(gap))
    })
    .await;
    let client = client(&mpn(&storage));
    let target = dir.join("report.csv");
    let (first, second) = (execution_with(storage.url("/a.csv?sig=a")), execution_with(storage.url("/b.csv?sig=b")));
    let (a, b) = tokio::join!(
        client.download_execution_to_file(&first, &target, |_| {}),
        client.download_execution_to_file(&second, &target, |_| {}),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.bytes, b.bytes), (csv(3000).len() as u64, csv(5000).len() as u64));
    // Whole, and one of the two (with a shared partial file, the two would have overwritten each other).
    let saved = std::fs::read(&target).unwrap();
    assert!(saved == csv(3000) || saved == csv(5000), "{} bytes, not either download", saved.len());
    assert_eq!(partial_files(&dir), Vec::<String>::new());

    // A download given up half way (its future dropped once its first bytes are written) removes its partial file.
    let (first_bytes, written) = tokio::sync::oneshot::channel();
    let mut first_bytes = Some(first_bytes);
    let third = execution_with(storage.url("/slow.csv?sig=c"));
    let unfinished = client.download_execution_to_file(&third, &target, |_| {
        if let Some(first_bytes) = first_bytes.take() {
            first_bytes.send(()).unwrap();
        }
    });
    tokio::select! {
        done = unfinished => panic!("a 4 s trickle finished at its first bytes: {done:?}"),
        _ = written => {}
    }
    assert_eq!(partial_files(&dir), Vec::<String>::new());
    assert!(std::fs::read(&target).unwrap() == saved, "the earlier file is untouched");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A fresh download directory, and an execution whose file (ten rows) a storage server serves.
async fn ten_rows_into(
    dir_name: &str,
) -> (std::path::PathBuf, TestServer, partner_center_insights::Client, types::Execution) {
    let dir = std::env::temp_dir().join(format!("pci-download-{dir_name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let storage = TestServer::always(Reply::body(200, "text/csv", csv(10))).await;
    let client = client(&mpn(&storage));
    let execution = execution_with(storage.url("/e1.csv?sig=a"));
    (dir, storage, client, execution)
}

#[tokio::test]
async fn a_download_dropped_at_its_first_step_leaves_no_partial_file() {
    let (dir, _storage, client, execution) = ten_rows_into("dropped").await;
    for _ in 0..20 {
        // Polled once, then dropped: as a `select!` or a timeout around it may do.
        tokio::select! {
            biased;
            done = client.download_execution_to_file(&execution, dir.join("r.csv"), |_| {}) => {
                panic!("finished in one poll: {done:?}")
            }
            () = std::future::ready(()) => {}
        }
    }
    // Long enough for a file operation left running in the background (as tokio's file API runs them) to finish.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(partial_files(&dir), Vec::<String>::new());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_target_name_of_the_longest_length_still_gets_a_partial_file() {
    let (dir, _storage, client, execution) = ten_rows_into("long").await;
    // 255 bytes, the most a name may have here: one in ASCII, one in three-byte characters, where the cut for the
    // partial file's name (at 238 bytes) falls inside a character and must move back to its start.
    for name in ["r".repeat(251) + ".csv", "€".repeat(85)] {
        assert_eq!(name.len(), 255);
        std::fs::write(dir.join(&name), b"").expect("the file system takes the name itself");
        client.download_execution_to_file(&execution, dir.join(&name), |_| {}).await.unwrap();
        assert_eq!(std::fs::read(dir.join(&name)).unwrap(), csv(10));
    }
    assert_eq!(partial_files(&dir), Vec::<String>::new());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_local_file_error_is_not_transient() {
    let storage = TestServer::always(Reply::body(200, "text/csv", csv(10))).await;
    let client = client(&mpn(&storage));
    let missing = std::env::temp_dir().join(format!("pci-no-such-dir-{}", std::process::id())).join("r.csv");
    let error = client
        .download_execution_to_file(&execution_with(storage.url("/e1.csv?sig=a")), &missing, |_| {})
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::LocalIo, "{error}");
    assert!(!error.is_transient(), "retrying cannot create a file in a missing directory");
    assert!(error.to_string().starts_with("local I/O error: could not create"), "{error}");
    assert_eq!(storage.request_count(), 0, "nothing is fetched that could not be saved");
}

#[tokio::test]
async fn a_failed_download_keeps_the_first_64_kib_of_its_body() {
    let storage = TestServer::always(Reply::body(500, "text/plain", csv(20_000))).await;
    let client = client(&mpn(&storage));
    let (execution, mut sink) = (execution_with(storage.url("/e1.csv?sig=a")), Vec::new());
    let error = client.download_execution(&execution, &mut sink, |_| {}).await.unwrap_err();
    let sent = csv(20_000);
    assert!(sent.len() > 65_536);
    assert_eq!(error.status().map(|s| s.as_u16()), Some(500));
    assert_eq!(error.body().map(|b| b.to_vec()), Some(sent[..65_536].to_vec()));
}

#[tokio::test]
async fn a_failed_download_waits_one_request_timeout_in_all_for_its_body() {
    // A refusal whose body trickles in: 8 pieces 400 ms apart (3.2 s in all), each well within the 2 s request
    // timeout. Only what came within that one timeout is kept, so a slow error body cannot hold the call for a
    // timeout per piece.
    let sent = csv(800);
    let storage = TestServer::always(Reply::trickle(503, sent.clone(), 8, Duration::from_millis(400))).await;
    let client = client_with_request_timeout(&storage, Duration::from_secs(2));
    let (execution, mut sink) = (execution_with(storage.url("/e1.csv?sig=a")), Vec::new());
    let error = client.download_execution(&execution, &mut sink, |_| {}).await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(503));
    let kept = error.body().unwrap_or_default();
    assert!(!kept.is_empty() && kept.len() < sent.len(), "kept {} of {} bytes", kept.len(), sent.len());
    assert_eq!(kept, &sent[..kept.len()]);
    assert!(sink.is_empty());
}

#[tokio::test]
async fn download_links_are_checked() {
    let client = client("http://127.0.0.1:9/insights/v1/mpn");
    let mut sink = Vec::new();
    for (link, reason) in [
        (None, "has no download link"),
        (Some("http://storage.example/r.csv?sig=abc"), "download link must be https"),
        (Some("not a url"), "download link is not a URL"),
    ] {
        let mut execution = execution_with(String::new());
        execution.report_access_secure_link = link.map(SecureLink::new);
        let error = client.download_execution(&execution, &mut sink, |_| {}).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidArgument);
        assert!(error.to_string().contains(reason), "{error}");
        assert!(!format!("{error:?}").contains("sig=abc"), "{error:?}");
    }
}

fn reports_page(ids: &[&str], next: Option<String>) -> String {
    let value: Vec<_> = ids.iter().map(|id| serde_json::json!({"reportId": id})).collect();
    serde_json::json!({"value": value, "totalCount": ids.len(), "nextLink": next}).to_string()
}

#[tokio::test]
async fn pages_follow_next_link_with_the_token_on_the_same_host() {
    let server = TestServer::start(|request, _| {
        let page = match request.target.as_str() {
            "/insights/v1/mpn/ScheduledReport" => reports_page(&["a", "b"], Some("PLACEHOLDER_ABSOLUTE".into())),
            "/insights/v1/mpn/ScheduledReport?page=2" => {
                reports_page(&["c"], Some("/insights/v1/mpn/ScheduledReport?page=3".into()))
            }
            "/insights/v1/mpn/ScheduledReport?page=3" => reports_page(&["d"], None),
            other => panic!("unexpected {other}"),
        };
        Reply::json(200, &page)
    })
    .await;
    let absolute = server.url("/insights/v1/mpn/ScheduledReport?page=2");
    let client = client(&mpn(&server));
    let mut first = client.get_reports().send().await.unwrap().into_inner();
    assert_eq!(first.next_link.as_deref(), Some("PLACEHOLDER_ABSOLUTE"));
    first.next_link = Some(absolute);
    let ids: Vec<String> = client.pages(first).all_items().await.unwrap().into_iter().map(|r| r.report_id).collect();
    assert_eq!(ids, ["a", "b", "c", "d"]);
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| r.header("authorization") == Some(&format!("Bearer {TEST_TOKEN}"))));
}

#[tokio::test]
async fn pages_never_follow_a_link_to_another_host() {
    let elsewhere = TestServer::always(Reply::json(200, &reports_page(&["x"], None))).await;
    let server = TestServer::always(Reply::json(200, &reports_page(&["a"], Some(elsewhere.url("/steal"))))).await;
    let client = client(&mpn(&server));
    let first = client.get_reports().send().await.unwrap().into_inner();
    let mut pages = client.pages(first);
    assert_eq!(pages.next_item().await.unwrap().unwrap().report_id, "a");
    let error: Error = pages.next_item().await.unwrap().unwrap_err();
    assert!(error.to_string().contains("leaves the API's host"), "{error}");
    assert!(pages.next_item().await.is_none(), "a link that cannot be followed ends the walk after its error");
    assert_eq!(elsewhere.request_count(), 0);
}

#[tokio::test]
async fn a_failing_page_keeps_its_status() {
    let server = TestServer::sequence(vec![
        Reply::json(200, &reports_page(&["a"], Some("/insights/v1/mpn/ScheduledReport?page=2".into()))),
        Reply::json(500, r#"{"message":"Internal error","statusCode":500}"#),
    ])
    .await;
    let client = client(&mpn(&server));
    let first = client.get_reports().send().await.unwrap().into_inner();
    let error = client.pages(first).all_items().await.unwrap_err();
    assert_eq!((error.status().map(|s| s.as_u16()), error.message()), (Some(500), Some("Internal error")));
}

#[tokio::test]
async fn a_page_of_the_wrong_shape_keeps_its_request_id_and_attempts() {
    // Page 2 is retried after a 503, then answers 200 with a report id that is a number; once with a request id of
    // its own, once without (then the error has the one the client sent).
    for answered_id in [Some("5b0e2c1e-0000-4000-8000-000000000002"), None] {
        let wrong = Reply::json(200, r#"{"value":[{"reportId":42}],"totalCount":1}"#);
        let wrong = match answered_id {
            Some(id) => wrong.with_header("MS-RequestId", id),
            None => wrong,
        };
        let server = TestServer::sequence(vec![
            Reply::json(200, &reports_page(&["a"], Some("ScheduledReport?page=2".into()))),
            Reply::json(503, r#"{"message":"busy","statusCode":503}"#),
            wrong,
        ])
        .await;
        let retrying = retrying_client(&server);
        let first = retrying.get_reports().send().await.unwrap().into_inner();
        let error = retrying.pages(first).all_items().await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidResponse, "{error}");
        assert_eq!(error.status().map(|s| s.as_u16()), Some(200));
        assert_eq!(error.message(), Some("response body does not have the operation's shape"));
        assert!(error.to_string().contains("invalid type: integer `…`, expected a string"), "{error}");
        assert_eq!(error.attempts(), 2, "{error}");
        let sent = server.requests()[2].header("ms-requestid").map(str::to_owned);
        assert_eq!(error.request_id(), answered_id.or(sent.as_deref()), "{error}");
        assert_eq!(error.body(), Some(&br#"{"value":[{"reportId":42}],"totalCount":1}"#[..]));
    }
}

#[tokio::test]
async fn a_page_that_links_to_itself_ends_the_walk() {
    let server = TestServer::always(Reply::json(
        200,
        &reports_page(&["a"], Some("/insights/v1/mpn/ScheduledReport?page=2".into())),
    ))
    .await;
    let client = client(&mpn(&server));
    let first = client.get_reports().send().await.unwrap().into_inner();
    let mut pages = client.pages(first);
    while let Some(Ok(_)) = pages.next_page().await {}
    assert!(pages.next_page().await.is_none(), "the walk ended at the loop's error");
    let first = client.get_reports().send().await.unwrap().into_inner();
    let error = client.pages(first).all_items().await.unwrap_err();
    assert!(error.to_string().contains("leads back to a page already read"), "{error}");
    assert_eq!(server.request_count(), 4);
}

#[tokio::test]
async fn a_walk_that_comes_back_to_an_earlier_page_ends_and_relative_links_stay_under_the_base() {
    let server = TestServer::start(|request, _| {
        let page = match request.target.as_str() {
            "/insights/v1/mpn/ScheduledReport" => reports_page(&["a"], Some("ScheduledReport?page=2".into())),
            // A query alone: the same path as the page that carried it.
            "/insights/v1/mpn/ScheduledReport?page=2" => reports_page(&["b"], Some("?page=3".into())),
            // Back to page 2, spelled as an absolute link with a fragment this time.
            "/insights/v1/mpn/ScheduledReport?page=3" => {
                let host = request.header("host").unwrap();
                reports_page(&["c"], Some(format!("http://{host}/insights/v1/mpn/ScheduledReport?page=2#top")))
            }
            other => panic!("unexpected {other}"),
        };
        Reply::json(200, &page)
    })
    .await;
    let client = client(&mpn(&server));
    let first = client.get_reports().send().await.unwrap().into_inner();
    let mut pages = client.pages(first);
    let mut ids = Vec::new();
    let error = loop {
        match pages.next_item().await.unwrap() {
            Ok(report) => ids.push(report.report_id),
            Err(error) => break error,
        }
    };
    assert_eq!(ids, ["a", "b", "c"]);
    assert!(error.to_string().contains("leads back to a page already read"), "{error}");
    assert_eq!(server.request_count(), 3, "page 2 is not fetched twice");
}

#[tokio::test]
async fn relative_links_are_read_against_the_base_on_every_page() {
    // Links relative to the base, on a list whose path has several segments: read against a later page's own URL
    // (as the first page's cannot be), the third page's would repeat the path.
    let execution = |id: &str| serde_json::json!({"executionId": id, "reportId": "r1", "executionStatus": "Completed"});
    let page = move |id: &str, next: Option<&str>| {
        serde_json::json!({"value": [execution(id)], "totalCount": 1, "nextLink": next}).to_string()
    };
    let server = TestServer::start(move |request, _| {
        let body = match request.target.as_str() {
            "/insights/v1/mpn/ScheduledReport/execution/r1" => page("e1", Some("ScheduledReport/execution/r1?skip=1")),
            "/insights/v1/mpn/ScheduledReport/execution/r1?skip=1" => {
                page("e2", Some("ScheduledReport/execution/r1?skip=2"))
            }
            "/insights/v1/mpn/ScheduledReport/execution/r1?skip=2" => page("e3", Some("?skip=3")),
            "/insights/v1/mpn/ScheduledReport/execution/r1?skip=3" => page("e4", None),
            other => return Reply::json(404, &format!(r#"{{"message":"no page {other}","statusCode":404}}"#)),
        };
        Reply::json(200, &body)
    })
    .await;
    let client = client(&mpn(&server));
    let first = client.get_report_executions().report_id("r1").send().await.unwrap().into_inner();
    let ids: Vec<String> = client.pages(first).all_items().await.unwrap().into_iter().map(|e| e.execution_id).collect();
    assert_eq!(ids, ["e1", "e2", "e3", "e4"]);
}

#[tokio::test]
async fn a_link_that_is_only_a_query_or_a_fragment_keeps_the_page_s_path() {
    // On the first page, whose own URL is not known, the list's path; after a control character, as the URL parser
    // reads it; a fragment alone is the page itself, so the walk ends there instead of fetching the API's root.
    let server = TestServer::start(|request, _| match request.target.as_str() {
        "/insights/v1/mpn/ScheduledReport" => Reply::json(200, &reports_page(&["a"], Some("\u{1}?page=2".into()))),
        "/insights/v1/mpn/ScheduledReport?page=2" => Reply::json(200, &reports_page(&["b"], Some("#top".into()))),
        other => Reply::json(404, &format!(r#"{{"message":"no page {other}","statusCode":404}}"#)),
    })
    .await;
    let client = client(&mpn(&server));
    let first = client.get_reports().send().await.unwrap().into_inner();
    let mut pages = client.pages(first);
    let (mut ids, mut errors) = (Vec::new(), Vec::new());
    while let Some(item) = pages.next_item().await {
        match item {
            Ok(report) => ids.push(report.report_id),
            Err(error) => errors.push(error),
        }
    }
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].to_string().contains("leads back to a page already read"), "{}", errors[0]);
    assert_eq!(targets(&server), ["/ScheduledReport", "/ScheduledReport?page=2"]);

    // The executions list's path names its report, which its first page need not show: refused, not guessed.
    let page = serde_json::json!({"value": [], "totalCount": 0, "nextLink": "?skip=1"}).to_string();
    let server = TestServer::always(Reply::json(200, &page)).await;
    let executions = common::client(&mpn(&server));
    let first = executions.get_report_executions().report_id("r1").send().await.unwrap().into_inner();
    let error = executions.pages(first).all_items().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidResponse, "{error}");
    assert!(error.to_string().contains("first page's address is not known"), "{error}");
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn a_page_that_cannot_come_ends_the_walk_after_its_error() {
    // A 404 for page 2 would be a 404 every time: a caller that reads on past errors is not sent round again.
    let server = TestServer::start(|request, _| match request.target.as_str() {
        "/insights/v1/mpn/ScheduledReport" => {
            Reply::json(200, &reports_page(&["a"], Some("ScheduledReport?page=2".into())))
        }
        _ => Reply::json(404, r#"{"message":"No item found with given filters.","statusCode":404}"#),
    })
    .await;
    let client = client(&mpn(&server));
    let first = client.get_reports().send().await.unwrap().into_inner();
    let mut pages = client.pages(first);
    let mut seen = Vec::new();
    while let Some(item) = pages.next_item().await {
        seen.push(item.map(|r| r.report_id).map_err(|e| e.status().map(|s| s.as_u16())));
        assert!(seen.len() < 5, "the walk goes round: {seen:?}");
    }
    assert_eq!(seen, [Ok("a".to_owned()), Err(Some(404))]);
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn a_link_the_service_wrote_wrong_is_an_invalid_response() {
    let elsewhere = TestServer::always(Reply::json(200, &reports_page(&["x"], None))).await;
    for link in [elsewhere.url("/steal"), "http://[::1".to_owned(), "?page=1".to_owned()] {
        let server = TestServer::start(move |request, _| match request.target.as_str() {
            "/insights/v1/mpn/ScheduledReport" => Reply::json(200, &reports_page(&["a"], Some("?page=1".into()))),
            _ => Reply::json(200, &reports_page(&["b"], Some(link.clone()))),
        })
        .await;
        let client = client(&mpn(&server));
        let first = client.get_reports().send().await.unwrap().into_inner();
        let mut pages = client.pages(first);
        let mut error = None;
        while let Some(item) = pages.next_item().await {
            if let Err(e) = item {
                error = Some(e);
            }
        }
        let error = error.expect("the link fails");
        assert_eq!(error.kind(), ErrorKind::InvalidResponse, "{error}");
    }
    assert_eq!(elsewhere.request_count(), 0);
}

/// A client that retries, with 5 ms backoff.
fn retrying_client(server: &TestServer) -> partner_center_insights::Client {
    partner_center_insights::Client::builder(mpn(server))
        .bearer_token(TEST_TOKEN)
        .retry_policy(partner_center_insights::RetryPolicy::default().initial_backoff(Duration::from_millis(5)))
        .build()
        .unwrap()
}

fn client_with_request_timeout(server: &TestServer, timeout: Duration) -> partner_center_insights::Client {
    partner_center_insights::Client::builder(mpn(server))
        .bearer_token(TEST_TOKEN)
        .request_timeout(timeout)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_download_may_take_longer_than_the_request_timeout_while_data_keeps_coming() {
    // 8 pieces 300 ms apart: about 2.4 s in all, against a 1.5 s request timeout that bounds each wait (with room
    // for a machine that stalls for a second between two pieces).
    let body: Vec<u8> = (0..8_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let storage = TestServer::always(Reply::trickle(200, body.clone(), 8, Duration::from_millis(300))).await;
    let client = client_with_request_timeout(&storage, Duration::from_millis(1500));
    let mut sink = Vec::new();
    let started = std::time::Instant::now();
    client.download_execution(&execution_with(storage.url("/e1.csv?sig=a")), &mut sink, |_| {}).await.unwrap();
    assert!(started.elapsed() > Duration::from_millis(1500), "the body came slower than the request timeout");
    assert_eq!(sink, body);
}

#[tokio::test]
async fn a_stalled_download_times_out() {
    let storage = TestServer::always(Reply::Hang).await;
    let client = client_with_request_timeout(&storage, Duration::from_millis(200));
    let mut sink = Vec::new();
    let error =
        client.download_execution(&execution_with(storage.url("/e1.csv?sig=a")), &mut sink, |_| {}).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
}

#[tokio::test]
async fn a_download_whose_body_breaks_off_or_stalls_keeps_storage_s_status_and_request_id() {
    // Storage answered 200 with 5,000 bytes announced, sent 100 and reset the connection: a cut transfer, not a
    // link that was never served.
    let head =
        "HTTP/1.1 200 OK\r\ncontent-type: text/csv\r\nx-ms-request-id: storage-7\r\ncontent-length: 5000\r\n\r\n";
    let storage = TestServer::always(Reply::RawThenReset(format!("{head}{}", "a".repeat(100)).into_bytes())).await;
    let client = client(&mpn(&storage));
    let mut sink = Vec::new();
    let error =
        client.download_execution(&execution_with(storage.url("/e1.csv?sig=a")), &mut sink, |_| {}).await.unwrap_err();
    assert_eq!((error.kind(), error.status().map(|s| s.as_u16())), (ErrorKind::Transport, Some(200)), "{error}");
    assert_eq!(error.request_id(), Some("storage-7"));
    assert!(error.to_string().starts_with("HTTP 200 OK, then its body broke off: "), "{error}");
    assert!(error.to_string().ends_with("(request id storage-7)"), "{error}");
    assert!(!error.to_string().contains("sig=a"), "{error}");

    // A body that stops coming: the stall, with the status.
    let storage = TestServer::always(Reply::trickle(200, "a".repeat(800), 4, Duration::from_millis(600))).await;
    let client = client_with_request_timeout(&storage, Duration::from_millis(200));
    let error =
        client.download_execution(&execution_with(storage.url("/e1.csv?sig=a")), &mut sink, |_| {}).await.unwrap_err();
    assert_eq!((error.kind(), error.status().map(|s| s.as_u16())), (ErrorKind::Timeout, Some(200)), "{error}");
    assert!(error.to_string().starts_with("HTTP 200 OK, then its body timed out: the download stalled"), "{error}");
}

/// A server for a three-page walk (`a`, then `b` on page 2, then `c` on page 3) whose first answer for page 2 is
/// `first_page_2`; page 2 and 3 are linked relatively.
async fn walk_with_page_2_first_answering(first_page_2: Reply) -> TestServer {
    let seen_page_2 = Mutex::new(false);
    TestServer::start(move |request, _| match request.target.as_str() {
        "/insights/v1/mpn/ScheduledReport" => {
            Reply::json(200, &reports_page(&["a"], Some("ScheduledReport?page=2".into())))
        }
        "/insights/v1/mpn/ScheduledReport?page=2" if !std::mem::replace(&mut *seen_page_2.lock().unwrap(), true) => {
            first_page_2.clone()
        }
        "/insights/v1/mpn/ScheduledReport?page=2" => Reply::json(200, &reports_page(&["b"], Some("?page=3".into()))),
        "/insights/v1/mpn/ScheduledReport?page=3" => Reply::json(200, &reports_page(&["c"], None)),
        other => panic!("unexpected {other}"),
    })
    .await
}

fn targets(server: &TestServer) -> Vec<String> {
    server.requests().into_iter().map(|r| r.target.trim_start_matches("/insights/v1/mpn").to_owned()).collect()
}

#[tokio::test]
async fn a_page_that_failed_is_asked_again_and_the_walk_goes_on_to_the_end() {
    // Retries are off (common::client), so the 503 reaches the caller.
    let server = walk_with_page_2_first_answering(Reply::json(503, r#"{"message":"Busy","statusCode":503}"#)).await;
    let client = client(&mpn(&server));
    let first = client.get_reports().send().await.unwrap().into_inner();
    let mut pages = client.pages(first);
    assert_eq!(pages.next_item().await.unwrap().unwrap().report_id, "a");
    let error = pages.next_item().await.expect("an error, not the end of the list").unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(503), "{error}");
    // Not the end of the list, and not "leads back to a page already read": page 2 again, then on.
    let mut rest = Vec::new();
    while let Some(report) = pages.next_item().await {
        rest.push(report.unwrap().report_id);
    }
    assert_eq!(rest, ["b", "c"]);
    assert_eq!(
        targets(&server),
        ["/ScheduledReport", "/ScheduledReport?page=2", "/ScheduledReport?page=2", "/ScheduledReport?page=3"]
    );
}

#[tokio::test]
async fn a_page_fetch_given_up_half_way_is_asked_again_when_the_walk_resumes() {
    // The first answer for page 2 never comes; the caller gives up on it (a timeout, a select!) and calls again.
    let server = walk_with_page_2_first_answering(Reply::Hang).await;
    let client = client(&mpn(&server));
    let first = client.get_reports().send().await.unwrap().into_inner();
    let mut pages = client.pages(first);
    assert_eq!(pages.next_page().await.unwrap().unwrap().value.len(), 1);
    // Dropped once page 2's request has reached the server, so the fetch is cancelled mid-way.
    let page_2_asked = async {
        while server.request_count() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let given_up = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::select! {
            page = pages.next_page() => panic!("a page that never answers came: {page:?}"),
            () = page_2_asked => {}
        }
    });
    given_up.await.expect("page 2 is asked for");
    let resumed = tokio::time::timeout(Duration::from_secs(30), pages.next_page()).await.expect("page 2 answers");
    let ids: Vec<String> =
        resumed.expect("page 2, not the end").unwrap().value.into_iter().map(|r| r.report_id).collect();
    assert_eq!(ids, ["b"]);
    assert_eq!(pages.all_items().await.unwrap().into_iter().map(|r| r.report_id).collect::<Vec<_>>(), ["c"]);
    assert_eq!(
        targets(&server),
        ["/ScheduledReport", "/ScheduledReport?page=2", "/ScheduledReport?page=2", "/ScheduledReport?page=3"]
    );
}

#[tokio::test]
async fn try_query_pages_follow_a_link_that_names_no_query() {
    // The argument rules (one of exportQuery or queryId) are for the first request; the service writes the links.
    let second = r#"{"value":[{"CustomerName":"b"}],"totalCount":1,"nextLink":null}"#;
    let server = TestServer::sequence(vec![
        Reply::json(
            200,
            r#"{"value":[{"CustomerName":"a"}],"totalCount":1,"nextLink":"ScheduledQueries/testQueryResult?$skiptoken=2"}"#,
        ),
        Reply::json(200, second),
    ])
    .await;
    let client = client(&mpn(&server));
    let first = client.try_query().export_query("SELECT CustomerName FROM ISVUsage").send().await.unwrap();
    let rows = client.pages(first.into_inner()).all_items().await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(server.requests()[1].target.ends_with("testQueryResult?$skiptoken=2"), "{}", server.requests()[1].target);
}
