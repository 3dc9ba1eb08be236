//! CREATE TABLE, CREATE INDEX and CREATE SEQUENCE.

use super::DdlCtx;
use crate::catalog::acl::Object;
use crate::catalog::keys;
use crate::catalog::sequences::SequenceManager;
use crate::catalog::{
    CheckDef, ColumnDef, FkAction, ForeignKeyDef, IdentityKind, IndexDef, IndexKey, SequenceDef,
    TableDef,
};
use crate::error::{Error, Result, SqlState};
use crate::sql::binder::{Scope, ident, index, split_name};
use crate::sql::expr::Expr;
use crate::sql::plan::Column;
use crate::sql::quote_ident;
use crate::types::DataType;
use sqlparser::ast;

/// A table-level constraint collected from column and table clauses.
pub(super) enum Constraint {
    Primary(Option<String>, Vec<String>),
    Unique(Option<String>, Vec<String>),
    Check(Option<String>, Box<ast::Expr>, Option<String>),
    Foreign(
        Option<String>,
        Vec<String>,
        ast::ObjectName,
        Vec<String>,
        FkAction,
        FkAction,
    ),
}

fn fk_action(a: &Option<ast::ReferentialAction>) -> FkAction {
    match a {
        None | Some(ast::ReferentialAction::NoAction) => FkAction::NoAction,
        Some(ast::ReferentialAction::Restrict) => FkAction::Restrict,
        Some(ast::ReferentialAction::Cascade) => FkAction::Cascade,
        Some(ast::ReferentialAction::SetNull) => FkAction::SetNull,
        Some(ast::ReferentialAction::SetDefault) => FkAction::SetDefault,
    }
}

fn index_column_names(cols: &[ast::IndexColumn]) -> Result<Vec<String>> {
    cols.iter()
        .map(|c| match &c.column.expr {
            ast::Expr::Identifier(i) => Ok(ident(i)),
            other => Err(Error::unsupported(format!(
                "index on expression {other} is not supported"
            ))),
        })
        .collect()
}

/// Converts a table constraint clause.
pub(super) fn table_constraint(c: &ast::TableConstraint) -> Result<Constraint> {
    Ok(match c {
        ast::TableConstraint::PrimaryKey(pk) => Constraint::Primary(
            pk.name.as_ref().map(ident),
            index_column_names(&pk.columns)?,
        ),
        ast::TableConstraint::Unique(u) => {
            Constraint::Unique(u.name.as_ref().map(ident), index_column_names(&u.columns)?)
        }
        ast::TableConstraint::Check(ch) => {
            Constraint::Check(ch.name.as_ref().map(ident), ch.expr.clone(), None)
        }
        ast::TableConstraint::ForeignKey(fk) => Constraint::Foreign(
            fk.name.as_ref().map(ident),
            fk.columns.iter().map(ident).collect(),
            fk.foreign_table.clone(),
            fk.referred_columns.iter().map(ident).collect(),
            fk_action(&fk.on_delete),
            fk_action(&fk.on_update),
        ),
        other => {
            return Err(Error::unsupported(format!(
                "constraint not supported: {other}"
            )));
        }
    })
}

fn is_serial(t: &ast::DataType) -> Option<DataType> {
    match t.to_string().to_lowercase().as_str() {
        "serial" | "serial4" => Some(DataType::Int4),
        "bigserial" | "serial8" => Some(DataType::Int8),
        "smallserial" | "serial2" => Some(DataType::Int2),
        _ => None,
    }
}

impl DdlCtx<'_> {
    /// A column definition plus the constraints written on it. Identity and
    /// serial columns get an owned sequence (created by the caller through `seqs`).
    pub(super) fn column_def(
        &self,
        table: &str,
        c: &ast::ColumnDef,
        cons: &mut Vec<Constraint>,
        seqs: &mut Vec<(
            String,
            DataType,
            Option<IdentityKind>,
            Vec<ast::SequenceOptions>,
        )>,
    ) -> Result<ColumnDef> {
        let name = ident(&c.name);
        let (ty, serial, domain) = match is_serial(&c.data_type) {
            Some(t) => (t, true, None),
            None => {
                let (t, d) = self.binder().resolve_type(&c.data_type)?;
                (t, false, d.map(|d| d.id))
            }
        };
        let mut col = ColumnDef {
            name: name.clone(),
            ty: ty.clone(),
            nullable: true,
            default: None,
            identity: None,
            domain,
        };
        if serial {
            col.nullable = false;
            seqs.push((name.clone(), ty.clone(), None, vec![]));
        }
        for opt in &c.options {
            let cname = opt.name.as_ref().map(ident);
            match &opt.option {
                ast::ColumnOption::Null => col.nullable = true,
                ast::ColumnOption::NotNull => col.nullable = false,
                ast::ColumnOption::Default(e) => {
                    self.check_default(e, &ty)?;
                    col.default = Some(e.to_string());
                }
                ast::ColumnOption::PrimaryKey(_) => {
                    cons.push(Constraint::Primary(cname, vec![name.clone()]))
                }
                ast::ColumnOption::Unique(_) => {
                    cons.push(Constraint::Unique(cname, vec![name.clone()]))
                }
                ast::ColumnOption::Check(ch) => cons.push(Constraint::Check(
                    cname.or_else(|| ch.name.as_ref().map(ident)),
                    ch.expr.clone(),
                    Some(name.clone()),
                )),
                ast::ColumnOption::ForeignKey(fk) => cons.push(Constraint::Foreign(
                    cname,
                    vec![name.clone()],
                    fk.foreign_table.clone(),
                    fk.referred_columns.iter().map(ident).collect(),
                    fk_action(&fk.on_delete),
                    fk_action(&fk.on_update),
                )),
                ast::ColumnOption::Generated {
                    generated_as,
                    sequence_options,
                    generation_expr: None,
                    ..
                } => {
                    if !ty.is_integer() {
                        return Err(Error::new(
                            SqlState::INVALID_PARAMETER_VALUE,
                            "identity column type must be smallint, integer, or bigint".to_string(),
                        ));
                    }
                    let kind = match generated_as {
                        ast::GeneratedAs::ByDefault => IdentityKind::ByDefault,
                        _ => IdentityKind::Always,
                    };
                    col.identity = Some(kind);
                    col.nullable = false;
                    seqs.push((
                        name.clone(),
                        ty.clone(),
                        Some(kind),
                        sequence_options.clone().unwrap_or_default(),
                    ));
                }
                ast::ColumnOption::Generated { .. } => {
                    return Err(Error::unsupported(
                        "generated columns are not supported yet",
                    ));
                }
                ast::ColumnOption::Collation(_) | ast::ColumnOption::Comment(_) => {}
                other => {
                    return Err(Error::unsupported(format!(
                        "column option not supported: {other}"
                    )));
                }
            }
        }
        let _ = table;
        Ok(col)
    }

    /// Defaults may not reference columns and must be assignable to the column type.
    pub(super) fn check_default(&self, e: &ast::Expr, ty: &DataType) -> Result<()> {
        let b = self.binder();
        let (x, t) = b.bind_expr(e, &Scope::default()).map_err(|err| {
            if err.code == SqlState::UNDEFINED_COLUMN {
                Error::new(
                    SqlState::FEATURE_NOT_SUPPORTED,
                    "cannot use column reference in DEFAULT expression",
                )
            } else {
                err
            }
        })?;
        let _ = b.coerce(x, &t, ty)?;
        if t != DataType::Unknown && !DataType::can_cast(&t, ty) {
            return Err(Error::new(
                SqlState::DATATYPE_MISMATCH,
                format!(
                    "column is of type {} but default expression is of type {}",
                    ty.name(),
                    t.name()
                ),
            ));
        }
        Ok(())
    }

    /// Creates the sequence owned by an identity or serial column and returns its default text.
    pub(super) fn owned_sequence(
        &mut self,
        schema: &str,
        table: &TableDef,
        col: usize,
        ty: &DataType,
        opts: &[ast::SequenceOptions],
    ) -> Result<String> {
        let base = format!("{}_{}_seq", table.name, table.columns[col].name);
        let name = self.free_name(schema, &base);
        let id = self.oids.allocate(self.txn)?;
        let mut def = sequence_def(id, self.catalog.database, schema, &name, ty, opts)?;
        def.owned_by = Some((table.id, col));
        def.owner = table.owner;
        self.txn
            .put(keys::sequence_key(id), SequenceManager::initial_value(&def));
        self.put_sequence(&def)?;
        Ok(format!(
            "nextval('{}.{}')",
            quote_ident(schema),
            quote_ident(&name)
        ))
    }

    pub fn create_table(
        &mut self,
        ct: &ast::CreateTable,
        query_cols: Option<Vec<Column>>,
    ) -> Result<Option<u32>> {
        if ct.inherits.is_some()
            || ct.partition_of.is_some()
            || ct.partition_by.is_some()
            || ct.like.is_some()
        {
            return Err(Error::unsupported(
                "table inheritance, partitions and LIKE are not supported",
            ));
        }
        let (schema, name, temp) = self.creation_target(&ct.name, ct.temporary)?;
        let on_commit = self.on_commit_of(ct.on_commit.as_ref(), temp)?;
        self.lock_name(&schema, &name)?;
        if self.catalog.relation_exists(&schema, &name) {
            if ct.if_not_exists {
                self.relation_exists_skipping(&name);
                return Ok(None);
            }
            return Err(Error::new(
                SqlState::DUPLICATE_TABLE,
                format!("relation \"{name}\" already exists"),
            ));
        }
        let id = self.oids.allocate(self.txn)?;
        let mut cons = Vec::new();
        let mut seqs = Vec::new();
        let mut columns = Vec::new();
        match query_cols {
            Some(qc) => {
                // Only names may be given (see parser::UNTYPED_MARKER).
                if ct.columns.iter().any(|c| !is_untyped(&c.data_type)) {
                    return Err(Error::syntax("syntax error at or near \"AS\""));
                }
                if !ct.columns.is_empty() && ct.columns.len() > qc.len() {
                    return Err(Error::syntax(
                        "CREATE TABLE AS specifies too many column names",
                    ));
                }
                for (i, c) in qc.into_iter().enumerate() {
                    let name = ct
                        .columns
                        .get(i)
                        .map(|cd| ident(&cd.name))
                        .unwrap_or(c.name);
                    columns.push(ColumnDef {
                        name,
                        ty: if c.ty == DataType::Unknown {
                            DataType::Text
                        } else {
                            c.ty
                        },
                        nullable: true,
                        default: None,
                        identity: None,
                        domain: None,
                    });
                }
            }
            None => {
                for c in &ct.columns {
                    columns.push(self.column_def(&name, c, &mut cons, &mut seqs)?);
                }
            }
        }
        if columns.len() > 1600 {
            return Err(Error::new(
                SqlState::TOO_MANY_COLUMNS,
                "tables can have at most 1600 columns",
            ));
        }
        for (i, c) in columns.iter().enumerate() {
            if columns[..i].iter().any(|o| o.name == c.name) {
                return Err(Error::new(
                    SqlState::DUPLICATE_COLUMN,
                    format!("column \"{}\" specified more than once", c.name),
                ));
            }
        }
        for c in &ct.constraints {
            cons.push(table_constraint(c)?);
        }
        let mut table = TableDef {
            id,
            database: self.catalog.database,
            schema: schema.clone(),
            name: name.clone(),
            columns,
            primary_key: vec![],
            pk_name: None,
            rowid_seq: None,
            checks: vec![],
            foreign_keys: vec![],
            owner: self.current_user,
            acl: None,
            rls: Default::default(),
            tenant_column: None,
            on_commit,
            capture_off: false,
        };
        // Owned sequences for serial and identity columns.
        for (cname, ty, _, opts) in seqs {
            let col = table.column_index(&cname).expect("column just defined");
            let default = self.owned_sequence(&schema, &table, col, &ty, &opts)?;
            table.columns[col].default = Some(default);
        }
        // Constraints: the primary key first (it decides the row layout).
        let mut others = Vec::new();
        for c in cons {
            match c {
                Constraint::Primary(cname, cols) => {
                    if !table.primary_key.is_empty() {
                        return Err(Error::new(
                            SqlState::INVALID_TABLE_DEFINITION,
                            format!("multiple primary keys for table \"{name}\" are not allowed"),
                        ));
                    }
                    let idx = resolve_columns(&table, &cols)?;
                    for &i in &idx {
                        table.columns[i].nullable = false;
                    }
                    table.primary_key = idx;
                    let pk_name = cname.unwrap_or_else(|| format!("{name}_pkey"));
                    table.pk_name = Some(self.free_name(&schema, &pk_name));
                }
                other => others.push(other),
            }
        }
        if table.primary_key.is_empty() {
            let sid = self.oids.allocate(self.txn)?;
            let def = SequenceDef {
                id: sid,
                database: self.catalog.database,
                schema: schema.clone(),
                name: format!("{name}_rowid"),
                increment: 1,
                min_value: 1,
                max_value: i64::MAX,
                start: 1,
                cycle: false,
                owned_by: None,
                internal: true,
                owner: self.current_user,
                acl: None,
            };
            self.txn.put(
                keys::sequence_key(sid),
                SequenceManager::initial_value(&def),
            );
            self.put_sequence(&def)?;
            table.rowid_seq = Some(sid);
        }
        self.put_table(&table)?;
        self.reload()?;
        for c in others {
            self.add_constraint(id, c, true)?;
        }
        Ok(Some(id))
    }

    /// Adds a UNIQUE, CHECK or FOREIGN KEY constraint to an existing table,
    /// validating existing rows (`new_table` skips validation).
    pub(super) fn add_constraint(
        &mut self,
        table_id: u32,
        c: Constraint,
        new_table: bool,
    ) -> Result<()> {
        let table = self.catalog.table(table_id)?.clone();
        let mut t = (*table).clone();
        match c {
            Constraint::Primary(..) => {
                return Err(Error::unsupported(
                    "adding a primary key to an existing table is not supported yet",
                ));
            }
            Constraint::Unique(cname, cols) => {
                let idx = resolve_columns(&t, &cols)?;
                let base = cname.unwrap_or_else(|| format!("{}_{}_key", t.name, cols.join("_")));
                if !new_table && self.catalog.relation_exists(&t.schema, &base) {
                    return Err(Error::new(
                        SqlState::DUPLICATE_TABLE,
                        format!("relation \"{base}\" already exists"),
                    ));
                }
                let iname = self.free_name(&t.schema, &base);
                let ix = IndexDef {
                    id: self.oids.allocate(self.txn)?,
                    database: self.catalog.database,
                    table_id,
                    schema: t.schema.clone(),
                    name: iname,
                    columns: idx,
                    unique: true,
                    constraint: true,
                    keys: vec![],
                    predicate: None,
                };
                if !new_table {
                    self.build_index(&t, &ix)?;
                }
                self.put_index(&ix)?;
            }
            Constraint::Check(cname, expr, col) => {
                let scope = Scope::for_table(&t, &t.name);
                let b = self.binder();
                let pred = b.bind_predicate(&expr, &scope, "CHECK")?;
                let base = match (&cname, &col) {
                    (Some(n), _) => n.clone(),
                    (None, Some(c)) => format!("{}_{}_check", t.name, c),
                    (None, None) => format!("{}_check", t.name),
                };
                let mut n = base.clone();
                let mut i = 0;
                while t.checks.iter().any(|c| c.name == n) {
                    i += 1;
                    n = format!("{base}{i}");
                }
                if !new_table {
                    let ectx = crate::sql::expr::EvalCtx::new(&[], self.env);
                    for (_, row) in self.table_rows(&t)? {
                        if let crate::types::Value::Bool(false) = pred.eval(&row, &ectx)? {
                            return Err(Error::new(
                                SqlState::CHECK_VIOLATION,
                                format!(
                                    "check constraint \"{n}\" of relation \"{}\" is violated by some row",
                                    t.name
                                ),
                            ));
                        }
                    }
                }
                t.checks.push(CheckDef {
                    name: n,
                    expr: expr.to_string(),
                });
                self.put_table(&t)?;
            }
            Constraint::Foreign(cname, cols, ref_name, ref_cols, on_delete, on_update) => {
                let (rs, rn) = split_name(&ref_name)?;
                let parent = if rn == t.name && rs.as_deref().is_none_or(|s| s == t.schema) {
                    std::sync::Arc::new(t.clone())
                } else {
                    self.binder().table_by_name(rs.as_deref(), &rn)?
                };
                self.catalog.check_privilege(
                    self.current_user,
                    Object::Table(&parent),
                    crate::catalog::acl::REFERENCES,
                )?;
                self.check_fk_persistence(t.is_temp(), parent.id)?;
                let columns = resolve_columns(&t, &cols)?;
                let ref_columns = if ref_cols.is_empty() {
                    if parent.primary_key.is_empty() {
                        return Err(Error::new(
                            SqlState::INVALID_FOREIGN_KEY,
                            format!(
                                "there is no primary key for referenced table \"{}\"",
                                parent.name
                            ),
                        ));
                    }
                    parent.primary_key.clone()
                } else {
                    resolve_columns(&parent, &ref_cols)?
                };
                if columns.len() != ref_columns.len() {
                    return Err(Error::new(
                        SqlState::INVALID_FOREIGN_KEY,
                        "number of referencing and referenced columns for foreign key disagree",
                    ));
                }
                let unique = parent.primary_key == ref_columns
                    || self.catalog.plain_indexes_of(parent.id).iter().any(|i| {
                        i.unique && {
                            let mut a = i.columns.clone();
                            a.sort_unstable();
                            let mut b = ref_columns.clone();
                            b.sort_unstable();
                            a == b
                        }
                    });
                if !unique {
                    return Err(Error::new(
                        SqlState::INVALID_FOREIGN_KEY,
                        format!(
                            "there is no unique constraint matching given keys for referenced table \"{}\"",
                            parent.name
                        ),
                    ));
                }
                let name = cname.unwrap_or_else(|| format!("{}_{}_fkey", t.name, cols.join("_")));
                let fk = ForeignKeyDef {
                    name,
                    columns,
                    ref_table: parent.id,
                    ref_columns,
                    on_delete,
                    on_update,
                };
                if !new_table {
                    self.validate_fk(&t, &parent, &fk)?;
                }
                t.foreign_keys.push(fk);
                self.put_table(&t)?;
            }
        }
        self.reload()
    }

    fn validate_fk(&self, t: &TableDef, parent: &TableDef, fk: &ForeignKeyDef) -> Result<()> {
        let parent_rows = self.table_rows(parent)?;
        let keys: std::collections::HashSet<Vec<crate::types::Value>> = parent_rows
            .iter()
            .map(|(_, r)| fk.ref_columns.iter().map(|&c| r[c].clone()).collect())
            .collect();
        for (_, row) in self.table_rows(t)? {
            let vals: Vec<crate::types::Value> =
                fk.columns.iter().map(|&c| row[c].clone()).collect();
            if vals.iter().any(|v| v.is_null()) {
                continue;
            }
            if !keys.contains(&vals) {
                return Err(Error::new(
                    SqlState::FOREIGN_KEY_VIOLATION,
                    format!(
                        "insert or update on table \"{}\" violates foreign key constraint \"{}\"",
                        t.name, fk.name
                    ),
                ));
            }
        }
        Ok(())
    }

    pub fn create_index(&mut self, ci: &ast::CreateIndex) -> Result<String> {
        if !ci.include.is_empty() {
            return Err(Error::unsupported("INCLUDE columns are not supported yet"));
        }
        let id = self.binder().table(&ci.table_name).ok().map(|t| t.id);
        self.with_table_usage(id, |ctx| ctx.create_index_unaccounted(ci))
    }

    fn create_index_unaccounted(&mut self, ci: &ast::CreateIndex) -> Result<String> {
        let table = self.binder().table(&ci.table_name)?;
        self.require_owner(Object::Table(&table))?;
        self.lock_table_exclusive(table.id)?;
        let table = self.catalog.table(table.id)?.clone();
        let binder = self.binder();
        // Keys: a plain column, or an expression (with COLLATE and an
        // operator class on either).
        let mut keys = Vec::new();
        let mut name_parts = Vec::new();
        let mut reads = std::collections::BTreeSet::new();
        for c in &ci.columns {
            let (mut e, collation) = index::split_collate(&c.column.expr);
            while let ast::Expr::Nested(inner) = e {
                e = inner;
            }
            let bound = binder.bind_index_key(&table, e, collation, c.operator_class.as_ref())?;
            bound.expr.walk(&mut |x| {
                if let Expr::Column(i) = x {
                    reads.insert(*i);
                }
            });
            name_parts.push(index::key_name_part(e));
            let column = match bound.expr {
                Expr::Column(i) => Some(i),
                _ => None,
            };
            keys.push(IndexKey {
                column,
                expr: column.is_none().then(|| e.to_string()),
                collation: bound.collation,
                opclass: bound.opclass,
            });
        }
        let predicate = match &ci.predicate {
            Some(p) => {
                let x = binder.bind_index_predicate(&table, p)?;
                x.walk(&mut |x| {
                    if let Expr::Column(i) = x {
                        reads.insert(*i);
                    }
                });
                Some(p.to_string())
            }
            None => None,
        };
        drop(binder);
        let plain_keys = keys
            .iter()
            .all(|k| k.expr.is_none() && k.collation.is_none() && k.opclass.is_none());
        let columns: Vec<usize> = if predicate.is_none() && keys.iter().all(|k| k.expr.is_none()) {
            keys.iter().filter_map(|k| k.column).collect()
        } else {
            reads.into_iter().collect()
        };
        let name = match &ci.name {
            Some(n) => {
                let (_, n) = split_name(n)?;
                if self.catalog.relation_exists(&table.schema, &n) {
                    if ci.if_not_exists {
                        self.relation_exists_skipping(&n);
                        return Ok("CREATE INDEX".into());
                    }
                    return Err(Error::new(
                        SqlState::DUPLICATE_TABLE,
                        format!("relation \"{n}\" already exists"),
                    ));
                }
                n
            }
            None => self.free_name(
                &table.schema,
                &format!("{}_{}_idx", table.name, name_parts.join("_")),
            ),
        };
        let ix = IndexDef {
            id: self.oids.allocate(self.txn)?,
            database: self.catalog.database,
            table_id: table.id,
            schema: table.schema.clone(),
            name,
            columns,
            unique: ci.unique,
            constraint: false,
            // A partial index lists its keys: its columns are all it reads.
            keys: if plain_keys && predicate.is_none() {
                vec![]
            } else {
                keys
            },
            predicate,
        };
        self.build_index(&table, &ix)?;
        self.put_index(&ix)?;
        Ok("CREATE INDEX".into())
    }

    pub fn create_sequence(
        &mut self,
        name: &ast::ObjectName,
        temporary: bool,
        if_not_exists: bool,
        data_type: Option<&ast::DataType>,
        opts: &[ast::SequenceOptions],
    ) -> Result<String> {
        let (schema, n, _) = self.creation_target(name, temporary)?;
        self.lock_name(&schema, &n)?;
        if self.catalog.relation_exists(&schema, &n) {
            if if_not_exists {
                self.relation_exists_skipping(&n);
                return Ok("CREATE SEQUENCE".into());
            }
            return Err(Error::new(
                SqlState::DUPLICATE_TABLE,
                format!("relation \"{n}\" already exists"),
            ));
        }
        let ty = match data_type {
            Some(t) => DataType::from_sql(t)?,
            None => DataType::Int8,
        };
        let id = self.oids.allocate(self.txn)?;
        let mut def = sequence_def(id, self.catalog.database, &schema, &n, &ty, opts)?;
        def.owner = self.current_user;
        self.txn
            .put(keys::sequence_key(id), SequenceManager::initial_value(&def));
        self.put_sequence(&def)?;
        Ok("CREATE SEQUENCE".into())
    }
}

pub(super) fn resolve_columns(t: &TableDef, cols: &[String]) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for c in cols {
        let i = t.column_index(c).ok_or_else(|| {
            Error::new(
                SqlState::UNDEFINED_COLUMN,
                format!("column \"{c}\" named in key does not exist"),
            )
        })?;
        if out.contains(&i) {
            return Err(Error::new(
                SqlState::DUPLICATE_COLUMN,
                format!("column \"{c}\" appears twice in primary key constraint"),
            ));
        }
        out.push(i);
    }
    Ok(out)
}

fn const_i64(e: &ast::Expr) -> Result<i64> {
    let s = e.to_string().replace(' ', "");
    s.parse::<i64>().map_err(|_| {
        Error::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("invalid sequence option value: {e}"),
        )
    })
}

/// Builds a sequence definition from CREATE SEQUENCE / identity options.
pub(super) fn sequence_def(
    id: u32,
    database: u32,
    schema: &str,
    name: &str,
    ty: &DataType,
    opts: &[ast::SequenceOptions],
) -> Result<SequenceDef> {
    let type_max = match ty {
        DataType::Int2 => i16::MAX as i64,
        DataType::Int4 => i32::MAX as i64,
        DataType::Int8 => i64::MAX,
        other => {
            return Err(Error::new(
                SqlState::INVALID_PARAMETER_VALUE,
                format!(
                    "sequence type must be smallint, integer, or bigint, not {}",
                    other.name()
                ),
            ));
        }
    };
    let mut increment = 1i64;
    let (mut min, mut max, mut start, mut cycle) = (None, None, None, false);
    for o in opts {
        match o {
            ast::SequenceOptions::IncrementBy(e, _) => increment = const_i64(e)?,
            ast::SequenceOptions::MinValue(Some(e)) => min = Some(const_i64(e)?),
            ast::SequenceOptions::MaxValue(Some(e)) => max = Some(const_i64(e)?),
            ast::SequenceOptions::MinValue(None) | ast::SequenceOptions::MaxValue(None) => {}
            ast::SequenceOptions::StartWith(e, _) => start = Some(const_i64(e)?),
            ast::SequenceOptions::Cache(_) => {}
            // sqlparser's flag is true for NO CYCLE.
            ast::SequenceOptions::Cycle(no) => cycle = !*no,
        }
    }
    if increment == 0 {
        return Err(Error::new(
            SqlState::INVALID_PARAMETER_VALUE,
            "INCREMENT must not be zero",
        ));
    }
    let min_value = min.unwrap_or(if increment > 0 { 1 } else { -type_max - 1 });
    let max_value = max.unwrap_or(if increment > 0 { type_max } else { -1 });
    let start = start.unwrap_or(if increment > 0 { min_value } else { max_value });
    if min_value >= max_value {
        return Err(Error::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("MINVALUE ({min_value}) must be less than MAXVALUE ({max_value})"),
        ));
    }
    if start < min_value || start > max_value {
        return Err(Error::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("START value ({start}) cannot be outside the range {min_value}..{max_value}"),
        ));
    }
    Ok(SequenceDef {
        id,
        database,
        schema: schema.to_string(),
        name: name.to_string(),
        increment,
        min_value,
        max_value,
        start,
        cycle,
        owned_by: None,
        internal: false,
        owner: 0,
        acl: None,
    })
}

/// Whether a column type is the placeholder the parser gives the bare
/// column names of `CREATE TABLE t (a, b) AS ...`.
fn is_untyped(ty: &ast::DataType) -> bool {
    matches!(ty, ast::DataType::Custom(name, mods)
        if mods.is_empty() && name.0.len() == 1
            && name.0[0].as_ident().is_some_and(|i| i.value == crate::sql::parser::UNTYPED_MARKER))
}
