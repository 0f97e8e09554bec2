//! Region time zones from the system tz database (TZif files, RFC 8536).
//!
//! Guarantees: a zone is read once from the zoneinfo directory, by a name
//! looked up case-insensitively one path component at a time (the
//! canonical spelling is the one on disk), and never from outside that
//! directory (absolute names and `.`/`..` components are refused). A
//! loaded zone is immutable and shared (`Arc`) through a process-wide
//! cache. Instants after the file's last transition follow the POSIX TZ
//! footer (v2+), as PostgreSQL's tz code extends a zone with it.
//!
//! Not done: zones with leap seconds (`right/…`) are refused, as
//! PostgreSQL refuses them; a name that is not a file is not read as a
//! POSIX rule with daylight time here (fixed POSIX offsets are handled by
//! the caller). Malformed or truncated files are `None`, never a panic.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Where the tz database lives (Debian package `tzdata`).
const ZONEINFO_DIR: &str = "/usr/share/zoneinfo";

/// PostgreSQL refuses longer zone names (`TZ_STRLEN_MAX`).
const ZONE_NAME_BYTES_MAX: usize = 255;

/// The largest TZif file read; real ones are a few kilobytes. A larger
/// file is treated as malformed (the zone is unknown).
const TZIF_FILE_BYTES_MAX: u64 = 1 << 20;

const SECS_PER_DAY: i64 = 86_400;

/// One local time type: offset east of UTC, daylight flag, abbreviation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalType {
    pub utc_offset_secs: i32,
    pub is_dst: bool,
    pub abbreviation: String,
}

/// A region zone: its transitions (Unix seconds, ascending) and the local
/// time type in force from each, plus the POSIX rule for later instants.
#[derive(Debug, PartialEq, Eq)]
pub struct Region {
    name: String,
    transition_times: Vec<i64>,
    transition_types: Vec<usize>,
    types: Vec<LocalType>,
    footer: Option<PosixRule>,
}

/// A POSIX TZ rule (`EST5EDT,M3.2.0,M11.1.0`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct PosixRule {
    standard: LocalType,
    daylight: Option<DaylightRule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct DaylightRule {
    daylight: LocalType,
    start: RuleDate,
    /// Seconds after local midnight (standard time) when daylight starts.
    start_secs: i64,
    end: RuleDate,
    /// Seconds after local midnight (daylight time) when daylight ends.
    end_secs: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleDate {
    /// `Jn`: day 1..=365, February 29 never counted.
    JulianNoLeap(i64),
    /// `n`: day 0..=365, counting February 29.
    ZeroBased(i64),
    /// `Mm.w.d`: day `d` (0 = Sunday) of week `w` (5 = last) of month `m`.
    MonthWeekDay(i64, i64, i64),
}

impl Region {
    /// The canonical name (as spelled in the zoneinfo directory).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The local time type in force at `unix_secs`.
    pub fn type_at(&self, unix_secs: i64) -> &LocalType {
        let after = self.transition_times.partition_point(|&t| t <= unix_secs);
        if after == self.transition_times.len() {
            if let Some(footer) = &self.footer {
                return footer.type_at(unix_secs);
            }
        }
        if after == 0 {
            // RFC 8536: type 0 holds before the first transition.
            return &self.types[0];
        }
        &self.types[self.transition_types[after - 1]]
    }

    /// The first transition strictly after `unix_secs`: its time and the
    /// type in force from it.
    pub fn next_transition(&self, unix_secs: i64) -> Option<(i64, &LocalType)> {
        let after = self.transition_times.partition_point(|&t| t <= unix_secs);
        if let Some(&time) = self.transition_times.get(after) {
            return Some((time, &self.types[self.transition_types[after]]));
        }
        self.footer.as_ref()?.next_transition(unix_secs)
    }

    /// The offset PostgreSQL gives a wall-clock time (`local_secs`, Unix
    /// seconds read as if UTC), as `DetermineTimeZoneOffset` does: in a
    /// spring-forward gap the offset before the transition, in a
    /// fall-back overlap the offset after it.
    pub fn offset_for_local(&self, local_secs: i64) -> i32 {
        // Offsets are under a day and transitions over two days apart, so
        // the next transition after a day earlier is the one that matters.
        let previous = local_secs.saturating_sub(SECS_PER_DAY);
        let before = self.type_at(previous).utc_offset_secs;
        let Some((boundary, after_type)) = self.next_transition(previous) else {
            return before;
        };
        let after = after_type.utc_offset_secs;
        let before_time = local_secs - before as i64;
        let after_time = local_secs - after as i64;
        if before_time < boundary && after_time < boundary {
            before
        } else if before_time > boundary && after_time >= boundary {
            after
        } else if before_time > after_time {
            before
        } else {
            after
        }
    }
}

impl PosixRule {
    fn type_at(&self, unix_secs: i64) -> &LocalType {
        let Some(rule) = &self.daylight else {
            return &self.standard;
        };
        let year = year_of(unix_secs + self.standard.utc_offset_secs as i64);
        let mut latest: Option<(i64, bool)> = None;
        for y in year - 1..=year + 1 {
            for (time, is_dst) in self.transitions_in(rule, y) {
                if time <= unix_secs && latest.is_none_or(|(t, _)| time > t) {
                    latest = Some((time, is_dst));
                }
            }
        }
        match latest {
            Some((_, true)) => &rule.daylight,
            _ => &self.standard,
        }
    }

    fn next_transition(&self, unix_secs: i64) -> Option<(i64, &LocalType)> {
        let rule = self.daylight.as_ref()?;
        let year = year_of(unix_secs + self.standard.utc_offset_secs as i64);
        let mut next: Option<(i64, bool)> = None;
        for y in year - 1..=year + 2 {
            for (time, is_dst) in self.transitions_in(rule, y) {
                if time > unix_secs && next.is_none_or(|(t, _)| time < t) {
                    next = Some((time, is_dst));
                }
            }
        }
        next.map(|(time, is_dst)| {
            let local_type = if is_dst {
                &rule.daylight
            } else {
                &self.standard
            };
            (time, local_type)
        })
    }

    /// The two transitions of `year` in UTC: (time, daylight starts).
    fn transitions_in(&self, rule: &DaylightRule, year: i64) -> [(i64, bool); 2] {
        let start = rule_day(rule.start, year) * SECS_PER_DAY + rule.start_secs
            - self.standard.utc_offset_secs as i64;
        let end = rule_day(rule.end, year) * SECS_PER_DAY + rule.end_secs
            - rule.daylight.utc_offset_secs as i64;
        [(start, true), (end, false)]
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// The year of Unix seconds, close enough for choosing rule years.
fn year_of(unix_secs: i64) -> i64 {
    let days = unix_secs.div_euclid(SECS_PER_DAY);
    // Civil-from-days, year only.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(month <= 2)
}

/// Days since 1970-01-01 of a rule date in `year`.
fn rule_day(date: RuleDate, year: i64) -> i64 {
    let jan1 = days_from_civil(year, 1, 1);
    match date {
        RuleDate::JulianNoLeap(n) => {
            let leap_shift = i64::from(is_leap_year(year) && n >= 60);
            jan1 + n - 1 + leap_shift
        }
        RuleDate::ZeroBased(n) => jan1 + n,
        RuleDate::MonthWeekDay(month, week, weekday) => {
            let first = days_from_civil(year, month, 1);
            // 1970-01-01 was a Thursday (4).
            let first_weekday = (first + 4).rem_euclid(7);
            let mut day = first + (weekday - first_weekday).rem_euclid(7) + (week - 1) * 7;
            let next_month = if month == 12 {
                days_from_civil(year + 1, 1, 1)
            } else {
                days_from_civil(year, month + 1, 1)
            };
            while day >= next_month {
                day -= 7;
            }
            day
        }
    }
}

/// Reads a POSIX TZ string (RFC 8536 section 3.3, with the v3 extensions).
fn parse_posix_rule(text: &str) -> Option<PosixRule> {
    let mut p = PosixCursor {
        s: text.as_bytes(),
        i: 0,
    };
    let std_name = p.name()?;
    let std_west = p.offset(24 * 7)?;
    let standard = LocalType {
        utc_offset_secs: i32::try_from(-std_west).ok()?,
        is_dst: false,
        abbreviation: std_name,
    };
    if p.done() {
        return Some(PosixRule {
            standard,
            daylight: None,
        });
    }
    let dst_name = p.name()?;
    let dst_west = if p.peek().is_some_and(|b| b != b',') {
        p.offset(24 * 7)?
    } else {
        std_west - 3600
    };
    let daylight = LocalType {
        utc_offset_secs: i32::try_from(-dst_west).ok()?,
        is_dst: true,
        abbreviation: dst_name,
    };
    // Without a rule, the US rules PostgreSQL defaults to.
    let (start, start_secs, end, end_secs) = if p.done() {
        (
            RuleDate::MonthWeekDay(3, 2, 0),
            7200,
            RuleDate::MonthWeekDay(11, 1, 0),
            7200,
        )
    } else {
        p.expect(b',')?;
        let start = p.rule_date()?;
        let start_secs = p.rule_time()?;
        p.expect(b',')?;
        let end = p.rule_date()?;
        let end_secs = p.rule_time()?;
        (start, start_secs, end, end_secs)
    };
    if !p.done() {
        return None;
    }
    Some(PosixRule {
        standard,
        daylight: Some(DaylightRule {
            daylight,
            start,
            start_secs,
            end,
            end_secs,
        }),
    })
}

struct PosixCursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl PosixCursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.i += 1)
    }

    fn name(&mut self) -> Option<String> {
        let start = self.i;
        let text = if self.peek()? == b'<' {
            self.i += 1;
            let inner = self.i;
            while self.peek()? != b'>' {
                self.i += 1;
            }
            let text = &self.s[inner..self.i];
            self.i += 1;
            text
        } else {
            while self.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
                self.i += 1;
            }
            &self.s[start..self.i]
        };
        if text.len() < 3 {
            return None;
        }
        String::from_utf8(text.to_vec()).ok()
    }

    fn number(&mut self, max: i64) -> Option<i64> {
        let start = self.i;
        let mut value = 0i64;
        while let Some(b) = self.peek().filter(u8::is_ascii_digit) {
            value = value * 10 + i64::from(b - b'0');
            if value > max {
                return None;
            }
            self.i += 1;
        }
        (self.i > start).then_some(value)
    }

    /// `[+-]hh[:mm[:ss]]` in seconds, POSIX sign (west positive).
    fn offset(&mut self, hours_max: i64) -> Option<i64> {
        let sign = match self.peek()? {
            b'-' => {
                self.i += 1;
                -1
            }
            b'+' => {
                self.i += 1;
                1
            }
            _ => 1,
        };
        let mut secs = self.number(hours_max)? * 3600;
        if self.peek() == Some(b':') {
            self.i += 1;
            secs += self.number(59)? * 60;
            if self.peek() == Some(b':') {
                self.i += 1;
                secs += self.number(59)?;
            }
        }
        Some(sign * secs)
    }

    fn rule_date(&mut self) -> Option<RuleDate> {
        match self.peek()? {
            b'J' => {
                self.i += 1;
                let n = self.number(365)?;
                (n >= 1).then_some(RuleDate::JulianNoLeap(n))
            }
            b'M' => {
                self.i += 1;
                let month = self.number(12)?;
                self.expect(b'.')?;
                let week = self.number(5)?;
                self.expect(b'.')?;
                let weekday = self.number(6)?;
                (month >= 1 && week >= 1).then_some(RuleDate::MonthWeekDay(month, week, weekday))
            }
            _ => Some(RuleDate::ZeroBased(self.number(365)?)),
        }
    }

    fn rule_time(&mut self) -> Option<i64> {
        if self.peek() == Some(b'/') {
            self.i += 1;
            self.offset(167)
        } else {
            Some(7200)
        }
    }
}

/// Reads big-endian integers from a byte slice; `None` past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let slice = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(slice)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
}

struct Header {
    version: u8,
    isut_count: usize,
    isstd_count: usize,
    leap_count: usize,
    time_count: usize,
    type_count: usize,
    char_count: usize,
}

fn read_header(r: &mut Reader) -> Option<Header> {
    if r.take(4)? != b"TZif" {
        return None;
    }
    let version = r.take(1)?[0];
    r.take(15)?;
    let mut count = || r.u32().map(|c| c as usize);
    Some(Header {
        version,
        isut_count: count()?,
        isstd_count: count()?,
        leap_count: count()?,
        time_count: count()?,
        type_count: count()?,
        char_count: count()?,
    })
}

/// Parses a TZif file (v1, v2, v3 or v4). `None` when malformed, when it
/// uses leap seconds, or when it has no local time type.
pub fn parse_tzif(name: &str, bytes: &[u8]) -> Option<Region> {
    let mut r = Reader { bytes, at: 0 };
    let v1 = read_header(&mut r)?;
    let (header, time_size) = if v1.version >= b'2' {
        // Skip the 32-bit block; the 64-bit one that follows is complete.
        let v1_len = [
            v1.time_count.checked_mul(5)?,
            v1.type_count.checked_mul(6)?,
            v1.char_count,
            v1.leap_count.checked_mul(8)?,
            v1.isstd_count,
            v1.isut_count,
        ]
        .into_iter()
        .try_fold(0usize, usize::checked_add)?;
        r.take(v1_len)?;
        (read_header(&mut r)?, 8)
    } else {
        (v1, 4)
    };
    if header.type_count == 0 || header.leap_count != 0 {
        return None;
    }
    let mut transition_times = Vec::with_capacity(header.time_count.min(bytes.len()));
    for _ in 0..header.time_count {
        let time = if time_size == 8 {
            r.i64()?
        } else {
            i64::from(r.i32()?)
        };
        if transition_times.last().is_some_and(|&last| time <= last) {
            return None;
        }
        transition_times.push(time);
    }
    let transition_types: Vec<usize> = r
        .take(header.time_count)?
        .iter()
        .map(|&t| t as usize)
        .collect();
    if transition_types.iter().any(|&t| t >= header.type_count) {
        return None;
    }
    let mut raw_types = Vec::with_capacity(header.type_count.min(bytes.len()));
    for _ in 0..header.type_count {
        let utc_offset_secs = r.i32()?;
        let flags = r.take(2)?;
        // RFC 8536 limits offsets to under a day either way.
        if utc_offset_secs <= -89_999 || utc_offset_secs >= 93_600 || flags[0] > 1 {
            return None;
        }
        raw_types.push((utc_offset_secs, flags[0] == 1, flags[1] as usize));
    }
    let chars = r.take(header.char_count)?;
    let mut types = Vec::with_capacity(raw_types.len());
    for (utc_offset_secs, is_dst, index) in raw_types {
        let rest = chars.get(index..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        types.push(LocalType {
            utc_offset_secs,
            is_dst,
            abbreviation: String::from_utf8(rest[..end].to_vec()).ok()?,
        });
    }
    r.take(header.isstd_count)?;
    r.take(header.isut_count)?;
    let footer = if time_size == 8 {
        let rest = &bytes[r.at..];
        if rest.first() != Some(&b'\n') {
            return None;
        }
        let end = rest[1..].iter().position(|&b| b == b'\n')?;
        let text = std::str::from_utf8(&rest[1..1 + end]).ok()?;
        if text.is_empty() {
            None
        } else {
            Some(parse_posix_rule(text)?)
        }
    } else {
        None
    };
    Some(Region {
        name: name.to_string(),
        transition_times,
        transition_types,
        types,
        footer,
    })
}

/// Finds `name` under `dir` case-insensitively, a component at a time,
/// preferring an exact match; returns the path and the canonical name.
fn find_zone_file(dir: &Path, name: &str) -> Option<(PathBuf, String)> {
    if name.is_empty()
        || name.len() > ZONE_NAME_BYTES_MAX
        || name.starts_with('/')
        || name.contains('\0')
        || name.contains('\\')
    {
        return None;
    }
    let mut path = dir.to_path_buf();
    let mut canonical = Vec::new();
    for component in name.split('/') {
        if component.is_empty() || component == "." || component == ".." {
            return None;
        }
        let exact = path.join(component);
        let found = if exact.exists() {
            component.to_string()
        } else {
            std::fs::read_dir(&path)
                .ok()?
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .find(|entry| entry.eq_ignore_ascii_case(component))?
        };
        path.push(&found);
        canonical.push(found);
    }
    Some((path, canonical.join("/")))
}

/// Loads a zone from `dir`; `None` when missing or malformed.
fn load_from(dir: &Path, name: &str) -> Option<Region> {
    let (path, canonical) = find_zone_file(dir, name)?;
    let metadata = std::fs::metadata(&path).ok()?;
    if !metadata.is_file() || metadata.len() > TZIF_FILE_BYTES_MAX {
        return None;
    }
    let bytes = std::fs::read(&path).ok()?;
    parse_tzif(&canonical, &bytes)
}

/// The region zone `name` from the system tz database, loaded once and
/// shared. `None` when there is no such zone or its file is malformed.
pub fn region(name: &str) -> Option<Arc<Region>> {
    /// Loaded zones by lower-case name. Only zones that loaded are kept,
    /// so the map is bounded by the number of files in the database.
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Region>>>> = OnceLock::new();
    let key = name.to_ascii_lowercase();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(zone) = cache.lock().ok()?.get(&key) {
        return Some(zone.clone());
    }
    let zone = Arc::new(load_from(Path::new(ZONEINFO_DIR), name)?);
    cache.lock().ok()?.insert(key, zone.clone());
    Some(zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix(y: i64, mo: i64, d: i64, h: i64, mi: i64) -> i64 {
        days_from_civil(y, mo, d) * SECS_PER_DAY + h * 3600 + mi * 60
    }

    fn new_york() -> Region {
        let bytes = std::fs::read("/usr/share/zoneinfo/America/New_York")
            .expect("tzdata is installed (scripts/test.sh)");
        parse_tzif("America/New_York", &bytes).expect("a valid TZif file")
    }

    #[test]
    fn real_file_transitions_around_dst() {
        let zone = new_york();
        // 2024-03-10 07:00 UTC is 02:00 EST -> 03:00 EDT.
        let spring = unix(2024, 3, 10, 7, 0);
        assert_eq!(zone.type_at(spring - 1).abbreviation, "EST");
        assert_eq!(zone.type_at(spring - 1).utc_offset_secs, -18000);
        assert_eq!(zone.type_at(spring).abbreviation, "EDT");
        assert!(zone.type_at(spring).is_dst);
        assert_eq!(zone.next_transition(spring - 10).map(|t| t.0), Some(spring));
        // Gap: 02:30 takes the offset before; overlap: 01:30 the one after.
        assert_eq!(zone.offset_for_local(unix(2024, 3, 10, 2, 30)), -18000);
        assert_eq!(zone.offset_for_local(unix(2024, 11, 3, 1, 30)), -18000);
        assert_eq!(zone.offset_for_local(unix(2024, 7, 1, 12, 0)), -14400);
        // Before any transition: local mean time.
        assert_eq!(zone.type_at(unix(1800, 1, 1, 0, 0)).abbreviation, "LMT");
    }

    #[test]
    fn footer_rule_decides_far_future() {
        let zone = new_york();
        let summer = zone.type_at(unix(2300, 7, 4, 12, 0));
        assert_eq!(
            (summer.utc_offset_secs, summer.abbreviation.as_str()),
            (-14400, "EDT")
        );
        let winter = zone.type_at(unix(2300, 1, 4, 12, 0));
        assert_eq!(
            (winter.utc_offset_secs, winter.abbreviation.as_str()),
            (-18000, "EST")
        );
        // 2300-03-11 is the second Sunday of March.
        let spring = unix(2300, 3, 11, 7, 0);
        assert_eq!(zone.type_at(spring - 1).abbreviation, "EST");
        assert_eq!(zone.type_at(spring).abbreviation, "EDT");
        let rule = parse_posix_rule("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0").unwrap();
        let january = rule.type_at(unix(2300, 1, 15, 0, 0));
        assert_eq!((january.utc_offset_secs, january.is_dst), (39600, true));
        assert_eq!(rule.type_at(unix(2300, 6, 15, 0, 0)).utc_offset_secs, 37800);
    }

    #[test]
    fn malformed_files_are_refused_without_panic() {
        let bytes = std::fs::read("/usr/share/zoneinfo/Europe/Berlin").unwrap();
        assert!(parse_tzif("Europe/Berlin", &bytes).is_some());
        for len in 0..bytes.len() {
            assert!(
                parse_tzif("x", &bytes[..len]).is_none(),
                "truncated at {len}"
            );
        }
        let mut bad_magic = bytes.clone();
        bad_magic[0] = b'X';
        assert!(parse_tzif("x", &bad_magic).is_none());
        assert!(parse_tzif("x", b"TZif2").is_none());
        let mut huge_count = bytes.clone();
        huge_count[32..36].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse_tzif("x", &huge_count).is_none());
        assert!(parse_posix_rule("EST5EDT,M3.2.0").is_none());
        assert!(parse_posix_rule("E5").is_none());
    }

    #[test]
    fn names_stay_inside_the_zoneinfo_directory() {
        let dir = Path::new(ZONEINFO_DIR);
        assert_eq!(
            find_zone_file(dir, "america/new_york").map(|f| f.1),
            Some("America/New_York".to_string())
        );
        for bad in [
            "../etc/passwd",
            "/etc/passwd",
            "America/../../etc/passwd",
            "",
            "a//b",
        ] {
            assert!(find_zone_file(dir, bad).is_none(), "{bad}");
        }
        assert!(region("Foo/Bar").is_none());
        assert!(region("zone.tab").is_none());
        let a = region("EUROPE/berlin").unwrap();
        let b = region("Europe/Berlin").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.name(), "Europe/Berlin");
    }
}
