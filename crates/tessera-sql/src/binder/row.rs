//! Row constructors in expressions: `(a, b)` and `ROW(a, b)`.
//!
//! A comparison of two written rows is taken apart here into comparisons
//! of their fields, which the rest of the binder handles as any other
//! (types resolved pair by pair, as PostgreSQL resolves each pair's
//! operator): `(a, b) = (c, d)` is `a = c AND b = d`, `<>` an OR of
//! `<>`, and an ordering `(a, b) > (c, d)` is
//! `a >= c AND (a > c OR (a = c AND b > d))`. The leading `a >= c` changes
//! no answer (the rest is never true without it, and NULL whenever `a` or
//! `c` is), but as a conjunct of its own it is a bound that index and
//! range choice see, so keyset pagination over an index reads from the
//! row's first value onwards.
//! SQL's NULL rules for rows are exactly those of AND and OR over the
//! fields' comparisons. `IN ((1, 2), (3, 4))` is an OR of row
//! equalities, `IS [NOT] NULL` and `IS [NOT] DISTINCT FROM` the AND/OR of
//! their fields' tests.
//!
//! A row compared with a subquery's row cannot be taken apart before the
//! subquery runs: `(a, b) op (SELECT x, y …)` compares a record with the
//! subquery's one row (`SubqueryKind::Row`, 21000 past one row), and
//! `(a, b) [NOT] IN (SELECT …)`, `op ANY/ALL` are
//! `SubqueryKind::RowQuantified` (a hashed semi join over an uncorrelated
//! subquery's rows). A row alone is a `record` value.

use sqlparser::ast;
use tessera_types::{sqlstate, DataType, Error, RecordShape, Result, ROW_FIELDS_MAX};

use super::{function_name, needs_cast, operator_missing, Binder, Ctx, Scope};
use crate::engine::ColumnDesc;
use crate::expr::{BinaryOp, Expr, Function, Subquery, SubqueryKind};
use crate::row::RowFn;

/// The fields of `e` when it is a row constructor: `(a, b, …)` or
/// `ROW(…)` (`ROW(a)` has one field; `(a)` is just `a`).
pub(super) fn row_constructor(e: &ast::Expr) -> Option<Vec<ast::Expr>> {
    match e {
        ast::Expr::Tuple(items) => Some(items.clone()),
        ast::Expr::Nested(inner) => row_constructor(inner),
        ast::Expr::Function(f)
            if f.name.0.len() == 1
                && function_name(f) == "row"
                && f.over.is_none()
                && f.filter.is_none()
                && f.within_group.is_empty() =>
        {
            match &f.args {
                ast::FunctionArguments::None => Some(vec![]),
                ast::FunctionArguments::List(list)
                    if list.duplicate_treatment.is_none() && list.clauses.is_empty() =>
                {
                    list.args
                        .iter()
                        .map(|a| match a {
                            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => {
                                Some(e.clone())
                            }
                            _ => None,
                        })
                        .collect()
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// PostgreSQL's error for rows of different widths compared.
fn unequal_rows() -> Error {
    Error::syntax("unequal number of entries in row expressions")
}

/// A subquery of `width` columns compared with a row of `fields`.
fn subquery_width(fields: usize, width: usize) -> Result<()> {
    match width.cmp(&fields) {
        std::cmp::Ordering::Less => Err(Error::syntax("subquery has too few columns")),
        std::cmp::Ordering::Greater => Err(Error::syntax("subquery has too many columns")),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

fn nested(e: ast::Expr) -> ast::Expr {
    ast::Expr::Nested(Box::new(e))
}

/// `op` over `items`, as a balanced tree: a long list (an IN list of
/// thousands of rows) is then as deep as its logarithm, not its length,
/// for everything that walks the expression recursively.
fn balanced(op: BinaryOp, mut items: Vec<Expr>) -> Option<Expr> {
    while items.len() > 1 {
        let mut next = Vec::with_capacity(items.len().div_ceil(2));
        let mut it = items.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => Expr::Binary {
                    op,
                    left: Box::new(a),
                    right: Box::new(b),
                },
                None => a,
            });
        }
        items = next;
    }
    items.pop()
}

fn and(a: Expr, b: Expr) -> Expr {
    Expr::Binary {
        op: BinaryOp::And,
        left: Box::new(a),
        right: Box::new(b),
    }
}

fn or(a: Expr, b: Expr) -> Expr {
    Expr::Binary {
        op: BinaryOp::Or,
        left: Box::new(a),
        right: Box::new(b),
    }
}

fn comparison(op: &ast::BinaryOperator) -> Option<BinaryOp> {
    use ast::BinaryOperator as B;
    Some(match op {
        B::Eq => BinaryOp::Eq,
        B::NotEq => BinaryOp::NotEq,
        B::Lt => BinaryOp::Lt,
        B::LtEq => BinaryOp::LtEq,
        B::Gt => BinaryOp::Gt,
        B::GtEq => BinaryOp::GtEq,
        _ => return None,
    })
}

impl Binder<'_> {
    /// `l_i op r_i`, bound as that comparison alone would be (a pair of
    /// rows compared as rows).
    fn bind_pair(
        &mut self,
        l: &ast::Expr,
        op: ast::BinaryOperator,
        r: &ast::Expr,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<Expr> {
        let (e, t) = self.bind_binary(l, &op, r, scope, ctx)?;
        self.expect_bool(e, t, &op.to_string())
    }

    /// `l op r` for written rows of one width, as comparisons of their
    /// fields (see the module comment).
    fn bind_row_comparison(
        &mut self,
        op: &ast::BinaryOperator,
        l: &[ast::Expr],
        r: &[ast::Expr],
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        use ast::BinaryOperator as B;
        if matches!(op, B::Eq | B::NotEq) {
            let mut pairs = Vec::with_capacity(l.len());
            for (a, b) in l.iter().zip(r) {
                pairs.push(self.bind_pair(a, op.clone(), b, scope, ctx)?);
            }
            let join = if *op == B::Eq {
                BinaryOp::And
            } else {
                BinaryOp::Or
            };
            let e = balanced(join, pairs).ok_or_else(|| Error::internal("a row of no fields"))?;
            return Ok((e, DataType::Bool));
        }
        let (strict, weak) = match op {
            B::Lt | B::LtEq => (B::Lt, B::LtEq),
            _ => (B::Gt, B::GtEq),
        };
        // From the last field back: l_i strict r_i OR (l_i = r_i AND rest).
        let last = l.len() - 1;
        let mut rest = self.bind_pair(&l[last], op.clone(), &r[last], scope, ctx)?;
        for i in (0..last).rev() {
            let decided = self.bind_pair(&l[i], strict.clone(), &r[i], scope, ctx)?;
            let tie = self.bind_pair(&l[i], B::Eq, &r[i], scope, ctx)?;
            rest = or(decided, and(tie, rest));
        }
        if last > 0 {
            let bound = self.bind_pair(&l[0], weak, &r[0], scope, ctx)?;
            rest = and(bound, rest);
        }
        Ok((rest, DataType::Bool))
    }

    /// `ROW(a, b, …)` as a value: a `record` (untyped literals are text).
    pub(super) fn bind_row_value(
        &mut self,
        fields: &[ast::Expr],
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        if fields.len() > ROW_FIELDS_MAX {
            return Err(Error::new(
                sqlstate::TOO_MANY_COLUMNS,
                format!("ROW expressions can have at most {ROW_FIELDS_MAX} entries"),
            ));
        }
        let mut args = Vec::with_capacity(fields.len());
        for f in fields {
            let (e, t) = self.bind_expr(f, scope, ctx)?;
            let e = if t == DataType::Unknown {
                self.coerce(e, t, DataType::Text)?
            } else {
                e
            };
            args.push(e);
        }
        Ok((
            Expr::Call {
                func: Function::Row(RowFn::Construct),
                args,
            },
            DataType::Record(RecordShape::Row),
        ))
    }

    /// `left op right` when either side is a row constructor: `None` when
    /// neither is.
    pub(super) fn bind_row_binary(
        &mut self,
        left: &ast::Expr,
        op: &ast::BinaryOperator,
        right: &ast::Expr,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<Option<(Expr, DataType)>> {
        let (l, r) = (row_constructor(left), row_constructor(right));
        if l.is_none() && r.is_none() {
            return Ok(None);
        }
        let record = DataType::Record(RecordShape::Row);
        let Some(cmp) = comparison(op) else {
            return Err(operator_missing(&op.to_string(), Some(record), record));
        };
        match (l, r) {
            (Some(l), Some(r)) => {
                if l.len() != r.len() {
                    return Err(unequal_rows());
                }
                if l.is_empty() {
                    return Err(Error::unsupported("cannot compare rows of zero length"));
                }
                self.bind_row_comparison(op, &l, &r, scope, ctx).map(Some)
            }
            (Some(fields), None) => match right {
                ast::Expr::Subquery(q) => self
                    .bind_row_subquery(&fields, RowFn::Compare(cmp), q, scope, ctx)
                    .map(Some),
                other => {
                    let (_, t) = self.bind_expr(other, scope, ctx)?;
                    Err(operator_missing(cmp.symbol(), Some(record), t))
                }
            },
            // PostgreSQL's grammar has a row subquery on the right only:
            // on the left it is a scalar subquery (of one column).
            (None, Some(_)) => {
                let (_, t) = self.bind_expr(left, scope, ctx)?;
                Err(operator_missing(cmp.symbol(), Some(t), record))
            }
            (None, None) => Ok(None),
        }
    }

    /// `l IS [NOT] DISTINCT FROM r` when either side is a row constructor.
    pub(super) fn bind_row_distinct(
        &mut self,
        left: &ast::Expr,
        right: &ast::Expr,
        negated: bool,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<Option<(Expr, DataType)>> {
        let (l, r) = (row_constructor(left), row_constructor(right));
        let record = DataType::Record(RecordShape::Row);
        match (l, r) {
            (None, None) => Ok(None),
            (Some(l), Some(r)) => {
                if l.len() != r.len() {
                    return Err(unequal_rows());
                }
                if l.is_empty() {
                    return Err(Error::unsupported("cannot compare rows of zero length"));
                }
                let mut pairs = Vec::with_capacity(l.len());
                for (a, b) in l.iter().zip(&r) {
                    let (a, b) = (Box::new(nested(a.clone())), Box::new(nested(b.clone())));
                    let test = if negated {
                        ast::Expr::IsNotDistinctFrom(a, b)
                    } else {
                        ast::Expr::IsDistinctFrom(a, b)
                    };
                    pairs.push(self.bind_expr(&test, scope, ctx)?.0);
                }
                let join = if negated { BinaryOp::And } else { BinaryOp::Or };
                let e =
                    balanced(join, pairs).ok_or_else(|| Error::internal("a row of no fields"))?;
                Ok(Some((e, DataType::Bool)))
            }
            // A row against anything but a row: PostgreSQL has no row
            // subquery here (it is a scalar one, of one column).
            (Some(_), None) | (None, Some(_)) => {
                let (lt, rt) = if row_constructor(left).is_some() {
                    (record, self.bind_expr(right, scope, ctx)?.1)
                } else {
                    (self.bind_expr(left, scope, ctx)?.1, record)
                };
                Err(operator_missing("=", Some(lt), rt))
            }
        }
    }

    /// `(a, b) IS [NOT] NULL`: each field NULL (with `negated`, none).
    pub(super) fn bind_row_is_null(
        &mut self,
        fields: &[ast::Expr],
        negated: bool,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        let mut tests = Vec::with_capacity(fields.len());
        for f in fields {
            let test = if negated {
                ast::Expr::IsNotNull(Box::new(f.clone()))
            } else {
                ast::Expr::IsNull(Box::new(f.clone()))
            };
            tests.push(self.bind_expr(&test, scope, ctx)?.0);
        }
        let all = balanced(BinaryOp::And, tests)
            .unwrap_or(Expr::Literal(tessera_types::Value::Bool(true)));
        Ok((all, DataType::Bool))
    }

    /// `(a, b) IN ((1, 2), (3, 4))`: an OR of row equalities (NOT IN its
    /// negation), each item a row of the same width.
    pub(super) fn bind_row_in_list(
        &mut self,
        expr: &ast::Expr,
        list: &[ast::Expr],
        negated: bool,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        let mut any = Vec::with_capacity(list.len());
        for item in list {
            let (e, t) = self.bind_binary(expr, &ast::BinaryOperator::Eq, item, scope, ctx)?;
            any.push(self.expect_bool(e, t, "IN")?);
        }
        let Some(any) = balanced(BinaryOp::Or, any) else {
            return Err(Error::syntax("syntax error at or near \")\""));
        };
        Ok((
            if negated {
                Expr::Not(Box::new(any))
            } else {
                any
            },
            DataType::Bool,
        ))
    }

    /// The fields of a row bound and brought to a common type with the
    /// subquery's columns `descs` (of the same count): the fields
    /// coerced, and the casts of the columns.
    fn row_against(
        &mut self,
        fields: &[ast::Expr],
        descs: &[ColumnDesc],
        op: BinaryOp,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Vec<Expr>, Vec<Option<DataType>>)> {
        let mut left = Vec::with_capacity(fields.len());
        let mut casts = Vec::with_capacity(fields.len());
        for (f, d) in fields.iter().zip(descs) {
            let rt = d.data_type;
            let (l, lt) = self.bind_expr_hint(f, scope, ctx, Some(rt))?;
            let common = DataType::common_type(lt, rt)
                .ok_or_else(|| operator_missing(op.symbol(), Some(lt), rt))?;
            let common = if common == DataType::Unknown {
                DataType::Text
            } else {
                common
            };
            left.push(self.coerce(l, lt, common)?);
            casts.push(needs_cast(rt, common).then_some(common));
        }
        Ok((left, casts))
    }

    /// `(a, b) op (SELECT x, y …)`: the row compared by `f` with the
    /// record of the subquery's one row.
    fn bind_row_subquery(
        &mut self,
        fields: &[ast::Expr],
        f: RowFn,
        q: &ast::Query,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        let (query, args, descs) = self.bind_subquery(q, scope, ctx)?;
        subquery_width(fields.len(), descs.len())?;
        let op = match f {
            RowFn::Compare(op) => op,
            _ => return Err(Error::internal(format!("a row subquery compared by {f:?}"))),
        };
        let (left, casts) = self.row_against(fields, &descs, op, scope, ctx)?;
        let sub = Expr::Subquery(Box::new(Subquery {
            kind: SubqueryKind::Row(casts),
            query,
            args,
        }));
        let row = Expr::Call {
            func: Function::Row(RowFn::Construct),
            args: left,
        };
        Ok((
            Expr::Call {
                func: Function::Row(f),
                args: vec![row, sub],
            },
            DataType::Bool,
        ))
    }

    /// `(a, b) op ANY|ALL (SELECT x, y …)`; `IN` is `= ANY`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn bind_row_quantified(
        &mut self,
        fields: &[ast::Expr],
        op: BinaryOp,
        all: bool,
        q: &ast::Query,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        let (query, args, descs) = self.bind_subquery(q, scope, ctx)?;
        subquery_width(fields.len(), descs.len())?;
        let (left, casts) = self.row_against(fields, &descs, op, scope, ctx)?;
        Ok((
            Expr::Subquery(Box::new(Subquery {
                kind: SubqueryKind::RowQuantified {
                    left,
                    op,
                    all,
                    casts,
                },
                query,
                args,
            })),
            DataType::Bool,
        ))
    }
}

/// The most primary keys a `(k1, k2) IN ((…), (…))` list (or an OR of
/// key equalities) is read by: past it, the shards read the table with
/// the condition as a filter instead. The keys are constants of the
/// statement's own text, so this only bounds the plan's size.
pub(super) const KEY_LIST_MAX: usize = 10_000;

impl Binder<'_> {
    /// Rows of `table` read by primary key when a conjunct of `filter`
    /// names a list of whole keys with constants: `(a, b) IN ((1, 2),
    /// (3, 4))` (an OR of key equalities, as bound), `k IN (1, 2)`, or
    /// any OR whose every branch fixes every key column. The conjunct
    /// stays in the filter; the lookup only narrows what the shards read.
    pub(super) fn key_list(
        &self,
        table: &tessera_types::TableDef,
        filter: Option<&Expr>,
    ) -> Option<crate::plan::KeyLookup> {
        let pk = &table.primary_key;
        if pk.is_empty() {
            return None;
        }
        let value_of = |c: usize, e: &Expr| -> Option<tessera_types::Value> {
            let v = match e {
                Expr::Literal(v) => v.clone(),
                Expr::Cast { expr, to, .. } => match &**expr {
                    Expr::Literal(v) => v.clone().cast_with(*to, false, &self.time).ok()?,
                    _ => return None,
                },
                _ => return None,
            };
            let t = table.columns.get(c)?.data_type;
            v.cast_with(t, false, &self.time).ok()
        };
        for conjunct in filter?.clone().conjuncts() {
            let mut keys: Vec<Vec<tessera_types::Value>> = Vec::new();
            let whole = match &conjunct {
                Expr::InList {
                    expr,
                    list,
                    negated: false,
                } if pk.len() == 1 && **expr == Expr::Column(pk[0]) => {
                    list.iter().all(|item| match value_of(pk[0], item) {
                        Some(v) => {
                            keys.push(vec![v]);
                            true
                        }
                        None => false,
                    })
                }
                Expr::Binary {
                    op: BinaryOp::Or, ..
                } => conjunct.clone().disjuncts().into_iter().all(|branch| {
                    let mut key = vec![None; pk.len()];
                    for c in branch.conjuncts() {
                        let Expr::Binary {
                            op: BinaryOp::Eq,
                            left,
                            right,
                        } = c
                        else {
                            continue;
                        };
                        let (col, value) = match (&*left, &*right) {
                            (Expr::Column(col), v) | (v, Expr::Column(col)) => (*col, v),
                            _ => continue,
                        };
                        if let Some(k) = pk.iter().position(|p| *p == col) {
                            key[k] = value_of(col, value);
                        }
                    }
                    match key.into_iter().collect::<Option<Vec<_>>>() {
                        Some(key) => {
                            keys.push(key);
                            true
                        }
                        None => false,
                    }
                }),
                _ => false,
            };
            if !whole || keys.is_empty() || keys.len() > KEY_LIST_MAX {
                continue;
            }
            // A NULL key finds nothing (its equality is never true).
            keys.retain(|k| !k.iter().any(tessera_types::Value::is_null));
            keys.sort_by(|a, b| {
                a.iter()
                    .zip(b)
                    .map(|(x, y)| x.compare(y))
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            keys.dedup();
            return Some(crate::plan::KeyLookup {
                index: None,
                keys: std::sync::Arc::new(crate::rows::Rows::from_vecs(keys)),
                filter: None,
            });
        }
        None
    }
}
