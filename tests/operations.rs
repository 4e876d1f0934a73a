// Every operation against a real loopback server: the exact request it sends (snapshot), and that the service's
// camelCase and the docs' PascalCase responses decode to the same typed values.

mod common;

use common::{Reply, TestServer, client, pascal_case, render, response_example};
use partner_center_insights::{Client, OperationError, ResponseValue, types};
use serde_json::Value;

const REPORT_ID: &str = "0c9f3f3d-2a5c-4c1a-8d7e-6b2f1e0a9c44";
const QUERY_ID: &str = "5d5a7c5e-6f4e-4f0a-9f3e-4b7c2b1a9e10";

fn request_example(path: &str, method: &str) -> Value {
    common::spec()["paths"][path][method]["requestBody"]["content"]["application/json"]["example"].clone()
}

/// Runs `call` against a server answering with the example of `response`, first as the spec (camelCase) writes
/// it, then PascalCase; snapshots the request and checks both answers decode to what the example says.
async fn check<T>(name: &str, response: &str, call: impl AsyncFn(&Client) -> Result<ResponseValue<T>, OperationError>)
where
    T: PartialEq + std::fmt::Debug + serde::de::DeserializeOwned,
{
    let example = response_example(response);
    let expected: T = serde_json::from_value(example.clone()).expect("the spec's example decodes");
    for (casing, body) in [("camelCase", example.clone()), ("PascalCase", pascal_case(&example))] {
        let server = TestServer::always(Reply::json(200, &body.to_string())).await;
        let client = client(&common::mpn(&server));
        let decoded = call(&client).await.unwrap_or_else(|e| panic!("{name} ({casing}): {e}")).into_inner();
        assert_eq!(decoded, expected, "{name}: the {casing} response decodes like the example");
        let requests = server.requests();
        assert_eq!(requests.len(), 1, "{name}: one request");
        if casing == "camelCase" {
            insta::assert_snapshot!(name, render(&requests[0]));
        }
    }
    let items = example["value"].as_array().map_or(0, Vec::len);
    assert!(items > 0, "{name}: the example has items, so an empty decode could not pass");
}

#[tokio::test]
async fn get_datasets() {
    check("get_datasets", "Datasets", async |c: &Client| c.get_datasets().dataset_name("ISVUsage").send().await).await;
}

#[tokio::test]
async fn create_query() {
    let body: types::CreateQueryRequest = serde_json::from_value(request_example("/ScheduledQueries", "post")).unwrap();
    check("create_query", "Queries", async |c: &Client| c.create_query().body(body.clone()).send().await).await;
}

#[tokio::test]
async fn get_queries() {
    check("get_queries", "Queries", async |c: &Client| {
        c.get_queries()
            .query_name("ISVUsageQuery")
            .include_system_queries(true)
            .include_only_system_queries(false)
            .send()
            .await
    })
    .await;
}

#[tokio::test]
async fn delete_query() {
    check("delete_query", "Queries", async |c: &Client| c.delete_query().query_id(QUERY_ID).send().await).await;
}

#[tokio::test]
async fn try_query() {
    check("try_query", "QueryResult", async |c: &Client| {
        c.try_query()
            .export_query("SELECT CustomerName, NormalizedUsage FROM ISVUsage TIMESPAN LAST_MONTH")
            .start_time("2026-10-01T00:00:00Z")
            .end_time("2026-10-31T00:00:00Z")
            .send()
            .await
    })
    .await;
}

#[tokio::test]
async fn create_report() {
    let body: types::CreateReportRequest = serde_json::from_value(request_example("/ScheduledReport", "post")).unwrap();
    check("create_report", "Reports", async |c: &Client| c.create_report().body(body.clone()).send().await).await;
}

#[tokio::test]
async fn get_reports() {
    check("get_reports", "Reports", async |c: &Client| {
        c.get_reports().report_id(REPORT_ID).report_name("ISVUsageReport").query_id(QUERY_ID).send().await
    })
    .await;
}

#[tokio::test]
async fn update_report() {
    let body: types::UpdateReportRequest =
        serde_json::from_value(request_example("/ScheduledReport/{reportId}", "put")).unwrap();
    check("update_report", "Reports", async |c: &Client| {
        c.update_report().report_id(REPORT_ID).body(body.clone()).send().await
    })
    .await;
}

#[tokio::test]
async fn delete_report() {
    check("delete_report", "Reports", async |c: &Client| c.delete_report().report_id(REPORT_ID).send().await).await;
}

#[tokio::test]
async fn pause_report() {
    check("pause_report", "Reports", async |c: &Client| c.pause_report().report_id(REPORT_ID).send().await).await;
}

#[tokio::test]
async fn resume_report() {
    check("resume_report", "Reports", async |c: &Client| c.resume_report().report_id(REPORT_ID).send().await).await;
}

#[tokio::test]
async fn get_report_executions() {
    check("get_report_executions", "Executions", async |c: &Client| {
        c.get_report_executions()
            .report_id(REPORT_ID)
            .execution_status("Pending;Completed")
            .get_latest_execution(false)
            .send()
            .await
    })
    .await;
}

/// Request bodies go out with the docs' PascalCase names, exactly as the spec's request examples.
#[tokio::test]
async fn request_bodies_are_sent_as_the_docs_examples() {
    for (path, method) in
        [("/ScheduledQueries", "post"), ("/ScheduledReport", "post"), ("/ScheduledReport/{reportId}", "put")]
    {
        let server = TestServer::always(Reply::json(200, &response_example("Reports").to_string())).await;
        let client = client(&common::mpn(&server));
        let example = request_example(path, method);
        let result = match (path, method) {
            ("/ScheduledQueries", _) => client
                .create_query()
                .body(serde_json::from_value::<types::CreateQueryRequest>(example.clone()).unwrap())
                .send()
                .await
                .map(drop),
            ("/ScheduledReport", _) => client
                .create_report()
                .body(serde_json::from_value::<types::CreateReportRequest>(example.clone()).unwrap())
                .send()
                .await
                .map(drop),
            _ => client
                .update_report()
                .report_id(REPORT_ID)
                .body(serde_json::from_value::<types::UpdateReportRequest>(example.clone()).unwrap())
                .send()
                .await
                .map(drop),
        };
        // create-query gets a report envelope here; only the request matters in this test
        let _ = result;
        let sent: Value = serde_json::from_slice(&server.requests()[0].body).unwrap();
        assert_eq!(sent, example, "{method} {path}");
        assert_eq!(server.requests()[0].header("content-type"), Some("application/json"));
    }
}

/// The same client code talks to either program: only the base path differs.
#[tokio::test]
async fn both_programs_share_the_operations() {
    let server = TestServer::always(Reply::json(200, &response_example("Reports").to_string())).await;
    for (base, prefix) in [(common::mpn(&server), "/insights/v1/mpn"), (common::cmp(&server), "/insights/v1.1/cmp")] {
        client(&base).resume_report().report_id(REPORT_ID).send().await.unwrap();
        let target = server.requests().last().unwrap().target.clone();
        assert_eq!(target, format!("{prefix}/ScheduledReport/resume/{REPORT_ID}"));
    }
}

/// A `null` where the spec has a list reads as an empty list (serde's `default` covers only a missing field), in
/// either casing; a `null` in any other optional field reads as absent.
#[tokio::test]
async fn null_lists_decode_as_empty() {
    let mut example = response_example("Datasets");
    let dataset = &mut example["value"][0];
    for list in ["selectableColumns", "availableMetrics", "availableDateRanges"] {
        assert!(dataset[list].as_array().is_some_and(|l| !l.is_empty()), "the example has a {list} to null");
        dataset[list] = Value::Null;
    }
    dataset["minimumRecurrenceInterval"] = Value::Null;
    for body in [example.clone(), pascal_case(&example)] {
        let server = TestServer::always(Reply::json(200, &body.to_string())).await;
        let datasets = client(&common::mpn(&server)).get_datasets().send().await.unwrap().into_inner();
        let dataset = &datasets.value[0];
        assert_eq!(dataset.dataset_name, example["value"][0]["datasetName"].as_str().unwrap());
        assert!(dataset.selectable_columns.is_empty() && dataset.available_metrics.is_empty());
        assert!(dataset.available_date_ranges.is_empty() && dataset.minimum_recurrence_interval.is_none());
    }
    for key in ["value", "Value"] {
        let body = format!(r#"{{"{key}":null,"totalCount":0,"message":null,"statusCode":200}}"#);
        let server = TestServer::always(Reply::json(200, &body)).await;
        let reports = client(&common::mpn(&server)).get_reports().send().await.unwrap().into_inner();
        assert!(reports.value.is_empty(), "{body}");
        assert_eq!(reports.total_count, Some(0));
    }
}
