// What happens after an execution completes: the callback (POST `<url>/<id>`, GET `<url>?reportId=<id>`) and the
// download link (signature, expiry, no bearer token, gzip, multi-megabyte files streamed).

#![cfg(feature = "emulator")]

mod emulator_support;

use std::io::Read;
use std::time::Duration;

use emulator_support::*;
use partner_center_insights::emulator::{DEV_TOKEN, Emulator};
use partner_center_insights::{CallbackMethod, CallbackUrl, Program, types};

const RUN: Duration = Duration::from_secs(6 * 60);

/// Creates an ExecuteNow report, runs it, and returns its download link.
async fn completed_link(emulator: &Emulator, program: Program) -> String {
    let client = client(emulator, program);
    let query = create_query(&client, program).await;
    let report = execute_now(&client, &query, "download").await;
    emulator.advance(RUN).await;
    let executions = client.get_report_executions().report_id(report.as_str()).send().await.unwrap();
    link(&executions.value[0])
}

#[tokio::test]
async fn callbacks_are_made_as_documented() {
    let (receiver, log) = callback_receiver().await;
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Partner);
    let query = create_query(&client, Program::Partner).await;
    let hook = format!("{receiver}/hook");
    let post = client
        .create_report()
        .body_map(|b| {
            b.report_name("post")
                .query_id(query.as_str())
                .execute_now(true)
                .callback_url(CallbackUrl::new(hook.as_str()).unwrap())
        })
        .send()
        .await
        .unwrap();
    let get = client
        .create_report()
        .body_map(|b| {
            b.report_name("get")
                .query_id(query.as_str())
                .execute_now(true)
                .callback_url(CallbackUrl::new(hook.as_str()).unwrap())
                .callback_method(CallbackMethod::Get)
        })
        .send()
        .await
        .unwrap();
    assert_eq!(post.value[0].callback_method, Some(CallbackMethod::Post), "POST is the default");
    let (post_id, get_id) = (post.value[0].report_id.clone(), get.value[0].report_id.clone());

    assert!(log.lock().unwrap().is_empty(), "nothing before completion");
    emulator.advance(RUN).await;
    // `advance` returns after the callbacks were made: no waiting needed.
    let mut received = log.lock().unwrap().clone();
    received.sort_by(|a, b| a.method.cmp(&b.method));
    assert_eq!(
        received,
        [
            Received { method: "GET".into(), path_and_query: format!("/hook?reportId={get_id}"), body_len: 0 },
            Received { method: "POST".into(), path_and_query: format!("/hook/{post_id}"), body_len: 0 },
        ]
    );
    let records = emulator.callbacks();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.outcome == Ok(200) && r.program == Program::Partner));

    // Each completion calls back once: moving on makes no new calls.
    emulator.advance(RUN).await;
    assert_eq!(log.lock().unwrap().len(), 2);
}

/// An emulator with one ExecuteNow report per name, each calling back a receiver that answers after 500 ms.
async fn with_slow_callbacks(names: &[&str]) -> Emulator {
    let (receiver, _) = callback_receiver().await;
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Partner);
    let query = create_query(&client, Program::Partner).await;
    let hook = CallbackUrl::new(format!("{receiver}/slow")).unwrap();
    for name in names {
        let report = |b: types::builder::CreateReportRequest| {
            b.report_name(*name).query_id(query.as_str()).execute_now(true).callback_url(hook.clone())
        };
        client.create_report().body_map(report).send().await.unwrap();
    }
    emulator
}

#[tokio::test]
async fn advance_returns_after_callbacks_another_advance_made_due() {
    // The first advance completes the run and calls a receiver that answers after 500 ms (paths under `/slow`). A
    // second advance, begun meanwhile, has no completion of its own, and still returns only once that callback
    // was made.
    let emulator = with_slow_callbacks(&["slow"]).await;
    let second = async {
        tokio::task::yield_now().await;
        emulator.advance(Duration::ZERO).await;
        emulator.callbacks()
    };
    let ((), seen) = tokio::join!(emulator.advance(RUN), second);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].outcome, Ok(200));
}

#[tokio::test]
async fn an_advance_given_up_half_way_still_calls_back_and_leaves_no_wait_hanging() {
    // Two runs complete, each calling a receiver that answers after 500 ms; the advance that made them due is given
    // up after 200 ms. Their callbacks are still made, and the next advance waits for them, then returns.
    let emulator = with_slow_callbacks(&["one", "two"]).await;
    let given_up = tokio::time::timeout(Duration::from_millis(200), emulator.advance(RUN)).await;
    assert!(given_up.is_err(), "the callbacks take a second");
    let next = tokio::time::timeout(Duration::from_secs(30), emulator.advance(Duration::ZERO)).await;
    assert!(next.is_ok(), "the next advance returned");
    let made = emulator.callbacks();
    assert_eq!(made.len(), 2, "{made:?}");
    assert!(made.iter().all(|callback| callback.outcome == Ok(200)), "{made:?}");
}

#[tokio::test]
async fn an_unreachable_callback_is_recorded_not_fatal() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Marketplace);
    let query = create_query(&client, Program::Marketplace).await;
    // Port 9 (discard) on loopback: nothing listens there.
    client
        .create_report()
        .body_map(|b| {
            b.report_name("nobody home")
                .query_id(query.as_str())
                .execute_now(true)
                .callback_url(CallbackUrl::new("http://127.0.0.1:9/x").unwrap())
        })
        .send()
        .await
        .unwrap();
    emulator.advance(RUN).await;
    let records = emulator.callbacks();
    assert_eq!(records.len(), 1);
    let error = records[0].outcome.as_ref().expect_err("nobody listens");
    assert!(error.contains("error sending request"), "{error}");
    assert_eq!(records[0].url, format!("http://127.0.0.1:9/x/{}", records[0].report_id));
    // The execution completed regardless.
    assert_eq!(
        client.get_reports().send().await.unwrap().value[0].report_status,
        Some(partner_center_insights::ReportStatus::Inactive)
    );
}

#[tokio::test]
async fn the_link_needs_its_signature_not_a_bearer_token() {
    let emulator = Emulator::start().await.unwrap();
    let link = completed_link(&emulator, Program::Marketplace).await;
    let (without_sig, _) = link.split_once("?sig=").unwrap();

    let wrong = fetch(format!("{without_sig}?sig=forged")).await.unwrap();
    assert_eq!(wrong.status(), 403);
    assert!(wrong.text().await.unwrap().contains("<Code>AuthenticationFailed</Code>"));
    assert_eq!(fetch(without_sig).await.unwrap().status(), 403);
    assert_eq!(fetch(&link).await.unwrap().status(), 200);
    // A client that wrongly sends its token still gets the file, but the emulator notices.
    let with_token = http().get(&link).bearer_auth(DEV_TOKEN).send().await.unwrap();
    assert_eq!(with_token.status(), 200);

    let sent: Vec<_> = emulator.downloads().iter().map(|d| (d.status, d.authorization_sent)).collect();
    assert_eq!(sent, [(403, false), (403, false), (200, false), (200, true)]);
}

#[tokio::test]
async fn links_expire() {
    let emulator = Emulator::builder().link_ttl(Duration::from_secs(3600)).start().await.unwrap();
    let link = completed_link(&emulator, Program::Partner).await;
    assert_eq!(fetch(&link).await.unwrap().status(), 200);
    emulator.advance(Duration::from_secs(3600)).await;
    let expired = fetch(&link).await.unwrap();
    assert_eq!(expired.status(), 403);
    assert!(expired.text().await.unwrap().contains("expiry"));
}

#[tokio::test]
async fn a_query_s_limit_holds_for_its_report_files() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Marketplace);
    let query = client
        .create_query()
        .body_map(|b| b.name("five").query("SELECT CustomerName, NormalizedUsage FROM ISVUsage LIMIT 5"))
        .send()
        .await
        .unwrap();
    let report = execute_now(&client, &query.value[0].query_id, "five rows").await;
    emulator.advance(RUN).await;
    let executions = client.get_report_executions().report_id(report.as_str()).send().await.unwrap();
    let text = fetch(link(&executions.value[0])).await.unwrap().text().await.unwrap();
    assert_eq!(text.lines().count(), 1 + 5, "the header and the query's five rows:\n{text}");
}

#[tokio::test]
async fn gzip_multi_megabyte_download() {
    let emulator = Emulator::builder().file_rows(120_000).start().await.unwrap();
    let link = completed_link(&emulator, Program::Marketplace).await;

    // A client that leaves decoding to the test, so the bytes on the wire can be checked.
    let raw = partner_center_insights::http_client_builder().unwrap().no_gzip().build().unwrap();
    let response = raw.get(&link).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let compressed = response.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(compressed.as_ref()).read_to_string(&mut text).unwrap();
    assert!(text.len() > 2_000_000, "{} bytes", text.len());
    assert!(compressed.len() < text.len() / 2, "gzip actually compresses");
    assert!(text.starts_with("CustomerName,NormalizedUsage\r\n"));
    assert_eq!(text.lines().count(), 120_001);
    // Every data row has both columns (names with commas are quoted).
    assert!(text.lines().skip(1).all(|line| line.rsplit_once(',').is_some_and(|(_, n)| n.parse::<f64>().is_ok())));

    // Without Accept-Encoding: the same text, uncompressed.
    let plain = raw.get(&link).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.text().await.unwrap(), text);
    let gzip_flags: Vec<_> = emulator.downloads().iter().map(|d| d.gzip).collect();
    assert_eq!(gzip_flags, [true, false]);
}
