//! node-postgres (`pg`, the npm package pinned in `drivers/node`) works
//! against Tessera unmodified: `drivers/node/pg_test.mjs` connects with a
//! `Client` and a `Pool`, runs DDL, parameterised DML (unnamed extended
//! protocol), multi-statement simple queries and named prepared statements,
//! round-trips every supported type in text and in binary results, rolls a
//! transaction back, checks error SQLSTATEs and streams 10,000 rows. Two
//! shards, so that rows and transactions span shards.

use std::path::Path;

use tessera_testkit::{drivers, TestServer};

#[test]
fn node_postgres_pg() {
    let server = TestServer::start_with_shards(2);
    let out = drivers::run(
        &server,
        &drivers::node_dir(),
        Path::new("node"),
        &["pg_test.mjs"],
    );
    assert!(out.ends_with("done\n"), "the program stopped early:\n{out}");
}
