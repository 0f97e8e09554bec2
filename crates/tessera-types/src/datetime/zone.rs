//! Time zones: fixed offsets from UTC and region zones of the tz database.
//!
//! What is supported, and how names are read, follows PostgreSQL:
//! - `SET TimeZone` takes a number of hours (`2`, `-5.5`, east positive,
//!   shown as `<+02>-02`), a UTC alias (`UTC`, `Etc/UTC`, `GMT`, `Zulu`…),
//!   a fixed `Etc/GMT±N` zone (POSIX sign: `Etc/GMT+5` is UTC-5), the fixed
//!   zones `EST`, `MST`, `HST`, a region zone of the tz database
//!   (`Europe/Berlin`, `EST5EDT`, read by [`super::tzfile`]), or a POSIX
//!   offset like `UTC+3` or `+02:30` (POSIX sign again: west positive).
//! - Timestamp input and `AT TIME ZONE` also accept PostgreSQL's default
//!   abbreviations with fixed offsets (`PST`, `CET`, `Z`…).
//!
//! A region zone's offset depends on the instant: UTC to local time uses
//! the offset in force then; a wall-clock time in a daylight-saving gap or
//! overlap resolves as PostgreSQL's `DetermineTimeZoneOffset` does. A zone
//! is cheap to clone (a region is shared behind an `Arc`). POSIX rules
//! with daylight time that are not files of the tz database are refused.

use std::sync::Arc;

use super::tzfile::{self, Region};
use crate::error::Error;
use crate::sqlstate;

use super::{is_finite_timestamp, is_valid_timestamp, out_of_range, USECS_PER_SEC};

/// A time zone: a fixed offset, or a region with a history of offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZone {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Seconds east of UTC (ISO sign).
    Fixed(i32),
    Region(Arc<Region>),
}

impl PartialEq for Kind {
    fn eq(&self, other: &Kind) -> bool {
        match (self, other) {
            (Kind::Fixed(a), Kind::Fixed(b)) => a == b,
            (Kind::Region(a), Kind::Region(b)) => a.name() == b.name(),
            _ => false,
        }
    }
}

impl Eq for Kind {}

impl Default for TimeZone {
    fn default() -> TimeZone {
        TimeZone::UTC
    }
}

/// Microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01.
const UNIX_TO_POSTGRES_EPOCH_SECS: i64 = 946_684_800;

/// Unix seconds of a (finite) timestamp in microseconds since 2000.
fn unix_secs(ts: i64) -> i64 {
    ts.div_euclid(USECS_PER_SEC) + UNIX_TO_POSTGRES_EPOCH_SECS
}

/// PostgreSQL accepts offsets up to 15:59:59 in input (`MAX_TZDISP_HOUR`).
const OFFSET_HOURS_MAX: i32 = 15;

/// The UTC aliases of the tz database, in their canonical spelling.
const UTC_NAMES: &[&str] = &[
    "UTC",
    "Etc/UTC",
    "UCT",
    "Etc/UCT",
    "GMT",
    "Etc/GMT",
    "GMT0",
    "Etc/GMT0",
    "GMT+0",
    "Etc/GMT+0",
    "GMT-0",
    "Etc/GMT-0",
    "Greenwich",
    "Etc/Greenwich",
    "Universal",
    "Etc/Universal",
    "Zulu",
    "Etc/Zulu",
];

/// tz database zones that are fixed offsets: name and seconds east.
const FIXED_NAMES: &[(&str, i32)] = &[("EST", -18000), ("MST", -25200), ("HST", -36000)];

/// PostgreSQL's default time zone abbreviations (`timezonesets/Default`)
/// that are fixed offsets: lower-case name, seconds east, daylight time.
/// Abbreviations PostgreSQL resolves through a zone's history (`MSK`) are
/// left out.
const ABBREVIATIONS: &[(&str, i32, bool)] = &[
    ("acdt", 37800, true),
    ("acsst", 37800, true),
    ("acst", 34200, false),
    ("act", -18000, false),
    ("acwst", 31500, false),
    ("adt", -10800, true),
    ("aedt", 39600, true),
    ("aesst", 39600, true),
    ("aest", 36000, false),
    ("aft", 16200, false),
    ("akdt", -28800, true),
    ("akst", -32400, false),
    ("almst", 25200, true),
    ("almt", 21600, false),
    ("amt", -14400, false),
    ("ast", -14400, false),
    ("awsst", 32400, true),
    ("awst", 28800, false),
    ("azost", 0, true),
    ("azot", -3600, false),
    ("bdst", 7200, true),
    ("bdt", 21600, false),
    ("bnt", 28800, false),
    ("bort", 28800, false),
    ("bot", -14400, false),
    ("bra", -10800, false),
    ("brst", -7200, true),
    ("brt", -10800, false),
    ("bst", 3600, true),
    ("btt", 21600, false),
    ("cadt", 37800, true),
    ("cast", 34200, false),
    ("cct", 28800, false),
    ("cdt", -18000, true),
    ("cest", 7200, true),
    ("cet", 3600, false),
    ("cetdst", 7200, true),
    ("chadt", 49500, true),
    ("chast", 45900, false),
    ("chut", 36000, false),
    ("clst", -10800, true),
    ("cot", -18000, false),
    ("cst", -21600, false),
    ("cxt", 25200, false),
    ("ddut", 36000, false),
    ("eat", 10800, false),
    ("edt", -14400, true),
    ("eest", 10800, true),
    ("eet", 7200, false),
    ("eetdst", 10800, true),
    ("egst", 0, true),
    ("egt", -3600, false),
    ("est", -18000, false),
    ("fet", 10800, false),
    ("fjst", 46800, true),
    ("fjt", 43200, false),
    ("fnst", -3600, true),
    ("fnt", -7200, false),
    ("galt", -21600, false),
    ("gamt", -32400, false),
    ("gft", -10800, false),
    ("gilt", 43200, false),
    ("gmt", 0, false),
    ("hkt", 28800, false),
    ("hst", -36000, false),
    ("ict", 25200, false),
    ("idt", 10800, true),
    ("irt", 12600, false),
    ("ist", 7200, false),
    ("jayt", 32400, false),
    ("jst", 32400, false),
    ("kdt", 36000, true),
    ("kgst", 21600, true),
    ("kst", 32400, false),
    ("lhst", 37800, false),
    ("ligt", 36000, false),
    ("mart", -34200, false),
    ("mdt", -21600, true),
    ("mest", 7200, true),
    ("mesz", 7200, true),
    ("met", 3600, false),
    ("metdst", 7200, true),
    ("mez", 3600, false),
    ("mht", 43200, false),
    ("mmt", 23400, false),
    ("mpt", 36000, false),
    ("msd", 14400, true),
    ("mst", -25200, false),
    ("must", 18000, true),
    ("mut", 14400, false),
    ("mvt", 18000, false),
    ("myt", 28800, false),
    ("ndt", -9000, true),
    ("nft", -12600, false),
    ("npt", 20700, false),
    ("nst", -12600, false),
    ("nzdt", 46800, true),
    ("nzst", 43200, false),
    ("nzt", 43200, false),
    ("pdt", -25200, true),
    ("pet", -18000, false),
    ("pgt", 36000, false),
    ("pht", 28800, false),
    ("pkst", 21600, true),
    ("pkt", 18000, false),
    ("pmdt", -7200, true),
    ("pmst", -10800, false),
    ("pont", 39600, false),
    ("pst", -28800, false),
    ("pwt", 32400, false),
    ("pyst", -10800, true),
    ("ret", 14400, false),
    ("sadt", 37800, true),
    ("sast", 7200, false),
    ("sct", 14400, false),
    ("taht", -36000, false),
    ("tft", 18000, false),
    ("tjt", 18000, false),
    ("tot", 46800, false),
    ("trut", 36000, false),
    ("tvt", 43200, false),
    ("uct", 0, false),
    ("ulast", 32400, true),
    ("ut", 0, false),
    ("utc", 0, false),
    ("uyst", -7200, true),
    ("uyt", -10800, false),
    ("uzst", 21600, true),
    ("uzt", 18000, false),
    ("vut", 39600, false),
    ("wadt", 28800, true),
    ("wakt", 43200, false),
    ("wast", 25200, false),
    ("wat", 3600, false),
    ("wdt", 32400, true),
    ("wet", 0, false),
    ("wetdst", 3600, true),
    ("wft", 43200, false),
    ("wgst", -7200, true),
    ("wgt", -10800, false),
    ("xjt", 21600, false),
    ("yapt", 36000, false),
    ("yekst", 21600, true),
    ("z", 0, false),
    ("zulu", 0, false),
];

impl TimeZone {
    pub const UTC: TimeZone = TimeZone {
        kind: Kind::Fixed(0),
    };

    /// A zone `offset_secs` east of UTC.
    pub fn fixed(offset_secs: i32) -> TimeZone {
        TimeZone {
            kind: Kind::Fixed(offset_secs),
        }
    }

    /// The offset of a fixed zone, seconds east; `None` for a region.
    pub fn fixed_offset(&self) -> Option<i32> {
        match self.kind {
            Kind::Fixed(offset) => Some(offset),
            Kind::Region(_) => None,
        }
    }

    /// Seconds east of UTC in force at the instant `utc` (finite, in
    /// microseconds since 2000).
    pub fn offset_at_utc(&self, utc: i64) -> i32 {
        match &self.kind {
            Kind::Fixed(offset) => *offset,
            Kind::Region(region) => region.type_at(unix_secs(utc)).utc_offset_secs,
        }
    }

    /// Seconds east of UTC PostgreSQL gives the wall-clock time `local`
    /// in this zone: in a daylight-saving gap the offset before the
    /// change, in an overlap the offset after it.
    pub fn offset_for_local(&self, local: i64) -> i32 {
        match &self.kind {
            Kind::Fixed(offset) => *offset,
            Kind::Region(region) => region.offset_for_local(unix_secs(local)),
        }
    }

    /// The offset of the wall-clock time `time` (microseconds into a day)
    /// on today's date in this zone, today being the date at the instant
    /// `now`: what PostgreSQL gives a `timetz` made from a bare time.
    pub fn offset_for_time_today(&self, time: i64, now: i64) -> i32 {
        if let Kind::Fixed(offset) = self.kind {
            return offset;
        }
        let today =
            (now + self.offset_at_utc(now) as i64 * USECS_PER_SEC).div_euclid(super::USECS_PER_DAY);
        self.offset_for_local(today * super::USECS_PER_DAY + time)
    }

    /// The abbreviation of a region zone at the instant `utc` (`EDT`);
    /// `None` for a fixed offset.
    pub fn abbreviation_at_utc(&self, utc: i64) -> Option<&str> {
        match &self.kind {
            Kind::Fixed(_) => None,
            Kind::Region(region) => Some(&region.type_at(unix_secs(utc)).abbreviation),
        }
    }

    /// The wall-clock time in this zone of a UTC timestamp; infinities stay.
    pub fn to_local(&self, utc: i64) -> Result<i64, Error> {
        if !is_finite_timestamp(utc) {
            return Ok(utc);
        }
        let local = utc + self.offset_at_utc(utc) as i64 * USECS_PER_SEC;
        if is_valid_timestamp(local) {
            Ok(local)
        } else {
            Err(out_of_range("timestamp"))
        }
    }

    /// The UTC timestamp of a wall-clock time in this zone; infinities stay.
    pub fn to_utc(&self, local: i64) -> Result<i64, Error> {
        if !is_finite_timestamp(local) {
            return Ok(local);
        }
        let utc = local - self.offset_for_local(local) as i64 * USECS_PER_SEC;
        if is_valid_timestamp(utc) {
            Ok(utc)
        } else {
            Err(out_of_range("timestamp"))
        }
    }

    /// Reads a `SET TimeZone` value as PostgreSQL does: a number of hours
    /// first, then a zone name. Returns the zone and the value `SHOW`
    /// reports (`<+02>-02` for `2`, the canonical spelling of a name).
    pub fn parse_setting(value: &str) -> Result<(TimeZone, String), Error> {
        let trimmed = value.trim();
        if let Some(hours) = parse_c_double(trimmed) {
            let seconds = (hours * 3600.0).round();
            // PostgreSQL refuses offsets of a week or more (the POSIX limit).
            if seconds.abs() >= 168.0 * 3600.0 {
                return Err(Error::new(
                    sqlstate::INVALID_PARAMETER_VALUE,
                    format!("invalid value for parameter \"TimeZone\": \"{value}\""),
                )
                .with_detail("UTC timezone offset is out of range."));
            }
            let zone = TimeZone::fixed(seconds as i32);
            let shown = zone.posix_name();
            return Ok((zone, shown));
        }
        match named_zone(trimmed) {
            Some((zone, canonical)) => Ok((zone, canonical)),
            None => Err(invalid_setting(value)),
        }
    }

    /// The zone an `AT TIME ZONE` argument or a zone word in timestamp input
    /// names: an abbreviation first, then a zone name, as PostgreSQL looks
    /// them up. `None` when unknown.
    pub fn lookup(name: &str) -> Option<TimeZone> {
        let lower = name.to_ascii_lowercase();
        if let Some((offset, _)) = abbreviation(&lower) {
            return Some(TimeZone::fixed(offset));
        }
        named_zone(name).map(|(zone, _)| zone)
    }

    /// The POSIX name PostgreSQL gives a numeric offset: `<+02>-02`,
    /// `<-05:30>+05:30`.
    fn posix_name(&self) -> String {
        let offset = self.offset_at_utc(0);
        let mut east = String::new();
        super::format::write_offset(&mut east, offset, false);
        let mut west = String::new();
        super::format::write_offset(&mut west, -offset, false);
        format!("<{east}>{west}")
    }
}

/// Between nodes a zone travels as its offset or its region's name, and
/// the receiver loads the region again (a node without it refuses the
/// message rather than evaluate in another zone).
#[derive(serde::Serialize, serde::Deserialize)]
enum ZoneWire {
    Fixed(i32),
    Region(String),
}

impl serde::Serialize for TimeZone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match &self.kind {
            Kind::Fixed(offset) => ZoneWire::Fixed(*offset),
            Kind::Region(region) => ZoneWire::Region(region.name().to_string()),
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for TimeZone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<TimeZone, D::Error> {
        match ZoneWire::deserialize(d)? {
            ZoneWire::Fixed(offset) => Ok(TimeZone::fixed(offset)),
            ZoneWire::Region(name) => match tzfile::region(&name) {
                Some(region) => Ok(TimeZone {
                    kind: Kind::Region(region),
                }),
                None => Err(serde::de::Error::custom(format!(
                    "time zone \"{name}\" is not known here"
                ))),
            },
        }
    }
}

fn invalid_setting(value: &str) -> Error {
    Error::new(
        sqlstate::INVALID_PARAMETER_VALUE,
        format!("invalid value for parameter \"TimeZone\": \"{value}\""),
    )
}

/// A fixed-offset abbreviation from PostgreSQL's default set: seconds east
/// and whether it names daylight time. `lower` must be lower case.
pub fn abbreviation(lower: &str) -> Option<(i32, bool)> {
    ABBREVIATIONS
        .binary_search_by(|(name, _, _)| (*name).cmp(lower))
        .ok()
        .map(|i| (ABBREVIATIONS[i].1, ABBREVIATIONS[i].2))
}

/// A zone name as the tz database would resolve it (case-insensitively):
/// the zone and its canonical spelling.
fn named_zone(name: &str) -> Option<(TimeZone, String)> {
    if let Some(canonical) = UTC_NAMES.iter().find(|n| n.eq_ignore_ascii_case(name)) {
        return Some((TimeZone::UTC, canonical.to_string()));
    }
    if let Some((canonical, offset)) = FIXED_NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        return Some((TimeZone::fixed(*offset), canonical.to_string()));
    }
    // Etc/GMT-14 … Etc/GMT+12, with the POSIX sign (GMT+5 is five hours
    // west). Other spellings read as POSIX offsets below, as in PostgreSQL.
    if name.len() > 8 && name.is_char_boundary(7) && name[..7].eq_ignore_ascii_case("etc/gmt") {
        let sign = match name.as_bytes()[7] {
            b'+' => -1,
            b'-' => 1,
            _ => 0,
        };
        let digits = &name[8..];
        if sign != 0
            && (1..=2).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
        {
            let hours: i32 = digits.parse().ok()?;
            if (sign < 0 && hours <= 12) || (sign > 0 && hours <= 14) {
                return Some((
                    TimeZone::fixed(sign * hours * 3600),
                    format!("Etc/GMT{}{hours}", if sign < 0 { '+' } else { '-' }),
                ));
            }
        }
    }
    if let Some(region) = tzfile::region(name) {
        let canonical = region.name().to_string();
        return Some((
            TimeZone {
                kind: Kind::Region(region),
            },
            canonical,
        ));
    }
    posix_offset(name).map(|zone| (zone, name.to_ascii_uppercase()))
}

/// A POSIX time zone without daylight time, as PostgreSQL's tz code reads
/// one: a name (anything up to a digit or sign, possibly empty, or any
/// text between `<` and `>`), then an offset `[+-]h[h[h]][:mm[:ss]]` *west*
/// of UTC: `UTC+3` is three hours west. Text after the offset would be a
/// daylight-time rule, which is not supported.
fn posix_offset(spec: &str) -> Option<TimeZone> {
    let rest = if let Some(inner) = spec.strip_prefix('<') {
        let close = inner.find('>')?;
        &inner[close + 1..]
    } else {
        let end = spec
            .find(|c: char| c.is_ascii_digit() || matches!(c, ',' | '-' | '+'))
            .unwrap_or(spec.len());
        &spec[end..]
    };
    let (west_sign, body) = match rest.as_bytes().first()? {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => (1, rest),
    };
    let mut seconds = 0i32;
    let mut parts = body.split(':');
    for (i, (unit, part)) in [3600, 60, 1].into_iter().zip(&mut parts).enumerate() {
        let digits_max = if i == 0 { 3 } else { 2 };
        if part.is_empty() || part.len() > digits_max || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v: i32 = part.parse().ok()?;
        if unit != 3600 && v > 59 {
            return None;
        }
        seconds += v * unit;
    }
    // Hours past a week are not a POSIX offset; seconds PostgreSQL refuses
    // ("appears to use leap seconds").
    if parts.next().is_some() || seconds >= 168 * 3600 || seconds % 60 != 0 {
        return None;
    }
    Some(TimeZone::fixed(-west_sign * seconds))
}

/// `strtod` accepting the whole string: a decimal number, optionally signed.
fn parse_c_double(text: &str) -> Option<f64> {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let valid = !body.is_empty()
        && body.bytes().any(|b| b.is_ascii_digit())
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && body.as_bytes()[0] != b'e'
        && body.as_bytes()[0] != b'E';
    if !valid {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Checks a numeric zone displacement of timestamp input (`+hh`, `+hhmm`,
/// `+hh:mm[:ss]`): seconds east, or `None` past PostgreSQL's limit of 15
/// hours or with a minute or second field out of range.
pub(crate) fn displacement_limit_ok(hours: i64, minutes: i64, seconds: i64) -> bool {
    (0..=OFFSET_HOURS_MAX as i64).contains(&hours)
        && (0..60).contains(&minutes)
        && (0..60).contains(&seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(value: &str) -> (i32, String) {
        let (zone, shown) = TimeZone::parse_setting(value).unwrap();
        (zone.offset_at_utc(0), shown)
    }

    #[test]
    fn abbreviations_are_sorted_for_binary_search() {
        assert!(ABBREVIATIONS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(abbreviation("pst"), Some((-28800, false)));
        assert_eq!(abbreviation("cest"), Some((7200, true)));
        assert_eq!(abbreviation("msk"), None);
    }

    #[test]
    fn settings_read_like_postgres() {
        assert_eq!(setting("UTC"), (0, "UTC".into()));
        assert_eq!(setting("utc"), (0, "UTC".into()));
        assert_eq!(setting("etc/utc"), (0, "Etc/UTC".into()));
        assert_eq!(setting("2"), (7200, "<+02>-02".into()));
        assert_eq!(setting("-5.5"), (-19800, "<-05:30>+05:30".into()));
        assert_eq!(setting("+02:30"), (-9000, "+02:30".into()));
        assert_eq!(setting("UTC+3"), (-10800, "UTC+3".into()));
        assert_eq!(setting("<+0530>-05:30"), (19800, "<+0530>-05:30".into()));
        assert_eq!(setting("Etc/GMT+5"), (-18000, "Etc/GMT+5".into()));
        assert_eq!(setting("etc/gmt-14"), (50400, "Etc/GMT-14".into()));
        assert_eq!(setting("EST"), (-18000, "EST".into()));
        assert_eq!(setting("zulu"), (0, "Zulu".into()));
        assert_eq!(
            TimeZone::parse_setting("europe/BERLIN").unwrap().1,
            "Europe/Berlin"
        );
        assert_eq!(setting("utc+3"), (-10800, "UTC+3".into()));
        assert_eq!(setting("Etc/GMT+13"), (-46800, "ETC/GMT+13".into()));
        assert_eq!(setting("XY+3"), (-10800, "XY+3".into()));
        assert_eq!(setting("UTC+167"), (-167 * 3600, "UTC+167".into()));
        assert_eq!(setting("2:30"), (-9000, "2:30".into()));
        assert_eq!(setting("+2"), (7200, "<+02>-02".into()));
        assert_eq!(setting("1e1"), (36000, "<+10>-10".into()));
        assert_eq!(setting("167"), (167 * 3600, "<+167>-167".into()));
        for bad in [
            "foo",
            "Z",
            "PST",
            "Foo/Bar",
            "../../etc/passwd",
            "UTC+02:30:15",
            "UTC+168",
            "168",
            "200",
            "",
        ] {
            let error = TimeZone::parse_setting(bad).unwrap_err();
            assert_eq!(error.code, sqlstate::INVALID_PARAMETER_VALUE, "{bad}");
        }
    }

    #[test]
    fn lookups_try_abbreviations_then_names() {
        assert_eq!(
            TimeZone::lookup("PST").map(|z| z.offset_at_utc(0)),
            Some(-28800)
        );
        assert_eq!(
            TimeZone::lookup("+02").map(|z| z.offset_at_utc(0)),
            Some(-7200)
        );
        assert_eq!(
            TimeZone::lookup("Zulu").map(|z| z.offset_at_utc(0)),
            Some(0)
        );
        let new_york = TimeZone::lookup("america/new_york").unwrap();
        // 2024-07-01 12:00 UTC and 2024-01-01 12:00 UTC, microseconds since 2000.
        let summer = 773_150_400 * USECS_PER_SEC;
        let winter = 757_425_600 * USECS_PER_SEC;
        assert_eq!(new_york.offset_at_utc(summer), -14400);
        assert_eq!(new_york.offset_at_utc(winter), -18000);
        assert_eq!(new_york.abbreviation_at_utc(summer), Some("EDT"));
        assert_eq!(TimeZone::lookup("Foo/Bar"), None);
    }
}
