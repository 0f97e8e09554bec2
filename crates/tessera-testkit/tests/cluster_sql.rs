//! Any node, any query: PostgreSQL clients on every node of a cluster
//! read and write the same tables, whose rows live on the shards the
//! bucket map names (all the founder's until buckets move). Statements
//! from the other nodes reach them over the internal port, and their
//! transactions commit with the same two-phase commit.

use tessera_testkit::cluster::TestCluster;
use tessera_testkit::{rows_text, try_rows_text};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

async fn connect_all(cluster: &TestCluster) -> Vec<Client> {
    let mut clients = Vec::new();
    for node in &cluster.nodes {
        clients.push(node.connect().await);
    }
    clients
}

/// Moves one unit between accounts `from` and `to` in a block, retrying
/// what PostgreSQL's clients retry (serialization failures, deadlocks).
async fn transfer(client: &Client, from: i32, to: i32) {
    for _ in 0..50 {
        let sql = format!(
            "BEGIN; UPDATE accounts SET balance = balance - 1 WHERE id = {from}; \
             UPDATE accounts SET balance = balance + 1 WHERE id = {to}; COMMIT"
        );
        match client.batch_execute(&sql).await {
            Ok(()) => return,
            Err(e) => {
                client.batch_execute("ROLLBACK").await.unwrap();
                let code = e.code().map(|c| c.code().to_string());
                assert!(
                    matches!(code.as_deref(), Some("40001" | "40P01")),
                    "transfer {from} -> {to}: {e}"
                );
            }
        }
    }
    panic!("transfer {from} -> {to} never went through");
}

/// Every node sees the 200 accounts and the money they started with.
async fn all_accounts_everywhere(clients: &[Client]) {
    for client in clients {
        assert_eq!(
            rows_text(client, "SELECT count(*), sum(balance) FROM accounts").await,
            ["200|20000"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_reads_and_writes_the_same_tables() {
    let mut cluster = TestCluster::start(3, 2, &["--rebalance=false"]);
    let founder = cluster.founder().await;
    let others: Vec<usize> = (0..3).filter(|n| *n != founder).collect();
    let c = connect_all(&cluster).await;

    // Tables made on one node, filled from another.
    c[others[0]]
        .batch_execute(
            "CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance int); \
             CREATE TABLE notes (body text)",
        )
        .await
        .unwrap();
    c[others[1]]
        .batch_execute(
            "INSERT INTO accounts SELECT g, 'o' || g % 7, 100 FROM generate_series(1, 200) g",
        )
        .await
        .unwrap();
    for (n, client) in c.iter().enumerate() {
        client
            .execute("INSERT INTO notes VALUES ($1)", &[&format!("from {n}")])
            .await
            .unwrap();
    }
    all_accounts_everywhere(&c).await;
    for client in &c {
        assert_eq!(
            rows_text(client, "SELECT body FROM notes ORDER BY body").await,
            ["from 0", "from 1", "from 2"]
        );
        assert_eq!(
            rows_text(
                client,
                "SELECT owner, count(*) FROM accounts WHERE id <= 14 GROUP BY owner ORDER BY owner LIMIT 2"
            )
            .await,
            ["o0|2", "o1|2"]
        );
    }

    // Transfers in blocks from every node at once, across shards: every
    // one lands whole.
    let transfers = c.iter().enumerate().map(|(n, client)| async move {
        for i in 0..15 {
            let from = 1 + (n as i32 * 37 + i * 11) % 200;
            let to = 1 + (n as i32 * 53 + i * 29 + 100) % 200;
            if from != to {
                transfer(client, from, to).await;
            }
        }
    });
    tessera_testkit::cluster::join_all(transfers.collect()).await;
    // A statement over many shards from another node: two-phase, decided
    // on a participant's shard.
    let updated = c[others[1]]
        .execute(
            "UPDATE accounts SET balance = balance + 1 WHERE id <= 50",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(updated, 50);
    c[others[0]]
        .batch_execute("UPDATE accounts SET balance = balance - 1 WHERE id <= 50")
        .await
        .unwrap();
    all_accounts_everywhere(&c).await;

    // A rolled back block from another node leaves nothing.
    c[others[0]]
        .batch_execute("BEGIN; DELETE FROM accounts WHERE id > 10; ROLLBACK")
        .await
        .unwrap();
    assert_eq!(
        rows_text(&c[founder], "SELECT count(*) FROM accounts").await,
        ["200"]
    );

    // A block that changed the catalog has a catalog only its node has:
    // it cannot write rows on another node yet, says so, and nothing of
    // it stays.
    c[others[1]]
        .batch_execute("BEGIN; CREATE TABLE scratch (x int PRIMARY KEY)")
        .await
        .unwrap();
    let e = c[others[1]]
        .batch_execute("INSERT INTO scratch VALUES (1)")
        .await
        .unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("0A000"), "{e}");
    c[others[1]].batch_execute("ROLLBACK").await.unwrap();
    assert!(try_rows_text(&c[founder], "SELECT * FROM scratch")
        .await
        .is_err());
    // One whose catalog changes came to nothing commits its rows on the
    // founder's shards as any block does.
    c[others[1]]
        .batch_execute(
            "BEGIN; CREATE TABLE IF NOT EXISTS notes (body text); \
             INSERT INTO notes VALUES ('in a block'); COMMIT",
        )
        .await
        .unwrap();
    assert_eq!(
        rows_text(
            &c[founder],
            "SELECT count(*) FROM notes WHERE body = 'in a block'"
        )
        .await,
        ["1"]
    );
    c[founder]
        .batch_execute("DELETE FROM notes WHERE body = 'in a block'")
        .await
        .unwrap();

    // A full restart: the same rows, seen from every node.
    drop(c);
    cluster.restart_all();
    let c = connect_all(&cluster).await;
    all_accounts_everywhere(&c).await;
    for client in &c {
        assert_eq!(rows_text(client, "SELECT count(*) FROM notes").await, ["3"]);
    }
    c[others[1]]
        .batch_execute("INSERT INTO notes VALUES ('after the restart')")
        .await
        .unwrap();
    assert_eq!(
        rows_text(&c[founder], "SELECT count(*) FROM notes").await,
        ["4"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_open_blocks_release_their_rows() {
    let mut cluster = TestCluster::start(2, 2, &["--rebalance=false"]);
    let founder = cluster.founder().await;
    let other = 1 - founder;
    let owner = cluster.nodes[founder].connect().await;
    owner
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, v text); \
             INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 20) g",
        )
        .await
        .unwrap();
    // A block on the other node writes rows on the founder's shards, then
    // its node dies with the block open.
    let (client, _connection) = cluster.nodes[other].connect_with_task().await;
    client
        .batch_execute("BEGIN; UPDATE t SET v = 'held' WHERE id <= 10")
        .await
        .unwrap();
    cluster.nodes[other].kill9();
    // Its rows are free again: the lost connection rolled the block back.
    owner
        .batch_execute("SET lock_timeout = '20s'; UPDATE t SET v = 'after' WHERE id <= 10")
        .await
        .expect("the dead node's block no longer holds the rows");
    assert_eq!(
        rows_text(&owner, "SELECT count(*) FROM t WHERE v = 'after'").await,
        ["10"]
    );
    assert_eq!(
        rows_text(&owner, "SELECT count(*) FROM t WHERE v = 'held'").await,
        ["0"]
    );
}

/// Inserts `rows` rows with serial keys from one node: one by one outside
/// a block, then in blocks of five, retrying a block that fails with a
/// serialization failure as clients do. Returns the `nextval` values it
/// also drew.
async fn insert_and_draw(client: &Client, node: i32, rows: usize) -> Vec<i64> {
    let insert = client
        .prepare("INSERT INTO items (node) VALUES ($1)")
        .await
        .unwrap();
    for _ in 0..rows / 2 {
        client.execute(&insert, &[&node]).await.unwrap();
    }
    let mut blocks = 0;
    while blocks < rows / 10 {
        let sql = format!(
            "BEGIN; INSERT INTO items (node) SELECT {node} FROM generate_series(1, 5); COMMIT"
        );
        match client.batch_execute(&sql).await {
            Ok(()) => blocks += 1,
            Err(e) => {
                client.batch_execute("ROLLBACK").await.unwrap();
                assert_eq!(e.code().map(|c| c.code()), Some("40001"), "{e}");
            }
        }
    }
    let mut drawn = Vec::new();
    for _ in 0..50 {
        let row = client.query_one("SELECT nextval('s')", &[]).await.unwrap();
        drawn.push(row.get::<_, i64>(0));
    }
    drawn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequences_hand_out_each_value_once_across_nodes() {
    let mut cluster = TestCluster::start(3, 1, &[]);
    let c = connect_all(&cluster).await;
    c[1].batch_execute("CREATE TABLE items (id serial PRIMARY KEY, node int); CREATE SEQUENCE s")
        .await
        .unwrap();

    // Every node draws from both at once.
    let drawn = tessera_testkit::cluster::join_all(
        c.iter()
            .enumerate()
            .map(|(n, client)| insert_and_draw(client, n as i32, 200))
            .collect(),
    )
    .await;
    let mut all: Vec<i64> = drawn.into_iter().flatten().collect();
    let count = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), count, "a nextval value was handed out twice");
    for client in &c {
        assert_eq!(
            rows_text(client, "SELECT count(*), count(DISTINCT id) FROM items").await,
            ["600|600"]
        );
    }

    // setval on one node: every node goes on from it.
    c[0].batch_execute("SELECT setval('s', 100000)")
        .await
        .unwrap();
    for client in &c[1..] {
        let v: i64 = client
            .query_one("SELECT nextval('s')", &[])
            .await
            .unwrap()
            .get(0);
        assert!(
            v > 100000,
            "nextval after setval(100000) on another node: {v}"
        );
    }

    // After a full restart, no node hands out a value it handed out before.
    let before: i64 = rows_text(&c[0], "SELECT max(id) FROM items").await[0]
        .parse()
        .unwrap();
    drop(c);
    cluster.restart_all();
    let c = connect_all(&cluster).await;
    for (n, client) in c.iter().enumerate() {
        client
            .execute("INSERT INTO items (node) VALUES ($1)", &[&(n as i32)])
            .await
            .unwrap();
        let v: i64 = client
            .query_one("SELECT nextval('s')", &[])
            .await
            .unwrap()
            .get(0);
        assert!(v > 100000, "nextval after a restart: {v}");
    }
    assert_eq!(
        rows_text(
            &c[2],
            &format!("SELECT count(*), count(DISTINCT id) FROM items WHERE id > {before}")
        )
        .await,
        ["3|3"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_results_larger_than_a_frame_cross_nodes() {
    let cluster = TestCluster::start(2, 1, &["--rebalance=false"]);
    let founder = cluster.founder().await;
    let other = cluster.nodes[1 - founder].connect().await;
    // About 72 MB of rows (past the 64 MiB a frame holds) go to the
    // founder's shard in one request…
    other
        .batch_execute(
            "CREATE TABLE wide (id int PRIMARY KEY, body text); \
             INSERT INTO wide SELECT g, repeat(chr(65 + g % 26), 2000) FROM generate_series(1, 36000) g",
        )
        .await
        .unwrap();
    // …and come back in one result.
    let rows = other
        .query("SELECT id, body FROM wide ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 36000);
    let total: usize = rows.iter().map(|r| r.get::<_, &str>(1).len()).sum();
    assert_eq!(total, 36000 * 2000);
    // Row 36000: chr(65 + 36000 % 26), a 'Q'.
    let last: &str = rows[35999].get(1);
    assert!(last.starts_with(&"Q".repeat(10)), "{}", &last[..10]);
    assert_eq!(
        rows_text(&other, "SELECT count(*), sum(length(body)) FROM wide").await,
        ["36000|72000000"]
    );
}

/// The SQLSTATE of a statement that must fail.
async fn failure_code(client: &Client, sql: &str) -> String {
    let e = client.batch_execute(sql).await.expect_err(sql);
    e.code()
        .map_or_else(|| e.to_string(), |c| c.code().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_tables_are_read_locally_and_written_through_the_log() {
    let mut cluster = TestCluster::start(3, 2, &["--rebalance=false"]);
    let founder = cluster.founder().await;
    let others: Vec<usize> = (0..3).filter(|n| *n != founder).collect();
    let c = connect_all(&cluster).await;
    c[others[0]]
        .batch_execute(
            "CREATE TABLE countries (code text PRIMARY KEY, name text NOT NULL) DISTRIBUTED GLOBALLY; \
             CREATE TABLE counters (id int PRIMARY KEY, v int) DISTRIBUTED GLOBALLY; \
             CREATE TABLE orders (id int PRIMARY KEY, country text, amount int)",
        )
        .await
        .unwrap();
    c[others[1]]
        .batch_execute(
            "INSERT INTO countries VALUES ('fr', 'France'), ('de', 'Germany'), ('it', 'Italy'); \
             INSERT INTO counters VALUES (1, 0), (2, 0)",
        )
        .await
        .unwrap();
    c[founder]
        .batch_execute(
            "INSERT INTO orders SELECT g, (ARRAY['fr', 'de', 'it'])[1 + g % 3], g FROM generate_series(1, 99) g",
        )
        .await
        .unwrap();
    // Every node joins its own copy with the sharded rows.
    let join = "SELECT c.name, count(*), sum(o.amount) FROM orders o JOIN countries c ON c.code = o.country GROUP BY 1 ORDER BY 1";
    let expected = ["France|33|1683", "Germany|33|1617", "Italy|33|1650"];
    for client in &c {
        assert_eq!(rows_text(client, join).await, expected);
        let plan = rows_text(client, "EXPLAIN SELECT * FROM countries").await;
        assert!(plan.iter().any(|l| l.contains("global table")), "{plan:?}");
    }

    // Increments from every node at once: none is lost, and once each
    // statement returns every node has it.
    let increments = c.iter().flat_map(|client| {
        (0..2).map(move |task| async move {
            for i in 0..25 {
                let id = 1 + (task + i) % 2;
                client
                    .execute("UPDATE counters SET v = v + 1 WHERE id = $1", &[&id])
                    .await
                    .unwrap();
            }
        })
    });
    tessera_testkit::cluster::join_all(increments.collect()).await;
    for client in &c {
        assert_eq!(
            rows_text(
                client,
                "SELECT string_agg(v::text, ',' ORDER BY id) FROM counters"
            )
            .await,
            ["75,75"]
        );
    }

    // Blocks that write global tables: they see their own writes, commit
    // through the log (every node has the rows when COMMIT returns), or
    // roll back leaving nothing.
    let other = &c[others[0]];
    other
        .batch_execute(
            "BEGIN; INSERT INTO countries VALUES ('es', 'Spain');              UPDATE countries SET name = name || '!' WHERE code IN ('fr', 'es')",
        )
        .await
        .unwrap();
    assert_eq!(
        rows_text(other, "SELECT name FROM countries WHERE code = 'es'").await,
        ["Spain!"]
    );
    other.batch_execute("COMMIT").await.unwrap();
    other
        .batch_execute("BEGIN; DELETE FROM countries WHERE code = 'de'; ROLLBACK")
        .await
        .unwrap();
    for client in &c {
        assert_eq!(
            rows_text(
                client,
                "SELECT string_agg(code || ':' || name, ',' ORDER BY code) FROM countries"
            )
            .await,
            ["de:Germany,es:Spain!,fr:France!,it:Italy"]
        );
    }
    // Two blocks on two nodes change one row: the second to commit finds
    // it changed (40001), as at REPEATABLE READ in PostgreSQL.
    let (a, b) = (&c[others[0]], &c[others[1]]);
    a.batch_execute("BEGIN; UPDATE counters SET v = v + 10 WHERE id = 1")
        .await
        .unwrap();
    b.batch_execute("BEGIN; UPDATE counters SET v = v + 100 WHERE id = 1")
        .await
        .unwrap();
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(failure_code(b, "COMMIT").await, "40001");
    for client in &c {
        assert_eq!(
            rows_text(client, "SELECT v FROM counters WHERE id = 1").await,
            ["85"]
        );
    }
    // A block left open on a row another node changes holds back neither
    // its node's copy nor that node's other writes; it fails at COMMIT.
    a.batch_execute("BEGIN; UPDATE counters SET v = v + 1 WHERE id = 2")
        .await
        .unwrap();
    b.batch_execute("UPDATE counters SET v = v + 5 WHERE id = 2")
        .await
        .unwrap();
    let a2 = cluster.nodes[others[0]].connect().await;
    a2.batch_execute("UPDATE counters SET v = v + 1 WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(
        rows_text(
            &a2,
            "SELECT string_agg(v::text, ',' ORDER BY id) FROM counters"
        )
        .await,
        ["86,80"]
    );
    assert_eq!(failure_code(a, "COMMIT").await, "40001");
    a.batch_execute(
        "UPDATE counters SET v = v - 5 WHERE id = 2; UPDATE counters SET v = v - 1 WHERE id = 1",
    )
    .await
    .unwrap();
    a.batch_execute("UPDATE counters SET v = v - 10 WHERE id = 1; UPDATE countries SET name = 'Spain' WHERE code = 'es'; UPDATE countries SET name = 'France' WHERE code = 'fr'")
        .await
        .unwrap();

    // What is not done yet is refused, and leaves nothing behind: a block
    // writing global and other tables, either way round, and a
    // SERIALIZABLE one.
    other.batch_execute("BEGIN").await.unwrap();
    other
        .batch_execute("UPDATE countries SET name = 'x' WHERE code = 'fr'")
        .await
        .unwrap();
    assert_eq!(
        failure_code(other, "UPDATE orders SET amount = 0 WHERE id = 1").await,
        "0A000"
    );
    other.batch_execute("ROLLBACK").await.unwrap();
    other.batch_execute("BEGIN").await.unwrap();
    other
        .batch_execute("UPDATE orders SET amount = 0 WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(
        failure_code(other, "UPDATE countries SET name = 'x' WHERE code = 'fr'").await,
        "0A000"
    );
    other.batch_execute("ROLLBACK").await.unwrap();
    other
        .batch_execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
        .await
        .unwrap();
    assert_eq!(
        failure_code(other, "UPDATE countries SET name = 'x'").await,
        "0A000"
    );
    other.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        rows_text(other, "SELECT name FROM countries WHERE code = 'fr'").await,
        ["France"]
    );
    assert_eq!(
        failure_code(
            other,
            "WITH o AS (UPDATE orders SET amount = 0 WHERE id = 1 RETURNING id) \
             UPDATE countries SET name = 'x' WHERE code IN (SELECT 'fr' FROM o)",
        )
        .await,
        "0A000"
    );
    other.batch_execute("BEGIN").await.unwrap();
    assert_eq!(
        failure_code(other, "CREATE INDEX ON countries (name)").await,
        "0A000"
    );
    other.batch_execute("ROLLBACK").await.unwrap();
    // An index of a global table: every node's copy has its entries, and
    // keeps them as rows change.
    other
        .batch_execute("CREATE INDEX countries_name ON countries (name)")
        .await
        .unwrap();
    c[founder]
        .batch_execute("UPDATE countries SET name = 'Deutschland' WHERE code = 'de'")
        .await
        .unwrap();
    for client in &c {
        let plan = rows_text(
            client,
            "EXPLAIN SELECT code FROM countries WHERE name = 'Deutschland'",
        )
        .await;
        assert!(
            plan[0].contains("Index Scan using countries_name"),
            "{plan:?}"
        );
        assert_eq!(
            rows_text(
                client,
                "SELECT code FROM countries WHERE name = 'Deutschland'"
            )
            .await,
            ["de"]
        );
        assert!(
            rows_text(client, "SELECT code FROM countries WHERE name = 'Germany'")
                .await
                .is_empty()
        );
    }
    c[founder]
        .batch_execute("UPDATE countries SET name = 'Germany' WHERE code = 'de'")
        .await
        .unwrap();
    assert_eq!(
        rows_text(other, "SELECT amount FROM orders WHERE id = 1").await,
        ["1"]
    );

    // A node that was down for a write applies it when it comes back.
    let late = others[1];
    cluster.nodes[late].terminate();
    for sql in [
        "DELETE FROM countries WHERE code = 'it'",
        "ALTER TABLE countries ADD COLUMN euro boolean DEFAULT true",
        "INSERT INTO countries VALUES ('ch', 'Switzerland', false)",
    ] {
        c[founder].batch_execute(sql).await.unwrap();
    }
    cluster.nodes[late].restart();
    let everything =
        "SELECT string_agg(code || ':' || name || ':' || euro, ',' ORDER BY code) FROM countries";
    let now = ["ch:Switzerland:false,de:Germany:true,es:Spain:true,fr:France:true"];
    let late_client = cluster.nodes[late].connect().await;
    assert_eq!(rows_text(&late_client, everything).await, now);
    let by_name = "SELECT code FROM countries WHERE name IN ('Switzerland', 'Italy', 'Germany') ORDER BY code";
    assert_eq!(rows_text(&late_client, by_name).await, ["ch", "de"]);

    // And after a restart of the whole cluster, every node has them.
    drop((c, late_client));
    cluster.restart_all();
    for node in &cluster.nodes {
        let client = node.connect().await;
        assert_eq!(rows_text(&client, everything).await, now);
        assert_eq!(rows_text(&client, by_name).await, ["ch", "de"]);
        assert_eq!(
            rows_text(&client, "SELECT sum(v) FROM counters").await,
            ["150"]
        );
    }
}

/// Codes `from..to`, inserted from every node at once, each node giving
/// them rows of its own: how many inserts succeeded. Every other one must
/// have failed with 23505.
async fn race_for_codes(clients: &[Client], from: i32, to: i32) -> usize {
    let inserts = clients.iter().enumerate().map(|(n, client)| async move {
        let mut won = 0;
        for code in from..to {
            let id = n as i32 * 100_000 + code;
            match client
                .execute(
                    "INSERT INTO currencies VALUES ($1, $2, $3)",
                    &[&id, &format!("c{code}"), &format!("node {n} code {code}")],
                )
                .await
            {
                Ok(_) => won += 1,
                Err(e) => assert_eq!(
                    e.code(),
                    Some(&SqlState::UNIQUE_VIOLATION),
                    "code {code} from node {n}: {e:?}"
                ),
            }
        }
        won
    });
    futures_util::future::join_all(inserts)
        .await
        .into_iter()
        .sum()
}

/// UNIQUE constraints and unique indexes of global tables hold across the
/// nodes' copies (docs/CLUSTER.md §7): each node's copy refuses a value it
/// holds, and the entries in the cluster's tables refuse a value another
/// node's write took meanwhile, so of inserts racing from every node for
/// one value exactly one wins; a unique index made over rows with a
/// duplicate is refused and leaves nothing; all of it after a restart too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_values_of_a_global_table_hold_across_nodes() {
    let mut cluster = TestCluster::start(3, 1, &["--rebalance=false"]);
    let c = connect_all(&cluster).await;
    c[1].batch_execute(
        "CREATE TABLE currencies (id int PRIMARY KEY, code text UNIQUE, issuer text) DISTRIBUTED GLOBALLY",
    )
    .await
    .unwrap();
    assert_eq!(race_for_codes(&c, 0, 60).await, 60);
    let counts = "SELECT count(*), count(DISTINCT code) FROM currencies";
    for client in &c {
        assert_eq!(rows_text(client, counts).await, ["60|60"]);
    }
    // A value freed on one node is taken on another; NULLs do not count.
    c[0].batch_execute("UPDATE currencies SET code = 'gone' WHERE code = 'c7'")
        .await
        .unwrap();
    c[2].batch_execute(
        "INSERT INTO currencies VALUES (-7, 'c7', 'x'), (-8, NULL, 'x'), (-9, NULL, 'x')",
    )
    .await
    .unwrap();
    assert_eq!(
        failure_code(&c[1], "INSERT INTO currencies VALUES (-10, 'gone', 'x')").await,
        "23505"
    );

    // A unique index over rows with a duplicate is refused, and leaves no
    // index behind; once the rows differ, it is made and holds everywhere.
    let refused = c[2]
        .batch_execute("CREATE UNIQUE INDEX currencies_issuer ON currencies (issuer)")
        .await
        .unwrap_err();
    let db = refused.as_db_error().expect("a database error");
    assert_eq!(db.code(), &SqlState::UNIQUE_VIOLATION, "{db:?}");
    assert!(
        db.message().contains("could not create unique index"),
        "{db:?}"
    );
    for client in &c {
        assert_eq!(
            rows_text(
                client,
                "SELECT count(*) FROM pg_indexes WHERE indexname = 'currencies_issuer'"
            )
            .await,
            ["0"]
        );
    }
    c[2].batch_execute(
        "UPDATE currencies SET issuer = issuer || ' ' || id; \
         CREATE UNIQUE INDEX currencies_issuer ON currencies (issuer)",
    )
    .await
    .unwrap();
    assert_eq!(
        failure_code(&c[0], "INSERT INTO currencies VALUES (-11, 'new', 'x -7')").await,
        "23505"
    );
    // A column's change of type keeps the values' entries.
    for sql in [
        "CREATE TABLE nums (id int PRIMARY KEY, n int UNIQUE) DISTRIBUTED GLOBALLY",
        "INSERT INTO nums VALUES (1, 10), (2, 20)",
        "ALTER TABLE nums ALTER COLUMN n TYPE bigint",
        "UPDATE nums SET n = 11 WHERE id = 1",
        "DELETE FROM nums WHERE id = 2",
    ] {
        c[1].batch_execute(sql).await.unwrap();
    }
    c[2].batch_execute("INSERT INTO nums VALUES (3, 20)")
        .await
        .unwrap();
    assert_eq!(
        failure_code(&c[0], "INSERT INTO nums VALUES (4, 11)").await,
        "23505"
    );
    // UNIQUE in a block is not made yet.
    c[0].batch_execute("BEGIN").await.unwrap();
    assert_eq!(
        failure_code(
            &c[0],
            "CREATE TABLE later (id int PRIMARY KEY, v int UNIQUE) DISTRIBUTED GLOBALLY"
        )
        .await,
        "0A000"
    );
    c[0].batch_execute("ROLLBACK").await.unwrap();

    // After a restart of the whole cluster the values still hold.
    drop(c);
    cluster.restart_all();
    let c = connect_all(&cluster).await;
    assert_eq!(race_for_codes(&c, 50, 80).await, 20);
    let expected = rows_text(
        &c[0],
        "SELECT count(*), count(DISTINCT code), count(DISTINCT issuer) FROM currencies",
    )
    .await;
    assert_eq!(expected, ["83|81|83"]);
    for client in &c[1..] {
        assert_eq!(
            rows_text(
                client,
                "SELECT count(*), count(DISTINCT code), count(DISTINCT issuer) FROM currencies"
            )
            .await,
            expected
        );
    }
}
