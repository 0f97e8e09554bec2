//! psql's tab completion of table, schema-qualified and column names, typed
//! into the real psql through a pseudo-terminal
//! (`drivers/python/psql_completion.py`, which checks each completion and
//! was checked against PostgreSQL 15 in the same way).

use tessera_testkit::{drivers, find_program, TestServer};

#[test]
fn psql_completes_table_and_column_names() {
    let psql = find_program("psql").expect("psql (scripts/test.sh installs postgresql-client-15)");
    let python = find_program("python3").expect("python3");
    let server = TestServer::start_with_shards(2);
    let dir = drivers::drivers_dir().join("python");
    let out = drivers::run(
        &server,
        &dir,
        &python,
        &["psql_completion.py", psql.to_str().expect("a UTF-8 path")],
    );
    assert!(out.contains("all checks passed"), "{out}");
}
