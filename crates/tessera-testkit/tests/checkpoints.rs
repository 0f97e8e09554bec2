//! Checkpoints in the real binary: with a small `--checkpoint-wal-size`,
//! shards checkpoint while clients write, old log segments and checkpoints
//! are removed (the data directory stays bounded), a crash (SIGKILL) loses
//! no acknowledged row, and a damaged newest checkpoint makes the restart
//! fall back to the previous one.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tessera_testkit::{exec_count, rows_text, TestServer};
use tokio_postgres::Client;

/// Small enough that a few hundred kilobytes of writes make every shard
/// checkpoint several times.
const CHECKPOINT_WAL_SIZE: &str = "64K";
/// How long checkpoints may take to appear; reaching it fails the test.
const CHECKPOINT_TIMEOUT: Duration = Duration::from_secs(60);

fn start() -> Option<TestServer> {
    let server = TestServer::start_with_args(2, &["--checkpoint-wal-size", CHECKPOINT_WAL_SIZE]);
    if server.is_external() {
        eprintln!("skipping: needs the files of a spawned tessera");
        return None;
    }
    Some(server)
}

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// The start positions of a shard's log segments.
fn segments(data: &Path, shard: usize) -> Vec<u64> {
    files(&data.join(format!("shard-{shard}/wal")), ".seg")
        .iter()
        .filter_map(|p| p.file_stem()?.to_str()?.parse().ok())
        .collect()
}

fn checkpoints(data: &Path, shard: usize) -> Vec<PathBuf> {
    files(&data.join(format!("shard-{shard}/checkpoint")), ".ckpt")
}

fn bytes_under(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => bytes_under(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Goes on inserting rows from `next` until every shard has removed its
/// first log segment: each has then taken at least two checkpoints, and
/// keeps no log before the replay start of the older one it keeps. Returns
/// the next free id.
async fn write_until_segments_are_removed(
    server: &TestServer,
    client: &Client,
    mut next: i32,
) -> i32 {
    let deadline = Instant::now() + CHECKPOINT_TIMEOUT;
    let done = |s| {
        segments(server.data_dir(), s)
            .first()
            .is_some_and(|f| *f > 0)
    };
    while !(done(0) && done(1)) {
        assert!(
            Instant::now() < deadline,
            "no old segments removed within {CHECKPOINT_TIMEOUT:?}: {:?} {:?}\n{}",
            segments(server.data_dir(), 0),
            segments(server.data_dir(), 1),
            server.log_tail()
        );
        insert(client, next, next + 100, 25).await;
        next += 100;
        // Checkpoints start within a poll interval of the log growing.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    next
}

async fn create_tables(client: &Client) {
    client
        .batch_execute(
            "CREATE TABLE kv (id integer PRIMARY KEY, v text NOT NULL); CREATE TABLE bag (v text)",
        )
        .await
        .unwrap();
}

/// Rows `from..to` of `kv`, `rows_per_statement` per INSERT (each
/// statement touches both shards: a two-phase commit), plus a row in `bag`
/// per statement (hidden row ids). About 300 bytes per row.
async fn insert(client: &Client, from: i32, to: i32, rows_per_statement: i32) {
    let payload = "x".repeat(300);
    let mut at = from;
    while at < to {
        let end = (at + rows_per_statement).min(to);
        let values: Vec<String> = (at..end)
            .map(|i| format!("({i}, '{i}:{payload}')"))
            .collect();
        let sql = format!("INSERT INTO kv VALUES {}", values.join(", "));
        assert_eq!(exec_count(client, &sql).await, (end - at) as u64);
        client
            .batch_execute(&format!("INSERT INTO bag VALUES ('{at}'), ('{end}')"))
            .await
            .unwrap();
        at = end;
    }
}

async fn contents(client: &Client) -> (Vec<String>, Vec<String>) {
    (
        rows_text(client, "SELECT id, v FROM kv ORDER BY id").await,
        rows_text(client, "SELECT v FROM bag ORDER BY v").await,
    )
}

#[tokio::test]
async fn checkpoints_bound_the_log_and_a_crash_keeps_every_acknowledged_row() {
    let Some(mut server) = start() else { return };
    let client = server.connect().await;
    create_tables(&client).await;
    insert(&client, 0, 1500, 25).await;
    // Multi-shard updates and deletes between the inserts' checkpoints.
    assert_eq!(
        exec_count(&client, "UPDATE kv SET v = 'updated' WHERE id % 10 = 0").await,
        150
    );
    assert_eq!(
        exec_count(&client, "DELETE FROM kv WHERE id % 10 = 5").await,
        150
    );
    let next = write_until_segments_are_removed(&server, &client, 1500).await;
    // More writes after the last checkpoint, replayed from the log.
    insert(&client, next, next + 100, 10).await;
    let late = format!("UPDATE kv SET v = 'late' WHERE id >= {}", next + 90);
    assert_eq!(exec_count(&client, &late).await, 10);

    let data = server.data_dir().to_path_buf();
    for shard in 0..2 {
        let kept = checkpoints(&data, shard);
        assert!(
            !kept.is_empty() && kept.len() <= 2,
            "shard {shard} keeps at most two checkpoints: {kept:?}"
        );
        // The log's beginning is gone and only the segments since the older
        // kept checkpoint remain (one per checkpoint, plus the one being
        // written and one a checkpoint under way may have started); their
        // size on disk includes zero-filled space, so count segments.
        let starts = segments(&data, shard);
        let kept_wal = bytes_under(&data.join(format!("shard-{shard}/wal")));
        assert!(
            starts[0] > 0 && starts.len() <= 5,
            "shard {shard} keeps {kept_wal} bytes in segments starting at {starts:?}"
        );
    }
    assert!(server.log().contains("checkpoint"), "{}", server.log_tail());

    let before = contents(&client).await;
    assert_eq!(before.0.len(), (next + 100 - 150) as usize);
    drop(client);
    server.kill9();
    server.restart();
    let client = server.connect().await;
    assert_eq!(contents(&client).await, before);
    // Ids continue after the recovered ones: new rows collide with none.
    insert(&client, next + 1000, next + 1050, 25).await;
    assert_eq!(
        rows_text(&client, "SELECT count(*) FROM bag").await,
        [format!("{}", before.1.len() + 4)]
    );
}

#[tokio::test]
async fn a_damaged_newest_checkpoint_falls_back_to_the_previous_one_on_restart() {
    let Some(mut server) = start() else { return };
    let client = server.connect().await;
    create_tables(&client).await;
    let next = write_until_segments_are_removed(&server, &client, 0).await;
    insert(&client, next, next + 50, 5).await;
    let before = contents(&client).await;
    drop(client);
    server.kill9();

    let data = server.data_dir().to_path_buf();
    let kept = checkpoints(&data, 0);
    assert_eq!(kept.len(), 2, "{kept:?}");
    let newest = kept.last().unwrap();
    let mut bytes = std::fs::read(newest).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(newest, &bytes).unwrap();

    server.restart();
    let client = server.connect().await;
    assert_eq!(contents(&client).await, before);
    let log = server.log();
    assert!(
        log.contains("is damaged") && log.contains("falling back to checkpoint"),
        "{}",
        server.log_tail()
    );
    // Writes go on, and survive another crash.
    insert(&client, next + 1000, next + 1010, 5).await;
    let after = contents(&client).await;
    drop(client);
    server.kill9();
    server.restart();
    let client = server.connect().await;
    assert_eq!(contents(&client).await, after);
}

/// The newest checkpoint's sequence number of a shard.
fn newest_checkpoint(data: &Path, shard: usize) -> u64 {
    checkpoints(data, shard)
        .iter()
        .filter_map(|p| p.file_stem()?.to_str()?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// CHECKPOINT takes a checkpoint on every shard before it returns (with
/// the default settings, which would take none this soon), holding the
/// rows written before it; a non-superuser gets 42501.
#[tokio::test]
async fn the_checkpoint_statement_checkpoints_every_shard_now() {
    let server = TestServer::start_with_shards(2);
    if server.is_external() {
        eprintln!("skipping: needs the files of a spawned tessera");
        return;
    }
    let data = server.data_dir().to_path_buf();
    let client = server.connect().await;
    create_tables(&client).await;
    insert(&client, 0, 100, 10).await;
    let before: Vec<u64> = (0..2).map(|s| newest_checkpoint(&data, s)).collect();
    let messages = client.simple_query("CHECKPOINT").await.unwrap();
    assert!(
        matches!(
            messages.first(),
            Some(tokio_postgres::SimpleQueryMessage::CommandComplete(_))
        ),
        "{messages:?}"
    );
    for (shard, before) in before.iter().enumerate() {
        assert!(
            newest_checkpoint(&data, shard) > *before,
            "shard {shard}: no new checkpoint (before {before}, now {:?})",
            checkpoints(&data, shard)
        );
    }
    // Inside a transaction block too, as in PostgreSQL.
    client
        .batch_execute("BEGIN; CHECKPOINT; COMMIT")
        .await
        .unwrap();
    let expected = contents(&client).await;
    client
        .batch_execute("CREATE ROLE plain LOGIN")
        .await
        .unwrap();
    drop(client);
    let mut server = server;
    server.kill9();
    server.restart();
    let client = server.connect().await;
    assert_eq!(contents(&client).await, expected);
    let config = {
        let mut c = server.config();
        c.user("plain");
        c
    };
    let (plain, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let err = plain.simple_query("CHECKPOINT").await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("42501"), "{err}");
}
