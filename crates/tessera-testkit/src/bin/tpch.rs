//! `tpch`: loads TPC-H data into a server and runs the 22 queries.
//!
//! ```text
//! tpch load CONNINFO [--scale S] [--jobs N]
//! tpch run CONNINFO [--rounds N] [--queries 1,3,5] [--answers DIR] [--save DIR]
//! ```
//! `load` creates the eight tables and fills them with the rows
//! `tpchgen-cli` generates for scale factor S (default 0.1), N connections
//! at a time (default 2). `run` runs each query ROUNDS times (default 1)
//! and prints `qNN <best milliseconds>` per query; with `--answers` it
//! compares each answer with `DIR/qNN.tsv` (exit status 1 on a
//! difference), with `--save` it writes them there.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tessera_testkit::tpch;

fn usage() -> ExitCode {
    eprintln!(
        "usage: tpch load CONNINFO [--scale S] [--jobs N]\n       \
         tpch run CONNINFO [--rounds N] [--queries LIST] [--answers DIR] [--save DIR]"
    );
    ExitCode::from(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(command), Some(conninfo)) = (args.first(), args.get(1)) else {
        return usage();
    };
    let mut scale = 0.1;
    let mut jobs = 2;
    let mut rounds = 1;
    let mut queries: Vec<usize> = (1..=22).collect();
    let mut answers: Option<PathBuf> = None;
    let mut save: Option<PathBuf> = None;
    let mut rest = args[2..].iter();
    while let Some(flag) = rest.next() {
        let Some(value) = rest.next() else {
            return usage();
        };
        let ok = match flag.as_str() {
            "--scale" => value.parse().map(|v| scale = v).is_ok(),
            "--jobs" => value.parse().map(|v| jobs = v).is_ok(),
            "--rounds" => value.parse().map(|v: usize| rounds = v.max(1)).is_ok(),
            "--queries" => value
                .split(',')
                .map(|q| {
                    q.trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=22).contains(n))
                })
                .collect::<Option<Vec<_>>>()
                .map(|q| queries = q)
                .is_some(),
            "--answers" => {
                answers = Some(value.into());
                true
            }
            "--save" => {
                save = Some(value.into());
                true
            }
            _ => false,
        };
        if !ok {
            return usage();
        }
    }
    match command.as_str() {
        "load" => match tpch::load(conninfo, scale, jobs).await {
            Ok(tables) => {
                for (table, rows) in tables {
                    println!("{table} {rows}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tpch load: {e}");
                ExitCode::FAILURE
            }
        },
        "run" => {
            let (client, connection) =
                match tokio_postgres::connect(conninfo, tokio_postgres::NoTls).await {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("tpch run: connect: {e}");
                        return ExitCode::FAILURE;
                    }
                };
            tokio::spawn(connection);
            let mut failed = false;
            for n in queries {
                let mut best: Option<Duration> = None;
                let mut answer = Vec::new();
                for _ in 0..rounds {
                    match tpch::run(&client, n).await {
                        Ok((rows, took)) => {
                            best = Some(best.map_or(took, |b| b.min(took)));
                            answer = rows;
                        }
                        Err(e) => {
                            println!("q{n:02} error {e}");
                            failed = true;
                            best = None;
                            break;
                        }
                    }
                }
                let Some(best) = best else { continue };
                let mut verdict = String::new();
                if let Some(dir) = &answers {
                    match tpch::read_answer(dir, n) {
                        Ok(want) => {
                            if let Some(diff) = tpch::compare(&want, &answer) {
                                verdict = format!(" WRONG {diff}");
                                failed = true;
                            }
                        }
                        Err(e) => {
                            verdict = format!(" {e}");
                            failed = true;
                        }
                    }
                }
                if let Some(dir) = &save {
                    if let Err(e) = tpch::write_answer(dir, n, &answer) {
                        eprintln!("tpch run: {e}");
                        return ExitCode::FAILURE;
                    }
                }
                println!("q{n:02} {:.1}{verdict}", best.as_secs_f64() * 1000.0);
            }
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => usage(),
    }
}
