//! The privilege inquiry functions: `has_table_privilege`,
//! `has_sequence_privilege`, `has_schema_privilege`,
//! `has_database_privilege`, `has_column_privilege`,
//! `has_any_column_privilege` and `pg_has_role`.
//!
//! Like the other catalog functions they are answered at bind time from the
//! catalog the statement is bound against (a plan is bound per role, so the
//! answer is the current user's): a literal object gives a constant, an
//! object column (`has_table_privilege(c.oid, 'SELECT')`) a `CASE` over the
//! catalog's objects. The role, when given, and the privilege list must be
//! constants.

use super::Binder;
use crate::catalog::acl::{self, Object, Privs};
use crate::catalog::{Catalog, Relation};
use crate::error::{Error, Result, SqlState};
use crate::sql::expr::Expr;
use crate::sql::system;
use crate::types::{BinaryOp, DataType, Value};

type Bound = (Expr, DataType);

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Table,
    Sequence,
    Schema,
    Database,
    /// has_column_privilege / has_any_column_privilege (answered per table:
    /// there are no column privileges).
    Column {
        with_column: bool,
    },
    Role,
}

/// A constant argument.
fn constant(e: &Expr) -> Option<&Value> {
    match e {
        Expr::Literal(v) => Some(v),
        Expr::Cast(inner, _) => constant(inner),
        _ => None,
    }
}

fn not_constant(name: &str, what: &str) -> Error {
    Error::unsupported(format!("{name}: the {what} must be a constant"))
}

fn unrecognized(p: &str) -> Error {
    Error::new(
        SqlState::INVALID_PARAMETER_VALUE,
        format!("unrecognized privilege type: \"{p}\""),
    )
}

/// Parses `'SELECT, UPDATE WITH GRANT OPTION'` into (privileges, grant options).
fn privilege_list(text: &str, valid: Privs) -> Result<(Privs, Privs)> {
    let (mut privs, mut options) = (0, 0);
    for item in text.split(',') {
        let item = item.trim();
        let upper = item.to_ascii_uppercase();
        let (word, grant) = match upper.strip_suffix(" WITH GRANT OPTION") {
            Some(w) => (w.trim().to_string(), true),
            None => (upper.clone(), false),
        };
        let p = acl::privilege_named(&word)
            .filter(|p| p & valid != 0)
            .ok_or_else(|| unrecognized(item))?;
        if grant {
            options |= p;
        } else {
            privs |= p;
        }
    }
    Ok((privs, options))
}

impl Binder<'_> {
    /// The privilege inquiry functions; `None` if `name` is not one of them.
    pub(super) fn bind_privilege_function(
        &self,
        name: &str,
        args: &[Bound],
    ) -> Result<Option<Bound>> {
        if name == "row_security_active" {
            return self.bind_row_security_active(args).map(Some);
        }
        let kind = match name {
            "has_table_privilege" => Kind::Table,
            "has_sequence_privilege" => Kind::Sequence,
            "has_schema_privilege" => Kind::Schema,
            "has_database_privilege" => Kind::Database,
            "has_column_privilege" => Kind::Column { with_column: true },
            "has_any_column_privilege" => Kind::Column { with_column: false },
            "pg_has_role" => Kind::Role,
            _ => return Ok(None),
        };
        let object_args = if kind == (Kind::Column { with_column: true }) {
            3
        } else {
            2
        };
        if args.len() != object_args && args.len() != object_args + 1 {
            let types: Vec<DataType> = args.iter().map(|(_, t)| t.clone()).collect();
            return Err(crate::sql::functions::undefined_function(name, &types));
        }
        let cat = self.catalog;
        let (role, rest) = if args.len() > object_args {
            let r = constant(&args[0].0).ok_or_else(|| not_constant(name, "role"))?;
            (role_of(cat, r)?, &args[1..])
        } else {
            let current = self
                .current_role
                .get()
                .or_else(|| cat.bootstrap_role())
                .unwrap_or(0);
            (current, args)
        };
        let privilege = match constant(&rest[rest.len() - 1].0) {
            Some(Value::Text(t)) => t.clone(),
            _ => return Err(not_constant(name, "privilege")),
        };
        let object = &rest[0];
        let check = |obj: Object<'_>, valid: Privs| -> Result<bool> {
            let (privs, options) = privilege_list(&privilege, valid)?;
            let (held, grantable) = cat.privileges(role, obj);
            Ok(held & privs != 0 || grantable & options != 0)
        };
        // (oid, names, answer) for every object of the kind.
        let mut candidates: Vec<(i64, Vec<String>, Value)> = Vec::new();
        match kind {
            Kind::Table | Kind::Column { .. } | Kind::Sequence => {
                let valid = match kind {
                    Kind::Sequence => acl::USAGE | acl::SELECT | acl::UPDATE,
                    Kind::Column { .. } => {
                        acl::SELECT | acl::INSERT | acl::UPDATE | acl::REFERENCES
                    }
                    _ => acl::ObjectKind::Table.all(),
                };
                privilege_list(&privilege, valid)?;
                for r in system::relations(cat) {
                    let obj = match cat.resolve(Some(&r.schema), &r.name, &[]) {
                        Some((_, Relation::Table(id))) if kind != Kind::Sequence => {
                            Object::Table(cat.table(id)?)
                        }
                        Some((_, Relation::View(id))) if kind != Kind::Sequence => {
                            Object::View(&cat.views[&id])
                        }
                        Some((_, Relation::Sequence(id)))
                            if kind != Kind::Column { with_column: true } =>
                        {
                            Object::Sequence(&cat.sequences[&id])
                        }
                        _ => continue,
                    };
                    let mut names = vec![format!("{}.{}", r.schema, r.name)];
                    if system::is_visible(cat, self.search_path, &r.schema, &r.name) {
                        names.push(r.name.clone());
                    }
                    candidates.push((r.oid, names, Value::Bool(check(obj, valid)?)));
                }
            }
            Kind::Schema => {
                let valid = acl::USAGE | acl::CREATE;
                privilege_list(&privilege, valid)?;
                for (oid, n) in system::namespaces(cat) {
                    let answer = match cat.schemas.get(&n) {
                        Some(s) => check(Object::Schema(s), valid)?,
                        // pg_catalog and information_schema: USAGE for all.
                        None => {
                            let (privs, options) = privilege_list(&privilege, valid)?;
                            cat.is_superuser(role) || (privs & acl::USAGE != 0 && options == 0)
                        }
                    };
                    candidates.push((oid, vec![n], Value::Bool(answer)));
                }
            }
            Kind::Database => {
                let (privs, options) = privilege_list(&privilege, acl::ObjectKind::Database.all())?;
                for d in cat.databases.values() {
                    let all = cat.has_privileges_of_role(role, d.owner);
                    let answer =
                        all || (options == 0 && privs & (acl::CONNECT | acl::TEMPORARY) != 0);
                    candidates.push((d.id as i64, vec![d.name.clone()], Value::Bool(answer)));
                }
            }
            Kind::Role => {
                let mode = privilege.trim().to_ascii_uppercase();
                let mode = mode.strip_suffix(" WITH ADMIN OPTION").unwrap_or(&mode);
                for r in cat.roles.values() {
                    let answer = match mode {
                        "MEMBER" | "SET" => cat.is_member_of(role, r.id),
                        "USAGE" => cat.has_privileges_of_role(role, r.id),
                        _ => return Err(unrecognized(&privilege)),
                    };
                    candidates.push((
                        system::roles::role_oid(cat, r.id),
                        vec![r.name.clone()],
                        Value::Bool(answer),
                    ));
                }
            }
        }
        let (x, ty) = object;
        let by_oid =
            ty.is_integer() || matches!(constant(x), Some(Value::Int8(_) | Value::Int4(_)));
        if let Some(v) = constant(x) {
            let found = if by_oid {
                let oid = match v {
                    Value::Int8(i) => *i,
                    Value::Int4(i) => *i as i64,
                    _ => return Ok(Some((Expr::Literal(Value::Null), DataType::Bool))),
                };
                // An oid that names nothing gives NULL, as in PostgreSQL.
                candidates.into_iter().find(|c| c.0 == oid).map(|c| c.2)
            } else {
                let text = v.to_string();
                let key = normalize(&text);
                match candidates.into_iter().find(|c| c.1.contains(&key)) {
                    Some(c) => Some(c.2),
                    None => return Err(missing(kind, &text)),
                }
            };
            return Ok(Some((
                Expr::Literal(found.unwrap_or(Value::Null)),
                DataType::Bool,
            )));
        }
        let key = if by_oid {
            self.coerce(x.clone(), ty, &DataType::Int8)?
        } else {
            self.coerce(x.clone(), ty, &DataType::Text)?
        };
        let whens: Vec<(Expr, Expr)> = candidates
            .into_iter()
            .flat_map(|(oid, names, answer)| {
                let keys: Vec<Value> = if by_oid {
                    vec![Value::Int8(oid)]
                } else {
                    names.into_iter().map(Value::Text).collect()
                };
                let key = key.clone();
                keys.into_iter().map(move |k| {
                    (
                        Expr::Binary(
                            BinaryOp::Eq,
                            Box::new(key.clone()),
                            Box::new(Expr::Literal(k)),
                        ),
                        Expr::Literal(answer.clone()),
                    )
                })
            })
            .collect();
        if whens.is_empty() {
            return Ok(Some((Expr::Literal(Value::Null), DataType::Bool)));
        }
        Ok(Some((
            Expr::Case {
                operand: None,
                whens,
                otherwise: Some(Box::new(Expr::Literal(Value::Null))),
            },
            DataType::Bool,
        )))
    }
}

/// A name as written (`"My Table"` or `s.t`) in the form candidates use.
fn normalize(text: &str) -> String {
    text.split('.')
        .map(|p| {
            if p.len() >= 2 && p.starts_with('"') && p.ends_with('"') {
                p[1..p.len() - 1].to_string()
            } else {
                p.to_lowercase()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn missing(kind: Kind, name: &str) -> Error {
    match kind {
        Kind::Schema => Error::new(
            SqlState::UNDEFINED_SCHEMA,
            format!("schema \"{name}\" does not exist"),
        ),
        Kind::Database => Error::new(
            SqlState::INVALID_CATALOG_NAME,
            format!("database \"{name}\" does not exist"),
        ),
        Kind::Role => crate::catalog::roles::role_not_found(name),
        _ => Error::undefined_table(name),
    }
}

/// The role a constant names (by name or oid).
fn role_of(cat: &Catalog, v: &Value) -> Result<u32> {
    match v {
        Value::Int8(i) => cat
            .roles
            .keys()
            .copied()
            .find(|&id| system::roles::role_oid(cat, id) == *i)
            .ok_or_else(|| crate::catalog::roles::role_not_found(&i.to_string())),
        Value::Int4(i) => role_of(cat, &Value::Int8(*i as i64)),
        other => Ok(cat.role_named(&other.to_string())?.id),
    }
}

impl Binder<'_> {
    /// `row_security_active(table)`: whether row-level security applies to
    /// the table for the current user (enabled and not bypassed by the role;
    /// with `row_security` off it still says true, as in PostgreSQL, since
    /// such a query would fail). The table is a constant name or oid.
    fn bind_row_security_active(&self, args: &[Bound]) -> Result<Bound> {
        let name = "row_security_active";
        let [arg] = args else {
            let types: Vec<DataType> = args.iter().map(|(_, t)| t.clone()).collect();
            return Err(crate::sql::functions::undefined_function(name, &types));
        };
        let table = match constant(&arg.0).ok_or_else(|| not_constant(name, "table"))? {
            Value::Text(t) => {
                let ast = crate::sql::parser::parse_expr(t)?;
                let object = match ast {
                    sqlparser::ast::Expr::Identifier(i) => {
                        sqlparser::ast::ObjectName::from(vec![i])
                    }
                    sqlparser::ast::Expr::CompoundIdentifier(p) => {
                        sqlparser::ast::ObjectName::from(p)
                    }
                    _ => return Err(Error::undefined_table(t)),
                };
                self.table(&object)?
            }
            v => {
                let oid = v
                    .as_i64()
                    .ok_or_else(|| Error::undefined_table(&v.to_string()))?;
                u32::try_from(oid)
                    .ok()
                    .and_then(|id| self.catalog.tables.get(&id).cloned())
                    .ok_or_else(|| {
                        Error::new(
                            SqlState::UNDEFINED_TABLE,
                            format!("relation with OID {oid} does not exist"),
                        )
                    })?
            }
        };
        let role = match self.privileges.get() {
            super::Checks::Role(r) => Some(r),
            _ => None,
        };
        let active = table.rls.enabled && role.is_some_and(|r| self.policies_apply_to(&table, r));
        Ok((Expr::Literal(Value::Bool(active)), DataType::Bool))
    }
}
