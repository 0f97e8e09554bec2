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
