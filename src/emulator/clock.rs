// The emulator's notion of "now": a manual clock that only moves when a test says so, or the wall clock, both
// shiftable forward; and how long an execution spends queued and running on that clock.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};

use crate::Timestamp;

/// Which time the emulator lives in.
///
/// Every rule that involves time (start times, the ExecuteNow quota window, execution stages, token and download
/// link expiry, the 90-day execution retention) reads this clock, never the wall clock directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock(Mode);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Manual(DateTime<Utc>),
    RealTime,
}

impl Clock {
    /// A clock that stands still until [`Emulator::advance`](super::Emulator::advance) moves it, starting at the
    /// current UTC time (to the second). The default: tests stay deterministic and never sleep.
    pub fn manual() -> Self {
        Self(Mode::Manual(Utc::now().trunc_subsecs(0)))
    }

    /// A manual clock starting at `start`.
    pub fn manual_at(start: impl Into<Timestamp>) -> Self {
        Self(Mode::Manual(start.into().as_datetime().trunc_subsecs(0)))
    }

    /// The wall clock: executions progress on their own (the binary uses this). `advance` still works and moves
    /// the emulator's time ahead of the wall clock.
    pub fn real_time() -> Self {
        Self(Mode::RealTime)
    }

    /// Whether this is the wall clock.
    pub fn is_real_time(self) -> bool {
        self.0 == Mode::RealTime
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::manual()
    }
}

/// How long each execution stays in each state, on the emulator's clock.
///
/// An execution becomes `Running` `queued` after its slot (its scheduled time, or the creation time of an
/// ExecuteNow report), and `Completed` `running` after that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecutionTiming {
    /// Time spent `Pending` after the slot.
    pub queued: Duration,
    /// Time spent `Running`.
    pub running: Duration,
}

impl ExecutionTiming {
    /// Stage durations of your choosing.
    pub const fn new(queued: Duration, running: Duration) -> Self {
        Self { queued, running }
    }

    /// One minute queued, four minutes running: the default, roughly what the service takes for a small report.
    pub const fn realistic() -> Self {
        Self::new(Duration::from_secs(60), Duration::from_secs(240))
    }

    /// One second queued, two seconds running: an ExecuteNow report completes three seconds after creation,
    /// which suits demos on the real-time clock (the binary's default).
    pub const fn demo() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(2))
    }

    /// Both stages together: how long after its slot an execution completes.
    pub fn total(self) -> Duration {
        self.queued.saturating_add(self.running)
    }
}

impl Default for ExecutionTiming {
    fn default() -> Self {
        Self::realistic()
    }
}

/// The running clock: a base (fixed, or the wall clock) plus how far it has been moved ahead.
#[derive(Debug)]
pub(crate) struct EmulatorClock {
    mode: Mode,
    ahead: Mutex<chrono::Duration>,
}

impl EmulatorClock {
    pub(crate) fn new(clock: Clock) -> Self {
        Self { mode: clock.0, ahead: Mutex::new(chrono::Duration::zero()) }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        let ahead = *self.ahead.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let base = match self.mode {
            Mode::Manual(start) => start,
            // Whole seconds, like every time the service writes.
            Mode::RealTime => Utc::now().trunc_subsecs(0),
        };
        later(base, ahead)
    }

    pub(crate) fn advance(&self, by: Duration) {
        // Durations beyond chrono's range (hundreds of millions of years) are clamped rather than refused.
        let by = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        let mut ahead = self.ahead.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *ahead = ahead.checked_add(&by).unwrap_or(*ahead);
    }

    pub(crate) fn is_real_time(&self) -> bool {
        self.mode == Mode::RealTime
    }
}

/// A std duration as a chrono one, saturating (the emulator's durations are all small).
pub(crate) fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// `time + by`, saturating at the end of representable time. Plain `+` panics on overflow, which only absurd
/// settings or clock moves could reach, but a request must never be able to crash the emulator.
pub(crate) fn later(time: DateTime<Utc>, by: chrono::Duration) -> DateTime<Utc> {
    time.checked_add_signed(by).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `time - by`, saturating at the start of representable time.
pub(crate) fn earlier(time: DateTime<Utc>, by: chrono::Duration) -> DateTime<Utc> {
    time.checked_sub_signed(by).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let clock = EmulatorClock::new(Clock::manual_at(start));
        assert_eq!(clock.now(), start.as_datetime());
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now().to_rfc3339(), "2026-01-01T00:01:30+00:00");
    }

    #[test]
    fn absurd_moves_saturate_instead_of_panicking() {
        let clock = EmulatorClock::new(Clock::manual());
        clock.advance(Duration::MAX);
        clock.advance(Duration::from_secs(u64::MAX / 2));
        assert_eq!(clock.now(), DateTime::<Utc>::MAX_UTC);
        assert_eq!(later(clock.now(), chrono::Duration::days(1)), DateTime::<Utc>::MAX_UTC);
        assert_eq!(ExecutionTiming::new(Duration::MAX, Duration::MAX).total(), Duration::MAX);
    }
}
