// Bad input is refused before anything is sent, with a reason; ids that need escaping are percent-encoded into a
// single path segment and can never reach another route (checked on the raw request line a real server received).

mod common;

use common::{Reply, TestServer, client, cmp, mpn, response_example};
use partner_center_insights::{
    AccessToken, AnyTokenProvider, AuthError, CallbackUrl, Client, ClientInfo, Error, ErrorKind, ExecutionStatus,
    Program, RecurrenceInterval, ReportId, ReportName, StaticToken, TokenProvider, types,
};

async fn server() -> TestServer {
    TestServer::always(Reply::json(200, &response_example("Reports").to_string())).await
}

fn expect_invalid(result: Result<(), Error>, reason: &str) {
    let error = result.expect_err("refused");
    assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{error}");
    let line = error.to_string();
    assert!(line.starts_with("invalid argument: ") && line.contains(reason), "{line}");
}

#[tokio::test]
async fn blank_and_dot_ids_are_refused_before_sending() {
    let server = server().await;
    let client = client(&mpn(&server));
    let line_read = "0c9f3f3d-2a5c-4c1a-8d7e-6b2f1e0a9c44\n";
    for id in ["", " ", "\t\n", ".", "..", "a\\b", "..\\..\\ScheduledQueries", line_read, " a", "a\u{7}b", "a\tb\nc"] {
        let reason = "an id must not be empty, only whitespace, `.` or `..`, start or end with whitespace, or contain \
                      `\\` or control characters";
        expect_invalid(client.resume_report().report_id(id).send().await.map(drop).map_err(Error::from), reason);
        expect_invalid(client.pause_report().report_id(id).send().await.map(drop).map_err(Error::from), reason);
        expect_invalid(client.delete_report().report_id(id).send().await.map(drop).map_err(Error::from), reason);
        expect_invalid(
            client.get_report_executions().report_id(id).send().await.map(drop).map_err(Error::from),
            reason,
        );
        expect_invalid(client.delete_query().query_id(id).send().await.map(drop).map_err(Error::from), reason);
        assert!(ReportId::new(id).is_err());
        assert!(partner_center_insights::QueryId::new(id).is_err());
    }
    expect_invalid(client.resume_report().send().await.map(drop).map_err(Error::from), "report_id was not initialized");
    assert_eq!(server.request_count(), 0, "nothing was sent");
}

#[tokio::test]
async fn blank_list_filters_are_refused_before_sending() {
    // An empty filter reads as none: an id from an unset variable would list everything.
    let server = TestServer::always(Reply::json(200, r#"{"value":[],"totalCount":0}"#)).await;
    let client = client(&mpn(&server));
    for blank in ["", " ", "\t\n"] {
        let reports = || client.get_reports();
        let queries = || client.get_queries();
        let executions = || client.get_report_executions().report_id("r1");
        let refusals = [
            (client.get_datasets().dataset_name(blank).send().await.map(drop).map_err(Error::from), "dataset_name"),
            (queries().query_id(blank).send().await.map(drop).map_err(Error::from), "query_id"),
            (queries().query_name(blank).send().await.map(drop).map_err(Error::from), "query_name"),
            (reports().report_id(blank).send().await.map(drop).map_err(Error::from), "report_id"),
            (reports().report_name(blank).send().await.map(drop).map_err(Error::from), "report_name"),
            (reports().query_id(blank).send().await.map(drop).map_err(Error::from), "query_id"),
            (executions().execution_id(blank).send().await.map(drop).map_err(Error::from), "execution_id"),
            (executions().execution_status(blank).send().await.map(drop).map_err(Error::from), "execution_status"),
        ];
        for (result, argument) in refusals {
            expect_invalid(result, &format!("{argument} must not be blank"));
        }
    }
    assert_eq!(server.request_count(), 0, "nothing was sent");
    // Filled in, every one of them goes out.
    client.get_reports().report_id("r1").report_name("usage").query_id("q1").send().await.unwrap();
    client.get_queries().query_id("q1").query_name("usage").send().await.unwrap();
    client.get_datasets().dataset_name("ISVUsage").send().await.unwrap();
    client.get_report_executions().report_id("r1").execution_id("e1").execution_status("Running").send().await.unwrap();
    assert_eq!(server.request_count(), 4);
}

#[test]
fn a_rejected_value_is_the_errors_source_and_named_once() {
    let error = Error::from(ReportName::try_from("usage;daily").unwrap_err());
    assert_eq!(error.kind(), ErrorKind::InvalidArgument);
    assert_eq!(error.to_string(), "invalid argument: invalid report name: must not contain `;`");
    let source = std::error::Error::source(&error).expect("the rejection is the source");
    let rejected = source.downcast_ref::<partner_center_insights::ValidationError>().expect("a ValidationError");
    assert_eq!((rejected.what(), rejected.reason()), ("report name", "must not contain `;`"));
}

#[tokio::test]
async fn execution_states_outside_the_documented_ones_are_refused_before_sending() {
    // The service answers a 400 ("Requested value 'Complete' not found") a round trip later.
    let server = TestServer::always(Reply::json(200, r#"{"value":[],"totalCount":0}"#)).await;
    let client = client(&mpn(&server));
    let executions = || client.get_report_executions().report_id("r1");
    let unknown: ExecutionStatus = serde_json::from_str(r#""Failed""#).unwrap(); // a state from a newer service
    for states in ["Complete", "Pending;Done", "Pending,Completed", "Running;Pending;completed;x"] {
        let result = executions().execution_status(states).send().await.map(drop).map_err(Error::from);
        expect_invalid(result, "execution_status must be `;`-separated states out of Pending, Running, Paused");
    }
    let result = executions().execution_statuses(&[ExecutionStatus::Pending, unknown]).send().await;
    expect_invalid(result.map(drop).map_err(Error::from), "execution_status must be");
    assert_eq!(server.request_count(), 0, "nothing was sent");
    // The documented states go out in any case, with blanks and empty entries as the service reads them.
    for states in ["Pending", "pending;COMPLETED", " Running ; Paused ", "Completed;"] {
        executions().execution_status(states).send().await.unwrap();
    }
    assert_eq!(server.request_count(), 4);
}

#[tokio::test]
async fn report_fields_are_checked_before_sending() {
    let server = server().await;
    let client = client(&mpn(&server));
    let long = "x".repeat(257);
    for (name, reason) in [
        ("usage;daily", "invalid report name: must not contain `;`"),
        (long.as_str(), "invalid report name: is 257 characters long; at most 256 are allowed"),
        ("", "invalid report name: must not be empty"),
    ] {
        let result = client
            .create_report()
            .body_map(|body| body.report_name(name).query_id("5d5a7c5e-6f4e-4f0a-9f3e-4b7c2b1a9e10").execute_now(true))
            .send()
            .await;
        expect_invalid(result.map(drop).map_err(Error::from), reason);
        assert_eq!(ReportName::new(name).unwrap_err().to_string(), reason);
    }
    // 256 characters, multi-byte ones included, are fine; the service counts UTF-16 code units, as .NET does.
    assert!(ReportName::new("é".repeat(256)).is_ok());
    assert_eq!(
        ReportName::new("😀".repeat(129)).unwrap_err().to_string(),
        "invalid report name: is 258 characters long (in UTF-16 code units, as the service counts); at most 256 are \
         allowed"
    );
    assert!(ReportName::new("😀".repeat(128)).is_ok());
    let long_description = "d".repeat(257);
    let error = partner_center_insights::ReportDescription::new(long_description).unwrap_err();
    assert_eq!(error.to_string(), "invalid report description: is 257 characters long; at most 256 are allowed");
    assert_eq!(server.request_count(), 0, "nothing was sent");
}

#[tokio::test]
async fn a_scheduled_report_needs_a_start_time_and_an_interval_before_sending() {
    let server = server().await;
    let client = client(&mpn(&server));
    let start = partner_center_insights::Timestamp::now() + std::time::Duration::from_secs(5 * 3600);
    for (start_time, interval, reason) in [
        (None, None, "needs a start_time and a recurrence_interval (or execute_now for a single run now)"),
        (None, Some(24), "needs a start_time (or execute_now"),
        (Some(start), None, "needs a recurrence_interval (or execute_now"),
    ] {
        let result = client
            .create_report()
            .body_map(|mut body| {
                body = body.report_name("usage").query_id("5d5a7c5e-6f4e-4f0a-9f3e-4b7c2b1a9e10");
                if let Some(start_time) = start_time {
                    body = body.start_time(start_time);
                }
                if let Some(hours) = interval {
                    body = body.recurrence_interval(RecurrenceInterval::new(hours).unwrap());
                }
                body
            })
            .send()
            .await;
        expect_invalid(result.map(drop).map_err(Error::from), reason);
    }
    assert_eq!(server.request_count(), 0, "nothing was sent");
    // Either a whole schedule, or a single run now, goes out.
    let scheduled = client.create_report().body_map(|body| {
        body.report_name("usage")
            .query_id("5d5a7c5e-6f4e-4f0a-9f3e-4b7c2b1a9e10")
            .start_time(start)
            .recurrence_interval(RecurrenceInterval::new(24).unwrap())
    });
    scheduled.send().await.unwrap();
    let once = client
        .create_report()
        .body_map(|body| body.report_name("usage").query_id("5d5a7c5e-6f4e-4f0a-9f3e-4b7c2b1a9e10").execute_now(true));
    once.send().await.unwrap();
    assert_eq!(server.request_count(), 2);
}

#[test]
fn recurrence_interval_is_4_to_2160_hours() {
    for hours in [4, 24, 2160] {
        assert_eq!(RecurrenceInterval::new(hours).unwrap().hours() as i64, hours);
    }
    for hours in [i64::MIN, -4, 0, 3, 2161, i64::from(i32::MAX) + 1] {
        let error = RecurrenceInterval::new(hours).unwrap_err();
        assert_eq!(error.to_string(), format!("invalid recurrence interval: {hours} hours is outside 4..=2160 hours"));
    }
    // A request body read from JSON is held to the same rule.
    let json = r#"{"ReportName":"r","QueryId":"q","RecurrenceInterval":3}"#;
    let error = serde_json::from_str::<partner_center_insights::types::CreateReportRequest>(json).unwrap_err();
    assert!(error.to_string().contains("outside 4..=2160"), "{error}");
}

#[test]
fn recurrence_count_is_1_to_the_services_32_bit_limit() {
    use partner_center_insights::RecurrenceCount;
    for count in [1, 12, i64::from(i32::MAX)] {
        assert_eq!(i64::from(RecurrenceCount::new(count).unwrap().executions()), count);
    }
    for count in [i64::MIN, -1, 0, i64::from(i32::MAX) + 1, i64::from(u32::MAX)] {
        let error = RecurrenceCount::new(count).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("invalid recurrence count: {count} executions is outside 1..=2147483647 executions")
        );
    }
    // The unsigned types a caller may hold: a `NonZeroU32` above the service's limit is refused too.
    assert!(RecurrenceCount::try_from(std::num::NonZeroU32::MAX).is_err());
    assert_eq!(RecurrenceCount::try_from(3u32).unwrap().executions(), 3);
    let json = r#"{"ReportName":"r","QueryId":"q","RecurrenceCount":0}"#;
    let error = serde_json::from_str::<partner_center_insights::types::CreateReportRequest>(json).unwrap_err();
    assert!(error.to_string().contains("outside 1..=2147483647"), "{error}");
}

#[tokio::test]
async fn ids_that_need_escaping_stay_inside_their_path_segment() {
    let server = server().await;
    let client = client(&mpn(&server));
    let prefix = "/insights/v1/mpn/ScheduledReport/resume/";
    for id in [
        "a/../b",
        "../../ScheduledQueries",
        "x?reportId=1",
        "x#frag",
        "100%",
        "%2e%2e",
        "a b",
        "résumé-報告",
        "...",
        ";",
        "a\u{3000}b",
    ] {
        client.resume_report().report_id(id).send().await.unwrap_or_else(|e| panic!("{id}: {}", Error::from(e)));
        let sent = server.requests().pop().unwrap();
        let segment = sent.target.strip_prefix(prefix).unwrap_or_else(|| panic!("{id}: went to {}", sent.request_line));
        assert!(!segment.contains(['/', '?', '#', '\\', ' ', '\t', '\n']), "{id}: {segment}");
        let decoded = percent_decode(segment);
        assert_eq!(decoded, id, "{id}: the segment decodes back to the id");
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn a_base_url_with_a_trailing_slash_works() {
    let server = server().await;
    let client = client(&format!("{}/", mpn(&server)));
    client.pause_report().report_id("r1").send().await.unwrap();
    assert_eq!(server.requests()[0].target, "/insights/v1/mpn/ScheduledReport/pause/r1");
}

#[tokio::test]
async fn a_client_made_without_the_builder_still_keeps_the_token_off_plain_http() {
    use partner_center_insights::ClientInfo;
    let server = server().await;
    let built = client(&mpn(&server));
    let http = partner_center_insights::http_client_builder().unwrap().build().unwrap();
    // The generated constructor skips the builder's checks; the request hook does not.
    let bypass = Client::new_with_client("http://api.example.com/insights/v1/mpn", http, built.inner().clone());
    let error = bypass.get_reports().send().await.map(drop).map_err(Error::from).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{error}");
    assert!(error.to_string().contains("refusing to send the bearer token to `http://api.example.com`"), "{error}");
    // Loopback over http stays allowed that way too.
    let http = partner_center_insights::http_client_builder().unwrap().build().unwrap();
    let loopback = Client::new_with_client(&mpn(&server), http, built.inner().clone());
    loopback.get_reports().send().await.expect("loopback is fine");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_client_s_debug_shows_its_settings_but_not_its_http_client_s_headers() {
    use reqwest::header::{HeaderMap, HeaderValue};
    let headers = HeaderMap::from_iter([("x-api-key".parse().unwrap(), HeaderValue::from_static("topsecretkey"))]);
    let http = partner_center_insights::http_client_builder().unwrap().default_headers(headers).build().unwrap();
    let client = Client::builder(Program::Partner).bearer_token("bearer-secret").http_client(http).build().unwrap();
    let shown = format!("{client:?}");
    assert!(!shown.contains("topsecretkey") && !shown.contains("bearer-secret"), "{shown}");
    assert!(shown.starts_with(r#"Client { base_url: "https://api.partnercenter.microsoft.com/insights/v1/mpn", "#));
    assert!(shown.contains(r#"token_provider: Some("[set]")"#), "{shown}");
}

#[test]
fn bad_client_settings_are_refused() {
    for (url, reason) in [
        ("not a url", "is not a URL"),
        ("ftp://example.com/insights", "must be an absolute http(s) URL"),
        ("https://example.com/insights?x=1", "must not have a query or fragment"),
        ("http://api.example.com/insights/v1/mpn", "a bearer token is only sent over http to loopback hosts"),
        ("https://user:hunter2@example.com/insights", "must not contain a user name or password"),
        // User info and queries are secrets wherever they appear, whatever else is wrong with the URL.
        ("ftp://user:hunter2@example.com/insights", "must not contain a user name or password"),
        ("ftp://example.com/insights?sig=hunter2", "must be an absolute http(s) URL, not `ftp:`"),
        ("https://example.com/insights?sig=hunter2", "must not have a query or fragment"),
        ("https://example.com/insights#hunter2", "must not have a query or fragment"),
        ("http://api.example.com/x?sig=hunter2", "must not have a query or fragment"),
        ("https://user:hunter2@example.com:99999/x", "is not a URL: invalid port number"),
    ] {
        let builder = Client::builder(url).bearer_token("t");
        assert!(!format!("{builder:?}").contains("hunter2"), "the builder's Debug hides secrets in {url}");
        let error = builder.build().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidArgument);
        assert!(error.to_string().contains(reason), "{url}: {error}");
        assert!(!error.to_string().contains("hunter2"), "a password in the URL is not echoed");
    }
    let shown = format!("{:?}", Client::builder("https://user:hunter2@example.com/insights?sig=hunter2#frag"));
    assert!(shown.contains(r#"base_url: "https://example.com/insights?…#…""#), "{shown}");
    assert!(Client::builder("http://localhost:8080/x").bearer_token("t").build().is_ok());
    assert!(Client::builder("http://[::1]:8080/x").bearer_token("t").build().is_ok());
    let error = Client::builder(Program::Partner).user_agent("bad\nagent").build().unwrap_err();
    assert!(error.to_string().contains("user agent"), "{error}");
}

#[tokio::test]
async fn a_provider_chosen_at_run_time_is_asked_through_any_token_provider() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, SystemTime};

    #[derive(Default)]
    struct Rotating {
        asked: AtomicUsize,
        invalidated: AtomicUsize,
    }
    impl TokenProvider for Rotating {
        async fn token(&self) -> Result<AccessToken, AuthError> {
            let n = self.asked.fetch_add(1, Ordering::SeqCst);
            Ok(AccessToken::new(format!("token-{n}"), Some(SystemTime::now() + Duration::from_secs(3600))))
        }
        fn invalidate(&self, _: &AccessToken) {
            self.invalidated.fetch_add(1, Ordering::SeqCst);
        }
    }

    let rotating = Arc::new(Rotating::default());
    // Two types, one list: what `dyn TokenProvider` would be, if it could.
    let providers = [AnyTokenProvider::new(StaticToken::new("fixed-secret")), AnyTokenProvider::new(rotating.clone())];
    assert_eq!(format!("{:?}", providers[0]), "AnyTokenProvider { .. }");
    // The first token is refused once: the refusal reaches the provider behind the erased type.
    let server = TestServer::start(|request, _| match request.header("authorization") {
        Some("Bearer token-0") => Reply::json(401, r#"{"message":"Token expired","statusCode":401}"#),
        _ => Reply::json(200, &response_example("Reports").to_string()),
    })
    .await;
    for provider in providers {
        let client = Client::builder(mpn(&server)).token_provider(provider).build().unwrap();
        client.resume_report().report_id("r1").send().await.expect("answered");
    }
    let sent: Vec<_> = server.requests().iter().map(|r| r.header("authorization").unwrap().to_owned()).collect();
    assert_eq!(sent, ["Bearer fixed-secret", "Bearer token-0", "Bearer token-1"]);
    assert_eq!((rotating.asked.load(Ordering::SeqCst), rotating.invalidated.load(Ordering::SeqCst)), (2, 1));
    // A fixed token is checked when the client is built, erased (even twice) or not.
    for provider in [
        AnyTokenProvider::new(StaticToken::new("")),
        AnyTokenProvider::new(AnyTokenProvider::new(StaticToken::new("Bearer pasted"))),
    ] {
        let error = Client::builder(mpn(&server)).token_provider(provider).build().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{error}");
    }
    assert_eq!(server.request_count(), 3);
}

#[test]
fn a_zero_timeout_is_refused_when_the_client_is_built() {
    use std::time::Duration;
    let zero = Duration::ZERO;
    let builder = || Client::builder(Program::Partner).bearer_token("t");
    for (builder, what) in [
        (builder().connect_timeout(zero), "connect timeout"),
        (builder().request_timeout(zero), "request timeout"),
        (builder().call_timeout(zero), "call timeout"),
        (builder().operation_timeout("tryQuery", zero), "operation timeout"),
    ] {
        let error = builder.build().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidArgument);
        assert_eq!(error.to_string(), format!("invalid argument: {what} is zero: every call would time out at once"));
    }
    let tiny = Duration::from_nanos(1);
    assert!(builder().connect_timeout(tiny).request_timeout(tiny).call_timeout(tiny).build().is_ok());
}

#[test]
fn programs_have_their_documented_base_urls() {
    let partner = Client::builder(Program::Partner).bearer_token("t").build().unwrap();
    let marketplace = Client::builder(Program::Marketplace).bearer_token("t").build().unwrap();
    assert_eq!(partner.baseurl(), "https://api.partnercenter.microsoft.com/insights/v1/mpn");
    assert_eq!(marketplace.baseurl(), "https://api.partnercenter.microsoft.com/insights/v1.1/cmp");
}

#[tokio::test]
async fn tokens_a_header_cannot_carry_are_refused_before_sending() {
    let server = server().await;
    // A fixed token: at build time.
    for token in ["", " \n", "line\nbreak", "nul\0", "Bearer eyJ0eXAi.body.signature"] {
        let fixed = Client::builder(mpn(&server)).bearer_token(token).build().map(drop);
        // A `StaticToken` is sent as a fixed token, and checked as one.
        let given = Client::builder(mpn(&server)).token_provider(StaticToken::new(token)).build().map(drop);
        for built in [fixed, given] {
            expect_invalid(
                built,
                "bearer token is empty, contains whitespace or holds characters an HTTP header cannot carry (give \
                 the token alone, without `Bearer `)",
            );
        }
    }
    // From a provider: the call fails without a request.
    struct Issued(&'static str);
    impl TokenProvider for Issued {
        async fn token(&self) -> Result<AccessToken, AuthError> {
            Ok(AccessToken::new(self.0, None))
        }
    }
    for token in ["carriage\rreturn", "Bearer carriage.body.signature"] {
        let client = Client::builder(mpn(&server)).token_provider(Issued(token)).build().unwrap();
        let error = Error::from(client.resume_report().report_id("r1").send().await.unwrap_err());
        assert_eq!(error.kind(), ErrorKind::Authentication, "{error}");
        assert!(error.to_string().contains("contains whitespace or holds characters"), "{error}");
        assert!(error.to_string().contains("cannot carry; no request was sent"), "{error}");
        assert!(!error.to_string().contains("carriage"), "the token is not quoted: {error}");
    }
    assert_eq!(server.request_count(), 0);

    // The line break a token read from a file keeps is dropped, not sent.
    let client = Client::builder(mpn(&server)).bearer_token("from-a-file\n").build().unwrap();
    client.resume_report().report_id("r1").send().await.unwrap();
    assert_eq!(server.requests()[0].header("authorization"), Some("Bearer from-a-file"));
}

#[tokio::test]
async fn ids_and_times_go_in_as_the_crates_types_or_as_text() {
    let server = TestServer::always(Reply::json(200, r#"{"value":[],"totalCount":0}"#)).await;
    let client = client(&mpn(&server));
    let id = ReportId::new("0c9f3f3d-2a5c-4c1a-8d7e-6b2f1e0a9c44").unwrap();
    client.get_reports().report_id(&id).send().await.unwrap();
    client.get_reports().report_id(id.clone()).send().await.unwrap();
    let start = partner_center_insights::Timestamp::now();
    client
        .try_query()
        .export_query("SELECT a FROM b")
        .start_time(start)
        .end_time("2126-10-31T00:00:00Z")
        .send()
        .await
        .unwrap();
    let targets: Vec<String> = server.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(targets[0], format!("/insights/v1/mpn/ScheduledReport?reportId={id}"));
    assert_eq!(targets[1], targets[0]);
    assert!(targets[2].contains(&format!("startTime={}", start.to_string().replace(':', "%3A"))), "{}", targets[2]);
    assert!(targets[2].contains("endTime=2126-10-31T00%3A00%3A00Z"), "{}", targets[2]);
    // Other ways of writing a time go out as UTC with a `Z`.
    for (given, sent) in
        [("2026-10-31T00:00:00", "2026-10-31T00%3A00%3A00Z"), ("2026-10-31T02:00:00+02:00", "2026-10-31T00%3A00%3A00Z")]
    {
        client.try_query().export_query("SELECT a FROM b").end_time(given).send().await.unwrap();
        let target = server.requests().last().unwrap().target.clone();
        assert!(target.contains(&format!("endTime={sent}&")), "{given}: {target}");
    }

    // Text that is not a time is refused before anything is sent.
    let refused = client.try_query().export_query("SELECT a FROM b").start_time("last tuesday").send().await;
    expect_invalid(refused.map(drop).map_err(Error::from), "start_time failed: a time is written yyyy-MM-ddTHH:mm:ssZ");
    assert_eq!(server.requests().len(), 5);

    // The same for a query id in a report's body.
    let refused = client.create_report().body_map(|r| r.report_name("r").query_id("..").execute_now(true)).send().await;
    expect_invalid(refused.map(drop).map_err(Error::from), "query_id: invalid query id: must not be `.` or `..`");
    assert_eq!(server.requests().len(), 5);
}

#[tokio::test]
async fn execution_states_go_in_as_a_typed_list() {
    use partner_center_insights::ExecutionStatus;
    let server = TestServer::always(Reply::json(200, r#"{"value":[],"totalCount":0}"#)).await;
    let client = client(&mpn(&server));
    let executions = || client.get_report_executions().report_id("r1");
    executions().execution_statuses(&[ExecutionStatus::Pending, ExecutionStatus::Running]).send().await.unwrap();
    executions().execution_statuses(&[]).send().await.unwrap();
    let targets: Vec<String> = server.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(targets[0], "/insights/v1/mpn/ScheduledReport/execution/r1?executionStatus=Pending%3BRunning");
    assert_eq!(targets[1], "/insights/v1/mpn/ScheduledReport/execution/r1", "an empty list is no filter");
}

fn time(text: &str) -> partner_center_insights::Timestamp {
    text.parse().unwrap()
}

async fn send(call: partner_center_insights::builder::TryQuery<'_>) -> Result<(), Error> {
    call.send().await.map(drop).map_err(Error::from)
}

#[tokio::test]
async fn a_query_needs_a_name_and_a_text_that_are_not_blank() {
    let server = TestServer::always(Reply::json(200, &response_example("Queries").to_string())).await;
    let client = client(&mpn(&server));
    let query = |name: &str, text: &str| types::CreateQueryRequest {
        name: name.try_into().unwrap(),
        description: None,
        query: text.try_into().unwrap(),
    };
    let text = "SELECT CustomerName FROM ISVUsage TIMESPAN LAST_MONTH";
    for (body, reason) in [
        (query(" \t", text), "a query's name must not be blank"),
        (query("usage", "\n "), "a query's text must not be blank"),
    ] {
        expect_invalid(client.create_query().body(body).send().await.map(drop).map_err(Error::from), reason);
    }
    assert_eq!(server.request_count(), 0, "nothing was sent");
    client.create_query().body(query("usage", text)).send().await.unwrap();
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn try_query_takes_one_query_and_an_ordered_range_before_sending() {
    let server = TestServer::always(Reply::json(200, &response_example("QueryResult").to_string())).await;
    let client = client(&mpn(&server));
    let text = "SELECT CustomerName FROM ISVUsage TIMESPAN LAST_MONTH";
    expect_invalid(send(client.try_query()).await, "try_query needs an export_query (query text) or a query_id");
    expect_invalid(
        send(client.try_query().export_query(text).query_id("5d5a7c5e-6f4e-4f0a-9f3e-4b7c2b1a9e10")).await,
        "try_query takes an export_query or a query_id, not both",
    );
    expect_invalid(send(client.try_query().export_query("  ")).await, "export_query must not be empty");
    expect_invalid(send(client.try_query().query_id(" \t")).await, "query_id must not be empty");
    // The service wants the end "greater than" the start: an empty window is refused as well as a reversed one.
    for (start, end) in
        [("2026-10-31T00:00:00Z", "2026-10-01T00:00:00Z"), ("2026-10-01T00:00:00Z", "2026-10-01T00:00:00Z")]
    {
        expect_invalid(
            send(client.try_query().export_query(text).start_time(start).end_time(end)).await,
            "start_time must be before end_time",
        );
    }
    assert_eq!(server.request_count(), 0, "nothing was sent");
    // The marketplace documents no window: one it ignored would return the query's own TIMESPAN unnoticed.
    let marketplace = self::client(&cmp(&server));
    let window = "start_time and end_time are for partner insights only";
    expect_invalid(send(marketplace.try_query().export_query(text).start_time("2026-10-01T00:00:00Z")).await, window);
    expect_invalid(send(marketplace.try_query().query_id("5d5a7c5e").end_time("2026-10-31T00:00:00Z")).await, window);
    assert_eq!(server.request_count(), 0, "nothing was sent");
    send(marketplace.try_query().export_query(text)).await.unwrap();
    assert_eq!(server.request_count(), 1);
    send(client.try_query().export_query(text).start_time("2026-10-01T00:00:00Z").end_time("2026-10-31T00:00:00Z"))
        .await
        .unwrap();
    send(client.try_query().query_id("5d5a7c5e-6f4e-4f0a-9f3e-4b7c2b1a9e10")).await.unwrap();
    assert_eq!(server.request_count(), 3);
}

#[tokio::test]
async fn report_times_and_callbacks_are_checked_before_sending() {
    let server = server().await;
    let client = client(&mpn(&server));
    let query = "5d5a7c5e-6f4e-4f0a-9f3e-4b7c2b1a9e10";
    let once = |body: partner_center_insights::types::builder::CreateReportRequest| {
        body.report_name("usage").query_id(query).execute_now(true)
    };
    for (start, end) in
        [("2026-10-31T00:00:00Z", "2026-10-01T00:00:00Z"), ("2026-10-01T00:00:00Z", "2026-10-01T00:00:00Z")]
    {
        let result = client
            .create_report()
            .body_map(|body| once(body).query_start_time(Some(time(start))).query_end_time(Some(time(end))))
            .send()
            .await;
        expect_invalid(result.map(drop).map_err(Error::from), "query_start_time must be before query_end_time");
    }
    // Through the builders a callback URL is a `CallbackUrl`, checked when made (see its tests); a body decoded from
    // JSON is not, and is checked before sending.
    let reason = "callback_url must be an absolute http or https URL the service can reach";
    for url in ["contoso.example/callback", "ftp://contoso.example/callback", "https://", "/callback?code=s3cret"] {
        let create: types::CreateReportRequest = serde_json::from_value(serde_json::json!({
            "ReportName": "usage", "QueryId": query, "ExecuteNow": true, "CallbackUrl": url
        }))
        .unwrap();
        let error = client.create_report().body(create).send().await.map(drop).map_err(Error::from).unwrap_err();
        assert!(!format!("{error} {error:?}").contains("s3cret"), "the URL is not echoed: {error:?}");
        expect_invalid(Err(error), reason);
        let update: types::UpdateReportRequest = serde_json::from_value(serde_json::json!({
            "ReportName": "usage", "StartTime": "2126-12-01T00:00:00Z", "CallbackUrl": url
        }))
        .unwrap();
        let result = client.update_report().report_id("0c9f3f3d-2a5c-4c1a-8d7e-6b2f1e0a9c44").body(update).send().await;
        expect_invalid(result.map(drop).map_err(Error::from), reason);
        let error = CallbackUrl::new(url).unwrap_err();
        assert_eq!(error.to_string(), "invalid callback URL: must be an absolute http or https URL");
    }
    assert_eq!(server.request_count(), 0, "nothing was sent");
    let result = client
        .create_report()
        .body_map(|body| {
            once(body)
                .query_start_time(Some(time("2026-10-01T00:00:00Z")))
                .query_end_time(Some(time("2026-10-31T00:00:00Z")))
                .callback_url(CallbackUrl::new("https://contoso.example/insights/callback?code=key").unwrap())
        })
        .send()
        .await;
    result.unwrap();
    assert_eq!(server.request_count(), 1);
}
