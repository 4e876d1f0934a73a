// The life of executions on the emulator's clock: slots at startTime + k·interval (at most recurrenceCount of
// them), Pending → Running → Completed, held while the report is paused, and the report going Inactive at the end.

use chrono::{DateTime, Duration, Utc};

use crate::{ExecutionStatus, ReportStatus};

use super::clock::{ExecutionTiming, chrono_duration, earlier, later};
use super::state::{ExecutionRecord, ReportRecord};
use super::validation::Callback;

/// How long finished executions are kept ("execution instances from the last 90 days").
pub(crate) const RETENTION_DAYS: i64 = 90;

/// An execution that has just completed, for the callback.
#[derive(Clone, Debug)]
pub(crate) struct Completion {
    pub(crate) at: DateTime<Utc>,
    pub(crate) report_id: String,
    pub(crate) execution_id: String,
    pub(crate) callback: Option<Callback>,
}

/// The first slot of the grid `start + k·interval` at or after `now`.
fn first_slot_at_or_after(start: DateTime<Utc>, interval_hours: i64, now: DateTime<Utc>) -> DateTime<Utc> {
    if now <= start {
        return start;
    }
    let step = interval_hours.max(1) * 3600;
    let elapsed = (now - start).num_seconds();
    let k = (elapsed + step - 1) / step;
    start.checked_add_signed(Duration::seconds(k.saturating_mul(step))).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl ReportRecord {
    fn has_more_slots(&self) -> bool {
        !self.execute_now && self.count.is_none_or(|count| self.runs_created < count)
    }

    fn execution(&self, slot: DateTime<Utc>, created: DateTime<Utc>, timing: ExecutionTiming) -> ExecutionRecord {
        let running_at = later(slot, chrono_duration(timing.queued));
        let held = self.status == ReportStatus::Paused;
        ExecutionRecord {
            id: uuid::Uuid::new_v4().to_string(),
            slot,
            created,
            running_at,
            completed_at: later(running_at, chrono_duration(timing.running)),
            status: if held { ExecutionStatus::Paused } else { ExecutionStatus::Pending },
            generated: None,
            format: self.format.clone(),
            sig: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// Queues the execution for the next slot, if the schedule has one left.
    fn queue_next(&mut self, created: DateTime<Utc>, timing: ExecutionTiming) {
        if !self.has_more_slots() {
            return;
        }
        let slot = self.next_slot;
        let execution = self.execution(slot, created, timing);
        self.executions.push(execution);
        self.runs_created += 1;
        match self.interval_hours.and_then(|h| slot.checked_add_signed(Duration::hours(h))) {
            Some(next) => self.next_slot = next,
            // The end of representable time: nothing more to schedule.
            None => self.count = Some(self.runs_created),
        }
    }

    /// Starts the schedule (or the single ExecuteNow run) of a report just created or rescheduled.
    pub(crate) fn begin(&mut self, now: DateTime<Utc>, timing: ExecutionTiming) {
        self.runs_created = 0;
        self.next_slot = self.start;
        if self.execute_now {
            let execution = self.execution(now, now, timing);
            self.executions.push(execution);
            self.runs_created = 1;
        } else {
            self.queue_next(now, timing);
        }
    }

    /// Moves the next slot past the runs that would complete more than the retention period before `now`: they
    /// would be dropped as soon as made, and a clock moved years ahead would otherwise make (and call back about)
    /// one execution per slot, one at a time.
    fn skip_forgotten_slots(&mut self, horizon: DateTime<Utc>, timing: ExecutionTiming) {
        let (Some(hours), ReportStatus::Active) = (self.interval_hours, &self.status) else { return };
        // When the next slot's run would complete: retention counts from there.
        let done = later(later(self.next_slot, chrono_duration(timing.queued)), chrono_duration(timing.running));
        if !self.has_more_slots() || done >= horizon {
            return;
        }
        let step = hours.max(1) * 3600;
        let mut skip = (horizon - done).num_seconds() / step;
        if let Some(count) = self.count {
            skip = skip.min(i64::from(count.saturating_sub(self.runs_created)));
        }
        if let Some(next) = self.next_slot.checked_add_signed(Duration::seconds(skip.saturating_mul(step))) {
            self.next_slot = next;
            self.runs_created = self.runs_created.saturating_add(u32::try_from(skip).unwrap_or(u32::MAX));
        }
    }

    /// Applies every transition due by `now`, in order, and returns the executions that completed.
    pub(crate) fn catch_up(&mut self, now: DateTime<Utc>, timing: ExecutionTiming) -> Vec<Completion> {
        let mut completed = Vec::new();
        let horizon = earlier(now, Duration::days(RETENTION_DAYS));
        self.skip_forgotten_slots(horizon, timing);
        if self.status != ReportStatus::Inactive {
            loop {
                let active = self.status == ReportStatus::Active;
                let mut started_at = None;
                let mut changed = false;
                for execution in self.executions.iter_mut().filter(|e| e.is_open()) {
                    if active && execution.status == ExecutionStatus::Pending && now >= execution.running_at {
                        execution.status = ExecutionStatus::Running;
                        started_at = Some(execution.running_at);
                        changed = true;
                    }
                    if execution.status == ExecutionStatus::Running && now >= execution.completed_at {
                        execution.status = ExecutionStatus::Completed;
                        execution.generated = Some(execution.completed_at);
                        completed.push(Completion {
                            at: execution.completed_at,
                            report_id: self.id.clone(),
                            execution_id: execution.id.clone(),
                            callback: None,
                        });
                        changed = true;
                    }
                }
                // The next slot is queued once the current one starts, so there is always one Pending run to see.
                if let Some(at) = started_at {
                    self.queue_next(at, timing);
                }
                if !changed {
                    break;
                }
            }
            if !self.executions.iter().any(ExecutionRecord::is_open) && !self.has_more_slots() {
                self.status = ReportStatus::Inactive;
            }
        }
        self.executions.retain(|e| e.generated.is_none_or(|at| at >= horizon));
        let callback = self
            .callback_url
            .clone()
            .map(|url| Callback { url, method: self.callback_method.clone().unwrap_or(crate::CallbackMethod::Post) });
        for completion in &mut completed {
            completion.callback.clone_from(&callback);
        }
        completed
    }

    /// Holds the queued execution; one already running finishes.
    pub(crate) fn pause(&mut self, now: DateTime<Utc>) {
        self.status = ReportStatus::Paused;
        self.modified = Some(now);
        self.paused_at = Some(now);
        for execution in &mut self.executions {
            if execution.status == ExecutionStatus::Pending {
                execution.status = ExecutionStatus::Paused;
            }
        }
    }

    /// Releases the held execution. Slots missed while paused are skipped (not run late, and not counted against
    /// RecurrenceCount): a run held on such a slot moves to the first slot from now on. A run whose slot came
    /// before the pause keeps it, and goes on from now if its time to start has passed.
    pub(crate) fn resume(&mut self, now: DateTime<Utc>, timing: ExecutionTiming) {
        self.status = ReportStatus::Active;
        self.modified = Some(now);
        let paused_at = self.paused_at.take();
        let (start, interval) = (self.start, self.interval_hours);
        let mut next_slot = None;
        for execution in &mut self.executions {
            if execution.status != ExecutionStatus::Paused {
                continue;
            }
            if paused_at.is_some_and(|paused_at| execution.slot < paused_at) {
                if execution.running_at < now {
                    execution.running_at = now;
                    execution.completed_at = later(now, chrono_duration(timing.running));
                }
                // The slots that came while paused are skipped all the same: the next is the first from now on.
                if let Some(hours) = interval
                    && self.next_slot < now
                {
                    next_slot = Some(first_slot_at_or_after(start, hours, now));
                }
            } else if execution.slot < now {
                execution.slot = match interval {
                    Some(hours) => first_slot_at_or_after(start, hours, now),
                    None => now,
                };
                execution.running_at = later(execution.slot, chrono_duration(timing.queued));
                execution.completed_at = later(execution.running_at, chrono_duration(timing.running));
                next_slot = interval.and_then(|hours| execution.slot.checked_add_signed(Duration::hours(hours)));
            }
            execution.status = ExecutionStatus::Pending;
        }
        if let Some(next) = next_slot {
            self.next_slot = next;
        }
    }

    /// After an update: drops the runs not yet started and starts the new schedule (an ended report comes back
    /// to life). ExecuteNow reports have no schedule to change.
    pub(crate) fn reschedule(&mut self, now: DateTime<Utc>, timing: ExecutionTiming) {
        if self.execute_now {
            return;
        }
        self.executions.retain(|e| !matches!(e.status, ExecutionStatus::Pending | ExecutionStatus::Paused));
        if self.status == ReportStatus::Inactive {
            self.status = ReportStatus::Active;
        }
        self.begin(now, timing);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_slots() {
        let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(first_slot_at_or_after(start, 24, at("2025-12-01T00:00:00Z")), start);
        assert_eq!(first_slot_at_or_after(start, 24, start), start);
        assert_eq!(first_slot_at_or_after(start, 24, at("2026-01-01T00:00:01Z")), at("2026-01-02T00:00:00Z"));
        assert_eq!(first_slot_at_or_after(start, 4, at("2026-01-03T05:00:00Z")), at("2026-01-03T08:00:00Z"));
    }
}
