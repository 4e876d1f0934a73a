// Starting data: queries and reports created at start-up, from Rust or a JSON file (`--seed-data`), through the
// API's own validation, so a bad seed fails with the documented message instead of making an impossible state.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::Program;

use super::auth::Caller;
use super::context::Shared;
use super::operations::{self, Call};
use super::validation::Body;

/// Data to create when the emulator starts.
///
/// The JSON form (all keys optional except where noted):
///
/// ```json
/// {
///   "fileRows": 500,
///   "partner": {
///     "queries": [
///       { "queryId": "11111111-1111-4111-8111-111111111111", "name": "Usage",
///         "description": "Office usage", "query": "SELECT CustomerName,ActiveUsers FROM OfficeUsage" }
///     ],
///     "reports": [
///       { "reportId": "22222222-2222-4222-8222-222222222222", "reportName": "Daily usage",
///         "queryId": "11111111-1111-4111-8111-111111111111", "startTime": "+2h",
///         "recurrenceInterval": 24, "recurrenceCount": 7, "format": "csv",
///         "callbackUrl": "http://127.0.0.1:9000/hook", "callbackMethod": "POST", "paused": false }
///     ]
///   },
///   "marketplace": { "queries": [], "reports": [] }
/// }
/// ```
///
/// `name`/`query` and `reportName`/`queryId` are required. A report's `queryId` may name a seeded query (give it a
/// `queryId`) or a system query. `startTime` is either a timestamp (`yyyy-MM-ddTHH:mm:ssZ`) or an offset from the
/// emulator's start: `+30m`, `+2h`, `+1d`. `executeNow: true` makes a one-shot report. Unknown keys are errors.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct Seed {
    /// Rows in each generated report file (see [`EmulatorBuilder::file_rows`](super::EmulatorBuilder::file_rows)).
    #[serde(default)]
    pub file_rows: Option<u64>,
    /// Partner-insights data.
    #[serde(default)]
    pub partner: SeedProgram,
    /// Marketplace data.
    #[serde(default)]
    pub marketplace: SeedProgram,
}

/// One program's seed data.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct SeedProgram {
    /// User-defined queries, created first.
    #[serde(default)]
    pub queries: Vec<SeedQuery>,
    /// Reports, created after the queries.
    #[serde(default)]
    pub reports: Vec<SeedReport>,
}

/// A query to create.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct SeedQuery {
    /// A fixed id, so reports and tests can refer to it; a random one otherwise.
    #[serde(default)]
    pub query_id: Option<String>,
    /// The query's name.
    pub name: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// The query text.
    pub query: String,
}

/// A report to create.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct SeedReport {
    /// A fixed id; a random one otherwise.
    #[serde(default)]
    pub report_id: Option<String>,
    /// The report's name.
    pub report_name: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// A seeded or system query id.
    pub query_id: String,
    /// A timestamp, or `+<n>m` / `+<n>h` / `+<n>d` from the emulator's start.
    #[serde(default)]
    pub start_time: Option<String>,
    /// A one-shot report.
    #[serde(default)]
    pub execute_now: bool,
    /// Hours between executions.
    #[serde(default)]
    pub recurrence_interval: Option<i64>,
    /// Number of executions.
    #[serde(default)]
    pub recurrence_count: Option<i64>,
    /// `csv` or `tsv`.
    #[serde(default)]
    pub format: Option<String>,
    /// Callback URL (checked when the report is created, as the service checks it; its `Debug` hides the query).
    #[serde(default)]
    pub callback_url: Option<crate::CallbackUrl>,
    /// `GET` or `POST`.
    #[serde(default)]
    pub callback_method: Option<String>,
    /// Pause the report right after creating it.
    #[serde(default)]
    pub paused: bool,
}

/// A seed file that could not be read or applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedError(String);

impl std::fmt::Display for SeedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SeedError {}

impl Seed {
    /// Empty seed data.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the JSON form.
    ///
    /// # Errors
    /// When `json` is not the documented format.
    pub fn from_json(json: &str) -> Result<Self, SeedError> {
        serde_json::from_str(json).map_err(|e| SeedError(format!("invalid seed data: {e}")))
    }

    /// Reads and parses a JSON seed file.
    ///
    /// # Errors
    /// When the file cannot be read or is not the documented format.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, SeedError> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|e| SeedError(format!("cannot read {}: {e}", path.display())))?;
        Self::from_json(&text).map_err(|SeedError(e)| SeedError(format!("{}: {e}", path.display())))
    }

    /// Adds a query to `program`'s seed.
    pub fn query(mut self, program: Program, query: SeedQuery) -> Self {
        self.program_mut(program).queries.push(query);
        self
    }

    /// Adds a report to `program`'s seed.
    pub fn report(mut self, program: Program, report: SeedReport) -> Self {
        self.program_mut(program).reports.push(report);
        self
    }

    fn program_mut(&mut self, program: Program) -> &mut SeedProgram {
        match program {
            Program::Partner => &mut self.partner,
            Program::Marketplace => &mut self.marketplace,
        }
    }
}

impl SeedQuery {
    /// A query named `name` with text `query`.
    pub fn new(name: impl Into<String>, query: impl Into<String>) -> Self {
        Self { name: name.into(), query: query.into(), ..Self::default() }
    }

    /// Gives the query a fixed id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.query_id = Some(id.into());
        self
    }
}

impl SeedReport {
    /// A recurring report on `query_id`, every `interval_hours` from `start_time` (see the field for its forms).
    pub fn scheduled(
        name: impl Into<String>,
        query_id: impl Into<String>,
        start_time: impl Into<String>,
        interval_hours: i64,
    ) -> Self {
        Self {
            report_name: name.into(),
            query_id: query_id.into(),
            start_time: Some(start_time.into()),
            recurrence_interval: Some(interval_hours),
            ..Self::default()
        }
    }

    /// A one-shot ExecuteNow report on `query_id`.
    pub fn execute_now(name: impl Into<String>, query_id: impl Into<String>) -> Self {
        Self { report_name: name.into(), query_id: query_id.into(), execute_now: true, ..Self::default() }
    }

    /// Gives the report a fixed id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.report_id = Some(id.into());
        self
    }

    /// The create-report body the API would receive for this report.
    fn body(&self, started: DateTime<Utc>) -> Result<Body, String> {
        let mut map = Map::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                map.insert(key.to_owned(), value);
            }
        };
        put("ReportName", Some(self.report_name.clone().into()));
        put("Description", self.description.clone().map(Value::from));
        put("QueryId", Some(self.query_id.clone().into()));
        let start = self.start_time.as_deref().map(|s| relative_time(s, started)).transpose()?;
        put("StartTime", start.map(Value::from));
        put("ExecuteNow", Some(self.execute_now.into()));
        put("RecurrenceInterval", self.recurrence_interval.map(Value::from));
        put("RecurrenceCount", self.recurrence_count.map(Value::from));
        put("Format", self.format.clone().map(Value::from));
        put("CallbackUrl", self.callback_url.as_ref().map(|url| Value::from(url.as_str())));
        put("CallbackMethod", self.callback_method.clone().map(Value::from));
        Ok(Body::parse(Value::Object(map).to_string().as_bytes()))
    }
}

/// `+90m`, `+2h`, `+1d` from `started`, in the service's format; anything else is passed through as written.
fn relative_time(text: &str, started: DateTime<Utc>) -> Result<String, String> {
    let Some(offset) = text.trim().strip_prefix('+') else { return Ok(text.to_owned()) };
    let split = offset.len().saturating_sub(1);
    let (number, unit) = (offset.get(..split).unwrap_or_default(), offset.get(split..).unwrap_or_default());
    let n: i64 = number.parse().map_err(|_| format!("startTime `{text}`: expected +<n>m, +<n>h or +<n>d"))?;
    let offset = match unit {
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        _ => None,
    }
    .ok_or_else(|| format!("startTime `{text}`: expected +<n>m, +<n>h or +<n>d"))?;
    let at = started.checked_add_signed(offset).ok_or_else(|| format!("startTime `{text}` is too far ahead"))?;
    Ok(at.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// Creates everything in `seed`, through the API's own operations.
pub(crate) fn apply(shared: &Shared, seed: &Seed) -> Result<(), SeedError> {
    for (program, data) in [(Program::Partner, &seed.partner), (Program::Marketplace, &seed.marketplace)] {
        let call = Call { shared, program, now: shared.now(), caller: Caller::default() };
        let label = match program {
            Program::Partner => "partner",
            Program::Marketplace => "marketplace",
        };
        let mut world = shared.world();
        let state = world.program(program);
        for (i, query) in data.queries.iter().enumerate() {
            let fail = |message: &str| SeedError(format!("{label} query #{} ({}): {message}", i + 1, query.name));
            if let Some(id) = &query.query_id
                && (state.queries.iter().any(|q| q.id.eq_ignore_ascii_case(id)) || id.trim().is_empty())
            {
                return Err(fail("queryId is empty or already used"));
            }
            let mut body = Map::new();
            body.insert("Name".into(), query.name.clone().into());
            body.insert("Query".into(), query.query.clone().into());
            if let Some(description) = &query.description {
                body.insert("Description".into(), description.clone().into());
            }
            operations::create_query(&call, state, &Body::parse(Value::Object(body).to_string().as_bytes()))
                .map_err(|e| fail(e.message()))?;
            if let (Some(id), Some(created)) = (&query.query_id, state.queries.last_mut()) {
                created.id.clone_from(id);
            }
        }
        for (i, report) in data.reports.iter().enumerate() {
            let fail =
                |message: &str| SeedError(format!("{label} report #{} ({}): {message}", i + 1, report.report_name));
            if let Some(id) = &report.report_id
                && (state.report_index(id).is_some() || id.trim().is_empty())
            {
                return Err(fail("reportId is empty or already used"));
            }
            let body = report.body(shared.started).map_err(|e| fail(&e))?;
            operations::create_report(&call, state, &body).map_err(|e| fail(e.message()))?;
            let Some(created) = state.reports.last_mut() else { continue };
            if let Some(id) = &report.report_id {
                created.id.clone_from(id);
            }
            if report.paused {
                created.pause(call.now);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_start_times() {
        let started: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(relative_time("+90m", started).unwrap(), "2026-01-01T01:30:00Z");
        assert_eq!(relative_time("+2h", started).unwrap(), "2026-01-01T02:00:00Z");
        assert_eq!(relative_time("+1d", started).unwrap(), "2026-01-02T00:00:00Z");
        assert_eq!(relative_time("2026-02-01T00:00:00Z", started).unwrap(), "2026-02-01T00:00:00Z");
        assert!(relative_time("+2w", started).is_err());
        assert!(relative_time("+h", started).is_err());
        assert!(relative_time("+é", started).is_err());
        assert!(relative_time("+999999999d", started).is_err());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(Seed::from_json(r#"{"partner":{"querys":[]}}"#).is_err());
        let seed =
            Seed::from_json(r#"{"fileRows":3,"marketplace":{"queries":[{"name":"a","query":"SELECT x FROM y"}]}}"#)
                .unwrap();
        assert_eq!(seed.file_rows, Some(3));
        assert_eq!(seed.marketplace.queries.len(), 1);
    }
}
