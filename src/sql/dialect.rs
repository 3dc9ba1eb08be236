//! The SQL dialect handed to sqlparser: PostgreSQL's, plus `COLLATE` after
//! any expression.
//!
//! sqlparser's PostgreSQL dialect gives `COLLATE` its precedence but reads
//! it only right after a primary expression, so `x::text COLLATE "C"` and
//! `a[1] COLLATE "C"` fail to parse. [`HeliosDialect`] forwards everything
//! to [`PostgreSqlDialect`] (and answers to its type, so the parser's
//! dialect checks still see PostgreSQL) and reads `COLLATE name` as an infix
//! operator.

use sqlparser::ast::Expr;
use sqlparser::dialect::{Dialect, PostgreSqlDialect, Precedence};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;
use std::any::TypeId;

#[derive(Debug, Default)]
pub struct HeliosDialect(PostgreSqlDialect);

/// The dialect, for `Parser::new(&DIALECT)`.
pub const DIALECT: HeliosDialect = HeliosDialect(PostgreSqlDialect {});

/// Forwards methods to the PostgreSQL dialect.
macro_rules! forward {
    ($($name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty;)*) => {
        $(fn $name(&self $(, $arg: $ty)*) -> $ret {
            self.0.$name($($arg),*)
        })*
    };
}

impl Dialect for HeliosDialect {
    fn dialect(&self) -> TypeId {
        TypeId::of::<PostgreSqlDialect>()
    }

    fn parse_infix(
        &self,
        parser: &mut Parser,
        expr: &Expr,
        _precedence: u8,
    ) -> Option<Result<Expr, ParserError>> {
        if !matches!(&parser.peek_token_ref().token, Token::Word(w) if w.keyword == Keyword::COLLATE)
        {
            return None;
        }
        parser.next_token();
        Some(
            parser
                .parse_object_name(false)
                .map(|collation| Expr::Collate {
                    expr: Box::new(expr.clone()),
                    collation,
                }),
        )
    }

    fn is_table_alias(&self, kw: &Keyword, parser: &mut Parser) -> bool {
        self.0.is_table_alias(kw, parser)
    }

    fn get_next_precedence(&self, parser: &Parser) -> Option<Result<u8, ParserError>> {
        self.0.get_next_precedence(parser)
    }

    forward! {
        identifier_quote_style(&self, identifier: &str) -> Option<char>;
        is_delimited_identifier_start(&self, ch: char) -> bool;
        is_identifier_start(&self, ch: char) -> bool;
        is_identifier_part(&self, ch: char) -> bool;
        supports_unicode_string_literal(&self) -> bool;
        is_reserved_for_identifier(&self, kw: Keyword) -> bool;
        is_custom_operator_part(&self, ch: char) -> bool;
        supports_filter_during_aggregation(&self) -> bool;
        supports_group_by_expr(&self) -> bool;
        supports_alter_user_as_alter_role(&self) -> bool;
        prec_value(&self, prec: Precedence) -> u8;
        allow_extract_custom(&self) -> bool;
        allow_extract_single_quotes(&self) -> bool;
        supports_create_index_with_clause(&self) -> bool;
        supports_explain_with_utility_options(&self) -> bool;
        supports_listen_notify(&self) -> bool;
        supports_exclude_constraint(&self) -> bool;
        supports_factorial_operator(&self) -> bool;
        supports_bitwise_shift_operators(&self) -> bool;
        supports_comment_on(&self) -> bool;
        supports_load_extension(&self) -> bool;
        supports_named_fn_args_with_colon_operator(&self) -> bool;
        supports_named_fn_args_with_expr_name(&self) -> bool;
        supports_empty_projections(&self) -> bool;
        supports_nested_comments(&self) -> bool;
        supports_string_escape_constant(&self) -> bool;
        supports_numeric_literal_underscores(&self) -> bool;
        supports_array_typedef_with_brackets(&self) -> bool;
        supports_geometric_types(&self) -> bool;
        supports_order_by_using_operator(&self) -> bool;
        supports_set_names(&self) -> bool;
        supports_alter_column_type_using(&self) -> bool;
        supports_left_associative_joins_without_parens(&self) -> bool;
        supports_notnull_operator(&self) -> bool;
        supports_interval_options(&self) -> bool;
        supports_insert_table_alias(&self) -> bool;
        supports_create_table_like_parenthesized(&self) -> bool;
        supports_select_wildcard_with_alias(&self) -> bool;
        supports_comma_separated_trim(&self) -> bool;
        supports_xml_expressions(&self) -> bool;
        supports_aliased_function_args(&self) -> bool;
        supports_comment_optimizer_hint(&self) -> bool;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collate_after_any_expression() {
        let parse = |sql: &str| {
            Parser::new(&DIALECT)
                .try_with_sql(sql)
                .and_then(|mut p| p.parse_expr())
                .map(|e| e.to_string())
        };
        assert_eq!(
            parse("x::text COLLATE \"C\"").unwrap(),
            "x::TEXT COLLATE \"C\""
        );
        assert_eq!(
            parse("a[1] COLLATE \"C\" < 'b'").unwrap(),
            "a[1] COLLATE \"C\" < 'b'"
        );
        assert!(parse("x COLLATE").is_err());
    }
}
