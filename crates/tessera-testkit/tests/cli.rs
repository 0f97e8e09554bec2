//! `tessera run` as an operator starts it: settings from flags, environment
//! and a config file with the documented precedence (flag > env > file >
//! default), refusal of a data directory created with another shard count,
//! and refusal of a data directory another process holds.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tessera_testkit::{find_binary, free_port};

struct Proc {
    child: Child,
    log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn spawn(args: &[&str], envs: &[(&str, String)], log: &Path) -> Proc {
    let mut cmd = Command::new(find_binary());
    cmd.arg("run")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    cmd.stderr(std::fs::File::create(log).unwrap());
    for key in [
        "TESSERA_CONFIG",
        "TESSERA_DATA_DIR",
        "TESSERA_PG_LISTEN",
        "TESSERA_SHARDS",
        "TESSERA_LOG_LEVEL",
        "TESSERA_CHECKPOINT_WAL_SIZE",
        "TESSERA_CHECKPOINT_INTERVAL",
    ] {
        cmd.env_remove(key);
    }
    // The socket goes next to the log, not in /tmp, where a node these
    // tests kill would leave its file.
    if let Some(dir) = log.parent() {
        cmd.env("TESSERA_PG_SOCKET_DIR", dir);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    Proc {
        child: cmd.spawn().unwrap(),
        log: log.to_path_buf(),
    }
}

fn read(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

/// Waits for the "listening" line and returns it.
fn listening_line(p: &mut Proc) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let log = read(&p.log);
        if let Some(line) = log.lines().find(|l| l.contains("listening for PostgreSQL")) {
            return line.to_string();
        }
        if let Ok(Some(status)) = p.child.try_wait() {
            panic!("tessera exited with {status}: {log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no listening line: {}", read(&p.log));
}

/// Waits for the process to exit on its own and returns its status and log.
fn exit_of(p: &mut Proc) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = p.child.try_wait() {
            return (status, read(&p.log));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("tessera did not exit: {}", read(&p.log));
}

/// A node in a fresh directory on a free port, started (and restarted)
/// with the same arguments.
struct Node {
    dir: PathBuf,
    data: PathBuf,
    port: u16,
    args: Vec<String>,
}

impl Node {
    fn new(name: &str, shards: &str, extra: &[&str]) -> Node {
        let dir = temp_dir(name);
        let port = free_port();
        let data = dir.join("data");
        let listen = format!("127.0.0.1:{port}");
        let mut args: Vec<String> = [
            "--data-dir",
            data.to_str().unwrap(),
            "--pg-listen",
            &listen,
            "--shards",
            shards,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        Node {
            dir,
            data,
            port,
            args,
        }
    }

    /// Starts the process, logging to `log` in the node's directory.
    fn spawn(&self, log: &str) -> Proc {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        spawn(&args, &[], &self.dir.join(log))
    }

    /// Starts the process and waits until it listens.
    fn start(&self, log: &str) -> Proc {
        let mut p = self.spawn(log);
        listening_line(&mut p);
        p
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn settings_come_from_flag_then_env_then_config_file() {
    let dir = temp_dir("precedence");
    let (file_port, env_port, flag_port) = (free_port(), free_port(), free_port());
    let config = dir.join("tessera.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\npg_listen = \"127.0.0.1:{file_port}\"\nshards = 2\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let config_arg = config.to_str().unwrap();

    // The file alone decides.
    let mut p = spawn(&["--config", config_arg], &[], &dir.join("a.log"));
    let line = listening_line(&mut p);
    assert!(line.contains(&format!("127.0.0.1:{file_port}")), "{line}");
    assert!(line.contains("(2 shards"), "{line}");
    drop(p);

    // The environment beats the file, also for the config file's location.
    let envs = [
        ("TESSERA_CONFIG", config_arg.to_string()),
        ("TESSERA_PG_LISTEN", format!("127.0.0.1:{env_port}")),
    ];
    let mut p = spawn(&[], &envs, &dir.join("b.log"));
    let line = listening_line(&mut p);
    assert!(line.contains(&format!("127.0.0.1:{env_port}")), "{line}");
    drop(p);

    // A flag beats the environment.
    let mut p = spawn(
        &["--pg-listen", &format!("127.0.0.1:{flag_port}")],
        &envs,
        &dir.join("c.log"),
    );
    let line = listening_line(&mut p);
    assert!(line.contains(&format!("127.0.0.1:{flag_port}")), "{line}");
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_settings_and_mismatched_data_dirs_are_refused_clearly() {
    let dir = temp_dir("refuse");
    let data = dir.join("data");
    let data_arg = data.to_str().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");

    let mut first = spawn(
        &[
            "--data-dir",
            data_arg,
            "--pg-listen",
            &listen,
            "--shards",
            "2",
        ],
        &[],
        &dir.join("a.log"),
    );
    listening_line(&mut first);

    // A second node on the same address, with its own data directory: not
    // silently sharing the port.
    let other_data = dir.join("other");
    let mut same_port = spawn(
        &[
            "--data-dir",
            other_data.to_str().unwrap(),
            "--pg-listen",
            &listen,
            "--shards",
            "2",
        ],
        &[],
        &dir.join("p.log"),
    );
    let (status, log) = exit_of(&mut same_port);
    assert!(!status.success());
    assert!(
        log.contains("cannot listen on") && log.contains("in use"),
        "{log}"
    );

    // A second process on the same data directory.
    let mut second = spawn(
        &[
            "--data-dir",
            data_arg,
            "--pg-listen",
            &format!("127.0.0.1:{}", free_port()),
            "--shards",
            "2",
        ],
        &[],
        &dir.join("b.log"),
    );
    let (status, log) = exit_of(&mut second);
    assert!(!status.success());
    assert!(log.contains("in use by another tessera process"), "{log}");
    drop(first);

    // The data directory was created with 2 shards.
    let mut other = spawn(
        &[
            "--data-dir",
            data_arg,
            "--pg-listen",
            &listen,
            "--shards",
            "3",
        ],
        &[],
        &dir.join("c.log"),
    );
    let (status, log) = exit_of(&mut other);
    assert!(!status.success());
    assert!(log.contains("holds 2 shards"), "{log}");

    // Unknown keys in the config file and malformed values.
    let config = dir.join("bad.toml");
    std::fs::write(&config, "pg_listen = \"127.0.0.1:1\"\nshard = 2\n").unwrap();
    let mut bad = spawn(
        &["--config", config.to_str().unwrap()],
        &[],
        &dir.join("d.log"),
    );
    let (status, log) = exit_of(&mut bad);
    assert!(!status.success());
    assert!(log.contains("unknown field"), "{log}");
    let mut bad = spawn(&["--pg-listen", "not-an-address"], &[], &dir.join("e.log"));
    let (status, _) = exit_of(&mut bad);
    assert!(!status.success());
    let mut bad = spawn(
        &["--data-dir", data_arg, "--shards", "0"],
        &[],
        &dir.join("f.log"),
    );
    let (status, log) = exit_of(&mut bad);
    assert!(!status.success());
    assert!(log.contains("--shards must be between"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The checkpoint settings are read from the environment and the config
/// file too, a flag beats both, and values out of range are refused with
/// the setting's name.
#[test]
fn checkpoint_settings_are_read_and_checked_from_every_source() {
    let dir = temp_dir("checkpoint-settings");
    let data = dir.join("data");
    let data_arg = data.to_str().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let base = [
        "--data-dir",
        data_arg,
        "--pg-listen",
        &listen,
        "--shards",
        "1",
    ];

    let small = [("TESSERA_CHECKPOINT_WAL_SIZE", "1K".to_string())];
    let mut p = spawn(&base, &small, &dir.join("a.log"));
    let (status, log) = exit_of(&mut p);
    assert!(!status.success());
    assert!(
        log.contains("--checkpoint-wal-size") && log.contains("at least 64K"),
        "{log}"
    );

    let config = dir.join("tessera.toml");
    std::fs::write(&config, "checkpoint_interval = 0\n").unwrap();
    let with_config: Vec<&str> = base
        .iter()
        .copied()
        .chain(["--config", config.to_str().unwrap()])
        .collect();
    let mut p = spawn(&with_config, &[], &dir.join("b.log"));
    let (status, log) = exit_of(&mut p);
    assert!(!status.success());
    assert!(
        log.contains("--checkpoint-interval") && log.contains("at least 1 second"),
        "{log}"
    );
    std::fs::write(&config, "checkpoint_wal_size = \"12 parsecs\"\n").unwrap();
    let mut p = spawn(&with_config, &[], &dir.join("c.log"));
    let (status, log) = exit_of(&mut p);
    assert!(!status.success());
    assert!(log.contains("unknown unit"), "{log}");

    // Flags beat the environment and the file: this one starts.
    std::fs::write(
        &config,
        "checkpoint_wal_size = \"1K\"\ncheckpoint_interval = 0\n",
    )
    .unwrap();
    let flags: Vec<&str> = with_config
        .iter()
        .copied()
        .chain([
            "--checkpoint-wal-size",
            "128K",
            "--checkpoint-interval",
            "5",
        ])
        .collect();
    let mut p = spawn(&flags, &small, &dir.join("d.log"));
    listening_line(&mut p);
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}

async fn connect(port: u16) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=postgres dbname=d"),
        tokio_postgres::NoTls,
    )
    .await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

#[tokio::test]
async fn connections_past_the_limit_are_refused_with_53300() {
    let node = Node::new("limit", "2", &["--max-connections", "2"]);
    let port = node.port;
    let p = node.start("a.log");
    let first = connect(port).await.expect("first connection");
    let second = connect(port).await.expect("second connection");
    let Err(refused) = connect(port).await else {
        panic!("a third connection is refused");
    };
    assert_eq!(
        refused.code(),
        Some(&tokio_postgres::error::SqlState::TOO_MANY_CONNECTIONS),
        "{refused:?}"
    );
    assert_eq!(
        first
            .query_one("SELECT 1", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        1,
        "admitted sessions keep working"
    );

    // A slot frees when a client leaves.
    drop(second);
    let deadline = Instant::now() + Duration::from_secs(10);
    let third = loop {
        match connect(port).await {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                assert_eq!(
                    e.code(),
                    Some(&tokio_postgres::error::SqlState::TOO_MANY_CONNECTIONS)
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("no slot freed: {e:?}"),
        }
    };
    assert_eq!(
        third
            .query_one("SELECT 1", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        1
    );
    drop(p);
}

#[tokio::test]
async fn a_query_past_the_node_memory_limit_fails_with_53200_and_frees_what_it_held() {
    let node = Node::new("query-memory", "2", &["--memory-limit", "150M"]);
    let port = node.port;
    let p = node.start("a.log");
    let client = connect(port).await.unwrap();
    client
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, s text);
             INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g",
        )
        .await
        .unwrap();
    // Sorting 400 million joined rows cannot fit: the statement stops.
    for _ in 0..3 {
        let err = client
            .query("SELECT a.s, b.s FROM t a, t b ORDER BY 1, 2 LIMIT 1", &[])
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Some(&tokio_postgres::error::SqlState::OUT_OF_MEMORY),
            "{err:?}"
        );
        let db = err.as_db_error().unwrap();
        assert!(
            db.detail().unwrap().contains("memory limit of 150 MiB"),
            "{db:?}"
        );
    }
    // What it held was freed: work that fits still runs, the node is whole.
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM t a JOIN t b ON a.id % 50 = b.id % 50",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 20000 * 400);
    client
        .execute("INSERT INTO t VALUES (0, 'zero')", &[])
        .await
        .unwrap();
    let n: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 20001);
    drop(client);
    drop(p);
}

#[tokio::test]
async fn a_shard_out_of_memory_refuses_writes_with_53200_and_recovers_after_deletes() {
    let node = Node::new("memory", "1", &["--shard-memory-limit", "256K"]);
    let port = node.port;
    let p = node.start("a.log");
    let client = connect(port).await.unwrap();
    client
        .batch_execute("CREATE TABLE blobs (id int PRIMARY KEY, body text)")
        .await
        .unwrap();
    let body = "x".repeat(4000);
    let mut stored = 0;
    let refused = loop {
        match client
            .execute(
                "INSERT INTO blobs VALUES ($1, $2)",
                &[&(stored as i32), &body],
            )
            .await
        {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
        assert!(stored < 1000, "the limit never hit");
    };
    assert_eq!(
        refused.code(),
        Some(&tokio_postgres::error::SqlState::OUT_OF_MEMORY),
        "{refused:?}"
    );
    assert!(stored > 10, "some rows fit under 256K: {stored}");
    // Reads go on; the refused statement left nothing, also as part of a multi-row insert.
    let n: i64 = client
        .query_one("SELECT count(*) FROM blobs", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, stored);
    let many = client
        .execute(
            "INSERT INTO blobs VALUES (5000, $1), (5001, $1), (5002, $1)",
            &[&body],
        )
        .await;
    assert_eq!(
        many.unwrap_err().code(),
        Some(&tokio_postgres::error::SqlState::OUT_OF_MEMORY)
    );
    let n: i64 = client
        .query_one("SELECT count(*) FROM blobs", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, stored);
    // Deleting frees memory; writes succeed again.
    let deleted = client
        .execute("DELETE FROM blobs WHERE id < 10", &[])
        .await
        .unwrap();
    assert_eq!(deleted, 10);
    client
        .execute("INSERT INTO blobs VALUES (5000, $1)", &[&body])
        .await
        .unwrap();
    // And everything is intact after a restart.
    drop(client);
    drop(p);
    let p = node.start("b.log");
    let client = connect(port).await.unwrap();
    let n: i64 = client
        .query_one("SELECT count(*) FROM blobs", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, stored - 10 + 1);
    drop(p);
}

#[tokio::test]
async fn a_damaged_record_in_the_middle_of_a_wal_stops_the_node_instead_of_losing_writes() {
    let node = Node::new("corrupt", "2", &[]);
    let port = node.port;
    let mut p = node.start("a.log");
    let client = connect(port).await.unwrap();
    client
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        .await
        .unwrap();
    for i in 0..200 {
        client
            .execute("INSERT INTO t VALUES ($1, 'acknowledged')", &[&i])
            .await
            .unwrap();
    }
    drop(client);
    // A clean stop records how far each log is durable.
    let _ = Command::new("kill")
        .args(["-TERM", &p.child.id().to_string()])
        .status();
    let (status, _) = exit_of(&mut p);
    assert!(status.success());

    // Flip one byte in the first record of shard 0's log.
    let wal = node
        .data
        .join("shard-0")
        .join("wal")
        .join("00000000000000000000.seg");
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes[12] ^= 0xFF;
    std::fs::write(&wal, &bytes).unwrap();
    let mut p = node.spawn("b.log");
    let (status, log) = exit_of(&mut p);
    assert!(
        !status.success(),
        "the node must not start on a damaged log"
    );
    assert!(
        log.contains("refusing to start") && log.contains("shard-0"),
        "{log}"
    );

    // Undo the damage: everything is there.
    bytes[12] ^= 0xFF;
    std::fs::write(&wal, &bytes).unwrap();
    let p = node.start("c.log");
    let client = connect(port).await.unwrap();
    let n: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 200);
    drop(p);
}
