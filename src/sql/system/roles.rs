//! Role relations, from the roles catalog (`catalog::roles::RoleDef`):
//! `pg_roles`, `pg_user` and `pg_auth_members` for everyone; `pg_authid`
//! and `pg_shadow`, which hold the password verifiers, for superusers only
//! (their rows are built when the plan runs, see [`role_secrets_rows`]);
//! `information_schema.enabled_roles` and `applicable_roles`, which depend
//! on the current user.
//!
//! Role oids: the bootstrap superuser is 10, as in PostgreSQL; other roles
//! use their catalog id.

use super::{Builder, Ctx, SUPERUSER_OID, SystemTable, int8, text};
use crate::catalog::{Catalog, RoleDef};
use crate::types::{DataType, Value};

const OID: DataType = DataType::Int8;
const NAME: DataType = DataType::Text;
const BOOL: DataType = DataType::Bool;

/// The oid a role shows in the system relations.
pub fn role_oid(cat: &Catalog, id: u32) -> i64 {
    if cat.bootstrap_role() == Some(id) {
        SUPERUSER_OID
    } else {
        id as i64
    }
}

/// Every role as (oid, name), in oid order.
pub fn role_names(cat: &Catalog) -> Vec<(i64, String)> {
    let mut out: Vec<(i64, String)> = cat
        .roles
        .values()
        .map(|r| (role_oid(cat, r.id), r.name.clone()))
        .collect();
    out.sort();
    out
}

fn valid_until(r: &RoleDef) -> Value {
    r.valid_until.map(Value::Timestamptz).unwrap_or(Value::Null)
}

/// Per-role settings (`ALTER ROLE ... SET`) do not exist yet.
fn no_config() -> Value {
    Value::Null
}

fn text_array() -> DataType {
    DataType::Array(Box::new(DataType::Text))
}

pub(super) fn pg_roles(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&[
        ("rolname", NAME),
        ("rolsuper", BOOL),
        ("rolinherit", BOOL),
        ("rolcreaterole", BOOL),
        ("rolcreatedb", BOOL),
        ("rolcanlogin", BOOL),
        ("rolreplication", BOOL),
        ("rolconnlimit", DataType::Int4),
        ("rolpassword", DataType::Text),
        ("rolvaliduntil", DataType::Timestamptz),
        ("rolbypassrls", BOOL),
        ("rolconfig", text_array()),
        ("oid", OID),
    ]);
    for r in ctx.catalog.roles.values() {
        b.push(vec![
            text(r.name.clone()),
            Value::Bool(r.superuser),
            Value::Bool(r.inherit),
            Value::Bool(r.createrole),
            Value::Bool(r.createdb),
            Value::Bool(r.login),
            Value::Bool(false),
            Value::Int4(r.connection_limit),
            text("********"),
            valid_until(r),
            Value::Bool(r.bypassrls),
            no_config(),
            int8(role_oid(ctx.catalog, r.id)),
        ]);
    }
    b.finish()
}

/// `pg_user` and `pg_shadow`: the roles that can log in.
fn user_columns(password_column: DataType) -> Vec<(&'static str, DataType)> {
    vec![
        ("usename", NAME),
        ("usesysid", OID),
        ("usecreatedb", BOOL),
        ("usesuper", BOOL),
        ("userepl", BOOL),
        ("usebypassrls", BOOL),
        ("passwd", password_column),
        ("valuntil", DataType::Timestamptz),
        ("useconfig", text_array()),
    ]
}

fn user_row(cat: &Catalog, r: &RoleDef, password: Value) -> Vec<Value> {
    vec![
        text(r.name.clone()),
        int8(role_oid(cat, r.id)),
        Value::Bool(r.createdb),
        Value::Bool(r.superuser),
        Value::Bool(false),
        Value::Bool(r.bypassrls),
        password,
        valid_until(r),
        no_config(),
    ]
}

pub(super) fn pg_user(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&user_columns(DataType::Text));
    for r in ctx.catalog.roles.values().filter(|r| r.login) {
        b.push(user_row(ctx.catalog, r, text("********")));
    }
    b.finish()
}

/// One row per membership (PostgreSQL 16's columns; 15 has the first four
/// after `oid`). Grantors are not recorded: the bootstrap superuser is shown.
pub(super) fn pg_auth_members(ctx: &Ctx) -> SystemTable {
    let cat = ctx.catalog;
    let mut b = Builder::new(&[
        ("oid", OID),
        ("roleid", OID),
        ("member", OID),
        ("grantor", OID),
        ("admin_option", BOOL),
        ("inherit_option", BOOL),
        ("set_option", BOOL),
    ]);
    for m in cat.roles.values() {
        for &role in &m.member_of {
            b.push(vec![
                // A synthetic oid above 2^32 (role ids start at 16384), stable for the pair.
                int8(((role as i64) << 31) | (m.id as i64 & 0x7fff_ffff)),
                int8(role_oid(cat, role)),
                int8(role_oid(cat, m.id)),
                int8(SUPERUSER_OID),
                Value::Bool(false),
                Value::Bool(m.inherit),
                Value::Bool(true),
            ]);
        }
    }
    b.finish()
}

/// The columns of `pg_authid` or `pg_shadow`; their rows come from [`role_secrets_rows`].
pub(super) fn secrets_table(name: &'static str) -> SystemTable {
    let columns = if name == "pg_shadow" {
        user_columns(DataType::Text)
    } else {
        vec![
            ("oid", OID),
            ("rolname", NAME),
            ("rolsuper", BOOL),
            ("rolinherit", BOOL),
            ("rolcreaterole", BOOL),
            ("rolcreatedb", BOOL),
            ("rolcanlogin", BOOL),
            ("rolreplication", BOOL),
            ("rolbypassrls", BOOL),
            ("rolconnlimit", DataType::Int4),
            ("rolpassword", DataType::Text),
            ("rolvaliduntil", DataType::Timestamptz),
        ]
    };
    Builder::new(&columns).session(name)
}

/// The rows of `pg_authid` or `pg_shadow`, with the SCRAM verifiers; the
/// caller has checked that the current user is a superuser.
pub fn role_secrets_rows(cat: &Catalog, name: &str) -> Vec<Vec<Value>> {
    let password = |r: &RoleDef| r.password.clone().map(Value::Text).unwrap_or(Value::Null);
    if name == "pg_shadow" {
        return cat
            .roles
            .values()
            .filter(|r| r.login)
            .map(|r| user_row(cat, r, password(r)))
            .collect();
    }
    cat.roles
        .values()
        .map(|r| {
            vec![
                int8(role_oid(cat, r.id)),
                text(r.name.clone()),
                Value::Bool(r.superuser),
                Value::Bool(r.inherit),
                Value::Bool(r.createrole),
                Value::Bool(r.createdb),
                Value::Bool(r.login),
                Value::Bool(false),
                Value::Bool(r.bypassrls),
                Value::Int4(r.connection_limit),
                password(r),
                valid_until(r),
            ]
        })
        .collect()
}

/// `information_schema.enabled_roles` / `applicable_roles`: columns now,
/// rows from [`current_user_roles_rows`] when the plan runs.
pub(super) fn current_user_roles_table(name: &'static str) -> SystemTable {
    let columns: &[(&str, DataType)] = if name == "applicable_roles" {
        &[
            ("grantee", NAME),
            ("role_name", NAME),
            ("is_grantable", DataType::Text),
        ]
    } else {
        &[("role_name", NAME)]
    };
    Builder::new(columns).session(name)
}

/// `user` and the roles whose privileges it inherits: those it is a
/// member of, directly or through other roles, stopping at NOINHERIT roles.
fn enabled_roles(cat: &Catalog, user: u32) -> Vec<u32> {
    let mut out = vec![user];
    let mut i = 0;
    while i < out.len() {
        if let Some(r) = cat.roles.get(&out[i])
            && r.inherit
        {
            for &g in &r.member_of {
                if !out.contains(&g) {
                    out.push(g);
                }
            }
        }
        i += 1;
    }
    out
}

/// Rows of `enabled_roles` (the current user and the roles it inherits
/// from) or `applicable_roles` (the memberships of those roles).
pub fn current_user_roles_rows(cat: &Catalog, name: &str, user: u32) -> Vec<Vec<Value>> {
    let enabled = enabled_roles(cat, user);
    let name_of = |id: u32| cat.roles.get(&id).map(|r| r.name.clone());
    let mut rows: Vec<Vec<Value>> = if name == "applicable_roles" {
        enabled
            .iter()
            .filter_map(|&m| Some((name_of(m)?, cat.roles.get(&m)?)))
            .flat_map(|(grantee, m)| {
                m.member_of.iter().filter_map(move |&g| {
                    Some(vec![text(grantee.clone()), text(name_of(g)?), text("NO")])
                })
            })
            .collect()
    } else {
        enabled
            .iter()
            .filter_map(|&r| Some(vec![text(name_of(r)?)]))
            .collect()
    };
    rows.sort_by_key(|r| r.iter().map(|v| v.to_string()).collect::<Vec<_>>());
    rows
}
