//! Session scenarios: a fake [`QueryEngine`] with fixed answers, a client
//! that speaks the protocol byte by byte over `tokio::io::duplex`, and
//! transcripts of the backend messages it receives.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use tessera_sql::rows::Rows;
use tessera_sql::{ColumnDesc, Notice, QueryEngine, QueryResult, SessionState, StatementInfo};
use tessera_types::{sqlstate, DataType, Error, Result, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};

use crate::testing::{backend_message, frontend};
use crate::{serve_connection, BackendKey};

#[derive(Debug, Clone)]
struct FakeStatement {
    sql: String,
    param_types: Vec<DataType>,
    columns: Vec<ColumnDesc>,
}

impl StatementInfo for FakeStatement {
    fn param_types(&self) -> &[DataType] {
        &self.param_types
    }
    fn columns(&self) -> &[ColumnDesc] {
        &self.columns
    }
    fn returns_rows(&self) -> bool {
        self.sql.starts_with("select")
    }
}

fn column(name: &str, data_type: DataType) -> ColumnDesc {
    ColumnDesc {
        name: name.to_string(),
        data_type,
        table_oid: 0,
        column_id: 0,
    }
}

/// Statements, separated by `;`:
/// - `select nums`: column n int4, rows 1 to 5;
/// - `select types`: one row of int4, float8, numeric, text, bool, NULL;
/// - `select echo`: one column per parameter (types as Parse gave them, text
///   where left open) and one row of the parameter values;
/// - `select $1`: a statement with a parameter;
/// - `insert`: no rows, a notice; `set app`: changes application_name;
/// - `bad`: fails when executed (22012); anything else fails to prepare (42601).
struct FakeEngine;

impl QueryEngine for FakeEngine {
    type Statement = FakeStatement;

    /// Every name is a superuser that may log in, without a password.
    fn role(&self, name: &str) -> Option<std::sync::Arc<tessera_types::RoleDef>> {
        let mut role = tessera_types::RoleDef::new(name);
        role.login = true;
        role.superuser = true;
        Some(std::sync::Arc::new(role))
    }

    fn prepare(
        &self,
        sql: &str,
        param_types: &[Option<DataType>],
        _session: &SessionState,
    ) -> Result<Vec<FakeStatement>> {
        let mut statements = Vec::new();
        for sql in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let (params, columns) = match sql {
                "select nums" => (vec![], vec![column("n", DataType::Int4)]),
                "select types" => (
                    vec![],
                    vec![
                        column("i", DataType::Int4),
                        column("f", DataType::Float8),
                        column("n", DataType::Numeric(None)),
                        column("t", DataType::Text),
                        column("b", DataType::Bool),
                        column("z", DataType::Int4),
                    ],
                ),
                "select echo" => {
                    let types: Vec<DataType> = param_types
                        .iter()
                        .map(|t| t.unwrap_or(DataType::Text))
                        .collect();
                    let columns = types
                        .iter()
                        .enumerate()
                        .map(|(i, t)| column(&format!("p{}", i + 1), *t))
                        .collect();
                    (types, columns)
                }
                "select $1" => (vec![DataType::Int4], vec![column("x", DataType::Int4)]),
                "insert" | "set app" | "bad" => (vec![], vec![]),
                _ => return Err(Error::syntax(format!("syntax error at or near \"{sql}\""))),
            };
            statements.push(FakeStatement {
                sql: sql.to_string(),
                param_types: params,
                columns,
            });
        }
        Ok(statements)
    }

    async fn execute(
        &self,
        statement: &FakeStatement,
        params: Vec<Value>,
        session: &mut SessionState,
    ) -> Result<QueryResult> {
        let select = |rows: Vec<Vec<Value>>| QueryResult {
            columns: None,
            rows: Rows::from_vecs(rows),
            tag: "SELECT".to_string(),
            notices: vec![],
            binary_rows: false,
        };
        Ok(match statement.sql.as_str() {
            "select nums" => select((1..=5).map(|n| vec![Value::Int4(n)]).collect()),
            "select types" => select(vec![vec![
                Value::Int4(42),
                Value::Float8(1.5),
                Value::Numeric(tessera_types::numeric::Numeric::parse("12.34").unwrap()),
                Value::Text("hé".to_string()),
                Value::Bool(true),
                Value::Null,
            ]]),
            "select echo" | "select $1" => select(vec![params]),
            "insert" => QueryResult {
                columns: None,
                rows: Rows::default(),
                tag: "INSERT 0 1".to_string(),
                notices: vec![Notice {
                    code: "01000",
                    severity: "WARNING",
                    message: "careful".to_string(),
                    detail: None,
                }],
                binary_rows: false,
            },
            "set app" => {
                session
                    .settings
                    .insert("application_name".to_string(), "changed".to_string());
                session
                    .reported_changes
                    .push(("application_name".to_string(), "changed".to_string()));
                QueryResult {
                    columns: None,
                    rows: Rows::default(),
                    tag: "SET".to_string(),
                    notices: vec![],
                    binary_rows: false,
                }
            }
            _ => return Err(Error::division_by_zero()),
        })
    }
}

static ENGINE: FakeEngine = FakeEngine;
/// The built-in rules: the loopback client below is trusted.
static AUTH: std::sync::LazyLock<crate::AuthConfig> = std::sync::LazyLock::new(Default::default);
const LOOPBACK: crate::hba::Peer =
    crate::hba::Peer::Host(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
const KEY: BackendKey = BackendKey {
    process_id: 7,
    secret_key: 9,
};

/// The server's end of the pipe, counting write calls.
struct CountingStream {
    inner: DuplexStream,
    writes: Rc<Cell<usize>>,
}

impl AsyncRead for CountingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.writes.set(self.writes.get() + 1);
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

struct Client {
    stream: DuplexStream,
    buf: Vec<u8>,
    server_writes: Rc<Cell<usize>>,
}

/// A client and the server future serving it; run both with `tokio::join!`.
/// The client must be dropped (or see the server close) for the server to end.
fn connect() -> (Client, impl std::future::Future<Output = ()>) {
    let (client, server) = tokio::io::duplex(1 << 20);
    let writes = Rc::new(Cell::new(0));
    let server = CountingStream {
        inner: server,
        writes: writes.clone(),
    };
    (
        Client {
            stream: client,
            buf: Vec::new(),
            server_writes: writes,
        },
        serve_connection(server, &ENGINE, KEY, &AUTH, LOOPBACK),
    )
}

impl Client {
    async fn send(&mut self, messages: &[Vec<u8>]) {
        self.stream.write_all(&messages.concat()).await.unwrap();
    }

    /// Reads one message; `None` at end of stream.
    async fn next(&mut self) -> Option<String> {
        loop {
            if let Some((text, used)) = backend_message(&self.buf) {
                self.buf.drain(..used);
                return Some(text);
            }
            if self.stream.read_buf(&mut self.buf).await.unwrap() == 0 {
                assert!(
                    self.buf.is_empty(),
                    "partial message at end of stream: {:?}",
                    self.buf
                );
                return None;
            }
        }
    }

    /// Reads messages up to and including ReadyForQuery.
    async fn until_ready(&mut self) -> Vec<String> {
        let mut messages = Vec::new();
        while let Some(message) = self.next().await {
            let ready = message.starts_with("ReadyForQuery");
            messages.push(message);
            if ready {
                return messages;
            }
        }
        panic!("stream ended before ReadyForQuery: {messages:?}");
    }

    /// Reads messages until the server closes the connection.
    async fn until_closed(&mut self) -> Vec<String> {
        let mut messages = Vec::new();
        while let Some(message) = self.next().await {
            messages.push(message);
        }
        messages
    }

    async fn start(&mut self) {
        self.send(&[frontend::startup(&[("user", "alice")])]).await;
        let greeting = self.until_ready().await;
        assert_eq!(
            greeting.first().map(String::as_str),
            Some("AuthenticationOk")
        );
    }

    /// Sends `messages` and returns the transcript up to ReadyForQuery.
    async fn exchange(&mut self, messages: &[Vec<u8>]) -> Vec<String> {
        self.send(messages).await;
        self.until_ready().await
    }
}

fn error_code(message: &str) -> &str {
    message
        .split(' ')
        .find_map(|field| field.strip_prefix("C="))
        .unwrap_or("")
}

#[tokio::test(flavor = "current_thread")]
async fn startup_after_ssl_and_gssenc_requests() {
    let (mut client, server) = connect();
    let test = async move {
        client.send(&[frontend::ssl_request()]).await;
        let mut byte = [0u8];
        client.stream.read_exact(&mut byte).await.unwrap();
        assert_eq!(&byte, b"N");
        client.send(&[frontend::gssenc_request()]).await;
        client.stream.read_exact(&mut byte).await.unwrap();
        assert_eq!(&byte, b"N");
        let params = [
            ("user", "alice"),
            ("database", "db"),
            ("client_encoding", "'utf-8'"),
            ("application_name", "psql"),
            ("datestyle", "ISO, DMY"),
            ("server_version", "1.0"),
        ];
        client.send(&[frontend::startup(&params)]).await;
        let greeting = client.until_ready().await;
        assert_eq!(
            greeting,
            [
                "AuthenticationOk",
                "ParameterStatus application_name=psql",
                "ParameterStatus client_encoding=UTF8",
                "ParameterStatus DateStyle=ISO, DMY",
                "ParameterStatus default_transaction_read_only=off",
                "ParameterStatus in_hot_standby=off",
                "ParameterStatus integer_datetimes=on",
                "ParameterStatus IntervalStyle=postgres",
                "ParameterStatus is_superuser=on",
                "ParameterStatus server_encoding=UTF8",
                "ParameterStatus server_version=15.8 (Tessera 0.1.0)",
                "ParameterStatus session_authorization=alice",
                "ParameterStatus standard_conforming_strings=on",
                "ParameterStatus TimeZone=UTC",
                "BackendKeyData 7 9",
                "ReadyForQuery I",
            ]
        );
        client.send(&[frontend::terminate()]).await;
        assert_eq!(client.until_closed().await, Vec::<String>::new());
    };
    tokio::join!(server, test);
}

#[tokio::test(flavor = "current_thread")]
async fn startup_refusals_are_fatal_and_close() {
    for (startup, code) in [
        (
            frontend::startup(&[("user", "a"), ("client_encoding", "LATIN1")]),
            "22023",
        ),
        (frontend::startup_with_version(2 << 16, &[]), "0A000"),
        (
            frontend::startup(&[("user", "a"), ("no_such_setting", "1")]),
            "42704",
        ),
        (frontend::startup_with_version(4 << 16, &[]), "0A000"),
        (frontend::startup(&[("database", "d")]), "28000"),
        ((20_000u32).to_be_bytes().to_vec(), "08P01"),
    ] {
        let (mut client, server) = connect();
        let test = async move {
            client.send(&[startup]).await;
            let messages = client.until_closed().await;
            assert_eq!(messages.len(), 1, "{messages:?}");
            assert!(
                messages[0].starts_with("ErrorResponse S=FATAL"),
                "{messages:?}"
            );
            assert_eq!(error_code(&messages[0]), code);
        };
        tokio::join!(server, test);
    }
}

/// A newer minor version of protocol 3, or `_pq_.` options, are answered
/// with NegotiateProtocolVersion (3.0, the options not recognised) before
/// the session starts, as PostgreSQL does.
#[tokio::test(flavor = "current_thread")]
async fn newer_protocol_versions_are_negotiated_down() {
    for (version, params, expected) in [
        (
            3 << 16 | 2,
            vec![("user", "a")],
            "NegotiateProtocolVersion 3.0",
        ),
        (
            3 << 16,
            vec![
                ("user", "a"),
                ("_pq_.compression", "on"),
                ("app.placeholder", "kept"),
                ("_pq_.x", "1"),
            ],
            "NegotiateProtocolVersion 3.0 _pq_.compression _pq_.x",
        ),
    ] {
        let (mut client, server) = connect();
        let test = async move {
            client
                .send(&[frontend::startup_with_version(version, &params)])
                .await;
            let greeting = client.until_ready().await;
            assert_eq!(greeting[0], expected);
            assert_eq!(greeting[1], "AuthenticationOk");
        };
        tokio::join!(server, test);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn cancel_request_closes_silently() {
    let (mut client, server) = connect();
    let test = async move {
        client.send(&[frontend::cancel_request(7, 9)]).await;
        assert_eq!(client.until_closed().await, Vec::<String>::new());
    };
    tokio::join!(server, test);
}

#[tokio::test(flavor = "current_thread")]
async fn simple_query_runs_statements_in_order() {
    let (mut client, server) = connect();
    let test = async move {
        client.start().await;
        let writes_before = client.server_writes.get();
        assert_eq!(
            client
                .exchange(&[frontend::query("select nums; insert")])
                .await,
            [
                "RowDescription n:23:4:-1:0:0:text",
                "DataRow '1'",
                "DataRow '2'",
                "DataRow '3'",
                "DataRow '4'",
                "DataRow '5'",
                "CommandComplete SELECT 5",
                "NoticeResponse S=WARNING V=WARNING C=01000 M=careful",
                "CommandComplete INSERT 0 1",
                "ReadyForQuery I",
            ]
        );
        assert_eq!(
            client.server_writes.get() - writes_before,
            1,
            "one write per simple query"
        );
        assert_eq!(
            client.exchange(&[frontend::query("set app")]).await,
            [
                "CommandComplete SET",
                "ParameterStatus application_name=changed",
                "ReadyForQuery I"
            ]
        );
        assert_eq!(
            client.exchange(&[frontend::query(" ; ")]).await,
            ["EmptyQueryResponse", "ReadyForQuery I"]
        );
    };
    tokio::join!(server, test);
}

#[tokio::test(flavor = "current_thread")]
async fn simple_query_stops_at_the_first_error() {
    let (mut client, server) = connect();
    let test = async move {
        client.start().await;
        let messages = client
            .exchange(&[frontend::query("insert; bad; select nums")])
            .await;
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert_eq!(messages[1], "CommandComplete INSERT 0 1");
        assert_eq!(
            messages[2],
            "ErrorResponse S=ERROR V=ERROR C=22012 M=division by zero"
        );
        // A statement that fails to prepare stops the batch before anything runs.
        let messages = client
            .exchange(&[frontend::query("insert; nonsense")])
            .await;
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert_eq!(error_code(&messages[0]), "42601");
        let messages = client.exchange(&[frontend::query("select $1")]).await;
        assert_eq!(error_code(&messages[0]), "42P02");
        // Invalid UTF-8 is an ERROR, not the end of the connection.
        let messages = client
            .exchange(&[frontend::message(b'Q', b"select \xff\0")])
            .await;
        assert_eq!(error_code(&messages[0]), "22021");
        assert_eq!(messages[1], "ReadyForQuery I");
        assert_eq!(client.exchange(&[frontend::query("insert")]).await.len(), 3);
    };
    tokio::join!(server, test);
}

#[tokio::test(flavor = "current_thread")]
async fn extended_protocol_with_row_limit_suspends_and_resumes() {
    let (mut client, server) = connect();
    let test = async move {
        client.start().await;
        let writes_before = client.server_writes.get();
        let messages = client
            .exchange(&[
                frontend::parse("s1", "select nums", &[]),
                frontend::describe(b'S', "s1"),
                frontend::bind("p", "s1", &[], &[], &[]),
                frontend::describe(b'P', "p"),
                frontend::execute("p", 2),
                frontend::execute("p", 2),
                frontend::execute("p", 2),
                frontend::execute("p", 2),
                frontend::sync(),
            ])
            .await;
        assert_eq!(
            messages,
            [
                "ParseComplete",
                "ParameterDescription",
                "RowDescription n:23:4:-1:0:0:text",
                "BindComplete",
                "RowDescription n:23:4:-1:0:0:text",
                "DataRow '1'",
                "DataRow '2'",
                "PortalSuspended",
                "DataRow '3'",
                "DataRow '4'",
                "PortalSuspended",
                "DataRow '5'",
                "CommandComplete SELECT 1",
                "CommandComplete SELECT 0",
                "ReadyForQuery I",
            ]
        );
        assert_eq!(
            client.server_writes.get() - writes_before,
            1,
            "one write per pipelined batch"
        );
        // Exactly max_rows left: suspended first, as PostgreSQL does.
        let messages = client
            .exchange(&[
                frontend::bind("", "s1", &[], &[], &[]),
                frontend::execute("", 5),
                frontend::execute("", 5),
                frontend::sync(),
            ])
            .await;
        assert_eq!(
            &messages[6..],
            [
                "PortalSuspended",
                "CommandComplete SELECT 0",
                "ReadyForQuery I"
            ]
        );
        // The named statement outlives Sync; portals do not.
        let messages = client
            .exchange(&[frontend::execute("p", 0), frontend::sync()])
            .await;
        assert_eq!(
            messages,
            [
                "ErrorResponse S=ERROR V=ERROR C=34000 M=portal \"p\" does not exist",
                "ReadyForQuery I"
            ]
        );
        let messages = client
            .exchange(&[
                frontend::bind("", "s1", &[], &[], &[]),
                frontend::execute("", 0),
                frontend::sync(),
            ])
            .await;
        assert_eq!(messages.len(), 8, "{messages:?}");
        // Close, then the statement is gone; closing it again is no error.
        let messages = client
            .exchange(&[
                frontend::close(b'S', "s1"),
                frontend::close(b'S', "s1"),
                frontend::close(b'P', "nope"),
                frontend::sync(),
            ])
            .await;
        assert_eq!(
            messages,
            [
                "CloseComplete",
                "CloseComplete",
                "CloseComplete",
                "ReadyForQuery I"
            ]
        );
        let messages = client
            .exchange(&[frontend::bind("", "s1", &[], &[], &[]), frontend::sync()])
            .await;
        assert_eq!(error_code(&messages[0]), "26000");
    };
    tokio::join!(server, test);
}

#[tokio::test(flavor = "current_thread")]
async fn error_skips_messages_until_sync() {
    let (mut client, server) = connect();
    let test = async move {
        client.start().await;
        let messages = client
            .exchange(&[
                frontend::parse("", "select nums", &[]),
                frontend::bind("", "", &[], &[], &[]),
                frontend::parse("broken", "nonsense", &[]),
                frontend::bind("", "", &[], &[], &[]),
                frontend::execute("", 0),
                frontend::query("insert"),
                frontend::flush(),
                frontend::sync(),
            ])
            .await;
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert_eq!(messages[..2], ["ParseComplete", "BindComplete"]);
        assert_eq!(error_code(&messages[2]), "42601");
        assert_eq!(messages[3], "ReadyForQuery I");
        // An error while executing, then the session works again after Sync.
        let messages = client
            .exchange(&[
                frontend::parse("", "bad", &[]),
                frontend::bind("", "", &[], &[], &[]),
                frontend::execute("", 0),
                frontend::execute("", 0),
                frontend::sync(),
            ])
            .await;
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert_eq!(error_code(&messages[2]), "22012");
        let messages = client
            .exchange(&[
                frontend::parse("", "insert", &[]),
                frontend::bind("", "", &[], &[], &[]),
                frontend::execute("", 0),
                frontend::sync(),
            ])
            .await;
        assert_eq!(messages[3], "CommandComplete INSERT 0 1");
    };
    tokio::join!(server, test);
}

#[tokio::test(flavor = "current_thread")]
async fn binary_results_and_params() {
    let (mut client, server) = connect();
    let test = async move {
        client.start().await;
        let messages = client
            .exchange(&[
                frontend::parse("", "select types", &[]),
                frontend::bind("", "", &[], &[], &[1]),
                frontend::describe(b'P', ""),
                frontend::execute("", 0),
                frontend::sync(),
            ])
            .await;
        let numeric_12_34 = "0x0002000000000002000c0d48"; // ndigits 2, weight 0, scale 2: 12, 3400
        assert_eq!(
            messages[2],
            "RowDescription i:23:4:-1:0:0:binary f:701:8:-1:0:0:binary n:1700:-1:-1:0:0:binary \
             t:25:-1:-1:0:0:binary b:16:1:-1:0:0:binary z:23:4:-1:0:0:binary"
        );
        assert_eq!(
            messages[3],
            format!("DataRow 0x0000002a 0x3ff8000000000000 {numeric_12_34} 0x68c3a9 0x01 NULL")
        );
        // Per-column formats: text, binary, text...
        let messages = client
            .exchange(&[
                frontend::bind("", "", &[], &[], &[0, 1, 0, 0, 1, 0]),
                frontend::execute("", 0),
                frontend::sync(),
            ])
            .await;
        assert_eq!(
            messages[1],
            "DataRow '42' 0x3ff8000000000000 '12.34' 0x68c3a9 0x01 NULL"
        );

        // Parameters in binary, echoed back in binary; a NULL; one in text.
        let numeric = {
            let mut out = Vec::new();
            tessera_types::numeric::Numeric::parse("-0.5")
                .unwrap()
                .encode_binary(&mut out);
            out
        };
        let messages = client
            .exchange(&[
                frontend::parse("echo", "select echo", &[23, 701, 1700, 25, 16, 20, 0]),
                frontend::describe(b'S', "echo"),
                frontend::bind(
                    "",
                    "echo",
                    &[1, 1, 1, 1, 1, 1, 0],
                    &[
                        Some(&(-3i32).to_be_bytes()),
                        Some(&2.5f64.to_be_bytes()),
                        Some(&numeric),
                        Some("x y".as_bytes()),
                        Some(&[0]),
                        None,
                        Some(b"text in"),
                    ],
                    &[1],
                ),
                frontend::execute("", 0),
                frontend::sync(),
            ])
            .await;
        assert_eq!(messages[1], "ParameterDescription 23 701 1700 25 16 20 25");
        assert_eq!(
            messages[4],
            format!(
                "DataRow 0xfffffffd 0x4004000000000000 0x{} 'x y' 0x00 NULL 'text in'",
                hex(&numeric)
            )
        );
        // One format code applies to every parameter.
        let messages = client
            .exchange(&[
                frontend::parse("", "select $1", &[]),
                frontend::bind("", "", &[1], &[Some(&7i32.to_be_bytes())], &[]),
                frontend::execute("", 0),
                frontend::sync(),
            ])
            .await;
        assert_eq!(messages[2], "DataRow '7'");
    };
    tokio::join!(server, test);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "current_thread")]
async fn bind_errors() {
    let (mut client, server) = connect();
    let test = async move {
        client.start().await;
        let cases: Vec<(Vec<u8>, &str, &str)> = vec![
            (
                frontend::bind("", "s", &[1], &[Some(&[0, 1])], &[]),
                "22P03",
                "incorrect binary data format in bind parameter 1",
            ),
            (
                frontend::bind("", "s", &[0], &[Some(b"abc")], &[]),
                "22P02",
                "invalid input syntax for type integer: \"abc\"",
            ),
            (
                frontend::bind("", "s", &[0], &[Some(b"9999999999")], &[]),
                "22003",
                "value \"9999999999\" is out of range for type integer",
            ),
            (
                frontend::bind("", "s", &[0], &[Some(b"\xc3")], &[]),
                "22021",
                "invalid byte sequence for encoding \"UTF8\": 0xc3",
            ),
            (
                frontend::bind("", "s", &[], &[], &[]),
                "08P01",
                "bind message supplies 0 parameters, but prepared statement \"s\" requires 1",
            ),
            (
                frontend::bind("", "s", &[0, 0], &[Some(b"1")], &[]),
                "08P01",
                "bind message has 2 parameter formats but 1 parameters",
            ),
            (
                frontend::bind("", "s", &[], &[Some(b"1")], &[0, 0]),
                "08P01",
                "bind message has 2 result formats but query has 1 columns",
            ),
            (
                frontend::bind("", "nope", &[], &[], &[]),
                "26000",
                "prepared statement \"nope\" does not exist",
            ),
            (
                frontend::bind("", "", &[], &[], &[]),
                "26000",
                "unnamed prepared statement does not exist",
            ),
            (
                frontend::bind("", "s", &[3], &[Some(b"1")], &[]),
                "22023",
                "unsupported format code: 3",
            ),
        ];
        client
            .exchange(&[frontend::parse("s", "select $1", &[]), frontend::sync()])
            .await;
        for (bind, code, text) in cases {
            let messages = client
                .exchange(&[bind, frontend::execute("", 0), frontend::sync()])
                .await;
            assert_eq!(messages.len(), 2, "{messages:?}");
            assert_eq!(
                messages[0],
                format!("ErrorResponse S=ERROR V=ERROR C={code} M={text}")
            );
        }
    };
    tokio::join!(server, test);
}

#[tokio::test(flavor = "current_thread")]
async fn parse_rules() {
    let (mut client, server) = connect();
    let test = async move {
        client.start().await;
        // The unnamed statement is replaced silently; a named one is not.
        let messages = client
            .exchange(&[
                frontend::parse("", "select nums", &[]),
                frontend::parse("", "insert", &[]),
                frontend::bind("", "", &[], &[], &[]),
                frontend::execute("", 0),
                frontend::parse("n", "insert", &[]),
                frontend::parse("n", "insert", &[]),
                frontend::sync(),
            ])
            .await;
        assert_eq!(
            &messages[..6],
            [
                "ParseComplete",
                "ParseComplete",
                "BindComplete",
                "NoticeResponse S=WARNING V=WARNING C=01000 M=careful",
                "CommandComplete INSERT 0 1",
                "ParseComplete"
            ]
        );
        assert_eq!(
            messages[6],
            "ErrorResponse S=ERROR V=ERROR C=42P05 M=prepared statement \"n\" already exists"
        );
        // Closing makes the name free again.
        let messages = client
            .exchange(&[
                frontend::close(b'S', "n"),
                frontend::parse("n", "select nums", &[]),
                frontend::sync(),
            ])
            .await;
        assert_eq!(
            messages,
            ["CloseComplete", "ParseComplete", "ReadyForQuery I"]
        );
        for (parse, code) in [
            (frontend::parse("", "insert; insert", &[]), "42601"),
            (frontend::parse("", "select echo", &[999_999]), "42704"),
            (frontend::parse("", "nonsense", &[]), "42601"),
        ] {
            let messages = client.exchange(&[parse, frontend::sync()]).await;
            assert_eq!(error_code(&messages[0]), code, "{messages:?}");
        }
        // Empty SQL: no statement, Execute answers EmptyQueryResponse.
        let messages = client
            .exchange(&[
                frontend::parse("", "", &[]),
                frontend::describe(b'S', ""),
                frontend::bind("", "", &[], &[], &[]),
                frontend::describe(b'P', ""),
                frontend::execute("", 0),
                frontend::sync(),
            ])
            .await;
        assert_eq!(
            messages,
            [
                "ParseComplete",
                "ParameterDescription",
                "NoData",
                "BindComplete",
                "NoData",
                "EmptyQueryResponse",
                "ReadyForQuery I"
            ]
        );
        // A statement without rows describes as NoData.
        let messages = client
            .exchange(&[
                frontend::parse("", "insert", &[]),
                frontend::describe(b'S', ""),
                frontend::sync(),
            ])
            .await;
        assert_eq!(
            messages,
            [
                "ParseComplete",
                "ParameterDescription",
                "NoData",
                "ReadyForQuery I"
            ]
        );
    };
    tokio::join!(server, test);
}

#[tokio::test(flavor = "current_thread")]
async fn flush_sends_output_without_ready_for_query() {
    let (mut client, server) = connect();
    let test = async move {
        client.start().await;
        client
            .send(&[frontend::parse("", "insert", &[]), frontend::flush()])
            .await;
        assert_eq!(client.next().await.as_deref(), Some("ParseComplete"));
        assert_eq!(
            client.exchange(&[frontend::sync()]).await,
            ["ReadyForQuery I"]
        );
    };
    tokio::join!(server, test);
}

/// asyncpg prepares with Parse, Describe, Flush and waits: an error must
/// reach it before any Sync, as PostgreSQL sends errors at once.
#[tokio::test(flavor = "current_thread")]
async fn flush_sends_an_error_before_sync() {
    let (mut client, server) = connect();
    let test = async move {
        client.start().await;
        client
            .send(&[
                frontend::parse("s1", "nonsense", &[]),
                frontend::describe(b'S', "s1"),
                frontend::flush(),
            ])
            .await;
        let error = client.next().await.unwrap_or_default();
        assert_eq!(error_code(&error), "42601", "{error}");
        assert_eq!(
            client.exchange(&[frontend::sync()]).await,
            ["ReadyForQuery I"]
        );
    };
    tokio::join!(server, test);
}

#[tokio::test(flavor = "current_thread")]
async fn an_extended_error_is_sent_without_waiting_for_sync() {
    let (mut client, server) = connect();
    let test = async move {
        client.start().await;
        // Parse, Describe, Flush and no Sync, as postgres.js sends a
        // statement with parameters: the error must arrive now.
        client
            .send(&[
                frontend::parse("", "nonsense", &[]),
                frontend::describe(b'S', ""),
                frontend::flush(),
            ])
            .await;
        let error = tokio::time::timeout(std::time::Duration::from_secs(10), client.next())
            .await
            .expect("the error is sent before Sync")
            .expect("an ErrorResponse");
        assert_eq!(error_code(&error), "42601", "{error}");
        // The rest is skipped until Sync, which ends with ReadyForQuery.
        assert_eq!(
            client
                .exchange(&[frontend::execute("", 0), frontend::sync()])
                .await,
            ["ReadyForQuery I"]
        );
    };
    tokio::join!(server, test);
}

#[tokio::test(flavor = "current_thread")]
async fn malformed_messages_end_the_connection_with_fatal() {
    let cases = [
        frontend::message(b'Q', b"no terminator"),
        frontend::message(b'Z', b""),
        b"S\0\0\0\x02".to_vec(),
        frontend::message(b'S', b"extra"),
        frontend::message(b'p', b"pw\0"),
    ];
    for bytes in cases {
        let (mut client, server) = connect();
        let test = async move {
            client.start().await;
            // Output buffered before the bad message still reaches the client.
            client
                .send(&[frontend::parse("", "insert", &[]), bytes])
                .await;
            let messages = client.until_closed().await;
            assert_eq!(messages.len(), 2, "{messages:?}");
            assert_eq!(messages[0], "ParseComplete");
            assert!(
                messages[1].starts_with("ErrorResponse S=FATAL V=FATAL C=08P01"),
                "{messages:?}"
            );
        };
        tokio::join!(server, test);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn oversized_message_is_refused_from_its_header() {
    let (mut client, server) = connect();
    let test = async move {
        client.start().await;
        let mut header = vec![b'Q'];
        header.extend_from_slice(&(crate::MESSAGE_BYTES_MAX as u32 + 1).to_be_bytes());
        client.send(&[header]).await;
        let messages = client.until_closed().await;
        assert_eq!(messages.len(), 1);
        assert_eq!(error_code(&messages[0]), "54000");
    };
    tokio::join!(server, test);
}

#[tokio::test(flavor = "current_thread")]
async fn copy_messages_outside_copy_are_dropped() {
    // As PostgreSQL drops them: they follow a COPY that failed.
    let (mut client, server) = connect();
    let test = async move {
        client.start().await;
        let messages = client
            .exchange(&[
                frontend::message(b'd', b"1\t2\n"),
                frontend::message(b'c', b""),
                frontend::message(b'f', b"gave up\0"),
                frontend::query("select types"),
            ])
            .await;
        assert!(messages[0].starts_with("RowDescription"), "{messages:?}");
        assert!(
            !messages.iter().any(|m| m.starts_with("Error")),
            "{messages:?}"
        );
    };
    tokio::join!(server, test);
}

#[tokio::test(flavor = "current_thread")]
async fn large_results_stream_in_several_writes() {
    // One row per statement; enough statements that the output passes the
    // flush threshold several times within one simple query.
    let statements = vec!["select types"; 3000].join(";");
    let (mut client, server) = connect();
    let test = async move {
        client.start().await;
        let writes_before = client.server_writes.get();
        let messages = client.exchange(&[frontend::query(&statements)]).await;
        assert_eq!(messages.len(), 3000 * 3 + 1);
        let writes = client.server_writes.get() - writes_before;
        assert!(writes > 2, "{writes} writes");
    };
    tokio::join!(server, test);
}

/// A real driver against the session: handshake, simple query, extended
/// query with binary parameters and results (tokio-postgres uses binary for
/// both), errors and recovery.
#[tokio::test(flavor = "current_thread")]
async fn tokio_postgres_client() {
    use tokio_postgres::types::Type;
    use tokio_postgres::SimpleQueryMessage;

    let (client_io, server_io) = tokio::io::duplex(1 << 16);
    let server = serve_connection(server_io, &ENGINE, KEY, &AUTH, LOOPBACK);
    let test = async move {
        let mut config = tokio_postgres::Config::new();
        config.user("alice").dbname("db").application_name("tp");
        let (client, connection) = config
            .connect_raw(client_io, tokio_postgres::NoTls)
            .await
            .unwrap();
        let connection = async move { connection.await.unwrap() };
        let queries = async move {
            let messages = client.simple_query("select nums; insert").await.unwrap();
            let rows: Vec<&str> = messages
                .iter()
                .filter_map(|m| match m {
                    SimpleQueryMessage::Row(row) => row.get(0),
                    _ => None,
                })
                .collect();
            assert_eq!(rows, ["1", "2", "3", "4", "5"]);
            assert!(matches!(
                messages.last(),
                Some(SimpleQueryMessage::CommandComplete(1))
            ));

            let rows = client.query("select types", &[]).await.unwrap();
            assert_eq!(rows.len(), 1);
            let row = &rows[0];
            assert_eq!(row.get::<_, i32>(0), 42);
            assert_eq!(row.get::<_, f64>(1), 1.5);
            assert_eq!(row.columns()[2].type_(), &Type::NUMERIC);
            assert_eq!(row.get::<_, &str>(3), "hé");
            assert!(row.get::<_, bool>(4));
            assert_eq!(row.get::<_, Option<i32>>(5), None);

            let types = [Type::INT4, Type::FLOAT8, Type::TEXT, Type::BOOL, Type::INT8];
            let echo = client.prepare_typed("select echo", &types).await.unwrap();
            assert_eq!(echo.params(), types);
            let row = client
                .query_one(&echo, &[&-3i32, &2.5f64, &"x y", &false, &None::<i64>])
                .await
                .unwrap();
            assert_eq!(row.get::<_, i32>(0), -3);
            assert_eq!(row.get::<_, f64>(1), 2.5);
            assert_eq!(row.get::<_, &str>(2), "x y");
            assert!(!row.get::<_, bool>(3));
            assert_eq!(row.get::<_, Option<i64>>(4), None);

            let error = client.query("bad", &[]).await.unwrap_err();
            assert_eq!(
                error.code().map(|c| c.code()),
                Some(sqlstate::DIVISION_BY_ZERO.code())
            );
            let error = client.prepare("nonsense").await.unwrap_err();
            assert_eq!(
                error.code().map(|c| c.code()),
                Some(sqlstate::SYNTAX_ERROR.code())
            );
            assert_eq!(client.execute("insert", &[]).await.unwrap(), 1);
            assert_eq!(
                client
                    .query(&echo, &[&1i32, &0.0f64, &"", &true, &Some(5i64)])
                    .await
                    .unwrap()
                    .len(),
                1
            );
        };
        tokio::join!(connection, queries);
    };
    tokio::join!(server, test);
}
