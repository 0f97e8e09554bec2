//! The real pgbench, unmodified: `pgbench -i -I dtGp -s 2` (server-side data
//! generation, then ALTER TABLE … ADD PRIMARY KEY, which re-shards each
//! table by its key), then its built-in TPC-B-like script with 8 clients.
//! Afterwards the four balance sums agree; they agree again after a kill -9
//! in the middle of a run and a restart. And its full default
//! initialization (`dtgvp`: client-side generation with `COPY … FROM STDIN
//! WITH (FREEZE ON)`, VACUUM ANALYZE), then runs without `-n` (VACUUM, the
//! partition probe) in each query mode.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tessera_testkit::{find_program, TestServer};
use tokio_postgres::Client;

fn pgbench(server: &TestServer, bin: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.args(["-h", server.host(), "-p"])
        .arg(server.port().to_string())
        .args(["-U", tessera_testkit::USER])
        .args(args)
        .arg(server.dbname());
    c
}

fn run(mut c: Command) -> String {
    let out = c.output().expect("run pgbench");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "pgbench failed:\n{text}");
    text
}

/// `(sum(abalance), sum(tbalance), sum(bbalance), sum(delta))`.
async fn sums(c: &Client) -> [i64; 4] {
    let mut out = [0; 4];
    for (i, sql) in [
        "SELECT sum(abalance) FROM pgbench_accounts",
        "SELECT sum(tbalance) FROM pgbench_tellers",
        "SELECT sum(bbalance) FROM pgbench_branches",
        "SELECT coalesce(sum(delta), 0) FROM pgbench_history",
    ]
    .iter()
    .enumerate()
    {
        out[i] = c.query_one(*sql, &[]).await.unwrap().get(0);
    }
    out
}

fn agree(s: [i64; 4]) -> bool {
    s.iter().all(|v| *v == s[0])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_init_and_tpcb_keep_balances_through_a_crash() {
    let Some(bin) = find_program("pgbench") else {
        eprintln!("skipping: pgbench not found (install postgresql-15)");
        return;
    };
    let mut server = TestServer::start_with_shards(2);
    let init = run(pgbench(&server, &bin, &["-i", "-I", "dtGp", "-s", "2"]));
    assert!(init.contains("creating primary keys"), "{init}");
    let c = server.connect().await;
    for (sql, want) in [
        ("SELECT count(*) FROM pgbench_accounts", 200_000i64),
        ("SELECT count(*) FROM pgbench_tellers", 20),
        ("SELECT count(*) FROM pgbench_branches", 2),
    ] {
        let n: i64 = c.query_one(sql, &[]).await.unwrap().get(0);
        assert_eq!(n, want, "{sql}");
    }
    // The primary keys hold.
    let err = c
        .batch_execute("INSERT INTO pgbench_branches VALUES (1, 0, '')")
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("23505"));

    // The built-in script, as pgbench runs it by default (vacuuming first).
    let out = run(pgbench(&server, &bin, &["-c", "8", "-j", "2", "-T", "2"]));
    assert!(out.contains("number of failed transactions: 0"), "{out}");
    assert!(!out.contains("error"), "{out}");
    let before = sums(&c).await;
    assert!(agree(before), "balances disagree after a run: {before:?}");
    let history: i64 = c
        .query_one("SELECT count(*) FROM pgbench_history", &[])
        .await
        .unwrap()
        .get(0);
    assert!(history > 0);
    drop(c);

    if server.is_external() {
        return;
    }
    // A run killed in the middle: every transaction is there whole or not
    // at all.
    let mut load: Child = pgbench(&server, &bin, &["-n", "-c", "8", "-j", "2", "-T", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pgbench");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill9();
    let _ = load.wait();
    server.restart();
    let c = server.connect().await;
    let after = sums(&c).await;
    assert!(agree(after), "balances disagree after a crash: {after:?}");
    let grown: i64 = c
        .query_one("SELECT count(*) FROM pgbench_history", &[])
        .await
        .unwrap()
        .get(0);
    assert!(grown > history, "the killed run committed something");
    // And it goes on.
    let out = run(pgbench(
        &server,
        &bin,
        &["-n", "-c", "8", "-j", "2", "-T", "1"],
    ));
    assert!(out.contains("number of failed transactions: 0"), "{out}");
    assert!(agree(sums(&c).await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_default_init_then_every_query_mode() {
    let Some(bin) = find_program("pgbench") else {
        eprintln!("skipping: pgbench not found (install postgresql-15)");
        return;
    };
    let server = TestServer::start_with_shards(2);
    // The default steps: drop, create tables WITH (fillfactor=100),
    // client-side generate (COPY pgbench_accounts FROM STDIN WITH (FREEZE
    // ON)), vacuum analyze, primary keys.
    let init = run(pgbench(&server, &bin, &["-i", "-s", "2"]));
    for step in [
        "generating data (client-side)",
        "vacuuming",
        "creating primary keys",
    ] {
        assert!(init.contains(step), "{step}: {init}");
    }
    assert!(!init.contains("ERROR"), "{init}");
    let c = server.connect().await;
    let n: i64 = c
        .query_one("SELECT count(*) FROM pgbench_accounts", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 200_000);
    let filler: String = c
        .query_one("SELECT filler FROM pgbench_accounts WHERE aid = 77", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(filler, " ".repeat(84), "COPY's empty field is '', padded");
    let mut before = sums(&c).await;
    assert_eq!(before, [0; 4]);
    for mode in ["simple", "extended", "prepared"] {
        // Without -n: pgbench vacuums and probes pg_catalog for
        // partitions first, and empties pgbench_history.
        let out = run(pgbench(&server, &bin, &["-c", "4", "-T", "5", "-M", mode]));
        assert!(out.contains(&format!("query mode: {mode}")), "{out}");
        assert!(out.contains("number of failed transactions: 0"), "{out}");
        assert!(!out.contains("error"), "{out}");
        let after = sums(&c).await;
        assert!(
            after[0] == after[1] && after[1] == after[2] && after[0] - before[0] == after[3],
            "balances disagree after -M {mode}: {before:?} then {after:?}"
        );
        before = after;
    }
}
