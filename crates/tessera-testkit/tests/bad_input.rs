//! Hostile and broken clients on raw TCP: garbage before the startup packet,
//! impossible lengths, unknown message types, truncated and malformed
//! messages, invalid UTF-8, idle and abandoned connections. Each must get an
//! ErrorResponse or a closed connection, promptly; the server process must
//! survive, and a well-behaved client must still be served.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use tessera_testkit::{startup_packet, TestServer};

/// How long a read may wait for the server's reaction. A server that waits
/// for the rest of a 2 GB message instead of rejecting it fails here.
const REACTION_TIMEOUT: Duration = Duration::from_secs(30);

const PROTOCOL_3_0: u32 = 196_608;
const SSL_REQUEST_CODE: u32 = 80_877_103;
const GSSENC_REQUEST_CODE: u32 = 80_877_104;
const CANCEL_REQUEST_CODE: u32 = 80_877_102;

/// What the server did in response to something we sent.
#[derive(Debug, PartialEq)]
enum Reaction {
    /// ErrorResponse with this SQLSTATE and message.
    Error { code: String, message: String },
    /// The connection was closed (EOF or reset) without an ErrorResponse.
    Closed,
}

fn open(server: &TestServer) -> TcpStream {
    let stream = TcpStream::connect((server.host(), server.port())).expect("connect");
    stream
        .set_read_timeout(Some(REACTION_TIMEOUT))
        .expect("set_read_timeout");
    stream
        .set_write_timeout(Some(REACTION_TIMEOUT))
        .expect("set_write_timeout");
    stream
}

/// Writes, ignoring failures: the server may already have closed the
/// connection, which is one of the accepted reactions.
fn send(stream: &mut TcpStream, bytes: &[u8]) {
    let _ = stream.write_all(bytes);
    let _ = stream.flush();
}

/// A message: optional type byte, then int32 length (including itself), body.
fn with_length(kind: Option<u8>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.extend(kind);
    out.extend_from_slice(&(u32::try_from(body.len() + 4).unwrap()).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn cstr(s: &[u8]) -> Vec<u8> {
    let mut out = s.to_vec();
    out.push(0);
    out
}

fn sync() -> Vec<u8> {
    with_length(Some(b'S'), &[])
}

/// Reads one backend message; `None` when the connection is closed.
/// Panics if the server neither answers nor closes within the timeout.
fn read_message(stream: &mut TcpStream, what: &str) -> Option<(u8, Vec<u8>)> {
    let mut header = [0u8; 5];
    if !read_exact_or_closed(stream, &mut header, what) {
        return None;
    }
    let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    assert!(
        (4..=64 * 1024 * 1024).contains(&length),
        "{what}: server sent message {:?} with length {length}",
        header[0] as char
    );
    let mut body = vec![0u8; length - 4];
    if !read_exact_or_closed(stream, &mut body, what) {
        return None;
    }
    Some((header[0], body))
}

fn read_exact_or_closed(stream: &mut TcpStream, buf: &mut [u8], what: &str) -> bool {
    match stream.read_exact(buf) {
        Ok(()) => true,
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::UnexpectedEof
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
            ) =>
        {
            false
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            panic!("{what}: server neither answered nor closed within {REACTION_TIMEOUT:?}")
        }
        Err(e) => panic!("{what}: read: {e}"),
    }
}

fn parse_error(body: &[u8]) -> Reaction {
    let mut code = String::new();
    let mut message = String::new();
    for field in body.split(|&b| b == 0) {
        let Some((&kind, value)) = field.split_first() else {
            continue;
        };
        let value = String::from_utf8_lossy(value).into_owned();
        match kind {
            b'C' => code = value,
            b'M' => message = value,
            _ => {}
        }
    }
    Reaction::Error { code, message }
}

/// Waits for the server's reaction to a bad input: an ErrorResponse or a
/// closed connection. Notices and parameter statuses are skipped; anything
/// else means the server accepted the input, which fails the test.
fn expect_rejection(stream: &mut TcpStream, what: &str) -> Reaction {
    expect_rejection_after(stream, what, false)
}

/// Like [`expect_rejection`], optionally skipping a ParseComplete that
/// acknowledges a valid Parse sent before the bad message.
fn expect_rejection_after(
    stream: &mut TcpStream,
    what: &str,
    parse_complete_allowed: bool,
) -> Reaction {
    loop {
        match read_message(stream, what) {
            None => return Reaction::Closed,
            Some((b'E', body)) => return parse_error(&body),
            Some((b'N' | b'S', _)) => continue,
            Some((b'1', _)) if parse_complete_allowed => continue,
            Some((kind, body)) => panic!(
                "{what}: expected an ErrorResponse or a closed connection, got message {:?} {:?}",
                kind as char,
                String::from_utf8_lossy(&body)
            ),
        }
    }
}

/// Reads until ReadyForQuery; panics on anything unexpected.
fn read_until_ready(stream: &mut TcpStream, what: &str) -> Vec<(u8, Vec<u8>)> {
    let mut seen = Vec::new();
    loop {
        match read_message(stream, what) {
            None => panic!("{what}: connection closed before ReadyForQuery; saw {seen:?}"),
            Some((b'Z', _)) => return seen,
            Some((b'E', body)) if seen.is_empty() && what.starts_with("startup") => {
                panic!("{what}: {:?}", parse_error(&body))
            }
            Some(message) => seen.push(message),
        }
    }
}

/// A connection that has completed startup and is ready for queries.
fn ready_connection(server: &TestServer) -> TcpStream {
    let mut stream = open(server);
    send(&mut stream, &startup_packet(server.dbname()));
    let seen = read_until_ready(&mut stream, "startup");
    assert!(
        seen.iter()
            .any(|(kind, body)| *kind == b'R' && body == &[0, 0, 0, 0]),
        "startup: no AuthenticationOk in {seen:?}"
    );
    stream
}

/// Sends a simple query on a ready connection and returns the text of each
/// DataRow's first column.
fn simple_query(stream: &mut TcpStream, sql: &str) -> Vec<String> {
    send(stream, &with_length(Some(b'Q'), &cstr(sql.as_bytes())));
    let mut values = Vec::new();
    for (kind, body) in read_until_ready(stream, sql) {
        match kind {
            b'D' => {
                let length = i32::from_be_bytes([body[2], body[3], body[4], body[5]]);
                let length = usize::try_from(length).expect("non-NULL value");
                values.push(String::from_utf8_lossy(&body[6..6 + length]).into_owned());
            }
            b'E' => panic!("{sql}: {:?}", parse_error(&body)),
            _ => {}
        }
    }
    values
}

/// The server process is alive and a well-behaved client gets answers.
async fn assert_server_healthy(server: &mut TestServer, after: &str) {
    assert!(
        server.is_running(),
        "server died after {after}\n{}",
        server.log_tail()
    );
    let client = tokio::time::timeout(REACTION_TIMEOUT, server.connect())
        .await
        .unwrap_or_else(|_| panic!("connecting timed out after {after}"));
    let row = tokio::time::timeout(REACTION_TIMEOUT, client.query_one("SELECT 1 + 1", &[]))
        .await
        .unwrap_or_else(|_| panic!("query timed out after {after}"))
        .unwrap_or_else(|e| panic!("query failed after {after}: {e:?}"));
    assert_eq!(row.get::<_, i32>(0), 2);
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 32) as u8
        })
        .collect()
}

#[tokio::test]
async fn garbage_instead_of_a_startup_packet() {
    let mut server = TestServer::start();
    let mut unterminated = PROTOCOL_3_0.to_be_bytes().to_vec();
    unterminated.extend_from_slice(b"user\0postgr");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // "GET " read as a length is about 1.2 GB.
        (
            "an HTTP request",
            b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
        ),
        (
            "an unknown protocol version",
            with_length(None, &0x1234_5678u32.to_be_bytes()),
        ),
        ("a length shorter than itself", 4u32.to_be_bytes().to_vec()),
        ("a negative length", {
            let mut b = 0xFFFF_FFF0u32.to_be_bytes().to_vec();
            b.extend_from_slice(&PROTOCOL_3_0.to_be_bytes());
            b
        }),
        ("a 2 GB startup packet", {
            let mut b = 0x7FFF_FFF0u32.to_be_bytes().to_vec();
            b.extend_from_slice(&PROTOCOL_3_0.to_be_bytes());
            b.extend_from_slice(b"user\0");
            b
        }),
        (
            "a startup packet with unterminated parameters",
            with_length(None, &unterminated),
        ),
        ("1 KiB of noise", noise(1024, 0x9E37_79B9_7F4A_7C15)),
        ("64 KiB of noise", noise(64 * 1024, 42)),
    ];
    for (what, bytes) in &cases {
        let mut stream = open(&server);
        send(&mut stream, bytes);
        let reaction = expect_rejection(&mut stream, what);
        eprintln!("{what}: {reaction:?}");
        assert_server_healthy(&mut server, what).await;
    }

    // A client that sends three bytes and hangs up.
    let mut stream = open(&server);
    send(&mut stream, &[0, 0, 0]);
    stream.shutdown(Shutdown::Write).expect("shutdown");
    assert_eq!(
        expect_rejection(&mut stream, "a truncated length"),
        Reaction::Closed
    );
    assert_server_healthy(&mut server, "a truncated length").await;
}

#[tokio::test]
async fn malformed_messages_after_startup() {
    let mut server = TestServer::start();

    let mut parse_bad_param_count = cstr(b"");
    parse_bad_param_count.extend(cstr(b"SELECT $1::int"));
    parse_bad_param_count.extend_from_slice(&0x7FFFu16.to_be_bytes());
    let mut bind_short = Vec::new();
    bind_short.extend(cstr(b""));
    bind_short.extend(cstr(b"s1"));
    bind_short.extend_from_slice(&0u16.to_be_bytes());
    bind_short.extend_from_slice(&5u16.to_be_bytes()); // five params, none sent
    let mut oversized_query = vec![b'Q'];
    oversized_query.extend_from_slice(&0x7FFF_FFFFu32.to_be_bytes());
    oversized_query.extend_from_slice(b"SELECT 1");
    let mut negative_length = vec![b'Q'];
    negative_length.extend_from_slice(&0xFFFF_FFFFu32.to_be_bytes());
    let mut short_length = vec![b'Q'];
    short_length.extend_from_slice(&2u32.to_be_bytes());

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("an unknown message type", with_length(Some(b'!'), &[])),
        ("an unknown message type with a body", {
            let mut b = with_length(Some(0xFE), b"junk");
            b.extend(sync());
            b
        }),
        ("a 2 GB Query", oversized_query),
        ("a negative message length", negative_length),
        ("a message length shorter than itself", short_length),
        (
            "a Query without its NUL terminator",
            with_length(Some(b'Q'), b"SELECT 1"),
        ),
        ("a truncated Parse", {
            let mut b = with_length(Some(b'P'), b"s1\0");
            b.extend(sync());
            b
        }),
        ("a Parse claiming 32767 parameter types", {
            let mut b = with_length(Some(b'P'), &parse_bad_param_count);
            b.extend(sync());
            b
        }),
        ("a Bind announcing parameters it does not send", {
            let mut b = with_length(Some(b'P'), &{
                let mut p = cstr(b"s1");
                p.extend(cstr(b"SELECT $1::int"));
                p.extend_from_slice(&0u16.to_be_bytes());
                p
            });
            b.extend(with_length(Some(b'B'), &bind_short));
            b.extend(sync());
            b
        }),
    ];
    for (what, bytes) in &cases {
        let mut stream = ready_connection(&server);
        send(&mut stream, bytes);
        // The valid Parse before the bad Bind may be acknowledged first.
        let parse_complete_allowed = what.starts_with("a Bind");
        let reaction = expect_rejection_after(&mut stream, what, parse_complete_allowed);
        eprintln!("{what}: {reaction:?}");
        assert_server_healthy(&mut server, what).await;
    }
}

#[tokio::test]
async fn invalid_utf8_in_a_query() {
    let mut server = TestServer::start();
    let mut stream = ready_connection(&server);
    send(
        &mut stream,
        &with_length(Some(b'Q'), b"SELECT '\xff\xfe invalid \xc3\x28'\0"),
    );
    let what = "invalid UTF-8 in a Query";
    let reaction = expect_rejection(&mut stream, what);
    eprintln!("{what}: {reaction:?}");
    if let Reaction::Error { .. } = reaction {
        // PostgreSQL answers 22021 and keeps the session: if this server
        // does too, the session must still work.
        if let Some((b'Z', _)) = read_message(&mut stream, what) {
            assert_eq!(simple_query(&mut stream, "SELECT 7"), ["7"]);
        }
    }
    // Invalid UTF-8 in a Parse, and in a text parameter of a Bind.
    let mut stream = ready_connection(&server);
    let mut parse = cstr(b"");
    parse.extend(cstr(b"SELECT '\xe2\x82'"));
    parse.extend_from_slice(&0u16.to_be_bytes());
    let mut bytes = with_length(Some(b'P'), &parse);
    bytes.extend(sync());
    send(&mut stream, &bytes);
    let reaction = expect_rejection(&mut stream, "invalid UTF-8 in a Parse");
    eprintln!("invalid UTF-8 in a Parse: {reaction:?}");

    let mut stream = ready_connection(&server);
    let mut parse = cstr(b"");
    parse.extend(cstr(b"SELECT $1::text"));
    parse.extend_from_slice(&0u16.to_be_bytes());
    let mut bind = cstr(b"");
    bind.extend(cstr(b""));
    bind.extend_from_slice(&0u16.to_be_bytes()); // all parameters text
    bind.extend_from_slice(&1u16.to_be_bytes());
    bind.extend_from_slice(&3u32.to_be_bytes());
    bind.extend_from_slice(b"\xff\xfe\xfd");
    bind.extend_from_slice(&0u16.to_be_bytes());
    let mut execute = cstr(b"");
    execute.extend_from_slice(&0u32.to_be_bytes());
    let mut bytes = with_length(Some(b'P'), &parse);
    bytes.extend(with_length(Some(b'B'), &bind));
    bytes.extend(with_length(Some(b'E'), &execute));
    bytes.extend(sync());
    send(&mut stream, &bytes);
    // ParseComplete may come first; then the Bind must be rejected.
    let what = "invalid UTF-8 in a Bind parameter";
    let reaction = loop {
        match read_message(&mut stream, what) {
            None => break Reaction::Closed,
            Some((b'1', _)) => continue,
            Some((b'E', body)) => break parse_error(&body),
            Some((kind, body)) => panic!(
                "{what}: expected an error, got {:?} {:?}",
                kind as char,
                String::from_utf8_lossy(&body)
            ),
        }
    };
    eprintln!("{what}: {reaction:?}");
    assert_server_healthy(&mut server, "invalid UTF-8").await;
}

#[tokio::test]
async fn unknown_statements_and_portals_are_errors_not_disconnects() {
    let mut server = TestServer::start();
    let mut stream = ready_connection(&server);

    // Bind to a statement that does not exist.
    let mut bind = cstr(b"");
    bind.extend(cstr(b"no_such_statement"));
    bind.extend_from_slice(&0u16.to_be_bytes());
    bind.extend_from_slice(&0u16.to_be_bytes());
    bind.extend_from_slice(&0u16.to_be_bytes());
    let mut bytes = with_length(Some(b'B'), &bind);
    bytes.extend(sync());
    send(&mut stream, &bytes);
    assert!(
        matches!(
            expect_rejection(&mut stream, "Bind to an unknown statement"),
            Reaction::Error { ref code, .. } if code == "26000"
        ),
        "Bind to an unknown statement: expected 26000"
    );
    read_until_ready(&mut stream, "after the failed Bind");

    // Execute a portal that does not exist.
    let mut execute = cstr(b"no_such_portal");
    execute.extend_from_slice(&0u32.to_be_bytes());
    let mut bytes = with_length(Some(b'E'), &execute);
    bytes.extend(sync());
    send(&mut stream, &bytes);
    assert!(
        matches!(
            expect_rejection(&mut stream, "Execute of an unknown portal"),
            Reaction::Error { ref code, .. } if code == "34000"
        ),
        "Execute of an unknown portal: expected 34000"
    );
    read_until_ready(&mut stream, "after the failed Execute");

    // Messages after an error are skipped until Sync, then the session works.
    let mut parse = cstr(b"");
    parse.extend(cstr(b"SELECT 1/0"));
    parse.extend_from_slice(&0u16.to_be_bytes());
    let mut bind = cstr(b"");
    bind.extend(cstr(b""));
    bind.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut execute = cstr(b"");
    execute.extend_from_slice(&0u32.to_be_bytes());
    let mut bytes = with_length(Some(b'P'), &parse);
    bytes.extend(with_length(Some(b'B'), &bind));
    bytes.extend(with_length(Some(b'E'), &execute));
    // Would succeed if run, but follows the error before the Sync.
    bytes.extend(with_length(Some(b'Q'), &cstr(b"SELECT 5")));
    bytes.extend(sync());
    send(&mut stream, &bytes);
    let seen = read_until_ready(&mut stream, "an error in a pipeline");
    let kinds: Vec<char> = seen.iter().map(|(k, _)| *k as char).collect();
    assert_eq!(
        kinds.iter().filter(|&&k| k == 'E').count(),
        1,
        "one ErrorResponse, then skip to Sync; saw {kinds:?}"
    );
    assert!(
        !kinds.contains(&'D'),
        "nothing after the error runs: {kinds:?}"
    );
    assert_eq!(simple_query(&mut stream, "SELECT 6"), ["6"]);

    // Terminate closes the connection.
    send(&mut stream, &with_length(Some(b'X'), &[]));
    assert_eq!(read_message(&mut stream, "Terminate"), None);
    assert_server_healthy(&mut server, "unknown statements and portals").await;
}

#[tokio::test]
async fn ssl_gssenc_and_cancel_requests() {
    let mut server = TestServer::start();
    for (what, code) in [
        ("SSLRequest", SSL_REQUEST_CODE),
        ("GSSENCRequest", GSSENC_REQUEST_CODE),
    ] {
        let mut stream = open(&server);
        send(&mut stream, &with_length(None, &code.to_be_bytes()));
        let mut answer = [0u8; 1];
        assert!(
            read_exact_or_closed(&mut stream, &mut answer, what),
            "{what}: connection closed instead of a one-byte answer"
        );
        if server.is_external() && answer[0] != b'N' {
            eprintln!("{what}: the reference server offers encryption; skipping");
            continue;
        }
        assert_eq!(answer[0], b'N', "{what}: this server does no encryption");
        // The client continues in plain text on the same connection.
        send(&mut stream, &startup_packet(server.dbname()));
        read_until_ready(&mut stream, "startup after an encryption request");
        assert_eq!(simple_query(&mut stream, "SELECT 3"), ["3"]);
    }

    // A cancel request for a backend that does not exist: the server closes
    // the connection without a reply.
    let mut stream = open(&server);
    let mut body = CANCEL_REQUEST_CODE.to_be_bytes().to_vec();
    body.extend_from_slice(&123_456u32.to_be_bytes());
    body.extend_from_slice(&789u32.to_be_bytes());
    send(&mut stream, &with_length(None, &body));
    assert_eq!(read_message(&mut stream, "CancelRequest"), None);
    assert_server_healthy(&mut server, "a CancelRequest").await;
}

#[tokio::test]
async fn idle_and_abandoned_connections_do_not_block_others() {
    let mut server = TestServer::start();
    let mut held = Vec::new();
    for i in 0..20 {
        // Connected, silent.
        held.push(open(&server));
        // Half a startup packet.
        let mut stream = open(&server);
        send(&mut stream, &startup_packet(server.dbname())[..7]);
        held.push(stream);
        // Started, then half a Query.
        let mut stream = ready_connection(&server);
        send(
            &mut stream,
            &with_length(Some(b'Q'), b"SELECT 1\0")[..3 + i % 3],
        );
        held.push(stream);
    }
    assert_server_healthy(&mut server, "60 stuck connections").await;

    // Abandon them all at once, some with unread responses pending.
    for (i, stream) in held.iter_mut().enumerate() {
        if i % 2 == 0 {
            send(stream, &with_length(Some(b'Q'), b"SELECT 2\0"));
        }
    }
    drop(held);
    for _ in 0..20 {
        let stream = ready_connection(&server);
        drop(stream);
    }
    assert_server_healthy(&mut server, "abandoned connections").await;
}
