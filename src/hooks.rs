// What happens around every generated call: request hygiene and the bearer token before sending, and after
// receiving, the body read once, normalized to the spec's casing, and checked so that no failure loses its status.

use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use progenitor_client::{ClientHooks, ClientInfo, Error as GeneratedError, OperationInfo};
use reqwest::header::{self, HeaderName, HeaderValue};
use reqwest::{Method, Request, Response, StatusCode};

use crate::casing::{self, Items, Malformed};
use crate::config::ClientState;
use crate::{Client, types};

pub(crate) const MS_REQUEST_ID: HeaderName = HeaderName::from_static("ms-requestid");
pub(crate) const MS_CORRELATION_ID: HeaderName = HeaderName::from_static("ms-correlationid");

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
    /// An error status whose body is JSON but not the service's error envelope.
    NotAnEnvelope(String),
}

impl ClientHooks<ClientState> for Client {
    async fn pre<E>(&self, request: &mut Request, info: &OperationInfo) -> Result<(), GeneratedError<E>> {
        let state = self.inner().get();
        let headers = request.headers_mut();
        // progenitor sends the spec's version as `api-version`; Partner Center has no such header.
        headers.remove("api-version");
        headers.insert(MS_REQUEST_ID, uuid_header());
        headers.insert(MS_CORRELATION_ID, uuid_header());
        headers.entry(header::USER_AGENT).or_insert_with(|| state.user_agent.clone());
        if request.body().is_none() && matches!(*request.method(), Method::PUT | Method::POST | Method::DELETE) {
            // Without a body reqwest sends no length at all, and Microsoft's front ends answer 411.
            request.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        }
        *request.timeout_mut() = Some(state.timeout_for(info.operation_id));
        if let Some(tokens) = &state.tokens {
            let token = tokens.token().await.map_err(|e| GeneratedError::Custom(e.to_string()))?;
            request.headers_mut().insert(header::AUTHORIZATION, bearer(&token));
        }
        Ok(())
    }

    async fn exec(&self, request: Request, info: &OperationInfo) -> reqwest::Result<Response> {
        let started = Instant::now();
        let state = self.inner().get();
        let retry = request.try_clone();
        let sent_token = request.headers().get(header::AUTHORIZATION).cloned();
        let mut response = self.client().execute(request).await?;
        // A rejected token may just have been revoked or rotated early: drop it, get a fresh one, try once more.
        if response.status() == StatusCode::UNAUTHORIZED
            && let (Some(tokens), Some(mut retry), Some(sent)) = (&state.tokens, retry, sent_token)
        {
            if let Some(rejected) = token_in(&sent) {
                tokens.invalidate(&rejected);
            }
            if let Ok(fresh) = tokens.token().await
                && bearer(&fresh) != sent
            {
                retry.headers_mut().insert(header::AUTHORIZATION, bearer(&fresh));
                response = self.client().execute(retry).await?;
            }
        }
        let response = with_received_body(response, info).await?;
        tracing::debug!(
            operation = info.operation_id,
            status = response.status().as_u16(),
            request_id = crate::error::request_id(response.headers()),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "partner center call"
        );
        Ok(response)
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

fn uuid_header() -> HeaderValue {
    let mut buffer = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
    HeaderValue::from_str(id).expect("a UUID is a valid header value")
}

/// The token inside a `Bearer` header value.
fn token_in(header: &HeaderValue) -> Option<crate::AccessToken> {
    let token = header.to_str().ok()?.strip_prefix("Bearer ")?;
    Some(crate::AccessToken::new(token, None))
}

fn bearer(token: &crate::AccessToken) -> HeaderValue {
    use secrecy::ExposeSecret;
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.secret().expose_secret()))
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid-token"));
    value.set_sensitive(true);
    value
}

/// Reads the whole body (the generated code would anyway), normalizes its casing, and records whether it can
/// decode, then puts it back on an otherwise identical response.
async fn with_received_body(response: Response, info: &OperationInfo) -> reqwest::Result<Response> {
    let (mut parts, body) = http::Response::from(response).into_parts();
    let bytes = body.collect().await?.to_bytes();
    let items = if info.operation_id == "try_query" { Items::Rows } else { Items::Typed };
    let (bytes, problem) = match casing::normalize(&bytes, items) {
        Ok(normalized) => {
            let problem = if parts.status.is_success() { None } else { envelope_problem(&normalized) };
            (normalized, problem)
        }
        Err(malformed) => (bytes, Some(BodyProblem::NotJson(malformed))),
    };
    parts.extensions.insert(ReceivedBody { bytes: bytes.clone(), problem });
    Ok(Response::from(http::Response::from_parts(parts, bytes)))
}

/// Why an error body is not the service's envelope, if it is not: it must decode, and carry at least one of the
/// envelope's fields (all are optional, so any other JSON object, such as a gateway's `{"error":…}`, would decode
/// as an empty envelope and lose what it says).
fn envelope_problem(body: &[u8]) -> Option<BodyProblem> {
    match serde_json::from_slice::<types::ErrorEnvelope>(body) {
        Err(e) => Some(BodyProblem::NotAnEnvelope(e.to_string())),
        Ok(types::ErrorEnvelope { message: None, status_code: None, total_count: None, value: None, .. }) => {
            Some(BodyProblem::NotAnEnvelope("it has none of the envelope's fields".to_owned()))
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
