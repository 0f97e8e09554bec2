//! One scenario per classic anomaly — dirty write, dirty read, non-repeatable
//! read, lost update, read skew, write skew, phantom — run at each isolation
//! level, with the outcome PostgreSQL gives (the scenarios follow Hermitage's
//! PostgreSQL runs; `TESSERA_TEST_EXTERNAL_PG` runs them against a real
//! PostgreSQL, which they pass too). The rows live on two shards, so every
//! transaction that touches both rows spans shards.
//!
//! A step runs one statement in one session and states its outcome: rows,
//! an error code, or that it blocks (it must still be waiting a moment
//! later; a later `Wait` step states how it ended).

use std::sync::Arc;
use std::time::Duration;

use tessera_testkit::TestServer;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, SimpleQueryMessage};

const RC: &str = "read committed";
const RR: &str = "repeatable read";
const SER: &str = "serializable";
const LEVELS: [&str; 3] = [RC, RR, SER];

/// What a step must give.
#[derive(Clone, Copy, Debug)]
enum Out {
    /// Returns these rows, as `id,value;id,value` (empty: none).
    Rows(&'static str),
    /// Succeeds having changed this many rows.
    Count(u64),
    /// Succeeds (COMMIT of a failed block too, which rolls back: the
    /// scenarios check the rows afterwards).
    Done,
    /// Fails with this SQLSTATE.
    Err(&'static str),
    /// Still waiting after a moment.
    Blocks,
}

/// A step: session, SQL (`BEGIN` opens the scenario's level), outcome.
enum Step {
    Run(usize, &'static str, Out),
    /// The outcome of session `n`'s blocked statement.
    Wait(usize, Out),
}
use Step::{Run, Wait};

type Pending = JoinHandle<Result<Vec<SimpleQueryMessage>, tokio_postgres::Error>>;

fn render(result: Result<Vec<SimpleQueryMessage>, tokio_postgres::Error>) -> String {
    match result {
        Err(e) => format!(
            "error {}: {}",
            e.code().map_or("?", |c| c.code()),
            e.as_db_error()
                .map_or(e.to_string(), |d| d.message().to_string())
        ),
        Ok(messages) => {
            let mut rows = Vec::new();
            let mut described = false;
            let mut count = 0;
            for m in messages {
                match m {
                    SimpleQueryMessage::Row(r) => rows.push(
                        (0..r.len())
                            .map(|i| r.get(i).unwrap_or("null").to_string())
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    SimpleQueryMessage::RowDescription(_) => described = true,
                    SimpleQueryMessage::CommandComplete(n) => count = n,
                    _ => {}
                }
            }
            if described {
                format!("rows {}", rows.join(";"))
            } else {
                format!("count {count}")
            }
        }
    }
}

fn check(name: &str, level: &str, step: usize, sql: &str, got: String, want: Out) {
    let ok = match want {
        Out::Rows(s) => got == format!("rows {s}"),
        Out::Count(n) => got == format!("count {n}"),
        Out::Done => !got.starts_with("error"),
        Out::Err(code) => got.starts_with(&format!("error {code}")),
        Out::Blocks => false,
    };
    assert!(
        ok,
        "{name} at {level}, step {step} ({sql}): got {got}, want {want:?}"
    );
}

async fn run(server: &TestServer, name: &str, level: &str, steps: &[Step]) {
    let setup = server.connect().await;
    setup
        .batch_execute(
            "DROP TABLE IF EXISTS test; \
             CREATE TABLE test (id int PRIMARY KEY, value int); \
             INSERT INTO test VALUES (1, 10), (2, 20)",
        )
        .await
        .unwrap();
    let mut sessions: Vec<Arc<Client>> = Vec::new();
    for _ in 0..3 {
        sessions.push(Arc::new(server.connect().await));
    }
    let mut pending: Vec<Option<(Pending, &str)>> = vec![None, None, None];
    for (i, step) in steps.iter().enumerate() {
        match step {
            Run(s, sql, want) => {
                assert!(pending[*s].is_none(), "{name}: session {s} is blocked");
                let text = if *sql == "BEGIN" {
                    format!("BEGIN ISOLATION LEVEL {level}")
                } else {
                    sql.to_string()
                };
                let client = sessions[*s].clone();
                let task: Pending = tokio::spawn(async move { client.simple_query(&text).await });
                if let Out::Blocks = want {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    assert!(
                        !task.is_finished(),
                        "{name} at {level}, step {i} ({sql}) should block but finished: {}",
                        render(task.await.unwrap())
                    );
                    pending[*s] = Some((task, sql));
                } else {
                    let got = tokio::time::timeout(Duration::from_secs(10), task)
                        .await
                        .unwrap_or_else(|_| panic!("{name} at {level}, step {i} ({sql}) hangs"))
                        .unwrap();
                    check(name, level, i, sql, render(got), *want);
                }
            }
            Wait(s, want) => {
                let (task, sql) = pending[*s].take().expect("a blocked statement");
                let got = tokio::time::timeout(Duration::from_secs(10), task)
                    .await
                    .unwrap_or_else(|_| panic!("{name} at {level}, step {i} ({sql}) stays blocked"))
                    .unwrap();
                check(name, level, i, sql, render(got), *want);
            }
        }
    }
    for s in &sessions {
        // Whatever the scenario left open ends here.
        let _ = s.simple_query("ROLLBACK").await;
    }
}

/// Runs `scenario(level)` at every level on one server.
async fn at_each_level(name: &str, scenario: fn(&str) -> Vec<Step>) {
    let server = TestServer::start_with_shards(2);
    for level in LEVELS {
        run(&server, name, level, &scenario(level)).await;
    }
}

fn pick(level: &str, rc: Out, rr: Out, ser: Out) -> Out {
    match level {
        RC => rc,
        RR => rr,
        _ => ser,
    }
}

const SERIALIZATION: &str = "40001";

/// Two writers of the same rows: the second waits for the first; at READ
/// COMMITTED it then overwrites, above it fails. No mix of the two
/// transactions' writes survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dirty_write() {
    at_each_level("dirty write", |level| {
        let later = pick(
            level,
            Out::Count(1),
            Out::Err(SERIALIZATION),
            Out::Err(SERIALIZATION),
        );
        let second = if level == RC {
            "UPDATE test SET value = 22 WHERE id = 2"
        } else {
            "SELECT 1"
        };
        let end = if level == RC {
            Out::Rows("1,12;2,22")
        } else {
            Out::Rows("1,11;2,21")
        };
        vec![
            Run(0, "BEGIN", Out::Done),
            Run(1, "BEGIN", Out::Done),
            Run(0, "UPDATE test SET value = 11 WHERE id = 1", Out::Count(1)),
            Run(1, "UPDATE test SET value = 12 WHERE id = 1", Out::Blocks),
            Run(0, "UPDATE test SET value = 21 WHERE id = 2", Out::Count(1)),
            Run(0, "COMMIT", Out::Done),
            Wait(1, later),
            Run(
                1,
                second,
                if level == RC {
                    Out::Count(1)
                } else {
                    Out::Err("25P02")
                },
            ),
            Run(1, "COMMIT", Out::Done),
            Run(2, "SELECT * FROM test ORDER BY id", end),
        ]
    })
    .await;
}

/// Uncommitted writes, rolled back or overwritten within their transaction,
/// are never seen; committed ones are at READ COMMITTED only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dirty_read() {
    at_each_level("dirty read", |level| {
        vec![
            // An aborted write (G1a).
            Run(0, "BEGIN", Out::Done),
            Run(1, "BEGIN", Out::Done),
            Run(0, "UPDATE test SET value = 101 WHERE id = 1", Out::Count(1)),
            Run(1, "SELECT * FROM test ORDER BY id", Out::Rows("1,10;2,20")),
            Run(0, "ROLLBACK", Out::Done),
            Run(1, "SELECT * FROM test ORDER BY id", Out::Rows("1,10;2,20")),
            Run(1, "COMMIT", Out::Done),
            // An intermediate write (G1b).
            Run(0, "BEGIN", Out::Done),
            Run(1, "BEGIN", Out::Done),
            Run(0, "UPDATE test SET value = 101 WHERE id = 1", Out::Count(1)),
            Run(1, "SELECT * FROM test ORDER BY id", Out::Rows("1,10;2,20")),
            Run(0, "UPDATE test SET value = 11 WHERE id = 1", Out::Count(1)),
            Run(0, "COMMIT", Out::Done),
            Run(
                1,
                "SELECT * FROM test ORDER BY id",
                pick(
                    level,
                    Out::Rows("1,11;2,20"),
                    Out::Rows("1,10;2,20"),
                    Out::Rows("1,10;2,20"),
                ),
            ),
            Run(1, "COMMIT", Out::Done),
        ]
    })
    .await;
}

/// A row read twice changes in between only at READ COMMITTED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_repeatable_read() {
    at_each_level("non-repeatable read", |level| {
        vec![
            Run(0, "BEGIN", Out::Done),
            Run(1, "BEGIN", Out::Done),
            Run(0, "SELECT value FROM test WHERE id = 1", Out::Rows("10")),
            Run(1, "UPDATE test SET value = 11 WHERE id = 1", Out::Count(1)),
            Run(1, "COMMIT", Out::Done),
            Run(
                0,
                "SELECT value FROM test WHERE id = 1",
                pick(level, Out::Rows("11"), Out::Rows("10"), Out::Rows("10")),
            ),
            Run(0, "COMMIT", Out::Done),
        ]
    })
    .await;
}

/// Read, then write what was read: at READ COMMITTED the second writer
/// waits and overwrites (the first update is lost); above, it fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_update() {
    at_each_level("lost update", |level| {
        vec![
            Run(0, "BEGIN", Out::Done),
            Run(1, "BEGIN", Out::Done),
            Run(0, "SELECT value FROM test WHERE id = 1", Out::Rows("10")),
            Run(1, "SELECT value FROM test WHERE id = 1", Out::Rows("10")),
            Run(0, "UPDATE test SET value = 11 WHERE id = 1", Out::Count(1)),
            Run(1, "UPDATE test SET value = 11 WHERE id = 1", Out::Blocks),
            Run(0, "COMMIT", Out::Done),
            Wait(
                1,
                pick(
                    level,
                    Out::Count(1),
                    Out::Err(SERIALIZATION),
                    Out::Err(SERIALIZATION),
                ),
            ),
            Run(1, "COMMIT", Out::Done),
            // In-place increments are never lost: READ COMMITTED re-reads
            // the row it waited for.
            Run(0, "BEGIN", Out::Done),
            Run(1, "BEGIN", Out::Done),
            Run(
                0,
                "UPDATE test SET value = value + 1 WHERE id = 2",
                Out::Count(1),
            ),
            Run(
                1,
                "UPDATE test SET value = value + 1 WHERE id = 2",
                Out::Blocks,
            ),
            Run(0, "COMMIT", Out::Done),
            Wait(
                1,
                pick(
                    level,
                    Out::Count(1),
                    Out::Err(SERIALIZATION),
                    Out::Err(SERIALIZATION),
                ),
            ),
            Run(1, "COMMIT", Out::Done),
            Run(
                2,
                "SELECT value FROM test WHERE id = 2",
                Out::Rows(if level == RC { "22" } else { "21" }),
            ),
        ]
    })
    .await;
}

/// Two rows that another transaction changes together are read on either
/// side of its commit only at READ COMMITTED. With a write that depends on
/// the stale row, REPEATABLE READ and SERIALIZABLE fail it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_skew() {
    at_each_level("read skew", |level| {
        vec![
            Run(0, "BEGIN", Out::Done),
            Run(1, "BEGIN", Out::Done),
            Run(0, "SELECT value FROM test WHERE id = 1", Out::Rows("10")),
            Run(1, "SELECT value FROM test WHERE id = 1", Out::Rows("10")),
            Run(1, "SELECT value FROM test WHERE id = 2", Out::Rows("20")),
            Run(1, "UPDATE test SET value = 12 WHERE id = 1", Out::Count(1)),
            Run(1, "UPDATE test SET value = 18 WHERE id = 2", Out::Count(1)),
            Run(1, "COMMIT", Out::Done),
            Run(
                0,
                "SELECT value FROM test WHERE id = 2",
                pick(level, Out::Rows("18"), Out::Rows("20"), Out::Rows("20")),
            ),
            Run(0, "COMMIT", Out::Done),
            // The same, then a write whose predicate reads the stale row:
            // READ COMMITTED re-checks the row it found (now 18: no match).
            Run(0, "BEGIN", Out::Done),
            Run(1, "BEGIN", Out::Done),
            Run(0, "SELECT value FROM test WHERE id = 1", Out::Rows("12")),
            Run(1, "UPDATE test SET value = 13 WHERE id = 1", Out::Count(1)),
            Run(1, "UPDATE test SET value = 20 WHERE id = 2", Out::Count(1)),
            Run(1, "COMMIT", Out::Done),
            Run(
                0,
                "DELETE FROM test WHERE value = 18",
                pick(
                    level,
                    Out::Count(0),
                    Out::Err(SERIALIZATION),
                    Out::Err(SERIALIZATION),
                ),
            ),
            Run(0, "ROLLBACK", Out::Done),
            Run(2, "SELECT * FROM test ORDER BY id", Out::Rows("1,13;2,20")),
        ]
    })
    .await;
}

/// Each transaction reads both rows and writes the other one: both commit
/// below SERIALIZABLE (write skew); at SERIALIZABLE the second fails. Once
/// with a scan, once with point reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_skew() {
    at_each_level("write skew", |level| {
        let second = pick(level, Out::Done, Out::Done, Out::Err(SERIALIZATION));
        vec![
            Run(0, "BEGIN", Out::Done),
            Run(1, "BEGIN", Out::Done),
            Run(
                0,
                "SELECT * FROM test WHERE id IN (1, 2) ORDER BY id",
                Out::Rows("1,10;2,20"),
            ),
            Run(
                1,
                "SELECT * FROM test WHERE id IN (1, 2) ORDER BY id",
                Out::Rows("1,10;2,20"),
            ),
            Run(0, "UPDATE test SET value = 11 WHERE id = 1", Out::Count(1)),
            Run(1, "UPDATE test SET value = 21 WHERE id = 2", Out::Count(1)),
            Run(0, "COMMIT", Out::Done),
            Run(1, "COMMIT", second),
            Run(
                2,
                "SELECT * FROM test ORDER BY id",
                Out::Rows(if level == SER {
                    "1,11;2,20"
                } else {
                    "1,11;2,21"
                }),
            ),
            Run(2, "UPDATE test SET value = 10 WHERE id = 1", Out::Count(1)),
            Run(2, "UPDATE test SET value = 20 WHERE id = 2", Out::Count(1)),
            Run(0, "BEGIN", Out::Done),
            Run(1, "BEGIN", Out::Done),
            Run(0, "SELECT value FROM test WHERE id = 1", Out::Rows("10")),
            Run(0, "SELECT value FROM test WHERE id = 2", Out::Rows("20")),
            Run(1, "SELECT value FROM test WHERE id = 1", Out::Rows("10")),
            Run(1, "SELECT value FROM test WHERE id = 2", Out::Rows("20")),
            Run(0, "UPDATE test SET value = 11 WHERE id = 1", Out::Count(1)),
            Run(1, "UPDATE test SET value = 21 WHERE id = 2", Out::Count(1)),
            Run(0, "COMMIT", Out::Done),
            Run(1, "COMMIT", second),
        ]
    })
    .await;
}

/// A predicate read sees rows inserted after it only at READ COMMITTED; two
/// transactions that each insert what the other's predicate read both
/// commit below SERIALIZABLE, and at SERIALIZABLE the second fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phantom() {
    at_each_level("phantom", |level| {
        vec![
            Run(0, "BEGIN", Out::Done),
            Run(1, "BEGIN", Out::Done),
            Run(0, "SELECT * FROM test WHERE value = 30", Out::Rows("")),
            Run(1, "INSERT INTO test VALUES (3, 30)", Out::Count(1)),
            Run(1, "COMMIT", Out::Done),
            Run(
                0,
                "SELECT * FROM test WHERE value % 3 = 0",
                pick(level, Out::Rows("3,30"), Out::Rows(""), Out::Rows("")),
            ),
            Run(0, "COMMIT", Out::Done),
            // Predicate write skew (G2).
            Run(0, "BEGIN", Out::Done),
            Run(1, "BEGIN", Out::Done),
            Run(0, "SELECT * FROM test WHERE value % 5 = 2", Out::Rows("")),
            Run(1, "SELECT * FROM test WHERE value % 5 = 2", Out::Rows("")),
            Run(0, "INSERT INTO test VALUES (4, 42)", Out::Count(1)),
            Run(1, "INSERT INTO test VALUES (5, 52)", Out::Count(1)),
            Run(0, "COMMIT", Out::Done),
            Run(
                1,
                "COMMIT",
                pick(level, Out::Done, Out::Done, Out::Err(SERIALIZATION)),
            ),
            Run(
                2,
                "SELECT count(*) FROM test WHERE value % 5 = 2",
                Out::Rows(if level == SER { "1" } else { "2" }),
            ),
        ]
    })
    .await;
}

/// Write skew under load: doctors go off call only while at least two are
/// on call, each decision taken on what its transaction read. At
/// SERIALIZABLE no committed history ever leaves nobody on call, whatever
/// the interleaving; a checker reads the count throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serializable_keeps_an_invariant_that_snapshots_alone_do_not() {
    let server = TestServer::start_with_shards(2);
    let setup = server.connect().await;
    setup
        .batch_execute(
            "DROP TABLE IF EXISTS doctors; \
             CREATE TABLE doctors (id int PRIMARY KEY, on_call int NOT NULL); \
             INSERT INTO doctors VALUES (1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1)",
        )
        .await
        .unwrap();
    let mut workers = Vec::new();
    for w in 0..4u64 {
        let client = server.connect().await;
        workers.push(tokio::spawn(async move {
            let mut seed = 0x2545_F491_4F6C_DD1D ^ (w + 1);
            let mut committed = 0;
            for round in 0..60 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let result: Result<(), tokio_postgres::Error> = async {
                    client
                        .batch_execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
                        .await?;
                    if w == 0 && round % 2 == 0 {
                        // Someone comes back on call.
                        let id = 1 + seed % 6;
                        client
                            .execute(
                                "UPDATE doctors SET on_call = 1 WHERE id = $1",
                                &[&(id as i32)],
                            )
                            .await?;
                    } else {
                        // Point reads of two doctors, or a scan of all.
                        let on: Vec<i32> = if round % 3 == 0 {
                            let a = 1 + (seed % 6) as i32;
                            let b = 1 + (a % 6);
                            let mut on = Vec::new();
                            for id in [a, b] {
                                let row = client
                                    .query_one("SELECT on_call FROM doctors WHERE id = $1", &[&id])
                                    .await?;
                                if row.get::<_, i32>(0) == 1 {
                                    on.push(id);
                                }
                            }
                            on
                        } else {
                            client
                                .query("SELECT id FROM doctors WHERE on_call = 1", &[])
                                .await?
                                .iter()
                                .map(|r| r.get(0))
                                .collect()
                        };
                        if on.len() >= 2 {
                            let leaving = on[(seed / 7) as usize % on.len()];
                            client
                                .execute(
                                    "UPDATE doctors SET on_call = 0 WHERE id = $1",
                                    &[&leaving],
                                )
                                .await?;
                        }
                    }
                    client.batch_execute("COMMIT").await
                }
                .await;
                match result {
                    Ok(()) => committed += 1,
                    Err(e) => {
                        let code = e.code().map(|c| c.code().to_string());
                        assert!(
                            matches!(code.as_deref(), Some("40001") | Some("40P01")),
                            "unexpected error: {e:?}"
                        );
                        client.batch_execute("ROLLBACK").await.unwrap();
                    }
                }
            }
            committed
        }));
    }
    let checker = server.connect().await;
    let mut committed = 0;
    loop {
        let n: i64 = checker
            .query_one("SELECT count(*) FROM doctors WHERE on_call = 1", &[])
            .await
            .unwrap()
            .get(0);
        assert!(n >= 1, "nobody is on call");
        if workers.iter().all(|w| w.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for w in workers {
        committed += w.await.unwrap();
    }
    // The run did something: most transactions commit.
    assert!(committed > 60, "only {committed} transactions committed");
}
