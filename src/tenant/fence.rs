//! A tenant's write fence. Every transaction that writes rows of a tenant
//! holds the tenant's fence lock, shared, until it ends (the executor's
//! writer takes it with the tenant's first row). A migration's cutover takes
//! it exclusively: it waits for the tenant's writers in flight to end, keeps
//! new ones out for the few milliseconds it needs to drain the last changes,
//! and marks the tenant as moved before it lets go.
//!
//! A transaction that had not yet written the tenant's rows finds the mark
//! when it gets the lock and fails with 40001: it started with the old
//! tenant, and its retry runs in the one the name now points at.

use crate::error::{Error, Result, SqlState};
use crate::txn::Transaction;
use crate::txn::changes::CDC_STATE_PREFIX;
use crate::txn::locks::LockMode;

/// The fence's lock key, which also holds the moved mark (the uuid of the
/// tenant that took over).
pub fn fence_key(tenant: uuid::Uuid) -> Vec<u8> {
    let mut k = vec![CDC_STATE_PREFIX, 0x06];
    k.extend_from_slice(tenant.as_bytes());
    k
}

/// Takes tenant `t`'s fence for writing (once per transaction).
pub fn enter(txn: &mut Transaction, t: uuid::Uuid) -> Result<()> {
    let key = fence_key(t);
    if txn.lock_first(&key, LockMode::Shared)? && txn.get_latest(&key)?.is_some() {
        return Err(Error::new(
            SqlState::SERIALIZATION_FAILURE,
            "could not serialize access: the tenant was moved by a migration",
        )
        .with_hint("Retry the transaction: it runs in the tenant's new home."));
    }
    Ok(())
}

/// Takes tenant `t`'s fence exclusively (a cutover), waiting for its
/// writers in flight, but not longer than `patience` (55P03: a writer keeps
/// its transaction open; the caller tries again later).
pub fn close(txn: &mut Transaction, t: uuid::Uuid, patience: std::time::Duration) -> Result<()> {
    txn.lock_until(
        &fence_key(t),
        LockMode::Exclusive,
        Some(std::time::Instant::now() + patience),
    )?;
    Ok(())
}

/// Marks `t` as moved to `to`, in the cutover's transaction.
pub fn mark_moved(txn: &mut Transaction, t: uuid::Uuid, to: uuid::Uuid) {
    txn.put(fence_key(t), to.as_bytes().to_vec());
}
