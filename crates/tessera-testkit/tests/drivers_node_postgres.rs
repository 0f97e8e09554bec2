//! postgres.js (`postgres`, the npm package pinned in `drivers/node`) works
//! against Tessera unmodified: `drivers/node/postgres_test.mjs` connects
//! (postgres.js reads the array types from pg_type on its first query),
//! runs tagged-template queries, `sql.unsafe`, DDL and DML with the
//! `sql(obj)` helpers, round-trips every supported type, rolls back a
//! `sql.begin` that throws and a `sql.savepoint`, checks SQLSTATEs with
//! named (`prepare: true`) and unnamed (`prepare: false`) statements,
//! reads 5,000 rows through a cursor and `forEach`, and gets NOTIFYs sent
//! with `sql.notify` (`pg_notify`) through `sql.listen`. Two shards.

use std::path::Path;

use tessera_testkit::{drivers, TestServer};

#[test]
fn node_postgres_js() {
    let server = TestServer::start_with_shards(2);
    let out = drivers::run(
        &server,
        &drivers::node_dir(),
        Path::new("node"),
        &["postgres_test.mjs"],
    );
    assert!(out.ends_with("done\n"), "the program stopped early:\n{out}");
}
