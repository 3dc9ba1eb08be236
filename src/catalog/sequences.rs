//! Sequence positions (`nextval`, `setval`), non-transactional as in PostgreSQL.
//!
//! A sequence's position is kept in memory and persisted as a *reserved upper
//! bound*: a new bound 32 steps further is written with an asynchronous
//! engine commit once half of the current reservation is used up, by the
//! session that noticed and without holding the positions' lock, so that
//! concurrent `nextval` calls rarely wait for it (an asynchronous commit
//! still waits for its commit group, and so for that group's fsync). No value
//! past the bound is handed out before the bound is written. Because the engine's history
//! is linear, the next durable commit (for example the transaction that uses
//! the value) makes the reservation durable too. After a crash the sequence
//! resumes after the reserved bound, so a value is never handed out twice
//! (some may be skipped, exactly as in PostgreSQL).

use super::SequenceDef;
use super::keys;
use crate::error::{Error, Result, SqlState};
use crate::storage::{Durability, Engine, WriteBatch};
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;

const RESERVE: i64 = 32;

#[derive(Clone, Copy)]
struct Position {
    /// Last value handed out (or `start - increment` before the first call).
    last: i64,
    /// Persisted bound: values up to here may have been handed out.
    reserved: i64,
    /// A further bound some session is persisting right now (outside the
    /// lock); values past `reserved` wait for it.
    pending: Option<i64>,
}

/// In-memory positions of all sequences of one database.
#[derive(Default)]
pub struct SequenceManager {
    positions: Mutex<HashMap<u32, Position>>,
    /// Signalled when a pending bound is persisted (or failed to be).
    persisted: Condvar,
}

fn encode(v: i64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// Whether `a` is past `b` in the direction the sequence moves.
fn beyond(def: &SequenceDef, a: i64, b: i64) -> bool {
    if def.increment > 0 { a > b } else { a < b }
}

impl SequenceManager {
    /// The initial persisted value of a new sequence (written by CREATE SEQUENCE).
    pub fn initial_value(def: &SequenceDef) -> Vec<u8> {
        encode(def.start - def.increment)
    }

    fn load(&self, engine: &dyn Engine, def: &SequenceDef) -> Result<Position> {
        let snap = engine.snapshot()?;
        let v = match snap.get(&keys::sequence_key(def.id))? {
            Some(b) => keys::i64_value(&b).ok_or_else(|| Error::corrupted("bad sequence value"))?,
            None => def.start - def.increment,
        };
        Ok(Position {
            last: v,
            reserved: v,
            pending: None,
        })
    }

    /// The bound `RESERVE` steps ahead of `from`.
    fn ahead(def: &SequenceDef, from: i64) -> i64 {
        from.saturating_add(def.increment.saturating_mul(RESERVE))
            .clamp(def.min_value, def.max_value)
    }

    /// Advances the sequence and returns the new value.
    ///
    /// A value is handed out only once the bound covering it is in the
    /// engine's history. The bound is written ahead of need: the session
    /// that finds fewer than half of the reserved values left writes the
    /// next bound without holding the lock (an asynchronous commit still
    /// waits for its commit group, whose fsync may be a long wait), while
    /// others keep taking values below the current bound.
    pub fn nextval(&self, engine: &dyn Engine, def: &SequenceDef) -> Result<i64> {
        let mut positions = self.positions.lock();
        loop {
            let mut pos = match positions.get(&def.id) {
                Some(p) => *p,
                None => self.load(engine, def)?,
            };
            let next = match pos.last.checked_add(def.increment) {
                Some(n) if n >= def.min_value && n <= def.max_value => n,
                _ if def.cycle => {
                    if def.increment > 0 {
                        def.min_value
                    } else {
                        def.max_value
                    }
                }
                _ => {
                    let bound = if def.increment > 0 {
                        "maximum"
                    } else {
                        "minimum"
                    };
                    let limit = if def.increment > 0 {
                        def.max_value
                    } else {
                        def.min_value
                    };
                    return Err(Error::new(
                        SqlState::SEQUENCE_GENERATOR_LIMIT_EXCEEDED,
                        format!(
                            "nextval: reached {bound} value of sequence \"{}\" ({limit})",
                            def.name
                        ),
                    ));
                }
            };
            let wrapped = !beyond(def, next, pos.last);
            if wrapped || beyond(def, next, pos.reserved) {
                if pos.pending.is_some() {
                    // Someone is writing the next bound: wait for it.
                    self.persisted.wait(&mut positions);
                    continue;
                }
                // Cycled: persist the exact position so a restart continues
                // from here. Else the bound ran out: write the next one.
                let bound = if wrapped {
                    next
                } else {
                    Self::ahead(def, pos.last)
                };
                self.persist(engine, def.id, bound)?;
                pos.reserved = bound;
            } else if pos.pending.is_none()
                && !wrapped
                && beyond(
                    def,
                    next.saturating_add(def.increment.saturating_mul(RESERVE / 2)),
                    pos.reserved,
                )
                && beyond(def, Self::ahead(def, pos.reserved), pos.reserved)
            {
                // Half the reservation is used up: write the next bound now,
                // outside the lock, so that nobody waits for it later.
                let bound = Self::ahead(def, pos.reserved);
                pos.last = next;
                pos.pending = Some(bound);
                positions.insert(def.id, pos);
                drop(positions);
                let written = self.persist(engine, def.id, bound);
                positions = self.positions.lock();
                if let Some(p) = positions.get_mut(&def.id)
                    && p.pending == Some(bound)
                {
                    p.pending = None;
                    if written.is_ok() && beyond(def, bound, p.reserved) {
                        p.reserved = bound;
                    }
                }
                self.persisted.notify_all();
                // The value was taken below the old bound; a failed write
                // only means the next caller tries again.
                return Ok(next);
            }
            pos.last = next;
            positions.insert(def.id, pos);
            return Ok(next);
        }
    }

    /// Sets the position: the next `nextval` returns `value + increment`
    /// (`is_called`) or `value` (not called).
    pub fn setval(
        &self,
        engine: &dyn Engine,
        def: &SequenceDef,
        value: i64,
        is_called: bool,
    ) -> Result<i64> {
        if value < def.min_value || value > def.max_value {
            return Err(Error::new(
                SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                format!(
                    "setval: value {value} is out of bounds for sequence \"{}\" ({}..{})",
                    def.name, def.min_value, def.max_value
                ),
            ));
        }
        let last = if is_called {
            value
        } else {
            value - def.increment
        };
        let mut positions = self.positions.lock();
        // A bound being written must land before this position does.
        while positions.get(&def.id).is_some_and(|p| p.pending.is_some()) {
            self.persisted.wait(&mut positions);
        }
        self.persist(engine, def.id, last)?;
        positions.insert(
            def.id,
            Position {
                last,
                reserved: last,
                pending: None,
            },
        );
        Ok(value)
    }

    /// The last value handed out by any session (for `last_value` displays).
    pub fn last_value(&self, engine: &dyn Engine, def: &SequenceDef) -> Result<i64> {
        let mut positions = self.positions.lock();
        let pos = match positions.get(&def.id) {
            Some(p) => *p,
            None => {
                let p = self.load(engine, def)?;
                positions.insert(def.id, p);
                p
            }
        };
        Ok(pos.last)
    }

    /// Forgets a dropped sequence.
    pub fn forget(&self, id: u32) {
        self.positions.lock().remove(&id);
    }

    fn persist(&self, engine: &dyn Engine, id: u32, value: i64) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put(keys::sequence_key(id), encode(value));
        engine.commit(batch, Durability::Async)?;
        Ok(())
    }
}
