//! Correlated `EXISTS` / `NOT EXISTS`, and correlated aggregates compared
//! with a value, turned into joins of the enclosing query.
//!
//! Bound as written, a correlated subquery over one table gathers that
//! table once (an init plan) and probes it for every row of the enclosing
//! query. Where the subquery is a conjunct of the WHERE clause and finds
//! its rows by equalities with the enclosing row, it is instead a semi
//! join (`EXISTS`) or an anti join (`NOT EXISTS`) of the enclosing FROM
//! with the table: the join machinery may then read the table by key
//! (an index nested-loop join, when the enclosing rows give few keys) or
//! hash it once, as PostgreSQL's planner does with such subqueries.
//!
//! Likewise `x < (SELECT 0.2 * avg(q) FROM t WHERE t.k = outer.k)` (TPC-H
//! Q17): the subquery grouped by its correlation keys is one more FROM
//! item, joined on those keys, and the comparison reads its value. A
//! missing group gives no joined row where the subquery would give NULL,
//! and a comparison with NULL is never true, so the two agree when the
//! subquery's value over no rows is NULL (not for `count`). A subquery
//! over several tables (TPC-H Q2) is grouped alike when its FROM is
//! inner joins and one of its tables alone is found by the correlation
//! equalities; the join with it then reads that table only for the
//! enclosing rows' keys (`join::narrowed_groups`).

use std::sync::Arc;

use tessera_types::{DataType, TableDef, Value};

use super::{plain_scan_exprs, runs_per_row, Binder, ItemInput, JoinTree, Scope, ScopeItem};
use crate::aggregate::AggState;
use crate::expr::{BinaryOp, Expr, Params, Subquery, SubqueryKind, SubqueryRows};
use crate::plan::{
    AggCall, AggregateFinal, FragmentOutput, Join, JoinKind, Plan, SelectPlan, Source,
};

/// A correlated subquery over one table that [`Binder::probed_table`]
/// finds: its query and what it reads the table through.
struct Probed<'p> {
    plan: &'p SelectPlan,
    /// The init plan gathering the table's rows.
    init: usize,
    /// Equalities `(inner, outer)` of the table's row with outer values.
    keys: &'p [(Expr, Expr)],
    /// The init plan's query: a plain scan of the table with the
    /// subquery's conditions that do not read the enclosing row.
    scan: &'p SelectPlan,
    /// Columns of its rows.
    width: usize,
    /// Rows of the table expected to pass those conditions.
    rows: f64,
}

/// The conjuncts made joins, each with its condition, and the rest.
type Taken<J> = (Vec<(J, Expr)>, Vec<Expr>);

/// `[NOT] EXISTS (SELECT … FROM t WHERE …)` as a join with `t`'s rows.
pub(super) struct SemiJoin {
    kind: JoinKind,
    /// The subquery's init plan, dropped once the join replaces it.
    init: usize,
    /// `t`'s rows, read with the subquery's conditions that do not read
    /// the enclosing row.
    plan: Arc<Plan>,
    /// Columns of those rows.
    pub(super) width: usize,
    /// Equalities `(inner, outer)`: over `t`'s row, and over the
    /// subquery's outer values.
    keys: Vec<(Expr, Expr)>,
    /// The subquery's other conditions, over both.
    residual: Option<Expr>,
    /// What the outer values are: expressions over the enclosing row.
    args: Vec<Expr>,
    /// Rows of `t` expected to pass its conditions.
    rows: f64,
}

impl SemiJoin {
    /// The join of `left` (rows `width` wide) with `t`'s rows placed at
    /// `offset`.
    pub(super) fn join(self, left: Source, offset: usize, width: usize) -> Source {
        let over_row = |e: &Expr| over_joined_row(e, offset, &self.args);
        let keys = self
            .keys
            .iter()
            .map(|(inner, outer)| (over_row(outer), over_row(inner)))
            .collect();
        let residual = self.residual.as_ref().map(over_row);
        Source::Join(Box::new(Join {
            kind: self.kind,
            left,
            right: Source::Query {
                plan: self.plan,
                offset,
                width,
            },
            right_columns: vec![(offset, self.width)],
            keys,
            residual,
        }))
    }
}

impl Binder<'_> {
    /// Takes the conjuncts of an uncorrelated query's `filter` that are
    /// semi or anti joins (see [`SemiJoin`]) out of it (a FROM of one
    /// table only as [`Binder::take_joins`] says).
    pub(super) fn semi_joins(
        &mut self,
        filter: Option<Expr>,
        scope: &mut Scope,
    ) -> (Option<Expr>, Vec<SemiJoin>) {
        let Some(filter) = filter else {
            return (None, vec![]);
        };
        let (joins, rest) = match self.take_joins(filter, scope, Self::semi_join_of, |j| j.rows) {
            Ok(taken) => taken,
            Err(filter) => return (filter, vec![]),
        };
        let joins: Vec<SemiJoin> = joins.into_iter().map(|(j, _)| j).collect();
        for j in &joins {
            self.init[j.init].dropped = true;
        }
        (Expr::all(rest), joins)
    }

    /// The conjuncts of `filter` that `of` makes joins of, and the rest;
    /// `Err` with the condition to keep when there are none. A FROM of
    /// one table becomes an item among several (its query then runs on
    /// the router over the joined rows) only for joins whose table is
    /// expected to give more rows than it (`rows`): else reading it on
    /// the shards, each probing the subquery's gathered rows, is cheaper
    /// than gathering it.
    fn take_joins<J>(
        &self,
        filter: Expr,
        scope: &mut Scope,
        of: impl Fn(&Self, &Expr) -> Option<J>,
        rows: impl Fn(&J) -> f64,
    ) -> Result<Taken<J>, Option<Expr>> {
        let single = match (&scope.table, &scope.series) {
            _ if !scope.items.is_empty() => None,
            (Some(table), None) => Some(table.clone()),
            _ => return Err(Some(filter)),
        };
        let mut conjuncts = Vec::new();
        filter.conjunct_refs(&mut conjuncts);
        if !conjuncts.iter().any(|c| of(self, c).is_some()) {
            return Err(Some(filter));
        }
        let mut joins = Vec::new();
        let mut rest = Vec::new();
        for c in filter.conjuncts() {
            match of(self, &c) {
                Some(join) => joins.push((join, c)),
                None => rest.push(c),
            }
        }
        if let Some(table) = single {
            let own = rest
                .iter()
                .filter(|c| !c.uses_outer() && !runs_per_row(c))
                .cloned()
                .collect();
            let outer_rows = self.estimate_table_rows(&table, own);
            let (taken, kept): (Vec<_>, Vec<_>) =
                joins.into_iter().partition(|(j, _)| outer_rows <= rows(j));
            rest.extend(kept.into_iter().map(|(_, c)| c));
            if taken.is_empty() {
                return Err(Expr::all(rest));
            }
            as_item(scope, table);
            joins = taken;
        }
        Ok((joins, rest))
    }

    /// `sub`'s one table, when it is a correlated subquery reading it as
    /// an init plan found by probe keys, with no window or OFFSET, whose
    /// outer values are the enclosing row's own.
    fn probed_table<'p>(&'p self, sub: &'p Subquery) -> Option<Probed<'p>> {
        let SubqueryRows::PerRow(plan) = &sub.query else {
            return None;
        };
        let Some(Source::Probe { init, keys }) = &plan.source else {
            return None;
        };
        let gathered = self.init.get(*init)?;
        if gathered.place.is_some() || gathered.dropped {
            return None;
        }
        let Plan::Select(scan) = &*gathered.plan else {
            return None;
        };
        let width = plain_scan_exprs(scan)?.len();
        let table: &TableDef = scan.fragment.table.as_deref()?;
        let f = &plan.fragment;
        let simple = plan.window.is_none()
            && plan.offset.is_none()
            && f.table.is_none()
            && f.series.is_none()
            && !sub.args.iter().any(Expr::uses_outer);
        if !simple {
            return None;
        }
        let own = scan.fragment.filter.clone().map(Expr::conjuncts);
        Some(Probed {
            plan,
            init: *init,
            keys,
            scan,
            width,
            rows: self.estimate_table_rows(table, own.unwrap_or_default()),
        })
    }

    /// `c` as a semi or anti join, when it is `[NOT] EXISTS` of a query
    /// over one table (its rows an init plan), correlated by equalities,
    /// without aggregates, windows or OFFSET.
    fn semi_join_of(&self, c: &Expr) -> Option<SemiJoin> {
        let (kind, e) = match c {
            Expr::Not(e) => (JoinKind::Anti, &**e),
            e => (JoinKind::Semi, e),
        };
        let Expr::Subquery(sub) = e else {
            return None;
        };
        if !matches!(sub.kind, SubqueryKind::Exists) {
            return None;
        }
        let probed = self.probed_table(sub)?;
        let plan = probed.plan;
        let limit_ok = match &plan.limit {
            None => true,
            Some(Expr::Literal(Value::Int8(n))) => *n > 0,
            Some(Expr::Literal(Value::Int4(n))) => *n > 0,
            _ => false,
        };
        let filter = &plan.fragment.filter;
        if !limit_ok || plan.aggregate.is_some() || filter.as_ref().is_some_and(runs_per_row) {
            return None;
        }
        Some(SemiJoin {
            kind,
            init: probed.init,
            plan: Arc::new(Plan::Select(Box::new(probed.scan.clone()))),
            width: probed.width,
            keys: probed.keys.to_vec(),
            residual: filter.clone(),
            args: sub.args.clone(),
            rows: probed.rows,
        })
    }
}

/// `e`, over the subquery's table row and outer values, as an expression
/// over the enclosing query's joined row: the table's columns placed at
/// `offset`, each outer value its argument (an expression over that row).
fn over_joined_row(e: &Expr, offset: usize, args: &[Expr]) -> Expr {
    e.map_refs(&|c| Expr::Column(offset + c), &|n| {
        args.get(n).cloned().unwrap_or_else(Expr::literal_null)
    })
}

/// Makes a FROM of one table the first of several items, at offset 0,
/// so that the expressions bound over its row read the joined row alike.
fn as_item(scope: &mut Scope, table: Arc<TableDef>) {
    let columns: Vec<_> = table
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.data_type))
        .collect();
    scope.items.push(ScopeItem {
        qualifier: scope
            .qualifier
            .clone()
            .unwrap_or_else(|| table.name.clone()),
        hidden: vec![false; columns.len()],
        columns,
        offset: 0,
        input: Some(ItemInput::Table(table)),
        nullable: false,
        probe: Vec::new(),
        scalar_function: false,
        catalog_oid: None,
    });
    scope.tree = Some(JoinTree::Item(0));
    scope.table = None;
}

/// A correlated aggregate compared with a value, as a grouped FROM item
/// (see the module's comment).
struct GroupedJoin {
    /// The subquery's init plans, dropped once the join replaces it.
    inits: Vec<usize>,
    /// `t`'s rows grouped by the correlation keys: rows of the keys'
    /// values, then the subquery's value.
    plan: SelectPlan,
    /// The enclosing row's side of each key, over the enclosing row.
    outer: Vec<Expr>,
    /// Rows of `t` expected to pass its conditions (at most as many
    /// groups).
    rows: f64,
}

impl Binder<'_> {
    /// Rewrites the conjuncts of `filter` that compare a value with a
    /// correlated aggregate (see [`GroupedJoin`]) to read a grouped FROM
    /// item added to `scope` instead, joined on the correlation keys. A
    /// FROM of one table becomes an item among several only when its rows
    /// are expected to be fewer than the subquery's table's.
    pub(super) fn grouped_joins(
        &mut self,
        filter: Option<Expr>,
        scope: &mut Scope,
    ) -> Option<Expr> {
        let (joins, rest) = match self.take_joins(filter?, scope, Self::grouped_join_of, |j| j.rows)
        {
            Ok(taken) => taken,
            Err(filter) => return filter,
        };
        for (join, c) in joins {
            for &init in &join.inits {
                self.init[init].dropped = true;
            }
            let offset = scope.width(0, scope.items.len());
            // The join's condition: the keys, and the comparison (an inner
            // join over the whole FROM filters as WHERE does).
            let keys = join.outer.len();
            let mut on: Vec<Expr> = join
                .outer
                .into_iter()
                .enumerate()
                .map(|(k, outer)| Expr::Binary {
                    op: BinaryOp::Eq,
                    left: Box::new(outer),
                    right: Box::new(Expr::Column(offset + k)),
                })
                .collect();
            on.push(with_value(c, Expr::Column(offset + keys)));
            let n = scope.items.len();
            scope.items.push(ScopeItem {
                qualifier: format!("\u{0}grouped subquery {n}"),
                columns: (0..=keys)
                    .map(|k| (format!("\u{0}{k}"), DataType::Unknown))
                    .collect(),
                hidden: vec![true; keys + 1],
                offset,
                input: Some(ItemInput::Grouped(Box::new(join.plan), join.rows)),
                nullable: false,
                probe: Vec::new(),
                scalar_function: false,
                catalog_oid: None,
            });
            let tree = scope.tree.take().unwrap_or(JoinTree::Item(0));
            let first = tree.range().0;
            scope.tree = Some(JoinTree::Join {
                kind: JoinKind::Inner,
                left: Box::new(tree),
                right: Box::new(JoinTree::Item(n)),
                on,
                first,
                split: n,
                end: n + 1,
            });
        }
        Expr::all(rest)
    }

    /// `c` as a grouped join, when it compares a value with a scalar
    /// subquery over one table (its rows an init plan) that aggregates
    /// without GROUP BY, is correlated by equalities only, and is NULL
    /// over no rows.
    fn grouped_join_of(&self, c: &Expr) -> Option<GroupedJoin> {
        let Expr::Binary { op, left, right } = c else {
            return None;
        };
        if !op.is_comparison() {
            return None;
        }
        let sub = match (scalar_subquery(left), scalar_subquery(right)) {
            (Some(sub), None) => sub,
            (None, Some(sub)) => sub,
            _ => return None,
        };
        let base = match self.probed_table(sub) {
            Some(probed) if probed.plan.fragment.filter.is_none() => GroupedBase {
                plan: probed.plan,
                inits: vec![probed.init],
                keys: probed.keys,
                grouped: probed.scan.clone(),
                rows: probed.rows,
            },
            Some(_) => return None,
            None => self.gathered_joins(sub)?,
        };
        let (plan, keys) = (base.plan, base.keys);
        let f = &plan.fragment;
        let FragmentOutput::PartialAggregate {
            group_by,
            aggs,
            sets,
        } = &f.output
        else {
            return None;
        };
        let last = plan.aggregate.as_ref()?;
        let simple = group_by.is_empty()
            && sets.is_empty()
            && last.group_count == 0
            && last.output.len() == 1
            && plan.visible == 1
            && !aggs.iter().any(AggCall::needs_one_place)
            && plan.limit.is_none()
            && !plan.distinct
            && plan.distinct_on.is_empty()
            && plan.order_by.is_empty()
            && !f
                .filter
                .as_ref()
                .is_some_and(|e| e.uses_outer() || runs_per_row(e))
            && !last.having.as_ref().is_some_and(Expr::uses_outer)
            && !last.output[0].uses_outer();
        if !simple || !null_without_rows(last) {
            return None;
        }
        let n = keys.len();
        let shifted = |e: &Expr| e.map_columns(&|c| c + n);
        let mut grouped = base.grouped;
        grouped.fragment.output = FragmentOutput::PartialAggregate {
            group_by: keys.iter().map(|(inner, _)| inner.clone()).collect(),
            aggs: aggs.clone(),
            sets: vec![],
        };
        grouped.aggregate = Some(AggregateFinal {
            group_count: n,
            aggs: last.aggs.clone(),
            having: last.having.as_ref().map(shifted),
            output: (0..n)
                .map(Expr::Column)
                .chain([shifted(&last.output[0])])
                .collect(),
        });
        grouped.visible = n + 1;
        let outer = keys
            .iter()
            .map(|(_, outer)| over_joined_row(outer, 0, &sub.args))
            .collect();
        if grouped.uses_outer() {
            return None;
        }
        Some(GroupedJoin {
            inits: base.inits,
            plan: grouped,
            outer,
            rows: base.rows,
        })
    }
}

/// What a correlated aggregate is grouped over: its query, the init
/// plans it reads, its correlation keys, and its rows before grouping as
/// a query of the enclosing one's (reading no outer value).
struct GroupedBase<'p> {
    plan: &'p SelectPlan,
    inits: Vec<usize>,
    /// Equalities `(inner, outer)`: the group keys, and what they are
    /// joined with.
    keys: &'p [(Expr, Expr)],
    grouped: SelectPlan,
    /// Rows of the correlated table expected to pass its conditions.
    rows: f64,
}

impl Binder<'_> {
    /// `sub`, a correlated query over several tables joined on the router
    /// (TPC-H Q2's `min(ps_supplycost)` over partsupp, supplier, nation
    /// and region), as a query of the enclosing one: when its FROM is
    /// inner joins of init plans, exactly one of them found by probe keys
    /// (its equalities with the enclosing row), each init plan becomes
    /// its table's scan again, read once for all groups.
    fn gathered_joins<'p>(&'p self, sub: &'p Subquery) -> Option<GroupedBase<'p>> {
        let SubqueryRows::PerRow(plan) = &sub.query else {
            return None;
        };
        let f = &plan.fragment;
        let simple = plan.window.is_none()
            && plan.offset.is_none()
            && f.table.is_none()
            && f.series.is_none()
            && !sub.args.iter().any(Expr::uses_outer);
        let source @ Source::Join(_) = plan.source.as_ref().filter(|_| simple)? else {
            return None;
        };
        let mut inits = Vec::new();
        let mut probe = None;
        let source = self.ungathered(source, &mut inits, &mut probe)?;
        let (init, keys) = probe?;
        let Plan::Select(scan) = &*self.init[init].plan else {
            return None;
        };
        let table = scan.fragment.table.as_deref()?;
        let own = scan.fragment.filter.clone().map(Expr::conjuncts);
        let mut grouped = (**plan).clone();
        grouped.source = Some(source);
        Some(GroupedBase {
            plan,
            inits,
            keys,
            grouped,
            rows: self.estimate_table_rows(table, own.unwrap_or_default()),
        })
    }

    /// `source` (inner joins of init plans placed in the joined row, the
    /// FROM of a correlated query) with each init plan its query again;
    /// `None` for any other FROM. Collects the init plans, and the one
    /// found by probe keys with its keys.
    fn ungathered<'p>(
        &self,
        source: &'p Source,
        inits: &mut Vec<usize>,
        probe: &mut Option<(usize, &'p [(Expr, Expr)])>,
    ) -> Option<Source> {
        let placed = |n: usize| {
            let init = self.init.get(n).filter(|i| !i.dropped)?;
            let (offset, width) = init.place?;
            Some(Source::Query {
                plan: init.plan.clone(),
                offset,
                width,
            })
        };
        match source {
            Source::Init(n) => {
                inits.push(*n);
                placed(*n)
            }
            Source::Probe { init, keys } if probe.is_none() => {
                inits.push(*init);
                *probe = Some((*init, keys));
                placed(*init)
            }
            Source::Join(join) if join.kind == JoinKind::Inner => {
                let closed = !join
                    .keys
                    .iter()
                    .any(|(l, r)| l.uses_outer() || r.uses_outer())
                    && !join.residual.as_ref().is_some_and(Expr::uses_outer);
                if !closed {
                    return None;
                }
                let left = self.ungathered(&join.left, inits, probe)?;
                let right = self.ungathered(&join.right, inits, probe)?;
                Some(Source::Join(Box::new(Join {
                    kind: join.kind,
                    left,
                    right,
                    right_columns: join.right_columns.clone(),
                    keys: join.keys.clone(),
                    residual: join.residual.clone(),
                })))
            }
            _ => None,
        }
    }
}

/// The scalar subquery `e` is, possibly under a cast.
fn scalar_subquery(e: &Expr) -> Option<&Subquery> {
    match e {
        Expr::Subquery(sub) if matches!(sub.kind, SubqueryKind::Scalar) => Some(sub),
        Expr::Cast { expr, .. } => scalar_subquery(expr),
        _ => None,
    }
}

/// `c` (a comparison one side of which is a scalar subquery, see
/// [`scalar_subquery`]) with `value` in the subquery's place.
fn with_value(c: Expr, value: Expr) -> Expr {
    fn replace(e: Expr, value: Expr) -> Expr {
        match e {
            Expr::Cast { expr, to, explicit } => Expr::Cast {
                expr: Box::new(replace(*expr, value)),
                to,
                explicit,
            },
            _ => value,
        }
    }
    match c {
        Expr::Binary { op, left, right } if scalar_subquery(&left).is_some() => Expr::Binary {
            op,
            left: Box::new(replace(*left, value)),
            right,
        },
        Expr::Binary { op, left, right } => Expr::Binary {
            op,
            left,
            right: Box::new(replace(*right, value)),
        },
        other => other,
    }
}

/// Whether the aggregate's value over no rows is NULL (a missing group
/// then stands for it); `false` when that cannot be known here (it reads
/// a parameter, say).
fn null_without_rows(last: &AggregateFinal) -> bool {
    let params = Params::default();
    let mut grouped = Vec::with_capacity(last.aggs.len());
    for call in &last.aggs {
        match AggState::new(call).finish(call, &params) {
            Ok(v) => grouped.push(v),
            Err(_) => return false,
        }
    }
    if let Some(having) = &last.having {
        match having.eval_predicate(&grouped, &params) {
            Ok(false) => return true,
            Ok(true) => {}
            Err(_) => return false,
        }
    }
    last.output[0]
        .eval(&grouped, &params)
        .is_ok_and(|v| v.is_null())
}
