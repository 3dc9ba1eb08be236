//! Binding binary operators: boolean connectives, LIKE and regular-expression
//! matches, `OPERATOR(pg_catalog.op)`, and the arithmetic and comparison
//! operators of [`BinaryOp`](crate::types::BinaryOp).

use super::Binder;
use super::expr::{map_binop, negate_if};
use crate::error::{Error, Result, SqlState};
use crate::sql::expr::Expr;
use crate::sql::functions::Func;
use crate::types::DataType;
use sqlparser::ast;

/// The comparison a binary operator is (row comparisons take these only).
pub(super) fn comparison_op(op: &ast::BinaryOperator) -> Option<crate::types::BinaryOp> {
    use crate::types::BinaryOp as B;
    use ast::BinaryOperator as O;
    Some(match op {
        O::Eq => B::Eq,
        O::NotEq => B::NotEq,
        O::Lt => B::Lt,
        O::LtEq => B::LtEq,
        O::Gt => B::Gt,
        O::GtEq => B::GtEq,
        _ => return None,
    })
}

impl Binder<'_> {
    /// Binds `l op r` for a binary operator, including the regular-expression
    /// operators and `OPERATOR(pg_catalog.op)`.
    pub(super) fn binary_operator(
        &self,
        op: &ast::BinaryOperator,
        l: Expr,
        lt: DataType,
        r: Expr,
        rt: DataType,
    ) -> Result<(Expr, DataType)> {
        use ast::BinaryOperator as O;
        match op {
            O::And | O::Or => {
                let l = self.expect_bool(l, lt, &format!("{op}"))?;
                let r = self.expect_bool(r, rt, &format!("{op}"))?;
                let x = if *op == O::And {
                    Expr::And(Box::new(l), Box::new(r))
                } else {
                    Expr::Or(Box::new(l), Box::new(r))
                };
                Ok((x, DataType::Bool))
            }
            O::PGLikeMatch | O::PGILikeMatch | O::PGNotLikeMatch | O::PGNotILikeMatch => {
                let ci = matches!(op, O::PGILikeMatch | O::PGNotILikeMatch);
                let neg = matches!(op, O::PGNotLikeMatch | O::PGNotILikeMatch);
                self.like(l, lt, r, rt, None, ci, neg)
            }
            O::PGRegexMatch | O::PGRegexIMatch | O::PGRegexNotMatch | O::PGRegexNotIMatch => {
                let ci = matches!(op, O::PGRegexIMatch | O::PGRegexNotIMatch);
                let neg = matches!(op, O::PGRegexNotMatch | O::PGRegexNotIMatch);
                let l = self.coerce_text_operand(l, lt, op)?;
                let r = self.coerce_text_operand(r, rt, op)?;
                let f = if ci {
                    Func::RegexIMatch
                } else {
                    Func::RegexMatch
                };
                Ok((
                    negate_if(Expr::Function(f, vec![l, r]), neg),
                    DataType::Bool,
                ))
            }
            // OPERATOR(pg_catalog.op) is op: there is only one schema of operators.
            O::PGCustomBinaryOperator(parts) => {
                let plain = match parts.as_slice() {
                    [o] => o,
                    [s, o] if s.eq_ignore_ascii_case("pg_catalog") => o,
                    _ => {
                        return Err(Error::new(
                            SqlState::UNDEFINED_FUNCTION,
                            format!("operator does not exist: {op}"),
                        ));
                    }
                };
                let mapped = match plain.as_str() {
                    "~" => O::PGRegexMatch,
                    "~*" => O::PGRegexIMatch,
                    "!~" => O::PGRegexNotMatch,
                    "!~*" => O::PGRegexNotIMatch,
                    "~~" => O::PGLikeMatch,
                    "~~*" => O::PGILikeMatch,
                    "!~~" => O::PGNotLikeMatch,
                    "!~~*" => O::PGNotILikeMatch,
                    "=" => O::Eq,
                    "<>" | "!=" => O::NotEq,
                    "<" => O::Lt,
                    "<=" => O::LtEq,
                    ">" => O::Gt,
                    ">=" => O::GtEq,
                    "+" => O::Plus,
                    "-" => O::Minus,
                    "*" => O::Multiply,
                    "/" => O::Divide,
                    "%" => O::Modulo,
                    "||" => O::StringConcat,
                    _ => {
                        return Err(Error::new(
                            SqlState::UNDEFINED_FUNCTION,
                            format!("operator does not exist: {op}"),
                        ));
                    }
                };
                self.binary_operator(&mapped, l, lt, r, rt)
            }
            _ => {
                let bop = map_binop(op)?;
                self.binary(bop, l, lt, r, rt)
            }
        }
    }

    /// An operand of a text-only operator (42883 for other types).
    fn coerce_text_operand(&self, x: Expr, t: DataType, op: &ast::BinaryOperator) -> Result<Expr> {
        match t {
            DataType::Text | DataType::Varchar(_) | DataType::Unknown => {
                self.coerce(x, &t, &DataType::Text)
            }
            DataType::Char(_) => Ok(Expr::Function(Func::Rtrim, vec![x])),
            other => Err(Error::new(
                SqlState::UNDEFINED_FUNCTION,
                format!("operator does not exist: {} {op} text", other.name()),
            )),
        }
    }
}
