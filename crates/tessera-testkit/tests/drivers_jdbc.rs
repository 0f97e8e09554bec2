//! pgJDBC, Debian's `libpostgresql-jdbc-java` (42.5), unmodified, against a
//! two-shard server: `drivers/java/JdbcTest.java` connects, runs DDL,
//! parameterised DML past the prepare threshold (named `S_n` statements),
//! batches (also rewritten into multi-row INSERTs), generated keys,
//! transactions with savepoints, errors and their SQLSTATEs, every supported
//! type in text (`preferQueryMode=simple`) and binary (`binaryTransfer`)
//! results, and DatabaseMetaData / ResultSetMetaData, whose answers come
//! from large pg_catalog queries. The program prints a line per check group
//! and fails on the first check that does not hold.
//!
//! The program compiles with the JDK's `javac` into a directory of this
//! test's own; `scripts/drivers-setup.sh` installs the JDK and the jar.

use std::path::{Path, PathBuf};
use std::process::Command;

use tessera_testkit::{drivers, find_program, TestServer};

/// A directory removed when the test ends, pass or fail.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compiles `JdbcTest.java` into `classes`.
fn compile(java_dir: &Path, classes: &Path, jar: &Path) {
    let javac = find_program("javac")
        .expect("javac is missing: run scripts/drivers-setup.sh (scripts/test.sh runs it)");
    let out = Command::new(javac)
        .arg("-d")
        .arg(classes)
        .arg("-cp")
        .arg(jar)
        .arg("JdbcTest.java")
        .current_dir(java_dir)
        .output()
        .expect("run javac");
    assert!(
        out.status.success(),
        "javac failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pgjdbc_end_to_end() {
    let jar = drivers::jdbc_jar();
    let java_dir = drivers::drivers_dir().join("java");
    let classes = ScratchDir(
        std::env::temp_dir().join(format!("tessera-jdbc-classes-{}", std::process::id())),
    );
    compile(&java_dir, &classes.0, &jar);
    let java = find_program("java").expect("java is missing: run scripts/drivers-setup.sh");

    let server = TestServer::start_with_shards(2);
    let classpath = format!("{}:{}", classes.0.display(), jar.display());
    let stdout = drivers::run(&server, &java_dir, &java, &["-cp", &classpath, "JdbcTest"]);
    for group in [
        "connect: ok",
        "ddl: ok",
        "dml: ok",
        "batches: ok",
        "generated keys: ok",
        "transactions: ok",
        "errors: ok",
        "metadata getTables: ok",
        "metadata getColumns: ok",
        "metadata keys: ok",
        "metadata indexes: ok",
        "metadata schemas and types: ok",
        "result set metadata: ok",
        "types default: ok",
        "types binary: ok",
        "types text: ok",
        "binary parameters: ok",
        "all checks passed",
    ] {
        assert!(
            stdout.lines().any(|line| line == group),
            "missing {group:?} in:\n{stdout}"
        );
    }
}
