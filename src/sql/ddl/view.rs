//! CREATE [OR REPLACE] VIEW and DROP VIEW.

use super::DdlCtx;
use crate::catalog::{self as cat, Relation, ViewDef};
use crate::error::{Error, Result, SqlState};
use crate::sql::binder::ident;
use sqlparser::ast;

/// A view's `WITH (...)` options.
struct ViewOptions {
    /// Views read their tables as the querying user unless told otherwise.
    security_invoker: bool,
    /// Outside conditions run after the view's own (unless leakproof).
    security_barrier: bool,
    /// `local` or `cascaded` (also what `WITH [LOCAL | CASCADED] CHECK
    /// OPTION` becomes when parsed).
    check_option: Option<String>,
    /// As `pg_class.reloptions` shows them.
    shown: Vec<String>,
}

/// `WITH (security_invoker = bool, security_barrier = bool, check_option =
/// local | cascaded)`;
/// other options are refused as PostgreSQL refuses unknown ones.
fn view_options(options: &ast::CreateTableOptions) -> Result<ViewOptions> {
    let mut out = ViewOptions {
        security_invoker: true,
        security_barrier: false,
        check_option: None,
        shown: Vec::new(),
    };
    let list = match options {
        ast::CreateTableOptions::None => return Ok(out),
        ast::CreateTableOptions::With(l) => l,
        other => {
            return Err(Error::syntax(format!(
                "syntax error at or near \"{other}\""
            )));
        }
    };
    for o in list {
        let (key, value) = match o {
            ast::SqlOption::KeyValue { key, value } => {
                let v = match value {
                    ast::Expr::Value(v) => match &v.value {
                        ast::Value::SingleQuotedString(s) => s.to_lowercase(),
                        other => other.to_string().to_lowercase(),
                    },
                    ast::Expr::Identifier(i) => ident(i),
                    other => other.to_string().to_lowercase(),
                };
                (ident(key), Some(v))
            }
            ast::SqlOption::Ident(i) => (ident(i), None),
            other => {
                return Err(Error::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("unrecognized parameter \"{other}\""),
                ));
            }
        };
        match key.as_str() {
            "security_invoker" | "security_barrier" => {
                let on = match value.as_deref() {
                    None | Some("true" | "on" | "1" | "yes") => true,
                    Some("false" | "off" | "0" | "no") => false,
                    Some(other) => {
                        return Err(Error::new(
                            SqlState::INVALID_PARAMETER_VALUE,
                            format!("invalid value for boolean option \"{key}\": {other}"),
                        ));
                    }
                };
                if key == "security_invoker" {
                    out.security_invoker = on;
                } else {
                    out.security_barrier = on;
                }
                out.shown.push(format!("{key}={on}"));
            }
            "check_option" => match value.as_deref() {
                Some(v @ ("local" | "cascaded")) => {
                    out.check_option = Some(v.to_string());
                    out.shown.push(format!("check_option={v}"));
                }
                v => {
                    return Err(Error::new(
                        SqlState::INVALID_PARAMETER_VALUE,
                        format!(
                            "invalid value for enum option \"check_option\": {}",
                            v.unwrap_or("true")
                        ),
                    )
                    .with_detail("Valid values are \"local\" and \"cascaded\"."));
                }
            },
            _ => {
                return Err(Error::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("unrecognized parameter \"{key}\""),
                ));
            }
        }
    }
    Ok(out)
}

impl DdlCtx<'_> {
    pub fn create_view(&mut self, cv: &ast::CreateView) -> Result<String> {
        if cv.materialized {
            return Err(Error::unsupported("materialized views are not supported"));
        }
        let ViewOptions {
            security_invoker,
            security_barrier,
            check_option,
            shown: options,
        } = view_options(&cv.options)?;
        if crate::sql::binder::has_dml_ctes(&cv.query) {
            return Err(Error::unsupported(
                "views must not contain data-modifying statements in WITH",
            ));
        }
        // Bind the query now: it must be valid, and its output names the view's columns.
        let binder = self.binder();
        let plan = binder.bind_query(&cv.query)?;
        if !binder.param_types().is_empty() {
            return Err(Error::new(
                SqlState::UNDEFINED_PARAMETER,
                "there is no parameter $1",
            ));
        }
        let mut depends_on = binder.used_relations.borrow().clone();
        drop(binder);
        depends_on.sort_unstable();
        depends_on.dedup();
        let (schema, name) = self.view_target(cv, &depends_on)?;
        self.lock_name(&schema, &name)?;
        let plan_cols = plan.columns();
        if cv.columns.len() > plan_cols.len() {
            return Err(Error::new(
                SqlState::SYNTAX_ERROR,
                "CREATE VIEW specifies more column names than columns",
            ));
        }
        let columns: Vec<String> = plan_cols
            .iter()
            .enumerate()
            .map(|(i, c)| {
                cv.columns
                    .get(i)
                    .map(|v| ident(&v.name))
                    .unwrap_or(c.name.clone())
            })
            .collect();
        for (i, c) in columns.iter().enumerate() {
            if columns[..i].contains(c) {
                return Err(Error::new(
                    SqlState::DUPLICATE_COLUMN,
                    format!("column \"{c}\" specified more than once"),
                ));
            }
        }
        let existing = self.catalog.resolve(Some(&schema), &name, self.search_path);
        let mut kept = (self.current_user, None);
        let id = match existing {
            Some((_, Relation::View(id))) if cv.or_replace => {
                let old =
                    self.catalog.views.get(&id).cloned().ok_or_else(|| {
                        Error::internal(format!("view {id} missing from catalog"))
                    })?;
                self.require_owner(crate::catalog::acl::Object::View(&old))?;
                kept = (old.owner, old.acl.clone());
                if columns.len() < old.columns.len() {
                    return Err(Error::new(
                        SqlState::INVALID_TABLE_DEFINITION,
                        "cannot drop columns from view",
                    ));
                }
                for (new, old) in columns.iter().zip(&old.columns) {
                    if new != old {
                        return Err(Error::new(
                            SqlState::INVALID_TABLE_DEFINITION,
                            format!("cannot change name of view column \"{old}\" to \"{new}\""),
                        )
                        .with_hint("Use ALTER VIEW ... RENAME COLUMN ... to change name of view column instead."));
                    }
                }
                id
            }
            Some(_) if cv.if_not_exists => {
                self.relation_exists_skipping(&name);
                return Ok("CREATE VIEW".into());
            }
            Some(_) => {
                return Err(Error::new(
                    SqlState::DUPLICATE_TABLE,
                    format!("relation \"{name}\" already exists"),
                ));
            }
            None => self.oids.allocate(self.txn)?,
        };
        if check_option.is_some() {
            let q = crate::sql::parser::parse_query(&cv.query.to_string())?;
            if let Err(detail) = crate::sql::binder::updatable_query(&q, &columns).map(|_| ()) {
                return Err(Error::unsupported(
                    "WITH CHECK OPTION is supported only on automatically updatable views",
                )
                .with_hint(detail));
            }
        }
        let view = ViewDef {
            check_option,
            id,
            database: self.catalog.database,
            schema,
            name,
            sql: cv.query.to_string(),
            columns,
            depends_on,
            owner: kept.0,
            acl: kept.1,
            security_invoker,
            security_barrier,
            options,
        };
        cat::put_object(self.txn, cat::KIND_VIEW, view.id, &view)?;
        cat::bump_version(self.txn);
        self.reload()?;
        Ok("CREATE VIEW".into())
    }

    /// Drops a view; views built on it go too with CASCADE, else 2BP01.
    pub(super) fn drop_view(&mut self, id: u32, cascade: bool) -> Result<()> {
        let view = self
            .catalog
            .views
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::internal(format!("view {id} missing from catalog")))?;
        self.drop_dependent_views(id, &format!("view {}", view.name), cascade)?;
        cat::delete_object(self.txn, cat::KIND_VIEW, id);
        cat::bump_version(self.txn);
        Ok(())
    }

    /// Views and other tables' policies that read relation `id` block its
    /// drop, or are dropped with CASCADE.
    pub(super) fn drop_dependent_views(
        &mut self,
        id: u32,
        what: &str,
        cascade: bool,
    ) -> Result<()> {
        let dependents = self.catalog.views_depending_on(id);
        let policies = self.catalog.policies_depending_on(id);
        if !cascade {
            let first = dependents
                .first()
                .map(|v| format!("view {}", v.name))
                .or_else(|| {
                    policies
                        .first()
                        .map(|(t, p)| format!("policy {} on table {}", p.name, t.name))
                });
            if let Some(first) = first {
                return Err(Error::new(
                    SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                    format!("cannot drop {what} because other objects depend on it"),
                )
                .with_detail(format!("{first} depends on {what}"))
                .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
            }
        }
        for v in dependents {
            if self.catalog.views.contains_key(&v.id) {
                self.drop_view(v.id, true)?;
            }
        }
        if !policies.is_empty() {
            // Reloaded: dropping views above may have changed the tables.
            self.reload()?;
            for (t, p) in policies {
                let Some(table) = self.catalog.tables.get(&t.id) else {
                    continue;
                };
                let mut table = (**table).clone();
                table.rls.policies.retain(|q| q.id != p.id);
                self.put_table(&table)?;
            }
            self.reload()?;
        }
        Ok(())
    }
}
