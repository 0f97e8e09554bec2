//! psycopg 3, sync and async, unmodified against a two-shard server:
//! DDL, parameterised DML, every supported type in text and binary format,
//! transactions with rollback, errors and their SQLSTATE, COPY in text and
//! binary, server-side prepared statements and `TypeInfo.fetch`. The
//! program is `drivers/python/test_psycopg.py`; it passes against
//! PostgreSQL 15 too (`TESSERA_TEST_EXTERNAL_PG`).

use tessera_testkit::drivers::{drivers_dir, python, run};
use tessera_testkit::TestServer;

#[test]
fn psycopg() {
    let server = TestServer::start_with_shards(2);
    let out = run(
        &server,
        &drivers_dir().join("python"),
        &python(),
        &["test_psycopg.py"],
    );
    assert!(out.ends_with("ok all\n"), "{out}");
}
