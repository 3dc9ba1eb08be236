//! Sequence positions (`nextval`, `setval`), non-transactional as in PostgreSQL.
//!
//! A sequence's position is kept in memory and persisted as a *reserved upper
//! bound*: when `nextval` passes the bound, a new bound 32 steps ahead is
//! written with an asynchronous engine commit. Because the engine's history
//! is linear, the next durable commit (for example the transaction that uses
//! the value) makes the reservation durable too. After a crash the sequence
//! resumes after the reserved bound, so a value is never handed out twice
//! (some may be skipped, exactly as in PostgreSQL).

use super::SequenceDef;
use super::keys;
use crate::error::{Error, Result, SqlState};
use crate::storage::{Durability, Engine, WriteBatch};
use parking_lot::Mutex;
use std::collections::HashMap;

const RESERVE: i64 = 32;

#[derive(Clone, Copy)]
struct Position {
    /// Last value handed out (or `start - increment` before the first call).
    last: i64,
    /// Persisted bound: values up to here may have been handed out.
    reserved: i64,
}

/// In-memory positions of all sequences of one database.
#[derive(Default)]
pub struct SequenceManager {
    positions: Mutex<HashMap<u32, Position>>,
}

fn encode(v: i64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
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
        })
    }

    /// Advances the sequence and returns the new value.
    pub fn nextval(&self, engine: &dyn Engine, def: &SequenceDef) -> Result<i64> {
        let mut positions = self.positions.lock();
        let pos = match positions.get(&def.id) {
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
        let wrapped =
            (def.increment > 0 && next <= pos.last) || (def.increment < 0 && next >= pos.last);
        let mut reserved = pos.reserved;
        let past = if def.increment > 0 {
            next > reserved
        } else {
            next < reserved
        };
        if wrapped {
            // Cycled: persist the exact position so a restart continues from here.
            reserved = next;
            self.persist(engine, def.id, reserved)?;
        } else if past {
            let ahead = next.saturating_add(def.increment.saturating_mul(RESERVE - 1));
            reserved = ahead.clamp(def.min_value, def.max_value);
            self.persist(engine, def.id, reserved)?;
        }
        positions.insert(
            def.id,
            Position {
                last: next,
                reserved,
            },
        );
        Ok(next)
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
        self.persist(engine, def.id, last)?;
        positions.insert(
            def.id,
            Position {
                last,
                reserved: last,
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
