//! The key layout: where everything lives in the engine's single ordered key space.
//!
//! ```text
//! 0x01 'v'                           catalog version (i64, bumped by every DDL commit)
//! 0x01 'o'                           highest object id handed out (i64)
//! 0x02 kind:u8 id:u32                catalog object (JSON): database, role (global);
//!                                    schema, table, index, sequence, view (each
//!                                    names its database in a `database` field)
//! 0x03 id:u32                        sequence position (i64, reserved upper bound)
//! 0x04 table:u32                     planner statistics of a table (JSON, by ANALYZE)
//! 0x05 tenant:uuid                    bytes of a tenant's rows and index entries
//!                                    (i64, changed by merges in the writing commit)
//! 0x06 lsn:u64                       change log entry (`txn::changes`): commit
//!                                    sequence number, commit time, payload
//! 0x10 table:u32 0:u32 pk...         table row: key = primary key (memcomparable), value = row
//! 0x10 table:u32 index:u32 cols pk   secondary index entry (value empty)
//! 0xF0 table:u32                     lock-only key: the table itself (never stored)
//! 0xF1 database:u32 name...          lock-only key: a relation name being created
//! 0xF2                               lock-only key: the roles (all role DDL takes it)
//! 0xF3                               lock-only key: the databases (CREATE / ALTER /
//!                                    DROP DATABASE take it)
//! ```
//!
//! All integers are big-endian so that keys sort by id. Object ids are
//! unique across the whole data directory (one allocator for every
//! database), so data, sequence and statistics keys need no database
//! prefix; only the catalog entries say which database an object belongs
//! to. A table's rows and its index entries are contiguous, so dropping or
//! truncating a table is a prefix range. Later layers add their own prefixes
//! (the change log, tenant accounting) in the same space, so they commit
//! atomically with the data.

pub const META_CATALOG_VERSION: &[u8] = &[0x01, b'v'];
pub const META_NEXT_OID: &[u8] = &[0x01, b'o'];
pub const CATALOG_PREFIX: u8 = 0x02;
pub const SEQUENCE_PREFIX: u8 = 0x03;
pub const STATS_PREFIX: u8 = 0x04;
pub const TENANT_USAGE_PREFIX: u8 = 0x05;
pub const DATA_PREFIX: u8 = 0x10;
pub const LOCK_TABLE_PREFIX: u8 = 0xF0;
pub const LOCK_NAME_PREFIX: u8 = 0xF1;
/// Role DDL serializes on this key, so membership cycle checks and name
/// uniqueness see every committed change.
pub const LOCK_ROLES: &[u8] = &[0xF2];
/// Database DDL serializes on this key, so name uniqueness and the checks
/// of DROP and RENAME see every committed change.
pub const LOCK_DATABASES: &[u8] = &[0xF3];

/// Index id 0 is the table's row store, keyed by primary key.
pub const PRIMARY_INDEX: u32 = 0;

pub fn catalog_key(kind: u8, id: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(6);
    k.push(CATALOG_PREFIX);
    k.push(kind);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

pub fn sequence_key(id: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(5);
    k.push(SEQUENCE_PREFIX);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

pub fn stats_key(table: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(5);
    k.push(STATS_PREFIX);
    k.extend_from_slice(&table.to_be_bytes());
    k
}

/// Prefix of every key of one index (or of the row store, index 0).
pub fn index_prefix(table: u32, index: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + 16);
    k.push(DATA_PREFIX);
    k.extend_from_slice(&table.to_be_bytes());
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// Prefix of all keys of a table: rows and index entries.
pub fn table_prefix(table: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(5);
    k.push(DATA_PREFIX);
    k.extend_from_slice(&table.to_be_bytes());
    k
}

pub fn table_lock_key(table: u32) -> Vec<u8> {
    let mut k = vec![LOCK_TABLE_PREFIX];
    k.extend_from_slice(&table.to_be_bytes());
    k
}

pub fn name_lock_key(database: u32, schema: &str, name: &str) -> Vec<u8> {
    let mut k = vec![LOCK_NAME_PREFIX];
    k.extend_from_slice(&database.to_be_bytes());
    k.extend_from_slice(schema.as_bytes());
    k.push(0);
    k.extend_from_slice(name.as_bytes());
    k
}

/// Where a tenant's storage usage is counted.
pub fn tenant_usage_key(tenant: uuid::Uuid) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.push(TENANT_USAGE_PREFIX);
    k.extend_from_slice(tenant.as_bytes());
    k
}

pub fn i64_value(bytes: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(bytes.try_into().ok()?))
}
