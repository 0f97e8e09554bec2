//! The I/O shell around a session: reads bytes from the client into one
//! buffer, decodes as many whole messages as it holds, hands each to the
//! [`Session`], and writes the session's output. Before the session: the
//! startup handshake, TLS when the client asks and the node has a
//! certificate, and authentication as the rules say
//! ([`crate::auth`], [`crate::hba`], [`crate::scram`]).
//!
//! Guarantees: nothing a client sends can make it panic or allocate more
//! than [`codec::MESSAGE_BYTES_MAX`] plus one read chunk of input (before
//! authentication, [`codec::AUTH_MESSAGE_BYTES_MAX`]); a malformed message
//! ends the connection with ErrorResponse FATAL, an I/O error or end of
//! input ends it silently. The read buffer grows only as bytes actually
//! arrive, never to a length the client merely announced, and shrinks back
//! after a large message. Each connection owns all its state. A failed
//! login is logged with the client's address and answered after the delay
//! [`crate::auth::AuthFailures`] decides.
//!
//! Not done here: accepting sockets, limits on the number of connections,
//! timeouts; the caller (the runtime) owns those.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use tessera_sql::password::{self, ScramVerifier};
use tessera_sql::QueryEngine;
use tessera_types::{sqlstate, Error, RoleDef};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::auth::{AuthConfig, TlsConfig};
use crate::codec::{self, decode_frontend, decode_startup, BackendKey, DecodeError, Severity};
use crate::hba::{Method, Peer};
use crate::scram::{self, Final, ScramServer};
use crate::session::{self, Accepted, Handshake, Session, Startup, Step};

/// How much spare room the input buffer gets before each read.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// An input buffer whose capacity grew past this (one large message) is
/// shrunk back to [`READ_CHUNK_BYTES`] once it is drained.
const INPUT_RETAIN_BYTES: usize = 1024 * 1024;

/// Serves one client connection from `peer` until it ends: the startup
/// handshake and authentication as `auth` says (no TLS over the Unix
/// socket, as PostgreSQL), then queries against `engine`. `backend` is
/// what BackendKeyData reports (for a later CancelRequest). Returns when the client terminates or disconnects, on a
/// protocol error (after telling the client) or on an I/O error; it never
/// panics on client input.
pub async fn serve_connection<E: QueryEngine, S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    engine: &E,
    backend: BackendKey,
    auth: &AuthConfig,
    peer: Peer,
) {
    let mut stream = Stream::Plain(stream);
    if let Err(error) = run(&mut stream, engine, backend, auth, peer).await {
        tracing::debug!(%error, "connection ended by an I/O error");
    }
}

async fn run<E: QueryEngine, S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut Stream<S>,
    engine: &E,
    backend: BackendKey,
    auth: &AuthConfig,
    peer: Peer,
) -> io::Result<()> {
    let mut input: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES);
    let mut out: Vec<u8> = Vec::new();
    // The whole startup, TLS and authentication must end within the
    // timeout, or the connection is closed (PostgreSQL's
    // authentication_timeout), so silent clients do not hold slots.
    let started = async {
        let Some(accepted) = handshake(stream, &mut input, &mut out, auth, peer).await? else {
            return Ok(None);
        };
        authenticate(stream, &mut input, &mut out, engine, auth, peer, *accepted).await
    };
    let state = match tokio::time::timeout(auth.timeout, started).await {
        Ok(result) => result?,
        Err(_) => {
            tracing::info!("closing the connection from {peer}: authentication timed out");
            return Ok(());
        }
    };
    let Some(state) = state else {
        return Ok(());
    };
    let mut session = Session::start(engine, state, backend, out);
    let activity = session.activity().clone();
    activity.update(|a| a.client_addr = peer.address());
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
                        if session.handle_invalid(message_type, *error, stream).await?
                            == Step::Close
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
            // A NOTIFY for an idle session is sent at once. A session idle
            // in a transaction longer than idle_in_transaction_session_timeout
            // ends (its transaction rolls back).
            let idle_limit = session.idle_in_transaction_limit();
            let idle_timer = tokio::time::sleep(idle_limit.unwrap_or(Duration::from_secs(86_400)));
            tokio::pin!(idle_timer);
            let read = loop {
                tokio::select! {
                    read = read_more(stream, &mut input) => break read?,
                    _ = &mut idle_timer, if idle_limit.is_some() => {
                        let error = tessera_types::Error::new(
                            tessera_types::sqlstate::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
                            "terminating connection due to idle-in-transaction timeout",
                        );
                        session.fatal(&error);
                        session.flush(stream).await?;
                        let _ = stream.shutdown().await;
                        return Ok(());
                    }
                    _ = activity.terminated.notified() => {
                        session.fatal(&tessera_types::interrupt::terminated());
                        session.flush(stream).await?;
                        let _ = stream.shutdown().await;
                        return Ok(());
                    }
                    _ = activity.notified.notified() => {
                        if session.write_notifications() {
                            session.flush(stream).await?;
                        }
                    }
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

/// Reads the startup messages (answering SSL and GSS requests, starting
/// TLS, which is offered over TCP only) until the client asks to start a
/// session; `None` when the connection should end (what to tell the
/// client is already written).
async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut Stream<S>,
    input: &mut Vec<u8>,
    out: &mut Vec<u8>,
    auth: &AuthConfig,
    peer: Peer,
) -> io::Result<Option<Box<Accepted>>> {
    let over_tcp = matches!(peer, Peer::Host(_));
    let mut startup = Startup::new(auth.tls.is_some() && over_tcp);
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
            Handshake::StartTls => {
                // Bytes sent before the TLS handshake would be read as if
                // they had come through it (PostgreSQL: CVE-2021-23214).
                if !input.is_empty() {
                    let error = Error::new(
                        sqlstate::PROTOCOL_VIOLATION,
                        "received unencrypted data after SSL request",
                    );
                    codec::error_response(out, Severity::Fatal, &error);
                    close(stream, out).await?;
                    return Ok(None);
                }
                let Some(tls) = &auth.tls else {
                    unreachable!("TLS is offered only when configured");
                };
                codec::negotiation_accepted(out);
                session::write_out(out, stream).await?;
                let Stream::Plain(plain) = std::mem::replace(stream, Stream::Closed) else {
                    unreachable!("one SSLRequest is answered with 'S' at most");
                };
                match tls.acceptor.accept(plain).await {
                    Ok(tls) => *stream = Stream::Tls(Box::new(tls)),
                    Err(error) => {
                        tracing::info!(%error, "TLS handshake failed");
                        return Ok(None);
                    }
                }
            }
            Handshake::Accept(accepted) => return Ok(Some(accepted)),
            Handshake::Close => {
                close(stream, out).await?;
                return Ok(None);
            }
        }
    }
}

/// Decides whether the client may have its session, as the first
/// matching rule says; `None` when it may not (the FATAL error is
/// written). On success the state knows its user and whether it is a
/// superuser.
async fn authenticate<E: QueryEngine, S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut Stream<S>,
    input: &mut Vec<u8>,
    out: &mut Vec<u8>,
    engine: &E,
    auth: &AuthConfig,
    peer: Peer,
    accepted: Accepted,
) -> io::Result<Option<tessera_sql::SessionState>> {
    let Accepted {
        user,
        database,
        mut state,
    } = accepted;
    let ssl = matches!(stream, Stream::Tls(_));
    let refuse = |out: &mut Vec<u8>, code, message: String| {
        codec::error_response(out, Severity::Fatal, &Error::new(code, message));
    };
    if user.is_empty() {
        let message = "no PostgreSQL user name specified in startup packet".to_string();
        refuse(out, sqlstate::INVALID_AUTHORIZATION_SPECIFICATION, message);
        close(stream, out).await?;
        return Ok(None);
    }
    let encryption = if ssl {
        "SSL encryption"
    } else {
        "no encryption"
    };
    let method = match auth.rules.find(ssl, &database, &user, peer) {
        None => {
            let message = format!(
                "no pg_hba.conf entry for host \"{peer}\", user \"{user}\", database \"{database}\", {encryption}"
            );
            tracing::warn!("connection refused: {message}");
            refuse(out, sqlstate::INVALID_AUTHORIZATION_SPECIFICATION, message);
            close(stream, out).await?;
            return Ok(None);
        }
        Some(rule) if rule.method == Method::Reject => {
            let message = format!(
                "pg_hba.conf rejects connection for host \"{peer}\", user \"{user}\", database \"{database}\", {encryption}"
            );
            tracing::warn!(line = rule.line, "connection refused: {message}");
            refuse(out, sqlstate::INVALID_AUTHORIZATION_SPECIFICATION, message);
            close(stream, out).await?;
            return Ok(None);
        }
        Some(rule) => rule.method,
    };
    let role = engine.role(&user);
    let verdict = match method {
        Method::Trust | Method::Reject => Verdict::Passed,
        Method::Peer => match peer_user(peer) {
            Ok(os_user) if os_user == user => Verdict::Passed,
            Ok(os_user) => {
                tracing::info!(
                    "Provided user name ({user}) and authenticated user name ({os_user}) do not match"
                );
                Verdict::PeerFailed
            }
            Err(reason) => {
                tracing::info!("peer authentication of \"{user}\": {reason}");
                Verdict::PeerFailed
            }
        },
        Method::Password | Method::Md5 | Method::ScramSha256 => {
            match exchange(stream, input, out, auth, method, &user, role.as_deref()).await? {
                Some(verdict) => verdict,
                // The client went away (psql does, to ask for a password).
                None => return Ok(None),
            }
        }
    };
    let password = matches!(method, Method::Password | Method::Md5 | Method::ScramSha256);
    let verdict = match (verdict, &role) {
        (Verdict::Passed, Some(role)) if password => {
            let now = tessera_types::datetime::wall_clock();
            if role.valid_until.is_some_and(|until| until < now) {
                Verdict::Failed("the password has expired")
            } else {
                Verdict::Passed
            }
        }
        (verdict, _) => verdict,
    };
    match (verdict, role) {
        (Verdict::Failed(reason), _) => {
            tracing::warn!(
                "password authentication failed for user \"{user}\" from {peer}: {reason}"
            );
            let delay = auth.failures.failed(peer, std::time::Instant::now());
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let message = format!("password authentication failed for user \"{user}\"");
            refuse(out, sqlstate::INVALID_PASSWORD, message);
            close(stream, out).await?;
            Ok(None)
        }
        (Verdict::PeerFailed, _) => {
            let message = format!("Peer authentication failed for user \"{user}\"");
            tracing::warn!("connection refused: {message}");
            refuse(out, sqlstate::INVALID_AUTHORIZATION_SPECIFICATION, message);
            close(stream, out).await?;
            Ok(None)
        }
        (Verdict::Protocol(error), _) => {
            tracing::info!(
                "authentication of \"{user}\" from {peer}: {}",
                error.message
            );
            codec::error_response(out, Severity::Fatal, &error);
            close(stream, out).await?;
            Ok(None)
        }
        (Verdict::Passed, None) => {
            let message = format!("role \"{user}\" does not exist");
            tracing::info!("connection refused from {peer}: {message}");
            refuse(out, sqlstate::INVALID_AUTHORIZATION_SPECIFICATION, message);
            close(stream, out).await?;
            Ok(None)
        }
        (Verdict::Passed, Some(role)) => {
            if password {
                auth.failures.succeeded(peer);
            }
            if !role.login {
                let message = format!("role \"{user}\" is not permitted to log in");
                tracing::info!("connection refused from {peer}: {message}");
                refuse(out, sqlstate::INVALID_AUTHORIZATION_SPECIFICATION, message);
                close(stream, out).await?;
                return Ok(None);
            }
            state.user = user;
            let superuser = if role.superuser { "on" } else { "off" };
            state
                .settings
                .insert("is_superuser".to_string(), superuser.to_string());
            Ok(Some(state))
        }
    }
}

/// How a password exchange (or a peer check) ended.
enum Verdict {
    Passed,
    /// Wrong password, no password, expired: 28P01 (the reason is logged).
    Failed(&'static str),
    /// The client's OS user is not the role, or could not be found: 28000.
    PeerFailed,
    /// A malformed message.
    Protocol(Error),
}

/// The OS user name of a Unix-socket client's process, as `peer` rules
/// compare it with the role.
fn peer_user(peer: Peer) -> Result<String, String> {
    let Peer::Local { uid: Some(uid) } = peer else {
        return Err("the client's credentials could not be read".to_string());
    };
    os_user_name(uid)
}

/// The name of OS user `uid` (the system's user database, as `getpwuid_r`).
fn os_user_name(uid: u32) -> Result<String, String> {
    let mut buffer = vec![0u8; 1024];
    loop {
        // SAFETY: every pointer is valid for the call: `entry` and `found`
        // are locals, `buffer` is writable for its length, and the strings
        // in `entry` point into `buffer`, which outlives their use below.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let status = unsafe {
            libc::getpwuid_r(
                uid,
                &mut entry,
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                &mut found,
            )
        };
        if status == libc::ERANGE && buffer.len() < (1 << 20) {
            buffer.resize(buffer.len() * 4, 0);
            continue;
        }
        if status != 0 {
            let error = io::Error::from_raw_os_error(status);
            return Err(format!("could not look up local user ID {uid}: {error}"));
        }
        if found.is_null() || entry.pw_name.is_null() {
            return Err(format!("local user with ID {uid} does not exist"));
        }
        // SAFETY: a non-null `pw_name` from a successful call is a
        // NUL-terminated string inside `buffer`.
        let name = unsafe { std::ffi::CStr::from_ptr(entry.pw_name) };
        return Ok(name.to_string_lossy().into_owned());
    }
}

/// Asks for and checks a password as `method` says; `None` when the
/// client disconnected. A role that does not exist or has no usable
/// secret goes through the same exchange and fails at its end, so the
/// client cannot tell which roles exist.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut Stream<S>,
    input: &mut Vec<u8>,
    out: &mut Vec<u8>,
    auth: &AuthConfig,
    method: Method,
    user: &str,
    role: Option<&RoleDef>,
) -> io::Result<Option<Verdict>> {
    let stored = role.and_then(|r| r.password.as_deref());
    let scram_verifier = stored.and_then(ScramVerifier::parse);
    let use_scram = match method {
        Method::ScramSha256 => true,
        // A SCRAM secret cannot answer an MD5 challenge: ask for SCRAM.
        Method::Md5 => scram_verifier.is_some(),
        _ => false,
    };
    let missing = if role.is_none() {
        "the role does not exist"
    } else if stored.is_none() {
        "the role has no password"
    } else {
        "the role's password is not stored as SCRAM-SHA-256"
    };
    let protocol = |e: Error| Ok(Some(Verdict::Protocol(e)));
    if method == Method::Password {
        codec::authentication_cleartext(out);
        session::write_out(out, stream).await?;
        let body = match read_auth_response(stream, input).await? {
            None => return Ok(None),
            Some(Err(error)) => return protocol(error),
            Some(Ok(body)) => body,
        };
        let Some(given) = body
            .strip_suffix(&[0])
            .and_then(|b| std::str::from_utf8(b).ok())
        else {
            return protocol(Error::new(
                sqlstate::PROTOCOL_VIOLATION,
                "invalid password packet",
            ));
        };
        return Ok(Some(match stored {
            None => Verdict::Failed(missing),
            Some(stored) if password::check(stored, user, given) => Verdict::Passed,
            Some(_) => Verdict::Failed("the password does not match"),
        }));
    }
    if !use_scram {
        let mut salt = [0u8; 4];
        if let Err(error) = password::random_bytes(&mut salt) {
            return protocol(error);
        }
        codec::authentication_md5(out, salt);
        session::write_out(out, stream).await?;
        let body = match read_auth_response(stream, input).await? {
            None => return Ok(None),
            Some(Err(error)) => return protocol(error),
            Some(Ok(body)) => body,
        };
        let given = body.strip_suffix(&[0]).unwrap_or(&body);
        return Ok(Some(match stored.filter(|s| password::is_md5_hash(s)) {
            None => Verdict::Failed(missing),
            Some(stored) => {
                let mut salted = stored.as_bytes()[3..].to_vec();
                salted.extend_from_slice(&salt);
                let expected = format!("md5{}", tessera_types::md5::hex(&salted));
                if password::constant_time_eq(expected.as_bytes(), given) {
                    Verdict::Passed
                } else {
                    Verdict::Failed("the password does not match")
                }
            }
        }));
    }
    // SCRAM-SHA-256.
    let mut random = [0u8; 18 + 64];
    if let Err(error) = password::random_bytes(&mut random) {
        return protocol(error);
    }
    let (nonce, mock_keys) = random.split_at(18);
    let mock = ScramVerifier {
        iterations: password::SCRAM_ITERATIONS,
        salt: auth.mock_salt(user),
        stored_key: mock_keys[..32].try_into().unwrap_or([0; 32]),
        server_key: mock_keys[32..].try_into().unwrap_or([0; 32]),
    };
    let had_verifier = scram_verifier.is_some();
    let channel_binding = match (&*stream, &auth.tls) {
        (Stream::Tls(_), Some(tls)) => tls.end_point.clone(),
        _ => None,
    };
    let mut server = ScramServer::new(scram_verifier, mock, BASE64.encode(nonce), channel_binding);
    codec::authentication_sasl(out, server.mechanisms());
    session::write_out(out, stream).await?;
    let body = match read_auth_response(stream, input).await? {
        None => return Ok(None),
        Some(Err(error)) => return protocol(error),
        Some(Ok(body)) => body,
    };
    let first = scram::parse_initial_response(&body)
        .and_then(|(mechanism, data)| server.client_first(mechanism, data));
    let server_first = match first {
        Ok(message) => message,
        Err(error) => return protocol(error),
    };
    codec::authentication_sasl_data(out, 11, &server_first);
    session::write_out(out, stream).await?;
    let body = match read_auth_response(stream, input).await? {
        None => return Ok(None),
        Some(Err(error)) => return protocol(error),
        Some(Ok(body)) => body,
    };
    Ok(Some(match server.client_final(&body) {
        Err(error) => Verdict::Protocol(error),
        Ok(Final::Rejected) if had_verifier => Verdict::Failed("the password does not match"),
        Ok(Final::Rejected) => Verdict::Failed(missing),
        Ok(Final::Accepted(server_final)) => {
            codec::authentication_sasl_data(out, 12, &server_final);
            Verdict::Passed
        }
    }))
}

/// Reads one authentication response's body; `None` at end of input.
async fn read_auth_response<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut Stream<S>,
    input: &mut Vec<u8>,
) -> io::Result<Option<Result<Vec<u8>, Error>>> {
    loop {
        match codec::decode_auth_response(input) {
            Ok(Some((body, used))) => {
                let body = body.to_vec();
                input.drain(..used);
                return Ok(Some(Ok(body)));
            }
            Ok(None) => {
                if read_more(stream, input).await? == 0 {
                    return Ok(None);
                }
            }
            Err(error) => return Ok(Some(Err(error))),
        }
    }
}

/// Turns a client away after its startup message with a FATAL `error`, as
/// PostgreSQL does when it has no room for another connection (53300).
pub async fn refuse_connection<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    error: &tessera_types::Error,
    auth: &AuthConfig,
    peer: Peer,
) {
    let mut stream = Stream::Plain(stream);
    let mut input: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES);
    let mut out: Vec<u8> = Vec::new();
    let started = handshake(&mut stream, &mut input, &mut out, auth, peer);
    if let Ok(Ok(Some(_))) = tokio::time::timeout(auth.timeout, started).await {
        codec::error_response(&mut out, Severity::Fatal, error);
        let _ = close(&mut stream, &mut out).await;
    }
}

/// The client's byte stream: as accepted, or inside TLS once negotiated.
enum Stream<S> {
    Plain(S),
    Tls(Box<tokio_rustls::server::TlsStream<S>>),
    /// Between the two (only if the TLS handshake failed).
    Closed,
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the TLS handshake failed")
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Closed => Poll::Ready(Err(closed())),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Closed => Poll::Ready(Ok(())),
        }
    }
}

/// TLS with the certificate chain and private key in the PEM files at
/// `cert` and `key`.
pub fn tls_config(cert: &std::path::Path, key: &std::path::Path) -> Result<TlsConfig, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("reading {}: {e}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("reading {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("reading the private key {}: {e}", key.display()))?;
    let end_point = scram::tls_server_end_point(certs[0].as_ref());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate and key: {e}"))?;
    Ok(TlsConfig {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        end_point,
    })
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

#[cfg(test)]
mod peer_tests {
    use super::*;

    #[test]
    fn os_users_are_found_by_id() {
        assert_eq!(os_user_name(0).as_deref(), Ok("root"));
        let missing = os_user_name(u32::MAX - 7).unwrap_err();
        assert!(missing.contains("does not exist"), "{missing}");
        assert!(peer_user(Peer::Local { uid: None }).is_err());
        assert!(peer_user(Peer::Host([127, 0, 0, 1].into())).is_err());
    }
}
