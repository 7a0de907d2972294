//! How engine instances on one log split the conversations: each conversation belongs to
//! one of a fixed number of parts (a stable hash of its stream id), and an instance works
//! only on the parts it holds, so each conversation's matching, deliveries and timers are
//! done by exactly one instance.
//!
//! The parts an instance holds are either fixed by configuration ([`Shard`], `i/N`) or
//! leased at run time from a shared store, which moves a stopped instance's parts to the
//! others ([`Shards::leased`], kept current by a lease keeper such as the JetStream one).

use std::collections::BTreeSet;
use std::sync::Arc;

use switchboard_schemas::StreamId;
use tokio::sync::watch;

/// One of `count` disjoint parts of the conversations, fixed by configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This instance's part, `0..count`.
    pub index: u32,
    /// How many parts (engine instances) there are.
    pub count: u32,
}

impl Shard {
    /// Everything: a single engine instance.
    pub const ALL: Shard = Shard { index: 0, count: 1 };
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// Parses `index/count`, e.g. `0/3`.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not a shard like 0/3 (this instance's index, then how many instances)");
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let shard =
            Shard { index: index.trim().parse().map_err(|_| bad())?, count: count.trim().parse().map_err(|_| bad())? };
        if shard.count == 0 || shard.index >= shard.count {
            return Err(bad());
        }
        Ok(shard)
    }
}

/// The part of `count` that `stream` belongs to.
pub fn part_of(stream: &StreamId, count: u32) -> u32 {
    // FNV-1a: fixed and simple, unlike the standard hasher which may change between
    // releases and would move conversations between instances on an upgrade.
    let hash = stream
        .to_string()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    (hash % u64::from(count.max(1))) as u32
}

/// The parts this instance holds now; the core follows its changes, taking up a part's
/// pending work the moment it is gained.
#[derive(Debug)]
pub struct Shards {
    count: u32,
    movable: bool,
    held: watch::Sender<BTreeSet<u32>>,
    /// Parts gained since the core last took them up. A watch keeps only the latest set, so
    /// a part lost and gained again between two looks would otherwise look unchanged, and
    /// the work that arrived while it was away would never start.
    gained: std::sync::Mutex<BTreeSet<u32>>,
}

impl Shards {
    /// A fixed part, never changing.
    pub fn fixed(shard: Shard) -> Arc<Self> {
        Arc::new(Self {
            count: shard.count.max(1),
            movable: false,
            held: watch::Sender::new(BTreeSet::from([shard.index])),
            gained: std::sync::Mutex::default(),
        })
    }

    /// `count` parts of which none is held until a lease keeper grants them.
    pub fn leased(count: u32) -> Arc<Self> {
        Arc::new(Self {
            count: count.max(1),
            movable: true,
            held: watch::Sender::new(BTreeSet::new()),
            gained: std::sync::Mutex::default(),
        })
    }

    /// How many parts the conversations are split into.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether the parts held can change (leased), so other parts' work is worth following.
    pub fn movable(&self) -> bool {
        self.movable
    }

    /// Whether this instance holds `stream`'s part.
    pub fn owns(&self, stream: &StreamId) -> bool {
        self.held.borrow().contains(&part_of(stream, self.count))
    }

    /// The parts held now.
    pub fn held(&self) -> BTreeSet<u32> {
        self.held.borrow().clone()
    }

    /// Replaces the parts held (parts outside `0..count` are ignored).
    pub fn hold(&self, parts: BTreeSet<u32>) {
        let parts: BTreeSet<u32> = parts.into_iter().filter(|&p| p < self.count).collect();
        self.held.send_if_modified(|held| {
            let changed = *held != parts;
            if changed {
                self.gained.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(parts.difference(held));
                *held = parts;
            }
            changed
        });
    }

    /// The parts gained since the last call (some may be lost again by now: check
    /// [`owns`](Self::owns) too).
    pub fn take_gained(&self) -> BTreeSet<u32> {
        std::mem::take(&mut *self.gained.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Follows the parts held.
    pub fn changes(&self) -> watch::Receiver<BTreeSet<u32>> {
        self.held.subscribe()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use switchboard_schemas::{TeamId, UserId};

    #[test]
    fn a_part_lost_and_gained_again_between_two_looks_is_still_reported_gained() {
        let shards = Shards::leased(4);
        shards.hold(BTreeSet::from([0, 1]));
        assert_eq!(shards.take_gained(), BTreeSet::from([0, 1]));
        let mut changes = shards.changes();
        changes.borrow_and_update();
        shards.hold(BTreeSet::new());
        shards.hold(BTreeSet::from([0, 1]));
        assert_eq!(*changes.borrow_and_update(), BTreeSet::from([0, 1]), "the watch alone shows no change");
        assert_eq!(shards.take_gained(), BTreeSet::from([0, 1]), "but both were gained again");
        assert!(shards.take_gained().is_empty());
    }

    #[test]
    fn parts_split_conversations_disjointly_and_evenly() {
        let team = TeamId::new("ops").unwrap();
        let streams: Vec<StreamId> =
            (0..3_000).map(|n| StreamId::conversation(&team, &UserId::new(format!("user{n}")).unwrap())).collect();
        let instances: Vec<Arc<Shards>> = (0..3).map(|index| Shards::fixed(Shard { index, count: 3 })).collect();
        let mut sizes = [0usize; 3];
        for stream in &streams {
            let owners: Vec<usize> = (0..3).filter(|&i| instances[i].owns(stream)).collect();
            assert_eq!(owners.len(), 1, "{stream} has exactly one owner");
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|&n| (800..1_200).contains(&n)), "roughly even: {sizes:?}");
        let all = Shards::fixed(Shard::ALL);
        assert!(streams.iter().all(|s| all.owns(s)));
        // Stable across processes and releases: a known stream's part never moves.
        let known = StreamId::conversation(&team, &UserId::new("zhangsan").unwrap());
        // FNV-1a("ops.conversation.zhangsan") = 14766160791586136138, which is 2 modulo 3.
        assert_eq!(part_of(&known, 3), 2);
    }

    #[test]
    fn shards_parse_from_index_and_count() {
        assert_eq!("1/3".parse::<Shard>().unwrap(), Shard { index: 1, count: 3 });
        for bad in ["3/3", "0/0", "1", "a/3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn leased_parts_start_empty_and_report_changes() {
        let shards = Shards::leased(4);
        let stream = StreamId::conversation(&TeamId::new("ops").unwrap(), &UserId::new("zhangsan").unwrap());
        assert!(!shards.owns(&stream), "nothing is held before a lease is granted");
        let mut changes = shards.changes();
        shards.hold(BTreeSet::from([part_of(&stream, 4), 9]));
        assert!(changes.has_changed().unwrap());
        assert!(shards.owns(&stream));
        assert_eq!(shards.held(), BTreeSet::from([part_of(&stream, 4)]), "parts past the count are ignored");
        changes.mark_unchanged();
        shards.hold(shards.held());
        assert!(!changes.has_changed().unwrap(), "holding the same parts is no change");
    }
}
