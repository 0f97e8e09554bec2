//! Date/time text output in each `DateStyle`, as PostgreSQL's
//! `EncodeDateOnly`/`EncodeDateTime` write it: ISO `2026-11-23 10:00:00+02`,
//! SQL `11/23/2026 10:00:00 CET`, Postgres `Mon Nov 23 10:00:00 2026 CET`,
//! German `23.11.2026 10:00:00 CET` (day first in SQL and Postgres style
//! under `DMY`), ` BC` last; fractional seconds keep only the digits that
//! are not trailing zeros. `time` and `timetz` ignore the style, as there.

use std::fmt::Write;

use super::{
    day_of_week, julian_to_date, timestamp_to_fields, Fields, TimeZone, DATE_INFINITY,
    DATE_NEG_INFINITY, POSTGRES_EPOCH_JDATE, TIMESTAMP_INFINITY, TIMESTAMP_NEG_INFINITY,
};
use crate::output::{DateStyle, OutputStyle};

/// Appends a two-digit (or longer) zero-padded number.
fn push_2(out: &mut String, v: i64) {
    if v < 10 {
        out.push('0');
    }
    let _ = write!(out, "{v}");
}

/// Appends seconds and, unless zero, a fraction without trailing zeros.
pub(crate) fn write_seconds(out: &mut String, seconds: i64, micros: i64) {
    push_2(out, seconds.abs());
    write_fraction(out, micros);
}

/// Appends `.` and the microseconds' digits without trailing zeros;
/// nothing for zero (the sign is the caller's).
pub(crate) fn write_fraction(out: &mut String, micros: i64) {
    let mut micros = micros.unsigned_abs();
    if micros == 0 {
        return;
    }
    let mut width = 6;
    while micros.is_multiple_of(10) {
        micros /= 10;
        width -= 1;
    }
    let _ = write!(out, ".{micros:0width$}");
}

/// Appends a year the ISO way: at least four digits, and `year` as stored
/// (0 is 1 BC), so the caller adds " BC" when it returns true.
fn write_year(out: &mut String, year: i32) -> bool {
    let bc = year <= 0;
    let shown = if bc { 1 - year as i64 } else { year as i64 };
    let _ = write!(out, "{shown:04}");
    bc
}

/// Appends the date part in `style`; returns true when the caller adds
/// " BC" at the very end.
fn write_date_fields(
    out: &mut String,
    year: i32,
    month: i32,
    day: i32,
    style: &OutputStyle,
) -> bool {
    let (first, second, separator) = match style.date_style {
        DateStyle::Iso | DateStyle::Postgres => {
            // Postgres style writes whole dates with dashes, in field order.
            if style.date_style == DateStyle::Iso {
                let bc = write_year(out, year);
                out.push('-');
                push_2(out, month as i64);
                out.push('-');
                push_2(out, day as i64);
                return bc;
            }
            if style.day_first() {
                (day, month, '-')
            } else {
                (month, day, '-')
            }
        }
        DateStyle::Sql if style.day_first() => (day, month, '/'),
        DateStyle::Sql => (month, day, '/'),
        DateStyle::German => (day, month, '.'),
    };
    push_2(out, first as i64);
    out.push(separator);
    push_2(out, second as i64);
    out.push(separator);
    write_year(out, year)
}

fn write_hms(out: &mut String, f: &Fields) {
    push_2(out, f.hour as i64);
    out.push(':');
    push_2(out, f.minute as i64);
    out.push(':');
    write_seconds(out, f.second as i64, f.micros as i64);
}

const MONTHS_SHORT: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS_SHORT: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// `date` output (`DateStyle = ISO`).
pub fn write_date(out: &mut String, date: i32) {
    write_date_in(out, date, &OutputStyle::DEFAULT);
}

/// `date` output in the session's `DateStyle`.
pub fn write_date_in(out: &mut String, date: i32, style: &OutputStyle) {
    match date {
        DATE_INFINITY => out.push_str("infinity"),
        DATE_NEG_INFINITY => out.push_str("-infinity"),
        d => {
            let (y, m, day) = julian_to_date(d + POSTGRES_EPOCH_JDATE);
            if write_date_fields(out, y, m, day, style) {
                out.push_str(" BC");
            }
        }
    }
}

/// `time` output (`24:00:00` included).
pub fn write_time(out: &mut String, micros: i64) {
    let mut f = Fields::default();
    f.set_time(micros);
    write_hms(out, &f);
}

/// `timetz` output: the time and its zone's offset.
pub fn write_time_tz(out: &mut String, micros: i64, offset_secs: i32) {
    write_time(out, micros);
    write_offset(out, offset_secs, false);
}

/// `timestamp` output (`DateStyle = ISO`).
pub fn write_timestamp(out: &mut String, ts: i64) {
    write_timestamp_in(out, ts, &OutputStyle::DEFAULT);
}

/// `timestamp` output in the session's `DateStyle`.
pub fn write_timestamp_in(out: &mut String, ts: i64, style: &OutputStyle) {
    write_timestamp_with(out, ts, false, style);
}

/// `timestamptz` output in `zone` (`DateStyle = ISO`).
pub fn write_timestamptz(out: &mut String, ts: i64, zone: &TimeZone) {
    write_timestamp_with(out, ts, true, &OutputStyle::in_zone(zone));
}

/// `timestamptz` output in the style's zone and `DateStyle`: ISO writes
/// the offset (`+02`), the other styles the zone's abbreviation (`CET`,
/// `UTC`; a fixed offset's is the offset), as PostgreSQL does.
pub fn write_timestamptz_in(out: &mut String, ts: i64, style: &OutputStyle) {
    write_timestamp_with(out, ts, true, style);
}

/// `timestamptz` as JSON writes it (XSD): `2024-03-05T01:02:03+01:00`,
/// in `zone`, whatever the `DateStyle`.
pub fn write_timestamptz_xsd(out: &mut String, ts: i64, zone: &TimeZone) {
    let start = out.len();
    write_timestamp_with(out, ts, true, &OutputStyle::in_zone(zone));
    if !is_finite(ts) {
        return;
    }
    // ISO output with a `T` and the offset's minutes always written.
    if let Some(space) = out[start..].find(' ') {
        out.replace_range(start + space..start + space + 1, "T");
    }
    let offset = zone.offset_at_utc(ts);
    if offset % 60 == 0 && (offset / 60) % 60 == 0 {
        let bc = out.ends_with(" BC");
        if bc {
            out.truncate(out.len() - 3);
        }
        out.push_str(":00");
        if bc {
            out.push_str(" BC");
        }
    }
}

fn is_finite(ts: i64) -> bool {
    ts != TIMESTAMP_INFINITY && ts != TIMESTAMP_NEG_INFINITY
}

fn write_timestamp_with(out: &mut String, ts: i64, with_zone: bool, style: &OutputStyle) {
    match ts {
        TIMESTAMP_INFINITY => out.push_str("infinity"),
        TIMESTAMP_NEG_INFINITY => out.push_str("-infinity"),
        ts => {
            // A timestamptz shown in its zone may fall just outside the
            // range; the arithmetic is still exact in i64.
            let offset = with_zone.then(|| style.zone.offset_at_utc(ts));
            let local = ts + offset.unwrap_or(0) as i64 * 1_000_000;
            let f = timestamp_to_fields(local);
            let bc = if style.date_style == DateStyle::Postgres {
                let julian = f.julian();
                out.push_str(DAYS_SHORT[day_of_week(julian) as usize]);
                out.push(' ');
                let month = MONTHS_SHORT[(f.month - 1) as usize];
                if style.day_first() {
                    push_2(out, f.day as i64);
                    out.push(' ');
                    out.push_str(month);
                } else {
                    out.push_str(month);
                    out.push(' ');
                    push_2(out, f.day as i64);
                }
                out.push(' ');
                write_hms(out, &f);
                out.push(' ');
                write_year(out, f.year)
            } else {
                let bc = write_date_fields(out, f.year, f.month, f.day, style);
                out.push(' ');
                write_hms(out, &f);
                bc
            };
            if let Some(offset) = offset {
                if style.date_style == DateStyle::Iso {
                    write_offset(out, offset, false);
                } else {
                    out.push(' ');
                    match style.zone.abbreviation_at_utc(ts) {
                        // PostgreSQL shows at most MAXTZLEN (10) characters.
                        Some(name) => out.extend(name.chars().take(10)),
                        None if offset == 0 => out.push_str("UTC"),
                        None => write_offset(out, offset, false),
                    }
                }
            }
            if bc {
                out.push_str(" BC");
            }
        }
    }
}

/// Appends a UTC offset given in seconds east: `+02`, `-05:30`,
/// `+05:30:15`; `always_minutes` writes `+02:00`.
pub fn write_offset(out: &mut String, east_secs: i32, always_minutes: bool) {
    out.push(if east_secs >= 0 { '+' } else { '-' });
    let total = east_secs.unsigned_abs() as i64;
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    push_2(out, hours);
    if seconds != 0 {
        out.push(':');
        push_2(out, minutes);
        out.push(':');
        push_2(out, seconds);
    } else if minutes != 0 || always_minutes {
        out.push(':');
        push_2(out, minutes);
    }
}

/// The text of a date as days since 2000 (for messages and tests).
pub fn date_text(date: i32) -> String {
    let mut s = String::new();
    write_date(&mut s, date);
    s
}

/// The text of a timestamp (for messages and tests).
pub fn timestamp_text(ts: i64) -> String {
    let mut s = String::new();
    write_timestamp(&mut s, ts);
    s
}

#[cfg(test)]
mod tests {
    use super::super::{date_to_julian, fields_to_timestamp, USECS_PER_DAY};
    use super::*;

    fn ts(y: i32, mo: i32, d: i32, h: i32, mi: i32, s: i32, us: i32) -> i64 {
        fields_to_timestamp(&Fields {
            year: y,
            month: mo,
            day: d,
            hour: h,
            minute: mi,
            second: s,
            micros: us,
        })
        .unwrap()
    }

    #[test]
    fn iso_output() {
        assert_eq!(
            timestamp_text(ts(2026, 11, 23, 10, 0, 0, 0)),
            "2026-11-23 10:00:00"
        );
        assert_eq!(
            timestamp_text(ts(2026, 11, 23, 10, 0, 0, 500_000)),
            "2026-11-23 10:00:00.5"
        );
        assert_eq!(
            timestamp_text(ts(2026, 1, 2, 3, 4, 5, 123_450)),
            "2026-01-02 03:04:05.12345"
        );
        assert_eq!(
            timestamp_text(ts(0, 1, 1, 0, 0, 0, 1)),
            "0001-01-01 00:00:00.000001 BC"
        );
        assert_eq!(
            timestamp_text(ts(12345, 1, 1, 0, 0, 0, 0)),
            "12345-01-01 00:00:00"
        );
        assert_eq!(timestamp_text(TIMESTAMP_INFINITY), "infinity");
        assert_eq!(
            date_text(date_to_julian(-43, 3, 15) - POSTGRES_EPOCH_JDATE),
            "0044-03-15 BC"
        );
        assert_eq!(date_text(DATE_NEG_INFINITY), "-infinity");
        let mut s = String::new();
        write_timestamptz(&mut s, ts(2026, 11, 23, 8, 0, 0, 0), &TimeZone::fixed(7200));
        assert_eq!(s, "2026-11-23 10:00:00+02");
        s.clear();
        write_timestamptz(
            &mut s,
            ts(2026, 11, 23, 8, 0, 0, 0),
            &TimeZone::fixed(-19800),
        );
        assert_eq!(s, "2026-11-23 02:30:00-05:30");
        s.clear();
        write_time(&mut s, USECS_PER_DAY);
        assert_eq!(s, "24:00:00");
        s.clear();
        write_offset(&mut s, 19815, false);
        assert_eq!(s, "+05:30:15");
    }
}
