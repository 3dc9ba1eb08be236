//! Query plans: a tree of operators that prints itself for EXPLAIN.

use super::expr::Expr;
use crate::catalog::{IndexDef, TableDef, TableStats};
use crate::types::DataType;
use std::sync::Arc;

/// An output column of a plan node.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub ty: DataType,
}

/// How a table scan reaches its rows.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // one per scan; boxing buys nothing
pub enum Access {
    /// Every row, in primary-key order.
    Full,
    /// A key range of the primary key (`index` = None) or of a secondary
    /// index: equality on a prefix of the key columns, then an optional range
    /// on the next column. Bound values are row-independent expressions.
    Index {
        index: Option<Arc<IndexDef>>,
        eq: Vec<Expr>,
        lower: Option<(Expr, bool)>,
        upper: Option<(Expr, bool)>,
        /// `column IN (list)` on the key column after `eq`: one lookup per
        /// distinct value, in key order (then `lower`/`upper` are None).
        in_list: Option<Vec<Expr>>,
    },
}

/// Reads rows of one table. `filter` is applied to every row the access
/// path yields (it still contains the conditions the access path uses).
#[derive(Clone, Debug)]
pub struct Scan {
    pub table: Arc<TableDef>,
    pub alias: Option<String>,
    pub access: Access,
    pub filter: Option<Expr>,
    /// The table's secondary indexes (candidates for the access path).
    pub indexes: Vec<Arc<IndexDef>>,
    /// Columns the plan above reads (None: all). Unread columns are not
    /// decoded and come back as NULL.
    pub needed: Option<Vec<bool>>,
    /// Read the access path backwards (ORDER BY ... DESC served by a key).
    pub reverse: bool,
    /// The table's statistics from its last ANALYZE, for row estimates.
    pub stats: Option<Arc<TableStats>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFunc {
    CountStar,
    Count,
    Sum,
    Avg,
    Min,
    Max,
    BoolAnd,
    BoolOr,
    StringAgg,
    ArrayAgg,
}

#[derive(Clone, Debug)]
pub struct AggCall {
    pub func: AggFunc,
    pub args: Vec<Expr>,
    pub distinct: bool,
    pub filter: Option<Expr>,
    /// ORDER BY inside the call (`string_agg(x, ',' ORDER BY y)`).
    pub order_by: Vec<SortKey>,
    pub ty: DataType,
}

/// A window function.
#[derive(Clone, Debug, PartialEq)]
pub enum WindowFunc {
    RowNumber,
    Rank,
    DenseRank,
    PercentRank,
    CumeDist,
    Ntile,
    Lag,
    Lead,
    FirstValue,
    LastValue,
    NthValue,
    /// An aggregate over the window frame.
    Agg(AggFunc),
}

/// Frame units: ROWS, RANGE or GROUPS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameUnits {
    Rows,
    Range,
    Groups,
}

/// One end of a window frame; offsets are row-independent expressions.
#[derive(Clone, Debug)]
pub enum FrameBound {
    UnboundedPreceding,
    Preceding(Expr),
    CurrentRow,
    Following(Expr),
    UnboundedFollowing,
}

#[derive(Clone, Debug)]
pub struct WindowFrame {
    pub units: FrameUnits,
    pub start: FrameBound,
    pub end: FrameBound,
}

/// One window function call: `func(args) OVER (PARTITION BY .. ORDER BY .. frame)`.
#[derive(Clone, Debug)]
pub struct WindowCall {
    pub func: WindowFunc,
    pub args: Vec<Expr>,
    /// For aggregates: the aggregate call (args, DISTINCT, FILTER).
    pub agg: Option<AggCall>,
    pub partition_by: Vec<Expr>,
    pub order_by: Vec<SortKey>,
    pub frame: WindowFrame,
    pub ty: DataType,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOpKind {
    Union,
    Intersect,
    Except,
}

/// The kinds of join. Semi and anti joins return left rows that have
/// (or have no) matching right row, once each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    Left,
    Right,
    Full,
    Semi,
    Anti,
}

impl JoinKind {
    /// Whether the output carries the right input's columns.
    pub fn has_right_columns(self) -> bool {
        !matches!(self, JoinKind::Semi | JoinKind::Anti)
    }

    fn label(self) -> &'static str {
        match self {
            JoinKind::Inner => "",
            JoinKind::Left => " Left Join",
            JoinKind::Right => " Right Join",
            JoinKind::Full => " Full Join",
            JoinKind::Semi => " Semi Join",
            JoinKind::Anti => " Anti Join",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct SortKey {
    pub expr: Expr,
    pub desc: bool,
    pub nulls_first: bool,
}

#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // Scan is inline on purpose: plans are built once
pub enum Plan {
    /// Literal rows (VALUES, or a single empty row for a SELECT without FROM).
    Values {
        rows: Vec<Vec<Expr>>,
        columns: Vec<Column>,
    },
    Scan(Scan),
    /// `generate_series(start, stop [, step])`.
    Series {
        args: Vec<Expr>,
        column: Column,
    },
    Filter {
        input: Box<Plan>,
        predicate: Expr,
    },
    Project {
        input: Box<Plan>,
        exprs: Vec<Expr>,
        columns: Vec<Column>,
    },
    /// Output: group-by values, then one value per aggregate.
    Aggregate {
        input: Box<Plan>,
        group_by: Vec<Expr>,
        aggs: Vec<AggCall>,
        columns: Vec<Column>,
    },
    Sort {
        input: Box<Plan>,
        keys: Vec<SortKey>,
    },
    Limit {
        input: Box<Plan>,
        limit: Option<Expr>,
        offset: Option<Expr>,
    },
    /// Removes duplicate rows; with `on`, keeps the first row of each
    /// distinct value of those columns (DISTINCT ON).
    Distinct {
        input: Box<Plan>,
        on: Option<Vec<usize>>,
    },
    /// Join by testing `on` against every pair of rows (output: left
    /// columns then right; only left columns for semi and anti joins).
    NestedLoop {
        left: Box<Plan>,
        right: Box<Plan>,
        kind: JoinKind,
        on: Option<Expr>,
        /// The right input reads the left row (LATERAL): it is run again
        /// for every left row, with that row as its enclosing row.
        lateral: bool,
    },
    /// Equi-join: builds a hash table on the right input's `right_keys`,
    /// probes it with each left row's `left_keys` (NULL keys never match),
    /// then checks the residual `on` over the combined row.
    HashJoin {
        left: Box<Plan>,
        right: Box<Plan>,
        kind: JoinKind,
        left_keys: Vec<Expr>,
        right_keys: Vec<Expr>,
        on: Option<Expr>,
    },
    /// Window functions: each input row, followed by one value per call.
    Window {
        input: Box<Plan>,
        calls: Vec<WindowCall>,
        columns: Vec<Column>,
    },
    /// UNION / INTERSECT / EXCEPT, with or without ALL. Both inputs already
    /// produce the output's column types.
    SetOp {
        op: SetOpKind,
        all: bool,
        left: Box<Plan>,
        right: Box<Plan>,
    },
    /// `WITH RECURSIVE`: the anchor's rows, then the recursive term run
    /// repeatedly over the rows of the previous round (read through
    /// [`Plan::WorkTable`] `id`) until a round adds none.
    RecursiveCte {
        id: usize,
        anchor: Box<Plan>,
        step: Box<Plan>,
        union_all: bool,
        columns: Vec<Column>,
    },
    /// The previous round's rows of recursive CTE `id`.
    WorkTable {
        id: usize,
        columns: Vec<Column>,
    },
    /// A system relation whose rows depend on the session, not only on the
    /// catalog (`pg_settings`, `pg_authid`, ...): read from the session
    /// (`EvalEnv::session_relation`) when the plan runs, so a cached plan
    /// never shows stale values.
    SessionRelation {
        name: &'static str,
        /// A table function's arguments (`helios.changes(...)`).
        args: Vec<Expr>,
        columns: Vec<Column>,
    },
    /// Drops trailing columns (sort keys that are not selected).
    Truncate {
        input: Box<Plan>,
        keep: usize,
    },
    /// A `security_barrier` view: its rows pass through unchanged, but
    /// conditions from outside are not moved below it unless they are
    /// leakproof, so the view's own conditions run first.
    Barrier {
        input: Box<Plan>,
    },
}

impl Plan {
    /// This node's own expressions (not its inputs').
    pub fn node_exprs(&self) -> Vec<&Expr> {
        let mut v: Vec<&Expr> = Vec::new();
        match self {
            Plan::Values { rows, .. } => v.extend(rows.iter().flatten()),
            Plan::Scan(s) => {
                v.extend(s.filter.iter());
                if let Access::Index {
                    eq,
                    lower,
                    upper,
                    in_list,
                    ..
                } = &s.access
                {
                    v.extend(in_list.iter().flatten());
                    v.extend(eq.iter());
                    v.extend(lower.iter().map(|(x, _)| x));
                    v.extend(upper.iter().map(|(x, _)| x));
                }
            }
            Plan::Series { args, .. } | Plan::SessionRelation { args, .. } => v.extend(args.iter()),
            Plan::Filter { predicate, .. } => v.push(predicate),
            Plan::Project { exprs, .. } => v.extend(exprs.iter()),
            Plan::Aggregate { group_by, aggs, .. } => {
                v.extend(group_by.iter());
                for a in aggs {
                    v.extend(a.args.iter());
                    v.extend(a.order_by.iter().map(|k| &k.expr));
                    v.extend(a.filter.iter());
                }
            }
            Plan::Sort { keys, .. } => v.extend(keys.iter().map(|k| &k.expr)),
            Plan::Limit { limit, offset, .. } => {
                v.extend(limit.iter());
                v.extend(offset.iter());
            }
            Plan::NestedLoop { on, .. } => v.extend(on.iter()),
            Plan::HashJoin {
                left_keys,
                right_keys,
                on,
                ..
            } => {
                v.extend(left_keys.iter());
                v.extend(right_keys.iter());
                v.extend(on.iter());
            }
            Plan::Window { calls, .. } => {
                for c in calls {
                    v.extend(c.args.iter());
                    v.extend(c.partition_by.iter());
                    v.extend(c.order_by.iter().map(|k| &k.expr));
                }
            }
            Plan::Distinct { .. }
            | Plan::Truncate { .. }
            | Plan::Barrier { .. }
            | Plan::SetOp { .. }
            | Plan::RecursiveCte { .. }
            | Plan::WorkTable { .. } => {}
        }
        v
    }

    /// Applies `f` to every expression of this node and of every node below.
    pub fn for_each_expr_mut(&mut self, f: &mut dyn FnMut(&mut Expr)) {
        // Plans nest as deep as their UNION chains are long.
        crate::stack::guard(|| self.for_each_expr_mut_inner(f))
    }

    fn for_each_expr_mut_inner(&mut self, f: &mut dyn FnMut(&mut Expr)) {
        match self {
            Plan::Values { rows, .. } => rows.iter_mut().flatten().for_each(&mut *f),
            Plan::Scan(s) => {
                if let Some(x) = &mut s.filter {
                    f(x);
                }
                if let Access::Index {
                    eq,
                    lower,
                    upper,
                    in_list,
                    ..
                } = &mut s.access
                {
                    in_list.iter_mut().flatten().for_each(&mut *f);
                    eq.iter_mut().for_each(&mut *f);
                    if let Some((x, _)) = lower {
                        f(x);
                    }
                    if let Some((x, _)) = upper {
                        f(x);
                    }
                }
            }
            Plan::Series { args, .. } | Plan::SessionRelation { args, .. } => {
                args.iter_mut().for_each(&mut *f)
            }
            Plan::Filter { input, predicate } => {
                f(predicate);
                input.for_each_expr_mut(f);
            }
            Plan::Project { input, exprs, .. } => {
                exprs.iter_mut().for_each(&mut *f);
                input.for_each_expr_mut(f);
            }
            Plan::Aggregate {
                input,
                group_by,
                aggs,
                ..
            } => {
                group_by.iter_mut().for_each(&mut *f);
                for a in aggs {
                    a.args.iter_mut().for_each(&mut *f);
                    a.order_by.iter_mut().for_each(|k| f(&mut k.expr));
                    if let Some(x) = &mut a.filter {
                        f(x);
                    }
                }
                input.for_each_expr_mut(f);
            }
            Plan::Sort { input, keys } => {
                keys.iter_mut().for_each(|k| f(&mut k.expr));
                input.for_each_expr_mut(f);
            }
            Plan::Limit {
                input,
                limit,
                offset,
            } => {
                if let Some(x) = limit {
                    f(x);
                }
                if let Some(x) = offset {
                    f(x);
                }
                input.for_each_expr_mut(f);
            }
            Plan::Distinct { input, .. }
            | Plan::Truncate { input, .. }
            | Plan::Barrier { input } => input.for_each_expr_mut(f),
            Plan::SetOp { left, right, .. } => {
                left.for_each_expr_mut(f);
                right.for_each_expr_mut(f);
            }
            Plan::Window { input, calls, .. } => {
                for c in calls {
                    c.args.iter_mut().for_each(&mut *f);
                    c.partition_by.iter_mut().for_each(&mut *f);
                    c.order_by.iter_mut().for_each(|k| f(&mut k.expr));
                    if let Some(a) = &mut c.agg {
                        a.args.iter_mut().for_each(&mut *f);
                        if let Some(x) = &mut a.filter {
                            f(x);
                        }
                    }
                }
                input.for_each_expr_mut(f);
            }
            Plan::RecursiveCte { anchor, step, .. } => {
                anchor.for_each_expr_mut(f);
                step.for_each_expr_mut(f);
            }
            Plan::WorkTable { .. } => {}
            Plan::NestedLoop {
                left, right, on, ..
            } => {
                if let Some(x) = on {
                    f(x);
                }
                left.for_each_expr_mut(f);
                right.for_each_expr_mut(f);
            }
            Plan::HashJoin {
                left,
                right,
                left_keys,
                right_keys,
                on,
                ..
            } => {
                left_keys.iter_mut().for_each(&mut *f);
                right_keys.iter_mut().for_each(&mut *f);
                if let Some(x) = on {
                    f(x);
                }
                left.for_each_expr_mut(f);
                right.for_each_expr_mut(f);
            }
        }
    }

    pub fn columns(&self) -> Vec<Column> {
        match self {
            Plan::Values { columns, .. }
            | Plan::Project { columns, .. }
            | Plan::Aggregate { columns, .. }
            | Plan::RecursiveCte { columns, .. }
            | Plan::Window { columns, .. }
            | Plan::WorkTable { columns, .. }
            | Plan::SessionRelation { columns, .. } => columns.clone(),
            Plan::SetOp { left, .. } => crate::stack::guard(|| left.columns()),
            Plan::Scan(s) => s
                .table
                .columns
                .iter()
                .map(|c| Column {
                    name: c.name.clone(),
                    ty: c.ty.clone(),
                })
                .collect(),
            Plan::Series { column, .. } => vec![column.clone()],
            Plan::Filter { input, .. }
            | Plan::Sort { input, .. }
            | Plan::Limit { input, .. }
            | Plan::Distinct { input, .. } => input.columns(),
            Plan::NestedLoop {
                left, right, kind, ..
            }
            | Plan::HashJoin {
                left, right, kind, ..
            } => {
                let mut c = left.columns();
                if kind.has_right_columns() {
                    c.extend(right.columns());
                }
                c
            }
            Plan::Truncate { input, keep } => {
                let mut c = input.columns();
                c.truncate(*keep);
                c
            }
            Plan::Barrier { input } => input.columns(),
        }
    }

    /// EXPLAIN output, one line per entry, in PostgreSQL's tree style.
    pub fn explain(&self) -> Vec<String> {
        self.explain_annotated(&|_| None)
    }

    /// EXPLAIN output with extra text appended to each operator's line
    /// (EXPLAIN ANALYZE's actual rows and times).
    pub fn explain_annotated(&self, note: &dyn Fn(&Plan) -> Option<String>) -> Vec<String> {
        let mut out = Vec::new();
        self.explain_into(&mut out, 0, note);
        out
    }

    fn explain_into(
        &self,
        out: &mut Vec<String>,
        depth: usize,
        note: &dyn Fn(&Plan) -> Option<String>,
    ) {
        let at = out.len();
        crate::stack::guard(|| self.explain_node(out, depth, note));
        // Subqueries of this node's expressions, as PostgreSQL's SubPlans.
        let mut subplans: Vec<Arc<crate::sql::expr::Subquery>> = Vec::new();
        for e in self.node_exprs() {
            e.walk(&mut |x| {
                if let Expr::Subquery { sq, .. } = x {
                    subplans.push(sq.clone());
                }
            });
        }
        for sq in subplans {
            out.push(format!("{}SubPlan {}", " ".repeat(2 + depth * 6), sq.id));
            sq.plan.explain_into(out, depth + 1, note);
        }
        // Projections print no line of their own (their input's line follows).
        if !matches!(
            self,
            Plan::Project { .. } | Plan::Truncate { .. } | Plan::Barrier { .. }
        ) && let (Some(line), Some(extra)) = (out.get_mut(at), note(self))
        {
            line.push_str(&extra);
        }
    }

    fn explain_node(
        &self,
        out: &mut Vec<String>,
        depth: usize,
        note: &dyn Fn(&Plan) -> Option<String>,
    ) {
        // PostgreSQL's layout: children start with "->  " two spaces in from
        // their parent's text; detail lines are indented under their node.
        let pad = if depth == 0 {
            String::new()
        } else {
            format!("{}->  ", " ".repeat(depth * 6 - 4))
        };
        let detail_pad = " ".repeat(2 + depth * 6);
        let in_names = |p: &Plan| {
            let cols = p.columns();
            move |i: usize| {
                cols.get(i)
                    .map(|c| c.name.clone())
                    .unwrap_or_else(|| format!("#{i}"))
            }
        };
        match self {
            Plan::Values { rows, .. } => {
                if rows.len() == 1 && rows[0].is_empty() {
                    out.push(format!("{pad}Result"));
                } else {
                    out.push(format!("{pad}Values Scan ({} rows)", rows.len()));
                }
            }
            Plan::Scan(s) => {
                let cols: Vec<String> = s.table.columns.iter().map(|c| c.name.clone()).collect();
                let names = |i: usize| cols.get(i).cloned().unwrap_or_else(|| format!("#{i}"));
                let target = match &s.alias {
                    Some(a) if *a != s.table.name => format!("{} {}", s.table.name, a),
                    _ => s.table.name.clone(),
                };
                match &s.access {
                    Access::Full => out.push(format!("{pad}Seq Scan on {target}")),
                    Access::Index {
                        index,
                        eq,
                        lower,
                        upper,
                        in_list,
                    } => {
                        let (iname, key_cols): (String, Vec<usize>) = match index {
                            Some(ix) => (ix.name.clone(), ix.columns.clone()),
                            None => (
                                s.table
                                    .pk_name
                                    .clone()
                                    .unwrap_or_else(|| format!("{}_pkey", s.table.name)),
                                s.table.primary_key.clone(),
                            ),
                        };
                        out.push(format!("{pad}Index Scan using {iname} on {target}"));
                        let mut conds = Vec::new();
                        for (i, e) in eq.iter().enumerate() {
                            conds.push(format!("({} = {})", names(key_cols[i]), e.render(&names)));
                        }
                        let next = key_cols
                            .get(eq.len())
                            .map(|&c| names(c))
                            .unwrap_or_default();
                        if let Some(list) = in_list {
                            let vals: Vec<String> = list.iter().map(|e| e.render(&names)).collect();
                            conds.push(format!("({next} = ANY (ARRAY[{}]))", vals.join(", ")));
                        }
                        if let Some((e, incl)) = lower {
                            conds.push(format!(
                                "({next} {} {})",
                                if *incl { ">=" } else { ">" },
                                e.render(&names)
                            ));
                        }
                        if let Some((e, incl)) = upper {
                            conds.push(format!(
                                "({next} {} {})",
                                if *incl { "<=" } else { "<" },
                                e.render(&names)
                            ));
                        }
                        if !conds.is_empty() {
                            out.push(format!("{detail_pad}Index Cond: {}", conds.join(" AND ")));
                        }
                    }
                }
                if let Some(f) = &s.filter {
                    out.push(format!("{detail_pad}Filter: {}", f.render(&names)));
                }
            }
            Plan::Series { .. } => out.push(format!("{pad}Function Scan on generate_series")),
            Plan::Filter { input, predicate } => {
                out.push(format!("{pad}Filter"));
                out.push(format!(
                    "{detail_pad}Filter: {}",
                    predicate.render(&in_names(input))
                ));
                input.explain_into(out, depth + 1, note);
            }
            Plan::Project { input, .. } => {
                // Projections are folded into their input in PostgreSQL's output.
                input.explain_into(out, depth, note);
            }
            Plan::Truncate { input, .. } | Plan::Barrier { input } => {
                input.explain_into(out, depth, note)
            }
            Plan::SetOp {
                op,
                all,
                left,
                right,
            } => {
                let name = match (op, all) {
                    (SetOpKind::Union, true) => "Append",
                    (SetOpKind::Union, false) => "HashAggregate (union)",
                    (SetOpKind::Intersect, true) => "HashSetOp Intersect All",
                    (SetOpKind::Intersect, false) => "HashSetOp Intersect",
                    (SetOpKind::Except, true) => "HashSetOp Except All",
                    (SetOpKind::Except, false) => "HashSetOp Except",
                };
                out.push(format!("{pad}{name}"));
                left.explain_into(out, depth + 1, note);
                right.explain_into(out, depth + 1, note);
            }
            Plan::Window { input, .. } => {
                out.push(format!("{pad}WindowAgg"));
                input.explain_into(out, depth + 1, note);
            }
            Plan::RecursiveCte { anchor, step, .. } => {
                out.push(format!("{pad}Recursive Union"));
                anchor.explain_into(out, depth + 1, note);
                step.explain_into(out, depth + 1, note);
            }
            Plan::WorkTable { .. } => out.push(format!("{pad}WorkTable Scan")),
            Plan::SessionRelation { name, .. } => out.push(format!("{pad}Function Scan on {name}")),
            Plan::Aggregate {
                input, group_by, ..
            } => {
                if group_by.is_empty() {
                    out.push(format!("{pad}Aggregate"));
                } else {
                    out.push(format!("{pad}HashAggregate"));
                    let names = in_names(input);
                    let keys: Vec<String> = group_by.iter().map(|e| e.render(&names)).collect();
                    out.push(format!("{detail_pad}Group Key: {}", keys.join(", ")));
                }
                input.explain_into(out, depth + 1, note);
            }
            Plan::Sort { input, keys } => {
                out.push(format!("{pad}Sort"));
                let names = in_names(input);
                let k: Vec<String> = keys
                    .iter()
                    .map(|k| {
                        let mut s = k.expr.render(&names);
                        if k.desc {
                            s += " DESC";
                        }
                        if k.nulls_first != k.desc {
                            s += if k.nulls_first {
                                " NULLS FIRST"
                            } else {
                                " NULLS LAST"
                            };
                        }
                        s
                    })
                    .collect();
                out.push(format!("{detail_pad}Sort Key: {}", k.join(", ")));
                input.explain_into(out, depth + 1, note);
            }
            Plan::Limit { input, .. } => {
                out.push(format!("{pad}Limit"));
                input.explain_into(out, depth + 1, note);
            }
            Plan::Distinct { input, on: Some(_) } => {
                out.push(format!("{pad}Unique"));
                input.explain_into(out, depth + 1, note);
            }
            Plan::Distinct { input, on: None } => {
                out.push(format!("{pad}HashAggregate (distinct)"));
                input.explain_into(out, depth + 1, note);
            }
            Plan::NestedLoop {
                left,
                right,
                kind,
                on,
                ..
            } => {
                out.push(format!("{pad}Nested Loop{}", kind.label()));
                let mut cols = left.columns();
                cols.extend(right.columns());
                let names = |i: usize| cols.get(i).map(|c| c.name.clone()).unwrap_or_default();
                if let Some(on) = on {
                    out.push(format!("{detail_pad}Join Filter: {}", on.render(&names)));
                }
                left.explain_into(out, depth + 1, note);
                right.explain_into(out, depth + 1, note);
            }
            Plan::HashJoin {
                left,
                right,
                kind,
                left_keys,
                right_keys,
                on,
            } => {
                out.push(format!(
                    "{pad}Hash{} Join",
                    kind.label().trim_end_matches(" Join")
                ));
                let ln = in_names(left);
                let rn = in_names(right);
                let conds: Vec<String> = left_keys
                    .iter()
                    .zip(right_keys)
                    .map(|(l, r)| format!("({} = {})", l.render(&ln), r.render(&rn)))
                    .collect();
                out.push(format!("{detail_pad}Hash Cond: {}", conds.join(" AND ")));
                if let Some(on) = on {
                    let mut cols = left.columns();
                    cols.extend(right.columns());
                    let names = |i: usize| cols.get(i).map(|c| c.name.clone()).unwrap_or_default();
                    out.push(format!("{detail_pad}Join Filter: {}", on.render(&names)));
                }
                left.explain_into(out, depth + 1, note);
                out.push(format!("{}->  Hash", " ".repeat(depth * 6 + 2)));
                right.explain_into(out, depth + 2, note);
            }
        }
    }
}
