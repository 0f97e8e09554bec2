//! The formatting and constructor functions for dates, times and numbers:
//! `to_char` (date/time and number templates), `to_date`,
//! `to_timestamp(text, text)`, `to_number`, and `make_date`, `make_time`,
//! `make_timestamp`, `make_timestamptz`, `make_interval` (with named
//! arguments, `make_interval(days => 10)`).
//!
//! Which overload a call resolves to follows PostgreSQL's catalog: a
//! `date` is formatted as a `timestamptz` (its preferred type), small
//! integers as `integer`, and an untyped literal first argument of
//! `to_char` is ambiguous (42725). The templates themselves live in
//! `tessera_types` ([`tessera_types::datetime::to_char`],
//! [`tessera_types::number_format`], [`tessera_types::datetime::from_char`]).

use sqlparser::ast;
use tessera_types::datetime::{self, from_char, to_char, Interval, TimeContext, TimeZone};
use tessera_types::{number_format, sqlstate, DataType, Error, Result, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FormattingFn {
    ToChar,
    ToDate,
    /// `to_timestamp(text, text)`; the one-argument form is elsewhere.
    ToTimestamp,
    ToNumber,
    MakeDate,
    MakeTime,
    MakeTimestamp,
    MakeTimestampTz,
    MakeInterval,
}

impl FormattingFn {
    /// The function a call of `name` with `arg_count` arguments is.
    pub fn named(name: &str, arg_count: usize) -> Option<FormattingFn> {
        use FormattingFn::*;
        Some(match name {
            "to_char" => ToChar,
            "to_date" => ToDate,
            "to_timestamp" if arg_count == 2 => ToTimestamp,
            "to_number" => ToNumber,
            "make_date" => MakeDate,
            "make_time" => MakeTime,
            "make_timestamp" => MakeTimestamp,
            "make_timestamptz" => MakeTimestampTz,
            "make_interval" => MakeInterval,
            _ => return None,
        })
    }

    /// PostgreSQL's parameter names, for named arguments.
    fn parameter_names(self) -> &'static [&'static str] {
        use FormattingFn::*;
        match self {
            MakeDate => &["year", "month", "day"],
            MakeTime => &["hour", "min", "sec"],
            MakeTimestamp => &["year", "month", "mday", "hour", "min", "sec"],
            MakeTimestampTz => &["year", "month", "mday", "hour", "min", "sec", "timezone"],
            MakeInterval => &["years", "months", "weeks", "days", "hours", "mins", "secs"],
            ToChar | ToDate | ToTimestamp | ToNumber => &[],
        }
    }

    /// The call's arguments in parameter order: named arguments put in
    /// their place, and `make_interval`'s missing ones defaulted to 0.
    pub fn positional_args(self, name: &str, args: &[ast::FunctionArg]) -> Result<Vec<ast::Expr>> {
        let names = self.parameter_names();
        let mut slots: Vec<Option<ast::Expr>> = Vec::new();
        let mut named_seen = false;
        for a in args {
            let (param, value) = match a {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => {
                    if named_seen {
                        return Err(Error::syntax(
                            "positional argument cannot follow named argument",
                        ));
                    }
                    slots.push(Some(e.clone()));
                    continue;
                }
                ast::FunctionArg::Named {
                    name: n,
                    arg: ast::FunctionArgExpr::Expr(e),
                    ..
                } => (n.value.to_lowercase(), e),
                ast::FunctionArg::ExprNamed {
                    name: ast::Expr::Identifier(n),
                    arg: ast::FunctionArgExpr::Expr(e),
                    ..
                } => (n.value.to_lowercase(), e),
                other => return Err(Error::unsupported(format!("the function argument {other}"))),
            };
            named_seen = true;
            let Some(index) = names.iter().position(|n| *n == param) else {
                return Err(Error::new(
                    sqlstate::UNDEFINED_FUNCTION,
                    format!("function {name}({param} => unknown) does not exist"),
                ));
            };
            if slots.len() <= index {
                slots.resize(index + 1, None);
            }
            if slots[index].is_some() {
                return Err(Error::syntax(format!(
                    "argument name \"{param}\" used more than once"
                )));
            }
            slots[index] = Some(value.clone());
        }
        let defaults = self == FormattingFn::MakeInterval;
        if defaults {
            slots.resize(names.len().max(slots.len()), None);
        }
        let zero = || ast::Expr::Value(ast::Value::Number("0".into(), false).into());
        slots
            .into_iter()
            .map(|s| match s {
                Some(e) => Ok(e),
                None if defaults => Ok(zero()),
                None => Err(Error::new(
                    sqlstate::UNDEFINED_FUNCTION,
                    format!("function {name} with these named arguments does not exist"),
                )),
            })
            .collect()
    }

    /// The types the arguments are cast to and the result type; the
    /// error when no overload takes `types` (42883, or 42725 for
    /// `to_char` of an untyped literal).
    pub fn resolve(self, name: &str, types: &[DataType]) -> Result<(Vec<DataType>, DataType)> {
        use DataType as T;
        use FormattingFn::*;
        let text = |t: &DataType| t.is_string() || *t == T::Unknown;
        let int = |t: &DataType| matches!(t, T::Int2 | T::Int4 | T::Unknown);
        let float = |t: &DataType| t.is_numeric_family() || *t == T::Unknown;
        let missing = || {
            let names: Vec<String> = types.iter().map(|t| t.name()).collect();
            Error::new(
                sqlstate::UNDEFINED_FUNCTION,
                format!("function {name}({}) does not exist", names.join(", ")),
            )
            .with_hint(
                "No function matches the given name and argument types. You might need to add explicit type casts.",
            )
        };
        let ints = |n: usize| types.len() >= n && types[..n].iter().all(int);
        Ok(match (self, types) {
            (ToChar, [x, f]) if text(f) => {
                let x = match x.unconstrained() {
                    T::Timestamp(None) => T::Timestamp(None),
                    T::TimestampTz(None) | T::Date => T::TimestampTz(None),
                    T::Interval(None) => T::Interval(None),
                    T::Int2 | T::Int4 => T::Int4,
                    T::Int8 => T::Int8,
                    T::Numeric(_) => T::Numeric(None),
                    T::Float4 => T::Float4,
                    T::Float8 => T::Float8,
                    T::Unknown => {
                        let names: Vec<String> = types.iter().map(|t| t.name()).collect();
                        return Err(Error::new(
                            sqlstate::AMBIGUOUS_FUNCTION,
                            format!("function {name}({}) is not unique", names.join(", ")),
                        )
                        .with_hint(
                            "Could not choose a best candidate function. You might need to add explicit type casts.",
                        ));
                    }
                    _ => return Err(missing()),
                };
                (vec![x, T::Text], T::Text)
            }
            (ToDate, [a, b]) if text(a) && text(b) => (vec![T::Text, T::Text], T::Date),
            (ToTimestamp, [a, b]) if text(a) && text(b) => {
                (vec![T::Text, T::Text], T::TimestampTz(None))
            }
            (ToNumber, [a, b]) if text(a) && text(b) => (vec![T::Text, T::Text], T::Numeric(None)),
            (MakeDate, [_, _, _]) if ints(3) => (vec![T::Int4; 3], T::Date),
            (MakeTime, [_, _, s]) if ints(2) && float(s) => {
                (vec![T::Int4, T::Int4, T::Float8], T::Time(None))
            }
            (MakeTimestamp, [_, _, _, _, _, s]) if ints(5) && float(s) => {
                let mut args = vec![T::Int4; 5];
                args.push(T::Float8);
                (args, T::Timestamp(None))
            }
            (MakeTimestampTz, [_, _, _, _, _, s]) if ints(5) && float(s) => {
                let mut args = vec![T::Int4; 5];
                args.push(T::Float8);
                (args, T::TimestampTz(None))
            }
            (MakeTimestampTz, [_, _, _, _, _, s, z]) if ints(5) && float(s) && text(z) => {
                let mut args = vec![T::Int4; 5];
                args.push(T::Float8);
                args.push(T::Text);
                (args, T::TimestampTz(None))
            }
            (MakeInterval, [_, _, _, _, _, _, s]) if ints(6) && float(s) => {
                let mut args = vec![T::Int4; 6];
                args.push(T::Float8);
                (args, T::Interval(None))
            }
            _ => return Err(missing()),
        })
    }

    /// The function of evaluated arguments (cast as [`FormattingFn::resolve`]
    /// said). A NULL argument makes the result NULL.
    pub fn eval(self, args: &[Value], time: &TimeContext) -> Result<Value> {
        use FormattingFn::*;
        use Value as V;
        if args.iter().any(Value::is_null) {
            return Ok(Value::Null);
        }
        let text = |v: &Value| -> Result<String> {
            match v {
                V::Text(s) | V::BpChar(s) => Ok(s.clone()),
                other => Err(Error::internal(format!("{self:?} of {other:?}"))),
            }
        };
        let int = |v: &Value| -> Result<i64> {
            v.as_i64()
                .ok_or_else(|| Error::internal(format!("{self:?} of {v:?}")))
        };
        Ok(match (self, args) {
            (ToChar, [x, f]) => {
                let template = text(f)?;
                match x {
                    V::Timestamp(_) | V::TimestampTz(_) | V::Interval(_) => {
                        if template.is_empty() {
                            return Ok(V::Null);
                        }
                        let moment = match x {
                            V::Timestamp(ts) if datetime::is_finite_timestamp(*ts) => {
                                to_char::Moment::of_timestamp(*ts, None)
                            }
                            V::TimestampTz(ts) if datetime::is_finite_timestamp(*ts) => {
                                let offset = time.zone.offset_at_utc(*ts);
                                let mut moment = to_char::Moment::of_timestamp(
                                    ts + offset as i64 * datetime::USECS_PER_SEC,
                                    Some(offset),
                                );
                                if let Some(name) = time.zone.abbreviation_at_utc(*ts) {
                                    moment.zone = Some(name.to_string());
                                }
                                moment
                            }
                            V::Interval(i) => to_char::Moment::of_interval(i),
                            _ => return Ok(V::Null),
                        };
                        V::Text(to_char::format(
                            &to_char::parse_template(&template),
                            &moment,
                        )?)
                    }
                    _ => {
                        if template.is_empty() {
                            return Ok(V::Text(String::new()));
                        }
                        let t = number_format::parse_template(&template)?;
                        V::Text(match x {
                            V::Int2(i) => number_format::format_int4(*i as i64, &t)?,
                            V::Int4(i) => number_format::format_int4(*i as i64, &t)?,
                            V::Int8(i) => number_format::format_numeric(&(*i).into(), &t)?,
                            V::Numeric(d) => number_format::format_numeric(d, &t)?,
                            V::Float4(f) => number_format::format_float(*f as f64, 6, &t)?,
                            V::Float8(f) => number_format::format_float(*f, 15, &t)?,
                            other => return Err(Error::internal(format!("to_char of {other:?}"))),
                        })
                    }
                }
            }
            (ToDate, [s, f]) => V::Date(from_char::to_date(&text(s)?, &text(f)?)?),
            (ToTimestamp, [s, f]) => {
                V::TimestampTz(from_char::to_timestamp(&text(s)?, &text(f)?, &time.zone)?)
            }
            (ToNumber, [s, f]) => match number_format::to_number(&text(s)?, &text(f)?)? {
                Some(n) => V::Numeric(n.into()),
                None => V::Null,
            },
            (MakeDate, [y, m, d]) => V::Date(make_date(int(y)?, int(m)?, int(d)?)?),
            (MakeTime, [h, m, s]) => V::Time(make_time(int(h)?, int(m)?, s.to_f64()?)?),
            (MakeTimestamp, [y, mo, d, h, mi, s]) => V::Timestamp(make_timestamp(
                [int(y)?, int(mo)?, int(d)?, int(h)?, int(mi)?],
                s.to_f64()?,
            )?),
            (MakeTimestampTz, [y, mo, d, h, mi, s, rest @ ..]) => {
                let local =
                    make_timestamp([int(y)?, int(mo)?, int(d)?, int(h)?, int(mi)?], s.to_f64()?)?;
                let zone = match rest {
                    [z] => {
                        let name = text(z)?;
                        TimeZone::lookup(&name).ok_or_else(|| {
                            Error::new(
                                sqlstate::INVALID_PARAMETER_VALUE,
                                format!("time zone \"{name}\" not recognized"),
                            )
                        })?
                    }
                    _ => time.zone.clone(),
                };
                V::TimestampTz(zone.to_utc(local)?)
            }
            (MakeInterval, [y, mo, w, d, h, mi, s]) => V::Interval(make_interval(
                [int(y)?, int(mo)?, int(w)?, int(d)?, int(h)?, int(mi)?],
                s.to_f64()?,
            )?),
            _ => return Err(Error::internal(format!("{self:?} of {args:?}"))),
        })
    }
}

/// C's `%02g`: six significant digits, trailing zeros dropped, at least
/// two characters (for PostgreSQL's messages).
fn c_g(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "nan".into()
        } else if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let exponent = if v == 0.0 {
        0
    } else {
        v.abs().log10().floor() as i32
    };
    let text = if (-4..6).contains(&exponent) {
        let decimals = (5 - exponent).max(0) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        let s = format!("{v:.5e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.')
        } else {
            m
        };
        let e: i32 = e.parse().unwrap_or(0);
        format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    };
    if text.len() < 2 {
        format!("0{text}")
    } else {
        text
    }
}

fn field_overflow(message: String) -> Error {
    Error::new(sqlstate::DATETIME_FIELD_OVERFLOW, message)
}

/// PostgreSQL's `ValidateDate` for a full date: no year 0, months 1..12,
/// days within the month.
fn valid_date(year: i64, month: i64, day: i64) -> bool {
    (1..=12).contains(&month)
        && day >= 1
        && i32::try_from(year).is_ok()
        && day <= datetime::days_in_month(year as i32, month as i32) as i64
}

fn make_date(year: i64, month: i64, day: i64) -> Result<i32> {
    // Negative years are BC: -44 is 44 BC, astronomical -43.
    let (shown, astronomical) = if year < 0 {
        (1 + year, 1 + year)
    } else {
        (year, year)
    };
    if year == 0 || !valid_date(astronomical, month, day) {
        return Err(field_overflow(format!(
            "date field value out of range: {shown}-{month:02}-{day:02}"
        )));
    }
    let (y, m, d) = (astronomical as i32, month as i32, day as i32);
    let date = datetime::date_to_julian(y, m, d) as i64 - datetime::POSTGRES_EPOCH_JDATE as i64;
    if !datetime::is_valid_julian(y, m, d) || !datetime::is_valid_date(date as i32) {
        return Err(field_overflow(format!(
            "date out of range: {shown}-{month:02}-{day:02}"
        )));
    }
    Ok(date as i32)
}

/// PostgreSQL's `float_time_overflows`.
fn time_overflows(hour: i64, minute: i64, seconds: f64) -> bool {
    if !(0..=24).contains(&hour) || !(0..60).contains(&minute) || seconds.is_nan() {
        return true;
    }
    let micros = (seconds * 1e6).round_ties_even();
    if !(0.0..=60e6).contains(&micros) {
        return true;
    }
    (hour * 60 + minute) * 60 * datetime::USECS_PER_SEC + micros as i64 > datetime::USECS_PER_DAY
}

fn time_micros(hour: i64, minute: i64, seconds: f64) -> i64 {
    (hour * 60 + minute) * 60 * datetime::USECS_PER_SEC + (seconds * 1e6).round_ties_even() as i64
}

fn make_time(hour: i64, minute: i64, seconds: f64) -> Result<i64> {
    if time_overflows(hour, minute, seconds) {
        return Err(field_overflow(format!(
            "time field value out of range: {hour}:{minute:02}:{}",
            c_g(seconds)
        )));
    }
    Ok(time_micros(hour, minute, seconds))
}

fn make_timestamp(fields: [i64; 5], seconds: f64) -> Result<i64> {
    let [year, month, day, hour, minute] = fields;
    if year <= 0 || !valid_date(year, month, day) {
        return Err(field_overflow(format!(
            "date field value out of range: {year}-{month:02}-{day:02}"
        )));
    }
    let (y, m, d) = (year as i32, month as i32, day as i32);
    if !datetime::is_valid_julian(y, m, d) {
        return Err(field_overflow(format!(
            "date out of range: {year}-{month:02}-{day:02}"
        )));
    }
    if time_overflows(hour, minute, seconds) {
        return Err(field_overflow(format!(
            "time field value out of range: {hour}:{minute:02}:{}",
            c_g(seconds)
        )));
    }
    let date = datetime::date_to_julian(y, m, d) as i64 - datetime::POSTGRES_EPOCH_JDATE as i64;
    let ts = date
        .checked_mul(datetime::USECS_PER_DAY)
        .and_then(|t| t.checked_add(time_micros(hour, minute, seconds)))
        .filter(|t| datetime::is_valid_timestamp(*t));
    ts.ok_or_else(|| {
        field_overflow(format!(
            "timestamp out of range: {year}-{month:02}-{day:02} {hour}:{minute:02}:{}",
            c_g(seconds)
        ))
    })
}

fn make_interval(fields: [i64; 6], seconds: f64) -> Result<Interval> {
    let [years, months, weeks, days, hours, minutes] = fields;
    let out = datetime::interval_out_of_range;
    if !seconds.is_finite() {
        return Err(out());
    }
    let months = years
        .checked_mul(12)
        .and_then(|m| m.checked_add(months))
        .and_then(|m| i32::try_from(m).ok())
        .ok_or_else(out)?;
    let days = weeks
        .checked_mul(7)
        .and_then(|d| d.checked_add(days))
        .and_then(|d| i32::try_from(d).ok())
        .ok_or_else(out)?;
    let micros = (seconds * 1e6).round_ties_even();
    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&micros) {
        return Err(out());
    }
    let micros = hours
        .checked_mul(datetime::USECS_PER_HOUR)
        .and_then(|h| h.checked_add(minutes.checked_mul(datetime::USECS_PER_MINUTE)?))
        .and_then(|t| t.checked_add(micros as i64))
        .ok_or_else(out)?;
    Ok(Interval::new(months, days, micros))
}
