//! Stopping statements and sessions as PostgreSQL clients do:
//! `statement_timeout`, `lock_timeout`, a driver's CancelRequest,
//! `pg_cancel_backend` and `pg_terminate_backend`, and `pg_stat_activity`
//! listing the live sessions. A stopped statement leaves nothing behind
//! and its session goes on.

use std::time::{Duration, Instant};

use tessera_testkit::{assert_sqlstate, rows_text, TestServer};
use tokio_postgres::error::SqlState;

/// A statement that runs for minutes unless stopped.
const SLOW: &str = "SELECT count(*) FROM generate_series(1, 2000000000)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_stops_a_statement_and_the_session_goes_on() {
    let server = TestServer::start_with_shards(2);
    let c = server.connect().await;
    for (set, shown) in [
        ("250", "250ms"),
        ("'1s'", "1s"),
        ("'1.5s'", "1500ms"),
        ("'2min'", "2min"),
        ("0", "0"),
    ] {
        c.batch_execute(&format!("SET statement_timeout = {set}"))
            .await
            .unwrap();
        assert_eq!(rows_text(&c, "SHOW statement_timeout").await, [shown]);
    }
    assert_sqlstate(
        c.batch_execute("SET statement_timeout = 'soon'").await,
        &SqlState::INVALID_PARAMETER_VALUE,
        "a time without a number",
    );
    assert_sqlstate(
        c.batch_execute("SET lock_timeout = -5").await,
        &SqlState::INVALID_PARAMETER_VALUE,
        "a negative time",
    );

    c.batch_execute("CREATE TABLE t (k int PRIMARY KEY, v int)")
        .await
        .unwrap();
    c.batch_execute("SET statement_timeout = '300ms'")
        .await
        .unwrap();
    let started = Instant::now();
    let message = assert_sqlstate(c.query(SLOW, &[]).await, &SqlState::QUERY_CANCELED, "slow");
    assert_eq!(message, "canceling statement due to statement timeout");
    assert!(started.elapsed() < Duration::from_secs(30));
    // A write that reads the slow query times out whole.
    assert_sqlstate(
        c.batch_execute(
            "INSERT INTO t SELECT 1, count(*)::int FROM generate_series(1, 2000000000)",
        )
        .await,
        &SqlState::QUERY_CANCELED,
        "slow insert",
    );
    assert_eq!(rows_text(&c, "SELECT count(*) FROM t").await, ["0"]);
    // In a block, the timeout fails the block as any error does.
    c.batch_execute("BEGIN; INSERT INTO t VALUES (2, 2)")
        .await
        .unwrap();
    assert_sqlstate(
        c.query(SLOW, &[]).await,
        &SqlState::QUERY_CANCELED,
        "in a block",
    );
    assert_sqlstate(
        c.query("SELECT 1", &[]).await,
        &SqlState::IN_FAILED_SQL_TRANSACTION,
        "after the timeout",
    );
    c.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(rows_text(&c, "SELECT count(*) FROM t").await, ["0"]);
    c.batch_execute("RESET statement_timeout").await.unwrap();
    assert_eq!(rows_text(&c, "SELECT 1").await, ["1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_request_stops_the_running_statement() {
    let server = TestServer::start_with_shards(2);
    let c = server.connect().await;
    let token = c.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    });
    let message = assert_sqlstate(
        c.query(SLOW, &[]).await,
        &SqlState::QUERY_CANCELED,
        "cancel",
    );
    assert_eq!(message, "canceling statement due to user request");
    canceller.await.unwrap();
    // A cancel that finds nothing running is forgotten.
    c.cancel_token()
        .cancel_query(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(rows_text(&c, "SELECT 1").await, ["1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_stat_activity_lists_sessions_that_pg_cancel_and_terminate_backend_stop() {
    let server = TestServer::start_with_shards(2);
    let me = server.connect().await;
    let other = server.connect().await;
    other
        .batch_execute("SET application_name = 'the other one'")
        .await
        .unwrap();
    let other_pid: i32 = other
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let my_pid: i32 = me
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    assert_ne!(my_pid, other_pid);
    let listed = rows_text(
        &me,
        &format!(
            "SELECT pid = {my_pid}, state, application_name, query, backend_type \
             FROM pg_stat_activity WHERE pid IN ({my_pid}, {other_pid}) ORDER BY pid = {my_pid}"
        ),
    )
    .await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(
        listed[0],
        "f|idle|the other one|SELECT pg_backend_pid()|client backend"
    );
    assert!(
        listed[1].starts_with("t|active|tessera-testkit|SELECT pid ="),
        "{listed:?}"
    );

    // Cancel the other session's running statement.
    let running = tokio::spawn(async move {
        let r = other.query(SLOW, &[]).await;
        (other, r)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let active = rows_text(
        &me,
        &format!("SELECT state, query FROM pg_stat_activity WHERE pid = {other_pid}"),
    )
    .await;
    assert_eq!(active, [format!("active|{SLOW}")]);
    assert_eq!(
        rows_text(&me, &format!("SELECT pg_cancel_backend({other_pid})")).await,
        ["t"]
    );
    let (other, r) = running.await.unwrap();
    assert_sqlstate(r, &SqlState::QUERY_CANCELED, "pg_cancel_backend");
    assert_eq!(rows_text(&other, "SELECT 2").await, ["2"]);

    // No such session: false, as in PostgreSQL.
    assert_eq!(
        rows_text(&me, "SELECT pg_cancel_backend(12345678)").await,
        ["f"]
    );

    // Terminate the other session while it is idle.
    assert_eq!(
        rows_text(&me, &format!("SELECT pg_terminate_backend({other_pid})")).await,
        ["t"]
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(other.query("SELECT 3", &[]).await.is_err());
    assert!(other.is_closed());
    let left = rows_text(
        &me,
        &format!("SELECT count(*) FROM pg_stat_activity WHERE pid = {other_pid}"),
    )
    .await;
    assert_eq!(left, ["0"], "gone from pg_stat_activity");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_timeout_ends_a_wait_for_a_row_lock() {
    let server = TestServer::start_with_shards(2);
    let a = server.connect().await;
    let b = server.connect().await;
    a.batch_execute("CREATE TABLE t (k int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 0)")
        .await
        .unwrap();
    a.batch_execute("BEGIN; UPDATE t SET v = 1 WHERE k = 1")
        .await
        .unwrap();
    b.batch_execute("SET lock_timeout = '200ms'").await.unwrap();
    let started = Instant::now();
    let message = assert_sqlstate(
        b.batch_execute("UPDATE t SET v = 2 WHERE k = 1").await,
        &SqlState::LOCK_NOT_AVAILABLE,
        "lock_timeout",
    );
    assert_eq!(message, "canceling statement due to lock timeout");
    assert!(started.elapsed() >= Duration::from_millis(200));
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(rows_text(&b, "SELECT v FROM t").await, ["1"]);
    // Without a lock to wait for, the same update goes through.
    b.batch_execute("UPDATE t SET v = 2 WHERE k = 1")
        .await
        .unwrap();
    assert_eq!(rows_text(&a, "SELECT v FROM t").await, ["2"]);
}

/// What a connection pool runs before handing a connection on (asyncpg's
/// reset, pgbouncer's `server_reset_query`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_all_and_discard_all_return_a_session_to_its_defaults() {
    let server = TestServer::start_with_shards(1);
    let c = server.connect().await;
    let zone = rows_text(&c, "SHOW TimeZone").await;
    let style = rows_text(&c, "SHOW DateStyle").await;
    c.batch_execute(
        "SET TimeZone = 'Asia/Tokyo'; SET DateStyle = 'ISO, DMY'; \
         SET statement_timeout = '5s'; SET app.x = 'y'",
    )
    .await
    .unwrap();
    // SHOW ALL: every setting as SHOW shows it, by name.
    let all = rows_text(&c, "SHOW ALL").await;
    assert!(
        all.contains(&"statement_timeout|5s|".to_string()),
        "{all:?}"
    );
    assert!(all.contains(&"app.x|y|".to_string()), "{all:?}");
    let names: Vec<String> = all
        .iter()
        .map(|r| r.split('|').next().unwrap_or("").to_lowercase())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    c.batch_execute("RESET ALL").await.unwrap();
    assert_eq!(rows_text(&c, "SHOW TimeZone").await, zone);
    assert_eq!(rows_text(&c, "SHOW DateStyle").await, style);
    assert_eq!(rows_text(&c, "SHOW statement_timeout").await, ["0"]);
    assert_eq!(rows_text(&c, "SHOW app.x").await, [""]);

    let prepared = c.prepare("SELECT $1::int + 1").await.unwrap();
    assert_eq!(
        c.query_one(&prepared, &[&1i32])
            .await
            .unwrap()
            .get::<_, i32>(0),
        2
    );
    c.batch_execute("BEGIN").await.unwrap();
    assert_sqlstate(
        c.batch_execute("DISCARD ALL").await,
        &SqlState::ACTIVE_SQL_TRANSACTION,
        "in a block",
    );
    c.batch_execute("ROLLBACK").await.unwrap();
    c.batch_execute("SET application_name = 'pooled'; DISCARD ALL")
        .await
        .unwrap();
    assert_sqlstate(
        c.query_one(&prepared, &[&1i32]).await,
        &SqlState::INVALID_SQL_STATEMENT_NAME,
        "a statement prepared before DISCARD ALL",
    );
    assert_eq!(rows_text(&c, "SHOW application_name").await, [""]);
    // Nothing is held of these: they succeed, as in PostgreSQL.
    c.batch_execute("CLOSE ALL; UNLISTEN *").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advisory_locks_wait_share_and_end_with_their_transaction_or_session() {
    let server = TestServer::start_with_shards(2);
    let a = server.connect().await;
    let b = server.connect().await;
    assert_eq!(rows_text(&a, "SELECT pg_advisory_lock(42)").await, [""]);
    assert_eq!(
        rows_text(&a, "SELECT pg_advisory_lock(42)").await,
        [""],
        "re-entrant"
    );
    assert_eq!(
        rows_text(&b, "SELECT pg_try_advisory_lock(42)").await,
        ["f"]
    );
    assert_eq!(
        rows_text(&b, "SELECT pg_try_advisory_lock(4, 2)").await,
        ["t"],
        "another key"
    );
    // A parameter takes the function's argument type.
    let got: bool = b
        .query_one("SELECT pg_try_advisory_lock($1)", &[&43i64])
        .await
        .unwrap()
        .get(0);
    assert!(got);
    let pid: i32 = a
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let none: bool = a
        .query_one("SELECT pg_cancel_backend($1)", &[&(pid ^ 0x7000_0000)])
        .await
        .unwrap()
        .get(0);
    assert!(!none, "no such session");

    // A waiting lock goes on once the holder lets go of it (twice).
    let waiter = tokio::spawn(async move {
        let started = Instant::now();
        let r = rows_text(&b, "SELECT pg_advisory_lock(42), 'got it'").await;
        (b, r, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "waits while the lock is held");
    assert_eq!(rows_text(&a, "SELECT pg_advisory_unlock(42)").await, ["t"]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiter.is_finished(), "held once more");
    assert_eq!(rows_text(&a, "SELECT pg_advisory_unlock(42)").await, ["t"]);
    let (b, got, waited) = waiter.await.unwrap();
    assert_eq!(got, ["|got it"]);
    assert!(waited >= Duration::from_millis(500));
    assert_eq!(
        rows_text(&a, "SELECT pg_advisory_unlock(42)").await,
        ["f"],
        "not held"
    );
    assert_eq!(
        rows_text(&a, "SELECT pg_try_advisory_lock(42)").await,
        ["f"]
    );
    b.batch_execute("SELECT pg_advisory_unlock_all()")
        .await
        .unwrap();
    assert_eq!(
        rows_text(&a, "SELECT pg_try_advisory_lock(42)").await,
        ["t"]
    );

    // A wait stops at statement_timeout.
    b.batch_execute("SET statement_timeout = '300ms'")
        .await
        .unwrap();
    assert_sqlstate(
        b.query("SELECT pg_advisory_lock(42)", &[]).await,
        &SqlState::QUERY_CANCELED,
        "a wait past statement_timeout",
    );
    b.batch_execute("RESET statement_timeout").await.unwrap();

    // Transaction-level locks end with the transaction.
    a.batch_execute("BEGIN").await.unwrap();
    assert_eq!(
        rows_text(&a, "SELECT pg_try_advisory_xact_lock(7)").await,
        ["t"]
    );
    assert_eq!(
        rows_text(&b, "SELECT pg_try_advisory_xact_lock(7)").await,
        ["f"]
    );
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(
        rows_text(&b, "SELECT pg_try_advisory_xact_lock(7)").await,
        ["t"]
    );
    assert_eq!(
        rows_text(&a, "SELECT pg_try_advisory_lock(7)").await,
        ["t"],
        "b's outside a block ended with its statement"
    );

    // Shared holders share; an exclusive one waits for them.
    assert_eq!(
        rows_text(&b, "SELECT pg_try_advisory_lock_shared(3)").await,
        ["t"]
    );
    assert_eq!(
        rows_text(&a, "SELECT pg_try_advisory_lock_shared(3)").await,
        ["t"]
    );
    assert_eq!(rows_text(&a, "SELECT pg_try_advisory_lock(3)").await, ["f"]);

    // A session's locks end with it.
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if rows_text(&b, "SELECT pg_try_advisory_lock(42)").await == ["t"] {
            break;
        }
        assert!(Instant::now() < deadline, "the lock outlived its session");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A connection whose NOTIFY messages arrive on the returned channel.
async fn listener(
    server: &TestServer,
) -> (
    tokio_postgres::Client,
    tokio::sync::mpsc::UnboundedReceiver<(i32, String, String)>,
) {
    let (client, mut connection) = server
        .config()
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        use tokio_postgres::AsyncMessage;
        while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let AsyncMessage::Notification(n) = message {
                let _ = tx.send((
                    n.process_id(),
                    n.channel().to_string(),
                    n.payload().to_string(),
                ));
            }
        }
    });
    (client, rx)
}

/// Nothing arrives within a moment.
async fn nothing(rx: &mut tokio::sync::mpsc::UnboundedReceiver<(i32, String, String)>) {
    let got = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await;
    assert!(got.is_err(), "unexpected notification {got:?}");
}

async fn next(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<(i32, String, String)>,
) -> (i32, String, String) {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a notification within 5 s")
        .expect("the connection is open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_and_notify_deliver_between_transactions() {
    let server = TestServer::start_with_shards(2);
    let (l, mut rx) = listener(&server).await;
    let n = server.connect().await;
    let n_pid: i32 = n
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    l.batch_execute("LISTEN jobs; LISTEN \"Mixed\"")
        .await
        .unwrap();

    // To an idle listener at once, from the notifier's session.
    n.batch_execute("NOTIFY jobs, 'hello'").await.unwrap();
    assert_eq!(next(&mut rx).await, (n_pid, "jobs".into(), "hello".into()));
    n.batch_execute("NOTIFY \"Mixed\"").await.unwrap();
    assert_eq!(next(&mut rx).await, (n_pid, "Mixed".into(), "".into()));

    // At commit, once however often repeated; never after a rollback.
    n.batch_execute("BEGIN; NOTIFY jobs, 'in block'; NOTIFY jobs, 'in block'")
        .await
        .unwrap();
    nothing(&mut rx).await;
    n.batch_execute("COMMIT").await.unwrap();
    assert_eq!(next(&mut rx).await.2, "in block");
    nothing(&mut rx).await;
    n.batch_execute("BEGIN; NOTIFY jobs, 'rolled back'; ROLLBACK")
        .await
        .unwrap();
    nothing(&mut rx).await;

    // A listener in a block gets them when its block ends.
    l.batch_execute("BEGIN").await.unwrap();
    n.batch_execute("NOTIFY jobs, 'while busy'").await.unwrap();
    nothing(&mut rx).await;
    l.batch_execute("COMMIT").await.unwrap();
    assert_eq!(next(&mut rx).await.2, "while busy");

    // LISTEN in a rolled-back block never took effect; UNLISTEN stops.
    l.batch_execute("BEGIN; LISTEN later; ROLLBACK")
        .await
        .unwrap();
    n.batch_execute("NOTIFY later").await.unwrap();
    nothing(&mut rx).await;
    l.batch_execute("UNLISTEN jobs").await.unwrap();
    n.batch_execute("NOTIFY jobs, 'gone'").await.unwrap();
    nothing(&mut rx).await;
    l.batch_execute("UNLISTEN *").await.unwrap();
    n.batch_execute("NOTIFY \"Mixed\"").await.unwrap();
    nothing(&mut rx).await;

    assert_sqlstate(
        n.batch_execute(&format!("NOTIFY jobs, '{}'", "x".repeat(8000)))
            .await,
        &SqlState::INVALID_PARAMETER_VALUE,
        "a payload of 8000 bytes",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_notify_sends_when_its_statement_succeeds() {
    let server = TestServer::start_with_shards(2);
    let (l, mut rx) = listener(&server).await;
    let n = server.connect().await;
    l.batch_execute("LISTEN jobs").await.unwrap();
    n.batch_execute(
        "CREATE TABLE notify_src (k int PRIMARY KEY); \
         INSERT INTO notify_src SELECT generate_series(1, 20)",
    )
    .await
    .unwrap();

    // With parameters, as postgres.js's sql.notify sends it.
    let row = n
        .query_one("SELECT pg_notify($1, $2)", &[&"jobs", &"from pg_notify"])
        .await
        .unwrap();
    assert_eq!(row.columns()[0].type_(), &tokio_postgres::types::Type::VOID);
    assert_eq!(next(&mut rx).await.2, "from pg_notify");
    // Once per row, wherever the rows are.
    n.batch_execute("SELECT pg_notify('jobs', k::text) FROM notify_src")
        .await
        .unwrap();
    let mut got: Vec<i32> = Vec::new();
    for _ in 0..20 {
        got.push(next(&mut rx).await.2.parse().unwrap());
    }
    got.sort();
    assert_eq!(got, (1..=20).collect::<Vec<_>>());
    nothing(&mut rx).await;
    // Not from a statement that fails, nor from a rolled-back block.
    assert_sqlstate(
        n.batch_execute("SELECT pg_notify('jobs', 'failed'), 1 / 0")
            .await,
        &SqlState::DIVISION_BY_ZERO,
        "a failing statement",
    );
    n.batch_execute("BEGIN; SELECT pg_notify('jobs', 'rolled back'); ROLLBACK")
        .await
        .unwrap();
    nothing(&mut rx).await;
    // In a block, at commit.
    n.batch_execute("BEGIN; SELECT pg_notify('jobs', 'at commit')")
        .await
        .unwrap();
    nothing(&mut rx).await;
    n.batch_execute("COMMIT").await.unwrap();
    assert_eq!(next(&mut rx).await.2, "at commit");

    if !server.is_external() {
        // One statement may ask for at most NOTIFY_QUEUE_MAX (100,000)
        // notifications (PostgreSQL's queue is larger); past it the
        // statement fails and none is sent.
        assert_sqlstate(
            n.batch_execute(
                "SELECT count(pg_notify('jobs', g::text)) FROM generate_series(1, 100001) g",
            )
            .await,
            &SqlState::PROGRAM_LIMIT_EXCEEDED,
            "too many notifications",
        );
        nothing(&mut rx).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_idle_in_a_transaction_too_long_ends_and_rolls_back() {
    let server = TestServer::start_with_shards(2);
    let other = server.connect().await;
    other
        .batch_execute("CREATE TABLE t (k int PRIMARY KEY)")
        .await
        .unwrap();
    let idle = server.connect().await;
    idle.batch_execute("SET idle_in_transaction_session_timeout = '300ms'")
        .await
        .unwrap();
    // Idle outside a block: nothing happens.
    tokio::time::sleep(Duration::from_millis(500)).await;
    idle.batch_execute("BEGIN; INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        idle.batch_execute("COMMIT").await.is_err(),
        "the session ended"
    );
    assert!(idle.is_closed());
    assert_eq!(rows_text(&other, "SELECT count(*) FROM t").await, ["0"]);
    // Its row lock went with it.
    other
        .batch_execute("INSERT INTO t VALUES (1)")
        .await
        .unwrap();
}

/// psql's `\copy` fed slowly: statement_timeout stops the COPY at its
/// next batch, and none of its rows stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_stops_a_slow_copy_whole() {
    let Some(psql) = tessera_testkit::find_program("psql") else {
        eprintln!("skipping: psql not found (install postgresql-client-15)");
        return;
    };
    let server = TestServer::start_with_shards(2);
    let c = server.connect().await;
    c.batch_execute("CREATE TABLE cp (k int, v text)")
        .await
        .unwrap();
    // Ten rows, a pause longer than the timeout, then enough rows for
    // a batch: the batch's insert finds the statement timed out.
    let rows = r"(for i in $(seq 1 10); do printf '%s\tx\n' $i; done; sleep 1; seq 11 6000 | sed 's/$/\tx/')";
    let script = format!(
        "{rows} | {} -X -q -h {} -p {} -U {} -d {} -c \"SET statement_timeout = '400ms'\" -c '\\copy cp from stdin' 2>&1",
        psql.display(),
        server.host(),
        server.port(),
        tessera_testkit::USER,
        server.dbname(),
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("canceling statement due to statement timeout"),
        "{text}"
    );
    assert_eq!(rows_text(&c, "SELECT count(*) FROM cp").await, ["0"]);
}
