//! INSERT … ON CONFLICT on a unique index other than the primary key, under
//! concurrency on two shards: sessions race to insert the same few emails
//! (each under a new id, so the rows would land on either shard) and to
//! count their visits, some in autocommit, some in transaction blocks,
//! while another session deletes rows. Under READ COMMITTED, as in
//! PostgreSQL, none of them fails: a session that loses the race for an
//! email's entry, or finds its row deleted under it, looks again. No email
//! is ever held by two rows, and without the deleter every visit counts.

use std::time::Duration;

use tessera_testkit::{rows_text, TestServer};
use tokio_postgres::Client;

const SESSIONS: usize = 6;
const VISITS: usize = 60;
const EMAILS: usize = 4;
/// A statement taking longer is taken for a hang, and fails the test.
const OP_TIMEOUT: Duration = Duration::from_secs(30);

async fn visit(client: &Client, email: &str, in_block: bool) {
    let sql = "INSERT INTO visits (email, n) VALUES ($1, 1) \
               ON CONFLICT (email) DO UPDATE SET n = visits.n + 1";
    let run = async {
        if in_block {
            client.batch_execute("BEGIN").await?;
            client.execute(sql, &[&email]).await?;
            client.batch_execute("COMMIT").await
        } else {
            client.execute(sql, &[&email]).await.map(|_| ())
        }
    };
    tokio::time::timeout(OP_TIMEOUT, run)
        .await
        .expect("an upsert hung")
        .unwrap_or_else(|e| panic!("upsert of {email} failed: {e:?}"));
}

async fn race(server: &TestServer, deleter: bool) {
    let client = server.connect().await;
    client
        .batch_execute(
            "DROP TABLE IF EXISTS visits; \
             CREATE TABLE visits (id bigserial PRIMARY KEY, email text UNIQUE, n int NOT NULL)",
        )
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for s in 0..SESSIONS {
        let c = server.connect().await;
        tasks.push(tokio::spawn(async move {
            for v in 0..VISITS {
                let email = format!("e{}@x", (s + v) % EMAILS);
                visit(&c, &email, (s + v) % 3 == 0).await;
            }
        }));
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut deleting = None;
    if deleter {
        let stop = stop.clone();
        let c = server.connect().await;
        deleting = Some(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let email = format!("e{}@x", i % EMAILS);
                c.execute("DELETE FROM visits WHERE email = $1", &[&email])
                    .await
                    .expect("delete");
                i += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(d) = deleting {
        d.await.unwrap();
    }
    let doubled = rows_text(
        &client,
        "SELECT email FROM visits GROUP BY email HAVING count(*) > 1",
    )
    .await;
    assert!(doubled.is_empty(), "emails held twice: {doubled:?}");
    if !deleter {
        let totals = rows_text(&client, "SELECT count(*), sum(n) FROM visits").await;
        assert_eq!(
            totals,
            vec![format!("{EMAILS}|{}", SESSIONS * VISITS)],
            "every visit counts once"
        );
    }
}

#[tokio::test]
async fn racing_upserts_count_every_visit() {
    let server = TestServer::start_with_shards(2);
    race(&server, false).await;
    race(&server, true).await;
}
