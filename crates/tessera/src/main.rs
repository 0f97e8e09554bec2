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
use tessera_pgwire::{refuse_connection, serve_connection, BackendKey};
use tessera_runtime::{
    run_node, Admission, ConnectionHandler, NodeConfig, MAX_CONNECTIONS_DEFAULT,
};

/// The PostgreSQL port a node listens on by default: not 5432 (PostgreSQL)
/// nor 6379 (Redis), so it runs beside both.
const PG_LISTEN_DEFAULT: &str = "127.0.0.1:5454";
const DATA_DIR_DEFAULT: &str = "./tessera-data";

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
    Run(RunArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// A TOML file with any of: data_dir, pg_listen, shards, max_connections, log_level.
    #[arg(long, env = "TESSERA_CONFIG")]
    config: Option<PathBuf>,
    /// Where the node keeps its data [default: ./tessera-data].
    #[arg(long, env = "TESSERA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address for PostgreSQL clients [default: 127.0.0.1:5454].
    #[arg(long, env = "TESSERA_PG_LISTEN")]
    pg_listen: Option<SocketAddr>,
    /// Shards (threads, one per core) [default: the cores this process may use].
    #[arg(long, env = "TESSERA_SHARDS")]
    shards: Option<u16>,
    /// Client connections served at once; more are refused with 53300 [default: 1000].
    #[arg(long, env = "TESSERA_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// error, warn, info, debug or trace [default: info].
    #[arg(long, env = "TESSERA_LOG_LEVEL")]
    log_level: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    data_dir: Option<PathBuf>,
    pg_listen: Option<SocketAddr>,
    shards: Option<u16>,
    max_connections: Option<usize>,
    log_level: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => match run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("tessera: {message}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run(args: RunArgs) -> Result<(), String> {
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            toml::from_str::<ConfigFile>(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => ConfigFile::default(),
    };
    let log_level = args
        .log_level
        .or(file.log_level)
        .unwrap_or_else(|| "info".into());
    let level: tracing::Level = log_level
        .parse()
        .map_err(|_| format!("unknown log level {log_level:?}"))?;
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();

    let data_dir = args
        .data_dir
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from(DATA_DIR_DEFAULT));
    let pg_listen = match args.pg_listen.or(file.pg_listen) {
        Some(a) => a,
        None => PG_LISTEN_DEFAULT.parse().map_err(|e| format!("{e}"))?,
    };
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let shards = args
        .shards
        .or(file.shards)
        .unwrap_or(cores.min(u16::MAX as usize) as u16);
    if shards == 0 || shards as u64 > tessera_runtime::transport::ID_STRIDE {
        return Err(format!(
            "--shards must be between 1 and {}",
            tessera_runtime::transport::ID_STRIDE
        ));
    }

    let max_connections = args
        .max_connections
        .or(file.max_connections)
        .unwrap_or(MAX_CONNECTIONS_DEFAULT);
    let handler: ConnectionHandler = Arc::new(|stream, router, admission| {
        Box::pin(async move {
            match admission {
                Admission::Admitted { process_id } => {
                    let secret_key = process_id.wrapping_mul(0x9E37_79B9) ^ std::process::id();
                    serve_connection(
                        stream,
                        &*router,
                        BackendKey {
                            process_id,
                            secret_key,
                        },
                    )
                    .await;
                }
                Admission::Refused(error) => refuse_connection(stream, &error).await,
            }
        })
    });
    let mut config = NodeConfig::new(data_dir.clone(), pg_listen, shards);
    config.max_connections = max_connections;
    let node = run_node(config, handler).map_err(|e| e.message)?;
    tracing::info!(
        "tessera listening for PostgreSQL on {pg_listen} ({} shards, data in {}); connect with: psql -h {} -p {}",
        node.shards,
        data_dir.display(),
        pg_listen.ip(),
        pg_listen.port()
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
    node.shutdown();
    tracing::info!("stopped");
    Ok(())
}
