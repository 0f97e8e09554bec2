//! EXPLAIN: a plan as a tree of operators, each with where it runs (the
//! router, or which shards), in PostgreSQL's indented text layout; and for
//! EXPLAIN ANALYZE the rows each operator produced and the time it took,
//! measured while the statement runs.
//!
//! Times of FROM items, joins and scans include their inputs, as
//! PostgreSQL's do; the router's steps above them (aggregation, windows,
//! sort, DISTINCT, LIMIT) run one after another over materialized rows,
//! and each shows its own time.
//!
//! Measurements are gathered in a [`Profile`] that lives for one
//! statement in the task that runs it ([`PROFILE`]), keyed by the address
//! of the plan node they belong to; executing code records into it only
//! when one is set.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use tessera_types::{Catalog, TableDef};

use crate::expr::{Expr, Function, SubqueryKind};
use crate::plan::{
    FragmentOutput, InitPlan, JoinKind, Plan, ScanFragment, SelectPlan, SetOpKind, Source, Target,
};

/// What one operator did: rows out and time spent (including its inputs).
#[derive(Debug, Default, Clone, Copy)]
pub struct Actual {
    pub rows: usize,
    pub time: Duration,
    /// How many times it ran (a correlated subquery's, once per row).
    pub loops: usize,
}

/// The measurements of one EXPLAIN ANALYZE.
#[derive(Debug, Default)]
pub struct Profile {
    nodes: HashMap<(usize, &'static str), Actual>,
}

tokio::task_local! {
    /// The profile of the statement the current task is running under
    /// EXPLAIN ANALYZE.
    pub static PROFILE: RefCell<Profile>;
}

/// Records that the operator `stage` of the node at `node` produced
/// `rows` in `time`, when an EXPLAIN ANALYZE is measuring.
pub fn record<T>(node: &T, stage: &'static str, rows: usize, time: Duration) {
    let key = (node as *const T as usize, stage);
    let _ = PROFILE.try_with(|p| {
        let mut p = p.borrow_mut();
        let a = p.nodes.entry(key).or_default();
        a.rows += rows;
        a.time += time;
        a.loops += 1;
    });
}

/// Whether an EXPLAIN ANALYZE is measuring (so callers skip the clock
/// otherwise).
pub fn measuring() -> bool {
    PROFILE.try_with(|_| ()).is_ok()
}

impl Profile {
    fn get<T>(&self, node: &T, stage: &'static str) -> Option<Actual> {
        self.nodes.get(&(node as *const T as usize, stage)).copied()
    }
}

/// The lines of EXPLAIN's output for `plan` (with `init`, the statement's
/// init plans) on a node of `shards` shards; with `profile`, EXPLAIN
/// ANALYZE's actual rows and times.
pub fn render(
    plan: &Plan,
    init: &[InitPlan],
    catalog: &Catalog,
    profile: Option<&Profile>,
) -> Vec<String> {
    let mut out = Explainer {
        lines: Vec::new(),
        shards: catalog.shards().len(),
        catalog,
        profile,
    };
    out.plan(plan, 0);
    for (i, p) in init.iter().enumerate().filter(|(_, p)| !p.dropped) {
        out.line(0, &format!("InitPlan {}", i + 1), None);
        out.plan(&p.plan, 1);
    }
    out.lines
}

struct Explainer<'p> {
    lines: Vec<String>,
    shards: usize,
    catalog: &'p Catalog,
    profile: Option<&'p Profile>,
}

impl Explainer<'_> {
    /// An operator line at `depth` (PostgreSQL's `->` arrows below the
    /// top), with its actual rows and time when measured.
    fn line(&mut self, depth: usize, text: &str, actual: Option<Actual>) {
        let mut s = String::new();
        if depth > 0 {
            s.push_str(&" ".repeat(depth * 6 - 4));
            s.push_str("->  ");
        }
        s.push_str(text);
        if let Some(a) = actual {
            let ms = a.time.as_secs_f64() * 1000.0 / a.loops.max(1) as f64;
            let rows = a.rows / a.loops.max(1);
            let _ = write!(
                s,
                "  (actual time={ms:.3} ms rows={rows} loops={})",
                a.loops
            );
        }
        self.lines.push(s);
    }

    /// A detail line (`Filter: …`) under the operator at `depth`.
    fn detail(&mut self, depth: usize, text: &str) {
        let indent = if depth == 0 { 2 } else { depth * 6 + 2 };
        self.lines.push(format!("{}{text}", " ".repeat(indent)));
    }

    fn actual<T>(&self, node: &T, stage: &'static str) -> Option<Actual> {
        self.profile.and_then(|p| p.get(node, stage))
    }

    fn plan(&mut self, plan: &Plan, depth: usize) {
        match plan {
            Plan::Select(select) => self.select(select, depth),
            Plan::Insert(insert) => {
                self.line(depth, &format!("Insert on {}", insert.table.name), None);
                if let Some(query) = &insert.select {
                    self.plan(query, depth + 1);
                } else {
                    let rows = insert.rows.len();
                    self.line(depth + 1, &format!("Values ({rows} rows)"), None);
                }
            }
            Plan::Update(u) => self.write_plan(
                "Update",
                &u.table,
                &u.target,
                u.primary_key.is_some(),
                u.index.as_ref(),
                u.filter.as_ref(),
                depth,
            ),
            Plan::Delete(d) => self.write_plan(
                "Delete",
                &d.table,
                &d.target,
                d.primary_key.is_some(),
                d.index.as_ref(),
                d.filter.as_ref(),
                depth,
            ),
            other => {
                let name = format!("{other:?}");
                let name = name.split([' ', '(', '{']).next().unwrap_or("Utility");
                self.line(depth, &format!("Utility Statement ({name})"), None);
            }
        }
    }

    /// An UPDATE or DELETE (`verb`): the table, then the scan that finds
    /// the rows it changes, with its filter.
    #[allow(clippy::too_many_arguments)]
    fn write_plan(
        &mut self,
        verb: &str,
        table: &TableDef,
        target: &Target,
        point: bool,
        index: Option<&crate::plan::IndexScan>,
        filter: Option<&Expr>,
        depth: usize,
    ) {
        self.line(depth, &format!("{verb} on {}", table.name), None);
        let name = index.map(|i| i.name(table));
        self.scan_line(table, target, point, name.as_deref(), depth + 1, None);
        if let Some(cond) = index.and_then(|ix| index_cond(ix, table)) {
            self.detail(depth + 1, &format!("Index Cond: {cond}"));
        }
        if let Some(f) = filter {
            self.detail(
                depth + 1,
                &format!("Filter: {}", show(f, &table_names(table))),
            );
        }
    }

    /// A SELECT: its router-side stages top-down (limit, DISTINCT, sort,
    /// windows, aggregation), then what feeds them.
    fn select(&mut self, select: &SelectPlan, mut depth: usize) {
        let names = select_names(select);
        if select.limit.is_some() || select.offset.is_some() {
            self.line(depth, "Limit", self.actual(select, "limit"));
            depth += 1;
        }
        if !select.distinct_on.is_empty() || select.distinct {
            self.line(depth, "Unique", self.actual(select, "distinct"));
            depth += 1;
        }
        if !select.order_by.is_empty() {
            match select.merges_shard_order() {
                true => self.line(
                    depth,
                    "Merge (of the shards' ordered rows)",
                    self.actual(select, "merge"),
                ),
                false => self.line(depth, "Sort", self.actual(select, "sort")),
            }
            let keys: Vec<String> = select
                .order_by
                .iter()
                .map(|k| {
                    let mut s = format!("#{}", k.column + 1);
                    if k.descending {
                        s.push_str(" DESC");
                    }
                    if k.nulls_first != k.descending {
                        s.push_str(if k.nulls_first {
                            " NULLS FIRST"
                        } else {
                            " NULLS LAST"
                        });
                    }
                    s
                })
                .collect();
            self.detail(
                depth,
                &format!("Sort Key: {} (output columns)", keys.join(", ")),
            );
            depth += 1;
        }
        if let Some(w) = &select.window {
            self.line(depth, "WindowAgg", self.actual(select, "window"));
            self.detail(depth, &format!("Window Functions: {}", w.calls.len()));
            depth += 1;
        }
        if let Some(agg) = &select.aggregate {
            let kind = if agg.group_count > 0 {
                "HashAggregate"
            } else {
                "Aggregate"
            };
            self.line(
                depth,
                &format!("{kind} (final, on the router)"),
                self.actual(select, "aggregate"),
            );
            if let Some(h) = &agg.having {
                self.detail(
                    depth,
                    &format!("Filter: {}", show(h, &|i| format!("#{}", i + 1))),
                );
            }
            depth += 1;
        }
        match &select.source {
            Some(source) => {
                self.fragment_on_router(
                    &select.fragment,
                    &names,
                    depth,
                    self.actual(select, "fragment"),
                );
                self.source(source, &names, depth + 1);
            }
            None => self.fragment(select, &names, depth),
        }
    }

    /// The fragment of a query whose FROM is gathered: it runs on the
    /// router over the joined rows.
    fn fragment_on_router(
        &mut self,
        f: &ScanFragment,
        names: &dyn Fn(usize) -> String,
        depth: usize,
        actual: Option<Actual>,
    ) {
        let what = match &f.output {
            FragmentOutput::Project(_) => "Result (on the router)",
            FragmentOutput::PartialAggregate { .. } => "Partial Aggregate (on the router)",
        };
        self.line(depth, what, actual);
        self.output_details(f, names, depth);
    }

    fn output_details(&mut self, f: &ScanFragment, names: &dyn Fn(usize) -> String, depth: usize) {
        if let (Some(table), Some(ix)) = (&f.table, &f.index) {
            if let Some(cond) = index_cond(ix, table) {
                self.detail(depth, &format!("Index Cond: {cond}"));
            }
        }
        if let Some(filter) = &f.filter {
            self.detail(depth, &format!("Filter: {}", show(filter, names)));
        }
        if let FragmentOutput::PartialAggregate { group_by, aggs, .. } = &f.output {
            if !group_by.is_empty() {
                let keys: Vec<String> = group_by.iter().map(|e| show(e, names)).collect();
                self.detail(depth, &format!("Group Key: {}", keys.join(", ")));
            }
            let calls: Vec<String> = aggs
                .iter()
                .map(|a| {
                    let mut arg = a.arg.as_ref().map_or("*".to_string(), |e| show(e, names));
                    if let (crate::plan::AggFunc::Regression(_), Some(x)) = (a.func, &a.second_arg)
                    {
                        arg = format!("{arg}, {}", show(x, names));
                    }
                    let debug_name = format!("{:?}", a.func).to_lowercase();
                    let name = match debug_name.as_str() {
                        _ if let crate::plan::AggFunc::Regression(f) = a.func => {
                            f.name().to_string()
                        }
                        "bitand" => "bit_and".to_string(),
                        "bitor" => "bit_or".to_string(),
                        "bitxor" => "bit_xor".to_string(),
                        "countstar" => "count".to_string(),
                        "stringagg" => "string_agg".to_string(),
                        "booland" => "bool_and".to_string(),
                        "boolor" => "bool_or".to_string(),
                        other => other.to_string(),
                    };
                    let distinct = if a.distinct { "DISTINCT " } else { "" };
                    format!("{name}({distinct}{arg})")
                })
                .collect();
            self.detail(depth, &format!("Aggregates: {}", calls.join(", ")));
        }
    }

    /// The shard-side scan of a single-table query (or a series, or no
    /// table at all).
    fn fragment(&mut self, select: &SelectPlan, names: &dyn Fn(usize) -> String, depth: usize) {
        let f = &select.fragment;
        let actual = self.actual(select, "fragment");
        let partial = matches!(f.output, FragmentOutput::PartialAggregate { .. });
        match (&f.table, &f.series) {
            (_, Some(series)) => {
                let what = match series.functions.as_slice() {
                    [] => "Function Scan on generate_series (on the router)".to_string(),
                    [(tf, _)] => format!("Function Scan on {tf:?} (on the router)"),
                    several => format!(
                        "Function Scan on ROWS FROM ({}) (on the router)",
                        several
                            .iter()
                            .map(|(tf, _)| tf.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                self.line(depth, &what, actual);
            }
            (Some(table), None) => {
                // Keys the statement lists (see `Binder::key_list`).
                let keys = f.lookup.as_ref().filter(|l| l.filter.is_none()).map(|l| {
                    let name = match &l.index {
                        Some(ix) => ix.name.clone(),
                        None => format!("{}_pkey", table.name),
                    };
                    format!("{name} ({} keys)", l.keys.len())
                });
                let path = f.index.as_ref().map(|i| i.name(table));
                let index = keys.as_deref().or(path.as_deref());
                let mut depth = depth;
                if partial {
                    self.line(depth, "Gather (partial aggregates from the shards)", actual);
                    depth += 1;
                    self.scan_line(
                        table,
                        &select.target,
                        f.primary_key.is_some(),
                        index,
                        depth,
                        None,
                    );
                } else {
                    self.scan_line(
                        table,
                        &select.target,
                        f.primary_key.is_some(),
                        index,
                        depth,
                        actual,
                    );
                }
                self.output_details(f, names, depth);
                return;
            }
            (None, None) => self.line(depth, "Result (on the router)", actual),
        }
        self.output_details(f, names, depth);
    }

    fn scan_line(
        &mut self,
        table: &TableDef,
        target: &Target,
        point: bool,
        index: Option<&str>,
        depth: usize,
        actual: Option<Actual>,
    ) {
        let scan = match (point, index) {
            (true, _) => format!("Point Lookup on {} (primary key)", table.name),
            (false, Some(ix)) => format!("Index Scan using {ix} on {}", table.name),
            (false, None) => format!("Seq Scan on {}", table.name),
        };
        let on = match target {
            Target::NoTable => "the router".to_string(),
            _ if table.global => "the node's copy of a global table".to_string(),
            Target::ShardingKey(_) => "1 shard, by sharding key".to_string(),
            Target::AllShards => self.all_shards(table),
        };
        self.line(depth, &format!("{scan} (on {on})"), actual);
    }

    /// The shards a scan of `table` reads: all of its tier's.
    fn all_shards(&self, table: &TableDef) -> String {
        let of_tier = self.catalog.tier_shards(table.tier).len();
        match self.catalog.tiers.get(table.tier as usize) {
            Some(t) if self.catalog.tiers.len() > 1 => {
                format!("all {of_tier} shards of tier {}", t.name)
            }
            _ => format!("all {} shards", self.shards),
        }
    }

    /// A FROM input; `names` names the columns of the joined row.
    fn source(&mut self, source: &Source, names: &dyn Fn(usize) -> String, depth: usize) {
        let actual = self.actual(source, "source");
        match source {
            Source::Query { plan, .. } => match &**plan {
                Plan::Select(select) if select.source.is_none() && select.aggregate.is_none() => {
                    // A plain scan feeding the join: one line, with its filter.
                    let names = select_names(select);
                    let f = &select.fragment;
                    match &f.table {
                        Some(table) if f.series.is_none() => {
                            let index = f.index.as_ref().map(|i| i.name(table));
                            self.scan_line(
                                table,
                                &select.target,
                                f.primary_key.is_some(),
                                index.as_deref(),
                                depth,
                                actual,
                            );
                            self.output_details(f, &names, depth);
                        }
                        _ => self.select(select, depth),
                    }
                }
                Plan::Select(select) => {
                    self.line(depth, "Subquery Scan", actual);
                    self.select(select, depth + 1);
                }
                other => self.plan(other, depth),
            },
            Source::Join(join) => {
                let kind = match join.kind {
                    JoinKind::Inner => "Inner",
                    JoinKind::Left => "Left",
                    JoinKind::Right => "Right",
                    JoinKind::Full => "Full",
                    JoinKind::Semi => "Semi",
                    JoinKind::Anti => "Anti",
                };
                // Whether the right side was read by key (under ANALYZE,
                // what happened; else what may happen, see `join_right`).
                let path = crate::join::LookupPath::of(join, self.catalog);
                let looked_up = self.actual::<crate::plan::Join>(join, "lookup");
                let filtered = self.actual::<crate::plan::Join>(join, "filter");
                let merges = crate::join::MergePath::of(join).is_some();
                let method = if join.keys.is_empty() || looked_up.is_some() {
                    "Nested Loop"
                } else if merges {
                    "Merge Join"
                } else {
                    "Hash Join"
                };
                let text = match (method, kind) {
                    ("Nested Loop", "Inner") => "Nested Loop".to_string(),
                    (m, k) => format!("{m} ({k})"),
                };
                self.line(depth, &format!("{text} (on the router)"), actual);
                if !join.keys.is_empty() {
                    let conds: Vec<String> = join
                        .keys
                        .iter()
                        .map(|(l, r)| format!("{} = {}", show(l, names), show(r, names)))
                        .collect();
                    let label = match (looked_up, merges) {
                        (Some(_), _) => "Index",
                        (None, true) => "Merge",
                        (None, false) => "Hash",
                    };
                    self.detail(depth, &format!("{label} Cond: {}", conds.join(" AND ")));
                }
                if let (Some(path), None) = (&path, self.profile) {
                    self.detail(
                        depth,
                        &format!(
                            "Index Lookup: {} when the left side has at most {} keys, few next to the table's rows",
                            path.describe(),
                            crate::join::LOOKUP_KEYS_MAX
                        ),
                    );
                }
                // A decorrelated aggregate's groups read for the left
                // side's keys (see `join::narrowed_groups`).
                let groups = self.actual::<crate::plan::Join>(join, "groups");
                match (groups, self.profile) {
                    (Some(keys), _) => self.detail(
                        depth,
                        &format!("Group Lookup: the groups of {} left keys", keys.rows),
                    ),
                    (None, None) if crate::join::narrows_groups(join) => self.detail(
                        depth,
                        "Group Lookup: only the groups of the left side's keys when they are few",
                    ),
                    _ => {}
                }
                if let Some(r) = &join.residual {
                    self.detail(depth, &format!("Join Filter: {}", show(r, names)));
                }
                self.source(&join.left, names, depth + 1);
                // The right side as read: by key through an index, or
                // whole and filtered by the left side's keys on the shards.
                let keyed = match (path, looked_up, filtered) {
                    (Some(path), Some(keys), _) => Some((path, keys.rows)),
                    (_, None, Some(keys)) => {
                        crate::join::LookupPath::filter_of(join).map(|path| (path, keys.rows))
                    }
                    _ => None,
                };
                match keyed {
                    Some((path, keys)) => {
                        let on = if path.routes() {
                            "on the shards of its keys".to_string()
                        } else {
                            format!("on {}", self.all_shards(path.table))
                        };
                        let text = match path.filter {
                            false => format!(
                                "Index Scan using {} on {} ({keys} keys, {on})",
                                path.name(),
                                path.table.name,
                            ),
                            true => format!(
                                "Seq Scan on {} (rows with {keys} keys of the left side, {on})",
                                path.table.name,
                            ),
                        };
                        let actual = self.actual(&join.right, "source");
                        self.line(depth + 1, &text, actual);
                        let names = select_names(path.select);
                        self.output_details(&path.select.fragment, &names, depth + 1);
                    }
                    None => self.source(&join.right, names, depth + 1),
                }
            }
            Source::Init(n) => self.line(
                depth,
                &format!("Gathered Rows of InitPlan {}", n + 1),
                actual,
            ),
            Source::Probe { init, .. } => self.line(
                depth,
                &format!("Hash Probe of InitPlan {}", init + 1),
                actual,
            ),
            Source::SetOp(op) => {
                let kind = match op.kind {
                    SetOpKind::Union => "Union",
                    SetOpKind::Intersect => "Intersect",
                    SetOpKind::Except => "Except",
                };
                let all = if op.all { " All" } else { "" };
                self.line(depth, &format!("{kind}{all} (on the router)"), actual);
                self.source(&op.left, names, depth + 1);
                self.source(&op.right, names, depth + 1);
            }
            Source::Values(rows) => {
                self.line(depth, &format!("Values Scan ({} rows)", rows.len()), actual)
            }
            Source::Recursive(r) => {
                self.line(depth, "Recursive Union (on the router)", actual);
                self.source(&r.start, names, depth + 1);
                self.source(&r.step, names, depth + 1);
            }
            Source::Lateral { plan, .. } => {
                self.line(depth, "Lateral Subquery (per row)", actual);
                self.select(plan, depth + 1);
            }
            Source::Work(_) => self.line(depth, "WorkTable Scan", actual),
        }
    }
}

/// Column names of a table's rows.
/// What a range scan's bounds say, as PostgreSQL prints an index scan's
/// condition: `(id > 500)`, `((a = 1) AND ((b, c) >= (2, 3)))`. `None`
/// when the path only gives the order.
fn index_cond(ix: &crate::plan::IndexScan, table: &TableDef) -> Option<String> {
    let names = table_names(table);
    let columns = ix.columns(table);
    let mut terms: Vec<String> = columns
        .iter()
        .zip(&ix.equal)
        .map(|(c, e)| format!("{} = {}", names(*c), show(e, &names)))
        .collect();
    let rest = &columns[ix.equal.len()..];
    let bounds = [(&ix.lower, ">"), (&ix.upper, "<")];
    for (bound, op) in bounds {
        let Some((values, inclusive)) = bound else {
            continue;
        };
        let op = if *inclusive {
            format!("{op}=")
        } else {
            op.to_string()
        };
        let shown: Vec<String> = values.iter().map(|e| show(e, &names)).collect();
        let cols: Vec<String> = rest.iter().take(values.len()).map(|c| names(*c)).collect();
        terms.push(match shown.len() {
            1 => format!("{} {op} {}", cols[0], shown[0]),
            _ => format!("({}) {op} ({})", cols.join(", "), shown.join(", ")),
        });
    }
    match terms.len() {
        0 => None,
        1 => Some(format!("({})", terms[0])),
        _ => Some(format!("(({}))", terms.join(") AND ("))),
    }
}

fn table_names(table: &TableDef) -> impl Fn(usize) -> String + '_ {
    move |i| {
        table
            .columns
            .get(i)
            .map_or_else(|| format!("#{}", i + 1), |c| c.name.clone())
    }
}

/// Names for the columns a select's fragment reads: the table's columns,
/// or for joined rows each table's columns at their offset.
fn select_names(select: &SelectPlan) -> Box<dyn Fn(usize) -> String + '_> {
    match (&select.source, &select.fragment.table) {
        (None, Some(table)) => Box::new(table_names(table)),
        (Some(source), _) => {
            let mut names: HashMap<usize, String> = HashMap::new();
            collect_names(source, &mut names);
            Box::new(move |i| {
                names
                    .get(&i)
                    .cloned()
                    .unwrap_or_else(|| format!("#{}", i + 1))
            })
        }
        _ => Box::new(|i| format!("#{}", i + 1)),
    }
}

fn collect_names(source: &Source, names: &mut HashMap<usize, String>) {
    match source {
        Source::Query { plan, offset, .. } => {
            if let Plan::Select(s) = &**plan {
                // A scan under joins may send only some of the columns.
                if let (None, Some(t), FragmentOutput::Project(exprs)) =
                    (&s.source, &s.fragment.table, &s.fragment.output)
                {
                    for (i, e) in exprs.iter().enumerate() {
                        if let Some(c) = column_of(e).and_then(|c| t.columns.get(c)) {
                            names.insert(offset + i, format!("{}.{}", t.name, c.name));
                        }
                    }
                }
            }
        }
        Source::Join(j) => {
            collect_names(&j.left, names);
            collect_names(&j.right, names);
        }
        _ => {}
    }
}

/// The table column a scan's output expression sends as it is.
fn column_of(e: &Expr) -> Option<usize> {
    match e {
        Expr::Column(c) => Some(*c),
        _ => None,
    }
}

/// An expression as SQL-like text, columns named by `names`.
pub fn show(e: &Expr, names: &dyn Fn(usize) -> String) -> String {
    let s = |e: &Expr| show(e, names);
    match e {
        Expr::Column(i) => names(*i),
        Expr::Literal(v) => match v.to_text() {
            None => "NULL".into(),
            Some(t) if v.data_type().is_numeric_family() => t,
            Some(t) => format!("'{}'", t.replace('\'', "''")),
        },
        Expr::Param(i) => format!("${}", i + 1),
        Expr::Outer(i) => format!("outer.#{}", i + 1),
        Expr::Cast { expr, to, .. } => format!("({})::{}", s(expr), to.name()),
        Expr::Neg(x) => format!("-{}", s(x)),
        Expr::Not(x) => format!("NOT {}", s(x)),
        Expr::Binary { op, left, right } => format!("({} {} {})", s(left), op.symbol(), s(right)),
        Expr::IsNull { expr, negated } => {
            format!(
                "({} IS {}NULL)",
                s(expr),
                if *negated { "NOT " } else { "" }
            )
        }
        Expr::IsBool {
            expr,
            value,
            negated,
        } => format!(
            "({} IS {}{})",
            s(expr),
            if *negated { "NOT " } else { "" },
            if *value { "TRUE" } else { "FALSE" }
        ),
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let items: Vec<String> = list.iter().map(s).collect();
            let not = if *negated { "NOT " } else { "" };
            format!("({} {not}IN ({}))", s(expr), items.join(", "))
        }
        Expr::Like {
            expr,
            pattern,
            negated,
            case_insensitive,
        } => format!(
            "({} {}{} {})",
            s(expr),
            if *negated { "NOT " } else { "" },
            if *case_insensitive { "ILIKE" } else { "LIKE" },
            s(pattern)
        ),
        Expr::Case { .. } => "CASE … END".into(),
        Expr::Call {
            func: Function::Row(crate::row::RowFn::Compare(op)),
            args,
        } if args.len() == 2 => format!("({} {} {})", s(&args[0]), op.symbol(), s(&args[1])),
        Expr::Call {
            func: Function::Row(crate::row::RowFn::Construct),
            args,
        } => {
            let items: Vec<String> = args.iter().map(s).collect();
            format!("ROW({})", items.join(", "))
        }
        Expr::Call { func, args } => {
            let name = match func {
                Function::Text(f) => format!("{f:?}"),
                Function::Json(f) => format!("{f:?}"),
                Function::Array(f) => format!("{f:?}"),
                other => format!("{other:?}"),
            };
            let name: String = name
                .split(['(', ' ', '{'])
                .next()
                .unwrap_or("")
                .to_lowercase();
            let items: Vec<String> = args.iter().map(s).collect();
            format!("{name}({})", items.join(", "))
        }
        Expr::Now(_) => "now()".into(),
        Expr::Sequence { .. } => "nextval(…)".into(),
        Expr::Setting { set: false, .. } => "current_setting(…)".into(),
        Expr::Setting { set: true, .. } => "set_config(…)".into(),
        Expr::Catalog { func, .. } => format!("{func:?}(…)"),
        Expr::Subquery(sub) => match &sub.kind {
            SubqueryKind::Scalar => "(SubPlan)".into(),
            SubqueryKind::Exists => "EXISTS(SubPlan)".into(),
            SubqueryKind::Array(_) => "ARRAY(SubPlan)".into(),
            SubqueryKind::Quantified { left, op, all, .. } => format!(
                "({} {} {}(SubPlan))",
                s(left),
                op.symbol(),
                if *all { "ALL" } else { "ANY" }
            ),
            SubqueryKind::Row(_) => "(SubPlan)".into(),
            SubqueryKind::RowQuantified { left, op, all, .. } => format!(
                "(ROW({}) {} {}(SubPlan))",
                left.iter().map(s).collect::<Vec<_>>().join(", "),
                op.symbol(),
                if *all { "ALL" } else { "ANY" }
            ),
        },
    }
}
