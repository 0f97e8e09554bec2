//! Text input of dates, times and timestamps, read the way PostgreSQL reads
//! them (its `ParseDateTime` and `DecodeDateTime`, re-derived here).
//!
//! Two passes. [`tokenize`] cuts the text into fields and classifies each
//! by its shape: a number, a word, a date (`2026-11-23`, `11/23/2026`,
//! `2026-nov-23`), a time (`10:00:00.5`), a signed zone offset (`+02:30`),
//! or a signed word (`-infinity`). The decoders then give each field its
//! meaning from what is already known: `11` after a year is a month, six
//! digits after a date are `hhmmss`, a word is a month, a weekday, AM/PM,
//! BC, a special value (`now`, `epoch`…) or a zone. The session's
//! `DateStyle` order settles `01/02/03`. Inputs PostgreSQL accepts are
//! accepted with the same value; errors have its codes and messages:
//! 22007 for text that is not a date, 22008 for a field or result out of
//! range, 22009 for a zone offset past 15 hours, 22023 for an unknown zone
//! name.

use crate::error::Error;
use crate::sqlstate;

use super::zone::{abbreviation, displacement_limit_ok};
use super::{
    date_to_julian, days_in_month, is_valid_date, is_valid_julian, julian_to_date, round_micros,
    DateOrder, Fields, TimeContext, TimeZone, DATE_INFINITY, DATE_NEG_INFINITY,
    POSTGRES_EPOCH_JDATE, TIMESTAMP_INFINITY, TIMESTAMP_NEG_INFINITY, UNIX_EPOCH_JDATE,
    USECS_PER_DAY, USECS_PER_SEC,
};

/// PostgreSQL's `MAXDATEFIELDS`: more fields than this is not a date.
const FIELDS_MAX: usize = 25;
/// PostgreSQL's work buffer for the fields (`MAXDATELEN + MAXDATEFIELDS`).
const FIELD_BYTES_MAX: usize = 128 + FIELDS_MAX;

/// Why a date/time text was refused, before it is worded for its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DtError {
    BadFormat,
    FieldOverflow,
    /// A month or day out of range: maybe the wrong `DateStyle` order.
    MdFieldOverflow,
    IntervalOverflow,
    TzDispOverflow,
}

/// A refusal: a [`DtError`] to word with the input, or a finished error
/// (an unknown zone name).
#[derive(Debug)]
pub(crate) enum Failure {
    Dt(DtError),
    Sql(Error),
}

impl From<DtError> for Failure {
    fn from(e: DtError) -> Failure {
        Failure::Dt(e)
    }
}

/// PostgreSQL's `DateTimeParseError`: the message for `input` of `type_name`.
pub(crate) fn parse_error(failure: Failure, input: &str, type_name: &str) -> Error {
    let e = match failure {
        Failure::Sql(e) => return e,
        Failure::Dt(e) => e,
    };
    match e {
        DtError::FieldOverflow => Error::new(
            sqlstate::DATETIME_FIELD_OVERFLOW,
            format!("date/time field value out of range: \"{input}\""),
        ),
        DtError::MdFieldOverflow => Error::new(
            sqlstate::DATETIME_FIELD_OVERFLOW,
            format!("date/time field value out of range: \"{input}\""),
        )
        .with_hint("Perhaps you need a different \"datestyle\" setting."),
        DtError::IntervalOverflow => Error::new(
            sqlstate::INTERVAL_FIELD_OVERFLOW,
            format!("interval field value out of range: \"{input}\""),
        ),
        DtError::TzDispOverflow => Error::new(
            sqlstate::INVALID_TIME_ZONE_DISPLACEMENT_VALUE,
            format!("time zone displacement out of range: \"{input}\""),
        ),
        DtError::BadFormat => Error::new(
            sqlstate::INVALID_DATETIME_FORMAT,
            format!("invalid input syntax for type {type_name}: \"{input}\""),
        ),
    }
}

pub(crate) fn zone_not_recognized(name: &str) -> Error {
    Error::new(
        sqlstate::INVALID_PARAMETER_VALUE,
        format!("time zone \"{name}\" not recognized"),
    )
}

// ---- pass 1: fields ---------------------------------------------------------

/// The shape of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Digits, maybe with one `.`: `2026`, `20261123`, `10.5`.
    Number,
    /// Letters: `nov`, `bc`, `now`, `t`.
    Word,
    /// Numbers and letters joined by `-`, `/` or `.`; or a zone name with
    /// embedded punctuation (`etc/gmt+5`).
    Date,
    /// Digits with `:`: `10:00:00.5`.
    Time,
    /// A sign then digits: `+02`, `-05:30`, `-1-2`.
    Zone,
    /// A sign then letters: `-infinity`.
    Special,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    /// Lower-cased.
    pub text: String,
    pub kind: Kind,
}

/// Cuts `input` into classified fields (PostgreSQL's `ParseDateTime`).
/// Letters are lower-cased; punctuation between fields is dropped.
pub(crate) fn tokenize(input: &str) -> Result<Vec<Field>, DtError> {
    let b = input.as_bytes();
    let mut i = 0;
    let mut fields: Vec<Field> = Vec::new();
    let mut bytes = 0;
    let take = |i: &mut usize, text: &mut String, pred: &dyn Fn(u8) -> bool| {
        while *i < b.len() && pred(b[*i]) {
            text.push(b[*i].to_ascii_lowercase() as char);
            *i += 1;
        }
    };
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let mut text = String::new();
        let kind;
        if c.is_ascii_digit() {
            take(&mut i, &mut text, &|c| c.is_ascii_digit());
            match b.get(i) {
                Some(b':') => {
                    kind = Kind::Time;
                    take(&mut i, &mut text, &|c| {
                        c.is_ascii_digit() || c == b':' || c == b'.'
                    });
                }
                Some(&delim @ (b'-' | b'/' | b'.')) => {
                    text.push(delim as char);
                    i += 1;
                    if b.get(i).is_some_and(u8::is_ascii_digit) {
                        let mut k = if delim == b'.' {
                            Kind::Number
                        } else {
                            Kind::Date
                        };
                        take(&mut i, &mut text, &|c| c.is_ascii_digit());
                        if b.get(i) == Some(&delim) {
                            k = Kind::Date;
                            take(&mut i, &mut text, &|c| c.is_ascii_digit() || c == delim);
                        }
                        kind = k;
                    } else {
                        kind = Kind::Date;
                        take(&mut i, &mut text, &|c| {
                            c.is_ascii_alphanumeric() || c == delim
                        });
                    }
                }
                _ => kind = Kind::Number,
            }
        } else if c == b'.' {
            text.push('.');
            i += 1;
            take(&mut i, &mut text, &|c| c.is_ascii_digit());
            kind = Kind::Number;
        } else if c.is_ascii_alphabetic() {
            take(&mut i, &mut text, &|c| c.is_ascii_alphabetic());
            // A word followed by a separator is a date with a text month
            // (`nov-23-2026`), or a zone name (`etc/gmt+5`, `utc+3`), unless
            // the word is a keyword that a number may follow (`t10:00`, `j2451545`).
            let is_date = match b.get(i) {
                Some(b'-' | b'/' | b'.') => true,
                Some(&n) if n == b'+' || n.is_ascii_digit() => date_word(&text).is_none(),
                _ => false,
            };
            kind = if is_date {
                take(&mut i, &mut text, &|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, b'+' | b'-' | b'/' | b'_' | b'.' | b':')
                });
                Kind::Date
            } else {
                Kind::Word
            };
        } else if c == b'+' || c == b'-' {
            text.push(c as char);
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            match b.get(i) {
                Some(n) if n.is_ascii_digit() => {
                    take(&mut i, &mut text, &|c| {
                        c.is_ascii_digit() || matches!(c, b':' | b'.' | b'-')
                    });
                    kind = Kind::Zone;
                }
                Some(n) if n.is_ascii_alphabetic() => {
                    take(&mut i, &mut text, &|c| c.is_ascii_alphabetic());
                    kind = Kind::Special;
                }
                _ => return Err(DtError::BadFormat),
            }
        } else if c.is_ascii_punctuation() {
            i += 1;
            continue;
        } else {
            return Err(DtError::BadFormat);
        }
        bytes += text.len() + 1;
        if fields.len() == FIELDS_MAX || bytes > FIELD_BYTES_MAX {
            return Err(DtError::BadFormat);
        }
        fields.push(Field { text, kind });
    }
    Ok(fields)
}

// ---- words ------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Word {
    Now,
    Today,
    Tomorrow,
    Yesterday,
    Epoch,
    Infinity,
    NegInfinity,
    /// `allballs`: 00:00:00 UTC.
    AllBalls,
    Month(i32),
    Weekday,
    Am,
    Pm,
    Ad,
    Bc,
    /// `j`, `jd`, `julian`: the next number is a Julian day.
    Julian,
    /// `t`: the next field is the time (ISO 8601).
    IsoTime,
    /// Another unit label (`y`, `d`, `h`…): PostgreSQL no longer takes a
    /// number after one.
    OtherUnit,
    /// `at`, `on`: ignored.
    Ignore,
    /// `dst`: the zone before it is an hour ahead.
    Dst,
}

/// PostgreSQL's date/time keywords.
pub(crate) fn date_word(lower: &str) -> Option<Word> {
    use Word::*;
    Some(match lower {
        "now" => Now,
        "today" => Today,
        "tomorrow" => Tomorrow,
        "yesterday" => Yesterday,
        "epoch" => Epoch,
        "infinity" => Infinity,
        "-infinity" => NegInfinity,
        "allballs" => AllBalls,
        "jan" | "january" => Month(1),
        "feb" | "february" => Month(2),
        "mar" | "march" => Month(3),
        "apr" | "april" => Month(4),
        "may" => Month(5),
        "jun" | "june" => Month(6),
        "jul" | "july" => Month(7),
        "aug" | "august" => Month(8),
        "sep" | "sept" | "september" => Month(9),
        "oct" | "october" => Month(10),
        "nov" | "november" => Month(11),
        "dec" | "december" => Month(12),
        "sun" | "sunday" | "mon" | "monday" | "tue" | "tues" | "tuesday" | "wed" | "wednesday"
        | "thu" | "thur" | "thurs" | "thursday" | "fri" | "friday" | "sat" | "saturday" => Weekday,
        "am" => Am,
        "pm" => Pm,
        "ad" => Ad,
        "bc" => Bc,
        "j" | "jd" | "julian" => Julian,
        "t" => IsoTime,
        "y" | "m" | "d" | "h" | "s" | "mm" | "dow" | "doy" | "isodow" | "isoyear" => OtherUnit,
        "at" | "on" => Ignore,
        "dst" => Dst,
        _ => return None,
    })
}

// ---- masks of the fields seen -------------------------------------------------

const YEAR: u32 = 1 << 0;
const MONTH: u32 = 1 << 1;
const DAY: u32 = 1 << 2;
const HOUR: u32 = 1 << 3;
const MINUTE: u32 = 1 << 4;
const SECOND: u32 = 1 << 5;
const DOY: u32 = 1 << 6;
const TZ: u32 = 1 << 7;
const DTZ: u32 = 1 << 8;
const DTZMOD: u32 = 1 << 9;
const AMPM: u32 = 1 << 10;
const ADBC: u32 = 1 << 11;
const DOW: u32 = 1 << 12;
const DATE_M: u32 = YEAR | MONTH | DAY;
const TIME_M: u32 = HOUR | MINUTE | SECOND;

/// What a date/time text stands for besides an ordinary value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Special {
    Value,
    Epoch,
    Infinity,
    NegInfinity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meridiem {
    Am,
    Pm,
}

/// The fields decoded so far (PostgreSQL's `pg_tm` plus decoding state).
struct Decoder<'c> {
    ctx: &'c TimeContext,
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    /// Microseconds; may reach 1_000_000 after rounding, carried on output.
    fsec: i64,
    yday: i64,
    fmask: u32,
    /// Seconds east of UTC, if the text named a fixed zone.
    tz: Option<i32>,
    /// A region zone the text named; its offset depends on the date and
    /// time, so it is resolved once all fields are read.
    tz_region: Option<TimeZone>,
    is2digits: bool,
    bc: bool,
    julian: bool,
    meridiem: Option<Meridiem>,
    have_text_month: bool,
    /// The previous word was `j` or `t` (or another unit label).
    prefix: Option<Word>,
    special: Special,
}

impl<'c> Decoder<'c> {
    fn new(ctx: &'c TimeContext) -> Decoder<'c> {
        Decoder {
            ctx,
            year: 0,
            month: 0,
            day: 0,
            hour: 0,
            minute: 0,
            second: 0,
            fsec: 0,
            yday: 0,
            fmask: 0,
            tz: None,
            tz_region: None,
            is2digits: false,
            bc: false,
            julian: false,
            meridiem: None,
            have_text_month: false,
            prefix: None,
            special: Special::Value,
        }
    }

    fn set_date(&mut self, julian: i32) {
        let (y, m, d) = julian_to_date(julian);
        (self.year, self.month, self.day) = (y as i64, m as i64, d as i64);
    }

    fn set_time(&mut self, micros: i64) {
        self.hour = micros / super::USECS_PER_HOUR;
        self.minute = micros / super::USECS_PER_MINUTE % 60;
        self.second = micros / USECS_PER_SEC % 60;
        self.fsec = micros % USECS_PER_SEC;
    }

    /// The session's local time now (the transaction start).
    fn now_local(&self) -> i64 {
        let now = self.ctx.transaction_start;
        now + self.ctx.zone.offset_at_utc(now) as i64 * USECS_PER_SEC
    }

    fn today(&self) -> i32 {
        (self.now_local().div_euclid(USECS_PER_DAY) + POSTGRES_EPOCH_JDATE as i64) as i32
    }

    fn fields(&self) -> Fields {
        Fields {
            year: self.year as i32,
            month: self.month as i32,
            day: self.day as i32,
            hour: self.hour as i32,
            minute: self.minute as i32,
            second: self.second as i32,
            micros: 0,
        }
    }

    /// Records a zone the text named: its offset if fixed, else the zone.
    fn set_zone(&mut self, zone: TimeZone) {
        match zone.fixed_offset() {
            Some(offset) => self.tz = Some(offset),
            None => self.tz_region = Some(zone),
        }
    }

    /// The offset of the zone the text named, or else of `session`, for
    /// the wall-clock time `local`.
    fn offset_for_local(&self, session: &TimeZone, local: i64) -> i32 {
        match self.tz {
            Some(offset) => offset,
            None => self
                .tz_region
                .as_ref()
                .unwrap_or(session)
                .offset_for_local(local),
        }
    }

    fn time_micros(&self) -> i64 {
        ((self.hour * 60 + self.minute) * 60 + self.second) * USECS_PER_SEC + self.fsec
    }

    /// Records a field's mask; seeing one kind of field twice is an error.
    fn mark(&mut self, mask: u32) -> Result<(), Failure> {
        if mask & self.fmask != 0 {
            return Err(DtError::BadFormat.into());
        }
        self.fmask |= mask;
        Ok(())
    }

    /// A word that names a zone (abbreviation) or a keyword; `None` if neither.
    fn word(&mut self, text: &str, time_only: bool) -> Result<Option<u32>, Failure> {
        // Zone abbreviations take precedence over keywords, as in PostgreSQL.
        if let Some((offset, dst)) = abbreviation(text) {
            self.tz = Some(offset);
            return Ok(Some(if dst { DTZ | TZ } else { TZ }));
        }
        let Some(word) = date_word(text) else {
            return Ok(None);
        };
        let mask = match word {
            Word::Ignore => 0,
            Word::Now => {
                let now = self.now_local();
                if time_only {
                    self.set_time(now.rem_euclid(USECS_PER_DAY));
                    TIME_M
                } else {
                    self.set_date(
                        (now.div_euclid(USECS_PER_DAY) + POSTGRES_EPOCH_JDATE as i64) as i32,
                    );
                    self.set_time(now.rem_euclid(USECS_PER_DAY));
                    self.tz = Some(self.ctx.zone.offset_at_utc(self.ctx.transaction_start));
                    DATE_M | TIME_M | TZ
                }
            }
            Word::AllBalls => {
                (self.hour, self.minute, self.second, self.fsec) = (0, 0, 0, 0);
                self.tz = Some(0);
                TIME_M | TZ
            }
            Word::Today | Word::Tomorrow | Word::Yesterday if !time_only => {
                let shift = match word {
                    Word::Tomorrow => 1,
                    Word::Yesterday => -1,
                    _ => 0,
                };
                self.set_date(self.today() + shift);
                DATE_M
            }
            Word::Epoch | Word::Infinity | Word::NegInfinity if !time_only => {
                self.special = match word {
                    Word::Epoch => Special::Epoch,
                    Word::Infinity => Special::Infinity,
                    _ => Special::NegInfinity,
                };
                DATE_M | TIME_M | TZ
            }
            Word::Month(m) if !time_only => {
                let mut mask = MONTH;
                // A numeric "month" already seen was the day.
                if self.fmask & MONTH != 0
                    && !self.have_text_month
                    && self.fmask & DAY == 0
                    && (1..=31).contains(&self.month)
                {
                    self.day = self.month;
                    mask = DAY;
                }
                self.have_text_month = true;
                self.month = m as i64;
                mask
            }
            Word::Weekday if !time_only => DOW,
            Word::Am | Word::Pm => {
                self.meridiem = Some(if word == Word::Am {
                    Meridiem::Am
                } else {
                    Meridiem::Pm
                });
                AMPM
            }
            Word::Ad | Word::Bc => {
                self.bc = word == Word::Bc;
                ADBC
            }
            Word::Dst => {
                let Some(tz) = self.tz.as_mut() else {
                    return Err(DtError::BadFormat.into());
                };
                *tz += 3600;
                DTZMOD | DTZ
            }
            Word::Julian | Word::OtherUnit if !time_only || self.prefix.is_none() => {
                if self.prefix.is_some() {
                    return Err(DtError::BadFormat.into());
                }
                self.prefix = Some(word);
                0
            }
            Word::IsoTime => {
                if time_only && self.prefix.is_some() {
                    return Err(DtError::BadFormat.into());
                }
                self.prefix = Some(word);
                0
            }
            _ => return Err(DtError::BadFormat.into()),
        };
        Ok(Some(mask))
    }

    /// A number after `j` (a Julian day, maybe with a fraction of a day) or
    /// after `t` (a run-together time, `hhmmss[.f]`).
    fn prefixed_number(&mut self, prefix: Word, text: &str) -> Result<u32, DtError> {
        let (value, rest) = leading_int(text)?;
        let fraction_allowed = matches!(prefix, Word::Julian | Word::IsoTime);
        if !(rest.is_empty() || rest.starts_with('.') && fraction_allowed) {
            return Err(DtError::BadFormat);
        }
        match prefix {
            Word::Julian => {
                self.set_date(value as i32);
                self.julian = true;
                if rest.is_empty() {
                    return Ok(DATE_M);
                }
                let frac = fraction_f64(rest)?;
                self.set_time((frac * USECS_PER_DAY as f64) as i64);
                Ok(DATE_M | TIME_M)
            }
            Word::IsoTime => {
                let (m, _) = self.number_field(text, self.fmask | DATE_M)?;
                if m != TIME_M {
                    return Err(DtError::BadFormat);
                }
                Ok(m)
            }
            _ => Err(DtError::BadFormat),
        }
    }

    /// A field that looks like a zone name: a fixed-offset zone or 22023.
    fn zone_name(&mut self, name: &str) -> Result<u32, Failure> {
        match TimeZone::lookup(name) {
            Some(zone) => {
                self.set_zone(zone);
                Ok(TZ)
            }
            None => Err(Failure::Sql(zone_not_recognized(name))),
        }
    }

    /// PostgreSQL's `ValidateDate`: BC and two-digit years, day of year,
    /// and month/day ranges.
    fn validate_date(&mut self) -> Result<(), DtError> {
        if self.fmask & YEAR != 0 {
            if self.julian {
                // The Julian day set the year exactly.
            } else if self.bc {
                if self.year <= 0 {
                    return Err(DtError::FieldOverflow);
                }
                self.year = -(self.year - 1);
            } else if self.is2digits {
                if self.year < 0 {
                    return Err(DtError::FieldOverflow);
                }
                if self.year < 70 {
                    self.year += 2000;
                } else if self.year < 100 {
                    self.year += 1900;
                }
            } else if self.year <= 0 {
                return Err(DtError::FieldOverflow);
            }
        }
        if self.fmask & DOY != 0 {
            let julian = date_to_julian(self.year as i32, 1, 1) as i64 + self.yday - 1;
            self.set_date(julian as i32);
        }
        if self.fmask & MONTH != 0 && !(1..=12).contains(&self.month) {
            return Err(DtError::MdFieldOverflow);
        }
        if self.fmask & DAY != 0 && !(1..=31).contains(&self.day) {
            return Err(DtError::MdFieldOverflow);
        }
        if self.fmask & DATE_M == DATE_M
            && self.day > days_in_month(self.year as i32, self.month as i32) as i64
        {
            return Err(DtError::FieldOverflow);
        }
        Ok(())
    }

    fn apply_meridiem(&mut self) -> Result<(), DtError> {
        if self.meridiem.is_some() && self.hour > 12 {
            return Err(DtError::FieldOverflow);
        }
        match self.meridiem {
            Some(Meridiem::Am) if self.hour == 12 => self.hour = 0,
            Some(Meridiem::Pm) if self.hour != 12 => self.hour += 12,
            _ => {}
        }
        Ok(())
    }

    // ---- numbers ----------------------------------------------------------------

    /// PostgreSQL's `DecodeNumber`: one numeric field, whose meaning depends
    /// on the fields already seen and on the `DateStyle` order.
    fn number(&mut self, text: &str, have_text_month: bool) -> Result<u32, DtError> {
        let (val, rest) = leading_int(text)?;
        let flen = text.len();
        if rest.starts_with('.') {
            // More than two digits before the point: a date or run-together time.
            if text.len() - rest.len() > 2 {
                return self.number_field(text, self.fmask | DATE_M).map(|(m, _)| m);
            }
            self.fsec = fraction_micros(rest)?;
        } else if !rest.is_empty() {
            return Err(DtError::BadFormat);
        }
        if flen == 3 && self.fmask & DATE_M == YEAR && (1..=366).contains(&val) {
            self.yday = val;
            return Ok(DOY | MONTH | DAY);
        }
        let order = self.ctx.date_order;
        let mask = match self.fmask & DATE_M {
            0 => {
                if flen >= 3 || order == DateOrder::Ymd {
                    self.year = val;
                    YEAR
                } else if order == DateOrder::Dmy {
                    self.day = val;
                    DAY
                } else {
                    self.month = val;
                    MONTH
                }
            }
            YEAR => {
                self.month = val;
                MONTH
            }
            MONTH => {
                if have_text_month && (flen >= 3 || order == DateOrder::Ymd) {
                    self.year = val;
                    YEAR
                } else {
                    self.day = val;
                    DAY
                }
            }
            m if m == YEAR | MONTH => {
                if have_text_month && flen >= 3 && self.is2digits {
                    // The first number was the day, not a two-digit year.
                    self.day = self.year;
                    self.year = val;
                    self.is2digits = false;
                } else {
                    self.day = val;
                }
                DAY
            }
            DAY => {
                self.month = val;
                MONTH
            }
            m if m == MONTH | DAY => {
                self.year = val;
                YEAR
            }
            DATE_M => return self.number_field(text, self.fmask).map(|(m, _)| m),
            _ => return Err(DtError::BadFormat),
        };
        if mask == YEAR {
            self.is2digits = flen <= 2;
        }
        Ok(mask)
    }

    /// PostgreSQL's `DecodeNumberField`: run-together digits, `YYYYMMDD`,
    /// `YYMMDD`, `hhmmss[.fff]` or `hhmm`. Returns the mask and whether it
    /// was a date.
    fn number_field(&mut self, text: &str, fmask: u32) -> Result<(u32, bool), DtError> {
        let mut digits = text;
        if let Some(dot) = text.find('.') {
            let frac: f64 = format!("0{}", &text[dot..])
                .parse()
                .map_err(|_| DtError::BadFormat)?;
            self.fsec = (frac * 1e6).round_ties_even() as i64;
            digits = &text[..dot];
        } else if fmask & DATE_M != DATE_M && digits.len() >= 6 {
            let len = digits.len();
            self.day = atoi(&digits[len - 2..]);
            self.month = atoi(&digits[len - 4..len - 2]);
            self.year = atoi(&digits[..len - 4]);
            if len - 4 == 2 {
                self.is2digits = true;
            }
            return Ok((DATE_M, true));
        }
        if fmask & TIME_M != TIME_M {
            if digits.len() == 6 {
                self.hour = atoi(&digits[..2]);
                self.minute = atoi(&digits[2..4]);
                self.second = atoi(&digits[4..]);
                return Ok((TIME_M, false));
            } else if digits.len() == 4 {
                self.hour = atoi(&digits[..2]);
                self.minute = atoi(&digits[2..]);
                self.second = 0;
                return Ok((TIME_M, false));
            }
        }
        Err(DtError::BadFormat)
    }

    /// PostgreSQL's `DecodeDate`: a date field, split at punctuation; text
    /// months first, then the numbers in order.
    fn date(&mut self, text: &str) -> Result<u32, DtError> {
        let mut parts: Vec<&str> = Vec::new();
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            while i < b.len() && !b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            if i == b.len() {
                return Err(DtError::BadFormat);
            }
            let start = i;
            if b[i].is_ascii_digit() {
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            } else {
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    i += 1;
                }
            }
            parts.push(&text[start..i]);
            if parts.len() > FIELDS_MAX {
                return Err(DtError::BadFormat);
            }
            // One character after a part is its separator.
            if i < b.len() {
                i += 1;
            }
        }
        // PostgreSQL works on a copy of the mask here: the caller checks
        // the returned mask against its own.
        let saved = self.fmask;
        let result = self.date_parts(&parts);
        let local = self.fmask;
        self.fmask = saved;
        let mask = result?;
        if local & !(DOY | TZ) != DATE_M {
            return Err(DtError::BadFormat);
        }
        Ok(mask)
    }

    fn date_parts(&mut self, parts: &[&str]) -> Result<u32, DtError> {
        let mut have_text_month = false;
        let mut mask = 0;
        let mut numbers = Vec::new();
        for part in parts {
            if part.as_bytes()[0].is_ascii_alphabetic() {
                match date_word(part) {
                    Some(Word::Ignore) => continue,
                    Some(Word::Month(m)) => {
                        if self.fmask & MONTH != 0 {
                            return Err(DtError::BadFormat);
                        }
                        self.month = m as i64;
                        have_text_month = true;
                        self.fmask |= MONTH;
                        mask |= MONTH;
                    }
                    _ => return Err(DtError::BadFormat),
                }
            } else {
                numbers.push(*part);
            }
        }
        for part in numbers {
            let m = self.number(part, have_text_month)?;
            if self.fmask & m != 0 {
                return Err(DtError::BadFormat);
            }
            self.fmask |= m;
            mask |= m;
        }
        Ok(mask)
    }
}

/// `strtoint` of the leading digits: the value and the rest. An int32
/// overflow is a field overflow; no digits is bad format.
fn leading_int(text: &str) -> Result<(i64, &str), DtError> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if end == 0 {
        return Err(DtError::BadFormat);
    }
    let v: i64 = text[..end].parse().map_err(|_| DtError::FieldOverflow)?;
    if v > i32::MAX as i64 {
        return Err(DtError::FieldOverflow);
    }
    Ok((v, &text[end..]))
}

/// `atoi` of digits known to be digits.
fn atoi(digits: &str) -> i64 {
    digits.parse().unwrap_or(0)
}

/// A `.ddd` fraction of a second in microseconds, rounded half to even as
/// PostgreSQL's `rint` does; a bare `.` is zero.
fn fraction_micros(text: &str) -> Result<i64, DtError> {
    let digits = text.strip_prefix('.').ok_or(DtError::BadFormat)?;
    if digits.is_empty() {
        return Ok(0);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DtError::BadFormat);
    }
    let frac: f64 = format!("0.{digits}")
        .parse()
        .map_err(|_| DtError::BadFormat)?;
    Ok((frac * 1e6).round_ties_even() as i64)
}

/// PostgreSQL's `DecodeTime` for dates and times: `hh:mm`, `hh:mm:ss[.f]`,
/// or `mm:ss.f`. Returns hour, minute, second, microseconds.
pub(crate) fn decode_time(text: &str) -> Result<(i64, i64, i64, i64), DtError> {
    let (hour, rest) = leading_int(text).map_err(|e| match e {
        DtError::FieldOverflow => e,
        _ => DtError::BadFormat,
    })?;
    let rest = rest.strip_prefix(':').ok_or(DtError::BadFormat)?;
    let (minute, rest) = leading_int(rest)?;
    let (mut h, mut m, mut s, mut fsec) = (hour, minute, 0, 0);
    if rest.is_empty() {
    } else if rest.starts_with('.') {
        // mm:ss.fff
        fsec = fraction_micros(rest)?;
        (h, m, s) = (0, hour, minute);
    } else if let Some(rest) = rest.strip_prefix(':') {
        let (second, rest) = leading_int(rest)?;
        s = second;
        if !rest.is_empty() {
            fsec = fraction_micros(rest)?;
        }
    } else {
        return Err(DtError::BadFormat);
    }
    if h < 0
        || !(0..60).contains(&m)
        || !(0..=60).contains(&s)
        || !(0..=USECS_PER_SEC).contains(&fsec)
    {
        return Err(DtError::FieldOverflow);
    }
    Ok((h, m, s, fsec))
}

/// Whether a time of day is past 24:00:00 (PostgreSQL's `time_overflows`).
fn time_overflows(hour: i64, minute: i64, second: i64, fsec: i64) -> bool {
    !(0..=24).contains(&hour)
        || !(0..60).contains(&minute)
        || !(0..=60).contains(&second)
        || !(0..=USECS_PER_SEC).contains(&fsec)
        || ((hour * 60 + minute) * 60 + second) * USECS_PER_SEC + fsec > USECS_PER_DAY
}

/// PostgreSQL's `DecodeTimezone`: `+hh`, `+hhmm`, `+hh:mm`, `+hh:mm:ss`.
/// Returns seconds east.
pub(crate) fn decode_zone_offset(text: &str) -> Result<i32, DtError> {
    let negative = match text.as_bytes().first() {
        Some(b'+') => false,
        Some(b'-') => true,
        _ => return Err(DtError::BadFormat),
    };
    let body = &text[1..];
    let (mut hours, rest) = leading_int(body).map_err(|e| match e {
        DtError::FieldOverflow => DtError::TzDispOverflow,
        e => e,
    })?;
    let (mut minutes, mut seconds) = (0, 0);
    let mut rest = rest;
    if let Some(r) = rest.strip_prefix(':') {
        let (m, r) = leading_int(r).map_err(|_| DtError::BadFormat)?;
        minutes = m;
        rest = r;
        if let Some(r) = rest.strip_prefix(':') {
            let (s, r) = leading_int(r).map_err(|_| DtError::BadFormat)?;
            seconds = s;
            rest = r;
        }
    } else if rest.is_empty() && body.len() > 2 {
        minutes = hours % 100;
        hours /= 100;
    }
    if !displacement_limit_ok(hours, minutes, seconds) {
        return Err(DtError::TzDispOverflow);
    }
    if !rest.is_empty() {
        return Err(DtError::BadFormat);
    }
    let secs = ((hours * 60 + minutes) * 60 + seconds) as i32;
    Ok(if negative { -secs } else { secs })
}

/// A decoded date/time text: an ordinary value or a special one.
struct DecodedDateTime {
    special: Special,
    fields: Fields,
    fsec: i64,
    /// The zone the text named, else the session's, in seconds east.
    tz: i32,
}

/// PostgreSQL's `DecodeDateTime`: the fields of a date or timestamp text.
fn decode_date_time(fields: &[Field], ctx: &TimeContext) -> Result<DecodedDateTime, Failure> {
    let mut d = Decoder::new(ctx);
    for (i, field) in fields.iter().enumerate() {
        let text = field.text.as_str();
        let mask = match field.kind {
            Kind::Date => {
                if d.prefix == Some(Word::Julian) {
                    return Err(DtError::BadFormat.into());
                }
                let have_month_and_day = d.fmask & (MONTH | DAY) == MONTH | DAY;
                if d.prefix.is_some() || have_month_and_day {
                    // After a date: a zone name, or hhmmss-zz.
                    if text.as_bytes()[0].is_ascii_digit() || d.prefix.is_some() {
                        if d.prefix.is_some_and(|p| p != Word::IsoTime) {
                            return Err(DtError::BadFormat.into());
                        }
                        d.prefix = None;
                        if d.fmask & TIME_M == TIME_M {
                            return Err(DtError::BadFormat.into());
                        }
                        let dash = text.find('-').ok_or(DtError::BadFormat)?;
                        d.tz = Some(decode_zone_offset(&text[dash..])?);
                        let (m, _) = d.number_field(&text[..dash], d.fmask)?;
                        m | TZ
                    } else {
                        d.zone_name(text)?
                    }
                } else {
                    d.date(text)?
                }
            }
            Kind::Time => {
                if d.prefix.is_some() {
                    if d.prefix != Some(Word::IsoTime) {
                        return Err(DtError::BadFormat.into());
                    }
                    d.prefix = None;
                }
                let (h, m, s, f) = decode_time(text)?;
                if time_overflows(h, m, s, f) {
                    return Err(DtError::FieldOverflow.into());
                }
                (d.hour, d.minute, d.second, d.fsec) = (h, m, s, f);
                TIME_M
            }
            Kind::Zone => {
                d.tz = Some(decode_zone_offset(text)?);
                TZ
            }
            Kind::Number => {
                if let Some(prefix) = d.prefix.take() {
                    d.prefixed_number(prefix, text)?
                } else {
                    let dot = text.find('.');
                    let before_dot = dot.unwrap_or(text.len());
                    // A point and no date yet: `2026.327`. A point after three
                    // or more digits, or six digits while the date or time is
                    // missing: run-together `YYYYMMDD` or `hhmmss[.f]`.
                    let run_together = (dot.is_some() && before_dot > 2)
                        || (text.len() >= 6 && (d.fmask & DATE_M == 0 || d.fmask & TIME_M == 0));
                    if dot.is_some() && d.fmask & DATE_M == 0 {
                        d.date(text)?
                    } else if run_together {
                        d.number_field(text, d.fmask)?.0
                    } else {
                        d.number(text, d.have_text_month)?
                    }
                }
            }
            Kind::Word | Kind::Special => match d.word(text, false)? {
                Some(mask) => mask,
                None => {
                    if field.kind == Kind::Word && d.prefix.is_none() {
                        // An all-letter zone name, or nothing known.
                        match TimeZone::lookup(text) {
                            Some(zone) => {
                                d.set_zone(zone);
                                TZ
                            }
                            None => return Err(DtError::BadFormat.into()),
                        }
                    } else {
                        return Err(DtError::BadFormat.into());
                    }
                }
            },
        };
        if field.kind == Kind::Word && date_word(text) == Some(Word::IsoTime) {
            // `t` needs a full date before it and a time after it.
            if d.fmask & DATE_M != DATE_M {
                return Err(DtError::BadFormat.into());
            }
            let next_ok = fields
                .get(i + 1)
                .is_some_and(|n| matches!(n.kind, Kind::Number | Kind::Time | Kind::Date));
            if !next_ok {
                return Err(DtError::BadFormat.into());
            }
        }
        d.mark(mask)?;
    }
    if d.special == Special::Value {
        d.validate_date()?;
    }
    d.apply_meridiem()?;
    if d.special == Special::Value && d.fmask & DATE_M != DATE_M {
        return Err(DtError::BadFormat.into());
    }
    if d.fmask & DTZMOD != 0 && d.fmask & TZ == 0 {
        return Err(DtError::BadFormat.into());
    }
    let mut decoded = DecodedDateTime {
        special: d.special,
        fields: d.fields(),
        fsec: d.fsec,
        tz: 0,
    };
    let local = local_micros(&decoded).unwrap_or(0);
    decoded.tz = d.offset_for_local(&ctx.zone, local);
    Ok(decoded)
}

fn fraction_f64(text: &str) -> Result<f64, DtError> {
    let digits = text.strip_prefix('.').ok_or(DtError::BadFormat)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DtError::BadFormat);
    }
    format!("0.{digits}")
        .parse()
        .map_err(|_| DtError::BadFormat)
}

/// The wall-clock microseconds of a decoded value, before any range check
/// but the Julian one (PostgreSQL's `tm2timestamp`).
fn local_micros(d: &DecodedDateTime) -> Option<i64> {
    let f = &d.fields;
    if !is_valid_julian(f.year, f.month, f.day) {
        return None;
    }
    let days = (f.julian() - POSTGRES_EPOCH_JDATE) as i64;
    let time =
        ((f.hour as i64 * 60 + f.minute as i64) * 60 + f.second as i64) * USECS_PER_SEC + d.fsec;
    days.checked_mul(USECS_PER_DAY)?.checked_add(time)
}

fn timestamp_out_of_range(input: &str) -> Error {
    Error::new(
        sqlstate::DATETIME_FIELD_OVERFLOW,
        format!("timestamp out of range: \"{input}\""),
    )
}

/// `timestamp` input; a zone in the text is ignored, as in PostgreSQL.
pub fn parse_timestamp(input: &str, ctx: &TimeContext) -> Result<i64, Error> {
    let fail = |f: Failure| parse_error(f, input, "timestamp");
    let fields = tokenize(input).map_err(|e| fail(e.into()))?;
    let d = decode_date_time(&fields, ctx).map_err(fail)?;
    match d.special {
        Special::Epoch => Ok(epoch()),
        Special::Infinity => Ok(TIMESTAMP_INFINITY),
        Special::NegInfinity => Ok(TIMESTAMP_NEG_INFINITY),
        Special::Value => local_micros(&d)
            .filter(|ts| super::is_valid_timestamp(*ts))
            .ok_or_else(|| timestamp_out_of_range(input)),
    }
}

/// `timestamp with time zone` input: the named zone, else the session's.
pub fn parse_timestamptz(input: &str, ctx: &TimeContext) -> Result<i64, Error> {
    let fail = |f: Failure| parse_error(f, input, "timestamp with time zone");
    let fields = tokenize(input).map_err(|e| fail(e.into()))?;
    let d = decode_date_time(&fields, ctx).map_err(fail)?;
    match d.special {
        Special::Epoch => Ok(epoch()),
        Special::Infinity => Ok(TIMESTAMP_INFINITY),
        Special::NegInfinity => Ok(TIMESTAMP_NEG_INFINITY),
        Special::Value => local_micros(&d)
            .and_then(|l| l.checked_sub(d.tz as i64 * USECS_PER_SEC))
            .filter(|ts| super::is_valid_timestamp(*ts))
            .ok_or_else(|| timestamp_out_of_range(input)),
    }
}

fn epoch() -> i64 {
    (UNIX_EPOCH_JDATE - POSTGRES_EPOCH_JDATE) as i64 * USECS_PER_DAY
}

/// `date` input; a time of day in the text is ignored.
pub fn parse_date(input: &str, ctx: &TimeContext) -> Result<i32, Error> {
    let fail = |f: Failure| parse_error(f, input, "date");
    let fields = tokenize(input).map_err(|e| fail(e.into()))?;
    let d = decode_date_time(&fields, ctx).map_err(fail)?;
    let f = match d.special {
        Special::Infinity => return Ok(DATE_INFINITY),
        Special::NegInfinity => return Ok(DATE_NEG_INFINITY),
        Special::Epoch => Fields {
            year: 1970,
            month: 1,
            day: 1,
            ..Fields::default()
        },
        Special::Value => d.fields,
    };
    let out_of_range = || {
        Error::new(
            sqlstate::DATETIME_FIELD_OVERFLOW,
            format!("date out of range: \"{input}\""),
        )
    };
    if !is_valid_julian(f.year, f.month, f.day) {
        return Err(out_of_range());
    }
    let date = f.julian() - POSTGRES_EPOCH_JDATE;
    if !is_valid_date(date) {
        return Err(out_of_range());
    }
    Ok(date)
}

/// PostgreSQL's `DecodeTimeOnly`: the fields of a time (with or without
/// zone) text. Returns microseconds since midnight and the zone named, if any.
fn decode_time_only(fields: &[Field], ctx: &TimeContext) -> Result<(i64, i32), Failure> {
    let mut d = Decoder::new(ctx);
    // A zone name (not an abbreviation) needs a date to be resolved.
    let mut named_zone = false;
    let count = fields.len();
    let mut kinds: Vec<Kind> = fields.iter().map(|f| f.kind).collect();
    for (i, field) in fields.iter().enumerate() {
        let text = field.text.as_str();
        let mask = match kinds[i] {
            Kind::Date => {
                let date_first = i == 0
                    && count >= 2
                    && (kinds[count - 1] == Kind::Date || kinds[1] == Kind::Time);
                if date_first {
                    d.date(text)?
                } else if text.as_bytes()[0].is_ascii_digit() {
                    if d.fmask & TIME_M == TIME_M {
                        return Err(DtError::BadFormat.into());
                    }
                    let dash = text.find('-').ok_or(DtError::BadFormat)?;
                    d.tz = Some(decode_zone_offset(&text[dash..])?);
                    let (m, _) = d.number_field(&text[..dash], d.fmask | DATE_M)?;
                    kinds[i] = Kind::Number;
                    m | TZ
                } else {
                    kinds[i] = Kind::Zone;
                    named_zone = true;
                    d.zone_name(text)?
                }
            }
            Kind::Time => {
                let (h, m, s, f) = decode_time(text)?;
                (d.hour, d.minute, d.second, d.fsec) = (h, m, s, f);
                TIME_M
            }
            Kind::Zone => {
                d.tz = Some(decode_zone_offset(text)?);
                TZ
            }
            Kind::Number => {
                if let Some(prefix) = d.prefix.take() {
                    d.prefixed_number(prefix, text)?
                } else if let Some(dot) = text.find('.') {
                    if i == 0 && count >= 2 && kinds[count - 1] == Kind::Date {
                        d.date(text)?
                    } else if dot > 2 {
                        d.number_field(text, d.fmask | DATE_M)?.0
                    } else {
                        return Err(DtError::BadFormat.into());
                    }
                } else if text.len() > 4 {
                    d.number_field(text, d.fmask | DATE_M)?.0
                } else {
                    let saved = d.fmask;
                    d.fmask |= DATE_M;
                    let m = d.number(text, false);
                    d.fmask = saved;
                    m?
                }
            }
            Kind::Word | Kind::Special => match d.word(text, true)? {
                Some(mask) => mask,
                None => {
                    if kinds[i] == Kind::Word && d.prefix.is_none() {
                        match TimeZone::lookup(text) {
                            Some(zone) => {
                                d.set_zone(zone);
                                TZ
                            }
                            None => return Err(DtError::BadFormat.into()),
                        }
                    } else {
                        return Err(DtError::BadFormat.into());
                    }
                }
            },
        };
        d.mark(mask)?;
    }
    d.validate_date()?;
    d.apply_meridiem()?;
    if time_overflows(d.hour, d.minute, d.second, d.fsec) {
        return Err(DtError::FieldOverflow.into());
    }
    if d.fmask & TIME_M != TIME_M || (named_zone && d.fmask & DATE_M == 0) {
        return Err(DtError::BadFormat.into());
    }
    // Without a date, a region zone's offset is the one of today's date
    // in the session zone, as PostgreSQL's `DecodeTimeOnly` takes it.
    let date = if d.fmask & DATE_M == DATE_M {
        let f = d.fields();
        if is_valid_julian(f.year, f.month, f.day) {
            (f.julian() - POSTGRES_EPOCH_JDATE) as i64
        } else {
            0
        }
    } else {
        d.now_local().div_euclid(USECS_PER_DAY)
    };
    let local = date * USECS_PER_DAY + d.time_micros();
    Ok((d.time_micros(), d.offset_for_local(&ctx.zone, local)))
}

/// `time` input; a date or zone in the text is ignored.
pub fn parse_time(input: &str, ctx: &TimeContext) -> Result<i64, Error> {
    let fields = tokenize(input).map_err(|e| parse_error(e.into(), input, "time"))?;
    decode_time_only(&fields, ctx)
        .map(|(t, _)| t)
        .map_err(|f| parse_error(f, input, "time"))
}

/// `time with time zone` input: microseconds and seconds east (the
/// session's zone when the text names none).
pub fn parse_timetz(input: &str, ctx: &TimeContext) -> Result<(i64, i32), Error> {
    let type_name = "time with time zone";
    let fields = tokenize(input).map_err(|e| parse_error(e.into(), input, type_name))?;
    decode_time_only(&fields, ctx).map_err(|f| parse_error(f, input, type_name))
}

/// Rounds a time of day for a `time(p)` type modifier.
pub fn round_time(micros: i64, precision: Option<u8>) -> i64 {
    match precision {
        Some(p) => round_micros(micros, p),
        None => micros,
    }
}
