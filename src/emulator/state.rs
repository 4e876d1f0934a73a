// The emulator's memory: per program, its user queries, its reports and, inside each report, its executions
// (so deleting a report cascades by construction); plus how each record looks on the wire.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::{CallbackMethod, ExecutionStatus, Program, ReportFormat, ReportStatus};

use super::catalog::{Dataset, SystemQuery};

/// Everything one program holds; the two programs share nothing.
#[derive(Debug)]
pub(crate) struct ProgramState {
    pub(crate) program: Program,
    pub(crate) queries: Vec<QueryRecord>,
    pub(crate) reports: Vec<ReportRecord>,
    /// Creation times of ExecuteNow reports in the last hour, for the 5-per-60-minutes quota.
    pub(crate) execute_now_log: VecDeque<DateTime<Utc>>,
}

impl ProgramState {
    pub(crate) fn new(program: Program) -> Self {
        Self { program, queries: Vec::new(), reports: Vec::new(), execute_now_log: VecDeque::new() }
    }

    pub(crate) fn report_index(&self, id: &str) -> Option<usize> {
        self.reports.iter().position(|r| r.id.eq_ignore_ascii_case(id))
    }
}

/// Both programs' state.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) partner: ProgramState,
    pub(crate) marketplace: ProgramState,
}

impl World {
    pub(crate) fn new() -> Self {
        Self { partner: ProgramState::new(Program::Partner), marketplace: ProgramState::new(Program::Marketplace) }
    }

    pub(crate) fn program(&mut self, program: Program) -> &mut ProgramState {
        match program {
            Program::Partner => &mut self.partner,
            Program::Marketplace => &mut self.marketplace,
        }
    }

    pub(crate) fn programs_mut(&mut self) -> [&mut ProgramState; 2] {
        [&mut self.partner, &mut self.marketplace]
    }

    /// The report and execution behind a download link, in whichever program holds it.
    pub(crate) fn find_execution(&self, execution_id: &str) -> Option<(&ReportRecord, &ExecutionRecord)> {
        [&self.partner, &self.marketplace].into_iter().flat_map(|p| &p.reports).find_map(|report| {
            report.executions.iter().find(|e| e.id.eq_ignore_ascii_case(execution_id)).map(|e| (report, e))
        })
    }
}

/// The service's time format.
pub(crate) fn wire_time(time: DateTime<Utc>) -> Value {
    Value::from(time.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

fn wire_opt_time(time: Option<DateTime<Utc>>) -> Value {
    time.map_or(Value::Null, wire_time)
}

fn opt_str(text: Option<&str>) -> Value {
    text.map_or(Value::Null, Value::from)
}

/// A user-defined query.
#[derive(Clone, Debug)]
pub(crate) struct QueryRecord {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) text: String,
    pub(crate) user: String,
    pub(crate) created: DateTime<Utc>,
}

impl QueryRecord {
    pub(crate) fn to_item(&self, program: Program) -> Map<String, Value> {
        query_item(
            program,
            &self.id,
            &self.name,
            self.description.as_deref(),
            &self.text,
            "userDefined",
            Some(&self.user),
            Some(self.created),
        )
    }
}

/// A system query as an item; it has no user, and its creation time is the emulator's start.
pub(crate) fn system_query_item(program: Program, query: &SystemQuery, created: DateTime<Utc>) -> Map<String, Value> {
    query_item(program, query.id, query.name, Some(query.description), query.query, "system", None, Some(created))
}

#[allow(clippy::too_many_arguments)] // one flat record; a struct here would only rename the arguments
fn query_item(
    program: Program,
    id: &str,
    name: &str,
    description: Option<&str>,
    text: &str,
    kind: &str,
    user: Option<&str>,
    created: Option<DateTime<Utc>>,
) -> Map<String, Value> {
    let mut item = Map::new();
    item.insert("queryId".into(), id.into());
    item.insert("name".into(), name.into());
    item.insert("description".into(), opt_str(description));
    item.insert("query".into(), text.into());
    item.insert("type".into(), kind.into());
    item.insert("user".into(), opt_str(user));
    item.insert("createdTime".into(), wire_opt_time(created));
    // Only the marketplace's examples carry `modifiedTime` (queries cannot be modified, so it is always null).
    if program == Program::Marketplace {
        item.insert("modifiedTime".into(), Value::Null);
    }
    item
}

/// A scheduled or ExecuteNow report, with its executions.
#[derive(Debug)]
pub(crate) struct ReportRecord {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) query_id: String,
    pub(crate) query_text: String,
    /// What its files contain: the query's dataset and selected columns, resolved at creation.
    pub(crate) dataset: &'static Dataset,
    pub(crate) columns: Vec<&'static str>,
    /// The query's `LIMIT`: its files have at most this many rows.
    pub(crate) limit: Option<u64>,
    pub(crate) user: String,
    pub(crate) created: DateTime<Utc>,
    pub(crate) modified: Option<DateTime<Utc>>,
    pub(crate) execute_now: bool,
    pub(crate) query_start: Option<DateTime<Utc>>,
    pub(crate) query_end: Option<DateTime<Utc>>,
    /// First slot of the schedule (creation time for ExecuteNow).
    pub(crate) start: DateTime<Utc>,
    /// `None` for ExecuteNow reports.
    pub(crate) interval_hours: Option<i64>,
    /// `None`: indefinitely.
    pub(crate) count: Option<u32>,
    pub(crate) format: ReportFormat,
    pub(crate) callback_url: Option<String>,
    pub(crate) callback_method: Option<CallbackMethod>,
    pub(crate) status: ReportStatus,
    /// When it was paused, while it is.
    pub(crate) paused_at: Option<DateTime<Utc>>,
    /// Slot time of the next execution to create.
    pub(crate) next_slot: DateTime<Utc>,
    /// Executions created so far under the current schedule (what RecurrenceCount limits).
    pub(crate) runs_created: u32,
    pub(crate) executions: Vec<ExecutionRecord>,
}

impl ReportRecord {
    pub(crate) fn to_item(&self, program: Program) -> Map<String, Value> {
        let mut item = Map::new();
        item.insert("reportId".into(), self.id.as_str().into());
        item.insert("reportName".into(), self.name.as_str().into());
        item.insert("description".into(), opt_str(self.description.as_deref()));
        item.insert("queryId".into(), self.query_id.as_str().into());
        item.insert("query".into(), self.query_text.as_str().into());
        item.insert("user".into(), self.user.as_str().into());
        item.insert("createdTime".into(), wire_time(self.created));
        item.insert("modifiedTime".into(), wire_opt_time(self.modified));
        item.insert("executeNow".into(), self.execute_now.into());
        // Only the marketplace's glossary lists them; partner insights' report schema does not.
        if program == Program::Marketplace {
            item.insert("queryStartTime".into(), wire_opt_time(self.query_start));
            item.insert("queryEndTime".into(), wire_opt_time(self.query_end));
        }
        item.insert("startTime".into(), wire_time(self.start));
        item.insert("reportStatus".into(), self.status.as_str().into());
        item.insert("recurrenceInterval".into(), self.interval_hours.map_or(Value::Null, Value::from));
        item.insert("recurrenceCount".into(), self.wire_count());
        item.insert("callbackUrl".into(), opt_str(self.callback_url.as_deref()));
        // The marketplace's report objects have no `callbackMethod` (its docs and examples), as for executions.
        if program == Program::Partner {
            item.insert("callbackMethod".into(), opt_str(self.callback_method.as_ref().map(CallbackMethod::as_str)));
        }
        item.insert("format".into(), self.format.as_str().into());
        item
    }

    /// ExecuteNow reports run exactly once.
    fn wire_count(&self) -> Value {
        if self.execute_now { Value::from(1) } else { self.count.map_or(Value::Null, Value::from) }
    }

    /// One execution as an item; `files_base` is where the emulator serves files (`http://127.0.0.1:PORT`).
    pub(crate) fn execution_item(
        &self,
        program: Program,
        execution: &ExecutionRecord,
        files_base: &str,
        link_ttl: chrono::Duration,
    ) -> Map<String, Value> {
        let mut item = Map::new();
        item.insert("executionId".into(), execution.id.as_str().into());
        item.insert("reportId".into(), self.id.as_str().into());
        item.insert("recurrenceInterval".into(), self.interval_hours.map_or(Value::Null, Value::from));
        item.insert("recurrenceCount".into(), self.wire_count());
        item.insert("callbackUrl".into(), opt_str(self.callback_url.as_deref()));
        // `callbackMethod` and `reportLocation` appear in the partner examples only.
        if program == Program::Partner {
            item.insert("callbackMethod".into(), opt_str(self.callback_method.as_ref().map(CallbackMethod::as_str)));
        }
        item.insert("format".into(), execution.format.as_str().into());
        item.insert("executionStatus".into(), execution.status.as_str().into());
        let generated = execution.generated;
        if program == Program::Partner {
            let location = generated.map(|at| {
                format!("reports/{}/{}_{}.{}", self.id, self.name, at.format("%Y-%m-%d"), execution.format.as_str())
            });
            item.insert("reportLocation".into(), opt_str(location.as_deref()));
        }
        let link = generated.map(|_| execution.link(files_base));
        item.insert("reportAccessSecureLink".into(), opt_str(link.as_deref()));
        item.insert("reportExpiryTime".into(), wire_opt_time(generated.map(|at| super::clock::later(at, link_ttl))));
        item.insert("reportGeneratedTime".into(), wire_opt_time(generated));
        item
    }

    /// Active and paused reports count against the 50-report quota; inactive ones have ended.
    pub(crate) fn is_live(&self) -> bool {
        self.status != ReportStatus::Inactive
    }
}

/// One execution of a report.
#[derive(Clone, Debug)]
pub(crate) struct ExecutionRecord {
    pub(crate) id: String,
    /// When it was due: its schedule slot, or the creation time of an ExecuteNow report.
    pub(crate) slot: DateTime<Utc>,
    pub(crate) created: DateTime<Utc>,
    pub(crate) running_at: DateTime<Utc>,
    pub(crate) completed_at: DateTime<Utc>,
    pub(crate) status: ExecutionStatus,
    pub(crate) generated: Option<DateTime<Utc>>,
    /// Format at the time it was created: an update must not change a file already promised.
    pub(crate) format: ReportFormat,
    /// The download link's secret.
    pub(crate) sig: String,
}

impl ExecutionRecord {
    pub(crate) fn link(&self, files_base: &str) -> String {
        format!("{files_base}/_emulator/files/{}?sig={}", self.id, self.sig)
    }

    pub(crate) fn is_open(&self) -> bool {
        matches!(self.status, ExecutionStatus::Pending | ExecutionStatus::Running | ExecutionStatus::Paused)
    }
}
