//! `information_schema` views (SQL standard), computed from the catalog.
//! Identifiers are `text`, cardinal numbers `integer`, yes/no columns `text`.

use super::{
    Builder, ConstraintKind, Ctx, SystemTable, constraints, fk_action_sql, opt_text, text, types,
};
use crate::catalog::{IdentityKind, TableDef};
use crate::types::{DataType, Value};

pub(super) const NAMES: &[&str] = &[
    "schemata",
    "tables",
    "columns",
    "views",
    "table_constraints",
    "key_column_usage",
    "referential_constraints",
    "constraint_column_usage",
    "check_constraints",
    "enabled_roles",
    "applicable_roles",
];

const ID: DataType = DataType::Text;
const NUM: DataType = DataType::Int4;
/// `catalog_name` columns: the current database.
fn db(ctx: &Ctx) -> Value {
    text(super::database_name(ctx.catalog))
}

fn yes_no(b: bool) -> Value {
    text(if b { "YES" } else { "NO" })
}

fn int(v: Option<u32>) -> Value {
    v.map(|n| Value::Int4(n as i32)).unwrap_or(Value::Null)
}

pub(super) fn build(ctx: &Ctx, name: &str) -> Option<SystemTable> {
    Some(match name {
        "schemata" => schemata(ctx),
        "tables" => tables(ctx),
        "columns" => columns(ctx),
        "views" => views(ctx),
        "table_constraints" => table_constraints(ctx),
        "key_column_usage" => key_column_usage(ctx),
        "referential_constraints" => referential_constraints(ctx),
        "constraint_column_usage" => constraint_column_usage(ctx),
        "check_constraints" => check_constraints(ctx),
        "enabled_roles" => super::roles::current_user_roles_table("enabled_roles"),
        "applicable_roles" => super::roles::current_user_roles_table("applicable_roles"),
        _ => return None,
    })
}

fn schemata(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&[
        ("catalog_name", ID),
        ("schema_name", ID),
        ("schema_owner", ID),
        ("default_character_set_catalog", ID),
        ("default_character_set_schema", ID),
        ("default_character_set_name", ID),
        ("sql_path", DataType::Text),
    ]);
    for (_, name) in super::namespaces(ctx.catalog) {
        let owner = match ctx.catalog.schemas.get(&name) {
            Some(s) => super::role_name(ctx.catalog, s.owner),
            None => super::SUPERUSER_NAME.to_string(),
        };
        b.push(vec![
            db(ctx),
            text(name),
            text(owner),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        ]);
    }
    b.finish()
}

fn tables(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&[
        ("table_catalog", ID),
        ("table_schema", ID),
        ("table_name", ID),
        ("table_type", DataType::Text),
        ("self_referencing_column_name", ID),
        ("reference_generation", DataType::Text),
        ("user_defined_type_catalog", ID),
        ("user_defined_type_schema", ID),
        ("user_defined_type_name", ID),
        ("is_insertable_into", DataType::Text),
        ("is_typed", DataType::Text),
        ("commit_action", DataType::Text),
    ]);
    let mut rows: Vec<(String, String, &str)> = Vec::new();
    // Other sessions' temporary schemas are not on this session's path.
    let other_temp = |schema: &str| {
        crate::catalog::is_temp_schema(schema) && !ctx.search_path.iter().any(|s| s == schema)
    };
    for t in ctx.catalog.tables.values() {
        if other_temp(&t.schema) {
            continue;
        }
        let kind = if t.is_temp() {
            "LOCAL TEMPORARY"
        } else {
            "BASE TABLE"
        };
        rows.push((t.schema.clone(), t.name.clone(), kind));
    }
    for v in ctx.catalog.views.values() {
        if other_temp(&v.schema) {
            continue;
        }
        rows.push((v.schema.clone(), v.name.clone(), "VIEW"));
    }
    rows.sort();
    for (schema, name, kind) in rows {
        b.push(vec![
            db(ctx),
            text(schema),
            text(name),
            text(kind),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            yes_no(kind != "VIEW"),
            yes_no(false),
            Value::Null,
        ]);
    }
    b.finish()
}

/// information_schema's `data_type` spelling: the type name without modifiers.
fn data_type_name(ty: &DataType) -> String {
    match ty {
        DataType::Array(_) => "ARRAY".into(),
        DataType::Varchar(_) => "character varying".into(),
        DataType::Char(_) => "character".into(),
        DataType::Numeric(_) => "numeric".into(),
        t => t.name(),
    }
}

fn udt_name(ty: &DataType) -> String {
    let oid = ty.oid() as i64;
    types()
        .into_iter()
        .find(|t| t.oid == oid)
        .map(|t| t.name.to_string())
        .unwrap_or_else(|| ty.name())
}

/// (numeric_precision, radix, scale) of a numeric type.
fn numeric_facets(ty: &DataType) -> (Option<u32>, Option<u32>, Option<u32>) {
    match ty {
        DataType::Int2 => (Some(16), Some(2), Some(0)),
        DataType::Int4 => (Some(32), Some(2), Some(0)),
        DataType::Int8 => (Some(64), Some(2), Some(0)),
        DataType::Float4 => (Some(24), Some(2), None),
        DataType::Float8 => (Some(53), Some(2), None),
        DataType::Numeric(Some((p, s))) => (Some(*p), Some(10), Some(*s)),
        DataType::Numeric(None) => (None, Some(10), None),
        _ => (None, None, None),
    }
}

fn columns(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&[
        ("table_catalog", ID),
        ("table_schema", ID),
        ("table_name", ID),
        ("column_name", ID),
        ("ordinal_position", NUM),
        ("column_default", DataType::Text),
        ("is_nullable", DataType::Text),
        ("data_type", DataType::Text),
        ("character_maximum_length", NUM),
        ("character_octet_length", NUM),
        ("numeric_precision", NUM),
        ("numeric_precision_radix", NUM),
        ("numeric_scale", NUM),
        ("datetime_precision", NUM),
        ("interval_type", DataType::Text),
        ("udt_catalog", ID),
        ("udt_schema", ID),
        ("udt_name", ID),
        ("is_identity", DataType::Text),
        ("identity_generation", DataType::Text),
        ("is_generated", DataType::Text),
        ("generation_expression", DataType::Text),
        ("is_updatable", DataType::Text),
    ]);
    struct Col {
        name: String,
        ty: DataType,
        nullable: bool,
        default: Option<String>,
        identity: Option<IdentityKind>,
    }
    let mut rels: Vec<(String, String, bool, Vec<Col>)> = Vec::new();
    for t in ctx.catalog.tables.values() {
        let cols = t
            .columns
            .iter()
            .map(|c| Col {
                name: c.name.clone(),
                ty: c.ty.clone(),
                nullable: c.nullable,
                default: c.default.clone().filter(|_| c.identity.is_none()),
                identity: c.identity,
            })
            .collect();
        rels.push((t.schema.clone(), t.name.clone(), true, cols));
    }
    for v in ctx.catalog.views.values() {
        let cols = (ctx.view_columns)(v)
            .into_iter()
            .map(|(name, ty)| Col {
                name,
                ty,
                nullable: true,
                default: None,
                identity: None,
            })
            .collect();
        rels.push((v.schema.clone(), v.name.clone(), false, cols));
    }
    rels.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    for (schema, table, updatable, cols) in rels {
        for (k, c) in cols.into_iter().enumerate() {
            let char_len = match &c.ty {
                DataType::Varchar(n) => *n,
                DataType::Char(n) => Some(*n),
                _ => None,
            };
            let octets = match &c.ty {
                DataType::Text | DataType::Varchar(_) | DataType::Char(_) => {
                    Some(char_len.map(|n| n * 4).unwrap_or(1_073_741_824))
                }
                _ => None,
            };
            let (prec, radix, scale) = numeric_facets(&c.ty);
            let dt_prec = match &c.ty {
                DataType::Date => Some(0),
                DataType::Time
                | DataType::Timestamp
                | DataType::Timestamptz
                | DataType::Interval => Some(6),
                _ => None,
            };
            b.push(vec![
                db(ctx),
                text(schema.clone()),
                text(table.clone()),
                text(c.name),
                Value::Int4(k as i32 + 1),
                opt_text(c.default),
                yes_no(c.nullable),
                text(data_type_name(&c.ty)),
                int(char_len),
                int(octets),
                int(prec),
                int(radix),
                int(scale),
                int(dt_prec),
                Value::Null,
                db(ctx),
                text("pg_catalog"),
                text(udt_name(&c.ty)),
                yes_no(c.identity.is_some()),
                opt_text(c.identity.map(|i| match i {
                    IdentityKind::Always => "ALWAYS",
                    IdentityKind::ByDefault => "BY DEFAULT",
                })),
                text("NEVER"),
                Value::Null,
                yes_no(updatable),
            ]);
        }
    }
    b.finish()
}

fn views(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&[
        ("table_catalog", ID),
        ("table_schema", ID),
        ("table_name", ID),
        ("view_definition", DataType::Text),
        ("check_option", DataType::Text),
        ("is_updatable", DataType::Text),
        ("is_insertable_into", DataType::Text),
        ("is_trigger_updatable", DataType::Text),
        ("is_trigger_deletable", DataType::Text),
        ("is_trigger_insertable_into", DataType::Text),
    ]);
    for v in ctx.catalog.views.values() {
        b.push(vec![
            db(ctx),
            text(v.schema.clone()),
            text(v.name.clone()),
            text(v.sql.clone()),
            text("NONE"),
            yes_no(false),
            yes_no(false),
            yes_no(false),
            yes_no(false),
            yes_no(false),
        ]);
    }
    b.finish()
}

fn constraint_type(kind: &ConstraintKind) -> &'static str {
    match kind {
        ConstraintKind::PrimaryKey => "PRIMARY KEY",
        ConstraintKind::Unique { .. } => "UNIQUE",
        ConstraintKind::Check(_) => "CHECK",
        ConstraintKind::ForeignKey(_) => "FOREIGN KEY",
    }
}

fn table_constraints(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&[
        ("constraint_catalog", ID),
        ("constraint_schema", ID),
        ("constraint_name", ID),
        ("table_catalog", ID),
        ("table_schema", ID),
        ("table_name", ID),
        ("constraint_type", DataType::Text),
        ("is_deferrable", DataType::Text),
        ("initially_deferred", DataType::Text),
        ("enforced", DataType::Text),
        ("nulls_distinct", DataType::Text),
    ]);
    for c in constraints(ctx.catalog) {
        let t = c.table;
        b.push(vec![
            db(ctx),
            text(t.schema.clone()),
            text(c.name.clone()),
            db(ctx),
            text(t.schema.clone()),
            text(t.name.clone()),
            text(constraint_type(&c.kind)),
            yes_no(false),
            yes_no(false),
            yes_no(true),
            match c.kind {
                ConstraintKind::Unique { .. } | ConstraintKind::PrimaryKey => yes_no(true),
                _ => Value::Null,
            },
        ]);
    }
    b.finish()
}

/// The primary key or unique constraint of `table` on exactly `cols`.
fn unique_constraint_on(ctx: &Ctx, table: &TableDef, cols: &[usize]) -> Option<String> {
    constraints(ctx.catalog)
        .into_iter()
        .find(|c| {
            c.table.id == table.id
                && matches!(
                    c.kind,
                    ConstraintKind::PrimaryKey | ConstraintKind::Unique { .. }
                )
                && c.columns == cols
        })
        .map(|c| c.name)
}

fn key_column_usage(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&[
        ("constraint_catalog", ID),
        ("constraint_schema", ID),
        ("constraint_name", ID),
        ("table_catalog", ID),
        ("table_schema", ID),
        ("table_name", ID),
        ("column_name", ID),
        ("ordinal_position", NUM),
        ("position_in_unique_constraint", NUM),
    ]);
    for c in constraints(ctx.catalog) {
        if matches!(c.kind, ConstraintKind::Check(_)) {
            continue;
        }
        let t = c.table;
        for (k, &col) in c.columns.iter().enumerate() {
            let pos = match c.kind {
                ConstraintKind::ForeignKey(_) => Value::Int4(k as i32 + 1),
                _ => Value::Null,
            };
            b.push(vec![
                db(ctx),
                text(t.schema.clone()),
                text(c.name.clone()),
                db(ctx),
                text(t.schema.clone()),
                text(t.name.clone()),
                text(t.columns[col].name.clone()),
                Value::Int4(k as i32 + 1),
                pos,
            ]);
        }
    }
    b.finish()
}

fn referential_constraints(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&[
        ("constraint_catalog", ID),
        ("constraint_schema", ID),
        ("constraint_name", ID),
        ("unique_constraint_catalog", ID),
        ("unique_constraint_schema", ID),
        ("unique_constraint_name", ID),
        ("match_option", DataType::Text),
        ("update_rule", DataType::Text),
        ("delete_rule", DataType::Text),
    ]);
    for c in constraints(ctx.catalog) {
        let ConstraintKind::ForeignKey(f) = c.kind else {
            continue;
        };
        let target = ctx.catalog.tables.get(&f.ref_table);
        b.push(vec![
            db(ctx),
            text(c.table.schema.clone()),
            text(c.name.clone()),
            db(ctx),
            opt_text(target.map(|t| t.schema.clone())),
            opt_text(target.and_then(|t| unique_constraint_on(ctx, t, &f.ref_columns))),
            text("NONE"),
            text(fk_action_sql(f.on_update)),
            text(fk_action_sql(f.on_delete)),
        ]);
    }
    b.finish()
}

/// Columns used by constraints: a foreign key's referenced columns, the
/// constrained columns of primary keys and unique constraints.
fn constraint_column_usage(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&[
        ("table_catalog", ID),
        ("table_schema", ID),
        ("table_name", ID),
        ("column_name", ID),
        ("constraint_catalog", ID),
        ("constraint_schema", ID),
        ("constraint_name", ID),
    ]);
    for c in constraints(ctx.catalog) {
        let (table, cols): (&TableDef, Vec<usize>) = match &c.kind {
            ConstraintKind::ForeignKey(f) => match ctx.catalog.tables.get(&f.ref_table) {
                Some(t) => (t, f.ref_columns.clone()),
                None => continue,
            },
            ConstraintKind::Check(_) => continue,
            _ => (c.table, c.columns.clone()),
        };
        for col in cols {
            b.push(vec![
                db(ctx),
                text(table.schema.clone()),
                text(table.name.clone()),
                text(table.columns[col].name.clone()),
                db(ctx),
                text(c.table.schema.clone()),
                text(c.name.clone()),
            ]);
        }
    }
    b.finish()
}

fn check_constraints(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&[
        ("constraint_catalog", ID),
        ("constraint_schema", ID),
        ("constraint_name", ID),
        ("check_clause", DataType::Text),
    ]);
    for c in constraints(ctx.catalog) {
        if let ConstraintKind::Check(ch) = c.kind {
            b.push(vec![
                db(ctx),
                text(c.table.schema.clone()),
                text(c.name.clone()),
                text(ch.expr.clone()),
            ]);
        }
    }
    b.finish()
}
