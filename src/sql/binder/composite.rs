//! Composite (row) types in expressions: `ROW(...)` as a value, field
//! selection `(x).f`, casts and assignments to a composite type, and the
//! assignment paths of INSERT targets (`f3.if1`, `f4[1].if2[2]`).
//!
//! A composite value is a `Value::Record` of its type's id and fields; the
//! field types come from the catalog (`CompositeDef`), so the binder builds
//! records (`Func::MakeRecord`), parses their text (`Func::RecordIn`) and
//! selects and sets fields (`Func::FieldSelect`, `Func::FieldAssign`) with
//! the types already resolved.

use super::{Binder, ident};
use crate::catalog::CompositeDef;
use crate::error::{Error, Result, SqlState};
use crate::sql::expr::Expr;
use crate::sql::functions::Func;
use crate::types::{DataType, RecordTypes, Value};
use sqlparser::ast;
use std::sync::Arc;

/// One step of an assignment path below a column.
#[derive(Clone, Debug)]
pub enum PathStep {
    Field(String),
    Index(Box<ast::Expr>),
}

impl Binder<'_> {
    /// The composite type `ty` is (PostgreSQL's "record" for anonymous ones).
    pub(super) fn composite(&self, ty: &DataType) -> Option<Arc<CompositeDef>> {
        match ty {
            DataType::Composite(id) => self.catalog.composites.get(id).cloned(),
            _ => None,
        }
    }

    /// The field types of composite type `id` and of the composite types
    /// its fields hold, for reading record text.
    pub(super) fn record_types(&self, id: u32) -> RecordTypes {
        let mut out = RecordTypes::new();
        let mut todo = vec![id];
        while let Some(id) = todo.pop() {
            if out.contains_key(&id) {
                continue;
            }
            let Some(c) = self.catalog.composites.get(&id) else {
                continue;
            };
            for f in &c.fields {
                let mut t = &f.ty;
                while let DataType::Array(e) = t {
                    t = e;
                }
                if let DataType::Composite(inner) = t {
                    todo.push(*inner);
                }
            }
            out.insert(id, c.field_types());
        }
        out
    }

    /// A type's name as PostgreSQL shows it in messages (composite types by
    /// name, which `DataType::name` cannot know).
    pub(super) fn type_display(&self, ty: &DataType) -> String {
        match ty {
            DataType::Composite(id) => self
                .catalog
                .type_name(*id)
                .map_or_else(|| "record".to_string(), |(_, n)| n.to_string()),
            DataType::Array(e) => format!("{}[]", self.type_display(e)),
            other => other.name(),
        }
    }

    /// `(x).field`.
    pub(super) fn select_field(
        &self,
        x: Expr,
        ty: &DataType,
        field: &str,
    ) -> Result<(Expr, DataType)> {
        let Some(c) = self.composite(ty) else {
            return Err(Error::new(
                SqlState::UNDEFINED_COLUMN,
                format!(
                    "column notation .{field} applied to type {}, which is not a composite type",
                    self.type_display(ty)
                ),
            ));
        };
        let k = c.field_index(field).ok_or_else(|| {
            Error::new(
                SqlState::UNDEFINED_COLUMN,
                format!("column \"{field}\" not found in data type {}", c.name),
            )
        })?;
        Ok((
            Expr::Function(Func::FieldSelect(k), vec![x]),
            c.fields[k].ty.clone(),
        ))
    }

    /// `x` as a value of composite type `id`: a record literal parsed, an
    /// anonymous `ROW(...)` given the type's fields (each coerced), a value
    /// of the type as it is.
    pub(super) fn coerce_to_composite(&self, x: Expr, from: &DataType, id: u32) -> Result<Expr> {
        let Some(c) = self.catalog.composites.get(&id).cloned() else {
            return Err(Error::internal(format!(
                "composite type {id} missing from catalog"
            )));
        };
        match (x, from) {
            (x, DataType::Composite(f)) if *f == id => Ok(x),
            (Expr::Literal(Value::Null), _) => Ok(Expr::Literal(Value::Null)),
            (Expr::Literal(Value::Text(s)), DataType::Unknown | DataType::Text) => Ok(
                Expr::Literal(Value::parse_record(&s, id, &self.record_types(id))?),
            ),
            (x, t) if t.is_text() || *t == DataType::Unknown => Ok(Expr::Function(
                Func::RecordIn(id, Arc::new(self.record_types(id))),
                vec![x],
            )),
            (Expr::Function(Func::MakeRecord(0, types), args), _) => {
                if args.len() != c.fields.len() {
                    return Err(Error::new(
                        SqlState::CANNOT_COERCE,
                        format!("cannot cast type record to {}", c.name),
                    )
                    .with_detail(if args.len() < c.fields.len() {
                        "Input has too few columns."
                    } else {
                        "Input has too many columns."
                    }));
                }
                let mut out = Vec::with_capacity(args.len());
                for ((a, t), f) in args.into_iter().zip(types).zip(&c.fields) {
                    out.push(self.assignment_cast(a, &t, &f.ty)?);
                }
                Ok(Expr::Function(Func::MakeRecord(id, c.field_types()), out))
            }
            (_, t) => Err(Error::new(
                SqlState::CANNOT_COERCE,
                format!("cannot cast type {} to {}", self.type_display(t), c.name),
            )),
        }
    }

    /// `x` as an array of a composite type (`to`): an array literal's
    /// elements parsed as records, an array of the type as it is.
    pub(super) fn coerce_to_composite_array(
        &self,
        x: Expr,
        from: &DataType,
        to: &DataType,
    ) -> Result<Expr> {
        let DataType::Array(elem) = to else {
            return Err(Error::internal("not an array type"));
        };
        let DataType::Composite(id) = **elem else {
            return Err(Error::internal("not an array of a composite type"));
        };
        match (x, from) {
            (x, f) if f == to => Ok(x),
            (Expr::Literal(Value::Null), _) => Ok(Expr::Literal(Value::Null)),
            (Expr::Literal(Value::Text(s)), DataType::Unknown | DataType::Text) => Ok(
                Expr::Literal(Value::parse_typed(&s, to, &self.record_types(id))?),
            ),
            (_, t) => Err(Error::new(
                SqlState::CANNOT_COERCE,
                format!(
                    "cannot cast type {} to {}",
                    self.type_display(t),
                    self.type_display(to)
                ),
            )),
        }
    }

    /// A value given to a column or field of type `to` (untyped literals
    /// typed, other types cast as an assignment).
    pub(super) fn assignment_cast(&self, x: Expr, from: &DataType, to: &DataType) -> Result<Expr> {
        if let DataType::Composite(id) = to {
            return self.coerce_to_composite(x, from, *id);
        }
        if is_composite_array(to) {
            return self.coerce_to_composite_array(x, from, to);
        }
        if matches!(from, DataType::Composite(_)) && !to.is_text() {
            return Err(Error::new(
                SqlState::CANNOT_COERCE,
                format!(
                    "cannot cast type {} to {}",
                    self.type_display(from),
                    self.type_display(to)
                ),
            ));
        }
        if from == to || *from == DataType::Unknown {
            return self.coerce(x, from, to);
        }
        Ok(Expr::Cast(Box::new(x), to.clone()))
    }

    /// `ROW(a, b)` as a value: an anonymous record.
    pub(super) fn make_record(&self, fields: Vec<(Expr, DataType)>) -> (Expr, DataType) {
        let (exprs, types): (Vec<Expr>, Vec<DataType>) = fields.into_iter().unzip();
        (
            Expr::Function(Func::MakeRecord(0, types), exprs),
            DataType::Composite(0),
        )
    }

    /// The new value of a column of type `ty` after setting `path` below it
    /// to `value` (of type `vty`), starting from `base` (its value so far).
    pub(super) fn assign_path(
        &self,
        column: &str,
        base: Expr,
        ty: &DataType,
        path: &[PathStep],
        value: Expr,
        vty: &DataType,
    ) -> Result<Expr> {
        let Some((step, rest)) = path.split_first() else {
            return self.assignment_cast(value, vty, ty);
        };
        match step {
            PathStep::Field(f) => {
                let Some(c) = self.composite(ty) else {
                    return Err(Error::new(
                        SqlState::DATATYPE_MISMATCH,
                        format!(
                            "cannot assign to field \"{f}\" of column \"{column}\" because its type {} is not a composite type",
                            self.type_display(ty)
                        ),
                    ));
                };
                let k = c.field_index(f).ok_or_else(|| {
                    Error::new(
                        SqlState::UNDEFINED_COLUMN,
                        format!(
                            "cannot assign to field \"{f}\" of column \"{column}\" because there is no such column in data type {}",
                            c.name
                        ),
                    )
                })?;
                let current = Expr::Function(Func::FieldSelect(k), vec![base.clone()]);
                let inner = self.assign_path(column, current, &c.fields[k].ty, rest, value, vty)?;
                Ok(Expr::Function(
                    Func::FieldAssign(k, c.id, c.fields.len()),
                    vec![base, inner],
                ))
            }
            PathStep::Index(i) => {
                let DataType::Array(elem) = ty else {
                    return Err(Error::new(
                        SqlState::DATATYPE_MISMATCH,
                        format!(
                            "cannot subscript type {} because it does not support subscripting",
                            self.type_display(ty)
                        ),
                    ));
                };
                let (i, it) = self.bind_expr(i, &super::Scope::default())?;
                let i = self.coerce(i, &it, &DataType::Int4)?;
                let current = Expr::Function(Func::ArrayElement, vec![base.clone(), i.clone()]);
                let inner = self.assign_path(column, current, elem, rest, value, vty)?;
                Ok(Expr::Function(
                    Func::ArrayAssign((**elem).clone()),
                    vec![base, i, inner],
                ))
            }
        }
    }
}

/// Whether `ty` is a composite type or an array of one.
pub fn mentions_composite(ty: &DataType) -> bool {
    match ty {
        DataType::Composite(_) => true,
        DataType::Array(e) => mentions_composite(e),
        _ => false,
    }
}

/// Whether `ty` is an array of a composite type.
pub fn is_composite_array(ty: &DataType) -> bool {
    matches!(ty, DataType::Array(e) if matches!(**e, DataType::Composite(_)))
}

/// An INSERT target as the parser carried it: the column and the path
/// below it (`f3.if2[1]` → `f3`, [.if2, [1]]).
pub fn parse_target(text: &str) -> Result<(String, Vec<PathStep>)> {
    let e = crate::sql::parser::parse_expr(text)?;
    let mut steps = Vec::new();
    let column = flatten(&e, &mut steps)?;
    Ok((column, steps))
}

fn flatten(e: &ast::Expr, steps: &mut Vec<PathStep>) -> Result<String> {
    match e {
        ast::Expr::Identifier(i) => Ok(ident(i)),
        ast::Expr::CompoundIdentifier(ids) => {
            let mut it = ids.iter();
            let first = it.next().map(ident).unwrap_or_default();
            steps.extend(it.map(|i| PathStep::Field(ident(i))));
            Ok(first)
        }
        ast::Expr::CompoundFieldAccess { root, access_chain } => {
            let col = flatten(root, steps)?;
            for a in access_chain {
                match a {
                    ast::AccessExpr::Dot(ast::Expr::Identifier(i)) => {
                        steps.push(PathStep::Field(ident(i)))
                    }
                    ast::AccessExpr::Subscript(ast::Subscript::Index { index }) => {
                        steps.push(PathStep::Index(Box::new(index.clone())))
                    }
                    other => {
                        return Err(Error::unsupported(format!(
                            "INSERT target {other} is not supported"
                        )));
                    }
                }
            }
            Ok(col)
        }
        other => Err(Error::syntax(format!(
            "syntax error at or near \"{other}\""
        ))),
    }
}
