//! The PostgreSQL v3 message codec, sans I/O: frontend messages are decoded
//! from a byte slice, backend messages are appended to a plain `Vec<u8>`.
//!
//! Decoding guarantees: it never panics and never indexes out of bounds on
//! any input; a buffer that holds only part of a message gives `Ok(None)`
//! ("need more bytes"), never an error; every length is checked against
//! [`MESSAGE_BYTES_MAX`] (or [`STARTUP_MESSAGE_BYTES_MAX`]) as soon as the
//! five-byte header is present, before the body arrives; every count inside
//! a message is checked against the bytes actually present before anything
//! is sized by it. Decoded messages borrow from the input (strings, parameter
//! values, format codes) so decoding allocates nothing. Strings must be
//! NUL-terminated and valid UTF-8.
//!
//! Errors come in two kinds ([`DecodeError`]): a broken frame (bad length,
//! unknown message type, truncated or overlong content) loses the stream and
//! must end the connection with a FATAL ErrorResponse; a well-framed message
//! with an invalid value (invalid UTF-8, unsupported format code) is skipped
//! and reported as an ordinary ERROR, as PostgreSQL does.
//!
//! Encoders write each message with a placeholder length that is patched
//! once the body is written, so rows go straight into the output buffer.
//! This module does not decide what to send when: that is the session's job.

use std::io::Write as _;

use tessera_sql::{ColumnDesc, Notice};
use tessera_types::output::OutputStyle;
use tessera_types::sqlstate::{self, SqlState};
use tessera_types::{DataType, Error, Value};

use crate::values::{self, Format, ResultFormats};

/// The largest frontend message accepted, length field included (PostgreSQL
/// allows 1 GiB). A message whose length field exceeds it is refused as soon
/// as its header arrives, before its body is buffered: the connection gets
/// ErrorResponse FATAL 54000 (program_limit_exceeded) and is closed, because
/// the stream cannot be resynchronised without reading the body.
pub const MESSAGE_BYTES_MAX: usize = 64 * 1024 * 1024;

/// The largest startup message accepted, length field included (PostgreSQL's
/// `MAX_STARTUP_PACKET_LENGTH`). A longer one gets ErrorResponse FATAL 08P01
/// and the connection is closed.
pub const STARTUP_MESSAGE_BYTES_MAX: usize = 10_000;

/// The largest DataRow sent, without its type byte: the protocol's signed
/// 32-bit length. Encoding a longer row fails with 54000 and sends nothing of
/// it; the statement ends with that error.
pub const ROW_BYTES_MAX: usize = i32::MAX as usize;

/// Protocol version 3.0 as the startup message spells it (major << 16 | minor).
pub const PROTOCOL_VERSION_3_0: u32 = 3 << 16;
const SSL_REQUEST_CODE: u32 = 80_877_103;
const GSSENC_REQUEST_CODE: u32 = 80_877_104;
const CANCEL_REQUEST_CODE: u32 = 80_877_102;

/// The process id and secret a client quotes in a CancelRequest; chosen by
/// the caller of [`crate::serve_connection`] and sent in BackendKeyData.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendKey {
    pub process_id: u32,
    pub secret_key: u32,
}

/// Why a message could not be decoded, by what the session must do.
#[derive(Debug, Clone, PartialEq)]
pub enum DecodeError {
    /// The frame itself is broken, so the rest of the stream cannot be
    /// parsed: send ErrorResponse FATAL and close the connection.
    Fatal(Error),
    /// The message is framed correctly but carries an invalid value: skip
    /// its `message_bytes` bytes, report `error` as an ERROR and go on.
    Invalid {
        message_type: u8,
        /// Boxed: the error path keeps `Result`s of decoding small.
        error: Box<Error>,
        message_bytes: usize,
    },
}

impl DecodeError {
    pub fn error(&self) -> &Error {
        match self {
            DecodeError::Fatal(error) => error,
            DecodeError::Invalid { error, .. } => error,
        }
    }
}

/// The untyped first message of a connection.
#[derive(Debug, Clone, PartialEq)]
pub enum StartupMessage<'a> {
    /// `params` are checked and present only for protocol major version 3;
    /// for any other version they are empty and the session refuses it.
    Startup {
        protocol_version: u32,
        params: StartupParams<'a>,
    },
    SslRequest,
    GssEncRequest,
    CancelRequest {
        key: BackendKey,
    },
}

/// The key/value pairs of a startup message, validated: NUL-terminated
/// UTF-8 strings in pairs, then a final NUL.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StartupParams<'a> {
    bytes: &'a [u8],
}

impl<'a> StartupParams<'a> {
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let mut reader = Reader { bytes: self.bytes };
        std::iter::from_fn(move || {
            if reader.bytes.first().is_none_or(|b| *b == 0) {
                return None;
            }
            let key = reader.cstr().ok()?;
            let value = reader.cstr().ok()?;
            Some((key, value))
        })
    }

    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// Statement or portal, as Describe and Close name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Statement,
    Portal,
}

/// A typed frontend message, borrowing its strings and values from the input.
#[derive(Debug, Clone, PartialEq)]
pub enum FrontendMessage<'a> {
    Query {
        sql: &'a str,
    },
    Parse {
        statement: &'a str,
        sql: &'a str,
        param_type_oids: ParamTypeOids<'a>,
    },
    Bind {
        portal: &'a str,
        statement: &'a str,
        param_formats: FormatCodes<'a>,
        params: BindParams<'a>,
        result_formats: FormatCodes<'a>,
    },
    Describe {
        target: Target,
        name: &'a str,
    },
    /// `max_rows` 0 means all rows.
    Execute {
        portal: &'a str,
        max_rows: u32,
    },
    Sync,
    Flush,
    Terminate,
    Close {
        target: Target,
        name: &'a str,
    },
    CopyData {
        data: &'a [u8],
    },
    CopyDone,
    CopyFail {
        message: &'a str,
    },
    /// PasswordMessage and the SASL responses that share its type byte.
    PasswordMessage {
        data: &'a [u8],
    },
}

/// The parameter type OIDs of a Parse message (0 = unspecified).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamTypeOids<'a> {
    bytes: &'a [u8],
}

impl<'a> ParamTypeOids<'a> {
    pub fn len(&self) -> usize {
        self.bytes.len() / 4
    }
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = u32> + 'a {
        self.bytes
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }
}

/// Format codes of a Bind message, each validated to be 0 (text) or 1 (binary).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FormatCodes<'a> {
    bytes: &'a [u8],
}

impl<'a> FormatCodes<'a> {
    pub fn len(&self) -> usize {
        self.bytes.len() / 2
    }
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
    pub fn get(&self, index: usize) -> Option<Format> {
        let code = self.bytes.chunks_exact(2).nth(index)?;
        Format::from_code(i16::from_be_bytes([code[0], code[1]]))
    }
    pub fn iter(&self) -> impl Iterator<Item = Format> + 'a {
        // Validated at decode time; an invalid code cannot reach here.
        self.bytes
            .chunks_exact(2)
            .map(|c| Format::from_code(i16::from_be_bytes([c[0], c[1]])).unwrap_or(Format::Text))
    }
}

/// The parameter values of a Bind message, validated: `None` is NULL.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BindParams<'a> {
    count: usize,
    bytes: &'a [u8],
}

impl<'a> BindParams<'a> {
    pub fn len(&self) -> usize {
        self.count
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    pub fn iter(&self) -> impl Iterator<Item = Option<&'a [u8]>> + 'a {
        let mut reader = Reader { bytes: self.bytes };
        let mut left = self.count;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            reader.param_value().ok()
        })
    }
}

/// Decodes the untyped first message of a connection (or the one after a
/// refused SSLRequest/GSSENCRequest). `Ok(None)`: need more bytes. On
/// success also returns the number of bytes the message took.
pub fn decode_startup(buf: &[u8]) -> Result<Option<(StartupMessage<'_>, usize)>, DecodeError> {
    let Some(&[a, b, c, d]) = buf.get(..4) else {
        return Ok(None);
    };
    let length = u32::from_be_bytes([a, b, c, d]) as usize;
    if !(8..=STARTUP_MESSAGE_BYTES_MAX).contains(&length) {
        return Err(DecodeError::Fatal(protocol_violation(
            "invalid length of startup packet",
        )));
    }
    let Some(message) = buf.get(4..length) else {
        return Ok(None);
    };
    let mut reader = Reader { bytes: message };
    let code = reader.u32().map_err(BodyError::fatal)?;
    let decoded = match code {
        SSL_REQUEST_CODE | GSSENC_REQUEST_CODE => {
            reader.finish().map_err(BodyError::fatal)?;
            if code == SSL_REQUEST_CODE {
                StartupMessage::SslRequest
            } else {
                StartupMessage::GssEncRequest
            }
        }
        CANCEL_REQUEST_CODE => {
            let process_id = reader.u32().map_err(BodyError::fatal)?;
            let secret_key = reader.u32().map_err(BodyError::fatal)?;
            reader.finish().map_err(BodyError::fatal)?;
            StartupMessage::CancelRequest {
                key: BackendKey {
                    process_id,
                    secret_key,
                },
            }
        }
        protocol_version if protocol_version >> 16 == 3 => {
            let params = reader.bytes;
            // Validate once here so that iteration later cannot fail.
            loop {
                match reader.bytes {
                    [0] => break,
                    [] | [0, ..] => {
                        let error = protocol_violation(
                            "invalid startup packet layout: expected terminator as last byte",
                        );
                        return Err(DecodeError::Fatal(error));
                    }
                    _ => {
                        reader.cstr().map_err(BodyError::fatal)?;
                        reader.cstr().map_err(BodyError::fatal)?;
                    }
                }
            }
            StartupMessage::Startup {
                protocol_version,
                params: StartupParams { bytes: params },
            }
        }
        protocol_version => StartupMessage::Startup {
            protocol_version,
            params: StartupParams::default(),
        },
    };
    Ok(Some((decoded, length)))
}

/// Decodes one typed frontend message from the front of `buf`. `Ok(None)`:
/// need more bytes. On success also returns the number of bytes it took.
pub fn decode_frontend(buf: &[u8]) -> Result<Option<(FrontendMessage<'_>, usize)>, DecodeError> {
    let Some(&message_type) = buf.first() else {
        return Ok(None);
    };
    if !b"QPBDESCHXdcfp".contains(&message_type) {
        let error = protocol_violation(format!("invalid frontend message type {message_type}"));
        return Err(DecodeError::Fatal(error));
    }
    let Some(&[a, b, c, d]) = buf.get(1..5) else {
        return Ok(None);
    };
    let length = u32::from_be_bytes([a, b, c, d]) as usize;
    if length < 4 {
        return Err(DecodeError::Fatal(protocol_violation(
            "invalid message length",
        )));
    }
    if length > MESSAGE_BYTES_MAX {
        let error = Error::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            format!("message of {length} bytes exceeds the limit of {MESSAGE_BYTES_MAX} bytes"),
        );
        return Err(DecodeError::Fatal(error));
    }
    let message_bytes = 1 + length;
    let Some(body) = buf.get(5..message_bytes) else {
        return Ok(None);
    };
    match decode_body(message_type, body) {
        Ok(message) => Ok(Some((message, message_bytes))),
        Err(BodyError { error, fatal: true }) => Err(DecodeError::Fatal(*error)),
        Err(BodyError {
            error,
            fatal: false,
        }) => Err(DecodeError::Invalid {
            message_type,
            error,
            message_bytes,
        }),
    }
}

fn decode_body(message_type: u8, body: &[u8]) -> Result<FrontendMessage<'_>, BodyError> {
    let mut r = Reader { bytes: body };
    let message = match message_type {
        b'Q' => FrontendMessage::Query { sql: r.cstr()? },
        b'P' => {
            let statement = r.cstr()?;
            let sql = r.cstr()?;
            let count = r.u16()? as usize;
            let bytes = r.take(count * 4)?;
            FrontendMessage::Parse {
                statement,
                sql,
                param_type_oids: ParamTypeOids { bytes },
            }
        }
        b'B' => {
            let portal = r.cstr()?;
            let statement = r.cstr()?;
            let param_formats = r.format_codes()?;
            let count = r.u16()? as usize;
            // Walk the values once to check every length; the session walks
            // them again through BindParams::iter, which then cannot fail.
            let start = r.bytes;
            for _ in 0..count {
                r.param_value()?;
            }
            let bytes = &start[..start.len() - r.bytes.len()];
            let params = BindParams { count, bytes };
            let result_formats = r.format_codes()?;
            FrontendMessage::Bind {
                portal,
                statement,
                param_formats,
                params,
                result_formats,
            }
        }
        b'D' => {
            let target = r.target("DESCRIBE")?;
            FrontendMessage::Describe {
                target,
                name: r.cstr()?,
            }
        }
        b'C' => {
            let target = r.target("CLOSE")?;
            FrontendMessage::Close {
                target,
                name: r.cstr()?,
            }
        }
        b'E' => {
            let portal = r.cstr()?;
            FrontendMessage::Execute {
                portal,
                max_rows: r.u32()?,
            }
        }
        b'S' => FrontendMessage::Sync,
        b'H' => FrontendMessage::Flush,
        b'X' => FrontendMessage::Terminate,
        b'c' => FrontendMessage::CopyDone,
        b'd' => FrontendMessage::CopyData { data: r.rest() },
        b'f' => FrontendMessage::CopyFail { message: r.cstr()? },
        b'p' => FrontendMessage::PasswordMessage { data: r.rest() },
        other => {
            let error = protocol_violation(format!("invalid frontend message type {other}"));
            return Err(BodyError::from(error));
        }
    };
    r.finish()?;
    Ok(message)
}

/// An error inside a message body; `fatal` when the body is malformed
/// rather than merely carrying an invalid value.
struct BodyError {
    /// Boxed: the error path keeps the reader's `Result`s small.
    error: Box<Error>,
    fatal: bool,
}

impl BodyError {
    fn fatal(error: impl Into<BodyError>) -> DecodeError {
        DecodeError::Fatal(*error.into().error)
    }

    fn invalid(error: Error) -> BodyError {
        BodyError {
            error: Box::new(error),
            fatal: false,
        }
    }
}

impl From<Error> for BodyError {
    fn from(error: Error) -> BodyError {
        BodyError {
            error: Box::new(error),
            fatal: true,
        }
    }
}

fn protocol_violation(message: impl Into<String>) -> Error {
    Error::new(sqlstate::PROTOCOL_VIOLATION, message)
}

fn insufficient_data() -> BodyError {
    BodyError::from(protocol_violation("insufficient data left in message"))
}

/// A cursor over a message body; every read checks the bytes left.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BodyError> {
        if n > self.bytes.len() {
            return Err(insufficient_data());
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, BodyError> {
        let (&first, tail) = self.bytes.split_first().ok_or_else(insufficient_data)?;
        self.bytes = tail;
        Ok(first)
    }

    fn u16(&mut self) -> Result<u16, BodyError> {
        match self.take(2)? {
            &[a, b] => Ok(u16::from_be_bytes([a, b])),
            _ => Err(insufficient_data()),
        }
    }

    fn u32(&mut self) -> Result<u32, BodyError> {
        match self.take(4)? {
            &[a, b, c, d] => Ok(u32::from_be_bytes([a, b, c, d])),
            _ => Err(insufficient_data()),
        }
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    /// A NUL-terminated string; invalid UTF-8 is a non-fatal error (22021).
    fn cstr(&mut self) -> Result<&'a str, BodyError> {
        let Some(nul) = self.bytes.iter().position(|b| *b == 0) else {
            return Err(BodyError::from(protocol_violation(
                "invalid string in message",
            )));
        };
        let text = self.take(nul)?;
        self.take(1)?;
        values::decode_utf8(text).map_err(BodyError::invalid)
    }

    fn target(&mut self, message: &str) -> Result<Target, BodyError> {
        match self.u8()? {
            b'S' => Ok(Target::Statement),
            b'P' => Ok(Target::Portal),
            other => Err(BodyError::from(protocol_violation(format!(
                "invalid {message} message subtype {other}"
            )))),
        }
    }

    fn format_codes(&mut self) -> Result<FormatCodes<'a>, BodyError> {
        let count = self.u16()? as usize;
        let bytes = self.take(count * 2)?;
        for code in bytes.chunks_exact(2) {
            let code = i16::from_be_bytes([code[0], code[1]]);
            if Format::from_code(code).is_none() {
                let error = Error::new(
                    sqlstate::INVALID_PARAMETER_VALUE,
                    format!("unsupported format code: {code}"),
                );
                return Err(BodyError::invalid(error));
            }
        }
        Ok(FormatCodes { bytes })
    }

    /// One length-prefixed Bind value; length -1 is NULL.
    fn param_value(&mut self) -> Result<Option<&'a [u8]>, BodyError> {
        let length = self.u32()? as i32;
        if length == -1 {
            return Ok(None);
        }
        let length = usize::try_from(length).map_err(|_| insufficient_data())?;
        self.take(length).map(Some)
    }

    fn finish(&self) -> Result<(), BodyError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(BodyError::from(protocol_violation(
                "invalid message format",
            )))
        }
    }
}

// ---------------------------------------------------------------------------
// Backend messages.

/// Severity of an ErrorResponse or NoticeResponse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The statement failed; the session goes on.
    Error,
    /// The session ends after this message.
    Fatal,
    Notice,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
            Severity::Notice => "NOTICE",
        }
    }
}

/// The transaction status a ReadyForQuery reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionStatus {
    Idle,
    InTransaction,
    Failed,
}

impl TransactionStatus {
    pub fn byte(self) -> u8 {
        match self {
            TransactionStatus::Idle => b'I',
            TransactionStatus::InTransaction => b'T',
            TransactionStatus::Failed => b'E',
        }
    }
}

/// Starts a message: its type byte and a length placeholder. Returns where
/// it starts, for [`end_message`].
fn begin_message(out: &mut Vec<u8>, message_type: u8) -> usize {
    let start = out.len();
    out.push(message_type);
    out.extend_from_slice(&[0; 4]);
    start
}

/// Patches the length of the message begun at `start`.
fn end_message(out: &mut [u8], start: usize) {
    let length = out.len() - start - 1;
    // DataRow checks its size against ROW_BYTES_MAX first; every other
    // message holds names and texts far smaller (client input is at most
    // MESSAGE_BYTES_MAX), so a longer one is a bug here.
    let length = i32::try_from(length)
        .unwrap_or_else(|_| panic!("backend message of {length} bytes exceeds i32"));
    out[start + 1..start + 5].copy_from_slice(&length.to_be_bytes());
}

fn empty_message(out: &mut Vec<u8>, message_type: u8) {
    out.push(message_type);
    out.extend_from_slice(&4i32.to_be_bytes());
}

/// Appends `s` and its NUL terminator; a NUL inside `s` would break the
/// frame, so the string is cut there (no PostgreSQL name or message has one).
fn put_cstr(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    out.extend_from_slice(&bytes[..end]);
    out.push(0);
}

/// The single byte answering SSLRequest and GSSENCRequest: not supported.
pub fn negotiation_refused(out: &mut Vec<u8>) {
    out.push(b'N');
}

/// The single byte answering SSLRequest when TLS follows.
pub fn negotiation_accepted(out: &mut Vec<u8>) {
    out.push(b'S');
}

/// The longest authentication response (PasswordMessage, SASLInitialResponse,
/// SASLResponse) a client may send before it is authenticated; a longer one
/// ends the connection with 08P01 (PostgreSQL's `PG_MAX_AUTH_TOKEN_LENGTH`).
pub const AUTH_MESSAGE_BYTES_MAX: usize = 65_535;

/// Decodes the body of an authentication response ('p') from the front of
/// `buf`. `Ok(None)`: need more bytes. Anything else than a 'p' message, or
/// one longer than [`AUTH_MESSAGE_BYTES_MAX`], is an error.
pub fn decode_auth_response(buf: &[u8]) -> Result<Option<(&[u8], usize)>, Error> {
    let Some(&message_type) = buf.first() else {
        return Ok(None);
    };
    if message_type != b'p' {
        return Err(protocol_violation(format!(
            "expected password response, got message type {message_type}"
        )));
    }
    let Some(&[a, b, c, d]) = buf.get(1..5) else {
        return Ok(None);
    };
    let length = u32::from_be_bytes([a, b, c, d]) as usize;
    if !(4..=AUTH_MESSAGE_BYTES_MAX + 4).contains(&length) {
        return Err(protocol_violation("invalid message length"));
    }
    Ok(buf.get(5..1 + length).map(|body| (body, 1 + length)))
}

/// AuthenticationCleartextPassword.
pub fn authentication_cleartext(out: &mut Vec<u8>) {
    let start = begin_message(out, b'R');
    out.extend_from_slice(&3i32.to_be_bytes());
    end_message(out, start);
}

/// AuthenticationMD5Password with its 4-byte salt.
pub fn authentication_md5(out: &mut Vec<u8>, salt: [u8; 4]) {
    let start = begin_message(out, b'R');
    out.extend_from_slice(&5i32.to_be_bytes());
    out.extend_from_slice(&salt);
    end_message(out, start);
}

/// AuthenticationSASL offering `mechanisms`.
pub fn authentication_sasl(out: &mut Vec<u8>, mechanisms: &[&str]) {
    let start = begin_message(out, b'R');
    out.extend_from_slice(&10i32.to_be_bytes());
    for m in mechanisms {
        put_cstr(out, m);
    }
    out.push(0);
    end_message(out, start);
}

/// AuthenticationSASLContinue (`code` 11) or AuthenticationSASLFinal (12).
pub fn authentication_sasl_data(out: &mut Vec<u8>, code: i32, data: &[u8]) {
    let start = begin_message(out, b'R');
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(data);
    end_message(out, start);
}

/// NegotiateProtocolVersion: the newest version served (major << 16 |
/// minor, as PostgreSQL sends it) and the protocol options (`_pq_.*`) not
/// recognised.
pub fn negotiate_protocol_version(out: &mut Vec<u8>, newest: u32, unrecognized: &[&str]) {
    let start = begin_message(out, b'v');
    out.extend_from_slice(&newest.to_be_bytes());
    out.extend_from_slice(&(unrecognized.len() as u32).to_be_bytes());
    for option in unrecognized {
        put_cstr(out, option);
    }
    end_message(out, start);
}

pub fn authentication_ok(out: &mut Vec<u8>) {
    let start = begin_message(out, b'R');
    out.extend_from_slice(&0i32.to_be_bytes());
    end_message(out, start);
}

pub fn parameter_status(out: &mut Vec<u8>, name: &str, value: &str) {
    let start = begin_message(out, b'S');
    put_cstr(out, name);
    put_cstr(out, value);
    end_message(out, start);
}

/// NotificationResponse: a NOTIFY on a channel the session listens to.
pub fn notification_response(out: &mut Vec<u8>, pid: u32, channel: &str, payload: &str) {
    let start = begin_message(out, b'A');
    out.extend_from_slice(&pid.to_be_bytes());
    put_cstr(out, channel);
    put_cstr(out, payload);
    end_message(out, start);
}

pub fn backend_key_data(out: &mut Vec<u8>, key: BackendKey) {
    let start = begin_message(out, b'K');
    out.extend_from_slice(&key.process_id.to_be_bytes());
    out.extend_from_slice(&key.secret_key.to_be_bytes());
    end_message(out, start);
}

pub fn ready_for_query(out: &mut Vec<u8>, status: TransactionStatus) {
    let start = begin_message(out, b'Z');
    out.push(status.byte());
    end_message(out, start);
}

/// RowDescription; column `i` is announced in `formats.get(i)`. Fails (54000)
/// beyond the 16-bit column count the protocol allows.
pub fn row_description(
    out: &mut Vec<u8>,
    columns: &[ColumnDesc],
    formats: &ResultFormats,
) -> Result<(), Error> {
    let count = column_count(columns.len())?;
    let start = begin_message(out, b'T');
    out.extend_from_slice(&count.to_be_bytes());
    for (i, column) in columns.iter().enumerate() {
        put_cstr(out, &column.name);
        out.extend_from_slice(&column.table_oid.to_be_bytes());
        out.extend_from_slice(&column.column_id.to_be_bytes());
        out.extend_from_slice(&column.data_type.oid().to_be_bytes());
        out.extend_from_slice(&column.data_type.typlen().to_be_bytes());
        out.extend_from_slice(&column.data_type.typmod().to_be_bytes());
        out.extend_from_slice(&formats.get(i).code().to_be_bytes());
    }
    end_message(out, start);
    Ok(())
}

fn column_count(count: usize) -> Result<i16, Error> {
    i16::try_from(count).map_err(|_| {
        Error::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            format!("{count} result columns exceed the protocol's limit"),
        )
    })
}

/// DataRow, written straight into `out`. `scratch` is reused for the text
/// form of non-string values so that no row allocates. On error (a value
/// that does not match its column's type, or a row of the wrong width) `out`
/// is left as it was.
pub fn data_row(
    out: &mut Vec<u8>,
    row: &[Value],
    columns: &[ColumnDesc],
    formats: &ResultFormats,
    scratch: &mut String,
    style: &OutputStyle,
) -> Result<(), Error> {
    if row.len() != columns.len() {
        return Err(Error::internal(format!(
            "row has {} values but the statement describes {} columns",
            row.len(),
            columns.len()
        )));
    }
    let count = column_count(columns.len())?;
    let start = begin_message(out, b'D');
    out.extend_from_slice(&count.to_be_bytes());
    for (i, (value, column)) in row.iter().zip(columns).enumerate() {
        if let Err(error) =
            values::write_field(out, value, column.data_type, formats.get(i), scratch, style)
        {
            out.truncate(start);
            return Err(error);
        }
    }
    if out.len() - start - 1 > ROW_BYTES_MAX {
        let length = out.len() - start - 1;
        out.truncate(start);
        return Err(Error::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            format!("a row of {length} bytes is too large to send"),
        ));
    }
    end_message(out, start);
    Ok(())
}

/// CopyInResponse ('G') or CopyOutResponse ('H'): the overall format and
/// each column's (all the same, as PostgreSQL sends them).
fn copy_response(
    out: &mut Vec<u8>,
    message_type: u8,
    binary: bool,
    columns: usize,
) -> Result<(), Error> {
    let count = i16::try_from(columns).map_err(|_| {
        Error::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            format!(
                "COPY of {columns} columns; the protocol allows at most {}",
                i16::MAX
            ),
        )
    })?;
    let start = begin_message(out, message_type);
    out.push(binary as u8);
    out.extend_from_slice(&count.to_be_bytes());
    for _ in 0..count {
        out.extend_from_slice(&(binary as i16).to_be_bytes());
    }
    end_message(out, start);
    Ok(())
}

pub fn copy_in_response(out: &mut Vec<u8>, binary: bool, columns: usize) -> Result<(), Error> {
    copy_response(out, b'G', binary, columns)
}

pub fn copy_out_response(out: &mut Vec<u8>, binary: bool, columns: usize) -> Result<(), Error> {
    copy_response(out, b'H', binary, columns)
}

/// Begins a CopyData message; its bytes follow, then [`copy_data_end`].
pub fn copy_data_begin(out: &mut Vec<u8>) -> usize {
    begin_message(out, b'd')
}

/// Ends the CopyData begun at `start`; one longer than the protocol's
/// 32-bit length is taken back and fails with 54000.
pub fn copy_data_end(out: &mut Vec<u8>, start: usize) -> Result<(), Error> {
    if out.len() - start - 1 > i32::MAX as usize {
        let length = out.len() - start - 1;
        out.truncate(start);
        return Err(Error::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            format!("a COPY row of {length} bytes is too large to send"),
        ));
    }
    end_message(out, start);
    Ok(())
}

pub fn copy_done(out: &mut Vec<u8>) {
    empty_message(out, b'c');
}

pub fn command_complete(out: &mut Vec<u8>, tag: &str) {
    let start = begin_message(out, b'C');
    put_cstr(out, tag);
    end_message(out, start);
}

/// CommandComplete for a tag that takes the row count ("SELECT 3").
pub fn command_complete_with_count(out: &mut Vec<u8>, tag: &str, rows: u64) {
    let start = begin_message(out, b'C');
    put_cstr(out, tag);
    out.pop();
    // Writing into a Vec cannot fail.
    let _ = write!(out, " {rows}");
    out.push(0);
    end_message(out, start);
}

pub fn empty_query_response(out: &mut Vec<u8>) {
    empty_message(out, b'I');
}

fn error_fields(
    out: &mut Vec<u8>,
    message_type: u8,
    severity: &str,
    code: SqlState,
    error: &Error,
) {
    let start = begin_message(out, message_type);
    for (field, value) in [
        (b'S', severity),
        (b'V', severity),
        (b'C', code.code()),
        (b'M', error.message.as_str()),
    ] {
        out.push(field);
        put_cstr(out, value);
    }
    for (field, value) in [(b'D', &error.detail), (b'H', &error.hint)] {
        if let Some(value) = value {
            out.push(field);
            put_cstr(out, value);
        }
    }
    if let Some(position) = error.object.as_ref().and_then(|o| o.position) {
        out.push(b'P');
        put_cstr(out, &position.to_string());
    }
    if let Some(value) = &error.context {
        out.push(b'W');
        put_cstr(out, value);
    }
    if let Some(object) = &error.object {
        for (field, value) in [
            (b's', &object.schema),
            (b't', &object.table),
            (b'c', &object.column),
            (b'd', &object.datatype),
            (b'n', &object.constraint),
        ] {
            if let Some(value) = value {
                out.push(field);
                put_cstr(out, value);
            }
        }
    }
    out.push(0);
    end_message(out, start);
}

pub fn error_response(out: &mut Vec<u8>, severity: Severity, error: &Error) {
    error_fields(out, b'E', severity.as_str(), error.code, error);
}

pub fn notice_response(out: &mut Vec<u8>, notice: &Notice) {
    let start = begin_message(out, b'N');
    for (field, value) in [
        (b'S', notice.severity),
        (b'V', notice.severity),
        (b'C', notice.code),
        (b'M', notice.message.as_str()),
    ] {
        out.push(field);
        put_cstr(out, value);
    }
    if let Some(detail) = &notice.detail {
        out.push(b'D');
        put_cstr(out, detail);
    }
    out.push(0);
    end_message(out, start);
}

/// NoticeResponse built from an [`Error`] value (its code, detail, hint).
pub fn notice_from_error(out: &mut Vec<u8>, severity: Severity, error: &Error) {
    error_fields(out, b'N', severity.as_str(), error.code, error);
}

pub fn parse_complete(out: &mut Vec<u8>) {
    empty_message(out, b'1');
}

pub fn bind_complete(out: &mut Vec<u8>) {
    empty_message(out, b'2');
}

pub fn close_complete(out: &mut Vec<u8>) {
    empty_message(out, b'3');
}

pub fn no_data(out: &mut Vec<u8>) {
    empty_message(out, b'n');
}

pub fn portal_suspended(out: &mut Vec<u8>) {
    empty_message(out, b's');
}

/// ParameterDescription; fails (54000) beyond the 16-bit count the
/// protocol allows.
pub fn parameter_description(out: &mut Vec<u8>, types: &[DataType]) -> Result<(), Error> {
    let count = u16::try_from(types.len()).map_err(|_| {
        Error::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            format!("{} parameters exceed the protocol's limit", types.len()),
        )
    })?;
    let start = begin_message(out, b't');
    out.extend_from_slice(&count.to_be_bytes());
    for ty in types {
        out.extend_from_slice(&ty.oid().to_be_bytes());
    }
    end_message(out, start);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{backend_messages, frontend};

    fn decode_one(bytes: &[u8]) -> FrontendMessage<'_> {
        match decode_frontend(bytes) {
            Ok(Some((message, used))) => {
                assert_eq!(used, bytes.len());
                message
            }
            other => panic!("expected one message, got {other:?}"),
        }
    }

    fn fatal_code(result: Result<Option<(FrontendMessage<'_>, usize)>, DecodeError>) -> SqlState {
        match result {
            Err(DecodeError::Fatal(error)) => error.code,
            other => panic!("expected a fatal error, got {other:?}"),
        }
    }

    fn sample_messages() -> Vec<Vec<u8>> {
        vec![
            frontend::query("select 1"),
            frontend::parse("s1", "select $1", &[23, 0]),
            frontend::bind("p", "s1", &[1], &[Some(&[0, 0, 0, 7]), None], &[0, 1]),
            frontend::describe(b'S', "s1"),
            frontend::describe(b'P', ""),
            frontend::execute("p", 10),
            frontend::close(b'S', "s1"),
            frontend::sync(),
            frontend::flush(),
            frontend::terminate(),
            frontend::message(b'd', b"abc"),
            frontend::message(b'c', b""),
            frontend::message(b'f', b"oops\0"),
            frontend::message(b'p', b"secret\0"),
        ]
    }

    #[test]
    fn frontend_messages_decode() {
        assert_eq!(
            decode_one(&frontend::query("select 1")),
            FrontendMessage::Query { sql: "select 1" }
        );
        let parse = frontend::parse("s1", "select $1, $2", &[23, 0]);
        match decode_one(&parse) {
            FrontendMessage::Parse {
                statement,
                sql,
                param_type_oids,
            } => {
                assert_eq!((statement, sql), ("s1", "select $1, $2"));
                assert_eq!(param_type_oids.iter().collect::<Vec<_>>(), vec![23, 0]);
            }
            other => panic!("{other:?}"),
        }
        let bind = frontend::bind(
            "p",
            "s1",
            &[1, 0],
            &[Some(&[0, 0, 0, 7]), None, Some(b"")],
            &[1],
        );
        match decode_one(&bind) {
            FrontendMessage::Bind {
                portal,
                statement,
                param_formats,
                params,
                result_formats,
            } => {
                assert_eq!((portal, statement), ("p", "s1"));
                assert_eq!(
                    param_formats.iter().collect::<Vec<_>>(),
                    vec![Format::Binary, Format::Text]
                );
                assert_eq!(params.len(), 3);
                let values: Vec<Option<&[u8]>> = params.iter().collect();
                assert_eq!(
                    values,
                    vec![Some(&[0u8, 0, 0, 7][..]), None, Some(&b""[..])]
                );
                assert_eq!(result_formats.get(0), Some(Format::Binary));
                assert_eq!(result_formats.get(1), None);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            decode_one(&frontend::describe(b'P', "p")),
            FrontendMessage::Describe {
                target: Target::Portal,
                name: "p"
            }
        );
        assert_eq!(
            decode_one(&frontend::close(b'S', "s")),
            FrontendMessage::Close {
                target: Target::Statement,
                name: "s"
            }
        );
        assert_eq!(
            decode_one(&frontend::execute("", 5)),
            FrontendMessage::Execute {
                portal: "",
                max_rows: 5
            }
        );
        assert_eq!(decode_one(&frontend::sync()), FrontendMessage::Sync);
        assert_eq!(decode_one(&frontend::flush()), FrontendMessage::Flush);
        assert_eq!(
            decode_one(&frontend::terminate()),
            FrontendMessage::Terminate
        );
        assert_eq!(
            decode_one(&frontend::message(b'd', b"xy")),
            FrontendMessage::CopyData { data: b"xy" }
        );
        assert_eq!(
            decode_one(&frontend::message(b'c', b"")),
            FrontendMessage::CopyDone
        );
        assert_eq!(
            decode_one(&frontend::message(b'f', b"no\0")),
            FrontendMessage::CopyFail { message: "no" }
        );
        assert_eq!(
            decode_one(&frontend::message(b'p', b"pw\0")),
            FrontendMessage::PasswordMessage { data: b"pw\0" }
        );
    }

    #[test]
    fn two_messages_in_one_buffer_decode_in_turn() {
        let mut buf = frontend::query("a");
        buf.extend(frontend::sync());
        let (first, used) = decode_frontend(&buf).unwrap().unwrap();
        assert_eq!(first, FrontendMessage::Query { sql: "a" });
        let (second, rest) = decode_frontend(&buf[used..]).unwrap().unwrap();
        assert_eq!(second, FrontendMessage::Sync);
        assert_eq!(used + rest, buf.len());
    }

    #[test]
    fn every_prefix_needs_more_bytes() {
        for message in sample_messages() {
            for end in 0..message.len() {
                assert_eq!(
                    decode_frontend(&message[..end]),
                    Ok(None),
                    "{message:?} cut at {end}"
                );
            }
        }
        let startups = [
            frontend::startup(&[("user", "u"), ("database", "d")]),
            frontend::ssl_request(),
            frontend::cancel_request(7, 9),
        ];
        for message in startups {
            for end in 0..message.len() {
                assert_eq!(
                    decode_startup(&message[..end]),
                    Ok(None),
                    "{message:?} cut at {end}"
                );
            }
        }
    }

    #[test]
    fn lengths_are_checked_before_the_body_arrives() {
        let mut oversize = vec![b'Q'];
        oversize.extend_from_slice(&((MESSAGE_BYTES_MAX + 1) as u32).to_be_bytes());
        assert_eq!(
            fatal_code(decode_frontend(&oversize)),
            sqlstate::PROGRAM_LIMIT_EXCEEDED
        );
        let mut at_limit = vec![b'Q'];
        at_limit.extend_from_slice(&(MESSAGE_BYTES_MAX as u32).to_be_bytes());
        assert_eq!(decode_frontend(&at_limit), Ok(None));
        for short in 0..4u32 {
            let mut bytes = vec![b'S'];
            bytes.extend_from_slice(&short.to_be_bytes());
            assert_eq!(
                fatal_code(decode_frontend(&bytes)),
                sqlstate::PROTOCOL_VIOLATION
            );
        }
        assert_eq!(
            fatal_code(decode_frontend(b"Z\0\0\0\x04")),
            sqlstate::PROTOCOL_VIOLATION
        );
        assert_eq!(
            fatal_code(decode_frontend(b"Z")),
            sqlstate::PROTOCOL_VIOLATION
        );

        let too_long = ((STARTUP_MESSAGE_BYTES_MAX + 1) as u32).to_be_bytes();
        assert!(matches!(
            decode_startup(&too_long),
            Err(DecodeError::Fatal(_))
        ));
        assert!(matches!(
            decode_startup(&[0, 0, 0, 7]),
            Err(DecodeError::Fatal(_))
        ));
    }

    #[test]
    fn malformed_bodies_are_fatal() {
        // Query without its NUL terminator.
        assert_eq!(
            fatal_code(decode_frontend(&frontend::message(b'Q', b"select"))),
            sqlstate::PROTOCOL_VIOLATION
        );
        // Sync with a body.
        assert_eq!(
            fatal_code(decode_frontend(&frontend::message(b'S', b"x"))),
            sqlstate::PROTOCOL_VIOLATION
        );
        // Describe with an unknown subtype.
        assert_eq!(
            fatal_code(decode_frontend(&frontend::message(b'D', b"Xa\0"))),
            sqlstate::PROTOCOL_VIOLATION
        );
        // Parse declaring 1000 parameter types but carrying one.
        let mut body = b"s\0select\0".to_vec();
        body.extend_from_slice(&1000u16.to_be_bytes());
        body.extend_from_slice(&23u32.to_be_bytes());
        assert_eq!(
            fatal_code(decode_frontend(&frontend::message(b'P', &body))),
            sqlstate::PROTOCOL_VIOLATION
        );
        // Bind declaring 65535 values with none present.
        let mut body = b"\0\0\0\0".to_vec();
        body.extend_from_slice(&u16::MAX.to_be_bytes());
        assert_eq!(
            fatal_code(decode_frontend(&frontend::message(b'B', &body))),
            sqlstate::PROTOCOL_VIOLATION
        );
        // Bind value whose length runs past the message.
        let mut body = b"\0\0\0\0\0\x01".to_vec();
        body.extend_from_slice(&1_000_000i32.to_be_bytes());
        body.extend_from_slice(b"abc");
        assert_eq!(
            fatal_code(decode_frontend(&frontend::message(b'B', &body))),
            sqlstate::PROTOCOL_VIOLATION
        );
        // Bind value with a negative length other than -1.
        let mut body = b"\0\0\0\0\0\x01".to_vec();
        body.extend_from_slice(&(-2i32).to_be_bytes());
        body.extend_from_slice(&[0, 0]);
        assert_eq!(
            fatal_code(decode_frontend(&frontend::message(b'B', &body))),
            sqlstate::PROTOCOL_VIOLATION
        );
        // Startup parameters without the final terminator.
        let mut startup = Vec::new();
        startup.extend_from_slice(&(8u32 + 4).to_be_bytes());
        startup.extend_from_slice(&PROTOCOL_VERSION_3_0.to_be_bytes());
        startup.extend_from_slice(b"a\0b\0");
        assert!(matches!(
            decode_startup(&startup),
            Err(DecodeError::Fatal(_))
        ));
    }

    #[test]
    fn invalid_values_skip_only_their_message() {
        let query = frontend::message(b'Q', b"select '\xff'\0");
        match decode_frontend(&query) {
            Err(DecodeError::Invalid {
                message_type: b'Q',
                error,
                message_bytes,
            }) => {
                assert_eq!(error.code, sqlstate::CHARACTER_NOT_IN_REPERTOIRE);
                assert_eq!(
                    error.message,
                    "invalid byte sequence for encoding \"UTF8\": 0xff"
                );
                assert_eq!(message_bytes, query.len());
            }
            other => panic!("{other:?}"),
        }
        let bind = frontend::bind("", "", &[2], &[], &[]);
        match decode_frontend(&bind) {
            Err(DecodeError::Invalid { error, .. }) => {
                assert_eq!(error.code, sqlstate::INVALID_PARAMETER_VALUE)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn startup_messages_decode() {
        let startup = frontend::startup(&[("user", "alice"), ("client_encoding", "'utf-8'")]);
        match decode_startup(&startup) {
            Ok(Some((
                StartupMessage::Startup {
                    protocol_version,
                    params,
                },
                used,
            ))) => {
                assert_eq!(protocol_version, PROTOCOL_VERSION_3_0);
                assert_eq!(used, startup.len());
                assert_eq!(params.get("user"), Some("alice"));
                assert_eq!(params.iter().count(), 2);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            decode_startup(&frontend::ssl_request()),
            Ok(Some((StartupMessage::SslRequest, 8)))
        );
        let mut gss = 8u32.to_be_bytes().to_vec();
        gss.extend_from_slice(&GSSENC_REQUEST_CODE.to_be_bytes());
        assert_eq!(
            decode_startup(&gss),
            Ok(Some((StartupMessage::GssEncRequest, 8)))
        );
        let key = BackendKey {
            process_id: 7,
            secret_key: 9,
        };
        assert_eq!(
            decode_startup(&frontend::cancel_request(7, 9)),
            Ok(Some((StartupMessage::CancelRequest { key }, 16)))
        );
        let mut old = 8u32.to_be_bytes().to_vec();
        old.extend_from_slice(&(2u32 << 16).to_be_bytes());
        assert!(matches!(
            decode_startup(&old),
            Ok(Some((
                StartupMessage::Startup {
                    protocol_version: 0x20000,
                    ..
                },
                8
            )))
        ));
    }

    #[test]
    fn backend_messages_encode() {
        let mut out = Vec::new();
        authentication_ok(&mut out);
        parameter_status(&mut out, "client_encoding", "UTF8");
        backend_key_data(
            &mut out,
            BackendKey {
                process_id: 1,
                secret_key: 2,
            },
        );
        let columns = [
            ColumnDesc {
                name: "a".into(),
                data_type: DataType::Int4,
                table_oid: 0,
                column_id: 0,
            },
            ColumnDesc {
                name: "b".into(),
                data_type: DataType::Text,
                table_oid: 16384,
                column_id: 2,
            },
        ];
        row_description(&mut out, &columns, &ResultFormats::Uniform(Format::Text)).unwrap();
        let mut scratch = String::new();
        data_row(
            &mut out,
            &[Value::Int4(-5), Value::Null],
            &columns,
            &ResultFormats::Uniform(Format::Text),
            &mut scratch,
            &OutputStyle::DEFAULT,
        )
        .unwrap();
        data_row(
            &mut out,
            &[Value::Int4(1), Value::Text("x".into())],
            &columns,
            &ResultFormats::Uniform(Format::Binary),
            &mut scratch,
            &OutputStyle::DEFAULT,
        )
        .unwrap();
        command_complete_with_count(&mut out, "SELECT", 2);
        command_complete(&mut out, "INSERT 0 1");
        empty_query_response(&mut out);
        let error = Error::new(sqlstate::SYNTAX_ERROR, "bad")
            .with_detail("d")
            .with_hint("h");
        error_response(&mut out, Severity::Error, &error);
        notice_response(
            &mut out,
            &Notice {
                code: "42P07",
                severity: "NOTICE",
                message: "exists".into(),
                detail: None,
            },
        );
        parse_complete(&mut out);
        bind_complete(&mut out);
        close_complete(&mut out);
        no_data(&mut out);
        portal_suspended(&mut out);
        parameter_description(&mut out, &[DataType::Int8, DataType::Text]).unwrap();
        ready_for_query(&mut out, TransactionStatus::Idle);
        let expected = [
            "AuthenticationOk",
            "ParameterStatus client_encoding=UTF8",
            "BackendKeyData 1 2",
            "RowDescription a:23:4:-1:0:0:text b:25:-1:-1:16384:2:text",
            "DataRow '-5' NULL",
            "DataRow 0x00000001 'x'",
            "CommandComplete SELECT 2",
            "CommandComplete INSERT 0 1",
            "EmptyQueryResponse",
            "ErrorResponse S=ERROR V=ERROR C=42601 M=bad D=d H=h",
            "NoticeResponse S=NOTICE V=NOTICE C=42P07 M=exists",
            "ParseComplete",
            "BindComplete",
            "CloseComplete",
            "NoData",
            "PortalSuspended",
            "ParameterDescription 20 25",
            "ReadyForQuery I",
        ];
        assert_eq!(backend_messages(&out), expected);
    }

    #[test]
    fn a_row_that_fails_to_encode_leaves_the_buffer_unchanged() {
        let columns = [ColumnDesc {
            name: "a".into(),
            data_type: DataType::Int4,
            table_oid: 0,
            column_id: 0,
        }];
        let mut out = b"kept".to_vec();
        let mut scratch = String::new();
        let binary = ResultFormats::Uniform(Format::Binary);
        let error = data_row(
            &mut out,
            &[Value::Text("x".into())],
            &columns,
            &binary,
            &mut scratch,
            &OutputStyle::DEFAULT,
        )
        .unwrap_err();
        assert_eq!(error.code, sqlstate::INTERNAL_ERROR);
        let error = data_row(
            &mut out,
            &[],
            &columns,
            &binary,
            &mut scratch,
            &OutputStyle::DEFAULT,
        )
        .unwrap_err();
        assert_eq!(error.code, sqlstate::INTERNAL_ERROR);
        assert_eq!(out, b"kept");
    }

    /// xorshift64*: deterministic, dependency-free randomness for the fuzz loops.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn check_frontend(buf: &[u8]) {
        if let Ok(Some((_, used))) = decode_frontend(buf) {
            assert!(used <= buf.len() && used >= 5);
        }
    }

    fn check_startup(buf: &[u8]) {
        if let Ok(Some((message, used))) = decode_startup(buf) {
            assert!(used <= buf.len() && used >= 8);
            if let StartupMessage::Startup { params, .. } = message {
                params.iter().count();
            }
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut buf = Vec::new();
        for _ in 0..20_000 {
            buf.clear();
            let len = rng.below(64);
            buf.extend((0..len).map(|_| rng.next() as u8));
            // Half the time, a plausible header so that bodies get decoded.
            if len >= 5 && rng.next() & 1 == 0 {
                buf[0] = b"QPBDESCHXdcfp"[rng.below(13)];
                buf[1..5].copy_from_slice(&((len - 1) as u32).to_be_bytes());
            }
            check_frontend(&buf);
            if len >= 8 && rng.next() & 1 == 0 {
                buf[0..4].copy_from_slice(&(len as u32).to_be_bytes());
                buf[4..8].copy_from_slice(&PROTOCOL_VERSION_3_0.to_be_bytes());
            }
            check_startup(&buf);
        }
    }

    #[test]
    fn mutated_messages_never_panic() {
        let mut rng = Rng(42);
        let mut seeds = sample_messages();
        seeds.push(frontend::startup(&[
            ("user", "u"),
            ("application_name", "app"),
        ]));
        seeds.push(frontend::cancel_request(1, 2));
        for _ in 0..20_000 {
            let mut buf = seeds[rng.below(seeds.len())].clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(buf.len());
                match rng.below(3) {
                    0 => buf[at] = rng.next() as u8,
                    1 => {
                        buf.truncate(at);
                    }
                    _ => buf.insert(at, rng.next() as u8),
                }
                if buf.is_empty() {
                    break;
                }
            }
            check_frontend(&buf);
            check_startup(&buf);
            if let Ok(Some((
                FrontendMessage::Bind {
                    params,
                    param_formats,
                    result_formats,
                    ..
                },
                _,
            ))) = decode_frontend(&buf)
            {
                assert_eq!(params.iter().count(), params.len());
                assert_eq!(param_formats.iter().count(), param_formats.len());
                assert_eq!(result_formats.iter().count(), result_formats.len());
            }
        }
    }
}
