//! Arithmetic and field functions over dates and times, with PostgreSQL's
//! rules: month arithmetic clamps to the month's last day, `timestamp -
//! timestamp` folds whole days out of the hours, infinities pass through
//! addition and cannot be subtracted, and every result is range-checked
//! (22008). `extract` and `date_trunc` take PostgreSQL's unit names.

use num_bigint::BigInt;

use crate::numeric::Numeric;

use crate::error::Error;
use crate::sqlstate;

use super::interval::Interval;
use super::{
    date_to_julian, day_of_week, days_in_month, fields_to_timestamp, is_finite_date,
    is_finite_timestamp, is_valid_date, is_valid_timestamp, out_of_range, timestamp_to_fields,
    Fields, TimeZone, DAYS_PER_MONTH, MONTHS_PER_YEAR, POSTGRES_EPOCH_JDATE, SECS_PER_DAY,
    TIMESTAMP_NEG_INFINITY, UNIX_EPOCH_JDATE, USECS_PER_DAY, USECS_PER_HOUR, USECS_PER_MINUTE,
    USECS_PER_SEC,
};

fn timestamp_out_of_range() -> Error {
    out_of_range("timestamp")
}

/// Adds months to a date's fields, clamping the day to the month's end.
fn add_months(f: &mut Fields, months: i32) -> Result<(), Error> {
    let total = f.year as i64 * 12 + (f.month as i64 - 1) + months as i64;
    let year = total.div_euclid(12);
    f.year = i32::try_from(year).map_err(|_| timestamp_out_of_range())?;
    f.month = (total.rem_euclid(12) + 1) as i32;
    f.day = f.day.min(days_in_month(f.year, f.month));
    Ok(())
}

/// Adds the month and day parts of an interval to a wall-clock timestamp.
fn add_months_and_days(ts: i64, span: &Interval) -> Result<i64, Error> {
    let mut ts = ts;
    if span.months != 0 {
        let mut f = timestamp_to_fields(ts);
        add_months(&mut f, span.months)?;
        ts = fields_to_timestamp(&f).ok_or_else(timestamp_out_of_range)?;
    }
    if span.days != 0 {
        let mut f = timestamp_to_fields(ts);
        let julian = f.julian() as i64 + span.days as i64;
        if !(0..i32::MAX as i64).contains(&julian) {
            return Err(timestamp_out_of_range());
        }
        f.set_julian(julian as i32);
        ts = fields_to_timestamp(&f).ok_or_else(timestamp_out_of_range)?;
    }
    Ok(ts)
}

/// `timestamp + interval`.
pub fn timestamp_plus_interval(ts: i64, span: &Interval) -> Result<i64, Error> {
    if !is_finite_timestamp(ts) {
        return Ok(ts);
    }
    let ts = add_months_and_days(ts, span)?;
    ts.checked_add(span.micros)
        .filter(|t| is_valid_timestamp(*t))
        .ok_or_else(timestamp_out_of_range)
}

/// `timestamptz + interval`: months and days move the wall clock in `zone`.
pub fn timestamptz_plus_interval(ts: i64, span: &Interval, zone: &TimeZone) -> Result<i64, Error> {
    if !is_finite_timestamp(ts) {
        return Ok(ts);
    }
    let mut utc = ts;
    // Months, then days, each on the wall clock, the offset looked up again
    // after each (PostgreSQL's `timestamptz_pl_interval`).
    let steps = [
        Interval {
            months: span.months,
            days: 0,
            micros: 0,
        },
        Interval {
            months: 0,
            days: span.days,
            micros: 0,
        },
    ];
    for step in steps.iter().filter(|s| s.months != 0 || s.days != 0) {
        let local = utc + zone.offset_at_utc(utc) as i64 * USECS_PER_SEC;
        let local = add_months_and_days(local, step)?;
        utc = local - zone.offset_for_local(local) as i64 * USECS_PER_SEC;
        if !is_valid_timestamp(utc) {
            return Err(timestamp_out_of_range());
        }
    }
    utc.checked_add(span.micros)
        .filter(|t| is_valid_timestamp(*t))
        .ok_or_else(timestamp_out_of_range)
}

/// `timestamp - timestamp` (also for `timestamptz`): an interval of days
/// and time, with whole days folded out of the hours.
pub fn timestamp_minus_timestamp(a: i64, b: i64) -> Result<Interval, Error> {
    if !is_finite_timestamp(a) || !is_finite_timestamp(b) {
        return Err(Error::new(
            sqlstate::DATETIME_FIELD_OVERFLOW,
            "cannot subtract infinite timestamps",
        ));
    }
    let micros = a.checked_sub(b).ok_or_else(super::interval_out_of_range)?;
    Interval::new(0, 0, micros).justify_hours()
}

/// `date + integer`.
pub fn date_plus_days(date: i32, days: i64) -> Result<i32, Error> {
    if !is_finite_date(date) {
        return Ok(date);
    }
    let result = date as i64 + days;
    i32::try_from(result)
        .ok()
        .filter(|d| is_valid_date(*d))
        .ok_or_else(|| out_of_range("date"))
}

/// `date - date`: the number of days between.
pub fn date_minus_date(a: i32, b: i32) -> Result<i32, Error> {
    if !is_finite_date(a) || !is_finite_date(b) {
        return Err(Error::new(
            sqlstate::DATETIME_FIELD_OVERFLOW,
            "cannot subtract infinite dates",
        ));
    }
    Ok(a - b)
}

/// `date + time`: a timestamp.
pub fn date_plus_time(date: i32, time: i64) -> Result<i64, Error> {
    let ts = super::date_to_timestamp(date)?;
    if !is_finite_timestamp(ts) {
        return Ok(ts);
    }
    let ts = ts + time;
    if is_valid_timestamp(ts) {
        Ok(ts)
    } else {
        Err(timestamp_out_of_range())
    }
}

/// `time + interval`: the time part only, wrapping around midnight.
pub fn time_plus_interval(time: i64, span: &Interval) -> i64 {
    let t = (time as i128 + span.micros as i128).rem_euclid(USECS_PER_DAY as i128);
    t as i64
}

/// `time - time`.
pub fn time_minus_time(a: i64, b: i64) -> Interval {
    Interval::new(0, 0, a - b)
}

/// `interval::time`: the time part, modulo a day.
pub fn interval_to_time(span: &Interval) -> i64 {
    span.micros.rem_euclid(USECS_PER_DAY)
}

/// `timestamptz` at `zone`'s wall clock as a `timestamp`.
pub fn timestamptz_to_timestamp(ts: i64, zone: &TimeZone) -> Result<i64, Error> {
    zone.to_local(ts)
}

/// A wall-clock `timestamp` in `zone` as a `timestamptz`.
pub fn timestamp_to_timestamptz(ts: i64, zone: &TimeZone) -> Result<i64, Error> {
    zone.to_utc(ts)
}

/// `age(a, b)`: the difference in years, months, days and time, counted on
/// the calendar ("symbolic"), as PostgreSQL's `timestamp_age`.
pub fn age(a: i64, b: i64) -> Result<Interval, Error> {
    if !is_finite_timestamp(a) || !is_finite_timestamp(b) {
        return Err(timestamp_out_of_range());
    }
    let (f1, f2) = (timestamp_to_fields(a), timestamp_to_fields(b));
    let mut fsec = f1.micros as i64 - f2.micros as i64;
    let mut sec = f1.second as i64 - f2.second as i64;
    let mut min = f1.minute as i64 - f2.minute as i64;
    let mut hour = f1.hour as i64 - f2.hour as i64;
    let mut day = f1.day as i64 - f2.day as i64;
    let mut mon = f1.month as i64 - f2.month as i64;
    let mut year = f1.year as i64 - f2.year as i64;
    let flip = a < b;
    let negate_all = |v: [&mut i64; 7]| {
        for x in v {
            *x = -*x;
        }
    };
    if flip {
        negate_all([
            &mut fsec, &mut sec, &mut min, &mut hour, &mut day, &mut mon, &mut year,
        ]);
    }
    while fsec < 0 {
        fsec += USECS_PER_SEC;
        sec -= 1;
    }
    while sec < 0 {
        sec += 60;
        min -= 1;
    }
    while min < 0 {
        min += 60;
        hour -= 1;
    }
    while hour < 0 {
        hour += 24;
        day -= 1;
    }
    while day < 0 {
        let f = if flip { f1 } else { f2 };
        day += days_in_month(f.year, f.month) as i64;
        mon -= 1;
    }
    while mon < 0 {
        mon += 12;
        year -= 1;
    }
    if flip {
        negate_all([
            &mut fsec, &mut sec, &mut min, &mut hour, &mut day, &mut mon, &mut year,
        ]);
    }
    let months = year * MONTHS_PER_YEAR as i64 + mon;
    let micros = ((hour * 60 + min) * 60 + sec) * USECS_PER_SEC + fsec;
    Ok(Interval::new(
        i32::try_from(months).map_err(|_| super::interval_out_of_range())?,
        i32::try_from(day).map_err(|_| super::interval_out_of_range())?,
        micros,
    ))
}

// ---- units ------------------------------------------------------------------

/// A unit of `extract`, `date_part` and `date_trunc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Microseconds,
    Milliseconds,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
    Decade,
    Century,
    Millennium,
    Julian,
    IsoYear,
    Dow,
    IsoDow,
    Doy,
    Epoch,
    Timezone,
    TimezoneHour,
    TimezoneMinute,
}

impl Unit {
    /// PostgreSQL's unit names (and abbreviations), compared on their first
    /// ten characters as it does. `None` for an unknown unit.
    pub fn parse(name: &str) -> Option<Unit> {
        let lower = name.to_lowercase();
        let key: String = lower.chars().take(10).collect();
        use Unit::*;
        Some(match key.as_str() {
            "microsecon" | "us" | "usec" | "usecs" | "usecond" | "useconds" => Microseconds,
            "millisecon" | "ms" | "msec" | "msecs" | "msecond" | "mseconds" => Milliseconds,
            "second" | "seconds" | "s" | "sec" | "secs" => Second,
            "minute" | "minutes" | "m" | "min" | "mins" => Minute,
            "hour" | "hours" | "h" | "hr" | "hrs" => Hour,
            "day" | "days" | "d" => Day,
            "week" | "weeks" | "w" => Week,
            "month" | "months" | "mon" | "mons" => Month,
            "quarter" | "qtr" => Quarter,
            "year" | "years" | "y" | "yr" | "yrs" => Year,
            "decade" | "decades" | "dec" | "decs" => Decade,
            "century" | "centuries" | "c" | "cent" => Century,
            "millennium" | "millennia" | "mil" | "mils" => Millennium,
            "julian" | "j" | "jd" => Julian,
            "isoyear" => IsoYear,
            "dow" => Dow,
            "isodow" => IsoDow,
            "doy" => Doy,
            "epoch" => Epoch,
            "timezone" => Timezone,
            "timezone_h" => TimezoneHour,
            "timezone_m" => TimezoneMinute,
            _ => return None,
        })
    }
}

/// The kind of value a unit is asked of, as error messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartOf {
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Interval,
}

impl PartOf {
    fn type_name(self) -> &'static str {
        match self {
            PartOf::Date => "date",
            PartOf::Time => "time without time zone",
            PartOf::Timestamp => "timestamp without time zone",
            PartOf::TimestampTz => "timestamp with time zone",
            PartOf::Interval => "interval",
        }
    }
}

fn not_recognized(name: &str, of: PartOf) -> Error {
    Error::new(
        sqlstate::INVALID_PARAMETER_VALUE,
        format!(
            "unit \"{}\" not recognized for type {}",
            name.to_lowercase(),
            of.type_name()
        ),
    )
}

fn not_supported(name: &str, of: PartOf) -> Error {
    Error::new(
        sqlstate::FEATURE_NOT_SUPPORTED,
        format!(
            "unit \"{}\" not supported for type {}",
            name.to_lowercase(),
            of.type_name()
        ),
    )
}

/// The value of a unit: exact (`extract` gives numeric) with a float form
/// (`date_part` gives double precision).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Part {
    /// `value / 10^scale`, shown with `scale` fraction digits.
    Exact { value: i128, scale: u32, float: f64 },
    /// The Julian day with a fraction of a day (numeric division).
    Julian { day: i64, micros: i64, float: f64 },
    /// `±infinity` of an infinite input for an increasing unit.
    Infinite { negative: bool },
    /// NULL (a periodic unit of an infinite input).
    Null,
}

impl Part {
    fn int(v: i64) -> Part {
        Part::Exact {
            value: v as i128,
            scale: 0,
            float: v as f64,
        }
    }

    /// As `numeric` (PostgreSQL 14 and later make `extract` numeric).
    pub fn to_numeric(&self) -> Result<Option<Numeric>, Error> {
        match *self {
            Part::Exact { value, scale, .. } => {
                Numeric::from_parts(BigInt::from(value), scale).map(Some)
            }
            Part::Julian { day, micros, .. } => {
                let fraction =
                    Numeric::from(micros).div(&Numeric::from(SECS_PER_DAY * USECS_PER_SEC))?;
                Numeric::from(day).add(&fraction).map(Some)
            }
            Part::Infinite { negative } => Ok(Some(if negative {
                Numeric::NegInfinity
            } else {
                Numeric::Infinity
            })),
            Part::Null => Ok(None),
        }
    }

    /// As `double precision`.
    pub fn to_float(&self) -> Option<f64> {
        match *self {
            Part::Exact { float, .. } | Part::Julian { float, .. } => Some(float),
            Part::Infinite { negative } => Some(if negative {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            }),
            Part::Null => None,
        }
    }
}

/// The ISO 8601 week number of a date.
fn iso_week(year: i32, month: i32, day: i32) -> i32 {
    let dayn = date_to_julian(year, month, day);
    let mut day4 = date_to_julian(year, 1, 4);
    let mut day0 = day_of_week(day4 - 1);
    if dayn < day4 - day0 {
        day4 = date_to_julian(year - 1, 1, 4);
        day0 = day_of_week(day4 - 1);
    }
    let mut week = (dayn - (day4 - day0)) / 7 + 1;
    if week >= 52 {
        let next4 = date_to_julian(year + 1, 1, 4);
        let next0 = day_of_week(next4 - 1);
        if dayn >= next4 - next0 {
            week = (dayn - (next4 - next0)) / 7 + 1;
        }
    }
    week
}

/// The ISO 8601 week-numbering year of a date.
fn iso_year(year: i32, month: i32, day: i32) -> i32 {
    let dayn = date_to_julian(year, month, day);
    let mut year = year;
    let mut day4 = date_to_julian(year, 1, 4);
    let mut day0 = day_of_week(day4 - 1);
    if dayn < day4 - day0 {
        year -= 1;
        day4 = date_to_julian(year, 1, 4);
        day0 = day_of_week(day4 - 1);
    }
    let week = (dayn - (day4 - day0)) / 7 + 1;
    if week >= 52 {
        let next4 = date_to_julian(year + 1, 1, 4);
        let next0 = day_of_week(next4 - 1);
        if dayn >= next4 - next0 {
            year += 1;
        }
    }
    year
}

/// The Monday starting ISO week `week` of `year` (which owns January 4th).
fn iso_week_start(week: i32, year: i32) -> i32 {
    let day4 = date_to_julian(year, 1, 4);
    let day0 = day_of_week(day4 - 1);
    (week - 1) * 7 + (day4 - day0)
}

fn year_part(unit: Unit, year: i32) -> i64 {
    let y = year as i64;
    match unit {
        Unit::Year => {
            if y > 0 {
                y
            } else {
                y - 1
            }
        }
        Unit::Decade => {
            if y >= 0 {
                y / 10
            } else {
                -((8 - (y - 1)) / 10)
            }
        }
        Unit::Century => {
            if y > 0 {
                (y + 99) / 100
            } else {
                -((99 - (y - 1)) / 100)
            }
        }
        _ => {
            if y > 0 {
                (y + 999) / 1000
            } else {
                -((999 - (y - 1)) / 1000)
            }
        }
    }
}

fn epoch_micros() -> i64 {
    (UNIX_EPOCH_JDATE - POSTGRES_EPOCH_JDATE) as i64 * USECS_PER_DAY
}

/// Seconds with a fraction from `sec` and `fsec`, PostgreSQL's way for
/// each of the three sub-minute units.
fn seconds_part(unit: Unit, sec: i64, fsec: i64) -> Part {
    let total = sec * USECS_PER_SEC + fsec;
    match unit {
        Unit::Microseconds => Part::Exact {
            value: total as i128,
            scale: 0,
            float: sec as f64 * 1_000_000.0 + fsec as f64,
        },
        Unit::Milliseconds => Part::Exact {
            value: total as i128,
            scale: 3,
            float: sec as f64 * 1000.0 + fsec as f64 / 1000.0,
        },
        _ => Part::Exact {
            value: total as i128,
            scale: 6,
            float: sec as f64 + fsec as f64 / 1_000_000.0,
        },
    }
}

/// `extract(unit from timestamp)`, or `timestamptz` with the wall clock of
/// `zone` (its offset answers the time zone units).
pub fn timestamp_part(name: &str, ts: i64, zone: Option<&TimeZone>) -> Result<Part, Error> {
    let of = if zone.is_some() {
        PartOf::TimestampTz
    } else {
        PartOf::Timestamp
    };
    let unit = Unit::parse(name).ok_or_else(|| not_recognized(name, of))?;
    use Unit::*;
    if matches!(unit, Timezone | TimezoneHour | TimezoneMinute) && zone.is_none() {
        return Err(not_supported(name, of));
    }
    if !is_finite_timestamp(ts) {
        return Ok(match unit {
            Year | Decade | Century | Millennium | Julian | IsoYear | Epoch => Part::Infinite {
                negative: ts == TIMESTAMP_NEG_INFINITY,
            },
            _ => Part::Null,
        });
    }
    if unit == Epoch {
        let micros = ts - epoch_micros();
        return Ok(Part::Exact {
            value: micros as i128,
            scale: 6,
            float: micros as f64 / 1_000_000.0,
        });
    }
    let offset = zone.map_or(0, |z| z.offset_at_utc(ts));
    let local = ts + offset as i64 * USECS_PER_SEC;
    let f = timestamp_to_fields(local);
    let julian = f.julian();
    Ok(match unit {
        Microseconds | Milliseconds | Second => {
            seconds_part(unit, f.second as i64, f.micros as i64)
        }
        Minute => Part::int(f.minute as i64),
        Hour => Part::int(f.hour as i64),
        Day => Part::int(f.day as i64),
        Month => Part::int(f.month as i64),
        Quarter => Part::int((f.month as i64 - 1) / 3 + 1),
        Week => Part::int(iso_week(f.year, f.month, f.day) as i64),
        Year | Decade | Century | Millennium => Part::int(year_part(unit, f.year)),
        IsoYear => {
            let y = iso_year(f.year, f.month, f.day) as i64;
            Part::int(if y <= 0 { y - 1 } else { y })
        }
        Dow => Part::int(day_of_week(julian) as i64),
        IsoDow => {
            let d = day_of_week(julian) as i64;
            Part::int(if d == 0 { 7 } else { d })
        }
        Doy => Part::int((julian - date_to_julian(f.year, 1, 1) + 1) as i64),
        Julian => {
            let micros = f.time_micros();
            let seconds = ((f.hour as i64 * 60 + f.minute as i64) * 60 + f.second as i64) as f64
                + f.micros as f64 / 1_000_000.0;
            Part::Julian {
                day: julian as i64,
                micros,
                float: julian as f64 + seconds / SECS_PER_DAY as f64,
            }
        }
        Timezone => Part::int(offset as i64),
        TimezoneHour => Part::int(offset as i64 / 3600),
        TimezoneMinute => Part::int(offset as i64 / 60 % 60),
        Epoch => unreachable!("handled above"),
    })
}

/// `extract(unit from date)`: date units only.
pub fn date_part(name: &str, date: i32) -> Result<Part, Error> {
    let unit = Unit::parse(name).ok_or_else(|| not_recognized(name, PartOf::Date))?;
    use Unit::*;
    let supported = matches!(
        unit,
        Day | Month
            | Quarter
            | Week
            | Year
            | Decade
            | Century
            | Millennium
            | Julian
            | IsoYear
            | Dow
            | IsoDow
            | Doy
            | Epoch
    );
    if !supported {
        return Err(not_supported(name, PartOf::Date));
    }
    if !is_finite_date(date) {
        return Ok(match unit {
            Year | Decade | Century | Millennium | Julian | IsoYear | Epoch => Part::Infinite {
                negative: date == super::DATE_NEG_INFINITY,
            },
            _ => Part::Null,
        });
    }
    let julian = date + POSTGRES_EPOCH_JDATE;
    Ok(match unit {
        Epoch => Part::int((julian - UNIX_EPOCH_JDATE) as i64 * SECS_PER_DAY),
        Julian => Part::int(julian as i64),
        _ => timestamp_part(name, date as i64 * USECS_PER_DAY, None)?,
    })
}

/// `extract(unit from time)`.
pub fn time_part(name: &str, time: i64) -> Result<Part, Error> {
    let unit = Unit::parse(name).ok_or_else(|| not_recognized(name, PartOf::Time))?;
    let mut f = Fields::default();
    f.set_time(time);
    Ok(match unit {
        Unit::Microseconds | Unit::Milliseconds | Unit::Second => {
            seconds_part(unit, f.second as i64, f.micros as i64)
        }
        Unit::Minute => Part::int(f.minute as i64),
        Unit::Hour => Part::int(f.hour as i64),
        Unit::Epoch => Part::Exact {
            value: time as i128,
            scale: 6,
            float: time as f64 / 1_000_000.0,
        },
        _ => return Err(not_supported(name, PartOf::Time)),
    })
}

/// `extract(unit from interval)`.
pub fn interval_part(name: &str, span: &Interval) -> Result<Part, Error> {
    let unit = Unit::parse(name).ok_or_else(|| not_recognized(name, PartOf::Interval))?;
    let years = (span.months / MONTHS_PER_YEAR) as i64;
    let months = (span.months % MONTHS_PER_YEAR) as i64;
    let hours = span.micros / USECS_PER_HOUR;
    let minutes = span.micros / USECS_PER_MINUTE % 60;
    let seconds = span.micros / USECS_PER_SEC % 60;
    let fsec = span.micros % USECS_PER_SEC;
    use Unit::*;
    Ok(match unit {
        Microseconds | Milliseconds | Second => seconds_part(unit, seconds, fsec),
        Minute => Part::int(minutes),
        Hour => Part::int(hours),
        Day => Part::int(span.days as i64),
        Month => Part::int(months),
        Quarter => Part::int(months / 3 + 1),
        Year => Part::int(years),
        Decade => Part::int(years / 10),
        Century => Part::int(years / 100),
        Millennium => Part::int(years / 1000),
        Epoch => {
            // A year is 365.25 days here; times four keeps it integral.
            let quarter_days = 1461 * (span.months / MONTHS_PER_YEAR) as i128
                + 4 * DAYS_PER_MONTH as i128 * (span.months % MONTHS_PER_YEAR) as i128
                + 4 * span.days as i128;
            let seconds = quarter_days * (SECS_PER_DAY / 4) as i128;
            let float = span.micros as f64 / 1_000_000.0
                + 365.25 * SECS_PER_DAY as f64 * (span.months / MONTHS_PER_YEAR) as f64
                + (DAYS_PER_MONTH as i64 * SECS_PER_DAY) as f64
                    * (span.months % MONTHS_PER_YEAR) as f64
                + SECS_PER_DAY as f64 * span.days as f64;
            Part::Exact {
                value: seconds * USECS_PER_SEC as i128 + span.micros as i128,
                scale: 6,
                float,
            }
        }
        _ => return Err(not_supported(name, PartOf::Interval)),
    })
}

/// Truncates wall-clock fields to `unit` (PostgreSQL's `timestamp_trunc`).
fn trunc_fields(name: &str, unit: Unit, f: &mut Fields, of: PartOf) -> Result<(), Error> {
    use Unit::*;
    match unit {
        Week => {
            let week = iso_week(f.year, f.month, f.day);
            let mut year = f.year;
            if week >= 52 && f.month == 1 {
                year -= 1;
            }
            if week <= 1 && f.month == 12 {
                year += 1;
            }
            f.set_julian(iso_week_start(week, year));
            f.set_time(0);
            return Ok(());
        }
        Millennium | Century | Decade | Year | Quarter | Month | Day | Hour | Minute | Second => {}
        Milliseconds => {
            f.micros = f.micros / 1000 * 1000;
            return Ok(());
        }
        Microseconds => return Ok(()),
        _ => return Err(not_supported(name, of)),
    }
    let y = f.year;
    match unit {
        Millennium => {
            f.year = if y > 0 {
                (y + 999) / 1000 * 1000 - 999
            } else {
                -((999 - (y - 1)) / 1000) * 1000 + 1
            }
        }
        Century => {
            f.year = if y > 0 {
                (y + 99) / 100 * 100 - 99
            } else {
                -((99 - (y - 1)) / 100) * 100 + 1
            }
        }
        Decade => {
            f.year = if y > 0 {
                y / 10 * 10
            } else {
                -((8 - (y - 1)) / 10) * 10
            }
        }
        _ => {}
    }
    let rank = |u: Unit| match u {
        Millennium | Century | Decade | Year => 0,
        Quarter => 1,
        Month => 2,
        Day => 3,
        Hour => 4,
        Minute => 5,
        _ => 6,
    };
    let r = rank(unit);
    if r <= 0 {
        f.month = 1;
    }
    if r <= 1 {
        f.month = 3 * ((f.month - 1) / 3) + 1;
    }
    if r <= 2 {
        f.day = 1;
    }
    if r <= 3 {
        f.hour = 0;
    }
    if r <= 4 {
        f.minute = 0;
    }
    if r <= 5 {
        f.second = 0;
    }
    f.micros = 0;
    Ok(())
}

/// `date_trunc(unit, timestamp)`, or of a `timestamptz` on `zone`'s clock.
pub fn timestamp_trunc(name: &str, ts: i64, zone: Option<&TimeZone>) -> Result<i64, Error> {
    let of = if zone.is_some() {
        PartOf::TimestampTz
    } else {
        PartOf::Timestamp
    };
    let unit = Unit::parse(name).ok_or_else(|| not_recognized(name, of))?;
    if !is_finite_timestamp(ts) {
        return Ok(ts);
    }
    let offset = zone.map_or(0, |z| z.offset_at_utc(ts)) as i64 * USECS_PER_SEC;
    let mut f = timestamp_to_fields(ts + offset);
    trunc_fields(name, unit, &mut f, of)?;
    let local = fields_to_timestamp(&f).ok_or_else(timestamp_out_of_range)?;
    // From a day up the offset is looked up again for the truncated wall
    // clock; below, the instant's offset stays (PostgreSQL's `redotz`).
    use Unit::*;
    let result = match zone {
        Some(z) if !matches!(unit, Hour | Minute | Second | Milliseconds | Microseconds) => {
            local - z.offset_for_local(local) as i64 * USECS_PER_SEC
        }
        _ => local - offset,
    };
    if is_valid_timestamp(result) {
        Ok(result)
    } else {
        Err(timestamp_out_of_range())
    }
}

/// `date_trunc(unit, interval)`.
pub fn interval_trunc(name: &str, span: &Interval) -> Result<Interval, Error> {
    let unit = Unit::parse(name).ok_or_else(|| not_recognized(name, PartOf::Interval))?;
    let mut years = span.months / MONTHS_PER_YEAR;
    let mut months = span.months % MONTHS_PER_YEAR;
    let mut days = span.days;
    let mut hours = span.micros / USECS_PER_HOUR;
    let mut minutes = span.micros / USECS_PER_MINUTE % 60;
    let mut seconds = span.micros / USECS_PER_SEC % 60;
    let mut fsec = span.micros % USECS_PER_SEC;
    use Unit::*;
    let rank = match unit {
        Millennium => 0,
        Century => 1,
        Decade => 2,
        Year => 3,
        Quarter => 4,
        Month => 5,
        Day => 6,
        Hour => 7,
        Minute => 8,
        Second => 9,
        Milliseconds => {
            fsec = fsec / 1000 * 1000;
            10
        }
        Microseconds => 10,
        _ => {
            let mut e = not_supported(name, PartOf::Interval);
            if unit == Week {
                e = e.with_detail("Months usually have fractional weeks.");
            }
            return Err(e);
        }
    };
    if rank <= 0 {
        years = years / 1000 * 1000;
    }
    if rank <= 1 {
        years = years / 100 * 100;
    }
    if rank <= 2 {
        years = years / 10 * 10;
    }
    if rank <= 3 {
        months = 0;
    }
    if rank <= 4 {
        months = 3 * (months / 3);
    }
    if rank <= 5 {
        days = 0;
    }
    if rank <= 6 {
        hours = 0;
    }
    if rank <= 7 {
        minutes = 0;
    }
    if rank <= 8 {
        seconds = 0;
    }
    if rank <= 9 {
        fsec = 0;
    }
    let total_months = years as i64 * 12 + months as i64;
    Ok(Interval::new(
        i32::try_from(total_months).map_err(|_| super::interval_out_of_range())?,
        days,
        ((hours * 60 + minutes) * 60 + seconds) * USECS_PER_SEC + fsec,
    ))
}

/// The date of a timestamp in `zone` (for `timestamptz::date`).
pub fn timestamptz_to_date(ts: i64, zone: &TimeZone) -> Result<i32, Error> {
    let local = zone.to_local(ts)?;
    Ok(super::timestamp_to_date(local))
}

/// The time of day of a finite timestamp; `None` for an infinite one
/// (PostgreSQL gives NULL).
pub fn timestamp_to_time(ts: i64) -> Option<i64> {
    is_finite_timestamp(ts).then(|| ts.rem_euclid(USECS_PER_DAY))
}
