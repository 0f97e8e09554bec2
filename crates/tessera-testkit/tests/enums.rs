//! Enum types and domains through a real driver and across crashes:
//! tokio-postgres learns the type from pg_type and pg_enum (its own
//! introspection queries), reads and writes values and arrays of them in
//! the binary format (the label's bytes, as PostgreSQL's
//! enum_send/enum_recv), and the type, its labels'
//! order and the rows of its columns survive a kill -9 and a restart,
//! including changes made inside a transaction block (kept only when it
//! committed). Domain columns check their domain on INSERT, UPDATE and
//! COPY, and the domain survives a crash. `slt/enums_domains.slt` covers
//! the SQL.

use tessera_testkit::tokio_postgres::error::SqlState;
use tessera_testkit::tokio_postgres::types::private::BytesMut;
use tessera_testkit::tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type};
use tessera_testkit::{assert_sqlstate, rows_text, TestServer};

/// A label of any enum type, in the binary format.
#[derive(Debug, PartialEq)]
struct Label(String);

impl<'a> FromSql<'a> for Label {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> Result<Label, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Label(std::str::from_utf8(raw)?.to_string()))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(ty.kind(), Kind::Enum(_))
    }
}

impl ToSql for Label {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        matches!(ty.kind(), Kind::Enum(_))
    }

    tessera_testkit::tokio_postgres::types::to_sql_checked!();
}

fn label(s: &str) -> Label {
    Label(s.to_string())
}

/// The labels of column `m` of `t` in the binary format, in its order.
async fn labels_in_order(client: &tessera_testkit::tokio_postgres::Client) -> Vec<Label> {
    client
        .query("SELECT m FROM t ORDER BY m", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, Label>(0))
        .collect()
}

#[tokio::test]
async fn enum_values_in_binary_and_across_a_crash() {
    let mut server = TestServer::start_with_shards(2);
    if server.is_external() {
        eprintln!("skipping: needs process control of a spawned tessera");
        return;
    }
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
             CREATE TABLE t (m mood PRIMARY KEY, id int NOT NULL);
             CREATE INDEX t_id ON t (id);
             INSERT INTO t VALUES ('happy', 1), ('sad', 2);
             ALTER TYPE mood ADD VALUE 'meh' BEFORE 'ok';",
        )
        .await
        .unwrap();

    // The driver's own look-up of the type: an enum with its labels in order.
    let statement = client.prepare("SELECT m FROM t").await.unwrap();
    let ty = statement.columns()[0].type_();
    assert_eq!(ty.name(), "mood");
    assert_eq!(
        ty.kind(),
        &Kind::Enum(vec![
            "sad".into(),
            "meh".into(),
            "ok".into(),
            "happy".into()
        ])
    );

    // Parameters in the binary format, typed as the enum by the server.
    let insert = client
        .prepare("INSERT INTO t VALUES ($1, $2)")
        .await
        .unwrap();
    assert_eq!(insert.params()[0].name(), "mood");
    client.execute(&insert, &[&label("meh"), &3]).await.unwrap();
    client.execute(&insert, &[&label("ok"), &4]).await.unwrap();
    let err = client
        .execute(&insert, &[&label("glad"), &5])
        .await
        .unwrap_err();
    assert_sqlstate(
        Err::<(), _>(err),
        &SqlState::INVALID_TEXT_REPRESENTATION,
        "an unknown label as a parameter",
    );
    let err = client
        .execute(&insert, &[&label("ok"), &6])
        .await
        .unwrap_err();
    assert_sqlstate(
        Err::<(), _>(err),
        &SqlState::UNIQUE_VIOLATION,
        "an enum primary key taken",
    );
    let found = client
        .query_one("SELECT id FROM t WHERE m = $1", &[&label("meh")])
        .await
        .unwrap();
    assert_eq!(found.get::<_, i32>(0), 3);

    // An array of the enum, in binary: the driver looks up `_mood` (its
    // typelem) and reads each element as a label.
    let array = client
        .query_one(
            "SELECT ARRAY['ok', 'sad']::mood[], $1::mood[]",
            &[&vec![label("meh")]],
        )
        .await
        .unwrap();
    assert_eq!(
        array.get::<_, Vec<Label>>(0),
        vec![label("ok"), label("sad")]
    );
    assert_eq!(array.get::<_, Vec<Label>>(1), vec![label("meh")]);
    let err = client
        .query_one("SELECT $1::mood[]", &[&vec![label("glad")]])
        .await;
    assert_sqlstate(
        err,
        &SqlState::INVALID_TEXT_REPRESENTATION,
        "a bad label in an array",
    );

    let before = vec![label("sad"), label("meh"), label("ok"), label("happy")];
    assert_eq!(labels_in_order(&client).await, before);

    // A block that commits a new label and one that rolls back another.
    client
        .batch_execute(
            "BEGIN; ALTER TYPE mood ADD VALUE 'awful' BEFORE 'sad';
             CREATE TYPE kept AS ENUM ('x'); COMMIT;
             BEGIN; ALTER TYPE mood ADD VALUE 'ecstatic';
             CREATE TYPE gone AS ENUM ('y'); ROLLBACK;
             INSERT INTO t VALUES ('awful', 7);",
        )
        .await
        .unwrap();

    drop(client);
    server.kill9();
    server.restart();
    let client = server.connect().await;
    let after = vec![
        label("awful"),
        label("sad"),
        label("meh"),
        label("ok"),
        label("happy"),
    ];
    assert_eq!(labels_in_order(&client).await, after);
    assert_eq!(
        rows_text(
            &client,
            "SELECT enumlabel FROM pg_enum WHERE enumtypid = 'mood'::regtype \
             ORDER BY enumsortorder"
        )
        .await,
        vec!["awful", "sad", "meh", "ok", "happy"]
    );
    assert_eq!(rows_text(&client, "SELECT 'x'::kept").await, vec!["x"]);
    let err = client.simple_query("SELECT 'y'::gone").await;
    assert_sqlstate(
        err,
        &SqlState::UNDEFINED_OBJECT,
        "a type whose block rolled back",
    );
    let err = client.simple_query("SELECT 'ecstatic'::mood").await;
    assert_sqlstate(
        err,
        &SqlState::INVALID_TEXT_REPRESENTATION,
        "a label whose block rolled back",
    );
    // The index and the key still find rows by label after recovery.
    assert_eq!(
        rows_text(&client, "SELECT m FROM t WHERE id = 3").await,
        vec!["meh"]
    );
    assert_eq!(
        rows_text(&client, "SELECT id FROM t WHERE m = 'ok'").await,
        vec!["4"]
    );
    // New labels keep going after a restart, and oids are not reused.
    client
        .batch_execute("ALTER TYPE mood ADD VALUE 'ecstatic'")
        .await
        .unwrap();
    assert_eq!(
        rows_text(
            &client,
            "SELECT count(DISTINCT oid), count(*) FROM \
             (SELECT oid FROM pg_enum UNION ALL SELECT oid FROM pg_type \
              WHERE typname IN ('mood', '_mood', 'kept', '_kept')) o"
        )
        .await,
        vec!["11|11"]
    );
    server.restart();
    let client = server.connect().await;
    assert_eq!(
        rows_text(&client, "SELECT enum_last(NULL::mood)").await,
        vec!["ecstatic"]
    );
}

/// COPY rows into columns of an enum type and of a domain: labels are
/// read, constraints checked, and a bad row leaves none of the COPY.
async fn copy_rows(
    client: &tessera_testkit::tokio_postgres::Client,
    rows: &str,
) -> Result<u64, tessera_testkit::tokio_postgres::Error> {
    use futures_util::SinkExt;
    let sink = client
        .copy_in::<_, std::io::Cursor<Vec<u8>>>("COPY stock FROM STDIN")
        .await?;
    futures_util::pin_mut!(sink);
    sink.send(std::io::Cursor::new(rows.as_bytes().to_vec()))
        .await?;
    sink.finish().await
}

#[tokio::test]
async fn domains_checked_on_every_write_and_kept_across_a_crash() {
    let mut server = TestServer::start_with_shards(2);
    if server.is_external() {
        eprintln!("skipping: needs process control of a spawned tessera");
        return;
    }
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TYPE grade AS ENUM ('low', 'high');
             CREATE DOMAIN posint AS int NOT NULL DEFAULT 1 CHECK (VALUE > 0);
             BEGIN; ALTER DOMAIN posint ADD CONSTRAINT small CHECK (VALUE < 100); COMMIT;
             CREATE TABLE stock (id int PRIMARY KEY, n posint, g grade);
             CREATE TABLE history (id int PRIMARY KEY, gs grade[]);
             CREATE INDEX history_gs ON history (gs);
             INSERT INTO history VALUES (1, '{high,low}'), (2, '{}'), (3, NULL);",
        )
        .await
        .unwrap_or_else(|e| panic!("setup: {e:?}"));
    assert_eq!(
        copy_rows(&client, "1\t5\thigh\n2\t7\tlow\n").await.unwrap(),
        2
    );
    let err = copy_rows(&client, "3\t5\thigh\n4\t0\tlow\n").await;
    assert_sqlstate(
        err,
        &SqlState::CHECK_VIOLATION,
        "COPY of a value the domain refuses",
    );
    let err = copy_rows(&client, "3\t5\tmiddle\n").await;
    assert_sqlstate(
        err,
        &SqlState::INVALID_TEXT_REPRESENTATION,
        "COPY of a bad label",
    );
    let err = copy_rows(&client, "3\t\\N\tlow\n").await;
    assert_sqlstate(
        err,
        &SqlState::NOT_NULL_VIOLATION,
        "COPY of NULL into a NOT NULL domain",
    );
    // A domain column is its base type on the wire (RowDescription).
    let statement = client.prepare("SELECT n FROM stock").await.unwrap();
    assert_eq!(statement.columns()[0].type_(), &Type::INT4);
    // Parameters are checked as the domain on INSERT and UPDATE.
    let insert = client
        .prepare("INSERT INTO stock (id, n) VALUES ($1, $2)")
        .await
        .unwrap();
    assert_eq!(insert.params()[1], Type::INT4);
    client.execute(&insert, &[&5, &50]).await.unwrap();
    let err = client.execute(&insert, &[&6, &500]).await;
    assert_sqlstate(
        err,
        &SqlState::CHECK_VIOLATION,
        "a parameter over the added check",
    );
    let err = client
        .execute("UPDATE stock SET n = n - 6 WHERE id = 1", &[])
        .await;
    assert_sqlstate(
        err,
        &SqlState::CHECK_VIOLATION,
        "UPDATE to a value the domain refuses",
    );

    drop(client);
    server.kill9();
    server.restart();
    let client = server.connect().await;
    assert_eq!(
        rows_text(&client, "SELECT id, n, g FROM stock ORDER BY id").await,
        vec!["1|5|high", "2|7|low", "5|50|NULL"]
    );
    // Arrays of an enum are logged with their element type and recovered.
    assert_eq!(
        rows_text(&client, "SELECT id, gs FROM history ORDER BY gs, id").await,
        vec!["2|{}", "1|{high,low}", "3|NULL"]
    );
    assert_eq!(
        rows_text(&client, "SELECT id FROM history WHERE gs = '{high,low}'").await,
        vec!["1"]
    );
    // The domain, its default and both checks survived.
    client
        .batch_execute("INSERT INTO stock (id) VALUES (7)")
        .await
        .unwrap();
    assert_eq!(
        rows_text(&client, "SELECT n FROM stock WHERE id = 7").await,
        vec!["1"]
    );
    let err = client.simple_query("SELECT 100::posint").await;
    assert_sqlstate(
        err,
        &SqlState::CHECK_VIOLATION,
        "the check added in a block",
    );
    let err = client.simple_query("SELECT 0::posint").await;
    assert_sqlstate(
        err,
        &SqlState::CHECK_VIOLATION,
        "the check made with the domain",
    );
    assert_eq!(
        rows_text(
            &client,
            "SELECT typtype, typnotnull, typdefault FROM pg_type WHERE typname = 'posint'"
        )
        .await,
        vec!["d|t|1"]
    );
}

/// The limits on what one type holds (`ENUM_LABELS_MAX`,
/// `DOMAIN_CHECKS_MAX`): past them CREATE and ALTER fail with 54000 and
/// change nothing.
#[tokio::test]
async fn enum_labels_and_domain_checks_are_limited() {
    const ENUM_LABELS_MAX: usize = 10_000;
    const DOMAIN_CHECKS_MAX: usize = 256;
    let server = TestServer::start();
    let client = server.connect().await;
    let labels = |n: usize| {
        (0..n)
            .map(|i| format!("'l{i}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let err = client
        .simple_query(&format!(
            "CREATE TYPE big AS ENUM ({})",
            labels(ENUM_LABELS_MAX + 1)
        ))
        .await;
    assert_sqlstate(err, &SqlState::PROGRAM_LIMIT_EXCEEDED, "one label too many");
    client
        .batch_execute(&format!(
            "CREATE TYPE big AS ENUM ({})",
            labels(ENUM_LABELS_MAX)
        ))
        .await
        .unwrap();
    let err = client
        .simple_query("ALTER TYPE big ADD VALUE 'one more'")
        .await;
    assert_sqlstate(
        err,
        &SqlState::PROGRAM_LIMIT_EXCEEDED,
        "ADD VALUE past the limit",
    );
    assert_eq!(
        rows_text(
            &client,
            "SELECT count(*), enum_last(NULL::big) FROM pg_enum WHERE enumtypid = 'big'::regtype"
        )
        .await,
        vec![format!("{ENUM_LABELS_MAX}|l{}", ENUM_LABELS_MAX - 1)]
    );

    let checks = |n: usize| {
        (0..n)
            .map(|i| format!("CHECK (VALUE <> {i})"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let err = client
        .simple_query(&format!(
            "CREATE DOMAIN d AS int {}",
            checks(DOMAIN_CHECKS_MAX + 1)
        ))
        .await;
    assert_sqlstate(err, &SqlState::PROGRAM_LIMIT_EXCEEDED, "one check too many");
    client
        .batch_execute(&format!(
            "CREATE DOMAIN d AS int {}",
            checks(DOMAIN_CHECKS_MAX)
        ))
        .await
        .unwrap();
    let err = client
        .simple_query("ALTER DOMAIN d ADD CHECK (VALUE > -5)")
        .await;
    assert_sqlstate(
        err,
        &SqlState::PROGRAM_LIMIT_EXCEEDED,
        "ADD CONSTRAINT past the limit",
    );
    let err = client.simple_query("SELECT 7::d").await;
    assert_sqlstate(err, &SqlState::CHECK_VIOLATION, "the 256 checks all apply");
    assert_eq!(rows_text(&client, "SELECT 300::d").await, vec!["300"]);
}
