//! The PostgreSQL v3 wire protocol frontend, written by hand so that
//! messages borrow from the read buffer and rows are encoded straight into
//! the write buffer.
//!
//! Layers, bottom up: [`values`] (text and binary formats of each type),
//! [`codec`] (sans-I/O message decoding and encoding), `session` (the
//! protocol state: startup, simple query, extended query, COPY with
//! [`copy`]'s formats, cancellation and timeouts, LISTEN/NOTIFY), and
//! [`serve_connection`] (the socket loop, TLS, and authentication with
//! [`auth`], [`hba`] and [`scram`]). The SQL engine is reached only
//! through [`tessera_sql::QueryEngine`], so tests drive a session with a
//! fake engine over an in-memory stream.

pub mod auth;
pub mod codec;
mod connection;
pub mod copy;
pub mod hba;
pub mod scram;
mod session;
pub mod values;

#[cfg(test)]
mod session_tests;
#[cfg(test)]
mod testing;

pub use auth::AuthConfig;
pub use codec::{BackendKey, MESSAGE_BYTES_MAX};
pub use connection::{refuse_connection, serve_connection, tls_config};
pub use session::{
    COPY_BATCH_BYTES, COPY_BATCH_ROWS, OUTPUT_FLUSH_BYTES, PORTALS_MAX, PREPARED_STATEMENTS_MAX,
};
