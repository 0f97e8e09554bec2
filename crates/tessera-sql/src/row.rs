//! Row values: `ROW(a, b)` / `(a, b)` as a value, and rows compared as
//! SQL compares them.
//!
//! Where both sides of a comparison are written as rows, the binder takes
//! the row apart (`(a, b) = (c, d)` is `a = c AND b = d`, `(a, b) < (c,
//! d)` is `a <= c AND (a < c OR (a = c AND b < d))`), so routing, index
//! choice and the batch kernels see plain comparisons. What is left for
//! this module is a row that is one value: a row constructor in a select
//! list (`record`, shown as PostgreSQL's `record_out` shows it), and a
//! row compared with the one row of a subquery, whose values exist only
//! when the subquery runs ([`compare`], [`crate::expr::SubqueryKind`]).
//!
//! The comparison rules are PostgreSQL's for row constructors (not those
//! of `record_eq`, which orders NULLs): `=` is false when a pair of
//! non-NULL fields differs, else NULL when a field is NULL; `<`, `<=`,
//! `>`, `>=` are decided by the first pair that is not equal, NULL when
//! that pair holds a NULL.

use tessera_types::datetime::TimeZone;
use tessera_types::{Error, RecordShape, Result, Value};

use crate::expr::{binary_ref, BinaryOp};

/// A function over rows (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RowFn {
    /// `ROW(a, b, …)`: a record of its arguments.
    Construct,
    /// Two rows (records of one width) compared with a comparison
    /// operator; a NULL record (a row subquery without rows) gives NULL.
    Compare(BinaryOp),
    /// `r IS NULL` (every field NULL), or with `negated` `r IS NOT NULL`
    /// (no field NULL); a NULL record is NULL in every field.
    IsNull { negated: bool },
}

impl RowFn {
    pub fn eval(self, args: Vec<Value>, zone: &TimeZone) -> Result<Value> {
        match self {
            RowFn::Construct => Ok(Value::Record(Box::new(tessera_types::value::Record {
                shape: RecordShape::Row,
                fields: args,
            }))),
            RowFn::IsNull { negated } => match args.as_slice() {
                [Value::Null] => Ok(Value::Bool(!negated)),
                [Value::Record(r)] => Ok(Value::Bool(if negated {
                    r.fields.iter().all(|v| !v.is_null())
                } else {
                    r.fields.iter().all(Value::is_null)
                })),
                _ => Err(Error::internal("IS NULL of a row that is not a record")),
            },
            RowFn::Compare(op) => match args.as_slice() {
                [Value::Null, _] | [_, Value::Null] => Ok(Value::Null),
                [Value::Record(l), Value::Record(r)] => compare(op, &l.fields, &r.fields, zone),
                _ => Err(Error::internal(
                    "a row comparison of values that are not records",
                )),
            },
        }
    }
}

/// The fields `l` and `r` (of one width) compared with `op` as rows.
pub fn compare(op: BinaryOp, l: &[Value], r: &[Value], zone: &TimeZone) -> Result<Value> {
    if l.len() != r.len() {
        return Err(Error::internal(format!(
            "rows of {} and {} fields compared",
            l.len(),
            r.len()
        )));
    }
    match op {
        BinaryOp::Eq | BinaryOp::NotEq => {
            // A differing non-NULL pair decides; else a NULL makes NULL.
            let mut saw_null = false;
            for (a, b) in l.iter().zip(r) {
                if a.is_null() || b.is_null() {
                    saw_null = true;
                } else if binary_ref(BinaryOp::NotEq, a, b, zone)?.as_bool() == Some(true) {
                    return Ok(Value::Bool(op == BinaryOp::NotEq));
                }
            }
            Ok(if saw_null {
                Value::Null
            } else {
                Value::Bool(op == BinaryOp::Eq)
            })
        }
        BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Gt | BinaryOp::GtEq => {
            for (a, b) in l.iter().zip(r) {
                if a.is_null() || b.is_null() {
                    return Ok(Value::Null);
                }
                if binary_ref(BinaryOp::NotEq, a, b, zone)?.as_bool() == Some(true) {
                    return binary_ref(op, a, b, zone);
                }
            }
            Ok(Value::Bool(matches!(op, BinaryOp::LtEq | BinaryOp::GtEq)))
        }
        other => Err(Error::internal(format!("{other:?} of two rows"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(op: BinaryOp, l: &[Option<i32>], r: &[Option<i32>]) -> Option<bool> {
        let v = |x: &[Option<i32>]| -> Vec<Value> {
            x.iter()
                .map(|i| i.map_or(Value::Null, Value::Int4))
                .collect()
        };
        compare(op, &v(l), &v(r), &TimeZone::UTC).unwrap().as_bool()
    }

    #[test]
    fn rows_compare_as_postgresql_compares_row_constructors() {
        use BinaryOp::*;
        assert_eq!(cmp(Eq, &[Some(1), None], &[Some(1), Some(2)]), None);
        assert_eq!(cmp(Eq, &[Some(1), None], &[Some(2), Some(2)]), Some(false));
        assert_eq!(
            cmp(NotEq, &[Some(1), None], &[Some(2), Some(2)]),
            Some(true)
        );
        assert_eq!(
            cmp(Eq, &[Some(1), Some(2)], &[Some(1), Some(2)]),
            Some(true)
        );
        assert_eq!(cmp(Lt, &[Some(1), None], &[Some(2), Some(0)]), Some(true));
        assert_eq!(cmp(Lt, &[None, Some(1)], &[Some(2), Some(0)]), None);
        assert_eq!(cmp(Lt, &[Some(1), None], &[Some(1), Some(2)]), None);
        assert_eq!(
            cmp(LtEq, &[Some(1), Some(2)], &[Some(1), Some(2)]),
            Some(true)
        );
        assert_eq!(
            cmp(Lt, &[Some(1), Some(2)], &[Some(1), Some(2)]),
            Some(false)
        );
        assert_eq!(cmp(Gt, &[Some(2), None], &[Some(1), Some(9)]), Some(true));
    }
}
