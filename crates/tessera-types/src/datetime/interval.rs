//! `interval`: months, days and microseconds, kept apart as PostgreSQL keeps
//! them (a month is not a fixed number of days, nor a day of hours across a
//! daylight-saving change).
//!
//! Intervals compare as if a month were 30 days and a day 24 hours, so
//! `'1 mon' = '30 days'` and they encode to the same key; each keeps its
//! own fields. Input takes PostgreSQL's forms (`1 day 02:00`, `@ 1 day
//! ago`, `1-2` year-month, ISO 8601 `P1Y2M3DT4H`); output is
//! `IntervalStyle = postgres` (`1 year 2 mons 3 days 04:05:06`).

use std::cmp::Ordering;
use std::fmt::Write;
use std::hash::{Hash, Hasher};

use crate::error::Error;

use super::format::{write_fraction, write_seconds};
use super::parse::{parse_error, tokenize, DtError, Failure, Kind};
use super::{
    interval_out_of_range, round_micros, DAYS_PER_MONTH, MONTHS_PER_YEAR, PRECISION_MAX,
    USECS_PER_DAY, USECS_PER_HOUR, USECS_PER_MINUTE, USECS_PER_SEC,
};
use crate::output::IntervalStyle;

#[derive(Debug, Clone, Copy, Default)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

impl Interval {
    pub const ZERO: Interval = Interval {
        months: 0,
        days: 0,
        micros: 0,
    };

    pub fn new(months: i32, days: i32, micros: i64) -> Interval {
        Interval {
            months,
            days,
            micros,
        }
    }

    /// The length with a month as 30 days and a day as 24 hours: what
    /// comparison, hashing and keys use (PostgreSQL's `interval_cmp_value`).
    pub fn span(&self) -> i128 {
        self.micros as i128
            + self.days as i128 * USECS_PER_DAY as i128
            + self.months as i128 * (DAYS_PER_MONTH as i64 * USECS_PER_DAY) as i128
    }

    pub fn checked_neg(&self) -> Result<Interval, Error> {
        Ok(Interval {
            months: self
                .months
                .checked_neg()
                .ok_or_else(interval_out_of_range)?,
            days: self.days.checked_neg().ok_or_else(interval_out_of_range)?,
            micros: self
                .micros
                .checked_neg()
                .ok_or_else(interval_out_of_range)?,
        })
    }

    pub fn checked_add(&self, other: &Interval) -> Result<Interval, Error> {
        Ok(Interval {
            months: self
                .months
                .checked_add(other.months)
                .ok_or_else(interval_out_of_range)?,
            days: self
                .days
                .checked_add(other.days)
                .ok_or_else(interval_out_of_range)?,
            micros: self
                .micros
                .checked_add(other.micros)
                .ok_or_else(interval_out_of_range)?,
        })
    }

    pub fn checked_sub(&self, other: &Interval) -> Result<Interval, Error> {
        self.checked_add(&other.checked_neg()?)
    }

    /// `interval * float8`, as PostgreSQL computes it: each field scaled,
    /// fractions of months cascading into days and of days into time, each
    /// cascade rounded to the microsecond.
    pub fn mul(&self, factor: f64) -> Result<Interval, Error> {
        let months = self.months as f64 * factor;
        let days = self.days as f64 * factor;
        self.scaled(months, days, self.micros as f64 * factor)
    }

    /// `interval / float8`; 22012 for a zero divisor.
    pub fn div(&self, divisor: f64) -> Result<Interval, Error> {
        if divisor == 0.0 {
            return Err(Error::division_by_zero());
        }
        let months = self.months as f64 / divisor;
        let days = self.days as f64 / divisor;
        self.scaled(months, days, self.micros as f64 / divisor)
    }

    fn scaled(&self, months: f64, days: f64, micros: f64) -> Result<Interval, Error> {
        let fits_i32 = |v: f64| !v.is_nan() && v >= i32::MIN as f64 && v < -(i32::MIN as f64);
        if !fits_i32(months) || !fits_i32(days) {
            return Err(interval_out_of_range());
        }
        let whole_months = months.trunc();
        let whole_days = days.trunc();
        let month_remainder_days = tsround((months - whole_months) * DAYS_PER_MONTH as f64);
        let mut sec_remainder = tsround(
            (days - whole_days + month_remainder_days - month_remainder_days.trunc())
                * super::SECS_PER_DAY as f64,
        );
        let mut out_days = whole_days as i64;
        // Rounding may give 24:00:00, or more from the cascades.
        if sec_remainder.abs() >= super::SECS_PER_DAY as f64 {
            let extra = (sec_remainder / super::SECS_PER_DAY as f64).trunc();
            out_days += extra as i64;
            sec_remainder -= extra * super::SECS_PER_DAY as f64;
        }
        out_days += month_remainder_days.trunc() as i64;
        let micros = (micros + sec_remainder * USECS_PER_SEC as f64).round_ties_even();
        if micros.is_nan() || micros < i64::MIN as f64 || micros >= -(i64::MIN as f64) {
            return Err(interval_out_of_range());
        }
        Ok(Interval {
            months: whole_months as i32,
            days: i32::try_from(out_days).map_err(|_| interval_out_of_range())?,
            micros: micros as i64,
        })
    }

    /// `justify_hours`: whole days out of the time part, signs made to agree.
    pub fn justify_hours(&self) -> Result<Interval, Error> {
        let mut days = self.days as i64 + self.micros / USECS_PER_DAY;
        let mut micros = self.micros % USECS_PER_DAY;
        if days > 0 && micros < 0 {
            micros += USECS_PER_DAY;
            days -= 1;
        } else if days < 0 && micros > 0 {
            micros -= USECS_PER_DAY;
            days += 1;
        }
        Ok(Interval {
            months: self.months,
            days: i32::try_from(days).map_err(|_| interval_out_of_range())?,
            micros,
        })
    }

    /// `justify_days`: whole 30-day months out of the days.
    pub fn justify_days(&self) -> Result<Interval, Error> {
        let mut months = self.months as i64 + (self.days / DAYS_PER_MONTH) as i64;
        let mut days = self.days % DAYS_PER_MONTH;
        if months > 0 && days < 0 {
            days += DAYS_PER_MONTH;
            months -= 1;
        } else if months < 0 && days > 0 {
            days -= DAYS_PER_MONTH;
            months += 1;
        }
        Ok(Interval {
            months: i32::try_from(months).map_err(|_| interval_out_of_range())?,
            days,
            micros: self.micros,
        })
    }

    /// `justify_interval`: both, with one sign throughout.
    pub fn justify(&self) -> Result<Interval, Error> {
        let mut months = self.months as i64;
        let mut days = self.days as i64;
        // Days out of time first, so a month can absorb them.
        days += self.micros / USECS_PER_DAY;
        let mut micros = self.micros % USECS_PER_DAY;
        months += days / DAYS_PER_MONTH as i64;
        days %= DAYS_PER_MONTH as i64;
        if months > 0 && (days < 0 || (days == 0 && micros < 0)) {
            days += DAYS_PER_MONTH as i64;
            months -= 1;
        } else if months < 0 && (days > 0 || (days == 0 && micros > 0)) {
            days -= DAYS_PER_MONTH as i64;
            months += 1;
        }
        if days > 0 && micros < 0 {
            micros += USECS_PER_DAY;
            days -= 1;
        } else if days < 0 && micros > 0 {
            micros -= USECS_PER_DAY;
            days += 1;
        }
        Ok(Interval {
            months: i32::try_from(months).map_err(|_| interval_out_of_range())?,
            days: days as i32,
            micros,
        })
    }

    /// Text input, PostgreSQL's way; `range` is the field restriction of a
    /// typed literal or column (`INTERVAL '1' DAY`), which decides what a
    /// bare number means, and which fields are kept.
    pub fn parse(input: &str, typmod: Option<IntervalTypmod>) -> Result<Interval, Error> {
        Interval::parse_in(input, typmod, IntervalStyle::Postgres)
    }

    /// [`Interval::parse`] under the session's `IntervalStyle`: with
    /// `sql_standard`, a leading minus and no other sign negates every
    /// field (`-1 2:00:00` is minus a day and two hours), as PostgreSQL
    /// reads it.
    pub fn parse_in(
        input: &str,
        typmod: Option<IntervalTypmod>,
        style: IntervalStyle,
    ) -> Result<Interval, Error> {
        let range = typmod.map_or(IntervalFields::FULL, |t| t.fields);
        let decoded = tokenize(input)
            .and_then(|fields| decode(&fields, range, style))
            .or_else(|e| match e {
                DtError::BadFormat => decode_iso8601(input),
                other => Err(other),
            });
        let parts = decoded.map_err(|e| {
            let e = if e == DtError::FieldOverflow {
                DtError::IntervalOverflow
            } else {
                e
            };
            parse_error(Failure::Dt(e), input, "interval")
        })?;
        let interval = parts.finish()?;
        Ok(match typmod {
            Some(t) => interval.apply_typmod(t),
            None => interval,
        })
    }

    /// Drops the fields right of a restriction's last one and rounds the
    /// seconds to its precision, as PostgreSQL's `AdjustIntervalForTypmod`.
    pub fn apply_typmod(&self, typmod: IntervalTypmod) -> Interval {
        let mut v = *self;
        let f = typmod.fields;
        if f == IntervalFields::YEAR {
            v.months = v.months / MONTHS_PER_YEAR * MONTHS_PER_YEAR;
            v.days = 0;
            v.micros = 0;
        } else if f == IntervalFields::MONTH || f == IntervalFields::YEAR_TO_MONTH {
            v.days = 0;
            v.micros = 0;
        } else if f == IntervalFields::DAY {
            v.micros = 0;
        } else if f == IntervalFields::HOUR || f == IntervalFields::DAY_TO_HOUR {
            v.micros = v.micros / USECS_PER_HOUR * USECS_PER_HOUR;
        } else if f == IntervalFields::MINUTE
            || f == IntervalFields::DAY_TO_MINUTE
            || f == IntervalFields::HOUR_TO_MINUTE
        {
            v.micros = v.micros / USECS_PER_MINUTE * USECS_PER_MINUTE;
        }
        if let Some(p) = typmod.precision {
            v.micros = round_micros(v.micros, p);
        }
        v
    }

    /// PostgreSQL's output in `style` (its `EncodeInterval`).
    pub fn write_text_in(&self, out: &mut String, style: IntervalStyle) {
        match style {
            IntervalStyle::Postgres => self.write_text(out),
            IntervalStyle::PostgresVerbose => self.write_verbose(out),
            IntervalStyle::SqlStandard => self.write_sql_standard(out),
            IntervalStyle::Iso8601 => self.write_iso_8601(out),
        }
    }

    /// The fields PostgreSQL writes: years and months of the month count,
    /// days, then hours, minutes, seconds and microseconds of the time,
    /// each with the sign of its count (division truncates).
    fn parts(&self) -> [i64; 7] {
        let micros = self.micros;
        [
            (self.months / MONTHS_PER_YEAR) as i64,
            (self.months % MONTHS_PER_YEAR) as i64,
            self.days as i64,
            micros / USECS_PER_HOUR,
            micros / USECS_PER_MINUTE % 60,
            micros / USECS_PER_SEC % 60,
            micros % USECS_PER_SEC,
        ]
    }

    /// `IntervalStyle = postgres_verbose`: `@ 1 year 2 mons -3 days ago`.
    fn write_verbose(&self, out: &mut String) {
        let [years, months, days, hours, minutes, seconds, fraction] = self.parts();
        let mut is_zero = true;
        let mut is_before = false;
        out.push('@');
        for (value, unit) in [
            (years, "year"),
            (months, "mon"),
            (days, "day"),
            (hours, "hour"),
            (minutes, "min"),
        ] {
            if value == 0 {
                continue;
            }
            // The first part decides "ago"; later ones are shown relative
            // to it.
            let shown = if is_zero {
                is_before = value < 0;
                value.abs()
            } else if is_before {
                -value
            } else {
                value
            };
            let _ = write!(out, " {shown} {unit}");
            if shown != 1 {
                out.push('s');
            }
            is_zero = false;
        }
        if seconds != 0 || fraction != 0 {
            out.push(' ');
            if seconds < 0 || (seconds == 0 && fraction < 0) {
                if is_zero {
                    is_before = true;
                } else if !is_before {
                    out.push('-');
                }
            } else if is_before {
                out.push('-');
            }
            let _ = write!(out, "{}", seconds.abs());
            write_fraction(out, fraction);
            out.push_str(" sec");
            if seconds.abs() != 1 || fraction != 0 {
                out.push('s');
            }
            is_zero = false;
        }
        if is_zero {
            out.push_str(" 0");
        }
        if is_before {
            out.push_str(" ago");
        }
    }

    /// `IntervalStyle = sql_standard`: `1-2`, `3 4:05:06`, `-1-2`; mixed
    /// signs or both year-month and day-time parts write every part with
    /// its sign (`+1-2 -3 +4:05:06`).
    fn write_sql_standard(&self, out: &mut String) {
        let [mut years, mut months, mut days, mut hours, mut minutes, mut seconds, mut fraction] =
            self.parts();
        let all = [years, months, days, hours, minutes, seconds, fraction];
        let has_negative = all.iter().any(|v| *v < 0);
        let has_positive = all.iter().any(|v| *v > 0);
        let has_year_month = years != 0 || months != 0;
        let has_day_time = all[2..].iter().any(|v| *v != 0);
        let standard = !(has_negative && has_positive || has_year_month && has_day_time);
        if has_negative && standard {
            out.push('-');
            for v in [
                &mut years,
                &mut months,
                &mut days,
                &mut hours,
                &mut minutes,
                &mut seconds,
                &mut fraction,
            ] {
                *v = -*v;
            }
        }
        if !has_negative && !has_positive {
            out.push('0');
        } else if !standard {
            let year_sign = if years < 0 || months < 0 { '-' } else { '+' };
            let day_sign = if days < 0 { '-' } else { '+' };
            let time_sign = if hours < 0 || minutes < 0 || seconds < 0 || fraction < 0 {
                '-'
            } else {
                '+'
            };
            let _ = write!(
                out,
                "{year_sign}{}-{} {day_sign}{} {time_sign}{}:{:02}:",
                years.abs(),
                months.abs(),
                days.abs(),
                hours.abs(),
                minutes.abs()
            );
            write_seconds(out, seconds, fraction);
        } else if has_year_month {
            let _ = write!(out, "{years}-{months}");
        } else {
            if days != 0 {
                let _ = write!(out, "{days} ");
            }
            let _ = write!(out, "{hours}:{minutes:02}:");
            write_seconds(out, seconds, fraction);
        }
    }

    /// `IntervalStyle = iso_8601`: `P1Y2M3DT4H5M6.5S`, `PT0S` for zero.
    fn write_iso_8601(&self, out: &mut String) {
        let [years, months, days, hours, minutes, seconds, fraction] = self.parts();
        if self.months == 0 && self.days == 0 && self.micros == 0 {
            out.push_str("PT0S");
            return;
        }
        out.push('P');
        let part = |out: &mut String, value: i64, unit: char| {
            if value != 0 {
                let _ = write!(out, "{value}{unit}");
            }
        };
        part(out, years, 'Y');
        part(out, months, 'M');
        part(out, days, 'D');
        if self.micros != 0 {
            out.push('T');
        }
        part(out, hours, 'H');
        part(out, minutes, 'M');
        if seconds != 0 || fraction != 0 {
            if seconds < 0 || fraction < 0 {
                out.push('-');
            }
            let _ = write!(out, "{}", seconds.abs());
            write_fraction(out, fraction);
            out.push('S');
        }
    }

    /// PostgreSQL's output with `IntervalStyle = postgres`.
    pub fn write_text(&self, out: &mut String) {
        let years = self.months / MONTHS_PER_YEAR;
        let months = self.months % MONTHS_PER_YEAR;
        let mut is_zero = true;
        let mut is_before = false;
        let mut part = |out: &mut String, value: i64, unit: &str| {
            if value == 0 {
                return;
            }
            if !is_zero {
                out.push(' ');
            }
            if is_before && value > 0 {
                out.push('+');
            }
            let _ = write!(out, "{value} {unit}");
            if value != 1 {
                out.push('s');
            }
            is_before = value < 0;
            is_zero = false;
        };
        part(out, years as i64, "year");
        part(out, months as i64, "mon");
        part(out, self.days as i64, "day");
        let hours = self.micros / USECS_PER_HOUR;
        let minutes = self.micros / USECS_PER_MINUTE % 60;
        let seconds = self.micros / USECS_PER_SEC % 60;
        let fraction = self.micros % USECS_PER_SEC;
        if is_zero || self.micros != 0 {
            let negative = self.micros < 0;
            if !is_zero {
                out.push(' ');
            }
            if negative {
                out.push('-');
            } else if is_before {
                out.push('+');
            }
            let _ = write!(
                out,
                "{:02}:{:02}:",
                hours.unsigned_abs(),
                minutes.unsigned_abs()
            );
            write_seconds(out, seconds, fraction);
        }
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        self.write_text(&mut s);
        s
    }
}

impl PartialEq for Interval {
    fn eq(&self, other: &Interval) -> bool {
        self.span() == other.span()
    }
}
impl Eq for Interval {}

impl PartialOrd for Interval {
    fn partial_cmp(&self, other: &Interval) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Interval {
    fn cmp(&self, other: &Interval) -> Ordering {
        self.span().cmp(&other.span())
    }
}
impl Hash for Interval {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.span().hash(state)
    }
}

/// Round to microseconds as PostgreSQL's `TSROUND` does.
fn tsround(v: f64) -> f64 {
    (v * 1e6).round_ties_even() / 1e6
}

/// Which fields an interval type or literal keeps (`YEAR TO MONTH`…), as
/// PostgreSQL's range mask: bit 1 month, 2 year, 3 day, 10 hour, 11 minute,
/// 12 second; all bits for no restriction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct IntervalFields(pub u16);

impl IntervalFields {
    pub const MONTH: IntervalFields = IntervalFields(1 << 1);
    pub const YEAR: IntervalFields = IntervalFields(1 << 2);
    pub const DAY: IntervalFields = IntervalFields(1 << 3);
    pub const HOUR: IntervalFields = IntervalFields(1 << 10);
    pub const MINUTE: IntervalFields = IntervalFields(1 << 11);
    pub const SECOND: IntervalFields = IntervalFields(1 << 12);
    pub const YEAR_TO_MONTH: IntervalFields = IntervalFields((1 << 2) | (1 << 1));
    pub const DAY_TO_HOUR: IntervalFields = IntervalFields((1 << 3) | (1 << 10));
    pub const DAY_TO_MINUTE: IntervalFields = IntervalFields((1 << 3) | (1 << 10) | (1 << 11));
    pub const DAY_TO_SECOND: IntervalFields =
        IntervalFields((1 << 3) | (1 << 10) | (1 << 11) | (1 << 12));
    pub const HOUR_TO_MINUTE: IntervalFields = IntervalFields((1 << 10) | (1 << 11));
    pub const HOUR_TO_SECOND: IntervalFields = IntervalFields((1 << 10) | (1 << 11) | (1 << 12));
    pub const MINUTE_TO_SECOND: IntervalFields = IntervalFields((1 << 11) | (1 << 12));
    pub const FULL: IntervalFields = IntervalFields(0x7FFF);

    /// The restriction from its first and last field names (`day`,
    /// `second`), if SQL allows that pair.
    pub fn from_names(first: &str, last: Option<&str>) -> Option<IntervalFields> {
        Some(match (first, last) {
            ("year", None) => Self::YEAR,
            ("month", None) => Self::MONTH,
            ("day", None) => Self::DAY,
            ("hour", None) => Self::HOUR,
            ("minute", None) => Self::MINUTE,
            ("second", None) => Self::SECOND,
            ("year", Some("month")) => Self::YEAR_TO_MONTH,
            ("day", Some("hour")) => Self::DAY_TO_HOUR,
            ("day", Some("minute")) => Self::DAY_TO_MINUTE,
            ("day", Some("second")) => Self::DAY_TO_SECOND,
            ("hour", Some("minute")) => Self::HOUR_TO_MINUTE,
            ("hour", Some("second")) => Self::HOUR_TO_SECOND,
            ("minute", Some("second")) => Self::MINUTE_TO_SECOND,
            _ => return None,
        })
    }

    /// The words `format_type` shows after `interval`: `day to second`.
    pub fn name(&self) -> Option<&'static str> {
        Some(match *self {
            Self::YEAR => "year",
            Self::MONTH => "month",
            Self::DAY => "day",
            Self::HOUR => "hour",
            Self::MINUTE => "minute",
            Self::SECOND => "second",
            Self::YEAR_TO_MONTH => "year to month",
            Self::DAY_TO_HOUR => "day to hour",
            Self::DAY_TO_MINUTE => "day to minute",
            Self::DAY_TO_SECOND => "day to second",
            Self::HOUR_TO_MINUTE => "hour to minute",
            Self::HOUR_TO_SECOND => "hour to second",
            Self::MINUTE_TO_SECOND => "minute to second",
            _ => return None,
        })
    }
}

/// An interval type modifier: the fields kept and the seconds precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct IntervalTypmod {
    pub fields: IntervalFields,
    pub precision: Option<u8>,
}

impl IntervalTypmod {
    /// The `atttypmod` PostgreSQL reports: range in the high half,
    /// precision (0xFFFF for none) in the low half.
    pub fn typmod(&self) -> i32 {
        ((self.fields.0 as i32) << 16) | self.precision.map_or(0xFFFF, |p| p as i32)
    }

    pub fn from_typmod(typmod: i32) -> Option<IntervalTypmod> {
        let fields = IntervalFields((typmod >> 16) as u16);
        if fields != IntervalFields::FULL && fields.name().is_none() {
            return None;
        }
        let precision = match typmod & 0xFFFF {
            0xFFFF => None,
            p if p <= PRECISION_MAX as i32 => Some(p as u8),
            _ => return None,
        };
        Some(IntervalTypmod { fields, precision })
    }

    /// What follows `interval` in the type's name: ` day to second(3)`, `(2)`.
    pub fn suffix(&self) -> String {
        let mut s = String::new();
        if let Some(name) = self.fields.name() {
            s.push(' ');
            s.push_str(name);
        }
        if let Some(p) = self.precision {
            let _ = write!(s, "({p})");
        }
        s
    }
}

/// The parts of an interval as input accumulates them (PostgreSQL's
/// `pg_itm_in`), before they are folded into months.
#[derive(Debug, Default, Clone, Copy)]
struct Parts {
    micros: i64,
    days: i32,
    months: i32,
    years: i32,
}

impl Parts {
    fn finish(&self) -> Result<Interval, Error> {
        let months = (self.years as i64 * MONTHS_PER_YEAR as i64)
            .checked_add(self.months as i64)
            .and_then(|m| i32::try_from(m).ok())
            .ok_or_else(interval_out_of_range)?;
        Ok(Interval {
            months,
            days: self.days,
            micros: self.micros,
        })
    }

    fn add_micros(&mut self, value: i64, fraction: f64, scale: i64) -> Result<(), DtError> {
        let whole = value.checked_mul(scale).ok_or(DtError::FieldOverflow)?;
        self.micros = self
            .micros
            .checked_add(whole)
            .ok_or(DtError::FieldOverflow)?;
        self.add_fraction_micros(fraction, scale)
    }

    fn add_fraction_micros(&mut self, fraction: f64, scale: i64) -> Result<(), DtError> {
        if fraction == 0.0 {
            return Ok(());
        }
        let v = (fraction * scale as f64).round_ties_even();
        if v.is_nan() || v < i64::MIN as f64 || v >= -(i64::MIN as f64) {
            return Err(DtError::FieldOverflow);
        }
        self.micros = self
            .micros
            .checked_add(v as i64)
            .ok_or(DtError::FieldOverflow)?;
        Ok(())
    }

    fn add_days(&mut self, value: i64, scale: i64) -> Result<(), DtError> {
        add_scaled(&mut self.days, value, scale)
    }

    fn add_fraction_days(&mut self, fraction: f64, scale: i64) -> Result<(), DtError> {
        if fraction == 0.0 {
            return Ok(());
        }
        let f = fraction * scale as f64;
        let whole = f.trunc();
        self.add_days(whole as i64, 1)?;
        self.add_fraction_micros(f - whole, USECS_PER_DAY)
    }

    fn add_months(&mut self, value: i64) -> Result<(), DtError> {
        add_scaled(&mut self.months, value, 1)
    }

    fn add_years(&mut self, value: i64, scale: i64) -> Result<(), DtError> {
        add_scaled(&mut self.years, value, scale)
    }

    fn add_fraction_years(&mut self, fraction: f64, scale: i64) -> Result<(), DtError> {
        if fraction == 0.0 {
            return Ok(());
        }
        let extra = (fraction * scale as f64 * MONTHS_PER_YEAR as f64).round();
        self.add_months(extra as i64)
    }

    fn negate(&mut self) -> Result<(), DtError> {
        self.micros = self.micros.checked_neg().ok_or(DtError::FieldOverflow)?;
        self.days = self.days.checked_neg().ok_or(DtError::FieldOverflow)?;
        self.months = self.months.checked_neg().ok_or(DtError::FieldOverflow)?;
        self.years = self.years.checked_neg().ok_or(DtError::FieldOverflow)?;
        Ok(())
    }
}

/// A unit word of interval input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Microsecond,
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
    Decade,
    Century,
    Millennium,
}

/// A unit word; like PostgreSQL, only its first ten characters count
/// (`microseconds` is `microsecon`).
/// `field += value * scale`, refusing a result outside `i32`.
fn add_scaled(field: &mut i32, value: i64, scale: i64) -> Result<(), DtError> {
    let v = value
        .checked_mul(scale)
        .and_then(|v| v.checked_add(*field as i64))
        .ok_or(DtError::FieldOverflow)?;
    *field = i32::try_from(v).map_err(|_| DtError::FieldOverflow)?;
    Ok(())
}

fn unit_word(lower: &str) -> Option<Unit> {
    use Unit::*;
    let key: String = lower.chars().take(10).collect();
    Some(match key.as_str() {
        "microsecon" | "us" | "usec" | "usecs" | "usecond" | "useconds" => Microsecond,
        "millisecon" | "ms" | "msec" | "msecs" | "msecond" | "mseconds" => Millisecond,
        "second" | "seconds" | "s" | "sec" | "secs" => Second,
        "minute" | "minutes" | "m" | "min" | "mins" => Minute,
        "hour" | "hours" | "h" | "hr" | "hrs" => Hour,
        "day" | "days" | "d" => Day,
        "week" | "weeks" | "w" => Week,
        "month" | "months" | "mon" | "mons" => Month,
        "year" | "years" | "y" | "yr" | "yrs" => Year,
        "decade" | "decades" | "dec" | "decs" => Decade,
        "century" | "centuries" | "c" | "cent" => Century,
        "millennium" | "millennia" | "mil" | "mils" => Millennium,
        _ => return None,
    })
}

/// The unit a bare number has under a field restriction (its last field).
fn default_unit(range: IntervalFields) -> Unit {
    match range {
        IntervalFields::YEAR => Unit::Year,
        IntervalFields::MONTH | IntervalFields::YEAR_TO_MONTH => Unit::Month,
        IntervalFields::DAY => Unit::Day,
        IntervalFields::HOUR | IntervalFields::DAY_TO_HOUR => Unit::Hour,
        IntervalFields::MINUTE | IntervalFields::HOUR_TO_MINUTE | IntervalFields::DAY_TO_MINUTE => {
            Unit::Minute
        }
        _ => Unit::Second,
    }
}

const M_MICRO: u32 = 1 << 0;
const M_MILLI: u32 = 1 << 1;
const M_SECOND: u32 = 1 << 2;
const M_MINUTE: u32 = 1 << 3;
const M_HOUR: u32 = 1 << 4;
const M_DAY: u32 = 1 << 5;
const M_WEEK: u32 = 1 << 6;
const M_MONTH: u32 = 1 << 7;
const M_YEAR: u32 = 1 << 8;
const M_DECADE: u32 = 1 << 9;
const M_CENTURY: u32 = 1 << 10;
const M_MILLENNIUM: u32 = 1 << 11;
const M_TIME: u32 = M_HOUR | M_MINUTE | M_SECOND | M_MILLI | M_MICRO;

/// `hh:mm[:ss[.f]]` (or `mm:ss.f`) of interval input, in microseconds.
fn interval_time(text: &str, range: IntervalFields) -> Result<i64, DtError> {
    let colon = text.find(':').ok_or(DtError::BadFormat)?;
    let hour_text = &text[..colon];
    if hour_text.is_empty() || !hour_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DtError::BadFormat);
    }
    let mut hour: i64 = hour_text.parse().map_err(|_| DtError::FieldOverflow)?;
    let rest = &text[colon + 1..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    if end == 0 {
        return Err(DtError::BadFormat);
    }
    let mut minute: i64 = rest[..end].parse().map_err(|_| DtError::FieldOverflow)?;
    if minute > i32::MAX as i64 {
        return Err(DtError::FieldOverflow);
    }
    let rest = &rest[end..];
    let mut second = 0i64;
    let mut fsec = 0i64;
    let to_minutes_seconds = |hour: i64| -> Result<(), DtError> {
        if hour > i32::MAX as i64 {
            return Err(DtError::FieldOverflow);
        }
        Ok(())
    };
    if rest.is_empty() {
        if range == IntervalFields::MINUTE_TO_SECOND {
            to_minutes_seconds(hour)?;
            (hour, minute, second) = (0, hour, minute);
        }
    } else if rest.starts_with('.') {
        fsec = fraction(rest)?;
        to_minutes_seconds(hour)?;
        (hour, minute, second) = (0, hour, minute);
    } else if let Some(rest) = rest.strip_prefix(':') {
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if end == 0 {
            return Err(DtError::BadFormat);
        }
        second = rest[..end].parse().map_err(|_| DtError::FieldOverflow)?;
        if second > i32::MAX as i64 {
            return Err(DtError::FieldOverflow);
        }
        if end < rest.len() {
            fsec = fraction(&rest[end..])?;
        }
    } else {
        return Err(DtError::BadFormat);
    }
    if minute > 59 || second > 60 || !(0..=USECS_PER_SEC).contains(&fsec) {
        return Err(DtError::FieldOverflow);
    }
    hour.checked_mul(USECS_PER_HOUR)
        .and_then(|v| v.checked_add(minute * USECS_PER_MINUTE))
        .and_then(|v| v.checked_add(second * USECS_PER_SEC))
        .and_then(|v| v.checked_add(fsec))
        .ok_or(DtError::FieldOverflow)
}

/// `.ddd` in microseconds, rounded half to even.
fn fraction(text: &str) -> Result<i64, DtError> {
    let digits = text.strip_prefix('.').ok_or(DtError::BadFormat)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DtError::BadFormat);
    }
    let f: f64 = format!("0.{digits}")
        .parse()
        .map_err(|_| DtError::BadFormat)?;
    Ok((f * 1e6).round_ties_even() as i64)
}

/// PostgreSQL's `DecodeInterval`: fields read right to left, so a unit is
/// known before its number.
fn decode(
    fields: &[super::parse::Field],
    range: IntervalFields,
    style: IntervalStyle,
) -> Result<Parts, DtError> {
    let mut parts = Parts::default();
    let mut fmask = 0u32;
    // The unit of the next number to the left: none seen yet (the
    // restriction decides), a unit word, or none allowed (right after `ago`).
    let mut unit: Option<Unit> = None;
    let mut after_ago = false;
    let mut is_before = false;
    for field in fields.iter().rev() {
        let text = field.text.as_str();
        let mut tmask = 0;
        let mut number_text = None;
        match field.kind {
            Kind::Time => {
                parts.micros = interval_time(text, range)?;
                tmask = M_TIME;
                unit = Some(Unit::Day);
                after_ago = false;
            }
            Kind::Zone if text[1..].contains(':') && interval_time(&text[1..], range).is_ok() => {
                let t = interval_time(&text[1..], range)?;
                parts.micros = if text.starts_with('-') { -t } else { t };
                tmask = M_TIME;
                unit = Some(Unit::Day);
                after_ago = false;
            }
            Kind::Zone | Kind::Date | Kind::Number => number_text = Some(text),
            Kind::Word | Kind::Special => {
                if text == "ago" {
                    is_before = true;
                    after_ago = true;
                    unit = None;
                } else if let Some(u) = unit_word(text) {
                    unit = Some(u);
                    after_ago = false;
                } else {
                    return Err(DtError::BadFormat);
                }
            }
        }
        if let Some(text) = number_text {
            if after_ago {
                return Err(DtError::BadFormat);
            }
            let u = unit.unwrap_or_else(|| default_unit(range));
            let negative = text.starts_with('-');
            let body = text.strip_prefix(['+', '-']).unwrap_or(text);
            let end = body
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(body.len());
            if end == 0 && !body.starts_with('.') {
                return Err(DtError::BadFormat);
            }
            let mut value: i64 = if end == 0 {
                0
            } else {
                body[..end].parse().map_err(|_| DtError::FieldOverflow)?
            };
            if negative {
                value = -value;
            }
            let rest = &body[end..];
            let (value, frac, u) = if let Some(months_text) = rest.strip_prefix('-') {
                // SQL year-month: `1-2`.
                let m_end = months_text
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(months_text.len());
                if m_end == 0 {
                    return Err(DtError::BadFormat);
                }
                let months: i64 = months_text[..m_end]
                    .parse()
                    .map_err(|_| DtError::FieldOverflow)?;
                if months >= 12 {
                    return Err(DtError::FieldOverflow);
                }
                if m_end != months_text.len() {
                    return Err(DtError::BadFormat);
                }
                let months = if negative { -months } else { months };
                let total = value
                    .checked_mul(12)
                    .and_then(|v| v.checked_add(months))
                    .ok_or(DtError::FieldOverflow)?;
                (total, 0.0, Unit::Month)
            } else if let Some(digits) = rest.strip_prefix('.') {
                if !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(DtError::BadFormat);
                }
                let f: f64 = if digits.is_empty() {
                    0.0
                } else {
                    format!("0.{digits}")
                        .parse()
                        .map_err(|_| DtError::BadFormat)?
                };
                (value, if negative { -f } else { f }, u)
            } else if rest.is_empty() {
                (value, 0.0, u)
            } else {
                return Err(DtError::BadFormat);
            };
            tmask = match u {
                Unit::Microsecond => {
                    parts.add_micros(value, frac, 1)?;
                    M_MICRO
                }
                Unit::Millisecond => {
                    parts.add_micros(value, frac, 1000)?;
                    M_MILLI
                }
                Unit::Second => {
                    parts.add_micros(value, frac, USECS_PER_SEC)?;
                    if frac == 0.0 {
                        M_SECOND
                    } else {
                        M_SECOND | M_MILLI | M_MICRO
                    }
                }
                Unit::Minute => {
                    parts.add_micros(value, frac, USECS_PER_MINUTE)?;
                    M_MINUTE
                }
                Unit::Hour => {
                    parts.add_micros(value, frac, USECS_PER_HOUR)?;
                    unit = Some(Unit::Day);
                    M_HOUR
                }
                Unit::Day => {
                    parts.add_days(value, 1)?;
                    parts.add_fraction_micros(frac, USECS_PER_DAY)?;
                    M_DAY
                }
                Unit::Week => {
                    parts.add_days(value, 7)?;
                    parts.add_fraction_days(frac, 7)?;
                    M_WEEK
                }
                Unit::Month => {
                    parts.add_months(value)?;
                    parts.add_fraction_days(frac, DAYS_PER_MONTH as i64)?;
                    M_MONTH
                }
                Unit::Year => {
                    parts.add_years(value, 1)?;
                    parts.add_fraction_years(frac, 1)?;
                    M_YEAR
                }
                Unit::Decade => {
                    parts.add_years(value, 10)?;
                    parts.add_fraction_years(frac, 10)?;
                    M_DECADE
                }
                Unit::Century => {
                    parts.add_years(value, 100)?;
                    parts.add_fraction_years(frac, 100)?;
                    M_CENTURY
                }
                Unit::Millennium => {
                    parts.add_years(value, 1000)?;
                    parts.add_fraction_years(frac, 1000)?;
                    M_MILLENNIUM
                }
            };
            if u != Unit::Hour {
                unit = Some(u);
            }
        }
        if tmask & fmask != 0 {
            return Err(DtError::BadFormat);
        }
        fmask |= tmask;
    }
    if fmask == 0 {
        return Err(DtError::BadFormat);
    }
    let signed = |f: &super::parse::Field| f.text.starts_with(['-', '+']);
    if style == IntervalStyle::SqlStandard
        && fields.first().is_some_and(|f| f.text.starts_with('-'))
        && !fields[1..].iter().any(signed)
    {
        for part in [&mut parts.years, &mut parts.months, &mut parts.days] {
            if *part > 0 {
                *part = -*part;
            }
        }
        if parts.micros > 0 {
            parts.micros = -parts.micros;
        }
    }
    if is_before {
        parts.negate()?;
    }
    Ok(parts)
}

/// A number of ISO 8601 interval input: its integer part (truncated toward
/// zero) and fraction, and the rest of the text.
fn iso_number(text: &str) -> Result<(i64, f64, &str), DtError> {
    let b = text.as_bytes();
    if !b
        .first()
        .is_some_and(|c| c.is_ascii_digit() || *c == b'-' || *c == b'.')
    {
        return Err(DtError::BadFormat);
    }
    // strtod's extent: sign, digits, point, digits, exponent.
    let mut i = 0;
    if b[i] == b'-' || b[i] == b'+' {
        i += 1;
    }
    let digits_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i == digits_start || &text[digits_start..i] == "." {
        return Err(DtError::BadFormat);
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    let v: f64 = text[..i].parse().map_err(|_| DtError::BadFormat)?;
    if !(i32::MIN as f64..=i32::MAX as f64).contains(&v) {
        return Err(DtError::FieldOverflow);
    }
    let whole = v.trunc();
    Ok((whole as i64, v - whole, &text[i..]))
}

fn iso_integer_width(text: &str) -> usize {
    let t = text.strip_prefix('-').unwrap_or(text);
    t.bytes().take_while(u8::is_ascii_digit).count()
}

/// PostgreSQL's `DecodeISO8601Interval`: `P1Y2M3DT4H5M6S`, `P1W`, and the
/// alternative forms `P0001-02-03T04:05:06` and `P00010203T040506`.
fn decode_iso8601(input: &str) -> Result<Parts, DtError> {
    let mut parts = Parts::default();
    if input.len() < 2 || !input.starts_with('P') {
        return Err(DtError::BadFormat);
    }
    let mut s = &input[1..];
    let mut date_part = true;
    let mut have_field = false;
    while !s.is_empty() {
        if let Some(rest) = s.strip_prefix('T') {
            date_part = false;
            have_field = false;
            s = rest;
            continue;
        }
        let field_start = s;
        let (val, frac, rest) = iso_number(s)?;
        let unit = rest.as_bytes().first().copied().unwrap_or(0);
        s = if rest.is_empty() { rest } else { &rest[1..] };
        if date_part {
            match unit {
                b'Y' => {
                    parts.add_years(val, 1)?;
                    parts.add_fraction_years(frac, 1)?;
                }
                b'M' => {
                    parts.add_months(val)?;
                    parts.add_fraction_days(frac, DAYS_PER_MONTH as i64)?;
                }
                b'W' => {
                    parts.add_days(val, 7)?;
                    parts.add_fraction_days(frac, 7)?;
                }
                b'D' => {
                    parts.add_days(val, 1)?;
                    parts.add_fraction_micros(frac, USECS_PER_DAY)?;
                }
                b'T' | 0 | b'-' => {
                    if unit != b'-' && iso_integer_width(field_start) == 8 && !have_field {
                        // YYYYMMDD
                        parts.add_years(val / 10000, 1)?;
                        parts.add_months((val / 100) % 100)?;
                        parts.add_days(val % 100, 1)?;
                        parts.add_fraction_micros(frac, USECS_PER_DAY)?;
                        if unit == 0 {
                            return Ok(parts);
                        }
                        date_part = false;
                        have_field = false;
                        continue;
                    }
                    // YYYY-MM-DD
                    if have_field {
                        return Err(DtError::BadFormat);
                    }
                    parts.add_years(val, 1)?;
                    parts.add_fraction_years(frac, 1)?;
                    if unit == 0 {
                        return Ok(parts);
                    }
                    if unit == b'T' {
                        date_part = false;
                        have_field = false;
                        continue;
                    }
                    let (val, frac, rest) = iso_number(s)?;
                    parts.add_months(val)?;
                    parts.add_fraction_days(frac, DAYS_PER_MONTH as i64)?;
                    s = rest;
                    if s.is_empty() {
                        return Ok(parts);
                    }
                    if let Some(rest) = s.strip_prefix('T') {
                        s = rest;
                        date_part = false;
                        have_field = false;
                        continue;
                    }
                    s = s.strip_prefix('-').ok_or(DtError::BadFormat)?;
                    let (val, frac, rest) = iso_number(s)?;
                    parts.add_days(val, 1)?;
                    parts.add_fraction_micros(frac, USECS_PER_DAY)?;
                    s = rest;
                    if s.is_empty() {
                        return Ok(parts);
                    }
                    if let Some(rest) = s.strip_prefix('T') {
                        s = rest;
                        date_part = false;
                        have_field = false;
                        continue;
                    }
                    return Err(DtError::BadFormat);
                }
                _ => return Err(DtError::BadFormat),
            }
        } else {
            match unit {
                b'H' => parts.add_micros(val, frac, USECS_PER_HOUR)?,
                b'M' => parts.add_micros(val, frac, USECS_PER_MINUTE)?,
                b'S' => parts.add_micros(val, frac, USECS_PER_SEC)?,
                0 | b':' => {
                    if unit == 0 && iso_integer_width(field_start) == 6 && !have_field {
                        parts.add_micros(val / 10000, 0.0, USECS_PER_HOUR)?;
                        parts.add_micros((val / 100) % 100, 0.0, USECS_PER_MINUTE)?;
                        parts.add_micros(val % 100, 0.0, USECS_PER_SEC)?;
                        parts.add_fraction_micros(frac, 1)?;
                        return Ok(parts);
                    }
                    if have_field {
                        return Err(DtError::BadFormat);
                    }
                    parts.add_micros(val, frac, USECS_PER_HOUR)?;
                    if unit == 0 {
                        return Ok(parts);
                    }
                    let (val, frac, rest) = iso_number(s)?;
                    parts.add_micros(val, frac, USECS_PER_MINUTE)?;
                    s = rest;
                    if s.is_empty() {
                        return Ok(parts);
                    }
                    s = s.strip_prefix(':').ok_or(DtError::BadFormat)?;
                    let (val, frac, rest) = iso_number(s)?;
                    parts.add_micros(val, frac, USECS_PER_SEC)?;
                    if rest.is_empty() {
                        return Ok(parts);
                    }
                    return Err(DtError::BadFormat);
                }
                _ => return Err(DtError::BadFormat),
            }
        }
        have_field = true;
    }
    Ok(parts)
}
