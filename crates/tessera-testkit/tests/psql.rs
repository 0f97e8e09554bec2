//! The real `psql` (libpq: SSLRequest first, then startup) against the
//! server: command tags, text output in unaligned and aligned formats (psql
//! right-aligns columns by their type oid), multi-statement strings, scripts,
//! and errors with a non-zero exit status.
//!
//! Skips with a message only when no `psql` binary exists; `scripts/test.sh`
//! installs it, so CI always runs these.

use std::path::{Path, PathBuf};
use std::process::Output;

use tessera_testkit::{find_program, TestServer};

fn psql_binary() -> Option<PathBuf> {
    let found = find_program("psql");
    if found.is_none() {
        eprintln!("skipping: psql not found (install postgresql-client-15)");
    }
    found
}

/// Runs psql against `server` with `args` after the connection options.
fn psql(bin: &Path, server: &TestServer, args: &[&str]) -> Output {
    tessera_testkit::client_command(bin, server, server.dbname())
        .arg("-X")
        .args(args)
        .output()
        .expect("run psql")
}

/// Runs `psql -A -t -c sql`, asserts success, returns stdout.
#[track_caller]
fn psql_ok(bin: &Path, server: &TestServer, sql: &str) -> String {
    let out = psql(bin, server, &["-A", "-t", "-c", sql]);
    assert!(
        out.status.success(),
        "psql -c {sql:?} failed with {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("psql output is UTF-8")
}

#[test]
fn psql_create_insert_select() {
    let Some(bin) = psql_binary() else { return };
    let server = TestServer::start();

    assert_eq!(
        psql_ok(
            &bin,
            &server,
            "CREATE TABLE pt (id integer PRIMARY KEY, name text, price numeric(6,2), ok boolean)"
        ),
        "CREATE TABLE\n"
    );
    assert_eq!(
        psql_ok(
            &bin,
            &server,
            "INSERT INTO pt VALUES (1, 'a', 1.5, true), (2, NULL, NULL, false)"
        ),
        "INSERT 0 2\n"
    );
    assert_eq!(
        psql_ok(&bin, &server, "SELECT * FROM pt ORDER BY id"),
        "1|a|1.50|t\n2|||f\n"
    );
    assert_eq!(
        psql_ok(&bin, &server, "SELECT count(*), sum(price) FROM pt"),
        "2|1.50\n"
    );

    // Aligned output with headers: psql right-aligns numeric types.
    let out = psql(&bin, &server, &["-c", "SELECT * FROM pt ORDER BY id"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        " id | name | price | ok \n\
         ----+------+-------+----\n  \
         1 | a    |  1.50 | t\n  \
         2 |      |       | f\n\
         (2 rows)\n\n"
    );

    // Several statements in one -c string: psql 15 prints every result.
    assert_eq!(
        psql_ok(
            &bin,
            &server,
            "INSERT INTO pt VALUES (3, 'c', 3, true); SELECT count(*) FROM pt; SELECT name FROM pt WHERE id = 3"
        ),
        "INSERT 0 1\n3\nc\n"
    );
    assert_eq!(
        psql_ok(&bin, &server, "UPDATE pt SET name = 'b' WHERE id = 2"),
        "UPDATE 1\n"
    );
    assert_eq!(
        psql_ok(&bin, &server, "DELETE FROM pt WHERE id >= 3"),
        "DELETE 1\n"
    );
    assert_eq!(
        psql_ok(&bin, &server, "SELECT name FROM pt ORDER BY id"),
        "a\nb\n"
    );
    assert_eq!(psql_ok(&bin, &server, "DROP TABLE pt"), "DROP TABLE\n");
}

#[test]
fn psql_script_stops_at_first_error() {
    let Some(bin) = psql_binary() else { return };
    let server = TestServer::start();
    let dir = std::env::temp_dir().join(format!(
        "tessera-psql-{}-{}",
        std::process::id(),
        server.port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("script.sql");
    std::fs::write(
        &script,
        "CREATE TABLE s (id integer PRIMARY KEY, v text);\n\
         INSERT INTO s VALUES (1, 'one'), (2, 'two');\n\
         SELECT v FROM s ORDER BY id;\n\
         SELECT 1/0;\n\
         INSERT INTO s VALUES (3, 'not reached');\n",
    )
    .unwrap();
    let out = psql(
        &bin,
        &server,
        &[
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-f",
            script.to_str().unwrap(),
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "psql exits 3 when a script fails; stderr: {stderr}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "CREATE TABLE\nINSERT 0 2\none\ntwo\n"
    );
    assert!(
        stderr.contains("ERROR:  division by zero"),
        "stderr: {stderr}"
    );
    assert_eq!(psql_ok(&bin, &server, "SELECT count(*) FROM s"), "2\n");
}

#[test]
fn psql_reports_errors_with_exit_status() {
    let Some(bin) = psql_binary() else { return };
    let server = TestServer::start();

    let out = psql(&bin, &server, &["-A", "-t", "-c", "select 1/0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "select 1/0 should fail: {out:?}");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("division by zero"), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "stdout: {:?}", out.stdout);

    let out = psql(&bin, &server, &["-A", "-t", "-c", "SELECT * FROM nowhere"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("ERROR:") && stderr.contains("nowhere"),
        "stderr: {stderr}"
    );

    // VERBOSITY verbose prints the SQLSTATE.
    let out = psql(
        &bin,
        &server,
        &[
            "-A",
            "-t",
            "-v",
            "VERBOSITY=verbose",
            "-c",
            "SELECT 'abc'::integer",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("ERROR:  22P02"), "stderr: {stderr}");

    // The server is fine afterwards.
    assert_eq!(psql_ok(&bin, &server, "SELECT 1 + 1"), "2\n");
}

/// A plain `pg_dump` of a PostgreSQL 15 database (`psql/pg_dump_restore.sql`:
/// two tables with a serial and a bigserial key, a UNIQUE constraint, an
/// index, a CHECK, a foreign key, a view, a sequence, a comment) restores
/// through psql with ON_ERROR_STOP: pg_dump's settings, OWNER TO, the
/// sequences, COPY, setval, then the keys and constraints added after the
/// rows (a primary key on a table that already has a UNIQUE constraint).
/// Then, and after a restart, the rows, the sequences and the constraints
/// are there and enforced.
#[test]
fn psql_restores_a_pg_dump() {
    let Some(bin) = psql_binary() else { return };
    let mut server = TestServer::start_with_shards(2);
    let dump =
        tessera_testkit::workspace_root().join("crates/tessera-testkit/psql/pg_dump_restore.sql");
    let out = psql(
        &bin,
        &server,
        &["-q", "-v", "ON_ERROR_STOP=1", "-f", dump.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "restore failed with {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for round in 0..2 {
        assert_eq!(
            psql_ok(&bin, &server, "SELECT count(*), sum(id) FROM customers"),
            "50|1275\n",
            "round {round}"
        );
        assert_eq!(
            psql_ok(&bin, &server, "SELECT count(*), sum(total) FROM orders"),
            "200|70350.00\n"
        );
        assert_eq!(
            psql_ok(
                &bin,
                &server,
                "SELECT conname, contype FROM pg_constraint WHERE conrelid IN \
                 ('customers'::regclass, 'orders'::regclass) ORDER BY 1"
            ),
            "customers_email_key|u\ncustomers_pkey|p\norders_customer_id_fkey|f\n\
             orders_pkey|p\norders_total_check|c\n"
        );
        assert_eq!(
            psql_ok(&bin, &server, "SELECT count(*) FROM big_orders"),
            "172\n"
        );
        // Constraints hold.
        for bad in [
            "INSERT INTO customers (email) VALUES ('c1@x')",
            "INSERT INTO orders (customer_id, total) VALUES (999, 1)",
            "INSERT INTO orders (customer_id, total) VALUES (1, -1)",
            "INSERT INTO customers (id, email) VALUES (1, 'new@x')",
        ] {
            let out = psql(&bin, &server, &["-A", "-t", "-c", bad]);
            assert_eq!(out.status.code(), Some(1), "{bad} was accepted");
        }
        if round == 0 {
            server.restart();
        }
    }
    // The sequences go on where the dump left them (the refused inserts
    // above drew a value each, as in PostgreSQL).
    assert_eq!(
        psql_ok(
            &bin,
            &server,
            "SELECT nextval('invoice_no'), nextval('customers_id_seq'), nextval('orders_id_seq')"
        ),
        "1001|53|205\n"
    );
}
