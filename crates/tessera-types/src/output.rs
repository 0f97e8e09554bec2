//! How a session wants values shown as text: the time zone of
//! `timestamptz`, the `DateStyle` (output style and field order), the
//! `IntervalStyle` and `extra_float_digits`. A statement builds one
//! [`OutputStyle`] from its [`TimeContext`] (which the router fills from
//! the session's settings and ships with the plan), so writing a value
//! reads no setting; the style is a few bytes and a borrowed zone, copied
//! freely. Binary output does not depend on it.

use crate::datetime::{DateOrder, TimeContext, TimeZone};

/// `DateStyle`'s output part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum DateStyle {
    /// `2024-03-05 01:02:03+00`
    #[default]
    Iso,
    /// `03/05/2024 01:02:03 UTC` (`05/03/2024` in DMY order)
    Sql,
    /// `Tue Mar 05 01:02:03 2024 UTC` (`Tue 05 Mar …` in DMY order)
    Postgres,
    /// `05.03.2024 01:02:03 UTC`
    German,
}

impl DateStyle {
    /// The name `SHOW DateStyle` gives it.
    pub fn name(self) -> &'static str {
        match self {
            DateStyle::Iso => "ISO",
            DateStyle::Sql => "SQL",
            DateStyle::Postgres => "Postgres",
            DateStyle::German => "German",
        }
    }
}

/// The `IntervalStyle` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum IntervalStyle {
    /// `1 year 2 mons 3 days 04:05:06`
    #[default]
    Postgres,
    /// `@ 1 year 2 mons 3 days 4 hours 5 mins 6 secs`
    PostgresVerbose,
    /// `+1-2 +3 +4:05:06`
    SqlStandard,
    /// `P1Y2M3DT4H5M6S`
    Iso8601,
}

impl IntervalStyle {
    /// Reads a value of the setting (any case); `None` if it names none.
    pub fn parse(value: &str) -> Option<IntervalStyle> {
        Some(match value.trim().to_ascii_lowercase().as_str() {
            "postgres" => IntervalStyle::Postgres,
            "postgres_verbose" => IntervalStyle::PostgresVerbose,
            "sql_standard" => IntervalStyle::SqlStandard,
            "iso_8601" => IntervalStyle::Iso8601,
            _ => return None,
        })
    }

    /// The name `SHOW IntervalStyle` gives it.
    pub fn name(self) -> &'static str {
        match self {
            IntervalStyle::Postgres => "postgres",
            IntervalStyle::PostgresVerbose => "postgres_verbose",
            IntervalStyle::SqlStandard => "sql_standard",
            IntervalStyle::Iso8601 => "iso_8601",
        }
    }
}

/// The range of `extra_float_digits`, as in PostgreSQL.
pub const EXTRA_FLOAT_DIGITS_MIN: i8 = -15;
pub const EXTRA_FLOAT_DIGITS_MAX: i8 = 3;
/// PostgreSQL's default: above zero, floats print shortest-exact.
pub const EXTRA_FLOAT_DIGITS_DEFAULT: i8 = 1;

/// The output settings of a session besides the zone and field order
/// (which date input reads too, so they sit in [`TimeContext`] itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutputSettings {
    pub date_style: DateStyle,
    pub interval_style: IntervalStyle,
    /// `extra_float_digits`, in `EXTRA_FLOAT_DIGITS_MIN..=MAX`.
    pub extra_float_digits: i8,
}

impl Default for OutputSettings {
    fn default() -> OutputSettings {
        OutputSettings {
            date_style: DateStyle::Iso,
            interval_style: IntervalStyle::Postgres,
            extra_float_digits: EXTRA_FLOAT_DIGITS_DEFAULT,
        }
    }
}

/// What text output reads from the session; see the module comment.
#[derive(Debug, Clone, Copy)]
pub struct OutputStyle<'a> {
    pub zone: &'a TimeZone,
    pub date_style: DateStyle,
    /// The field order SQL and Postgres style dates are written in
    /// (`YMD` writes as `MDY` does, as in PostgreSQL).
    pub date_order: DateOrder,
    pub interval_style: IntervalStyle,
    /// `extra_float_digits`, in `EXTRA_FLOAT_DIGITS_MIN..=MAX`.
    pub extra_float_digits: i8,
}

impl OutputStyle<'static> {
    /// PostgreSQL's defaults in UTC: what values show as with no session.
    pub const DEFAULT: OutputStyle<'static> = OutputStyle {
        zone: &TimeZone::UTC,
        date_style: DateStyle::Iso,
        date_order: DateOrder::Mdy,
        interval_style: IntervalStyle::Postgres,
        extra_float_digits: EXTRA_FLOAT_DIGITS_DEFAULT,
    };
}

impl<'a> OutputStyle<'a> {
    /// The defaults with `timestamptz` shown in `zone`.
    pub fn in_zone(zone: &'a TimeZone) -> OutputStyle<'a> {
        OutputStyle {
            zone,
            ..OutputStyle::DEFAULT
        }
    }

    /// The style of a statement's time context.
    pub fn of(ctx: &'a TimeContext) -> OutputStyle<'a> {
        OutputStyle {
            zone: &ctx.zone,
            date_style: ctx.output.date_style,
            date_order: ctx.date_order,
            interval_style: ctx.output.interval_style,
            extra_float_digits: ctx.output.extra_float_digits,
        }
    }

    /// Whether day-first order applies (SQL and Postgres styles).
    pub(crate) fn day_first(&self) -> bool {
        self.date_order == DateOrder::Dmy
    }
}
