// Hand-written conveniences on generated types, for what a spec cannot express: a typed form of a `;`-separated
// list parameter, the one item of an answer that holds one, and an update body made from a report as returned.

use crate::{
    CallbackUrl, Error, ExecutionStatus, RecurrenceCount, RecurrenceInterval, ReportDescription, ReportName,
    ResponseValue, ValidationError, builder, types,
};

impl builder::GetReportExecutions<'_> {
    /// Only executions in any of these states: the typed form of [`execution_status`](Self::execution_status),
    /// which takes the service's `;`-separated list as text. An empty list changes nothing: a filter set before
    /// stays, and with none set the service's default applies, which is `Completed` only (so a report that has not
    /// completed a run yet answers 404 unless other states are asked for). Only the documented states go out: an
    /// [`ExecutionStatus::Unknown`] (or, as text, any other word) is refused before sending, as the service would
    /// answer 400.
    ///
    /// ```no_run
    /// # async fn run(client: partner_center_insights::Client) -> Result<(), partner_center_insights::Error> {
    /// use partner_center_insights::ExecutionStatus;
    /// let under_way = client
    ///     .get_report_executions()
    ///     .report_id("0c9f3f3d-2a5c-4c1a-8d7e-6b2f1e0a9c44")
    ///     .execution_statuses(&[ExecutionStatus::Pending, ExecutionStatus::Running])
    ///     .send()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn execution_statuses(self, statuses: &[ExecutionStatus]) -> Self {
        if statuses.is_empty() {
            return self;
        }
        self.execution_status(statuses.iter().map(ExecutionStatus::as_str).collect::<Vec<_>>().join(";"))
    }
}

/// The one item of an answer that holds one report, query or execution (created, paused or fetched by id):
/// `send().await?.into_single()?`, where `value[0]` would panic on an empty answer and take the wrong one of
/// several.
///
/// Implemented for the whole answers ([`ResponseValue`], as `send()` returns them), whose error keeps the HTTP
/// status, the answer's request id (if it carried one) and the call's attempt count, and for the envelopes inside
/// them (after `into_inner()`), whose error has none of them. Sealed: only this crate implements it.
///
/// ```no_run
/// # async fn run(client: partner_center_insights::Client) -> Result<(), partner_center_insights::Error> {
/// use partner_center_insights::SingleItem;
/// let resumed = client.resume_report().report_id("0c9f3f3d-2a5c-4c1a-8d7e-6b2f1e0a9c44").send().await?;
/// let report = resumed.into_single()?;
/// println!("{} is {:?}", report.report_id, report.report_status);
/// # Ok(()) }
/// ```
pub trait SingleItem: sealed::Sealed {
    /// What the answer holds one of.
    type Item;

    /// The one item of an answer that holds exactly one, or an error saying how many there were.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidResponse`](crate::ErrorKind::InvalidResponse) when the answer holds none or more than
    /// one.
    fn into_single(self) -> Result<Self::Item, Error>;
}

mod sealed {
    /// Keeps `SingleItem` to this crate's types, so it can grow without breaking anyone.
    pub trait Sealed {}
}

/// `SingleItem` for the envelopes that hold one item when they answer for one report, query or execution, and
/// for the whole answers that carry them.
macro_rules! single_item {
    ($($envelope:ident => $item:ident, $what:literal, $plural:literal;)*) => {$(
        impl sealed::Sealed for types::$envelope {}

        impl SingleItem for types::$envelope {
            type Item = types::$item;

            fn into_single(self) -> Result<types::$item, Error> {
                match <[types::$item; 1]>::try_from(self.value) {
                    Ok([item]) => Ok(item),
                    Err(value) => Err(Error::invalid_response(format!(
                        concat!("the answer holds {} ", $plural, " where one ", $what, " was expected"),
                        value.len()
                    ))),
                }
            }
        }

        impl sealed::Sealed for ResponseValue<types::$envelope> {}

        impl SingleItem for ResponseValue<types::$envelope> {
            type Item = types::$item;

            fn into_single(self) -> Result<types::$item, Error> {
                let status = self.status();
                let request_id = crate::error::request_id(self.headers()).map(str::to_owned);
                let attempts = crate::error::attempts_in(self.headers());
                self.into_inner().into_single().map_err(|error| error.answered(status, request_id, attempts))
            }
        }
    )*};
}

single_item! {
    ReportEnvelope => Report, "report", "reports";
    QueryEnvelope => Query, "query", "queries";
    ExecutionEnvelope => Execution, "execution", "executions";
}

/// Every setting a report has, as an update that keeps them: the service does not promise to keep a setting an
/// update omits, so change the fields you mean to and send the rest back as they were.
///
/// The start time is copied as it is; once it has passed, move it ahead before sending (the service refuses a
/// start time in the past, and wants one at least 4 hours ahead). A run-once (`ExecuteNow`) report has no
/// schedule to keep, so its reported interval and count are not carried. The commercial marketplace's report
/// objects show no callback method, so an update built from one carries none: set `callback_method` again if the
/// callback should not use the default, POST.
///
/// ```no_run
/// # async fn run(client: partner_center_insights::Client) -> Result<(), partner_center_insights::Error> {
/// use std::time::Duration;
/// use partner_center_insights::{RecurrenceInterval, Timestamp, types::UpdateReportRequest};
/// let id = "0c9f3f3d-2a5c-4c1a-8d7e-6b2f1e0a9c44";
/// let reports = client.get_reports().report_id(id).send().await?.into_inner();
/// if let Some(report) = reports.value.first() {
///     let mut update = UpdateReportRequest::try_from(report)?;
///     update.recurrence_interval = Some(RecurrenceInterval::new(48)?);
///     update.start_time = update.start_time.max(Timestamp::now() + Duration::from_secs(5 * 3600));
///     client.update_report().report_id(id).body(update).send().await?;
/// }
/// # Ok(()) }
/// ```
impl TryFrom<&types::Report> for types::UpdateReportRequest {
    type Error = ValidationError;

    /// # Errors
    /// When the report lacks a name or start time (both required in an update), or a value the service sent is
    /// outside what an update may carry (a name with `;`, an interval outside 4..=2160 hours, a callback URL that
    /// is not an absolute http(s) URL; a blank one is left out).
    fn try_from(report: &types::Report) -> Result<Self, Self::Error> {
        let scheduled = report.execute_now != Some(true);
        let missing =
            |field: &'static str| ValidationError::new(field, "is missing from the report, and an update needs it");
        Ok(Self {
            report_name: ReportName::new(report.report_name.clone().ok_or_else(|| missing("report name"))?)?,
            start_time: report.start_time.ok_or_else(|| missing("start time"))?,
            description: report.description.clone().map(ReportDescription::new).transpose()?,
            recurrence_interval: report
                .recurrence_interval
                .filter(|_| scheduled)
                .map(|hours| RecurrenceInterval::new(hours.into()))
                .transpose()?,
            // The service writes an unlimited count as absent or as a number below 1.
            recurrence_count: report
                .recurrence_count
                .filter(|_| scheduled)
                .and_then(|n| RecurrenceCount::new(n.into()).ok()),
            format: report.format.clone(),
            // Checked as a request's is (an answer's is taken as sent); blank is how a service could say "none".
            callback_url: report
                .callback_url
                .as_ref()
                .filter(|url| !url.as_str().trim().is_empty())
                .map(|url| CallbackUrl::new(url.as_str()))
                .transpose()?,
            callback_method: report.callback_method.clone(),
        })
    }
}
