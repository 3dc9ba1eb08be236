//! Binding window function calls: `f(args) OVER (PARTITION BY .. ORDER BY ..
//! frame)` or `OVER name` with a WINDOW clause.
//!
//! A SELECT collects its window calls while its output list and ORDER BY are
//! bound; each call becomes a placeholder column that
//! [`Binder::apply_windows`] turns into a column of the [`Plan::Window`] node
//! placed under the projection.

use super::expr::{agg_func, agg_signature, contains_aggregate};
use super::{AggCtx, Binder, Scope, ident};
use crate::error::{Error, Result, SqlState};
use crate::sql::expr::Expr;
use crate::sql::plan::{
    AggCall, Column, FrameBound, FrameUnits, Plan, SortKey, WindowCall, WindowFrame, WindowFunc,
};
use crate::types::DataType;
use sqlparser::ast;

/// Placeholder column numbers of window results (before the Window node's
/// real width is known).
const WINDOW_BASE: usize = 1 << 40;

/// Window calls of the SELECT being bound.
pub(crate) struct WindowScope {
    pub calls: Vec<WindowCall>,
    pub named: Vec<ast::NamedWindowDefinition>,
    /// Window calls are allowed here (output list and ORDER BY only).
    pub allowed: bool,
}

impl Binder<'_> {
    /// Starts a SELECT's window scope (window calls not yet allowed).
    pub(super) fn push_window_scope(&self, named: &[ast::NamedWindowDefinition]) {
        self.windows.borrow_mut().push(WindowScope {
            calls: Vec::new(),
            named: named.to_vec(),
            allowed: false,
        });
    }

    pub(super) fn allow_windows(&self, allowed: bool) {
        if let Some(w) = self.windows.borrow_mut().last_mut() {
            w.allowed = allowed;
        }
    }

    pub(super) fn pop_window_scope(&self) {
        self.windows.borrow_mut().pop();
    }

    /// If the SELECT has window calls, puts a Window node over `input` and
    /// rewrites the placeholders in `exprs`.
    pub(super) fn apply_windows(&self, input: Plan, exprs: &mut [&mut Expr]) -> Result<Plan> {
        let calls = match self.windows.borrow_mut().last_mut() {
            Some(w) => std::mem::take(&mut w.calls),
            None => return Err(Error::internal("window scope missing")),
        };
        if calls.is_empty() {
            return Ok(input);
        }
        let mut columns = input.columns();
        let base = columns.len();
        for (i, c) in calls.iter().enumerate() {
            columns.push(Column {
                name: format!("window{i}"),
                ty: c.ty.clone(),
            });
        }
        let remap = |i: usize| {
            Expr::Column(if i >= WINDOW_BASE {
                base + (i - WINDOW_BASE)
            } else {
                i
            })
        };
        for e in exprs.iter_mut() {
            **e = e.map_columns(&remap);
        }
        Ok(Plan::Window {
            input: Box::new(input),
            calls,
            columns,
        })
    }

    pub(super) fn bind_window_call(
        &self,
        f: &ast::Function,
        name: &str,
        scope: &Scope,
        agg: Option<&AggCtx>,
        depth: usize,
    ) -> Result<(Expr, DataType)> {
        match self.windows.borrow().last() {
            Some(w) if w.allowed => {}
            _ => {
                return Err(Error::new(
                    SqlState::WINDOWING_ERROR,
                    "window functions are not allowed here",
                ));
            }
        }
        let (args, distinct, star) = match &f.args {
            ast::FunctionArguments::None => (vec![], false, false),
            ast::FunctionArguments::List(list) => {
                let mut args = Vec::new();
                let mut star = false;
                for a in &list.args {
                    match a {
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => args.push(x),
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard) => star = true,
                        _ => {
                            return Err(Error::unsupported(format!(
                                "window function argument not supported: {a}"
                            )));
                        }
                    }
                }
                if !list.clauses.is_empty() {
                    return Err(Error::unsupported(
                        "ORDER BY inside a window function's arguments is not supported",
                    ));
                }
                let distinct = matches!(
                    list.duplicate_treatment,
                    Some(ast::DuplicateTreatment::Distinct)
                );
                (args, distinct, star)
            }
            ast::FunctionArguments::Subquery(_) => {
                return Err(Error::syntax(
                    "a window function takes no subquery argument",
                ));
            }
        };
        if distinct {
            return Err(Error::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                "DISTINCT is not implemented for window functions",
            ));
        }
        // Arguments and window keys are bound with window calls disallowed
        // (they cannot nest) over the rows the window sees.
        self.allow_windows(false);
        let bound = self.bind_window_parts(f, &args, scope, agg, depth);
        self.allow_windows(true);
        let (bargs, partition_by, order_by, frame) = bound?;
        let n = bargs.len();
        let arg_ty = |i: usize| {
            bargs
                .get(i)
                .map(|(_, t)| t.clone())
                .unwrap_or(DataType::Unknown)
        };
        let value_ty = |t: DataType| {
            if t == DataType::Unknown {
                DataType::Text
            } else {
                t
            }
        };
        let bad = || {
            crate::sql::functions::undefined_function(
                name,
                &bargs.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>(),
            )
        };
        let (func, ty, agg_call) = match name {
            "row_number" | "rank" | "dense_rank" if n == 0 => (
                match name {
                    "row_number" => WindowFunc::RowNumber,
                    "rank" => WindowFunc::Rank,
                    _ => WindowFunc::DenseRank,
                },
                DataType::Int8,
                None,
            ),
            "percent_rank" | "cume_dist" if n == 0 => (
                if name == "percent_rank" {
                    WindowFunc::PercentRank
                } else {
                    WindowFunc::CumeDist
                },
                DataType::Float8,
                None,
            ),
            "ntile" if n == 1 && (arg_ty(0).is_integer() || arg_ty(0) == DataType::Unknown) => {
                (WindowFunc::Ntile, DataType::Int4, None)
            }
            "lag" | "lead" if (1..=3).contains(&n) => {
                if n >= 2 && !(arg_ty(1).is_integer() || arg_ty(1) == DataType::Unknown) {
                    return Err(bad());
                }
                if n == 3 {
                    super::expr::unify_types(name, &arg_ty(0), &arg_ty(2))?;
                }
                let f = if name == "lag" {
                    WindowFunc::Lag
                } else {
                    WindowFunc::Lead
                };
                (f, value_ty(arg_ty(0)), None)
            }
            "first_value" | "last_value" if n == 1 => (
                if name == "first_value" {
                    WindowFunc::FirstValue
                } else {
                    WindowFunc::LastValue
                },
                value_ty(arg_ty(0)),
                None,
            ),
            "nth_value" if n == 2 && (arg_ty(1).is_integer() || arg_ty(1) == DataType::Unknown) => {
                (WindowFunc::NthValue, value_ty(arg_ty(0)), None)
            }
            _ => match agg_func(name) {
                Some(af) => {
                    let filter = match &f.filter {
                        Some(x) => Some(self.bind_predicate(x, scope, "FILTER")?),
                        None => None,
                    };
                    let (func, ty, args) = agg_signature(af, star, bargs.clone(), name)?;
                    let call = AggCall {
                        func,
                        args,
                        distinct: false,
                        filter,
                        order_by: Vec::new(),
                        ty: ty.clone(),
                    };
                    (WindowFunc::Agg(func), ty, Some(call))
                }
                None => {
                    let types: Vec<DataType> = bargs.iter().map(|(_, t)| t.clone()).collect();
                    return Err(
                        if crate::sql::functions::resolve_call(name, &types).is_ok() {
                            Error::new(
                                SqlState::WRONG_OBJECT_TYPE,
                                format!(
                                    "OVER specified, but {name} is not a window function nor an aggregate function"
                                ),
                            )
                        } else {
                            bad()
                        },
                    );
                }
            },
        };
        let mut args: Vec<Expr> = Vec::with_capacity(n);
        for (i, (x, t)) in bargs.into_iter().enumerate() {
            // Offsets and bucket counts are integers; a lag/lead default takes the value's type.
            let target = match (&func, i) {
                (WindowFunc::Ntile, 0)
                | (WindowFunc::Lag | WindowFunc::Lead, 1)
                | (WindowFunc::NthValue, 1) => DataType::Int8,
                (WindowFunc::Lag | WindowFunc::Lead, 2) => ty.clone(),
                _ => t.clone(),
            };
            args.push(self.coerce(x, &t, &target)?);
        }
        let mut windows = self.windows.borrow_mut();
        let w = windows.last_mut().expect("checked above");
        w.calls.push(WindowCall {
            func,
            args,
            agg: agg_call,
            partition_by,
            order_by,
            frame,
            ty: ty.clone(),
        });
        Ok((Expr::Column(WINDOW_BASE + w.calls.len() - 1), ty))
    }

    #[allow(clippy::type_complexity)]
    fn bind_window_parts(
        &self,
        f: &ast::Function,
        args: &[&ast::Expr],
        scope: &Scope,
        agg: Option<&AggCtx>,
        depth: usize,
    ) -> Result<(Vec<(Expr, DataType)>, Vec<Expr>, Vec<SortKey>, WindowFrame)> {
        let mut bargs = Vec::with_capacity(args.len());
        for a in args {
            if agg.is_none() && contains_aggregate(a) {
                return Err(Error::new(
                    SqlState::GROUPING_ERROR,
                    "aggregate functions are not allowed here",
                ));
            }
            bargs.push(self.bind(a, scope, agg, depth + 1)?);
        }
        let spec = self.window_spec(f.over.as_ref().expect("a window call"))?;
        let mut partition_by = Vec::new();
        for p in &spec.partition_by {
            partition_by.push(self.bind(p, scope, agg, depth + 1)?.0);
        }
        let mut order_by = Vec::new();
        for o in &spec.order_by {
            let (x, _) = self.bind(&o.expr, scope, agg, depth + 1)?;
            let desc = matches!(o.options.sort, Some(ast::OrderBySort::Desc));
            order_by.push(SortKey {
                expr: x,
                desc,
                nulls_first: o.options.nulls_first.unwrap_or(desc),
            });
        }
        let frame = self.window_frame(spec.window_frame.as_ref(), &order_by)?;
        Ok((bargs, partition_by, order_by, frame))
    }

    /// The window specification, following WINDOW clause names.
    fn window_spec(&self, over: &ast::WindowType) -> Result<ast::WindowSpec> {
        let windows = self.windows.borrow();
        let named = &windows.last().expect("window scope").named;
        let lookup = |n: &ast::Ident| -> Result<ast::WindowSpec> {
            let want = ident(n);
            let mut at = named.iter().find(|d| ident(&d.0) == want).ok_or_else(|| {
                Error::new(
                    SqlState::UNDEFINED_OBJECT,
                    format!("window \"{want}\" does not exist"),
                )
            })?;
            // A definition may name another (one level is common; follow a few).
            for _ in 0..16 {
                match &at.1 {
                    ast::NamedWindowExpr::WindowSpec(s) => return Ok(s.clone()),
                    ast::NamedWindowExpr::NamedWindow(other) => {
                        let o = ident(other);
                        at = named.iter().find(|d| ident(&d.0) == o).ok_or_else(|| {
                            Error::new(
                                SqlState::UNDEFINED_OBJECT,
                                format!("window \"{o}\" does not exist"),
                            )
                        })?;
                    }
                }
            }
            Err(Error::syntax(
                "window definitions refer to each other in a cycle",
            ))
        };
        match over {
            ast::WindowType::NamedWindow(n) => lookup(n),
            ast::WindowType::WindowSpec(s) => match &s.window_name {
                // OVER (w ORDER BY ..): copy w's partitioning, add the rest.
                Some(base) => {
                    let mut b = lookup(base)?;
                    if !s.partition_by.is_empty() {
                        return Err(Error::new(
                            SqlState::WINDOWING_ERROR,
                            format!(
                                "cannot override PARTITION BY clause of window \"{}\"",
                                ident(base)
                            ),
                        ));
                    }
                    if !s.order_by.is_empty() {
                        b.order_by = s.order_by.clone();
                    }
                    b.window_frame = s.window_frame.clone();
                    b.window_name = None;
                    Ok(b)
                }
                None => Ok(s.clone()),
            },
        }
    }

    fn window_frame(
        &self,
        f: Option<&ast::WindowFrame>,
        order_by: &[SortKey],
    ) -> Result<WindowFrame> {
        let Some(f) = f else {
            // Default: RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW.
            return Ok(WindowFrame {
                units: FrameUnits::Range,
                start: FrameBound::UnboundedPreceding,
                end: FrameBound::CurrentRow,
            });
        };
        let units = match f.units {
            ast::WindowFrameUnits::Rows => FrameUnits::Rows,
            ast::WindowFrameUnits::Range => FrameUnits::Range,
            ast::WindowFrameUnits::Groups => FrameUnits::Groups,
        };
        if units == FrameUnits::Groups && order_by.is_empty() {
            return Err(Error::new(
                SqlState::WINDOWING_ERROR,
                "GROUPS mode requires an ORDER BY clause",
            ));
        }
        let bound = |b: &ast::WindowFrameBound| -> Result<FrameBound> {
            let offset = |e: &ast::Expr| -> Result<Expr> {
                let (x, t) = self.bind_expr(e, &Scope::default())?;
                if !x.is_row_independent() {
                    return Err(Error::new(
                        SqlState::WINDOWING_ERROR,
                        "argument of ROWS must not contain variables",
                    ));
                }
                if units == FrameUnits::Range {
                    if order_by.len() != 1 {
                        return Err(Error::new(
                            SqlState::WINDOWING_ERROR,
                            "RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY column",
                        ));
                    }
                    Ok(x)
                } else {
                    self.coerce(x, &t, &DataType::Int8)
                }
            };
            Ok(match b {
                ast::WindowFrameBound::CurrentRow => FrameBound::CurrentRow,
                ast::WindowFrameBound::Preceding(None) => FrameBound::UnboundedPreceding,
                ast::WindowFrameBound::Following(None) => FrameBound::UnboundedFollowing,
                ast::WindowFrameBound::Preceding(Some(e)) => FrameBound::Preceding(offset(e)?),
                ast::WindowFrameBound::Following(Some(e)) => FrameBound::Following(offset(e)?),
            })
        };
        let start = bound(&f.start_bound)?;
        let end = match &f.end_bound {
            Some(b) => bound(b)?,
            None => FrameBound::CurrentRow,
        };
        if matches!(start, FrameBound::UnboundedFollowing) {
            return Err(Error::new(
                SqlState::WINDOWING_ERROR,
                "frame start cannot be UNBOUNDED FOLLOWING",
            ));
        }
        if matches!(end, FrameBound::UnboundedPreceding) {
            return Err(Error::new(
                SqlState::WINDOWING_ERROR,
                "frame end cannot be UNBOUNDED PRECEDING",
            ));
        }
        Ok(WindowFrame { units, start, end })
    }
}
