// Token failures on their way from the request hook to `Error`: progenitor's hook errors are strings, so the
// structured `AuthError` (status, AADSTS codes, correlation id) waits here under a key the handed-over text carries.
//
// Each failed call hands over its own entry, found again by its key and removed when taken back, so concurrent
// failures with the same text (two tenants, one outage) never mix. Entries never taken back (a caller that kept the
// generated error) are dropped after `KEPT_FOR`, or the oldest first beyond `KEPT`; the message always reaches `Error`.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::AuthError;

/// Bounds for entries never taken back: generous, as every call of a stampede on a failing token endpoint keeps
/// one until its caller converts the error.
const KEPT: usize = 4096;
const KEPT_FOR: Duration = Duration::from_secs(600);

/// What the handed-over text ends with: the message, then this, the key and `)`.
const KEY_MARK: &str = " (token failure #";

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
    let now = Instant::now();
    let mut guard = WAITING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (waiting, next_key) = &mut *guard;
    let key = *next_key;
    *next_key += 1;
    make_room(waiting, now);
    let text = format!("{}{KEY_MARK}{key})", error.message);
    waiting.push_back(Entry { key, handed_over: now, error });
    text
}

/// Drops what was never taken back: entries older than `KEPT_FOR`, and the oldest beyond `KEPT - 1`.
fn make_room(waiting: &mut VecDeque<Entry>, now: Instant) {
    while waiting.front().is_some_and(|oldest| waiting.len() >= KEPT || now - oldest.handed_over > KEPT_FOR) {
        waiting.pop_front();
    }
}

/// The message of a handed-over text, and the failure it stands for if it is still kept (then no longer).
pub(crate) fn take_back(text: &str) -> (&str, Option<AuthError>) {
    let Some((message, key)) = text
        .strip_suffix(')')
        .and_then(|rest| rest.rsplit_once(KEY_MARK))
        .and_then(|(message, key)| Some((message, key.parse::<u64>().ok()?)))
    else {
        return (text, None);
    };
    let mut guard = WAITING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let waiting = &mut guard.0;
    // Keys only grow along the queue, so the entry is found by bisection.
    let error = waiting.binary_search_by_key(&key, |entry| entry.key).ok().and_then(|at| waiting.remove(at));
    (message, error.map(|entry| entry.error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_is_found_once_by_its_key_even_with_the_same_text() {
        let first = hand_over(AuthError::new("handover test: refused").with_status(http::StatusCode::UNAUTHORIZED));
        let second = hand_over(AuthError::new("handover test: refused").with_status(http::StatusCode::FORBIDDEN));
        assert_ne!(first, second);
        let (message, found) = take_back(&second);
        assert_eq!(message, "handover test: refused");
        assert_eq!(found.and_then(|e| e.status()), Some(http::StatusCode::FORBIDDEN));
        let (_, found) = take_back(&first);
        assert_eq!(found.and_then(|e| e.status()), Some(http::StatusCode::UNAUTHORIZED));
        assert!(take_back(&first).1.is_none(), "taken back once");
        let text = "a provider's own text (token failure #x)";
        assert!(matches!(take_back(text), (message, None) if message == text), "not a key: the text stays whole");
    }

    #[test]
    fn many_outstanding_failures_are_all_kept() {
        let texts: Vec<_> =
            (0..100).map(|i| hand_over(AuthError::new(format!("handover test: {i}")).transient())).collect();
        for (i, text) in texts.iter().enumerate().rev() {
            let (message, found) = take_back(text);
            assert_eq!(message, format!("handover test: {i}"));
            assert!(found.is_some_and(|e| e.is_transient()), "{i}");
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
