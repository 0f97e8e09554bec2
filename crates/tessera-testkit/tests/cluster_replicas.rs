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

fn shard_dir(cluster: &TestCluster, node: usize, shard: u16) -> std::path::PathBuf {
    cluster.nodes[node]
        .data_dir()
        .join(format!("shard-{shard}"))
}

/// The records of node `node`'s shard `shard` log, with their positions,
/// from where its oldest segment kept begins; and where the log ends.
fn log_records(cluster: &TestCluster, node: usize, shard: u16) -> (Vec<(u64, Vec<u8>)>, u64) {
    let dir = shard_dir(cluster, node, shard).join("wal");
    let fs = tessera_storage::file::OsFileSystem;
    let from = tessera_storage::wal::list_segments(&fs, &dir)
        .ok()
        .and_then(|s| s.first().copied())
        .unwrap_or(0);
    let mut records = Vec::new();
    // A torn tail is a batch being written: compared on the next look.
    let scanned = tessera_storage::wal::scan_segments(&fs, &dir, from, |at, payload| {
        records.push((at, payload.to_vec()));
        Ok(())
    });
    let end = scanned.map_or(0, |s| s.end);
    (records, end)
}

/// Whether the replica's log of `shard` ends where the master's does and
/// holds the same records wherever both still keep them.
fn same_log(cluster: &TestCluster, master: usize, replica: usize, shard: u16) -> bool {
    let (theirs, their_end) = log_records(cluster, master, shard);
    let (ours, our_end) = log_records(cluster, replica, shard);
    let from = match (theirs.first(), ours.first()) {
        (Some(t), Some(o)) => t.0.max(o.0),
        _ => their_end,
    };
    let kept = |records: &[(u64, Vec<u8>)]| {
        records
            .iter()
            .filter(|(at, _)| *at >= from)
            .cloned()
            .collect::<Vec<_>>()
    };
    their_end > 0 && their_end == our_end && kept(&theirs) == kept(&ours)
}

/// Waits until the replica's logs hold exactly the master's records, at
/// the same positions (docs/CLUSTER.md §5).
async fn replica_caught_up(cluster: &TestCluster, master: usize, replica: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let shards = cluster.nodes[master].shards() as u16;
    loop {
        if (0..shards).all(|shard| same_log(cluster, master, replica, shard)) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replica's logs did not catch up: master ends {:?}, replica ends {:?}\n{}\n{}",
            (0..shards)
                .map(|s| log_records(cluster, master, s).1)
                .collect::<Vec<_>>(),
            (0..shards)
                .map(|s| log_records(cluster, replica, s).1)
                .collect::<Vec<_>>(),
            cluster.nodes[master].log_tail(),
            cluster.nodes[replica].log_tail(),
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A shard's rows as its newest checkpoint holds them, by table and key;
/// `None` unless that checkpoint covers the shard's whole log (its replay
/// starts where the log ends) with no prepare open.
fn checkpoint_at_end(
    cluster: &TestCluster,
    node: usize,
    shard: u16,
) -> Option<Vec<(u32, Vec<u8>, String)>> {
    use tessera_storage::checkpoint::{checkpoint_dir, list_checkpoints, load_checkpoint};
    let fs = tessera_storage::file::OsFileSystem;
    let dir = checkpoint_dir(&shard_dir(cluster, node, shard));
    let (_, path) = list_checkpoints(&fs, &dir).ok()?.into_iter().next()?;
    let loaded = load_checkpoint(&fs, &path, shard, 0, |_| true).ok()?;
    let (_, end) = log_records(cluster, node, shard);
    if loaded.header.replay_start != end || !loaded.prepared.is_empty() {
        return None;
    }
    let mut rows = Vec::new();
    for table in loaded.store.table_ids() {
        let t = loaded.store.table(table)?;
        for (key, row) in t.iter_at(None, tessera_storage::store::LATEST) {
            rows.push((table, key.to_vec(), format!("{row:?}")));
        }
    }
    Some(rows)
}

/// Waits until master and replica each hold a checkpoint of every shard
/// covering the whole log, and checks that both hold the same rows.
async fn same_checkpoints(cluster: &TestCluster, master: usize, replica: usize) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let shards = cluster.nodes[master].shards() as u16;
    let mut rows = 0;
    for shard in 0..shards {
        let (theirs, ours) = loop {
            // The logs are the same before and after the checkpoints are
            // read, so both cover the same end: a replica that installs
            // its master's checkpoint meanwhile skips its log ahead, and
            // one of its own read before that covers the old end.
            if same_log(cluster, master, replica, shard) {
                if let (Some(theirs), Some(ours)) = (
                    checkpoint_at_end(cluster, master, shard),
                    checkpoint_at_end(cluster, replica, shard),
                ) {
                    if same_log(cluster, master, replica, shard) {
                        break (theirs, ours);
                    }
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoints of shard {shard} at the log's end\n{}\n{}",
                cluster.nodes[master].log_tail(),
                cluster.nodes[replica].log_tail(),
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        assert_eq!(theirs.len(), ours.len(), "shard {shard}'s row count");
        if let Some((t, o)) = theirs.iter().zip(&ours).find(|(t, o)| t != o) {
            panic!("shard {shard}'s rows differ: the master's {t:?}, the replica's {o:?}");
        }
        rows += ours.len();
    }
    rows
}

/// The replica never failed to copy (a warning names the shard).
fn copied_without_failing(cluster: &TestCluster, replica: usize) {
    let log = cluster.nodes[replica].log();
    assert!(
        !log.contains("following its master: shard"),
        "{}",
        cluster.nodes[replica].log_tail()
    );
}

/// Two nodes of two shards forming one group of two that checkpoint
/// every second (and every 64 KiB of log), connected; which is the master
/// and which the replica.
async fn checkpointing_pair() -> (TestCluster, Vec<Client>, usize, usize) {
    let cluster = TestCluster::start(
        2,
        2,
        &[
            "--replication-factor=2",
            // Restarts and kills here are not meant to fail over.
            "--failover-timeout=60000",
            "--checkpoint-interval=1",
            "--checkpoint-wal-size=65536",
        ],
    );
    let c = connect_all(&cluster).await;
    let nodes = layout(&cluster, &c[0]).await;
    let master = nodes.iter().position(|n| n.2 == 2).expect("a master");
    (cluster, c, master, 1 - master)
}

async fn totals(client: &Client) -> Vec<String> {
    rows_text(client, "SELECT count(*), sum(balance) FROM accounts").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_group_owns_the_buckets_and_any_node_reaches_its_masters() {
    // Its restarts are not meant to fail over.
    let mut cluster = TestCluster::start(
        3,
        2,
        &["--replication-factor=2", "--failover-timeout=60000"],
    );
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
        status.contains(
            "tier default (replication factor 2, async): 3000 buckets, balanced; replica groups:"
        ) && status.contains("full")
            && status.contains("1 of 2 members"),
        "{status}"
    );
    // The same in SQL: each shard's replica set, and each instance's role.
    let sets = rows_text(
        &c[alone],
        "SELECT shard, members, buckets, state FROM tessera_replica_sets ORDER BY shard",
    )
    .await;
    assert_eq!(sets.len(), 4, "{sets:?}");
    assert!(
        sets[..2].iter().all(|s| s.ends_with("|1500|full")) && sets[2].ends_with("|0|short"),
        "{sets:?}"
    );
    assert_eq!(
        rows_text(
            &c[alone],
            "SELECT role, count(*) FROM tessera_instances GROUP BY role ORDER BY role"
        )
        .await,
        ["master|4", "replica|2"]
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
    copied_without_failing(&cluster, replica);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_even_out_between_full_groups_through_their_masters() {
    let cluster = TestCluster::start(
        4,
        1,
        &["--replication-factor=2", "--failover-timeout=60000"],
    );
    let c = connect_all(&cluster).await;
    c[0].batch_execute(
        "CREATE TABLE kv (id int PRIMARY KEY, v int); \
         INSERT INTO kv SELECT g, g FROM generate_series(1, 2000) g",
    )
    .await
    .unwrap();

    // Sessions that read from replicas, on every node: while buckets
    // move, a replica's copy may lack a move its node's map names, or
    // hold one unsettled; such reads go to the master, so every read
    // finds each row once.
    // A replica's reads show the INSERT once its copy has it (they may be
    // a moment behind the master's, as a standby's are).
    let from_replicas = connect_all(&cluster).await;
    for client in &from_replicas {
        client
            .batch_execute("SET tessera.read_preference = replica")
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let seen = rows_text(client, "SELECT count(*), sum(v) FROM kv").await;
            if seen == ["2000|2001000"] {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{seen:?}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    // Two full groups of two (shard 0 and shard 1): the second takes half
    // the buckets from the first, master to master.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut reads = 0;
    let nodes = loop {
        let nodes = layout(&cluster, &c[3]).await;
        if nodes.iter().all(|n| n.1 == 1500) {
            break nodes;
        }
        assert!(std::time::Instant::now() < deadline, "buckets: {nodes:?}");
        for (k, client) in from_replicas.iter().enumerate() {
            assert_eq!(
                rows_text(client, "SELECT count(*), sum(v) FROM kv").await,
                ["2000|2001000"],
                "the session on node {k}, with buckets at {nodes:?}"
            );
            reads += 1;
        }
    };
    eprintln!("{reads} reads from replicas while buckets moved");
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

/// A replica applies what it copies to its store and checkpoints it like
/// any shard (docs/CLUSTER.md §5): with checkpoints every second, its
/// checkpoints hold exactly the rows of its master's, through single-row
/// and cross-shard writes, deletes, a column added, and after it is
/// killed and starts again from its own checkpoints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_applies_what_it_copies_and_checkpoints_the_same_rows() {
    let (mut cluster, c, master, replica) = checkpointing_pair().await;
    c[replica]
        .batch_execute(
            "CREATE TABLE accounts (id int PRIMARY KEY, balance int, note text); \
             CREATE INDEX accounts_balance ON accounts (balance); \
             INSERT INTO accounts SELECT g, 100, repeat('x', g % 50) FROM generate_series(1, 3000) g",
        )
        .await
        .unwrap();
    // Blocks across both shards: prepares, decisions and resolves.
    for n in 0..20 {
        c[n % 2]
            .batch_execute(&format!(
                "BEGIN; UPDATE accounts SET balance = balance - 7 WHERE id = {}; \
                 UPDATE accounts SET balance = balance + 7 WHERE id = {}; COMMIT",
                n + 1,
                n + 1500
            ))
            .await
            .unwrap();
    }
    c[master]
        .batch_execute(
            "DELETE FROM accounts WHERE id % 10 = 3; \
             ALTER TABLE accounts ADD COLUMN flag int DEFAULT 7; \
             UPDATE accounts SET flag = 8 WHERE id % 10 = 4",
        )
        .await
        .unwrap();
    let rows = same_checkpoints(&cluster, master, replica).await;
    // The table's rows and its index's entries.
    assert!(rows >= 2 * 2700, "{rows} rows in the checkpoints");

    // Killed while its master writes on, the replica starts from its own
    // checkpoints and logs, and copies on from there.
    cluster.nodes[replica].kill9();
    c[master]
        .batch_execute(
            "UPDATE accounts SET balance = balance + 1 WHERE id <= 1000; \
             INSERT INTO accounts SELECT g, 5, 'new' FROM generate_series(3001, 3500) g",
        )
        .await
        .unwrap();
    cluster.nodes[replica].restart();
    let c = connect_all(&cluster).await;
    c[replica]
        .batch_execute("DELETE FROM accounts WHERE id > 3400")
        .await
        .unwrap();
    same_checkpoints(&cluster, master, replica).await;
    for client in &c {
        assert_eq!(
            rows_text(
                client,
                "SELECT count(*), sum(balance), sum(flag) FROM accounts"
            )
            .await,
            ["3100|272900|22000"]
        );
    }
    copied_without_failing(&cluster, replica);
}

/// A replica whose master no longer keeps its log from where the
/// replica's ends (the master checkpointed while the replica was down,
/// then restarted, so it holds no older records in memory either) copies
/// the master's newest checkpoint, makes it its own, and copies the log
/// on from there (docs/CLUSTER.md §5); it restarts from it like any
/// shard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_left_behind_copies_its_masters_checkpoint() {
    let (mut cluster, c, master, replica) = checkpointing_pair().await;
    c[master]
        .batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, body text); \
             INSERT INTO items SELECT g, repeat('a', 100) FROM generate_series(1, 500) g",
        )
        .await
        .unwrap();
    replica_caught_up(&cluster, master, replica).await;

    cluster.nodes[replica].kill9();
    for round in 0..4 {
        c[master]
            .execute(
                "UPDATE items SET body = repeat(chr(98 + $1), 100 + $1)",
                &[&round],
            )
            .await
            .unwrap();
        c[master].batch_execute("CHECKPOINT").await.unwrap();
    }
    c[master]
        .batch_execute("INSERT INTO items SELECT g, 'late' FROM generate_series(501, 600) g")
        .await
        .unwrap();
    drop(c);
    cluster.nodes[master].restart();
    cluster.nodes[replica].restart();
    same_checkpoints(&cluster, master, replica).await;
    assert!(
        cluster.nodes[replica]
            .log()
            .contains("installed the master's checkpoint"),
        "{}",
        cluster.nodes[replica].log_tail()
    );

    // It copies on from the checkpoint, and starts again from it.
    let c = connect_all(&cluster).await;
    c[replica]
        .execute("DELETE FROM items WHERE id > 550", &[])
        .await
        .unwrap();
    replica_caught_up(&cluster, master, replica).await;
    cluster.nodes[replica].kill9();
    cluster.nodes[replica].restart();
    let c = connect_all(&cluster).await;
    c[replica]
        .execute("UPDATE items SET body = 'z' WHERE id <= 10", &[])
        .await
        .unwrap();
    same_checkpoints(&cluster, master, replica).await;
    for client in &c {
        assert_eq!(
            rows_text(client, "SELECT count(*), sum(length(body)) FROM items").await,
            ["550|50680"]
        );
    }
}

/// In a cluster of 3 nodes of 2 shards with a factor of 2 (as `layout`
/// gives it): the master of the group of shards 0-1, its replica, and the
/// node alone in the other group, which routes.
fn roles(nodes: &[(u16, u32, u16)]) -> (usize, usize, usize) {
    let master = nodes
        .iter()
        .position(|n| n.0 == 0 && n.2 == 2)
        .expect("a master of shards 0-1");
    let replica = nodes
        .iter()
        .position(|n| n.0 == 0 && n.2 == 0)
        .expect("a replica of shards 0-1");
    (master, replica, 3 - master - replica)
}

/// Sends `signal` (`STOP`, `CONT`) to node `node`'s process.
fn signal(cluster: &TestCluster, node: usize, signal: &str) {
    let pid = cluster.nodes[node].pid().to_string();
    let sent = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .expect("run kill");
    assert!(sent.success());
}

/// Failover (docs/CLUSTER.md §6): the replica of a master killed with -9
/// takes its place; a statement sent meanwhile waits for it and succeeds;
/// the old master rejoins as a replica, dropping the records its replica
/// never copied, and copies the new master's log.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_master_is_replaced_and_rejoins_as_a_replica_without_its_lost_tail() {
    let mut cluster = TestCluster::start(3, 2, &["--replication-factor=2"]);
    let c = connect_all(&cluster).await;
    let nodes = layout(&cluster, &c[0]).await;
    // Two nodes form the group of shards 0-1 (it owns the buckets); the
    // third is alone in its group and routes.
    let (master, replica, router) = roles(&nodes);
    let via = &c[router];
    via.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, v int);
         INSERT INTO t SELECT g, g * 2 FROM generate_series(1, 1000) g",
    )
    .await
    .unwrap();
    replica_caught_up(&cluster, master, replica).await;

    // Writes the master acknowledges and its replica, stopped, never
    // copies: replication is asynchronous, so a failover loses them.
    signal(&cluster, replica, "STOP");
    for id in 2001..=2050 {
        via.execute("INSERT INTO t VALUES ($1, 0)", &[&id])
            .await
            .unwrap();
    }
    cluster.nodes[master].kill9();
    signal(&cluster, replica, "CONT");

    // In a block, a write that reaches no master fails with 40001 (the
    // client runs the block again), and leaves nothing behind.
    let block = cluster.nodes[router].connect().await;
    block.batch_execute("BEGIN").await.unwrap();
    let err = block
        .execute("INSERT INTO t VALUES (5001, 1)", &[])
        .await
        .unwrap_err();
    let db = err.as_db_error().expect("a database error");
    assert_eq!(db.code().code(), "40001", "{db:?}");
    assert!(
        db.hint()
            .is_some_and(|h| h.contains("run the transaction again")),
        "{db:?}"
    );
    block.batch_execute("ROLLBACK").await.unwrap();

    // Sent while no master answers: the router waits for the new one.
    let killed = std::time::Instant::now();
    via.execute("INSERT INTO t VALUES (3001, 6002)", &[])
        .await
        .unwrap();
    eprintln!("the first write after the kill took {:?}", killed.elapsed());
    for id in 3002..=3100 {
        via.execute("INSERT INTO t VALUES ($1, $1 * 2)", &[&id])
            .await
            .unwrap();
    }
    let nodes = layout(&cluster, via).await;
    assert_eq!(nodes[replica].2, 2, "the replica is master of both shards");
    assert_eq!(nodes[master].2, 0);
    assert!(
        cluster.nodes[replica]
            .log()
            .contains("now its replica set's master, in epoch 2"),
        "{}",
        cluster.nodes[replica].log_tail()
    );

    // The old master comes back: its logs reach past where the new
    // master's writes began, so its copies are dropped and copied anew.
    cluster.nodes[master].restart();
    let back = cluster.nodes[master].connect().await;
    assert!(
        cluster.nodes[master]
            .log()
            .contains("so this copy is dropped and copied again from the master"),
        "{}",
        cluster.nodes[master].log_tail()
    );
    let nodes = layout(&cluster, &back).await;
    assert_eq!((nodes[master].2, nodes[replica].2), (0, 2));
    // Through its node, writes go to the new master.
    for id in 4001..=4020 {
        back.execute("INSERT INTO t VALUES ($1, $1 * 2)", &[&id])
            .await
            .unwrap();
    }
    replica_caught_up(&cluster, replica, master).await;
    // Every node reads the same rows: all but the stopped replica's
    // lost ones (a reply already on its way when it stopped may have
    // brought it the first few).
    let c = connect_all(&cluster).await;
    let sql = "SELECT count(*) FILTER (WHERE id BETWEEN 2001 AND 2050), count(*), sum(v) FROM t";
    let seen = rows_text(&c[0], sql).await;
    let kept: i64 = seen[0].split('|').next().unwrap().parse().unwrap();
    assert!(kept < 50, "{seen:?}");
    assert_eq!(seen, [format!("{kept}|{}|1771520", 1120 + kept)]);
    for client in &c[1..] {
        assert_eq!(rows_text(client, sql).await, seen);
    }
    copied_without_failing(&cluster, master);
}

/// Waits until one of `candidates` says it became its group's master in
/// epoch 2; returns it.
async fn promoted_among(cluster: &TestCluster, candidates: &[usize]) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let promoted = candidates.iter().copied().find(|n| {
            cluster.nodes[*n]
                .log()
                .contains("now its replica set's master, in epoch 2")
        });
        if let Some(heir) = promoted {
            return heir;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failover: {}",
            candidates
                .iter()
                .map(|n| cluster.nodes[*n].log_tail())
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Sync mode (docs/CLUSTER.md §5, §6), three nodes in one group: a master
/// acknowledges a commit only once a majority of its group (itself and a
/// replica) holds it durably, so when the master is killed with -9 under
/// write load, every write acknowledged before is there on the promoted
/// replica, which goes on taking writes with the other one; the old
/// master rejoins as a replica.
#[tokio::test(flavor = "multi_thread")]
async fn in_sync_mode_a_killed_master_loses_no_acknowledged_write() {
    let mut cluster =
        TestCluster::start(3, 2, &["--replication-factor=3", "--replication-mode=sync"]);
    let c = connect_all(&cluster).await;
    let nodes = layout(&cluster, &c[0]).await;
    let master = nodes
        .iter()
        .position(|n| n.2 == 2)
        .expect("a master of shards 0-1");
    let replicas: Vec<usize> = (0..3).filter(|n| *n != master).collect();
    let status = cluster.status(replicas[0]).unwrap();
    assert!(
        status.contains("tier default (replication factor 3, sync):")
            && status.contains("; replica groups:"),
        "{status}"
    );
    c[replicas[0]]
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, writer int);
             INSERT INTO t SELECT g, 0 FROM generate_series(1, 100) g",
        )
        .await
        .unwrap();

    // While both replicas are stopped, a commit is not acknowledged; it
    // is once one copies it.
    for r in &replicas {
        signal(&cluster, *r, "STOP");
    }
    let held = {
        let client = cluster.nodes[master].connect().await;
        tokio::spawn(async move { client.execute("INSERT INTO t VALUES (101, 0)", &[]).await })
    };
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert!(
        !held.is_finished(),
        "a commit no replica holds was acknowledged"
    );
    signal(&cluster, replicas[0], "CONT");
    held.await.unwrap().unwrap();
    signal(&cluster, replicas[1], "CONT");

    // Writers through both replicas' nodes, until well after the master
    // is killed; each keeps what was acknowledged.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for (w, node) in [replicas[0], replicas[1], replicas[1]]
        .into_iter()
        .enumerate()
    {
        let client = cluster.nodes[node].connect().await;
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let (mut acked, mut failed) = (Vec::new(), 0);
            let mut id = 1_000_000 * (w as i32 + 1);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                id += 1;
                let sent = client
                    .execute("INSERT INTO t VALUES ($1, $2)", &[&id, &(w as i32 + 1)])
                    .await;
                match sent {
                    Ok(_) => acked.push(id),
                    Err(_) => failed += 1,
                }
            }
            (acked, failed)
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    cluster.nodes[master].kill9();
    let killed = std::time::Instant::now();
    // Until a new master has taken writes for a while.
    let heir = promoted_among(&cluster, &replicas).await;
    eprintln!("promoted {:?} after the kill", killed.elapsed());
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut acked, mut after) = (Vec::new(), 0);
    for writer in writers {
        let (ids, failed) = writer.await.unwrap();
        eprintln!("a writer: {} acknowledged, {failed} failed", ids.len());
        acked.extend(ids);
    }
    let rows: std::collections::BTreeSet<i32> = c[heir]
        .query("SELECT id FROM t", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let lost: Vec<&i32> = acked.iter().filter(|id| !rows.contains(id)).collect();
    assert!(
        lost.is_empty(),
        "acknowledged and lost: {lost:?} (of {})",
        acked.len()
    );
    assert!(rows.contains(&101));
    for id in 9001..=9010 {
        c[heir]
            .execute("INSERT INTO t VALUES ($1, 9)", &[&id])
            .await
            .unwrap();
        after += 1;
    }
    assert_eq!(after, 10, "the new master takes writes");

    // The old master comes back as a replica and copies the new master.
    cluster.nodes[master].restart();
    let back = cluster.nodes[master].connect().await;
    let nodes = layout(&cluster, &back).await;
    // Each shard went to the replica whose copy of it reached furthest:
    // one of them, or each to another.
    assert_eq!(nodes[master].2, 0, "{nodes:?}");
    assert_eq!(nodes.iter().map(|n| n.2).sum::<u16>(), 2, "{nodes:?}");
    for id in 9011..=9020 {
        back.execute("INSERT INTO t VALUES ($1, 9)", &[&id])
            .await
            .unwrap();
    }
    for r in 0..3 {
        if r != heir {
            replica_caught_up(&cluster, heir, r).await;
        }
    }
    let c = connect_all(&cluster).await;
    let sql = "SELECT count(*), sum(id::bigint) FROM t";
    let seen = rows_text(&c[0], sql).await;
    for client in &c[1..] {
        assert_eq!(rows_text(client, sql).await, seen);
    }
    copied_without_failing(&cluster, master);
}

/// A master cut off from the others (the transport's fault hook), sync
/// mode, three nodes in one group: the majority side promotes a replica
/// and keeps taking writes; the cut-off master's lease runs out and it
/// refuses writes. A commit it took just before is never acknowledged;
/// once healed it finds its log holds that commit, which no replica had,
/// restarts to drop its copy, and follows the new master: every node
/// reads one state holding every acknowledged write.
#[tokio::test(flavor = "multi_thread")]
async fn a_cut_off_master_refuses_writes_while_the_majority_goes_on() {
    // A lease of 2 s: time to take a commit after the cut.
    let cluster = TestCluster::start(
        3,
        2,
        &[
            "--replication-factor=3",
            "--replication-mode=sync",
            "--failover-timeout=4000",
        ],
    );
    let c = connect_all(&cluster).await;
    let nodes = layout(&cluster, &c[0]).await;
    let master = nodes.iter().position(|n| n.2 == 2).expect("a master");
    let others: Vec<usize> = (0..3).filter(|n| *n != master).collect();
    c[others[0]]
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, side text);
             INSERT INTO t SELECT g, 'before' FROM generate_series(1, 100) g",
        )
        .await
        .unwrap();
    let cut_client = cluster.nodes[master].connect().await;

    cluster.partition(master);
    // Taken while the lease runs, but no replica can hold it.
    let cut_write = tokio::spawn(async move {
        cut_client
            .execute("INSERT INTO t VALUES (4000, 'cut')", &[])
            .await
    });
    // The majority side: a new master, and writes through either node.
    let heir = promoted_among(&cluster, &others).await;
    let mut acked = Vec::new();
    for (i, node) in others.iter().enumerate() {
        for k in 0..20 {
            let id = 1000 + 100 * i as i32 + k;
            c[*node]
                .execute("INSERT INTO t VALUES ($1, 'majority')", &[&id])
                .await
                .unwrap();
            acked.push(id);
        }
    }
    // The cut-off side: its lease ran out, so a write is refused (after
    // the router waited for a master it could reach), and so is a read
    // from masters, which could miss the majority's writes.
    let reader = cluster.nodes[master].connect().await;
    let (refused, refused_read) = tokio::join!(
        c[master].execute("INSERT INTO t VALUES (5000, 'minority')", &[]),
        reader.query("SELECT count(*) FROM t", &[])
    );
    for refused in [refused.unwrap_err(), refused_read.unwrap_err()] {
        let refused = refused.as_db_error().map(|e| e.message().to_string());
        assert!(
            refused
                .as_deref()
                .is_some_and(|m| m.contains("takes no writes and serves no reads")),
            "{refused:?}"
        );
    }
    assert!(
        !cut_write.is_finished(),
        "a commit no replica holds returned"
    );

    cluster.heal();
    // Its outcome is unknown to the client: an error, not success.
    let cut_write = cut_write.await.unwrap();
    assert!(cut_write.is_err(), "{cut_write:?}");
    // Healed, the old master drops its copy and follows the new one;
    // through it, writes go to the new master.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let sent = match cluster.nodes[master].try_connect().await {
            Ok(back) => back
                .execute("INSERT INTO t VALUES (6000, 'healed')", &[])
                .await
                .map_err(|e| format!("{e:?}")),
            Err(e) => Err(e.to_string()),
        };
        // A try cut short by the node's restart may have committed (its
        // outcome was unknown to the client): the row is then there.
        if sent.is_ok() || sent.as_ref().is_err_and(|e| e.contains("E23505")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no write through the healed node: {sent:?}\n{}",
            cluster.nodes[master].log_tail()
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    acked.push(6000);
    let log = cluster.nodes[master].log();
    assert!(
        log.contains("restarting the node") && log.contains("so this copy is dropped"),
        "{}",
        cluster.nodes[master].log_tail()
    );
    let back = cluster.nodes[master].connect().await;
    let nodes = layout(&cluster, &back).await;
    assert_eq!(nodes[master].2, 0, "{nodes:?}");
    assert_eq!(nodes.iter().map(|n| n.2).sum::<u16>(), 2, "{nodes:?}");
    for r in (0..3).filter(|r| *r != heir) {
        replica_caught_up(&cluster, heir, r).await;
    }
    let c = connect_all(&cluster).await;
    let rows: std::collections::BTreeSet<i32> = c[heir]
        .query("SELECT id FROM t", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let lost: Vec<&i32> = acked.iter().filter(|id| !rows.contains(id)).collect();
    assert!(lost.is_empty(), "acknowledged and lost: {lost:?}");
    assert!(!rows.contains(&4000) && !rows.contains(&5000), "{rows:?}");
    let sql = "SELECT count(*), sum(id) FROM t";
    let seen = rows_text(&c[0], sql).await;
    assert_eq!(
        seen,
        [format!(
            "{}|{}",
            100 + acked.len(),
            5050 + acked.iter().sum::<i32>()
        )]
    );
    for client in &c[1..] {
        assert_eq!(rows_text(client, sql).await, seen);
    }
}

/// Reads from replicas (docs/CLUSTER.md §5): a session that sets
/// `tessera.read_preference` reads from a replica, its own node's copy
/// or another member's, so its SELECTs go on while the master is stopped,
/// where a session reading from masters waits; its writes still go to the
/// master, and the replica's reads catch up with them.
#[tokio::test(flavor = "multi_thread")]
async fn a_session_that_asks_reads_from_replicas_while_the_master_is_stopped() {
    let cluster = TestCluster::start(
        3,
        2,
        &["--replication-factor=2", "--failover-timeout=60000"],
    );
    let c = connect_all(&cluster).await;
    let nodes = layout(&cluster, &c[0]).await;
    let (master, replica, router) = roles(&nodes);
    c[router]
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, v int);
             INSERT INTO t SELECT g, g * 2 FROM generate_series(1, 1000) g",
        )
        .await
        .unwrap();
    replica_caught_up(&cluster, master, replica).await;

    let bad = c[router]
        .batch_execute("SET tessera.read_preference = 'nearest'")
        .await
        .unwrap_err();
    assert_eq!(bad.code().unwrap().code(), "22023", "{bad:?}");
    for client in [&c[replica], &c[router]] {
        client
            .batch_execute("SET tessera.read_preference = replica")
            .await
            .unwrap();
        assert_eq!(
            rows_text(client, "SHOW tessera.read_preference").await,
            ["replica"]
        );
        assert_eq!(
            rows_text(client, "SELECT count(*), sum(v) FROM t").await,
            ["1000|1001000"]
        );
    }

    // The master stops answering (no failover: its timeout is a minute).
    signal(&cluster, master, "STOP");
    let all = "SELECT count(*), sum(v) FROM t";
    // On the replica's node, and from the third node through it.
    for client in [&c[replica], &c[router]] {
        assert_eq!(rows_text(client, all).await, ["1000|1001000"]);
        assert_eq!(
            rows_text(client, "SELECT v FROM t WHERE id = 7").await,
            ["14"]
        );
    }
    // `any` reads this node's copy, master's or replica's.
    c[replica]
        .batch_execute("SET tessera.read_preference = any")
        .await
        .unwrap();
    assert_eq!(rows_text(&c[replica], all).await, ["1000|1001000"]);
    // A READ ONLY block reads from replicas too at READ COMMITTED; each
    // copy reads at its own newest snapshot, which is no block's, so a
    // REPEATABLE READ block reads from masters and waits here.
    c[router].batch_execute("BEGIN READ ONLY").await.unwrap();
    assert_eq!(rows_text(&c[router], all).await, ["1000|1001000"]);
    c[router].batch_execute("COMMIT").await.unwrap();
    let waited = c[router]
        .batch_execute(
            "SET statement_timeout = 1000; \
             BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT count(*) FROM t",
        )
        .await
        .unwrap_err();
    assert_eq!(waited.code().unwrap().code(), "57014", "{waited:?}");
    c[router]
        .batch_execute("ROLLBACK; RESET statement_timeout")
        .await
        .unwrap();
    // A session reading from masters waits for the stopped one.
    let leader = cluster.nodes[router].connect().await;
    let waited = leader
        .batch_execute("SET statement_timeout = 1000; SELECT count(*) FROM t")
        .await
        .unwrap_err();
    assert_eq!(waited.code().unwrap().code(), "57014", "{waited:?}");
    signal(&cluster, master, "CONT");

    // Writes go to the master whatever the setting; the replica's reads
    // show them once its copy has them.
    c[replica]
        .execute(
            "INSERT INTO t SELECT g, 1 FROM generate_series(1001, 1100) g",
            &[],
        )
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let seen = rows_text(&c[replica], all).await;
        if seen == ["1100|1001100"] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{seen:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(rows_text(&leader, all).await, ["1100|1001100"]);
}
