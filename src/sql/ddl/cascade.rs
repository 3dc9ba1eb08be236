//! What DROP ... CASCADE drops besides the objects it names, reported the
//! way PostgreSQL does: `NOTICE: drop cascades to view v`, or for several
//! objects `drop cascades to N other objects` with one DETAIL line each.
//!
//! The walk mirrors what the drop functions remove: views reading a dropped
//! relation (transitively), foreign keys of other tables referencing a
//! dropped table, the default of a column using a dropped sequence, and
//! every table, view, sequence and domain of a dropped schema (with the
//! columns of other tables that are of its domains). Objects that go with
//! their owner without a word in PostgreSQL (indexes, a serial column's
//! sequence, constraints of a dropped table) are not listed.

use super::DdlCtx;
use crate::notice::Notice;
use crate::sql::system::display_name;
use std::collections::BTreeSet;

/// An object a DROP statement names.
pub(super) enum DropRoot {
    Table(u32),
    Index(u32),
    Sequence(u32),
    View(u32),
    Schema(String),
}

/// PostgreSQL lists at most this many objects in the DETAIL.
const MAX_REPORTED: usize = 100;

/// An object the cascade drops: what it is, for ordering and for leaving
/// out constraints whose own table is dropped too.
enum Dropped {
    Relation,
    /// A foreign key on table `.0`.
    OnTable(u32),
}

impl DdlCtx<'_> {
    /// Raises the `drop cascades to ...` notice for dropping `roots` with
    /// CASCADE (nothing when nothing else is dropped).
    pub(super) fn report_cascade(&self, roots: &[DropRoot]) {
        let items = self.cascade_items(roots);
        self.report_dropped(&items);
    }

    /// The `drop cascades to ...` notice for `items` (nothing when empty).
    pub(super) fn report_dropped(&self, items: &[String]) {
        let notice = match items {
            [] => return,
            [one] => Notice::plain(format!("drop cascades to {one}")),
            many => {
                let mut lines: Vec<String> = many
                    .iter()
                    .take(MAX_REPORTED)
                    .map(|d| format!("drop cascades to {d}"))
                    .collect();
                if many.len() > MAX_REPORTED {
                    lines.push(format!(
                        "and {} other objects (see server log for list)",
                        many.len() - MAX_REPORTED
                    ));
                }
                Notice::plain(format!("drop cascades to {} other objects", many.len()))
                    .with_detail(lines.join("\n"))
            }
        };
        self.env.notice(notice);
    }

    /// Descriptions of what the cascade drops besides `roots`, in creation order.
    pub(super) fn cascade_items(&self, roots: &[DropRoot]) -> Vec<String> {
        let cat = &self.catalog;
        let name = |schema: &str, n: &str| display_name(cat, self.search_path, schema, n);
        let describe = |id: u32| -> Option<String> {
            if let Some(t) = cat.tables.get(&id) {
                return Some(format!("table {}", name(&t.schema, &t.name)));
            }
            if let Some(v) = cat.views.get(&id) {
                return Some(format!("view {}", name(&v.schema, &v.name)));
            }
            cat.sequences
                .get(&id)
                .map(|s| format!("sequence {}", name(&s.schema, &s.name)))
        };
        let mut named = BTreeSet::new();
        let mut queue = Vec::new();
        let mut items: Vec<(u32, Dropped, String)> = Vec::new();
        for root in roots {
            match root {
                DropRoot::Table(id) | DropRoot::View(id) => {
                    named.insert(*id);
                    queue.push(*id);
                }
                DropRoot::Index(_) => {}
                DropRoot::Sequence(id) => {
                    named.insert(*id);
                    // The column default that draws from it goes.
                    if let Some(s) = cat.sequences.get(id)
                        && let Some((tid, col)) = s.owned_by
                        && let Some(t) = cat.tables.get(&tid)
                        && t.columns.get(col).is_some_and(|c| c.default.is_some())
                    {
                        let what = format!(
                            "default value for column {} of table {}",
                            t.columns[col].name,
                            name(&t.schema, &t.name)
                        );
                        items.push((tid, Dropped::OnTable(tid), what));
                    }
                }
                DropRoot::Schema(n) => {
                    let members = cat
                        .tables
                        .values()
                        .filter(|t| &t.schema == n)
                        .map(|t| t.id)
                        .chain(cat.views.values().filter(|v| &v.schema == n).map(|v| v.id))
                        .chain(
                            cat.sequences
                                .values()
                                .filter(|s| &s.schema == n && s.owned_by.is_none() && !s.internal)
                                .map(|s| s.id),
                        );
                    for id in members {
                        if let Some(d) = describe(id) {
                            items.push((id, Dropped::Relation, d));
                        }
                        queue.push(id);
                    }
                    // Types, and the columns of other tables of them.
                    for t in cat.composites.values().filter(|t| &t.schema == n) {
                        items.push((
                            t.id,
                            Dropped::Relation,
                            format!("type {}", name(&t.schema, &t.name)),
                        ));
                        for tab in cat.tables.values().filter(|tab| &tab.schema != n) {
                            for c in tab.columns.iter().filter(|c| {
                                c.domain.is_none() && super::composite::mentions_type(&c.ty, t.id)
                            }) {
                                let what = format!(
                                    "column {} of table {}",
                                    c.name,
                                    name(&tab.schema, &tab.name)
                                );
                                items.push((tab.id, Dropped::OnTable(tab.id), what));
                            }
                        }
                    }
                    for d in cat.domains.values().filter(|d| &d.schema == n) {
                        items.push((
                            d.id,
                            Dropped::Relation,
                            format!("type {}", name(&d.schema, &d.name)),
                        ));
                        for t in cat.tables.values().filter(|t| &t.schema != n) {
                            for c in t.columns.iter().filter(|c| c.domain == Some(d.id)) {
                                let what = format!(
                                    "column {} of table {}",
                                    c.name,
                                    name(&t.schema, &t.name)
                                );
                                items.push((t.id, Dropped::OnTable(t.id), what));
                            }
                        }
                    }
                }
            }
        }
        let mut seen = BTreeSet::new();
        while let Some(id) = queue.pop() {
            if !seen.insert(id) {
                continue;
            }
            for v in cat.views_depending_on(id) {
                if !named.contains(&v.id) && !seen.contains(&v.id) {
                    items.push((
                        v.id,
                        Dropped::Relation,
                        format!("view {}", name(&v.schema, &v.name)),
                    ));
                    queue.push(v.id);
                }
            }
            for (t, p) in cat.policies_depending_on(id) {
                let what = format!("policy {} on table {}", p.name, name(&t.schema, &t.name));
                items.push((p.id, Dropped::OnTable(t.id), what));
            }
            if cat.tables.contains_key(&id) {
                for child in cat.referencing(id) {
                    for fk in child.foreign_keys.iter().filter(|f| f.ref_table == id) {
                        if child.id != id {
                            let what = format!(
                                "constraint {} on table {}",
                                fk.name,
                                name(&child.schema, &child.name)
                            );
                            items.push((child.id, Dropped::OnTable(child.id), what));
                        }
                    }
                }
            }
        }
        // A constraint or default of a table that is dropped itself goes unmentioned.
        items.retain(|(_, kind, _)| match kind {
            Dropped::OnTable(t) => !seen.contains(t) && !named.contains(t),
            Dropped::Relation => true,
        });
        items.sort_by_key(|(id, _, _)| *id);
        let mut out: Vec<String> = Vec::new();
        for (_, _, d) in items {
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out
    }
}
