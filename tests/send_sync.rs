// Compile-time guarantees: the client can be shared across tasks, and the futures of its operations can be spawned.

#[path = "common/log_guard.rs"]
#[allow(dead_code)]
mod log_guard;

use std::future::IntoFuture;

use partner_center_insights::{Client, Error, OperationError};

fn assert_send_sync<T: Send + Sync + 'static>() {}
fn assert_send<T: Send>(_: &T) {}

#[test]
fn client_and_errors_are_send_and_sync() {
    assert_send_sync::<Client>();
    assert_send_sync::<Error>();
    assert_send_sync::<OperationError>();
    assert_send_sync::<partner_center_insights::ClientBuilder>();
}

#[test]
fn operation_futures_are_send() {
    let client = Client::builder("http://127.0.0.1:9/insights/v1/mpn").bearer_token("t").build().unwrap();
    // Built, never polled: only the type is checked.
    assert_send(&client.resume_report().report_id("r").send());
    assert_send(&client.create_report().body_map(|b| b.report_name("n").query_id("q")).send());
    assert_send(&client.get_report_executions().report_id("r").send());
    assert_send(&client.try_query().query_id("q").send());
}

#[test]
fn workflow_futures_are_send() {
    let client = Client::builder("http://127.0.0.1:9/insights/v1/mpn").bearer_token("t").build().unwrap();
    let execution: partner_center_insights::types::Execution =
        serde_json::from_str(r#"{"executionId":"e","reportAccessSecureLink":"https://files.example/r.csv"}"#).unwrap();
    let mut sink = Vec::new();
    assert_send(&client.download_execution(&execution, &mut sink, |_| {}));
    assert_send(&client.download_execution_to_file(&execution, "r.csv", |_| {}));
    let first: partner_center_insights::types::DatasetEnvelope = serde_json::from_str(r#"{"value":[]}"#).unwrap();
    assert_send(&client.pages(first).all_items());
    assert_send(&client.wait_for_execution("r").into_future());
}
