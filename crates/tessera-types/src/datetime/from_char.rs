//! `to_date(text, template)` and `to_timestamp(text, template)`: the input
//! is read field by field through a [`to_char`](super::to_char) template
//! as PostgreSQL's `DCH_from_char` reads it (outside `FX` mode blanks are
//! skipped around fields, a separator in the template matches one or no
//! separator, a number takes its keyword's width unless `FM` or a
//! non-digit follows), then the fields become a date as `do_to_timestamp`
//! combines them (12-hour clock, century with two-digit years, ISO weeks,
//! day of year), with PostgreSQL's 22007 and 22008 errors.
//!
//! `TZ`, `tz` and `OF` are for output only (0A000), as in PostgreSQL 15.

use crate::error::Error;
use crate::sqlstate;

use super::to_char::{self, iso_week_start, julian, Key, Node, DAYS, MONTHS};
use super::{julian_to_date, TimeZone, POSTGRES_EPOCH_JDATE, USECS_PER_SEC};

fn invalid(message: String) -> Error {
    Error::new(sqlstate::INVALID_DATETIME_FORMAT, message)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    None,
    Gregorian,
    IsoWeek,
}

/// The fields read from the input (PostgreSQL's `TmFromChar`); 0 is unset.
#[derive(Debug, Default)]
struct Parsed {
    mode: Option<Mode>,
    hh: i64,
    pm: i64,
    twelve_hour: bool,
    mi: i64,
    ss: i64,
    ssss: i64,
    d: i64,
    dd: i64,
    ddd: i64,
    mm: i64,
    ms: i64,
    year: i64,
    bc: i64,
    ww: i64,
    w: i64,
    cc: i64,
    j: i64,
    us: i64,
    year_digits: i64,
    tz_sign: i64,
    tzh: i64,
    tzm: i64,
}

fn key_mode(key: Key) -> Mode {
    use Key::*;
    match key {
        Ddd | Dd | D | Mm | MonthUpper | MonthCap | MonthLower | MonUpper | MonCap | MonLower
        | RmUpper | RmLower | Ww | W | YCommaYyy | Yyyy | Yyy | Yy | Y => Mode::Gregorian,
        Iddd | Id | Iw | Iyyy | Iyy | Iy | I => Mode::IsoWeek,
        _ => Mode::None,
    }
}

fn key_is_digit(key: Key) -> bool {
    use Key::*;
    matches!(
        key,
        CC | Ddd
            | Dd
            | D
            | Hh24
            | Hh12
            | Hh
            | Iddd
            | Id
            | Iw
            | Iyyy
            | Iyy
            | Iy
            | I
            | J
            | Mi
            | Mm
            | Ms
            | Q
            | Ssss
            | Ss
            | Tzm
            | Us
            | Ww
            | W
            | YCommaYyy
            | Yyyy
            | Yyy
            | Yy
            | Y
    )
}

fn set(dest: &mut i64, value: i64, word: &str) -> Result<(), Error> {
    if *dest != 0 && *dest != value {
        return Err(invalid(format!(
            "conflicting values for \"{word}\" field in formatting string"
        ))
        .with_detail("This value contradicts a previous setting for the same field type."));
    }
    *dest = value;
    Ok(())
}

fn is_separator(c: char) -> bool {
    c.is_ascii_graphic() && !c.is_ascii_alphanumeric()
}

/// Whether the node after `index` cannot start a number, so a number
/// field may take all the digits it finds (PostgreSQL's `is_next_separator`).
fn next_is_separator(nodes: &[Node], index: usize) -> bool {
    if let Node::Action {
        ordinal: Some(_), ..
    } = nodes[index]
    {
        return true;
    }
    match nodes.get(index + 1) {
        None => true,
        Some(Node::Action { key, .. }) => !key_is_digit(*key),
        Some(Node::Literal(c)) | Some(Node::Quoted(c)) => !c.is_ascii_digit(),
    }
}

/// C's `strtol` on the start of `s`: the value and how many bytes it used
/// (0 when no digits); `None` value when it overflows.
fn strtol(s: &str) -> (Option<i64>, usize) {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() && (bytes[i] as char).is_ascii_whitespace() {
        i += 1;
    }
    let mut negative = false;
    if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
        negative = bytes[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut value: Option<i64> = Some(0);
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        value = value
            .and_then(|v| v.checked_mul(10))
            .and_then(|v| v.checked_add((bytes[i] - b'0') as i64));
        i += 1;
    }
    if i == start {
        return (Some(0), 0);
    }
    (value.map(|v| if negative { -v } else { v }), i)
}

/// Reads an integer field of `width` characters (or as many as there are,
/// in fill mode or before a separator). Returns the value and the
/// characters used.
fn parse_int(
    input: &mut &str,
    width: usize,
    nodes: &[Node],
    index: usize,
    word: &str,
    fill_mode: bool,
) -> Result<(i64, usize), Error> {
    *input = input.trim_start_matches(' ');
    let copy: String = input.chars().take(width).collect();
    let (value, used) = if fill_mode || next_is_separator(nodes, index) {
        strtol(input)
    } else {
        let remaining = input.chars().count();
        if remaining < width {
            return Err(invalid(format!(
                "source string too short for \"{word}\" formatting field"
            ))
            .with_detail(format!(
                "Field requires {width} characters, but only {remaining} remain."
            ))
            .with_hint(
                "If your source string is not fixed-width, try using the \"FM\" modifier.",
            ));
        }
        let (value, used) = strtol(&copy);
        if used > 0 && used < copy.len() {
            return Err(invalid(format!("invalid value \"{copy}\" for \"{word}\""))
                .with_detail(format!(
                    "Field requires {width} characters, but only {used} could be parsed."
                ))
                .with_hint(
                    "If your source string is not fixed-width, try using the \"FM\" modifier.",
                ));
        }
        (value, used)
    };
    if used == 0 {
        return Err(invalid(format!("invalid value \"{copy}\" for \"{word}\""))
            .with_detail("Value must be an integer."));
    }
    let value = value.filter(|v| i32::try_from(*v).is_ok()).ok_or_else(|| {
        Error::new(
            sqlstate::DATETIME_FIELD_OVERFLOW,
            format!("value for \"{word}\" in source string is out of range"),
        )
        .with_detail("Value must be in the range -2147483648 to 2147483647.")
    })?;
    *input = &input[used..];
    Ok((value, used))
}

/// Matches one of `words` (case-insensitively) at the start of the input;
/// the index of the match.
fn parse_word(input: &mut &str, words: &[&str], word: &str) -> Result<i64, Error> {
    for (i, w) in words.iter().enumerate() {
        if input.len() >= w.len()
            && input.is_char_boundary(w.len())
            && input[..w.len()].eq_ignore_ascii_case(w)
        {
            *input = &input[w.len()..];
            return Ok(i as i64);
        }
    }
    let shown: String = input.chars().take_while(|c| !c.is_whitespace()).collect();
    Err(invalid(format!("invalid value \"{shown}\" for \"{word}\""))
        .with_detail("The given value did not match any of the allowed values for this field."))
}

const MONTHS_SHORT: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS_SHORT: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const ROMAN_MONTHS: [&str; 12] = [
    "xii", "xi", "x", "ix", "viii", "vii", "vi", "v", "iv", "iii", "ii", "i",
];

/// Skips an ordinal suffix after a field written with `TH`/`th`.
fn skip_ordinal(input: &mut &str, ordinal: Option<bool>) {
    if ordinal.is_some() {
        let n = input.chars().take(2).map(char::len_utf8).sum::<usize>();
        *input = &input[n..];
    }
}

/// A year given with fewer than four digits, brought near 2020.
fn partial_year(year: i64, digits: i64) -> i64 {
    match digits {
        1 if year < 70 => year + 2000,
        1 => year + 1990,
        2 if year < 70 => year + 2000,
        2 => year + 1900,
        3 if year < 100 => year + 2000,
        3 => year + 1000,
        _ => year,
    }
}

fn read_fields(input: &str, template: &str) -> Result<Parsed, Error> {
    let nodes = to_char::parse_template(template);
    let mut p = Parsed::default();
    let mut s = input;
    let mut fx_mode = false;
    let mut extra_skip: i64 = 0;
    let mut previous_minus = false;
    for (index, node) in nodes.iter().enumerate() {
        if s.is_empty() {
            break;
        }
        let is_action = matches!(node, Node::Action { .. });
        let is_fx = matches!(node, Node::Action { key: Key::Fx, .. });
        if !fx_mode && !is_fx && (is_action || index == 0) {
            let trimmed = s.trim_start_matches(|c: char| c.is_ascii_whitespace());
            extra_skip += (s.len() - trimmed.len()) as i64;
            if s.len() != trimmed.len() {
                previous_minus = false;
            }
            s = trimmed;
        }
        let (key, word, fill_mode, ordinal) = match node {
            Node::Literal(c) if c.is_ascii_whitespace() || is_separator(*c) => {
                if !fx_mode {
                    extra_skip -= 1;
                    if let Some(first) = s.chars().next() {
                        if first.is_ascii_whitespace() || is_separator(first) {
                            previous_minus = first == '-';
                            s = &s[first.len_utf8()..];
                            extra_skip += 1;
                        }
                    }
                } else if let Some(first) = s.chars().next() {
                    s = &s[first.len_utf8()..];
                }
                continue;
            }
            Node::Literal(_) | Node::Quoted(_) => {
                if !fx_mode && extra_skip > 0 {
                    extra_skip -= 1;
                } else if let Some(first) = s.chars().next() {
                    s = &s[first.len_utf8()..];
                }
                continue;
            }
            Node::Action {
                key,
                word,
                fill_mode,
                ordinal,
                ..
            } => (*key, *word, *fill_mode, *ordinal),
        };
        let mode = key_mode(key);
        if mode != Mode::None {
            match p.mode {
                Some(m) if m != mode => return Err(invalid(
                    "invalid combination of date conventions".into(),
                )
                .with_hint(
                    "Do not mix Gregorian and ISO week date conventions in a formatting template.",
                )),
                _ => p.mode = Some(mode),
            }
        }
        let int = |s: &mut &str, width: usize| parse_int(s, width, &nodes, index, word, fill_mode);
        match key {
            Key::Fx => fx_mode = true,
            Key::AMDot | Key::PMDot | Key::AMDotLower | Key::PMDotLower => {
                let v = parse_word(&mut s, &["a.m.", "p.m."], word)?;
                set(&mut p.pm, v % 2, word)?;
                p.twelve_hour = true;
            }
            Key::AM | Key::PM | Key::AMLower | Key::PMLower => {
                let v = parse_word(&mut s, &["am", "pm"], word)?;
                set(&mut p.pm, v % 2, word)?;
                p.twelve_hour = true;
            }
            Key::Hh | Key::Hh12 => {
                let (v, _) = int(&mut s, 2)?;
                set(&mut p.hh, v, word)?;
                p.twelve_hour = true;
                skip_ordinal(&mut s, ordinal);
            }
            Key::Hh24 => {
                let (v, _) = int(&mut s, 2)?;
                set(&mut p.hh, v, word)?;
                skip_ordinal(&mut s, ordinal);
            }
            Key::Mi
            | Key::Ss
            | Key::Dd
            | Key::D
            | Key::Ddd
            | Key::Ww
            | Key::Iw
            | Key::W
            | Key::J
            | Key::Ssss
            | Key::Mm
            | Key::CC
            | Key::Q => {
                let (v, _) = int(&mut s, word.len())?;
                let dest = match key {
                    Key::Mi => &mut p.mi,
                    Key::Ss => &mut p.ss,
                    Key::Dd => &mut p.dd,
                    Key::D => &mut p.d,
                    Key::Ddd => &mut p.ddd,
                    Key::Ww | Key::Iw => &mut p.ww,
                    Key::W => &mut p.w,
                    Key::J => &mut p.j,
                    Key::Ssss => &mut p.ssss,
                    Key::Mm => &mut p.mm,
                    Key::CC => &mut p.cc,
                    // Q is read and ignored, as PostgreSQL does.
                    _ => {
                        skip_ordinal(&mut s, ordinal);
                        continue;
                    }
                };
                set(dest, v, word)?;
                skip_ordinal(&mut s, ordinal);
            }
            Key::Iddd => {
                let (v, _) = int(&mut s, 3)?;
                set(&mut p.ddd, v, word)?;
                skip_ordinal(&mut s, ordinal);
            }
            Key::Id => {
                let (v, _) = int(&mut s, 1)?;
                let v = if v + 1 > 7 { 1 } else { v + 1 };
                set(&mut p.d, v, word)?;
                skip_ordinal(&mut s, ordinal);
            }
            Key::Ms => {
                let (v, used) = int(&mut s, 3)?;
                let v = v * match used {
                    1 => 100,
                    2 => 10,
                    _ => 1,
                };
                set(&mut p.ms, v, word)?;
                skip_ordinal(&mut s, ordinal);
            }
            Key::Ff(_) | Key::Us => {
                let width = match key {
                    Key::Ff(n) => n as usize,
                    _ => 6,
                };
                let (v, used) = int(&mut s, width)?;
                let v = v * 10i64.pow(6u32.saturating_sub(used as u32));
                set(&mut p.us, v, word)?;
                skip_ordinal(&mut s, ordinal);
            }
            Key::TzUpper | Key::TzLower | Key::Of => {
                return Err(Error::new(
                    sqlstate::FEATURE_NOT_SUPPORTED,
                    format!("formatting field \"{word}\" is only supported in to_char"),
                ))
            }
            Key::Tzh => {
                match s.chars().next() {
                    Some(c @ ('+' | '-' | ' ')) => {
                        p.tz_sign = if c == '-' { -1 } else { 1 };
                        s = &s[1..];
                    }
                    _ => {
                        p.tz_sign = if extra_skip > 0 && previous_minus {
                            -1
                        } else {
                            1
                        };
                    }
                }
                let (v, _) = int(&mut s, 2)?;
                set(&mut p.tzh, v, word)?;
            }
            Key::Tzm => {
                if p.tz_sign == 0 {
                    p.tz_sign = 1;
                }
                let (v, _) = int(&mut s, 2)?;
                set(&mut p.tzm, v, word)?;
            }
            Key::ADotD | Key::BCDot | Key::ADotDLower | Key::BCDotLower => {
                let v = parse_word(&mut s, &["a.d.", "b.c."], word)?;
                set(&mut p.bc, v % 2, word)?;
            }
            Key::AD | Key::BC | Key::ADLower | Key::BCLower => {
                let v = parse_word(&mut s, &["ad", "bc"], word)?;
                set(&mut p.bc, v % 2, word)?;
            }
            Key::MonthUpper | Key::MonthCap | Key::MonthLower => {
                let v = parse_word(&mut s, &MONTHS, word)?;
                set(&mut p.mm, v + 1, word)?;
            }
            Key::MonUpper | Key::MonCap | Key::MonLower => {
                let v = parse_word(&mut s, &MONTHS_SHORT, word)?;
                set(&mut p.mm, v + 1, word)?;
            }
            Key::DayUpper | Key::DayCap | Key::DayLower => {
                let v = parse_word(&mut s, &DAYS, word)?;
                set(&mut p.d, v + 1, word)?;
            }
            Key::DyUpper | Key::DyCap | Key::DyLower => {
                let v = parse_word(&mut s, &DAYS_SHORT, word)?;
                set(&mut p.d, v + 1, word)?;
            }
            Key::RmUpper | Key::RmLower => {
                let v = parse_word(&mut s, &ROMAN_MONTHS, word)?;
                set(&mut p.mm, 12 - v, word)?;
            }
            Key::YCommaYyy => {
                let (millennia, used) = strtol(s);
                let rest = &s[used..];
                let years = rest
                    .strip_prefix(',')
                    .map(strtol)
                    .filter(|(_, u)| used > 0 && *u > 0);
                let (Some(millennia), Some((Some(years), years_used))) = (millennia, years) else {
                    return Err(invalid("invalid input string for \"Y,YYY\"".into()));
                };
                let year = millennia
                    .checked_mul(1000)
                    .and_then(|m| m.checked_add(years))
                    .filter(|y| i32::try_from(*y).is_ok())
                    .ok_or_else(|| invalid("invalid input string for \"Y,YYY\"".into()))?;
                set(&mut p.year, year, word)?;
                p.year_digits = 4;
                s = &rest[1 + years_used..];
                skip_ordinal(&mut s, ordinal);
            }
            Key::Yyyy | Key::Iyyy => {
                let (v, _) = int(&mut s, 4)?;
                set(&mut p.year, v, word)?;
                p.year_digits = 4;
                skip_ordinal(&mut s, ordinal);
            }
            Key::Yyy | Key::Iyy | Key::Yy | Key::Iy | Key::Y | Key::I => {
                let digits = match key {
                    Key::Yyy | Key::Iyy => 3,
                    Key::Yy | Key::Iy => 2,
                    _ => 1,
                };
                let (v, used) = int(&mut s, digits)?;
                let v = if used < 4 {
                    partial_year(v, digits as i64)
                } else {
                    v
                };
                set(&mut p.year, v, word)?;
                p.year_digits = digits as i64;
                skip_ordinal(&mut s, ordinal);
            }
        }
        if !fx_mode {
            let trimmed = s.trim_start_matches(|c: char| c.is_ascii_whitespace());
            extra_skip = (s.len() - trimmed.len()) as i64;
            previous_minus = false;
            s = trimmed;
        }
    }
    Ok(p)
}

/// The fields of the date/time that `input` spells through `template`:
/// calendar date (astronomical year), time of day in microseconds, and
/// the zone offset given in the input (seconds east), if any.
struct Resolved {
    year: i64,
    month: i64,
    day: i64,
    micros: i64,
    offset_secs: Option<i64>,
}

fn overflow(input: &str) -> Error {
    Error::new(
        sqlstate::DATETIME_FIELD_OVERFLOW,
        format!("date/time field value out of range: \"{input}\""),
    )
}

fn resolve(input: &str, template: &str) -> Result<Resolved, Error> {
    let mut p = read_fields(input, template)?;
    let (mut year, mut month, mut day) = (0i64, 1i64, 1i64);
    let (mut hour, mut minute, mut second) = (0i64, 0i64, 0i64);
    if p.ssss != 0 {
        hour = p.ssss / 3600;
        minute = p.ssss % 3600 / 60;
        second = p.ssss % 60;
    }
    if p.ss != 0 {
        second = p.ss;
    }
    if p.mi != 0 {
        minute = p.mi;
    }
    if p.hh != 0 {
        hour = p.hh;
    }
    if p.twelve_hour {
        if !(1..=12).contains(&hour) {
            return Err(
                invalid(format!("hour \"{hour}\" is invalid for the 12-hour clock"))
                    .with_hint("Use the 24-hour clock, or give an hour between 1 and 12."),
            );
        }
        if p.pm != 0 && hour < 12 {
            hour += 12;
        } else if p.pm == 0 && hour == 12 {
            hour = 0;
        }
    }
    let mut year_set = false;
    let mut month_set = false;
    let mut day_set = false;
    if p.year != 0 {
        if p.cc != 0 && p.year_digits <= 2 {
            if p.bc != 0 {
                p.cc = -p.cc;
            }
            year = p.year % 100;
            if year != 0 {
                if p.cc >= 0 {
                    year += (p.cc - 1) * 100;
                } else {
                    year = (p.cc + 1) * 100 - year + 1;
                }
            } else {
                year = p.cc * 100 + if p.cc >= 0 { 0 } else { 1 };
            }
        } else {
            year = p.year;
            if p.bc != 0 {
                year = -year;
            }
            if year < 0 {
                year += 1;
            }
        }
        year_set = true;
    } else if p.cc != 0 {
        if p.bc != 0 {
            p.cc = -p.cc;
        }
        year = if p.cc >= 0 {
            (p.cc - 1) * 100 + 1
        } else {
            p.cc * 100 + 1
        };
        year_set = true;
    }
    let set_julian = |j: i64, year: &mut i64, month: &mut i64, day: &mut i64| {
        let (y, m, d) = julian_to_date(j.clamp(0, i32::MAX as i64) as i32);
        (*year, *month, *day) = (y as i64, m as i64, d as i64);
    };
    if p.j != 0 {
        set_julian(p.j, &mut year, &mut month, &mut day);
        year_set = true;
        month_set = true;
        day_set = true;
    }
    if p.ww != 0 {
        if p.mode == Some(Mode::IsoWeek) {
            let mut j = (p.ww - 1) * 7 + iso_week_start(year);
            if p.d != 0 {
                j += if p.d > 1 { p.d - 2 } else { 6 };
            }
            set_julian(j, &mut year, &mut month, &mut day);
            year_set = true;
            month_set = true;
            day_set = true;
        } else {
            p.ddd = (p.ww - 1) * 7 + 1;
        }
    }
    if p.w != 0 {
        p.dd = (p.w - 1) * 7 + 1;
    }
    if p.dd != 0 {
        day = p.dd;
        day_set = true;
    }
    if p.mm != 0 {
        month = p.mm;
        month_set = true;
    }
    if p.ddd != 0 && (month <= 1 || day <= 1) {
        if year == 0 && p.bc == 0 {
            return Err(invalid(
                "cannot calculate day of year without year information".into(),
            ));
        }
        if p.mode == Some(Mode::IsoWeek) {
            let j0 = iso_week_start(year) - 1;
            set_julian(j0 + p.ddd, &mut year, &mut month, &mut day);
            year_set = true;
            month_set = true;
            day_set = true;
        } else {
            let leap = super::is_leap(year.clamp(i32::MIN as i64, i32::MAX as i64) as i32);
            let sums: [i64; 13] = if leap {
                [0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335, 366]
            } else {
                [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365]
            };
            let mut i = 1;
            while i <= 12 && p.ddd > sums[i] {
                i += 1;
            }
            let i = i.min(12);
            if month <= 1 {
                month = i as i64;
            }
            if day <= 1 {
                day = p.ddd - sums[i - 1];
            }
            month_set = true;
            day_set = true;
        }
    }
    let micros = p.ms * 1000 + p.us;
    // PostgreSQL's ValidateDate for the fields given (years unchecked).
    if month_set && !(1..=12).contains(&month) {
        return Err(overflow(input));
    }
    if day_set && !(1..=31).contains(&day) {
        return Err(overflow(input));
    }
    if year_set && month_set && day_set {
        let leap = super::is_leap(year.clamp(i32::MIN as i64, i32::MAX as i64) as i32);
        let days = match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        if day > days {
            return Err(overflow(input));
        }
    }
    if !(0..24).contains(&hour)
        || !(0..60).contains(&minute)
        || !(0..60).contains(&second)
        || !(0..USECS_PER_SEC).contains(&micros)
    {
        return Err(overflow(input));
    }
    let offset_secs = if p.tz_sign != 0 {
        if !(0..=15).contains(&p.tzh) || !(0..60).contains(&p.tzm) {
            return Err(Error::new(
                sqlstate::INVALID_TIME_ZONE_DISPLACEMENT_VALUE,
                format!("time zone displacement out of range: \"{input}\""),
            ));
        }
        Some(p.tz_sign * (p.tzh * 3600 + p.tzm * 60))
    } else {
        None
    };
    Ok(Resolved {
        year,
        month,
        day,
        micros: ((hour * 60 + minute) * 60 + second) * USECS_PER_SEC + micros,
        offset_secs,
    })
}

fn julian_in_range(year: i64, month: i64, day: i64) -> bool {
    i32::try_from(year).is_ok() && super::is_valid_julian(year as i32, month as i32, day as i32)
}

/// `to_date(input, template)`: days since 2000-01-01.
pub fn to_date(input: &str, template: &str) -> Result<i32, Error> {
    let r = resolve(input, template)?;
    let out = || {
        Error::new(
            sqlstate::DATETIME_FIELD_OVERFLOW,
            format!("date out of range: \"{input}\""),
        )
    };
    if !julian_in_range(r.year, r.month, r.day) {
        return Err(out());
    }
    let date = julian(r.year, r.month, r.day) - POSTGRES_EPOCH_JDATE as i64;
    i32::try_from(date)
        .ok()
        .filter(|d| super::is_valid_date(*d))
        .ok_or_else(out)
}

/// `to_timestamp(input, template)`: a timestamptz, read in the input's
/// zone (`TZH`/`TZM`) or else in `zone`.
pub fn to_timestamp(input: &str, template: &str, zone: &TimeZone) -> Result<i64, Error> {
    let r = resolve(input, template)?;
    let out = || super::out_of_range("timestamp");
    if !julian_in_range(r.year, r.month, r.day) {
        return Err(out());
    }
    let days = julian(r.year, r.month, r.day) - POSTGRES_EPOCH_JDATE as i64;
    let local = days
        .checked_mul(super::USECS_PER_DAY)
        .and_then(|t| t.checked_add(r.micros))
        .filter(|t| super::is_valid_timestamp(*t))
        .ok_or_else(out)?;
    let offset = r
        .offset_secs
        .unwrap_or_else(|| zone.offset_for_local(local) as i64);
    let utc = local - offset * USECS_PER_SEC;
    if super::is_valid_timestamp(utc) {
        Ok(utc)
    } else {
        Err(out())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datetime::format::timestamp_text;

    #[test]
    fn reads_dates_as_postgres() {
        let ts = |i: &str, t: &str| timestamp_text(to_timestamp(i, t, &TimeZone::UTC).unwrap());
        assert_eq!(
            ts("2023-03-05 14:07:09", "YYYY-MM-DD HH24:MI:SS"),
            "2023-03-05 14:07:09"
        );
        assert_eq!(
            ts("05 Mar 2023 2:07 pm", "DD Mon YYYY HH:MI am"),
            "2023-03-05 14:07:00"
        );
        assert_eq!(ts("10:30", "HH24:MI"), "0001-01-01 10:30:00 BC");
        assert_eq!(ts("2023 64", "YYYY DDD"), "2023-03-05 00:00:00");
        assert!(to_date("2023-02-30", "YYYY-MM-DD").is_err());
        assert!(to_date("2023-13-01", "YYYY-MM-DD").is_err());
        assert!(to_date("20x3-01-01", "YYYY-MM-DD").is_err());
    }
}
