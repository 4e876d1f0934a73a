// Every documented 400/404 message of the reference, reproduced and asserted, plus the quotas. Requests the typed
// client would refuse to build (it validates the same limits) go over raw HTTP; the rest use the client.

#![cfg(feature = "emulator")]

mod emulator_support;

use std::time::Duration;

use emulator_support::*;
use partner_center_insights::emulator::{DEV_TOKEN, Emulator};
use partner_center_insights::{Program, Timestamp};
use serde_json::{Value, json};

/// A valid scheduled create-report body for `query_id`, starting an hour from the emulator's now.
fn valid_report(emulator: &Emulator, query_id: &str) -> Value {
    json!({
        "ReportName": "valid",
        "QueryId": query_id,
        "StartTime": hours_from_now(emulator, 1).to_string(),
        "RecurrenceInterval": 24,
    })
}

/// `base` with `changes` applied; a `null` change removes the key.
fn with(base: &Value, changes: Value) -> Value {
    let mut body = base.clone();
    if let (Some(body), Some(changes)) = (body.as_object_mut(), changes.as_object()) {
        for (key, value) in changes {
            if value.is_null() {
                body.remove(key);
            } else {
                body.insert(key.clone(), value.clone());
            }
        }
    }
    body
}

#[tokio::test]
async fn create_report_documented_400s() {
    let emulator = Emulator::start().await.unwrap();
    let raw = Raw::new(&emulator, Program::Marketplace);
    let query_id = create_query(&client(&emulator, Program::Marketplace), Program::Marketplace).await;
    let valid = valid_report(&emulator, &query_id);
    let long = "x".repeat(257);
    let past = Timestamp::from(emulator.now().as_datetime() - chrono::Duration::minutes(1)).to_string();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"ReportName": null}), "Null or missing value"),
        (json!({"QueryId": null}), "Null or missing value"),
        (json!({"StartTime": null}), "Null or missing value"),
        (json!({"RecurrenceInterval": null}), "Null or missing value"),
        (json!({"ReportName": "   "}), "Null or missing value"),
        (json!({"RecurrenceInterval": 3}), "Recurrence Interval must be between 4 and 2160"),
        (json!({"RecurrenceInterval": 2161}), "Recurrence Interval must be between 4 and 2160"),
        (json!({"RecurrenceInterval": "often"}), "Invalid report parameters"),
        (
            json!({"RecurrenceCount": 0}),
            "Invalid report parameters for creation - Recurrence count has to be a positive integer value",
        ),
        (
            json!({"RecurrenceCount": -2}),
            "Invalid report parameters for creation - Recurrence count has to be a positive integer value",
        ),
        (json!({"Format": "string"}), "Invalid report parameters for creation - Report format should be csv/tsv"),
        (json!({"Format": "xlsx"}), "Invalid report parameters for creation - Report format should be csv/tsv"),
        (
            json!({"CallbackUrl": "https://contoso.example/cb", "CallbackMethod": "PUT"}),
            "Invalid report parameters for creation - CallbackMethod can only be GET or POST",
        ),
        (
            json!({"ReportName": "daily;usage"}),
            "Invalid report parameters for creation - Invalid character (;) in ReportName",
        ),
        (
            json!({"ReportName": long}),
            "Invalid report parameters for creation - Limit ReportName and Description length to 256 characters or less",
        ),
        (
            // 129 characters but 258 UTF-16 code units, which is what .NET counts (and what `ReportName` checks).
            json!({"ReportName": "\u{1F4C8}".repeat(129)}),
            "Invalid report parameters for creation - Limit ReportName and Description length to 256 characters or less",
        ),
        (
            json!({"Description": long}),
            "Invalid report parameters for creation - Limit ReportName and Description length to 256 characters or less",
        ),
        (
            json!({"StartTime": past}),
            "Invalid report parameters for creation - Start time of report should at least be 4 hours from current UTC time",
        ),
        (
            json!({"StartTime": "12/01/2026 00:00"}),
            "Invalid report parameters for creation - StartTime should follow format: yyyy-MM-ddTHH:mm:ssZ",
        ),
        (json!({"QueryId": "00000000-0000-0000-0000-000000000000"}), "Invalid QueryId"),
        (
            json!({"ExecuteNow": true, "QueryStartTime": "yesterday"}),
            "Invalid report parameters for creation - StartTime should follow format: yyyy-MM-ddTHH:mm:ssZ",
        ),
        (
            json!({"ExecuteNow": true, "QueryEndTime": "2026-13-45T00:00:00Z"}),
            "Invalid report parameters for creation - EndTime should follow format: yyyy-MM-ddTHH:mm:ssZ",
        ),
        (
            json!({"ExecuteNow": true, "QueryStartTime": "2026-02-01T00:00:00Z", "QueryEndTime": "2026-01-01T00:00:00Z"}),
            "Invalid report parameters for creation - EndTime should be greater than StartTime",
        ),
        (
            json!({"CallbackUrl": "contoso callback"}),
            "Invalid report parameters for creation - CallbackUrl should be an http or https URL",
        ),
    ];
    for (changes, expected) in cases {
        let body = with(&valid, changes.clone());
        let (status, response) = raw.post("/ScheduledReport", body).await;
        assert_eq!((status, message(&response)), (400, expected), "{changes}");
        assert_eq!(response["statusCode"], 400);
        assert_eq!(response["value"], json!([]));
    }
    // 256 UTF-16 code units is within the limit.
    let (status, response) =
        raw.post("/ScheduledReport", with(&valid, json!({"ReportName": "\u{1F4C8}".repeat(128)}))).await;
    assert_eq!((status, message(&response)), (200, "Report created successfully"));
    // The same body without the mistakes is accepted, in any key casing.
    let lower: Value = valid.as_object().unwrap().iter().map(|(k, v)| (k.to_lowercase(), v.clone())).collect();
    let (status, response) = raw.post("/ScheduledReport", lower).await;
    assert_eq!((status, message(&response)), (200, "Report created successfully"));
    // A body that is not JSON binds to nothing: every required field is missing.
    let (status, response) = raw.send(reqwest::Method::POST, "/ScheduledReport", Some(Value::from("not json"))).await;
    assert_eq!((status, message(&response)), (400, "Null or missing value"));
}

#[tokio::test]
async fn the_typed_client_sees_the_same_messages() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Marketplace);
    assert_eq!(
        failure(
            client.create_report().body_map(|b| b.report_name("r").query_id("unknown").execute_now(true)).send().await
        ),
        (400, "Invalid QueryId".to_owned())
    );
    let query = create_query(&client, Program::Marketplace).await;
    let yesterday = hours_from_now(&emulator, -24);
    let result = client
        .create_report()
        .body_map(|b| {
            b.report_name("r").query_id(query.as_str()).start_time(yesterday).recurrence_interval(interval(24))
        })
        .send()
        .await;
    assert_eq!(
        failure(result),
        (
            400,
            "Invalid report parameters for creation - Start time of report should at least be 4 hours from current UTC \
             time"
                .to_owned()
        )
    );
}

#[tokio::test]
async fn partner_date_format_errors_are_the_documented_500() {
    let emulator = Emulator::start().await.unwrap();
    let raw = Raw::new(&emulator, Program::Partner);
    let query_id = create_query(&client(&emulator, Program::Partner), Program::Partner).await;
    let body = with(&valid_report(&emulator, &query_id), json!({"StartTime": "2026-12-01"}));
    let (status, response) = raw.post("/ScheduledReport", body).await;
    assert_eq!(status, 500);
    let correlation = message(&response)
        .strip_prefix("Internal error encountered while creating report. Correlation ID ")
        .unwrap_or_else(|| panic!("{response}"));
    assert!(uuid::Uuid::parse_str(correlation).is_ok(), "{correlation}");
}

#[tokio::test]
async fn partner_datasets_enforce_their_minimum_recurrence_interval() {
    let emulator = Emulator::start().await.unwrap();
    let raw = Raw::new(&emulator, Program::Partner);
    let (_, created) =
        raw.post("/ScheduledQueries", json!({"Name": "d365", "Query": "SELECT Workload FROM DynamicsUsage"})).await;
    let query_id = created["value"][0]["queryId"].as_str().unwrap().to_owned();
    let body = valid_report(&emulator, &query_id);
    let (status, response) = raw.post("/ScheduledReport", with(&body, json!({"RecurrenceInterval": 12}))).await;
    assert_eq!((status, message(&response)), (400, "Invalid report parameters"));
    let (status, _) = raw.post("/ScheduledReport", body).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_start_lead_can_be_required() {
    let emulator = Emulator::builder().min_start_lead(Duration::from_secs(4 * 3600)).start().await.unwrap();
    let raw = Raw::new(&emulator, Program::Marketplace);
    let query_id = create_query(&client(&emulator, Program::Marketplace), Program::Marketplace).await;
    let valid = valid_report(&emulator, &query_id);
    let (status, response) = raw.post("/ScheduledReport", valid.clone()).await;
    assert_eq!(status, 400);
    assert!(message(&response).ends_with("Start time of report should at least be 4 hours from current UTC time"));
    let later = with(&valid, json!({"StartTime": hours_from_now(&emulator, 4).to_string()}));
    assert_eq!(raw.post("/ScheduledReport", later).await.0, 200);
}

#[tokio::test]
async fn update_report_messages() {
    let emulator = Emulator::start().await.unwrap();
    let raw = Raw::new(&emulator, Program::Marketplace);
    let client = client(&emulator, Program::Marketplace);
    let query_id = create_query(&client, Program::Marketplace).await;
    let report = scheduled(&client, &query_id, hours_from_now(&emulator, 1), 24, 2).await;
    let valid = json!({"ReportName": "u", "StartTime": hours_from_now(&emulator, 2).to_string()});
    let path = format!("/ScheduledReport/{report}");
    for (changes, expected) in [
        (json!({"StartTime": null}), "Null or missing value"),
        (json!({"ReportName": null}), "Null or missing value"),
        (json!({"RecurrenceInterval": 2}), "Recurrence Interval must be between 4 and 2160"),
        (json!({"Format": "json"}), "Invalid report parameters for creation - Report format should be csv/tsv"),
        (json!({"ReportName": "a;b"}), "Invalid report parameters for creation - Invalid character (;) in ReportName"),
    ] {
        let (status, response) = raw.put(&path, with(&valid, changes.clone())).await;
        assert_eq!((status, message(&response)), (400, expected), "{changes}");
    }
    let (status, response) = raw.put("/ScheduledReport/unknown", valid.clone()).await;
    assert_eq!((status, message(&response)), (404, "No item found with given filters."));
    let (status, response) = raw.put(&path, valid).await;
    assert_eq!((status, message(&response)), (200, "Report updated successfully"));
}

#[tokio::test]
async fn query_messages() {
    let emulator = Emulator::start().await.unwrap();
    let raw = Raw::new(&emulator, Program::Marketplace);
    for (body, expected) in [
        (json!({"Query": "SELECT OfferName FROM ISVOrder"}), "Null or missing value"),
        (json!({"Name": "q"}), "Null or missing value"),
        (json!({"Name": "q", "Query": "SELECT OfferName FROM ISVNothing"}), "Invalid table name"),
        (json!({"Name": "q", "Query": "SELECT OfferName, Colour FROM ISVOrder"}), "Incorrect column name"),
    ] {
        let (status, response) = raw.post("/ScheduledQueries", body.clone()).await;
        assert_eq!((status, message(&response)), (400, expected), "{body}");
    }
    let (status, response) = raw.send(reqwest::Method::DELETE, "/ScheduledQueries/unknown", None).await;
    assert_eq!((status, message(&response)), (404, "No item found with given filters."));

    for (query, expected) in [
        ("", "Null or missing value"),
        ("?queryId=unknown", "Invalid QueryId"),
        ("?exportQuery=SELECT%20x%20FROM%20y", "Invalid table name"),
    ] {
        let (status, response) = raw.get(&format!("/ScheduledQueries/testQueryResult{query}")).await;
        assert_eq!((status, message(&response)), (400, expected), "{query}");
    }
    // Partner insights' try-query takes a data window, checked like report times.
    let partner = Raw::new(&emulator, Program::Partner);
    let base = "/ScheduledQueries/testQueryResult?exportQuery=SELECT%20Workload%20FROM%20OfficeUsage";
    let (status, response) = partner.get(&format!("{base}&startTime=tomorrow")).await;
    assert_eq!(
        (status, message(&response)),
        (400, "Invalid report parameters for creation - StartTime should follow format: yyyy-MM-ddTHH:mm:ssZ")
    );
    let (status, response) =
        partner.get(&format!("{base}&startTime=2026-02-01T00:00:00Z&endTime=2026-01-01T00:00:00Z")).await;
    assert_eq!(
        (status, message(&response)),
        (400, "Invalid report parameters for creation - EndTime should be greater than StartTime")
    );
}

#[tokio::test]
async fn the_marketplace_docs_isv_usage_queries_are_accepted() {
    // The sample queries of the marketplace's custom query specification and create-query page, word for word.
    let emulator = Emulator::start().await.unwrap();
    let raw = Raw::new(&emulator, Program::Marketplace);
    for (i, query) in [
        "SELECT MarketplaceSubscriptionId,CustomerId FROM ISVUsage TIMESPAN LAST_MONTH",
        "SELECT MarketplaceSubscriptionId, EstimatedExtendedChargeCC FROM ISVUsage ORDER BY EstimatedExtendedChargeCC \
         LIMIT 10",
        "SELECT CustomerId, NormalizedUsage, RawUsage FROM ISVUsage WHERE NormalizedUsage > 100000 ORDER BY \
         NormalizedUsage TIMESPAN LAST_6_MONTHS",
        "SELECT UsageDate, NormalizedUsage, EstimatedExtendedChargePC FROM ISVUsage WHERE SKUBillingType = 'Paid' \
         ORDER BY UsageDate DESC TIMESPAN LAST_MONTH",
        "SELECT MonthStartDate, CustomerCountry, NormalizedUsage FROM ISVUsage",
    ]
    .into_iter()
    .enumerate()
    {
        let (status, response) =
            raw.post("/ScheduledQueries", json!({"Name": format!("docs-{i}"), "Query": query})).await;
        assert_eq!((status, message(&response)), (200, "Query created successfully"), "{query}");
    }
}

#[tokio::test]
async fn not_found_and_bad_parameters() {
    let emulator = Emulator::start().await.unwrap();
    let raw = Raw::new(&emulator, Program::Marketplace);
    for path in ["/ScheduledReport/pause/unknown", "/ScheduledReport/resume/unknown"] {
        let (status, response) = raw.send(reqwest::Method::PUT, path, None).await;
        assert_eq!((status, message(&response)), (404, "No item found with given filters."), "{path}");
    }
    let (status, response) = raw.send(reqwest::Method::DELETE, "/ScheduledReport/unknown", None).await;
    assert_eq!((status, message(&response)), (404, "No item found with given filters."));
    let (status, response) = raw.get("/ScheduledReport?reportName=nothing").await;
    assert_eq!((status, message(&response)), (404, "No item found with given filters."));
    let (status, response) = raw.get("/ScheduledReport?reportId=").await;
    assert_eq!((status, message(&response)), (200, "Reports fetched successfully"), "a blank filter is no filter");
    let (status, response) = raw.get("/ScheduledReport/execution/unknown?executionStatus=Pending;Done").await;
    assert_eq!((status, message(&response)), (400, "Requested value 'Done' not found"), "the client refuses it");
    let (status, response) = raw.get("/ScheduledQueries?includeSystemQueries=perhaps").await;
    assert_eq!((status, message(&response)), (400, "The value 'perhaps' is not valid for includeSystemQueries"));
    let (status, response) = raw.get("/ScheduledReports").await;
    assert_eq!((status, message(&response)), (404, "Resource not found"));
    let (status, _) = raw.send(reqwest::Method::PATCH, "/ScheduledReport", None).await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn several_report_ids_are_a_marketplace_filter_only() {
    let emulator = Emulator::start().await.unwrap();
    for (program, found) in [(Program::Marketplace, 2), (Program::Partner, 0)] {
        let raw = Raw::new(&emulator, program);
        let query_id = create_query(&client(&emulator, program), program).await;
        let mut ids = Vec::new();
        for name in ["first", "second"] {
            let body = with(&valid_report(&emulator, &query_id), json!({"ReportName": name}));
            let (status, response) = raw.post("/ScheduledReport", body).await;
            assert_eq!(status, 200, "{program:?}: {response}");
            ids.push(response["value"][0]["reportId"].as_str().unwrap().to_owned());
        }
        let (status, response) = raw.get(&format!("/ScheduledReport?reportId={}", ids.join(";"))).await;
        if found == 0 {
            // On partner insights the value is one id, and no report has it.
            assert_eq!((status, message(&response)), (404, "No item found with given filters."), "{program:?}");
        } else {
            assert_eq!(status, 200, "{program:?}: {response}");
            assert_eq!(response["value"].as_array().unwrap().len(), found, "{program:?}");
        }
        let (status, response) = raw.get(&format!("/ScheduledReport?reportId={}", ids[1])).await;
        assert_eq!((status, response["value"][0]["reportId"].as_str()), (200, Some(ids[1].as_str())), "{program:?}");
    }
}

#[tokio::test]
async fn at_most_100_queries_per_program() {
    let emulator = Emulator::start().await.unwrap();
    let raw = Raw::new(&emulator, Program::Marketplace);
    let body = json!({"Name": "q", "Query": "SELECT OfferName FROM ISVOrder"});
    let mut last = String::new();
    for _ in 0..100 {
        let (status, response) = raw.post("/ScheduledQueries", body.clone()).await;
        assert_eq!(status, 200);
        last = response["value"][0]["queryId"].as_str().unwrap().to_owned();
    }
    let (status, response) = raw.post("/ScheduledQueries", body.clone()).await;
    assert_eq!(
        (status, message(&response)),
        (400, "Number of queries exceeded. Delete few queries before creating new queries")
    );
    // The other program has its own quota.
    assert_eq!(
        Raw::new(&emulator, Program::Partner)
            .post("/ScheduledQueries", json!({"Name": "q", "Query": "SELECT Workload FROM OfficeUsage"}))
            .await
            .0,
        200
    );
    raw.send(reqwest::Method::DELETE, &format!("/ScheduledQueries/{last}"), None).await;
    assert_eq!(raw.post("/ScheduledQueries", body).await.0, 200);
}

#[tokio::test]
async fn at_most_50_active_or_paused_reports() {
    let emulator = Emulator::start().await.unwrap();
    let raw = Raw::new(&emulator, Program::Partner);
    let query_id = create_query(&client(&emulator, Program::Partner), Program::Partner).await;
    let body = valid_report(&emulator, &query_id);
    let mut ids = Vec::new();
    for _ in 0..50 {
        let (status, response) = raw.post("/ScheduledReport", body.clone()).await;
        assert_eq!(status, 200, "{response}");
        ids.push(response["value"][0]["reportId"].as_str().unwrap().to_owned());
    }
    let quota = (400, "User has exceeded its report creation quota of 50 active reports");
    let (status, response) = raw.post("/ScheduledReport", body.clone()).await;
    assert_eq!((status, message(&response)), quota);
    // Paused reports still count.
    let (status, paused) = raw.send(reqwest::Method::PUT, &format!("/ScheduledReport/pause/{}", ids[0]), None).await;
    assert_eq!((status, paused["value"][0]["reportStatus"].as_str()), (200, Some("Paused")), "{paused}");
    let (status, response) = raw.post("/ScheduledReport", body.clone()).await;
    assert_eq!((status, message(&response)), quota);
    raw.send(reqwest::Method::DELETE, &format!("/ScheduledReport/{}", ids[1]), None).await;
    assert_eq!(raw.post("/ScheduledReport", body).await.0, 200);
}

#[tokio::test]
async fn at_most_5_execute_now_reports_per_hour() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Marketplace);
    let query_id = create_query(&client, Program::Marketplace).await;
    for i in 0..5 {
        execute_now(&client, &query_id, &format!("now {i}")).await;
    }
    let sixth =
        client.create_report().body_map(|b| b.report_name("sixth").query_id(query_id.as_str()).execute_now(true));
    assert_eq!(
        failure(sixth.send().await),
        (400, "User has exceeded its ExecuteNow report creation quota of 5 reports/60 mins".to_owned())
    );
    // Scheduled reports are not limited by it.
    scheduled(&client, &query_id, hours_from_now(&emulator, 1), 24, 1).await;
    emulator.advance(Duration::from_secs(59 * 60)).await;
    let still = failure(
        client
            .create_report()
            .body_map(|b| b.report_name("still").query_id(query_id.as_str()).execute_now(true))
            .send()
            .await,
    );
    assert_eq!(
        still,
        (400, "User has exceeded its ExecuteNow report creation quota of 5 reports/60 mins".to_owned()),
        "59 minutes on, the quota still holds"
    );
    emulator.advance(Duration::from_secs(60)).await;
    execute_now(&client, &query_id, "an hour later").await;
}

#[tokio::test]
async fn a_bodyless_put_or_post_without_a_length_gets_the_front_ends_411() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Partner);
    let query_id = create_query(&client, Program::Partner).await;
    let report = scheduled(&client, &query_id, hours_from_now(&emulator, 1), 24, 2).await;
    let url = format!("{}/ScheduledReport/pause/{report}", emulator.base_url(Program::Partner));
    let http = http();
    // reqwest states no length for a bodyless PUT: what the client's hook exists to fix.
    let bare = http.put(&url).bearer_auth(DEV_TOKEN).send().await.unwrap();
    assert_eq!(bare.status().as_u16(), 411);
    assert!(bare.text().await.unwrap().contains("Length Required"));
    let stated = http.put(&url).bearer_auth(DEV_TOKEN).header("content-length", "0").send().await.unwrap();
    assert_eq!(stated.status().as_u16(), 200);
    // The generated client, through the hook, is never refused.
    client.resume_report().report_id(report.as_str()).send().await.expect("resumed");
}
