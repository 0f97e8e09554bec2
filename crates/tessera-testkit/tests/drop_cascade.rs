//! DROP … CASCADE through the real binary: the NOTICEs a client gets
//! (PostgreSQL 15's text), and what was dropped with the named object
//! stays dropped, and what stayed stays, across a clean restart and a
//! crash (the catalog log's replay of the one record each drop wrote).
//! (What the SQL does, checked against PostgreSQL, is in
//! `slt/drop_cascade.slt`.)

use std::sync::mpsc::{channel, Receiver};
use tessera_testkit::{assert_sqlstate, rows_text, TestServer};

use tokio_postgres::error::SqlState;
use tokio_postgres::{AsyncMessage, Client, NoTls};

fn skip_external(server: &TestServer) -> bool {
    if server.is_external() {
        eprintln!("skipping: needs process control of a spawned tessera");
    }
    server.is_external()
}

/// A client whose NOTICEs arrive on the receiver, as "message" or
/// "message\ndetail".
async fn connect_with_notices(server: &TestServer) -> (Client, Receiver<String>) {
    let (client, mut connection) = server.config().connect(NoTls).await.unwrap();
    let (sender, receiver) = channel();
    tokio::spawn(async move {
        while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let AsyncMessage::Notice(n) = message {
                let text = match n.detail() {
                    Some(d) => format!("{}\n{d}", n.message()),
                    None => n.message().to_string(),
                };
                let _ = sender.send(text);
            }
        }
    });
    (client, receiver)
}

/// The NOTICEs received so far.
fn drain(notices: &mut Receiver<String>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(n) = notices.try_recv() {
        out.push(n);
    }
    out
}

/// What was dropped is gone, what stayed is there (and usable).
async fn check_after_drops(client: &Client, round: i32) {
    for gone in ["p", "v1", "v2", "wa", "wa2"] {
        assert_sqlstate(
            client.simple_query(&format!("SELECT * FROM {gone}")).await,
            &SqlState::UNDEFINED_TABLE,
            gone,
        );
    }
    assert_sqlstate(
        client.simple_query("SELECT a FROM w").await,
        &SqlState::UNDEFINED_COLUMN,
        "the dropped column",
    );
    // c keeps its rows, without the foreign key to p.
    let id = 10 + round;
    client
        .batch_execute(&format!("INSERT INTO c VALUES ({id}, 99)"))
        .await
        .unwrap();
    assert_eq!(
        rows_text(client, "SELECT count(*) FROM vc").await,
        [(3 + round).to_string()]
    );
    // d's defaults no longer call the dropped sequence.
    client
        .batch_execute(&format!("INSERT INTO d (id) VALUES ({id})"))
        .await
        .unwrap();
    assert_eq!(
        rows_text(
            client,
            &format!("SELECT coalesce(n, -1) FROM d WHERE id = {id}")
        )
        .await,
        ["-1"]
    );
    assert_eq!(
        rows_text(client, "SELECT * FROM wb ORDER BY id").await,
        ["1|2", "2|4"]
    );
    // The dropped column's index went with it: its name is free.
    client
        .batch_execute("CREATE INDEX w_a ON w (b); DROP INDEX w_a")
        .await
        .unwrap();
}

#[tokio::test]
async fn cascaded_drops_survive_a_restart_and_a_crash() {
    let mut server = TestServer::start_with_shards(2);
    if skip_external(&server) {
        return;
    }
    let (client, mut notices) = connect_with_notices(&server).await;
    client
        .batch_execute(
            "CREATE TABLE p (id int PRIMARY KEY, x int);
             CREATE TABLE c (id int PRIMARY KEY, pid int REFERENCES p (id));
             INSERT INTO p VALUES (1, 1), (2, 2);
             INSERT INTO c VALUES (1, 1), (2, 2);
             CREATE VIEW v1 AS SELECT * FROM p;
             CREATE VIEW v2 AS SELECT id FROM v1;
             CREATE VIEW vc AS SELECT * FROM c;
             CREATE SEQUENCE s;
             CREATE TABLE d (id int PRIMARY KEY, n int DEFAULT nextval('s'));
             CREATE TABLE w (id int PRIMARY KEY, a int, b int);
             INSERT INTO w VALUES (1, 1, 2), (2, 3, 4);
             CREATE INDEX w_a ON w (a);
             CREATE VIEW wa AS SELECT id, a FROM w;
             CREATE VIEW wa2 AS SELECT * FROM wa;
             CREATE VIEW wb AS SELECT id, b FROM w;",
        )
        .await
        .unwrap();
    // Without CASCADE nothing goes.
    assert_sqlstate(
        client.batch_execute("DROP TABLE p").await,
        &SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
        "DROP TABLE without CASCADE",
    );
    assert_eq!(rows_text(&client, "SELECT count(*) FROM v2").await, ["2"]);
    drain(&mut notices);

    client.batch_execute("DROP TABLE p CASCADE").await.unwrap();
    assert_eq!(
        drain(&mut notices),
        ["drop cascades to 3 other objects\n\
          drop cascades to constraint c_pid_fkey on table c\n\
          drop cascades to view v1\n\
          drop cascades to view v2"]
    );
    client
        .batch_execute("DROP SEQUENCE s CASCADE")
        .await
        .unwrap();
    assert_eq!(
        drain(&mut notices),
        ["drop cascades to default value for column n of table d"]
    );
    client
        .batch_execute("ALTER TABLE w DROP COLUMN a CASCADE")
        .await
        .unwrap();
    assert_eq!(
        drain(&mut notices),
        ["drop cascades to 2 other objects\n\
          drop cascades to view wa\n\
          drop cascades to view wa2"]
    );
    check_after_drops(&client, 0).await;
    drop(client);

    server.restart();
    let client = server.connect().await;
    check_after_drops(&client, 1).await;
    drop(client);

    server.kill9();
    server.restart();
    let client = server.connect().await;
    check_after_drops(&client, 2).await;
}
