//! Dependencies in the system relations: `pg_depend` (between objects of
//! the database) and `pg_shdepend` (of objects on roles), derived from the
//! catalog as PostgreSQL records them for the objects HeliosDB has.
//!
//! * `pg_depend`: a policy depends automatically (`a`) on its table and
//!   normally (`n`) on every other relation its expressions read.
//! * `pg_shdepend`: an object depends on its owner (`o`) unless that is
//!   the bootstrap superuser, on every role its access control list grants
//!   to (`a`), and a policy on the roles it applies to (`r`).

use super::{Builder, Ctx, SystemTable, int8, namespace_oid, text};
use crate::catalog::acl::{Object, PUBLIC};
use crate::types::{DataType, Value};

const OID: DataType = DataType::Int8;

/// PostgreSQL's oids of the catalogs objects live in (`classid`).
const PG_AUTHID: i64 = 1260;
const PG_CLASS: i64 = 1259;
const PG_PROC: i64 = 1255;
const PG_NAMESPACE: i64 = 2615;
const PG_DATABASE: i64 = 1262;
const PG_POLICY: i64 = 3256;

pub fn pg_depend(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&[
        ("classid", OID),
        ("objid", OID),
        ("objsubid", DataType::Int4),
        ("refclassid", OID),
        ("refobjid", OID),
        ("refobjsubid", DataType::Int4),
        ("deptype", DataType::Text),
    ]);
    for t in ctx.catalog.tables.values() {
        for p in &t.rls.policies {
            let refs = std::iter::once((t.id, "a")).chain(p.depends_on.iter().map(|&d| (d, "n")));
            for (rel, deptype) in refs {
                b.push(vec![
                    int8(PG_POLICY),
                    int8(p.id as i64),
                    Value::Int4(0),
                    int8(PG_CLASS),
                    int8(rel as i64),
                    Value::Int4(0),
                    text(deptype),
                ]);
            }
        }
    }
    b.finish()
}

pub fn pg_shdepend(ctx: &Ctx) -> SystemTable {
    let cat = ctx.catalog;
    let mut b = Builder::new(&[
        ("dbid", OID),
        ("classid", OID),
        ("objid", OID),
        ("objsubid", DataType::Int4),
        ("refclassid", OID),
        ("refobjid", OID),
        ("deptype", DataType::Text),
    ]);
    let bootstrap = cat.bootstrap_role();
    let db = cat.database as i64;
    let mut push = |dbid: i64, classid: i64, objid: i64, role: u32, deptype: &str| {
        b.push(vec![
            int8(dbid),
            int8(classid),
            int8(objid),
            Value::Int4(0),
            int8(PG_AUTHID),
            int8(super::roles::role_oid(cat, role)),
            text(deptype),
        ]);
    };
    let mut object = |classid: i64, objid: i64, obj: Object<'_>| {
        let owner = obj.owner();
        if Some(owner) != bootstrap {
            push(db, classid, objid, owner, "o");
        }
        let mut grantees: Vec<u32> = obj
            .acl()
            .into_iter()
            .flatten()
            .map(|i| i.grantee)
            .filter(|&g| g != PUBLIC && g != owner)
            .collect();
        grantees.sort_unstable();
        grantees.dedup();
        for g in grantees {
            push(db, classid, objid, g, "a");
        }
    };
    for s in cat.schemas.values() {
        object(PG_NAMESPACE, namespace_oid(cat, &s.name), Object::Schema(s));
    }
    for t in cat.tables.values() {
        object(PG_CLASS, t.id as i64, Object::Table(t));
    }
    for v in cat.views.values() {
        object(PG_CLASS, v.id as i64, Object::View(v));
    }
    for s in cat.sequences.values().filter(|s| !s.internal) {
        object(PG_CLASS, s.id as i64, Object::Sequence(s));
    }
    for f in cat.functions.values() {
        object(PG_PROC, f.id as i64, Object::Function(f));
    }
    for t in cat.tables.values() {
        for p in &t.rls.policies {
            let mut roles: Vec<u32> = p.roles.iter().copied().filter(|&r| r != PUBLIC).collect();
            roles.sort_unstable();
            roles.dedup();
            for r in roles {
                push(db, PG_POLICY, p.id as i64, r, "r");
            }
        }
    }
    // Databases are shared objects (dbid 0).
    for d in cat.databases.values() {
        if Some(d.owner) != bootstrap {
            push(0, PG_DATABASE, d.id as i64, d.owner, "o");
        }
    }
    b.finish()
}
