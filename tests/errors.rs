// Every kind of failure response keeps its HTTP status, the service's message and the request id, prints as one
// readable line, and never shows the token — documented statuses, undocumented ones, and bodies that are not JSON.

mod common;

use common::{Reply, TEST_TOKEN, TestServer, client, mpn};
use partner_center_insights::{Error, ErrorKind, ReportStatus, SingleItem, types};

const REPORT_ID: &str = "0c9f3f3d-2a5c-4c1a-8d7e-6b2f1e0a9c44";
const REQUEST_ID: &str = "7d3f1e52-6a0b-4c7e-9d21-52f0c1a3b6e4";

/// The outcome of resume-report against a server that answers `reply` once.
async fn resume_with(reply: Reply) -> (Error, TestServer) {
    let server = TestServer::always(reply).await;
    let error = client(&mpn(&server))
        .resume_report()
        .report_id(REPORT_ID)
        .send()
        .await
        .map(drop)
        .map_err(Error::from)
        .expect_err("the call fails");
    assert_eq!(server.request_count(), 1);
    (error, server)
}

/// What every error must satisfy, whatever it is.
fn assert_well_formed(error: &Error) -> String {
    let line = error.to_string();
    assert!(!line.contains('\n') && !line.contains('\r'), "one line: {line:?}");
    assert!(!line.is_empty());
    for shown in [line.clone(), format!("{error:?}"), format!("{error:#}")] {
        assert!(!shown.contains(TEST_TOKEN), "no token in {shown}");
    }
    line
}

fn envelope(status: u16, message: &str) -> String {
    format!(r#"{{"value":[],"totalCount":0,"message":"{message}","statusCode":{status}}}"#)
}

#[tokio::test]
async fn documented_error_statuses_keep_status_message_and_request_id() {
    for (status, message) in [
        (400, "Recurrence Interval must be between 4 and 2160"),
        (401, "Unauthorized"),
        (403, "Forbidden"),
        (404, "No item found with given filters."),
        (500, "Internal error encountered while creating report. Correlation ID 7f3e2a10"),
    ] {
        let reply = Reply::json(status, &envelope(status, message)).with_header("MS-RequestId", REQUEST_ID);
        let (error, _) = resume_with(reply).await;
        assert_eq!(error.kind(), ErrorKind::Service);
        assert_eq!(error.status().map(|s| s.as_u16()), Some(status));
        assert_eq!(error.message(), Some(message));
        assert_eq!(error.request_id(), Some(REQUEST_ID));
        let line = assert_well_formed(&error);
        assert!(line.starts_with(&format!("HTTP {status} ")), "{line}");
        assert!(line.contains(message) && line.contains(REQUEST_ID), "{line}");
    }
}

#[tokio::test]
async fn pascal_case_error_envelope_keeps_its_message() {
    let body = r#"{"Value":[],"TotalCount":0,"Message":"Invalid QueryId","StatusCode":400}"#;
    let (error, _) = resume_with(Reply::json(400, body).with_header("request-id", REQUEST_ID)).await;
    assert_eq!(error.message(), Some("Invalid QueryId"));
    assert_eq!(error.request_id(), Some(REQUEST_ID), "the plain request-id header is read too");
}

#[tokio::test]
async fn undocumented_statuses_keep_status_and_message() {
    for status in [429, 502, 503] {
        let reply =
            Reply::json(status, &envelope(status, "Too many requests, slow down")).with_header("Retry-After", "1");
        let (error, _) = resume_with(reply).await;
        assert_eq!(error.kind(), ErrorKind::Service);
        assert_eq!(error.status().map(|s| s.as_u16()), Some(status));
        assert_eq!(error.message(), Some("Too many requests, slow down"));
        assert_well_formed(&error);
    }
}

#[tokio::test]
async fn the_service_hint_to_wait_is_kept() {
    use std::time::Duration;
    // The envelope (read into a service error) and an HTML page (kept raw) go through different conversions.
    for (reply, expected) in [
        (Reply::json(429, &envelope(429, "slow down")).with_header("Retry-After", "7"), Some(Duration::from_secs(7))),
        (
            Reply::body(503, "text/html", "<html>busy</html>").with_header("retry-after-ms", "2500"),
            Some(Duration::from_millis(2500)),
        ),
        (
            Reply::json(429, &envelope(429, "slow down")).with_header("x-ms-retry-after-ms", "40"),
            Some(Duration::from_millis(40)),
        ),
        (Reply::json(503, &envelope(503, "busy")), None),
        (Reply::json(429, &envelope(429, "slow down")).with_header("Retry-After", "whenever"), None),
    ] {
        let (error, _) = resume_with(reply).await;
        assert_eq!(error.retry_after(), expected, "{error}");
        assert!(error.is_transient());
        assert!(format!("{error:?}").contains(&format!("retry_after: {expected:?}")));
    }
    // An HTTP date: what is left of it when the response arrived.
    let when = (chrono::Utc::now() + chrono::Duration::seconds(30)).format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let (error, _) = resume_with(Reply::json(429, &envelope(429, "slow down")).with_header("Retry-After", &when)).await;
    let hint = error.retry_after().expect("a date is a hint");
    assert!(hint > Duration::from_secs(20) && hint <= Duration::from_secs(30), "{hint:?}");
}

#[tokio::test]
async fn empty_bodies_keep_the_status() {
    for status in [401, 500, 503] {
        let reply =
            Reply::body(status, "text/plain", "").with_header("WWW-Authenticate", r#"Bearer error="invalid_token""#);
        let (error, server) = resume_with(reply).await;
        assert_eq!(error.status().map(|s| s.as_u16()), Some(status));
        assert_eq!(error.message(), None);
        let line = assert_well_formed(&error);
        let sent = server.requests()[0].header("ms-requestid").unwrap().to_owned();
        assert!(line.ends_with(&format!("empty body (request id {sent})")), "{line}");
    }
}

#[tokio::test]
async fn an_empty_refusal_is_explained_by_its_challenge() {
    // A gateway's 401 with no body: `WWW-Authenticate` is the only explanation, quoted or not, escapes read.
    for (challenge, expected) in [
        (r#"Bearer error="invalid_token", error_description="The token is expired""#, Some("The token is expired")),
        (r#"Bearer realm="x",error_description="say \"again\"",error_uri="u""#, Some(r#"say "again""#)),
        ("Bearer error=invalid_token, Error_Description=expired", Some("expired")),
        (r#"Bearer error_description="""#, None),
        (r#"Bearer error_description="unterminated"#, None),
        // Only the parameter itself, by its exact name, spaces around `=` allowed.
        (r#"Bearer realm="see error_description=hidden", error="invalid_token""#, None),
        (r#"Bearer x_error_description="other", error_description="real""#, Some("real")),
        (r#"Bearer error_description = "spaced""#, Some("spaced")),
        (
            r#"Basic realm="api", Bearer error="invalid_token", error_description="second scheme""#,
            Some("second scheme"),
        ),
    ] {
        let reply = Reply::body(401, "text/plain", "").with_header("WWW-Authenticate", challenge);
        let (error, _) = resume_with(reply).await;
        assert_eq!(error.status().map(|s| s.as_u16()), Some(401));
        assert_eq!(error.message(), expected, "{challenge}");
        let line = assert_well_formed(&error);
        assert!(line.starts_with(&format!("HTTP 401 Unauthorized: {}", expected.unwrap_or("empty body"))), "{line}");
    }
    // A challenge in a header of its own, after one with an empty description.
    let reply = Reply::body(401, "text/plain", "")
        .with_header("WWW-Authenticate", r#"Bearer error_description="""#)
        .with_header("WWW-Authenticate", r#"Bearer error_description="from the second header""#);
    assert_eq!(resume_with(reply).await.0.message(), Some("from the second header"));
    // The body's own message comes first.
    let reply = Reply::json(401, &envelope(401, "Unauthorized"))
        .with_header("WWW-Authenticate", r#"Bearer error_description="The token is expired""#);
    assert_eq!(resume_with(reply).await.0.message(), Some("Unauthorized"));
    // An envelope that says nothing leaves the word to the challenge.
    for body in [r#"{"statusCode":401}"#, r#"{"statusCode":401,"message":" "}"#] {
        let reply = Reply::json(401, body)
            .with_header("WWW-Authenticate", r#"Bearer error_description="The token is expired""#);
        assert_eq!(resume_with(reply).await.0.message(), Some("The token is expired"), "{body}");
    }
}

#[tokio::test]
async fn html_bodies_keep_the_status_and_the_body() {
    let html = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>upstream failed</body></html>";
    for status in [400, 404, 500, 502] {
        let (error, server) = resume_with(Reply::body(status, "text/html", html)).await;
        assert_eq!(error.status().map(|s| s.as_u16()), Some(status));
        assert_eq!(error.body(), Some(html.as_bytes()), "the raw body is kept");
        assert_eq!(error.message(), None, "HTML carries no service message");
        let sent = server.requests()[0].header("ms-requestid").map(str::to_owned);
        assert!(sent.is_some());
        assert_eq!(error.request_id(), sent.as_deref(), "a response without a request id: the one sent");
        assert!(assert_well_formed(&error).contains(sent.as_deref().unwrap()));
    }
}

#[tokio::test]
async fn json_that_is_not_an_envelope_keeps_status_and_message() {
    let gateway = r#"{"error":{"code":"ServiceUnavailable","message":"The gateway could not reach the backend."}}"#;
    let (error, _) = resume_with(Reply::json(404, gateway)).await;
    assert_eq!(error.status().map(|s| s.as_u16()), Some(404));
    assert_eq!(error.message(), Some("The gateway could not reach the backend."));
    assert_eq!(error.body(), Some(gateway.as_bytes()));

    let array = r#"["not", "an", "envelope"]"#;
    let (error, _) = resume_with(Reply::json(500, array)).await;
    assert_eq!(error.status().map(|s| s.as_u16()), Some(500));
    assert_eq!(error.body(), Some(array.as_bytes()));
    assert_well_formed(&error);
}

/// The seed page's own sample, trailing comma included: invalid JSON, which the docs really show.
const SEED_SAMPLE: &str = r#"{
  "Value": [
    {
      "ReportId": "string", "ReportName": "string", "Description": "string", "QueryId": "string",
      "Query": "string", "User": "string", "CreatedTime": "string", "ModifiedTime": "string",
      "ExecuteNow": true, "StartTime": "string", "ReportStatus": "string", "RecurrenceInterval": 0,
      "RecurrenceCount": 0, "CallbackUrl": "string", "CallbackMethod": "string", "Format": "string"
    }
  ],
  "TotalCount": 0,
  "Message": "string",
  "StatusCode": 0,
}"#;

#[tokio::test]
async fn the_seed_sample_with_its_trailing_comma() {
    // As an error body, the trailing comma does not hide the message.
    let as_error = SEED_SAMPLE.replace(r#""Message": "string""#, r#""Message": "Invalid report parameters""#);
    let (error, _) = resume_with(Reply::json(400, &as_error)).await;
    assert_eq!(error.status().map(|s| s.as_u16()), Some(400));
    assert_eq!(error.message(), Some("Invalid report parameters"));

    // As a success body, its placeholder "string" timestamps cannot decode: a 200 that fails, status kept.
    let (error, _) = resume_with(Reply::json(200, SEED_SAMPLE)).await;
    assert_eq!(error.kind(), ErrorKind::InvalidResponse);
    assert_eq!(error.status().map(|s| s.as_u16()), Some(200));
    let line = assert_well_formed(&error);
    assert!(line.contains("is not yyyy-MM-ddTHH:mm:ssZ"), "{line}");
}

#[tokio::test]
async fn success_bodies_that_cannot_decode_keep_status_and_request_id() {
    for (body, expected) in [
        (r#"{"value":[{"reportId":"a"#.to_owned(), "response body is not JSON (unterminated string)"),
        (String::new(), "response body is not JSON (empty body)"),
        ("<html>maintenance</html>".to_owned(), "response body is not JSON (not a JSON object or array)"),
    ] {
        let reply = Reply::json(200, &body).with_header("MS-RequestId", REQUEST_ID);
        let (error, _) = resume_with(reply).await;
        assert_eq!(error.kind(), ErrorKind::InvalidResponse);
        assert_eq!(error.status().map(|s| s.as_u16()), Some(200));
        assert_eq!(error.message(), Some(expected));
        assert_eq!(error.request_id(), Some(REQUEST_ID));
        assert_well_formed(&error);
    }
}

#[tokio::test]
async fn a_success_body_that_is_not_an_envelope_is_an_error_not_an_empty_list() {
    // Every field of the envelope is optional: read as one, any other JSON would be "no reports".
    let not_an_envelope = "response body is not the service's envelope (it has none of the envelope's fields)";
    for (body, expected) in [
        (r#"{"error":{"code":"BadGateway","message":"gateway says no"}}"#, "gateway says no"),
        ("{}", not_an_envelope),
        ("[]", not_an_envelope),
        (r#"[{"value":[]}]"#, not_an_envelope),
        (r#"{"data":[{"reportId":"r1"}]}"#, not_an_envelope),
        (r#"{"reportId":"r1","reportName":"n"}"#, not_an_envelope),
    ] {
        let server = TestServer::always(Reply::json(200, body).with_header("MS-RequestId", REQUEST_ID)).await;
        let error = client(&mpn(&server)).get_reports().send().await.map(drop).map_err(Error::from).unwrap_err();
        assert_eq!(
            (error.kind(), error.status().map(|s| s.as_u16())),
            (ErrorKind::InvalidResponse, Some(200)),
            "{body}"
        );
        assert_eq!((error.message(), error.request_id()), (Some(expected), Some(REQUEST_ID)), "{body}");
        assert_eq!(error.body(), Some(body.as_bytes()), "the body is kept");
        assert_well_formed(&error);
    }
    // A comma with no value before it is not a trailing comma to forgive: the body is not JSON.
    for body in [r#"{"value":[,],"totalCount":0}"#, r#"{,"value":[]}"#, r#"{"value":[],,}"#] {
        let server = TestServer::always(Reply::json(200, body)).await;
        let error = client(&mpn(&server)).get_reports().send().await.map(drop).map_err(Error::from).unwrap_err();
        assert_eq!(
            (error.kind(), error.status().map(|s| s.as_u16())),
            (ErrorKind::InvalidResponse, Some(200)),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_dataset_or_query_answer_of_the_wrong_shape_keeps_its_request_id_and_attempts() {
    let server = TestServer::sequence(vec![
        Reply::json(503, r#"{"message":"busy"}"#).with_header("retry-after-ms", "1"),
        Reply::json(200, r#"{"value":[{"datasetName":42}]}"#).with_header("MS-RequestId", REQUEST_ID),
    ])
    .await;
    let client = partner_center_insights::Client::builder(mpn(&server))
        .bearer_token(TEST_TOKEN)
        .retry_policy(
            partner_center_insights::RetryPolicy::default().initial_backoff(std::time::Duration::from_millis(1)),
        )
        .build()
        .unwrap();
    let error = client.get_datasets().send().await.map(drop).map_err(Error::from).unwrap_err();
    assert_eq!((error.kind(), error.status().map(|s| s.as_u16())), (ErrorKind::InvalidResponse, Some(200)));
    assert_eq!(error.message(), Some("response body does not have the operation's shape"));
    assert_eq!((error.request_id(), error.attempts(), server.request_count()), (Some(REQUEST_ID), 2, 2));
    assert!(std::error::Error::source(&error).is_some(), "the decode error is the source");
    // Queries and query results the same way.
    for (body, call) in [(r#"{"value":[{"queryId":7}]}"#, 0), (r#"{"value":[[1]]}"#, 1)] {
        let server = TestServer::always(Reply::json(200, body).with_header("MS-RequestId", REQUEST_ID)).await;
        let client = self::client(&mpn(&server));
        let error = match call {
            0 => client.get_queries().send().await.map(drop),
            _ => client.try_query().query_id("q1").send().await.map(drop),
        };
        let error = error.map_err(Error::from).unwrap_err();
        assert_eq!((error.status().map(|s| s.as_u16()), error.request_id()), (Some(200), Some(REQUEST_ID)), "{body}");
        assert_eq!(error.message(), Some("response body does not have the operation's shape"), "{body}");
    }
}

#[tokio::test]
async fn success_statuses_the_spec_does_not_have_say_so_not_the_success_text() {
    let created = r#"{"value":[],"message":"Report created successfully","statusCode":201}"#;
    for (status, body) in [(201, created), (202, created), (204, "")] {
        let (error, _) = resume_with(Reply::json(status, body)).await;
        assert_eq!(error.kind(), ErrorKind::InvalidResponse);
        assert_eq!(error.status().map(|s| s.as_u16()), Some(status));
        assert_eq!(
            error.message(),
            Some("a success status the operation does not document (the call may have taken effect)")
        );
        assert_well_formed(&error);
    }
}

#[tokio::test]
async fn wrong_field_types_and_invalid_utf8_fail_with_status_200() {
    let wrong_type = r#"{"value":[{"reportId":"a","recurrenceInterval":"ninety-six"}],"message":"ok"}"#;
    let mut invalid_utf8 = br#"{"value":[{"reportId":""#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe]);
    invalid_utf8.extend_from_slice(br#""}]}"#);
    for body in [wrong_type.as_bytes().to_vec(), invalid_utf8] {
        let (error, _) = resume_with(Reply::body(200, "application/json", body)).await;
        assert_eq!(error.kind(), ErrorKind::InvalidResponse);
        assert_eq!(error.status().map(|s| s.as_u16()), Some(200));
        assert!(std::error::Error::source(&error).is_some(), "the decode error is the source");
        // The success envelope's `message` ("ok") is not the error's.
        assert_eq!(error.message(), Some("response body does not have the operation's shape"));
        assert_well_formed(&error);
    }
}

#[tokio::test]
async fn failure_messages_are_found_in_every_shape_seen_in_front_of_the_service() {
    let bom = |json: &str| [b"\xEF\xBB\xBF".as_slice(), json.as_bytes()].concat();
    for (status, body, expected) in [
        // A .NET writer's byte order mark before the envelope.
        (404, bom(r#"{"value":[],"message":"No item found with given filters.","statusCode":404}"#), "No item found"),
        // Partner Center's own error shape.
        (401, br#"{"code":"600012","description":"MFA is required","data":[],"source":"PartnerFD"}"#.to_vec(), "MFA"),
        // ASP.NET's `BadRequest("…")`: a bare JSON string.
        (400, br#""Invalid report parameters""#.to_vec(), "Invalid report parameters"),
        // An envelope field next to a gateway's message.
        (400, br#"{"statusCode":400,"error":{"message":"Backend refused it"}}"#.to_vec(), "Backend refused it"),
    ] {
        let (error, _) = resume_with(Reply::body(status, "application/json", body)).await;
        assert_eq!(error.status().map(|s| s.as_u16()), Some(status));
        assert!(error.message().is_some_and(|m| m.starts_with(expected)), "{status}: {error}");
        assert_well_formed(&error);
    }
    // A failure body whose envelope field has a value of the wrong type: the decode error does not quote it.
    let (error, _) = resume_with(Reply::json(400, r#"{"statusCode":"https://s.example/r?sig=SAS-SIG-123"}"#)).await;
    assert_eq!(error.status().map(|s| s.as_u16()), Some(400));
    assert!(!format!("{error} {error:?}").contains("SAS-SIG-123"), "{error}");
    assert!(error.to_string().contains("invalid type: string \"…\""), "{error}");
    // A report field named `description` is no error message without the error's `code`.
    let (error, _) = resume_with(Reply::json(400, r#"{"description":"usage","reportName":"r"}"#)).await;
    assert_eq!(
        error.message(),
        Some("response body is not the service's envelope (it has none of the envelope's fields)")
    );
    // And a success body with a byte order mark decodes.
    let example = common::response_example("Reports").to_string();
    let server = TestServer::always(Reply::body(200, "application/json", bom(&example))).await;
    let reports = client(&mpn(&server)).get_reports().send().await.expect("decodes after the mark");
    assert!(!reports.value.is_empty());
}

#[tokio::test]
async fn a_success_body_of_the_wrong_shape_never_shows_the_links_it_holds() {
    // The generated code's payload error prints the whole body, and with it a download link's signature or a
    // callback's key: such bodies are checked first and fail as an answer, which prints no body.
    let server = TestServer::always(
        Reply::json(
            200,
            r#"{"value":[{"reportId":"r1","reportAccessSecureLink":"https://s.example/r.csv?sv=1&sig=SAS-SIG-123"}]}"#,
        )
        .with_header("MS-RequestId", REQUEST_ID),
    )
    .await;
    let raw = client(&mpn(&server)).get_report_executions().report_id("r1").send().await.expect_err("no executionId");
    let shown = format!("{raw} {raw:?}");
    assert!(!shown.contains("SAS-SIG-123"), "{shown}");
    let error = Error::from(raw);
    assert_eq!(error.kind(), ErrorKind::InvalidResponse);
    assert_eq!(error.status().map(|s| s.as_u16()), Some(200));
    assert_eq!(error.message(), Some("response body does not have the operation's shape"));
    assert_eq!(error.request_id(), Some(REQUEST_ID), "the answer's headers are kept now");
    let cause = std::error::Error::source(&error).expect("the decode error is the source");
    assert!(cause.downcast_ref::<serde_json::Error>().is_some(), "a decode error, as on other paths");
    assert!(cause.to_string().contains("missing field `executionId`"), "{cause}");
    assert!(!assert_well_formed(&error).contains("SAS-SIG-123"));
    // A report's callback key, likewise.
    let server = TestServer::always(Reply::json(
        200,
        r#"{"value":[{"reportId":"r1","recurrenceInterval":"daily","callbackUrl":"https://f.example/cb?code=KEY-42"}]}"#,
    ))
    .await;
    let raw = client(&mpn(&server)).resume_report().report_id("r1").send().await.expect_err("wrong type");
    assert!(!format!("{raw} {raw:?}").contains("KEY-42"), "{raw}");
    assert_eq!(Error::from(raw).message(), Some("response body does not have the operation's shape"));
    // Links that hide a part without a `?` or `@`: another scheme, an escaped `?`. And a decode error that would
    // quote a link it found where another type belongs.
    for body in [
        r#"{"value":[{"reportId":"r1","reportAccessSecureLink":"sas:sv=1&sig=SAS-SIG-123"}]}"#,
        r#"{"value":[{"reportId":"r1","reportAccessSecureLink":"https://s.example/r.csv\u003fsig=SAS-SIG-123"}]}"#,
        r#"{"value":[{"executionId":"e1","reportAccessSecureLink":"https://s.example/r.csv?sig=SAS-SIG-123",
            "recurrenceInterval":0,"reportId":7}]}"#,
        r#"{"value":[{"executionId":"e1","recurrenceInterval":"https://s.example/r.csv?sig=SAS-SIG-123",
            "reportAccessSecureLink":"https://s.example/r.csv?sig=SAS-SIG-123"}]}"#,
        // An execution's own callback key; a link that is not a string; a signature in the fragment; a timestamp
        // refusing (and quoting) what it was given.
        r#"{"value":[{"executionId":"e1","reportId":7,"callbackUrl":"https://f.example/cb?code=SAS-SIG-123",
            "reportAccessSecureLink":null}]}"#,
        r#"{"value":[{"executionId":"e1","reportAccessSecureLink":["https://s.example/r.csv?sig=SAS-SIG-123"]}]}"#,
        r#"{"value":[{"executionId":"e1","reportAccessSecureLink":"https://s.example/r.csv#SAS-SIG-123","reportId":7}]}"#,
        r#"{"value":[{"executionId":"e1","reportGeneratedTime":"https://s.example/r.csv?sig=SAS-SIG-123"}]}"#,
        // A key in a link's user info, which parses as an http(s) URL.
        r#"{"value":[{"executionId":"e1","callbackUrl":"https://u:KEY-SAS-SIG-123@f.example/cb","reportId":7}]}"#,
        // A link that does not parse (its port), shown as `<not a URL>`, with a signature in its path.
        r#"{"value":[{"executionId":"e1","reportAccessSecureLink":"https://s.example:99999/r;SAS-SIG-123","reportId":7}]}"#,
        r#"{"value":[{"executionId":"e1","reportAccessSecureLink":"https://256.0.0.1/r/SAS-SIG-123","reportId":7}]}"#,
        // Not even JSON after a `null`: the decoder's syntax error would print the whole body.
        r#"{"value":[{"executionId":"e1","reportAccessSecureLink":null"https://h.example:99999/SAS-SIG-123"}]}"#,
    ] {
        let server = TestServer::always(Reply::json(200, body)).await;
        let raw = client(&mpn(&server)).get_report_executions().report_id("r1").send().await.expect_err(body);
        assert!(!format!("{raw} {raw:?}").contains("SAS-SIG-123"), "{raw}");
        let error = Error::from(raw);
        assert!(!format!("{error} {error:?}").contains("SAS-SIG-123"), "{error}");
        assert_eq!(error.message(), Some("response body does not have the operation's shape"), "{body}");
    }
}

#[tokio::test]
async fn connection_refused_is_a_connect_error_on_one_line() {
    let (_refusing, port) = common::refusing_port();
    let error = client(&format!("http://127.0.0.1:{port}/insights/v1/mpn"))
        .resume_report()
        .report_id(REPORT_ID)
        .send()
        .await
        .map_err(Error::from)
        .expect_err("nothing listens");
    assert_eq!(error.kind(), ErrorKind::Connect);
    assert_eq!(error.status(), None);
    let line = assert_well_formed(&error);
    assert!(line.starts_with("could not connect"), "{line}");
}

/// What the service really sends decodes: unknown fields ignored, unknown enum values kept, lower-case enum
/// values, timestamps without `Z`, nulls in nullable fields.
#[tokio::test]
async fn lenient_decoding_of_real_responses() {
    let body = r#"{"value":[{"reportId":"r1","reportStatus":"Archived","format":"CSV","callbackMethod":"post",
        "createdTime":"2026-11-20T10:20:00","modifiedTime":null,"callbackUrl":null,"recurrenceCount":null,
        "isPublicInOrg":true,"executionStatus":"Completed"}],"totalCount":1,"message":null,"statusCode":200,
        "nextLink":null,"dataRedacted":false,"somethingNew":{"a":[1,2]}}"#;
    let server = TestServer::always(Reply::json(200, body)).await;
    let envelope: types::ReportEnvelope =
        client(&mpn(&server)).get_reports().send().await.expect("decodes").into_inner();
    let report = &envelope.value[0];
    assert_eq!(report.report_status.as_ref().map(ReportStatus::as_str), Some("Archived"));
    assert!(matches!(report.report_status, Some(ReportStatus::Unknown(_))));
    assert_eq!(report.format, Some(partner_center_insights::ReportFormat::Csv));
    assert_eq!(report.callback_method, Some(partner_center_insights::CallbackMethod::Post));
    assert_eq!(report.created_time.unwrap().to_string(), "2026-11-20T10:20:00Z");
    assert_eq!(report.modified_time, None);
    assert_eq!(report.recurrence_count, None);

    // An enum written as a number (a .NET service without its string converter) is a value this crate does not
    // know, kept, not a reason to fail the whole answer.
    let body = r#"{"value":[{"reportId":"r1","reportStatus":1,"format":0,"callbackMethod":-1}],"totalCount":1}"#;
    let server = TestServer::always(Reply::json(200, body)).await;
    let envelope = client(&mpn(&server)).get_reports().send().await.expect("decodes").into_inner();
    let report = &envelope.value[0];
    assert!(matches!(&report.report_status, Some(ReportStatus::Unknown(value)) if value.as_str() == "1"));
    assert_eq!(report.format.as_ref().map(|f| f.as_str()), Some("0"));
    assert_eq!(report.callback_method.as_ref().map(|m| m.as_str()), Some("-1"));
}

#[tokio::test]
async fn an_answer_without_its_one_item_is_an_error_not_a_panic() {
    let report = |id: &str| format!(r#"{{"reportId":"{id}","reportName":"r"}}"#);
    for (items, expected) in [
        (String::new(), Err("the answer holds 0 reports where one report was expected")),
        (report("a"), Ok("a")),
        (format!("{},{}", report("a"), report("b")), Err("the answer holds 2 reports where one report was expected")),
    ] {
        let server = TestServer::always(Reply::json(200, &format!(r#"{{"value":[{items}],"totalCount":1}}"#))).await;
        let answer = client(&mpn(&server)).resume_report().report_id(REPORT_ID).send().await.unwrap();
        match (answer.into_inner().into_single(), expected) {
            (Ok(report), Ok(id)) => assert_eq!(report.report_id, id),
            (Err(error), Err(message)) => {
                assert_eq!(error.kind(), ErrorKind::InvalidResponse);
                assert_eq!(error.message(), Some(message));
                assert_eq!(assert_well_formed(&error), format!("invalid response: {message}"));
            }
            (outcome, expected) => panic!("{outcome:?} where {expected:?} was expected"),
        }
    }
}

#[tokio::test]
async fn queries_and_executions_have_their_one_item_too() {
    let server =
        TestServer::always(Reply::json(200, r#"{"value":[{"queryId":"q1","name":"n","query":"SELECT a FROM b"}]}"#))
            .await;
    let query = client(&mpn(&server)).delete_query().query_id("q1").send().await.unwrap().into_inner().into_single();
    assert_eq!(query.unwrap().query_id, "q1");

    let server = TestServer::always(Reply::json(200, r#"{"value":[]}"#)).await;
    let latest =
        client(&mpn(&server)).get_report_executions().report_id(REPORT_ID).get_latest_execution(true).send().await;
    let error = latest.unwrap().into_inner().into_single().unwrap_err();
    assert_eq!(error.message(), Some("the answer holds 0 executions where one execution was expected"));
}

#[tokio::test]
async fn the_whole_answers_single_item_keeps_its_status_and_request_id() {
    use partner_center_insights::StatusCode;
    let empty = Reply::json(200, r#"{"value":[],"totalCount":0}"#).with_header("ms-requestid", "4d1c0c7e-answer");
    let server = TestServer::always(empty).await;
    let api = client(&mpn(&server));
    let error = api.resume_report().report_id(REPORT_ID).send().await.unwrap().into_single().unwrap_err();
    assert_eq!((error.kind(), error.status()), (ErrorKind::InvalidResponse, Some(StatusCode::OK)));
    assert_eq!(error.request_id(), Some("4d1c0c7e-answer"));
    assert_eq!(
        assert_well_formed(&error),
        "HTTP 200 OK: the answer holds 0 reports where one report was expected (request id 4d1c0c7e-answer)"
    );
    let error = api.delete_query().query_id("q1").send().await.unwrap().into_single().unwrap_err();
    assert_eq!((error.status(), error.request_id()), (Some(StatusCode::OK), Some("4d1c0c7e-answer")));

    // After a retry, the attempt count too.
    let server = TestServer::sequence(vec![
        Reply::json(503, r#"{"message":"busy","statusCode":503}"#),
        Reply::json(200, r#"{"value":[],"totalCount":0}"#).with_header("ms-requestid", "4d1c0c7e-retried"),
    ])
    .await;
    let retrying = partner_center_insights::Client::builder(mpn(&server))
        .bearer_token(TEST_TOKEN)
        .retry_policy(
            partner_center_insights::RetryPolicy::default().initial_backoff(std::time::Duration::from_millis(5)),
        )
        .build()
        .unwrap();
    let error = retrying.resume_report().report_id(REPORT_ID).send().await.unwrap().into_single().unwrap_err();
    assert_eq!((error.request_id(), error.attempts()), (Some("4d1c0c7e-retried"), 2));
    assert!(assert_well_formed(&error).ends_with("(request id 4d1c0c7e-retried; after 2 attempts)"));

    let one = r#"{"value":[{"executionId":"e1","reportId":"r1","executionStatus":"Completed"}]}"#;
    let server = TestServer::always(Reply::json(200, one)).await;
    let latest = client(&mpn(&server)).get_report_executions().report_id(REPORT_ID).send().await.unwrap();
    assert_eq!(latest.into_single().unwrap().execution_id, "e1");
}

#[tokio::test]
async fn a_refused_download_link_keeps_storage_s_code_and_message_but_not_its_other_elements() {
    // Azure Storage's answer to an expired link; `AuthenticationErrorDetail` may quote the string-to-sign.
    let refusal = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthenticationFailed</Code>\
        <Message>Server failed to authenticate the request. Make sure the value of Authorization header is formed \
        correctly including the signature.\nRequestId:5a1c&amp;0\nTime:2026-11-24T10:00:00Z</Message>\
        <AuthenticationErrorDetail>Signed expiry time [Mon, 23 Nov 2026] must be after signed start time\
        </AuthenticationErrorDetail></Error>";
    let storage = TestServer::always(Reply::body(403, "application/xml", refusal)).await;
    let mut example = common::response_example("Executions");
    example["value"][0]["reportAccessSecureLink"] = storage.url("/reports/r.csv?se=2026-11-23&sig=c2VjcmV0").into();
    let execution: types::ExecutionEnvelope = serde_json::from_value(example).unwrap();
    let error = client(&mpn(&storage))
        .download_execution(&execution.value[0], &mut Vec::new(), |_| {})
        .await
        .expect_err("the link is refused");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(403));
    let message = error.message().expect("storage's explanation");
    assert!(message.starts_with("AuthenticationFailed: Server failed to authenticate the request."), "{message}");
    assert!(message.contains("RequestId:5a1c&0"), "entities decoded: {message}");
    assert!(!message.contains("expiry"), "only Code and Message: {message}");
    let line = assert_well_formed(&error);
    assert!(!line.contains("c2VjcmV0"), "no signature: {line}");
    // An HTML page has no such elements: no message made up from it.
    let (error, _) = resume_with(Reply::body(502, "text/html", "<html><body>Bad Gateway</body></html>")).await;
    assert_eq!(error.message(), None);
}

/// `__private::decode_body`, which the property tests and the decode benchmark run in place of the hooks and the
/// generated code, must end where the real client ends, for every status and kind of body: else they would test
/// and measure a path no call takes.
#[tokio::test]
async fn the_decode_path_the_property_tests_run_ends_as_a_real_call_does() {
    use axum::body::Bytes;
    use partner_center_insights::{__private::decode_body, StatusCode};
    let bodies = [
        envelope(404, "Report not found"),
        r#"{"Message":"Bad dates","StatusCode":400}"#.to_owned(),
        r#"{"value":[{"reportId":"r1","reportName":"n","queryId":"q"}],"totalCount":1}"#.to_owned(),
        r#"{"Value":[{"ReportId":"r1","ReportName":"n","QueryId":"q"}],"TotalCount":1}"#.to_owned(),
        r#"{"value":[{"reportName":"no id"}]}"#.to_owned(),
        r#"{"value":"#.to_owned(),
        "<html>Bad gateway</html>".to_owned(),
        String::new(),
        "{}".to_owned(),
        r#"{"error":{"message":"gateway says no"}}"#.to_owned(),
        r#"{"value":[,],"totalCount":0}"#.to_owned(),
    ];
    let mut compared = 0;
    for status in [200, 400, 401, 403, 404, 429, 500, 502, 503] {
        for body in &bodies {
            let server = TestServer::always(Reply::json(status, body)).await;
            let real = client(&mpn(&server)).get_reports().send().await.map(|answer| answer.into_inner());
            let real = real.map_err(Error::from);
            let copy = decode_body::<types::ReportEnvelope>(
                StatusCode::from_u16(status).unwrap(),
                Bytes::from(body.clone()),
                "get_reports",
            );
            let case = format!("HTTP {status} {body:?}");
            match (real, copy) {
                (Ok(real), Ok(copy)) => assert_eq!(real, copy, "{case}"),
                (Err(real), Err(copy)) => assert_eq!(
                    (real.kind(), real.status(), real.message()),
                    (copy.kind(), copy.status(), copy.message()),
                    "{case}: {real} against {copy}"
                ),
                (real, copy) => panic!("{case}: a real call gave {real:?}, the copy {copy:?}"),
            }
            compared += 1;
        }
    }
    assert_eq!(compared, 9 * bodies.len());
}
