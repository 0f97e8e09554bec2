//! Several `tessera` processes on loopback forming one cluster: bootstrap,
//! join, the metadata Raft group's leader and voters, restarts, and
//! strangers without the cluster secret.

use std::io::{Read, Write};
use std::time::Duration;

use tessera_testkit::cluster::{with_role, NodeRow, TestCluster};

/// The columns that identify a node (id, name, addresses, shards, state).
fn identities(rows: &[NodeRow]) -> Vec<Vec<String>> {
    rows.iter().map(|r| r[..6].to_vec()).collect()
}

fn settled(rows: &[NodeRow], nodes: usize, voters: usize) -> bool {
    rows.len() == nodes
        && with_role(rows, "leader").len() == 1
        && with_role(rows, "voter").len() == voters - 1
        && with_role(rows, "learner").len() == nodes - voters
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_found_one_cluster_that_every_node_sees_and_a_full_restart_keeps() {
    let mut cluster = TestCluster::start(3, 1, &[]);
    let first = cluster
        .wait_for(0, "three voters and a leader", |r| settled(r, 3, 3))
        .await;
    // Every node lists the same nodes.
    for via in 1..3 {
        let rows = cluster
            .wait_for(via, "the same three nodes", |r| settled(r, 3, 3))
            .await;
        assert_eq!(identities(&rows), identities(&first));
    }
    let ids: Vec<&str> = first.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, ["1", "2", "3"]);
    let mut addresses: Vec<&str> = first.iter().map(|r| r[2].as_str()).collect();
    addresses.sort();
    let mut expected: Vec<&str> = cluster.addrs.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(addresses, expected);
    // The node whose address sorts first founded it.
    assert_eq!(first[0][2], expected[0]);

    let status = cluster.status(2).expect("tessera status");
    assert!(status.contains("raft leader: node "), "{status}");
    assert_eq!(status.matches(" online ").count(), 3, "{status}");
    assert!(
        status.contains("raft voters: [1, 2, 3], learners: []"),
        "{status}"
    );
    // Shards are numbered cluster-wide, in the order nodes joined; the
    // founder's hold every bucket until rebalancing moves some.
    let mut placement: Vec<(String, String)> = status
        .lines()
        .filter(|l| l.contains(" online "))
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            (cells[4].to_string(), cells[5].to_string())
        })
        .collect();
    placement.sort();
    let all = tessera_types::schema::BUCKET_COUNT_DEFAULT.to_string();
    assert_eq!(
        placement,
        [
            ("0".into(), all),
            ("1".into(), "0".into()),
            ("2".into(), "0".into())
        ],
        "{status}"
    );

    cluster.restart_all();
    for via in 0..3 {
        let rows = cluster
            .wait_for(via, "the same cluster after a full restart", |r| {
                settled(r, 3, 3)
            })
            .await;
        assert_eq!(identities(&rows), identities(&first));
    }
    for node in &cluster.nodes {
        assert!(
            node.log().contains("is back in its cluster"),
            "{}",
            node.log_tail()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_and_comes_back_as_itself() {
    let mut cluster = TestCluster::start(3, 1, &[]);
    let rows = cluster
        .wait_for(0, "three voters and a leader", |r| settled(r, 3, 3))
        .await;
    let leader = with_role(&rows, "leader")[0].clone();
    let victim = cluster
        .addrs
        .iter()
        .position(|a| *a == leader[2])
        .expect("the leader is one of the nodes");
    cluster.nodes[victim].kill9();
    let survivor = (victim + 1) % 3;
    cluster
        .wait_for(survivor, "another leader", |r| {
            let leaders = with_role(r, "leader");
            leaders.len() == 1 && leaders[0][0] != leader[0]
        })
        .await;
    cluster.nodes[victim].restart();
    let after = cluster
        .wait_for(victim, "itself back among three voters", |r| {
            settled(r, 3, 3)
        })
        .await;
    assert_eq!(identities(&after), identities(&rows));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_nodes_become_voters_up_to_an_odd_count_and_a_dead_voter_is_replaced() {
    let mut cluster = TestCluster::start(3, 1, &["--raft-voter-down-timeout", "2"]);
    cluster
        .wait_for(0, "three voters", |r| settled(r, 3, 3))
        .await;
    let fourth = cluster.add_node(&["--name", "fourth", "--failure-domain", "dc=b,rack=r4"]);
    // Four nodes: three voters (an even count buys nothing) and a learner.
    let rows = cluster
        .wait_for(fourth, "the fourth node as a learner", |r| settled(r, 4, 3))
        .await;
    let learner = with_role(&rows, "learner")[0].clone();
    assert_eq!(learner[1], "fourth");
    assert_eq!(learner[7], "dc=b,rack=r4");
    assert_eq!(learner[0], "4", "a joining node gets the next id");

    // A voter (not the leader) dies: the live learner takes its vote.
    let voter = with_role(&rows, "voter")[0].clone();
    let victim = cluster.addrs.iter().position(|a| *a == voter[2]).unwrap();
    cluster.nodes[victim].kill9();
    let rows = cluster
        .wait_for(
            fourth,
            "the learner voting instead of the dead voter",
            |r| {
                r.len() == 4
                    && r.iter()
                        .any(|n| n[0] == "4" && (n[6] == "voter" || n[6] == "leader"))
                    && r.iter().any(|n| n[0] == voter[0] && n[6] == "learner")
            },
        )
        .await;
    assert_eq!(
        with_role(&rows, "voter").len() + with_role(&rows, "leader").len(),
        3
    );
    // It comes back, and a fifth node joins: five voters.
    cluster.nodes[victim].restart();
    let fifth = cluster.add_node(&[]);
    cluster
        .wait_for(fifth, "five voters", |r| settled(r, 5, 5))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_without_the_secret_can_neither_join_nor_ask() {
    let mut cluster = TestCluster::start(1, 1, &[]);
    cluster
        .wait_for(0, "a cluster of one", |r| settled(r, 1, 1))
        .await;
    let right = cluster.secret.clone();
    let wrong = right.with_file_name("wrong-secret");
    std::fs::write(&wrong, "0123456789abcdef0123456789abcdef").unwrap();

    // tessera status with the wrong secret.
    cluster.secret = wrong.clone();
    let refused = cluster.status(0).expect_err("a wrong secret must fail");
    assert!(
        refused.contains("does not know the cluster secret"),
        "{refused}"
    );
    cluster.secret = right.clone();
    cluster.status(0).expect("the right secret works");

    // Bytes that are no handshake at all: the connection is closed and
    // the node goes on.
    let mut raw = std::net::TcpStream::connect(&cluster.addrs[0]).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n0123456789012345678901234567890123456789")
        .unwrap();
    let mut buf = Vec::new();
    let _ = raw.read_to_end(&mut buf);
    cluster.status(0).expect("the node still answers");

    // A node with another secret tries to join (and, outside the cluster,
    // serves no SQL).
    cluster.secret = wrong;
    let stranger = cluster.add_node_deferred(&[]);
    cluster
        .wait_for_log(stranger, "does not know the cluster secret")
        .await;
    cluster.secret = right;
    let rows = cluster.node_rows(0).await;
    assert_eq!(
        rows.len(),
        1,
        "the stranger must not be in the cluster: {rows:?}"
    );
    assert!(cluster.nodes[stranger].try_connect().await.is_err());
    assert!(cluster.nodes[0]
        .log()
        .contains("refused a cluster connection"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expelled_nodes_leave_for_good_and_the_voters_are_made_up() {
    // The founder keeps every bucket.
    let mut cluster = TestCluster::start(3, 1, &["--rebalance=false"]);
    cluster
        .wait_for(0, "three voters", |r| settled(r, 3, 3))
        .await;
    let fourth = cluster.add_node(&["--name", "fourth"]);
    let rows = cluster
        .wait_for(0, "four nodes, one learner", |r| settled(r, 4, 3))
        .await;

    // A voter that is not the leader (and owns no buckets), expelled by
    // name through another node.
    let founder = cluster.founder().await;
    let voter = with_role(&rows, "voter")
        .into_iter()
        .find(|v| v[2] != cluster.addrs[founder])
        .unwrap()
        .clone();
    let victim = cluster.addrs.iter().position(|a| *a == voter[2]).unwrap();
    let via = (0..4).find(|i| *i != victim).unwrap();
    let out = cluster.expel(via, &voter[1]).expect("tessera expel");
    assert_eq!(out.trim(), format!("node {} is expelled", voter[0]));
    let rows = cluster
        .wait_for(fourth, "the learner voting instead", |r| {
            r.iter().any(|n| n[0] == voter[0] && n[5] == "expelled")
                && r.iter()
                    .filter(|n| n[6] == "voter" || n[6] == "leader")
                    .count()
                    == 3
                && r.iter().all(|n| n[5] == "expelled" || n[6] != "learner")
        })
        .await;
    assert_eq!(rows.len(), 4, "an expelled node keeps its row: {rows:?}");
    // It knows, and a restart does not bring it back: it refuses to start.
    cluster.nodes[victim].restart_deferred();
    cluster.wait_for_log(victim, "does not rejoin").await;
    assert!(cluster.nodes[victim]
        .log()
        .contains("was expelled from its cluster"));

    // Errors: an unknown node, one already expelled.
    let e = cluster
        .expel(via, "no-such-node")
        .expect_err("unknown node");
    assert!(e.contains("has no node"), "{e}");
    let e = cluster.expel(via, &voter[0]).expect_err("expelled twice");
    assert!(e.contains("already expelled"), "{e}");

    // The leader itself (forced, should it be the founder, which owns
    // every bucket: a node that owns buckets is drained first, as
    // cluster_moves.rs shows): another node takes over.
    let rows = cluster.node_rows(fourth).await;
    let leader = with_role(&rows, "leader")[0].clone();
    cluster
        .expel_forced(fourth, &leader[0])
        .expect("expel the leader");
    cluster
        .wait_for(fourth, "a new leader among the two left", |r| {
            let leaders = with_role(r, "leader");
            leaders.len() == 1
                && leaders[0][0] != leader[0]
                && r.iter().filter(|n| n[5] == "online").count() == 2
        })
        .await;
}
