//! Bank transfers under crashes. Each transfer is one UPDATE of two
//! accounts; `id IN (…)` fans it out to every shard, so each one commits
//! with two-phase commit. While transfers run, readers check that every
//! snapshot sees the same total. Then the node is killed (-9) and
//! restarted: the total is unchanged and every account holds exactly the
//! acknowledged transfers plus some of the few that were in flight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tessera_testkit::TestServer;

const ACCOUNTS: i32 = 40;
const OPENING_BALANCE: i64 = 1000;
const CLIENTS: usize = 6;
const READERS: usize = 2;
/// Acknowledged transfers to wait for before each crash.
const TRANSFERS_BEFORE_CRASH: usize = 150;
const LOAD_TIMEOUT: Duration = Duration::from_secs(120);
const TRANSFER: &str =
    "UPDATE accounts SET balance = balance + CASE WHEN id = $1 THEN -$3::bigint ELSE $3::bigint END WHERE id IN ($1, $2)";

#[derive(Clone, Copy, Debug)]
struct Transfer {
    from: i32,
    to: i32,
    amount: i64,
}

#[derive(Default)]
struct Ledger {
    acknowledged: Vec<Transfer>,
    /// Sent and not yet answered when the node died: may or may not have committed.
    in_flight: Vec<Transfer>,
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

async fn balances(server: &TestServer) -> Vec<i64> {
    let client = server.connect().await;
    let rows = client
        .query("SELECT id, balance FROM accounts ORDER BY id", &[])
        .await
        .unwrap();
    rows.iter().map(|r| r.get::<_, i64>(1)).collect()
}

fn apply(balances: &mut [i64], t: &Transfer) {
    balances[(t.from - 1) as usize] -= t.amount;
    balances[(t.to - 1) as usize] += t.amount;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_keep_the_total_through_crashes() {
    let mut server = TestServer::start_with_shards(2);
    if server.is_external() {
        return;
    }
    {
        let client = server.connect().await;
        client
            .batch_execute("CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL)")
            .await
            .unwrap();
        let rows: Vec<String> = (1..=ACCOUNTS)
            .map(|i| format!("({i}, {OPENING_BALANCE})"))
            .collect();
        client
            .batch_execute(&format!("INSERT INTO accounts VALUES {}", rows.join(", ")))
            .await
            .unwrap();
    }
    let total = ACCOUNTS as i64 * OPENING_BALANCE;
    let mut expected = vec![OPENING_BALANCE; ACCOUNTS as usize];

    for round in 0..2u64 {
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let client = server.connect().await;
            let (ledger, stop) = (ledger.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let statement = client.prepare(TRANSFER).await.unwrap();
                let mut rng =
                    0x9E37_79B9_7F4A_7C15u64 ^ ((round * 100 + c as u64 + 1) * 0x2545_F491);
                while !stop.load(Ordering::SeqCst) {
                    let from = (xorshift(&mut rng) % ACCOUNTS as u64) as i32 + 1;
                    // Any other account: an offset of 1..ACCOUNTS-1, wrapping around.
                    let offset = (xorshift(&mut rng) % (ACCOUNTS as u64 - 1)) as i32 + 1;
                    let to = (from - 1 + offset) % ACCOUNTS + 1;
                    let t = Transfer {
                        from,
                        to,
                        amount: (xorshift(&mut rng) % 50) as i64 + 1,
                    };
                    ledger.lock().unwrap().in_flight.push(t);
                    let result = client
                        .execute(&statement, &[&t.from, &t.to, &t.amount])
                        .await;
                    let mut l = ledger.lock().unwrap();
                    match result {
                        Ok(n) => {
                            assert_eq!(n, 2, "a transfer touches two accounts");
                            let i = l
                                .in_flight
                                .iter()
                                .position(|x| {
                                    x.from == t.from && x.to == t.to && x.amount == t.amount
                                })
                                .unwrap();
                            l.in_flight.remove(i);
                            l.acknowledged.push(t);
                        }
                        // The node died under us: the transfer stays in flight.
                        Err(_) => return,
                    }
                }
            }));
        }
        for _ in 0..READERS {
            let client = server.connect().await;
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    match client
                        .query_one("SELECT sum(balance), count(*) FROM accounts", &[])
                        .await
                    {
                        Ok(row) => {
                            let sum: numeric_text::Numeric = row.get(0);
                            assert_eq!(
                                sum.0,
                                total.to_string(),
                                "a snapshot saw money appear or vanish"
                            );
                            assert_eq!(row.get::<_, i64>(1), ACCOUNTS as i64);
                        }
                        Err(_) => return,
                    }
                }
            }));
        }
        let deadline = Instant::now() + LOAD_TIMEOUT;
        while ledger.lock().unwrap().acknowledged.len() < TRANSFERS_BEFORE_CRASH {
            assert!(Instant::now() < deadline, "too few transfers acknowledged");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.kill9();
        stop.store(true, Ordering::SeqCst);
        for t in tasks {
            t.await.unwrap();
        }
        server.restart();

        let actual = balances(&server).await;
        assert_eq!(
            actual.iter().sum::<i64>(),
            total,
            "round {round}: money appeared or vanished"
        );
        let l = ledger.lock().unwrap();
        for t in &l.acknowledged {
            apply(&mut expected, t);
        }
        // Some subset of the in-flight transfers committed; find it.
        assert!(l.in_flight.len() <= CLIENTS);
        let mut matched = None;
        for mask in 0u32..(1 << l.in_flight.len()) {
            let mut candidate = expected.clone();
            for (i, t) in l.in_flight.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    apply(&mut candidate, t);
                }
            }
            if candidate == actual {
                matched = Some(candidate);
                break;
            }
        }
        expected = matched.unwrap_or_else(|| {
            panic!(
                "round {round}: balances are not the {} acknowledged transfers plus a subset of the {} in flight",
                l.acknowledged.len(),
                l.in_flight.len()
            )
        });
    }
}

/// `sum(bigint)` is numeric in PostgreSQL; read it as text.
mod numeric_text {
    use tokio_postgres::types::{FromSql, Type};

    pub struct Numeric(pub String);

    impl<'a> FromSql<'a> for Numeric {
        fn from_sql(
            _: &Type,
            raw: &'a [u8],
        ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
            Ok(Numeric(tessera_testkit::decode_numeric(raw)?))
        }
        fn accepts(ty: &Type) -> bool {
            *ty == Type::NUMERIC
        }
    }
}
