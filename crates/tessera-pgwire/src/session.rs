//! One PostgreSQL session: the startup handshake, the simple query protocol
//! and the extended protocol (prepared statements and portals), answering
//! each decoded frontend message with backend messages in an output buffer.
//!
//! Guarantees: every statement a simple Query runs is answered in order and
//! the batch always ends with ReadyForQuery; the first failing statement is
//! reported and the rest are skipped. In the extended protocol an error is
//! reported once and every later message is ignored until Sync, as in
//! PostgreSQL. A portal runs its statement once and caches the result, so
//! Execute with a row limit resumes where the last one stopped (PortalSuspended
//! in between). Output accumulates in one buffer that is written on Sync,
//! Flush, the end of a simple Query, or when it passes [`OUTPUT_FLUSH_BYTES`],
//! so a pipelined Parse/Bind/Execute/Sync costs one write. Nothing is shared
//! between sessions.
//!
//! Authentication and TLS happen before a session starts (see
//! `connection` and `auth`). Each statement runs under the session's
//! interrupt ([`tessera_types::interrupt`]): a CancelRequest naming the
//! session's key, `pg_cancel_backend`, `statement_timeout` and
//! `lock_timeout` stop it with an error, through the path any failing
//! statement takes. The session is listed in the process's registry
//! ([`tessera_sql::activity`]) for as long as it lives, with its state
//! and query as `pg_stat_activity` shows them. Not done yet: GSSAPI
//! (refused with 'N').
//!
//! COPY: `COPY … TO STDOUT` answers CopyOutResponse, a CopyData per row,
//! CopyDone. `COPY … FROM STDIN` puts the session in copy-in mode
//! ([`CopyIn`]): CopyData is read into rows ([`CopyReader`]) and inserted
//! in batches of [`COPY_BATCH_ROWS`] rows or [`COPY_BATCH_BYTES`] of input
//! through [`QueryEngine::copy_rows`], all in one transaction that CopyDone
//! commits and an error, CopyFail or a disconnect rolls back.

use std::collections::{BTreeMap, HashMap};
use std::io;

use tessera_sql::activity::{self, ActivityInfo, Registration};
use tessera_sql::engine::REPORTED_SETTINGS;
use tessera_sql::{
    Deallocate, PreparedStatement, QueryEngine, QueryResult, SessionState, StatementInfo,
};
use tessera_types::interrupt::Interruptible;
use tessera_types::sqlstate;
use tessera_types::{DataType, Error, Value};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::codec::{
    self, BackendKey, BindParams, FormatCodes, FrontendMessage, ParamTypeOids, Severity,
    StartupMessage, StartupParams, Target, TransactionStatus, PROTOCOL_VERSION_3_0,
};
use crate::copy::{CopyReader, CopyWriter};
use crate::values::{self, Format, ResultFormats};
use tessera_sql::copy::{CopyDirection, CopyFormat};

/// Buffered output is written to the client once it reaches this size, even
/// in the middle of a result, so a large result streams instead of piling up
/// in memory; below it, output waits for Sync, Flush or the end of a Query.
pub const OUTPUT_FLUSH_BYTES: usize = 64 * 1024;

/// After a write, an output buffer that grew past this (one huge row) is
/// shrunk back to [`OUTPUT_FLUSH_BYTES`] so an idle session does not keep it.
const OUTPUT_RETAIN_BYTES: usize = 4 * OUTPUT_FLUSH_BYTES;

/// The most named prepared statements one session may hold, protocol and
/// SQL ones together (see [`tessera_sql::PREPARED_STATEMENTS_MAX`]).
pub use tessera_sql::PREPARED_STATEMENTS_MAX;

/// The most portals one session may hold at once; each may cache a result.
/// Portals end at Sync, so only a client that Binds this many times without
/// Sync reaches it; the Bind past it fails with 54000.
pub const PORTALS_MAX: usize = 10_000;

/// The tag of `DISCARD ALL`, which also drops the session's prepared
/// statements.
const DISCARD_ALL: &str = "DISCARD ALL";

/// COPY FROM STDIN inserts the rows it has read once it holds this many,
/// so a large COPY streams through in batches instead of being held
/// whole; every batch belongs to the COPY's one transaction.
pub const COPY_BATCH_ROWS: usize = 4096;

/// … or once the rows held were read from this many bytes of input,
/// whichever comes first (wide rows make smaller batches).
pub const COPY_BATCH_BYTES: usize = 4 << 20;

/// Command tags that the session completes with the number of rows sent.
const ROW_COUNT_TAGS: &[&str] = &["SELECT", "FETCH"];

/// Settings a client may not choose in its startup message (PostgreSQL
/// refuses them with 55P02); they are ignored and keep their server values.
const READ_ONLY_SETTINGS: &[&str] = &[
    "server_version",
    "server_encoding",
    "integer_datetimes",
    "is_superuser",
    "in_hot_standby",
];

/// Startup parameters that are part of the protocol, not settings.
const PROTOCOL_PARAMS: &[&str] = &["user", "database", "options", "replication"];

/// What the connection does next after a handshake message.
#[derive(Debug)]
pub(crate) enum Handshake {
    /// Write the output and read the next startup message.
    Continue,
    /// Answer 'S' and start TLS, then read the next startup message.
    StartTls,
    /// Authenticate `user` for `database`, then start a session with
    /// these settings.
    Accept(Box<Accepted>),
    /// Write the output (maybe a FATAL error) and close.
    Close,
}

/// A startup message that asks for a session.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub user: String,
    /// The database named, or the user's name when none was.
    pub database: String,
    pub state: SessionState,
}

/// The state of the handshake: whether encryption was negotiated or
/// refused (a client may ask for each once), and whether TLS is offered.
#[derive(Debug, Default)]
pub(crate) struct Startup {
    tls_available: bool,
    ssl_done: bool,
    gssenc_refused: bool,
}

/// The newest minor version of protocol 3 served (NegotiateProtocolVersion).
const PROTOCOL_MINOR_NEWEST: u32 = 0;

impl Startup {
    /// A handshake that answers SSLRequest with TLS when `tls_available`.
    pub(crate) fn new(tls_available: bool) -> Startup {
        Startup {
            tls_available,
            ..Startup::default()
        }
    }

    pub(crate) fn handle(&mut self, message: StartupMessage<'_>, out: &mut Vec<u8>) -> Handshake {
        match message {
            StartupMessage::SslRequest if !self.ssl_done => {
                self.ssl_done = true;
                if self.tls_available {
                    return Handshake::StartTls;
                }
                codec::negotiation_refused(out);
                Handshake::Continue
            }
            StartupMessage::GssEncRequest if !self.gssenc_refused => {
                self.gssenc_refused = true;
                codec::negotiation_refused(out);
                Handshake::Continue
            }
            StartupMessage::SslRequest | StartupMessage::GssEncRequest => {
                let error = protocol_violation("duplicate SSL or GSSAPI negotiation request");
                codec::error_response(out, Severity::Fatal, &error);
                Handshake::Close
            }
            StartupMessage::CancelRequest { key } => {
                // As in PostgreSQL, the client is told nothing either way.
                activity::sessions().cancel_request(key.process_id, key.secret_key);
                Handshake::Close
            }
            StartupMessage::Startup {
                protocol_version,
                params,
            } => {
                let (major, minor) = (protocol_version >> 16, protocol_version & 0xffff);
                if major != PROTOCOL_VERSION_3_0 >> 16 {
                    let error = Error::new(
                        sqlstate::FEATURE_NOT_SUPPORTED,
                        format!(
                            "unsupported frontend protocol {major}.{minor}: server supports 3.0 to 3.{PROTOCOL_MINOR_NEWEST}"
                        ),
                    );
                    codec::error_response(out, Severity::Fatal, &error);
                    return Handshake::Close;
                }
                // A newer minor version, or protocol options: say what is
                // served, as PostgreSQL does, and go on with 3.0.
                let options: Vec<&str> = params
                    .iter()
                    .map(|(key, _)| key)
                    .filter(|key| key.starts_with("_pq_."))
                    .collect();
                if minor > PROTOCOL_MINOR_NEWEST || !options.is_empty() {
                    // PostgreSQL sends the whole version number (3.0).
                    let newest = PROTOCOL_VERSION_3_0 | PROTOCOL_MINOR_NEWEST;
                    codec::negotiate_protocol_version(out, newest, &options);
                }
                let user = params.get("user").unwrap_or_default().to_string();
                let database = params.get("database").unwrap_or_default().to_string();
                match startup_settings(params).and_then(SessionState::new) {
                    Ok(mut state) => {
                        // PostgreSQL's default database is the user's name.
                        state.database = database.clone();
                        let database = if database.is_empty() {
                            user.clone()
                        } else {
                            database
                        };
                        Handshake::Accept(Box::new(Accepted {
                            user,
                            database,
                            state,
                        }))
                    }
                    Err(error) => {
                        codec::error_response(out, Severity::Fatal, &error);
                        Handshake::Close
                    }
                }
            }
        }
    }
}

/// The session's settings at start: [`REPORTED_SETTINGS`] overridden by the
/// startup parameters (names matched case-insensitively to the reported ones).
fn startup_settings(params: StartupParams<'_>) -> Result<BTreeMap<String, String>, Error> {
    let mut settings: BTreeMap<String, String> = REPORTED_SETTINGS
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    let mut entries: Vec<(String, String)> = Vec::new();
    for (key, value) in params.iter() {
        if key == "options" {
            entries.extend(command_line_settings(value)?);
        } else {
            entries.push((key.to_string(), value.to_string()));
        }
    }
    for (key, value) in &entries {
        let (key, value) = (key.as_str(), value.as_str());
        if key == "user" && !value.is_empty() {
            settings.insert("session_authorization".to_string(), value.to_string());
        }
        // `_pq_.` parameters ask for protocol extensions; we grant none.
        if PROTOCOL_PARAMS.contains(&key) || key.starts_with("_pq_.") {
            continue;
        }
        // Settings as SET knows them; others fail as in PostgreSQL, except
        // placeholders (`app.name`), which any SET may create.
        let name = match tessera_sql::router::canonical_setting(key) {
            Some((canonical, _)) => canonical,
            None if key.contains('.') => key,
            None => {
                return Err(Error::new(
                    sqlstate::UNDEFINED_OBJECT,
                    format!("unrecognized configuration parameter \"{key}\""),
                ))
            }
        };
        if READ_ONLY_SETTINGS.contains(&name) || name == "session_authorization" {
            tracing::debug!(name, "ignoring a read-only setting in the startup message");
            continue;
        }
        let value = if name == "client_encoding" {
            client_encoding(value)
                .ok_or_else(|| {
                    Error::new(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!("invalid value for parameter \"client_encoding\": \"{value}\""),
                    )
                })?
                .to_string()
        } else {
            // TimeZone, DateStyle, IntervalStyle: checked and spelled as
            // PostgreSQL reports them.
            tessera_sql::engine::check_setting(
                name,
                key,
                value,
                settings.get(name).map(String::as_str),
            )?
        };
        settings.insert(name.to_string(), value);
    }
    Ok(settings)
}

/// The settings of the `options` startup parameter, read as PostgreSQL
/// reads its command-line switches: words split at whitespace (a backslash
/// keeps the next character), each `-c name=value`, `-cname=value` or
/// `--name=value`, dashes in the name read as underscores. Other switches
/// are 0A000.
fn command_line_settings(options: &str) -> Result<Vec<(String, String)>, Error> {
    let mut words = Vec::new();
    let mut chars = options.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut word = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_ascii_whitespace()) {
            if c == '\\' {
                if let Some(escaped) = chars.next() {
                    word.push(escaped);
                }
            } else {
                word.push(c);
            }
        }
        words.push(word);
    }
    let mut settings = Vec::new();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        let assignment = if word == "-c" {
            words.next().unwrap_or_default()
        } else if let Some(rest) = word.strip_prefix("--").or_else(|| word.strip_prefix("-c")) {
            rest.to_string()
        } else {
            return Err(Error::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                format!("command-line option \"{word}\" in the startup options is not supported"),
            ));
        };
        let Some((name, value)) = assignment.split_once('=') else {
            return Err(Error::new(
                sqlstate::SYNTAX_ERROR,
                format!("-c {assignment} requires a value"),
            ));
        };
        settings.push((name.replace('-', "_"), value.to_string()));
    }
    Ok(settings)
}

/// Whether `value` names UTF-8 the way PostgreSQL matches encoding names:
/// case and punctuation ignored, "unicode" an alias. The quotes some drivers
/// send (asyncpg: `'utf-8'`) are punctuation too.
/// Runs `statement` under the session's interrupt, with the deadline
/// its `statement_timeout` and `lock_timeout` give it.
async fn run_statement<E: QueryEngine>(
    engine: &E,
    statement: &E::Statement,
    params: Vec<Value>,
    state: &mut SessionState,
) -> tessera_types::Result<QueryResult> {
    let interrupt = state.interrupt.clone();
    interrupt.start_statement(
        state.timeout("statement_timeout"),
        state.timeout("lock_timeout"),
    );
    let run = engine.execute(statement, params, state);
    let outcome = tessera_types::interrupt::Interruptible::new(run, Some(interrupt.clone())).await;
    interrupt.end_statement();
    outcome
}

#[cfg(test)]
fn is_utf8_encoding_name(value: &str) -> bool {
    client_encoding(value) == Some("UTF8")
}

/// The client encodings accepted: UTF-8, and SQL_ASCII, which libpq picks
/// under the C locale and which PostgreSQL answers with no conversion (text
/// must still be valid UTF-8 here; other bytes get 22021).
fn client_encoding(value: &str) -> Option<&'static str> {
    let cleaned: String = value
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    match cleaned.as_str() {
        "utf8" | "unicode" => Some("UTF8"),
        "sqlascii" => Some("SQL_ASCII"),
        _ => None,
    }
}

fn protocol_violation(message: impl Into<String>) -> Error {
    Error::new(sqlstate::PROTOCOL_VIOLATION, message)
}

/// What the connection does after a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Continue,
    /// Write the remaining output and close the connection.
    Close,
}

/// A failed message: an SQL error is reported to the client, an I/O error
/// ends the connection.
enum Failure {
    Sql(Error),
    Io(io::Error),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure::Sql(error)
    }
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Failure {
        Failure::Io(error)
    }
}

/// A prepared statement; `None` for an empty query string, which Execute
/// answers with EmptyQueryResponse.
struct Prepared<S> {
    statement: Option<S>,
}

/// A bound statement and how far its execution got.
struct Portal<S> {
    statement: Option<S>,
    /// Taken by the first Execute.
    params: Vec<Value>,
    result_formats: ResultFormats,
    progress: Progress,
}

enum Progress {
    NotRun,
    /// Executed; rows before `next_row` have been sent.
    Running {
        result: QueryResult,
        next_row: usize,
    },
    /// Every row sent and CommandComplete with `tag`.
    Done {
        tag: String,
    },
}

/// A COPY FROM STDIN in progress: the rows read and not yet inserted.
struct CopyIn<S> {
    statement: S,
    reader: CopyReader,
    batch: Vec<Vec<Value>>,
    /// The line (record) number of each row in `batch`, and where its
    /// text ends in `batch_text`.
    batch_lines: Vec<(u64, usize)>,
    /// The text lines of the rows in `batch`, one after another (for the
    /// context of an error about one of them).
    batch_text: Vec<u8>,
    /// Input bytes the rows in `batch` were read from (about).
    batch_bytes: usize,
    /// Rows inserted so far.
    count: u64,
    /// The COPY runs in a transaction it opened (or took over from a
    /// multi-statement Query) and ends it; otherwise in the client's
    /// transaction block.
    implicit: bool,
    /// Started by Execute: its end is followed by the client's Sync, not
    /// by ReadyForQuery.
    extended: bool,
}

pub(crate) struct Session<'e, E: QueryEngine> {
    engine: &'e E,
    /// Set while the client sends COPY data.
    copy_in: Option<CopyIn<E::Statement>>,
    state: SessionState,
    statements: HashMap<String, Prepared<E::Statement>>,
    portals: HashMap<String, Portal<E::Statement>>,
    /// Set by an error in the extended protocol; cleared by Sync.
    skipping_until_sync: bool,
    /// The session's entry in the process's registry.
    registration: Registration,
    out: Vec<u8>,
    /// The text form of one value at a time, reused for every field.
    scratch: String,
}

impl<'e, E: QueryEngine> Session<'e, E> {
    /// Starts an accepted session, greeting the client in `out`:
    /// AuthenticationOk, a ParameterStatus per reported setting,
    /// BackendKeyData and ReadyForQuery.
    pub(crate) fn start(
        engine: &'e E,
        state: SessionState,
        backend: BackendKey,
        mut out: Vec<u8>,
    ) -> Session<'e, E> {
        state.interrupt.set_pid(backend.process_id);
        let now = activity::now_micros();
        let setting = |name: &str| state.settings.get(name).cloned().unwrap_or_default();
        let info = ActivityInfo {
            user: setting("session_authorization"),
            database: state.database.clone(),
            application_name: setting("application_name"),
            backend_start: now,
            state_change: now,
            state: "idle",
            ..ActivityInfo::default()
        };
        let registration = activity::sessions().register(
            backend.process_id,
            backend.secret_key,
            state.interrupt.clone(),
            info,
        );
        codec::authentication_ok(&mut out);
        for (name, default) in REPORTED_SETTINGS {
            let value = state.settings.get(*name).map_or(*default, String::as_str);
            codec::parameter_status(&mut out, name, value);
        }
        codec::backend_key_data(&mut out, backend);
        let mut session = Session {
            engine,
            copy_in: None,
            state,
            statements: HashMap::new(),
            portals: HashMap::new(),
            skipping_until_sync: false,
            registration,
            out,
            scratch: String::new(),
        };
        session.ready_for_query();
        session
    }

    /// The status ReadyForQuery reports: idle, in a transaction block, or in a failed one.
    fn transaction_status(&self) -> TransactionStatus {
        match self.state.transaction_status() {
            tessera_sql::TransactionStatus::Idle => TransactionStatus::Idle,
            tessera_sql::TransactionStatus::InTransaction => TransactionStatus::InTransaction,
            tessera_sql::TransactionStatus::Failed => TransactionStatus::Failed,
        }
    }

    /// The connection is over: the engine releases what the session holds.
    pub(crate) async fn end(&mut self) {
        self.engine.end_session(&mut self.state).await;
    }

    fn ready_for_query(&mut self) {
        let status = self.transaction_status();
        if status == TransactionStatus::Idle {
            self.write_notifications();
        }
        codec::ready_for_query(&mut self.out, status);
        let application_name = self
            .state
            .settings
            .get("application_name")
            .map_or("", String::as_str);
        self.registration.activity().update(|a| {
            a.state = match status {
                TransactionStatus::Idle => "idle",
                TransactionStatus::InTransaction => "idle in transaction",
                TransactionStatus::Failed => "idle in transaction (aborted)",
            };
            if status == TransactionStatus::Idle {
                a.xact_start = None;
            }
            a.state_change = activity::now_micros();
            if a.application_name != application_name {
                a.application_name = application_name.to_string();
            }
        });
    }

    /// Writes the notifications waiting for the client; whether there
    /// were any. Only between transactions, as PostgreSQL sends them.
    pub(crate) fn write_notifications(&mut self) -> bool {
        if self.transaction_status() != TransactionStatus::Idle {
            return false;
        }
        let notes = self.registration.activity().take_notifications();
        for n in &notes {
            codec::notification_response(&mut self.out, n.pid, &n.channel, &n.payload);
        }
        !notes.is_empty()
    }

    /// How long the session may stay idle in its open transaction block
    /// (`idle_in_transaction_session_timeout`), if it has one and a limit.
    pub(crate) fn idle_in_transaction_limit(&self) -> Option<std::time::Duration> {
        if self.transaction_status() == TransactionStatus::Idle {
            return None;
        }
        self.state.timeout("idle_in_transaction_session_timeout")
    }

    /// The registry's entry of this session.
    pub(crate) fn activity(&self) -> &std::sync::Arc<activity::Activity> {
        self.registration.activity()
    }

    /// Ends the implicit transaction of a Sync or simple Query: portals do not
    /// outlive it (PostgreSQL drops them at commit outside a transaction block).
    fn end_implicit_transaction(&mut self) {
        if self.transaction_status() == TransactionStatus::Idle {
            self.portals.clear();
        }
    }

    /// Writes the buffered output.
    pub(crate) async fn flush<W: AsyncWrite + Unpin>(&mut self, io: &mut W) -> io::Result<()> {
        write_out(&mut self.out, io).await
    }

    /// Reports a FATAL error; the caller closes the connection after flushing.
    pub(crate) fn fatal(&mut self, error: &Error) {
        tracing::debug!(code = error.code.code(), message = %error.message, "closing session");
        codec::error_response(&mut self.out, Severity::Fatal, error);
    }

    /// Answers one frontend message.
    pub(crate) async fn handle<W: AsyncWrite + Unpin>(
        &mut self,
        message: FrontendMessage<'_>,
        io: &mut W,
    ) -> io::Result<Step> {
        use FrontendMessage as M;
        if self.copy_in.is_some() {
            return self.handle_copy_in(message, io).await;
        }
        if self.skipping_until_sync && !matches!(message, M::Sync | M::Terminate) {
            // PostgreSQL sends an error at once; a client that asked with
            // Flush (asyncpg's Parse, Describe, Flush) waits for it.
            if matches!(message, M::Flush) {
                self.flush(io).await?;
            }
            return Ok(Step::Continue);
        }
        let outcome = match message {
            M::Query { sql } => {
                let outcome = self.simple_query(sql, io).await;
                if outcome.is_ok() && self.copy_in.is_some() {
                    // ReadyForQuery waits for the end of the COPY data.
                    self.flush(io).await?;
                    return Ok(Step::Continue);
                }
                self.end_implicit_transaction();
                return self.finish_simple(outcome, io).await;
            }
            M::Parse {
                statement,
                sql,
                param_type_oids,
            } => self
                .parse(statement, sql, param_type_oids)
                .map_err(Failure::from),
            M::Bind {
                portal,
                statement,
                param_formats,
                params,
                result_formats,
            } => self
                .bind(portal, statement, param_formats, params, result_formats)
                .map_err(Failure::from),
            M::Describe { target, name } => self.describe(target, name).map_err(Failure::from),
            M::Execute { portal, max_rows } => {
                let outcome = self.execute(portal, max_rows, io).await;
                self.report_changes();
                outcome
            }
            M::Close { target, name } => {
                // Closing what does not exist is not an error.
                match target {
                    Target::Statement => {
                        // A SQL PREPAREd one too: they share the namespace.
                        self.statements.remove(name);
                        self.state.prepared.remove(name);
                    }
                    Target::Portal => {
                        self.portals.remove(name);
                    }
                }
                codec::close_complete(&mut self.out);
                Ok(())
            }
            M::Sync => {
                self.skipping_until_sync = false;
                self.end_implicit_transaction();
                self.ready_for_query();
                self.flush(io).await?;
                Ok(())
            }
            M::Flush => {
                self.flush(io).await?;
                Ok(())
            }
            M::Terminate => return Ok(Step::Close),
            // Outside COPY FROM STDIN these are dropped, as PostgreSQL
            // drops them: they follow a COPY that failed.
            M::CopyData { .. } | M::CopyDone | M::CopyFail { .. } => return Ok(Step::Continue),
            M::PasswordMessage { .. } => {
                self.fatal(&protocol_violation("unexpected password message"));
                return Ok(Step::Close);
            }
        };
        match outcome {
            Ok(()) => {}
            Err(Failure::Io(error)) => return Err(error),
            Err(Failure::Sql(error)) => {
                self.fail_extended(&error).await;
                // PostgreSQL sends an error at once, not at the next Sync:
                // a client that sent Parse, Describe and Flush (postgres.js
                // with parameters) waits for the answer before its Sync.
                self.flush(io).await?;
                return Ok(Step::Continue);
            }
        }
        write_if_full(&mut self.out, io).await?;
        Ok(Step::Continue)
    }

    /// Answers a well-framed message whose content was invalid
    /// ([`codec::DecodeError::Invalid`]) as if the message had failed.
    pub(crate) async fn handle_invalid<W: AsyncWrite + Unpin>(
        &mut self,
        message_type: u8,
        error: Error,
        io: &mut W,
    ) -> io::Result<Step> {
        if self.copy_in.is_some() {
            return self.fail_copy(error, io).await;
        }
        if self.skipping_until_sync {
            return Ok(Step::Continue);
        }
        if b"PBDECH".contains(&message_type) {
            self.fail_extended(&error).await;
            self.flush(io).await?;
            return Ok(Step::Continue);
        }
        self.finish_simple(Err(error.into()), io).await
    }

    /// Ends a message outside the extended protocol: its error if any,
    /// ReadyForQuery, and the write.
    async fn finish_simple<W: AsyncWrite + Unpin>(
        &mut self,
        outcome: Result<(), Failure>,
        io: &mut W,
    ) -> io::Result<Step> {
        match outcome {
            Ok(()) => {}
            Err(Failure::Io(error)) => return Err(error),
            Err(Failure::Sql(error)) => {
                self.abort_transaction_block().await;
                codec::error_response(&mut self.out, Severity::Error, &error)
            }
        }
        self.ready_for_query();
        self.flush(io).await?;
        Ok(Step::Continue)
    }

    async fn fail_extended(&mut self, error: &Error) {
        self.abort_transaction_block().await;
        codec::error_response(&mut self.out, Severity::Error, error);
        self.skipping_until_sync = true;
    }

    /// Any error inside a transaction block, from parsing to execution,
    /// leaves it failed until ROLLBACK, as in PostgreSQL (25P02), and the
    /// engine rolls back the failed (sub)transaction's writes before the
    /// error is reported ([`QueryEngine::fail_block`]), so other sessions
    /// waiting for its rows go on whatever this client does next.
    async fn abort_transaction_block(&mut self) {
        self.engine.fail_block(&mut self.state).await;
    }

    /// ParameterStatus for each setting the last statement changed.
    fn report_changes(&mut self) {
        for (name, value) in self.state.reported_changes.drain(..) {
            codec::parameter_status(&mut self.out, &name, &value);
        }
    }

    async fn simple_query<W: AsyncWrite + Unpin>(
        &mut self,
        sql: &str,
        io: &mut W,
    ) -> Result<(), Failure> {
        // A simple Query replaces the unnamed statement, as in PostgreSQL.
        self.statements.remove("");
        self.registration.activity().report_active(sql);
        let engine = self.engine;
        let statements = engine
            .prepare_simple(sql, &mut self.state)
            .map_err(|e| e.located_in(sql))?;
        if statements.is_empty() {
            codec::empty_query_response(&mut self.out);
            return Ok(());
        }
        // Refuse before running anything: no statement can have parameters
        // here (a cached plan's are the Query's constants).
        if statements
            .iter()
            .any(|(statement, params)| statement.param_types().len() != params.len())
        {
            return Err(
                Error::new(sqlstate::UNDEFINED_PARAMETER, "there is no parameter $1").into(),
            );
        }
        // Several statements in one Query run as one implicit transaction,
        // as in PostgreSQL: an error rolls back the ones before it.
        let copy_from = |(s, _): &(E::Statement, Vec<Value>)| {
            s.copy().is_some_and(|c| c.direction == CopyDirection::From)
        };
        if statements[..statements.len() - 1].iter().any(copy_from) {
            return Err(Error::unsupported(
                "COPY FROM STDIN followed by other statements in one Query",
            )
            .into());
        }
        let implicit = statements.len() > 1
            && self.state.txn.is_none()
            && statements
                .iter()
                .all(|(statement, _)| statement.joins_implicit_transaction());
        if implicit {
            engine.begin_implicit(&mut self.state)?;
        }
        let outcome = self.run_simple_statements(statements, io).await;
        if let (Ok(()), Some(copy)) = (&outcome, self.copy_in.as_mut()) {
            // The COPY data is still to come: the COPY ends the
            // transaction the Query opened.
            copy.implicit |= implicit;
            return Ok(());
        }
        if implicit {
            let ended = engine.end_implicit(&mut self.state, outcome.is_ok()).await;
            if outcome.is_ok() {
                ended?;
            }
        }
        outcome
    }

    async fn run_simple_statements<W: AsyncWrite + Unpin>(
        &mut self,
        statements: Vec<(E::Statement, Vec<Value>)>,
        io: &mut W,
    ) -> Result<(), Failure> {
        let engine = self.engine;
        let text = ResultFormats::Uniform(Format::Text);
        let binary = ResultFormats::Uniform(Format::Binary);
        for (statement, params) in statements {
            let statement = &statement;
            if let Some(spec) = statement.copy() {
                match spec.direction {
                    CopyDirection::From => self.start_copy_in(statement, false)?,
                    CopyDirection::To => self.copy_out(statement, io).await?,
                }
                continue;
            }
            if let Some((name, direction, move_only)) = statement.fetches() {
                let failed = self.state.txn.as_ref().is_some_and(|t| t.failed);
                if !failed
                    && self.state.cursors.get(name).is_none()
                    && self.portals.contains_key(name)
                {
                    self.fetch_portal(name, direction, move_only, io).await?;
                    self.report_changes();
                    continue;
                }
            }
            let returns_rows = statement.returns_rows();
            let outcome = run_statement(engine, statement, params, &mut self.state).await;
            let result = match outcome {
                Ok(result) => result,
                Err(error) => {
                    self.report_changes();
                    return Err(error.into());
                }
            };
            // A statement bound only when it ran (an EXECUTE after its
            // PREPARE in one Query) also tells by its columns whether it
            // returns rows.
            let returns_rows =
                returns_rows || result.columns.as_ref().is_some_and(|c| !c.is_empty());
            if result.tag == DISCARD_ALL {
                self.statements.clear();
                self.state.prepared.clear();
            }
            if let Some(what) = statement.deallocates() {
                deallocate(&mut self.statements, &mut self.state, what)?;
            }
            // A statement bound only when it ran describes its rows itself.
            let columns = result.columns.as_deref().unwrap_or(statement.columns());
            let formats = if result.binary_rows { &binary } else { &text };
            if returns_rows {
                codec::row_description(&mut self.out, columns, formats)?;
            }
            check_rows(&result, returns_rows)?;
            for notice in &result.notices {
                codec::notice_response(&mut self.out, notice);
            }
            for row in &result.rows {
                codec::data_row(
                    &mut self.out,
                    row,
                    columns,
                    formats,
                    &mut self.scratch,
                    &self.state.output_style(),
                )?;
                write_if_full(&mut self.out, io).await?;
            }
            command_complete(&mut self.out, &result.tag, result.rows.len(), returns_rows);
            self.report_changes();
        }
        Ok(())
    }

    /// FETCH or MOVE (a simple Query) on protocol-level portal `name`, as
    /// asyncpg's `Cursor.forward` sends: forward only (Bind makes portals
    /// that scan forward), the rows in text format.
    async fn fetch_portal<W: AsyncWrite + Unpin>(
        &mut self,
        name: &str,
        direction: tessera_sql::cursor::FetchDirection,
        move_only: bool,
        io: &mut W,
    ) -> Result<(), Failure> {
        use tessera_sql::cursor::{FetchDirection, FETCH_ALL};
        let count = match direction {
            FetchDirection::Forward(FETCH_ALL) => usize::MAX,
            FetchDirection::Forward(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => {
                return Err(Error::new(
                    sqlstate::FEATURE_NOT_SUPPORTED,
                    "FETCH and MOVE on a protocol-level portal go forward only",
                )
                .into())
            }
        };
        let engine = self.engine;
        let portal = self
            .portals
            .get_mut(name)
            .ok_or_else(|| unknown_portal(name))?;
        let Some(statement) = &portal.statement else {
            return Err(Error::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                format!("portal \"{name}\" does not return rows"),
            )
            .into());
        };
        if !statement.returns_rows() || statement.copy().is_some() {
            return Err(Error::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                format!("portal \"{name}\" does not return rows"),
            )
            .into());
        }
        if let Progress::NotRun = portal.progress {
            let params = std::mem::take(&mut portal.params);
            let result = run_statement(engine, statement, params, &mut self.state).await?;
            check_rows(&result, true)?;
            for notice in &result.notices {
                codec::notice_response(&mut self.out, notice);
            }
            portal.progress = Progress::Running {
                result,
                next_row: 0,
            };
        }
        let text = ResultFormats::Uniform(Format::Text);
        let columns = match &portal.progress {
            Progress::Running { result, .. } => {
                result.columns.as_deref().unwrap_or(statement.columns())
            }
            _ => statement.columns(),
        };
        if !move_only {
            codec::row_description(&mut self.out, columns, &text)?;
        }
        let mut moved = 0usize;
        if let Progress::Running { result, next_row } = &portal.progress {
            let mut next = *next_row;
            while moved < count {
                let Some(row) = result.rows.get(next) else {
                    break;
                };
                if !move_only {
                    codec::data_row(
                        &mut self.out,
                        row,
                        columns,
                        &text,
                        &mut self.scratch,
                        &self.state.output_style(),
                    )?;
                    write_if_full(&mut self.out, io).await?;
                }
                next += 1;
                moved += 1;
            }
            if let Progress::Running { next_row, .. } = &mut portal.progress {
                *next_row = next;
            }
        }
        let verb = if move_only { "MOVE" } else { "FETCH" };
        codec::command_complete(&mut self.out, &format!("{verb} {moved}"));
        Ok(())
    }

    /// COPY … TO STDOUT: the query's rows as CopyOutResponse, a CopyData
    /// per row (the text header on its own, the binary signature with the
    /// first row), CopyDone and `COPY n`.
    async fn copy_out<W: AsyncWrite + Unpin>(
        &mut self,
        statement: &E::Statement,
        io: &mut W,
    ) -> Result<(), Failure> {
        let Some(spec) = statement.copy() else {
            return Err(Error::internal("COPY TO without its options").into());
        };
        let result = self
            .engine
            .execute(statement, Vec::new(), &mut self.state)
            .await?;
        let columns = result.columns.as_deref().unwrap_or(statement.columns());
        let types: Vec<DataType> = columns.iter().map(|c| c.data_type).collect();
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        let binary = spec.format == CopyFormat::Binary;
        codec::copy_out_response(&mut self.out, binary, columns.len())?;
        let mut writer = CopyWriter::new(spec, self.state.output_style());
        let mut header = Vec::new();
        writer.header(&names, &mut header);
        if !binary && !header.is_empty() {
            let start = codec::copy_data_begin(&mut self.out);
            self.out.extend_from_slice(&header);
            codec::copy_data_end(&mut self.out, start)?;
            header.clear();
        }
        for row in &result.rows {
            let start = codec::copy_data_begin(&mut self.out);
            self.out.append(&mut header);
            if let Err(error) = writer.row(row, &types, &mut self.out) {
                self.out.truncate(start);
                return Err(error.into());
            }
            codec::copy_data_end(&mut self.out, start)?;
            write_if_full(&mut self.out, io).await?;
        }
        let mut trailer = header;
        writer.trailer(&mut trailer);
        if !trailer.is_empty() {
            let start = codec::copy_data_begin(&mut self.out);
            self.out.extend_from_slice(&trailer);
            codec::copy_data_end(&mut self.out, start)?;
        }
        codec::copy_done(&mut self.out);
        codec::command_complete(&mut self.out, &format!("COPY {}", result.rows.len()));
        Ok(())
    }

    /// COPY … FROM STDIN: opens its transaction unless a block is open,
    /// answers CopyInResponse and waits for the data.
    fn start_copy_in(&mut self, statement: &E::Statement, extended: bool) -> Result<(), Error> {
        let Some(spec) = statement.copy() else {
            return Err(Error::internal("COPY FROM without its options"));
        };
        if self.transaction_status() == TransactionStatus::Failed {
            return Err(Error::new(
                sqlstate::IN_FAILED_SQL_TRANSACTION,
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        let binary = spec.format == CopyFormat::Binary;
        let mut response = Vec::new();
        codec::copy_in_response(&mut response, binary, spec.columns.len())?;
        let implicit = self.state.txn.is_none();
        if implicit {
            self.engine.begin_implicit(&mut self.state)?;
        }
        self.out.extend_from_slice(&response);
        // A cancel or statement_timeout stops the COPY at its next batch.
        self.state.interrupt.start_statement(
            self.state.timeout("statement_timeout"),
            self.state.timeout("lock_timeout"),
        );
        let reader = CopyReader::new(spec, self.engine.time_context(&self.state));
        self.copy_in = Some(CopyIn {
            statement: statement.clone(),
            reader,
            batch: Vec::new(),
            batch_lines: Vec::new(),
            batch_text: Vec::new(),
            batch_bytes: 0,
            count: 0,
            implicit,
            extended,
        });
        Ok(())
    }

    /// A message while the client sends COPY data.
    async fn handle_copy_in<W: AsyncWrite + Unpin>(
        &mut self,
        message: FrontendMessage<'_>,
        io: &mut W,
    ) -> io::Result<Step> {
        use FrontendMessage as M;
        let outcome = match message {
            M::CopyData { data } => self.copy_data(data, false).await,
            M::CopyDone => self.copy_data(&[], true).await,
            M::CopyFail { message } => Err(Error::new(
                sqlstate::QUERY_CANCELED,
                format!("COPY from stdin failed: {message}"),
            )),
            // Ignored during COPY, as PostgreSQL does: libpq sends them
            // without knowing the command it sent was a COPY.
            M::Sync | M::Flush => return Ok(Step::Continue),
            // The session ends; the engine rolls back what the COPY wrote.
            M::Terminate => return Ok(Step::Close),
            other => Err(protocol_violation(format!(
                "unexpected message type 0x{:02X} during COPY from stdin",
                message_type(&other)
            ))),
        };
        match outcome {
            Err(error) => self.fail_copy(error, io).await,
            Ok(false) => Ok(Step::Continue),
            Ok(true) => self.finish_copy(io).await,
        }
    }

    /// Reads `data` into rows and inserts each full batch; at the end
    /// (`done`), the rest. `Ok(true)` when the COPY is complete.
    async fn copy_data(&mut self, data: &[u8], done: bool) -> Result<bool, Error> {
        let engine = self.engine;
        let Some(copy) = self.copy_in.as_mut() else {
            return Err(Error::internal("COPY data outside COPY"));
        };
        copy.reader.feed(data)?;
        copy.batch_bytes += data.len();
        while let Some(row) = copy.reader.next_row(done)? {
            copy.batch.push(row);
            if let Some(text) = copy.reader.last_record() {
                copy.batch_text.extend_from_slice(text);
            }
            copy.batch_lines
                .push((copy.reader.line(), copy.batch_text.len()));
            if copy.batch.len() >= COPY_BATCH_ROWS || copy.batch_bytes >= COPY_BATCH_BYTES {
                copy.batch_bytes = 0;
                copy.count += Self::insert_batch(engine, copy, &mut self.state).await?;
            }
        }
        if done && !copy.batch.is_empty() {
            copy.count += Self::insert_batch(engine, copy, &mut self.state).await?;
        }
        Ok(done)
    }

    /// Inserts the rows of `copy.batch`; an error about one of them says
    /// its line, as PostgreSQL's `COPY t, line 3` context does.
    async fn insert_batch(
        engine: &E,
        copy: &mut CopyIn<E::Statement>,
        state: &mut SessionState,
    ) -> Result<u64, Error> {
        let rows = std::mem::take(&mut copy.batch);
        let interrupt = Some(state.interrupt.clone());
        let insert = engine.copy_rows(&copy.statement, rows, state);
        let inserted = Interruptible::new(insert, interrupt).await;
        let lines = std::mem::take(&mut copy.batch_lines);
        let text = std::mem::take(&mut copy.batch_text);
        inserted.map_err(|e| {
            let Some(r) = e.row().filter(|_| e.context.is_none()) else {
                return e;
            };
            let Some(&(line, end)) = lines.get(r) else {
                return e;
            };
            // PostgreSQL shows the line's text for the errors it raises
            // while the line is current (NOT NULL, CHECK), not for a unique
            // index's.
            let start = r
                .checked_sub(1)
                .and_then(|p| lines.get(p))
                .map_or(0, |p| p.1);
            let shows_text = matches!(
                e.code,
                sqlstate::NOT_NULL_VIOLATION | sqlstate::CHECK_VIOLATION
            );
            let record = (shows_text && copy.reader.last_record().is_some())
                .then(|| text.get(start..end))
                .flatten();
            let context = copy.reader.context_at(line, record);
            e.with_context(context)
        })
    }

    /// The data is all in: the COPY's transaction commits (if it is its
    /// own) and the client gets `COPY n`.
    async fn finish_copy<W: AsyncWrite + Unpin>(&mut self, io: &mut W) -> io::Result<Step> {
        self.state.interrupt.end_statement();
        let Some(copy) = self.copy_in.take() else {
            return Ok(Step::Continue);
        };
        if copy.implicit {
            if let Err(error) = self.engine.end_implicit(&mut self.state, true).await {
                return self.report_copy_error(error, copy.extended, io).await;
            }
        }
        codec::command_complete(&mut self.out, &format!("COPY {}", copy.count));
        if copy.extended {
            write_if_full(&mut self.out, io).await?;
            return Ok(Step::Continue);
        }
        self.end_implicit_transaction();
        self.ready_for_query();
        self.flush(io).await?;
        Ok(Step::Continue)
    }

    /// The COPY failed: nothing it wrote stays (its own transaction rolls
    /// back; a block it ran in is failed).
    async fn fail_copy<W: AsyncWrite + Unpin>(
        &mut self,
        error: Error,
        io: &mut W,
    ) -> io::Result<Step> {
        self.state.interrupt.end_statement();
        let Some(copy) = self.copy_in.take() else {
            return Ok(Step::Continue);
        };
        if copy.implicit {
            // The rollback's own failure changes nothing for the client:
            // the COPY failed either way.
            let _ = self.engine.end_implicit(&mut self.state, false).await;
        }
        self.report_copy_error(error, copy.extended, io).await
    }

    async fn report_copy_error<W: AsyncWrite + Unpin>(
        &mut self,
        error: Error,
        extended: bool,
        io: &mut W,
    ) -> io::Result<Step> {
        if extended {
            self.fail_extended(&error).await;
            self.flush(io).await?;
            return Ok(Step::Continue);
        }
        self.end_implicit_transaction();
        self.finish_simple(Err(error.into()), io).await
    }

    fn parse(
        &mut self,
        name: &str,
        sql: &str,
        param_type_oids: ParamTypeOids<'_>,
    ) -> Result<(), Error> {
        if name.is_empty() {
            self.statements.remove("");
        } else {
            // SQL PREPAREd statements share the namespace.
            self.state.check_new_prepared(name)?;
        }
        let param_types = param_type_oids
            .iter()
            .map(|oid| match oid {
                0 => Ok(None),
                oid => DataType::from_oid(oid).map(Some).ok_or_else(|| {
                    Error::new(
                        sqlstate::UNDEFINED_OBJECT,
                        format!("type with OID {oid} does not exist"),
                    )
                }),
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let mut statements = self
            .engine
            .prepare(sql, &param_types, &self.state)
            .map_err(|e| e.located_in(sql))?;
        if statements.len() > 1 {
            return Err(Error::syntax(
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        let statement = statements.pop();
        if !name.is_empty() {
            let types = statement.as_ref().map_or(&[][..], |s| s.param_types());
            let mut listed = PreparedStatement::new(sql, types, false);
            listed.statement = statement.as_ref().and_then(|s| s.for_execute());
            self.state.prepared.insert(name.to_string(), listed);
        }
        self.statements
            .insert(name.to_string(), Prepared { statement });
        codec::parse_complete(&mut self.out);
        Ok(())
    }

    fn bind(
        &mut self,
        portal_name: &str,
        statement_name: &str,
        param_formats: FormatCodes<'_>,
        params: BindParams<'_>,
        result_formats: FormatCodes<'_>,
    ) -> Result<(), Error> {
        if portal_name.is_empty() {
            self.portals.remove("");
        }
        let prepared = self
            .statements
            .get(statement_name)
            .ok_or_else(|| unknown_statement(statement_name))?;
        if self.state.cursors.get(portal_name).is_some() {
            // Cursors and portals share one namespace.
            return Err(Error::new(
                sqlstate::DUPLICATE_CURSOR,
                format!("cursor \"{portal_name}\" already exists"),
            ));
        }
        if let Some(listed) = self.state.prepared.get_mut(statement_name) {
            listed.count_execution();
        }
        let param_types = prepared
            .statement
            .as_ref()
            .map_or(&[][..], |s| s.param_types());
        if param_formats.len() > 1 && param_formats.len() != params.len() {
            return Err(protocol_violation(format!(
                "bind message has {} parameter formats but {} parameters",
                param_formats.len(),
                params.len()
            )));
        }
        if params.len() != param_types.len() {
            return Err(protocol_violation(format!(
                "bind message supplies {} parameters, but prepared statement \"{statement_name}\" requires {}",
                params.len(),
                param_types.len()
            )));
        }
        let mut values = Vec::with_capacity(params.len());
        let time = self.engine.time_context(&self.state);
        for (index, (bytes, ty)) in params.iter().zip(param_types).enumerate() {
            let format = match param_formats.len() {
                0 => Format::Text,
                1 => param_formats.get(0).unwrap_or(Format::Text),
                _ => param_formats.get(index).unwrap_or(Format::Text),
            };
            values.push(match bytes {
                None => Value::Null,
                Some(bytes) => values::decode_param(*ty, format, bytes, index, &time)?,
            });
        }
        let column_count = prepared.statement.as_ref().map_or(0, |s| s.columns().len());
        let result_formats = match result_formats.len() {
            0 => ResultFormats::Uniform(Format::Text),
            1 => ResultFormats::Uniform(result_formats.get(0).unwrap_or(Format::Text)),
            n if n == column_count => ResultFormats::PerColumn(result_formats.iter().collect()),
            n => {
                return Err(protocol_violation(format!(
                    "bind message has {n} result formats but query has {column_count} columns"
                )))
            }
        };
        if !self.portals.contains_key(portal_name) && self.portals.len() >= PORTALS_MAX {
            return Err(Error::new(
                sqlstate::PROGRAM_LIMIT_EXCEEDED,
                format!("too many portals (the limit is {PORTALS_MAX})"),
            ));
        }
        // A named portal bound twice is replaced; PostgreSQL refuses it with
        // 42P03 duplicate_cursor, which the SQLSTATE registry lacks.
        let portal = Portal {
            statement: prepared.statement.clone(),
            params: values,
            result_formats,
            progress: Progress::NotRun,
        };
        self.portals.insert(portal_name.to_string(), portal);
        codec::bind_complete(&mut self.out);
        Ok(())
    }

    fn describe(&mut self, target: Target, name: &str) -> Result<(), Error> {
        match target {
            Target::Statement => {
                let prepared = self
                    .statements
                    .get(name)
                    .ok_or_else(|| unknown_statement(name))?;
                match &prepared.statement {
                    None => {
                        codec::parameter_description(&mut self.out, &[])?;
                        codec::no_data(&mut self.out);
                    }
                    Some(statement) => {
                        codec::parameter_description(&mut self.out, statement.param_types())?;
                        if statement.returns_rows() {
                            let text = ResultFormats::Uniform(Format::Text);
                            codec::row_description(&mut self.out, statement.columns(), &text)?;
                        } else {
                            codec::no_data(&mut self.out);
                        }
                    }
                }
            }
            Target::Portal => {
                if !self.portals.contains_key(name) {
                    // A cursor DECLAREd in SQL is a portal too (psycopg
                    // describes its named cursors so).
                    if let Some(cursor) = self.state.cursors.get(name) {
                        let format = if cursor.binary {
                            Format::Binary
                        } else {
                            Format::Text
                        };
                        let formats = ResultFormats::Uniform(format);
                        codec::row_description(&mut self.out, &cursor.columns, &formats)?;
                        return Ok(());
                    }
                }
                let portal = self.portals.get(name).ok_or_else(|| unknown_portal(name))?;
                match &portal.statement {
                    Some(statement) if statement.returns_rows() => {
                        codec::row_description(
                            &mut self.out,
                            statement.columns(),
                            &portal.result_formats,
                        )?;
                    }
                    _ => codec::no_data(&mut self.out),
                }
            }
        }
        Ok(())
    }

    async fn execute<W: AsyncWrite + Unpin>(
        &mut self,
        name: &str,
        max_rows: u32,
        io: &mut W,
    ) -> Result<(), Failure> {
        let engine = self.engine;
        let portal = self
            .portals
            .get_mut(name)
            .ok_or_else(|| unknown_portal(name))?;
        let Some(statement) = &portal.statement else {
            codec::empty_query_response(&mut self.out);
            return Ok(());
        };
        let returns_rows = statement.returns_rows();
        if let (Some(spec), Progress::NotRun) = (statement.copy(), &portal.progress) {
            let statement = statement.clone();
            let from = spec.direction == CopyDirection::From;
            portal.progress = Progress::Done { tag: "COPY".into() };
            if from {
                self.start_copy_in(&statement, true)?;
                // The client sends its data only once it has this.
                self.flush(io).await?;
            } else {
                self.copy_out(&statement, io).await?;
            }
            return Ok(());
        }
        if let Progress::NotRun = portal.progress {
            let params = std::mem::take(&mut portal.params);
            self.registration.activity().report_active(statement.sql());
            let result = run_statement(engine, statement, params, &mut self.state).await?;
            if result.tag == DISCARD_ALL {
                // Its own portal lives on until Sync, as in PostgreSQL.
                self.statements.clear();
                self.state.prepared.clear();
            }
            if let Some(what) = statement.deallocates() {
                // As with DISCARD ALL, its portal lives on until Sync.
                deallocate(&mut self.statements, &mut self.state, what)?;
            }
            check_rows(&result, returns_rows)?;
            for notice in &result.notices {
                codec::notice_response(&mut self.out, notice);
            }
            portal.progress = Progress::Running {
                result,
                next_row: 0,
            };
        }
        let (result, next_row) = match &mut portal.progress {
            Progress::Running { result, next_row } => (result, next_row),
            Progress::Done { tag } if returns_rows => {
                // Like PostgreSQL: a finished query portal fetches nothing more.
                command_complete(&mut self.out, tag, 0, returns_rows);
                return Ok(());
            }
            Progress::Done { .. } | Progress::NotRun => {
                return Err(protocol_violation(format!("portal \"{name}\" cannot be run")).into());
            }
        };
        // PostgreSQL suspends whenever it sent `max_rows`, even if no row is
        // left; the next Execute then completes with a count of 0.
        let limit = if max_rows == 0 {
            usize::MAX
        } else {
            max_rows as usize
        };
        let mut sent = 0;
        // A FETCH describes its rows by its cursor's columns.
        let columns = result.columns.as_deref().unwrap_or(statement.columns());
        while let Some(row) = result.rows.get(*next_row) {
            if sent == limit {
                break;
            }
            codec::data_row(
                &mut self.out,
                row,
                columns,
                &portal.result_formats,
                &mut self.scratch,
                &self.state.output_style(),
            )?;
            *next_row += 1;
            sent += 1;
            write_if_full(&mut self.out, io).await?;
        }
        if sent == limit {
            codec::portal_suspended(&mut self.out);
            return Ok(());
        }
        let tag = std::mem::take(&mut result.tag);
        command_complete(&mut self.out, &tag, sent, returns_rows);
        // Frees the rows now rather than at Sync.
        portal.progress = Progress::Done { tag };
        Ok(())
    }
}

/// A statement that returns no rows must not produce any: they could not be
/// described to the client.
fn check_rows(result: &QueryResult, returns_rows: bool) -> Result<(), Error> {
    if !returns_rows && !result.rows.is_empty() {
        return Err(Error::internal(format!(
            "statement \"{}\" returned rows but was not described as returning rows",
            result.tag
        )));
    }
    Ok(())
}

fn command_complete(out: &mut Vec<u8>, tag: &str, rows: usize, returns_rows: bool) {
    if returns_rows && ROW_COUNT_TAGS.contains(&tag) {
        codec::command_complete_with_count(out, tag, rows as u64);
    } else {
        codec::command_complete(out, tag);
    }
}

/// The type byte of a frontend message, for errors that name it.
fn message_type(message: &FrontendMessage<'_>) -> u8 {
    use FrontendMessage as M;
    match message {
        M::Query { .. } => b'Q',
        M::Parse { .. } => b'P',
        M::Bind { .. } => b'B',
        M::Describe { .. } => b'D',
        M::Execute { .. } => b'E',
        M::Close { .. } => b'C',
        M::Sync => b'S',
        M::Flush => b'H',
        M::Terminate => b'X',
        M::CopyData { .. } => b'd',
        M::CopyDone => b'c',
        M::CopyFail { .. } => b'f',
        M::PasswordMessage { .. } => b'p',
    }
}

fn unknown_statement(name: &str) -> Error {
    let message = if name.is_empty() {
        "unnamed prepared statement does not exist".to_string()
    } else {
        format!("prepared statement \"{name}\" does not exist")
    };
    Error::new(sqlstate::INVALID_SQL_STATEMENT_NAME, message)
}

/// Applies a `DEALLOCATE` that the engine ran (it checked the transaction
/// block): drops the named statement, or all. A name the session does not
/// hold is 26000 and fails the transaction block, as in PostgreSQL.
fn deallocate<S>(
    statements: &mut HashMap<String, Prepared<S>>,
    state: &mut SessionState,
    what: Deallocate<'_>,
) -> Result<(), Error> {
    match what {
        Deallocate::All => {
            statements.clear();
            state.prepared.clear();
        }
        Deallocate::Named(name) => {
            let protocol = statements.remove(name).is_some();
            if state.prepared.remove(name).is_none() && !protocol {
                if let Some(txn) = state.txn.as_mut() {
                    txn.failed = true;
                }
                return Err(Error::new(
                    sqlstate::INVALID_SQL_STATEMENT_NAME,
                    format!("prepared statement \"{name}\" does not exist"),
                ));
            }
        }
    }
    Ok(())
}

fn unknown_portal(name: &str) -> Error {
    Error::new(
        sqlstate::INVALID_CURSOR_NAME,
        format!("portal \"{name}\" does not exist"),
    )
}

/// Writes and clears `out`, then flushes `io`.
pub(crate) async fn write_out<W: AsyncWrite + Unpin>(
    out: &mut Vec<u8>,
    io: &mut W,
) -> io::Result<()> {
    if !out.is_empty() {
        io.write_all(out).await?;
        out.clear();
        if out.capacity() > OUTPUT_RETAIN_BYTES {
            out.shrink_to(OUTPUT_FLUSH_BYTES);
        }
    }
    io.flush().await
}

async fn write_if_full<W: AsyncWrite + Unpin>(out: &mut Vec<u8>, io: &mut W) -> io::Result<()> {
    if out.len() >= OUTPUT_FLUSH_BYTES {
        write_out(out, io).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_encoding_names() {
        for name in [
            "UTF8",
            "utf8",
            "utf-8",
            "'utf-8'",
            "\"UTF-8\"",
            "Unicode",
            " utf_8 ",
        ] {
            assert!(is_utf8_encoding_name(name), "{name}");
        }
        for name in ["LATIN1", "utf", "utf88", "", "unicode8", "utf16"] {
            assert!(!is_utf8_encoding_name(name), "{name}");
        }
        assert_eq!(client_encoding("SQL_ASCII"), Some("SQL_ASCII"));
    }
}
