//! Bound expressions and their evaluation over one row.
//!
//! The binder resolves names and types, so an [`Expr`] is plain data: column
//! positions, literals, parameter numbers and operators whose operands were
//! already cast to a common type. It can be shipped to another shard and
//! evaluated there. Evaluation follows PostgreSQL: three-valued logic,
//! overflow is 22003, division by zero is 22012.

use std::cmp::Ordering;

use tessera_types::{numeric, sqlstate, DataType, Error, Result, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Abs,
    Lower,
    Upper,
    Length,
    Coalesce,
    NullIf,
    Round,
    Greatest,
    Least,
}

#[derive(Debug, Clone, PartialEq)]
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
}

impl Expr {
    pub fn literal_null() -> Expr {
        Expr::Literal(Value::Null)
    }

    /// Evaluates against `row` with parameter values `params`.
    pub fn eval(&self, row: &[Value], params: &[Value]) -> Result<Value> {
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
            Expr::Cast { expr, to, explicit } => expr.eval(row, params)?.cast(*to, *explicit),
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
                binary(*op, l, r)
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
                match (v, p) {
                    (Value::Text(s), Value::Text(p)) => {
                        let m = if *case_insensitive {
                            like(&s.to_lowercase(), &p.to_lowercase())
                        } else {
                            like(&s, &p)
                        };
                        Ok(Value::Bool(m != *negated))
                    }
                    _ => Ok(Value::Null),
                }
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
        }
    }

    /// Evaluates a condition: only TRUE passes (NULL and FALSE do not).
    pub fn eval_predicate(&self, row: &[Value], params: &[Value]) -> Result<bool> {
        Ok(self.eval(row, params)?.as_bool() == Some(true))
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
        Value::Numeric(d) => Value::Numeric(-d),
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

/// Applies a binary operator to operands of the same type (the binder cast them).
pub fn binary(op: BinaryOp, l: Value, r: Value) -> Result<Value> {
    if l.is_null() || r.is_null() {
        return Ok(Value::Null);
    }
    if op.is_comparison() {
        let ord = l.compare(&r);
        let b = match op {
            BinaryOp::Eq => ord == Ordering::Equal,
            BinaryOp::NotEq => ord != Ordering::Equal,
            BinaryOp::Lt => ord == Ordering::Less,
            BinaryOp::LtEq => ord != Ordering::Greater,
            BinaryOp::Gt => ord == Ordering::Greater,
            BinaryOp::GtEq => ord != Ordering::Less,
            _ => unreachable!(),
        };
        return Ok(Value::Bool(b));
    }
    if op == BinaryOp::Concat {
        let mut s = l.to_text().unwrap_or_default();
        r.write_text(&mut s);
        return Ok(Value::Text(s));
    }
    match (l, r) {
        (Value::Int2(a), Value::Int2(b)) => int_arith!(op, a, b, Value::Int2, "smallint"),
        (Value::Int4(a), Value::Int4(b)) => int_arith!(op, a, b, Value::Int4, "integer"),
        (Value::Int8(a), Value::Int8(b)) => int_arith!(op, a, b, Value::Int8, "bigint"),
        (Value::Float4(a), Value::Float4(b)) => {
            let r = float_arith(op, a as f64, b as f64)?;
            if (r as f32).is_infinite() && r.is_finite() {
                return Err(Error::new(
                    sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
                    "value out of range: overflow",
                ));
            }
            Ok(Value::Float4(r as f32))
        }
        (Value::Float8(a), Value::Float8(b)) => float_arith(op, a, b).map(Value::Float8),
        (Value::Numeric(a), Value::Numeric(b)) => Ok(Value::Numeric(match op {
            BinaryOp::Add => numeric::add(a, b)?,
            BinaryOp::Sub => numeric::sub(a, b)?,
            BinaryOp::Mul => numeric::mul(a, b)?,
            BinaryOp::Div => numeric::div(a, b)?,
            BinaryOp::Mod => numeric::rem(a, b)?,
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

fn call(func: Function, args: &[Expr], row: &[Value], params: &[Value]) -> Result<Value> {
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
        (Function::Lower, [Value::Text(s)]) => Value::Text(s.to_lowercase()),
        (Function::Upper, [Value::Text(s)]) => Value::Text(s.to_uppercase()),
        (Function::Length, [Value::Text(s)]) => Value::Int4(s.chars().count() as i32),
        (Function::Round, [Value::Numeric(d)]) => {
            Value::Numeric(numeric::with_scale(d.round_dp(0), 0))
        }
        (Function::Round, [Value::Float8(f)]) => Value::Float8(f.round_ties_even()),
        (Function::Round, [Value::Numeric(d), scale]) => {
            let s = scale.as_i64().unwrap_or(0);
            if s < 0 {
                return Err(Error::unsupported("round() with a negative scale"));
            }
            Value::Numeric(numeric::with_scale(
                *d,
                s.min(numeric::SCALE_MAX as i64) as u32,
            ))
        }
        (f, vals) => {
            return Err(Error::internal(format!(
                "{f:?} with {} arguments",
                vals.len()
            )))
        }
    })
}

/// SQL LIKE with `%`, `_` and `\` as escape.
pub fn like(s: &str, pattern: &str) -> bool {
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    fn go(s: &[char], p: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('%') => {
                let rest = &p[1..];
                (0..=s.len()).any(|i| go(&s[i..], rest))
            }
            Some('_') => !s.is_empty() && go(&s[1..], &p[1..]),
            Some('\\') if p.len() > 1 => !s.is_empty() && s[0] == p[1] && go(&s[1..], &p[2..]),
            Some(c) => !s.is_empty() && s[0] == *c && go(&s[1..], &p[1..]),
        }
    }
    go(&s, &p)
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
            .eval(&[], &[])
            .unwrap()
        };
        let or = |a, b| {
            Expr::Binary {
                op: BinaryOp::Or,
                left: lit(a),
                right: lit(b),
            }
            .eval(&[], &[])
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
        assert!(not_in.eval(&[], &[]).unwrap().is_null());
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
    fn like_patterns() {
        assert!(like("hello", "h%o"));
        assert!(like("hello", "_ello"));
        assert!(!like("hello", "h_o"));
        assert!(like("50%", "50\\%"));
        assert!(!like("500", "50\\%"));
    }
}
