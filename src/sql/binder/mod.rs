//! The binder: resolves names against the catalog, checks types and turns
//! sqlparser's AST into plans ([`Plan`], [`DmlPlan`]) over bound [`Expr`]s.
//!
//! This is the stage where meaning is added to a statement: column
//! positions, implicit casts of untyped literals and parameters, default
//! expressions, and (in the tenancy layer) row-level-security predicates and
//! tenant context. Later stages may reorder and simplify, never drop, what the
//! binder put into a plan.

mod acl_functions;
pub mod composite;
mod cte;
mod dml;
pub mod domain;
mod expr;
mod from;
mod fuzzy;
pub mod index;
mod insert;
mod merge;
mod operators;
mod plpgsql;
mod query;
pub mod rls;
pub mod row;
mod special;
mod srf;
mod subquery;
mod system;
mod user_functions;
mod view_dml;
mod window;

pub use cte::{DmlCte, has_dml_ctes};
pub use dml::{
    ConflictAction, DeletePlan, DmlPlan, InsertPlan, OnConflict, Returning, UpdatePlan,
    dml_in_query, is_dml,
};
pub use merge::{MergeAction, MergePlan, MergeWhen};
pub use view_dml::updatable_query;

use super::expr::Expr;
use crate::catalog::{Catalog, Relation, TableDef, acl};
use crate::error::{Error, Result, SqlState};
use crate::types::DataType;
use sqlparser::ast;
use std::cell::RefCell;
use std::sync::Arc;

/// Folds an identifier as PostgreSQL does: unquoted names are lower-cased.
pub fn ident(i: &ast::Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

/// The identifiers of an object name (`schema.table` -> ["schema", "table"]).
pub fn object_name_parts(name: &ast::ObjectName) -> Result<Vec<String>> {
    name.0
        .iter()
        .map(|p| match p {
            ast::ObjectNamePart::Identifier(i) => Ok(ident(i)),
            ast::ObjectNamePart::Function(_) => {
                Err(Error::syntax(format!("syntax error at or near \"{name}\"")))
            }
        })
        .collect()
}

/// Splits an object name into (schema, name).
pub fn split_name(name: &ast::ObjectName) -> Result<(Option<String>, String)> {
    let mut parts = object_name_parts(name)?;
    match parts.len() {
        1 => Ok((None, parts.pop().expect("one part"))),
        2 => {
            let n = parts.pop().expect("two parts");
            Ok((parts.pop(), n))
        }
        3 => {
            // database.schema.name: the database part must be ours.
            let n = parts.pop().expect("three parts");
            let s = parts.pop();
            Ok((s, n))
        }
        _ => Err(Error::syntax(format!(
            "improper qualified name (too many dotted names): {name}"
        ))),
    }
}

/// A name `db.schema.name` must name the catalog's own database: 0A000
/// `cross-database references are not implemented`, as in PostgreSQL.
/// Shorter names pass.
pub fn check_database_part(catalog: &Catalog, name: &ast::ObjectName) -> Result<()> {
    let [ast::ObjectNamePart::Identifier(db), _, _] = name.0.as_slice() else {
        return Ok(());
    };
    if ident(db) == catalog.current_database()?.name {
        return Ok(());
    }
    Err(Error::unsupported(format!(
        "cross-database references are not implemented: \"{name}\""
    )))
}

/// A column visible to expressions: its qualifier (table name or alias), name and type.
#[derive(Clone, Debug)]
pub struct ScopeColumn {
    pub qualifier: Option<String>,
    pub name: String,
    pub ty: DataType,
    /// Reachable only with its qualifier (RETURNING's `old.` and `new.` columns).
    pub qualified_only: bool,
}

/// The columns an expression can reference, in input-row order.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub columns: Vec<ScopeColumn>,
    /// The tables behind the qualifiers (PostgreSQL's range table entries),
    /// for the error that names a table by its real name when it has an
    /// alias, or one that is out of reach (`invalid reference to
    /// FROM-clause entry`).
    pub tables: Vec<ScopeTable>,
}

/// A table in a scope: the qualifier it goes by, the catalog table (0 for a
/// subquery, VALUES or the like), and whether its columns can be referenced
/// here (ON CONFLICT's EXCLUDED cannot in RETURNING).
#[derive(Clone, Debug)]
pub struct ScopeTable {
    pub qualifier: String,
    pub table: u32,
    pub visible: bool,
}

impl Scope {
    pub fn for_table(table: &TableDef, qualifier: &str) -> Scope {
        Scope {
            columns: table
                .columns
                .iter()
                .map(|c| ScopeColumn {
                    qualifier: Some(qualifier.to_string()),
                    name: c.name.clone(),
                    ty: c.ty.clone(),
                    qualified_only: false,
                })
                .collect(),
            tables: vec![ScopeTable {
                qualifier: qualifier.to_string(),
                table: table.id,
                visible: true,
            }],
        }
    }

    /// A scope with no columns that knows of `table` under `qualifier`
    /// without letting it be referenced.
    pub fn unreachable_table(table: &TableDef, qualifier: &str) -> Scope {
        Scope {
            columns: vec![],
            tables: vec![ScopeTable {
                qualifier: qualifier.to_string(),
                table: table.id,
                visible: false,
            }],
        }
    }

    pub fn extend(&mut self, other: Scope) {
        self.columns.extend(other.columns);
        self.tables.extend(other.tables);
    }

    /// Finds a column by optional qualifier and name.
    pub fn resolve(
        &self,
        qualifier: Option<&str>,
        name: &str,
    ) -> Result<Option<(usize, DataType)>> {
        let mut found: Option<(usize, DataType)> = None;
        for (i, c) in self.columns.iter().enumerate() {
            if c.name != name {
                continue;
            }
            match qualifier {
                Some(q) if c.qualifier.as_deref() != Some(q) => continue,
                None if c.qualified_only => continue,
                _ => {}
            }
            if found.is_some() {
                // Two tables answer to one qualifier (a target table named
                // like ON CONFLICT's EXCLUDED).
                if let Some(q) = qualifier {
                    return Err(Error::new(
                        SqlState::AMBIGUOUS_ALIAS,
                        format!("table reference \"{q}\" is ambiguous"),
                    ));
                }
                return Err(Error::new(
                    SqlState::AMBIGUOUS_COLUMN,
                    format!("column reference \"{name}\" is ambiguous"),
                ));
            }
            found = Some((i, c.ty.clone()));
        }
        Ok(found)
    }

    pub fn has_qualifier(&self, q: &str) -> bool {
        self.columns
            .iter()
            .any(|c| c.qualifier.as_deref() == Some(q))
    }
}

/// Aggregation context: expressions after GROUP BY see group keys and aggregate results.
pub(crate) struct AggCtx<'s> {
    pub input: &'s Scope,
    pub groups: Vec<Expr>,
    pub aggs: RefCell<Vec<super::plan::AggCall>>,
}

/// The scope of an enclosing query, seen from a subquery (or a LATERAL item)
/// bound inside it.
pub(crate) struct OuterFrame {
    pub scope: Scope,
    /// Columns of this scope that the subquery reads.
    pub refs: RefCell<Vec<usize>>,
    /// The subquery reads this or a further enclosing scope.
    pub correlated: std::cell::Cell<bool>,
}

impl OuterFrame {
    pub fn new(scope: Scope) -> OuterFrame {
        OuterFrame {
            scope,
            refs: RefCell::new(Vec::new()),
            correlated: std::cell::Cell::new(false),
        }
    }
}

/// Binds statements for one session state (catalog version, search path).
pub struct Binder<'a> {
    pub catalog: &'a Catalog,
    pub search_path: &'a [String],
    /// Inferred parameter types, `$1` at index 0 (Unknown until inferred).
    pub params: RefCell<Vec<DataType>>,
    /// Scopes of the queries enclosing the one being bound, outermost first.
    pub(crate) outer: RefCell<Vec<OuterFrame>>,
    /// Next subquery id of the statement.
    next_subquery: std::cell::Cell<usize>,
    /// WITH queries visible where binding is, innermost last.
    ctes: RefCell<Vec<std::rc::Rc<cte::CteDef>>>,
    /// Tables and views the statement reads (a view's dependencies).
    pub(crate) used_relations: RefCell<Vec<u32>>,
    /// Window calls of the SELECTs being bound, innermost last.
    windows: RefCell<Vec<window::WindowScope>>,
    /// Set while views are bound to describe them in a system relation (a
    /// view over a system relation must not describe itself recursively).
    in_system_relation: std::cell::Cell<bool>,
    /// Whose privileges the relations being bound are checked against.
    privileges: std::cell::Cell<Checks>,
    /// The current user of the statement (`has_table_privilege` without a
    /// role asks about it); None for internal binding.
    current_role: std::cell::Cell<Option<u32>>,
    /// The view a data-changing statement writes through (its table's
    /// privileges are then the view owner's to hold, the view's the user's).
    dml_view: RefCell<Option<Arc<crate::catalog::ViewDef>>>,
    /// Tables whose policies are being bound (recursion guard).
    rls_stack: RefCell<Vec<u32>>,
    /// The session's `row_security`: when off, a statement that row-level
    /// security would filter fails instead (42501).
    row_security: std::cell::Cell<bool>,
    /// SQL functions being inlined (recursion guard).
    fn_stack: RefCell<Vec<u32>>,
    /// Arguments of the SQL function calls being inlined.
    fn_args: RefCell<Vec<user_functions::FnArgs>>,
    /// Set by the top-level entry points until the statement's own WITH is
    /// bound: only that WITH may hold INSERT, UPDATE or DELETE.
    top_with: std::cell::Cell<bool>,
    /// The data-modifying WITH queries bound so far, in order.
    dml_ctes: RefCell<Vec<cte::DmlCte>>,
}

/// Privilege checking while binding (see [`Binder::with_privilege_checks`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Checks {
    /// Internal binding (DDL, constraints, descriptions): nothing is checked.
    Off,
    /// A superuser: holds every privilege, but a view's query is checked
    /// against the view's owner.
    Superuser,
    Role(u32),
}

impl<'a> Binder<'a> {
    pub fn new(catalog: &'a Catalog, search_path: &'a [String]) -> Binder<'a> {
        Binder {
            catalog,
            search_path,
            params: RefCell::new(Vec::new()),
            outer: RefCell::new(Vec::new()),
            next_subquery: std::cell::Cell::new(1),
            ctes: RefCell::new(Vec::new()),
            used_relations: RefCell::new(Vec::new()),
            windows: RefCell::new(Vec::new()),
            in_system_relation: std::cell::Cell::new(false),
            privileges: std::cell::Cell::new(Checks::Off),
            current_role: std::cell::Cell::new(None),
            dml_view: RefCell::new(None),
            rls_stack: RefCell::new(Vec::new()),
            fn_stack: RefCell::new(Vec::new()),
            fn_args: RefCell::new(Vec::new()),
            row_security: std::cell::Cell::new(true),
            top_with: std::cell::Cell::new(false),
            dml_ctes: RefCell::new(Vec::new()),
        }
    }

    /// Applies the session's `row_security` setting (on by default).
    pub fn with_row_security(self, on: bool) -> Binder<'a> {
        self.row_security.set(on);
        self
    }

    /// Checks privileges while binding a statement run by `role`: SELECT on
    /// every table and view read, INSERT / UPDATE / DELETE on the target,
    /// USAGE on explicitly named schemas; a view's own query is checked
    /// against the view's owner, as in PostgreSQL. Fails with 42501.
    pub fn with_privilege_checks(self, role: u32) -> Binder<'a> {
        self.privileges.set(self.checks_for(role));
        self.current_role.set(Some(role));
        self
    }

    fn checks_for(&self, role: u32) -> Checks {
        if self.catalog.is_superuser(role) {
            Checks::Superuser
        } else {
            Checks::Role(role)
        }
    }

    /// Fails with 42501 unless the checked role holds one of `any_of` on `obj`.
    pub(crate) fn require(&self, obj: acl::Object<'_>, any_of: acl::Privs) -> Result<()> {
        match self.privileges.get() {
            Checks::Role(r) => self.catalog.check_privilege(r, obj, any_of),
            Checks::Off | Checks::Superuser => Ok(()),
        }
    }

    /// Checks privileges `any_of` on the table a data-changing statement
    /// writes; through a view, the current user needs them on the view,
    /// and on the table whoever [`Binder::as_target`] checks.
    pub(crate) fn require_target(&self, table: &TableDef, any_of: acl::Privs) -> Result<()> {
        let view = self.dml_view.borrow().clone();
        if let Some(v) = view {
            self.require(acl::Object::View(&v), any_of)?;
        }
        self.as_target(|| self.require(acl::Object::Table(table), any_of))
    }

    /// Runs `f` (privilege checks, row-level security policies, a CHECK
    /// OPTION) with the rights the table of a data-changing statement is
    /// written with: through a view WITH (security_invoker = false), its
    /// owner's, as PostgreSQL does; otherwise (also through a
    /// security-invoker view, the default) the current user's.
    pub(crate) fn as_target<T>(&self, f: impl FnOnce() -> T) -> T {
        let view = self.dml_view.borrow().clone();
        match view {
            Some(v) if !v.security_invoker => self.checked_as(v.owner, f),
            _ => f(),
        }
    }

    /// Runs `f` with privileges checked against `owner` (a view's query).
    pub(crate) fn checked_as<T>(&self, owner: u32, f: impl FnOnce() -> T) -> T {
        let saved = self.privileges.get();
        if saved != Checks::Off {
            self.privileges.set(self.checks_for(owner));
        }
        let r = f();
        self.privileges.set(saved);
        r
    }

    /// Runs `f` without privilege checks.
    pub(crate) fn unchecked<T>(&self, f: impl FnOnce() -> T) -> T {
        let saved = self.privileges.replace(Checks::Off);
        let r = f();
        self.privileges.set(saved);
        r
    }

    /// Fails with 42501 unless the checked role may use schema `name`.
    fn require_schema_usage(&self, name: &str) -> Result<()> {
        // A session's own temporary schema is on its search path; another
        // session's temporary objects are off limits, as in PostgreSQL.
        if crate::catalog::is_temp_schema(name) {
            if self.search_path.iter().any(|s| s == name) {
                return Ok(());
            }
            return Err(Error::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                "cannot access temporary tables of other sessions",
            ));
        }
        match self.catalog.schemas.get(name) {
            Some(s) => self.require(acl::Object::Schema(s), acl::USAGE),
            None => Ok(()),
        }
    }

    /// Seeds parameter types (from the values an embedded caller passed).
    pub fn with_param_types(self, types: Vec<DataType>) -> Binder<'a> {
        *self.params.borrow_mut() = types;
        self
    }

    /// Resolves a table name (42P01 if missing, 42809 if it is not a table).
    pub fn table(&self, name: &ast::ObjectName) -> Result<Arc<TableDef>> {
        let (schema, n) = split_name(name)?;
        self.table_by_name(schema.as_deref(), &n)
    }

    /// The view a (possibly qualified) name refers to, if it names one.
    pub fn view(&self, name: &ast::ObjectName) -> Result<Option<Arc<crate::catalog::ViewDef>>> {
        let (schema, n) = split_name(name)?;
        if let Some(s) = &schema {
            self.require_schema_usage(s)?;
        }
        Ok(
            match self
                .catalog
                .resolve(schema.as_deref(), &n, self.search_path)
            {
                Some((_, Relation::View(id))) => self.catalog.views.get(&id).cloned(),
                _ => None,
            },
        )
    }

    pub fn table_by_name(&self, schema: Option<&str>, n: &str) -> Result<Arc<TableDef>> {
        // System relations come first on the search path and are read-only.
        if crate::sql::system::is_system_relation(schema, n) {
            return Err(Error::new(
                SqlState::INSUFFICIENT_PRIVILEGE,
                format!("permission denied: \"{n}\" is a system catalog"),
            ));
        }
        if let Some(s) = schema {
            self.require_schema_usage(s)?;
        }
        match self.catalog.resolve(schema, n, self.search_path) {
            Some((_, Relation::Table(id))) => Ok(self.catalog.table(id)?.clone()),
            Some(_) => Err(Error::new(
                SqlState::WRONG_OBJECT_TYPE,
                format!("\"{n}\" is not a table"),
            )),
            None => Err(Error::undefined_table(&match schema {
                Some(s) => format!("{s}.{n}"),
                None => n.to_string(),
            })),
        }
    }

    /// Resolves a sequence by (possibly qualified) name text.
    pub fn sequence_by_text(&self, text: &str) -> Result<u32> {
        resolve_sequence(self.catalog, self.search_path, text)
    }

    /// Records (or checks) the type of parameter `$n` (0-based).
    pub fn note_param(&self, n: usize, ty: &DataType) -> DataType {
        let mut p = self.params.borrow_mut();
        if p.len() <= n {
            p.resize(n + 1, DataType::Unknown);
        }
        if p[n] == DataType::Unknown && *ty != DataType::Unknown {
            p[n] = ty.clone();
        }
        p[n].clone()
    }

    /// A fresh subquery id (unique within the statement).
    pub(crate) fn subquery_id(&self) -> usize {
        let id = self.next_subquery.get();
        self.next_subquery.set(id + 1);
        id
    }

    /// Looks a column up in the enclosing queries' scopes (innermost first),
    /// for a correlated reference: marks the subqueries it crosses.
    pub(crate) fn outer_column(
        &self,
        qualifier: Option<&str>,
        name: &str,
    ) -> Result<Option<(Expr, DataType)>> {
        let frames = self.outer.borrow();
        for (k, frame) in frames.iter().enumerate().rev() {
            if let Some((i, ty)) = frame.scope.resolve(qualifier, name)? {
                frame.refs.borrow_mut().push(i);
                for f in &frames[k..] {
                    f.correlated.set(true);
                }
                let level = frames.len() - k;
                return Ok(Some((
                    Expr::Outer {
                        level,
                        index: i,
                        ty: ty.clone(),
                    },
                    ty,
                )));
            }
        }
        Ok(None)
    }

    /// Whether some enclosing query has a FROM item named `q`.
    pub(crate) fn outer_has_qualifier(&self, q: &str) -> bool {
        self.outer.borrow().iter().any(|f| f.scope.has_qualifier(q))
    }

    /// The error for qualifier `q` that names nothing in reach, as
    /// PostgreSQL's `errorMissingRTE` words it: when a table in this or an
    /// enclosing scope is `q` (by its real name behind an alias, or out of
    /// reach), `invalid reference to FROM-clause entry` with a hint;
    /// otherwise `missing FROM-clause entry`.
    pub(crate) fn missing_table(&self, q: &str, scope: &Scope) -> Error {
        let named = self
            .catalog
            .resolve(None, q, self.search_path)
            .and_then(|(_, r)| match r {
                Relation::Table(id) => Some(id),
                _ => None,
            });
        let outer = self.outer.borrow();
        let all: Vec<&ScopeTable> = scope
            .tables
            .iter()
            .chain(outer.iter().rev().flat_map(|f| f.scope.tables.iter()))
            .collect();
        let found = all
            .iter()
            .find(|t| Some(t.table) == named || t.qualifier == q);
        match found {
            Some(t) => {
                let hint = if t.qualifier != q && t.visible {
                    format!(
                        "Perhaps you meant to reference the table alias \"{}\".",
                        t.qualifier
                    )
                } else {
                    format!(
                        "There is an entry for table \"{}\", but it cannot be referenced from this part of the query.",
                        t.qualifier
                    )
                };
                Error::new(
                    SqlState::UNDEFINED_TABLE,
                    format!("invalid reference to FROM-clause entry for table \"{q}\""),
                )
                .with_hint(hint)
            }
            None => Error::new(
                SqlState::UNDEFINED_TABLE,
                format!("missing FROM-clause entry for table \"{q}\""),
            ),
        }
    }

    pub fn param_types(&self) -> Vec<DataType> {
        self.params.borrow().clone()
    }
}

/// Resolves `name` or `schema.name` (as nextval's text argument) to a sequence id.
pub fn resolve_sequence(catalog: &Catalog, search_path: &[String], text: &str) -> Result<u32> {
    let parts: Vec<String> = text
        .split('.')
        .map(|p| {
            if p.starts_with('"') && p.ends_with('"') && p.len() >= 2 {
                p[1..p.len() - 1].to_string()
            } else {
                p.to_lowercase()
            }
        })
        .collect();
    let (schema, name) = match parts.as_slice() {
        [n] => (None, n.as_str()),
        [s, n] => (Some(s.as_str()), n.as_str()),
        _ => return Err(Error::syntax(format!("invalid name syntax: \"{text}\""))),
    };
    match catalog.resolve(schema, name, search_path) {
        Some((_, Relation::Sequence(id))) => Ok(id),
        Some(_) => Err(Error::new(
            SqlState::WRONG_OBJECT_TYPE,
            format!("\"{name}\" is not a sequence"),
        )),
        None => Err(Error::undefined_table(text)),
    }
}
