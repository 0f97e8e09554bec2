//! SQL-level cursors: `DECLARE`, `FETCH`, `MOVE`, `CLOSE` and `pg_cursors`.
//!
//! A cursor's query runs once, when it is declared, and its rows are kept
//! in the session: that is the snapshot of that moment, as PostgreSQL's
//! cursor sees (even under READ COMMITTED), and WITH HOLD needs no more
//! work at COMMIT. FETCH and MOVE then walk the kept rows with the state
//! machine of PostgreSQL's `DoPortalRunFetch` and `PortalRunSelect`
//! (`at_start`, `at_end`, `portal_pos` and the row the scan is on), so
//! every direction counts, moves and refuses as PostgreSQL's does.
//!
//! The rows a session's cursors hold are bounded by
//! [`CURSOR_BYTES_MAX`] (54000 past it) and their number by
//! [`CURSORS_MAX`]. A cursor without HOLD ends with its transaction; a
//! held one survives COMMIT, and goes if the transaction that declared it
//! rolls back; all end with the session.
//!
//! What differs from PostgreSQL: the query runs to its end at DECLARE, so
//! an error in a later row fails the DECLARE rather than the FETCH that
//! would reach it, and volatile functions run for every row at once.

use std::collections::BTreeMap;

use tessera_types::{sqlstate, Error, Result, Value};

use crate::engine::ColumnDesc;
use crate::rows::Rows;

/// The most bytes (estimated, see [`row_bytes`]) the rows of one
/// session's cursors may hold together; a DECLARE that would pass it fails
/// with 54000 and holds nothing.
pub const CURSOR_BYTES_MAX: usize = 64 << 20;

/// The most cursors one session may have open; one more fails with 54000.
pub const CURSORS_MAX: usize = 1000;

/// `FETCH ALL`: PostgreSQL's `FETCH_ALL`.
pub const FETCH_ALL: i64 = i64::MAX;

/// Where FETCH or MOVE goes, as PostgreSQL's grammar reduces it: NEXT is
/// `Forward(1)`, PRIOR `Backward(1)`, FIRST `Absolute(1)`, LAST
/// `Absolute(-1)`, `n` and ALL are `Forward`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FetchDirection {
    Forward(i64),
    Backward(i64),
    Absolute(i64),
    Relative(i64),
}

/// DECLARE's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct CursorOptions {
    pub binary: bool,
    /// `Some(true)` for SCROLL, `Some(false)` for NO SCROLL, `None` when
    /// neither was said (the plan decides).
    pub scroll: Option<bool>,
    pub hold: bool,
}

/// A cursor statement, parsed (see `crate::parser`).
#[derive(Debug, Clone, PartialEq)]
pub enum CursorCommand {
    /// DECLARE: its query is the parsed statement.
    Declare {
        name: String,
        options: CursorOptions,
    },
    /// FETCH (`move_only` false) or MOVE.
    Fetch {
        name: String,
        direction: FetchDirection,
        move_only: bool,
    },
}

/// One open cursor.
#[derive(Debug, Clone)]
pub struct Cursor {
    /// The text of the statement that declared it, as `pg_cursors` shows.
    pub statement: String,
    pub columns: Vec<ColumnDesc>,
    rows: Rows,
    bytes: usize,
    pub scrollable: bool,
    pub holdable: bool,
    pub binary: bool,
    /// When it was declared (microseconds since 2000-01-01 UTC).
    pub creation_time: i64,
    /// Declared in the open transaction, which has not committed yet.
    pending: bool,
    /// The transaction's savepoint count when it was declared: a
    /// ROLLBACK TO a savepoint made before it (numbered at most this)
    /// closes it.
    savepoint_seq: u32,
    /// The row the scan is on: 0 before the first, `len + 1` after the last.
    current: usize,
    at_start: bool,
    at_end: bool,
    portal_pos: u64,
}

/// What FETCH or MOVE did: the rows (FETCH) and the count for its tag.
#[derive(Debug, Default)]
pub struct Fetched {
    pub rows: Rows,
    pub count: u64,
}

/// A session's cursors, by name.
#[derive(Debug, Clone, Default)]
pub struct Cursors {
    open: BTreeMap<String, Cursor>,
    bytes: usize,
}

/// A rough size of a kept row: the values and what they point to.
pub fn row_bytes(row: &[Value]) -> usize {
    row.iter()
        .map(|v| {
            std::mem::size_of::<Value>()
                + match v {
                    Value::Text(s) | Value::BpChar(s) | Value::Json(s) => s.len(),
                    Value::Bytea(b) => b.len(),
                    Value::Numeric(_) => 16,
                    Value::Jsonb(_) | Value::Array(_) | Value::Record(_) => {
                        v.to_text().map_or(0, |t| t.len())
                    }
                    _ => 0,
                }
        })
        .sum()
}

/// Whether PostgreSQL could run the plan backward
/// (`ExecSupportsBackwardScan`): scans, projections, sorts and limits can;
/// aggregation, DISTINCT, window functions and joins cannot. A cursor
/// declared without SCROLL or NO SCROLL scrolls if its plan can.
pub fn plan_scrolls(plan: &crate::plan::SelectPlan) -> bool {
    use crate::plan::{FragmentOutput, Plan, Source};
    plan.aggregate.is_none()
        && !plan.distinct
        && plan.distinct_on.is_empty()
        && plan.window.is_none()
        && matches!(plan.fragment.output, FragmentOutput::Project(_))
        && match &plan.source {
            None => true,
            Some(Source::Query { plan: inner, .. }) => {
                matches!(&**inner, Plan::Select(s) if plan_scrolls(s))
            }
            Some(_) => false,
        }
}

fn unknown(name: &str) -> Error {
    Error::new(
        sqlstate::INVALID_CURSOR_NAME,
        format!("cursor \"{name}\" does not exist"),
    )
}

fn forward_only() -> Error {
    Error::new(
        sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
        "cursor can only scan forward",
    )
    .with_hint("Declare it with SCROLL option to enable backward scan.")
}

impl Cursors {
    /// Whether a cursor called `name` is open.
    pub fn get(&self, name: &str) -> Option<&Cursor> {
        self.open.get(name)
    }

    /// The open cursors, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Cursor)> {
        self.open.iter()
    }

    /// The rows of `pg_cursors`: name, statement, is_holdable,
    /// is_binary, is_scrollable, creation_time.
    pub fn rows(&self) -> Vec<Vec<Value>> {
        self.open
            .iter()
            .map(|(name, c)| {
                vec![
                    Value::Text(name.clone()),
                    Value::Text(c.statement.clone()),
                    Value::Bool(c.holdable),
                    Value::Bool(c.binary),
                    Value::Bool(c.scrollable),
                    Value::TimestampTz(c.creation_time),
                ]
            })
            .collect()
    }

    /// Opens cursor `name` over `rows`; 42P03 if the name is taken, 54000
    /// past [`CURSORS_MAX`] or [`CURSOR_BYTES_MAX`] (nothing is kept then).
    #[allow(clippy::too_many_arguments)]
    pub fn declare(
        &mut self,
        name: &str,
        statement: &str,
        columns: Vec<ColumnDesc>,
        rows: Rows,
        options: CursorOptions,
        plan_scrolls: bool,
        creation_time: i64,
        savepoint_seq: u32,
    ) -> Result<()> {
        if self.open.contains_key(name) {
            return Err(Error::new(
                sqlstate::DUPLICATE_CURSOR,
                format!("cursor \"{name}\" already exists"),
            ));
        }
        if self.open.len() >= CURSORS_MAX {
            return Err(Error::new(
                sqlstate::PROGRAM_LIMIT_EXCEEDED,
                format!("too many open cursors (the limit is {CURSORS_MAX})"),
            ));
        }
        let bytes: usize = rows.iter().map(row_bytes).sum();
        if self.bytes + bytes > CURSOR_BYTES_MAX {
            return Err(Error::new(
                sqlstate::PROGRAM_LIMIT_EXCEEDED,
                format!(
                    "the rows of cursor \"{name}\" take about {bytes} bytes; the session's \
                     cursors may hold {CURSOR_BYTES_MAX} bytes and hold {} already",
                    self.bytes
                ),
            ));
        }
        self.bytes += bytes;
        self.open.insert(
            name.to_string(),
            Cursor {
                statement: statement.to_string(),
                columns,
                rows,
                bytes,
                scrollable: options.scroll.unwrap_or(plan_scrolls),
                holdable: options.hold,
                binary: options.binary,
                creation_time,
                pending: true,
                savepoint_seq,
                current: 0,
                at_start: true,
                at_end: false,
                portal_pos: 0,
            },
        );
        Ok(())
    }

    /// CLOSE `name`; 34000 if there is none.
    pub fn close(&mut self, name: &str) -> Result<()> {
        let cursor = self.open.remove(name).ok_or_else(|| unknown(name))?;
        self.bytes -= cursor.bytes;
        Ok(())
    }

    /// CLOSE ALL, DISCARD ALL.
    pub fn close_all(&mut self) {
        self.open.clear();
        self.bytes = 0;
    }

    /// The end of a transaction: cursors without HOLD close; held ones
    /// stay if it committed, and those it declared go if it rolled back.
    pub fn end_transaction(&mut self, committed: bool) {
        self.open
            .retain(|_, c| c.holdable && (committed || !c.pending));
        for cursor in self.open.values_mut() {
            cursor.pending = false;
        }
        self.bytes = self.open.values().map(|c| c.bytes).sum();
    }

    /// ROLLBACK TO the savepoint numbered `savepoint_seq`: the cursors
    /// declared since it close, as PostgreSQL drops the portals of a
    /// rolled-back subtransaction (the others keep their positions).
    pub fn rollback_to(&mut self, savepoint_seq: u32) {
        self.open
            .retain(|_, c| !(c.pending && c.savepoint_seq >= savepoint_seq));
        self.bytes = self.open.values().map(|c| c.bytes).sum();
    }

    /// FETCH or MOVE on cursor `name`.
    pub fn fetch(
        &mut self,
        name: &str,
        direction: FetchDirection,
        move_only: bool,
    ) -> Result<Fetched> {
        let cursor = self.open.get_mut(name).ok_or_else(|| unknown(name))?;
        cursor.run_fetch(direction, move_only)
    }
}

impl Cursor {
    fn len(&self) -> usize {
        self.rows.len()
    }

    /// PostgreSQL's `PortalRunSelect`: up to `count` rows (`FETCH_ALL`:
    /// all; 0 or less: none) forward or backward, into `out` unless it is
    /// a MOVE.
    fn run_select(&mut self, forward: bool, count: i64, out: Option<&mut Rows>) -> Result<u64> {
        let n = self.len();
        let mut out = out;
        if forward {
            if self.at_end || count <= 0 {
                return Ok(0);
            }
            let wanted = count as u64;
            let mut taken = 0u64;
            while taken < wanted && self.current < n {
                self.current += 1;
                if let Some(out) = out.as_deref_mut() {
                    out.push_slice(self.rows.row(self.current - 1));
                }
                taken += 1;
            }
            if taken < wanted {
                self.current = n + 1;
            }
            if taken > 0 {
                self.at_start = false;
            }
            if count == FETCH_ALL || taken < wanted {
                self.at_end = true;
            }
            self.portal_pos += taken;
            Ok(taken)
        } else {
            if !self.scrollable {
                return Err(forward_only());
            }
            if self.at_start || count <= 0 {
                return Ok(0);
            }
            let wanted = count as u64;
            let mut taken = 0u64;
            while taken < wanted && self.current > 1 {
                self.current -= 1;
                if let Some(out) = out.as_deref_mut() {
                    out.push_slice(self.rows.row(self.current - 1));
                }
                taken += 1;
            }
            if taken < wanted {
                self.current = 0;
            }
            if taken > 0 && self.at_end {
                self.at_end = false;
                self.portal_pos += 1;
            }
            if count == FETCH_ALL || taken < wanted {
                self.at_start = true;
                self.portal_pos = 0;
            } else {
                self.portal_pos -= taken;
            }
            Ok(taken)
        }
    }

    /// PostgreSQL's `DoPortalRewind`.
    fn rewind(&mut self) -> Result<()> {
        if self.at_start && !self.at_end {
            return Ok(());
        }
        if !self.scrollable {
            return Err(forward_only());
        }
        self.current = 0;
        self.at_start = true;
        self.at_end = false;
        self.portal_pos = 0;
        Ok(())
    }

    /// PostgreSQL's `DoPortalRunFetch`.
    fn run_fetch(&mut self, direction: FetchDirection, move_only: bool) -> Result<Fetched> {
        let mut rows = Rows::default();
        let count = self.fetch_into(direction, (!move_only).then_some(&mut rows))?;
        Ok(Fetched { rows, count })
    }

    fn fetch_into(&mut self, direction: FetchDirection, out: Option<&mut Rows>) -> Result<u64> {
        let (mut forward, mut count) = match direction {
            FetchDirection::Forward(c) if c < 0 => (false, c.saturating_neg()),
            FetchDirection::Forward(c) => (true, c),
            FetchDirection::Backward(c) if c < 0 => (true, c.saturating_neg()),
            FetchDirection::Backward(c) => (false, c),
            FetchDirection::Absolute(c) => {
                if c > 0 {
                    let c = c as u64;
                    if self.portal_pos == u64::MAX || c - 1 <= self.portal_pos / 2 {
                        self.rewind()?;
                        if c > 1 {
                            self.run_select(true, (c - 1) as i64, None)?;
                        }
                    } else {
                        let mut pos = self.portal_pos;
                        if self.at_end {
                            pos += 1;
                        }
                        if c <= pos {
                            self.run_select(false, (pos - c + 1) as i64, None)?;
                        } else if c > pos + 1 {
                            self.run_select(true, (c - pos - 1) as i64, None)?;
                        }
                    }
                    return self.run_select(true, 1, out);
                } else if c < 0 {
                    self.run_select(true, FETCH_ALL, None)?;
                    if c < -1 {
                        self.run_select(false, c.saturating_neg() - 1, None)?;
                    }
                    return self.run_select(false, 1, out);
                } else {
                    self.rewind()?;
                    return self.run_select(true, 0, out);
                }
            }
            FetchDirection::Relative(c) => {
                if c > 0 {
                    if c > 1 {
                        self.run_select(true, c - 1, None)?;
                    }
                    return self.run_select(true, 1, out);
                } else if c < 0 {
                    if c < -1 {
                        self.run_select(false, c.saturating_neg() - 1, None)?;
                    }
                    return self.run_select(false, 1, out);
                }
                (true, 0)
            }
        };
        if count == 0 {
            // Re-fetch the current row, if the scan is on one.
            let on_row = !self.at_start && !self.at_end;
            if out.is_none() {
                return Ok(u64::from(on_row));
            }
            if on_row {
                self.run_select(false, 1, None)?;
                count = 1;
                forward = true;
            }
        }
        if !forward && count == FETCH_ALL && out.is_none() {
            // MOVE BACKWARD ALL: a rewind.
            let mut result = self.portal_pos;
            if result > 0 && !self.at_end {
                result -= 1;
            }
            self.rewind()?;
            return Ok(result);
        }
        self.run_select(forward, count, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursors(n: i64, scroll: Option<bool>) -> Cursors {
        let mut c = Cursors::default();
        let rows = Rows::from_vecs((1..=n).map(|i| vec![Value::Int8(i)]).collect());
        let options = CursorOptions {
            scroll,
            ..CursorOptions::default()
        };
        c.declare("c", "", vec![], rows, options, true, 0, 0)
            .unwrap();
        c
    }

    fn fetch(c: &mut Cursors, d: FetchDirection) -> Vec<i64> {
        let f = c.fetch("c", d, false).unwrap();
        f.rows
            .iter()
            .map(|r| match r[0] {
                Value::Int8(i) => i,
                _ => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn directions_walk_the_rows_as_postgresql_does() {
        use FetchDirection::*;
        let mut c = cursors(5, Some(true));
        assert_eq!(fetch(&mut c, Forward(2)), vec![1, 2]);
        assert_eq!(fetch(&mut c, Backward(1)), vec![1]);
        assert_eq!(fetch(&mut c, Relative(0)), vec![1]);
        assert_eq!(fetch(&mut c, Absolute(-1)), vec![5]);
        assert_eq!(fetch(&mut c, Forward(1)), Vec::<i64>::new());
        assert_eq!(fetch(&mut c, Backward(FETCH_ALL)), vec![5, 4, 3, 2, 1]);
        assert_eq!(fetch(&mut c, Absolute(3)), vec![3]);
        assert_eq!(fetch(&mut c, Relative(-2)), vec![1]);
        assert_eq!(c.fetch("c", Forward(FETCH_ALL), true).unwrap().count, 4);
        assert_eq!(c.fetch("c", Backward(FETCH_ALL), true).unwrap().count, 5);
    }

    #[test]
    fn no_scroll_refuses_to_go_back() {
        let mut c = cursors(5, Some(false));
        assert_eq!(fetch(&mut c, FetchDirection::Forward(2)), vec![1, 2]);
        let e = c
            .fetch("c", FetchDirection::Backward(1), false)
            .unwrap_err();
        assert_eq!(e.code, sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE);
        let e = c
            .fetch("c", FetchDirection::Absolute(1), false)
            .unwrap_err();
        assert_eq!(e.code, sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE);
    }

    #[test]
    fn transactions_end_cursors() {
        let mut c = cursors(1, None);
        c.end_transaction(true);
        assert!(c.get("c").is_none());
        let options = CursorOptions {
            hold: true,
            ..CursorOptions::default()
        };
        c.declare("h", "", vec![], Rows::new(1), options, true, 0, 0)
            .unwrap();
        c.end_transaction(false);
        assert!(c.get("h").is_none(), "a rolled-back DECLARE ... WITH HOLD");
        c.declare("h", "", vec![], Rows::new(1), options, true, 0, 0)
            .unwrap();
        c.end_transaction(true);
        c.end_transaction(false);
        assert!(c.get("h").is_some(), "held past its commit");
    }

    #[test]
    fn rollback_to_a_savepoint_closes_what_was_declared_since() {
        let mut c = cursors(3, None);
        let options = CursorOptions::default();
        c.declare("after", "", vec![], Rows::new(1), options, true, 0, 1)
            .unwrap();
        c.rollback_to(1);
        assert!(c.get("after").is_none());
        assert!(c.get("c").is_some(), "declared before the savepoint");
    }

    #[test]
    fn the_byte_limit_refuses_and_keeps_nothing() {
        let mut c = Cursors::default();
        let big = "x".repeat(1 << 20);
        let rows = Rows::from_vecs((0..65).map(|_| vec![Value::Text(big.clone())]).collect());
        let e = c
            .declare("c", "", vec![], rows, CursorOptions::default(), true, 0, 0)
            .unwrap_err();
        assert_eq!(e.code, sqlstate::PROGRAM_LIMIT_EXCEEDED);
        assert!(c.get("c").is_none());
        assert_eq!(c.bytes, 0);
    }
}
