//! Bound expressions and their evaluation over one row.
//!
//! The binder resolves names and types, so an [`Expr`] is plain data: column
//! positions, literals, parameter numbers and operators whose operands were
//! already cast to a common type. It can be shipped to another shard and
//! evaluated there. Evaluation follows PostgreSQL: three-valued logic,
//! overflow is 22003, division by zero is 22012.
//!
//! What an expression reads besides its row travels with it in [`Params`]:
//! the parameter values and the session's [`TimeContext`] (time zone and
//! the statement's clock), fixed once by the router so that `now()` is one
//! value on every shard a statement touches.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, OnceLock};

use tessera_types::datetime::{self, ops, TimeContext, TimeZone};
use tessera_types::{memory, sqlstate, DataType, Error, Result, Value};

use crate::plan::SelectPlan;
use crate::rows::Rows;

/// The inputs of an evaluation besides the row: `$n` values, the
/// session's time zone and clock for this statement, the rows of the
/// statement's init plans, and the values a correlated subquery reads
/// from the row it is evaluated for.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Params {
    pub values: Vec<Value>,
    pub time: TimeContext,
    /// The rows of each of the statement's init plans, by number
    /// ([`crate::plan::InitPlan`]), once the router has run them.
    pub init: Vec<Arc<InitRows>>,
    /// What [`Expr::Outer`] reads: the arguments of the correlated
    /// subquery being evaluated.
    pub outer: Vec<Value>,
    /// The work tables of recursive WITH queries, by number, during their
    /// rounds.
    pub work: Vec<Arc<Rows>>,
    /// What the session's sequence functions remember; set only for a
    /// statement that calls them.
    #[serde(with = "crate::wire::session_only")]
    pub sequences: Option<Arc<crate::sequence::SessionSequences>>,
    /// What `current_setting` reads and `set_config` writes; set only for
    /// a statement that calls them.
    #[serde(with = "crate::wire::session_only")]
    pub settings: Option<Arc<crate::settings_fn::StatementSettings>>,
}

impl Params {
    pub fn new(values: Vec<Value>, time: TimeContext) -> Params {
        Params {
            values,
            time,
            init: Vec::new(),
            outer: Vec::new(),
            work: Vec::new(),
            sequences: None,
            settings: None,
        }
    }

    /// The same inputs, as a correlated subquery evaluated with `outer`
    /// sees them.
    pub fn with_outer(&self, outer: Vec<Value>) -> Params {
        Params {
            values: self.values.clone(),
            time: self.time.clone(),
            init: self.init.clone(),
            outer,
            work: self.work.clone(),
            sequences: self.sequences.clone(),
            settings: self.settings.clone(),
        }
    }

    /// The same inputs, with work table `n` holding `rows`.
    pub fn with_work(&self, n: usize, rows: Rows) -> Params {
        let mut p = self.clone();
        if p.work.len() <= n {
            p.work.resize_with(n + 1, Default::default);
        }
        p.work[n] = Arc::new(rows);
        p
    }

    pub fn work_rows(&self, n: usize) -> Result<&Rows> {
        self.work
            .get(n)
            .map(|r| &**r)
            .ok_or_else(|| Error::internal(format!("work table {n} is not set")))
    }

    /// The rows init plan `id` returned.
    pub fn init_rows(&self, id: usize) -> Result<&InitRows> {
        self.init
            .get(id)
            .map(|r| &**r)
            .ok_or_else(|| Error::internal(format!("init plan {id} has not run")))
    }
}

/// The rows an init plan returned, with the set of its first column's
/// values built on first use by `= ANY` (IN).
#[derive(Debug, Default)]
pub struct InitRows {
    pub rows: Rows,
    members: OnceLock<Result<Members>>,
    /// The same for the rows of `(a, b) IN`, built on first use.
    row_members: OnceLock<Result<RowMembers>>,
    /// For `Source::Probe`: the positions of the rows by their key values.
    index: OnceLock<Result<ProbeIndex>>,
    /// For `x IN` a correlated query probing these rows: see
    /// [`InitRows::mark`].
    marks: OnceLock<Result<Marks>>,
    /// Rows such an `IN` compared one by one, over all its evaluations
    /// so far (see [`InitRows::worth_marking`]).
    compared: AtomicUsize,
}

/// A correlated `IN`'s rows by their key values and value, for a mark
/// join: `values` indexes rows by `[keys…, value]` (a NULL value, like a
/// NULL key, in none), `nulls` by `[keys…, value IS NULL]`.
#[derive(Debug)]
struct Marks {
    values: ProbeIndex,
    nulls: ProbeIndex,
}

/// The positions of an init plan's rows grouped by the values of their
/// keys, in a few flat vectors (no allocation per row or per key): each
/// distinct key's positions lie together in `positions`, in row order.
#[derive(Debug, Default)]
struct ProbeIndex {
    /// Per distinct key (by [`crate::batch::hash_key`] of its values):
    /// its number.
    groups: hashbrown::HashTable<u32>,
    /// Per key number: its first row, and its range in `positions`.
    first: Vec<u32>,
    ranges: Vec<(u32, u32)>,
    positions: Vec<usize>,
    /// Each row's key values, `width` per row.
    keys: Vec<Value>,
    width: usize,
}

impl ProbeIndex {
    fn build(rows: &Rows, keys: &[&Expr], params: &Params) -> Result<ProbeIndex> {
        use crate::batch::hash_key;
        let width = keys.len();
        let mut index = ProbeIndex {
            width,
            keys: Vec::with_capacity(rows.len() * width),
            ..Default::default()
        };
        let mut hashes = Vec::new();
        let mut group_of = Vec::with_capacity(rows.len());
        let mut counts: Vec<u32> = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            memory::check_every(i + 1, crate::join::MEMORY_CHECK_ROWS)?;
            for k in keys {
                index.keys.push(k.eval(row, params)?);
            }
            let key = &index.keys[i * width..];
            if key.iter().any(Value::is_null) {
                group_of.push(u32::MAX);
                continue;
            }
            let hash = hash_key(key.iter());
            let (keys_seen, first) = (&index.keys, &index.first);
            let same = |g: &u32| {
                let at = first[*g as usize] as usize * width;
                keys_seen[at..at + width]
                    .iter()
                    .zip(key)
                    .all(|(a, b)| a.compare(b) == Ordering::Equal)
            };
            let g = match index.groups.find(hash, same) {
                Some(&g) => g,
                None => {
                    let g = index.first.len() as u32;
                    index.first.push(i as u32);
                    hashes.push(hash);
                    counts.push(0);
                    index.groups.insert_unique(hash, g, |&g| hashes[g as usize]);
                    g
                }
            };
            counts[g as usize] += 1;
            group_of.push(g);
        }
        // Each key's positions together, in row order.
        let mut start = 0;
        index.ranges = counts
            .iter()
            .map(|&n| {
                let range = (start, 0);
                start += n;
                range
            })
            .collect();
        index.positions = vec![0; start as usize];
        for (i, &g) in group_of.iter().enumerate() {
            if g != u32::MAX {
                let (at, filled) = &mut index.ranges[g as usize];
                index.positions[(*at + *filled) as usize] = i;
                *filled += 1;
            }
        }
        Ok(index)
    }

    fn find(&self, values: &[Value]) -> &[usize] {
        let hash = crate::batch::hash_key(values.iter());
        let found = self.groups.find(hash, |&g| {
            let at = self.first[g as usize] as usize * self.width;
            self.keys[at..at + self.width]
                .iter()
                .zip(values)
                .all(|(a, b)| a.compare(b) == Ordering::Equal)
        });
        match found {
            Some(&g) => {
                let (start, len) = self.ranges[g as usize];
                &self.positions[start as usize..(start + len) as usize]
            }
            None => &[],
        }
    }
}

/// The distinct non-NULL values of a column, and whether it had a NULL.
#[derive(Debug)]
struct Members {
    values: HashSet<Value>,
    has_null: bool,
}

/// For `(a, b) IN`: the distinct rows of the leading columns without a
/// NULL, and the positions of the rows with one (which may make the
/// answer NULL rather than false, so are compared one by one).
#[derive(Debug)]
struct RowMembers {
    values: HashSet<Vec<Value>>,
    with_null: Vec<usize>,
}

impl InitRows {
    pub fn new(rows: Rows) -> InitRows {
        InitRows {
            rows,
            members: OnceLock::new(),
            row_members: OnceLock::new(),
            index: OnceLock::new(),
            marks: OnceLock::new(),
            compared: AtomicUsize::new(0),
        }
    }

    /// The positions of the rows whose `keys` (expressions over a row)
    /// have these values; the index is built on first use. A NULL key
    /// matches nothing.
    pub fn probe(&self, keys: &[&Expr], values: &[Value], params: &Params) -> Result<&[usize]> {
        let index = self
            .index
            .get_or_init(|| ProbeIndex::build(&self.rows, keys, params));
        let index = index.as_ref().map_err(Clone::clone)?;
        Ok(index.find(values))
    }

    /// Whether a correlated `IN` that is to compare `found` more rows one
    /// by one should look its value up in [`InitRows::mark`]'s indexes
    /// instead: once they are built, or once the rows compared so far
    /// pass eight times the rows the indexes hold (building both costs
    /// several comparisons per row). Few evaluations, or keys that find
    /// few rows each, never pay for them (TPC-H partsupp probing
    /// lineitem by part, about 30 rows a key, ran slower with them); many
    /// evaluations of keys shared by many rows do (orders probing
    /// customers by a nation key all of them share: 2.0 s instead of 8.7
    /// s in a debug build). An adaptive mark join.
    pub fn worth_marking(&self, found: usize) -> bool {
        if self.marks.get().is_some() {
            return true;
        }
        let compared = self.compared.fetch_add(found, AtomicOrdering::Relaxed) + found;
        compared > 8 * self.rows.len()
    }

    /// Whether `l` (not NULL) is among the values `value` (over a row,
    /// cast to `cast` when set) takes in the rows whose `keys` have the
    /// values `key_values`, as `IN` answers: `Some(true)` when it is, else `None` (NULL) when one
    /// of those rows' values is NULL, else `Some(false)`. Both indexes are
    /// built on first use, so each outer row costs two hash lookups
    /// however many rows share its keys (a mark join). `key_values` holds
    /// no NULL; it is used as scratch and left as it came.
    pub fn mark(
        &self,
        keys: &[&Expr],
        (value, cast): (&Expr, Option<DataType>),
        key_values: &mut Vec<Value>,
        l: Value,
        params: &Params,
    ) -> Result<Option<bool>> {
        let marks = self.marks.get_or_init(|| {
            let value = &match cast {
                Some(to) => Expr::Cast {
                    expr: Box::new(value.clone()),
                    to,
                    explicit: false,
                },
                None => value.clone(),
            };
            let mut with: Vec<&Expr> = keys.to_vec();
            with.push(value);
            let values = ProbeIndex::build(&self.rows, &with, params)?;
            let is_null = Expr::IsNull {
                expr: Box::new(value.clone()),
                negated: false,
            };
            with.pop();
            with.push(&is_null);
            let nulls = ProbeIndex::build(&self.rows, &with, params)?;
            Ok(Marks { values, nulls })
        });
        let marks = marks.as_ref().map_err(Clone::clone)?;
        key_values.push(l);
        let found = !marks.values.find(key_values).is_empty();
        key_values.pop();
        if found {
            return Ok(Some(true));
        }
        key_values.push(Value::Bool(true));
        let null = !marks.nulls.find(key_values).is_empty();
        key_values.pop();
        Ok(if null { None } else { Some(false) })
    }

    fn members(&self, cast: Option<DataType>, time: &TimeContext) -> Result<&Members> {
        let built = self.members.get_or_init(|| {
            let mut m = Members {
                values: HashSet::with_capacity(self.rows.len()),
                has_null: false,
            };
            for (n, row) in self.rows.iter().enumerate() {
                memory::check_every(n + 1, crate::join::MEMORY_CHECK_ROWS)?;
                let v = cast_to(row[0].clone(), cast, time)?;
                if v.is_null() {
                    m.has_null = true;
                } else {
                    m.values.insert(v);
                }
            }
            Ok(m)
        });
        built.as_ref().map_err(Clone::clone)
    }
}

impl InitRows {
    fn row_members(&self, casts: &[Option<DataType>], time: &TimeContext) -> Result<&RowMembers> {
        let built = self.row_members.get_or_init(|| {
            let mut m = RowMembers {
                values: HashSet::with_capacity(self.rows.len()),
                with_null: Vec::new(),
            };
            for (n, row) in self.rows.iter().enumerate() {
                memory::check_every(n + 1, crate::join::MEMORY_CHECK_ROWS)?;
                let values = row_values(row, casts, time)?;
                if values.iter().any(Value::is_null) {
                    m.with_null.push(n);
                } else {
                    m.values.insert(values);
                }
            }
            Ok(m)
        });
        built.as_ref().map_err(Clone::clone)
    }
}

/// The leading `casts.len()` values of a subquery's row, cast as set.
fn row_values(row: &[Value], casts: &[Option<DataType>], time: &TimeContext) -> Result<Vec<Value>> {
    if row.len() < casts.len() {
        return Err(Error::internal(
            "a subquery row narrower than its comparison",
        ));
    }
    row.iter()
        .zip(casts)
        .map(|(v, c)| cast_to(v.clone(), *c, time))
        .collect()
}

impl PartialEq for InitRows {
    fn eq(&self, other: &InitRows) -> bool {
        self.rows == other.rows
    }
}

impl Deref for Params {
    type Target = [Value];
    fn deref(&self) -> &[Value] {
        &self.values
    }
}

/// Which clock a `now()`-like function reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Clock {
    /// `now()`, `current_timestamp`, `transaction_timestamp()`: the
    /// transaction's start.
    Transaction,
    /// `statement_timestamp()`: the statement's start.
    Statement,
    /// `clock_timestamp()`: the wall clock when evaluated (on the shard,
    /// per row).
    Wall,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    And,
    Or,
    Concat,
}

impl BinaryOp {
    /// The operator with its operands swapped (`a < b` is `b > a`).
    pub fn flipped(&self) -> BinaryOp {
        match self {
            BinaryOp::Lt => BinaryOp::Gt,
            BinaryOp::LtEq => BinaryOp::GtEq,
            BinaryOp::Gt => BinaryOp::Lt,
            BinaryOp::GtEq => BinaryOp::LtEq,
            other => *other,
        }
    }

    pub fn is_comparison(&self) -> bool {
        matches!(
            self,
            BinaryOp::Eq
                | BinaryOp::NotEq
                | BinaryOp::Lt
                | BinaryOp::LtEq
                | BinaryOp::Gt
                | BinaryOp::GtEq
        )
    }
    pub fn is_arithmetic(&self) -> bool {
        matches!(
            self,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod
        )
    }
    pub fn symbol(&self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
            BinaryOp::Concat => "||",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Function {
    Abs,
    Lower,
    Upper,
    Length,
    Coalesce,
    NullIf,
    Greatest,
    Least,
    /// `extract(unit from x)`: numeric.
    Extract,
    /// `date_part(unit, x)`: double precision.
    DatePart,
    DateTrunc,
    Age,
    JustifyDays,
    JustifyHours,
    JustifyInterval,
    IsFinite,
    /// `to_timestamp(double precision)`: seconds since 1970 as timestamptz.
    ToTimestamp,
    /// `date_bin(stride, source, origin)` over timestamp or timestamptz.
    DateBin,
    /// `(s1, e1) OVERLAPS (s2, e2)` over one date/time type, with
    /// PostgreSQL's NULL rules (not strict).
    Overlaps,
    /// `x AT TIME ZONE zone` (args: x, zone).
    AtTimeZone,
    /// A string function (see [`crate::text`]).
    Text(crate::text::TextFn),
    /// A json, jsonb, uuid or bytea operator or function (see [`crate::json`]).
    Json(crate::json::JsonFn),
    /// An array constructor, subscript, operator or function (see [`crate::array`]).
    Array(crate::array::ArrayFn),
    /// A mathematical function (see [`crate::math`]).
    Math(crate::math::MathFn),
    /// A regular expression operator or function (see [`crate::pattern`]).
    Pattern(crate::pattern::PatternFn),
    /// `to_char`, `to_date`, `make_date`… (see [`crate::formatting`]).
    Formatting(crate::formatting::FormattingFn),
    /// `pg_backend_pid`, `pg_cancel_backend`… (see [`crate::activity`]).
    Session(crate::activity::SessionFn),
    /// `pg_advisory_lock` and its family (see [`crate::advisory`]).
    Advisory(crate::advisory::AdvisoryFn),
    /// `(record).name`: the record's field number `k` (NULL of a NULL).
    Field(usize),
    /// A row constructor, comparison or test (see [`crate::row`]).
    Row(crate::row::RowFn),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Expr {
    /// The value at this position of the input row.
    Column(usize),
    Literal(Value),
    /// `$n`, zero-based.
    Param(usize),
    /// An explicit cast (`CAST`, `::`) or an implicit one the binder added.
    Cast {
        expr: Box<Expr>,
        to: DataType,
        explicit: bool,
    },
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    /// `IS [NOT] TRUE/FALSE`.
    IsBool {
        expr: Box<Expr>,
        value: bool,
        negated: bool,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        negated: bool,
        case_insensitive: bool,
    },
    Case {
        operand: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    Call {
        func: Function,
        args: Vec<Expr>,
    },
    /// The current time as `timestamptz`, from the statement's context.
    Now(Clock),
    /// A query inside the expression.
    Subquery(Box<Subquery>),
    /// Inside a correlated subquery: the value of its argument `n`, a
    /// value of the row it is evaluated for ([`Params::outer`]).
    Outer(usize),
    /// `nextval`, `currval`, `setval`, `lastval`.
    Sequence {
        op: crate::sequence::SequenceOp,
        seq: Option<Arc<tessera_types::SequenceDef>>,
        args: Vec<Expr>,
    },
    /// `current_setting(name [, missing_ok])` (`set` false) or
    /// `set_config(name, value, is_local)` (see [`crate::settings_fn`]).
    Setting {
        set: bool,
        args: Vec<Expr>,
    },
    /// A catalog function (`format_type`, `pg_get_indexdef`, a `reg*`
    /// cast…), answered from the snapshot the statement was bound against.
    Catalog {
        func: crate::system::CatalogFn,
        system: Arc<crate::system::SystemCatalog>,
        args: Vec<Expr>,
    },
}

/// A subquery in an expression: what it yields, and where its rows come
/// from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Subquery {
    pub kind: SubqueryKind,
    pub query: SubqueryRows,
    /// A correlated subquery's arguments: expressions over the row it is
    /// evaluated for, whose values its [`Expr::Outer`] read.
    pub args: Vec<Expr>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SubqueryKind {
    /// `(SELECT …)`: the one column of its one row; NULL without rows,
    /// and more than one row is 21000.
    Scalar,
    /// `EXISTS (SELECT …)`.
    Exists,
    /// `ARRAY(SELECT …)`: the values of its one column, in order, as an
    /// array of this element type.
    Array(tessera_types::array::Elem),
    /// `left op ANY (SELECT …)` (`IN` is `= ANY`), or with `all`,
    /// `left op ALL (SELECT …)`; the subquery's values are cast to `cast`
    /// first when set. NULLs count as SQL says: no TRUE comparison but a
    /// NULL one makes ANY NULL.
    Quantified {
        left: Box<Expr>,
        op: BinaryOp,
        all: bool,
        cast: Option<DataType>,
    },
    /// `(SELECT x, y …)` compared with a row: a record (`RecordShape::Row`)
    /// of its one row's values, each cast to its `casts` entry when set;
    /// NULL without rows, and more than one row is 21000.
    Row(Vec<Option<DataType>>),
    /// `(a, b) op ANY (SELECT x, y …)` (`(a, b) IN` is `= ANY`), or with
    /// `all` `op ALL`: the values of `left` compared with each row of the
    /// subquery (its columns cast to `casts` where set) as rows compare
    /// (see [`crate::row`]); NULLs count as for [`SubqueryKind::Quantified`].
    RowQuantified {
        left: Vec<Expr>,
        op: BinaryOp,
        all: bool,
        casts: Vec<Option<DataType>>,
    },
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SubqueryRows {
    /// Uncorrelated: an init plan, run once before the statement; its rows
    /// are `Params::init[n]`.
    Init(usize),
    /// Correlated: run again for each row it is evaluated for, over the
    /// rows of its FROM items that init plans gathered.
    PerRow(Arc<SelectPlan>),
}

impl Subquery {
    fn eval(&self, row: &[Value], params: &Params) -> Result<Value> {
        match &self.query {
            SubqueryRows::Init(id) => {
                let init = params.init_rows(*id)?;
                self.result(&init.rows, Some(init), row, params)
            }
            SubqueryRows::PerRow(plan) => {
                let mut outer = Vec::with_capacity(self.args.len());
                for a in &self.args {
                    outer.push(a.eval(row, params)?);
                }
                let inner = params.with_outer(outer);
                match &self.kind {
                    SubqueryKind::Exists => {
                        if let Some(found) = crate::subquery::exists(plan, &inner)? {
                            return Ok(Value::Bool(found));
                        }
                    }
                    SubqueryKind::Quantified {
                        left,
                        op,
                        all,
                        cast,
                    } => {
                        let left = || left.eval(row, params);
                        let how = (*op, *all, *cast);
                        if let Some(v) = crate::subquery::quantified(plan, left, how, &inner)? {
                            return Ok(v);
                        }
                    }
                    SubqueryKind::RowQuantified {
                        left,
                        op,
                        all,
                        casts,
                    } => {
                        let left = || left.iter().map(|e| e.eval(row, params)).collect();
                        let how = (*op, *all, casts.as_slice());
                        if let Some(v) = crate::subquery::row_quantified(plan, left, how, &inner)? {
                            return Ok(v);
                        }
                    }
                    _ => {}
                }
                let rows = crate::subquery::run_local(plan, &inner)?;
                // The left operand of ANY/ALL is the enclosing query's:
                // its outer values are not the subquery's.
                self.result(&rows, None, row, params)
            }
        }
    }

    /// What the subquery yields given its rows; `row` and `params` are the
    /// enclosing evaluation's (for the left operand of ANY/ALL).
    fn result(
        &self,
        rows: &Rows,
        init: Option<&InitRows>,
        row: &[Value],
        params: &Params,
    ) -> Result<Value> {
        match &self.kind {
            SubqueryKind::Exists => Ok(Value::Bool(!rows.is_empty())),
            SubqueryKind::Array(elem) => Ok(Value::Array(Box::new(tessera_types::array::Array {
                elem: *elem,
                items: rows
                    .iter()
                    .map(|r| r.first().cloned().unwrap_or(Value::Null))
                    .collect(),
            }))),
            SubqueryKind::Scalar => match rows.len() {
                0 => Ok(Value::Null),
                1 => Ok(rows[0].first().cloned().unwrap_or(Value::Null)),
                _ => Err(Error::new(
                    sqlstate::CARDINALITY_VIOLATION,
                    "more than one row returned by a subquery used as an expression",
                )),
            },
            SubqueryKind::Row(casts) => match rows.len() {
                0 => Ok(Value::Null),
                1 => Ok(Value::Record(Box::new(tessera_types::value::Record {
                    shape: tessera_types::RecordShape::Row,
                    fields: row_values(&rows[0], casts, &params.time)?,
                }))),
                _ => Err(Error::new(
                    sqlstate::CARDINALITY_VIOLATION,
                    "more than one row returned by a subquery used as an expression",
                )),
            },
            SubqueryKind::RowQuantified {
                left,
                op,
                all,
                casts,
            } => {
                if rows.is_empty() {
                    return Ok(Value::Bool(*all));
                }
                let l = left
                    .iter()
                    .map(|e| e.eval(row, params))
                    .collect::<Result<Vec<_>>>()?;
                let zone = &params.time.zone;
                let hashed = !l.iter().any(Value::is_null);
                if let (Some(init), BinaryOp::Eq, false, true) = (init, op, all, hashed) {
                    // A hashed semi join: an equal row decides; else only
                    // the rows with a NULL can make the answer NULL.
                    let m = init.row_members(casts, &params.time)?;
                    if m.values.contains(&l) {
                        return Ok(Value::Bool(true));
                    }
                    for &n in &m.with_null {
                        let r = row_values(&rows[n], casts, &params.time)?;
                        if crate::row::compare(BinaryOp::Eq, &l, &r, zone)?.is_null() {
                            return Ok(Value::Null);
                        }
                    }
                    return Ok(Value::Bool(false));
                }
                let decisive = !*all;
                let mut saw_null = false;
                for r in rows {
                    let r = row_values(r, casts, &params.time)?;
                    match crate::row::compare(*op, &l, &r, zone)?.as_bool() {
                        Some(b) if b == decisive => return Ok(Value::Bool(decisive)),
                        Some(_) => {}
                        None => saw_null = true,
                    }
                }
                Ok(if saw_null {
                    Value::Null
                } else {
                    Value::Bool(!decisive)
                })
            }
            SubqueryKind::Quantified {
                left,
                op,
                all,
                cast,
            } => {
                if rows.is_empty() {
                    return Ok(Value::Bool(*all));
                }
                let l = left.eval(row, params)?;
                if l.is_null() {
                    return Ok(Value::Null);
                }
                if let (Some(init), BinaryOp::Eq, false) = (init, op, all) {
                    let m = init.members(*cast, &params.time)?;
                    return Ok(if m.values.contains(&l) {
                        Value::Bool(true)
                    } else if m.has_null {
                        Value::Null
                    } else {
                        Value::Bool(false)
                    });
                }
                // ANY: TRUE wins, else NULL if any was; ALL: FALSE wins.
                let decisive = !*all;
                let mut saw_null = false;
                for r in rows {
                    let v = cast_to(r[0].clone(), *cast, &params.time)?;
                    match binary_in(*op, l.clone(), v, &params.time.zone)?.as_bool() {
                        Some(b) if b == decisive => return Ok(Value::Bool(decisive)),
                        Some(_) => {}
                        None => saw_null = true,
                    }
                }
                Ok(if saw_null {
                    Value::Null
                } else {
                    Value::Bool(!decisive)
                })
            }
        }
    }
}

/// `v` as type `to` (an implicit cast), or as it is.
pub(crate) fn cast_to(v: Value, to: Option<DataType>, time: &TimeContext) -> Result<Value> {
    match to {
        Some(t) => v.cast_with(t, false, time),
        None => Ok(v),
    }
}

impl Expr {
    pub fn literal_null() -> Expr {
        Expr::Literal(Value::Null)
    }

    /// Evaluates against `row` with parameter values and context `params`.
    pub fn eval(&self, row: &[Value], params: &Params) -> Result<Value> {
        match self {
            Expr::Column(i) => row
                .get(*i)
                .cloned()
                .ok_or_else(|| Error::internal(format!("column {i} out of range"))),
            Expr::Literal(v) => Ok(v.clone()),
            Expr::Param(i) => params.get(*i).cloned().ok_or_else(|| {
                Error::new(
                    sqlstate::UNDEFINED_PARAMETER,
                    format!("there is no parameter ${}", i + 1),
                )
            }),
            Expr::Cast { expr, to, explicit } => {
                expr.eval(row, params)?
                    .cast_with(*to, *explicit, &params.time)
            }
            Expr::Sequence { op, seq, args } => {
                let values = args
                    .iter()
                    .map(|a| a.eval(row, params))
                    .collect::<Result<Vec<_>>>()?;
                params
                    .sequences
                    .as_ref()
                    .ok_or_else(|| Error::internal("a sequence function outside a session"))?
                    .call(*op, seq.as_ref(), &values)
            }
            Expr::Catalog { func, system, args } => {
                let values = args
                    .iter()
                    .map(|a| a.eval(row, params))
                    .collect::<Result<Vec<_>>>()?;
                system.call(*func, &values)
            }
            Expr::Setting { set, args } => {
                let values = args
                    .iter()
                    .map(|a| a.eval(row, params))
                    .collect::<Result<Vec<_>>>()?;
                let settings = params
                    .settings
                    .as_ref()
                    .ok_or_else(|| Error::internal("a settings function outside a session"))?;
                let text = |i: usize| match values.get(i) {
                    Some(Value::Text(s)) => Some(s.as_str()),
                    _ => None,
                };
                let flag = |i: usize| matches!(values.get(i), Some(Value::Bool(true)));
                match (*set, text(0)) {
                    (_, None) => Ok(Value::Null),
                    // pg_settings shows a time in its unit (see
                    // `system::session_settings`): `5s` is 5000 ms.
                    (false, Some(name)) if text(2) == Some("ms") => {
                        Ok(match settings.current(name, flag(1))? {
                            Value::Text(shown) => crate::engine::parse_milliseconds(&shown)
                                .map_or(Value::Text(shown), |ms| Value::Text(ms.to_string())),
                            other => other,
                        })
                    }
                    (false, Some(name)) => settings.current(name, flag(1)),
                    (true, Some(name)) => match text(1) {
                        Some(value) => settings.set(name, value, flag(2)),
                        // PostgreSQL: a NULL value resets it; not modelled.
                        None => Err(Error::unsupported("set_config with a NULL value")),
                    },
                }
            }
            Expr::Now(clock) => Ok(Value::TimestampTz(match clock {
                Clock::Transaction => params.time.transaction_start,
                Clock::Statement => params.time.statement_start,
                Clock::Wall => datetime::wall_clock(),
            })),
            Expr::Neg(e) => negate(e.eval(row, params)?),
            Expr::Not(e) => Ok(match e.eval(row, params)? {
                Value::Bool(b) => Value::Bool(!b),
                _ => Value::Null,
            }),
            Expr::Binary {
                op: BinaryOp::And,
                left,
                right,
            } => {
                let l = left.eval(row, params)?;
                if l.as_bool() == Some(false) {
                    return Ok(Value::Bool(false));
                }
                let r = right.eval(row, params)?;
                Ok(match (l.as_bool(), r.as_bool()) {
                    (_, Some(false)) => Value::Bool(false),
                    (Some(true), Some(true)) => Value::Bool(true),
                    _ => Value::Null,
                })
            }
            Expr::Binary {
                op: BinaryOp::Or,
                left,
                right,
            } => {
                let l = left.eval(row, params)?;
                if l.as_bool() == Some(true) {
                    return Ok(Value::Bool(true));
                }
                let r = right.eval(row, params)?;
                Ok(match (l.as_bool(), r.as_bool()) {
                    (_, Some(true)) => Value::Bool(true),
                    (Some(false), Some(false)) => Value::Bool(false),
                    _ => Value::Null,
                })
            }
            Expr::Binary { op, left, right } => {
                let l = left.eval(row, params)?;
                let r = right.eval(row, params)?;
                binary_in(*op, l, r, &params.time.zone)
            }
            Expr::IsNull { expr, negated } => {
                Ok(Value::Bool(expr.eval(row, params)?.is_null() != *negated))
            }
            Expr::IsBool {
                expr,
                value,
                negated,
            } => {
                let v = expr.eval(row, params)?;
                Ok(Value::Bool((v.as_bool() == Some(*value)) != *negated))
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let v = expr.eval(row, params)?;
                if v.is_null() {
                    return Ok(Value::Null);
                }
                let mut saw_null = false;
                for item in list {
                    let x = item.eval(row, params)?;
                    if x.is_null() {
                        saw_null = true;
                    } else if v.compare(&x) == Ordering::Equal {
                        return Ok(Value::Bool(!negated));
                    }
                }
                Ok(if saw_null {
                    Value::Null
                } else {
                    Value::Bool(*negated)
                })
            }
            Expr::Like {
                expr,
                pattern,
                negated,
                case_insensitive,
            } => {
                let v = expr.eval(row, params)?;
                let p = pattern.eval(row, params)?;
                Ok(match like_values(&v, &p, *case_insensitive, None) {
                    Some(m) => Value::Bool(m != *negated),
                    None => Value::Null,
                })
            }
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => {
                let subject = match operand {
                    Some(o) => Some(o.eval(row, params)?),
                    None => None,
                };
                for (when, then) in whens {
                    let w = when.eval(row, params)?;
                    let hit = match &subject {
                        Some(s) => !s.is_null() && !w.is_null() && s.compare(&w) == Ordering::Equal,
                        None => w.as_bool() == Some(true),
                    };
                    if hit {
                        return then.eval(row, params);
                    }
                }
                match otherwise {
                    Some(e) => e.eval(row, params),
                    None => Ok(Value::Null),
                }
            }
            Expr::Call { func, args } => call(*func, args, row, params),
            Expr::Subquery(sub) => sub.eval(row, params),
            Expr::Outer(i) => params
                .outer
                .get(*i)
                .cloned()
                .ok_or_else(|| Error::internal(format!("outer value {i} missing"))),
        }
    }

    /// Evaluates a condition: only TRUE passes (NULL and FALSE do not).
    pub fn eval_predicate(&self, row: &[Value], params: &Params) -> Result<bool> {
        Ok(self.eval(row, params)?.as_bool() == Some(true))
    }

    /// The expressions directly inside this one.
    fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Column(_) | Expr::Literal(_) | Expr::Param(_) | Expr::Now(_) | Expr::Outer(_) => {
                vec![]
            }
            Expr::Cast { expr, .. }
            | Expr::Neg(expr)
            | Expr::Not(expr)
            | Expr::IsNull { expr, .. }
            | Expr::IsBool { expr, .. } => vec![expr],
            Expr::Binary { left, right, .. } => vec![left, right],
            Expr::InList { expr, list, .. } => std::iter::once(&**expr).chain(list).collect(),
            Expr::Like { expr, pattern, .. } => vec![expr, pattern],
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => operand
                .iter()
                .map(|e| &**e)
                .chain(whens.iter().flat_map(|(w, t)| [w, t]))
                .chain(otherwise.iter().map(|e| &**e))
                .collect(),
            Expr::Call { args, .. }
            | Expr::Sequence { args, .. }
            | Expr::Catalog { args, .. }
            | Expr::Setting { args, .. } => args.iter().collect(),
            // Not its query: that reads its own rows.
            Expr::Subquery(sub) => {
                let left: &[Expr] = match &sub.kind {
                    SubqueryKind::Quantified { left, .. } => std::slice::from_ref(&**left),
                    SubqueryKind::RowQuantified { left, .. } => left,
                    _ => &[],
                };
                left.iter().chain(&sub.args).collect()
            }
        }
    }

    /// Whether the expression reads a value of an enclosing query's row
    /// ([`Expr::Outer`]), so it can only be evaluated for one.
    pub fn uses_outer(&self) -> bool {
        matches!(self, Expr::Outer(_)) || self.children().iter().any(|c| c.uses_outer())
    }

    /// Calls `f` with every input column the expression reads.
    pub fn for_each_column(&self, f: &mut impl FnMut(usize)) {
        match self {
            Expr::Column(i) => f(*i),
            other => {
                for c in other.children() {
                    c.for_each_column(f);
                }
            }
        }
    }

    /// The same expression over a row whose columns are numbered from
    /// `first` of this one's input (every column it reads is at or after it).
    pub fn rebased(&self, first: usize) -> Expr {
        self.map_columns(&|i| i - first)
    }

    /// The same expression with each input column `i` read from `f(i)`.
    pub fn map_columns(&self, f: &impl Fn(usize) -> usize) -> Expr {
        self.map_refs(&|i| Expr::Column(f(i)), &Expr::Outer)
    }

    /// The same expression with each input column `i` replaced by
    /// `column(i)` and each outer value `n` by `outer(n)` (not looking
    /// into subqueries' own queries, whose arguments it maps).
    pub fn map_refs(
        &self,
        column: &impl Fn(usize) -> Expr,
        outer: &impl Fn(usize) -> Expr,
    ) -> Expr {
        let f = |e: &Expr| e.map_refs(column, outer);
        let boxed = |e: &Expr| Box::new(f(e));
        match self {
            Expr::Column(i) => column(*i),
            Expr::Outer(n) => outer(*n),
            Expr::Literal(_) | Expr::Param(_) | Expr::Now(_) => self.clone(),
            Expr::Subquery(sub) => Expr::Subquery(Box::new(Subquery {
                kind: match &sub.kind {
                    SubqueryKind::Quantified {
                        left,
                        op,
                        all,
                        cast,
                    } => SubqueryKind::Quantified {
                        left: boxed(left),
                        op: *op,
                        all: *all,
                        cast: *cast,
                    },
                    SubqueryKind::RowQuantified {
                        left,
                        op,
                        all,
                        casts,
                    } => SubqueryKind::RowQuantified {
                        left: left.iter().map(&f).collect(),
                        op: *op,
                        all: *all,
                        casts: casts.clone(),
                    },
                    other => other.clone(),
                },
                query: sub.query.clone(),
                args: sub.args.iter().map(&f).collect(),
            })),
            Expr::Cast { expr, to, explicit } => Expr::Cast {
                expr: boxed(expr),
                to: *to,
                explicit: *explicit,
            },
            Expr::Neg(e) => Expr::Neg(boxed(e)),
            Expr::Not(e) => Expr::Not(boxed(e)),
            Expr::Binary { op, left, right } => Expr::Binary {
                op: *op,
                left: boxed(left),
                right: boxed(right),
            },
            Expr::IsNull { expr, negated } => Expr::IsNull {
                expr: boxed(expr),
                negated: *negated,
            },
            Expr::IsBool {
                expr,
                value,
                negated,
            } => Expr::IsBool {
                expr: boxed(expr),
                value: *value,
                negated: *negated,
            },
            Expr::InList {
                expr,
                list,
                negated,
            } => Expr::InList {
                expr: boxed(expr),
                list: list.iter().map(&f).collect(),
                negated: *negated,
            },
            Expr::Like {
                expr,
                pattern,
                negated,
                case_insensitive,
            } => Expr::Like {
                expr: boxed(expr),
                pattern: boxed(pattern),
                negated: *negated,
                case_insensitive: *case_insensitive,
            },
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => Expr::Case {
                operand: operand.as_deref().map(boxed),
                whens: whens.iter().map(|(w, t)| (f(w), f(t))).collect(),
                otherwise: otherwise.as_deref().map(boxed),
            },
            Expr::Call { func, args } => Expr::Call {
                func: *func,
                args: args.iter().map(&f).collect(),
            },
            Expr::Sequence { op, seq, args } => Expr::Sequence {
                op: *op,
                seq: seq.clone(),
                args: args.iter().map(&f).collect(),
            },
            Expr::Catalog { func, system, args } => Expr::Catalog {
                func: *func,
                system: system.clone(),
                args: args.iter().map(&f).collect(),
            },
            Expr::Setting { set, args } => Expr::Setting {
                set: *set,
                args: args.iter().map(&f).collect(),
            },
        }
    }

    /// Whether the expression calls a sequence function.
    pub fn uses_sequences(&self) -> bool {
        self.any(&|e| matches!(e, Expr::Sequence { .. }))
    }

    /// Whether `f` holds for the expression or any part of it (not
    /// looking into subqueries' own queries).
    pub fn any(&self, f: &impl Fn(&Expr) -> bool) -> bool {
        f(self) || self.children().iter().any(|c| c.any(f))
    }

    /// The conjuncts of an AND chain, borrowed, appended to `out`.
    pub fn conjunct_refs<'e>(&'e self, out: &mut Vec<&'e Expr>) {
        match self {
            Expr::Binary {
                op: BinaryOp::And,
                left,
                right,
            } => {
                left.conjunct_refs(out);
                right.conjunct_refs(out);
            }
            other => out.push(other),
        }
    }

    /// The conjuncts of an AND chain (itself when it is not one).
    pub fn conjuncts(self) -> Vec<Expr> {
        match self {
            Expr::Binary {
                op: BinaryOp::And,
                left,
                right,
            } => {
                let mut out = left.conjuncts();
                out.extend(right.conjuncts());
                out
            }
            other => vec![other],
        }
    }

    /// The operands of an OR tree (just `self` when it is no OR).
    pub fn disjuncts(self) -> Vec<Expr> {
        match self {
            Expr::Binary {
                op: BinaryOp::Or,
                left,
                right,
            } => {
                let mut out = left.disjuncts();
                out.extend(right.disjuncts());
                out
            }
            other => vec![other],
        }
    }

    /// The OR of `disjuncts`; `None` when there are none.
    pub fn either(disjuncts: Vec<Expr>) -> Option<Expr> {
        disjuncts.into_iter().reduce(|a, b| Expr::Binary {
            op: BinaryOp::Or,
            left: Box::new(a),
            right: Box::new(b),
        })
    }

    /// The AND of `conjuncts`; `None` when there are none.
    pub fn all(conjuncts: Vec<Expr>) -> Option<Expr> {
        conjuncts.into_iter().reduce(|a, b| Expr::Binary {
            op: BinaryOp::And,
            left: Box::new(a),
            right: Box::new(b),
        })
    }
}

fn negate(v: Value) -> Result<Value> {
    Ok(match v {
        Value::Null => Value::Null,
        Value::Int2(i) => Value::Int2(
            i.checked_neg()
                .ok_or_else(|| Error::out_of_range("smallint"))?,
        ),
        Value::Int4(i) => Value::Int4(
            i.checked_neg()
                .ok_or_else(|| Error::out_of_range("integer"))?,
        ),
        Value::Int8(i) => Value::Int8(
            i.checked_neg()
                .ok_or_else(|| Error::out_of_range("bigint"))?,
        ),
        Value::Float4(f) => Value::Float4(-f),
        Value::Float8(f) => Value::Float8(-f),
        Value::Numeric(d) => Value::Numeric(d.neg()),
        Value::Interval(i) => Value::Interval(i.checked_neg()?),
        other => return Err(Error::internal(format!("cannot negate {other:?}"))),
    })
}

macro_rules! int_arith {
    ($op:expr, $a:expr, $b:expr, $variant:path, $name:expr) => {{
        let (a, b) = ($a, $b);
        let r = match $op {
            BinaryOp::Add => a.checked_add(b),
            BinaryOp::Sub => a.checked_sub(b),
            BinaryOp::Mul => a.checked_mul(b),
            BinaryOp::Div => {
                if b == 0 {
                    return Err(Error::division_by_zero());
                }
                a.checked_div(b)
            }
            BinaryOp::Mod => {
                if b == 0 {
                    return Err(Error::division_by_zero());
                }
                // MIN % -1 is 0 in PostgreSQL, not an overflow.
                Some(a.checked_rem(b).unwrap_or(0))
            }
            _ => unreachable!("not arithmetic"),
        };
        r.map($variant).ok_or_else(|| Error::out_of_range($name))
    }};
}

fn float_arith(op: BinaryOp, a: f64, b: f64) -> Result<f64> {
    let r = match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => {
            if b == 0.0 {
                return Err(Error::division_by_zero());
            }
            a / b
        }
        BinaryOp::Mod => {
            if b == 0.0 {
                return Err(Error::division_by_zero());
            }
            a % b
        }
        _ => unreachable!("not arithmetic"),
    };
    if r.is_infinite() && a.is_finite() && b.is_finite() {
        return Err(Error::new(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            "value out of range: overflow",
        ));
    }
    if r == 0.0
        && a != 0.0
        && matches!(op, BinaryOp::Mul | BinaryOp::Div)
        && b.is_finite()
        && a.is_finite()
    {
        return Err(Error::new(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            "value out of range: underflow",
        ));
    }
    Ok(r)
}

/// Applies a binary operator to operands of the same type (the binder cast
/// them), or of the date/time operators' pairs; `timestamptz ± interval`
/// moves the wall clock of UTC here (see [`binary_in`]).
pub fn binary(op: BinaryOp, l: Value, r: Value) -> Result<Value> {
    binary_in(op, l, r, &TimeZone::UTC)
}

/// [`binary`], with `timestamptz ± interval` counted in `zone`.
pub fn binary_in(op: BinaryOp, l: Value, r: Value, zone: &TimeZone) -> Result<Value> {
    binary_ref(op, &l, &r, zone)
}

/// [`binary_in`] over borrowed operands: what the batch executor calls
/// for each row, copying nothing it does not return.
pub fn binary_ref(op: BinaryOp, l: &Value, r: &Value, zone: &TimeZone) -> Result<Value> {
    // The commonest pairs first: no date/time operator takes them.
    match (op, l, r) {
        (BinaryOp::Add, Value::Numeric(a), Value::Numeric(b)) => {
            return a.add(b).map(Value::Numeric)
        }
        (BinaryOp::Sub, Value::Numeric(a), Value::Numeric(b)) => {
            return a.sub(b).map(Value::Numeric)
        }
        (BinaryOp::Mul, Value::Numeric(a), Value::Numeric(b)) => {
            return a.mul(b).map(Value::Numeric)
        }
        (op, a, b) if op.is_comparison() && same_simple_kind(a, b) => {
            return Ok(Value::Bool(compared(op, a.compare(b))))
        }
        _ => {}
    }
    if l.is_null() || r.is_null() {
        return Ok(Value::Null);
    }
    if let Some(v) = datetime_arith(op, l, r, zone)? {
        return Ok(v);
    }
    if op.is_comparison() {
        return Ok(Value::Bool(compared(op, l.compare(r))));
    }
    if op == BinaryOp::Concat {
        let mut s = l.to_text().unwrap_or_default();
        r.write_text(&mut s);
        return Ok(Value::Text(s));
    }
    match (l, r) {
        (Value::Int2(a), Value::Int2(b)) => int_arith!(op, *a, *b, Value::Int2, "smallint"),
        (Value::Int4(a), Value::Int4(b)) => int_arith!(op, *a, *b, Value::Int4, "integer"),
        (Value::Int8(a), Value::Int8(b)) => int_arith!(op, *a, *b, Value::Int8, "bigint"),
        (Value::Float4(a), Value::Float4(b)) => {
            let r = float_arith(op, *a as f64, *b as f64)?;
            if (r as f32).is_infinite() && r.is_finite() {
                return Err(Error::new(
                    sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
                    "value out of range: overflow",
                ));
            }
            Ok(Value::Float4(r as f32))
        }
        (Value::Float8(a), Value::Float8(b)) => float_arith(op, *a, *b).map(Value::Float8),
        (Value::Numeric(a), Value::Numeric(b)) => Ok(Value::Numeric(match op {
            BinaryOp::Add => a.add(b)?,
            BinaryOp::Sub => a.sub(b)?,
            BinaryOp::Mul => a.mul(b)?,
            BinaryOp::Div => a.div(b)?,
            BinaryOp::Mod => a.rem(b)?,
            _ => unreachable!(),
        })),
        (l, r) => Err(Error::internal(format!(
            "operator {} on {:?} and {:?}",
            op.symbol(),
            l,
            r
        ))),
    }
}

/// What comparison `op` says of two values ordered `ord`.
fn compared(op: BinaryOp, ord: Ordering) -> bool {
    match op {
        BinaryOp::Eq => ord == Ordering::Equal,
        BinaryOp::NotEq => ord != Ordering::Equal,
        BinaryOp::Lt => ord == Ordering::Less,
        BinaryOp::LtEq => ord != Ordering::Greater,
        BinaryOp::Gt => ord == Ordering::Greater,
        _ => ord != Ordering::Less,
    }
}

/// Whether `a` and `b` are non-NULL values of one type that compare
/// directly (no date/time operator takes them as a pair).
fn same_simple_kind(a: &Value, b: &Value) -> bool {
    matches!(
        (a, b),
        (Value::Int4(_), Value::Int4(_))
            | (Value::Int8(_), Value::Int8(_))
            | (Value::Numeric(_), Value::Numeric(_))
            | (Value::Date(_), Value::Date(_))
            | (Value::Timestamp(_), Value::Timestamp(_))
            | (Value::Text(_), Value::Text(_))
            | (Value::BpChar(_), Value::BpChar(_))
    )
}

/// The date/time operators, by operand pair: `None` when `l` and `r` are
/// not one of them.
fn datetime_arith(op: BinaryOp, l: &Value, r: &Value, zone: &TimeZone) -> Result<Option<Value>> {
    use BinaryOp::{Add, Div, Mul, Sub};
    use Value as V;
    let days = |v: &Value| v.as_i64();
    Ok(Some(match (op, l, r) {
        (Add, V::Date(d), n) | (Add, n, V::Date(d)) if days(n).is_some() => {
            V::Date(ops::date_plus_days(*d, days(n).unwrap_or(0))?)
        }
        (Sub, V::Date(d), n) if days(n).is_some() => {
            V::Date(ops::date_plus_days(*d, -days(n).unwrap_or(0))?)
        }
        (Sub, V::Date(a), V::Date(b)) => V::Int4(ops::date_minus_date(*a, *b)?),
        (Add, V::Date(d), V::Time(t)) | (Add, V::Time(t), V::Date(d)) => {
            V::Timestamp(ops::date_plus_time(*d, *t)?)
        }
        (Add, V::Date(d), V::TimeTz(t, z)) | (Add, V::TimeTz(t, z), V::Date(d)) => {
            // The wall clock of the time's own zone on that date.
            let local = ops::date_plus_time(*d, *t)?;
            V::TimestampTz(TimeZone::fixed(*z).to_utc(local)?)
        }
        (Add | Sub, V::Date(d), V::Interval(i)) | (Add, V::Interval(i), V::Date(d)) => {
            let ts = datetime::date_to_timestamp(*d)?;
            let i = if op == Sub { i.checked_neg()? } else { *i };
            V::Timestamp(ops::timestamp_plus_interval(ts, &i)?)
        }
        (Add | Sub, V::Timestamp(ts), V::Interval(i)) | (Add, V::Interval(i), V::Timestamp(ts)) => {
            let i = if op == Sub { i.checked_neg()? } else { *i };
            V::Timestamp(ops::timestamp_plus_interval(*ts, &i)?)
        }
        (Add | Sub, V::TimestampTz(ts), V::Interval(i))
        | (Add, V::Interval(i), V::TimestampTz(ts)) => {
            let i = if op == Sub { i.checked_neg()? } else { *i };
            V::TimestampTz(ops::timestamptz_plus_interval(*ts, &i, zone)?)
        }
        (Sub, V::Timestamp(a), V::Timestamp(b)) | (Sub, V::TimestampTz(a), V::TimestampTz(b)) => {
            V::Interval(ops::timestamp_minus_timestamp(*a, *b)?)
        }
        (Add | Sub, V::Time(t), V::Interval(i)) | (Add, V::Interval(i), V::Time(t)) => {
            let i = if op == Sub { i.checked_neg()? } else { *i };
            V::Time(ops::time_plus_interval(*t, &i))
        }
        (Add | Sub, V::TimeTz(t, z), V::Interval(i)) | (Add, V::Interval(i), V::TimeTz(t, z)) => {
            let i = if op == Sub { i.checked_neg()? } else { *i };
            V::TimeTz(ops::time_plus_interval(*t, &i), *z)
        }
        (Sub, V::Time(a), V::Time(b)) => V::Interval(ops::time_minus_time(*a, *b)),
        (Add, V::Interval(a), V::Interval(b)) => V::Interval(a.checked_add(b)?),
        (Sub, V::Interval(a), V::Interval(b)) => V::Interval(a.checked_sub(b)?),
        (Mul, V::Interval(i), f) | (Mul, f, V::Interval(i)) => V::Interval(i.mul(f.to_f64()?)?),
        (Div, V::Interval(i), f) => V::Interval(i.div(f.to_f64()?)?),
        _ => return Ok(None),
    }))
}

/// The zone an `AT TIME ZONE` argument names: a zone name (22023 if
/// unknown) or an interval of hours (22023 if it holds months or days).
/// `(s1, e1) OVERLAPS (s2, e2)` as PostgreSQL's `overlaps_timestamp`:
/// each period's ends put in order (one NULL end taken as the other),
/// then true when they share a moment, NULL where a NULL end leaves that
/// open.
fn overlaps(vals: &[Value]) -> Result<Value> {
    let [s1, e1, s2, e2] = vals else {
        return Err(Error::internal("OVERLAPS takes four values"));
    };
    // A period as (start, end or None); None when both ends are NULL.
    let period = |s: &Value, e: &Value| -> Option<(Value, Option<Value>)> {
        match (s.is_null(), e.is_null()) {
            (true, true) => None,
            (true, false) => Some((e.clone(), None)),
            (false, true) => Some((s.clone(), None)),
            (false, false) if s.compare(e) == Ordering::Greater => {
                Some((e.clone(), Some(s.clone())))
            }
            (false, false) => Some((s.clone(), Some(e.clone()))),
        }
    };
    let (Some((s1, e1)), Some((s2, e2))) = (period(s1, e1), period(s2, e2)) else {
        return Ok(Value::Null);
    };
    let before = |a: &Value, b: &Value| a.compare(b) == Ordering::Less;
    // The later start must come before the earlier period's end.
    let (later_start, first_end, second_end) = match s1.compare(&s2) {
        Ordering::Greater => (&s1, &e2, &e1),
        Ordering::Less => (&s2, &e1, &e2),
        Ordering::Equal => {
            return Ok(match (&e1, &e2) {
                (Some(_), Some(_)) => Value::Bool(true),
                _ => Value::Null,
            })
        }
    };
    let Some(first_end) = first_end else {
        return Ok(Value::Null);
    };
    if before(later_start, first_end) {
        return Ok(Value::Bool(true));
    }
    Ok(match second_end {
        Some(_) => Value::Bool(false),
        None => Value::Null,
    })
}

/// `date_bin(stride, ts, origin)` as PostgreSQL's `timestamp_bin`: the
/// start of the stride-long bin, counted from `origin`, that holds `ts`
/// (an infinite `ts` is itself). Strides of months are 0A000; strides
/// not above zero, an infinite origin or a result out of range 22008.
fn date_bin(stride: &datetime::Interval, ts: i64, origin: i64) -> Result<i64> {
    if !datetime::is_finite_timestamp(ts) {
        return Ok(ts);
    }
    let out_of_range = |what: &str| Error::new(sqlstate::DATETIME_FIELD_OVERFLOW, what.to_string());
    if !datetime::is_finite_timestamp(origin) {
        return Err(out_of_range("origin out of range"));
    }
    if stride.months != 0 {
        return Err(Error::new(
            sqlstate::FEATURE_NOT_SUPPORTED,
            "timestamps cannot be binned into intervals containing months or years",
        ));
    }
    let stride_us = (stride.days as i64)
        .checked_mul(datetime::USECS_PER_DAY)
        .and_then(|d| d.checked_add(stride.micros))
        .ok_or_else(|| out_of_range("interval out of range"))?;
    if stride_us <= 0 {
        return Err(out_of_range("stride must be greater than zero"));
    }
    let diff = ts
        .checked_sub(origin)
        .ok_or_else(|| out_of_range("interval out of range"))?;
    let mut delta = diff - diff % stride_us;
    // The start of the bin also when the origin is after the source.
    if diff < 0 && diff % stride_us != 0 {
        delta -= stride_us;
    }
    origin
        .checked_add(delta)
        .filter(|r| datetime::is_valid_timestamp(*r))
        .ok_or_else(|| out_of_range("timestamp out of range"))
}

fn zone_argument(v: &Value) -> Result<TimeZone> {
    match v {
        Value::Interval(i) => {
            if i.months != 0 || i.days != 0 {
                return Err(Error::new(
                    sqlstate::INVALID_PARAMETER_VALUE,
                    format!(
                        "interval time zone \"{}\" must not include months or days",
                        i.to_text()
                    ),
                ));
            }
            Ok(TimeZone::fixed((i.micros / datetime::USECS_PER_SEC) as i32))
        }
        Value::Text(name) | Value::BpChar(name) => TimeZone::lookup(name).ok_or_else(|| {
            Error::new(
                sqlstate::INVALID_PARAMETER_VALUE,
                format!("time zone \"{name}\" not recognized"),
            )
        }),
        other => Err(Error::internal(format!("time zone argument {other:?}"))),
    }
}

/// `extract`/`date_part` of a date/time value; `numeric` picks the result type.
fn date_part(unit: &str, v: &Value, zone: &TimeZone, numeric: bool) -> Result<Value> {
    let part = match v {
        Value::Date(d) => ops::date_part(unit, *d)?,
        Value::Time(t) | Value::TimeTz(t, _) => ops::time_part(unit, *t)?,
        Value::Timestamp(ts) => ops::timestamp_part(unit, *ts, None)?,
        Value::TimestampTz(ts) => ops::timestamp_part(unit, *ts, Some(zone))?,
        Value::Interval(i) => ops::interval_part(unit, i)?,
        other => return Err(Error::internal(format!("extract from {other:?}"))),
    };
    Ok(if numeric {
        part.to_numeric()?.map_or(Value::Null, Value::Numeric)
    } else {
        part.to_float().map_or(Value::Null, Value::Float8)
    })
}

fn call(func: Function, args: &[Expr], row: &[Value], params: &Params) -> Result<Value> {
    if func == Function::Coalesce {
        for a in args {
            let v = a.eval(row, params)?;
            if !v.is_null() {
                return Ok(v);
            }
        }
        return Ok(Value::Null);
    }
    let vals = args
        .iter()
        .map(|a| a.eval(row, params))
        .collect::<Result<Vec<_>>>()?;
    if let Function::Text(f) = func {
        return f.eval(&vals, &params.time);
    }
    if let Function::Json(f) = func {
        return f.eval_in(&vals, &params.time.output_style());
    }
    if let Function::Array(f) = func {
        return f.eval_in(&vals, &params.time.output_style());
    }
    if func == Function::Overlaps {
        return overlaps(&vals);
    }
    if let Function::Math(f) = func {
        return f.eval(&vals);
    }
    if let Function::Pattern(f) = func {
        return f.eval(&vals);
    }
    if let Function::Formatting(f) = func {
        return f.eval(&vals, &params.time);
    }
    if let Function::Session(f) = func {
        return f.eval(&vals);
    }
    if let Function::Advisory(f) = func {
        return f.eval(crate::activity::current_pid(), &vals);
    }
    if let Function::Row(f) = func {
        return f.eval(vals, &params.time.zone);
    }
    if let Function::Field(k) = func {
        return match vals.as_slice() {
            [Value::Null] => Ok(Value::Null),
            [Value::Record(r)] => r
                .fields
                .get(k)
                .cloned()
                .ok_or_else(|| Error::internal(format!("field {k} of a {:?} record", r.shape))),
            _ => Err(Error::internal("a field of a value that is not a record")),
        };
    }
    if matches!(func, Function::Greatest | Function::Least) {
        let mut best: Option<Value> = None;
        for v in vals.into_iter().filter(|v| !v.is_null()) {
            best = Some(match best {
                None => v,
                Some(b) => {
                    let ord = v.compare(&b);
                    let take = if func == Function::Greatest {
                        ord == Ordering::Greater
                    } else {
                        ord == Ordering::Less
                    };
                    if take {
                        v
                    } else {
                        b
                    }
                }
            });
        }
        return Ok(best.unwrap_or(Value::Null));
    }
    if func == Function::NullIf {
        let (a, b) = (&vals[0], &vals[1]);
        if !a.is_null() && !b.is_null() && a.compare(b) == Ordering::Equal {
            return Ok(Value::Null);
        }
        return Ok(vals[0].clone());
    }
    if vals.iter().any(|v| v.is_null()) {
        return Ok(Value::Null);
    }
    Ok(match (func, &vals[..]) {
        (Function::Abs, [v]) => match v {
            Value::Int2(i) => Value::Int2(
                i.checked_abs()
                    .ok_or_else(|| Error::out_of_range("smallint"))?,
            ),
            Value::Int4(i) => Value::Int4(
                i.checked_abs()
                    .ok_or_else(|| Error::out_of_range("integer"))?,
            ),
            Value::Int8(i) => Value::Int8(
                i.checked_abs()
                    .ok_or_else(|| Error::out_of_range("bigint"))?,
            ),
            Value::Float4(f) => Value::Float4(f.abs()),
            Value::Float8(f) => Value::Float8(f.abs()),
            Value::Numeric(d) => Value::Numeric(d.abs()),
            _ => return Err(Error::internal("abs of a non-number")),
        },
        (Function::Lower, [Value::Text(s)]) => Value::Text(crate::text::lower(s)),
        (Function::Upper, [Value::Text(s)]) => Value::Text(crate::text::upper(s)),
        (Function::Length, [Value::Text(s)]) => Value::Int4(s.chars().count() as i32),
        (Function::Extract | Function::DatePart, [Value::Text(unit), v]) => {
            date_part(unit, v, &params.time.zone, func == Function::Extract)?
        }
        (Function::DateTrunc, [Value::Text(unit), v]) => match v {
            Value::Timestamp(ts) => Value::Timestamp(ops::timestamp_trunc(unit, *ts, None)?),
            Value::TimestampTz(ts) => {
                Value::TimestampTz(ops::timestamp_trunc(unit, *ts, Some(&params.time.zone))?)
            }
            Value::Interval(i) => Value::Interval(ops::interval_trunc(unit, i)?),
            other => return Err(Error::internal(format!("date_trunc of {other:?}"))),
        },
        (Function::DateTrunc, [Value::Text(unit), Value::TimestampTz(ts), zone]) => {
            let zone = zone_argument(zone)?;
            Value::TimestampTz(ops::timestamp_trunc(unit, *ts, Some(&zone))?)
        }
        (Function::Age, [a, b]) => {
            let local = |v: &Value| -> Result<i64> {
                match v {
                    Value::Timestamp(ts) => Ok(*ts),
                    Value::TimestampTz(ts) => params.time.zone.to_local(*ts),
                    other => Err(Error::internal(format!("age of {other:?}"))),
                }
            };
            Value::Interval(ops::age(local(a)?, local(b)?)?)
        }
        (Function::JustifyDays, [Value::Interval(i)]) => Value::Interval(i.justify_days()?),
        (Function::JustifyHours, [Value::Interval(i)]) => Value::Interval(i.justify_hours()?),
        (Function::JustifyInterval, [Value::Interval(i)]) => Value::Interval(i.justify()?),
        (Function::DateBin, [Value::Interval(stride), source, origin]) => {
            let (Value::Timestamp(ts) | Value::TimestampTz(ts)) = source else {
                return Err(Error::internal("date_bin of a non-timestamp"));
            };
            let (Value::Timestamp(o) | Value::TimestampTz(o)) = origin else {
                return Err(Error::internal("date_bin origin"));
            };
            let binned = date_bin(stride, *ts, *o)?;
            match source {
                Value::Timestamp(_) => Value::Timestamp(binned),
                _ => Value::TimestampTz(binned),
            }
        }
        (Function::IsFinite, [v]) => Value::Bool(match v {
            Value::Date(d) => datetime::is_finite_date(*d),
            Value::Timestamp(ts) | Value::TimestampTz(ts) => datetime::is_finite_timestamp(*ts),
            _ => true,
        }),
        (Function::ToTimestamp, [Value::Float8(seconds)]) => {
            Value::TimestampTz(to_timestamp(*seconds)?)
        }
        (Function::AtTimeZone, [v, zone]) => {
            let zone = zone_argument(zone)?;
            match v {
                Value::TimestampTz(ts) => Value::Timestamp(zone.to_local(*ts)?),
                Value::Timestamp(ts) => Value::TimestampTz(zone.to_utc(*ts)?),
                Value::TimeTz(t, z) => {
                    // A region zone's offset is the one in force at the
                    // transaction start (PostgreSQL's `timetz_zone`).
                    let offset = zone.offset_at_utc(params.time.transaction_start);
                    let shifted = *t + (offset - *z) as i64 * datetime::USECS_PER_SEC;
                    Value::TimeTz(shifted.rem_euclid(datetime::USECS_PER_DAY), offset)
                }
                other => return Err(Error::internal(format!("AT TIME ZONE on {other:?}"))),
            }
        }
        (f, vals) => {
            return Err(Error::internal(format!(
                "{f:?} with {} arguments",
                vals.len()
            )))
        }
    })
}

/// `to_timestamp(seconds since 1970)`: NaN is an error, infinities map to
/// the infinite timestamps, and the result must be in range (22008).
fn to_timestamp(seconds: f64) -> Result<i64> {
    if seconds.is_nan() {
        return Err(Error::new(
            sqlstate::DATETIME_FIELD_OVERFLOW,
            "timestamp cannot be NaN",
        ));
    }
    if seconds.is_infinite() {
        return Ok(if seconds > 0.0 {
            datetime::TIMESTAMP_INFINITY
        } else {
            datetime::TIMESTAMP_NEG_INFINITY
        });
    }
    let epoch = datetime::from_unix_micros(0) as f64 / 1e6;
    let from_2000 = seconds + epoch;
    let micros = (from_2000 * 1e6).round_ties_even();
    let in_range =
        micros >= datetime::TIMESTAMP_MIN as f64 && micros < datetime::TIMESTAMP_END as f64;
    if !in_range {
        let mut text = String::new();
        let v = Value::Float8(seconds);
        v.write_text(&mut text);
        return Err(Error::new(
            sqlstate::DATETIME_FIELD_OVERFLOW,
            format!("timestamp out of range: \"{text}\""),
        ));
    }
    Ok(micros as i64)
}

/// `value LIKE pattern` (ILIKE when `case_insensitive`, with the pattern
/// already lower-cased in `lowered` when the caller has it); `None` when
/// either is not text (NULL). char(n) matches with its blanks, as
/// PostgreSQL's bpcharlike.
pub fn like_values(
    value: &Value,
    pattern: &Value,
    case_insensitive: bool,
    lowered: Option<&str>,
) -> Option<bool> {
    let (Value::Text(s) | Value::BpChar(s), Value::Text(p)) = (value, pattern) else {
        return None;
    };
    Some(match (case_insensitive, lowered) {
        (false, _) => like(s, p),
        (true, Some(p)) => like(&s.to_lowercase(), p),
        (true, None) => like(&s.to_lowercase(), &p.to_lowercase()),
    })
}

/// SQL LIKE with `%`, `_` and `\\` as escape. Greedy, going back only to
/// the last `%` on a mismatch (enough for these wildcards): no allocation,
/// and no exponential blow-up on patterns with many `%`.
pub fn like(s: &str, pattern: &str) -> bool {
    if !pattern.contains(['_', '\\']) {
        return like_segments(s, pattern);
    }
    like_general(s, pattern)
}

/// [`like`] for any pattern: characters matched one at a time, going back
/// to the last `%` on a mismatch.
fn like_general(s: &str, pattern: &str) -> bool {
    let (mut s_at, mut p_at) = (s, pattern);
    // The pattern after the last `%` seen, and where in `s` it was tried.
    let mut retry: Option<(&str, &str)> = None;
    loop {
        let mut p = p_at.chars();
        let step = match p.next() {
            Some('%') => {
                p_at = p.as_str();
                retry = Some((p_at, s_at));
                continue;
            }
            None if s_at.is_empty() => return true,
            None => None,
            Some(c) => {
                let wanted = match c {
                    '_' => None,
                    '\\' if !p.as_str().is_empty() => p.next(),
                    c => Some(c),
                };
                let mut rest = s_at.chars();
                match rest.next() {
                    Some(have) if wanted.is_none_or(|w| w == have) => {
                        Some((rest.as_str(), p.as_str()))
                    }
                    _ => None,
                }
            }
        };
        match (step, retry) {
            (Some((s_next, p_next)), _) => (s_at, p_at) = (s_next, p_next),
            (None, Some((p_after, tried))) => {
                let mut next = tried.chars();
                if next.next().is_none() {
                    return false;
                }
                retry = Some((p_after, next.as_str()));
                (s_at, p_at) = (next.as_str(), p_after);
            }
            (None, None) => return false,
        }
    }
}

/// [`like`] for a pattern whose only wildcard is `%`: the text between
/// `%`s found in order, leftmost first, the first piece at the start and
/// the last at the end.
fn like_segments(s: &str, pattern: &str) -> bool {
    let mut pieces = pattern.split('%');
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = s.strip_prefix(first) else {
        return false;
    };
    let Some(mut piece) = pieces.next() else {
        return rest.is_empty();
    };
    for next in pieces {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
        piece = next;
    }
    rest.ends_with(piece)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(v: Value) -> Box<Expr> {
        Box::new(Expr::Literal(v))
    }

    #[test]
    fn three_valued_logic() {
        let and = |a, b| {
            Expr::Binary {
                op: BinaryOp::And,
                left: lit(a),
                right: lit(b),
            }
            .eval(&[], &Params::default())
            .unwrap()
        };
        let or = |a, b| {
            Expr::Binary {
                op: BinaryOp::Or,
                left: lit(a),
                right: lit(b),
            }
            .eval(&[], &Params::default())
            .unwrap()
        };
        assert_eq!(and(Value::Null, Value::Bool(false)).as_bool(), Some(false));
        assert!(and(Value::Null, Value::Bool(true)).is_null());
        assert_eq!(or(Value::Null, Value::Bool(true)).as_bool(), Some(true));
        assert!(or(Value::Null, Value::Bool(false)).is_null());
        let not_in = Expr::InList {
            expr: lit(Value::Int4(1)),
            list: vec![Expr::Literal(Value::Int4(2)), Expr::literal_null()],
            negated: true,
        };
        assert!(not_in.eval(&[], &Params::default()).unwrap().is_null());
    }

    #[test]
    fn integer_arithmetic_like_postgres() {
        assert_eq!(
            binary(BinaryOp::Div, Value::Int4(7), Value::Int4(2))
                .unwrap()
                .as_i64(),
            Some(3)
        );
        assert_eq!(
            binary(BinaryOp::Div, Value::Int4(-7), Value::Int4(2))
                .unwrap()
                .as_i64(),
            Some(-3)
        );
        assert_eq!(
            binary(BinaryOp::Mod, Value::Int4(-7), Value::Int4(2))
                .unwrap()
                .as_i64(),
            Some(-1)
        );
        assert_eq!(
            binary(BinaryOp::Add, Value::Int4(i32::MAX), Value::Int4(1))
                .unwrap_err()
                .code,
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE
        );
        assert_eq!(
            binary(BinaryOp::Div, Value::Int4(1), Value::Int4(0))
                .unwrap_err()
                .code,
            sqlstate::DIVISION_BY_ZERO
        );
        assert_eq!(
            binary(BinaryOp::Div, Value::Int4(i32::MIN), Value::Int4(-1))
                .unwrap_err()
                .code,
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE
        );
        assert!(binary(BinaryOp::Add, Value::Null, Value::Int4(1))
            .unwrap()
            .is_null());
    }

    #[test]
    fn like_without_wildcards_but_percent_matches_the_general_matcher() {
        let texts = [
            "",
            "a",
            "ab",
            "aab",
            "abab",
            "ba",
            "mississippi",
            "héllo wörld",
            "%",
            "a%b",
        ];
        let patterns = [
            "", "%", "%%", "a", "a%", "%a", "%a%", "a%b", "%ab%", "%a%a", "a%a%", "%b%a%",
            "m%iss%pi", "%ss%ss%", "%ö%", "h%d", "ab", "%abab", "a%%b",
        ];
        for t in texts {
            for p in patterns {
                assert_eq!(like_segments(t, p), like_general(t, p), "{t:?} LIKE {p:?}");
            }
        }
    }

    #[test]
    fn like_patterns() {
        assert!(like("hello", "h%o"));
        assert!(like("hello", "_ello"));
        assert!(!like("hello", "h_o"));
        assert!(like("50%", "50\\%"));
        assert!(!like("500", "50\\%"));
        assert!(like("", "%"));
        assert!(like("abc", "%%%c"));
        assert!(!like("abc", "%b"));
        assert!(like("mississippi", "m%iss%pi"));
        assert!(like("mississippi", "%s_s%p_"));
        assert!(!like("mississippi", "m%iss%pix"));
        assert!(like("ünïcødé", "_n%d_"));
        assert!(like("a\\", "a\\"));
        assert!(like("a_b", "a\\_b"));
        assert!(!like("axb", "a\\_b"));
        // Many wildcards stay fast (was exponential).
        assert!(!like(&"a".repeat(200), &format!("{}b", "%a".repeat(30))));
    }
}
