//! COPY FROM STDIN and TO STDOUT in text, CSV and binary, through the real
//! `psql` (`COPY … FROM STDIN` fed from its standard input, and `\copy`)
//! and through the wire protocol itself (simple and extended query,
//! CopyFail, a client that goes away mid-COPY).
//!
//! The expected output in `crates/tessera-testkit/copy/` is PostgreSQL
//! 15's, for the rows `copy/types.sql` inserts (every supported type,
//! NULLs, tabs, newlines, carriage returns, backslashes, quotes, commas,
//! non-ASCII): `COPY ty TO STDOUT` in each format under `TimeZone` UTC.
//! Reading those bytes back with COPY FROM gives the same rows.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use tessera_testkit::{find_program, startup_packet, workspace_root, TestServer};

fn fixture(name: &str) -> PathBuf {
    workspace_root()
        .join("crates/tessera-testkit/copy")
        .join(name)
}

fn psql_binary() -> Option<PathBuf> {
    let found = find_program("psql");
    if found.is_none() {
        eprintln!("skipping: psql not found (install postgresql-client-15)");
    }
    found
}

/// Runs psql with `args` (each `-c` in turn, UTC first), `stdin` as its
/// standard input.
fn psql(bin: &Path, server: &TestServer, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(bin)
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            "VERBOSITY=verbose",
        ])
        .args(["-h", server.host(), "-p"])
        .arg(server.port().to_string())
        .args(["-U", tessera_testkit::USER, "-d", server.dbname()])
        .args(["-c", "SET TIME ZONE 'UTC'"])
        .args(args)
        .env_remove("PGOPTIONS")
        .env("PGCONNECT_TIMEOUT", "30")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run psql");
    let mut input = child.stdin.take().expect("psql stdin");
    input.write_all(stdin).expect("write psql stdin");
    drop(input);
    child.wait_with_output().expect("psql output")
}

#[track_caller]
fn psql_ok(bin: &Path, server: &TestServer, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let out = psql(bin, server, args, stdin);
    assert!(
        out.status.success(),
        "psql {args:?} failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// psql's error text (VERBOSITY verbose: `ERROR:  22P02: …`, `CONTEXT:  …`).
#[track_caller]
fn psql_err(bin: &Path, server: &TestServer, args: &[&str], stdin: &[u8]) -> String {
    let out = psql(bin, server, args, stdin);
    assert!(!out.status.success(), "psql {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn count(bin: &Path, server: &TestServer, table: &str) -> i64 {
    let out = psql_ok(
        bin,
        server,
        &["-A", "-t", "-c", &format!("SELECT count(*) FROM {table}")],
        b"",
    );
    String::from_utf8_lossy(&out)
        .trim()
        .parse()
        .expect("a count")
}

const TYPES_COLUMNS: &str = "id int PRIMARY KEY, i2 int2, i4 int4, i8 int8, n numeric(12,3), \
    f4 float4, f8 float8, t text, vc varchar(20), ch char(5), b bool, by bytea, d date, tm time, \
    ts timestamp, tz timestamptz, iv interval, u uuid, j json, jb jsonb, ai int4[], at text[]";

#[test]
fn every_type_copies_out_as_postgres_does_and_reads_back() {
    let Some(bin) = psql_binary() else { return };
    let server = TestServer::start();
    let setup = std::fs::read_to_string(fixture("types.sql")).expect("types.sql");
    psql_ok(&bin, &server, &["-c", &setup], b"");
    let formats = [
        ("text", "", "types.text"),
        ("csv", "WITH (FORMAT csv, HEADER)", "types.csv"),
        ("binary", "WITH (FORMAT binary)", "types.bin"),
    ];
    for (name, options, file) in formats {
        let expected = std::fs::read(fixture(file)).expect("fixture");
        let sql = format!("COPY (SELECT * FROM ty ORDER BY id) TO STDOUT {options}");
        let got = psql_ok(&bin, &server, &["-c", &sql], b"");
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&expected),
            "COPY TO in {name}"
        );
        assert_eq!(got, expected, "COPY TO in {name}, byte for byte");
    }
    // PostgreSQL's bytes, read back in each format, are the same rows.
    let text = std::fs::read(fixture("types.text")).expect("fixture");
    for (name, options, file) in formats {
        let input = std::fs::read(fixture(file)).expect("fixture");
        let create = format!("DROP TABLE IF EXISTS back; CREATE TABLE back ({TYPES_COLUMNS})");
        let copy = format!("COPY back FROM STDIN {options}");
        psql_ok(&bin, &server, &["-c", &create, "-c", &copy], &input);
        let got = psql_ok(
            &bin,
            &server,
            &["-c", "COPY (SELECT * FROM back ORDER BY id) TO STDOUT"],
            b"",
        );
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&text),
            "round trip through {name}"
        );
    }
}

#[test]
fn options_in_both_spellings() {
    let Some(bin) = psql_binary() else { return };
    let server = TestServer::start();
    psql_ok(
        &bin,
        &server,
        &["-c", "CREATE TABLE o (a int PRIMARY KEY, b text, c text)"],
        b"",
    );
    // The pre-9.0 spelling psql users and pgbench send, with a column list.
    psql_ok(
        &bin,
        &server,
        &[
            "-c",
            "COPY o (c, a) FROM STDIN CSV HEADER DELIMITER ';' NULL AS 'nil'",
        ],
        b"c;a\nx;1\nnil;2\n\"nil\";3\n",
    );
    // FORCE_NOT_NULL reads the NULL string as itself; FORCE_NULL a quoted one as NULL.
    psql_ok(
        &bin,
        &server,
        &["-c", "COPY o FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL (b), FORCE_NULL (c), QUOTE '''', ESCAPE '\\')"],
        b"4,,''\n5,'it\\'s',\n",
    );
    psql_ok(
        &bin,
        &server,
        &["-c", "COPY o FROM STDIN WITH DELIMITER '|'"],
        b"6|a\\|b|\\N\n",
    );
    let got = psql_ok(
        &bin,
        &server,
        &["-c", "COPY (SELECT * FROM o ORDER BY a) TO STDOUT WITH (FORMAT csv, FORCE_QUOTE (b), NULL 'NULL')"],
        b"",
    );
    // PostgreSQL 15's output for the same input.
    assert_eq!(
        String::from_utf8_lossy(&got),
        "1,NULL,x\n2,NULL,NULL\n3,NULL,nil\n4,\"\",NULL\n5,\"it's\",NULL\n6,\"a|b\",NULL\n"
    );
    let got = psql_ok(
        &bin,
        &server,
        &[
            "-c",
            "COPY o (a, b) TO STDOUT DELIMITER '|' CSV FORCE QUOTE *",
        ],
        b"",
    );
    let mut lines: Vec<&str> = std::str::from_utf8(&got).unwrap().lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "\"1\"|",
            "\"2\"|",
            "\"3\"|",
            "\"4\"|\"\"",
            "\"5\"|\"it's\"",
            "\"6\"|\"a|b\""
        ]
    );
    // Option errors, as PostgreSQL words them.
    for (sql, expected) in [
        (
            "COPY o FROM STDIN (FORMAT xml)",
            "22023: COPY format \"xml\" not recognized",
        ),
        (
            "COPY o FROM STDIN (DELIMITER 'ab')",
            "0A000: COPY delimiter must be a single one-byte character",
        ),
        (
            "COPY o FROM STDIN (FORMAT binary, NULL 'x')",
            "42601: cannot specify NULL in BINARY mode",
        ),
        (
            "COPY o (a, zz) FROM STDIN",
            "42703: column \"zz\" of relation \"o\" does not exist",
        ),
        (
            "COPY o (a, a) FROM STDIN",
            "42701: column \"a\" specified more than once",
        ),
        (
            "COPY o FROM STDIN (FORCE_QUOTE (a))",
            "0A000: COPY force quote available only in CSV mode",
        ),
        (
            "COPY o FROM STDIN (bogus 1)",
            "42601: option \"bogus\" not recognized",
        ),
        (
            "COPY o FROM STDIN (FORMAT csv, FORCE_NOT_NULL (zz))",
            "42703: column \"zz\" of relation \"o\" does not exist",
        ),
        (
            "COPY nosuch FROM STDIN",
            "42P01: relation \"nosuch\" does not exist",
        ),
        (
            "COPY o TO '/tmp/o.txt'",
            "0A000: COPY to or from a file is not supported",
        ),
        (
            "COPY o FROM PROGRAM 'cat'",
            "0A000: COPY to or from a file is not supported",
        ),
    ] {
        let err = psql_err(&bin, &server, &["-c", sql], b"");
        assert!(err.contains(expected), "{sql}: {err}");
    }
}

#[test]
fn a_bad_row_fails_the_whole_copy_with_its_line() {
    let Some(bin) = psql_binary() else { return };
    let server = TestServer::start();
    psql_ok(
        &bin,
        &server,
        &[
            "-c",
            "CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p VALUES (1); \
             CREATE TABLE e (a int PRIMARY KEY, b int NOT NULL, c text CHECK (length(c) < 5), \
             d int REFERENCES p (id))",
        ],
        b"",
    );
    // Enough good rows first that some were inserted in an earlier batch.
    let mut good = String::new();
    for i in 10..6010 {
        good.push_str(&format!("{i}\t{i}\tok\t1\n"));
    }
    let cases: [(&str, &str, &[&str]); 9] = [
        (
            "1\t1\tok\t1\n2\t2\tok\t1\n3\tx\tok\t1\n",
            "22P02: invalid input syntax for type integer: \"x\"",
            &["CONTEXT:  COPY e, line 3, column b: \"x\""],
        ),
        (
            "1\t1\tok\t1\n2\t2\n",
            "22P04: missing data for column \"c\"",
            &["CONTEXT:  COPY e, line 2: \"2\t2\""],
        ),
        (
            "1\t1\tok\t1\t9\n",
            "22P04: extra data after last expected column",
            &["CONTEXT:  COPY e, line 1: \"1\t1\tok\t1\t9\""],
        ),
        (
            "1\t1\tok\t1\n2\t\\N\tok\t1\n",
            "23502: null value in column \"b\" of relation \"e\" violates not-null constraint",
            &["CONTEXT:  COPY e, line 2: \"2\t\\N\tok\t1\""],
        ),
        (
            "1\t1\tok\t1\n1\t2\tok\t1\n",
            "23505: duplicate key value violates unique constraint \"e_pkey\"",
            &["CONTEXT:  COPY e, line 2\n"],
        ),
        (
            "1\t1\tok\t1\n2\t2\ttoolong\t1\n",
            "23514: new row for relation \"e\" violates check constraint \"e_c_check\"",
            &["CONTEXT:  COPY e, line 2: \"2\t2\ttoolong\t1\""],
        ),
        (
            "1\t1\tok\t1\n2\t2\tok\t7\n",
            "23503: insert or update on table \"e\" violates foreign key constraint \"e_d_fkey\"",
            &[],
        ),
        (
            "1\t1\tok\t1\n2\t2\tok\t1\r\n",
            "22P04: literal carriage return found in data",
            &["CONTEXT:  COPY e, line 2"],
        ),
        (
            "1\t1\tok\t1\n\\.x\n",
            "22P04: end-of-copy marker corrupt",
            &["CONTEXT:  COPY e, line 2"],
        ),
    ];
    for (data, error, context) in cases {
        for input in [data.to_string(), format!("{good}{data}")] {
            let err = psql_err(
                &bin,
                &server,
                &["-c", "COPY e FROM STDIN"],
                input.as_bytes(),
            );
            assert!(err.contains(error), "{data:?}: {err}");
            for c in context {
                let shifted = if input.len() > data.len() {
                    // 6000 good lines come first.
                    shift_line(c, 6000)
                } else {
                    c.to_string()
                };
                assert!(
                    err.contains(&shifted),
                    "{data:?}: wanted {shifted:?} in {err}"
                );
            }
            // A missing parent is found at the end, about no line (as
            // PostgreSQL's trigger finds it).
            if error.starts_with("23503") {
                assert!(!err.contains("CONTEXT:"), "{data:?}: {err}");
            }
            assert_eq!(count(&bin, &server, "e"), 0, "{data:?} left rows behind");
        }
    }
    let err = psql_err(
        &bin,
        &server,
        &["-c", "COPY e FROM STDIN (FORMAT csv)"],
        b"1,1,\"ok,1\n",
    );
    assert!(
        err.contains("22P04: unterminated CSV quoted field"),
        "{err}"
    );
    assert!(err.contains("CONTEXT:  COPY e, line 1"), "{err}");
    let err = psql_err(
        &bin,
        &server,
        &["-c", "COPY e FROM STDIN (FORMAT binary)"],
        b"garbage\n",
    );
    assert!(
        err.contains("22P04: COPY file signature not recognized"),
        "{err}"
    );
    // The good rows alone go in, all of them.
    psql_ok(&bin, &server, &["-c", "COPY e FROM STDIN"], good.as_bytes());
    assert_eq!(count(&bin, &server, "e"), 6000);
    // A UNIQUE constraint other than the key holds against earlier rows
    // and within the COPY.
    psql_ok(
        &bin,
        &server,
        &[
            "-c",
            "CREATE TABLE u (a int PRIMARY KEY, b int UNIQUE)",
            "-c",
            "COPY u FROM STDIN",
        ],
        b"1\t1\n2\t2\n",
    );
    for data in [&b"3\t3\n4\t1\n"[..], b"3\t5\n4\t5\n"] {
        let err = psql_err(&bin, &server, &["-c", "COPY u FROM STDIN"], data);
        assert!(
            err.contains("23505: duplicate key value violates unique constraint \"u_b_key\""),
            "{err}"
        );
        assert!(err.contains("CONTEXT:  COPY u, line 2\n"), "{err}");
        assert_eq!(count(&bin, &server, "u"), 2);
    }
}

/// `COPY e, line N` → `COPY e, line N+by`.
fn shift_line(context: &str, by: u64) -> String {
    let marker = ", line ";
    let Some(at) = context.find(marker) else {
        return context.to_string();
    };
    let rest = &context[at + marker.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let n: u64 = digits.parse().unwrap();
    format!(
        "{}{marker}{}{}",
        &context[..at],
        n + by,
        &rest[digits.len()..]
    )
}

#[test]
fn copy_follows_the_transaction_block() {
    let Some(bin) = psql_binary() else { return };
    let server = TestServer::start();
    psql_ok(
        &bin,
        &server,
        &[
            "-c",
            "CREATE TABLE b (a serial PRIMARY KEY, v text DEFAULT 'dflt')",
        ],
        b"",
    );
    let script = "BEGIN;\nCOPY b (v) FROM STDIN;\nx\ny\n\\.\nSELECT count(*) FROM b;\nROLLBACK;\n";
    let out = psql_ok(&bin, &server, &["-A", "-t", "-f", "-"], script.as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&out).trim(),
        "2",
        "visible inside the block"
    );
    assert_eq!(count(&bin, &server, "b"), 0, "rolled back");
    // A failed COPY fails the block: nothing after it runs.
    let script = "\\set ON_ERROR_STOP 0\nBEGIN;\nINSERT INTO b (v) VALUES ('kept?');\n\
        COPY b (a) FROM STDIN;\n1\nnope\n\\.\nSELECT 1;\nCOMMIT;\n";
    let out = psql(&bin, &server, &["-f", "-"], script.as_bytes());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("22P02"), "{err}");
    assert!(err.contains("25P02"), "{err}");
    assert_eq!(count(&bin, &server, "b"), 0);
    // Committed: defaults and the serial sequence, as for INSERT.
    let script = "BEGIN;\nCOPY b (v) FROM STDIN;\nx\n\\N\n\\.\nCOPY b (v) FROM STDIN CSV;\n\"z\"\n\\.\nCOMMIT;\n";
    psql_ok(&bin, &server, &["-f", "-"], script.as_bytes());
    let out = psql_ok(
        &bin,
        &server,
        &["-c", "COPY (SELECT * FROM b ORDER BY a) TO STDOUT"],
        b"",
    );
    // Sequences are not rolled back: the first block took 1 and 2, the
    // failed one 3 (as in PostgreSQL).
    assert_eq!(String::from_utf8_lossy(&out), "4\tx\n5\t\\N\n6\tz\n");
    let out = psql_ok(&bin, &server, &["-c", "COPY b (a) FROM STDIN"], b"10\n");
    assert!(out.is_empty());
    let out = psql_ok(
        &bin,
        &server,
        &["-A", "-t", "-c", "SELECT v FROM b WHERE a = 10"],
        b"",
    );
    assert_eq!(String::from_utf8_lossy(&out).trim(), "dflt");
}

#[test]
fn psql_backslash_copy_both_ways() {
    let Some(bin) = psql_binary() else { return };
    let server = TestServer::start();
    let dir = std::env::temp_dir().join(format!("tessera-copy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rows.csv");
    psql_ok(
        &bin,
        &server,
        &[
            "-c",
            "CREATE TABLE s (a int PRIMARY KEY, b text); CREATE TABLE s2 (a int PRIMARY KEY, b text)",
            "-c",
            "INSERT INTO s SELECT g, 'row ' || g || E'\\t,\"é' FROM generate_series(1, 2500) g",
        ],
        b"",
    );
    let to = format!("\\copy s to '{}' with (format csv)", file.display());
    psql_ok(&bin, &server, &["-c", &to], b"");
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written.lines().count(), 2500);
    assert!(
        written.contains("1,\"row 1\t,\"\"é\"\n"),
        "{}",
        &written[..200]
    );
    let from = format!("\\copy s2 from '{}' with (format csv)", file.display());
    psql_ok(&bin, &server, &["-c", &from], b"");
    let diff = psql_ok(
        &bin,
        &server,
        &[
            "-A",
            "-t",
            "-c",
            "SELECT count(*) FROM s FULL JOIN s2 USING (a) WHERE s.b <> s2.b OR s.b IS NULL OR s2.b IS NULL",
        ],
        b"",
    );
    assert_eq!(String::from_utf8_lossy(&diff).trim(), "0");
    assert_eq!(count(&bin, &server, "s2"), 2500);
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---- the wire protocol, by hand ---------------------------------------------

struct Wire {
    stream: TcpStream,
}

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn cstr(s: &str) -> Vec<u8> {
    let mut out = s.as_bytes().to_vec();
    out.push(0);
    out
}

impl Wire {
    fn connect(server: &TestServer) -> Wire {
        let stream = TcpStream::connect((server.host(), server.port())).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut wire = Wire { stream };
        wire.send(&startup_packet(server.dbname()));
        wire.until_ready();
        wire
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    fn read(&mut self) -> (u8, Vec<u8>) {
        let mut header = [0u8; 5];
        self.stream.read_exact(&mut header).expect("read header");
        let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let mut body = vec![0u8; length - 4];
        self.stream.read_exact(&mut body).expect("read body");
        (header[0], body)
    }

    /// Messages up to and including ReadyForQuery.
    fn until_ready(&mut self) -> Vec<(u8, Vec<u8>)> {
        let mut seen = Vec::new();
        loop {
            let (kind, body) = self.read();
            seen.push((kind, body));
            if kind == b'Z' {
                return seen;
            }
        }
    }

    fn query(&mut self, sql: &str) -> Vec<(u8, Vec<u8>)> {
        self.send(&message(b'Q', &cstr(sql)));
        self.until_ready()
    }

    fn copy_data(&mut self, data: &[u8]) {
        self.send(&message(b'd', data));
    }
}

/// The SQLSTATE and message of an ErrorResponse body.
fn error_fields(body: &[u8]) -> (String, String) {
    let mut code = String::new();
    let mut text = String::new();
    for field in body.split(|b| *b == 0) {
        match field.first() {
            Some(b'C') => code = String::from_utf8_lossy(&field[1..]).into_owned(),
            Some(b'M') => text = String::from_utf8_lossy(&field[1..]).into_owned(),
            _ => {}
        }
    }
    (code, text)
}

fn find(messages: &[(u8, Vec<u8>)], kind: u8) -> Option<&Vec<u8>> {
    messages.iter().find(|(k, _)| *k == kind).map(|(_, b)| b)
}

fn command_tag(messages: &[(u8, Vec<u8>)]) -> String {
    let body = find(messages, b'C').expect("CommandComplete");
    String::from_utf8_lossy(&body[..body.len() - 1]).into_owned()
}

fn rows_text(n: std::ops::Range<u32>) -> Vec<u8> {
    let mut out = Vec::new();
    for i in n {
        out.extend_from_slice(format!("{i}\tv{i}\n").as_bytes());
    }
    out
}

fn wire_count(wire: &mut Wire, table: &str) -> String {
    let answer = wire.query(&format!("SELECT count(*) FROM {table}"));
    let body = find(&answer, b'D').expect("a row");
    let length = i32::from_be_bytes([body[2], body[3], body[4], body[5]]) as usize;
    String::from_utf8_lossy(&body[6..6 + length]).into_owned()
}

#[test]
fn copy_fail_and_a_vanished_client_leave_nothing() {
    let server = TestServer::start();
    let mut wire = Wire::connect(&server);
    wire.query("CREATE TABLE w (a int PRIMARY KEY, b text)");

    // CopyFail after more than one batch went in.
    wire.send(&message(b'Q', &cstr("COPY w FROM STDIN")));
    let (kind, response) = wire.read();
    assert_eq!(kind, b'G', "CopyInResponse");
    assert_eq!(&response[..3], &[0, 0, 2], "text, two columns");
    wire.copy_data(&rows_text(0..10_000));
    wire.send(&message(b'f', &cstr("client gave up")));
    let answer = wire.until_ready();
    let (code, text) = error_fields(find(&answer, b'E').expect("an error"));
    assert_eq!(code, "57014");
    assert_eq!(text, "COPY from stdin failed: client gave up");
    assert_eq!(answer.last().unwrap().1, b"I");
    assert_eq!(wire_count(&mut wire, "w"), "0");

    // A client that disconnects in the middle of its data.
    let mut gone = Wire::connect(&server);
    gone.send(&message(b'Q', &cstr("COPY w FROM STDIN")));
    assert_eq!(gone.read().0, b'G');
    gone.copy_data(&rows_text(0..10_000));
    gone.copy_data(b"10000\tunfinished li");
    // Let the server take the rows in before the connection drops.
    std::thread::sleep(Duration::from_millis(500));
    drop(gone);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(wire_count(&mut wire, "w"), "0");
    // The same keys go in afterwards: nothing of the dropped COPY holds them.
    wire.send(&message(b'Q', &cstr("COPY w FROM STDIN")));
    assert_eq!(wire.read().0, b'G');
    wire.copy_data(&rows_text(0..10_000));
    wire.send(&message(b'c', &[]));
    let answer = wire.until_ready();
    assert_eq!(command_tag(&answer), "COPY 10000");
    assert_eq!(wire_count(&mut wire, "w"), "10000");

    // Copy data after a failed COPY is dropped, as PostgreSQL drops it.
    wire.send(&message(b'Q', &cstr("COPY w FROM STDIN")));
    assert_eq!(wire.read().0, b'G');
    wire.copy_data(b"bad\tx\n");
    let answer = wire.until_ready();
    assert_eq!(error_fields(find(&answer, b'E').unwrap()).0, "22P02");
    wire.copy_data(b"1\tx\n");
    wire.send(&message(b'c', &[]));
    assert_eq!(wire_count(&mut wire, "w"), "10000");
}

#[test]
fn copy_in_the_extended_protocol() {
    let server = TestServer::start();
    let mut wire = Wire::connect(&server);
    wire.query("CREATE TABLE x (a int PRIMARY KEY, b text)");
    // Parse/Bind/Execute/Sync as libpq and psycopg send them: the Sync
    // arrives during COPY and is ignored; the one after CopyDone answers.
    let mut batch = message(
        b'P',
        &[cstr(""), cstr("COPY x FROM STDIN (FORMAT csv)"), vec![0, 0]].concat(),
    );
    batch.extend(message(
        b'B',
        &[cstr(""), cstr(""), vec![0, 0, 0, 0, 0, 0]].concat(),
    ));
    batch.extend(message(b'E', &[cstr(""), vec![0, 0, 0, 0]].concat()));
    batch.extend(message(b'S', &[]));
    wire.send(&batch);
    assert_eq!(wire.read().0, b'1');
    assert_eq!(wire.read().0, b'2');
    assert_eq!(wire.read().0, b'G');
    wire.copy_data(b"1,one\n2,\"t,w,o\"\n");
    wire.send(&message(b'c', &[]));
    wire.send(&message(b'S', &[]));
    let answer = wire.until_ready();
    assert_eq!(command_tag(&answer), "COPY 2");
    assert_eq!(
        answer.iter().filter(|(k, _)| *k == b'Z').count(),
        1,
        "{answer:?}"
    );

    // COPY TO through Execute: CopyOutResponse, a CopyData per row, CopyDone.
    let mut batch = message(
        b'P',
        &[
            cstr(""),
            cstr("COPY (SELECT * FROM x ORDER BY a) TO STDOUT (FORMAT csv)"),
            vec![0, 0],
        ]
        .concat(),
    );
    batch.extend(message(
        b'B',
        &[cstr(""), cstr(""), vec![0, 0, 0, 0, 0, 0]].concat(),
    ));
    batch.extend(message(b'E', &[cstr(""), vec![0, 0, 0, 0]].concat()));
    batch.extend(message(b'S', &[]));
    wire.send(&batch);
    let answer = wire.until_ready();
    let kinds: Vec<u8> = answer.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, b"12HddcCZ".to_vec(), "{answer:?}");
    let data: Vec<&[u8]> = answer
        .iter()
        .filter(|(k, _)| *k == b'd')
        .map(|(_, b)| b.as_slice())
        .collect();
    assert_eq!(data, [&b"1,one\n"[..], &b"2,\"t,w,o\"\n"[..]]);
    assert_eq!(command_tag(&answer), "COPY 2");

    // An error in the data: ErrorResponse, then everything up to Sync is skipped.
    let mut batch = message(
        b'P',
        &[cstr(""), cstr("COPY x FROM STDIN"), vec![0, 0]].concat(),
    );
    batch.extend(message(
        b'B',
        &[cstr(""), cstr(""), vec![0, 0, 0, 0, 0, 0]].concat(),
    ));
    batch.extend(message(b'E', &[cstr(""), vec![0, 0, 0, 0]].concat()));
    wire.send(&batch);
    assert_eq!(wire.read().0, b'1');
    assert_eq!(wire.read().0, b'2');
    assert_eq!(wire.read().0, b'G');
    wire.copy_data(b"3\tthree\n3\tagain\n");
    wire.send(&message(b'c', &[]));
    wire.send(&message(b'S', &[]));
    let answer = wire.until_ready();
    let (code, _) = error_fields(find(&answer, b'E').expect("an error"));
    assert_eq!(code, "23505");
    assert_eq!(wire_count(&mut wire, "x"), "2");
}

#[test]
fn a_record_longer_than_the_limit_is_refused() {
    let server = TestServer::start();
    let mut wire = Wire::connect(&server);
    wire.query("CREATE TABLE big (a text)");
    wire.send(&message(b'Q', &cstr("COPY big FROM STDIN")));
    assert_eq!(wire.read().0, b'G');
    // One line without its end, past COPY_RECORD_BYTES_MAX (16 MiB), in
    // 1 MiB messages; the server stops it as soon as it passes.
    let chunk = vec![b'x'; 1 << 20];
    let mut error = None;
    for _ in 0..20 {
        wire.copy_data(&chunk);
    }
    wire.send(&message(b'c', &[]));
    for (kind, body) in wire.until_ready() {
        if kind == b'E' {
            error = Some(error_fields(&body));
        }
    }
    let (code, text) = error.expect("an error");
    assert_eq!(code, "54000");
    assert!(text.contains("longer than 16777216 bytes"), "{text}");
    assert_eq!(wire_count(&mut wire, "big"), "0");
    // A 15 MiB value fits.
    wire.send(&message(b'Q', &cstr("COPY big FROM STDIN")));
    assert_eq!(wire.read().0, b'G');
    for _ in 0..15 {
        wire.copy_data(&chunk);
    }
    wire.copy_data(b"\n");
    wire.send(&message(b'c', &[]));
    assert_eq!(command_tag(&wire.until_ready()), "COPY 1");
}
