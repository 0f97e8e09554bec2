//! The real `psql` 15's backslash commands (`\d`, `\d t`, `\d+ t`, `\dt`,
//! `\di`, `\dv`, `\ds`, `\dn`, `\du`, `\l`, `\l postgres`, `\df`) against the pg_catalog
//! relations: for the schema in `psql/schema.sql` (a primary key, a unique
//! constraint and a unique index, a secondary index, a foreign key, a
//! check, defaults, a serial column, a view, a sequence, a second schema)
//! each must print exactly what PostgreSQL 15 printed, saved in
//! `psql/<name>.out` by `scripts/psql-expect.sh`. Then writes to catalog
//! relations and unknown catalog columns fail as in PostgreSQL.
//!
//! Skips with a message only when no `psql` binary exists.

use std::path::{Path, PathBuf};
use std::process::Output;

use tessera_testkit::{find_program, TestServer};

fn psql(bin: &Path, server: &TestServer, args: &[&str]) -> Output {
    // The expected output is PostgreSQL's for its `postgres` database.
    tessera_testkit::client_command(bin, server, "postgres")
        .arg("-X")
        .args(args)
        .output()
        .expect("run psql")
}

fn expected_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("psql")
}

#[test]
fn backslash_commands_print_what_postgres_prints() {
    let Some(bin) = find_program("psql") else {
        eprintln!("skipping: psql not found (install postgresql-client-15)");
        return;
    };
    let server = TestServer::start();
    let dir = expected_dir();
    let schema = dir.join("schema.sql");
    let out = psql(
        &bin,
        &server,
        &[
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-f",
            schema.to_str().expect("utf-8 path"),
        ],
    );
    assert!(
        out.status.success(),
        "creating the schema failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let commands = std::fs::read_to_string(dir.join("commands.tsv")).expect("commands.tsv");
    let mut failures = Vec::new();
    for line in commands.lines().filter(|l| !l.is_empty()) {
        let (file, command) = line.split_once('\t').expect("file<TAB>command");
        let expected =
            std::fs::read_to_string(dir.join(format!("{file}.out"))).expect("expected output");
        let out = psql(&bin, &server, &["-c", command]);
        let got = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if got != expected {
            failures.push(format!(
                "{command}\n--- PostgreSQL 15\n{expected}--- Tessera\n{got}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn catalog_relations_refuse_writes_and_unknown_columns() {
    let Some(bin) = find_program("psql") else {
        eprintln!("skipping: psql not found (install postgresql-client-15)");
        return;
    };
    let server = TestServer::start();
    for (sql, error) in [
        (
            "INSERT INTO pg_catalog.pg_class (relname) VALUES ('x')",
            "ERROR:  permission denied for table pg_class",
        ),
        (
            "UPDATE pg_namespace SET nspname = 'x'",
            "ERROR:  permission denied for table pg_namespace",
        ),
        (
            "DELETE FROM pg_catalog.pg_attribute",
            "ERROR:  permission denied for table pg_attribute",
        ),
        (
            "SELECT relnope FROM pg_class",
            "ERROR:  column \"relnope\" does not exist",
        ),
        (
            "SELECT 'no_such_table'::regclass",
            "ERROR:  relation \"no_such_table\" does not exist",
        ),
    ] {
        let out = psql(&bin, &server, &["-v", "VERBOSITY=terse", "-c", sql]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{sql} succeeded");
        assert!(
            stderr.starts_with(error),
            "{sql}: expected {error:?}, got {stderr:?}"
        );
    }
}

/// The `+` forms print sizes (`pg_table_size`, `pg_relation_size`,
/// `pg_database_size`), which grow with the rows stored.
#[test]
fn plus_forms_print_sizes_that_grow_with_the_rows() {
    let Some(bin) = find_program("psql") else {
        eprintln!("skipping: psql not found (install postgresql-client-15)");
        return;
    };
    let server = TestServer::start();
    let run = |args: &[&str]| {
        let out = psql(&bin, &server, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&[
        "-c",
        "CREATE TABLE sized (id int PRIMARY KEY, v text); CREATE INDEX sized_v ON sized (v)",
    ]);
    let size = |what: &str| -> i64 {
        run(&["-A", "-t", "-c", &format!("SELECT {what}")])
            .trim()
            .parse()
            .expect("a size")
    };
    assert_eq!(size("pg_table_size('sized')"), 0);
    run(&[
        "-c",
        "INSERT INTO sized SELECT g, repeat('x', 200) FROM generate_series(1, 2000) g",
    ]);
    // The shards publish their sizes with their row counts, every few
    // hundred milliseconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while size("pg_table_size('sized')") < 2000 * 200 {
        assert!(std::time::Instant::now() < deadline, "the size never grew");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(size("pg_indexes_size('sized')") > 0);
    assert_eq!(
        size("pg_total_relation_size('sized')"),
        size("pg_table_size('sized') + pg_indexes_size('sized')")
    );
    assert_eq!(size("pg_relation_size('sized', 'fsm')"), 0);
    assert!(
        size("pg_database_size(current_database())") >= size("pg_total_relation_size('sized')")
    );
    for command in ["\\dt+ sized", "\\di+ sized_v", "\\l+"] {
        let out = run(&["-c", command]);
        assert!(out.contains(" kB"), "{command}: {out}");
    }
}
