//! Tenant quotas at run time: concurrent sessions and statements per second,
//! per tenant, shared by every session of a data directory.
//!
//! The limits come from the catalog (a tenant's tier, under its own
//! overrides: [`Catalog::tenant_limits`]); the registry copies them into
//! atomics whenever a newer committed catalog is loaded, so a changed tier
//! or limit applies to live sessions from their next statement, and the
//! statement path reads no catalog.
//!
//! * **Connections**: a session running in a tenant holds a [`Slot`]; the
//!   one beyond `max_connections` is refused with 53300 (at login for a role
//!   bound to the tenant, at `SET helios.tenant` otherwise). Dropping the
//!   slot (the session ending in any way) frees it.
//! * **Queries per second**: a token bucket per tenant, refilled
//!   continuously at `max_qps` tokens a second up to one second's worth; a
//!   statement that finds no token fails at once with 53400 and a hint of
//!   when to retry. Nothing resets in the background, so nothing drifts.
//!
//! Storage bytes are accounted in the commit path (not here).

use crate::catalog::{Catalog, ResourceLimits};
use crate::error::{Error, Result, SqlState};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

/// The quotas of every tenant of a data directory.
pub struct QuotaRegistry {
    tenants: RwLock<HashMap<uuid::Uuid, Arc<TenantQuota>>>,
    /// Whether limits are enforced (counting and storage accounting go on
    /// either way); see [`QuotaRegistry::set_enforced`].
    enforced: std::sync::atomic::AtomicBool,
}

impl Default for QuotaRegistry {
    fn default() -> QuotaRegistry {
        QuotaRegistry {
            tenants: RwLock::default(),
            enforced: std::sync::atomic::AtomicBool::new(true),
        }
    }
}

/// One tenant's limits, live counters and token bucket.
pub struct TenantQuota {
    pub id: uuid::Uuid,
    name: RwLock<String>,
    max_storage_bytes: AtomicI64,
    max_connections: AtomicI64,
    max_qps: AtomicI64,
    connections: AtomicI64,
    bucket: Mutex<Bucket>,
    statements_total: AtomicU64,
    rejected_storage: AtomicU64,
    rejected_connections: AtomicU64,
    rejected_qps: AtomicU64,
}

/// Tokens available and when they were last counted.
struct Bucket {
    tokens: f64,
    at: Instant,
    /// Statements admitted in the current and the previous whole second
    /// (for the "last second" rate), and which second that is.
    second: u64,
    this_second: u64,
    last_second: u64,
}

/// The counters of one tenant (the release notes' `QuotaTracking`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaTracking {
    pub tenant: String,
    pub limits: ResourceLimits,
    /// Bytes of the tenant's rows and index entries (as the newest commit
    /// counts them; 0 where only the in-memory counters were read).
    pub storage_bytes: i64,
    pub connections: i64,
    /// Statements admitted in the last whole second.
    pub qps: u64,
    pub statements_total: u64,
    pub rejected_storage: u64,
    pub rejected_connections: u64,
    pub rejected_qps: u64,
}

impl QuotaRegistry {
    /// The quota of tenant `id`, created with `limits` if it has none yet.
    pub fn tenant(&self, id: uuid::Uuid, name: &str, limits: ResourceLimits) -> Arc<TenantQuota> {
        if let Some(q) = self.tenants.read().get(&id) {
            return q.clone();
        }
        self.tenants
            .write()
            .entry(id)
            .or_insert_with(|| Arc::new(TenantQuota::new(id, name, limits)))
            .clone()
    }

    /// Turns enforcement of every limit on or off (for benchmarks and
    /// operators; counters and storage usage stay exact while it is off).
    pub fn set_enforced(&self, on: bool) {
        self.enforced.store(on, Ordering::Relaxed);
    }

    pub fn enforced(&self) -> bool {
        self.enforced.load(Ordering::Relaxed)
    }

    /// The quota of tenant `id` if any session has used it.
    pub fn get(&self, id: uuid::Uuid) -> Option<Arc<TenantQuota>> {
        self.tenants.read().get(&id).cloned()
    }

    /// Takes the limits (and names) of a newly committed catalog.
    pub fn refresh(&self, catalog: &Catalog) {
        let tenants = self.tenants.read();
        if tenants.is_empty() {
            return;
        }
        for t in catalog.tenants.values() {
            if let Some(q) = tenants.get(&t.id) {
                q.set_limits(catalog.tenant_limits(t));
                if *q.name.read() != t.name {
                    *q.name.write() = t.name.clone();
                }
            }
        }
    }
}

impl TenantQuota {
    fn new(id: uuid::Uuid, name: &str, limits: ResourceLimits) -> TenantQuota {
        let q = TenantQuota {
            id,
            name: RwLock::new(name.to_string()),
            max_storage_bytes: AtomicI64::new(0),
            max_connections: AtomicI64::new(0),
            max_qps: AtomicI64::new(0),
            connections: AtomicI64::new(0),
            bucket: Mutex::new(Bucket {
                tokens: limits.max_qps as f64,
                at: Instant::now(),
                second: 0,
                this_second: 0,
                last_second: 0,
            }),
            statements_total: AtomicU64::new(0),
            rejected_storage: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            rejected_qps: AtomicU64::new(0),
        };
        q.set_limits(limits);
        q
    }

    fn set_limits(&self, l: ResourceLimits) {
        self.max_storage_bytes
            .store(l.max_storage_bytes, Ordering::Relaxed);
        self.max_connections
            .store(l.max_connections, Ordering::Relaxed);
        self.max_qps.store(l.max_qps, Ordering::Relaxed);
    }

    pub fn limits(&self) -> ResourceLimits {
        ResourceLimits {
            max_storage_bytes: self.max_storage_bytes.load(Ordering::Relaxed),
            max_connections: self.max_connections.load(Ordering::Relaxed),
            max_qps: self.max_qps.load(Ordering::Relaxed),
        }
    }

    pub fn name(&self) -> String {
        self.name.read().clone()
    }

    /// Takes a connection slot, or 53300 when the tenant has all it may.
    pub fn connect(self: &Arc<Self>) -> Result<Slot> {
        let max = self.max_connections.load(Ordering::Relaxed);
        let taken = self.connections.fetch_add(1, Ordering::SeqCst);
        if taken >= max {
            self.connections.fetch_sub(1, Ordering::SeqCst);
            self.rejected_connections.fetch_add(1, Ordering::Relaxed);
            return Err(Error::new(
                SqlState::TOO_MANY_CONNECTIONS,
                format!("too many connections for tenant \"{}\"", self.name.read()),
            )
            .with_detail(format!(
                "The tenant has {taken} of its {max} connections open."
            )));
        }
        Ok(Slot(self.clone()))
    }

    /// Fails as [`TenantQuota::connect`] would, without taking a slot.
    pub fn check_connections(&self) -> Result<()> {
        let max = self.max_connections.load(Ordering::Relaxed);
        let taken = self.connections.load(Ordering::SeqCst);
        if taken >= max {
            return Err(Error::new(
                SqlState::TOO_MANY_CONNECTIONS,
                format!("too many connections for tenant \"{}\"", self.name.read()),
            ));
        }
        Ok(())
    }

    /// Fails as [`TenantQuota::admit`] would, without taking a token.
    pub fn check_rate(&self) -> Result<()> {
        let rate = self.max_qps.load(Ordering::Relaxed) as f64;
        let b = self.bucket.lock();
        let elapsed = Instant::now().saturating_duration_since(b.at).as_secs_f64();
        if (b.tokens + elapsed * rate).min(rate) >= 1.0 {
            return Ok(());
        }
        Err(Error::new(
            SqlState::CONFIGURATION_LIMIT_EXCEEDED,
            format!(
                "tenant \"{}\" exceeded its limit of {rate} queries per second",
                self.name.read()
            ),
        ))
    }

    /// Takes a slot even beyond the limit (a session returning to the
    /// tenant it was counted in before a rollback undid its change).
    pub fn connect_anyway(self: &Arc<Self>) -> Slot {
        self.connections.fetch_add(1, Ordering::SeqCst);
        Slot(self.clone())
    }

    /// Admits one statement, or 53400 when the tenant's bucket is empty.
    pub fn admit(&self) -> Result<()> {
        let rate = self.max_qps.load(Ordering::Relaxed) as f64;
        let now = Instant::now();
        let mut b = self.bucket.lock();
        // Another thread may have read a later time and refilled first:
        // `at` never moves back, or the interval would be credited twice.
        let now = now.max(b.at);
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.at = now;
        b.tokens = (b.tokens + elapsed * rate).min(rate);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            b.count(now);
            drop(b);
            self.statements_total.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let wait_ms = if rate > 0.0 {
            ((1.0 - b.tokens) / rate * 1000.0).ceil().max(1.0) as u64
        } else {
            0
        };
        drop(b);
        self.rejected_qps.fetch_add(1, Ordering::Relaxed);
        let err = Error::new(
            SqlState::CONFIGURATION_LIMIT_EXCEEDED,
            format!(
                "tenant \"{}\" exceeded its limit of {rate} queries per second",
                self.name.read()
            ),
        );
        Err(if rate > 0.0 {
            err.with_hint(format!("Retry after {wait_ms} ms."))
        } else {
            err.with_hint("The tenant's max_qps is 0: it may run no statements.")
        })
    }

    /// Counts a statement admitted while limits are not enforced.
    pub fn count_statement(&self) {
        self.bucket.lock().count(Instant::now());
        self.statements_total.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a statement refused because of the storage limit.
    pub fn note_storage_rejection(&self) {
        self.rejected_storage.fetch_add(1, Ordering::Relaxed);
    }

    pub fn tracking(&self) -> QuotaTracking {
        let qps = {
            let mut b = self.bucket.lock();
            b.count_at(Instant::now(), 0);
            b.last_second
        };
        QuotaTracking {
            tenant: self.name(),
            limits: self.limits(),
            storage_bytes: 0,
            connections: self.connections.load(Ordering::SeqCst),
            qps,
            statements_total: self.statements_total.load(Ordering::Relaxed),
            rejected_storage: self.rejected_storage.load(Ordering::Relaxed),
            rejected_connections: self.rejected_connections.load(Ordering::Relaxed),
            rejected_qps: self.rejected_qps.load(Ordering::Relaxed),
        }
    }
}

/// A process-wide origin for whole seconds.
fn second_of(t: Instant) -> u64 {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    t.saturating_duration_since(origin).as_secs()
}

impl Bucket {
    fn count(&mut self, now: Instant) {
        self.count_at(now, 1);
    }

    /// Moves the per-second counters to `now`'s second, then adds `n`.
    fn count_at(&mut self, now: Instant, n: u64) {
        let s = second_of(now);
        if s != self.second {
            self.last_second = if s == self.second + 1 {
                self.this_second
            } else {
                0
            };
            self.this_second = 0;
            self.second = s;
        }
        self.this_second += n;
    }
}

/// A connection counted against a tenant; dropping it frees the slot.
pub struct Slot(Arc<TenantQuota>);

impl Slot {
    pub fn tenant(&self) -> uuid::Uuid {
        self.0.id
    }

    pub fn quota(&self) -> &Arc<TenantQuota> {
        &self.0
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Slot({})", self.0.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(conns: i64, qps: i64) -> ResourceLimits {
        ResourceLimits {
            max_storage_bytes: 1 << 30,
            max_connections: conns,
            max_qps: qps,
        }
    }

    #[test]
    fn connection_slots_are_counted_and_freed() {
        let r = QuotaRegistry::default();
        let q = r.tenant(uuid::Uuid::new_v4(), "acme", limits(2, 10));
        let a = q.connect().unwrap();
        let b = q.connect().unwrap();
        let e = q.connect().unwrap_err();
        assert_eq!(e.sqlstate(), "53300");
        assert_eq!(e.message, "too many connections for tenant \"acme\"");
        drop(a);
        let _c = q.connect().unwrap();
        drop(b);
        assert_eq!(q.tracking().connections, 1);
        assert_eq!(q.tracking().rejected_connections, 1);
    }

    #[test]
    fn the_bucket_holds_one_seconds_worth() {
        let r = QuotaRegistry::default();
        let q = r.tenant(uuid::Uuid::new_v4(), "acme", limits(5, 50));
        let admitted = (0..200).filter(|_| q.admit().is_ok()).count();
        // 50 at once, plus what refills while the loop runs (well under a
        // token per microsecond at 50 per second).
        assert!((50..=52).contains(&admitted), "{admitted}");
        let e = q.admit().unwrap_err();
        assert_eq!(e.sqlstate(), "53400");
        assert!(e.hint.unwrap().starts_with("Retry after "));
        assert_eq!(q.tracking().statements_total as usize, admitted);
    }

    #[test]
    fn zero_qps_refuses_everything_and_new_limits_apply() {
        let r = QuotaRegistry::default();
        let q = r.tenant(uuid::Uuid::new_v4(), "acme", limits(5, 0));
        assert_eq!(q.admit().unwrap_err().sqlstate(), "53400");
        q.set_limits(limits(5, 1000));
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(q.admit().is_ok());
    }
}
