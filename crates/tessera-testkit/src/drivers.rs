//! Runs the driver and ORM test programs in `crates/tessera-testkit/drivers/`
//! (Python, Node.js and Java programs that use a real client library)
//! against a [`TestServer`].
//!
//! `scripts/drivers-setup.sh` installs what they need: a Python virtual
//! environment in `drivers/python/.venv`, `drivers/node/node_modules`, a JDK
//! and Debian's pgJDBC jar. `scripts/test.sh` runs it first. A test whose
//! runtime is missing fails and says to run that script; it never skips.
//!
//! A program gets the server's address in the usual libpq variables
//! (`PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`) and exits non-zero on the
//! first check that does not hold, printing what it expected and got.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{workspace_root, TestServer, USER};

/// `crates/tessera-testkit/drivers`.
pub fn drivers_dir() -> PathBuf {
    workspace_root().join("crates/tessera-testkit/drivers")
}

/// The interpreter of the drivers' Python virtual environment.
pub fn python() -> PathBuf {
    installed(drivers_dir().join("python/.venv/bin/python"))
}

/// `drivers/node`, where `node_modules` holds the Node.js drivers.
pub fn node_dir() -> PathBuf {
    installed(drivers_dir().join("node/node_modules"));
    drivers_dir().join("node")
}

/// Debian's pgJDBC jar (package `libpostgresql-jdbc-java`).
pub fn jdbc_jar() -> PathBuf {
    installed(PathBuf::from("/usr/share/java/postgresql.jar"))
}

#[track_caller]
fn installed(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run scripts/drivers-setup.sh (scripts/test.sh runs it)",
        path.display()
    );
    path
}

/// Runs `program` with `args` in `dir`, pointed at `server`; panics with
/// the program's output and the server's log if it fails. Returns stdout.
#[track_caller]
pub fn run(server: &TestServer, dir: &Path, program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("PGHOST", server.host())
        .env("PGPORT", server.port().to_string())
        .env("PGUSER", USER)
        .env("PGDATABASE", server.dbname())
        .env_remove("PGPASSWORD")
        .env_remove("PGSSLMODE")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} {args:?} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- server log\n{}",
        program.display(),
        out.status,
        if server.is_external() {
            String::new()
        } else {
            server.log_tail()
        }
    );
    print!("{stdout}");
    stdout
}
