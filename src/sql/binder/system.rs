//! Binding what the system catalogs need: references to `pg_catalog` and
//! `information_schema` relations (built by [`crate::sql::system`] into
//! literal rows), casts to the `reg*` object-identifier types, and the
//! catalog functions psql and drivers call (`pg_get_indexdef`,
//! `pg_table_is_visible`, ...).
//!
//! Functions that depend on the catalog are resolved here, at bind time, into
//! a lookup over the catalog the statement is bound against (a `CASE` over
//! the objects), so the executor needs no catalog access and the answers are
//! consistent with the system relations of the same statement.

use super::{Binder, Scope, ScopeColumn, ident, split_name};
use crate::catalog::Relation;
use crate::error::{Error, Result, SqlState};
use crate::sql::expr::Expr;
use crate::sql::plan::Plan;
use crate::sql::system::{self, Ctx};
use crate::types::{BinaryOp, DataType, Value};
use sqlparser::ast;

type Bound = (Expr, DataType);

/// The `reg*` types: casts to them resolve names to oids and back.
const REG_TYPES: &[&str] = &[
    "regclass",
    "regtype",
    "regnamespace",
    "regproc",
    "regprocedure",
    "regrole",
    "regoper",
    "regconfig",
];

/// The `reg*` type a cast names, if it names one.
pub(super) fn reg_type(ty: &ast::DataType) -> Option<String> {
    let name = match ty {
        ast::DataType::Regclass => return Some("regclass".into()),
        ast::DataType::Custom(name, _) => name,
        _ => return None,
    };
    let last = name.0.last()?.as_ident()?;
    let n = ident(last);
    REG_TYPES.contains(&n.as_str()).then_some(n)
}

impl Binder<'_> {
    fn system_ctx<'s>(
        &'s self,
        view_columns: &'s dyn Fn(&crate::catalog::ViewDef) -> Vec<(String, DataType)>,
    ) -> Ctx<'s> {
        Ctx {
            catalog: self.catalog,
            search_path: self.search_path,
            view_columns,
        }
    }

    /// The output columns of a view, as binding its query gives them
    /// (empty if the view no longer binds).
    fn view_columns(&self, v: &crate::catalog::ViewDef) -> Vec<(String, DataType)> {
        match self.bind_view_ref_detached(v) {
            Ok(scope) => scope.columns.into_iter().map(|c| (c.name, c.ty)).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// A FROM item naming a system relation, planned as its rows; `None` if
    /// `name` is not one.
    pub(super) fn bind_system_relation(
        &self,
        name: &ast::ObjectName,
        alias: Option<&ast::TableAlias>,
    ) -> Result<Option<(Plan, Scope)>> {
        let (schema, n) = split_name(name)?;
        if !system::is_system_relation(schema.as_deref(), &n) {
            return Ok(None);
        }
        let vc = |v: &crate::catalog::ViewDef| self.view_columns(v);
        let ctx = self.system_ctx(&vc);
        let Some(table) = system::lookup(&ctx, schema.as_deref(), &n) else {
            return Ok(None);
        };
        let scope = relation_scope(&table.columns, &n, alias)?;
        let plan = match table.session {
            Some(name) => Plan::SessionRelation {
                name,
                args: Vec::new(),
                columns: table.columns,
            },
            None => Plan::Values {
                rows: table
                    .rows
                    .into_iter()
                    .map(|r| r.into_iter().map(Expr::Literal).collect())
                    .collect(),
                columns: table.columns,
            },
        };
        Ok(Some((plan, scope)))
    }

    /// The `helios` schema's table functions in FROM, arguments by position
    /// or name, read by the session when the plan runs
    /// (`EvalEnv::session_relation`):
    /// `helios.changes(since_lsn [, tenant] [, tables] [, limit] [, consumer])`
    /// (the change log's rows) and `helios.tenant_checksum(tenant)`: per table, the tenant's row count
    /// and order-independent checksum.
    pub(super) fn bind_helios_function(
        &self,
        fname: &str,
        args: &[ast::FunctionArg],
        alias: Option<&ast::TableAlias>,
    ) -> Result<(Plan, Scope)> {
        let (relation, params, types, columns): (&'static str, &[&str], Vec<DataType>, _) =
            match fname {
                "changes" => (
                    "helios.changes",
                    &["since_lsn", "tenant", "tables", "limit", "consumer"],
                    vec![
                        DataType::Int8,
                        DataType::Text,
                        DataType::Array(Box::new(DataType::Text)),
                        DataType::Int8,
                        DataType::Text,
                    ],
                    system::helios::change_columns(),
                ),
                "tenant_checksum" => (
                    "helios.tenant_checksum",
                    &["tenant"],
                    vec![DataType::Text],
                    system::helios::checksum_columns(),
                ),
                other => {
                    return Err(Error::new(
                        SqlState::UNDEFINED_FUNCTION,
                        format!("function helios.{other} does not exist"),
                    ));
                }
            };
        let signature = || {
            Error::new(
                SqlState::UNDEFINED_FUNCTION,
                format!("function helios.{fname} with these arguments does not exist"),
            )
            .with_hint(format!(
                "helios.{fname} takes ({}).",
                params
                    .iter()
                    .zip(&types)
                    .map(|(p, t)| format!("{p} {}", t.name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        };
        let mut bound: Vec<Option<Expr>> = vec![None; params.len()];
        for (i, a) in args.iter().enumerate() {
            let (pos, e) = match a {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => (i, e),
                ast::FunctionArg::Named {
                    name,
                    arg: ast::FunctionArgExpr::Expr(e),
                    ..
                }
                | ast::FunctionArg::ExprNamed {
                    name: ast::Expr::Identifier(name),
                    arg: ast::FunctionArgExpr::Expr(e),
                    ..
                } => (
                    params
                        .iter()
                        .position(|n| *n == ident(name))
                        .ok_or_else(signature)?,
                    e,
                ),
                _ => return Err(signature()),
            };
            if pos >= params.len() || bound[pos].is_some() {
                return Err(signature());
            }
            let (x, t) = self.bind_expr(e, &Scope::default())?;
            let target = types[pos].clone();
            let x = self.coerce(x, &t, &target)?;
            bound[pos] = Some(if t != target && t != DataType::Unknown {
                Expr::Cast(Box::new(x), target)
            } else {
                x
            });
        }
        let scope = relation_scope(&columns, fname, alias)?;
        Ok((
            Plan::SessionRelation {
                name: relation,
                args: bound
                    .into_iter()
                    .map(|x| x.unwrap_or(Expr::Literal(Value::Null)))
                    .collect(),
                columns,
            },
            scope,
        ))
    }

    /// `x::regclass` and the other `reg*` casts (`tname` from [`reg_type`]).
    /// A string literal resolves to the object's oid now (42P01/42704 if it
    /// does not exist); an oid-valued expression becomes the object's name.
    pub(super) fn bind_reg_cast(&self, tname: &str, x: Bound) -> Result<Bound> {
        let tname = tname.to_string();
        let (x, from) = x;
        // `$1::regclass`: the parameter is the name, as text.
        let (x, from) = match x {
            Expr::Param(n, DataType::Unknown) if tname == "regclass" => (
                Expr::Param(n, self.note_param(n, &DataType::Text)),
                DataType::Text,
            ),
            other => (other, from),
        };
        if let Expr::Literal(Value::Text(s)) = &x {
            if let Ok(oid) = s.trim().parse::<i64>() {
                return Ok((Expr::Literal(Value::Int8(oid)), DataType::Int8));
            }
            let oid = self.reg_oid(&tname, s)?;
            return Ok((Expr::Literal(Value::Int8(oid)), DataType::Int8));
        }
        if matches!(x, Expr::Literal(Value::Null)) {
            return Ok((x, DataType::Text));
        }
        // A text expression names the object: resolve it per row.
        if tname == "regclass" && matches!(from, DataType::Text | DataType::Varchar(_)) {
            let pairs = system::relations(self.catalog).into_iter().flat_map(|r| {
                let shown =
                    system::display_name(self.catalog, self.search_path, &r.schema, &r.name);
                let qualified = format!("{}.{}", r.schema, r.name);
                [(shown, r.oid), (qualified, r.oid)]
            });
            let whens = pairs
                .map(|(name, oid)| {
                    (
                        Expr::Binary(
                            BinaryOp::Eq,
                            Box::new(x.clone()),
                            Box::new(Expr::Literal(Value::Text(name))),
                        ),
                        Expr::Literal(Value::Int8(oid)),
                    )
                })
                .collect::<Vec<_>>();
            let otherwise = Expr::Literal(Value::Null);
            let x = if whens.is_empty() {
                otherwise
            } else {
                Expr::Case {
                    operand: None,
                    whens,
                    otherwise: Some(Box::new(otherwise)),
                }
            };
            return Ok((x, DataType::Int8));
        }
        if !from.is_integer() && from != DataType::Unknown {
            return Err(Error::new(
                SqlState::CANNOT_COERCE,
                format!("cannot cast type {} to {tname}", from.name()),
            ));
        }
        let x = self.coerce(x, &from, &DataType::Int8)?;
        let pairs: Vec<(i64, String)> = match tname.as_str() {
            "regclass" => system::relations(self.catalog)
                .into_iter()
                .map(|r| {
                    let shown =
                        system::display_name(self.catalog, self.search_path, &r.schema, &r.name);
                    (r.oid, shown)
                })
                .chain(system::system_relation_names())
                .collect(),
            "regtype" => system::types()
                .into_iter()
                .filter_map(|t| Some((t.oid, system::format_type(t.oid, None)?)))
                .collect(),
            "regnamespace" => system::namespaces(self.catalog),
            "regrole" => system::role_names(self.catalog),
            _ => Vec::new(),
        };
        // Unknown oids print as the number, as in PostgreSQL.
        let otherwise = Expr::Cast(Box::new(x.clone()), DataType::Text);
        Ok((
            lookup(
                &x,
                pairs.into_iter().map(|(k, v)| (k, Value::Text(v))),
                otherwise,
            ),
            DataType::Text,
        ))
    }

    /// `to_regclass(text)`, `to_regtype(text)` and the other `to_reg*`
    /// functions: the oid a name resolves to, or NULL where the cast
    /// would fail. A literal resolves now; another text expression (a
    /// parameter: drivers look their types up by name this way) per row,
    /// over the names the catalog has.
    fn bind_to_reg(&self, tname: &str, (x, from): Bound) -> Result<Bound> {
        let x = match x {
            Expr::Param(n, DataType::Unknown) => {
                Expr::Param(n, self.note_param(n, &DataType::Text))
            }
            x => self.coerce(x, &from, &DataType::Text)?,
        };
        let null = (Expr::Literal(Value::Null), DataType::Int8);
        if let Expr::Literal(v) = &x {
            let Value::Text(s) = v else {
                return Ok(null);
            };
            return Ok(match self.to_reg_oid(tname, s) {
                Some(oid) => (Expr::Literal(Value::Int8(oid)), DataType::Int8),
                None => null,
            });
        }
        let names: Vec<(String, i64)> = match tname {
            "regclass" => system::relations(self.catalog)
                .into_iter()
                .flat_map(|r| {
                    let shown =
                        system::display_name(self.catalog, self.search_path, &r.schema, &r.name);
                    [(shown, r.oid), (format!("{}.{}", r.schema, r.name), r.oid)]
                })
                .collect(),
            "regtype" => system::types()
                .into_iter()
                .flat_map(|t| {
                    let mut names = vec![
                        (t.name.to_string(), t.oid),
                        (format!("pg_catalog.{}", t.name), t.oid),
                    ];
                    if let Some(shown) = system::format_type(t.oid, None)
                        && shown != t.name
                    {
                        names.push((shown, t.oid));
                    }
                    names
                })
                .collect(),
            "regnamespace" => system::namespaces(self.catalog)
                .into_iter()
                .map(|(oid, n)| (n, oid))
                .collect(),
            "regrole" => system::role_names(self.catalog)
                .into_iter()
                .map(|(oid, n)| (n, oid))
                .collect(),
            // No functions, operators or text search configurations are listed.
            _ => Vec::new(),
        };
        let whens: Vec<(Expr, Expr)> = names
            .into_iter()
            .map(|(name, oid)| {
                (
                    Expr::Binary(
                        BinaryOp::Eq,
                        Box::new(x.clone()),
                        Box::new(Expr::Literal(Value::Text(name))),
                    ),
                    Expr::Literal(Value::Int8(oid)),
                )
            })
            .collect();
        if whens.is_empty() {
            return Ok(null);
        }
        Ok((
            Expr::Case {
                operand: None,
                whens,
                otherwise: Some(Box::new(Expr::Literal(Value::Null))),
            },
            DataType::Int8,
        ))
    }

    /// The oid a `to_reg*` function finds for a name, if any.
    fn to_reg_oid(&self, tname: &str, text: &str) -> Option<i64> {
        if tname == "regtype" {
            let t = text.trim().to_lowercase();
            let t = t.strip_prefix("pg_catalog.").unwrap_or(&t);
            if let Some(ty) = system::types().into_iter().find(|ty| ty.name == t) {
                return Some(ty.oid);
            }
            // Other spellings (`integer`, `varchar(10)`, `text[]`); the
            // shown names (`timestamp with time zone`) are in `types()`'s
            // format_type names below.
            let base = match (t.find('('), t.rfind(')')) {
                (Some(open), Some(close)) if open < close => {
                    format!("{}{}", &t[..open], &t[close + 1..])
                        .trim()
                        .to_string()
                }
                _ => t.to_string(),
            };
            if let Ok(ty) = DataType::from_name(&base) {
                return Some(ty.oid() as i64);
            }
            return system::types()
                .into_iter()
                .find(|ty| system::format_type(ty.oid, None).as_deref() == Some(&base))
                .map(|ty| ty.oid);
        }
        self.reg_oid(tname, text).ok()
    }

    /// The oid named by `text` for a `reg*` type.
    fn reg_oid(&self, tname: &str, text: &str) -> Result<i64> {
        let parts: Vec<String> = text
            .split('.')
            .map(|p| {
                let p = p.trim();
                if p.len() >= 2 && p.starts_with('"') && p.ends_with('"') {
                    p[1..p.len() - 1].replace("\"\"", "\"")
                } else {
                    p.to_lowercase()
                }
            })
            .collect();
        match tname {
            "regclass" => {
                let (schema, name) = match parts.as_slice() {
                    [n] => (None, n.as_str()),
                    [s, n] => (Some(s.as_str()), n.as_str()),
                    _ => return Err(Error::syntax(format!("invalid name syntax: \"{text}\""))),
                };
                if let Some(oid) = system::system_relation_oid(schema, name) {
                    return Ok(oid);
                }
                match self.catalog.resolve(schema, name, self.search_path) {
                    Some((_, Relation::Table(id)))
                    | Some((_, Relation::Index(id)))
                    | Some((_, Relation::Sequence(id)))
                    | Some((_, Relation::View(id))) => Ok(id as i64),
                    None => system::indexes(self.catalog)
                        .into_iter()
                        .find(|i| {
                            i.primary
                                && i.name == name
                                && schema.is_none_or(|s| s == i.table.schema)
                        })
                        .map(|i| i.oid)
                        .ok_or_else(|| Error::undefined_table(text)),
                }
            }
            "regtype" => {
                let ty = DataType::from_name(text.trim())?;
                Ok(ty.oid() as i64)
            }
            "regnamespace" => match system::namespace_oid(self.catalog, &parts[0]) {
                0 => Err(Error::new(
                    SqlState::UNDEFINED_SCHEMA,
                    format!("schema \"{text}\" does not exist"),
                )),
                oid => Ok(oid),
            },
            "regrole" => match self.catalog.role_by_name(&parts[0]) {
                Some(r) if parts.len() == 1 => Ok(system::role_oid(self.catalog, r.id)),
                _ => Err(crate::catalog::roles::role_not_found(text.trim())),
            },
            _ => Err(Error::unsupported(format!(
                "casting a name to {tname} is not supported"
            ))),
        }
    }

    /// `pg_partition_ancestors(rel)` in FROM: a table without partitions is
    /// its own only ancestor, at depth 1 (the ordinality column).
    pub(super) fn bind_partition_ancestors(
        &self,
        args: &[&ast::Expr],
        alias: Option<&ast::TableAlias>,
    ) -> Result<(Plan, Scope)> {
        let [arg] = args else {
            return Err(crate::sql::functions::undefined_function(
                "pg_partition_ancestors",
                &[],
            ));
        };
        let (x, t) = self.bind_expr(arg, &Scope::default())?;
        let x = self.coerce(x, &t, &DataType::Int8)?;
        let columns = vec![
            crate::sql::plan::Column {
                name: "relid".into(),
                ty: DataType::Int8,
            },
            crate::sql::plan::Column {
                name: "ordinality".into(),
                ty: DataType::Int8,
            },
        ];
        let plan = Plan::Values {
            rows: vec![vec![x, Expr::Literal(Value::Int8(1))]],
            columns,
        };
        let q = alias
            .map(|a| ident(&a.name))
            .unwrap_or_else(|| "pg_partition_ancestors".into());
        let scope = super::from::item_scope(&plan, Some(q), &[], alias)?;
        Ok((plan, scope))
    }

    /// The catalog functions; `None` if `name` is not one of them.
    pub(super) fn bind_catalog_function(
        &self,
        name: &str,
        args: &[Bound],
    ) -> Result<Option<Bound>> {
        let text = |s: &str| (Expr::Literal(Value::Text(s.to_string())), DataType::Text);
        let null_text = || (Expr::Literal(Value::Null), DataType::Text);
        let arity = |ok: bool| -> Result<()> {
            if ok {
                Ok(())
            } else {
                let types: Vec<DataType> = args.iter().map(|(_, t)| t.clone()).collect();
                Err(crate::sql::functions::undefined_function(name, &types))
            }
        };
        let oid_arg = |i: usize| -> Result<Expr> {
            let (x, t) = &args[i];
            self.coerce(x.clone(), t, &DataType::Int8)
        };
        if let Some(b) = self.bind_privilege_function(name, args)? {
            return Ok(Some(b));
        }
        let cat = self.catalog;
        if let Some(tname) = name.strip_prefix("to_")
            && REG_TYPES.contains(&tname)
        {
            arity(args.len() == 1)?;
            return self.bind_to_reg(tname, args[0].clone()).map(Some);
        }
        Ok(Some(match name {
            // An unknown oid shows as `unknown (OID=n)`, as in PostgreSQL.
            "pg_get_userbyid" => {
                arity(args.len() == 1)?;
                let x = oid_arg(0)?;
                let concat =
                    |a: Expr, b: Expr| Expr::Binary(BinaryOp::Concat, Box::new(a), Box::new(b));
                let unknown = concat(
                    concat(
                        Expr::Literal(Value::Text("unknown (OID=".into())),
                        Expr::Cast(Box::new(x.clone()), DataType::Text),
                    ),
                    Expr::Literal(Value::Text(")".into())),
                );
                let pairs = system::role_names(cat)
                    .into_iter()
                    .map(|(oid, name)| (oid, Value::Text(name)));
                (lookup(&x, pairs, unknown), DataType::Text)
            }
            // Domains and composite types (and their array types) have
            // names of their own; other types format as built in.
            "format_type" if !cat.domains.is_empty() || !cat.composites.is_empty() => {
                arity(args.len() == 2)?;
                let x = oid_arg(0)?;
                let (m, mt) = &args[1];
                let m = self.coerce(m.clone(), mt, &DataType::Int4)?;
                let fallback =
                    Expr::Function(crate::sql::functions::Func::FormatType, vec![x.clone(), m]);
                let shown = |schema: &str, name: &str| {
                    if system::is_visible(cat, self.search_path, schema, name) {
                        system::quote_ident(name)
                    } else {
                        format!(
                            "{}.{}",
                            system::quote_ident(schema),
                            system::quote_ident(name)
                        )
                    }
                };
                let types = cat
                    .domains
                    .values()
                    .map(|d| (d.id, d.array_id, shown(&d.schema, &d.name)))
                    .chain(
                        cat.composites
                            .values()
                            .map(|t| (t.id, t.array_id, shown(&t.schema, &t.name))),
                    )
                    .collect::<Vec<_>>();
                let pairs = types.into_iter().flat_map(|(id, array, name)| {
                    let array =
                        (array != 0).then(|| (array as i64, Value::Text(format!("{name}[]"))));
                    std::iter::once((id as i64, Value::Text(name))).chain(array)
                });
                (lookup(&x, pairs, fallback), DataType::Text)
            }
            "current_database" | "current_catalog" => {
                arity(args.is_empty())?;
                text(&cat.current_database()?.name)
            }
            "pg_encoding_to_char" => {
                arity(args.len() == 1)?;
                text("UTF8")
            }
            "obj_description" | "col_description" | "shobj_description" => {
                arity(!args.is_empty() && args.len() <= 2)?;
                null_text()
            }
            "pg_get_triggerdef"
            | "pg_get_statisticsobjdef_columns"
            | "pg_get_function_arguments"
            | "pg_get_function_result"
            | "pg_get_partkeydef" => {
                arity(!args.is_empty() && args.len() <= 2)?;
                null_text()
            }
            "pg_function_is_visible" | "pg_type_is_visible" | "pg_collation_is_visible" => {
                arity(args.len() == 1)?;
                (Expr::Literal(Value::Bool(true)), DataType::Bool)
            }
            // Sizes are not tracked per relation.
            "pg_table_size" | "pg_relation_size" | "pg_total_relation_size" | "pg_indexes_size" => {
                arity(!args.is_empty() && args.len() <= 2)?;
                (Expr::Literal(Value::Null), DataType::Int8)
            }
            "pg_relation_is_publishable" => {
                arity(args.len() == 1)?;
                (Expr::Literal(Value::Bool(false)), DataType::Bool)
            }
            // Non-partitioned tables are their own only ancestor.
            "pg_partition_ancestors" => {
                arity(args.len() == 1)?;
                (oid_arg(0)?, DataType::Int8)
            }
            // adbin / conbin hold the expression text already.
            "pg_get_expr" => {
                arity(args.len() == 2 || args.len() == 3)?;
                let (x, t) = &args[0];
                (self.coerce(x.clone(), t, &DataType::Text)?, DataType::Text)
            }
            // pg_get_serial_sequence('table', 'column'): the sequence a
            // serial or identity column draws from, schema-qualified.
            "pg_get_serial_sequence" => {
                arity(args.len() == 2)?;
                let (t, tt) = &args[0];
                let (c, ct) = &args[1];
                let t = self.coerce(t.clone(), tt, &DataType::Text)?;
                let c = self.coerce(c.clone(), ct, &DataType::Text)?;
                let text_eq = |x: &Expr, v: String| {
                    Expr::Binary(
                        BinaryOp::Eq,
                        Box::new(x.clone()),
                        Box::new(Expr::Literal(Value::Text(v))),
                    )
                };
                let mut whens = Vec::new();
                for s in cat.sequences.values() {
                    let Some((tid, col)) = s.owned_by else {
                        continue;
                    };
                    let Some(table) = cat.tables.get(&tid) else {
                        continue;
                    };
                    let seq = Expr::Literal(Value::Text(format!(
                        "{}.{}",
                        system::quote_ident(&s.schema),
                        system::quote_ident(&s.name)
                    )));
                    let names = [
                        system::display_name(cat, self.search_path, &table.schema, &table.name),
                        format!("{}.{}", table.schema, table.name),
                    ];
                    for n in names {
                        whens.push((
                            Expr::And(
                                Box::new(text_eq(&t, n)),
                                Box::new(text_eq(&c, table.columns[col].name.clone())),
                            ),
                            seq.clone(),
                        ));
                    }
                }
                if whens.is_empty() {
                    return Ok(Some(null_text()));
                }
                (
                    Expr::Case {
                        operand: None,
                        whens,
                        otherwise: Some(Box::new(Expr::Literal(Value::Null))),
                    },
                    DataType::Text,
                )
            }
            "pg_table_is_visible" => {
                arity(args.len() == 1)?;
                let pairs = system::relations(cat).into_iter().map(|r| {
                    let v = system::is_visible(cat, self.search_path, &r.schema, &r.name);
                    (r.oid, Value::Bool(v))
                });
                let x = oid_arg(0)?;
                (
                    lookup(&x, pairs, Expr::Literal(Value::Bool(false))),
                    DataType::Bool,
                )
            }
            "pg_get_viewdef" => {
                arity(args.len() == 1 || args.len() == 2)?;
                let pairs = cat
                    .views
                    .values()
                    .map(|v| (v.id as i64, Value::Text(v.sql.clone())));
                let x = oid_arg(0)?;
                (
                    lookup(&x, pairs, Expr::Literal(Value::Null)),
                    DataType::Text,
                )
            }
            "pg_get_constraintdef" => {
                arity(args.len() == 1 || args.len() == 2)?;
                let pairs: Vec<(i64, Value)> = system::constraints(cat)
                    .iter()
                    .map(|c| {
                        let def = system::constraint_def(cat, self.search_path, c);
                        (c.oid, Value::Text(def))
                    })
                    .collect();
                let x = oid_arg(0)?;
                (
                    lookup(&x, pairs, Expr::Literal(Value::Null)),
                    DataType::Text,
                )
            }
            "pg_get_indexdef" => {
                arity(args.len() == 1 || args.len() == 3)?;
                let x = oid_arg(0)?;
                let idx = system::indexes(cat);
                // pg_get_indexdef(oid, 0, true) prints a predicate without
                // its outer parentheses (what psql's \d shows).
                let pretty = matches!(args.get(2), Some((Expr::Literal(Value::Bool(true)), _)));
                let whole = lookup(
                    &x,
                    idx.iter()
                        .map(|i| (i.oid, Value::Text(system::index_def(i, pretty)))),
                    Expr::Literal(Value::Null),
                );
                if args.len() == 1 {
                    return Ok(Some((whole, DataType::Text)));
                }
                // pg_get_indexdef(oid, column, pretty): column 0 is the whole
                // definition, column k the k-th key column's name.
                let (c, ct) = &args[1];
                let col = self.coerce(c.clone(), ct, &DataType::Int8)?;
                let mut whens = vec![(eq(&col, 0), whole)];
                for i in &idx {
                    for (k, key) in i.key_sql().into_iter().enumerate() {
                        whens.push((
                            Expr::And(Box::new(eq(&x, i.oid)), Box::new(eq(&col, k as i64 + 1))),
                            Expr::Literal(Value::Text(key)),
                        ));
                    }
                }
                (
                    Expr::Case {
                        operand: None,
                        whens,
                        otherwise: Some(Box::new(Expr::Literal(Value::Text(String::new())))),
                    },
                    DataType::Text,
                )
            }
            _ => return Ok(None),
        }))
    }
}

fn eq(x: &Expr, k: i64) -> Expr {
    Expr::Binary(
        BinaryOp::Eq,
        Box::new(x.clone()),
        Box::new(Expr::Literal(Value::Int8(k))),
    )
}

/// `CASE WHEN x = k1 THEN v1 ... ELSE otherwise END` over an int8 key.
fn lookup(x: &Expr, pairs: impl IntoIterator<Item = (i64, Value)>, otherwise: Expr) -> Expr {
    let whens: Vec<(Expr, Expr)> = pairs
        .into_iter()
        .map(|(k, v)| (eq(x, k), Expr::Literal(v)))
        .collect();
    if whens.is_empty() {
        return otherwise;
    }
    Expr::Case {
        operand: None,
        whens,
        otherwise: Some(Box::new(otherwise)),
    }
}

/// The scope of a relation the binder makes up (a system relation, a
/// `helios` table function): its columns under its name or alias, renamed
/// by the alias's column list.
fn relation_scope(
    columns: &[crate::sql::plan::Column],
    name: &str,
    alias: Option<&ast::TableAlias>,
) -> Result<Scope> {
    let q = alias
        .map(|a| ident(&a.name))
        .unwrap_or_else(|| name.to_string());
    let mut scope = Scope {
        columns: columns
            .iter()
            .map(|c| ScopeColumn {
                qualifier: Some(q.clone()),
                name: c.name.clone(),
                ty: c.ty.clone(),
                qualified_only: false,
            })
            .collect(),
        tables: vec![],
    };
    if let Some(a) = alias {
        super::from::rename_columns(&mut scope, &a.columns)?;
    }
    Ok(scope)
}
