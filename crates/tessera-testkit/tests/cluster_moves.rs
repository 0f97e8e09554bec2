//! Buckets move to a node that joins, and away from a node that is
//! expelled (docs/CLUSTER.md §8): under reads and writes, no row is lost,
//! duplicated or read stale; a write over both nodes then commits on both;
//! after a restart of the whole cluster the map and the rows are the same.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_testkit::cluster::{TestCluster, CLUSTER_TIMEOUT};
use tessera_testkit::{assert_sqlstate, rows_text};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

const ROWS: i64 = 2000;

/// Buckets per node, as `tessera_nodes` lists them on `client`'s node.
async fn buckets(client: &Client) -> Vec<String> {
    rows_text(
        client,
        "SELECT buckets FROM tessera_nodes WHERE state = 'online' ORDER BY node_id",
    )
    .await
}

/// What every node must agree on: the rows, their checksum, a read
/// through each index, and the rows the load inserted.
async fn contents(client: &Client) -> Vec<String> {
    let mut out = rows_text(
        client,
        "SELECT count(*), sum(v), md5(string_agg(id || ':' || v || ':' || tag, ',' ORDER BY id)) FROM kv",
    )
    .await;
    out.extend(rows_text(client, "SELECT id FROM kv WHERE tag = 't1234'").await);
    out.extend(rows_text(client, "SELECT count(*) FROM kv WHERE grp = 7").await);
    out.extend(rows_text(client, "SELECT count(*), sum(id) FROM log").await);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_move_to_a_node_that_joins_under_load() {
    let mut cluster = TestCluster::start(1, 2, &[]);
    let first = cluster.nodes[0].connect().await;
    first
        .batch_execute(&format!(
            "CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL, tag text, grp int); \
             CREATE UNIQUE INDEX kv_tag ON kv (tag); \
             CREATE INDEX kv_grp ON kv (grp); \
             CREATE TABLE log (id bigint PRIMARY KEY); \
             INSERT INTO kv SELECT g, 0, 't' || g, g % 10 FROM generate_series(1, {ROWS}) g"
        ))
        .await
        .unwrap();

    // Writes of one row each (on one shard), and scans that must always
    // count every row once, while the buckets move.
    let load = Load::start(&cluster.nodes[0], 0).await;
    let joined = cluster.add_node(&[]);
    let second = cluster.nodes[joined].connect().await;
    let started = Instant::now();
    while buckets(&second).await != ["1500", "1500"] {
        assert!(
            started.elapsed() < CLUSTER_TIMEOUT,
            "buckets did not balance: {:?}\n{}",
            buckets(&second).await,
            cluster.nodes[0].log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // More writes by the new map.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (updates, inserts) = load.stop().await;
    assert_eq!(buckets(&first).await, ["1500", "1500"]);

    // Every acknowledged write is there, once.
    let seen = contents(&first).await;
    assert_counts(&seen, updates, inserts);
    assert_eq!(contents(&second).await, seen, "both nodes agree");

    // The rows are spread over both nodes' shards now.
    for client in [&first, &second] {
        let per_node = rows_text(client, "EXPLAIN SELECT * FROM kv")
            .await
            .join("\n");
        assert!(per_node.contains("4 shards"), "{per_node}");
    }

    // A write that spans both nodes commits on both (two-phase commit
    // decided on the router's node, `shard/cross_node.rs`).
    let updated = first.execute("UPDATE kv SET v = v + 1", &[]).await.unwrap();
    assert_eq!(updated, ROWS as u64);
    let seen = contents(&second).await;
    assert!(
        seen[0].starts_with(&format!("{ROWS}|{}|", updates as i64 + ROWS)),
        "{seen:?}"
    );
    assert_eq!(contents(&first).await, seen);

    // The same after a restart of the whole cluster.
    drop((first, second));
    cluster.restart_all();
    for node in &cluster.nodes {
        let client = node.connect().await;
        assert_eq!(buckets(&client).await, ["1500", "1500"]);
        assert_eq!(contents(&client).await, seen, "after a restart");
    }

    // Expelling the second node under load: it first gives its buckets
    // back (draining), and nothing is lost.
    let first = cluster.nodes[0].connect().await;
    let load = Load::start(&cluster.nodes[0], inserts as i64).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut expel = cluster.cli(0, "expel", &["2"]);
    let expel = tokio::task::spawn_blocking(move || {
        let out = expel.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            out.status.success(),
            text + &String::from_utf8_lossy(&out.stderr),
        )
    });
    let (ok, out) = expel.await.unwrap();
    assert!(
        ok,
        "tessera expel: {out}\n{}",
        cluster.nodes[joined].log_tail()
    );
    assert!(out.contains("node 2 is draining: "), "{out}");
    assert!(out.trim_end().ends_with("node 2 is expelled"), "{out}");
    let (more_updates, more_inserts) = load.stop().await;
    assert_eq!(buckets(&first).await, ["3000"]);
    let state = rows_text(&first, "SELECT state FROM tessera_nodes ORDER BY node_id").await;
    assert_eq!(state, ["online", "expelled"]);
    let after = contents(&first).await;
    assert_counts(
        &after,
        updates + ROWS as u64 + more_updates,
        inserts + more_inserts,
    );
    let per_node = rows_text(&first, "EXPLAIN SELECT * FROM kv")
        .await
        .join("\n");
    assert!(per_node.contains("2 shards"), "{per_node}");

    // The same after a restart of the node left.
    drop(first);
    cluster.nodes[joined].terminate();
    cluster.nodes[0].restart();
    let first = cluster.nodes[0].connect().await;
    assert_eq!(buckets(&first).await, ["3000"]);
    assert_eq!(contents(&first).await, after, "after a restart");
}

/// Checks `contents` against the writes acknowledged: `updates` increments
/// of `v` in all, and the log holding ids 1 to `inserts`.
fn assert_counts(seen: &[String], updates: u64, inserts: u64) {
    assert!(
        seen[0].starts_with(&format!("{ROWS}|{updates}|")),
        "{seen:?}"
    );
    assert_eq!(
        seen[1..],
        [
            "1234".to_string(),
            (ROWS / 10).to_string(),
            format!("{inserts}|{}", inserts * (inserts + 1) / 2),
        ]
    );
}

/// A writer (single-row updates of `kv`, inserts into `log` numbered on
/// from `logged`) and a reader that checks every scan sees each row once.
struct Load {
    stop: Arc<AtomicBool>,
    updates: Arc<AtomicU64>,
    inserts: Arc<AtomicU64>,
    writer: tokio::task::JoinHandle<()>,
    reader: tokio::task::JoinHandle<u64>,
}

impl Load {
    async fn start(node: &tessera_testkit::TestServer, logged: i64) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let updates = Arc::new(AtomicU64::new(0));
        let inserts = Arc::new(AtomicU64::new(0));
        let writer = {
            let client = node.connect().await;
            let (stop, updates, inserts) = (stop.clone(), updates.clone(), inserts.clone());
            tokio::spawn(async move {
                let mut n: i64 = logged;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let id = (n * 7919) % ROWS + 1;
                    let updated = client
                        .execute("UPDATE kv SET v = v + 1 WHERE id = $1", &[&(id as i32)])
                        .await
                        .unwrap_or_else(|e| panic!("update {id}: {e}"));
                    assert_eq!(updated, 1, "update of row {id}");
                    updates.fetch_add(1, Ordering::Relaxed);
                    client
                        .execute("INSERT INTO log VALUES ($1)", &[&n])
                        .await
                        .unwrap_or_else(|e| panic!("insert {n}: {e}"));
                    inserts.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        let reader = {
            let client = node.connect().await;
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut reads = 0;
                while !stop.load(Ordering::Relaxed) {
                    let seen =
                        rows_text(&client, "SELECT count(*), count(DISTINCT id) FROM kv").await;
                    assert_eq!(
                        seen,
                        [format!("{ROWS}|{ROWS}")],
                        "a scan while buckets move"
                    );
                    let one = rows_text(&client, "SELECT id FROM kv WHERE tag = 't777'").await;
                    assert_eq!(one, ["777"], "a read through the global index");
                    reads += 1;
                }
                reads
            })
        };
        Load {
            stop,
            updates,
            inserts,
            writer,
            reader,
        }
    }

    /// Stops both; the updates and inserts acknowledged.
    async fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.writer.await.unwrap();
        let reads = self.reader.await.unwrap();
        let (updates, inserts) = (
            self.updates.load(Ordering::Relaxed),
            self.inserts.load(Ordering::Relaxed),
        );
        assert!(updates > 0 && inserts > 0 && reads > 0);
        (updates, inserts)
    }
}

/// What every node must agree on in [`tables_live_in_their_tiers`].
async fn tier_contents(client: &Client) -> Vec<String> {
    let mut out = rows_text(client, "SELECT count(*), sum(amount) FROM orders").await;
    out.extend(rows_text(client, "SELECT count(*) FROM customers").await);
    out.extend(
        rows_text(
            client,
            "SELECT count(*), sum(o.amount) FROM customers c JOIN orders o ON o.cid = c.id WHERE c.id % 7 = 0",
        )
        .await,
    );
    out.extend(rows_text(client, "SELECT amount FROM orders WHERE cid = 5 AND id = 4").await);
    // Through the unique index, whose entries are in the tier too.
    out.extend(rows_text(client, "SELECT cid, id FROM orders WHERE amount = 1234").await);
    out
}

/// Buckets per online node of tier `tier`, by node id.
async fn tier_buckets(client: &Client, tier: &str) -> Vec<String> {
    rows_text(
        client,
        &format!(
            "SELECT buckets FROM tessera_nodes WHERE state = 'online' AND tier = '{tier}' ORDER BY node_id"
        ),
    )
    .await
}

/// Tiers (docs/CLUSTER.md §3): a node of a new tier gives it its own
/// buckets; a table created IN TIER it keeps its rows on that tier's
/// shards only, balanced among them and drained back to them; a node
/// whose settings differ from its tier's is refused; all of it survives a
/// restart of the whole cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_live_in_their_tiers() {
    let mut cluster = TestCluster::start(1, 1, &[]);
    let hot = [
        cluster.add_node(&["--tier", "hot"]),
        cluster.add_node(&["--tier", "hot"]),
    ];
    let first = cluster.nodes[0].connect().await;
    let deadline = Instant::now() + CLUSTER_TIMEOUT;
    while tier_buckets(&first, "hot").await != ["1500", "1500"] {
        assert!(
            Instant::now() < deadline,
            "the hot tier's buckets never spread"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(tier_buckets(&first, "default").await, ["3000"]);
    assert_eq!(
        rows_text(&first, "SELECT name, replication_factor, replication_mode, bucket_count, first_bucket FROM tessera_tiers ORDER BY first_bucket").await,
        ["default|1|async|3000|0", "hot|1|async|3000|3000"]
    );
    // The bucket map and the replica sets, in SQL on any node.
    let hot_client = cluster.nodes[hot[0]].connect().await;
    assert_eq!(
        rows_text(&hot_client, "SELECT tier, count(*), count(DISTINCT shard) FROM tessera_buckets GROUP BY tier ORDER BY tier").await,
        ["default|3000|1", "hot|3000|2"]
    );
    assert_eq!(
        rows_text(&hot_client, "SELECT shard, tier, master, members, buckets, state FROM tessera_replica_sets ORDER BY shard").await,
        ["0|default|1|1|3000|full", "1|hot|2|2|1500|full", "2|hot|3|3|1500|full"]
    );
    assert_eq!(
        rows_text(
            &hot_client,
            "SELECT node_id, shard, local_shard, role FROM tessera_instances ORDER BY node_id"
        )
        .await,
        ["1|0|0|master", "2|1|0|master", "3|2|0|master"]
    );

    let err = first
        .batch_execute("CREATE TABLE nowhere (id int PRIMARY KEY) IN TIER cold")
        .await;
    let message = assert_sqlstate(err, &SqlState::UNDEFINED_OBJECT, "an unknown tier");
    assert!(
        message.contains("tier \"cold\" does not exist"),
        "{message}"
    );
    first
        .batch_execute(
            "CREATE TABLE customers (id int PRIMARY KEY, name text); \
             CREATE TABLE orders (id int, cid int, amount int, PRIMARY KEY (cid, id)) DISTRIBUTED BY (cid) IN TIER hot; \
             CREATE UNIQUE INDEX orders_amount ON orders (amount); \
             INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 300) g; \
             INSERT INTO orders SELECT g, g % 300 + 1, g FROM generate_series(1, 3000) g",
        )
        .await
        .unwrap();
    // The tier is a storage parameter too, as pg_dump writes it back from
    // reloptions.
    first
        .batch_execute("CREATE TABLE notes (id int PRIMARY KEY) WITH (tier = hot)")
        .await
        .unwrap();
    assert_eq!(
        rows_text(&first, "SELECT relname, reloptions FROM pg_class WHERE relname IN ('orders', 'notes', 'customers') ORDER BY relname").await,
        ["customers|NULL", "notes|{tier=hot}", "orders|{tier=hot}"]
    );
    let err = first
        .batch_execute(
            "CREATE TABLE both_ways (id int PRIMARY KEY) WITH (tier = hot) IN TIER default",
        )
        .await;
    assert_sqlstate(err, &SqlState::INVALID_PARAMETER_VALUE, "two tiers");
    // ALTER TABLE … SET (tier = …) rewrites a table into another tier,
    // its index with it.
    first
        .batch_execute(
            "CREATE TABLE moved (id int PRIMARY KEY, tag text); \
             CREATE INDEX moved_tag ON moved (tag); \
             INSERT INTO moved SELECT g, 't' || (g % 7) FROM generate_series(1, 700) g; \
             ALTER TABLE moved SET (tier = hot, fillfactor = 90)",
        )
        .await
        .unwrap();
    assert_eq!(
        rows_text(
            &first,
            "EXPLAIN SELECT count(*) FROM moved WHERE tag = 't3'"
        )
        .await[2],
        "        ->  Index Scan using moved_tag on moved (on all 2 shards of tier hot)"
    );
    assert_eq!(
        rows_text(
            &first,
            "SELECT reloptions FROM pg_class WHERE relname = 'moved'"
        )
        .await,
        ["{tier=hot}"]
    );
    for (sql, code, what) in [
        (
            "ALTER TABLE moved SET (tier = cold)",
            &SqlState::UNDEFINED_OBJECT,
            "an unknown tier",
        ),
        (
            "CREATE TABLE everywhere (id int PRIMARY KEY) DISTRIBUTED GLOBALLY; \
             ALTER TABLE everywhere SET (tier = hot)",
            &SqlState::INVALID_TABLE_DEFINITION,
            "a global table",
        ),
    ] {
        assert_sqlstate(first.batch_execute(sql).await, code, what);
    }
    // Its own tier: nothing to do.
    first
        .batch_execute("ALTER TABLE moved SET (tier = hot)")
        .await
        .unwrap();
    let plan = rows_text(&first, "EXPLAIN SELECT * FROM orders").await;
    assert_eq!(plan, ["Seq Scan on orders (on all 2 shards of tier hot)"]);
    let expected = tier_contents(&first).await;
    assert_eq!(expected[0], "3000|4501500");
    // The default tier's node holds none of the orders: with it stopped,
    // the hot tier's nodes still read them all.
    cluster.nodes[0].kill9();
    for at in hot {
        let client = cluster.nodes[at].connect().await;
        assert_eq!(
            rows_text(
                &client,
                "SELECT count(*), sum(amount) FROM orders WHERE amount > 0"
            )
            .await,
            ["3000|4501500"]
        );
        assert_eq!(
            rows_text(
                &client,
                "SELECT count(*), sum(id), count(*) FILTER (WHERE tag = 't3') FROM moved"
            )
            .await,
            ["700|245350|100"]
        );
        client
            .batch_execute("UPDATE orders SET amount = amount WHERE cid = 9")
            .await
            .unwrap();
    }
    cluster.nodes[0].restart();
    for node in &cluster.nodes {
        assert_eq!(tier_contents(&node.connect().await).await, expected);
    }

    // A node asking the hot tier for other settings is refused and stops.
    let refused = cluster.add_node_deferred(&["--tier", "hot", "--replication-factor", "2"]);
    let deadline = Instant::now() + CLUSTER_TIMEOUT;
    while cluster.nodes[refused].is_running() {
        assert!(Instant::now() < deadline, "a refused node kept running");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = cluster.nodes[refused].log();
    assert!(
        log.contains("tier \"hot\" has a replication factor of 1, not 2"),
        "{log}"
    );
    cluster.nodes.pop();
    cluster.addrs.pop();

    // The default tier's only node cannot be drained: no node of its tier
    // could take its buckets.
    let err = cluster
        .expel(0, "1")
        .expect_err("the default tier's last node");
    assert!(err.contains("last online node of its tier"), "{err}");
    // A hot node's buckets go to the other hot node only.
    let out = cluster.expel(hot[0], "3").expect("expel a hot node");
    assert!(out.contains("node 3 is expelled"), "{out}");
    assert_eq!(
        tier_buckets(&first_again(&cluster).await, "hot").await,
        ["3000"]
    );
    assert_eq!(
        tier_buckets(&first_again(&cluster).await, "default").await,
        ["3000"]
    );
    let status = cluster.status(0).expect("status");
    for tier in ["default", "hot"] {
        assert!(
            status.contains(&format!(
                "tier {tier} (replication factor 1, async): 3000 buckets, balanced"
            )),
            "{status}"
        );
    }

    let expelled = cluster.nodes.remove(hot[1]);
    drop(expelled);
    cluster.addrs.remove(hot[1]);
    cluster.restart_all();
    for node in &cluster.nodes {
        let client = node.connect().await;
        assert_eq!(tier_contents(&client).await, expected);
        assert_eq!(
            rows_text(&client, "SELECT count(*) FROM tessera_tiers").await,
            ["2"]
        );
    }
}

async fn first_again(cluster: &TestCluster) -> Client {
    cluster.nodes[0].connect().await
}
