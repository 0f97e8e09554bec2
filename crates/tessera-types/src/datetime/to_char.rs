//! PostgreSQL's date/time templates (`to_char(timestamp, 'YYYY-MM-DD')`):
//! the template is read once into [`Node`]s (keywords with their `FM`,
//! `TM`, `TH`/`th` and `SP` modifiers, and literal characters) as
//! PostgreSQL's `parse_format` reads it — longest case-sensitive keyword
//! first, double-quoted text and `\"` copied, everything else copied —
//! and [`format`] writes a timestamp's or an interval's fields through it.
//!
//! Names are the C locale's (English), which is what `TM` gives there.
//! Time zone abbreviations (`TZ`) of a fixed-offset zone are derived from
//! the offset (`UTC`, or `-05` as the `Etc/GMT+5` style zones are
//! abbreviated); a region zone's caller sets the tz database's abbreviation
//! in force at the instant (`EDT`) in [`Moment::zone`].

use std::fmt::Write;

use crate::error::Error;
use crate::sqlstate;

use super::{date_to_julian, day_of_week};

/// A template keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    ADotD,
    AD,
    ADotDLower,
    ADLower,
    AMDot,
    AM,
    AMDotLower,
    AMLower,
    BCDot,
    BC,
    BCDotLower,
    BCLower,
    PMDot,
    PM,
    PMDotLower,
    PMLower,
    CC,
    DayUpper,
    DayCap,
    DayLower,
    DyUpper,
    DyCap,
    DyLower,
    Ddd,
    Dd,
    D,
    Ff(u8),
    Fx,
    Hh24,
    Hh12,
    Hh,
    Iddd,
    Id,
    Iw,
    Iyyy,
    Iyy,
    Iy,
    I,
    J,
    Mi,
    Mm,
    MonthUpper,
    MonthCap,
    MonthLower,
    MonUpper,
    MonCap,
    MonLower,
    Ms,
    Of,
    Q,
    RmUpper,
    RmLower,
    Ssss,
    Ss,
    Tzh,
    Tzm,
    TzUpper,
    TzLower,
    Us,
    Ww,
    W,
    YCommaYyy,
    Yyyy,
    Yyy,
    Yy,
    Y,
}

/// The keywords, longest first within each leading letter, as PostgreSQL
/// lists them (matching is case-sensitive: `Month` and `MONTH` differ).
const KEYWORDS: &[(&str, Key)] = &[
    ("A.D.", Key::ADotD),
    ("A.M.", Key::AMDot),
    ("AD", Key::AD),
    ("AM", Key::AM),
    ("B.C.", Key::BCDot),
    ("BC", Key::BC),
    ("CC", Key::CC),
    ("DAY", Key::DayUpper),
    ("DDD", Key::Ddd),
    ("DD", Key::Dd),
    ("DY", Key::DyUpper),
    ("Day", Key::DayCap),
    ("Dy", Key::DyCap),
    ("D", Key::D),
    ("FF1", Key::Ff(1)),
    ("FF2", Key::Ff(2)),
    ("FF3", Key::Ff(3)),
    ("FF4", Key::Ff(4)),
    ("FF5", Key::Ff(5)),
    ("FF6", Key::Ff(6)),
    ("FX", Key::Fx),
    ("HH24", Key::Hh24),
    ("HH12", Key::Hh12),
    ("HH", Key::Hh),
    ("IDDD", Key::Iddd),
    ("ID", Key::Id),
    ("IW", Key::Iw),
    ("IYYY", Key::Iyyy),
    ("IYY", Key::Iyy),
    ("IY", Key::Iy),
    ("I", Key::I),
    ("J", Key::J),
    ("MI", Key::Mi),
    ("MM", Key::Mm),
    ("MONTH", Key::MonthUpper),
    ("MON", Key::MonUpper),
    ("MS", Key::Ms),
    ("Month", Key::MonthCap),
    ("Mon", Key::MonCap),
    ("OF", Key::Of),
    ("P.M.", Key::PMDot),
    ("PM", Key::PM),
    ("Q", Key::Q),
    ("RM", Key::RmUpper),
    ("SSSSS", Key::Ssss),
    ("SSSS", Key::Ssss),
    ("SS", Key::Ss),
    ("TZH", Key::Tzh),
    ("TZM", Key::Tzm),
    ("TZ", Key::TzUpper),
    ("US", Key::Us),
    ("WW", Key::Ww),
    ("W", Key::W),
    ("Y,YYY", Key::YCommaYyy),
    ("YYYY", Key::Yyyy),
    ("YYY", Key::Yyy),
    ("YY", Key::Yy),
    ("Y", Key::Y),
    ("a.d.", Key::ADotDLower),
    ("a.m.", Key::AMDotLower),
    ("ad", Key::ADLower),
    ("am", Key::AMLower),
    ("b.c.", Key::BCDotLower),
    ("bc", Key::BCLower),
    ("cc", Key::CC),
    ("day", Key::DayLower),
    ("ddd", Key::Ddd),
    ("dd", Key::Dd),
    ("dy", Key::DyLower),
    ("d", Key::D),
    ("ff1", Key::Ff(1)),
    ("ff2", Key::Ff(2)),
    ("ff3", Key::Ff(3)),
    ("ff4", Key::Ff(4)),
    ("ff5", Key::Ff(5)),
    ("ff6", Key::Ff(6)),
    ("fx", Key::Fx),
    ("hh24", Key::Hh24),
    ("hh12", Key::Hh12),
    ("hh", Key::Hh),
    ("iddd", Key::Iddd),
    ("id", Key::Id),
    ("iw", Key::Iw),
    ("iyyy", Key::Iyyy),
    ("iyy", Key::Iyy),
    ("iy", Key::Iy),
    ("i", Key::I),
    ("j", Key::J),
    ("mi", Key::Mi),
    ("mm", Key::Mm),
    ("month", Key::MonthLower),
    ("mon", Key::MonLower),
    ("ms", Key::Ms),
    ("of", Key::Of),
    ("p.m.", Key::PMDotLower),
    ("pm", Key::PMLower),
    ("q", Key::Q),
    ("rm", Key::RmLower),
    ("sssss", Key::Ssss),
    ("ssss", Key::Ssss),
    ("ss", Key::Ss),
    ("tzh", Key::Tzh),
    ("tzm", Key::Tzm),
    ("tz", Key::TzLower),
    ("us", Key::Us),
    ("ww", Key::Ww),
    ("w", Key::W),
    ("y,yyy", Key::YCommaYyy),
    ("yyyy", Key::Yyyy),
    ("yyy", Key::Yyy),
    ("yy", Key::Yy),
    ("y", Key::Y),
];

/// One element of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Action {
        key: Key,
        /// The keyword as written in PostgreSQL's table (for messages).
        word: &'static str,
        /// `FM`: no padding.
        fill_mode: bool,
        /// `TM`: localized names, unpadded.
        translate: bool,
        /// `TH` (true) or `th` (false): an ordinal suffix.
        ordinal: Option<bool>,
    },
    /// A character copied to the output (matched loosely on input).
    Literal(char),
    /// A character of double-quoted text.
    Quoted(char),
}

/// Reads a template. Every string is a template: what is not a keyword
/// is copied.
pub fn parse_template(template: &str) -> Vec<Node> {
    let mut nodes = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        let mut fill_mode = false;
        let mut translate = false;
        for (prefix, is_fill) in [("FM", true), ("fm", true), ("TM", false), ("tm", false)] {
            if let Some(r) = rest.strip_prefix(prefix) {
                if is_fill {
                    fill_mode = true;
                } else {
                    translate = true;
                }
                rest = r;
                break;
            }
        }
        if let Some((word, key)) = KEYWORDS.iter().find(|(word, _)| rest.starts_with(word)) {
            rest = &rest[word.len()..];
            let mut ordinal = None;
            if let Some(r) = rest.strip_prefix("TH") {
                ordinal = Some(true);
                rest = r;
            } else if let Some(r) = rest.strip_prefix("th") {
                ordinal = Some(false);
                rest = r;
            } else if let Some(r) = rest.strip_prefix("SP") {
                rest = r;
            }
            nodes.push(Node::Action {
                key: *key,
                word,
                fill_mode,
                translate,
                ordinal,
            });
            continue;
        }
        let Some((text, quoted, after)) = template_text(rest) else {
            break;
        };
        nodes.extend(text.into_iter().map(|c| match quoted {
            true => Node::Quoted(c),
            false => Node::Literal(c),
        }));
        rest = after;
    }
    nodes
}

/// The fields a template reads, from a timestamp or an interval.
/// `year` is astronomical for timestamps (0 is 1 BC); for intervals every
/// field carries the interval's sign and `hour` may be large.
#[derive(Debug, Clone, Default)]
pub struct Moment {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
    pub micros: i64,
    /// Day of the year (1-based); for intervals the span in days.
    pub year_day: i64,
    /// Day of the week, 0 is Sunday.
    pub week_day: i64,
    /// Seconds east of UTC (0 for a timestamp without time zone).
    pub offset_secs: i64,
    /// The zone's abbreviation (`TZ`), `None` for a timestamp without
    /// time zone.
    pub zone: Option<String>,
    pub is_interval: bool,
}

impl Moment {
    /// The fields of a wall-clock timestamp (microseconds since 2000).
    pub fn of_timestamp(local: i64, offset_secs: Option<i32>) -> Moment {
        let f = super::timestamp_to_fields(local);
        let julian = f.julian();
        Moment {
            year: f.year as i64,
            month: f.month as i64,
            day: f.day as i64,
            hour: f.hour as i64,
            minute: f.minute as i64,
            second: f.second as i64,
            micros: f.micros as i64,
            year_day: (julian - date_to_julian(f.year, 1, 1) + 1) as i64,
            week_day: day_of_week(julian) as i64,
            offset_secs: offset_secs.unwrap_or(0) as i64,
            zone: offset_secs.map(zone_abbreviation),
            is_interval: false,
        }
    }

    /// The fields of an interval.
    pub fn of_interval(i: &super::Interval) -> Moment {
        let year = (i.months / 12) as i64;
        let month = (i.months % 12) as i64;
        let day = i.days as i64;
        let micros = i.micros;
        Moment {
            year,
            month,
            day,
            hour: micros / super::USECS_PER_HOUR,
            minute: micros / super::USECS_PER_MINUTE % 60,
            second: micros / super::USECS_PER_SEC % 60,
            micros: micros % super::USECS_PER_SEC,
            year_day: (year * 12 + month) * 30 + day,
            week_day: 0,
            offset_secs: 0,
            zone: None,
            is_interval: true,
        }
    }
}

/// The abbreviation PostgreSQL shows for a fixed-offset zone: `UTC`, or
/// the offset as `-05`, `+0530`.
fn zone_abbreviation(offset_secs: i32) -> String {
    if offset_secs == 0 {
        return "UTC".to_string();
    }
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let total = offset_secs.unsigned_abs();
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    let mut s = format!("{sign}{hours:02}");
    if minutes != 0 || seconds != 0 {
        let _ = write!(s, "{minutes:02}");
    }
    if seconds != 0 {
        let _ = write!(s, "{seconds:02}");
    }
    s
}

/// Template text that is no pattern, at the start of `rest` (shared by
/// the date/time and number templates): a quoted run — copied up to the
/// closing quote, a backslash quoting the next character — or one
/// character, `\"` being a quote. Its characters, whether they were
/// quoted, and what follows; `None` at the end.
pub(crate) fn template_text(rest: &str) -> Option<(Vec<char>, bool, &str)> {
    let mut chars = rest.chars();
    let c = chars.next()?;
    if c == '"' {
        let mut text = Vec::new();
        let mut inner = chars;
        loop {
            match inner.next() {
                None | Some('"') => break,
                Some('\\') => {
                    let save = inner.clone();
                    match inner.next() {
                        Some(n) => text.push(n),
                        None => {
                            text.push('\\');
                            inner = save;
                        }
                    }
                }
                Some(other) => text.push(other),
            }
        }
        return Some((text, true, inner.as_str()));
    }
    if c == '\\' && chars.as_str().starts_with('"') {
        return Some((vec!['"'], false, &chars.as_str()[1..]));
    }
    Some((vec![c], false, chars.as_str()))
}

pub(super) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
pub(super) const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
/// Roman month numerals, December first as PostgreSQL indexes them.
const ROMAN_MONTHS: [&str; 12] = [
    "XII", "XI", "X", "IX", "VIII", "VII", "VI", "V", "IV", "III", "II", "I",
];

/// 22007 for a keyword that needs a calendar date, used on an interval.
fn invalid_for_interval() -> Error {
    Error::new(
        sqlstate::INVALID_DATETIME_FORMAT,
        "invalid format specification for an interval value",
    )
    .with_hint("Intervals are not tied to specific calendar dates.")
}

/// The ordinal suffix of a number's text (`1st`, `12th`, `23rd`).
pub fn ordinal_suffix(number: &str, upper: bool) -> &'static str {
    let bytes = number.as_bytes();
    let last = bytes.last().copied().unwrap_or(b'0');
    let teen = bytes.len() > 1 && bytes[bytes.len() - 2] == b'1';
    let lower = match last {
        b'1' if !teen => "st",
        b'2' if !teen => "nd",
        b'3' if !teen => "rd",
        _ => "th",
    };
    if !upper {
        return lower;
    }
    match lower {
        "st" => "ST",
        "nd" => "ND",
        "rd" => "RD",
        _ => "TH",
    }
}

/// A number zero-padded to `width` as C's `%0*d` pads it (the sign counts).
fn padded(v: i64, width: usize) -> String {
    if v < 0 {
        format!("-{:0w$}", v.unsigned_abs(), w = width.saturating_sub(1))
    } else {
        format!("{v:0width$}")
    }
}

/// Astronomical year to the year shown (1 BC for 0), intervals unchanged.
fn shown_year(year: i64, is_interval: bool) -> i64 {
    if is_interval || year > 0 {
        year
    } else {
        1 - year
    }
}

pub(crate) fn julian(year: i64, month: i64, day: i64) -> i64 {
    // The calendar formula in i64 so that interval "dates" cannot overflow.
    let (y, m) = if month > 2 {
        (year + 4800, month - 3)
    } else {
        (year + 4799, month + 9)
    };
    day + (153 * m + 2) / 5 + 365 * y + y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400)
        - 32045
}

fn weekday(julian: i64) -> i64 {
    (julian + 1).rem_euclid(7)
}

/// The first day (Julian) of ISO week 1 of `year`, and whether `day` falls
/// before it.
pub(crate) fn iso_week_start(year: i64) -> i64 {
    let day4 = julian(year, 1, 4);
    day4 - weekday(day4 - 1)
}

/// ISO 8601 week-numbering year of a date.
pub fn iso_year(year: i64, month: i64, day: i64) -> i64 {
    let dayn = julian(year, month, day);
    let mut year = year;
    let mut start = iso_week_start(year);
    if dayn < start {
        year -= 1;
        start = iso_week_start(year);
    }
    let week = (dayn - start) / 7 + 1;
    if week >= 52 && dayn >= iso_week_start(year + 1) {
        year += 1;
    }
    year
}

/// ISO 8601 week of a date.
pub fn iso_week(year: i64, month: i64, day: i64) -> i64 {
    let dayn = julian(year, month, day);
    let mut start = iso_week_start(year);
    if dayn < start {
        start = iso_week_start(year - 1);
    }
    let mut week = (dayn - start) / 7 + 1;
    if week >= 52 {
        let next = iso_week_start(year + 1);
        if dayn >= next {
            week = (dayn - next) / 7 + 1;
        }
    }
    week
}

/// Day of the ISO year (1..=371).
pub fn iso_year_day(year: i64, month: i64, day: i64) -> i64 {
    julian(year, month, day) - iso_week_start(iso_year(year, month, day)) + 1
}

/// The longest output `to_char` builds before refusing (54000).
const OUTPUT_BYTES_MAX: usize = 1 << 20;

/// Writes `m` through the template `nodes`, as `to_char` does.
pub fn format(nodes: &[Node], m: &Moment) -> Result<String, Error> {
    let mut out = String::new();
    for node in nodes {
        let (key, fill_mode, translate, ordinal) = match node {
            Node::Literal(c) | Node::Quoted(c) => {
                out.push(*c);
                continue;
            }
            Node::Action {
                key,
                fill_mode,
                translate,
                ordinal,
                ..
            } => (*key, *fill_mode, *translate, *ordinal),
        };
        if out.len() > OUTPUT_BYTES_MAX {
            return Err(Error::new(
                sqlstate::PROGRAM_LIMIT_EXCEEDED,
                "to_char result is too long",
            ));
        }
        let date_only = matches!(
            key,
            Key::TzUpper
                | Key::TzLower
                | Key::Tzh
                | Key::Tzm
                | Key::Of
                | Key::ADotD
                | Key::AD
                | Key::ADotDLower
                | Key::ADLower
                | Key::BCDot
                | Key::BC
                | Key::BCDotLower
                | Key::BCLower
                | Key::MonthUpper
                | Key::MonthCap
                | Key::MonthLower
                | Key::MonUpper
                | Key::MonCap
                | Key::MonLower
                | Key::DayUpper
                | Key::DayCap
                | Key::DayLower
                | Key::DyUpper
                | Key::DyCap
                | Key::DyLower
                | Key::D
                | Key::Id
        );
        if date_only && m.is_interval {
            return Err(invalid_for_interval());
        }
        // The width of a zero-padded number, one more when negative.
        let width = |w: usize, v: i64| -> usize {
            if fill_mode {
                0
            } else if v >= 0 {
                w
            } else {
                w + 1
            }
        };
        let pm = m.hour % 24 >= 12;
        let bc = m.year <= 0;
        let year = shown_year(m.year, m.is_interval);
        let iso = || shown_year(iso_year(m.year, m.month, m.day), m.is_interval);
        let name = |full: &str, short: bool, case: u8| -> String {
            let text = if short { &full[..3] } else { full };
            let text = match case {
                b'U' => text.to_ascii_uppercase(),
                b'L' => text.to_ascii_lowercase(),
                _ => text.to_string(),
            };
            if short || fill_mode || translate {
                text
            } else {
                format!("{text:<9}")
            }
        };
        let numeric: Option<String> = match key {
            Key::AMDot | Key::PMDot => {
                out.push_str(if pm { "P.M." } else { "A.M." });
                None
            }
            Key::AM | Key::PM => {
                out.push_str(if pm { "PM" } else { "AM" });
                None
            }
            Key::AMDotLower | Key::PMDotLower => {
                out.push_str(if pm { "p.m." } else { "a.m." });
                None
            }
            Key::AMLower | Key::PMLower => {
                out.push_str(if pm { "pm" } else { "am" });
                None
            }
            Key::Hh | Key::Hh12 => {
                let h = if m.hour % 12 == 0 { 12 } else { m.hour % 12 };
                Some(padded(h, width(2, m.hour)))
            }
            Key::Hh24 => Some(padded(m.hour, width(2, m.hour))),
            Key::Mi => Some(padded(m.minute, width(2, m.minute))),
            Key::Ss => Some(padded(m.second, width(2, m.second))),
            Key::Ff(digits) => {
                let scaled = m.micros / 10i64.pow(6 - digits as u32);
                Some(padded(scaled, digits as usize))
            }
            Key::Ms => Some(padded(m.micros / 1000, 3)),
            Key::Us => Some(padded(m.micros, 6)),
            Key::Ssss => Some((m.hour * 3600 + m.minute * 60 + m.second).to_string()),
            Key::TzUpper => {
                out.push_str(m.zone.as_deref().unwrap_or(""));
                None
            }
            Key::TzLower => {
                out.push_str(&m.zone.as_deref().unwrap_or("").to_ascii_lowercase());
                None
            }
            Key::Tzh => {
                let sign = if m.offset_secs >= 0 { '+' } else { '-' };
                let _ = write!(out, "{sign}{:02}", m.offset_secs.abs() / 3600);
                None
            }
            Key::Tzm => {
                let _ = write!(out, "{:02}", m.offset_secs.abs() % 3600 / 60);
                None
            }
            Key::Of => {
                let sign = if m.offset_secs >= 0 { '+' } else { '-' };
                let hours = m.offset_secs.abs() / 3600;
                if fill_mode {
                    let _ = write!(out, "{sign}{hours}");
                } else {
                    let _ = write!(out, "{sign}{hours:02}");
                }
                if m.offset_secs.abs() % 3600 != 0 {
                    let _ = write!(out, ":{:02}", m.offset_secs.abs() % 3600 / 60);
                }
                None
            }
            Key::ADotD | Key::BCDot => {
                out.push_str(if bc { "B.C." } else { "A.D." });
                None
            }
            Key::AD | Key::BC => {
                out.push_str(if bc { "BC" } else { "AD" });
                None
            }
            Key::ADotDLower | Key::BCDotLower => {
                out.push_str(if bc { "b.c." } else { "a.d." });
                None
            }
            Key::ADLower | Key::BCLower => {
                out.push_str(if bc { "bc" } else { "ad" });
                None
            }
            Key::MonthUpper | Key::MonthCap | Key::MonthLower => {
                if (1..=12).contains(&m.month) {
                    let case = match key {
                        Key::MonthUpper => b'U',
                        Key::MonthLower => b'L',
                        _ => b'C',
                    };
                    out.push_str(&name(MONTHS[(m.month - 1) as usize], false, case));
                }
                None
            }
            Key::MonUpper | Key::MonCap | Key::MonLower => {
                if (1..=12).contains(&m.month) {
                    let case = match key {
                        Key::MonUpper => b'U',
                        Key::MonLower => b'L',
                        _ => b'C',
                    };
                    out.push_str(&name(MONTHS[(m.month - 1) as usize], true, case));
                }
                None
            }
            Key::Mm => Some(padded(m.month, width(2, m.month))),
            Key::DayUpper
            | Key::DayCap
            | Key::DayLower
            | Key::DyUpper
            | Key::DyCap
            | Key::DyLower => {
                let case = match key {
                    Key::DayUpper | Key::DyUpper => b'U',
                    Key::DayLower | Key::DyLower => b'L',
                    _ => b'C',
                };
                let short = matches!(key, Key::DyUpper | Key::DyCap | Key::DyLower);
                out.push_str(&name(DAYS[m.week_day.rem_euclid(7) as usize], short, case));
                None
            }
            Key::Ddd => Some(padded(m.year_day, if fill_mode { 0 } else { 3 })),
            Key::Iddd => Some(padded(
                iso_year_day(m.year, m.month, m.day),
                if fill_mode { 0 } else { 3 },
            )),
            Key::Dd => Some(padded(m.day, if fill_mode { 0 } else { 2 })),
            Key::D => Some((m.week_day + 1).to_string()),
            Key::Id => Some(if m.week_day == 0 { 7 } else { m.week_day }.to_string()),
            Key::Ww => Some(padded(
                (m.year_day - 1) / 7 + 1,
                if fill_mode { 0 } else { 2 },
            )),
            Key::Iw => Some(padded(
                iso_week(m.year, m.month, m.day),
                if fill_mode { 0 } else { 2 },
            )),
            Key::Q => {
                if m.month == 0 {
                    None
                } else {
                    Some(((m.month - 1) / 3 + 1).to_string())
                }
            }
            Key::CC => {
                let century = if m.is_interval {
                    m.year / 100
                } else if m.year > 0 {
                    (m.year - 1) / 100 + 1
                } else {
                    m.year / 100 - 1
                };
                if (-99..=99).contains(&century) {
                    Some(padded(century, width(2, century)))
                } else {
                    Some(century.to_string())
                }
            }
            Key::YCommaYyy => {
                let thousands = year / 1000;
                Some(format!("{thousands},{:03}", year - thousands * 1000))
            }
            Key::Yyyy | Key::Iyyy => {
                let y = if key == Key::Yyyy { year } else { iso() };
                Some(padded(y, width(4, year)))
            }
            Key::Yyy | Key::Iyy => {
                let y = if key == Key::Yyy { year } else { iso() };
                Some(padded(y % 1000, width(3, year)))
            }
            Key::Yy | Key::Iy => {
                let y = if key == Key::Yy { year } else { iso() };
                Some(padded(y % 100, width(2, year)))
            }
            Key::Y | Key::I => {
                let y = if key == Key::Y { year } else { iso() };
                Some((y % 10).to_string())
            }
            Key::RmUpper | Key::RmLower => {
                if m.month != 0 || m.year != 0 {
                    let index = if m.month == 0 {
                        if m.year >= 0 {
                            0
                        } else {
                            11
                        }
                    } else if m.month < 0 {
                        -(m.month + 1)
                    } else {
                        12 - m.month
                    };
                    let roman = ROMAN_MONTHS[index.clamp(0, 11) as usize];
                    let roman = if key == Key::RmLower {
                        roman.to_ascii_lowercase()
                    } else {
                        roman.to_string()
                    };
                    if fill_mode {
                        out.push_str(&roman);
                    } else {
                        let _ = write!(out, "{roman:<4}");
                    }
                }
                None
            }
            Key::W => Some(((m.day - 1) / 7 + 1).to_string()),
            Key::J => Some(julian(m.year, m.month, m.day).to_string()),
            Key::Fx => None,
        };
        if let Some(text) = numeric {
            out.push_str(&text);
            if let Some(upper) = ordinal {
                out.push_str(ordinal_suffix(&text, upper));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, mo: i32, d: i32, h: i32, mi: i32, s: i32, us: i32) -> Moment {
        let ts = super::super::fields_to_timestamp(&super::super::Fields {
            year: y,
            month: mo,
            day: d,
            hour: h,
            minute: mi,
            second: s,
            micros: us,
        })
        .unwrap();
        Moment::of_timestamp(ts, None)
    }

    fn fmt(m: &Moment, t: &str) -> String {
        format(&parse_template(t), m).unwrap()
    }

    #[test]
    fn formats_dates_as_postgres() {
        let m = at(2023, 3, 5, 14, 7, 9, 123_456);
        assert_eq!(
            fmt(&m, "YYYY-MM-DD HH24:MI:SS.US"),
            "2023-03-05 14:07:09.123456"
        );
        assert_eq!(
            fmt(&m, "FMxyz SPDD DDSP Dd Ss of Mm hH"),
            "x3z SP05 05 11 Ss +00 Mm hH"
        );
        assert_eq!(
            fmt(&m, "Day|FMDay|DY|Month|MON|FMDDth|DDTH"),
            "Sunday   |Sunday|SUN|March    |MAR|5th|05TH"
        );
        assert_eq!(fmt(&m, "\"YYYY\" \\\"Q\\\""), "YYYY \"1\"");
        assert_eq!(fmt(&m, "IYYY-IW-ID IDDD J"), "2023-09-7 063 2460009");
        let bc = at(-43, 3, 15, 0, 0, 0, 0);
        assert_eq!(fmt(&bc, "YYYY BC CC"), "0044 BC -01");
        assert_eq!(ordinal_suffix("11", false), "th");
        assert_eq!(ordinal_suffix("21", true), "ST");
    }
}
