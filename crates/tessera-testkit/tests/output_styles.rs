//! Output styles over the raw protocol: SET DateStyle and IntervalStyle
//! are reported with ParameterStatus in PostgreSQL's canonical spelling
//! (also when a rollback or a startup option sets them), and COPY TO
//! writes dates, timestamps, intervals and floats in the session's
//! styles, byte for byte as PostgreSQL 15 does. The SQL side of the
//! styles is in `slt/output_styles.slt`.

use tessera_testkit::RawClient as Raw;
use tessera_testkit::{rows_text, TestServer};

/// What these tests read of a raw connection's messages.
trait RawExt {
    fn statuses(&mut self, sql: &str) -> Vec<String>;
    fn copy_out(&mut self, sql: &str) -> String;
}

impl RawExt for Raw {
    /// The ParameterStatus messages a statement brings, as `name=value`.
    fn statuses(&mut self, sql: &str) -> Vec<String> {
        self.query(sql)
            .iter()
            .filter(|(kind, _)| *kind == b'S')
            .map(|(_, body)| {
                let text = String::from_utf8_lossy(body);
                let mut parts = text.split('\0');
                format!(
                    "{}={}",
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default()
                )
            })
            .collect()
    }

    /// The CopyData payloads of a COPY TO, concatenated.
    fn copy_out(&mut self, sql: &str) -> String {
        let messages = self.query(sql);
        assert!(
            messages.iter().any(|(kind, _)| *kind == b'H'),
            "{sql}: no CopyOutResponse: {messages:?}"
        );
        let data: Vec<u8> = messages
            .iter()
            .filter(|(kind, _)| *kind == b'd')
            .flat_map(|(_, body)| body.iter().copied())
            .collect();
        String::from_utf8(data).expect("UTF-8 COPY data")
    }
}

#[test]
fn set_date_style_and_interval_style_are_reported_in_canonical_spelling() {
    let server = TestServer::start();
    let mut raw = Raw::connect(&server);
    assert_eq!(
        raw.statuses("SET DateStyle = 'sql,dmy'"),
        ["DateStyle=SQL, DMY"]
    );
    // German alone means day first; a later order keeps the style.
    assert_eq!(
        raw.statuses("SET datestyle TO german"),
        ["DateStyle=German, DMY"]
    );
    assert_eq!(
        raw.statuses("SET DateStyle = YMD"),
        ["DateStyle=German, YMD"]
    );
    assert_eq!(
        raw.statuses("SET IntervalStyle = 'SQL_STANDARD'"),
        ["IntervalStyle=sql_standard"]
    );
    // extra_float_digits is not a reported setting in PostgreSQL.
    assert_eq!(
        raw.statuses("SET extra_float_digits = 0"),
        Vec::<String>::new()
    );
    // A rolled-back SET is undone, and the client told so.
    raw.query("BEGIN");
    assert_eq!(
        raw.statuses("SET DateStyle = 'Postgres, MDY'"),
        ["DateStyle=Postgres, MDY"]
    );
    assert_eq!(raw.statuses("ROLLBACK"), ["DateStyle=German, YMD"]);
    assert_eq!(raw.statuses("RESET DateStyle"), ["DateStyle=ISO, MDY"]);
    // A bad value changes nothing and reports nothing.
    let messages = raw.query("SET IntervalStyle = 'verbose'");
    assert!(messages.iter().any(|(kind, _)| *kind == b'E'));
    assert!(!messages.iter().any(|(kind, _)| *kind == b'S'));
    assert_eq!(
        raw.statuses("SET IntervalStyle = iso_8601"),
        ["IntervalStyle=iso_8601"]
    );
}

#[tokio::test]
async fn startup_options_choose_the_styles() {
    let server = TestServer::start();
    let mut config = server.config();
    config.options(
        "-c DateStyle=Postgres,DMY -c IntervalStyle=postgres_verbose -c extra_float_digits=-2",
    );
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    assert_eq!(connection.parameter("DateStyle"), Some("Postgres, DMY"));
    assert_eq!(
        connection.parameter("IntervalStyle"),
        Some("postgres_verbose")
    );
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    assert_eq!(
        rows_text(
            &client,
            "SELECT '2024-03-05 01:02:03+00'::timestamptz, '-1 day 02:00'::interval, 1.0/3::float8"
        )
        .await,
        ["Tue 05 Mar 01:02:03 2024 UTC|@ 1 day -2 hours ago|0.3333333333333"]
    );
    let mut config = server.config();
    config.options("-c extra_float_digits=9");
    let error = config.connect(tokio_postgres::NoTls).await.err();
    assert_eq!(
        error.as_ref().and_then(|e| e.code()),
        Some(&tokio_postgres::error::SqlState::INVALID_PARAMETER_VALUE),
        "an out-of-range extra_float_digits at startup is refused: {error:?}"
    );
    drop(client);
    let _ = task.await;
}

/// Expected bytes from PostgreSQL 15 with the same settings and rows.
#[test]
fn copy_to_writes_in_the_session_styles() {
    let server = TestServer::start();
    let mut raw = Raw::connect(&server);
    for sql in [
        "CREATE TABLE styled (k int PRIMARY KEY, d date, tz timestamptz, iv interval, f float8, r real)",
        "INSERT INTO styled VALUES \
         (1, '2024-03-05', '2024-07-01 12:00:00.5+00', '-1 day -02:03:04', 1.0/3, 0.1), \
         (2, NULL, '2024-01-15 12:00+00', '1 year 2 mons', 1e20, 1234567)",
        "SET DateStyle = 'German'",
        "SET IntervalStyle = 'sql_standard'",
        "SET extra_float_digits = 0",
        "SET TimeZone = 'Europe/Berlin'",
    ] {
        let messages = raw.query(sql);
        assert!(
            !messages.iter().any(|(kind, _)| *kind == b'E'),
            "{sql}: {messages:?}"
        );
    }
    assert_eq!(
        raw.copy_out("COPY (SELECT d, tz, iv, f, r FROM styled ORDER BY k) TO STDOUT"),
        "05.03.2024\t01.07.2024 14:00:00.5 CEST\t-1 2:03:04\t0.333333333333333\t0.1\n\
         \\N\t15.01.2024 13:00:00 CET\t1-2\t1e+20\t1.23457e+06\n"
    );
    assert_eq!(
        raw.copy_out(
            "COPY (SELECT d, tz, iv, f, r FROM styled ORDER BY k) TO STDOUT WITH (FORMAT csv, HEADER)"
        ),
        "d,tz,iv,f,r\n\
         05.03.2024,01.07.2024 14:00:00.5 CEST,-1 2:03:04,0.333333333333333,0.1\n\
         ,15.01.2024 13:00:00 CET,1-2,1e+20,1.23457e+06\n"
    );
    // The defaults again: what COPY wrote before any SET.
    raw.query("RESET ALL");
    assert_eq!(
        raw.copy_out("COPY (SELECT d, tz, iv, f FROM styled WHERE k = 1) TO STDOUT"),
        "2024-03-05\t2024-07-01 12:00:00.5+00\t-1 days -02:03:04\t0.3333333333333333\n"
    );
}
