//! Row-level security in the system relations: `pg_policy` and the
//! `pg_policies` view, from the policies stored on each table.

use super::{Builder, Ctx, SystemTable, int8, text};
use crate::catalog::acl::PUBLIC;
use crate::types::{DataType, Value};

const OID: DataType = DataType::Int8;
const NAME: DataType = DataType::Text;

pub fn pg_policy(ctx: &Ctx) -> SystemTable {
    let cat = ctx.catalog;
    let mut b = Builder::new(&[
        ("oid", OID),
        ("polname", NAME),
        ("polrelid", OID),
        ("polcmd", DataType::Text),
        ("polpermissive", DataType::Bool),
        ("polroles", DataType::Array(Box::new(OID))),
        ("polqual", DataType::Text),
        ("polwithcheck", DataType::Text),
    ]);
    for t in cat.tables.values() {
        for p in &t.rls.policies {
            let roles = p
                .roles
                .iter()
                .map(|&r| {
                    Value::Int8(if r == PUBLIC {
                        0
                    } else {
                        super::roles::role_oid(cat, r)
                    })
                })
                .collect();
            b.push(vec![
                int8(p.id as i64),
                text(p.name.clone()),
                int8(t.id as i64),
                text(p.command.letter()),
                Value::Bool(p.permissive),
                Value::Array(OID, roles),
                p.using.clone().map(Value::Text).unwrap_or(Value::Null),
                p.with_check.clone().map(Value::Text).unwrap_or(Value::Null),
            ]);
        }
    }
    b.finish()
}

pub fn pg_policies(ctx: &Ctx) -> SystemTable {
    let cat = ctx.catalog;
    let mut b = Builder::new(&[
        ("schemaname", NAME),
        ("tablename", NAME),
        ("policyname", NAME),
        ("permissive", DataType::Text),
        ("roles", DataType::Array(Box::new(NAME))),
        ("cmd", DataType::Text),
        ("qual", DataType::Text),
        ("with_check", DataType::Text),
    ]);
    for t in cat.tables.values() {
        for p in &t.rls.policies {
            let roles = p
                .roles
                .iter()
                .map(|&r| {
                    Value::Text(if r == PUBLIC {
                        "public".into()
                    } else {
                        super::role_name(cat, r)
                    })
                })
                .collect();
            // PostgreSQL shows the deparsed expressions, parenthesized.
            let shown = |e: &Option<String>| {
                e.as_ref()
                    .map(|e| Value::Text(format!("({e})")))
                    .unwrap_or(Value::Null)
            };
            b.push(vec![
                text(t.schema.clone()),
                text(t.name.clone()),
                text(p.name.clone()),
                text(if p.permissive {
                    "PERMISSIVE"
                } else {
                    "RESTRICTIVE"
                }),
                Value::Array(NAME, roles),
                text(p.command.word()),
                shown(&p.using),
                shown(&p.with_check),
            ]);
        }
    }
    b.finish()
}
