//! End-to-end test harness: runs the real `tessera` binary as a child process
//! and talks to it over TCP, the way a user's client would.
//!
//! [`TestServer::start`] picks a free loopback port and a fresh data directory
//! under the system temp dir, spawns `tessera run --data-dir D --pg-listen
//! 127.0.0.1:P --shards N` with stdout and stderr appended to a log file in
//! that directory, and returns once a PostgreSQL startup handshake on the
//! port reaches ReadyForQuery (not merely a TCP accept: a server may listen
//! before recovery is done). The process is killed and the directory removed
//! when the value is dropped (set `TESSERA_KEEP_DATA=1` to keep it). [`TestServer::kill9`],
//! [`TestServer::terminate`] and [`TestServer::restart`] drive crash and
//! recovery scenarios on the same data directory.
//!
//! The binary is `$TESSERA_BIN` if set, else `target/debug/tessera`, else
//! `target/release/tessera` (under `$CARGO_TARGET_DIR` if set). The harness
//! does not build it: run `cargo build --bins` first (`scripts/test.sh` does).
//!
//! For checking the tests themselves against the reference system, set
//! `TESSERA_TEST_EXTERNAL_PG=HOST:PORT` to a running PostgreSQL that trusts
//! user `postgres`: each server then becomes a fresh database there, and tests
//! that need process control or Tessera-only syntax skip themselves
//! ([`TestServer::is_external`]).
//!
//! Every wait has a generous timeout so that a hung server fails a test with
//! its log instead of hanging CI; no pass/fail decision depends on timing.

pub mod cluster;
pub mod drivers;
pub mod slt;
pub mod tpch;

use std::collections::BTreeSet;
use std::error::Error as StdError;
use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use tokio;
pub use tokio_postgres;

use tokio_postgres::error::SqlState;
use tokio_postgres::types::private::BytesMut;
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use tokio_postgres::{Client, Config, NoTls, SimpleQueryMessage};

/// Shard count used by [`TestServer::start`].
pub const DEFAULT_SHARDS: usize = 2;

/// How long a server may take from spawn until it completes a startup handshake.
/// At the limit the test fails and prints the server log.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a server may take to exit after SIGTERM. At the limit it is
/// killed with SIGKILL and the test fails.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// How many fresh ports to try when the chosen one turns out to be taken
/// (another process grabbed it between our probe and the server's bind).
const PORT_ATTEMPTS_MAX: usize = 5;

/// How much of the log to print when a test fails.
const LOG_TAIL_BYTES_MAX: usize = 16 * 1024;

/// The database user every connection uses: the administrator a new
/// Tessera node creates (trusted from loopback by the built-in rules), and
/// the superuser of a reference PostgreSQL in external mode.
pub const USER: &str = "postgres";

static NEXT_SERVER_ID: AtomicU64 = AtomicU64::new(0);

/// A running `tessera` server owned by one test.
pub struct TestServer {
    host: String,
    port: u16,
    dbname: String,
    shards: usize,
    /// Spawned-process state; `None` in external mode.
    process: Option<Process>,
}

struct Process {
    bin: PathBuf,
    /// Temp directory holding `data/` and `server.log`; removed on drop.
    root_dir: PathBuf,
    data_dir: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
    start_count: u32,
    /// More `tessera run` arguments, the same at every start.
    extra_args: Vec<String>,
}

impl TestServer {
    /// Starts a server with [`DEFAULT_SHARDS`] shards.
    pub fn start() -> TestServer {
        TestServer::start_with_shards(DEFAULT_SHARDS)
    }

    /// Starts a server with `shards` shards on a free port and a new data dir.
    pub fn start_with_shards(shards: usize) -> TestServer {
        TestServer::start_with_args(shards, &[])
    }

    /// Like [`start_with_shards`](Self::start_with_shards), passing `args`
    /// to `tessera run` as well (at every restart too). Externally they are
    /// ignored.
    pub fn start_with_args(shards: usize, args: &[&str]) -> TestServer {
        if let Some(addr) = external_addr() {
            return TestServer::start_external(&addr, shards);
        }
        let mut server = TestServer::start_with_args_lazily(shards, args);
        server.spawn_and_wait();
        server
    }

    /// A server set up as [`Self::start_with_args`] does, not yet started.
    fn start_with_args_lazily(shards: usize, args: &[&str]) -> TestServer {
        let bin = find_binary();
        let id = NEXT_SERVER_ID.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let root_dir = std::env::temp_dir().join(format!(
            "tessera-test-{}-{id}-{nanos:09}",
            std::process::id()
        ));
        let data_dir = root_dir.join("data");
        fs::create_dir_all(&data_dir)
            .unwrap_or_else(|e| panic!("create {}: {e}", data_dir.display()));
        let log_path = root_dir.join("server.log");
        TestServer {
            host: "127.0.0.1".to_string(),
            port: 0,
            dbname: "tessera".to_string(),
            shards,
            process: Some(Process {
                bin,
                root_dir,
                data_dir,
                log_path,
                child: None,
                start_count: 0,
                extra_args: args.iter().map(|a| a.to_string()).collect(),
            }),
        }
    }

    fn start_external(addr: &str, shards: usize) -> TestServer {
        let (host, port) = addr
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
            .unwrap_or_else(|| panic!("TESSERA_TEST_EXTERNAL_PG={addr:?} is not HOST:PORT"));
        let id = NEXT_SERVER_ID.fetch_add(1, Ordering::Relaxed);
        let dbname = format!("tessera_test_{}_{id}", std::process::id());
        let mut config = Config::new();
        config
            .host(&host)
            .port(port)
            .user(USER)
            .dbname("postgres")
            .connect_timeout(START_TIMEOUT);
        let create = format!("CREATE DATABASE {dbname}");
        // The caller is usually inside a tokio runtime, where blocking on
        // another one is not allowed; a plain thread sidesteps that.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build runtime");
            runtime.block_on(async move {
                let (client, connection) = config.connect(NoTls).await.expect("connect");
                tokio::spawn(connection);
                client
                    .batch_execute(&create)
                    .await
                    .expect("create database");
            });
        })
        .join()
        .expect("creating the external test database failed");
        TestServer {
            host,
            port,
            dbname,
            shards,
            process: None,
        }
    }

    /// True when running against an external reference server instead of a
    /// spawned `tessera` (see the module docs).
    pub fn is_external(&self) -> bool {
        self.process.is_none()
    }

    /// The port the server listens on (may change across [`restart`](Self::restart)
    /// only if the old one was taken meanwhile).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The database name connections use.
    pub fn dbname(&self) -> &str {
        &self.dbname
    }

    pub fn shards(&self) -> usize {
        self.shards
    }

    /// The server's data directory (the `--data-dir` argument).
    pub fn data_dir(&self) -> &Path {
        &self.process().data_dir
    }

    /// The directory of the server's Unix socket (`--pg-socket-dir`): its
    /// own temp directory, unless the test's arguments name another.
    pub fn socket_dir(&self) -> PathBuf {
        let process = self.process();
        match process
            .extra_args
            .iter()
            .position(|a| a == "--pg-socket-dir")
        {
            Some(i) => PathBuf::from(&process.extra_args[i + 1]),
            None => process.root_dir.clone(),
        }
    }

    /// Connection settings for this server, for tests that need the
    /// [`tokio_postgres::Connection`] itself (e.g. to read ParameterStatus).
    pub fn config(&self) -> Config {
        let mut config = Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .user(USER)
            .dbname(&self.dbname)
            .application_name("tessera-testkit")
            .ssl_mode(tokio_postgres::config::SslMode::Disable)
            .connect_timeout(START_TIMEOUT);
        config
    }

    /// Opens a connection and spawns its I/O task on the current runtime.
    /// Panics with the server log if the connection fails.
    pub async fn connect(&self) -> Client {
        match self.try_connect().await {
            Ok(client) => client,
            Err(e) => panic!(
                "connect to {}:{}: {e:?}\n{}",
                self.host,
                self.port,
                self.log_tail()
            ),
        }
    }

    /// Like [`connect`](Self::connect) but returns the error.
    pub async fn try_connect(&self) -> Result<Client, tokio_postgres::Error> {
        let (client, _task) = self.try_connect_with_task().await?;
        Ok(client)
    }

    /// Like [`connect`](Self::connect), also returning the connection's I/O
    /// task. After dropping the client, awaiting the task guarantees the
    /// connection is closed (Terminate sent, socket shut) — needed before a
    /// blocking call such as [`terminate`](Self::terminate), which would
    /// otherwise keep the task from running and the session open.
    pub async fn connect_with_task(&self) -> (Client, tokio::task::JoinHandle<()>) {
        match self.try_connect_with_task().await {
            Ok(pair) => pair,
            Err(e) => panic!(
                "connect to {}:{}: {e:?}\n{}",
                self.host,
                self.port,
                self.log_tail()
            ),
        }
    }

    async fn try_connect_with_task(
        &self,
    ) -> Result<(Client, tokio::task::JoinHandle<()>), tokio_postgres::Error> {
        // A server still recovering may accept TCP and answer 57P03 "cannot
        // connect now" (PostgreSQL does); wait that out like pg_isready.
        let deadline = Instant::now() + START_TIMEOUT;
        let (client, connection) = loop {
            match self.config().connect(NoTls).await {
                Err(e)
                    if e.code() == Some(&SqlState::CANNOT_CONNECT_NOW)
                        && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                result => break result?,
            }
        };
        let task = tokio::spawn(async move {
            // The server going away (kill -9) ends the task with an error the
            // test observes through the client; nothing to do here.
            let _ = connection.await;
        });
        Ok((client, task))
    }

    /// Whether the server process is still running (always true externally).
    pub fn is_running(&mut self) -> bool {
        let Some(process) = self.process.as_mut() else {
            return true;
        };
        match process.child.as_mut() {
            None => false,
            Some(child) => matches!(child.try_wait(), Ok(None)),
        }
    }

    /// The process id of the running server.
    pub fn pid(&self) -> u32 {
        self.process()
            .child
            .as_ref()
            .expect("server is not running")
            .id()
    }

    /// Kills the server with SIGKILL (no chance to flush or clean up) and
    /// waits for it to exit.
    pub fn kill9(&mut self) {
        let process = self.process_mut();
        let mut child = process.child.take().expect("server is not running");
        // `Child::kill` sends SIGKILL on unix. It fails only if the process
        // was already reaped, which `take` above rules out.
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Sends SIGTERM and waits up to [`STOP_TIMEOUT`] for a clean exit;
    /// returns the exit status. Panics (after SIGKILL) if it does not exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self
            .process_mut()
            .child
            .take()
            .expect("server is not running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("run `kill -TERM`: {e}"));
        assert!(status.success(), "`kill -TERM {}` failed", child.id());
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "server did not exit within {STOP_TIMEOUT:?} of SIGTERM\n{}",
                        self.log_tail()
                    );
                }
            }
        }
    }

    /// Starts the server again on the same data directory (and the same port
    /// unless it was taken meanwhile). Stops it with SIGTERM first if running.
    pub fn restart(&mut self) {
        self.stop_if_running();
        self.spawn_and_wait();
    }

    /// Stops the server (SIGTERM) if it runs; panics unless it exits cleanly.
    fn stop_if_running(&mut self) {
        if self.process().child.is_some() {
            let status = self.terminate();
            assert!(
                status.success(),
                "server exited with {status} on SIGTERM\n{}",
                self.log_tail()
            );
        }
    }

    /// Everything the server wrote to stdout and stderr, across restarts.
    pub fn log(&self) -> String {
        match &self.process {
            None => String::new(),
            Some(process) => fs::read(&process.log_path)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default(),
        }
    }

    /// The last part of [`log`](Self::log), framed for a failure message.
    pub fn log_tail(&self) -> String {
        let log = self.log();
        let start = log.len().saturating_sub(LOG_TAIL_BYTES_MAX);
        let start = (start..=log.len())
            .find(|&i| log.is_char_boundary(i))
            .unwrap_or(log.len());
        format!(
            "----- tessera server log (last {} bytes) -----\n{}\n----- end of server log -----",
            log.len() - start,
            &log[start..]
        )
    }

    fn process(&self) -> &Process {
        self.process
            .as_ref()
            .expect("not available against an external server")
    }

    fn process_mut(&mut self) -> &mut Process {
        self.process
            .as_mut()
            .expect("not available against an external server")
    }

    /// Spawns the binary and waits until it completes a startup handshake,
    /// retrying on a fresh port if the chosen one was taken.
    fn spawn_and_wait(&mut self) {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.spawn();
            match self.wait_until_accepting() {
                Ok(()) => return,
                Err(exited) => {
                    let log = self.log();
                    let last_start = log.rsplit("===== testkit: start").next().unwrap_or("");
                    let port_taken = last_start.contains("in use");
                    if exited && port_taken && attempt < PORT_ATTEMPTS_MAX {
                        self.port = 0;
                        continue;
                    }
                    self.not_started(exited);
                }
            }
        }
    }

    fn not_started(&self, exited: bool) -> ! {
        panic!(
            "tessera did not start serving 127.0.0.1:{} within {START_TIMEOUT:?}{}\n{}",
            self.port,
            if exited { " (it exited)" } else { "" },
            self.log_tail()
        );
    }

    /// Starts the process without waiting for it to serve (a node of a
    /// cluster serves once the cluster has formed); see [`Self::wait_started`].
    pub fn start_deferred(shards: usize, args: &[&str]) -> TestServer {
        assert!(
            external_addr().is_none(),
            "clusters need processes of their own"
        );
        let mut server = TestServer::start_with_args_lazily(shards, args);
        server.spawn();
        server
    }

    /// [`Self::restart`] without waiting for the server to serve.
    pub fn restart_deferred(&mut self) {
        self.stop_if_running();
        self.spawn();
    }

    /// Waits until a server started deferred serves.
    pub fn wait_started(&mut self) {
        if let Err(exited) = self.wait_until_accepting() {
            self.not_started(exited);
        }
    }

    fn spawn(&mut self) {
        if self.port == 0 {
            self.port = free_port();
        }
        let port = self.port;
        let shards = self.shards;
        let process = self.process_mut();
        assert!(process.child.is_none(), "server is already running");
        process.start_count += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&process.log_path)
            .unwrap_or_else(|e| panic!("open {}: {e}", process.log_path.display()));
        let _ = writeln!(
            log,
            "===== testkit: start #{} of {} on port {port} =====",
            process.start_count,
            process.bin.display()
        );
        let stderr = log.try_clone().expect("clone log file handle");
        // The socket goes with the server's temp directory, not into /tmp.
        let socket_dir = match process.extra_args.iter().any(|a| a == "--pg-socket-dir") {
            true => vec![],
            false => vec!["--pg-socket-dir".into(), process.root_dir.clone()],
        };
        let child = Command::new(&process.bin)
            .arg("run")
            .arg("--data-dir")
            .arg(&process.data_dir)
            .arg("--pg-listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--shards")
            .arg(shards.to_string())
            .args(&socket_dir)
            .args(&process.extra_args)
            .env_remove("TESSERA_DATA_DIR")
            .env_remove("TESSERA_PG_LISTEN")
            .env_remove("TESSERA_SHARDS")
            .env_remove("TESSERA_PG_SOCKET_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", process.bin.display()));
        process.child = Some(child);
    }

    fn wait_until_accepting(&mut self) -> Result<(), bool> {
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = ("127.0.0.1", self.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .expect("loopback address");
        loop {
            let process = self.process_mut();
            let child = process.child.as_mut().expect("child");
            if let Ok(Some(_)) = child.try_wait() {
                process.child = None;
                return Err(true);
            }
            if let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                let probe = probe_startup(stream, &self.dbname);
                // Another process could own the port; only count the
                // answer if our child is still alive afterwards.
                let process = self.process_mut();
                let child = process.child.as_mut().expect("child");
                if let Ok(None) = child.try_wait() {
                    match probe {
                        Probe::Ready => return Ok(()),
                        Probe::NotYet => {}
                        Probe::Refused(why) => {
                            panic!(
                                "tessera refused a plain startup: {why}\n{}",
                                self.log_tail()
                            )
                        }
                    }
                }
            }
            let process = self.process_mut();
            if Instant::now() >= deadline {
                if let Some(mut child) = process.child.take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                return Err(false);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let Some(process) = self.process.as_mut() else {
            return;
        };
        if let Some(mut child) = process.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "tessera data dir: {}\n{}",
                self.data_dir().display(),
                self.log_tail()
            );
        }
        let process = self.process();
        if std::env::var_os("TESSERA_KEEP_DATA").is_some() {
            eprintln!(
                "TESSERA_KEEP_DATA is set: keeping {}",
                process.root_dir.display()
            );
        } else {
            let _ = fs::remove_dir_all(&process.root_dir);
        }
    }
}

/// What a startup handshake on a fresh connection found.
enum Probe {
    /// AuthenticationOk ... ReadyForQuery: the server serves clients.
    Ready,
    /// Closed, timed out, or 57P03 (starting up): try again.
    NotYet,
    /// The server answered, but not with a usable session.
    Refused(String),
}

/// How long one readiness probe waits for the server's answer.
const PROBE_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// `program` (psql, pgbench, pg_dump …) set to reach `server` as the test
/// user, database `dbname`, without the libpq environment that could send
/// it elsewhere. The caller adds its own arguments (psql's `-X`, so that
/// no `.psqlrc` is read, among them).
pub fn client_command(program: &Path, server: &TestServer, dbname: &str) -> Command {
    let mut command = Command::new(program);
    command
        .args(["-h", server.host(), "-p"])
        .arg(server.port().to_string())
        .args(["-U", USER, "-d", dbname])
        .env_remove("PGHOST")
        .env_remove("PGPORT")
        .env_remove("PGUSER")
        .env_remove("PGDATABASE")
        .env_remove("PGOPTIONS")
        .env_remove("PGSSLMODE")
        .env_remove("PGSERVICE")
        .env("PGCONNECT_TIMEOUT", "30");
    command
}

/// A connection to `server` with table `acct (id int PRIMARY KEY, v int NOT
/// NULL)` holding rows 1..=20 with v = 100: what transaction tests move
/// values between.
pub async fn connect_with_accounts(server: &TestServer) -> Client {
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE acct (id int PRIMARY KEY, v int NOT NULL)")
        .await
        .unwrap();
    let rows: Vec<String> = (1..=20).map(|i| format!("({i}, 100)")).collect();
    client
        .batch_execute(&format!("INSERT INTO acct VALUES {}", rows.join(", ")))
        .await
        .unwrap();
    client
}

/// A raw PostgreSQL connection for tests that look at the messages
/// themselves (ParameterStatus, RowDescription fields): it sends the
/// startup packet and simple queries, and reads whole messages.
pub struct RawClient(TcpStream);

impl RawClient {
    /// Connects and reads up to the first ReadyForQuery.
    pub fn connect(server: &TestServer) -> RawClient {
        let mut stream = TcpStream::connect((server.host(), server.port())).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream.write_all(&startup_packet(server.dbname())).unwrap();
        let mut raw = RawClient(stream);
        raw.until_ready();
        raw
    }

    /// The next message: its type byte and body.
    pub fn message(&mut self) -> (u8, Vec<u8>) {
        use std::io::Read as _;
        let mut header = [0u8; 5];
        self.0.read_exact(&mut header).expect("message header");
        let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let mut body = vec![0u8; length - 4];
        self.0.read_exact(&mut body).expect("message body");
        (header[0], body)
    }

    /// The messages before the next ReadyForQuery.
    pub fn until_ready(&mut self) -> Vec<(u8, Vec<u8>)> {
        let mut messages = Vec::new();
        loop {
            let m = self.message();
            if m.0 == b'Z' {
                return messages;
            }
            messages.push(m);
        }
    }

    /// Runs `sql` as a simple Query; the messages it brings, up to
    /// ReadyForQuery.
    pub fn query(&mut self, sql: &str) -> Vec<(u8, Vec<u8>)> {
        let mut body = sql.as_bytes().to_vec();
        body.push(0);
        let mut message = vec![b'Q'];
        message.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        message.extend_from_slice(&body);
        self.0.write_all(&message).unwrap();
        self.until_ready()
    }
}

/// Sends a protocol 3.0 startup packet (no TLS, no password) and reads the
/// answer up to ReadyForQuery, then sends Terminate. This is what "ready"
/// means for the tests: a port that accepts TCP is not enough, since a
/// server may listen before recovery is done.
/// A PostgreSQL 3.0 StartupMessage for `USER` and `dbname`.
pub fn startup_packet(dbname: &str) -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for (key, value) in [("user", USER), ("database", dbname)] {
        body.extend_from_slice(key.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut packet = u32::try_from(body.len() + 4)
        .expect("small packet")
        .to_be_bytes()
        .to_vec();
    packet.extend_from_slice(&body);
    packet
}

fn probe_startup(mut stream: TcpStream, dbname: &str) -> Probe {
    use std::io::Read;
    let _ = stream.set_read_timeout(Some(PROBE_READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(PROBE_READ_TIMEOUT));
    let packet = startup_packet(dbname);
    if stream.write_all(&packet).is_err() {
        return Probe::NotYet;
    }
    loop {
        let mut header = [0u8; 5];
        if stream.read_exact(&mut header).is_err() {
            return Probe::NotYet;
        }
        let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if !(4..=1 << 20).contains(&length) {
            return Probe::Refused(format!(
                "message {:?} with length {length} during startup",
                header[0] as char
            ));
        }
        let mut payload = vec![0u8; length - 4];
        if stream.read_exact(&mut payload).is_err() {
            return Probe::NotYet;
        }
        match header[0] {
            b'Z' => {
                let _ = stream.write_all(&[b'X', 0, 0, 0, 4]);
                return Probe::Ready;
            }
            // A server whose rules want a password for the probe's user,
            // or refuse it, is up: the tests that set such rules log in
            // themselves.
            b'R' if payload.get(..4) != Some(&[0, 0, 0, 0]) => return Probe::Ready,
            b'E' => {
                let text = String::from_utf8_lossy(&payload).into_owned();
                if text.contains("C57P03\0") {
                    return Probe::NotYet;
                }
                if text.contains("C28000\0") || text.contains("C28P01\0") {
                    return Probe::Ready;
                }
                return Probe::Refused(format!("ErrorResponse {text:?}"));
            }
            _ => {}
        }
    }
}

fn external_addr() -> Option<String> {
    std::env::var("TESSERA_TEST_EXTERNAL_PG")
        .ok()
        .filter(|s| !s.is_empty())
}

/// The workspace root, from this crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// The `tessera` binary the tests run (see the module docs).
pub fn find_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("TESSERA_BIN").filter(|s| !s.is_empty()) {
        return PathBuf::from(bin);
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let candidates = [
        target_dir.join("debug/tessera"),
        target_dir.join("release/tessera"),
    ];
    for candidate in &candidates {
        if candidate.is_file() {
            return candidate.clone();
        }
    }
    panic!(
        "no tessera binary: looked at $TESSERA_BIN, {} and {}; run `cargo build --bins` first",
        candidates[0].display(),
        candidates[1].display()
    );
}

/// A port that was free a moment ago: bind port 0 on loopback, read, close.
///
/// Never hands out the same port twice in one test process, and skips ports
/// something already listens on. Both matter because tessera binds with
/// `SO_REUSEPORT` (one listener per shard): two servers of the same user
/// given the same port would both start and silently share connections.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    for _ in 0..1000 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        drop(listener);
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if handed_out.contains(&port)
            || TcpStream::connect_timeout(
                &(Ipv4Addr::LOCALHOST, port).into(),
                Duration::from_secs(1),
            )
            .is_ok()
        {
            continue;
        }
        handed_out.insert(port);
        return port;
    }
    panic!("no free loopback port found");
}

/// Looks for an executable in `$PATH`, then in the Debian PostgreSQL 15
/// directory (where `pgbench` and the server tools live).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/lib/postgresql/15/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The SQLSTATE of a server error, if `e` is one.
pub fn sqlstate(e: &tokio_postgres::Error) -> Option<&SqlState> {
    e.code()
}

/// Asserts that `result` is a server error with SQLSTATE `expected`;
/// returns the error message.
#[track_caller]
pub fn assert_sqlstate<T: std::fmt::Debug>(
    result: Result<T, tokio_postgres::Error>,
    expected: &SqlState,
    what: &str,
) -> String {
    match result {
        Ok(value) => panic!(
            "{what}: expected error {}, got success: {value:?}",
            expected.code()
        ),
        Err(e) => match e.as_db_error() {
            Some(db) => {
                assert_eq!(
                    db.code().code(),
                    expected.code(),
                    "{what}: wrong SQLSTATE; message: {:?}",
                    db.message()
                );
                db.message().to_string()
            }
            None => panic!(
                "{what}: expected server error {}, got client error: {e:?}",
                expected.code()
            ),
        },
    }
}

/// Runs `sql` with the simple query protocol (text results) and returns each
/// row as its columns joined by `|`, NULL as `NULL`. Panics on error.
#[track_caller]
pub fn rows_text<'a>(
    client: &'a Client,
    sql: &'a str,
) -> impl std::future::Future<Output = Vec<String>> + 'a {
    let caller = std::panic::Location::caller();
    async move {
        match try_rows_text(client, sql).await {
            Ok(rows) => rows,
            Err(e) => panic!("{caller}: {sql}: {e:?}"),
        }
    }
}

/// Like [`rows_text`] but returns the error.
pub async fn try_rows_text(
    client: &Client,
    sql: &str,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let messages = client.simple_query(sql).await?;
    let mut rows = Vec::new();
    for message in messages {
        if let SimpleQueryMessage::Row(row) = message {
            let mut line = String::new();
            for i in 0..row.len() {
                if i > 0 {
                    line.push('|');
                }
                line.push_str(row.get(i).unwrap_or("NULL"));
            }
            rows.push(line);
        }
    }
    Ok(rows)
}

/// Runs `sql` (one statement) with the simple protocol and returns the row
/// count from its CommandComplete tag. Panics on error.
#[track_caller]
pub fn exec_count<'a>(
    client: &'a Client,
    sql: &'a str,
) -> impl std::future::Future<Output = u64> + 'a {
    let caller = std::panic::Location::caller();
    async move {
        let messages = match client.simple_query(sql).await {
            Ok(m) => m,
            Err(e) => panic!("{caller}: {sql}: {e:?}"),
        };
        messages
            .iter()
            .rev()
            .find_map(|m| match m {
                SimpleQueryMessage::CommandComplete(n) => Some(*n),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{caller}: {sql}: no CommandComplete"))
    }
}

/// A `numeric` value decoded from the binary format into PostgreSQL's text
/// form (`"12.30"`, `"-0.5"`, `"NaN"`), so tests compare exact digits and
/// scale without a decimal library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgNumeric(pub String);

impl<'a> FromSql<'a> for PgNumeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        decode_numeric(raw).map(PgNumeric).map_err(|e| e.into())
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

impl ToSql for PgNumeric {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.extend_from_slice(&encode_numeric(&self.0)?);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    to_sql_checked!();
}

/// Encodes a plain decimal string (`-12.30`, no exponent) as binary `numeric`;
/// the inverse of [`decode_numeric`].
pub fn encode_numeric(text: &str) -> Result<Vec<u8>, String> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (integer, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if integer.is_empty() && fraction.is_empty()
        || !integer
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(format!("numeric: cannot encode {text:?}"));
    }
    let dscale = u16::try_from(fraction.len()).map_err(|_| "numeric: scale too large")?;
    // Align to base-10000 groups: pad the integer part on the left and the
    // fraction on the right to multiples of four digits.
    let integer_padded = format!("{}{integer}", "0".repeat((4 - integer.len() % 4) % 4));
    let fraction_padded = format!("{fraction}{}", "0".repeat((4 - fraction.len() % 4) % 4));
    let all = format!("{integer_padded}{fraction_padded}");
    let mut groups: Vec<u16> = all
        .as_bytes()
        .chunks(4)
        .map(|c| c.iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0')))
        .collect();
    let mut weight = i32::try_from(integer_padded.len() / 4).map_err(|_| "too long")? - 1;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let ndigits = i16::try_from(groups.len()).map_err(|_| "numeric: too many digits")?;
    let weight = i16::try_from(weight).map_err(|_| "numeric: weight out of range")?;
    let sign: u16 = if negative && !groups.is_empty() {
        0x4000
    } else {
        0
    };
    let mut out = Vec::with_capacity(8 + 2 * groups.len());
    for word in [ndigits as u16, weight as u16, sign, dscale] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    for group in groups {
        out.extend_from_slice(&group.to_be_bytes());
    }
    Ok(out)
}

/// Decodes PostgreSQL's binary `numeric`: ndigits, weight, sign, dscale (each
/// 16 bits), then ndigits base-10000 digits, the first at 10000^weight.
pub fn decode_numeric(raw: &[u8]) -> Result<String, String> {
    let word = |i: usize| -> Result<u16, String> {
        raw.get(2 * i..2 * i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| format!("numeric: truncated at word {i} of {} bytes", raw.len()))
    };
    let ndigits = word(0)? as i16;
    let weight = i32::from(word(1)? as i16);
    let sign = word(2)?;
    let dscale = usize::from(word(3)?);
    if ndigits < 0 || raw.len() != 8 + 2 * ndigits as usize {
        return Err(format!("numeric: {ndigits} digits but {} bytes", raw.len()));
    }
    let digits = (0..ndigits as usize)
        .map(|i| word(4 + i))
        .collect::<Result<Vec<u16>, String>>()?;
    if let Some(d) = digits.iter().find(|&&d| d > 9999) {
        return Err(format!("numeric: digit {d} out of range"));
    }
    let negative = match sign {
        0x0000 => false,
        0x4000 => true,
        0xC000 => return Ok("NaN".to_string()),
        0xD000 => return Ok("Infinity".to_string()),
        0xF000 => return Ok("-Infinity".to_string()),
        other => return Err(format!("numeric: bad sign word {other:#06x}")),
    };
    let digit_at = |i: i32| -> u16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                let _ = write!(out, "{}", digit_at(i));
            } else {
                let _ = write!(out, "{:04}", digit_at(i));
            }
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut i = weight + 1;
        while fraction.len() < dscale {
            let _ = write!(fraction, "{:04}", digit_at(i));
            i += 1;
        }
        fraction.truncate(dscale);
        out.push('.');
        out.push_str(&fraction);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(ndigits: i16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut out = Vec::new();
        for w in [ndigits as u16, weight as u16, sign, dscale] {
            out.extend_from_slice(&w.to_be_bytes());
        }
        for d in digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    #[test]
    fn decodes_numeric_text_forms() {
        // 12.34 = 12 * 10000^0 + 3400 * 10000^-1
        assert_eq!(
            decode_numeric(&encode(2, 0, 0, 2, &[12, 3400])).unwrap(),
            "12.34"
        );
        // 7.00: trailing zero digits are not sent, dscale keeps them.
        assert_eq!(decode_numeric(&encode(1, 0, 0, 2, &[7])).unwrap(), "7.00");
        assert_eq!(
            decode_numeric(&encode(1, -1, 0x4000, 1, &[5000])).unwrap(),
            "-0.5"
        );
        // 123456789 = 1 * 10000^2 + 2345 * 10000 + 6789
        assert_eq!(
            decode_numeric(&encode(3, 2, 0, 0, &[1, 2345, 6789])).unwrap(),
            "123456789"
        );
        // 0.00001 = 1000 * 10000^-2, dscale 5
        assert_eq!(
            decode_numeric(&encode(1, -2, 0, 5, &[1000])).unwrap(),
            "0.00001"
        );
        // 10000 = 1 * 10000^1
        assert_eq!(decode_numeric(&encode(1, 1, 0, 0, &[1])).unwrap(), "10000");
        assert_eq!(decode_numeric(&encode(0, 0, 0, 0, &[])).unwrap(), "0");
        assert_eq!(decode_numeric(&encode(0, 0, 0, 3, &[])).unwrap(), "0.000");
        assert_eq!(
            decode_numeric(&encode(0, 0, 0xC000, 0, &[])).unwrap(),
            "NaN"
        );
    }

    #[test]
    fn encodes_numeric_as_postgres_does() {
        assert_eq!(
            encode_numeric("12.34").unwrap(),
            encode(2, 0, 0, 2, &[12, 3400])
        );
        assert_eq!(encode_numeric("7.00").unwrap(), encode(1, 0, 0, 2, &[7]));
        assert_eq!(
            encode_numeric("-0.5").unwrap(),
            encode(1, -1, 0x4000, 1, &[5000])
        );
        assert_eq!(
            encode_numeric("123456789").unwrap(),
            encode(3, 2, 0, 0, &[1, 2345, 6789])
        );
        assert_eq!(
            encode_numeric("0.00001").unwrap(),
            encode(1, -2, 0, 5, &[1000])
        );
        assert_eq!(encode_numeric("10000").unwrap(), encode(1, 1, 0, 0, &[1]));
        assert_eq!(encode_numeric("-0.000").unwrap(), encode(0, 0, 0, 3, &[]));
        for text in ["1.5", "-99999999.99", "0.0001", "100000000", "3"] {
            let round_trip = decode_numeric(&encode_numeric(text).unwrap()).unwrap();
            assert_eq!(round_trip, text);
        }
        assert!(encode_numeric("1e5").is_err());
        assert!(encode_numeric("").is_err());
        assert!(encode_numeric(".").is_err());
    }

    #[test]
    fn rejects_malformed_numeric() {
        assert!(decode_numeric(&[0, 1]).is_err());
        assert!(decode_numeric(&encode(2, 0, 0, 0, &[1])).is_err());
        assert!(decode_numeric(&encode(1, 0, 0, 0, &[10000])).is_err());
        assert!(decode_numeric(&encode(1, 0, 0x1234, 0, &[1])).is_err());
    }
}
