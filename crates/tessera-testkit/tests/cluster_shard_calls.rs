//! Shard requests between nodes, against real `tessera` processes: the
//! test acts as another node's router. It binds statements against a copy
//! of a node's catalog, encodes the `ShardRequest`s they make
//! (`tessera_sql::wire`) and sends them over the node's internal port
//! (`tessera_cluster::shards::ShardPeer`, authenticated with the cluster
//! secret) to a chosen shard; the node runs them through that shard's
//! mailbox. What the shards then hold is checked through SQL on the node.
//!
//! (Statements reach other nodes' shards the same way: see `cluster.rs`
//! for them through SQL.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use tessera_cluster::secret::ClusterSecret;
use tessera_cluster::shards::{HybridClock, ShardPeer};
use tessera_cluster::wire::{connect, read_frame, write_frame, Request, Response};
use tessera_sql::binder::Binder;
use tessera_sql::expr::Params;
use tessera_sql::plan::Plan;
use tessera_sql::shard::{ShardRequest, ShardResponse, WriteMode};
use tessera_sql::wire::{decode_response, encode_request};
use tessera_testkit::cluster::{TestCluster, CLUSTER_TIMEOUT};
use tessera_testkit::{rows_text, try_rows_text};
use tessera_types::datetime::TimeContext;
use tessera_types::encoding::{encode_key, hash_key};
use tessera_types::schema::{ShardId, BUCKET_COUNT_DEFAULT, PUBLIC};
use tessera_types::{sqlstate, Catalog, ColumnDef, DataType, Error, TableDef, Value};

const SHARDS: usize = 2;
/// The newest committed versions.
const LATEST: u64 = u64::MAX;
const PATIENT: Duration = Duration::from_secs(20);

/// A node's table `t (id int8 PRIMARY KEY, v text)`, as the node's
/// catalog has it, and the catalog to bind against.
struct Remote {
    peer: ShardPeer,
    catalog: Catalog,
    table: Arc<TableDef>,
    /// The cluster-wide number of the node's shard 0.
    first: ShardId,
}

impl Remote {
    async fn new(cluster: &TestCluster, node: usize) -> Remote {
        let client = cluster.nodes[node].connect().await;
        client
            .batch_execute("CREATE TABLE t (id int8 PRIMARY KEY, v text)")
            .await
            .unwrap();
        Remote::existing(cluster, node).await
    }

    /// For table `t`, already in the cluster's catalog.
    async fn existing(cluster: &TestCluster, node: usize) -> Remote {
        let client = cluster.nodes[node].connect().await;
        let oid: i64 = client
            .query_one("SELECT oid::int8 FROM pg_class WHERE relname = 't'", &[])
            .await
            .unwrap()
            .get(0);
        let def = TableDef {
            id: (oid - 16384) as u32,
            name: "t".into(),
            schema: PUBLIC,
            columns: vec![
                ColumnDef::new("id", DataType::Int8, true),
                ColumnDef::new("v", DataType::Text, false),
            ],
            primary_key: vec![0],
            sharding_key: vec![0],
            global: false,
            tier: 0,
            checks: vec![],
            foreign_keys: vec![],
        };
        let catalog = Catalog::new(BUCKET_COUNT_DEFAULT, SHARDS as u16).with_table_replayed(def);
        let table = catalog.table(PUBLIC, "t").unwrap().clone();
        let secret = ClusterSecret::load(&cluster.secret).unwrap();
        Remote {
            peer: ShardPeer::new(cluster.addrs[node].clone(), secret, TestClock::at(0)),
            catalog,
            table,
            first: cluster.first_shard(node).await,
        }
    }

    /// The key of row `id` and the shard of this node it would be on if
    /// the node owned every bucket (its cluster-wide number).
    fn key(&self, id: i64) -> (Vec<u8>, ShardId) {
        let key = encode_key(&[Value::Int8(id)], &[0]);
        let shard = self
            .catalog
            .shard_of_bucket(self.catalog.bucket_of_hash(0, hash_key(&key)));
        (key, self.first + shard)
    }

    /// A point read of row `id`, latest version, and its shard.
    fn get(&self, id: i64) -> (ShardId, ShardRequest) {
        let (key, shard) = self.key(id);
        let get = ShardRequest::Get {
            table: self.table.id,
            key,
            ts: LATEST,
            txn: None,
            track_reads: false,
        };
        (shard, get)
    }

    fn insert(&self, id: i64, v: &str, mode: WriteMode) -> (ShardId, ShardRequest) {
        let (key, shard) = self.key(id);
        let row = vec![Value::Int8(id), Value::Text(v.into())];
        let request = ShardRequest::Insert {
            table: self.table.clone(),
            rows: vec![(key, row)],
            mode,
            upsert: None,
        };
        (shard, request)
    }

    fn scan(&self, sql: &str) -> ShardRequest {
        let parsed = tessera_sql::parser::parse(sql).unwrap();
        let statement = Binder::new(&self.catalog, &[], Default::default())
            .bind(&parsed[0], sql)
            .unwrap();
        assert!(matches!(&*statement.plan, Plan::Select(_)));
        ShardRequest::Scan {
            plan: statement.plan.clone(),
            params: Arc::new(Params::new(vec![], TimeContext::utc_at(0))),
            ts: LATEST,
            txn: None,
            track_reads: false,
            key: None,
        }
    }

    async fn call(
        &self,
        shard: ShardId,
        request: &ShardRequest,
        timeout: Duration,
    ) -> Result<ShardResponse, Error> {
        let bytes = encode_request(request).unwrap();
        let answer = self.peer.call(shard, bytes, timeout).await?;
        Ok(decode_response(&answer).unwrap())
    }
}

/// The calling side's clock, as another node's would be, and the floor
/// of its snapshots (none by default).
struct TestClock(std::sync::atomic::AtomicU64, std::sync::atomic::AtomicU64);

impl TestClock {
    fn at(reading: u64) -> Arc<TestClock> {
        Arc::new(TestClock(reading.into(), u64::MAX.into()))
    }

    fn hold(&self, floor: u64) {
        self.1.store(floor, std::sync::atomic::Ordering::SeqCst);
    }
}

impl HybridClock for TestClock {
    fn now(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
    fn observe(&self, reading: u64) -> tessera_types::Result<()> {
        self.0
            .fetch_max(reading, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
    fn floor(&self) -> u64 {
        self.1.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn wall_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

fn rows_of(response: ShardResponse) -> Vec<String> {
    let ShardResponse::Rows(rows) = response else {
        panic!("not rows: {response:?}")
    };
    rows.iter()
        .map(|r| {
            r.iter()
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

fn written(response: ShardResponse) -> u64 {
    match response {
        ShardResponse::Count(n) | ShardResponse::Written(n, ..) => n,
        other => panic!("not a write: {other:?}"),
    }
}

/// A transaction block's id, as a router of shard `shard` would make one.
fn block_id(seq: u64, shard: ShardId) -> u64 {
    (1 << 30) * 1024 + seq * 1024 + shard as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_nodes_shards_run_reads_writes_and_report_errors() {
    let cluster = TestCluster::start(2, SHARDS, &["--rebalance=false"]);
    // The founder's shards own every bucket; the other node's SQL reads
    // them there.
    let founder = cluster.founder().await;
    let other = 1 - founder;
    let remote = Remote::new(&cluster, founder).await;

    // Writes, each sent to the shard that owns its key.
    let mut shards_used = std::collections::BTreeSet::new();
    for id in 1..=20 {
        let (shard, insert) = remote.insert(id, &format!("v{id}"), WriteMode::Autocommit);
        shards_used.insert(shard);
        let n = written(remote.call(shard, &insert, PATIENT).await.unwrap());
        assert_eq!(n, 1);
    }
    assert_eq!(
        shards_used.len(),
        SHARDS,
        "the keys spread over both shards"
    );

    // The other node's SQL sees them.
    let client = cluster.nodes[other].connect().await;
    let rows = rows_text(&client, "SELECT count(*), min(v), max(id) FROM t").await;
    assert_eq!(rows, vec!["20|v1|20"]);

    // A point read and a scan with a filter, over the internal port.
    let (shard, get) = remote.get(7);
    let got = rows_of(remote.call(shard, &get, PATIENT).await.unwrap());
    assert_eq!(got, vec![r#"Int8(7)|Text("v7")"#]);
    let mut scanned = Vec::new();
    for shard in 0..SHARDS as u16 {
        let scan = remote.scan("SELECT id, upper(v) FROM t WHERE id > 17");
        scanned.extend(rows_of(remote.call(shard, &scan, PATIENT).await.unwrap()));
    }
    scanned.sort();
    assert_eq!(
        scanned,
        vec![
            r#"Int8(18)|Text("V18")"#,
            r#"Int8(19)|Text("V19")"#,
            r#"Int8(20)|Text("V20")"#
        ]
    );

    // A shard's error arrives with its SQLSTATE and fields.
    let (shard, duplicate) = remote.insert(7, "again", WriteMode::Autocommit);
    let e = remote.call(shard, &duplicate, PATIENT).await.unwrap_err();
    assert_eq!(e.code, sqlstate::UNIQUE_VIOLATION, "{e:?}");
    assert!(e.detail.as_deref().unwrap_or("").contains("(7)"), "{e:?}");

    // A table the node does not have.
    let mut other = (*remote.table).clone();
    other.id += 1000;
    let missing = ShardRequest::Insert {
        table: Arc::new(other),
        rows: vec![(remote.key(1).0, vec![Value::Int8(1), Value::Null])],
        mode: WriteMode::Autocommit,
        upsert: None,
    };
    let e = remote.call(0, &missing, PATIENT).await.unwrap_err();
    assert_eq!(e.code, sqlstate::UNDEFINED_TABLE, "{e:?}");

    // A shard the node does not have.
    let e = remote.call(9, &get, PATIENT).await.unwrap_err();
    assert_eq!(e.code, sqlstate::UNDEFINED_OBJECT, "{e:?}");
    assert!(e.message.contains("no shard 9"), "{e:?}");

    // Bytes that are no request: an error, and the node lives on.
    let e = remote
        .peer
        .call(0, vec![0xEE; 40], PATIENT)
        .await
        .unwrap_err();
    assert_eq!(e.code, sqlstate::PROTOCOL_VIOLATION, "{e:?}");
    let got = rows_of(remote.call(shard, &get, PATIENT).await.unwrap());
    assert_eq!(got.len(), 1);

    // A shard channel that carries a frame that is no call is closed; the
    // node serves on.
    let secret = ClusterSecret::load(&cluster.secret).unwrap();
    let mut raw = connect(&cluster.addrs[founder], &secret).await.unwrap();
    write_frame(&mut raw, &Request::ShardChannel).await.unwrap();
    let opened = read_frame::<Response, _>(&mut raw).await.unwrap();
    assert!(matches!(opened, Some(Response::ShardChannel)), "{opened:?}");
    raw.write_all(&[0, 0, 0, 5, 9, 9, 9, 9, 9]).await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(PATIENT, raw.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    let got = rows_of(remote.call(shard, &get, PATIENT).await.unwrap());
    assert_eq!(got.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_call_stops_on_the_other_node_and_a_dead_node_fails_calls_at_once() {
    let mut cluster = TestCluster::start(2, SHARDS, &["--rebalance=false"]);
    let founder = cluster.founder().await;
    let other = 1 - founder;
    let remote = Arc::new(Remote::new(&cluster, founder).await);

    // A transaction block holds key 5; an INSERT of key 5 then waits for
    // it.
    let holder = |seq| WriteMode::Txn {
        id: block_id(seq, 0),
        snapshot: None,
        savepoint: 0,
        track_reads: false,
    };
    let (shard, hold) = remote.insert(5, "held", holder(1));
    assert_eq!(
        written(remote.call(shard, &hold, PATIENT).await.unwrap()),
        1
    );

    // A caller's timeout: 57014, and the request stops there too.
    let (_, waiter) = remote.insert(5, "waiter", WriteMode::Autocommit);
    let started = Instant::now();
    let e = remote
        .call(shard, &waiter, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(e.code, sqlstate::QUERY_CANCELED, "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(3));

    // A caller that goes away (its future dropped) cancels its request.
    let (_, dropped) = remote.insert(5, "dropped", WriteMode::Autocommit);
    let r = remote.clone();
    let call = tokio::spawn(async move { r.call(shard, &dropped, PATIENT).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Meanwhile the same connection serves other calls: one blocked call
    // holds up nothing.
    let started = Instant::now();
    let (_, get) = remote.get(5);
    assert!(rows_of(remote.call(shard, &get, PATIENT).await.unwrap()).is_empty());
    assert!(started.elapsed() < Duration::from_secs(2));
    call.abort();
    let _ = call.await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The block ends without writing: had either waiter gone on, it would
    // now take key 5, and this INSERT would fail with 23505.
    let abort = ShardRequest::TxnAbort { id: block_id(1, 0) };
    remote.call(shard, &abort, PATIENT).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, insert) = remote.insert(5, "last", WriteMode::Autocommit);
    assert_eq!(
        written(remote.call(shard, &insert, PATIENT).await.unwrap()),
        1
    );
    let client = cluster.nodes[other].connect().await;
    let rows = rows_text(&client, "SELECT v FROM t WHERE id = 5").await;
    assert_eq!(rows, vec!["last"]);

    // The node dies while a call waits on it: the call fails with 08006 at
    // once, not at its timeout.
    let (_, hold) = remote.insert(6, "held", holder(2));
    assert_eq!(
        written(remote.call(shard, &hold, PATIENT).await.unwrap()),
        1
    );
    let (_, waiter) = remote.insert(6, "waiter", WriteMode::Autocommit);
    let r = remote.clone();
    let call = tokio::spawn(async move {
        let started = Instant::now();
        (r.call(shard, &waiter, PATIENT).await, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.nodes[founder].kill9();
    let (result, waited) = call.await.unwrap();
    let e = result.unwrap_err();
    assert_eq!(e.code, sqlstate::CONNECTION_FAILURE, "{e:?}");
    assert!(waited < Duration::from_secs(5), "failed after {waited:?}");

    // Calls to it now fail fast; the other node still serves its own
    // shards (the table is in the catalog every node shares).
    let e = remote.call(shard, &get, PATIENT).await.unwrap_err();
    assert_eq!(e.code, sqlstate::CONNECTION_FAILURE, "{e:?}");
    let alive = Remote::existing(&cluster, other).await;
    let (shard, insert) = alive.insert(1, "node 0", WriteMode::Autocommit);
    assert_eq!(
        written(alive.call(shard, &insert, PATIENT).await.unwrap()),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_carry_clock_readings_and_a_clock_far_ahead_is_refused() {
    let cluster = TestCluster::start(1, SHARDS, &[]);
    let remote = Remote::new(&cluster, 0).await;
    let secret = ClusterSecret::load(&cluster.secret).unwrap();
    let (shard, get) = remote.get(1);
    let call = |clock: Arc<TestClock>| {
        let peer = ShardPeer::new(cluster.addrs[0].clone(), secret.clone(), clock);
        let bytes = encode_request(&get).unwrap();
        async move { peer.call(shard, bytes, PATIENT).await }
    };
    // A caller 300 ms ahead: the node's clock follows it, as its next
    // reply (to a caller whose clock is at 0) says.
    let ahead = wall_micros() + 300_000;
    call(TestClock::at(ahead)).await.unwrap();
    let fresh = TestClock::at(0);
    call(fresh.clone()).await.unwrap();
    assert!(fresh.now() >= ahead, "the reply carries the node's clock");
    // A caller seconds ahead is refused, and the node's clock stays.
    let far = wall_micros() + 5_000_000;
    let e = call(TestClock::at(far)).await.unwrap_err();
    assert_eq!(e.code, sqlstate::SYSTEM_ERROR, "{e:?}");
    assert!(e.message.contains("ahead"), "{e:?}");
    let fresh = TestClock::at(0);
    call(fresh.clone()).await.unwrap();
    assert!(fresh.now() < far);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_another_nodes_snapshot_reads_are_kept_and_older_ones_refused() {
    let cluster = TestCluster::start(1, SHARDS, &[]);
    let remote = Remote::new(&cluster, 0).await;
    let client = cluster.nodes[0].connect().await;
    client
        .batch_execute("INSERT INTO t VALUES (1, 'first')")
        .await
        .unwrap();
    let secret = ClusterSecret::load(&cluster.secret).unwrap();
    let clock = TestClock::at(0);
    let peer = ShardPeer::new(cluster.addrs[0].clone(), secret.clone(), clock.clone());
    let (shard, latest) = remote.get(1);
    let read_at = |ts: u64| match &latest {
        ShardRequest::Get {
            table, key, txn, ..
        } => ShardRequest::Get {
            table: *table,
            key: key.clone(),
            ts,
            txn: *txn,
            track_reads: false,
        },
        _ => unreachable!(),
    };
    // The reply carries the node's clock, past the insert's commit: a
    // snapshot there sees the first version. This caller holds it.
    peer.call(shard, encode_request(&latest).unwrap(), PATIENT)
        .await
        .unwrap();
    let snapshot = clock.now();
    clock.hold(snapshot);
    let got = rows_of(
        decode_response(
            &peer
                .call(shard, encode_request(&read_at(snapshot)).unwrap(), PATIENT)
                .await
                .unwrap(),
        )
        .unwrap(),
    );
    assert_eq!(got, vec![r#"Int8(1)|Text("first")"#]);

    // Newer versions, then garbage collection past the cluster's lag.
    for v in ["second", "third"] {
        client
            .execute("UPDATE t SET v = $1 WHERE id = 1", &[&v])
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The row's next write prunes what no snapshot needs.
    client
        .batch_execute("UPDATE t SET v = 'fourth' WHERE id = 1; VACUUM")
        .await
        .unwrap();
    let again = |ts| {
        let peer = &peer;
        let request = encode_request(&read_at(ts)).unwrap();
        async move { peer.call(shard, request, PATIENT).await }
    };
    let got = rows_of(decode_response(&again(snapshot).await.unwrap()).unwrap());
    assert_eq!(got, vec![r#"Int8(1)|Text("first")"#], "kept for the caller");

    // The caller lets go; once pruned, its old snapshot is refused, never
    // answered with a wrong version.
    clock.hold(u64::MAX);
    again(clock.now()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    client
        .batch_execute("UPDATE t SET v = 'fifth' WHERE id = 1; VACUUM")
        .await
        .unwrap();
    let e = again(snapshot).await.unwrap_err();
    assert_eq!(e.code, sqlstate::SERIALIZATION_FAILURE, "{e:?}");
    assert!(e.message.contains("snapshot is too old"), "{e:?}");
    let got = rows_of(decode_response(&again(clock.now()).await.unwrap()).unwrap());
    assert_eq!(got, vec![r#"Int8(1)|Text("fifth")"#]);
}

/// A transaction id handed out by a router on the node whose shards start
/// at `first` (see `tessera_storage::record::make_id`).
fn tx_of(first: ShardId, seq: u64) -> u64 {
    ((1 << 40) + seq) << 16 | first as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepares_of_a_router_gone_silent_are_settled_by_asking_its_node() {
    let mut cluster = TestCluster::start(2, SHARDS, &["--rebalance=false"]);
    let founder = cluster.founder().await;
    let other = 1 - founder;
    let remote = Remote::new(&cluster, founder).await;
    // The router's shard, on the other node, decides (docs/CLUSTER.md §4).
    let router = cluster.first_shard(other).await;
    let at_router = Remote::existing(&cluster, other).await;
    let decide = |tx, shard, commit, ts| ShardRequest::Decide {
        tx,
        commit,
        ts,
        participants: vec![shard],
    };

    // A router on the other node prepared a row, then said nothing: the
    // shard asks the router's node, which has no decision and fences the
    // transaction; the shard aborts it, and a write waiting for the key
    // goes on. Its commit decision, come late, is refused.
    let orphan = tx_of(router, 1);
    let (shard, prepared) = remote.insert(1, "orphan", WriteMode::Prepare(orphan));
    assert_eq!(
        written(remote.call(shard, &prepared, PATIENT).await.unwrap()),
        1
    );
    let (_, after) = remote.insert(1, "after", WriteMode::Autocommit);
    assert_eq!(
        written(remote.call(shard, &after, PATIENT).await.unwrap()),
        1,
        "the key is free once the orphan is aborted"
    );
    let e = at_router
        .call(router, &decide(orphan, shard, true, wall_micros()), PATIENT)
        .await
        .unwrap_err();
    assert_eq!(e.code, sqlstate::SERIALIZATION_FAILURE, "{e:?}");

    // Two decided commits at the router's shard, whose resolves never came:
    // the shard commits the first by asking; the second's participant is
    // killed before it hears, and its recovery keeps the prepare in doubt,
    // and asks.
    for (id, v) in [(2, "decided"), (3, "in doubt")] {
        let tx = tx_of(router, id as u64);
        let (shard, prepared) = remote.insert(id, v, WriteMode::Prepare(tx));
        assert_eq!(
            written(remote.call(shard, &prepared, PATIENT).await.unwrap()),
            1
        );
        at_router
            .call(router, &decide(tx, shard, true, wall_micros()), PATIENT)
            .await
            .unwrap();
    }
    drop((remote, at_router));
    cluster.nodes[founder].kill9();
    cluster.nodes[founder].restart();

    let client = cluster.nodes[other].connect().await;
    let deadline = Instant::now() + CLUSTER_TIMEOUT;
    let settled = ["1|after", "2|decided", "3|in doubt"];
    loop {
        let rows = try_rows_text(&client, "SELECT id, v FROM t ORDER BY id").await;
        if rows.as_deref().is_ok_and(|r| r == settled) {
            break;
        }
        assert!(Instant::now() < deadline, "never settled: {rows:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every outcome is in the logs: the same after a restart.
    drop(client);
    cluster.restart_all();
    let client = cluster.nodes[other].connect().await;
    assert_eq!(
        rows_text(&client, "SELECT id, v FROM t ORDER BY id").await,
        settled
    );
}
