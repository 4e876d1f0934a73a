// The emulator end to end through the real generated client: the full report life cycle for both programs and
// both casings, schedules on the manual clock, pause/resume/update/delete, filters, datasets and system queries.

#![cfg(feature = "emulator")]

mod emulator_support;

use std::future::IntoFuture;
use std::time::Duration;

use emulator_support::*;
use partner_center_insights::emulator::{Casing, Emulator, Seed, StartError};
use partner_center_insights::{
    Error, ExecutionStatus, ExecutionWait, Program, ReportFormat, ReportStatus, SingleItem, WaitProgress, types,
};

/// The emulator calls a report's callback when a run completes: a closed loopback port, so no test sends traffic
/// off this machine (a failed callback is recorded and changes nothing else).
const CALLBACK: &str = "http://127.0.0.1:9/ready";

/// How long an execution takes with the default timing (1 min queued + 4 min running), plus a margin.
const RUN: Duration = Duration::from_secs(6 * 60);

#[tokio::test]
async fn lists_come_in_pages_when_asked_and_the_client_follows_them() {
    let emulator = Emulator::builder().page_size(2).start().await.unwrap();
    let client = client(&emulator, Program::Partner);
    let query_id = create_query(&client, Program::Partner).await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(execute_now(&client, &query_id, &format!("paged-{i}")).await);
    }
    // Two at a time, the link keeping the filter.
    let first = client.get_reports().query_id(query_id.as_str()).send().await.unwrap().into_inner();
    assert_eq!(first.value.len(), 2);
    let link = first.next_link.clone().expect("a link to the second page");
    assert!(link.starts_with("/insights/v1/mpn/ScheduledReport?") && link.contains("skip=2"), "{link}");
    assert!(link.contains(&format!("queryId={query_id}")), "{link}");
    let mut listed: Vec<String> =
        client.pages(first).all_items().await.unwrap().into_iter().map(|r| r.report_id).collect();
    listed.sort();
    created.sort();
    assert_eq!(listed, created, "every report once, across three pages");
    // The other lists page too; without a page size, one page and no link.
    let datasets = client.get_datasets().send().await.unwrap().into_inner();
    assert_eq!((datasets.value.len(), datasets.next_link.is_some()), (2, true));
    let whole = Emulator::start().await.unwrap();
    let datasets = crate::client(&whole, Program::Partner).get_datasets().send().await.unwrap().into_inner();
    assert!(datasets.value.len() > 2 && datasets.next_link.is_none());
}

async fn end_to_end(program: Program, casing: Casing) {
    let emulator = Emulator::builder().casing(casing).start().await.unwrap();
    let client = client(&emulator, program);
    let (text, columns) = two_column_query(program);

    // Query.
    let created = client
        .create_query()
        .body(types::CreateQueryRequest {
            name: "usage".try_into().unwrap(),
            description: Some("two columns".into()),
            query: text.try_into().unwrap(),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(created.message.as_deref(), Some("Query created successfully"));
    assert_eq!(created.total_count, Some(1));
    let query = &created.value[0];
    assert_eq!(query.type_.as_deref(), Some("userDefined"));
    assert_eq!(query.query.as_deref(), Some(text));

    // Scheduled report: create, pause, resume.
    let start = hours_from_now(&emulator, 1);
    let report = client
        .create_report()
        .body_map(|b| {
            b.report_name("daily")
                .query_id(query.query_id.as_str())
                .start_time(start)
                .recurrence_interval(interval(24))
                .recurrence_count(count(3))
                .format(ReportFormat::Csv)
        })
        .send()
        .await
        .unwrap();
    assert_eq!(report.message.as_deref(), Some("Report created successfully"));
    let report = &report.value[0];
    assert_eq!(report.report_status, Some(ReportStatus::Active));
    assert_eq!(report.start_time, Some(start));
    assert_eq!(report.recurrence_interval, Some(24));
    let paused = client.pause_report().report_id(report.report_id.as_str()).send().await.unwrap();
    assert_eq!(paused.value[0].report_status, Some(ReportStatus::Paused));
    let resumed = client.resume_report().report_id(report.report_id.as_str()).send().await.unwrap();
    assert_eq!(resumed.message.as_deref(), Some("Report resumed successfully"));
    assert_eq!(resumed.value[0].report_status, Some(ReportStatus::Active));

    // ExecuteNow: pending at once, completed after the clock moves.
    let now_report = execute_now(&client, &query.query_id, "right now").await;
    let pending =
        client.get_report_executions().report_id(now_report.as_str()).execution_status("Pending").send().await.unwrap();
    assert_eq!(pending.value[0].execution_status, Some(ExecutionStatus::Pending));
    assert_eq!(pending.value[0].report_access_secure_link, None);

    emulator.advance(RUN).await;
    let done = client.get_report_executions().report_id(now_report.as_str()).send().await.unwrap();
    assert_eq!(done.total_count, Some(1));
    let execution = &done.value[0];
    assert_eq!(execution.execution_status, Some(ExecutionStatus::Completed));
    assert_eq!(execution.format, Some(ReportFormat::Csv));
    assert!(execution.report_generated_time.is_some());
    assert_eq!(execution.report_location.is_some(), program == Program::Partner);
    let link = link(execution);
    assert!(link.starts_with(&format!("{}/_emulator/files/{}?sig=", emulator.origin(), execution.execution_id)));

    // The file: the query's columns as the header row, then the configured number of rows.
    let csv = fetch(&link).await.unwrap().text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(columns.join(",").as_str()));
    assert_eq!(lines.count(), 100);
    let downloads = emulator.downloads();
    assert_eq!(downloads.len(), 1);
    assert!(!downloads[0].authorization_sent);
    assert_eq!(downloads[0].status, 200);

    // The wire casing really is the configured one.
    let (_, raw) = Raw::new(&emulator, program).get("/ScheduledReport").await;
    let (value_key, id_key) = match casing {
        Casing::Camel => ("value", "reportId"),
        Casing::Pascal => ("Value", "ReportId"),
    };
    assert!(raw[value_key][0][id_key].is_string(), "{raw}");
    emulator.shutdown().await;
}

#[tokio::test]
async fn end_to_end_marketplace_camel_case() {
    end_to_end(Program::Marketplace, Casing::Camel).await;
}

#[tokio::test]
async fn end_to_end_marketplace_pascal_case() {
    end_to_end(Program::Marketplace, Casing::Pascal).await;
}

#[tokio::test]
async fn end_to_end_partner_camel_case() {
    end_to_end(Program::Partner, Casing::Camel).await;
}

#[tokio::test]
async fn end_to_end_partner_pascal_case() {
    end_to_end(Program::Partner, Casing::Pascal).await;
}

#[tokio::test]
async fn scheduled_runs_happen_at_each_slot_until_the_count_then_the_report_ends() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Marketplace);
    let query = create_query(&client, Program::Marketplace).await;
    let start = hours_from_now(&emulator, 1);
    let report = scheduled(&client, &query, start, 4, 3).await;

    // Nothing before the first slot has run.
    emulator.advance(Duration::from_secs(3600)).await;
    let (status, message) = failure(client.get_report_executions().report_id(report.as_str()).send().await);
    assert_eq!(status, 404);
    assert!(message.starts_with("There are no executions that have occurred for the given filter conditions."));

    emulator.advance(Duration::from_secs(12 * 3600)).await;
    let all =
        client.get_report_executions().report_id(report.as_str()).get_latest_execution(false).send().await.unwrap();
    assert_eq!(all.total_count, Some(3));
    let mut generated: Vec<_> = all.value.iter().map(|e| e.report_generated_time.unwrap().to_string()).collect();
    generated.sort();
    // Each run completes its slot + 1 min queued + 4 min running.
    let expected: Vec<_> = (0..3)
        .map(|k| {
            partner_center_insights::Timestamp::from(
                start.as_datetime() + chrono::Duration::hours(4 * k) + chrono::Duration::minutes(5),
            )
            .to_string()
        })
        .collect();
    assert_eq!(generated, expected);
    let reports = client.get_reports().report_id(report.as_str()).send().await.unwrap();
    assert_eq!(reports.value[0].report_status, Some(ReportStatus::Inactive));
}

/// Runs `wait` (polling every 5 ms, for at most 20 s) and moves the clock `by` once the wait has reported its first
/// progress; returns the wait's outcome and that first progress.
async fn advance_once_waiting(
    emulator: &Emulator,
    wait: ExecutionWait<'_>,
    by: Duration,
) -> (Result<types::Execution, Error>, WaitProgress) {
    let (first_seen, seen) = tokio::sync::oneshot::channel();
    let mut first_seen = Some(first_seen);
    let wait = wait.poll_interval(Duration::from_millis(5)).timeout(Duration::from_secs(20)).on_progress(move |p| {
        if let Some(first_seen) = first_seen.take() {
            first_seen.send(p.clone()).unwrap();
        }
    });
    tokio::join!(wait.into_future(), async {
        let first = seen.await.unwrap();
        emulator.advance(by).await;
        first
    })
}

#[tokio::test]
async fn waiting_on_a_schedule_returns_the_run_that_began_not_the_one_queued_behind_it() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Marketplace);
    let query = create_query(&client, Program::Marketplace).await;
    let report = scheduled(&client, &query, hours_from_now(&emulator, 1), 4, 3).await;

    // The wait starts before the first slot, sees the first run queued, and the clock then moves past that run: the
    // second run is queued as soon as the first starts, and must not be the one waited for.
    let wait = client.wait_for_execution(report.as_str());
    let (done, first) = advance_once_waiting(&emulator, wait, Duration::from_secs(3600) + RUN).await;
    let done = done.expect("the first run completes");
    assert!(
        matches!(first, WaitProgress::Execution { status: ExecutionStatus::Pending, .. }),
        "first progress: {first:?}"
    );
    assert_eq!(done.execution_status, Some(ExecutionStatus::Completed));
    let queued = client.get_report_executions().report_id(report.as_str()).execution_status("Pending").send().await;
    let queued = queued.unwrap().into_inner().value;
    assert_eq!(queued.len(), 1);
    assert_ne!(queued[0].execution_id, done.execution_id, "waited for the queued run");

    // Later waits return the completed run at once, though a run is queued behind it.
    // The crate's own validated id is taken as well as a string, by reference or by value.
    let id = partner_center_insights::ReportId::new(report.clone()).unwrap();
    let again = client.wait_for_execution(&id).timeout(Duration::from_secs(20)).await.unwrap();
    assert_eq!(again.execution_id, done.execution_id);

    // Unless told to pass over runs completed before now: then the wait is for the next run.
    let wait = client.wait_for_execution(id).completed_after(emulator.now());
    let (next, first) = advance_once_waiting(&emulator, wait, Duration::from_secs(4 * 3600)).await;
    let next = next.expect("the second run completes");
    assert!(matches!(first, WaitProgress::Execution { status: ExecutionStatus::Pending, .. }), "{first:?}");
    assert_eq!(next.execution_id, queued[0].execution_id, "the run that was queued");
    assert_eq!(next.execution_status, Some(ExecutionStatus::Completed));
}

#[tokio::test]
async fn a_clock_moved_centuries_ahead_keeps_90_days_of_runs_and_answers_at_once() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Marketplace);
    let query = create_query(&client, Program::Marketplace).await;
    let report = client
        .create_report()
        .body_map(|b| {
            b.report_name("forever")
                .query_id(query.as_str())
                .start_time(hours_from_now(&emulator, 1))
                .recurrence_interval(interval(4))
        })
        .send()
        .await
        .unwrap();
    let report = report.value[0].report_id.clone();
    let counted = scheduled(&client, &query, hours_from_now(&emulator, 1), 4, 3).await;
    // Slot by slot this is 2 million runs; only the last 90 days' are kept, so only those are made.
    let centuries = Duration::from_secs(1000 * 365 * 86_400);
    tokio::time::timeout(Duration::from_secs(60), emulator.advance(centuries)).await.expect("the move ends");
    let all = client.get_report_executions().report_id(report.as_str()).get_latest_execution(false).send().await;
    let all = all.unwrap().into_inner().value;
    assert!((530..=541).contains(&all.len()), "{} runs kept", all.len());
    let latest = client.get_report_executions().report_id(report.as_str()).send().await.unwrap().into_inner().value;
    let generated = latest[0].report_generated_time.unwrap().as_datetime();
    let age = emulator.now().as_datetime() - generated;
    assert!(age >= chrono::Duration::zero() && age <= chrono::Duration::hours(4), "latest run {age} old");
    let reports = client.get_reports().report_id(report.as_str()).send().await.unwrap();
    assert_eq!(reports.value[0].report_status, Some(ReportStatus::Active));
    // Three runs, all long past the retention: the report ended, and none is kept.
    let ended = client.get_reports().report_id(counted.as_str()).send().await.unwrap();
    assert_eq!(ended.value[0].report_status, Some(ReportStatus::Inactive));
    let runs = client.get_report_executions().report_id(counted.as_str()).get_latest_execution(false).send().await;
    assert_eq!(failure(runs).0, 404);
}

#[tokio::test]
async fn a_paused_report_holds_its_run_and_skips_the_slots_it_missed() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Partner);
    let query = create_query(&client, Program::Partner).await;
    let report = scheduled(&client, &query, hours_from_now(&emulator, 1), 24, 2).await;
    client.pause_report().report_id(report.as_str()).send().await.unwrap();

    emulator.advance(Duration::from_secs(30 * 3600)).await;
    let held =
        client.get_report_executions().report_id(report.as_str()).execution_status("Paused").send().await.unwrap();
    assert_eq!(held.value[0].execution_status, Some(ExecutionStatus::Paused));
    let (status, _) = failure(client.get_report_executions().report_id(report.as_str()).send().await);
    assert_eq!(status, 404, "nothing ran while paused");

    client.resume_report().report_id(report.as_str()).send().await.unwrap();
    // The slots missed while paused (hours 1 and 25) are skipped: the held run moves to hour 49.
    emulator.advance(Duration::from_secs(18 * 3600)).await;
    let (status, _) = failure(client.get_report_executions().report_id(report.as_str()).send().await);
    assert_eq!(status, 404, "the next slot is at hour 49");
    emulator.advance(Duration::from_secs(3600) + RUN).await;
    let done = client.get_report_executions().report_id(report.as_str()).send().await.unwrap();
    assert_eq!(done.value[0].execution_status, Some(ExecutionStatus::Completed));
}

#[tokio::test]
async fn a_short_pause_after_a_slot_holds_that_run_and_does_not_skip_it() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Marketplace);
    let query = create_query(&client, Program::Marketplace).await;
    let report = scheduled(&client, &query, hours_from_now(&emulator, 1), 4, 2).await;
    // Its first slot has come (the run is queued) when it is paused, for ten seconds.
    emulator.advance(Duration::from_secs(3600 + 30)).await;
    client.pause_report().report_id(report.as_str()).send().await.unwrap();
    emulator.advance(Duration::from_secs(10)).await;
    client.resume_report().report_id(report.as_str()).send().await.unwrap();
    // The slot came before the pause, so the run is not moved to the next one (four hours on).
    emulator.advance(RUN).await;
    let done = client.get_report_executions().report_id(report.as_str()).send().await.unwrap();
    assert_eq!(done.value[0].execution_status, Some(ExecutionStatus::Completed), "{:?}", done.value);

    // A long pause after a slot: the held run keeps its slot, and the slots that came while paused are skipped
    // (not run late, and not counted).
    let report = scheduled(&client, &query, hours_from_now(&emulator, 1), 4, 3).await;
    emulator.advance(Duration::from_secs(3600 + 30)).await;
    client.pause_report().report_id(report.as_str()).send().await.unwrap();
    emulator.advance(Duration::from_secs(10 * 3600)).await;
    client.resume_report().report_id(report.as_str()).send().await.unwrap();
    emulator.advance(RUN).await;
    let runs = client.get_report_executions().report_id(report.as_str()).get_latest_execution(false).send().await;
    let statuses: Vec<_> = runs.unwrap().into_inner().value.into_iter().map(|e| e.execution_status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == Some(ExecutionStatus::Completed)).count(), 1, "{statuses:?}");
    let reports = client.get_reports().report_id(report.as_str()).send().await.unwrap();
    assert_eq!(reports.value[0].report_status, Some(ReportStatus::Active), "two runs of three are still to come");
}

/// The emulator's choice: the docs do not say whether pause and resume are idempotent. Refusing is the stricter
/// reading, so a client that relies on repeating them is caught here rather than against the service.
#[tokio::test]
async fn pausing_twice_or_resuming_an_active_report_is_refused() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Marketplace);
    let query = create_query(&client, Program::Marketplace).await;
    let report = scheduled(&client, &query, hours_from_now(&emulator, 1), 24, 1).await;
    assert_eq!(
        failure(client.resume_report().report_id(report.as_str()).send().await),
        (400, "Report with status Active cannot be resumed".to_owned())
    );
    client.pause_report().report_id(report.as_str()).send().await.unwrap();
    assert_eq!(
        failure(client.pause_report().report_id(report.as_str()).send().await),
        (400, "Report with status Paused cannot be paused".to_owned())
    );
    client.resume_report().report_id(report.as_str()).send().await.unwrap();
    emulator.advance(Duration::from_secs(2 * 3600)).await;
    // Its only run is done: the report has ended and can be neither paused nor resumed.
    assert_eq!(
        failure(client.pause_report().report_id(report.as_str()).send().await),
        (400, "Report with status Inactive cannot be paused".to_owned())
    );
}

#[tokio::test]
async fn an_update_replaces_the_schedule_and_the_format() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Marketplace);
    let query = create_query(&client, Program::Marketplace).await;
    let report = scheduled(&client, &query, hours_from_now(&emulator, 10), 24, 1).await;

    let new_start = hours_from_now(&emulator, 2);
    let updated = client
        .update_report()
        .report_id(report.as_str())
        .body_map(|b| b.report_name("renamed").start_time(new_start).format(ReportFormat::Tsv))
        .send()
        .await
        .unwrap();
    let item = &updated.value[0];
    assert_eq!(item.report_name.as_deref(), Some("renamed"));
    assert_eq!(item.start_time, Some(new_start));
    assert_eq!(item.format, Some(ReportFormat::Tsv));
    assert_eq!(item.recurrence_interval, Some(24), "an absent interval keeps the old one");
    assert!(item.modified_time.is_some());

    emulator.advance(Duration::from_secs(2 * 3600) + RUN).await;
    let done = client.get_report_executions().report_id(report.as_str()).send().await.unwrap();
    assert_eq!(done.value[0].format, Some(ReportFormat::Tsv));
    let tsv = fetch(link(&done.value[0])).await.unwrap().text().await.unwrap();
    assert!(tsv.starts_with("CustomerName\tNormalizedUsage\r\n"), "{}", &tsv[..60]);
}

#[tokio::test]
async fn an_update_built_from_the_report_keeps_what_it_does_not_change() {
    use partner_center_insights::{CallbackMethod, RecurrenceInterval};
    let emulator = Emulator::start().await.unwrap();
    // Partner insights: the marketplace's report objects do not show a callback method to carry over.
    let client = client(&emulator, Program::Partner);
    let query = create_query(&client, Program::Partner).await;
    let start = hours_from_now(&emulator, 10);
    let created = client
        .create_report()
        .body_map(|b| {
            b.report_name("weekly")
                .description(Some(partner_center_insights::ReportDescription::new("for finance").unwrap()))
                .query_id(query.as_str())
                .start_time(start)
                .recurrence_interval(interval(24))
                .recurrence_count(count(3))
                .format(ReportFormat::Tsv)
                .callback_url(partner_center_insights::CallbackUrl::new(CALLBACK).unwrap())
                .callback_method(CallbackMethod::Get)
        })
        .send()
        .await
        .unwrap();
    let report = &created.value[0];
    let update = types::UpdateReportRequest::try_from(report).unwrap();
    assert_eq!(
        (update.recurrence_interval.map(|i| i.hours()), update.recurrence_count.map(|n| n.executions())),
        (Some(24), Some(3))
    );

    // The emulator resets what an update omits (description, format, callback, count): built from the report,
    // the update omits nothing.
    let mut update = types::UpdateReportRequest::try_from(report).unwrap();
    update.recurrence_interval = Some(RecurrenceInterval::new(48).unwrap());
    let updated = client.update_report().report_id(&report.report_id).body(update).send().await.unwrap();
    let after = &updated.value[0];
    assert_eq!(after.recurrence_interval, Some(48));
    assert_eq!(
        (after.report_name.as_deref(), after.description.as_deref(), after.start_time, after.recurrence_count),
        (Some("weekly"), Some("for finance"), Some(start), Some(3))
    );
    assert_eq!(after.format, Some(ReportFormat::Tsv));
    assert_eq!(after.callback_url.as_ref().map(|url| url.as_str()), Some(CALLBACK));
    assert_eq!(after.callback_method, Some(CallbackMethod::Get));

    // Once the start has passed, the report as fetched no longer makes a valid update: the start must move ahead.
    emulator.advance(Duration::from_secs(11 * 3600)).await;
    let fetched = client.get_reports().report_id(&report.report_id).send().await.unwrap().into_inner().value.remove(0);
    let mut update = types::UpdateReportRequest::try_from(&fetched).unwrap();
    let (status, _) = failure(client.update_report().report_id(&report.report_id).body(update.clone()).send().await);
    assert_eq!(status, 400, "a start time in the past is refused");
    update.start_time = hours_from_now(&emulator, 5);
    client.update_report().report_id(&report.report_id).body(update).send().await.expect("moved ahead, accepted");

    // A run-once report has no schedule to carry.
    let once = execute_now(&client, &query, "once").await;
    let once = client.get_reports().report_id(&once).send().await.unwrap().into_inner().value.remove(0);
    // The emulator reports a count for it (its choice: no source says what the service reports); none is carried.
    assert!(once.recurrence_count.is_some(), "the emulator reports a count for it");
    let update = types::UpdateReportRequest::try_from(&once).unwrap();
    assert_eq!((update.recurrence_interval, update.recurrence_count), (None, None));

    // A report without what an update needs is refused with the reason, before anything is sent.
    let nameless = types::Report { report_name: None, ..report.clone() };
    let refused = types::UpdateReportRequest::try_from(&nameless).unwrap_err();
    assert!(
        refused.to_string() == "invalid report name: is missing from the report, and an update needs it",
        "{refused}"
    );
    // A callback URL as an answer may carry it: blank means none, anything else must be one a request may send.
    let decoded = |url: &str| serde_json::from_value(serde_json::Value::from(url)).unwrap();
    let blank = types::Report { callback_url: Some(decoded(" ")), ..report.clone() };
    assert_eq!(types::UpdateReportRequest::try_from(&blank).unwrap().callback_url, None);
    let relative = types::Report { callback_url: Some(decoded("/hooks/ready?code=s3cret")), ..report.clone() };
    let refused = types::UpdateReportRequest::try_from(&relative).unwrap_err().to_string();
    assert_eq!(refused, "invalid callback URL: must be an absolute http or https URL");
}

#[tokio::test]
async fn deleting_a_report_deletes_its_executions_and_files() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Marketplace);
    let query = create_query(&client, Program::Marketplace).await;
    let report = execute_now(&client, &query, "to delete").await;
    emulator.advance(RUN).await;
    let done = client.get_report_executions().report_id(report.as_str()).send().await.unwrap();
    let link = link(&done.value[0]);

    let deleted = client.delete_report().report_id(report.as_str()).send().await.unwrap();
    assert_eq!(deleted.value[0].report_id, report);
    assert_eq!(
        failure(client.get_report_executions().report_id(report.as_str()).send().await),
        (404, "No item found with given filters.".to_owned())
    );
    assert_eq!(
        failure(client.get_reports().report_id(report.as_str()).send().await),
        (404, "No item found with given filters.".to_owned())
    );
    assert_eq!(fetch(link).await.unwrap().status(), 404);
}

#[tokio::test]
async fn execution_filters() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Partner);
    let query = create_query(&client, Program::Partner).await;
    let first = execute_now(&client, &query, "first").await;
    let second = execute_now(&client, &query, "second").await;

    // Before any run completed: the documented 404 under the defaults.
    let (status, message) = failure(client.get_report_executions().report_id(first.as_str()).send().await);
    assert_eq!(status, 404);
    assert_eq!(
        message,
        "There are no executions that have occurred for the given filter conditions. Please recheck the reportId or \
         executionId and retry the API after the report's scheduled execution time"
    );

    emulator.advance(RUN).await;
    let third = execute_now(&client, &query, "third").await;
    let both = format!("{first};{second};{third}");
    let completed = client.get_report_executions().report_id(both.as_str()).send().await.unwrap();
    assert_eq!(completed.total_count, Some(2), "latest completed per report; the third has not run");
    let any = client
        .get_report_executions()
        .report_id(both.as_str())
        .execution_status("Pending;Completed")
        .send()
        .await
        .unwrap();
    assert_eq!(any.total_count, Some(3));
    let wanted = &completed.value[1].execution_id;
    let by_id = client
        .get_report_executions()
        .report_id(both.as_str())
        .execution_id(format!("unknown;{wanted}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_id.total_count, Some(1));
    assert_eq!(&by_id.value[0].execution_id, wanted);
    assert_eq!(
        failure(client.get_report_executions().report_id("nope").send().await),
        (404, "No item found with given filters.".to_owned())
    );
}

#[tokio::test]
async fn latest_execution_versus_history() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Marketplace);
    let query = create_query(&client, Program::Marketplace).await;
    let report = scheduled(&client, &query, hours_from_now(&emulator, 1), 4, 5).await;
    emulator.advance(Duration::from_secs(14 * 3600)).await; // slots at 1, 5, 9, 13 h have completed
    let latest = client.get_report_executions().report_id(report.as_str()).send().await.unwrap();
    assert_eq!(latest.total_count, Some(1));
    let history =
        client.get_report_executions().report_id(report.as_str()).get_latest_execution(false).send().await.unwrap();
    assert_eq!(history.total_count, Some(4));
    assert_eq!(history.value[0].execution_id, latest.value[0].execution_id, "newest first");
    // The fifth run is queued.
    let pending =
        client.get_report_executions().report_id(report.as_str()).execution_status("pending").send().await.unwrap();
    assert_eq!(pending.total_count, Some(1));
    // Executions are kept for 90 days.
    emulator.advance(Duration::from_secs(91 * 24 * 3600)).await;
    let (status, _) =
        failure(client.get_report_executions().report_id(report.as_str()).get_latest_execution(false).send().await);
    assert_eq!(status, 404);
}

#[tokio::test]
async fn queued_and_held_runs_are_listed_however_long_they_wait() {
    // Retention (90 days) is of runs that happened: a run queued 100 days ahead, and one held by a pause for 100
    // days, are still there.
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Marketplace);
    let query = create_query(&client, Program::Marketplace).await;
    let far = scheduled(&client, &query, hours_from_now(&emulator, 100 * 24), 24, 2).await;
    let held = scheduled(&client, &query, hours_from_now(&emulator, 1), 24, 2).await;
    client.pause_report().report_id(held.as_str()).send().await.unwrap();
    emulator.advance(Duration::from_secs(99 * 24 * 3600)).await;
    let runs = |report: &str, status: &str| {
        client.get_report_executions().report_id(report.to_owned()).execution_status(status.to_owned()).send()
    };
    assert_eq!(runs(far.as_str(), "Pending").await.unwrap().total_count, Some(1));
    assert_eq!(runs(held.as_str(), "Paused").await.unwrap().total_count, Some(1));
    client.resume_report().report_id(held.as_str()).send().await.unwrap();
    assert_eq!(runs(held.as_str(), "Pending").await.unwrap().total_count, Some(1));
}

#[tokio::test]
async fn datasets_differ_per_program() {
    let emulator = Emulator::start().await.unwrap();
    let partner = client(&emulator, Program::Partner).get_datasets().send().await.unwrap();
    assert_eq!(partner.message.as_deref(), Some("Dataset fetched successfully"));
    let office = partner.value.iter().find(|d| d.dataset_name == "OfficeUsage").unwrap();
    assert_eq!(office.minimum_recurrence_interval, Some(24));
    assert!(office.selectable_columns.contains(&"CustomerName".to_owned()));
    assert!(!office.available_metrics.is_empty());
    assert!(office.available_date_ranges.contains(&"LAST_MONTH".to_owned()));
    assert!(partner.value.iter().all(|d| !d.dataset_name.starts_with("ISV")));

    let marketplace = client(&emulator, Program::Marketplace);
    let all = marketplace.get_datasets().send().await.unwrap();
    assert!(all.value.iter().any(|d| d.dataset_name == "ISVUsage"));
    assert!(all.value.iter().all(|d| d.minimum_recurrence_interval.is_none()));
    let one = marketplace.get_datasets().dataset_name("isvorder").send().await.unwrap();
    assert_eq!(one.total_count, Some(1));
    assert_eq!(one.value[0].dataset_name, "ISVOrder");
    assert_eq!(
        failure(marketplace.get_datasets().dataset_name("OfficeUsage").send().await),
        (404, "No item found with given filters.".to_owned())
    );
}

#[tokio::test]
async fn system_queries_have_the_documented_ids() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Partner);
    let mine = create_query(&client, Program::Partner).await;

    let system = client.get_queries().include_only_system_queries(true).send().await.unwrap();
    assert_eq!(system.total_count, Some(19));
    assert!(system.value.iter().all(|q| q.type_.as_deref() == Some("system")));
    for (name, id) in [
        ("Customers", "6664daf3-c161-423a-92a1-0ea6db2c0384"),
        ("AzureUsage", "d1a4d75e-5ca8-4847-845f-ee0a9be6f07b"),
        ("MSLearn", "0e06c7c3-75ab-4cd5-8178-8cf1a2de49cc"),
    ] {
        let query = system.value.iter().find(|q| q.name.as_deref() == Some(name)).unwrap();
        assert_eq!(query.query_id, id);
    }

    let everything = client.get_queries().send().await.unwrap();
    assert_eq!(everything.total_count, Some(20), "system and user queries by default");
    let only_mine = client.get_queries().include_system_queries(false).send().await.unwrap();
    assert_eq!(only_mine.value.iter().map(|q| q.query_id.as_str()).collect::<Vec<_>>(), [mine.as_str()]);
    let by_name = client.get_queries().query_name("profile").send().await.unwrap();
    assert_eq!(by_name.value[0].query_id, "e65f3a4f-fb99-4319-97ff-59e57566a871");
    assert_eq!(
        failure(client.get_queries().query_id("missing").send().await),
        (404, "No item found with given filters.".to_owned())
    );
    assert_eq!(
        failure(client.delete_query().query_id("6664daf3-c161-423a-92a1-0ea6db2c0384").send().await),
        (400, "System queries cannot be deleted".to_owned())
    );

    // A system query can back a report, and its file has the query's columns.
    let report = execute_now(&client, "e65f3a4f-fb99-4319-97ff-59e57566a871", "profile now").await;
    emulator.advance(RUN).await;
    let done = client.get_report_executions().report_id(report.as_str()).send().await.unwrap();
    let csv = fetch(link(&done.value[0])).await.unwrap().text().await.unwrap();
    assert!(csv.starts_with("PartnerId,PartnerName,PartnerLocation,PartnerType,MembershipLevel,LocationCount\r\n"));

    let deleted = client.delete_query().query_id(mine.as_str()).send().await.unwrap();
    assert_eq!(deleted.value[0].query_id, mine);
    assert_eq!(
        failure(client.delete_query().query_id(mine.as_str()).send().await),
        (404, "No item found with given filters.".to_owned())
    );
}

#[tokio::test]
async fn try_query_returns_rows_keyed_by_the_selected_columns() {
    let emulator = Emulator::start().await.unwrap();
    let marketplace = client(&emulator, Program::Marketplace);
    let rows = marketplace
        .try_query()
        .export_query("SELECT OfferName, RawUsage, UsageDate FROM ISVUsage TIMESPAN LAST_MONTH")
        .send()
        .await
        .unwrap();
    assert_eq!(rows.total_count, Some(10), "the marketplace page says top 10 rows");
    assert_eq!(rows.value.len(), 10);
    for row in &rows.value {
        assert_eq!(row.keys().collect::<Vec<_>>(), ["OfferName", "RawUsage", "UsageDate"]);
        assert!(row["RawUsage"].is_number());
    }

    let partner = client(&emulator, Program::Partner);
    let query = create_query(&partner, Program::Partner).await;
    let by_id = partner.try_query().query_id(query.as_str()).send().await.unwrap();
    assert_eq!(by_id.total_count, Some(100), "the partner page says 100 records");
    assert!(by_id.value[0].contains_key("ActiveUsers"));
    let limited =
        partner.try_query().export_query("SELECT Workload FROM TeamsUsageWorkload LIMIT 3").send().await.unwrap();
    assert_eq!(limited.value.len(), 3);
    assert_eq!(
        failure(marketplace.try_query().export_query("SELECT a FROM NoSuchTable").send().await),
        (400, "Invalid table name".to_owned())
    );
    assert_eq!(
        failure(marketplace.try_query().export_query("SELECT Nope FROM ISVUsage").send().await),
        (400, "Incorrect column name".to_owned())
    );
}

#[tokio::test]
async fn the_programs_keep_separate_state() {
    let emulator = Emulator::start().await.unwrap();
    let marketplace = client(&emulator, Program::Marketplace);
    let partner = client(&emulator, Program::Partner);
    let query = create_query(&marketplace, Program::Marketplace).await;
    execute_now(&marketplace, &query, "cmp only").await;
    assert_eq!(partner.get_reports().send().await.unwrap().total_count, Some(0));
    assert_eq!(marketplace.get_reports().send().await.unwrap().total_count, Some(1));
    let (status, _) = failure(partner.get_queries().query_id(query.as_str()).send().await);
    assert_eq!(status, 404);
    let mine = marketplace.get_queries().include_system_queries(false).send().await.unwrap();
    let created_by: Vec<_> = mine.value.iter().map(|q| q.user.as_deref()).collect();
    assert_eq!(created_by, [Some("142344300")], "the marketplace shows a numeric account id");
}

#[tokio::test]
async fn reports_filter_by_id_list_name_and_query() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator, Program::Marketplace);
    let query = create_query(&client, Program::Marketplace).await;
    let a = execute_now(&client, &query, "alpha").await;
    let b = execute_now(&client, &query, "beta").await;
    let list = format!("{a};{b}");
    assert_eq!(client.get_reports().report_id(list.as_str()).send().await.unwrap().total_count, Some(2));
    let named = client.get_reports().report_name("BETA").send().await.unwrap();
    assert_eq!(named.value.iter().map(|r| r.report_id.as_str()).collect::<Vec<_>>(), [b.as_str()]);
    assert_eq!(client.get_reports().query_id(query.as_str()).send().await.unwrap().total_count, Some(2));
    let (status, _) = failure(client.get_reports().query_id("other").send().await);
    assert_eq!(status, 404);
}

#[tokio::test]
async fn seed_data_is_created_at_start() {
    let seed = Seed::from_json(
        r#"{
            "fileRows": 7,
            "marketplace": {
                "queries": [{"queryId": "11111111-1111-4111-8111-111111111111", "name": "seeded",
                             "query": "SELECT OfferName FROM ISVOrder"}],
                "reports": [
                    {"reportId": "22222222-2222-4222-8222-222222222222", "reportName": "seeded report",
                     "queryId": "11111111-1111-4111-8111-111111111111", "startTime": "+2h",
                     "recurrenceInterval": 24, "paused": true},
                    {"reportName": "seeded now", "queryId": "11111111-1111-4111-8111-111111111111", "executeNow": true}
                ]
            }
        }"#,
    )
    .unwrap();
    let emulator = Emulator::builder().seed(seed).start().await.unwrap();
    let client = client(&emulator, Program::Marketplace);
    let report = client.get_reports().report_id("22222222-2222-4222-8222-222222222222").send().await.unwrap();
    assert_eq!(report.value[0].report_status, Some(ReportStatus::Paused));
    assert_eq!(report.value[0].query_id.as_deref(), Some("11111111-1111-4111-8111-111111111111"));
    assert_eq!(report.value[0].start_time, Some(hours_from_now(&emulator, 2)));

    emulator.advance(RUN).await;
    let now_id = client.get_reports().report_name("seeded now").send().await.unwrap().value[0].report_id.clone();
    let done = client.get_report_executions().report_id(now_id.as_str()).send().await.unwrap();
    let csv = fetch(link(&done.value[0])).await.unwrap().text().await.unwrap();
    assert_eq!(csv.lines().count(), 8, "header + the seed's 7 rows");

    // A seed breaking a documented rule fails start-up with the documented message.
    let bad =
        Seed::from_json(r#"{"partner": {"reports": [{"reportName": "x", "queryId": "nope", "executeNow": true}]}}"#)
            .unwrap();
    let error = Emulator::builder().seed(bad).start().await.unwrap_err();
    assert!(matches!(error, StartError::Seed(_)));
    assert!(error.to_string().contains("Invalid QueryId"), "{error}");
}

#[tokio::test]
async fn report_objects_show_a_callback_method_on_partner_insights_only() {
    let emulator = Emulator::start().await.unwrap();
    for (program, shown) in
        [(Program::Partner, Some(partner_center_insights::CallbackMethod::Post)), (Program::Marketplace, None)]
    {
        let client = client(&emulator, program);
        let query = create_query(&client, program).await;
        let created = client
            .create_report()
            .body_map(|b| {
                b.report_name("with callback")
                    .query_id(query.as_str())
                    .execute_now(true)
                    .callback_url(partner_center_insights::CallbackUrl::new(CALLBACK).unwrap())
            })
            .send()
            .await
            .unwrap();
        let report = created.into_inner().into_single().unwrap();
        assert_eq!(report.callback_method, shown, "{program:?}");
        assert_eq!(report.callback_url.as_ref().map(|url| url.as_str()), Some(CALLBACK), "{program:?}");
        // What an update built from it can carry (the docs of `UpdateReportRequest::try_from` say so).
        let update = types::UpdateReportRequest::try_from(&report).unwrap();
        assert_eq!(update.callback_method, shown, "{program:?}");
    }
}

#[tokio::test]
async fn report_objects_have_each_program_s_own_fields() {
    use partner_center_insights::emulator::DEV_TOKEN;
    let emulator = Emulator::start().await.unwrap();
    for (program, own, not_own) in [
        (Program::Partner, ["callbackMethod"].as_slice(), ["queryStartTime", "queryEndTime"].as_slice()),
        (Program::Marketplace, ["queryStartTime", "queryEndTime"].as_slice(), ["callbackMethod"].as_slice()),
    ] {
        let client = client(&emulator, program);
        let query = create_query(&client, program).await;
        execute_now(&client, &query, "fields").await;
        let url = format!("{}/ScheduledReport", emulator.base_url(program));
        let answer: serde_json::Value =
            http().get(url).bearer_auth(DEV_TOKEN).send().await.unwrap().json().await.unwrap();
        let report = answer["value"][0].as_object().expect("a report object");
        for field in own {
            assert!(report.contains_key(*field), "{program:?} reports have `{field}`: {report:?}");
        }
        for field in not_own {
            assert!(!report.contains_key(*field), "{program:?} reports have no `{field}`: {report:?}");
        }
    }
}
