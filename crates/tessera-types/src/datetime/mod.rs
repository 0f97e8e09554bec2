//! Dates and times as PostgreSQL keeps them, so that the binary wire format
//! is the stored value and every rule (ranges, rounding, calendar) matches.
//!
//! - `date`: days since 2000-01-01 (`i32`); `i32::MIN`/`i32::MAX` are
//!   `-infinity`/`infinity`.
//! - `time`: microseconds since midnight, `0..=86_400_000_000` (24:00:00
//!   is a valid time, as in PostgreSQL).
//! - `timestamp`: microseconds since 2000-01-01 00:00:00 (`i64`), wall-clock
//!   time with no zone; `timestamptz`: the same count in UTC, shown in the
//!   session's time zone. `i64::MIN`/`i64::MAX` are the infinities.
//! - `interval`: months, days and microseconds kept apart
//!   ([`interval::Interval`]), since a month and a day have no fixed length.
//!
//! The calendar is the proleptic Gregorian one over Julian day numbers, with
//! year 0 standing for 1 BC as PostgreSQL does internally. Dates run from
//! 4714-11-24 BC to 5874897-12-31, timestamps to 294276-12-31.
//!
//! Text input follows PostgreSQL's parser (`parse.rs`: fields, then their
//! meaning from their shape and what came before) with the session's
//! field order; output (`format.rs`, [`interval::Interval::write_text_in`])
//! follows the session's `DateStyle` and `IntervalStyle`; errors carry
//! PostgreSQL's codes and messages. Time zones are fixed offsets only
//! ([`zone::TimeZone`]): zones with daylight-saving rules are refused.

pub mod format;
pub mod from_char;
pub mod interval;
pub mod ops;
pub mod parse;
#[cfg(test)]
mod postgres_cases;
pub mod to_char;
pub mod tzfile;
pub mod zone;

use crate::error::Error;
pub use crate::output::{DateStyle, IntervalStyle, OutputSettings};
use crate::sqlstate;

pub use interval::Interval;
pub use zone::TimeZone;

pub const USECS_PER_SEC: i64 = 1_000_000;
pub const USECS_PER_MINUTE: i64 = 60 * USECS_PER_SEC;
pub const USECS_PER_HOUR: i64 = 60 * USECS_PER_MINUTE;
pub const USECS_PER_DAY: i64 = 24 * USECS_PER_HOUR;
pub const SECS_PER_DAY: i64 = 86_400;
/// The length of a month where one must be converted to days (interval
/// comparison, `justify_days`), as in PostgreSQL.
pub const DAYS_PER_MONTH: i32 = 30;
pub const MONTHS_PER_YEAR: i32 = 12;

/// Julian day number of 2000-01-01, the origin of every stored value.
pub const POSTGRES_EPOCH_JDATE: i32 = 2_451_545;
/// Julian day number of 1970-01-01.
pub const UNIX_EPOCH_JDATE: i32 = 2_440_588;
/// First Julian day past the last valid date (5874898-01-01).
const DATE_END_JULIAN: i32 = 2_147_483_494;
/// First Julian day past the last valid timestamp (294277-01-01).
const TIMESTAMP_END_JULIAN: i64 = 109_203_528;

/// The smallest valid timestamp: 4714-11-24 00:00:00 BC.
pub const TIMESTAMP_MIN: i64 = -(POSTGRES_EPOCH_JDATE as i64) * USECS_PER_DAY;
/// One past the largest valid timestamp.
pub const TIMESTAMP_END: i64 = (TIMESTAMP_END_JULIAN - POSTGRES_EPOCH_JDATE as i64) * USECS_PER_DAY;
pub const TIMESTAMP_NEG_INFINITY: i64 = i64::MIN;
pub const TIMESTAMP_INFINITY: i64 = i64::MAX;
pub const DATE_NEG_INFINITY: i32 = i32::MIN;
pub const DATE_INFINITY: i32 = i32::MAX;
/// The most fractional-second digits a time, timestamp or interval keeps.
pub const PRECISION_MAX: u8 = 6;

/// How ambiguous numeric dates are read (`DateStyle`'s second part).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum DateOrder {
    #[default]
    Mdy,
    Dmy,
    Ymd,
}

/// What date/time input, output and arithmetic read from the session: the
/// time zone, the field order for input, and the clock as of the
/// transaction and statement start (`now()`, `'now'`, `'today'`), all in
/// microseconds since 2000-01-01 UTC. Routers fill it once per statement
/// and ship it with the plan, so every shard sees the same `now()`.
/// The output settings (`DateStyle`, `IntervalStyle`,
/// `extra_float_digits`) travel with it, so that text casts on any shard
/// write as the session would ([`crate::output::OutputStyle::of`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct TimeContext {
    pub zone: TimeZone,
    pub date_order: DateOrder,
    pub transaction_start: i64,
    pub statement_start: i64,
    pub output: OutputSettings,
}

impl TimeContext {
    /// UTC with both clocks at `now`, and the default output settings.
    pub fn utc_at(now: i64) -> TimeContext {
        TimeContext {
            zone: TimeZone::UTC,
            date_order: DateOrder::Mdy,
            transaction_start: now,
            statement_start: now,
            output: OutputSettings::default(),
        }
    }

    /// How values are written as text in this context.
    pub fn output_style(&self) -> crate::output::OutputStyle<'_> {
        crate::output::OutputStyle::of(self)
    }
}

/// Converts microseconds since the Unix epoch to microseconds since 2000.
pub fn from_unix_micros(micros: i64) -> i64 {
    micros - (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) as i64 * USECS_PER_DAY
}

/// The wall clock in microseconds since 2000-01-01 UTC.
pub fn wall_clock() -> i64 {
    let since_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    from_unix_micros(since_unix)
}

// ---- the calendar ---------------------------------------------------------

/// Whether `year` (astronomical: 0 is 1 BC) is a leap year.
pub fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

pub fn days_in_month(year: i32, month: i32) -> i32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The Julian day number of a Gregorian date. Counting years from March
/// puts the leap day last, so a month's offset is a linear formula.
pub fn date_to_julian(year: i32, month: i32, day: i32) -> i32 {
    let (y, m) = if month > 2 {
        (year as i64 + 4800, month as i64 - 3)
    } else {
        (year as i64 + 4799, month as i64 + 9)
    };
    let julian = day as i64 + (153 * m + 2) / 5 + 365 * y + y.div_euclid(4) - y.div_euclid(100)
        + y.div_euclid(400)
        - 32045;
    julian as i32
}

/// The Gregorian date of a Julian day number (the inverse of [`date_to_julian`]).
pub fn julian_to_date(julian: i32) -> (i32, i32, i32) {
    let a = julian as i64 + 32044;
    let b = (4 * a + 3).div_euclid(146_097);
    let c = a - (146_097 * b).div_euclid(4);
    let d = (4 * c + 3).div_euclid(1461);
    let e = c - (1461 * d).div_euclid(4);
    let m = (5 * e + 2).div_euclid(153);
    let day = e - (153 * m + 2).div_euclid(5) + 1;
    let month = m + 3 - 12 * (m / 10);
    let year = 100 * b + d - 4800 + m / 10;
    (year as i32, month as i32, day as i32)
}

/// Day of the week of a Julian day number: 0 is Sunday.
pub fn day_of_week(julian: i32) -> i32 {
    (julian as i64 + 1).rem_euclid(7) as i32
}

/// Whether a date is inside the Julian-day range the conversions handle
/// (from 4714-11-24 BC); the end is checked by each type's own range.
pub fn is_valid_julian(year: i32, month: i32, day: i32) -> bool {
    (year > -4713 || (year == -4713 && (month > 11 || (month == 11 && day >= 24))))
        && year < 5_874_898
}

/// Whether `date` (days since 2000) is a finite date in range.
pub fn is_valid_date(date: i32) -> bool {
    (-POSTGRES_EPOCH_JDATE..DATE_END_JULIAN - POSTGRES_EPOCH_JDATE).contains(&date)
}

/// Whether `ts` is a finite timestamp in range.
pub fn is_valid_timestamp(ts: i64) -> bool {
    (TIMESTAMP_MIN..TIMESTAMP_END).contains(&ts)
}

pub fn is_finite_timestamp(ts: i64) -> bool {
    ts != TIMESTAMP_INFINITY && ts != TIMESTAMP_NEG_INFINITY
}

pub fn is_finite_date(date: i32) -> bool {
    date != DATE_INFINITY && date != DATE_NEG_INFINITY
}

/// A timestamp broken into calendar fields (`year` astronomical).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fields {
    pub year: i32,
    pub month: i32,
    pub day: i32,
    pub hour: i32,
    pub minute: i32,
    pub second: i32,
    pub micros: i32,
}

impl Fields {
    /// The Julian day number of the date part.
    pub fn julian(&self) -> i32 {
        date_to_julian(self.year, self.month, self.day)
    }

    /// Microseconds since midnight of the time part.
    pub fn time_micros(&self) -> i64 {
        ((self.hour as i64 * 60 + self.minute as i64) * 60 + self.second as i64) * USECS_PER_SEC
            + self.micros as i64
    }

    pub fn set_time(&mut self, micros: i64) {
        self.hour = (micros / USECS_PER_HOUR) as i32;
        self.minute = (micros / USECS_PER_MINUTE % 60) as i32;
        self.second = (micros / USECS_PER_SEC % 60) as i32;
        self.micros = (micros % USECS_PER_SEC) as i32;
    }

    pub fn set_julian(&mut self, julian: i32) {
        (self.year, self.month, self.day) = julian_to_date(julian);
    }
}

/// The fields of a finite timestamp.
pub fn timestamp_to_fields(ts: i64) -> Fields {
    let days = ts.div_euclid(USECS_PER_DAY);
    let time = ts.rem_euclid(USECS_PER_DAY);
    let mut f = Fields::default();
    f.set_julian((days + POSTGRES_EPOCH_JDATE as i64) as i32);
    f.set_time(time);
    f
}

/// The timestamp of `fields`, or `None` out of range.
pub fn fields_to_timestamp(f: &Fields) -> Option<i64> {
    if !is_valid_julian(f.year, f.month, f.day) {
        return None;
    }
    let days = (f.julian() - POSTGRES_EPOCH_JDATE) as i64;
    let ts = days
        .checked_mul(USECS_PER_DAY)?
        .checked_add(f.time_micros())?;
    is_valid_timestamp(ts).then_some(ts)
}

/// The date of `ts` (wall-clock), with the infinities kept.
pub fn timestamp_to_date(ts: i64) -> i32 {
    match ts {
        TIMESTAMP_NEG_INFINITY => DATE_NEG_INFINITY,
        TIMESTAMP_INFINITY => DATE_INFINITY,
        ts => ts.div_euclid(USECS_PER_DAY) as i32,
    }
}

/// Midnight of `date`, or 22008 past the timestamp range.
pub fn date_to_timestamp(date: i32) -> Result<i64, Error> {
    match date {
        DATE_NEG_INFINITY => Ok(TIMESTAMP_NEG_INFINITY),
        DATE_INFINITY => Ok(TIMESTAMP_INFINITY),
        d => (d as i64)
            .checked_mul(USECS_PER_DAY)
            .filter(|ts| is_valid_timestamp(*ts))
            .ok_or_else(date_out_of_range_for_timestamp),
    }
}

/// Rounds `micros` to `precision` fractional digits, half away from zero,
/// as PostgreSQL applies a time or timestamp type modifier.
pub fn round_micros(micros: i64, precision: u8) -> i64 {
    if precision >= PRECISION_MAX {
        return micros;
    }
    let scale = 10i64.pow((PRECISION_MAX - precision) as u32);
    let half = scale / 2;
    if micros >= 0 {
        (micros.saturating_add(half) / scale).saturating_mul(scale)
    } else {
        -((micros.saturating_neg().saturating_add(half) / scale).saturating_mul(scale))
    }
}

/// A timestamp rounded for a `timestamp(p)` column; infinities stay.
pub fn round_timestamp(ts: i64, precision: Option<u8>) -> Result<i64, Error> {
    match precision {
        Some(p) if is_finite_timestamp(ts) => {
            let rounded = round_micros(ts, p);
            if is_valid_timestamp(rounded) {
                Ok(rounded)
            } else {
                Err(out_of_range("timestamp"))
            }
        }
        _ => Ok(ts),
    }
}

/// 22008 "<what> out of range", PostgreSQL's message for results outside a
/// type's range ("timestamp out of range", "date out of range").
pub fn out_of_range(what: &str) -> Error {
    Error::new(
        sqlstate::DATETIME_FIELD_OVERFLOW,
        format!("{what} out of range"),
    )
}

/// 22008 for a date whose midnight is past the timestamp range.
pub fn date_out_of_range_for_timestamp() -> Error {
    Error::new(
        sqlstate::DATETIME_FIELD_OVERFLOW,
        "date out of range for timestamp",
    )
}

/// 22008 "interval out of range".
pub fn interval_out_of_range() -> Error {
    out_of_range("interval")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn julian_days_round_trip_over_the_whole_range() {
        assert_eq!(date_to_julian(2000, 1, 1), POSTGRES_EPOCH_JDATE);
        assert_eq!(date_to_julian(1970, 1, 1), UNIX_EPOCH_JDATE);
        assert_eq!(date_to_julian(-4713, 11, 24), 0);
        assert_eq!(date_to_julian(5_874_898, 1, 1), DATE_END_JULIAN);
        assert_eq!(date_to_julian(294_277, 1, 1) as i64, TIMESTAMP_END_JULIAN);
        for julian in (0..DATE_END_JULIAN).step_by(9973) {
            let (y, m, d) = julian_to_date(julian);
            assert_eq!(date_to_julian(y, m, d), julian, "{y}-{m}-{d}");
            assert!((1..=days_in_month(y, m)).contains(&d));
        }
        // Every day of a few leap-year boundaries.
        for julian in date_to_julian(1899, 12, 1)..date_to_julian(1900, 4, 1) {
            let (y, m, d) = julian_to_date(julian);
            assert_eq!(date_to_julian(y, m, d), julian);
        }
        assert_eq!(julian_to_date(date_to_julian(2000, 2, 29)), (2000, 2, 29));
        assert_eq!(
            julian_to_date(date_to_julian(1900, 2, 28) + 1),
            (1900, 3, 1)
        );
        assert_eq!(julian_to_date(date_to_julian(0, 2, 28) + 1), (0, 2, 29));
    }

    #[test]
    fn leap_years_and_weekdays() {
        assert!(is_leap(2000) && is_leap(2024) && is_leap(0) && is_leap(-4));
        assert!(!is_leap(1900) && !is_leap(2100) && !is_leap(2026) && !is_leap(-1));
        // 2026-11-23 is a Monday; 2000-01-01 a Saturday.
        assert_eq!(day_of_week(date_to_julian(2026, 11, 23)), 1);
        assert_eq!(day_of_week(POSTGRES_EPOCH_JDATE), 6);
        assert_eq!(day_of_week(0), 1);
    }

    #[test]
    fn timestamp_fields_and_ranges() {
        let f = timestamp_to_fields(-1);
        assert_eq!((f.year, f.month, f.day), (1999, 12, 31));
        assert_eq!(
            (f.hour, f.minute, f.second, f.micros),
            (23, 59, 59, 999_999)
        );
        assert_eq!(fields_to_timestamp(&f), Some(-1));
        assert_eq!(
            fields_to_timestamp(&timestamp_to_fields(TIMESTAMP_MIN)),
            Some(TIMESTAMP_MIN)
        );
        assert_eq!(
            fields_to_timestamp(&timestamp_to_fields(TIMESTAMP_END - 1)),
            Some(TIMESTAMP_END - 1)
        );
        let end = Fields {
            year: 294_277,
            month: 1,
            day: 1,
            ..Fields::default()
        };
        assert_eq!(fields_to_timestamp(&end), None);
        assert!(date_to_timestamp(DATE_END_JULIAN - POSTGRES_EPOCH_JDATE - 1).is_err());
        assert_eq!(round_micros(1_500_000, 0), 2_000_000);
        assert_eq!(round_micros(-1_500_000, 0), -2_000_000);
        assert_eq!(round_micros(1_234_567, 3), 1_235_000);
        assert_eq!(round_micros(1_234_567, 6), 1_234_567);
    }
}
