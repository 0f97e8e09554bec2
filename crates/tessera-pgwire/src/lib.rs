//! The PostgreSQL v3 wire protocol frontend, written by hand so that
//! messages borrow from the read buffer and rows are encoded straight into
//! the write buffer.
//!
//! Layers, bottom up: [`values`] (text and binary formats of each type),
//! [`codec`] (sans-I/O message decoding and encoding), `session` (the
//! protocol state: startup, simple query, extended query), and
//! [`serve_connection`] (the socket loop). The SQL engine is reached only
//! through [`tessera_sql::QueryEngine`], so tests drive a session with a
//! fake engine over an in-memory stream.
//!
//! Not here yet: TLS, authentication, cancellation, COPY, transactions.

pub mod codec;
mod connection;
pub mod copy;
mod session;
pub mod values;

#[cfg(test)]
mod session_tests;
#[cfg(test)]
mod testing;

pub use codec::{BackendKey, MESSAGE_BYTES_MAX};
pub use connection::{refuse_connection, serve_connection};
pub use session::{
    COPY_BATCH_BYTES, COPY_BATCH_ROWS, OUTPUT_FLUSH_BYTES, PORTALS_MAX, PREPARED_STATEMENTS_MAX,
};
