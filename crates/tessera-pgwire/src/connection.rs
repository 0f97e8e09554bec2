//! The I/O shell around a session: reads bytes from the client into one
//! buffer, decodes as many whole messages as it holds, hands each to the
//! [`Session`], and writes the session's output.
//!
//! Guarantees: nothing a client sends can make it panic or allocate more
//! than [`codec::MESSAGE_BYTES_MAX`] plus one read chunk of input; a
//! malformed message ends the connection with ErrorResponse FATAL, an I/O
//! error or end of input ends it silently. The read buffer grows only as
//! bytes actually arrive, never to a length the client merely announced, and
//! shrinks back after a large message. Each connection owns all its state.
//!
//! Not done here: TLS, accepting sockets, limits on the number of
//! connections, timeouts; the caller (the runtime) owns those.

use std::io;

use tessera_sql::QueryEngine;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::codec::{self, decode_frontend, decode_startup, BackendKey, DecodeError, Severity};
use crate::session::{self, Handshake, Session, Startup, Step};

/// How much spare room the input buffer gets before each read.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// An input buffer whose capacity grew past this (one large message) is
/// shrunk back to [`READ_CHUNK_BYTES`] once it is drained.
const INPUT_RETAIN_BYTES: usize = 1024 * 1024;

/// Serves one client connection until it ends: the startup handshake, then
/// queries against `engine`. `backend` is what BackendKeyData reports (for
/// a later CancelRequest). Returns when the client terminates or
/// disconnects, on a protocol error (after telling the client) or on an I/O
/// error; it never panics on client input.
pub async fn serve_connection<E: QueryEngine, S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    engine: &E,
    backend: BackendKey,
) {
    if let Err(error) = run(&mut stream, engine, backend).await {
        tracing::debug!(%error, "connection ended by an I/O error");
    }
}

async fn run<E: QueryEngine, S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    engine: &E,
    backend: BackendKey,
) -> io::Result<()> {
    let mut input: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES);
    let mut out: Vec<u8> = Vec::new();
    let Some(state) = handshake(stream, &mut input, &mut out).await? else {
        return Ok(());
    };
    let mut session = Session::start(engine, state, backend, out);
    let activity = session.activity().clone();
    // However the session ends, the engine releases what it holds (an open
    // transaction is rolled back).
    let result: io::Result<()> = async {
        session.flush(stream).await?;
        loop {
            let mut consumed = 0;
            let step = loop {
                match decode_frontend(&input[consumed..]) {
                    Ok(Some((message, used))) => {
                        consumed += used;
                        if session.handle(message, stream).await? == Step::Close {
                            break Step::Close;
                        }
                    }
                    Ok(None) => break Step::Continue,
                    Err(DecodeError::Invalid {
                        message_type,
                        error,
                        message_bytes,
                    }) => {
                        consumed += message_bytes;
                        if session.handle_invalid(message_type, error, stream).await? == Step::Close
                        {
                            break Step::Close;
                        }
                    }
                    Err(DecodeError::Fatal(error)) => {
                        session.fatal(&error);
                        break Step::Close;
                    }
                }
            };
            if step == Step::Close {
                session.flush(stream).await?;
                // The client may already be gone; there is nothing left to tell it.
                let _ = stream.shutdown().await;
                return Ok(());
            }
            input.drain(..consumed);
            if input.capacity() > INPUT_RETAIN_BYTES && input.len() <= READ_CHUNK_BYTES {
                input.shrink_to(READ_CHUNK_BYTES);
            }
            // pg_terminate_backend ends the session, idle or not.
            let read = tokio::select! {
                read = read_more(stream, &mut input) => read?,
                _ = activity.terminated.notified() => {
                    session.fatal(&tessera_types::interrupt::terminated());
                    session.flush(stream).await?;
                    let _ = stream.shutdown().await;
                    return Ok(());
                }
            };
            if read == 0 {
                return Ok(());
            }
        }
    }
    .await;
    session.end().await;
    result
}

/// Reads the startup messages (answering SSL and GSS requests) until the
/// client asks to start a session; `None` when the connection should end
/// (what to tell the client is already written).
async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    input: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> io::Result<Option<tessera_sql::SessionState>> {
    let mut startup = Startup::default();
    loop {
        let (handshake, used) = match decode_startup(input) {
            Ok(Some((message, used))) => (startup.handle(message, out), used),
            Ok(None) => {
                if read_more(stream, input).await? == 0 {
                    return Ok(None);
                }
                continue;
            }
            Err(error) => {
                tracing::debug!(message = %error.error().message, "invalid startup message");
                codec::error_response(out, Severity::Fatal, error.error());
                close(stream, out).await?;
                return Ok(None);
            }
        };
        input.drain(..used);
        match handshake {
            Handshake::Continue => session::write_out(out, stream).await?,
            Handshake::Accept(state) => return Ok(Some(*state)),
            Handshake::Close => {
                close(stream, out).await?;
                return Ok(None);
            }
        }
    }
}

/// Turns a client away after its startup message with a FATAL `error`, as
/// PostgreSQL does when it has no room for another connection (53300).
pub async fn refuse_connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    error: &tessera_types::Error,
) {
    let mut input: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES);
    let mut out: Vec<u8> = Vec::new();
    if let Ok(Some(_)) = handshake(&mut stream, &mut input, &mut out).await {
        codec::error_response(&mut out, Severity::Fatal, error);
        let _ = close(&mut stream, &mut out).await;
    }
}

/// Reads what is available into the spare room of `input`; 0 at end of input.
async fn read_more<S: AsyncRead + Unpin>(stream: &mut S, input: &mut Vec<u8>) -> io::Result<usize> {
    input.reserve(READ_CHUNK_BYTES);
    stream.read_buf(input).await
}

async fn close<S: AsyncWrite + Unpin>(stream: &mut S, out: &mut Vec<u8>) -> io::Result<()> {
    session::write_out(out, stream).await?;
    let _ = stream.shutdown().await;
    Ok(())
}
