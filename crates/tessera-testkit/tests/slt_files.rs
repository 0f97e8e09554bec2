//! The project's own sqllogictest files (`crates/tessera-testkit/slt`, one
//! per topic, expectations produced by PostgreSQL 15 with
//! `scripts/slt-expect.sh`) pass completely against Tessera with one
//! shard and with two.

use tessera_testkit::slt;
use tessera_testkit::{workspace_root, TestServer};

async fn run_all(shards: usize) {
    let dir = workspace_root().join("crates/tessera-testkit/slt");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the slt directory")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files in {}", dir.display());
    let mut failed = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("an slt file");
        let script = slt::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let server = TestServer::start_with_shards(shards);
        let client = server.connect().await;
        let outcome = slt::run(&script, &client, 20).await;
        if outcome.failed > 0 {
            failed.push(format!(
                "{} ({shards} shards): {} of {} fail\n{}",
                file.display(),
                outcome.failed,
                script.records.len(),
                outcome.failures.join("\n")
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

#[tokio::test]
async fn every_file_passes_on_one_shard() {
    run_all(1).await;
}

#[tokio::test]
async fn every_file_passes_on_two_shards() {
    run_all(2).await;
}
