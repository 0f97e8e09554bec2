//! SQL behaviour over the wire: DDL, DML and queries through the simple
//! protocol (text results) and the extended protocol (binary results), and
//! the SQLSTATE of every error class a client can provoke. Expected values
//! are PostgreSQL 15's; run with `TESSERA_TEST_EXTERNAL_PG` to check them
//! against the reference.

use std::collections::BTreeMap;

use tessera_testkit::{assert_sqlstate, exec_count, rows_text, PgNumeric, TestServer};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

const ALL_TYPES_DDL: &str = "CREATE TABLE all_types (
    id integer PRIMARY KEY,
    s smallint,
    b bigint,
    r real,
    d double precision,
    n numeric(10,2),
    t text,
    vc varchar(20),
    flag boolean NOT NULL
)";

#[tokio::test]
async fn every_type_round_trips_as_text_and_binary() {
    let server = TestServer::start();
    let client = server.connect().await;
    client.batch_execute(ALL_TYPES_DDL).await.unwrap();
    let inserted = exec_count(
        &client,
        "INSERT INTO all_types (id, s, b, r, d, n, t, vc, flag) VALUES
            (1, 1, 10000000000, 1.5, 0.125, 12.34, 'one', 'uno', true),
            (2, -32768, -1, -0.5, -2.25, -7, 'two', 'dos', false),
            (3, 32767, 9223372036854775807, 3.25, 1024.5, 99999999.99, '', 'x', true),
            (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false),
            (5, 0, 0, 0, 0, 1.005, 'it''s', 'héllo ✓', true)",
    )
    .await;
    assert_eq!(inserted, 5, "INSERT row count");

    assert_eq!(
        rows_text(&client, "SELECT * FROM all_types ORDER BY id").await,
        [
            "1|1|10000000000|1.5|0.125|12.34|one|uno|t",
            "2|-32768|-1|-0.5|-2.25|-7.00|two|dos|f",
            "3|32767|9223372036854775807|3.25|1024.5|99999999.99||x|t",
            "4|NULL|NULL|NULL|NULL|NULL|NULL|NULL|f",
            // numeric(10,2) rounds half away from zero.
            "5|0|0|0|0|1.01|it's|héllo ✓|t",
        ]
    );
    // The empty string is a value, not NULL.
    assert_eq!(
        rows_text(&client, "SELECT id FROM all_types WHERE t = ''").await,
        ["3"]
    );
    assert_eq!(
        rows_text(&client, "SELECT id FROM all_types WHERE t IS NULL").await,
        ["4"]
    );
    assert_eq!(
        rows_text(
            &client,
            "SELECT id FROM all_types WHERE vc IS NOT NULL AND NOT flag ORDER BY id"
        )
        .await,
        ["2"]
    );

    // The same rows through the extended protocol, where tokio-postgres asks
    // for binary results.
    let rows = client
        .query(
            "SELECT id, s, b, r, d, n, t, vc, flag FROM all_types ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 5);
    type Typed = (
        i32,
        Option<i16>,
        Option<i64>,
        Option<f32>,
        Option<f64>,
        Option<PgNumeric>,
        Option<String>,
        Option<String>,
        bool,
    );
    let typed: Vec<Typed> = rows
        .iter()
        .map(|row| {
            (
                row.get(0),
                row.get(1),
                row.get(2),
                row.get(3),
                row.get(4),
                row.get(5),
                row.get(6),
                row.get(7),
                row.get(8),
            )
        })
        .collect();
    let num = |s: &str| Some(PgNumeric(s.to_string()));
    let text = |s: &str| Some(s.to_string());
    assert_eq!(
        typed,
        vec![
            (
                1,
                Some(1),
                Some(10_000_000_000),
                Some(1.5),
                Some(0.125),
                num("12.34"),
                text("one"),
                text("uno"),
                true
            ),
            (
                2,
                Some(i16::MIN),
                Some(-1),
                Some(-0.5),
                Some(-2.25),
                num("-7.00"),
                text("two"),
                text("dos"),
                false
            ),
            (
                3,
                Some(i16::MAX),
                Some(i64::MAX),
                Some(3.25),
                Some(1024.5),
                num("99999999.99"),
                text(""),
                text("x"),
                true
            ),
            (4, None, None, None, None, None, None, None, false),
            (
                5,
                Some(0),
                Some(0),
                Some(0.0),
                Some(0.0),
                num("1.01"),
                text("it's"),
                text("héllo ✓"),
                true
            ),
        ]
    );
}

struct Item {
    id: i32,
    category: &'static str,
    price: Option<i32>,
    qty: i64,
}

/// 40 rows; "rare" has 5 of them, a/b/c about 12 each; every tenth price is NULL.
fn items() -> Vec<Item> {
    (1..=40)
        .map(|id| Item {
            id,
            category: if id <= 5 {
                "rare"
            } else {
                ["a", "b", "c"][(id % 3) as usize]
            },
            price: if id % 10 == 0 {
                None
            } else {
                Some((id * 37) % 101)
            },
            qty: i64::from(id % 7),
        })
        .collect()
}

async fn create_items(client: &Client) -> Vec<Item> {
    client
        .batch_execute(
            "CREATE TABLE items (id integer PRIMARY KEY, category text NOT NULL, price integer, qty bigint)",
        )
        .await
        .unwrap();
    let items = items();
    let values: Vec<String> = items
        .iter()
        .map(|it| {
            let price = it.price.map_or("NULL".to_string(), |p| p.to_string());
            format!("({}, '{}', {price}, {})", it.id, it.category, it.qty)
        })
        .collect();
    let sql = format!(
        "INSERT INTO items (id, category, price, qty) VALUES {}",
        values.join(", ")
    );
    assert_eq!(exec_count(client, &sql).await, 40);
    items
}

fn opt(v: Option<i32>) -> String {
    v.map_or("NULL".to_string(), |v| v.to_string())
}

#[tokio::test]
async fn select_where_order_limit_offset_distinct() {
    let server = TestServer::start();
    let client = server.connect().await;
    let items = create_items(&client).await;

    let expected: Vec<String> = items
        .iter()
        .filter(|it| it.price.is_some_and(|p| p > 50) && it.qty != 3)
        .map(|it| it.id.to_string())
        .collect();
    assert_eq!(
        rows_text(
            &client,
            "SELECT id FROM items WHERE price > 50 AND qty <> 3 ORDER BY id"
        )
        .await,
        expected
    );

    let expected: Vec<String> = items
        .iter()
        .filter(|it| it.category == "a" || it.qty == 0)
        .map(|it| format!("{}|{}", it.id, it.category))
        .collect();
    assert_eq!(
        rows_text(
            &client,
            "SELECT id, category FROM items WHERE category = 'a' OR qty = 0 ORDER BY id"
        )
        .await,
        expected
    );

    assert_eq!(
        rows_text(
            &client,
            "SELECT id FROM items WHERE price IS NULL ORDER BY id"
        )
        .await,
        ["10", "20", "30", "40"]
    );
    let expected: Vec<String> = items[..3]
        .iter()
        .map(|it| format!("{}|{}|{}", it.id, it.price.unwrap() * 2 + 1, -it.qty))
        .collect();
    assert_eq!(
        rows_text(
            &client,
            "SELECT id, price * 2 + 1, -qty FROM items WHERE id <= 3 ORDER BY id"
        )
        .await,
        expected
    );

    // ASC puts NULLs last, DESC puts them first (PostgreSQL's default).
    let mut ascending: Vec<&Item> = items.iter().collect();
    ascending.sort_by_key(|it| (it.price.is_none(), it.price, it.id));
    let expected: Vec<String> = ascending.iter().map(|it| it.id.to_string()).collect();
    assert_eq!(
        rows_text(&client, "SELECT id FROM items ORDER BY price, id").await,
        expected
    );
    let mut descending: Vec<&Item> = items.iter().collect();
    descending.sort_by_key(|it| (it.price.is_some(), std::cmp::Reverse(it.price), it.id));
    let expected: Vec<String> = descending
        .iter()
        .skip(2)
        .take(5)
        .map(|it| format!("{}|{}", it.id, opt(it.price)))
        .collect();
    assert_eq!(
        rows_text(
            &client,
            "SELECT id, price FROM items ORDER BY price DESC, id ASC LIMIT 5 OFFSET 2"
        )
        .await,
        expected
    );

    // ORDER BY a column that is not selected.
    let mut by_qty: Vec<&Item> = items.iter().collect();
    by_qty.sort_by_key(|it| (std::cmp::Reverse(it.qty), it.id));
    let expected: Vec<String> = by_qty.iter().take(3).map(|it| it.id.to_string()).collect();
    assert_eq!(
        rows_text(
            &client,
            "SELECT id FROM items ORDER BY qty DESC, id LIMIT 3"
        )
        .await,
        expected
    );

    assert_eq!(
        rows_text(&client, "SELECT id FROM items ORDER BY id LIMIT 0").await,
        Vec::<String>::new()
    );
    assert_eq!(
        rows_text(&client, "SELECT id FROM items ORDER BY id OFFSET 38").await,
        ["39", "40"]
    );
    assert_eq!(
        rows_text(&client, "SELECT id FROM items ORDER BY id OFFSET 100").await,
        Vec::<String>::new()
    );
    assert_eq!(
        rows_text(&client, "SELECT count(*) FROM items").await,
        ["40"]
    );

    assert_eq!(
        rows_text(
            &client,
            "SELECT DISTINCT category FROM items ORDER BY category"
        )
        .await,
        ["a", "b", "c", "rare"]
    );
    let mut qtys: Vec<i64> = items
        .iter()
        .filter(|it| it.category == "b")
        .map(|it| it.qty)
        .collect();
    qtys.sort();
    qtys.dedup();
    let expected: Vec<String> = qtys.iter().map(|q| q.to_string()).collect();
    assert_eq!(
        rows_text(
            &client,
            "SELECT DISTINCT qty FROM items WHERE category = 'b' ORDER BY qty"
        )
        .await,
        expected
    );
    // DISTINCT over several columns, without ORDER BY: compare as a set.
    let mut got = rows_text(&client, "SELECT DISTINCT category, qty FROM items").await;
    got.sort();
    let mut expected: Vec<String> = items
        .iter()
        .map(|it| format!("{}|{}", it.category, it.qty))
        .collect();
    expected.sort();
    expected.dedup();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn group_by_having_and_aggregates() {
    let server = TestServer::start();
    let client = server.connect().await;
    let items = create_items(&client).await;

    let mut groups: BTreeMap<&str, Vec<&Item>> = BTreeMap::new();
    for it in &items {
        groups.entry(it.category).or_default().push(it);
    }
    let summary = |rows: &[&Item]| {
        let prices: Vec<i32> = rows.iter().filter_map(|it| it.price).collect();
        format!(
            "{}|{}|{}|{}|{}",
            rows.len(),
            prices.len(),
            prices.iter().map(|&p| i64::from(p)).sum::<i64>(),
            prices.iter().min().unwrap(),
            prices.iter().max().unwrap()
        )
    };
    let expected: Vec<String> = groups
        .iter()
        .map(|(category, rows)| format!("{category}|{}", summary(rows)))
        .collect();
    assert_eq!(
        rows_text(
            &client,
            "SELECT category, count(*), count(price), sum(price), min(price), max(price)
             FROM items GROUP BY category ORDER BY category"
        )
        .await,
        expected
    );

    let expected: Vec<String> = groups
        .iter()
        .filter(|(_, rows)| rows.len() > 8)
        .map(|(category, rows)| {
            let total: i64 = rows.iter().filter_map(|it| it.price).map(i64::from).sum();
            format!("{category}|{total}")
        })
        .collect();
    assert_eq!(
        expected.len(),
        3,
        "test data: a, b and c have more than 8 rows"
    );
    assert_eq!(
        rows_text(
            &client,
            "SELECT category, sum(price) FROM items GROUP BY category HAVING count(*) > 8 ORDER BY category"
        )
        .await,
        expected
    );
    let expected: Vec<String> = groups
        .iter()
        .filter(|(_, rows)| rows.iter().filter_map(|it| it.price).max() > Some(95))
        .map(|(category, _)| category.to_string())
        .collect();
    assert_eq!(
        rows_text(
            &client,
            "SELECT category FROM items GROUP BY category HAVING max(price) > 95 ORDER BY category"
        )
        .await,
        expected
    );

    // Whole-table aggregates, and aggregates over no rows.
    let all: Vec<&Item> = items.iter().collect();
    let qty_sum: i64 = items.iter().map(|it| it.qty).sum();
    assert_eq!(
        rows_text(
            &client,
            "SELECT count(*), count(price), sum(qty), min(id), max(id), min(category), max(category) FROM items"
        )
        .await,
        [format!(
            "40|{}|{qty_sum}|1|40|a|rare",
            all.iter().filter(|it| it.price.is_some()).count()
        )]
    );
    assert_eq!(
        rows_text(
            &client,
            "SELECT count(*), sum(price), max(price), avg(price) FROM items WHERE id < 0"
        )
        .await,
        ["0|NULL|NULL|NULL"]
    );
    assert_eq!(
        rows_text(
            &client,
            "SELECT category, count(*) FROM items WHERE id < 0 GROUP BY category"
        )
        .await,
        Vec::<String>::new()
    );

    // avg is numeric; compare its value, not PostgreSQL's choice of scale.
    let rows = client
        .query(
            "SELECT category, avg(qty), sum(qty), count(*) FROM items GROUP BY category ORDER BY category",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), groups.len());
    let columns = rows[0].columns();
    assert_eq!(columns[1].type_(), &Type::NUMERIC, "avg(bigint) is numeric");
    assert_eq!(columns[2].type_(), &Type::NUMERIC, "sum(bigint) is numeric");
    assert_eq!(columns[3].type_(), &Type::INT8, "count(*) is bigint");
    for (row, (category, members)) in rows.iter().zip(&groups) {
        assert_eq!(row.get::<_, String>(0), *category);
        let avg: PgNumeric = row.get(1);
        let avg: f64 = avg.0.parse().unwrap();
        let expected = members.iter().map(|it| it.qty as f64).sum::<f64>() / members.len() as f64;
        assert!(
            (avg - expected).abs() < 1e-9,
            "avg(qty) for {category}: got {avg}, expected {expected}"
        );
        assert_eq!(row.get::<_, i64>(3), members.len() as i64);
    }
}

#[tokio::test]
async fn update_and_delete() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE accounts (id bigint PRIMARY KEY, owner varchar(10) NOT NULL, balance integer NOT NULL)",
        )
        .await
        .unwrap();
    let values: Vec<String> = (1..=10)
        .map(|i| format!("({i}, 'user{i}', {})", i * 10))
        .collect();
    let sql = format!("INSERT INTO accounts VALUES {}", values.join(", "));
    assert_eq!(exec_count(&client, &sql).await, 10);

    assert_eq!(
        exec_count(
            &client,
            "UPDATE accounts SET balance = balance + 5 WHERE id <= 3"
        )
        .await,
        3
    );
    assert_eq!(
        exec_count(
            &client,
            "UPDATE accounts SET owner = 'zed', balance = 0 WHERE id = 10"
        )
        .await,
        1
    );
    assert_eq!(
        exec_count(&client, "UPDATE accounts SET balance = 1 WHERE id = 999").await,
        0
    );
    assert_eq!(
        exec_count(&client, "DELETE FROM accounts WHERE balance > 70").await,
        2
    );
    assert_eq!(
        exec_count(&client, "DELETE FROM accounts WHERE id = 2").await,
        1
    );
    assert_eq!(
        exec_count(&client, "DELETE FROM accounts WHERE id = 2").await,
        0
    );
    assert_eq!(
        rows_text(
            &client,
            "SELECT id, owner, balance FROM accounts ORDER BY id"
        )
        .await,
        [
            "1|user1|15",
            "3|user3|35",
            "4|user4|40",
            "5|user5|50",
            "6|user6|60",
            "7|user7|70",
            "10|zed|0",
        ]
    );

    // A failing UPDATE changes nothing.
    assert_sqlstate(
        client
            .simple_query("UPDATE accounts SET owner = NULL WHERE id >= 5")
            .await,
        &SqlState::NOT_NULL_VIOLATION,
        "UPDATE setting a NOT NULL column to NULL",
    );
    assert_eq!(
        rows_text(
            &client,
            "SELECT owner FROM accounts WHERE id >= 5 ORDER BY id"
        )
        .await,
        ["user5", "user6", "user7", "zed"]
    );

    assert_eq!(
        exec_count(&client, "UPDATE accounts SET balance = balance * 2").await,
        7
    );
    assert_eq!(
        rows_text(&client, "SELECT sum(balance) FROM accounts").await,
        [((15 + 35 + 40 + 50 + 60 + 70) * 2).to_string()]
    );

    // A deleted key can be inserted again.
    assert_eq!(
        exec_count(&client, "INSERT INTO accounts VALUES (2, 'again', 2)").await,
        1
    );
    assert_eq!(
        rows_text(&client, "SELECT owner FROM accounts WHERE id = 2").await,
        ["again"]
    );

    assert_eq!(exec_count(&client, "DELETE FROM accounts").await, 8);
    assert_eq!(
        rows_text(&client, "SELECT count(*) FROM accounts").await,
        ["0"]
    );
}

#[tokio::test]
async fn create_and_drop_tables() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE t1 (id integer PRIMARY KEY, v text)")
        .await
        .unwrap();
    assert_sqlstate(
        client
            .simple_query("CREATE TABLE t1 (id integer PRIMARY KEY)")
            .await,
        &SqlState::DUPLICATE_TABLE,
        "CREATE TABLE of an existing table",
    );
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS t1 (id integer PRIMARY KEY)")
        .await
        .unwrap();
    client
        .batch_execute("INSERT INTO t1 VALUES (1, 'a')")
        .await
        .unwrap();
    client.batch_execute("DROP TABLE t1").await.unwrap();
    assert_sqlstate(
        client.simple_query("SELECT * FROM t1").await,
        &SqlState::UNDEFINED_TABLE,
        "SELECT from a dropped table",
    );
    assert_sqlstate(
        client.simple_query("DROP TABLE t1").await,
        &SqlState::UNDEFINED_TABLE,
        "DROP TABLE of a dropped table",
    );
    client
        .batch_execute("DROP TABLE IF EXISTS t1")
        .await
        .unwrap();

    // Same name, new shape, no old rows.
    client
        .batch_execute("CREATE TABLE t1 (k bigint PRIMARY KEY, flag boolean)")
        .await
        .unwrap();
    assert_eq!(rows_text(&client, "SELECT count(*) FROM t1").await, ["0"]);
    client
        .batch_execute("INSERT INTO t1 (k, flag) VALUES (7, true)")
        .await
        .unwrap();
    assert_eq!(rows_text(&client, "SELECT * FROM t1").await, ["7|t"]);

    // A table without a primary key keeps duplicate rows.
    client
        .batch_execute("CREATE TABLE bag (id bigint, v text)")
        .await
        .unwrap();
    assert_eq!(
        exec_count(
            &client,
            "INSERT INTO bag VALUES (1, 'x'), (1, 'x'), (2, 'y'), (NULL, NULL)"
        )
        .await,
        4
    );
    assert_eq!(
        exec_count(&client, "INSERT INTO bag (v) VALUES ('z')").await,
        1
    );
    assert_eq!(
        rows_text(
            &client,
            "SELECT id, v, count(*) FROM bag GROUP BY id, v ORDER BY id, v"
        )
        .await,
        ["1|x|2", "2|y|1", "NULL|z|1", "NULL|NULL|1"]
    );
    assert_eq!(exec_count(&client, "DELETE FROM bag WHERE id = 1").await, 2);
    assert_eq!(rows_text(&client, "SELECT count(*) FROM bag").await, ["3"]);
}

#[tokio::test]
async fn distributed_by_and_composite_primary_key() {
    let server = TestServer::start_with_shards(4);
    if server.is_external() {
        eprintln!("skipping: DISTRIBUTED BY is Tessera syntax");
        return;
    }
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE orders (
                customer_id integer NOT NULL,
                order_id integer NOT NULL,
                amount integer,
                PRIMARY KEY (customer_id, order_id)
            ) DISTRIBUTED BY (customer_id)",
        )
        .await
        .unwrap();
    let values: Vec<String> = (1..=20)
        .flat_map(|c| (1..=5).map(move |o| format!("({c}, {o}, {})", c * o)))
        .collect();
    let sql = format!("INSERT INTO orders VALUES {}", values.join(", "));
    assert_eq!(exec_count(&client, &sql).await, 100);
    assert_sqlstate(
        client
            .simple_query("INSERT INTO orders VALUES (3, 3, 0)")
            .await,
        &SqlState::UNIQUE_VIOLATION,
        "duplicate composite key",
    );
    // Same order_id under another customer is a different key.
    assert_eq!(
        exec_count(&client, "INSERT INTO orders VALUES (21, 3, 1)").await,
        1
    );
    assert_eq!(
        rows_text(
            &client,
            "SELECT customer_id, count(*), sum(amount) FROM orders WHERE customer_id = 3 OR customer_id = 21 GROUP BY customer_id ORDER BY customer_id"
        )
        .await,
        ["3|5|45", "21|1|1"]
    );
    assert_eq!(
        rows_text(
            &client,
            "SELECT amount FROM orders WHERE customer_id = 7 AND order_id = 4"
        )
        .await,
        ["28"]
    );
    assert_eq!(
        exec_count(&client, "DELETE FROM orders WHERE customer_id = 7").await,
        5
    );
    assert_eq!(
        rows_text(&client, "SELECT count(*) FROM orders").await,
        ["96"]
    );
}

#[tokio::test]
async fn distributed_globally_keeps_a_table_whole_on_one_shard() {
    let mut server = TestServer::start_with_shards(4);
    if server.is_external() {
        eprintln!("skipping: DISTRIBUTED GLOBALLY is Tessera syntax");
        return;
    }
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE countries (code text PRIMARY KEY, name text NOT NULL) DISTRIBUTED GLOBALLY;
             CREATE TABLE orders (id int PRIMARY KEY, country text REFERENCES countries, amount int);
             CREATE TABLE tags (tag text) DISTRIBUTED GLOBALLY;
             CREATE UNIQUE INDEX countries_name ON countries (name);
             INSERT INTO countries VALUES ('fr', 'France'), ('de', 'Germany'), ('it', 'Italy');
             INSERT INTO orders SELECT g, (ARRAY['fr', 'de', 'it'])[1 + g % 3], g FROM generate_series(1, 99) g;
             INSERT INTO tags SELECT 't' || g FROM generate_series(1, 50) g;",
        )
        .await
        .unwrap();
    let plan = rows_text(&client, "EXPLAIN SELECT * FROM countries").await;
    assert!(
        plan.iter()
            .any(|l| l.contains("the node's copy of a global table")),
        "{plan:?}"
    );
    let join = "SELECT c.name, count(*), sum(o.amount) FROM orders o JOIN countries c ON c.code = o.country GROUP BY 1 ORDER BY 1";
    let expected = ["France|33|1683", "Germany|33|1617", "Italy|33|1650"];
    assert_eq!(rows_text(&client, join).await, expected);
    assert_sqlstate(
        client
            .simple_query("INSERT INTO countries VALUES ('xx', 'France')")
            .await,
        &SqlState::UNIQUE_VIOLATION,
        "a unique index of a global table",
    );
    assert_sqlstate(
        client
            .simple_query("DELETE FROM countries WHERE code = 'it'")
            .await,
        &SqlState::FOREIGN_KEY_VIOLATION,
        "a sharded table referencing a global one",
    );
    // Blocks write global and sharded tables together.
    client
        .batch_execute(
            "BEGIN; DELETE FROM tags WHERE tag > 't3'; UPDATE orders SET amount = 0 WHERE id = 100; COMMIT;
             BEGIN; UPDATE countries SET name = 'Deutschland' WHERE code = 'de';
             UPDATE orders SET amount = 0; ROLLBACK;",
        )
        .await
        .unwrap();
    assert_eq!(
        rows_text(&client, "SELECT count(*) FROM tags").await,
        ["23"]
    );
    assert_eq!(
        rows_text(&client, "SELECT name FROM countries WHERE code = 'de'").await,
        ["Germany"]
    );
    drop(client);
    server.restart();
    let client = server.connect().await;
    assert_eq!(rows_text(&client, join).await, expected);
    assert_eq!(
        rows_text(&client, "SELECT count(*) FROM tags").await,
        ["23"]
    );
}

#[tokio::test]
async fn errors_carry_postgres_sqlstates() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE e (id integer PRIMARY KEY, i integer, s smallint, name varchar(5) NOT NULL, n numeric(5,2))",
        )
        .await
        .unwrap();
    client
        .batch_execute("INSERT INTO e (id, i, s, name, n) VALUES (1, 10, 1, 'one', 1.5)")
        .await
        .unwrap();

    let cases: &[(&str, SqlState)] = &[
        ("SELECT * FROM no_such_table", SqlState::UNDEFINED_TABLE),
        (
            "INSERT INTO no_such_table VALUES (1)",
            SqlState::UNDEFINED_TABLE,
        ),
        ("SELECT nope FROM e", SqlState::UNDEFINED_COLUMN),
        (
            "SELECT id FROM e WHERE nope = 1",
            SqlState::UNDEFINED_COLUMN,
        ),
        (
            "INSERT INTO e (id, nope) VALUES (2, 2)",
            SqlState::UNDEFINED_COLUMN,
        ),
        ("UPDATE e SET nope = 1", SqlState::UNDEFINED_COLUMN),
        ("SELEC 1", SqlState::SYNTAX_ERROR),
        ("SELECT * FROM e WHERE", SqlState::SYNTAX_ERROR),
        ("INSERT INTO e VALUES (1,", SqlState::SYNTAX_ERROR),
        (
            "INSERT INTO e (id, i, name) VALUES (2, true, 'x')",
            SqlState::DATATYPE_MISMATCH,
        ),
        ("SELECT id FROM e WHERE 1", SqlState::DATATYPE_MISMATCH),
        (
            "SELECT 'abc'::integer",
            SqlState::INVALID_TEXT_REPRESENTATION,
        ),
        (
            "INSERT INTO e (id, i, name) VALUES (2, 'abc', 'x')",
            SqlState::INVALID_TEXT_REPRESENTATION,
        ),
        (
            "SELECT 2147483647 + 1",
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        ),
        (
            "SELECT i * 2147483647 FROM e",
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        ),
        (
            "INSERT INTO e (id, s, name) VALUES (2, 40000, 'x')",
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        ),
        (
            "INSERT INTO e (id, name, n) VALUES (2, 'x', 1000)",
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        ),
        (
            "INSERT INTO e (id, name) VALUES (2, 'toolong')",
            SqlState::STRING_DATA_RIGHT_TRUNCATION,
        ),
        ("SELECT 1/0", SqlState::DIVISION_BY_ZERO),
        ("SELECT i / (i - i) FROM e", SqlState::DIVISION_BY_ZERO),
        (
            "INSERT INTO e (id, i, name) VALUES (2, 1, NULL)",
            SqlState::NOT_NULL_VIOLATION,
        ),
        (
            "INSERT INTO e (id, i) VALUES (2, 1)",
            SqlState::NOT_NULL_VIOLATION,
        ),
        (
            "INSERT INTO e (id, name) VALUES (NULL, 'x')",
            SqlState::NOT_NULL_VIOLATION,
        ),
        (
            "INSERT INTO e (id, name) VALUES (1, 'dup')",
            SqlState::UNIQUE_VIOLATION,
        ),
    ];
    for (sql, expected) in cases {
        assert_sqlstate(client.simple_query(sql).await, expected, sql);
        // The session survives every error.
        assert_eq!(
            rows_text(&client, "SELECT count(*) FROM e").await,
            ["1"],
            "after {sql}"
        );
    }
    // The same errors through the extended protocol.
    for (sql, expected) in cases {
        assert_sqlstate(client.query(*sql, &[]).await, expected, sql);
    }

    if !server.is_external() {
        // PostgreSQL has materialized views; Tessera does not yet and must
        // say so.
        assert_sqlstate(
            client
                .simple_query("CREATE MATERIALIZED VIEW v AS SELECT 1")
                .await,
            &SqlState::FEATURE_NOT_SUPPORTED,
            "CREATE MATERIALIZED VIEW",
        );
        // pg_attribute lists the system columns, but they cannot be read:
        // 0A000 naming the column, not 42703 (which names no column).
        for (sql, column) in [
            ("SELECT ctid FROM e", "ctid"),
            ("SELECT e.xmin, id FROM e", "e.xmin"),
            (
                "SELECT a.tableoid FROM e a JOIN e b USING (id)",
                "a.tableoid",
            ),
        ] {
            let err = client.simple_query(sql).await.expect_err(sql);
            let db = err.as_db_error().expect("a server error");
            assert_eq!(db.code(), &SqlState::FEATURE_NOT_SUPPORTED, "{sql}");
            assert!(
                db.message().contains(&format!("system column {column}")),
                "{sql}: {}",
                db.message()
            );
        }
        // Where no stored table is in scope, they do not exist (42703).
        assert_sqlstate(
            client.simple_query("SELECT ctid FROM (SELECT 1) s").await,
            &SqlState::UNDEFINED_COLUMN,
            "ctid of a subquery",
        );
    }
    assert_eq!(
        rows_text(&client, "SELECT id, i, s, name, n FROM e").await,
        ["1|10|1|one|1.50"]
    );
}

#[tokio::test]
async fn failed_statements_leave_no_partial_effects() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE atomic_t (id integer PRIMARY KEY, v text)")
        .await
        .unwrap();
    client
        .batch_execute("INSERT INTO atomic_t VALUES (500, 'existing')")
        .await
        .unwrap();

    // 1000 rows over every shard; one collides with a stored key.
    let values: Vec<String> = (1..=1000).map(|i| format!("({i}, 'new')")).collect();
    let sql = format!("INSERT INTO atomic_t VALUES {}", values.join(", "));
    assert_sqlstate(
        client.simple_query(&sql).await,
        &SqlState::UNIQUE_VIOLATION,
        "multi-row INSERT with one stored duplicate",
    );
    assert_eq!(
        rows_text(&client, "SELECT count(*), min(id), max(id) FROM atomic_t").await,
        ["1|500|500"]
    );

    // Two rows of the same statement collide with each other (the last row).
    let mut values: Vec<String> = (2001..=2100).map(|i| format!("({i}, 'new')")).collect();
    values.push("(2050, 'again')".to_string());
    let sql = format!("INSERT INTO atomic_t VALUES {}", values.join(", "));
    assert_sqlstate(
        client.simple_query(&sql).await,
        &SqlState::UNIQUE_VIOLATION,
        "multi-row INSERT with a duplicate inside it",
    );
    assert_eq!(
        rows_text(&client, "SELECT count(*) FROM atomic_t").await,
        ["1"]
    );

    // A NOT NULL violation in the last of 200 rows.
    client
        .batch_execute("CREATE TABLE atomic_nn (id integer PRIMARY KEY, v text NOT NULL)")
        .await
        .unwrap();
    let mut values: Vec<String> = (1..=200).map(|i| format!("({i}, 'v')")).collect();
    values.push("(201, NULL)".to_string());
    let sql = format!("INSERT INTO atomic_nn VALUES {}", values.join(", "));
    assert_sqlstate(
        client.simple_query(&sql).await,
        &SqlState::NOT_NULL_VIOLATION,
        "multi-row INSERT with one NULL",
    );
    assert_eq!(
        rows_text(&client, "SELECT count(*) FROM atomic_nn").await,
        ["0"]
    );

    // An UPDATE that fails on one row of 100 changes none of them.
    client
        .batch_execute("CREATE TABLE atomic_u (id integer PRIMARY KEY, d integer, w integer)")
        .await
        .unwrap();
    let values: Vec<String> = (1..=100)
        .map(|i| format!("({i}, {}, 0)", if i == 77 { 0 } else { i }))
        .collect();
    client
        .batch_execute(&format!(
            "INSERT INTO atomic_u VALUES {}",
            values.join(", ")
        ))
        .await
        .unwrap();
    assert_sqlstate(
        client
            .simple_query("UPDATE atomic_u SET w = 1000 / d")
            .await,
        &SqlState::DIVISION_BY_ZERO,
        "UPDATE dividing by zero on one row",
    );
    assert_eq!(
        rows_text(&client, "SELECT count(*) FROM atomic_u WHERE w <> 0").await,
        ["0"]
    );

    // The non-conflicting rows go in once the conflict is gone.
    let values: Vec<String> = (1..=1000)
        .filter(|&i| i != 500)
        .map(|i| format!("({i}, 'new')"))
        .collect();
    let sql = format!("INSERT INTO atomic_t VALUES {}", values.join(", "));
    assert_eq!(exec_count(&client, &sql).await, 999);
    assert_eq!(
        rows_text(&client, "SELECT count(*), sum(id) FROM atomic_t").await,
        [format!("1000|{}", (1..=1000).sum::<i64>())]
    );
}

/// `generate_series` as a relation, and INSERT … SELECT (pgbench's
/// server-side data generation), with PostgreSQL's results and errors.
#[tokio::test]
async fn generate_series_and_insert_select() {
    let server = TestServer::start_with_shards(2);
    let c = server.connect().await;
    let ints = |rows: Vec<tokio_postgres::Row>| -> Vec<i64> {
        rows.iter()
            .map(|r| {
                r.try_get::<_, i32>(0)
                    .map(i64::from)
                    .unwrap_or_else(|_| r.get(0))
            })
            .collect()
    };
    let q = |sql: &'static str| {
        let c = &c;
        async move { c.query(sql, &[]).await }
    };
    assert_eq!(
        ints(q("SELECT * FROM generate_series(1, 3)").await.unwrap()),
        [1, 2, 3]
    );
    assert_eq!(
        ints(
            q("SELECT v FROM generate_series(5, 1, -2) AS t(v)")
                .await
                .unwrap()
        ),
        [5, 3, 1]
    );
    assert_eq!(
        ints(
            q("SELECT x * 2 FROM generate_series(1, 10, 3) AS x WHERE x > 1")
                .await
                .unwrap()
        ),
        [8, 14, 20]
    );
    assert_eq!(
        ints(
            q("SELECT sum(g) FROM generate_series(1, 100000) g")
                .await
                .unwrap()
        ),
        [5000050000]
    );
    assert!(q("SELECT * FROM generate_series(1, NULL)")
        .await
        .unwrap()
        .is_empty());
    let err = q("SELECT * FROM generate_series(1, 2, 0)")
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("22023"));
    if !server.is_external() {
        // Rows are gathered whole (not streamed yet), so an unaggregated
        // series is bounded instead of exhausting memory.
        let err = q("SELECT * FROM generate_series(1, 2000000000)")
            .await
            .unwrap_err();
        assert_eq!(err.code().map(|c| c.code()), Some("54000"));
    }
    // pgbench's statements, on its own table shapes.
    c.batch_execute(
        "CREATE TABLE acc (aid int NOT NULL, bid int, abalance int, filler char(84)); \
         INSERT INTO acc (aid, bid, abalance, filler) \
           SELECT aid, (aid - 1) / 1000 + 1, 0, '' FROM generate_series(1, 5000) AS aid",
    )
    .await
    .unwrap();
    let row = c
        .query_one(
            "SELECT count(*), sum(bid), min(aid), max(aid), max(bid) FROM acc",
            &[],
        )
        .await
        .unwrap();
    let got: (i64, i64, i32, i32, i32) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    assert_eq!(got, (5000, 15000, 1, 5000, 5));
    // Copying a table into itself reads it whole first.
    c.batch_execute("INSERT INTO acc SELECT aid + 5000, bid FROM acc WHERE aid <= 10")
        .await
        .unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM acc WHERE abalance IS NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 10);
    let err = c
        .batch_execute("INSERT INTO acc (aid) SELECT 1, 2 FROM generate_series(1, 2)")
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("42601"));
    let err = c
        .batch_execute("INSERT INTO acc (bid) SELECT 1 FROM generate_series(1, 2)")
        .await
        .unwrap_err();
    assert_eq!(
        err.code().map(|c| c.code()),
        Some("23502"),
        "aid is NOT NULL"
    );
}

/// ALTER TABLE … ADD PRIMARY KEY rewrites a table keyed by hidden row ids
/// into one keyed (and sharded) by the new key, with PostgreSQL's errors.
#[tokio::test]
async fn alter_table_add_primary_key() {
    let server = TestServer::start_with_shards(2);
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE k (id int, v text); \
         INSERT INTO k SELECT g, 'v' || g FROM generate_series(1, 500) AS g",
    )
    .await
    .unwrap();
    let code = |e: tokio_postgres::Error| e.code().map(|c| c.code().to_string()).unwrap();
    // Duplicates, then NULLs (PostgreSQL checks in that order), refuse the
    // key and leave the table as it was.
    c.batch_execute("INSERT INTO k VALUES (7, 'again'), (NULL, 'none')")
        .await
        .unwrap();
    let err = c
        .batch_execute("ALTER TABLE k ADD PRIMARY KEY (id)")
        .await
        .unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!(
        (db.code().code(), db.message()),
        ("23505", "could not create unique index \"k_pkey\"")
    );
    assert_eq!(db.detail(), Some("Key (id)=(7) is duplicated."));
    c.batch_execute("DELETE FROM k WHERE v = 'again'")
        .await
        .unwrap();
    let err = c
        .batch_execute("ALTER TABLE k ADD PRIMARY KEY (id)")
        .await
        .unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!(
        (db.code().code(), db.message()),
        (
            "23502",
            "column \"id\" of relation \"k\" contains null values"
        )
    );
    c.batch_execute("DELETE FROM k WHERE id IS NULL; ALTER TABLE k ADD PRIMARY KEY (id)")
        .await
        .unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM k", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 500);
    let v: String = c
        .query_one("SELECT v FROM k WHERE id = 321", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, "v321");
    let err = c
        .batch_execute("INSERT INTO k VALUES (321, 'x')")
        .await
        .unwrap_err();
    assert_eq!(code(err), "23505");
    let err = c
        .batch_execute("ALTER TABLE k ADD PRIMARY KEY (v)")
        .await
        .unwrap_err();
    assert_eq!(code(err), "42P16");
    if server.is_external() {
        return;
    }
    // An open block's uncommitted writes keep the table from being
    // rewritten under it.
    c.batch_execute("CREATE TABLE busy (id int); INSERT INTO busy VALUES (1)")
        .await
        .unwrap();
    let other = server.connect().await;
    other
        .batch_execute("BEGIN; INSERT INTO busy VALUES (2), (3), (4), (5)")
        .await
        .unwrap();
    let err = c
        .batch_execute("ALTER TABLE busy ADD PRIMARY KEY (id)")
        .await
        .unwrap_err();
    assert_eq!(code(err), "55P03");
    other.batch_execute("COMMIT").await.unwrap();
    c.batch_execute("ALTER TABLE busy ADD PRIMARY KEY (id)")
        .await
        .unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM busy", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 5);
}

/// A column that is a cast or a typed literal is named by the type cast
/// to, as PostgreSQL names it (`int4`, `oid`, `regclass`), unless the
/// cast's operand names it.
#[tokio::test]
async fn casts_name_their_columns_by_the_type() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE named (a int)")
        .await
        .unwrap();
    let stmt = client
        .prepare(
            "SELECT 1::int4, 'x'::text, 'named'::regclass::oid, 'named'::regclass, \
             'int4'::regtype, a::bigint, CAST('2000-01-01' AS date) IS NULL, \
             integer '1', numeric '2', text 'a', date '2000-01-01', '{1}'::int[] FROM named",
        )
        .await
        .unwrap();
    let names: Vec<&str> = stmt.columns().iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        [
            "int4", "text", "oid", "regclass", "regtype", "a", "?column?", "int4", "numeric",
            "text", "date", "int4"
        ]
    );
}

/// A table a data-modifying WITH query changes may be read or written
/// elsewhere in the statement only through the query's RETURNING:
/// PostgreSQL gives every part the statement's snapshot, where here later
/// parts would see the change. Such statements are refused (0A000) and
/// change nothing.
#[tokio::test]
async fn data_modifying_with_refuses_rereading_its_table() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE wm (id int PRIMARY KEY, v text); \
             CREATE TABLE wm_log (id int); \
             INSERT INTO wm VALUES (1, 'a'), (2, 'b')",
        )
        .await
        .unwrap();
    for sql in [
        "WITH d AS (DELETE FROM wm WHERE id = 1 RETURNING *) SELECT * FROM wm",
        "WITH d AS (DELETE FROM wm WHERE id = 1 RETURNING *) UPDATE wm SET v = 'z' WHERE id = 2",
        "WITH d AS (DELETE FROM wm WHERE id = 1), e AS (DELETE FROM wm WHERE id = 2) SELECT 1",
        "WITH d AS (DELETE FROM wm WHERE id = 1), i AS (INSERT INTO wm_log SELECT id FROM wm) SELECT 1",
    ] {
        let message = assert_sqlstate(
            client.simple_query(sql).await,
            &SqlState::FEATURE_NOT_SUPPORTED,
            sql,
        );
        assert!(message.contains("\"wm\""), "{sql}: {message}");
    }
    assert_eq!(
        rows_text(&client, "SELECT id, v FROM wm ORDER BY id").await,
        ["1|a", "2|b"]
    );
    assert_eq!(
        rows_text(&client, "SELECT count(*) FROM wm_log").await,
        ["0"]
    );
    // Its own table, read inside it, is fine.
    assert_eq!(
        rows_text(
            &client,
            "WITH d AS (DELETE FROM wm WHERE id IN (SELECT max(id) FROM wm) RETURNING id) \
             SELECT id FROM d"
        )
        .await,
        ["2"]
    );
}

/// A constant that fails to fold (`1/0`) fails the statement when it runs,
/// as PostgreSQL's planner folds it at execution: Parse and Describe of
/// the statement succeed, Execute fails; one that a COALESCE makes
/// unreachable is never evaluated.
#[tokio::test]
async fn constant_errors_come_when_the_statement_runs() {
    let server = TestServer::start();
    let client = server.connect().await;
    let statement = client
        .prepare("SELECT 1/0 AS x")
        .await
        .expect("Parse and Describe succeed");
    assert_eq!(statement.columns()[0].name(), "x");
    assert_sqlstate(
        client.query(&statement, &[]).await,
        &SqlState::DIVISION_BY_ZERO,
        "executing SELECT 1/0",
    );
    let unreached = client
        .query_one("SELECT coalesce($1::int, 7, 1/0)", &[&None::<i32>])
        .await
        .expect("1/0 is never reached");
    assert_eq!(unreached.get::<_, i32>(0), 7);
}

/// FROM-item modifiers that would change which rows a table gives
/// (TABLESAMPLE) are refused with 0A000, never ignored.
#[tokio::test]
async fn tablesample_is_refused_not_ignored() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE sampled (id int PRIMARY KEY); INSERT INTO sampled VALUES (1), (2)",
        )
        .await
        .unwrap();
    for sql in [
        "SELECT * FROM sampled TABLESAMPLE SYSTEM (10)",
        "SELECT * FROM sampled t TABLESAMPLE BERNOULLI (50) REPEATABLE (3) JOIN sampled u USING (id)",
        "DELETE FROM sampled WHERE id IN (SELECT id FROM sampled TABLESAMPLE SYSTEM (1))",
    ] {
        let message = assert_sqlstate(
            client.simple_query(sql).await,
            &SqlState::FEATURE_NOT_SUPPORTED,
            sql,
        );
        assert!(message.contains("TABLESAMPLE"), "{sql}: {message}");
    }
    assert_eq!(
        rows_text(&client, "SELECT count(*) FROM sampled").await,
        ["2"]
    );
}

/// Views are kept as text: renaming a column to or from a name the view's
/// text holds (or renaming the table) is refused with 0A000; renaming one
/// it never names works.
#[tokio::test]
async fn renames_under_views() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE viewed (id int PRIMARY KEY, shown text, hidden text); \
             CREATE VIEW v_viewed AS SELECT id, shown AS label FROM viewed; \
             INSERT INTO viewed VALUES (1, 'a', 'b')",
        )
        .await
        .unwrap();
    client
        .batch_execute("ALTER TABLE viewed RENAME COLUMN hidden TO kept")
        .await
        .expect("a column the view does not name");
    for sql in [
        "ALTER TABLE viewed RENAME COLUMN shown TO seen",
        "ALTER TABLE viewed RENAME COLUMN kept TO label",
        "ALTER TABLE viewed RENAME TO viewed2",
    ] {
        assert_sqlstate(
            client.simple_query(sql).await,
            &SqlState::FEATURE_NOT_SUPPORTED,
            sql,
        );
    }
    assert_eq!(rows_text(&client, "SELECT * FROM v_viewed").await, ["1|a"]);
    assert_eq!(rows_text(&client, "SELECT kept FROM viewed").await, ["b"]);
}
