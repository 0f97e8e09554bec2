//! The 22 TPC-H queries over scale factor 0.1 (the rows `tpchgen-cli`
//! generates) return exactly what PostgreSQL 15 returns: the answers in
//! `crates/tessera-testkit/tpch/answers-sf0.1`, made by
//! `scripts/tpch-answers.sh`.

use tessera_testkit::{tpch, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_22_queries_answer_as_postgresql_does() {
    let server = TestServer::start();
    let conninfo = format!("host=127.0.0.1 port={} user=postgres", server.port());
    let loaded = tpch::load(&conninfo, 0.1, 2)
        .await
        .expect("loading TPC-H at 0.1");
    let lineitem = loaded
        .iter()
        .find(|(t, _)| t == "lineitem")
        .map(|(_, n)| *n);
    assert_eq!(lineitem, Some(600_572));
    let client = server.connect().await;
    let mut wrong = Vec::new();
    for n in 1..=22 {
        let want = tpch::read_answer(&tpch::answers_dir(), n).expect("a saved answer");
        match tpch::run(&client, n).await {
            Ok((got, _)) => {
                if let Some(diff) = tpch::compare(&want, &got) {
                    wrong.push(format!("q{n:02}: {diff}"));
                }
            }
            Err(e) => wrong.push(format!("q{n:02}: {e}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
