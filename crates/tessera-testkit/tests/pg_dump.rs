//! The real `pg_dump` 15 (and `pg_restore`) against Tessera: a database
//! with schemas, every column type, defaults, serial columns, sequences,
//! keys, CHECK and foreign-key constraints, indexes (DESC, unique), a view,
//! comments, an enum and a domain is dumped, the dump restored into a
//! fresh server with `psql -v ON_ERROR_STOP=1`, and both sides compared:
//! every table's rows, the sequences' next values and psql's `\d` of each
//! table. Schema-only (`-s`), data-only (`-a`), one table (`-t`) and the
//! custom format (`-Fc`, turned back into SQL by `pg_restore -f -`, and
//! restored by `pg_restore -d`) are restored too.
//!
//! Skips with a message only when `pg_dump`, `pg_restore` or `psql` is
//! missing; `scripts/test.sh` installs postgresql-client-15, which has them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tessera_testkit::{find_program, TestServer};

struct Tools {
    psql: PathBuf,
    pg_dump: PathBuf,
    pg_restore: PathBuf,
}

fn tools() -> Option<Tools> {
    let found = (
        find_program("psql"),
        find_program("pg_dump"),
        find_program("pg_restore"),
    );
    match found {
        (Some(psql), Some(pg_dump), Some(pg_restore)) => Some(Tools {
            psql,
            pg_dump,
            pg_restore,
        }),
        _ => {
            eprintln!(
                "skipping: psql, pg_dump or pg_restore not found (install postgresql-client-15)"
            );
            None
        }
    }
}

/// Runs a libpq client (`psql`, `pg_dump`) against `server` with `args`
/// after the connection options.
fn client(bin: &Path, server: &TestServer, args: &[&str]) -> Output {
    tessera_testkit::client_command(bin, server, server.dbname())
        .args(args)
        .output()
        .expect("run a PostgreSQL client")
}

/// A server holding the database [`SCHEMA`] makes.
fn source_server(t: &Tools) -> TestServer {
    let source = TestServer::start_with_shards(2);
    let out = client(
        &t.psql,
        &source,
        &["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", SCHEMA],
    );
    succeeded(out, "creating the database");
    source
}

#[track_caller]
fn succeeded(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed with {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// `psql -X -A -t -c sql`: its output.
#[track_caller]
fn query(t: &Tools, server: &TestServer, sql: &str) -> String {
    succeeded(client(&t.psql, server, &["-X", "-A", "-t", "-c", sql]), sql)
}

/// `pg_dump args`: the dump, as text (plain format) or bytes written to
/// the file its arguments name.
#[track_caller]
fn dump(t: &Tools, server: &TestServer, args: &[&str]) -> String {
    succeeded(client(&t.pg_dump, server, args), "pg_dump")
}

/// Restores SQL text into `server` with `psql -v ON_ERROR_STOP=1 -f`.
#[track_caller]
fn restore(t: &Tools, server: &TestServer, sql: &str, name: &str) {
    let path = std::env::temp_dir().join(format!(
        "tessera-pg_dump-{}-{}-{name}.sql",
        std::process::id(),
        server.port()
    ));
    std::fs::write(&path, sql).expect("write the dump");
    let out = client(
        &t.psql,
        server,
        &[
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-f",
            path.to_str().unwrap(),
        ],
    );
    let _ = std::fs::remove_file(&path);
    succeeded(out, &format!("restoring the {name} dump"));
}

const SCHEMA: &str = "
CREATE SCHEMA shop;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE SEQUENCE invoice_no START 100 INCREMENT 5;
CREATE TABLE customers (
  id serial PRIMARY KEY,
  email text NOT NULL UNIQUE,
  name varchar(40) DEFAULT 'anon',
  feeling mood,
  score posint,
  created timestamptz DEFAULT '2024-05-06 07:08:09+00'
);
CREATE TABLE shop.orders (
  id bigserial PRIMARY KEY,
  customer_id integer NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  total numeric(10,2) CHECK (total >= 0),
  note text,
  placed date,
  at_time time,
  ts timestamp,
  flag boolean DEFAULT false,
  ratio double precision,
  r4 real,
  small smallint,
  big bigint,
  ch char(3),
  data bytea,
  doc jsonb,
  js json,
  u uuid,
  tags text[],
  iv interval
);
CREATE INDEX orders_total_desc ON shop.orders (total DESC);
CREATE UNIQUE INDEX orders_note_placed ON shop.orders (note, placed);
CREATE TABLE shop.lines (
  order_id bigint REFERENCES shop.orders (id),
  n integer,
  qty integer NOT NULL DEFAULT 1 CHECK (qty > 0),
  PRIMARY KEY (order_id, n)
);
CREATE VIEW big_orders AS SELECT id, total FROM shop.orders WHERE total > 100;
COMMENT ON TABLE customers IS 'people who buy';
COMMENT ON COLUMN customers.email IS 'how they log in';
INSERT INTO customers (email, feeling, score) VALUES
  ('a@x', 'happy', 3), ('b@x', 'sad', 1), ('c''q@x', NULL, NULL);
INSERT INTO shop.orders (customer_id, total, note, placed, at_time, ts, flag, ratio, r4,
  small, big, ch, data, doc, js, u, tags, iv) VALUES
  (1, 150.5, E'tab\\tand\\nnewline \\\\ back', '2024-01-02', '10:11:12',
   '2024-01-02 03:04:05.25', true, 1.5e-7, 2.25, -7, 9007199254740993, 'abc',
   '\\xdeadbeef', '{\"a\": [1, 2]}', '{\"b\":1}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
   '{x,\"y z\",NULL}', '1 day 2 hours'),
  (2, 20, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL);
INSERT INTO shop.lines VALUES (1, 1, 2), (1, 2, 5), (2, 1, 1);
SELECT nextval('invoice_no'), nextval('invoice_no');
";

/// What must read the same on both sides of a dump and restore.
const COMPARED: &[&str] = &[
    "SELECT * FROM customers ORDER BY id",
    "SELECT * FROM shop.orders ORDER BY id",
    "SELECT * FROM shop.lines ORDER BY 1, 2",
    "SELECT * FROM big_orders ORDER BY id",
    "SELECT obj_description('customers'::regclass, 'pg_class'), \
     col_description('customers'::regclass, 2)",
    "SELECT enum_range(NULL::mood)",
];

/// The next values of the sequences (drawn: run once per server).
const NEXT_VALUES: &str = "SELECT nextval('invoice_no'), nextval('customers_id_seq'), \
     nextval('shop.orders_id_seq')";

/// psql's `\d` of each relation.
const DESCRIBED: &[&str] = &["customers", "shop.orders", "shop.lines", "big_orders"];

fn describe(t: &Tools, server: &TestServer, relation: &str) -> String {
    succeeded(
        client(&t.psql, server, &["-X", "-c", &format!("\\d {relation}")]),
        "\\d",
    )
}

#[test]
fn pg_dump_restores_into_a_fresh_server() {
    let Some(t) = tools() else { return };
    let source = source_server(&t);

    let plain = dump(&t, &source, &[]);
    assert!(plain.contains("CREATE TABLE shop.orders"), "{plain}");
    assert!(
        plain.contains("SELECT pg_catalog.setval('public.invoice_no', 105, true);"),
        "{plain}"
    );
    let target = TestServer::start_with_shards(2);
    restore(&t, &target, &plain, "plain");
    for sql in COMPARED {
        assert_eq!(query(&t, &source, sql), query(&t, &target, sql), "{sql}");
    }
    for relation in DESCRIBED {
        assert_eq!(
            describe(&t, &source, relation),
            describe(&t, &target, relation),
            "\\d {relation}"
        );
    }
    // The constraints came back and hold.
    for bad in [
        "INSERT INTO customers (email) VALUES ('a@x')",
        "INSERT INTO shop.orders (customer_id) VALUES (99)",
        "INSERT INTO shop.orders (customer_id, total) VALUES (1, -1)",
        "INSERT INTO customers (email, score) VALUES ('z@x', 0)",
    ] {
        let out = client(&t.psql, &target, &["-X", "-c", bad]);
        assert!(!out.status.success(), "{bad} was accepted");
    }
    // The sequences go on where the source's are (the refused inserts
    // drew one value each from customers_id_seq (two) and orders_id_seq
    // (two) on the target only, as in PostgreSQL).
    assert_eq!(query(&t, &source, NEXT_VALUES), "110|4|3\n");
    assert_eq!(query(&t, &target, NEXT_VALUES), "110|6|5\n");

    // A dump of the restored database is the same dump (but for the
    // random key of psql's \restrict line).
    let unkeyed = |dump: String| -> String {
        dump.lines()
            .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        unkeyed(dump(&t, &source, &["-s"])),
        unkeyed(dump(&t, &target, &["-s"]))
    );
}

#[test]
fn pg_dump_schema_only_data_only_one_table_and_custom_format() {
    let Some(t) = tools() else { return };
    let source = source_server(&t);

    // Schema, then data, into one server: the same rows.
    let schema = dump(&t, &source, &["-s"]);
    assert!(!schema.contains("COPY "), "{schema}");
    let data = dump(&t, &source, &["-a"]);
    assert!(!data.contains("CREATE TABLE"), "{data}");
    let split = TestServer::start_with_shards(2);
    restore(&t, &split, &schema, "schema-only");
    assert_eq!(query(&t, &split, "SELECT count(*) FROM customers"), "0\n");
    restore(&t, &split, &data, "data-only");
    for sql in COMPARED {
        assert_eq!(query(&t, &source, sql), query(&t, &split, sql), "{sql}");
    }

    // One table: it alone (with the sequence its column owns).
    let one = dump(&t, &source, &["-t", "customers"]);
    assert!(one.contains("CREATE TABLE public.customers"), "{one}");
    assert!(!one.contains("shop.orders"), "{one}");
    let single = TestServer::start_with_shards(1);
    restore(
        &t,
        &single,
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');\n\
         CREATE DOMAIN posint AS integer CHECK (VALUE > 0);",
        "types",
    );
    restore(&t, &single, &one, "one-table");
    let sql = "SELECT * FROM customers ORDER BY id";
    assert_eq!(query(&t, &source, sql), query(&t, &single, sql));
    assert_eq!(
        query(&t, &single, "SELECT to_regclass('shop.orders')"),
        "\n"
    );

    // INSERT statements instead of COPY (pg_dump reads `FROM ONLY t`).
    let inserts = dump(&t, &source, &["--column-inserts", "-a", "-t", "shop.lines"]);
    assert!(
        inserts.contains("INSERT INTO shop.lines (order_id, n, qty) VALUES (1, 2, 5);"),
        "{inserts}"
    );

    // The custom format: pg_restore lists it and turns it back into SQL.
    let file = std::env::temp_dir().join(format!(
        "tessera-pg_dump-{}-{}.dump",
        std::process::id(),
        source.port()
    ));
    dump(&t, &source, &["-Fc", "-f", file.to_str().unwrap()]);
    let listed = Command::new(&t.pg_restore)
        .args(["--list", file.to_str().unwrap()])
        .output()
        .expect("run pg_restore --list");
    let listed = succeeded(listed, "pg_restore --list");
    assert!(listed.contains("TABLE DATA shop orders"), "{listed}");
    assert!(
        listed.contains("SEQUENCE SET public invoice_no"),
        "{listed}"
    );
    let sql = Command::new(&t.pg_restore)
        .args(["-f", "-", file.to_str().unwrap()])
        .output()
        .expect("run pg_restore -f -");
    let sql = succeeded(sql, "pg_restore -f -");
    let custom = TestServer::start_with_shards(2);
    restore(&t, &custom, &sql, "custom-format");
    for sql in COMPARED {
        assert_eq!(query(&t, &source, sql), query(&t, &custom, sql), "{sql}");
    }
    // pg_restore straight into a server, entry by entry.
    let direct = TestServer::start_with_shards(2);
    let out = client(
        &t.pg_restore,
        &direct,
        &["--exit-on-error", file.to_str().unwrap()],
    );
    let _ = std::fs::remove_file(&file);
    succeeded(out, "pg_restore -d");
    for sql in COMPARED {
        assert_eq!(query(&t, &source, sql), query(&t, &direct, sql), "{sql}");
    }
}
