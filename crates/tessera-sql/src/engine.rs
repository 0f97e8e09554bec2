//! The seam between a wire-protocol session and the SQL engine.
//!
//! A session (PostgreSQL today) parses its protocol and calls [`QueryEngine`]:
//! `prepare` turns SQL text into statements whose parameter and result types
//! are known, `execute` runs one with bound parameter values. The engine
//! knows nothing of the wire; the session knows nothing of plans or shards.

use std::collections::BTreeMap;
use std::future::Future;

use tessera_types::datetime::{DateOrder, TimeContext, TimeZone};
use tessera_types::output::{
    DateStyle, IntervalStyle, OutputSettings, OutputStyle, EXTRA_FLOAT_DIGITS_MAX,
    EXTRA_FLOAT_DIGITS_MIN,
};
use tessera_types::{sqlstate, DataType, Error, Result, Value};

/// One column of a statement's result, as RowDescription reports it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ColumnDesc {
    pub name: String,
    pub data_type: DataType,
    /// OID of the table the column comes from, 0 if it is computed.
    pub table_oid: u32,
    /// 1-based attribute number in that table, 0 if computed.
    pub column_id: i16,
}

/// What a session can ask of a prepared statement.
pub trait StatementInfo {
    /// The type of each `$n` parameter (inferred where the client left it open).
    fn param_types(&self) -> &[DataType];
    /// The result columns; empty for statements that return no rows.
    fn columns(&self) -> &[ColumnDesc];
    /// Whether the statement returns rows (SELECT, SHOW), even zero of them.
    fn returns_rows(&self) -> bool;
    /// Whether it may run inside the implicit transaction of a
    /// multi-statement simple Query (not transaction control, not DDL).
    fn joins_implicit_transaction(&self) -> bool {
        true
    }
    /// The statement's text, as `pg_stat_activity` shows it.
    fn sql(&self) -> &str {
        ""
    }
    /// A COPY: its direction, format and columns. COPY … TO STDOUT
    /// executes as a query whose rows the session sends as COPY data;
    /// COPY … FROM STDIN is not executed but fed rows through
    /// [`QueryEngine::copy_rows`].
    fn copy(&self) -> Option<&crate::copy::CopySpec> {
        None
    }
    /// A `DEALLOCATE`: which of the session's prepared statements it drops
    /// once it has run (the session holds them, not the engine).
    fn deallocates(&self) -> Option<Deallocate<'_>> {
        None
    }
    /// The statement as SQL `EXECUTE` runs it, for a protocol statement
    /// listed in [`SessionState::prepared`]; `None` if EXECUTE cannot.
    fn for_execute(&self) -> Option<std::sync::Arc<crate::plan::Statement>> {
        None
    }
    /// A FETCH or MOVE: the cursor it names, where it goes and whether it
    /// is a MOVE. The session runs it itself when the name is one of its
    /// protocol-level portals (cursors and portals share one namespace).
    fn fetches(&self) -> Option<(&str, crate::cursor::FetchDirection, bool)> {
        None
    }
}

/// What a `DEALLOCATE` drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deallocate<'a> {
    /// `DEALLOCATE ALL`.
    All,
    /// `DEALLOCATE name`: a missing name is 26000.
    Named(&'a str),
}

/// A message for the client that is not an error (PostgreSQL NoticeResponse).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Notice {
    /// SQLSTATE, e.g. 42P07 for "relation already exists, skipping".
    pub code: &'static str,
    pub severity: &'static str,
    pub message: String,
    /// Lines of DETAIL, if any.
    pub detail: Option<String>,
}

/// The result of executing one statement.
#[derive(Debug, Default)]
pub struct QueryResult {
    /// The rows, for statements that return rows.
    pub rows: crate::rows::Rows,
    /// The command tag without a row count for SELECT (the session appends
    /// the count of rows it sent: "SELECT 3"); complete for others ("INSERT 0 3").
    pub tag: String,
    pub notices: Vec<Notice>,
    /// Set when the statement was bound only now (a later statement of a
    /// multi-statement Query, after DDL before it ran): the columns to
    /// describe its rows with, in place of the prepared ones.
    pub columns: Option<Vec<ColumnDesc>>,
    /// The rows go in binary format over the simple protocol: a FETCH
    /// from a BINARY cursor (the extended protocol's Bind chooses itself).
    pub binary_rows: bool,
}

impl QueryResult {
    /// A command's result: its tag and notices, no rows.
    pub fn command(tag: impl Into<String>, notices: Vec<Notice>) -> QueryResult {
        QueryResult {
            rows: crate::rows::Rows::default(),
            tag: tag.into(),
            notices,
            columns: None,
            binary_rows: false,
        }
    }
}

impl Notice {
    /// A NOTICE with SQLSTATE `code`.
    pub fn new(code: tessera_types::sqlstate::SqlState, message: impl Into<String>) -> Notice {
        Notice {
            code: code.code(),
            severity: "NOTICE",
            message: message.into(),
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Notice {
        self.detail = Some(detail.into());
        self
    }
}

/// Per-connection state the engine reads and changes: settings (SET/SHOW)
/// and the open transaction block, if any.
#[derive(Debug, Default, Clone)]
pub struct SessionState {
    pub settings: BTreeMap<String, String>,
    /// What `currval` and `lastval` return.
    pub sequences: std::sync::Arc<crate::sequence::SessionSequences>,
    /// Settings changed by the last statement that the client should be told
    /// about with ParameterStatus (PostgreSQL's GUC_REPORT settings).
    pub reported_changes: Vec<(String, String)>,
    pub txn: Option<Txn>,
    /// The `TimeZone` setting, read: what `timestamptz` input and output use.
    pub time_zone: TimeZone,
    /// The field order of the `DateStyle` setting, for date input and
    /// output.
    pub date_order: DateOrder,
    /// The rest of `DateStyle`, `IntervalStyle` and `extra_float_digits`,
    /// read: how values are written as text.
    pub output: OutputSettings,
    /// The database the client connected to (the startup packet's
    /// `database`; empty means the user's name, as PostgreSQL defaults it).
    pub database: String,
    /// The settings as they were before the open transaction block's first
    /// SET: a rollback restores them, as PostgreSQL undoes SET.
    pub settings_before_block: Option<BTreeMap<String, String>>,
    /// SET LOCAL in the open block: the value each setting returns to when
    /// the block ends (`None`: unset).
    pub local_settings: BTreeMap<String, Option<String>>,
    /// What stops the running statement (see
    /// [`tessera_types::interrupt`]).
    pub interrupt: std::sync::Arc<tessera_types::interrupt::Interrupt>,
    /// LISTEN/UNLISTEN (`false`) and NOTIFY (channel, payload) of the
    /// open block: they take effect when it commits.
    pub pending_listens: Vec<(String, bool)>,
    pub pending_notifies: Vec<(String, String)>,
    /// The role the session authenticated as: what privilege checks read
    /// (`SET session_authorization` changes only what names resolve
    /// against). Empty in sessions the engine makes itself.
    pub user: String,
    /// While a statement that calls `current_setting` or `set_config`
    /// runs: what they read and write (see [`crate::settings_fn`]).
    pub statement_settings: Option<std::sync::Arc<crate::settings_fn::StatementSettings>>,
    /// The session's named prepared statements, SQL `PREPARE`d and
    /// protocol Parsed alike (one namespace, as in PostgreSQL), by name:
    /// what `pg_prepared_statements` lists and `EXECUTE` runs. At most
    /// [`PREPARED_STATEMENTS_MAX`].
    pub prepared: BTreeMap<String, PreparedStatement>,
    /// The session's SQL-level cursors (DECLARE … CURSOR).
    pub cursors: crate::cursor::Cursors,
    /// The plans of the simple Queries it ran (see [`crate::query_cache`]).
    pub query_cache: crate::query_cache::QueryCache,
}

/// The most named prepared statements one session may hold, of both kinds
/// together (PostgreSQL has no limit; client statement caches hold a few
/// hundred). A Parse or PREPARE of one more fails with 54000 until the
/// client drops some.
pub const PREPARED_STATEMENTS_MAX: usize = 10_000;

/// One named prepared statement of a session.
#[derive(Debug, Clone)]
pub struct PreparedStatement {
    /// The text the client sent: the PREPARE statement, or the Parse query.
    pub sql: String,
    /// When it was prepared, in microseconds since the Unix epoch.
    pub prepare_time: i64,
    pub param_types: Vec<DataType>,
    /// Made by SQL `PREPARE` (else by a protocol Parse).
    pub from_sql: bool,
    /// Executions counted as PostgreSQL's plan cache counts them in its
    /// default mode: a statement without parameters runs a generic plan;
    /// one with parameters runs custom plans the first
    /// [`CUSTOM_PLAN_RUNS`] times, then the generic one.
    pub generic_plans: i64,
    pub custom_plans: i64,
    /// What `EXECUTE` runs: the bound statement (of a protocol one, a
    /// copy of what the wire session holds, when the engine gives one).
    pub statement: Option<std::sync::Arc<crate::plan::Statement>>,
}

/// How many custom plans PostgreSQL's plan cache tries before it
/// considers the generic plan.
pub const CUSTOM_PLAN_RUNS: i64 = 5;

impl PreparedStatement {
    pub fn new(sql: &str, param_types: &[DataType], from_sql: bool) -> PreparedStatement {
        PreparedStatement {
            sql: sql.to_string(),
            prepare_time: crate::activity::now_micros(),
            param_types: param_types.to_vec(),
            from_sql,
            generic_plans: 0,
            custom_plans: 0,
            statement: None,
        }
    }

    /// Counts one execution (Bind or EXECUTE).
    pub fn count_execution(&mut self) {
        if !self.param_types.is_empty() && self.custom_plans < CUSTOM_PLAN_RUNS {
            self.custom_plans += 1;
        } else {
            self.generic_plans += 1;
        }
    }
}

impl SessionState {
    /// Refuses a new named prepared statement `name`: one of that name
    /// exists (42P05), or the session holds the most it may.
    pub fn check_new_prepared(&self, name: &str) -> Result<()> {
        if self.prepared.contains_key(name) {
            return Err(Error::new(
                sqlstate::DUPLICATE_PREPARED_STATEMENT,
                format!("prepared statement \"{name}\" already exists"),
            ));
        }
        if self.prepared.len() >= PREPARED_STATEMENTS_MAX {
            return Err(Error::new(
                sqlstate::PROGRAM_LIMIT_EXCEEDED,
                format!("too many prepared statements (the limit is {PREPARED_STATEMENTS_MAX})"),
            ));
        }
        Ok(())
    }
}

/// What ReadyForQuery reports: idle, in a transaction block, or in a failed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionStatus {
    Idle,
    InTransaction,
    Failed,
}

impl SessionState {
    /// The session's process id (BackendKeyData), 0 when it has none.
    pub fn pid(&self) -> u32 {
        self.interrupt.pid()
    }

    /// LISTEN (`listen` false: UNLISTEN) on `channel`: now outside a
    /// block, at its commit inside one.
    pub fn listen(&mut self, channel: &str, listen: bool) {
        if self.txn.is_some() {
            self.pending_listens.push((channel.to_string(), listen));
        } else if let Some(me) = crate::activity::sessions().find(self.pid()) {
            me.listen(channel, listen);
        }
    }

    /// NOTIFY: delivered now outside a block, at its commit inside one
    /// (a notification repeated in a block is delivered once).
    pub fn notify(&mut self, channel: &str, payload: &str) -> Result<()> {
        if payload.len() >= crate::activity::NOTIFY_PAYLOAD_MAX {
            return Err(Error::new(
                sqlstate::INVALID_PARAMETER_VALUE,
                "payload string too long",
            ));
        }
        if self.txn.is_none() {
            return crate::activity::notify(self.pid(), channel, payload);
        }
        let note = (channel.to_string(), payload.to_string());
        if !self.pending_notifies.contains(&note) {
            self.pending_notifies.push(note);
        }
        Ok(())
    }

    /// The open block ended: its LISTENs and NOTIFYs take effect if it
    /// committed, else are forgotten.
    fn end_block_notifications(&mut self, committed: bool) {
        let listens = std::mem::take(&mut self.pending_listens);
        let notifies = std::mem::take(&mut self.pending_notifies);
        if !committed {
            return;
        }
        if let Some(me) = crate::activity::sessions().find(self.pid()) {
            for (channel, listen) in listens {
                me.listen(&channel, listen);
            }
        }
        for (channel, payload) in notifies {
            if let Err(e) = crate::activity::notify(self.pid(), &channel, &payload) {
                tracing::warn!("NOTIFY {channel} after commit: {}", e.message);
            }
        }
    }

    /// A time setting (`statement_timeout`, `lock_timeout`) as a
    /// duration; `None` when it is 0 (no limit).
    pub fn timeout(&self, name: &str) -> Option<std::time::Duration> {
        let ms = parse_milliseconds(self.settings.get(name)?)?;
        (ms > 0).then(|| std::time::Duration::from_millis(ms as u64))
    }

    /// A session with these settings (already checked with
    /// [`check_setting`]); the time zone and date order are read from them.
    pub fn new(settings: BTreeMap<String, String>) -> Result<SessionState> {
        let mut state = SessionState {
            settings,
            ..SessionState::default()
        };
        for name in [
            "TimeZone",
            "DateStyle",
            "IntervalStyle",
            "extra_float_digits",
        ] {
            if let Some(value) = state.settings.get(name).cloned() {
                state.apply_setting(name, &value)?;
            }
        }
        Ok(state)
    }

    /// What names resolve against: `search_path`, the user, the database.
    pub fn names(&self) -> crate::names::Names {
        let path = self.search_path();
        let user = self
            .settings
            .get("session_authorization")
            .map_or("postgres", String::as_str);
        let database = if self.database.is_empty() {
            user
        } else {
            &self.database
        };
        crate::names::Names::new(path, user, database)
    }

    /// The `search_path` setting as written.
    pub fn search_path(&self) -> &str {
        self.settings
            .get("search_path")
            .map_or(crate::names::SEARCH_PATH_DEFAULT, String::as_str)
    }

    /// Sets `name` (canonical, checked) to `value`, for the session or
    /// (`local`) until the open transaction block ends; the caller has
    /// refused SET LOCAL outside a block.
    pub fn set(&mut self, name: &str, value: String, local: bool) -> Result<()> {
        self.apply_setting(name, &value)?;
        if self.txn.is_some() && self.settings_before_block.is_none() {
            self.settings_before_block = Some(self.settings.clone());
        }
        let old = self.settings.insert(name.to_string(), value.clone());
        if self.txn.is_some() {
            if local {
                self.local_settings.entry(name.to_string()).or_insert(old);
            } else if let Some(after) = self.local_settings.get_mut(name) {
                // A plain SET outlives the block even after SET LOCAL.
                *after = Some(value.clone());
            }
        }
        if REPORTED_SETTINGS.iter().any(|(n, _)| *n == name) {
            self.reported_changes.push((name.to_string(), value));
        }
        Ok(())
    }

    /// The open block ended: SET LOCAL values end with it, and a rollback
    /// undoes every SET made in it.
    pub fn end_block_settings(&mut self, committed: bool) {
        self.end_block_notifications(committed);
        self.cursors.end_transaction(committed);
        let before = self.settings_before_block.take();
        let locals = std::mem::take(&mut self.local_settings);
        let restored = match before {
            Some(before) if !committed => before,
            _ => {
                let mut kept = self.settings.clone();
                for (name, value) in locals {
                    match value {
                        Some(v) => kept.insert(name, v),
                        None => kept.remove(&name),
                    };
                }
                kept
            }
        };
        let changed: Vec<(String, String)> = restored
            .iter()
            .filter(|(n, v)| self.settings.get(*n) != Some(*v))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        self.settings = restored;
        if !changed.is_empty() {
            // Cached plans may have read the block's settings.
            self.query_cache.clear();
        }
        for (name, value) in changed {
            // Values that were accepted once read again.
            if let Err(e) = self.apply_setting(&name, &value) {
                tracing::warn!("restoring setting {name}: {e}");
            }
            if REPORTED_SETTINGS.iter().any(|(n, _)| *n == name) {
                self.reported_changes.push((name, value));
            }
        }
    }

    /// Updates what the session derives from a setting just changed.
    pub fn apply_setting(&mut self, name: &str, value: &str) -> Result<()> {
        match name {
            "TimeZone" => self.time_zone = TimeZone::parse_setting(value)?.0,
            "DateStyle" => {
                let (_, style, order) =
                    parse_date_style(value, (self.output.date_style, self.date_order))?;
                self.output.date_style = style;
                self.date_order = order;
            }
            "IntervalStyle" => {
                self.output.interval_style =
                    IntervalStyle::parse(value).ok_or_else(|| invalid_value(name, value))?
            }
            "extra_float_digits" => {
                self.output.extra_float_digits = parse_extra_float_digits(name, value)?
            }
            _ => {}
        }
        Ok(())
    }

    /// What date/time input, output and `now()` read for a statement that
    /// starts at `now` (microseconds since 2000 UTC): inside a transaction
    /// block `now()` is the block's start, as in PostgreSQL.
    pub fn time_context(&self, now: i64) -> TimeContext {
        TimeContext {
            zone: self.time_zone.clone(),
            date_order: self.date_order,
            transaction_start: self.txn.as_ref().map_or(now, |t| t.start),
            statement_start: now,
            output: self.output,
        }
    }

    /// How the session's results are written as text (the wire's text
    /// format, COPY TO).
    pub fn output_style(&self) -> OutputStyle<'_> {
        OutputStyle {
            zone: &self.time_zone,
            date_style: self.output.date_style,
            date_order: self.date_order,
            interval_style: self.output.interval_style,
            extra_float_digits: self.output.extra_float_digits,
        }
    }

    pub fn transaction_status(&self) -> TransactionStatus {
        match &self.txn {
            None => TransactionStatus::Idle,
            Some(t) if t.failed => TransactionStatus::Failed,
            Some(_) => TransactionStatus::InTransaction,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Isolation {
    /// Each statement reads a fresh snapshot (PostgreSQL's default).
    ReadCommitted,
    /// Snapshot isolation: one snapshot for the whole transaction; a write
    /// to a row changed since it fails with 40001.
    RepeatableRead,
    /// REPEATABLE READ whose reads must also still hold when it commits:
    /// shards validate them at COMMIT and keep them locked until the
    /// commit is applied, so serializable transactions take effect
    /// atomically at their commit timestamps (40001 otherwise).
    Serializable,
}

impl Isolation {
    /// The name PostgreSQL shows for it (`SHOW transaction_isolation`).
    pub fn name(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "read committed",
            Isolation::RepeatableRead => "repeatable read",
            Isolation::Serializable => "serializable",
        }
    }

    /// Whether the transaction reads one snapshot throughout.
    pub fn has_snapshot(self) -> bool {
        self != Isolation::ReadCommitted
    }
}

/// An open transaction block (BEGIN … COMMIT/ROLLBACK).
#[derive(Debug, Clone)]
pub struct Txn {
    pub id: u64,
    pub isolation: Isolation,
    pub read_only: bool,
    /// REPEATABLE READ and SERIALIZABLE: `(floor, snapshot)`, taken at the
    /// first statement.
    pub snapshot: Option<(u64, u64)>,
    /// Shards holding this transaction's writes.
    pub participants: std::collections::BTreeSet<u16>,
    /// SERIALIZABLE: shards that remember what this transaction read.
    pub reads: std::collections::BTreeSet<u16>,
    /// A statement failed: only ROLLBACK (or COMMIT, which rolls back) is accepted.
    pub failed: bool,
    /// What the failed (sub)transaction wrote was already rolled back at
    /// the error (`QueryEngine::fail_block`); ROLLBACK TO, which ends the
    /// failed state, clears it.
    pub rolled_back: bool,
    /// Active savepoints, oldest first: name and number. Writes carry the
    /// number of the newest one, so ROLLBACK TO can undo them.
    pub savepoints: Vec<(String, u32)>,
    /// The last savepoint number handed out.
    pub savepoint_seq: u32,
    /// When the block began (microseconds since 2000 UTC): `now()` in it.
    pub start: i64,
    /// Log positions what it read and wrote depends on (see
    /// `tessera_storage::deps`).
    pub deps: Vec<u64>,
    /// Sequences TRUNCATE … RESTART IDENTITY restarted in the block, with
    /// where each was before, oldest first: a rollback puts them back.
    pub restarted: Vec<(std::sync::Arc<tessera_types::SequenceDef>, (i64, bool))>,
    /// It changed the catalog (and holds the DDL lock): its statements see
    /// its pending catalog, and its end settles it (see `shard/ddl.rs`).
    pub ddl: bool,
    /// Shards where it holds every write to tables its DDL changes
    /// (`LockTable`), released at its end.
    pub locked: std::collections::BTreeSet<u16>,
    /// The tables it holds so, each with the savepoint number it was first
    /// locked under: undoing that savepoint (ROLLBACK TO, or an error
    /// inside it) gives the table back, as PostgreSQL releases the locks
    /// of an aborted subtransaction.
    pub table_locks: Vec<(tessera_types::TableId, u32)>,
    /// Opened for one statement or one simple Query's statements, not by
    /// BEGIN.
    pub implicit: bool,
    /// In a cluster: it writes global tables, and commits through the
    /// cluster's log (`shard/globals.rs`); a clock reading from before its
    /// first statement read them.
    pub globals: Option<u64>,
}

impl Txn {
    /// Whether shards must remember what this transaction reads, to
    /// validate it at COMMIT. A read-only one needs nothing: its snapshot
    /// holds exactly the serializable transactions committed before it.
    pub fn tracks_reads(&self) -> bool {
        self.isolation == Isolation::Serializable && !self.read_only
    }

    /// Every shard that holds something of this transaction.
    pub fn shards(&self) -> std::collections::BTreeSet<u16> {
        let mut all: std::collections::BTreeSet<u16> =
            self.participants.union(&self.reads).copied().collect();
        all.extend(&self.locked);
        all
    }

    /// The savepoint number the next write belongs to (0: none).
    pub fn current_savepoint(&self) -> u32 {
        self.savepoints.last().map_or(0, |(_, n)| *n)
    }
}

/// Settings PostgreSQL reports to the client with ParameterStatus, and their
/// values at connection start.
pub const REPORTED_SETTINGS: &[(&str, &str)] = &[
    ("application_name", ""),
    ("client_encoding", "UTF8"),
    ("DateStyle", "ISO, MDY"),
    ("default_transaction_read_only", "off"),
    ("in_hot_standby", "off"),
    ("integer_datetimes", "on"),
    ("IntervalStyle", "postgres"),
    ("is_superuser", "on"),
    ("server_encoding", "UTF8"),
    ("server_version", "15.8 (Tessera 0.1.0)"),
    ("session_authorization", "tessera"),
    ("standard_conforming_strings", "on"),
    ("TimeZone", "UTC"),
];

/// Checks a value for a setting with rules of its own and returns the
/// value to store and report (PostgreSQL's canonical spelling): `TimeZone`
/// (fixed offsets; `2` is shown as `<+02>-02`), `DateStyle` (`SQL, DMY`),
/// `IntervalStyle` and `extra_float_digits` (-15 .. 3). `current` is
/// the setting's present value, which a partial `DateStyle` keeps part of;
/// `given` the name as the client spelled it (PostgreSQL's message for a
/// bad `IntervalStyle` uses it). Other settings pass unchanged.
pub fn check_setting(
    name: &str,
    given: &str,
    value: &str,
    current: Option<&str>,
) -> Result<String> {
    match name {
        "TimeZone" => Ok(TimeZone::parse_setting(value)?.1),
        "DateStyle" => {
            let defaults = (DateStyle::Iso, DateOrder::Mdy);
            let current = current
                .and_then(|c| parse_date_style(c, defaults).ok())
                .map_or(defaults, |(_, style, order)| (style, order));
            Ok(parse_date_style(value, current)?.0)
        }
        "IntervalStyle" => match IntervalStyle::parse(value) {
            Some(style) => Ok(style.name().into()),
            None => Err(invalid_value(given, value).with_hint(
                "Available values: postgres, postgres_verbose, sql_standard, iso_8601.",
            )),
        },
        "extra_float_digits" => Ok(parse_extra_float_digits(given, value)?.to_string()),
        "search_path" => crate::names::check_search_path(value),
        "default_table_access_method" => match value {
            "heap" => Ok(value.to_string()),
            _ => Err(Error::new(
                sqlstate::INVALID_PARAMETER_VALUE,
                format!("invalid value for parameter \"{given}\": \"{value}\""),
            )
            .with_detail(format!("Table access method \"{value}\" does not exist."))),
        },
        "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" => {
            let ms = parse_milliseconds(value).ok_or_else(|| {
                Error::new(
                    sqlstate::INVALID_PARAMETER_VALUE,
                    format!("invalid value for parameter \"{given}\": \"{value}\""),
                )
                .with_hint("Valid units for this parameter are \"us\", \"ms\", \"s\", \"min\", \"h\", and \"d\".")
            })?;
            if !(0..=i32::MAX as i64).contains(&ms) {
                return Err(Error::new(
                    sqlstate::INVALID_PARAMETER_VALUE,
                    format!(
                        "{ms} ms is outside the valid range for parameter \"{given}\" (0 .. 2147483647)"
                    ),
                ));
            }
            Ok(show_milliseconds(ms))
        }
        "tessera.read_preference" => {
            match crate::router::ReadFrom::parse(value) {
                Some(_) => Ok(value.trim().to_ascii_lowercase()),
                None => Err(invalid_value(given, value)
                    .with_hint("Available values: leader, replica, any.")),
            }
        }
        "password_encryption" => match crate::password::PasswordEncryption::parse(value) {
            Some(crate::password::PasswordEncryption::Md5) => Ok("md5".into()),
            Some(crate::password::PasswordEncryption::ScramSha256) => Ok("scram-sha-256".into()),
            None => Err(Error::new(
                sqlstate::INVALID_PARAMETER_VALUE,
                format!("invalid value for parameter \"{given}\": \"{value}\""),
            )
            .with_hint("Available values: md5, scram-sha-256.")),
        },
        _ => Ok(value.to_string()),
    }
}

/// A time setting in milliseconds, as PostgreSQL reads one: a number
/// (fractions rounded) with an optional unit, milliseconds without.
pub(crate) fn parse_milliseconds(value: &str) -> Option<i64> {
    let value = value.trim();
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    let per_unit = match unit.trim() {
        "" | "ms" => 1.0,
        "us" => 0.001,
        "s" => 1_000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    let ms = (number * per_unit).round();
    ms.is_finite().then_some(ms as i64)
}

/// How PostgreSQL shows a time setting: in the largest unit that holds
/// it whole.
fn show_milliseconds(ms: i64) -> String {
    if ms == 0 {
        return "0".into();
    }
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("min", 60_000),
        ("s", 1_000),
    ] {
        if ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

fn invalid_value(given: &str, value: &str) -> Error {
    Error::new(
        sqlstate::INVALID_PARAMETER_VALUE,
        format!("invalid value for parameter \"{given}\": \"{value}\""),
    )
}

/// Reads `extra_float_digits` as PostgreSQL reads an integer setting (a
/// number, fractions rounded) and checks its range.
fn parse_extra_float_digits(given: &str, value: &str) -> Result<i8> {
    let number: f64 = value
        .trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite())
        .ok_or_else(|| invalid_value(given, value))?;
    let rounded = number.round();
    if !(EXTRA_FLOAT_DIGITS_MIN as f64..=EXTRA_FLOAT_DIGITS_MAX as f64).contains(&rounded) {
        return Err(Error::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            format!(
                "{rounded} is outside the valid range for parameter \"{given}\" ({EXTRA_FLOAT_DIGITS_MIN} .. {EXTRA_FLOAT_DIGITS_MAX})"
            ),
        ));
    }
    Ok(rounded as i8)
}

/// Reads a `DateStyle` value as PostgreSQL does (an output style and/or a
/// field order, comma or space separated; `German` alone means day
/// first). Returns the canonical value, the style and the field order.
fn parse_date_style(
    value: &str,
    current: (DateStyle, DateOrder),
) -> Result<(String, DateStyle, DateOrder)> {
    let invalid = || {
        Error::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            format!("invalid value for parameter \"DateStyle\": \"{value}\""),
        )
    };
    let mut order: Option<DateOrder> = None;
    let mut style: Option<DateStyle> = None;
    let words = value
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    for word in words {
        let lower = word.to_ascii_lowercase();
        let (new_style, new_order) = match lower.as_str() {
            "iso" => (Some(DateStyle::Iso), None),
            "sql" => (Some(DateStyle::Sql), None),
            "postgres" => (Some(DateStyle::Postgres), None),
            "german" => (Some(DateStyle::German), None),
            "ymd" => (None, Some(DateOrder::Ymd)),
            "dmy" | "euro" | "european" => (None, Some(DateOrder::Dmy)),
            "mdy" | "us" | "noneuro" | "noneuropean" => (None, Some(DateOrder::Mdy)),
            "default" => (Some(DateStyle::Iso), Some(DateOrder::Mdy)),
            _ => return Err(invalid()),
        };
        if let Some(s) = new_style {
            if style.is_some_and(|old| old != s) {
                return Err(invalid().with_detail("Conflicting \"datestyle\" specifications."));
            }
            style = Some(s);
        }
        if let Some(o) = new_order {
            if order.is_some_and(|old| old != o) {
                return Err(invalid().with_detail("Conflicting \"datestyle\" specifications."));
            }
            order = Some(o);
        }
    }
    if style.is_none() && order.is_none() {
        return Err(invalid());
    }
    let german_order = (style == Some(DateStyle::German)).then_some(DateOrder::Dmy);
    let order = order.or(german_order).unwrap_or(current.1);
    let style = style.unwrap_or(current.0);
    let name = match order {
        DateOrder::Mdy => "MDY",
        DateOrder::Dmy => "DMY",
        DateOrder::Ymd => "YMD",
    };
    Ok((format!("{}, {name}", style.name()), style, order))
}

/// The SQL engine as a session sees it. Futures are not `Send`: a session
/// and its engine live on one shard's thread.
pub trait QueryEngine {
    type Statement: StatementInfo + Clone;

    /// Parses and plans `sql`, one statement per SQL statement in it (an
    /// empty string gives none). `param_types[i]` fixes the type of `$i+1`
    /// where the client named one; the rest are inferred. Constants are
    /// read in the session's time zone, as PostgreSQL reads them when it
    /// parses.
    fn prepare(
        &self,
        sql: &str,
        param_types: &[Option<DataType>],
        session: &SessionState,
    ) -> Result<Vec<Self::Statement>>;

    /// The statements of a simple Query, each with its parameter values.
    /// An engine may run a Query that differs from one it ran before only
    /// in its constants from that one's plan, the constants as parameters
    /// (see [`crate::query_cache`]); by default every Query is prepared.
    fn prepare_simple(
        &self,
        sql: &str,
        session: &mut SessionState,
    ) -> Result<Vec<(Self::Statement, Vec<Value>)>> {
        Ok(self
            .prepare(sql, &[], session)?
            .into_iter()
            .map(|s| (s, Vec::new()))
            .collect())
    }

    /// What the session's date/time input reads now (time zone, `now`):
    /// for parameters a client sends as text.
    fn time_context(&self, session: &SessionState) -> TimeContext {
        session.time_context(tessera_types::datetime::wall_clock())
    }

    /// Runs a statement with its parameter values, already converted to
    /// `param_types()`.
    fn execute(
        &self,
        statement: &Self::Statement,
        params: Vec<Value>,
        session: &mut SessionState,
    ) -> impl Future<Output = Result<QueryResult>>;

    /// Inserts one batch of a COPY … FROM STDIN's rows, each a value per
    /// column of the COPY (already of the column's type), as INSERT would:
    /// defaults, constraints, keys and sharding are INSERT's. The session
    /// runs every batch of one COPY in one transaction (its block's, or an
    /// implicit one) so that a COPY is all or nothing. Returns the number
    /// of rows inserted.
    fn copy_rows(
        &self,
        statement: &Self::Statement,
        rows: Vec<Vec<Value>>,
        session: &mut SessionState,
    ) -> impl Future<Output = Result<u64>> {
        let _ = (statement, rows, session);
        async { Err(Error::unsupported("COPY FROM STDIN")) }
    }

    /// Opens the implicit transaction PostgreSQL runs a multi-statement
    /// simple Query in.
    fn begin_implicit(&self, session: &mut SessionState) -> Result<()> {
        let _ = session;
        Ok(())
    }

    /// Ends it: commit if every statement succeeded, else roll back.
    fn end_implicit(
        &self,
        session: &mut SessionState,
        commit: bool,
    ) -> impl Future<Output = Result<()>> {
        let _ = (session, commit);
        async { Ok(()) }
    }

    /// Something failed inside the session's transaction block (a
    /// statement, or a message the session refused): the block enters the
    /// failed state (25P02 until ROLLBACK, or ROLLBACK TO a savepoint), and
    /// what the failed (sub)transaction wrote is rolled back at once, as
    /// PostgreSQL aborts it at the error: everything the block wrote if it
    /// has no savepoint, else what it wrote since its newest live one.
    /// Nothing happens outside a block, or a second time in a failed one.
    fn fail_block(&self, session: &mut SessionState) -> impl Future<Output = ()> {
        if let Some(txn) = session.txn.as_mut() {
            txn.failed = true;
        }
        async {}
    }

    /// The role named `name` as the catalog holds it now (for
    /// authentication); `None` if there is none.
    fn role(&self, name: &str) -> Option<std::sync::Arc<tessera_types::RoleDef>>;

    /// The connection ended: release what the session holds (an open
    /// transaction is rolled back).
    fn end_session(&self, session: &mut SessionState) -> impl Future<Output = ()> {
        let _ = session;
        async {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_style_reads_like_postgres() {
        let check = |value: &str, current: Option<&str>| {
            check_setting("DateStyle", "datestyle", value, current)
        };
        assert_eq!(check("ISO", None).unwrap(), "ISO, MDY");
        assert_eq!(check("iso, dmy", None).unwrap(), "ISO, DMY");
        assert_eq!(check("DMY", Some("ISO, YMD")).unwrap(), "ISO, DMY");
        assert_eq!(check("ISO", Some("ISO, YMD")).unwrap(), "ISO, YMD");
        assert_eq!(check("European", None).unwrap(), "ISO, DMY");
        assert_eq!(check("US ISO", None).unwrap(), "ISO, MDY");
        assert_eq!(check("sql,dmy", None).unwrap(), "SQL, DMY");
        assert_eq!(check("DMY", Some("SQL, MDY")).unwrap(), "SQL, DMY");
        // German alone means day first; an order given with it wins.
        assert_eq!(check("German", Some("ISO, MDY")).unwrap(), "German, DMY");
        assert_eq!(check("ymd german", None).unwrap(), "German, YMD");
        assert_eq!(
            check("Postgres", Some("German, DMY")).unwrap(),
            "Postgres, DMY"
        );
        for bad in ["", "ISO, SQL", "DMY, YMD", "fancy"] {
            assert_eq!(
                check(bad, None).unwrap_err().code,
                sqlstate::INVALID_PARAMETER_VALUE,
                "{bad}"
            );
        }
    }

    #[test]
    fn settings_drive_the_session_clock_and_zone() {
        let mut settings = BTreeMap::new();
        settings.insert("TimeZone".to_string(), "<+02>-02".to_string());
        settings.insert("DateStyle".to_string(), "ISO, YMD".to_string());
        let state = SessionState::new(settings).unwrap();
        let ctx = state.time_context(1_000);
        assert_eq!(ctx.zone.offset_at_utc(0), 7200);
        assert_eq!(ctx.date_order, DateOrder::Ymd);
        assert_eq!((ctx.transaction_start, ctx.statement_start), (1_000, 1_000));
        assert_eq!(
            check_setting("TimeZone", "timezone", "2", None).unwrap(),
            "<+02>-02"
        );
        assert_eq!(
            check_setting("IntervalStyle", "intervalstyle", "POSTGRES", None).unwrap(),
            "postgres"
        );
        let e = check_setting("IntervalStyle", "intervalstyle", "bogus", None).unwrap_err();
        assert_eq!(
            e.message,
            "invalid value for parameter \"intervalstyle\": \"bogus\""
        );
        assert_eq!(
            check_setting("IntervalStyle", "intervalstyle", "ISO_8601", None).unwrap(),
            "iso_8601"
        );
        let efd = |v: &str| check_setting("extra_float_digits", "extra_float_digits", v, None);
        assert_eq!(efd("-15").unwrap(), "-15");
        assert_eq!(efd(" 1.5 ").unwrap(), "2");
        assert_eq!(
            efd("4").unwrap_err().message,
            "4 is outside the valid range for parameter \"extra_float_digits\" (-15 .. 3)"
        );
        assert_eq!(
            efd("x").unwrap_err().code,
            sqlstate::INVALID_PARAMETER_VALUE
        );
    }
}
