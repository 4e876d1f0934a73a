// Every message text the emulator answers with, in one place: the documented ones copied verbatim from the
// reference (FAQ error table, examples), then the few the documentation leaves open, marked as the emulator's own.

// ---- Documented (reference §7 FAQ table, §4 examples) ----

pub(crate) const UNAUTHORIZED: &str = "Unauthorized";
pub(crate) const INVALID_TABLE_NAME: &str = "Invalid table name";
pub(crate) const INCORRECT_COLUMN_NAME: &str = "Incorrect column name";
pub(crate) const NULL_OR_MISSING: &str = "Null or missing value";
pub(crate) const INVALID_REPORT_PARAMETERS: &str = "Invalid report parameters";
pub(crate) const RECURRENCE_INTERVAL_RANGE: &str = "Recurrence Interval must be between 4 and 2160";
pub(crate) const INVALID_QUERY_ID: &str = "Invalid QueryId";
pub(crate) const START_TIME_TOO_EARLY: &str =
    "Invalid report parameters for creation - Start time of report should at least be 4 hours from current UTC time";
pub(crate) const NO_ITEM_FOUND: &str = "No item found with given filters.";
pub(crate) const NO_EXECUTIONS: &str = "There are no executions that have occurred for the given filter conditions. \
     Please recheck the reportId or executionId and retry the API after the report's scheduled execution time";
pub(crate) const SERVICE_UNAVAILABLE: &str = "Service unavailable";
pub(crate) const START_TIME_FORMAT: &str =
    "Invalid report parameters for creation - StartTime should follow format: yyyy-MM-ddTHH:mm:ssZ";
pub(crate) const END_TIME_FORMAT: &str =
    "Invalid report parameters for creation - EndTime should follow format: yyyy-MM-ddTHH:mm:ssZ";
pub(crate) const END_BEFORE_START: &str =
    "Invalid report parameters for creation - EndTime should be greater than StartTime";
pub(crate) const FORMAT_CSV_TSV: &str = "Invalid report parameters for creation - Report format should be csv/tsv";
pub(crate) const SEMICOLON_IN_NAME: &str =
    "Invalid report parameters for creation - Invalid character (;) in ReportName";
pub(crate) const CALLBACK_METHOD: &str =
    "Invalid report parameters for creation - CallbackMethod can only be GET or POST";
pub(crate) const RECURRENCE_COUNT: &str =
    "Invalid report parameters for creation - Recurrence count has to be a positive integer value";
pub(crate) const NAME_LENGTH: &str =
    "Invalid report parameters for creation - Limit ReportName and Description length to 256 characters or less";
pub(crate) const REPORT_QUOTA: &str = "User has exceeded its report creation quota of 50 active reports";
pub(crate) const EXECUTE_NOW_QUOTA: &str =
    "User has exceeded its ExecuteNow report creation quota of 5 reports/60 mins";
pub(crate) const QUERY_QUOTA: &str = "Number of queries exceeded. Delete few queries before creating new queries";

/// The documented 500 for a badly formatted date on partner insights (its FAQ knows no 400 for it).
pub(crate) fn internal_error_creating_report(correlation_id: &str) -> String {
    format!("Internal error encountered while creating report. Correlation ID {correlation_id}")
}

/// The documented .NET enum-parse failure, used for an unknown `executionStatus`.
pub(crate) fn requested_value_not_found(value: &str) -> String {
    format!("Requested value '{value}' not found")
}

// ---- Documented success messages (reference §3.2, §4.2, §4.6) ----

pub(crate) const DATASETS_FETCHED: &str = "Dataset fetched successfully";
pub(crate) const QUERY_CREATED: &str = "Query created successfully";
pub(crate) const REPORT_CREATED: &str = "Report created successfully";

// ---- Not documented: the emulator's choices, in the service's style ----

/// The spec's own resume example, not a documented message.
pub(crate) const REPORT_RESUMED: &str = "Report resumed successfully";

pub(crate) const QUERIES_FETCHED: &str = "Queries fetched successfully";
pub(crate) const QUERY_DELETED: &str = "Query deleted successfully";
pub(crate) const REPORTS_FETCHED: &str = "Reports fetched successfully";
pub(crate) const REPORT_UPDATED: &str = "Report updated successfully";
pub(crate) const REPORT_DELETED: &str = "Report deleted successfully";
pub(crate) const REPORT_PAUSED: &str = "Report paused successfully";
pub(crate) const SYSTEM_QUERY_NOT_DELETABLE: &str = "System queries cannot be deleted";
pub(crate) const CALLBACK_URL: &str =
    "Invalid report parameters for creation - CallbackUrl should be an http or https URL";
pub(crate) const TOO_MANY_REQUESTS: &str = "Too many requests";
pub(crate) const RESOURCE_NOT_FOUND: &str = "Resource not found";
pub(crate) const METHOD_NOT_ALLOWED: &str = "The requested resource does not support this HTTP method";

/// Pausing a report that is not Active, or resuming one that is not Paused.
pub(crate) fn wrong_report_status(status: &str, action: &str) -> String {
    format!("Report with status {status} cannot be {action}")
}

/// A query-string parameter that is not a boolean.
pub(crate) fn invalid_boolean(name: &str, value: &str) -> String {
    format!("The value '{value}' is not valid for {name}")
}
pub(crate) const QUERY_SYNTAX: &str = "Incorrect query syntax: expected SELECT <columns> FROM <dataset>";
pub(crate) const WHERE_SYNTAX: &str = "Incorrect query syntax in WHERE: expected <column> <operator> <value> (AND …), operators = > < >= <= != LIKE \
     NOT LIKE and [NOT] IN (<value>, …)";
pub(crate) const ORDER_BY_SYNTAX: &str = "Incorrect query syntax in ORDER BY: expected <column> [ASC|DESC] (, …)";
pub(crate) const LIMIT_POSITIVE: &str = "LIMIT must be a positive non-zero integer";

/// A TIMESPAN the dataset does not offer.
pub(crate) fn invalid_timespan(value: &str) -> String {
    format!("Invalid TIMESPAN value {value}")
}
pub(crate) const EXPORT_QUERY_OR_QUERY_ID: &str = "Provide either exportQuery or queryId, not both";
