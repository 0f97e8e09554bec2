//! Plans: what a prepared statement holds, and the fragments the router
//! sends to shards.
//!
//! A SELECT is cut in two. The shard part ([`ScanFragment`]) runs where the
//! rows live: scan or key lookup, filter, then either the output
//! expressions or partial aggregates. The router part ([`SelectPlan`]'s
//! remaining fields) merges what the shards return: final aggregation,
//! HAVING, DISTINCT, ORDER BY, LIMIT/OFFSET. A FROM of several items is a
//! [`Source`]: its inputs are SELECTs gathered from the shards and joined
//! on the router, where the fragment then runs over the joined rows.

use std::sync::Arc;

use tessera_types::{DataType, IndexDef, TableDef, Value};

use crate::engine::ColumnDesc;
use crate::expr::Expr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AggFunc {
    CountStar,
    Count,
    Sum,
    Min,
    Max,
    Avg,
    /// `bool_and` and its synonym `every`.
    BoolAnd,
    BoolOr,
    /// `string_agg(value, delimiter)`.
    StringAgg,
    /// `var_samp`/`variance`, `var_pop`, `stddev_samp`/`stddev`,
    /// `stddev_pop`: `root` takes the square root of the variance.
    Variance {
        population: bool,
        root: bool,
    },
    /// `array_agg(value)`: NULLs kept.
    ArrayAgg,
    /// `json_agg` (`binary`: `jsonb_agg`).
    JsonAgg {
        binary: bool,
    },
    /// `json_object_agg(key, value)` (`binary`: `jsonb_object_agg`).
    JsonObjectAgg {
        binary: bool,
    },
    /// `percentile_cont(fraction) WITHIN GROUP (ORDER BY value)`.
    PercentileCont,
    /// `percentile_disc(fraction) WITHIN GROUP (ORDER BY value)`.
    PercentileDisc,
    /// `mode() WITHIN GROUP (ORDER BY value)`.
    Mode,
    /// `bit_and`, `bit_or`, `bit_xor` over smallint, integer or bigint.
    BitAnd,
    BitOr,
    BitXor,
    /// The two-argument statistics `f(y, x)` over double precision (see
    /// [`Regression`]): `arg` is Y, `second_arg` X.
    Regression(Regression),
}

/// The aggregates PostgreSQL computes from the moments of pairs (Y, X):
/// count, sums and Youngs–Cramer sums of squared deviations
/// (`crate::aggregate`'s `Acc::Regression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Regression {
    Corr,
    CovarPop,
    CovarSamp,
    AvgX,
    AvgY,
    /// `regr_count`: a bigint, 0 over no rows.
    Count,
    Intercept,
    R2,
    Slope,
    Sxx,
    Sxy,
    Syy,
}

impl Regression {
    /// The function of that name.
    pub fn named(name: &str) -> Option<Regression> {
        Some(match name {
            "corr" => Regression::Corr,
            "covar_pop" => Regression::CovarPop,
            "covar_samp" => Regression::CovarSamp,
            "regr_avgx" => Regression::AvgX,
            "regr_avgy" => Regression::AvgY,
            "regr_count" => Regression::Count,
            "regr_intercept" => Regression::Intercept,
            "regr_r2" => Regression::R2,
            "regr_slope" => Regression::Slope,
            "regr_sxx" => Regression::Sxx,
            "regr_sxy" => Regression::Sxy,
            "regr_syy" => Regression::Syy,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Regression::Corr => "corr",
            Regression::CovarPop => "covar_pop",
            Regression::CovarSamp => "covar_samp",
            Regression::AvgX => "regr_avgx",
            Regression::AvgY => "regr_avgy",
            Regression::Count => "regr_count",
            Regression::Intercept => "regr_intercept",
            Regression::R2 => "regr_r2",
            Regression::Slope => "regr_slope",
            Regression::Sxx => "regr_sxx",
            Regression::Sxy => "regr_sxy",
            Regression::Syy => "regr_syy",
        }
    }
}

impl AggFunc {
    /// Whether it collects its inputs and computes from all of them at
    /// the end (in their ORDER BY order): such aggregates gather a
    /// group's rows to one place.
    pub fn collects(self) -> bool {
        matches!(
            self,
            AggFunc::ArrayAgg
                | AggFunc::JsonAgg { .. }
                | AggFunc::JsonObjectAgg { .. }
                | AggFunc::PercentileCont
                | AggFunc::PercentileDisc
                | AggFunc::Mode
        )
    }

    /// Whether NULL inputs are kept rather than skipped.
    pub fn keeps_nulls(self) -> bool {
        matches!(
            self,
            AggFunc::ArrayAgg | AggFunc::JsonAgg { .. } | AggFunc::JsonObjectAgg { .. }
        )
    }
}

/// An aggregate call: function, argument over the input row, result type.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AggCall {
    pub func: AggFunc,
    pub arg: Option<Expr>,
    /// The second argument over each row: `string_agg`'s delimiter,
    /// `json_object_agg`'s value.
    pub second_arg: Option<Expr>,
    /// `agg(x ORDER BY …)`, or an ordered-set aggregate's WITHIN GROUP:
    /// `(expression, descending, nulls first)`.
    pub order_by: Vec<(Expr, bool, bool)>,
    /// An ordered-set aggregate's direct argument (the percentile
    /// fraction), evaluated once per group: constants and parameters only.
    pub direct_arg: Option<Expr>,
    /// `agg(DISTINCT …)`: each distinct non-NULL value counts once.
    pub distinct: bool,
    /// `FILTER (WHERE …)`: only rows passing it are aggregated.
    pub filter: Option<Expr>,
    /// The type of the argument (after the binder's casts).
    pub arg_type: DataType,
    pub result_type: DataType,
}

impl AggCall {
    /// The expressions it evaluates over each input row.
    pub fn exprs(&self) -> impl Iterator<Item = &Expr> {
        self.arg
            .iter()
            .chain(&self.second_arg)
            .chain(&self.filter)
            .chain(self.order_by.iter().map(|(e, _, _)| e))
            .chain(&self.direct_arg)
    }

    /// Whether its partial states cannot be merged from several shards:
    /// it must see all of a group's rows in one place.
    pub fn needs_one_place(&self) -> bool {
        self.distinct
            || self.func == AggFunc::StringAgg
            || self.func.collects()
            || !self.order_by.is_empty()
    }

    /// How many values the partial state of this aggregate takes in a row.
    pub fn partial_width(&self) -> usize {
        match self.func {
            AggFunc::Avg => 2,
            AggFunc::Variance { .. } => 3,
            AggFunc::Regression(_) => crate::aggregate::REGRESSION_PARTIAL_WIDTH,
            _ => 1,
        }
    }
}

/// Where a statement's rows are, decided from its WHERE clause.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Target {
    /// Every shard.
    AllShards,
    /// The shard owning the bucket of these sharding-key values (one
    /// expression per sharding-key column, evaluated with the parameters).
    ShardingKey(Vec<Expr>),
    /// Not a table at all: evaluate once on the router over one empty row.
    NoTable,
}

/// The shard-side part of a query.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScanFragment {
    pub table: Option<Arc<TableDef>>,
    /// When set, values for every primary-key column: a point lookup.
    pub primary_key: Option<Vec<Expr>>,
    /// When set (and no point lookup), read the rows through this index.
    pub index: Option<IndexScan>,
    /// Instead of a table: the rows of `generate_series`, one column.
    pub series: Option<SeriesScan>,
    /// When set, read only the rows these keys find (the inner side of an
    /// index nested-loop join, see `join::LookupPath`).
    pub lookup: Option<KeyLookup>,
    pub filter: Option<Expr>,
    pub output: FragmentOutput,
}

/// Rows to read by key: those whose leading columns of the primary key
/// (`index` `None`) or of `index` equal one of `keys`. Every row read still
/// passes the fragment's filter, and a shard that cannot use the path (the
/// index not built for its snapshot, the block's own writes to overlay)
/// reads the table instead: a lookup only narrows what is read.
///
/// With `filter` set, no path finds the keys: the table is read as the
/// fragment would read it, keeping only the rows whose `filter` columns
/// equal one of `keys` (the inner side of a hash join whose outer side
/// has few keys, so that the shards do not send rows nothing joins).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KeyLookup {
    pub index: Option<Arc<IndexDef>>,
    /// Values of the path's first columns (or of `filter`'s), of those
    /// columns' types; no NULLs, no duplicates.
    pub keys: Arc<crate::rows::Rows>,
    /// The table's columns the keys are values of, when they only filter.
    pub filter: Option<Vec<usize>>,
}

/// `generate_series(start, stop [, step])` in FROM: integers of
/// `data_type` (int4 or int8), evaluated where the fragment runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SeriesScan {
    pub start: Expr,
    pub stop: Expr,
    pub step: Option<Expr>,
    pub data_type: DataType,
    /// Instead of integers (when not empty): the rows of these
    /// set-returning functions (`jsonb_array_elements`, `unnest` and the
    /// like) over their arguments, side by side (`crate::srf::rows_from`).
    pub functions: Vec<(crate::srf::TableFn, Vec<Expr>)>,
}

/// A range of an index, or of the primary key, to read rows through.
/// Bounds only narrow what is read: every row still passes the
/// fragment's whole filter, so a bound that cannot be applied exactly (a
/// value out of the column's range, or not of its type) is shortened or
/// dropped. A shard whose snapshot predates the index reads the table.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IndexScan {
    /// `None`: the primary key, in whose order each shard stores a
    /// table's rows (no entries to follow).
    pub index: Option<Arc<IndexDef>>,
    /// Values of a prefix of the path's columns.
    pub equal: Vec<Expr>,
    /// Bounds on the columns after that prefix, compared as a row (the
    /// start of `(a, b) > ($1, $2)` is the whole key `($1, $2)`): values
    /// of the next one or more columns, inclusive.
    pub lower: Option<(Vec<Expr>, bool)>,
    pub upper: Option<(Vec<Expr>, bool)>,
    /// Read entries from the highest (ORDER BY … DESC).
    pub reverse: bool,
    /// The rows come out in the query's ORDER BY: a shard may stop after
    /// LIMIT + OFFSET of them.
    pub limit: Option<(Expr, Option<Expr>)>,
}

impl IndexScan {
    /// The columns of `table` the path is ordered by.
    pub fn columns<'a>(&'a self, table: &'a TableDef) -> &'a [usize] {
        match &self.index {
            Some(ix) => &ix.columns,
            None => &table.primary_key,
        }
    }

    /// The index, when it is a global one (its entries are not beside
    /// their rows: the router reads through it).
    pub fn global<'a>(&'a self, table: &TableDef) -> Option<&'a Arc<IndexDef>> {
        self.index.as_ref().filter(|ix| ix.is_global(table))
    }

    /// The name EXPLAIN shows, PostgreSQL's for a primary key's index.
    pub fn name(&self, table: &TableDef) -> String {
        match &self.index {
            Some(ix) => ix.name.clone(),
            None => format!("{}_pkey", table.name),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum FragmentOutput {
    /// One output row per matching row.
    Project(Vec<Expr>),
    /// Rows of `[group keys…, partial states…]`.
    PartialAggregate {
        group_by: Vec<Expr>,
        aggs: Vec<AggCall>,
        /// GROUPING SETS (ROLLUP, CUBE), when not empty: each row counts
        /// in one group per set, keyed by `group_by` with the keys outside
        /// the set NULL, then the set's number (an int4 key of its own).
        sets: Vec<Vec<bool>>,
    },
}

impl FragmentOutput {
    /// The keys of the groups that exist even without input rows: the
    /// one group of an aggregate without GROUP BY, or of an empty
    /// grouping set.
    pub fn empty_input_groups(&self) -> Vec<Vec<Value>> {
        match self {
            FragmentOutput::PartialAggregate { group_by, sets, .. } if sets.is_empty() => {
                match group_by.is_empty() {
                    true => vec![vec![]],
                    false => vec![],
                }
            }
            FragmentOutput::PartialAggregate { group_by, sets, .. } => sets
                .iter()
                .enumerate()
                .filter(|(_, set)| !set.contains(&true))
                .map(|(n, _)| {
                    let mut key = vec![Value::Null; group_by.len()];
                    key.push(Value::Int4(n as i32));
                    key
                })
                .collect(),
            FragmentOutput::Project(_) => vec![],
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SortKey {
    /// Position in the router's row.
    pub column: usize,
    pub descending: bool,
    pub nulls_first: bool,
}

/// Rows the router computes before a query's fragment runs over them,
/// when its FROM is more than one table: each input is gathered from the
/// shards at the statement's snapshot, then joined where the router is.
/// Every row is as wide as all FROM items together, each item's columns
/// at its place (NULL where an item is not joined in yet, or is the
/// missing side of an outer join), so expressions over the FROM read any
/// intermediate row and joins may run in any order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Source {
    /// The rows of a query (a `Plan::Select`: a table's columns read with
    /// the conditions pushed down to it, a `generate_series`, or a
    /// subquery in FROM), placed at `offset` in rows `width` wide.
    Query {
        plan: Arc<Plan>,
        offset: usize,
        width: usize,
    },
    Join(Box<Join>),
    /// Inside a correlated subquery: the rows of init plan `n`, gathered
    /// once and already placed in rows as wide as this FROM.
    Init(usize),
    /// Inside a correlated subquery over one table: the rows of init plan
    /// `init` whose `(inner, outer)` keys are equal, the inner expression
    /// over the row, the outer one over the enclosing row's values (a
    /// hash index on the gathered rows, built on first use, finds them).
    Probe {
        init: usize,
        keys: Vec<(Expr, Expr)>,
    },
    /// UNION, INTERSECT or EXCEPT of two inputs of the same width.
    SetOp(Box<SetOp>),
    /// `VALUES (…), (…)`: rows of expressions, evaluated where the query
    /// runs (cast to the columns' common types already).
    Values(Vec<Vec<Expr>>),
    /// A recursive WITH query's rows.
    Recursive(Box<Recursive>),
    /// The right side of a join with a LATERAL subquery: for each left
    /// row, the rows of `plan` run with `args` (over the left row) as its
    /// outer values, placed at `offset` in rows `width` wide.
    Lateral {
        plan: Arc<SelectPlan>,
        args: Vec<Expr>,
        offset: usize,
        width: usize,
    },
    /// Inside a recursive WITH query's step: the rows the last round
    /// added (`Params::work[n]`).
    Work(usize),
}

/// `WITH RECURSIVE name AS (start UNION [ALL] step)`: the rows of
/// `start`, then round after round the rows of `step` over the work
/// table (the rows the round before added; without ALL, rows seen
/// already are dropped) until a round adds none. `casts` bring the
/// step's columns to the start's types.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Recursive {
    pub work: usize,
    pub all: bool,
    pub start: Source,
    pub step: Source,
    pub casts: Vec<Option<DataType>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SetOpKind {
    Union,
    Intersect,
    Except,
}

/// Two inputs combined as sets (rows compare with NULL equal to NULL),
/// or with `all` as multisets. Each input's columns are cast to the
/// common type where `casts` says.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SetOp {
    pub kind: SetOpKind,
    pub all: bool,
    pub left: Source,
    pub right: Source,
    pub casts: [Vec<Option<DataType>>; 2],
}

impl Source {
    /// Whether the rows read values of an enclosing query's row.
    pub fn uses_outer(&self) -> bool {
        match self {
            Source::Query { plan, .. } => plan.uses_outer(),
            Source::Join(j) => {
                j.left.uses_outer()
                    || j.right.uses_outer()
                    || j.keys.iter().any(|(a, b)| a.uses_outer() || b.uses_outer())
                    || j.residual.as_ref().is_some_and(Expr::uses_outer)
            }
            Source::Init(_) => false,
            Source::Probe { keys, .. } => keys.iter().any(|(_, o)| o.uses_outer()),
            Source::SetOp(s) => s.left.uses_outer() || s.right.uses_outer(),
            Source::Values(rows) => rows.iter().flatten().any(Expr::uses_outer),
            Source::Recursive(r) => r.start.uses_outer() || r.step.uses_outer(),
            Source::Work(_) => false,
            Source::Lateral { args, .. } => args.iter().any(Expr::uses_outer),
        }
    }

    /// Whether the rows depend on a recursive query's work table, so they
    /// cannot be read ahead of its rounds.
    pub fn reads_work(&self) -> bool {
        match self {
            Source::Query { plan, .. } => plan.reads_work(),
            Source::Join(j) => j.left.reads_work() || j.right.reads_work(),
            Source::SetOp(s) => s.left.reads_work() || s.right.reads_work(),
            Source::Recursive(r) => r.start.reads_work() || r.step.reads_work(),
            Source::Work(_) => true,
            Source::Init(_) | Source::Probe { .. } | Source::Values(_) | Source::Lateral { .. } => {
                false
            }
        }
    }
}

/// A query the router runs once before the statement, at its snapshot:
/// an uncorrelated subquery, or a FROM item of a correlated one (whose
/// rows are then read for every row the subquery is evaluated for).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InitPlan {
    /// A `Plan::Select`.
    pub plan: Arc<Plan>,
    /// For a FROM item: its columns' offset in rows `width` wide, as
    /// `(offset, width)`.
    pub place: Option<(usize, usize)>,
    /// Not run: its subquery became a join of the enclosing query (its
    /// number stays taken, so later init plans keep theirs).
    pub dropped: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum JoinKind {
    Inner,
    Left,
    Right,
    Full,
    /// Each left row that has a matching right row, once (`EXISTS`
    /// decorrelated); the right row's columns are not read after it.
    Semi,
    /// Each left row that has no matching right row (`NOT EXISTS`).
    Anti,
}

impl JoinKind {
    /// Whether the join yields left rows only, each at most once.
    pub fn filters_left(self) -> bool {
        matches!(self, JoinKind::Semi | JoinKind::Anti)
    }

    /// Whether a left row no right row joins is kept (NULLs on the right).
    pub fn keeps_left(self) -> bool {
        matches!(self, JoinKind::Left | JoinKind::Full)
    }

    /// Whether a right row no left row joins is kept (NULLs on the left):
    /// then every right row must be read.
    pub fn keeps_right(self) -> bool {
        matches!(self, JoinKind::Right | JoinKind::Full)
    }
}

/// Two inputs side by side: an output row takes the right row's columns
/// (`right_columns`, as `(start, len)` ranges) into the left row.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Join {
    pub kind: JoinKind,
    pub left: Source,
    pub right: Source,
    pub right_columns: Vec<(usize, usize)>,
    /// Equalities of the condition: an expression over left rows and one
    /// over right rows (a hash join matches them).
    pub keys: Vec<(Expr, Expr)>,
    /// The rest of the condition.
    pub residual: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SelectPlan {
    pub target: Target,
    /// When set, the fragment runs on the router over these rows instead
    /// of on the shards over a table.
    pub source: Option<Source>,
    pub fragment: ScanFragment,
    /// After merging partial aggregates (rows `[keys…, aggregates…]`):
    /// HAVING, then the output expressions (visible columns then sort keys).
    pub aggregate: Option<AggregateFinal>,
    pub distinct: bool,
    /// DISTINCT ON: after sorting, the first row of each distinct value of
    /// these positions of the router's row.
    pub distinct_on: Vec<usize>,
    pub order_by: Vec<SortKey>,
    pub limit: Option<Expr>,
    pub offset: Option<Expr>,
    /// How many leading columns the client sees (the rest are sort keys).
    pub visible: usize,
    /// Window functions, after aggregation and before DISTINCT.
    pub window: Option<WindowStage>,
}

impl SelectPlan {
    /// Whether each shard gives its rows in the query's ORDER BY (read
    /// through a path in that order, stopping at LIMIT + OFFSET), so that
    /// the router merges them instead of sorting.
    pub fn merges_shard_order(&self) -> bool {
        self.source.is_none()
            && self.aggregate.is_none()
            && self.window.is_none()
            && !self.distinct
            && self.distinct_on.is_empty()
            && !self.order_by.is_empty()
            && self
                .fragment
                .index
                .as_ref()
                .is_some_and(|ix| ix.limit.is_some())
    }

    /// Whether the query reads values of an enclosing query's row (it is
    /// a correlated subquery, or part of one).
    pub fn uses_outer(&self) -> bool {
        let f = &self.fragment;
        let exprs = |e: &[Expr]| e.iter().any(Expr::uses_outer);
        let opt = |e: &Option<Expr>| e.as_ref().is_some_and(Expr::uses_outer);
        self.source.as_ref().is_some_and(Source::uses_outer)
            || f.primary_key.as_deref().is_some_and(exprs)
            || f.index.as_ref().is_some_and(|ix| {
                exprs(&ix.equal)
                    || ix.lower.as_ref().is_some_and(|(e, _)| exprs(e))
                    || ix.upper.as_ref().is_some_and(|(e, _)| exprs(e))
            })
            || f.series.as_ref().is_some_and(|s| {
                s.start.uses_outer()
                    || s.stop.uses_outer()
                    || opt(&s.step)
                    || s.functions.iter().any(|(_, args)| exprs(args))
            })
            || opt(&f.filter)
            || match &f.output {
                FragmentOutput::Project(e) => exprs(e),
                FragmentOutput::PartialAggregate { group_by, aggs, .. } => {
                    exprs(group_by) || aggs.iter().flat_map(AggCall::exprs).any(Expr::uses_outer)
                }
            }
            || self
                .aggregate
                .as_ref()
                .is_some_and(|a| opt(&a.having) || exprs(&a.output))
            || self.window.as_ref().is_some_and(WindowStage::uses_outer)
            || opt(&self.limit)
            || opt(&self.offset)
            || matches!(&self.target, Target::ShardingKey(k) if exprs(k))
    }

    /// The fragment's rows as they come: no source, aggregation, DISTINCT,
    /// order or limit; every output column visible.
    pub fn rows(target: Target, fragment: ScanFragment) -> SelectPlan {
        let visible = match &fragment.output {
            FragmentOutput::Project(exprs) => exprs.len(),
            FragmentOutput::PartialAggregate { group_by, aggs, .. } => {
                group_by.len() + aggs.iter().map(AggCall::partial_width).sum::<usize>()
            }
        };
        SelectPlan {
            target,
            source: None,
            fragment,
            aggregate: None,
            distinct: false,
            distinct_on: vec![],
            order_by: vec![],
            limit: None,
            offset: None,
            visible,
            window: None,
        }
    }
}

/// Window functions, computed on the router over the rows after
/// grouping: each call's values are appended to every row, then `output`
/// (visible columns, then sort keys) is evaluated over the widened rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WindowStage {
    pub calls: Vec<WindowCall>,
    pub output: Vec<Expr>,
}

impl WindowStage {
    pub fn uses_outer(&self) -> bool {
        self.output.iter().any(Expr::uses_outer)
            || self.calls.iter().any(|c| {
                let agg = match &c.func {
                    WindowFunc::Aggregate(a) => a.exprs().any(Expr::uses_outer),
                    _ => false,
                };
                agg || c.args.iter().any(Expr::uses_outer)
                    || c.partition_by.iter().any(Expr::uses_outer)
                    || c.order_by.iter().any(|(e, _, _)| e.uses_outer())
            })
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// An aggregate over the frame.
    Aggregate(Box<AggCall>),
}

/// One window function call: expressions over the stage's input rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WindowCall {
    pub func: WindowFunc,
    pub args: Vec<Expr>,
    pub partition_by: Vec<Expr>,
    /// `(expression, descending, nulls first)`.
    pub order_by: Vec<(Expr, bool, bool)>,
    pub frame: Frame,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FrameUnits {
    Rows,
    Range,
    Groups,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum FrameBound {
    UnboundedPreceding,
    /// An offset (a constant or parameter, evaluated once).
    Preceding(Expr),
    CurrentRow,
    Following(Expr),
    UnboundedFollowing,
}

/// Which rows of the partition an aggregate or `first_value` sees. The
/// default, `RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW`, is the
/// rows up to the current one's last peer (the whole partition without
/// ORDER BY).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Frame {
    pub units: FrameUnits,
    pub start: FrameBound,
    pub end: FrameBound,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AggregateFinal {
    pub group_count: usize,
    pub aggs: Vec<AggCall>,
    pub having: Option<Expr>,
    pub output: Vec<Expr>,
}

/// Where new rows of an INSERT go and what they hold.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InsertPlan {
    pub table: Arc<TableDef>,
    /// For each row, one expression per table column (NULL where not
    /// given). For INSERT … SELECT, one row of expressions over each row
    /// the query returns.
    pub rows: Vec<Vec<Expr>>,
    /// INSERT … SELECT: the query (a `Plan::Select`).
    pub select: Option<Arc<Plan>>,
    /// RETURNING: expressions over each inserted row.
    pub returning: Vec<Expr>,
    /// ON CONFLICT: what to do with a row that conflicts on one of
    /// `arbiters`.
    pub on_conflict: Option<Arc<OnConflict>>,
    pub arbiters: Arbiters,
    /// The table's CHECK constraints, over the new row.
    pub checks: Checks,
}

/// The unique constraints an ON CONFLICT decides on (PostgreSQL's arbiter
/// indexes); a conflict on any other fails the INSERT with 23505.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Arbiters {
    /// The primary key: decided on the shard that holds the row.
    pub primary_key: bool,
    /// Unique indexes other than the primary key, by name: the router
    /// reads them for each proposed row first.
    pub indexes: Vec<String>,
}

/// CHECK constraints bound over a table's row: name and condition.
pub type Checks = Arc<[(String, Expr)]>;

/// What an INSERT does with a row whose primary key is taken, decided on
/// the shard that holds it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum OnConflict {
    Nothing,
    /// DO UPDATE SET …: expressions over `[existing row…, proposed
    /// row…]` (the proposed one is `excluded`); the row is left alone when
    /// `filter` (WHERE) does not pass.
    Update {
        assignments: Vec<(usize, Expr)>,
        filter: Option<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UpdatePlan {
    pub table: Arc<TableDef>,
    pub target: Target,
    pub primary_key: Option<Vec<Expr>>,
    /// Without a point lookup: the rows to consider, through an index.
    pub index: Option<IndexScan>,
    pub filter: Option<Expr>,
    /// `(column position, new value over the old row)`.
    pub assignments: Vec<(usize, Expr)>,
    /// RETURNING: expressions over each updated row's new version.
    pub returning: Vec<Expr>,
    /// UPDATE … FROM: the rows the FROM items join to each target row;
    /// assignments and RETURNING then read `[row…, first joined row…]`.
    pub joined: Option<JoinedRows>,
    /// The table's CHECK constraints, over the new row.
    pub checks: Checks,
    /// It assigns a column of the primary key, the sharding key or a key
    /// another table references: each row is deleted under its old key
    /// and inserted under its new one, perhaps on another shard (see
    /// `Router::update_moving`).
    pub moves: bool,
}

/// UPDATE … FROM or DELETE … USING: for each target row, the rows of the
/// other items its WHERE clause joins to it (a query reading the target
/// row as a correlated subquery does, or an init plan when it does not).
/// A target row without any is left alone.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JoinedRows {
    pub query: crate::expr::SubqueryRows,
    pub args: Vec<Expr>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeletePlan {
    pub table: Arc<TableDef>,
    pub target: Target,
    pub primary_key: Option<Vec<Expr>>,
    /// Without a point lookup: the rows to consider, through an index.
    pub index: Option<IndexScan>,
    pub filter: Option<Expr>,
    /// RETURNING: expressions over each deleted row.
    pub returning: Vec<Expr>,
    /// DELETE … USING (see [`JoinedRows`]).
    pub joined: Option<JoinedRows>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Plan {
    Select(Box<SelectPlan>),
    /// DECLARE: runs `query` (a `Plan::Select`, with the statement's init
    /// plans) and keeps its rows in the session (see `crate::cursor`).
    DeclareCursor {
        name: String,
        options: crate::cursor::CursorOptions,
        query: Arc<Plan>,
        columns: Vec<ColumnDesc>,
        /// Whether the plan could run backward in PostgreSQL, which makes
        /// a cursor without [NO] SCROLL scrollable.
        scrolls: bool,
    },
    /// FETCH or MOVE.
    FetchCursor {
        name: String,
        direction: crate::cursor::FetchDirection,
        move_only: bool,
    },
    /// CLOSE name.
    CloseCursor {
        name: String,
    },
    /// EXPLAIN [ANALYZE]: the statement's plan and init plans, printed;
    /// with `analyze` run first, measuring each operator.
    Explain {
        plan: Arc<Plan>,
        init: Vec<InitPlan>,
        analyze: bool,
    },
    Insert(InsertPlan),
    /// COPY … FROM STDIN: a `Plan::Insert` whose one row of expressions
    /// reads each row the client sends (`Expr::Column(i)` is the COPY's
    /// i-th column, cast to its table column; defaults fill the rest).
    /// It is never executed as a plan: the session sends the rows in
    /// batches to `QueryEngine::copy_rows`, which inserts each batch.
    CopyFrom {
        insert: Arc<Plan>,
    },
    Update(UpdatePlan),
    Delete(DeletePlan),
    CreateTable {
        table: TableDef,
        /// UNIQUE constraints: index name and columns, created with it.
        unique: Vec<(String, Vec<usize>)>,
        /// The sequences of serial and identity columns, by column.
        sequences: Vec<(tessera_types::SequenceDef, u32)>,
        if_not_exists: bool,
    },
    CreateSequence {
        sequence: tessera_types::SequenceDef,
        if_not_exists: bool,
    },
    CreateView {
        view: tessera_types::ViewDef,
        or_replace: bool,
    },
    /// ALTER INDEX … RENAME TO (also ALTER TABLE … RENAME CONSTRAINT of a
    /// unique constraint): the index stored in `storage` takes `name`.
    RenameIndex {
        storage: tessera_types::TableId,
        name: String,
        /// Written as ALTER TABLE (the command tag says so).
        of_table: bool,
    },
    /// A statement with nothing to do: one with IF EXISTS whose object is
    /// missing (with a notice saying so), or one that asks for what already
    /// holds (ALTER TABLE … OWNER TO the owner). Its command tag.
    Skipped {
        tag: String,
        notice: Option<String>,
    },
    /// ALTER SEQUENCE: the new definition (same id and value) if it
    /// changes, and RESTART's value; nothing when IF EXISTS found none.
    AlterSequence {
        sequence: Option<Arc<tessera_types::SequenceDef>>,
        changed: bool,
        restart: Option<i64>,
        notices: Vec<String>,
    },
    /// CREATE TABLE … AS query: the table, then (unless WITH NO DATA)
    /// `INSERT INTO table query`, bound once the table exists.
    CreateTableAs {
        table: TableDef,
        query: Option<String>,
        if_not_exists: bool,
    },
    /// DROP TABLE / INDEX / SEQUENCE.
    Drop {
        kind: crate::shard::Relation,
        names: Vec<crate::shard::RelationRef>,
        if_exists: bool,
        /// Drop what depends on them too (without it, that refuses).
        cascade: bool,
        /// Found by the binder: names in schemas that do not exist (IF
        /// EXISTS).
        notices: Vec<crate::engine::Notice>,
        /// The search path's schemas, for messages.
        path: Vec<tessera_types::SchemaId>,
    },
    /// VACUUM [table]: collect the row versions no snapshot can see any
    /// more, now, on every shard (shards also do it continuously); with
    /// ANALYZE, then count the rows as ANALYZE does.
    Vacuum {
        analyze: bool,
    },
    /// ANALYZE [table]: every shard counts its tables' rows now for the
    /// planner (see `crate::stats`; shards also do it continuously).
    Analyze,
    /// CHECKPOINT: every shard takes a checkpoint now (shards also take
    /// them by log size and time).
    Checkpoint,
    /// `LOCK TABLE … IN ACCESS SHARE MODE` (what pg_dump takes on each
    /// table it dumps), inside a transaction block: the tables exist.
    /// That mode only conflicts with DDL's ACCESS EXCLUSIVE; Tessera takes
    /// no shared table lock, so it does not hold DDL of other sessions
    /// off (a table dropped meanwhile fails the reads that follow with
    /// 42P01). Other modes are refused (0A000) rather than ignored.
    LockShared,
    /// TRUNCATE: every row of each table deleted, atomically, as a
    /// transaction (so it is MVCC-safe and can be rolled back).
    Truncate {
        deletes: Vec<Arc<Plan>>,
        /// RESTART IDENTITY: the sequences the tables' columns own.
        restart: Vec<Arc<tessera_types::SequenceDef>>,
        /// CASCADE: "truncate cascades to table …", per table it added.
        notices: Vec<crate::engine::Notice>,
    },
    /// COMMENT ON TABLE / COLUMN: `column` 0 for the relation itself,
    /// else its position + 1; `None` removes the comment.
    Comment {
        object: tessera_types::TableId,
        column: u32,
        text: Option<String>,
    },
    /// An ALTER TABLE that moves every row: the table is rewritten into a
    /// new one defined as `new` (under a temporary name), which then takes
    /// its place. ADD PRIMARY KEY on a table keyed by hidden row ids keys
    /// and shards it by `key` (duplicates and NULLs there are refused as
    /// an index build refuses them); with no key, the primary key is
    /// dropped (the table is keyed by row ids) and then column
    /// `then_drop` dropped if set (DROP COLUMN of a key column). SET
    /// (tier = …) moves the table to another tier.
    RewriteTable {
        table: Arc<TableDef>,
        new: Box<TableDef>,
        key: Vec<usize>,
        then_drop: Option<String>,
    },
    AlterTable(TableChange),
    /// `index` has no ids yet; the catalog owner assigns them.
    CreateIndex {
        index: IndexDef,
        if_not_exists: bool,
    },
    /// SET [LOCAL] name = value, RESET name (`value` `None`).
    Set {
        name: String,
        value: Option<String>,
        local: bool,
        /// Written as RESET (the command tag says so).
        reset: bool,
    },
    Show {
        name: String,
    },
    /// `SHOW ALL`: name, setting and description of every setting.
    ShowAll,
    /// `LISTEN channel` (`listen` false: `UNLISTEN`; channel `*`: all).
    Listen {
        channel: String,
        listen: bool,
    },
    /// `NOTIFY channel [, payload]`.
    Notify {
        channel: String,
        payload: String,
    },
    /// `RESET ALL`, `DISCARD ALL`, `CLOSE ALL`: what the session holds of
    /// a kind let go.
    Discard(Discard),
    /// `DEALLOCATE [PREPARE] name | ALL` (`None`: all): the session drops
    /// the named prepared statement(s) of the extended protocol, as
    /// [`StatementInfo::deallocates`](crate::engine::StatementInfo::deallocates)
    /// tells it; the engine only checks the transaction block's state.
    Deallocate {
        name: Option<String>,
    },
    /// SQL `PREPARE name AS statement`: adds `statement` (bound now, with
    /// the PREPARE's text) to the session's prepared statements.
    /// A session's statement: never sent to a shard, so it does not travel.
    #[serde(skip)]
    Prepare {
        name: String,
        statement: StatementRef,
    },
    /// `EXECUTE name (args)`: runs the session's prepared statement `name`
    /// with the arguments (coerced to its parameter types). `statement` is
    /// the one it was bound against: the one found when it runs must give
    /// the same columns.
    /// A session's statement: never sent to a shard, so it does not travel.
    #[serde(skip)]
    Execute {
        name: String,
        args: Vec<crate::expr::Expr>,
        statement: StatementRef,
    },
    /// BEGIN / START TRANSACTION; `None` takes the session's default.
    Begin {
        isolation: Option<crate::engine::Isolation>,
        read_only: Option<bool>,
    },
    Commit,
    Rollback,
    Savepoint {
        name: String,
    },
    ReleaseSavepoint {
        name: String,
    },
    RollbackToSavepoint {
        name: String,
    },
    /// SET TRANSACTION inside a block, before its first statement.
    SetTransaction {
        isolation: Option<crate::engine::Isolation>,
        read_only: Option<bool>,
    },
    /// SET SESSION CHARACTERISTICS AS TRANSACTION: the defaults of later
    /// transactions (`default_transaction_isolation`, `…_read_only`).
    SetSessionCharacteristics {
        isolation: Option<crate::engine::Isolation>,
        read_only: Option<bool>,
    },
    /// CREATE SCHEMA (checked against the catalog again where it is made).
    CreateSchema {
        schema: tessera_types::SchemaDef,
        if_not_exists: bool,
    },
    /// DROP SCHEMA: the schemas that exist, and notices for those that do
    /// not (IF EXISTS).
    DropSchemas {
        names: Vec<String>,
        cascade: bool,
        notices: Vec<crate::engine::Notice>,
        /// For naming relations in messages as the session sees them.
        path: Vec<tessera_types::SchemaId>,
    },
    RenameSchema {
        schema: tessera_types::SchemaId,
        name: String,
    },
    /// CREATE, ALTER or DROP ROLE (checked again where it is made).
    Role(RoleStatement),
    /// CREATE TYPE … AS ENUM, ALTER TYPE, DROP TYPE, and the same for
    /// domains (checked again on shard 0 against the catalog of the
    /// moment).
    Type(TypeStatement),
}

/// A type statement as bound: names resolved on the search path, the
/// rest decided on shard 0 (`shard::types`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TypeStatement {
    /// CREATE TYPE … AS ENUM or CREATE DOMAIN: the type, its oids not
    /// yet given.
    Create(tessera_types::TypeDef),
    /// ALTER TYPE of the type of oid `oid` (named `name`), or ALTER
    /// DOMAIN (`domain`).
    Alter {
        oid: u32,
        name: String,
        change: TypeChange,
        domain: bool,
    },
    /// DROP TYPE or (`domain`) DROP DOMAIN: the types found (oid, name
    /// as given), and notices for the ones IF EXISTS skipped.
    Drop {
        types: Vec<(u32, String)>,
        cascade: bool,
        notices: Vec<String>,
        domain: bool,
    },
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TypeChange {
    /// ADD VALUE [IF NOT EXISTS] label [BEFORE|AFTER neighbour]
    /// (`before`: true for BEFORE).
    AddValue {
        label: String,
        if_not_exists: bool,
        neighbour: Option<(bool, String)>,
    },
    RenameValue {
        from: String,
        to: String,
    },
    Rename(String),
    /// ALTER DOMAIN … SET DEFAULT (its SQL text) or DROP DEFAULT.
    DomainDefault(Option<String>),
    /// ALTER DOMAIN … SET NOT NULL (`true`) or DROP NOT NULL.
    DomainNotNull(bool),
    /// ALTER DOMAIN … ADD CONSTRAINT name CHECK (text); the name is the
    /// one given, or `None` for the next free `<domain>_check[n]`.
    DomainAddCheck {
        name: Option<String>,
        text: String,
    },
    DomainDropConstraint {
        name: String,
        if_exists: bool,
    },
}

impl TypeChange {
    /// Whether it is an ALTER DOMAIN change.
    pub fn is_domain(&self) -> bool {
        matches!(
            self,
            TypeChange::DomainDefault(_)
                | TypeChange::DomainNotNull(_)
                | TypeChange::DomainAddCheck { .. }
                | TypeChange::DomainDropConstraint { .. }
        )
    }
}

impl TypeStatement {
    pub fn tag(&self) -> &'static str {
        match self {
            TypeStatement::Create(def) if def.domain.is_some() => "CREATE DOMAIN",
            TypeStatement::Create(_) => "CREATE TYPE",
            TypeStatement::Alter { domain: true, .. } => "ALTER DOMAIN",
            TypeStatement::Alter { .. } => "ALTER TYPE",
            TypeStatement::Drop { domain: true, .. } => "DROP DOMAIN",
            TypeStatement::Drop { .. } => "DROP TYPE",
        }
    }
}

/// A role statement as bound: names checked for syntax only; whether the
/// roles exist and the session may change them is decided on shard 0
/// against the catalog of the moment.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum RoleStatement {
    /// CREATE ROLE, or CREATE USER (`user`: LOGIN unless said otherwise).
    Create {
        name: String,
        attributes: RoleAttributes,
        user: bool,
    },
    Alter {
        name: String,
        attributes: RoleAttributes,
    },
    Rename {
        name: String,
        to: String,
    },
    Drop {
        names: Vec<String>,
        if_exists: bool,
    },
}

impl RoleStatement {
    pub fn tag(&self) -> &'static str {
        match self {
            RoleStatement::Create { .. } => "CREATE ROLE",
            RoleStatement::Alter { .. } | RoleStatement::Rename { .. } => "ALTER ROLE",
            RoleStatement::Drop { .. } => "DROP ROLE",
        }
    }
}

/// The role options a statement gives; `None`: not mentioned.
#[derive(Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RoleAttributes {
    pub superuser: Option<bool>,
    pub create_role: Option<bool>,
    pub create_db: Option<bool>,
    pub login: Option<bool>,
    /// `Some(None)`: PASSWORD NULL (or ''). The text is clear or already
    /// hashed; the router hashes a clear one before it goes anywhere.
    pub password: Option<Option<String>>,
    /// `Some(None)`: never set (VALID UNTIL 'infinity' is `i64::MAX`).
    pub valid_until: Option<Option<i64>>,
}

/// Never prints a password.
impl std::fmt::Debug for RoleAttributes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleAttributes")
            .field("superuser", &self.superuser)
            .field("create_role", &self.create_role)
            .field("create_db", &self.create_db)
            .field("login", &self.login)
            .field(
                "password",
                &self.password.as_ref().map(|p| p.as_ref().map(|_| "…")),
            )
            .field("valid_until", &self.valid_until)
            .finish()
    }
}

impl Plan {
    /// Whether the plan is a query reading an enclosing query's values.
    pub fn uses_outer(&self) -> bool {
        matches!(self, Plan::Select(s) if s.uses_outer())
    }

    /// Whether the plan is a query reading a recursive query's work table.
    pub fn reads_work(&self) -> bool {
        matches!(self, Plan::Select(s) if s.source.as_ref().is_some_and(Source::reads_work))
    }

    /// DDL that changes the catalog at once, outside any transaction block
    /// (so not inside one).
    pub fn is_ddl(&self) -> bool {
        matches!(
            self,
            Plan::CreateTable { .. }
                | Plan::CreateSequence { .. }
                | Plan::CreateView { .. }
                | Plan::AlterSequence { .. }
                | Plan::CreateTableAs { .. }
                | Plan::AlterTable(_)
                | Plan::Drop { .. }
                | Plan::CreateIndex { .. }
                | Plan::RewriteTable { .. }
                | Plan::CreateSchema { .. }
                | Plan::DropSchemas { .. }
                | Plan::RenameSchema { .. }
                | Plan::RenameIndex { .. }
                | Plan::Role(_)
                | Plan::Type(_)
        )
    }

    /// BEGIN, COMMIT, ROLLBACK, SET TRANSACTION and savepoint commands:
    /// handled by the session's transaction logic, not executed as plans.
    pub fn is_transaction_control(&self) -> bool {
        matches!(
            self,
            Plan::Begin { .. }
                | Plan::Commit
                | Plan::Rollback
                | Plan::SetTransaction { .. }
                | Plan::Savepoint { .. }
                | Plan::ReleaseSavepoint { .. }
                | Plan::RollbackToSavepoint { .. }
        )
    }
}

/// ALTER TABLE forms that change the catalog only: `new` replaces
/// `table` once every validation query returns no row (run while the
/// table's writes are held); unique constraints become indexes, and
/// dropped ones are dropped.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TableChange {
    pub table: Arc<TableDef>,
    pub new: TableDef,
    pub validations: Vec<Validation>,
    pub unique: Vec<(String, Vec<usize>)>,
    pub drop_indexes: Vec<String>,
    /// DROP COLUMN, in order: `new` has them marked dropped; what depends
    /// on them is decided with the change (see `shard::dependencies`).
    pub dropped: Vec<DroppedColumn>,
    /// The search path's schemas, for messages.
    pub path: Vec<tessera_types::SchemaId>,
    /// NOTICEs for the client (IF EXISTS that found nothing).
    pub notices: Vec<String>,
    /// ADD COLUMN: the columns of `new` that are added.
    pub added: Vec<AddedColumn>,
}

/// A column ALTER TABLE … DROP COLUMN drops: its position, the views
/// that read it (found by binding them without it: a view is text), and
/// whether what depends on it goes too (CASCADE) or refuses the drop.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DroppedColumn {
    pub column: usize,
    pub views: Vec<tessera_types::TableId>,
    pub cascade: bool,
}

/// A column ALTER TABLE … ADD COLUMN adds: the rows already stored take
/// `fill` (its default, evaluated once); if that is NULL and the column is
/// NOT NULL, `if_null` must find no row.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AddedColumn {
    pub position: usize,
    pub fill: Expr,
    pub if_null: Option<Validation>,
}

/// A query that must find no row before an ALTER TABLE holds, and the
/// error when it finds one.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Validation {
    pub query: Arc<Plan>,
    pub code: tessera_types::sqlstate::SqlState,
    pub message: String,
    /// A DETAIL around the values of the first row found: text before
    /// and after them.
    pub detail: Option<(String, String)>,
}

/// A parsed, bound and planned statement, ready to execute many times.
#[derive(Debug, Clone)]
pub struct Statement {
    pub sql: String,
    pub plan: Arc<Plan>,
    /// Run before the plan, in order (later ones may read earlier ones).
    pub init: Vec<InitPlan>,
    pub param_types: Vec<DataType>,
    pub columns: Vec<ColumnDesc>,
    pub returns_rows: bool,
    /// The catalog version it was bound against; a newer catalog rebinds it.
    pub catalog_version: u64,
    /// The `search_path` it was bound under; another one rebinds it.
    pub search_path: String,
    pub parsed: Arc<crate::parser::Parsed>,
    /// Bound when executed, not when prepared: it names something an
    /// earlier statement of the same Query creates.
    pub deferred: bool,
    /// It calls sequence functions: what they handed out is made durable
    /// before it is acknowledged (see `crate::sequence`).
    pub uses_sequences: bool,
    /// It calls `current_setting` or `set_config` (see
    /// `crate::settings_fn`).
    pub uses_settings: bool,
    /// Whether it calls an advisory lock function that may wait (see
    /// `crate::advisory`).
    pub advisory_waits: bool,
    /// Whether it calls `pg_sleep`: the router sleeps once it has run,
    /// for as long as its calls asked (see `crate::activity`).
    pub sleeps: bool,
    /// Whether it reads pg_prepared_statements: bound again each time it
    /// runs, so it lists the session's statements of then.
    pub reads_prepared: bool,
    /// Whether it reads `pg_cursors`, whose rows are the session's as it
    /// was bound: it is bound again each time it runs.
    pub reads_cursors: bool,
    /// Whether it reads rows made when it was bound (a catalog
    /// relation's): the simple-Query cache does not keep it.
    pub reads_system: bool,
    /// The error of a constant subexpression the statement reaches (`SELECT
    /// 1/0`): raised when it runs, not when it is prepared, as PostgreSQL
    /// folds constants when it plans (see `Binder::fold_errors`).
    pub constant_error: Option<tessera_types::Error>,
    /// COPY: its options and columns (its plan is the query of COPY TO,
    /// or [`Plan::CopyFrom`]).
    pub copy: Option<Arc<crate::copy::CopySpec>>,
}

impl Statement {
    /// A statement of `plan` that returns no rows, takes no parameters and
    /// calls none of the functions its flags are for.
    pub fn new(
        sql: &str,
        plan: Plan,
        parsed: &crate::parser::Parsed,
        catalog_version: u64,
        search_path: &str,
    ) -> Statement {
        Statement {
            sql: sql.to_string(),
            plan: Arc::new(plan),
            init: vec![],
            param_types: vec![],
            columns: vec![],
            returns_rows: false,
            catalog_version,
            search_path: search_path.to_string(),
            parsed: Arc::new(parsed.clone()),
            deferred: false,
            uses_sequences: false,
            uses_settings: false,
            advisory_waits: false,
            sleeps: false,
            reads_prepared: false,
            reads_cursors: false,
            reads_system: false,
            constant_error: None,
            copy: None,
        }
    }
}

/// A bound statement a plan holds (PREPARE's, the one EXECUTE was bound
/// against); plans compare it by identity.
#[derive(Debug, Clone)]
pub struct StatementRef(pub Arc<Statement>);

impl PartialEq for StatementRef {
    fn eq(&self, other: &StatementRef) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl crate::engine::StatementInfo for Statement {
    fn param_types(&self) -> &[DataType] {
        &self.param_types
    }
    fn columns(&self) -> &[ColumnDesc] {
        &self.columns
    }
    fn returns_rows(&self) -> bool {
        self.returns_rows
    }
    fn copy(&self) -> Option<&crate::copy::CopySpec> {
        self.copy.as_deref()
    }
    fn fetches(&self) -> Option<(&str, crate::cursor::FetchDirection, bool)> {
        match &*self.plan {
            Plan::FetchCursor {
                name,
                direction,
                move_only,
            } => Some((name, *direction, *move_only)),
            _ => None,
        }
    }
    fn deallocates(&self) -> Option<crate::engine::Deallocate<'_>> {
        use crate::engine::Deallocate;
        match &*self.plan {
            Plan::Deallocate { name: None } => Some(Deallocate::All),
            Plan::Deallocate { name: Some(name) } => Some(Deallocate::Named(name)),
            _ => None,
        }
    }
    fn for_execute(&self) -> Option<Arc<Statement>> {
        // A COPY is run by its session, not by EXECUTE; an EXECUTE runs
        // no other EXECUTE.
        let runs =
            self.copy.is_none() && !self.deferred && !matches!(*self.plan, Plan::Execute { .. });
        runs.then(|| Arc::new(self.clone()))
    }
    fn joins_implicit_transaction(&self) -> bool {
        !self.plan.is_transaction_control()
            && !self.plan.is_ddl()
            && !matches!(
                *self.plan,
                Plan::Vacuum { .. } | Plan::Analyze | Plan::Checkpoint | Plan::LockShared
            )
    }
    fn sql(&self) -> &str {
        &self.sql
    }
}

/// What a [`Plan::Discard`] lets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Discard {
    /// `RESET ALL`: the settings return to their defaults.
    ResetAll,
    /// `DISCARD ALL`: the settings too, the channels listened to and (in
    /// the session) the prepared statements; refused in a block (25001).
    All,
    /// `CLOSE ALL`: the session's cursors.
    CloseAll,
}

impl Discard {
    /// The command tag.
    pub fn tag(self) -> &'static str {
        match self {
            Discard::ResetAll => "RESET",
            Discard::All => "DISCARD ALL",
            Discard::CloseAll => "CLOSE CURSOR ALL",
        }
    }
}

/// A row of values.
pub type Row = Vec<Value>;
