//! `pg_catalog` relations, one function each, with PostgreSQL's column names.
//! Column subsets: every column psql's `\d` family and common drivers read.
//! Relations for features the engine lacks (triggers, policies, publications,
//! inheritance, extended statistics, collations) exist and are empty, so
//! client queries that join them still run.

use super::{
    Builder, Ctx, SystemTable, constraints, indexes, int8, namespace_oid, namespaces, relations,
    text, type_len, types, typmod,
};
use crate::types::{DataType, Value};

/// The relations this module serves, by name.
pub(super) const NAMES: &[&str] = &[
    "pg_namespace",
    "pg_class",
    "pg_attribute",
    "pg_type",
    "pg_index",
    "pg_constraint",
    "pg_attrdef",
    "pg_description",
    "pg_database",
    "pg_am",
    "pg_inherits",
    "pg_proc",
    "pg_tables",
    "pg_views",
    "pg_indexes",
    "pg_sequences",
    "pg_sequence",
    "pg_collation",
    "pg_policy",
    "pg_policies",
    "pg_statistic_ext",
    "pg_publication",
    "pg_publication_namespace",
    "pg_publication_rel",
    "pg_trigger",
    "pg_range",
    "pg_enum",
    "pg_depend",
    "pg_shdepend",
    "pg_roles",
    "pg_extension",
    "pg_authid",
    "pg_user",
    "pg_shadow",
    "pg_auth_members",
    "pg_settings",
    "pg_opclass",
    "pg_tablespace",
    "pg_stat_ssl",
];

/// PostgreSQL's fixed oids of the catalog tables (what `'pg_class'::regclass` gives).
pub(super) const FIXED_OIDS: &[(&str, i64)] = &[
    ("pg_authid", 1260),
    ("pg_auth_members", 1261),
    ("pg_type", 1247),
    ("pg_attribute", 1249),
    ("pg_proc", 1255),
    ("pg_class", 1259),
    ("pg_database", 1262),
    ("pg_shdepend", 1214),
    ("pg_sequence", 2224),
    ("pg_am", 2601),
    ("pg_attrdef", 2604),
    ("pg_constraint", 2606),
    ("pg_depend", 2608),
    ("pg_description", 2609),
    ("pg_index", 2610),
    ("pg_inherits", 2611),
    ("pg_namespace", 2615),
    ("pg_trigger", 2620),
    ("pg_extension", 3079),
    ("pg_policy", 3256),
    ("pg_statistic_ext", 3381),
    ("pg_collation", 3456),
    ("pg_opclass", 2616),
    ("pg_tablespace", 1213),
    ("pg_enum", 3501),
    ("pg_range", 3541),
    ("pg_publication", 6104),
    ("pg_publication_rel", 6106),
    ("pg_publication_namespace", 6237),
];

const OID: DataType = DataType::Int8;
const NAME: DataType = DataType::Text;
const CHAR: DataType = DataType::Text;
const BOOL: DataType = DataType::Bool;
const I2: DataType = DataType::Int2;
const I4: DataType = DataType::Int4;

fn int2_array(v: impl IntoIterator<Item = i64>) -> Value {
    Value::Array(
        DataType::Int2,
        v.into_iter().map(|i| Value::Int2(i as i16)).collect(),
    )
}

fn oid_array(v: impl IntoIterator<Item = i64>) -> Value {
    Value::Array(DataType::Int8, v.into_iter().map(Value::Int8).collect())
}

fn empty(cols: &[(&str, DataType)]) -> SystemTable {
    Builder::new(cols).finish()
}

pub(super) fn build(ctx: &Ctx, name: &str) -> Option<SystemTable> {
    Some(match name {
        "pg_namespace" => pg_namespace(ctx),
        "pg_class" => pg_class(ctx),
        "pg_attribute" => pg_attribute(ctx),
        "pg_type" => pg_type(ctx),
        "pg_index" => pg_index(ctx),
        "pg_constraint" => pg_constraint(ctx),
        "pg_attrdef" => pg_attrdef(ctx),
        "pg_database" => pg_database(ctx),
        "pg_am" => pg_am(),
        "pg_tables" => pg_tables(ctx),
        "pg_views" => pg_views(ctx),
        "pg_indexes" => pg_indexes(ctx),
        "pg_sequences" => pg_sequences(ctx),
        "pg_sequence" => pg_sequence(ctx),
        "pg_roles" => super::roles::pg_roles(ctx),
        "pg_user" => super::roles::pg_user(ctx),
        "pg_auth_members" => super::roles::pg_auth_members(ctx),
        "pg_authid" => super::roles::secrets_table("pg_authid"),
        "pg_shadow" => super::roles::secrets_table("pg_shadow"),
        "pg_settings" => super::settings::pg_settings(),
        "pg_description" => empty(&[
            ("objoid", OID),
            ("classoid", OID),
            ("objsubid", I4),
            ("description", DataType::Text),
        ]),
        "pg_inherits" => empty(&[
            ("inhrelid", OID),
            ("inhparent", OID),
            ("inhseqno", I4),
            ("inhdetachpending", BOOL),
        ]),
        "pg_proc" => empty(&[
            ("oid", OID),
            ("proname", NAME),
            ("pronamespace", OID),
            ("proowner", OID),
            ("prokind", CHAR),
            ("prorettype", OID),
            ("proargtypes", DataType::Array(Box::new(OID))),
        ]),
        "pg_collation" => empty(&[
            ("oid", OID),
            ("collname", NAME),
            ("collnamespace", OID),
            ("collowner", OID),
            ("collprovider", CHAR),
            ("collisdeterministic", BOOL),
            ("collencoding", I4),
            ("collcollate", DataType::Text),
            ("collctype", DataType::Text),
            ("colliculocale", DataType::Text),
            ("collicurules", DataType::Text),
            ("collversion", DataType::Text),
        ]),
        // Index keys use their type's default operator class, which SQLAlchemy
        // and psql only look for among the non-default ones.
        "pg_opclass" => empty(&[
            ("oid", OID),
            ("opcmethod", OID),
            ("opcname", NAME),
            ("opcnamespace", OID),
            ("opcowner", OID),
            ("opcfamily", OID),
            ("opcintype", OID),
            ("opcdefault", BOOL),
            ("opckeytype", OID),
        ]),
        "pg_tablespace" => pg_tablespace(),
        "pg_stat_ssl" => Builder::new(&[
            ("pid", I4),
            ("ssl", BOOL),
            ("version", DataType::Text),
            ("cipher", DataType::Text),
            ("bits", I4),
            ("client_dn", DataType::Text),
            ("client_serial", DataType::Numeric(None)),
            ("issuer_dn", DataType::Text),
        ])
        .session("pg_stat_ssl"),
        "pg_policy" => super::policies::pg_policy(ctx),
        "pg_policies" => super::policies::pg_policies(ctx),
        "pg_statistic_ext" => empty(&[
            ("oid", OID),
            ("stxrelid", OID),
            ("stxname", NAME),
            ("stxnamespace", OID),
            ("stxowner", OID),
            ("stxstattarget", I4),
            ("stxkeys", DataType::Array(Box::new(I2))),
            ("stxkind", DataType::Array(Box::new(CHAR))),
        ]),
        "pg_publication" => empty(&[
            ("oid", OID),
            ("pubname", NAME),
            ("pubowner", OID),
            ("puballtables", BOOL),
        ]),
        "pg_publication_namespace" => empty(&[("oid", OID), ("pnpubid", OID), ("pnnspid", OID)]),
        "pg_publication_rel" => empty(&[
            ("oid", OID),
            ("prpubid", OID),
            ("prrelid", OID),
            ("prqual", DataType::Text),
            ("prattrs", DataType::Array(Box::new(I2))),
        ]),
        "pg_trigger" => empty(&[
            ("oid", OID),
            ("tgrelid", OID),
            ("tgparentid", OID),
            ("tgname", NAME),
            ("tgenabled", CHAR),
            ("tgisinternal", BOOL),
        ]),
        "pg_range" => empty(&[("rngtypid", OID), ("rngsubtype", OID)]),
        "pg_extension" => empty(&[
            ("oid", OID),
            ("extname", NAME),
            ("extowner", OID),
            ("extnamespace", OID),
            ("extrelocatable", BOOL),
            ("extversion", DataType::Text),
        ]),
        "pg_enum" => empty(&[
            ("oid", OID),
            ("enumtypid", OID),
            ("enumsortorder", DataType::Float4),
            ("enumlabel", NAME),
        ]),
        "pg_depend" => super::depend::pg_depend(ctx),
        "pg_shdepend" => super::depend::pg_shdepend(ctx),
        _ => return None,
    })
}

fn pg_namespace(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&[
        ("oid", OID),
        ("nspname", NAME),
        ("nspowner", OID),
        ("nspacl", DataType::Array(Box::new(DataType::Text))),
    ]);
    let cat = ctx.catalog;
    for (oid, name) in namespaces(cat) {
        let (owner, acl) = match cat.schemas.get(&name) {
            Some(s) => (
                super::roles::role_oid(cat, s.owner),
                super::acl_value(cat, s.acl.as_deref()),
            ),
            None => (super::SUPERUSER_OID, Value::Null),
        };
        b.push(vec![int8(oid), text(name), int8(owner), acl]);
    }
    b.finish()
}

fn pg_class(ctx: &Ctx) -> SystemTable {
    let cat = ctx.catalog;
    let mut b = Builder::new(&[
        ("oid", OID),
        ("relname", NAME),
        ("relnamespace", OID),
        ("reltype", OID),
        ("reloftype", OID),
        ("relowner", OID),
        ("relam", OID),
        ("relfilenode", OID),
        ("reltablespace", OID),
        ("relpages", I4),
        ("reltuples", DataType::Float4),
        ("relallvisible", I4),
        ("reltoastrelid", OID),
        ("relhasindex", BOOL),
        ("relisshared", BOOL),
        ("relpersistence", CHAR),
        ("relkind", CHAR),
        ("relnatts", I2),
        ("relchecks", I2),
        ("relhasrules", BOOL),
        ("relhastriggers", BOOL),
        ("relhassubclass", BOOL),
        ("relrowsecurity", BOOL),
        ("relforcerowsecurity", BOOL),
        ("relispopulated", BOOL),
        ("relreplident", CHAR),
        ("relispartition", BOOL),
        ("relrewrite", OID),
        ("relacl", DataType::Array(Box::new(DataType::Text))),
        ("reloptions", DataType::Array(Box::new(DataType::Text))),
        ("relpartbound", DataType::Text),
    ]);
    let idx = indexes(cat);
    for r in relations(cat) {
        // Foreign keys are triggers in PostgreSQL: psql lists them only
        // for tables with relhastriggers.
        let mut triggers = false;
        let reloptions = match cat.views.get(&(r.oid as u32)) {
            Some(v) if r.kind == 'v' && !v.options.is_empty() => Value::Array(
                DataType::Text,
                v.options.iter().map(|o| Value::Text(o.clone())).collect(),
            ),
            _ => Value::Null,
        };
        let rls = match r.kind {
            'r' => cat.tables[&(r.oid as u32)].rls.clone(),
            _ => Default::default(),
        };
        let (natts, checks, hasindex, am) = match r.kind {
            'r' => {
                let t = &cat.tables[&(r.oid as u32)];
                let has = idx.iter().any(|i| i.table.id == t.id);
                triggers = !t.foreign_keys.is_empty() || !cat.referencing(t.id).is_empty();
                (t.columns.len(), t.checks.len(), has, super::HEAP_AM_OID)
            }
            'v' => (cat.views[&(r.oid as u32)].columns.len(), 0, false, 0),
            'i' => {
                let n = idx
                    .iter()
                    .find(|i| i.oid == r.oid)
                    .map(|i| i.key_columns().len())
                    .unwrap_or(0);
                (n, 0, false, super::BTREE_AM_OID)
            }
            _ => (3, 0, false, 0),
        };
        // Rows counted by the last ANALYZE; -1: never analyzed.
        let reltuples = match r.kind {
            'r' => cat
                .stats
                .get(&(r.oid as u32))
                .map_or(-1.0, |s| s.rows as f32),
            _ => -1.0,
        };
        b.push(vec![
            int8(r.oid),
            text(r.name),
            int8(namespace_oid(cat, &r.schema)),
            int8(0),
            int8(0),
            int8(super::roles::role_oid(cat, r.owner)),
            int8(am),
            int8(r.oid),
            int8(0),
            Value::Int4(0),
            Value::Float4(reltuples),
            Value::Int4(0),
            int8(0),
            Value::Bool(hasindex),
            Value::Bool(false),
            text(if crate::catalog::is_temp_schema(&r.schema) {
                "t"
            } else {
                "p"
            }),
            text(r.kind.to_string()),
            Value::Int2(natts as i16),
            Value::Int2(checks as i16),
            Value::Bool(false),
            Value::Bool(triggers),
            Value::Bool(false),
            Value::Bool(rls.enabled),
            Value::Bool(rls.forced),
            Value::Bool(true),
            text(if r.kind == 'r' { "d" } else { "n" }),
            Value::Bool(false),
            int8(0),
            super::acl_value(cat, r.acl.as_deref()),
            reloptions,
            Value::Null,
        ]);
    }
    b.finish()
}

/// One attribute: name, type, NOT NULL, has a default, identity letter.
/// (name, type, not null, has default, identity, domain oid).
type AttRow = (String, DataType, bool, bool, &'static str, Option<u32>);

fn pg_attribute(ctx: &Ctx) -> SystemTable {
    let cat = ctx.catalog;
    let mut b = Builder::new(&[
        ("attrelid", OID),
        ("attname", NAME),
        ("atttypid", OID),
        ("attstattarget", I4),
        ("attlen", I2),
        ("attnum", I2),
        ("attndims", I4),
        ("atttypmod", I4),
        ("attbyval", BOOL),
        ("attstorage", CHAR),
        ("attcompression", CHAR),
        ("attnotnull", BOOL),
        ("atthasdef", BOOL),
        ("atthasmissing", BOOL),
        ("attidentity", CHAR),
        ("attgenerated", CHAR),
        ("attisdropped", BOOL),
        ("attislocal", BOOL),
        ("attinhcount", I4),
        ("attcollation", OID),
        // Column privileges do not exist: always NULL.
        ("attacl", DataType::Array(Box::new(DataType::Text))),
    ]);
    let mut push = |rel: i64, num: usize, row: &AttRow| {
        let (name, ty, notnull, hasdef, ident, domain) = row;
        let (notnull, hasdef, ident) = (*notnull, *hasdef, *ident);
        let len = type_len(ty);
        b.push(vec![
            int8(rel),
            text(name.as_str()),
            int8(type_oid(cat, ty, *domain)),
            Value::Int4(-1),
            Value::Int2(len),
            Value::Int2(num as i16),
            Value::Int4(matches!(ty, DataType::Array(_)) as i32),
            Value::Int4(typmod(ty)),
            Value::Bool(len > 0 && len <= 8),
            text(if len > 0 { "p" } else { "x" }),
            text(""),
            Value::Bool(notnull),
            Value::Bool(hasdef),
            Value::Bool(false),
            text(ident),
            text(""),
            Value::Bool(false),
            Value::Bool(true),
            Value::Int4(0),
            int8(if is_collatable(ty) { 100 } else { 0 }),
            Value::Null,
        ]);
    };
    let mut rels: Vec<(i64, Vec<AttRow>)> = Vec::new();
    for t in cat.tables.values() {
        let cols = t
            .columns
            .iter()
            .map(|c| {
                let ident = match c.identity {
                    Some(crate::catalog::IdentityKind::Always) => "a",
                    Some(crate::catalog::IdentityKind::ByDefault) => "d",
                    None => "",
                };
                let hasdef = c.default.is_some() && c.identity.is_none();
                (
                    c.name.clone(),
                    c.ty.clone(),
                    !c.nullable,
                    hasdef,
                    ident,
                    c.domain,
                )
            })
            .collect();
        rels.push((t.id as i64, cols));
    }
    for v in cat.views.values() {
        let cols = (ctx.view_columns)(v)
            .into_iter()
            .map(|(n, t)| (n, t, false, false, "", None))
            .collect();
        rels.push((v.id as i64, cols));
    }
    for i in indexes(cat) {
        let cols = i
            .key_columns()
            .iter()
            .map(|c| match c {
                Some(c) => {
                    let col = &i.table.columns[*c];
                    (col.name.clone(), col.ty.clone(), false, false, "", None)
                }
                None => ("expr".to_string(), DataType::Text, false, false, "", None),
            })
            .collect();
        rels.push((i.oid, cols));
    }
    rels.sort_by_key(|(oid, _)| *oid);
    for (rel, cols) in rels {
        for (k, row) in cols.iter().enumerate() {
            push(rel, k + 1, row);
        }
    }
    b.finish()
}

/// The oid of a column's type: its domain (or the domain's array type),
/// a composite type or its array type, or a built-in type.
fn type_oid(cat: &crate::catalog::Catalog, ty: &DataType, domain: Option<u32>) -> i64 {
    if let Some(d) = domain.and_then(|d| cat.domains.get(&d)) {
        if crate::sql::binder::domain::is_array_of_domain(ty, d) && d.array_id != 0 {
            return d.array_id as i64;
        }
        return d.id as i64;
    }
    match ty {
        DataType::Array(e) => match **e {
            DataType::Composite(id) => cat
                .composites
                .get(&id)
                .map_or(ty.oid() as i64, |c| c.array_id as i64),
            _ => ty.oid() as i64,
        },
        _ => ty.oid() as i64,
    }
}

fn is_collatable(ty: &DataType) -> bool {
    match ty {
        DataType::Text | DataType::Varchar(_) | DataType::Char(_) => true,
        DataType::Array(e) => is_collatable(e),
        _ => false,
    }
}

fn pg_type(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&[
        ("oid", OID),
        ("typname", NAME),
        ("typnamespace", OID),
        ("typowner", OID),
        ("typlen", I2),
        ("typbyval", BOOL),
        ("typtype", CHAR),
        ("typcategory", CHAR),
        ("typispreferred", BOOL),
        ("typisdefined", BOOL),
        ("typdelim", CHAR),
        ("typrelid", OID),
        ("typelem", OID),
        ("typarray", OID),
        ("typinput", DataType::Text),
        ("typoutput", DataType::Text),
        ("typreceive", DataType::Text),
        ("typsend", DataType::Text),
        ("typalign", CHAR),
        ("typstorage", CHAR),
        ("typnotnull", BOOL),
        ("typbasetype", OID),
        ("typtypmod", I4),
        ("typndims", I4),
        ("typcollation", OID),
        ("typdefault", DataType::Text),
    ]);
    for t in types() {
        let io = |suffix: &str| {
            if t.elem != 0 {
                format!("array_{suffix}")
            } else {
                format!("{}{suffix}", t.name)
            }
        };
        let collatable = matches!(t.oid, 25 | 1042 | 1043) || matches!(t.elem, 25 | 1042 | 1043);
        b.push(vec![
            int8(t.oid),
            text(t.name),
            int8(super::PG_CATALOG_OID),
            int8(super::SUPERUSER_OID),
            Value::Int2(t.len),
            Value::Bool(t.len > 0 && t.len <= 8),
            text(if t.oid == 705 { "p" } else { "b" }),
            text(t.category),
            Value::Bool(matches!(t.oid, 16 | 25 | 701 | 1184 | 1186 | 26)),
            Value::Bool(true),
            text(","),
            int8(0),
            int8(t.elem),
            int8(t.array),
            text(io("in")),
            text(io("out")),
            text(io("recv")),
            text(io("send")),
            text(if t.len == 8 || t.len == 16 { "d" } else { "i" }),
            text(if t.len > 0 { "p" } else { "x" }),
            Value::Bool(false),
            int8(0),
            Value::Int4(-1),
            Value::Int4(0),
            int8(if collatable { 100 } else { 0 }),
            Value::Null,
        ]);
    }
    // Domains: typtype 'd' over their base type.
    for d in ctx.catalog.domains.values() {
        let base = types().into_iter().find(|t| t.oid == d.base.oid() as i64);
        let len = type_len(&d.base);
        b.push(vec![
            int8(d.id as i64),
            text(d.name.clone()),
            int8(namespace_oid(ctx.catalog, &d.schema)),
            int8(super::roles::role_oid(ctx.catalog, d.owner)),
            Value::Int2(len),
            Value::Bool(len > 0 && len <= 8),
            text("d"),
            text(base.as_ref().map_or("U", |t| t.category)),
            Value::Bool(false),
            Value::Bool(true),
            text(","),
            int8(0),
            int8(0),
            int8(d.array_id as i64),
            text("domain_in"),
            text(
                base.as_ref()
                    .map_or("record_out".to_string(), |t| format!("{}out", t.name)),
            ),
            text("domain_recv"),
            text(
                base.as_ref()
                    .map_or("record_send".to_string(), |t| format!("{}send", t.name)),
            ),
            text(if len == 8 { "d" } else { "i" }),
            text(if len > 0 { "p" } else { "x" }),
            Value::Bool(d.not_null),
            int8(d.base.oid() as i64),
            Value::Int4(typmod(&d.base)),
            Value::Int4(matches!(d.base, DataType::Array(_)) as i32),
            int8(if is_collatable(&d.base) { 100 } else { 0 }),
            d.default.clone().map_or(Value::Null, Value::Text),
        ]);
    }
    // Composite types: typtype 'c' (with no pg_class row of their own).
    for t in ctx.catalog.composites.values() {
        b.push(vec![
            int8(t.id as i64),
            text(t.name.clone()),
            int8(namespace_oid(ctx.catalog, &t.schema)),
            int8(super::roles::role_oid(ctx.catalog, t.owner)),
            Value::Int2(-1),
            Value::Bool(false),
            text("c"),
            text("C"),
            Value::Bool(false),
            Value::Bool(true),
            text(","),
            int8(0),
            int8(0),
            int8(t.array_id as i64),
            text("record_in"),
            text("record_out"),
            text("record_recv"),
            text("record_send"),
            text("d"),
            text("x"),
            Value::Bool(false),
            int8(0),
            Value::Int4(-1),
            Value::Int4(0),
            int8(0),
            Value::Null,
        ]);
    }
    // The array types of domains and composite types, `_name`.
    let arrays = ctx
        .catalog
        .domains
        .values()
        .filter(|d| d.array_id != 0)
        .map(|d| (d.array_id, d.id, &d.name, &d.schema, d.owner))
        .chain(
            ctx.catalog
                .composites
                .values()
                .map(|t| (t.array_id, t.id, &t.name, &t.schema, t.owner)),
        );
    for (oid, elem, name, schema, owner) in arrays {
        b.push(vec![
            int8(oid as i64),
            text(format!("_{name}")),
            int8(namespace_oid(ctx.catalog, schema)),
            int8(super::roles::role_oid(ctx.catalog, owner)),
            Value::Int2(-1),
            Value::Bool(false),
            text("b"),
            text("A"),
            Value::Bool(false),
            Value::Bool(true),
            text(","),
            int8(0),
            int8(elem as i64),
            int8(0),
            text("array_in"),
            text("array_out"),
            text("array_recv"),
            text("array_send"),
            text("d"),
            text("x"),
            Value::Bool(false),
            int8(0),
            Value::Int4(-1),
            Value::Int4(0),
            int8(0),
            Value::Null,
        ]);
    }
    b.finish()
}

fn pg_index(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&[
        ("indexrelid", OID),
        ("indrelid", OID),
        ("indnatts", I2),
        ("indnkeyatts", I2),
        ("indisunique", BOOL),
        ("indnullsnotdistinct", BOOL),
        ("indisprimary", BOOL),
        ("indisexclusion", BOOL),
        ("indimmediate", BOOL),
        ("indisclustered", BOOL),
        ("indisvalid", BOOL),
        ("indcheckxmin", BOOL),
        ("indisready", BOOL),
        ("indislive", BOOL),
        ("indisreplident", BOOL),
        ("indkey", DataType::Array(Box::new(I2))),
        ("indcollation", DataType::Array(Box::new(OID))),
        ("indclass", DataType::Array(Box::new(OID))),
        // int2vector in PostgreSQL, whose text form drivers split on
        // spaces (SQLAlchemy reads it so): `0 0`, one flag word per key.
        ("indoption", DataType::Text),
        ("indexprs", DataType::Text),
        ("indpred", DataType::Text),
    ]);
    for i in indexes(ctx.catalog) {
        let keys = i.key_columns();
        let n = keys.len();
        let exprs: Vec<String> = i
            .def
            .iter()
            .flat_map(|d| d.keys.iter().filter_map(|k| k.expr.clone()))
            .collect();
        let predicate = i.def.as_ref().and_then(|d| d.predicate.clone());
        b.push(vec![
            int8(i.oid),
            int8(i.table.id as i64),
            Value::Int2(n as i16),
            Value::Int2(n as i16),
            Value::Bool(i.unique),
            Value::Bool(false),
            Value::Bool(i.primary),
            Value::Bool(false),
            Value::Bool(true),
            Value::Bool(false),
            Value::Bool(true),
            Value::Bool(false),
            Value::Bool(true),
            Value::Bool(true),
            Value::Bool(false),
            int2_array(keys.iter().map(|c| c.map_or(0, |c| c as i64 + 1))),
            oid_array(keys.iter().map(|_| 0)),
            oid_array(keys.iter().map(|_| 0)),
            text(vec!["0"; keys.len()].join(" ")),
            if exprs.is_empty() {
                Value::Null
            } else {
                Value::Text(exprs.join(", "))
            },
            predicate.map_or(Value::Null, Value::Text),
        ]);
    }
    b.finish()
}

fn pg_constraint(ctx: &Ctx) -> SystemTable {
    let cat = ctx.catalog;
    let mut b = Builder::new(&[
        ("oid", OID),
        ("conname", NAME),
        ("connamespace", OID),
        ("contype", CHAR),
        ("condeferrable", BOOL),
        ("condeferred", BOOL),
        ("convalidated", BOOL),
        ("conrelid", OID),
        ("contypid", OID),
        ("conindid", OID),
        ("conparentid", OID),
        ("confrelid", OID),
        ("confupdtype", CHAR),
        ("confdeltype", CHAR),
        ("confmatchtype", CHAR),
        ("conislocal", BOOL),
        ("coninhcount", I4),
        ("connoinherit", BOOL),
        ("conkey", DataType::Array(Box::new(I2))),
        ("confkey", DataType::Array(Box::new(I2))),
        ("conbin", DataType::Text),
    ]);
    for c in constraints(cat) {
        let (fk_table, upd, del, matchtype, fkey) = match &c.kind {
            super::ConstraintKind::ForeignKey(f) => (
                f.ref_table as i64,
                super::fk_action_code(f.on_update),
                super::fk_action_code(f.on_delete),
                "s",
                int2_array(f.ref_columns.iter().map(|&k| k as i64 + 1)),
            ),
            _ => (0, " ", " ", " ", Value::Null),
        };
        let conbin = match &c.kind {
            super::ConstraintKind::Check(ch) => text(ch.expr.clone()),
            _ => Value::Null,
        };
        let conkey = if c.columns.is_empty() {
            Value::Null
        } else {
            int2_array(c.columns.iter().map(|&k| k as i64 + 1))
        };
        b.push(vec![
            int8(c.oid),
            text(c.name.clone()),
            int8(namespace_oid(cat, &c.table.schema)),
            text(c.contype()),
            Value::Bool(false),
            Value::Bool(false),
            Value::Bool(true),
            int8(c.table.id as i64),
            int8(0),
            int8(c.index_oid()),
            int8(0),
            int8(fk_table),
            text(upd),
            text(del),
            text(matchtype),
            Value::Bool(true),
            Value::Int4(0),
            Value::Bool(false),
            conkey,
            fkey,
            conbin,
        ]);
    }
    b.finish()
}

/// Column defaults; `adbin` holds the expression text (what `pg_get_expr` shows).
fn pg_attrdef(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&[
        ("oid", OID),
        ("adrelid", OID),
        ("adnum", I2),
        ("adbin", DataType::Text),
    ]);
    for t in ctx.catalog.tables.values() {
        for (k, c) in t.columns.iter().enumerate() {
            if let (Some(d), None) = (&c.default, c.identity) {
                b.push(vec![
                    int8(((t.id as i64) << 16) + k as i64 + 1),
                    int8(t.id as i64),
                    Value::Int2(k as i16 + 1),
                    text(d.clone()),
                ]);
            }
        }
    }
    b.finish()
}

fn pg_database(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&[
        ("oid", OID),
        ("datname", NAME),
        ("datdba", OID),
        ("encoding", I4),
        ("datlocprovider", CHAR),
        ("datistemplate", BOOL),
        ("datallowconn", BOOL),
        ("datconnlimit", I4),
        ("datcollate", DataType::Text),
        ("datctype", DataType::Text),
        ("daticulocale", DataType::Text),
        ("datcollversion", DataType::Text),
        ("dattablespace", OID),
        ("datacl", DataType::Array(Box::new(DataType::Text))),
    ]);
    for d in ctx.catalog.databases.values() {
        b.push(vec![
            int8(d.id),
            text(d.name.clone()),
            int8(super::role_oid(ctx.catalog, d.owner)),
            Value::Int4(6),
            text("c"),
            Value::Bool(false),
            Value::Bool(d.allow_connections),
            Value::Int4(d.connection_limit),
            text("C"),
            text("C"),
            Value::Null,
            Value::Null,
            int8(1663),
            Value::Null,
        ]);
    }
    b.finish()
}

/// PostgreSQL's two built-in tablespaces; every relation is in the
/// default one (`reltablespace` 0).
fn pg_tablespace() -> SystemTable {
    let mut b = Builder::new(&[
        ("oid", OID),
        ("spcname", NAME),
        ("spcowner", OID),
        ("spcacl", DataType::Array(Box::new(DataType::Text))),
        ("spcoptions", DataType::Array(Box::new(DataType::Text))),
    ]);
    for (oid, name) in [(1663, "pg_default"), (1664, "pg_global")] {
        b.push(vec![
            int8(oid),
            text(name),
            int8(super::SUPERUSER_OID),
            Value::Null,
            Value::Null,
        ]);
    }
    b.finish()
}

fn pg_am() -> SystemTable {
    let mut b = Builder::new(&[
        ("oid", OID),
        ("amname", NAME),
        ("amhandler", DataType::Text),
        ("amtype", CHAR),
    ]);
    b.push(vec![
        int8(super::HEAP_AM_OID),
        text("heap"),
        text("heap_tableam_handler"),
        text("t"),
    ]);
    b.push(vec![
        int8(super::BTREE_AM_OID),
        text("btree"),
        text("bthandler"),
        text("i"),
    ]);
    b.finish()
}

fn pg_tables(ctx: &Ctx) -> SystemTable {
    let cat = ctx.catalog;
    let mut b = Builder::new(&[
        ("schemaname", NAME),
        ("tablename", NAME),
        ("tableowner", NAME),
        ("tablespace", NAME),
        ("hasindexes", BOOL),
        ("hasrules", BOOL),
        ("hastriggers", BOOL),
        ("rowsecurity", BOOL),
    ]);
    let idx = indexes(cat);
    for t in cat.tables.values() {
        b.push(vec![
            text(t.schema.clone()),
            text(t.name.clone()),
            text(super::role_name(cat, t.owner)),
            Value::Null,
            Value::Bool(idx.iter().any(|i| i.table.id == t.id)),
            Value::Bool(false),
            Value::Bool(false),
            Value::Bool(t.rls.enabled),
        ]);
    }
    b.finish()
}

fn pg_views(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&[
        ("schemaname", NAME),
        ("viewname", NAME),
        ("viewowner", NAME),
        ("definition", DataType::Text),
    ]);
    for v in ctx.catalog.views.values() {
        b.push(vec![
            text(v.schema.clone()),
            text(v.name.clone()),
            text(super::role_name(ctx.catalog, v.owner)),
            text(v.sql.clone()),
        ]);
    }
    b.finish()
}

fn pg_indexes(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&[
        ("schemaname", NAME),
        ("tablename", NAME),
        ("indexname", NAME),
        ("tablespace", NAME),
        ("indexdef", DataType::Text),
    ]);
    for i in indexes(ctx.catalog) {
        b.push(vec![
            text(i.table.schema.clone()),
            text(i.table.name.clone()),
            text(i.name.clone()),
            Value::Null,
            text(super::index_def(&i, false)),
        ]);
    }
    b.finish()
}

fn pg_sequences(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&[
        ("schemaname", NAME),
        ("sequencename", NAME),
        ("sequenceowner", NAME),
        ("data_type", DataType::Text),
        ("start_value", DataType::Int8),
        ("min_value", DataType::Int8),
        ("max_value", DataType::Int8),
        ("increment_by", DataType::Int8),
        ("cycle", BOOL),
        ("cache_size", DataType::Int8),
    ]);
    for s in ctx.catalog.sequences.values().filter(|s| !s.internal) {
        b.push(vec![
            text(s.schema.clone()),
            text(s.name.clone()),
            text(super::role_name(ctx.catalog, s.owner)),
            text("bigint"),
            int8(s.start),
            int8(s.min_value),
            int8(s.max_value),
            int8(s.increment),
            Value::Bool(s.cycle),
            int8(1),
        ]);
    }
    b.finish()
}

fn pg_sequence(ctx: &Ctx) -> SystemTable {
    let mut b = Builder::new(&[
        ("seqrelid", OID),
        ("seqtypid", OID),
        ("seqstart", DataType::Int8),
        ("seqincrement", DataType::Int8),
        ("seqmax", DataType::Int8),
        ("seqmin", DataType::Int8),
        ("seqcache", DataType::Int8),
        ("seqcycle", BOOL),
    ]);
    for s in ctx.catalog.sequences.values().filter(|s| !s.internal) {
        b.push(vec![
            int8(s.id as i64),
            int8(20),
            int8(s.start),
            int8(s.increment),
            int8(s.max_value),
            int8(s.min_value),
            int8(1),
            Value::Bool(s.cycle),
        ]);
    }
    b.finish()
}
