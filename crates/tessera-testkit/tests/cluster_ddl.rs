//! The SQL catalog of a cluster (docs/CLUSTER.md step 2), against real
//! `tessera` processes: DDL issued on any node goes through the metadata
//! Raft log under the cluster DDL lock, every node has applied it when the
//! statement returns, changes made at once on several nodes are ordered,
//! and restarts and late joiners end up with the same catalog.

use tessera_testkit::cluster::TestCluster;
use tessera_testkit::{rows_text, try_rows_text};
use tokio_postgres::Client;

/// The user tables' columns and the indexes, as text, on one node.
const CATALOG_SQL: &str =
    "SELECT c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod) \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 \
     WHERE n.nspname = 'public' ORDER BY 1, 3";

async fn catalog(client: &Client) -> Vec<String> {
    rows_text(client, CATALOG_SQL).await
}

async fn connect_all(cluster: &TestCluster) -> Vec<Client> {
    let mut clients = Vec::new();
    for node in &cluster.nodes {
        clients.push(node.connect().await);
    }
    clients
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_from_any_node_is_every_nodes_catalog_also_after_restarts() {
    let mut cluster = TestCluster::start(3, 1, &[]);
    let c = connect_all(&cluster).await;

    // A change is seen on every node once its statement returns.
    c[0].batch_execute("CREATE TABLE orders (id int PRIMARY KEY, customer text)")
        .await
        .unwrap();
    for (n, client) in c.iter().enumerate().skip(1) {
        client
            .batch_execute(&format!("INSERT INTO orders VALUES ({n}, 'a')"))
            .await
            .expect("the table is there on every node");
    }
    // One table: every node reads the rows any node wrote.
    for client in &c {
        assert_eq!(
            rows_text(client, "SELECT id FROM orders ORDER BY id").await,
            ["1", "2"]
        );
    }
    c[1].batch_execute("ALTER TABLE orders ADD COLUMN total numeric(10,2) DEFAULT 0")
        .await
        .unwrap();
    c[2].batch_execute("CREATE INDEX orders_customer ON orders (customer)")
        .await
        .unwrap();
    c[0].batch_execute("CREATE VIEW big AS SELECT id FROM orders WHERE total > 100")
        .await
        .unwrap();
    let first = catalog(&c[0]).await;
    assert!(
        first.iter().any(|r| r == "orders|r|total|numeric(10,2)"),
        "{first:?}"
    );
    assert!(first.iter().any(|r| r.starts_with("orders_customer|i|")));
    assert!(first.iter().any(|r| r.starts_with("big|v|id")));
    for client in &c[1..] {
        assert_eq!(catalog(client).await, first);
    }

    // A block's changes become every node's at COMMIT, and a rolled back
    // block leaves nothing anywhere.
    c[1].batch_execute("BEGIN; CREATE TABLE items (sku text); CREATE SEQUENCE item_ids")
        .await
        .unwrap();
    let seen = try_rows_text(&c[2], "SELECT count(*) FROM items").await;
    assert!(seen.is_err(), "uncommitted DDL seen on another node");
    c[1].batch_execute("COMMIT").await.unwrap();
    c[2].batch_execute("INSERT INTO items VALUES ('x')")
        .await
        .unwrap();
    assert_eq!(rows_text(&c[0], "SELECT count(*) FROM items").await, ["1"]);
    assert_eq!(rows_text(&c[1], "SELECT sku FROM items").await, ["x"]);
    c[2].batch_execute("BEGIN; CREATE TABLE scratch (x int); ROLLBACK")
        .await
        .unwrap();
    for client in &c {
        assert!(try_rows_text(client, "SELECT * FROM scratch")
            .await
            .is_err());
    }

    // Changes made at once on every node are ordered by the lock: all
    // land, and the same name taken twice fails once with 42P07.
    let scripts: Vec<String> = (0..c.len())
        .map(|n| {
            (0..8)
                .map(|i| format!("CREATE TABLE t{n}_{i} (x int); "))
                .collect()
        })
        .collect();
    let creates: Vec<_> = c
        .iter()
        .zip(&scripts)
        .map(|(client, sql)| client.batch_execute(sql))
        .collect();
    for result in tessera_testkit::cluster::join_all(creates).await {
        result.expect("concurrent DDL");
    }
    let races: Vec<_> = c
        .iter()
        .map(|client| client.batch_execute("CREATE TABLE contested (x int)"))
        .collect();
    let results = tessera_testkit::cluster::join_all(races).await;
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(failed.len(), 2, "{results:?}");
    for e in failed {
        let code = e.as_db_error().map(|d| d.code().code().to_string());
        assert_eq!(code.as_deref(), Some("42P07"), "{e}");
    }
    let first = catalog(&c[0]).await;
    assert_eq!(first.iter().filter(|r| r.starts_with('t')).count(), 24);
    for client in &c[1..] {
        assert_eq!(catalog(client).await, first);
    }

    // A full restart: the same catalog on every node, and the rows.
    drop(c);
    cluster.restart_all();
    let c = connect_all(&cluster).await;
    for client in &c {
        assert_eq!(catalog(client).await, first);
    }
    assert_eq!(rows_text(&c[1], "SELECT sku FROM items").await, ["x"]);
    c[2].batch_execute("DROP TABLE t0_0").await.unwrap();

    // A node that joins later takes the catalog as it is.
    let late = cluster.add_node(&[]);
    let joined = cluster.nodes[late].connect().await;
    let now = catalog(&c[0]).await;
    assert_eq!(now.len() + 1, first.len());
    assert_eq!(catalog(&joined).await, now);
    joined
        .batch_execute("ALTER TABLE items ADD COLUMN qty int")
        .await
        .unwrap();
    assert_eq!(
        rows_text(&c[1], "SELECT sku, qty FROM items").await,
        ["x|NULL"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_waits_for_the_lock_and_a_dead_holder_loses_it() {
    let mut cluster = TestCluster::start(
        3,
        1,
        &["--raft-voter-down-timeout", "2", "--rebalance=false"],
    );
    let c = connect_all(&cluster).await;
    // The rows are on the founder's shards: the other two take the parts.
    let founder = cluster.founder().await;
    let others: Vec<usize> = (0..3).filter(|n| *n != founder).collect();
    let (holder, waiter) = (others[0], others[1]);
    // A block on one node holds the cluster DDL lock.
    c[holder]
        .batch_execute("BEGIN; CREATE TABLE pending (x int)")
        .await
        .unwrap();
    // Another node's DDL waits for it; a statement_timeout ends the wait
    // with 57014, and nothing changed.
    let e = c[waiter]
        .batch_execute("SET statement_timeout = '500ms'; CREATE TABLE other (x int)")
        .await
        .unwrap_err();
    let code = e.as_db_error().map(|d| d.code().code().to_string());
    assert_eq!(code.as_deref(), Some("57014"), "{e}");
    c[waiter]
        .batch_execute("RESET statement_timeout")
        .await
        .unwrap();
    assert!(try_rows_text(&c[founder], "SELECT * FROM other")
        .await
        .is_err());

    // The holder dies: once it has not answered for the voter-down
    // timeout, the governor takes the lock back and the DDL goes on.
    cluster.nodes[holder].kill9();
    c[waiter]
        .batch_execute("CREATE TABLE other (x int)")
        .await
        .expect("DDL after the dead holder's lock is broken");
    assert_eq!(
        rows_text(&c[founder], "SELECT count(*) FROM other").await,
        ["0"]
    );

    // It comes back: its block never committed, and it has the change.
    cluster.nodes[holder].restart();
    let back = cluster.nodes[holder].connect().await;
    assert!(try_rows_text(&back, "SELECT * FROM pending").await.is_err());
    assert_eq!(rows_text(&back, "SELECT count(*) FROM other").await, ["0"]);
    back.batch_execute("CREATE TABLE pending (x int)")
        .await
        .unwrap();
    assert_eq!(
        rows_text(&c[waiter], "SELECT count(*) FROM pending").await,
        ["0"]
    );
}
