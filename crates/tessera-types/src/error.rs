//! The one error type that crosses layers. Every error carries the SQLSTATE
//! it will have on the wire; [`ErrorKind`] says what the caller must do.

use crate::sqlstate::{self, SqlState};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the caller of a failed operation must do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ErrorKind {
    /// The request itself is wrong; retrying it unchanged fails again.
    InvalidInput,
    /// A transient conflict or resource shortage; the same request may succeed later.
    Retry,
    /// The node cannot go on serving this (I/O failure, corruption).
    Fatal,
}

/// An error with its wire code. `detail`, `hint` and `context` map to the
/// PostgreSQL ErrorResponse fields of the same names (`context` is the
/// `W` field: where it happened, e.g. `COPY t, line 3, column b: "x"`).
/// The detail [`Error::no_master_reached`] sets.
const NO_MASTER_REACHED: &str = "The request did not reach the master of its shard.";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Error {
    pub code: SqlState,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub context: Option<String>,
    /// What the error is about, when it is about an object or an input
    /// row (boxed: most errors are not, and `Result`s stay small).
    pub object: Option<Box<ErrorObject>>,
}

/// The object an error is about, as PostgreSQL's ErrorResponse names it
/// (fields `s`, `t`, `c`, `d`, `n`: clients read them as the error's
/// schema, table, column, data type and constraint names), and the input
/// row.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorObject {
    pub schema: Option<String>,
    /// The table's schema by id, for a layer that knows the table but not
    /// the schema's name; the engine names it before the client sees it.
    pub schema_id: Option<u32>,
    pub table: Option<String>,
    pub column: Option<String>,
    pub datatype: Option<String>,
    pub constraint: Option<String>,
    /// Which of the rows a statement was given (a COPY batch's, an
    /// INSERT … SELECT's) the error is about, counting from 0, when known:
    /// COPY turns it into its line number.
    pub row: Option<u32>,
    /// Where in the statement text it is, as line and column (from 1), as
    /// the parser found it; [`Error::located_in`] turns it into `position`.
    pub location: Option<(u32, u32)>,
    /// The name the text must hold at `location` for it to be this
    /// error's (a name bound from stored text, a view's or a default's,
    /// has a location in that text, not in the query).
    pub location_name: Option<String>,
    /// Where in the query string it is, in characters from 1 (the
    /// ErrorResponse's `P` field, from which psql draws its `LINE 1:` and
    /// caret); one past the end for an error at the end of the input.
    pub position: Option<u32>,
}

impl Error {
    pub fn new(code: SqlState, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
            detail: None,
            hint: None,
            context: None,
            object: None,
        }
    }
    fn object_mut(&mut self) -> &mut ErrorObject {
        self.object.get_or_insert_with(Default::default)
    }
    /// The input row the error is about (see [`ErrorObject::row`]).
    pub fn row(&self) -> Option<usize> {
        self.object.as_ref()?.row.map(|r| r as usize)
    }
    /// At line `line`, column `column` (from 1) of the text parsed.
    pub fn with_location(mut self, line: u32, column: u32) -> Error {
        self.object_mut().location = Some((line, column));
        self
    }
    /// About name `name` written at line `line`, column `column` of the
    /// text parsed, unless the error already has a location.
    pub fn with_name_location(mut self, name: &str, line: u64, column: u64) -> Error {
        if line == 0 || column == 0 || self.object.as_ref().is_some_and(|o| o.location.is_some()) {
            return self;
        }
        let object = self.object_mut();
        object.location = Some((line as u32, column as u32));
        object.location_name = Some(name.to_string());
        self
    }
    /// At the end of the text parsed.
    pub fn at_end(mut self) -> Error {
        self.object_mut().location = Some((0, 0));
        self
    }
    /// Its location (see [`Error::with_location`]) as a position in `text`,
    /// the query string it was parsed from.
    pub fn located_in(mut self, text: &str) -> Error {
        let Some(object) = self.object.as_mut() else {
            return self;
        };
        let Some((line, column)) = object.location.take() else {
            return self;
        };
        let name = object.location_name.take();
        let chars = text.chars().count() as u32;
        let position = if line == 0 {
            chars + 1
        } else {
            let before: u32 = text
                .split('\n')
                .take(line as usize - 1)
                .map(|l| l.chars().count() as u32 + 1)
                .sum();
            (before + column).min(chars + 1)
        };
        if let Some(name) = name {
            let at: String = text
                .chars()
                .skip(position as usize - 1)
                .skip_while(|c| *c == '"')
                .take(name.chars().count())
                .collect();
            if !at.eq_ignore_ascii_case(&name) {
                return self;
            }
        }
        object.position = Some(position);
        self
    }
    /// About input row `row`; a row already named stays.
    pub fn with_row(mut self, row: usize) -> Error {
        if let Ok(row) = u32::try_from(row) {
            self.object_mut().row.get_or_insert(row);
        }
        self
    }
    /// About table `table` of schema `schema_id` (named later, see
    /// [`ErrorObject::schema_id`]).
    pub fn with_table(mut self, schema_id: u32, table: impl Into<String>) -> Error {
        let object = self.object_mut();
        object.schema_id = Some(schema_id);
        object.table = Some(table.into());
        self
    }
    pub fn with_column(mut self, column: impl Into<String>) -> Error {
        self.object_mut().column = Some(column.into());
        self
    }
    pub fn with_constraint(mut self, constraint: impl Into<String>) -> Error {
        self.object_mut().constraint = Some(constraint.into());
        self
    }
    /// Names the schema an object was given by id, with `name_of`.
    pub fn name_schema(mut self, name_of: impl FnOnce(u32) -> Option<String>) -> Error {
        if let Some(object) = self.object.as_mut() {
            if object.schema.is_none() {
                object.schema = object.schema_id.and_then(name_of);
            }
        }
        self
    }
    /// Marks an error a shard request met before it reached a master of
    /// its shard: the node was unreachable, or no longer the master
    /// (docs/CLUSTER.md §6). Nothing of it ran, so a statement outside a
    /// block runs again once the cluster names the master.
    pub fn no_master_reached(self) -> Error {
        self.with_detail(NO_MASTER_REACHED)
    }

    /// Whether [`Error::no_master_reached`] marked this error.
    pub fn is_no_master_reached(&self) -> bool {
        self.detail.as_deref() == Some(NO_MASTER_REACHED)
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Error {
        self.detail = Some(detail.into());
        self
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Error {
        self.hint = Some(hint.into());
        self
    }
    pub fn with_context(mut self, context: impl Into<String>) -> Error {
        self.context = Some(context.into());
        self
    }
    pub fn kind(&self) -> ErrorKind {
        match self.code.class() {
            "40" | "53" | "55" | "57" => ErrorKind::Retry,
            "58" | "XX" => ErrorKind::Fatal,
            _ => ErrorKind::InvalidInput,
        }
    }

    /// 0A000: a construct Tessera does not support (yet). Name the construct.
    pub fn unsupported(what: impl std::fmt::Display) -> Error {
        Error::new(
            sqlstate::FEATURE_NOT_SUPPORTED,
            format!("{what} is not supported"),
        )
    }
    pub fn syntax(message: impl Into<String>) -> Error {
        Error::new(sqlstate::SYNTAX_ERROR, message)
    }
    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(sqlstate::INTERNAL_ERROR, message)
    }
    pub fn io(context: &str, err: std::io::Error) -> Error {
        let code = match err.raw_os_error() {
            Some(28) | Some(122) => sqlstate::DISK_FULL, // ENOSPC, EDQUOT
            _ => sqlstate::IO_ERROR,
        };
        Error::new(code, format!("{context}: {err}"))
    }
    pub fn out_of_range(type_name: &str) -> Error {
        Error::new(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("{type_name} out of range"),
        )
    }
    pub fn division_by_zero() -> Error {
        Error::new(sqlstate::DIVISION_BY_ZERO, "division by zero")
    }
    pub fn invalid_text(type_name: &str, input: &str) -> Error {
        Error::new(
            sqlstate::INVALID_TEXT_REPRESENTATION,
            format!("invalid input syntax for type {type_name}: \"{input}\""),
        )
    }
    pub fn datatype_mismatch(message: impl Into<String>) -> Error {
        Error::new(sqlstate::DATATYPE_MISMATCH, message)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code.0)
    }
}

impl std::error::Error for Error {}
