//! `slt`: runs sqllogictest files against a server, or completes them.
//!
//! ```text
//! slt [--complete] CONNINFO FILE...
//! ```
//! CONNINFO is a libpq-style string (`host=127.0.0.1 port=5454 user=postgres`).
//! Without `--complete` each file runs and reports how many records pass
//! (exit status 1 if any fails). With it, each file is rewritten in place
//! with the results the server gives: run it against PostgreSQL 15 to
//! produce the expectations of the project's own files
//! (`scripts/slt-expect.sh` does).

use std::process::ExitCode;

use tessera_testkit::slt;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let complete = args.first().is_some_and(|a| a == "--complete");
    if complete {
        args.remove(0);
    }
    let (Some(conninfo), files) = (args.first().cloned(), args.get(1..).unwrap_or_default()) else {
        eprintln!("usage: slt [--complete] CONNINFO FILE...");
        return ExitCode::from(2);
    };
    let mut failed = false;
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{file}: {e}");
                return ExitCode::from(2);
            }
        };
        // A fresh session per file.
        let (client, connection) =
            match tokio_postgres::connect(&conninfo, tokio_postgres::NoTls).await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("connecting with {conninfo:?}: {e}");
                    return ExitCode::from(2);
                }
            };
        let task = tokio::spawn(connection);
        if complete {
            match slt::complete(&text, &client).await {
                Ok(done) => {
                    if let Err(e) = std::fs::write(file, done) {
                        eprintln!("{file}: {e}");
                        return ExitCode::from(2);
                    }
                    eprintln!("{file}: completed");
                }
                Err(e) => {
                    eprintln!("{file}: {e}");
                    failed = true;
                }
            }
        } else {
            let script = match slt::parse(&text) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{file}: {e}");
                    return ExitCode::from(2);
                }
            };
            let outcome = slt::run(&script, &client, 20).await;
            eprintln!(
                "{file}: {} of {} records pass",
                outcome.passed,
                script.records.len()
            );
            for f in &outcome.failures {
                eprintln!("  {f}");
            }
            failed |= outcome.failed > 0;
        }
        drop(client);
        let _ = task.await;
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
