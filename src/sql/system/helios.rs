//! The `helios` schema's relations: `helios.tenants`, `helios.policies` and
//! `helios.tiers` (every tier's limits, readable by anyone).
//!
//! `helios.tenants` is built when the query runs, for the current user:
//! superusers and CREATEROLE roles (who manage tenants) see every tenant,
//! anyone else only the tenant its session runs in.

use super::{Builder, Ctx, SystemTable, text};
use crate::catalog::Catalog;
use crate::sql::plan::Column;
use crate::types::{DataType, Value};

pub const NAMES: &[&str] = &[
    "tenants",
    "policies",
    "tiers",
    "tenant_usage",
    "consumers",
    "change_log",
    "migrations",
];

/// The columns of `helios.tenant_checksum(tenant)`.
pub fn checksum_columns() -> Vec<Column> {
    Builder::new(&[
        ("table_name", DataType::Text),
        ("row_count", DataType::Int8),
        ("checksum", DataType::Text),
    ])
    .columns
}

/// The columns of `helios.changes(...)`.
pub fn change_columns() -> Vec<Column> {
    Builder::new(&[
        ("lsn", DataType::Int8),
        ("txid", DataType::Int8),
        ("commit_ts", DataType::Timestamptz),
        ("table_name", DataType::Text),
        ("tenant_id", DataType::Uuid),
        ("op", DataType::Text),
        ("pk", DataType::Jsonb),
        ("before", DataType::Jsonb),
        ("after", DataType::Jsonb),
    ])
    .columns
}

pub fn build(ctx: &Ctx, name: &str) -> Option<SystemTable> {
    Some(match name {
        "tenants" => tenant_columns().session("helios.tenants"),
        "policies" => super::policies::pg_policies(ctx),
        "tiers" => tiers(ctx),
        "tenant_usage" => Builder::new(&[
            ("tenant", DataType::Text),
            ("tier", DataType::Text),
            ("storage_bytes", DataType::Int8),
            ("max_storage_bytes", DataType::Int8),
            ("connections", DataType::Int8),
            ("max_connections", DataType::Int8),
            ("qps", DataType::Int8),
            ("max_qps", DataType::Int8),
            ("statements_total", DataType::Int8),
            ("rejected_storage", DataType::Int8),
            ("rejected_connections", DataType::Int8),
            ("rejected_qps", DataType::Int8),
        ])
        .session("helios.tenant_usage"),
        "consumers" => Builder::new(&[
            ("name", DataType::Text),
            ("tenant", DataType::Text),
            ("acked_lsn", DataType::Int8),
            ("lag", DataType::Int8),
            ("status", DataType::Text),
            ("created_at", DataType::Timestamptz),
            ("acked_at", DataType::Timestamptz),
        ])
        .session("helios.consumers"),
        "change_log" => Builder::new(&[
            ("first_lsn", DataType::Int8),
            ("last_lsn", DataType::Int8),
            ("compacted_through", DataType::Int8),
            ("retained_bytes", DataType::Int8),
            ("retention_age", DataType::Interval),
            ("retention_bytes", DataType::Int8),
            ("max_bytes", DataType::Int8),
        ])
        .session("helios.change_log"),
        "migrations" => Builder::new(&[
            ("id", DataType::Int8),
            ("source", DataType::Text),
            ("target", DataType::Text),
            ("state", DataType::Text),
            ("cutover", DataType::Bool),
            ("snapshot_lsn", DataType::Int8),
            ("applied_lsn", DataType::Int8),
            ("lag", DataType::Int8),
            ("total_rows", DataType::Int8),
            ("rows_copied", DataType::Int8),
            ("changes_applied", DataType::Int8),
            ("checksums", DataType::Jsonb),
            ("error", DataType::Text),
            ("created_at", DataType::Timestamptz),
            ("updated_at", DataType::Timestamptz),
            ("completed_at", DataType::Timestamptz),
        ])
        .session("helios.migrations"),
        _ => return None,
    })
}

fn tenant_columns() -> Builder {
    Builder::new(&[
        ("id", DataType::Uuid),
        ("name", DataType::Text),
        ("tier", DataType::Text),
        ("created_at", DataType::Timestamptz),
    ])
}

/// The rows of `helios.tenants` for `user` in a session running in `tenant`.
pub fn tenant_rows(cat: &Catalog, user: u32, tenant: Option<uuid::Uuid>) -> Vec<Vec<Value>> {
    let manager = cat.manages_tenants(user);
    let mut rows: Vec<_> = cat
        .tenants
        .values()
        .filter(|t| manager || Some(t.id) == tenant)
        .map(|t| {
            vec![
                Value::Uuid(t.id),
                text(t.name.clone()),
                text(t.tier.clone()),
                chrono::DateTime::from_timestamp_micros(t.created_at)
                    .map(Value::Timestamptz)
                    .unwrap_or(Value::Null),
            ]
        })
        .collect();
    rows.sort_by(|a, b| a[1].to_string().cmp(&b[1].to_string()));
    rows
}

/// `helios.tiers`: every tier's limits (the built-in ones as altered).
fn tiers(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&[
        ("name", DataType::Text),
        ("max_storage_bytes", DataType::Int8),
        ("max_connections", DataType::Int8),
        ("max_qps", DataType::Int8),
    ]);
    for t in ctx.catalog.all_tiers() {
        b.push(vec![
            text(t.name),
            Value::Int8(t.limits.max_storage_bytes),
            Value::Int8(t.limits.max_connections),
            Value::Int8(t.limits.max_qps),
        ]);
    }
    b.finish()
}
