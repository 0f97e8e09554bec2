//! The SQLite sqllogictest corpora (`../shared/slt/sqlite`, beside the
//! repository; `TESSERA_SLT_DIR` points elsewhere) run against a server,
//! each file on a fresh one. The whole corpus must pass eventually (the
//! SQL issue); until then each file must pass at least as many records as
//! `slt_sqlite_baseline.txt` says, so that no change takes passing
//! queries away. Raise the baseline as more pass.

use std::path::PathBuf;

use tessera_testkit::slt;
use tessera_testkit::{workspace_root, TestServer};

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("TESSERA_SLT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/slt/sqlite"));
    dir.is_dir().then_some(dir)
}

fn baseline() -> Vec<(String, usize)> {
    include_str!("slt_sqlite_baseline.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut words = l.split_whitespace();
            let file = words.next().expect("a file name").to_string();
            let passed = words
                .next()
                .and_then(|n| n.parse().ok())
                .expect("a count of passing records");
            (file, passed)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_corpora_pass_at_least_the_baseline() {
    let Some(dir) = corpus_dir() else {
        eprintln!("skipped: no sqllogictest corpora (set TESSERA_SLT_DIR)");
        return;
    };
    let mut regressions = Vec::new();
    for (file, at_least) in baseline() {
        let text = std::fs::read_to_string(dir.join(&file))
            .unwrap_or_else(|e| panic!("reading {file}: {e}"));
        let script = slt::parse(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let server = TestServer::start();
        let client = server.connect().await;
        let outcome = slt::run(&script, &client, 5).await;
        eprintln!(
            "{file}: {} of {} records pass (baseline {at_least})",
            outcome.passed,
            script.records.len()
        );
        for f in &outcome.failures {
            eprintln!("  {f}");
        }
        if outcome.passed < at_least {
            regressions.push(format!(
                "{file}: {} pass, baseline {at_least}",
                outcome.passed
            ));
        }
    }
    assert!(
        regressions.is_empty(),
        "fewer records pass: {regressions:?}"
    );
}
