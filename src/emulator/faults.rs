// Fault injection: a queue of "the next N responses (of the API, downloads or the token endpoint) fail like
// this", filled from Rust (`emulator.faults().next(2).status_429(..)`) or from `POST /_emulator/faults`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::envelope::{ApiError, Renderer};
use super::messages;

/// Which responses a fault replaces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FaultScope {
    /// The twelve API operations, under either program (the default).
    #[default]
    Api,
    /// Report file downloads (`reportAccessSecureLink`).
    Download,
    /// The token endpoints.
    Token,
    /// All of the above.
    Any,
}

impl FaultScope {
    fn covers(self, scope: Self) -> bool {
        self == Self::Any || self == scope
    }

    fn parse(text: &str) -> Option<Self> {
        [("api", Self::Api), ("download", Self::Download), ("token", Self::Token), ("any", Self::Any)]
            .into_iter()
            .find_map(|(name, scope)| name.eq_ignore_ascii_case(text).then_some(scope))
    }
}

/// What happens to an affected response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status (and the API's error envelope), and `Retry-After` in whole seconds when given.
    Status {
        /// The HTTP status code.
        status: u16,
        /// The `Retry-After` to send.
        retry_after: Option<Duration>,
    },
    /// Wait this long (wall-clock time), then answer normally.
    Delay(Duration),
    /// Close the connection without answering.
    DropConnection,
    /// Answer 200 with a JSON body cut off in the middle.
    MalformedBody,
}

#[derive(Clone, Debug)]
struct Rule {
    remaining: u32,
    scope: FaultScope,
    fault: Fault,
}

/// The fault queue of a running emulator; get it from [`Emulator::faults`](super::Emulator::faults).
///
/// Rules apply in the order they were added, each to the next `n` responses in its scope.
///
/// ```no_run
/// # async fn demo(emulator: partner_center_insights::emulator::Emulator) {
/// use std::time::Duration;
/// emulator.faults().next(2).status_429(Duration::from_secs(3));
/// emulator.faults().next(1).status(503);
/// emulator.faults().next(1).drop_connection();
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Faults {
    queue: Arc<Mutex<VecDeque<Rule>>>,
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faults").field("pending", &self.pending()).finish()
    }
}

impl Faults {
    fn queue(&self) -> MutexGuard<'_, VecDeque<Rule>> {
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a rule for the next `n` responses (API responses unless [`FaultPlan::on`] says otherwise).
    pub fn next(&self, n: u32) -> FaultPlan {
        FaultPlan { faults: self.clone(), count: n, scope: FaultScope::Api }
    }

    /// Drops every queued rule.
    pub fn clear(&self) {
        self.queue().clear();
    }

    /// How many responses queued rules will still affect.
    pub fn pending(&self) -> u64 {
        self.queue().iter().map(|r| u64::from(r.remaining)).sum()
    }

    pub(crate) fn push(&self, count: u32, scope: FaultScope, fault: Fault) {
        if count > 0 {
            self.queue().push_back(Rule { remaining: count, scope, fault });
        }
    }

    /// The fault for the response about to be produced in `scope`, if a rule covers it (and uses it up).
    pub(crate) fn take(&self, scope: FaultScope) -> Option<Fault> {
        let mut queue = self.queue();
        let index = queue.iter().position(|rule| rule.scope.covers(scope))?;
        let rule = &mut queue[index];
        rule.remaining -= 1;
        let fault = rule.fault.clone();
        if rule.remaining == 0 {
            queue.remove(index);
        }
        Some(fault)
    }

    /// Queues a rule from the admin endpoint's JSON:
    /// `{"count": 2, "scope": "api", "kind": "status", "status": 429, "retryAfterSeconds": 3}`; other kinds are
    /// `delay` (with `delayMs`), `dropConnection` and `malformedBody`. `count` defaults to 1, `scope` to `api`.
    pub(crate) fn push_json(&self, body: &[u8]) -> Result<u32, String> {
        let value: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
        let get = |name: &str| value.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        let count = match get("count") {
            None => 1,
            Some(v) => {
                v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or("`count` must be a non-negative integer")?
            }
        };
        let scope = match get("scope").map(|v| v.as_str().and_then(FaultScope::parse)) {
            None => FaultScope::Api,
            Some(Some(scope)) => scope,
            Some(None) => return Err("`scope` must be one of api, download, token, any".into()),
        };
        let kind = get("kind").and_then(Value::as_str).ok_or("`kind` is required")?;
        let fault = match kind.to_ascii_lowercase().as_str() {
            "status" => {
                let status = get("status")
                    .and_then(Value::as_u64)
                    .and_then(|s| u16::try_from(s).ok())
                    .filter(|s| (100..=599).contains(s))
                    .ok_or("`status` must be an HTTP status code (100-599)")?;
                let retry_after = match get("retryAfterSeconds") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(Duration::from_secs(v.as_u64().ok_or("`retryAfterSeconds` must be an integer")?)),
                };
                Fault::Status { status, retry_after }
            }
            "delay" => Fault::Delay(Duration::from_millis(
                get("delayMs").and_then(Value::as_u64).ok_or("`delayMs` must be an integer")?,
            )),
            "dropconnection" => Fault::DropConnection,
            "malformedbody" => Fault::MalformedBody,
            _ => return Err("`kind` must be one of status, delay, dropConnection, malformedBody".into()),
        };
        let mut queue = self.queue();
        // Rules come over HTTP here: a client stuck in a loop must not grow the emulator without bound.
        if queue.len() >= MAX_ADMIN_RULES {
            return Err(format!("{MAX_ADMIN_RULES} fault rules are already pending; clear them first"));
        }
        if count > 0 {
            queue.push_back(Rule { remaining: count, scope, fault });
        }
        Ok(count)
    }
}

/// How many rules may wait in the queue for the admin endpoint to add one more.
const MAX_ADMIN_RULES: usize = 10_000;

/// A rule being written; finish it with one of the fault methods.
#[derive(Debug)]
#[must_use = "a fault plan does nothing until a fault method (status, delay, …) is called"]
pub struct FaultPlan {
    faults: Faults,
    count: u32,
    scope: FaultScope,
}

impl FaultPlan {
    /// Applies the rule to these responses instead of the API's.
    pub fn on(mut self, scope: FaultScope) -> Self {
        self.scope = scope;
        self
    }

    /// Answers with `status` (an error envelope on the API, `Service unavailable` for 5xx).
    pub fn status(self, status: u16) {
        self.inject(Fault::Status { status, retry_after: None });
    }

    /// Answers 429 with `Retry-After: <seconds>`.
    pub fn status_429(self, retry_after: Duration) {
        self.inject(Fault::Status { status: 429, retry_after: Some(retry_after) });
    }

    /// Waits `delay` of wall-clock time before answering normally.
    pub fn delay(self, delay: Duration) {
        self.inject(Fault::Delay(delay));
    }

    /// Closes the connection without answering.
    pub fn drop_connection(self) {
        self.inject(Fault::DropConnection);
    }

    /// Answers 200 with truncated JSON.
    pub fn malformed_body(self) {
        self.inject(Fault::MalformedBody);
    }

    /// Queues any [`Fault`].
    pub fn inject(self, fault: Fault) {
        self.faults.push(self.count, self.scope, fault);
    }
}

/// The response a `Status` or `MalformedBody` fault produces (`None` for the others, which the server handles).
pub(crate) fn canned_response(fault: &Fault, renderer: Option<Renderer>) -> Option<Response> {
    match fault {
        Fault::Status { status, retry_after } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = match status {
                StatusCode::TOO_MANY_REQUESTS => messages::TOO_MANY_REQUESTS,
                s if s.is_server_error() => messages::SERVICE_UNAVAILABLE,
                s => s.canonical_reason().unwrap_or("Error"),
            };
            let mut response = match renderer {
                Some(renderer) => renderer.error(&ApiError::new(status, message)),
                None => (status, message).into_response(),
            };
            if let Some(after) = retry_after {
                let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
                if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
            }
            Some(response)
        }
        Fault::MalformedBody => {
            let mut response = (StatusCode::OK, r#"{"value":[{"reportId":"3f2a"#).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Some(response)
        }
        Fault::Delay(_) | Fault::DropConnection => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_apply_in_order_within_their_scope() {
        let faults = Faults::default();
        faults.next(2).status(503);
        faults.next(1).on(FaultScope::Download).drop_connection();
        assert_eq!(faults.pending(), 3);
        assert_eq!(faults.take(FaultScope::Download), Some(Fault::DropConnection));
        assert_eq!(faults.take(FaultScope::Download), None);
        assert!(matches!(faults.take(FaultScope::Api), Some(Fault::Status { status: 503, .. })));
        assert!(matches!(faults.take(FaultScope::Api), Some(Fault::Status { status: 503, .. })));
        assert_eq!(faults.take(FaultScope::Api), None);
    }

    #[test]
    fn admin_json() {
        let faults = Faults::default();
        assert_eq!(faults.push_json(br#"{"kind":"status","status":429,"retryAfterSeconds":2,"count":3}"#), Ok(3));
        assert_eq!(
            faults.take(FaultScope::Api),
            Some(Fault::Status { status: 429, retry_after: Some(Duration::from_secs(2)) })
        );
        assert!(faults.push_json(br#"{"kind":"status","status":1000}"#).is_err());
        assert!(faults.push_json(br#"{"kind":"explode"}"#).is_err());
        assert!(faults.push_json(br#"{"kind":"delay"}"#).is_err());
        assert!(faults.push_json(b"nope").is_err());
        assert_eq!(faults.push_json(br#"{"kind":"malformedBody","scope":"any"}"#), Ok(1));
        assert_eq!(faults.take(FaultScope::Token), Some(Fault::MalformedBody));
    }

    #[test]
    fn the_admin_endpoint_cannot_queue_without_bound() {
        let faults = Faults::default();
        for _ in 0..MAX_ADMIN_RULES {
            assert_eq!(faults.push_json(br#"{"kind":"dropConnection"}"#), Ok(1));
        }
        let refused = faults.push_json(br#"{"kind":"dropConnection"}"#).unwrap_err();
        assert!(refused.contains("already pending"), "{refused}");
        assert_eq!(faults.pending(), MAX_ADMIN_RULES as u64);
        faults.clear();
        assert_eq!(faults.push_json(br#"{"kind":"dropConnection"}"#), Ok(1));
    }
}
