// What every part of a running emulator shares: settings, clock, state, credentials, fault queue and logs; and
// moving time forward, which turns due executions over and fires their callbacks.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use crate::Program;

use super::auth::AuthState;
use super::callbacks::{Callbacks, Due};
use super::clock::{EmulatorClock, ExecutionTiming};
use super::envelope::{Casing, Renderer};
use super::faults::Faults;
use super::files::DownloadRecord;
use super::schedule::Completion;
use super::state::World;

/// Settings fixed at start.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) casing: Casing,
    pub(crate) timing: ExecutionTiming,
    pub(crate) min_start_lead: chrono::Duration,
    pub(crate) link_ttl: chrono::Duration,
    /// Lists are answered in pages of at most this many items (`None`: one page).
    pub(crate) page_size: Option<usize>,
}

/// How many download and callback records are kept (the most recent): a long-running emulator stays small
/// however many requests it is sent.
pub(crate) const RECORD_LIMIT: usize = 10_000;

/// A copy of the records in `log`, oldest first.
pub(crate) fn records<T: Clone>(log: &Mutex<VecDeque<T>>) -> Vec<T> {
    log.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).iter().cloned().collect()
}

/// Appends `record` to `log`, dropping the oldest beyond [`RECORD_LIMIT`].
pub(crate) fn keep_record<T>(log: &Mutex<VecDeque<T>>, record: T) {
    let mut log = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if log.len() >= RECORD_LIMIT {
        log.pop_front();
    }
    log.push_back(record);
}

/// The running emulator's shared core.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    pub(crate) clock: EmulatorClock,
    world: Mutex<World>,
    pub(crate) auth: AuthState,
    pub(crate) faults: Faults,
    pub(crate) callbacks: Callbacks,
    pub(crate) downloads: Mutex<VecDeque<DownloadRecord>>,
    pub(crate) file_rows: AtomicU64,
    /// `http://127.0.0.1:PORT`, for the links the emulator hands out.
    pub(crate) origin: String,
    /// When the emulator started (the system queries' creation time).
    pub(crate) started: DateTime<Utc>,
}

impl Shared {
    pub(crate) fn new(
        settings: Settings,
        clock: EmulatorClock,
        auth: AuthState,
        file_rows: u64,
        origin: String,
    ) -> Self {
        let started = clock.now();
        Self {
            settings,
            clock,
            world: Mutex::new(World::new()),
            auth,
            faults: Faults::default(),
            callbacks: Callbacks::new(),
            downloads: Mutex::new(VecDeque::new()),
            file_rows: AtomicU64::new(file_rows),
            origin,
            started,
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The state. A handler that panicked mid-update cannot leave it torn in a way later requests would trip
    /// over (every update is a few field writes), so a poisoned lock is simply taken over.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn renderer(&self, program: Program) -> Renderer {
        Renderer { program, casing: self.settings.casing }
    }

    /// Applies every execution transition due by now; returns the completions in time order, to be handed to
    /// `Callbacks::deliver`, and the number of the last completion any catch-up has taken (for `settled`).
    pub(crate) fn catch_up(&self) -> (Vec<Due>, u64) {
        let now = self.now();
        let timing = self.settings.timing;
        let mut completed: Vec<(Program, Completion)> = Vec::new();
        let mut world = self.world();
        for state in world.programs_mut() {
            let program = state.program;
            for report in &mut state.reports {
                completed.extend(report.catch_up(now, timing).into_iter().map(|c| (program, c)));
            }
        }
        completed.sort_by_key(|(_, c)| c.at);
        // Taken while the state is locked: a catch-up that comes after this one and waits for deliveries also
        // waits for these.
        let taken = self.callbacks.take(completed);
        drop(world);
        taken
    }

    /// Catches up and makes the callbacks, one after the other, then waits for those that concurrent catch-ups
    /// took before this one, before returning.
    pub(crate) async fn catch_up_and_call_back(self: &Arc<Self>) {
        let (due, last) = self.catch_up();
        // In a task of its own: an advance given up half-way (a timeout around it, an admin client that hung up)
        // still makes the callbacks its clock move made due.
        let shared = Arc::clone(self);
        tokio::spawn(async move {
            for due in due {
                shared.callbacks.deliver(due).await;
            }
        });
        self.callbacks.settled(last).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_the_most_recent_ones() {
        let log = Mutex::new(VecDeque::new());
        for n in 0..RECORD_LIMIT + 5 {
            keep_record(&log, n);
        }
        let log = log.into_inner().unwrap();
        assert_eq!((log.len(), log.front(), log.back()), (RECORD_LIMIT, Some(&5), Some(&(RECORD_LIMIT + 4))));
    }
}
