//! The registry of SQLSTATE codes Tessera sends. Handlers name a constant from
//! here, never a string literal, so the set of codes a client can see is this
//! file.

/// A five-character SQLSTATE code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SqlState(pub &'static str);

impl SqlState {
    pub fn code(&self) -> &'static str {
        self.0
    }
    /// The two-character class (`"40"` for every serialization failure).
    pub fn class(&self) -> &'static str {
        &self.0[..2]
    }
}

impl std::fmt::Debug for SqlState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

pub const SUCCESSFUL_COMPLETION: SqlState = SqlState("00000");
pub const WARNING: SqlState = SqlState("01000");
pub const FEATURE_NOT_SUPPORTED: SqlState = SqlState("0A000");
/// A subquery used as an expression returned more than one row.
pub const CARDINALITY_VIOLATION: SqlState = SqlState("21000");
pub const STRING_DATA_RIGHT_TRUNCATION: SqlState = SqlState("22001");
pub const NULL_VALUE_NOT_ALLOWED: SqlState = SqlState("22004");
pub const INVALID_ARGUMENT_FOR_NTILE: SqlState = SqlState("22014");
pub const INVALID_ARGUMENT_FOR_NTH_VALUE: SqlState = SqlState("22016");
pub const INVALID_PRECEDING_OR_FOLLOWING_SIZE: SqlState = SqlState("22013");
pub const INVALID_DATETIME_FORMAT: SqlState = SqlState("22007");
/// Also PostgreSQL's `datetime_value_out_of_range` ("timestamp out of range").
pub const DATETIME_FIELD_OVERFLOW: SqlState = SqlState("22008");
pub const INVALID_TIME_ZONE_DISPLACEMENT_VALUE: SqlState = SqlState("22009");
pub const INTERVAL_FIELD_OVERFLOW: SqlState = SqlState("22015");
pub const NUMERIC_VALUE_OUT_OF_RANGE: SqlState = SqlState("22003");
pub const DIVISION_BY_ZERO: SqlState = SqlState("22012");
pub const INVALID_TEXT_REPRESENTATION: SqlState = SqlState("22P02");
pub const BAD_COPY_FILE_FORMAT: SqlState = SqlState("22P04");
pub const UNTRANSLATABLE_CHARACTER: SqlState = SqlState("22P05");
pub const CHARACTER_NOT_IN_REPERTOIRE: SqlState = SqlState("22021");
pub const INVALID_PARAMETER_VALUE: SqlState = SqlState("22023");
pub const INVALID_ARGUMENT_FOR_LOGARITHM: SqlState = SqlState("2201E");
pub const INVALID_ARGUMENT_FOR_POWER_FUNCTION: SqlState = SqlState("2201F");
pub const INVALID_ARGUMENT_FOR_WIDTH_BUCKET_FUNCTION: SqlState = SqlState("2201G");
pub const INVALID_REGULAR_EXPRESSION: SqlState = SqlState("2201B");
pub const INVALID_ESCAPE_SEQUENCE: SqlState = SqlState("22025");
pub const INVALID_ROW_COUNT_IN_LIMIT: SqlState = SqlState("2201W");
pub const INVALID_ROW_COUNT_IN_OFFSET: SqlState = SqlState("2201X");
pub const INVALID_BINARY_REPRESENTATION: SqlState = SqlState("22P03");
pub const NOT_NULL_VIOLATION: SqlState = SqlState("23502");
pub const UNIQUE_VIOLATION: SqlState = SqlState("23505");
pub const CHECK_VIOLATION: SqlState = SqlState("23514");
pub const SUBSTRING_ERROR: SqlState = SqlState("22011");
/// An index out of a value's range (`get_byte`, `set_bit`).
pub const ARRAY_SUBSCRIPT_ERROR: SqlState = SqlState("2202E");
pub const FOREIGN_KEY_VIOLATION: SqlState = SqlState("23503");
pub const INVALID_FOREIGN_KEY: SqlState = SqlState("42830");
pub const INVALID_CURSOR_NAME: SqlState = SqlState("34000");
pub const INVALID_SQL_STATEMENT_NAME: SqlState = SqlState("26000");
pub const SERIALIZATION_FAILURE: SqlState = SqlState("40001");
pub const DEADLOCK_DETECTED: SqlState = SqlState("40P01");
pub const INVALID_SAVEPOINT_SPECIFICATION: SqlState = SqlState("3B001");
pub const IN_FAILED_SQL_TRANSACTION: SqlState = SqlState("25P02");
pub const NO_ACTIVE_SQL_TRANSACTION: SqlState = SqlState("25P01");
pub const READ_ONLY_SQL_TRANSACTION: SqlState = SqlState("25006");
pub const SYNTAX_ERROR: SqlState = SqlState("42601");
pub const UNDEFINED_COLUMN: SqlState = SqlState("42703");
pub const UNDEFINED_TABLE: SqlState = SqlState("42P01");
pub const UNDEFINED_FUNCTION: SqlState = SqlState("42883");
pub const UNDEFINED_OBJECT: SqlState = SqlState("42704");
pub const DUPLICATE_TABLE: SqlState = SqlState("42P07");
pub const DUPLICATE_OBJECT: SqlState = SqlState("42710");
pub const WRONG_OBJECT_TYPE: SqlState = SqlState("42809");
pub const TOO_MANY_COLUMNS: SqlState = SqlState("54011");
pub const LOCK_NOT_AVAILABLE: SqlState = SqlState("55P03");
pub const DUPLICATE_COLUMN: SqlState = SqlState("42701");
pub const DUPLICATE_PREPARED_STATEMENT: SqlState = SqlState("42P05");
pub const AMBIGUOUS_COLUMN: SqlState = SqlState("42702");
pub const DUPLICATE_ALIAS: SqlState = SqlState("42712");
/// A window function where none may be, or nested in another.
pub const WINDOWING_ERROR: SqlState = SqlState("42P20");
/// A recursive WITH query's work table read where it cannot be.
pub const INVALID_RECURSION: SqlState = SqlState("42P19");
pub const AMBIGUOUS_FUNCTION: SqlState = SqlState("42725");
pub const DATATYPE_MISMATCH: SqlState = SqlState("42804");
pub const CANNOT_COERCE: SqlState = SqlState("42846");
pub const GROUPING_ERROR: SqlState = SqlState("42803");
pub const INVALID_COLUMN_REFERENCE: SqlState = SqlState("42P10");
pub const INVALID_TABLE_DEFINITION: SqlState = SqlState("42P16");
pub const INDETERMINATE_DATATYPE: SqlState = SqlState("42P18");
pub const UNDEFINED_PARAMETER: SqlState = SqlState("42P02");
pub const PROTOCOL_VIOLATION: SqlState = SqlState("08P01");
pub const CONNECTION_FAILURE: SqlState = SqlState("08006");
pub const PROGRAM_LIMIT_EXCEEDED: SqlState = SqlState("54000");
pub const INSUFFICIENT_RESOURCES: SqlState = SqlState("53000");
pub const DISK_FULL: SqlState = SqlState("53100");
pub const OUT_OF_MEMORY: SqlState = SqlState("53200");
pub const TOO_MANY_CONNECTIONS: SqlState = SqlState("53300");
pub const IDLE_IN_TRANSACTION_SESSION_TIMEOUT: SqlState = SqlState("25P03");
pub const QUERY_CANCELED: SqlState = SqlState("57014");
pub const ADMIN_SHUTDOWN: SqlState = SqlState("57P01");
pub const CANNOT_CONNECT_NOW: SqlState = SqlState("57P03");
pub const SYSTEM_ERROR: SqlState = SqlState("58000");
pub const IO_ERROR: SqlState = SqlState("58030");
pub const INVALID_SCHEMA_NAME: SqlState = SqlState("3F000");
pub const INVALID_CATALOG_NAME: SqlState = SqlState("3D000");
pub const UNDEFINED_FUNCTION_OR_OPERATOR: SqlState = SqlState("42883");
pub const ACTIVE_SQL_TRANSACTION: SqlState = SqlState("25001");
pub const DUPLICATE_CURSOR: SqlState = SqlState("42P03");
pub const INVALID_CURSOR_DEFINITION: SqlState = SqlState("42P11");
pub const OBJECT_NOT_IN_PREREQUISITE_STATE: SqlState = SqlState("55000");
pub const INVALID_NAME: SqlState = SqlState("42602");
/// A `name` longer than 63 bytes in binary input.
pub const NAME_TOO_LONG: SqlState = SqlState("42622");
pub const DEPENDENT_OBJECTS_STILL_EXIST: SqlState = SqlState("2BP01");
/// A value given for a GENERATED ALWAYS column.
pub const GENERATED_ALWAYS: SqlState = SqlState("428C9");
pub const INTERNAL_ERROR: SqlState = SqlState("XX000");
pub const DATA_CORRUPTED: SqlState = SqlState("XX001");
pub const DUPLICATE_SCHEMA: SqlState = SqlState("42P06");
/// A name with a reserved prefix (`pg_` for schemas).
pub const RESERVED_NAME: SqlState = SqlState("42939");
pub const INSUFFICIENT_PRIVILEGE: SqlState = SqlState("42501");
/// A login refused for who the client is (no such role, not permitted to
/// log in, no rule admits it).
pub const INVALID_AUTHORIZATION_SPECIFICATION: SqlState = SqlState("28000");
/// A wrong password, or a password method for a role that has none.
pub const INVALID_PASSWORD: SqlState = SqlState("28P01");
/// A role still in use (DROP ROLE of the session's own role).
pub const OBJECT_IN_USE: SqlState = SqlState("55006");
/// SET of a setting fixed for the server's lifetime (`server_version`).
pub const CANT_CHANGE_RUNTIME_PARAM: SqlState = SqlState("55P02");
