//! SQLAlchemy 2 with the psycopg 3 dialect, unmodified against a two-shard
//! server: Core (`create_all` with its catalog queries, insert … returning,
//! executemany, select/update/delete expressions, errors), the reflection
//! Tessera's catalog answers, the ORM's unit of work with a relationship,
//! and the async engine. The program is `drivers/python/test_sqlalchemy.py`;
//! it passes against PostgreSQL 15 too (`TESSERA_TEST_EXTERNAL_PG`).

use tessera_testkit::drivers::{drivers_dir, python, run};
use tessera_testkit::TestServer;

#[test]
fn sqlalchemy() {
    let server = TestServer::start_with_shards(2);
    let out = run(
        &server,
        &drivers_dir().join("python"),
        &python(),
        &["test_sqlalchemy.py"],
    );
    assert!(out.ends_with("ok all\n"), "{out}");
}
