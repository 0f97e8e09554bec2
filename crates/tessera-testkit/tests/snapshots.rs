//! Snapshot reads: a statement sees one consistent state of every shard,
//! never part of a write that spans shards.

use tessera_testkit::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_see_half_of_a_multi_shard_update() {
    let server = TestServer::start_with_shards(2);
    if server.is_external() {
        return;
    }
    let setup = server.connect().await;
    setup
        .batch_execute("CREATE TABLE balances (id int PRIMARY KEY, v int NOT NULL)")
        .await
        .unwrap();
    let rows: Vec<String> = (1..=200).map(|i| format!("({i}, 0)")).collect();
    setup
        .batch_execute(&format!("INSERT INTO balances VALUES {}", rows.join(", ")))
        .await
        .unwrap();

    let writer = {
        let client = server.connect().await;
        tokio::spawn(async move {
            for _ in 0..150 {
                // Every row, on both shards: one two-phase commit each time.
                assert_eq!(
                    client
                        .execute("UPDATE balances SET v = v + 1", &[])
                        .await
                        .unwrap(),
                    200
                );
            }
        })
    };
    let mut readers = Vec::new();
    for _ in 0..3 {
        let client = server.connect().await;
        readers.push(tokio::spawn(async move {
            let mut reads = 0u32;
            let mut last_seen = 0i32;
            loop {
                let row = client
                    .query_one("SELECT min(v), max(v), count(*), sum(v) FROM balances", &[])
                    .await
                    .unwrap();
                let (min, max): (i32, i32) = (row.get(0), row.get(1));
                let (count, sum): (i64, i64) = (row.get(2), row.get(3));
                assert_eq!(count, 200);
                assert_eq!(min, max, "a snapshot saw part of an update");
                assert_eq!(sum, 200 * min as i64);
                assert!(min >= last_seen, "snapshots move forward");
                last_seen = min;
                reads += 1;
                if min == 150 {
                    return reads;
                }
            }
        }));
    }
    writer.await.unwrap();
    for r in readers {
        assert!(r.await.unwrap() > 0);
    }
}
