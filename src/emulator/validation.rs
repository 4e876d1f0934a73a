// Reading requests the way the service does: JSON bodies and query strings with keys in any casing, then the
// documented checks on each field, in a fixed order, each failing with the service's own message.

use axum::http::StatusCode;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use crate::{CallbackMethod, Program, ReportFormat};

use super::clock::later;
use super::envelope::ApiError;
use super::messages;

/// Longest report name or description, in UTF-16 code units: the .NET service's `string.Length`.
const MAX_NAME_UNITS: usize = 256;

/// A JSON request body, looked up ignoring key case (the docs send PascalCase, others camelCase).
#[derive(Debug, Default)]
pub(crate) struct Body(Map<String, Value>);

impl Body {
    /// Anything but a JSON object (including nothing, or broken JSON) binds to "no fields" on an ASP.NET service,
    /// so every required field then reads as missing.
    pub(crate) fn parse(bytes: &[u8]) -> Self {
        match serde_json::from_slice(bytes) {
            Ok(Value::Object(map)) => Self(map),
            _ => Self::default(),
        }
    }

    /// The value under `name` in any casing (surrounding spaces ignored); `null` counts as absent.
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(key, _)| key.trim().eq_ignore_ascii_case(name)).map(|(_, v)| v).filter(|v| !v.is_null())
    }

    /// A string field; numbers and booleans are taken as their text, as JSON.NET does.
    fn text(&self, name: &str) -> Option<String> {
        match self.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A string field that must be present and not blank.
    fn required(&self, name: &str) -> Result<String, ApiError> {
        self.text(name).filter(|s| !s.trim().is_empty()).ok_or_else(|| ApiError::bad_request(messages::NULL_OR_MISSING))
    }

    /// An integer field: a JSON integer, a float without fraction, or a numeric string. `Err` when present
    /// but not an integer.
    fn integer(&self, name: &str) -> Result<Option<i64>, ()> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Ok(Some(i)),
                (None, Some(x)) if x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(Some(x as i64)),
                _ => Err(()),
            },
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| ()),
            Some(_) => Err(()),
        }
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, ()> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(()),
        }
    }
}

/// A query string, looked up ignoring parameter-name case (the docs' tables write `IncludeSystemQueries`).
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(query: Option<&str>) -> Self {
        Self(url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect())
    }

    /// The first non-blank value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, value)| key.eq_ignore_ascii_case(name) && !value.trim().is_empty())
            .map(|(_, value)| value.trim())
    }

    /// Every pair, as sent.
    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// A `;`-separated list (blank entries dropped).
    pub(crate) fn list(&self, name: &str) -> Option<Vec<String>> {
        self.get(name).map(split_list)
    }

    pub(crate) fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::bad_request(messages::invalid_boolean(name, v))),
        }
    }
}

/// `a;b; c;` → `[a, b, c]`.
pub(crate) fn split_list(text: &str) -> Vec<String> {
    text.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// Parses a service timestamp: `yyyy-MM-ddTHH:mm:ssZ`, or with a space instead of `T` as Microsoft's own C#
/// sample sends (the service evidently accepts it). Anything else is a format error, including years that are not
/// four digits (chrono would read `+200000`, far enough out to overflow schedule arithmetic).
pub(crate) fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let bytes = text.as_bytes();
    if bytes.len() < 5 || !bytes[..4].iter().all(u8::is_ascii_digit) || bytes[4] != b'-' {
        return None;
    }
    ["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%SZ"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc())
}

/// What the time rules are checked against.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    pub(crate) program: Program,
    pub(crate) now: DateTime<Utc>,
    /// How far ahead of now a StartTime must be (zero: just not in the past).
    pub(crate) min_start_lead: chrono::Duration,
}

/// Which time field a format error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimeField {
    Start,
    End,
}

impl Rules {
    /// A badly formatted time. The partner FAQ documents only a 500 for this; the marketplace FAQ (2023) has
    /// specific 400s, which win there.
    fn bad_time(&self, field: TimeField) -> ApiError {
        match (self.program, field) {
            (Program::Partner, _) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                messages::internal_error_creating_report(&uuid::Uuid::new_v4().to_string()),
            ),
            (Program::Marketplace, TimeField::Start) => ApiError::bad_request(messages::START_TIME_FORMAT),
            (Program::Marketplace, TimeField::End) => ApiError::bad_request(messages::END_TIME_FORMAT),
        }
    }

    /// A text outside an enumeration (`Format`, `CallbackMethod`): the marketplace FAQ (2023) has a message for
    /// each, which wins there; partner insights documents the .NET enum-parse failure. (A value that is not text
    /// gets the marketplace's message on both: what the service answers to one is not documented.)
    fn bad_value(&self, value: &str, marketplace_message: &str) -> ApiError {
        match self.program {
            Program::Partner => ApiError::bad_request(messages::requested_value_not_found(value)),
            Program::Marketplace => ApiError::bad_request(marketplace_message),
        }
    }

    fn time(&self, body: &Body, name: &str, field: TimeField) -> Result<Option<DateTime<Utc>>, ApiError> {
        match body.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => parse_timestamp(s).map(Some).ok_or_else(|| self.bad_time(field)),
            Some(_) => Err(self.bad_time(field)),
        }
    }
}

/// A report's recurring schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Schedule {
    pub(crate) start: DateTime<Utc>,
    pub(crate) interval_hours: i64,
    /// `None`: indefinitely.
    pub(crate) count: Option<u32>,
}

/// Where and how to call back when an execution completes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Callback {
    pub(crate) url: String,
    pub(crate) method: CallbackMethod,
}

/// The fields a create and an update share.
#[derive(Clone, Debug)]
pub(crate) struct ReportFields {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) format: ReportFormat,
    pub(crate) callback: Option<Callback>,
}

/// A valid create-report request (query existence, dataset limits and quotas are checked against the state).
#[derive(Clone, Debug)]
pub(crate) struct NewReport {
    pub(crate) fields: ReportFields,
    pub(crate) query_id: String,
    pub(crate) kind: NewReportKind,
}

#[derive(Clone, Debug)]
pub(crate) enum NewReportKind {
    Scheduled(Schedule),
    /// Runs once right away, optionally over a given data window.
    ExecuteNow {
        query_start: Option<DateTime<Utc>>,
        query_end: Option<DateTime<Utc>>,
    },
}

/// A valid update-report request. `interval_hours: None` keeps the report's interval (the docs give no default).
#[derive(Clone, Debug)]
pub(crate) struct ReportUpdate {
    pub(crate) fields: ReportFields,
    pub(crate) start: DateTime<Utc>,
    pub(crate) interval_hours: Option<i64>,
    pub(crate) count: Option<u32>,
}

/// Name, description, format and callback, checked in the order the service's messages suggest.
fn report_fields(body: &Body, rules: &Rules) -> Result<ReportFields, ApiError> {
    let name = body.required("ReportName")?;
    if name.contains(';') {
        return Err(ApiError::bad_request(messages::SEMICOLON_IN_NAME));
    }
    let description = body.text("Description");
    let too_long = |text: &str| text.encode_utf16().count() > MAX_NAME_UNITS;
    if too_long(&name) || description.as_deref().is_some_and(too_long) {
        return Err(ApiError::bad_request(messages::NAME_LENGTH));
    }
    let format = match body.get("Format") {
        None => ReportFormat::Csv,
        Some(Value::String(s)) if s.trim().is_empty() => ReportFormat::Csv,
        Some(Value::String(s)) => s.trim().parse().map_err(|_| rules.bad_value(s, messages::FORMAT_CSV_TSV))?,
        Some(_) => return Err(ApiError::bad_request(messages::FORMAT_CSV_TSV)),
    };
    let method = match body.get("CallbackMethod") {
        None => CallbackMethod::Post,
        Some(Value::String(s)) if s.trim().is_empty() => CallbackMethod::Post,
        Some(Value::String(s)) => s.trim().parse().map_err(|_| rules.bad_value(s, messages::CALLBACK_METHOD))?,
        Some(_) => return Err(ApiError::bad_request(messages::CALLBACK_METHOD)),
    };
    let callback = match body.text("CallbackUrl").filter(|u| !u.trim().is_empty()) {
        None => None,
        Some(url) => match url::Url::parse(url.trim()) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {
                Some(Callback { url: url.trim().to_owned(), method })
            }
            _ => return Err(ApiError::bad_request(messages::CALLBACK_URL)),
        },
    };
    Ok(ReportFields { name, description, format, callback })
}

/// StartTime, RecurrenceInterval and RecurrenceCount as sent (the interval is optional on updates).
struct ScheduleParts {
    start: DateTime<Utc>,
    interval_hours: Option<i64>,
    count: Option<u32>,
}

/// Checks StartTime, RecurrenceInterval and RecurrenceCount.
fn schedule_parts(body: &Body, rules: &Rules) -> Result<ScheduleParts, ApiError> {
    let start = rules
        .time(body, "StartTime", TimeField::Start)?
        .ok_or_else(|| ApiError::bad_request(messages::NULL_OR_MISSING))?;
    if start < later(rules.now, rules.min_start_lead) {
        return Err(ApiError::bad_request(messages::START_TIME_TOO_EARLY));
    }
    let interval = match body.integer("RecurrenceInterval") {
        Ok(None) => None,
        Ok(Some(hours)) if (4..=2160).contains(&hours) => Some(hours),
        Ok(Some(_)) => return Err(ApiError::bad_request(messages::RECURRENCE_INTERVAL_RANGE)),
        Err(()) => return Err(ApiError::bad_request(messages::INVALID_REPORT_PARAMETERS)),
    };
    let count = match body.integer("RecurrenceCount") {
        Ok(None) => None,
        Ok(Some(n)) => Some(
            u32::try_from(n)
                .ok()
                .filter(|n| *n > 0 && *n <= i32::MAX as u32)
                .ok_or_else(|| ApiError::bad_request(messages::RECURRENCE_COUNT))?,
        ),
        Err(()) => return Err(ApiError::bad_request(messages::RECURRENCE_COUNT)),
    };
    Ok(ScheduleParts { start, interval_hours: interval, count })
}

/// Checks a create-report body.
pub(crate) fn new_report(body: &Body, rules: &Rules) -> Result<NewReport, ApiError> {
    // Required fields first: the service reports a missing field before anything about the ones present.
    body.required("ReportName")?;
    let query_id = body.required("QueryId")?.trim().to_owned();
    let fields = report_fields(body, rules)?;
    let execute_now =
        body.boolean("ExecuteNow").map_err(|()| ApiError::bad_request(messages::INVALID_REPORT_PARAMETERS))?;
    let kind = if execute_now == Some(true) {
        // StartTime, RecurrenceInterval and RecurrenceCount are ignored for ExecuteNow, as documented.
        let query_start = rules.time(body, "QueryStartTime", TimeField::Start)?;
        let query_end = rules.time(body, "QueryEndTime", TimeField::End)?;
        if let (Some(start), Some(end)) = (query_start, query_end)
            && end <= start
        {
            return Err(ApiError::bad_request(messages::END_BEFORE_START));
        }
        NewReportKind::ExecuteNow { query_start, query_end }
    } else {
        let ScheduleParts { start, interval_hours, count } = schedule_parts(body, rules)?;
        let interval_hours = interval_hours.ok_or_else(|| ApiError::bad_request(messages::NULL_OR_MISSING))?;
        NewReportKind::Scheduled(Schedule { start, interval_hours, count })
    };
    Ok(NewReport { fields, query_id, kind })
}

/// Checks an update-report body (`QueryId` and `ExecuteNow` cannot change and are ignored if sent).
pub(crate) fn report_update(body: &Body, rules: &Rules) -> Result<ReportUpdate, ApiError> {
    body.required("ReportName")?;
    let fields = report_fields(body, rules)?;
    let ScheduleParts { start, interval_hours, count } = schedule_parts(body, rules)?;
    Ok(ReportUpdate { fields, start, interval_hours, count })
}

/// A valid create-query body: name, description, query text (checked against the datasets separately).
pub(crate) fn new_query(body: &Body) -> Result<(String, Option<String>, String), ApiError> {
    let name = body.required("Name")?;
    let query = body.required("Query")?;
    Ok((name, body.text("Description"), query))
}

/// try-query's optional `startTime`/`endTime` (partner insights only).
pub(crate) fn query_window(params: &Params) -> Result<(), ApiError> {
    let time = |name: &str, message: &'static str| {
        params.get(name).map(|v| parse_timestamp(v).ok_or_else(|| ApiError::bad_request(message))).transpose()
    };
    let start = time("startTime", messages::START_TIME_FORMAT)?;
    let end = time("endTime", messages::END_TIME_FORMAT)?;
    match (start, end) {
        (Some(start), Some(end)) if end <= start => Err(ApiError::bad_request(messages::END_BEFORE_START)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(program: Program) -> Rules {
        Rules {
            program,
            now: parse_timestamp("2026-01-01T00:00:00Z").unwrap(),
            min_start_lead: chrono::Duration::zero(),
        }
    }

    fn create(json: &str, program: Program) -> Result<NewReport, String> {
        new_report(&Body::parse(json.as_bytes()), &rules(program)).map_err(|e| e.message)
    }

    #[test]
    fn keys_match_in_any_casing() {
        let report = create(
            r#"{"reportname":"r","QUERYID":"q","startTime":"2026-01-02T00:00:00Z","recurrenceInterval":"24","Format":"TSV"}"#,
            Program::Marketplace,
        )
        .unwrap();
        assert_eq!(report.query_id, "q");
        assert_eq!(report.fields.format, ReportFormat::Tsv);
        assert!(matches!(report.kind, NewReportKind::Scheduled(Schedule { interval_hours: 24, count: None, .. })));
    }

    #[test]
    fn messages_in_order() {
        let base = r#""ReportName":"r","QueryId":"q","StartTime":"2026-01-02T00:00:00Z","RecurrenceInterval":24"#;
        for (extra, expected) in [
            (r#","RecurrenceInterval":3"#, messages::RECURRENCE_INTERVAL_RANGE),
            (r#","RecurrenceInterval":2161"#, messages::RECURRENCE_INTERVAL_RANGE),
            (r#","RecurrenceCount":0"#, messages::RECURRENCE_COUNT),
            (r#","Format":"xlsx""#, messages::FORMAT_CSV_TSV),
            (r#","CallbackMethod":"PUT""#, messages::CALLBACK_METHOD),
            (r#","CallbackUrl":"ftp://x""#, messages::CALLBACK_URL),
            (r#","StartTime":"2025-12-31T23:59:59Z""#, messages::START_TIME_TOO_EARLY),
            (r#","StartTime":"01/02/2026""#, messages::START_TIME_FORMAT),
            (r#","ReportName":"a;b""#, messages::SEMICOLON_IN_NAME),
        ] {
            // Later keys win in serde_json maps, so `extra` overrides the base value.
            assert_eq!(create(&format!("{{{base}{extra}}}"), Program::Marketplace).unwrap_err(), expected, "{extra}");
        }
        assert_eq!(create("not json", Program::Marketplace).unwrap_err(), messages::NULL_OR_MISSING);
        assert_eq!(
            create(r#"{"ReportName":"r","QueryId":"q"}"#, Program::Marketplace).unwrap_err(),
            messages::NULL_OR_MISSING
        );
    }

    #[test]
    fn partner_enum_errors_are_the_documented_enum_parse_failure() {
        let base = r#""ReportName":"r","QueryId":"q","StartTime":"2026-01-02T00:00:00Z","RecurrenceInterval":24"#;
        for (extra, expected) in [
            (r#","Format":"string""#, "Requested value 'string' not found"),
            (r#","CallbackMethod":"PUT""#, "Requested value 'PUT' not found"),
        ] {
            assert_eq!(create(&format!("{{{base}{extra}}}"), Program::Partner).unwrap_err(), expected, "{extra}");
        }
    }

    #[test]
    fn partner_date_format_errors_are_the_documented_500() {
        let body = r#"{"ReportName":"r","QueryId":"q","StartTime":"tomorrow","RecurrenceInterval":24}"#;
        let error = new_report(&Body::parse(body.as_bytes()), &rules(Program::Partner)).unwrap_err();
        assert_eq!(error.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(error.message.starts_with("Internal error encountered while creating report. Correlation ID "));
    }

    #[test]
    fn execute_now_ignores_the_schedule_but_checks_the_window() {
        let report = create(
            r#"{"ReportName":"r","QueryId":"q","ExecuteNow":true,"RecurrenceInterval":1}"#,
            Program::Marketplace,
        )
        .unwrap();
        assert!(matches!(report.kind, NewReportKind::ExecuteNow { .. }));
        let inverted = r#"{"ReportName":"r","QueryId":"q","ExecuteNow":true,
            "QueryStartTime":"2025-06-01T00:00:00Z","QueryEndTime":"2025-05-01T00:00:00Z"}"#;
        assert_eq!(create(inverted, Program::Marketplace).unwrap_err(), messages::END_BEFORE_START);
    }

    #[test]
    fn timestamps_are_strict() {
        assert!(parse_timestamp("2026-12-01T00:00:00Z").is_some());
        assert!(parse_timestamp("2026-12-01 00:00:00Z").is_some());
        assert!(parse_timestamp("2026-12-01T00:00:00").is_none());
        assert!(parse_timestamp("2026-12-01T00:00:00+01:00").is_none());
        assert!(parse_timestamp("+262143-12-01T00:00:00Z").is_none());
        assert!(parse_timestamp("20260-12-01T00:00:00Z").is_none());
    }
}
