//! Clusters of real `tessera` processes on loopback: each node a
//! [`TestServer`] with a cluster port, all sharing one secret.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{find_binary, free_port, rows_text, TestServer};

/// How long a cluster may take to reach a state a test waits for.
pub const CLUSTER_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a node may take to log what a test waits for.
pub const LOG_TIMEOUT: Duration = Duration::from_secs(30);

pub struct TestCluster {
    pub nodes: Vec<TestServer>,
    /// Each node's internal address, by position in `nodes`.
    pub addrs: Vec<String>,
    pub secret: PathBuf,
    dir: PathBuf,
    shards: usize,
    extra: Vec<String>,
}

const NODES_SQL: &str = "SELECT node_id, name, address, pg_address, shards, state, raft_role, failure_domain FROM tessera_nodes ORDER BY node_id";

fn split(lines: Vec<String>) -> Vec<NodeRow> {
    lines
        .into_iter()
        .map(|l| l.split('|').map(str::to_string).collect())
        .collect()
}

/// A row of `tessera_nodes`: node_id, name, address, pg_address, shards,
/// state, raft_role, failure_domain (as text).
pub type NodeRow = Vec<String>;

impl TestCluster {
    /// Starts `n` nodes with the same peer list; they form one cluster.
    /// `extra` goes to every node's `tessera run`.
    pub fn start(n: usize, shards: usize, extra: &[&str]) -> TestCluster {
        let dir = std::env::temp_dir().join(format!(
            "tessera-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("create the cluster directory");
        let secret = dir.join("secret");
        let hex: String = (0..32)
            .map(|i| format!("{:02x}", (std::process::id() as usize * 31 + i * 17) % 251))
            .collect();
        std::fs::write(&secret, hex).expect("write the secret");
        let addrs: Vec<String> = (0..n)
            .map(|_| format!("127.0.0.1:{}", free_port()))
            .collect();
        let mut cluster = TestCluster {
            nodes: Vec::new(),
            addrs: Vec::new(),
            secret,
            dir,
            shards,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        let peers = addrs.join(",");
        // A node serves SQL once it has its place in the cluster, which
        // takes the others: all start, then all are waited for.
        for addr in addrs {
            cluster.spawn(addr, &peers, &[]);
        }
        for node in &mut cluster.nodes {
            node.wait_started();
        }
        cluster
    }

    /// Stops every node (SIGTERM) and starts them all again.
    pub fn restart_all(&mut self) {
        for node in &mut self.nodes {
            let exit = node.terminate();
            assert!(exit.success(), "{}", node.log_tail());
        }
        for node in &mut self.nodes {
            node.restart_deferred();
        }
        for node in &mut self.nodes {
            node.wait_started();
        }
    }

    fn spawn(&mut self, addr: String, peers: &str, more: &[&str]) -> usize {
        let secret = self.secret.display().to_string();
        let mut args: Vec<&str> = vec![
            "--listen",
            &addr,
            "--peer",
            peers,
            "--cluster-secret-file",
            &secret,
        ];
        args.extend(self.extra.iter().map(String::as_str));
        args.extend_from_slice(more);
        let server = TestServer::start_deferred(self.shards, &args);
        self.nodes.push(server);
        self.addrs.push(addr);
        self.nodes.len() - 1
    }

    /// Starts one more node with a new data directory, finding the cluster
    /// through the nodes there are; returns its position.
    pub fn add_node(&mut self, more: &[&str]) -> usize {
        let at = self.add_node_deferred(more);
        self.nodes[at].wait_started();
        at
    }

    /// [`Self::add_node`] without waiting for the node to serve SQL, which
    /// it does only once it is in the cluster.
    pub fn add_node_deferred(&mut self, more: &[&str]) -> usize {
        let addr = format!("127.0.0.1:{}", free_port());
        let peers = self.addrs.join(",");
        self.spawn(addr, &peers, more)
    }

    /// `tessera status` through node `via`: its output, or its error.
    pub fn status(&self, via: usize) -> Result<String, String> {
        self.command(via, "status", &[])
    }

    /// `tessera NAME MORE…` through node `via`, to run.
    pub fn cli(&self, via: usize, name: &str, more: &[&str]) -> Command {
        let mut command = Command::new(find_binary());
        command
            .args([name, "--peer", &self.addrs[via], "--cluster-secret-file"])
            .arg(&self.secret)
            .args(more);
        command
    }

    fn command(&self, via: usize, name: &str, more: &[&str]) -> Result<String, String> {
        let out = self
            .cli(via, name, more)
            .output()
            .unwrap_or_else(|e| panic!("run tessera {name}: {e}"));
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Cuts node `node` off from every other node, both ways, through the
    /// transport's fault hook (`tessera fault`); [`Self::heal`] undoes it.
    pub fn partition(&self, node: usize) {
        let others: Vec<&str> = (0..self.addrs.len())
            .filter(|n| *n != node)
            .map(|n| self.addrs[n].as_str())
            .collect();
        self.command(node, "fault", &["--cut-off", &others.join(",")])
            .unwrap();
        for other in (0..self.addrs.len()).filter(|n| *n != node) {
            self.command(other, "fault", &["--cut-off", &self.addrs[node]])
                .unwrap();
        }
    }

    /// Ends every partition [`Self::partition`] made.
    pub fn heal(&self) {
        for node in 0..self.addrs.len() {
            self.command(node, "fault", &["--cut-off", ""]).unwrap();
        }
    }

    /// `tessera expel NODE` through node `via`: its output, or its error.
    pub fn expel(&self, via: usize, node: &str) -> Result<String, String> {
        self.command(via, "expel", &[node])
    }

    /// `tessera expel --force`: even a node that owns buckets.
    pub fn expel_forced(&self, via: usize, node: &str) -> Result<String, String> {
        self.command(via, "expel", &["--force", node])
    }

    /// `tessera_nodes` as node `via` sees it, by node id.
    pub async fn node_rows(&self, via: usize) -> Vec<NodeRow> {
        let client = self.nodes[via].connect().await;
        split(rows_text(&client, NODES_SQL).await)
    }

    /// Polls node `via`'s `tessera_nodes` until `done` holds; panics with
    /// what it saw and the logs after [`CLUSTER_TIMEOUT`].
    pub async fn wait_for(
        &self,
        via: usize,
        what: &str,
        done: impl Fn(&[NodeRow]) -> bool,
    ) -> Vec<NodeRow> {
        let deadline = Instant::now() + CLUSTER_TIMEOUT;
        let mut last = Vec::new();
        while Instant::now() < deadline {
            if let Ok(client) = self.nodes[via].try_connect().await {
                if let Ok(rows) = crate::try_rows_text(&client, NODES_SQL).await.map(split) {
                    if done(&rows) {
                        return rows;
                    }
                    last = rows;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let logs: Vec<String> = self.nodes.iter().map(|n| n.log_tail()).collect();
        panic!(
            "node {via} did not see {what} within {CLUSTER_TIMEOUT:?}; it last saw {last:?}\n{}",
            logs.join("\n")
        );
    }
}

impl TestCluster {
    /// The position of the node whose shards own the buckets (the one that
    /// bootstrapped the cluster, until buckets move) and are masters there:
    /// every table's rows are there.
    pub async fn founder(&self) -> usize {
        let client = self.nodes[0].connect().await;
        let owners = rows_text(
            &client,
            "SELECT pg_address FROM tessera_nodes WHERE buckets > 0 AND master_of > 0",
        )
        .await;
        assert_eq!(owners.len(), 1, "{owners:?}");
        self.nodes
            .iter()
            .position(|n| owners[0].ends_with(&format!(":{}", n.port())))
            .expect("the founder is one of the nodes")
    }

    /// The cluster-wide number of node `node`'s shard 0.
    pub async fn first_shard(&self, node: usize) -> u16 {
        let client = self.nodes[node].connect().await;
        let first = rows_text(
            &client,
            &format!(
                "SELECT first_shard FROM tessera_nodes WHERE pg_address LIKE '%:{}'",
                self.nodes[node].port()
            ),
        )
        .await;
        first[0].parse().expect("a shard number")
    }

    /// Waits until node `node`'s log contains `text`; panics with the
    /// log's tail after [`LOG_TIMEOUT`].
    pub async fn wait_for_log(&self, node: usize, text: &str) {
        let deadline = Instant::now() + LOG_TIMEOUT;
        while !self.nodes[node].log().contains(text) {
            assert!(
                Instant::now() < deadline,
                "node {node} never logged {text:?}\n{}",
                self.nodes[node].log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        self.nodes.clear();
        if std::env::var_os("TESSERA_KEEP_DATA").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Rows with `role` in the raft_role column.
pub fn with_role<'a>(rows: &'a [NodeRow], role: &str) -> Vec<&'a NodeRow> {
    rows.iter().filter(|r| r[6] == role).collect()
}

/// Runs `futures` concurrently; their outputs in order.
pub async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if results[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => results[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().map(|r| r.expect("done")).collect()
}
