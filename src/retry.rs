// When a failed call is tried again and after how long: which failures are transient, which methods may be
// repeated, exponential backoff with full jitter, and the server's Retry-After hints, within a call's deadline.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, Response, StatusCode};

/// How calls are retried. On by default: up to 4 attempts, backoff from 500 ms doubling to at most 30 s (full
/// jitter), server hints honoured up to 60 s, all within the client's call timeout.
///
/// Transient failures are connection failures (not a refused TLS certificate), timeouts, connections reset before
/// the response completed, and HTTP 408, 429, 500, 502, 503 and 504. GET, PUT and DELETE are retried on any of
/// them; POST (create query, create report) only when it was most likely not processed: the connection could not
/// be opened, the service answered 429, or 503 with a `Retry-After` (a gateway's 503 without one may come after the
/// service ran the request, and a second run would create a second report). Every attempt of a call carries the
/// same `MS-RequestId`.
///
/// Two failures end the call at once, with the error: a try-query attempt that timed out (the service gives a
/// query 100 s, and one that runs that long is most likely valid; running it again only makes the caller wait
/// twice as long for the same answer), and a server hint longer than [`max_retry_after`](Self::max_retry_after)
/// (retrying sooner than the server asked would be refused again; the error's
/// [`retry_after`](crate::Error::retry_after) says when to come back).
///
/// A token provider's transient failure ([`AuthError::is_transient`](crate::AuthError::is_transient); for the
/// Entra credentials, a token endpoint that is unreachable, times out, breaks off or answers 408, 429, 500, 502,
/// 503 or 504: a repeated token request does no harm, so all of these count) is asked again with the same backoff
/// and hints before the call fails, unless a still-valid token can be used.
///
/// ```
/// use std::time::Duration;
/// use partner_center_insights::RetryPolicy;
/// let patient = RetryPolicy::default().max_attempts(6).max_backoff(Duration::from_secs(60));
/// let once = RetryPolicy::none();
/// # let _ = (patient, once);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries of transient failures: every call is tried once (a 401 is still retried once with a fresh token).
    pub fn none() -> Self {
        Self { max_attempts: 1, ..Self::default() }
    }

    /// Attempts per call, the first included (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Upper bound of the first backoff; each retry doubles it.
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// Cap of the backoff.
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// Longest server hint (`Retry-After` and friends) the client waits out before retrying; a call that gets a
    /// longer one ends with that answer instead.
    pub fn max_retry_after(mut self, ceiling: Duration) -> Self {
        self.max_retry_after = ceiling;
        self
    }

    pub(crate) fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Whether the server asked for a longer wait than this policy waits out.
    pub(crate) fn hint_too_long(&self, hint: Option<Duration>) -> bool {
        hint.is_some_and(|hint| hint > self.max_retry_after)
    }

    /// The wait before retry number `retry` (1 for the first): the larger of the server's hint (capped) and a
    /// full-jitter backoff, uniform in `0..=min(max_backoff, initial_backoff * 2^(retry-1))`.
    pub(crate) fn wait(&self, retry: u32, hint: Option<Duration>) -> Duration {
        let ceiling =
            self.initial_backoff.saturating_mul(1u32 << (retry.saturating_sub(1)).min(20)).min(self.max_backoff);
        let backoff = Duration::try_from_secs_f64(ceiling.as_secs_f64() * fastrand::f64()).unwrap_or(ceiling);
        hint.map_or(backoff, |hint| hint.min(self.max_retry_after).max(backoff))
    }
}

/// Why a call should be tried again, with the server's hint if it gave one.
#[derive(Debug)]
pub(crate) struct Transient {
    pub(crate) reason: String,
    pub(crate) hint: Option<Duration>,
}

/// Whether a timed-out attempt of an operation is worth repeating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timeouts {
    Retry,
    /// Try-query: the service stops a query after 100 s, and one that runs that long is most likely valid: a rerun
    /// would only double the wait. So neither the client's timeout nor a 408 or 504 (the service's or its
    /// gateway's) is repeated.
    Final,
}

impl Timeouts {
    pub(crate) fn of(operation_id: &str) -> Self {
        if operation_id == "try_query" { Self::Final } else { Self::Retry }
    }
}

/// Whether this outcome of an attempt is a transient failure that `method` may be repeated after.
pub(crate) fn transient(method: &Method, timeouts: Timeouts, outcome: &reqwest::Result<Response>) -> Option<Transient> {
    let idempotent = matches!(*method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS);
    match outcome {
        Ok(response) => {
            let status = response.status();
            // Read only for a failure: a success is the common case, and the hint is three header lookups.
            let transient = || Transient { reason: format!("HTTP {status}"), hint: retry_after(response.headers()) };
            match status {
                StatusCode::TOO_MANY_REQUESTS => Some(transient()),
                // A throttling or maintenance answer says when to come back; a gateway's bare 503 may follow work
                // the service did.
                StatusCode::SERVICE_UNAVAILABLE => Some(transient()).filter(|t| idempotent || t.hint.is_some()),
                StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT if timeouts == Timeouts::Final => None,
                StatusCode::REQUEST_TIMEOUT
                | StatusCode::INTERNAL_SERVER_ERROR
                | StatusCode::BAD_GATEWAY
                | StatusCode::GATEWAY_TIMEOUT => idempotent.then(transient),
                _ => None,
            }
        }
        // A certificate the client refuses stays refused.
        Err(error) if crate::tls::handshake_refused(error) => None,
        // Nothing reached the service: safe to repeat whatever the method.
        Err(error) if error.is_connect() => Some(Transient { reason: "connection failed".to_owned(), hint: None }),
        Err(error) if idempotent && error.is_timeout() => {
            (timeouts == Timeouts::Retry).then(|| Transient { reason: "timed out".to_owned(), hint: None })
        }
        Err(error) if idempotent && (error.is_request() || error.is_body() || error.is_decode()) => {
            Some(Transient { reason: "connection broke".to_owned(), hint: None })
        }
        Err(_) => None,
    }
}

/// The server's hint, from `retry-after-ms`, `x-ms-retry-after-ms` (milliseconds) or `Retry-After` (seconds or
/// an HTTP date), the way Azure services send them.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(hint) = text(name).and_then(|v| v.parse::<f64>().ok()).and_then(|ms| seconds(ms / 1000.0)) {
            return Some(hint);
        }
    }
    let value = text("retry-after")?;
    if let Ok(number) = value.parse::<f64>() {
        return seconds(number);
    }
    // Counted in chrono, not `SystemTime`: the parser takes any year, and converting year 1 or 200000 to a
    // `SystemTime` panics on platforms whose clock range is narrower (Windows).
    let date = http_date(value)?;
    Some(date.signed_duration_since(chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO))
}

/// An HTTP date in any of the three forms RFC 9110 (§5.6.7) has recipients accept: IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), and the obsolete RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime
/// (`Sun Nov  6 08:49:37 1994`) forms, all in UTC.
fn http_date(value: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(date) = chrono::DateTime::parse_from_rfc2822(value) {
        return Some(date.to_utc());
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|form| chrono::NaiveDateTime::parse_from_str(value, form).ok())
        .map(|date| date.and_utc())
}

/// A hint of `number` seconds. One too large for a `Duration` (say `1e25`) is a very long wait, which ends the call
/// as any hint over the policy's ceiling does, not a reason to panic or to retry at once; a negative one or `NaN`
/// says nothing.
fn seconds(number: f64) -> Option<Duration> {
    match Duration::try_from_secs_f64(number) {
        Ok(hint) => Some(hint),
        Err(_) if number > 0.0 => Some(Duration::MAX),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (reqwest::header::HeaderName::from_static(k), HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    #[test]
    fn hints_in_every_form() {
        assert_eq!(retry_after(&headers(&[("retry-after", "3")])), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(&headers(&[("retry-after-ms", "1500")])), Some(Duration::from_millis(1500)));
        assert_eq!(retry_after(&headers(&[("x-ms-retry-after-ms", "20")])), Some(Duration::from_millis(20)));
        let soon = chrono::Utc::now() + chrono::Duration::seconds(30);
        let date = soon.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let hint = retry_after(&headers(&[("retry-after", &date)])).unwrap();
        assert!(hint > Duration::from_secs(27) && hint <= Duration::from_secs(30), "{hint:?}");
        assert_eq!(retry_after(&headers(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")])), Some(Duration::ZERO));
        // The obsolete forms, which RFC 9110 has recipients accept too.
        for form in ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"] {
            let date = soon.format(form).to_string();
            let hint = retry_after(&headers(&[("retry-after", &date)])).unwrap_or_else(|| panic!("{date}"));
            assert!(hint > Duration::from_secs(27) && hint <= Duration::from_secs(30), "{date}: {hint:?}");
        }
        assert_eq!(retry_after(&headers(&[("retry-after", "Sunday, 06-Nov-94 08:49:37 GMT")])), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers(&[("retry-after", "Sun Nov  6 08:49:37 1994")])), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "-1")])), None);
        // Absurd values from a proxy must not panic; too large for a `Duration` is the longest wait there is.
        assert_eq!(retry_after(&headers(&[("retry-after-ms", "1e25")])), Some(Duration::MAX));
        assert_eq!(retry_after(&headers(&[("retry-after", "1e300")])), Some(Duration::MAX));
        assert_eq!(retry_after(&headers(&[("retry-after", "99999999999999999999")])), Some(Duration::MAX));
        assert_eq!(retry_after(&headers(&[("retry-after", "NaN")])), None);
        // Dates outside what every platform's clock can hold: long past is no wait, far future a wait to cap. (Only
        // a Windows build could show the old panic; here the values are what is checked.)
        assert_eq!(retry_after(&headers(&[("retry-after", "01 Jan 0001 00:00:00 GMT")])), Some(Duration::ZERO));
        let far = retry_after(&headers(&[("retry-after", "01 Jan 200000 00:00:00 GMT")])).unwrap();
        assert!(far > Duration::from_secs(100_000 * 365 * 86_400), "{far:?}");
        let huge = RetryPolicy::default().initial_backoff(Duration::MAX).max_backoff(Duration::MAX);
        // No overflow: the hint is capped at a minute, and the backoff, however large, does not wrap.
        assert!(huge.wait(30, Some(Duration::MAX)) >= Duration::from_secs(60));
        assert_eq!(retry_after(&headers(&[])), None);
    }

    #[test]
    fn waits_take_the_larger_of_hint_and_backoff_and_cap_the_hint() {
        let policy =
            RetryPolicy::default().initial_backoff(Duration::from_millis(100)).max_backoff(Duration::from_secs(1));
        // Full jitter under a ceiling that doubles up to the cap: every wait under it, the waits spread over it
        // (2,000 draws: a largest one under 90 % of the ceiling, or a mean off by 15 standard deviations, means
        // the ceiling is not what it should be).
        for retry in 1..=10 {
            let ceiling = Duration::from_millis(100 * (1 << (retry - 1))).min(Duration::from_secs(1));
            let waits: Vec<Duration> = (0..2000).map(|_| policy.wait(retry, None)).collect();
            let largest = waits.iter().max().unwrap();
            let mean = waits.iter().sum::<Duration>() / 2000;
            assert!(
                *largest <= ceiling && *largest >= ceiling.mul_f64(0.9),
                "retry {retry}: {largest:?} vs {ceiling:?}"
            );
            assert!(mean >= ceiling.mul_f64(0.4) && mean <= ceiling.mul_f64(0.6), "retry {retry}: mean {mean:?}");
        }
        assert!(policy.wait(1, Some(Duration::from_secs(5))) == Duration::from_secs(5));
        assert_eq!(policy.wait(1, Some(Duration::from_secs(3600))), Duration::from_secs(60), "absurd hints are capped");
        assert!(RetryPolicy::none().attempts() == 1 && RetryPolicy::default().max_attempts(0).attempts() == 1);
    }
}
