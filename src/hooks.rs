// What happens around every generated call: request hygiene and the bearer token before sending; then attempts
// with retries, 401 refresh and timeouts; and the body read once, normalized, and checked so no failure loses its status.

use std::time::{Duration, Instant};

use bytes::Bytes;
use progenitor_client::{ClientHooks, ClientInfo, Error as GeneratedError, OperationInfo};
use reqwest::header::{self, HeaderName, HeaderValue};
use reqwest::{Method, Request, Response, StatusCode};
use tracing::Instrument;

use crate::auth::{AuthError, UNSENDABLE_TOKEN, handover};
use crate::casing::{self, Items, Malformed};
use crate::config::{ClientState, State};
use crate::{AccessToken, Client, retry, types};

pub(crate) const MS_REQUEST_ID: HeaderName = HeaderName::from_static("ms-requestid");
pub(crate) const MS_CORRELATION_ID: HeaderName = HeaderName::from_static("ms-correlationid");
/// Set on the response, and as `attempts=N` in a transport error's URL fragment, when a call took more than one
/// attempt: the only places that reach `Error::from` unchanged through the generated code.
pub(crate) const ATTEMPTS: HeaderName = HeaderName::from_static("x-partner-center-insights-attempts");
/// The `MS-RequestId` the call sent, the same way: on a failed response without a request id of its own, and as
/// `request-id=…` in a transport error's URL fragment, so a failed call that went out has an id to quote to support.
pub(crate) const SENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-partner-center-insights-request-id");
/// Set on a 401 whose token could not be renewed: the key under which `auth::handover` keeps why, for
/// `Error::from_response` to take back as the error's source.
pub(crate) const TOKEN_NOT_RENEWED: HeaderName = HeaderName::from_static("x-partner-center-insights-token-not-renewed");

/// The response body as received, kept on the response so errors can be built from it without reading again.
#[derive(Clone, Debug)]
pub(crate) struct ReceivedBody {
    pub(crate) bytes: Bytes,
    /// Set when the body cannot decode into what its status promises; the call then fails with the status kept.
    pub(crate) problem: Option<BodyProblem>,
}

#[derive(Clone, Debug)]
pub(crate) enum BodyProblem {
    /// Not JSON at all, or structurally broken (truncated, HTML, empty).
    NotJson(Malformed),
    /// JSON, but not the service's envelope: under an error status, one that does not decode or says nothing; under
    /// a success status, one with none of the envelope's fields at its top (it would decode as an empty list).
    NotAnEnvelope(String),
    /// Larger than `MAX_BODY_BYTES`: only its start was read.
    TooLarge,
    /// A success body that does not decode into what the operation promises, where `success_problem` checks it:
    /// the decode error's line, its quoted values cut.
    WrongShape(String),
}

impl ClientHooks<ClientState> for Client {
    async fn pre<E>(&self, request: &mut Request, info: &OperationInfo) -> Result<(), GeneratedError<E>> {
        if let Some(problem) = refused(info.operation_id, request) {
            return Err(GeneratedError::InvalidRequest(problem.into()));
        }
        self.prepare(request).await
    }

    async fn exec(&self, request: Request, info: &OperationInfo) -> reqwest::Result<Response> {
        let request_id = request.headers().get(&MS_REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let span = tracing::info_span!(
            "partner_center_call",
            operation = info.operation_id,
            request_id,
            attempts = tracing::field::Empty,
            status = tracing::field::Empty,
            elapsed_ms = tracing::field::Empty,
        );
        // Boxed: the attempt loop's state is kilobytes, and inline it would be copied through every future that
        // encloses the generated `send()`, down to the caller's task.
        Box::pin(Call { client: self, state: self.inner().get(), info }.run(request).instrument(span)).await
    }

    async fn post<E>(
        &self,
        result: &reqwest::Result<Response>,
        _info: &OperationInfo,
    ) -> Result<(), GeneratedError<E>> {
        // A body that cannot decode into what its status promises would reach the generated code as a payload
        // error without the status; hand it over as an unexpected response instead, which keeps everything.
        if let Ok(response) = result
            && let Some(received) = response.extensions().get::<ReceivedBody>()
            && received.problem.is_some()
        {
            return Err(GeneratedError::UnexpectedResponse(copy_response(response, received)));
        }
        Ok(())
    }
}

impl Client {
    /// What every request gets before it is sent: the protocol headers and the token. Also for the page fetches
    /// of `Client::pages`, which follow links the service wrote and so skip the argument rules of `pre`.
    pub(crate) async fn prepare<E>(&self, request: &mut Request) -> Result<(), GeneratedError<E>> {
        let state = self.inner().get();
        let headers = request.headers_mut();
        // progenitor sends the spec's version as `api-version`; Partner Center has no such header.
        headers.remove("api-version");
        // Room beyond progenitor's `Accept` for the (at most) five headers below, in one step rather than growing and
        // rehashing on the way, plus one: reqwest then looks `Accept` up again, and any lookup grows a full map.
        headers.reserve(6);
        // One id per call, sent again on every retry: Partner Center's idempotency key.
        headers.insert(MS_REQUEST_ID, uuid_header());
        headers.insert(MS_CORRELATION_ID, state.correlation_id.clone());
        headers.entry(header::USER_AGENT).or_insert_with(|| state.user_agent.clone());
        if request.body().is_none() && matches!(*request.method(), Method::PUT | Method::POST | Method::DELETE) {
            // Without a body reqwest sends no length at all, and Microsoft's front ends answer 411.
            request.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        }
        if let Some(tokens) = &state.tokens {
            // `ClientBuilder::build` refuses such a base URL; this holds the rule for a client made any other way
            // (the generated `Client::new_with_client`), before a token is even asked for.
            if request.url().scheme() != "https" && !crate::config::is_loopback(request.url()) {
                return Err(GeneratedError::InvalidRequest(format!(
                    "refusing to send the bearer token to `{}`: only https, or http to a loopback host",
                    request.url().origin().ascii_serialization()
                )));
            }
            // Hook errors can only be text; `Error::from` finds the structured `AuthError` again by it.
            let failed = |e| GeneratedError::Custom(handover::hand_over(e));
            let token = tokens.token_within(state.call_timeout).await.map_err(failed)?;
            let authorization = bearer(&token).ok_or_else(|| failed(AuthError::new(UNSENDABLE_TOKEN)))?;
            request.headers_mut().insert(header::AUTHORIZATION, authorization);
        }
        Ok(())
    }
}

/// Why a request must not be sent, for the rules that span several fields (which the spec cannot express, and
/// which the service answers with a bare "Null or missing value" or a 500, if at all).
fn refused(operation_id: &str, request: &Request) -> Option<&'static str> {
    let body = || -> Option<serde_json::Value> { serde_json::from_slice(request.body()?.as_bytes()?).ok() };
    match operation_id {
        "create_query" => {
            let body = body()?;
            let blank =
                |field| body.get(field).and_then(serde_json::Value::as_str).is_some_and(|s| s.trim().is_empty());
            if blank("Name") {
                Some("a query's name must not be blank")
            } else if blank("Query") {
                Some("a query's text must not be blank")
            } else {
                None
            }
        }
        "create_report" => {
            let body = body()?;
            unscheduled_report(&body)
                .or_else(|| {
                    let time = |field| body.get(field).and_then(serde_json::Value::as_str);
                    out_of_order(time("QueryStartTime"), time("QueryEndTime"))
                        .then_some("query_start_time must be before query_end_time")
                })
                .or_else(|| unusable_callback(&body))
        }
        "update_report" => unusable_callback(&body()?),
        "try_query" => unusable_try_query(request.url()),
        "get_datasets" => blank_filter(request.url(), &[("datasetName", "dataset_name must not be blank")]),
        "get_queries" => blank_filter(
            request.url(),
            &[("queryId", "query_id must not be blank"), ("queryName", "query_name must not be blank")],
        ),
        "get_reports" => blank_filter(
            request.url(),
            &[
                ("reportId", "report_id must not be blank"),
                ("reportName", "report_name must not be blank"),
                ("queryId", "query_id must not be blank"),
            ],
        ),
        "get_report_executions" => blank_filter(
            request.url(),
            &[
                ("executionId", "execution_id must not be blank"),
                ("executionStatus", "execution_status must not be blank"),
            ],
        )
        .or_else(|| undocumented_execution_status(request.url())),
        _ => None,
    }
}

/// Why a list cannot be asked for: one of its `filters` (query parameter, and the refusal) is blank. An empty filter
/// reads as none (the emulator's, and ASP.NET's usual binding), so an id read from an unset variable would list
/// everything, and the first item would pass for the one asked for.
fn blank_filter(url: &reqwest::Url, filters: &[(&str, &'static str)]) -> Option<&'static str> {
    url.query_pairs().find_map(|(name, value)| {
        let &(_, refusal) = filters.iter().find(|(filter, _)| *filter == name)?;
        value.trim().is_empty().then_some(refusal)
    })
}

/// Why an executions filter cannot be asked for, if it cannot: each of its `;`-separated states must be one the
/// service documents (matched ignoring case and blanks, as the service's enum parse does), or the answer is a 400
/// naming the first other.
fn undocumented_execution_status(url: &reqwest::Url) -> Option<&'static str> {
    let (_, statuses) = url.query_pairs().find(|(name, _)| name == "executionStatus")?;
    let mut entries = statuses.split(';').map(str::trim).filter(|status| !status.is_empty());
    entries
        .any(|status| status.parse::<crate::ExecutionStatus>().is_err())
        .then_some("execution_status must be `;`-separated states out of Pending, Running, Paused and Completed")
}

/// Why a create-report body cannot be scheduled, if it cannot: `StartTime` and `RecurrenceInterval` are required
/// unless the report runs once, now (`ExecuteNow`).
fn unscheduled_report(body: &serde_json::Value) -> Option<&'static str> {
    if body.get("ExecuteNow").and_then(serde_json::Value::as_bool) == Some(true) {
        return None;
    }
    let given = |field: &str| body.get(field).is_some_and(|value| !value.is_null());
    match (given("StartTime"), given("RecurrenceInterval")) {
        (true, true) => None,
        (false, true) => Some("a scheduled report needs a start_time (or execute_now for a single run now)"),
        (true, false) => Some("a scheduled report needs a recurrence_interval (or execute_now for a single run now)"),
        (false, false) => Some(
            "a scheduled report needs a start_time and a recurrence_interval (or execute_now for a single run now)",
        ),
    }
}

/// Whether a start is not before its end, when both are given as times (the service wants the end "greater than"
/// the start).
fn out_of_order(start: Option<&str>, end: Option<&str>) -> bool {
    let time = |text: Option<&str>| crate::Timestamp::try_from(text?).ok();
    matches!((time(start), time(end)), (Some(start), Some(end)) if start >= end)
}

/// Why a callback URL cannot be called back, if it cannot. Not echoed: it may carry a key (`?code=…`).
fn unusable_callback(body: &serde_json::Value) -> Option<&'static str> {
    let url = body.get("CallbackUrl")?.as_str()?;
    (!crate::model::callable(url)).then_some("callback_url must be an absolute http or https URL the service can reach")
}

/// Why a try-query cannot run: it takes exactly one of a query text and a query id, and a time range in order,
/// which only partner insights has (the commercial marketplace documents none, and a window it ignored would go
/// unnoticed: the rows would be the query's own TIMESPAN).
fn unusable_try_query(url: &reqwest::Url) -> Option<&'static str> {
    let (mut text, mut id, mut start, mut end) = (None, None, None, None);
    for (name, value) in url.query_pairs() {
        match &*name {
            "exportQuery" => text = Some(value),
            "queryId" => id = Some(value),
            "startTime" => start = Some(value),
            "endTime" => end = Some(value),
            _ => {}
        }
    }
    match (text, id) {
        (None, None) => Some("try_query needs an export_query (query text) or a query_id"),
        (Some(_), Some(_)) => Some("try_query takes an export_query or a query_id, not both"),
        (Some(text), None) if text.trim().is_empty() => Some("export_query must not be empty"),
        (None, Some(id)) if id.trim().is_empty() => Some("query_id must not be empty"),
        _ if (start.is_some() || end.is_some()) && is_marketplace(url) => Some(
            "start_time and end_time are for partner insights only; on the commercial marketplace the query's \
             TIMESPAN sets the window",
        ),
        _ => out_of_order(start.as_deref(), end.as_deref()).then_some("start_time must be before end_time"),
    }
}

/// Whether `url` is on the commercial marketplace's API (`…/insights/v1.1/cmp/…`, or the older `v1`), whichever
/// host serves it.
fn is_marketplace(url: &reqwest::Url) -> bool {
    url.path_segments().is_some_and(|mut segments| segments.any(|segment| segment == "cmp"))
}

/// One call: its attempts, until success, a final failure, or the deadline.
struct Call<'a> {
    client: &'a Client,
    state: &'a State,
    info: &'a OperationInfo,
}

impl Call<'_> {
    async fn run(&self, mut request: Request) -> reqwest::Result<Response> {
        let started = Instant::now();
        // `None`: a call timeout too large to represent, which means no deadline.
        let deadline = started.checked_add(self.state.call_timeout);
        let left = || deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()));
        let method = request.method().clone();
        let timeouts = retry::Timeouts::of(self.info.operation_id);
        let sent_request_id = request.headers().get(&MS_REQUEST_ID).cloned();
        let mut attempt = 1;
        let mut refreshed_after_401 = false;
        // The last answer the service gave, returned if a retry then runs out of time.
        let mut previous_answer: Option<Response> = None;
        let outcome = loop {
            let spare = spare_copy(&request);
            let sent_token = request.headers().get(header::AUTHORIZATION).cloned();
            let mut outcome = match (self.attempt(request, left()).await, previous_answer.take()) {
                // The call ran out of time on a retry: the earlier answer says more than a timeout, unless the
                // retry may have been taken. A POST retried after a 429 and then timed out may have created what
                // it asked for, and the earlier refusal would say it had not.
                (Err(error), Some(answer))
                    if error.is_timeout() && left().is_zero() && (method.is_idempotent() || error.is_connect()) =>
                {
                    Ok(answer)
                }
                (outcome, _) => outcome,
            };
            let Some(mut next) = spare else { break outcome };

            // A rejected token may have been revoked or rotated early: drop it, get a fresh one, try once more.
            let renewed = match &mut outcome {
                Ok(response)
                    if !refreshed_after_401 && response.status() == StatusCode::UNAUTHORIZED && !left().is_zero() =>
                {
                    match self.replace_rejected(sent_token.as_ref(), left()).await {
                        Ok(fresh) => fresh,
                        // The 401 stands, with why no fresh token came (a revoked grant, an unreachable endpoint):
                        // the cause to fix is there, and the next call would only say it without the 401.
                        Err(refused) => {
                            let key = crate::auth::handover::keep(refused);
                            response.headers_mut().insert(TOKEN_NOT_RENEWED, HeaderValue::from(key));
                            break outcome;
                        }
                    }
                }
                _ => None,
            };
            if let Some(fresh) = renewed {
                // The refresh may have used up the call's time: a retry that cannot finish would only turn the 401
                // into a timeout.
                if self.shortest_attempt() >= left() {
                    tracing::debug!(attempt, "401: not retrying, the call timeout would pass");
                    break outcome;
                }
                tracing::debug!(attempt, "401: retrying once with a fresh token");
                refreshed_after_401 = true;
                next.headers_mut().insert(header::AUTHORIZATION, fresh);
                previous_answer = outcome.ok();
                request = next;
                attempt += 1;
                continue;
            }

            let Some(transient) = retry::transient(&method, timeouts, &outcome) else { break outcome };
            if attempt >= self.state.retry.attempts() {
                break outcome;
            }
            if self.state.retry.hint_too_long(transient.hint) {
                tracing::debug!(attempt, reason = %transient.reason, "not retrying: the server asked for a longer wait");
                break outcome;
            }
            let wait = self.state.retry.wait(attempt, transient.hint);
            // A retry needs time for an answer too: the wait plus a short attempt must fit before the deadline.
            if wait.saturating_add(self.shortest_attempt()) >= left() {
                tracing::debug!(attempt, reason = %transient.reason, "not retrying: the call timeout would pass");
                break outcome;
            }
            tracing::warn!(attempt, reason = %transient.reason, wait_ms = wait.as_millis() as u64, "retrying");
            tokio::time::sleep(wait).await;
            // The token may have been refreshed (or expired) meanwhile; asking may not eat the call's time.
            if let Some(tokens) = &self.state.tokens
                && let Ok(token) = tokens.token_within(left()).await
                && let Some(authorization) = bearer(&token)
            {
                next.headers_mut().insert(header::AUTHORIZATION, authorization);
            }
            // A slow token ask may have used up what the wait left: an attempt without time for an answer would
            // only turn this answer into a timeout (and send a POST that nobody hears back from).
            if self.shortest_attempt() >= left() {
                tracing::debug!(attempt, "not retrying: the token took the time left for the call");
                break outcome;
            }
            previous_answer = outcome.ok();
            request = next;
            attempt += 1;
        };
        let span = tracing::Span::current();
        span.record("attempts", attempt);
        span.record("elapsed_ms", started.elapsed().as_millis() as u64);
        match &outcome {
            Ok(response) => {
                span.record("status", response.status().as_u16());
                tracing::debug!(request_id = crate::error::request_id(response.headers()), "answered");
            }
            Err(error) => tracing::debug!(error = %without_url(error), "failed"),
        }
        with_call_record(outcome, attempt, sent_request_id)
    }

    /// One attempt, its body read in full, within the attempt timeout and what is `left` of the call's.
    async fn attempt(&self, mut request: Request, left: Duration) -> reqwest::Result<Response> {
        let timeout = self.state.attempt_timeout(self.info.operation_id).min(left).max(Duration::from_millis(1));
        if self.state.client_timeout != Some(timeout) {
            *request.timeout_mut() = Some(timeout);
        }
        let response = self.client.client().execute(request).await?;
        with_received_body(response, self.info).await
    }

    /// The least time worth starting another attempt with.
    fn shortest_attempt(&self) -> Duration {
        MIN_ATTEMPT.min(self.state.attempt_timeout(self.info.operation_id))
    }

    /// After a 401: invalidates the token that was sent and returns a header with a different one, if there is
    /// one; an error when the provider failed to give one.
    async fn replace_rejected(
        &self,
        sent: Option<&HeaderValue>,
        left: Duration,
    ) -> Result<Option<HeaderValue>, AuthError> {
        let (Some(tokens), Some(sent)) = (self.state.tokens.as_ref(), sent) else { return Ok(None) };
        if let Some(rejected) = token_in(sent) {
            tokens.invalidate(&rejected);
        }
        let fresh = bearer(&tokens.token_within(left).await?).ok_or_else(|| AuthError::new(UNSENDABLE_TOKEN))?;
        Ok((fresh != sent).then_some(fresh))
    }
}

/// A copy of `request` to send again, or `None` when its body is a stream that cannot be sent twice.
fn spare_copy(request: &Request) -> Option<Request> {
    if request.body().is_some() {
        return request.try_clone();
    }
    // Not `try_clone` for the bodyless majority: it also writes a timeout entry into a new extension map and then
    // replaces that map (three allocations per call, thrown away). A timeout is the only extension a request built
    // through reqwest's API can carry (reqwest 0.13.5; the test below compares the two copies field by field).
    let mut copy = Request::new(request.method().clone(), request.url().clone());
    *copy.headers_mut() = request.headers().clone();
    *copy.version_mut() = request.version();
    if let Some(timeout) = request.timeout() {
        *copy.timeout_mut() = Some(*timeout);
    }
    Some(copy)
}

/// The least time worth starting a retry with (or the attempt timeout, if shorter); also for a token ask.
pub(crate) const MIN_ATTEMPT: Duration = Duration::from_millis(500);

/// Marks a call's outcome with its number of attempts (when retried) and, when it fails, the request id it sent,
/// where `Error::from` can read them.
fn with_call_record(
    outcome: reqwest::Result<Response>,
    attempts: u32,
    sent_request_id: Option<HeaderValue>,
) -> reqwest::Result<Response> {
    match outcome {
        Ok(mut response) => {
            // Any retried answer: a success may still fail to decode (a page of `Client::pages`).
            if attempts > 1 {
                response.headers_mut().insert(ATTEMPTS, HeaderValue::from(attempts));
            }
            // Every answer that will fail the call: an error status, and a success whose body cannot decode (which
            // carries its received body for the error to be built from). Not every success: a header per call.
            let failing = !response.status().is_success() || response.extensions().get::<ReceivedBody>().is_some();
            if failing {
                record_sent_request_id(response.headers_mut(), sent_request_id);
            }
            Ok(response)
        }
        Err(error) => match error.url().cloned() {
            Some(mut url) => {
                // Our own ids are UUIDs: nothing in them needs escaping in a fragment.
                let sent = sent_request_id.as_ref().and_then(|id| id.to_str().ok());
                let record = match (sent, attempts) {
                    (Some(id), 1) => format!("request-id={id}"),
                    (Some(id), n) => format!("request-id={id}&attempts={n}"),
                    (None, n) => format!("attempts={n}"),
                };
                // After what the attempt recorded (the status of an answer whose body broke off).
                let record = match url.fragment() {
                    Some(recorded) => format!("{recorded}&{record}"),
                    None => record,
                };
                url.set_fragment(Some(&record));
                Err(error.with_url(url))
            }
            None => Err(error),
        },
    }
}

/// What the names this crate records a call under begin with.
const RECORD_PREFIX: &str = "x-partner-center-insights-";

/// Every name this crate records a call under.
const RECORDED: [HeaderName; 3] = [TOKEN_NOT_RENEWED, ATTEMPTS, SENT_REQUEST_ID];

/// Removes the names this crate records a call under from headers a server sent: a server that set them would
/// pose as that record (and a marker's key could take another call's token failure).
pub(crate) fn forget_recorded(headers: &mut header::HeaderMap) {
    for recorded in &RECORDED {
        headers.remove(recorded);
    }
}

/// Puts the request id a call sent on the headers of its answer, if the answer carries none of its own, where
/// `Error::from_response` finds it.
pub(crate) fn record_sent_request_id(headers: &mut header::HeaderMap, sent: Option<HeaderValue>) {
    if let Some(sent) = sent
        && crate::error::request_id(headers).is_none()
    {
        headers.insert(SENT_REQUEST_ID, sent);
    }
}

/// A reqwest error's message without its URL (which may carry ids), for logs.
fn without_url(error: &reqwest::Error) -> String {
    let text = error.to_string();
    match error.url() {
        Some(url) => text.replace(url.as_str(), "…"),
        None => text,
    }
}

/// A random (version 4) UUID. From a fast per-thread generator: request ids must be unique, not unpredictable,
/// and the operating system's generator would cost a system call per id.
pub(crate) fn random_uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid()
}

pub(crate) fn uuid_header() -> HeaderValue {
    let mut buffer = [0u8; uuid::fmt::Hyphenated::LENGTH];
    random_uuid().hyphenated().encode_lower(&mut buffer);
    // Shared from the start: the retry layer's copy of the request then clones it without a second allocation.
    HeaderValue::from_maybe_shared(Bytes::from_owner(buffer)).expect("a UUID is a valid header value")
}

/// The token inside a `Bearer` header value.
fn token_in(header: &HeaderValue) -> Option<AccessToken> {
    let token = header.to_str().ok()?.strip_prefix("Bearer ")?;
    Some(AccessToken::new(token, None))
}

fn bearer(token: &AccessToken) -> Option<HeaderValue> {
    token.header().cloned()
}

/// Reads the whole body (the generated code would anyway), normalizes its casing, and records whether it can
/// decode, then puts it back on an otherwise identical response.
async fn with_received_body(mut response: Response, info: &OperationInfo) -> reqwest::Result<Response> {
    use reqwest::ResponseBuilderExt;
    let (status, version) = (response.status(), response.version());
    let mut headers = std::mem::take(response.headers_mut());
    // A look at a few names, so the removals (hashing each name) only run when a server did send one.
    if headers.keys().any(|name| name.as_str().starts_with(RECORD_PREFIX)) {
        forget_recorded(&mut headers);
    }
    let extensions = std::mem::take(response.extensions_mut());
    // Carried over explicitly: reqwest would otherwise parse a placeholder URL (IDNA included) for the new response.
    let url = response.url().clone();
    // `chunk()` errors carry no URL (`bytes()` errors did); `with_call_record` needs one to record the call in, and
    // the status goes in with it: a POST answered 200 whose body then broke off did create what it asked for.
    let broken = |error: reqwest::Error| {
        let mut at = url.clone();
        at.set_fragment(Some(&format!("status={}", status.as_u16())));
        error.with_url(at)
    };
    let received = match read_body(&mut response).await.map_err(broken)? {
        Body::Whole(bytes) => inspect(status, bytes, info.operation_id),
        Body::TooLarge(start) => ReceivedBody { bytes: start, problem: Some(BodyProblem::TooLarge) },
    };
    let mut rebuilt = http::Response::builder().status(status).version(version);
    if let Some(rebuilt_headers) = rebuilt.headers_mut() {
        *rebuilt_headers = headers;
    }
    // The received extensions first, then the URL into the same map: no second map to build and merge.
    if let Some(rebuilt_extensions) = rebuilt.extensions_mut() {
        *rebuilt_extensions = extensions;
    }
    rebuilt = rebuilt.url(url);
    let body = received.bytes.clone();
    // What the generated code decodes needs no record; anything else may become an error built from it.
    if status != StatusCode::OK || received.problem.is_some() {
        rebuilt = rebuilt.extension(received);
    }
    Ok(Response::from(rebuilt.body(body).expect("parts taken from a valid response")))
}

/// The most of a response body the client reads. The largest real answers (a long execution history) are a few
/// MiB; beyond this a server is broken or hostile, and reading on would only exhaust memory.
pub(crate) const MAX_BODY_BYTES: usize = 64 << 20;
/// How much of a body over `MAX_BODY_BYTES` is kept for the error.
pub(crate) const KEPT_OF_TOO_LARGE: usize = 64 << 10;

enum Body {
    Whole(Bytes),
    /// Over `MAX_BODY_BYTES`: what was read of it, up to `KEPT_OF_TOO_LARGE` (nothing when its declared length was
    /// already too large); the rest is left unread.
    TooLarge(Bytes),
}

/// The whole body, up to `MAX_BODY_BYTES`. Chunk by chunk rather than `bytes()`: the usual one-chunk body then
/// costs no buffer list and no copy.
async fn read_body(response: &mut Response) -> reqwest::Result<Body> {
    if response.content_length().is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Ok(Body::TooLarge(Bytes::new()));
    }
    let Some(first) = response.chunk().await? else { return Ok(Body::Whole(Bytes::new())) };
    if first.len() > MAX_BODY_BYTES {
        return Ok(start_of(&first, &[]));
    }
    let Some(mut chunk) = response.chunk().await? else { return Ok(Body::Whole(first)) };
    let mut all = Vec::with_capacity(first.len() + chunk.len());
    all.extend_from_slice(&first);
    loop {
        let needed = all.len() + chunk.len();
        if needed > MAX_BODY_BYTES {
            return Ok(start_of(&all, &chunk));
        }
        // Grown by doubling as usual, but never past the limit: the allocation stays within it too.
        if needed > all.capacity() {
            all.reserve_exact(needed.max(all.capacity() * 2).min(MAX_BODY_BYTES) - all.len());
        }
        all.extend_from_slice(&chunk);
        match response.chunk().await? {
            Some(next) => chunk = next,
            None => return Ok(Body::Whole(all.into())),
        }
    }
}

/// The start of a body over the limit (`read`, then `next`), copied: it must not hold the large buffer alive for
/// as long as the error lives.
fn start_of(read: &[u8], next: &[u8]) -> Body {
    let mut kept = Vec::with_capacity(KEPT_OF_TOO_LARGE);
    kept.extend_from_slice(&read[..read.len().min(KEPT_OF_TOO_LARGE)]);
    kept.extend_from_slice(&next[..next.len().min(KEPT_OF_TOO_LARGE - kept.len())]);
    Body::TooLarge(kept.into())
}

/// The body with its keys normalized, and whether it can decode into what `status` promises.
pub(crate) fn inspect(status: StatusCode, bytes: Bytes, operation_id: &str) -> ReceivedBody {
    let items = if operation_id == "try_query" { Items::Rows } else { Items::Typed };
    let bytes = without_byte_order_mark(bytes);
    match casing::normalize(&bytes, items) {
        Ok(casing::Normalized { bytes, enveloped }) => {
            let problem = if !status.is_success() {
                envelope_problem(&bytes)
            } else if !enveloped {
                Some(BodyProblem::NotAnEnvelope(NO_ENVELOPE_FIELD.to_owned()))
            } else {
                success_problem(operation_id, &bytes)
            };
            ReceivedBody { bytes, problem }
        }
        Err(malformed) => ReceivedBody { bytes, problem: Some(BodyProblem::NotJson(malformed)) },
    }
}

/// The whole decode path of a response, as the hooks and then the generated code run it, down to this crate's
/// `Error`: for the benchmarks and the property tests, which must measure and exercise exactly that.
pub fn decode_body<T: serde::de::DeserializeOwned>(
    status: StatusCode,
    body: Bytes,
    operation_id: &str,
) -> Result<T, crate::Error> {
    use crate::OperationError;
    let received = inspect(status, body, operation_id);
    let unexpected = |received: ReceivedBody| {
        let bytes = received.bytes.clone();
        let response = http::Response::builder().status(status).extension(received).body(bytes);
        let response = response.expect("a status and a body make a valid response");
        crate::Error::from(OperationError::UnexpectedResponse(Response::from(response)))
    };
    if received.problem.is_some() {
        return Err(unexpected(received));
    }
    if status == StatusCode::OK {
        serde_json::from_slice::<T>(&received.bytes)
            .map_err(|e| OperationError::InvalidResponsePayload(received.bytes.clone(), e).into())
    } else if status.is_client_error() || status.is_server_error() {
        let envelope: types::ErrorEnvelope = serde_json::from_slice(&received.bytes)
            .map_err(|e| OperationError::InvalidResponsePayload(received.bytes.clone(), e))?;
        let value = progenitor_client::ResponseValue::new(envelope, status, Default::default());
        Err(OperationError::ErrorResponse(value).into())
    } else {
        Err(unexpected(received))
    }
}

/// The UTF-8 byte order mark, which .NET writers may put before JSON and JSON parsers refuse.
pub(crate) const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// `body` without a leading byte order mark, uncopied.
fn without_byte_order_mark(body: Bytes) -> Bytes {
    if body.starts_with(BYTE_ORDER_MARK) { body.slice(BYTE_ORDER_MARK.len()..) } else { body }
}

/// Why a success body cannot decode into what the operation promises, checked before the generated code decodes it,
/// whose payload error would keep the body only (not the status, the request id or the attempt count) and print it
/// whole. Datasets, queries and query results are checked always: they are not the calls made thousands of times
/// a minute. Reports and executions, which are, only where the failure could show a secret: they carry links whose
/// query, fragment or user info (`?sig=…`, `?code=…`) must not reach a log that way. Bodies that may hold such a
/// link decode twice; the others (no `?`, `#`, `@` or escape anywhere, and each link a plain http(s) URL or `null`)
/// once.
fn success_problem(operation_id: &str, body: &[u8]) -> Option<BodyProblem> {
    let decoded = match operation_id {
        "get_datasets" => serde_json::from_slice::<types::DatasetEnvelope>(body).map(drop),
        "create_query" | "get_queries" | "delete_query" => {
            serde_json::from_slice::<types::QueryEnvelope>(body).map(drop)
        }
        "try_query" => serde_json::from_slice::<types::QueryResultEnvelope>(body).map(drop),
        "get_report_executions" if may_show_a_secret(body) => {
            serde_json::from_slice::<types::ExecutionEnvelope>(body).map(drop)
        }
        "create_report" | "get_reports" | "update_report" | "delete_report" | "pause_report" | "resume_report"
            if may_show_a_secret(body) =>
        {
            serde_json::from_slice::<types::ReportEnvelope>(body).map(drop)
        }
        _ => return None,
    };
    decoded.err().map(|e| BodyProblem::WrongShape(crate::error::without_quoted_values(e).to_string()))
}

/// Whether `body` may hold a link that prints less than whole: the characters that start a URL's hidden parts (or
/// an escape, which could spell one) anywhere, or a link key with a value other than `null` or an http(s) URL
/// that parses (one that does not prints as `<not a URL>`).
fn may_show_a_secret(body: &[u8]) -> bool {
    use memchr::memmem::Finder;
    use std::sync::LazyLock;
    static LINK_KEYS: LazyLock<[Finder; 2]> =
        LazyLock::new(|| [Finder::new(b"\"reportAccessSecureLink\""), Finder::new(b"\"callbackUrl\"")]);
    if memchr::memchr3(b'?', b'#', b'@', body).is_some() || memchr::memchr(b'\\', body).is_some() {
        return true;
    }
    let shows_whole = |value: &[u8]| {
        let Some(text) = value.strip_prefix(b"\"") else {
            // `null` as a whole value (the scan checks brackets and strings only, not what lies between).
            let after = value.strip_prefix(b"null").map(<[u8]>::trim_ascii_start);
            return after.is_some_and(|after| matches!(after.first(), Some(b',' | b'}' | b']')));
        };
        // No escapes in the body (above), so the string ends at the next quote and is as it decodes.
        let text = &text[..memchr::memchr(b'"', text).unwrap_or(text.len())];
        plainly_whole(text)
            || std::str::from_utf8(text)
                .ok()
                .and_then(|text| url::Url::parse(text).ok())
                .is_some_and(|url| matches!(url.scheme(), "http" | "https"))
    };
    LINK_KEYS.iter().any(|key| {
        key.find_iter(body).any(|at| {
            let rest = body[at + key.needle().len()..].trim_ascii_start();
            !shows_whole(rest.strip_prefix(b":").unwrap_or(rest).trim_ascii_start())
        })
    })
}

/// Whether `text` is an http(s) URL that certainly parses (and has no hidden part), told without parsing it, which
/// costs thousands of instructions, most of them the host's IDNA mapping: only letters, digits and `-._~/`, and a
/// host of plain DNS labels whose last begins with a letter (a last label of digits reads as IPv4, and `xn--` as
/// punycode, and either may fail).
fn plainly_whole(text: &[u8]) -> bool {
    let Some(rest) = text.strip_prefix(b"https://").or_else(|| text.strip_prefix(b"http://")) else { return false };
    let (host, path) = rest.split_at(memchr::memchr(b'/', rest).unwrap_or(rest.len()));
    let plain_label = |label: &[u8]| {
        !label.is_empty()
            && label.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.get(..4).is_some_and(|start| start.eq_ignore_ascii_case(b"xn--"))
    };
    host.split(|&b| b == b'.').all(plain_label)
        && host.rsplit(|&b| b == b'.').next().and_then(|last| last.first()).is_some_and(u8::is_ascii_alphabetic)
        && path.iter().all(|&b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b))
}

const NO_ENVELOPE_FIELD: &str = "it has none of the envelope's fields";

/// Why an error body is not the service's envelope, if it is not: it must decode, and carry at least one of the
/// envelope's fields (all are optional, so any other JSON object, such as a gateway's `{"error":…}`, would decode
/// as an empty envelope and lose what it says).
fn envelope_problem(body: &[u8]) -> Option<BodyProblem> {
    match serde_json::from_slice::<types::ErrorEnvelope>(body) {
        Err(e) => Some(BodyProblem::NotAnEnvelope(crate::error::without_quoted_values(e).to_string())),
        Ok(types::ErrorEnvelope { message: None, status_code: None, total_count: None, value: None, .. }) => {
            Some(BodyProblem::NotAnEnvelope(NO_ENVELOPE_FIELD.to_owned()))
        }
        // `{"statusCode":500,"error":{"message":…}}`: read as an envelope, it would say nothing.
        Ok(types::ErrorEnvelope { message: None, .. }) if crate::error::message_in(body).is_some() => {
            Some(BodyProblem::NotAnEnvelope("its message is not the envelope's".to_owned()))
        }
        Ok(_) => None,
    }
}

fn copy_response(response: &Response, received: &ReceivedBody) -> Response {
    use reqwest::ResponseBuilderExt;
    let mut copy = http::Response::builder()
        .status(response.status())
        .version(response.version())
        .url(response.url().clone())
        .extension(received.clone());
    if let Some(headers) = copy.headers_mut() {
        headers.extend(response.headers().iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let copy = copy.body(received.bytes.clone()).expect("parts taken from a valid response");
    Response::from(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorization_header_is_marked_sensitive() {
        let header = bearer(&crate::AccessToken::new(" t0ken\n", None)).expect("a sendable token");
        assert_eq!(header.to_str().unwrap(), "Bearer t0ken");
        // hyper and `http` keep a sensitive value out of HPACK tables and print it as `Sensitive`.
        assert!(header.is_sensitive());
        assert_eq!(format!("{header:?}"), "Sensitive");
        assert!(bearer(&crate::AccessToken::new("Bearer t0ken", None)).is_none(), "pasted with its scheme");
    }

    #[test]
    fn a_link_told_whole_without_parsing_parses_whole() {
        let whole = |text: &str| {
            url::Url::parse(text).is_ok_and(|url| {
                matches!(url.scheme(), "http" | "https") && url.query().is_none() && url.fragment().is_none()
            })
        };
        for text in [
            "https://contoso.example/insights/callback",
            "http://a-b.c0.example/r.csv",
            "HTTPS://Contoso.Example/A_b~c/",
            "https://s.example",
            "https://256.0.0.1/r/SIG",
            "https://1.2.3.4.5/r",
            "https://0x100000000/r",
            "https://09/r",
            "https://xn--a/r",
            "https://XN--a.example/r",
            "https://",
            "https://a..b/r",
            "https://-a.example/r",
            "https://s.example:99999/r",
            "sas:sv=1&sig=SIG",
            "https://s.example/r?sig=SIG",
        ] {
            if plainly_whole(text.as_bytes()) {
                assert!(whole(text), "{text} was told whole, but does not parse whole");
            }
        }
        assert!(plainly_whole(b"https://contoso.example/insights/callback"), "the common case needs no parse");
        assert!(plainly_whole(b"https://1a.example/r") && !plainly_whole(b"https://a.1b/r"));
        // And over random text of the characters that matter (seeded, so a failure replays): told whole only if it
        // parses whole.
        let alphabet = b"ab0x9-._~/:XN";
        let mut random = fastrand::Rng::with_seed(0x1A51_6475);
        for _ in 0..20_000 {
            let tail: Vec<u8> = (0..random.usize(0..14)).map(|_| alphabet[random.usize(..alphabet.len())]).collect();
            let text = format!("https://{}", String::from_utf8(tail).unwrap());
            if plainly_whole(text.as_bytes()) {
                assert!(whole(&text), "{text} was told whole, but does not parse whole");
            }
        }
        for failing in ["https://256.0.0.1/r/SIG", "https://xn--a/r", "https://09/r", "https://"] {
            assert!(!plainly_whole(failing.as_bytes()) && !whole(failing), "{failing}");
        }
    }

    /// Everything a request has that reqwest's public API can see.
    fn fields(request: &Request) -> String {
        let body = request.body().map(|b| b.as_bytes().map(<[u8]>::to_vec));
        format!(
            "{} {} {:?} {:?} {:?} {body:?}",
            request.method(),
            request.url(),
            request.headers(),
            request.version(),
            request.timeout()
        )
    }

    #[test]
    fn every_record_header_has_the_prefix_that_is_looked_for() {
        for name in &RECORDED {
            assert!(name.as_str().starts_with(RECORD_PREFIX), "{name}");
        }
    }

    #[test]
    fn the_spare_copy_is_what_try_clone_would_give() {
        let client = crate::http_client_builder().unwrap().build().unwrap();
        let requests = [
            client.get("http://127.0.0.1:9/a?b=c").header("ms-requestid", "x").build().unwrap(),
            client.put("http://127.0.0.1:9/r/1").timeout(Duration::from_secs(7)).build().unwrap(),
            client.delete("http://127.0.0.1:9/r/1").version(reqwest::Version::HTTP_2).build().unwrap(),
            client.post("http://127.0.0.1:9/q").body("{\"a\":1}").timeout(Duration::from_secs(3)).build().unwrap(),
        ];
        for request in &requests {
            let (ours, theirs) = (spare_copy(request).unwrap(), request.try_clone().unwrap());
            assert_eq!(fields(&ours), fields(&theirs));
            assert_eq!(fields(&ours), fields(request));
        }
    }
}
