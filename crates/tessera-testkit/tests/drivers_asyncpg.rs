//! asyncpg, unmodified against a two-shard server: DDL, parameterised
//! DML, every supported type (binary), arrays, jsonb with its default and
//! a custom codec, numerics, timestamps with infinity, its type
//! introspection query, transactions with rollback, cursors, errors and
//! their SQLSTATE, prepared statements, and its pool with the reset it
//! runs on release. The program is `drivers/python/test_asyncpg.py`; it
//! passes against PostgreSQL 15 too (`TESSERA_TEST_EXTERNAL_PG`).

use tessera_testkit::drivers::{drivers_dir, python, run};
use tessera_testkit::TestServer;

#[test]
fn asyncpg() {
    let server = TestServer::start_with_shards(2);
    let out = run(
        &server,
        &drivers_dir().join("python"),
        &python(),
        &["test_asyncpg.py"],
    );
    assert!(out.ends_with("ok all\n"), "{out}");
}
