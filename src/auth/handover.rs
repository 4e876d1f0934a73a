// Token failures on their way from the request hook to `Error`: progenitor's hook errors are strings, so the
// structured `AuthError` (status, AADSTS codes, correlation id) waits here under a key the handed-over text carries.
//
// Each failed call hands over its own entry, found again by its key and removed when taken back, so concurrent
// failures with the same text (two tenants, one outage) never mix. Entries never taken back (a caller that kept
// the generated error) are dropped after `KEPT_FOR`, or the oldest first beyond `KEPT`; the message always reaches
// `Error`.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::AuthError;

/// Bounds for entries never taken back: generous, as every call of a stampede on a failing token endpoint keeps
/// one until its caller converts the error.
const KEPT: usize = 4096;
const KEPT_FOR: Duration = Duration::from_secs(600);

/// What the handed-over text ends with: the message, then one of these, the key and `)`. A timeout has its own
/// mark, so it is still reported as one when its entry is no longer kept.
const KEY_MARK: &str = " (token failure #";
const TIMEOUT_MARK: &str = " (token timeout #";

/// The entries, oldest first, and the next key: keys are drawn under the same lock, so they grow along the queue.
static WAITING: Mutex<(VecDeque<Entry>, u64)> = Mutex::new((VecDeque::new(), 1));

struct Entry {
    key: u64,
    handed_over: Instant,
    error: AuthError,
}

/// Keeps `error` for [`take_back`] and returns the text the hook hands to the generated code: the error's message
/// with its key.
pub(crate) fn hand_over(error: AuthError) -> String {
    let mark = if error.timed_out() { TIMEOUT_MARK } else { KEY_MARK };
    let message = error.message.clone();
    let key = keep(error);
    format!("{message}{mark}{key})")
}

/// Keeps `error` for [`take`] (or [`take_back`]) and returns its key.
pub(crate) fn keep(error: AuthError) -> u64 {
    let mut guard = WAITING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Taken under the lock, so times, like keys, grow along the queue.
    let now = Instant::now();
    let (waiting, next_key) = &mut *guard;
    let key = *next_key;
    *next_key += 1;
    make_room(waiting, now);
    waiting.push_back(Entry { key, handed_over: now, error });
    key
}

/// The failure kept under `key`, if it is still kept (it is not, after this).
pub(crate) fn take(key: u64) -> Option<AuthError> {
    let mut guard = WAITING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let waiting = &mut guard.0;
    // Keys only grow along the queue, so the entry is found by bisection.
    waiting.binary_search_by_key(&key, |entry| entry.key).ok().and_then(|at| waiting.remove(at)).map(|e| e.error)
}

/// Drops what was never taken back: entries older than `KEPT_FOR`, and the oldest beyond `KEPT - 1`.
fn make_room(waiting: &mut VecDeque<Entry>, now: Instant) {
    while waiting
        .front()
        .is_some_and(|oldest| waiting.len() >= KEPT || now.saturating_duration_since(oldest.handed_over) > KEPT_FOR)
    {
        waiting.pop_front();
    }
}

/// A handed-over failure, taken back.
pub(crate) struct TakenBack<'a> {
    /// The failure's message, without the key.
    pub(crate) message: &'a str,
    /// Whether no token came in time (known from the text, even when the failure itself is no longer kept).
    pub(crate) timed_out: bool,
    /// The failure, if it is still kept (it is not, after this).
    pub(crate) error: Option<AuthError>,
}

/// The failure a handed-over text stands for.
pub(crate) fn take_back(text: &str) -> TakenBack<'_> {
    let keyed = |mark| {
        let (message, key) = text.strip_suffix(')')?.rsplit_once(mark)?;
        Some((message, key.parse::<u64>().ok()?))
    };
    let (message, key, timed_out) = match (keyed(KEY_MARK), keyed(TIMEOUT_MARK)) {
        (Some((message, key)), None) => (message, key, false),
        (None, Some((message, key))) => (message, key, true),
        // Not a handed-over text: it stays whole.
        _ => return TakenBack { message: text, timed_out: false, error: None },
    };
    TakenBack { message, timed_out, error: take(key) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_is_found_once_by_its_key_even_with_the_same_text() {
        let first = hand_over(AuthError::new("handover test: refused").with_status(http::StatusCode::UNAUTHORIZED));
        let second = hand_over(AuthError::new("handover test: refused").with_status(http::StatusCode::FORBIDDEN));
        assert_ne!(first, second);
        let taken = take_back(&second);
        assert_eq!((taken.message, taken.timed_out), ("handover test: refused", false));
        assert_eq!(taken.error.and_then(|e| e.status()), Some(http::StatusCode::FORBIDDEN));
        let taken = take_back(&first);
        assert_eq!(taken.error.and_then(|e| e.status()), Some(http::StatusCode::UNAUTHORIZED));
        assert!(take_back(&first).error.is_none(), "taken back once");
        let text = "a provider's own text (token failure #x)";
        let taken = take_back(text);
        assert_eq!((taken.message, taken.error.is_none()), (text, true), "not a key: the text stays whole");
        let text = hand_over(AuthError::new("no access token within reach (token failure #1)"));
        let taken = take_back(&text);
        assert_eq!(taken.message, "no access token within reach (token failure #1)", "only the last mark is the key");
        assert!(!taken.timed_out && taken.error.is_some());
    }

    #[test]
    fn a_timeout_is_known_by_its_text_even_when_no_longer_kept() {
        let text = hand_over(AuthError::no_token_within(Duration::from_millis(200)));
        let taken = take_back(&text);
        assert_eq!((taken.message, taken.timed_out), ("no access token within 200ms", true));
        assert!(taken.error.is_some_and(|e| e.timed_out() && e.is_transient()));
        let gone = take_back(&text);
        assert_eq!((gone.message, gone.timed_out, gone.error.is_none()), ("no access token within 200ms", true, true));
    }

    #[test]
    fn many_outstanding_failures_are_all_kept() {
        let texts: Vec<_> =
            (0..100).map(|i| hand_over(AuthError::new(format!("handover test: {i}")).transient())).collect();
        for (i, text) in texts.iter().enumerate().rev() {
            let taken = take_back(text);
            assert_eq!(taken.message, format!("handover test: {i}"));
            assert!(taken.error.is_some_and(|e| e.is_transient()), "{i}");
        }
    }

    #[test]
    fn what_is_never_taken_back_is_dropped_by_age_and_count() {
        // Times after `start` only: an `Instant` before the machine's boot cannot be made.
        let start = Instant::now();
        let entry = |key, at| Entry { key, handed_over: start + at, error: AuthError::new("never taken back") };
        let mut waiting: VecDeque<_> = (0..KEPT as u64).map(|key| entry(key, Duration::ZERO)).collect();
        make_room(&mut waiting, start);
        assert_eq!((waiting.len(), waiting[0].key), (KEPT - 1, 1), "room for one more");
        let second = Duration::from_secs(1);
        let mut waiting: VecDeque<_> = [entry(0, Duration::ZERO), entry(1, second), entry(2, second * 2)].into();
        make_room(&mut waiting, start + KEPT_FOR + second * 2);
        assert_eq!(waiting.iter().map(|e| e.key).collect::<Vec<_>>(), [2], "older than KEPT_FOR");
    }
}
