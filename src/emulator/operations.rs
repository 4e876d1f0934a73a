// The twelve operations, as plain functions from a program's state and a request's parts to a reply or an
// error envelope: every documented rule, quota and message is applied here (HTTP plumbing lives in `routes`).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use crate::{ExecutionStatus, Program, ReportStatus};

use super::auth::{Caller, DEV_USERNAME, MARKETPLACE_USER};
use super::catalog;
use super::clock::earlier;
use super::context::Shared;
use super::envelope::{ApiError, Reply};
use super::messages;
use super::query_lang::{self, ParsedQuery};
use super::state::{ProgramState, QueryRecord, ReportRecord, system_query_item};
use super::validation::{self, Body, NewReportKind, Params, Rules};

/// A program holds at most this many user-defined queries.
const MAX_QUERIES: usize = 100;
/// A program holds at most this many reports that have not ended (Active or Paused).
const MAX_LIVE_REPORTS: usize = 50;
/// At most this many ExecuteNow reports per [`EXECUTE_NOW_WINDOW_MINUTES`].
const MAX_EXECUTE_NOW: usize = 5;
const EXECUTE_NOW_WINDOW_MINUTES: i64 = 60;

/// One API call's context.
pub(crate) struct Call<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) program: Program,
    pub(crate) now: DateTime<Utc>,
    pub(crate) caller: Caller,
}

impl Call<'_> {
    /// The `user` of items this call creates: a UPN on partner insights, an account number on the marketplace.
    fn user(&self) -> String {
        match self.program {
            Program::Partner => self.caller.upn.clone().unwrap_or_else(|| DEV_USERNAME.to_owned()),
            Program::Marketplace => MARKETPLACE_USER.to_owned(),
        }
    }

    fn rules(&self) -> Rules {
        Rules { program: self.program, now: self.now, min_start_lead: self.shared.settings.min_start_lead }
    }
}

/// The text of a user or system query, by id.
fn query_text(state: &ProgramState, id: &str) -> Option<String> {
    state.queries.iter().find(|q| q.id.eq_ignore_ascii_case(id)).map(|q| q.text.clone()).or_else(|| {
        catalog::system_queries(state.program)
            .iter()
            .find(|q| q.id.eq_ignore_ascii_case(id))
            .map(|q| q.query.to_owned())
    })
}

fn not_found() -> ApiError {
    ApiError::not_found(messages::NO_ITEM_FOUND)
}

// ---- #1 Get all datasets ----

pub(crate) fn get_datasets(call: &Call<'_>, params: &Params) -> Result<Reply, ApiError> {
    let name = params.get("datasetName");
    let items: Vec<_> = catalog::datasets(call.program)
        .iter()
        .filter(|d| name.is_none_or(|n| d.name.eq_ignore_ascii_case(n)))
        .map(|d| {
            let mut item = Map::new();
            item.insert("datasetName".into(), d.name.into());
            item.insert("selectableColumns".into(), d.columns.into());
            item.insert("availableMetrics".into(), d.metrics.into());
            item.insert("availableDateRanges".into(), d.date_ranges.into());
            if let Some(hours) = d.minimum_recurrence_interval {
                item.insert("minimumRecurrenceInterval".into(), hours.into());
            }
            item
        })
        .collect();
    if items.is_empty() {
        return Err(not_found());
    }
    Ok(Reply::typed(Some(messages::DATASETS_FETCHED), items))
}

// ---- #2 Create report query ----

pub(crate) fn create_query(call: &Call<'_>, state: &mut ProgramState, body: &Body) -> Result<Reply, ApiError> {
    let (name, description, text) = validation::new_query(body)?;
    query_lang::parse(call.program, &text)?;
    if state.queries.len() >= MAX_QUERIES {
        return Err(ApiError::bad_request(messages::QUERY_QUOTA));
    }
    let record = QueryRecord {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        description,
        text,
        user: call.user(),
        created: call.now,
    };
    let item = record.to_item(call.program);
    state.queries.push(record);
    Ok(Reply::typed(Some(messages::QUERY_CREATED), vec![item]))
}

// ---- #3 Get report queries ----

pub(crate) fn get_queries(call: &Call<'_>, state: &ProgramState, params: &Params) -> Result<Reply, ApiError> {
    let include_system = params.boolean("includeSystemQueries")?.unwrap_or(true);
    let only_system = params.boolean("includeOnlySystemQueries")?.unwrap_or(false);
    let id = params.get("queryId");
    let name = params.get("queryName");
    let matches = |query_id: &str, query_name: &str| {
        id.is_none_or(|id| id.eq_ignore_ascii_case(query_id)) && name.is_none_or(|n| n.eq_ignore_ascii_case(query_name))
    };
    let mut items = Vec::new();
    if include_system || only_system {
        items.extend(
            catalog::system_queries(call.program)
                .iter()
                .filter(|q| matches(q.id, q.name))
                .map(|q| system_query_item(call.program, q, call.shared.started)),
        );
    }
    if !only_system {
        items.extend(state.queries.iter().filter(|q| matches(&q.id, &q.name)).map(|q| q.to_item(call.program)));
    }
    if items.is_empty() && (id.is_some() || name.is_some()) {
        return Err(not_found());
    }
    Ok(Reply::typed(Some(messages::QUERIES_FETCHED), items))
}

// ---- #4 Delete report query ----

pub(crate) fn delete_query(call: &Call<'_>, state: &mut ProgramState, id: &str) -> Result<Reply, ApiError> {
    if catalog::system_queries(call.program).iter().any(|q| q.id.eq_ignore_ascii_case(id)) {
        return Err(ApiError::bad_request(messages::SYSTEM_QUERY_NOT_DELETABLE));
    }
    let index = state.queries.iter().position(|q| q.id.eq_ignore_ascii_case(id)).ok_or_else(not_found)?;
    let removed = state.queries.remove(index);
    Ok(Reply::typed(Some(messages::QUERY_DELETED), vec![removed.to_item(call.program)]))
}

// ---- #5 Try report query ----

pub(crate) fn try_query(call: &Call<'_>, state: &ProgramState, params: &Params) -> Result<Reply, ApiError> {
    let text = match (params.get("exportQuery"), params.get("queryId")) {
        (None, None) => return Err(ApiError::bad_request(messages::NULL_OR_MISSING)),
        (Some(_), Some(_)) => return Err(ApiError::bad_request(messages::EXPORT_QUERY_OR_QUERY_ID)),
        (Some(text), None) => text.to_owned(),
        (None, Some(id)) => query_text(state, id).ok_or_else(|| ApiError::bad_request(messages::INVALID_QUERY_ID))?,
    };
    // startTime/endTime exist on partner insights only; the marketplace ignores them.
    if call.program == Program::Partner {
        validation::query_window(params)?;
    }
    let ParsedQuery { dataset, columns, limit } = query_lang::parse(call.program, &text)?;
    // The docs disagree on the row cap; each program gets what its own try-query page says.
    let cap = match call.program {
        Program::Partner => 100,
        Program::Marketplace => 10,
    };
    let rows = limit.map_or(cap, |l| l.min(cap));
    let today = call.now.date_naive();
    let rows = (0..rows).map(|row| super::rows::json_row(dataset, &columns, row, today)).collect();
    Ok(Reply::rows(rows))
}

// ---- #6 Create report ----

pub(crate) fn create_report(call: &Call<'_>, state: &mut ProgramState, body: &Body) -> Result<Reply, ApiError> {
    let request = validation::new_report(body, &call.rules())?;
    let text = query_text(state, &request.query_id).ok_or_else(|| ApiError::bad_request(messages::INVALID_QUERY_ID))?;
    let ParsedQuery { dataset, columns, limit } = query_lang::parse(call.program, &text)?;

    let (execute_now, start, interval_hours, count, query_start, query_end) = match request.kind {
        NewReportKind::Scheduled(schedule) => {
            if dataset.minimum_recurrence_interval.is_some_and(|min| schedule.interval_hours < min) {
                return Err(ApiError::bad_request(messages::INVALID_REPORT_PARAMETERS));
            }
            (false, schedule.start, Some(schedule.interval_hours), schedule.count, None, None)
        }
        NewReportKind::ExecuteNow { query_start, query_end } => {
            let window_start = earlier(call.now, Duration::minutes(EXECUTE_NOW_WINDOW_MINUTES));
            state.execute_now_log.retain(|at| *at > window_start);
            if state.execute_now_log.len() >= MAX_EXECUTE_NOW {
                return Err(ApiError::bad_request(messages::EXECUTE_NOW_QUOTA));
            }
            (true, call.now, None, None, query_start, query_end)
        }
    };
    if state.reports.iter().filter(|r| r.is_live()).count() >= MAX_LIVE_REPORTS {
        return Err(ApiError::bad_request(messages::REPORT_QUOTA));
    }

    let fields = request.fields;
    let mut report = ReportRecord {
        id: uuid::Uuid::new_v4().to_string(),
        name: fields.name,
        description: fields.description,
        query_id: request.query_id,
        query_text: text,
        dataset,
        columns,
        limit,
        user: call.user(),
        created: call.now,
        modified: None,
        execute_now,
        query_start,
        query_end,
        start,
        interval_hours,
        count,
        format: fields.format,
        callback_method: fields.callback.as_ref().map(|c| c.method.clone()),
        callback_url: fields.callback.map(|c| c.url),
        status: ReportStatus::Active,
        paused_at: None,
        next_slot: start,
        runs_created: 0,
        executions: Vec::new(),
    };
    report.begin(call.now, call.shared.settings.timing);
    if execute_now {
        state.execute_now_log.push_back(call.now);
    }
    let item = report.to_item(state.program);
    state.reports.push(report);
    Ok(Reply::typed(Some(messages::REPORT_CREATED), vec![item]))
}

// ---- #7 Get reports ----

pub(crate) fn get_reports(state: &ProgramState, params: &Params) -> Result<Reply, ApiError> {
    // Several `;`-separated ids are documented for the marketplace only; on partner insights the value is one id.
    let ids = match state.program {
        Program::Marketplace => params.list("reportId"),
        Program::Partner => params.get("reportId").map(|id| vec![id.to_owned()]),
    };
    let name = params.get("reportName");
    let query_id = params.get("queryId");
    let items: Vec<_> = state
        .reports
        .iter()
        .filter(|r| ids.as_ref().is_none_or(|ids| ids.iter().any(|id| id.eq_ignore_ascii_case(&r.id))))
        .filter(|r| name.is_none_or(|n| n.eq_ignore_ascii_case(&r.name)))
        .filter(|r| query_id.is_none_or(|q| q.eq_ignore_ascii_case(&r.query_id)))
        .map(|report| report.to_item(state.program))
        .collect();
    if items.is_empty() && (ids.is_some() || name.is_some() || query_id.is_some()) {
        return Err(not_found());
    }
    Ok(Reply::typed(Some(messages::REPORTS_FETCHED), items))
}

// ---- #8 Update report ----

pub(crate) fn update_report(
    call: &Call<'_>,
    state: &mut ProgramState,
    id: &str,
    body: &Body,
) -> Result<Reply, ApiError> {
    let index = state.report_index(id).ok_or_else(not_found)?;
    let update = validation::report_update(body, &call.rules())?;
    let live = state.reports.iter().filter(|r| r.is_live()).count();
    let report = &mut state.reports[index];
    let interval_hours = update.interval_hours.or(report.interval_hours);
    if let (Some(hours), Some(min)) = (interval_hours, report.dataset.minimum_recurrence_interval)
        && hours < min
    {
        return Err(ApiError::bad_request(messages::INVALID_REPORT_PARAMETERS));
    }
    // A new schedule brings an ended report back, which must fit in the quota like a new one.
    if !report.is_live() && !report.execute_now && live >= MAX_LIVE_REPORTS {
        return Err(ApiError::bad_request(messages::REPORT_QUOTA));
    }
    let fields = update.fields;
    report.name = fields.name;
    report.description = fields.description;
    report.format = fields.format;
    report.callback_method = fields.callback.as_ref().map(|c| c.method.clone());
    report.callback_url = fields.callback.map(|c| c.url);
    report.modified = Some(call.now);
    if !report.execute_now {
        report.start = update.start;
        report.interval_hours = interval_hours;
        report.count = update.count;
        report.reschedule(call.now, call.shared.settings.timing);
    }
    Ok(Reply::typed(Some(messages::REPORT_UPDATED), vec![report.to_item(state.program)]))
}

// ---- #9 Delete report ----

pub(crate) fn delete_report(state: &mut ProgramState, id: &str) -> Result<Reply, ApiError> {
    let index = state.report_index(id).ok_or_else(not_found)?;
    // The executions live inside the report, so they go with it.
    let removed = state.reports.remove(index);
    Ok(Reply::typed(Some(messages::REPORT_DELETED), vec![removed.to_item(state.program)]))
}

// ---- #10 Pause / #11 Resume ----

pub(crate) fn pause_report(call: &Call<'_>, state: &mut ProgramState, id: &str) -> Result<Reply, ApiError> {
    let index = state.report_index(id).ok_or_else(not_found)?;
    let report = &mut state.reports[index];
    if report.status != ReportStatus::Active {
        return Err(ApiError::bad_request(messages::wrong_report_status(report.status.as_str(), "paused")));
    }
    report.pause(call.now);
    Ok(Reply::typed(Some(messages::REPORT_PAUSED), vec![report.to_item(state.program)]))
}

pub(crate) fn resume_report(call: &Call<'_>, state: &mut ProgramState, id: &str) -> Result<Reply, ApiError> {
    let index = state.report_index(id).ok_or_else(not_found)?;
    let report = &mut state.reports[index];
    if report.status != ReportStatus::Paused {
        return Err(ApiError::bad_request(messages::wrong_report_status(report.status.as_str(), "resumed")));
    }
    report.resume(call.now, call.shared.settings.timing);
    Ok(Reply::typed(Some(messages::REPORT_RESUMED), vec![report.to_item(state.program)]))
}

// ---- #12 Get report executions ----

pub(crate) fn get_executions(
    call: &Call<'_>,
    state: &ProgramState,
    report_ids: &str,
    params: &Params,
) -> Result<Reply, ApiError> {
    let ids = validation::split_list(report_ids);
    let statuses = match params.list("executionStatus") {
        // The documented default: only completed runs, hence the 404 before the first one.
        None => vec![ExecutionStatus::Completed],
        Some(names) => names
            .iter()
            .map(|name| name.parse().map_err(|_| ApiError::bad_request(messages::requested_value_not_found(name))))
            .collect::<Result<_, _>>()?,
    };
    let execution_ids = params.list("executionId");
    let latest_only = params.boolean("getLatestExecution")?.unwrap_or(true);

    let reports: Vec<&ReportRecord> =
        state.reports.iter().filter(|r| ids.iter().any(|id| id.eq_ignore_ascii_case(&r.id))).collect();
    if reports.is_empty() {
        return Err(not_found());
    }
    let horizon = earlier(call.now, Duration::days(super::schedule::RETENTION_DAYS));
    let mut items: Vec<Map<String, Value>> = Vec::new();
    for report in reports {
        let mut executions: Vec<_> = report
            .executions
            .iter()
            .filter(|e| statuses.contains(&e.status))
            .filter(|e| execution_ids.as_ref().is_none_or(|ids| ids.iter().any(|id| id.eq_ignore_ascii_case(&e.id))))
            // Retention is of runs that happened: a queued or held run is listed however long it waits.
            .filter(|e| e.is_open() || e.generated.unwrap_or(e.created) >= horizon)
            .collect();
        // Newest first; "latest" is the first of them.
        executions.sort_by_key(|e| std::cmp::Reverse((e.slot, e.created)));
        if latest_only {
            executions.truncate(1);
        }
        items.extend(
            executions
                .into_iter()
                .map(|e| report.execution_item(call.program, e, &call.shared.origin, call.shared.settings.link_ttl)),
        );
    }
    if items.is_empty() {
        return Err(ApiError::not_found(messages::NO_EXECUTIONS));
    }
    Ok(Reply::typed(None, items))
}
