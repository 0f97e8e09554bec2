//! Clients on the same machine over the Unix-domain socket, as psql and
//! libpq connect by default (`-h DIR`, `DIR/.s.PGSQL.PORT`), and how a
//! node spreads connections over its shards.

use std::collections::BTreeMap;
use std::path::Path;

use tessera_testkit::{find_program, rows_text, TestServer, USER};
use tokio_postgres::{Client, NoTls};

async fn connect_local(server: &TestServer) -> Result<Client, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config
        .host_path(server.socket_dir())
        .port(server.port())
        .user(USER)
        .dbname(server.dbname())
        .application_name("tessera-testkit");
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

fn socket_file(server: &TestServer) -> std::path::PathBuf {
    server
        .socket_dir()
        .join(format!(".s.PGSQL.{}", server.port()))
}

/// Which shard serves the session: the shard is the top bits of the
/// backend's process id.
async fn shard_of(client: &Client) -> u32 {
    let row = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap();
    (row.get::<_, i32>(0) as u32) >> 22
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_and_drivers_connect_over_the_unix_socket() {
    let server = TestServer::start_with_shards(2);
    let socket = socket_file(&server);
    assert!(socket.exists(), "{} is missing", socket.display());
    let c = connect_local(&server).await.unwrap();
    c.batch_execute("CREATE TABLE t (k int PRIMARY KEY, v text)")
        .await
        .unwrap();
    c.batch_execute("INSERT INTO t VALUES (1, 'local'), (2, 'too')")
        .await
        .unwrap();
    // pg_stat_activity shows no client address for a local session, as
    // PostgreSQL does; a TCP session shows its address.
    let tcp = server.connect().await;
    let addresses = rows_text(
        &c,
        "SELECT coalesce(client_addr::text, 'local') FROM pg_stat_activity \
         WHERE application_name = 'tessera-testkit' ORDER BY 1",
    )
    .await;
    assert_eq!(addresses, ["127.0.0.1", "local"]);
    assert_eq!(rows_text(&tcp, "SELECT count(*) FROM t").await, ["2"]);

    let Some(psql) = find_program("psql") else {
        panic!("psql is needed (scripts/test.sh installs it)");
    };
    let out = std::process::Command::new(psql)
        .args(["-X", "-A", "-t", "-h"])
        .arg(server.socket_dir())
        .args(["-p", &server.port().to_string(), "-U", USER, "-d"])
        .arg(server.dbname())
        .args(["-c", "SELECT v FROM t ORDER BY k"])
        .env_remove("PGHOST")
        .env_remove("PGPORT")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "local\ntoo\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_rules_decide_who_may_use_the_socket() {
    let root = std::env::temp_dir().join(format!("tessera-local-hba-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let hba = root.join("hba.conf");
    std::fs::write(
        &hba,
        "local all all reject\nhost all all 127.0.0.1/32 trust\n",
    )
    .unwrap();
    let server = TestServer::start_with_args(1, &["--pg-hba", hba.to_str().unwrap()]);
    let error = connect_local(&server).await.expect_err("refused");
    let db = error.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "28000");
    assert!(
        db.message()
            .contains("pg_hba.conf rejects connection for host \"[local]\""),
        "{}",
        db.message()
    );
    // TCP has its own rule.
    server.connect().await;
    // Without a local rule, no local connection.
    std::fs::write(&hba, "host all all 127.0.0.1/32 trust\n").unwrap();
    let server = TestServer::start_with_args(1, &["--pg-hba", hba.to_str().unwrap()]);
    let error = connect_local(&server).await.expect_err("refused");
    let message = error.as_db_error().expect("a server error").message();
    assert!(
        message.contains("no pg_hba.conf entry for host \"[local]\""),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_spread_evenly_over_the_shards() {
    let server = TestServer::start_with_shards(2);
    let mut clients = Vec::new();
    for i in 0..8 {
        // TCP and the socket alike.
        let client = match i % 2 {
            0 => server.connect().await,
            _ => connect_local(&server).await.unwrap(),
        };
        let shard = shard_of(&client).await;
        clients.push((shard, client));
    }
    let count = |clients: &[(u32, Client)]| {
        let mut by_shard = BTreeMap::new();
        for (shard, _) in clients {
            *by_shard.entry(*shard).or_insert(0) += 1;
        }
        by_shard
    };
    assert_eq!(count(&clients), BTreeMap::from([(0, 4), (1, 4)]));
    // Shard 1's sessions end: the next ones all go there.
    clients.retain(|(shard, _)| *shard == 0);
    // A session's end reaches the server a moment after the client drops it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let observer = &clients[0].1;
    while rows_text(observer, "SELECT count(*) FROM pg_stat_activity")
        .await
        .first()
        .map(String::as_str)
        != Some("4")
    {
        assert!(std::time::Instant::now() < deadline, "sessions did not end");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for _ in 0..4 {
        let client = connect_local(&server).await.unwrap();
        assert_eq!(shard_of(&client).await, 1);
        clients.push((1, client));
    }
    assert_eq!(count(&clients), BTreeMap::from([(0, 4), (1, 4)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_left_by_a_killed_server_is_taken_over_and_a_stopped_server_removes_its_own() {
    let mut server = TestServer::start_with_shards(1);
    let socket = socket_file(&server);
    server.kill9();
    assert!(socket.exists(), "a killed server cannot remove its socket");
    server.restart();
    let c = connect_local(&server).await.unwrap();
    assert_eq!(rows_text(&c, "SELECT 1").await, ["1"]);
    drop(c);
    assert!(server.terminate().success());
    assert!(!Path::new(&socket).exists(), "{} is left", socket.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_socket_directory_means_tcp_only() {
    let server = TestServer::start_with_args(1, &["--pg-socket-dir", ""]);
    assert_eq!(server.socket_dir(), Path::new(""));
    let c = server.connect().await;
    assert_eq!(rows_text(&c, "SELECT 1").await, ["1"]);
    assert!(
        !server.log().contains("Unix socket"),
        "{}",
        server.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_rules_let_in_the_role_named_after_the_os_user() {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let os_user = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(!os_user.is_empty());
    let root = std::env::temp_dir().join(format!("tessera-peer-hba-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let hba = root.join("hba.conf");
    std::fs::write(
        &hba,
        "local all all peer\nhost all all 127.0.0.1/32 trust\n",
    )
    .unwrap();
    let server = TestServer::start_with_args(1, &["--pg-hba", hba.to_str().unwrap()]);
    let admin = server.connect().await;
    let other = if os_user == "tessera_peer_other" {
        "tessera_peer_someone"
    } else {
        "tessera_peer_other"
    };
    for role in [os_user.as_str(), other] {
        // The OS user may be postgres, which exists already.
        let _ = admin
            .batch_execute(&format!("CREATE ROLE \"{role}\" LOGIN"))
            .await;
    }
    let as_role = |role: &str| {
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(server.socket_dir())
            .port(server.port())
            .user(role)
            .dbname(server.dbname());
        config
    };
    let (me, connection) = as_role(&os_user).connect(NoTls).await.unwrap();
    tokio::spawn(connection);
    assert_eq!(
        rows_text(&me, "SELECT current_user").await,
        [os_user.as_str()]
    );
    let Err(error) = as_role(other).connect(NoTls).await else {
        panic!("{other} logged in from the OS user {os_user}");
    };
    let db = error.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "28000");
    assert_eq!(
        db.message(),
        format!("Peer authentication failed for user \"{other}\"")
    );
    let _ = std::fs::remove_dir_all(&root);
}
