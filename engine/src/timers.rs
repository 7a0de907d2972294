//! The timer due set: re-confirm and close timers are events in the log; the engine keeps
//! the pending ones here, ordered by due time, and fires each through the runtime when it
//! comes due. Kept apart from the core so its cost with a million pending timers can be
//! measured on its own (`ops/bench`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use switchboard_schemas::StreamId;
use tokio::sync::Notify;
use uuid::Uuid;

/// What the earliest timer asks of the worker.
pub enum Due {
    /// This timer is due: it was taken out of the set, fire it.
    Now(Uuid, StreamId),
    /// Nothing is due before this time.
    At(DateTime<Utc>),
    /// No timer is waiting here.
    Nothing,
}

/// The due set: timers ordered by due time, shared by the follower and the timer worker;
/// timers of conversations in parts held elsewhere are parked beside it, ready to move in
/// when their part is taken over.
#[derive(Default)]
pub struct TimerQueue {
    inner: Mutex<TimerSet>,
    changed: Notify,
    started: Notify,
}

#[derive(Default)]
struct TimerSet {
    by_due: BTreeMap<(DateTime<Utc>, Uuid), StreamId>,
    due_of: HashMap<Uuid, DateTime<Utc>>,
    parked: HashMap<Uuid, (DateTime<Utc>, StreamId)>,
}

impl TimerQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, TimerSet> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds or moves a timer; `owned` says whether this instance fires it.
    pub fn insert(&self, timer_id: Uuid, due: DateTime<Utc>, stream: StreamId, owned: bool) {
        {
            let mut set = self.lock();
            set.take(timer_id);
            set.place(timer_id, due, stream, owned);
        }
        self.changed.notify_one();
    }

    /// Forgets a fired or cancelled timer, wherever it waits.
    pub fn remove(&self, timer_id: Uuid) {
        self.lock().take(timer_id);
    }

    /// Moves timers between the due set and the parked ones after the parts held changed.
    pub fn rebalance(&self, owns: impl Fn(&StreamId) -> bool) {
        {
            let mut set = self.lock();
            let lost = set.by_due.iter().filter(|(_, stream)| !owns(stream)).map(|((_, timer_id), _)| *timer_id);
            let gained = set.parked.iter().filter(|(_, (_, stream))| owns(stream)).map(|(timer_id, _)| *timer_id);
            let moving: Vec<Uuid> = lost.chain(gained).collect();
            for timer_id in moving {
                if let Some((due, stream)) = set.take(timer_id) {
                    let owned = owns(&stream);
                    set.place(timer_id, due, stream, owned);
                }
            }
        }
        self.changed.notify_one();
    }

    /// Timers this instance fires.
    pub fn held(&self) -> usize {
        self.lock().due_of.len()
    }

    /// Lets [`TimerQueue::run`] begin, once the follower has caught up with the log.
    pub fn start(&self) {
        self.started.notify_one();
    }

    /// Fires timers as they come due, forever: waits for [`TimerQueue::start`], then sleeps
    /// until the earliest due time or until the set changes. `fire` runs one timer at a
    /// time and puts it back (with [`TimerQueue::insert`]) when it must be retried.
    pub async fn run<F, Fut>(&self, now: impl Fn() -> DateTime<Utc>, mut fire: F)
    where
        F: FnMut(Uuid, StreamId) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        self.started.notified().await;
        loop {
            let now = now();
            match self.next_due(now) {
                Due::Now(timer_id, stream) => fire(timer_id, stream).await,
                Due::At(at) => {
                    // At most a second: a clock that steps (NTP, a rehearsal's offset) is
                    // noticed within one.
                    let wait = (at - now).to_std().unwrap_or(Duration::ZERO).min(Duration::from_secs(1));
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.changed.notified() => {}
                    }
                }
                Due::Nothing => self.changed.notified().await,
            }
        }
    }

    /// The earliest timer: taken out if due, otherwise its due time.
    pub fn next_due(&self, now: DateTime<Utc>) -> Due {
        let mut set = self.lock();
        let Some((&(due, timer_id), _)) = set.by_due.iter().next() else {
            return Due::Nothing;
        };
        if due > now {
            return Due::At(due);
        }
        let stream = set.by_due.remove(&(due, timer_id));
        set.due_of.remove(&timer_id);
        match stream {
            Some(stream) => Due::Now(timer_id, stream),
            None => Due::Nothing,
        }
    }
}

impl TimerSet {
    /// Takes a timer out, wherever it is.
    fn take(&mut self, timer_id: Uuid) -> Option<(DateTime<Utc>, StreamId)> {
        if let Some(due) = self.due_of.remove(&timer_id) {
            return self.by_due.remove(&(due, timer_id)).map(|stream| (due, stream));
        }
        self.parked.remove(&timer_id)
    }

    /// Puts a timer (not present) in the due set, or parks it when another instance fires it.
    fn place(&mut self, timer_id: Uuid, due: DateTime<Utc>, stream: StreamId, owned: bool) {
        if owned {
            self.due_of.insert(timer_id, due);
            self.by_due.insert((due, timer_id), stream);
        } else {
            self.parked.insert(timer_id, (due, stream));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use switchboard_schemas::{TeamId, UserId};

    fn stream(user: &str) -> StreamId {
        StreamId::conversation(&TeamId::new("ops").unwrap(), &UserId::new(user).unwrap())
    }

    #[test]
    fn timers_of_parts_held_elsewhere_wait_parked_until_their_part_moves_here() {
        let queue = TimerQueue::default();
        let now = Utc::now();
        let (mine, theirs) = (Uuid::now_v7(), Uuid::now_v7());
        queue.insert(mine, now + chrono::Duration::seconds(5), stream("a"), true);
        queue.insert(theirs, now - chrono::Duration::seconds(5), stream("b"), false);
        // Only the held one is ever due here, even though the parked one is overdue.
        assert!(matches!(queue.next_due(now), Due::At(_)));
        assert_eq!(queue.held(), 1);

        // Part of "b" gained, part of "a" lost.
        queue.rebalance(|s| *s == stream("b"));
        match queue.next_due(now) {
            Due::Now(id, s) => assert_eq!((id, s), (theirs, stream("b"))),
            _ => panic!("the taken-over timer is due at once"),
        }
        assert!(matches!(queue.next_due(now + chrono::Duration::seconds(10)), Due::Nothing), "a's timer is parked");

        // A fired (or cancelled) timer is forgotten wherever it waits.
        queue.remove(mine);
        queue.rebalance(|_| true);
        assert!(matches!(queue.next_due(now + chrono::Duration::seconds(10)), Due::Nothing));
    }
}
