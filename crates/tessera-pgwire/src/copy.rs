//! COPY's data formats, as PostgreSQL 15 reads and writes them: text
//! (delimited fields, backslash escapes, `\N`), CSV (quoting, escapes,
//! FORCE_QUOTE / FORCE_NOT_NULL / FORCE_NULL) and binary (the `PGCOPY`
//! signature, per-tuple field counts, each type's send/recv format).
//!
//! [`CopyReader`] is sans-IO: the session feeds it the bytes of each
//! CopyData message and takes complete rows out; "need more bytes" is
//! `Ok(None)`. Rows are values of the COPY's column types, read with the
//! same functions that read parameters ([`Value::parse_with`],
//! [`values::decode_binary`]). Bytes held for one incomplete record are
//! limited to [`COPY_RECORD_BYTES_MAX`]. Errors carry PostgreSQL's
//! SQLSTATE and a CONTEXT naming the line (`COPY t, line 3, column b:
//! "x"`). [`CopyWriter`] formats rows for COPY TO.
//!
//! Not done: encodings other than UTF-8 (input must be valid UTF-8,
//! 22021 otherwise), `HEADER MATCH`.

use tessera_sql::copy::{CopyFormat, CopySpec};
use tessera_types::datetime::TimeContext;
use tessera_types::output::OutputStyle;
use tessera_types::{sqlstate, DataType, Error, Result, Value};

use crate::values;

/// The most bytes one COPY record (a line of text or CSV, a binary tuple)
/// may take. The reader holds an incomplete record until its end arrives;
/// one longer than this fails the COPY with 54000 instead of growing the
/// buffer without bound. (PostgreSQL's limit is 1 GB per line.)
pub const COPY_RECORD_BYTES_MAX: usize = 16 << 20;

/// The 11-byte signature that starts binary COPY data.
const BINARY_SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// How much of a bad line an error's CONTEXT shows (PostgreSQL's
/// `MAX_COPY_DATA_DISPLAY`).
const CONTEXT_BYTES_MAX: usize = 100;

/// The line ending of text and CSV input, fixed by its first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Eol {
    Nl,
    Cr,
    CrNl,
}

/// Reads COPY FROM data into rows.
pub struct CopyReader {
    format: CopyFormat,
    delimiter: u8,
    quote: u8,
    escape: u8,
    null: Vec<u8>,
    force_not_null: Vec<bool>,
    force_null: Vec<bool>,
    relation: String,
    columns: Vec<(String, DataType)>,
    time: TimeContext,
    /// Bytes received and not yet read, from `pos`.
    pending: Vec<u8>,
    pos: usize,
    /// Records read (lines, counting embedded newlines of quoted CSV
    /// fields, or binary tuples): the line number errors name.
    line: u64,
    eol: Option<Eol>,
    /// A header line or the binary header is still to be read.
    header: bool,
    /// The end-of-data marker (`\.` or the binary trailer) was read.
    ended: bool,
    /// The last text or CSV line read (without its line ending); reused.
    record: Vec<u8>,
}

fn bad_format(message: impl Into<String>) -> Error {
    Error::new(sqlstate::BAD_COPY_FILE_FORMAT, message)
}

/// At most [`CONTEXT_BYTES_MAX`] bytes of `bytes`, as text, with `...`
/// when cut (at a character boundary).
fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= CONTEXT_BYTES_MAX {
        return text.into_owned();
    }
    let mut end = CONTEXT_BYTES_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

impl CopyReader {
    pub fn new(spec: &CopySpec, time: TimeContext) -> CopyReader {
        CopyReader {
            format: spec.format,
            delimiter: spec.delimiter,
            quote: spec.quote,
            escape: spec.escape,
            null: spec.null.as_bytes().to_vec(),
            force_not_null: spec.force_not_null.clone(),
            force_null: spec.force_null.clone(),
            relation: spec.relation.clone(),
            columns: spec.columns.clone(),
            time,
            pending: Vec::new(),
            pos: 0,
            line: 0,
            eol: None,
            header: spec.header || spec.format == CopyFormat::Binary,
            ended: false,
            record: Vec::new(),
        }
    }

    /// Records read so far.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Adds the bytes of one CopyData message. Data after the end marker
    /// is dropped (text, CSV) or refused (binary, as PostgreSQL does).
    pub fn feed(&mut self, data: &[u8]) -> Result<()> {
        if self.ended {
            if self.format == CopyFormat::Binary && !data.is_empty() {
                return Err(bad_format("received copy data after EOF marker"));
            }
            return Ok(());
        }
        if self.pos > 0 && self.pos * 2 >= self.pending.len() {
            self.pending.drain(..self.pos);
            self.pos = 0;
        }
        self.pending.extend_from_slice(data);
        Ok(())
    }

    /// The next complete row, `None` when the bytes held end inside one
    /// (or the data ended). `at_end`: the client sent CopyDone, so what
    /// is held is all there is.
    pub fn next_row(&mut self, at_end: bool) -> Result<Option<Vec<Value>>> {
        loop {
            if self.ended {
                return Ok(None);
            }
            let row = match self.format {
                CopyFormat::Binary => self.next_binary(at_end)?,
                CopyFormat::Text | CopyFormat::Csv => self.next_delimited(at_end)?,
            };
            match row {
                Some(Some(row)) => return Ok(Some(row)),
                // A header read: go on.
                Some(None) => continue,
                None => {
                    if self.pending.len() - self.pos > COPY_RECORD_BYTES_MAX {
                        return Err(Error::new(
                            sqlstate::PROGRAM_LIMIT_EXCEEDED,
                            format!("COPY record is longer than {COPY_RECORD_BYTES_MAX} bytes"),
                        )
                        .with_context(format!(
                            "COPY {}, line {}",
                            self.relation,
                            self.line + 1
                        )));
                    }
                    return Ok(None);
                }
            }
        }
    }

    fn context(&self) -> String {
        self.context_at(self.line, None)
    }

    /// PostgreSQL's error context for record `line`: `COPY t, line 3`,
    /// with the line's text when given (`COPY t, line 3: "3,c,"`).
    pub fn context_at(&self, line: u64, record: Option<&[u8]>) -> String {
        match record {
            Some(raw) => format!("COPY {}, line {line}: \"{}\"", self.relation, shown(raw)),
            None => format!("COPY {}, line {line}", self.relation),
        }
    }

    /// The text of the row `next_row` returned last: its line, for text
    /// and CSV; `None` for binary.
    pub fn last_record(&self) -> Option<&[u8]> {
        (self.format != CopyFormat::Binary).then_some(self.record.as_slice())
    }

    fn line_context(&self, raw: &[u8]) -> String {
        format!(
            "COPY {}, line {}: \"{}\"",
            self.relation,
            self.line,
            shown(raw)
        )
    }

    // ---- text and CSV ---------------------------------------------------

    /// One line: `Some(Some(row))`, `Some(None)` for the header line,
    /// `None` when no whole line is held yet.
    fn next_delimited(&mut self, at_end: bool) -> Result<Option<Option<Vec<Value>>>> {
        let csv = self.format == CopyFormat::Csv;
        let bytes = &self.pending[self.pos..];
        if bytes.is_empty() {
            return Ok(None);
        }
        let mut i = 0;
        let mut in_quote = false;
        let mut embedded_lines = 0u64;
        // PostgreSQL counts the line endings inside quoted CSV fields by
        // their last byte once the line ending is known, by carriage
        // returns before that.
        let counted_eol = if self.eol == Some(Eol::Nl) {
            b'\n'
        } else {
            b'\r'
        };
        // (content end, bytes consumed, end-of-data marker)
        let found: Option<(usize, usize, bool)> = loop {
            let Some(&c) = bytes.get(i) else {
                if !at_end {
                    return Ok(None);
                }
                if in_quote {
                    self.line += 1 + embedded_lines;
                    return Err(bad_format("unterminated CSV quoted field")
                        .with_context(self.line_context(bytes)));
                }
                // The last line may lack its line ending.
                break Some((i, i, false));
            };
            if csv && in_quote {
                if c == self.escape && self.escape != self.quote {
                    if bytes.get(i + 1).is_none() && !at_end {
                        return Ok(None);
                    }
                    i += 2;
                    continue;
                }
                if c == self.quote {
                    in_quote = false;
                } else if c == counted_eol {
                    embedded_lines += 1;
                }
                i += 1;
                continue;
            }
            if csv && c == self.quote {
                in_quote = true;
                i += 1;
                continue;
            }
            // The end-of-data marker: `\.` before a line ending or the end
            // (in CSV only at the start of a line, outside quotes).
            if c == b'\\' && (!csv || i == 0) {
                match bytes.get(i + 1) {
                    None if !at_end => return Ok(None),
                    Some(b'.') => match bytes.get(i + 2) {
                        None if !at_end => return Ok(None),
                        None => break Some((i, i + 2, true)),
                        Some(b'\n') => break Some((i, i + 3, true)),
                        Some(b'\r') => {
                            let crnl = bytes.get(i + 3) == Some(&b'\n');
                            break Some((i, i + 3 + crnl as usize, true));
                        }
                        Some(_) => {
                            self.line += 1;
                            return Err(bad_format("end-of-copy marker corrupt")
                                .with_context(self.context()));
                        }
                    },
                    // In text, a backslash takes the next byte as data,
                    // even a line ending.
                    Some(_) if !csv => {
                        i += 2;
                        continue;
                    }
                    _ => {}
                }
            }
            if c == b'\n' || c == b'\r' {
                let eol = if c == b'\n' {
                    Eol::Nl
                } else {
                    match bytes.get(i + 1) {
                        None if !at_end => return Ok(None),
                        Some(b'\n') => Eol::CrNl,
                        _ => Eol::Cr,
                    }
                };
                let expected = *self.eol.get_or_insert(eol);
                if eol != expected {
                    self.line += 1;
                    let (what, escape) = if eol == Eol::Nl || (expected == Eol::Cr && c == b'\n') {
                        ("newline", "\\n")
                    } else {
                        ("carriage return", "\\r")
                    };
                    let (message, hint) = if csv {
                        (
                            format!("unquoted {what} found in data"),
                            format!("Use quoted CSV field to represent {what}."),
                        )
                    } else {
                        (
                            format!("literal {what} found in data"),
                            format!("Use \"{escape}\" to represent {what}."),
                        )
                    };
                    return Err(bad_format(message)
                        .with_hint(hint)
                        .with_context(self.context()));
                }
                let length = if eol == Eol::CrNl { 2 } else { 1 };
                break Some((i, i + length, false));
            }
            i += 1;
        };
        let Some((content_end, consumed, end_marker)) = found else {
            return Ok(None);
        };
        self.record.clear();
        self.record
            .extend_from_slice(&self.pending[self.pos..self.pos + content_end]);
        self.pos += consumed;
        if end_marker {
            self.ended = true;
            self.pending = Vec::new();
            self.pos = 0;
            if content_end == 0 {
                return Ok(None);
            }
            // Data before `\.` on its line is a last line (PostgreSQL 15).
        }
        self.line += 1;
        let row = self.delimited_row(&self.record);
        self.line += embedded_lines;
        if self.header {
            self.header = false;
            row?;
            return Ok(Some(None));
        }
        row.map(|r| Some(Some(r)))
    }

    /// The fields of one line: raw bytes, `None` for NULL.
    fn delimited_row(&self, line: &[u8]) -> Result<Vec<Value>> {
        if self.header {
            // Only its shape matters: it is skipped, whatever it holds.
            return Ok(Vec::new());
        }
        let fields = match self.format {
            CopyFormat::Csv => self.csv_fields(line)?,
            _ => self.text_fields(line)?,
        };
        if fields.len() > self.columns.len() {
            return Err(bad_format("extra data after last expected column")
                .with_context(self.line_context(line)));
        }
        if fields.len() < self.columns.len() {
            // An empty line reads as one empty field.
            let missing = &self.columns[fields.len()].0;
            return Err(bad_format(format!("missing data for column \"{missing}\""))
                .with_context(self.line_context(line)));
        }
        let mut row = Vec::with_capacity(fields.len());
        for (field, (name, ty)) in fields.into_iter().zip(&self.columns) {
            let Some(bytes) = field else {
                row.push(Value::Null);
                continue;
            };
            let context = || {
                format!(
                    "COPY {}, line {}, column {name}: \"{}\"",
                    self.relation,
                    self.line,
                    shown(&bytes)
                )
            };
            let text = values::decode_utf8(&bytes).map_err(|e| e.with_context(context()))?;
            let value = match ty {
                // Read against the type's labels by the statement (`EnumIn`).
                DataType::Enum(_) | DataType::Array(tessera_types::array::Elem::Enum(_)) => {
                    Value::Text(text.to_string())
                }
                ty => Value::parse_with(*ty, text, &self.time)
                    .map_err(|e| e.with_context(context()))?,
            };
            row.push(value);
        }
        Ok(row)
    }

    /// Text format: fields split at unescaped delimiters, escapes
    /// (`\b \f \n \r \t \v`, octal `\NNN`, hex `\xHH`, `\c` for any other
    /// `c`) undone; a field whose raw bytes are the NULL string is NULL.
    fn text_fields(&self, line: &[u8]) -> Result<Vec<Option<Vec<u8>>>> {
        let mut fields = Vec::with_capacity(self.columns.len());
        let mut i = 0;
        loop {
            let start = i;
            let mut value = Vec::new();
            let mut last = true;
            while i < line.len() {
                let c = line[i];
                i += 1;
                if c == self.delimiter {
                    last = false;
                    break;
                }
                if c != b'\\' {
                    value.push(c);
                    continue;
                }
                // A backslash ending the line is dropped, as PostgreSQL does.
                let Some(&e) = line.get(i) else { break };
                i += 1;
                match e {
                    b'0'..=b'7' => {
                        let mut v = (e - b'0') as u32;
                        for _ in 0..2 {
                            match line.get(i) {
                                Some(d @ b'0'..=b'7') => {
                                    v = v * 8 + (d - b'0') as u32;
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        value.push((v & 0xff) as u8);
                    }
                    b'x' if line.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                        let mut v = 0u32;
                        for _ in 0..2 {
                            match line.get(i) {
                                Some(d) if d.is_ascii_hexdigit() => {
                                    v = v * 16 + (*d as char).to_digit(16).unwrap_or(0);
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        value.push(v as u8);
                    }
                    b'b' => value.push(0x08),
                    b'f' => value.push(0x0c),
                    b'n' => value.push(b'\n'),
                    b'r' => value.push(b'\r'),
                    b't' => value.push(b'\t'),
                    b'v' => value.push(0x0b),
                    other => value.push(other),
                }
            }
            let raw_end = if last { line.len() } else { i - 1 };
            let raw = &line[start..raw_end];
            fields.push(if raw == self.null.as_slice() {
                None
            } else {
                Some(value)
            });
            if last {
                return Ok(fields);
            }
        }
    }

    /// CSV: fields split at delimiters outside quotes; inside quotes the
    /// escape character takes the next quote or escape as data. An
    /// unquoted field equal to the NULL string is NULL (unless
    /// FORCE_NOT_NULL); a quoted one only with FORCE_NULL.
    fn csv_fields(&self, line: &[u8]) -> Result<Vec<Option<Vec<u8>>>> {
        let mut fields = Vec::with_capacity(self.columns.len());
        let mut i = 0;
        loop {
            let start = i;
            let mut value = Vec::new();
            let mut quoted = false;
            let mut last = true;
            'field: while i < line.len() {
                let c = line[i];
                i += 1;
                if c == self.delimiter {
                    last = false;
                    break;
                }
                if c != self.quote {
                    value.push(c);
                    continue;
                }
                quoted = true;
                loop {
                    let Some(&q) = line.get(i) else {
                        return Err(bad_format("unterminated CSV quoted field")
                            .with_context(self.line_context(line)));
                    };
                    i += 1;
                    if q == self.escape
                        && line
                            .get(i)
                            .is_some_and(|n| *n == self.quote || *n == self.escape)
                    {
                        value.push(line[i]);
                        i += 1;
                        continue;
                    }
                    if q == self.quote {
                        continue 'field;
                    }
                    value.push(q);
                }
            }
            let column = fields.len();
            let raw_end = if last { line.len() } else { i - 1 };
            let raw = &line[start..raw_end];
            let is_null = if quoted {
                self.force_null.get(column).copied().unwrap_or(false) && value == self.null
            } else {
                raw == self.null.as_slice()
                    && !self.force_not_null.get(column).copied().unwrap_or(false)
            };
            fields.push(if is_null { None } else { Some(value) });
            if last {
                return Ok(fields);
            }
        }
    }

    // ---- binary -----------------------------------------------------------

    fn take(&self, at: usize, n: usize) -> Option<&[u8]> {
        self.pending.get(self.pos + at..self.pos + at + n)
    }

    /// The header (`Some(None)`), a tuple (`Some(Some(row))`), or `None`
    /// for more bytes (the end of data at a tuple boundary, or the
    /// trailer, ends the COPY).
    fn next_binary(&mut self, at_end: bool) -> Result<Option<Option<Vec<Value>>>> {
        let eof = || bad_format("unexpected EOF in COPY data");
        if self.header {
            let Some(fixed) = self.take(0, 19) else {
                if at_end {
                    let held = &self.pending[self.pos..];
                    if held.len() < 11 || &held[..11] != BINARY_SIGNATURE {
                        return Err(bad_format("COPY file signature not recognized"));
                    }
                    return Err(bad_format("invalid COPY file header (missing flags)"));
                }
                return Ok(None);
            };
            if &fixed[..11] != BINARY_SIGNATURE {
                return Err(bad_format("COPY file signature not recognized"));
            }
            let flags = u32::from_be_bytes([fixed[11], fixed[12], fixed[13], fixed[14]]);
            if flags & (1 << 16) != 0 {
                return Err(bad_format("invalid COPY file header (WITH OIDS)"));
            }
            if (flags >> 17) != 0 {
                return Err(bad_format(
                    "unrecognized critical flags in COPY file header",
                ));
            }
            let extension = i32::from_be_bytes([fixed[15], fixed[16], fixed[17], fixed[18]]);
            if extension < 0 {
                return Err(bad_format("invalid COPY file header (missing length)"));
            }
            let extension = extension as usize;
            if self.take(19, extension).is_none() {
                if at_end {
                    return Err(bad_format("invalid COPY file header (wrong length)"));
                }
                if extension > COPY_RECORD_BYTES_MAX {
                    return Err(Error::new(
                        sqlstate::PROGRAM_LIMIT_EXCEEDED,
                        format!(
                            "COPY header extension is longer than {COPY_RECORD_BYTES_MAX} bytes"
                        ),
                    ));
                }
                return Ok(None);
            }
            self.pos += 19 + extension;
            self.header = false;
            return Ok(Some(None));
        }
        let Some(count) = self.take(0, 2) else {
            if at_end && self.pending.len() > self.pos {
                self.line += 1;
                return Err(eof().with_context(self.context()));
            }
            return Ok(None);
        };
        let count = i16::from_be_bytes([count[0], count[1]]);
        if count == -1 {
            self.pos += 2;
            self.ended = true;
            if self.pending.len() > self.pos {
                return Err(bad_format("received copy data after EOF marker"));
            }
            self.pending = Vec::new();
            self.pos = 0;
            return Ok(None);
        }
        if count as usize != self.columns.len() || count < 0 {
            self.line += 1;
            return Err(bad_format(format!(
                "row field count is {count}, expected {}",
                self.columns.len()
            ))
            .with_context(self.context()));
        }
        // Find the whole tuple before reading any of it.
        let mut at = 2;
        let mut fields = Vec::with_capacity(self.columns.len());
        for _ in 0..count {
            let Some(length) = self.take(at, 4) else {
                return self.binary_incomplete(at_end);
            };
            let length = i32::from_be_bytes([length[0], length[1], length[2], length[3]]);
            at += 4;
            if length == -1 {
                fields.push(None);
                continue;
            }
            if length < 0 {
                self.line += 1;
                return Err(bad_format("invalid field size").with_context(self.context()));
            }
            let length = length as usize;
            if at + length > COPY_RECORD_BYTES_MAX + 2 {
                // Reported by `next_row` once the held bytes pass the limit.
                return self.binary_incomplete(at_end);
            }
            if self.take(at, length).is_none() {
                return self.binary_incomplete(at_end);
            }
            fields.push(Some((at, length)));
            at += length;
        }
        self.line += 1;
        let mut row = Vec::with_capacity(fields.len());
        for (field, (name, ty)) in fields.into_iter().zip(&self.columns) {
            let Some((from, length)) = field else {
                row.push(Value::Null);
                continue;
            };
            let bytes = &self.pending[self.pos + from..self.pos + from + length];
            let value = values::decode_binary(*ty, bytes, 0).map_err(|e| {
                let e = if e.code == sqlstate::INVALID_BINARY_REPRESENTATION {
                    Error::new(e.code, "incorrect binary data format")
                } else {
                    e
                };
                e.with_context(format!(
                    "COPY {}, line {}, column {name}",
                    self.relation, self.line
                ))
            })?;
            row.push(value);
        }
        self.pos += at;
        Ok(Some(Some(row)))
    }

    fn binary_incomplete(&mut self, at_end: bool) -> Result<Option<Option<Vec<Value>>>> {
        if at_end {
            self.line += 1;
            return Err(bad_format("unexpected EOF in COPY data").with_context(self.context()));
        }
        Ok(None)
    }
}

/// Formats rows for COPY TO.
pub struct CopyWriter<'s> {
    spec: &'s CopySpec,
    style: OutputStyle<'s>,
    scratch: String,
}

impl<'s> CopyWriter<'s> {
    /// A writer of `spec`'s format whose text follows the session's
    /// `style` (as PostgreSQL's COPY TO writes with the output functions).
    pub fn new(spec: &'s CopySpec, style: OutputStyle<'s>) -> CopyWriter<'s> {
        CopyWriter {
            spec,
            style,
            scratch: String::new(),
        }
    }

    /// What comes before the first row: the binary signature, or the
    /// header line of column names when asked for. `names` are the
    /// result's column names.
    pub fn header(&self, names: &[&str], out: &mut Vec<u8>) {
        match self.spec.format {
            CopyFormat::Binary => {
                out.extend_from_slice(BINARY_SIGNATURE);
                out.extend_from_slice(&0u32.to_be_bytes());
                out.extend_from_slice(&0u32.to_be_bytes());
            }
            _ if !self.spec.header => {}
            format => {
                for (i, name) in names.iter().enumerate() {
                    if i > 0 {
                        out.push(self.spec.delimiter);
                    }
                    if format == CopyFormat::Csv {
                        self.csv_field(name.as_bytes(), false, names.len() == 1, out);
                    } else {
                        self.text_field(name.as_bytes(), out);
                    }
                }
                out.push(b'\n');
            }
        }
    }

    /// The binary trailer; nothing for text and CSV.
    pub fn trailer(&self, out: &mut Vec<u8>) {
        if self.spec.format == CopyFormat::Binary {
            out.extend_from_slice(&(-1i16).to_be_bytes());
        }
    }

    /// One row, in the types of `types`.
    pub fn row(&mut self, row: &[Value], types: &[DataType], out: &mut Vec<u8>) -> Result<()> {
        if self.spec.format == CopyFormat::Binary {
            let count = i16::try_from(row.len())
                .map_err(|_| Error::new(sqlstate::PROGRAM_LIMIT_EXCEEDED, "too many columns"))?;
            out.extend_from_slice(&count.to_be_bytes());
            for (value, ty) in row.iter().zip(types) {
                values::write_field(
                    out,
                    value,
                    *ty,
                    values::Format::Binary,
                    &mut self.scratch,
                    &self.style,
                )?;
            }
            return Ok(());
        }
        let csv = self.spec.format == CopyFormat::Csv;
        for (i, value) in row.iter().enumerate() {
            if i > 0 {
                out.push(self.spec.delimiter);
            }
            if value.is_null() {
                out.extend_from_slice(self.spec.null.as_bytes());
                continue;
            }
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.clear();
            let text = match value {
                Value::Text(s) | Value::BpChar(s) => s.as_str(),
                value => {
                    value.write_text_in(&mut scratch, &self.style);
                    scratch.as_str()
                }
            };
            if csv {
                let force = self.spec.force_quote.get(i).copied().unwrap_or(false);
                self.csv_field(text.as_bytes(), force, row.len() == 1, out);
            } else {
                self.text_field(text.as_bytes(), out);
            }
            self.scratch = scratch;
        }
        out.push(b'\n');
        Ok(())
    }

    /// PostgreSQL's `CopyAttributeOutText`: backslash, the delimiter and
    /// the control characters with a letter escape are escaped.
    fn text_field(&self, bytes: &[u8], out: &mut Vec<u8>) {
        for &c in bytes {
            let escaped = match c {
                0x08 => Some(b'b'),
                0x0c => Some(b'f'),
                b'\n' => Some(b'n'),
                b'\r' => Some(b'r'),
                b'\t' => Some(b't'),
                0x0b => Some(b'v'),
                b'\\' => Some(b'\\'),
                c if c == self.spec.delimiter => Some(c),
                _ => None,
            };
            match escaped {
                Some(e) => {
                    out.push(b'\\');
                    out.push(e);
                }
                None => out.push(c),
            }
        }
    }

    /// PostgreSQL's `CopyAttributeOutCSV`: quoted when forced, when it
    /// equals the NULL string, when it holds the delimiter, the quote or
    /// a line ending, or when it is a lone column's `\.`; inside quotes
    /// the quote and escape characters are escaped.
    fn csv_field(&self, bytes: &[u8], force: bool, single: bool, out: &mut Vec<u8>) {
        let (quote, escape) = (self.spec.quote, self.spec.escape);
        let quoted = force
            || bytes == self.spec.null.as_bytes()
            || (single && bytes == b"\\.")
            || bytes
                .iter()
                .any(|&c| c == self.spec.delimiter || c == quote || c == b'\n' || c == b'\r');
        if !quoted {
            out.extend_from_slice(bytes);
            return;
        }
        out.push(quote);
        for &c in bytes {
            if c == quote || c == escape {
                out.push(escape);
            }
            out.push(c);
        }
        out.push(quote);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_sql::copy::{CopyDirection, CopyOption, CopyOptionValue};

    fn spec(format: &str) -> CopySpec {
        let columns = vec![
            ("a".to_string(), DataType::Int4),
            ("b".to_string(), DataType::Text),
        ];
        let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
        let options = [CopyOption {
            name: "format".into(),
            value: CopyOptionValue::Text(format.into()),
        }];
        CopySpec::new(CopyDirection::From, &options, "t".into(), &names, columns).unwrap()
    }

    /// Every row `data` holds, fed `chunk` bytes at a time.
    fn read(spec: &CopySpec, data: &[u8], chunk: usize) -> Result<Vec<Vec<Value>>> {
        let mut reader = CopyReader::new(spec, TimeContext::default());
        let mut rows = Vec::new();
        for piece in data.chunks(chunk.max(1)) {
            reader.feed(piece)?;
            while let Some(row) = reader.next_row(false)? {
                rows.push(row);
            }
        }
        while let Some(row) = reader.next_row(true)? {
            rows.push(row);
        }
        Ok(rows)
    }

    fn written(spec: &CopySpec, rows: &[Vec<Value>]) -> Vec<u8> {
        let mut writer = CopyWriter::new(spec, OutputStyle::DEFAULT);
        let mut out = Vec::new();
        writer.header(&["a", "b"], &mut out);
        for row in rows {
            writer
                .row(row, &[DataType::Int4, DataType::Text], &mut out)
                .unwrap();
        }
        writer.trailer(&mut out);
        out
    }

    #[test]
    fn rows_do_not_depend_on_where_messages_split() {
        let rows = vec![
            vec![
                Value::Int4(1),
                Value::Text("tab\there\nnew\\back\r,\"q\" é".into()),
            ],
            vec![Value::Int4(-2), Value::Null],
            vec![Value::Int4(3), Value::Text(String::new())],
            vec![Value::Int4(4), Value::Text("\\.".into())],
        ];
        for format in ["text", "csv", "binary"] {
            let spec = spec(format);
            let data = written(&spec, &rows);
            for chunk in [1, 2, 3, 7, data.len()] {
                assert_eq!(
                    read(&spec, &data, chunk).unwrap(),
                    rows,
                    "{format} by {chunk}"
                );
            }
        }
    }

    #[test]
    fn text_escapes_and_the_end_marker() {
        let spec = spec("text");
        let rows = read(&spec, b"1\t\\x41\\101\\q\\\n\r\n\\.\r\nignored\n", 1);
        // A line ending fixed by the first line: `\r\n`; the escaped
        // newline is data.
        assert_eq!(
            rows.unwrap(),
            vec![vec![Value::Int4(1), Value::Text("AAq\n".into())]]
        );
        let err = read(&spec, b"1\ta\n2\tb\r\n", 4).unwrap_err();
        assert_eq!(err.code, sqlstate::BAD_COPY_FILE_FORMAT);
        assert_eq!(err.context.as_deref(), Some("COPY t, line 2"));
        let err = read(&spec, b"1\ta\n\\.x\n", 4).unwrap_err();
        assert_eq!(err.message, "end-of-copy marker corrupt");
    }

    #[test]
    fn binary_framing_errors() {
        let spec = spec("binary");
        let good = written(&spec, &[vec![Value::Int4(7), Value::Null]]);
        let mut cut = good.clone();
        cut.truncate(good.len() - 4);
        assert_eq!(
            read(&spec, &cut, 5).unwrap_err().message,
            "unexpected EOF in COPY data"
        );
        let mut extra = good.clone();
        extra.push(0);
        assert_eq!(
            read(&spec, &extra, 100).unwrap_err().message,
            "received copy data after EOF marker"
        );
        let mut wrong = good;
        wrong[20] = 3;
        assert_eq!(
            read(&spec, &wrong, 100).unwrap_err().message,
            "row field count is 3, expected 2"
        );
    }
}
