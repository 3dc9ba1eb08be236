//! System relations: `pg_catalog` and `information_schema`, computed from the
//! [`Catalog`] a statement is bound against.
//!
//! A system relation is not stored. When the binder resolves a name to one
//! ([`lookup`]), the relation's rows are built here from the catalog version
//! the statement sees and planned as literal rows ([`crate::sql::plan::Plan::Values`]),
//! so joins, filters and ordering over them work like over any derived table,
//! and they are exactly as transactional as the catalog itself.
//!
//! Name resolution follows PostgreSQL: `pg_catalog` is implicitly first on the
//! search path (`pg_class` and `pg_catalog.pg_class` are the same relation,
//! and a user table cannot shadow it); `information_schema` relations must be
//! qualified.
//!
//! Object identifiers: tables, indexes, sequences, views and schemas use
//! their catalog ids. Objects the catalog has no id for get synthetic oids
//! above 2^32, so they never collide with an allocated (u32) id: the index
//! behind a primary key ([`pk_index_oid`]) and constraints
//! ([`Constraint::oid`]). Oid-typed columns are `bigint`.

mod depend;
pub(crate) mod helios;
mod information_schema;
mod pg_catalog;
mod policies;
pub mod roles;
mod settings;

pub use helios::tenant_rows;
pub use roles::{current_user_roles_rows, role_names, role_oid, role_secrets_rows};
pub use settings::{SettingRow, settings_rows};

use crate::catalog::{Catalog, CheckDef, FkAction, ForeignKeyDef, TableDef, ViewDef};
use crate::sql::plan::Column;
pub use crate::sql::quote_ident;
use crate::types::{DataType, Value};
use std::sync::Arc;

/// The rows and columns of a system relation, as of one catalog version.
pub struct SystemTable {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
    /// Set for relations that depend on the session (settings, the current
    /// user): `rows` is empty and the session supplies them when the plan
    /// runs (`EvalEnv::session_relation` with this name).
    pub session: Option<&'static str>,
}

/// What the builders read: the catalog, the search path, and the output
/// columns of views (the binder binds a view's query to know them).
pub struct Ctx<'a> {
    pub catalog: &'a Catalog,
    pub search_path: &'a [String],
    pub view_columns: &'a dyn Fn(&ViewDef) -> Vec<(String, DataType)>,
}

/// The oid of the bootstrap superuser (`relowner`, `nspowner`, ...).
pub const SUPERUSER_OID: i64 = 10;
/// The owner every object reports until objects have owners (the bootstrap superuser).
pub const SUPERUSER_NAME: &str = "heliosdb";
pub const PG_CATALOG_OID: i64 = 11;
pub const PUBLIC_OID: i64 = 2200;
pub const INFORMATION_SCHEMA_OID: i64 = 13000;
/// Access methods (`pg_am`): heap for tables, btree for indexes.
pub const HEAP_AM_OID: i64 = 2;
pub const BTREE_AM_OID: i64 = 403;
const SYNTHETIC_BASE: i64 = 1 << 32;

/// The name of the database `cat` is the catalog of (`current_database()`).
pub fn database_name(cat: &Catalog) -> &str {
    cat.current_database()
        .map(|d| d.name.as_str())
        .unwrap_or("")
}

/// The oid of the index behind table `table`'s primary key.
pub fn pk_index_oid(table: u32) -> i64 {
    SYNTHETIC_BASE + table as i64
}

/// Whether `schema.name` (schema `None`: unqualified) names a system relation.
pub fn is_system_relation(schema: Option<&str>, name: &str) -> bool {
    match schema {
        None | Some("pg_catalog") => pg_catalog::NAMES.contains(&name),
        Some("information_schema") => information_schema::NAMES.contains(&name),
        Some("helios") => helios::NAMES.contains(&name),
        Some(_) => false,
    }
}

/// The oid of system relation `schema.name`: PostgreSQL's fixed oid for
/// catalog tables, a stable made-up one (below the first user oid) otherwise.
pub fn system_relation_oid(schema: Option<&str>, name: &str) -> Option<i64> {
    if !is_system_relation(schema, name) {
        return None;
    }
    if schema == Some("information_schema") {
        let k = information_schema::NAMES.iter().position(|n| *n == name)?;
        return Some(13_100 + k as i64);
    }
    if schema == Some("helios") {
        let k = helios::NAMES.iter().position(|n| *n == name)?;
        return Some(13_900 + k as i64);
    }
    if let Some((_, oid)) = pg_catalog::FIXED_OIDS.iter().find(|(n, _)| *n == name) {
        return Some(*oid);
    }
    let k = pg_catalog::NAMES.iter().position(|n| *n == name)?;
    Some(12_000 + k as i64)
}

/// Every system relation as (oid, name as `regclass` prints it): the
/// `pg_catalog` ones unqualified (that schema is always searched).
pub fn system_relation_names() -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for n in pg_catalog::NAMES {
        if let Some(oid) = system_relation_oid(None, n) {
            out.push((oid, n.to_string()));
        }
    }
    for (schema, names) in [
        ("information_schema", information_schema::NAMES),
        ("helios", helios::NAMES),
    ] {
        for n in names {
            if let Some(oid) = system_relation_oid(Some(schema), n) {
                out.push((oid, format!("{schema}.{n}")));
            }
        }
    }
    out
}

/// Builds system relation `schema.name`, if it is one.
pub fn lookup(ctx: &Ctx, schema: Option<&str>, name: &str) -> Option<SystemTable> {
    match schema {
        None | Some("pg_catalog") => pg_catalog::build(ctx, name),
        Some("information_schema") => information_schema::build(ctx, name),
        Some("helios") => helios::build(ctx, name),
        Some(_) => None,
    }
}

/// Accumulates a system relation's rows under a fixed column list.
pub(crate) struct Builder {
    columns: Vec<Column>,
    rows: Vec<Vec<Value>>,
}

impl Builder {
    pub fn new(columns: &[(&str, DataType)]) -> Builder {
        Builder {
            columns: columns
                .iter()
                .map(|(n, t)| Column {
                    name: n.to_string(),
                    ty: t.clone(),
                })
                .collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<Value>) {
        debug_assert_eq!(
            row.len(),
            self.columns.len(),
            "row width of {:?}",
            self.columns
        );
        self.rows.push(row);
    }

    pub fn finish(self) -> SystemTable {
        SystemTable {
            columns: self.columns,
            rows: self.rows,
            session: None,
        }
    }

    /// A relation whose rows the session supplies when the plan runs.
    pub fn session(self, name: &'static str) -> SystemTable {
        SystemTable {
            columns: self.columns,
            rows: Vec::new(),
            session: Some(name),
        }
    }
}

pub(crate) fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

pub(crate) fn int8(i: impl Into<i64>) -> Value {
    Value::Int8(i.into())
}

pub(crate) fn opt_text(s: Option<impl Into<String>>) -> Value {
    s.map(|s| Value::Text(s.into())).unwrap_or(Value::Null)
}

/// Schemas in oid order: pg_catalog, public, information_schema, then user schemas.
pub fn namespaces(cat: &Catalog) -> Vec<(i64, String)> {
    let mut out = vec![
        (PG_CATALOG_OID, "pg_catalog".to_string()),
        (PUBLIC_OID, "public".to_string()),
        (INFORMATION_SCHEMA_OID, "information_schema".to_string()),
    ];
    for s in cat.schemas.values() {
        if s.name != "public" {
            out.push((s.id as i64, s.name.clone()));
        }
    }
    out
}

pub fn namespace_oid(cat: &Catalog, schema: &str) -> i64 {
    match schema {
        "pg_catalog" => PG_CATALOG_OID,
        "public" => PUBLIC_OID,
        "information_schema" => INFORMATION_SCHEMA_OID,
        s => cat.schemas.get(s).map(|d| d.id as i64).unwrap_or(0),
    }
}

/// A relation as `pg_class` lists it.
pub struct RelInfo {
    pub oid: i64,
    pub schema: String,
    pub name: String,
    /// `r` table, `i` index, `S` sequence, `v` view.
    pub kind: char,
    /// The owning role (an index: its table's owner).
    pub owner: u32,
    pub acl: Option<Vec<crate::catalog::AclItem>>,
}

/// An access control list as PostgreSQL's `aclitem[]` text (NULL: the default).
pub fn acl_value(cat: &Catalog, acl: Option<&[crate::catalog::AclItem]>) -> Value {
    match acl {
        None => Value::Null,
        Some(items) => Value::Array(
            DataType::Text,
            items
                .iter()
                .map(|i| Value::Text(crate::catalog::acl::format_item(i, cat)))
                .collect(),
        ),
    }
}

/// The name of role `id` (its number if it no longer exists).
pub fn role_name(cat: &Catalog, id: u32) -> String {
    cat.roles
        .get(&id)
        .map(|r| r.name.clone())
        .unwrap_or_else(|| id.to_string())
}

/// Every user relation (tables, views, visible sequences, indexes including
/// primary-key indexes), in oid order.
pub fn relations(cat: &Catalog) -> Vec<RelInfo> {
    let mut out = Vec::new();
    let rel = |oid: i64, schema: &str, name: &str, kind, owner, acl: &Option<Vec<_>>| RelInfo {
        oid,
        schema: schema.to_string(),
        name: name.to_string(),
        kind,
        owner,
        acl: acl.clone(),
    };
    for t in cat.tables.values() {
        out.push(rel(t.id as i64, &t.schema, &t.name, 'r', t.owner, &t.acl));
    }
    for v in cat.views.values() {
        out.push(rel(v.id as i64, &v.schema, &v.name, 'v', v.owner, &v.acl));
    }
    for s in cat.sequences.values().filter(|s| !s.internal) {
        out.push(rel(s.id as i64, &s.schema, &s.name, 'S', s.owner, &s.acl));
    }
    for i in indexes(cat) {
        out.push(rel(
            i.oid,
            &i.table.schema,
            &i.name,
            'i',
            i.table.owner,
            &None,
        ));
    }
    out.sort_by_key(|r| r.oid);
    out
}

/// Whether an unqualified reference to `schema.name` would find this relation
/// (PostgreSQL's `pg_table_is_visible`).
pub fn is_visible(cat: &Catalog, search_path: &[String], schema: &str, name: &str) -> bool {
    match cat.resolve(None, name, search_path) {
        Some((s, _)) => s == schema,
        // Primary-key indexes are not in the name table: visible when the
        // search path reaches their schema.
        None => search_path.iter().any(|s| s == schema),
    }
}

/// A name qualified by its schema unless the search path finds it anyway.
pub fn display_name(cat: &Catalog, search_path: &[String], schema: &str, name: &str) -> String {
    if is_visible(cat, search_path, schema, name) {
        quote_ident(name)
    } else {
        format!("{}.{}", quote_ident(schema), quote_ident(name))
    }
}

/// An index as `pg_index` lists it: secondary indexes and primary keys.
pub struct IndexInfo {
    pub oid: i64,
    pub name: String,
    pub table: Arc<TableDef>,
    pub columns: Vec<usize>,
    pub unique: bool,
    pub primary: bool,
    /// Expression keys, collations, operator classes and predicate (None for
    /// a primary key).
    pub def: Option<Arc<crate::catalog::IndexDef>>,
}

impl IndexInfo {
    /// Per key, the column it is (None for an expression key): `indkey`.
    pub fn key_columns(&self) -> Vec<Option<usize>> {
        match &self.def {
            Some(d) if !d.keys.is_empty() => d.keys.iter().map(|k| k.column).collect(),
            _ => self.columns.iter().map(|&c| Some(c)).collect(),
        }
    }

    /// The keys as `pg_get_indexdef` writes them.
    pub fn key_sql(&self) -> Vec<String> {
        let t = &self.table;
        match &self.def {
            Some(d) if !d.keys.is_empty() => d
                .keys
                .iter()
                .map(|k| {
                    let mut out = match (&k.expr, k.column) {
                        (Some(e), _) if looks_like_function(e) => e.clone(),
                        (Some(e), _) => format!("({e})"),
                        (None, Some(c)) => quote_ident(&t.columns[c].name),
                        (None, None) => String::new(),
                    };
                    if let Some(c) = &k.collation {
                        out.push_str(&format!(" COLLATE \"{c}\""));
                    }
                    if let Some(o) = &k.opclass {
                        out.push(' ');
                        out.push_str(&opclass_display_name(o));
                    }
                    out
                })
                .collect(),
            _ => self
                .columns
                .iter()
                .map(|&c| quote_ident(&t.columns[c].name))
                .collect(),
        }
    }
}

/// Whether deparsed index key text is a function call, which PostgreSQL
/// writes without the parentheses around other expression keys.
fn looks_like_function(e: &str) -> bool {
    let Some(open) = e.find('(') else {
        return false;
    };
    e.ends_with(')')
        && open > 0
        && e[..open]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && {
            // The parenthesis opened after the name closes at the end.
            let mut depth = 0i32;
            e[open..].char_indices().all(|(i, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth > 0 || i == e.len() - open - 1
            })
        }
}

/// The operator class a stored `family/input` stands for, by its usual name.
fn opclass_display_name(stored: &str) -> String {
    match stored.split_once('/') {
        Some(("text_pattern_ops", _)) => "text_pattern_ops".into(),
        Some(("bpchar_pattern_ops", _)) => "bpchar_pattern_ops".into(),
        Some((family, _)) => family.into(),
        None => stored.into(),
    }
}

pub fn indexes(cat: &Catalog) -> Vec<IndexInfo> {
    let mut out = Vec::new();
    for t in cat.tables.values() {
        if let Some(pk) = &t.pk_name
            && !t.primary_key.is_empty()
        {
            out.push(IndexInfo {
                oid: pk_index_oid(t.id),
                name: pk.clone(),
                table: t.clone(),
                columns: t.primary_key.clone(),
                unique: true,
                primary: true,
                def: None,
            });
        }
    }
    for i in cat.indexes.values() {
        if let Some(t) = cat.tables.get(&i.table_id) {
            out.push(IndexInfo {
                oid: i.id as i64,
                name: i.name.clone(),
                table: t.clone(),
                columns: i.columns.clone(),
                unique: i.unique,
                primary: false,
                def: Some(i.clone()),
            });
        }
    }
    out
}

fn column_list(t: &TableDef, cols: &[usize]) -> String {
    cols.iter()
        .map(|&c| quote_ident(&t.columns[c].name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `pg_get_indexdef`: `CREATE [UNIQUE] INDEX name ON schema.table USING
/// btree (keys) [WHERE (pred)]` (`pretty`: the predicate without parentheses).
pub fn index_def(i: &IndexInfo, pretty: bool) -> String {
    let mut out = format!(
        "CREATE {}INDEX {} ON {}.{} USING btree ({})",
        if i.unique { "UNIQUE " } else { "" },
        quote_ident(&i.name),
        quote_ident(&i.table.schema),
        quote_ident(&i.table.name),
        i.key_sql().join(", ")
    );
    if let Some(p) = i.def.as_ref().and_then(|d| d.predicate.as_ref()) {
        if pretty {
            out.push_str(&format!(" WHERE {p}"));
        } else {
            out.push_str(&format!(" WHERE ({p})"));
        }
    }
    out
}

/// What a constraint is.
pub enum ConstraintKind<'a> {
    PrimaryKey,
    Unique { index: i64 },
    Check(&'a CheckDef),
    ForeignKey(&'a ForeignKeyDef),
}

/// A constraint as `pg_constraint` lists it.
pub struct Constraint<'a> {
    pub oid: i64,
    pub name: String,
    pub table: &'a Arc<TableDef>,
    pub kind: ConstraintKind<'a>,
    /// Constrained column positions (empty for CHECK).
    pub columns: Vec<usize>,
}

impl Constraint<'_> {
    /// `pg_constraint.contype`.
    pub fn contype(&self) -> &'static str {
        match self.kind {
            ConstraintKind::PrimaryKey => "p",
            ConstraintKind::Unique { .. } => "u",
            ConstraintKind::Check(_) => "c",
            ConstraintKind::ForeignKey(_) => "f",
        }
    }

    /// The index enforcing a primary key or unique constraint (0 otherwise).
    pub fn index_oid(&self) -> i64 {
        match self.kind {
            ConstraintKind::PrimaryKey => pk_index_oid(self.table.id),
            ConstraintKind::Unique { index } => index,
            _ => 0,
        }
    }
}

fn constraint_oid(table: u32, k: usize) -> i64 {
    2 * SYNTHETIC_BASE + ((table as i64) << 16) + k as i64
}

/// Every table constraint: primary keys, unique, check and foreign-key constraints.
pub fn constraints(cat: &Catalog) -> Vec<Constraint<'_>> {
    let mut out = Vec::new();
    for t in cat.tables.values() {
        let mut k = 0;
        let mut next = || {
            k += 1;
            constraint_oid(t.id, k)
        };
        if let Some(pk) = &t.pk_name
            && !t.primary_key.is_empty()
        {
            out.push(Constraint {
                oid: next(),
                name: pk.clone(),
                table: t,
                kind: ConstraintKind::PrimaryKey,
                columns: t.primary_key.clone(),
            });
        }
        for i in cat.index_iter(t.id).filter(|i| i.constraint) {
            out.push(Constraint {
                oid: next(),
                name: i.name.clone(),
                table: t,
                kind: ConstraintKind::Unique { index: i.id as i64 },
                columns: i.columns.clone(),
            });
        }
        for c in &t.checks {
            out.push(Constraint {
                oid: next(),
                name: c.name.clone(),
                table: t,
                kind: ConstraintKind::Check(c),
                columns: Vec::new(),
            });
        }
        for f in &t.foreign_keys {
            out.push(Constraint {
                oid: next(),
                name: f.name.clone(),
                table: t,
                kind: ConstraintKind::ForeignKey(f),
                columns: f.columns.clone(),
            });
        }
    }
    out
}

/// `pg_constraint.confupdtype` / `confdeltype` letter of an action.
pub fn fk_action_code(a: FkAction) -> &'static str {
    match a {
        FkAction::NoAction => "a",
        FkAction::Restrict => "r",
        FkAction::Cascade => "c",
        FkAction::SetNull => "n",
        FkAction::SetDefault => "d",
    }
}

/// The SQL spelling of a referential action (information_schema's rule names).
pub fn fk_action_sql(a: FkAction) -> &'static str {
    match a {
        FkAction::NoAction => "NO ACTION",
        FkAction::Restrict => "RESTRICT",
        FkAction::Cascade => "CASCADE",
        FkAction::SetNull => "SET NULL",
        FkAction::SetDefault => "SET DEFAULT",
    }
}

/// `pg_get_constraintdef`.
pub fn constraint_def(cat: &Catalog, search_path: &[String], c: &Constraint) -> String {
    match &c.kind {
        ConstraintKind::PrimaryKey => format!("PRIMARY KEY ({})", column_list(c.table, &c.columns)),
        ConstraintKind::Unique { .. } => format!("UNIQUE ({})", column_list(c.table, &c.columns)),
        ConstraintKind::Check(ch) => format!("CHECK ({})", ch.expr),
        ConstraintKind::ForeignKey(f) => {
            let (target, cols) = match cat.tables.get(&f.ref_table) {
                Some(r) => (
                    display_name(cat, search_path, &r.schema, &r.name),
                    column_list(r, &f.ref_columns),
                ),
                None => (f.ref_table.to_string(), String::new()),
            };
            let mut s = format!(
                "FOREIGN KEY ({}) REFERENCES {}({})",
                column_list(c.table, &c.columns),
                target,
                cols
            );
            if f.on_update != FkAction::NoAction {
                s.push_str(&format!(" ON UPDATE {}", fk_action_sql(f.on_update)));
            }
            if f.on_delete != FkAction::NoAction {
                s.push_str(&format!(" ON DELETE {}", fk_action_sql(f.on_delete)));
            }
            s
        }
    }
}

/// A type as `pg_type` lists it.
pub struct TypeInfo {
    pub oid: i64,
    pub name: &'static str,
    /// `typlen`: bytes, or -1 for variable length.
    pub len: i16,
    pub category: &'static str,
    /// Element type of an array type (0 otherwise).
    pub elem: i64,
    /// Array type of a scalar type (0 otherwise).
    pub array: i64,
}

/// The types the engine has, plus the catalog types its system relations
/// and clients mention (name, oid, "char", regclass, ...).
pub fn types() -> Vec<TypeInfo> {
    // (oid, name, len, category, array oid)
    const SCALARS: &[(i64, &str, i16, &str, i64)] = &[
        (16, "bool", 1, "B", 1000),
        (17, "bytea", -1, "U", 1001),
        (18, "char", 1, "Z", 1002),
        (19, "name", 64, "S", 1003),
        (20, "int8", 8, "N", 1016),
        (21, "int2", 2, "N", 1005),
        (22, "int2vector", -1, "A", 1006),
        (23, "int4", 4, "N", 1007),
        (24, "regproc", 4, "N", 1008),
        (25, "text", -1, "S", 1009),
        (26, "oid", 4, "N", 1028),
        (30, "oidvector", -1, "A", 1013),
        (114, "json", -1, "U", 199),
        (194, "pg_node_tree", -1, "Z", 0),
        (700, "float4", 4, "N", 1021),
        (701, "float8", 8, "N", 1022),
        (705, "unknown", -2, "X", 0),
        (1042, "bpchar", -1, "S", 1014),
        (1043, "varchar", -1, "S", 1015),
        (1082, "date", 4, "D", 1182),
        (1083, "time", 8, "D", 1183),
        (1114, "timestamp", 8, "D", 1115),
        (1184, "timestamptz", 8, "D", 1185),
        (1186, "interval", 16, "T", 1187),
        (1700, "numeric", -1, "N", 1231),
        (2205, "regclass", 4, "N", 2210),
        (2206, "regtype", 4, "N", 2211),
        (2950, "uuid", 16, "U", 2951),
        (3802, "jsonb", -1, "U", 3807),
        (4089, "regnamespace", 4, "N", 4090),
    ];
    const ARRAY_NAMES: &[(i64, &str)] = &[
        (1000, "_bool"),
        (1001, "_bytea"),
        (1002, "_char"),
        (1003, "_name"),
        (1016, "_int8"),
        (1005, "_int2"),
        (1006, "_int2vector"),
        (1007, "_int4"),
        (1008, "_regproc"),
        (1009, "_text"),
        (1028, "_oid"),
        (1013, "_oidvector"),
        (199, "_json"),
        (1021, "_float4"),
        (1022, "_float8"),
        (1014, "_bpchar"),
        (1015, "_varchar"),
        (1182, "_date"),
        (1183, "_time"),
        (1115, "_timestamp"),
        (1185, "_timestamptz"),
        (1187, "_interval"),
        (1231, "_numeric"),
        (2210, "_regclass"),
        (2211, "_regtype"),
        (2951, "_uuid"),
        (3807, "_jsonb"),
        (4090, "_regnamespace"),
    ];
    let mut out = Vec::new();
    for &(oid, name, len, category, array) in SCALARS {
        out.push(TypeInfo {
            oid,
            name,
            len,
            category,
            elem: 0,
            array,
        });
    }
    for &(oid, _, _, _, array) in SCALARS {
        if array == 0 {
            continue;
        }
        let aname = ARRAY_NAMES
            .iter()
            .find(|(a, _)| *a == array)
            .map(|(_, n)| *n)
            .expect("every array oid in SCALARS has a name");
        out.push(TypeInfo {
            oid: array,
            name: aname,
            len: -1,
            category: "A",
            elem: oid,
            array: 0,
        });
    }
    out.sort_by_key(|t| t.oid);
    out
}

/// `atttypmod` of a column type: declared length + 4, or packed numeric
/// precision and scale + 4; -1 without a modifier.
pub fn typmod(ty: &DataType) -> i32 {
    match ty {
        DataType::Varchar(Some(n)) | DataType::Char(n) => *n as i32 + 4,
        DataType::Numeric(Some((p, s))) => ((*p as i32) << 16 | *s as i32) + 4,
        DataType::Array(e) => typmod(e),
        _ => -1,
    }
}

/// `format_type(oid, typmod)`: the SQL name of a type with its modifier.
pub fn format_type(oid: i64, typmod: Option<i32>) -> Option<String> {
    let m = typmod.filter(|m| *m >= 4).map(|m| m - 4);
    let base = |oid: i64| -> Option<String> {
        Some(match oid {
            18 => "\"char\"".into(),
            19 => "name".into(),
            22 => "int2vector".into(),
            24 => "regproc".into(),
            26 => "oid".into(),
            30 => "oidvector".into(),
            194 => "pg_node_tree".into(),
            2205 => "regclass".into(),
            2206 => "regtype".into(),
            4089 => "regnamespace".into(),
            1042 => match m {
                Some(n) => format!("character({n})"),
                None => "character".into(),
            },
            1043 => match m {
                Some(n) => format!("character varying({n})"),
                None => "character varying".into(),
            },
            1700 => match m {
                Some(x) => format!("numeric({},{})", x >> 16, x & 0xffff),
                None => "numeric".into(),
            },
            o => DataType::from_oid(u32::try_from(o).ok()?)?.name(),
        })
    };
    if let Some(t) = types().iter().find(|t| t.oid == oid)
        && t.elem != 0
    {
        return base(t.elem).map(|b| format!("{b}[]"));
    }
    base(oid)
}

/// `attlen` of a column type.
pub fn type_len(ty: &DataType) -> i16 {
    types()
        .iter()
        .find(|t| t.oid == ty.oid() as i64)
        .map(|t| t.len)
        .unwrap_or(-1)
}
