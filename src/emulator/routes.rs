// HTTP plumbing: which URL is which operation (ignoring case, as ASP.NET does), the order every API request goes
// through (fault, bearer check, clock catch-up, operation, envelope), token endpoints, downloads and admin routes.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::Program;

use super::context::Shared;
use super::envelope::{ApiError, Renderer, json_response};
use super::faults::{Fault, FaultScope, canned_response};
use super::messages;
use super::operations::{self as ops, Call};
use super::server::ConnectionKiller;
use super::state::wire_time;
use super::token::{self, Version};
use super::validation::{Body as JsonBody, Params};
use super::{files, paths};

/// Largest request body read; the API's bodies are a few hundred bytes.
const MAX_BODY_BYTES: usize = 1024 * 1024;

const MS_REQUEST_ID: HeaderName = HeaderName::from_static("ms-requestid");
const MS_CORRELATION_ID: HeaderName = HeaderName::from_static("ms-correlationid");

type SharedState = State<Arc<Shared>>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/_emulator/faults", post(add_fault).get(list_faults).delete(clear_faults))
        .route("/_emulator/clock", get(clock_now))
        .route("/_emulator/clock/advance", post(advance_clock))
        .route("/_emulator/files/{execution_id}", get(download))
        .route("/{tenant}/oauth2/token", post(token_v1))
        .route("/{tenant}/oauth2/v2.0/token", post(token_v2))
        .fallback(api)
        .with_state(shared)
}

/// Applies the next queued fault for `scope`, if any: `Some` is the response to send instead of the real one.
/// Takes the request's connection killer rather than the request, whose body is not `Sync`.
async fn injected_fault(
    shared: &Shared,
    scope: FaultScope,
    killer: Option<ConnectionKiller>,
    renderer: Option<Renderer>,
) -> Option<Response> {
    match shared.faults.take(scope)? {
        Fault::Delay(delay) => {
            tokio::time::sleep(delay).await;
            None
        }
        Fault::DropConnection => {
            if let Some(killer) = killer {
                killer.kill();
                // The connection task drops this future along with the connection.
                std::future::pending::<()>().await;
            }
            Some(StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        fault => canned_response(&fault, renderer),
    }
}

fn killer(request: &Request) -> Option<ConnectionKiller> {
    request.extensions().get::<ConnectionKiller>().cloned()
}

// ---- The API ----

/// Which operation a request is.
#[derive(Debug)]
enum Operation {
    GetDatasets,
    CreateQuery,
    GetQueries,
    DeleteQuery(String),
    TryQuery,
    CreateReport,
    GetReports,
    UpdateReport(String),
    DeleteReport(String),
    PauseReport(String),
    ResumeReport(String),
    GetExecutions(String),
}

/// Resolves `method` + the path below the program base. A known path with the wrong method is a 405.
fn operation(method: &Method, rest: &str) -> Result<Operation, ApiError> {
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let is = |segment: &str, name: &str| segment.eq_ignore_ascii_case(name);
    let id = |segment: &str| paths::percent_decode(segment);
    let wrong_method = || ApiError::new(StatusCode::METHOD_NOT_ALLOWED, messages::METHOD_NOT_ALLOWED);
    let m = method.clone();
    match segments.as_slice() {
        [d] if is(d, "ScheduledDataset") => match m {
            Method::GET => Ok(Operation::GetDatasets),
            _ => Err(wrong_method()),
        },
        [q] if is(q, "ScheduledQueries") => match m {
            Method::GET => Ok(Operation::GetQueries),
            Method::POST => Ok(Operation::CreateQuery),
            _ => Err(wrong_method()),
        },
        // `testQueryResult` is both try-query (GET) and, for DELETE, an ordinary (unknown) query id.
        [q, t] if is(q, "ScheduledQueries") && is(t, "testQueryResult") && m == Method::GET => Ok(Operation::TryQuery),
        [q, query_id] if is(q, "ScheduledQueries") => match m {
            Method::DELETE => Ok(Operation::DeleteQuery(id(query_id))),
            _ => Err(wrong_method()),
        },
        [r] if is(r, "ScheduledReport") => match m {
            Method::GET => Ok(Operation::GetReports),
            Method::POST => Ok(Operation::CreateReport),
            _ => Err(wrong_method()),
        },
        [r, action, report_id] if is(r, "ScheduledReport") && is(action, "pause") => match m {
            Method::PUT => Ok(Operation::PauseReport(id(report_id))),
            _ => Err(wrong_method()),
        },
        [r, action, report_id] if is(r, "ScheduledReport") && is(action, "resume") => match m {
            Method::PUT => Ok(Operation::ResumeReport(id(report_id))),
            _ => Err(wrong_method()),
        },
        [r, action, report_id] if is(r, "ScheduledReport") && is(action, "execution") => match m {
            Method::GET => Ok(Operation::GetExecutions(id(report_id))),
            _ => Err(wrong_method()),
        },
        // An action without its report id (`pause/`, an empty id segment) names no report, not one called `pause`.
        [r, action] if is(r, "ScheduledReport") && ["pause", "resume", "execution"].iter().any(|a| is(action, a)) => {
            Err(ApiError::not_found(messages::RESOURCE_NOT_FOUND))
        }
        [r, report_id] if is(r, "ScheduledReport") => match m {
            Method::PUT => Ok(Operation::UpdateReport(id(report_id))),
            Method::DELETE => Ok(Operation::DeleteReport(id(report_id))),
            _ => Err(wrong_method()),
        },
        _ => Err(ApiError::not_found(messages::RESOURCE_NOT_FOUND)),
    }
}

/// Every API request (and anything else unknown) lands here. Answers carry `MS-RequestId` and `MS-CorrelationId`,
/// echoing the client's when it sent them, as Partner Center does, so clients can show them in errors.
async fn api(state: SharedState, request: Request) -> Response {
    let ids: Vec<_> = [MS_REQUEST_ID, MS_CORRELATION_ID]
        .into_iter()
        .map(|name| {
            let value = request.headers().get(&name).cloned();
            let value = value.or_else(|| HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).ok());
            (name, value)
        })
        .collect();
    let mut response = api_response(state, request).await;
    for (name, value) in ids {
        if let Some(value) = value {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// Microsoft's front ends (HTTP.sys) answer a PUT or POST that states no length, not even 0, with a bare 411 page
/// before the service sees it; so does the emulator, so a client that forgets `Content-Length: 0` fails here too.
fn length_required(request: &Request) -> Option<Response> {
    let stated = request.headers().contains_key(header::CONTENT_LENGTH)
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    if stated || !matches!(*request.method(), axum::http::Method::PUT | axum::http::Method::POST) {
        return None;
    }
    // HTTP.sys's own page, its missing space in the doctype included.
    let page = concat!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"\"http://www.w3.org/TR/html4/strict.dtd\">\r\n",
        "<HTML><HEAD><TITLE>Length Required</TITLE></HEAD><BODY><h2>Length Required</h2><hr>",
        "<p>HTTP Error 411. The request must be chunked or have a content length.</p></BODY></HTML>\r\n",
    );
    let mut response = Response::new(axum::body::Body::from(page));
    *response.status_mut() = StatusCode::LENGTH_REQUIRED;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=us-ascii"));
    Some(response)
}

/// The pipeline: fault injection, bearer check, length, routing, body, clock catch-up, operation, envelope.
async fn api_response(State(shared): SharedState, request: Request) -> Response {
    let Some((program, rest)) = paths::split_program(request.uri().path()) else {
        let renderer = Renderer { program: Program::Partner, casing: shared.settings.casing };
        return renderer.error(&ApiError::not_found(messages::RESOURCE_NOT_FOUND));
    };
    let rest = rest.to_owned();
    let renderer = shared.renderer(program);
    if let Some(response) = injected_fault(&shared, FaultScope::Api, killer(&request), Some(renderer)).await {
        return response;
    }
    if let Some(response) = length_required(&request) {
        return response;
    }
    let Some(caller) = shared.auth.authenticate(request.headers(), shared.now()) else {
        let mut response = renderer.error(&ApiError::new(StatusCode::UNAUTHORIZED, messages::UNAUTHORIZED));
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    };
    let operation = match operation(request.method(), &rest) {
        Ok(operation) => operation,
        Err(error) => return renderer.error(&error),
    };
    let params = Params::parse(request.uri().query());
    let path = request.uri().path().to_owned();
    let body = match operation {
        Operation::CreateQuery | Operation::CreateReport | Operation::UpdateReport(_) => {
            // An unreadable or oversized body reads as no body, which every required field then reports.
            let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await.unwrap_or_default();
            JsonBody::parse(&bytes)
        }
        _ => JsonBody::default(),
    };

    // On the wall clock, time has moved since the last tick: apply what is due before answering.
    if shared.clock.is_real_time() {
        for due in shared.catch_up().0 {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move { shared.callbacks.deliver(due).await });
        }
    }

    let call = Call { shared: &shared, program, now: shared.now(), caller };
    let result = {
        let mut world = shared.world();
        let state = world.program(program);
        match &operation {
            Operation::GetDatasets => ops::get_datasets(&call, &params),
            Operation::CreateQuery => ops::create_query(&call, state, &body),
            Operation::GetQueries => ops::get_queries(&call, state, &params),
            Operation::DeleteQuery(id) => ops::delete_query(&call, state, id),
            Operation::TryQuery => ops::try_query(&call, state, &params),
            Operation::CreateReport => ops::create_report(&call, state, &body),
            Operation::GetReports => ops::get_reports(state, &params),
            Operation::UpdateReport(id) => ops::update_report(&call, state, id, &body),
            Operation::DeleteReport(id) => ops::delete_report(state, id),
            Operation::PauseReport(id) => ops::pause_report(&call, state, id),
            Operation::ResumeReport(id) => ops::resume_report(&call, state, id),
            Operation::GetExecutions(ids) => ops::get_executions(&call, state, ids, &params),
        }
    };
    let listing = matches!(
        operation,
        Operation::GetDatasets | Operation::GetQueries | Operation::GetReports | Operation::GetExecutions(_)
    );
    match result {
        Ok(reply) => match shared.settings.page_size.filter(|_| listing) {
            Some(size) => {
                let skip = params.get("skip").and_then(|n| n.parse().ok()).unwrap_or(0);
                renderer.success(reply.page(&path, params.pairs(), skip, size))
            }
            None => renderer.success(reply),
        },
        Err(error) => renderer.error(&error),
    }
}

// ---- Downloads and tokens ----

async fn download(State(shared): SharedState, request: Request) -> Response {
    if let Some(response) = injected_fault(&shared, FaultScope::Download, killer(&request), None).await {
        return response;
    }
    let execution_id = request.uri().path().rsplit('/').next().map(paths::percent_decode).unwrap_or_default();
    files::serve(&shared, &execution_id, request.uri().query(), request.headers())
}

async fn token_v1(State(shared): SharedState, request: Request) -> Response {
    token_endpoint(shared, Version::V1, request).await
}

async fn token_v2(State(shared): SharedState, request: Request) -> Response {
    token_endpoint(shared, Version::V2, request).await
}

async fn token_endpoint(shared: Arc<Shared>, version: Version, request: Request) -> Response {
    if let Some(response) = injected_fault(&shared, FaultScope::Token, killer(&request), None).await {
        return response;
    }
    let tenant = request.uri().path().split('/').find(|s| !s.is_empty()).map(paths::percent_decode).unwrap_or_default();
    let body = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await.unwrap_or_default();
    token::handle(&shared, version, &tenant, &body)
}

// ---- Admin ----

fn admin_error(message: impl Into<String>) -> Response {
    json_response(StatusCode::BAD_REQUEST, &json!({ "error": message.into() }))
}

async fn add_fault(State(shared): SharedState, body: Bytes) -> Response {
    match shared.faults.push_json(&body) {
        Ok(count) => json_response(StatusCode::OK, &json!({ "queued": count, "pending": shared.faults.pending() })),
        Err(message) => admin_error(message),
    }
}

async fn list_faults(State(shared): SharedState) -> Response {
    json_response(StatusCode::OK, &json!({ "pending": shared.faults.pending() }))
}

async fn clear_faults(State(shared): SharedState) -> Response {
    shared.faults.clear();
    (StatusCode::NO_CONTENT, Body::empty()).into_response()
}

fn clock_json(shared: &Shared) -> Value {
    let mode = if shared.clock.is_real_time() { "realTime" } else { "manual" };
    json!({ "now": wire_time(shared.now()), "mode": mode })
}

async fn clock_now(State(shared): SharedState) -> Response {
    json_response(StatusCode::OK, &clock_json(&shared))
}

/// `{"seconds": 3600}`: moves the clock ahead, applies what became due and makes the callbacks, then answers.
async fn advance_clock(State(shared): SharedState, body: Bytes) -> Response {
    let seconds = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
        v.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case("seconds")).and_then(|(_, v)| v.as_u64())
    });
    let Some(seconds) = seconds else {
        return admin_error("expected {\"seconds\": <non-negative integer>}");
    };
    shared.clock.advance(std::time::Duration::from_secs(seconds));
    shared.catch_up_and_call_back().await;
    json_response(StatusCode::OK, &clock_json(&shared))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: Method, path: &str) -> String {
        match operation(&method, path) {
            Ok(op) => format!("{op:?}"),
            Err(e) => format!("{} {}", e.status.as_u16(), e.message),
        }
    }

    #[test]
    fn paths_resolve_ignoring_case() {
        assert_eq!(op(Method::GET, "/scheduleddataset"), "GetDatasets");
        assert_eq!(op(Method::GET, "/ScheduledQueries/TestQueryResult"), "TryQuery");
        assert_eq!(op(Method::DELETE, "/ScheduledQueries/testQueryResult"), "DeleteQuery(\"testQueryResult\")");
        assert_eq!(op(Method::PUT, "/ScheduledReport/pause/a%3Bb"), "PauseReport(\"a;b\")");
        assert_eq!(op(Method::GET, "/ScheduledReport/execution/r1"), "GetExecutions(\"r1\")");
        assert_eq!(op(Method::PUT, "/ScheduledReport/r1"), "UpdateReport(\"r1\")");
        assert_eq!(
            op(Method::PATCH, "/ScheduledReport/r1"),
            "405 The requested resource does not support this HTTP method"
        );
        assert_eq!(op(Method::GET, "/Nope"), "404 Resource not found");
    }

    #[test]
    fn an_action_without_its_report_id_names_no_report() {
        for (method, path) in [
            (Method::PUT, "/ScheduledReport/pause/"),
            (Method::PUT, "/ScheduledReport/Resume"),
            (Method::GET, "/ScheduledReport/execution/"),
            (Method::DELETE, "/ScheduledReport/execution"),
        ] {
            assert_eq!(op(method, path), "404 Resource not found", "{path}");
        }
        // Any other word there is a report id.
        assert_eq!(op(Method::DELETE, "/ScheduledReport/r1"), "DeleteReport(\"r1\")");
    }
}
