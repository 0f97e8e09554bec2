//! SQL-level cursors over the wire: MOVE's and FETCH's counts in their
//! tags, FETCH through the extended protocol (typed columns, as drivers
//! read them), the limit on what a session's cursors hold, BINARY
//! cursors' binary rows over the simple protocol, and MOVE on a
//! protocol-level portal (asyncpg's `Cursor.forward`). Expectations are
//! what PostgreSQL 15 answers. `slt/cursors.slt` covers the directions.

use std::io::{Read, Write};

use tessera_testkit::TestServer;
use tokio_postgres::SimpleQueryMessage;

/// The count of each CommandComplete of `sql`.
async fn counts(client: &tokio_postgres::Client, sql: &str) -> Vec<u64> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(n),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn move_and_fetch_report_their_counts() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    client.batch_execute("BEGIN").await.unwrap();
    client
        .batch_execute("DECLARE c SCROLL CURSOR FOR SELECT * FROM generate_series(1, 5)")
        .await
        .unwrap();
    // PostgreSQL 15: MOVE 3, FETCH 2, MOVE 0, MOVE 5, MOVE 5, MOVE 1, MOVE 1.
    let got = [
        "MOVE 3 IN c",
        "FETCH ALL FROM c",
        "MOVE NEXT IN c",
        "MOVE BACKWARD ALL IN c",
        "MOVE FORWARD 10 IN c",
        "MOVE LAST IN c",
        "MOVE 0 IN c",
    ];
    let mut all = Vec::new();
    for sql in got {
        all.extend(counts(&client, sql).await);
    }
    assert_eq!(all, vec![3, 2, 0, 5, 5, 1, 1]);
    client.batch_execute("ROLLBACK").await.unwrap();
}

#[tokio::test]
async fn fetch_runs_through_the_extended_protocol() {
    let server = TestServer::start_with_shards(2);
    let mut client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE cx (id int PRIMARY KEY, v text, n numeric);
             INSERT INTO cx SELECT i, 'v' || i, i * 1.5 FROM generate_series(1, 100) i",
        )
        .await
        .unwrap();
    let tx = client.transaction().await.unwrap();
    tx.execute(
        "DECLARE big CURSOR FOR SELECT id, v FROM cx WHERE id > $1 ORDER BY id",
        &[&10i32],
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    loop {
        let rows = tx.query("FETCH FORWARD 25 FROM big", &[]).await.unwrap();
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let id: i32 = row.get(0);
            let v: String = row.get(1);
            assert_eq!(v, format!("v{id}"));
            seen.push(id);
        }
    }
    assert_eq!(seen, (11..=100).collect::<Vec<i32>>());
    let e = tx
        .query("FETCH 1 FROM nothing_here", &[])
        .await
        .expect_err("an unknown cursor");
    assert_eq!(e.code().map(|c| c.code()), Some("34000"));
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn the_session_cursor_limit_refuses_and_keeps_nothing() {
    let server = TestServer::start_with_shards(2);
    if server.is_external() {
        return; // PostgreSQL keeps a cursor's rows on disk, without a limit.
    }
    let client = server.connect().await;
    // About 70 MB of text, past the 64 MiB the session's cursors may hold.
    let e = client
        .batch_execute(
            "DECLARE huge CURSOR WITH HOLD FOR \
             SELECT repeat('x', 100000) FROM generate_series(1, 700)",
        )
        .await
        .expect_err("past tessera_sql::cursor::CURSOR_BYTES_MAX");
    assert_eq!(e.code().map(|c| c.code()), Some("54000"));
    let rows = client
        .query("SELECT count(*) FROM pg_cursors", &[])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 0);
    // Under the limit is fine, and the session goes on.
    client
        .batch_execute(
            "DECLARE fits CURSOR WITH HOLD FOR \
             SELECT repeat('x', 100000) FROM generate_series(1, 100)",
        )
        .await
        .unwrap();
    assert_eq!(counts(&client, "MOVE ALL IN fits").await, vec![100]);
}

/// A simple Query on a raw connection: the messages back (type, body)
/// up to ReadyForQuery.
fn raw_query(stream: &mut std::net::TcpStream, sql: &str) -> Vec<(u8, Vec<u8>)> {
    let mut body = sql.as_bytes().to_vec();
    body.push(0);
    let mut message = vec![b'Q'];
    message.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    message.extend_from_slice(&body);
    stream.write_all(&message).unwrap();
    read_until_ready(stream)
}

fn read_until_ready(stream: &mut std::net::TcpStream) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        let mut head = [0u8; 5];
        stream.read_exact(&mut head).unwrap();
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0u8; len - 4];
        stream.read_exact(&mut body).unwrap();
        let done = head[0] == b'Z';
        out.push((head[0], body));
        if done {
            return out;
        }
    }
}

fn raw_connect(server: &TestServer) -> std::net::TcpStream {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    let mut body = 196608u32.to_be_bytes().to_vec();
    body.extend_from_slice(b"user\0postgres\0database\0postgres\0\0");
    let mut startup = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    startup.extend_from_slice(&body);
    stream.write_all(&startup).unwrap();
    read_until_ready(&mut stream);
    stream
}

#[tokio::test]
async fn a_binary_cursor_sends_binary_rows() {
    let server = TestServer::start_with_shards(2);
    let mut stream = raw_connect(&server);
    let got = raw_query(
        &mut stream,
        "BEGIN; DECLARE b BINARY CURSOR FOR SELECT 1::int4 AS a, 'x'::text AS t; \
         FETCH 1 FROM b; COMMIT",
    );
    let description = got
        .iter()
        .find(|(t, _)| *t == b'T')
        .expect("RowDescription");
    // Two columns, each ending with format code 1 (binary).
    let body = &description.1;
    assert_eq!(&body[..2], &[0, 2]);
    assert!(body.ends_with(&[0, 1]), "{body:?}");
    let row = got.iter().find(|(t, _)| *t == b'D').expect("DataRow");
    // PostgreSQL 15 sends int4 1 as 4 bytes and the text as its bytes.
    assert_eq!(row.1, vec![0, 2, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 1, b'x']);
}

#[tokio::test]
async fn move_goes_forward_on_a_protocol_portal() {
    let server = TestServer::start_with_shards(2);
    let mut stream = raw_connect(&server);
    raw_query(&mut stream, "BEGIN");
    // Parse, Bind to portal "p", Execute 2 rows, Sync.
    let mut out = Vec::new();
    let mut push = |kind: u8, body: &[u8]| {
        out.push(kind);
        out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        out.extend_from_slice(body);
    };
    push(b'P', b"\0SELECT * FROM generate_series(1, 10)\0\0\0");
    push(b'B', b"p\0\0\0\0\0\0\0\0");
    push(b'E', b"p\0\0\0\0\x02");
    push(b'S', b"");
    stream.write_all(&out).unwrap();
    let got = read_until_ready(&mut stream);
    assert_eq!(got.iter().filter(|(t, _)| *t == b'D').count(), 2);
    let got = raw_query(&mut stream, "MOVE FORWARD 3 IN p");
    let tag = got
        .iter()
        .find(|(t, _)| *t == b'C')
        .expect("CommandComplete");
    assert_eq!(tag.1, b"MOVE 3\0");
    let got = raw_query(&mut stream, "FETCH 2 FROM p");
    let rows: Vec<&Vec<u8>> = got
        .iter()
        .filter(|(t, _)| *t == b'D')
        .map(|(_, b)| b)
        .collect();
    assert_eq!(
        rows,
        vec![
            &b"\0\x01\0\0\0\x016".to_vec(),
            &b"\0\x01\0\0\0\x017".to_vec()
        ]
    );
    // A Bind may not name a portal as an open cursor is named.
    raw_query(&mut stream, "DECLARE taken CURSOR FOR SELECT 1");
    let mut out = Vec::new();
    for (kind, body) in [
        (b'P', &b"\0SELECT 2\0\0\0"[..]),
        (b'B', &b"taken\0\0\0\0\0\0\0\0"[..]),
        (b'S', &b""[..]),
    ] {
        out.push(kind);
        out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        out.extend_from_slice(body);
    }
    stream.write_all(&out).unwrap();
    let got = read_until_ready(&mut stream);
    let error = got.iter().find(|(t, _)| *t == b'E').expect("ErrorResponse");
    assert!(
        error.1.windows(6).any(|w| w == b"C42P03"),
        "{:?}",
        String::from_utf8_lossy(&error.1)
    );
    raw_query(&mut stream, "ROLLBACK");
}
