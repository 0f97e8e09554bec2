//! Transactions whose rows are on several nodes (docs/CLUSTER.md §4): they
//! commit whole or not at all, through kill -9 of either node, and a
//! deadlock through two nodes is broken with 40P01.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tessera_testkit::cluster::{TestCluster, CLUSTER_TIMEOUT};
use tessera_testkit::{rows_text, sqlstate};
use tokio_postgres::Client;

const ACCOUNTS: i32 = 60;
const OPENING: i64 = 1000;

/// Two nodes of 2 shards with `accounts` and `transfers`, buckets spread
/// over both.
async fn spread_cluster() -> TestCluster {
    let mut cluster = TestCluster::start(1, 2, &[]);
    let first = cluster.nodes[0].connect().await;
    first
        .batch_execute(&format!(
            "CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL); \
             CREATE TABLE transfers (id bigint PRIMARY KEY, src int, dst int, amount bigint); \
             INSERT INTO accounts SELECT g, {OPENING} FROM generate_series(1, {ACCOUNTS}) g"
        ))
        .await
        .unwrap();
    let joined = cluster.add_node(&[]);
    let second = cluster.nodes[joined].connect().await;
    let started = Instant::now();
    loop {
        let buckets = rows_text(
            &second,
            "SELECT buckets FROM tessera_nodes WHERE state = 'online' ORDER BY node_id",
        )
        .await;
        if buckets == ["1500", "1500"] {
            break;
        }
        assert!(
            started.elapsed() < CLUSTER_TIMEOUT,
            "buckets did not balance: {buckets:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cluster
}

/// Checks, through `client`, that money was neither made nor lost, that
/// every account's balance is its opening balance plus the transfers
/// recorded (so no transfer is half applied), and that every acknowledged
/// transfer is recorded.
async fn check_books(client: &Client, acknowledged: &[i64]) {
    let total = rows_text(client, "SELECT sum(balance), count(*) FROM accounts").await;
    assert_eq!(
        total,
        [format!("{}|{ACCOUNTS}", OPENING * ACCOUNTS as i64)],
        "money was made or lost"
    );
    let off = rows_text(
        client,
        &format!(
            "SELECT a.id, a.balance, {OPENING} \
               - coalesce((SELECT sum(amount) FROM transfers WHERE src = a.id), 0) \
               + coalesce((SELECT sum(amount) FROM transfers WHERE dst = a.id), 0) \
             FROM accounts a ORDER BY a.id"
        ),
    )
    .await
    .into_iter()
    .filter(|line| {
        let parts: Vec<&str> = line.split('|').collect();
        parts[1] != parts[2]
    })
    .collect::<Vec<_>>();
    assert!(
        off.is_empty(),
        "balances disagree with the transfers: {off:?}"
    );
    let recorded: std::collections::HashSet<i64> = rows_text(client, "SELECT id FROM transfers")
        .await
        .into_iter()
        .map(|id| id.parse().unwrap())
        .collect();
    let missing: Vec<&i64> = acknowledged
        .iter()
        .filter(|id| !recorded.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged transfers lost: {missing:?}"
    );
}

/// Transfers between random accounts from `client` until `stop`; returns
/// the ids of those whose COMMIT succeeded. Errors (a node killed, a
/// conflict) end a transfer and a new connection is made if needed.
async fn transfer(
    cluster_ports: Vec<(String, u16)>,
    worker: i64,
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<i64>>>,
) {
    let mut n: i64 = 0;
    let mut client: Option<Client> = None;
    let mut seed = worker as u64 * 7919 + 17;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    while !stop.load(Ordering::Relaxed) {
        let Some(c) = client.as_ref() else {
            let (host, port) = &cluster_ports[(next() % cluster_ports.len() as u64) as usize];
            let config =
                format!("host={host} port={port} user=postgres dbname=postgres connect_timeout=5");
            match tokio_postgres::connect(&config, tokio_postgres::NoTls).await {
                Ok((c, connection)) => {
                    tokio::spawn(async move {
                        let _ = connection.await;
                    });
                    let _ = c.batch_execute("SET statement_timeout = '20s'").await;
                    client = Some(c);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
            continue;
        };
        n += 1;
        let id = worker * 1_000_000 + n;
        // In id order, so transfers never deadlock here.
        let (a, b) = (
            (next() % ACCOUNTS as u64) as i32 + 1,
            (next() % ACCOUNTS as u64) as i32 + 1,
        );
        if a == b {
            continue;
        }
        let (src, dst) = (a.min(b), a.max(b));
        let amount = (next() % 50) as i64 + 1;
        let sql = format!(
            "BEGIN; \
             UPDATE accounts SET balance = balance - {amount} WHERE id = {src}; \
             UPDATE accounts SET balance = balance + {amount} WHERE id = {dst}; \
             INSERT INTO transfers VALUES ({id}, {src}, {dst}, {amount}); \
             COMMIT"
        );
        match c.batch_execute(&sql).await {
            Ok(()) => acknowledged.lock().unwrap().push(id),
            Err(e) => {
                if c.is_closed() {
                    client = None;
                } else {
                    let _ = c.batch_execute("ROLLBACK").await;
                }
                let code = sqlstate(&e).map(|s| s.code().to_string());
                // What may end a transfer: a node gone, or a conflict.
                let expected = code.is_none()
                    || [
                        "08006", "08000", "08001", "57P01", "57P03", "40001", "40P01", "25P02",
                        "57014",
                    ]
                    .contains(&code.as_deref().unwrap_or(""));
                assert!(expected, "transfer {id}: {e:?}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_across_nodes_are_whole_through_kill9() {
    let mut cluster = spread_cluster().await;
    let ports: Vec<(String, u16)> = cluster
        .nodes
        .iter()
        .map(|n| (n.host().to_string(), n.port()))
        .collect();
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            tokio::spawn(transfer(
                ports.clone(),
                w + 1,
                stop.clone(),
                acknowledged.clone(),
            ))
        })
        .collect();

    // Each node in turn dies with transfers in flight and comes back.
    for victim in [1, 0] {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        cluster.nodes[victim].kill9();
        tokio::time::sleep(Duration::from_millis(300)).await;
        cluster.nodes[victim].restart();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 20,
        "too few transfers: {}",
        acknowledged.len()
    );

    // Prepares whose router died are settled by asking the deciding node.
    let started = Instant::now();
    for node in &cluster.nodes {
        let client = node.connect().await;
        loop {
            let read = "SET statement_timeout = '2s'; \
                        SELECT sum(balance) FROM accounts; SELECT count(*) FROM transfers";
            match client.batch_execute(read).await {
                Ok(()) => break,
                Err(e) => assert!(
                    started.elapsed() < CLUSTER_TIMEOUT,
                    "rows stayed locked: {e}"
                ),
            }
        }
        client
            .batch_execute("SET statement_timeout = 0")
            .await
            .unwrap();
        check_books(&client, &acknowledged).await;
    }
    // Some transfers spanned the nodes.
    let first = cluster.nodes[0].connect().await;
    let spans = rows_text(&first, "EXPLAIN SELECT * FROM accounts")
        .await
        .join("\n");
    assert!(spans.contains("4 shards"), "{spans}");

    drop(first);
    cluster.restart_all();
    for node in &cluster.nodes {
        check_books(&node.connect().await, &acknowledged).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_through_two_nodes_is_broken() {
    let cluster = spread_cluster().await;
    let one = cluster.nodes[0].connect().await;
    let two = cluster.nodes[1].connect().await;
    for c in [&one, &two] {
        c.batch_execute("SET statement_timeout = '30s'")
            .await
            .unwrap();
    }
    // Pairs of accounts locked in opposite orders: each pair deadlocks,
    // through one node or two (half the pairs, as buckets are spread).
    for pair in 0..6 {
        let (a, b) = (2 * pair + 1, 2 * pair + 2);
        one.batch_execute(&format!(
            "BEGIN; UPDATE accounts SET balance = balance - 1 WHERE id = {a}"
        ))
        .await
        .unwrap();
        two.batch_execute(&format!(
            "BEGIN; UPDATE accounts SET balance = balance - 1 WHERE id = {b}"
        ))
        .await
        .unwrap();
        let (to_b, to_a) = (
            format!("UPDATE accounts SET balance = balance + 1 WHERE id = {b}"),
            format!("UPDATE accounts SET balance = balance + 1 WHERE id = {a}"),
        );
        let first = one.batch_execute(&to_b);
        let second = two.batch_execute(&to_a);
        let started = Instant::now();
        let (first, second) = tokio::join!(first, second);
        let codes: Vec<Option<String>> = [&first, &second]
            .iter()
            .map(|r| {
                r.as_ref()
                    .err()
                    .and_then(|e| sqlstate(e).map(|s| s.code().to_string()))
            })
            .collect();
        assert_eq!(
            codes
                .iter()
                .filter(|c| c.as_deref() == Some("40P01"))
                .count(),
            1,
            "pair {a}, {b}: one victim, the other goes on: {first:?} {second:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "pair {a}, {b}: broken only after {:?}",
            started.elapsed()
        );
        for c in [&one, &two] {
            c.batch_execute("COMMIT").await.unwrap();
        }
    }
    // The survivors' transfers moved money, none was made or lost.
    let total = rows_text(&one, "SELECT sum(balance) FROM accounts").await;
    assert_eq!(total, [(OPENING * ACCOUNTS as i64).to_string()]);
    let cross = cluster
        .nodes
        .iter()
        .any(|n| n.log().contains("lock waits through other nodes"));
    assert!(cross, "no deadlock went through both nodes");
}
