//! Replica groups (docs/CLUSTER.md §3): with a replication factor of 2,
//! nodes form groups of two that share shard numbers; only full groups own
//! buckets, and each shard's requests go to its master, from whichever
//! node the client is on.

use tessera_testkit::cluster::TestCluster;
use tessera_testkit::rows_text;
use tokio_postgres::Client;

async fn connect_all(cluster: &TestCluster) -> Vec<Client> {
    let mut clients = Vec::new();
    for node in &cluster.nodes {
        clients.push(node.connect().await);
    }
    clients
}

/// Per node (by position): its first shard, buckets and shards it is
/// master of, as node `via` sees them.
async fn layout(cluster: &TestCluster, via: &Client) -> Vec<(u16, u32, u16)> {
    let rows = rows_text(
        via,
        "SELECT pg_address, first_shard, buckets, master_of FROM tessera_nodes",
    )
    .await;
    cluster
        .nodes
        .iter()
        .map(|n| {
            let row = rows
                .iter()
                .find(|r| {
                    r.split('|')
                        .next()
                        .unwrap()
                        .ends_with(&format!(":{}", n.port()))
                })
                .expect("every node has a row");
            let f: Vec<&str> = row.split('|').collect();
            (
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect()
}

/// The records of node `node`'s shard `shard` log, with their positions.
fn log_records(cluster: &TestCluster, node: usize, shard: u16) -> Vec<(u64, Vec<u8>)> {
    let dir = cluster.nodes[node]
        .data_dir()
        .join(format!("shard-{shard}"))
        .join("wal");
    let mut records = Vec::new();
    // A torn tail is a batch being written: compared on the next look.
    let _ = tessera_storage::wal::scan_segments(
        &tessera_storage::file::OsFileSystem,
        &dir,
        0,
        |at, payload| {
            records.push((at, payload.to_vec()));
            Ok(())
        },
    );
    records
}

/// Waits until the replica's logs hold exactly the master's records, at
/// the same positions (docs/CLUSTER.md §5).
async fn replica_caught_up(cluster: &TestCluster, master: usize, replica: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let shards = cluster.nodes[master].shards() as u16;
    loop {
        let same = (0..shards).all(|shard| {
            let theirs = log_records(cluster, master, shard);
            !theirs.is_empty() && theirs == log_records(cluster, replica, shard)
        });
        if same {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replica's logs did not catch up: master {:?} records, replica {:?}\n{}\n{}",
            (0..shards)
                .map(|s| log_records(cluster, master, s).len())
                .collect::<Vec<_>>(),
            (0..shards)
                .map(|s| log_records(cluster, replica, s).len())
                .collect::<Vec<_>>(),
            cluster.nodes[master].log_tail(),
            cluster.nodes[replica].log_tail(),
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn totals(client: &Client) -> Vec<String> {
    rows_text(client, "SELECT count(*), sum(balance) FROM accounts").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_group_owns_the_buckets_and_any_node_reaches_its_masters() {
    let mut cluster = TestCluster::start(3, 2, &["--replication-factor=2"]);
    let c = connect_all(&cluster).await;

    // The founder and the first node to join form group 0 (shards 0-1);
    // the other starts group 2-3, which is short of a member and owns no
    // buckets, rebalancing or not.
    let nodes = layout(&cluster, &c[0]).await;
    let founder = nodes
        .iter()
        .position(|n| n.0 == 0 && n.2 == 2)
        .expect("group 0's master");
    let replica = (0..3)
        .find(|n| *n != founder && nodes[*n].0 == 0)
        .expect("a second member of group 0");
    let alone = 3 - founder - replica;
    assert_eq!(nodes[founder], (0, 3000, 2), "{nodes:?}");
    assert_eq!(nodes[replica], (0, 3000, 0), "{nodes:?}");
    assert_eq!(nodes[alone], (2, 0, 2), "{nodes:?}");
    let status = cluster.status(replica).unwrap();
    assert!(
        status.contains("replica groups (replication factor 2)")
            && status.contains("full")
            && status.contains("1 of 2 members"),
        "{status}"
    );

    // Tables made and filled from the replica's node: every statement runs
    // on the founder's masters.
    c[replica]
        .batch_execute(
            "CREATE TABLE accounts (id int PRIMARY KEY, balance int); \
             INSERT INTO accounts SELECT g, 100 FROM generate_series(1, 300) g; \
             CREATE INDEX accounts_balance ON accounts (balance)",
        )
        .await
        .unwrap();
    for client in &c {
        assert_eq!(totals(client).await, ["300|30000"]);
    }

    // Single-row and many-shard writes, and blocks across shards, from
    // every node.
    for (n, client) in c.iter().enumerate() {
        let id = 10 + n as i32;
        client
            .execute(
                "UPDATE accounts SET balance = balance - 5 WHERE id = $1",
                &[&id],
            )
            .await
            .unwrap();
        client
            .batch_execute(&format!(
                "BEGIN; UPDATE accounts SET balance = balance + 5 WHERE id = {}; \
                 UPDATE accounts SET balance = balance + 0 WHERE id = {}; COMMIT",
                200 + n,
                250 + n
            ))
            .await
            .unwrap();
    }
    let updated = c[replica]
        .execute(
            "UPDATE accounts SET balance = balance + 1 WHERE id <= 100",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(updated, 100);
    for client in &c {
        assert_eq!(totals(client).await, ["300|30100"]);
        assert_eq!(
            rows_text(client, "SELECT count(*) FROM accounts WHERE balance = 95").await,
            ["0"],
            "the index read"
        );
    }

    // The replica's node copied every record of the masters' logs.
    replica_caught_up(&cluster, founder, replica).await;

    // The same after every node restarts.
    drop(c);
    cluster.restart_all();
    let c = connect_all(&cluster).await;
    assert_eq!(layout(&cluster, &c[alone]).await, nodes);
    for client in &c {
        assert_eq!(totals(client).await, ["300|30100"]);
    }
    c[replica]
        .execute("INSERT INTO accounts VALUES (301, 1)", &[])
        .await
        .unwrap();
    assert_eq!(totals(&c[founder]).await, ["301|30101"]);
    replica_caught_up(&cluster, founder, replica).await;

    // A replica killed while the master writes on continues from where
    // its log ends once it is back.
    cluster.nodes[replica].kill9();
    c[founder]
        .execute(
            "INSERT INTO accounts SELECT g, 1 FROM generate_series(302, 400) g",
            &[],
        )
        .await
        .unwrap();
    cluster.nodes[replica].restart();
    replica_caught_up(&cluster, founder, replica).await;

    // The same when the master restarted meanwhile and no longer holds
    // the records in memory: it reads them from its files.
    cluster.nodes[replica].kill9();
    c[founder]
        .execute(
            "UPDATE accounts SET balance = balance + 1 WHERE id > 300",
            &[],
        )
        .await
        .unwrap();
    drop(c);
    cluster.nodes[founder].restart();
    cluster.nodes[replica].restart();
    replica_caught_up(&cluster, founder, replica).await;
    assert!(
        !cluster.nodes[replica]
            .log()
            .contains("copying its master's log: shard"),
        "{}",
        cluster.nodes[replica].log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_even_out_between_full_groups_through_their_masters() {
    let cluster = TestCluster::start(4, 1, &["--replication-factor=2"]);
    let c = connect_all(&cluster).await;
    c[0].batch_execute(
        "CREATE TABLE kv (id int PRIMARY KEY, v int); \
         INSERT INTO kv SELECT g, g FROM generate_series(1, 2000) g",
    )
    .await
    .unwrap();

    // Two full groups of two (shard 0 and shard 1): the second takes half
    // the buckets from the first, master to master.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let nodes = loop {
        let nodes = layout(&cluster, &c[3]).await;
        if nodes.iter().all(|n| n.1 == 1500) {
            break nodes;
        }
        assert!(std::time::Instant::now() < deadline, "buckets: {nodes:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    for client in &c {
        assert_eq!(
            rows_text(client, "SELECT count(*), sum(v) FROM kv").await,
            ["2000|2001000"]
        );
    }
    c[2].execute("UPDATE kv SET v = v + 1", &[]).await.unwrap();
    for client in &c {
        assert_eq!(
            rows_text(client, "SELECT count(*), sum(v) FROM kv").await,
            ["2000|2003000"]
        );
    }
    // Each group's replica copied its master's log, moves included.
    for group in [0, 1] {
        let member = |master_of| {
            (0..4)
                .find(|n| nodes[*n].0 == group && nodes[*n].2 == master_of)
                .unwrap_or_else(|| panic!("group {group}: {nodes:?}"))
        };
        replica_caught_up(&cluster, member(1), member(0)).await;
    }
}
