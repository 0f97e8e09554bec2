//! The `tessera` binary: command-line interface and wiring.
//!
//! `tessera run` starts a node. Every setting comes, in order of precedence,
//! from a flag, an environment variable `TESSERA_<NAME>`, the TOML file
//! given with `--config`, or its default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use serde::Deserialize;
use std::time::Duration;

use std::collections::BTreeMap;

use tessera_cluster::secret::ClusterSecret;
use tessera_cluster::service::{ClusterConfig, Timing};
use tessera_cluster::state::ReplicationMode;
use tessera_pgwire::auth::{AuthFailures, AUTH_FAILURE_DELAY_MAX_DEFAULT};
use tessera_pgwire::hba::{HbaRules, Peer};
use tessera_pgwire::{refuse_connection, serve_connection, tls_config, AuthConfig, BackendKey};
use tessera_runtime::transport::IdLease;
use tessera_runtime::{
    run_node, Admission, ConnectionHandler, NodeConfig, CHECKPOINT_INTERVAL_DEFAULT,
    CHECKPOINT_WAL_SIZE_DEFAULT, CHECKPOINT_WAL_SIZE_MIN, MAX_CONNECTIONS_DEFAULT,
};
use tessera_sql::password::{self, PasswordEncryption};
use tessera_types::sequence::{Claimed, SequenceClaim, SequencePosition};
use tessera_types::RoleDef;

/// The PostgreSQL port a node listens on by default: not 5432 (PostgreSQL)
/// nor 6379 (Redis), so it runs beside both.
const PG_LISTEN_DEFAULT: &str = "127.0.0.1:5454";
/// PostgreSQL's own default `unix_socket_directories`.
const PG_SOCKET_DIR_DEFAULT: &str = "/tmp";
const DATA_DIR_DEFAULT: &str = "./tessera-data";
/// The superuser a new node creates: the name clients and tools assume.
const ADMIN_USER_DEFAULT: &str = "postgres";
/// The cluster secret's file in a data directory, unless given elsewhere.
const CLUSTER_SECRET_FILE: &str = "cluster.secret";

/// Counts the heap the node holds, which `--memory-limit` bounds.
#[global_allocator]
static ALLOCATOR: tessera_types::memory::CountingAlloc = tessera_types::memory::CountingAlloc;

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "Tessera: a distributed SQL database speaking PostgreSQL"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a node.
    Run(Box<RunArgs>),
    /// Print the cluster's nodes, Raft voters and leader, as a node sees them.
    Status(StatusArgs),
    /// Remove a node from its cluster for good.
    Expel(ExpelArgs),
    /// Fault injection, for tests of network partitions: the node acts as
    /// if it could not reach the given internal addresses.
    #[command(hide = true)]
    Fault(FaultArgs),
}

#[derive(clap::Args)]
struct FaultArgs {
    #[command(flatten)]
    cluster: StatusArgs,
    /// Internal addresses the node acts as if it could not reach, comma
    /// separated; empty heals.
    #[arg(long, value_delimiter = ',')]
    cut_off: Vec<String>,
}

#[derive(clap::Args)]
struct ExpelArgs {
    #[command(flatten)]
    cluster: StatusArgs,
    /// The node to expel: its id or its name (see tessera status).
    node: String,
    /// Expel it at once even if it owns buckets: their rows are lost (a
    /// node that is gone for good). Without it a node that owns buckets
    /// first gives them to the others (it must be running), and the
    /// command waits for that, printing how many are left.
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args)]
struct StatusArgs {
    /// The internal address (--listen/--advertise) of any node of the cluster.
    #[arg(long, env = "TESSERA_PEER")]
    peer: String,
    /// The cluster secret [default: DATA_DIR/cluster.secret].
    #[arg(long, env = "TESSERA_CLUSTER_SECRET_FILE")]
    cluster_secret_file: Option<PathBuf>,
    /// A node's data directory, for its cluster secret [default: ./tessera-data].
    #[arg(long, env = "TESSERA_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// A TOML file with any of: data_dir, pg_listen, pg_socket_dir, shards, max_connections,
    /// shard_memory_limit, memory_limit, checkpoint_wal_size, checkpoint_interval,
    /// log_level, pg_hba, pg_tls_cert, pg_tls_key, admin_user,
    /// admin_password_file, auth_failure_delay_max, authentication_timeout,
    /// listen, advertise, peer (a list), cluster_secret_file, name,
    /// failure_domain (a list), raft_voter_down_timeout, failover_timeout,
    /// rebalance, tier, replication_factor, replication_mode.
    #[arg(long, env = "TESSERA_CONFIG")]
    config: Option<PathBuf>,
    /// Where the node keeps its data [default: ./tessera-data].
    #[arg(long, env = "TESSERA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address for PostgreSQL clients [default: 127.0.0.1:5454].
    #[arg(long, env = "TESSERA_PG_LISTEN")]
    pg_listen: Option<SocketAddr>,
    /// Directory of the Unix-domain socket for clients on this machine
    /// (`DIR/.s.PGSQL.PORT`, PostgreSQL's unix_socket_directories; connect
    /// with `psql -h DIR -p PORT`); an empty value: TCP only [default: /tmp].
    #[arg(long, env = "TESSERA_PG_SOCKET_DIR")]
    pg_socket_dir: Option<String>,
    /// Shards (threads, one per core) [default: the cores this process may use].
    #[arg(long, env = "TESSERA_SHARDS")]
    shards: Option<u16>,
    /// Bytes of rows one shard may hold, e.g. 512M or 4G; writes past it fail
    /// with 53200 [default: 80% of memory, split over the shards].
    #[arg(long, env = "TESSERA_SHARD_MEMORY_LIMIT", value_parser = parse_size)]
    shard_memory_limit: Option<u64>,
    /// Bytes of memory the whole node may hold, e.g. 8G: a query or write
    /// that would take it past fails with 53200 [default: 75% of memory].
    #[arg(long, env = "TESSERA_MEMORY_LIMIT", value_parser = parse_size)]
    memory_limit: Option<u64>,
    /// Client connections served at once; more are refused with 53300 [default: 1000].
    #[arg(long, env = "TESSERA_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Bytes of WAL a shard writes before it takes a checkpoint, e.g. 64M or
    /// 1G; at least 64K [default: 64M].
    #[arg(long, env = "TESSERA_CHECKPOINT_WAL_SIZE", value_parser = parse_size)]
    checkpoint_wal_size: Option<u64>,
    /// Seconds after which a shard that wrote anything takes a checkpoint
    /// [default: 300].
    #[arg(long, env = "TESSERA_CHECKPOINT_INTERVAL")]
    checkpoint_interval: Option<u64>,
    /// error, warn, info, debug or trace [default: info].
    #[arg(long, env = "TESSERA_LOG_LEVEL")]
    log_level: Option<String>,
    /// A rule file saying which clients may connect and how they
    /// authenticate (lines `host|hostssl|hostnossl DATABASE USER ADDRESS/MASK
    /// trust|reject|scram-sha-256|md5|password`, first match wins)
    /// [default: loopback trusted, other addresses scram-sha-256].
    #[arg(long, env = "TESSERA_PG_HBA")]
    pg_hba: Option<PathBuf>,
    /// PEM certificate chain for TLS on the PostgreSQL port (with --pg-tls-key).
    #[arg(long, env = "TESSERA_PG_TLS_CERT")]
    pg_tls_cert: Option<PathBuf>,
    /// PEM private key for --pg-tls-cert.
    #[arg(long, env = "TESSERA_PG_TLS_KEY")]
    pg_tls_key: Option<PathBuf>,
    /// The superuser the first start creates [default: postgres]. Its
    /// password comes from TESSERA_ADMIN_PASSWORD or --admin-password-file;
    /// without either it has none and can log in only where rules trust it.
    #[arg(long, env = "TESSERA_ADMIN_USER")]
    admin_user: Option<String>,
    /// A file whose first line is the first start's administrator password.
    #[arg(long, env = "TESSERA_ADMIN_PASSWORD_FILE")]
    admin_password_file: Option<PathBuf>,
    /// Milliseconds: the longest a failed login from an address that keeps
    /// failing waits before its answer; 0 disables the delays [default: 10000].
    #[arg(long, env = "TESSERA_AUTH_FAILURE_DELAY_MAX")]
    auth_failure_delay_max: Option<u64>,
    /// Seconds a client may take from connecting until it is authenticated;
    /// then it is disconnected [default: 60].
    #[arg(long, env = "TESSERA_AUTHENTICATION_TIMEOUT")]
    authentication_timeout: Option<u64>,
    /// Address for cluster traffic between nodes. Without it the node runs
    /// alone, outside any cluster.
    #[arg(long, env = "TESSERA_LISTEN")]
    listen: Option<SocketAddr>,
    /// The address other nodes reach this one at [default: --listen].
    #[arg(long, env = "TESSERA_ADVERTISE")]
    advertise: Option<String>,
    /// Nodes to find the cluster through, HOST:PORT[,…] (their --advertise
    /// addresses). Nodes started together with the same list form one
    /// cluster; a node with a new data directory joins it.
    #[arg(long, env = "TESSERA_PEER", value_delimiter = ',')]
    peer: Vec<String>,
    /// The secret every node of the cluster shares (at least 16 bytes).
    /// A node that founds a cluster alone creates it when the file is
    /// missing [default: DATA_DIR/cluster.secret].
    #[arg(long, env = "TESSERA_CLUSTER_SECRET_FILE")]
    cluster_secret_file: Option<PathBuf>,
    /// This node's name in the cluster [default: its advertised address].
    #[arg(long, env = "TESSERA_NAME")]
    name: Option<String>,
    /// Where the node runs, KEY=VALUE[,…] (e.g. dc=east,rack=r1): replicas
    /// and Raft voters are spread across different values.
    #[arg(long, env = "TESSERA_FAILURE_DOMAIN", value_delimiter = ',')]
    failure_domain: Vec<String>,
    /// Seconds a Raft voter may be unreachable before the governor gives
    /// its vote to a live learner [default: 30].
    #[arg(long, env = "TESSERA_RAFT_VOTER_DOWN_TIMEOUT")]
    raft_voter_down_timeout: Option<u64>,
    /// Milliseconds a replica set's master may be unreachable before the
    /// governor promotes a replica in its place [default: 1000].
    #[arg(long, env = "TESSERA_FAILOVER_TIMEOUT")]
    failover_timeout: Option<u64>,
    /// Give buckets of this node's shards to shards that own fewer (a
    /// node that joined) until every shard owns an even share
    /// (docs/CLUSTER.md §8) [default: true]. `--rebalance=false` keeps
    /// them where they are.
    #[arg(
        long,
        env = "TESSERA_REBALANCE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    rebalance: Option<bool>,
    /// The tier this node is in (docs/CLUSTER.md §3): a named set of
    /// replica groups with their own replication factor and mode, whose
    /// buckets hold the tables created IN TIER it. The first node of a
    /// tier makes it [default: default].
    #[arg(long, env = "TESSERA_TIER")]
    tier: Option<String>,
    /// How many nodes keep a copy of each shard, for the node that makes
    /// its tier (docs/CLUSTER.md §3, §5, §6): the tier's nodes form
    /// replica groups of this many; each shard's master ships its log to
    /// the others, and a replica takes over when its master stops
    /// answering. A node joining a tier with another factor is refused
    /// [default: 1].
    #[arg(long, env = "TESSERA_REPLICATION_FACTOR", value_parser = clap::value_parser!(u16).range(1..=5))]
    replication_factor: Option<u16>,
    /// When a master acknowledges a commit, for the node that makes its
    /// tier: `async` once its own log holds it (a failover loses what
    /// the replicas had not copied yet), `sync` once a majority of its
    /// replica group holds it (a failover loses no acknowledged commit;
    /// commits wait while too few replicas answer) [default: async].
    #[arg(long, env = "TESSERA_REPLICATION_MODE", value_parser = ["async", "sync"])]
    replication_mode: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    data_dir: Option<PathBuf>,
    pg_listen: Option<SocketAddr>,
    pg_socket_dir: Option<PathBuf>,
    shards: Option<u16>,
    max_connections: Option<usize>,
    shard_memory_limit: Option<Size>,
    memory_limit: Option<Size>,
    checkpoint_wal_size: Option<Size>,
    checkpoint_interval: Option<u64>,
    log_level: Option<String>,
    pg_hba: Option<PathBuf>,
    pg_tls_cert: Option<PathBuf>,
    pg_tls_key: Option<PathBuf>,
    admin_user: Option<String>,
    admin_password_file: Option<PathBuf>,
    auth_failure_delay_max: Option<u64>,
    authentication_timeout: Option<u64>,
    listen: Option<SocketAddr>,
    advertise: Option<String>,
    peer: Option<Vec<String>>,
    cluster_secret_file: Option<PathBuf>,
    name: Option<String>,
    failure_domain: Option<Vec<String>>,
    raft_voter_down_timeout: Option<u64>,
    failover_timeout: Option<u64>,
    rebalance: Option<bool>,
    tier: Option<String>,
    replication_factor: Option<u16>,
    replication_mode: Option<String>,
}

/// A size in a config file: bytes, or text with a unit ("512M").
#[derive(Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(u64),
    Text(String),
}

/// Parses `1234`, `64K`, `512M`, `4G`, `1T` (binary units; `KB`, `MiB`… too).
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 512M or 4G"))?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(format!("{text:?} has an unknown unit; use K, M, G or T")),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

impl Size {
    fn bytes(self) -> Result<u64, String> {
        match self {
            Size::Bytes(bytes) => Ok(bytes),
            Size::Text(text) => parse_size(&text),
        }
    }
}

/// The checkpoint settings from a flag (or the environment), else the
/// config file, else the default; refused with the flag's name when out of
/// range.
fn checkpoint_settings(
    wal_size: Option<u64>,
    interval_secs: Option<u64>,
    file: &mut ConfigFile,
) -> Result<(u64, std::time::Duration), String> {
    let wal_size = match (wal_size, file.checkpoint_wal_size.take()) {
        (Some(bytes), _) => bytes,
        (None, Some(size)) => size.bytes()?,
        (None, None) => CHECKPOINT_WAL_SIZE_DEFAULT,
    };
    if wal_size < CHECKPOINT_WAL_SIZE_MIN {
        return Err(format!(
            "--checkpoint-wal-size (TESSERA_CHECKPOINT_WAL_SIZE, checkpoint_wal_size) must be at least 64K ({CHECKPOINT_WAL_SIZE_MIN} bytes), not {wal_size} bytes"
        ));
    }
    let interval = interval_secs
        .or(file.checkpoint_interval)
        .map_or(CHECKPOINT_INTERVAL_DEFAULT, std::time::Duration::from_secs);
    if interval.is_zero() {
        return Err(
            "--checkpoint-interval (TESSERA_CHECKPOINT_INTERVAL, checkpoint_interval) must be at least 1 second"
                .into(),
        );
    }
    Ok((wal_size, interval))
}

/// How clients are let in: the rule file (or the built-in rules), TLS
/// from a certificate and key, the longest delay after failed logins, the
/// authentication timeout.
fn auth_config(
    hba: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    delay_max_ms: Option<u64>,
    timeout_secs: Option<u64>,
) -> Result<AuthConfig, String> {
    let rules = match &hba {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            HbaRules::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => HbaRules::default(),
    };
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(tls_config(&cert, &key)?),
        (None, None) => None,
        _ => return Err("--pg-tls-cert and --pg-tls-key go together".into()),
    };
    let delay_max = delay_max_ms.map_or(AUTH_FAILURE_DELAY_MAX_DEFAULT, Duration::from_millis);
    let mut config =
        AuthConfig::new(rules, tls, AuthFailures::new(delay_max)).map_err(|e| e.message)?;
    if let Some(secs) = timeout_secs {
        if secs == 0 {
            return Err(
                "--authentication-timeout (TESSERA_AUTHENTICATION_TIMEOUT, authentication_timeout) must be at least 1 second"
                    .into(),
            );
        }
        config.timeout = Duration::from_secs(secs);
    }
    Ok(config)
}

/// The administrator a new node creates: `name` (default `postgres`), its
/// password from `password` (TESSERA_ADMIN_PASSWORD) or the first line of
/// `password_file`, stored as a SCRAM-SHA-256 verifier.
fn admin_role(
    name: Option<String>,
    password_file: Option<PathBuf>,
    password: Option<String>,
) -> Result<RoleDef, String> {
    let name = name.unwrap_or_else(|| ADMIN_USER_DEFAULT.to_string());
    if name.is_empty() || name.starts_with("pg_") {
        return Err(format!("--admin-user {name:?} is not a valid role name"));
    }
    let password = match (password, password_file) {
        (Some(_), Some(_)) => {
            return Err(
                "give the administrator password either in TESSERA_ADMIN_PASSWORD or in --admin-password-file, not both"
                    .into(),
            )
        }
        (Some(p), None) => Some(p),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            Some(text.lines().next().unwrap_or_default().to_string())
        }
        (None, None) => None,
    };
    let password = match password {
        Some(p) if p.is_empty() => return Err("the administrator password is empty".into()),
        Some(p) => Some(
            password::encrypt(&p, &name, PasswordEncryption::ScramSha256).map_err(|e| e.message)?,
        ),
        None => None,
    };
    Ok(RoleDef {
        superuser: true,
        create_role: true,
        create_db: true,
        login: true,
        password,
        ..RoleDef::new(name)
    })
}

/// The memory this process may use, in bytes: physical memory from
/// /proc/meminfo, or the cgroup's limit (v2 `memory.max`) when lower.
fn memory_total_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    let physical = kib * 1024;
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok());
    Some(cgroup.map_or(physical, |c| c.min(physical)))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => report(run(*args)),
        Command::Status(args) => report(status(args)),
        Command::Expel(args) => report(expel(args)),
        Command::Fault(args) => report(fault(args)),
    }
}

fn report(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tessera: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The secret and a runtime for a command that talks to a cluster.
fn cluster_client(args: &StatusArgs) -> Result<(ClusterSecret, tokio::runtime::Runtime), String> {
    let path = args.cluster_secret_file.clone().unwrap_or_else(|| {
        args.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DATA_DIR_DEFAULT))
            .join(CLUSTER_SECRET_FILE)
    });
    let secret = ClusterSecret::load(&path).map_err(|e| e.message)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    Ok((secret, rt))
}

fn status(args: StatusArgs) -> Result<(), String> {
    let (secret, rt) = cluster_client(&args)?;
    let status = rt
        .block_on(tessera_cluster::status::fetch(&args.peer, &secret))
        .map_err(|e| format!("{}: {}", args.peer, e.message))?;
    print!("{}", tessera_cluster::status::render(&status));
    Ok(())
}

fn expel(args: ExpelArgs) -> Result<(), String> {
    let (secret, rt) = cluster_client(&args.cluster)?;
    let mut shown = None;
    let id = rt
        .block_on(tessera_cluster::status::expel(
            &args.cluster.peer,
            &secret,
            &args.node,
            args.force,
            |node, buckets| {
                if shown != Some(buckets) {
                    shown = Some(buckets);
                    println!("node {node} is draining: {buckets} buckets left");
                }
            },
        ))
        .map_err(|e| format!("{}: {}", args.cluster.peer, e.message))?;
    println!("node {id} is expelled");
    Ok(())
}

/// Set in a node restarted by [`restart_diverged`]: when (Unix seconds).
const RESTARTED_DIVERGED_ENV: &str = "TESSERA_RESTARTED_DIVERGED";

/// A replica shard holds an old master's records the current master never
/// had, past `fork` (docs/CLUSTER.md §6): the node starts again in place,
/// as after a crash, and its start-up drops that copy and copies the
/// master. Not again within a minute for the same shard and fork (the
/// drop did not happen, and restarting would loop): then the shard keeps
/// saying why it does not copy, for an operator to look at. A new
/// divergence (another failover's fork) restarts it at once: until it
/// copies again, a sync-mode group may lack the replica its commits wait
/// for.
fn restart_diverged(shard: u16, fork: u64) {
    use std::os::unix::process::CommandExt;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // "time shard fork" of the last restart for a divergence.
    let last: Option<(u64, u16, u64)> = std::env::var(RESTARTED_DIVERGED_ENV).ok().and_then(|v| {
        let mut parts = v.split(' ').map(str::parse::<u64>);
        let (at, s, f) = (
            parts.next()?.ok()?,
            parts.next()?.ok()?,
            parts.next()?.ok()?,
        );
        Some((at, u16::try_from(s).ok()?, f))
    });
    if last.is_some_and(|(at, s, f)| s == shard && f == fork && now.saturating_sub(at) < 60) {
        tracing::error!(
            "shard {shard} diverged again at {fork} right after the node restarted for it; not restarting again"
        );
        return;
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            tracing::error!("cannot restart the node: {e}");
            return;
        }
    };
    tracing::warn!("restarting the node: shard {shard}'s copy diverged from its master's log");
    let error = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(RESTARTED_DIVERGED_ENV, format!("{now} {shard} {fork}"))
        .exec();
    tracing::error!("cannot restart the node: {error}");
}

fn fault(args: FaultArgs) -> Result<(), String> {
    let (secret, rt) = cluster_client(&args.cluster)?;
    let cut_off = args.cut_off.into_iter().filter(|a| !a.is_empty()).collect();
    rt.block_on(tessera_cluster::status::cut_off(
        &args.cluster.peer,
        &secret,
        cut_off,
    ))
    .map_err(|e| format!("{}: {}", args.cluster.peer, e.message))
}

/// Shard requests from other nodes, run on this node's shards (the
/// cluster layer moves bytes; tessera-runtime decodes and runs them). Set
/// once the shards run: the cluster service starts first, since the node
/// recovers from the cluster's catalog.
#[derive(Default)]
struct NodeShards(std::sync::OnceLock<tessera_runtime::transport::RemoteShards>);

impl tessera_cluster::shards::HybridClock for NodeShards {
    fn now(&self) -> u64 {
        self.0.get().map_or(0, |s| s.timeline().now())
    }
    fn observe(&self, reading: u64) -> tessera_types::Result<()> {
        match self.0.get() {
            Some(s) => s.timeline().observe(reading),
            // Calls fail with 57P03 until the shards run.
            None => Ok(()),
        }
    }
    fn floor(&self) -> u64 {
        self.0.get().map_or(0, |s| s.timeline().local_horizon())
    }
}

impl tessera_cluster::shards::ShardService for NodeShards {
    fn call(
        &self,
        connection: u64,
        shard: u16,
        request: Vec<u8>,
        interrupt: std::sync::Arc<tessera_types::interrupt::Interrupt>,
    ) -> tessera_cluster::shards::LocalBoxFuture<tessera_types::Result<Vec<u8>>> {
        let shards = self.0.get().cloned();
        Box::pin(async move {
            match shards {
                Some(shards) => shards.serve(connection, shard, &request, interrupt).await,
                None => Err(tessera_types::Error::new(
                    tessera_types::sqlstate::CANNOT_CONNECT_NOW,
                    "the node is starting up",
                )),
            }
        })
    }
    fn remote_floor(&self, connection: u64, floor: Option<u64>) {
        if let Some(s) = self.0.get() {
            s.timeline().remote_floor(connection, floor);
        }
    }
    fn channel_closed(&self, connection: u64) {
        if let Some(s) = self.0.get().cloned() {
            tokio::task::spawn_local(async move { s.abandon(connection).await });
        }
    }
}

/// The cluster's catalog log (tessera-cluster) as the shards use it
/// (tessera-sql); see docs/CLUSTER.md step 2.
struct ClusterCatalogLog(tessera_cluster::catalog::CatalogClient);

impl tessera_sql::shard::SharedCatalog for ClusterCatalogLog {
    fn lock(&self) -> tessera_sql::shard::SendFuture<tessera_types::Result<u64>> {
        Box::pin(self.0.lock())
    }
    fn append(
        &self,
        records: Vec<Vec<u8>>,
        held: bool,
        unlock: bool,
    ) -> tessera_sql::shard::SendFuture<tessera_types::Result<u64>> {
        Box::pin(self.0.append(records, held, unlock))
    }
    fn unlock(&self) -> tessera_sql::shard::SendFuture<tessera_types::Result<u64>> {
        Box::pin(self.0.unlock())
    }
    fn records_since(&self, start: u64) -> Vec<Vec<u8>> {
        self.0.records().since(start).to_vec()
    }
    fn more_than(&self, seen: u64) -> tessera_sql::shard::SendFuture<()> {
        let more = self.0.more_than(seen);
        Box::pin(async move {
            more.await;
        })
    }
    fn applied(&self, records: u64) {
        self.0.applied(records);
    }
    fn claim_sequences(
        &self,
        claims: Vec<SequenceClaim>,
    ) -> tessera_sql::shard::SendFuture<tessera_types::Result<Vec<Claimed>>> {
        let moves = claims
            .into_iter()
            .map(|c| tessera_cluster::state::SequenceMove {
                sequence: c.id,
                after: c.after,
                value: c.value,
                is_called: c.is_called,
            })
            .collect();
        Box::pin(self.0.claim_sequences(moves))
    }
    fn sequence_positions(&self) -> (u64, Vec<(u32, SequencePosition)>) {
        let (claims, positions) = self.0.sequence_positions();
        (claims, positions.iter().collect())
    }
    fn claims_after(&self, seen: u64) -> tessera_sql::shard::SendFuture<()> {
        Box::pin(self.0.claims_after(seen))
    }
    fn claims_observed(&self, claims: u64) {
        self.0.claims_observed(claims)
    }
    fn node_id(&self) -> Option<u64> {
        self.0.me()
    }
    fn write_globals(
        &self,
        ops: Vec<tessera_types::global::GlobalOp>,
    ) -> tessera_sql::shard::SendFuture<tessera_types::Result<Option<u64>>> {
        Box::pin(self.0.write_globals(ops))
    }
    fn globals_since(&self, seen: Option<u64>) -> tessera_types::global::GlobalChanges {
        self.0.globals_since(seen)
    }
    fn global_row(&self, table: u32, key: &[u8]) -> Option<Vec<u8>> {
        self.0.global_row(table, key)
    }
    fn globals_after(&self, seen: u64) -> tessera_sql::shard::SendFuture<()> {
        Box::pin(self.0.globals_after(seen))
    }
    fn globals_applied(&self, writes: u64) {
        self.0.globals_applied(writes)
    }
    fn member_shards(&self) -> Vec<u16> {
        self.0.member_shards()
    }
    fn tier(&self) -> String {
        self.0.tier()
    }
    fn tier_shards(&self, tier: &str) -> (Vec<u16>, Vec<u16>) {
        self.0.tier_shards(tier)
    }
    fn draining_shards(&self) -> Vec<u16> {
        self.0.draining_shards()
    }
    fn master_epoch(&self, index: u16) -> Option<u64> {
        self.0.masters().epoch(index)
    }
    fn promoted(&self, index: u16) -> Option<u64> {
        self.0.masters().promoted(index)
    }
    fn start_epoch(
        &self,
        index: u16,
        epoch: u64,
        start: u64,
    ) -> tessera_sql::shard::SendFuture<tessera_types::Result<()>> {
        Box::pin(self.0.start_epoch(index, epoch, start))
    }
    fn fork_after(&self, index: u16, epoch: u64) -> Option<u64> {
        self.0.fork_after(index, epoch)
    }
    fn note_log_end(&self, index: u16, end: u64) {
        self.0.masters().note_log_end(index, end)
    }
    fn replication_factor(&self) -> u16 {
        self.0.replication_factor()
    }
    fn replica_acks(&self) -> u16 {
        self.0.masters().replica_acks()
    }
    fn holds_lease(&self) -> bool {
        self.0.masters().has_lease()
    }
    fn diverged(&self, index: u16, fork: u64) {
        restart_diverged(index, fork)
    }
    fn buckets_moved(&self, owner: Vec<u16>) {
        self.0.buckets_moved(owner)
    }
}

/// Extends the node's id lease through the metadata group.
struct LeaseSource(tessera_cluster::catalog::CatalogClient);

impl tessera_runtime::transport::IdLeaseSource for LeaseSource {
    fn extend(&self, up_to: u64) -> tessera_sql::shard::SendFuture<tessera_types::Result<u64>> {
        Box::pin(self.0.lease_ids(up_to))
    }
}

/// Runs requests on other nodes' shards, found by their cluster-wide
/// numbers in the nodes table: one `ShardPeer` (one connection) per shard
/// thread and peer node, so a reply wakes only the thread that waits for
/// it and a busy thread delays no other's calls.
struct PeerShards {
    /// This node's id.
    me: u64,
    metadata: tokio::sync::watch::Receiver<Arc<tessera_cluster::state::Metadata>>,
    masters: Arc<tessera_cluster::masters::Mastership>,
    secret: ClusterSecret,
    clock: Arc<NodeShards>,
}

thread_local! {
    /// This thread's connections to other nodes, by internal address.
    static PEERS: std::cell::RefCell<std::collections::HashMap<String, std::rc::Rc<tessera_cluster::shards::ShardPeer>>> =
        Default::default();
    /// Which member this thread's next read from a copy goes to.
    static NEXT_COPY: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl PeerShards {
    /// This thread's connection to the node at `addr`.
    fn peer(&self, addr: String) -> std::rc::Rc<tessera_cluster::shards::ShardPeer> {
        PEERS.with(|peers| {
            peers
                .borrow_mut()
                .entry(addr.clone())
                .or_insert_with(|| {
                    std::rc::Rc::new(tessera_cluster::shards::ShardPeer::new(
                        addr,
                        self.secret.clone(),
                        self.clock.clone(),
                    ))
                })
                .clone()
        })
    }
}

impl tessera_runtime::transport::RemoteShardCalls for PeerShards {
    fn call(
        &self,
        shard: u16,
        request: Vec<u8>,
        timeout: Duration,
    ) -> tessera_runtime::transport::LocalFuture<tessera_types::Result<Vec<u8>>> {
        let addr = self
            .metadata
            .borrow()
            .shard_home(shard)
            .map(|(node, _)| node.advertise.clone());
        let Some(addr) = addr else {
            return Box::pin(async move {
                Err(tessera_types::Error::new(
                    tessera_types::sqlstate::CONNECTION_FAILURE,
                    format!("no node of the cluster has shard {shard}"),
                ))
            });
        };
        let peer = self.peer(addr);
        Box::pin(async move { peer.call(shard, request, timeout).await })
    }

    fn call_copy(
        &self,
        shard: u16,
        request: Vec<u8>,
        timeout: Duration,
        any: bool,
    ) -> tessera_runtime::transport::LocalFuture<tessera_types::Result<Vec<u8>>> {
        // The members of the shard's group: the nodes whose ranges hold it.
        let members: Vec<String> = {
            let metadata = self.metadata.borrow();
            let master = metadata.masters.get(&shard).map(|m| m.node);
            metadata
                .nodes
                .values()
                .filter(|n| n.state.is_member() && n.shard_range().contains(&shard))
                .filter(|n| n.id != self.me && (any || Some(n.id) != master))
                .map(|n| n.advertise.clone())
                .collect()
        };
        if members.is_empty() {
            return Box::pin(async move {
                Err(tessera_types::Error::new(
                    tessera_types::sqlstate::CONNECTION_FAILURE,
                    format!("no other node holds a copy of shard {shard} to read"),
                ))
            });
        }
        let turn = NEXT_COPY.with(|n| {
            let turn = n.get();
            n.set(turn.wrapping_add(1));
            turn
        });
        let peer = self.peer(members[turn % members.len()].clone());
        Box::pin(async move { peer.call(shard, request, timeout).await })
    }

    fn serves_here(&self, index: u16) -> bool {
        self.masters.is_master(index)
    }
}

/// `pg_catalog.tessera_nodes`, `tessera_tiers`, `tessera_replica_sets`
/// and `tessera_instances`.
fn topology(
    watch: &tessera_cluster::service::ClusterWatch,
    client: &tessera_cluster::catalog::CatalogClient,
) -> tessera_sql::topology::Topology {
    let metadata = watch.metadata.borrow().clone();
    let buckets = client.bucket_map();
    let tiers = metadata
        .tiers
        .values()
        .map(|t| tessera_sql::topology::TierRow {
            name: t.name.clone(),
            replication_factor: t.replication_factor,
            replication_mode: t.replication_mode.name(),
        })
        .collect();
    let nodes = metadata
        .nodes
        .values()
        .map(|n| tessera_sql::topology::NodeRow {
            node_id: n.id,
            name: n.name.clone(),
            address: n.advertise.clone(),
            pg_address: n.pg_addr.clone(),
            shards: n.shards,
            first_shard: n.first_shard,
            buckets: buckets.owned_by_node(n) as u32,
            state: n.state.name(),
            raft_role: watch.raft_role(&metadata, n.id),
            master_of: metadata.masters.values().filter(|m| m.node == n.id).count() as u16,
            failure_domain: n
                .failure_domain
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
            tier: n.tier.clone(),
        })
        .collect();
    let mut replica_sets = Vec::new();
    for members in metadata.groups().into_values() {
        let tier = metadata.tier(&members[0].tier);
        let state = if members
            .iter()
            .any(|n| n.state == tessera_cluster::state::NodeState::Draining)
        {
            "draining"
        } else if members.len() < tier.replication_factor as usize {
            "short"
        } else {
            "full"
        };
        for shard in members[0].shard_range() {
            let Some(master) = metadata.masters.get(&shard) else {
                continue;
            };
            replica_sets.push(tessera_sql::topology::ReplicaSetRow {
                shard,
                tier: tier.name.clone(),
                master: master.node,
                epoch: master.epoch,
                members: members.iter().map(|n| n.id).collect(),
                state,
            });
        }
    }
    tessera_sql::topology::Topology {
        nodes,
        tiers,
        replica_sets,
    }
}

/// Parses `--failure-domain` items.
fn failure_domain(items: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for item in items.iter().filter(|i| !i.trim().is_empty()) {
        let (k, v) = item
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .ok_or_else(|| format!("--failure-domain wants KEY=VALUE items, not {item:?}"))?;
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(format!("--failure-domain names {k:?} twice"));
        }
    }
    Ok(out)
}

/// The cluster service's settings, when the node is to be in a cluster.
struct ClusterArgs {
    listen: SocketAddr,
    advertise: String,
    peers: Vec<String>,
    secret_file: Option<PathBuf>,
    name: Option<String>,
    failure_domain: BTreeMap<String, String>,
    timing: Timing,
    rebalance: bool,
    tier: String,
    replication_factor: Option<u16>,
    replication_mode: Option<ReplicationMode>,
}

fn cluster_args(args: &mut RunArgs, file: &mut ConfigFile) -> Result<Option<ClusterArgs>, String> {
    let peers = if args.peer.is_empty() {
        file.peer.take().unwrap_or_default()
    } else {
        std::mem::take(&mut args.peer)
    };
    let domain = if args.failure_domain.is_empty() {
        file.failure_domain.take().unwrap_or_default()
    } else {
        std::mem::take(&mut args.failure_domain)
    };
    let mut timing = Timing::default();
    if let Some(secs) = args
        .raft_voter_down_timeout
        .or(file.raft_voter_down_timeout)
    {
        if secs == 0 {
            return Err("--raft-voter-down-timeout must be at least 1 second".into());
        }
        timing.voter_down_timeout = Duration::from_secs(secs);
    }
    if let Some(ms) = args.failover_timeout.or(file.failover_timeout) {
        if ms < 200 {
            return Err("--failover-timeout must be at least 200 milliseconds".into());
        }
        timing.failover_timeout = Duration::from_millis(ms);
    }
    let replication_factor = args.replication_factor.or(file.replication_factor);
    if let Some(factor) = replication_factor.filter(|f| !(1..=5).contains(f)) {
        return Err(format!(
            "replication_factor {factor} is out of range: 1 to 5 nodes keep a copy of each shard"
        ));
    }
    let replication_mode = match args
        .replication_mode
        .take()
        .or(file.replication_mode.take())
    {
        None => None,
        Some(name) => Some(ReplicationMode::from_name(&name).ok_or_else(|| {
            format!("replication_mode \"{name}\" is not one of \"async\", \"sync\"")
        })?),
    };
    let tier = args
        .tier
        .take()
        .or(file.tier.take())
        .unwrap_or_else(|| tessera_cluster::state::DEFAULT_TIER.to_string());
    if tier.is_empty() || tier.len() > 63 || tier.chars().any(|c| c.is_control()) {
        return Err(format!(
            "tier {tier:?} is not a tier name: 1 to 63 printable characters"
        ));
    }
    let advertise = args.advertise.take().or(file.advertise.take());
    let name = args.name.take().or(file.name.take());
    let secret_file = args
        .cluster_secret_file
        .take()
        .or(file.cluster_secret_file.take());
    let Some(listen) = args.listen.or(file.listen) else {
        if !peers.is_empty() || advertise.is_some() {
            return Err(
                "--peer and --advertise need --listen (the address for cluster traffic)".into(),
            );
        }
        return Ok(None);
    };
    let advertise = match advertise {
        Some(a) => a,
        None if listen.ip().is_unspecified() => {
            return Err(format!(
                "--listen {listen} is every address; say which one other nodes use with --advertise"
            ))
        }
        None => listen.to_string(),
    };
    Ok(Some(ClusterArgs {
        listen,
        advertise,
        peers: peers
            .into_iter()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        secret_file,
        name,
        failure_domain: failure_domain(&domain)?,
        timing,
        rebalance: args.rebalance.or(file.rebalance).unwrap_or(true),
        tier,
        replication_factor,
        replication_mode,
    }))
}

/// The cluster secret: the file's, or, for a node founding a cluster
/// alone, a new one.
fn cluster_secret(data_dir: &std::path::Path, c: &ClusterArgs) -> Result<ClusterSecret, String> {
    let path = c
        .secret_file
        .clone()
        .unwrap_or_else(|| data_dir.join(CLUSTER_SECRET_FILE));
    if path.exists() {
        return ClusterSecret::load(&path).map_err(|e| e.message);
    }
    if c.peers.iter().all(|p| *p == c.advertise) {
        let secret = ClusterSecret::create(&path).map_err(|e| e.message)?;
        tracing::info!(
            "created the cluster secret {}; other nodes join with a copy of it (--cluster-secret-file)",
            path.display()
        );
        return Ok(secret);
    }
    Err(format!(
        "no cluster secret at {}: every node of a cluster needs the same one. Copy a member's DATA_DIR/{CLUSTER_SECRET_FILE}, or for a new cluster create one (head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > FILE), and pass --cluster-secret-file FILE to every node",
        path.display()
    ))
}

fn run(mut args: RunArgs) -> Result<(), String> {
    let mut file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            toml::from_str::<ConfigFile>(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => ConfigFile::default(),
    };
    let cluster = cluster_args(&mut args, &mut file)?;
    let (checkpoint_wal_size, checkpoint_interval) = checkpoint_settings(
        args.checkpoint_wal_size,
        args.checkpoint_interval,
        &mut file,
    )?;
    let log_level = args
        .log_level
        .or(file.log_level)
        .unwrap_or_else(|| "info".into());
    let level: tracing::Level = log_level
        .parse()
        .map_err(|_| format!("unknown log level {log_level:?}"))?;
    use std::io::IsTerminal;
    // openraft reports every failed heartbeat to a node that is down, at
    // ERROR; the governor's reachability (tessera status) and our own
    // leader-change lines say what an operator needs at info.
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let raft_level = if level >= tracing::Level::DEBUG {
        tracing_subscriber::filter::LevelFilter::from_level(level)
    } else {
        tracing_subscriber::filter::LevelFilter::OFF
    };
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_target(false),
        )
        .with(
            tracing_subscriber::filter::Targets::new()
                .with_default(level)
                .with_target("openraft", raft_level),
        )
        .init();

    let data_dir = args
        .data_dir
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from(DATA_DIR_DEFAULT));
    let pg_listen = match args.pg_listen.or(file.pg_listen) {
        Some(a) => a,
        None => PG_LISTEN_DEFAULT.parse().map_err(|e| format!("{e}"))?,
    };
    let pg_socket_dir = args
        .pg_socket_dir
        .map(PathBuf::from)
        .or(file.pg_socket_dir.take())
        .unwrap_or_else(|| PathBuf::from(PG_SOCKET_DIR_DEFAULT));
    let pg_socket_dir = (!pg_socket_dir.as_os_str().is_empty()).then_some(pg_socket_dir);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let shards = args
        .shards
        .or(file.shards)
        .unwrap_or(cores.min(u16::MAX as usize) as u16);
    if shards == 0 || shards as u64 > tessera_runtime::transport::MAX_SHARDS {
        return Err(format!(
            "--shards must be between 1 and {}",
            tessera_runtime::transport::MAX_SHARDS
        ));
    }

    let max_connections = args
        .max_connections
        .or(file.max_connections)
        .unwrap_or(MAX_CONNECTIONS_DEFAULT);
    let auth = auth_config(
        args.pg_hba.or(file.pg_hba.take()),
        args.pg_tls_cert.or(file.pg_tls_cert.take()),
        args.pg_tls_key.or(file.pg_tls_key.take()),
        args.auth_failure_delay_max.or(file.auth_failure_delay_max),
        args.authentication_timeout.or(file.authentication_timeout),
    )?;
    let bootstrap_role = admin_role(
        args.admin_user.or(file.admin_user.take()),
        args.admin_password_file.or(file.admin_password_file.take()),
        std::env::var("TESSERA_ADMIN_PASSWORD").ok(),
    )?;
    let handler: ConnectionHandler = Arc::new(move |stream, router, admission| {
        let auth = auth.clone();
        Box::pin(async move {
            let peer = match stream.peer_address() {
                Some(address) => Peer::Host(address),
                None => Peer::Local {
                    uid: stream.peer_uid(),
                },
            };
            match admission {
                Admission::Admitted { process_id } => {
                    // Unguessable: it lets whoever holds it cancel the
                    // session's statements (RandomState is keyed from the
                    // OS's randomness).
                    let secret_key = {
                        use std::hash::BuildHasher;
                        std::collections::hash_map::RandomState::new().hash_one(process_id) as u32
                    };
                    let key = BackendKey {
                        process_id,
                        secret_key,
                    };
                    serve_connection(stream, &*router, key, &auth, peer).await;
                }
                Admission::Refused(error) => refuse_connection(stream, &error, &auth, peer).await,
            }
        })
    });
    let shard_memory_limit = match (args.shard_memory_limit, file.shard_memory_limit) {
        (Some(bytes), _) => bytes,
        (None, Some(size)) => size.bytes()?,
        (None, None) => {
            memory_total_bytes().map_or(u64::MAX, |total| total / 10 * 8 / shards as u64)
        }
    };
    let memory_limit = match (args.memory_limit, file.memory_limit) {
        (Some(bytes), _) => bytes,
        (None, Some(size)) => size.bytes()?,
        (None, None) => memory_total_bytes().map_or(0, |total| total / 4 * 3),
    };
    tessera_types::memory::set_limit(usize::try_from(memory_limit).unwrap_or(usize::MAX));
    let mut config = NodeConfig::new(data_dir.clone(), pg_listen, shards);
    config.pg_socket_dir = pg_socket_dir;
    config.max_connections = max_connections;
    config.shard_memory_limit_bytes = usize::try_from(shard_memory_limit).unwrap_or(usize::MAX);
    config.checkpoint_wal_size_bytes = checkpoint_wal_size;
    config.checkpoint_interval = checkpoint_interval;
    let admin = bootstrap_role.name.clone();
    config.bootstrap_role = Some(bootstrap_role);
    // A node in a cluster recovers from the cluster's catalog: the cluster
    // service starts first, and the node waits for its fence (every
    // catalog record it ever had committed is then applied).
    let node_shards = std::sync::Arc::new(NodeShards::default());
    let cluster = match cluster {
        Some(c) => {
            // Before the cluster service speaks for the node.
            let lock = tessera_runtime::node::lock_data_dir(&data_dir).map_err(|e| e.message)?;
            config.data_dir_lock = Some(Arc::new(lock));
            let secret = cluster_secret(&data_dir, &c)?;
            let secret_for_peers = secret.clone();
            let mastership_lease = c.timing.lease();
            let cluster_config = ClusterConfig {
                data_dir: data_dir.clone(),
                listen: c.listen,
                advertise: c.advertise.clone(),
                peers: c.peers,
                secret,
                name: c.name,
                pg_addr: pg_listen.to_string(),
                shards,
                bucket_count: tessera_types::schema::BUCKET_COUNT_DEFAULT,
                tier: c.tier,
                replication_factor: c.replication_factor,
                replication_mode: c.replication_mode,
                failure_domain: c.failure_domain,
                timing: c.timing,
                shard_service: Some(tessera_cluster::shards::ShardServiceRef(
                    node_shards.clone(),
                )),
            };
            let handle = tessera_cluster::service::start(cluster_config).map_err(|e| e.message)?;
            tracing::info!(
                "cluster traffic on {} (advertised as {})",
                c.listen,
                c.advertise
            );
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let taking_part =
                |e: tessera_types::Error| format!("taking part in the cluster: {}", e.message);
            runtime
                .block_on(handle.catalog.unlock())
                .map_err(taking_part)?;
            let me = handle
                .catalog
                .my_record()
                .ok_or("taking part in the cluster: this node is not in its nodes table")?;
            // Ids continue past everything the node's last lease allowed.
            let ids_from = runtime
                .block_on(handle.catalog.lease_ids(0))
                .map_err(taking_part)?;
            // Which shards it serves, before any of them starts: a replica's
            // starts differently (docs/CLUSTER.md §5). The lease went
            // through the leader and is applied here, so this is no older
            // than it: an old master that restarts after a failover does
            // not take itself for the master.
            handle
                .masters
                .update(&handle.watch.metadata.borrow(), me.id);
            // A master's first lease (docs/CLUSTER.md §6): a majority just
            // committed that id lease, so the node was in touch then.
            handle
                .masters
                .renew_lease(std::time::Instant::now() + mastership_lease);
            let lease_end = runtime
                .block_on(handle.catalog.lease_ids(ids_from + IdLease::BLOCK))
                .map_err(taking_part)?;
            let (buckets, first_tier): (Arc<[u16]>, String) = {
                let metadata = handle.watch.metadata.borrow();
                // The founder's group's.
                (
                    metadata.buckets.as_slice().into(),
                    metadata.group_tier(0).name,
                )
            };
            config.cluster_shards = Some(tessera_runtime::node::ClusterShards {
                first_shard: me.first_shard,
                ids_from,
                lease_end,
                slot_ids: tessera_cluster::state::slot_ids(me.slot),
                lease_source: std::sync::Arc::new(LeaseSource(handle.catalog.clone())),
                buckets,
                first_tier,
                remote: Arc::new(PeerShards {
                    me: me.id,
                    metadata: handle.watch.metadata.clone(),
                    masters: handle.masters.clone(),
                    secret: secret_for_peers,
                    clock: node_shards.clone(),
                }),
            });
            config.cluster_catalog = Some(tessera_runtime::node::ClusterCatalog {
                log: std::sync::Arc::new(ClusterCatalogLog(handle.catalog.clone())),
                records: handle.catalog.records().all(),
                rebalance: c.rebalance,
            });
            let watch = handle.watch.clone();
            let client = handle.catalog.clone();
            tessera_sql::topology::install(Box::new(move || topology(&watch, &client)));
            Some(handle)
        }
        None => None,
    };
    let node = run_node(config, handler).map_err(|e| e.message)?;
    let _ = node_shards.0.set(node.remote_shards.clone());
    tracing::info!(
        "tessera listening for PostgreSQL on {pg_listen} ({} shards, data in {}); connect with: psql -h {} -p {} -U {admin}",
        node.shards,
        data_dir.display(),
        pg_listen.ip(),
        pg_listen.port()
    );
    if let Some(socket) = &node.pg_socket {
        tracing::info!(
            "and on the Unix socket {}; connect with: psql -h {} -p {} -U {admin}",
            socket.path().display(),
            socket
                .path()
                .parent()
                .map_or("/".into(), |d| d.display().to_string()),
            pg_listen.port()
        );
    }
    tracing::info!(
        "memory: {} MiB held after start, limit {}",
        tessera_types::memory::heap_bytes() >> 20,
        tessera_types::memory::limit().map_or("none".to_string(), |l| format!("{} MiB", l >> 20))
    );

    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    signals.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok::<(), String>(())
    })?;
    tracing::info!("shutting down");
    if let Some(cluster) = cluster {
        cluster.shutdown();
    }
    node.shutdown();
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_settings_follow_flag_then_file_then_default_and_are_checked() {
        let none = || ConfigFile::default();
        let (size, interval) = checkpoint_settings(None, None, &mut none()).unwrap();
        assert_eq!(size, CHECKPOINT_WAL_SIZE_DEFAULT);
        assert_eq!(interval, CHECKPOINT_INTERVAL_DEFAULT);
        let mut file = ConfigFile {
            checkpoint_wal_size: Some(Size::Text("1G".into())),
            checkpoint_interval: Some(60),
            ..ConfigFile::default()
        };
        let (size, interval) = checkpoint_settings(None, None, &mut file).unwrap();
        assert_eq!((size, interval.as_secs()), (1 << 30, 60));
        let mut file = ConfigFile {
            checkpoint_wal_size: Some(Size::Bytes(1 << 20)),
            checkpoint_interval: Some(60),
            ..ConfigFile::default()
        };
        let (size, interval) = checkpoint_settings(Some(128 << 10), Some(5), &mut file).unwrap();
        assert_eq!((size, interval.as_secs()), (128 << 10, 5));
        let err = checkpoint_settings(Some(1000), None, &mut none()).unwrap_err();
        assert!(
            err.contains("--checkpoint-wal-size") && err.contains("must be at least 64K"),
            "{err}"
        );
        let mut file = ConfigFile {
            checkpoint_wal_size: Some(Size::Text("64Q".into())),
            ..ConfigFile::default()
        };
        let err = checkpoint_settings(None, None, &mut file).unwrap_err();
        assert!(err.contains("unknown unit"), "{err}");
        let err = checkpoint_settings(None, Some(0), &mut none()).unwrap_err();
        assert!(
            err.contains("--checkpoint-interval") && err.contains("at least 1 second"),
            "{err}"
        );
    }

    #[test]
    fn the_administrator_gets_a_hashed_password_from_one_source() {
        let admin = admin_role(None, None, Some("pw".into())).unwrap();
        assert_eq!(admin.name, "postgres");
        assert!(admin.superuser && admin.login);
        let stored = admin.password.unwrap();
        assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
        assert!(password::check(&stored, "postgres", "pw"));
        assert_eq!(
            admin_role(Some("chief".into()), None, None)
                .unwrap()
                .password,
            None
        );
        let dir = std::env::temp_dir().join(format!("tessera-main-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "from file\nignored\n").unwrap();
        let admin = admin_role(None, Some(file.clone()), None).unwrap();
        assert!(password::check(
            &admin.password.unwrap(),
            "postgres",
            "from file"
        ));
        let both = admin_role(None, Some(file), Some("x".into())).unwrap_err();
        assert!(both.contains("not both"), "{both}");
        assert!(admin_role(None, None, Some(String::new())).is_err());
        assert!(admin_role(Some("pg_admin".into()), None, None).is_err());
        let missing = admin_role(None, Some(dir.join("missing")), None).unwrap_err();
        assert!(missing.contains("reading"), "{missing}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn auth_settings_are_checked() {
        let config = auth_config(None, None, None, None, None).unwrap();
        assert_eq!(config.timeout.as_secs(), 60);
        assert!(config.tls.is_none());
        let half = auth_config(None, Some("cert.pem".into()), None, None, None);
        assert!(half.err().unwrap().contains("go together"));
        let zero = auth_config(None, None, None, None, Some(0));
        assert!(zero.err().unwrap().contains("at least 1 second"));
        let missing = auth_config(Some("/nonexistent/hba".into()), None, None, None, None);
        assert!(missing.err().unwrap().contains("/nonexistent/hba"));
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("1234"), Ok(1234));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("4gib"), Ok(4 << 30));
        assert_eq!(parse_size(" 2 GB "), Ok(2 << 30));
        assert!(parse_size("").is_err());
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}
