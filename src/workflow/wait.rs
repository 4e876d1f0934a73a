// Waiting for a report execution: polls the executions endpoint with growing intervals, reads the 404 the service
// answers before a report's first run as "not yet", and stops at completion, at an unknown final state, or a deadline.

use std::future::IntoFuture;
use std::pin::Pin;
use std::time::{Duration, Instant};

use crate::{Client, Error, ExecutionStatus, ReportId, Timestamp, types};

/// What a wait has seen at one poll, for progress reporting.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitProgress {
    /// No execution exists yet (the service answered 404).
    NoExecutionYet,
    /// The latest execution and its state.
    Execution {
        /// The execution's id.
        execution_id: String,
        /// Its state.
        status: ExecutionStatus,
    },
}

/// The shortest poll interval: shorter ones would not grow (1.5 times a nanosecond is a nanosecond).
const MIN_INTERVAL: Duration = Duration::from_millis(1);

type ProgressFn<'a> = Box<dyn FnMut(&WaitProgress) + Send + 'a>;

/// A wait for an execution of a report to complete; `.await` it. Made by [`Client::wait_for_execution`].
#[must_use = "a wait does nothing until awaited"]
pub struct ExecutionWait<'a> {
    client: &'a Client,
    report_id: Result<ReportId, Error>,
    execution_id: Option<String>,
    completed_after: Option<Timestamp>,
    first_interval: Duration,
    max_interval: Duration,
    timeout: Duration,
    on_progress: Option<ProgressFn<'a>>,
}

impl Client {
    /// Waits until an execution of `report_id` completes and returns it (with its download link).
    ///
    /// - **Which run**: the latest run that has begun (`Running` or `Completed`), so a report with a completed run
    ///   and none running returns that run at once (unless it completed before
    ///   [`completed_after`](ExecutionWait::completed_after)). With a schedule the next run is queued (`Pending`) as soon as the
    ///   current one starts, so a queued run is never the one waited for; before any run has begun, the queued one
    ///   (`Pending`, or `Paused` while the report is paused) is only reported as progress. To wait for one run, pass
    ///   its id to [`execution_id`](ExecutionWait::execution_id).
    /// - **A run that fails**: a run seen running is followed by its id from then on (as is a run given by id). If it
    ///   is listed no more, two polls in a row, the wait fails with the report's 404 when the report is gone, else
    ///   with [`ErrorKind::ExecutionFailed`](crate::ErrorKind::ExecutionFailed): it ended in a state the
    ///   documentation does not name, and an earlier run is not returned in its place. A run reported in an
    ///   undocumented state fails the same way. A run given by id is held to this from the first poll: an id that
    ///   is not listed two polls in a row (mistyped, or of a run that has already failed) fails the wait the same
    ///   way, naming the id, rather than waiting out the timeout.
    /// - **Polling**: at once, then after 5 s, backing off to one poll a minute, and once more before the deadline
    ///   however long the interval has grown, begun early enough to be answered (see
    ///   [`timeout`](ExecutionWait::timeout)). Without an execution id, the 404 the service answers before a
    ///   report's first run counts as "not yet" once the report is known to exist (asked once; a report that does
    ///   not exist fails with the service's 404, or with
    ///   [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) "there is no report …" if the service
    ///   lists none instead).
    /// - **Failed polls**: a poll that fails transiently ([`Error::is_transient`]: an outage after the client's own
    ///   retries, a 429) is one look lost, not the run: the wait polls again after the interval, or after the wait
    ///   the service asked for if longer, and once more before the deadline, as after an answer. A wait asked for
    ///   that leaves less than a second before the deadline makes that failure the wait's error (with its
    ///   [`retry_after`](Error::retry_after)); a deadline reached after one names it as the last thing seen. Any
    ///   other failure ends the wait at once.
    /// - **Deadline**: one hour by default ([`timeout`](ExecutionWait::timeout)), then
    ///   [`ErrorKind::Timeout`](crate::ErrorKind::Timeout).
    ///
    /// ```no_run
    /// # async fn run(client: partner_center_insights::Client) -> Result<(), partner_center_insights::Error> {
    /// use std::time::Duration;
    /// let execution = client
    ///     .wait_for_execution("0c9f3f3d-2a5c-4c1a-8d7e-6b2f1e0a9c44")
    ///     .timeout(Duration::from_secs(2 * 3600))
    ///     .on_progress(|progress| eprintln!("{progress:?}"))
    ///     .await?;
    /// // Printed without its signature: the whole link is a credential (see `SecureLink`).
    /// println!("ready: {:?}", execution.report_access_secure_link);
    /// # Ok(()) }
    /// ```
    pub fn wait_for_execution<'a>(
        &'a self,
        report_id: impl TryInto<ReportId, Error: Into<Error>>,
    ) -> ExecutionWait<'a> {
        ExecutionWait {
            client: self,
            report_id: report_id.try_into().map_err(Into::into),
            execution_id: None,
            first_interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(60),
            timeout: Duration::from_secs(3600),
            on_progress: None,
            completed_after: None,
        }
    }
}

impl<'a> ExecutionWait<'a> {
    /// Waits for this execution (in any state, queued ones included) instead of the latest run that has begun.
    ///
    /// One id: one with a `;` (which the executions list reads as "any of these") is refused when the wait is
    /// awaited, as is such a report id. The id comes from the executions list, so the run exists: an id not listed
    /// two polls in a row ends the wait with [`ErrorKind::ExecutionFailed`](crate::ErrorKind::ExecutionFailed) (or
    /// the report's 404 when the report is gone), not at the timeout.
    pub fn execution_id(mut self, execution_id: impl Into<String>) -> Self {
        self.execution_id = Some(execution_id.into());
        self
    }

    /// The first wait between polls (default 5 s; one longer than `max_interval` is cut to it); each later one is 1.5
    /// times longer, up to `max_interval`. Less than 1 ms is refused when the wait is awaited.
    pub fn poll_interval(mut self, first: Duration) -> Self {
        self.first_interval = first;
        self
    }

    /// The longest wait between polls (default 60 s; at least 1 ms).
    pub fn max_interval(mut self, max: Duration) -> Self {
        self.max_interval = max;
        self
    }

    /// Passes over runs that completed before `time` (by their `reportGeneratedTime`): to wait for the next run of
    /// a schedule, say `completed_after(Timestamp::now())`. A completed run without a generation time is taken.
    pub fn completed_after(mut self, time: impl Into<Timestamp>) -> Self {
        self.completed_after = Some(time.into());
        self
    }

    /// How long to wait in all (default one hour), polls included: a poll still running at the deadline is given up
    /// (so a zero timeout fails without polling). A wait between polls that would pass the deadline is cut short
    /// for a last poll, begun early enough to be answered in time (by twice what the poll before it took, and at
    /// least a second), so a run that completes by then is returned.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Called after every poll with what it saw.
    pub fn on_progress(mut self, on_progress: impl FnMut(&WaitProgress) + Send + 'a) -> Self {
        self.on_progress = Some(Box::new(on_progress));
        self
    }

    async fn run(self) -> Result<types::Execution, Error> {
        let Self {
            client,
            report_id,
            execution_id,
            completed_after,
            first_interval,
            max_interval,
            timeout,
            mut on_progress,
        } = self;
        let report_id = report_id?;
        if first_interval.min(max_interval) < MIN_INTERVAL {
            // A zero (or nanosecond) interval never grows: the wait would poll back to back until its timeout.
            return Err(Error::invalid_argument(format!("poll intervals must be at least {MIN_INTERVAL:?}")));
        }
        // The executions list reads `;` as "any of these ids": the wait would take whichever run it listed first.
        if report_id.as_str().contains(';') || execution_id.as_deref().is_some_and(|id| id.contains(';')) {
            return Err(Error::invalid_argument("a wait is for one report and one execution: no `;` in their ids"));
        }
        let mut report = |progress: &WaitProgress| {
            if let Some(on_progress) = &mut on_progress {
                on_progress(progress);
            }
        };
        let started = Instant::now();
        // A first interval over the longest would otherwise be slept once in full.
        let mut interval = first_interval.min(max_interval);
        let timed_out = |last_seen: &str| {
            Error::timed_out(format!(
                "no execution of report {report_id} completed within {timeout:?} (last seen: {last_seen})"
            ))
        };
        let mut last_seen = "no answer yet".to_owned();
        let mut report_known = false;
        // The run waited for: the one asked for, else the first seen running (followed by id from then on, so a
        // run that fails is not mistaken for the previous one that completed)…
        let mut watching = execution_id;
        // …whether it has been listed yet, and how many polls in a row have not listed it. A run given by id is
        // watched from the first poll: its id came from the list, so the run exists, and not finding it is not "no
        // run yet" (which would wait out the whole timeout for a mistyped id).
        let (mut listed, mut missed) = (false, 0);
        // Whether the poll just made was brought forward for want of time, or begun at once (see the sleep below).
        let mut brought_forward = false;
        let exists = |last_seen: &str| {
            let (left, timed_out) = (timeout.saturating_sub(started.elapsed()), timed_out(last_seen));
            let check = report_exists(client, &report_id);
            // Not even begun at the deadline: a timeout polls its future once before it looks at the clock.
            async move {
                if left.is_zero() {
                    Err(timed_out)
                } else {
                    tokio::time::timeout(left, check).await.unwrap_or(Err(timed_out))
                }
            }
        };
        loop {
            // One poll may retry for the client's whole call timeout; the wait's own deadline comes first.
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(timed_out(&last_seen));
            }
            // A poll begun this near the deadline is a last look already, as one brought forward is.
            let begun_late = left < LAST_LOOK_LEAD;
            let asked = Instant::now();
            let poll = poll(client, &report_id, watching.as_deref(), completed_after);
            // How long the service asked to be left alone, after a poll it refused for now.
            let mut asked_to_wait = Duration::ZERO;
            let seen = match tokio::time::timeout(left, poll).await {
                Ok(Ok(seen)) => Ok(seen),
                // An outage or a throttled poll loses one look, not the run: look again after the interval (or the
                // wait the service asked for), and as after an answer, once more before the deadline. A wait the
                // service asked for that leaves no time to answer a poll before the deadline makes this failure the
                // answer, with the hint.
                Ok(Err(error)) if error.is_transient() => {
                    asked_to_wait = error.retry_after().unwrap_or_default();
                    let left = timeout.saturating_sub(started.elapsed());
                    if !asked_to_wait.is_zero() && asked_to_wait.saturating_add(LAST_LOOK_LEAD) >= left {
                        return Err(error);
                    }
                    tracing::warn!(report_id = %report_id, error = %error, "a poll failed; polling again");
                    Err(error)
                }
                Ok(Err(error)) => return Err(error),
                Err(_) => return Err(timed_out(&last_seen)),
            };
            let took = asked.elapsed();
            let progress = match seen {
                Err(failed) => format!("a failed poll: {failed}"),
                Ok(Some(execution)) => {
                    let status = execution.execution_status.clone().unwrap_or(ExecutionStatus::Pending);
                    if watching.is_none() && status == ExecutionStatus::Running {
                        watching = Some(execution.execution_id.clone());
                    }
                    listed |= watching.is_some();
                    missed = 0;
                    report(&WaitProgress::Execution {
                        execution_id: execution.execution_id.clone(),
                        status: status.clone(),
                    });
                    match status {
                        ExecutionStatus::Completed => return Ok(execution),
                        ExecutionStatus::Unknown(state) => {
                            return Err(Error::execution_failed(format!(
                                "execution {} of report {report_id} ended as `{}`",
                                execution.execution_id,
                                state.as_str()
                            )));
                        }
                        status => format!("execution {} is {status}", execution.execution_id),
                    }
                }
                // A run watched (given by id, or seen running) that is not listed, two polls in a row (one could be
                // the service's hiccup): its report was deleted, or the run ended in a state the documentation does
                // not name (or, never listed, its id is wrong).
                Ok(None) if watching.is_some() => {
                    if !listed {
                        report(&WaitProgress::NoExecutionYet);
                    }
                    missed += 1;
                    let watched = watching.as_deref().unwrap_or_default();
                    // Which it is, is asked again after the next poll when the answer was a transient failure.
                    if missed >= 2 && known(exists(&last_seen).await)? {
                        return Err(Error::execution_failed(if listed {
                            format!(
                                "execution {watched} of report {report_id} is no longer listed in a documented state \
                                 (it has likely failed)"
                            )
                        } else {
                            format!(
                                "execution {watched} of report {report_id} is not listed in a documented state: the \
                                 id is wrong, or the run has already ended (likely failed)"
                            )
                        }));
                    }
                    format!("execution {watched} not listed")
                }
                Ok(None) => {
                    // The 404 for "no run yet" is also the answer for a report that does not exist: ask once which.
                    if !report_known {
                        report_known = known(exists(&last_seen).await)?;
                    }
                    report(&WaitProgress::NoExecutionYet);
                    "no execution yet".to_owned()
                }
            };
            // A poll that the next one would leave too little time before the deadline is brought forward, to begin
            // by the deadline less twice what this one took (at least `LAST_LOOK_LEAD`), so that it can still be
            // answered: giving up when a whole interval no longer fits would skip the last stretch unlooked at (up
            // to a minute). Never earlier than the service asked for. With less than the lead left, a look at once
            // where waiting the interval (and a poll as long as this one) would pass the deadline; not after a quick
            // poll that was itself brought forward (or begun that late), or a quick answer would be asked again and
            // again. No poll is
            // begun that one as long as the last (counted up to the lead) could not finish; the poll's own timeout
            // holds the deadline.
            let left = timeout.saturating_sub(started.elapsed());
            let lead = took.saturating_mul(2).max(LAST_LOOK_LEAD);
            let mut pause = interval.max(asked_to_wait);
            let forward = left.saturating_sub(lead).max(asked_to_wait);
            let at_once = forward.is_zero()
                && pause.saturating_add(took) >= left
                && left >= took.min(LAST_LOOK_LEAD)
                && !((brought_forward || begun_late) && took < LAST_LOOK_LEAD);
            brought_forward = pause.saturating_add(lead) >= left && (!forward.is_zero() || at_once);
            if brought_forward {
                pause = forward;
            }
            if pause.saturating_add(took.min(LAST_LOOK_LEAD)) > left || pause >= left {
                tokio::time::sleep(left).await;
                return Err(timed_out(&progress));
            }
            last_seen = progress;
            tokio::time::sleep(pause).await;
            interval = interval.saturating_add(interval / 2).min(max_interval);
        }
    }
}

/// The least time a wait's last poll is begun before the deadline, however quickly the poll before it was answered:
/// a loopback or cached answer says little about how long the next takes.
const LAST_LOOK_LEAD: Duration = Duration::from_secs(1);

/// Whether a check was answered: a transient failure (`false`) leaves it to be asked again, any other is the wait's.
fn known(check: Result<(), Error>) -> Result<bool, Error> {
    match check {
        Ok(()) => Ok(true),
        Err(error) if error.is_transient() => Ok(false),
        Err(error) => Err(error),
    }
}

/// Whether the report exists: its 404 (or an empty list) is the caller's error, with the service's message.
async fn report_exists(client: &Client, report_id: &ReportId) -> Result<(), Error> {
    let reports = client.get_reports().report_id(report_id.as_str()).send().await?;
    if reports.value.is_empty() {
        return Err(Error::invalid_argument(format!("there is no report {report_id}")));
    }
    Ok(())
}

/// Every documented state, for a wait on one execution by id.
const ANY_STATE: &[ExecutionStatus] =
    &[ExecutionStatus::Pending, ExecutionStatus::Running, ExecutionStatus::Paused, ExecutionStatus::Completed];
/// Runs that have begun. With a schedule, the next run is queued (`Pending`) as soon as the current one starts, so
/// the latest run in any state is one that has not begun, and waiting on it would never end while the schedule lasts.
const STARTED: &[ExecutionStatus] = &[ExecutionStatus::Running, ExecutionStatus::Completed];
/// Runs that have not begun (held ones are `Paused`).
const QUEUED: &[ExecutionStatus] = &[ExecutionStatus::Pending, ExecutionStatus::Paused];

/// One look at the executions: the one asked for, else the latest run that has begun, else (for progress only) the
/// queued one. `None`: nothing to see yet (the service answers 404 before a report's first run).
async fn poll(
    client: &Client,
    report_id: &ReportId,
    execution_id: Option<&str>,
    completed_after: Option<Timestamp>,
) -> Result<Option<types::Execution>, Error> {
    let executions = |statuses: &[ExecutionStatus], latest: bool| {
        client.get_report_executions().report_id(report_id).execution_statuses(statuses).get_latest_execution(latest)
    };
    if let Some(id) = execution_id {
        let found = not_yet_as_none(executions(ANY_STATE, false).execution_id(id).send().await)?;
        // Ids are GUIDs, which the service matches in any case: so must the wait, or a run asked for in capitals
        // would never be seen.
        let same = |e: &types::Execution| e.execution_id.trim().eq_ignore_ascii_case(id.trim());
        return Ok(found.and_then(|all| all.into_iter().find(same)));
    }
    let too_old = |run: &types::Execution| {
        run.execution_status == Some(ExecutionStatus::Completed)
            && completed_after.zip(run.report_generated_time).is_some_and(|(after, generated)| generated < after)
    };
    let started = not_yet_as_none(executions(STARTED, true).send().await)?.and_then(first);
    if let Some(started) = started.filter(|run| !too_old(run)) {
        return Ok(Some(started));
    }
    Ok(not_yet_as_none(executions(QUEUED, true).send().await)?.and_then(first))
}

/// The items of an answer, with the 404 the service gives when nothing matches read as none.
fn not_yet_as_none(
    answer: Result<crate::ResponseValue<types::ExecutionEnvelope>, crate::OperationError>,
) -> Result<Option<Vec<types::Execution>>, Error> {
    match answer.map_err(Error::from) {
        Ok(envelope) => Ok(Some(envelope.into_inner().value)),
        Err(error) if error.status() == Some(crate::StatusCode::NOT_FOUND) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The latest execution (the only one, with `getLatestExecution=true`).
fn first(executions: Vec<types::Execution>) -> Option<types::Execution> {
    executions.into_iter().next()
}

impl<'a> IntoFuture for ExecutionWait<'a> {
    type Output = Result<types::Execution, Error>;
    type IntoFuture = Pin<Box<dyn std::future::Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl std::fmt::Debug for ExecutionWait<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutionWait")
            .field("report_id", &self.report_id.as_ref().ok())
            .field("execution_id", &self.execution_id)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
