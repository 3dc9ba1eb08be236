//! Row and object locks with waiting and deadlock detection.
//!
//! A lock is named by a byte key (a row's storage key, a unique-index key, or
//! an object key such as a table's). Transactions take locks in shared or
//! exclusive mode; an incompatible request waits until the holders finish.
//! Before waiting, the requester adds "waits for" edges to every holder and
//! walks the graph; if the walk comes back to the requester, waiting would
//! never end, so the requester gets 40P01 instead (the transaction that closes
//! a cycle is the victim, as in PostgreSQL).
//!
//! Locks are kept on 64-bit fingerprints of the keys (FxHash), so taking a
//! lock allocates nothing. Two different keys with the same fingerprint
//! (about one chance in 2^64 per pair) share a lock: that can only make a
//! transaction wait, retry (40001) or re-read a row it did not need to,
//! never let a conflict through.
//!
//! The table also remembers, for recently committed writes, the commit
//! sequence number that last changed each exclusively locked key. A
//! REPEATABLE READ transaction that finds a row changed after its snapshot
//! fails with 40001; a READ COMMITTED one re-reads the row instead. Entries
//! older than every live snapshot are pruned.

use crate::error::{Error, Result, SqlState};
use parking_lot::{Condvar, Mutex};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Transaction identifier.
pub type TxnId = u64;

/// Lock mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

#[derive(Default)]
struct LockState {
    exclusive: Option<TxnId>,
    shared: Vec<TxnId>,
}

impl LockState {
    fn is_free(&self) -> bool {
        self.exclusive.is_none() && self.shared.is_empty()
    }

    /// Holders that block `txn` from taking the lock in `mode`.
    fn blockers(&self, txn: TxnId, mode: LockMode) -> Vec<TxnId> {
        let mut out = Vec::new();
        if let Some(x) = self.exclusive
            && x != txn
        {
            out.push(x);
        }
        if mode == LockMode::Exclusive {
            out.extend(self.shared.iter().copied().filter(|&s| s != txn));
        }
        out
    }
}

/// FxHash (as used by rustc): much cheaper than SipHash for the short,
/// non-adversarial byte keys of the lock table (they are our own key encodings).
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().expect("8-byte chunk"));
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(K);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxBuild = std::hash::BuildHasherDefault<FxHasher>;

/// A lock name: the fingerprint of a key.
pub type LockKey = u64;

/// The fingerprint a key is locked under.
pub fn lock_key(key: &[u8]) -> LockKey {
    use std::hash::Hasher;
    let mut h = FxHasher(0x9e37_79b9_7f4a_7c15);
    h.write(key);
    h.write_u64(key.len() as u64);
    h.finish()
}

#[derive(Default)]
struct Inner {
    locks: HashMap<LockKey, LockState, FxBuild>,
    waits_for: HashMap<TxnId, Vec<TxnId>, FxBuild>,
    /// key -> sequence number of the last commit that wrote it.
    recent: HashMap<LockKey, u64, FxBuild>,
}

/// The lock table shared by all transactions of one database.
#[derive(Default)]
pub struct LockManager {
    inner: Mutex<Inner>,
    released: Condvar,
}

/// What a caller learns when it obtains a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// The transaction already held the lock in this (or a stronger) mode.
    AlreadyHeld,
    /// Newly acquired without waiting.
    New,
    /// Newly acquired after waiting for another transaction to finish.
    Waited,
}

impl LockManager {
    pub fn new() -> LockManager {
        LockManager::default()
    }

    /// Takes `key` in `mode` for `txn`, waiting for incompatible holders.
    /// Returns 40P01 if waiting would deadlock.
    pub fn acquire(&self, txn: TxnId, key: &[u8], mode: LockMode) -> Result<Acquired> {
        self.acquire_key(txn, lock_key(key), mode)
    }

    /// [`LockManager::acquire`] by fingerprint.
    pub fn acquire_key(&self, txn: TxnId, key: LockKey, mode: LockMode) -> Result<Acquired> {
        self.acquire_key_until(txn, key, mode, None)
    }

    /// Like [`LockManager::acquire_key`], giving up at `deadline` with 55P03.
    pub fn acquire_key_until(
        &self,
        txn: TxnId,
        key: LockKey,
        mode: LockMode,
        deadline: Option<std::time::Instant>,
    ) -> Result<Acquired> {
        let mut inner = self.inner.lock();
        let mut waited = false;
        loop {
            let state = inner.locks.entry(key).or_default();
            if state.exclusive == Some(txn)
                || (mode == LockMode::Shared && state.shared.contains(&txn))
            {
                return Ok(Acquired::AlreadyHeld);
            }
            let blockers = state.blockers(txn, mode);
            if blockers.is_empty() {
                let upgraded = state.shared.contains(&txn);
                match mode {
                    LockMode::Shared => state.shared.push(txn),
                    LockMode::Exclusive => {
                        state.shared.retain(|&s| s != txn);
                        state.exclusive = Some(txn);
                    }
                }
                inner.waits_for.remove(&txn);
                return Ok(if upgraded {
                    Acquired::AlreadyHeld
                } else if waited {
                    Acquired::Waited
                } else {
                    Acquired::New
                });
            }
            inner.waits_for.insert(txn, blockers);
            if Self::closes_cycle(&inner.waits_for, txn) {
                inner.waits_for.remove(&txn);
                if let Some(s) = inner.locks.get(&key)
                    && s.is_free()
                {
                    inner.locks.remove(&key);
                }
                return Err(Error::new(SqlState::DEADLOCK_DETECTED, "deadlock detected")
                    .with_detail(format!(
                        "Transaction {txn} waits for a lock held by a transaction that waits for it."
                    ))
                    .with_hint("See server log for query details."));
            }
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                inner.waits_for.remove(&txn);
                if let Some(s) = inner.locks.get(&key)
                    && s.is_free()
                {
                    inner.locks.remove(&key);
                }
                return Err(Error::new(
                    SqlState::LOCK_NOT_AVAILABLE,
                    "could not obtain lock: it is held by other transactions",
                ));
            }
            // A timeout bounds the cost of a missed wake-up; the loop re-checks.
            waited = true;
            self.released
                .wait_for(&mut inner, Duration::from_millis(200));
        }
    }

    /// Depth-first search from `start` through the waits-for graph.
    fn closes_cycle(graph: &HashMap<TxnId, Vec<TxnId>, FxBuild>, start: TxnId) -> bool {
        let mut stack: Vec<TxnId> = graph.get(&start).cloned().unwrap_or_default();
        let mut seen = HashSet::new();
        while let Some(t) = stack.pop() {
            if t == start {
                return true;
            }
            if seen.insert(t)
                && let Some(next) = graph.get(&t)
            {
                stack.extend(next.iter().copied());
            }
        }
        false
    }

    /// Releases every lock in `keys` held by `txn`. When `commit_seq` is
    /// given, exclusively held keys remember it as their last writer.
    pub fn release_all(&self, txn: TxnId, keys: &[LockKey], commit_seq: Option<u64>) {
        if keys.is_empty() {
            return;
        }
        let mut inner = self.inner.lock();
        for key in keys {
            let mut wrote = false;
            if let Some(state) = inner.locks.get_mut(key) {
                if state.exclusive == Some(txn) {
                    state.exclusive = None;
                    wrote = true;
                }
                state.shared.retain(|&s| s != txn);
                if state.is_free() {
                    inner.locks.remove(key);
                }
            }
            if wrote && let Some(seq) = commit_seq {
                inner.recent.insert(*key, seq);
            }
        }
        inner.waits_for.remove(&txn);
        drop(inner);
        self.released.notify_all();
    }

    /// The sequence number of the last commit that wrote `key`, if it is
    /// newer than the pruning horizon.
    pub fn last_write(&self, key: &[u8]) -> Option<u64> {
        self.inner.lock().recent.get(&lock_key(key)).copied()
    }

    /// Forgets last-writer entries no live snapshot can conflict with
    /// (those at or below `horizon`, the oldest live snapshot's sequence).
    pub fn prune(&self, horizon: u64) {
        let mut inner = self.inner.lock();
        inner.recent.retain(|_, seq| *seq > horizon);
    }

    /// Number of remembered last-writer entries (for tests and metrics).
    pub fn recent_len(&self) -> usize {
        self.inner.lock().recent.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn shared_and_exclusive() {
        let lm = LockManager::new();
        assert_eq!(
            lm.acquire(1, b"a", LockMode::Shared).unwrap(),
            Acquired::New
        );
        assert_eq!(
            lm.acquire(2, b"a", LockMode::Shared).unwrap(),
            Acquired::New
        );
        assert_eq!(
            lm.acquire(1, b"a", LockMode::Shared).unwrap(),
            Acquired::AlreadyHeld
        );
        lm.release_all(2, &[lock_key(b"a")], None);
        // Sole shared holder may upgrade.
        lm.acquire(1, b"a", LockMode::Exclusive).unwrap();
        lm.release_all(1, &[lock_key(b"a")], Some(7));
        assert_eq!(lm.last_write(b"a"), Some(7));
        lm.prune(7);
        assert_eq!(lm.last_write(b"a"), None);
    }

    #[test]
    fn waiter_proceeds_after_release() {
        let lm = Arc::new(LockManager::new());
        lm.acquire(1, b"k", LockMode::Exclusive).unwrap();
        let lm2 = lm.clone();
        let h = thread::spawn(move || lm2.acquire(2, b"k", LockMode::Exclusive));
        thread::sleep(Duration::from_millis(50));
        lm.release_all(1, &[lock_key(b"k")], Some(1));
        assert_eq!(h.join().unwrap().unwrap(), Acquired::Waited);
    }

    #[test]
    fn deadlock_is_detected() {
        let lm = Arc::new(LockManager::new());
        lm.acquire(1, b"x", LockMode::Exclusive).unwrap();
        lm.acquire(2, b"y", LockMode::Exclusive).unwrap();
        let lm2 = lm.clone();
        let h = thread::spawn(move || {
            let r = lm2.acquire(1, b"y", LockMode::Exclusive);
            lm2.release_all(1, &[lock_key(b"x"), lock_key(b"y")], None);
            r
        });
        thread::sleep(Duration::from_millis(50));
        let r2 = lm.acquire(2, b"x", LockMode::Exclusive);
        // Exactly one side is the victim.
        let err = r2.expect_err("txn 2 closes the cycle");
        assert_eq!(err.sqlstate(), "40P01");
        lm.release_all(2, &[lock_key(b"y")], None);
        assert!(h.join().unwrap().is_ok());
    }
}
