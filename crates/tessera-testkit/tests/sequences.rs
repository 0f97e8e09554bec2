//! Sequences under concurrency and crashes: every value handed out is
//! unique, and after a kill -9 no value a client saw is handed out again
//! (values may be skipped, as in PostgreSQL).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tessera_testkit::{rows_text, TestServer};

const CLIENTS: usize = 6;
/// Values to see acknowledged before the crash.
const ACKED_BEFORE_CRASH_MIN: u64 = 300;
const LOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// What the clients saw: ids of rows inserted into the serial table, and
/// values of `nextval('s')`.
#[derive(Default)]
struct Seen {
    ids: Vec<i64>,
    values: Vec<i64>,
}

fn is_connection_loss(code: &tokio_postgres::error::SqlState) -> bool {
    code.code().starts_with("57") || code.code().starts_with("08")
}

#[tokio::test]
async fn sequence_values_are_unique_and_never_repeat_after_a_crash() {
    let mut server = TestServer::start_with_shards(2);
    if server.is_external() {
        eprintln!("skipping: needs process control of a spawned tessera");
        return;
    }
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE items (id bigserial PRIMARY KEY, client int NOT NULL);
             CREATE SEQUENCE s;
             CREATE TABLE marks (k int PRIMARY KEY, n bigint);",
        )
        .await
        .unwrap();
    drop(client);

    let seen = Arc::new(Mutex::new(Seen::default()));
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let client = server.connect().await;
        let (seen, acked, stop) = (seen.clone(), acked.clone(), stop.clone());
        tasks.spawn(async move {
            let insert = client
                .prepare("INSERT INTO items (client) VALUES ($1) RETURNING id")
                .await
                .unwrap();
            let mut round = 0i32;
            while !stop.load(Ordering::Relaxed) {
                // Values drawn by the router (serial), by a query, and by
                // a shard (UPDATE … SET n = nextval(…)) in turn.
                let result = match round % 3 {
                    0 => client
                        .query_one(&insert, &[&(c as i32)])
                        .await
                        .map(|r| (true, r.get::<_, i64>(0))),
                    1 => client
                        .query_one("SELECT nextval('s')", &[])
                        .await
                        .map(|r| (false, r.get::<_, i64>(0))),
                    _ => {
                        let k = (c as i32) * 1_000_000 + round;
                        match client
                            .execute("INSERT INTO marks VALUES ($1, 0)", &[&k])
                            .await
                        {
                            Ok(_) => client
                                .query_one(
                                    "UPDATE marks SET n = nextval('s') WHERE k = $1 RETURNING n",
                                    &[&k],
                                )
                                .await
                                .map(|r| (false, r.get::<_, i64>(0))),
                            Err(e) => Err(e),
                        }
                    }
                };
                match result {
                    Ok((is_id, v)) => {
                        let mut s = seen.lock().unwrap();
                        if is_id {
                            s.ids.push(v);
                        } else {
                            s.values.push(v);
                        }
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) if e.code().is_some_and(|c| !is_connection_loss(c)) => {
                        panic!("client {c}: rejected: {e:?}")
                    }
                    Err(_) => return,
                }
                round += 1;
            }
        });
    }
    let deadline = Instant::now() + LOAD_TIMEOUT;
    while acked.load(Ordering::Relaxed) < ACKED_BEFORE_CRASH_MIN {
        assert!(
            Instant::now() < deadline,
            "load too slow\n{}",
            server.log_tail()
        );
        assert!(
            tasks.try_join_next().is_none(),
            "a client stopped\n{}",
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    while let Some(joined) = tasks.join_next().await {
        joined.expect("client task panicked");
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    for (what, list) in [("id", &seen.ids), ("nextval", &seen.values)] {
        let unique: BTreeSet<i64> = list.iter().copied().collect();
        assert_eq!(unique.len(), list.len(), "a {what} was handed out twice");
    }

    server.restart();
    let client = server.connect().await;
    // Every acknowledged row survived, and new values come after every
    // value any client saw.
    let ids: BTreeSet<i64> = client
        .query("SELECT id FROM items", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for id in &seen.ids {
        assert!(ids.contains(id), "acknowledged row {id} was lost");
    }
    let max_id = seen.ids.iter().copied().max().unwrap_or(0);
    let max_value = seen.values.iter().copied().max().unwrap_or(0);
    let next_id: i64 = client
        .query_one("INSERT INTO items (client) VALUES (-1) RETURNING id", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        next_id > max_id,
        "id {next_id} repeats after the crash (seen up to {max_id})"
    );
    let next_value: i64 = client
        .query_one("SELECT nextval('s')", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        next_value > max_value,
        "nextval {next_value} repeats after the crash (seen up to {max_value})"
    );
    // currval is per session: this one has the id it inserted, a new
    // one none.
    let current: i64 = client
        .query_one("SELECT currval('items_id_seq')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(current, next_id);
    let err = server
        .connect()
        .await
        .query_one("SELECT currval('items_id_seq')", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("55000"));

    // A clean restart resumes the sequence where it was, without a gap.
    let before: i64 = client
        .query_one("SELECT nextval('s')", &[])
        .await
        .unwrap()
        .get(0);
    drop(client);
    server.restart();
    let client = server.connect().await;
    let after = rows_text(&client, "SELECT nextval('s')").await;
    assert_eq!(after[0].parse::<i64>().unwrap(), before + 1);
}

#[tokio::test]
async fn defaults_checks_views_and_identity_survive_a_restart() {
    let mut server = TestServer::start_with_shards(2);
    if server.is_external() {
        eprintln!("skipping: needs process control of a spawned tessera");
        return;
    }
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE t (id int GENERATED ALWAYS AS IDENTITY (START WITH 100), \
                 name text NOT NULL DEFAULT 'anon', qty int CHECK (qty >= 0), \
                 made date DEFAULT '2024-02-03');
             INSERT INTO t (qty) VALUES (1), (2);
             CREATE VIEW big AS SELECT id, qty FROM t WHERE qty > 1;
             CREATE TABLE copy AS SELECT id, name FROM t;
             ALTER TABLE copy ADD COLUMN extra int DEFAULT 5;
             ALTER TABLE copy ALTER COLUMN name SET DEFAULT 'later';
             ALTER TABLE t ADD CONSTRAINT few CHECK (qty < 100);",
        )
        .await
        .unwrap();
    drop(client);
    server.kill9();
    server.restart();
    let client = server.connect().await;
    client
        .batch_execute("INSERT INTO t (qty) VALUES (3)")
        .await
        .unwrap();
    // After a crash the identity skips values (as PostgreSQL's do), never
    // repeating one.
    assert_eq!(
        rows_text(
            &client,
            "SELECT id, name, qty, made FROM t WHERE qty < 3 ORDER BY id"
        )
        .await,
        vec!["100|anon|1|2024-02-03", "101|anon|2|2024-02-03"]
    );
    assert_eq!(
        rows_text(&client, "SELECT id > 101, name, made FROM t WHERE qty = 3").await,
        vec!["t|anon|2024-02-03"]
    );
    assert_eq!(
        rows_text(&client, "SELECT qty FROM big ORDER BY id").await,
        vec!["2", "3"]
    );
    // Rows logged before ADD COLUMN take its default after recovery.
    client
        .batch_execute("INSERT INTO copy (id) VALUES (7)")
        .await
        .unwrap();
    assert_eq!(
        rows_text(&client, "SELECT id, name, extra FROM copy ORDER BY id").await,
        vec!["7|later|5", "100|anon|5", "101|anon|5"]
    );
    let err = client
        .batch_execute("UPDATE t SET qty = 100")
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("23514"));
    let err = client
        .batch_execute("INSERT INTO t (qty) VALUES (-1)")
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("23514"));
    let err = client
        .batch_execute("INSERT INTO t (id, qty) VALUES (1, 1)")
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("428C9"));
    let err = client.batch_execute("DROP TABLE t").await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("2BP01"));
}

/// Writers keep inserting while columns are added: every statement either
/// succeeds or is refused as retryable (40001), and every row ends up with
/// every column.
#[tokio::test]
async fn add_column_under_concurrent_inserts() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE hot (id int PRIMARY KEY, v int)")
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..4i32 {
        let client = server.connect().await;
        let stop = stop.clone();
        tasks.spawn(async move {
            let insert = "INSERT INTO hot (id, v) VALUES ($1, $2)";
            let mut n = 0i32;
            let mut done = 0;
            while !stop.load(Ordering::Relaxed) {
                let id = c * 1_000_000 + n;
                match client.execute(insert, &[&id, &n]).await {
                    Ok(_) => done += 1,
                    Err(e) if e.code().map(|c| c.code()) == Some("40001") => {}
                    Err(e) => panic!("insert {id}: {e:?}"),
                }
                n += 1;
            }
            done
        });
    }
    for (i, default) in ["1", "'x'", "2.5"].iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let sql = format!("ALTER TABLE hot ADD COLUMN c{i} text DEFAULT {default}");
        client.batch_execute(&sql).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop.store(true, Ordering::Relaxed);
    let mut inserted = 0;
    while let Some(done) = tasks.join_next().await {
        inserted += done.expect("writer panicked");
    }
    let rows = rows_text(
        &client,
        "SELECT count(*), count(c0), count(c1), count(c2) FROM hot",
    )
    .await;
    assert_eq!(
        rows,
        vec![format!("{inserted}|{inserted}|{inserted}|{inserted}")]
    );
}
