// Token failures on their way from the request hook to `Error`: progenitor's hook errors are strings, so the
// structured `AuthError` (status, AADSTS codes, correlation id) waits here and is found again by its message.
//
// Best effort, by design: two failures with the same message are taken for one (the latest is kept; Entra's
// messages carry their correlation id, so theirs are distinct), and an error converted after `KEPT` newer distinct
// failures has no source. The message itself always reaches `Error`.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::AuthError;

/// How many recent failures are kept: enough for every caller that shared one failed token request to convert
/// its error, bounded so that errors never converted cost nothing lasting.
const KEPT: usize = 32;

static RECENT: Mutex<VecDeque<AuthError>> = Mutex::new(VecDeque::new());

/// Keeps `error` for [`take_back`] and returns the text the hook hands to the generated code.
pub(crate) fn hand_over(error: AuthError) -> String {
    let text = error.message.clone();
    let mut recent = RECENT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Callers sharing one failed request fail with clones of one error: keep it once.
    recent.retain(|kept| kept.message != text);
    if recent.len() == KEPT {
        recent.pop_front();
    }
    recent.push_back(error);
    text
}

/// The latest failure handed over with exactly this text, if it is still kept. Not removed: every caller that
/// shared the failure gets it.
pub(crate) fn take_back(text: &str) -> Option<AuthError> {
    let recent = RECENT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    recent.iter().rev().find(|kept| kept.message == text).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_found_by_its_text_and_the_store_stays_bounded() {
        let failure = AuthError::new("handover test: refused").with_status(http::StatusCode::UNAUTHORIZED);
        let text = hand_over(failure.clone());
        hand_over(failure);
        let copies = RECENT.lock().unwrap().iter().filter(|kept| kept.message == text).count();
        assert_eq!(copies, 1, "a second copy of the same failure is not kept twice");
        let found = take_back(&text).expect("kept");
        assert_eq!(found.status(), Some(http::StatusCode::UNAUTHORIZED));
        assert!(take_back(&text).is_some(), "still there for the next caller that shared it");
        assert!(take_back("handover test: never handed over").is_none());
        // The same message with a different answer: the latest is the one found.
        hand_over(AuthError::new("handover test: refused").with_status(http::StatusCode::FORBIDDEN));
        assert_eq!(take_back(&text).and_then(|e| e.status()), Some(http::StatusCode::FORBIDDEN));
        for i in 0..KEPT * 2 {
            hand_over(AuthError::new(format!("handover test: filler {i}")));
        }
        assert!(take_back(&text).is_none(), "pushed out by newer failures");
        assert!(RECENT.lock().unwrap().len() <= KEPT);
    }
}
