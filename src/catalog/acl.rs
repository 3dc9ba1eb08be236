//! Privileges: owners and access control lists, as in PostgreSQL.
//!
//! Every schema, table, view and sequence has an owner (the role that
//! created it, until `ALTER ... OWNER TO`) and an access control list of
//! [`AclItem`]s: who was granted which privileges, by whom, and with which
//! grant options. An object whose list was never changed has no list
//! (`None`) and gets PostgreSQL's default: everything for the owner, and for
//! PUBLIC nothing (tables, views, sequences, new schemas) or USAGE (the
//! `public` schema, as in PostgreSQL 15).
//!
//! A role holds a privilege when an item grants it to PUBLIC, to the role
//! itself, or to a role whose privileges it has (it is a member through
//! roles with INHERIT). Superusers hold every privilege. The owner always
//! holds every grant option, so it can grant again what it revoked from
//! itself. Ownership (needed for ALTER, DROP, GRANT by the owner) is held by
//! the owner role and every role that has its privileges.

use super::{Catalog, FunctionDef, SchemaDef, SequenceDef, TableDef, ViewDef};
use crate::error::{Error, Result, SqlState};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// A set of privileges, one bit per privilege.
pub type Privs = u16;

pub const INSERT: Privs = 1 << 0;
pub const SELECT: Privs = 1 << 1;
pub const UPDATE: Privs = 1 << 2;
pub const DELETE: Privs = 1 << 3;
pub const TRUNCATE: Privs = 1 << 4;
pub const REFERENCES: Privs = 1 << 5;
pub const TRIGGER: Privs = 1 << 6;
pub const USAGE: Privs = 1 << 7;
pub const CREATE: Privs = 1 << 8;
pub const CONNECT: Privs = 1 << 9;
pub const TEMPORARY: Privs = 1 << 10;
pub const EXECUTE: Privs = 1 << 11;

/// Privilege letters in PostgreSQL's `aclitem` order.
const LETTERS: [(Privs, char); 12] = [
    (INSERT, 'a'),
    (SELECT, 'r'),
    (UPDATE, 'w'),
    (DELETE, 'd'),
    (TRUNCATE, 'D'),
    (REFERENCES, 'x'),
    (TRIGGER, 't'),
    (EXECUTE, 'X'),
    (USAGE, 'U'),
    (CREATE, 'C'),
    (TEMPORARY, 'T'),
    (CONNECT, 'c'),
];

/// The grantee id that stands for PUBLIC (every role).
pub const PUBLIC: u32 = 0;

/// One entry of an access control list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclItem {
    /// The role granted to, or [`PUBLIC`].
    pub grantee: u32,
    /// The role that granted (the owner, or a holder of the grant option).
    pub grantor: u32,
    pub privs: Privs,
    /// Privileges the grantee may grant to others.
    pub grant_option: Privs,
}

/// The kinds of object that have privileges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    Table,
    View,
    Sequence,
    Schema,
    Database,
    Function,
}

impl ObjectKind {
    /// Every privilege that applies to this kind (what `ALL` means).
    pub fn all(self) -> Privs {
        match self {
            ObjectKind::Table | ObjectKind::View => {
                INSERT | SELECT | UPDATE | DELETE | TRUNCATE | REFERENCES | TRIGGER
            }
            ObjectKind::Sequence => USAGE | SELECT | UPDATE,
            ObjectKind::Schema => USAGE | CREATE,
            ObjectKind::Database => CREATE | CONNECT | TEMPORARY,
            ObjectKind::Function => EXECUTE,
        }
    }

    /// The word PostgreSQL's messages use (`permission denied for table t`).
    pub fn noun(self) -> &'static str {
        match self {
            ObjectKind::Table => "table",
            ObjectKind::View => "view",
            ObjectKind::Sequence => "sequence",
            ObjectKind::Schema => "schema",
            ObjectKind::Database => "database",
            ObjectKind::Function => "function",
        }
    }
}

/// The privilege `name` (as in GRANT), or None for an unknown word.
pub fn privilege_named(name: &str) -> Option<Privs> {
    Some(match name.to_ascii_uppercase().as_str() {
        "INSERT" => INSERT,
        "SELECT" => SELECT,
        "UPDATE" => UPDATE,
        "DELETE" => DELETE,
        "TRUNCATE" => TRUNCATE,
        "REFERENCES" => REFERENCES,
        "TRIGGER" => TRIGGER,
        "USAGE" => USAGE,
        "CREATE" => CREATE,
        "CONNECT" => CONNECT,
        "TEMPORARY" | "TEMP" => TEMPORARY,
        "EXECUTE" => EXECUTE,
        _ => return None,
    })
}

/// The upper-case name of one privilege bit (for messages).
pub fn privilege_name(p: Privs) -> &'static str {
    match p {
        INSERT => "INSERT",
        SELECT => "SELECT",
        UPDATE => "UPDATE",
        DELETE => "DELETE",
        TRUNCATE => "TRUNCATE",
        REFERENCES => "REFERENCES",
        TRIGGER => "TRIGGER",
        USAGE => "USAGE",
        CREATE => "CREATE",
        CONNECT => "CONNECT",
        EXECUTE => "EXECUTE",
        _ => "TEMPORARY",
    }
}

/// The individual privileges in a set, in `aclitem` order.
pub fn each(privs: Privs) -> impl Iterator<Item = Privs> {
    LETTERS
        .iter()
        .map(|(p, _)| *p)
        .filter(move |p| privs & p != 0)
}

/// The list an object without an explicit ACL behaves as having.
pub fn default_acl(kind: ObjectKind, owner: u32) -> Vec<AclItem> {
    let mut v = vec![AclItem {
        grantee: owner,
        grantor: owner,
        privs: kind.all(),
        grant_option: 0,
    }];
    if kind == ObjectKind::Database {
        v.push(AclItem {
            grantee: PUBLIC,
            grantor: owner,
            privs: CONNECT | TEMPORARY,
            grant_option: 0,
        });
    }
    if kind == ObjectKind::Function {
        v.push(AclItem {
            grantee: PUBLIC,
            grantor: owner,
            privs: EXECUTE,
            grant_option: 0,
        });
    }
    v
}

/// The `public` schema's list: owner everything, PUBLIC USAGE (PostgreSQL 15's default).
pub fn public_schema_acl(owner: u32) -> Vec<AclItem> {
    vec![
        AclItem {
            grantee: owner,
            grantor: owner,
            privs: USAGE | CREATE,
            grant_option: 0,
        },
        AclItem {
            grantee: PUBLIC,
            grantor: owner,
            privs: USAGE,
            grant_option: 0,
        },
    ]
}

/// Adds `privs` (and grant options) for `grantee` from `grantor`, merging
/// with an existing item for the same pair.
pub fn grant(acl: &mut Vec<AclItem>, grantee: u32, grantor: u32, privs: Privs, options: Privs) {
    match acl
        .iter_mut()
        .find(|i| i.grantee == grantee && i.grantor == grantor)
    {
        Some(i) => {
            i.privs |= privs;
            i.grant_option |= options;
        }
        None => acl.push(AclItem {
            grantee,
            grantor,
            privs,
            grant_option: options,
        }),
    }
}

/// Formats an item as PostgreSQL's `aclitem` text: `grantee=privs/grantor`,
/// an empty grantee for PUBLIC, `*` after a privilege with grant option.
pub fn format_item(item: &AclItem, catalog: &Catalog) -> String {
    let name = |id: u32| -> String {
        if id == PUBLIC {
            return String::new();
        }
        let n = catalog
            .roles
            .get(&id)
            .map(|r| r.name.clone())
            .unwrap_or_else(|| id.to_string());
        if n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            n
        } else {
            format!("\"{}\"", n.replace('"', "\"\""))
        }
    };
    let mut s = name(item.grantee);
    s.push('=');
    for (p, c) in LETTERS {
        if item.privs & p != 0 {
            s.push(c);
            if item.grant_option & p != 0 {
                s.push('*');
            }
        }
    }
    s.push('/');
    s.push_str(&name(item.grantor));
    s
}

/// An object privileges are checked on.
#[derive(Clone, Copy)]
pub enum Object<'a> {
    Function(&'a FunctionDef),
    Table(&'a TableDef),
    View(&'a ViewDef),
    Sequence(&'a SequenceDef),
    Schema(&'a SchemaDef),
}

impl<'a> Object<'a> {
    pub fn kind(&self) -> ObjectKind {
        match self {
            Object::Table(_) => ObjectKind::Table,
            Object::View(_) => ObjectKind::View,
            Object::Sequence(_) => ObjectKind::Sequence,
            Object::Schema(_) => ObjectKind::Schema,
            Object::Function(_) => ObjectKind::Function,
        }
    }

    pub fn name(&self) -> &'a str {
        match self {
            Object::Table(t) => &t.name,
            Object::View(v) => &v.name,
            Object::Sequence(s) => &s.name,
            Object::Schema(s) => &s.name,
            Object::Function(f) => &f.name,
        }
    }

    pub fn owner(&self) -> u32 {
        match self {
            Object::Table(t) => t.owner,
            Object::View(v) => v.owner,
            Object::Sequence(s) => s.owner,
            Object::Schema(s) => s.owner,
            Object::Function(f) => f.owner,
        }
    }

    pub fn acl(&self) -> Option<&'a [AclItem]> {
        match self {
            Object::Table(t) => t.acl.as_deref(),
            Object::View(v) => v.acl.as_deref(),
            Object::Sequence(s) => s.acl.as_deref(),
            Object::Schema(s) => s.acl.as_deref(),
            Object::Function(f) => f.acl.as_deref(),
        }
    }

    /// The object's list, or the default it behaves as having.
    pub fn effective_acl(&self) -> Vec<AclItem> {
        match self.acl() {
            Some(a) => a.to_vec(),
            None => default_acl(self.kind(), self.owner()),
        }
    }
}

/// 42501 `permission denied for table t`.
pub fn denied(kind: ObjectKind, name: &str) -> Error {
    Error::new(
        SqlState::INSUFFICIENT_PRIVILEGE,
        format!("permission denied for {} {name}", kind.noun()),
    )
}

/// 42501 `must be owner of table t`.
pub fn not_owner(kind: ObjectKind, name: &str) -> Error {
    Error::new(
        SqlState::INSUFFICIENT_PRIVILEGE,
        format!("must be owner of {} {name}", kind.noun()),
    )
}

impl Catalog {
    pub fn is_superuser(&self, role: u32) -> bool {
        self.roles.get(&role).is_some_and(|r| r.superuser)
    }

    /// The roles whose privileges `role` has: itself, and the roles it is a
    /// member of through a chain of roles with INHERIT.
    pub fn roles_with_privileges_of(&self, role: u32) -> HashSet<u32> {
        let mut seen = HashSet::new();
        let mut stack = vec![role];
        while let Some(r) = stack.pop() {
            if !seen.insert(r) {
                continue;
            }
            if let Some(def) = self.roles.get(&r)
                && def.inherit
            {
                stack.extend(def.member_of.iter().copied());
            }
        }
        seen
    }

    /// True if `member` has the privileges of `role` (superusers have all).
    pub fn has_privileges_of_role(&self, member: u32, role: u32) -> bool {
        member == role
            || self.is_superuser(member)
            || self.roles_with_privileges_of(member).contains(&role)
    }

    /// The privileges and grant options `role` holds on `obj`.
    pub fn privileges(&self, role: u32, obj: Object<'_>) -> (Privs, Privs) {
        let all = obj.kind().all();
        if self.is_superuser(role) {
            return (all, all);
        }
        let roles = self.roles_with_privileges_of(role);
        let default;
        let items = match obj.acl() {
            Some(a) => a,
            None => {
                default = default_acl(obj.kind(), obj.owner());
                &default
            }
        };
        let (mut privs, mut options) = (0, 0);
        for i in items {
            if i.grantee == PUBLIC || roles.contains(&i.grantee) {
                privs |= i.privs;
                options |= i.grant_option;
            }
        }
        if roles.contains(&obj.owner()) {
            options = all;
        }
        (privs & all, options & all)
    }

    /// Fails with 42501 unless `role` holds one of `any_of` on `obj`.
    pub fn check_privilege(&self, role: u32, obj: Object<'_>, any_of: Privs) -> Result<()> {
        if self.privileges(role, obj).0 & any_of != 0 {
            Ok(())
        } else {
            Err(denied(obj.kind(), obj.name()))
        }
    }

    /// Fails with 42501 `must be owner of ...` unless `role` owns `obj`
    /// (has the owner's privileges).
    pub fn check_owner(&self, role: u32, obj: Object<'_>) -> Result<()> {
        if self.has_privileges_of_role(role, obj.owner()) {
            Ok(())
        } else {
            Err(not_owner(obj.kind(), obj.name()))
        }
    }

    /// Fails with 42501 unless `role` may use schema `name` (USAGE).
    pub fn check_schema_usage(&self, role: u32, name: &str) -> Result<()> {
        match self.schemas.get(name) {
            Some(s) => self.check_privilege(role, Object::Schema(s), USAGE),
            None => Ok(()),
        }
    }

    /// True if any object's owner or access control list mentions `role`
    /// (such a role cannot be dropped); the descriptions say which.
    /// `name` shows an object's schema and name as the message should.
    pub fn dependents_of_role(
        &self,
        role: u32,
        name: impl Fn(&str, &str) -> String,
    ) -> Vec<String> {
        let qualified = |schema: &str, n: &str| name(schema, n);
        let mut out = Vec::new();
        let mut visit = |obj: Object<'_>, label: String| {
            if obj.owner() == role {
                out.push(format!("owner of {label}"));
            } else if obj
                .acl()
                .is_some_and(|a| a.iter().any(|i| i.grantee == role || i.grantor == role))
            {
                out.push(format!("privileges for {label}"));
            }
        };
        for s in self.schemas.values() {
            visit(Object::Schema(s), format!("schema {}", s.name));
        }
        for t in self.tables.values() {
            visit(
                Object::Table(t),
                format!("table {}", qualified(&t.schema, &t.name)),
            );
        }
        for v in self.views.values() {
            visit(
                Object::View(v),
                format!("view {}", qualified(&v.schema, &v.name)),
            );
        }
        for s in self.sequences.values().filter(|s| !s.internal) {
            visit(
                Object::Sequence(s),
                format!("sequence {}", qualified(&s.schema, &s.name)),
            );
        }
        for f in self.functions.values() {
            let args: Vec<String> = f.params.iter().map(|(_, t)| t.name()).collect();
            visit(
                Object::Function(f),
                format!(
                    "function {}({})",
                    qualified(&f.schema, &f.name),
                    args.join(", ")
                ),
            );
        }
        for t in self.tables.values() {
            for p in t.rls.policies.iter().filter(|p| p.roles.contains(&role)) {
                out.push(format!(
                    "target of policy {} on table {}",
                    p.name,
                    qualified(&t.schema, &t.name)
                ));
            }
        }
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_merges_and_formats() {
        let mut acl = default_acl(ObjectKind::Table, 10);
        grant(&mut acl, 11, 10, SELECT, 0);
        grant(&mut acl, 11, 10, INSERT, INSERT);
        grant(&mut acl, PUBLIC, 10, SELECT, 0);
        assert_eq!(acl.len(), 3);
        let mut cat = Catalog::default();
        for (id, name) in [(10, "owner"), (11, "Alice")] {
            cat.roles.insert(
                id,
                std::sync::Arc::new(super::super::RoleDef::new(id, name.into())),
            );
        }
        let text: Vec<String> = acl.iter().map(|i| format_item(i, &cat)).collect();
        assert_eq!(
            text,
            ["owner=arwdDxt/owner", "\"Alice\"=a*r/owner", "=r/owner"]
        );
    }

    #[test]
    fn privileges_follow_inherit() {
        let mut cat = Catalog::default();
        let mut member = super::super::RoleDef::new(2, "m".into());
        member.member_of = vec![3];
        let mut group = super::super::RoleDef::new(3, "g".into());
        group.member_of = vec![4];
        group.inherit = false;
        for r in [
            super::super::RoleDef::new(1, "owner".into()),
            member,
            group,
            super::super::RoleDef::new(4, "top".into()),
        ] {
            cat.roles.insert(r.id, std::sync::Arc::new(r));
        }
        // m inherits g's privileges, but g does not inherit top's.
        assert_eq!(cat.roles_with_privileges_of(2), HashSet::from([2, 3]));
        assert!(cat.has_privileges_of_role(2, 3));
        assert!(!cat.has_privileges_of_role(2, 4));
    }
}
